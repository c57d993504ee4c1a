//! Job files (TOML): what a run reads, builds, detects and writes.
//!
//! Config types are separate from runtime types: [`JobConfig`] only describes; [`JobConfig::validate`]
//! checks everything at once and reports every problem naming its field, and the runtime builds
//! detectors from it. Every struct rejects unknown keys, so a misspelt key is an error, not a
//! silently ignored setting.

use std::collections::BTreeMap;
use std::path::Path;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::detect::DetectorConfig;
use crate::series::SeriesCatalog;

/// A whole job file.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct JobConfig {
    /// Job settings.
    pub job: JobSection,
    /// Series to build, each with the detectors to run on it.
    #[serde(default)]
    pub series: Vec<SeriesConfig>,
    /// Detector settings by name (the names `series.detectors` refers to).
    #[serde(default)]
    pub detectors: BTreeMap<String, DetectorConfig>,
    /// Output settings.
    #[serde(default)]
    pub output: OutputConfig,
    /// S3 settings for `s3://` lake and output URLs (region, endpoint, retries, time-outs);
    /// credentials always come from the AWS default chain, never from the job file.
    #[serde(default)]
    pub s3: crate::store::S3Options,
    /// Athena settings, used when `job.engine = "athena"` (and for registering the findings table).
    #[serde(default)]
    pub athena: Option<crate::lake::athena::AthenaConfig>,
    /// Register the findings table (database and name from `[output]`) in this Glue catalog.
    #[serde(default)]
    pub glue: Option<crate::sink::glue::GlueConfig>,
    /// Keep each series' daily rows beside the findings and scan only new days (`[rollup]`;
    /// absent = every run scans its whole window).
    #[serde(default)]
    pub rollup: Option<RollupConfig>,
    /// IP Insights over (principal, source IP) pairs (`[ip_insights]`; absent = off).
    #[serde(default)]
    pub ip_insights: Option<crate::stages::ip_insights::IpInsightsJob>,
    /// The UEBA isolation forest over each principal's day (`[ueba]`; absent = off).
    #[serde(default)]
    pub ueba: Option<crate::stages::ueba::UebaJob>,
    /// The network and DNS hunts (`[hunts]` with `[hunts.beaconing]`, …; absent = off).
    #[serde(default)]
    pub hunts: Option<crate::stages::hunt::HuntsJob>,
    /// The identity rules that need no history (`[identity]`; absent = off).
    #[serde(default)]
    pub identity: Option<crate::stages::identity::IdentityJob>,
}

/// `[rollup]`: the rollup store (see `series::rollup`).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct RollupConfig {
    /// Where (default: the run's output root; files go under `rollups/`).
    pub location: Option<String>,
    /// The last this many days of each window are always computed from the lake (late events).
    pub recompute_days: usize,
}

impl Default for RollupConfig {
    fn default() -> Self {
        RollupConfig {
            location: None,
            recompute_days: 2,
        }
    }
}

/// The `[job]` table.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct JobSection {
    /// Job name (goes into the manifest and the run id).
    pub name: String,
    /// Lake URL: `s3://bucket/prefix` or a local folder (relative to the job file's folder).
    pub lake: String,
    /// Output URL for findings, manifest and report.
    pub output: String,
    /// Day to analyse (`YYYY-MM-DD`); the CLI's `--date`/`--from`/`--to` override it.
    #[serde(default, deserialize_with = "de_date")]
    pub date: Option<NaiveDate>,
    /// First day of a range to analyse.
    #[serde(default, deserialize_with = "de_date")]
    pub from: Option<NaiveDate>,
    /// Last day of a range to analyse.
    #[serde(default, deserialize_with = "de_date")]
    pub to: Option<NaiveDate>,
    /// Days of history before the analysed range that the detectors learn from.
    #[serde(default = "default_baseline")]
    pub baseline_days: u32,
    /// Query engine: `datafusion` (embedded, default) or `athena` (the series SQL runs on Athena,
    /// results come back through UNLOAD; needs `[athena]`).
    #[serde(default = "default_engine")]
    pub engine: String,
    /// The embedded engine's memory pool (`"2GiB"`, `"512MiB"`, `"3GB"`, `"4096"`): beyond it sorts
    /// and aggregations spill to `spill_dir`. Absent = [`DEFAULT_MEMORY_LIMIT`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_limit: Option<String>,
    /// Folder for the engine's spill files (absent = the OS temporary folder; relative to the job
    /// file's folder).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spill_dir: Option<String>,
    /// Count the rows of the analysed days that no analysis can place in time (no `time`, or one
    /// more than a day outside its `eventDay`: seconds written as milliseconds, a wrong clock) and
    /// name them in the manifest and warnings (`stages::row_times`). On by default.
    #[serde(default = "yes")]
    pub check_row_times: bool,
}

