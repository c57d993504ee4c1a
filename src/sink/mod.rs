//! Writing a run's outputs: findings Parquet (Hive-partitioned), the Athena DDL, the manifest and
//! the HTML report.
//!
//! Readers never see partial output: every file is written under a hidden temporary name (`.tmp-…`,
//! which Athena and Hive skip) and renamed into place, and each `dt=…/detector=…/` partition holds
//! exactly one file, `findings.parquet`, that a rerun replaces atomically — so rerunning a day
//! replaces its findings and never duplicates them. A partition the run analysed but where nothing
//! was found gets an empty file, which records "analysed, nothing found".

pub mod report;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;

use crate::findings::{to_batch, Finding};

/// Errors of the sink.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// File system error with the path.
    #[error("{path}: {source}")]
    Io {
        /// Path.
        path: String,
        /// Cause.
        source: std::io::Error,
    },
    /// Arrow error.
    #[error(transparent)]
    Arrow(#[from] arrow::error::ArrowError),
    /// Parquet error.
    #[error(transparent)]
    Parquet(#[from] parquet::errors::ParquetError),
    /// The output URL is not usable.
    #[error("output {0:?}: only local folders are supported by this build")]
    Url(String),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> SinkError + '_ {
    move |source| SinkError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// The output folder of a run.
#[derive(Debug, Clone)]
pub struct Output {
    /// Root folder.
    pub root: PathBuf,
}

impl Output {
    /// Open (create) an output URL.
    pub fn open(url: &str) -> Result<Output, SinkError> {
        if url.contains("://") && !url.starts_with("file://") {
            return Err(SinkError::Url(url.into()));
        }
        let root = PathBuf::from(url.strip_prefix("file://").unwrap_or(url));
        std::fs::create_dir_all(&root).map_err(io(&root))?;
        Ok(Output { root })
    }

    /// Write bytes atomically at `rel`.
    pub fn put(&self, rel: &str, data: &[u8]) -> Result<PathBuf, SinkError> {
        let path = self.root.join(rel);
        let dir = path.parent().unwrap_or(&self.root).to_path_buf();
        std::fs::create_dir_all(&dir).map_err(io(&dir))?;
        let tmp = dir.join(format!(
            ".tmp-{}-{}",
            std::process::id(),
            path.file_name().and_then(|s| s.to_str()).unwrap_or("x")
        ));
        std::fs::write(&tmp, data).map_err(io(&tmp))?;
        std::fs::rename(&tmp, &path).map_err(io(&path))?;
        Ok(path)
    }

    /// Replace the findings of every `(dt, detector)` partition in `days × detectors`.
    /// Returns the files written with their row counts.
    pub fn write_findings(&self, findings: &[Finding], days: &[String], detectors: &[String]) -> Result<Vec<(PathBuf, usize)>, SinkError> {
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
            let batch = to_batch(&fs)?;
            let props = WriterProperties::builder()
                .set_compression(Compression::ZSTD(ZstdLevel::default()))
                .build();
            let mut buf = Vec::new();
            let mut w = ArrowWriter::try_new(&mut buf, batch.schema(), Some(props))?;
            w.write(&batch)?;
            w.close()?;
            let rel = format!("findings/dt={dt}/detector={det}/findings.parquet");
            out.push((self.put(&rel, &buf)?, fs.len()));
        }
        Ok(out)
    }
}

/// The Athena DDL of the findings table (partition projection: no MSCK REPAIR needed).
pub fn findings_ddl(database: &str, table: &str, location: &str, detectors: &[String]) -> String {
    include_str!("../../queries/athena/findings_table.sql")
        .replace("${database}", database)
        .replace("${table}", table)
        .replace("${location}", location.trim_end_matches('/'))
        .replace("${detectors}", &detectors.join(","))
}
