//! The IP Insights stage: (principal, source IP) pairs from the lake, one model per analysed day
//! trained on the pairs of the baseline before it, findings for the day's new pairs that the model
//! finds unlikely, and the embeddings of the day's principals and addresses.
//!
//! Why one model per analysed day: a rerun of a day must judge it as its nightly run did, on the
//! baseline before it and nothing after (the series detectors cut their series the same way).
//! Why only new pairs are judged: a pair seen in the baseline is by construction expected; the
//! question IP Insights answers is whether an address the principal never used lies in its usual
//! networks (a new laptop at the office) or not (a key used from an unknown network).
//!
//! The pairs come from `queries/pairs/principal_ip.sql`, a series template (keys account,
//! principal, source IP; events per day), so they run on either engine and a finding's
//! investigation SQL is the series one: the principal's events from that address that day.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use arrow::array::{ArrayRef, Float32Builder, ListBuilder, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use serde::{Deserialize, Serialize};

use async_trait::async_trait;

use super::{PlannedQuery, Stage, StageContext, StageError, StageOutput, Window};
use crate::detect::ip_insights::{parse_ipv4, IpInsights, IpInsightsParams, TrainReport};
use crate::detect::Overlay;
use crate::findings::plot::PlotSpec;
use crate::findings::{finding_id, investigate, mitre, Finding};
use crate::lake::SqlRunner;
use crate::series::{Bucket, SeriesError, SeriesSet, SeriesTemplate};
use crate::table::{DayRows, TableOutput, TableSpec};

/// Detector name in findings and partitions.
pub const DETECTOR: &str = "ip_insights";

const TEMPLATE: &str = include_str!("../../queries/pairs/principal_ip.sql");

/// `[ip_insights]` in the job file.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct IpInsightsJob {
    /// A new pair is a finding when its score (SageMaker's `dot_product`, a log-odds) is below
    /// this. 0 = "less likely than not", the SageMaker tutorial's threshold.
    pub threshold: f64,
    /// Skip a day whose baseline has fewer distinct pairs than this (too little to learn from).
    pub min_baseline_pairs: usize,
    /// At most this many findings per day, lowest scores first.
    pub max_findings_per_day: usize,
    /// Days at the end of each baseline held out to learn what a *benign* new pair scores: a
    /// second model trained without them scores the pairs that were new on those days, and a
    /// new pair of the analysed day is a finding only when its score lies below that benign
    /// distribution at the rate `false_findings_per_1000` (as well as below `threshold`).
    /// 0 = no calibration (the threshold alone decides).
    pub calibration_days: usize,
    /// Expected false findings per 1,000 new pairs judged (with calibration).
    pub false_findings_per_1000: f64,
    /// Fewest held-out new pairs to calibrate on; a day with fewer is judged by the threshold
    /// alone, and the manifest says so.
    pub min_calibration_pairs: usize,
    /// Write the embeddings table (`embeddings/dt=…/`).
    pub embeddings: bool,
    /// Model hyper-parameters (`[ip_insights.model]`).
    pub model: IpInsightsParams,
}

impl Default for IpInsightsJob {
    fn default() -> Self {
        IpInsightsJob {
            threshold: 0.0,
            min_baseline_pairs: 20,
            max_findings_per_day: 100,
            calibration_days: 3,
            false_findings_per_1000: 1.0,
            min_calibration_pairs: 20,
            embeddings: true,
            model: IpInsightsParams::default(),
        }
    }
}

impl IpInsightsJob {
    /// Problems, each naming its field.
    pub fn validate(&self) -> Vec<String> {
        let mut e = self.model.validate("ip_insights.model");
        if !self.threshold.is_finite() {
            e.push(format!("ip_insights.threshold: {} is not a finite number", self.threshold));
        }
        if self.max_findings_per_day == 0 {
            e.push("ip_insights.max_findings_per_day: must be at least 1".into());
        }
        if !(self.false_findings_per_1000 > 0.0 && self.false_findings_per_1000 <= 1000.0) {
            e.push(format!(
                "ip_insights.false_findings_per_1000: {} must be within (0, 1000]",
                self.false_findings_per_1000
            ));
        }
        e
    }
}

