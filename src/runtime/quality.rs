//! Detection quality of a run against a sample lake's ground truth (`labels.json`): recall per
//! injected instance and false findings per 1,000 entity-days per detector — the figures the
//! quality benchmark (`examples/quality.rs`, `benches/quality/`) and its CI slice report.
//!
//! Matching is by key, never by substring: a finding *finds* an instance when its detector family
//! is the one the instance names (an instance labelled `network` is found by the network and DNS
//! hunts only, not by an outlier on the host's bytes or queries series), one of its key values (the entity or any `entity_keys` value)
//! equals one of the instance's identifying entities (principal ARN, source or destination IP,
//! instance id, finding type, user name, domain — not shared values like the operation name), and
//! its window overlaps the instance's window widened by a day on each side (a change confirmed
//! the next night, a trend judged over days). A finding is *false* when none of its key values is
//! any instance's identifying entity. The denominator of the false rate is the entity-days the
//! detector judged: series analysed × days for the series detectors (an hourly series judged on
//! one day is one entity-day), principal-days judged for IP Insights (principals active on an
//! analysed day with a baseline; before 2026-12-05 its denominator was the new pairs alone) and
//! UEBA, host-days for the hunts.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::config::JobConfig;
use super::run::{run, RunOverrides, RunResult};
use crate::clock::FixedClock;
use crate::findings::Finding;
use crate::sample::scenarios::parse_specs;
use crate::sample::{generate, Codec, SampleLakeConfig, VersionMode, WorldKind};
use crate::series::SeriesCatalog;
use crate::stages::ip_insights::IpInsightsStats;
use crate::stages::series::SeriesStats;

/// Entity keys that identify an attacked entity (others, like `operation`, are shared by many).
pub const IDENTIFYING: &[&str] = &["principal", "src_ip", "dst_ip", "instance", "finding_type", "user_name", "domain"];

const DAY_MS: i64 = 86_400_000;

/// The hunts (their manifest sections and detector names).
const HUNTS: &[&str] = &[
    crate::stages::beaconing::DETECTOR,
    crate::stages::exfiltration::DETECTOR,
    crate::stages::lateral::DETECTOR,
    crate::stages::dns_hunt::DETECTOR,
];

/// One injected instance and whether the run found it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct InstanceResult {
    /// Instance id.
    pub id: String,
    /// Scenario kind.
    pub kind: String,
    /// Strength (absent for the default plan's fixed instances).
    pub strength: Option<f64>,
    /// Detector family expected to find it.
    pub family: String,
    /// Whether a finding of that family found it.
    pub found: bool,
}

/// False findings of one detector.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct FalseFindings {
    /// Findings on entities no instance touched.
    pub false_findings: usize,
    /// Of those, the conditions' first findings (`status = new`): what an analyst is sent anew
    /// (a condition lasting three days is three false findings and one false condition).
    #[serde(default)]
    pub false_conditions: usize,
    /// Entity-days the detector judged.
    pub entity_days: usize,
}

impl FalseFindings {
    /// Per 1,000 entity-days (NaN when nothing was judged).
    pub fn per_1000(&self) -> f64 {
        if self.entity_days == 0 {
            f64::NAN
        } else {
            self.false_findings as f64 * 1000.0 / self.entity_days as f64
        }
    }
}

/// One false finding, as the benchmark lists them (what an analyst would have been sent).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FalseFinding {
    /// Detector name.
    pub detector: String,
    /// Series family and bucket (`api_calls/hour`), or the stage for non-series detectors.
    pub series: String,
    /// Its score (−log10 of the corrected tail probability).
    pub score: f64,
    /// Its title.
    pub title: String,
    /// `new` or `ongoing`.
    pub status: String,
    /// Seed of the lake it came from (to reproduce it: `sample-lake --seed`).
    pub seed: u64,
}

