//! The realistic benign world (`sample-lake --world realistic`): an organisation whose normal is
//! as varied as a real one, so that a detector has to earn its precision.
//!
//! Every rhythm is seeded: each random choice comes from a stream named by the seed and what it
//! decides (`rng_for(seed, ["noise", account, principal, day])` …), so the same seed gives the same
//! lake whatever the scheduling, and a principal's day is the same in every file that needs it.
//!
//! # Rhythms
//!
//! - **Own habits per principal.** Each principal draws its own API mix: a subset of the
//!   catalogue (3–6 APIs for a service role, 8–20 for a person) with heavy-tailed weights
//!   (global weight × log-normal(0, 1.5)), so two principals' "usual" differ by orders of
//!   magnitude per API. Its base volume is Zipf-like with a log-normal jitter.
//! - **Own hours.** People work the office curve shifted to their own time zone (UTC, US east and
//!   west, central Europe, India, Singapore) and stretched or narrowed; some are night owls.
//!   Service roles follow a schedule: continuous (flat with a nightly batch bump), an hourly cron
//!   (most calls in a three-minute slot at its own minute of every hour) or a daily job (two hours
//!   at its own hour).
//! - **Weekends and holidays.** People do about a tenth of a weekday's work on weekends; a few
//!   are on call (a third). Two public holidays in the window (weekdays about a third and two
//!   thirds in) are weekend days for people. Service roles keep running (85% on weekends).
//! - **Overdispersed counts.** A principal's, host's, user's or finding type's count on a day is
//!   Poisson around its mean times a gamma multiplier of mean 1 (shape 2.5 for people, 8 for
//!   roles, 6 for hosts, 1.5 for the third-party identity provider, 3 for findings): negative
//!   binomial day to day, variance well above the mean.
//! - **Organic growth.** Each principal and host grows at its own slow rate (about +0.4%/day on
//!   average, some shrink).
//! - **Release days.** Every second Tuesday and one extra hotfix day: the deployer role makes five
//!   times its calls, developers (a third of the people) 1.8 times, and every service role's fleet
//!   is replaced (new instance addresses from that day).
//! - **A benign incident.** One weekday has a three-hour outage: service roles retry (three times
//!   their calls in those hours) and 40% of their calls fail with `ServiceUnavailable` or
//!   `ThrottlingException`; the identity provider fails a quarter of logins in the same hours.
//! - **Networks that slowly change.** A person works from the office (a laptop address in the
//!   office /24 that changes every 5–20 days: new laptop, new lease), from home (an ISP address
//!   that changes every 4–15 days, often through one of the account's rotating VPN exits), or,
//!   on a few days, while travelling (hotel and mobile networks never seen before). So every day
//!   brings benign new (principal, IP) pairs. Service roles call from their fleet's addresses,
//!   which change on release days.
//! - **Agents that change.** A person's CLI or SDK is upgraded every 10–30 days (a new user
//!   agent string from that day); a service role's SDK is bumped with about half of the releases,
//!   on the day its fleet is replaced. So a first-seen user agent is an ordinary event too.
//! - **Joiners.** Each account gets new people and new service roles during the window, new
//!   hosts appear, and new SaaS domains come into use (each from its own first day).
//! - **External addresses that rotate.** One external flow in twenty goes to an address the
//!   fleet never used before (CDN and SaaS rotation: each such flow gets a fresh one), and about
//!   three host-days in a thousand carry a first upload to a new endpoint (a vendor's support
//!   portal, a partner's SFTP, a new integration's first sync): the host's usual daily external
//!   bytes × a log-normal factor (σ 1: median one usual day, one in a hundred above ten) in one
//!   to four flows within an hour. So bytes to a never-seen destination are an ordinary event,
//!   and a large sum to one is rare but not unheard of — what an exfiltration hunt must judge.
//! - **Noisy third-party source.** The identity provider's feed is bursty (shape 1.5), loses whole
//!   hours on about one day in five, delivers 2% of its events twice, and carries a misconfigured
//!   sync account that fails logins in bursts every weekday.
//! - **Instance profiles.** Web, app and batch hosts call AWS (S3, parameters, keys, metrics,
//!   logs; about eight calls a day) with their instance profile's credentials, in a session
//!   named after the instance (`assumed-role/EC2-web/i-0…`) from the instance's own address; a
//!   new host's session starts with the host. The root user is never used.
//! - **Findings.** Inspector scans weekly (Mondays carry three times the daily level), compliance
//!   checks re-run after release days; rates follow the account's resources, not its API
//!   volume: a lake under 100,000 events a day keeps the rates of one at 100,000 (about 15
//!   findings a day per account in the primary region, ~1% of the events), above it they grow
//!   with the lake (`legacy_scale()`).
//!
//! The means behind these (without the day's gamma multiplier) are what scenario strengths are
//! relative to ([`super::rates`]); the incident, the outage hours and duplicates are not part of
//! a usual day and are left out of them.

use chrono::Datelike;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::events::{cloudtrail, finding, idp_auth, poisson, route53, vpc_flow, with_agent, Ev, HUMAN_HOURS, MACHINE_HOURS};
use super::scenarios::{idp_user, HOUR_MS};

const DAY: i64 = 86_400_000;
use super::world::{self, hexish, rng_for, zipf, zipf_p, Host, Principal, World, APIS, FINDING_TYPES};
use super::{GenCtx, Task};
use crate::lake::ocsf::SourceKind;

/// When a service role works.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Schedule {
    /// All day, with a nightly bump.
    Continuous,
    /// Most calls in `[minute, minute + 3)` of every hour.
    Hourly {
        /// Minute of the hour.
        minute: u32,
    },
    /// Two hours a day from `hour`.
    Daily {
        /// Hour of the day (UTC).
        hour: u32,
    },
}