/// The pairs template.
pub fn template() -> Result<SeriesTemplate, SeriesError> {
    SeriesTemplate::parse("principal_ip", TEMPLATE)
}

/// What the stage did, for the manifest.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct IpInsightsStats {
    /// Rows the pairs query returned.
    pub rows: usize,
    /// Per analysed day: training summary, pairs judged, findings; or why the day was skipped.
    pub days: BTreeMap<String, DayStats>,
    /// Pairs whose address is not IPv4 (IP Insights models IPv4 only), skipped and counted.
    pub not_ipv4: usize,
    /// Milliseconds in the stage.
    pub ms: u128,
    /// Days of pairs read from / computed into the rollup store (when `[rollup]`).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub rollup: Option<crate::series::rollup::RollupStats>,
}

/// One analysed day.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct DayStats {
    /// The model trained on the baseline (absent when the day was skipped).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<TrainReport>,
    /// New (principal, IP) pairs of the day, judged.
    pub new_pairs: usize,
    /// Findings.
    pub findings: usize,
    /// Why the day was not judged.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
    /// What benign new pairs scored on the held-out days (absent without calibration).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub calibration: Option<Calibration>,
    /// Why the day was judged by the threshold alone.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uncalibrated: Option<String>,
}

/// The benign new pairs' score distribution of one analysed day.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Calibration {
    /// Held-out new pairs scored.
    pub pairs: usize,
    /// Their median score.
    pub median: f64,
    /// Their robust scale (1.4826 × the median absolute deviation).
    pub scale: f64,
    /// The score below which a new pair is a finding: median + scale · Φ⁻¹(budget / 1000).
    pub cutoff: f64,
}

impl Calibration {
    /// Fit a normal law robustly (median, scaled MAD) to `scores`, cut at `budget_per_1000`.
    /// Hand-written: two medians. Robust because the held-out days may hold an attack too.
    pub fn fit(scores: &[f64], budget_per_1000: f64) -> Option<Calibration> {
        let mut finite: Vec<f64> = scores.iter().copied().filter(|v| v.is_finite()).collect();
        let median = crate::detect::stats::median(&mut finite)?;
        let mut dev: Vec<f64> = finite.iter().map(|v| (v - median).abs()).collect();
        let scale = (1.4826 * crate::detect::stats::median(&mut dev)?).max(1e-6);
        let cutoff = median + scale * crate::detect::stats::norm_ppf(budget_per_1000 / 1000.0);
        Some(Calibration {
            pairs: finite.len(),
            median,
            scale,
            cutoff,
        })
    }
}

/// What the stage returns.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Findings, all days.
    pub findings: Vec<Finding>,
    /// Embeddings per judged day.
    pub embeddings: Vec<DayRows>,
    /// A plot per finding (by finding id): the principal's daily calls from the address over the
    /// baseline and the day — nothing, then the day's calls.
    pub plots: Vec<(String, PlotSpec)>,
    /// For the manifest.
    pub stats: IpInsightsStats,
}

/// Schema of the embeddings table (without its `dt` partition column).
pub fn embeddings_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("run_id", DataType::Utf8, false),
        Field::new("kind", DataType::Utf8, false),
        Field::new("entity", DataType::Utf8, false),
        Field::new("account_id", DataType::Utf8, true),
        Field::new(
            "vector",
            DataType::List(Arc::new(Field::new("element", DataType::Float32, true))),
            false,
        ),
    ]))
}

/// The embeddings table as the DDL, Glue and the sink know it.
pub fn table_spec(table: &str) -> TableSpec {
    TableSpec {
        table: table.into(),
        description: "lakesight IP Insights embeddings of principals and addresses (see embeddings_table.sql)".into(),
        folder: "embeddings".into(),
        schema: embeddings_schema(),
        enums: Vec::new(),
        ddl_comment: "-- lakesight embeddings table for Athena: IP Insights vectors of the principals and addresses of each\n\
             -- judged day (kind = 'principal' | 'ip'); the dot product of a principal's and an address's vector is\n\
             -- the model's score of the pair (higher = more expected). Rendered by `lakesight run` into\n\
             -- <output>/embeddings_table.sql. Partition projection on dt.\n"
            .into(),
    }
}

