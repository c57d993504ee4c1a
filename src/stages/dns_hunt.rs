//! DNS hunt (`[hunts.dns]`): per resolving address and day, from Route 53 resolver logs
//! (`queries/hunts/dns_names.sql`).
//!
//! * **DGA** (T1568.002): registrable domains no host of the fleet resolved during the baseline
//!   whose first label looks random — a letter-pair and a vowel/consonant model trained on the
//!   registrable labels the lake resolved during the baseline (no downloaded model; subdomain
//!   labels are left out, as hashed CDN names would teach it randomness), each cut at the
//!   `random_quantile` of those labels scored held out, plus a character-entropy floor — or that
//!   answered NXDOMAIN (most generated names are not registered; on a small lake's few dozen
//!   names the models alone called only a quarter to two thirds of generated names random). A host-day
//!   with at least `min_dga_domains` (3) of them is flagged when that count is improbable under the
//!   fleet's own baseline law of such domains per judged host-day ([`RareCountLaw`], at
//!   `false_findings_per_1000`): a fleet that resolves random-looking new names every day (ad and
//!   tracking domains) raises its own line, and with no baseline host-day yet the law's
//!   pseudo-count alone asks for five (at one per 1,000). The finding's score is −log10 of that
//!   tail, so more names, or names in a quieter fleet, rank higher. CDN and
//!   load-balancer names (`d1a2b3.cloudfront.net`) are random in their *subdomain* under a
//!   well-known registrable domain, so they never count.
//! * **Tunnelling** (T1071.004): many distinct long, high-entropy subdomains of one registrable
//!   domain from one host (data encoded in the names), the domain rare in the fleet.
//! * **NXDOMAIN burst** (T1568.002): a host's NXDOMAIN answers far above its own history.
//!
//! Names are lower-cased without the trailing dot; a malformed or over-long name
//! ([`crate::detect::net::normalise_name`]) is a counted skip; punycode labels are compared as
//! written. Domains in `hunts.allow_domains` (and their subdomains) are never judged.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use arrow::array::Array;
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use arrow::record_batch::RecordBatch;
use serde::{Deserialize, Serialize};

use super::hunt::{col_day_ms, col_f64, col_str, daily_plot, day_conditions, investigation_sql, Hit, Hunt, HuntContext, HuntOutcome};
use crate::detect::net::{entropy, normalise_name, registrable, registrable_label, robust_z, subdomain, Randomness};
use crate::detect::stats::RareCountLaw;
use crate::sql::quote_literal;

/// Detector name.
pub const DETECTOR: &str = "dns";

const TABLE: (&str, &str) = ("dns_names", include_str!("../../queries/hunts/dns_names.sql"));

/// `[hunts.dns]`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct DnsJob {
    /// DGA: random-looking new registrable domains a host needs in a day at least (the smallest
    /// finding an analyst would care about; the fleet's own law decides beyond it).
    pub min_dga_domains: usize,
    /// DGA: expected false findings per 1,000 host-days — the line on the tail of the fleet's
    /// baseline law of random-looking new domains per host-day.
    pub false_findings_per_1000: f64,
    /// DGA: each model's cut is this quantile of the baseline's registrable labels scored held
    /// out (so about this share of real never-seen names per model looks random too).
    pub random_quantile: f64,
    /// DGA: labels shorter than this are not judged (too little text to tell).
    pub min_label_len: usize,
    /// DGA: character entropy (bits) a random-looking label needs at least.
    pub min_entropy: f64,
    /// Tunnelling: distinct long subdomains of one domain a host needs in a day.
    pub min_tunnel_names: usize,
    /// Tunnelling: a subdomain counts as long from this many characters.
    pub min_subdomain_len: usize,
    /// Tunnelling and DGA: the domain is used by at most this many hosts over the baseline.
    pub max_sources: usize,
    /// NXDOMAIN burst: answers a day needs at least.
    pub min_nx: f64,
    /// NXDOMAIN burst: robust z over the host's baseline days.
    pub min_nx_z: f64,
    /// Fewer history days than this since the host first appeared: not judged.
    pub min_history_days: u32,
}

