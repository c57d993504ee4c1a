//! Labelled attack scenarios injected into the sample lake, and their ground truth (`labels.json`).
//!
//! Each scenario names the detector family that should find it, the entities a finding must carry,
//! and the time window in which the evidence lies, so tests can score detectors against it.

use std::collections::BTreeMap;

use serde::Serialize;

use super::world::World;
use crate::lake::ocsf::SourceKind;

/// The kinds of injected attack.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ScenarioKind {
    /// One principal downloads far more S3 objects than usual in a few hours (T1530).
    S3BulkDownload,
    /// One Security Hub finding type jumps to a new, lasting level.
    FindingLevelShift,
    /// Another finding type rises steadily over the whole window.
    FindingTrend,
    /// A known principal's credential is used from a never-seen network (T1078).
    NewIpCredentialUse,
    /// A burst of failed logins against one identity-provider user (T1110).
    BruteForce,
    /// C2-style periodic connections from one instance to one external IP (T1071).
    Beaconing,
    /// A very large transfer from one instance to an external IP (T1048).
    Exfiltration,
    /// One host connects to many internal hosts on admin ports (T1021).
    LateralMovement,
    /// DNS queries to many never-seen, random-looking domains (T1568.002).
    DgaDns,
}

/// One injected scenario: the ground truth a detector is scored against.
#[derive(Debug, Clone, Serialize)]
pub struct Scenario {
    /// Stable id, e.g. `s3_bulk_download-1`.
    pub id: String,
    /// What was injected.
    pub kind: ScenarioKind,
    /// The detector family expected to find it (`outlier`, `changepoint`, `trend`, `ip_insights`, `network`).
    pub detector_family: &'static str,
    /// The source table family holding the evidence.
    pub source: SourceKind,
    /// AWS account id of the evidence (`external` for the identity provider).
    pub account: String,
    /// Region of the evidence.
    pub region: String,
    /// Entities a correct finding names (principal, ip, instance, finding_type, …).
    pub entities: BTreeMap<String, String>,
    /// Inclusive window start, epoch ms.
    pub window_start_ms: i64,
    /// Exclusive window end, epoch ms.
    pub window_end_ms: i64,
    /// Same window as RFC 3339 text, for people.
    pub window: String,
    /// MITRE ATT&CK technique id.
    pub mitre: &'static str,
    /// What happened.
    pub description: String,
}

/// The attack plan for a lake, computed once from the world and the day range.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Scenarios in id order.
    pub scenarios: Vec<Scenario>,
}

pub(crate) const DAY_MS: i64 = 86_400_000;
pub(crate) const HOUR_MS: i64 = 3_600_000;

