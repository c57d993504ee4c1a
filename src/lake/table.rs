//! A DataFusion table over an explicit list of live Parquet files with their partition values.
//!
//! Why not `ListingTable`: it re-lists the prefix at every query and would read files the catalog
//! already rejected (corrupt, conflicting schema), failing the whole query; and for Iceberg the live
//! files come from a snapshot, not from a listing. This provider prunes files on the partition
//! columns (`region`, `accountid`, `eventday`) by evaluating the query's partition filters against
//! each file's values, prunes days from `time`/`time_dt` range predicates, and hands the survivors to
//! DataFusion's own Parquet scan, which does leaf-level projection, row-group pruning and schema
//! adaptation (missing nested fields read as NULL) under the merged table schema.
//!
//! Deferred files (days whose footers the catalog did not read, see [`super::catalog`]) are pruned
//! the same way; the first scan that keeps one reads its footer, checks it against the table's
//! schema, hands it to DataFusion's metadata cache and uses it — or skips it, counted in
//! [`LazilyOpened`] with its reason, as the catalog would have. A file is read once per process
//! (two scans reaching it at the same moment may both read it; only the first result counts).

use std::collections::HashSet;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, BooleanArray, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use async_trait::async_trait;
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{Column, DFSchema, ScalarValue};
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::file_format::FileFormat;
use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::physical_plan::{FileGroup, FileScanConfigBuilder};
use datafusion::datasource::table_schema::TableSchema;
use datafusion::datasource::TableType;
use datafusion::error::Result as DfResult;
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::logical_expr::{Between, BinaryExpr, Expr, Operator, TableProviderFilterPushDown};
use datafusion::physical_plan::empty::EmptyExec;
use datafusion::physical_plan::ExecutionPlan;

use std::collections::HashMap;
use std::sync::Mutex;

use futures::StreamExt;
use object_store::ObjectStore;

use super::catalog::{LakeFile, LakeTable, LazilyOpened, Skipped, PARTITION_COLUMNS};

/// The provider registered for every lake table.
#[derive(Debug)]
pub struct LakeTableProvider {
    files: Vec<LakeFile>,
    deferred: Option<Deferred>,
    /// What the catalog's queries found (quarantined files are never scanned again).
    log: Option<Arc<LazilyOpened>>,
    file_schema: SchemaRef,
    schema: SchemaRef,
    store_url: ObjectStoreUrl,
}

impl LakeTableProvider {
    /// Build from a catalog table.
    pub fn new(t: &LakeTable, store_url: &str) -> DfResult<Self> {
        let mut fields: Vec<Field> = t.schema.fields().iter().map(|f| f.as_ref().clone()).collect();
        for p in PARTITION_COLUMNS {
            fields.push(Field::new(p, DataType::Utf8, false));
        }
        Ok(Self {
            files: t.files.clone(),
            deferred: None,
            log: None,
            file_schema: t.schema.clone(),
            schema: Arc::new(Schema::new(fields)),
            store_url: ObjectStoreUrl::parse(store_url)?,
        })
    }

    /// Serve the table's deferred files too, reading their footers from `store` when a scan first
    /// reaches them and reporting what it found to `log`; never scan a file `log` quarantined.
    pub fn with_deferred(mut self, t: &LakeTable, store: Arc<dyn ObjectStore>, remote: bool, log: Arc<LazilyOpened>) -> Self {
        self.log = Some(log.clone());
        if !t.deferred.is_empty() {
            self.deferred = Some(Deferred {
                files: t.deferred.clone(),
                opened: Mutex::new(HashMap::new()),
                store,
                concurrency: if remote { 64 } else { 16 },
                log,
            });
        }
        self
    }

    fn partition_fields() -> Vec<Arc<Field>> {
        PARTITION_COLUMNS
            .iter()
            .map(|p| Arc::new(Field::new(*p, DataType::Utf8, false)))
            .collect()
    }

