//! Findings as OCSF 1.1.0 Detection Findings (class 2004), the rows lakesight delivers to Security
//! Lake as a custom source (see `sink::ocsf` for the layout and `../shared/reference/security-lake.md`
//! §3.1 for the class rules).
//!
//! Every required attribute is set: `activity_id` 1 (Create) for a new condition's finding and 2
//! (Update) for a later finding of an ongoing one (see [`super::condition`]; `first_seen_time` is
//! then the condition's first finding's), `category_uid` 2, `class_uid` 2004,
//! `type_uid` 200401 or 200402 (long), `severity_id`, `time` (epoch ms: the window's start, so the row falls in
//! its `eventDay`), `metadata` (version 1.1.0, product lakesight with its version, profiles `cloud`
//! and `datetime`), `finding_info.uid` (the finding id, stable across reruns) and `.title`, and
//! `cloud.provider`. Recommended and optional attributes carry the rest:
//! - `finding_info.analytic`: the detector's name and its kind — Statistical (outliers, change
//!   points, trends), Learning (UEBA's isolation forest, IP Insights' embeddings) or Rule (the
//!   network and DNS hunts: thresholds over statistics);
//! - `finding_info.attacks[]` and `attacks[]`: one entry per (technique, tactic) of the ATT&CK
//!   mapping, with ATT&CK's ids (`TA0007`) and names;
//! - `evidences[]`: the entity keys as the objects OCSF defines for them (`actor.user`,
//!   `src_endpoint`, `dst_endpoint`, `query`) and the finding's evidence JSON as `data`;
//! - `observables[]`: each key as (name, type): principal ARNs and instance ids as Resource UID (10),
//!   addresses as IP Address (2), user names as User Name (4), domains as Hostname (1), any other
//!   entity (a finding type) as Other (99) named after its entity type;
//! - `resources[]`: the entity (uid, type, region, owner account);
//! - `confidence_score` (0–100) and `confidence_id` (Low < 0.6 ≤ Medium < 0.9 ≤ High);
//! - `unmapped`: lakesight's own fields (score, observed, expected, bounds, kind, series, run,
//!   investigation SQL, top features, plot) under `lakesight.*` keys.

use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::{DataType, Field, Fields, Schema, SchemaRef, TimeUnit};
use serde_json::{json, Map, Value};

use super::{mitre, Finding};

/// OCSF schema version written.
pub const OCSF_VERSION: &str = "1.1.0";

fn s(n: &str) -> Field {
    Field::new(n, DataType::Utf8, true)
}
fn i32f(n: &str) -> Field {
    Field::new(n, DataType::Int32, true)
}
fn i64f(n: &str) -> Field {
    Field::new(n, DataType::Int64, true)
}
fn dt(n: &str) -> Field {
    Field::new(n, DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())), true)
}
fn st(n: &str, fields: Vec<Field>) -> Field {
    Field::new(n, DataType::Struct(Fields::from(fields)), true)
}
fn list(n: &str, item: DataType) -> Field {
    Field::new(n, DataType::List(Arc::new(Field::new("element", item, true))), true)
}
fn item(fields: Vec<Field>) -> DataType {
    DataType::Struct(Fields::from(fields))
}

fn attack_fields() -> Vec<Field> {
    vec![
        st("tactic", vec![s("uid"), s("name")]),
        st("technique", vec![s("uid"), s("name")]),
        s("version"),
    ]
}

