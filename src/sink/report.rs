//! The run report: `report.html` and a Markdown summary `report.md`.
//!
//! The HTML is self-contained (no external assets, so it opens from S3, an e-mail or a ticket): the
//! findings by severity and detector, the ATT&CK coverage, the manifest's health (skipped inputs,
//! warnings, timings), then every finding, most surprising first, with why it fired, its technique,
//! its investigation SQL (with a copy button) and, for the top [`EMBEDDED_PLOTS`], its plot embedded
//! as an SVG `data:` image. An SVG shown through `<img>` cannot run scripts, so hostile values in a
//! plot's labels stay inert; every other data value is HTML-escaped. The one inline script copies
//! SQL and counts the plots that rendered (`data-plots-rendered`, read by the browser test).

use std::collections::{BTreeMap, HashMap};

use base64::Engine as _;

use crate::findings::condition::ONGOING;
use crate::findings::Finding;

/// `new` or `ongoing since 2025-03-18 (day 3)`.
fn condition_text(f: &Finding) -> String {
    if f.condition.status == ONGOING {
        let since = chrono::DateTime::from_timestamp_millis(f.condition.first_seen_ms)
            .map(|d| d.format("%Y-%m-%d").to_string())
            .unwrap_or_default();
        format!("ongoing since {since} (day {})", f.condition.days)
    } else {
        f.condition.status.clone()
    }
}

/// `Conditions: 3 new, 5 ongoing findings, 1 resolved.`
fn conditions_line(m: &Manifest) -> String {
    format!(
        "Conditions: {} new, {} findings of ongoing ones, {} resolved.",
        m.conditions.new,
        m.conditions.ongoing_findings,
        m.conditions.resolved.len()
    )
}
use crate::sink::manifest::Manifest;
use crate::stages::series::SeriesStats;

/// Escape text for HTML.
pub fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// Most plots embedded in the HTML report (the highest-ranked findings'); the rest link their PNG.
pub const EMBEDDED_PLOTS: usize = 60;

/// New conditions first (an analyst has seen the ongoing ones), then most surprising first:
/// confidence is derived from each detector's graded score (−log10 of the corrected tail
/// probability), so it ranks across detectors; severity breaks ties.
fn ranked(findings: &[Finding]) -> Vec<&Finding> {
    let mut sorted: Vec<&Finding> = findings.iter().collect();
    sorted.sort_by(|a, b| {
        (a.condition.status == ONGOING)
            .cmp(&(b.condition.status == ONGOING))
            .then(b.confidence.total_cmp(&a.confidence))
            .then(b.severity_id.cmp(&a.severity_id))
            .then(a.finding_id.cmp(&b.finding_id))
    });
    sorted
}

/// Findings per (severity, detector), severities most severe first.
fn by_severity(findings: &[Finding]) -> (Vec<String>, Vec<(String, i32)>, BTreeMap<(i32, String), usize>) {
    let mut counts: BTreeMap<(i32, String), usize> = BTreeMap::new();
    let mut sev: BTreeMap<i32, String> = BTreeMap::new();
    for f in findings {
        *counts.entry((f.severity_id, f.detector.clone())).or_default() += 1;
        sev.insert(f.severity_id, f.severity.clone());
    }
    let detectors: Vec<String> = counts
        .keys()
        .map(|k| k.1.clone())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let sevs: Vec<(String, i32)> = sev.into_iter().rev().map(|(id, name)| (name, id)).collect();
    (detectors, sevs, counts)
}

const SCRIPT: &str = "<script>\
document.querySelectorAll('button.copy').forEach(function(b){b.addEventListener('click',function(){\
var t=document.getElementById(b.dataset.target).textContent;\
if(navigator.clipboard){navigator.clipboard.writeText(t).then(function(){b.textContent='copied';},function(){b.textContent='select and copy';});}});});\
window.addEventListener('load',function(){var n=0;document.querySelectorAll('img.plot').forEach(function(i){\
if(i.complete&&i.naturalWidth>0&&i.getBoundingClientRect().width>0){n++;}});document.body.dataset.plotsRendered=n;});\
</script>";