/// The IP Insights stage (`[ip_insights]`).
#[derive(Debug)]
pub struct IpInsightsStage {
    /// `[ip_insights]`.
    pub job: IpInsightsJob,
    /// The embeddings table name (`output.embeddings_table`).
    pub table: String,
}

#[async_trait]
impl Stage for IpInsightsStage {
    fn name(&self) -> &'static str {
        DETECTOR
    }

    fn detectors(&self) -> Vec<String> {
        vec![DETECTOR.to_string()]
    }

    fn techniques(&self) -> Vec<String> {
        template().map(|t| t.mitre).unwrap_or_default()
    }

    fn queries(&self, w: &Window) -> Vec<PlannedQuery> {
        vec![PlannedQuery {
            label: "principal_ip_day".into(),
            view: template().map(|t| t.view).unwrap_or_default(),
            from: super::day(w.day0_ms),
            to: super::day(w.end_ms - 1),
            detectors: vec![DETECTOR.to_string()],
        }]
    }

    fn tables(&self) -> Vec<TableSpec> {
        if self.job.embeddings {
            vec![table_spec(&self.table)]
        } else {
            Vec::new()
        }
    }

    async fn run(&self, ctx: &StageContext<'_>) -> Result<StageOutput, StageError> {
        let mut out = StageOutput::default();
        let view = template()?.view;
        if !ctx.has_view(&view) {
            let w = format!("ip_insights: the lake has no table for view lakesight.{view}; not run");
            tracing::warn!("{w}");
            out.warnings.push(w);
            return Ok(out);
        }
        let o = run(
            ctx.runner,
            ctx.rollup,
            &self.job,
            ctx.run_id,
            ctx.window.eval_ms,
            ctx.window.end_ms,
            ctx.window.baseline_days as usize,
        )
        .await?;
        for (dt, d) in &o.stats.days {
            if let Some(why) = &d.skipped {
                out.warnings.push(format!("ip_insights {dt}: {why}"));
            }
        }
        out.timings_ms.push(("ip_insights".into(), o.stats.ms));
        out.findings = o.findings;
        if ctx.plots {
            out.plots = o.plots;
        }
        if !o.embeddings.is_empty() {
            out.tables.push(TableOutput {
                spec: table_spec(&self.table),
                days: o.embeddings,
            });
        }
        out.manifest
            .push(("ip_insights".into(), serde_json::to_value(&o.stats).unwrap_or_default()));
        Ok(out)
    }
}

