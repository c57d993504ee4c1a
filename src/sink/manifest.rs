//! The run manifest (`manifest.json`, and `runs/<run id>/manifest.json`): what a run read, what
//! each stage did, what it wrote and every warning — the record an operator reads first.
//!
//! Each stage contributes its own sections (`series`, `features`, `ip_insights`, …) as JSON under
//! its key, so a new stage adds to the manifest without a field here; [`Manifest::stage`] reads a
//! section back as its stage's typed statistics.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::lake::athena::QueryStat;
use crate::lake::catalog::Skipped;

/// The days a run analyses.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct DayRange {
    /// First day.
    pub from: NaiveDate,
    /// Last day (inclusive).
    pub to: NaiveDate,
}

impl DayRange {
    /// Every day, `YYYY-MM-DD`.
    pub fn days(&self) -> Vec<String> {
        self.from.iter_days().take_while(|d| *d <= self.to).map(|d| d.to_string()).collect()
    }
}

/// The run's conditions: how many began (`new`), how many of its findings carry on one already
/// reported (`ongoing`), and the conditions of the day before that stopped (`resolved`).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Conditions {
    /// New conditions (each is one finding with status `new`).
    pub new: usize,
    /// Findings with status `ongoing`.
    pub ongoing_findings: usize,
    /// Conditions no longer seen, per day.
    pub resolved: Vec<crate::findings::condition::Resolved>,
}

/// The run manifest.
#[derive(Debug, Clone, Serialize)]
pub struct Manifest {
    /// Run id.
    pub run_id: String,
    /// lakesight version.
    pub lakesight_version: &'static str,
    /// Job name.
    pub job: String,
    /// SHA-256 of the job configuration.
    pub config_digest: String,
    /// Run start, RFC 3339.
    pub started_at: String,
    /// Days analysed.
    pub range: DayRange,
    /// First baseline day.
    pub baseline_from: NaiveDate,
    /// First day of the lake the run opened (earlier than `baseline_from` when a detector judges
    /// on a longer history, such as the trend test's `history_days`). `None` in manifests written
    /// before 2026-12-06.
    #[serde(default)]
    pub read_from: Option<NaiveDate>,
    /// Lake URL.
    pub lake: String,
    /// Where the run published, as readers reach it (the S3 URI of a SageMaker output folder).
    #[serde(default)]
    pub output: String,
    /// Files, rows and bytes of the tables opened (the baseline window and the analysed days).
    pub inputs: Inputs,
    /// Inputs skipped, with the reason.
    pub skipped_inputs: Vec<Skipped>,
    /// Each stage's sections by key (`series`, `features`, `ip_insights`, …), flattened into the
    /// manifest's top level.
    #[serde(flatten)]
    pub stages: BTreeMap<String, serde_json::Value>,
    /// Findings per detector.
    pub findings_per_detector: BTreeMap<String, usize>,
    /// ATT&CK tactic × technique coverage: what the job's stages can report, and the run's
    /// findings per technique.
    pub mitre_coverage: Vec<crate::findings::mitre::Coverage>,
    /// Findings in total.
    pub findings_total: usize,
    /// One condition, one finding: the run's conditions by status (see
    /// [`crate::findings::condition`]).
    pub conditions: Conditions,
    /// Milliseconds per stage.
    pub timings_ms: BTreeMap<String, u128>,
    /// Files written, relative to the output root.
    pub outputs: Vec<String>,
    /// Warnings for people.
    pub warnings: Vec<String>,
    /// Queries run on Athena, with data scanned and cost (when `job.engine = "athena"`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub athena: Option<AthenaStats>,
    /// The tables registered in Glue (when `[glue]` is set): findings, features, embeddings.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub glue: Vec<crate::sink::glue::Registration>,
}

impl Manifest {
    /// A stage's section `key` as its typed statistics (`None` when absent or of another shape).
    pub fn stage<T: serde::de::DeserializeOwned>(&self, key: &str) -> Option<T> {
        serde_json::from_value(self.stages.get(key)?.clone()).ok()
    }
}

/// What the run's Athena queries scanned and cost.
#[derive(Debug, Clone, Serialize)]
pub struct AthenaStats {
    /// Bytes scanned in total.
    pub bytes_scanned: u64,
    /// Cost estimate in USD.
    pub cost_usd: f64,
    /// Every query.
    pub queries: Vec<QueryStat>,
}

impl AthenaStats {
    /// Totals over `queries`.
    pub fn from_queries(queries: Vec<QueryStat>) -> Self {
        AthenaStats {
            bytes_scanned: queries.iter().map(|q| q.bytes_scanned).sum(),
            cost_usd: queries.iter().map(|q| q.cost_usd).sum(),
            queries,
        }
    }
}

/// Input totals.
#[derive(Debug, Clone, Serialize, Default)]
pub struct Inputs {
    /// Tables.
    pub tables: usize,
    /// Live files of the window (listed).
    pub files: usize,
    /// Files whose footers were read: when the lake was opened, and by the queries since (a run
    /// with a rollup store defers the footers of the days it may take from the store).
    #[serde(default)]
    pub footers_read: usize,
    /// Rows of the files whose footers were read.
    pub rows: u64,
    /// Bytes of the live files.
    pub bytes: u64,
}
