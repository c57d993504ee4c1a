//! One run of a job over a day or a range of days: a [`RunPlan`], then a short sequence of named
//! steps — open the lake, open the rollup store, run the stages, publish — and the manifest.
//!
//! Nothing is published until every stage has finished: a failing or stopped (SIGINT/SIGTERM)
//! run leaves the output as it was. Publishing itself holds the cancellation token's in-flight
//! guard, so a stop that arrives while files are being written waits for the last one.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use rayon::prelude::*;

use super::config::JobConfig;
use super::plan::{EngineChoice, RunPlan};
use crate::cancel::Cancel;
use crate::clock::Clock;
use crate::findings::plot::PlotSpec;
use crate::findings::Finding;
use crate::lake::athena::Athena;
use crate::lake::catalog::{CatalogOptions, Skipped};
use crate::lake::engine::Engine;
use crate::lake::{LakeError, SqlRunner};
use crate::series::rollup::{Incomplete, Rollup};
use crate::series::SeriesCatalog;
use crate::sink::lease::Leases;
use crate::sink::manifest::{AthenaStats, Inputs, Manifest};
use crate::sink::{findings_ddl, report, root, Output};
use crate::stages::{StageContext, StageError, StageOutput};
use crate::table::TableOutput;

pub use super::plan::run_id;
pub use crate::sink::manifest::DayRange;

