//! The network and DNS hunts in the nightly job (issue #14): on the demo lake each injected
//! network instance is found by its own hunt and nothing else is flagged; every hunt finding's
//! investigation SQL runs on the embedded engine and lists the flows or queries behind it; a rerun
//! through the rollup store reads the stored days and reproduces the same findings; a lake without
//! VPC Flow or Route 53 skips those hunts with a warning. Recall, look-alikes and false rates on the
//! realistic world are measured by the quality benchmark; the hunts' arithmetic in
//! `src/detect/net.rs`'s unit tests.

use std::collections::BTreeSet;

use lakesight::lake::catalog::CatalogOptions;
use lakesight::lake::engine::Engine;
use lakesight::runtime::run::{run, RunOverrides};
use lakesight::runtime::FixedClock;
use lakesight::sample::{generate, VersionMode};
use lakesight::series::SeriesCatalog;
use lakesight::stages::hunt::HuntStats;

use crate::common::config;
use crate::spine::{demo_job, demo_like};

const HUNTS: &[(&str, &str)] = &[
    ("beaconing", "beaconing"),
    ("exfiltration", "exfiltration"),
    ("lateral_movement", "lateral_movement"),
    ("dga_dns", "dns"),
];

/// Each injected network instance (labels.json, family `network`) has a finding of its own hunt on
/// one of its identifying entities within a day of its window; every hunt finding is about a
/// labelled entity (no false finding on the demo lake); each carries a technique and a query.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_injected_network_instance_is_found_by_its_hunt_and_nothing_else() {
    let f = demo_like();
    let out = tempfile::tempdir().unwrap();
    let mut cfg = demo_job(f.path(), out.path());
    cfg.rollup = Some(lakesight::runtime::config::RollupConfig::default());
    let c = SeriesCatalog::builtin().unwrap();
    let r = run(&cfg, &c, &RunOverrides::default(), &FixedClock(1_743_400_000_000))
        .await
        .unwrap();
    let labels: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(f.path().join("labels.json")).unwrap()).unwrap();
    let mut labelled: BTreeSet<String> = BTreeSet::new();
    for s in labels["scenarios"].as_array().unwrap() {
        for (_, v) in s["entities"].as_object().unwrap() {
            labelled.insert(v.as_str().unwrap().to_string());
        }
    }
    for (kind, hunt) in HUNTS {
        let s = labels["scenarios"].as_array().unwrap().iter().find(|s| s["kind"] == *kind).unwrap();
        let src = s["entities"]["src_ip"].as_str().unwrap();
        let (ws, we) = (
            s["window_start_ms"].as_i64().unwrap() - 86_400_000,
            s["window_end_ms"].as_i64().unwrap() + 86_400_000,
        );
        let hit = r
            .findings
            .iter()
            .any(|x| x.detector == *hunt && x.entity == src && x.window_start_ms < we && x.window_end_ms > ws);
        assert!(hit, "{kind}: no {hunt} finding on {src}");
        let st = r.manifest.stage::<HuntStats>(hunt).unwrap();
        assert!(
            st.warning.is_none() && st.judged.len() == 15 && st.judged.values().sum::<usize>() > 0,
            "{hunt}: {st:?}"
        );
    }
    let engine = Engine::open(f.path().to_str().unwrap(), &CatalogOptions::default()).await.unwrap();
    for x in r.findings.iter().filter(|x| HUNTS.iter().any(|(_, h)| x.detector == *h)) {
        let keys: serde_json::Value = serde_json::from_str(&x.entity_keys).unwrap();
        let on_labelled = keys
            .as_object()
            .unwrap()
            .values()
            .any(|v| v.as_str().is_some_and(|v| labelled.contains(v)));
        assert!(on_labelled, "false finding on the demo lake: {}", x.title);
        assert_eq!(x.detector_family, "network");
        assert!(!x.mitre_techniques.is_empty() && !x.mitre_tactics.is_empty(), "{}", x.title);
        let rows: usize = engine
            .collect(&x.investigation_sql)
            .await
            .unwrap()
            .iter()
            .map(|b| b.num_rows())
            .sum();
        assert!(
            rows > 0,
            "{}: its investigation SQL lists nothing:\n{}",
            x.title,
            x.investigation_sql
        );
    }
    // A rerun reads the hunts' days from the rollup store (only the fresh days are recomputed)
    // and produces the same findings, ids included.
    let again = run(&cfg, &c, &RunOverrides::default(), &FixedClock(1_743_400_000_000))
        .await
        .unwrap();
    for (_, hunt) in HUNTS {
        let st = again.manifest.stage::<HuntStats>(hunt).unwrap();
        let ro = st.rollup.unwrap();
        assert!(ro.days_reused >= 25, "{hunt}: {ro:?}");
        let ids = |v: &[lakesight::findings::Finding]| -> BTreeSet<String> {
            v.iter().filter(|x| x.detector == *hunt).map(|x| x.finding_id.clone()).collect()
        };
        assert_eq!(ids(&r.findings), ids(&again.findings), "{hunt}");
    }
}

/// A lake without VPC Flow and Route 53: the four hunts are skipped, each with a warning naming
/// the missing view, and the rest of the job runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lake_without_flow_or_dns_skips_the_hunts_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    generate(&config(lake.clone(), VersionMode::V2, 30, 4_000)).unwrap();
    std::fs::remove_dir_all(lake.join("aws/VPC_FLOW")).unwrap();
    std::fs::remove_dir_all(lake.join("aws/ROUTE53")).unwrap();
    let out = tempfile::tempdir().unwrap();
    let cfg = demo_job(&lake, out.path());
    let c = SeriesCatalog::builtin().unwrap();
    let r = run(&cfg, &c, &RunOverrides::default(), &FixedClock(1_743_400_000_000))
        .await
        .unwrap();
    for (_, hunt) in HUNTS {
        let st = r.manifest.stage::<HuntStats>(hunt).unwrap();
        let w = st.warning.unwrap_or_default();
        assert!(w.contains("no table for view") && w.contains("skipped"), "{hunt}: {w}");
        assert!(r.findings.iter().all(|f| f.detector != *hunt));
    }
    assert!(r.findings.iter().any(|f| f.detector == "outliers"), "the other stages still ran");
}
