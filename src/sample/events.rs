//! Event builders: one JSON object per OCSF event, in the column paths of each source version.

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Value};

use super::scenarios::{idp_user, Scenario, ScenarioKind, DAY_MS, HOUR_MS};
use super::world::{self, pick_weighted, zipf, ApiClass, Host, Principal, APIS, FINDING_TYPES};
use super::{GenCtx, Task};
use crate::lake::ocsf::{SourceKind, SourceVersion};

/// An event and its time (epoch ms), for sorting.
pub type Ev = (i64, Value);

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

fn uuid<R: Rng>(rng: &mut R) -> String {
    let a: u128 = rng.random();
    let s = format!("{a:032x}");
    format!("{}-{}-4{}-a{}-{}", &s[0..8], &s[8..12], &s[13..16], &s[17..20], &s[20..32])
}

fn product(kind: SourceKind, v: SourceVersion, name: &str, feature: &str, version: &str) -> Value {
    let profiles = match kind {
        SourceKind::VpcFlow => json!(["cloud", "security_control"]),
        _ if v == SourceVersion::V2 => json!(["cloud", "datetime"]),
        _ => json!(["cloud"]),
    };
    json!({
        "product": {"version": version, "name": name, "vendor_name": "AWS", "feature": {"name": feature}},
        "profiles": profiles,
        "version": v.ocsf_version(),
    })
}

fn class_fields(
    obj: &mut Value,
    v: SourceVersion,
    class_uid: i32,
    class_name: &str,
    cat_uid: i32,
    cat_name: &str,
    activity_id: i32,
    activity_name: &str,
    severity_id: i32,
) {
    let sev = ["Unknown", "Informational", "Low", "Medium", "High", "Critical", "Fatal"];
    let m = obj.as_object_mut().expect("event is an object");
    m.insert("class_uid".into(), json!(class_uid));
    m.insert("class_name".into(), json!(class_name));
    m.insert("category_uid".into(), json!(cat_uid));
    m.insert("category_name".into(), json!(cat_name));
    m.insert("activity_id".into(), json!(activity_id));
    m.insert("activity_name".into(), json!(activity_name));
    m.insert("type_uid".into(), json!(class_uid as i64 * 100 + activity_id as i64));
    m.insert("type_name".into(), json!(format!("{class_name}: {activity_name}")));
    m.insert("severity_id".into(), json!(severity_id));
    m.insert("severity".into(), json!(sev.get(severity_id as usize).copied().unwrap_or("Other")));
    let _ = v;
}

fn add_time(obj: &mut Value, v: SourceVersion, t: i64) {
    let m = obj.as_object_mut().expect("event is an object");
    m.insert("time".into(), json!(t));
    if v == SourceVersion::V2 {
        m.insert("time_dt".into(), json!(t));
    }
}

