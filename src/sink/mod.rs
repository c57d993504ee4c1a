//! Writing a run's outputs: findings Parquet (Hive-partitioned), the Athena DDL, the manifest and
//! the HTML report.
//!
//! Readers never see partial output: every file is written under a hidden temporary name (`.tmp-…`,
//! which Athena and Hive skip) and renamed into place, and each `dt=…/detector=…/` partition holds
//! exactly one file, `findings.parquet`, that a rerun replaces atomically — so rerunning a day
//! replaces its findings and never duplicates them. A partition the run analysed but where nothing
//! was found gets an empty file, which records "analysed, nothing found".

pub mod glue;
pub mod lease;
pub mod manifest;
pub mod ocsf;
pub mod plot;
pub mod report;
pub mod root;

use std::collections::BTreeMap;

use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;

use crate::findings::{to_batch, Finding};
use crate::store::{Location, S3Options};
use crate::table::{TableOutput, TableSpec};

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
    /// An object lakesight wrote before cannot be read back as what it should be.
    #[error("{url}: {reason}")]
    Decode {
        /// The object's URL.
        url: String,
        /// Why.
        reason: String,
    },
}

pub use crate::store::MULTIPART_PART;

/// The output location of a run: a local folder or `s3://bucket/prefix`.
#[derive(Debug, Clone)]
pub struct Output {
    /// Where.
    pub location: Location,
    /// The URL readers reach `location` at, when another (a SageMaker output folder's S3 URI).
    pub public: Option<String>,
}

impl Output {
    /// Open (create) an output URL.
    pub async fn open(url: &str, s3: &S3Options) -> Result<Output, SinkError> {
        Ok(Output {
            location: Location::open(url, s3, true).await?,
            public: None,
        })
    }

    /// Publish every location under `public` instead of the output's own URL.
    pub fn published_as(mut self, public: Option<String>) -> Output {
        self.public = public.map(|p| p.trim_end_matches('/').to_string());
        self
    }

    /// The URL of `rel` under the output root, as readers reach it.
    pub fn url_of(&self, rel: &str) -> String {
        match &self.public {
            Some(p) if rel.is_empty() => p.clone(),
            Some(p) => format!("{p}/{rel}"),
            None => self.location.url_of(rel),
        }
    }

    /// Write bytes atomically at `rel` (slash-separated); returns the object's URL as readers
    /// reach it ([`Output::url_of`]). See [`Location::put_atomic`].
    pub async fn put(&self, rel: &str, data: &[u8]) -> Result<String, SinkError> {
        self.location.put_atomic(rel, data).await?;
        tracing::debug!(object = rel, bytes = data.len(), "wrote");
        Ok(self.url_of(rel))
    }

