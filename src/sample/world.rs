//! The simulated organisation behind a sample lake: accounts, principals, hosts, APIs, domains.
//!
//! Everything is derived from the seed alone, so every file task can rebuild the same world
//! without sharing state, and a lake is byte-for-byte reproducible for a seed.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// One IAM principal (a person or a role) in one account.
#[derive(Debug, Clone)]
pub struct Principal {
    /// `alice.smith` or `AppRole-orders`.
    pub name: String,
    /// `IAMUser`, `AssumedRole` or `Root`.
    pub kind: &'static str,
    /// Full ARN.
    pub arn: String,
    /// CloudTrail principalId (`AIDA…` / `AROA…:session`).
    pub principal_id: String,
    /// Access key id used by this principal.
    pub access_key: String,
    /// Home source IPs (office/VPN for people, instance IPs or service domains for roles).
    pub ips: Vec<String>,
    /// Relative activity weight (Zipf-like).
    pub weight: f64,
    /// True for people (diurnal rhythm, console logins, an IdP account).
    pub human: bool,
    /// The user agent the principal usually sends.
    pub user_agent: &'static str,
}

/// One EC2 instance (a VPC Flow / Route 53 endpoint).
#[derive(Debug, Clone)]
pub struct Host {
    /// `i-0…`.
    pub instance: String,
    /// Private IP in 10.0.0.0/8.
    pub ip: String,
    /// ENI id.
    pub eni: String,
    /// Subnet id.
    pub subnet: String,
    /// Role: `web`, `app`, `db`, `batch`, `bastion`.
    pub role: &'static str,
}

/// One AWS account of the sample organisation.
#[derive(Debug, Clone)]
pub struct Account {
    /// 12-digit id.
    pub id: String,
    /// Principals, heaviest first.
    pub principals: Vec<Principal>,
    /// Hosts.
    pub hosts: Vec<Host>,
    /// VPC id.
    pub vpc: String,
    /// The account's root user: never active in the background (an organisation that follows
    /// AWS's advice does not use it), only in the `root_activity` scenario.
    pub root: Principal,
    /// Instance-profile sessions (realistic world): `(host index, session)`, the session named
    /// after the instance (`assumed-role/EC2-web/i-0…`, as EC2 names the credentials it hands
    /// out), calling from that instance's address. Empty in the simple world.
    pub instance_sessions: Vec<(usize, Principal)>,
    /// IAM users that do not exist in the background: an intruder creates one (names chosen to
    /// pass for the organisation's own) and its first calls are the `new_principal_discovery`
    /// scenario's. Never active otherwise.
    pub intruder_users: Vec<Principal>,
}

/// Names of [`Account::intruder_users`]: what a persistence step calls a user so that it passes.
pub const INTRUDER_USERS: &[&str] = &["svc-backup", "support-ops", "ci-temp", "admin-recovery"];

/// An API the background calls: (service, operation, OCSF activity_id, class kind).
#[derive(Debug, Clone, Copy)]
pub struct Api {
    /// `s3.amazonaws.com`.
    pub service: &'static str,
    /// `GetObject`.
    pub operation: &'static str,
    /// 1 Create, 2 Read, 3 Update, 4 Delete (API Activity); 1 Logon (Authentication), …
    pub activity_id: i32,
    /// Which CloudTrail-table class the operation lands in.
    pub class: ApiClass,
    /// Relative frequency.
    pub weight: f64,
}

/// The three OCSF classes of the CloudTrail management table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiClass {
    /// API Activity (3005 in v1, 6003 in v2).
    Api,
    /// Authentication 3002.
    Auth,
    /// Account Change 3001.
    AccountChange,
}

macro_rules! api {
    ($s:expr, $o:expr, $a:expr, $c:ident, $w:expr) => {
        Api {
            service: $s,
            operation: $o,
            activity_id: $a,
            class: ApiClass::$c,
            weight: $w,
        }
    };
}