    /// Files of `files` that survive the partition filters and the day bounds.
    fn prune<'a>(files: &'a [LakeFile], state: &dyn Session, filters: &[Expr]) -> DfResult<Vec<&'a LakeFile>> {
        let mut keep: Vec<bool> = vec![true; files.len()];
        let part_filters: Vec<Expr> = filters.iter().filter(|f| only_partition_columns(f)).cloned().collect();
        if let Some(pred) = part_filters.into_iter().map(strip_qualifiers).reduce(|a, b| a.and(b)) {
            let pschema = Arc::new(Schema::new(Self::partition_fields()));
            let cols: Vec<ArrayRef> = vec![
                Arc::new(StringArray::from_iter_values(files.iter().map(|f| f.region.as_str()))),
                Arc::new(StringArray::from_iter_values(files.iter().map(|f| f.account.as_str()))),
                Arc::new(StringArray::from_iter_values(files.iter().map(|f| f.event_day.as_str()))),
            ];
            let batch = RecordBatch::try_new(pschema.clone(), cols)?;
            let dfs = DFSchema::try_from(pschema.as_ref().clone())?;
            let phys = state.create_physical_expr(pred, &dfs)?;
            let out = phys.evaluate(&batch)?.into_array(batch.num_rows())?;
            if let Some(mask) = out.as_any().downcast_ref::<BooleanArray>() {
                for (i, k) in keep.iter_mut().enumerate() {
                    *k &= mask.is_valid(i) && mask.value(i);
                }
            }
        }
        let (lo, hi) = day_bounds(filters);
        for (i, f) in files.iter().enumerate() {
            if let Some(lo) = &lo {
                keep[i] &= f.event_day.as_str() >= lo.as_str();
            }
            if let Some(hi) = &hi {
                keep[i] &= f.event_day.as_str() <= hi.as_str();
            }
        }
        Ok(files.iter().zip(keep).filter(|(_, k)| *k).map(|(f, _)| f).collect())
    }
}

/// Hand a footer to DataFusion's metadata cache, so the scan neither fetches nor parses it again.
pub(super) fn cache_footer(
    rt: &datafusion::execution::runtime_env::RuntimeEnv,
    meta: &object_store::ObjectMeta,
    footer: Arc<parquet::file::metadata::ParquetMetaData>,
) {
    use datafusion::datasource::physical_plan::parquet::metadata::CachedParquetMetaData;
    use datafusion::execution::cache::cache_manager::CachedFileMetadataEntry;
    rt.cache_manager.get_file_metadata_cache().put(
        &meta.location,
        CachedFileMetadataEntry::new(meta.clone(), Arc::new(CachedParquetMetaData::new(footer))),
    );
}

/// A table's deferred files and what became of those a scan reached.
#[derive(Debug)]
struct Deferred {
    files: Vec<LakeFile>,
    /// By path: usable (footer read, schema fits) or skipped.
    opened: Mutex<HashMap<object_store::path::Path, bool>>,
    store: Arc<dyn ObjectStore>,
    concurrency: usize,
    log: Arc<LazilyOpened>,
}

impl Deferred {
    /// The usable ones of `wanted`, reading the footers of those no scan read before.
    async fn open(&self, state: &dyn Session, table_schema: &Schema, wanted: Vec<&LakeFile>) -> DfResult<Vec<LakeFile>> {
        use std::sync::atomic::Ordering::Relaxed;
        let todo: Vec<&LakeFile> = {
            let opened = self.opened.lock().unwrap_or_else(|e| e.into_inner());
            wanted.iter().filter(|f| !opened.contains_key(&f.meta.location)).copied().collect()
        };
        if !todo.is_empty() {
            tracing::debug!(files = todo.len(), "reading deferred footers");
            let metas: Vec<object_store::ObjectMeta> = todo.iter().map(|f| f.meta.clone()).collect();
            let read: Vec<(object_store::ObjectMeta, Result<super::catalog::Footer, (String, bool)>)> = futures::stream::iter(metas)
                .map(|meta| {
                    let store = self.store.clone();
                    async move {
                        let r = super::catalog::read_footer_or_io(store, &meta, false).await;
                        (meta, r)
                    }
                })
                .buffer_unordered(self.concurrency)
                .collect()
                .await;
            // The store failing (not the file) fails the query: the file may be sound, and skipping
            // it would drop its rows without cause.
            let read: Vec<_> = read
                .into_iter()
                .map(|(m, r)| super::catalog::store_failure((m, (), r)).map(|(m, (), r)| (m, r)))
                .collect::<super::Result<_>>()
                .map_err(|e| datafusion::error::DataFusionError::External(Box::new(e)))?;
            let mut opened = self.opened.lock().unwrap_or_else(|e| e.into_inner());
            for (meta, r) in read {
                if opened.contains_key(&meta.location) {
                    continue; // another scan read it meanwhile
                }
                let usable = match r
                    .and_then(|(schema, rows, footer)| super::catalog::fits(table_schema, &schema).map(|all| (all, rows, footer)))
                {
                    Ok((all, rows, footer)) => {
                        if !all {
                            let reason = "carries fields the table's schema (from the days read when the lake was opened) lacks; they read as NULL and its day is not stored".to_string();
                            tracing::warn!(path = %meta.location, %reason, "deferred file read under a narrower schema");
                            self.log.narrowed.lock().unwrap_or_else(|e| e.into_inner()).push(Skipped {
                                path: meta.location.to_string(),
                                reason,
                            });
                        }
                        cache_footer(state.runtime_env(), &meta, footer);
                        self.log.files.fetch_add(1, Relaxed);
                        self.log.rows.fetch_add(rows, Relaxed);
                        true
                    }
                    Err(reason) => {
                        self.log.skip(&meta.location, reason);
                        false
                    }
                };
                opened.insert(meta.location, usable);
            }
        }
        let opened = self.opened.lock().unwrap_or_else(|e| e.into_inner());
        Ok(wanted
            .into_iter()
            .filter(|f| opened.get(&f.meta.location) == Some(&true))
            .cloned()
            .collect())
    }
}

