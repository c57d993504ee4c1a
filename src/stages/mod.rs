//! Stages: the units a run is made of. Each stage reads the lake through the run's SQL runner,
//! computes, and returns what it produced — findings, plot descriptions, extra tables, manifest
//! sections, warnings — through one interface, [`Stage`]. The runtime loops over the registry
//! (`runtime::plan::stages`) and hands everything to the sink once every stage has finished, so a
//! failing or stopped stage leaves nothing half-published.
//!
//! Adding a stage = one module here (its config type, its [`Stage`] impl, its table's
//! [`TableSpec`] if it writes one) + one registry line. The stages of today:
//!
//! * [`series`]: the `[[series]]` families and their time-series detectors (outlier, changepoint,
//!   trend), each analysed day judged on the series cut at its end.
//! * [`features`]: the per-principal daily behaviour table (UEBA input).
//! * [`ip_insights`]: the IP Insights model over (principal, source IP) pairs, its findings and
//!   its embeddings table.
//! * [`ueba`]: an isolation forest over each principal's day (novelty against its own history and
//!   its peer group's), with findings that say which behaviour stood out.
//! * [`identity`]: the rules that need no history — instance-profile credentials used outside
//!   their instance, root-user activity, console logins without MFA.
//! * [`row_times`]: rows of the analysed days that no analysis can place in time (no time, or
//!   seconds instead of milliseconds), counted and named.
//! * the network and DNS hunts ([`hunt`] runs each): [`beaconing`], [`exfiltration`],
//!   [`lateral`] movement and [`dns_hunt`] (DGA, tunnelling, NXDOMAIN bursts), over per-day tables
//!   kept in the rollup store.
//!
//! Why stages return tables instead of writing them: the sink registers tables in Glue before any
//! file lands and publishes every file atomically, in one place, after all stages succeeded.

pub mod beaconing;
pub mod dns_hunt;
pub mod exfiltration;
pub mod features;
pub mod hunt;
pub mod identity;
pub mod ip_insights;
pub mod lateral;
pub mod row_times;
pub mod series;
pub mod ueba;

use async_trait::async_trait;

use crate::cancel::Cancel;
use crate::clock::Clock;
use crate::findings::plot::PlotSpec;
use crate::findings::Finding;
use crate::lake::SqlRunner;
use crate::series::rollup::Rollup;
use crate::series::SeriesError;
use crate::table::{TableOutput, TableSpec};

/// The time a run covers, in epoch ms (whole UTC days).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Window {
    /// Midnight of the first baseline day.
    pub day0_ms: i64,
    /// Midnight of the first analysed day.
    pub eval_ms: i64,
    /// Midnight after the last analysed day.
    pub end_ms: i64,
    /// Days of history before each analysed day.
    pub baseline_days: u32,
}

/// What a stage sees of the run.
pub struct StageContext<'a> {
    /// The run id (goes into findings and table rows).
    pub run_id: &'a str,
    /// The SQL runner: the embedded engine or Athena.
    pub runner: &'a dyn SqlRunner,
    /// The rollup store, when `[rollup]` is set.
    pub rollup: Option<&'a Rollup>,
    /// The days the run covers.
    pub window: Window,
    /// Where "now" comes from.
    pub clock: &'a dyn Clock,
    /// Trips on SIGINT/SIGTERM; a stage checks it between units of work.
    pub cancel: &'a Cancel,
    /// The normalised views the lake has (`None`: unknown before querying, as on Athena).
    pub views: Option<&'a [&'static str]>,
    /// Describe a plot per finding.
    pub plots: bool,
    /// A progress bar when a person watches.
    pub progress: Option<&'a indicatif::ProgressBar>,
    /// What the day before the run's first day published of the tables stages carry state in
    /// ([`Stage::carried_tables`]), by folder; a table that day did not write is absent.
    pub carried: &'a Carried,
}

/// The previous day's rows of the tables stages carry from night to night, by table folder.
pub type Carried = std::collections::BTreeMap<String, Vec<arrow::record_batch::RecordBatch>>;

