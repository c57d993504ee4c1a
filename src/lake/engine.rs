//! The embedded engine: a DataFusion session with the lake's tables, views and Trino functions.
//!
//! Tables are reachable as `amazon_security_lake_table_<region>_<source>_<x>_<y>` (default schema),
//! as `amazon_security_lake_glue_db_<region>.<table>` (the Glue database, as analysts write it in
//! Athena) and as `awsdatacatalog.<db>.<table>`. The normalised views live in schema `lakesight`.

use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::sync::Arc;

use arrow::record_batch::RecordBatch;
use datafusion::catalog::{CatalogProvider, MemoryCatalogProvider, MemorySchemaProvider, SchemaProvider};
use datafusion::execution::config::SessionConfig;
use datafusion::execution::memory_pool::{FairSpillPool, TrackConsumersPool};
use datafusion::execution::runtime_env::{RuntimeEnv, RuntimeEnvBuilder};
use datafusion::prelude::{DataFrame, SessionContext};
use url::Url;

use super::catalog::{Catalog, CatalogOptions, LakeLocation};
use super::table::LakeTableProvider;
use super::views::{view_sql, Dialect, VIEWS};
use super::{trino, LakeError, Result};

/// Scan partitions for a lake in an object store (`LAKESIGHT_REMOTE_PARTITIONS` overrides).
pub const REMOTE_PARTITIONS: usize = 16;

/// Whether lake scans push filters into the Parquet decoder (`LAKESIGHT_PUSHDOWN_FILTERS=false`
/// turns it off). Since `lake::adapt`, also for files whose schema differs from the table's
/// (Security Lake's required fields, Iceberg field ids), where DataFusion 54 alone got them wrong.
pub fn pushdown_filters_enabled() -> bool {
    std::env::var("LAKESIGHT_PUSHDOWN_FILTERS").map_or(true, |v| v != "false")
}

/// The session settings lakesight runs with (see `../shared/reference/performance.md`):
/// partitions = cores, leaf-level struct projection left on, and filter pushdown into the Parquet
/// decoder (with filter reordering) ON. The reference measured pushdown slower for a filter on the
/// `unmapped` map, but on the series templates — time-range and status filters on typed columns —
/// it halved the series stage of a 30-day, 19M-row nightly run (6.3–6.9 s → 3.1–3.4 s wall, peak
/// RSS 222 → 188 MB, `benches/run_vs_duckdb.sh`). `LAKESIGHT_PUSHDOWN_FILTERS=false` turns it off.
pub fn session_config() -> SessionConfig {
    let mut cfg = SessionConfig::new()
        .with_target_partitions(std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2))
        .with_information_schema(true)
        .with_default_catalog_and_schema("datafusion", "public");
    let opts = cfg.options_mut();
    // Off at the session level: DataFusion ORs the session's and the scan's setting, and the lake
    // tables' scans set it (see [`pushdown_filters_enabled`]).
    opts.execution.parquet.pushdown_filters = false;
    opts.execution.parquet.reorder_filters = false;
    opts.execution.parquet.pruning = true;
    cfg
}

/// How much memory the engine's operators (aggregations, sorts, joins, ordered `array_agg`) may
/// hold, and where they spill beyond it.
///
/// Why a pool: without one DataFusion grows its hash tables with the day, so a 100M-event day
/// needs several times the memory of a 10M one and a container is killed by the kernel with no
/// message. With a [`FairSpillPool`] the operators that can spill (sorts, grouped aggregations)
/// write runs to `spill_dir` once their share is used, and one that cannot fails with
/// [`LakeError::MemoryExhausted`], which names the setting to raise. The pool bounds DataFusion's
/// own buffers only: Parquet decoding buffers of the scans in flight, the collected results and
/// the detectors come on top (README *Memory*; `benches/big_day.sh` measures the whole process).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemoryOptions {
    /// Pool size in bytes; `None` = unbounded (DataFusion's default; `lakesight query`).
    pub limit: Option<usize>,
    /// Folder for spill files; `None` = the OS temporary folder.
    pub spill_dir: Option<PathBuf>,
}

impl MemoryOptions {
    /// The session settings for this pool: each sort partition holds `sort_spill_reservation_bytes`
    /// (10 MiB by default) that cannot spill, so with 16 scan partitions (an S3 lake) one `ORDER BY`
    /// would hold 160 MiB of a 64 MiB pool; the reservation is cut to a quarter of the pool's share
    /// per partition.
    fn session(&self, mut config: SessionConfig) -> SessionConfig {
        if let Some(limit) = self.limit {
            let parts = config.target_partitions().max(1);
            let opts = config.options_mut();
            opts.execution.sort_spill_reservation_bytes =
                opts.execution.sort_spill_reservation_bytes.min(limit / (4 * parts)).max(64 << 10);
        }
        config
    }

