//! `lakesight score --model iforest --input FILE`: the UEBA stage's isolation forest over any table
//! (features exported from Athena, a notebook's DataFrame saved as Parquet or CSV), so an analyst
//! can rank rows the way the nightly run does without a lake.
//!
//! Every numeric column (integers, floats, decimals) except `--id` is a feature; other columns are
//! ignored and named in the summary. A row with an empty, NaN or infinite feature is not scored: it
//! keeps its place in the output with empty score and rank and the reason, and is counted (the
//! forest refuses non-finite values, as scikit-learn does, and dropping the row would break joins
//! back to the input). The output is CSV, one row per input row in input order:
//! `id, score, anomaly_score, rank, anomaly, skipped` — `score` is scikit-learn's `score_samples`
//! (lower = more abnormal), `anomaly_score` its negation 2^(−E[h]/c(ψ)) in (0, 1], `rank` 1 for the
//! most abnormal, `anomaly` whether the score is below the offset (`contamination`).

use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{DataType, Float64Type, Schema};

use crate::detect::iforest::{IforestConfig, IforestError, IsolationForest, Matrix};

/// Errors of `score`.
#[derive(Debug, thiserror::Error)]
pub enum ScoreError {
    /// The file could not be read or parsed.
    #[error("{path}: {reason}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// `--id` names a column the file lacks.
    #[error("{path}: no column {id:?} for --id (columns: {columns})")]
    NoIdColumn {
        /// The file.
        path: String,
        /// The asked column.
        id: String,
        /// What the file has.
        columns: String,
    },
    /// No numeric column besides the id.
    #[error("{path}: no numeric column to use as a feature (columns: {columns})")]
    NoFeatures {
        /// The file.
        path: String,
        /// What the file has.
        columns: String,
    },
    /// Every row has a missing or non-finite feature.
    #[error("{path}: all {rows} row(s) have an empty, NaN or infinite feature; nothing to fit on")]
    NothingToFit {
        /// The file.
        path: String,
        /// Rows read.
        rows: usize,
    },
    /// The forest refused.
    #[error(transparent)]
    Forest(#[from] IforestError),
}

/// What `score` produced.
#[derive(Debug, Clone)]
pub struct ScoreReport {
    /// The output CSV.
    pub csv: String,
    /// Feature columns used, in order.
    pub features: Vec<String>,
    /// Columns ignored (not numeric).
    pub ignored: Vec<String>,
    /// Rows read.
    pub rows: usize,
    /// Rows not scored (an empty, NaN or infinite feature).
    pub skipped: usize,
    /// Rows scored below the offset.
    pub anomalies: usize,
    /// The forest's offset.
    pub offset: f64,
    /// ψ, rows per tree.
    pub max_samples: usize,
    /// Milliseconds to fit the forest.
    pub fit_ms: f64,
    /// Milliseconds to score the rows.
    pub score_ms: f64,
}

impl ScoreReport {
    /// The summary for standard error.
    pub fn summary_text(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "isolation forest: {} row(s), {} feature(s) ({}), ψ = {}, offset {:.4}: {} anomalous",
            self.rows,
            self.features.len(),
            self.features.join(", "),
            self.max_samples,
            self.offset,
            self.anomalies
        );
        let _ = writeln!(s, "timings: fit {:.1} ms, score {:.1} ms", self.fit_ms, self.score_ms);
        if self.skipped > 0 {
            let _ = writeln!(s, "warning: {} row(s) not scored: an empty, NaN or infinite feature", self.skipped);
        }
        if !self.ignored.is_empty() {
            let _ = writeln!(s, "ignored (not numeric): {}", self.ignored.join(", "));
        }
        s
    }
}

