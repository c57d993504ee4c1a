//! Security Lake source version 2: Apache Iceberg tables, read and written with the `iceberg` crate.
//!
//! A native v2 source is one Iceberg table at `aws/<SOURCE>/2.0/` (metadata under `metadata/`,
//! data under `data/`), partitioned on `day(time_dt)`, `region` and `accountid`. The reader takes
//! the newest `*.metadata.json`, and lets the `iceberg` crate walk snapshot → manifest list →
//! manifests (pruning on `time_dt` when the run needs only some days) to the **live** data files;
//! those, with their partition values, go to the same DataFusion Parquet scan as Hive-style files
//! ([`super::table`]). Files in the folder that the snapshot does not list — what compaction
//! leaves behind — are never read. (`iceberg-datafusion` would do the scan too, but it pins
//! DataFusion 53, whose whole-struct reads are 2.5× slower on OCSF.)
//!
//! The crate reaches storage through its `Storage` trait; [`LakeStorage`] bridges it to the
//! lake's `object_store`, so local folders and `s3://` work the same. Paths in Iceberg metadata
//! are absolute; a path is resolved against the table's actual location when it points under a
//! folder of the same name (`…/aws/VPC_FLOW/2.0/…`), so a lake copied between buckets or to disk
//! stays readable (in a real lake the two are the same and this changes nothing).

use std::collections::HashMap;
use std::ops::Range;
use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Fields, Schema, TimeUnit};
use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use iceberg::io::{
    FileIO, FileIOBuilder, FileMetadata, FileRead, FileWrite, InputFile, OutputFile, Storage, StorageConfig, StorageFactory,
};
use iceberg::spec::{Literal, PrimitiveLiteral};
use object_store::path::Path as ObjPath;
use object_store::{ObjectMeta, ObjectStore, ObjectStoreExt, PutPayload};
use serde::{Deserialize, Serialize};

/// The `iceberg` crate's storage over an `object_store`, for one table.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LakeStorage {
    #[serde(skip)]
    store: Option<Arc<dyn ObjectStore>>,
    /// The table's folder relative to the lake root, `aws/VPC_FLOW/2.0`.
    table_rel: String,
    /// The table's actual folder in the store (object path).
    root: String,
}

fn ice_err(kind: iceberg::ErrorKind, msg: impl Into<String>) -> iceberg::Error {
    iceberg::Error::new(kind, msg.into())
}

fn os_err(path: &str, e: object_store::Error) -> iceberg::Error {
    let kind = match e {
        object_store::Error::NotFound { .. } => iceberg::ErrorKind::DataInvalid,
        _ => iceberg::ErrorKind::Unexpected,
    };
    ice_err(kind, format!("{path}: {e}"))
}

impl LakeStorage {
    /// Storage for the table at `root` (object path) whose folder below the lake is `table_rel`.
    pub fn new(store: Arc<dyn ObjectStore>, table_rel: &str, root: &ObjPath) -> Self {
        LakeStorage {
            store: Some(store),
            table_rel: table_rel.trim_matches('/').to_string(),
            root: root.to_string(),
        }
    }

    fn store(&self) -> iceberg::Result<&Arc<dyn ObjectStore>> {
        self.store
            .as_ref()
            .ok_or_else(|| ice_err(iceberg::ErrorKind::Unexpected, "LakeStorage was deserialised without its store"))
    }

    /// The object path of an Iceberg path (`s3://b/…`, `file:///…` or a bare path) inside the
    /// table's actual folder.
    pub fn resolve(&self, path: &str) -> iceberg::Result<ObjPath> {
        let key = if let Some(rest) = path.strip_prefix("s3://").or_else(|| path.strip_prefix("s3a://")) {
            rest.split_once('/').map(|(_, k)| k).unwrap_or("")
        } else if let Some(rest) = path.strip_prefix("file://") {
            rest
        } else {
            path
        };
        let marker = format!("{}/", self.table_rel);
        let Some(i) = key.rfind(&marker) else {
            return Err(ice_err(
                iceberg::ErrorKind::DataInvalid,
                format!("{path} lies outside the table folder {}", self.table_rel),
            ));
        };
        let rest = &key[i + marker.len()..];
        let mut p = ObjPath::parse(&self.root).map_err(|e| ice_err(iceberg::ErrorKind::DataInvalid, e.to_string()))?;
        for part in rest.split('/').filter(|s| !s.is_empty()) {
            p = p.join(part);
        }
        Ok(p)
    }
}

struct LakeReader {
    store: Arc<dyn ObjectStore>,
    path: ObjPath,
}