/// Render the HTML report; `svgs` holds the drawn plots by finding id.
pub fn html(m: &Manifest, findings: &[Finding], svgs: &HashMap<String, String>) -> String {
    let mut s = String::new();
    s.push_str("<!doctype html><html><head><meta charset=\"utf-8\"><title>lakesight report</title><style>");
    s.push_str("body{font-family:system-ui,sans-serif;margin:2em;color:#222}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top}");
    s.push_str("th{background:#f3f3f3}.High{color:#b00}.Medium{color:#c60}pre{background:#f7f7f7;padding:6px;white-space:pre-wrap;font-size:12px}details{margin:0}");
    s.push_str("</style></head><body>");
    s.push_str(&format!(
        "<h1>lakesight: {}</h1><p>Run <code>{}</code>, days {} to {} (baseline from {}), lake <code>{}</code>.</p>",
        esc(&m.job),
        esc(&m.run_id),
        m.range.from,
        m.range.to,
        m.baseline_from,
        esc(&m.lake)
    ));
    s.push_str(&format!(
        "<p>Inputs: {} tables, {} files ({} read), {} rows in the files read, {:.1} MB; {} skipped. Findings: {}.</p>",
        m.inputs.tables,
        m.inputs.files,
        m.inputs.footers_read,
        m.inputs.rows,
        m.inputs.bytes as f64 / 1e6,
        m.skipped_inputs.len(),
        m.findings_total
    ));
    s.push_str(&format!("<p>{}</p>", esc(&conditions_line(m))));
    let (detectors, sevs, counts) = by_severity(findings);
    if !findings.is_empty() {
        s.push_str("<h2>Findings by severity and detector</h2><table><tr><th>severity</th>");
        for d in &detectors {
            s.push_str(&format!("<th>{}</th>", esc(d)));
        }
        s.push_str("</tr>");
        for (name, id) in &sevs {
            s.push_str(&format!("<tr><td class=\"{}\">{}</td>", esc(name), esc(name)));
            for d in &detectors {
                s.push_str(&format!("<td>{}</td>", counts.get(&(*id, d.clone())).copied().unwrap_or(0)));
            }
            s.push_str("</tr>");
        }
        s.push_str("</table>");
    }
    s.push_str("<h2>Health</h2>");
    if m.skipped_inputs.is_empty() {
        s.push_str("<p>No input was skipped.</p>");
    } else {
        s.push_str(&format!("<p>{} inputs skipped:</p><ul>", m.skipped_inputs.len()));
        for k in m.skipped_inputs.iter().take(20) {
            s.push_str(&format!("<li>{}</li>", esc(&serde_json::to_string(k).unwrap_or_default())));
        }
        if m.skipped_inputs.len() > 20 {
            s.push_str(&format!("<li>… and {} more (manifest.json)</li>", m.skipped_inputs.len() - 20));
        }
        s.push_str("</ul>");
    }
    s.push_str("<table><tr><th>step</th><th>ms</th></tr>");
    for (k, v) in &m.timings_ms {
        s.push_str(&format!("<tr><td>{}</td><td>{}</td></tr>", esc(k), v));
    }
    s.push_str("</table>");
    s.push_str(
        "<h2>Series</h2><table><tr><th>family</th><th>series</th><th>analysed</th><th>skipped</th><th>findings</th><th>ms</th></tr>",
    );
    let series: std::collections::BTreeMap<String, SeriesStats> = m.stage("series").unwrap_or_default();
    for (k, st) in &series {
        s.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(k),
            st.series,
            esc(&format!("{:?}", st.analysed)),
            esc(&format!("{:?}", st.skipped)),
            esc(&format!("{:?}", st.findings)),
            st.build_ms + st.detect_ms
        ));
    }
    s.push_str(
        "</table><h2>ATT&amp;CK coverage</h2><table><tr><th>tactic</th><th>technique</th><th>reported by</th><th>findings</th></tr>",
    );
    for c in &m.mitre_coverage {
        s.push_str(&format!(
            "<tr><td>{}</td><td>{} {}</td><td>{}</td><td>{}</td></tr>",
            esc(&c.tactic),
            esc(&c.technique),
            esc(&c.name),
            esc(&c.stages.join(", ")),
            c.findings
        ));
    }
    s.push_str("</table><h2>Findings</h2><table><tr><th>severity</th><th>window (UTC)</th><th>finding</th><th>observed / expected</th><th>MITRE</th><th>investigate</th></tr>");
    let sorted = ranked(findings);
    let mut embedded = 0;
    for (i, f) in sorted.into_iter().enumerate() {
        let when = chrono::DateTime::from_timestamp_millis(f.window_start_ms)
            .map(|d| d.format("%Y-%m-%d %H:%M").to_string())
            .unwrap_or_default();
        s.push_str(&format!(
            "<tr><td class=\"{}\">{}</td><td>{}</td><td><b>{}</b> <span class=\"status\">{}</span><br>{}<br><small>{} · {}</small></td><td>{:.0} / {:.0}</td><td>{}</td><td><details><summary>SQL</summary><button class=\"copy\" data-target=\"sql-{i}\">copy</button><pre id=\"sql-{i}\">{}</pre></details>{}</td></tr>",
            esc(&f.severity),
            esc(&f.severity),
            esc(&when),
            esc(&f.title),
            esc(&condition_text(f)),
            esc(&f.description),
            esc(&f.detector),
            esc(&f.finding_id),
            f.observed,
            f.expected,
            esc(&f.mitre_techniques.join(", ")),
            esc(&f.investigation_sql),
            match svgs.get(&f.finding_id) {
                Some(svg) if embedded < EMBEDDED_PLOTS => {
                    embedded += 1;
                    format!(
                        "<details open><summary>plot</summary><img class=\"plot\" alt=\"plot of {}\" width=\"600\" src=\"data:image/svg+xml;base64,{}\"></details>",
                        esc(&f.finding_id),
                        base64::engine::general_purpose::STANDARD.encode(svg.as_bytes())
                    )
                }
                _ => match &f.plot {
                    Some(url) => format!("<a href=\"{}\">plot</a>", esc(url)),
                    None => String::new(),
                },
            }
        ));
    }
    s.push_str("</table>");
    if !m.conditions.resolved.is_empty() {
        s.push_str("<h2>Resolved</h2><table><tr><th>day</th><th>detector</th><th>last finding</th><th>lasted</th></tr>");
        for r in &m.conditions.resolved {
            s.push_str(&format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{} day(s)</td></tr>",
                esc(&r.dt),
                esc(&r.detector),
                esc(&r.title),
                r.days
            ));
        }
        s.push_str("</table>");
    }
    if !m.warnings.is_empty() {
        s.push_str("<h2>Warnings</h2><ul>");
        for w in &m.warnings {
            s.push_str(&format!("<li>{}</li>", esc(w)));
        }
        s.push_str("</ul>");
    }
    s.push_str(SCRIPT);
    s.push_str("</body></html>\n");
    s
}