/// A principal's habits (parallel to `Account::principals`).
#[derive(Debug, Clone)]
pub struct Habit {
    /// First day it exists (0 for the original staff).
    pub first_day: i64,
    /// Own weights over [`APIS`] (zero: never called).
    pub api_w: Vec<f64>,
    /// Sum of `api_w`.
    pub api_total: f64,
    /// Own hour-of-day weights (UTC).
    pub hours: [f64; 24],
    /// Service roles' schedule (people: `Continuous`, unused).
    pub schedule: Schedule,
    /// Share of volume per event relative to the account's principals.
    pub weight: f64,
    /// Growth per day (multiplicative).
    pub growth: f64,
    /// Gamma shape of the day-to-day multiplier.
    pub shape: f64,
    /// Weekend factor.
    pub weekend: f64,
    /// Scales with release days (deployer 5×, developers 1.8×, others 1).
    pub release: f64,
    /// Office laptop address lifetime and phase, days.
    pub laptop_days: (i64, i64),
    /// Home address lifetime and phase, days.
    pub home_days: (i64, i64),
    /// First octet of the home ISP's network.
    pub home_net: u8,
    /// Uses the VPN from home.
    pub vpn: bool,
    /// Chance of travelling on a weekday.
    pub travel: f64,
    /// Errors on a normal day.
    pub error_rate: f64,
}

/// A host's habits (parallel to `Account::hosts`).
#[derive(Debug, Clone)]
pub struct HostHabit {
    /// First day it exists.
    pub first_day: i64,
    /// Share of the account's flows.
    pub weight: f64,
    /// Own hour-of-day weights.
    pub hours: [f64; 24],
    /// Growth per day.
    pub growth: f64,
    /// Offset into the external destinations and domains (its own favourites).
    pub offset: usize,
}

/// Per-account habits.
#[derive(Debug, Clone)]
pub struct RealAccount {
    /// Parallel to `principals`.
    pub habits: Vec<Habit>,
    /// Parallel to `hosts`.
    pub hosts: Vec<HostHabit>,
    /// Sum of the habits' weights.
    pub weight_total: f64,
    /// Sum of the hosts' weights.
    pub host_weight_total: f64,
}

/// The calendar and habits of a realistic world.
#[derive(Debug, Clone)]
pub struct Real {
    /// Per account.
    pub accounts: Vec<RealAccount>,
    /// Day indices of public holidays.
    pub holidays: Vec<i64>,
    /// Day indices of releases.
    pub releases: Vec<i64>,
    /// Day index of the outage and its first hour.
    pub incident: (i64, u32),
    /// First day of each domain (parallel to `World::domains`).
    pub domain_first_day: Vec<i64>,
    /// Weekday of day 0 (0 = Monday).
    pub weekday0: u32,
}

/// Mean-1 gamma draw of shape `k` (Marsaglia–Tsang).
pub fn gamma<R: Rng>(rng: &mut R, k: f64) -> f64 {
    if k < 1.0 {
        let u: f64 = rng.random::<f64>().max(1e-12);
        return gamma(rng, k + 1.0) * (k + 1.0) / k * u.powf(1.0 / k);
    }
    let d = k - 1.0 / 3.0;
    let c = 1.0 / (9.0 * d).sqrt();
    loop {
        let x = normal(rng);
        let v = (1.0 + c * x).powi(3);
        if v <= 0.0 {
            continue;
        }
        let u: f64 = rng.random::<f64>().max(1e-300);
        if u.ln() < 0.5 * x * x + d * (1.0 - v + v.ln()) {
            return d * v / k;
        }
    }
}