#[async_trait]
impl FileRead for LakeReader {
    async fn read(&self, range: Range<u64>) -> iceberg::Result<Bytes> {
        self.store
            .get_range(&self.path, range)
            .await
            .map_err(|e| os_err(self.path.as_ref(), e))
    }
}

/// Buffers a whole object and PUTs it on close (metadata and manifests are small).
struct LakeWriter {
    store: Arc<dyn ObjectStore>,
    path: ObjPath,
    buf: Vec<u8>,
    closed: bool,
}

#[async_trait]
impl FileWrite for LakeWriter {
    async fn write(&mut self, bs: Bytes) -> iceberg::Result<()> {
        self.buf.extend_from_slice(&bs);
        Ok(())
    }

    async fn close(&mut self) -> iceberg::Result<()> {
        if self.closed {
            return Err(ice_err(iceberg::ErrorKind::Unexpected, "closed twice"));
        }
        self.closed = true;
        let data = std::mem::take(&mut self.buf);
        self.store
            .put(&self.path, PutPayload::from(data))
            .await
            .map(|_| ())
            .map_err(|e| os_err(self.path.as_ref(), e))
    }
}

#[async_trait]
#[typetag::serde]
impl Storage for LakeStorage {
    async fn exists(&self, path: &str) -> iceberg::Result<bool> {
        match self.store()?.head(&self.resolve(path)?).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(os_err(path, e)),
        }
    }

    async fn metadata(&self, path: &str) -> iceberg::Result<FileMetadata> {
        let m = self.store()?.head(&self.resolve(path)?).await.map_err(|e| os_err(path, e))?;
        Ok(FileMetadata { size: m.size })
    }

    async fn read(&self, path: &str) -> iceberg::Result<Bytes> {
        let r = self.store()?.get(&self.resolve(path)?).await.map_err(|e| os_err(path, e))?;
        r.bytes().await.map_err(|e| os_err(path, e))
    }

    async fn reader(&self, path: &str) -> iceberg::Result<Box<dyn FileRead>> {
        Ok(Box::new(LakeReader {
            store: self.store()?.clone(),
            path: self.resolve(path)?,
        }))
    }

    async fn write(&self, path: &str, bs: Bytes) -> iceberg::Result<()> {
        self.store()?
            .put(&self.resolve(path)?, PutPayload::from(bs))
            .await
            .map(|_| ())
            .map_err(|e| os_err(path, e))
    }

    async fn writer(&self, path: &str) -> iceberg::Result<Box<dyn FileWrite>> {
        Ok(Box::new(LakeWriter {
            store: self.store()?.clone(),
            path: self.resolve(path)?,
            buf: Vec::new(),
            closed: false,
        }))
    }

    async fn delete(&self, path: &str) -> iceberg::Result<()> {
        self.store()?.delete(&self.resolve(path)?).await.map_err(|e| os_err(path, e))
    }

    async fn delete_prefix(&self, path: &str) -> iceberg::Result<()> {
        let prefix = self.resolve(path)?;
        let store = self.store()?.clone();
        let objs: Vec<ObjectMeta> = store.list(Some(&prefix)).try_collect().await.map_err(|e| os_err(path, e))?;
        for o in objs {
            store.delete(&o.location).await.map_err(|e| os_err(o.location.as_ref(), e))?;
        }
        Ok(())
    }

    async fn delete_stream(&self, mut paths: BoxStream<'static, String>) -> iceberg::Result<()> {
        while let Some(p) = paths.next().await {
            self.delete(&p).await?;
        }
        Ok(())
    }

    fn new_input(&self, path: &str) -> iceberg::Result<InputFile> {
        Ok(InputFile::new(Arc::new(self.clone()), path.to_string()))
    }

    fn new_output(&self, path: &str) -> iceberg::Result<OutputFile> {
        Ok(OutputFile::new(Arc::new(self.clone()), path.to_string()))
    }
}

/// Hands the `iceberg` crate one [`LakeStorage`] whatever the configuration says.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LakeStorageFactory {
    storage: LakeStorage,
}

#[typetag::serde]
impl StorageFactory for LakeStorageFactory {
    fn build(&self, _config: &StorageConfig) -> iceberg::Result<Arc<dyn Storage>> {
        Ok(Arc::new(self.storage.clone()))
    }
}

/// A `FileIO` over `storage`.
pub fn file_io(storage: LakeStorage) -> FileIO {
    FileIOBuilder::new(Arc::new(LakeStorageFactory { storage })).build()
}

