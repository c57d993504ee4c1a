//! Beaconing hunt (`[hunts.beaconing]`, T1071.001): a private source that connects to one external,
//! non-allow-listed address and port at regular times through the day — command-and-control
//! check-ins — hidden among a busy host's traffic.
//!
//! Per (source, destination, port) and day, from the connection start times
//! (`queries/hunts/beacon_pairs.sql`): enough accepted flows (`min_flows`), spread over at least
//! `min_span_hours`, a period of at least `min_period_s`, and a regularity
//! ([`crate::detect::net::regularity`]: gap dispersion for sleep loops, a periodogram near the
//! median gap that tolerates jitter and missed beats) of at least `min_regularity`. The
//! destination must be rare across the fleet: used by at most `max_sources` sources over the
//! baseline and the day (a SaaS agent every host polls every minute is regular too, and common).
//! Payload-size regularity is reported and adds to the score.
//!
//! Reported on the first day a pair meets the conditions (not again while it keeps beaconing).
//! NTP and health checks go to link-local, internal or AWS addresses: inside or allow-listed, so
//! never judged.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use arrow::array::{Array, AsArray};
use arrow::datatypes::{DataType, Field, Int64Type, Schema, SchemaRef, TimeUnit};
use arrow::record_batch::RecordBatch;
use serde::{Deserialize, Serialize};

use super::hunt::{col_day_ms, col_f64, col_i32, col_str, daily_plot, flows_sql, intern, Hit, Hunt, HuntContext, HuntOutcome, Name};
use crate::detect::net::{regularity, AddrClass, Regularity};

/// Detector name.
pub const DETECTOR: &str = "beaconing";

const TABLE: (&str, &str) = ("beacon_pairs", include_str!("../../queries/hunts/beacon_pairs.sql"));

/// `[hunts.beaconing]`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct BeaconJob {
    /// Accepted flows a pair needs in the day.
    pub min_flows: usize,
    /// Regularity a pair needs (0..1).
    pub min_regularity: f64,
    /// Hours from first to last connection at least.
    pub min_span_hours: f64,
    /// Shortest period, seconds (faster is a transfer or a retry loop, not a check-in).
    pub min_period_s: f64,
    /// Sources that may use the destination (over the baseline and the day) for it to be rare.
    pub max_sources: usize,
}

impl Default for BeaconJob {
    fn default() -> Self {
        BeaconJob {
            min_flows: 24,
            min_regularity: 0.5,
            min_span_hours: 4.0,
            min_period_s: 10.0,
            max_sources: 1,
        }
    }
}

impl BeaconJob {
    /// Every problem, each naming its field.
    pub fn validate(&self) -> Vec<String> {
        let mut e = Vec::new();
        let p = "hunts.beaconing";
        if self.min_flows < 4 {
            e.push(format!(
                "{p}.min_flows: must be at least 4 (the table keeps pairs with 4 or more), got {}",
                self.min_flows
            ));
        }
        if !(self.min_regularity > 0.0 && self.min_regularity <= 1.0) {
            e.push(format!("{p}.min_regularity: must be in (0, 1], got {}", self.min_regularity));
        }
        if !(self.min_span_hours >= 0.0 && self.min_span_hours <= 24.0) {
            e.push(format!("{p}.min_span_hours: must be in [0, 24], got {}", self.min_span_hours));
        }
        if !(self.min_period_s >= 1.0 && self.min_period_s.is_finite()) {
            e.push(format!("{p}.min_period_s: must be at least 1, got {}", self.min_period_s));
        }
        if self.max_sources == 0 {
            e.push(format!("{p}.max_sources: must be at least 1"));
        }
        e
    }
}

/// The hunt.
#[derive(Debug, Clone)]
pub struct Beaconing(pub BeaconJob);

/// Stored shape of the table.
pub fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("accountid", DataType::Utf8, true),
        Field::new("src_ip", DataType::Utf8, true),
        Field::new("src_instance", DataType::Utf8, true),
        Field::new("dst_ip", DataType::Utf8, true),
        Field::new("dst_port", DataType::Int32, true),
        Field::new("bucket_start", DataType::Timestamp(TimeUnit::Nanosecond, None), true),
        Field::new("flows", DataType::Float64, true),
        Field::new("bytes_mean", DataType::Float64, true),
        Field::new("bytes_sd", DataType::Float64, true),
        Field::new(
            "times",
            DataType::List(Arc::new(Field::new_list_field(DataType::Int64, true))),
            true,
        ),
    ]))
}

struct Pair {
    /// Connection start times: kept only for the days judged and the day before each (a
    /// baseline day needs only its count; a 30-day window of them held GBs on a big day).
    times: Vec<i64>,
    /// Connections that day.
    n: usize,
    bytes_mean: f64,
    bytes_sd: f64,
}

