//! Findings as OCSF 1.1 Detection Findings (class 2004) in Security Lake's custom-source layout.

use std::collections::{BTreeMap, BTreeSet};

use arrow::array::{AsArray, RecordBatch};
use arrow::datatypes::{Int32Type, Int64Type};
use lakesight::runtime::config::JobConfig;
use lakesight::runtime::run::{run, RunOverrides};
use lakesight::runtime::FixedClock;
use lakesight::series::SeriesCatalog;
use lakesight::sink::ocsf::{write, OcsfTarget};
use lakesight::store::{Location, S3Options};

use crate::common::{engine, files_under, scalar_i64};
use crate::spine::{demo_job, demo_like};

const TABLE: &str = "amazon_security_lake_table_us_east_1_ext_lakesight";

fn col_str(b: &RecordBatch, i: usize) -> Vec<Option<String>> {
    let a = arrow::compute::cast(b.column(i), &arrow::datatypes::DataType::Utf8).unwrap();
    a.as_string::<i32>().iter().map(|v| v.map(str::to_string)).collect()
}
fn col_i64(b: &RecordBatch, i: usize) -> Vec<Option<i64>> {
    let a = arrow::compute::cast(b.column(i), &arrow::datatypes::DataType::Int64).unwrap();
    a.as_primitive::<Int64Type>().iter().collect()
}

