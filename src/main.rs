//! The `lakesight` command: a thin layer over the library.

use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use lakesight::cancel::Cancel;
use lakesight::lake::catalog::CatalogOptions;
use lakesight::lake::engine::Engine;
use lakesight::output::{write_batches, Format};
use lakesight::runtime::config::JobConfig;
use lakesight::runtime::plan::RunPlan;
use lakesight::runtime::run::{execute, RunOverrides};
use lakesight::runtime::SystemClock;
use lakesight::sample::{Codec, SampleLakeConfig, VersionMode, WorldKind};
use lakesight::series::SeriesCatalog;

/// Machine-learning findings from an AWS Security Lake.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    /// Log format: `auto` (human on a terminal, JSON otherwise), `human` or `json`.
    #[arg(long, global = true, default_value = "auto", env = "LAKESIGHT_LOG_FORMAT")]
    log_format: String,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Generate a realistic sample Security Lake with labelled attack scenarios.
    SampleLake {
        /// Output folder.
        #[arg(long)]
        out: PathBuf,
        /// Number of days.
        #[arg(long, default_value_t = 30)]
        days: u32,
        /// First day (UTC), YYYY-MM-DD.
        #[arg(long, default_value = "2025-03-01")]
        start: chrono::NaiveDate,
        /// Number of AWS accounts.
        #[arg(long, default_value_t = 2)]
        accounts: u32,
        /// Regions, comma-separated; the first is the primary.
        #[arg(long, value_delimiter = ',', default_value = "us-east-1,eu-west-1")]
        regions: Vec<String>,
        /// Average events per day, all sources together.
        #[arg(long, default_value_t = 200_000)]
        events_per_day: u64,
        /// RNG seed: the same seed gives the same lake.
        #[arg(long, default_value_t = 7)]
        seed: u64,
        /// Source versions to write.
        #[arg(long, value_enum, default_value = "v2")]
        source_version: VersionMode,
        /// Parquet codec.
        #[arg(long, value_enum, default_value = "zstd")]
        codec: Codec,
        /// Injected attacks as strength dials, `kind=strength[:count],…` (e.g.
        /// `s3_bulk_download=3:5,finding_level_shift=1.5`): each instance is `strength` times its
        /// entity's own normal, at a random (seeded) entity and day. Without it, the default plan:
        /// one fixed-size instance of each kind. `none`: a benign lake, nothing injected (what the
        /// quality benchmark's false-finding rate is measured on).
        #[arg(long)]
        scenarios: Option<String>,
        /// Benign world: `simple` (steady rates, the demo's) or `realistic` (habits, schedules,
        /// holidays, releases, an incident, changing networks, joiners, overdispersed counts).
        #[arg(long, value_enum, default_value = "simple")]
        world: WorldKind,
    },
    /// List the lake's tables: source, version, classes, partitions, files, rows.
    Tables {
        /// Lake URL (a folder).
        #[arg(long)]
        lake: String,
    },
    /// Check a job file; every problem is reported at once, naming its field.
    Validate {
        /// Job file.
        #[arg(long, env = "LAKESIGHT_JOB")]
        job: PathBuf,
    },
    /// Run a job over a day or a range of days.
    Run {
        /// Job file.
        #[arg(long, env = "LAKESIGHT_JOB")]
        job: PathBuf,
        /// Day to analyse: YYYY-MM-DD, `yesterday` or `today` (UTC).
        #[arg(long, env = "LAKESIGHT_DATE", conflicts_with_all = ["from", "to"])]
        date: Option<String>,
        /// First day of a range.
        #[arg(long, requires = "to")]
        from: Option<chrono::NaiveDate>,
        /// Last day of a range.
        #[arg(long, requires = "from")]
        to: Option<chrono::NaiveDate>,
        /// Override the job's lake URL.
        #[arg(long)]
        lake: Option<String>,
        /// Override the job's output URL.
        #[arg(long)]
        out: Option<String>,
        /// Print the resolved plan (days, views and queries per stage, outputs) and exit.
        #[arg(long)]
        dry_run: bool,
        /// Claim the days even if another run's lease on them looks alive: for rerunning days
        /// whose run was killed (SIGKILL, a lost instance) before its lease expired.
        #[arg(long)]
        take_over: bool,
    },
    /// Run the job's detectors over series from a CSV or Parquet file (`.parquet`/`.parq`; columns
    /// timestamp, value[, series][, label]),
    /// judged as the nightly run judges a lake's series; one output row per bucket.
    Detect {
        /// The CSV or Parquet file.
        #[arg(long)]
        series: PathBuf,
        /// Job file whose `[detectors]` to run (default: the three detectors with their defaults).
        #[arg(long)]
        job: Option<PathBuf>,
        /// Run only these detectors (names under `[detectors]`).
        #[arg(long, value_delimiter = ',')]
        detector: Vec<String>,
        /// Bucket semantics of the rows (default periods: 7 for `day`, 168 or 24 for `hour`).
        #[arg(long, default_value = "hour")]
        bucket: String,
        /// Buckets judged per cut: 24 judges an hourly series a day at a time, 1 every point.
        #[arg(long)]
        every: Option<usize>,
        /// Buckets of history before the first judged one.
        #[arg(long)]
        min_history: Option<usize>,
        /// What the values are: `counts` (events) or `amounts` (bytes, seconds: judged on a log
        /// scale); by default whole non-negative numbers are taken as counts.
        #[arg(long)]
        values: Option<String>,
        /// `csv`: one row per bucket with each detector's flag and score; `json`: one JSON object
        /// per anomaly (its stretch, observed and expected values, score, confidence, evidence).
        #[arg(long, default_value = "csv", value_parser = ["csv", "json"])]
        format: String,
        /// Write the output here instead of standard output.
        #[arg(long)]
        output: Option<PathBuf>,
    },
    /// Score the rows of a Parquet or CSV table with the UEBA isolation forest (numeric columns are
    /// the features); one output row per input row: id, score, anomaly_score, rank, anomaly.
    Score {
        /// The model (only `iforest`).
        #[arg(long, default_value = "iforest")]
        model: String,
        /// The table (`.parquet`/`.parq`, otherwise CSV with a header row).
        #[arg(long)]
        input: PathBuf,
        /// A column carried through to the output as the row's id (not a feature).
        #[arg(long)]
        id: Option<String>,
        /// Trees.
        #[arg(long, default_value_t = 100)]
        trees: usize,
        /// Rows per tree (default min(256, rows)).
        #[arg(long)]
        max_samples: Option<usize>,
        /// Share of the features each tree draws.
        #[arg(long, default_value_t = 1.0)]
        max_features: f64,
        /// Expected share of anomalies (sets the cut); default: sklearn's "auto" (score < −0.5).
        #[arg(long)]
        contamination: Option<f64>,
        /// Seed of the random draws.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Write the CSV here instead of standard output.
        #[arg(long)]
        output: Option<PathBuf>,
    },
    /// Print one finding of a run's output: why it fired, its evidence, a sparkline of its series,
    /// its ATT&CK mapping and its investigation SQL.
    Explain {
        /// The finding id, or a unique prefix of it (at least 6 characters).
        finding_id: String,
        /// The run's output (a folder or `s3://bucket/prefix`), as the job's `output.url`.
        #[arg(long)]
        out: String,
    },
    /// Generate ./demo/lake if absent, run jobs/demo.toml over it into ./demo/out, print a summary.
    Demo {
        /// Folder for the demo lake and output.
        #[arg(long, default_value = "demo")]
        dir: PathBuf,
    },
    /// Print CREATE VIEW statements of the normalised views for Athena (or DuckDB, for benchmarks).
    Views {
        /// Lake URL (a folder) whose tables the views cover.
        #[arg(long)]
        lake: String,
        /// Target: `athena` (Glue tables) or `duckdb` (read_parquet over the same files).
        #[arg(long, default_value = "athena")]
        dialect: String,
    },
    /// Print a series template rendered for a day range (what `run` sends to the engine).
    SeriesSql {
        /// Series family.
        #[arg(long)]
        family: String,
        /// `day` or `hour`.
        #[arg(long, default_value = "day")]
        bucket: String,
        /// First day.
        #[arg(long)]
        from: chrono::NaiveDate,
        /// Last day (inclusive).
        #[arg(long)]
        to: chrono::NaiveDate,
    },
    /// Run SQL over the lake (Athena table names and common Trino functions accepted).
    Query {
        /// Lake URL (a folder).
        #[arg(long)]
        lake: String,
        /// Output format.
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
        /// Write to this file instead of standard output (required for parquet).
        #[arg(long)]
        output: Option<PathBuf>,
        /// The SQL.
        sql: String,
    },
}