/// Run the stage over the analysed days `[first_ms, end_ms)` with `baseline_days` before each.
pub async fn run(
    runner: &dyn SqlRunner,
    rollup: Option<&crate::series::rollup::Rollup>,
    job: &IpInsightsJob,
    run_id: &str,
    first_ms: i64,
    end_ms: i64,
    baseline_days: usize,
) -> Result<Outcome, SeriesError> {
    let started = std::time::Instant::now();
    let day = Bucket::Day.ms();
    let start_ms = first_ms - baseline_days as i64 * day;
    let t = Arc::new(template()?);
    let mut out = Outcome::default();
    let (set, rollup_stats) = crate::series::rollup::build(rollup, runner, t, Bucket::Day, start_ms, end_ms).await?;
    out.stats.rollup = rollup_stats;
    out.stats.rows = set.rows;
    // (series index, address) of every pair whose address is IPv4.
    let mut addr: Vec<Option<u32>> = Vec::with_capacity(set.series.len());
    for s in &set.series {
        let a = s.key.get(2).cloned().flatten().as_deref().and_then(parse_ipv4);
        if a.is_none() {
            out.stats.not_ipv4 += 1;
        }
        addr.push(a);
    }
    let first = baseline_days;
    for d in first..set.len {
        let dt = crate::series::dt(set.bucket_ms(d));
        let mut st = DayStats::default();
        let base = d - baseline_days..d;
        let seen = |i: usize| set.series[i].values[base.clone()].iter().any(|v| *v > 0.0);
        let train: Vec<(String, u32)> = (0..set.series.len())
            .filter(|&i| seen(i))
            .filter_map(|i| Some((entity_of(&set, i), addr[i]?)))
            .collect();
        let distinct: BTreeSet<&(String, u32)> = train.iter().collect();
        if distinct.len() < job.min_baseline_pairs {
            let why = format!(
                "baseline has {} distinct pairs, fewer than ip_insights.min_baseline_pairs = {}",
                distinct.len(),
                job.min_baseline_pairs
            );
            tracing::warn!(%dt, "IP Insights: day skipped: {why}");
            st.skipped = Some(why);
            out.stats.days.insert(dt, st);
            continue;
        }
        let model = IpInsights::train(&train, &job.model);
        let cutoff = match calibrate(&set, &addr, job, d, baseline_days) {
            Ok(c) => {
                let cut = c.cutoff;
                st.calibration = Some(c);
                cut.min(job.threshold)
            }
            Err(why) => {
                tracing::warn!(%dt, "IP Insights: judged by the threshold alone: {why}");
                st.uncalibrated = Some(why);
                job.threshold
            }
        };
        // Each entity's usual score: the mean over its baseline pairs (the finding's "expected").
        let mut usual: HashMap<String, (f64, usize)> = HashMap::new();
        for (e, a) in &distinct {
            let u = usual.entry(e.clone()).or_default();
            u.0 += model.score(e, *a);
            u.1 += 1;
        }
        let today: Vec<usize> = (0..set.series.len())
            .filter(|&i| set.series[i].values[d] > 0.0 && addr[i].is_some())
            .collect();
        let mut judged: Vec<(f64, usize)> = Vec::new();
        for &i in &today {
            if seen(i) {
                continue;
            }
            st.new_pairs += 1;
            let score = model.score(&entity_of(&set, i), addr[i].unwrap_or(0));
            if score < cutoff {
                judged.push((score, i));
            }
        }
        judged.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        judged.truncate(job.max_findings_per_day);
        for (score, i) in &judged {
            let entity = entity_of(&set, *i);
            let expected = usual.get(&entity).map(|(s, n)| s / *n as f64).unwrap_or(f64::NAN);
            let known: Vec<String> = distinct
                .iter()
                .filter(|(e, _)| *e == entity)
                .map(|(_, a)| std::net::Ipv4Addr::from(*a).to_string())
                .take(5)
                .collect();
            let f = finding(run_id, &set, *i, d, *score, expected, cutoff, &known, &model.report);
            let s = &set.series[*i];
            out.plots.push((
                f.finding_id.clone(),
                PlotSpec {
                    title: f.title.clone(),
                    measure: set.template.measure.clone(),
                    overlay: Overlay::Points,
                    start_ms: s.start_ms,
                    bucket_ms: day,
                    values: s.values[..=d].to_vec(),
                    window: (d, d + 1),
                    band: (0.0, 0.0),
                },
            ));
            out.findings.push(f);
        }
        st.findings = judged.len();
        if job.embeddings {
            out.embeddings.push(DayRows {
                dt: dt.clone(),
                batch: embeddings(&set, &model, run_id, &today, &addr).map_err(|e| SeriesError::Shape {
                    family: "principal_ip".into(),
                    reason: e.to_string(),
                })?,
            });
        }
        tracing::info!(%dt, pairs = model.report.pairs, auc = ?model.report.validation_auc, new_pairs = st.new_pairs, findings = st.findings, "IP Insights day judged");
        st.model = Some(model.report.clone());
        out.stats.days.insert(dt, st);
    }
    out.stats.ms = started.elapsed().as_millis();
    Ok(out)
}

