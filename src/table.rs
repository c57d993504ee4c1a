//! The description of a table lakesight writes under its output root: findings, and the extra
//! tables stages produce (features, embeddings, …).
//!
//! Why one type: the Athena DDL (`sink::dt_table_ddl`), the Glue registration (`sink::glue`) and
//! the sink's file layout (`<folder>/dt=…/<folder>.parquet`) are all derived from the same
//! [`TableSpec`], so a column a stage adds reaches all three, and a stage describes its table once.

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;

/// A table lakesight writes under its output root, as Athena and Glue need to know it.
#[derive(Debug, Clone)]
pub struct TableSpec {
    /// Table name.
    pub table: String,
    /// One line for the catalog.
    pub description: String,
    /// Folder under the output root (`findings`, `features`).
    pub folder: String,
    /// Columns (without partitions).
    pub schema: SchemaRef,
    /// Partition keys after `dt`, each projected as an enum of these values (merged with what the
    /// table already lists, so a value from an earlier run stays queryable).
    pub enums: Vec<(String, Vec<String>)>,
    /// SQL comment lines that head the table's DDL file (`<folder>_table.sql`), each starting with
    /// `-- ` and ending with a newline: what a row is and what each column means.
    pub ddl_comment: String,
}

/// One day's rows of a `dt`-partitioned table.
#[derive(Debug, Clone)]
pub struct DayRows {
    /// The day, `YYYY-MM-DD`.
    pub dt: String,
    /// Its rows (possibly none: "analysed, nothing there").
    pub batch: RecordBatch,
}

/// A table a stage produced: its description and its rows per analysed day.
#[derive(Debug, Clone)]
pub struct TableOutput {
    /// What the table is.
    pub spec: TableSpec,
    /// One entry per analysed day (a rerun replaces each day's file).
    pub days: Vec<DayRows>,
}
