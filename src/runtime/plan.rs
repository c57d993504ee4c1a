//! The resolved plan of a run: every decision a run makes before it touches the lake — the days,
//! the window, the URLs, S3 options, the engine, the rollup store, the run id and the stages with
//! their configs — made and checked in one place, printed by `lakesight run --dry-run`.
//!
//! Why a plan: a run that fails on a bad setting should fail before it scans a month of data, and
//! an operator who wants to know what a night will read and write should be able to ask without
//! running it.
//!
//! [`stages`] is the stage registry: adding a stage is a module under `stages/` plus one line
//! there (and its config's field in the job file when it has settings).

use std::fmt::Write as _;

use chrono::NaiveDate;

use super::config::{JobConfig, OutputConfig};
use super::run::{RunError, RunOverrides};
use crate::clock::Clock;
use crate::lake::athena::AthenaConfig;
use crate::series::SeriesCatalog;
use crate::sink::glue::GlueConfig;
use crate::sink::manifest::DayRange;
use crate::stages::{Stage, Window};
use crate::store::S3Options;

/// The stage registry: the stages a job runs, in order.
pub fn stages(cfg: &JobConfig, catalog: &SeriesCatalog) -> Vec<Box<dyn Stage>> {
    use crate::stages::*;
    let mut v: Vec<Box<dyn Stage>> = vec![Box::new(series::SeriesStage::new(&cfg.series, &cfg.detectors, catalog))];
    if cfg.output.features {
        v.push(Box::new(features::FeaturesStage {
            table: cfg.output.features_table.clone(),
        }));
    }
    if let Some(job) = &cfg.ip_insights {
        v.push(Box::new(ip_insights::IpInsightsStage {
            job: job.clone(),
            table: cfg.output.embeddings_table.clone(),
        }));
    }
    if let Some(job) = &cfg.ueba {
        v.push(Box::new(ueba::UebaStage { job: job.clone() }));
    }
    if let Some(job) = &cfg.identity {
        v.push(Box::new(crate::stages::identity::IdentityStage { job: job.clone() }));
    }
    if let Some(h) = &cfg.hunts {
        v.extend(h.stages());
    }
    if cfg.job.check_row_times {
        // The views the stages above read, whatever the window.
        let w = crate::stages::Window {
            day0_ms: 0,
            eval_ms: 0,
            end_ms: 86_400_000,
            baseline_days: 0,
        };
        let views: std::collections::BTreeSet<String> = v.iter().flat_map(|s| s.queries(&w)).map(|q| q.view).collect();
        v.push(Box::new(row_times::RowTimesStage {
            views: views.into_iter().collect(),
        }));
    }
    v
}

/// Which engine runs the SQL.
#[derive(Debug, Clone)]
pub enum EngineChoice {
    /// The embedded DataFusion engine over the lake's files.
    Embedded,
    /// Amazon Athena (`job.engine = "athena"`).
    Athena(AthenaConfig),
}

/// The rollup store as resolved for this run.
#[derive(Debug, Clone)]
pub struct RollupPlan {
    /// Its root URL.
    pub location: String,
    /// Days always recomputed.
    pub recompute_days: usize,
    /// What its rows come from (part of its folder digest).
    pub source: String,
}

/// Everything a run will do, decided.
#[derive(Debug)]
pub struct RunPlan {
    /// Run id: `<job>-<UTC start>`.
    pub run_id: String,
    /// Job name.
    pub job: String,
    /// SHA-256 of the job configuration.
    pub config_digest: String,
    /// Start, epoch ms (from the injected clock).
    pub started_ms: i64,
    /// The analysed days.
    pub range: DayRange,
    /// First baseline day.
    pub baseline_from: NaiveDate,
    /// First day any stage reads: `baseline_from`, or earlier when a detector judges on a longer
    /// history than the baseline (the trend test's `history_days`). The lake is opened from it,
    /// each source family from the first day a query of the plan reads of it.
    pub read_from: NaiveDate,
    /// The same span in epoch ms, as stages see it.
    pub window: Window,
    /// Lake URL.
    pub lake: String,
    /// Output URL.
    pub output: String,
    /// The URL readers reach the output at, when it is not `output` (a SageMaker Processing
    /// output folder, uploaded to this S3 URI when the job ends).
    pub publish: Option<String>,
    /// S3 options (job file over environment).
    pub s3: S3Options,
    /// The engine.
    pub engine: EngineChoice,
    /// The embedded engine's memory pool and spill folder.
    pub memory: crate::lake::engine::MemoryOptions,
    /// The rollup store.
    pub rollup: Option<RollupPlan>,
    /// Glue registration.
    pub glue: Option<GlueConfig>,
    /// Output settings.
    pub out: OutputConfig,
    /// Show a progress bar.
    pub progress: bool,
    /// How the run takes its day leases (`output.lease_seconds`, `--take-over`).
    pub lease: crate::sink::lease::LeaseOptions,
    /// When this run is one day of a sharded backfill ([`super::shard`]).
    pub backfill: Option<Backfill>,
    /// The stages, in order.
    pub stages: Vec<Box<dyn Stage>>,
}

