//! The UEBA stage in the nightly job (issue #13): its days table on the demo lake, and its defined
//! outcome on a lake without CloudTrail. Recall and the false-finding rate on the realistic world
//! are measured in `quality.rs`; the stage's numerics in `src/stages/ueba.rs`'s unit tests.

use lakesight::runtime::run::{run, RunOverrides};
use lakesight::runtime::FixedClock;
use lakesight::sample::{generate, VersionMode};
use lakesight::series::SeriesCatalog;
use lakesight::stages::ueba::UebaStats;

use crate::common::{config, files_under, read_parquet};
use crate::spine::{demo_job, demo_like};

/// On the demo lake, the stage judges every analysed day's principals and writes each judged
/// principal-day, with its features and score, to `ueba_days/dt=…/`: the rows on disk are exactly
/// the manifest's judged counts, every row's score is a probability-like number in (0, 1], and the
/// rows marked `finding` are the UEBA findings of the run. With `history_days` (28) longer than
/// the job's baseline (14), the run says that novelty is judged against 14 days only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_days_table_holds_every_judged_principal_day() {
    let out = tempfile::tempdir().unwrap();
    let mut cfg = demo_job(demo_like().path(), out.path());
    assert!(cfg.ueba.is_some(), "jobs/demo.toml runs UEBA");
    cfg.ueba.as_mut().unwrap().history_days = 28;
    let c = SeriesCatalog::builtin().unwrap();
    let r = run(&cfg, &c, &RunOverrides::default(), &FixedClock(1_743_400_000_000))
        .await
        .unwrap();
    let st = r.manifest.stage::<UebaStats>("ueba").unwrap();
    assert!(st.warning.is_none(), "{st:?}");
    assert!(
        r.manifest
            .warnings
            .iter()
            .any(|w| w.contains("ueba.history_days = 28") && w.contains("against 14 day(s)")),
        "{:?}",
        r.manifest.warnings
    );
    assert_eq!(st.judged.len(), 15, "{st:?}");
    assert!(st.training_rows >= 100, "{st:?}");
    let files: Vec<_> = files_under(&out.path().join("ueba_days"))
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "parquet"))
        .collect();
    let (mut rows, mut marked) = (0usize, 0usize);
    for f in &files {
        for b in read_parquet(f) {
            rows += b.num_rows();
            use arrow::array::AsArray;
            marked += b.column_by_name("finding").unwrap().as_boolean().true_count();
            let s = b.column_by_name("score").unwrap().as_primitive::<arrow::datatypes::Float64Type>();
            assert!(s.values().iter().all(|v| *v > 0.0 && *v <= 1.0), "{s:?}");
        }
    }
    assert_eq!(rows, st.judged.values().sum::<usize>());
    let found = r.findings.iter().filter(|f| f.detector == "ueba").count();
    assert_eq!(marked, found);
    assert!(out.path().join("ueba_days_table.sql").exists(), "{:?}", files_under(out.path()));
}

/// A lake without CloudTrail: the stage (and the identity rules) are skipped with a warning in
/// the manifest and the run's warnings, and the rest of the job runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lake_without_cloudtrail_skips_the_stage_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    generate(&config(lake.clone(), VersionMode::V2, 30, 4_000)).unwrap();
    std::fs::remove_dir_all(lake.join("aws/CLOUD_TRAIL_MGMT")).unwrap();
    let out = tempfile::tempdir().unwrap();
    let cfg = demo_job(&lake, out.path());
    let c = SeriesCatalog::builtin().unwrap();
    let r = run(&cfg, &c, &RunOverrides::default(), &FixedClock(1_743_400_000_000))
        .await
        .unwrap();
    let st = r.manifest.stage::<UebaStats>("ueba").unwrap();
    let w = st.warning.unwrap_or_default();
    assert!(w.contains("no CloudTrail") && w.contains("skipped"), "{w}");
    assert!(r.findings.iter().all(|f| f.detector != "ueba"));
    assert!(r.findings.iter().any(|f| f.detector != "ueba"), "the other stages still ran");
    // The identity rules, which read CloudTrail too, say so in the run's warnings.
    assert!(
        r.manifest
            .warnings
            .iter()
            .any(|w| w.starts_with("identity:") && w.contains("no CloudTrail") && w.contains("skipped")),
        "{:?}",
        r.manifest.warnings
    );
    assert!(r.findings.iter().all(|f| f.detector != "identity"));
}