/// The background API mix: a long tail, reads dominate, as in real CloudTrail.
pub const APIS: &[Api] = &[
    api!("s3.amazonaws.com", "GetObject", 2, Api, 30.0),
    api!("s3.amazonaws.com", "PutObject", 1, Api, 14.0),
    api!("s3.amazonaws.com", "ListObjects", 2, Api, 10.0),
    api!("s3.amazonaws.com", "HeadObject", 2, Api, 8.0),
    api!("s3.amazonaws.com", "DeleteObject", 4, Api, 2.0),
    api!("s3.amazonaws.com", "GetBucketAcl", 2, Api, 1.5),
    api!("s3.amazonaws.com", "ListBuckets", 2, Api, 1.2),
    api!("ec2.amazonaws.com", "DescribeInstances", 2, Api, 12.0),
    api!("ec2.amazonaws.com", "DescribeSecurityGroups", 2, Api, 4.0),
    api!("ec2.amazonaws.com", "DescribeVolumes", 2, Api, 3.0),
    api!("ec2.amazonaws.com", "RunInstances", 1, Api, 0.4),
    api!("ec2.amazonaws.com", "TerminateInstances", 4, Api, 0.3),
    api!("ec2.amazonaws.com", "AuthorizeSecurityGroupIngress", 3, Api, 0.2),
    api!("ec2.amazonaws.com", "CreateTags", 1, Api, 1.0),
    api!("sts.amazonaws.com", "AssumeRole", 1, Auth, 9.0),
    api!("sts.amazonaws.com", "GetCallerIdentity", 2, Api, 3.0),
    api!("signin.amazonaws.com", "ConsoleLogin", 1, Auth, 0.8),
    api!("iam.amazonaws.com", "ListRoles", 2, Api, 1.0),
    api!("iam.amazonaws.com", "GetRole", 2, Api, 1.5),
    api!("iam.amazonaws.com", "ListUsers", 2, Api, 0.6),
    api!("iam.amazonaws.com", "CreateUser", 1, AccountChange, 0.05),
    api!("iam.amazonaws.com", "AttachRolePolicy", 3, AccountChange, 0.05),
    api!("iam.amazonaws.com", "CreateAccessKey", 1, Api, 0.05),
    api!("kms.amazonaws.com", "Decrypt", 2, Api, 9.0),
    api!("kms.amazonaws.com", "GenerateDataKey", 1, Api, 4.0),
    api!("lambda.amazonaws.com", "Invoke", 2, Api, 3.0),
    api!("lambda.amazonaws.com", "ListFunctions20150331", 2, Api, 0.6),
    api!("dynamodb.amazonaws.com", "DescribeTable", 2, Api, 2.0),
    api!("logs.amazonaws.com", "CreateLogStream", 1, Api, 2.5),
    api!("logs.amazonaws.com", "DescribeLogGroups", 2, Api, 1.5),
    api!("cloudtrail.amazonaws.com", "LookupEvents", 2, Api, 0.3),
    api!("cloudtrail.amazonaws.com", "UpdateTrail", 3, Api, 0.02),
    api!("secretsmanager.amazonaws.com", "GetSecretValue", 2, Api, 2.0),
    api!("ssm.amazonaws.com", "GetParameter", 2, Api, 3.0),
    api!("elasticloadbalancing.amazonaws.com", "DescribeLoadBalancers", 2, Api, 1.0),
    api!("monitoring.amazonaws.com", "PutMetricData", 1, Api, 2.0),
];

/// Operations only the UEBA scenarios call (attackers' discovery, persistence and credential
/// access); the background never does, so in the realistic world they are first-seen by anyone.
pub const ATTACK_APIS: &[Api] = &[
    api!("iam.amazonaws.com", "GetAccountAuthorizationDetails", 2, Api, 0.0),
    api!("iam.amazonaws.com", "ListAttachedRolePolicies", 2, Api, 0.0),
    api!("iam.amazonaws.com", "ListAccessKeys", 2, Api, 0.0),
    api!("iam.amazonaws.com", "AttachUserPolicy", 3, AccountChange, 0.0),
    api!("iam.amazonaws.com", "PutUserPolicy", 3, AccountChange, 0.0),
    api!("iam.amazonaws.com", "CreateLoginProfile", 1, AccountChange, 0.0),
    api!("secretsmanager.amazonaws.com", "ListSecrets", 2, Api, 0.0),
    api!("kms.amazonaws.com", "ListKeys", 2, Api, 0.0),
    api!("s3.amazonaws.com", "GetBucketPolicy", 2, Api, 0.0),
    api!("ssm.amazonaws.com", "GetParametersByPath", 2, Api, 0.0),
    api!("rds.amazonaws.com", "DescribeDBInstances", 2, Api, 0.0),
];