fn midnight(d: NaiveDate) -> i64 {
    d.and_hms_opt(0, 0, 0).map(|d| d.and_utc().timestamp_millis()).unwrap_or(0)
}

/// One day of a sharded backfill (see [`super::shard`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backfill {
    /// What the backfill's children share (recorded with each day they publish).
    pub group: String,
    /// The whole backfill.
    pub range: DayRange,
    /// Publish only once this day (the one before) is published by the same backfill.
    pub after: Option<NaiveDate>,
    /// This is the backfill's last day: write its manifest and report after publishing.
    pub last: bool,
}

impl RunPlan {
    /// This plan as day `day` of the sharded backfill `range` (`group` shared by its children):
    /// the run id names the day (children start in the same millisecond).
    pub fn for_backfill(mut self, group: &str, range: DayRange, day: NaiveDate) -> RunPlan {
        self.run_id = format!("{}-d{}", self.run_id, day.format("%Y%m%d"));
        self.backfill = Some(Backfill {
            group: group.to_string(),
            range,
            after: (day > range.from).then(|| day.pred_opt()).flatten(),
            last: day == range.to,
        });
        self
    }
}

/// The run id of a job started at `started_ms`: `<job name>-<UTC start, YYYYMMDDTHHMMSSmmmZ>`.
/// Milliseconds, because two runs started in the same second (array children, a rerun right
/// after a failure) must not share `runs/<id>/` or the Athena scratch prefix.
pub fn run_id(job: &str, started_ms: i64) -> String {
    let started_at = chrono::DateTime::from_timestamp_millis(started_ms).unwrap_or_default();
    format!("{job}-{}", started_at.format("%Y%m%dT%H%M%S%3fZ"))
}

impl RunPlan {
    /// Resolve a validated job and the caller's overrides into a plan.
    pub fn new(cfg: &JobConfig, catalog: &SeriesCatalog, ov: &RunOverrides, clock: &dyn Clock) -> Result<RunPlan, RunError> {
        let range = match (ov.date, ov.from, ov.to, cfg.job.date, cfg.job.from, cfg.job.to) {
            (Some(d), _, _, _, _, _) => DayRange { from: d, to: d },
            (None, Some(f), Some(t), _, _, _) => DayRange { from: f, to: t },
            (None, None, None, Some(d), _, _) => DayRange { from: d, to: d },
            (None, None, None, None, Some(f), Some(t)) => DayRange { from: f, to: t },
            _ => return Err(RunError::NoDate),
        };
        if range.from > range.to {
            return Err(RunError::Plan(vec![format!("--from {} is after --to {}", range.from, range.to)]));
        }
        let lake = ov.lake.clone().unwrap_or_else(|| cfg.job.lake.clone());
        let output = ov.out.clone().unwrap_or_else(|| cfg.job.output.clone());
        let started_ms = clock.now_ms();
        let baseline_from = range.from - chrono::Days::new(cfg.job.baseline_days as u64);
        let window = Window {
            day0_ms: midnight(baseline_from),
            eval_ms: midnight(range.from),
            end_ms: midnight(range.to + chrono::Days::new(1)),
            baseline_days: cfg.job.baseline_days,
        };
        let engine = match (cfg.job.engine.as_str(), &cfg.athena) {
            ("athena", Some(a)) => EngineChoice::Athena(a.clone()),
            ("athena", None) => {
                return Err(RunError::Plan(vec![
                    "athena: job.engine = \"athena\" needs an [athena] table".into()
                ]))
            }
            _ => EngineChoice::Embedded,
        };
        let rollup = cfg.rollup.as_ref().map(|r| RollupPlan {
            location: r.location.clone().unwrap_or_else(|| output.clone()),
            recompute_days: r.recompute_days,
            source: match &engine {
                EngineChoice::Athena(a) => format!("athena:{}.{}", a.catalog, a.database),
                EngineChoice::Embedded => format!("lake:{lake}"),
            },
        });
        let stages = stages(cfg, catalog);
        let read_from = stages
            .iter()
            .flat_map(|s| s.queries(&window))
            .filter_map(|q| NaiveDate::parse_from_str(&q.from, "%Y-%m-%d").ok())
            .fold(baseline_from, NaiveDate::min);
        Ok(RunPlan {
            run_id: run_id(&cfg.job.name, started_ms),
            job: cfg.job.name.clone(),
            config_digest: cfg.digest(),
            started_ms,
            range,
            baseline_from,
            read_from,
            window,
            lake,
            output,
            publish: ov.publish.clone(),
            s3: cfg.s3.clone().or(&S3Options::from_env()),
            engine,
            memory: crate::lake::engine::MemoryOptions {
                limit: Some(
                    cfg.job
                        .memory_limit_bytes()
                        .map_err(|e| RunError::Plan(vec![format!("job.memory_limit: {e}")]))?,
                ),
                spill_dir: cfg.job.spill_dir.as_ref().map(std::path::PathBuf::from),
            },
            rollup,
            glue: cfg.glue.clone(),
            out: cfg.output.clone(),
            progress: ov.progress,
            lease: crate::sink::lease::LeaseOptions {
                ttl_ms: (cfg.output.lease_seconds as i64).saturating_mul(1000),
                take_over: ov.take_over,
            },
            backfill: None,
            stages,
        })
    }

