//! Labelled attack scenarios injected into the sample lake, and their ground truth (`labels.json`).
//!
//! Each scenario names the detector family that should find it, the entities a finding must carry,
//! and the time window in which the evidence lies, so tests can score detectors against it.

use std::collections::BTreeMap;

use serde::Serialize;

use super::world::{self, World, FINDING_TYPES};
use super::GenCtx;
use crate::lake::ocsf::SourceKind;

/// The kinds of injected attack.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
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
    /// A role's credentials used at night from a new network and user agent for discovery across
    /// services (T1580, with T1078.004); `--scenarios` only.
    NightDiscovery,
    /// A person who never wrote to IAM creates a user and access keys and attaches policies
    /// (T1098); `--scenarios` only.
    IamPersistence,
    /// A principal that never touched Secrets Manager enumerates secrets, keys, parameters and
    /// bucket policies (T1552); `--scenarios` only.
    SecretsEnumeration,
    /// Low-and-slow exfiltration: a few days of modest transfers to one new external address, each
    /// day unremarkable (T1048); `--scenarios` only.
    SlowExfiltration,
    /// DNS tunnelling: many long, encoded subdomains of one new domain (T1071.004); `--scenarios`
    /// only.
    DnsTunnelling,
    /// An instance profile's credentials, taken from the instance (metadata service, SSRF), used
    /// from an attacker's network (T1552.005); `--scenarios` only, realistic world.
    InstanceCredentialTheft,
    /// The account's root user signs in to the console and acts, from a network the organisation
    /// never used (T1078.004); `--scenarios` only.
    RootActivity,
    /// A person's password used for a console login without MFA from a new network, then calls
    /// in that session (T1078.004); `--scenarios` only.
    ConsoleLoginWithoutMfa,
    /// An IAM user the organisation never had (created by an intruder) whose first calls are a
    /// discovery sweep across services (T1580, T1087.004); `--scenarios` only.
    NewPrincipalDiscovery,
}

/// Operations of the UEBA scenarios, called in this order (cycled) — so a weak instance is its
/// first few: identity, then the breadth of discovery.
pub const NIGHT_DISCOVERY_OPS: &[&str] = &[
    "GetCallerIdentity",
    "ListUsers",
    "ListRoles",
    "GetAccountAuthorizationDetails",
    "ListBuckets",
    "DescribeInstances",
    "ListAttachedRolePolicies",
    "DescribeSecurityGroups",
    "ListFunctions20150331",
    "DescribeDBInstances",
    "ListAccessKeys",
    "DescribeLogGroups",
    "ListSecrets",
    "ListKeys",
];
/// See [`NIGHT_DISCOVERY_OPS`]: a new principal's first calls, each a different discovery
/// operation (who am I, then IAM, storage, compute, functions, databases, logs, networks), as
/// enumeration tools make them; cycled beyond its length.
pub const FIRST_DISCOVERY_OPS: &[&str] = &[
    "GetCallerIdentity",
    "ListUsers",
    "ListRoles",
    "ListBuckets",
    "DescribeInstances",
    "GetAccountAuthorizationDetails",
    "ListFunctions20150331",
    "DescribeSecurityGroups",
    "DescribeDBInstances",
    "ListAttachedRolePolicies",
    "DescribeLogGroups",
    "DescribeVolumes",
    "DescribeLoadBalancers",
    "ListAccessKeys",
    "GetBucketAcl",
    "LookupEvents",
];
/// See [`NIGHT_DISCOVERY_OPS`].
pub const IAM_PERSISTENCE_OPS: &[&str] = &[
    "CreateAccessKey",
    "AttachUserPolicy",
    "CreateUser",
    "PutUserPolicy",
    "CreateLoginProfile",
    "ListAccessKeys",
];
/// See [`NIGHT_DISCOVERY_OPS`].
pub const SECRETS_OPS: &[&str] = &[
    "ListSecrets",
    "GetSecretValue",
    "ListKeys",
    "GetParametersByPath",
    "GetBucketPolicy",
    "Decrypt",
    "GetSecretValue",
];
/// See [`NIGHT_DISCOVERY_OPS`]: what stolen instance credentials are used for first (who am I,
/// which buckets, then their objects).
pub const INSTANCE_THEFT_OPS: &[&str] = &[
    "GetCallerIdentity",
    "ListBuckets",
    "ListObjects",
    "GetObject",
    "GetObject",
    "DescribeInstances",
    "GetObject",
];
/// See [`NIGHT_DISCOVERY_OPS`]: the root user after its console login.
pub const ROOT_OPS: &[&str] = &[
    "ListUsers",
    "CreateAccessKey",
    "ListBuckets",
    "GetAccountAuthorizationDetails",
    "ListRoles",
];
/// See [`NIGHT_DISCOVERY_OPS`]: a person's session after a login without MFA.
pub const NO_MFA_OPS: &[&str] = &["ListBuckets", "GetObject", "DescribeInstances", "ListUsers", "GetObject"];

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
    /// The dial (`--scenarios kind=strength`): the injected amount over the entity's own baseline.
    /// `None` for the default plan, whose attacks have the fixed sizes described above.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub strength: Option<f64>,
    /// The entity's usual level the instance was sized from (see `baseline_unit`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub baseline: Option<f64>,
    /// What `baseline` counts, e.g. "GetObject calls by the principal in the window's hours on a usual day".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub baseline_unit: Option<&'static str>,
    /// What was injected, in the unit of `baseline` (per day for level shifts, beacons and
    /// trends: for a trend, the extra per day one week after its start).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub injected: Option<f64>,
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
            strength: None,
            baseline: None,
            baseline_unit: None,
            injected: None,
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