/// The quality of one run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct QualityReport {
    /// Every labelled instance.
    pub instances: Vec<InstanceResult>,
    /// Per detector name.
    pub false_per_detector: BTreeMap<String, FalseFindings>,
    /// Per `detector series` (`outliers api_calls/hour`; `ip_insights pairs`).
    pub false_per_series: BTreeMap<String, FalseFindings>,
    /// Every false finding.
    pub false_findings: Vec<FalseFinding>,
    /// Scores of the findings that found an instance (its family, entity and window), per
    /// detector: with the false findings' scores, how well a detector's score separates the two.
    pub found_scores: BTreeMap<String, Vec<f64>>,
    /// Benign look-alikes (`labels.json` `benign_lookalikes`) a hunt flagged: (look-alike kind,
    /// detector, title). A finding of the hunt a look-alike is a trap for (pollers and NTP:
    /// beaconing; backups: exfiltration; the scanner: lateral movement; CDN names: DNS) flags it
    /// when it is about one of the look-alike's source addresses, not about an injected
    /// instance, and, when it names a destination or domain, names the look-alike's own.
    pub lookalikes_flagged: Vec<(String, String, String)>,
    /// Look-alike (kind, source) pairs in the lakes scored.
    pub lookalikes: usize,
}

fn identifying(s: &serde_json::Value) -> BTreeSet<String> {
    s["entities"]
        .as_object()
        .map(|m| {
            m.iter()
                .filter(|(k, _)| IDENTIFYING.contains(&k.as_str()))
                .filter_map(|(_, v)| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn key_values(f: &Finding) -> BTreeSet<String> {
    let mut v: BTreeSet<String> = serde_json::from_str::<serde_json::Value>(&f.entity_keys)
        .ok()
        .and_then(|k| {
            k.as_object()
                .map(|m| m.values().filter_map(|v| v.as_str().map(str::to_string)).collect())
        })
        .unwrap_or_default();
    v.insert(f.entity.clone());
    v
}

/// Score `result` against `labels` (the lake's `labels.json`).
pub fn score(result: &RunResult, labels: &serde_json::Value) -> QualityReport {
    let scenarios: Vec<&serde_json::Value> = labels["scenarios"].as_array().map(|a| a.iter().collect()).unwrap_or_default();
    let all_labelled: BTreeSet<String> = scenarios.iter().flat_map(|s| identifying(s)).collect();
    let keys: Vec<BTreeSet<String>> = result.findings.iter().map(key_values).collect();
    let mut report = QualityReport::default();
    for s in &scenarios {
        let ents = identifying(s);
        let family = s["detector_family"].as_str().unwrap_or_default();
        let (ws, we) = (
            s["window_start_ms"].as_i64().unwrap_or(0) - DAY_MS,
            s["window_end_ms"].as_i64().unwrap_or(0) + DAY_MS,
        );
        // Kinds labelled `network` are the hunts' (their findings' family is `network`).
        let family_ok = |f: &Finding| f.detector_family == family;
        let hits: Vec<&Finding> = result
            .findings
            .iter()
            .zip(&keys)
            .filter(|(f, k)| family_ok(f) && f.window_start_ms < we && f.window_end_ms > ws && !k.is_disjoint(&ents))
            .map(|(f, _)| f)
            .collect();
        let found = !hits.is_empty();
        // The instance's best finding per detector (one score per instance and detector).
        let mut best: BTreeMap<&str, f64> = BTreeMap::new();
        for f in hits {
            let b = best.entry(f.detector.as_str()).or_insert(f64::NEG_INFINITY);
            *b = b.max(f.score);
        }
        for (d, sc) in best {
            report.found_scores.entry(d.to_string()).or_default().push(sc);
        }
        report.instances.push(InstanceResult {
            id: s["id"].as_str().unwrap_or_default().to_string(),
            kind: s["kind"].as_str().unwrap_or_default().to_string(),
            strength: s["strength"].as_f64(),
            family: family.to_string(),
            found,
        });
    }
    let days = result.manifest.range.days().len();
    let series: BTreeMap<String, SeriesStats> = result.manifest.stage("series").unwrap_or_default();
    for (key, st) in &series {
        for (det, n) in &st.analysed {
            report.false_per_detector.entry(det.clone()).or_default().entity_days += n * days;
            report.false_per_series.entry(format!("{det} {key}")).or_default().entity_days += n * days;
        }
    }
    if let Some(ip) = result.manifest.stage::<IpInsightsStats>("ip_insights") {
        report
            .false_per_detector
            .entry(crate::stages::ip_insights::DETECTOR.to_string())
            .or_default()
            .entity_days += ip.days.values().map(|d| d.principals).sum::<usize>();
        report
            .false_per_series
            .entry(format!("{} principal-days", crate::stages::ip_insights::DETECTOR))
            .or_default()
            .entity_days += ip.days.values().map(|d| d.principals).sum::<usize>();
    }
    // The UEBA forest and the identity rules judge every active principal-day.
    let ueba = result.manifest.stage::<crate::stages::ueba::UebaStats>("ueba").map(|u| u.judged);
    let identity = result
        .manifest
        .stage::<crate::stages::identity::IdentityStats>(crate::stages::identity::DETECTOR)
        .map(|u| u.judged);
    for (det, judged) in [(crate::stages::ueba::DETECTOR, ueba), (crate::stages::identity::DETECTOR, identity)] {
        let Some(judged) = judged else { continue };
        let n: usize = judged.values().sum();
        report.false_per_detector.entry(det.to_string()).or_default().entity_days += n;
        report
            .false_per_series
            .entry(format!("{det} principal-days"))
            .or_default()
            .entity_days += n;
    }
    for hunt in HUNTS {
        if let Some(h) = result.manifest.stage::<crate::stages::hunt::HuntStats>(hunt) {
            let n: usize = h.judged.values().sum();
            report.false_per_detector.entry(hunt.to_string()).or_default().entity_days += n;
            report.false_per_series.entry(format!("{hunt} {}", h.unit)).or_default().entity_days += n;
        }
    }
    for la in labels["benign_lookalikes"].as_array().into_iter().flatten() {
        let kind = la["kind"].as_str().unwrap_or_default();
        let srcs: BTreeSet<&str> = la["src_ips"].as_array().into_iter().flatten().filter_map(|v| v.as_str()).collect();
        report.lookalikes += srcs.len();
        let target = la["dst_ip"].as_str().or(la["domain"].as_str());
        // The hunt each look-alike is a trap for.
        let trap = match kind {
            "saas_poller" | "ntp" => crate::stages::beaconing::DETECTOR,
            "nightly_backup" => crate::stages::exfiltration::DETECTOR,
            "scanner" => crate::stages::lateral::DETECTOR,
            _ => crate::stages::dns_hunt::DETECTOR,
        };
        for (f, k) in result.findings.iter().zip(&keys) {
            if f.detector != trap || !k.is_disjoint(&all_labelled) {
                continue;
            }
            let fk: serde_json::Value = serde_json::from_str(&f.entity_keys).unwrap_or_default();
            let on_src = fk["src_ip"].as_str().is_some_and(|s| srcs.contains(s));
            let named = fk["dst_ip"].as_str().or(fk["domain"].as_str());
            if on_src && (named.is_none() || named == target) {
                report
                    .lookalikes_flagged
                    .push((kind.to_string(), f.detector.clone(), f.title.clone()));
            }
        }
    }
    for (f, k) in result.findings.iter().zip(&keys) {
        if k.is_disjoint(&all_labelled) {
            let new = f.condition.status != crate::findings::condition::ONGOING;
            let e = report.false_per_detector.entry(f.detector.clone()).or_default();
            e.false_findings += 1;
            e.false_conditions += new as usize;
            let series = if f.detector == crate::stages::ip_insights::DETECTOR || f.detector == crate::stages::ueba::DETECTOR {
                "principal-days".to_string()
            } else if HUNTS.contains(&f.detector.as_str()) {
                "host-days".to_string()
            } else {
                format!("{}/{}", f.series_family, f.bucket)
            };
            let e = report.false_per_series.entry(format!("{} {series}", f.detector)).or_default();
            e.false_findings += 1;
            e.false_conditions += new as usize;
            report.false_findings.push(FalseFinding {
                detector: f.detector.clone(),
                series,
                score: f.score,
                title: f.title.clone(),
                status: f.condition.status.clone(),
                seed: 0,
            });
        }
    }
    report
}

impl QualityReport {
    /// Recall per (kind, strength): (found, instances).
    pub fn recall(&self) -> BTreeMap<(String, String), (usize, usize)> {
        let mut m: BTreeMap<(String, String), (usize, usize)> = BTreeMap::new();
        for i in &self.instances {
            let s = i.strength.map(|s| format!("{s}")).unwrap_or_else(|| "default".into());
            let e = m.entry((i.kind.clone(), s)).or_default();
            e.0 += i.found as usize;
            e.1 += 1;
        }
        m
    }

    /// Add another run's figures (instances appended, false findings and entity-days summed).
    pub fn merge(&mut self, other: QualityReport) {
        self.instances.extend(other.instances);
        self.false_findings.extend(other.false_findings);
        for (d, f) in other.false_per_series {
            let e = self.false_per_series.entry(d).or_default();
            e.false_findings += f.false_findings;
            e.false_conditions += f.false_conditions;
            e.entity_days += f.entity_days;
        }
        self.lookalikes_flagged.extend(other.lookalikes_flagged);
        self.lookalikes += other.lookalikes;
        for (d, v) in other.found_scores {
            self.found_scores.entry(d).or_default().extend(v);
        }
        for (d, f) in other.false_per_detector {
            let e = self.false_per_detector.entry(d).or_default();
            e.false_findings += f.false_findings;
            e.false_conditions += f.false_conditions;
            e.entity_days += f.entity_days;
        }
    }
}

/// One benchmark lake: a realistic-world sample lake under `dir` (`seed`, `accounts`,
/// `events_per_day` in all, `days` from 2025-03-01) with the scenarios of `spec` (`kind=strength:count,…`; empty = benign), the
/// demo job over its second half (14-day baselines), scored against its labels.
pub async fn measure(
    dir: &std::path::Path,
    seed: u64,
    spec: &str,
    accounts: u32,
    events_per_day: u64,
    days: u32,
) -> Result<QualityReport, String> {
    let start = chrono::NaiveDate::from_ymd_opt(2025, 3, 1).ok_or("date")?;
    let cfg = SampleLakeConfig {
        out: dir.join("lake"),
        days,
        start,
        accounts,
        regions: vec!["us-east-1".into(), "eu-west-1".into()],
        events_per_day,
        seed,
        versions: VersionMode::V2,
        codec: Codec::Zstd,
        world: WorldKind::Realistic,
        scenarios: Some(if spec.is_empty() { Vec::new() } else { parse_specs(spec)? }),
    };
    let lake = cfg.out.clone();
    let summary = tokio::task::spawn_blocking(move || generate(&cfg))
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
    let text = std::fs::read_to_string(&summary.labels).map_err(|e| e.to_string())?;
    let labels: serde_json::Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
    let catalog = SeriesCatalog::builtin().map_err(|e| e.to_string())?;
    let mut job = JobConfig::parse(include_str!("../../jobs/demo.toml"), "jobs/demo.toml").map_err(|e| e.to_string())?;
    job.job.lake = lake.display().to_string();
    job.job.output = dir.join("out").display().to_string();
    job.job.baseline_days = 14;
    job.job.from = Some(start + chrono::Days::new(u64::from(days) / 2));
    job.job.to = Some(start + chrono::Days::new(u64::from(days) - 1));
    job.output.plots = false;
    job.output.report = false;
    let r = run(&job, &catalog, &RunOverrides::default(), &FixedClock(1_750_000_000_000))
        .await
        .map_err(|e| e.to_string())?;
    let mut q = score(&r, &labels);
    for f in &mut q.false_findings {
        f.seed = seed;
    }
    Ok(q)
}