/// One CloudTrail management event.
#[allow(clippy::too_many_arguments)]
pub fn cloudtrail<R: Rng>(
    rng: &mut R,
    v: SourceVersion,
    t: i64,
    region: &str,
    account: &str,
    p: &Principal,
    api: &world::Api,
    ip: &str,
    error: Option<(&str, &str)>,
    bucket: Option<&str>,
) -> Value {
    let v1 = v == SourceVersion::V1;
    let user = if v1 {
        json!({"type": p.kind, "name": p.name, "uid": p.principal_id, "uuid": p.arn, "account_uid": account, "credential_uid": p.access_key})
    } else {
        json!({"type": p.kind, "name": p.name, "uid_alt": p.principal_id, "uid": p.arn, "account": {"uid": account}, "credential_uid": p.access_key})
    };
    let session = if v1 {
        json!({"created_time": t - 1_800_000, "mfa": p.human, "issuer": if p.human { Value::Null } else { json!(p.arn) }})
    } else {
        json!({"created_time_dt": t - 1_800_000, "is_mfa": p.human, "issuer": if p.human { Value::Null } else { json!(p.arn) }})
    };
    let mut unmapped = serde_json::Map::new();
    unmapped.insert("recipientAccountId".into(), json!(account));
    unmapped.insert("eventType".into(), json!("AwsApiCall"));
    unmapped.insert("managementEvent".into(), json!("true"));
    let mut resources = Value::Null;
    if let Some(b) = bucket {
        unmapped.insert("requestParameters.bucketName".into(), json!(b));
        unmapped.insert(
            "requestParameters.key".into(),
            json!(format!("data/{:06}.csv", rng.random_range(0..1_000_000))),
        );
        resources = if v1 {
            json!([{"uid": format!("arn:aws:s3:::{b}"), "account_uid": account, "type": "AWS::S3::Bucket"}])
        } else {
            json!([{"uid": format!("arn:aws:s3:::{b}"), "owner": {"account": {"uid": account}}, "type": "AWS::S3::Bucket"}])
        };
    }
    let status = if error.is_some() { "Failure" } else { "Success" };
    let mut e = json!({
        "metadata": {
            "product": {"version": "1.08", "name": "CloudTrail", "vendor_name": "AWS", "feature": {"name": "Management"}},
            "uid": uuid(rng),
            "profiles": ["cloud"],
            "version": v.ocsf_version(),
        },
        "cloud": {"region": region, "provider": "AWS"},
        "api": {
            "response": {"error": error.map(|e| e.0), "message": error.map(|e| e.1)},
            "operation": api.operation,
            "service": {"name": api.service},
            "request": {"uid": uuid(rng)},
        },
        "resources": resources,
        "actor": {"user": user, "session": session, "invoked_by": Value::Null, "idp": {"name": Value::Null}},
        "http_request": {"user_agent": p.user_agent},
        "src_endpoint": {"ip": ip},
        "status": status,
        "unmapped": unmapped,
    });
    if !v1 {
        e["metadata"]["event_code"] = json!("AwsApiCall");
        e["metadata"]["profiles"] = json!(["cloud", "datetime"]);
    } else {
        e["status_id"] = json!(if error.is_some() { 2 } else { 1 });
    }
    add_time(&mut e, v, t);
    let (class_uid, class_name, cat_uid, cat_name, act_name) = match api.class {
        ApiClass::Api => {
            let an = ["Unknown", "Create", "Read", "Update", "Delete"][api.activity_id as usize];
            if v1 {
                (3005, "API Activity", 3, "Audit Activity", an)
            } else {
                (6003, "API Activity", 6, "Application Activity", an)
            }
        }
        ApiClass::Auth => (
            3002,
            "Authentication",
            3,
            if v1 { "Audit Activity" } else { "Identity & Access Management" },
            "Logon",
        ),
        ApiClass::AccountChange => (
            3001,
            "Account Change",
            3,
            if v1 { "Audit Activity" } else { "Identity & Access Management" },
            if api.activity_id == 1 { "Create" } else { "Attach Policy" },
        ),
    };
    let activity_id = match api.class {
        ApiClass::AccountChange if api.activity_id != 1 => 7,
        _ => api.activity_id,
    };
    if api.class != ApiClass::Api {
        e["user"] = if v1 {
            json!({"uid": p.principal_id, "uuid": p.arn, "name": p.name})
        } else {
            json!({"uid": p.arn, "uid_alt": p.principal_id, "name": p.name})
        };
        e["dst_endpoint"] = json!({"svc_name": api.service});
        e[if v1 { "mfa" } else { "is_mfa" }] = json!(p.human);
    }
    class_fields(&mut e, v, class_uid, class_name, cat_uid, cat_name, activity_id, act_name, 1);
    if !v1 {
        e["observables"] = json!([{"name": "src_endpoint.ip", "value": ip, "type": "IP Address", "type_id": 2}]);
    }
    e
}