/// The Arrow schema of the OCSF rows (required fields are never null; all are declared nullable
/// so that lakesight's catalog and Athena read them under one schema with Security Lake's own).
pub fn schema() -> SchemaRef {
    let account = || st("account", vec![s("uid")]);
    let endpoint = |n: &str| st(n, vec![s("ip"), s("instance_uid")]);
    Arc::new(Schema::new(vec![
        i32f("activity_id"),
        s("activity_name"),
        i32f("category_uid"),
        s("category_name"),
        i32f("class_uid"),
        s("class_name"),
        i64f("type_uid"),
        s("type_name"),
        i32f("severity_id"),
        s("severity"),
        i64f("time"),
        dt("time_dt"),
        i64f("start_time"),
        dt("start_time_dt"),
        i64f("end_time"),
        dt("end_time_dt"),
        s("message"),
        i32f("status_id"),
        s("status"),
        i32f("confidence_id"),
        s("confidence"),
        i32f("confidence_score"),
        st(
            "metadata",
            vec![
                s("version"),
                s("uid"),
                s("correlation_uid"),
                st("product", vec![s("name"), s("vendor_name"), s("version"), s("uid")]),
                list("profiles", DataType::Utf8),
            ],
        ),
        st("cloud", vec![s("provider"), s("region"), account()]),
        st(
            "finding_info",
            vec![
                s("uid"),
                s("title"),
                s("desc"),
                list("types", DataType::Utf8),
                i64f("first_seen_time"),
                dt("first_seen_time_dt"),
                i64f("last_seen_time"),
                dt("last_seen_time_dt"),
                st("analytic", vec![s("name"), i32f("type_id"), s("type"), s("category")]),
                list("attacks", item(attack_fields())),
                list("data_sources", DataType::Utf8),
            ],
        ),
        list("attacks", item(attack_fields())),
        list(
            "evidences",
            item(vec![
                st("actor", vec![st("user", vec![s("uid"), s("name")])]),
                endpoint("src_endpoint"),
                endpoint("dst_endpoint"),
                st("query", vec![s("hostname")]),
                s("data"),
            ]),
        ),
        list("observables", item(vec![s("name"), i32f("type_id"), s("type"), s("value")])),
        list(
            "resources",
            item(vec![
                s("uid"),
                s("type"),
                s("region"),
                s("cloud_partition"),
                st("owner", vec![account()]),
            ]),
        ),
        Field::new(
            "unmapped",
            DataType::Map(
                Arc::new(Field::new(
                    "key_value",
                    DataType::Struct(Fields::from(vec![
                        Field::new("key", DataType::Utf8, false),
                        Field::new("value", DataType::Utf8, true),
                    ])),
                    false,
                )),
                false,
            ),
            true,
        ),
    ]))
}

/// How the detector family decided: OCSF `analytic.type_id` and its caption.
pub fn analytic_type(detector_family: &str) -> (i32, &'static str) {
    match detector_family {
        "ueba" | "ip_insights" => (4, "Learning"),
        "network" | "dns" => (1, "Rule"),
        _ => (3, "Statistical"),
    }
}

/// OCSF `confidence_id` of a 0–1 confidence.
pub fn confidence_id(c: f64) -> (i32, &'static str) {
    if c >= 0.9 {
        (3, "High")
    } else if c >= 0.6 {
        (2, "Medium")
    } else {
        (1, "Low")
    }
}

/// OCSF observable (name, type_id, caption) of an entity-key name; `None` for keys that are not
/// observables (the account, which `cloud.account` carries).
pub fn observable(key: &str) -> Option<(&'static str, i32, &'static str)> {
    Some(match key {
        "principal" => ("actor.user.uid", 10, "Resource UID"),
        "user_name" => ("actor.user.name", 4, "User Name"),
        "src_ip" => ("src_endpoint.ip", 2, "IP Address"),
        "dst_ip" => ("dst_endpoint.ip", 2, "IP Address"),
        "src_instance" => ("src_endpoint.instance_uid", 10, "Resource UID"),
        "domain" | "query_hostname" => ("query.hostname", 1, "Hostname"),
        _ => return None,
    })
}

fn attacks(f: &Finding) -> Value {
    let mut out = Vec::new();
    for t in &f.mitre_techniques {
        let tname = mitre::name(t);
        for tac in mitre::tactics(std::slice::from_ref(t)) {
            out.push(json!({
                "tactic": {"uid": mitre::tactic_id(&tac), "name": tac},
                "technique": {"uid": t, "name": tname},
                "version": mitre::ATTACK_VERSION,
            }));
        }
    }
    Value::Array(out)
}

