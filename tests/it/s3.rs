//! S3 for every path, against a real S3-compatible server (moto on loopback, see `servers.rs`).

use std::path::Path;

use lakesight::lake::catalog::CatalogOptions;
use lakesight::lake::engine::Engine;
use lakesight::runtime::config::JobConfig;
use lakesight::runtime::run::{run, RunOverrides};
use lakesight::runtime::FixedClock;
use lakesight::series::SeriesCatalog;
use lakesight::store::{Location, S3Options};
use object_store::ObjectStoreExt;

use crate::common::{engine, mixed_lake, scalar_i64};
use crate::servers::{new_bucket, s3_options, upload_dir, Proxy};
use crate::spine::demo_like;

/// Open the lake at `url` with these S3 settings.
async fn open_s3(url: &str, s3: S3Options) -> Result<Engine, lakesight::lake::LakeError> {
    Engine::open(
        url,
        &CatalogOptions {
            s3,
            ..CatalogOptions::default()
        },
    )
    .await
}

/// The mixed sample lake uploaded to a new bucket (`s3://<bucket>/lake`), with the fault proxy
/// started with `args` in front of the server: (the local lake, bucket, URL, proxy).
async fn lake_behind_proxy(name: &str, args: &[&str]) -> (&'static crate::common::Fixture, String, String, Proxy) {
    let f = mixed_lake();
    let bucket = new_bucket(name);
    let url = format!("s3://{bucket}/lake");
    upload_dir(f.path(), &url).await;
    (f, bucket, url, Proxy::start(args))
}

/// Settings through `proxy` that give up on a failing request quickly (one retry, 3 s).
fn impatient(proxy: &Proxy) -> S3Options {
    S3Options {
        endpoint: Some(proxy.endpoint.clone()),
        max_retries: Some(1),
        retry_timeout_secs: Some(3),
        ..s3_options()
    }
}

async fn s3_engine(url: &str) -> Engine {
    open_s3(url, s3_options()).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lake_in_s3_reads_exactly_like_the_same_lake_on_disk() {
    let f = mixed_lake();
    let bucket = new_bucket("lake");
    let url = format!("s3://{bucket}/security-lake");
    let n = upload_dir(f.path(), &url).await;
    assert!(n > 10, "uploaded {n} objects");

    let local = engine(&f.url()).await;
    let remote = s3_engine(&url).await;
    let names = |e: &Engine| {
        let mut v: Vec<(String, u64, usize)> = e
            .catalog
            .tables
            .iter()
            .map(|t| (t.glue_name.clone(), t.rows(), t.files.len()))
            .collect();
        v.sort();
        v
    };
    assert_eq!(names(&local), names(&remote));
    for sql in [
        "SELECT count(*) FROM lakesight.api_activity",
        "SELECT count(DISTINCT principal) FROM lakesight.api_activity WHERE eventday = '20250305'",
        "SELECT sum(bytes) FROM lakesight.network_activity",
        "SELECT count(*) FROM amazon_security_lake_table_us_east_1_route53_2_0 WHERE eventday >= '20250310'",
    ] {
        let (a, b) = (scalar_i64(&local, sql).await, scalar_i64(&remote, sql).await);
        assert_eq!(a, b, "{sql}");
        assert!(a > 0, "{sql} returned 0");
    }
}

fn job(lake: &str, out: &str) -> JobConfig {
    let c = SeriesCatalog::builtin().unwrap();
    let mut cfg = JobConfig::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("jobs/demo.toml"), &c).unwrap();
    cfg.job.lake = lake.into();
    cfg.job.output = out.into();
    cfg.s3 = s3_options();
    cfg
}

