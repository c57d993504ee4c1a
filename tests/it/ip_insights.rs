//! IP Insights in the nightly job, on the sample lake with its injected credential misuse.

use arrow::array::AsArray;
use arrow::datatypes::Float32Type;
use lakesight::runtime::run::{run, RunOverrides};
use lakesight::runtime::FixedClock;
use lakesight::series::SeriesCatalog;

use crate::spine::{demo_job, demo_like};

/// The demo job over its 15 analysed days: the principal whose key the generator used from
/// 185.220.101.47 on one day is a finding of that day naming the principal and the address, and it
/// is the only IP Insights finding of the 15 days. The embeddings table holds the vectors the score
/// came from: their dot product is the finding's model score (`observed`).
///
/// In the demo (simple) world the attacker's pair is the only new pair of the 15 days (asserted
/// below) and every principal calls every operation, so the behaviour p-value is 1 and the finding
/// rests on the address alone: no principal-day of the baseline had a new pair (a rate of
/// 1/(1 + principal-days)) and the model's own probability of the pair is small. With benign new
/// pairs every day (the realistic world: new laptops, travel, VPN exits) the false rate per
/// 1,000 principal-days is measured and bounded in `quality.rs`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_key_used_from_a_new_network_is_found_and_nothing_else() {
    let out = tempfile::tempdir().unwrap();
    let cfg = demo_job(demo_like().path(), out.path());
    assert!(cfg.ip_insights.is_some(), "jobs/demo.toml runs IP Insights");
    let c = SeriesCatalog::builtin().unwrap();
    let r = run(&cfg, &c, &RunOverrides::default(), &FixedClock(1_743_400_000_000))
        .await
        .unwrap();
    let labels = demo_like().labels();
    let s = labels["scenarios"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["kind"] == "new_ip_credential_use")
        .unwrap();
    let (principal, ip) = (s["entities"]["principal"].as_str().unwrap(), s["entities"]["ip"].as_str().unwrap());
    let (w0, w1) = (s["window_start_ms"].as_i64().unwrap(), s["window_end_ms"].as_i64().unwrap());
    let ipf: Vec<_> = r.findings.iter().filter(|f| f.detector == "ip_insights").collect();
    let hit = ipf
        .iter()
        .find(|f| f.entity == principal && f.entity_keys.contains(ip) && f.window_start_ms < w1 && f.window_end_ms > w0)
        .unwrap_or_else(|| {
            panic!(
                "no IP Insights finding for {principal} from {ip}: {:#?}",
                ipf.iter().map(|f| &f.title).collect::<Vec<_>>()
            )
        });
    assert_eq!(
        ipf.len(),
        1,
        "false alarms: {:#?}",
        ipf.iter().map(|f| &f.title).collect::<Vec<_>>()
    );
    assert!(hit.observed < 0.0 && hit.score > 3.0 && hit.mitre_techniques.contains(&"T1078.004".to_string()));
    // The evidence carries both halves of the decision and the operations from the address.
    let ev: serde_json::Value = serde_json::from_str(&hit.evidence).unwrap();
    let (pa, pb, p) = (
        ev["p_address"].as_f64().unwrap(),
        ev["p_behaviour"].as_f64().unwrap(),
        ev["p"].as_f64().unwrap(),
    );
    assert!(pa < 1e-4 && pb == 1.0 && p <= 1e-3, "{ev}");
    assert!(!ev["operations_from_address"].as_array().unwrap().is_empty(), "{ev}");
    let stats = r
        .manifest
        .stage::<lakesight::stages::ip_insights::IpInsightsStats>("ip_insights")
        .unwrap();
    assert_eq!(stats.days.len(), 15, "{stats:?}");
    let new_pairs: usize = stats.days.values().map(|d| d.new_pairs).sum();
    assert_eq!(new_pairs, 1, "the demo world's only new pair is the attacker's: {stats:?}");
    assert!(stats.days.values().all(|d| d.model.is_some()), "{stats:?}");

    // The embeddings behind the score.
    let file = out.path().join(format!("embeddings/dt={}/embeddings.parquet", hit.dt));
    let mut vec_of = std::collections::HashMap::new();
    for b in crate::common::read_parquet(&file) {
        let kind = b.column_by_name("kind").unwrap().as_string::<i32>().clone();
        let entity = b.column_by_name("entity").unwrap().as_string::<i32>().clone();
        let v = b.column_by_name("vector").unwrap().as_list::<i32>().clone();
        for i in 0..b.num_rows() {
            let x = v.value(i);
            let x: Vec<f32> = x.as_primitive::<Float32Type>().values().to_vec();
            vec_of.insert((kind.value(i).to_string(), entity.value(i).to_string()), x);
        }
    }
    let account = hit.account_id.clone().unwrap();
    let e = &vec_of[&("principal".to_string(), format!("{account}/{principal}"))];
    let a = &vec_of[&("ip".to_string(), ip.to_string())];
    let dot: f32 = e.iter().zip(a).map(|(x, y)| x * y).sum();
    assert!((f64::from(dot) - hit.observed).abs() < 1e-3, "dot {dot} vs score {}", hit.observed);
}