/// Proves, on the demo job's own run (`jobs/demo.toml` has `[output.ocsf]`): every finding is one
/// OCSF row that lakesight's catalog reads back as a custom source (`ext/lakesight`), with the
/// Detection Finding class rules of `../shared/reference/security-lake.md` §3.1 (required attributes
/// and their enumerations, type_uid = class·100 + activity, cloud.provider for the cloud profile),
/// the finding's own values (id, title, severity, time, account, ATT&CK techniques, analytic), the
/// custom-source rules of §1.3 (zstd, one class per object, rows sorted by time, eventDay = the UTC
/// day of `time`, row groups ≤ 256 MB); and that a rerun in which an account's findings are gone
/// deletes that account's object instead of leaving stale findings.
#[tokio::test]
async fn findings_are_ocsf_detection_findings_that_round_trip_through_the_catalog() {
    let out = tempfile::tempdir().unwrap();
    let f = demo_like();
    let cfg: JobConfig = demo_job(f.path(), out.path());
    assert!(cfg.output.ocsf.is_some(), "the demo job writes OCSF");
    let c = SeriesCatalog::builtin().unwrap();
    let r = run(&cfg, &c, &RunOverrides::default(), &FixedClock(1_743_400_000_000))
        .await
        .unwrap();
    assert!(r.findings.len() >= 3, "{} findings", r.findings.len());
    let root = out.path().join("ocsf");
    let e = engine(&root.display().to_string()).await;
    assert!(e.catalog.skipped.is_empty(), "{:?}", e.catalog.skipped);
    let total = scalar_i64(&e, &format!("SELECT count(*) FROM {TABLE}")).await;
    assert_eq!(total as usize, r.findings.len());

    let sql = format!(
        "SELECT finding_info.uid, class_uid, category_uid, activity_id, type_uid, severity_id, time, \
         metadata.version, metadata.product.vendor_name, metadata.product.name, finding_info.title, \
         finding_info.analytic.type_id, finding_info.analytic.name, cloud.provider, cloud.account.uid, \
         accountid, eventday, 1, \
         severity, cardinality(observables), confidence_score, element_at(unmapped, 'lakesight.kind') \
         FROM {TABLE}"
    );
    let batches = e.collect(&sql).await.unwrap();
    let mut rows = 0;
    let by_id: BTreeMap<_, _> = r.findings.iter().map(|f| (f.finding_id.clone(), f)).collect();
    let mut seen = BTreeSet::new();
    for b in &batches {
        let uid = col_str(b, 0);
        let ints: Vec<Vec<Option<i64>>> = (1..7).map(|i| col_i64(b, i)).collect();
        let strs: Vec<Vec<Option<String>>> = (7..11).map(|i| col_str(b, i)).collect();
        let analytic_type = col_i64(b, 11);
        let analytic_name = col_str(b, 12);
        let provider = col_str(b, 13);
        let account = col_str(b, 14);
        let (acct_part, day_part) = (col_str(b, 15), col_str(b, 16));
        let severity = col_str(b, 18);
        let n_obs = col_i64(b, 19);
        let conf = col_i64(b, 20);
        let kind = col_str(b, 21);
        for i in 0..b.num_rows() {
            rows += 1;
            let id = uid[i].clone().expect("finding_info.uid is required");
            let fnd = by_id.get(&id).unwrap_or_else(|| panic!("{id} is not a finding of the run"));
            seen.insert(id.clone());
            let [class, cat, act, tuid, sev, time] = [0, 1, 2, 3, 4, 5].map(|k| ints[k][i].expect("required"));
            assert_eq!((class, cat), (2004, 2));
            assert!([1, 2, 3, 99].contains(&act), "activity_id {act}");
            // A new condition's finding creates it; a later finding of the condition updates it.
            let want_act = if fnd.condition.status == "ongoing" { 2 } else { 1 };
            assert_eq!(act, want_act, "{id}: status {}", fnd.condition.status);
            assert_eq!(tuid, class * 100 + act);
            assert!((0..=6).contains(&sev) || sev == 99);
            assert_eq!(sev, fnd.severity_id as i64);
            assert_eq!(severity[i].as_deref(), Some(fnd.severity.as_str()));
            assert_eq!(time, fnd.window_start_ms);
            assert_eq!(strs[0][i].as_deref(), Some("1.1.0"));
            assert!(strs[1][i].is_some() && strs[2][i].as_deref() == Some("lakesight"));
            assert_eq!(strs[3][i].as_deref(), Some(fnd.title.as_str()));
            assert!([1, 2, 3, 4, 99].contains(&analytic_type[i].unwrap()));
            assert_eq!(analytic_name[i].as_deref(), Some(fnd.detector.as_str()));
            assert_eq!(
                provider[i].as_deref(),
                Some("AWS"),
                "cloud.provider is required with the cloud profile"
            );
            let want_account = fnd.account_id.clone().unwrap_or_else(|| "external".into());
            assert_eq!(account[i].as_deref(), Some(want_account.as_str()));
            assert_eq!(acct_part[i].as_deref(), Some(want_account.as_str()));
            let day = chrono::DateTime::from_timestamp_millis(time).unwrap().format("%Y%m%d").to_string();
            assert_eq!(day_part[i].as_deref(), Some(day.as_str()), "eventDay is the UTC day of time");
            assert!(n_obs[i].unwrap() >= 1, "{id}: the entity is an observable");
            assert_eq!(conf[i].unwrap(), (fnd.confidence * 100.0).round() as i64);
            assert_eq!(kind[i].as_deref(), Some(fnd.kind.as_str()));
        }
    }
    assert_eq!(rows, r.findings.len());
    assert_eq!(seen.len(), r.findings.len(), "one row per finding");

    // ATT&CK: each finding's techniques, with their tactics' ids, in finding_info.attacks.
    let attacks = e
        .collect(&format!(
            "SELECT u, get_field(get_field(a, 'technique'), 'uid'), get_field(get_field(a, 'tactic'), 'uid') \
             FROM (SELECT finding_info.uid AS u, unnest(finding_info.attacks) AS a FROM {TABLE})"
        ))
        .await
        .unwrap();
    let mut techniques: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for b in &attacks {
        let (u, t, tac) = (col_str(b, 0), col_str(b, 1), col_str(b, 2));
        for i in 0..b.num_rows() {
            assert!(tac[i].as_deref().is_some_and(|x| x.starts_with("TA00")), "tactic id {:?}", tac[i]);
            techniques.entry(u[i].clone().unwrap()).or_default().insert(t[i].clone().unwrap());
        }
    }
    for fnd in &r.findings {
        let want: BTreeSet<String> = fnd.mitre_techniques.iter().cloned().collect();
        assert_eq!(
            techniques.get(&fnd.finding_id).cloned().unwrap_or_default(),
            want,
            "{}",
            fnd.finding_id
        );
    }

    // The objects: zstd, one class each, sorted by time, row groups within Security Lake's limit.
    let objects: Vec<_> = files_under(&root)
        .into_iter()
        .filter(|p| p.extension().is_some_and(|x| x == "parquet"))
        .collect();
    assert!(!objects.is_empty());
    for p in &objects {
        let rel = p.strip_prefix(&root).unwrap().to_string_lossy().to_string();
        assert!(rel.starts_with("ext/lakesight/region=us-east-1/accountId="), "{rel}");
        let file = std::fs::File::open(p).unwrap();
        let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file).unwrap();
        for rg in reader.metadata().row_groups() {
            assert!(rg.compressed_size() <= 256 << 20);
            assert!(rg
                .columns()
                .iter()
                .all(|c| matches!(c.compression(), parquet::basic::Compression::ZSTD(_))));
        }
        let batches: Vec<RecordBatch> = reader.build().unwrap().map(|b| b.unwrap()).collect();
        let mut last = i64::MIN;
        for b in &batches {
            let class = b.column_by_name("class_uid").unwrap().as_primitive::<Int32Type>();
            assert!(class.iter().all(|c| c == Some(2004)), "{rel}: one class per object");
            let time = b.column_by_name("time").unwrap().as_primitive::<Int64Type>();
            for t in time.iter() {
                let t = t.unwrap();
                assert!(t >= last, "{rel}: rows sorted by time");
                last = t;
            }
        }
    }

    // A rerun in which one (account, day, detector)'s findings are gone deletes that object.
    let victim = r.findings[0].clone();
    let keep: Vec<_> = r
        .findings
        .iter()
        .filter(|f| !(f.account_id == victim.account_id && f.dt == victim.dt && f.detector == victim.detector))
        .cloned()
        .collect();
    let gone = r.findings.len() - keep.len();
    let target = OcsfTarget {
        location: Location::open(&root.join("ext/lakesight").display().to_string(), &S3Options::default(), false)
            .await
            .unwrap(),
        region: "us-east-1".into(),
        external_account: "external".into(),
    };
    let days: Vec<String> = r.manifest.range.days();
    let detectors: Vec<String> = r
        .findings
        .iter()
        .map(|f| f.detector.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let (written, deleted) = write(&target, &keep, &days, &detectors).await.unwrap();
    assert_eq!(deleted, 1, "exactly the victim's object");
    assert_eq!(written.iter().map(|w| w.1).sum::<usize>(), keep.len());
    let e = engine(&root.display().to_string()).await;
    let after = scalar_i64(&e, &format!("SELECT count(*) FROM {TABLE}")).await;
    assert_eq!(after as usize, r.findings.len() - gone);
    let victim_rows = scalar_i64(
        &e,
        &format!("SELECT count(*) FROM {TABLE} WHERE finding_info.uid = '{}'", victim.finding_id),
    )
    .await;
    assert_eq!(victim_rows, 0);
}