fn normal<R: Rng>(rng: &mut R) -> f64 {
    let u1: f64 = rng.random::<f64>().max(1e-12);
    let u2: f64 = rng.random();
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

fn shifted(base: &[f64; 24], shift: i32, sharpen: f64) -> [f64; 24] {
    let mut h = [0.0; 24];
    for (i, v) in h.iter_mut().enumerate() {
        *v = base[(i as i32 - shift).rem_euclid(24) as usize].powf(sharpen);
    }
    h
}

const HOME_NETS: [u8; 6] = [73, 24, 98, 67, 71, 76];
/// Host roles whose instances carry an instance profile.
const INSTANCE_PROFILE_ROLES: [&str; 3] = ["web", "app", "batch"];
/// The SDK on the instances.
const INSTANCE_AGENT: &str = "aws-sdk-java/2.25.16 Linux/6.1.84 OpenJDK_64-Bit_Server_VM/17.0.10+7-LTS Java/17.0.10";
/// An instance session's calls on a usual day, and their mix (operation, weight).
pub const INSTANCE_SESSION_CALLS: f64 = 8.0;
const INSTANCE_SESSION_MIX: [(&str, f64); 6] = [
    ("GetObject", 4.0),
    ("PutObject", 2.0),
    ("GetParameter", 1.0),
    ("Decrypt", 1.0),
    ("PutMetricData", 2.0),
    ("CreateLogStream", 0.5),
];
const TRAVEL_NETS: [u8; 5] = [37, 46, 2, 5, 213];
const JOINER_ROLES: [&str; 3] = ["recs-api", "fraud-scorer", "report-builder"];

impl World {
    /// The realistic world: the simple world's organisation plus joiners, new hosts and new
    /// domains, with every principal's and host's habits (module docs of [`super::realistic`]).
    pub fn realistic(seed: u64, n_accounts: usize, days: i64, start: chrono::NaiveDate) -> World {
        let mut w = World::new(seed, n_accounts);
        let mut rng = rng_for(seed, &["realistic"]);
        let weekday0 = start.weekday().num_days_from_monday();
        let is_weekday = |d: i64| (weekday0 as i64 + d).rem_euclid(7) < 5;
        let next_weekday = |mut d: i64| {
            while !is_weekday(d) && d < days - 1 {
                d += 1;
            }
            d
        };
        let holidays = vec![next_weekday(days / 3), next_weekday(days * 2 / 3 + 1)];
        let mut releases: Vec<i64> = (0..days).filter(|&d| (weekday0 as i64 + d).rem_euclid(14) == 1).collect();
        releases.push(next_weekday(rng.random_range(1..days)));
        releases.sort();
        releases.dedup();
        let mut incident_day = next_weekday(rng.random_range(days / 4..days.max(2) - 1));
        if holidays.contains(&incident_day) {
            incident_day = next_weekday(incident_day + 1);
        }
        let incident = (incident_day, rng.random_range(8..18u32));
        let tz = [0, 0, 0, -5, -8, 1, 5, 8];
        let mut accounts = Vec::new();
        for (a, acct) in w.accounts.iter_mut().enumerate() {
            let id = acct.id.clone();
            // Joiners: people and service roles with a first day inside the window.
            for j in 0..4 {
                let name = format!("{}.{}{}", world_first(j * 5 + a), world_last(j * 7 + a), j + 2);
                acct.principals.push(Principal {
                    arn: format!("arn:aws:iam::{id}:user/{name}"),
                    principal_id: format!("AIDA{}", hexish(&mut rng, 16)),
                    access_key: format!("AKIA{}", hexish(&mut rng, 16)),
                    name,
                    kind: "IAMUser",
                    ips: vec![format!("198.51.{}.{}", 100 + (a % 50), 40 + j)],
                    weight: 0.3,
                    human: true,
                    user_agent: "aws-cli/2.15.30 Python/3.11.8 Linux/6.1 exe/x86_64",
                });
            }
            for (j, role) in JOINER_ROLES.iter().enumerate() {
                let name = format!("AppRole-{role}");
                let role_id = format!("AROA{}", hexish(&mut rng, 16));
                acct.principals.push(Principal {
                    arn: format!("arn:aws:sts::{id}:assumed-role/{name}/{role}-session"),
                    principal_id: format!("{role_id}:{role}-session"),
                    access_key: format!("ASIA{}", hexish(&mut rng, 16)),
                    name,
                    kind: "AssumedRole",
                    ips: vec![format!("10.{}.{}.10", a % 200, 30 + j)],
                    weight: 1.0,
                    human: false,
                    user_agent: "aws-sdk-go-v2/1.26.0 os/linux lang/go#1.22.1",
                });
            }
            let n_orig = acct.principals.len() - 4 - JOINER_ROLES.len();
            let mut habits = Vec::new();
            for (p, pr) in acct.principals.iter().enumerate() {
                let joiner = p >= n_orig;
                let first_day = if joiner { rng.random_range(1..days.max(2)) } else { 0 };
                let n_apis = if pr.human {
                    rng.random_range(8..21)
                } else {
                    rng.random_range(3..7)
                };
                let mut api_w = vec![0.0; APIS.len()];
                for _ in 0..n_apis {
                    let mut i = world::pick_weighted(&mut rng, &w.api_weights, w.api_weights.iter().sum());
                    if !pr.human && APIS[i].operation == "ConsoleLogin" {
                        i = 0;
                    }
                    api_w[i] = APIS[i].weight * (1.5 * normal(&mut rng)).exp();
                }
                let api_total = api_w.iter().sum();
                let (hours, schedule) = if pr.human {
                    let shift = tz[rng.random_range(0..tz.len())] + if rng.random_bool(0.1) { 6 } else { 0 };
                    (shifted(&HUMAN_HOURS, shift, rng.random_range(0.7..1.6)), Schedule::Continuous)
                } else {
                    match rng.random_range(0..3) {
                        0 => (shifted(&MACHINE_HOURS, rng.random_range(0..24), 1.0), Schedule::Continuous),
                        1 => (
                            [1.0; 24],
                            Schedule::Hourly {
                                minute: rng.random_range(0..57),
                            },
                        ),
                        _ => {
                            let hour = rng.random_range(0..22);
                            let mut h = [0.02; 24];
                            h[hour as usize] = 1.0;
                            h[hour as usize + 1] = 1.0;
                            (h, Schedule::Daily { hour })
                        }
                    }
                };
                let release = if pr.name.contains("ci-deployer") {
                    5.0
                } else if pr.human && rng.random_bool(0.33) {
                    1.8
                } else {
                    1.0
                };
                habits.push(Habit {
                    first_day,
                    api_w,
                    api_total,
                    hours,
                    schedule,
                    weight: pr.weight * (0.5 * normal(&mut rng)).exp(),
                    growth: 1.0 + 0.004 + 0.004 * normal(&mut rng),
                    shape: if pr.human { 2.5 } else { 8.0 },
                    weekend: if !pr.human {
                        0.85
                    } else if rng.random_bool(0.15) {
                        0.33
                    } else {
                        0.1
                    },
                    release,
                    laptop_days: (rng.random_range(5..21), rng.random_range(0..20)),
                    home_days: (rng.random_range(4..16), rng.random_range(0..15)),
                    home_net: HOME_NETS[rng.random_range(0..HOME_NETS.len())],
                    vpn: rng.random_bool(0.5),
                    travel: rng.random_range(0.0..0.08),
                    error_rate: if pr.human { 0.02 } else { 0.005 },
                });
            }
            // New hosts, then every host's habits.
            let roles = ["web", "app", "batch", "app", "web", "db"];
            for j in 0..6 {
                let h = acct.hosts.len();
                acct.hosts.push(Host {
                    instance: format!("i-0{}", hexish(&mut rng, 16)),
                    ip: format!("10.{}.{}.{}", a % 200, 3, 10 + j * 7),
                    eni: format!("eni-0{}", hexish(&mut rng, 16)),
                    subnet: format!("subnet-0{}", hexish(&mut rng, 16)),
                    role: roles[h % roles.len()],
                });
            }
            let n_hosts = acct.hosts.len();
            let hosts: Vec<HostHabit> = acct
                .hosts
                .iter()
                .enumerate()
                .map(|(h, host)| HostHabit {
                    first_day: if h >= n_hosts - 6 { rng.random_range(1..days.max(2)) } else { 0 },
                    weight: zipf_p(h.min(39), 40, 1.1) * (0.4 * normal(&mut rng)).exp(),
                    hours: match host.role {
                        "web" => shifted(&HUMAN_HOURS, rng.random_range(-2..3), 0.6),
                        "batch" => {
                            let mut x = [0.2; 24];
                            for v in x.iter_mut().take(5).skip(1) {
                                *v = 3.0;
                            }
                            x
                        }
                        _ => MACHINE_HOURS,
                    },
                    growth: 1.0 + 0.003 + 0.003 * normal(&mut rng),
                    offset: rng.random_range(0..8),
                })
                .collect();
            accounts.push(RealAccount {
                weight_total: habits.iter().map(|h| h.weight).sum(),
                host_weight_total: hosts.iter().map(|h| h.weight).sum(),
                habits,
                hosts,
            });
        }
        // New SaaS domains, each from its own first day.
        let mut domain_first_day = vec![0; w.domains.len()];
        for i in 0..60 {
            w.domains.push(format!(
                "{}.{}-{}.io.",
                ["app", "api", "cdn"][i % 3],
                ["tool", "saas", "cloud", "ai"][i % 4],
                i
            ));
            domain_first_day.push(rng.random_range(1..days.max(2)));
        }
        // Instance profiles: the web, app and batch hosts call AWS with the credentials EC2 hands
        // their instance profile, in a session named after the instance. Built from their own
        // stream, after everything else, so the rest of the world is unchanged.
        for acct in w.accounts.iter_mut() {
            let id = acct.id.clone();
            let mut irng = rng_for(seed, &["instance-profiles", &id]);
            let mut role_ids: Vec<(&'static str, String)> = Vec::new();
            for (h, host) in acct.hosts.iter().enumerate() {
                if !INSTANCE_PROFILE_ROLES.contains(&host.role) {
                    continue;
                }
                let role_id = match role_ids.iter().find(|r| r.0 == host.role) {
                    Some(r) => r.1.clone(),
                    None => {
                        let r = format!("AROA{}", hexish(&mut irng, 16));
                        role_ids.push((host.role, r.clone()));
                        r
                    }
                };
                let name = format!("EC2-{}", host.role);
                acct.instance_sessions.push((
                    h,
                    Principal {
                        arn: format!("arn:aws:sts::{id}:assumed-role/{name}/{}", host.instance),
                        principal_id: format!("{role_id}:{}", host.instance),
                        access_key: format!("ASIA{}", hexish(&mut irng, 16)),
                        name,
                        kind: "AssumedRole",
                        ips: vec![host.ip.clone()],
                        weight: 0.0,
                        human: false,
                        user_agent: INSTANCE_AGENT,
                    },
                ));
            }
        }
        w.real = Some(std::sync::Arc::new(Real {
            accounts,
            holidays,
            releases,
            incident,
            domain_first_day,
            weekday0,
        }));
        w
    }
}

fn world_first(i: usize) -> &'static str {
    ["kai", "noor", "ravi", "sofia", "tomas", "wen", "yusuf", "elena"][i % 8]
}
fn world_last(i: usize) -> &'static str {
    ["berg", "costa", "ito", "novak", "park", "reyes", "shah"][i % 7]
}

