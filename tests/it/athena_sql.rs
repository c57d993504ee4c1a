//! SQL as analysts write it for Athena (Trino) runs on the embedded engine.

use crate::common::{engine, mixed_lake, scalar_i64};

#[tokio::test]
async fn athena_style_security_queries_run_unchanged() {
    let f = mixed_lake();
    let e = engine(&f.url()).await;
    let day = e
        .catalog
        .table("amazon_security_lake_table_us_east_1_cloud_trail_mgmt_1_0")
        .unwrap()
        .days()
        .into_iter()
        .next()
        .unwrap();
    let total = scalar_i64(
        &e,
        &format!("SELECT count(*) FROM amazon_security_lake_table_us_east_1_cloud_trail_mgmt_1_0 WHERE eventday = '{day}'"),
    )
    .await;
    // Database-qualified names, from_unixtime on epoch ms, date_add, element_at on the unmapped map.
    let q = format!(
        r#"SELECT count(*) FROM "amazon_security_lake_glue_db_us_east_1"."amazon_security_lake_table_us_east_1_cloud_trail_mgmt_1_0"
           WHERE eventday = '{day}'
             AND from_unixtime(time / 1000) >= date_add('day', -1, from_unixtime(time / 1000))
             AND element_at(unmapped, 'recipientAccountId') = accountid"#
    );
    assert_eq!(scalar_i64(&e, &q).await, total);
    // `actor.user.uid`: `user` is a field here, not Trino's/SQL's USER function.
    let users = scalar_i64(
        &e,
        "SELECT count(DISTINCT actor.user.uid) FROM amazon_security_lake_table_us_east_1_cloud_trail_mgmt_2_0",
    )
    .await;
    let principals = scalar_i64(
        &e,
        "SELECT count(DISTINCT principal_id) FROM lakesight.api_activity WHERE region = 'us-east-1' AND eventday >= '20250308'",
    )
    .await;
    assert!(users > 1, "{users}");
    assert!(users <= principals + 1, "{users} vs {principals}");
    // CIDR tests on VPC Flow, both directions.
    let internal = scalar_i64(&e, "SELECT count(*) FROM amazon_security_lake_table_us_east_1_vpc_flow_2_0 WHERE contains('10.0.0.0/8', src_endpoint.ip) AND contains('10.0.0.0/8', dst_endpoint.ip)").await;
    let prefix = scalar_i64(&e, "SELECT count(*) FROM amazon_security_lake_table_us_east_1_vpc_flow_2_0 WHERE src_endpoint.ip LIKE '10.%' AND dst_endpoint.ip LIKE '10.%'").await;
    assert!(internal > 0);
    assert_eq!(internal, prefix);
    // cardinality, UNNEST and array_agg over the finding types; any_match with a lambda.
    let types = scalar_i64(&e, "SELECT count(*) FROM (SELECT t FROM amazon_security_lake_table_us_east_1_sh_findings_2_0 CROSS JOIN UNNEST(finding_info.types) AS x(t)) y").await;
    let card = scalar_i64(
        &e,
        "SELECT sum(cardinality(finding_info.types)) FROM amazon_security_lake_table_us_east_1_sh_findings_2_0",
    )
    .await;
    assert_eq!(types, card);
    let agg = scalar_i64(&e, "SELECT max(cardinality(a)) FROM (SELECT accountid, array_agg(DISTINCT class_uid) AS a FROM amazon_security_lake_table_us_east_1_sh_findings_2_0 GROUP BY accountid) z").await;
    assert_eq!(agg, 3, "2002, 2003 and 2004 in one v2 table");
    let lam = scalar_i64(&e, "SELECT count(*) FROM amazon_security_lake_table_us_east_1_sh_findings_2_0 WHERE any_match(finding_info.types, t -> t LIKE 'TTPs/%')").await;
    let like = scalar_i64(
        &e,
        "SELECT count(*) FROM amazon_security_lake_table_us_east_1_sh_findings_2_0 WHERE finding_info.types[1] LIKE 'TTPs/%'",
    )
    .await;
    assert_eq!(lam, like);
    // v2's partition filter is time_dt.
    let v2 = scalar_i64(&e, "SELECT count(*) FROM amazon_security_lake_table_us_east_1_route53_2_0 WHERE time_dt >= from_iso8601_timestamp('2025-03-10T00:00:00Z') AND time_dt < from_iso8601_timestamp('2025-03-11T00:00:00Z')").await;
    let by_day = scalar_i64(
        &e,
        "SELECT count(*) FROM amazon_security_lake_table_us_east_1_route53_2_0 WHERE eventday = '20250310'",
    )
    .await;
    assert_eq!(v2, by_day);
    assert!(v2 > 0);
}