impl Default for DnsJob {
    fn default() -> Self {
        DnsJob {
            min_dga_domains: 3,
            false_findings_per_1000: 1.0,
            random_quantile: 0.1,
            min_label_len: 7,
            min_entropy: 2.8,
            min_tunnel_names: 30,
            min_subdomain_len: 24,
            max_sources: 2,
            min_nx: 50.0,
            min_nx_z: 10.0,
            min_history_days: 5,
        }
    }
}

impl DnsJob {
    /// Every problem, each naming its field.
    pub fn validate(&self) -> Vec<String> {
        let mut e = Vec::new();
        let p = "hunts.dns";
        if self.min_dga_domains == 0 {
            e.push(format!("{p}.min_dga_domains: must be at least 1"));
        }
        if !(self.false_findings_per_1000 > 0.0 && self.false_findings_per_1000 <= 1000.0) {
            e.push(format!(
                "{p}.false_findings_per_1000: {} must be within (0, 1000]",
                self.false_findings_per_1000
            ));
        }
        if !(self.random_quantile > 0.0 && self.random_quantile < 0.5) {
            e.push(format!("{p}.random_quantile: must be in (0, 0.5), got {}", self.random_quantile));
        }
        if self.min_tunnel_names == 0 {
            e.push(format!("{p}.min_tunnel_names: must be at least 1"));
        }
        if !(self.min_nx_z > 0.0 && self.min_nx_z.is_finite()) {
            e.push(format!("{p}.min_nx_z: must be > 0, got {}", self.min_nx_z));
        }
        if self.max_sources == 0 {
            e.push(format!("{p}.max_sources: must be at least 1"));
        }
        e
    }
}

/// The hunt.
#[derive(Debug, Clone)]
pub struct DnsHunt(pub DnsJob);

/// Stored shape of the table.
pub fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("accountid", DataType::Utf8, true),
        Field::new("src_ip", DataType::Utf8, true),
        Field::new("src_instance", DataType::Utf8, true),
        Field::new("hostname", DataType::Utf8, true),
        Field::new("bucket_start", DataType::Timestamp(TimeUnit::Nanosecond, None), true),
        Field::new("queries", DataType::Float64, true),
        Field::new("nx", DataType::Float64, true),
    ]))
}

type Src = (Option<String>, String);

#[derive(Default)]
struct HostDay {
    /// Registrable domain → (names, queries, nx).
    regs: BTreeMap<String, (BTreeSet<String>, f64, f64)>,
    nx: f64,
    queries: f64,
}

/// A host-day's DGA candidates: registrable domains the fleet did not resolve before (`seen`),
/// with a label long and varied enough to judge that the model calls random or that answered
/// NXDOMAIN — (domain, letter score, NXDOMAIN answers).
fn dga_candidates<'a>(hd: &'a HostDay, seen: impl Fn(&str) -> bool, model: &Randomness, job: &DnsJob) -> Vec<(&'a String, f64, f64)> {
    hd.regs
        .iter()
        .filter(|(reg, _)| !seen(reg.as_str()))
        .map(|(reg, (_, _, nx))| (reg, registrable_label(reg), *nx))
        .filter(|(_, l, _)| l.len() >= job.min_label_len && entropy(l) >= job.min_entropy)
        .filter_map(|(reg, l, nx)| {
            let (random, letters, _) = model.judge(l);
            (random || nx > 0.0).then_some((reg, letters, nx))
        })
        .collect()
}

fn allowed(reg: &str, allow: &[String]) -> bool {
    allow.iter().any(|a| reg == a || reg.ends_with(&format!(".{a}")))
}

