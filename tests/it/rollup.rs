//! The rollup store: a nightly run after the first scans only the new days, with the same findings.

use lakesight::runtime::config::RollupConfig;
use lakesight::runtime::run::{run, RunOverrides, RunResult};
use lakesight::runtime::FixedClock;
use lakesight::series::SeriesCatalog;

use crate::spine::{demo_job, demo_like};

async fn night(out: &std::path::Path, date: (i32, u32, u32), rollup: bool) -> RunResult {
    night_with(demo_like().path(), out, date, rollup, |_| {}).await
}

/// The demo job over `lake` for one night, after `edit`.
async fn night_with(
    lake: &std::path::Path,
    out: &std::path::Path,
    date: (i32, u32, u32),
    rollup: bool,
    edit: impl FnOnce(&mut lakesight::runtime::config::JobConfig),
) -> RunResult {
    let mut cfg = demo_job(lake, out);
    if rollup {
        cfg.rollup = Some(RollupConfig::default());
    }
    edit(&mut cfg);
    let c = SeriesCatalog::builtin().unwrap();
    cfg.validate(&c).unwrap();
    let ov = RunOverrides {
        date: chrono::NaiveDate::from_ymd_opt(date.0, date.1, date.2),
        ..RunOverrides::default()
    };
    run(&cfg, &c, &ov, &FixedClock(1_743_400_000_000)).await.unwrap()
}

use crate::common::finding_summary as summary;

/// Night 1 fills the store; night 2 reads every day of its window from it but the last two
/// (`recompute_days`), runs one query per series for those, and finds exactly what a run without
/// the store finds. A stored day that cannot be read is named in the warnings, computed again and
/// rewritten, and the findings do not change.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_second_night_scans_two_days_and_finds_the_same() {
    let store = tempfile::tempdir().unwrap();
    let first = night(store.path(), (2025, 3, 27), true).await;
    for (k, s) in &crate::common::series_stats(&first.manifest) {
        let r = s.rollup.as_ref().unwrap_or_else(|| panic!("{k}: no rollup stats"));
        assert_eq!(r.days_reused, 0, "{k}: {r:?}");
    }
    let second = night(store.path(), (2025, 3, 28), true).await;
    let reference_out = tempfile::tempdir().unwrap();
    let reference = night(reference_out.path(), (2025, 3, 28), false).await;
    assert!(!reference.findings.is_empty());
    assert_eq!(summary(&second), summary(&reference));
    for (k, s) in &crate::common::series_stats(&second.manifest) {
        let r = s.rollup.as_ref().unwrap();
        let window_days = r.days_reused + r.days_computed;
        assert_eq!(r.days_computed, 2, "{k}: {r:?}");
        assert_eq!(r.queries, 1, "{k}: {r:?}");
        assert!(window_days >= 15, "{k}: {r:?}");
    }
    // Footers: the cold night read every file of its window that a query reached (each day was
    // computed, most of them through deferred footers read by the queries), the warm night only
    // those of the two days it computed — every stage's queries went through the store.
    let fresh = files_of_days(demo_like().path(), &["2025-03-27", "2025-03-28"]);
    assert!(fresh > 0);
    // The findings family is opened from 28 days before the first night (the trend test's
    // history), every other family from the night's 14-day baseline: the other sources' files of
    // 2025-03-01 … 03-12 are not even listed, so every file listed is read.
    let early: Vec<String> = (1..=12).map(|d| format!("2025-03-{d:02}")).collect();
    let early: Vec<&str> = early.iter().map(String::as_str).collect();
    let others_early = files_of_days(demo_like().path(), &early) - files_of_days_under(demo_like().path(), &early, "SH_FINDINGS");
    assert!(others_early > 0 && files_of_days_under(demo_like().path(), &early, "SH_FINDINGS") > 0);
    assert_eq!(first.manifest.inputs.footers_read, first.manifest.inputs.files);
    assert_eq!(reference.manifest.inputs.footers_read, reference.manifest.inputs.files);
    assert_eq!(
        second.manifest.inputs.footers_read, fresh,
        "of {} files in the window",
        second.manifest.inputs.files
    );
    assert!(second.manifest.inputs.files > 6 * fresh);
    let ip = second
        .manifest
        .stage::<lakesight::stages::ip_insights::IpInsightsStats>("ip_insights")
        .unwrap()
        .rollup
        .unwrap();
    assert_eq!(ip.days_computed, 2, "{ip:?}");

    // Break one stored day of one series.
    let victim = walk(store.path())
        .into_iter()
        .find(|p| p.to_string_lossy().contains("rollups/api_calls_day/") && p.to_string_lossy().contains("dt=2025-03-20"))
        .expect("a stored day");
    std::fs::write(&victim, b"not parquet").unwrap();
    let third = night(store.path(), (2025, 3, 28), true).await;
    assert_eq!(summary(&third), summary(&reference));
    let r = crate::common::series_stats(&third.manifest)["api_calls/day"]
        .rollup
        .clone()
        .unwrap();
    assert_eq!(r.unreadable.len(), 1, "{r:?}");
    assert!(third
        .manifest
        .warnings
        .iter()
        .any(|w| w.contains("dt=2025-03-20") && w.contains("computed again")));
    assert_eq!(r.days_computed, 3, "the broken day and the two fresh ones: {r:?}");
    assert!(std::fs::read(&victim).unwrap().starts_with(b"PAR1"), "rewritten");
}

