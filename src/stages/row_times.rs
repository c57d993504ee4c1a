//! Rows the analysis cannot place in time, counted and named.
//!
//! Every template reads a time range, so a row whose `time` is missing or lies far from its
//! partition's day — a writer that put seconds where OCSF wants milliseconds (1970), a clock years
//! in the future — is outside every range and would be lost without a word. This stage counts
//! such rows per table and analysed day over the normalised views (`time_ms` against `eventday`,
//! with a day of slack either side for late delivery) and names them in the manifest
//! (`row_times`) and the run's warnings, with the earliest and latest time seen so the cause is
//! readable. It reads two columns of the analysed days only, so its cost follows the new day.
//! Findings are unaffected: the rows are not analysed either way.
//!
//! The SQL is generated here, not a `queries/` template: its literals are the analysed days
//! (formatted from dates, never from data) and the view names come from [`VIEWS`].

use std::collections::BTreeMap;

use arrow::array::{Array, AsArray};
use arrow::datatypes::{DataType, Int64Type};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::{PlannedQuery, Stage, StageContext, StageError, StageOutput, Window};
use crate::lake::views::VIEWS;
use crate::series::SeriesError;

const DAY: i64 = 86_400_000;

/// The stage (on unless `[job] check_row_times = false`): it checks the views the job's other
/// stages read (on Athena, where which views exist is not known before querying, exactly those;
/// on the embedded engine, those the lake has).
#[derive(Debug, Clone, Default)]
pub struct RowTimesStage {
    /// Views to check (`api_activity`, …).
    pub views: Vec<String>,
}

/// Rows of one table and day that no analysis reads.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Misplaced {
    /// Glue table.
    pub table: String,
    /// `eventDay` partition, `YYYYMMDD`.
    pub day: String,
    /// Rows of the table on that day.
    pub rows: u64,
    /// Rows without a time.
    pub no_time: u64,
    /// Rows whose time is more than a day before or after their day.
    pub outside_day: u64,
    /// Earliest and latest time of the table's rows that day (epoch ms), as the cause shows in
    /// them (`1742…` seconds read as ms is January 1970).
    pub min_time_ms: Option<i64>,
    /// See `min_time_ms`.
    pub max_time_ms: Option<i64>,
}

/// The stage's manifest section.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct RowTimesStats {
    /// Rows the check's queries returned (one per view, table and day).
    pub result_rows: usize,
    /// Rows checked (every row of the analysed days in the views' tables).
    pub rows_checked: u64,
    /// Rows without a time, over all tables.
    pub no_time: u64,
    /// Rows outside their day, over all tables.
    pub outside_day: u64,
    /// The table-days with such rows.
    pub misplaced: Vec<Misplaced>,
}

/// The analysed days of `w` as `YYYYMMDD` with their midnights.
fn days(w: &Window) -> Vec<(String, i64)> {
    let mut v = Vec::new();
    let mut d = w.eval_ms;
    while d < w.end_ms {
        v.push((crate::series::dt(d).replace('-', ""), d));
        d += DAY;
    }
    v
}

/// The check's SQL over one view (plain SQL that DataFusion and Athena both run).
pub fn sql(view: &str, w: &Window) -> String {
    let days = days(w);
    let list = days.iter().map(|(d, _)| format!("'{d}'")).collect::<Vec<_>>().join(", ");
    let case = days
        .iter()
        .map(|(d, ms)| format!("WHEN '{d}' THEN CAST({ms} AS BIGINT)"))
        .collect::<Vec<_>>()
        .join(" ");
    format!(
        "SELECT source_table, eventday, count(*) AS total_rows, \
         sum(CASE WHEN time_ms IS NULL THEN 1 ELSE 0 END) AS no_time, \
         sum(CASE WHEN time_ms < day_ms - {DAY} OR time_ms >= day_ms + {two} THEN 1 ELSE 0 END) AS outside_day, \
         min(time_ms) AS min_time_ms, max(time_ms) AS max_time_ms \
         FROM (SELECT source_table, eventday, time_ms, CASE eventday {case} END AS day_ms \
         FROM lakesight.{view} WHERE eventday IN ({list})) q \
         GROUP BY source_table, eventday",
        two = 2 * DAY
    )
}

fn label(view: &str) -> String {
    format!("row_times_{view}")
}

/// A UTC time for people, or the raw number when it is not a date.
fn when(ms: Option<i64>) -> String {
    match ms {
        None => "none".into(),
        Some(ms) => {
            chrono::DateTime::from_timestamp_millis(ms).map_or_else(|| ms.to_string(), |t| t.format("%Y-%m-%d %H:%M:%S").to_string())
        }
    }
}

