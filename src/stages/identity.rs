//! Identity rules (`[identity]`): the few signals about *who* acted that need no history, so they
//! hold on a lake's first night and for a principal nobody has seen before, where the UEBA forest
//! has nothing to compare with. Each is a finding with its reason, at a lower confidence than a
//! model's finding (a rule knows no baseline):
//!
//! * **Instance credentials used elsewhere** (T1552.005). EC2 hands an instance profile's
//!   credentials to the instance in a session named after it (`…:assumed-role/EC2-web/i-0…`).
//!   Used from anywhere but that instance they were taken from it (the metadata service through
//!   an SSRF, a compromised process): GuardDuty's `InstanceCredentialExfiltration`. A call is
//!   flagged when its source is a public address not on `allow_cidrs` (the AWS ranges and
//!   egress addresses the organisation's instances call from — NAT gateways, Elastic IPs), or a
//!   private address that the day's VPC Flow attributes to a *different* instance. A private
//!   address VPC Flow does not show is not judged (counted as unverified), and a source that is
//!   not an address (`ec2.amazonaws.com`: AWS acting for the role) is AWS's own.
//! * **Root-user activity** (T1078.004). AWS's guidance and the CIS benchmark say the root user
//!   is for the handful of tasks only it can do; any use of it is worth a look. One finding per
//!   account and day, listing what it did and from where.
//! * **Console login without MFA** (T1078.004): a successful `ConsoleLogin` of an IAM user whose
//!   Authentication record says no second factor was used (CloudTrail's `MFAUsed`, OCSF `mfa` /
//!   `is_mfa`). Federated (SSO) sign-ins are not judged: their MFA happens at the identity
//!   provider and CloudTrail records `MFAUsed: No` for every one of them.
//!
//! The query (`queries/identity/identity_events.sql`) reads only the analysed days and only the
//! rows these rules concern, so the stage's cost follows the new day; a second query counts the
//! principals active each day (the false-finding denominator), a third (only when there are
//! instance sessions with private sources to verify) the day's VPC Flow addresses of those
//! instances.
//!
//! Score: a rule's finding is not a tail probability; its score is the rule's weight (root 8,
//! instance credentials from outside 9 or from another instance 7, login without MFA 6) plus
//! log10 of the calls behind it, so findings of one rule rank by how much was done.

use std::collections::{BTreeMap, BTreeSet};

use arrow::array::{Array, AsArray};
use arrow::datatypes::{DataType, Float64Type, Int64Type, TimeUnit, TimestampMillisecondType};
use arrow::record_batch::RecordBatch;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::hunt::eventday;
use super::{PlannedQuery, Stage, StageContext, StageError, StageOutput, Window};
use crate::detect::net::{parse_cidrs, AddrClass, Nets};
use crate::detect::Overlay;
use crate::findings::plot::PlotSpec;
use crate::findings::{mitre, Finding};
use crate::series::{Bucket, SeriesError, SeriesTemplate};
use crate::sql::quote_literal;

/// The template, compiled in.
const TEMPLATE: &str = include_str!("../../queries/identity/identity_events.sql");
/// Family name of the template.
pub const FAMILY: &str = "identity_events";
/// Detector name of the findings.
pub const DETECTOR: &str = "identity";
const DAY_MS: i64 = 86_400_000;
const HOUR_MS: i64 = 3_600_000;

/// `[identity]`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct IdentityJob {
    /// Public ranges instance credentials may be used from: the AWS ranges and egress addresses
    /// (NAT gateways, Elastic IPs) of the organisation's instances. CIDRs or single addresses.
    pub allow_cidrs: Vec<String>,
    /// Judge instance-profile sessions used outside their instance (T1552.005).
    pub instance_credentials: bool,
    /// Report any use of the root user (T1078.004).
    pub root: bool,
    /// Report IAM users' console logins without MFA (T1078.004).
    pub console_without_mfa: bool,
}

impl Default for IdentityJob {
    fn default() -> Self {
        IdentityJob {
            allow_cidrs: Vec::new(),
            instance_credentials: true,
            root: true,
            console_without_mfa: true,
        }
    }
}

impl IdentityJob {
    /// RFC 1918 and friends as inside, `allow_cidrs` as allowed (validated before a run).
    pub fn nets(&self) -> Nets {
        Nets::new(parse_cidrs("identity.allow_cidrs", &self.allow_cidrs).unwrap_or_default())
    }

    /// Every problem, each naming its field.
    pub fn validate(&self) -> Vec<String> {
        let mut e = Vec::new();
        if let Err(x) = parse_cidrs("identity.allow_cidrs", &self.allow_cidrs) {
            e.extend(x);
        }
        if !(self.instance_credentials || self.root || self.console_without_mfa) {
            e.push("identity: every rule is off (instance_credentials, root, console_without_mfa); remove [identity] instead".into());
        }
        e
    }
}