    fn runtime(&self) -> Result<Arc<RuntimeEnv>> {
        let mut b = RuntimeEnvBuilder::new();
        if let Some(limit) = self.limit {
            // TrackConsumersPool: an exhausted pool's error names the largest consumers.
            let top = NonZeroUsize::new(5).unwrap_or(NonZeroUsize::MIN);
            b = b.with_memory_pool(Arc::new(TrackConsumersPool::new(FairSpillPool::new(limit), top)));
        }
        if let Some(dir) = &self.spill_dir {
            std::fs::create_dir_all(dir).map_err(|e| LakeError::io(dir, e))?;
            b = b.with_temp_file_path(dir.clone());
        }
        Ok(b.build_arc()?)
    }

    /// Turn a query's error into [`LakeError::MemoryExhausted`] when the pool ran out.
    fn explain(&self, e: datafusion::error::DataFusionError) -> LakeError {
        match (self.limit, e.find_root()) {
            (Some(limit), datafusion::error::DataFusionError::ResourcesExhausted(detail)) => LakeError::MemoryExhausted {
                limit_mib: limit / (1 << 20),
                detail: detail.clone(),
            },
            _ => LakeError::DataFusion(e),
        }
    }
}

/// A lake opened for querying.
pub struct Engine {
    /// The DataFusion session.
    pub ctx: SessionContext,
    /// What was found.
    pub catalog: Arc<Catalog>,
    /// Views that could be built (families present in the lake).
    pub views: Vec<&'static str>,
    /// The memory pool's settings (for the error of an exhausted pool).
    memory: MemoryOptions,
}

impl Engine {
    /// Open a lake URL and register everything.
    pub async fn open(url: &str, opts: &CatalogOptions) -> Result<Engine> {
        let location = LakeLocation::open(url, &opts.s3, false)
            .await
            .map_err(|crate::store::StoreError::Url { url, reason }| LakeError::Url { url, reason })?;
        let catalog = Catalog::open(location, opts).await?;
        Engine::from_catalog(catalog, &opts.memory).await
    }

    /// Register a catalog that is already open, with its memory pool.
    pub async fn from_catalog(mut catalog: Catalog, memory: &MemoryOptions) -> Result<Engine> {
        let mut config = session_config();
        if catalog.location.local.is_none() {
            // Object stores answer each range request after a round trip: read more files at once
            // than there are cores, so the requests overlap (the decode work is still bounded by
            // the runtime's threads).
            let cores = config.target_partitions();
            let wanted = std::env::var("LAKESIGHT_REMOTE_PARTITIONS")
                .ok()
                .and_then(|v| v.parse::<usize>().ok())
                .unwrap_or(REMOTE_PARTITIONS);
            config = config.with_target_partitions(cores.max(wanted));
        }
        let ctx = SessionContext::new_with_config_rt(memory.session(config), memory.runtime()?);
        let store_url = Url::parse(&catalog.location.store_url).map_err(|e| LakeError::Url {
            url: catalog.location.store_url.clone(),
            reason: e.to_string(),
        })?;
        ctx.register_object_store(&store_url, catalog.location.store.clone());
        // The footers the catalog read go to DataFusion's metadata cache: each file's footer is
        // fetched and parsed once per process, not once by the catalog and again by the scan.
        let rt = ctx.runtime_env();
        for f in catalog.tables.iter_mut().flat_map(|t| t.files.iter_mut()) {
            if let Some(footer) = f.footer.take() {
                super::table::cache_footer(&rt, &f.meta, footer);
            }
        }
        trino::register(&ctx);

        let default = ctx
            .catalog("datafusion")
            .ok_or_else(|| LakeError::Schema("no default catalog".into()))?;
        let aws = Arc::new(MemoryCatalogProvider::new());
        for t in &catalog.tables {
            let provider = Arc::new(LakeTableProvider::new(t, &catalog.location.store_url)?.with_deferred(
                t,
                catalog.location.store.clone(),
                catalog.location.local.is_none(),
                catalog.lazily.clone(),
            ));
            ctx.register_table(t.glue_name.as_str(), provider.clone())?;
            let schema = match default.schema(&t.database) {
                Some(s) => s,
                None => {
                    let s: Arc<dyn SchemaProvider> = Arc::new(MemorySchemaProvider::new());
                    default.register_schema(&t.database, s.clone())?;
                    aws.register_schema(&t.database, s.clone())?;
                    s
                }
            };
            schema.register_table(t.glue_name.clone(), provider)?;
        }
        ctx.register_catalog("awsdatacatalog", aws);
        default.register_schema("lakesight", Arc::new(MemorySchemaProvider::new()))?;

        let tables: Vec<_> = catalog.tables.iter().collect();
        let mut views = Vec::new();
        for v in VIEWS {
            if let Some(body) = view_sql(Dialect::DataFusion, v, &tables) {
                let plan = ctx.state().create_logical_plan(&body).await?;
                let view = datafusion::datasource::ViewTable::new(plan, Some(body));
                ctx.register_table(format!("lakesight.{}", v.name).as_str(), Arc::new(view))?;
                views.push(v.name);
            }
        }
        Ok(Engine {
            ctx,
            catalog: Arc::new(catalog),
            views,
            memory: memory.clone(),
        })
    }

