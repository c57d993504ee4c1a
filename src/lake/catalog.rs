//! The lake catalog: which Security Lake tables exist under a URL, and which files are live.
//!
//! Security Lake keys look like
//! `aws/<SOURCE>/<major.minor>/region=<r>/accountId=<a>/eventDay=<YYYYMMDD>/<file>.parquet` for native
//! sources and `ext/<name>/[<major.minor>/]region=…/accountId=…/eventDay=…/<file>` for custom ones.
//! One Glue table exists per region, source and version
//! (`amazon_security_lake_table_<region>_<source>_<x>_<y>` in database
//! `amazon_security_lake_glue_db_<region>`), spanning every account.
//!
//! Every file's footer is read once (in parallel): a corrupt or truncated file, or one whose
//! schema conflicts with its table's, is skipped with a warning naming it and counted in
//! [`Catalog::skipped`]; every good file is still read. Unknown versions and folders are skipped the
//! same way. Files whose name starts with `.` or `_` are writers' temporaries and are ignored.
//!
//! Footers are read when the catalog opens, except for days outside
//! [`CatalogOptions::footer_days`]: those files are listed (their names, sizes and ETags feed the
//! rollup store's fingerprints) but *deferred* — their footers are read by the table's scan the
//! first time a query reaches their day ([`super::table`]), with the same checks, and a bad one is
//! skipped then and counted in [`Catalog::lazily`]. Why: a nightly run with a warm rollup store
//! queries the lake for its newest days only, and reading a month of footers (tens of thousands of
//! requests on S3 for a large organisation) to compute nothing from them is what the store exists
//! to avoid.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use arrow::datatypes::{Schema, SchemaRef};
use futures::{StreamExt, TryStreamExt};
use object_store::path::Path as ObjPath;
use object_store::{ObjectMeta, ObjectStore};
use parquet::arrow::async_reader::ParquetObjectReader;
use parquet::arrow::ParquetRecordBatchStreamBuilder;
use serde::Serialize;

use super::ocsf::{SourceKind, SourceVersion};
use super::schema::{merge_schemas, normalise_schema, without_columns};
use super::{LakeError, Result};

/// Most footers the catalog keeps for the engine's metadata cache (see [`LakeFile::footer`]).
pub const MAX_KEPT_FOOTERS: usize = 4_000;

/// The partition columns every table shows, as Athena shows them (lower case).
pub const PARTITION_COLUMNS: [&str; 3] = ["region", "accountid", "eventday"];

/// Where a lake lives: an object store and a prefix in it (a local folder or `s3://`).
pub type LakeLocation = crate::store::Location;

/// One data file of a table.
#[derive(Debug, Clone)]
pub struct LakeFile {
    /// Object metadata (location, size).
    pub meta: ObjectMeta,
    /// `region` partition value.
    pub region: String,
    /// `accountid` partition value.
    pub account: String,
    /// `eventday` partition value, `YYYYMMDD`.
    pub event_day: String,
    /// Rows in the file (from its footer).
    pub rows: u64,
    /// The footer the catalog read, handed to DataFusion's metadata cache so the scan does not
    /// fetch and parse it a second time.
    pub footer: Option<Arc<parquet::file::metadata::ParquetMetaData>>,
}

/// What the queries found after the catalog opened, shared by every table of a catalog: deferred
/// footers read (see the module docs), and files whose data could not be decoded
/// ([`super::engine::Engine::collect`]).
#[derive(Debug, Default)]
pub struct LazilyOpened {
    /// Files that could not be used, with why.
    pub skipped: std::sync::Mutex<Vec<Skipped>>,
    /// Deferred files read under the table's schema although they carry fields it lacks (the
    /// table's schema comes from the days read at open): those fields read as NULL, so the
    /// file's day is treated as incomplete (not stored) and named in a warning.
    pub narrowed: std::sync::Mutex<Vec<Skipped>>,
    /// Files whose data pages could not be decoded (invalid UTF-8 in a string column, a corrupt
    /// page): no later scan reads them.
    pub quarantined: std::sync::Mutex<std::collections::HashSet<ObjPath>>,
    /// Deferred files whose footers were read and that are usable.
    pub files: std::sync::atomic::AtomicUsize,
    /// Their rows.
    pub rows: std::sync::atomic::AtomicU64,
}