impl Real {
    /// Is `day` a Saturday or Sunday?
    pub fn weekend(&self, day: i64) -> bool {
        (self.weekday0 as i64 + day).rem_euclid(7) >= 5
    }
    /// Is `day` a weekend day or a holiday (for people)?
    pub fn off(&self, day: i64) -> bool {
        self.weekend(day) || self.holidays.contains(&day)
    }
    /// Number of releases on or before `day` (a service role's fleet generation).
    pub fn fleet(&self, day: i64) -> usize {
        self.releases.iter().filter(|&&r| r <= day).count()
    }
    /// Deterministic day factor of a principal (no noise).
    pub fn principal_factor(&self, a: usize, p: usize, human: bool, day: i64) -> f64 {
        let h = &self.accounts[a].habits[p];
        if day < h.first_day {
            return 0.0;
        }
        let mut f = h.growth.powf(day as f64);
        if (human && self.off(day)) || (!human && self.weekend(day)) {
            f *= h.weekend;
        }
        if self.releases.contains(&day) {
            f *= h.release;
        }
        f
    }
    /// Deterministic day factor of a host.
    pub fn host_factor(&self, a: usize, h: usize, day: i64) -> f64 {
        let hh = &self.accounts[a].hosts[h];
        if day < hh.first_day {
            return 0.0;
        }
        hh.growth.powf(day as f64) * if self.weekend(day) { 0.8 } else { 1.0 }
    }
}

impl GenCtx<'_> {
    /// The realistic world's calendar and habits (panics in the simple world).
    pub fn real(&self) -> &Real {
        self.world.real.as_deref().expect("realistic world")
    }

    /// The user agent of principal `p`'s own calls on `day`: its agent after the upgrades made
    /// by then. A person upgrades the CLI or SDK every 10–30 days (its own period and phase); a
    /// service role's SDK is bumped with half of the releases (each role and release decided on
    /// its own), on the day its fleet is replaced. The console's agent never changes.
    pub fn principal_agent(&self, a: usize, p: usize, day: i64) -> &'static str {
        let r = self.real();
        let pr = &self.world.accounts[a].principals[p];
        let generation = if pr.human {
            let mut rng = rng_for(self.cfg.seed, &["agent-upgrades", &pr.arn]);
            let period = rng.random_range(10..31i64);
            let phase = rng.random_range(0..period);
            ((day.max(0) + phase) / period) as usize
        } else {
            r.releases
                .iter()
                .filter(|&&d| d <= day)
                .filter(|&&d| rng_for(self.cfg.seed, &["sdk-bump", &pr.arn, &d.to_string()]).random_bool(0.5))
                .count()
        };
        world::upgraded_agent(pr.user_agent, generation)
    }

    /// Source addresses of principal `p` on `day` with their shares of its calls.
    pub fn principal_ips(&self, a: usize, p: usize, day: i64) -> Vec<(String, f64)> {
        let r = self.real();
        let pr = &self.world.accounts[a].principals[p];
        let h = &r.accounts[a].habits[p];
        let id = &self.world.accounts[a].id;
        let mut rng = rng_for(self.cfg.seed, &["ips", id, &pr.arn, &day.to_string()]);
        if !pr.human {
            // Two instances of the role's fleet; the fleet is replaced on release days.
            let g = r.fleet(day);
            let role_ix = p % 200;
            let mk = |k: usize| format!("10.{}.{}.{}", a % 200, 100 + role_ix % 100, 10 + (g * 7 + k * 3) % 240);
            return vec![(mk(0), 0.5), (mk(1), 0.5)];
        }
        let epoch_ip = |life: (i64, i64), salt: &str| -> ChaCha8Rng {
            let e = (day + life.1) / life.0;
            rng_for(self.cfg.seed, &[salt, id, &pr.arn, &e.to_string()])
        };
        let office = {
            let mut e = epoch_ip(h.laptop_days, "laptop");
            format!("198.51.{}.{}", 100 + (a % 50), e.random_range(10..250))
        };
        let home = {
            let mut e = epoch_ip(h.home_days, "home");
            format!(
                "{}.{}.{}.{}",
                h.home_net,
                e.random_range(0..256),
                e.random_range(0..256),
                e.random_range(1..255)
            )
        };
        let vpn = format!("203.0.113.{}", 10 + a % 20 * 10 + rng.random_range(0..8));
        if !r.off(day) && rng.random_bool(h.travel) {
            let net = TRAVEL_NETS[rng.random_range(0..TRAVEL_NETS.len())];
            let hotel = format!(
                "{net}.{}.{}.{}",
                rng.random_range(0..256),
                rng.random_range(0..256),
                rng.random_range(1..255)
            );
            return vec![(hotel, 0.7), (vpn, 0.3)];
        }
        let at_office = !r.off(day) && rng.random_bool(0.6);
        match (at_office, h.vpn) {
            (true, _) => vec![(office, 0.9), (home, 0.1)],
            (false, true) => vec![(vpn, 0.8), (home, 0.2)],
            (false, false) => vec![(home, 1.0)],
        }
    }

    /// The day's gamma multiplier of a named entity (shared by every region and file).
    pub fn day_noise(&self, what: &str, entity: &str, day: i64, shape: f64) -> f64 {
        let mut rng = rng_for(self.cfg.seed, &["noise", what, entity, &day.to_string()]);
        gamma(&mut rng, shape)
    }
}

