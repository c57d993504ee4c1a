//! The Athena engine against a real server speaking the Athena API (moto on loopback).
//!
//! What moto does and does not do (../shared/reference/local-servers.md): it keeps queries and
//! their state machine (every query is SUCCEEDED at once, zero bytes scanned) but executes no SQL,
//! so an `UNLOAD` writes nothing. These tests therefore drive lakesight's real cycle — submit,
//! poll, read the UNLOAD location through `object_store`, clean up — and **the test itself writes
//! the Parquet Athena would have written**, by running the same series SQL on the embedded engine.
//! That tests the Athena client path end to end; it is not a test of the SQL on Athena itself.
//! Faults (FAILED, CANCELLED, a query that never finishes, data scanned for the budget) come from
//! `tests/servers/fault_proxy.py` between lakesight and moto.

use std::path::Path;

use futures::TryStreamExt;
use lakesight::lake::athena::AthenaConfig;
use lakesight::lake::SqlRunner;
use lakesight::runtime::config::JobConfig;
use lakesight::runtime::run::{run, run_id, RunOverrides};
use lakesight::runtime::FixedClock;
use lakesight::series::{render, SeriesCatalog};
use lakesight::stages::identity::IdentityStats;
use lakesight::store::Location;
use object_store::ObjectStoreExt;

use crate::common::engine;
use crate::servers::{moto, moto_sdk_config, new_bucket, s3_options, Proxy};
use crate::spine::{demo_job, demo_like};

const CLOCK: FixedClock = FixedClock(1_743_400_000_000);

fn day() -> chrono::NaiveDate {
    chrono::NaiveDate::from_ymd_opt(2025, 3, 28).unwrap()
}

fn overrides() -> RunOverrides {
    RunOverrides {
        date: Some(day()),
        ..RunOverrides::default()
    }
}

/// The demo job on engine = "athena", talking to `endpoint`, UNLOADing into `bucket`.
fn athena_job(out: &Path, bucket: &str, endpoint: &str) -> JobConfig {
    let mut cfg = demo_job(demo_like().path(), out);
    cfg.job.engine = "athena".into();
    cfg.s3 = s3_options();
    cfg.athena = Some(AthenaConfig {
        workgroup: "primary".into(),
        output_location: Some(format!("s3://{bucket}/athena-results")),
        scratch: Some(format!("s3://{bucket}/scratch")),
        endpoint: Some(endpoint.into()),
        region: Some("us-east-1".into()),
        poll_initial_ms: 20,
        poll_max_ms: 100,
        max_attempts: 2,
        ..AthenaConfig::default()
    });
    let c = SeriesCatalog::builtin().unwrap();
    cfg.validate(&c).unwrap();
    cfg
}