/// The operation named `op` among [`APIS`] and [`ATTACK_APIS`].
pub fn api_named(op: &str) -> Option<&'static Api> {
    APIS.iter().chain(ATTACK_APIS).find(|a| a.operation == op)
}

/// The browser behind AWS console sessions (the root user's and the console-login scenarios').
pub const CONSOLE_AGENT: &str =
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36";

/// A scripting user agent no principal of the background uses.
pub const ATTACKER_AGENT: &str = "Boto3/1.34.0 md/Botocore#1.34.0 ua/2.0 os/linux#5.15.0 md/arch#x86_64 lang/python#3.10.12";

/// The AWS CLI of whoever took an instance's credentials (a tool of its own, not the instance's SDK
/// nor the night-time discovery's scripts).
pub const THEFT_AGENT: &str = "aws-cli/2.13.25 Python/3.11.5 Linux/5.15.0-86-generic exe/x86_64.ubuntu.22 prompt/off";

/// Security Hub finding types of the background, `(product, feature, type, daily rate per account)`.
pub const FINDING_TYPES: &[(&str, &str, &str, f64)] = &[
    (
        "Security Hub",
        "Security Hub",
        "Software and Configuration Checks/Industry and Regulatory Standards/AWS-Foundational-Security-Best-Practices",
        6.0,
    ),
    (
        "Security Hub",
        "Security Hub",
        "Software and Configuration Checks/Industry and Regulatory Standards/CIS AWS Foundations Benchmark",
        4.0,
    ),
    ("GuardDuty", "GuardDuty", "TTPs/Discovery/Recon:EC2-PortProbeUnprotectedPort", 3.0),
    (
        "GuardDuty",
        "GuardDuty",
        "Unusual Behaviors/User/Policy:IAMUser-RootCredentialUsage",
        0.3,
    ),
    (
        "GuardDuty",
        "GuardDuty",
        "TTPs/Initial Access/UnauthorizedAccess:EC2-SSHBruteForce",
        1.0,
    ),
    (
        "Inspector",
        "Inspector",
        "Software and Configuration Checks/Vulnerabilities/CVE",
        5.0,
    ),
    (
        "Macie",
        "Macie",
        "Sensitive Data Identifications/PII/SensitiveData:S3Object-Personal",
        0.8,
    ),
    (
        "IAM Access Analyzer",
        "IAM Access Analyzer",
        "Software and Configuration Checks/AWS Security Best Practices/External Access Granted",
        0.5,
    ),
];

const FIRST: &[&str] = &[
    "alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy", "mallory", "niaj", "olivia", "peggy", "rupert",
    "sybil", "trent", "victor", "walter", "yara", "zane", "ana", "li", "omar",
];
const LAST: &[&str] = &[
    "smith", "jones", "garcia", "chen", "patel", "kim", "nguyen", "okafor", "silva", "rossi", "muller", "tanaka",
];
const ROLES: &[&str] = &[
    "orders-api",
    "billing-batch",
    "etl-nightly",
    "ci-deployer",
    "log-shipper",
    "search-indexer",
    "ml-training",
    "backup-agent",
    "config-recorder",
    "payments-api",
];
const AGENTS_HUMAN: &[&str] = &[
    "console.amazonaws.com",
    "aws-cli/2.15.30 Python/3.11.8 Linux/6.1 exe/x86_64",
    "Boto3/1.34.60 md/Botocore#1.34.60 ua/2.0 os/macos#23.4.0 lang#python#3.12.2",
];
const AGENTS_ROLE: &[&str] = &[
    "aws-sdk-java/2.25.10 Linux/5.10 OpenJDK_64-Bit_Server_VM/17.0.10",
    "aws-sdk-go-v2/1.26.0 os/linux lang/go#1.22.1",
    "Boto3/1.34.60 md/Botocore#1.34.60 ua/2.0 os/linux#5.10 lang#python#3.11.8",
];