/// A time on `day_ms` following a principal's habit.
fn habit_time<R: Rng>(rng: &mut R, day_ms: i64, h: &Habit) -> i64 {
    let total: f64 = h.hours.iter().sum();
    let hour = world::pick_weighted(rng, &h.hours, total) as i64;
    let start = day_ms + hour * HOUR_MS;
    match h.schedule {
        Schedule::Hourly { minute } if rng.random_bool(0.85) => start + minute as i64 * 60_000 + rng.random_range(0..180_000),
        _ => start + rng.random_range(0..HOUR_MS),
    }
}

fn profile_time<R: Rng>(rng: &mut R, day_ms: i64, hours: &[f64; 24]) -> i64 {
    let total: f64 = hours.iter().sum();
    day_ms + world::pick_weighted(rng, hours, total) as i64 * HOUR_MS + rng.random_range(0..HOUR_MS)
}

fn pick_ip<'a, R: Rng>(rng: &mut R, ips: &'a [(String, f64)]) -> &'a str {
    let w: Vec<f64> = ips.iter().map(|x| x.1).collect();
    &ips[world::pick_weighted(rng, &w, w.iter().sum())].0
}

/// This file's share of an entity's day count (part 0 takes the remainder).
fn part_share(total: usize, t: &Task) -> usize {
    let parts = t.parts.max(1) as usize;
    total / parts + if t.part == 0 { total % parts } else { 0 }
}