/// Play Athena's part: for every series of the job, run its SQL on the embedded engine and put the
/// result where the run's UNLOAD of that series will point.
async fn write_unload_results(cfg: &JobConfig, bucket: &str) -> usize {
    let c = SeriesCatalog::builtin().unwrap();
    let e = engine(&demo_like().url()).await;
    let id = run_id(&cfg.job.name, CLOCK.0);
    // Each series query's span as the run plans it (a family with the trend test reaches back
    // its `history_days`, further than the job's baseline).
    let plan = lakesight::runtime::plan::RunPlan::new(cfg, &c, &overrides(), &CLOCK).unwrap();
    let spans: std::collections::BTreeMap<String, i64> = plan.stages[0]
        .queries(&plan.window)
        .into_iter()
        .map(|q| {
            let d = chrono::NaiveDate::parse_from_str(&q.from, "%Y-%m-%d").unwrap();
            (q.label, d.and_hms_opt(0, 0, 0).unwrap().and_utc().timestamp_millis())
        })
        .collect();
    let end = plan.window.end_ms;
    let scratch = Location::open(&format!("s3://{bucket}/scratch/{id}"), &s3_options(), false)
        .await
        .unwrap();
    let put = |label: String, batches: Vec<arrow::record_batch::RecordBatch>| {
        let scratch = scratch.clone();
        async move {
            let Some(first) = batches.first() else { return 0 };
            let mut buf = Vec::new();
            let mut w = parquet::arrow::ArrowWriter::try_new(&mut buf, first.schema(), None).unwrap();
            for b in &batches {
                w.write(b).unwrap();
            }
            w.close().unwrap();
            // Athena names UNLOAD files without an extension.
            scratch
                .store
                .put(&scratch.child(&format!("{label}/20250328_000000_00000_abcde_0")), buf.into())
                .await
                .unwrap();
            1
        }
    };
    let mut n = 0;
    for sc in &cfg.series {
        let t = c.get(&sc.family).unwrap();
        let label = format!("{}_{}", sc.family, sc.bucket.unit());
        let batches = e.run_sql(&label, &render(&t, sc.bucket, spans[&label], end)).await.unwrap();
        n += put(label, batches).await;
    }
    if cfg.output.features {
        // The features query of the analysed day, under its label.
        let t = lakesight::stages::features::template().unwrap();
        let from = day().and_hms_opt(0, 0, 0).unwrap().and_utc().timestamp_millis();
        let sql = render(&t, lakesight::series::Bucket::Day, from, from + 86_400_000);
        let label = format!("features_{}", lakesight::stages::features::FAMILY);
        let batches = e.run_sql(&label, &sql).await.unwrap();
        n += put(label, batches).await;
    }
    if cfg.ip_insights.is_some() {
        // The (principal, IP) pairs of the baseline and the analysed day.
        let t = lakesight::stages::ip_insights::template().unwrap();
        let to = day().and_hms_opt(0, 0, 0).unwrap().and_utc().timestamp_millis() + 86_400_000;
        let from = to - (cfg.job.baseline_days as i64 + 1) * 86_400_000;
        let sql = render(&t, lakesight::series::Bucket::Day, from, to);
        let label = "principal_ip_day".to_string();
        let batches = e.run_sql(&label, &sql).await.unwrap();
        n += put(label, batches).await;
        // And what each principal did from each address, the behaviour the pairs are weighed by.
        let t = lakesight::stages::ip_insights::ops_template().unwrap();
        let label = lakesight::stages::ip_insights::OPS_QUERY.to_string();
        let batches = e
            .run_sql(&label, &render(&t, lakesight::series::Bucket::Day, from, to))
            .await
            .unwrap();
        n += put(label, batches).await;
    }
    if let Some(h) = &cfg.hunts {
        // Each hunt's per-day table over the baseline and the analysed day, under its query label.
        let to = day().and_hms_opt(0, 0, 0).unwrap().and_utc().timestamp_millis() + 86_400_000;
        let from = to - (cfg.job.baseline_days as i64 + 1) * 86_400_000;
        for st in h.stages() {
            for q in st.queries(&lakesight::stages::Window {
                day0_ms: from,
                eval_ms: to - 86_400_000,
                end_ms: to,
                baseline_days: cfg.job.baseline_days,
            }) {
                let table = q.label.strip_suffix(&format!("_{}", st.name())).unwrap().to_string();
                let text = std::fs::read_to_string(format!("{}/queries/hunts/{table}.sql", env!("CARGO_MANIFEST_DIR"))).unwrap();
                let t = lakesight::series::SeriesTemplate::parse(&table, &text).unwrap();
                let batches = e
                    .run_sql(&q.label, &render(&t, lakesight::series::Bucket::Day, from, to))
                    .await
                    .unwrap();
                n += put(q.label, batches).await;
            }
        }
    }
    // The check of rows no analysis can place in time, one query per view the job reads.
    let to = day().and_hms_opt(0, 0, 0).unwrap().and_utc().timestamp_millis() + 86_400_000;
    let w = lakesight::stages::Window {
        day0_ms: to - (cfg.job.baseline_days as i64 + 1) * 86_400_000,
        eval_ms: to - 86_400_000,
        end_ms: to,
        baseline_days: cfg.job.baseline_days,
    };
    for q in row_times_queries(cfg, &w) {
        let batches = e.run_sql(&q.label, &lakesight::stages::row_times::sql(&q.view, &w)).await.unwrap();
        n += put(q.label, batches).await;
    }
    if cfg.identity.is_some() {
        // The identity rules' two queries over the analysed day (the demo lake has no instance
        // sessions, so their third, the instances' VPC Flow addresses, is not asked).
        use lakesight::stages::identity;
        let sql = render(&identity::template().unwrap(), lakesight::series::Bucket::Hour, w.eval_ms, w.end_ms);
        let batches = e.run_sql(identity::FAMILY, &sql).await.unwrap();
        n += put(identity::FAMILY.to_string(), batches).await;
        let batches = e.run_sql("identity_principals", &identity::principals_sql(&w)).await.unwrap();
        n += put("identity_principals".to_string(), batches).await;
    }
    n
}

