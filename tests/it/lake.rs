//! The sample lake generator, the catalog and SQL over the lake.

use std::collections::BTreeMap;

use lakesight::sample::{generate, VersionMode};

use crate::common::{config, engine, files_under, mixed_lake, scalar_i64};

/// Hash of every file but Iceberg metadata (which holds commit times and random UUIDs by design;
/// the data files and what the snapshots list are compared instead).
fn digest_tree(dir: &std::path::Path) -> BTreeMap<String, u64> {
    use std::hash::{Hash, Hasher};
    let mut out = BTreeMap::new();
    for e in files_under(dir) {
        let rel = e.strip_prefix(dir).unwrap().display().to_string();
        if rel.contains("/metadata/") {
            continue;
        }
        let mut h = std::collections::hash_map::DefaultHasher::new();
        std::fs::read(&e).unwrap().hash(&mut h);
        out.insert(rel, h.finish());
    }
    out
}

#[test]
fn generator_is_deterministic_for_a_seed() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    generate(&config(a.path().into(), VersionMode::V2, 7, 5_000)).unwrap();
    generate(&config(b.path().into(), VersionMode::V2, 7, 5_000)).unwrap();
    let (da, db) = (digest_tree(a.path()), digest_tree(b.path()));
    assert!(da.len() > 20, "expected many files, got {}", da.len());
    assert_eq!(da, db);
    // The Iceberg snapshots list the same live files with the same row counts.
    let live = |d: &std::path::Path| {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let e = engine(d.to_str().unwrap()).await;
            let mut v: Vec<(String, u64)> = e
                .catalog
                .tables
                .iter()
                .flat_map(|t| t.files.iter().map(|f| (f.meta.location.filename().unwrap().to_string(), f.rows)))
                .collect();
            v.sort();
            v
        })
    };
    assert_eq!(live(a.path()), live(b.path()));
    let c = tempfile::tempdir().unwrap();
    let mut cfg = config(c.path().into(), VersionMode::V2, 7, 5_000);
    cfg.seed = 43;
    generate(&cfg).unwrap();
    assert_ne!(digest_tree(c.path()), da, "another seed must give another lake");
}

#[test]
fn generator_rejects_bad_settings_naming_each_field() {
    let d = tempfile::tempdir().unwrap();
    let mut cfg = config(d.path().into(), VersionMode::V2, 3, 10);
    cfg.regions = vec!["us-east-1".into(), "Mars-1'".into()];
    let e = generate(&cfg).unwrap_err().to_string();
    for field in ["days", "regions", "events_per_day"] {
        assert!(e.contains(field), "{field} missing from: {e}");
    }
}

#[tokio::test]
async fn catalog_registers_every_source_and_version_under_glue_names() {
    let f = mixed_lake();
    let e = engine(&f.url()).await;
    let names: Vec<&str> = e.catalog.tables.iter().map(|t| t.glue_name.as_str()).collect();
    for src in ["cloud_trail_mgmt", "vpc_flow", "route53", "sh_findings"] {
        for v in ["1_0", "2_0"] {
            for r in ["us_east_1", "eu_west_1"] {
                let n = format!("amazon_security_lake_table_{r}_{src}_{v}");
                assert!(names.contains(&n.as_str()), "{n} not in {names:?}");
            }
        }
    }
    assert!(names.contains(&"amazon_security_lake_table_us_east_1_ext_idp_auth"));
    assert!(e.catalog.skipped.is_empty(), "{:?}", e.catalog.skipped);
    // Every row the generator wrote is visible through SQL, table by table.
    let mut total = 0;
    for t in &e.catalog.tables {
        let n = scalar_i64(&e, &format!("SELECT count(*) FROM {}", t.glue_name)).await;
        assert_eq!(n as u64, t.rows(), "{}", t.glue_name);
        total += n as u64;
    }
    assert_eq!(total, f.summary.events);
    // Database-qualified names, as pasted from Athena, and the awsdatacatalog prefix.
    let q = "SELECT count(*) FROM amazon_security_lake_glue_db_us_east_1.amazon_security_lake_table_us_east_1_vpc_flow_1_0";
    let n1 = scalar_i64(&e, q).await;
    let q2 = "SELECT count(*) FROM \"awsdatacatalog\".\"amazon_security_lake_glue_db_us_east_1\".\"amazon_security_lake_table_us_east_1_vpc_flow_1_0\"";
    assert_eq!(n1, scalar_i64(&e, q2).await);
    assert!(n1 > 0);
}