/// One live data file of an Iceberg table.
#[derive(Debug, Clone)]
pub struct LiveFile {
    /// Object metadata (resolved location, size from the manifest).
    pub meta: ObjectMeta,
    /// `region` partition value.
    pub region: String,
    /// `accountid` partition value.
    pub account: String,
    /// `day(time_dt)` as `YYYYMMDD`.
    pub event_day: String,
    /// Rows (from the manifest).
    pub rows: u64,
}

/// What the current snapshot of a table holds.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// The metadata file read.
    pub metadata_location: String,
    /// Current snapshot id (`None` for a table without data).
    pub snapshot_id: Option<i64>,
    /// Live data files within the requested days.
    pub files: Vec<LiveFile>,
}

/// The newest metadata file among `*.metadata.json` names: by the version number the name starts
/// with (`00012-<uuid>.metadata.json`, or `v12.metadata.json`), then by name.
pub fn newest_metadata(names: &[ObjectMeta]) -> Option<&ObjectMeta> {
    let version = |m: &ObjectMeta| -> (i64, String) {
        let name = m.location.filename().unwrap_or_default().to_string();
        let digits: String = name.trim_start_matches('v').chars().take_while(|c| c.is_ascii_digit()).collect();
        (digits.parse().unwrap_or(-1), name)
    };
    names
        .iter()
        .filter(|m| m.location.as_ref().ends_with(".metadata.json"))
        .max_by_key(|m| version(m))
}

/// Plan the live files of the Iceberg table in `table_rel` (under the lake prefix `root`),
/// keeping only the days in `days` (inclusive `YYYYMMDD` bounds; pruned by the Iceberg scan on
/// `time_dt` and checked again on each file's partition value).
pub async fn plan(
    store: Arc<dyn ObjectStore>,
    store_url: &str,
    table_rel: &str,
    root: &ObjPath,
    metadata: &ObjectMeta,
    days: Option<&(String, String)>,
) -> Result<Snapshot, String> {
    use iceberg::expr::Reference;
    use iceberg::spec::Datum;
    let storage = LakeStorage::new(store, table_rel, root);
    let io = file_io(storage.clone());
    let location = format!("{}/{}", store_url.trim_end_matches('/'), metadata.location);
    let ident = iceberg::TableIdent::from_strs(["lakesight", &table_rel.replace(['/', '.'], "_")]).map_err(|e| e.to_string())?;
    let table = iceberg::table::StaticTable::from_metadata_file(&location, ident, io)
        .await
        .map_err(|e| format!("reading Iceberg metadata {location}: {e}"))?;
    let meta = table.metadata();
    let snapshot_id = meta.current_snapshot_id();
    if snapshot_id.is_none() {
        return Ok(Snapshot {
            metadata_location: location,
            snapshot_id,
            files: Vec::new(),
        });
    }
    let mut scan = table.scan().select_all();
    let parse_day = |d: &str| chrono::NaiveDate::parse_from_str(d, "%Y%m%d").ok();
    if let Some((from, to)) = days {
        if let (Some(f), Some(t)) = (parse_day(from), parse_day(to)) {
            let micros = |d: chrono::NaiveDate| d.and_hms_opt(0, 0, 0).map(|x| x.and_utc().timestamp_micros()).unwrap_or(0);
            let pred = Reference::new("time_dt")
                .greater_than_or_equal_to(Datum::timestamptz_micros(micros(f)))
                .and(Reference::new("time_dt").less_than(Datum::timestamptz_micros(micros(t + chrono::Days::new(1)))));
            scan = scan.with_filter(pred);
        }
    }
    if meta.partition_specs_iter().count() != 1 {
        return Err(format!("{location}: partition spec evolution is not supported"));
    }
    let spec = meta.default_partition_spec().clone();
    let scan = scan.build().map_err(|e| format!("planning a scan of {location}: {e}"))?;
    let tasks: Vec<iceberg::scan::FileScanTask> = scan
        .plan_files()
        .await
        .map_err(|e| format!("planning a scan of {location}: {e}"))?
        .try_collect()
        .await
        .map_err(|e| format!("reading the manifests of {location}: {e}"))?;
    let mut files = Vec::with_capacity(tasks.len());
    for t in tasks {
        if !t.deletes.is_empty() {
            return Err(format!(
                "{}: row-level deletes are not supported (the file has {} delete files)",
                t.data_file_path,
                t.deletes.len()
            ));
        }
        let (mut region, mut account, mut day) = (None, None, None);
        // The scan task does not carry its spec (iceberg 0.10); a table whose partitioning never
        // evolved has one, the default.
        if let Some(part) = &t.partition {
            for (field, value) in spec.fields().iter().zip(part.iter()) {
                let v = value.and_then(Literal::as_primitive_literal);
                match (field.name.as_str(), v) {
                    ("region", Some(PrimitiveLiteral::String(s))) => region = Some(s),
                    ("accountid", Some(PrimitiveLiteral::String(s))) => account = Some(s),
                    (_, Some(PrimitiveLiteral::Int(d))) if field.transform == iceberg::spec::Transform::Day => {
                        day = chrono::NaiveDate::from_num_days_from_ce_opt(d + 719_163).map(|x| x.format("%Y%m%d").to_string());
                    }
                    _ => {}
                }
            }
        }
        let (Some(region), Some(account), Some(event_day)) = (region, account, day) else {
            return Err(format!(
                "{}: the table is not partitioned on day(time_dt), region and accountid as Security Lake's are",
                t.data_file_path
            ));
        };
        if let Some((from, to)) = days {
            if event_day < *from || event_day > *to {
                continue;
            }
        }
        let path = storage.resolve(&t.data_file_path).map_err(|e| e.to_string())?;
        files.push(LiveFile {
            meta: ObjectMeta {
                location: path,
                last_modified: chrono::DateTime::<chrono::Utc>::from_timestamp_millis(0).unwrap_or_default(),
                size: t.file_size_in_bytes,
                e_tag: None,
                version: None,
            },
            region,
            account,
            event_day,
            rows: t.record_count.unwrap_or(0),
        });
    }
    files.sort_by(|a, b| a.meta.location.cmp(&b.meta.location));
    Ok(Snapshot {
        metadata_location: location,
        snapshot_id,
        files,
    })
}

