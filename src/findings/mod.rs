//! Findings: the stable record analysts read, built from a detector's [`Anomaly`].
//!
//! The schema ([`schema`]) is documented column by column in `queries/athena/findings_table.sql` and
//! is append-only: new columns go at the end. A finding's id is a SHA-256 of what identifies it
//! (detector, series family, key, bucket width, window), so a rerun of a day produces the same ids
//! and the sink replaces the day's partition instead of adding duplicates.

pub mod condition;
pub mod investigate;
pub mod mitre;
pub mod ocsf;
pub mod plot;

use std::sync::Arc;

use arrow::array::{ArrayRef, Float64Builder, Int32Builder, ListBuilder, RecordBatch, StringBuilder, TimestampMillisecondBuilder};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::detect::{fmt_num, Anomaly, Subject};
use crate::series::{Series, SeriesSet};
use crate::table::TableSpec;

/// One finding.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    /// Deterministic id (hex SHA-256 prefix).
    pub finding_id: String,
    /// Run that produced it.
    pub run_id: String,
    /// Detector name from the job file.
    pub detector: String,
    /// Detector family (`outlier`, …).
    pub detector_family: String,
    /// Series family.
    pub series_family: String,
    /// `hour` or `day`.
    pub bucket: String,
    /// Informational, Low, Medium, High, Critical.
    pub severity: String,
    /// OCSF severity id (1..5).
    pub severity_id: i32,
    /// Detector score.
    pub score: f64,
    /// 0..1.
    pub confidence: f64,
    /// What the entity is (`principal`, `src_instance`, …).
    pub entity_type: String,
    /// The entity value.
    pub entity: String,
    /// Account of the series.
    pub account_id: Option<String>,
    /// All key columns as a JSON object.
    pub entity_keys: String,
    /// Window start, epoch ms.
    pub window_start_ms: i64,
    /// Window end (exclusive), epoch ms.
    pub window_end_ms: i64,
    /// Observed value.
    pub observed: f64,
    /// Expected value (the baseline).
    pub expected: f64,
    /// Lower bound of the normal band.
    pub lower_bound: f64,
    /// Upper bound of the normal band.
    pub upper_bound: f64,
    /// Signed deviation.
    pub deviation: f64,
    /// Anomaly kind (`spike`, `dip`, …).
    pub kind: String,
    /// Top contributing features, JSON list of `{name, value, baseline}`.
    pub top_features: String,
    /// Title.
    pub title: String,
    /// Description.
    pub description: String,
    /// Evidence, JSON.
    pub evidence: String,
    /// SQL listing the raw events behind the finding (Athena and embedded engine).
    pub investigation_sql: String,
    /// MITRE ATT&CK technique ids.
    pub mitre_techniques: Vec<String>,
    /// MITRE tactics of those techniques.
    pub mitre_tactics: Vec<String>,
    /// Normalised view the series came from.
    pub source_view: String,
    /// URL of the finding's plot (PNG; the SVG has the same name with `.svg`), if one was drawn.
    pub plot: Option<String>,
    /// Partition: day of the window start, `YYYY-MM-DD`.
    pub dt: String,
    /// The condition the finding belongs to and where it stands in it ([`condition::assign`],
    /// filled when the run publishes).
    pub condition: condition::Condition,
}

/// The Arrow schema of the findings table (without the `dt`/`detector` partition columns).
pub fn schema() -> SchemaRef {
    let s = |n: &str| Field::new(n, DataType::Utf8, true);
    let f = |n: &str| Field::new(n, DataType::Float64, true);
    let ts = |n: &str| Field::new(n, DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())), true);
    let list = |n: &str| Field::new(n, DataType::List(Arc::new(Field::new("element", DataType::Utf8, true))), true);
    Arc::new(Schema::new(vec![
        s("finding_id"),
        s("run_id"),
        s("detector_family"),
        s("series_family"),
        s("bucket"),
        s("severity"),
        Field::new("severity_id", DataType::Int32, true),
        f("score"),
        f("confidence"),
        s("entity_type"),
        s("entity"),
        s("account_id"),
        s("entity_keys"),
        ts("window_start"),
        ts("window_end"),
        f("observed"),
        f("expected"),
        f("lower_bound"),
        f("upper_bound"),
        f("deviation"),
        s("kind"),
        s("top_features"),
        s("title"),
        s("description"),
        s("evidence"),
        s("investigation_sql"),
        list("mitre_techniques"),
        list("mitre_tactics"),
        s("source_view"),
        s("plot"),
        // Flat copies for QuickSight, which skips arrays and cannot read JSON held in strings.
        s("mitre_technique_list"),
        s("mitre_tactic_list"),
        s("top_feature"),
        f("top_feature_value"),
        s("principal"),
        s("src_ip"),
        s("instance_id"),
        s("domain"),
        // One condition, one finding (see `condition`).
        s("condition_id"),
        s("status"),
        ts("first_seen"),
        Field::new("condition_days", DataType::Int32, true),
    ]))
}