impl ScenarioKind {
    /// Every kind, in the order of the default plan.
    pub const ALL: [ScenarioKind; 18] = [
        ScenarioKind::S3BulkDownload,
        ScenarioKind::FindingLevelShift,
        ScenarioKind::FindingTrend,
        ScenarioKind::NewIpCredentialUse,
        ScenarioKind::BruteForce,
        ScenarioKind::Beaconing,
        ScenarioKind::Exfiltration,
        ScenarioKind::LateralMovement,
        ScenarioKind::DgaDns,
        ScenarioKind::NightDiscovery,
        ScenarioKind::IamPersistence,
        ScenarioKind::SecretsEnumeration,
        ScenarioKind::SlowExfiltration,
        ScenarioKind::DnsTunnelling,
        ScenarioKind::InstanceCredentialTheft,
        ScenarioKind::RootActivity,
        ScenarioKind::ConsoleLoginWithoutMfa,
        ScenarioKind::NewPrincipalDiscovery,
    ];

    /// The kind's name in `labels.json` and on the command line (`s3_bulk_download`).
    pub fn name(self) -> &'static str {
        match self {
            ScenarioKind::S3BulkDownload => "s3_bulk_download",
            ScenarioKind::FindingLevelShift => "finding_level_shift",
            ScenarioKind::FindingTrend => "finding_trend",
            ScenarioKind::NewIpCredentialUse => "new_ip_credential_use",
            ScenarioKind::BruteForce => "brute_force",
            ScenarioKind::Beaconing => "beaconing",
            ScenarioKind::Exfiltration => "exfiltration",
            ScenarioKind::LateralMovement => "lateral_movement",
            ScenarioKind::DgaDns => "dga_dns",
            ScenarioKind::NightDiscovery => "night_discovery",
            ScenarioKind::IamPersistence => "iam_persistence",
            ScenarioKind::SecretsEnumeration => "secrets_enumeration",
            ScenarioKind::SlowExfiltration => "slow_exfiltration",
            ScenarioKind::DnsTunnelling => "dns_tunnelling",
            ScenarioKind::InstanceCredentialTheft => "instance_credential_theft",
            ScenarioKind::RootActivity => "root_activity",
            ScenarioKind::ConsoleLoginWithoutMfa => "console_login_without_mfa",
            ScenarioKind::NewPrincipalDiscovery => "new_principal_discovery",
        }
    }
}

impl std::str::FromStr for ScenarioKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        ScenarioKind::ALL.into_iter().find(|k| k.name() == s).ok_or_else(|| {
            let names: Vec<&str> = ScenarioKind::ALL.iter().map(|k| k.name()).collect();
            format!("unknown scenario kind {s:?}; known: {}", names.join(", "))
        })
    }
}

/// One `kind=strength[:count]` item of `--scenarios`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ScenarioSpec {
    /// What to inject.
    pub kind: ScenarioKind,
    /// Size relative to the entity's own normal (see [`plan_dial`] for each kind's unit).
    pub strength: f64,
    /// How many instances, each at its own random entity and day.
    pub count: u32,
}

