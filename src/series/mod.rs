//! Time series from the lake: SQL templates in `queries/series/` → a typed [`SeriesSet`].
//!
//! A template is one file per family. Its header (`-- key: value` lines) says which normalised view
//! it reads, its key columns (with the SQL expression each key stands for, so an investigation query
//! can filter on it), an optional row filter, the entity type and MITRE techniques. Its body is
//! ordinary SQL with placeholders that [`render`] fills with quoted literals only:
//! `{{bucket}}` (`'day'`/`'hour'`), `{{start}}`/`{{end}}` (timestamp literals) and
//! `{{eventday_from}}`/`{{eventday_to}}` (partition literals, so only the needed days are opened).
//! The body must return the key columns, `bucket_start` (timestamp) and `value` (double).
//!
//! Gap rule: a series exists for every key seen at least once in the window; buckets without a row
//! are **0** (the templates count or sum events, so no event means zero), on a grid from the
//! window's first to its last bucket. This is the "fill missing days with 0" rule of the AWS sample
//! notebooks, applied over the whole window rather than each series' own span, so a principal that
//! was silent for a week and then bursts is seen as a burst.
//!
//! Cost: without a store each run scans its whole baseline window again. Because every bucket is at
//! most a day and each row of a series result belongs to exactly one `eventday`, the result of a day
//! never changes once the day is complete: [`rollup`] keeps one Parquet file per family, bucket and
//! day beside the findings, and a nightly run then scans only the newest days.

pub mod csv;
pub mod rollup;

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{Array, AsArray};
use arrow::datatypes::{DataType, Float64Type, TimeUnit, TimestampNanosecondType};
use serde::{Deserialize, Serialize};

use crate::lake::LakeError;
use crate::lake::SqlRunner;
use crate::sql::{quote_literal, timestamp_literal};

/// Bucket width.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Bucket {
    /// One hour.
    Hour,
    /// One day (UTC).
    Day,
}

impl Bucket {
    /// Width in milliseconds.
    pub fn ms(self) -> i64 {
        match self {
            Bucket::Hour => 3_600_000,
            Bucket::Day => 86_400_000,
        }
    }
    /// The `date_trunc` unit.
    pub fn unit(self) -> &'static str {
        match self {
            Bucket::Hour => "hour",
            Bucket::Day => "day",
        }
    }
    /// Seasonal period in buckets: a week, in either width. Security activity follows the working
    /// week (weekends are quiet), so for hourly series a 24-hour period leaves the weekday/weekend
    /// step in the trend, and every Monday morning looks like a spike; a 168-hour period models both
    /// rhythms at once. Detectors fall back to [`Bucket::short_period`] when the series is shorter
    /// than two weeks.
    pub fn period(self) -> usize {
        match self {
            Bucket::Hour => 168,
            Bucket::Day => 7,
        }
    }

    /// The shorter period used when a series holds fewer than two full [`Bucket::period`]s.
    pub fn short_period(self) -> usize {
        match self {
            Bucket::Hour => 24,
            Bucket::Day => 7,
        }
    }
}

/// What a series' values are, which decides the law its outliers are judged by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Values {
    /// Not declared: non-negative whole numbers are taken as counts, anything else as a measure
    /// judged only by its residual's robust spread.
    #[default]
    Infer,
    /// Counts of events (calls, flows, queries): a negative binomial over the entity's baseline.
    Counts,
    /// Amounts that add up sizes (bytes, seconds): whole numbers too, but one large item moves
    /// them by a factor, so they are judged on a log scale with a hurdle for idle buckets
    /// (the detectors' amount law), never by a count law.
    Amounts,
}

impl std::str::FromStr for Values {
    type Err = String;

    /// `counts` or `amounts` (a template's `-- values:`, the CLI's `--values`).
    fn from_str(s: &str) -> Result<Values, String> {
        match s {
            "counts" => Ok(Values::Counts),
            "amounts" => Ok(Values::Amounts),
            other => Err(format!("{other:?} is neither \"counts\" nor \"amounts\"")),
        }
    }
}

