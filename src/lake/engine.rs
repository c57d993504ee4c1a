//! The embedded engine: a DataFusion session with the lake's tables, views and Trino functions.
//!
//! Tables are reachable as `amazon_security_lake_table_<region>_<source>_<x>_<y>` (default schema),
//! as `amazon_security_lake_glue_db_<region>.<table>` (the Glue database, as analysts write it in
//! Athena) and as `awsdatacatalog.<db>.<table>`. The normalised views live in schema `lakesight`.

use std::sync::Arc;

use arrow::record_batch::RecordBatch;
use datafusion::catalog::{CatalogProvider, MemoryCatalogProvider, MemorySchemaProvider, SchemaProvider};
use datafusion::execution::config::SessionConfig;
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

/// A lake opened for querying.
pub struct Engine {
    /// The DataFusion session.
    pub ctx: SessionContext,
    /// What was found.
    pub catalog: Arc<Catalog>,
    /// Views that could be built (families present in the lake).
    pub views: Vec<&'static str>,
}

impl Engine {
    /// Open a lake URL and register everything.
    pub async fn open(url: &str, opts: &CatalogOptions) -> Result<Engine> {
        let location = LakeLocation::open(url, &opts.s3, false)
            .await
            .map_err(|crate::store::StoreError::Url { url, reason }| LakeError::Url { url, reason })?;
        let catalog = Catalog::open(location, opts).await?;
        Engine::from_catalog(catalog).await
    }

    /// Register a catalog that is already open.
    pub async fn from_catalog(mut catalog: Catalog) -> Result<Engine> {
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
        let ctx = SessionContext::new_with_config(config);
        let store_url = Url::parse(&catalog.location.store_url).map_err(|e| LakeError::Url {
            url: catalog.location.store_url.clone(),
            reason: e.to_string(),
        })?;
        ctx.register_object_store(&store_url, catalog.location.store.clone());
        // The footers the catalog read go to DataFusion's metadata cache: each file's footer is
        // fetched and parsed once per process, not once by the catalog and again by the scan.
        {
            use datafusion::datasource::physical_plan::parquet::metadata::CachedParquetMetaData;
            use datafusion::execution::cache::cache_manager::CachedFileMetadataEntry;
            let cache = ctx.runtime_env().cache_manager.get_file_metadata_cache();
            for f in catalog.tables.iter_mut().flat_map(|t| t.files.iter_mut()) {
                if let Some(footer) = f.footer.take() {
                    cache.put(
                        &f.meta.location,
                        CachedFileMetadataEntry::new(f.meta.clone(), Arc::new(CachedParquetMetaData::new(footer))),
                    );
                }
            }
        }
        trino::register(&ctx);

        let default = ctx
            .catalog("datafusion")
            .ok_or_else(|| LakeError::Schema("no default catalog".into()))?;
        let aws = Arc::new(MemoryCatalogProvider::new());
        for t in &catalog.tables {
            let provider = Arc::new(LakeTableProvider::new(t, &catalog.location.store_url)?);
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
        })
    }

    /// Plan a SQL query (Trino dialect extensions accepted: lambdas, `CAST(x AS IPADDRESS)`).
    pub async fn sql(&self, sql: &str) -> Result<DataFrame> {
        Ok(trino::sql(&self.ctx, sql).await?)
    }

    /// Run a SQL query and collect its batches.
    pub async fn collect(&self, sql: &str) -> Result<Vec<RecordBatch>> {
        Ok(self.sql(sql).await?.collect().await?)
    }
}

#[async_trait::async_trait]
impl super::SqlRunner for Engine {
    async fn run_sql(&self, _label: &str, sql: &str) -> Result<Vec<RecordBatch>> {
        self.collect(sql).await
    }
}
