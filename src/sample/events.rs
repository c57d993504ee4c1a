//! Event draws: what each generated OCSF event is made of, in the order the RNG draws it.
//!
//! An event here is the handful of values the generator drew (a principal, an API, an address,
//! uuid bits…), not its columns: [`super::columns`] turns a task's sorted events into Arrow
//! columns of the source's schema, formatting derived text straight into the buffers.

use std::borrow::Cow;

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::scenarios::{idp_user, Scenario, ScenarioKind, DAY_MS, HOUR_MS};
use super::world::{self, pick_weighted, zipf, Host, Principal, APIS, FINDING_TYPES};
use super::{GenCtx, Task};
use crate::lake::ocsf::SourceKind;

/// Hour-of-day weights for people (UTC office hours) and for machines (flat with a nightly batch).
pub(crate) const HUMAN_HOURS: [f64; 24] = [
    0.15, 0.1, 0.08, 0.08, 0.1, 0.2, 0.4, 0.8, 1.4, 2.0, 2.2, 2.1, 1.6, 2.0, 2.2, 2.1, 1.9, 1.5, 1.0, 0.7, 0.5, 0.4, 0.3, 0.2,
];
pub(crate) const MACHINE_HOURS: [f64; 24] = [
    1.6, 1.8, 1.8, 1.4, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.2,
];

fn time_in_day<R: Rng>(rng: &mut R, day_ms: i64, hours: &[f64; 24]) -> i64 {
    let total: f64 = hours.iter().sum();
    let h = pick_weighted(rng, hours, total) as i64;
    day_ms + h * HOUR_MS + rng.random_range(0..HOUR_MS)
}

/// A uuid's 128 random bits, drawn where the event is made (the draw order is part of the lake)
/// and formatted only when the column is built ([`fmt_uuid`]).
fn uuid<R: Rng>(rng: &mut R) -> u128 {
    rng.random()
}

/// The uuid text of `a`: its 32 hex digits as `8-4-4-4-12`, with the version and variant
/// nibbles overwritten (`4`, `a`), as the generator always wrote them.
pub(crate) fn fmt_uuid(a: u128, buf: &mut [u8; 36]) -> &str {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut hex = [0u8; 32];
    for (i, h) in hex.iter_mut().enumerate() {
        *h = HEX[((a >> (124 - 4 * i)) & 0xf) as usize];
    }
    buf[0..8].copy_from_slice(&hex[0..8]);
    buf[8] = b'-';
    buf[9..13].copy_from_slice(&hex[8..12]);
    buf[13] = b'-';
    buf[14] = b'4';
    buf[15..18].copy_from_slice(&hex[13..16]);
    buf[18] = b'-';
    buf[19] = b'a';
    buf[20..23].copy_from_slice(&hex[17..20]);
    buf[23] = b'-';
    buf[24..36].copy_from_slice(&hex[20..32]);
    std::str::from_utf8(buf).unwrap_or("")
}

/// A string of an event: borrowed from the world where it can be, owned where it is drawn.
pub type Str<'a> = Cow<'a, str>;

/// One generated event, as the draws that make it: the task's constants (version, region,
/// account, VPC) are not repeated per event but given when the columns are built
/// ([`super::columns`]), and derived text (type names, ARNs, uuids) is formatted straight into
/// the Arrow buffers there.
#[derive(Debug, Clone)]
pub enum Event<'a> {
    /// A CloudTrail management event.
    Api(ApiCall<'a>),
    /// A VPC Flow record.
    Flow(Flow<'a>),
    /// A Route 53 resolver query.
    Dns(DnsQuery<'a>),
    /// A Security Hub finding.
    Finding(Finding<'a>),
    /// An identity-provider logon.
    Auth(Auth<'a>),
}

/// An event and its time (epoch ms), for sorting.
pub type Ev<'a> = (i64, Event<'a>);

/// A CloudTrail management event (API Activity, Authentication or Account Change by `api.class`).
#[derive(Debug, Clone)]
pub struct ApiCall<'a> {
    /// Epoch ms.
    pub time: i64,
    /// Who called.
    pub principal: &'a Principal,
    /// What was called.
    pub api: &'a world::Api,
    /// From where.
    pub ip: Str<'a>,
    /// `(errorCode, errorMessage)` of a failed call.
    pub error: Option<(&'static str, &'static str)>,
    /// The S3 bucket of an S3 call, and the number in its object key `data/NNNNNN.csv`.
    pub bucket: Option<(Str<'a>, u32)>,
    /// `metadata.uid` (CloudTrail eventID).
    pub uid: u128,
    /// A user agent other than the principal's own (an attacker's tooling).
    pub agent: Option<&'static str>,
    /// MFA other than the principal's usual (people sign in with MFA, roles do not): a console
    /// login whose second factor was not asked for.
    pub mfa: Option<bool>,
    /// `api.request.uid`.
    pub request_uid: u128,
}

impl ApiCall<'_> {
    /// Whether the call's session (and, for a login, the login) used MFA: the event's own
    /// setting, else the principal's usual (people sign in with MFA, roles do not).
    pub fn mfa_used(&self) -> bool {
        self.mfa.unwrap_or(self.principal.human)
    }
}

/// One end of a flow.
#[derive(Debug, Clone)]
pub struct FlowEnd<'a> {
    /// Address.
    pub ip: Str<'a>,
    /// Port.
    pub port: u16,
    /// The instance behind the address, when it is one of ours.
    pub host: Option<&'a Host>,
}

/// A VPC Flow record.
#[derive(Debug, Clone)]
pub struct Flow<'a> {
    /// Epoch ms.
    pub time: i64,
    /// Source.
    pub src: FlowEnd<'a>,
    /// Destination.
    pub dst: FlowEnd<'a>,
    /// Bytes.
    pub bytes: i64,
    /// Packets.
    pub packets: i64,
    /// Accepted (else rejected).
    pub accepted: bool,
    /// Outbound (else inbound).
    pub outbound: bool,
}

