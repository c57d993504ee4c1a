//! The rollup store: each template's result rows kept per day, so a nightly run scans the new days
//! only, not the whole baseline again.
//!
//! Why: at 100M events a day a 28-day baseline is 2.8B rows to rescan every night for results that
//! did not change. Every series bucket is at most a day and every result row belongs to exactly one
//! day, so a day's rows can be stored once and reused. Layout, beside the findings:
//!
//! `rollups/<family>_<bucket>/v=<digest>/dt=YYYY-MM-DD.parquet`
//!
//! one file per day, written atomically, empty when the day had no rows (so "computed, nothing
//! there" is told apart from "not computed"). `<digest>` is a hash of the template's SQL and the
//! stored schema: a changed template starts a new folder instead of mixing old and new rows.
//! Rows are stored in one canonical shape (keys as text, `bucket_start` as a UTC timestamp,
//! `value` as a double) whatever engine produced them.
//!
//! Freshness: the last `recompute_days` days of each window are always computed from the lake, as
//! Security Lake can still deliver late events for them; older days are read from the store when
//! present — unless their inputs changed. Each stored day carries a fingerprint of the files it
//! was computed from (table, path, size and ETag of every file of the template's view on that
//! day, from the listing the run already made: no extra request), and a stored day whose
//! fingerprint differs from the current listing's (late files, a rewrite, a compaction) is
//! computed again and named in the stats (`days_late`). Days stored before fingerprints existed,
//! and every day on Athena (no listing), are judged by age only. A stored file that cannot be read is a logged, counted skip and its day is computed
//! again (and rewritten). Days that need computing are grouped into contiguous ranges, one query
//! each.

use std::collections::BTreeSet;
use std::sync::Arc;

use arrow::array::{ArrayRef, AsArray, RecordBatch};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit, TimestampNanosecondType};
use futures::TryStreamExt;
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::{assemble, render, Bucket, SeriesError, SeriesSet, SeriesTemplate};
use crate::lake::SqlRunner;
use crate::store::Location;

const DAY: i64 = 86_400_000;

/// Where the store is and how fresh it must be.
#[derive(Debug, Clone)]
pub struct Rollup {
    /// The store's root (the run's output root; files go under `rollups/`).
    pub location: Location,
    /// The last this many days of every window are always computed from the lake.
    pub recompute_days: usize,
    /// What the rows come from (lake URL, engine, Athena database): part of the folder digest, so
    /// a run over another lake never reuses these rows.
    pub source: String,
    /// Days (`YYYY-MM-DD`) whose inputs were not all read this run (skipped files): their rows are
    /// used for this run but not stored, so a later run computes them again. `all` = a skipped
    /// input whose day is unknown.
    pub incomplete: Incomplete,
    /// The fingerprint of each (view, day)'s input files, when the run listed them (the embedded
    /// engine); `None` on Athena.
    pub inputs: Option<InputDays>,
}

/// Fingerprint of each (normalised view, `YYYY-MM-DD`)'s input files.
pub type InputDays = std::collections::BTreeMap<(String, String), String>;

/// Key-value metadata key of a stored day's input fingerprint.
pub const INPUTS_KEY: &str = "lakesight.inputs";

/// The fingerprint of every (view, day) of `tables`: SHA-256 over table name, path, size and ETag
/// of each file of a table that feeds the view, in sorted order.
pub fn input_fingerprints(tables: &[crate::lake::catalog::LakeTable]) -> InputDays {
    let mut files: std::collections::BTreeMap<(String, String), Vec<String>> = std::collections::BTreeMap::new();
    for v in crate::lake::views::VIEWS {
        for t in tables.iter().filter(|t| t.kind.is_some_and(|k| v.kinds.contains(&k))) {
            for f in t.all_files() {
                let d = &f.event_day;
                if d.len() != 8 {
                    continue;
                }
                let dt = format!("{}-{}-{}", &d[..4], &d[4..6], &d[6..]);
                files.entry((v.name.to_string(), dt)).or_default().push(format!(
                    "{}\0{}\0{}\0{}",
                    t.glue_name,
                    f.meta.location,
                    f.meta.size,
                    f.meta.e_tag.as_deref().unwrap_or("")
                ));
            }
        }
    }
    files
        .into_iter()
        .map(|(k, mut v)| {
            v.sort();
            let mut h = Sha256::new();
            for line in v {
                h.update(line.as_bytes());
                h.update([b'\n']);
            }
            (k, hex::encode(h.finalize())[..32].to_string())
        })
        .collect()
}

