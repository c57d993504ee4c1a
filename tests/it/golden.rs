//! Golden files for generated SQL: a change to what analysts paste into Athena shows up as a diff
//! of `tests/golden/*.sql` in review. `LAKESIGHT_UPDATE_GOLDEN=1 cargo test golden` rewrites them.

use std::path::PathBuf;

use lakesight::findings::investigate;
use lakesight::series::{Series, SeriesCatalog};

fn check(name: &str, got: &str) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden").join(name);
    if std::env::var_os("LAKESIGHT_UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, got).unwrap();
    }
    let want = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e} (LAKESIGHT_UPDATE_GOLDEN=1 writes it)", path.display()));
    assert_eq!(got, want, "{} differs from the generated SQL", path.display());
}

const DAY: i64 = 86_400_000;
const MAR_20_2025: i64 = 1_742_428_800_000;

#[test]
fn investigation_sql_of_an_outlier_and_of_a_change_point() {
    let c = SeriesCatalog::builtin().unwrap();
    let t = c.get("api_calls").unwrap();
    // A hostile principal name stays one literal.
    let s = Series {
        key: vec![Some("111122223333".into()), Some("arn:aws:iam::1:user/o'brien".into()), None],
        start_ms: 0,
        values: vec![],
    };
    check("investigate_outlier.sql", &investigate::sql(&t, &s, MAR_20_2025, MAR_20_2025 + DAY));
    check(
        "investigate_changepoint.sql",
        &investigate::regimes_sql(&t, &s, MAR_20_2025 - 7 * DAY, MAR_20_2025, MAR_20_2025 + 7 * DAY),
    );
}

/// The Athena views over a lake mid-upgrade (v1 Hive tables and v2 Iceberg tables): what
/// `lakesight views --dialect athena` prints. Version 2 tables have no `eventday` in Glue; the
/// view derives it from `time_dt`.
#[tokio::test]
async fn athena_views_over_v1_and_v2_tables() {
    use lakesight::lake::views::{view_sql, Dialect, VIEWS};
    let e = crate::common::engine(&crate::common::mixed_lake().url()).await;
    let tables: Vec<_> = e.catalog.tables.iter().collect();
    let mut out = String::new();
    for v in VIEWS {
        if let Some(body) = view_sql(Dialect::Athena, v, &tables) {
            out.push_str(&format!("CREATE OR REPLACE VIEW lakesight.{} AS\n{};\n\n", v.name, body));
        }
    }
    assert!(out.contains("date_format(\"time_dt\", '%Y%m%d') AS eventday"));
    check("athena_views.sql", &out);
}

/// The features query as both engines receive it, and the features table's Athena DDL.
#[test]
fn features_sql_and_table_ddl() {
    let t = lakesight::stages::features::template().unwrap();
    let from = chrono::NaiveDate::from_ymd_opt(2025, 3, 28)
        .unwrap()
        .and_hms_opt(0, 0, 0)
        .unwrap()
        .and_utc()
        .timestamp_millis();
    let sql = lakesight::series::render(&t, lakesight::series::Bucket::Day, from, from + 86_400_000);
    check("features_principal_day.sql", &sql);
    check(
        "features_table.sql",
        &lakesight::sink::dt_table_ddl(
            "lakesight",
            &lakesight::stages::features::table_spec("features"),
            "s3://bucket/lakesight/",
        ),
    );
}