/// Build the plan. `day0_ms` is the first day's midnight (UTC), `days` the number of days.
pub fn plan(world: &World, regions: &[String], day0_ms: i64, days: i64) -> Plan {
    let last = day0_ms + (days - 1) * DAY_MS;
    let acct = &world.accounts[0];
    let region = regions[0].clone();
    let mut v = Vec::new();
    let mut push = |kind: ScenarioKind,
                    family: &'static str,
                    source: SourceKind,
                    account: String,
                    entities: Vec<(&str, String)>,
                    start: i64,
                    end: i64,
                    mitre: &'static str,
                    description: String| {
        let n = v.len() + 1;
        let kind_s = serde_json::to_value(kind)
            .ok()
            .and_then(|x| x.as_str().map(String::from))
            .unwrap_or_default();
        v.push(Scenario {
            id: format!("{kind_s}-{n}"),
            kind,
            detector_family: family,
            source,
            account,
            region: region.clone(),
            entities: entities.into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
            window_start_ms: start,
            window_end_ms: end,
            window: format!("{}/{}", rfc3339(start), rfc3339(end)),
            mitre,
            description,
        });
    };
    let p_spike = &acct.principals[6];
    push(
        ScenarioKind::S3BulkDownload,
        "outlier",
        SourceKind::CloudTrailMgmt,
        acct.id.clone(),
        vec![
            ("principal", p_spike.arn.clone()),
            ("principal_name", p_spike.name.clone()),
            ("operation", "GetObject".into()),
        ],
        last - 2 * DAY_MS + 2 * HOUR_MS,
        last - 2 * DAY_MS + 5 * HOUR_MS,
        "T1530",
        format!(
            "{} downloads thousands of objects from s3://{}-finance-exports in three hours",
            p_spike.name, acct.id
        ),
    );
    let shift_day = day0_ms + (days * 3 / 5) * DAY_MS;
    push(
        ScenarioKind::FindingLevelShift,
        "changepoint",
        SourceKind::ShFindings,
        acct.id.clone(),
        vec![(
            "finding_type",
            "GuardDuty | TTPs/Initial Access/UnauthorizedAccess:EC2-SSHBruteForce".into(),
        )],
        shift_day,
        last + DAY_MS,
        "T1110",
        "SSH brute-force findings settle at about thirteen times their earlier daily level".into(),
    );
    push(
        ScenarioKind::FindingTrend,
        "trend",
        SourceKind::ShFindings,
        acct.id.clone(),
        vec![(
            "finding_type",
            "Macie | Sensitive Data Identifications/PII/SensitiveData:S3Object-Personal".into(),
        )],
        day0_ms,
        last + DAY_MS,
        "T1530",
        "Macie sensitive-data findings rise steadily over the whole window".into(),
    );
    let p_ip = &acct.principals[3];
    push(
        ScenarioKind::NewIpCredentialUse,
        "ip_insights",
        SourceKind::CloudTrailMgmt,
        acct.id.clone(),
        vec![
            ("principal", p_ip.arn.clone()),
            ("principal_name", p_ip.name.clone()),
            ("ip", "185.220.101.47".into()),
        ],
        last - DAY_MS + 13 * HOUR_MS,
        last - DAY_MS + 15 * HOUR_MS,
        "T1078.004",
        format!("{}'s access key is used from 185.220.101.47, a network it never used", p_ip.name),
    );
    let victim = idp_user(&acct.principals[1].name);
    push(
        ScenarioKind::BruteForce,
        "outlier",
        SourceKind::ExtAuthentication,
        "external".into(),
        vec![("user", victim), ("ip", "45.155.205.99".into())],
        last - DAY_MS + 3 * HOUR_MS,
        last - DAY_MS + 4 * HOUR_MS,
        "T1110.001",
        "hundreds of failed identity-provider logins against one user from one IP within an hour".into(),
    );
    let h_beacon = &acct.hosts[13];
    push(
        ScenarioKind::Beaconing,
        "network",
        SourceKind::VpcFlow,
        acct.id.clone(),
        vec![
            ("instance", h_beacon.instance.clone()),
            ("src_ip", h_beacon.ip.clone()),
            ("dst_ip", "91.219.236.18".into()),
        ],
        last - 3 * DAY_MS,
        last + DAY_MS,
        "T1071.001",
        "an instance calls one external IP every five minutes with small, regular payloads".into(),
    );
    let h_exfil = &acct.hosts[5];
    push(
        ScenarioKind::Exfiltration,
        "network",
        SourceKind::VpcFlow,
        acct.id.clone(),
        vec![
            ("instance", h_exfil.instance.clone()),
            ("src_ip", h_exfil.ip.clone()),
            ("dst_ip", "194.26.192.77".into()),
        ],
        last - DAY_MS + 20 * HOUR_MS,
        last - DAY_MS + 22 * HOUR_MS,
        "T1048",
        "a database host sends about 20 GB to an external IP in two hours".into(),
    );
    let h_lat = &acct.hosts[7];
    push(
        ScenarioKind::LateralMovement,
        "network",
        SourceKind::VpcFlow,
        acct.id.clone(),
        vec![("instance", h_lat.instance.clone()), ("src_ip", h_lat.ip.clone())],
        last - DAY_MS + 14 * HOUR_MS,
        last - DAY_MS + 15 * HOUR_MS,
        "T1021",
        "a bastion host connects to dozens of internal hosts on SSH, SMB, RDP and WinRM".into(),
    );
    let h_dga = &acct.hosts[21];
    push(
        ScenarioKind::DgaDns,
        "network",
        SourceKind::Route53,
        acct.id.clone(),
        vec![("instance", h_dga.instance.clone()), ("src_ip", h_dga.ip.clone())],
        last - 2 * DAY_MS + 8 * HOUR_MS,
        last - 2 * DAY_MS + 10 * HOUR_MS,
        "T1568.002",
        "an instance resolves hundreds of random-looking, never-seen domains".into(),
    );
    Plan { scenarios: v }
}

/// The identity-provider login of a person (`alice.smith` → `alice.smith@example.com`).
pub fn idp_user(name: &str) -> String {
    format!("{name}@example.com")
}

/// Format epoch ms as RFC 3339 UTC.
pub fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|d| d.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_default()
}
