//! Exfiltration hunt (`[hunts.exfiltration]`, T1048/T1041): bytes from private sources to
//! external, non-allow-listed destinations, judged two ways against the source's own history.
//!
//! * **Daily**: the source's external bytes of the day to addresses already in use (bytes to a
//!   new address are the second rule's) against its usual day (robust z of
//!   ln(1 + bytes) over the baseline days, at least `min_ratio` × its 90th-percentile day — daily bytes are heavy-tailed,
//!   one large download makes a small host's day — and above the absolute floor `min_bytes` so a
//!   host that usually sends nothing does not raise a finding for a few kilobytes).
//! * **To a new destination**: the bytes a source sent over the trailing `slow_days` to one
//!   address no host used before them (and at most `max_sources` since), in usual days (its
//!   median day of the daily rule's bytes). Sums to never-seen addresses are everyday traffic —
//!   CDN and SaaS addresses rotate, vendors get first uploads — so the line is the fleet's own:
//!   each night takes the largest such sum of every judged baseline host-day, fits [`TailLaw`]
//!   (empirical within the data, a Hill-fitted Pareto tail beyond it) and calls a sum a finding
//!   when the fleet reaches it with probability under `false_findings_per_1000`/1000, at least
//!   `slow_ratio` usual days and the floor. Where the baseline holds too few such sums to fit a
//!   tail (more than `TAIL_FIT_MIN`, or 2% of its host-days, are needed — a floor most hosts'
//!   days never reach, as the demo job's on the sample world), the fixed rule alone decides: at
//!   least `slow_ratio` usual days and the floor; an empirical tail from a handful of values,
//!   one of them an earlier attack, would hide every later one smaller than it. One large
//!   transfer in an hour and a low-and-slow one over several days (each day unremarkable) are
//!   the same question; a sum is reported on the first day it is a finding, not again while it
//!   grows. The score is −log10 of the tail either way.
//!
//! Nightly backups to S3 or a partner are not flagged: list their ranges in `hunts.allow_cidrs`,
//! and even unlisted they are the source's usual days and an old destination.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use serde::{Deserialize, Serialize};

use super::hunt::{bytes, daily_plot, flow_edges_schema, flows_sql, read_edges, Hit, Hunt, HuntContext, HuntOutcome, Name, FLOW_EDGES};
use crate::detect::net::{median, AddrClass};
use crate::detect::stats::TailLaw;

/// Detector name.
pub const DETECTOR: &str = "exfiltration";

/// `[hunts.exfiltration]`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ExfilJob {
    /// Absolute floor, bytes: a day (or a low-and-slow sum) below it is never a finding.
    pub min_bytes: f64,
    /// Daily: at least this many times the source's 90th-percentile baseline day.
    pub min_ratio: f64,
    /// Daily: at least this robust z of ln(1 + bytes) over the baseline days.
    pub min_z: f64,
    /// To a new destination: the trailing days summed (one transfer, or a low-and-slow one).
    pub slow_days: u32,
    /// To a new destination: the sum reaches at least this many usual days (and the fleet's
    /// law calls it rare).
    pub slow_ratio: f64,
    /// To a new destination: it is used by at most this many sources in the window.
    pub max_sources: usize,
    /// Fewer history days than this since the source first appeared: not judged.
    pub min_history_days: u32,
    /// To a new destination: a sum is a finding when the fleet's baseline host-days reach it
    /// with a probability under this per 1,000 (the expected false findings per 1,000 host-days).
    pub false_findings_per_1000: f64,
}

impl Default for ExfilJob {
    fn default() -> Self {
        ExfilJob {
            min_bytes: 10e6,
            min_ratio: 3.0,
            min_z: 4.0,
            slow_days: 7,
            slow_ratio: 1.0,
            max_sources: 1,
            min_history_days: 5,
            false_findings_per_1000: 1.0,
        }
    }
}