// ---------------------------------------------------------------------------------------------
// Writing (the sample lake generator)
// ---------------------------------------------------------------------------------------------

/// The Arrow schema of `s` with Iceberg's types: timestamps in microseconds (Iceberg has no
/// millisecond timestamps), and Parquet field ids assigned by the `iceberg` crate, so the data
/// files are proper Iceberg data files (readable by Athena and Spark by field id).
pub fn iceberg_arrow_schema(s: &Schema) -> Result<(Schema, iceberg::spec::Schema), String> {
    fn micros(dt: &DataType) -> DataType {
        match dt {
            DataType::Timestamp(TimeUnit::Millisecond, tz) => DataType::Timestamp(TimeUnit::Microsecond, tz.clone()),
            DataType::Struct(fs) => DataType::Struct(Fields::from(fs.iter().map(|f| field(f)).collect::<Vec<_>>())),
            DataType::List(f) => DataType::List(Arc::new(field(f))),
            DataType::Map(f, sorted) => DataType::Map(Arc::new(field(f)), *sorted),
            other => other.clone(),
        }
    }
    fn field(f: &Field) -> Field {
        // Every column optional, as in Security Lake's Glue schemas.
        f.clone().with_data_type(micros(f.data_type())).with_nullable(true)
    }
    let plain = Schema::new(s.fields().iter().map(|f| field(f)).collect::<Vec<_>>());
    let ice = iceberg::arrow::arrow_schema_to_schema_auto_assign_ids(&plain).map_err(|e| e.to_string())?;
    let arrow = iceberg::arrow::schema_to_arrow_schema(&ice).map_err(|e| e.to_string())?;
    Ok((arrow, ice))
}

/// One data file the generator wrote, for the table's first snapshot.
#[derive(Debug, Clone)]
pub struct WrittenFile {
    /// Full URL (`file:///…` or `s3://…`).
    pub url: String,
    /// Bytes.
    pub size: u64,
    /// Rows.
    pub rows: u64,
    /// Day of the file's events.
    pub day: chrono::NaiveDate,
    /// Region.
    pub region: String,
    /// Account.
    pub account: String,
}

