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
                wr.write(&nested_as_json(b)?)?;
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

/// The batch with every nested column (struct, list, map) replaced by its values as JSON text,
/// which is how a CSV carries them (Arrow's CSV writer refuses nested types, so `SELECT *` over an
/// OCSF table could not be written as CSV at all). Nulls stay null (an empty field).
fn nested_as_json(b: &RecordBatch) -> Result<RecordBatch, LakeError> {
    use arrow::array::{ArrayRef, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};
    use std::sync::Arc;
    let nested = |t: &DataType| t.is_nested();
    if !b.schema().fields().iter().any(|f| nested(f.data_type())) {
        return Ok(b.clone());
    }
    let mut fields = Vec::with_capacity(b.num_columns());
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(b.num_columns());
    for (f, c) in b.schema().fields().iter().zip(b.columns()) {
        if !nested(f.data_type()) {
            fields.push(f.as_ref().clone());
            columns.push(c.clone());
            continue;
        }
        // One JSON object per row with the column under a fixed key, nulls written explicitly.
        let one = RecordBatch::try_new(
            Arc::new(Schema::new(vec![Field::new("v", f.data_type().clone(), true)])),
            vec![c.clone()],
        )?;
        let mut buf = Vec::new();
        let mut wr = arrow::json::WriterBuilder::new()
            .with_explicit_nulls(true)
            .build::<_, arrow::json::writer::LineDelimited>(&mut buf);
        wr.write(&one)?;
        wr.finish()?;
        drop(wr);
        let text = String::from_utf8(buf).map_err(json_err)?;
        let mut values: Vec<Option<String>> = Vec::with_capacity(b.num_rows());
        for line in text.lines() {
            let row: serde_json::Value = serde_json::from_str(line).map_err(json_err)?;
            values.push(match row.get("v") {
                None | Some(serde_json::Value::Null) => None,
                Some(v) => Some(v.to_string()),
            });
        }
        if values.len() != b.num_rows() {
            return Err(LakeError::Arrow(arrow::error::ArrowError::JsonError(format!(
                "column {}: {} JSON rows for {} rows",
                f.name(),
                values.len(),
                b.num_rows()
            ))));
        }
        fields.push(Field::new(f.name(), DataType::Utf8, true));
        columns.push(Arc::new(StringArray::from(values)));
    }
    Ok(RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)?)
}

fn json_err(e: impl std::fmt::Display) -> LakeError {
    LakeError::Arrow(arrow::error::ArrowError::JsonError(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{ArrayRef, Int64Array, ListBuilder, StringBuilder, StructArray};
    use arrow::datatypes::{DataType, Field};
    use std::sync::Arc;

    /// Proves a batch with a struct column and a list column (as OCSF rows have: `actor`,
    /// `observables`) is written as CSV with each nested value as JSON text in its field, nulls
    /// as empty fields, and flat columns unchanged.
    #[test]
    fn nested_columns_are_written_to_csv_as_json() {
        let name: ArrayRef = Arc::new(arrow::array::StringArray::from(vec![Some("alice"), None]));
        let actor = StructArray::from(vec![(Arc::new(Field::new("name", DataType::Utf8, true)), name)]);
        let mut lb = ListBuilder::new(StringBuilder::new());
        lb.values().append_value("a,b");
        lb.values().append_value("c\"d");
        lb.append(true);
        lb.append(false);
        let list = lb.finish();
        let b = RecordBatch::try_from_iter(vec![
            ("n", Arc::new(Int64Array::from(vec![1, 2])) as ArrayRef),
            ("actor", Arc::new(actor) as ArrayRef),
            ("tags", Arc::new(list) as ArrayRef),
        ])
        .unwrap();
        let mut out = Vec::new();
        write_batches(&mut out, &[b], Format::Csv).unwrap();
        let text = String::from_utf8(out).unwrap();
        let mut r: Vec<Vec<String>> = text.lines().map(crate::series::csv::fields).collect();
        assert_eq!(r.remove(0), vec!["n", "actor", "tags"]);
        assert_eq!(r[0], vec!["1", r#"{"name":"alice"}"#, r#"["a,b","c\"d"]"#]);
        assert_eq!(r[1], vec!["2", r#"{"name":null}"#, ""]);
    }
}