/// Parse `s3_bulk_download=3:5,finding_level_shift=1.5` (count defaults to 1).
pub fn parse_specs(text: &str) -> Result<Vec<ScenarioSpec>, String> {
    let mut out = Vec::new();
    for item in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (kind, rest) = item
            .split_once('=')
            .ok_or_else(|| format!("{item:?}: expected kind=strength[:count]"))?;
        let kind: ScenarioKind = kind.trim().parse()?;
        let (strength, count) = match rest.split_once(':') {
            Some((s, c)) => (s, c.trim().parse::<u32>().map_err(|e| format!("{item:?}: count {c:?}: {e}"))?),
            None => (rest, 1),
        };
        let strength: f64 = strength
            .trim()
            .parse()
            .map_err(|e| format!("{item:?}: strength {strength:?}: {e}"))?;
        if !(strength.is_finite() && strength > 0.0) || count == 0 {
            return Err(format!("{item:?}: strength must be > 0 and count ≥ 1"));
        }
        out.push(ScenarioSpec { kind, strength, count });
    }
    if out.is_empty() {
        return Err("no scenarios given; expected kind=strength[:count],…".into());
    }
    Ok(out)
}

/// One drawn candidate of a dial instance before it is accepted.
struct Candidate {
    account: usize,
    /// Key that must be unique over the plan (an entity is attacked once).
    key: String,
    entities: Vec<(&'static str, String)>,
    day: i64,
    hours: std::ops::Range<u32>,
    baseline: f64,
}

/// A candidate where principal `p`'s credentials are used from an attacker's address (drawn
/// from `rng`) in `hours` of `day`, sized from the principal's usual day.
fn from_attacker<R: rand::Rng>(
    ctx: &GenCtx<'_>,
    account: usize,
    p: usize,
    day: i64,
    hours: std::ops::Range<u32>,
    rng: &mut R,
) -> Candidate {
    let pr = &ctx.world.accounts[account].principals[p];
    Candidate {
        baseline: ctx.principal_day_mean(account, 0, day, p),
        ..unused_from_attacker(account, pr, day, hours, rng)
    }
}

/// A candidate where a principal the background never uses (the root user, an intruder's new
/// user) acts from an attacker's address (drawn from `rng`) in `hours` of `day`: it has no
/// normal, so strength is the number of calls (baseline 1).
fn unused_from_attacker<R: rand::Rng>(
    account: usize,
    pr: &world::Principal,
    day: i64,
    hours: std::ops::Range<u32>,
    rng: &mut R,
) -> Candidate {
    Candidate {
        account,
        key: format!("principal {}", pr.arn),
        entities: vec![
            ("principal", pr.arn.clone()),
            ("principal_name", pr.name.clone()),
            ("src_ip", world::attacker_ip(rng)),
        ],
        day,
        baseline: 1.0,
        hours,
    }
}

/// Days of a level shift's new regime inside the lake (see `plan_dial`).
const SHIFT_WEEK: i64 = 7;

/// Draw the `--scenarios` instances: each at a random (seeded) entity, day and hour, sized from the
/// entity's own baseline ([`GenCtx`]'s `rates`), in the primary region. Units of `strength`:
///
/// | kind | injected |
/// |---|---|
/// | `s3_bulk_download` | strength × the principal's usual GetObject calls in the 3-hour window's hours |
/// | `finding_level_shift` | from a day at least a week before the lake's end on, (1 + strength) × the type's usual daily findings |
/// | `finding_trend` | extra strength × usual daily findings per week since its start day |
/// | `new_ip_credential_use` | strength calls (rounded) from an attacker network the principal never used |
/// | `brute_force` | strength × the user's usual daily failed logins, in one hour, from one attacker IP |
/// | `exfiltration` | strength × the instance's usual daily bytes to external addresses, in two hours |
/// | `dga_dns` | strength × the instance's usual distinct domains a day, new random names, in two hours |
/// | `beaconing` | strength × the larger of 12 and the instance's usual daily flows to its top external address, on a schedule with ±30% jitter and one beat in ten missed, ~1.9 KB each, per day for up to 3 days |
/// | `lateral_movement` | strength × the instance's usual distinct internal peers in the hour, on admin ports |
/// | `slow_exfiltration` | strength × the instance's usual daily external bytes in all, to one new address, spread evenly over five days |
/// | `dns_tunnelling` | strength × 20 queries of distinct 50-character encoded subdomains of one new domain, in two hours |
/// | `night_discovery` | strength discovery calls (rounded) by a role, at night, from a new network and user agent |
/// | `iam_persistence` | strength IAM write calls by a person who never wrote to IAM, in its busiest hours |
/// | `secrets_enumeration` | strength secrets/keys/parameters calls by a principal that never read secrets |
/// | `instance_credential_theft` | strength calls with an instance profile's session (named after its instance), from an attacker's network, in two hours (realistic world) |
/// | `root_activity` | a console login of the account's root user without MFA from an attacker's network, then strength calls, in one hour |
/// | `console_login_without_mfa` | a person's console login without MFA from an attacker's network, then strength calls, in one hour |
/// | `new_principal_discovery` | an IAM user never seen before makes its first strength calls, each a different discovery operation (cycled past 16), in one hour, from an attacker's network and scripting agent |
///
/// Entities are distinct over the whole plan; days are spread over the second half of the lake
/// (trends start in the first half), so there is history before each instance.
pub fn plan_dial(ctx: &GenCtx<'_>, specs: &[ScenarioSpec]) -> Result<Plan, String> {
    use rand::Rng;

    let days = ctx.cfg.days as i64;
    let region = 0usize;
    let region_name = ctx.cfg.regions[region].clone();
    if specs.is_empty() {
        return Ok(Plan { scenarios: Vec::new() });
    }
    let first = (days / 2).clamp(1, (days - 1).max(1));
    let w = ctx.world;
    let mut used = std::collections::BTreeSet::new();
    let mut v: Vec<Scenario> = Vec::new();
    let mut specs = specs.to_vec();
    specs.sort_by_key(|s| s.kind);
    for sp in &specs {
        for i in 0..sp.count {
            let mut rng = world::rng_for(ctx.cfg.seed, &["scenario", sp.kind.name(), &i.to_string()]);
            let mut best: Option<Candidate> = None;
            for _attempt in 0..400 {
                let account = rng.random_range(0..w.accounts.len());
                let acct = &w.accounts[account];
                let day = rng.random_range(first..days);
                let c = match sp.kind {
                    ScenarioKind::S3BulkDownload | ScenarioKind::NewIpCredentialUse => {
                        let p = rng.random_range(0..acct.principals.len());
                        let pr = &acct.principals[p];
                        if sp.kind == ScenarioKind::S3BulkDownload {
                            let h0 = rng.random_range(0..22u32);
                            let hours = h0..h0 + 3;
                            Candidate {
                                account,
                                key: format!("principal {}", pr.arn),
                                entities: vec![
                                    ("principal", pr.arn.clone()),
                                    ("principal_name", pr.name.clone()),
                                    ("operation", "GetObject".into()),
                                ],
                                day,
                                baseline: ctx.principal_op_mean(account, region, day, p, "GetObject", hours.clone()),
                                hours,
                            }
                        } else {
                            let h0 = rng.random_range(0..23u32);
                            from_attacker(ctx, account, p, day, h0..h0 + 2, &mut rng)
                        }
                    }
                    ScenarioKind::NightDiscovery | ScenarioKind::IamPersistence | ScenarioKind::SecretsEnumeration => {
                        // Night discovery: a service role; IAM persistence: a person who never
                        // writes to IAM; secrets: anyone who never reads secrets. Each a principal
                        // that existed before the day (a joiner's credentials cannot be stolen
                        // before it first acts).
                        let existed = |p: usize| (0..day).any(|d| ctx.principal_day_mean(account, region, d, p) > 0.0);
                        let fits = |p: usize| {
                            let pr = &acct.principals[p];
                            existed(p)
                                && match sp.kind {
                                    ScenarioKind::NightDiscovery => !pr.human,
                                    ScenarioKind::IamPersistence => {
                                        pr.human
                                            && ["CreateUser", "CreateAccessKey", "AttachRolePolicy"]
                                                .iter()
                                                .all(|op| ctx.principal_api_share(account, p, op) == 0.0)
                                    }
                                    _ => ctx.principal_api_share(account, p, "GetSecretValue") == 0.0,
                                }
                        };
                        let pool: Vec<usize> = (0..acct.principals.len()).filter(|&p| fits(p)).collect();
                        if pool.is_empty() {
                            continue;
                        }
                        let p = pool[rng.random_range(0..pool.len())];
                        let pr = &acct.principals[p];
                        let mut entities = vec![("principal", pr.arn.clone()), ("principal_name", pr.name.clone())];
                        let hours = match sp.kind {
                            ScenarioKind::NightDiscovery => {
                                entities.push(("src_ip", world::attacker_ip(&mut rng)));
                                entities.push(("user_agent", world::ATTACKER_AGENT.to_string()));
                                let h0 = rng.random_range(1..4u32);
                                h0..h0 + 2
                            }
                            // In the principal's busiest two hours, from its own address: a
                            // stolen session or an insider, not a new network.
                            _ => {
                                let h0 = (0..23u32)
                                    .max_by(|&a, &b| {
                                        ctx.principal_hour_share(account, p, a..a + 2).total_cmp(&ctx.principal_hour_share(
                                            account,
                                            p,
                                            b..b + 2,
                                        ))
                                    })
                                    .unwrap_or(10);
                                h0..h0 + 2
                            }
                        };
                        Candidate {
                            account,
                            key: format!("principal {}", pr.arn),
                            entities,
                            day,
                            baseline: ctx.principal_day_mean(account, region, day, p),
                            hours,
                        }
                    }
                    ScenarioKind::InstanceCredentialTheft => {
                        // An instance whose session exists on the day (new hosts only from theirs).
                        let live: Vec<&(usize, world::Principal)> = acct
                            .instance_sessions
                            .iter()
                            .filter(|(h, _)| ctx.host_flows_mean(account, region, day, *h) > 0.0)
                            .collect();
                        if live.is_empty() {
                            continue;
                        }
                        let (h, pr) = live[rng.random_range(0..live.len())];
                        let h0 = rng.random_range(0..22u32);
                        Candidate {
                            account,
                            key: format!("principal {}", pr.arn),
                            entities: vec![
                                ("principal", pr.arn.clone()),
                                ("principal_name", pr.name.clone()),
                                ("instance", acct.hosts[*h].instance.clone()),
                                ("src_ip", world::attacker_ip(&mut rng)),
                            ],
                            day,
                            baseline: crate::sample::realistic::INSTANCE_SESSION_CALLS,
                            hours: h0..h0 + 2,
                        }
                    }
                    ScenarioKind::RootActivity => {
                        let h0 = rng.random_range(0..23u32);
                        unused_from_attacker(account, &acct.root, day, h0..h0 + 1, &mut rng)
                    }
                    ScenarioKind::NewPrincipalDiscovery => {
                        let pr = &acct.intruder_users[rng.random_range(0..acct.intruder_users.len())];
                        let h0 = rng.random_range(0..23u32);
                        let mut c = unused_from_attacker(account, pr, day, h0..h0 + 1, &mut rng);
                        c.entities.push(("user_agent", world::ATTACKER_AGENT.to_string()));
                        c
                    }
                    ScenarioKind::ConsoleLoginWithoutMfa => {
                        let people: Vec<usize> = (0..acct.principals.len())
                            .filter(|&p| acct.principals[p].human && ctx.principal_day_mean(account, region, day, p) > 0.0)
                            .collect();
                        if people.is_empty() {
                            continue;
                        }
                        let p = people[rng.random_range(0..people.len())];
                        let h0 = rng.random_range(0..23u32);
                        from_attacker(ctx, account, p, day, h0..h0 + 1, &mut rng)
                    }
                    ScenarioKind::BruteForce => {
                        let people: Vec<usize> = (0..acct.principals.len()).filter(|&p| acct.principals[p].human).collect();
                        let p = people[rng.random_range(0..people.len())];
                        let user = idp_user(&acct.principals[p].name);
                        let h0 = rng.random_range(0..24u32);
                        Candidate {
                            account,
                            key: format!("user {user}"),
                            entities: vec![("user_name", user), ("src_ip", world::attacker_ip(&mut rng))],
                            day,
                            baseline: ctx.idp_failures_mean(account, p, day),
                            hours: h0..h0 + 1,
                        }
                    }
                    ScenarioKind::FindingLevelShift | ScenarioKind::FindingTrend => {
                        let ft = rng.random_range(0..FINDING_TYPES.len());
                        let (_, feature, ty, _) = FINDING_TYPES[ft];
                        let day = if sp.kind == ScenarioKind::FindingTrend {
                            rng.random_range(0..first.max(1))
                        } else {
                            // A shift is a new level that lasts: a week of it is in the lake
                            // (the week within which the job's change detector must confirm it),
                            // so recall measures detection within a week of the onset, not how
                            // many instances were placed in the lake's last two days.
                            rng.random_range(first..(days - SHIFT_WEEK).max(first + 1))
                        };
                        Candidate {
                            account,
                            key: format!("finding_type {} {feature} | {ty}", acct.id),
                            entities: vec![("finding_type", format!("{feature} | {ty}"))],
                            day,
                            baseline: ctx.finding_week_mean(account, region, day, ft),
                            hours: 0..24,
                        }
                    }
                    ScenarioKind::Exfiltration
                    | ScenarioKind::DgaDns
                    | ScenarioKind::Beaconing
                    | ScenarioKind::LateralMovement
                    | ScenarioKind::SlowExfiltration
                    | ScenarioKind::DnsTunnelling => {
                        let h = rng.random_range(0..acct.hosts.len());
                        let host = &acct.hosts[h];
                        let mut entities = vec![("instance", host.instance.clone()), ("src_ip", host.ip.clone())];
                        let (baseline, hours) = match sp.kind {
                            ScenarioKind::Exfiltration => {
                                entities.push(("dst_ip", world::attacker_ip(&mut rng)));
                                let h0 = rng.random_range(0..22u32);
                                (ctx.host_external_bytes_mean(account, region, day, h), h0..h0 + 2)
                            }
                            ScenarioKind::DgaDns => {
                                let h0 = rng.random_range(0..22u32);
                                (ctx.host_domains_mean(account, region, day, h), h0..h0 + 2)
                            }
                            ScenarioKind::Beaconing => {
                                entities.push(("dst_ip", world::attacker_ip(&mut rng)));
                                (ctx.host_top_external_flows_mean(account, region, day, h), 0..24)
                            }
                            ScenarioKind::SlowExfiltration => {
                                entities.push(("dst_ip", world::attacker_ip(&mut rng)));
                                (ctx.host_external_bytes_mean(account, region, day, h), 0..24)
                            }
                            ScenarioKind::DnsTunnelling => {
                                let label: String = (0..9).map(|_| (b'a' + rng.random_range(0..26u8)) as char).collect();
                                entities.push(("domain", format!("{label}.{}", ["net", "com", "io"][rng.random_range(0..3)])));
                                let h0 = rng.random_range(0..22u32);
                                (ctx.host_domains_mean(account, region, day, h), h0..h0 + 2)
                            }
                            _ => {
                                let h0 = rng.random_range(0..24u32);
                                (ctx.host_internal_peers_mean(account, region, day, h, h0..h0 + 1), h0..h0 + 1)
                            }
                        };
                        Candidate {
                            account,
                            key: format!("instance {}", host.instance),
                            entities,
                            day,
                            baseline,
                            hours,
                        }
                    }
                };
                if used.contains(&c.key) {
                    continue;
                }
                // An entity with a usual level of at least one (event, domain, peer, …) in the
                // window; otherwise the one with the highest level seen.
                let good = c.baseline >= 1.0;
                if best.as_ref().is_none_or(|b| c.baseline > b.baseline) {
                    best = Some(c);
                }
                if good {
                    break;
                }
            }
            let c = best.ok_or_else(|| {
                format!(
                    "scenarios: {}: no unused entity left for instance {} of {}",
                    sp.kind.name(),
                    i + 1,
                    sp.count
                )
            })?;
            used.insert(c.key.clone());
            v.push(dial_instance(ctx, sp, c, &region_name, v.len() + 1));
        }
    }
    Ok(Plan { scenarios: v })
}

/// Turn an accepted candidate into its ground truth.
fn dial_instance(ctx: &GenCtx<'_>, sp: &ScenarioSpec, c: Candidate, region: &str, n: usize) -> Scenario {
    let days = ctx.cfg.days as i64;
    let day_ms = ctx.day0_ms + c.day * DAY_MS;
    let acct = &ctx.world.accounts[c.account];
    let s = sp.strength;
    let b = c.baseline;
    let (start, end) = (day_ms + c.hours.start as i64 * HOUR_MS, day_ms + c.hours.end as i64 * HOUR_MS);
    let name = |k: &str| c.entities.iter().find(|e| e.0 == k).map(|e| e.1.clone()).unwrap_or_default();
    let (family, source, account, start, end, mitre, unit, injected, description): (
        &str,
        SourceKind,
        String,
        i64,
        i64,
        &str,
        &str,
        f64,
        String,
    ) = match sp.kind {
        ScenarioKind::S3BulkDownload => {
            let k = (s * b).round().max(1.0);
            (
                "outlier",
                SourceKind::CloudTrailMgmt,
                acct.id.clone(),
                start,
                end,
                "T1530",
                "GetObject calls by the principal in the window's hours on a usual day",
                k,
                format!(
                    "{} makes {k} extra GetObject calls in three hours ({s}× its usual {b:.1})",
                    name("principal_name")
                ),
            )
        }
        ScenarioKind::NewIpCredentialUse => {
            let k = s.round().max(1.0);
            (
                "ip_insights",
                SourceKind::CloudTrailMgmt,
                acct.id.clone(),
                start,
                end,
                "T1078.004",
                "API calls by the principal per day (for reference; strength is the number of calls)",
                k,
                format!(
                    "{}'s credentials make {k} calls from {}, a network it never used",
                    name("principal_name"),
                    name("src_ip")
                ),
            )
        }
        ScenarioKind::NightDiscovery | ScenarioKind::IamPersistence | ScenarioKind::SecretsEnumeration => {
            let k = s.round().max(1.0);
            let (mitre, what) = match sp.kind {
                ScenarioKind::NightDiscovery => (
                    "T1580",
                    format!(
                        "{}'s credentials make {k} discovery calls at night from {} with a new user agent",
                        name("principal_name"),
                        name("src_ip")
                    ),
                ),
                ScenarioKind::IamPersistence => (
                    "T1098",
                    format!(
                        "{}, who never wrote to IAM, makes {k} calls creating users and access keys and attaching policies",
                        name("principal_name")
                    ),
                ),
                _ => (
                    "T1552",
                    format!(
                        "{}, which never read secrets, makes {k} calls enumerating secrets, keys, parameters and bucket policies",
                        name("principal_name")
                    ),
                ),
            };
            (
                "ueba",
                SourceKind::CloudTrailMgmt,
                acct.id.clone(),
                start,
                end,
                mitre,
                "API calls by the principal per day (for reference; strength is the number of calls)",
                k,
                what,
            )
        }
        ScenarioKind::InstanceCredentialTheft
        | ScenarioKind::RootActivity
        | ScenarioKind::ConsoleLoginWithoutMfa
        | ScenarioKind::NewPrincipalDiscovery => {
            let k = s.round().max(1.0);
            let (mitre, unit, what) = match sp.kind {
                ScenarioKind::NewPrincipalDiscovery => (
                    "T1580",
                    "API calls by the principal before this day: none (for reference; strength is the number of calls)",
                    format!(
                        "{}, an IAM user never seen before, makes its first {k} call(s) from {}: a discovery sweep, \
                         each call a different operation",
                        name("principal_name"),
                        name("src_ip")
                    ),
                ),
                ScenarioKind::InstanceCredentialTheft => (
                    "T1552.005",
                    "API calls by the instance's session on a usual day (for reference; strength is the number of calls)",
                    format!(
                        "the instance profile credentials of {} ({}) make {k} calls from {}, outside the instance",
                        name("instance"),
                        name("principal_name"),
                        name("src_ip")
                    ),
                ),
                ScenarioKind::RootActivity => (
                    "T1078.004",
                    "root-user calls on a usual day: none (for reference; strength is the number of calls)",
                    format!(
                        "the root user of {} signs in to the console from {} and makes {k} call(s)",
                        acct.id,
                        name("src_ip")
                    ),
                ),
                _ => (
                    "T1078.004",
                    "API calls by the principal per day (for reference; strength is the number of calls)",
                    format!(
                        "{} signs in to the console without MFA from {} and makes {k} call(s)",
                        name("principal_name"),
                        name("src_ip")
                    ),
                ),
            };
            (
                "ueba",
                SourceKind::CloudTrailMgmt,
                acct.id.clone(),
                start,
                end,
                mitre,
                unit,
                k,
                what,
            )
        }
        ScenarioKind::BruteForce => {
            let k = (s * b).round().max(1.0);
            (
                "outlier",
                SourceKind::ExtAuthentication,
                "external".into(),
                start,
                end,
                "T1110.001",
                "failed identity-provider logins of the user per day",
                k,
                format!(
                    "{k} failed logins against {} from {} in one hour ({s}× its usual {b:.2} a day)",
                    name("user_name"),
                    name("src_ip")
                ),
            )
        }
        ScenarioKind::FindingLevelShift => (
            "changepoint",
            SourceKind::ShFindings,
            acct.id.clone(),
            day_ms,
            ctx.day0_ms + days * DAY_MS,
            "T1110",
            "findings of the type per day in the account and region",
            s * b,
            format!(
                "{} findings rise to {:.1}× their usual {b:.2} a day from this day on",
                name("finding_type"),
                1.0 + s
            ),
        ),
        ScenarioKind::FindingTrend => (
            "trend",
            SourceKind::ShFindings,
            acct.id.clone(),
            day_ms,
            ctx.day0_ms + days * DAY_MS,
            "T1530",
            "findings of the type per day in the account and region",
            s * b,
            format!(
                "{} findings grow by {s}× their usual {b:.2} a day per week from this day on",
                name("finding_type")
            ),
        ),
        ScenarioKind::Exfiltration => {
            let k = (s * b).round().max(1.0);
            (
                "network",
                SourceKind::VpcFlow,
                acct.id.clone(),
                start,
                end,
                "T1048",
                "bytes the instance sends to external addresses per day",
                k,
                format!(
                    "{} sends {k} bytes to {} in two hours ({s}× its usual daily {b:.0})",
                    name("instance"),
                    name("dst_ip")
                ),
            )
        }
        ScenarioKind::DgaDns => {
            let k = (s * b).round().max(1.0);
            (
                "network",
                SourceKind::Route53,
                acct.id.clone(),
                start,
                end,
                "T1568.002",
                "distinct domains the instance resolves per day",
                k,
                format!(
                    "{} resolves {k} random-looking, never-seen domains in two hours ({s}× its usual {b:.1} a day)",
                    name("instance")
                ),
            )
        }
        ScenarioKind::Beaconing => {
            // At least twelve a day per unit of strength: an implant checks in on its own clock,
            // not at its host's volume (a small host's top address sees a few flows a day).
            let k = (s * b.max(12.0)).round().max(1.0);
            (
                "network",
                SourceKind::VpcFlow,
                acct.id.clone(),
                day_ms,
                ctx.day0_ms + (c.day + 3).min(days) * DAY_MS,
                "T1071.001",
                "flows from the instance to its most-contacted external address per day",
                k,
                format!(
                    "{} calls {} {k} times a day at a regular interval ({s}× its usual top {b:.1})",
                    name("instance"),
                    name("dst_ip")
                ),
            )
        }
        ScenarioKind::SlowExfiltration => {
            let k = (s * b).round().max(1.0);
            // Five days (fewer at the lake's end), the same share each day.
            let end_day = (c.day + 5).min(days);
            let n = (end_day - c.day).max(1);
            (
                "network",
                SourceKind::VpcFlow,
                acct.id.clone(),
                day_ms,
                ctx.day0_ms + end_day * DAY_MS,
                "T1048",
                "bytes the instance sends to external addresses per day",
                k,
                format!(
                    "{} sends {k} bytes to {}, a new address, over {n} day(s) ({:.2}× its usual daily {b:.0} each day; {s}× in all)",
                    name("instance"),
                    name("dst_ip"),
                    s / n as f64
                ),
            )
        }
        ScenarioKind::DnsTunnelling => {
            let k = (s * 20.0).round().max(1.0);
            (
                "network",
                SourceKind::Route53,
                acct.id.clone(),
                start,
                end,
                "T1071.004",
                "queries (strength × 20 distinct encoded subdomains; the baseline is the instance's usual distinct domains a day)",
                k,
                format!(
                    "{} sends {k} queries with long encoded subdomains of {} in two hours",
                    name("instance"),
                    name("domain")
                ),
            )
        }
        ScenarioKind::LateralMovement => {
            let k = (s * b).round().max(1.0).min(acct.hosts.len() as f64 - 1.0);
            (
                "network",
                SourceKind::VpcFlow,
                acct.id.clone(),
                start,
                end,
                "T1021",
                "distinct internal hosts the instance connects to in the window's hour",
                k,
                format!(
                    "{} connects to {k} internal hosts on SSH, SMB, RDP and WinRM in one hour ({s}× its usual {b:.1})",
                    name("instance")
                ),
            )
        }
    };
    Scenario {
        id: format!("{}-{n}", sp.kind.name()),
        kind: sp.kind,
        detector_family: family,
        source,
        account,
        region: region.to_string(),
        entities: c.entities.into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
        window_start_ms: start,
        window_end_ms: end,
        window: format!("{}/{}", rfc3339(start), rfc3339(end)),
        mitre,
        description,
        strength: Some(s),
        baseline: Some(b),
        baseline_unit: Some(unit),
        injected: Some(injected),
    }
}