/// Finding ids in every findings Parquet object under `url`.
async fn finding_ids(url: &str) -> (Vec<String>, usize) {
    use arrow::array::AsArray;
    use futures::TryStreamExt;
    let loc = Location::open(url, &s3_options(), false).await.unwrap();
    let objs: Vec<_> = loc.store.list(Some(&loc.child("findings"))).try_collect().await.unwrap();
    let mut ids = Vec::new();
    for o in &objs {
        let bytes = loc.store.get(&o.location).await.unwrap().bytes().await.unwrap();
        let r = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(bytes)
            .unwrap()
            .build()
            .unwrap();
        for b in r {
            let b = b.unwrap();
            let col = b.column_by_name("finding_id").unwrap().as_string::<i32>().clone();
            ids.extend(col.iter().flatten().map(str::to_string));
        }
    }
    ids.sort();
    (ids, objs.len())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_reads_its_lake_from_s3_and_writes_findings_back_to_s3() {
    let f = demo_like();
    let bucket = new_bucket("job");
    let lake = format!("s3://{bucket}/lake");
    upload_dir(f.path(), &lake).await;
    let out = format!("s3://{bucket}/lakesight/out");
    let c = SeriesCatalog::builtin().unwrap();
    let ov = RunOverrides {
        date: chrono::NaiveDate::from_ymd_opt(2025, 3, 28),
        ..RunOverrides::default()
    };
    let clock = FixedClock(1_743_400_000_000);

    // The same job on local disk is the reference.
    let local_out = tempfile::tempdir().unwrap();
    let mut local_cfg = job(&f.url(), local_out.path().to_str().unwrap());
    local_cfg.s3 = S3Options::default();
    let want = run(&local_cfg, &c, &ov, &clock).await.unwrap();

    let got = run(&job(&lake, &out), &c, &ov, &clock).await.unwrap();
    assert_eq!(got.output, out);
    assert_eq!(got.manifest.inputs.rows, want.manifest.inputs.rows);
    let mut want_ids: Vec<String> = want.findings.iter().map(|f| f.finding_id.clone()).collect();
    want_ids.sort();
    assert!(!want_ids.is_empty(), "the reference run found nothing");
    let (ids, objects) = finding_ids(&out).await;
    assert_eq!(ids, want_ids, "findings read back from S3");

    // Manifest, DDL and report are in the bucket; the DDL points Athena at the S3 location.
    let loc = Location::open(&out, &s3_options(), false).await.unwrap();
    for rel in ["manifest.json", "report.html", "findings_table.sql"] {
        loc.store.head(&loc.child(rel)).await.unwrap_or_else(|e| panic!("{rel}: {e}"));
    }
    let ddl = loc
        .store
        .get(&loc.child("findings_table.sql"))
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert!(String::from_utf8_lossy(&ddl).contains(&format!("LOCATION '{out}/findings")));

    // A rerun replaces the day's partitions: same objects, same findings, no duplicates.
    run(&job(&lake, &out), &c, &ov, &clock).await.unwrap();
    assert_eq!(finding_ids(&out).await, (ids, objects));

    // The OCSF copy (`jobs/demo.toml` has `[output.ocsf]`) is in the bucket in the custom-source
    // layout, and lakesight's catalog reads it over S3: one row per finding after the rerun.
    let ocsf = s3_engine(&format!("{out}/ocsf")).await;
    let t = "amazon_security_lake_table_us_east_1_ext_lakesight";
    assert_eq!(
        scalar_i64(&ocsf, &format!("SELECT count(*) FROM {t}")).await as usize,
        want_ids.len()
    );
    assert_eq!(
        scalar_i64(&ocsf, &format!("SELECT count(DISTINCT finding_info.uid) FROM {t}")).await as usize,
        want_ids.len()
    );
}

#[tokio::test]
async fn a_missing_bucket_or_a_dead_server_is_a_clear_error() {
    let e = open_s3("s3://no-such-bucket-lakesight/lake", s3_options())
        .await
        .err()
        .expect("a missing bucket must fail")
        .to_string();
    assert!(e.contains("no-such-bucket-lakesight"), "{e}");

    // Nothing listens on this port: after the retries give up, the error names the lake and the endpoint.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let dead = S3Options {
        endpoint: Some(format!("http://127.0.0.1:{port}")),
        ..s3_options()
    };
    let e = open_s3("s3://lake/x", dead)
        .await
        .err()
        .expect("a dead endpoint must fail")
        .to_string();
    assert!(
        e.contains("s3://lake/x") && e.contains(&format!("127.0.0.1:{port}")) && e.contains("retries"),
        "{e}"
    );
}

