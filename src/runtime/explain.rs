//! `lakesight explain FINDING_ID --out DIR`: one finding as an analyst reads it at a terminal —
//! what fired and why (observed vs expected, the features that stood out, the evidence), its
//! ATT&CK mapping, a sparkline of its series and the investigation SQL to paste into Athena.
//!
//! It reads only what a run wrote (the findings table and `series/dt=…/series.json`), from a
//! local folder or `s3://`, so it works on any finding id a run printed without a lake or a rerun.
//! An id may be given as a unique prefix (the summary prints 12 characters).

use arrow::array::RecordBatch;
use serde_json::{Map, Value};

use crate::findings::plot::SeriesSnapshot;
use crate::store::{Location, S3Options};

/// Why a finding could not be explained.
#[derive(Debug, thiserror::Error)]
pub enum ExplainError {
    /// The id is too short to be a prefix worth searching for.
    #[error("finding id {0:?}: give at least 6 hexadecimal characters")]
    BadId(String),
    /// No finding has this id.
    #[error("no finding with id {id:?} under {out} (searched {files} findings files)")]
    NotFound {
        /// The id asked for.
        id: String,
        /// The output searched.
        out: String,
        /// Findings files read.
        files: usize,
    },
    /// The prefix matches more than one finding.
    #[error("finding id {id:?} is ambiguous: {matches} findings start with it ({examples}); give more characters")]
    Ambiguous {
        /// The prefix.
        id: String,
        /// How many findings match.
        matches: usize,
        /// A few of them.
        examples: String,
    },
    /// Reading the output failed.
    #[error(transparent)]
    Read(#[from] crate::store::PutError),
    /// The output URL is not usable.
    #[error(transparent)]
    Url(#[from] crate::store::StoreError),
    /// A findings file could not be decoded.
    #[error("{url}: {source}")]
    Decode {
        /// The file.
        url: String,
        /// Why.
        source: parquet::errors::ParquetError,
    },
    /// Arrow error while turning rows into JSON.
    #[error(transparent)]
    Arrow(#[from] arrow::error::ArrowError),
}

/// One finding as the findings table holds it, and its series when the run kept one.
#[derive(Debug, Clone)]
pub struct Explained {
    /// The findings table's row, column → value (JSON-typed).
    pub row: Map<String, Value>,
    /// Where the row was read from.
    pub file: String,
    /// The finding's series (`None` for runs older than the series files).
    pub series: Option<SeriesSnapshot>,
}

/// Find a finding by id (or unique prefix) in the output at `out`.
pub async fn find(out: &str, s3: &S3Options, id: &str) -> Result<Explained, ExplainError> {
    let id = id.trim().to_ascii_lowercase();
    if id.len() < 6 || !id.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(ExplainError::BadId(id));
    }
    let loc = Location::open(out, s3, false).await?;
    let mut files = 0;
    let mut hits: Vec<(Map<String, Value>, String)> = Vec::new();
    for dt in loc.list_dirs("findings").await? {
        for det in loc.list_dirs(&format!("findings/{dt}")).await? {
            let rel = format!("findings/{dt}/{det}/findings.parquet");
            let Some(bytes) = loc.get_opt(&rel).await? else { continue };
            files += 1;
            let url = loc.url_of(&rel);
            for mut row in rows_with_id(bytes, &url, &id)? {
                row.insert("dt".into(), Value::String(dt.trim_start_matches("dt=").to_string()));
                row.insert("detector".into(), Value::String(det.trim_start_matches("detector=").to_string()));
                hits.push((row, url.clone()));
            }
        }
    }
    // The same finding is one row; several rows with one id would be a sink defect, but a prefix
    // naturally matches several findings.
    let mut ids: Vec<&str> = hits
        .iter()
        .filter_map(|(r, _)| r.get("finding_id").and_then(Value::as_str))
        .collect();
    ids.sort_unstable();
    ids.dedup();
    match ids.len() {
        0 => Err(ExplainError::NotFound {
            id,
            out: loc.url_of(""),
            files,
        }),
        1 => {
            let (row, file) = hits.swap_remove(0);
            let dt = row.get("dt").and_then(Value::as_str).unwrap_or_default().to_string();
            let fid = row.get("finding_id").and_then(Value::as_str).unwrap_or_default().to_string();
            let series = match loc.get_opt(&format!("series/dt={dt}/series.json")).await? {
                Some(b) => serde_json::from_slice::<std::collections::BTreeMap<String, SeriesSnapshot>>(&b)
                    .ok()
                    .and_then(|mut m| m.remove(&fid)),
                None => None,
            };
            Ok(Explained { row, file, series })
        }
        n => Err(ExplainError::Ambiguous {
            id,
            matches: n,
            examples: ids.iter().take(3).copied().collect::<Vec<_>>().join(", "),
        }),
    }
}

/// The rows of a findings Parquet file whose `finding_id` starts with `prefix`, as JSON objects
/// (only those rows are turned into JSON: a run's other findings are filtered out in Arrow).
fn rows_with_id(bytes: bytes::Bytes, url: &str, prefix: &str) -> Result<Vec<Map<String, Value>>, ExplainError> {
    use arrow::array::{AsArray, BooleanArray};
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(bytes)
        .and_then(|b| b.build())
        .map_err(|source| ExplainError::Decode {
            url: url.to_string(),
            source,
        })?;
    let mut w = arrow::json::ArrayWriter::new(Vec::new());
    for b in reader {
        let b: RecordBatch = b?;
        let Some(ids) = b.column_by_name("finding_id").and_then(|c| c.as_string_opt::<i32>()) else {
            continue;
        };
        let keep: BooleanArray = ids.iter().map(|v| Some(v.is_some_and(|v| v.starts_with(prefix)))).collect();
        if keep.true_count() > 0 {
            w.write(&arrow::compute::filter_record_batch(&b, &keep)?)?;
        }
    }
    w.finish()?;
    let buf = w.into_inner();
    if buf.is_empty() {
        return Ok(Vec::new());
    }
    let v: Vec<Map<String, Value>> = serde_json::from_slice(&buf).map_err(|e| arrow::error::ArrowError::JsonError(e.to_string()))?;
    Ok(v)
}

/// Eight-level block sparkline of `values`, resampled to at most `width` characters (each
/// character the maximum of its buckets, so a one-bucket spike stays visible). Non-finite
/// values print as a space.
pub fn sparkline(values: &[f64], width: usize) -> String {
    const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    if values.is_empty() || width == 0 {
        return String::new();
    }
    let per = values.len().div_ceil(width);
    let cells: Vec<f64> = values
        .chunks(per)
        .map(|c| c.iter().copied().filter(|v| v.is_finite()).fold(f64::NAN, f64::max))
        .collect();
    let (lo, hi) = cells
        .iter()
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), v| (l.min(*v), h.max(*v)));
    cells
        .iter()
        .map(|v| {
            if !v.is_finite() {
                ' '
            } else if hi <= lo {
                BARS[0]
            } else {
                BARS[(((v - lo) / (hi - lo)) * 7.0).round().clamp(0.0, 7.0) as usize]
            }
        })
        .collect()
}

