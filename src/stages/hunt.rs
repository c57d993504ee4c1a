//! What the network and DNS hunts share: the `[hunts]` settings (allow-lists), the [`Hunt`]
//! interface each hunt implements in its own module, and the one [`HuntStage`] that runs any of
//! them — read its per-day table (through the rollup store, so a night queries the new day only),
//! judge each analysed day against the days before it, and return findings with a plot and an
//! investigation query.
//!
//! Adding a hunt = a module with its config, template (`queries/hunts/`) and [`Hunt`] impl, plus
//! one registry line (`runtime::plan::stages`).
//!
//! Why every hunt reports a finding once per episode (the first day a condition holds, not every
//! day it keeps holding): an analyst who has seen "host X beacons to Y" does not need it again
//! tomorrow, and a long-standing benign poller that happens to look like a beacon costs one
//! finding (then an allow-list line), not one a night.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{DataType, Float64Type, Int32Type, Int64Type, SchemaRef};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::{PlannedQuery, Stage, StageContext, StageError, StageOutput, Window};
use crate::detect::net::{parse_cidrs, Nets};
use crate::detect::Overlay;
use crate::findings::mitre;
use crate::findings::plot::PlotSpec;
use crate::findings::Finding;
use crate::series::rollup::{table_days, RollupStats};
use crate::series::{SeriesError, SeriesTemplate};

/// Milliseconds in a day.
pub const DAY_MS: i64 = 86_400_000;

/// `[hunts]` in the job file: what every hunt leaves alone. Each hunt is on when its own table
/// (`[hunts.beaconing]`, …) is present.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields, default)]
pub struct HuntsJob {
    /// Destination ranges never judged (AWS service ranges the job knows, partners, backup
    /// targets): CIDRs or bare addresses.
    pub allow_cidrs: Vec<String>,
    /// Registrable domains (and their subdomains) the DNS hunt never judges.
    pub allow_domains: Vec<String>,
    /// Sources allowed wide admin-port fan-out (vulnerability scanners): CIDRs or addresses.
    pub scanners: Vec<String>,
    /// Beaconing: regular connections to a rare external destination.
    pub beaconing: Option<super::beaconing::BeaconJob>,
    /// Exfiltration: bytes to external destinations against the source's history, daily and
    /// cumulatively to new destinations.
    pub exfiltration: Option<super::exfiltration::ExfilJob>,
    /// Lateral movement: admin-port connections to internal hosts the source never contacted.
    pub lateral_movement: Option<super::lateral::LateralJob>,
    /// DNS: random-looking new domains (DGA), tunnelling, NXDOMAIN bursts.
    pub dns: Option<super::dns_hunt::DnsJob>,
}

impl HuntsJob {
    /// Every problem (empty = valid), each naming its field.
    pub fn validate(&self) -> Vec<String> {
        let mut errs = Vec::new();
        if let Err(e) = parse_cidrs("hunts.allow_cidrs", &self.allow_cidrs) {
            errs.extend(e);
        }
        if let Err(e) = parse_cidrs("hunts.scanners", &self.scanners) {
            errs.extend(e);
        }
        for d in &self.allow_domains {
            if crate::detect::net::normalise_name(d).is_none() {
                errs.push(format!("hunts.allow_domains: {d:?} is not a DNS name"));
            }
        }
        if let Some(b) = &self.beaconing {
            errs.extend(b.validate());
        }
        if let Some(x) = &self.exfiltration {
            errs.extend(x.validate());
        }
        if let Some(l) = &self.lateral_movement {
            errs.extend(l.validate());
        }
        if let Some(d) = &self.dns {
            errs.extend(d.validate());
        }
        errs
    }

    /// Allow-listed destinations as ranges (validated first, so bad entries are already reported).
    pub fn nets(&self) -> Nets {
        Nets::new(parse_cidrs("hunts.allow_cidrs", &self.allow_cidrs).unwrap_or_default())
    }

    /// Scanner sources as ranges.
    pub fn scanner_nets(&self) -> Nets {
        Nets::new(parse_cidrs("hunts.scanners", &self.scanners).unwrap_or_default())
    }