/// The flat, QuickSight-ready values of a finding: techniques and tactics as `, `-joined text, the
/// first (strongest) top feature and its value, and the principal, source address, instance and
/// domain from the entity keys (each `None` when the finding has none).
pub struct Flat {
    /// `T1530, T1078.004`.
    pub techniques: String,
    /// `Collection, Initial Access`.
    pub tactics: String,
    /// Name of the feature that contributed most.
    pub top_feature: Option<String>,
    /// Its observed value.
    pub top_feature_value: Option<f64>,
    /// Principal ARN (or user name when the series is keyed by name).
    pub principal: Option<String>,
    /// Source address.
    pub src_ip: Option<String>,
    /// Source instance id.
    pub instance_id: Option<String>,
    /// Queried domain.
    pub domain: Option<String>,
}

impl Finding {
    /// See [`Flat`].
    pub fn flat(&self) -> Flat {
        let keys: serde_json::Map<String, serde_json::Value> = serde_json::from_str(&self.entity_keys).unwrap_or_default();
        let key = |names: &[&str]| {
            names
                .iter()
                .find_map(|k| keys.get(*k).and_then(|v| v.as_str()).filter(|v| !v.is_empty()).map(str::to_string))
        };
        let top: Option<serde_json::Value> = serde_json::from_str::<Vec<serde_json::Value>>(&self.top_features)
            .ok()
            .and_then(|v| v.into_iter().next());
        Flat {
            techniques: self.mitre_techniques.join(", "),
            tactics: self.mitre_tactics.join(", "),
            top_feature: top
                .as_ref()
                .and_then(|t| t.get("name"))
                .and_then(|n| n.as_str())
                .map(str::to_string),
            top_feature_value: top
                .as_ref()
                .and_then(|t| t.get("value"))
                .and_then(|v| v.as_f64())
                .filter(|v| v.is_finite()),
            principal: key(&["principal", "user_name"]),
            src_ip: key(&["src_ip"]),
            instance_id: key(&["src_instance", "instance_id"]),
            domain: key(&["domain", "query_hostname"]),
        }
    }
}

/// The findings table as the DDL, Glue and the sink know it: partitions `dt`, `detector` (the
/// detectors of the run, projected as an enum).
pub fn table_spec(table: &str, detectors: &[String]) -> TableSpec {
    TableSpec {
        table: table.into(),
        description: "lakesight findings (one row per finding; see findings_table.sql)".into(),
        folder: "findings".into(),
        schema: schema(),
        enums: vec![("detector".into(), detectors.to_vec())],
        ddl_comment: String::new(),
    }
}

