//! The generator's dials and worlds: scenario strength relative to each entity's own baseline,
//! many instances per lake, and (below) the realistic benign world.

use std::collections::BTreeSet;
use std::sync::OnceLock;

use lakesight::sample::scenarios::{parse_specs, plan_dial, Plan, ScenarioKind};
use lakesight::sample::world::World;
use lakesight::sample::{generate, GenCtx, SampleLakeConfig, VersionMode, WorldKind};

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

// ---------------------------------------------------------------- the realistic world

fn realistic_config(out: std::path::PathBuf, days: u32, events_per_day: u64) -> SampleLakeConfig {
    let mut cfg = config(out, VersionMode::V2, days, events_per_day);
    cfg.accounts = 1;
    cfg.regions = vec!["us-east-1".into()];
    cfg.seed = 5;
    cfg.world = WorldKind::Realistic;
    cfg
}

fn realistic_lake() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = realistic_config(dir.path().to_path_buf(), 14, 60_000);
        cfg.scenarios = Some(parse_specs("s3_bulk_download=2:3").unwrap());
        let summary = generate(&cfg).unwrap();
        Fixture { dir, summary }
    })
}

/// Rows of a two-column (string, i64) result.
async fn pairs(e: &lakesight::lake::engine::Engine, sql: &str) -> Vec<(String, i64)> {
    use arrow::array::AsArray;
    use arrow::datatypes::{DataType, Int64Type};
    let mut out = Vec::new();
    for b in e.collect(sql).await.unwrap_or_else(|err| panic!("{sql}: {err}")) {
        let k = arrow::compute::cast(b.column(0), &DataType::Utf8).unwrap();
        let v = arrow::compute::cast(b.column(1), &DataType::Int64).unwrap();
        for i in 0..b.num_rows() {
            out.push((k.as_string::<i32>().value(i).to_string(), v.as_primitive::<Int64Type>().value(i)));
        }
    }
    out
}

#[tokio::test]
async fn realistic_world_has_benign_new_principal_ip_pairs_most_days() {
    let f = realistic_lake();
    let e = engine(&f.url()).await;
    let attack: BTreeSet<String> = f.labels()["scenarios"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["entities"]["src_ip"].as_str().map(String::from))
        .collect();
    assert!(attack.is_empty(), "this lake injects no new-IP attack");
    let first_seen = pairs(
        &e,
        "SELECT d, count(*) FROM (SELECT principal, src_ip, min(eventday) AS d FROM lakesight.api_activity GROUP BY 1, 2) GROUP BY d ORDER BY d",
    )
    .await;
    assert_eq!(first_seen.len(), 14, "{first_seen:?}");
    // Day 0 sees everything for the first time; after it, most days bring new benign pairs.
    let days_with_new = first_seen[1..].iter().filter(|(_, n)| *n > 0).count();
    assert!(
        days_with_new >= 11,
        "new (principal, IP) pairs on only {days_with_new} of 13 days: {first_seen:?}"
    );
    let total_new: i64 = first_seen[1..].iter().map(|x| x.1).sum();
    assert!(total_new >= 20, "{first_seen:?}");
}

#[tokio::test]
async fn realistic_counts_are_overdispersed_and_habits_differ() {
    let f = realistic_lake();
    let e = engine(&f.url()).await;
    // Daily counts per principal on weekdays (2025-03-01 is a Saturday).
    let rows = pairs(
        &e,
        "SELECT principal || '|' || eventday, count(*) FROM lakesight.api_activity \
         WHERE eventday NOT IN ('20250301','20250302','20250308','20250309') GROUP BY 1",
    )
    .await;
    let mut per: std::collections::BTreeMap<String, Vec<f64>> = Default::default();
    for (k, n) in rows {
        let (p, _) = k.rsplit_once('|').unwrap();
        per.entry(p.to_string()).or_default().push(n as f64);
    }
    let mut ratios: Vec<f64> = per
        .values()
        .filter(|v| v.len() >= 8)
        .filter_map(|v| {
            let m = v.iter().sum::<f64>() / v.len() as f64;
            let var = v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (v.len() - 1) as f64;
            (m >= 50.0).then_some(var / m)
        })
        .collect();
    ratios.sort_by(f64::total_cmp);
    assert!(ratios.len() >= 5, "busy principals: {ratios:?}");
    let median = ratios[ratios.len() / 2];
    assert!(
        median > 1.5,
        "variance/mean of busy principals' weekday counts: median {median} ({ratios:?})"
    );
    // Own API mixes: the busiest principals do not share one favourite operation.
    let fav = pairs(
        &e,
        "SELECT principal || '|' || operation, count(*) FROM lakesight.api_activity GROUP BY 1",
    )
    .await;
    let mut top: std::collections::BTreeMap<String, (String, i64)> = Default::default();
    for (k, n) in fav {
        let (p, op) = k.rsplit_once('|').unwrap();
        let t = top.entry(p.to_string()).or_insert((String::new(), 0));
        if n > t.1 {
            *t = (op.to_string(), n);
        }
    }
    let distinct: BTreeSet<&String> = top.values().map(|x| &x.0).collect();
    assert!(distinct.len() >= 5, "favourite operations: {distinct:?}");
}

#[tokio::test]
async fn realistic_dial_matches_the_entitys_own_baseline() {
    let f = realistic_lake();
    let e = engine(&f.url()).await;
    for s in f.labels()["scenarios"].as_array().unwrap() {
        let (start, end) = (s["window_start_ms"].as_i64().unwrap(), s["window_end_ms"].as_i64().unwrap());
        let (base, strength, inj) = (
            s["baseline"].as_f64().unwrap(),
            s["strength"].as_f64().unwrap(),
            s["injected"].as_f64().unwrap(),
        );
        let p = s["entities"]["principal"].as_str().unwrap();
        let n = scalar_i64(&e, &format!(
            "SELECT count(*) FROM lakesight.api_activity WHERE principal = '{p}' AND operation = 'GetObject' AND time_ms >= {start} AND time_ms < {end}"
        ))
        .await as f64;
        assert_eq!(inj, (strength * base).round().max(1.0));
        // The benign part is overdispersed: allow the day's gamma multiplier (shape ≥ 2.5).
        assert!(
            n >= inj && n <= inj + 4.0 * base + 6.0 * base.sqrt() + 3.0,
            "{p}: {n} in the window, injected {inj}, baseline {base}"
        );
    }
}

#[test]
fn realistic_world_is_deterministic_for_a_seed() {
    let digest = |d: &std::path::Path| {
        use std::hash::{Hash, Hasher};
        crate::common::files_under(d)
            .into_iter()
            .filter(|p| !p.display().to_string().contains("/metadata/"))
            .map(|p| {
                let mut h = std::collections::hash_map::DefaultHasher::new();
                std::fs::read(&p).unwrap().hash(&mut h);
                (p.strip_prefix(d).unwrap().display().to_string(), h.finish())
            })
            .collect::<Vec<_>>()
    };
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mk = |d: &std::path::Path| {
        let mut c = realistic_config(d.to_path_buf(), 7, 5_000);
        c.scenarios = Some(parse_specs("new_ip_credential_use=4:2,dga_dns=2").unwrap());
        generate(&c).unwrap();
    };
    mk(a.path());
    mk(b.path());
    let da = digest(a.path());
    assert!(da.len() > 10);
    assert_eq!(da, digest(b.path()));
}
