//! `lakesight detect --series FILE`: the job's detectors over series from a CSV file, judged the
//! way the nightly run judges a lake's series — cut at the end of each window of `every` buckets,
//! only that window judged — so public labelled series can be scored without a lake.
//!
//! The output is one CSV row per bucket (series, index, timestamp, value, label, and per detector a
//! 0/1 flag and the score of the anomaly that covers the bucket); [`Summary`] counts flags and, when
//! the file has labels, point precision and recall and the share of labelled anomalous stretches
//! (events) with at least one flag. [`DetectFileReport::anomalies`] holds the anomalies themselves
//! (`--format json`: one JSON object per line), each with its stretch, observed and expected values,
//! score, confidence and the detector's evidence.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::detect::{Detector, DetectorConfig};
use crate::series::csv::CsvSeries;
use crate::series::{Bucket, Series};
use crate::stages::series::judge_days;

/// How the file's series are judged.
#[derive(Debug, Clone, Copy)]
pub struct DetectFileOptions {
    /// Bucket semantics (the default periods: 7 for days, 168/24 for hours).
    pub bucket: Bucket,
    /// Buckets judged per cut (24 = every day of an hourly series, 1 = every point).
    pub every: usize,
    /// Buckets of history before the first judged window.
    pub min_history: usize,
    /// What the values are (`--values counts|amounts`; inferred when not said): a CSV of byte sums
    /// is judged by the amount law only when it says so.
    pub values: crate::series::Values,
}

/// Per detector: what it flagged, and how that compares with the labels.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DetectorSummary {
    /// Buckets judged.
    pub judged: usize,
    /// Buckets flagged.
    pub flagged: usize,
    /// Series skipped, by reason.
    pub skipped: BTreeMap<String, usize>,
    /// Flagged and labelled (within judged buckets).
    pub true_positives: usize,
    /// Labelled buckets judged.
    pub labelled: usize,
    /// Labelled stretches (runs of labelled buckets) that start in the judged range.
    pub events: usize,
    /// Of those, stretches with at least one flagged bucket.
    pub events_found: usize,
}

/// What `detect` produced: the CSV text, the anomalies and the summary per detector name.
#[derive(Debug, Clone)]
pub struct DetectFileReport {
    /// The output CSV.
    pub csv: String,
    /// Every anomaly reported, in file order (series, then detector, then position).
    pub anomalies: Vec<serde_json::Value>,
    /// Per detector.
    pub summary: BTreeMap<String, DetectorSummary>,
}

/// The `[detectors]` table of a job file (nothing else of it is needed or checked), or the three
/// detectors with default settings when `text` is `None`.
pub fn detectors_from(text: Option<&str>, path: &str) -> Result<BTreeMap<String, DetectorConfig>, String> {
    let Some(text) = text else {
        let mut m = BTreeMap::new();
        for (name, t) in [("outliers", "seasonal_iqr"), ("changepoints", "cusum"), ("trends", "trend")] {
            let c: DetectorConfig = toml::from_str(&format!("type = \"{t}\"")).map_err(|e| e.to_string())?;
            m.insert(name.to_string(), c);
        }
        return Ok(m);
    };
    let v: toml::Value = toml::from_str(text).map_err(|e| format!("{path}: {e}"))?;
    let table = v.get("detectors").cloned().ok_or_else(|| format!("{path}: no [detectors] table"))?;
    let m: BTreeMap<String, DetectorConfig> = table.try_into().map_err(|e| format!("{path}: [detectors]: {e}"))?;
    let mut errs = Vec::new();
    for (name, d) in &m {
        errs.extend(d.validate().into_iter().map(|e| format!("detectors.{name}.{e}")));
    }
    if errs.is_empty() {
        Ok(m)
    } else {
        Err(format!("{path}: {}", errs.join("; ")))
    }
}