/// One VPC Flow record.
#[allow(clippy::too_many_arguments)]
pub fn vpc_flow(
    v: SourceVersion,
    t: i64,
    region: &str,
    account: &str,
    vpc: &str,
    src: (&str, u16, Option<&Host>),
    dst: (&str, u16, Option<&Host>),
    bytes: i64,
    packets: i64,
    accepted: bool,
    outbound: bool,
) -> Value {
    let v1 = v == SourceVersion::V1;
    let ep = |ip: &str, port: u16, h: Option<&Host>| match h {
        Some(h) => {
            json!({"port": port, "ip": ip, "interface_uid": h.eni, "vpc_uid": vpc, "instance_uid": h.instance, "subnet_uid": h.subnet})
        }
        None => json!({"port": port, "ip": ip}),
    };
    let cloud = if v1 {
        json!({"account_uid": account, "region": region, "zone": format!("{region}a"), "provider": "AWS"})
    } else {
        json!({"account": {"uid": account}, "region": region, "zone": format!("{region}a"), "provider": "AWS"})
    };
    let mut e = json!({
        "metadata": product(SourceKind::VpcFlow, v, "Amazon VPC", "Flowlogs", "5"),
        "cloud": cloud,
        "src_endpoint": ep(src.0, src.1, src.2),
        "dst_endpoint": ep(dst.0, dst.1, dst.2),
        "connection_info": {"protocol_num": 6, "tcp_flags": if accepted { 19 } else { 2 }, "protocol_ver": "IPv4",
            "direction": if outbound { "Outbound" } else { "Inbound" }, "direction_id": if outbound { 2 } else { 1 },
            "boundary": "-", "boundary_id": 99},
        "traffic": {"packets": packets, "bytes": bytes},
        "status_code": "OK",
        "disposition": if accepted { "Allowed" } else { "Blocked" },
    });
    add_time(&mut e, v, t);
    if v1 {
        e["start_time"] = json!(t);
        e["end_time"] = json!(t + 60_000);
        e["disposition_id"] = json!(if accepted { 1 } else { 2 });
    } else {
        e["start_time_dt"] = json!(t);
        e["end_time_dt"] = json!(t + 60_000);
        e["action"] = json!(if accepted { "Allowed" } else { "Denied" });
        e["action_id"] = json!(if accepted { 1 } else { 2 });
    }
    let (aid, an) = if accepted { (6, "Traffic") } else { (5, "Refuse") };
    class_fields(&mut e, v, 4001, "Network Activity", 4, "Network Activity", aid, an, 1);
    e
}

/// One Route 53 resolver query.
#[allow(clippy::too_many_arguments)]
pub fn route53(v: SourceVersion, t: i64, region: &str, account: &str, vpc: &str, h: &Host, hostname: &str, answer: Option<&str>) -> Value {
    let v1 = v == SourceVersion::V1;
    let cloud = if v1 {
        json!({"account_uid": account, "region": region, "provider": "AWS"})
    } else {
        json!({"account": {"uid": account}, "region": region, "provider": "AWS"})
    };
    let answers = match answer {
        Some(a) => json!([{"type": "A", "rdata": a, "class": "IN"}]),
        None => Value::Null,
    };
    let mut e = json!({
        "metadata": product(SourceKind::Route53, v, "Route 53", "Resolver Query Logs", "1.100000"),
        "cloud": cloud,
        "src_endpoint": {"vpc_uid": vpc, "ip": h.ip, "port": 40000 + (t % 20000) as i32, "instance_uid": h.instance},
        "query": {"hostname": hostname, "type": "A", "class": "IN"},
        "answers": answers,
        "connection_info": {"protocol_name": "UDP", "direction": "Unknown", "direction_id": 0},
        "rcode_id": if answer.is_some() { 0 } else { 3 },
        "rcode": if answer.is_some() { "NoError" } else { "NXDomain" },
        "disposition": "Unknown",
    });
    add_time(&mut e, v, t);
    if v1 {
        e["disposition_id"] = json!(0);
    } else {
        e["action"] = json!("Allowed");
        e["action_id"] = json!(1);
    }
    class_fields(&mut e, v, 4003, "DNS Activity", 4, "Network Activity", 2, "Response", 1);
    e
}

