//! Series from a CSV file, for `lakesight detect --series FILE`: public labelled series (operational
//! metrics, benchmark sets) scored by the same detectors without a lake.
//!
//! The format is the one such sets use: a header, then one row per bucket in time order.
//! Columns (names case-insensitive): `timestamp` (or `time`, `ts`, `date`; carried through to the
//! output, not interpreted), `value`, optional `series` (several series in one file, each its own
//! run of rows) and optional `label` (or `is_anomaly`, `anomaly`: 1/true marks a labelled anomalous
//! bucket). The rows *are* the buckets: a detector sees the values in file order, so minute-level
//! metrics are judged on their own grid (give the detector a `period` that fits them).
//!
//! Bad rows are a clear error naming the line: a value that is not a number, a row with too few
//! fields. Empty values are interpolated linearly between their neighbours (counted in
//! [`CsvSeries::filled`]), since a metric's missing sample is not a zero.

use std::collections::BTreeMap;

/// One series of a CSV file.
#[derive(Debug, Clone, PartialEq)]
pub struct CsvSeries {
    /// The `series` column's value (empty when the file has one series).
    pub name: String,
    /// The timestamps as written.
    pub timestamps: Vec<String>,
    /// The values, gaps filled.
    pub values: Vec<f64>,
    /// The labels, when the file has a label column.
    pub labels: Option<Vec<bool>>,
    /// Buckets whose value was empty and interpolated.
    pub filled: usize,
}

/// Errors of reading a series CSV (each names the line).
#[derive(Debug, thiserror::Error)]
pub enum CsvError {
    /// The header lacks a column.
    #[error("{path}: the header has no {what} column (found: {found})")]
    Header {
        /// File.
        path: String,
        /// Which column.
        what: &'static str,
        /// The header's columns.
        found: String,
    },
    /// A row cannot be used.
    #[error("{path}:{line}: {reason}")]
    Row {
        /// File.
        path: String,
        /// 1-based line.
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// The file is empty.
    #[error("{0}: no rows")]
    Empty(String),
    /// A Parquet file could not be read as a flat table.
    #[error("{path}: {reason}")]
    Parquet {
        /// File.
        path: String,
        /// Why.
        reason: String,
    },
}

/// A Parquet table (an Athena result, a notebook's export) as the CSV text [`parse`] reads: the
/// same column names, timestamps written as RFC 3339 text, row order kept. Only flat columns can
/// be written; a nested one is an error naming it.
pub fn parquet_as_csv(bytes: bytes::Bytes, path: &str) -> Result<String, CsvError> {
    let err = |reason: String| CsvError::Parquet { path: path.into(), reason };
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(bytes)
        .and_then(|b| b.build())
        .map_err(|e| err(format!("not a readable Parquet file: {e}")))?;
    let mut w = arrow::csv::WriterBuilder::new().with_header(true).build(Vec::new());
    for b in reader {
        let b = b.map_err(|e| err(e.to_string()))?;
        w.write(&b).map_err(|e| err(format!("only flat columns can be read: {e}")))?;
    }
    String::from_utf8(w.into_inner()).map_err(|e| err(e.to_string()))
}

/// Split one CSV line into fields (double-quoted fields may contain commas; `""` is a quote),
/// each trimmed.
pub fn fields(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            ('"', _) => quoted = !quoted,
            (',', false) => out.push(std::mem::take(&mut cur)),
            (c, _) => cur.push(c),
        }
    }
    out.push(cur);
    out.into_iter().map(|f| f.trim().to_string()).collect()
}

/// Parse CSV text (`path` names it in errors).
pub fn parse(text: &str, path: &str) -> Result<Vec<CsvSeries>, CsvError> {
    let mut lines = text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty());
    let (_, header) = lines.next().ok_or_else(|| CsvError::Empty(path.into()))?;
    let head: Vec<String> = fields(header.trim_start_matches('\u{feff}'))
        .iter()
        .map(|h| h.to_lowercase())
        .collect();
    let find = |names: &[&str]| head.iter().position(|h| names.contains(&h.as_str()));
    let missing = |what| CsvError::Header {
        path: path.into(),
        what,
        found: head.join(","),
    };
    let ts = find(&["timestamp", "time", "ts", "date"]).ok_or_else(|| missing("timestamp"))?;
    let val = find(&["value"]).ok_or_else(|| missing("value"))?;
    let ser = find(&["series"]);
    let lab = find(&["label", "is_anomaly", "anomaly"]);
    let need = [Some(ts), Some(val), ser, lab].into_iter().flatten().max().unwrap_or(0) + 1;
    // Series in order of first appearance.
    let mut order: Vec<String> = Vec::new();
    let mut rows: BTreeMap<String, (Vec<String>, Vec<Option<f64>>, Vec<bool>)> = BTreeMap::new();
    for (i, line) in lines {
        let f = fields(line);
        let err = |reason: String| CsvError::Row {
            path: path.into(),
            line: i + 1,
            reason,
        };
        if f.len() < need {
            return Err(err(format!("{} field(s), the header needs {need}", f.len())));
        }
        let v = match f[val].as_str() {
            "" | "nan" | "NaN" | "NA" | "null" => None,
            s => Some(
                s.parse::<f64>()
                    .ok()
                    .filter(|v| v.is_finite())
                    .ok_or_else(|| err(format!("value {s:?} is not a finite number")))?,
            ),
        };
        let label = match lab.map(|l| f[l].to_lowercase()) {
            None => false,
            Some(l) => match l.as_str() {
                "1" | "true" | "yes" | "1.0" => true,
                "0" | "false" | "no" | "0.0" | "" => false,
                other => return Err(err(format!("label {other:?} is not 0/1 or true/false"))),
            },
        };
        let name = ser.map(|s| f[s].clone()).unwrap_or_default();
        if !rows.contains_key(&name) {
            order.push(name.clone());
        }
        let r = rows.entry(name).or_default();
        r.0.push(f[ts].clone());
        r.1.push(v);
        r.2.push(label);
    }
    if order.is_empty() {
        return Err(CsvError::Empty(path.into()));
    }
    let mut out = Vec::new();
    for name in order {
        let Some((timestamps, raw, labels)) = rows.remove(&name) else {
            continue;
        };
        let (values, filled) = interpolate(&raw).ok_or_else(|| CsvError::Row {
            path: path.into(),
            line: 0,
            reason: format!("series {name:?} has no value at all"),
        })?;
        out.push(CsvSeries {
            name,
            timestamps,
            values,
            labels: lab.map(|_| labels),
            filled,
        });
    }
    Ok(out)
}