/// The stage.
#[derive(Debug, Clone)]
pub struct IdentityStage {
    /// Its settings.
    pub job: IdentityJob,
}

/// The stage's manifest section.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct IdentityStats {
    /// Principals active per analysed day (`YYYY-MM-DD`): every one was judged by every rule.
    pub judged: BTreeMap<String, usize>,
    /// Rows the rules' query returned.
    pub rows: usize,
    /// Findings per rule.
    pub findings: BTreeMap<String, usize>,
    /// Calls of instance-profile sessions judged.
    pub instance_calls: f64,
    /// Of those, calls from a private address VPC Flow did not show that day (the instance sent
    /// no flow, or the address is not in the lake's VPC Flow): not judged.
    pub unverified_calls: f64,
    /// Instance-session rows whose principal looked like an instance session but did not end in a
    /// valid instance id (`i-` and 8 or 17 hex digits): not judged.
    pub not_instance_ids: usize,
}

/// The template, parsed.
pub fn template() -> Result<SeriesTemplate, SeriesError> {
    SeriesTemplate::parse(FAMILY, TEMPLATE)
}

/// The instance id an instance-profile session is named after, when `principal` is one
/// (`arn:aws:sts::123:assumed-role/EC2-web/i-0abc…`).
pub fn instance_of(principal: &str) -> Option<&str> {
    let (head, session) = principal.rsplit_once('/')?;
    if !head.contains(":assumed-role/") {
        return None;
    }
    let hex = session.strip_prefix("i-")?;
    ((hex.len() == 8 || hex.len() == 17) && hex.bytes().all(|b| b.is_ascii_hexdigit())).then_some(session)
}

/// One row of the rules' query.
#[derive(Debug, Clone)]
struct Row {
    account: Option<String>,
    principal: String,
    ptype: String,
    hour_ms: i64,
    src_ip: String,
    operation: String,
    agent: String,
    status: String,
    without_mfa: bool,
    events: f64,
}

fn rows_of(batches: &[RecordBatch], label: &str) -> Result<Vec<Row>, SeriesError> {
    let shape = |reason: String| SeriesError::Shape {
        family: label.to_string(),
        reason,
    };
    let mut out = Vec::new();
    for b in batches {
        let col = |name: &str, to: &DataType| {
            let c = b.column_by_name(name).ok_or_else(|| shape(format!("lacks column {name}")))?;
            arrow::compute::cast(c, to).map_err(|e| shape(format!("{name}: {e}")))
        };
        let s = |name: &str| col(name, &DataType::Utf8);
        let (acct, pr, pt, ip, op, ua, st) = (
            s("accountid")?,
            s("principal")?,
            s("principal_type")?,
            s("src_ip")?,
            s("operation")?,
            s("user_agent")?,
            s("status")?,
        );
        let hour = col("bucket_start", &DataType::Timestamp(TimeUnit::Millisecond, None))?;
        let mfa = col("without_mfa", &DataType::Int64)?;
        let ev = col("events", &DataType::Float64)?;
        let (acct, pr, pt, ip, op, ua, st) = (
            acct.as_string::<i32>(),
            pr.as_string::<i32>(),
            pt.as_string::<i32>(),
            ip.as_string::<i32>(),
            op.as_string::<i32>(),
            ua.as_string::<i32>(),
            st.as_string::<i32>(),
        );
        let (hour, mfa, ev) = (
            hour.as_primitive::<TimestampMillisecondType>(),
            mfa.as_primitive::<Int64Type>(),
            ev.as_primitive::<Float64Type>(),
        );
        let txt = |a: &arrow::array::StringArray, i: usize| if a.is_null(i) { String::new() } else { a.value(i).to_string() };
        for i in 0..b.num_rows() {
            if pr.is_null(i) || hour.is_null(i) {
                continue;
            }
            out.push(Row {
                account: (!acct.is_null(i)).then(|| acct.value(i).to_string()),
                principal: pr.value(i).to_string(),
                ptype: txt(pt, i),
                hour_ms: hour.value(i),
                src_ip: txt(ip, i),
                operation: txt(op, i),
                agent: txt(ua, i),
                status: txt(st, i),
                without_mfa: !mfa.is_null(i) && mfa.value(i) != 0,
                events: if ev.is_null(i) { 0.0 } else { ev.value(i) },
            });
        }
    }
    Ok(out)
}

/// SQL counting the principals active on each analysed day (plain SQL both engines run; the
/// literals are dates formatted here, never data).
pub fn principals_sql(w: &Window) -> String {
    format!(
        "SELECT eventday, count(DISTINCT concat(COALESCE(accountid, ''), '|', principal)) AS principals \
         FROM lakesight.api_activity WHERE eventday BETWEEN {} AND {} AND principal IS NOT NULL GROUP BY eventday",
        quote_literal(&eventday(w.eval_ms)),
        quote_literal(&eventday(w.end_ms - 1))
    )
}