/// Throttling (503 SlowDown) and connections reset mid-download, injected by the fault proxy
/// between lakesight and the S3 server, are retried: the lake reads as if nothing had happened.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttling_and_connection_resets_are_retried() {
    let (f, _, url, proxy) = lake_behind_proxy("faults", &["--s3-503", "3", "--reset", "2"]).await;
    let opts = S3Options {
        endpoint: Some(proxy.endpoint.clone()),
        max_retries: Some(5),
        ..s3_options()
    };
    let remote = open_s3(&url, opts).await.unwrap();
    assert!(remote.catalog.skipped.is_empty(), "{:?}", remote.catalog.skipped);
    let local = engine(&f.url()).await;
    let sql = "SELECT count(*) FROM lakesight.api_activity";
    assert_eq!(scalar_i64(&remote, sql).await, scalar_i64(&local, sql).await);
    let faults: Vec<String> = proxy.calls().into_iter().filter_map(|(_, f)| f).collect();
    assert_eq!(faults.iter().filter(|f| *f == "503").count(), 3, "{faults:?}");
    assert_eq!(faults.iter().filter(|f| *f == "reset").count(), 2, "{faults:?}");
}

/// Access denied on one prefix: the files there are skipped, each named with the reason, and
/// counted; everything else is read. A lake root that cannot be listed is a clear error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_denied_on_one_prefix_is_a_counted_skip_and_on_the_root_a_clear_error() {
    let (f, bucket, url, proxy) = lake_behind_proxy("denied", &["--deny", "eventDay=20250303"]).await;
    let opts = S3Options {
        endpoint: Some(proxy.endpoint.clone()),
        ..s3_options()
    };
    let remote = open_s3(&url, opts.clone()).await.unwrap();
    let denied: Vec<_> = remote
        .catalog
        .skipped
        .iter()
        .filter(|s| s.path.contains("eventDay=20250303"))
        .collect();
    assert!(!denied.is_empty(), "{:?}", remote.catalog.skipped);
    assert_eq!(denied.len(), remote.catalog.skipped.len(), "only the denied prefix is skipped");
    for s in &denied {
        assert!(
            s.reason.contains("403") || s.reason.contains("AccessDenied") || s.reason.contains("Forbidden"),
            "{}",
            s.reason
        );
    }
    let local = engine(&f.url()).await;
    let sql = "SELECT count(*) FROM lakesight.api_activity WHERE eventday <> '20250303'";
    assert_eq!(scalar_i64(&remote, sql).await, scalar_i64(&local, sql).await);

    let root = Proxy::start(&["--deny", &bucket]);
    let e = open_s3(
        &url,
        S3Options {
            endpoint: Some(root.endpoint.clone()),
            ..s3_options()
        },
    )
    .await
    .err()
    .expect("a lake root that cannot be listed is an error")
    .to_string();
    assert!(
        e.contains(&url) && (e.contains("403") || e.contains("AccessDenied") || e.contains("Forbidden")),
        "{e}"
    );
}