fn print_summary(r: &lakesight::runtime::run::RunResult) {
    let m = &r.manifest;
    println!(
        "run {}: days {}..{}, {} files in the window, {} read ({} rows), {} skipped inputs",
        m.run_id,
        m.range.from,
        m.range.to,
        m.inputs.files,
        m.inputs.footers_read,
        m.inputs.rows,
        m.skipped_inputs.len()
    );
    println!(
        "findings: {} ({} new conditions, {} findings of ongoing ones, {} resolved)",
        m.findings_total,
        m.conditions.new,
        m.conditions.ongoing_findings,
        m.conditions.resolved.len()
    );
    for (d, n) in &m.findings_per_detector {
        println!("  {d}: {n}");
    }
    // Ids as `explain` takes them: a 12-character prefix.
    let short = |f: &lakesight::findings::Finding| f.finding_id.chars().take(12).collect::<String>();
    let shown: Vec<_> = r.findings.iter().filter(|f| f.severity_id >= 3).take(10).collect();
    for f in &shown {
        println!("  [{}] {} {} ({}, {})", f.severity, short(f), f.title, f.dt, f.condition.status);
    }
    let first = shown.first().map(|f| short(f));
    let root = r.output.trim_end_matches('/');
    if let Some(id) = first {
        println!("explain one: lakesight explain {id} --out {root}");
    }
    println!("output: {root}");
    println!("  findings:  {root}/findings/dt=*/detector=*/findings.parquet");
    println!("  report:    {root}/report.html");
    println!("  manifest:  {root}/manifest.json");
    if r.manifest.outputs.iter().any(|o| o.starts_with("features/")) {
        println!("  features:  {root}/features/dt=*/features.parquet");
    }
    if r.manifest.outputs.iter().any(|o| o.starts_with("embeddings/")) {
        println!("  embeddings: {root}/embeddings/dt=*/embeddings.parquet");
    }
    let ddl: Vec<&str> = ["findings_table.sql", "features_table.sql", "embeddings_table.sql"]
        .into_iter()
        .filter(|f| r.manifest.outputs.iter().any(|o| o == f))
        .collect();
    println!(
        "  Athena DDL: {}",
        ddl.iter().map(|f| format!("{root}/{f}")).collect::<Vec<_>>().join(", ")
    );
}

