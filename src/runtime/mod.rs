//! Running a job: job file → series → detectors → findings → sink, with a manifest.
//!
//! Also the container conventions: SageMaker Processing and AWS Batch pass settings through the
//! environment; `LAKESIGHT_JOB`, `LAKESIGHT_DATE` are read by the CLI, and a run's "now" comes from
//! an injected [`Clock`] so tests and reruns are reproducible.

pub mod config;
pub mod interrupt;
pub mod run;

/// Where "now" comes from.
pub trait Clock: Send + Sync {
    /// Current time, epoch ms.
    fn now_ms(&self) -> i64;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        chrono::Utc::now().timestamp_millis()
    }
}

/// A fixed clock for tests.
#[derive(Debug, Clone, Copy)]
pub struct FixedClock(pub i64);

impl Clock for FixedClock {
    fn now_ms(&self) -> i64 {
        self.0
    }
}