/// One finding as an OCSF Detection Finding (JSON shaped by [`schema`]).
pub fn to_ocsf(f: &Finding, region: &str, account: &str) -> Value {
    let keys: Map<String, Value> = serde_json::from_str(&f.entity_keys).unwrap_or_default();
    let key = |k: &str| keys.get(k).and_then(Value::as_str).map(str::to_string);
    let mut observables = Vec::new();
    for (k, v) in &keys {
        if let (Some((name, type_id, caption)), Some(v)) = (observable(k), v.as_str()) {
            observables.push(json!({"name": name, "type_id": type_id, "type": caption, "value": v}));
        }
    }
    if observables.is_empty() {
        // An entity no OCSF object names (a finding type, a product): still an observable.
        observables.push(json!({"name": f.entity_type, "type_id": 99, "type": "Other", "value": f.entity}));
    }
    let evidence = json!({
        "actor": key("principal").or(key("user_name")).map(|_| json!({"user": {"uid": key("principal"), "name": key("user_name")}})),
        "src_endpoint": (key("src_ip").is_some() || key("src_instance").is_some())
            .then(|| json!({"ip": key("src_ip"), "instance_uid": key("src_instance")})),
        "dst_endpoint": key("dst_ip").map(|ip| json!({"ip": ip})),
        "query": key("domain").or(key("query_hostname")).map(|h| json!({"hostname": h})),
        "data": f.evidence,
    });
    let (type_id, type_name) = analytic_type(&f.detector_family);
    let (conf_id, conf) = confidence_id(f.confidence);
    let num = |v: f64| {
        if v.is_finite() {
            Value::String(crate::detect::fmt_num(v))
        } else {
            Value::Null
        }
    };
    let mut unmapped = Map::new();
    for (k, v) in [
        ("lakesight.score", num(f.score)),
        ("lakesight.observed", num(f.observed)),
        ("lakesight.expected", num(f.expected)),
        ("lakesight.lower_bound", num(f.lower_bound)),
        ("lakesight.upper_bound", num(f.upper_bound)),
        ("lakesight.deviation", num(f.deviation)),
        ("lakesight.kind", Value::String(f.kind.clone())),
        ("lakesight.detector", Value::String(f.detector.clone())),
        ("lakesight.series_family", Value::String(f.series_family.clone())),
        ("lakesight.bucket", Value::String(f.bucket.clone())),
        ("lakesight.run_id", Value::String(f.run_id.clone())),
        ("lakesight.entity_keys", Value::String(f.entity_keys.clone())),
        ("lakesight.top_features", Value::String(f.top_features.clone())),
        ("lakesight.investigation_sql", Value::String(f.investigation_sql.clone())),
        ("lakesight.plot", f.plot.clone().map(Value::String).unwrap_or(Value::Null)),
        (
            "lakesight.condition_id",
            (!f.condition.id.is_empty())
                .then(|| Value::String(f.condition.id.clone()))
                .unwrap_or(Value::Null),
        ),
        (
            "lakesight.status",
            (!f.condition.status.is_empty())
                .then(|| Value::String(f.condition.status.clone()))
                .unwrap_or(Value::Null),
        ),
        (
            "lakesight.condition_days",
            (!f.condition.id.is_empty())
                .then(|| Value::String(f.condition.days.to_string()))
                .unwrap_or(Value::Null),
        ),
    ] {
        if !v.is_null() {
            unmapped.insert(k.into(), v);
        }
    }
    let attacks = attacks(f);
    // A later finding of a condition already reported updates it (OCSF activity Update); its
    // first_seen_time is the condition's first finding's.
    let ongoing = f.condition.status == super::condition::ONGOING;
    let (activity_id, activity) = if ongoing { (2, "Update") } else { (1, "Create") };
    let first_seen = if f.condition.id.is_empty() {
        f.window_start_ms
    } else {
        f.condition.first_seen_ms
    };
    json!({
        "activity_id": activity_id,
        "activity_name": activity,
        "category_uid": 2,
        "category_name": "Findings",
        "class_uid": 2004,
        "class_name": "Detection Finding",
        "type_uid": 200400i64 + activity_id,
        "type_name": format!("Detection Finding: {activity}"),
        "severity_id": f.severity_id,
        "severity": f.severity,
        "time": f.window_start_ms,
        "time_dt": f.window_start_ms,
        "start_time": f.window_start_ms,
        "start_time_dt": f.window_start_ms,
        "end_time": f.window_end_ms,
        "end_time_dt": f.window_end_ms,
        "message": f.title,
        "status_id": 1,
        "status": "New",
        "confidence_id": conf_id,
        "confidence": conf,
        "confidence_score": (f.confidence.clamp(0.0, 1.0) * 100.0).round() as i32,
        "metadata": {
            "version": OCSF_VERSION,
            "uid": f.finding_id,
            "correlation_uid": f.run_id,
            "product": {"name": "lakesight", "vendor_name": "lakesight", "version": env!("CARGO_PKG_VERSION"), "uid": "lakesight"},
            "profiles": ["cloud", "datetime"],
        },
        "cloud": {"provider": "AWS", "region": region, "account": {"uid": account}},
        "finding_info": {
            "uid": f.finding_id,
            "title": f.title,
            "desc": f.description,
            "types": [f.detector_family, f.kind],
            "first_seen_time": first_seen,
            "first_seen_time_dt": first_seen,
            "last_seen_time": f.window_end_ms,
            "last_seen_time_dt": f.window_end_ms,
            "analytic": {"name": f.detector, "type_id": type_id, "type": type_name, "category": f.detector_family},
            "attacks": attacks,
            "data_sources": [f.source_view],
        },
        "attacks": attacks,
        "evidences": [evidence],
        "observables": observables,
        "resources": [{
            "uid": f.entity,
            "type": f.entity_type,
            "region": region,
            "cloud_partition": "aws",
            "owner": {"account": {"uid": account}},
        }],
        "unmapped": unmapped,
    })
}

