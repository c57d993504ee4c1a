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
        let dt = dt_of(&p);
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
    run_job(out, from, to, |_| {}).await
}

/// The demo job over the lasting lake for `from..=to`, with three weeks of baseline (enough for
/// the trend test to see the lake's trends day after day), after `edit`.
async fn run_job(
    out: &Path,
    from: NaiveDate,
    to: NaiveDate,
    edit: impl FnOnce(&mut lakesight::runtime::config::JobConfig),
) -> lakesight::runtime::run::RunResult {
    let mut cfg = demo_job(lasting().path(), out);
    cfg.job.baseline_days = 21;
    edit(&mut cfg);
    let ov = RunOverrides {
        from: Some(from),
        to: Some(to),
        ..Default::default()
    };
    run(&cfg, &SeriesCatalog::builtin().unwrap(), &ov, &FixedClock(1_743_400_000_000))
        .await
        .unwrap()
}

/// The `dt=` partition a file under an output folder belongs to.
fn dt_of(p: &Path) -> String {
    p.components()
        .filter_map(|c| c.as_os_str().to_str())
        .find_map(|c| c.strip_prefix("dt="))
        .unwrap()
        .to_string()
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

/// (dt, detector, family, bucket, keys) → (period, challenger, nights), from every
/// `series_periods` file.
type Periods = BTreeMap<(String, String, String, String, String), (i32, Option<i32>, i32)>;

fn periods(out: &Path) -> Periods {
    let mut m = BTreeMap::new();
    for p in files_under(&out.join("series_periods")) {
        let dt = dt_of(&p);
        for b in read_parquet(&p) {
            let s = |n: &str| b.column_by_name(n).unwrap().as_string::<i32>().clone();
            let i = |n: &str| b.column_by_name(n).unwrap().as_primitive::<Int32Type>().clone();
            let (det, fam, bucket, keys) = (s("detector"), s("series_family"), s("bucket"), s("entity_keys"));
            let (period, ch, nights) = (i("period"), i("challenger"), i("challenger_nights"));
            for r in 0..b.num_rows() {
                let k = (
                    dt.clone(),
                    det.value(r).to_string(),
                    fam.value(r).to_string(),
                    bucket.value(r).to_string(),
                    keys.value(r).to_string(),
                );
                let v = (period.value(r), (!ch.is_null(r)).then(|| ch.value(r)), nights.value(r));
                assert!(m.insert(k, v).is_none(), "{p:?}: a series twice");
            }
        }
    }
    m
}

async fn run_periods(out: &Path, from: NaiveDate, to: NaiveDate) -> lakesight::runtime::run::RunResult {
    run_job(out, from, to, |cfg| {
        cfg.ueba = None;
        cfg.hunts = None;
        cfg.ip_insights = None;
        cfg.detectors.insert(
            "seasonal".into(),
            lakesight::detect::DetectorConfig::SeasonalIqr(lakesight::detect::outlier::SeasonalIqrConfig {
                detect_period: true,
                ..Default::default()
            }),
        );
        cfg.series
            .retain(|s| ["api_calls", "findings_by_type"].contains(&s.family.as_str()));
        for s in &mut cfg.series {
            s.detectors = vec!["seasonal".into()];
        }
    })
    .await
}

/// Proves the night-to-night period state of `detect_period` (#18): (1) a range run over seven
/// days publishes the same `series_periods` rows and the same findings as seven nightly runs one
/// after the other, each of which read the day before's rows back from the output — so a range
/// run carries the state from day to day in memory exactly as the nightly runs carry it through
/// the published table; (2) every series is listed on every analysed day it was judged, and a
/// period only ever changes after its challenger was clearly stronger on the nights before (the
/// day before lists the new period as challenger with two nights); (3) a rerun of a middle day
/// republishes that day's periods unchanged; (4) the table's Athena DDL is written.
#[tokio::test]
async fn nightly_runs_and_a_range_run_carry_the_same_periods() {
    let d = |day| NaiveDate::from_ymd_opt(2025, 3, day).unwrap();
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let range = run_periods(a.path(), d(22), d(28)).await;
    let mut nightly = Vec::new();
    for day in 22..=28 {
        nightly.push(run_periods(b.path(), d(day), d(day)).await);
    }
    let (pa, pb) = (periods(a.path()), periods(b.path()));
    assert_eq!(pa, pb, "range run vs nightly runs");
    let ids =
        |fs: &[lakesight::findings::Finding]| -> std::collections::BTreeSet<String> { fs.iter().map(|f| f.finding_id.clone()).collect() };
    let night_ids: std::collections::BTreeSet<String> = nightly.iter().flat_map(|r| ids(&r.findings)).collect();
    assert_eq!(ids(&range.findings), night_ids);

    // (2) every day holds the series of both bucket widths, and changes follow the rule.
    let days: std::collections::BTreeSet<&str> = pa.keys().map(|k| k.0.as_str()).collect();
    assert_eq!(days.len(), 7, "{days:?}");
    for bucket in ["day", "hour"] {
        assert!(pa.keys().any(|k| k.3 == bucket), "no {bucket} series carried a period");
    }
    let mut changes = 0;
    for ((dt, det, fam, bucket, keys), (period, _, _)) in &pa {
        let day = NaiveDate::parse_from_str(dt, "%Y-%m-%d").unwrap();
        let before = (
            day.pred_opt().unwrap().to_string(),
            det.clone(),
            fam.clone(),
            bucket.clone(),
            keys.clone(),
        );
        if let Some((p0, ch, nights)) = pa.get(&before) {
            if p0 != period {
                changes += 1;
                assert_eq!(
                    (*ch, *nights),
                    (Some(*period), lakesight::detect::outlier::PERIOD_SWITCH_NIGHTS as i32 - 1),
                    "{before:?} → {dt}: {p0} → {period} without its challenger's nights"
                );
            }
        }
    }
    eprintln!("{} series-days, {changes} period changes", pa.len());

    // (3) a rerun of a middle day.
    run_periods(b.path(), d(25), d(25)).await;
    assert_eq!(periods(b.path()), pb, "a rerun of 2025-03-25 changed the periods");
    // (4)
    let ddl = std::fs::read_to_string(a.path().join("series_periods_table.sql")).unwrap();
    assert!(ddl.contains("period int") && ddl.contains("challenger_nights int"), "{ddl}");
}