/// A Route 53 resolver query.
#[derive(Debug, Clone)]
pub struct DnsQuery<'a> {
    /// Epoch ms.
    pub time: i64,
    /// The asking instance.
    pub host: &'a Host,
    /// The name asked for.
    pub hostname: Str<'a>,
    /// The A record, or `None` for NXDOMAIN.
    pub answer: Option<Str<'a>>,
}

/// A Security Hub finding.
#[derive(Debug, Clone)]
pub struct Finding<'a> {
    /// Epoch ms.
    pub time: i64,
    /// `(product, feature, type)` from [`FINDING_TYPES`].
    pub product: &'a str,
    /// Feature (product name as Security Hub shows it).
    pub feature: &'a str,
    /// Finding type path.
    pub ftype: &'a str,
    /// The instance the finding is about.
    pub resource: &'a str,
    /// The finding id's uuid.
    pub uid: u128,
}

/// An identity-provider Authentication (3002, OCSF 1.1.0) event.
#[derive(Debug, Clone)]
pub struct Auth<'a> {
    /// Epoch ms.
    pub time: i64,
    /// `metadata.uid`.
    pub uid: u128,
    /// User name (an e-mail address).
    pub user: Str<'a>,
    /// Source address.
    pub ip: Str<'a>,
    /// Source country.
    pub country: &'static str,
    /// Logon succeeded.
    pub ok: bool,
    /// With MFA.
    pub mfa: bool,
}

/// `ev` (a CloudTrail event) made with `agent` instead of its principal's own `user_agent`
/// (`None`: the principal's own).
pub fn with_agent<'a>(mut ev: Event<'a>, agent: Option<&'static str>) -> Event<'a> {
    if let Event::Api(a) = &mut ev {
        a.agent = agent;
    }
    ev
}

/// `ev` (a CloudTrail event) with its MFA flag set to `mfa`.
pub fn with_mfa(mut ev: Event<'_>, mfa: bool) -> Event<'_> {
    if let Event::Api(a) = &mut ev {
        a.mfa = Some(mfa);
    }
    ev
}

/// One call of a scenario: `api` by `p` from `ip` at `time`, an S3 call on the account's
/// `<account>-app-data` bucket, with user agent `agent` (`None`: the principal's own). Draws as
/// [`cloudtrail`] does.
fn scenario_call<'a, R: Rng>(
    rng: &mut R,
    time: i64,
    p: &'a Principal,
    api: &'a world::Api,
    ip: String,
    agent: Option<&'static str>,
    account_id: &str,
) -> Event<'a> {
    let bucket = api.service.starts_with("s3").then(|| format!("{account_id}-app-data"));
    with_agent(cloudtrail(rng, time, p, api, ip, None, bucket.as_deref()), agent)
}

/// One CloudTrail management event. Draws, in this order: the S3 object key (S3 calls only),
/// then the event and request uuids.
pub fn cloudtrail<'a, R: Rng>(
    rng: &mut R,
    t: i64,
    p: &'a Principal,
    api: &'a world::Api,
    ip: impl Into<Str<'a>>,
    error: Option<(&'static str, &'static str)>,
    bucket: Option<&str>,
) -> Event<'a> {
    let bucket = bucket.map(|b| (Str::Owned(b.to_string()), rng.random_range(0..1_000_000)));
    let uid = uuid(rng);
    let request_uid = uuid(rng);
    Event::Api(ApiCall {
        time: t,
        principal: p,
        api,
        ip: ip.into(),
        error,
        bucket,
        uid,
        request_uid,
        agent: None,
        mfa: None,
    })
}