    /// The bytes at `rel` under the output root, if the object exists.
    pub async fn get_opt(&self, rel: &str) -> Result<Option<bytes::Bytes>, SinkError> {
        Ok(self.location.get_opt(rel).await?)
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

    /// What day `dt` published for `detectors` (the conditions the next day carries on; see
    /// [`crate::findings::condition`]). A partition that does not exist is an empty day; a file
    /// that cannot be read is an error naming it, not a silent fresh start.
    pub async fn read_published(&self, dt: &str, detectors: &[String]) -> Result<Vec<crate::findings::condition::Published>, SinkError> {
        let mut out = Vec::new();
        for det in detectors {
            let rel = format!("findings/dt={dt}/detector={det}/findings.parquet");
            let Some(bytes) = self.get_opt(&rel).await? else { continue };
            let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(bytes)?.build()?;
            for batch in reader {
                out.extend(published_rows(&batch?, det).map_err(|e| {
                    SinkError::Arrow(arrow::error::ArrowError::InvalidArgumentError(format!(
                        "{}: {e}",
                        self.url_of(&rel)
                    )))
                })?);
            }
        }
        Ok(out)
    }

    /// The publication record of `day` (empty when none was written). A record that cannot be
    /// read is an error naming it.
    pub async fn day_record(&self, day: &str) -> Result<DayRecord, SinkError> {
        let rel = format!("{PUBLISHED}/dt={day}.json");
        match self.get_opt(&rel).await? {
            None => Ok(DayRecord::default()),
            Some(b) => serde_json::from_slice(&b).map_err(|e| SinkError::Decode {
                url: self.url_of(&rel),
                reason: e.to_string(),
            }),
        }
    }

    /// Write `day`'s publication record (after everything the run publishes for it).
    pub async fn put_day_record(&self, day: &str, record: &DayRecord) -> Result<(), SinkError> {
        let body = serde_json::to_vec_pretty(record).map_err(|e| SinkError::Decode {
            url: self.url_of(&format!("{PUBLISHED}/dt={day}.json")),
            reason: e.to_string(),
        })?;
        self.put(&format!("{PUBLISHED}/dt={day}.json"), &body).await?;
        Ok(())
    }

    /// After a day's findings were written: remove what the new set superseded; returns the
    /// day's publication record with `job`'s entry replaced by `entry`, for the caller to write
    /// with [`Output::put_day_record`] once everything else of the day is published.
    ///
    /// - The partitions of detectors `job` published on `day` before and no longer runs (a
    ///   detector dropped from the job) — unless another job of the same output claims them.
    /// - The plots of `plots/dt=<day>/` whose finding is no longer in any of the day's
    ///   partitions (a rerun that no longer finds something, or finds it with another id).
    ///
    /// Deletions come before the record is rewritten, so a run killed in between is mended by
    /// its rerun (which still reads the old record). Called under the day's lease.
    pub async fn supersede(&self, day: &str, job: &str, entry: JobDay) -> Result<(Superseded, DayRecord), SinkError> {
        let detectors = &entry.detectors;
        let mut record = self.day_record(day).await?;
        let mut done = Superseded::default();
        let others: std::collections::BTreeSet<&String> = record
            .jobs
            .iter()
            .filter(|(j, _)| j.as_str() != job)
            .flat_map(|(_, d)| d.detectors.iter())
            .collect();
        if let Some(before) = record.jobs.get(job) {
            for det in &before.detectors {
                if !detectors.contains(det) && !others.contains(det) {
                    let rel = format!("findings/dt={day}/detector={det}/findings.parquet");
                    if self.location.delete_opt(&rel).await? {
                        done.partitions.push(rel);
                    }
                }
            }
        }
        let mut ids = std::collections::HashSet::new();
        for folder in self.location.list_dirs(&format!("findings/dt={day}")).await? {
            let rel = format!("findings/dt={day}/{folder}/findings.parquet");
            let Some(bytes) = self.get_opt(&rel).await? else { continue };
            let named = |reason: String| SinkError::Decode {
                url: self.url_of(&rel),
                reason,
            };
            let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(bytes)
                .map_err(|e| named(e.to_string()))?
                .build()
                .map_err(|e| named(e.to_string()))?;
            for batch in reader {
                let batch = batch.map_err(|e| named(e.to_string()))?;
                let col = batch
                    .column_by_name("finding_id")
                    .and_then(|c| arrow::array::AsArray::as_string_opt::<i32>(c))
                    .ok_or_else(|| named("no text column finding_id".into()))?;
                ids.extend(col.iter().flatten().map(str::to_string));
            }
        }
        let plots = format!("plots/dt={day}");
        for name in self.location.list_files(&plots).await? {
            let id = name.rsplit_once('.').map(|(stem, _)| stem).unwrap_or(&name);
            if !name.starts_with('.') && !ids.contains(id) {
                let rel = format!("{plots}/{name}");
                if self.location.delete_opt(&rel).await? {
                    done.plots.push(rel);
                }
            }
        }
        record.jobs.insert(job.to_string(), entry);
        Ok((done, record))
    }

    /// Replace `series/dt=<dt>/series.json` for every day of the run: finding id → its series
    /// ([`SeriesSnapshot`]) for each finding that has one (`lakesight explain` reads it). A day
    /// without findings gets `{}`, so a rerun that no longer finds something drops its series.
    pub async fn write_series(
        &self,
        findings: &[Finding],
        plots: &std::collections::HashMap<String, crate::findings::plot::PlotSpec>,
        days: &[String],
    ) -> Result<Vec<String>, SinkError> {
        use crate::findings::plot::SeriesSnapshot;
        let mut per_day: BTreeMap<&str, BTreeMap<&str, SeriesSnapshot>> = days.iter().map(|d| (d.as_str(), BTreeMap::new())).collect();
        for f in findings {
            if let Some(p) = plots.get(&f.finding_id) {
                per_day
                    .entry(f.dt.as_str())
                    .or_default()
                    .insert(&f.finding_id, SeriesSnapshot::of(p));
            }
        }
        let mut out = Vec::new();
        for (dt, series) in per_day {
            let rel = format!("series/dt={dt}/series.json");
            let body = serde_json::to_vec(&series).map_err(|e| arrow::error::ArrowError::JsonError(e.to_string()))?;
            self.put(&rel, &body).await?;
            out.push(rel);
        }
        Ok(out)
    }

    /// The rows day `dt` published in a stage's `dt`-partitioned table (`<folder>/dt=<dt>/
    /// <folder>.parquet`); `None` when that day wrote no such file. A file that cannot be read
    /// is an error naming it (a silent fresh start would change what the run decides).
    pub async fn read_dt_table(&self, folder: &str, dt: &str) -> Result<Option<Vec<arrow::record_batch::RecordBatch>>, SinkError> {
        let rel = format!("{folder}/dt={dt}/{folder}.parquet");
        let Some(bytes) = self.get_opt(&rel).await? else { return Ok(None) };
        let named = |e: parquet::errors::ParquetError| {
            SinkError::Arrow(arrow::error::ArrowError::InvalidArgumentError(format!(
                "{}: {e}",
                self.url_of(&rel)
            )))
        };
        let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(bytes)
            .map_err(named)?
            .build()
            .map_err(named)?;
        let batches = reader.collect::<Result<Vec<_>, _>>().map_err(|e| {
            SinkError::Arrow(arrow::error::ArrowError::InvalidArgumentError(format!(
                "{}: {e}",
                self.url_of(&rel)
            )))
        })?;
        Ok(Some(batches))
    }

    /// Replace one file per day of a stage's `dt`-partitioned table
    /// (`<folder>/dt=<dt>/<folder>.parquet`; an empty batch records "analysed, nothing there") and
    /// write its DDL beside the findings as `<folder>_table.sql`. Returns the objects written.
    pub async fn write_dt_table(&self, database: &str, table: &TableOutput) -> Result<Vec<String>, SinkError> {
        let folder = &table.spec.folder;
        let mut out = Vec::new();
        for d in &table.days {
            let rel = format!("{folder}/dt={}/{folder}.parquet", d.dt);
            self.put(&rel, &encode(&d.batch)?).await?;
            out.push(rel);
        }
        let rel = format!("{folder}_table.sql");
        self.put(&rel, dt_table_ddl(database, &table.spec, &self.url_of("")).as_bytes())
            .await?;
        out.push(rel);
        Ok(out)
    }
}

/// The folder of the per-day publication records ([`DayRecord`]); `_` keeps Athena, Hive and
/// pyarrow out of it.
pub const PUBLISHED: &str = "_published";

/// `_published/dt=<day>.json`: per job, the run that last published the day and its detectors,
/// so a rerun knows which of its partitions it no longer writes. Jobs that share an output keep
/// their own entries.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct DayRecord {
    /// Job name → what it published.
    pub jobs: BTreeMap<String, JobDay>,
}