#[tokio::test]
async fn eventday_filter_prunes_files_and_keeps_counts() {
    let f = mixed_lake();
    let e = engine(&f.url()).await;
    let t = e
        .catalog
        .table("amazon_security_lake_table_us_east_1_cloud_trail_mgmt_1_0")
        .unwrap();
    let day = t.days().into_iter().nth(2).unwrap();
    let expect: u64 = t.files.iter().filter(|x| x.event_day == day).map(|x| x.rows).sum();
    let sql = format!(
        "SELECT count(*) FROM {} WHERE eventday = '{day}' AND accountid IS NOT NULL",
        t.glue_name
    );
    assert_eq!(scalar_i64(&e, &sql).await as u64, expect);
    // The physical plan only opens that day's files.
    let plan = e.collect(&format!("EXPLAIN {sql}")).await.unwrap();
    let text = arrow::util::pretty::pretty_format_batches(&plan).unwrap().to_string();
    let opened = text.matches(".parquet").count();
    let per_day = t.files.iter().filter(|x| x.event_day == day).count();
    assert_eq!(opened, per_day, "{text}");
    // A v2 time_dt range prunes to the days it covers.
    let t2 = e
        .catalog
        .table("amazon_security_lake_table_us_east_1_cloud_trail_mgmt_2_0")
        .unwrap();
    let d2 = t2.days().into_iter().next().unwrap();
    let d2 = chrono::NaiveDate::parse_from_str(&d2, "%Y%m%d").unwrap();
    let sql2 = format!(
        "SELECT count(*) FROM {} WHERE time_dt >= TIMESTAMP '{d2} 00:00:00' AND time_dt < TIMESTAMP '{d2} 00:00:00' + INTERVAL '1' DAY",
        t2.glue_name
    );
    let plan = e.collect(&format!("EXPLAIN {sql2}")).await.unwrap();
    let text = arrow::util::pretty::pretty_format_batches(&plan).unwrap().to_string();
    assert!(text.matches(".parquet").count() <= 2 * 2, "{text}");
    let expect2: u64 = t2
        .files
        .iter()
        .filter(|x| x.event_day == d2.format("%Y%m%d").to_string())
        .map(|x| x.rows)
        .sum();
    assert_eq!(scalar_i64(&e, &sql2).await as u64, expect2);
}

#[tokio::test]
async fn normalised_views_hide_version_differences() {
    let f = mixed_lake();
    let e = engine(&f.url()).await;
    for v in ["api_activity", "network_activity", "dns_activity", "findings", "authentication"] {
        assert!(e.views.contains(&v), "view {v} missing: {:?}", e.views);
    }
    let ct_rows: u64 = e
        .catalog
        .tables
        .iter()
        .filter(|t| t.source_name == "CLOUD_TRAIL_MGMT")
        .map(|t| t.rows())
        .sum();
    assert_eq!(scalar_i64(&e, "SELECT count(*) FROM lakesight.api_activity").await as u64, ct_rows);
    // Principal ARN, account, operation and time are filled in both versions.
    let nulls = scalar_i64(
        &e,
        "SELECT count(*) FROM lakesight.api_activity WHERE principal IS NULL OR operation IS NULL OR time IS NULL OR src_ip IS NULL",
    )
    .await;
    assert_eq!(nulls, 0);
    let v1_arns = scalar_i64(
        &e,
        "SELECT count(*) FROM lakesight.api_activity WHERE source_table LIKE '%_1_0' AND principal LIKE 'arn:aws:%'",
    )
    .await;
    let v2_arns = scalar_i64(
        &e,
        "SELECT count(*) FROM lakesight.api_activity WHERE source_table LIKE '%_2_0' AND principal LIKE 'arn:aws:%'",
    )
    .await;
    assert!(v1_arns > 0 && v2_arns > 0, "{v1_arns} {v2_arns}");
    // API Activity is class 6003 whichever version wrote it.
    assert_eq!(
        scalar_i64(&e, "SELECT count(*) FROM lakesight.api_activity WHERE class_uid = 3005").await,
        0
    );
    // Bytes and action in both versions of VPC Flow.
    let bad = scalar_i64(
        &e,
        "SELECT count(*) FROM lakesight.network_activity WHERE bytes IS NULL OR action_id IS NULL OR dst_ip IS NULL",
    )
    .await;
    assert_eq!(bad, 0);
    // Finding types resolve from finding.types (v1) and finding_info.types (v2).
    let ft = scalar_i64(
        &e,
        "SELECT count(DISTINCT source_table) FROM lakesight.findings WHERE finding_type_raw IS NOT NULL",
    )
    .await;
    assert_eq!(ft, 4);
    // Authentication: CloudTrail 3002 rows plus the identity provider.
    let idp = scalar_i64(
        &e,
        "SELECT count(*) FROM lakesight.authentication WHERE source_table LIKE '%ext_idp_auth' AND status_id = 2",
    )
    .await;
    assert!(idp > 0);
}