impl LazilyOpened {
    /// Record a file found unusable after the catalog opened, and warn naming it.
    pub fn skip(&self, path: &ObjPath, reason: String) {
        tracing::warn!(%path, %reason, "skipping Parquet file");
        self.skipped.lock().unwrap_or_else(|e| e.into_inner()).push(Skipped {
            path: path.to_string(),
            reason,
        });
    }
}

/// One Glue table of the lake.
#[derive(Debug, Clone)]
pub struct LakeTable {
    /// `amazon_security_lake_table_us_east_1_cloud_trail_mgmt_2_0`.
    pub glue_name: String,
    /// `amazon_security_lake_glue_db_us_east_1`.
    pub database: String,
    /// `CLOUD_TRAIL_MGMT` or the custom source's name.
    pub source_name: String,
    /// Known native family or custom identity source.
    pub kind: Option<SourceKind>,
    /// True for `ext/` sources.
    pub custom: bool,
    /// Source version (`None` for an unversioned custom source).
    pub version: Option<SourceVersion>,
    /// Region.
    pub region: String,
    /// Live files whose footers were read.
    pub files: Vec<LakeFile>,
    /// Live files of days outside [`CatalogOptions::footer_days`]: listed, footer not read yet
    /// (`rows` 0, no footer); the scan reads it when a query reaches the file's day.
    pub deferred: Vec<LakeFile>,
    /// Merged file schema (without partition columns) of the files read when the catalog opened.
    pub schema: SchemaRef,
    /// Some file carries Parquet field ids (Iceberg writers write them). Such files always differ
    /// from the table schema (which drops metadata); DataFusion 54 then matched every row with a
    /// pushed-down nested-field predicate (`actor.user.uid IS NULL`), which `lake::adapt` prevents.
    /// Kept for the catalog's description and its regression test.
    pub field_ids: bool,
}

impl LakeTable {
    /// Rows of the files whose footers were read when the catalog opened.
    pub fn rows(&self) -> u64 {
        self.files.iter().map(|f| f.rows).sum()
    }
    /// Bytes of every live file, deferred ones included.
    pub fn bytes(&self) -> u64 {
        self.all_files().map(|f| f.meta.size).sum()
    }
    /// Distinct `eventday` values, deferred files included.
    pub fn days(&self) -> BTreeSet<String> {
        self.all_files().map(|f| f.event_day.clone()).collect()
    }
    /// Every live file: read and deferred.
    pub fn all_files(&self) -> impl Iterator<Item = &LakeFile> {
        self.files.iter().chain(self.deferred.iter())
    }
}

/// An input that was not read, and why.
#[derive(Debug, Clone, Serialize)]
pub struct Skipped {
    /// Object path.
    pub path: String,
    /// Why it was skipped.
    pub reason: String,
}

/// Options for opening a catalog.
#[derive(Debug, Clone, Default)]
pub struct CatalogOptions {
    /// Only keep files whose `eventDay` lies in this inclusive `YYYYMMDD` range (others are not
    /// opened at all, which is what keeps a nightly run's cost to the days it needs).
    pub days: Option<(String, String)>,
    /// Read footers now only of the files whose `eventDay` lies in this inclusive range; the
    /// others of `days` are deferred to the first scan that reaches them. `None` = read all now.
    /// A table with no file in the range still has its newest file read, for its schema.
    pub footer_days: Option<(String, String)>,
    /// S3 settings for `s3://` lakes.
    pub s3: crate::store::S3Options,
    /// Only open these Glue tables (footers of other tables are never read). `None` = all.
    /// `lakesight query` sets it from the tables its SQL names, so an ad-hoc query over one table
    /// does not pay for reading the footers of the whole lake.
    pub only_tables: Option<BTreeSet<String>>,
    /// The embedded engine's memory pool and spill folder.
    pub memory: super::engine::MemoryOptions,
    /// A later first day (`YYYYMMDD`) for the native tables of some source families: a run whose
    /// trend test reads 28 days of findings but whose other queries read 14 days of CloudTrail
    /// opens only those 14 (see [`CatalogOptions::first_day`]). Absent families start at `days`.
    pub source_from: BTreeMap<SourceKind, String>,
}

impl CatalogOptions {
    /// The inclusive `YYYYMMDD` range kept of a source's files: `days`, started later when
    /// [`CatalogOptions::source_from`] says so. A custom source (`ext/…`) counts as the
    /// identity-provider family, the only one the views read from custom sources.
    pub fn days_of(&self, source_name: &str, custom: bool) -> Option<(String, String)> {
        let (from, to) = self.days.clone()?;
        let kind = if custom {
            Some(SourceKind::ExtAuthentication)
        } else {
            SourceKind::from_key_name(source_name)
        };
        let later = kind.and_then(|k| self.source_from.get(&k));
        Some((later.filter(|l| **l > from).cloned().unwrap_or(from), to))
    }
}