/// The background events of one task in the realistic world.
pub fn background<'a>(ctx: &GenCtx<'a>, t: &Task, rng: &mut ChaCha8Rng, day_ms: i64) -> Vec<Ev<'a>> {
    let w = ctx.world;
    let r = ctx.real();
    let day = t.day;
    let seed = ctx.cfg.seed;
    let ds = day.to_string();
    let rs = t.region.to_string();
    let mut out = Vec::new();
    let in_incident = |time: i64| {
        day == r.incident.0 && (time - day_ms) / HOUR_MS >= r.incident.1 as i64 && (time - day_ms) / HOUR_MS < r.incident.1 as i64 + 3
    };
    match t.kind {
        SourceKind::CloudTrailMgmt => {
            let a = t.account;
            let acct = &w.accounts[a];
            let ra = &r.accounts[a];
            let bucket = format!("{}-app-data", acct.id);
            for (p, pr) in acct.principals.iter().enumerate() {
                let mean = ctx.principal_day_mean(a, t.region, day, p);
                if mean <= 0.0 {
                    continue;
                }
                let h = &ra.habits[p];
                let noise = ctx.day_noise("ct", &pr.arn, day, h.shape);
                let mut crng = rng_for(seed, &["ct-count", &pr.arn, &ds, &rs]);
                let n = part_share(poisson(&mut crng, mean * noise), t);
                // The outage: service roles retry, three times their calls in those hours.
                let retries = if !pr.human && day == r.incident.0 && t.part == 0 {
                    poisson(
                        &mut crng,
                        mean * noise * 2.0 * super::rates::hour_share(&h.hours, r.incident.1..r.incident.1 + 3),
                    )
                } else {
                    0
                };
                let ips = ctx.principal_ips(a, p, day);
                let agent = ctx.principal_agent(a, p, day);
                for i in 0..n + retries {
                    let time = if i < n {
                        habit_time(rng, day_ms, h)
                    } else {
                        day_ms + r.incident.1 as i64 * HOUR_MS + rng.random_range(0..3 * HOUR_MS)
                    };
                    let api = &APIS[world::pick_weighted(rng, &h.api_w, h.api_total)];
                    let ip = pick_ip(rng, &ips);
                    let err = if !pr.human && in_incident(time) && rng.random_bool(0.4) {
                        Some(if rng.random_bool(0.5) {
                            ("ServiceUnavailable", "Service is unavailable, please retry")
                        } else {
                            ("ThrottlingException", "Rate exceeded")
                        })
                    } else if rng.random_bool(h.error_rate) {
                        Some(("AccessDenied", "User is not authorized to perform this operation"))
                    } else {
                        None
                    };
                    let b = api.service.starts_with("s3").then_some(bucket.as_str());
                    out.push((
                        time,
                        with_agent(cloudtrail(rng, time, pr, api, ip.to_string(), err, b), Some(agent)),
                    ));
                }
            }
            // Instance-profile sessions, in the primary region, from their instance's address
            // (through the VPC's endpoints). Their own streams: the events above are unchanged.
            if t.region == 0 {
                let weights: Vec<f64> = INSTANCE_SESSION_MIX.iter().map(|m| m.1).collect();
                let total: f64 = weights.iter().sum();
                for (h, pr) in &acct.instance_sessions {
                    let hh = &ra.hosts[*h];
                    if hh.first_day > day {
                        continue;
                    }
                    let host = &acct.hosts[*h];
                    let noise = ctx.day_noise("ct-instance", &host.instance, day, 6.0);
                    let mut irng = rng_for(seed, &["ct-instance", &host.instance, &ds]);
                    let n = part_share(poisson(&mut irng, INSTANCE_SESSION_CALLS * noise), t);
                    for _ in 0..n {
                        let time = profile_time(&mut irng, day_ms, &hh.hours);
                        let op = INSTANCE_SESSION_MIX[world::pick_weighted(&mut irng, &weights, total)].0;
                        let api = world::api_named(op).expect("instance-session operation is known");
                        let b = api.service.starts_with("s3").then_some(bucket.as_str());
                        out.push((time, cloudtrail(&mut irng, time, pr, api, host.ip.as_str(), None, b)));
                    }
                }
            }
        }
        SourceKind::VpcFlow => {
            let a = t.account;
            let acct = &w.accounts[a];
            let ra = &r.accounts[a];
            let active: Vec<usize> = (0..acct.hosts.len()).filter(|&h| ra.hosts[h].first_day <= day).collect();
            let n_ext = w.external_ips.len();
            for &hi in &active {
                let hh = &ra.hosts[hi];
                let host = &acct.hosts[hi];
                let mean = ctx.host_flows_mean(a, t.region, day, hi);
                let noise = ctx.day_noise("vpc", &host.instance, day, 6.0);
                let mut crng = rng_for(seed, &["vpc-count", &host.instance, &ds, &rs]);
                // Their own stream, so the rest of the day's flows are the same with or without them.
                let mut frng = rng_for(seed, &["vpc-fresh", &host.instance, &ds, &rs, &t.part.to_string()]);
                let n = part_share(poisson(&mut crng, mean * noise), t);
                for _ in 0..n {
                    let time = profile_time(rng, day_ms, &hh.hours);
                    let x: f64 = rng.random();
                    let ev = if x < 0.55 {
                        let d = &acct.hosts[active[rng.random_range(0..active.len())]];
                        let port = [443u16, 5432, 6379, 8080, 443][rng.random_range(0..5)];
                        let bytes = (rng.random::<f64>() * 9.0).exp() as i64 + 200;
                        vpc_flow(
                            time,
                            (&host.ip, 32768 + rng.random_range(0..28000), Some(host)),
                            (&d.ip, port, Some(d)),
                            bytes,
                            bytes / 900 + 1,
                            true,
                            false,
                        )
                    } else if x < 0.93 {
                        let d = &w.external_ips[(zipf(rng, n_ext, 1.05) + hh.offset) % n_ext];
                        let bytes = (rng.random::<f64>() * 11.0).exp() as i64 + 300;
                        let d: super::events::Str = if frng.random::<f64>() < FRESH_SHARE {
                            fresh_ip(&mut frng).into()
                        } else {
                            d.as_str().into()
                        };
                        vpc_flow(
                            time,
                            (&host.ip, 32768 + rng.random_range(0..28000), Some(host)),
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
                            (&host.ip, port, Some(host)),
                            44,
                            1,
                            false,
                            false,
                        )
                    };
                    out.push((time, ev));
                }
                // A first upload to a new endpoint (a vendor's support portal, a partner's
                // SFTP, a new SaaS integration's first sync): a few host-days in a thousand.
                if t.part == 0 && frng.random::<f64>() < UPLOAD_RATE {
                    let total = ctx.host_external_bytes_mean(a, t.region, day, hi) * (UPLOAD_SIGMA * normal(&mut frng)).exp();
                    let dst = fresh_ip(&mut frng);
                    let flows = frng.random_range(1..=4);
                    let start = profile_time(&mut frng, day_ms, &hh.hours).min(day_ms + DAY - HOUR_MS);
                    for k in 0..flows {
                        let time = start + frng.random_range(0..HOUR_MS);
                        let bytes = (total / flows as f64) as i64 + 300;
                        out.push((
                            time,
                            vpc_flow(
                                time,
                                (&host.ip, 32768 + k as u16 * 7 + frng.random_range(0..7), Some(host)),
                                (dst.clone(), 443, None),
                                bytes,
                                bytes / 1400 + 1,
                                true,
                                true,
                            ),
                        ));
                    }
                }
                // Bastions: a few benign SSH sessions to internal hosts every day.
                if host.role == "bastion" && t.part == 0 {
                    for _ in 0..poisson(&mut crng, 6.0 * noise) {
                        let time = profile_time(rng, day_ms, &HUMAN_HOURS);
                        let d = &acct.hosts[active[rng.random_range(0..active.len())]];
                        out.push((
                            time,
                            vpc_flow(
                                time,
                                (&host.ip, 50000 + rng.random_range(0..10000), Some(host)),
                                (&d.ip, 22, Some(d)),
                                5200,
                                30,
                                true,
                                false,
                            ),
                        ));
                    }
                }
            }
            lookalike_flows(ctx, t, day_ms, &mut out);
        }
        SourceKind::Route53 => {
            let a = t.account;
            let acct = &w.accounts[a];
            let ra = &r.accounts[a];
            let nd = w.domains.len();
            for (hi, host) in acct.hosts.iter().enumerate() {
                let hh = &ra.hosts[hi];
                if hh.first_day > day {
                    continue;
                }
                let base = ctx.base_count(SourceKind::Route53, t.region) * hh.weight / ra.host_weight_total * r.host_factor(a, hi, day);
                let noise = ctx.day_noise("dns", &host.instance, day, 6.0);
                let mut crng = rng_for(seed, &["dns-count", &host.instance, &ds, &rs]);
                let n = part_share(poisson(&mut crng, base * noise), t);
                for _ in 0..n {
                    let time = profile_time(rng, day_ms, &hh.hours);
                    let mut d = (zipf(rng, nd, 1.1) + hh.offset) % nd;
                    for _ in 0..3 {
                        if r.domain_first_day[d] <= day {
                            break;
                        }
                        d = (zipf(rng, nd, 1.1) + hh.offset) % nd;
                    }
                    if r.domain_first_day[d] > day {
                        d = hh.offset % nd;
                    }
                    let ok = !rng.random_bool(0.01);
                    let ans = format!(
                        "52.{}.{}.{}",
                        rng.random_range(0..255),
                        rng.random_range(0..255),
                        rng.random_range(1..255)
                    );
                    out.push((
                        time,
                        route53(time, host, &w.domains[d], ok.then_some(super::events::Str::Owned(ans))),
                    ));
                }
            }
            lookalike_dns(ctx, t, day_ms, &mut out);
        }
        SourceKind::ShFindings => {
            let a = t.account;
            let acct = &w.accounts[a];
            for (fi, (prod, feature, ftype, _)) in FINDING_TYPES.iter().enumerate() {
                let mean = ctx.finding_day_mean(a, t.region, day, fi);
                let noise = ctx.day_noise("finding", &format!("{}|{ftype}|{rs}", acct.id), day, 3.0);
                for _ in 0..poisson(rng, mean * noise) {
                    let time = profile_time(rng, day_ms, &MACHINE_HOURS);
                    let h = &acct.hosts[rng.random_range(0..acct.hosts.len())];
                    out.push((time, finding(rng, time, (prod, feature, ftype), &h.instance)));
                }
            }
        }
        SourceKind::ExtAuthentication => {
            // The third-party feed loses whole hours on about one day in five.
            let mut orng = rng_for(seed, &["idp-outage", &ds]);
            let lost = orng.random_bool(0.2).then(|| {
                let h0 = orng.random_range(0..22i64);
                h0..h0 + orng.random_range(1..4i64)
            });
            let kept = |time: i64| lost.as_ref().is_none_or(|l| !l.contains(&((time - day_ms) / HOUR_MS)));
            for (a, acct) in w.accounts.iter().enumerate() {
                for (p, pr) in acct.principals.iter().enumerate().filter(|(_, p)| p.human) {
                    let mean = ctx.idp_logins_mean(a, p, day);
                    if mean <= 0.0 {
                        continue;
                    }
                    let noise = ctx.day_noise("idp", &pr.arn, day, 1.5);
                    let mut crng = rng_for(seed, &["idp-count", &pr.arn, &ds]);
                    let n = part_share(poisson(&mut crng, mean * noise), t);
                    let ips = ctx.principal_ips(a, p, day);
                    let h = &r.accounts[a].habits[p];
                    let user = idp_user(&pr.name);
                    for _ in 0..n {
                        let time = habit_time(rng, day_ms, h);
                        let fail = if in_incident(time) { 0.25 } else { super::rates::IDP_FAILURE_SHARE };
                        let ok = !rng.random_bool(fail);
                        let ip = pick_ip(rng, &ips);
                        let e = idp_auth(rng, time, user.clone(), ip.to_string(), "US", ok, ok);
                        if !kept(time) {
                            continue;
                        }
                        if rng.random_bool(0.02) {
                            out.push((time, e.clone()));
                        }
                        out.push((time, e));
                    }
                }
            }
            // A misconfigured sync integration fails in bursts every weekday.
            if !r.weekend(day) && t.part == 0 {
                let h0 = rng.random_range(0..23i64);
                for _ in 0..rng.random_range(5..41) {
                    let time = day_ms + h0 * HOUR_MS + rng.random_range(0..HOUR_MS);
                    if kept(time) {
                        out.push((time, idp_auth(rng, time, "svc-sync@example.com", "198.51.99.5", "US", false, false)));
                    }
                }
            }
        }
    }
    out
}