/// Create the Iceberg table of one source at `table_url` (`…/aws/<SOURCE>/2.0`, whose folder
/// below the lake is `table_rel`) and commit `files` as its first snapshot (a fast append), with
/// Security Lake's partitioning: `day(time_dt)`, `region`, `accountid`.
pub async fn create_table(
    store: Arc<dyn ObjectStore>,
    root: &ObjPath,
    table_rel: &str,
    table_url: &str,
    schema: iceberg::spec::Schema,
    files: &[WrittenFile],
) -> Result<(), String> {
    use iceberg::spec::{DataContentType, DataFileBuilder, DataFileFormat, Struct, Transform, UnboundPartitionSpec};
    use iceberg::transaction::{ApplyTransactionAction, Transaction};
    use iceberg::{Catalog, CatalogBuilder, NamespaceIdent, TableCreation};
    let e = |what: &str, err: iceberg::Error| format!("Iceberg table {table_url}: {what}: {err}");
    let id = |name: &str| {
        schema
            .field_id_by_name(name)
            .ok_or_else(|| format!("Iceberg table {table_url}: the schema has no {name} column"))
    };
    let (t_id, r_id, a_id) = (id("time_dt")?, id("region")?, id("accountid")?);
    let spec = UnboundPartitionSpec::builder()
        .add_partition_field(t_id, "time_dt_day", Transform::Day)
        .and_then(|b| b.add_partition_field(r_id, "region", Transform::Identity))
        .and_then(|b| b.add_partition_field(a_id, "accountid", Transform::Identity))
        .map_err(|err| e("partition spec", err))?
        .build();
    let catalog = iceberg::memory::MemoryCatalogBuilder::default()
        .with_storage_factory(Arc::new(LakeStorageFactory {
            storage: LakeStorage::new(store, table_rel, root),
        }))
        .load(
            "lakesight-sample",
            HashMap::from([(iceberg::memory::MEMORY_CATALOG_WAREHOUSE.to_string(), table_url.to_string())]),
        )
        .await
        .map_err(|err| e("catalog", err))?;
    let ns = NamespaceIdent::new("security_lake".into());
    catalog
        .create_namespace(&ns, HashMap::new())
        .await
        .map_err(|err| e("namespace", err))?;
    let creation = TableCreation::builder()
        .name(table_rel.replace(['/', '.'], "_").to_ascii_lowercase())
        .location(table_url.to_string())
        .schema(schema.clone())
        .partition_spec(spec)
        .properties([
            ("write.format.default".to_string(), "parquet".to_string()),
            ("write.parquet.compression-codec".to_string(), "zstd".to_string()),
        ])
        .build();
    let table = catalog.create_table(&ns, creation).await.map_err(|err| e("create", err))?;
    let spec_id = table.metadata().default_partition_spec_id();
    let epoch = chrono::NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default();
    let mut data_files = Vec::with_capacity(files.len());
    for f in files {
        let days = (f.day - epoch).num_days() as i32;
        let df = DataFileBuilder::default()
            .content(DataContentType::Data)
            .file_path(f.url.clone())
            .file_format(DataFileFormat::Parquet)
            .partition(Struct::from_iter([
                Some(Literal::date(days)),
                Some(Literal::string(f.region.clone())),
                Some(Literal::string(f.account.clone())),
            ]))
            .partition_spec_id(spec_id)
            .record_count(f.rows)
            .file_size_in_bytes(f.size)
            .build()
            .map_err(|err| format!("Iceberg table {table_url}: data file {}: {err}", f.url))?;
        data_files.push(df);
    }
    let tx = Transaction::new(&table);
    let tx = tx
        .fast_append()
        .add_data_files(data_files)
        .apply(tx)
        .map_err(|err| e("append", err))?;
    tx.commit(&catalog).await.map_err(|err| e("commit", err))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_resolve_into_the_table_folder_wherever_the_metadata_says_it_was() {
        let s = LakeStorage::new(
            Arc::new(object_store::memory::InMemory::new()),
            "aws/VPC_FLOW/2.0",
            &ObjPath::parse("lake/sl").unwrap(),
        );
        for p in [
            "s3://other-bucket/prefix/aws/VPC_FLOW/2.0/data/x.parquet",
            "file:///tmp/gen/aws/VPC_FLOW/2.0/data/x.parquet",
            "/tmp/gen/aws/VPC_FLOW/2.0/data/x.parquet",
        ] {
            assert_eq!(s.resolve(p).unwrap().as_ref(), "lake/sl/data/x.parquet", "{p}");
        }
        assert!(s.resolve("s3://b/aws/ROUTE53/2.0/data/x.parquet").is_err());
    }

    #[test]
    fn the_newest_metadata_file_wins() {
        let m = |p: &str| ObjectMeta {
            location: ObjPath::parse(p).unwrap(),
            last_modified: chrono::DateTime::<chrono::Utc>::from_timestamp_millis(0).unwrap(),
            size: 1,
            e_tag: None,
            version: None,
        };
        let v = vec![
            m("t/metadata/00002-b.metadata.json"),
            m("t/metadata/00010-a.metadata.json"),
            m("t/metadata/snap-1.avro"),
            m("t/metadata/00009-c.metadata.json"),
        ];
        assert_eq!(newest_metadata(&v).unwrap().location.as_ref(), "t/metadata/00010-a.metadata.json");
    }
}
