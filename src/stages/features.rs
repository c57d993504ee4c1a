//! The features stage: per-principal daily behaviour (UEBA input), one row per account, principal
//! and day, written as the features table (`features/dt=…/`).
//!
//! Why a table of its own: the isolation-forest detector over per-principal behaviour scores these
//! vectors, and analysts query them directly ("what did this role do on the night of the alert,
//! next to its usual day?"). The SQL is one template, `queries/features/principal_day.sql`, in the
//! same format and dialect as the series templates, so it runs unchanged on the embedded engine or
//! on Athena (through [`SqlRunner`]). Its columns are fixed here ([`FEATURES`]): the table's schema
//! is part of what readers depend on, so a template whose result lacks one is an error, not a
//! silently narrower table.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Int64Type, Schema, SchemaRef, TimeUnit, TimestampMillisecondType};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::{PlannedQuery, Stage, StageContext, StageError, StageOutput, Window};
use crate::lake::SqlRunner;
use crate::series::{dt, run_template, Bucket, SeriesError, SeriesTemplate};
use crate::table::{DayRows, TableOutput, TableSpec};

/// The template, compiled in.
const TEMPLATE: &str = include_str!("../../queries/features/principal_day.sql");

/// Family name of the template (also the query label's stem).
pub const FAMILY: &str = "principal_day";

/// Feature columns and what each counts (per principal and UTC day).
pub const FEATURES: &[(&str, &str)] = &[
    ("events", "CloudTrail events"),
    ("operations", "distinct API operations"),
    ("services", "distinct AWS services"),
    ("src_ips", "distinct source IP addresses"),
    ("user_agents", "distinct user agents"),
    ("regions", "distinct regions"),
    ("failures", "calls that failed (AccessDenied and other errors)"),
    ("deletes", "calls of the Delete activity"),
    ("night_events", "events between 00:00 and 06:00 UTC"),
];

/// The parsed template.
pub fn template() -> Result<SeriesTemplate, SeriesError> {
    SeriesTemplate::parse(FAMILY, TEMPLATE)
}

/// Schema of the features table (without its `dt` partition column).
pub fn schema() -> SchemaRef {
    let mut fields = vec![
        Field::new("run_id", DataType::Utf8, false),
        Field::new("account_id", DataType::Utf8, true),
        Field::new("principal", DataType::Utf8, false),
    ];
    // Counts are integers (bigint in Athena): QuickSight and pandas then treat them as counts,
    // not measurements (`3.0 operations`).
    fields.extend(FEATURES.iter().map(|(n, _)| Field::new(*n, DataType::Int64, false)));
    Arc::new(Schema::new(fields))
}