/// One Security Hub finding of `(product, feature, type)`.
#[allow(clippy::too_many_arguments)]
pub fn finding<R: Rng>(
    rng: &mut R,
    v: SourceVersion,
    t: i64,
    region: &str,
    account: &str,
    ft: (&str, &str, &str),
    resource: &str,
) -> Value {
    let (prod, feature, ftype) = ft;
    let uid = format!("arn:aws:securityhub:{region}:{account}:finding/{}", uuid(rng));
    let title = ftype.rsplit('/').next().unwrap_or(ftype).to_string();
    let sev = if ftype.contains("TTPs") || ftype.contains("Unusual") {
        4
    } else {
        3
    };
    let product_arn = format!(
        "arn:aws:securityhub:{region}::product/aws/{}",
        feature.to_lowercase().replace(' ', "-")
    );
    let mut e = if v == SourceVersion::V1 {
        json!({
            "metadata": {"product": {"version": "2018-10-08", "feature": {"uid": product_arn, "name": feature}, "uid": product_arn, "vendor_name": "AWS", "name": prod},
                         "profiles": ["cloud"], "version": v.ocsf_version()},
            "confidence": 80,
            "cloud": {"account_uid": account, "region": region, "provider": "AWS"},
            "resources": [{"type": "AwsEc2Instance", "uid": resource, "cloud_partition": "aws", "region": region}],
            "finding": {"created_time": t, "uid": uid, "desc": format!("{title} detected"), "title": title, "modified_time": t,
                        "first_seen_time": t, "last_seen_time": t, "types": [ftype]},
            "state_id": 1, "state": "New",
        })
    } else {
        let mut e = json!({
            "metadata": {"product": {"version": "2018-10-08", "feature": {"uid": product_arn, "name": feature}, "uid": product_arn, "vendor_name": "AWS", "name": prod},
                         "profiles": ["cloud", "datetime"], "version": v.ocsf_version(), "log_version": "2018-10-08", "processed_time_dt": t},
            "confidence_score": 80,
            "cloud": {"account": {"uid": account}, "region": region, "provider": "AWS"},
            "finding_info": {"created_time_dt": t, "uid": uid, "desc": format!("{title} detected"), "title": title, "modified_time_dt": t,
                             "first_seen_time_dt": t, "last_seen_time_dt": t, "types": [ftype]},
            "message": format!("{title} detected"),
            "status": "New",
        });
        if prod == "GuardDuty" || prod == "Macie" {
            e["resources"] = json!([{"type": "AwsEc2Instance", "uid": resource, "cloud_partition": "aws", "region": region, "owner": {"account": {"uid": account}}}]);
        } else {
            e["resource"] = json!({"type": "AwsEc2Instance", "uid": resource, "cloud_partition": "aws", "region": region});
        }
        e
    };
    add_time(&mut e, v, t);
    let (class_uid, class_name) = match (v, prod) {
        (SourceVersion::V1, _) => (2001, "Security Finding"),
        (_, "GuardDuty" | "Macie") => (2004, "Detection Finding"),
        (_, "Inspector") => (2002, "Vulnerability Finding"),
        _ => (2003, "Compliance Finding"),
    };
    class_fields(&mut e, v, class_uid, class_name, 2, "Findings", 1, "Create", sev);
    e
}

/// One identity-provider Authentication (3002, OCSF 1.1.0) event.
pub fn idp_auth<R: Rng>(rng: &mut R, t: i64, user: &str, ip: &str, country: &str, ok: bool, mfa: bool) -> Value {
    let mut e = json!({
        "metadata": {"product": {"version": "2024.01", "name": "Okta", "vendor_name": "Okta"}, "uid": uuid(rng), "profiles": ["datetime"], "version": "1.1.0"},
        "cloud": {"provider": "Okta", "region": Value::Null, "account": {"uid": "external"}},
        "user": {"uid": format!("00u{}", &user.len().to_string()), "name": user, "email_addr": user, "type_id": 1},
        "src_endpoint": {"ip": ip, "location": {"country": country, "city": Value::Null}},
        "http_request": {"user_agent": "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 Safari/605.1.15"},
        "service": {"name": "Okta Dashboard", "uid": "0oa1dashboard"},
        "auth_protocol": "SAML", "auth_protocol_id": 5,
        "is_mfa": mfa,
        "status": if ok { "Success" } else { "Failure" },
        "status_id": if ok { 1 } else { 2 },
        "status_detail": if ok { Value::Null } else { json!("INVALID_CREDENTIALS") },
    });
    add_time(&mut e, SourceVersion::V2, t);
    class_fields(
        &mut e,
        SourceVersion::V2,
        3002,
        "Authentication",
        3,
        "Identity & Access Management",
        1,
        "Logon",
        if ok { 1 } else { 3 },
    );
    e
}

