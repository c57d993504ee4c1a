//! The generator's dials and worlds: scenario strength relative to each entity's own baseline,
//! many instances per lake, and (below) the realistic benign world.

use std::collections::BTreeSet;
use std::sync::OnceLock;

use lakesight::sample::scenarios::{parse_specs, plan_dial, Plan, ScenarioKind};
use lakesight::sample::world::World;
use lakesight::sample::{generate, GenCtx, SampleLakeConfig, VersionMode};

use crate::common::{config, engine, scalar_i64, Fixture};

const SPECS: &str = "s3_bulk_download=2:3,brute_force=4:2,exfiltration=2:2,dga_dns=3:2,\
    finding_level_shift=1.5:2,finding_trend=1,new_ip_credential_use=5:2,beaconing=2,lateral_movement=2";

fn dial_config(out: std::path::PathBuf) -> SampleLakeConfig {
    let mut cfg = config(out, VersionMode::V2, 10, 100_000);
    cfg.accounts = 1;
    cfg.regions = vec!["us-east-1".into()];
    cfg.seed = 11;
    cfg.scenarios = Some(parse_specs(SPECS).unwrap());
    cfg
}

fn dial_lake() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let summary = generate(&dial_config(dir.path().to_path_buf())).unwrap();
        Fixture { dir, summary }
    })
}

#[test]
fn scenario_specs_parse_and_reject() {
    let v = parse_specs("s3_bulk_download=3:5, finding_level_shift=1.5").unwrap();
    assert_eq!(v.len(), 2);
    assert_eq!((v[0].kind, v[0].strength, v[0].count), (ScenarioKind::S3BulkDownload, 3.0, 5));
    assert_eq!((v[1].kind, v[1].strength, v[1].count), (ScenarioKind::FindingLevelShift, 1.5, 1));
    for bad in [
        "nope=1",
        "s3_bulk_download",
        "s3_bulk_download=-1",
        "s3_bulk_download=2:0",
        "dga_dns=x",
        "",
    ] {
        assert!(parse_specs(bad).is_err(), "{bad:?} must be rejected");
    }
}

#[test]
fn every_instance_is_labelled_with_its_dial_and_distinct_entities() {
    let labels = dial_lake().labels();
    let scen = labels["scenarios"].as_array().unwrap();
    let want = parse_specs(SPECS).unwrap();
    let days = 10;
    let day0 = 1_740_787_200_000i64; // 2025-03-01
    let mut keys = BTreeSet::new();
    for sp in &want {
        let got: Vec<_> = scen.iter().filter(|s| s["kind"] == sp.kind.name()).collect();
        assert_eq!(got.len(), sp.count as usize, "{}", sp.kind.name());
        for s in got {
            assert_eq!(s["strength"].as_f64(), Some(sp.strength));
            let base = s["baseline"].as_f64().unwrap();
            assert!(base > 0.0 && s["baseline_unit"].is_string(), "{s}");
            let e = &s["entities"];
            let key = ["principal", "user_name", "instance", "finding_type"]
                .iter()
                .find_map(|k| e[*k].as_str())
                .unwrap_or_else(|| panic!("no entity key in {s}"));
            assert!(keys.insert(key.to_string()), "entity {key} attacked twice");
            let day = (s["window_start_ms"].as_i64().unwrap() - day0) / 86_400_000;
            if sp.kind != ScenarioKind::FindingTrend {
                assert!((days / 2..days).contains(&day), "{} on day {day}", s["id"]);
            }
            if [
                ScenarioKind::S3BulkDownload,
                ScenarioKind::BruteForce,
                ScenarioKind::Exfiltration,
                ScenarioKind::DgaDns,
            ]
            .contains(&sp.kind)
            {
                let inj = s["injected"].as_f64().unwrap();
                assert_eq!(inj, (sp.strength * base).round().max(1.0), "{s}");
            }
        }
    }
    // The same seed draws the same plan; another seed other entities.
    let again = dial_lake().labels();
    assert_eq!(labels["scenarios"], again["scenarios"]);
}