/// A parsed series template.
#[derive(Debug, Clone)]
pub struct SeriesTemplate {
    /// Family name (file stem).
    pub family: String,
    /// One line for people.
    pub description: String,
    /// Normalised view read (`api_activity`, …).
    pub view: String,
    /// Key columns with the view expression each stands for.
    pub keys: Vec<(String, String)>,
    /// Extra row filter of the family (applied in investigation SQL too).
    pub filter: Option<String>,
    /// Which key names the entity a finding is about.
    pub entity: String,
    /// What the value measures (`events`, `bytes`, …).
    pub measure: String,
    /// MITRE ATT&CK technique ids this family's anomalies suggest.
    pub mitre: Vec<String>,
    /// `-- baseline: required`: the value is the entity's whole activity, so a series that is all
    /// zeros in the first half of its history before the evaluated buckets is a new entity (a
    /// joiner, a new host) without a settled normal, not an outlier; such a cut is skipped
    /// (`new_entity`). Families that count a kind of event (errors, failed
    /// logins) leave it unset: their first event is still judged against an expectation of zero.
    pub baseline_required: bool,
    /// `-- values: counts | amounts`: which law judges the values (see [`Values`]).
    pub values: Values,
    /// The SQL body with placeholders.
    pub body: String,
}

/// Errors of the series stage.
#[derive(Debug, thiserror::Error)]
pub enum SeriesError {
    /// A template is malformed.
    #[error("series template {family}: {reason}")]
    Template {
        /// Family.
        family: String,
        /// What is wrong.
        reason: String,
    },
    /// The query failed.
    #[error("series {family}: {source}")]
    Query {
        /// Family.
        family: String,
        /// Cause.
        source: LakeError,
    },
    /// The result has the wrong shape.
    #[error("series {family}: result {reason}")]
    Shape {
        /// Family.
        family: String,
        /// What is wrong.
        reason: String,
    },
}

impl SeriesTemplate {
    /// Parse a template file's text.
    pub fn parse(family: &str, text: &str) -> Result<SeriesTemplate, SeriesError> {
        let err = |reason: String| SeriesError::Template {
            family: family.into(),
            reason,
        };
        let mut t = SeriesTemplate {
            family: family.into(),
            description: String::new(),
            view: String::new(),
            keys: Vec::new(),
            filter: None,
            entity: String::new(),
            measure: "events".into(),
            mitre: Vec::new(),
            baseline_required: false,
            values: Values::Infer,
            body: String::new(),
        };
        let mut body = Vec::new();
        for line in text.lines() {
            match line.strip_prefix("-- ").and_then(|l| l.split_once(':')) {
                Some((k, v))
                    if body.is_empty()
                        && [
                            "description",
                            "view",
                            "key",
                            "filter",
                            "entity",
                            "measure",
                            "mitre",
                            "baseline",
                            "values",
                        ]
                        .contains(&k.trim()) =>
                {
                    let v = v.trim();
                    match k.trim() {
                        "description" => t.description = v.into(),
                        "view" => t.view = v.into(),
                        "key" => {
                            let (name, expr) = v.split_once('=').map(|(a, b)| (a.trim(), b.trim())).unwrap_or((v, v));
                            t.keys.push((name.into(), expr.into()));
                        }
                        "filter" => t.filter = Some(v.into()),
                        "entity" => t.entity = v.into(),
                        "measure" => t.measure = v.into(),
                        "mitre" => t.mitre = v.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect(),
                        "baseline" => match v {
                            "required" => t.baseline_required = true,
                            "optional" => t.baseline_required = false,
                            other => return Err(err(format!("baseline: {other:?} is neither \"required\" nor \"optional\""))),
                        },
                        "values" => t.values = v.parse().map_err(|e| err(format!("values: {e}")))?,
                        _ => {}
                    }
                }
                _ => body.push(line),
            }
        }
        t.body = body.join("\n");
        if !crate::sql::valid_ident(&t.view) {
            return Err(err(format!("view {:?} is not an identifier", t.view)));
        }
        if t.keys.is_empty() {
            return Err(err("no `-- key:` lines".into()));
        }
        for (k, _) in &t.keys {
            if !crate::sql::valid_ident(k) {
                return Err(err(format!("key {k:?} is not an identifier")));
            }
        }
        if !t.keys.iter().any(|(k, _)| *k == t.entity) {
            return Err(err(format!("entity {:?} is not one of the keys", t.entity)));
        }
        for p in ["{{start}}", "{{end}}", "{{eventday_from}}", "{{eventday_to}}", "{{bucket}}"] {
            if !t.body.contains(p) {
                return Err(err(format!("body lacks the {p} placeholder")));
            }
        }
        Ok(t)
    }
}