/// SQL listing the day's VPC Flow addresses of `instances` and the instances behind `addresses`
/// (every value a quoted literal).
pub fn flows_sql(w: &Window, instances: &BTreeSet<String>, addresses: &BTreeSet<String>) -> String {
    let list = |v: &BTreeSet<String>| v.iter().map(|x| quote_literal(x)).collect::<Vec<_>>().join(", ");
    let mut cond = Vec::new();
    if !instances.is_empty() {
        cond.push(format!("src_instance IN ({})", list(instances)));
    }
    if !addresses.is_empty() {
        cond.push(format!("src_ip IN ({})", list(addresses)));
    }
    format!(
        "SELECT eventday, src_instance, src_ip, count(*) AS flows FROM lakesight.network_activity \
         WHERE eventday BETWEEN {} AND {} AND src_instance IS NOT NULL AND ({}) \
         GROUP BY eventday, src_instance, src_ip",
        quote_literal(&eventday(w.eval_ms)),
        quote_literal(&eventday(w.end_ms - 1)),
        if cond.is_empty() { "1 = 0".to_string() } else { cond.join(" OR ") }
    )
}

/// Which rule a finding comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Rule {
    InstanceOutside,
    InstanceElsewhere,
    Root,
    NoMfa,
}

impl Rule {
    fn name(self) -> &'static str {
        match self {
            Rule::InstanceOutside => "instance_credentials_outside",
            Rule::InstanceElsewhere => "instance_credentials_other_instance",
            Rule::Root => "root_activity",
            Rule::NoMfa => "console_login_without_mfa",
        }
    }
    fn weight(self) -> f64 {
        match self {
            Rule::InstanceOutside => 9.0,
            Rule::Root => 8.0,
            Rule::InstanceElsewhere => 7.0,
            Rule::NoMfa => 6.0,
        }
    }
    fn technique(self) -> &'static str {
        match self {
            Rule::InstanceOutside | Rule::InstanceElsewhere => "T1552.005",
            Rule::Root | Rule::NoMfa => "T1078.004",
        }
    }
    fn severity(self) -> (&'static str, i32) {
        match self {
            Rule::InstanceOutside | Rule::Root => ("High", 4),
            Rule::InstanceElsewhere | Rule::NoMfa => ("Medium", 3),
        }
    }
}

/// The flagged calls of one (rule, account, principal, day).
#[derive(Debug, Default)]
struct Hit {
    rows: Vec<Row>,
    /// For instance rules: which instance VPC Flow puts behind each flagged private address.
    owners: BTreeMap<String, String>,
}

/// The day's VPC Flow addresses: (day, instance) → its addresses, and (day, address) → instances.
type Flows = (BTreeMap<(i64, String), BTreeSet<String>>, BTreeMap<(i64, String), BTreeSet<String>>);

fn flows_of(batches: &[RecordBatch]) -> Result<Flows, SeriesError> {
    let shape = |reason: String| SeriesError::Shape {
        family: "identity_instance_flows".into(),
        reason,
    };
    let mut by_instance: BTreeMap<(i64, String), BTreeSet<String>> = BTreeMap::new();
    let mut by_ip: BTreeMap<(i64, String), BTreeSet<String>> = BTreeMap::new();
    for b in batches {
        let col = |name: &str| {
            let c = b.column_by_name(name).ok_or_else(|| shape(format!("lacks column {name}")))?;
            arrow::compute::cast(c, &DataType::Utf8).map_err(|e| shape(format!("{name}: {e}")))
        };
        let (d, inst, ip) = (col("eventday")?, col("src_instance")?, col("src_ip")?);
        let (d, inst, ip) = (d.as_string::<i32>(), inst.as_string::<i32>(), ip.as_string::<i32>());
        for i in 0..b.num_rows() {
            if d.is_null(i) || inst.is_null(i) || ip.is_null(i) {
                continue;
            }
            let Ok(day) = chrono::NaiveDate::parse_from_str(d.value(i), "%Y%m%d") else {
                continue;
            };
            let day_ms = day.and_hms_opt(0, 0, 0).map(|t| t.and_utc().timestamp_millis()).unwrap_or_default();
            by_instance
                .entry((day_ms, inst.value(i).to_string()))
                .or_default()
                .insert(ip.value(i).to_string());
            by_ip
                .entry((day_ms, ip.value(i).to_string()))
                .or_default()
                .insert(inst.value(i).to_string());
        }
    }
    Ok((by_instance, by_ip))
}

fn day_of(ms: i64) -> i64 {
    ms.div_euclid(DAY_MS) * DAY_MS
}