/// One VPC Flow record; `src` and `dst` are (address, port, our instance behind it).
pub fn vpc_flow<'a>(
    t: i64,
    src: (impl Into<Str<'a>>, u16, Option<&'a Host>),
    dst: (impl Into<Str<'a>>, u16, Option<&'a Host>),
    bytes: i64,
    packets: i64,
    accepted: bool,
    outbound: bool,
) -> Event<'a> {
    Event::Flow(Flow {
        time: t,
        src: FlowEnd {
            ip: src.0.into(),
            port: src.1,
            host: src.2,
        },
        dst: FlowEnd {
            ip: dst.0.into(),
            port: dst.1,
            host: dst.2,
        },
        bytes,
        packets,
        accepted,
        outbound,
    })
}

/// One Route 53 resolver query.
pub fn route53<'a>(t: i64, h: &'a Host, hostname: impl Into<Str<'a>>, answer: Option<Str<'a>>) -> Event<'a> {
    Event::Dns(DnsQuery {
        time: t,
        host: h,
        hostname: hostname.into(),
        answer,
    })
}

/// One Security Hub finding of `(product, feature, type)` about instance `resource`. Draws the
/// finding id's uuid.
pub fn finding<'a, R: Rng>(rng: &mut R, t: i64, ft: (&'a str, &'a str, &'a str), resource: &'a str) -> Event<'a> {
    Event::Finding(Finding {
        time: t,
        product: ft.0,
        feature: ft.1,
        ftype: ft.2,
        resource,
        uid: uuid(rng),
    })
}

/// One identity-provider Authentication (3002, OCSF 1.1.0) event. Draws its uuid.
pub fn idp_auth<'a, R: Rng>(
    rng: &mut R,
    t: i64,
    user: impl Into<Str<'a>>,
    ip: impl Into<Str<'a>>,
    country: &'static str,
    ok: bool,
    mfa: bool,
) -> Event<'a> {
    Event::Auth(Auth {
        time: t,
        uid: uuid(rng),
        user: user.into(),
        ip: ip.into(),
        country,
        ok,
        mfa,
    })
}

/// The background events of one task.
pub fn background<'a>(ctx: &GenCtx<'a>, t: &Task, rng: &mut ChaCha8Rng, n: usize, day_ms: i64) -> Vec<Ev<'a>> {
    let w = ctx.world;
    let mut out = Vec::with_capacity(n + 64);
    match t.kind {
        SourceKind::CloudTrailMgmt => {
            let acct = &w.accounts[t.account];
            let pw: Vec<f64> = acct.principals.iter().map(|p| p.weight).collect();
            let ptotal: f64 = pw.iter().sum();
            let atotal: f64 = w.api_weights.iter().sum();
            let bucket_data = format!("{}-app-data", acct.id);
            for _ in 0..n {
                let p = &acct.principals[pick_weighted(rng, &pw, ptotal)];
                let time = time_in_day(rng, day_ms, if p.human { &HUMAN_HOURS } else { &MACHINE_HOURS });
                let api = &APIS[pick_weighted(rng, &w.api_weights, atotal)];
                let ip = &p.ips[if p.ips.len() > 1 && rng.random_bool(0.2) { 1 } else { 0 }];
                let err = if rng.random_bool(0.02) {
                    Some(("AccessDenied", "User is not authorized to perform this operation"))
                } else {
                    None
                };
                let bucket = api.service.starts_with("s3").then_some(bucket_data.as_str());
                out.push((time, cloudtrail(rng, time, p, api, ip, err, bucket)));
            }
        }
        SourceKind::VpcFlow => {
            let acct = &w.accounts[t.account];
            for _ in 0..n {
                let time = time_in_day(rng, day_ms, &MACHINE_HOURS);
                let h = &acct.hosts[zipf(rng, acct.hosts.len(), 1.1)];
                let r: f64 = rng.random();
                let ev = if r < 0.55 {
                    let d = &acct.hosts[rng.random_range(0..acct.hosts.len())];
                    let port = [443u16, 5432, 6379, 8080, 443][rng.random_range(0..5)];
                    let bytes = (rng.random::<f64>() * 9.0).exp() as i64 + 200;
                    vpc_flow(
                        time,
                        (&h.ip, 32768 + rng.random_range(0..28000), Some(h)),
                        (&d.ip, port, Some(d)),
                        bytes,
                        bytes / 900 + 1,
                        true,
                        false,
                    )
                } else if r < 0.93 {
                    let d = &w.external_ips[zipf(rng, w.external_ips.len(), 1.05)];
                    let bytes = (rng.random::<f64>() * 11.0).exp() as i64 + 300;
                    vpc_flow(
                        time,
                        (&h.ip, 32768 + rng.random_range(0..28000), Some(h)),
                        (d, 443, None),
                        bytes,
                        bytes / 1200 + 1,
                        true,
                        true,
                    )
                } else {
                    let s = format!(
                        "{}.{}.{}.{}",
                        80 + rng.random_range(0..100),
                        rng.random_range(0..255),
                        rng.random_range(0..255),
                        rng.random_range(1..255)
                    );
                    let port = [22u16, 23, 3389, 445, 8080, 1433][rng.random_range(0..6)];
                    vpc_flow(
                        time,
                        (s, 40000 + rng.random_range(0..20000), None),
                        (&h.ip, port, Some(h)),
                        44,
                        1,
                        false,
                        false,
                    )
                };
                out.push((time, ev));
            }
        }
        SourceKind::Route53 => {
            let acct = &w.accounts[t.account];
            for _ in 0..n {
                let time = time_in_day(rng, day_ms, &MACHINE_HOURS);
                let h = &acct.hosts[zipf(rng, acct.hosts.len(), 1.1)];
                let d = &w.domains[zipf(rng, w.domains.len(), 1.1)];
                let ok = !rng.random_bool(0.01);
                let ans = format!(
                    "{}.{}.{}.{}",
                    52,
                    rng.random_range(0..255),
                    rng.random_range(0..255),
                    rng.random_range(1..255)
                );
                out.push((time, route53(time, h, d, ok.then_some(Str::Owned(ans)))));
            }
        }
        SourceKind::ShFindings => {
            let acct = &w.accounts[t.account];
            let scale = ctx.finding_scale(t.region);
            for (prod, feature, ftype, rate) in FINDING_TYPES {
                let k = poisson(rng, rate * scale);
                for _ in 0..k {
                    let time = time_in_day(rng, day_ms, &MACHINE_HOURS);
                    let h = &acct.hosts[rng.random_range(0..acct.hosts.len())];
                    out.push((time, finding(rng, time, (prod, feature, ftype), &h.instance)));
                }
            }
        }
        SourceKind::ExtAuthentication => {
            let people: Vec<&Principal> = w.accounts.iter().flat_map(|a| a.principals.iter().filter(|p| p.human)).collect();
            let pw: Vec<f64> = people.iter().map(|p| p.weight).collect();
            let ptotal: f64 = pw.iter().sum();
            for _ in 0..n {
                let p = people[pick_weighted(rng, &pw, ptotal)];
                let time = time_in_day(rng, day_ms, &HUMAN_HOURS);
                let ok = !rng.random_bool(0.03);
                let ip = &p.ips[0];
                out.push((time, idp_auth(rng, time, idp_user(&p.name), ip, "US", ok, ok)));
            }
        }
    }
    out
}