/// The Glue tables a SQL text names explicitly, lower-cased; `None` when it (also) reads a
/// normalised `lakesight.` view or names no lake table, i.e. when the whole catalog is needed.
pub fn tables_named_in(sql: &str) -> Option<BTreeSet<String>> {
    let mut named = BTreeSet::new();
    let mut token = String::new();
    let mut uses_views = false;
    for c in sql.chars().chain(std::iter::once(' ')) {
        if c.is_ascii_alphanumeric() || c == '_' {
            token.push(c.to_ascii_lowercase());
            continue;
        }
        if token == "lakesight" {
            uses_views = true;
        } else if token.starts_with("amazon_security_lake_table_") {
            named.insert(std::mem::take(&mut token));
        }
        token.clear();
    }
    (!uses_views && !named.is_empty()).then_some(named)
}

/// All tables found under a lake URL.
#[derive(Debug, Clone)]
pub struct Catalog {
    /// Location.
    pub location: LakeLocation,
    /// Tables, sorted by Glue name.
    pub tables: Vec<LakeTable>,
    /// Inputs skipped with a reason.
    pub skipped: Vec<Skipped>,
    /// Objects that are not data (labels, manifests, temporaries) and were ignored.
    pub ignored: usize,
    /// Data files in Iceberg table folders that the current snapshot does not list (left behind by
    /// compaction or a failed write): never read.
    pub not_in_snapshot: usize,
    /// What the scans found reading deferred files.
    pub lazily: Arc<LazilyOpened>,
}

/// A parsed data key.
#[derive(Debug, Clone, PartialEq, Eq)]
struct KeyInfo {
    source_name: String,
    custom: bool,
    version: Option<SourceVersion>,
    region: String,
    account: String,
    event_day: String,
}

/// True for a region name like `us-east-1` or `us-gov-west-1`.
pub fn valid_region(r: &str) -> bool {
    let parts: Vec<&str> = r.split('-').collect();
    parts.len() >= 3
        && parts.len() <= 4
        && parts[0].len() == 2
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()))
        && parts.last().is_some_and(|p| p.bytes().all(|b| b.is_ascii_digit()))
}

fn valid_name(s: &str) -> bool {
    !s.is_empty() && s.len() <= 128 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Parse the part of a key below the lake root. `Ok(None)` = not a data file (ignore quietly);
/// `Err(reason)` = looks like lake data but cannot be used (skip and count).
fn parse_key(parts: &[&str]) -> std::result::Result<Option<KeyInfo>, String> {
    let Some(file) = parts.last() else { return Ok(None) };
    if file.starts_with('.') || file.starts_with('_') || !file.ends_with(".parquet") {
        return Ok(None);
    }
    let (custom, rest) = match parts.first() {
        Some(&"aws") => (false, &parts[1..]),
        Some(&"ext") => (true, &parts[1..]),
        _ => return Err("not under aws/ or ext/".into()),
    };
    let Some(source) = rest.first() else {
        return Err("no source folder".into());
    };
    if !valid_name(source) {
        return Err(format!("source folder {source:?} is not a valid source name"));
    }
    let mut i = 1;
    let mut version = None;
    if let Some(seg) = rest.get(1) {
        if !seg.contains('=') {
            match SourceVersion::from_key_segment(seg) {
                Some(v) => version = Some(v),
                None => return Err(format!("unknown source version {seg:?}")),
            }
            i = 2;
        }
    }
    if !custom && version.is_none() {
        return Err("native source without a version folder".into());
    }
    let kv = |idx: usize, key: &str| -> std::result::Result<String, String> {
        let seg = rest.get(idx).ok_or_else(|| format!("missing {key}= folder"))?;
        let (k, v) = seg.split_once('=').ok_or_else(|| format!("expected {key}=…, found {seg:?}"))?;
        if !k.eq_ignore_ascii_case(key) {
            return Err(format!("expected {key}=…, found {seg:?}"));
        }
        Ok(v.to_string())
    };
    let region = kv(i, "region")?;
    let account = kv(i + 1, "accountId")?;
    let event_day = kv(i + 2, "eventDay")?;
    if rest.len() != i + 4 {
        return Err("unexpected folder depth".into());
    }
    if !valid_region(&region) {
        return Err(format!("bad region {region:?}"));
    }
    if !(account == "external" || account.starts_with("external_") || (account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit())))
        || !valid_name(&account)
    {
        return Err(format!("bad accountId {account:?}"));
    }
    if event_day.len() != 8 || chrono::NaiveDate::parse_from_str(&event_day, "%Y%m%d").is_err() {
        return Err(format!("bad eventDay {event_day:?}"));
    }
    Ok(Some(KeyInfo {
        source_name: source.to_string(),
        custom,
        version,
        region,
        account,
        event_day,
    }))
}

