//! `lakesight tables`: what the lake holds, per Glue table.

use std::collections::BTreeSet;

use arrow::array::{Array, AsArray};
use arrow::datatypes::Int32Type;
use serde::Serialize;

use super::catalog::Catalog;
use super::engine::Engine;
use super::Result;

/// One line of `lakesight tables`.
#[derive(Debug, Clone, Serialize)]
pub struct TableInfo {
    /// Glue database.
    pub database: String,
    /// Glue table.
    pub table: String,
    /// Source name from the key (`CLOUD_TRAIL_MGMT`, custom name).
    pub source: String,
    /// `1.0`, `2.0`, or `-` for an unversioned custom source.
    pub version: String,
    /// OCSF class ids present.
    pub classes: Vec<i32>,
    /// Distinct accounts.
    pub accounts: usize,
    /// First and last `eventday`.
    pub days: (String, String),
    /// Number of day partitions.
    pub day_count: usize,
    /// Files.
    pub files: usize,
    /// Rows.
    pub rows: u64,
    /// Bytes on storage.
    pub bytes: u64,
}

/// Describe every table (reads only the `class_uid` column).
pub async fn describe(engine: &Engine) -> Result<Vec<TableInfo>> {
    let mut out = Vec::new();
    for t in &engine.catalog.tables {
        let mut classes = Vec::new();
        if t.schema.field_with_name("class_uid").is_ok() {
            let sql = format!("SELECT DISTINCT CAST(class_uid AS INT) AS c FROM {} ORDER BY c", t.glue_name);
            for b in engine.collect(&sql).await? {
                let a = b.column(0).as_primitive::<Int32Type>();
                for i in 0..a.len() {
                    if a.is_valid(i) {
                        classes.push(a.value(i));
                    }
                }
            }
        }
        let days = t.days();
        let accounts: BTreeSet<&str> = t.files.iter().map(|f| f.account.as_str()).collect();
        out.push(TableInfo {
            database: t.database.clone(),
            table: t.glue_name.clone(),
            source: if t.custom {
                format!("ext/{}", t.source_name)
            } else {
                t.source_name.clone()
            },
            version: t.version.map(|v| v.key_segment().to_string()).unwrap_or_else(|| "-".into()),
            classes,
            accounts: accounts.len(),
            days: (days.first().cloned().unwrap_or_default(), days.last().cloned().unwrap_or_default()),
            day_count: days.len(),
            files: t.files.len(),
            rows: t.rows(),
            bytes: t.bytes(),
        });
    }
    Ok(out)
}

/// Render as an aligned text table plus the skipped inputs.
pub fn render(rows: &[TableInfo], catalog: &Catalog) -> String {
    let mut lines = vec![[
        "table".to_string(),
        "source".into(),
        "version".into(),
        "classes".into(),
        "accounts".into(),
        "eventday".into(),
        "files".into(),
        "rows".into(),
        "MB".into(),
    ]];
    for r in rows {
        lines.push([
            r.table.clone(),
            r.source.clone(),
            r.version.clone(),
            r.classes.iter().map(|c| c.to_string()).collect::<Vec<_>>().join(","),
            r.accounts.to_string(),
            format!("{}..{} ({})", r.days.0, r.days.1, r.day_count),
            r.files.to_string(),
            r.rows.to_string(),
            format!("{:.1}", r.bytes as f64 / 1e6),
        ]);
    }
    let widths: Vec<usize> = (0..9).map(|i| lines.iter().map(|l| l[i].len()).max().unwrap_or(0)).collect();
    let mut s = String::new();
    for l in &lines {
        let cells: Vec<String> = l.iter().enumerate().map(|(i, c)| format!("{c:<w$}", w = widths[i])).collect();
        s.push_str(cells.join("  ").trim_end());
        s.push('\n');
    }
    s.push_str(&format!("{} tables; databases: {}\n", rows.len(), {
        let dbs: BTreeSet<&str> = rows.iter().map(|r| r.database.as_str()).collect();
        dbs.into_iter().collect::<Vec<_>>().join(", ")
    }));
    if !catalog.skipped.is_empty() {
        s.push_str(&format!("{} inputs skipped:\n", catalog.skipped.len()));
        for k in &catalog.skipped {
            s.push_str(&format!("  {}: {}\n", k.path, k.reason));
        }
    }
    s
}