/// Each agent's later releases, oldest first (the realistic world's upgrades: a person's CLI or
/// SDK every few weeks, a service role's SDK with some of its deployments). The console's agent
/// does not change. `upgraded_agent(a, 0)` is `a` itself.
const AGENT_UPGRADES: &[&[&str]] = &[
    &[
        "aws-cli/2.15.30 Python/3.11.8 Linux/6.1 exe/x86_64",
        "aws-cli/2.15.42 Python/3.11.8 Linux/6.1 exe/x86_64",
        "aws-cli/2.16.4 Python/3.11.8 Linux/6.1 exe/x86_64",
        "aws-cli/2.17.1 Python/3.11.9 Linux/6.1 exe/x86_64",
    ],
    &[
        "Boto3/1.34.60 md/Botocore#1.34.60 ua/2.0 os/macos#23.4.0 lang#python#3.12.2",
        "Boto3/1.34.84 md/Botocore#1.34.84 ua/2.0 os/macos#23.4.0 lang#python#3.12.2",
        "Boto3/1.34.103 md/Botocore#1.34.103 ua/2.0 os/macos#23.5.0 lang#python#3.12.3",
        "Boto3/1.34.131 md/Botocore#1.34.131 ua/2.0 os/macos#23.5.0 lang#python#3.12.3",
    ],
    &[
        "aws-sdk-java/2.25.10 Linux/5.10 OpenJDK_64-Bit_Server_VM/17.0.10",
        "aws-sdk-java/2.25.27 Linux/5.10 OpenJDK_64-Bit_Server_VM/17.0.10",
        "aws-sdk-java/2.25.45 Linux/5.10 OpenJDK_64-Bit_Server_VM/17.0.11",
        "aws-sdk-java/2.26.3 Linux/5.10 OpenJDK_64-Bit_Server_VM/17.0.11",
    ],
    &[
        "aws-sdk-go-v2/1.26.0 os/linux lang/go#1.22.1",
        "aws-sdk-go-v2/1.26.1 os/linux lang/go#1.22.1",
        "aws-sdk-go-v2/1.27.0 os/linux lang/go#1.22.2",
        "aws-sdk-go-v2/1.27.2 os/linux lang/go#1.22.3",
    ],
    &[
        "Boto3/1.34.60 md/Botocore#1.34.60 ua/2.0 os/linux#5.10 lang#python#3.11.8",
        "Boto3/1.34.84 md/Botocore#1.34.84 ua/2.0 os/linux#5.10 lang#python#3.11.8",
        "Boto3/1.34.103 md/Botocore#1.34.103 ua/2.0 os/linux#5.10 lang#python#3.11.9",
        "Boto3/1.34.131 md/Botocore#1.34.131 ua/2.0 os/linux#5.10 lang#python#3.11.9",
    ],
];

