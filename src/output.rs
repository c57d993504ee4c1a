//! Writing query results for people and programs: a text table, CSV, JSON lines or Parquet.

use std::io::Write;

use arrow::record_batch::RecordBatch;

use crate::lake::LakeError;

/// Output format of `lakesight query`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// An aligned text table.
    Table,
    /// CSV with a header.
    Csv,
    /// One JSON object per line.
    Json,
    /// Parquet (needs an output file).
    Parquet,
}

/// Write `batches` to `w` in `format`.
pub fn write_batches<W: Write>(w: &mut W, batches: &[RecordBatch], format: Format) -> Result<(), LakeError> {
    match format {
        Format::Table => {
            let s = arrow::util::pretty::pretty_format_batches(batches)?;
            writeln!(w, "{s}").map_err(|e| LakeError::io(std::path::Path::new("<stdout>"), e))?;
        }
        Format::Csv => {
            let mut wr = arrow::csv::WriterBuilder::new().with_header(true).build(&mut *w);
            for b in batches {
                wr.write(b)?;
            }
        }
        Format::Json => {
            let mut wr = arrow::json::LineDelimitedWriter::new(&mut *w);
            for b in batches {
                wr.write(b)?;
            }
            wr.finish()?;
        }
        Format::Parquet => {
            let Some(first) = batches.first() else { return Ok(()) };
            let mut buf = Vec::new();
            let mut wr = parquet::arrow::ArrowWriter::try_new(&mut buf, first.schema(), None)?;
            for b in batches {
                wr.write(b)?;
            }
            wr.close()?;
            w.write_all(&buf).map_err(|e| LakeError::io(std::path::Path::new("<output>"), e))?;
        }
    }
    Ok(())
}
