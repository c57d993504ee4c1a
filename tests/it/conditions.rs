//! One condition, one finding: nightly runs, a range run and a rerun publish the same conditions.

use std::collections::BTreeMap;
use std::path::Path;

use arrow::array::{Array, AsArray};
use arrow::datatypes::{Int32Type, TimestampMillisecondType};
use chrono::NaiveDate;
use lakesight::runtime::run::{run, RunOverrides};
use lakesight::runtime::FixedClock;
use lakesight::series::SeriesCatalog;

use crate::common::{config, files_under, read_parquet, Fixture};
use crate::spine::demo_job;

/// A realistic-world lake (2025-03-01 .. 03-28) with two finding-type trends that start in the
/// baseline and keep rising, and two level shifts: conditions that last several days.
fn lasting() -> &'static Fixture {
    static F: std::sync::OnceLock<Fixture> = std::sync::OnceLock::new();
    F.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = config(dir.path().to_path_buf(), lakesight::sample::VersionMode::V2, 28, 12_000);
        cfg.world = lakesight::sample::WorldKind::Realistic;
        cfg.seed = 11;
        cfg.scenarios = Some(lakesight::sample::scenarios::parse_specs("finding_trend=6:2,finding_level_shift=4:2").unwrap());
        let summary = lakesight::sample::generate(&cfg).unwrap();
        Fixture { dir, summary }
    })
}

/// (dt, finding id) → (condition id, status, first seen ms, days), from every findings file.
type Published = BTreeMap<(String, String), (String, String, i64, i32)>;

fn published(out: &Path) -> Published {
    let mut m = BTreeMap::new();
    for p in files_under(&out.join("findings")) {
        let dt = p
            .components()
            .filter_map(|c| c.as_os_str().to_str())
            .find_map(|c| c.strip_prefix("dt="))
            .unwrap()
            .to_string();
        for b in read_parquet(&p) {
            let s = |n: &str| b.column_by_name(n).unwrap().as_string::<i32>().clone();
            let (id, cid, st) = (s("finding_id"), s("condition_id"), s("status"));
            let first = b
                .column_by_name("first_seen")
                .unwrap()
                .as_primitive::<TimestampMillisecondType>()
                .clone();
            let days = b.column_by_name("condition_days").unwrap().as_primitive::<Int32Type>().clone();
            for i in 0..b.num_rows() {
                assert!(
                    !cid.is_null(i) && !st.is_null(i) && !first.is_null(i) && !days.is_null(i),
                    "{p:?} row {i}"
                );
                let prev = m.insert(
                    (dt.clone(), id.value(i).to_string()),
                    (cid.value(i).to_string(), st.value(i).to_string(), first.value(i), days.value(i)),
                );
                assert!(prev.is_none(), "finding {} twice", id.value(i));
            }
        }
    }
    m
}

async fn run_days(out: &Path, from: NaiveDate, to: NaiveDate) -> lakesight::runtime::run::RunResult {
    let mut cfg = demo_job(lasting().path(), out);
    // Three weeks of baseline: enough for the trend test to see the lake's trends day after day.
    cfg.job.baseline_days = 21;
    let ov = RunOverrides {
        from: Some(from),
        to: Some(to),
        ..Default::default()
    };
    run(&cfg, &SeriesCatalog::builtin().unwrap(), &ov, &FixedClock(1_743_400_000_000))
        .await
        .unwrap()
}

