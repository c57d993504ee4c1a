//! Investigation SQL: the raw events behind a finding.
//!
//! The query reads the same normalised view as the series, filters on every key of the series with
//! the key's own expression (so `finding_type` becomes `feature || ' | ' || finding_type_raw`) and
//! quoted literals only, on the family's row filter, on the window's `eventday` partitions and on
//! the window's time range. It is valid on the embedded engine and on Athena once the `lakesight`
//! views exist there (`lakesight views --dialect athena` prints them). A principal named `x' OR '1'='1`
//! stays one literal: see [`crate::sql::quote_literal`].

use crate::series::{Series, SeriesTemplate};
use crate::sql::{quote_literal, timestamp_literal};

/// Row cap of an investigation query (the analyst can lift it).
pub const LIMIT: usize = 10_000;

/// The investigation SQL of series `s` over `[start_ms, end_ms)`.
pub fn sql(t: &SeriesTemplate, s: &Series, start_ms: i64, end_ms: i64) -> String {
    format!(
        "SELECT *\nFROM lakesight.{}\nWHERE {}\nORDER BY time\nLIMIT {LIMIT}",
        t.view,
        conditions(t, s, start_ms, end_ms).join("\n  AND ")
    )
}

/// The investigation SQL of a change point at `change_ms`: the events of the window before it and
/// of the window after it, side by side in one result, each row labelled `regime = 'before'` or
/// `'after'`, so the analyst sees what changed (new principals, new APIs, new peers) by grouping
/// on the regime. Equal windows keep the comparison fair.
pub fn regimes_sql(t: &SeriesTemplate, s: &Series, before_start_ms: i64, change_ms: i64, after_end_ms: i64) -> String {
    format!(
        "SELECT CASE WHEN time < {} THEN 'before' ELSE 'after' END AS regime, *\nFROM lakesight.{}\nWHERE {}\nORDER BY time\nLIMIT {LIMIT}",
        timestamp_literal(change_ms),
        t.view,
        conditions(t, s, before_start_ms, after_end_ms).join("\n  AND ")
    )
}

/// The WHERE conditions: partitions and time of the window, the family's row filter, every key.
fn conditions(t: &SeriesTemplate, s: &Series, start_ms: i64, end_ms: i64) -> Vec<String> {
    let day = |ms: i64| {
        chrono::DateTime::from_timestamp_millis(ms)
            .map(|d| d.format("%Y%m%d").to_string())
            .unwrap_or_default()
    };
    let mut conds = vec![
        format!(
            "eventday BETWEEN {} AND {}",
            quote_literal(&day(start_ms)),
            quote_literal(&day(end_ms - 1))
        ),
        format!("time >= {} AND time < {}", timestamp_literal(start_ms), timestamp_literal(end_ms)),
    ];
    if let Some(f) = &t.filter {
        conds.push(format!("({f})"));
    }
    for ((_, expr), v) in t.keys.iter().zip(&s.key) {
        conds.push(match v {
            Some(v) => format!("({expr}) = {}", quote_literal(v)),
            None => format!("({expr}) IS NULL"),
        });
    }
    conds
}