/// Judge the rows: the flagged calls by (rule, account, principal, day).
fn judge(
    job: &IdentityJob,
    nets: &Nets,
    rows: &[Row],
    flows: &Flows,
    st: &mut IdentityStats,
) -> BTreeMap<(Rule, Option<String>, String, i64), Hit> {
    let mut hits: BTreeMap<(Rule, Option<String>, String, i64), Hit> = BTreeMap::new();
    for r in rows {
        let day = day_of(r.hour_ms);
        let mut flag = |rule: Rule, owner: Option<&String>| {
            let h = hits.entry((rule, r.account.clone(), r.principal.clone(), day)).or_default();
            h.rows.push(r.clone());
            if let Some(o) = owner {
                h.owners.insert(r.src_ip.clone(), o.clone());
            }
        };
        if r.ptype == "Root" {
            if job.root {
                flag(Rule::Root, None);
            }
            continue;
        }
        if r.without_mfa && r.operation == "ConsoleLogin" && r.ptype == "IAMUser" && r.status != "Failure" {
            if job.console_without_mfa {
                flag(Rule::NoMfa, None);
            }
            continue;
        }
        if !job.instance_credentials || !r.principal.contains(":assumed-role/") {
            continue;
        }
        let Some(instance) = instance_of(&r.principal) else {
            st.not_instance_ids += 1;
            continue;
        };
        st.instance_calls += r.events;
        match nets.class(&r.src_ip) {
            // AWS acting for the role (`ec2.amazonaws.com`), or an allow-listed range.
            AddrClass::Invalid | AddrClass::Allowed => {}
            AddrClass::External => flag(Rule::InstanceOutside, None),
            AddrClass::Internal => {
                let own = flows.0.get(&(day, instance.to_string()));
                if own.is_some_and(|a| a.contains(&r.src_ip)) {
                    continue;
                }
                // Another instance of ours had this address that day, and this one did not.
                match flows
                    .1
                    .get(&(day, r.src_ip.clone()))
                    .and_then(|o| o.iter().find(|i| *i != instance))
                {
                    Some(other) => flag(Rule::InstanceElsewhere, Some(other)),
                    None => st.unverified_calls += r.events,
                }
            }
        }
    }
    hits
}