/// Fill gaps linearly (ends take the nearest value); `None` when there is no value at all.
fn interpolate(raw: &[Option<f64>]) -> Option<(Vec<f64>, usize)> {
    let known: Vec<usize> = (0..raw.len()).filter(|i| raw[*i].is_some()).collect();
    let (&first, &last) = (known.first()?, known.last()?);
    let mut out = vec![0.0; raw.len()];
    let mut filled = 0;
    let mut k = 0;
    for (i, o) in out.iter_mut().enumerate() {
        if let Some(v) = raw[i] {
            *o = v;
            continue;
        }
        filled += 1;
        *o = if i < first {
            raw[first].unwrap_or(0.0)
        } else if i > last {
            raw[last].unwrap_or(0.0)
        } else {
            while known[k + 1] < i {
                k += 1;
            }
            let (a, b) = (known[k], known[k + 1]);
            let (va, vb) = (raw[a].unwrap_or(0.0), raw[b].unwrap_or(0.0));
            va + (vb - va) * (i - a) as f64 / (b - a) as f64
        };
    }
    Some((out, filled))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A Parquet file with a timestamp column reads as the same series as its CSV twin.
    #[test]
    fn a_parquet_table_reads_like_its_csv() {
        use arrow::array::{Float64Array, RecordBatch, StringArray, TimestampMillisecondArray};
        use std::sync::Arc;
        let b = RecordBatch::try_from_iter(vec![
            (
                "time",
                Arc::new(TimestampMillisecondArray::from(vec![0, 3_600_000, 7_200_000])) as _,
            ),
            ("value", Arc::new(Float64Array::from(vec![Some(1.0), None, Some(5.0)])) as _),
            ("series", Arc::new(StringArray::from(vec!["a", "a", "a"])) as _),
        ])
        .unwrap();
        let mut w = parquet::arrow::ArrowWriter::try_new(Vec::new(), b.schema(), None).unwrap();
        w.write(&b).unwrap();
        let bytes = bytes::Bytes::from(w.into_inner().unwrap());
        let s = parse(&parquet_as_csv(bytes, "f.parquet").unwrap(), "f.parquet").unwrap();
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].values, vec![1.0, 3.0, 5.0], "the missing value is interpolated as in a CSV");
        assert_eq!(s[0].timestamps[1], "1970-01-01T01:00:00");
        let e = parquet_as_csv(bytes::Bytes::from_static(b"not parquet"), "g.parquet").unwrap_err();
        assert!(e.to_string().starts_with("g.parquet: not a readable Parquet file"), "{e}");
    }

    #[test]
    fn reads_series_labels_and_fills_gaps() {
        let text = "timestamp,value,series,is_anomaly\n\
                    t0,1,a,0\nt1,,a,0\nt2,3,a,1\nt0,\"10\",b,false\nt1,20,b,true\n";
        let s = parse(text, "x.csv").unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].name, "a");
        assert_eq!(s[0].values, vec![1.0, 2.0, 3.0]);
        assert_eq!(s[0].filled, 1);
        assert_eq!(s[0].labels, Some(vec![false, false, true]));
        assert_eq!(s[1].values, vec![10.0, 20.0]);
        assert_eq!(s[1].timestamps, vec!["t0", "t1"]);
    }

    #[test]
    fn bad_rows_are_errors_naming_the_line() {
        let e = parse("timestamp,value\nt0,1\nt1,abc\n", "f.csv").unwrap_err().to_string();
        assert!(e.contains("f.csv:3") && e.contains("abc"), "{e}");
        let e = parse("time,v\n", "g.csv").unwrap_err().to_string();
        assert!(e.contains("no value column"), "{e}");
        let e = parse("timestamp,value\nt0,inf\n", "h.csv").unwrap_err().to_string();
        assert!(e.contains("finite"), "{e}");
        assert!(parse("", "e.csv").is_err());
        let e = parse("timestamp,value,label\nt0,1,maybe\n", "l.csv").unwrap_err().to_string();
        assert!(e.contains("l.csv:2"), "{e}");
    }
}