/// Judge every series of the file with every detector.
pub fn detect_file(series: &[CsvSeries], detectors: &BTreeMap<String, DetectorConfig>, opts: DetectFileOptions) -> DetectFileReport {
    let every = opts.every.max(1);
    let built: Vec<(String, Box<dyn Detector>)> = detectors.iter().map(|(n, c)| (n.clone(), c.build(n))).collect();
    let mut summary: BTreeMap<String, DetectorSummary> = built.iter().map(|(n, _)| (n.clone(), DetectorSummary::default())).collect();
    let mut anomalies = Vec::new();
    let mut csv = String::from("series,index,timestamp,value,label");
    for (n, _) in &built {
        let _ = write!(csv, ",{n},{n}_score");
    }
    csv.push('\n');
    for cs in series {
        let n = cs.values.len();
        let first = opts.min_history.min(n);
        let windows: Vec<std::ops::Range<usize>> = (first..n).step_by(every).map(|a| a..(a + every).min(n)).collect();
        let s = Series {
            key: vec![Some(cs.name.clone())],
            start_ms: 0,
            values: cs.values.clone(),
        };
        // Per detector: the flag score of each bucket (NaN = not flagged).
        let mut flags: Vec<Vec<f64>> = Vec::new();
        for (name, det) in &built {
            let mut f = vec![f64::NAN; n];
            let st = summary.entry(name.clone()).or_default();
            match judge_days(det.as_ref(), &s, &windows, &[], opts.bucket, opts.min_history, false, opts.values) {
                Ok(found) => {
                    for a in det.select(found.into_iter().map(|a| (0, a)).collect(), 1) {
                        let last = a.1.end.min(n).max(a.1.start + 1) - 1;
                        anomalies.push(serde_json::json!({
                            "series": cs.name,
                            "detector": name,
                            "kind": a.1.kind,
                            "start_index": a.1.start,
                            "end_index": a.1.end,
                            "start": cs.timestamps.get(a.1.start),
                            "end": cs.timestamps.get(last),
                            "observed": a.1.observed,
                            "expected": a.1.expected,
                            "lower": a.1.lower,
                            "upper": a.1.upper,
                            "score": a.1.score,
                            "confidence": a.1.confidence,
                            "deviation": a.1.deviation,
                            "labelled": cs.labels.as_ref().map(|l| (a.1.start..a.1.end.min(n)).any(|i| l[i])),
                            "details": a.1.details(),
                        }));
                        for i in a.1.start..a.1.end.min(n) {
                            if f[i].is_nan() || a.1.score > f[i] {
                                f[i] = a.1.score;
                            }
                        }
                    }
                }
                Err(reason) => {
                    let k = reason.name();
                    *st.skipped.entry(k).or_default() += 1;
                }
            }
            st.judged += n - first;
            st.flagged += f[first..].iter().filter(|v| !v.is_nan()).count();
            if let Some(labels) = &cs.labels {
                st.labelled += labels[first..].iter().filter(|l| **l).count();
                st.true_positives += (first..n).filter(|i| labels[*i] && !f[*i].is_nan()).count();
                let mut i = first;
                while i < n {
                    if labels[i] && (i == 0 || !labels[i - 1] || i == first) {
                        let mut j = i;
                        while j < n && labels[j] {
                            j += 1;
                        }
                        st.events += 1;
                        if (i..j).any(|k| !f[k].is_nan()) {
                            st.events_found += 1;
                        }
                        i = j;
                    } else {
                        i += 1;
                    }
                }
            }
            flags.push(f);
        }
        for i in 0..n {
            let label = match &cs.labels {
                Some(l) => (l[i] as u8).to_string(),
                None => String::new(),
            };
            let _ = write!(
                csv,
                "{},{i},{},{},{label}",
                csv_field(&cs.name),
                csv_field(&cs.timestamps[i]),
                cs.values[i]
            );
            for f in &flags {
                if f[i].is_nan() {
                    csv.push_str(",0,");
                } else {
                    let _ = write!(csv, ",1,{}", f[i]);
                }
            }
            csv.push('\n');
        }
    }
    DetectFileReport { csv, anomalies, summary }
}

/// Quote a CSV field when it needs it.
fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

impl DetectFileReport {
    /// The anomalies as JSON lines (`--format json`).
    pub fn json_lines(&self) -> String {
        self.anomalies.iter().map(|a| format!("{a}\n")).collect()
    }