    /// The hunt stages this job turns on, in registry order.
    pub fn stages(&self) -> Vec<Box<dyn Stage>> {
        let shared = Arc::new(self.clone());
        let mut v: Vec<Box<dyn Stage>> = Vec::new();
        if let Some(j) = &self.beaconing {
            v.push(Box::new(HuntStage::new(super::beaconing::Beaconing(j.clone()), shared.clone())));
        }
        if let Some(j) = &self.exfiltration {
            v.push(Box::new(HuntStage::new(
                super::exfiltration::Exfiltration(j.clone()),
                shared.clone(),
            )));
        }
        if let Some(j) = &self.lateral_movement {
            v.push(Box::new(HuntStage::new(super::lateral::Lateral(j.clone()), shared.clone())));
        }
        if let Some(j) = &self.dns {
            v.push(Box::new(HuntStage::new(super::dns_hunt::DnsHunt(j.clone()), shared.clone())));
        }
        v
    }
}

/// What a hunt did, for the manifest (under its name).
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
pub struct HuntStats {
    /// What one judged unit is (`host-days`).
    pub unit: String,
    /// Units judged per analysed day.
    pub judged: BTreeMap<String, usize>,
    /// Findings per analysed day.
    pub findings: BTreeMap<String, usize>,
    /// Rows or candidates left out, by reason (malformed addresses, allow-listed, too few flows).
    pub skipped: BTreeMap<String, usize>,
    /// Rows read.
    pub rows: usize,
    /// Milliseconds: reading the per-day table, judging.
    pub query_ms: u128,
    /// See `query_ms`.
    pub judge_ms: u128,
    /// The rollup store's work for the table, when there is one.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub rollup: Option<RollupStats>,
    /// Why the hunt did not run, if so.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub warning: Option<String>,
}

impl HuntStats {
    /// Count one skip of `reason`.
    pub fn skip(&mut self, reason: &str) {
        *self.skipped.entry(reason.to_string()).or_default() += 1;
    }
}

/// What the hunt sees besides its rows.
#[derive(Debug)]
pub struct HuntContext<'a> {
    /// Run id.
    pub run_id: &'a str,
    /// The days: baseline from `day0_ms`, judged from `eval_ms`.
    pub window: &'a Window,
    /// The shared settings.
    pub job: &'a HuntsJob,
    /// `job.allow_cidrs` as ranges.
    pub nets: Nets,
}

impl HuntContext<'_> {
    /// Days in the window.
    pub fn days(&self) -> usize {
        ((self.window.end_ms - self.window.day0_ms) / DAY_MS).max(0) as usize
    }
    /// Index of the first judged day.
    pub fn first_eval(&self) -> usize {
        ((self.window.eval_ms - self.window.day0_ms) / DAY_MS).max(0) as usize
    }
    /// Index of the day of `ms` (`None` outside the window).
    pub fn day_of(&self, ms: i64) -> Option<usize> {
        (ms >= self.window.day0_ms && ms < self.window.end_ms).then(|| ((ms - self.window.day0_ms) / DAY_MS) as usize)
    }
    /// Midnight of day `d`.
    pub fn day_ms(&self, d: usize) -> i64 {
        self.window.day0_ms + d as i64 * DAY_MS
    }
    /// History days of day `d`: `[max(0, d − baseline_days), d)`.
    pub fn history(&self, d: usize) -> std::ops::Range<usize> {
        d.saturating_sub(self.window.baseline_days as usize)..d
    }
}

/// What a hunt found.
#[derive(Debug, Default)]
pub struct HuntOutcome {
    /// Findings, each with its plot.
    pub findings: Vec<(Finding, Option<PlotSpec>)>,
    /// Stats.
    pub stats: HuntStats,
}

/// One hunt: its table and its judgement.
pub trait Hunt: Send + Sync + std::fmt::Debug {
    /// Stage and detector name (`beaconing`).
    fn name(&self) -> &'static str;
    /// Its per-day table: label (query and rollup folder) and template text.
    fn table(&self) -> (&'static str, &'static str);
    /// The stored shape of the table's rows (must hold `bucket_start`).
    fn schema(&self) -> SchemaRef;
    /// What one judged unit is.
    fn unit(&self) -> &'static str;
    /// The ATT&CK techniques its findings carry.
    fn techniques(&self) -> &'static [&'static str];
    /// Judge every analysed day; rows are the table's over the whole window.
    fn judge(&self, rows: &[RecordBatch], cx: &HuntContext<'_>) -> Result<HuntOutcome, String>;
}

