//! The `lakesight` binary as a user runs it: `tables`, `query` in every format, `validate`.

use std::process::Command;

use crate::common::mixed_lake;

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_lakesight"));
    c.env("LAKESIGHT_LOG_FORMAT", "json");
    c
}

/// `lakesight query --lake URL --format FMT SQL`'s standard output; the run must succeed.
fn query(url: &str, fmt: &str, sql: &str) -> String {
    let out = bin().args(["query", "--lake", url, "--format", fmt, sql]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn tables_lists_every_table_with_classes_and_rows() {
    let f = mixed_lake();
    let out = bin().args(["tables", "--lake", &f.url()]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("amazon_security_lake_table_us_east_1_cloud_trail_mgmt_1_0"), "{text}");
    assert!(text.contains("amazon_security_lake_table_eu_west_1_sh_findings_2_0"), "{text}");
    // CloudTrail v1 holds API Activity 3005, Account Change 3001 and Authentication 3002.
    let ct = text.lines().find(|l| l.contains("us_east_1_cloud_trail_mgmt_1_0")).unwrap();
    assert!(ct.contains("3001,3002,3005"), "{ct}");
    let ct2 = text.lines().find(|l| l.contains("us_east_1_cloud_trail_mgmt_2_0")).unwrap();
    assert!(ct2.contains("3001,3002,6003"), "{ct2}");
    assert!(text.contains("17 tables"), "{text}");
}

#[test]
fn query_writes_table_csv_json_and_parquet() {
    let f = mixed_lake();
    let sql = "SELECT region, count(*) AS n FROM lakesight.network_activity GROUP BY region ORDER BY region";
    let run = |fmt: &str| query(&f.url(), fmt, sql);
    let csv = run("csv");
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], "region,n");
    assert!(lines[1].starts_with("eu-west-1,") && lines[2].starts_with("us-east-1,"), "{csv}");
    let json = run("json");
    let first: serde_json::Value = serde_json::from_str(json.lines().next().unwrap()).unwrap();
    assert_eq!(first["region"], "eu-west-1");
    assert!(run("table").contains("| eu-west-1 |"));
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("r.parquet");
    let out = bin()
        .args([
            "query",
            "--lake",
            &f.url(),
            "--format",
            "parquet",
            "--output",
            p.to_str().unwrap(),
            sql,
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(crate::common::read_parquet(&p).iter().map(|b| b.num_rows()).sum::<usize>(), 2);
    // Parquet to a terminal is refused with a clear message.
    let out = bin()
        .args(["query", "--lake", &f.url(), "--format", "parquet", sql])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--output"));
}

/// `SELECT *` over an OCSF table (structs such as `actor`, `api`, lists such as `resources`) as
/// CSV: every row written, each nested field as JSON text that parses back to the value the JSON
/// format gives for the same row (Arrow's CSV writer refuses nested columns, so this failed).
#[test]
fn query_writes_nested_ocsf_columns_to_csv_as_json() {
    let f = mixed_lake();
    let sql = "SELECT * FROM amazon_security_lake_table_us_east_1_cloud_trail_mgmt_2_0 ORDER BY time, metadata.uid LIMIT 3";
    let run = |fmt: &str| query(&f.url(), fmt, sql);
    let csv = run("csv");
    let json = run("json");
    let mut rd: Vec<Vec<String>> = csv.lines().map(lakesight::series::csv::fields).collect();
    let header = rd.remove(0);
    assert!(
        header.iter().any(|h| h == "actor") && header.iter().any(|h| h == "api"),
        "{header:?}"
    );
    assert_eq!(rd.len(), 3, "{csv}");
    let first: serde_json::Value = serde_json::from_str(json.lines().next().unwrap()).unwrap();
    for col in ["actor", "api", "src_endpoint"] {
        let i = header.iter().position(|h| h == col).unwrap();
        let cell: serde_json::Value = serde_json::from_str(&rd[0][i]).unwrap_or_else(|e| panic!("{col}: {e}: {}", rd[0][i]));
        // The JSON format leaves nulls out; compare the non-null leaves the JSON row has.
        fn covers(csv: &serde_json::Value, json: &serde_json::Value) -> bool {
            match (csv, json) {
                (serde_json::Value::Object(a), serde_json::Value::Object(b)) => {
                    b.iter().all(|(k, v)| a.get(k).is_some_and(|x| covers(x, v)))
                }
                (serde_json::Value::Array(a), serde_json::Value::Array(b)) => {
                    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| covers(x, y))
                }
                (a, b) => a == b,
            }
        }
        assert!(cell.is_object() && covers(&cell, &first[col]), "{col}: {cell} vs {}", first[col]);
    }
}

#[test]
fn a_bad_query_is_a_clear_error_not_a_panic() {
    let f = mixed_lake();
    let out = bin()
        .args([
            "query",
            "--lake",
            &f.url(),
            "SELECT nope FROM amazon_security_lake_table_us_east_1_vpc_flow_1_0",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("nope") && !err.contains("panicked"), "{err}");
}

#[test]
fn validate_reports_every_problem() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("bad.toml");
    std::fs::write(
        &p,
        "[job]\nname = \"x\"\nlake = \"l\"\noutput = \"o\"\nbaseline_days = 1\nmemory_limit = \"1MiB\"\n\
         [[series]]\nfamily = \"nope\"\ndetectors = []\n",
    )
    .unwrap();
    let out = bin().args(["validate", "--job", p.to_str().unwrap()]).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    for needle in [
        "job.baseline_days",
        "is below the minimum of 64 MiB",
        "series[0].family",
        "series[0].detectors",
    ] {
        assert!(err.contains(needle), "{needle}: {err}");
    }
    let ok = bin()
        .args(["validate", "--job", concat!(env!("CARGO_MANIFEST_DIR"), "/jobs/nightly.toml")])
        .output()
        .unwrap();
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
}

/// `run --dry-run` prints the resolved plan — days, every stage with the queries it will run, the
/// views and days each reads, the detectors that judge it, the outputs — and runs nothing: the
/// lake is never opened (it does not exist here) and the output folder is not created.
#[test]
fn dry_run_prints_the_plan_and_runs_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let job = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("jobs/demo.toml");
    let o = bin()
        .args(["run", "--job", job.to_str().unwrap(), "--date", "2025-03-28", "--dry-run"])
        .args([
            "--lake",
            dir.path().join("no-such-lake").to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(
        text.contains("days analysed: 2025-03-28 .. 2025-03-28 (1 day(s)); baseline from 2025-03-14"),
        "{text}"
    );
    // The default memory pool (2 GiB), since the demo job sets none.
    assert!(
        text.contains("(memory pool 2048 MiB, spilling to the OS temporary folder)"),
        "{text}"
    );
    let line = text.lines().find(|l| l.contains("query api_calls_day ")).unwrap_or_default();
    assert!(
        line.contains("reads lakesight.api_activity ") && line.ends_with("2025-03-14 .. 2025-03-28 -> outliers"),
        "{text}"
    );
    assert!(
        text.contains("  features\n") && text.contains("  ip_insights\n") && text.contains("  ueba\n"),
        "{text}"
    );
    assert!(
        text.contains("query beacon_pairs_beaconing") && text.contains("query flow_edges_lateral_movement"),
        "{text}"
    );
    assert!(
        text.contains(
            "findings/dt=<day>/detector=<beaconing|changepoints|dns|exfiltration|identity|ip_insights|lateral_movement|outliers|trends|ueba>"
        ),
        "{text}"
    );
    assert!(!out.exists(), "a dry run wrote {}", out.display());
}

/// `lakesight score` ranks a CSV's rows with the isolation forest: the one row far from the others
/// is rank 1 and, with `--contamination 0.005` (one row in 201), the only anomaly, its id carried
/// through; a missing file is a clear error.
#[test]
fn score_ranks_a_csv_and_names_a_missing_file() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::from("principal,events,new_operations\n");
    for i in 0..200 {
        text.push_str(&format!("user/u{i},{},{}\n", 100 + (i * 37) % 23, i % 2));
    }
    text.push_str("role/stolen,104,14\n");
    let input = dir.path().join("days.csv");
    std::fs::write(&input, text).unwrap();
    let o = bin()
        .args([
            "score",
            "--model",
            "iforest",
            "--id",
            "principal",
            "--contamination",
            "0.005",
            "--input",
        ])
        .arg(&input)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out = String::from_utf8(o.stdout).unwrap();
    let rows: Vec<Vec<&str>> = out.lines().skip(1).map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.len(), 201);
    let first = rows.iter().find(|r| r[3] == "1").unwrap();
    assert_eq!(first[0], "role/stolen");
    assert_eq!(
        rows.iter().filter(|r| r[4] == "true").map(|r| r[0]).collect::<Vec<_>>(),
        vec!["role/stolen"]
    );
    assert!(String::from_utf8_lossy(&o.stderr).contains("201 row(s), 2 feature(s)"));
    let o = bin().args(["score", "--input", "/nonexistent/x.parquet"]).output().unwrap();
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("/nonexistent/x.parquet"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// `sample-lake --scenarios none` writes a lake with no injected instance (labels list none, where
/// the default plan would inject one of each kind); an empty or unknown list is a configuration error (exit 2) that
/// names the flag, and writes nothing.
#[test]
fn sample_lake_without_scenarios_is_benign_and_a_bad_list_is_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("benign");
    let out = bin()
        .args([
            "sample-lake",
            "--out",
            lake.to_str().unwrap(),
            "--days",
            "7",
            "--events-per-day",
            "1000",
            "--scenarios",
            "none",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let labels: serde_json::Value = serde_json::from_slice(&std::fs::read(lake.join("labels.json")).unwrap()).unwrap();
    assert_eq!(labels["scenarios"].as_array().map(Vec::len), Some(0), "{labels}");
    for bad in ["", "no_such_kind=2"] {
        let target = dir.path().join("bad");
        let out = bin()
            .args(["sample-lake", "--out", target.to_str().unwrap(), "--days", "7", "--scenarios", bad])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{bad:?}: {}", String::from_utf8_lossy(&out.stderr));
        assert!(String::from_utf8_lossy(&out.stderr).contains("--scenarios"), "{bad:?}");
        assert!(!target.exists(), "{bad:?}: nothing is written");
    }
}

/// `detect --series FILE --format json` writes one JSON object per anomaly to `--output`: a daily
/// series with one injected spike gives exactly that spike (its date, its label, a score above
/// the gate), and `--format csv` (the default) still writes one row per bucket.
#[test]
fn detect_writes_anomalies_as_json_lines() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("s.csv");
    let mut text = String::from("timestamp,value,label\n");
    for i in 0..60u64 {
        let day = chrono::NaiveDate::from_ymd_opt(2025, 1, 1).unwrap() + chrono::Days::new(i);
        let v = 100 + 20 * (i % 7) + (i * 7919) % 5;
        let (v, l) = if i == 45 { (v + 400, 1) } else { (v, 0) };
        text.push_str(&format!("{day}T00:00:00Z,{v},{l}\n"));
    }
    std::fs::write(&csv, text).unwrap();
    let out = dir.path().join("a.jsonl");
    let detect = [
        "detect",
        "--series",
        csv.to_str().unwrap(),
        "--bucket",
        "day",
        "--detector",
        "outliers",
    ];
    let o = bin()
        .args(detect)
        .args(["--format", "json", "--output", out.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(lines[0]["start"], "2025-02-15T00:00:00Z");
    assert_eq!(lines[0]["labelled"], true);
    assert!(lines[0]["score"].as_f64().unwrap() >= 3.0, "{}", lines[0]);
    let o = bin().args(detect).output().unwrap();
    assert!(o.status.success());
    assert_eq!(String::from_utf8_lossy(&o.stdout).lines().count(), 61);
}