/// Days not to store (see [`Rollup::incomplete`]).
#[derive(Debug, Clone, Default)]
pub struct Incomplete {
    /// Every day.
    pub all: bool,
    /// These days.
    pub days: BTreeSet<String>,
}

impl Incomplete {
    /// From the paths of skipped inputs: their `eventDay=YYYYMMDD` (v1) or `time_dt_day=YYYY-MM-DD`
    /// (Iceberg) partition; a path with neither makes every day incomplete.
    pub fn from_skipped<'a>(paths: impl IntoIterator<Item = &'a str>) -> Incomplete {
        let mut out = Incomplete::default();
        for p in paths {
            let day = p.split('/').find_map(|part| {
                if let Some(d) = part.strip_prefix("eventDay=").or_else(|| part.strip_prefix("eventday=")) {
                    (d.len() == 8 && d.bytes().all(|b| b.is_ascii_digit())).then(|| format!("{}-{}-{}", &d[..4], &d[4..6], &d[6..]))
                } else {
                    part.strip_prefix("time_dt_day=").filter(|d| d.len() == 10).map(str::to_string)
                }
            });
            match day {
                Some(d) => {
                    out.days.insert(d);
                }
                None => out.all = true,
            }
        }
        out
    }

    fn contains(&self, dt: &str) -> bool {
        self.all || self.days.contains(dt)
    }
}

/// What the store did for one template.
#[derive(Debug, Clone, Default, Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct RollupStats {
    /// Days read from the store.
    pub days_reused: usize,
    /// Days computed from the lake (and stored).
    pub days_computed: usize,
    /// Queries run for them (one per contiguous range).
    pub queries: usize,
    /// Computed days not stored because some of their inputs were skipped this run.
    pub not_stored: usize,
    /// Stored files that could not be read (computed again), with the reason.
    pub unreadable: Vec<String>,
    /// Stored days older than `recompute_days` whose input files changed since they were stored
    /// (late data, rewrites): computed again.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub days_late: Vec<String>,
}

/// The canonical stored schema of a template's rows.
pub fn schema(t: &SeriesTemplate) -> SchemaRef {
    let mut fields: Vec<Field> = t.keys.iter().map(|(k, _)| Field::new(k, DataType::Utf8, true)).collect();
    fields.push(Field::new("bucket_start", DataType::Timestamp(TimeUnit::Nanosecond, None), true));
    fields.push(Field::new("value", DataType::Float64, true));
    Arc::new(Schema::new(fields))
}

/// The folder of a template and bucket over `source`: changes when the SQL, the stored shape or
/// the source changes.
pub fn folder(t: &SeriesTemplate, bucket: Bucket, source: &str) -> String {
    let mut h = Sha256::new();
    h.update(source.as_bytes());
    h.update([0]);
    h.update(t.body.as_bytes());
    h.update([0]);
    h.update(format!("{:?}", schema(t)).as_bytes());
    format!("rollups/{}_{}/v={}", t.family, bucket.unit(), &hex::encode(h.finalize())[..12])
}

/// Rows in the stored shape `target` (columns picked by name and cast).
fn canonical(target: &SchemaRef, b: &RecordBatch) -> Result<RecordBatch, String> {
    let s = b.schema();
    let cols = target
        .fields()
        .iter()
        .map(|f| {
            let i = s.index_of(f.name()).map_err(|_| format!("lacks column {}", f.name()))?;
            arrow::compute::cast(b.column(i), f.data_type()).map_err(|e| format!("{}: {e}", f.name()))
        })
        .collect::<Result<Vec<ArrayRef>, String>>()?;
    RecordBatch::try_new(target.clone(), cols).map_err(|e| e.to_string())
}