/// Run the template over `[start_ms, end_ms)` (whole UTC days) and split the rows by day. Every day
/// of the window gets an entry, empty when nobody acted (so a rerun replaces what was there).
pub async fn build(runner: &dyn SqlRunner, run_id: &str, start_ms: i64, end_ms: i64) -> Result<Vec<DayRows>, SeriesError> {
    let label = format!("features_{FAMILY}");
    let batches = run_template(runner, &template()?, &label, Bucket::Day, start_ms, end_ms).await?;
    let shape = |reason: String| SeriesError::Shape {
        family: label.clone(),
        reason,
    };
    let days = ((end_ms - start_ms) / Bucket::Day.ms()).max(0) as usize;
    // Per day: (account, principal, features).
    type Row = (Option<String>, String, Vec<i64>);
    let mut per_day: Vec<Vec<Row>> = vec![Vec::new(); days];
    for b in &batches {
        let s = b.schema();
        let col = |name: &str, to: &DataType| -> Result<ArrayRef, SeriesError> {
            let i = s.index_of(name).map_err(|_| shape(format!("lacks column {name}")))?;
            arrow::compute::cast(b.column(i), to).map_err(|e| shape(format!("{name}: {e}")))
        };
        // A feature is a count: a fractional or negative value means the template is wrong, and
        // is an error rather than silently truncated.
        let count_col = |c: ArrayRef, name: &str| -> Result<ArrayRef, SeriesError> {
            let f = c.as_primitive::<arrow::datatypes::Float64Type>();
            if let Some(v) = f.iter().flatten().find(|v| !(v.fract() == 0.0 && *v >= 0.0 && *v < 9.0e15)) {
                return Err(shape(format!("{name}: {v} is not a count")));
            }
            arrow::compute::cast(&c, &DataType::Int64).map_err(|e| shape(format!("{name}: {e}")))
        };
        let account = col("accountid", &DataType::Utf8)?;
        let principal = col("principal", &DataType::Utf8)?;
        let day = col("bucket_start", &DataType::Timestamp(TimeUnit::Millisecond, None))?;
        let feats = FEATURES
            .iter()
            .map(|(n, _)| count_col(col(n, &DataType::Float64)?, n))
            .collect::<Result<Vec<_>, _>>()?;
        let (account, principal, day) = (
            account.as_string::<i32>(),
            principal.as_string::<i32>(),
            day.as_primitive::<TimestampMillisecondType>(),
        );
        for r in 0..b.num_rows() {
            if day.is_null(r) || principal.is_null(r) {
                continue;
            }
            let ms = day.value(r);
            if ms < start_ms || ms >= end_ms {
                continue;
            }
            let values = feats
                .iter()
                .map(|c| {
                    let c = c.as_primitive::<Int64Type>();
                    if c.is_valid(r) {
                        c.value(r)
                    } else {
                        0
                    }
                })
                .collect();
            let acc = account.is_valid(r).then(|| account.value(r).to_string());
            per_day[((ms - start_ms) / Bucket::Day.ms()) as usize].push((acc, principal.value(r).to_string(), values));
        }
    }
    let schema = schema();
    let mut out = Vec::with_capacity(days);
    for (i, mut rows) in per_day.into_iter().enumerate() {
        rows.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
        let dt = dt(start_ms + i as i64 * Bucket::Day.ms());
        let mut cols: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from(vec![run_id; rows.len()])),
            Arc::new(StringArray::from(rows.iter().map(|r| r.0.clone()).collect::<Vec<_>>())),
            Arc::new(StringArray::from(rows.iter().map(|r| r.1.clone()).collect::<Vec<_>>())),
        ];
        for f in 0..FEATURES.len() {
            cols.push(Arc::new(Int64Array::from(rows.iter().map(|r| r.2[f]).collect::<Vec<_>>())));
        }
        let batch = RecordBatch::try_new(schema.clone(), cols).map_err(|e| shape(e.to_string()))?;
        out.push(DayRows { dt, batch });
    }
    Ok(out)
}

/// The features table as the DDL, Glue and the sink know it.
pub fn table_spec(table: &str) -> TableSpec {
    let described: Vec<String> = FEATURES.iter().map(|(n, d)| format!("--   {n:<14} {d}\n")).collect();
    TableSpec {
        table: table.into(),
        description: "lakesight per-principal daily behaviour features (see features_table.sql)".into(),
        folder: "features".into(),
        schema: schema(),
        enums: Vec::new(),
        ddl_comment: format!(
            "-- lakesight features table for Athena: one row per account, principal and UTC day (UEBA input).\n\
             -- Rendered by `lakesight run` into <output>/features_table.sql. Partition projection on dt.\n\
             -- Features (queries/features/principal_day.sql):\n{}",
            described.concat()
        ),
    }
}

/// What the stage wrote, for the manifest (`features`).
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct FeaturesStats {
    /// Rows (principals) per analysed day.
    pub rows_per_day: std::collections::BTreeMap<String, usize>,
    /// Milliseconds to build them.
    pub build_ms: u128,
    /// Why they were not built, if they were not.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub warning: Option<String>,
}

/// The features stage (`output.features = true`).
#[derive(Debug)]
pub struct FeaturesStage {
    /// The table name (`output.features_table`).
    pub table: String,
}