/// The benign new pairs' scores for analysed day `d`: a model trained on the baseline without its
/// last `calibration_days` scores the pairs that were new on each of those days (not seen since
/// the baseline began); the scores are fitted by [`Calibration::fit`].
fn calibrate(set: &SeriesSet, addr: &[Option<u32>], job: &IpInsightsJob, d: usize, baseline_days: usize) -> Result<Calibration, String> {
    let h = job.calibration_days;
    if h == 0 {
        return Err("calibration_days = 0".into());
    }
    if h >= baseline_days {
        return Err(format!(
            "calibration_days = {h} leaves no baseline of {baseline_days} days to train on"
        ));
    }
    let b0 = d - baseline_days;
    let active = |i: usize, r: std::ops::Range<usize>| set.series[i].values[r].iter().any(|v| *v > 0.0);
    let train: Vec<(String, u32)> = (0..set.series.len())
        .filter(|&i| active(i, b0..d - h))
        .filter_map(|i| Some((entity_of(set, i), addr[i]?)))
        .collect();
    let mut held_out: Vec<usize> = Vec::new();
    for dd in d - h..d {
        held_out.extend((0..set.series.len()).filter(|&i| set.series[i].values[dd] > 0.0 && addr[i].is_some() && !active(i, b0..dd)));
    }
    if held_out.len() < job.min_calibration_pairs {
        return Err(format!(
            "{} new pairs on the {h} held-out days, fewer than ip_insights.min_calibration_pairs = {}",
            held_out.len(),
            job.min_calibration_pairs
        ));
    }
    if train.iter().collect::<BTreeSet<_>>().len() < job.min_baseline_pairs {
        return Err("too few pairs before the held-out days to train on".into());
    }
    let m = IpInsights::train(&train, &job.model);
    let scores: Vec<f64> = held_out
        .iter()
        .map(|&i| m.score(&entity_of(set, i), addr[i].unwrap_or(0)))
        .collect();
    Calibration::fit(&scores, job.false_findings_per_1000).ok_or_else(|| "no finite held-out score".into())
}

/// The entity IP Insights models: the principal, qualified by account when there is one (the same
/// role name in two accounts is two entities).
fn entity_of(set: &SeriesSet, i: usize) -> String {
    let k = &set.series[i].key;
    match (k.first().cloned().flatten(), k.get(1).cloned().flatten()) {
        (Some(a), Some(p)) => format!("{a}/{p}"),
        (None, Some(p)) => p,
        _ => String::new(),
    }
}

#[allow(clippy::too_many_arguments)]
fn finding(
    run_id: &str,
    set: &SeriesSet,
    i: usize,
    d: usize,
    score: f64,
    expected: f64,
    threshold: f64,
    known: &[String],
    report: &TrainReport,
) -> Finding {
    let s = &set.series[i];
    let t = &set.template;
    let (start_ms, end_ms) = (set.bucket_ms(d), set.bucket_ms(d + 1));
    let key = |j: usize| s.key.get(j).cloned().flatten();
    let (account, principal, ip) = (key(0), key(1).unwrap_or_default(), key(2).unwrap_or_default());
    let events = s.values[d];
    let (severity, severity_id) = if score < threshold - 10.0 {
        ("High", 4)
    } else if score < threshold - 5.0 {
        ("Medium", 3)
    } else {
        ("Low", 2)
    };
    let techniques: Vec<String> = t.mitre.clone();
    let day = crate::series::dt(start_ms);
    let known_text = if known.is_empty() { "none".to_string() } else { known.join(", ") };
    Finding {
        finding_id: finding_id(DETECTOR, set, s, start_ms, end_ms),
        run_id: run_id.into(),
        detector: DETECTOR.into(),
        detector_family: "ip_insights".into(),
        series_family: t.family.clone(),
        bucket: "day".into(),
        severity: severity.into(),
        severity_id,
        score: -score,
        confidence: 1.0 / (1.0 + score.exp()),
        entity_type: "principal".into(),
        entity: principal.clone(),
        account_id: account.clone(),
        entity_keys: serde_json::json!({"accountid": account, "principal": principal, "src_ip": ip}).to_string(),
        window_start_ms: start_ms,
        window_end_ms: end_ms,
        observed: score,
        expected,
        lower_bound: threshold,
        upper_bound: f64::NAN,
        deviation: score - threshold,
        kind: "unusual_ip".into(),
        top_features: serde_json::json!([
            {"name": "ip_insights_score", "value": score, "baseline": expected},
            {"name": "events_from_address", "value": events, "baseline": 0.0}
        ])
        .to_string(),
        title: format!("{principal} used from an unusual address {ip} (IP Insights score {score:.1})"),
        description: format!(
            "On {day}, {principal} made {events} API call(s) from {ip}, an address it had not used in the baseline \
             and that the IP Insights model scores {score:.2} (log-odds; below the threshold {threshold}), against \
             {expected:.2} for its usual addresses ({known_text}). Check whether the principal's credentials were used \
             by someone else."
        ),
        evidence: serde_json::json!({
            "keys": {"accountid": account, "principal": principal, "src_ip": ip},
            "window": [start_ms, end_ms],
            "score": score,
            "threshold": threshold,
            "usual_score": expected,
            "usual_addresses": known,
            "events": events,
            "values_in_window": [events],
            "model": report,
        })
        .to_string(),
        investigation_sql: investigate::sql(t, s, start_ms, end_ms),
        mitre_tactics: mitre::tactics(&techniques),
        mitre_techniques: techniques,
        source_view: t.view.clone(),
        plot: None,
        dt: day,
    }
}