fn encode(batches: &[RecordBatch], schema: SchemaRef, inputs: Option<&str>) -> Result<Vec<u8>, String> {
    let mut buf = Vec::new();
    let props = parquet::file::properties::WriterProperties::builder()
        .set_key_value_metadata(inputs.map(|fp| vec![parquet::file::metadata::KeyValue::new(INPUTS_KEY.into(), fp.to_string())]))
        .build();
    let mut w = parquet::arrow::ArrowWriter::try_new(&mut buf, schema, Some(props)).map_err(|e| e.to_string())?;
    for b in batches {
        w.write(b).map_err(|e| e.to_string())?;
    }
    w.close().map_err(|e| e.to_string())?;
    Ok(buf)
}

/// A stored day's rows and the input fingerprint it was stored with (if any).
async fn read(loc: &Location, rel: &str, want: &SchemaRef) -> Result<(Vec<RecordBatch>, Option<String>), String> {
    use object_store::ObjectStoreExt;
    let bytes = loc
        .store
        .get(&loc.child(rel))
        .await
        .map_err(|e| e.to_string())?
        .bytes()
        .await
        .map_err(|e| e.to_string())?;
    let builder = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(bytes).map_err(|e| format!("not Parquet: {e}"))?;
    let fingerprint = builder
        .metadata()
        .file_metadata()
        .key_value_metadata()
        .and_then(|kv| kv.iter().find(|k| k.key == INPUTS_KEY).and_then(|k| k.value.clone()));
    let reader = builder.build().map_err(|e| e.to_string())?;
    let batches: Vec<RecordBatch> = reader.collect::<Result<_, _>>().map_err(|e| e.to_string())?;
    for b in &batches {
        if b.schema().fields() != want.fields() {
            return Err(format!("schema {:?} is not the stored shape", b.schema()));
        }
    }
    Ok((batches, fingerprint))
}

/// Build a template's series through the store when there is one, else straight from the lake
/// ([`super::build`]); the store's stats come back with it.
pub async fn build(
    rollup: Option<&Rollup>,
    runner: &dyn SqlRunner,
    t: Arc<SeriesTemplate>,
    bucket: Bucket,
    start_ms: i64,
    end_ms: i64,
) -> Result<(SeriesSet, Option<RollupStats>), SeriesError> {
    match rollup {
        Some(r) => r.build(runner, t, bucket, start_ms, end_ms).await.map(|(set, st)| (set, Some(st))),
        None => super::build(runner, t, bucket, start_ms, end_ms).await.map(|set| (set, None)),
    }
}

impl Rollup {
    /// The days of `[start_ms, end_ms)` stored for this template and bucket.
    async fn stored(&self, dir: &str) -> Result<BTreeSet<String>, SeriesError> {
        let prefix = self.location.child(dir);
        let listed: Vec<object_store::ObjectMeta> = match self.location.store.list(Some(&prefix)).try_collect().await {
            Ok(v) => v,
            // A store that does not exist yet (first run on a local folder) holds nothing.
            Err(object_store::Error::NotFound { .. }) => Vec::new(),
            Err(e) => {
                return Err(SeriesError::Query {
                    family: dir.into(),
                    source: crate::lake::LakeError::Config(vec![format!("listing {}: {e}", self.location.url_of(dir))]),
                })
            }
        };
        Ok(listed
            .iter()
            .filter_map(|m| {
                m.location
                    .filename()?
                    .strip_prefix("dt=")?
                    .strip_suffix(".parquet")
                    .map(str::to_string)
            })
            .collect())
    }

    /// [`super::build`] through the store: stored days are read, the others (and always the last
    /// `recompute_days`) computed from the lake and stored.
    pub async fn build(
        &self,
        runner: &dyn SqlRunner,
        t: Arc<SeriesTemplate>,
        bucket: Bucket,
        start_ms: i64,
        end_ms: i64,
    ) -> Result<(SeriesSet, RollupStats), SeriesError> {
        let dir = folder(&t, bucket, &self.source);
        let label = format!("{}_{}", t.family, bucket.unit());
        let render_range = |from: i64, to: i64| render(&t, bucket, from, to);
        let (batches, stats) = self
            .days(
                runner,
                &t.view,
                &dir,
                &t.family,
                &label,
                &schema(&t),
                &render_range,
                start_ms,
                end_ms,
            )
            .await?;
        let sql = render(&t, bucket, start_ms, end_ms);
        Ok((assemble(t, bucket, start_ms, end_ms, &batches, sql)?, stats))
    }