/// The plan's baselines are the world's own levels: measured on the generated benign days they
/// agree with what the dial sized each attack from, and the attack window holds
/// (1 + strength) × baseline.
#[tokio::test]
async fn strength_is_relative_to_the_entitys_own_baseline() {
    let f = dial_lake();
    let e = engine(&f.url()).await;
    let labels = f.labels();
    for s in labels["scenarios"].as_array().unwrap() {
        let (start, end) = (s["window_start_ms"].as_i64().unwrap(), s["window_end_ms"].as_i64().unwrap());
        let base = s["baseline"].as_f64().unwrap();
        let strength = s["strength"].as_f64().unwrap();
        let inj = s["injected"].as_f64().unwrap();
        let ent = &s["entities"];
        match s["kind"].as_str().unwrap() {
            "s3_bulk_download" => {
                let p = ent["principal"].as_str().unwrap();
                let n = scalar_i64(&e, &format!(
                    "SELECT count(*) FROM lakesight.api_activity WHERE principal = '{p}' AND operation = 'GetObject' AND time_ms >= {start} AND time_ms < {end}"
                )).await as f64;
                // Benign GetObject calls per day on the other days against the rate model.
                let other = scalar_i64(&e, &format!(
                    "SELECT count(*) FROM lakesight.api_activity WHERE principal = '{p}' AND operation = 'GetObject' AND (time_ms < {} OR time_ms >= {})",
                    start - start.rem_euclid(86_400_000), start - start.rem_euclid(86_400_000) + 86_400_000
                )).await as f64;
                let cfg = dial_config(f.path().to_path_buf());
                let world = World::new(cfg.seed, 1);
                let empty = Plan { scenarios: vec![] };
                let ctx = GenCtx {
                    cfg: &cfg,
                    world: &world,
                    plan: &empty,
                    day0_ms: 1_740_787_200_000,
                };
                let pi = world.accounts[0].principals.iter().position(|x| x.arn == p).unwrap();
                let attack_day = (start - 1_740_787_200_000) / 86_400_000;
                let expected: f64 = (0..10)
                    .filter(|d| *d != attack_day)
                    .map(|d| ctx.principal_op_mean(0, 0, d, pi, "GetObject", 0..24))
                    .sum();
                assert!(
                    (other - expected).abs() <= 0.1 * expected + 4.0 * expected.sqrt(),
                    "{p}: {other} GetObject on benign days, model {expected}"
                );
                // The window: baseline plus strength × baseline (Poisson noise on the benign part).
                let want = (1.0 + strength) * base;
                assert!(n >= inj, "{p}: {n} < injected {inj}");
                assert!(
                    (n - want).abs() <= 4.0 * base.sqrt() + 2.0,
                    "{p}: {n} GetObject in the window, want about {want} ({strength} × {base})"
                );
            }
            "brute_force" => {
                let n = scalar_i64(
                    &e,
                    &format!(
                        "SELECT count(*) FROM lakesight.authentication WHERE user_name = '{}' AND src_ip = '{}' AND status_id = 2",
                        ent["user_name"].as_str().unwrap(),
                        ent["src_ip"].as_str().unwrap()
                    ),
                )
                .await as f64;
                assert_eq!(n, inj, "{s}");
            }
            "exfiltration" => {
                let b = scalar_i64(
                    &e,
                    &format!(
                        "SELECT sum(bytes) FROM lakesight.network_activity WHERE src_instance = '{}' AND dst_ip = '{}'",
                        ent["instance"].as_str().unwrap(),
                        ent["dst_ip"].as_str().unwrap()
                    ),
                )
                .await as f64;
                assert!((b / (strength * base) - 1.0).abs() < 0.03, "{b} bytes against {strength} × {base}");
            }
            "dga_dns" => {
                let n = scalar_i64(&e, &format!(
                    "SELECT count(DISTINCT query_hostname) FROM lakesight.dns_activity WHERE src_instance = '{}' AND time_ms >= {start} AND time_ms < {end} AND query_hostname NOT LIKE '%.com.'",
                    ent["instance"].as_str().unwrap()
                )).await as f64;
                assert_eq!(n, inj, "{s}");
            }
            "new_ip_credential_use" => {
                let n = scalar_i64(
                    &e,
                    &format!(
                        "SELECT count(*) FROM lakesight.api_activity WHERE src_ip = '{}'",
                        ent["src_ip"].as_str().unwrap()
                    ),
                )
                .await as f64;
                assert_eq!(n, strength.round(), "{s}");
            }
            _ => {}
        }
    }
}

#[test]
fn plan_draws_distinct_entities_or_says_why_not() {
    let cfg = {
        let mut c = dial_config(std::env::temp_dir());
        c.scenarios = Some(parse_specs("finding_level_shift=1:9").unwrap());
        c
    };
    let world = World::new(cfg.seed, 1);
    let empty = Plan { scenarios: vec![] };
    let ctx = GenCtx {
        cfg: &cfg,
        world: &world,
        plan: &empty,
        day0_ms: 0,
    };
    // One account has eight finding types: a ninth instance has no entity left.
    let err = plan_dial(&ctx, cfg.scenarios.as_ref().unwrap()).unwrap_err();
    assert!(err.contains("no unused entity"), "{err}");
    let ok = plan_dial(&ctx, &parse_specs("finding_level_shift=1:8").unwrap()).unwrap();
    assert_eq!(ok.scenarios.len(), 8);
}
