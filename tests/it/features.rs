//! The per-principal daily features table (UEBA input) against an independent computation.

use std::collections::{BTreeMap, BTreeSet};

use arrow::array::{Array, AsArray};
use arrow::datatypes::{Int64Type, TimestampMillisecondType};
use lakesight::lake::SqlRunner;
use lakesight::runtime::run::{run, RunOverrides};
use lakesight::runtime::FixedClock;
use lakesight::series::SeriesCatalog;
use lakesight::stages::features::FEATURES;

use crate::common::engine;
use crate::spine::{demo_job, demo_like};

#[derive(Default)]
struct Acc {
    events: f64,
    operations: BTreeSet<String>,
    services: BTreeSet<String>,
    src_ips: BTreeSet<String>,
    user_agents: BTreeSet<String>,
    regions: BTreeSet<String>,
    failures: f64,
    deletes: f64,
    night: f64,
}

/// Every feature of every principal of the day equals what a plain pass over the day's raw
/// `api_activity` rows counts in Rust (exactly: they are counts); a rerun replaces the day's file
/// rather than adding to it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn features_match_a_count_over_the_raw_events_and_a_rerun_replaces_them() {
    let out = tempfile::tempdir().unwrap();
    let cfg = demo_job(demo_like().path(), out.path());
    let c = SeriesCatalog::builtin().unwrap();
    let ov = RunOverrides {
        date: chrono::NaiveDate::from_ymd_opt(2025, 3, 28),
        ..RunOverrides::default()
    };
    let r = run(&cfg, &c, &ov, &FixedClock(1_743_400_000_000)).await.unwrap();
    let rows = r
        .manifest
        .stage::<lakesight::stages::features::FeaturesStats>("features")
        .unwrap()
        .rows_per_day["2025-03-28"];
    assert!(rows > 10, "{rows} principals");

    // Independent: the raw rows of the day, counted here.
    let e = engine(&demo_like().url()).await;
    let raw = e
        .run_sql(
            "raw",
            "SELECT accountid, principal, operation, service, src_ip, user_agent, region, status, activity_name, \
             CAST(time AS TIMESTAMP(3)) AS t FROM lakesight.api_activity WHERE eventday = '20250328' AND principal IS NOT NULL",
        )
        .await
        .unwrap();
    let mut want: BTreeMap<(String, String), Acc> = BTreeMap::new();
    for b in &raw {
        let s = |i: usize| {
            arrow::compute::cast(b.column(i), &arrow::datatypes::DataType::Utf8)
                .unwrap()
                .as_string::<i32>()
                .clone()
        };
        let (acc, pr, op, sv, ip, ua, rg, st, act) = (s(0), s(1), s(2), s(3), s(4), s(5), s(6), s(7), s(8));
        let t = b.column(9).as_primitive::<TimestampMillisecondType>();
        for i in 0..b.num_rows() {
            let a = want.entry((acc.value(i).to_string(), pr.value(i).to_string())).or_default();
            a.events += 1.0;
            let add = |set: &mut BTreeSet<String>, col: &arrow::array::StringArray| {
                if col.is_valid(i) {
                    set.insert(col.value(i).to_string());
                }
            };
            add(&mut a.operations, &op);
            add(&mut a.services, &sv);
            add(&mut a.src_ips, &ip);
            add(&mut a.user_agents, &ua);
            add(&mut a.regions, &rg);
            a.failures += f64::from(st.is_valid(i) && st.value(i) == "Failure");
            a.deletes += f64::from(act.is_valid(i) && act.value(i) == "Delete");
            a.night += f64::from(t.value(i).rem_euclid(86_400_000) < 6 * 3_600_000);
        }
    }

    let file = out.path().join("features/dt=2025-03-28/features.parquet");
    let read = crate::common::read_parquet;
    let got = read(&file);
    let mut seen = 0;
    for b in &got {
        let acc = b.column_by_name("account_id").unwrap().as_string::<i32>().clone();
        let pr = b.column_by_name("principal").unwrap().as_string::<i32>().clone();
        for i in 0..b.num_rows() {
            let key = (acc.value(i).to_string(), pr.value(i).to_string());
            let a = want.get(&key).unwrap_or_else(|| panic!("{key:?} has features but no events"));
            let expect = [
                a.events,
                a.operations.len() as f64,
                a.services.len() as f64,
                a.src_ips.len() as f64,
                a.user_agents.len() as f64,
                a.regions.len() as f64,
                a.failures,
                a.deletes,
                a.night,
            ];
            for ((name, _), e) in FEATURES.iter().zip(expect) {
                // Counts are written as integers (bigint), not doubles.
                let v = b.column_by_name(name).unwrap().as_primitive::<Int64Type>().value(i);
                assert_eq!(v as f64, e, "{name} of {key:?}");
            }
            seen += 1;
        }
    }
    assert_eq!(seen, want.len(), "every principal with events has a row");
    assert_eq!(seen, rows);

    // A rerun of the day replaces the file: same rows, not twice as many.
    run(&cfg, &c, &ov, &FixedClock(1_743_500_000_000)).await.unwrap();
    let again: usize = read(&file).iter().map(|b| b.num_rows()).sum();
    assert_eq!(again, rows);
    let parts: Vec<_> = std::fs::read_dir(file.parent().unwrap()).unwrap().collect();
    assert_eq!(parts.len(), 1, "one file per day");
}