/// Findings → one record batch in [`schema`] order.
pub fn to_batch(findings: &[Finding]) -> Result<RecordBatch, arrow::error::ArrowError> {
    macro_rules! col_s {
        ($f:expr) => {{
            let mut b = StringBuilder::new();
            for x in findings {
                b.append_value($f(x));
            }
            Arc::new(b.finish()) as ArrayRef
        }};
    }
    macro_rules! col_f {
        ($f:expr) => {{
            let mut b = Float64Builder::new();
            for x in findings {
                let v: f64 = $f(x);
                if v.is_finite() {
                    b.append_value(v)
                } else {
                    b.append_null()
                }
            }
            Arc::new(b.finish()) as ArrayRef
        }};
    }
    let ts = |f: &dyn Fn(&Finding) -> i64| {
        let mut b = TimestampMillisecondBuilder::new().with_timezone("UTC");
        for x in findings {
            b.append_value(f(x));
        }
        Arc::new(b.finish()) as ArrayRef
    };
    let list = |f: &dyn Fn(&Finding) -> &Vec<String>| {
        let mut b = ListBuilder::new(StringBuilder::new()).with_field(Arc::new(Field::new("element", DataType::Utf8, true)));
        for x in findings {
            for v in f(x) {
                b.values().append_value(v);
            }
            b.append(true);
        }
        Arc::new(b.finish()) as ArrayRef
    };
    let mut sev = Int32Builder::new();
    for x in findings {
        sev.append_value(x.severity_id);
    }
    let acct = {
        let mut b = StringBuilder::new();
        for x in findings {
            b.append_option(x.account_id.as_deref());
        }
        Arc::new(b.finish()) as ArrayRef
    };
    let cols: Vec<ArrayRef> = vec![
        col_s!(|x: &Finding| x.finding_id.clone()),
        col_s!(|x: &Finding| x.run_id.clone()),
        col_s!(|x: &Finding| x.detector_family.clone()),
        col_s!(|x: &Finding| x.series_family.clone()),
        col_s!(|x: &Finding| x.bucket.clone()),
        col_s!(|x: &Finding| x.severity.clone()),
        Arc::new(sev.finish()),
        col_f!(|x: &Finding| x.score),
        col_f!(|x: &Finding| x.confidence),
        col_s!(|x: &Finding| x.entity_type.clone()),
        col_s!(|x: &Finding| x.entity.clone()),
        acct,
        col_s!(|x: &Finding| x.entity_keys.clone()),
        ts(&|x| x.window_start_ms),
        ts(&|x| x.window_end_ms),
        col_f!(|x: &Finding| x.observed),
        col_f!(|x: &Finding| x.expected),
        col_f!(|x: &Finding| x.lower_bound),
        col_f!(|x: &Finding| x.upper_bound),
        col_f!(|x: &Finding| x.deviation),
        col_s!(|x: &Finding| x.kind.clone()),
        col_s!(|x: &Finding| x.top_features.clone()),
        col_s!(|x: &Finding| x.title.clone()),
        col_s!(|x: &Finding| x.description.clone()),
        col_s!(|x: &Finding| x.evidence.clone()),
        col_s!(|x: &Finding| x.investigation_sql.clone()),
        list(&|x| &x.mitre_techniques),
        list(&|x| &x.mitre_tactics),
        col_s!(|x: &Finding| x.source_view.clone()),
        {
            let mut b = StringBuilder::new();
            for x in findings {
                b.append_option(x.plot.as_deref());
            }
            Arc::new(b.finish()) as ArrayRef
        },
    ];
    let flats: Vec<Flat> = findings.iter().map(Finding::flat).collect();
    let opt_s = |f: &dyn Fn(&Flat) -> Option<&str>| {
        let mut b = StringBuilder::new();
        for x in &flats {
            b.append_option(f(x));
        }
        Arc::new(b.finish()) as ArrayRef
    };
    let mut cols = cols;
    cols.push(opt_s(&|x| Some(x.techniques.as_str())));
    cols.push(opt_s(&|x| Some(x.tactics.as_str())));
    cols.push(opt_s(&|x| x.top_feature.as_deref()));
    cols.push({
        let mut b = Float64Builder::new();
        for x in &flats {
            b.append_option(x.top_feature_value);
        }
        Arc::new(b.finish()) as ArrayRef
    });
    cols.push(opt_s(&|x| x.principal.as_deref()));
    cols.push(opt_s(&|x| x.src_ip.as_deref()));
    cols.push(opt_s(&|x| x.instance_id.as_deref()));
    cols.push(opt_s(&|x| x.domain.as_deref()));
    let known = |f: &Finding| !f.condition.id.is_empty();
    cols.push(col_opt_s(findings, &|f| known(f).then_some(f.condition.id.as_str())));
    cols.push(col_opt_s(findings, &|f| known(f).then_some(f.condition.status.as_str())));
    cols.push({
        let mut b = TimestampMillisecondBuilder::new().with_timezone("UTC");
        for x in findings {
            b.append_option(known(x).then_some(x.condition.first_seen_ms));
        }
        Arc::new(b.finish()) as ArrayRef
    });
    cols.push({
        let mut b = Int32Builder::new();
        for x in findings {
            b.append_option(known(x).then_some(x.condition.days));
        }
        Arc::new(b.finish()) as ArrayRef
    });
    RecordBatch::try_new(schema(), cols)
}

fn col_opt_s(findings: &[Finding], f: &dyn Fn(&Finding) -> Option<&str>) -> ArrayRef {
    let mut b = StringBuilder::new();
    for x in findings {
        b.append_option(f(x));
    }
    Arc::new(b.finish())
}

/// Deterministic id of a finding.
pub fn finding_id(detector: &str, set: &SeriesSet, s: &Series, start_ms: i64, end_ms: i64) -> String {
    let mut h = Sha256::new();
    for part in [detector, &set.template.family, set.bucket.unit()] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    for k in &s.key {
        h.update(k.as_deref().unwrap_or("\u{0}NULL").as_bytes());
        h.update([0]);
    }
    h.update(start_ms.to_le_bytes());
    h.update(end_ms.to_le_bytes());
    hex::encode(&h.finalize()[..16])
}