/// Reads a Parquet (`.parquet`, `.parq`) or CSV file (header row, schema inferred) into batches.
pub fn read_table(path: &Path) -> Result<Vec<RecordBatch>, ScoreError> {
    let err = |reason: String| ScoreError::Read {
        path: path.display().to_string(),
        reason,
    };
    let file = std::fs::File::open(path).map_err(|e| err(e.to_string()))?;
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
    if ext == "parquet" || ext == "parq" {
        let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
            .map_err(|e| err(e.to_string()))?
            .build()
            .map_err(|e| err(e.to_string()))?;
        reader.collect::<Result<Vec<_>, _>>().map_err(|e| err(e.to_string()))
    } else {
        use std::io::Seek;
        let mut file = file;
        let format = arrow::csv::reader::Format::default().with_header(true);
        let (schema, _) = format.infer_schema(&mut file, Some(10_000)).map_err(|e| err(e.to_string()))?;
        file.rewind().map_err(|e| err(e.to_string()))?;
        let reader = arrow::csv::ReaderBuilder::new(Arc::new(schema))
            .with_format(format)
            .build(file)
            .map_err(|e| err(e.to_string()))?;
        reader.collect::<Result<Vec<_>, _>>().map_err(|e| err(e.to_string()))
    }
}

fn numeric(t: &DataType) -> bool {
    t.is_numeric()
}

