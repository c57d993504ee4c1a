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
//!
//! # The decision: an unlikely address *and* unusual behaviour from it
//!
//! An address alone cannot separate a stolen key from a person on hotel Wi-Fi or a new home lease:
//! on the realistic sample world (people who travel, change laptops and ISP leases, use VPN exits),
//! judging the model's score alone flagged about one new pair in ten (96 false findings per 1,000
//! new pairs at a budget of 1). What separates them is what was done from the address: a traveller
//! does their usual work; stolen credentials are first used for what their owner never does (who
//! am I, what can I list, create a key). So each principal-day with a new pair gets two p-values,
//! combined by Fisher's method:
//! - **address**: how likely a benign principal-day is to show a new pair this unusual — the share
//!   of principal-days with a new pair on the last `calibration_days` of the baseline, times the
//!   pair's rank among those held-out pairs' scores under a model trained without those days:
//!   (1 + held-out scores ≤ this one) / (1 + held-out pairs). Empirical, so a heavy benign tail is
//!   not mistaken for a normal one, and a lake where principals rarely change address (the demo
//!   world) makes any new pair unusual; with too few held-out pairs to rank among, the model's own
//!   probability that the pair is true (the sigmoid of its score) stands in for the rank, and the
//!   manifest says so;
//! - **behaviour**: of the k distinct operations the principal called from the address that day,
//!   m were new to it (not called in its baseline); P(≥ m of k) under a beta-binomial whose rate is
//!   the principal's own: the share of each baseline day's distinct operations that were first seen
//!   that day (after `NOVELTY_WARMUP_DAYS`), so a principal that often tries something new is not
//!   surprising when it does (`queries/pairs/principal_ip_ops.sql`, through the rollup store).
//!
//! A pair is a finding when the combined p-value, times the principal's new pairs that day
//! (Bonferroni within the principal-day), is at most `false_findings_per_1000` / 1,000 — so the
//! expected false findings per 1,000 principal-days judged is at most the budget — and its score
//! is below `threshold`. A pair of a principal with no baseline is counted (`new_principals`) and
//! left to UEBA's peer groups: its entity vector is untrained. The detection limit that follows: stolen credentials used only for
//! their owner's usual operations, from an address that looks like the owner's usual kind of
//! network, are not found by this stage.

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
const OPS_TEMPLATE: &str = include_str!("../../queries/pairs/principal_ip_ops.sql");

/// Rollup folder and template name of the behaviour table (`queries/pairs/principal_ip_ops.sql`).
pub const OPS_TABLE: &str = "principal_ip_ops";
/// Its query label (logs, Athena statistics, UNLOAD folder).
pub const OPS_QUERY: &str = "principal_ip_ops_day";

/// Baseline days at the start of a principal's window that only teach its operations: novelty
/// (operations first seen on a day) is counted from the day after them, when "first seen" means
/// something.
const NOVELTY_WARMUP_DAYS: usize = 3;

/// `[ip_insights]` in the job file.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct IpInsightsJob {
    /// A new pair can be a finding only when its score (SageMaker's `dot_product`, a log-odds) is
    /// below this. 0 = "less likely than not", the SageMaker tutorial's threshold.
    pub threshold: f64,
    /// Skip a day whose baseline has fewer distinct pairs than this (too little to learn from).
    pub min_baseline_pairs: usize,
    /// At most this many findings per day, lowest scores first.
    pub max_findings_per_day: usize,
    /// Days at the end of each baseline held out to learn what a *benign* new pair scores: a
    /// second model trained without them scores the pairs that were new on those days, and a new
    /// pair's address p-value is its rank among those scores (module docs). 0 = no calibration
    /// (the model's own probability stands in).
    pub calibration_days: usize,
    /// Expected false findings per 1,000 principal-days judged (a principal active on an analysed
    /// day with a baseline), spread over the day's new pairs.
    pub false_findings_per_1000: f64,
    /// Fewest held-out new pairs to calibrate on; a day with fewer uses the model's own
    /// probability for the address, and the manifest says so.
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

/// The behaviour template: calls per principal, address, operation and day.
pub fn ops_template() -> Result<SeriesTemplate, SeriesError> {
    SeriesTemplate::parse(OPS_TABLE, OPS_TEMPLATE)
}