#[async_trait]
impl Stage for RowTimesStage {
    fn name(&self) -> &'static str {
        "row_times"
    }

    fn queries(&self, w: &Window) -> Vec<PlannedQuery> {
        self.views
            .iter()
            .map(|v| PlannedQuery {
                label: label(v),
                view: v.to_string(),
                from: super::day(w.eval_ms),
                to: super::day(w.end_ms - 1),
                detectors: Vec::new(),
            })
            .collect()
    }

    async fn run(&self, ctx: &StageContext<'_>) -> Result<StageOutput, StageError> {
        let mut out = StageOutput::default();
        let mut st = RowTimesStats::default();
        let t = std::time::Instant::now();
        let mut per: BTreeMap<(String, String), Misplaced> = BTreeMap::new();
        for v in VIEWS.iter().map(|v| v.name).filter(|v| self.views.iter().any(|w| w == v)) {
            ctx.check_cancel("row_times")?;
            if !ctx.has_view(v) {
                continue;
            }
            let l = label(v);
            let shape = |reason: String| SeriesError::Shape { family: l.clone(), reason };
            let batches = ctx
                .runner
                .run_sql(&l, &sql(v, &ctx.window))
                .await
                .map_err(|source| SeriesError::Query { family: l.clone(), source })?;
            st.result_rows += batches.iter().map(|b| b.num_rows()).sum::<usize>();
            for b in &batches {
                let col = |name: &str, to: &DataType| {
                    let c = b.column_by_name(name).ok_or_else(|| shape(format!("lacks column {name}")))?;
                    arrow::compute::cast(c, to).map_err(|e| shape(format!("{name}: {e}")))
                };
                let (table, day) = (col("source_table", &DataType::Utf8)?, col("eventday", &DataType::Utf8)?);
                let nums = ["total_rows", "no_time", "outside_day", "min_time_ms", "max_time_ms"]
                    .iter()
                    .map(|n| col(n, &DataType::Int64))
                    .collect::<Result<Vec<_>, _>>()?;
                let (table, day) = (table.as_string::<i32>(), day.as_string::<i32>());
                let nums: Vec<_> = nums.iter().map(|c| c.as_primitive::<Int64Type>()).collect();
                let get = |k: usize, i: usize| nums[k].is_valid(i).then(|| nums[k].value(i));
                for i in 0..b.num_rows() {
                    if table.is_null(i) || day.is_null(i) {
                        continue;
                    }
                    // One table can feed two views (CloudTrail: API activity and authentication):
                    // its rows are counted once.
                    let e = per
                        .entry((table.value(i).to_string(), day.value(i).to_string()))
                        .or_insert_with(|| Misplaced {
                            table: table.value(i).to_string(),
                            day: day.value(i).to_string(),
                            rows: get(0, i).unwrap_or(0).max(0) as u64,
                            no_time: get(1, i).unwrap_or(0).max(0) as u64,
                            outside_day: get(2, i).unwrap_or(0).max(0) as u64,
                            min_time_ms: get(3, i),
                            max_time_ms: get(4, i),
                        });
                    // A view may filter its table's rows; keep the widest count seen.
                    let rows = get(0, i).unwrap_or(0).max(0) as u64;
                    if rows > e.rows {
                        e.rows = rows;
                        e.no_time = get(1, i).unwrap_or(0).max(0) as u64;
                        e.outside_day = get(2, i).unwrap_or(0).max(0) as u64;
                        e.min_time_ms = get(3, i);
                        e.max_time_ms = get(4, i);
                    }
                }
            }
        }
        for m in per.into_values() {
            st.rows_checked += m.rows;
            st.no_time += m.no_time;
            st.outside_day += m.outside_day;
            if m.no_time + m.outside_day > 0 {
                let w = format!(
                    "{} of {} rows of {} on {} have no time ({}) or a time more than a day outside it ({}; earliest {}, latest {}: seconds instead of milliseconds, or a wrong clock?); no analysis reads them",
                    m.no_time + m.outside_day,
                    m.rows,
                    m.table,
                    m.day,
                    m.no_time,
                    m.outside_day,
                    when(m.min_time_ms),
                    when(m.max_time_ms)
                );
                tracing::warn!("{w}");
                out.warnings.push(w);
                st.misplaced.push(m);
            }
        }
        out.timings_ms.push(("row_times".into(), t.elapsed().as_millis()));
        out.manifest
            .push(("row_times".into(), serde_json::to_value(&st).unwrap_or_default()));
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The SQL names each analysed day once as a literal and maps it to its own midnight, so a
    /// range run judges each day's rows against that day.
    #[test]
    fn each_analysed_day_is_judged_against_its_own_midnight() {
        let w = Window {
            day0_ms: 0,
            eval_ms: 1_742_428_800_000, // 2025-03-20
            end_ms: 1_742_428_800_000 + 2 * DAY,
            baseline_days: 0,
        };
        let s = sql("api_activity", &w);
        assert!(s.contains("WHERE eventday IN ('20250320', '20250321')"), "{s}");
        assert!(s.contains("WHEN '20250320' THEN CAST(1742428800000 AS BIGINT)"), "{s}");
        assert!(s.contains("WHEN '20250321' THEN CAST(1742515200000 AS BIGINT)"), "{s}");
        assert!(s.contains("FROM lakesight.api_activity"), "{s}");
    }
}