impl ExfilJob {
    /// Every problem, each naming its field.
    pub fn validate(&self) -> Vec<String> {
        let mut e = Vec::new();
        let p = "hunts.exfiltration";
        if !(self.min_bytes >= 0.0 && self.min_bytes.is_finite()) {
            e.push(format!("{p}.min_bytes: must be a finite number ≥ 0, got {}", self.min_bytes));
        }
        if !(self.min_ratio >= 1.0 && self.min_ratio.is_finite()) {
            e.push(format!("{p}.min_ratio: must be ≥ 1, got {}", self.min_ratio));
        }
        if !(self.min_z > 0.0 && self.min_z.is_finite()) {
            e.push(format!("{p}.min_z: must be > 0, got {}", self.min_z));
        }
        if self.slow_days < 2 {
            e.push(format!("{p}.slow_days: must be at least 2, got {}", self.slow_days));
        }
        if !(self.slow_ratio > 0.0 && self.slow_ratio.is_finite()) {
            e.push(format!("{p}.slow_ratio: must be > 0, got {}", self.slow_ratio));
        }
        if !(self.false_findings_per_1000 > 0.0 && self.false_findings_per_1000 <= 1000.0) {
            e.push(format!(
                "{p}.false_findings_per_1000: {} must be within (0, 1000]",
                self.false_findings_per_1000
            ));
        }
        if self.max_sources == 0 {
            e.push(format!("{p}.max_sources: must be at least 1"));
        }
        e
    }
}

/// The hunt.
#[derive(Debug, Clone)]
pub struct Exfiltration(pub ExfilJob);

/// A host-day's sum to a destination new to the fleet.
#[derive(Debug, Clone)]
struct NewDst {
    dst: Name,
    /// First day of the sum.
    from: usize,
    sum: f64,
    /// The source's usual daily external bytes to other addresses.
    usual: f64,
    /// `sum` in usual days.
    ratio: f64,
}

type Src = (Option<Name>, Name);