    /// The summary as text for people (one line per detector).
    pub fn summary_text(&self) -> String {
        let mut s = String::new();
        for (name, d) in &self.summary {
            let _ = write!(s, "{name}: {} of {} judged buckets flagged", d.flagged, d.judged);
            if d.labelled > 0 || d.events > 0 {
                let precision = if d.flagged > 0 {
                    d.true_positives as f64 / d.flagged as f64
                } else {
                    f64::NAN
                };
                let recall = if d.labelled > 0 {
                    d.true_positives as f64 / d.labelled as f64
                } else {
                    f64::NAN
                };
                let _ = write!(
                    s,
                    "; point precision {precision:.3}, point recall {recall:.3}; events found {} of {}",
                    d.events_found, d.events
                );
            }
            if !d.skipped.is_empty() {
                let _ = write!(s, "; series skipped {:?}", d.skipped);
            }
            s.push('\n');
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::series::csv::parse;

    /// A daily series with a weekly rhythm and one labelled spike on day 40: the default outlier
    /// detector flags exactly that day when each day is judged on the series cut at it, and the
    /// summary counts it as a true positive and a found event.
    #[test]
    fn a_labelled_spike_is_flagged_and_scored() {
        let mut text = String::from("timestamp,value,label\n");
        for i in 0..60 {
            let v = 100.0 + 20.0 * ((i % 7) as f64) + ((i * 7919) % 5) as f64;
            let (v, l) = if i == 40 { (v + 400.0, 1) } else { (v, 0) };
            text.push_str(&format!("d{i},{v},{l}\n"));
        }
        let series = parse(&text, "t.csv").unwrap();
        let dets = detectors_from(Some("[detectors.o]\ntype = \"seasonal_iqr\"\n"), "job").unwrap();
        let r = detect_file(&series, &dets, every_day(crate::series::Values::Infer));
        let s = &r.summary["o"];
        assert_eq!((s.judged, s.flagged, s.true_positives), (39, 1, 1), "{s:?}\n{}", r.csv);
        assert_eq!((s.events, s.events_found), (1, 1));
        let row = r.csv.lines().find(|l| l.starts_with(",40,d40,")).unwrap();
        assert!(row.contains(",1,1,"), "{row}");
        assert!(r.summary_text().contains("point precision 1.000"), "{}", r.summary_text());
        // The same anomaly as a JSON line: where, what was expected, its score and label.
        let lines: Vec<serde_json::Value> = r.json_lines().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(lines.len(), 1, "{lines:?}");
        let a = &lines[0];
        assert_eq!(
            (a["detector"].as_str(), a["start_index"].as_u64(), a["start"].as_str()),
            (Some("o"), Some(40), Some("d40"))
        );
        assert_eq!(a["labelled"], true);
        assert!(a["observed"].as_f64().unwrap() > a["upper"].as_f64().unwrap(), "{a}");
        let flag_score: f64 = row.split(',').nth(6).unwrap().parse().unwrap();
        assert_eq!(a["score"].as_f64(), Some(flag_score));
    }

    /// Proves `values` reaches the detector: daily byte sums that range over 100× (1 kB, 10 kB,
    /// 100 kB days) and then a 1 MB day. Judged as counts, the negative binomial calls 1 MB
    /// improbable and the day is flagged; declared amounts, 1 MB is within the series' spread on
    /// the log scale and nothing is flagged.
    #[test]
    fn declared_amounts_are_judged_on_the_log_scale() {
        let mut text = String::from("timestamp,value\n");
        for i in 0..50 {
            let v = if i == 45 {
                1_000_000.0
            } else {
                [1_000.0, 10_000.0, 100_000.0][i % 3]
            };
            text.push_str(&format!("d{i},{v}\n"));
        }
        let series = parse(&text, "bytes.csv").unwrap();
        let dets = detectors_from(Some("[detectors.o]\ntype = \"seasonal_iqr\"\n"), "job").unwrap();
        let run = |values| detect_file(&series, &dets, every_day(values));
        let counts = run(crate::series::Values::Infer);
        assert_eq!(counts.summary["o"].flagged, 1, "{:?}\n{}", counts.summary["o"], counts.csv);
        let amounts = run(crate::series::Values::Amounts);
        assert_eq!(amounts.summary["o"].flagged, 0, "{:?}\n{}", amounts.summary["o"], amounts.csv);
    }

    /// Daily buckets, every day judged after three weeks of history.
    fn every_day(values: crate::series::Values) -> DetectFileOptions {
        DetectFileOptions {
            bucket: Bucket::Day,
            every: 1,
            min_history: 21,
            values,
        }
    }

    #[test]
    fn detector_tables_are_checked() {
        assert!(detectors_from(Some("[job]\nname = \"x\"\n"), "j")
            .unwrap_err()
            .contains("no [detectors]"));
        let e = detectors_from(Some("[detectors.o]\ntype = \"seasonal_iqr\"\niqr_mult = -1\n"), "j").unwrap_err();
        assert!(e.contains("detectors.o."), "{e}");
        assert_eq!(detectors_from(None, "").unwrap().len(), 3);
    }
}