/// Proves: (1) one range run over seven days (2025-03-22..28, 21 days of baseline) publishes
/// exactly what seven nightly runs of those days published one after the other (each reading the
/// previous day's findings from the output) — same findings of every detector and stage, same
/// condition ids, statuses, first-seen times and day counts; (2) a rerun of a middle day
/// republishes that day unchanged; (3) the statuses are consistent: a `new` finding is day 1 of
/// its condition and the only new one of it that day, an `ongoing` one continues a condition seen
/// earlier the same day or the day before (one day fewer, same first-seen time), and at least one
/// condition is carried across days (the lake's trends last, so the check is not vacuous);
/// (4) the manifest counts what the files hold and lists as resolved exactly the conditions of a
/// day that are absent the next day.
#[tokio::test]
async fn nightly_runs_and_a_range_run_publish_the_same_conditions() {
    let d = |day| NaiveDate::from_ymd_opt(2025, 3, day).unwrap();
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let range = run_days(a.path(), d(22), d(28)).await;
    let mut nightly = Vec::new();
    for day in 22..=28 {
        nightly.push(run_days(b.path(), d(day), d(day)).await);
    }
    let (pa, pb) = (published(a.path()), published(b.path()));
    assert!(!pa.is_empty());
    let title = |id: &str| -> String {
        range
            .findings
            .iter()
            .chain(nightly.iter().flat_map(|r| r.findings.iter()))
            .find(|f| f.finding_id == id)
            .map(|f| format!("{}: {} [{} .. {}]", f.detector, f.title, f.window_start_ms, f.window_end_ms))
            .unwrap_or_default()
    };
    let diff: Vec<String> = pa
        .iter()
        .filter(|(k, v)| pb.get(*k) != Some(*v))
        .map(|(k, v)| format!("range {k:?} {v:?} {}", title(&k.1)))
        .chain(
            pb.iter()
                .filter(|(k, _)| !pa.contains_key(*k))
                .map(|(k, v)| format!("nightly {k:?} {v:?} {}", title(&k.1))),
        )
        .collect();
    assert!(diff.is_empty(), "range run vs nightly runs:\n{}", diff.join("\n"));
    let again = run_days(b.path(), d(25), d(25)).await;
    assert_eq!(published(b.path()), pb, "a rerun of 2025-03-25 changed what was published");
    assert_eq!(again.manifest.conditions.new, nightly[25 - 22].manifest.conditions.new);

    // (3) consistency of the statuses, over the range run's files.
    let mut by_cond: BTreeMap<&str, Vec<(&str, &str, i64, i32)>> = BTreeMap::new();
    for ((dt, _), (cid, st, first, days)) in &pa {
        by_cond.entry(cid).or_default().push((dt, st, *first, *days));
    }
    let mut ongoing_across_days = 0;
    for (cid, rows) in &by_cond {
        for (dt, st, first, days) in rows {
            match *st {
                "new" => {
                    assert_eq!(*days, 1, "{cid} new on {dt}");
                    assert!(
                        rows.iter().filter(|r| r.0 == *dt && r.1 == "new").count() == 1,
                        "{cid}: two new on {dt}"
                    );
                }
                "ongoing" => {
                    let day = NaiveDate::parse_from_str(dt, "%Y-%m-%d").unwrap();
                    let yesterday = day.pred_opt().unwrap().to_string();
                    let same_day = rows.iter().any(|r| r.0 == *dt && r.1 == "new");
                    let carried = rows.iter().any(|r| r.0 == yesterday && r.3 == days - 1 && r.2 == *first);
                    assert!(same_day || carried, "{cid} ongoing on {dt} continues nothing");
                    if carried {
                        ongoing_across_days += 1;
                    }
                }
                other => panic!("status {other}"),
            }
        }
    }
    assert!(
        ongoing_across_days > 0,
        "no condition lasted two days: the check above saw nothing carried"
    );

    // (4) the manifest's counts and the resolved conditions.
    let news = pa.values().filter(|v| v.1 == "new").count();
    assert_eq!(range.manifest.conditions.new, news);
    assert_eq!(range.manifest.conditions.ongoing_findings, pa.len() - news);
    let on_day =
        |dt: &str| -> std::collections::BTreeSet<String> { pa.iter().filter(|((d, _), _)| d == dt).map(|(_, v)| v.0.clone()).collect() };
    let mut want = Vec::new();
    for day in 23..=28 {
        let (prev, cur) = (on_day(&d(day - 1).to_string()), on_day(&d(day).to_string()));
        for c in prev.difference(&cur) {
            want.push((d(day).to_string(), c.clone()));
        }
    }
    let mut got: Vec<(String, String)> = range
        .manifest
        .conditions
        .resolved
        .iter()
        .map(|r| (r.dt.clone(), r.condition_id.clone()))
        .collect();
    got.sort();
    want.sort();
    assert_eq!(got, want);
}