/// Share of a host's external flows that go to an address the fleet has not used before (CDN
/// and SaaS address rotation): each such flow gets a fresh address.
pub const FRESH_SHARE: f64 = 0.05;
/// Host-days with a first upload to a new endpoint, per host-day.
pub const UPLOAD_RATE: f64 = 0.003;
/// The upload's size is the host's usual daily external bytes × exp(σ N(0, 1)): median one
/// usual day, one in twenty above 5.2 days, one in a hundred above 10.
pub const UPLOAD_SIGMA: f64 = 1.0;

/// A public address no other part of the world uses (CDN, cloud and SaaS ranges; never RFC 1918,
/// never S3's 52.216.0.0/15 that the demo job allow-lists).
fn fresh_ip<R: Rng>(rng: &mut R) -> String {
    format!(
        "{}.{}.{}.{}",
        [13, 18, 23, 34, 35, 99, 104, 151][rng.random_range(0..8)],
        rng.random_range(0..255),
        rng.random_range(0..255),
        rng.random_range(1..255)
    )
}

/// The benign look-alikes of the network and DNS hunts (realistic world, primary region): traffic
/// every real VPC has that looks like an attack to a naive rule. Each is labelled in `labels.json`
/// (`benign_lookalikes`) so the quality benchmark can say whether a hunt flagged one.
///
/// | kind | what | why it is benign |
/// |---|---|---|
/// | `saas_poller` | hosts 1, 6, 11, … poll one SaaS monitoring address every 15 min (±2 s), 310-byte payloads | the destination is common to the fleet |
/// | `ntp` | hosts 0, 7, 14, … query the Amazon Time Sync address every 1,024 s | link-local |
/// | `nightly_backup` | host 2 sends 40× its usual daily external bytes to an S3 address at 02:00 every night | every night, allow-listed range |
/// | `scanner` | 10.0.250.10 probes 8 hosts a day (rotating) on 22, 3389 and 445 | the organisation's own scanner |
/// | `cdn_names` | hosts 0, 3, 6, … resolve 4 new hashed CloudFront names a day | random only below a well-known domain |
pub const LOOKALIKES: &[&str] = &["saas_poller", "ntp", "nightly_backup", "scanner", "cdn_names"];
/// The SaaS monitoring address the pollers use.
pub const SAAS_POLLER_IP: &str = "34.117.59.81";
/// The nightly backup's destination (in S3's 52.216.0.0/15).
pub const BACKUP_IP: &str = "52.216.40.17";
/// The scanner's address.
pub const SCANNER_IP: &str = "10.0.250.10";
/// Amazon Time Sync.
pub const NTP_IP: &str = "169.254.169.123";