/// A 30-day v1 lake, a store filled by the series of the night of 2025-03-27, and one CloudTrail
/// file of 2025-03-20 (a day the store now holds).
async fn first_night_stored() -> (tempfile::TempDir, tempfile::TempDir, std::path::PathBuf) {
    let lake = tempfile::tempdir().unwrap();
    lakesight::sample::generate(&crate::common::config(
        lake.path().to_path_buf(),
        lakesight::sample::VersionMode::V1,
        30,
        8_000,
    ))
    .unwrap();
    let store = tempfile::tempdir().unwrap();
    series_night(lake.path(), store.path(), (2025, 3, 27), true).await;
    let day_file = walk(lake.path())
        .into_iter()
        .find(|p| {
            let s = p.to_string_lossy();
            s.contains("CLOUD_TRAIL_MGMT") && s.contains("eventDay=20250320") && s.ends_with(".parquet")
        })
        .expect("a CloudTrail file of 2025-03-20");
    (lake, store, day_file)
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    crate::common::files_under(dir)
}

/// Parquet data files of a sample lake on these days (`YYYY-MM-DD`), Hive (`eventDay=`) or
/// Iceberg (`time_dt_day=`) laid out.
fn files_of_days(lake: &std::path::Path, days: &[&str]) -> usize {
    files_of_days_under(lake, days, "")
}

/// [`files_of_days`] whose path contains `part` (a source folder such as `SH_FINDINGS`).
fn files_of_days_under(lake: &std::path::Path, days: &[&str], part: &str) -> usize {
    walk(lake)
        .iter()
        .filter(|p| {
            let s = p.to_string_lossy();
            s.ends_with(".parquet")
                && s.contains(part)
                && days
                    .iter()
                    .any(|d| s.contains(&format!("eventDay={}/", d.replace('-', ""))) || s.contains(&format!("time_dt_day={d}/")))
        })
        .count()
}

#[test]
fn bad_rollup_and_table_settings_are_refused_naming_the_field() {
    let mut cfg = demo_job(demo_like().path(), std::path::Path::new("/tmp/x"));
    cfg.rollup = Some(RollupConfig {
        recompute_days: 0,
        ..RollupConfig::default()
    });
    cfg.output.embeddings_table = "Findings".into();
    let e = cfg.validate(&SeriesCatalog::builtin().unwrap()).unwrap_err().join("\n");
    assert!(e.contains("rollup.recompute_days"), "{e}");
    assert!(e.contains("output.embeddings_table: \"Findings\" is also output.table"), "{e}");
}

async fn series_night(lake: &std::path::Path, out: &std::path::Path, date: (i32, u32, u32), rollup: bool) -> RunResult {
    night_with(lake, out, date, rollup, |cfg| {
        cfg.ueba = None;
        cfg.hunts = None;
        cfg.ip_insights = None;
    })
    .await
}

/// Proves late data older than `recompute_days` is not missed: after night 1 stored its window,
/// a file arrives late in the CloudTrail partition of 2025-03-20 (a copy of one of that day's
/// files: its events count twice). Night 2 recomputes that day for every series over CloudTrail
/// (and names it in `days_late`), reuses it for the series over other sources (their inputs did
/// not change), and finds exactly what a run without the store finds on the changed lake.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_file_in_a_stored_day_is_recomputed() {
    let (lake, store, day_file) = first_night_stored().await;
    std::fs::copy(&day_file, day_file.with_file_name("late-delivery.parquet")).unwrap();
    let second = series_night(lake.path(), store.path(), (2025, 3, 28), true).await;
    let reference_out = tempfile::tempdir().unwrap();
    let reference = series_night(lake.path(), reference_out.path(), (2025, 3, 28), false).await;
    assert!(!reference.findings.is_empty());
    assert_eq!(summary(&second), summary(&reference));
    let stats = crate::common::series_stats(&second.manifest);
    let late = |k: &str| stats[k].rollup.clone().unwrap().days_late;
    for k in ["api_calls/day", "api_calls/hour", "api_errors/day"] {
        assert_eq!(late(k), vec!["2025-03-20".to_string()], "{k}");
        assert_eq!(
            stats[k].rollup.clone().unwrap().days_computed,
            3,
            "{k}: the late day and the two fresh ones"
        );
    }
    for k in ["vpc_bytes_out/day", "findings_by_type/day"] {
        assert!(late(k).is_empty(), "{k}: {:?}", late(k));
    }
}

