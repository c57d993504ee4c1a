//! Writing a run's outputs: findings Parquet (Hive-partitioned), the Athena DDL, the manifest and
//! the HTML report.
//!
//! Readers never see partial output: every file is written under a hidden temporary name (`.tmp-…`,
//! which Athena and Hive skip) and renamed into place, and each `dt=…/detector=…/` partition holds
//! exactly one file, `findings.parquet`, that a rerun replaces atomically — so rerunning a day
//! replaces its findings and never duplicates them. A partition the run analysed but where nothing
//! was found gets an empty file, which records "analysed, nothing found".

pub mod glue;
pub mod plot;
pub mod report;

use std::collections::BTreeMap;

use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;

use crate::findings::{to_batch, Finding};
use crate::store::{Location, S3Options};

/// Errors of the sink.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// Writing an output object failed (names the path or URL).
    #[error(transparent)]
    Put(#[from] crate::store::PutError),
    /// Arrow error.
    #[error(transparent)]
    Arrow(#[from] arrow::error::ArrowError),
    /// Parquet error.
    #[error(transparent)]
    Parquet(#[from] parquet::errors::ParquetError),
    /// The output URL is not usable.
    #[error("output {0}")]
    Url(#[from] crate::store::StoreError),
}

pub use crate::store::MULTIPART_PART;

/// The output location of a run: a local folder or `s3://bucket/prefix`.
#[derive(Debug, Clone)]
pub struct Output {
    /// Where.
    pub location: Location,
}

impl Output {
    /// Open (create) an output URL.
    pub async fn open(url: &str, s3: &S3Options) -> Result<Output, SinkError> {
        Ok(Output {
            location: Location::open(url, s3, true).await?,
        })
    }

    /// The URL of `rel` under the output root.
    pub fn url_of(&self, rel: &str) -> String {
        self.location.url_of(rel)
    }

    /// Write bytes atomically at `rel` (slash-separated); returns the object's URL. See
    /// [`Location::put_atomic`].
    pub async fn put(&self, rel: &str, data: &[u8]) -> Result<String, SinkError> {
        Ok(self.location.put_atomic(rel, data).await?)
    }

    /// Replace the findings of every `(dt, detector)` partition in `days × detectors`.
    /// Returns the objects written (relative paths) with their row counts.
    pub async fn write_findings(
        &self,
        findings: &[Finding],
        days: &[String],
        detectors: &[String],
    ) -> Result<Vec<(String, usize)>, SinkError> {
        let mut parts: BTreeMap<(String, String), Vec<Finding>> = BTreeMap::new();
        for d in days {
            for det in detectors {
                parts.insert((d.clone(), det.clone()), Vec::new());
            }
        }
        for f in findings {
            parts.entry((f.dt.clone(), f.detector.clone())).or_default().push(f.clone());
        }
        let mut out = Vec::new();
        for ((dt, det), mut fs) in parts {
            fs.sort_by(|a, b| {
                b.score
                    .partial_cmp(&a.score)
                    .unwrap_or(std::cmp::Ordering::Equal)
                    .then(a.finding_id.cmp(&b.finding_id))
            });
            let buf = encode(&to_batch(&fs)?)?;
            let rel = format!("findings/dt={dt}/detector={det}/findings.parquet");
            self.put(&rel, &buf).await?;
            out.push((rel, fs.len()));
        }
        Ok(out)
    }

    /// Replace one file per day of a `dt`-partitioned table (`<folder>/dt=<dt>/<folder>.parquet`;
    /// an empty batch records "analysed, nothing there") and write its DDL beside the findings as
    /// `<folder>_table.sql`. Returns the objects written. Used for the features and embeddings.
    pub async fn write_dt_table(&self, folder: &str, days: &[crate::series::DayRows], ddl: &str) -> Result<Vec<String>, SinkError> {
        let mut out = Vec::new();
        for d in days {
            let rel = format!("{folder}/dt={}/{folder}.parquet", d.dt);
            self.put(&rel, &encode(&d.batch)?).await?;
            out.push(rel);
        }
        let rel = format!("{folder}_table.sql");
        self.put(&rel, ddl.as_bytes()).await?;
        out.push(rel);
        Ok(out)
    }
}

/// The Athena DDL of a table lakesight writes under `<folder>/dt=…/` (partition projection on dt),
/// from the same [`glue::TableSpec`] the Glue registration uses.
pub fn dt_table_ddl(database: &str, spec: &glue::TableSpec, location: &str, comment: &str) -> String {
    let location = location.trim_end_matches('/');
    let (table, folder) = (&spec.table, &spec.folder);
    let cols: Vec<String> = spec
        .schema
        .fields()
        .iter()
        .map(|f| format!("  {} {}", f.name(), hive_type(f.data_type())))
        .collect();
    format!(
        "{comment}CREATE EXTERNAL TABLE IF NOT EXISTS {database}.{table} (\n{}\n)\n\
         PARTITIONED BY (dt string)\n\
         STORED AS PARQUET\n\
         LOCATION {}\n\
         TBLPROPERTIES (\n\
         \x20 'projection.enabled' = 'true',\n\
         \x20 'projection.dt.type' = 'date',\n\
         \x20 'projection.dt.format' = 'yyyy-MM-dd',\n\
         \x20 'projection.dt.range' = '2020-01-01,NOW',\n\
         \x20 'storage.location.template' = {}\n\
         );\n",
        cols.join(",\n"),
        crate::sql::quote_literal(&format!("{location}/{folder}/")),
        crate::sql::quote_literal(&format!("{location}/{folder}/dt=${{dt}}/")),
    )
}

/// The Athena DDL of the embeddings table.
pub fn embeddings_ddl(database: &str, table: &str, location: &str) -> String {
    dt_table_ddl(
        database,
        &glue::TableSpec::embeddings(table),
        location,
        "-- lakesight embeddings table for Athena: IP Insights vectors of the principals and addresses of each\n\
         -- judged day (kind = 'principal' | 'ip'); the dot product of a principal's and an address's vector is\n\
         -- the model's score of the pair (higher = more expected). Rendered by `lakesight run` into\n\
         -- <output>/embeddings_table.sql. Partition projection on dt.\n",
    )
}

/// One batch as a zstd Parquet file.
fn encode(batch: &arrow::record_batch::RecordBatch) -> Result<Vec<u8>, SinkError> {
    let props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::default()))
        .build();
    let mut buf = Vec::new();
    let mut w = ArrowWriter::try_new(&mut buf, batch.schema(), Some(props))?;
    w.write(batch)?;
    w.close()?;
    Ok(buf)
}

/// Hive/Athena type of an Arrow type of an output schema.
pub fn hive_type(t: &arrow::datatypes::DataType) -> String {
    use arrow::datatypes::DataType::*;
    match t {
        Utf8 | LargeUtf8 => "string".into(),
        Int32 => "int".into(),
        Int64 => "bigint".into(),
        Float64 => "double".into(),
        Float32 => "float".into(),
        Boolean => "boolean".into(),
        Timestamp(..) => "timestamp".into(),
        List(f) => format!("array<{}>", hive_type(f.data_type())),
        other => format!("string /* {other} */"),
    }
}

/// The Athena DDL of the features table (partition projection on `dt`). Names are validated
/// identifiers (job file) and the location an output URL.
pub fn features_ddl(database: &str, table: &str, location: &str) -> String {
    let described: Vec<String> = crate::series::features::FEATURES
        .iter()
        .map(|(n, d)| format!("--   {n:<14} {d}\n"))
        .collect();
    dt_table_ddl(
        database,
        &glue::TableSpec::features(table),
        location,
        &format!(
            "-- lakesight features table for Athena: one row per account, principal and UTC day (UEBA input).\n\
             -- Rendered by `lakesight run` into <output>/features_table.sql. Partition projection on dt.\n\
             -- Features (queries/features/principal_day.sql):\n{}",
            described.concat()
        ),
    )
}

/// The Athena DDL of the findings table (partition projection: no MSCK REPAIR needed).
pub fn findings_ddl(database: &str, table: &str, location: &str, detectors: &[String]) -> String {
    include_str!("../../queries/athena/findings_table.sql")
        .replace("${database}", database)
        .replace("${table}", table)
        .replace("${location}", location.trim_end_matches('/'))
        .replace("${detectors}", &detectors.join(","))
}