impl Hunt for DnsHunt {
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
        &["T1568.002", "T1071.004"]
    }

    fn judge(&self, rows: &[RecordBatch], cx: &HuntContext<'_>) -> Result<HuntOutcome, String> {
        let job = &self.0;
        let mut o = HuntOutcome::default();
        let days = cx.days();
        let allow: Vec<String> = cx.job.allow_domains.iter().filter_map(|d| normalise_name(d)).collect();
        let mut hosts: HashMap<Src, Vec<HostDay>> = HashMap::new();
        let mut first: HashMap<Src, usize> = HashMap::new();
        let mut instance: HashMap<Src, String> = HashMap::new();
        // Registrable domain → (host, day) that resolved it.
        let mut reg_users: HashMap<String, BTreeSet<(Src, usize)>> = HashMap::new();
        for b in rows {
            let (acct, src, inst, host) = (
                col_str(b, "accountid")?,
                col_str(b, "src_ip")?,
                col_str(b, "src_instance")?,
                col_str(b, "hostname")?,
            );
            let (day, q, nx) = (col_day_ms(b)?, col_f64(b, "queries")?, col_f64(b, "nx")?);
            for i in 0..b.num_rows() {
                let Some(d) = cx.day_of(day[i]) else { continue };
                let s = if src.is_valid(i) { src.value(i).trim() } else { "" };
                let ins = if inst.is_valid(i) { inst.value(i) } else { "" };
                // A resolver log row without an address still has its instance: key on either.
                let who = if s.is_empty() { ins } else { s };
                if who.is_empty() {
                    o.stats.skip("missing source address and instance");
                    continue;
                }
                let k: Src = (acct.is_valid(i).then(|| acct.value(i).to_string()), who.to_string());
                if !ins.is_empty() {
                    instance.insert(k.clone(), ins.to_string());
                }
                let f = first.entry(k.clone()).or_insert(d);
                *f = (*f).min(d);
                let hd = &mut hosts
                    .entry(k.clone())
                    .or_insert_with(|| (0..days).map(|_| HostDay::default()).collect())[d];
                hd.queries += q[i];
                hd.nx += nx[i];
                let Some(name) = (if host.is_valid(i) { normalise_name(host.value(i)) } else { None }) else {
                    o.stats.skip("malformed or over-long query name");
                    continue;
                };
                let reg = registrable(&name).to_string();
                if allowed(&reg, &allow) {
                    o.stats.skip("allow-listed domain");
                    continue;
                }
                let e = hd.regs.entry(reg.clone()).or_default();
                e.0.insert(name);
                e.1 += q[i];
                e.2 += nx[i];
                reg_users.entry(reg).or_default().insert((k, d));
            }
        }
        let mut srcs: Vec<&Src> = hosts.keys().collect();
        srcs.sort();
        // Registrable domain → the days any host resolved it.
        let reg_days: HashMap<&str, BTreeSet<usize>> = reg_users
            .iter()
            .map(|(reg, uses)| (reg.as_str(), uses.iter().map(|(_, d)| *d).collect()))
            .collect();
        let judged_on = |k: &Src, h: usize| h >= first[k] + job.min_history_days as usize && hosts[k][h].queries > 0.0;
        for d in cx.first_eval()..days {
            let day_ms = cx.day_ms(d);
            let dt = super::day(day_ms);
            let hist = cx.history(d);
            // The fleet's baseline: registrable domains resolved, and the bigram model of its labels.
            let mut seen: BTreeSet<&str> = BTreeSet::new();
            let mut reg_labels: BTreeSet<&str> = BTreeSet::new();
            for hd in hosts.values() {
                for h in hist.clone() {
                    for reg in hd[h].regs.keys() {
                        if seen.insert(reg.as_str()) {
                            reg_labels.insert(registrable_label(reg));
                        }
                    }
                }
            }
            let training: Vec<&str> = reg_labels.iter().copied().collect();
            let model = Randomness::train(&training, job.random_quantile, job.min_label_len);
            if model.cuts().is_none() {
                o.stats.skip("too few baseline names to train the DGA model");
            }
            // The fleet's baseline law of DGA candidates per judged host-day, each baseline day
            // judged against its own history (days with fewer than `min_history_days` of lake
            // before them left out: with less history every name is new). The model is today's;
            // the baseline's own names trained it, so its candidates are, if anything, too few.
            let mut base_counts = Vec::new();
            for h in hist.clone().filter(|&h| h >= job.min_history_days as usize) {
                let before = cx.history(h);
                let seen_at = |reg: &str| reg_days.get(reg).is_some_and(|ds| ds.range(before.clone()).next().is_some());
                for k in &srcs {
                    if judged_on(k, h) {
                        base_counts.push(dga_candidates(&hosts[*k][h], seen_at, &model, job).len() as f64);
                    }
                }
            }
            let dga_law = RareCountLaw::fit(&base_counts);
            let dga_line = (job.false_findings_per_1000 / 1000.0).ln();
            let users_before = |reg: &str| -> usize {
                reg_users
                    .get(reg)
                    .map(|s| {
                        s.iter()
                            .filter(|(_, x)| hist.contains(x))
                            .map(|(k, _)| k)
                            .collect::<BTreeSet<_>>()
                            .len()
                    })
                    .unwrap_or(0)
            };
            let mut judged = 0;
            let mut found = 0;
            for k in &srcs {
                if !judged_on(k, d) {
                    continue;
                }
                let f = first[*k];
                let hd = &hosts[*k][d];
                judged += 1;
                let (acct, src) = (*k).clone();
                let inst = instance.get(*k).cloned().unwrap_or_default();
                let keys = serde_json::json!({"accountid": acct, "src_ip": src, "src_instance": inst});
                let daily = |g: &dyn Fn(&HostDay) -> f64| -> Vec<f64> { hosts[*k].iter().map(g).collect() };
                // DGA: at least `min_dga_domains` candidates, improbable under the fleet's law.
                let random = dga_candidates(hd, |reg| seen.contains(reg), &model, job);
                let dga_tail = dga_law.ln_tail(random.len() as f64);
                let dga = random.len() >= job.min_dga_domains && dga_tail < dga_line;
                if dga {
                    let nx_share = random.iter().filter(|r| r.2 > 0.0).count() as f64 / random.len() as f64;
                    // −log10 of the fleet's tail (the finding's score is ten times this field).
                    let score = -dga_tail / std::f64::consts::LN_10 / 10.0;
                    let mut examples: Vec<&String> = random.iter().map(|r| r.0).collect();
                    examples.truncate(20);
                    let hit = Hit {
                        detector: DETECTOR,
                        kind: "dga",
                        entity_type: "src_ip",
                        entity: src.clone(),
                        account: acct.clone(),
                        keys: keys.clone(),
                        id_extra: String::new(),
                        day_ms,
                        score,
                        observed: random.len() as f64,
                        expected: dga_law.mean,
                        upper: job.min_dga_domains as f64 - 1.0,
                        title: format!(
                            "{src}{} resolved {} random-looking domains new to the fleet on {dt}",
                            if inst.is_empty() { String::new() } else { format!(" ({inst})") },
                            random.len()
                        ),
                        description: format!(
                            "On {dt}, {src} resolved {} registrable domains no host resolved in the {} baseline days whose names score \
                             below the lake's own {:.0}th-percentile name (letter-pair and vowel/consonant models trained on the \
                             baseline's names); {:.0}% of them returned NXDOMAIN. A host of the fleet resolves {:.3} such domains on a \
                             baseline day (P of {} or more: {:.1e}). Examples: {}. Domain-generation malware tries many such names to \
                             find its server.",
                            random.len(),
                            hist.len(),
                            100.0 * job.random_quantile,
                            100.0 * nx_share,
                            dga_law.mean,
                            random.len(),
                            dga_tail.exp(),
                            examples.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
                        ),
                        evidence: serde_json::json!({
                            "domains": random.iter().map(|(r, s, nx)| serde_json::json!({"domain": r, "letter_score": s, "nxdomain": nx})).collect::<Vec<_>>(),
                            "cuts": model.cuts(), "nxdomain_share": nx_share, "values_in_window": [random.len()],
                            "fleet_law": {"mean": dga_law.mean, "dispersion": dga_law.dispersion, "host_days": base_counts.len(), "tail_p": dga_tail.exp()},
                        }),
                        top: vec![
                            serde_json::json!({"name": "random_new_domains", "value": random.len(), "baseline": dga_law.mean}),
                            serde_json::json!({"name": "nxdomain_share", "value": nx_share, "baseline": 0}),
                        ],
                        techniques: vec!["T1568.002"],
                        view: "dns_activity",
                        investigation_sql: dns_sql(
                            &format!("{src} on {dt}: queries of the random-looking new domains"),
                            &acct,
                            &src,
                            day_ms,
                            &examples,
                        ),
                    };
                    let fnd = hit.finding(cx.run_id);
                    let plot = daily_plot(&fnd, "distinct domains resolved", cx, daily(&|h| h.regs.len() as f64), d, f64::NAN);
                    o.findings.push((fnd, Some(plot)));
                    found += 1;
                }
                // Tunnelling.
                for (reg, (names, q, _)) in &hd.regs {
                    let long: Vec<&String> = names
                        .iter()
                        .filter(|n| {
                            let sub = subdomain(n, reg).replace('.', "");
                            sub.len() >= job.min_subdomain_len && entropy(&sub) >= 3.5
                        })
                        .collect();
                    if long.len() < job.min_tunnel_names || users_before(reg) > job.max_sources {
                        continue;
                    }
                    let encoded: usize = long.iter().map(|n| subdomain(n, reg).len()).sum();
                    let score = (0.5 + 0.5 * (1.0 - job.min_tunnel_names as f64 / long.len() as f64)).clamp(0.0, 1.0);
                    let examples: Vec<&String> = long.iter().take(10).copied().collect();
                    let hit = Hit {
                        detector: DETECTOR,
                        kind: "dns_tunnelling",
                        entity_type: "src_ip",
                        entity: src.clone(),
                        account: acct.clone(),
                        keys: serde_json::json!({"accountid": acct, "src_ip": src, "src_instance": inst, "domain": reg}),
                        id_extra: reg.clone(),
                        day_ms,
                        score,
                        observed: long.len() as f64,
                        expected: 0.0,
                        upper: job.min_tunnel_names as f64 - 1.0,
                        title: format!("{src} sent {} long, random subdomains of {reg} on {dt} (DNS tunnelling?)", long.len()),
                        description: format!(
                            "On {dt}, {src} made {q:.0} queries under {reg}, {} of them distinct subdomains of {}+ high-entropy characters \
                             ({encoded} characters in all); {} other host(s) resolved {reg} in the baseline. Data encoded in query names is \
                             how DNS tunnels carry it out. Examples: {}.",
                            long.len(),
                            job.min_subdomain_len,
                            users_before(reg),
                            examples.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
                        ),
                        evidence: serde_json::json!({
                            "domain": reg, "long_subdomains": long.len(), "characters": encoded, "queries": q,
                            "examples": examples, "values_in_window": [long.len()],
                        }),
                        top: vec![serde_json::json!({"name": "long_subdomains", "value": long.len(), "baseline": 0})],
                        techniques: vec!["T1071.004"],
                        view: "dns_activity",
                        investigation_sql: dns_sql(&format!("{src} on {dt}: queries under {reg}"), &acct, &src, day_ms, &[reg]),
                    };
                    let fnd = hit.finding(cx.run_id);
                    o.findings.push((fnd, None));
                    found += 1;
                }
                // NXDOMAIN burst.
                let nx_hist: Vec<f64> = hist.clone().filter(|&h| h >= f).map(|h| hosts[*k][h].nx).collect();
                let z = robust_z(&nx_hist, hd.nx, 0.25);
                if hd.nx >= job.min_nx && z >= job.min_nx_z && !dga {
                    let usual = crate::detect::net::median(&nx_hist);
                    let hit = Hit {
                        detector: DETECTOR,
                        kind: "nxdomain_burst",
                        entity_type: "src_ip",
                        entity: src.clone(),
                        account: acct.clone(),
                        keys: keys.clone(),
                        id_extra: "nx".into(),
                        day_ms,
                        score: (0.5 + 0.5 * (z / (3.0 * job.min_nx_z)).min(1.0)).min(1.0),
                        observed: hd.nx,
                        expected: usual,
                        upper: usual,
                        title: format!("{src} got {:.0} NXDOMAIN answers on {dt}, usually {usual:.0}", hd.nx),
                        description: format!(
                            "On {dt}, {src} got {:.0} NXDOMAIN answers (robust z {z:.1} over its {} baseline days, usually {usual:.0}). \
                             Many failed lookups come from domain-generation malware or a misconfigured resolver path.",
                            hd.nx,
                            nx_hist.len()
                        ),
                        evidence: serde_json::json!({"nxdomain": hd.nx, "usual": usual, "robust_z": z, "values_in_window": [hd.nx]}),
                        top: vec![serde_json::json!({"name": "nxdomain", "value": hd.nx, "baseline": usual})],
                        techniques: vec!["T1568.002"],
                        view: "dns_activity",
                        investigation_sql: dns_sql(&format!("{src} on {dt}: its queries"), &acct, &src, day_ms, &[]),
                    };
                    let fnd = hit.finding(cx.run_id);
                    let plot = daily_plot(&fnd, "NXDOMAIN answers", cx, daily(&|h| h.nx), d, usual);
                    o.findings.push((fnd, Some(plot)));
                    found += 1;
                }
            }
            o.stats.judged.insert(dt.clone(), judged);
            o.stats.findings.insert(dt, found);
        }
        Ok(o)
    }
}