/// One object the store keeps failing (503 SlowDown on every GET, beyond the client's retries)
/// while the lake is opened: the open fails with an error naming that object and saying the store,
/// not the file, failed — classified transient (exit 75, for a Batch retry) — instead of the file
/// being skipped as "corrupt or truncated" and its rows left out of the night's findings, as
/// before. The proxy's record shows the failing object was asked for more than once (retried).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_the_store_cannot_serve_at_open_stops_the_run_instead_of_being_skipped() {
    let (_, _, url, proxy) = lake_behind_proxy("unserved", &["--fail", "eventDay=20250304"]).await;
    let e = open_s3(&url, impatient(&proxy))
        .await
        .err()
        .expect("a file the store cannot serve fails the open");
    let text = e.to_string();
    assert!(matches!(e, lakesight::lake::LakeError::StoreRead { .. }), "{e:?}");
    assert!(
        text.contains("eventDay=20250304") && text.contains("object store, not in the file"),
        "{text}"
    );
    let failure = lakesight::runtime::exit::Failure::of([&e as &(dyn std::error::Error + 'static)]);
    assert_eq!(failure.code(), 75, "{failure:?}");
    let retried = proxy.calls().into_iter().filter(|(_, f)| f.as_deref() == Some("503")).count();
    assert!(retried >= 2, "{retried}");
}

/// The S3 server goes away between opening the lake and scanning it: the query fails with an
/// error naming the object it could not read (after the configured retries), no panic.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_stopping_mid_run_is_a_clear_error() {
    let (_, bucket, url, proxy) = lake_behind_proxy("midrun", &[]).await;
    let e = open_s3(
        &url,
        S3Options {
            // Without the whole-object cache: with it, the footer reads of opening the lake
            // already hold these small files and the scan would not touch the server.
            cache_mb: Some(0),
            ..impatient(&proxy)
        },
    )
    .await
    .unwrap();
    drop(proxy); // the server is gone
    let err = e
        .collect("SELECT count(DISTINCT principal) FROM lakesight.api_activity")
        .await
        .err()
        .expect("reading from a stopped server fails")
        .to_string();
    assert!(err.contains(".parquet") || err.contains(&bucket), "{err}");
}

/// Wrong credentials: a moto of the test's own with IAM authentication on (it checks that the
/// access key exists and that the SigV4 signature matches its secret) rejects an unknown key and a
/// wrong secret. `lakesight query` then fails with an error naming the lake and the rejection, in
/// one attempt (a 403 is not retried), and neither secret appears in its output. The same command
/// with the IAM user's real key reads the lake and counts what the local copy counts, so the check
/// is on the credentials and nothing else.
#[test]
fn wrong_credentials_are_a_clear_error_naming_the_lake_and_never_the_secret() {
    let f = mixed_lake();
    let moto = crate::servers::AuthMoto::start("creds", "lake", f.path());
    let url = "s3://creds/lake";
    let sql = "SELECT count(*) AS n FROM lakesight.api_activity";
    let query = |lake: &str, key: &str, secret: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_lakesight"))
            .args(["query", "--lake", lake, "--format", "csv", sql])
            .env("AWS_ACCESS_KEY_ID", key)
            .env("AWS_SECRET_ACCESS_KEY", secret)
            .env("AWS_ENDPOINT_URL", &moto.endpoint)
            .env("AWS_ALLOW_HTTP", "true")
            .env("AWS_REGION", "us-east-1")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env_remove("AWS_PROFILE")
            .output()
            .unwrap()
    };
    let local = query(&f.url(), "unused", "unused");
    assert!(local.status.success(), "{}", String::from_utf8_lossy(&local.stderr));
    let good = query(url, &moto.key, &moto.secret);
    assert!(good.status.success(), "{}", String::from_utf8_lossy(&good.stderr));
    assert_eq!(String::from_utf8_lossy(&good.stdout), String::from_utf8_lossy(&local.stdout));

    let wrong_secret = "wR0ngS3cretWr0ngS3cretWr0ngS3cretWr0ngS3";
    for (key, secret, why) in [
        ("AKIAUNKNOWNKEY000000", moto.secret.as_str(), "InvalidAccessKeyId"),
        (moto.key.as_str(), wrong_secret, "SignatureDoesNotMatch"),
    ] {
        let out = query(url, key, secret);
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(!out.status.success(), "{why}: the query succeeded: {text}");
        assert!(text.contains(url), "{why}: the error names the lake: {text}");
        assert!(
            text.contains(why) || text.contains("403"),
            "{why}: the error gives the reason: {text}"
        );
        assert!(
            !text.contains(secret) && !text.contains(&moto.secret),
            "{why}: a secret in the output: {text}"
        );
        assert!(!text.contains("panicked"), "{text}");
    }
}

/// `lakesight views --lake s3://…` (it failed: the CLI canonicalised the URL as a local path): the
/// Athena views it prints for a lake in S3 (moto) are exactly those it prints for the same lake on
/// disk, so the investigation SQL can be made runnable in Athena for an S3 lake.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn views_over_a_lake_in_s3_equal_those_over_the_same_lake_on_disk() {
    let f = mixed_lake();
    let bucket = new_bucket("views");
    let url = format!("s3://{bucket}/security-lake");
    upload_dir(f.path(), &url).await;
    let views = |lake: &str| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_lakesight"))
            .args(["views", "--lake", lake, "--dialect", "athena"])
            .env("AWS_ENDPOINT_URL_S3", crate::servers::moto())
            .env("AWS_ALLOW_HTTP", "true")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        assert!(out.status.success(), "views --lake {lake}: {stderr}");
        String::from_utf8(out.stdout).unwrap()
    };
    let remote = views(&url);
    assert!(remote.contains("CREATE OR REPLACE VIEW lakesight.api_activity AS"), "{remote}");
    assert_eq!(remote, views(&f.url()));
}