    /// Plan a SQL query (Trino dialect extensions accepted: lambdas, `CAST(x AS IPADDRESS)`).
    pub async fn sql(&self, sql: &str) -> Result<DataFrame> {
        Ok(trino::sql(&self.ctx, sql).await?)
    }

    /// Run a SQL query and collect its batches.
    ///
    /// A file whose footer is sound but whose data cannot be decoded (invalid UTF-8 in a string
    /// column, a corrupt page) fails the query that reads it, without naming it. Then every file
    /// the query read is read whole, once; those that fail are skipped for the rest of the run —
    /// named with the decoder's message in [`Catalog::all_skipped`], so the manifest lists them and
    /// the days computed from then on are not stored in the rollup store — and the query runs
    /// again without them. Queries before it used the file's rows (they decoded), and days they
    /// stored keep them. The error stands when no file fails alone.
    pub async fn collect(&self, sql: &str) -> Result<Vec<RecordBatch>> {
        let mut rounds = 0;
        loop {
            let df = self.sql(sql).await?;
            let task = Arc::new(df.task_ctx());
            let plan = df.create_physical_plan().await?;
            match datafusion::physical_plan::collect(plan.clone(), task).await {
                Ok(b) => return Ok(b),
                Err(e) if rounds < 3 && decode_error(&e) && self.quarantine(&plan).await > 0 => rounds += 1,
                Err(e) => return Err(self.memory.explain(e)),
            }
        }
    }

    /// Read whole every file `plan` scans; skip for the rest of the run those that fail. Returns
    /// how many were newly skipped.
    async fn quarantine(&self, plan: &Arc<dyn datafusion::physical_plan::ExecutionPlan>) -> usize {
        use futures::StreamExt;
        let mut metas = Vec::new();
        scanned_files(plan, &mut metas);
        let log = &self.catalog.lazily;
        {
            let q = log.quarantined.lock().unwrap_or_else(|e| e.into_inner());
            metas.retain(|m| !q.contains(&m.location));
        }
        tracing::warn!(
            files = metas.len(),
            "a query failed decoding its input; reading each of its files to find the bad ones"
        );
        let store = self.catalog.location.store.clone();
        let probed: Vec<(object_store::ObjectMeta, std::result::Result<(), (String, bool)>)> = futures::stream::iter(metas)
            .map(|m| {
                let store = store.clone();
                async move {
                    let r = super::catalog::probe(store, &m).await;
                    (m, r)
                }
            })
            .buffer_unordered(4)
            .collect()
            .await;
        // When the store fails (not a file), nothing is skipped: the query's error stands.
        if probed.iter().any(|(_, r)| matches!(r, Err((_, true)))) {
            return 0;
        }
        let bad: Vec<(object_store::ObjectMeta, String)> = probed
            .into_iter()
            .filter_map(|(m, r)| r.err().map(|(reason, _)| (m, reason)))
            .collect();
        let mut n = 0;
        for (m, reason) in bad {
            if log.quarantined.lock().unwrap_or_else(|e| e.into_inner()).insert(m.location.clone()) {
                log.skip(&m.location, reason);
                n += 1;
            }
        }
        n
    }
}

/// True for an error raised while decoding Parquet or Arrow data (not planning, memory or I/O).
fn decode_error(e: &datafusion::error::DataFusionError) -> bool {
    use datafusion::error::DataFusionError as E;
    if super::catalog::caused_by_store(e) {
        return false;
    }
    match e.find_root() {
        // Only the Parquet decoder's errors: an Arrow cast or overflow in the query's own
        // expressions is the query's, and must not make the engine read every file of it whole.
        E::ParquetError(_) => true,
        E::ArrowError(a, _) => matches!(a.as_ref(), arrow::error::ArrowError::ParquetError(_)),
        E::External(x) => x.downcast_ref::<parquet::errors::ParquetError>().is_some(),
        _ => false,
    }
}