/// The Markdown summary: counts by severity and detector, the top findings, the health.
pub fn markdown(m: &Manifest, findings: &[Finding]) -> String {
    let md = |t: &str| t.replace('|', "\\|").replace('\n', " ");
    let mut s = format!(
        "# lakesight: {}\n\nRun `{}`, days {} to {}: {} findings; {} inputs skipped; {} warnings.\n\n",
        md(&m.job),
        m.run_id,
        m.range.from,
        m.range.to,
        m.findings_total,
        m.skipped_inputs.len(),
        m.warnings.len()
    );
    s.push_str(&conditions_line(m));
    s.push_str("\n\n");
    let (detectors, sevs, counts) = by_severity(findings);
    if !findings.is_empty() {
        s.push_str(&format!(
            "| severity | {} |\n|---|{}\n",
            detectors.iter().map(|d| md(d)).collect::<Vec<_>>().join(" | "),
            "---|".repeat(detectors.len())
        ));
        for (name, id) in &sevs {
            let row: Vec<String> = detectors
                .iter()
                .map(|d| counts.get(&(*id, d.clone())).copied().unwrap_or(0).to_string())
                .collect();
            s.push_str(&format!("| {} | {} |\n", md(name), row.join(" | ")));
        }
        s.push_str("\n## Top findings (new conditions first)\n\n| severity | detector | finding | condition | ATT&CK | id |\n|---|---|---|---|---|---|\n");
        for f in ranked(findings).into_iter().take(20) {
            s.push_str(&format!(
                "| {} | {} | {} | {} | {} | `{}` |\n",
                md(&f.severity),
                md(&f.detector),
                md(&f.title),
                md(&condition_text(f)),
                md(&f.mitre_techniques.join(", ")),
                f.finding_id
            ));
        }
    }
    if !m.conditions.resolved.is_empty() {
        s.push_str("\n## Resolved\n\n| day | detector | last finding | lasted |\n|---|---|---|---|\n");
        for r in &m.conditions.resolved {
            s.push_str(&format!(
                "| {} | {} | {} | {} day(s) |\n",
                r.dt,
                md(&r.detector),
                md(&r.title),
                r.days
            ));
        }
    }
    if !m.warnings.is_empty() {
        s.push_str("\n## Warnings\n\n");
        for w in &m.warnings {
            s.push_str(&format!("- {}\n", md(w)));
        }
    }
    s
}