/// A hunt as a stage.
#[derive(Debug)]
pub struct HuntStage<H: Hunt> {
    hunt: H,
    job: Arc<HuntsJob>,
}

impl<H: Hunt> HuntStage<H> {
    /// Wrap a hunt.
    pub fn new(hunt: H, job: Arc<HuntsJob>) -> Self {
        HuntStage { hunt, job }
    }

    /// The query's label: the table's and the hunt's (two hunts reading one table run two queries
    /// on Athena, each with its own UNLOAD folder; the rollup store keeps the table once).
    pub fn query_label(&self) -> String {
        format!("{}_{}", self.hunt.table().0, self.hunt.name())
    }

    fn template(&self) -> Result<SeriesTemplate, SeriesError> {
        let (label, text) = self.hunt.table();
        SeriesTemplate::parse(label, text)
    }
}

#[async_trait]
impl<H: Hunt + 'static> Stage for HuntStage<H> {
    fn name(&self) -> &'static str {
        self.hunt.name()
    }

    fn detectors(&self) -> Vec<String> {
        vec![self.hunt.name().into()]
    }

    fn techniques(&self) -> Vec<String> {
        self.hunt.techniques().iter().map(|t| t.to_string()).collect()
    }

    fn queries(&self, w: &Window) -> Vec<PlannedQuery> {
        let view = self.template().map(|t| t.view).unwrap_or_default();
        vec![PlannedQuery {
            label: self.query_label(),
            view,
            from: super::day(w.day0_ms),
            to: super::day(w.end_ms - 1),
            detectors: vec![self.hunt.name().into()],
        }]
    }

    async fn run(&self, ctx: &StageContext<'_>) -> Result<StageOutput, StageError> {
        let name = self.hunt.name();
        let mut out = StageOutput::default();
        let t = self.template()?;
        let mut stats = if !ctx.has_view(&t.view) {
            let w = format!("{name}: the lake has no table for view lakesight.{}; hunt skipped", t.view);
            tracing::warn!("{w}");
            out.warnings.push(w.clone());
            HuntStats {
                warning: Some(w),
                ..Default::default()
            }
        } else {
            ctx.check_cancel(name)?;
            let started = std::time::Instant::now();
            let (label, _) = self.hunt.table();
            let (rows, rollup) = table_days(
                ctx.rollup,
                ctx.runner,
                &t,
                label,
                &self.query_label(),
                &self.hunt.schema(),
                ctx.window.day0_ms,
                ctx.window.end_ms,
            )
            .await?;
            let query_ms = started.elapsed().as_millis();
            ctx.check_cancel(name)?;
            let cx = HuntContext {
                run_id: ctx.run_id,
                window: &ctx.window,
                job: &self.job,
                nets: self.job.nets(),
            };
            let started = std::time::Instant::now();
            let o = self.hunt.judge(&rows, &cx).map_err(|reason| SeriesError::Shape {
                family: label.to_string(),
                reason,
            })?;
            let mut st = o.stats;
            st.rows = rows.iter().map(|b| b.num_rows()).sum();
            st.query_ms = query_ms;
            st.judge_ms = started.elapsed().as_millis();
            st.rollup = rollup;
            for (f, plot) in o.findings {
                if ctx.plots {
                    if let Some(p) = plot {
                        out.plots.push((f.finding_id.clone(), p));
                    }
                }
                out.findings.push(f);
            }
            out.timings_ms.push((format!("{name}_query"), st.query_ms));
            out.timings_ms.push((format!("{name}_judge"), st.judge_ms));
            tracing::info!(
                hunt = name,
                rows = st.rows,
                findings = out.findings.len(),
                "{name}: {} finding(s)",
                out.findings.len()
            );
            st
        };
        stats.unit = self.hunt.unit().into();
        out.manifest.push((name.into(), serde_json::to_value(&stats).unwrap_or_default()));
        Ok(out)
    }
}

/// A column of a batch by name, as text (`None` for a null or a missing column).
pub fn col_str<'a>(b: &'a RecordBatch, name: &str) -> Result<&'a arrow::array::StringArray, String> {
    b.column_by_name(name)
        .ok_or_else(|| format!("lacks column {name}"))?
        .as_string_opt::<i32>()
        .ok_or_else(|| format!("column {name} is not text"))
}