fn embeddings(
    set: &SeriesSet,
    model: &IpInsights,
    run_id: &str,
    today: &[usize],
    addr: &[Option<u32>],
) -> Result<RecordBatch, arrow::error::ArrowError> {
    // (kind, entity) → (account, vector), each once, in a stable order.
    type Rows<'a> = BTreeMap<(&'a str, String), (Option<String>, Vec<f32>)>;
    let mut rows: Rows = BTreeMap::new();
    for &i in today {
        let account = set.series[i].key.first().cloned().flatten();
        let e = entity_of(set, i);
        rows.entry(("principal", e.clone()))
            .or_insert_with(|| (account.clone(), model.entity_vector(&e)));
        if let Some(a) = addr[i] {
            rows.entry(("ip", std::net::Ipv4Addr::from(a).to_string()))
                .or_insert_with(|| (None, model.ip_vector(a)));
        }
    }
    let mut vectors = ListBuilder::new(Float32Builder::new()).with_field(Arc::new(Field::new("element", DataType::Float32, true)));
    for (_, (_, v)) in rows.iter() {
        vectors.values().append_slice(v);
        vectors.append(true);
    }
    let cols: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from(vec![run_id; rows.len()])),
        Arc::new(StringArray::from(rows.keys().map(|k| k.0).collect::<Vec<_>>())),
        Arc::new(StringArray::from(rows.keys().map(|k| k.1.clone()).collect::<Vec<_>>())),
        Arc::new(StringArray::from(rows.values().map(|v| v.0.clone()).collect::<Vec<_>>())),
        Arc::new(vectors.finish()),
    ];
    RecordBatch::try_new(embeddings_schema(), cols)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Proves the calibration's cutoff: for held-out scores that are a standard normal's quantiles
    /// shifted to median 2 and scaled by 3, the fitted median and scale come back within 2%, and the
    /// cutoff at 1 per 1,000 lies at 2 + 3·Φ⁻¹(0.001) = −7.27; one wild score does not move it.
    #[test]
    fn calibration_cuts_the_benign_score_law_at_the_budget() {
        let n = 400;
        let mut scores: Vec<f64> = (1..=n)
            .map(|i| 2.0 + 3.0 * crate::detect::stats::norm_ppf(i as f64 / (n + 1) as f64))
            .collect();
        let c = Calibration::fit(&scores, 1.0).unwrap();
        assert!((c.median - 2.0).abs() < 0.02 && (c.scale / 3.0 - 1.0).abs() < 0.02, "{c:?}");
        assert!((c.cutoff - (2.0 + 3.0 * -3.090_232)).abs() < 0.1, "{c:?}");
        scores.push(-1e6);
        let wild = Calibration::fit(&scores, 1.0).unwrap();
        assert!((wild.cutoff - c.cutoff).abs() < 0.1, "{wild:?}");
        assert!(Calibration::fit(&[f64::NAN], 1.0).is_none());
    }
}