/// The behaviour table's columns, as the rollup store keeps them.
pub fn ops_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("accountid", DataType::Utf8, true),
        Field::new("principal", DataType::Utf8, true),
        Field::new("src_ip", DataType::Utf8, true),
        Field::new("operation", DataType::Utf8, true),
        Field::new(
            "bucket_start",
            DataType::Timestamp(arrow::datatypes::TimeUnit::Nanosecond, None),
            true,
        ),
        Field::new("events", DataType::Float64, true),
    ]))
}

/// What each principal did, per day: from each address, and in all.
#[derive(Debug, Default)]
struct Behaviour {
    /// Day index → (entity, address) → operation → calls.
    by_address: Vec<HashMap<(String, String), BTreeMap<String, f64>>>,
    /// Day index → entity → operations called that day.
    by_entity: Vec<HashMap<String, BTreeSet<String>>>,
}

/// A principal's operations over its baseline, and how often it called something new.
#[derive(Debug, Default)]
struct Habit {
    /// Operations called in the baseline.
    ops: BTreeSet<String>,
    /// Over the baseline days after the warm-up: operations first seen on their day, summed.
    new: usize,
    /// And distinct operations per day, summed.
    total: usize,
}

impl Habit {
    /// The principal's novelty rate as a Beta posterior from Jeffreys' prior: (new + ½, old + ½).
    fn rate_prior(&self) -> (f64, f64) {
        (self.new as f64 + 0.5, (self.total - self.new) as f64 + 0.5)
    }

    /// (new, total) for the evidence.
    fn rate(&self) -> (usize, usize) {
        (self.new, self.total)
    }
}

impl Behaviour {
    /// Index the behaviour table's rows by day (`start_ms` = day 0, `days` days).
    fn read(rows: &[RecordBatch], start_ms: i64, days: usize) -> Result<Behaviour, String> {
        use super::hunt::{col_day_ms, col_f64, col_str};
        use arrow::array::Array;
        let mut b = Behaviour {
            by_address: vec![HashMap::new(); days],
            by_entity: vec![HashMap::new(); days],
        };
        for r in rows {
            let (acct, principal, ip, op) = (
                col_str(r, "accountid")?,
                col_str(r, "principal")?,
                col_str(r, "src_ip")?,
                col_str(r, "operation")?,
            );
            let (day, events) = (col_day_ms(r)?, col_f64(r, "events")?);
            for i in 0..r.num_rows() {
                let d = (day[i] - start_ms).div_euclid(Bucket::Day.ms());
                if principal.is_null(i) || ip.is_null(i) || op.is_null(i) || d < 0 || d as usize >= days {
                    continue;
                }
                let entity = entity_name((!acct.is_null(i)).then(|| acct.value(i)), principal.value(i));
                let op = op.value(i).to_string();
                *b.by_address[d as usize]
                    .entry((entity.clone(), ip.value(i).to_string()))
                    .or_default()
                    .entry(op.clone())
                    .or_default() += events[i];
                b.by_entity[d as usize].entry(entity).or_default().insert(op);
            }
        }
        Ok(b)
    }

    /// The principal's operations over `base` and its novelty after the warm-up days.
    fn habit(&self, entity: &str, base: std::ops::Range<usize>) -> Habit {
        let mut h = Habit::default();
        for (j, d) in base.enumerate() {
            let Some(ops) = self.by_entity.get(d).and_then(|m| m.get(entity)) else {
                continue;
            };
            if j >= NOVELTY_WARMUP_DAYS {
                h.new += ops.iter().filter(|o| !h.ops.contains(*o)).count();
                h.total += ops.len();
            }
            h.ops.extend(ops.iter().cloned());
        }
        h
    }

    /// Operations (with calls) the principal made from `ip` on day `d`.
    fn from_address(&self, d: usize, entity: &str, ip: &str) -> BTreeMap<String, f64> {
        self.by_address
            .get(d)
            .and_then(|m| m.get(&(entity.to_string(), ip.to_string())))
            .cloned()
            .unwrap_or_default()
    }
}