/// A numeric column as f64 values (nulls as 0).
pub fn col_f64(b: &RecordBatch, name: &str) -> Result<Vec<f64>, String> {
    let c = b.column_by_name(name).ok_or_else(|| format!("lacks column {name}"))?;
    let c = arrow::compute::cast(c, &DataType::Float64).map_err(|e| format!("{name}: {e}"))?;
    let a = c.as_primitive::<Float64Type>();
    Ok((0..a.len()).map(|i| if a.is_null(i) { 0.0 } else { a.value(i) }).collect())
}

/// An integer column (nulls as `None`).
pub fn col_i32(b: &RecordBatch, name: &str) -> Result<Vec<Option<i32>>, String> {
    let c = b.column_by_name(name).ok_or_else(|| format!("lacks column {name}"))?;
    let c = arrow::compute::cast(c, &DataType::Int32).map_err(|e| format!("{name}: {e}"))?;
    let a = c.as_primitive::<Int32Type>();
    Ok(a.iter().collect())
}

/// `bucket_start` as epoch ms.
pub fn col_day_ms(b: &RecordBatch) -> Result<Vec<i64>, String> {
    let c = b.column_by_name("bucket_start").ok_or("lacks column bucket_start")?;
    let c = arrow::compute::cast(c, &DataType::Int64).map_err(|e| format!("bucket_start: {e}"))?;
    let a = c.as_primitive::<Int64Type>();
    // Stored as nanoseconds.
    Ok(a.iter().map(|v| v.unwrap_or(i64::MIN).div_euclid(1_000_000)).collect())
}

/// One finding of a hunt, before it becomes a [`Finding`].
#[derive(Debug, Clone)]
pub struct Hit {
    /// Hunt (detector) name.
    pub detector: &'static str,
    /// Finding kind (`beacon`, `dga`, …).
    pub kind: &'static str,
    /// What the entity is (`src_ip`).
    pub entity_type: &'static str,
    /// The entity.
    pub entity: String,
    /// Account.
    pub account: Option<String>,
    /// Every identifying key (JSON object of strings).
    pub keys: serde_json::Value,
    /// What else identifies the episode (a destination, a domain) for the finding id.
    pub id_extra: String,
    /// Midnight of the day.
    pub day_ms: i64,
    /// 0..1: a heuristic, or −log10 of a fleet law's tail / 10 where a law decides (the
    /// finding's score is ten times this; its severity is High from 0.9, Medium from 0.7).
    pub score: f64,
    /// Observed value.
    pub observed: f64,
    /// Expected (usual) value.
    pub expected: f64,
    /// Upper edge of normal.
    pub upper: f64,
    /// Title.
    pub title: String,
    /// Description.
    pub description: String,
    /// Evidence (JSON object).
    pub evidence: serde_json::Value,
    /// What made it stand out: `{name, value, baseline}`.
    pub top: Vec<serde_json::Value>,
    /// ATT&CK technique ids.
    pub techniques: Vec<&'static str>,
    /// The view it came from.
    pub view: &'static str,
    /// The flows or queries behind it.
    pub investigation_sql: String,
}