/// Agent `base` after `generation` upgrades (the last known release once they run out; `base`
/// itself when it has none, as the console's).
pub fn upgraded_agent(base: &'static str, generation: usize) -> &'static str {
    AGENT_UPGRADES
        .iter()
        .find(|v| v[0] == base)
        .map(|v| v[generation.min(v.len() - 1)])
        .unwrap_or(base)
}

/// Domain words for the DNS long tail.
const WORDS: &[&str] = &[
    "cdn",
    "api",
    "static",
    "auth",
    "login",
    "img",
    "data",
    "metrics",
    "telemetry",
    "update",
    "repo",
    "pkg",
    "mirror",
    "news",
    "mail",
    "docs",
    "status",
    "assets",
    "edge",
    "sync",
];
const SITES: &[&str] = &[
    "github",
    "pypi",
    "debian",
    "ubuntu",
    "docker",
    "npmjs",
    "datadoghq",
    "slack",
    "okta",
    "google",
    "microsoft",
    "cloudflare",
    "sentry",
    "pagerduty",
    "atlassian",
    "zoom",
    "stripe",
    "twilio",
    "akamai",
    "fastly",
];

/// Deterministic RNG for a named stream of the world.
pub fn rng_for(seed: u64, parts: &[&str]) -> ChaCha8Rng {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(seed.to_le_bytes());
    for p in parts {
        h.update(p.as_bytes());
        h.update([0u8]);
    }
    let d = h.finalize();
    let mut s = [0u8; 32];
    s.copy_from_slice(&d);
    ChaCha8Rng::from_seed(s)
}

/// Pick an index by weights (linear scan; the lists are short).
pub fn pick_weighted<R: Rng>(rng: &mut R, weights: &[f64], total: f64) -> usize {
    let mut x = rng.random::<f64>() * total;
    for (i, w) in weights.iter().enumerate() {
        if x < *w {
            return i;
        }
        x -= w;
    }
    weights.len().saturating_sub(1)
}

/// The whole organisation.
#[derive(Debug, Clone)]
pub struct World {
    /// Accounts, in order.
    pub accounts: Vec<Account>,
    /// Common external destinations (SaaS, CDNs), Zipf-weighted.
    pub external_ips: Vec<String>,
    /// DNS names of the background, Zipf-weighted.
    pub domains: Vec<String>,
    /// API weights (parallel to [`APIS`]).
    pub api_weights: Vec<f64>,
    /// Habits and calendar of the realistic world (`None`: the simple world).
    pub real: Option<std::sync::Arc<super::realistic::Real>>,
}

impl World {
    /// Build the world for `seed` with `n_accounts` accounts.
    pub fn new(seed: u64, n_accounts: usize) -> World {
        let mut rng = rng_for(seed, &["world"]);
        let mut accounts = Vec::new();
        for a in 0..n_accounts {
            let id = format!("{:012}", 100_000_000_000u64 + rng.random_range(0..899_999_999_999u64));
            let mut principals = Vec::new();
            let n_people = 24;
            for p in 0..n_people {
                let name = format!("{}.{}", FIRST[(p + a * 7) % FIRST.len()], LAST[(p * 5 + a) % LAST.len()]);
                let office = format!("198.51.{}.{}", 100 + (a % 50), 10 + p);
                let mut ips = vec![office];
                if rng.random_bool(0.4) {
                    ips.push(format!("203.0.113.{}", 1 + rng.random_range(0..250)));
                }
                principals.push(Principal {
                    arn: format!("arn:aws:iam::{id}:user/{name}"),
                    principal_id: format!("AIDA{}", hexish(&mut rng, 16)),
                    access_key: format!("AKIA{}", hexish(&mut rng, 16)),
                    name,
                    kind: "IAMUser",
                    ips,
                    weight: 1.0 / (1.0 + p as f64).powf(0.9),
                    human: true,
                    user_agent: AGENTS_HUMAN[p % AGENTS_HUMAN.len()],
                });
            }
            for (r, role) in ROLES.iter().enumerate() {
                let name = format!("AppRole-{role}");
                let role_id = format!("AROA{}", hexish(&mut rng, 16));
                principals.push(Principal {
                    arn: format!("arn:aws:sts::{id}:assumed-role/{name}/{role}-session"),
                    principal_id: format!("{role_id}:{role}-session"),
                    access_key: format!("ASIA{}", hexish(&mut rng, 16)),
                    name,
                    kind: "AssumedRole",
                    ips: vec![format!("10.{}.{}.{}", a % 200, 10 + r, 10 + rng.random_range(0..200))],
                    weight: 3.0 / (1.0 + r as f64).powf(0.8),
                    human: false,
                    user_agent: AGENTS_ROLE[r % AGENTS_ROLE.len()],
                });
            }
            let roles = ["web", "web", "app", "app", "app", "db", "batch", "bastion"];
            let hosts = (0..40)
                .map(|h| Host {
                    instance: format!("i-0{}", hexish(&mut rng, 16)),
                    ip: format!("10.{}.{}.{}", a % 200, 1 + h / 20, 10 + (h % 20) * 3),
                    eni: format!("eni-0{}", hexish(&mut rng, 16)),
                    subnet: format!("subnet-0{}", hexish(&mut rng, 16)),
                    role: roles[h % roles.len()],
                })
                .collect();
            let vpc = format!("vpc-0{}", hexish(&mut rng, 16));
            // Its own stream, so the rest of the world is what it was before the root user existed.
            let mut rrng = rng_for(seed, &["root", &id]);
            let root = Principal {
                arn: format!("arn:aws:iam::{id}:root"),
                principal_id: id.clone(),
                access_key: format!("ASIA{}", hexish(&mut rrng, 16)),
                name: "root".into(),
                kind: "Root",
                ips: Vec::new(),
                weight: 0.0,
                human: true,
                user_agent: CONSOLE_AGENT,
            };
            // Their own stream too: the background does not change with them.
            let mut irng = rng_for(seed, &["intruder_users", &id]);
            let intruder_users = INTRUDER_USERS
                .iter()
                .map(|name| Principal {
                    arn: format!("arn:aws:iam::{id}:user/{name}"),
                    principal_id: format!("AIDA{}", hexish(&mut irng, 16)),
                    access_key: format!("AKIA{}", hexish(&mut irng, 16)),
                    name: (*name).into(),
                    kind: "IAMUser",
                    ips: Vec::new(),
                    weight: 0.0,
                    human: false,
                    user_agent: ATTACKER_AGENT,
                })
                .collect();
            accounts.push(Account {
                id,
                principals,
                hosts,
                vpc,
                root,
                instance_sessions: Vec::new(),
                intruder_users,
            });
        }
        let external_ips = (0..300)
            .map(|i| {
                format!(
                    "{}.{}.{}.{}",
                    [52, 54, 3, 13, 151, 104, 140][i % 7],
                    rng.random_range(0..255),
                    rng.random_range(0..255),
                    1 + rng.random_range(0..254)
                )
            })
            .collect();
        let mut domains = Vec::new();
        for s in SITES {
            for w in WORDS.iter().take(8) {
                domains.push(format!("{w}.{s}.com."));
            }
        }
        for svc in ["s3", "sts", "ec2", "kms", "logs", "dynamodb", "ssm", "secretsmanager"] {
            domains.insert(0, format!("{svc}.us-east-1.amazonaws.com."));
        }
        let api_weights = APIS.iter().map(|a| a.weight).collect();
        World {
            accounts,
            external_ips,
            domains,
            api_weights,
            real: None,
        }
    }
}

/// Lower-case hex-ish id of `n` characters (upper-case for AWS key ids is cosmetic).
pub fn hexish<R: Rng>(rng: &mut R, n: usize) -> String {
    const C: &[u8] = b"0123456789abcdef";
    (0..n)
        .map(|_| C[rng.random_range(0..16)] as char)
        .collect::<String>()
        .to_uppercase()
}

/// Zipf-like index over `n` items with exponent `s` by inverse-CDF on a continuous approximation.
pub fn zipf<R: Rng>(rng: &mut R, n: usize, s: f64) -> usize {
    // Continuous power law on [1, n+1): cheap and skewed enough for a long tail.
    let u: f64 = rng.random();
    let a = 1.0 - s;
    let x = if a.abs() < 1e-9 {
        ((n as f64 + 1.0).ln() * u).exp()
    } else {
        (1.0 + u * ((n as f64 + 1.0).powf(a) - 1.0)).powf(1.0 / a)
    };
    ((x as usize).max(1) - 1).min(n - 1)
}

/// Probability that [`zipf`]`(rng, n, s)` returns `i` (the exact law of its continuous approximation).
pub fn zipf_p(i: usize, n: usize, s: f64) -> f64 {
    if n == 0 || i >= n {
        return 0.0;
    }
    let a = 1.0 - s;
    let top = n as f64 + 1.0;
    let cdf = |x: f64| {
        if a.abs() < 1e-9 {
            x.ln() / top.ln()
        } else {
            (x.powf(a) - 1.0) / (top.powf(a) - 1.0)
        }
    };
    if i + 1 == n {
        1.0 - cdf(n as f64)
    } else {
        cdf(i as f64 + 2.0) - cdf(i as f64 + 1.0)
    }
}

/// Networks attackers use in injected scenarios. No benign principal, host or destination of
/// either world uses an address in them (benign external destinations, office, VPN, travel and
/// scanner ranges are elsewhere), so "a network the entity never used" holds by construction.
pub const ATTACKER_NETS: &[&str] = &[
    "185.220.101",
    "185.100.87",
    "45.155.205",
    "193.142.146",
    "194.26.192",
    "195.123.247",
];

/// A random attacker address (see [`ATTACKER_NETS`]).
pub fn attacker_ip<R: Rng>(rng: &mut R) -> String {
    format!(
        "{}.{}",
        ATTACKER_NETS[rng.random_range(0..ATTACKER_NETS.len())],
        rng.random_range(2..254)
    )
}