    /// The rows of `[start_ms, end_ms)` in the stored shape `want` (whose `bucket_start` column, a
    /// UTC timestamp, says which day a row belongs to): stored days are read, the others (and always
    /// the last `recompute_days`) computed from the lake with `render(from, to)`, split by day and
    /// stored.
    #[allow(clippy::too_many_arguments)]
    async fn days(
        &self,
        runner: &dyn SqlRunner,
        view: &str,
        dir: &str,
        family: &str,
        label: &str,
        want: &SchemaRef,
        render_range: &(dyn Fn(i64, i64) -> String + Send + Sync),
        start_ms: i64,
        end_ms: i64,
    ) -> Result<(Vec<RecordBatch>, RollupStats), SeriesError> {
        let ts_col = want.index_of("bucket_start").map_err(|_| SeriesError::Shape {
            family: family.to_string(),
            reason: "stored shape lacks bucket_start".into(),
        })?;
        let stored = self.stored(dir).await?;
        let fresh_from = end_ms - self.recompute_days as i64 * DAY;
        let shape = |reason: String| SeriesError::Shape {
            family: family.to_string(),
            reason,
        };
        let mut stats = RollupStats::default();
        let mut batches: Vec<RecordBatch> = Vec::new();
        let mut missing: Vec<i64> = Vec::new();
        let mut day = start_ms;
        while day < end_ms {
            let dt = super::dt(day);
            let rel = format!("{dir}/dt={dt}.parquet");
            let now = self.inputs.as_ref().and_then(|i| i.get(&(view.to_string(), dt.clone())));
            if day < fresh_from && stored.contains(&dt) {
                match read(&self.location, &rel, want).await {
                    Ok((_, Some(then))) if now.is_some_and(|now| *now != then) => {
                        tracing::info!(rollup = %self.location.url_of(&rel), "the day's input files changed since it was stored (late data); computed again");
                        stats.days_late.push(dt.clone());
                        missing.push(day);
                    }
                    Ok((b, _)) => {
                        batches.extend(b);
                        stats.days_reused += 1;
                    }
                    Err(e) => {
                        let w = format!("rollup {}: {e}; computed again", self.location.url_of(&rel));
                        tracing::warn!("{w}");
                        stats.unreadable.push(w);
                        missing.push(day);
                    }
                }
            } else {
                missing.push(day);
            }
            day += DAY;
        }
        // Contiguous ranges of missing days, one query each.
        let mut ranges: Vec<(i64, i64)> = Vec::new();
        for d in missing {
            match ranges.last_mut() {
                Some((_, end)) if *end == d => *end = d + DAY,
                _ => ranges.push((d, d + DAY)),
            }
        }
        for (from, to) in ranges {
            let sql = render_range(from, to);
            let got = runner.run_sql(label, &sql).await.map_err(|e| SeriesError::Query {
                family: family.to_string(),
                source: e,
            })?;
            stats.queries += 1;
            // Files the query's scans found unusable (deferred footers read just now) make their
            // days incomplete too.
            let late_skips = Incomplete::from_skipped(runner.skipped_inputs().iter().map(String::as_str));
            let got = got
                .iter()
                .map(|b| canonical(want, b))
                .collect::<Result<Vec<_>, _>>()
                .map_err(shape)?;
            // Split by day and store each day, empty days included.
            let mut d = from;
            while d < to {
                let mut day_rows = Vec::new();
                for b in &got {
                    let ts = b.column(ts_col).as_primitive::<TimestampNanosecondType>();
                    let mask: arrow::array::BooleanArray = ts
                        .iter()
                        .map(|v| v.map(|ns| ns.div_euclid(1_000_000)).map(|ms| ms >= d && ms < d + DAY))
                        .collect();
                    let part = arrow::compute::filter_record_batch(b, &mask).map_err(|e| shape(e.to_string()))?;
                    if part.num_rows() > 0 {
                        day_rows.push(part);
                    }
                }
                // The analysed day is complete by the time a nightly run reads it; days at the
                // window's end are stored too (and recomputed next time while they are fresh).
                let dt = super::dt(d);
                if self.incomplete.contains(&dt) || late_skips.contains(&dt) {
                    stats.not_stored += 1;
                } else {
                    let rel = format!("{dir}/dt={dt}.parquet");
                    let fp = self.inputs.as_ref().and_then(|i| i.get(&(view.to_string(), dt.clone())));
                    let buf = encode(&day_rows, want.clone(), fp.map(String::as_str)).map_err(shape)?;
                    self.location
                        .put_atomic(&rel, &buf)
                        .await
                        .map_err(|e| shape(format!("storing {rel}: {e}")))?;
                }
                batches.extend(day_rows);
                stats.days_computed += 1;
                d += DAY;
            }
        }
        Ok((batches, stats))
    }
}