/// One new pair, judged.
#[derive(Debug)]
struct Judgement {
    /// Series index of the pair.
    i: usize,
    /// The model's score (log-odds).
    score: f64,
    /// How unusual the score is among benign new pairs.
    p_address: f64,
    /// How unusual the share of new operations is for this principal.
    p_behaviour: f64,
    /// Both, by Fisher's method.
    p: f64,
    /// Operations from the address that day, with calls.
    ops: BTreeMap<String, f64>,
    /// Those of them the principal never called in its baseline.
    new_ops: Vec<String>,
    /// The principal's novelty: (operations first seen on their day, distinct operations per day).
    rate: (usize, usize),
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
    /// Rows of the behaviour table (principal, address, operation, day).
    #[serde(default)]
    pub ops_rows: usize,
    /// Its days read from / computed into the rollup store (when `[rollup]`).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub ops_rollup: Option<crate::series::rollup::RollupStats>,
}

/// One analysed day.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct DayStats {
    /// The model trained on the baseline (absent when the day was skipped).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<TrainReport>,
    /// New (principal, IP) pairs of the day, judged.
    pub new_pairs: usize,
    /// Principals active on the day that have a baseline: the principal-days the budget is per.
    #[serde(default)]
    pub principals: usize,
    /// New pairs of principals without a baseline: not judged (left to UEBA's peer groups).
    #[serde(default)]
    pub new_principals: usize,
    /// The significance level each principal-day is held to (the budget per 1,000 / 1,000).
    #[serde(default)]
    pub alpha: f64,
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
    /// Held-out new pairs (of principals the model knew).
    pub pairs: usize,
    /// Principal-days on the held-out days (principals the model knew, active that day).
    #[serde(default)]
    pub principal_days: usize,
    /// Their median score.
    pub median: f64,
    /// Their robust scale (1.4826 × the median absolute deviation).
    pub scale: f64,
    /// The held-out scores, ascending (not in the manifest).
    #[serde(skip)]
    pub sorted: Vec<f64>,
}

impl Calibration {
    /// The held-out scores' law (non-finite scores dropped) over `principal_days`; `None` when
    /// none is finite. Hand-written: a sort and two medians.
    pub fn fit(scores: &[f64], principal_days: usize) -> Option<Calibration> {
        let mut sorted: Vec<f64> = scores.iter().copied().filter(|v| v.is_finite()).collect();
        sorted.sort_by(f64::total_cmp);
        let median = crate::detect::stats::median(&mut sorted.clone())?;
        let mut dev: Vec<f64> = sorted.iter().map(|v| (v - median).abs()).collect();
        let scale = 1.4826 * crate::detect::stats::median(&mut dev)?;
        Some(Calibration {
            pairs: sorted.len(),
            principal_days,
            median,
            scale,
            sorted,
        })
    }

    /// How often a principal-day shows a new pair at all: (1 + held-out new pairs) / (1 + held-out
    /// principal-days), at most 1 (Laplace's rule, so a baseline without new pairs is not a zero).
    pub fn new_pair_rate(&self) -> f64 {
        ((1 + self.pairs) as f64 / (1 + self.principal_days) as f64).min(1.0)
    }