/// One look-alike as `labels.json` lists it.
pub fn lookalike_labels(w: &World) -> Vec<serde_json::Value> {
    let mut v = Vec::new();
    for acct in &w.accounts {
        let hosts = |step: usize, off: usize| -> Vec<&str> {
            acct.hosts
                .iter()
                .enumerate()
                .filter(|(i, _)| i % step == off)
                .map(|(_, h)| h.ip.as_str())
                .collect()
        };
        v.push(serde_json::json!({"kind": "saas_poller", "account": acct.id, "src_ips": hosts(5, 1), "dst_ip": SAAS_POLLER_IP}));
        v.push(serde_json::json!({"kind": "ntp", "account": acct.id, "src_ips": hosts(7, 0), "dst_ip": NTP_IP}));
        if let Some(h) = acct.hosts.get(2) {
            v.push(serde_json::json!({"kind": "nightly_backup", "account": acct.id, "src_ips": [h.ip], "dst_ip": BACKUP_IP}));
        }
        v.push(serde_json::json!({"kind": "scanner", "account": acct.id, "src_ips": [SCANNER_IP]}));
        v.push(serde_json::json!({"kind": "cdn_names", "account": acct.id, "src_ips": hosts(3, 0), "domain": "cloudfront.net"}));
    }
    v
}

/// Whether host `i` of the task's account exists on the task's day.
fn host_exists<'a>(ctx: &'a GenCtx<'_>, t: &'a Task) -> impl Fn(usize) -> bool + 'a {
    move |i| {
        ctx.world
            .real
            .as_deref()
            .and_then(|r| r.accounts[t.account].hosts.get(i))
            .is_none_or(|h| h.first_day <= t.day)
    }
}

/// The look-alikes' flows of one task's day (primary region, first file of the partition).
fn lookalike_flows<'a>(ctx: &GenCtx<'a>, t: &Task, day_ms: i64, out: &mut Vec<Ev<'a>>) {
    if t.region != 0 || t.part != 0 {
        return;
    }
    let w = ctx.world;
    let acct = &w.accounts[t.account];
    let mut rng = rng_for(ctx.cfg.seed, &["lookalike-vpc", &acct.id, &t.day.to_string()]);
    let exists = host_exists(ctx, t);
    for (i, h) in acct.hosts.iter().enumerate() {
        // A host's pollers and clocks start with the host (before, it had no traffic at all and
        // looked, to a hunt, like a host that never talks to the outside).
        if !exists(i) {
            continue;
        }
        if i % 5 == 1 {
            let phase = (i as i64 * 37_000) % 900_000;
            let mut at = day_ms + phase;
            while at < day_ms + DAY {
                let time = at + rng.random_range(-2000..2000);
                out.push((
                    time,
                    vpc_flow(
                        time,
                        (&h.ip, 40000 + rng.random_range(0..20000), Some(h)),
                        (SAAS_POLLER_IP, 443, None),
                        310,
                        4,
                        true,
                        true,
                    ),
                ));
                at += 900_000;
            }
        }
        if i % 7 == 0 {
            let mut at = day_ms + (i as i64 * 11_000) % 1_024_000;
            while at < day_ms + DAY {
                out.push((at, vpc_flow(at, (&h.ip, 123, Some(h)), (NTP_IP, 123, None), 76, 1, true, true)));
                at += 1_024_000;
            }
        }
    }
    if let Some(h) = acct.hosts.get(2).filter(|_| exists(2)) {
        // 40× a usual day's external bytes, in 20 flows from 02:00.
        let usual = ctx.host_external_bytes_mean(t.account, 0, t.day, 2).max(1e5);
        for k in 0..20 {
            let time = day_ms + 2 * HOUR_MS + k * 60_000;
            let bytes = (usual * 2.0 * rng.random_range(0.9..1.1)) as i64;
            out.push((
                time,
                vpc_flow(
                    time,
                    (&h.ip, 45000 + k as u16, Some(h)),
                    (BACKUP_IP, 443, None),
                    bytes,
                    bytes / 1400 + 1,
                    true,
                    true,
                ),
            ));
        }
    }
    let n = acct.hosts.len();
    for k in 0..8usize.min(n) {
        let d = &acct.hosts[(t.day as usize * 8 + k) % n];
        for port in [22u16, 3389, 445] {
            let time = day_ms + 10 * HOUR_MS + rng.random_range(0..HOUR_MS);
            out.push((
                time,
                vpc_flow(
                    time,
                    (SCANNER_IP, 50000 + rng.random_range(0..10000), None),
                    (&d.ip, port, Some(d)),
                    60,
                    1,
                    false,
                    false,
                ),
            ));
        }
    }
}

/// The look-alikes' DNS queries of one task's day.
fn lookalike_dns<'a>(ctx: &GenCtx<'a>, t: &Task, day_ms: i64, out: &mut Vec<Ev<'a>>) {
    if t.region != 0 || t.part != 0 {
        return;
    }
    let acct = &ctx.world.accounts[t.account];
    let mut rng = rng_for(ctx.cfg.seed, &["lookalike-dns", &acct.id, &t.day.to_string()]);
    let exists = host_exists(ctx, t);
    for (_, h) in acct.hosts.iter().enumerate().filter(|(i, _)| i % 3 == 0 && exists(*i)) {
        for _ in 0..4 {
            let name = format!("d{}.cloudfront.net.", hexish(&mut rng, 13).to_ascii_lowercase());
            let time = day_ms + rng.random_range(0..DAY);
            out.push((time, route53(time, h, name, Some(super::events::Str::Borrowed("13.224.10.20")))));
        }
    }
}