impl Hit {
    /// The finding.
    pub fn finding(self, run_id: &str) -> Finding {
        let mut id = sha2::Sha256::default();
        for part in [
            self.detector,
            self.kind,
            self.account.as_deref().unwrap_or("\u{0}NULL"),
            &self.entity,
            &self.id_extra,
        ] {
            sha2::Digest::update(&mut id, part.as_bytes());
            sha2::Digest::update(&mut id, [0]);
        }
        sha2::Digest::update(&mut id, self.day_ms.to_le_bytes());
        let severity = if self.score >= 0.9 {
            ("High", 4)
        } else if self.score >= 0.7 {
            ("Medium", 3)
        } else {
            ("Low", 2)
        };
        let techniques: Vec<String> = self.techniques.iter().map(|s| s.to_string()).collect();
        let mut evidence = self.evidence;
        if let Some(o) = evidence.as_object_mut() {
            o.insert("keys".into(), self.keys.clone());
            o.insert("window".into(), serde_json::json!([self.day_ms, self.day_ms + DAY_MS]));
        }
        Finding {
            finding_id: hex::encode(&sha2::Digest::finalize(id)[..16]),
            run_id: run_id.into(),
            detector: self.detector.into(),
            detector_family: "network".into(),
            series_family: self.detector.into(),
            bucket: "day".into(),
            severity: severity.0.into(),
            severity_id: severity.1,
            score: self.score * 10.0,
            confidence: 0.8,
            entity_type: self.entity_type.into(),
            entity: self.entity,
            account_id: self.account,
            entity_keys: self.keys.to_string(),
            window_start_ms: self.day_ms,
            window_end_ms: self.day_ms + DAY_MS,
            observed: self.observed,
            expected: self.expected,
            lower_bound: f64::NAN,
            upper_bound: self.upper,
            deviation: self.observed - self.expected,
            kind: self.kind.into(),
            top_features: serde_json::Value::Array(self.top).to_string(),
            title: self.title,
            description: self.description,
            evidence: evidence.to_string(),
            investigation_sql: self.investigation_sql,
            mitre_tactics: mitre::tactics(&techniques),
            mitre_techniques: techniques,
            source_view: self.view.into(),
            plot: None,
            condition: crate::findings::condition::Condition::default(),
            dt: super::day(self.day_ms),
        }
    }
}

/// A plot of an entity's daily values over the window, the finding's day marked.
pub fn daily_plot(f: &Finding, measure: &str, cx: &HuntContext<'_>, values: Vec<f64>, day: usize, upper: f64) -> PlotSpec {
    PlotSpec {
        title: f.title.clone(),
        measure: measure.into(),
        start_ms: cx.window.day0_ms,
        bucket_ms: DAY_MS,
        values: values.into_iter().take(day + 1).collect(),
        window: (day, day + 1),
        band: (0.0, upper),
        overlay: Overlay::Points,
    }
}

/// `YYYYMMDD` of `ms` (the `eventday` partition value).
pub fn eventday(ms: i64) -> String {
    super::day(ms).replace('-', "")
}

/// Human bytes (`12.3 MB`).
pub fn bytes(b: f64) -> String {
    let units = ["B", "KB", "MB", "GB", "TB"];
    let mut v = b;
    let mut i = 0;
    while v.abs() >= 1000.0 && i < units.len() - 1 {
        v /= 1000.0;
        i += 1;
    }
    if i == 0 {
        format!("{v:.0} {}", units[i])
    } else {
        format!("{v:.1} {}", units[i])
    }
}

/// The per-day flow table the exfiltration and lateral-movement hunts share (one rollup folder).
pub const FLOW_EDGES: (&str, &str) = ("flow_edges", include_str!("../../queries/hunts/flow_edges.sql"));

/// Stored shape of [`FLOW_EDGES`].
pub fn flow_edges_schema() -> SchemaRef {
    use arrow::datatypes::{Field, Schema, TimeUnit};
    Arc::new(Schema::new(vec![
        Field::new("accountid", DataType::Utf8, true),
        Field::new("src_ip", DataType::Utf8, true),
        Field::new("src_instance", DataType::Utf8, true),
        Field::new("dst_ip", DataType::Utf8, true),
        Field::new("dst_port", DataType::Int32, true),
        Field::new("bucket_start", DataType::Timestamp(TimeUnit::Nanosecond, None), true),
        Field::new("flows", DataType::Float64, true),
        Field::new("accepted", DataType::Float64, true),
        Field::new("bytes", DataType::Float64, true),
    ]))
}

/// A name shared by many rows (an address, an account, an instance id): the flow table repeats a
/// few thousand of them over millions of rows, so each is allocated once ([`read_edges`]). On a
/// 100M-event day owned `String`s per row held several GB (`benches/big_day.sh`).
pub type Name = Arc<str>;

/// The one [`Name`] of `s` among the rows being read (`names` borrows their text).
pub fn intern<'r>(names: &mut HashMap<&'r str, Name>, s: &'r str) -> Name {
    names.entry(s).or_insert_with(|| Arc::from(s)).clone()
}