/// The text `lakesight explain` prints.
pub fn render(e: &Explained) -> String {
    let s = |k: &str| e.row.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    let n = |k: &str| e.row.get(k).and_then(Value::as_f64);
    let num = |k: &str| n(k).map(crate::detect::fmt_num).unwrap_or_else(|| "—".into());
    let list = |k: &str| match e.row.get(k) {
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(", "),
        _ => String::new(),
    };
    let mut o = String::new();
    let mut line = |t: String| {
        o.push_str(&t);
        o.push('\n');
    };
    line(format!("{}  [{}]", s("title"), s("severity")));
    line(format!(
        "finding {}  detector {} ({})  score {}  confidence {}",
        s("finding_id"),
        s("detector"),
        s("detector_family"),
        num("score"),
        num("confidence")
    ));
    line(format!(
        "{} {}{}  window {} → {}  ({} bucket, series {})",
        s("entity_type"),
        s("entity"),
        match s("account_id").as_str() {
            "" => String::new(),
            a => format!("  account {a}"),
        },
        s("window_start"),
        s("window_end"),
        s("bucket"),
        s("series_family")
    ));
    line(format!(
        "observed {}  expected {}  normal band {} – {}  deviation {}  ({})",
        num("observed"),
        num("expected"),
        num("lower_bound"),
        num("upper_bound"),
        num("deviation"),
        s("kind")
    ));
    match s("status").as_str() {
        "" => {}
        "ongoing" => line(format!(
            "condition {}: ongoing since {} (day {}); its first finding was reported then",
            s("condition_id"),
            s("first_seen"),
            e.row.get("condition_days").and_then(Value::as_i64).unwrap_or(0)
        )),
        st => line(format!("condition {}: {st} (its first finding)", s("condition_id"))),
    }
    line(String::new());
    line(format!("Why: {}", s("description")));
    if let Ok(Value::Array(feats)) = serde_json::from_str::<Value>(&s("top_features")) {
        if !feats.is_empty() {
            line("Features that stood out:".into());
            for f in feats {
                let name = f.get("name").and_then(Value::as_str).unwrap_or("?");
                let val = f
                    .get("value")
                    .and_then(Value::as_f64)
                    .map(crate::detect::fmt_num)
                    .unwrap_or_default();
                let base = f.get("baseline").and_then(Value::as_f64).map(crate::detect::fmt_num);
                line(match base {
                    Some(b) => format!("  {name}: {val} (usual {b})"),
                    None => format!("  {name}: {val}"),
                });
            }
        }
    }
    let techniques = list("mitre_techniques");
    if !techniques.is_empty() {
        line(format!("ATT&CK: {techniques}  ({})", list("mitre_tactics")));
    }
    line(String::new());
    match &e.series {
        Some(sr) => {
            let width = 72;
            line(format!(
                "{} per {} ({} buckets; finding's window marked ^):",
                sr.measure,
                s("bucket"),
                sr.values.len()
            ));
            let spark = sparkline(&sr.values, width);
            let per = sr.values.len().div_ceil(width).max(1);
            let marks: String = (0..spark.chars().count())
                .map(|c| {
                    let (a, b) = (c * per, (c + 1) * per);
                    if a < sr.window.1 && b > sr.window.0 {
                        '^'
                    } else {
                        ' '
                    }
                })
                .collect();
            let (lo, hi) = sr
                .values
                .iter()
                .filter(|v| v.is_finite())
                .fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), v| (l.min(*v), h.max(*v)));
            line(format!(
                "  {spark}  {} – {}",
                crate::detect::fmt_num(lo),
                crate::detect::fmt_num(hi)
            ));
            line(format!("  {}", marks.trim_end()));
        }
        None => line("(no series kept for this finding)".into()),
    }
    line(String::new());
    line("Evidence:".into());
    let ev = s("evidence");
    let pretty = serde_json::from_str::<Value>(&ev)
        .ok()
        .and_then(|v| serde_json::to_string_pretty(&v).ok())
        .unwrap_or(ev);
    for l in pretty.lines() {
        line(format!("  {l}"));
    }
    line(String::new());
    line("Investigation SQL (Athena and `lakesight query`):".into());
    line(s("investigation_sql"));
    if !s("plot").is_empty() {
        line(format!("\nPlot: {}", s("plot")));
    }
    line(format!("Read from {}", e.file));
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sparkline_keeps_a_one_bucket_spike_when_it_resamples() {
        let mut v = vec![1.0; 300];
        v[151] = 50.0;
        let s = sparkline(&v, 60);
        assert_eq!(s.chars().count(), 60);
        // 300 buckets → 5 per character: the spike's character (index 30) is the only full bar.
        let full: Vec<usize> = s.chars().enumerate().filter(|(_, c)| *c == '█').map(|(i, _)| i).collect();
        assert_eq!(full, vec![30]);
        assert!(s.chars().filter(|c| *c == '▁').count() == 59);
    }

    #[test]
    fn a_flat_or_partly_missing_series_does_not_divide_by_zero() {
        assert_eq!(sparkline(&[2.0, 2.0, 2.0], 10), "▁▁▁");
        assert_eq!(sparkline(&[0.0, f64::NAN, 7.0], 10), "▁ █");
        assert_eq!(sparkline(&[], 10), "");
    }
}