    /// How unusual `score` is among benign new pairs: (1 + held-out scores ≤ it) / (1 + held-out
    /// pairs), the conservative empirical p-value (never below 1 / (1 + pairs)); 1 for NaN.
    pub fn p_value(&self, score: f64) -> f64 {
        if score.is_nan() {
            return 1.0;
        }
        let below = self.sorted.partition_point(|v| *v <= score);
        (1 + below) as f64 / (1 + self.sorted.len()) as f64
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
        let view = template().map(|t| t.view).unwrap_or_default();
        [("principal_ip_day", view.clone()), (OPS_QUERY, view)]
            .into_iter()
            .map(|(label, view)| PlannedQuery {
                label: label.into(),
                view,
                from: super::day(w.day0_ms),
                to: super::day(w.end_ms - 1),
                detectors: vec![DETECTOR.to_string()],
            })
            .collect()
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
    let (ops_rows, ops_rollup) = crate::series::rollup::table_days(
        rollup,
        runner,
        &ops_template()?,
        OPS_TABLE,
        OPS_QUERY,
        &ops_schema(),
        start_ms,
        end_ms,
    )
    .await?;
    out.stats.ops_rows = ops_rows.iter().map(|b| b.num_rows()).sum();
    out.stats.ops_rollup = ops_rollup;
    let behaviour = Behaviour::read(&ops_rows, start_ms, set.len).map_err(|reason| SeriesError::Shape {
        family: OPS_TABLE.into(),
        reason,
    })?;
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
        let calibration = match calibrate(&set, &addr, job, d, baseline_days) {
            Ok((c, why)) => {
                if let Some(why) = why {
                    // Normal where principals rarely change address (the demo world): not a warning.
                    tracing::info!(%dt, "IP Insights: {why}");
                    st.uncalibrated = Some(why);
                }
                Some(c)
            }
            Err(why) => {
                tracing::warn!(%dt, "IP Insights: the address judged by the model's own probability: {why}");
                st.uncalibrated = Some(why);
                None
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
        st.principals = today
            .iter()
            .map(|&i| entity_of(&set, i))
            .filter(|e| usual.contains_key(e))
            .collect::<BTreeSet<_>>()
            .len();
        let mut candidates: Vec<Judgement> = Vec::new();
        let mut habits: HashMap<String, Habit> = HashMap::new();
        let mut new_of: HashMap<String, usize> = HashMap::new();
        for &i in today.iter().filter(|&&i| !seen(i)) {
            *new_of.entry(entity_of(&set, i)).or_default() += 1;
        }
        for &i in &today {
            if seen(i) {
                continue;
            }
            let entity = entity_of(&set, i);
            if !usual.contains_key(&entity) {
                st.new_principals += 1;
                continue;
            }
            st.new_pairs += 1;
            let score = model.score(&entity, addr[i].unwrap_or(0));
            // The principal-day's chance of a new pair this unusual: how often a principal-day
            // has a new pair at all, times the pair's rank among benign new pairs (or the model's
            // own probability that the pair is true, when there were too few to rank among).
            let model_p = 1.0 / (1.0 + (-score).exp());
            let p_address = match &calibration {
                Some(c) if !c.sorted.is_empty() => c.new_pair_rate() * c.p_value(score),
                Some(c) => c.new_pair_rate() * model_p,
                None => model_p,
            };
            let habit = habits
                .entry(entity.clone())
                .or_insert_with(|| behaviour.habit(&entity, base.clone()));
            let ip = set.series[i].key.get(2).cloned().flatten().unwrap_or_default();
            let ops = behaviour.from_address(d, &entity, &ip);
            let new_ops: Vec<String> = ops.keys().filter(|o| !habit.ops.contains(*o)).cloned().collect();
            let (a, b) = habit.rate_prior();
            let p_behaviour = crate::detect::stats::beta_binomial_sf(new_ops.len(), ops.len(), a, b);
            tracing::debug!(%dt, entity, ip, score, p_address, p_behaviour, new_ops = new_ops.len(), ops = ops.len(), "IP Insights: new pair");
            candidates.push(Judgement {
                i,
                score,
                p_address,
                p_behaviour,
                // Bonferroni within the principal-day: its new pairs are its tests.
                p: (crate::detect::stats::fisher_combine(p_address, p_behaviour) * new_of[&entity] as f64).min(1.0),
                ops,
                new_ops,
                rate: habit.rate(),
            });
        }
        st.alpha = job.false_findings_per_1000 / 1000.0;
        st.calibration = calibration;
        let mut judged: Vec<Judgement> = candidates
            .into_iter()
            .filter(|j| j.p <= st.alpha && j.score < job.threshold)
            .collect();
        judged.sort_by(|a, b| a.p.total_cmp(&b.p).then(a.i.cmp(&b.i)));
        judged.truncate(job.max_findings_per_day);
        for j in &judged {
            let i = &j.i;
            let entity = entity_of(&set, *i);
            let expected = usual.get(&entity).map(|(s, n)| s / *n as f64).unwrap_or(f64::NAN);
            let known: Vec<String> = distinct
                .iter()
                .filter(|(e, _)| *e == entity)
                .map(|(_, a)| std::net::Ipv4Addr::from(*a).to_string())
                .take(5)
                .collect();
            let f = finding(run_id, &set, j, d, expected, job.threshold, st.alpha, &known, &model.report);
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

/// The benign new pairs of analysed day `d`: a model trained on the baseline without its last
/// `calibration_days` scores the pairs that were new on each of those days (not seen since the
/// baseline began) of principals it was trained on (a new principal's vector is untrained, and
/// such pairs are not judged either), counted against those principals' active days. With fewer
/// than `min_calibration_pairs` held-out pairs the law has the counts but no scores, and the
/// second value says why.
fn calibrate(
    set: &SeriesSet,
    addr: &[Option<u32>],
    job: &IpInsightsJob,
    d: usize,
    baseline_days: usize,
) -> Result<(Calibration, Option<String>), String> {
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
    let trained: BTreeSet<String> = train.iter().map(|(e, _)| e.clone()).collect();
    let mut held_out: Vec<usize> = Vec::new();
    let mut principal_days = 0;
    for dd in d - h..d {
        let on: Vec<usize> = (0..set.series.len())
            .filter(|&i| set.series[i].values[dd] > 0.0 && addr[i].is_some() && trained.contains(&entity_of(set, i)))
            .collect();
        principal_days += on.iter().map(|&i| entity_of(set, i)).collect::<BTreeSet<_>>().len();
        held_out.extend(on.into_iter().filter(|&i| !active(i, b0..dd)));
    }
    if principal_days == 0 {
        return Err(format!("no principal of the baseline was active on the {h} held-out days"));
    }
    if held_out.len() < job.min_calibration_pairs {
        let why = format!(
            "{} new pairs on the {h} held-out days, fewer than ip_insights.min_calibration_pairs = {}: \
             the address is judged by the model's own probability",
            held_out.len(),
            job.min_calibration_pairs
        );
        let c = Calibration {
            pairs: held_out.len(),
            principal_days,
            ..Calibration::default()
        };
        return Ok((c, Some(why)));
    }
    if train.iter().collect::<BTreeSet<_>>().len() < job.min_baseline_pairs {
        return Err("too few pairs before the held-out days to train on".into());
    }
    let m = IpInsights::train(&train, &job.model);
    let scores: Vec<f64> = held_out
        .iter()
        .map(|&i| m.score(&entity_of(set, i), addr[i].unwrap_or(0)))
        .collect();
    Calibration::fit(&scores, principal_days)
        .map(|c| (c, None))
        .ok_or_else(|| "no finite held-out score".into())
}

/// The entity IP Insights models: the principal, qualified by account when there is one (the same
/// role name in two accounts is two entities).
fn entity_of(set: &SeriesSet, i: usize) -> String {
    let k = &set.series[i].key;
    match (k.first().cloned().flatten(), k.get(1).cloned().flatten()) {
        (a, Some(p)) => entity_name(a.as_deref(), &p),
        _ => String::new(),
    }
}

/// `account/principal`, or the principal alone without an account.
fn entity_name(account: Option<&str>, principal: &str) -> String {
    match account {
        Some(a) => format!("{a}/{principal}"),
        None => principal.to_string(),
    }
}

#[allow(clippy::too_many_arguments)]
fn finding(
    run_id: &str,
    set: &SeriesSet,
    j: &Judgement,
    d: usize,
    expected: f64,
    threshold: f64,
    alpha: f64,
    known: &[String],
    report: &TrainReport,
) -> Finding {
    let s = &set.series[j.i];
    let t = &set.template;
    let (start_ms, end_ms) = (set.bucket_ms(d), set.bucket_ms(d + 1));
    let key = |k: usize| s.key.get(k).cloned().flatten();
    let (account, principal, ip) = (key(0), key(1).unwrap_or_default(), key(2).unwrap_or_default());
    let events = s.values[d];
    let score = j.score;
    // Graded by how far below the day's level the combined p-value lies.
    let below = (alpha / j.p.max(f64::MIN_POSITIVE)).log10();
    let (severity, severity_id) = if below >= 3.0 {
        ("High", 4)
    } else if below >= 1.0 {
        ("Medium", 3)
    } else {
        ("Low", 2)
    };
    let surprise = -j.p.max(f64::MIN_POSITIVE).log10();
    let techniques: Vec<String> = t.mitre.clone();
    let day = crate::series::dt(start_ms);
    let known_text = if known.is_empty() { "none".to_string() } else { known.join(", ") };
    let (new_rate, all_rate) = j.rate;
    let usual_share = (new_rate as f64 + 0.5) / (all_rate as f64 + 1.0);
    let new_text = if j.new_ops.is_empty() {
        "none".to_string()
    } else {
        j.new_ops.iter().take(8).cloned().collect::<Vec<_>>().join(", ")
    };
    let ops: Vec<serde_json::Value> = j
        .ops
        .iter()
        .map(|(op, n)| serde_json::json!({"operation": op, "calls": n, "new": j.new_ops.contains(op)}))
        .collect();
    Finding {
        finding_id: finding_id(DETECTOR, set, s, start_ms, end_ms),
        run_id: run_id.into(),
        detector: DETECTOR.into(),
        detector_family: "ip_insights".into(),
        series_family: t.family.clone(),
        bucket: "day".into(),
        severity: severity.into(),
        severity_id,
        score: surprise,
        confidence: crate::detect::confidence_of(surprise),
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
        deviation: score - expected,
        kind: "unusual_ip".into(),
        top_features: serde_json::json!([
            {"name": "new_operations_from_address", "value": j.new_ops.len(), "baseline": usual_share * j.ops.len() as f64},
            {"name": "ip_insights_score", "value": score, "baseline": expected},
            {"name": "events_from_address", "value": events, "baseline": 0.0}
        ])
        .to_string(),
        title: format!(
            "{principal} used from an unusual address {ip}: {} of {} operations new to it (IP Insights score {score:.1})",
            j.new_ops.len(),
            j.ops.len()
        ),
        description: format!(
            "On {day}, {principal} made {events} API call(s) from {ip}, an address it had not used in the baseline. \
             The IP Insights model scores the pair {score:.2} (log-odds), against {expected:.2} for its usual addresses \
             ({known_text}); among the baseline's benign new pairs that is a p-value of {pa:.2e}. From that address it \
             called {k} distinct operation(s), {m} of which it never called in the baseline ({new_text}); it usually \
             calls something new on {share:.1}% of its operations (p = {pb:.2e}). Together p = {p:.2e}, below the \
             day's level {alpha:.2e}. Check whether the principal's credentials were used by someone else.",
            pa = j.p_address,
            k = j.ops.len(),
            m = j.new_ops.len(),
            share = usual_share * 100.0,
            pb = j.p_behaviour,
            p = j.p,
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
            "operations_from_address": ops,
            "new_operations": j.new_ops,
            "novelty": {"first_seen": new_rate, "distinct_per_day_summed": all_rate},
            "p_address": j.p_address,
            "p_behaviour": j.p_behaviour,
            "p": j.p,
            "alpha": alpha,
            "model": report,
        })
        .to_string(),
        investigation_sql: investigate::sql(t, s, start_ms, end_ms),
        mitre_tactics: mitre::tactics(&techniques),
        mitre_techniques: techniques,
        source_view: t.view.clone(),
        plot: None,
        condition: crate::findings::condition::Condition::default(),
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

    /// Proves the behaviour half: the table's rows are indexed by day, principal (qualified by
    /// account) and address; a principal's habit counts an operation first seen on a baseline day
    /// as novelty only after the warm-up days (day 1's new operation teaches, day 3's counts), and
    /// what it did from one address is kept apart from its other addresses. A row outside the
    /// days or without an address is skipped, not an error; a table without its columns is.
    #[test]
    fn behaviour_counts_novelty_after_the_warm_up_per_address() {
        use arrow::array::{Float64Array, TimestampNanosecondArray};
        let day = Bucket::Day.ms();
        let rows: Vec<(i64, &str, Option<&str>, &str)> = vec![
            (0, "alice", Some("10.0.0.1"), "s3:GetObject"),
            (1, "alice", Some("10.0.0.1"), "s3:GetObject"),
            (1, "alice", Some("10.0.0.1"), "s3:PutObject"),
            (2, "alice", Some("10.0.0.1"), "s3:GetObject"),
            (3, "alice", Some("10.0.0.1"), "s3:GetObject"),
            (3, "alice", Some("10.0.0.1"), "ec2:DescribeInstances"),
            (4, "alice", Some("10.0.0.1"), "s3:GetObject"),
            (5, "alice", Some("10.0.0.1"), "s3:GetObject"),
            (5, "alice", Some("185.220.101.47"), "sts:GetCallerIdentity"),
            (5, "alice", Some("185.220.101.47"), "s3:GetObject"),
            (5, "alice", None, "iam:CreateAccessKey"),
            (9, "alice", Some("10.0.0.1"), "iam:CreateUser"),
        ];
        let n = rows.len();
        let b = RecordBatch::try_new(
            ops_schema(),
            vec![
                Arc::new(StringArray::from(vec![Some("111"); n])),
                Arc::new(StringArray::from(rows.iter().map(|r| Some(r.1)).collect::<Vec<_>>())),
                Arc::new(StringArray::from(rows.iter().map(|r| r.2).collect::<Vec<_>>())),
                Arc::new(StringArray::from(rows.iter().map(|r| Some(r.3)).collect::<Vec<_>>())),
                Arc::new(TimestampNanosecondArray::from(
                    rows.iter().map(|r| r.0 * day * 1_000_000).collect::<Vec<_>>(),
                )),
                Arc::new(Float64Array::from(vec![2.0; n])),
            ],
        )
        .unwrap();
        let bh = Behaviour::read(&[b], 0, 6).unwrap();
        let h = bh.habit("111/alice", 0..5);
        assert_eq!(h.ops.len(), 3, "{h:?}");
        // Days 3 and 4 count: {GetObject, DescribeInstances} with one new, then {GetObject}.
        assert_eq!(h.rate(), (1, 3));
        assert_eq!(h.rate_prior(), (1.5, 2.5));
        let from = bh.from_address(5, "111/alice", "185.220.101.47");
        assert_eq!(from.keys().collect::<Vec<_>>(), ["s3:GetObject", "sts:GetCallerIdentity"]);
        assert_eq!(from["s3:GetObject"], 2.0);
        assert_eq!(bh.from_address(5, "111/alice", "10.0.0.1").len(), 1);
        assert!(bh.from_address(5, "222/alice", "10.0.0.1").is_empty(), "another account's alice");
        let empty = RecordBatch::new_empty(Arc::new(Schema::new(vec![Field::new("x", DataType::Utf8, true)])));
        assert!(Behaviour::read(&[empty], 0, 6).unwrap_err().contains("accountid"));
    }

    /// Proves the address p-value: among 99 held-out scores 1..=99 a score below all of them has
    /// p = 1/100 (the floor, never 0), one equal to the 50th has 51/100, one above all has 1; NaN
    /// gives 1 and non-finite held-out scores are dropped, not counted.
    #[test]
    fn the_address_p_value_is_the_rank_among_benign_new_pairs() {
        let mut scores: Vec<f64> = (1..=99).rev().map(f64::from).collect();
        scores.push(f64::NAN);
        let c = Calibration::fit(&scores, 299).unwrap();
        assert_eq!((c.pairs, c.median), (99, 50.0));
        assert_eq!(c.new_pair_rate(), 100.0 / 300.0);
        assert!((c.scale - 1.4826 * 25.0).abs() < 1e-9, "{}", c.scale);
        assert_eq!(c.p_value(0.5), 0.01);
        assert_eq!(c.p_value(50.0), 0.51);
        assert_eq!(c.p_value(1e9), 1.0);
        assert_eq!(c.p_value(f64::NAN), 1.0);
        assert!(Calibration::fit(&[f64::NAN], 10).is_none());
        // A baseline with no new pair at all: a rate of 1 / (1 + principal-days), not zero.
        let none = Calibration {
            principal_days: 239,
            ..Calibration::default()
        };
        assert_eq!(none.new_pair_rate(), 1.0 / 240.0);
    }
}