/// What one job published on a day.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct JobDay {
    /// The run.
    pub run_id: String,
    /// Its detectors (one findings partition each).
    pub detectors: Vec<String>,
    /// The sharded backfill the run was a day of (`runtime::shard`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// When the run started (ms since the epoch).
    #[serde(default)]
    pub started_ms: i64,
}

impl JobDay {
    /// Published by a day of the sharded backfill `group`.
    pub fn by_backfill(&self, group: &str) -> bool {
        self.group.as_deref() == Some(group)
    }
}

/// What [`Output::supersede`] removed (relative paths).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Superseded {
    /// Findings partitions of detectors the job no longer runs.
    pub partitions: Vec<String>,
    /// Plots of findings no longer published.
    pub plots: Vec<String>,
}

/// The Athena DDL of a table lakesight writes under `<folder>/dt=…/` (partition projection on dt),
/// from the same [`TableSpec`] the Glue registration uses, headed by the spec's comment.
pub fn dt_table_ddl(database: &str, spec: &TableSpec, location: &str) -> String {
    let comment = &spec.ddl_comment;
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

/// The rows of a findings file as [`crate::findings::condition::Published`]; the condition
/// columns may be absent (files written before they existed).
fn published_rows(b: &arrow::record_batch::RecordBatch, detector: &str) -> Result<Vec<crate::findings::condition::Published>, String> {
    use arrow::array::{Array, AsArray};
    use arrow::datatypes::{Float64Type, Int32Type, TimestampMillisecondType};
    let col = |n: &str| b.column_by_name(n);
    let text = |n: &str| -> Result<Option<&arrow::array::StringArray>, String> {
        match col(n) {
            None => Ok(None),
            Some(a) => a.as_string_opt::<i32>().map(Some).ok_or_else(|| format!("column {n} is not text")),
        }
    };
    let need = |n: &str| text(n)?.ok_or_else(|| format!("column {n} is missing"));
    let (family, bucket, keys, kind, title, entity) = (
        need("series_family")?,
        need("bucket")?,
        need("entity_keys")?,
        need("kind")?,
        need("title")?,
        need("entity")?,
    );
    let ts = |n: &str| col(n).and_then(|a| a.as_primitive_opt::<TimestampMillisecondType>());
    let start = ts("window_start").ok_or("column window_start is missing or not a millisecond timestamp")?;
    let score = col("score")
        .and_then(|a| a.as_primitive_opt::<Float64Type>())
        .ok_or("column score is missing")?;
    let (cid, first, days) = (
        text("condition_id")?,
        ts("first_seen"),
        col("condition_days").and_then(|a| a.as_primitive_opt::<Int32Type>()),
    );
    let s = |a: &arrow::array::StringArray, i: usize| if a.is_null(i) { String::new() } else { a.value(i).to_string() };
    Ok((0..b.num_rows())
        .map(|i| crate::findings::condition::Published {
            condition_id: cid.filter(|a| !a.is_null(i)).map(|a| a.value(i).to_string()),
            first_seen_ms: first.filter(|a| !a.is_null(i)).map(|a| a.value(i)),
            days: days.filter(|a| !a.is_null(i)).map(|a| a.value(i)),
            detector: detector.to_string(),
            series_family: s(family, i),
            bucket: s(bucket, i),
            entity_keys: s(keys, i),
            kind: s(kind, i),
            window_start_ms: start.value(i),
            title: s(title, i),
            entity: s(entity, i),
            score: if score.is_null(i) { f64::NAN } else { score.value(i) },
        })
        .collect())
}

/// One batch as a zstd Parquet file.
fn encode(batch: &arrow::record_batch::RecordBatch) -> Result<Vec<u8>, SinkError> {
    encode_with(batch, zstd_props().build())
}

/// The writer settings every output starts from: zstd at its default level.
fn zstd_props() -> parquet::file::properties::WriterPropertiesBuilder {
    WriterProperties::builder().set_compression(Compression::ZSTD(ZstdLevel::default()))
}

/// One batch as a Parquet file written with `props`.
fn encode_with(batch: &arrow::record_batch::RecordBatch, props: WriterProperties) -> Result<Vec<u8>, SinkError> {
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

/// Detector families, each with a view in [`findings_views`].
pub const DETECTOR_FAMILIES: [&str; 6] = ["outlier", "changepoint", "trend", "ueba", "ip_insights", "network"];

/// The Athena views over the findings table, one per detector family with friendly column names
/// (`queries/athena/findings_views.sql`), as `;`-terminated statements.
pub fn findings_views(database: &str, table: &str) -> String {
    let mut out = String::new();
    for family in DETECTOR_FAMILIES {
        out.push_str(
            &include_str!("../../queries/athena/findings_views.sql")
                .replace("${database}", database)
                .replace("${table}", table)
                .replace("${family}", family),
        );
        out.push_str(";\n\n");
    }
    out
}

/// The Athena DDL of the findings table (partition projection: no MSCK REPAIR needed).
pub fn findings_ddl(database: &str, table: &str, location: &str, detectors: &[String]) -> String {
    include_str!("../../queries/athena/findings_table.sql")
        .replace("${database}", database)
        .replace("${table}", table)
        .replace("${location}", location.trim_end_matches('/'))
        .replace("${detectors}", &detectors.join(","))
}

#[cfg(test)]
mod tests {
    /// `queries/athena/findings_table.sql` is hand-written (with a column dictionary); Glue's
    /// columns come from `findings::schema()`. Both must list the same columns, types and order,
    /// or Athena users of the DDL and of Glue would see different tables.
    #[test]
    fn the_findings_ddl_lists_the_schemas_columns_in_order() {
        let ddl = super::findings_ddl("db", "t", "s3://b/o", &["x".into()]);
        let body = &ddl[ddl.find("t (\n").unwrap() + 4..ddl.find("\n)\nPARTITIONED").unwrap()];
        let cols: Vec<(String, String)> = body
            .lines()
            .map(|l| {
                let l = l.trim().trim_end_matches(',');
                let (n, t) = l.split_once(' ').unwrap();
                (n.to_string(), t.to_string())
            })
            .collect();
        let want: Vec<(String, String)> = crate::findings::schema()
            .fields()
            .iter()
            .map(|f| (f.name().clone(), super::hive_type(f.data_type())))
            .collect();
        assert_eq!(cols, want);
    }
}