fn finding(run_id: &str, key: &(Rule, Option<String>, String, i64), hit: &Hit) -> (Finding, PlotSpec) {
    let (rule, account, principal, day_ms) = key;
    let day = crate::series::dt(*day_ms);
    let calls: f64 = hit.rows.iter().map(|r| r.events).sum();
    let mut ops: BTreeMap<&str, f64> = BTreeMap::new();
    let mut ips: BTreeMap<&str, f64> = BTreeMap::new();
    let mut agents: BTreeSet<&str> = BTreeSet::new();
    for r in &hit.rows {
        *ops.entry(r.operation.as_str()).or_default() += r.events;
        *ips.entry(r.src_ip.as_str()).or_default() += r.events;
        agents.insert(r.agent.as_str());
    }
    let first_ms = hit.rows.iter().map(|r| r.hour_ms).min().unwrap_or(*day_ms);
    let last_ms = hit.rows.iter().map(|r| r.hour_ms).max().unwrap_or(*day_ms) + HOUR_MS;
    let list = |m: &BTreeMap<&str, f64>| m.iter().map(|(k, v)| format!("{k} ({v:.0})")).collect::<Vec<_>>().join(", ");
    let who = crate::sql::comment_text(principal);
    let instance = instance_of(principal).unwrap_or_default();
    let (title, description) = match rule {
        Rule::InstanceOutside => (
            format!("Instance credentials of {instance} used outside it, from {}", ips.keys().copied().collect::<Vec<_>>().join(", ")),
            format!(
                "On {day}, the instance-profile session {principal} — credentials EC2 hands only to instance {instance} — made {calls:.0} call(s) \
                 from public address(es) that are not on the allow-list of the organisation's AWS ranges and egress addresses: {}. \
                 Operations: {}. Credentials taken from an instance (its metadata service through an SSRF, a compromised process) and used elsewhere \
                 look exactly like this; if the instance reaches AWS through one of these addresses (a NAT gateway, an Elastic IP), add it to [identity] allow_cidrs.",
                list(&ips),
                list(&ops)
            ),
        ),
        Rule::InstanceElsewhere => (
            format!("Instance credentials of {instance} used from another instance's address"),
            format!(
                "On {day}, the instance-profile session {principal} made {calls:.0} call(s) from private address(es) that the day's VPC Flow \
                 puts behind other instances, not {instance}: {}. Operations: {}. The credentials were taken to another host inside the network.",
                hit.owners.iter().map(|(ip, o)| format!("{ip} (instance {o})")).collect::<Vec<_>>().join(", "),
                list(&ops)
            ),
        ),
        Rule::Root => (
            format!(
                "Root user of {} active: {calls:.0} call(s) from {}",
                account.as_deref().unwrap_or("an unknown account"),
                ips.keys().copied().collect::<Vec<_>>().join(", ")
            ),
            format!(
                "On {day}, the root user made {calls:.0} call(s): {}. From: {}. User agents: {}. The root user is for the few tasks only it can do \
                 (AWS's guidance, CIS AWS Foundations 1.7); confirm with the account's owners that this was one of them.",
                list(&ops),
                list(&ips),
                agents.iter().copied().collect::<Vec<_>>().join(", ")
            ),
        ),
        Rule::NoMfa => (
            format!("{who} signed in to the console without MFA from {}", ips.keys().copied().collect::<Vec<_>>().join(", ")),
            format!(
                "On {day}, {principal} signed in to the AWS console without a second factor ({calls:.0} login(s)) from {}. User agents: {}. \
                 A password alone opened the console: if MFA is required for this user, the login bypassed it; if it is not, it should be.",
                list(&ips),
                agents.iter().copied().collect::<Vec<_>>().join(", ")
            ),
        ),
    };
    let score = rule.weight() + (1.0 + calls).log10();
    let techniques = vec![rule.technique().to_string()];
    let tactics = mitre::tactics(&techniques);
    let flagged_ips: Vec<String> = ips.keys().map(|s| quote_literal(s)).collect();
    let account_filter = match account {
        Some(a) => format!("accountid = {} AND ", quote_literal(a)),
        None => String::new(),
    };
    let investigation_sql = format!(
        "-- {who} on {day}: every API call, those from the flagged address(es) first\n\
         SELECT time, operation, service, src_ip, user_agent, status, error, is_mfa, login_mfa\n\
         FROM lakesight.api_activity\n\
         WHERE eventday = {}\n  AND {account_filter}principal = {}\n\
         ORDER BY CASE WHEN src_ip IN ({}) THEN 0 ELSE 1 END, time\nLIMIT {}",
        quote_literal(&eventday(*day_ms)),
        quote_literal(principal),
        flagged_ips.join(", "),
        crate::findings::investigate::LIMIT,
    );
    let mut id = sha2::Sha256::default();
    for part in [DETECTOR, rule.name(), account.as_deref().unwrap_or("\u{0}NULL"), principal] {
        sha2::Digest::update(&mut id, part.as_bytes());
        sha2::Digest::update(&mut id, [0]);
    }
    sha2::Digest::update(&mut id, day_ms.to_le_bytes());
    let finding_id = hex::encode(&sha2::Digest::finalize(id)[..16]);
    let (sev, sev_id) = rule.severity();
    let top: Vec<serde_json::Value> = ips
        .iter()
        .map(|(ip, n)| serde_json::json!({"name": "calls from", "value": n, "baseline": 0.0, "src_ip": ip}))
        .collect();
    let f = Finding {
        finding_id,
        run_id: run_id.into(),
        detector: DETECTOR.into(),
        detector_family: "ueba".into(),
        series_family: FAMILY.into(),
        bucket: "day".into(),
        severity: sev.into(),
        severity_id: sev_id,
        score,
        confidence: 0.6,
        entity_type: "principal".into(),
        entity: principal.clone(),
        account_id: account.clone(),
        entity_keys: serde_json::json!({"accountid": account, "principal": principal}).to_string(),
        window_start_ms: *day_ms,
        window_end_ms: day_ms + DAY_MS,
        observed: calls,
        expected: 0.0,
        lower_bound: 0.0,
        upper_bound: 0.0,
        deviation: calls,
        kind: rule.name().into(),
        top_features: serde_json::Value::Array(top).to_string(),
        title,
        description,
        evidence: serde_json::json!({
            "keys": {"accountid": account, "principal": principal},
            "window": [day_ms, day_ms + DAY_MS],
            "rule": rule.name(),
            "calls": calls,
            "first_hour_ms": first_ms,
            "last_hour_end_ms": last_ms,
            "operations": ops,
            "src_ips": ips,
            "user_agents": agents,
            "instance": (!instance.is_empty()).then_some(instance),
            "address_owners": hit.owners,
        })
        .to_string(),
        investigation_sql,
        mitre_techniques: techniques,
        mitre_tactics: tactics,
        source_view: "lakesight.api_activity".into(),
        plot: None,
        condition: crate::findings::condition::Condition::default(),
        dt: day.clone(),
    };
    let mut values = vec![0.0; 24];
    for r in &hit.rows {
        let h = ((r.hour_ms - day_ms) / HOUR_MS).clamp(0, 23) as usize;
        values[h] += r.events;
    }
    let plot = PlotSpec {
        title: f.title.clone(),
        measure: "flagged calls per hour".into(),
        start_ms: *day_ms,
        bucket_ms: HOUR_MS,
        values,
        window: (
            ((first_ms - day_ms) / HOUR_MS).clamp(0, 23) as usize,
            ((last_ms - day_ms) / HOUR_MS).clamp(1, 24) as usize,
        ),
        band: (0.0, 0.0),
        overlay: Overlay::Points,
    };
    (f, plot)
}