/// A stage's own table template (not a series) over `[start_ms, end_ms)`, one row set per day,
/// through the store when there is one: each row in the shape `want` (columns picked by name and
/// cast; `bucket_start`, the day's UTC midnight, must be one), so a nightly run queries the lake
/// for the new days only. `label` names the store's folder (`rollups/<label>/v=<digest of source,
/// SQL and shape>/`, shared by every stage that reads the same table) and `query_label` the query
/// (logs, Athena statistics and UNLOAD folder: unique per stage, as Athena's idempotency token and
/// UNLOAD target derive from it).
#[allow(clippy::too_many_arguments)]
pub async fn table_days(
    rollup: Option<&Rollup>,
    runner: &dyn SqlRunner,
    t: &SeriesTemplate,
    label: &str,
    query_label: &str,
    want: &SchemaRef,
    start_ms: i64,
    end_ms: i64,
) -> Result<(Vec<RecordBatch>, Option<RollupStats>), SeriesError> {
    let render_range = |from: i64, to: i64| render(t, Bucket::Day, from, to);
    match rollup {
        Some(r) => {
            let mut h = Sha256::new();
            h.update(r.source.as_bytes());
            h.update([0]);
            h.update(t.body.as_bytes());
            h.update([0]);
            h.update(format!("{want:?}").as_bytes());
            let dir = format!("rollups/{label}/v={}", &hex::encode(h.finalize())[..12]);
            r.days(runner, &t.view, &dir, label, query_label, want, &render_range, start_ms, end_ms)
                .await
                .map(|(b, st)| (b, Some(st)))
        }
        None => {
            let got = super::run_template(runner, t, query_label, Bucket::Day, start_ms, end_ms).await?;
            let got = got
                .iter()
                .map(|b| canonical(want, b))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|reason| SeriesError::Shape {
                    family: label.to_string(),
                    reason,
                })?;
            Ok((got, None))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_changed_template_gets_a_folder_of_its_own() {
        let c = super::super::SeriesCatalog::builtin().unwrap();
        let t = c.get("api_calls").unwrap();
        let a = folder(&t, Bucket::Day, "lake-a");
        assert!(a.starts_with("rollups/api_calls_day/v="), "{a}");
        assert_ne!(a, folder(&t, Bucket::Hour, "lake-a"));
        assert_ne!(a, folder(&t, Bucket::Day, "lake-b"), "another lake");
        let mut changed = (*t).clone();
        changed.body.push_str("\n-- a comment is a change");
        assert_ne!(a, folder(&changed, Bucket::Day, "lake-a"));
        assert_eq!(a, folder(&t, Bucket::Day, "lake-a"), "stable");
    }

    #[test]
    fn skipped_inputs_mark_their_days_incomplete() {
        let i = Incomplete::from_skipped([
            "lake/aws/CLOUD_TRAIL_MGMT/1.0/region=us-east-1/accountId=1/eventDay=20250320/x.parquet",
            "lake/aws/VPC_FLOW/2.0/data/time_dt_day=2025-03-21/region=us-east-1/accountid=1/y.parquet",
        ]);
        assert!(!i.all && i.contains("2025-03-20") && i.contains("2025-03-21") && !i.contains("2025-03-22"));
        assert!(Incomplete::from_skipped(["lake/somewhere/odd.parquet"]).contains("2025-01-01"));
    }
}