/// Errors of a run (each names what failed).
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The lake could not be opened.
    #[error("lake: {0}")]
    Lake(#[from] crate::lake::LakeError),
    /// Writing output failed.
    #[error("output: {0}")]
    Sink(#[from] crate::sink::SinkError),
    /// A series could not be built.
    #[error(transparent)]
    Series(#[from] crate::series::SeriesError),
    /// A stage failed or was stopped.
    #[error(transparent)]
    Stage(#[from] StageError),
    /// No date given.
    #[error("no date to analyse: give --date, --from/--to, or job.date / job.from+job.to")]
    NoDate,
    /// The plan cannot be carried out (every problem).
    #[error("run plan: {}", .0.join("; "))]
    Plan(Vec<String>),
    /// The run was stopped (SIGINT/SIGTERM) before publishing; nothing was written.
    #[error("stopped (SIGINT/SIGTERM) before publishing; nothing was written")]
    Cancelled,
    /// The findings table could not be registered in Glue.
    #[error("{0}")]
    Register(String),
    /// A day of a sharded backfill waited too long for the day before it.
    #[error("backfill: {0}")]
    Backfill(String),
    /// Another run holds a day of the run, or took it over (see [`crate::sink::lease`]).
    #[error(transparent)]
    Lease(#[from] crate::sink::lease::LeaseError),
}

/// What a run returns to its caller.
#[derive(Debug)]
pub struct RunResult {
    /// The manifest as written.
    pub manifest: Manifest,
    /// The findings.
    pub findings: Vec<Finding>,
    /// Output root URL.
    pub output: String,
}

/// Options a caller can override.
#[derive(Debug, Clone, Default)]
pub struct RunOverrides {
    /// Single day.
    pub date: Option<chrono::NaiveDate>,
    /// Range start.
    pub from: Option<chrono::NaiveDate>,
    /// Range end.
    pub to: Option<chrono::NaiveDate>,
    /// Lake URL.
    pub lake: Option<String>,
    /// Output URL.
    pub out: Option<String>,
    /// Show a progress bar.
    pub progress: bool,
    /// Publish the output's locations under this URL instead of the output's own (SageMaker
    /// Processing: the S3 URI its output folder is uploaded to; see `runtime::container`).
    pub publish: Option<String>,
    /// Claim the run's days even when another run's lease on them looks alive (`--take-over`,
    /// for an operator who knows that run is gone; see `sink::lease`).
    pub take_over: bool,
}

/// Plan and run a validated job (never cancelled: for tests and library callers).
pub async fn run(cfg: &JobConfig, catalog: &SeriesCatalog, ov: &RunOverrides, clock: &dyn Clock) -> Result<RunResult, RunError> {
    let plan = RunPlan::new(cfg, catalog, ov, clock)?;
    execute(&plan, clock, &Cancel::new()).await
}

/// The lake as opened for a run: the SQL runner, and what was read and skipped to open it (and,
/// for deferred footers, since).
struct OpenLake {
    engine: Option<Engine>,
    athena: Option<Athena>,
}

impl OpenLake {
    fn runner(&self) -> Result<&dyn SqlRunner, RunError> {
        match (&self.engine, &self.athena) {
            (Some(e), _) => Ok(e),
            (None, Some(a)) => Ok(a),
            (None, None) => Err(RunError::Plan(vec!["job.engine: no engine".into()])),
        }
    }

    /// Inputs skipped so far (Athena: none, it reads its own catalog).
    fn skipped(&self) -> Vec<Skipped> {
        self.engine.as_ref().map(|e| e.catalog.all_skipped()).unwrap_or_default()
    }

    /// What the lake held for the run's window and how much of it was read so far.
    fn inputs(&self) -> Inputs {
        self.engine
            .as_ref()
            .map(|engine| {
                let c = &engine.catalog;
                let (footers_read, rows) = c.read_so_far();
                Inputs {
                    tables: c.tables.len(),
                    files: c.tables.iter().map(|t| t.files.len() + t.deferred.len()).sum(),
                    footers_read,
                    rows,
                    bytes: c.tables.iter().map(|t| t.bytes()).sum(),
                }
            })
            .unwrap_or_default()
    }
}

/// Everything the stages produced, merged.
#[derive(Default)]
struct Produced {
    findings: Vec<Finding>,
    plots: HashMap<String, PlotSpec>,
    tables: Vec<TableOutput>,
    sections: BTreeMap<String, serde_json::Value>,
    warnings: Vec<String>,
    timings: BTreeMap<String, u128>,
}

/// Run a plan: claim its days ([`crate::sink::lease`]), run, let go of them whatever happened.
pub async fn execute(plan: &RunPlan, clock: &dyn Clock, cancel: &Cancel) -> Result<RunResult, RunError> {
    let t_all = Instant::now();
    tracing::info!(run_id = %plan.run_id, from = %plan.range.from, to = %plan.range.to, baseline_from = %plan.baseline_from, lake = %plan.lake, "run starting");
    // One output handle for the whole run (on S3 each opening loads the SDK's configuration).
    let out = Output::open(&plan.output, &plan.s3).await?.published_as(plan.publish.clone());
    // Held from before the claim until the keeper holds its own guard: a stop that lands between
    // the two (seen in CI, right after "day leases taken") would otherwise find no work in flight
    // and exit at once, leaving the days held until their time to live runs out.
    let claiming = cancel.guard();
    let leases = Leases::acquire(
        &out.location,
        &plan.range.days(),
        &plan.run_id,
        &plan.job,
        clock.now_ms(),
        plan.lease,
    )
    .await?;
    let phase = Arc::new(Mutex::new(Phase::Working));
    let mut keeper = Keeper(Some(keeper(leases.clone(), clock.now_ms(), cancel.clone(), phase.clone())));
    drop(claiming);
    let r = execute_held(plan, &out, &leases, &phase, clock, cancel, t_all).await;
    // Held until the days are let go: the binary waits for work in flight before it exits.
    let _releasing = cancel.guard();
    keeper.stop().await;
    // Also after a stop: the keeper may have been stopped in the middle of its release (a
    // release is idempotent).
    if let Err(e) = leases.release(clock.now_ms()).await {
        tracing::warn!(error = %e, "releasing the day leases (they expire on their own)");
    }
    r
}

/// Where a run that holds its days is, for its lease keeper.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Reading and computing: a stop lets the days go at once.
    Working,
    /// Publishing: the days stay held until the run ends.
    Publishing,
    /// Stopped before publishing; the keeper has let the days go (or is letting them go).
    Stopped,
}

/// The lease keeper task, stopped when dropped (a panicking run must not keep its days alive).
struct Keeper(Option<tokio::task::JoinHandle<()>>);

impl Keeper {
    /// Stop it and wait until it has, so no beat lands after the release.
    async fn stop(&mut self) {
        if let Some(h) = self.0.take() {
            h.abort();
            let _ = h.await;
        }
    }
}

impl Drop for Keeper {
    fn drop(&mut self) {
        if let Some(h) = &self.0 {
            h.abort();
        }
    }
}

/// Keep `leases`: renew them every third of their time to live until aborted, and on a stop
/// (SIGINT/SIGTERM) before publishing let them go at once — the binary exits as soon as no work
/// is in flight, which can be before the run itself notices the stop (a stage's query is not
/// interrupted), and a day left held would make the next run wait out the time to live. The
/// keeper holds a cancellation guard until it has let go, so the binary waits for the release.
/// A stop while publishing changes nothing here: the run finishes and releases.
/// The beat's time is the injected clock's reading at the start plus the time elapsed since (a
/// task cannot borrow it).
fn keeper(leases: Leases, start_ms: i64, cancel: Cancel, phase: Arc<Mutex<Phase>>) -> tokio::task::JoinHandle<()> {
    let t0 = Instant::now();
    let guard = cancel.guard();
    tokio::spawn(async move {
        let now = || start_ms.saturating_add(t0.elapsed().as_millis() as i64);
        let mut publishing = false;
        loop {
            tokio::select! {
                _ = tokio::time::sleep(leases.beat_every()) => {
                    if let Err(e) = leases.renew(now()).await {
                        tracing::warn!(error = %e, "lease heartbeat failed (retried at the next beat)");
                    }
                }
                _ = cancel.cancelled(), if !publishing => {
                    let stop = {
                        let mut p = phase.lock().unwrap_or_else(|p| p.into_inner());
                        if *p == Phase::Working {
                            *p = Phase::Stopped;
                        }
                        *p == Phase::Stopped
                    };
                    if !stop {
                        publishing = true;
                        continue;
                    }
                    match leases.release(now()).await {
                        Ok(()) => tracing::info!(days = ?leases.days(), "stopped: day leases let go"),
                        Err(e) => tracing::warn!(error = %e, "stopped: releasing the day leases failed (they expire on their own)"),
                    }
                    drop(guard);
                    return;
                }
            }
        }
    })
}

async fn execute_held(
    plan: &RunPlan,
    out: &Output,
    leases: &Leases,
    phase: &Mutex<Phase>,
    clock: &dyn Clock,
    cancel: &Cancel,
    t_all: Instant,
) -> Result<RunResult, RunError> {
    let t = Instant::now();
    let lake = open_lake(plan, cancel).await?;
    let open_ms = t.elapsed().as_millis();
    let rollup = open_rollup(plan, &lake).await?;
    // A backfill's day reads what the day before published: state its stages carry at once,
    // the conditions at publishing (see `runtime::shard`).
    let carries = plan.stages.iter().any(|s| !s.carried_tables().is_empty());
    if carries {
        wait_for_day_before(plan, out, cancel).await?;
    }
    let carried = read_carried(plan, out).await?;
    let mut produced = run_stages(plan, &lake, rollup.as_ref(), &carried, clock, cancel).await?;
    produced.timings.insert("open_lake".into(), open_ms);
    if cancel.is_cancelled() {
        return Err(RunError::Cancelled);
    }
    if !carries {
        wait_for_day_before(plan, out, cancel).await?;
    }
    let _publishing = cancel.guard();
    {
        // Under the lock the keeper takes on a stop: either it let the days go (stop here) or
        // they stay held until this run has published.
        let mut p = phase.lock().unwrap_or_else(|p| p.into_inner());
        if *p == Phase::Stopped || cancel.is_cancelled() {
            return Err(RunError::Cancelled);
        }
        *p = Phase::Publishing;
    }
    leases.check().await?;
    tracing::info!(findings = produced.findings.len(), "publishing");
    publish(plan, out, &lake, produced, t_all).await
}

/// For a day of a sharded backfill: wait until the day before is published by the same backfill
/// (polling its `_published` record every second, at most [`super::shard::WAIT`]).
async fn wait_for_day_before(plan: &RunPlan, out: &Output, cancel: &Cancel) -> Result<(), RunError> {
    let Some(b) = &plan.backfill else { return Ok(()) };
    let Some(before) = b.after else { return Ok(()) };
    let day = before.format("%Y-%m-%d").to_string();
    let t0 = Instant::now();
    let mut told = false;
    loop {
        let rec = out.day_record(&day).await?;
        // Published by this backfill, or replaced since this run started (a rerun by hand).
        if rec
            .jobs
            .get(&plan.job)
            .is_some_and(|j| j.by_backfill(&b.group) || j.started_ms > plan.started_ms)
        {
            if told {
                tracing::info!(day = %day, waited_s = t0.elapsed().as_secs(), "the day before is published");
            }
            return Ok(());
        }
        if !told {
            tracing::info!(day = %day, group = %b.group, "waiting for the day before to be published by this backfill");
            told = true;
        }
        if cancel.is_cancelled() {
            return Err(RunError::Cancelled);
        }
        if t0.elapsed() > super::shard::WAIT {
            return Err(RunError::Backfill(format!(
                "day {day} was not published by backfill {} within {} s: is the child that runs it (the children deal \
                 the days round-robin) running, or did it fail?",
                b.group,
                super::shard::WAIT.as_secs()
            )));
        }
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    }
}

/// Open the lake: the embedded engine reads the window's footers; Athena needs neither (its own
/// catalog knows the tables, and reading a month of footers is what it saves).
async fn open_lake(plan: &RunPlan, cancel: &Cancel) -> Result<OpenLake, RunError> {
    let ymd = |d: chrono::NaiveDate| d.format("%Y%m%d").to_string();
    // With a rollup store only the days computed for sure — the last `recompute_days` of the
    // window and the analysed days — have their footers read now; the others are read by the
    // first query that reaches them (a stored day missing, unreadable or late), so a warm nightly
    // run reads no footer of a day it takes from the store.
    let footer_days = plan.rollup.as_ref().map(|r| {
        let back = chrono::Duration::days(r.recompute_days.saturating_sub(1) as i64);
        let from = (plan.range.to - back).min(plan.range.from).max(plan.baseline_from);
        (ymd(from), ymd(plan.range.to))
    });
    // Each source family from the first day a query of the plan reads of it: the trend test's
    // longer history of findings does not open 28 days of CloudTrail too.
    let mut source_from: BTreeMap<crate::lake::ocsf::SourceKind, chrono::NaiveDate> = BTreeMap::new();
    for q in plan.stages.iter().flat_map(|s| s.queries(&plan.window)) {
        let (Ok(from), Some(view)) = (
            chrono::NaiveDate::parse_from_str(&q.from, "%Y-%m-%d"),
            crate::lake::views::VIEWS.iter().find(|v| v.name == q.view),
        ) else {
            continue;
        };
        for k in view.kinds {
            source_from.entry(*k).and_modify(|d| *d = (*d).min(from)).or_insert(from);
        }
    }
    let opts = CatalogOptions {
        days: Some((ymd(plan.read_from), ymd(plan.range.to))),
        footer_days,
        s3: plan.s3.clone(),
        only_tables: None,
        memory: plan.memory.clone(),
        source_from: source_from.into_iter().map(|(k, d)| (k, ymd(d))).collect(),
    };
    let (engine, athena) = match &plan.engine {
        EngineChoice::Athena(a) => (
            None,
            Some(
                Athena::connect(a, &plan.s3, &plan.run_id, cancel.clone())
                    .await
                    .map_err(LakeError::from)?,
            ),
        ),
        EngineChoice::Embedded => (Some(Engine::open(&plan.lake, &opts).await?), None),
    };
    Ok(OpenLake { engine, athena })
}

async fn open_rollup(plan: &RunPlan, lake: &OpenLake) -> Result<Option<Rollup>, RunError> {
    let Some(r) = &plan.rollup else { return Ok(None) };
    Ok(Some(Rollup {
        location: crate::store::Location::open(&r.location, &plan.s3, true)
            .await
            .map_err(|e| RunError::Lake(LakeError::Config(vec![format!("rollup.location: {e}")])))?,
        recompute_days: r.recompute_days,
        source: r.source.clone(),
        incomplete: Incomplete::from_skipped(lake.skipped().iter().map(|s| s.path.as_str())),
        inputs: lake
            .engine
            .as_ref()
            .map(|e| crate::series::rollup::input_fingerprints(&e.catalog.tables)),
    }))
}

/// What the day before the run's first day published of the tables the stages carry state in
/// (see [`crate::stages::Stage::carried_tables`]).
async fn read_carried(plan: &RunPlan, out: &Output) -> Result<crate::stages::Carried, RunError> {
    let folders: std::collections::BTreeSet<String> = plan.stages.iter().flat_map(|s| s.carried_tables()).collect();
    let mut carried = crate::stages::Carried::new();
    let Some(before) = plan.range.from.pred_opt().map(|d| d.format("%Y-%m-%d").to_string()) else {
        return Ok(carried);
    };
    if folders.is_empty() {
        return Ok(carried);
    }
    for folder in folders {
        if let Some(rows) = out.read_dt_table(&folder, &before).await? {
            tracing::info!(table = %folder, day = %before, rows = rows.iter().map(|b| b.num_rows()).sum::<usize>(), "state carried from the day before");
            carried.insert(folder, rows);
        }
    }
    Ok(carried)
}

/// Run every stage of the plan in order and merge what they produced.
async fn run_stages(
    plan: &RunPlan,
    lake: &OpenLake,
    rollup: Option<&Rollup>,
    carried: &crate::stages::Carried,
    clock: &dyn Clock,
    cancel: &Cancel,
) -> Result<Produced, RunError> {
    let bar = plan.progress.then(|| {
        let b = indicatif::ProgressBar::new(0);
        b.set_style(
            indicatif::ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} {msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        b
    });
    let ctx = StageContext {
        run_id: &plan.run_id,
        runner: lake.runner()?,
        rollup,
        window: plan.window,
        clock,
        cancel,
        views: lake.engine.as_ref().map(|e| e.views.as_slice()),
        plots: plan.out.plots,
        progress: bar.as_ref(),
        carried,
    };
    let mut p = Produced::default();
    for stage in &plan.stages {
        ctx.check_cancel(stage.name())?;
        let out: StageOutput = stage.run(&ctx).await?;
        let mut findings = out.findings;
        // Findings whose window starts outside the analysed days belong to other runs.
        findings.retain(|f| f.window_start_ms >= plan.window.eval_ms && f.window_start_ms < plan.window.end_ms);
        findings.sort_by(|a, b| {
            a.dt.cmp(&b.dt)
                .then(b.score.partial_cmp(&a.score).unwrap_or(std::cmp::Ordering::Equal))
                .then(a.finding_id.cmp(&b.finding_id))
        });
        p.findings.extend(findings);
        p.plots.extend(out.plots);
        p.tables.extend(out.tables);
        p.sections.extend(out.manifest);
        p.warnings.extend(out.warnings);
        p.timings.extend(out.timings_ms);
    }
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    Ok(p)
}

/// Register the tables, draw the plots, write findings, tables, DDL, investigation SQL, the
/// report and the manifest.
async fn publish(plan: &RunPlan, out: &Output, lake: &OpenLake, produced: Produced, t_all: Instant) -> Result<RunResult, RunError> {
    let Produced {
        mut findings,
        plots,
        tables,
        sections,
        mut warnings,
        mut timings,
    } = produced;
    // Skipped inputs, those found by the stages' queries (deferred footers) included, lead the
    // warnings.
    let skipped = lake.skipped();
    let narrowed = lake.engine.as_ref().map(|e| e.catalog.narrowed()).unwrap_or_default();
    warnings.splice(
        0..0,
        skipped
            .iter()
            .map(|s| format!("skipped input {}: {}", s.path, s.reason))
            .chain(narrowed.iter().map(|s| format!("input {}: {}", s.path, s.reason))),
    );
    let t = Instant::now();
    let detectors = plan.detectors();
    let glue = register(plan, out, &detectors, &tables).await?;
    let mut outputs = Vec::new();
    let svgs = draw_plots(plan, out, &mut findings, &plots, &mut warnings).await?;
    let resolved = carry_conditions(plan, out, &mut findings, &detectors).await?;
    for (p, _) in out.write_findings(&findings, &plan.range.days(), &detectors).await? {
        outputs.push(p);
    }
    outputs.extend(out.write_series(&findings, &plots, &plan.range.days()).await?);
    let mut records = Vec::new();
    for day in plan.range.days() {
        let entry = crate::sink::JobDay {
            run_id: plan.run_id.clone(),
            detectors: detectors.clone(),
            group: plan.backfill.as_ref().map(|b| b.group.clone()),
            started_ms: plan.started_ms,
        };
        let (gone, record) = out.supersede(&day, &plan.job, entry).await?;
        if !gone.partitions.is_empty() || !gone.plots.is_empty() {
            tracing::info!(day = %day, partitions = ?gone.partitions, plots = gone.plots.len(), "removed what this run superseded");
        }
        records.push((day, record));
    }
    if let Some(o) = &plan.out.ocsf {
        let root = o.root_url(&plan.output);
        let target = crate::sink::ocsf::OcsfTarget {
            location: crate::store::Location::open(&root, &plan.s3, true)
                .await
                .map_err(crate::sink::SinkError::from)?,
            region: o.region.clone(),
            external_account: o.external_account.clone(),
        };
        let (written, deleted) = crate::sink::ocsf::write(&target, &findings, &plan.range.days(), &detectors).await?;
        let rows: usize = written.iter().map(|w| w.1).sum();
        tracing::info!(objects = written.len(), rows, stale_deleted = deleted, root = %root, "wrote OCSF detection findings");
        outputs.extend(written.into_iter().map(|(p, _)| match &o.url {
            None => format!("ocsf/ext/{}/{p}", o.source),
            Some(_) => target.location.url_of(&p),
        }));
    }
    out.put(
        "findings_table.sql",
        findings_ddl(&plan.out.database, &plan.out.table, &out.url_of(""), &detectors).as_bytes(),
    )
    .await?;
    outputs.push("findings_table.sql".into());
    out.put(
        "findings_views.sql",
        crate::sink::findings_views(&plan.out.database, &plan.out.table).as_bytes(),
    )
    .await?;
    outputs.push("findings_views.sql".into());
    for table in &tables {
        outputs.extend(out.write_dt_table(&plan.out.database, table).await?);
    }
    let mut sqls = String::new();
    for f in &findings {
        sqls.push_str(&format!(
            "-- {} | {} | {}\n{};\n\n",
            f.finding_id,
            f.detector,
            crate::sql::comment_text(&f.title),
            f.investigation_sql
        ));
    }
    let inv = format!("investigations/dt={}_{}/investigations.sql", plan.range.from, plan.range.to);
    out.put(&inv, sqls.as_bytes()).await?;
    outputs.push(inv);
    timings.insert("write".into(), t.elapsed().as_millis());

    let mut per_det = BTreeMap::new();
    for f in &findings {
        *per_det.entry(f.detector.clone()).or_insert(0usize) += 1;
    }
    timings.insert("total".into(), t_all.elapsed().as_millis());
    let mut manifest = Manifest {
        run_id: plan.run_id.clone(),
        lakesight_version: env!("CARGO_PKG_VERSION"),
        job: plan.job.clone(),
        config_digest: plan.config_digest.clone(),
        started_at: chrono::DateTime::from_timestamp_millis(plan.started_ms)
            .unwrap_or_default()
            .to_rfc3339(),
        range: plan.range,
        baseline_from: plan.baseline_from,
        read_from: Some(plan.read_from),
        lake: plan.lake.clone(),
        output: out.url_of(""),
        inputs: lake.inputs(),
        skipped_inputs: skipped,
        athena: lake.athena.as_ref().map(|a| AthenaStats::from_queries(a.stats())),
        glue,
        stages: sections,
        findings_per_detector: per_det,
        mitre_coverage: crate::findings::mitre::coverage(
            &plan
                .stages
                .iter()
                .map(|s| (s.name().to_string(), s.techniques()))
                .collect::<Vec<_>>(),
            &findings.iter().map(|f| f.mitre_techniques.clone()).collect::<Vec<_>>(),
        ),
        findings_total: findings.len(),
        conditions: crate::sink::manifest::Conditions {
            new: findings
                .iter()
                .filter(|f| f.condition.status == crate::findings::condition::NEW)
                .count(),
            ongoing_findings: findings
                .iter()
                .filter(|f| f.condition.status == crate::findings::condition::ONGOING)
                .count(),
            resolved,
        },
        timings_ms: timings,
        outputs,
        warnings,
    };
    // Every run keeps its own report and manifest under runs/<run id>/; the root report.html,
    // manifest.json and latest.json show the newest run by start, not whichever finished last
    // (`sink::root`: settled so even when runs finish at the same instant).
    let run_dir = format!("runs/{}", plan.run_id);
    let newer = root::newer_than(out, plan.started_ms, &plan.run_id).await?;
    if let Some(other) = &newer {
        let w = format!(
            "run {other}, started after this one, has already published: report.html, manifest.json and \
             {LATEST} stay its; this run's are under {run_dir}/"
        );
        tracing::warn!("{w}");
        manifest.warnings.push(w);
    }
    let html = plan.out.report.then(|| report::html(&manifest, &findings, &svgs));
    let md = plan.out.report.then(|| report::markdown(&manifest, &findings));
    if let (Some(html), Some(md)) = (&html, &md) {
        out.put(&format!("{run_dir}/report.html"), html.as_bytes()).await?;
        out.put(&format!("{run_dir}/report.md"), md.as_bytes()).await?;
        manifest.outputs.push(format!("{run_dir}/report.html"));
        manifest.outputs.push(format!("{run_dir}/report.md"));
    }
    manifest.outputs.push(format!("{run_dir}/manifest.json"));
    if newer.is_none() {
        if html.is_some() {
            manifest.outputs.extend(["report.html".to_string(), "report.md".to_string()]);
        }
        manifest.outputs.extend(["manifest.json".to_string(), LATEST.to_string()]);
    }
    let text = serde_json::to_string_pretty(&manifest).unwrap_or_default();
    out.put(&format!("{run_dir}/manifest.json"), text.as_bytes()).await?;
    let latest = Latest {
        run_id: plan.run_id.clone(),
        started_ms: plan.started_ms,
        range: plan.range,
        manifest: out.url_of(&format!("{run_dir}/manifest.json")),
        report: html.is_some().then(|| out.url_of(&format!("{run_dir}/report.html"))),
    };
    root::publish(
        out,
        root::RootFiles {
            latest: &latest,
            manifest: text.as_bytes(),
            report: html.as_ref().zip(md.as_ref()).map(|(h, m)| (h.as_bytes(), m.as_bytes())),
        },
    )
    .await?;
    // The days' publication records last: a backfill's next day waits for this one's record,
    // and then reads everything the run wrote (its tables, its manifest).
    for (day, record) in &records {
        out.put_day_record(day, record).await?;
    }
    if let Some(b) = plan.backfill.as_ref().filter(|b| b.last) {
        write_backfill_summary(plan, out, b).await?;
    }
    tracing::info!(run_id = %plan.run_id, findings = findings.len(), "run finished");
    Ok(RunResult {
        manifest,
        findings,
        output: out.url_of(""),
    })
}

/// A sharded backfill's manifest (`runs/backfill-<group>/manifest.json`), written by the child that
/// publishes its last day: each day's run, findings and report.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct BackfillManifest {
    /// What the children shared (the array job's id, the processing job's name).
    pub group: String,
    /// Job name.
    pub job: String,
    /// The backfill's days.
    pub range: DayRange,
    /// Each day, in order.
    pub days: Vec<BackfillDay>,
    /// Findings over all days.
    pub findings_total: u64,
    /// Findings per detector over all days.
    pub findings_per_detector: BTreeMap<String, u64>,
    /// Days not published by this backfill (a later run replaced them, or a child failed).
    pub warnings: Vec<String>,
}

/// One day of a [`BackfillManifest`].
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct BackfillDay {
    /// The day.
    pub day: String,
    /// The run that published it.
    pub run_id: String,
    /// Its findings.
    pub findings: u64,
    /// Its manifest's URL.
    pub manifest: String,
    /// Its report's URL, when it wrote one.
    pub report: Option<String>,
}

async fn write_backfill_summary(plan: &RunPlan, out: &Output, b: &super::plan::Backfill) -> Result<(), RunError> {
    let mut m = BackfillManifest {
        group: b.group.clone(),
        job: plan.job.clone(),
        range: b.range,
        days: Vec::new(),
        findings_total: 0,
        findings_per_detector: BTreeMap::new(),
        warnings: Vec::new(),
    };
    for day in b.range.days() {
        let rec = out.day_record(&day).await?;
        let Some(entry) = rec.jobs.get(&plan.job).filter(|j| j.by_backfill(&b.group)) else {
            m.warnings.push(format!("day {day}: not published by this backfill"));
            continue;
        };
        let rel = format!("runs/{}/manifest.json", entry.run_id);
        let Some(bytes) = out.get_opt(&rel).await? else {
            m.warnings.push(format!("day {day}: run {} wrote no manifest", entry.run_id));
            continue;
        };
        let v: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| crate::sink::SinkError::Decode {
            url: out.url_of(&rel),
            reason: e.to_string(),
        })?;
        let findings = v["findings_total"].as_u64().unwrap_or(0);
        if let Some(per) = v["findings_per_detector"].as_object() {
            for (det, n) in per {
                *m.findings_per_detector.entry(det.clone()).or_default() += n.as_u64().unwrap_or(0);
            }
        }
        m.findings_total += findings;
        let report = format!("runs/{}/report.html", entry.run_id);
        m.days.push(BackfillDay {
            day,
            run_id: entry.run_id.clone(),
            findings,
            manifest: out.url_of(&rel),
            report: out.get_opt(&report).await?.map(|_| out.url_of(&report)),
        });
    }
    let dir: String = b
        .group
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let mut md = format!(
        "# Backfill {} of job {}: {} .. {}\n\n{} findings on {} days.\n\n| day | run | findings | report |\n|---|---|---|---|\n",
        b.group,
        plan.job,
        b.range.from,
        b.range.to,
        m.findings_total,
        m.days.len()
    );
    for d in &m.days {
        md.push_str(&format!(
            "| {} | {} | {} | {} |\n",
            d.day,
            d.run_id,
            d.findings,
            d.report.as_deref().map(|r| format!("[report]({r})")).unwrap_or_default()
        ));
    }
    for w in &m.warnings {
        md.push_str(&format!("\nWarning: {w}\n"));
    }
    let text = serde_json::to_string_pretty(&m).unwrap_or_default();
    out.put(&format!("runs/backfill-{dir}/manifest.json"), text.as_bytes()).await?;
    out.put(&format!("runs/backfill-{dir}/report.md"), md.as_bytes()).await?;
    tracing::info!(group = %b.group, days = m.days.len(), findings = m.findings_total, summary = %out.url_of(&format!("runs/backfill-{dir}/")), "backfill finished");
    Ok(())
}

/// Give every finding its condition (new / ongoing, first seen, days) from what the day before
/// the run's first day published, and return the conditions resolved on the run's days.
async fn carry_conditions(
    plan: &RunPlan,
    out: &Output,
    findings: &mut [Finding],
    detectors: &[String],
) -> Result<Vec<crate::findings::condition::Resolved>, RunError> {
    let before = plan.range.from.pred_opt().map(|d| d.format("%Y-%m-%d").to_string());
    let published = match &before {
        Some(d) => out.read_published(d, detectors).await?,
        None => Vec::new(),
    };
    let seen = crate::findings::condition::seen_of(&published);
    let resolved = crate::findings::condition::assign(findings, &plan.range.days(), &seen);
    tracing::info!(
        carried_from = before.as_deref().unwrap_or("-"),
        conditions_before = seen.len(),
        resolved = resolved.len(),
        "conditions"
    );
    Ok(resolved)
}

pub use crate::sink::root::{Latest, LATEST};

/// Register (or update) the findings table and the stages' tables in Glue before any file is
/// written: a failure here leaves readers with nothing new.
async fn register(
    plan: &RunPlan,
    out: &Output,
    detectors: &[String],
    tables: &[TableOutput],
) -> Result<Vec<crate::sink::glue::Registration>, RunError> {
    let Some(g) = &plan.glue else { return Ok(Vec::new()) };
    let mut specs = vec![crate::findings::table_spec(&plan.out.table, detectors)];
    specs.extend(tables.iter().map(|t| t.spec.clone()));
    let mut done = Vec::new();
    for spec in &specs {
        done.push(
            crate::sink::glue::register_table(g, plan.s3.region.as_deref(), &plan.out.database, spec, &out.url_of(""))
                .await
                .map_err(|e| RunError::Register(e.to_string()))?,
        );
    }
    Ok(done)
}

/// Draw the plots of the highest-scoring findings (at most `output.max_plots`), so the findings
/// rows can link them.
async fn draw_plots(
    plan: &RunPlan,
    out: &Output,
    findings: &mut [Finding],
    plots: &HashMap<String, PlotSpec>,
    warnings: &mut Vec<String>,
) -> Result<HashMap<String, String>, RunError> {
    let mut svgs = HashMap::new();
    let mut order: Vec<usize> = (0..findings.len())
        .filter(|i| plots.contains_key(&findings[*i].finding_id))
        .collect();
    order.sort_by(|a, b| {
        findings[*b]
            .score
            .partial_cmp(&findings[*a].score)
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    order.truncate(plan.out.max_plots);
    let drawn: Vec<(usize, Result<(Vec<u8>, String), crate::sink::plot::PlotError>)> = order
        .par_iter()
        .map(|i| (*i, crate::sink::plot::render(&plots[&findings[*i].finding_id])))
        .collect();
    for (i, r) in drawn {
        let f = &mut findings[i];
        match r {
            Ok((png, svg)) => {
                let stem = format!("plots/dt={}/{}", f.dt, f.finding_id);
                out.put(&format!("{stem}.svg"), svg.as_bytes()).await?;
                f.plot = Some(out.put(&format!("{stem}.png"), &png).await?);
                svgs.insert(f.finding_id.clone(), svg);
            }
            Err(e) => {
                let w = format!("plot of finding {}: {e}", f.finding_id);
                tracing::warn!("{w}");
                warnings.push(w);
            }
        }
    }
    Ok(svgs)
}