#[async_trait]
impl Stage for IdentityStage {
    fn name(&self) -> &'static str {
        DETECTOR
    }

    fn detectors(&self) -> Vec<String> {
        vec![DETECTOR.to_string()]
    }

    fn techniques(&self) -> Vec<String> {
        vec!["T1552.005".into(), "T1078.004".into()]
    }

    fn queries(&self, w: &Window) -> Vec<PlannedQuery> {
        let q = |label: &str, view: &str| PlannedQuery {
            label: label.into(),
            view: view.into(),
            from: super::day(w.eval_ms),
            to: super::day(w.end_ms - 1),
            detectors: vec![DETECTOR.into()],
        };
        let mut v = vec![q(FAMILY, "api_activity"), q("identity_principals", "api_activity")];
        if self.job.instance_credentials {
            v.push(q("identity_instance_flows", "network_activity"));
        }
        v
    }

    async fn run(&self, ctx: &StageContext<'_>) -> Result<StageOutput, StageError> {
        let mut out = StageOutput::default();
        let mut st = IdentityStats::default();
        if !ctx.has_view("api_activity") {
            let w = "identity: the lake has no CloudTrail (api_activity); the identity rules were skipped".to_string();
            tracing::warn!("{w}");
            out.warnings.push(w);
            out.manifest.push((DETECTOR.into(), serde_json::to_value(&st).unwrap_or_default()));
            return Ok(out);
        }
        let t0 = std::time::Instant::now();
        let w = ctx.window;
        let tpl = template()?;
        let sql = crate::series::render(&tpl, Bucket::Hour, w.eval_ms, w.end_ms);
        let q = |label: &'static str, sql: String| async move {
            ctx.runner.run_sql(label, &sql).await.map_err(|source| SeriesError::Query {
                family: label.to_string(),
                source,
            })
        };
        ctx.check_cancel(DETECTOR)?;
        let batches = q(FAMILY, sql).await?;
        let rows = rows_of(&batches, FAMILY)?;
        st.rows = rows.len();
        ctx.check_cancel(DETECTOR)?;
        for b in q("identity_principals", principals_sql(&w)).await? {
            let (d, n) = match (b.column_by_name("eventday"), b.column_by_name("principals")) {
                (Some(d), Some(n)) => (d.clone(), n.clone()),
                _ => {
                    return Err(SeriesError::Shape {
                        family: "identity_principals".into(),
                        reason: "lacks eventday or principals".into(),
                    }
                    .into())
                }
            };
            let shape = |e: arrow::error::ArrowError| SeriesError::Shape {
                family: "identity_principals".into(),
                reason: e.to_string(),
            };
            let d = arrow::compute::cast(&d, &DataType::Utf8).map_err(shape)?;
            let n = arrow::compute::cast(&n, &DataType::Int64).map_err(shape)?;
            let (d, n) = (d.as_string::<i32>(), n.as_primitive::<Int64Type>());
            for i in 0..b.num_rows() {
                if d.is_null(i) || n.is_null(i) {
                    continue;
                }
                let v = d.value(i);
                let day = chrono::NaiveDate::parse_from_str(v, "%Y%m%d").map_or_else(|_| v.to_string(), |d| d.to_string());
                *st.judged.entry(day).or_default() += n.value(i).max(0) as usize;
            }
        }
        // The instances whose sessions called from private (not allow-listed) addresses, and
        // those addresses: the ones the instance rule checks against VPC Flow.
        let nets = self.job.nets();
        let mut instances = BTreeSet::new();
        let mut addresses = BTreeSet::new();
        for r in &rows {
            if let Some(i) = instance_of(&r.principal) {
                if nets.class(&r.src_ip) == AddrClass::Internal {
                    instances.insert(i.to_string());
                    addresses.insert(r.src_ip.clone());
                }
            }
        }
        let mut flows: Flows = Default::default();
        if self.job.instance_credentials && !instances.is_empty() && ctx.has_view("network_activity") {
            ctx.check_cancel(DETECTOR)?;
            flows = flows_of(&q("identity_instance_flows", flows_sql(&w, &instances, &addresses)).await?)?;
        }
        let hits = judge(&self.job, &nets, &rows, &flows, &mut st);
        for (key, hit) in &hits {
            let (f, plot) = finding(ctx.run_id, key, hit);
            *st.findings.entry(key.0.name().to_string()).or_default() += 1;
            if ctx.plots {
                out.plots.push((f.finding_id.clone(), plot));
            }
            out.findings.push(f);
        }
        if st.unverified_calls > 0.0 {
            tracing::info!(
                calls = st.unverified_calls,
                "identity: instance-session calls from private addresses VPC Flow did not show were not judged"
            );
        }
        out.timings_ms.push((DETECTOR.into(), t0.elapsed().as_millis()));
        out.manifest.push((DETECTOR.into(), serde_json::to_value(&st).unwrap_or_default()));
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(principal: &str, ptype: &str, hour_ms: i64, ip: &str, op: &str, without_mfa: bool, events: f64) -> Row {
        Row {
            account: Some("111122223333".into()),
            principal: principal.into(),
            ptype: ptype.into(),
            hour_ms,
            src_ip: ip.into(),
            operation: op.into(),
            agent: "agent".into(),
            status: "Success".into(),
            without_mfa,
            events,
        }
    }

    const SESSION: &str = "arn:aws:sts::111122223333:assumed-role/EC2-web/i-0123456789abcdef0";
    const DAY: i64 = 1_742_428_800_000; // 2025-03-20

    /// Only a role session whose name is a well-formed instance id is an instance session.
    #[test]
    fn instance_sessions_are_recognised_by_their_name() {
        assert_eq!(instance_of(SESSION), Some("i-0123456789abcdef0"));
        assert_eq!(instance_of("arn:aws:sts::1:assumed-role/R/i-1234abcd"), Some("i-1234abcd"));
        assert_eq!(instance_of("arn:aws:sts::1:assumed-role/R/i-12345"), None);
        assert_eq!(instance_of("arn:aws:sts::1:assumed-role/R/i-0123456789abcdefg"), None);
        assert_eq!(instance_of("arn:aws:sts::1:assumed-role/R/builder-session"), None);
        assert_eq!(instance_of("arn:aws:iam::1:user/i-0123456789abcdef0"), None);
        // The template selects sessions with the same shape (and UEBA folds the same ones).
        assert!(TEMPLATE.contains(&format!(":assumed-role/[^/]+{}", crate::stages::ueba::INSTANCE_ID_AT_END)));
    }

    /// The instance rule: the instance's own address, AWS acting for it and allow-listed egress
    /// pass; a public address is "outside", another instance's address is "elsewhere", and a
    /// private address VPC Flow does not know is counted, not judged.
    #[test]
    fn instance_credentials_are_judged_by_where_they_were_used() {
        let job = IdentityJob {
            allow_cidrs: vec!["52.94.0.0/16".into()],
            ..IdentityJob::default()
        };
        let rows = vec![
            row(SESSION, "AssumedRole", DAY, "10.0.3.10", "GetObject", false, 5.0),
            row(SESSION, "AssumedRole", DAY, "ec2.amazonaws.com", "GetObject", false, 1.0),
            row(SESSION, "AssumedRole", DAY, "52.94.1.2", "GetObject", false, 1.0),
            row(SESSION, "AssumedRole", DAY + 3 * HOUR_MS, "45.155.205.9", "ListBuckets", false, 2.0),
            row(SESSION, "AssumedRole", DAY + 4 * HOUR_MS, "10.0.3.24", "GetObject", false, 3.0),
            row(SESSION, "AssumedRole", DAY, "10.9.9.9", "GetObject", false, 4.0),
        ];
        let mut flows: Flows = Default::default();
        flows
            .0
            .insert((DAY, "i-0123456789abcdef0".into()), ["10.0.3.10".to_string()].into());
        flows
            .1
            .insert((DAY, "10.0.3.10".into()), ["i-0123456789abcdef0".to_string()].into());
        flows
            .1
            .insert((DAY, "10.0.3.24".into()), ["i-0fedcba9876543210".to_string()].into());
        let mut st = IdentityStats::default();
        let hits = judge(&job, &job.nets(), &rows, &flows, &mut st);
        let keys: Vec<(Rule, i64)> = hits.keys().map(|k| (k.0, k.3)).collect();
        assert_eq!(keys, vec![(Rule::InstanceOutside, DAY), (Rule::InstanceElsewhere, DAY)]);
        let outside = &hits.iter().find(|(k, _)| k.0 == Rule::InstanceOutside).unwrap().1;
        assert_eq!(outside.rows.len(), 1);
        assert_eq!(outside.rows[0].src_ip, "45.155.205.9");
        let elsewhere = &hits.iter().find(|(k, _)| k.0 == Rule::InstanceElsewhere).unwrap().1;
        assert_eq!(elsewhere.owners.get("10.0.3.24").map(String::as_str), Some("i-0fedcba9876543210"));
        assert_eq!(st.unverified_calls, 4.0);
        // The finding names the instance and the address, and its investigation quotes both.
        let (f, plot) = finding("run", hits.keys().next().unwrap(), outside);
        assert!(
            f.title.contains("i-0123456789abcdef0") && f.title.contains("45.155.205.9"),
            "{}",
            f.title
        );
        assert_eq!(f.mitre_techniques, vec!["T1552.005".to_string()]);
        assert!(f
            .investigation_sql
            .contains("principal = 'arn:aws:sts::111122223333:assumed-role/EC2-web/i-0123456789abcdef0'"));
        assert!(f.investigation_sql.contains("src_ip IN ('45.155.205.9')"));
        assert_eq!(plot.values[3], 2.0);
        assert_eq!(plot.window, (3, 4));
    }

    /// Root activity and IAM users' console logins without MFA are findings; a federated
    /// session's login, a failed login and a login with MFA are not; a rule switched off is off.
    #[test]
    fn root_and_logins_without_mfa_are_findings() {
        let root = "arn:aws:iam::111122223333:root";
        let user = "arn:aws:iam::111122223333:user/alice";
        let fed = "arn:aws:sts::111122223333:assumed-role/AWSReservedSSO_Admin/alice@example.com";
        let mut failed = row(user, "IAMUser", DAY + HOUR_MS, "198.51.100.9", "ConsoleLogin", true, 1.0);
        failed.status = "Failure".into();
        let rows = vec![
            row(root, "Root", DAY, "45.155.205.9", "ConsoleLogin", true, 1.0),
            row(root, "Root", DAY, "45.155.205.9", "CreateAccessKey", false, 1.0),
            row(user, "IAMUser", DAY, "198.51.100.9", "ConsoleLogin", true, 1.0),
            row(user, "IAMUser", DAY, "198.51.100.9", "ConsoleLogin", false, 1.0),
            failed,
            row(fed, "AssumedRole", DAY, "198.51.100.9", "ConsoleLogin", true, 1.0),
        ];
        let mut st = IdentityStats::default();
        let hits = judge(
            &IdentityJob::default(),
            &IdentityJob::default().nets(),
            &rows,
            &Default::default(),
            &mut st,
        );
        let rules: Vec<Rule> = hits.keys().map(|k| k.0).collect();
        assert_eq!(rules, vec![Rule::Root, Rule::NoMfa]);
        assert_eq!(hits.values().next().unwrap().rows.len(), 2, "both root calls in one finding");
        let (f, _) = finding("run", hits.keys().next().unwrap(), hits.values().next().unwrap());
        assert!(f.score > Rule::Root.weight() && f.score < Rule::Root.weight() + 1.0, "{}", f.score);
        let off = IdentityJob {
            root: false,
            ..IdentityJob::default()
        };
        let hits = judge(&off, &off.nets(), &rows, &Default::default(), &mut st);
        assert_eq!(hits.keys().map(|k| k.0).collect::<Vec<_>>(), vec![Rule::NoMfa]);
    }

    /// Hostile values stay literals: a principal or address with quotes cannot close the
    /// investigation SQL's strings, and the VPC Flow query quotes every instance and address.
    #[test]
    fn values_in_generated_sql_are_quoted() {
        let evil = "arn:aws:iam::1:root' OR '1'='1";
        let r = row(evil, "Root", DAY, "1.2.3.4'; DROP TABLE x; --", "ConsoleLogin", true, 1.0);
        let mut st = IdentityStats::default();
        let hits = judge(
            &IdentityJob::default(),
            &IdentityJob::default().nets(),
            &[r],
            &Default::default(),
            &mut st,
        );
        let (k, h) = hits.iter().next().unwrap();
        let (f, _) = finding("run", k, h);
        let parsed = datafusion::sql::sqlparser::parser::Parser::parse_sql(
            &datafusion::sql::sqlparser::dialect::GenericDialect {},
            &f.investigation_sql,
        )
        .expect("parses");
        assert_eq!(parsed.len(), 1);
        assert!(f.investigation_sql.contains("'arn:aws:iam::1:root'' OR ''1''=''1'"));
        let w = Window {
            day0_ms: DAY,
            eval_ms: DAY,
            end_ms: DAY + DAY_MS,
            baseline_days: 0,
        };
        let s = flows_sql(&w, &["i-1'x".to_string()].into(), &["10.0.0.1')--".to_string()].into());
        let parsed = datafusion::sql::sqlparser::parser::Parser::parse_sql(&datafusion::sql::sqlparser::dialect::GenericDialect {}, &s)
            .expect("parses");
        assert_eq!(parsed.len(), 1);
        assert!(
            s.contains("src_instance IN ('i-1''x')") && s.contains("src_ip IN ('10.0.0.1'')--')"),
            "{s}"
        );
    }
}
