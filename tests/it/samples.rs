//! The real Security Lake Parquet samples in `../shared/data/security-lake-samples/` (written by
//! Security Lake's own parquet-mr writer: GZIP, legacy 2-level lists, per-file column subsets)
//! are read by the same catalog code, under one merged schema per table.

use std::path::{Path, PathBuf};

use crate::common::{engine, scalar_i64};

fn samples_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/security-lake-samples")
}

fn parquet_files(dir: &Path) -> Vec<PathBuf> {
    let mut v = Vec::new();
    let Ok(rd) = std::fs::read_dir(dir) else { return v };
    for e in rd {
        let p = e.unwrap().path();
        if p.is_dir() {
            // `input/` and `inputs/` hold the raw events the samples were made from, not lake data.
            if !p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("input")) {
                v.extend(parquet_files(&p));
            }
        } else if p.extension().is_some_and(|x| x == "parquet") {
            v.push(p);
        }
    }
    v.sort();
    v
}

/// Lay the samples out as a lake: each source folder becomes one table partition.
fn lake_from_samples(out: &Path) -> Vec<(String, usize)> {
    let root = samples_root();
    let map = [
        ("1.0.0-rc.2/CLOUD_TRAIL", "CLOUD_TRAIL_MGMT", "1.0"),
        ("1.0.0-rc.2/VPC_FLOW", "VPC_FLOW", "1.0"),
        ("1.0.0-rc.2/ROUTE53", "ROUTE53", "1.0"),
        ("1.0.0-rc.2/SH_FINDINGS", "SH_FINDINGS", "1.0"),
        ("1.1.0/CLOUD_TRAIL", "CLOUD_TRAIL_MGMT", "2.0"),
        ("1.1.0/VPC_FLOW", "VPC_FLOW", "2.0"),
        ("1.1.0/ROUTE53", "ROUTE53", "2.0"),
        ("1.1.0/SH_FINDINGS", "SH_FINDINGS", "2.0"),
        ("1.1.0/EKS", "EKS_AUDIT", "2.0"),
    ];
    let mut tables = Vec::new();
    for (src, name, ver) in map {
        let files = parquet_files(&root.join(src));
        assert!(!files.is_empty(), "no samples under {src}");
        let dir = out.join(format!(
            "aws/{name}/{ver}/region=us-east-1/accountId=123456789012/eventDay=20230525"
        ));
        std::fs::create_dir_all(&dir).unwrap();
        for (i, f) in files.iter().enumerate() {
            std::fs::copy(f, dir.join(format!("{i:03}.gz.parquet"))).unwrap();
        }
        let table = format!(
            "amazon_security_lake_table_us_east_1_{}_{}",
            name.to_lowercase(),
            ver.replace('.', "_")
        );
        tables.push((table, files.len()));
    }
    tables
}

#[tokio::test]
async fn every_real_sample_is_read_under_one_merged_schema() {
    let d = tempfile::tempdir().unwrap();
    let tables = lake_from_samples(d.path());
    let e = engine(&d.path().display().to_string()).await;
    assert!(e.catalog.skipped.is_empty(), "skipped: {:?}", e.catalog.skipped);
    for (t, n) in &tables {
        // Every file holds one row; SELECT * forces every column of every file through the merge.
        let rows = scalar_i64(&e, &format!("SELECT count(*) FROM (SELECT * FROM {t}) x")).await;
        assert_eq!(rows as usize, *n, "{t}");
    }
    // The normalised views resolve the real column paths of both versions.
    let ops = scalar_i64(
        &e,
        "SELECT count(*) FROM lakesight.api_activity WHERE operation IS NOT NULL AND time IS NOT NULL",
    )
    .await;
    let ct: usize = tables.iter().filter(|t| t.0.contains("cloud_trail")).map(|t| t.1).sum();
    assert_eq!(ops as usize, ct);
    let v2_principals = scalar_i64(
        &e,
        "SELECT count(*) FROM lakesight.api_activity WHERE source_table LIKE '%2_0' AND principal LIKE 'arn:%'",
    )
    .await;
    assert!(v2_principals > 0);
    // Each view column equals its raw column in both versions (NODATA flow records have no bytes).
    let flows = scalar_i64(
        &e,
        "SELECT count(*) FROM lakesight.network_activity WHERE bytes IS NOT NULL AND src_ip IS NOT NULL",
    )
    .await;
    let raw_flows = scalar_i64(&e, "SELECT count(*) FROM amazon_security_lake_table_us_east_1_vpc_flow_1_0 WHERE traffic.bytes IS NOT NULL AND src_endpoint.ip IS NOT NULL").await
        + scalar_i64(&e, "SELECT count(*) FROM amazon_security_lake_table_us_east_1_vpc_flow_2_0 WHERE traffic.bytes IS NOT NULL AND src_endpoint.ip IS NOT NULL").await;
    assert!(flows >= 6 && flows == raw_flows, "{flows} vs {raw_flows}");
    let dns = scalar_i64(&e, "SELECT count(*) FROM lakesight.dns_activity WHERE query_hostname LIKE '%.'").await;
    assert!(dns >= 8, "{dns}");
    let v1_accounts = scalar_i64(
        &e,
        "SELECT count(*) FROM lakesight.network_activity WHERE source_table LIKE '%1_0' AND action_id IS NOT NULL",
    )
    .await;
    assert!(v1_accounts >= 4, "disposition_id → action_id in v1: {v1_accounts}");
    let sh = scalar_i64(&e, "SELECT count(*) FROM lakesight.findings WHERE finding_uid IS NOT NULL").await;
    assert!(sh >= 5, "{sh}");
    // A legacy 2-level list (finding.types) and the unmapped map read back.
    let types = scalar_i64(
        &e,
        "SELECT count(*) FROM amazon_security_lake_table_us_east_1_sh_findings_1_0 WHERE cardinality(finding.types) >= 1",
    )
    .await;
    assert!(types >= 1);
    let mapped = scalar_i64(
        &e,
        "SELECT count(*) FROM amazon_security_lake_table_us_east_1_cloud_trail_mgmt_1_0 WHERE array_element(map_extract(unmapped, 'recipientAccountId'), 1) IS NOT NULL",
    )
    .await;
    assert!(mapped >= 1);
}