/// The background events of one task.
pub fn background(ctx: &GenCtx<'_>, t: &Task, rng: &mut ChaCha8Rng, n: usize, day_ms: i64, region: &str) -> Vec<Ev> {
    let w = ctx.world;
    let v = t.version;
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
                out.push((time, cloudtrail(rng, v, time, region, &acct.id, p, api, ip, err, bucket)));
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
                        v,
                        time,
                        region,
                        &acct.id,
                        &acct.vpc,
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
                        v,
                        time,
                        region,
                        &acct.id,
                        &acct.vpc,
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
                        v,
                        time,
                        region,
                        &acct.id,
                        &acct.vpc,
                        (&s, 40000 + rng.random_range(0..20000), None),
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
                out.push((
                    time,
                    route53(v, time, region, &acct.id, &acct.vpc, h, d, ok.then_some(ans.as_str())),
                ));
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
                    out.push((time, finding(rng, v, time, region, &acct.id, (prod, feature, ftype), &h.instance)));
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
                out.push((time, idp_auth(rng, time, &idp_user(&p.name), ip, "US", ok, ok)));
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
pub fn inject(ctx: &GenCtx<'_>, t: &Task, rng: &mut ChaCha8Rng, day_ms: i64, region: &str, out: &mut Vec<Ev>) {
    let w = ctx.world;
    let v = t.version;
    let day_end = day_ms + DAY_MS;
    let days = ctx.cfg.days as i64;
    for s in &ctx.plan.scenarios {
        let acct_ok = t.kind == SourceKind::ExtAuthentication || w.accounts[t.account].id == s.account;
        if s.source != t.kind || !acct_ok || s.region != region {
            continue;
        }
        if s.strength.is_some() {
            inject_dial(ctx, t, rng, day_ms, region, s, out);
            continue;
        }
        let acct = &w.accounts[t.account];
        match s.kind {
            ScenarioKind::S3BulkDownload if s.window_start_ms >= day_ms && s.window_start_ms < day_end => {
                let p = acct
                    .principals
                    .iter()
                    .find(|p| Some(&p.arn) == s.entities.get("principal"))
                    .expect("planned principal");
                let api = APIS.iter().find(|a| a.operation == "GetObject").expect("GetObject api");
                let n = (400.0 * ctx.legacy_scale()) as usize;
                let bucket = format!("{}-finance-exports", acct.id);
                for _ in 0..n {
                    let time = rng.random_range(s.window_start_ms..s.window_end_ms);
                    out.push((
                        time,
                        cloudtrail(rng, v, time, region, &acct.id, p, api, &p.ips[0], None, Some(&bucket)),
                    ));
                }
            }
            ScenarioKind::NewIpCredentialUse if s.window_start_ms >= day_ms && s.window_start_ms < day_end => {
                let p = acct
                    .principals
                    .iter()
                    .find(|p| Some(&p.arn) == s.entities.get("principal"))
                    .expect("planned principal");
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
                    let bucket = api.service.starts_with("s3").then(|| format!("{}-app-data", acct.id));
                    out.push((
                        time,
                        cloudtrail(rng, v, time, region, &acct.id, p, api, &ip, None, bucket.as_deref()),
                    ));
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
                    out.push((time, finding(rng, v, time, region, &acct.id, (prod, feat, ftype), &h.instance)));
                }
            }
            ScenarioKind::BruteForce if s.window_start_ms >= day_ms && s.window_start_ms < day_end => {
                let user = s.entities.get("user").cloned().unwrap_or_default();
                let ip = s.entities.get("ip").cloned().unwrap_or_default();
                let n = (300.0 * ctx.legacy_scale().sqrt()) as usize;
                for _ in 0..n {
                    let time = rng.random_range(s.window_start_ms..s.window_end_ms);
                    out.push((time, idp_auth(rng, time, &user, &ip, "RU", false, false)));
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
                            v,
                            time,
                            region,
                            &acct.id,
                            &acct.vpc,
                            (&h.ip, 49152 + rng.random_range(0..16000), Some(h)),
                            (&dst, 443, None),
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
                            v,
                            time,
                            region,
                            &acct.id,
                            &acct.vpc,
                            (&h.ip, 51000, Some(h)),
                            (&dst, 443, None),
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
                                v,
                                time,
                                region,
                                &acct.id,
                                &acct.vpc,
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
                    out.push((
                        time,
                        route53(v, time, region, &acct.id, &acct.vpc, h, &hostname, ok.then_some("185.100.87.3")),
                    ));
                }
            }
            _ => {}
        }
    }
}