/// Issue #13 item 4, "a principal's first calls being discovery", on the realistic world (v2,
/// Iceberg): two IAM users an intruder created, each first seen making eight different discovery
/// calls in an hour, are each found by the UEBA stage as `new_principal_discovery` (T1580 first),
/// with an investigation SQL that is Trino SQL and lists the sweep's calls on the embedded engine;
/// and no unlabelled principal's first day is called a sweep — among the world's joiners (people
/// and service roles whose first days are read-heavy too) and principals returning to the window.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_principal_whose_first_calls_are_a_discovery_sweep_is_found() {
    let dir = tempfile::tempdir().unwrap();
    let (cfg, labels) = crate::common::realistic_lake(dir.path(), VersionMode::V2, 22, 3_000, 4, "new_principal_discovery=8:2");
    let mut job = crate::common::identity_job(&cfg, dir.path());
    job.identity = None;
    let r = run(
        &job,
        &SeriesCatalog::builtin().unwrap(),
        &RunOverrides::default(),
        &FixedClock(1_750_000_000_000),
    )
    .await
    .unwrap();
    let q = lakesight::runtime::quality::score(&r, &labels);
    assert_eq!(q.instances.len(), 2, "{:?}", q.instances);
    for s in labels["scenarios"].as_array().unwrap() {
        let principal = s["entities"]["principal"].as_str().unwrap();
        let f = r
            .findings
            .iter()
            .find(|f| f.detector == "ueba" && f.entity == principal)
            .unwrap_or_else(|| panic!("no UEBA finding for {principal}: {:?}", q.instances));
        assert_eq!(f.kind, "new_principal_discovery", "{}", f.title);
        assert_eq!(f.mitre_techniques[0], "T1580");
        let bad = crate::athena_sql::not_trino(&f.investigation_sql);
        assert!(bad.is_empty(), "{bad:?}: {}", f.investigation_sql);
        let e = crate::common::engine(&cfg.out.display().to_string()).await;
        let rows: usize = e.collect(&f.investigation_sql).await.unwrap().iter().map(|b| b.num_rows()).sum();
        assert_eq!(rows, 8, "{}", f.investigation_sql);
    }
    // Nothing else called a sweep, though the rule judged first days of other principals.
    let st = r.manifest.stage::<UebaStats>("ueba").unwrap();
    let first_days: usize = st.first_days.values().sum();
    assert!(first_days >= 6, "{st:?}");
    let labelled: Vec<&str> = labels["scenarios"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["entities"]["principal"].as_str().unwrap())
        .collect();
    let others = titles_of_kind(&r, "new_principal_discovery", &labelled);
    assert!(others.is_empty(), "{others:?}");
}