/// The queries of the job's `row_times` stage.
fn row_times_queries(cfg: &JobConfig, w: &lakesight::stages::Window) -> Vec<lakesight::stages::PlannedQuery> {
    let c = SeriesCatalog::builtin().unwrap();
    lakesight::runtime::plan::stages(cfg, &c)
        .iter()
        .filter(|s| s.name() == "row_times")
        .flat_map(|s| s.queries(w))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_athena_engine_submits_polls_and_reads_back_unload_results() {
    let bucket = new_bucket("athena");
    let out = tempfile::tempdir().unwrap();
    let cfg = athena_job(out.path(), &bucket, moto());
    let written = write_unload_results(&cfg, &bucket).await;
    assert!(written >= 3, "{written}");
    let c = SeriesCatalog::builtin().unwrap();
    let got = run(&cfg, &c, &overrides(), &CLOCK).await.unwrap();

    // The same job on the embedded engine is the reference: identical findings.
    let ref_out = tempfile::tempdir().unwrap();
    let want = run(&demo_job(demo_like().path(), ref_out.path()), &c, &overrides(), &CLOCK)
        .await
        .unwrap();
    let ids = |r: &lakesight::runtime::run::RunResult| {
        let mut v: Vec<String> = r.findings.iter().map(|f| f.finding_id.clone()).collect();
        v.sort();
        v
    };
    assert!(!want.findings.is_empty());
    assert_eq!(ids(&got), ids(&want));

    // The features query went through the Athena path too (StartQueryExecution, polling, UNLOAD
    // read back from S3). moto runs no SQL: write_unload_results wrote the UNLOAD output itself,
    // from the embedded engine, so this proves the Athena plumbing returns those rows unchanged
    // into the same features file, byte for byte — not that Athena's SQL dialect agrees.
    let file = "features/dt=2025-03-28/features.parquet";
    let (a_file, b_file) = (
        std::fs::read(out.path().join(file)).unwrap(),
        std::fs::read(ref_out.path().join(file)).unwrap(),
    );
    assert!(
        got.manifest
            .stage::<lakesight::stages::features::FeaturesStats>("features")
            .unwrap()
            .rows_per_day["2025-03-28"]
            > 0
    );
    assert!(a_file == b_file, "features from Athena differ from the embedded engine's");

    // One UNLOAD per series, one for the features, two for IP Insights (pairs, operations per
    // address), one for the UEBA items, one per hunt, one per view for the row-time check and two
    // for the identity rules, all SUCCEEDED, in the manifest with bytes scanned and cost.
    let a = got.manifest.athena.as_ref().expect("manifest has the Athena queries");
    const HUNTS: [&str; 4] = ["beaconing", "exfiltration", "lateral_movement", "dns"];
    let views = row_times_queries(
        &cfg,
        &lakesight::stages::Window {
            day0_ms: 0,
            eval_ms: 0,
            end_ms: 86_400_000,
            baseline_days: 0,
        },
    )
    .len();
    assert!(views >= 4, "{views}");
    // Two for the identity rules (its third, the instances' VPC Flow addresses, runs only when
    // instance-profile sessions called from private addresses: the simple world has none).
    let extra = 4 + HUNTS.len() + views + 2;
    assert_eq!(a.queries.len(), cfg.series.len() + extra);
    assert_eq!(
        got.manifest
            .stage::<lakesight::stages::ip_insights::IpInsightsStats>("ip_insights")
            .unwrap()
            .rows,
        want.manifest
            .stage::<lakesight::stages::ip_insights::IpInsightsStats>("ip_insights")
            .unwrap()
            .rows
    );
    assert!(a.queries.iter().all(|q| q.state == "SUCCEEDED" && !q.query_execution_id.is_empty()));
    assert_eq!(
        a.queries.iter().map(|q| q.rows).sum::<u64>() as usize,
        crate::common::series_stats(&got.manifest).values().map(|s| s.rows).sum::<usize>()
            + got
                .manifest
                .stage::<lakesight::stages::features::FeaturesStats>("features")
                .unwrap()
                .rows_per_day["2025-03-28"]
            + got
                .manifest
                .stage::<lakesight::stages::ip_insights::IpInsightsStats>("ip_insights")
                .unwrap()
                .rows
            + got
                .manifest
                .stage::<lakesight::stages::ip_insights::IpInsightsStats>("ip_insights")
                .unwrap()
                .ops_rows
            + got
                .manifest
                .stage::<lakesight::stages::row_times::RowTimesStats>("row_times")
                .unwrap()
                .result_rows
            + HUNTS
                .iter()
                .map(|h| got.manifest.stage::<lakesight::stages::hunt::HuntStats>(h).unwrap().rows)
                .sum::<usize>()
            + got.manifest.stage::<IdentityStats>("identity").unwrap().rows
            + got.manifest.stage::<IdentityStats>("identity").unwrap().judged.len()
    );
    // The identity rules judged the same principals through Athena as on the embedded engine.
    let judged = |r: &lakesight::runtime::run::RunResult| r.manifest.stage::<IdentityStats>("identity").unwrap().judged;
    assert_eq!(judged(&got), judged(&want));
    assert!(judged(&got).values().sum::<usize>() > 10, "{:?}", judged(&got));
    assert_eq!(got.manifest.inputs.files, 0, "Athena mode reads no footers");

    // Athena (moto) saw the UNLOAD statements in the workgroup.
    let conf = moto_sdk_config().await;
    let client = aws_sdk_athena::Client::new(&conf);
    let listed = client.list_query_executions().work_group("primary").send().await.unwrap();
    let ids_seen: Vec<String> = listed.query_execution_ids().to_vec();
    let mut unloads = 0;
    for q in &a.queries {
        assert!(ids_seen.contains(&q.query_execution_id), "{} not listed", q.query_execution_id);
        let qe = client
            .get_query_execution()
            .query_execution_id(&q.query_execution_id)
            .send()
            .await
            .unwrap();
        let text = qe.query_execution().and_then(|e| e.query()).unwrap_or_default().to_string();
        assert!(text.starts_with("UNLOAD ("), "{text}");
        assert!(
            text.contains(&format!("TO 's3://{bucket}/scratch/")) && text.contains("format = 'PARQUET'"),
            "{text}"
        );
        assert!(text.contains("FROM lakesight."), "{text}");
        unloads += 1;
    }
    assert_eq!(unloads, cfg.series.len() + extra);

    // Scratch is empty after the run.
    let scratch = Location::open(&format!("s3://{bucket}/scratch"), &s3_options(), false)
        .await
        .unwrap();
    let left: Vec<_> = scratch.store.list(Some(&scratch.prefix)).try_collect().await.unwrap();
    assert!(
        left.is_empty(),
        "scratch left behind: {:?}",
        left.iter().map(|o| o.location.to_string()).collect::<Vec<_>>()
    );
}

/// Runs the job through the proxy and returns the error text; checks nothing was published.
async fn failing_run(proxy: &Proxy, tweak: impl FnOnce(&mut AthenaConfig)) -> String {
    let bucket = new_bucket("athena-fault");
    let out = tempfile::tempdir().unwrap();
    let mut cfg = athena_job(out.path(), &bucket, &proxy.endpoint);
    tweak(cfg.athena.as_mut().unwrap());
    let c = SeriesCatalog::builtin().unwrap();
    let e = run(&cfg, &c, &overrides(), &CLOCK).await.unwrap_err().to_string();
    // Nothing a reader would see: no findings, no manifest.
    assert!(!out.path().join("manifest.json").exists(), "{e}");
    assert!(!out.path().join("findings").exists(), "{e}");
    e
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_or_cancelled_athena_query_fails_the_run_naming_the_query() {
    for state in ["FAILED", "CANCELLED"] {
        let proxy = Proxy::start(&["--athena-state", state]);
        let e = failing_run(&proxy, |_| {}).await;
        let first = demo_job(demo_like().path(), Path::new("/x")).series[0].clone();
        let label = format!("{}_{}", first.family, first.bucket.unit());
        assert!(
            e.contains(state) && e.contains(&label) && e.contains("injected by lakesight's fault proxy"),
            "{e}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_athena_query_past_its_time_out_is_stopped() {
    let proxy = Proxy::start(&["--athena-state", "RUNNING"]);
    let e = failing_run(&proxy, |a| a.timeout_secs = 1).await;
    assert!(e.contains("did not finish within 1 s") && e.contains("stopped"), "{e}");
    let calls = proxy.calls();
    assert!(calls.iter().any(|(t, _)| t.ends_with("StopQueryExecution")), "{calls:?}");
    let polls = calls.iter().filter(|(t, _)| t.ends_with("GetQueryExecution")).count();
    // Back-off from 20 ms doubling to 100 ms over one second: a handful of polls, not hundreds.
    assert!((3..=30).contains(&polls), "{polls} polls");
}

/// The poll itself fails (GetQueryExecution refused): the query may still run in AWS, so it is
/// stopped before the run fails with an error naming the call.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_poll_stops_the_query_before_the_run_fails() {
    let proxy = Proxy::start(&["--athena-poll-error"]);
    let e = failing_run(&proxy, |_| {}).await;
    assert!(e.contains("GetQueryExecution") && e.contains("poll refused"), "{e}");
    let calls = proxy.calls();
    assert!(calls.iter().any(|(t, _)| t.ends_with("StopQueryExecution")), "{calls:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scan_budget_stops_the_run_before_it_is_exceeded() {
    // Every query reports 4 GB scanned; the budget is 10 GB: two queries run (8 GB), the third
    // could take the run to 12 GB and is not started.
    let proxy = Proxy::start(&["--athena-scanned", "4000000000"]);
    let e = failing_run(&proxy, |a| a.max_bytes_scanned = Some(10_000_000_000)).await;
    assert!(e.contains("budget") && e.contains("8000000000 bytes scanned so far"), "{e}");
    let starts = proxy.calls().iter().filter(|(t, _)| t.ends_with("StartQueryExecution")).count();
    assert_eq!(starts, 2);
}

/// Ctrl-C while an Athena query runs: the `lakesight run` process (a real child process and a
/// real SIGINT) stops the query (`StopQueryExecution` reaches the server), exits with an error
/// naming the query and its id, and publishes nothing.
#[test]
fn an_interrupt_stops_the_running_athena_query_and_publishes_nothing() {
    stop_signal_stops_the_query("-INT");
}

/// The same with SIGTERM, what SageMaker Processing and AWS Batch send when they stop a job.
#[test]
fn sigterm_stops_the_running_athena_query_and_publishes_nothing() {
    stop_signal_stops_the_query("-TERM");
}

fn stop_signal_stops_the_query(signal: &str) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let bucket = rt.block_on(async { new_bucket("athena-int") });
    let proxy = Proxy::start(&["--athena-state", "RUNNING"]);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let demo = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("jobs/demo.toml")).unwrap();
    assert!(demo.contains("engine = \"datafusion\""));
    let job = format!(
        "{}\n[athena]\nworkgroup = \"primary\"\noutput_location = \"s3://{bucket}/athena-results\"\n\
         scratch = \"s3://{bucket}/scratch\"\nendpoint = \"{ep}\"\nregion = \"us-east-1\"\n\
         poll_initial_ms = 20\npoll_max_ms = 100\ntimeout_secs = 600\n\n\
         [s3]\nendpoint = \"{moto}\"\nallow_http = true\npath_style = true\nregion = \"us-east-1\"\n",
        demo.replace("engine = \"datafusion\"", "engine = \"athena\""),
        ep = proxy.endpoint,
        moto = moto(),
    );
    let job_path = dir.path().join("job.toml");
    std::fs::write(&job_path, job).unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_lakesight"))
        .args(["run", "--job", job_path.to_str().unwrap(), "--date", "2025-03-28"])
        .args(["--lake", demo_like().path().to_str().unwrap(), "--out", out.to_str().unwrap()])
        .env("LAKESIGHT_LOG_FORMAT", "json")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The interrupt handler is in place once the first poll has been answered RUNNING; wait for
    // the second poll to be sure, then interrupt.
    let started = std::time::Instant::now();
    while proxy.calls().iter().filter(|(t, _)| t.ends_with("GetQueryExecution")).count() < 2 {
        assert!(started.elapsed().as_secs() < 120, "no Athena polling seen: {:?}", proxy.calls());
        assert!(child.try_wait().unwrap().is_none(), "lakesight exited before its query ran");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let pid = child.id().to_string();
    assert!(std::process::Command::new("kill").args([signal, &pid]).status().unwrap().success());
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(stderr.contains("interrupted while Athena query"), "{stderr}");
    // The documented stop statuses (runtime::exit): 143 for SIGTERM, 130 for SIGINT.
    assert_eq!(output.status.code(), Some(if signal == "-TERM" { 143 } else { 130 }), "{stderr}");
    let calls = proxy.calls();
    assert!(calls.iter().any(|(t, _)| t.ends_with("StopQueryExecution")), "{calls:?}");
    assert!(!out.join("manifest.json").exists() && !out.join("findings").exists(), "{stderr}");
}