impl JobSection {
    /// The engine's memory pool in bytes: `memory_limit`, or [`DEFAULT_MEMORY_LIMIT`].
    pub fn memory_limit_bytes(&self) -> Result<usize, String> {
        let Some(m) = &self.memory_limit else {
            return Ok(DEFAULT_MEMORY_LIMIT);
        };
        let n = parse_size(m)?;
        if n < MIN_MEMORY_LIMIT {
            return Err(format!("{m:?} is below the minimum of {} MiB", MIN_MEMORY_LIMIT >> 20));
        }
        Ok(n)
    }
}

/// The memory pool of the embedded engine when `[job] memory_limit` is absent: 2 GiB for the
/// queries. The whole process needs more: 7.6 GB at the peak of a 100M-event night, most of it
/// the stages' own state (`benches/results/big-day-2026-12-06.md`).
pub const DEFAULT_MEMORY_LIMIT: usize = 2 << 30;

/// The smallest pool accepted: below it even one day's aggregation of a small lake spills.
pub const MIN_MEMORY_LIMIT: usize = 64 << 20;

/// Parse a size: a number of bytes, or a number with `KB`/`MB`/`GB`/`TB` (powers of 1,000) or
/// `KiB`/`MiB`/`GiB`/`TiB` (powers of 1,024), case-insensitive, spaces allowed (`1.5 GiB`).
pub fn parse_size(text: &str) -> Result<usize, String> {
    let t = text.trim();
    let split = t.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| format!("{text:?} is not a size (e.g. \"2GiB\", \"512MiB\", \"3GB\")"))?;
    let mult: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "kb" => 1e3,
        "mb" => 1e6,
        "gb" => 1e9,
        "tb" => 1e12,
        "kib" => 1024.0,
        "mib" => 1024.0 * 1024.0,
        "gib" => 1024.0 * 1024.0 * 1024.0,
        "tib" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
        other => {
            return Err(format!(
                "{text:?}: unknown unit {other:?} (use B, KB, MB, GB, TB, KiB, MiB, GiB or TiB)"
            ))
        }
    };
    let bytes = n * mult;
    if !bytes.is_finite() || bytes >= usize::MAX as f64 {
        return Err(format!("{text:?} is too large"));
    }
    Ok(bytes.round() as usize)
}

/// Accept a TOML date (`2025-03-30`) or a string (`"2025-03-30"`).
fn de_date<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<NaiveDate>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        S(String),
        T(toml::value::Datetime),
    }
    let text = match Option::<Raw>::deserialize(d)? {
        None => return Ok(None),
        Some(Raw::S(s)) => s,
        Some(Raw::T(t)) => t.to_string(),
    };
    NaiveDate::parse_from_str(&text, "%Y-%m-%d")
        .map(Some)
        .map_err(|e| serde::de::Error::custom(format!("{text:?} is not a YYYY-MM-DD date: {e}")))
}

fn default_baseline() -> u32 {
    28
}
fn default_engine() -> String {
    "datafusion".into()
}

pub use crate::stages::series::SeriesConfig;

/// The `[output]` table.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct OutputConfig {
    /// Glue database for the findings table DDL.
    #[serde(default = "default_db")]
    pub database: String,
    /// Findings table name.
    #[serde(default = "default_table")]
    pub table: String,
    /// Write the per-principal daily behaviour features (`features/dt=…/`, see
    /// `queries/features/principal_day.sql`) of the analysed days.
    #[serde(default = "yes")]
    pub features: bool,
    /// Features table name.
    #[serde(default = "default_features_table")]
    pub features_table: String,
    /// Embeddings table name (IP Insights vectors, when `[ip_insights]` writes them).
    #[serde(default = "default_embeddings_table")]
    pub embeddings_table: String,
    /// Write the HTML report.
    #[serde(default = "yes")]
    pub report: bool,
    /// Draw a plot (PNG and SVG) per finding under `plots/dt=…/`.
    #[serde(default = "yes")]
    pub plots: bool,
    /// At most this many plots per run (the highest-scoring findings first).
    #[serde(default = "default_max_plots")]
    pub max_plots: usize,
    /// Also write every finding as an OCSF 1.1 Detection Finding in Security Lake's custom-source
    /// layout (`[output.ocsf]`; absent = off).
    #[serde(default)]
    pub ocsf: Option<OcsfOutputConfig>,
    /// How long a run's lease on its days holds without a heartbeat, in seconds (see
    /// `sink::lease`): a second run of a day stops while the first runs; a run killed outright
    /// blocks its days this long (or until a rerun with `--take-over`). 10..=86,400.
    #[serde(default = "default_lease_seconds")]
    pub lease_seconds: u64,
}