    /// Every detector whose findings partitions the run writes, sorted.
    pub fn detectors(&self) -> Vec<String> {
        let mut v: Vec<String> = self.stages.iter().flat_map(|s| s.detectors()).collect();
        v.sort();
        v.dedup();
        v
    }

    /// What `run --dry-run` prints: the days and views read, the queries per stage, the outputs.
    pub fn describe(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "run {} (job {}, config {})",
            self.run_id,
            self.job,
            &self.config_digest[..12.min(self.config_digest.len())]
        );
        let _ = writeln!(
            s,
            "days analysed: {} .. {} ({} day(s)); baseline from {} ({} days before each)",
            self.range.from,
            self.range.to,
            self.range.days().len(),
            self.baseline_from,
            self.window.baseline_days
        );
        if self.read_from < self.baseline_from {
            let _ = writeln!(s, "lake read from {} (a detector judges on a longer history)", self.read_from);
        }
        let _ = writeln!(s, "lake:   {}", self.lake);
        let _ = writeln!(s, "output: {}", self.output);
        if let Some(p) = &self.publish {
            let _ = writeln!(s, "published as: {p} (locations in the DDL, Glue, report and manifest)");
        }
        match &self.engine {
            EngineChoice::Embedded => {
                let _ = writeln!(
                    s,
                    "engine: embedded DataFusion over the lake's files ({}, spilling to {})",
                    self.memory
                        .limit
                        .map_or("no memory pool".to_string(), |l| format!("memory pool {} MiB", l >> 20)),
                    self.memory
                        .spill_dir
                        .as_ref()
                        .map_or("the OS temporary folder".to_string(), |d| d.display().to_string())
                );
            }
            EngineChoice::Athena(a) => {
                let _ = writeln!(
                    s,
                    "engine: Athena (catalog {}, database {}, workgroup {})",
                    a.catalog, a.database, a.workgroup
                );
            }
        }
        if let Some(ep) = &self.s3.endpoint {
            let _ = writeln!(s, "s3 endpoint: {ep}");
        }
        match &self.rollup {
            Some(r) => {
                let _ = writeln!(
                    s,
                    "rollup store: {}/rollups/ (recompute the last {} day(s); source {})",
                    r.location.trim_end_matches('/'),
                    r.recompute_days,
                    r.source
                );
            }
            None => {
                let _ = writeln!(s, "rollup store: off (every query reads its whole window)");
            }
        }
        let _ = writeln!(s, "stages:");
        for st in &self.stages {
            let _ = writeln!(s, "  {}", st.name());
            for q in st.queries(&self.window) {
                let judged = if q.detectors.is_empty() {
                    String::new()
                } else {
                    format!(" -> {}", q.detectors.join(", "))
                };
                let _ = writeln!(
                    s,
                    "    query {:<24} reads lakesight.{:<18} {} .. {}{judged}",
                    q.label, q.view, q.from, q.to
                );
            }
            for t in st.tables() {
                let _ = writeln!(s, "    table {} -> {}/dt=<day>/{}.parquet", t.table, t.folder, t.folder);
            }
        }
        let _ = writeln!(s, "outputs:");
        let _ = writeln!(
            s,
            "  findings/dt=<day>/detector=<{}>/findings.parquet ({} day(s)), findings_table.sql",
            self.detectors().join("|"),
            self.range.days().len()
        );
        let _ = writeln!(s, "  investigations/dt={}_{}/investigations.sql", self.range.from, self.range.to);
        if self.out.plots {
            let _ = writeln!(s, "  plots/dt=<day>/<finding id>.png|svg (at most {})", self.out.max_plots);
        }
        if self.out.report {
            let _ = writeln!(s, "  report.html");
        }
        let _ = writeln!(
            s,
            "  runs/{}/manifest.json{} (and at the root, with latest.json, unless a run started later has published)",
            self.run_id,
            if self.out.report { ", report.html" } else { "" }
        );
        if self.glue.is_some() {
            let _ = writeln!(s, "glue: register {}.{} and the stages' tables", self.out.database, self.out.table);
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Proves run ids carry milliseconds: two runs of one job a millisecond apart (array
    /// children started together) get different ids, and the id stays a plain S3-key word.
    #[test]
    fn run_ids_differ_by_the_millisecond() {
        let a = run_id("nightly", 1_764_892_845_123);
        assert_eq!(a, "nightly-20251205T000045123Z");
        assert_ne!(a, run_id("nightly", 1_764_892_845_124));
        assert!(a.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-'));
    }
}
