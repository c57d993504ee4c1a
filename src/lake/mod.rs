//! Reading the lake: find every Security Lake table under a URL, register it in DataFusion under its
//! Glue name, and expose one normalised view per source family.
//!
//! The pieces, in the order data flows:
//! - [`catalog`] lists objects, parses the Security Lake key layout, reads footers, merges schemas
//!   and counts every skipped input with its reason;
//! - [`table`] is the DataFusion `TableProvider` over an explicit list of live data files with their
//!   partition values — the same provider serves Hive-style folders and (later) Iceberg snapshots;
//! - [`engine`] builds the session, registers tables under `amazon_security_lake_table_…` and
//!   `"amazon_security_lake_glue_db_<region>"."…"`, the Trino functions and the views;
//! - [`views`] holds the v1/v2 column mapping of each normalised view, in one place;
//! - [`ocsf`] the table shapes the generator writes;
//! - [`athena`] runs the same SQL on Amazon Athena (UNLOAD to S3, read back) for lakes that
//!   outgrow one container. Both engines implement [`SqlRunner`], which is all the series stage needs.

pub mod adapt;
pub mod athena;
pub mod catalog;
pub mod date_trunc;
pub mod describe;
pub mod engine;
pub mod iceberg;
pub mod ocsf;
pub mod schema;
pub mod table;
pub mod trino;
pub mod unnest;
pub mod views;

use std::path::Path;

/// Errors of the lake layer.
#[derive(Debug, thiserror::Error)]
pub enum LakeError {
    /// A file or folder could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// Bad settings; every problem is listed.
    #[error("invalid settings:\n  - {}", .0.join("\n  - "))]
    Config(Vec<String>),
    /// The object store failed to serve a lake file (after its retries): the file may be sound,
    /// so the run stops instead of skipping its rows.
    #[error("reading {path} failed in the object store, not in the file: {reason}; the run stops rather than leave the file's rows out (rerun when the store answers)")]
    StoreRead {
        /// The object.
        path: String,
        /// The store's error.
        reason: String,
    },
    /// A schema could not be built or merged.
    #[error("schema: {0}")]
    Schema(String),
    /// The lake URL is not usable.
    #[error("lake URL {url:?}: {reason}")]
    Url {
        /// The URL as given.
        url: String,
        /// Why.
        reason: String,
    },
    /// Arrow error.
    #[error(transparent)]
    Arrow(#[from] arrow::error::ArrowError),
    /// Parquet error.
    #[error(transparent)]
    Parquet(#[from] parquet::errors::ParquetError),
    /// Object store error.
    #[error(transparent)]
    ObjectStore(#[from] object_store::Error),
    /// DataFusion error (planning or execution of a query).
    #[error(transparent)]
    DataFusion(#[from] datafusion::error::DataFusionError),
    /// A query needed more memory than the engine's pool and could not spill.
    #[error("a query needed more than the memory limit of {limit_mib} MiB and could not spill to disk; raise [job] memory_limit (or give the container more memory), or free space in [job] spill_dir if it is full: {detail}")]
    MemoryExhausted {
        /// The pool's size.
        limit_mib: usize,
        /// DataFusion's message (the largest consumers).
        detail: String,
    },
    /// Athena error (submitting, polling, reading back a query).
    #[error(transparent)]
    Athena(#[from] athena::AthenaError),
}

/// Something that runs the series and feature SQL: the embedded DataFusion engine or Athena.
#[async_trait::async_trait]
pub trait SqlRunner: Send + Sync {
    /// Run `sql` (over the `lakesight.` views and Glue table names) and return its rows. `label`
    /// names the query in logs, statistics and scratch paths (a plain name: letters, digits, `_`, `-`).
    async fn run_sql(&self, label: &str, sql: &str) -> Result<Vec<arrow::record_batch::RecordBatch>>;

    /// Paths of the inputs skipped so far (unreadable or misfit files), including those found by
    /// queries since the lake was opened (deferred footers, [`catalog`]): a day with one of them
    /// is incomplete. Athena reads its own catalog and reports none.
    fn skipped_inputs(&self) -> Vec<String> {
        Vec::new()
    }
}

impl LakeError {
    /// An I/O error with its path.
    pub fn io(path: &Path, source: std::io::Error) -> LakeError {
        LakeError::Io {
            path: path.display().to_string(),
            source,
        }
    }
}

/// Result alias of the lake layer.
pub type Result<T, E = LakeError> = std::result::Result<T, E>;