/// The outside-use rule on the realistic world (v1, Hive): a service role's credentials used for
/// two discovery calls at night from an attacker's network (`night_discovery` at strength 2, the
/// instances the forest found about half of) are each found as `used_from_outside` with
/// T1078.004 first, the attacker's address in the evidence, and an investigation SQL that is
/// Trino SQL and lists those calls first on the embedded engine. No unlabelled principal is
/// flagged by the rule although it judged the world's service roles every night (travelling
/// people and changing fleets included), and the only baseline days on which it would have fired
/// are the attacks' own. Listing
/// the attacker's address in `inside_cidrs` (as an operator lists a NAT gateway) makes it inside:
/// then the rule flags nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_inside_only_role_used_from_outside_is_found_by_the_outside_rule() {
    let dir = tempfile::tempdir().unwrap();
    let (cfg, labels) = crate::common::realistic_lake(dir.path(), VersionMode::V1, 22, 3_000, 5, "night_discovery=2:2");
    let mut job = crate::common::identity_job(&cfg, dir.path());
    job.identity = None;
    let run_it = |job: lakesight::runtime::config::JobConfig| async move {
        run(
            &job,
            &SeriesCatalog::builtin().unwrap(),
            &RunOverrides::default(),
            &FixedClock(1_750_000_000_000),
        )
        .await
        .unwrap()
    };
    let r = run_it(job.clone()).await;
    let scenarios = labels["scenarios"].as_array().unwrap();
    assert_eq!(scenarios.len(), 2, "{labels}");
    let e = crate::common::engine(&cfg.out.display().to_string()).await;
    let mut attackers = Vec::new();
    for s in scenarios {
        let principal = s["entities"]["principal"].as_str().unwrap();
        let ip = s["entities"]["src_ip"].as_str().unwrap();
        attackers.push(ip.to_string());
        let f = r
            .findings
            .iter()
            .find(|f| f.kind == "used_from_outside" && f.entity == principal)
            .unwrap_or_else(|| {
                panic!(
                    "no outside-use finding for {principal}: {:?}",
                    r.findings
                        .iter()
                        .filter(|f| f.detector == "ueba")
                        .map(|f| &f.title)
                        .collect::<Vec<_>>()
                )
            });
        assert_eq!(f.mitre_techniques[0], "T1078.004");
        let ev: serde_json::Value = serde_json::from_str(&f.evidence).unwrap();
        assert_eq!(ev["outside_use"]["outside_addresses"], serde_json::json!([ip]), "{}", f.title);
        let bad = crate::athena_sql::not_trino(&f.investigation_sql);
        assert!(bad.is_empty(), "{bad:?}: {}", f.investigation_sql);
        let batches = e.collect(&f.investigation_sql).await.unwrap();
        let first: Vec<String> = batches
            .iter()
            .flat_map(|b| {
                use arrow::array::Array as _;
                let c = arrow::compute::cast(b.column_by_name("src_ip").unwrap(), &arrow::datatypes::DataType::Utf8).unwrap();
                let c = c.as_any().downcast_ref::<arrow::array::StringArray>().unwrap().clone();
                (0..c.len()).map(move |i| c.value(i).to_string()).collect::<Vec<_>>()
            })
            .take(2)
            .collect();
        assert_eq!(first, vec![ip.to_string(), ip.to_string()], "{}", f.investigation_sql);
    }
    let st = r.manifest.stage::<UebaStats>("ueba").unwrap();
    let judged: usize = st.inside_only.values().sum();
    assert!(judged >= 50, "{st:?}");
    // The last night's baseline holds both attacks' days, and nothing else the rule would flag.
    assert_eq!(st.outside_in_baseline, 2, "{st:?}");
    let labelled: Vec<&str> = scenarios.iter().map(|s| s["entities"]["principal"].as_str().unwrap()).collect();
    let others = titles_of_kind(&r, "used_from_outside", &labelled);
    assert!(others.is_empty(), "{others:?}");
    // The same calls from a range the operator lists as its own are inside.
    job.ueba.as_mut().unwrap().inside_cidrs = attackers;
    job.job.output = dir.path().join("out2").display().to_string();
    let r = run_it(job).await;
    let flagged = titles_of_kind(&r, "used_from_outside", &[]);
    assert!(flagged.is_empty(), "{flagged:?}");
}

/// Titles of the run's findings of `kind` about principals other than `labelled`.
fn titles_of_kind<'a>(r: &'a lakesight::runtime::run::RunResult, kind: &str, labelled: &[&str]) -> Vec<&'a str> {
    r.findings
        .iter()
        .filter(|f| f.kind == kind && !labelled.contains(&f.entity.as_str()))
        .map(|f| f.title.as_str())
        .collect()
}