fn only_partition_columns(e: &Expr) -> bool {
    let cols = e.column_refs();
    !cols.is_empty() && cols.iter().all(|c| PARTITION_COLUMNS.contains(&c.name.as_str()))
}

fn strip_qualifiers(e: Expr) -> Expr {
    e.transform(|e| {
        Ok(match e {
            Expr::Column(c) if c.relation.is_some() => Transformed::yes(Expr::Column(Column::new_unqualified(c.name))),
            other => Transformed::no(other),
        })
    })
    .map(|t| t.data)
    .unwrap_or_else(|_| Expr::Literal(ScalarValue::Boolean(Some(true)), None))
}

/// Inclusive `YYYYMMDD` bounds implied by `time` (epoch ms) / `time_dt` (timestamp) predicates.
/// Only simple conjunct shapes are read (`col op literal`, `BETWEEN`); anything else bounds nothing.
fn day_bounds(filters: &[Expr]) -> (Option<String>, Option<String>) {
    let mut lo: Option<i64> = None;
    let mut hi: Option<i64> = None;
    let mut terms: Vec<&Expr> = Vec::new();
    fn split<'a>(e: &'a Expr, out: &mut Vec<&'a Expr>) {
        if let Expr::BinaryExpr(BinaryExpr {
            left,
            op: Operator::And,
            right,
        }) = e
        {
            split(left, out);
            split(right, out);
        } else {
            out.push(e);
        }
    }
    for f in filters {
        split(f, &mut terms);
    }
    let mut lower = |v: i64| lo = Some(lo.map_or(v, |x| x.max(v)));
    let mut upper_vals: Vec<i64> = Vec::new();
    for t in terms {
        match t {
            Expr::BinaryExpr(BinaryExpr { left, op, right }) => {
                let (col, lit, op) = match (time_col(left), lit_ms(right)) {
                    (true, Some(v)) => (true, v, *op),
                    _ => match (lit_ms(left), time_col(right)) {
                        (Some(v), true) => (true, v, op.swap().unwrap_or(*op)),
                        _ => (false, 0, *op),
                    },
                };
                if !col {
                    continue;
                }
                match op {
                    Operator::Gt | Operator::GtEq => lower(lit),
                    Operator::Lt | Operator::LtEq => upper_vals.push(lit),
                    Operator::Eq => {
                        lower(lit);
                        upper_vals.push(lit);
                    }
                    _ => {}
                }
            }
            Expr::Between(Between {
                expr,
                negated: false,
                low,
                high,
            }) if time_col(expr) => {
                if let (Some(a), Some(b)) = (lit_ms(low), lit_ms(high)) {
                    lower(a);
                    upper_vals.push(b);
                }
            }
            _ => {}
        }
    }
    for v in upper_vals {
        hi = Some(hi.map_or(v, |x: i64| x.min(v)));
    }
    let fmt = |ms: i64| chrono::DateTime::from_timestamp_millis(ms).map(|d| d.format("%Y%m%d").to_string());
    (lo.and_then(fmt), hi.and_then(fmt))
}

