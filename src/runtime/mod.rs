//! Running a job: job file → [`plan::RunPlan`] (resolved and validated before anything runs) →
//! the stages of the registry → the sink, with a manifest.
//!
//! Also the container conventions: SageMaker Processing and AWS Batch pass settings through the
//! environment; `LAKESIGHT_JOB`, `LAKESIGHT_DATE` are read by the CLI, and a run's "now" comes from
//! an injected [`Clock`] so tests and reruns are reproducible.

pub mod config;
pub mod container;
pub mod detect_file;
pub mod exit;
pub mod explain;
pub mod plan;
pub mod quality;
pub mod run;
pub mod score_file;
pub mod shard;

pub use crate::clock::{Clock, FixedClock, SystemClock};