type Key = (Option<Name>, Name, Name, i32);

impl Hunt for Beaconing {
    fn name(&self) -> &'static str {
        DETECTOR
    }
    fn table(&self) -> (&'static str, &'static str) {
        TABLE
    }
    fn schema(&self) -> SchemaRef {
        schema()
    }
    fn unit(&self) -> &'static str {
        "host-days"
    }
    fn techniques(&self) -> &'static [&'static str] {
        &["T1071.001"]
    }

    fn judge(&self, rows: &[RecordBatch], cx: &HuntContext<'_>) -> Result<HuntOutcome, String> {
        let job = &self.0;
        let mut o = HuntOutcome::default();
        let days = cx.days();
        // (account, src, dst, port) → per day; dst → sources per day; src → instance.
        let mut pairs: HashMap<Key, BTreeMap<usize, Pair>> = HashMap::new();
        let mut users: HashMap<Name, BTreeSet<(Name, usize)>> = HashMap::new();
        let mut instance: HashMap<Name, Name> = HashMap::new();
        let mut hosts_per_day: Vec<BTreeSet<(Option<Name>, Name)>> = vec![BTreeSet::new(); days];
        let mut names: HashMap<&str, Name> = HashMap::new();
        let keep_times_from = cx.first_eval().saturating_sub(1);
        for b in rows {
            let (acct, src, inst, dst) = (
                col_str(b, "accountid")?,
                col_str(b, "src_ip")?,
                col_str(b, "src_instance")?,
                col_str(b, "dst_ip")?,
            );
            let (port, day) = (col_i32(b, "dst_port")?, col_day_ms(b)?);
            let (bm, bsd) = (col_f64(b, "bytes_mean")?, col_f64(b, "bytes_sd")?);
            let times = b
                .column_by_name("times")
                .ok_or("lacks column times")?
                .as_list_opt::<i32>()
                .ok_or("times is not a list")?;
            for i in 0..b.num_rows() {
                let Some(d) = cx.day_of(day[i]) else { continue };
                let (s, t) = (
                    if src.is_valid(i) { src.value(i).trim() } else { "" },
                    if dst.is_valid(i) { dst.value(i).trim() } else { "" },
                );
                if cx.nets.class(s) != AddrClass::Internal {
                    o.stats.skip(if s.is_empty() {
                        "missing source address"
                    } else {
                        "source not private"
                    });
                    continue;
                }
                let account = acct.is_valid(i).then(|| intern(&mut names, acct.value(i)));
                let s = intern(&mut names, s);
                hosts_per_day[d].insert((account.clone(), s.clone()));
                if inst.is_valid(i) && !inst.value(i).is_empty() {
                    instance.insert(s.clone(), intern(&mut names, inst.value(i)));
                }
                match cx.nets.class(t) {
                    AddrClass::External => {}
                    AddrClass::Allowed => {
                        o.stats.skip("allow-listed destination");
                        continue;
                    }
                    AddrClass::Invalid => {
                        o.stats.skip("malformed destination address");
                        continue;
                    }
                    AddrClass::Internal => continue,
                }
                let t = intern(&mut names, t);
                users.entry(t.clone()).or_default().insert((s.clone(), d));
                let (ts, n): (Vec<i64>, usize) = if times.is_null(i) {
                    (Vec::new(), 0)
                } else if d >= keep_times_from {
                    let ts: Vec<i64> = times.value(i).as_primitive::<Int64Type>().iter().flatten().collect();
                    let n = ts.len();
                    (ts, n)
                } else {
                    (Vec::new(), times.value(i).len() - times.value(i).null_count())
                };
                pairs.entry((account, s, t, port[i].unwrap_or(-1))).or_default().insert(
                    d,
                    Pair {
                        times: ts,
                        n,
                        bytes_mean: bm[i],
                        bytes_sd: bsd[i],
                    },
                );
            }
        }
        let sources = |dst: &str, d: usize| -> usize {
            let from = cx.history(d).start;
            users
                .get(dst)
                .map(|s| {
                    s.iter()
                        .filter(|(_, x)| *x >= from && *x <= d)
                        .map(|(s, _)| s)
                        .collect::<BTreeSet<_>>()
                        .len()
                })
                .unwrap_or(0)
        };
        let cond = |k: &Key, per: &BTreeMap<usize, Pair>, d: usize| -> Option<Regularity> {
            let p = per.get(&d)?;
            if p.times.len() < job.min_flows {
                return None;
            }
            let r = regularity(&p.times)?;
            (r.n >= job.min_flows
                && r.score >= job.min_regularity
                && r.span_s >= job.min_span_hours * 3600.0
                && r.period_s >= job.min_period_s
                && sources(&k.2, d) <= job.max_sources)
                .then_some(r)
        };
        let mut keys: Vec<&Key> = pairs.keys().collect();
        keys.sort();
        let mut found: BTreeMap<usize, usize> = BTreeMap::new();
        for k in keys {
            let per = &pairs[k];
            // Whether the pair beaconed on the last day judged (each day's regularity once).
            let mut last: Option<(usize, bool)> = None;
            for (&d, p) in per.range(cx.first_eval()..) {
                let before = match last {
                    Some((l, b)) if d > 0 && l == d - 1 => b,
                    _ => d > 0 && cond(k, per, d - 1).is_some(),
                };
                let now = cond(k, per, d);
                last = Some((d, now.is_some()));
                let Some(r) = now else { continue };
                if before {
                    continue;
                }
                let (acct, src, dst, port) = (k.0.as_deref().map(str::to_string), k.1.to_string(), k.2.to_string(), k.3);
                let day_ms = cx.day_ms(d);
                let dt = super::day(day_ms);
                let inst: String = instance.get(&k.1).map(|i| i.to_string()).unwrap_or_default();
                let cv = if p.bytes_mean > 0.0 { p.bytes_sd / p.bytes_mean } else { 0.0 };
                let payload = (1.0 - cv).clamp(0.0, 1.0);
                let used_by = sources(&dst, d);
                let score = (0.65 * r.score + 0.2 * payload + 0.15 / used_by.max(1) as f64).clamp(0.0, 1.0);
                let daily: Vec<f64> = (0..days).map(|h| per.get(&h).map_or(0.0, |p| p.n as f64)).collect();
                let hit = Hit {
                    detector: DETECTOR,
                    kind: "beacon",
                    entity_type: "src_ip",
                    entity: src.clone(),
                    account: acct.clone(),
                    keys: serde_json::json!({"accountid": acct, "src_ip": src, "src_instance": inst, "dst_ip": dst}),
                    id_extra: format!("{dst}:{port}"),
                    day_ms,
                    score,
                    observed: r.score,
                    expected: 0.0,
                    upper: job.min_regularity,
                    title: format!(
                        "{src}{} called {dst}:{port} every {} ({} connections, regularity {:.2}) on {dt}",
                        if inst.is_empty() { String::new() } else { format!(" ({inst})") },
                        period(r.period_s),
                        r.n,
                        r.score
                    ),
                    description: format!(
                        "On {dt}, {src} opened {} connections to {dst} port {port} over {:.1} hours at a period of about {} (gap \
                         dispersion {:.2}, where random traffic is about 0.69; phase coherence {:.2}). Payloads averaged {:.0} bytes \
                         (coefficient of variation {cv:.2}). {} source(s) in the fleet use {dst}. Regular, small check-ins to a rare \
                         address are how implants reach their command server: check the process behind them.",
                        r.n,
                        r.span_s / 3600.0,
                        period(r.period_s),
                        r.dispersion,
                        r.phase,
                        p.bytes_mean,
                        used_by
                    ),
                    evidence: serde_json::json!({
                        "dst_ip": dst, "dst_port": port, "connections": r.n, "period_s": r.period_s,
                        "gap_dispersion": r.dispersion, "phase_coherence": r.phase, "rayleigh": r.rayleigh,
                        "span_hours": r.span_s / 3600.0, "bytes_mean": p.bytes_mean, "bytes_cv": cv,
                        "sources_using_destination": used_by, "values_in_window": [r.n],
                    }),
                    top: vec![
                        serde_json::json!({"name": "regularity", "value": r.score, "baseline": 0.0}),
                        serde_json::json!({"name": "payload_regularity", "value": payload, "baseline": 0.0}),
                        serde_json::json!({"name": "sources_using_destination", "value": used_by, "baseline": job.max_sources}),
                    ],
                    techniques: vec!["T1071.001"],
                    view: "network_activity",
                    investigation_sql: flows_sql(
                        &format!("{src} on {dt}: the connections to {dst}:{port}"),
                        acct.as_deref(),
                        &src,
                        day_ms,
                        std::slice::from_ref(&dst),
                        &[port],
                    ),
                };
                let f = hit.finding(cx.run_id);
                let plot = daily_plot(&f, &format!("connections to {dst}:{port}"), cx, daily, d, f64::NAN);
                o.findings.push((f, Some(plot)));
                *found.entry(d).or_default() += 1;
            }
        }
        for d in cx.first_eval()..days {
            let dt = super::day(cx.day_ms(d));
            o.stats.judged.insert(dt.clone(), hosts_per_day[d].len());
            o.stats.findings.insert(dt, found.get(&d).copied().unwrap_or(0));
        }
        Ok(o)
    }
}