/// Investigation SQL over one host's queries of a day (under `domains` when given).
fn dns_sql(comment: &str, account: &Option<String>, src: &str, day_ms: i64, domains: &[&String]) -> String {
    let mut conds = day_conditions(
        day_ms,
        format!("(src_ip = {0} OR src_instance = {0})", quote_literal(src)),
        account.as_deref(),
    );
    if !domains.is_empty() {
        conds.push(format!(
            "({})",
            domains
                .iter()
                .map(|d| format!(
                    "lower(query_hostname) = {} OR lower(query_hostname) LIKE {}",
                    quote_literal(&format!("{d}.")),
                    quote_literal(&format!("%.{d}."))
                ))
                .collect::<Vec<_>>()
                .join(" OR ")
        ));
    }
    investigation_sql(
        comment,
        "time, src_ip, src_instance, query_hostname, query_type, rcode, answer",
        "dns_activity",
        &conds,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stages::exfiltration::tests::window;
    use crate::stages::hunt::{HuntsJob, DAY_MS};
    use arrow::array::{ArrayRef, Float64Array, StringArray, TimestampNanosecondArray};
    use rand::{Rng, SeedableRng};

    const DAY0: i64 = 1_740_787_200_000;
    const WORDS: &[&str] = &[
        "github",
        "slack",
        "datadoghq",
        "okta",
        "google",
        "microsoft",
        "ubuntu",
        "docker",
        "pagerduty",
        "salesforce",
        "atlassian",
        "zoom",
        "office",
        "windowsupdate",
        "cloudflare",
        "sentry",
        "newrelic",
        "stripe",
        "twilio",
        "mongodb",
        "elastic",
        "grafana",
        "snowflake",
        "hashicorp",
        "gitlab",
        "dropbox",
        "confluence",
        "jenkins",
        "artifactory",
        "terraform",
        "kubernetes",
        "notion",
        "zendesk",
        "hubspot",
        "intercom",
        "segment",
        "mixpanel",
        "amplitude",
        "launchdarkly",
        "circleci",
        "bitbucket",
        "jfrog",
        "npmjs",
        "pypi",
        "rubygems",
        "crates",
        "golang",
        "python",
    ];

    fn batch(rows: &[(usize, String, String, f64)]) -> RecordBatch {
        let s = |v: Vec<Option<String>>| -> ArrayRef { Arc::new(v.into_iter().collect::<StringArray>()) };
        RecordBatch::try_new(
            schema(),
            vec![
                s(rows.iter().map(|_| Some("111122223333".into())).collect()),
                s(rows.iter().map(|r| Some(r.1.clone())).collect()),
                s(rows.iter().map(|_| Some(String::new())).collect()),
                s(rows.iter().map(|r| Some(r.2.clone())).collect()),
                Arc::new(
                    rows.iter()
                        .map(|r| Some((DAY0 + r.0 as i64 * DAY_MS) * 1_000_000))
                        .collect::<TimestampNanosecondArray>(),
                ),
                Arc::new(rows.iter().map(|_| Some(1.0)).collect::<Float64Array>()),
                Arc::new(rows.iter().map(|r| Some(r.3)).collect::<Float64Array>()),
            ],
        )
        .unwrap()
    }

    /// The hunt with its defaults over `rows`, judged on the test window.
    fn judge_rows(rows: &[(usize, String, String, f64)]) -> HuntOutcome {
        let w = window();
        let hj = HuntsJob::default();
        let cx = HuntContext {
            run_id: "t",
            window: &w,
            job: &hj,
            nets: hj.nets(),
        };
        DnsHunt(DnsJob::default()).judge(&[batch(rows)], &cx).unwrap()
    }

    fn random_label(rng: &mut rand_chacha::ChaCha8Rng) -> String {
        (0..rng.random_range(12..17))
            .map(|_| (b'a' + rng.random_range(0..26u8)) as char)
            .collect()
    }

    /// Proves that the DGA decision is the fleet's own law beyond `min_dga_domains`: ten hosts
    /// resolve SaaS names daily; on day 17 one resolves three random-looking new domains that
    /// answer NXDOMAIN. In a fleet that never resolves such names it is a finding (the law's
    /// mean is the half-event pseudo-count); in one where a host resolves three such names every
    /// other day (a noisy tool), three is ordinary and not found, while twenty still are.
    #[test]
    fn a_few_random_new_domains_are_judged_by_the_fleets_own_law() {
        let run = |noisy: bool, n: usize| {
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(9);
            let mut rows: Vec<(usize, String, String, f64)> = Vec::new();
            for d in 0..21usize {
                for h in 0..10 {
                    for k in 0..12 {
                        let w = WORDS[(h * 7 + k * 3 + d) % WORDS.len()];
                        rows.push((d, format!("10.0.4.{h}"), format!("api.{w}.com."), 0.0));
                    }
                    if noisy && h == 9 && d % 2 == 0 {
                        for _ in 0..3 {
                            rows.push((d, format!("10.0.4.{h}"), format!("{}.top.", random_label(&mut rng)), 1.0));
                        }
                    }
                }
            }
            for _ in 0..n {
                rows.push((17, "10.0.4.1".into(), format!("{}.xyz.", random_label(&mut rng)), 1.0));
            }
            judge_rows(&rows)
                .findings
                .iter()
                .filter(|f| f.0.kind == "dga")
                .map(|f| {
                    // The score is −log10 of the law's tail (graded: more names, higher).
                    let ev: serde_json::Value = serde_json::from_str(&f.0.evidence).unwrap();
                    let p = ev["fleet_law"]["tail_p"].as_f64().unwrap();
                    assert!(p < 1e-3 && (f.0.score + p.log10()).abs() < 1e-9, "score {} for P {p}", f.0.score);
                    (f.0.entity.clone(), f.0.dt.clone(), f.0.observed)
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(run(false, 3), vec![("10.0.4.1".to_string(), "2025-03-18".to_string(), 3.0)]);
        // One host-day in twenty with three: P(X ≥ 3) is far above 1 in 1,000.
        let noisy = run(true, 3);
        assert!(noisy.iter().all(|f| f.0 != "10.0.4.1"), "{noisy:?}");
        assert!(run(true, 20).contains(&("10.0.4.1".to_string(), "2025-03-18".to_string(), 20.0)));
        // Below `min_dga_domains` nothing is judged, however quiet the fleet.
        assert!(run(false, 2).is_empty());
    }

    /// Ten hosts resolve the organisation's SaaS names and hashed CloudFront names every day. On
    /// day 17 one host resolves eight random-looking new domains (DGA, found), another sends 40
    /// long encoded subdomains of one new domain (tunnelling, found), a third resolves one new
    /// punycode domain and new CloudFront names (not found); an over-long name is a counted skip.
    #[test]
    fn dga_and_tunnelling_are_found_and_lookalikes_are_not() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
        let mut rows: Vec<(usize, String, String, f64)> = Vec::new();
        for d in 0..21usize {
            for h in 0..10 {
                let src = format!("10.0.4.{h}");
                for k in 0..12 {
                    let w = WORDS[(h * 7 + k * 3 + d) % WORDS.len()];
                    rows.push((d, src.clone(), format!("api.{w}.com."), 0.0));
                }
                let cdn: String = (0..13).map(|_| (b'a' + rng.random_range(0..26u8)) as char).collect();
                rows.push((d, src.clone(), format!("d{cdn}.cloudfront.net."), 0.0));
            }
        }
        for _ in 0..8 {
            let l: String = (0..rng.random_range(12..17))
                .map(|_| (b'a' + rng.random_range(0..26u8)) as char)
                .collect();
            rows.push((17, "10.0.4.1".into(), format!("{l}.xyz."), 1.0));
        }
        const B32: &[u8] = b"abcdefghijklmnopqrstuvwxyz234567";
        for _ in 0..40 {
            let e: String = (0..50).map(|_| B32[rng.random_range(0..32)] as char).collect();
            rows.push((17, "10.0.4.2".into(), format!("{}.{}.qzvtunnel.net.", &e[..25], &e[25..]), 0.0));
        }
        rows.push((17, "10.0.4.3".into(), "www.xn--bcher-kva.example.".into(), 0.0));
        rows.push((17, "10.0.4.3".into(), format!("{}.com.", "a".repeat(70)), 0.0));
        let o = judge_rows(&rows);
        let mut got: Vec<(&str, &str, &str)> = o
            .findings
            .iter()
            .map(|f| (f.0.kind.as_str(), f.0.entity.as_str(), f.0.dt.as_str()))
            .collect();
        got.sort();
        assert_eq!(
            got,
            vec![("dga", "10.0.4.1", "2025-03-18"), ("dns_tunnelling", "10.0.4.2", "2025-03-18")],
            "{:?}",
            o.findings.iter().map(|f| &f.0.title).collect::<Vec<_>>()
        );
        assert_eq!(o.stats.skipped["malformed or over-long query name"], 1);
        let dga = &o.findings.iter().find(|f| f.0.kind == "dga").unwrap().0;
        assert_eq!(dga.observed, 8.0, "every random name counted: {}", dga.description);
        assert!(dga.investigation_sql.contains("LIKE '%.") && dga.mitre_techniques == vec!["T1568.002".to_string()]);
    }
}