/// Glue names `(database, table)` of a source.
pub fn glue_names(region: &str, source_name: &str, custom: bool, version: Option<SourceVersion>) -> (String, String) {
    let r = region.replace('-', "_");
    let db = format!("amazon_security_lake_glue_db_{r}");
    let src = if custom {
        format!("ext_{}", source_name.to_ascii_lowercase().replace('-', "_"))
    } else {
        source_name.to_ascii_lowercase()
    };
    let table = match version {
        Some(v) => format!("amazon_security_lake_table_{r}_{src}_{}", v.table_suffix()),
        None => format!("amazon_security_lake_table_{r}_{src}"),
    };
    (db, table)
}

impl Catalog {
    /// List the lake, read every footer, merge schemas. Never fails on bad data: bad inputs are
    /// skipped and counted; only an unusable location is an error.
    pub async fn open(location: LakeLocation, opts: &CatalogOptions) -> Result<Catalog> {
        let listed: Vec<ObjectMeta> = location
            .store
            .list(Some(&location.prefix))
            .try_collect()
            .await
            .map_err(|e| LakeError::Url {
                url: location.display.clone(),
                reason: format!("listing the lake: {}", crate::store::describe_error(&e)),
            })?;
        let mut skipped = Vec::new();
        let mut ignored = 0usize;
        let mut groups: BTreeMap<(String, String, bool, Option<SourceVersion>), Vec<(ObjectMeta, KeyInfo)>> = BTreeMap::new();
        let prefix_parts = location.prefix.parts().count();
        let rel_parts = |m: &ObjectMeta| -> Vec<String> { m.location.parts().skip(prefix_parts).map(|p| p.as_ref().to_string()).collect() };

        // Iceberg tables (native v2 sources): `aws/<SOURCE>/<x.y>/metadata/*.metadata.json`. Every
        // object under such a table's folder belongs to the table: only the files its current
        // snapshot lists are read, whatever else lies there.
        let mut iceberg: BTreeMap<(String, String), Vec<ObjectMeta>> = BTreeMap::new();
        for m in &listed {
            let p = rel_parts(m);
            if p.len() == 5 && p[0] == "aws" && p[3] == "metadata" && p[4].ends_with(".metadata.json") {
                iceberg.entry((p[1].clone(), p[2].clone())).or_default().push(m.clone());
            }
        }
        let mut iceberg_files: HashMap<ObjPath, String> = HashMap::new();
        let mut not_in_snapshot = 0usize;
        for ((source, ver), metas) in &iceberg {
            let rel = format!("aws/{source}/{ver}");
            let root = location.child(&rel);
            let Some(newest) = super::iceberg::newest_metadata(metas) else {
                continue;
            };
            let version = SourceVersion::from_key_segment(ver);
            if let (Some(only), Some(v)) = (&opts.only_tables, version) {
                // One Iceberg table serves every region's Glue table of the source.
                let suffix = format!("_{}_{}", source.to_ascii_lowercase(), v.table_suffix());
                if !only.iter().any(|t| t.ends_with(&suffix)) {
                    continue;
                }
            }
            if version.is_none() || !valid_name(source) {
                let reason = format!("unknown source or version folder {rel}");
                tracing::warn!(path = %newest.location, %reason, "skipping Iceberg table");
                skipped.push(Skipped {
                    path: newest.location.to_string(),
                    reason,
                });
                continue;
            }
            match super::iceberg::plan(
                location.store.clone(),
                &location.store_url,
                &rel,
                &root,
                newest,
                opts.days_of(source, false).as_ref(),
            )
            .await
            {
                Ok(snap) => {
                    tracing::debug!(table = %rel, snapshot = ?snap.snapshot_id, files = snap.files.len(), "Iceberg snapshot planned");
                    for f in snap.files {
                        iceberg_files.insert(
                            f.meta.location.clone(),
                            format!("snapshot {} of {}", snap.snapshot_id.unwrap_or_default(), snap.metadata_location),
                        );
                        groups.entry((f.region.clone(), source.clone(), false, version)).or_default().push((
                            f.meta,
                            KeyInfo {
                                source_name: source.clone(),
                                custom: false,
                                version,
                                region: f.region,
                                account: f.account,
                                event_day: f.event_day,
                            },
                        ));
                    }
                }
                Err(reason) => {
                    tracing::warn!(path = %newest.location, %reason, "skipping Iceberg table");
                    skipped.push(Skipped {
                        path: newest.location.to_string(),
                        reason,
                    });
                }
            }
        }
        for meta in listed {
            let parts = rel_parts(&meta);
            if parts.len() > 3 && parts[0] == "aws" && iceberg.contains_key(&(parts[1].clone(), parts[2].clone())) {
                // Metadata, live data (planned above) or files the snapshot does not list.
                if parts[3] == "data" && !iceberg_files.contains_key(&meta.location) && meta.location.as_ref().ends_with(".parquet") {
                    not_in_snapshot += 1;
                    tracing::debug!(path = %meta.location, "not in the Iceberg snapshot; not read");
                }
                ignored += 1;
                continue;
            }
            let refs: Vec<&str> = parts.iter().map(|s| s.as_str()).collect();
            match parse_key(&refs) {
                Ok(Some(k)) => {
                    let days = opts.days_of(&k.source_name, k.custom);
                    if let Some((from, to)) = &days {
                        if k.event_day < *from || k.event_day > *to {
                            continue;
                        }
                    }
                    groups
                        .entry((k.region.clone(), k.source_name.clone(), k.custom, k.version))
                        .or_default()
                        .push((meta, k));
                }
                Ok(None) => ignored += 1,
                Err(reason) => {
                    tracing::warn!(path = %meta.location, %reason, "skipping object that is not a usable lake file");
                    skipped.push(Skipped {
                        path: meta.location.to_string(),
                        reason,
                    });
                }
            }
        }
        let mut tables = Vec::new();
        for ((region, source_name, custom, version), files) in groups {
            if let Some(only) = &opts.only_tables {
                if !only.contains(&glue_names(&region, &source_name, custom, version).1) {
                    continue;
                }
            }
            let store = location.store.clone();
            let (now, mut later): (Vec<_>, Vec<_>) = files.into_iter().partition(|(_, k)| {
                opts.footer_days
                    .as_ref()
                    .is_none_or(|(from, to)| k.event_day >= *from && k.event_day <= *to)
            });
            let footers: Vec<(ObjectMeta, KeyInfo, std::result::Result<Footer, (String, bool)>)> = futures::stream::iter(now)
                .map(|(meta, k)| {
                    let store = store.clone();
                    async move {
                        let r = read_footer_or_io(store, &meta, true).await;
                        (meta, k, r)
                    }
                })
                .buffer_unordered(if location.local.is_some() { 16 } else { 64 })
                .collect()
                .await;
            let mut footers: Vec<(ObjectMeta, KeyInfo, std::result::Result<Footer, String>)> =
                footers.into_iter().map(store_failure).collect::<Result<_>>()?;
            footers.sort_by(|a, b| a.0.location.cmp(&b.0.location));
            let mut acc = Admitted::default();
            for (meta, k, r) in footers {
                acc.admit(meta, k, r, &iceberg_files, &mut skipped);
            }
            // A table none of whose files lies in `footer_days` still needs a schema: its newest
            // readable file gives it.
            later.sort_by(|a, b| b.1.event_day.cmp(&a.1.event_day).then(a.0.location.cmp(&b.0.location)));
            let mut later = later.into_iter();
            while acc.schema.is_none() {
                let Some((meta, k)) = later.next() else { break };
                let (meta, k, r) = store_failure((meta.clone(), k, read_footer_or_io(store.clone(), &meta, true).await))?;
                acc.admit(meta, k, r, &iceberg_files, &mut skipped);
            }
            let mut deferred: Vec<LakeFile> = later
                .map(|(meta, k)| LakeFile {
                    meta,
                    region: k.region,
                    account: k.account,
                    event_day: k.event_day,
                    rows: 0,
                    footer: None,
                })
                .collect();
            deferred.sort_by(|a, b| a.meta.location.cmp(&b.meta.location));
            let Admitted { schema, field_ids, good } = acc;
            let Some(schema) = schema else { continue };
            let (database, glue_name) = glue_names(&region, &source_name, custom, version);
            tables.push(LakeTable {
                glue_name,
                database,
                kind: if custom {
                    Some(SourceKind::ExtAuthentication).filter(|_| is_auth_schema(&schema))
                } else {
                    SourceKind::from_key_name(&source_name)
                },
                source_name,
                custom,
                version,
                region,
                files: good,
                deferred,
                schema: Arc::new(schema),
                field_ids,
            });
        }
        tables.sort_by(|a, b| a.glue_name.cmp(&b.glue_name));
        // Footers are kept for the engine's metadata cache only while they are few: OCSF footers
        // are tens of kB each, and a month of a large organisation is tens of thousands of files.
        if tables.iter().map(|t| t.files.len()).sum::<usize>() > MAX_KEPT_FOOTERS {
            for f in tables.iter_mut().flat_map(|t| t.files.iter_mut()) {
                f.footer = None;
            }
        }
        if not_in_snapshot > 0 {
            tracing::info!(
                files = not_in_snapshot,
                "data files in Iceberg table folders that no current snapshot lists were not read"
            );
        }
        Ok(Catalog {
            location,
            tables,
            skipped,
            ignored,
            not_in_snapshot,
            lazily: Arc::new(LazilyOpened::default()),
        })
    }