fn period(s: f64) -> String {
    if s >= 3600.0 {
        format!("{:.1} h", s / 3600.0)
    } else if s >= 60.0 {
        format!("{:.1} min", s / 60.0)
    } else {
        format!("{s:.0} s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stages::exfiltration::tests::window;
    use crate::stages::hunt::{HuntsJob, DAY_MS};
    use arrow::array::{ArrayRef, Float64Array, Int32Array, Int64Builder, ListBuilder, StringArray, TimestampNanosecondArray};
    use rand::{Rng, SeedableRng};

    const DAY0: i64 = 1_740_787_200_000;

    type Row = (usize, String, String, Vec<i64>);

    fn batch(rows: &[Row]) -> RecordBatch {
        let s = |v: Vec<Option<String>>| -> ArrayRef { Arc::new(v.into_iter().collect::<StringArray>()) };
        let mut times = ListBuilder::new(Int64Builder::new());
        for r in rows {
            times.values().append_slice(&r.3);
            times.append(true);
        }
        RecordBatch::try_new(
            schema(),
            vec![
                s(rows.iter().map(|_| Some("111122223333".into())).collect()),
                s(rows.iter().map(|r| Some(r.1.clone())).collect()),
                s(rows.iter().map(|_| Some(String::new())).collect()),
                s(rows.iter().map(|r| Some(r.2.clone())).collect()),
                Arc::new(rows.iter().map(|_| Some(443)).collect::<Int32Array>()),
                Arc::new(
                    rows.iter()
                        .map(|r| Some((DAY0 + r.0 as i64 * DAY_MS) * 1_000_000))
                        .collect::<TimestampNanosecondArray>(),
                ),
                Arc::new(rows.iter().map(|r| Some(r.3.len() as f64)).collect::<Float64Array>()),
                Arc::new(rows.iter().map(|_| Some(1900.0)).collect::<Float64Array>()),
                Arc::new(rows.iter().map(|_| Some(60.0)).collect::<Float64Array>()),
                Arc::new(times.finish()),
            ],
        )
        .unwrap()
    }

    /// Twenty hosts poll one SaaS address every 15 minutes and make random (Poisson) calls to
    /// their busiest address; from day 17 one host beacons to a new address every 10 minutes
    /// with ±30% jitter and one beat in ten missed. Only the beacon is found, once (day 17, not
    /// again on day 18), and an NTP-like schedule to the allow-listed range is not judged.
    #[test]
    fn a_jittered_beacon_is_found_once_among_pollers_and_random_traffic() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
        let mut rows: Vec<Row> = Vec::new();
        for d in 0..21usize {
            let t0 = (DAY0 + d as i64 * DAY_MS) / 1000;
            for h in 0..20 {
                let src = format!("10.0.5.{h}");
                rows.push((
                    d,
                    src.clone(),
                    "34.117.59.81".into(),
                    (0..96).map(|k| t0 + h * 31 + k * 900 + rng.random_range(-2..=2)).collect(),
                ));
                let mut t = t0 as f64;
                let mut poisson = Vec::new();
                while t < (t0 + 86_400) as f64 {
                    t += -300.0 * (1.0 - rng.random::<f64>()).ln();
                    poisson.push(t as i64);
                }
                rows.push((d, src.clone(), format!("198.51.100.{h}"), poisson));
                rows.push((d, src, "52.216.1.1".into(), (0..84).map(|k| t0 + k * 1024).collect()));
            }
            if d >= 17 {
                let mut beats: Vec<i64> = Vec::new();
                for k in 0..144 {
                    if rng.random::<f64>() > 0.1 {
                        beats.push(t0 + k * 600 + rng.random_range(-180..=180));
                    }
                }
                rows.push((d, "10.0.5.7".into(), "203.0.113.9".into(), beats));
            }
        }
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
        let o = Beaconing(BeaconJob::default()).judge(&[batch(&rows)], &cx).unwrap();
        let got: Vec<(&str, &str)> = o.findings.iter().map(|f| (f.0.entity.as_str(), f.0.dt.as_str())).collect();
        assert_eq!(
            got,
            vec![("10.0.5.7", "2025-03-18")],
            "{:?}",
            o.findings.iter().map(|f| &f.0.title).collect::<Vec<_>>()
        );
        let f = &o.findings[0].0;
        let ev: serde_json::Value = serde_json::from_str(&f.evidence).unwrap();
        assert!((ev["period_s"].as_f64().unwrap() - 600.0).abs() < 30.0, "{ev}");
        assert_eq!(o.stats.skipped["allow-listed destination"], 21 * 20);
        assert_eq!(o.stats.judged.values().sum::<usize>(), 7 * 20);
    }
}