/// Append the events of one `--scenarios` instance that fall into this task (its sizes were fixed
/// by [`super::scenarios::plan_dial`]).
fn inject_dial(ctx: &GenCtx<'_>, t: &Task, rng: &mut ChaCha8Rng, day_ms: i64, region: &str, s: &Scenario, out: &mut Vec<Ev>) {
    let w = ctx.world;
    let v = t.version;
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
            let pi = acct
                .principals
                .iter()
                .position(|p| Some(&p.arn) == s.entities.get("principal"))
                .expect("planned principal");
            let p = &acct.principals[pi];
            let api = APIS.iter().find(|a| a.operation == "GetObject").expect("GetObject api");
            let bucket = format!("{}-app-data", acct.id);
            let ip = ctx.principal_ip(t.account, pi, day, rng);
            for _ in 0..k as usize {
                let time = rng.random_range(s.window_start_ms..s.window_end_ms);
                out.push((time, cloudtrail(rng, v, time, region, &acct.id, p, api, &ip, None, Some(&bucket))));
            }
        }
        ScenarioKind::NewIpCredentialUse if starts_today => {
            let p = acct
                .principals
                .iter()
                .find(|p| Some(&p.arn) == s.entities.get("principal"))
                .expect("planned principal");
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
                let bucket = api.service.starts_with("s3").then(|| format!("{}-app-data", acct.id));
                out.push((
                    time,
                    cloudtrail(rng, v, time, region, &acct.id, p, api, &ip, None, bucket.as_deref()),
                ));
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
                out.push((time, finding(rng, v, time, region, &acct.id, (prod, feat, ftype), &h.instance)));
            }
        }
        ScenarioKind::BruteForce if starts_today => {
            let (user, ip) = (ent("user_name"), ent("src_ip"));
            for _ in 0..k as usize {
                let time = rng.random_range(s.window_start_ms..s.window_end_ms);
                out.push((time, idp_auth(rng, time, &user, &ip, "RU", false, false)));
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
                        v,
                        time,
                        region,
                        &acct.id,
                        &acct.vpc,
                        (&h.ip, 51000, Some(h)),
                        (&dst, 443, None),
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
                let jitter = (rng.random::<f64>() - 0.5) * 0.06 * period;
                let at = (time + jitter).clamp(day_ms as f64, (day_end - 1) as f64) as i64;
                let bytes = 1800 + rng.random_range(0..200);
                out.push((
                    at,
                    vpc_flow(
                        v,
                        at,
                        region,
                        &acct.id,
                        &acct.vpc,
                        (&h.ip, 49152 + rng.random_range(0..16000), Some(h)),
                        (&dst, 443, None),
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
                            v,
                            time,
                            region,
                            &acct.id,
                            &acct.vpc,
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
                out.push((
                    time,
                    route53(v, time, region, &acct.id, &acct.vpc, h, &hostname, ok.then_some("185.100.87.3")),
                ));
            }
        }
        _ => {}
    }
}