/// Fill a template's placeholders; every value becomes a quoted literal.
pub fn render(t: &SeriesTemplate, bucket: Bucket, start_ms: i64, end_ms: i64) -> String {
    let day = |ms: i64| {
        chrono::DateTime::from_timestamp_millis(ms)
            .map(|d| d.format("%Y%m%d").to_string())
            .unwrap_or_default()
    };
    t.body
        .replace("{{bucket}}", &quote_literal(bucket.unit()))
        .replace("{{start}}", &timestamp_literal(start_ms))
        .replace("{{end}}", &timestamp_literal(end_ms))
        .replace("{{eventday_from}}", &quote_literal(&day(start_ms)))
        .replace("{{eventday_to}}", &quote_literal(&day(end_ms - 1)))
}

macro_rules! builtin {
    ($($name:literal),*) => { &[$(($name, include_str!(concat!("../../queries/series/", $name, ".sql")))),*] };
}

/// The built-in templates, compiled in from `queries/series/`.
const BUILTIN: &[(&str, &str)] = builtin!(
    "api_calls",
    "api_errors",
    "findings_by_type",
    "vpc_bytes_out",
    "vpc_flows",
    "dns_queries",
    "auth_failures",
    "object_reads"
);

/// All known templates.
#[derive(Debug, Clone)]
pub struct SeriesCatalog {
    templates: Vec<Arc<SeriesTemplate>>,
}

impl SeriesCatalog {
    /// The built-in templates.
    pub fn builtin() -> Result<SeriesCatalog, SeriesError> {
        let templates = BUILTIN
            .iter()
            .map(|(n, t)| SeriesTemplate::parse(n, t).map(Arc::new))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(SeriesCatalog { templates })
    }
    /// Template by family.
    pub fn get(&self, family: &str) -> Option<Arc<SeriesTemplate>> {
        self.templates.iter().find(|t| t.family == family).cloned()
    }
    /// Family names.
    pub fn names(&self) -> Vec<&str> {
        self.templates.iter().map(|t| t.family.as_str()).collect()
    }
}

/// The `dt` partition value (`YYYY-MM-DD`, UTC) of an epoch-ms instant.
pub fn dt(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|d| d.format("%Y-%m-%d").to_string())
        .unwrap_or_default()
}

/// A series' keys as a JSON object (`{"accountid": "…", "principal": "…"}`, null for SQL NULL), as
/// the findings' `entity_keys` and the tables that refer to series carry them.
pub fn keys_object(t: &SeriesTemplate, s: &Series) -> serde_json::Map<String, serde_json::Value> {
    t.keys
        .iter()
        .zip(&s.key)
        .map(|((k, _), v)| {
            (
                k.clone(),
                v.clone().map(serde_json::Value::String).unwrap_or(serde_json::Value::Null),
            )
        })
        .collect()
}

/// [`keys_object`] as JSON text.
pub fn keys_json(t: &SeriesTemplate, s: &Series) -> String {
    serde_json::Value::Object(keys_object(t, s)).to_string()
}

/// One series: a key and values on a regular grid.
#[derive(Debug, Clone)]
pub struct Series {
    /// Key values in template order (`None` = SQL NULL).
    pub key: Vec<Option<String>>,
    /// First bucket, epoch ms.
    pub start_ms: i64,
    /// One value per bucket.
    pub values: Vec<f64>,
}

/// All series of one family at one bucket width.
#[derive(Debug, Clone)]
pub struct SeriesSet {
    /// The template.
    pub template: Arc<SeriesTemplate>,
    /// Bucket width.
    pub bucket: Bucket,
    /// Grid start (inclusive), epoch ms.
    pub start_ms: i64,
    /// Number of buckets.
    pub len: usize,
    /// The series.
    pub series: Vec<Series>,
    /// Rows the query returned.
    pub rows: usize,
    /// The SQL that built it.
    pub sql: String,
}

impl SeriesSet {
    /// Epoch ms of bucket `i`.
    pub fn bucket_ms(&self, i: usize) -> i64 {
        self.start_ms + i as i64 * self.bucket.ms()
    }
}

/// Run a template over `[start_ms, end_ms)` as query `label` (logs, Athena statistics, and the
/// family named in its errors) and return its rows as they come: for stages that read a table of
/// their own from a template rather than a series set.
pub async fn run_template(
    runner: &dyn SqlRunner,
    t: &SeriesTemplate,
    label: &str,
    bucket: Bucket,
    start_ms: i64,
    end_ms: i64,
) -> Result<Vec<arrow::record_batch::RecordBatch>, SeriesError> {
    let sql = render(t, bucket, start_ms, end_ms);
    runner.run_sql(label, &sql).await.map_err(|e| SeriesError::Query {
        family: label.to_string(),
        source: e,
    })
}