impl std::fmt::Debug for StageContext<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StageContext")
            .field("run_id", &self.run_id)
            .field("window", &self.window)
            .field("views", &self.views)
            .finish_non_exhaustive()
    }
}

impl StageContext<'_> {
    /// True when the lake has `view` (or when that is only known to the engine).
    pub fn has_view(&self, view: &str) -> bool {
        self.views.is_none_or(|v| v.contains(&view))
    }

    /// `Err(Cancelled)` once the run was stopped.
    pub fn check_cancel(&self, stage: &'static str) -> Result<(), StageError> {
        if self.cancel.is_cancelled() {
            Err(StageError::Cancelled { stage })
        } else {
            Ok(())
        }
    }
}

/// What a stage produced.
#[derive(Debug, Default)]
pub struct StageOutput {
    /// Findings (the run keeps those whose window starts in the analysed days).
    pub findings: Vec<Finding>,
    /// Plot descriptions by finding id; the run draws the highest-scoring ones.
    pub plots: Vec<(String, PlotSpec)>,
    /// Extra tables, each with its days.
    pub tables: Vec<TableOutput>,
    /// Sections of the manifest, by key (`series`, `features`, …).
    pub manifest: Vec<(String, serde_json::Value)>,
    /// Warnings for people (also logged by the stage).
    pub warnings: Vec<String>,
    /// Milliseconds per step, for the manifest's `timings_ms`.
    pub timings_ms: Vec<(String, u128)>,
}

/// One query a stage will run, for `run --dry-run`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PlannedQuery {
    /// Query label (logs, Athena statistics).
    pub label: String,
    /// The normalised view it reads (`lakesight.<view>`).
    pub view: String,
    /// First day read, `YYYY-MM-DD`.
    pub from: String,
    /// Last day read (inclusive).
    pub to: String,
    /// The detectors that judge its result (empty for a table).
    pub detectors: Vec<String>,
}

/// Errors of a stage.
#[derive(Debug, thiserror::Error)]
pub enum StageError {
    /// A query or its result's shape.
    #[error(transparent)]
    Series(#[from] SeriesError),
    /// The run was stopped (SIGINT/SIGTERM) while the stage ran.
    #[error("stage {stage}: stopped (SIGINT/SIGTERM) before it finished; nothing was published")]
    Cancelled {
        /// The stage.
        stage: &'static str,
    },
}

/// The interface every stage implements.
#[async_trait]
pub trait Stage: Send + Sync + std::fmt::Debug {
    /// The stage's name (manifest, logs, `--dry-run`).
    fn name(&self) -> &'static str;
    /// The detector names whose findings partitions (`detector=…`) this stage owns; every one of
    /// them gets a partition per analysed day, empty when nothing was found.
    fn detectors(&self) -> Vec<String> {
        Vec::new()
    }
    /// The ATT&CK techniques its findings can carry (the run's coverage summary).
    fn techniques(&self) -> Vec<String> {
        Vec::new()
    }
    /// The queries the stage will run over `window`: `--dry-run` prints them, and the lake is
    /// opened from the earliest `from` among them (`RunPlan::read_from`), so they must cover every
    /// day the stage's `run` reads.
    fn queries(&self, window: &Window) -> Vec<PlannedQuery>;
    /// The extra tables the stage writes (for `--dry-run`; Glue registers those it returned).
    fn tables(&self) -> Vec<TableSpec> {
        Vec::new()
    }
    /// The folders of its tables that carry state from one night to the next: the runtime reads
    /// the day before the run's first day of each into [`StageContext::carried`], so a nightly run,
    /// a rerun of its day and a range run over it start from the same state.
    fn carried_tables(&self) -> Vec<String> {
        Vec::new()
    }
    /// Run the stage.
    async fn run(&self, ctx: &StageContext<'_>) -> Result<StageOutput, StageError>;
}

/// `YYYY-MM-DD` of the day that starts at or contains `ms`.
pub(crate) fn day(ms: i64) -> String {
    crate::series::dt(ms)
}