/// Knuth's Poisson sampler for small means, normal approximation above 30.
pub fn poisson<R: Rng>(rng: &mut R, mean: f64) -> usize {
    if mean <= 0.0 {
        return 0;
    }
    if mean > 30.0 {
        let u1: f64 = rng.random::<f64>().max(1e-12);
        let u2: f64 = rng.random();
        let z = (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
        return (mean + z * mean.sqrt()).round().max(0.0) as usize;
    }
    let l = (-mean).exp();
    let mut k = 0;
    let mut p = 1.0;
    loop {
        p *= rng.random::<f64>();
        if p <= l {
            return k;
        }
        k += 1;
    }
}

/// Append the attack events that fall into this task.
pub fn inject<'a>(ctx: &GenCtx<'a>, t: &Task, rng: &mut ChaCha8Rng, day_ms: i64, region: &str, out: &mut Vec<Ev<'a>>) {
    let w = ctx.world;
    let day_end = day_ms + DAY_MS;
    let days = ctx.cfg.days as i64;
    for s in &ctx.plan.scenarios {
        let acct_ok = t.kind == SourceKind::ExtAuthentication || w.accounts[t.account].id == s.account;
        if s.source != t.kind || !acct_ok || s.region != region {
            continue;
        }
        if s.strength.is_some() {
            inject_dial(ctx, t, rng, day_ms, s, out);
            continue;
        }
        let acct = &w.accounts[t.account];
        match s.kind {
            ScenarioKind::S3BulkDownload if s.window_start_ms >= day_ms && s.window_start_ms < day_end => {
                let p = &acct.principals[planned_principal(acct, s)];
                let api = APIS.iter().find(|a| a.operation == "GetObject").expect("GetObject api");
                let n = (400.0 * ctx.legacy_scale()) as usize;
                let bucket = format!("{}-finance-exports", acct.id);
                for _ in 0..n {
                    let time = rng.random_range(s.window_start_ms..s.window_end_ms);
                    out.push((time, cloudtrail(rng, time, p, api, &p.ips[0], None, Some(&bucket))));
                }
            }
            ScenarioKind::NewIpCredentialUse if s.window_start_ms >= day_ms && s.window_start_ms < day_end => {
                let p = &acct.principals[planned_principal(acct, s)];
                let ip = s.entities.get("ip").cloned().unwrap_or_default();
                for op in [
                    "GetCallerIdentity",
                    "ListBuckets",
                    "ListUsers",
                    "ListRoles",
                    "CreateAccessKey",
                    "ListBuckets",
                    "GetObject",
                    "GetObject",
                ] {
                    let api = APIS.iter().find(|a| a.operation == op).expect("api in list");
                    let time = rng.random_range(s.window_start_ms..s.window_end_ms);
                    out.push((time, scenario_call(rng, time, p, api, ip.clone(), None, &acct.id)));
                }
            }
            ScenarioKind::FindingLevelShift | ScenarioKind::FindingTrend if day_ms >= s.window_start_ms && day_ms < s.window_end_ms => {
                let ft = s.entities.get("finding_type").cloned().unwrap_or_default();
                let (feature, ty) = ft.split_once(" | ").unwrap_or(("", ""));
                let (prod, feat, ftype, rate) = FINDING_TYPES
                    .iter()
                    .find(|f| f.1 == feature && f.2 == ty)
                    .copied()
                    .expect("planned finding type");
                let extra = if s.kind == ScenarioKind::FindingLevelShift {
                    rate * 12.0
                } else {
                    let d = ((day_ms - ctx.day0_ms) / DAY_MS) as f64;
                    12.0 * d / days as f64
                } * ctx.legacy_scale();
                for _ in 0..poisson(rng, extra) {
                    let time = time_in_day(rng, day_ms, &MACHINE_HOURS);
                    let h = &acct.hosts[rng.random_range(0..acct.hosts.len())];
                    out.push((time, finding(rng, time, (prod, feat, ftype), &h.instance)));
                }
            }
            ScenarioKind::BruteForce if s.window_start_ms >= day_ms && s.window_start_ms < day_end => {
                let user = s.entities.get("user").cloned().unwrap_or_default();
                let ip = s.entities.get("ip").cloned().unwrap_or_default();
                let n = (300.0 * ctx.legacy_scale().sqrt()) as usize;
                for _ in 0..n {
                    let time = rng.random_range(s.window_start_ms..s.window_end_ms);
                    out.push((time, idp_auth(rng, time, user.clone(), ip.clone(), "RU", false, false)));
                }
            }
            ScenarioKind::Beaconing => {
                let h = acct
                    .hosts
                    .iter()
                    .find(|h| Some(&h.instance) == s.entities.get("instance"))
                    .expect("planned host");
                let dst = s.entities.get("dst_ip").cloned().unwrap_or_default();
                let mut time = s.window_start_ms.max(day_ms);
                while time < day_end.min(s.window_end_ms) {
                    let jitter = (rng.random::<f64>() - 0.5) * 0.06 * 300_000.0;
                    let bytes = 1800 + rng.random_range(0..200);
                    out.push((
                        time,
                        vpc_flow(
                            time,
                            (&h.ip, 49152 + rng.random_range(0..16000), Some(h)),
                            (dst.clone(), 443, None),
                            bytes,
                            8,
                            true,
                            true,
                        ),
                    ));
                    time += 300_000 + jitter as i64;
                }
            }
            ScenarioKind::Exfiltration if s.window_start_ms >= day_ms && s.window_start_ms < day_end => {
                let h = acct
                    .hosts
                    .iter()
                    .find(|h| Some(&h.instance) == s.entities.get("instance"))
                    .expect("planned host");
                let dst = s.entities.get("dst_ip").cloned().unwrap_or_default();
                for i in 0..120 {
                    let time = s.window_start_ms + i * 60_000;
                    let bytes = 170_000_000 + rng.random_range(0..10_000_000);
                    out.push((
                        time,
                        vpc_flow(
                            time,
                            (&h.ip, 51000, Some(h)),
                            (dst.clone(), 443, None),
                            bytes,
                            bytes / 1400,
                            true,
                            true,
                        ),
                    ));
                }
            }
            ScenarioKind::LateralMovement if s.window_start_ms >= day_ms && s.window_start_ms < day_end => {
                let h = acct
                    .hosts
                    .iter()
                    .find(|h| Some(&h.instance) == s.entities.get("instance"))
                    .expect("planned host");
                for (i, d) in acct.hosts.iter().enumerate().filter(|(_, d)| d.instance != h.instance) {
                    for port in [22u16, 445, 3389, 5985] {
                        let time = s.window_start_ms + (i as i64 * 4 + port as i64 % 4) * 20_000 + rng.random_range(0..10_000);
                        let ok = rng.random_bool(0.3);
                        out.push((
                            time,
                            vpc_flow(
                                time,
                                (&h.ip, 50000 + i as u16, Some(h)),
                                (&d.ip, port, Some(d)),
                                if ok { 4000 } else { 60 },
                                if ok { 12 } else { 1 },
                                ok,
                                false,
                            ),
                        ));
                    }
                }
            }
            ScenarioKind::DgaDns if s.window_start_ms >= day_ms && s.window_start_ms < day_end => {
                let h = acct
                    .hosts
                    .iter()
                    .find(|h| Some(&h.instance) == s.entities.get("instance"))
                    .expect("planned host");
                for _ in 0..300 {
                    let len = rng.random_range(12..19);
                    let name: String = (0..len).map(|_| (b'a' + rng.random_range(0..26u8)) as char).collect();
                    let tld = ["xyz", "top", "info", "biz"][rng.random_range(0..4)];
                    let time = rng.random_range(s.window_start_ms..s.window_end_ms);
                    let hostname = format!("{name}.{tld}.");
                    let ok = rng.random_bool(0.1);
                    out.push((time, route53(time, h, hostname, ok.then_some(Str::Borrowed("185.100.87.3")))));
                }
            }
            _ => {}
        }
    }
}