impl Hunt for Exfiltration {
    fn name(&self) -> &'static str {
        DETECTOR
    }
    fn table(&self) -> (&'static str, &'static str) {
        FLOW_EDGES
    }
    fn schema(&self) -> SchemaRef {
        flow_edges_schema()
    }
    fn unit(&self) -> &'static str {
        "host-days"
    }
    fn techniques(&self) -> &'static [&'static str] {
        &["T1048", "T1041"]
    }

    fn judge(&self, rows: &[RecordBatch], cx: &HuntContext<'_>) -> Result<HuntOutcome, String> {
        let job = &self.0;
        let mut o = HuntOutcome::default();
        let days = cx.days();
        let edges = read_edges(rows, cx)?;
        // Per source: first day seen, external bytes per day, bytes per (destination, day).
        let mut first: HashMap<Src, usize> = HashMap::new();
        let mut instance: HashMap<Src, Name> = HashMap::new();
        let mut ext: HashMap<Src, Vec<f64>> = HashMap::new();
        let mut to: HashMap<Src, BTreeMap<Name, Vec<f64>>> = HashMap::new();
        let mut users: HashMap<Name, BTreeSet<(Src, usize)>> = HashMap::new();
        for e in &edges {
            if cx.nets.class(&e.src_ip) != AddrClass::Internal {
                o.stats.skip(if e.src_ip.is_empty() {
                    "missing source address"
                } else {
                    "source not private"
                });
                continue;
            }
            let k: Src = (e.account.clone(), e.src_ip.clone());
            let f = first.entry(k.clone()).or_insert(e.day);
            *f = (*f).min(e.day);
            if !e.src_instance.is_empty() {
                instance.insert(k.clone(), e.src_instance.clone());
            }
            match cx.nets.class(&e.dst_ip) {
                AddrClass::External => {
                    ext.entry(k.clone()).or_insert_with(|| vec![0.0; days])[e.day] += e.bytes;
                    to.entry(k.clone())
                        .or_default()
                        .entry(e.dst_ip.clone())
                        .or_insert_with(|| vec![0.0; days])[e.day] += e.bytes;
                    users.entry(e.dst_ip.clone()).or_default().insert((k, e.day));
                }
                AddrClass::Allowed => o.stats.skip("allow-listed destination"),
                AddrClass::Invalid => o.stats.skip("malformed destination address"),
                AddrClass::Internal => {}
            }
        }
        let sources_by = |dst: &str, upto: usize| -> usize {
            users
                .get(dst)
                .map(|s| s.iter().filter(|(_, d)| *d <= upto).map(|(k, _)| k).collect::<BTreeSet<_>>().len())
                .unwrap_or(0)
        };
        let mut srcs: Vec<&Src> = first.keys().collect();
        srcs.sort();
        let zero = vec![0.0; days];
        // The fleet's first day with each external destination.
        let first_use: HashMap<&Name, usize> = users
            .iter()
            .filter_map(|(dst, u)| u.iter().map(|(_, d)| *d).min().map(|d| (dst, d)))
            .collect();
        // Bytes to an address new to the fleet are the new-destination rule's: an address the
        // source sends to on day h (from the window's `slow_days + 1`-th day on, two days of fleet
        // history before any sum), which no source used before the trailing `slow_days` and at
        // most `max_sources` use since. The rest of a source's external bytes are its daily
        // series, which the daily rule judges and whose median is the source's usual day.
        let slow = job.slow_days as usize;
        let is_new = |dst: &Name, h: usize| -> bool {
            h > slow && first_use.get(dst).is_none_or(|&u| u + slow > h) && sources_by(dst, h) <= job.max_sources
        };
        let mut daily_ext: HashMap<&Src, Vec<f64>> = HashMap::new();
        for k in &srcs {
            let mut v = ext.get(*k).cloned().unwrap_or_else(|| zero.clone());
            for (dst, s) in to.get(*k).into_iter().flatten() {
                for (h, b) in s.iter().enumerate() {
                    if *b > 0.0 && is_new(dst, h) {
                        v[h] = (v[h] - b).max(0.0);
                    }
                }
            }
            daily_ext.insert(*k, v);
        }
        // Source k's usual day as of day h: the median of its daily series over its history days.
        let usual = |k: &Src, f: usize, h: usize| -> f64 {
            let series = &daily_ext[k];
            median(&cx.history(h).filter(|&x| x >= f).map(|x| series[x]).collect::<Vec<_>>())
        };
        // The first day of a source the rule judges (its history, and the fleet's before a sum),
        // for its sums and for the law's baseline alike.
        let judged_from = |k: &Src| (first[k] + job.min_history_days as usize).max(slow + 1);
        // Every judged host-day's sums to new destinations over the trailing `slow_days`, at
        // least the floor, in usual days.
        let mut new_dsts: HashMap<(Src, usize), Vec<NewDst>> = HashMap::new();
        for k in &srcs {
            let f = first[*k];
            let Some(dests) = to.get(*k) else { continue };
            for h in judged_from(k)..days {
                let from = h + 1 - slow;
                let mut v = Vec::new();
                for (dst, s) in dests {
                    if s[h] <= 0.0 || !is_new(dst, h) {
                        continue;
                    }
                    let sum: f64 = s[from..=h].iter().sum();
                    if sum < job.min_bytes {
                        continue;
                    }
                    let usual = usual(k, f, h);
                    if !(usual >= 0.0) {
                        continue; // no history day (min_history_days = 0 on a host's first day)
                    }
                    v.push(NewDst {
                        dst: dst.clone(),
                        from,
                        sum,
                        usual,
                        ratio: sum / usual.max(1.0),
                    });
                }
                if !v.is_empty() {
                    new_dsts.insert(((*k).clone(), h), v);
                }
            }
        }
        let line = job.false_findings_per_1000 / 1000.0;
        // Where the fleet's baseline holds too few such sums to fit a tail (a floor that most
        // hosts' days never reach), the fixed rule alone: at least `slow_ratio` usual days.
        let fires = |nd: &NewDst, law: &TailLaw| nd.ratio >= job.slow_ratio && (!law.fitted || law.tail(nd.ratio) < line);
        for d in cx.first_eval()..days {
            // The night's law: the largest such sum, in usual days, of every judged host-day of
            // its baseline (0 on a day without one).
            let law = {
                let mut base = Vec::new();
                for k in &srcs {
                    for h in cx.history(d).filter(|&h| h >= judged_from(k)) {
                        let r = new_dsts
                            .get(&((*k).clone(), h))
                            .map(|v| v.iter().map(|n| n.ratio).fold(0.0, f64::max));
                        base.push(r.unwrap_or(0.0));
                    }
                }
                TailLaw::fit(&base)
            };
            let day_ms = cx.day_ms(d);
            let dt = super::day(day_ms);
            let mut judged = 0;
            let mut found = 0;
            for k in &srcs {
                let f = first[*k];
                if d < f + job.min_history_days as usize {
                    continue;
                }
                judged += 1;
                let series = &daily_ext[*k];
                let usual = |d: usize| -> (f64, Vec<f64>) {
                    let hist: Vec<f64> = cx.history(d).filter(|&h| h >= f).map(|h| series[h]).collect();
                    (median(&hist), hist)
                };
                let (med, hist) = usual(d);
                // Heavy-tailed days (one large download makes a small host's day): the ratio is
                // taken to its 90th-percentile day, not its median.
                let high = {
                    let mut s = hist.clone();
                    s.sort_by(f64::total_cmp);
                    if s.is_empty() {
                        0.0
                    } else {
                        crate::detect::stats::np_percentile_sorted(&s, 90.0)
                    }
                };
                let x = series[d];
                // In log space: daily bytes are heavy-tailed, so a small host's spread is judged
                // on its scale (the MAD floored at 0.25, a quarter of an e-fold).
                let z = {
                    let lh: Vec<f64> = hist.iter().map(|v| v.ln_1p()).collect();
                    let m = median(&lh);
                    let dev: Vec<f64> = lh.iter().map(|v| (v - m).abs()).collect();
                    let mad = (1.4826 * median(&dev)).max(0.25);
                    if lh.is_empty() {
                        f64::NAN
                    } else {
                        (x.ln_1p() - m) / mad
                    }
                };
                let (acct, src): (Option<String>, String) = (k.0.as_deref().map(str::to_string), k.1.to_string());
                let inst: String = instance.get(*k).map(|i| i.to_string()).unwrap_or_default();
                let keys = serde_json::json!({"accountid": acct, "src_ip": src, "src_instance": inst});
                let dests = to.get(*k);
                let top_dsts = |d: usize, n: usize| -> Vec<(String, f64)> {
                    let mut v: Vec<(String, f64)> = dests
                        .map(|m| m.iter().map(|(ip, s)| (ip.to_string(), s[d])).filter(|(_, b)| *b > 0.0).collect())
                        .unwrap_or_default();
                    v.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
                    v.truncate(n);
                    v
                };
                if x >= job.min_bytes && x >= job.min_ratio * high.max(1.0) && z >= job.min_z {
                    let top = top_dsts(d, 10);
                    // 0.4 at the edge, up with the ratio (full at 3× the minimum) and the z (full at 3× the minimum).
                    let ratio = x / med.max(1.0);
                    let score = (0.4
                        + 0.3 * (ratio.ln() / (3.0 * job.min_ratio).ln()).clamp(0.0, 1.0)
                        + 0.3 * (z / (3.0 * job.min_z)).clamp(0.0, 1.0))
                    .min(1.0);
                    let hit = Hit {
                        detector: DETECTOR,
                        kind: "exfiltration_day",
                        entity_type: "src_ip",
                        entity: src.clone(),
                        account: acct.clone(),
                        keys: keys.clone(),
                        id_extra: String::new(),
                        day_ms,
                        score,
                        observed: x,
                        expected: med,
                        upper: job.min_ratio * high.max(1.0),
                        title: format!(
                            "{src}{} sent {} to external addresses on {dt}, {:.1}× its usual day",
                            if inst.is_empty() { String::new() } else { format!(" ({inst})") },
                            bytes(x),
                            x / med.max(1.0)
                        ),
                        description: format!(
                            "On {dt}, {src} sent {} to external, non-allow-listed addresses; its usual day over the {} baseline days is {} \
                             (robust z {z:.1}). Largest destinations: {}. Check what the host sent and whether the destinations are its own.",
                            bytes(x),
                            hist.len(),
                            bytes(med),
                            top.iter().map(|(ip, b)| format!("{ip} {}", bytes(*b))).collect::<Vec<_>>().join(", ")
                        ),
                        evidence: serde_json::json!({
                            "bytes": x, "usual_bytes": med, "robust_z": z, "history_days": hist.len(),
                            "destinations": top.iter().map(|(ip, b)| serde_json::json!({"dst_ip": ip, "bytes": b})).collect::<Vec<_>>(),
                            "values_in_window": [x],
                        }),
                        top: vec![serde_json::json!({"name": "external_bytes", "value": x, "baseline": med})],
                        techniques: vec!["T1048", "T1041"],
                        view: "network_activity",
                        investigation_sql: flows_sql(
                            &format!("{src} on {dt}: flows to its largest external destinations"),
                            acct.as_deref(),
                            &src,
                            day_ms,
                            &top.iter().map(|(ip, _)| ip.clone()).collect::<Vec<_>>(),
                            &[],
                        ),
                    };
                    let f = hit.finding(cx.run_id);
                    let plot = daily_plot(
                        &f,
                        "bytes to external addresses",
                        cx,
                        series.clone(),
                        d,
                        job.min_ratio * high.max(1.0),
                    );
                    o.findings.push((f, Some(plot)));
                    found += 1;
                    continue;
                }
                // To a new destination: the sum over the trailing days to one address the fleet
                // never used before them, judged by the fleet's own law of such sums.
                for nd in new_dsts.get(&((*k).clone(), d)).into_iter().flatten() {
                    let p = law.tail(nd.ratio);
                    if !fires(nd, &law) {
                        continue;
                    }
                    // Reported once: not again while the same sum keeps growing.
                    let yesterday = d.checked_sub(1).and_then(|y| new_dsts.get(&((*k).clone(), y)));
                    if yesterday.into_iter().flatten().any(|y| y.dst == nd.dst && fires(y, &law)) {
                        continue;
                    }
                    let dst: &str = &nd.dst;
                    let s = &to[*k][&nd.dst];
                    let (from, sum, med_d) = (nd.from, nd.sum, nd.usual);
                    let active: Vec<usize> = (from..=d).filter(|&h| s[h] > 0.0).collect();
                    let surprise = -p.max(f64::MIN_POSITIVE).log10();
                    let hit = Hit {
                        detector: DETECTOR,
                        kind: "exfiltration_new_destination",
                        entity_type: "src_ip",
                        entity: src.clone(),
                        account: acct.clone(),
                        keys: serde_json::json!({"accountid": acct, "src_ip": src, "src_instance": inst, "dst_ip": dst}),
                        id_extra: dst.to_string(),
                        day_ms,
                        // −log10 of the fleet's tail, as the finding's score (× 10 there).
                        score: surprise / 10.0,
                        observed: sum,
                        expected: med_d,
                        upper: law.quantile(line).max(job.slow_ratio) * med_d.max(1.0),
                        title: format!(
                            "{src}{} sent {} over {} day(s) to {dst}, a destination new to the fleet ({:.1} usual days)",
                            if inst.is_empty() { String::new() } else { format!(" ({inst})") },
                            bytes(sum),
                            active.len(),
                            nd.ratio
                        ),
                        description: format!(
                            "Between {} and {dt}, {src} sent {} to {dst} on {} day(s) ({} per day at most); no host used {dst} before. \
                             Its usual day to all external addresses is {}, so this is {:.1} usual days to one new address. Sums to \
                             never-seen destinations are common (CDN and SaaS addresses rotate) but one this large is not: {} of the fleet's \
                             {} baseline host-days reached it (tail P {p:.1e}, line {:.0e}).",
                            super::day(cx.day_ms(from)),
                            bytes(sum),
                            active.len(),
                            bytes(s[from..=d].iter().copied().fold(0.0, f64::max)),
                            bytes(med_d),
                            nd.ratio,
                            law.top.partition_point(|v| *v >= nd.ratio),
                            law.n,
                            line
                        ),
                        evidence: serde_json::json!({
                            "dst_ip": dst, "bytes_sum": sum, "days": active.len(), "usual_daily_bytes": med_d,
                            "usual_days": nd.ratio, "tail_p": p,
                            "fleet_law": {"host_days": law.n, "tail_index": law.alpha, "tail_from_usual_days": law.threshold,
                                          "tail_share": law.threshold_share, "line": line},
                            "bytes_per_day": (from..=d).map(|h| serde_json::json!({"day": super::day(cx.day_ms(h)), "bytes": s[h]})).collect::<Vec<_>>(),
                            "values_in_window": [s[d]],
                        }),
                        top: vec![
                            serde_json::json!({"name": "bytes_to_new_destination", "value": sum, "baseline": med_d}),
                            serde_json::json!({"name": "days_active", "value": active.len(), "baseline": 0}),
                        ],
                        techniques: vec!["T1048", "T1041"],
                        view: "network_activity",
                        investigation_sql: flows_sql(
                            &format!("{src} on {dt}: flows to {dst} (also run for the days before)"),
                            acct.as_deref(),
                            &src,
                            day_ms,
                            &[dst.to_string()],
                            &[],
                        ),
                    };
                    let f = hit.finding(cx.run_id);
                    let plot = daily_plot(&f, &format!("bytes to {dst}"), cx, s.clone(), d, f.upper_bound);
                    o.findings.push((f, Some(plot)));
                    found += 1;
                }
            }
            o.stats.judged.insert(dt.clone(), judged);
            o.stats.findings.insert(dt, found);
        }
        Ok(o)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::stages::hunt::{HuntsJob, DAY_MS};
    use crate::stages::Window;
    use arrow::array::{ArrayRef, Float64Array, Int32Array, StringArray, TimestampNanosecondArray};
    use std::sync::Arc;

    const DAY0: i64 = 1_740_787_200_000; // 2025-03-01

    /// Rows of the flow table: (day, src, dst, port, bytes).
    pub(crate) fn edges(rows: &[(usize, Option<&str>, Option<&str>, Option<i32>, f64)]) -> RecordBatch {
        let s = |f: &dyn Fn(&(usize, Option<&str>, Option<&str>, Option<i32>, f64)) -> Option<String>| -> ArrayRef {
            Arc::new(rows.iter().map(f).collect::<StringArray>())
        };
        RecordBatch::try_new(
            flow_edges_schema(),
            vec![
                s(&|_| Some("111122223333".into())),
                s(&|r| r.1.map(String::from)),
                s(&|_| Some(String::new())),
                s(&|r| r.2.map(String::from)),
                Arc::new(rows.iter().map(|r| r.3).collect::<Int32Array>()),
                Arc::new(
                    rows.iter()
                        .map(|r| Some((DAY0 + r.0 as i64 * DAY_MS) * 1_000_000))
                        .collect::<TimestampNanosecondArray>(),
                ),
                Arc::new(rows.iter().map(|_| Some(10.0)).collect::<Float64Array>()),
                Arc::new(rows.iter().map(|_| Some(10.0)).collect::<Float64Array>()),
                Arc::new(rows.iter().map(|r| Some(r.4)).collect::<Float64Array>()),
            ],
        )
        .unwrap()
    }

    pub(crate) fn window() -> Window {
        Window {
            day0_ms: DAY0,
            eval_ms: DAY0 + 14 * DAY_MS,
            end_ms: DAY0 + 21 * DAY_MS,
            baseline_days: 14,
        }
    }

    fn judge(rows: &[(usize, Option<&str>, Option<&str>, Option<i32>, f64)], job: ExfilJob) -> HuntOutcome {
        let w = window();
        let hj = HuntsJob {
            allow_cidrs: vec!["52.216.0.0/15".into()],
            ..Default::default()
        };
        let cx = HuntContext {
            run_id: "t",
            window: &w,
            job: &hj,
            nets: hj.nets(),
        };
        Exfiltration(job).judge(&[edges(rows)], &cx).unwrap()
    }

    /// An IPv6 host's day at 20× its usual external bytes is found (daily), its nightly backup to
    /// an allow-listed range is not judged, and hostile rows are counted skips, not findings or
    /// panics: a record without addresses (NODATA), a malformed destination, a public source.
    #[test]
    fn a_spike_is_found_and_bad_rows_are_counted() {
        let mut rows = Vec::new();
        for d in 0..21 {
            rows.push((d, Some("fd00::5"), Some("2001:db8::7"), Some(443), if d == 17 { 40e6 } else { 2e6 }));
            rows.push((d, Some("fd00::5"), Some("52.216.40.17"), Some(443), 500e6));
        }
        rows.push((16, None, None, None, 0.0));
        rows.push((16, Some("10.0.0.8"), Some("10.0.0.999"), Some(443), 5.0));
        rows.push((16, Some("8.8.8.8"), Some("10.0.0.8"), Some(443), 5.0));
        let o = judge(&rows, ExfilJob::default());
        assert_eq!(
            o.findings.len(),
            1,
            "{:?}",
            o.findings.iter().map(|f| &f.0.title).collect::<Vec<_>>()
        );
        let f = &o.findings[0].0;
        assert_eq!(
            (f.kind.as_str(), f.entity.as_str(), f.dt.as_str()),
            ("exfiltration_day", "fd00::5", "2025-03-18")
        );
        assert!((f.observed - 40e6).abs() < 1.0 && (f.expected - 2e6).abs() < 1.0, "{f:?}");
        assert_eq!(o.stats.skipped["allow-listed destination"], 21);
        assert_eq!(o.stats.skipped["malformed destination address"], 1);
        assert_eq!(o.stats.skipped["missing source address"], 1);
        assert_eq!(o.stats.skipped["source not private"], 1);
        assert_eq!(
            o.stats.judged.values().sum::<usize>(),
            7,
            "fd00::5 on each of 7 days (10.0.0.8 first seen on day 16)"
        );
    }

    /// A fleet of 40 hosts, each sending 5 MB a day to a shared address; every day eight of them
    /// send a fresh address 0.1–0.7 usual days (CDN rotation), and from `big_from` on, those
    /// sums are 3–5 usual days instead (from day 0: every host's history has such days, so its
    /// daily rule does not fire on them either). Host 10.0.1.5 sends 2 MB a day to one new address on days
    /// 15–19 (0.4 usual days each) and 10.0.1.6 the same to the shared one; 10.0.1.99 appears
    /// on day 12. Without `fresh`, no host sends a new address anything.
    fn fleet(big_from: usize, fresh: bool) -> Vec<(usize, Option<String>, Option<String>, Option<i32>, f64)> {
        let mut rows = Vec::new();
        for d in 0..21 {
            for i in 0..40usize {
                let ip = format!("10.0.1.{}", i + 5);
                rows.push((d, Some(ip.clone()), Some("198.51.100.1".to_string()), Some(443), 5e6));
                if fresh && (i + d) % 5 == 0 {
                    let usual_days = if d >= big_from {
                        3.0 + 0.2 * (i % 10) as f64
                    } else {
                        0.1 + 0.06 * ((i * 7 + d * 3) % 11) as f64
                    };
                    rows.push((d, Some(ip), Some(format!("203.0.{d}.{i}")), Some(443), usual_days * 5e6));
                }
            }
            // A host new on day 12 whose sixth day has 0.3 usual days to a new address (its
            // days before the window of the sum are none: judged on its days since).
            if d >= 12 {
                rows.push((d, Some("10.0.1.99".into()), Some("198.51.100.1".into()), Some(443), 5e6));
            }
            if d == 17 {
                rows.push((d, Some("10.0.1.99".into()), Some("192.0.2.77".into()), Some(443), 1.5e6));
            }
            if (15..20).contains(&d) {
                rows.push((d, Some("10.0.1.5".into()), Some("192.0.2.66".into()), Some(443), 2e6));
                rows.push((d, Some("10.0.1.6".into()), Some("198.51.100.1".into()), Some(443), 2e6));
            }
        }
        rows
    }

    fn judge_fleet(rows: &[(usize, Option<String>, Option<String>, Option<i32>, f64)]) -> HuntOutcome {
        let r: Vec<(usize, Option<&str>, Option<&str>, Option<i32>, f64)> =
            rows.iter().map(|r| (r.0, r.1.as_deref(), r.2.as_deref(), r.3, r.4)).collect();
        judge(
            &r,
            ExfilJob {
                min_bytes: 1e5,
                ..ExfilJob::default()
            },
        )
    }

    /// Proves the fleet's law decides: where new addresses get a fraction of a usual day, five
    /// days of 0.4 usual days to one new address are found once, on the first day the sum is rare
    /// (its tail P under 10⁻³; the sum at least one usual day), not again while it grows, and
    /// nothing else is (the same bytes to the shared address, the fleet's fresh sums, a young
    /// host's small first sum: judged against its days so far, not an empty history). Where the
    /// fleet's new addresses get 3–5 usual days, the same two usual days are ordinary; where no
    /// host sends a new address anything, the fixed rule of one usual day decides.
    #[test]
    fn a_sum_to_a_new_destination_is_judged_by_the_fleets_own_law() {
        let o = judge_fleet(&fleet(usize::MAX, true));
        let got: Vec<(&str, &str)> = o.findings.iter().map(|f| (f.0.entity.as_str(), f.0.kind.as_str())).collect();
        assert_eq!(got, vec![("10.0.1.5", "exfiltration_new_destination")], "{got:?}");
        let f = &o.findings[0].0;
        let ev: serde_json::Value = serde_json::from_str(&f.evidence).unwrap();
        let (p, ratio) = (ev["tail_p"].as_f64().unwrap(), ev["usual_days"].as_f64().unwrap());
        assert!(p < 1e-3 && ratio >= 1.0 && ratio <= 2.0 + 1e-9, "{ev}");
        assert!((f.score - -p.log10()).abs() < 1e-9, "score {} vs P {p}", f.score);
        assert!(f.investigation_sql.contains("dst_ip IN ('192.0.2.66')"));
        let o = judge_fleet(&fleet(0, true));
        assert!(
            o.findings.is_empty(),
            "{:?}",
            o.findings.iter().map(|f| &f.0.title).collect::<Vec<_>>()
        );
        // A fleet that never sends a new address anything gives the law no tail to fit: the fixed
        // rule decides, and the sum is found the day it reaches one usual day (the third).
        let o = judge_fleet(&fleet(usize::MAX, false));
        let got: Vec<(&str, &str)> = o.findings.iter().map(|f| (f.0.entity.as_str(), f.0.dt.as_str())).collect();
        assert_eq!(got, vec![("10.0.1.5", "2025-03-18")], "{got:?}");
    }
}
