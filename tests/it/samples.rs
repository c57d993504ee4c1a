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

/// Bytes the scan of `sql` read from Parquet (`bytes_scanned` of `EXPLAIN ANALYZE`), in bytes.
async fn bytes_scanned(e: &lakesight::lake::engine::Engine, sql: &str) -> f64 {
    use arrow::array::AsArray;
    let b = e.collect(&format!("EXPLAIN ANALYZE {sql}")).await.unwrap();
    let plan: String = b
        .iter()
        .map(|b| b.column(1).as_string::<i32>().iter().flatten().collect::<String>())
        .collect();
    let v = plan
        .split("bytes_scanned=")
        .nth(1)
        .unwrap_or_else(|| panic!("no bytes_scanned in {plan}"));
    let v = v.split([',', ']']).next().unwrap().trim();
    let (num, mult) = match v.strip_suffix(" K") {
        Some(n) => (n, 1e3),
        None => match v.strip_suffix(" M") {
            Some(n) => (n, 1e6),
            None => (v.trim_end_matches(" B"), 1.0),
        },
    };
    num.parse::<f64>().unwrap_or_else(|_| panic!("bytes_scanned={v}")) * mult
}

/// Compressed bytes of the column chunks whose path starts with `prefix`, over every file.
fn chunk_bytes(files: &[PathBuf], prefix: &str) -> f64 {
    use parquet::file::reader::FileReader;
    let mut n = 0i64;
    for f in files {
        let r = parquet::file::serialized_reader::SerializedFileReader::new(std::fs::File::open(f).unwrap()).unwrap();
        for rg in r.metadata().row_groups() {
            n += rg
                .columns()
                .iter()
                .filter(|c| c.column_path().string().starts_with(prefix))
                .map(|c| c.compressed_size())
                .sum::<i64>();
        }
    }
    n as f64
}

/// Security Lake's v1 files mark struct fields required, which the table schema (every field
/// nullable) does not: DataFusion 54 then casts the whole struct and read every leaf of `actor` for
/// `actor.user.uid` (6.2× the leaf's bytes on these samples), and with filter pushdown a
/// struct-field predicate matched every row (apache/datafusion#24109). This proves, on the real
/// files, that the scan reads the one leaf a query names (`lake::adapt`) and that pushed-down
/// struct-field filters count the same rows as an aggregate that filters nothing.
#[tokio::test]
async fn a_struct_leaf_of_the_real_v1_files_is_read_alone_and_filters_on_it_are_right() {
    let d = tempfile::tempdir().unwrap();
    lake_from_samples(d.path());
    let e = engine(&d.path().display().to_string()).await;
    let t = "amazon_security_lake_table_us_east_1_cloud_trail_mgmt_1_0";
    let files = crate::common::files_under(&d.path().join("aws/CLOUD_TRAIL_MGMT/1.0"));
    let (leaf, all) = (chunk_bytes(&files, "actor.user.uid"), chunk_bytes(&files, "actor."));
    assert!(all > 4.0 * leaf, "the samples' actor struct is wide: {all} vs {leaf}");
    let read = bytes_scanned(&e, &format!("SELECT count(DISTINCT actor.user.uid) FROM {t}")).await;
    // `bytes_scanned` prints three significant digits (e.g. "4.03 K").
    assert!(
        (read - leaf).abs() <= 0.01 * leaf,
        "read {read} B, the leaf is {leaf} B, all of actor {all} B"
    );

    let total = scalar_i64(&e, &format!("SELECT count(*) FROM {t}")).await;
    let with_name = scalar_i64(&e, &format!("SELECT count(actor.user.name) FROM {t}")).await;
    let null_name = scalar_i64(&e, &format!("SELECT count(*) FROM {t} WHERE actor.user.name IS NULL")).await;
    let set_name = scalar_i64(&e, &format!("SELECT count(*) FROM {t} WHERE actor.user.name IS NOT NULL")).await;
    assert!(
        with_name > 0 && with_name < total,
        "the samples mix set and missing names: {with_name} of {total}"
    );
    assert_eq!((null_name, set_name), (total - with_name, with_name));
    let op = scalar_i64(&e, &format!("SELECT count(*) FROM {t} WHERE api.operation = 'CreateUser'")).await;
    assert_eq!(op, 1, "one CreateUser sample");
}

/// Leaf paths (`a.b`, `list[].c`) of a Glue table JSON's columns with their type strings.
fn glue_leaves(cols: &[serde_json::Value], prefix: &str, out: &mut Vec<(String, String)>) {
    for c in cols {
        let name = format!("{prefix}{}", c["name"].as_str().unwrap());
        let ty = c["type"].as_str().unwrap_or_default();
        match c["fields"].as_array() {
            Some(f) => glue_leaves(f, &format!("{name}{}", if ty.starts_with("array") { "[]." } else { "." }), out),
            None => out.push((name, ty.to_string())),
        }
    }
}

/// Leaf paths of an Arrow type with their types.
fn arrow_leaves(t: &arrow::datatypes::DataType, prefix: &str, out: &mut Vec<(String, arrow::datatypes::DataType)>) {
    use arrow::datatypes::DataType;
    match t {
        DataType::Struct(fs) => fs
            .iter()
            .for_each(|f| arrow_leaves(f.data_type(), &format!("{prefix}.{}", f.name()), out)),
        DataType::List(f) if matches!(f.data_type(), DataType::Struct(_)) => arrow_leaves(f.data_type(), &format!("{prefix}[]"), out),
        other => out.push((prefix.to_string(), other.clone())),
    }
}

/// Proves that lakesight's declared v2 schemas (which the generator writes and the catalog reads
/// real tables through) hold every column of the Glue tables Security Lake creates, with the same
/// type: a column missing there is invisible to every query on the embedded engine, and AWS's
/// published queries name them (`vulnerabilities`, `compliance.status`, `firewall_rule.uid`).
#[test]
fn the_declared_v2_schemas_hold_every_column_of_the_glue_tables() {
    use lakesight::lake::ocsf::{arrow_schema, parse_type, SourceKind, SourceVersion};
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/security-lake-v2-table-schemas");
    let mut problems = Vec::new();
    let mut checked = 0;
    for (kind, table) in [
        (SourceKind::CloudTrailMgmt, "cloud_trail_mgmt"),
        (SourceKind::Route53, "route53"),
        (SourceKind::ShFindings, "sh_findings"),
        (SourceKind::VpcFlow, "vpc_flow"),
    ] {
        let path = dir.join(format!("amazon_security_lake_table_us_east_1_{table}_2_0.json"));
        let js: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        let mut glue = Vec::new();
        glue_leaves(js["columns"].as_array().unwrap(), "", &mut glue);
        let schema = arrow_schema(kind, SourceVersion::V2).unwrap();
        let mut ours = Vec::new();
        for f in schema.fields() {
            arrow_leaves(f.data_type(), f.name(), &mut ours);
        }
        let ours: std::collections::BTreeMap<String, arrow::datatypes::DataType> = ours.into_iter().collect();
        for (leaf, ty) in glue {
            checked += 1;
            let want = parse_type(&ty).unwrap_or_else(|e| panic!("{table} {leaf}: {e}"));
            match ours.get(&leaf) {
                None => problems.push(format!("{table}: {leaf} ({ty}) is not declared")),
                Some(t) if *t != want => problems.push(format!("{table}: {leaf} is {t:?}, Glue says {ty}")),
                _ => {}
            }
        }
    }
    assert!(checked > 250, "{checked}");
    assert!(problems.is_empty(), "{} problems:\n{}", problems.len(), problems.join("\n"));
}