#[async_trait]
impl Stage for FeaturesStage {
    fn name(&self) -> &'static str {
        "features"
    }

    fn queries(&self, w: &Window) -> Vec<PlannedQuery> {
        let view = template().map(|t| t.view).unwrap_or_default();
        vec![PlannedQuery {
            label: format!("features_{FAMILY}"),
            view,
            from: super::day(w.eval_ms),
            to: super::day(w.end_ms - 1),
            detectors: Vec::new(),
        }]
    }

    fn tables(&self) -> Vec<TableSpec> {
        vec![table_spec(&self.table)]
    }

    async fn run(&self, ctx: &StageContext<'_>) -> Result<StageOutput, StageError> {
        let mut out = StageOutput::default();
        let mut st = FeaturesStats::default();
        let view = template()?.view;
        if !ctx.has_view(&view) {
            let w = format!("features: the lake has no table for view lakesight.{view}; not written");
            tracing::warn!("{w}");
            out.warnings.push(w.clone());
            st.warning = Some(w);
        } else {
            let t = std::time::Instant::now();
            let days = build(ctx.runner, ctx.run_id, ctx.window.eval_ms, ctx.window.end_ms).await?;
            st.build_ms = t.elapsed().as_millis();
            st.rows_per_day = days.iter().map(|d| (d.dt.clone(), d.batch.num_rows())).collect();
            out.timings_ms.push(("features".into(), st.build_ms));
            if !days.is_empty() {
                out.tables.push(TableOutput {
                    spec: table_spec(&self.table),
                    days,
                });
            }
        }
        out.manifest
            .push(("features".into(), serde_json::to_value(&st).unwrap_or_default()));
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_template_parses_and_names_every_feature() {
        let t = template().unwrap();
        assert_eq!(t.view, "api_activity");
        for (f, _) in FEATURES {
            assert!(t.body.contains(&format!("AS {f}")), "{f} not in the template");
        }
        assert_eq!(schema().fields().len(), 3 + FEATURES.len());
    }

    /// Returns one principal-day with the given feature value, whatever the SQL.
    struct OneRow(f64);

    #[async_trait]
    impl SqlRunner for OneRow {
        async fn run_sql(&self, _label: &str, _sql: &str) -> crate::lake::Result<Vec<RecordBatch>> {
            let mut fields = vec![
                Field::new("accountid", DataType::Utf8, true),
                Field::new("principal", DataType::Utf8, true),
                Field::new("bucket_start", DataType::Timestamp(TimeUnit::Millisecond, None), true),
            ];
            let mut cols: Vec<ArrayRef> = vec![
                Arc::new(StringArray::from(vec!["111122223333"])),
                Arc::new(StringArray::from(vec!["role/r"])),
                Arc::new(arrow::array::TimestampMillisecondArray::from(vec![0])),
            ];
            for (n, _) in FEATURES {
                fields.push(Field::new(*n, DataType::Float64, true));
                cols.push(Arc::new(arrow::array::Float64Array::from(vec![self.0])));
            }
            Ok(vec![RecordBatch::try_new(Arc::new(Schema::new(fields)), cols)?])
        }
    }

    /// Proves counts are written as integers, and that a value no count can have (the engine
    /// returned 2.5) is an error naming the column instead of being truncated into the table.
    #[tokio::test]
    async fn counts_are_integers_and_a_fraction_is_an_error() {
        let day = Bucket::Day.ms();
        let out = build(&OneRow(7.0), "r", 0, day).await.unwrap();
        let b = &out[0].batch;
        assert_eq!(b.num_rows(), 1);
        for (n, _) in FEATURES {
            let c = b.column_by_name(n).unwrap();
            assert_eq!(c.data_type(), &DataType::Int64, "{n}");
            assert_eq!(c.as_primitive::<Int64Type>().value(0), 7, "{n}");
        }
        let e = build(&OneRow(2.5), "r", 0, day).await.unwrap_err().to_string();
        assert!(e.contains("events: 2.5 is not a count"), "{e}");
    }
}