/// One row of [`FLOW_EDGES`].
#[derive(Debug, Clone, PartialEq)]
pub struct Edge {
    /// Account.
    pub account: Option<Name>,
    /// Source address.
    pub src_ip: Name,
    /// Source instance (empty when unknown).
    pub src_instance: Name,
    /// Destination address.
    pub dst_ip: Name,
    /// Destination port (`None` when absent).
    pub dst_port: Option<i32>,
    /// Day index in the window.
    pub day: usize,
    /// Flows.
    pub flows: f64,
    /// Accepted flows.
    pub accepted: f64,
    /// Bytes.
    pub bytes: f64,
}

/// The edges of `rows` inside the window (rows of other days are ignored).
pub fn read_edges<'r>(rows: &'r [RecordBatch], cx: &HuntContext<'_>) -> Result<Vec<Edge>, String> {
    let mut out = Vec::new();
    let mut names: HashMap<&'r str, Name> = HashMap::new();
    for b in rows {
        let (acct, src, inst, dst) = (
            col_str(b, "accountid")?,
            col_str(b, "src_ip")?,
            col_str(b, "src_instance")?,
            col_str(b, "dst_ip")?,
        );
        let (port, day) = (col_i32(b, "dst_port")?, col_day_ms(b)?);
        let (flows, acc, by) = (col_f64(b, "flows")?, col_f64(b, "accepted")?, col_f64(b, "bytes")?);
        for i in 0..b.num_rows() {
            let Some(d) = cx.day_of(day[i]) else { continue };
            out.push(Edge {
                account: acct.is_valid(i).then(|| intern(&mut names, acct.value(i))),
                src_ip: intern(&mut names, if src.is_valid(i) { src.value(i).trim() } else { "" }),
                src_instance: intern(&mut names, if inst.is_valid(i) { inst.value(i) } else { "" }),
                dst_ip: intern(&mut names, if dst.is_valid(i) { dst.value(i).trim() } else { "" }),
                dst_port: port[i].filter(|p| (0..=65535).contains(p)),
                day: d,
                flows: flows[i],
                accepted: acc[i],
                bytes: by[i].max(0.0),
            });
        }
    }
    Ok(out)
}

/// The conditions every hunt's investigation SQL starts with: the day's partition and time range,
/// the source (`source`, a condition on quoted literals) and the account when known.
pub fn day_conditions(day_ms: i64, source: String, account: Option<&str>) -> Vec<String> {
    use crate::sql::{quote_literal, timestamp_literal};
    let mut conds = vec![
        format!("eventday = {}", quote_literal(&eventday(day_ms))),
        format!(
            "time >= {} AND time < {}",
            timestamp_literal(day_ms),
            timestamp_literal(day_ms + DAY_MS)
        ),
        source,
    ];
    if let Some(a) = account {
        conds.push(format!("accountid = {}", quote_literal(a)));
    }
    conds
}

/// A hunt's investigation SQL: `columns` of `lakesight.<view>` under `conds`, in time order,
/// headed by `comment` (kept on its one line: data values are in it).
pub fn investigation_sql(comment: &str, columns: &str, view: &str, conds: &[String]) -> String {
    format!(
        "-- {}\nSELECT {columns}\nFROM lakesight.{view}\nWHERE {}\nORDER BY time\nLIMIT {}",
        crate::sql::comment_text(comment),
        conds.join("\n  AND "),
        crate::findings::investigate::LIMIT
    )
}

/// Investigation SQL over the flows of `src` on the day of `day_ms` (to `dsts` when given, on
/// `ports` when given), in time order.
pub fn flows_sql(comment: &str, account: Option<&str>, src: &str, day_ms: i64, dsts: &[String], ports: &[i32]) -> String {
    use crate::sql::quote_literal;
    let mut conds = day_conditions(day_ms, format!("src_ip = {}", quote_literal(src)), account);
    if !dsts.is_empty() {
        conds.push(format!(
            "dst_ip IN ({})",
            dsts.iter().map(|d| quote_literal(d)).collect::<Vec<_>>().join(", ")
        ));
    }
    if !ports.is_empty() {
        conds.push(format!(
            "dst_port IN ({})",
            ports.iter().map(|p| p.to_string()).collect::<Vec<_>>().join(", ")
        ));
    }
    investigation_sql(
        comment,
        "time, src_ip, src_port, src_instance, dst_ip, dst_port, dst_instance, protocol_num, bytes, packets, action_id",
        "network_activity",
        &conds,
    )
}
