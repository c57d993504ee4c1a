//! Lateral-movement hunt (`[hunts.lateral_movement]`, T1021): connections from a private source
//! to private hosts on admin ports (SSH, RDP, SMB, WinRM by default), accepted or not — an
//! attempt counts. A source is flagged on the day it reaches at least `min_new_peers` hosts it
//! never contacted on an admin port during the baseline days, and at least `margin` more than
//! its own busiest day of new peers there (a bastion meets new hosts as the fleet grows; a web
//! server never does). Scanners in `hunts.scanners` are not judged.
//!
//! Scored by breadth (new peers), novelty (new peers / peers of the day) and port mix.

use std::collections::{BTreeSet, HashMap};

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use serde::{Deserialize, Serialize};

use super::hunt::{daily_plot, flow_edges_schema, flows_sql, read_edges, Hit, Hunt, HuntContext, HuntOutcome, Name, FLOW_EDGES};
use crate::detect::net::AddrClass;

/// Detector name.
pub const DETECTOR: &str = "lateral_movement";

/// `[hunts.lateral_movement]`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct LateralJob {
    /// Admin ports.
    pub admin_ports: Vec<i32>,
    /// New peers a day needs at least.
    pub min_new_peers: usize,
    /// New peers a day needs beyond the source's busiest baseline day of new peers.
    pub margin: usize,
    /// Fewer history days than this since the source first appeared: not judged.
    pub min_history_days: u32,
}

impl Default for LateralJob {
    fn default() -> Self {
        LateralJob {
            admin_ports: vec![22, 23, 135, 139, 445, 3389, 5985, 5986],
            min_new_peers: 3,
            margin: 2,
            min_history_days: 5,
        }
    }
}

impl LateralJob {
    /// Every problem, each naming its field.
    pub fn validate(&self) -> Vec<String> {
        let mut e = Vec::new();
        let p = "hunts.lateral_movement";
        if self.admin_ports.is_empty() {
            e.push(format!("{p}.admin_ports: must list at least one port"));
        }
        for port in &self.admin_ports {
            if !(1..=65535).contains(port) {
                e.push(format!("{p}.admin_ports: {port} is not a port (1..=65535)"));
            }
        }
        if self.min_new_peers == 0 {
            e.push(format!("{p}.min_new_peers: must be at least 1"));
        }
        e
    }
}

/// The hunt.
#[derive(Debug, Clone)]
pub struct Lateral(pub LateralJob);

type Src = (Option<Name>, Name);