/// Proves a bad file in a day the store holds is caught when that day is read again: after night
/// 1 stored its window, a file that is not Parquet lands in the CloudTrail partition of
/// 2025-03-20. Night 2 did not read that day's footers when it opened the lake (its rows come from
/// the store) but the changed listing makes the day late, so the queries read its files then: the
/// bad one is skipped, named in the manifest and the warnings, the day is not stored (so a later
/// night computes it again), and the findings equal a storeless run's on the same lake, which skips
/// the file when it opens the lake.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_file_in_a_stored_day_is_skipped_when_the_day_is_read() {
    let (lake, store, day_file) = first_night_stored().await;
    let bad = day_file.with_file_name("late-corrupt.parquet");
    std::fs::write(&bad, b"PAR1 this is not a Parquet file PAR1").unwrap();
    let second = series_night(lake.path(), store.path(), (2025, 3, 28), true).await;
    let reference_out = tempfile::tempdir().unwrap();
    let reference = series_night(lake.path(), reference_out.path(), (2025, 3, 28), false).await;
    assert!(!reference.findings.is_empty());
    assert_eq!(summary(&second), summary(&reference));
    for r in [&second, &reference] {
        let named: Vec<_> = r
            .manifest
            .skipped_inputs
            .iter()
            .filter(|s| s.path.ends_with("late-corrupt.parquet"))
            .collect();
        assert_eq!(named.len(), 1, "{:?}", r.manifest.skipped_inputs);
        assert!(named[0].reason.contains("corrupt or truncated"), "{:?}", named[0]);
        assert!(r.manifest.warnings.iter().any(|w| w.contains("late-corrupt.parquet")));
    }
    let fresh = files_of_days(lake.path(), &["2025-03-27", "2025-03-28"]);
    let cloudtrail_0320 = walk(lake.path())
        .iter()
        .filter(|p| {
            let s = p.to_string_lossy();
            s.contains("CLOUD_TRAIL_MGMT") && s.contains("eventDay=20250320/") && s.ends_with(".parquet")
        })
        .count();
    let ext_0320 = walk(lake.path())
        .iter()
        .filter(|p| {
            let s = p.to_string_lossy();
            s.contains("/ext/") && s.contains("eventDay=20250320/") && s.ends_with(".parquet")
        })
        .count();
    // The two fresh days and the late day's CloudTrail files (the bad one's read failed), plus
    // the identity provider's files of that day where a view joins them with CloudTrail (the
    // view's fingerprint changed too) — no VPC Flow, Route 53 or Security Hub file of that day.
    let read = second.manifest.inputs.footers_read;
    assert!(
        read >= fresh + cloudtrail_0320 - 1 && read <= fresh + cloudtrail_0320 - 1 + ext_0320,
        "{read} footers read: {fresh} fresh, {cloudtrail_0320} CloudTrail and {ext_0320} custom-source files of 2025-03-20"
    );
    let stats = crate::common::series_stats(&second.manifest);
    let r = stats["api_calls/day"].rollup.clone().unwrap();
    assert_eq!(r.days_late, vec!["2025-03-20".to_string()], "{r:?}");
    assert_eq!(r.not_stored, 1, "the day with a skipped input is not stored: {r:?}");
    let v = stats["vpc_bytes_out/day"].rollup.clone().unwrap();
    assert!(v.days_late.is_empty() && v.days_computed == 2, "{v:?}");
}

/// Proves a deferred file is not silently narrowed: the table's schema comes from the days read
/// when the lake opened, so a file landing late in a stored day with a column the other files lack
/// is read without that column. Night 2 reads it (the day turned late), names it in a warning, and
/// leaves its day unstored so no stored day holds rows read under a narrower schema.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deferred_file_with_extra_fields_is_named_and_its_day_not_stored() {
    let (lake, store, day_file) = first_night_stored().await;
    let wider = day_file.with_file_name("late-wider.parquet");
    crate::common::rewrite(&day_file, &wider, |b| {
        let mut fields: Vec<_> = b.schema().fields().iter().cloned().collect();
        fields.push(std::sync::Arc::new(arrow::datatypes::Field::new(
            "x_vendor_note",
            arrow::datatypes::DataType::Utf8,
            true,
        )));
        let mut cols = b.columns().to_vec();
        cols.push(std::sync::Arc::new(arrow::array::StringArray::from(vec!["n"; b.num_rows()])));
        arrow::record_batch::RecordBatch::try_new(std::sync::Arc::new(arrow::datatypes::Schema::new(fields)), cols).unwrap()
    });
    let second = series_night(lake.path(), store.path(), (2025, 3, 28), true).await;
    assert!(
        second
            .manifest
            .warnings
            .iter()
            .any(|w| w.contains("late-wider.parquet") && w.contains("read as NULL")),
        "{:#?}",
        second.manifest.warnings
    );
    assert!(second.manifest.skipped_inputs.is_empty(), "{:?}", second.manifest.skipped_inputs);
    let r = crate::common::series_stats(&second.manifest)["api_calls/day"]
        .rollup
        .clone()
        .unwrap();
    assert_eq!(r.days_late, vec!["2025-03-20".to_string()], "{r:?}");
    assert_eq!(r.not_stored, 1, "{r:?}");
}