/// SIGINT (Ctrl-C) and SIGTERM (what SageMaker and AWS Batch send on stop) trip `cancel`. The
/// process exits (130 for SIGINT, 143 for SIGTERM, as the default handlers would) at once when no
/// work was in flight; else the work in flight (an Athena query being stopped, files being
/// published, day leases being let go) gets up to `cancel::GRACE` to finish, and then the run up
/// to [`UNWIND`] to end through its own error path, which names what was stopped. A second signal
/// exits at once.
fn on_stop_signals(cancel: Cancel) {
    tokio::spawn(async move {
        let code = wait_for_stop().await;
        STOP_CODE.store(code, std::sync::atomic::Ordering::SeqCst);
        let in_flight = cancel.in_flight();
        cancel.cancel();
        if in_flight == 0 {
            tracing::warn!("stopped");
            std::process::exit(code);
        }
        tracing::warn!(
            in_flight,
            grace_secs = lakesight::cancel::GRACE.as_secs(),
            "stopping: winding down work in flight (signal again to exit now)"
        );
        tokio::select! {
            _ = wait_for_stop() => std::process::exit(code),
            _ = tokio::time::sleep(lakesight::cancel::GRACE) => std::process::exit(code),
            _ = cancel.idle() => {}
        }
        // The work in flight is done: the run is unwinding through its own error path, which
        // names what was stopped and exits with `code`; exiting here at once would cut that
        // message off (seen in CI). It gets `UNWIND` to do so.
        tokio::select! {
            _ = wait_for_stop() => {}
            _ = tokio::time::sleep(UNWIND) => tracing::warn!("stopped"),
        }
        std::process::exit(code);
    });
}

/// The next SIGINT or SIGTERM; the exit status it stands for.
async fn wait_for_stop() -> i32 {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            return tokio::select! {
                _ = tokio::signal::ctrl_c() => 130,
                _ = term.recv() => 143,
            };
        }
    }
    let _ = tokio::signal::ctrl_c().await;
    130
}