/// `[output.ocsf]`: findings as a Security Lake custom source (see `sink::ocsf`).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct OcsfOutputConfig {
    /// Custom source name (the `ext/<source>/` folder).
    #[serde(default = "default_ocsf_source")]
    pub source: String,
    /// The `region` partition and `cloud.region` of the rows (the Security Lake Region).
    pub region: String,
    /// The custom source's location, the folder that holds `region=…` (`s3://…/ext/<source>/`
    /// as Security Lake gives it); default `<job.output>/ocsf/ext/<source>`.
    #[serde(default)]
    pub url: Option<String>,
    /// `accountId` of findings not tied to an AWS account (Security Lake: `external` or
    /// `external_<id>`).
    #[serde(default = "default_external_account")]
    pub external_account: String,
}

impl OcsfOutputConfig {
    /// Every problem, one message each.
    pub fn validate(&self) -> Vec<String> {
        let mut errs = Vec::new();
        if self.source.is_empty()
            || self.source.len() > 64
            || !self
                .source
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
        {
            errs.push(format!(
                "output.ocsf.source: {:?} must be 1-64 lower-case letters, digits, '_' or '-'",
                self.source
            ));
        }
        if !crate::lake::catalog::valid_region(&self.region) {
            errs.push(format!("output.ocsf.region: {:?} is not a region name like us-east-1", self.region));
        }
        let ext = &self.external_account;
        let ext_ok = ext == "external"
            || ext
                .strip_prefix("external_")
                .is_some_and(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'));
        if !ext_ok {
            errs.push(format!(
                "output.ocsf.external_account: {ext:?} must be \"external\" or \"external_<id>\" (Security Lake's rule)"
            ));
        }
        if let Some(u) = &self.url {
            if u.trim().is_empty() {
                errs.push("output.ocsf.url: must not be empty when given".into());
            }
        }
        errs
    }

    /// The custom source's root URL for an output at `output`.
    pub fn root_url(&self, output: &str) -> String {
        self.url
            .clone()
            .unwrap_or_else(|| format!("{}/ocsf/ext/{}", output.trim_end_matches('/'), self.source))
    }
}

fn default_ocsf_source() -> String {
    "lakesight".into()
}
fn default_external_account() -> String {
    "external".into()
}

impl Default for OutputConfig {
    fn default() -> Self {
        OutputConfig {
            database: default_db(),
            table: default_table(),
            features: true,
            features_table: default_features_table(),
            embeddings_table: default_embeddings_table(),
            report: true,
            plots: true,
            max_plots: default_max_plots(),
            ocsf: None,
            lease_seconds: default_lease_seconds(),
        }
    }
}

fn default_max_plots() -> usize {
    500
}
fn default_lease_seconds() -> u64 {
    600
}
fn default_db() -> String {
    "lakesight".into()
}
fn default_table() -> String {
    "findings".into()
}
fn default_embeddings_table() -> String {
    "embeddings".into()
}
fn default_features_table() -> String {
    "features".into()
}
fn yes() -> bool {
    true
}

/// Errors of reading or checking a job file.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Read {
        /// Path.
        path: String,
        /// Cause.
        source: std::io::Error,
    },
    /// TOML syntax or shape error (serde names the key).
    #[error("{path}: {message}")]
    Parse {
        /// Path.
        path: String,
        /// What serde said, with line and column.
        message: String,
    },
    /// Semantic errors, all of them.
    #[error("{path}: {} problem(s):\n  - {}", .errors.len(), .errors.join("\n  - "))]
    Invalid {
        /// Path.
        path: String,
        /// Each problem, naming its field.
        errors: Vec<String>,
    },
}

pub use crate::sql::valid_ident;