/// Index in `acct` of the principal a scenario names (the plan drew it from that account).
fn planned_principal(acct: &world::Account, s: &Scenario) -> usize {
    acct.principals
        .iter()
        .position(|p| Some(&p.arn) == s.entities.get("principal"))
        .expect("planned principal")
}

/// Append the events of one `--scenarios` instance that fall into this task (its sizes were fixed
/// by [`super::scenarios::plan_dial`]).
fn inject_dial<'a>(ctx: &GenCtx<'a>, t: &Task, rng: &mut ChaCha8Rng, day_ms: i64, s: &Scenario, out: &mut Vec<Ev<'a>>) {
    let w = ctx.world;
    let day_end = day_ms + DAY_MS;
    let starts_today = s.window_start_ms >= day_ms && s.window_start_ms < day_end;
    let acct = &w.accounts[t.account];
    let ent = |k: &str| s.entities.get(k).cloned().unwrap_or_default();
    let k = s.injected.unwrap_or(0.0);
    let day = (day_ms - ctx.day0_ms) / DAY_MS;
    let host = || {
        acct.hosts
            .iter()
            .position(|h| Some(&h.instance) == s.entities.get("instance"))
            .expect("planned host")
    };
    match s.kind {
        ScenarioKind::S3BulkDownload if starts_today => {
            let pi = planned_principal(acct, s);
            let p = &acct.principals[pi];
            let api = APIS.iter().find(|a| a.operation == "GetObject").expect("GetObject api");
            let bucket = format!("{}-app-data", acct.id);
            let ip = ctx.principal_ip(t.account, pi, day, rng);
            let agent = ctx.own_agent(t.account, pi, day);
            for _ in 0..k as usize {
                let time = rng.random_range(s.window_start_ms..s.window_end_ms);
                out.push((
                    time,
                    with_agent(cloudtrail(rng, time, p, api, ip.clone(), None, Some(&bucket)), agent),
                ));
            }
        }
        ScenarioKind::NewIpCredentialUse if starts_today => {
            let p = &acct.principals[planned_principal(acct, s)];
            let ip = ent("src_ip");
            const OPS: [&str; 8] = [
                "GetCallerIdentity",
                "ListBuckets",
                "ListUsers",
                "ListRoles",
                "CreateAccessKey",
                "GetObject",
                "ListObjects",
                "GetObject",
            ];
            for i in 0..k as usize {
                let api = APIS.iter().find(|a| a.operation == OPS[i % OPS.len()]).expect("api in list");
                let time = rng.random_range(s.window_start_ms..s.window_end_ms);
                out.push((time, scenario_call(rng, time, p, api, ip.clone(), None, &acct.id)));
            }
        }
        ScenarioKind::NightDiscovery | ScenarioKind::IamPersistence | ScenarioKind::SecretsEnumeration if starts_today => {
            use super::scenarios::{IAM_PERSISTENCE_OPS, NIGHT_DISCOVERY_OPS, SECRETS_OPS};
            let pi = planned_principal(acct, s);
            let p = &acct.principals[pi];
            let ops = match s.kind {
                ScenarioKind::NightDiscovery => NIGHT_DISCOVERY_OPS,
                ScenarioKind::IamPersistence => IAM_PERSISTENCE_OPS,
                _ => SECRETS_OPS,
            };
            let (ip, agent) = match s.entities.get("src_ip") {
                Some(ip) => (ip.clone(), s.entities.get("user_agent").map(|_| world::ATTACKER_AGENT)),
                None => (ctx.principal_ip(t.account, pi, day, rng), ctx.own_agent(t.account, pi, day)),
            };
            for i in 0..k as usize {
                let api = world::api_named(ops[i % ops.len()]).expect("scenario operation is known");
                let time = rng.random_range(s.window_start_ms..s.window_end_ms);
                out.push((time, scenario_call(rng, time, p, api, ip.clone(), agent, &acct.id)));
            }
        }
        ScenarioKind::NewPrincipalDiscovery if starts_today => {
            use super::scenarios::FIRST_DISCOVERY_OPS;
            let arn = ent("principal");
            let p = acct.intruder_users.iter().find(|p| p.arn == arn).expect("planned intruder user");
            let ip = ent("src_ip");
            // The sweep in order (who am I first), spread over the hour.
            let mut times: Vec<i64> = (0..k as usize)
                .map(|_| rng.random_range(s.window_start_ms..s.window_end_ms))
                .collect();
            times.sort_unstable();
            for (i, time) in times.into_iter().enumerate() {
                let op = FIRST_DISCOVERY_OPS[i % FIRST_DISCOVERY_OPS.len()];
                let api = world::api_named(op).expect("scenario operation is known");
                out.push((
                    time,
                    scenario_call(rng, time, p, api, ip.clone(), Some(world::ATTACKER_AGENT), &acct.id),
                ));
            }
        }
        ScenarioKind::InstanceCredentialTheft | ScenarioKind::RootActivity | ScenarioKind::ConsoleLoginWithoutMfa if starts_today => {
            use super::scenarios::{INSTANCE_THEFT_OPS, NO_MFA_OPS, ROOT_OPS};
            let arn = ent("principal");
            let p: &world::Principal = match s.kind {
                ScenarioKind::InstanceCredentialTheft => {
                    &acct
                        .instance_sessions
                        .iter()
                        .find(|(_, p)| p.arn == arn)
                        .expect("planned instance session")
                        .1
                }
                ScenarioKind::RootActivity => &acct.root,
                _ => &acct.principals[planned_principal(acct, s)],
            };
            let ip = ent("src_ip");
            let (ops, agent) = match s.kind {
                ScenarioKind::InstanceCredentialTheft => (INSTANCE_THEFT_OPS, world::THEFT_AGENT),
                ScenarioKind::RootActivity => (ROOT_OPS, world::CONSOLE_AGENT),
                _ => (NO_MFA_OPS, world::CONSOLE_AGENT),
            };
            let mut t0 = s.window_start_ms + rng.random_range(0..5 * 60_000);
            if s.kind != ScenarioKind::InstanceCredentialTheft {
                // The console login first, without a second factor; the session's calls after it.
                let login = world::api_named("ConsoleLogin").expect("ConsoleLogin is known");
                out.push((
                    t0,
                    with_mfa(
                        with_agent(cloudtrail(rng, t0, p, login, ip.clone(), None, None), Some(agent)),
                        false,
                    ),
                ));
                t0 += 60_000;
            }
            for i in 0..k as usize {
                let api = world::api_named(ops[i % ops.len()]).expect("scenario operation is known");
                let time = rng.random_range(t0..s.window_end_ms.max(t0 + 1));
                let ev = scenario_call(rng, time, p, api, ip.clone(), Some(agent), &acct.id);
                let ev = if s.kind == ScenarioKind::InstanceCredentialTheft {
                    ev
                } else {
                    with_mfa(ev, false)
                };
                out.push((time, ev));
            }
        }
        ScenarioKind::FindingLevelShift | ScenarioKind::FindingTrend if day_ms >= s.window_start_ms && day_ms < s.window_end_ms => {
            let ft = ent("finding_type");
            let (feature, ty) = ft.split_once(" | ").unwrap_or(("", ""));
            let fi = FINDING_TYPES
                .iter()
                .position(|f| f.1 == feature && f.2 == ty)
                .expect("planned finding type");
            let (prod, feat, ftype, _) = FINDING_TYPES[fi];
            let base = ctx.finding_day_mean(t.account, t.region, day, fi);
            let strength = s.strength.unwrap_or(0.0);
            let extra = if s.kind == ScenarioKind::FindingLevelShift {
                strength * base
            } else {
                strength * base * ((day_ms - s.window_start_ms) / DAY_MS) as f64 / 7.0
            };
            for _ in 0..poisson(rng, extra) {
                let time = time_in_day(rng, day_ms, &MACHINE_HOURS);
                let h = &acct.hosts[rng.random_range(0..acct.hosts.len())];
                out.push((time, finding(rng, time, (prod, feat, ftype), &h.instance)));
            }
        }
        ScenarioKind::BruteForce if starts_today => {
            let (user, ip) = (ent("user_name"), ent("src_ip"));
            for _ in 0..k as usize {
                let time = rng.random_range(s.window_start_ms..s.window_end_ms);
                out.push((time, idp_auth(rng, time, user.clone(), ip.clone(), "RU", false, false)));
            }
        }
        ScenarioKind::Exfiltration if starts_today => {
            let h = &acct.hosts[host()];
            let dst = ent("dst_ip");
            let flows = 120i64;
            let per = k / flows as f64;
            let step = (s.window_end_ms - s.window_start_ms) / flows;
            for i in 0..flows {
                let time = s.window_start_ms + i * step;
                let bytes = (per * rng.random_range(0.95..1.05)).round().max(1.0) as i64;
                out.push((
                    time,
                    vpc_flow(
                        time,
                        (&h.ip, 51000, Some(h)),
                        (dst.clone(), 443, None),
                        bytes,
                        bytes / 1400 + 1,
                        true,
                        true,
                    ),
                ));
            }
        }
        ScenarioKind::Beaconing if day_ms >= s.window_start_ms && day_ms < s.window_end_ms => {
            let h = &acct.hosts[host()];
            let dst = ent("dst_ip");
            let period = DAY_MS as f64 / k.max(1.0);
            let mut time = day_ms as f64 + rng.random_range(0.0..period);
            while time < day_end as f64 {
                // A quiet implant: ±30% jitter around each beat, one beat in ten missed.
                if rng.random_bool(0.1) {
                    time += period;
                    continue;
                }
                let jitter = (rng.random::<f64>() - 0.5) * 0.6 * period;
                let at = (time + jitter).clamp(day_ms as f64, (day_end - 1) as f64) as i64;
                let bytes = 1800 + rng.random_range(0..200);
                out.push((
                    at,
                    vpc_flow(
                        at,
                        (&h.ip, 49152 + rng.random_range(0..16000), Some(h)),
                        (dst.clone(), 443, None),
                        bytes,
                        8,
                        true,
                        true,
                    ),
                ));
                time += period;
            }
        }
        ScenarioKind::LateralMovement if starts_today => {
            let hi = host();
            let h = &acct.hosts[hi];
            let mut peers: Vec<usize> = (0..acct.hosts.len()).filter(|&d| d != hi).collect();
            // A seeded partial shuffle: the first `k` are the targets.
            let n = (k as usize).min(peers.len());
            for i in 0..n {
                let j = rng.random_range(i..peers.len());
                peers.swap(i, j);
            }
            let span = (s.window_end_ms - s.window_start_ms).max(1);
            for (i, &d) in peers[..n].iter().enumerate() {
                let d = &acct.hosts[d];
                for port in [22u16, 445, 3389, 5985] {
                    let time = s.window_start_ms + rng.random_range(0..span);
                    let ok = rng.random_bool(0.3);
                    out.push((
                        time,
                        vpc_flow(
                            time,
                            (&h.ip, 50000 + i as u16, Some(h)),
                            (&d.ip, port, Some(d)),
                            if ok { 4000 } else { 60 },
                            if ok { 12 } else { 1 },
                            ok,
                            false,
                        ),
                    ));
                }
            }
        }
        ScenarioKind::SlowExfiltration if day_ms >= s.window_start_ms && day_ms < s.window_end_ms => {
            let h = &acct.hosts[host()];
            let dst = ent("dst_ip");
            let n = ((s.window_end_ms - s.window_start_ms) / DAY_MS).max(1);
            let per_flow = k / n as f64 / 24.0;
            for _ in 0..24 {
                let time = rng.random_range(day_ms..day_end);
                let bytes = (per_flow * rng.random_range(0.9..1.1)).round().max(1.0) as i64;
                out.push((
                    time,
                    vpc_flow(
                        time,
                        (&h.ip, 49152 + rng.random_range(0..16000), Some(h)),
                        (dst.clone(), 443, None),
                        bytes,
                        bytes / 1400 + 1,
                        true,
                        true,
                    ),
                ));
            }
        }
        ScenarioKind::DnsTunnelling if starts_today => {
            let h = &acct.hosts[host()];
            let domain = ent("domain");
            const B32: &[u8] = b"abcdefghijklmnopqrstuvwxyz234567";
            for _ in 0..k as usize {
                let enc: String = (0..50).map(|_| B32[rng.random_range(0..32)] as char).collect();
                let name = format!("{}.{}.{domain}.", &enc[..25], &enc[25..]);
                let time = rng.random_range(s.window_start_ms..s.window_end_ms);
                out.push((time, route53(time, h, name, Some(Str::Borrowed("198.51.100.7")))));
            }
        }
        ScenarioKind::DgaDns if starts_today => {
            let h = &acct.hosts[host()];
            let mut seen = std::collections::BTreeSet::new();
            while seen.len() < k as usize {
                let len = rng.random_range(12..19);
                let name: String = (0..len).map(|_| (b'a' + rng.random_range(0..26u8)) as char).collect();
                let tld = ["xyz", "top", "info", "biz"][rng.random_range(0..4)];
                let hostname = format!("{name}.{tld}.");
                if !seen.insert(hostname.clone()) {
                    continue;
                }
                let time = rng.random_range(s.window_start_ms..s.window_end_ms);
                let ok = rng.random_bool(0.1);
                out.push((time, route53(time, h, hostname, ok.then_some(Str::Borrowed("185.100.87.3")))));
            }
        }
        _ => {}
    }
}