/// Set up logging; returns whether the logs are JSON lines.
fn init_logging(format: &str) -> bool {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("LAKESIGHT_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let json = match format {
        "json" => true,
        "human" => false,
        _ => !std::io::stderr().is_terminal(),
    };
    let b = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    if json {
        b.json().init();
    } else {
        b.compact().init();
    }
    json
}

/// The exit status of the stop signal received, if one was (130 SIGINT, 143 SIGTERM).
/// How long a stopped run whose work in flight has finished gets to end through its own error
/// path before the signal handler exits for it.
const UNWIND: std::time::Duration = std::time::Duration::from_secs(3);

static STOP_CODE: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(0);

/// Where the container's file system starts (`LAKESIGHT_CONTAINER_ROOT`, for tests; default `/`).
fn container_root() -> PathBuf {
    std::env::var_os("LAKESIGHT_CONTAINER_ROOT")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/"))
}

#[tokio::main]
async fn main() {
    let cli = Cli::parse();
    let json_logs = init_logging(&cli.log_format);
    let cancel = Cancel::new();
    on_stop_signals(cancel.clone());
    if let Err(e) = command(cli, cancel).await {
        // One event with the whole chain and the failure's kind (JSON in a container), the same
        // text for SageMaker's console, and an exit status a retry policy can act on
        // (`runtime::exit` has the table).
        use lakesight::runtime::exit::{write_failure_message, Failure};
        let failure = Failure::of(e.chain());
        let stop = STOP_CODE.load(std::sync::atomic::Ordering::SeqCst);
        let code = if failure == Failure::Stopped && stop != 0 {
            stop
        } else {
            failure.code()
        };
        let text = format!("{e:#}");
        tracing::error!(failure = ?failure, exit_code = code, error = %text, "lakesight failed");
        if !json_logs {
            eprintln!("Error: {text}");
        }
        match write_failure_message(&container_root(), &format!("{failure:?} (exit {code}): {text}")) {
            Ok(_) => {}
            Err(w) => tracing::warn!("could not write /opt/ml/output/message: {w}"),
        }
        std::process::exit(code);
    }
}