/// Run a template over `[start_ms, end_ms)` and build the series set.
pub async fn build(
    engine: &dyn SqlRunner,
    t: Arc<SeriesTemplate>,
    bucket: Bucket,
    start_ms: i64,
    end_ms: i64,
) -> Result<SeriesSet, SeriesError> {
    let sql = render(&t, bucket, start_ms, end_ms);
    let label = format!("{}_{}", t.family, bucket.unit());
    let batches = engine.run_sql(&label, &sql).await.map_err(|e| SeriesError::Query {
        family: t.family.clone(),
        source: e,
    })?;
    assemble(t, bucket, start_ms, end_ms, &batches, sql)
}

/// The series of a template's result rows (any number of batches, in any order) on the grid
/// `[start_ms, end_ms)`; rows outside it are ignored. `sql` is recorded as what built them.
pub fn assemble(
    t: Arc<SeriesTemplate>,
    bucket: Bucket,
    start_ms: i64,
    end_ms: i64,
    batches: &[arrow::record_batch::RecordBatch],
    sql: String,
) -> Result<SeriesSet, SeriesError> {
    let fam = t.family.clone();
    let shape = |reason: String| SeriesError::Shape {
        family: fam.clone(),
        reason,
    };
    let w = bucket.ms();
    let len = ((end_ms - start_ms) / w).max(0) as usize;
    let mut index: HashMap<Vec<Option<String>>, usize> = HashMap::new();
    let mut series: Vec<Series> = Vec::new();
    let mut rows = 0usize;
    for b in batches {
        rows += b.num_rows();
        let schema = b.schema();
        let mut key_cols = Vec::new();
        for (k, _) in &t.keys {
            let i = schema.index_of(k).map_err(|_| shape(format!("lacks key column {k}")))?;
            key_cols.push(arrow::compute::cast(b.column(i), &DataType::Utf8).map_err(|e| shape(e.to_string()))?);
        }
        let bi = schema.index_of("bucket_start").map_err(|_| shape("lacks bucket_start".into()))?;
        let vi = schema.index_of("value").map_err(|_| shape("lacks value".into()))?;
        let bcol =
            arrow::compute::cast(b.column(bi), &DataType::Timestamp(TimeUnit::Nanosecond, None)).map_err(|e| shape(e.to_string()))?;
        let bcol = bcol.as_primitive::<TimestampNanosecondType>();
        let vcol = arrow::compute::cast(b.column(vi), &DataType::Float64).map_err(|e| shape(e.to_string()))?;
        let vcol = vcol.as_primitive::<Float64Type>();
        for r in 0..b.num_rows() {
            if bcol.is_null(r) {
                continue;
            }
            let ms = bcol.value(r).div_euclid(1_000_000);
            if ms < start_ms || ms >= end_ms {
                continue;
            }
            let idx = ((ms - start_ms) / w) as usize;
            let key: Vec<Option<String>> = key_cols
                .iter()
                .map(|c| {
                    let s = c.as_string::<i32>();
                    s.is_valid(r).then(|| s.value(r).to_string())
                })
                .collect();
            let si = *index.entry(key.clone()).or_insert_with(|| {
                series.push(Series {
                    key,
                    start_ms,
                    values: vec![0.0; len],
                });
                series.len() - 1
            });
            let v = if vcol.is_valid(r) { vcol.value(r) } else { f64::NAN };
            if idx < len {
                series[si].values[idx] += v;
            }
        }
    }
    series.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(SeriesSet {
        template: t,
        bucket,
        start_ms,
        len,
        series,
        rows,
        sql,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_templates_parse_and_render_only_literals() {
        let c = SeriesCatalog::builtin().unwrap();
        assert!(c.names().len() >= 7);
        for n in c.names() {
            let t = c.get(n).unwrap();
            let sql = render(&t, Bucket::Day, 1_740_787_200_000, 1_740_873_600_000);
            assert!(!sql.contains("{{"), "{n}: {sql}");
            assert!(sql.contains("TIMESTAMP '2025-03-01 00:00:00'"), "{n}: {sql}");
            assert!(sql.contains("'20250301'"), "{n}: {sql}");
        }
    }

    #[test]
    fn a_template_without_placeholders_is_rejected() {
        let e = SeriesTemplate::parse("x", "-- view: api_activity\n-- key: principal\n-- entity: principal\nSELECT 1").unwrap_err();
        assert!(e.to_string().contains("placeholder"), "{e}");
    }
}