#[tokio::test]
async fn injected_scenarios_are_in_the_data() {
    let f = mixed_lake();
    let e = engine(&f.url()).await;
    let labels = f.labels();
    let scen = labels["scenarios"].as_array().unwrap();
    assert!(scen.len() >= 9);
    for s in scen {
        let start = s["window_start_ms"].as_i64().unwrap();
        let end = s["window_end_ms"].as_i64().unwrap();
        let ent = &s["entities"];
        let (sql, min) = match s["kind"].as_str().unwrap() {
            "s3_bulk_download" => (
                format!(
                    "SELECT count(*) FROM lakesight.api_activity WHERE principal = '{}' AND operation = 'GetObject' AND time_ms >= {start} AND time_ms < {end}",
                    ent["principal"].as_str().unwrap()
                ),
                300,
            ),
            "new_ip_credential_use" => (
                format!("SELECT count(*) FROM lakesight.api_activity WHERE src_ip = '{}' AND principal = '{}'", ent["ip"].as_str().unwrap(), ent["principal"].as_str().unwrap()),
                5,
            ),
            "brute_force" => (
                format!("SELECT count(*) FROM lakesight.authentication WHERE src_ip = '{}' AND status_id = 2", ent["ip"].as_str().unwrap()),
                200,
            ),
            "beaconing" | "exfiltration" => (
                format!("SELECT count(*) FROM lakesight.network_activity WHERE src_instance = '{}' AND dst_ip = '{}'", ent["instance"].as_str().unwrap(), ent["dst_ip"].as_str().unwrap()),
                100,
            ),
            "lateral_movement" => (
                format!(
                    "SELECT count(DISTINCT dst_ip) FROM lakesight.network_activity WHERE src_ip = '{}' AND dst_port IN (22, 445, 3389, 5985) AND time_ms >= {start} AND time_ms < {end}",
                    ent["src_ip"].as_str().unwrap()
                ),
                30,
            ),
            "dga_dns" => (
                format!(
                    "SELECT count(DISTINCT query_hostname) FROM lakesight.dns_activity WHERE src_instance = '{}' AND time_ms >= {start} AND time_ms < {end}",
                    ent["instance"].as_str().unwrap()
                ),
                200,
            ),
            "finding_level_shift" | "finding_trend" => (
                format!(
                    "SELECT count(*) FROM lakesight.findings WHERE feature || ' | ' || finding_type_raw = '{}' AND accountid = '{}'",
                    ent["finding_type"].as_str().unwrap(),
                    s["account"].as_str().unwrap()
                ),
                20,
            ),
            other => panic!("unknown scenario {other}"),
        };
        let n = scalar_i64(&e, &sql).await;
        assert!(n >= min, "{}: {n} < {min} for {sql}", s["id"]);
    }
}