impl JobConfig {
    /// Parse TOML text (no semantic checks).
    pub fn parse(text: &str, path: &str) -> Result<JobConfig, ConfigError> {
        toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.into(),
            message: e.to_string(),
        })
    }

    /// Read and validate a job file.
    pub fn load(path: &Path, series: &SeriesCatalog) -> Result<JobConfig, ConfigError> {
        let p = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Read {
            path: p.clone(),
            source: e,
        })?;
        let mut cfg = JobConfig::parse(&text, &p)?;
        cfg.validate(series)
            .map_err(|errors| ConfigError::Invalid { path: p.clone(), errors })?;
        // Relative lake/output/spill paths are relative to the job file's folder.
        let base = path.parent().unwrap_or(Path::new("."));
        for u in [&mut cfg.job.lake, &mut cfg.job.output]
            .into_iter()
            .chain(cfg.job.spill_dir.as_mut())
        {
            if !u.contains("://") && Path::new(u.as_str()).is_relative() {
                *u = base.join(u.as_str()).display().to_string();
            }
        }
        Ok(cfg)
    }

    /// Check everything; return every problem, each naming its field.
    pub fn validate(&self, series: &SeriesCatalog) -> Result<(), Vec<String>> {
        let mut errs = Vec::new();
        if !valid_ident(&self.job.name.replace('-', "_")) {
            errs.push(format!(
                "job.name: {:?} must be lower-case letters, digits, '_' or '-'",
                self.job.name
            ));
        }
        if self.job.lake.trim().is_empty() {
            errs.push("job.lake: must not be empty".into());
        }
        if self.job.output.trim().is_empty() {
            errs.push("job.output: must not be empty".into());
        }
        errs.extend(self.s3.validate());
        match self.job.engine.as_str() {
            "datafusion" => {}
            "athena" if self.athena.is_none() => errs.push("athena: job.engine = \"athena\" needs an [athena] table".into()),
            "athena" => {}
            other => errs.push(format!("job.engine: {other:?} is not one of \"datafusion\", \"athena\"")),
        }
        if let Some(a) = &self.athena {
            errs.extend(a.validate());
        }
        if let Some(g) = &self.glue {
            errs.extend(g.validate());
        }
        if let Some(r) = &self.rollup {
            if r.recompute_days == 0 {
                errs.push("rollup.recompute_days: must be at least 1 (the analysed day is always computed)".into());
            }
        }
        if let Some(ip) = &self.ip_insights {
            errs.extend(ip.validate());
            if self.detectors.contains_key(crate::stages::ip_insights::DETECTOR) {
                errs.push("detectors.ip_insights: the name is taken by [ip_insights]".into());
            }
        }
        if let Some(u) = &self.ueba {
            errs.extend(u.validate());
            if self.detectors.contains_key(crate::stages::ueba::DETECTOR) {
                errs.push("detectors.ueba: the name is taken by [ueba]".into());
            }
        }
        if let Some(i) = &self.identity {
            errs.extend(i.validate());
            if self.detectors.contains_key(crate::stages::identity::DETECTOR) {
                errs.push("detectors.identity: the name is taken by [identity]".into());
            }
        }
        if let Some(h) = &self.hunts {
            errs.extend(h.validate());
            for name in h.stages().iter().map(|s| s.name()) {
                if self.detectors.contains_key(name) {
                    errs.push(format!("detectors.{name}: the name is taken by [hunts.{name}]"));
                }
            }
        }
        if !(10..=86_400).contains(&self.output.lease_seconds) {
            errs.push(format!("output.lease_seconds: {} is outside 10..=86400", self.output.lease_seconds));
        }
        if !valid_ident(&self.output.embeddings_table) {
            errs.push(format!(
                "output.embeddings_table: {:?} is not a valid identifier",
                self.output.embeddings_table
            ));
        }
        if self.job.date.is_some() && (self.job.from.is_some() || self.job.to.is_some()) {
            errs.push("job.date: give either date or from/to, not both".into());
        }
        if self.job.from.is_some() != self.job.to.is_some() {
            errs.push("job.from/job.to: give both ends of the range".into());
        }
        if let (Some(f), Some(t)) = (self.job.from, self.job.to) {
            if f > t {
                errs.push(format!("job.from: {f} is after job.to {t}"));
            }
        }
        if let Err(e) = self.job.memory_limit_bytes() {
            errs.push(format!("job.memory_limit: {e}"));
        }
        if self.job.spill_dir.as_deref().is_some_and(|d| d.trim().is_empty()) {
            errs.push("job.spill_dir: empty; leave it out for the OS temporary folder".into());
        }
        if self.job.baseline_days < 7 || self.job.baseline_days > 400 {
            errs.push(format!("job.baseline_days: {} is outside 7..=400", self.job.baseline_days));
        }
        if self.series.is_empty() {
            errs.push("series: at least one [[series]] is needed".into());
        }
        for (i, s) in self.series.iter().enumerate() {
            if series.get(&s.family).is_none() {
                errs.push(format!(
                    "series[{i}].family: unknown family {:?} (known: {})",
                    s.family,
                    series.names().join(", ")
                ));
            }
            if s.detectors.is_empty() {
                errs.push(format!("series[{i}].detectors: name at least one detector"));
            }
            for d in &s.detectors {
                if !self.detectors.contains_key(d) {
                    errs.push(format!("series[{i}].detectors: {d:?} is not defined under [detectors]"));
                }
            }
            if let Some(j) = self.series[..i].iter().position(|o| o.family == s.family && o.bucket == s.bucket) {
                errs.push(format!(
                    "series[{i}]: family {:?} at bucket {:?} repeats series[{j}]; list its detectors once",
                    s.family,
                    s.bucket.unit()
                ));
            }
            if s.min_history < 3 {
                errs.push(format!("series[{i}].min_history: {} is below 3", s.min_history));
            }
        }
        for (name, d) in &self.detectors {
            if !valid_ident(name) {
                errs.push(format!("detectors.{name}: detector names must be lower-case identifiers"));
            }
            for e in d.validate() {
                errs.push(format!("detectors.{name}.{e}"));
            }
        }
        if let Some(o) = &self.output.ocsf {
            errs.extend(o.validate());
        }
        if !valid_ident(&self.output.database) {
            errs.push(format!("output.database: {:?} is not a valid identifier", self.output.database));
        }
        if !valid_ident(&self.output.features_table) {
            errs.push(format!(
                "output.features_table: {:?} is not a valid identifier",
                self.output.features_table
            ));
        }
        // Glue keeps names in lower case: three tables, three names.
        let names = [
            ("output.table", &self.output.table),
            ("output.features_table", &self.output.features_table),
            ("output.embeddings_table", &self.output.embeddings_table),
        ];
        for (i, (field, name)) in names.iter().enumerate() {
            if let Some((other, _)) = names[..i].iter().find(|(_, n)| n.to_lowercase() == name.to_lowercase()) {
                errs.push(format!("{field}: {name:?} is also {other}; each table needs its own name"));
            }
        }
        if !valid_ident(&self.output.table) {
            errs.push(format!("output.table: {:?} is not a valid identifier", self.output.table));
        }
        if errs.is_empty() {
            Ok(())
        } else {
            Err(errs)
        }
    }

    /// SHA-256 of the canonical (re-serialised) config, for the manifest.
    pub fn digest(&self) -> String {
        use sha2::{Digest, Sha256};
        let text = serde_json::to_string(self).unwrap_or_default();
        hex::encode(Sha256::digest(text.as_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ocsf_output_settings_report_every_problem() {
        let bad = OcsfOutputConfig {
            source: "Bad Name".into(),
            region: "mars".into(),
            url: Some(" ".into()),
            external_account: "partner".into(),
        };
        let errs = bad.validate();
        assert_eq!(errs.len(), 4, "{errs:?}");
        let good = OcsfOutputConfig {
            source: "lakesight".into(),
            region: "eu-west-1".into(),
            url: None,
            external_account: "external_42".into(),
        };
        assert!(good.validate().is_empty(), "{:?}", good.validate());
        assert_eq!(good.root_url("s3://b/out/"), "s3://b/out/ocsf/ext/lakesight");
    }

    /// Units are powers of 1,000 or 1,024 as written; a bad size is an error naming it.
    #[test]
    fn sizes_parse_with_their_units() {
        assert_eq!(parse_size("2GiB"), Ok(2 << 30));
        assert_eq!(parse_size(" 512 MiB "), Ok(512 << 20));
        assert_eq!(parse_size("3GB"), Ok(3_000_000_000));
        assert_eq!(parse_size("1.5gib"), Ok(3 << 29));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert!(parse_size("2 GiBs").unwrap_err().contains("unknown unit"));
        assert!(parse_size("lots").unwrap_err().contains("not a size"));
        assert!(parse_size("").is_err());
    }
}