impl Hunt for Lateral {
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
        &["T1021"]
    }

    fn judge(&self, rows: &[RecordBatch], cx: &HuntContext<'_>) -> Result<HuntOutcome, String> {
        let job = &self.0;
        let mut o = HuntOutcome::default();
        let days = cx.days();
        let scanners = cx.job.scanner_nets();
        // Destinations are judged inside or not, whatever the allow-list says (an allow-listed
        // range that is private is still a host to move to).
        let inside = crate::detect::net::Nets::new(Vec::new());
        let edges = read_edges(rows, cx)?;
        let mut first: HashMap<Src, usize> = HashMap::new();
        let mut instance: HashMap<Src, Name> = HashMap::new();
        // Per source and day: admin-port peers → ports.
        let mut peers: HashMap<Src, Vec<HashMap<Name, BTreeSet<i32>>>> = HashMap::new();
        let mut flows: HashMap<Src, Vec<f64>> = HashMap::new();
        let mut scanner_srcs: BTreeSet<Name> = BTreeSet::new();
        for e in &edges {
            if cx.nets.class(&e.src_ip) != AddrClass::Internal && cx.nets.class(&e.src_ip) != AddrClass::Allowed {
                continue;
            }
            let k: Src = (e.account.clone(), e.src_ip.clone());
            let f = first.entry(k.clone()).or_insert(e.day);
            *f = (*f).min(e.day);
            if !e.src_instance.is_empty() {
                instance.insert(k.clone(), e.src_instance.clone());
            }
            let Some(port) = e.dst_port else {
                o.stats.skip("missing destination port");
                continue;
            };
            if !job.admin_ports.contains(&port) || e.dst_ip == e.src_ip {
                continue;
            }
            if scanners.allowed(&e.src_ip) {
                scanner_srcs.insert(e.src_ip.clone());
                continue;
            }
            match inside.class(&e.dst_ip) {
                AddrClass::Internal => {}
                AddrClass::Invalid => {
                    o.stats.skip("malformed destination address");
                    continue;
                }
                _ => continue,
            }
            peers.entry(k.clone()).or_insert_with(|| vec![HashMap::new(); days])[e.day]
                .entry(e.dst_ip.clone())
                .or_default()
                .insert(port);
            flows.entry(k).or_insert_with(|| vec![0.0; days])[e.day] += e.flows;
        }
        for _ in &scanner_srcs {
            o.stats.skip("allow-listed scanner");
        }
        let mut srcs: Vec<&Src> = first.keys().collect();
        srcs.sort();
        for d in cx.first_eval()..days {
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
                let Some(p) = peers.get(*k) else { continue };
                let new_on = |d: usize| -> Vec<&str> {
                    let seen: BTreeSet<&str> = cx.history(d).flat_map(|h| p[h].keys().map(|x| &**x)).collect();
                    let mut v: Vec<&str> = p[d].keys().map(|x| &**x).filter(|x| !seen.contains(x)).collect();
                    v.sort();
                    v
                };
                let new = new_on(d);
                if new.len() < job.min_new_peers {
                    continue;
                }
                // The source's busiest day of new peers among its judged baseline days.
                let usual_max = cx
                    .history(d)
                    .filter(|&h| h >= f + job.min_history_days as usize)
                    .map(|h| new_on(h).len())
                    .max()
                    .unwrap_or(0);
                if new.len() < usual_max + job.margin {
                    continue;
                }
                let (acct, src): (Option<String>, String) = (k.0.as_deref().map(str::to_string), k.1.to_string());
                let inst: String = instance.get(*k).map(|i| i.to_string()).unwrap_or_default();
                let ports: BTreeSet<i32> = new.iter().flat_map(|x| p[d][*x].iter().copied()).collect();
                let novelty = new.len() as f64 / p[d].len().max(1) as f64;
                let breadth = 1.0 - 0.75f64.powi(new.len() as i32);
                let score = (0.4 * breadth + 0.4 * novelty + 0.2 * (ports.len().min(4) as f64 / 4.0)).clamp(0.0, 1.0);
                let counts: Vec<f64> = (0..days).map(|h| p[h].len() as f64).collect();
                let hit = Hit {
                    detector: DETECTOR,
                    kind: "admin_fan_out",
                    entity_type: "src_ip",
                    entity: src.clone(),
                    account: acct.clone(),
                    keys: serde_json::json!({"accountid": acct, "src_ip": src, "src_instance": inst}),
                    id_extra: String::new(),
                    day_ms,
                    score,
                    observed: new.len() as f64,
                    expected: usual_max as f64,
                    upper: (usual_max + job.margin).max(job.min_new_peers) as f64 - 1.0,
                    title: format!(
                        "{src}{} reached {} internal host(s) it never contacted before on admin ports {} on {dt}",
                        if inst.is_empty() { String::new() } else { format!(" ({inst})") },
                        new.len(),
                        ports.iter().map(|p| p.to_string()).collect::<Vec<_>>().join("/")
                    ),
                    description: format!(
                        "On {dt}, {src} connected (or tried to) on admin ports to {} internal host(s), {} of them never contacted on an \
                         admin port in the {} baseline days; its busiest baseline day had {usual_max} new peer(s). New peers: {}. \
                         Check whether an administrator or a tool explains the sessions.",
                        p[d].len(),
                        new.len(),
                        cx.history(d).len(),
                        new.join(", ")
                    ),
                    evidence: serde_json::json!({
                        "new_peers": new, "peers": p[d].len(), "ports": ports, "usual_max_new_peers": usual_max,
                        "flows": flows.get(*k).map(|v| v[d]).unwrap_or(0.0),
                        "values_in_window": [new.len()],
                    }),
                    top: vec![
                        serde_json::json!({"name": "new_admin_peers", "value": new.len(), "baseline": usual_max}),
                        serde_json::json!({"name": "novelty", "value": novelty, "baseline": 0}),
                        serde_json::json!({"name": "admin_ports", "value": ports.len(), "baseline": 0}),
                    ],
                    techniques: vec!["T1021"],
                    view: "network_activity",
                    investigation_sql: flows_sql(
                        &format!("{src} on {dt}: admin-port flows to its new peers"),
                        acct.as_deref(),
                        &src,
                        day_ms,
                        &new.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
                        &job.admin_ports,
                    ),
                };
                let f = hit.finding(cx.run_id);
                let usual_peers = cx.history(d).map(|h| counts[h]).fold(0.0, f64::max);
                let plot = daily_plot(&f, "internal hosts reached on admin ports", cx, counts, d, usual_peers);
                o.findings.push((f, Some(plot)));
                found += 1;
            }
            o.stats.judged.insert(dt.clone(), judged);
            o.stats.findings.insert(dt, found);
        }
        Ok(o)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stages::exfiltration::tests::{edges, window};
    use crate::stages::hunt::HuntsJob;

    /// A web server reaching three never-contacted hosts on admin ports is found; a bastion that
    /// meets two new hosts on its busy days needs more than three; the allow-listed scanner's daily
    /// sweep of new hosts is not judged; a row without a port is a counted skip.
    #[test]
    fn new_admin_peers_beyond_the_sources_own_habit() {
        let ip = |i: usize| format!("10.0.2.{i}");
        let ips: Vec<String> = (0..120).map(ip).collect();
        let mut rows: Vec<(usize, Option<&str>, Option<&str>, Option<i32>, f64)> = Vec::new();
        for d in 0..21usize {
            // The web server talks to its database only.
            rows.push((d, Some("10.0.1.10"), Some("10.0.3.1"), Some(5432), 1e5));
            // The bastion: its usual two peers, and two new ones every third day.
            rows.push((d, Some("10.0.1.20"), Some(ips[0].as_str()), Some(22), 1e4));
            rows.push((d, Some("10.0.1.20"), Some(ips[1].as_str()), Some(22), 1e4));
            if d % 3 == 0 {
                rows.push((d, Some("10.0.1.20"), Some(ips[10 + 2 * d].as_str()), Some(22), 1e4));
                rows.push((d, Some("10.0.1.20"), Some(ips[11 + 2 * d].as_str()), Some(22), 1e4));
            }
            // The scanner sweeps five new hosts a day.
            for k in 0..5 {
                rows.push((d, Some("10.0.250.10"), Some(ips[60 + (5 * d + k) % 60].as_str()), Some(3389), 60.0));
            }
        }
        // Day 17: the web server reaches three new hosts; the bastion three new ones.
        for i in [100, 101, 102] {
            rows.push((17, Some("10.0.1.10"), Some(ips[i].as_str()), Some(22), 4000.0));
        }
        for i in [103, 104, 105] {
            rows.push((17, Some("10.0.1.20"), Some(ips[i].as_str()), Some(22), 4000.0));
        }
        rows.push((17, Some("10.0.1.10"), Some("10.0.3.1"), None, 1.0));
        let w = window();
        let hj = HuntsJob {
            scanners: vec!["10.0.250.10".into()],
            ..Default::default()
        };
        let cx = HuntContext {
            run_id: "t",
            window: &w,
            job: &hj,
            nets: hj.nets(),
        };
        let o = Lateral(LateralJob::default()).judge(&[edges(&rows)], &cx).unwrap();
        let got: Vec<(&str, &str, f64)> = o
            .findings
            .iter()
            .map(|f| (f.0.entity.as_str(), f.0.dt.as_str(), f.0.observed))
            .collect();
        assert_eq!(
            got,
            vec![("10.0.1.10", "2025-03-18", 3.0)],
            "{:?}",
            o.findings.iter().map(|f| &f.0.title).collect::<Vec<_>>()
        );
        assert_eq!(o.stats.skipped["allow-listed scanner"], 1);
        assert_eq!(o.stats.skipped["missing destination port"], 1);
        assert!(o.findings[0].0.investigation_sql.contains("dst_port IN (22, 23, 135"));
    }
}