async fn command(cli: Cli, cancel: Cancel) -> Result<()> {
    match cli.cmd {
        Cmd::SampleLake {
            out,
            days,
            start,
            accounts,
            regions,
            events_per_day,
            seed,
            source_version,
            codec,
            scenarios,
            world,
        } => {
            let scenarios = scenarios
                .map(|s| match s.trim() {
                    "none" => Ok(Vec::new()),
                    s => lakesight::sample::scenarios::parse_specs(s),
                })
                .transpose()
                .map_err(|e| lakesight::runtime::config::ConfigError::Invalid {
                    path: "--scenarios".into(),
                    errors: vec![e],
                })?;
            let cfg = SampleLakeConfig {
                out,
                days,
                start,
                accounts,
                regions,
                events_per_day,
                seed,
                versions: source_version,
                codec,
                scenarios,
                world,
            };
            let t0 = std::time::Instant::now();
            let s = tokio::task::spawn_blocking(move || lakesight::sample::generate(&cfg)).await??;
            println!(
                "wrote {} events in {} files ({:.1} MB) in {:.1} s; ground truth: {}",
                s.events,
                s.files,
                s.bytes as f64 / 1e6,
                t0.elapsed().as_secs_f64(),
                s.labels.display()
            );
        }
        Cmd::Validate { job } => {
            let catalog = SeriesCatalog::builtin()?;
            let cfg = JobConfig::load(&job, &catalog)?;
            println!(
                "{}: valid ({} series, {} detectors)",
                job.display(),
                cfg.series.len(),
                cfg.detectors.len()
            );
        }
        Cmd::Run {
            job,
            date,
            from,
            to,
            lake,
            out,
            dry_run,
            take_over,
        } => {
            let catalog = SeriesCatalog::builtin()?;
            let cfg = JobConfig::load(&job, &catalog)?;
            let date = date
                .map(|d| lakesight::clock::resolve_day(&d, &SystemClock))
                .transpose()
                .map_err(|e| lakesight::runtime::config::ConfigError::Invalid {
                    path: "--date".into(),
                    errors: vec![e],
                })?;
            // Inside a SageMaker Processing container, publish the output folder's locations as
            // the S3 URI SageMaker uploads it to (runtime::container).
            let root = container_root();
            let sagemaker = lakesight::runtime::container::ProcessingJob::detect(&root)?;
            let out_url = out.clone().unwrap_or_else(|| cfg.job.output.clone());
            let publish = sagemaker.as_ref().and_then(|j| j.published_url(&root, &out_url));
            let to_processing_output = publish.is_some();
            if let Some(j) = &sagemaker {
                tracing::info!(job = %j.name, host_rank = j.host_rank, instances = j.instance_count, publish = ?publish, "SageMaker Processing job");
                if publish.is_none() && !out_url.contains("://") {
                    tracing::warn!(output = %out_url, "the output is not a ProcessingOutput's LocalPath: its locations stay file:// and SageMaker will not upload it");
                }
            }
            // An AWS Batch array child or one of several SageMaker instances runs its share of
            // the range's days, each as that day's nightly run (runtime::shard).
            let shard = lakesight::runtime::shard::Shard::detect(|k| std::env::var(k).ok(), sagemaker.as_ref()).map_err(|e| {
                lakesight::runtime::config::ConfigError::Invalid {
                    path: "environment".into(),
                    errors: vec![e],
                }
            })?;
            let ov = RunOverrides {
                date,
                from,
                to,
                lake,
                out,
                progress: std::io::stderr().is_terminal(),
                publish,
                take_over,
            };
            let plan = RunPlan::new(&cfg, &catalog, &ov, &SystemClock)?;
            let Some(shard) = shard else {
                if dry_run {
                    print!("{}", plan.describe());
                    return Ok(());
                }
                let r = execute(&plan, &SystemClock, &cancel).await?;
                print_summary(&r);
                return Ok(());
            };
            if to_processing_output {
                // Each instance's ProcessingOutput folder is its own disk: the children could
                // neither see each other's leases nor each other's days.
                return Err(lakesight::runtime::config::ConfigError::Invalid {
                    path: "job.output".into(),
                    errors: vec![format!(
                        "{out_url}: a job sharded over {} instances needs an output they share (s3://…), not a ProcessingOutput folder",
                        shard.count
                    )],
                }
                .into());
            }
            let range = plan.range;
            let days = shard.days(range.from, range.to);
            let output = lakesight::sink::Output::open(&plan.output, &plan.s3).await?;
            tracing::info!(child = shard.index, children = shard.count, group = %shard.group, days = ?days, "backfill shard");
            for day in days {
                let one = RunOverrides {
                    date: Some(day),
                    from: None,
                    to: None,
                    ..ov.clone()
                };
                let plan = RunPlan::new(&cfg, &catalog, &one, &SystemClock)?.for_backfill(&shard.group, range, day);
                if dry_run {
                    print!("{}", plan.describe());
                    continue;
                }
                // A retried child: the days it published before its failure stay as they are.
                let record = output.day_record(&day.to_string()).await?;
                if let Some(j) = record.jobs.get(&cfg.job.name).filter(|j| j.by_backfill(&shard.group)) {
                    tracing::info!(day = %day, run_id = %j.run_id, "already published by this backfill; skipped");
                    continue;
                }
                let r = execute(&plan, &SystemClock, &cancel).await?;
                print_summary(&r);
            }
        }
        Cmd::Demo { dir } => {
            let lake = dir.join("lake");
            if !lake.join("labels.json").exists() {
                eprintln!("generating the demo lake in {} ...", lake.display());
                let cfg = SampleLakeConfig {
                    out: lake.clone(),
                    days: 30,
                    start: chrono::NaiveDate::from_ymd_opt(2025, 3, 1).context("date")?,
                    accounts: 2,
                    regions: vec!["us-east-1".into(), "eu-west-1".into()],
                    events_per_day: 200_000,
                    seed: 7,
                    versions: VersionMode::V2,
                    codec: Codec::Zstd,
                    scenarios: None,
                    world: WorldKind::Simple,
                };
                let s = tokio::task::spawn_blocking(move || lakesight::sample::generate(&cfg)).await??;
                eprintln!("wrote {} events in {} files", s.events, s.files);
            }
            let catalog = SeriesCatalog::builtin()?;
            let job_path = PathBuf::from("jobs/demo.toml");
            let mut cfg = if job_path.exists() {
                JobConfig::load(&job_path, &catalog)?
            } else {
                let c = JobConfig::parse(include_str!("../jobs/demo.toml"), "jobs/demo.toml (built in)")?;
                c.validate(&catalog)
                    .map_err(|e| anyhow::anyhow!("built-in demo job: {}", e.join("; ")))?;
                c
            };
            cfg.job.lake = lake.display().to_string();
            cfg.job.output = dir.join("out").display().to_string();
            let ov = RunOverrides {
                progress: std::io::stderr().is_terminal(),
                ..Default::default()
            };
            let plan = RunPlan::new(&cfg, &catalog, &ov, &SystemClock)?;
            let r = execute(&plan, &SystemClock, &cancel).await?;
            print_summary(&r);
        }
        Cmd::Detect {
            series,
            job,
            detector,
            bucket,
            every,
            min_history,
            values,
            format,
            output,
        } => {
            use lakesight::runtime::detect_file::{detect_file, detectors_from, DetectFileOptions};
            let bucket = match bucket.as_str() {
                "day" => lakesight::series::Bucket::Day,
                "hour" => lakesight::series::Bucket::Hour,
                other => bail!("--bucket {other:?}: use day or hour"),
            };
            let name = series.display().to_string();
            let text = if matches!(series.extension().and_then(|e| e.to_str()), Some("parquet" | "parq")) {
                let bytes = std::fs::read(&series).with_context(|| format!("reading {name}"))?;
                lakesight::series::csv::parquet_as_csv(bytes.into(), &name)?
            } else {
                std::fs::read_to_string(&series).with_context(|| format!("reading {name}"))?
            };
            let parsed = lakesight::series::csv::parse(&text, &name)?;
            let job_text = match &job {
                Some(p) => Some(std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?),
                None => None,
            };
            let job_name = job.as_ref().map(|p| p.display().to_string()).unwrap_or_default();
            let mut dets = detectors_from(job_text.as_deref(), &job_name).map_err(anyhow::Error::msg)?;
            if !detector.is_empty() {
                for d in &detector {
                    if !dets.contains_key(d) {
                        bail!(
                            "--detector {d:?}: not under [detectors] (known: {})",
                            dets.keys().cloned().collect::<Vec<_>>().join(", ")
                        );
                    }
                }
                dets.retain(|k, _| detector.contains(k));
            }
            let values = match values.as_deref() {
                None => lakesight::series::Values::Infer,
                Some(v) => v.parse().map_err(|e| anyhow::anyhow!("--values: {e}"))?,
            };
            let per_day = (86_400_000 / bucket.ms()) as usize;
            let opts = DetectFileOptions {
                bucket,
                every: every.unwrap_or(per_day),
                min_history: min_history.unwrap_or(2 * bucket.period().min(7 * per_day)),
                values,
            };
            for s in parsed.iter().filter(|s| s.filled > 0) {
                eprintln!("warning: series {:?}: {} empty value(s) interpolated", s.name, s.filled);
            }
            let r = detect_file(&parsed, &dets, opts);
            let body = if format == "json" { r.json_lines() } else { r.csv.clone() };
            match output {
                Some(p) => std::fs::write(&p, &body).with_context(|| format!("writing {}", p.display()))?,
                None => print!("{body}"),
            }
            eprint!("{}", r.summary_text());
        }
        Cmd::Score {
            model,
            input,
            id,
            trees,
            max_samples,
            max_features,
            contamination,
            seed,
            output,
        } => {
            use lakesight::detect::iforest::{Contamination, IforestConfig, MaxSamples};
            if model != "iforest" {
                bail!("--model {model:?}: only iforest is known");
            }
            let cfg = IforestConfig {
                n_estimators: trees,
                max_samples: max_samples.map_or(MaxSamples::Auto, MaxSamples::Count),
                max_features,
                contamination: contamination.map_or(Contamination::Auto, Contamination::Fraction),
                seed,
            };
            let errs = cfg.validate();
            if !errs.is_empty() {
                bail!("score: {}", errs.join("; "));
            }
            let r = lakesight::runtime::score_file::score_file(&input, id.as_deref(), &cfg)?;
            match output {
                Some(p) => std::fs::write(&p, &r.csv).with_context(|| format!("writing {}", p.display()))?,
                None => print!("{}", r.csv),
            }
            eprint!("{}", r.summary_text());
        }
        Cmd::Explain { finding_id, out } => {
            let e = lakesight::runtime::explain::find(&out, &lakesight::store::S3Options::from_env(), &finding_id).await?;
            print!("{}", lakesight::runtime::explain::render(&e));
        }
        Cmd::Views { lake, dialect } => {
            use lakesight::lake::views::{view_sql, view_sql_with, Dialect, VIEWS};
            let engine = Engine::open(
                &lake,
                &CatalogOptions {
                    s3: lakesight::store::S3Options::from_env(),
                    ..CatalogOptions::default()
                },
            )
            .await
            .context("opening the lake")?;
            let tables: Vec<_> = engine.catalog.tables.iter().collect();
            match dialect.as_str() {
                "athena" => {
                    println!("CREATE DATABASE IF NOT EXISTS lakesight;");
                    for v in VIEWS {
                        if let Some(body) = view_sql(Dialect::Athena, v, &tables) {
                            println!("\nCREATE OR REPLACE VIEW lakesight.{} AS\n{};", v.name, body);
                        }
                    }
                }
                "duckdb" => {
                    println!("CREATE SCHEMA IF NOT EXISTS lakesight;");
                    let table_ref = |t: &lakesight::lake::catalog::LakeTable| {
                        let files: Vec<String> = t.files.iter().map(|f| format!("'/{}'", f.meta.location)).collect();
                        // Iceberg data files carry region and accountid as columns, and their
                        // folders are Iceberg's partition path, not Security Lake's.
                        let hive = !(t.version == Some(lakesight::lake::ocsf::SourceVersion::V2) && !t.custom);
                        format!(
                            "read_parquet([{}], hive_partitioning = {hive}, union_by_name = true)",
                            files.join(", ")
                        )
                    };
                    for v in VIEWS {
                        if let Some(body) = view_sql_with(Dialect::DuckDb, v, &tables, &table_ref) {
                            println!("CREATE OR REPLACE VIEW lakesight.{} AS\n{};", v.name, body);
                        }
                    }
                }
                other => bail!("--dialect {other:?}: use athena or duckdb"),
            }
        }
        Cmd::SeriesSql { family, bucket, from, to } => {
            let catalog = SeriesCatalog::builtin()?;
            let t = catalog
                .get(&family)
                .with_context(|| format!("unknown family {family:?} (known: {})", catalog.names().join(", ")))?;
            let b = match bucket.as_str() {
                "day" => lakesight::series::Bucket::Day,
                "hour" => lakesight::series::Bucket::Hour,
                other => bail!("--bucket {other:?}: use day or hour"),
            };
            let ms = |d: chrono::NaiveDate| d.and_hms_opt(0, 0, 0).map(|x| x.and_utc().timestamp_millis()).unwrap_or(0);
            println!("{}", lakesight::series::render(&t, b, ms(from), ms(to + chrono::Days::new(1))));
        }
        Cmd::Tables { lake } => {
            let engine = Engine::open(
                &lake,
                &CatalogOptions {
                    s3: lakesight::store::S3Options::from_env(),
                    ..CatalogOptions::default()
                },
            )
            .await
            .context("opening the lake")?;
            let rows = lakesight::lake::describe::describe(&engine).await?;
            print!("{}", lakesight::lake::describe::render(&rows, &engine.catalog));
        }
        Cmd::Query { lake, format, output, sql } => {
            let engine = Engine::open(
                &lake,
                &CatalogOptions {
                    s3: lakesight::store::S3Options::from_env(),
                    only_tables: lakesight::lake::catalog::tables_named_in(&sql),
                    ..CatalogOptions::default()
                },
            )
            .await
            .context("opening the lake")?;
            for s in &engine.catalog.skipped {
                eprintln!("warning: skipped {}: {}", s.path, s.reason);
            }
            let batches = engine.collect(&sql).await.context("running the query")?;
            match output {
                Some(path) => {
                    let tmp = path.with_extension("partial");
                    let mut f = std::fs::File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
                    write_batches(&mut f, &batches, format)?;
                    std::fs::rename(&tmp, &path)?;
                }
                None => {
                    if format == Format::Parquet {
                        bail!("--format parquet needs --output FILE");
                    }
                    let stdout = std::io::stdout();
                    let mut lock = stdout.lock();
                    write_batches(&mut lock, &batches, format)?;
                }
            }
        }
    }
    Ok(())
}