/// For a change point: the window after the change (the new regime, at most [`REGIME_WINDOW`]
/// buckets) and a window of the same length just before it, within the old regime.
fn regime_windows(a: &Anomaly, n: usize) -> Option<(std::ops::Range<usize>, std::ops::Range<usize>)> {
    let (old, new) = a.evidence.regimes()?;
    let (old_from, old_to, new_from, new_to) = (old.start, old.end, new.start, new.end);
    if old_to != new_from || new_to <= new_from || new_to > n || old_to <= old_from {
        return None;
    }
    let w = (new_to - new_from).min(REGIME_WINDOW).min(old_to - old_from);
    Some((new_from - w..new_from, new_from..new_from + w))
}

/// Longest window compared on each side of a change point, in buckets.
pub const REGIME_WINDOW: usize = 14;

/// Build a finding from an anomaly of series `s` in `set`.
pub fn from_anomaly(run_id: &str, detector: &str, set: &SeriesSet, s: &Series, a: &Anomaly) -> Finding {
    let family = a.evidence.family();
    let t = &set.template;
    let start_ms = set.bucket_ms(a.start);
    let end_ms = set.bucket_ms(a.end);
    let keys = crate::series::keys_object(t, s);
    let entity_idx = t.keys.iter().position(|(k, _)| *k == t.entity).unwrap_or(0);
    let entity = s.key.get(entity_idx).cloned().flatten().unwrap_or_else(|| "(null)".into());
    let account_id = t.keys.iter().position(|(k, _)| k == "accountid").and_then(|i| s.key[i].clone());
    let severity = a.evidence.severity(a);
    let techniques = t.mitre.clone();
    let tactics = mitre::tactics(&techniques);
    let when = chrono::DateTime::from_timestamp_millis(start_ms)
        .map(|d| d.format("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_default();
    let title = a.evidence.title(
        a,
        &Subject {
            measure: &t.measure,
            entity_type: &t.entity,
            entity: &entity,
            bucket: set.bucket.unit(),
        },
    );
    let description = format!(
        "{} {} in the {} starting {when}: observed {}, expected about {} (normal band {}..{} per {}). Series: {} ({}).",
        t.entity,
        entity,
        set.bucket.unit(),
        fmt_num(a.observed),
        fmt_num(a.expected),
        fmt_num(a.lower),
        fmt_num(a.upper),
        set.bucket.unit(),
        t.family,
        t.description
    );
    let top_features = serde_json::json!([{ "name": t.measure, "value": a.observed, "baseline": a.expected }]).to_string();
    let mut evidence = serde_json::json!({
        "keys": keys,
        "window": [start_ms, end_ms],
        "values_in_window": s.values[a.start..a.end.min(s.values.len())],
        "detector": a.details(),
    });
    let mut investigation_sql = investigate::sql(t, s, start_ms, end_ms);
    if let Some((before, after)) = regime_windows(a, s.values.len()) {
        // A change point is investigated by comparing equal windows on both sides of it.
        evidence["before"] = serde_json::json!([set.bucket_ms(before.start), set.bucket_ms(before.end)]);
        evidence["after"] = serde_json::json!([set.bucket_ms(after.start), set.bucket_ms(after.end)]);
        evidence["values_before"] = serde_json::json!(s.values[before.clone()]);
        evidence["values_after"] = serde_json::json!(s.values[after.clone()]);
        investigation_sql = investigate::regimes_sql(
            t,
            s,
            set.bucket_ms(before.start),
            set.bucket_ms(after.start),
            set.bucket_ms(after.end),
        );
    }
    let evidence = evidence.to_string();
    Finding {
        finding_id: finding_id(detector, set, s, start_ms, end_ms),
        run_id: run_id.into(),
        detector: detector.into(),
        detector_family: family.into(),
        series_family: t.family.clone(),
        bucket: set.bucket.unit().into(),
        severity: severity.label().into(),
        severity_id: severity.id(),
        score: a.score,
        confidence: a.confidence,
        entity_type: t.entity.clone(),
        entity,
        account_id,
        entity_keys: serde_json::Value::Object(keys).to_string(),
        window_start_ms: start_ms,
        window_end_ms: end_ms,
        observed: a.observed,
        expected: a.expected,
        lower_bound: a.lower,
        upper_bound: a.upper,
        deviation: a.deviation,
        kind: a.kind.into(),
        top_features,
        title,
        description,
        evidence,
        investigation_sql,
        mitre_techniques: techniques,
        mitre_tactics: tactics,
        source_view: format!("lakesight.{}", t.view),
        plot: None,
        condition: crate::findings::condition::Condition::default(),
        dt: crate::series::dt(start_ms),
    }
}