/// The files every Parquet scan of `plan` reads.
fn scanned_files(plan: &Arc<dyn datafusion::physical_plan::ExecutionPlan>, out: &mut Vec<object_store::ObjectMeta>) {
    use datafusion::datasource::physical_plan::FileScanConfig;
    use datafusion::datasource::source::DataSourceExec;
    if let Some(ds) = plan.downcast_ref::<DataSourceExec>() {
        if let Some(c) = ds.data_source().downcast_ref::<FileScanConfig>() {
            out.extend(c.file_groups.iter().flat_map(|g| g.iter()).map(|f| f.object_meta.clone()));
        }
    }
    for c in plan.children() {
        scanned_files(c, out);
    }
}

#[async_trait::async_trait]
impl super::SqlRunner for Engine {
    async fn run_sql(&self, _label: &str, sql: &str) -> Result<Vec<RecordBatch>> {
        self.collect(sql).await
    }

    fn skipped_inputs(&self) -> Vec<String> {
        let c = &self.catalog;
        c.all_skipped().into_iter().chain(c.narrowed()).map(|s| s.path).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::physical_plan::ExecutionPlan;

    fn spills(plan: &Arc<dyn ExecutionPlan>) -> usize {
        plan.metrics().and_then(|m| m.spill_count()).unwrap_or(0) + plan.children().into_iter().map(spills).sum::<usize>()
    }

    fn memory(limit: usize, dir: &std::path::Path) -> MemoryOptions {
        MemoryOptions {
            limit: Some(limit),
            spill_dir: Some(dir.to_path_buf()),
        }
    }

    /// A session as the engine makes it for a local lake on two cores, whatever this machine has
    /// (each sort partition holds memory that cannot spill, so the partition count matters).
    fn ctx(m: &MemoryOptions) -> SessionContext {
        let config = session_config().with_target_partitions(2);
        SessionContext::new_with_config_rt(m.session(config), m.runtime().unwrap())
    }

    /// A grouped aggregation of 8M rows into 2M groups, sorted (~50 MB of keys and states), finishes
    /// under the smallest pool a job accepts (64 MiB) by spilling to the configured folder, with the same rows as without a pool.
    #[tokio::test]
    async fn sorts_and_aggregations_spill_instead_of_growing_past_the_pool() {
        let dir = tempfile::tempdir().unwrap();
        let sql = "SELECT v % 2000003 AS k, count(*) AS n, max(v) AS m FROM (SELECT value AS v FROM generate_series(1, 8000000)) \
                   GROUP BY v % 2000003 ORDER BY m DESC";
        let limited = ctx(&memory(64 << 20, dir.path()));
        let df = limited.sql(sql).await.unwrap();
        let plan = df.create_physical_plan().await.unwrap();
        let rows: usize = datafusion::physical_plan::collect(plan.clone(), limited.task_ctx())
            .await
            .unwrap()
            .iter()
            .map(|b| b.num_rows())
            .sum();
        assert_eq!(rows, 2_000_003);
        assert!(spills(&plan) > 0, "nothing spilled under a 64 MiB pool");
        let free = SessionContext::new_with_config(session_config());
        let first = free.sql(&format!("{sql} LIMIT 3")).await.unwrap().collect().await.unwrap();
        let first_limited = limited.sql(&format!("{sql} LIMIT 3")).await.unwrap().collect().await.unwrap();
        assert_eq!(
            arrow::util::pretty::pretty_format_batches(&first).unwrap().to_string(),
            arrow::util::pretty::pretty_format_batches(&first_limited).unwrap().to_string()
        );
    }

    /// An operator that cannot spill (a hash join's build side of 3M rows) fails with
    /// `MemoryExhausted`, whose message names the setting to raise, not with a bare DataFusion error.
    #[tokio::test]
    async fn a_query_that_cannot_spill_names_the_memory_setting() {
        let dir = tempfile::tempdir().unwrap();
        let m = memory(8 << 20, dir.path());
        let c = ctx(&m);
        let sql = "SELECT count(*) FROM (SELECT value AS v FROM generate_series(1, 3000000)) a \
                   JOIN (SELECT value AS v FROM generate_series(1, 3000000)) b ON a.v = b.v";
        let err = c.sql(sql).await.unwrap().collect().await.unwrap_err();
        let e = m.explain(err);
        assert!(matches!(e, LakeError::MemoryExhausted { limit_mib: 8, .. }), "{e}");
        assert!(e.to_string().contains("[job] memory_limit"), "{e}");
    }
}