fn time_col(e: &Expr) -> bool {
    match e {
        Expr::Column(c) => c.name == "time" || c.name == "time_dt",
        Expr::Cast(c) => time_col(&c.expr),
        Expr::TryCast(c) => time_col(&c.expr),
        _ => false,
    }
}

fn lit_ms(e: &Expr) -> Option<i64> {
    match e {
        Expr::Literal(v, _) => match v {
            ScalarValue::Int64(Some(x)) => Some(*x),
            ScalarValue::TimestampSecond(Some(x), _) => x.checked_mul(1000),
            ScalarValue::TimestampMillisecond(Some(x), _) => Some(*x),
            ScalarValue::TimestampMicrosecond(Some(x), _) => Some(x.div_euclid(1000)),
            ScalarValue::TimestampNanosecond(Some(x), _) => Some(x.div_euclid(1_000_000)),
            _ => None,
        },
        Expr::Cast(c) => lit_ms(&c.expr),
        _ => None,
    }
}

#[async_trait]
impl TableProvider for LakeTableProvider {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(&self, filters: &[&Expr]) -> DfResult<Vec<TableProviderFilterPushDown>> {
        Ok(filters
            .iter()
            .map(|f| {
                if only_partition_columns(f) {
                    TableProviderFilterPushDown::Exact
                } else {
                    TableProviderFilterPushDown::Inexact
                }
            })
            .collect())
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let mut files: Vec<LakeFile> = Self::prune(&self.files, state, filters)?.into_iter().cloned().collect();
        if let Some(d) = &self.deferred {
            let wanted = Self::prune(&d.files, state, filters)?;
            if !wanted.is_empty() {
                files.extend(d.open(state, &self.file_schema, wanted).await?);
            }
        }
        if let Some(log) = &self.log {
            let q = log.quarantined.lock().unwrap_or_else(|e| e.into_inner());
            if !q.is_empty() {
                files.retain(|f| !q.contains(&f.meta.location));
            }
        }
        if files.is_empty() {
            let projected = match projection {
                Some(p) => Arc::new(self.schema.project(p)?),
                None => self.schema.clone(),
            };
            return Ok(Arc::new(EmptyExec::new(projected)));
        }
        let target = state.config().target_partitions().max(1);
        let mut sorted = files;
        sorted.sort_by(|a, b| b.meta.size.cmp(&a.meta.size));
        // Greedy balance by bytes: largest file to the lightest group.
        let n_groups = target.min(sorted.len());
        let mut groups: Vec<(u64, Vec<PartitionedFile>)> = (0..n_groups).map(|_| (0, Vec::new())).collect();
        for f in sorted {
            let g = groups.iter_mut().min_by_key(|g| g.0).expect("at least one group");
            g.0 += f.meta.size;
            g.1.push(PartitionedFile::new_from_meta(f.meta.clone()).with_partition_values(vec![
                ScalarValue::Utf8(Some(f.region.clone())),
                ScalarValue::Utf8(Some(f.account.clone())),
                ScalarValue::Utf8(Some(f.event_day.clone())),
            ]));
        }
        let mut options = state.table_options().parquet.clone();
        // Safe on files that differ from the table schema because of `lake::adapt` (see there).
        let pushdown = super::engine::pushdown_filters_enabled();
        options.global.pushdown_filters = pushdown;
        options.global.reorder_filters = pushdown;
        let format = ParquetFormat::default().with_options(options);
        let source = format.file_source(TableSchema::new(self.file_schema.clone(), Self::partition_fields()));
        let conf = FileScanConfigBuilder::new(self.store_url.clone(), source)
            .with_file_groups(groups.into_iter().map(|g| FileGroup::new(g.1)).collect())
            .with_projection_indices(projection.cloned())?
            .with_limit(limit)
            .with_expr_adapter(Some(Arc::new(super::adapt::LeafAdapterFactory)))
            .build();
        format.create_physical_plan(state, conf).await
    }
}

/// Names of the partition columns, for callers that build SQL.
pub fn partition_column_set() -> HashSet<&'static str> {
    PARTITION_COLUMNS.iter().copied().collect()
}
