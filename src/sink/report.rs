//! The HTML report: a run summary and the findings, most surprising (highest confidence) first, each with its
//! investigation SQL. Self-contained (no scripts, no external assets); every data value is
//! HTML-escaped.

use crate::findings::Finding;
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

/// Render the report.
pub fn html(m: &Manifest, findings: &[Finding]) -> String {
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
        "<p>Inputs: {} tables, {} files, {} rows, {:.1} MB; {} skipped. Findings: {}.</p>",
        m.inputs.tables,
        m.inputs.files,
        m.inputs.rows,
        m.inputs.bytes as f64 / 1e6,
        m.skipped_inputs.len(),
        m.findings_total
    ));
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
    let mut sorted: Vec<&Finding> = findings.iter().collect();
    // Most surprising first: confidence is derived from each detector's graded score (−log10 of
    // the corrected tail probability), so it ranks across detectors; severity breaks ties.
    sorted.sort_by(|a, b| {
        b.confidence
            .total_cmp(&a.confidence)
            .then(b.severity_id.cmp(&a.severity_id))
            .then(a.finding_id.cmp(&b.finding_id))
    });
    for f in sorted {
        let when = chrono::DateTime::from_timestamp_millis(f.window_start_ms)
            .map(|d| d.format("%Y-%m-%d %H:%M").to_string())
            .unwrap_or_default();
        s.push_str(&format!(
            "<tr><td class=\"{}\">{}</td><td>{}</td><td><b>{}</b><br>{}<br><small>{} · {}</small></td><td>{:.0} / {:.0}</td><td>{}</td><td><details><summary>SQL</summary><pre>{}</pre></details>{}</td></tr>",
            esc(&f.severity),
            esc(&f.severity),
            esc(&when),
            esc(&f.title),
            esc(&f.description),
            esc(&f.detector),
            esc(&f.finding_id),
            f.observed,
            f.expected,
            esc(&f.mitre_techniques.join(", ")),
            esc(&f.investigation_sql),
            if f.plot.is_some() {
                // Relative to the report, which sits at the output root beside `plots/`.
                format!(
                    "<details><summary>plot</summary><img width=\"600\" src=\"plots/dt={}/{}.svg\"></details>",
                    esc(&f.dt),
                    esc(&f.finding_id)
                )
            } else {
                String::new()
            }
        ));
    }
    s.push_str("</table>");
    if !m.warnings.is_empty() {
        s.push_str("<h2>Warnings</h2><ul>");
        for w in &m.warnings {
            s.push_str(&format!("<li>{}</li>", esc(w)));
        }
        s.push_str("</ul>");
    }
    s.push_str("</body></html>\n");
    s
}
