//! The identity rules (issue #13 item 4: the signals that need no history) on the realistic world,
//! in both source versions: every injected instance of stolen instance credentials, root use and
//! a console login without MFA is found by its rule, and nothing else is — among the world's
//! benign instance-profile sessions (dozens a day, each calling from its own instance), people's
//! console logins with MFA and their changing networks.

use lakesight::runtime::quality::score;
use lakesight::runtime::run::{run, RunOverrides};
use lakesight::runtime::FixedClock;
use lakesight::sample::VersionMode;
use lakesight::series::SeriesCatalog;
use lakesight::stages::identity::IdentityStats;

use crate::common::{engine, identity_job, realistic_lake};

async fn check(versions: VersionMode, seed: u64) {
    let dir = tempfile::tempdir().unwrap();
    let (cfg, labels) = realistic_lake(
        dir.path(),
        versions,
        16,
        3_000,
        seed,
        "instance_credential_theft=3:2,root_activity=2:2,console_login_without_mfa=1:2",
    );
    // The identity stage alone, over the second half (where the scenarios are placed).
    let mut job = identity_job(&cfg, dir.path());
    job.job.baseline_days = 1;
    job.ueba = None;
    assert!(job.identity.is_some(), "jobs/demo.toml runs the identity rules");
    let r = run(
        &job,
        &SeriesCatalog::builtin().unwrap(),
        &RunOverrides::default(),
        &FixedClock(1_750_000_000_000),
    )
    .await
    .unwrap();
    let q = score(&r, &labels);
    assert_eq!(q.instances.len(), 6, "{:?}", q.instances);
    for i in &q.instances {
        assert!(i.found, "{versions:?}: not found: {i:?}");
    }
    // Each instance by its own rule, naming the attacker's address.
    for s in labels["scenarios"].as_array().unwrap() {
        let (principal, ip) = (
            s["entities"]["principal"].as_str().unwrap(),
            s["entities"]["src_ip"].as_str().unwrap(),
        );
        let rule = match s["kind"].as_str().unwrap() {
            "instance_credential_theft" => "instance_credentials_outside",
            "root_activity" => "root_activity",
            _ => "console_login_without_mfa",
        };
        let f = r
            .findings
            .iter()
            .find(|f| f.detector == "identity" && f.entity == principal && f.kind == rule)
            .unwrap_or_else(|| panic!("{versions:?}: no {rule} finding for {principal}"));
        assert!(f.title.contains(ip), "{}", f.title);
        assert_eq!(f.mitre_techniques, vec![s["mitre"].as_str().unwrap().to_string()]);
        // The investigation SQL, as shipped, is Trino SQL (Athena) and, on the embedded engine,
        // lists the attacker's calls first.
        let bad = crate::athena_sql::not_trino(&f.investigation_sql);
        assert!(bad.is_empty(), "{bad:?}: {}", f.investigation_sql);
        let e = engine(&cfg.out.display().to_string()).await;
        let batches = e.collect(&f.investigation_sql).await.unwrap();
        use arrow::array::AsArray;
        let b = batches.iter().find(|b| b.num_rows() > 0).expect("the investigation lists events");
        let first = arrow::compute::cast(b.column_by_name("src_ip").unwrap(), &arrow::datatypes::DataType::Utf8).unwrap();
        assert_eq!(first.as_string::<i32>().value(0), ip, "{}", f.investigation_sql);
    }
    // Nothing else: no identity finding about an unlabelled principal, among the principal-days
    // judged (every active principal of every analysed day).
    let st = r.manifest.stage::<IdentityStats>("identity").unwrap();
    let judged: usize = st.judged.values().sum();
    assert!(judged >= 2 * 40 * 8, "{st:?}");
    let fp = &q.false_per_detector["identity"];
    assert_eq!(fp.false_findings, 0, "{versions:?}: {:?}", q.false_findings);
    assert_eq!(fp.entity_days, judged);
    // ... and the rules had benign material to be wrong about: the instance sessions' own calls
    // (thousands, far beyond the attacks' 6), nearly all verified as their instance's own address
    // by the day's VPC Flow (the rest: hosts that sent no flow on a day, counted, not judged).
    assert!(st.instance_calls >= 2_000.0, "{st:?}");
    assert!(st.unverified_calls < 0.1 * st.instance_calls, "{st:?}");
    assert_eq!(st.not_instance_ids, 0, "{st:?}");
}

/// Version 1 (OCSF 1.0.0-rc.2: `actor.user.uuid`, `mfa`) and version 2 (OCSF 1.1.0: `uid`,
/// `is_mfa`) tables give the same verdicts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_identity_attack_is_found_by_its_rule_and_nothing_else() {
    check(VersionMode::V1, 5).await;
    check(VersionMode::V2, 6).await;
}