/// Proves the day lease's conditional create on a real S3 server (moto honours
/// `If-None-Match: *` with 412): of eight runs claiming one free day of an `s3://` output at once,
/// exactly one holds it; a later run is busy until the holder releases it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn of_runs_claiming_a_day_of_an_s3_output_exactly_one_wins() {
    use lakesight::sink::lease::{LeaseError, LeaseOptions, Leases};
    let url = format!("s3://{}/out", new_bucket("lease"));
    let loc = Location::open(&url, &s3_options(), true).await.unwrap();
    let day = vec!["2025-03-20".to_string()];
    let opts = LeaseOptions {
        ttl_ms: 600_000,
        take_over: false,
    };
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let (loc, day) = (loc.clone(), day.clone());
            tokio::spawn(async move { Leases::acquire(&loc, &day, &format!("run-{i}"), "job", 1_000, opts).await })
        })
        .collect();
    let mut winners = Vec::new();
    for t in tasks {
        match t.await.unwrap() {
            Ok(l) => winners.push(l),
            Err(LeaseError::Busy { .. }) => {}
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(winners.len(), 1);
    assert!(matches!(
        Leases::acquire(&loc, &day, "late", "job", 2_000, opts).await,
        Err(LeaseError::Busy { .. })
    ));
    winners[0].release(3_000).await.unwrap();
    Leases::acquire(&loc, &day, "late", "job", 4_000, opts).await.unwrap();
}

/// Proves the root settles on the newest-started run on a real S3 server as on a folder: eight
/// runs started at different times publish their root files at once on an `s3://` output
/// (plain puts, listings and gets; no conditional write), and `latest.json` and `manifest.json`
/// end as the newest run's, the other runs told that a newer one published.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn of_runs_publishing_at_once_on_s3_the_newest_started_stays_at_the_root() {
    use lakesight::sink::root::{newer_than, publish, Latest, RootFiles, LATEST};
    use lakesight::sink::Output;
    let url = format!("s3://{}/out", new_bucket("root"));
    let out = Output::open(&url, &s3_options()).await.unwrap();
    let day = chrono::NaiveDate::from_ymd_opt(2025, 3, 20).unwrap();
    let started = |i: i64| 5_000 + (i * 5) % 8;
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let out = out.clone();
            tokio::spawn(async move {
                let run = format!("run-{i}");
                let manifest = format!("{{\"run_id\": \"{run}\"}}");
                out.put(&format!("runs/{run}/manifest.json"), manifest.as_bytes()).await.unwrap();
                let l = Latest {
                    run_id: run.clone(),
                    started_ms: started(i),
                    range: lakesight::runtime::run::DayRange { from: day, to: day },
                    manifest: out.url_of(&format!("runs/{run}/manifest.json")),
                    report: None,
                };
                let files = RootFiles {
                    latest: &l,
                    manifest: manifest.as_bytes(),
                    report: None,
                };
                publish(&out, files).await.unwrap();
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let newest = (0..8).max_by_key(|&i| started(i)).unwrap();
    let latest: Latest = serde_json::from_slice(&out.get_opt(LATEST).await.unwrap().unwrap()).unwrap();
    assert_eq!(latest.run_id, format!("run-{newest}"));
    let manifest = out.get_opt("manifest.json").await.unwrap().unwrap();
    assert_eq!(std::str::from_utf8(&manifest).unwrap(), format!("{{\"run_id\": \"run-{newest}\"}}"));
    for i in (0..8).filter(|&i| i != newest) {
        let n = newer_than(&out, started(i), &format!("run-{i}")).await.unwrap();
        assert_eq!(n, Some(format!("run-{newest}")), "run-{i}");
    }
}