/// Findings as one OCSF batch, sorted by time as Security Lake asks of a custom source.
pub fn to_batch(findings: &[&Finding], region: &str, account: &str) -> Result<RecordBatch, arrow::error::ArrowError> {
    let mut sorted: Vec<&&Finding> = findings.iter().collect();
    sorted.sort_by(|a, b| a.window_start_ms.cmp(&b.window_start_ms).then(a.finding_id.cmp(&b.finding_id)));
    let rows: Vec<Value> = sorted.iter().map(|f| to_ocsf(f, region, account)).collect();
    let schema = schema();
    let mut decoder = arrow::json::ReaderBuilder::new(schema.clone()).build_decoder()?;
    decoder.serialize(&rows)?;
    Ok(decoder.flush()?.unwrap_or_else(|| RecordBatch::new_empty(schema)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn analytic_and_confidence_captions_follow_ocsf() {
        assert_eq!(analytic_type("outlier"), (3, "Statistical"));
        assert_eq!(analytic_type("ueba"), (4, "Learning"));
        assert_eq!(analytic_type("network"), (1, "Rule"));
        assert_eq!(confidence_id(0.95), (3, "High"));
        assert_eq!(confidence_id(0.6), (2, "Medium"));
        assert_eq!(confidence_id(0.2), (1, "Low"));
        // Every technique lakesight emits has tactics with ATT&CK ids.
        for (t, _, tactics) in mitre::TECHNIQUES {
            for tac in *tactics {
                assert!(mitre::tactic_id(tac).starts_with("TA00"), "{t}: {tac}");
            }
        }
    }
}