    /// Every input skipped so far: when the catalog opened, and since by scans reading deferred
    /// files.
    pub fn all_skipped(&self) -> Vec<Skipped> {
        let mut v = self.skipped.clone();
        v.extend(self.lazily.skipped.lock().unwrap_or_else(|e| e.into_inner()).iter().cloned());
        v
    }

    /// Deferred files read without some of their fields (see [`LazilyOpened::narrowed`]).
    pub fn narrowed(&self) -> Vec<Skipped> {
        self.lazily.narrowed.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Files whose footers were read (when opening and since) and their rows.
    pub fn read_so_far(&self) -> (usize, u64) {
        use std::sync::atomic::Ordering::Relaxed;
        let files: usize = self.tables.iter().map(|t| t.files.len()).sum();
        let rows: u64 = self.tables.iter().map(|t| t.rows()).sum();
        (files + self.lazily.files.load(Relaxed), rows + self.lazily.rows.load(Relaxed))
    }

    /// Find a table by Glue name.
    pub fn table(&self, glue_name: &str) -> Option<&LakeTable> {
        self.tables.iter().find(|t| t.glue_name == glue_name)
    }
}

/// The files of one table whose footers were read, and the schema merged so far.
#[derive(Default)]
struct Admitted {
    schema: Option<Schema>,
    field_ids: bool,
    good: Vec<LakeFile>,
}

impl Admitted {
    /// Keep a file whose footer was read and whose schema fits the table's so far; skip (with a
    /// warning and a reason) one that is unreadable or conflicts.
    fn admit(
        &mut self,
        meta: ObjectMeta,
        k: KeyInfo,
        r: std::result::Result<Footer, String>,
        iceberg_files: &HashMap<ObjPath, String>,
        skipped: &mut Vec<Skipped>,
    ) {
        match r {
            Err(reason) => {
                let reason = match iceberg_files.get(&meta.location) {
                    Some(snap) if reason.contains("not found") || reason.contains("No such file") => {
                        format!("listed in Iceberg {snap} but missing: {reason}")
                    }
                    Some(snap) => format!("listed in Iceberg {snap}: {reason}"),
                    None => reason,
                };
                tracing::warn!(path = %meta.location, %reason, "skipping unreadable Parquet file");
                skipped.push(Skipped {
                    path: meta.location.to_string(),
                    reason,
                });
            }
            Ok((file_schema, rows, footer)) => {
                let ids = file_schema.fields().iter().any(|f| has_field_id(f));
                let file_schema = without_columns(&normalise_schema(&file_schema), &PARTITION_COLUMNS);
                let merged = match &self.schema {
                    None => Ok(file_schema),
                    Some(s) => merge_schemas(s, &file_schema),
                };
                match merged {
                    Ok(m) => {
                        self.field_ids |= ids;
                        self.schema = Some(m);
                        self.good.push(LakeFile {
                            meta,
                            region: k.region,
                            account: k.account,
                            event_day: k.event_day,
                            rows,
                            footer: Some(footer),
                        });
                    }
                    Err(reason) => {
                        let reason = format!("schema does not fit its table: {reason}");
                        tracing::warn!(path = %meta.location, %reason, "skipping Parquet file");
                        skipped.push(Skipped {
                            path: meta.location.to_string(),
                            reason,
                        });
                    }
                }
            }
        }
    }
}

/// Check a deferred file against its table's schema once its footer is read: the file's schema
/// without partition columns, or why it does not fit. Fields the table's schema lacks (the table's
/// schema comes from the days read when the catalog opened) are not read; the file is kept.
pub(super) fn fits(table: &Schema, file: &Schema) -> std::result::Result<bool, String> {
    let file = without_columns(&normalise_schema(file), &PARTITION_COLUMNS);
    let merged = merge_schemas(table, &file).map_err(|reason| format!("schema does not fit its table: {reason}"))?;
    Ok(merged.fields() == table.fields())
}

/// True when the field or any field inside it carries a Parquet field id.
fn has_field_id(f: &arrow::datatypes::Field) -> bool {
    use arrow::datatypes::DataType;
    f.metadata().contains_key("PARQUET:field_id")
        || match f.data_type() {
            DataType::Struct(fs) => fs.iter().any(|c| has_field_id(c)),
            DataType::List(c) | DataType::LargeList(c) | DataType::Map(c, _) => has_field_id(c),
            _ => false,
        }
}

/// A custom source is treated as Authentication when it carries `user` and `status_id` columns.
fn is_auth_schema(s: &Schema) -> bool {
    s.field_with_name("user").is_ok() && s.field_with_name("status_id").is_ok()
}

/// Bytes read from the end of a file to get its footer in one request.
const FOOTER_HINT: usize = 64 * 1024;

/// A file's schema, row count and parsed footer.
pub(super) type Footer = (Schema, u64, Arc<parquet::file::metadata::ParquetMetaData>);

/// True when `e` or an error it wraps is the object store's (a request that failed after its
/// retries, a server that stopped, credentials refused mid-run): the file may be sound, so it is an
/// error of the run, not a bad input. A file that is gone (listed, then deleted by retention or
/// compaction) is a missing input, skipped like a bad one.
pub(super) fn caused_by_store(e: &(dyn std::error::Error + 'static)) -> bool {
    store_error(e).is_some_and(|e| !matches!(e, object_store::Error::NotFound { .. }))
}

/// True when the store refused to serve `e`'s object (403, `PermissionDenied`). Only at lake
/// open is this the file's (a prefix the role is not granted: a counted skip, as the README
/// says): the listing has just succeeded with the same credentials. Later in a run a 403 may be
/// credentials that expired, and stays the run's error.
fn denied(e: &(dyn std::error::Error + 'static)) -> bool {
    store_error(e).is_some_and(|e| matches!(e, object_store::Error::PermissionDenied { .. }))
}

fn store_error<'a>(e: &'a (dyn std::error::Error + 'static)) -> Option<&'a object_store::Error> {
    let mut cur = Some(e);
    while let Some(x) = cur {
        if let Some(e) = x.downcast_ref::<object_store::Error>() {
            return Some(e);
        }
        cur = x.source();
    }
    None
}

/// A footer read the object store failed (not the file) stops the run ([`LakeError::StoreRead`]);
/// any other failure stays the file's, to be skipped and named.
pub(super) fn store_failure<K>(
    (meta, k, r): (ObjectMeta, K, std::result::Result<Footer, (String, bool)>),
) -> Result<(ObjectMeta, K, std::result::Result<Footer, String>)> {
    match r {
        Err((reason, true)) => Err(LakeError::StoreRead {
            path: meta.location.to_string(),
            reason,
        }),
        r => Ok((meta, k, r.map_err(|(reason, _)| reason))),
    }
}

/// Read a file's footer (one request of [`FOOTER_HINT`] bytes, usually); the error also says
/// whether the object store failed (`true`, see [`caused_by_store`]) rather than the file.
/// `at_open`: a 403 is the file's ([`denied`]), not the store's.
pub(super) async fn read_footer_or_io(
    store: Arc<dyn ObjectStore>,
    meta: &ObjectMeta,
    at_open: bool,
) -> std::result::Result<Footer, (String, bool)> {
    if meta.size < 12 {
        return Err((format!("file is {} bytes, too small to be Parquet", meta.size), false));
    }
    // One request for the tail: OCSF footers are ~20 KiB and the page index sits just before the
    // footer, so 64 KiB usually holds both (a bigger footer costs one more request). The page
    // index is parsed here so that the scan, which finds this footer in its metadata cache, does
    // not fetch it again for every query.
    let reader = ParquetObjectReader::new(store, meta.location.clone())
        .with_file_size(meta.size)
        .with_footer_size_hint(FOOTER_HINT);
    let options =
        parquet::arrow::arrow_reader::ArrowReaderOptions::new().with_page_index_policy(parquet::file::metadata::PageIndexPolicy::Optional);
    let builder = ParquetRecordBatchStreamBuilder::new_with_options(reader, options)
        .await
        .map_err(|e| {
            let store = caused_by_store(&e) && !(at_open && denied(&e));
            (format!("corrupt or truncated Parquet: {e}"), store)
        })?;
    let rows = builder.metadata().file_metadata().num_rows().max(0) as u64;
    Ok((builder.schema().as_ref().clone(), rows, builder.metadata().clone()))
}

/// Read a whole file, every column: `Err` with the decoder's message when some page cannot be
/// decoded. Only for files a failed query read (the cost is the file's size).
/// The error says whether the object store failed (`true`) rather than the file.
pub(super) async fn probe(store: Arc<dyn ObjectStore>, meta: &ObjectMeta) -> std::result::Result<(), (String, bool)> {
    let reader = ParquetObjectReader::new(store, meta.location.clone()).with_file_size(meta.size);
    let bad = |what: &str, e: parquet::errors::ParquetError| (format!("{what}: {e}"), caused_by_store(&e));
    let mut stream = ParquetRecordBatchStreamBuilder::new(reader)
        .await
        .map_err(|e| bad("corrupt or truncated Parquet", e))?
        .build()
        .map_err(|e| bad("corrupt or truncated Parquet", e))?;
    while let Some(b) = stream.next().await {
        b.map_err(|e| bad("data cannot be decoded", e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_parse_and_bad_ones_say_why() {
        let k = parse_key(&[
            "aws",
            "CLOUD_TRAIL_MGMT",
            "2.0",
            "region=us-east-1",
            "accountId=123456789012",
            "eventDay=20250101",
            "a.gz.parquet",
        ])
        .unwrap()
        .unwrap();
        assert_eq!(k.version, Some(SourceVersion::V2));
        assert_eq!(k.event_day, "20250101");
        let e = parse_key(&[
            "aws",
            "VPC_FLOW",
            "3.0",
            "region=us-east-1",
            "accountId=123456789012",
            "eventDay=20250101",
            "a.parquet",
        ])
        .unwrap_err();
        assert!(e.contains("unknown source version"), "{e}");
        assert!(parse_key(&["labels.json"]).unwrap().is_none());
        assert!(parse_key(&[
            "aws",
            "VPC_FLOW",
            "1.0",
            "region=us-east-1",
            "accountId=1';drop",
            "eventDay=20250101",
            "a.parquet"
        ])
        .is_err());
        let c = parse_key(&[
            "ext",
            "idp_auth",
            "region=us-east-1",
            "accountId=external",
            "eventDay=20250101",
            "x.parquet",
        ])
        .unwrap()
        .unwrap();
        assert!(c.custom && c.version.is_none());
    }

    #[test]
    fn the_tables_a_query_names_are_found() {
        let q = "SELECT count(*) FROM \"amazon_security_lake_glue_db_us_east_1\".\"amazon_security_lake_table_us_east_1_vpc_flow_2_0\" v JOIN AMAZON_SECURITY_LAKE_TABLE_EU_WEST_1_ROUTE53_2_0 r ON true";
        let t = tables_named_in(q).unwrap();
        assert_eq!(
            t.into_iter().collect::<Vec<_>>(),
            [
                "amazon_security_lake_table_eu_west_1_route53_2_0",
                "amazon_security_lake_table_us_east_1_vpc_flow_2_0"
            ]
        );
        // A view needs the whole catalog; so does a query naming no table.
        assert!(
            tables_named_in("SELECT * FROM lakesight.api_activity a JOIN amazon_security_lake_table_us_east_1_vpc_flow_2_0 b ON true")
                .is_none()
        );
        assert!(tables_named_in("SELECT 1").is_none());
    }

    #[test]
    fn glue_names_follow_security_lake() {
        let (db, t) = glue_names("us-east-1", "CLOUD_TRAIL_MGMT", false, Some(SourceVersion::V1));
        assert_eq!(db, "amazon_security_lake_glue_db_us_east_1");
        assert_eq!(t, "amazon_security_lake_table_us_east_1_cloud_trail_mgmt_1_0");
    }
}