/// Scores the rows of `batches` (read from `path`, named in errors).
pub fn score_batches(batches: &[RecordBatch], path: &str, id: Option<&str>, cfg: &IforestConfig) -> Result<ScoreReport, ScoreError> {
    let schema: Arc<Schema> = match batches.first() {
        Some(b) => b.schema(),
        None => Arc::new(Schema::empty()),
    };
    let columns = schema.fields().iter().map(|f| f.name().as_str()).collect::<Vec<_>>().join(", ");
    if let Some(id) = id {
        if schema.index_of(id).is_err() {
            return Err(ScoreError::NoIdColumn {
                path: path.into(),
                id: id.into(),
                columns,
            });
        }
    }
    let (mut features, mut ignored) = (Vec::new(), Vec::new());
    for f in schema.fields() {
        if Some(f.name().as_str()) == id {
            continue;
        }
        if numeric(f.data_type()) {
            features.push(f.name().clone());
        } else {
            ignored.push(f.name().clone());
        }
    }
    if features.is_empty() {
        return Err(ScoreError::NoFeatures {
            path: path.into(),
            columns,
        });
    }
    let d = features.len();
    // Per input row: its id, and the first feature that is empty, NaN or infinite (None: scored).
    let (mut data, mut ids, mut bad) = (Vec::new(), Vec::new(), Vec::<Option<usize>>::new());
    let mut row = Vec::with_capacity(d);
    for b in batches {
        let cols = features
            .iter()
            .map(|n| {
                let c = b.column(b.schema().index_of(n).expect("same schema"));
                arrow::compute::cast(c, &DataType::Float64).map_err(|e| ScoreError::Read {
                    path: path.into(),
                    reason: format!("{n}: {e}"),
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let id_col = match id {
            Some(n) => Some(
                arrow::compute::cast(b.column(b.schema().index_of(n).expect("checked")), &DataType::Utf8).map_err(|e| {
                    ScoreError::Read {
                        path: path.into(),
                        reason: format!("{n}: {e}"),
                    }
                })?,
            ),
            None => None,
        };
        for r in 0..b.num_rows() {
            row.clear();
            row.extend(cols.iter().map(|c| {
                let c = c.as_primitive::<Float64Type>();
                if c.is_valid(r) {
                    c.value(r)
                } else {
                    f64::NAN
                }
            }));
            ids.push(match &id_col {
                Some(c) if c.is_valid(r) => c.as_string::<i32>().value(r).to_string(),
                Some(_) => String::new(),
                None => bad.len().to_string(),
            });
            let first_bad = row.iter().position(|v| !v.is_finite());
            if first_bad.is_none() {
                data.extend_from_slice(&row);
            }
            bad.push(first_bad);
        }
    }
    let rows = bad.len();
    let scored = bad.iter().filter(|b| b.is_none()).count();
    if scored == 0 {
        return Err(ScoreError::NothingToFit { path: path.into(), rows });
    }
    let m = Matrix::new(data, d)?;
    let t = std::time::Instant::now();
    let forest = IsolationForest::fit(&m, cfg)?;
    let fit_ms = t.elapsed().as_secs_f64() * 1e3;
    let t = std::time::Instant::now();
    let scores = forest.score_samples(&m)?;
    let score_ms = t.elapsed().as_secs_f64() * 1e3;
    // Rank 1 = lowest score; ties share the better rank's order by input position.
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]).then(a.cmp(&b)));
    let mut rank = vec![0usize; scores.len()];
    for (r, &i) in order.iter().enumerate() {
        rank[i] = r + 1;
    }
    let mut csv = csv_field(id.unwrap_or("row"));
    csv.push_str(",score,anomaly_score,rank,anomaly,skipped\n");
    let (mut k, mut anomalies) = (0usize, 0usize);
    for (i, first_bad) in bad.iter().enumerate() {
        csv.push_str(&csv_field(&ids[i]));
        if let Some(j) = first_bad {
            let _ = writeln!(csv, ",,,,,{}", csv_field(&format!("{}: empty, NaN or infinite", features[*j])));
        } else {
            let s = scores[k];
            let a = s < forest.offset();
            anomalies += usize::from(a);
            let _ = writeln!(csv, ",{s:.10},{:.10},{},{a},", -s, rank[k]);
            k += 1;
        }
    }
    if rows > scored {
        tracing::warn!(
            skipped = rows - scored,
            rows,
            "score: rows with an empty, NaN or infinite feature were not scored"
        );
    }
    Ok(ScoreReport {
        csv,
        features,
        ignored,
        rows,
        skipped: rows - scored,
        anomalies,
        offset: forest.offset(),
        max_samples: forest.max_samples(),
        fit_ms,
        score_ms,
    })
}

/// One CSV field, quoted when it holds a comma, quote or line break.
fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// `lakesight score`: reads `path`, scores it.
pub fn score_file(path: &Path, id: Option<&str>, cfg: &IforestConfig) -> Result<ScoreReport, ScoreError> {
    let batches = read_table(path)?;
    score_batches(&batches, &path.display().to_string(), id, cfg)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn a_csv_is_scored_with_its_id_and_bad_rows_keep_their_place() {
        let dir = tempfile::tempdir().unwrap();
        let mut text = String::from("who,events,night,label\n");
        for i in 0..60 {
            let _ = writeln!(text, "p{i},{},{},benign", 100 + i % 7, i % 3);
        }
        text.push_str("\"evil,role\",100,90,attack\n");
        text.push_str("gap,,1,benign\n");
        text.push_str("nan,NaN,1,benign\n");
        let p = write(dir.path(), "f.csv", &text);
        let r = score_file(&p, Some("who"), &IforestConfig::default()).unwrap();
        assert_eq!(r.features, vec!["events", "night"]);
        assert_eq!(r.ignored, vec!["label"]);
        assert_eq!((r.rows, r.skipped), (63, 2));
        let lines: Vec<&str> = r.csv.lines().collect();
        assert_eq!(lines[0], "who,score,anomaly_score,rank,anomaly,skipped");
        assert_eq!(lines.len(), 64);
        // The night-heavy principal is rank 1 (fields: the quoted id spans two comma pieces) and
        // below the auto offset.
        assert!(lines[61].starts_with("\"evil,role\","), "{}", lines[61]);
        assert_eq!(lines[61].split(',').nth(4), Some("1"), "{}", lines[61]);
        assert!(lines[61].ends_with(",true,"), "{}", lines[61]);
        assert!(lines[62].starts_with("gap,,,,,\"events: empty"), "{}", lines[62]);
        assert!(lines[63].starts_with("nan,,,,,\"events: empty"), "{}", lines[63]);
    }

    #[test]
    fn files_without_features_or_id_are_clear_errors() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(dir.path(), "t.csv", "name,kind\na,b\n");
        assert!(matches!(
            score_file(&p, None, &IforestConfig::default()),
            Err(ScoreError::NoFeatures { .. })
        ));
        let p = write(dir.path(), "n.csv", "x\n1\n2\n");
        let e = score_file(&p, Some("who"), &IforestConfig::default()).unwrap_err();
        assert!(e.to_string().contains("no column \"who\""), "{e}");
        let p = write(dir.path(), "e.csv", "x,y\n1,\n,2\n");
        assert!(matches!(
            score_file(&p, None, &IforestConfig::default()),
            Err(ScoreError::NothingToFit { rows: 2, .. })
        ));
        let missing = dir.path().join("absent.parquet");
        assert!(matches!(
            score_file(&missing, None, &IforestConfig::default()),
            Err(ScoreError::Read { .. })
        ));
    }
}
