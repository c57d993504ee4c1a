//! OCSF table shapes as Security Lake stores them, written as Hive/Glue type strings.
//!
//! Why type strings: they are what the Glue tables show (`../shared/data/security-lake-v2-table-schemas`),
//! they are short enough to review against the reference column by column, and the same text
//! renders Athena DDL. [`parse_type`] turns one into an Arrow [`DataType`].
//!
//! Only the columns lakesight and its generator use are listed; real files may carry more, and the
//! catalog merges whatever the files hold (see [`crate::lake::schema::merge_schemas`]).

use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Fields, Schema, TimeUnit};

use super::LakeError;

/// A native or custom Security Lake source family, as named in the S3 key (`aws/<SOURCE>/…`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub enum SourceKind {
    /// CloudTrail management events (API Activity, Authentication, Account Change in one table).
    CloudTrailMgmt,
    /// VPC Flow Logs (Network Activity 4001).
    VpcFlow,
    /// Route 53 resolver query logs (DNS Activity 4003).
    Route53,
    /// Security Hub findings (2001 in v1; 2002/2003/2004 in v2).
    ShFindings,
    /// A third-party identity provider's Authentication (3002) events, as a custom source under `ext/`.
    ExtAuthentication,
}

impl SourceKind {
    /// Every kind the generator writes, in a fixed order.
    pub const ALL: [SourceKind; 5] = [
        SourceKind::CloudTrailMgmt,
        SourceKind::VpcFlow,
        SourceKind::Route53,
        SourceKind::ShFindings,
        SourceKind::ExtAuthentication,
    ];

    /// The `SOURCE_NAME` of the S3 key (for `ext/` sources, the generator's default custom-source name).
    pub fn key_name(self) -> &'static str {
        match self {
            SourceKind::CloudTrailMgmt => "CLOUD_TRAIL_MGMT",
            SourceKind::VpcFlow => "VPC_FLOW",
            SourceKind::Route53 => "ROUTE53",
            SourceKind::ShFindings => "SH_FINDINGS",
            SourceKind::ExtAuthentication => "idp_auth",
        }
    }

    /// Glue table infix: `cloud_trail_mgmt`, `vpc_flow`, …
    pub fn table_infix(self) -> &'static str {
        match self {
            SourceKind::CloudTrailMgmt => "cloud_trail_mgmt",
            SourceKind::VpcFlow => "vpc_flow",
            SourceKind::Route53 => "route53",
            SourceKind::ShFindings => "sh_findings",
            SourceKind::ExtAuthentication => "ext_idp_auth",
        }
    }

    /// Recognise a native `SOURCE_NAME` from a key. Custom sources are handled by the catalog.
    pub fn from_key_name(s: &str) -> Option<SourceKind> {
        Some(match s {
            "CLOUD_TRAIL_MGMT" => SourceKind::CloudTrailMgmt,
            "VPC_FLOW" => SourceKind::VpcFlow,
            "ROUTE53" => SourceKind::Route53,
            "SH_FINDINGS" => SourceKind::ShFindings,
            _ => return None,
        })
    }
}

/// Security Lake source version: 1 = OCSF 1.0.0-rc.2, 2 = OCSF 1.1.0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub enum SourceVersion {
    /// `1.0` in the key; OCSF 1.0.0-rc.2; epoch-ms times; partition filter `eventday`.
    V1,
    /// `2.0` in the key; OCSF 1.1.0; `time_dt` timestamps; Iceberg in a real lake.
    V2,
}

impl SourceVersion {
    /// The `<major.minor>` path segment.
    pub fn key_segment(self) -> &'static str {
        match self {
            SourceVersion::V1 => "1.0",
            SourceVersion::V2 => "2.0",
        }
    }
    /// The `_<x>_<y>` Glue table suffix.
    pub fn table_suffix(self) -> &'static str {
        match self {
            SourceVersion::V1 => "1_0",
            SourceVersion::V2 => "2_0",
        }
    }
    /// The `metadata.version` written in events.
    pub fn ocsf_version(self) -> &'static str {
        match self {
            SourceVersion::V1 => "1.0.0-rc.2",
            SourceVersion::V2 => "1.1.0",
        }
    }
    /// Parse the key segment; `None` for an unknown version (the catalog skips and counts it).
    pub fn from_key_segment(s: &str) -> Option<SourceVersion> {
        match s {
            "1.0" => Some(SourceVersion::V1),
            "2.0" => Some(SourceVersion::V2),
            _ => None,
        }
    }
}

const META_V1: &str = "struct<product:struct<version:string,name:string,vendor_name:string,feature:struct<name:string>>,uid:string,profiles:array<string>,version:string>";
const META_V2: &str = "struct<product:struct<version:string,name:string,vendor_name:string,feature:struct<name:string>>,event_code:string,uid:string,profiles:array<string>,version:string>";
const UNMAPPED: &str = "map<string,string>";
const OBSERVABLES: &str = "array<struct<name:string,value:string,type:string,type_id:int>>";

/// Security Hub v1's `vulnerabilities`, as Security Lake's v1 files carry it (one CVSS score).
const VULNERABILITIES_V1: &str = "array<struct<cve:struct<cvss:struct<base_score:float,vector_string:string,version:string>,uid:string,created_time:bigint,modified_time:bigint>,references:array<string>,related_vulnerabilities:array<string>,vendor_name:string,kb_articles:array<string>,packages:array<struct<architecture:string,name:string,epoch:int,release:string,version:string>>>>";

/// Security Hub v2's `vulnerabilities` (Inspector findings), as the Glue table declares it.
const VULNERABILITIES: &str = "array<struct<remediation:struct<desc:string,references:array<string>>,cve:struct<cvss:array<struct<base_score:decimal(3,1),vector_string:string,version:string>>,uid:string,epss:struct<score:string>,references:array<string>,created_time_dt:timestamp,modified_time_dt:timestamp>,references:array<string>,related_vulnerabilities:array<string>,vendor_name:string,affected_packages:array<struct<architecture:string,epoch:int,path:string,fixed_in_version:string,name:string,package_manager:string,release:string,remediation:struct<desc:string>,version:string>>,cwe:struct<uid:string>,affected_code:array<struct<end_line:int,file:struct<name:string,path:string,uid:string,type_id:int>,start_line:int>>,is_fix_available:boolean,is_exploit_available:boolean>>";

/// Security Hub v2's `evidences` (GuardDuty findings' actors, processes, connections).
const EVIDENCES: &str = "array<struct<data:string,actor:struct<process:struct<created_time_dt:timestamp,name:string,pid:int,uid:string,user:struct<name:string,uid:string>,cmd_line:string,parent_process:struct<uid:string>,file:struct<path:string,name:string,type_id:int,hashes:array<struct<value:string,algorithm_id:int,algorithm:string>>>,euid:int>,api:struct<operation:string,response:struct<error:string,code:int>,service:struct<name:string>>,src_endpoint:struct<ip:string,location:struct<country:string,city:string,coordinates:array<decimal(9,6)>>,port:int>,connection_info:struct<protocol_name:string,direction_id:int,direction:string>,dst_endpoint:struct<ip:string,port:int,location:struct<city:string,country:string,coordinates:array<decimal(9,6)>>>,query:struct<hostname:string>>>>";

/// Columns (name, Glue type) of one source at one version, in file order.
pub fn columns(kind: SourceKind, version: SourceVersion) -> Vec<(&'static str, &'static str)> {
    use SourceKind::*;
    use SourceVersion::*;
    let mut cols: Vec<(&'static str, &'static str)> = match (kind, version) {
        (CloudTrailMgmt, V1) => vec![
            ("metadata", META_V1),
            ("time", "bigint"),
            ("cloud", "struct<region:string,provider:string>"),
            ("api", "struct<response:struct<error:string,message:string>,operation:string,version:string,service:struct<name:string>,request:struct<uid:string>>"),
            ("resources", "array<struct<uid:string,account_uid:string,type:string>>"),
            ("actor", "struct<user:struct<type:string,name:string,uid:string,uuid:string,account_uid:string,credential_uid:string>,session:struct<created_time:bigint,mfa:boolean,issuer:string>,invoked_by:string,idp:struct<name:string>>"),
            ("http_request", "struct<user_agent:string>"),
            ("src_endpoint", "struct<uid:string,ip:string,domain:string>"),
            ("dst_endpoint", "struct<svc_name:string>"),
            ("user", "struct<uid:string,uuid:string,name:string>"),
            ("class_name", "string"),
            ("class_uid", "int"),
            ("category_name", "string"),
            ("category_uid", "int"),
            ("severity_id", "int"),
            ("severity", "string"),
            ("status", "string"),
            ("status_id", "int"),
            ("activity_name", "string"),
            ("activity_id", "int"),
            ("type_uid", "int"),
            ("type_name", "string"),
            ("mfa", "boolean"),
            ("unmapped", UNMAPPED),
        ],
        (CloudTrailMgmt, V2) => vec![
            ("metadata", META_V2),
            ("time", "bigint"),
            ("time_dt", "timestamp"),
            ("cloud", "struct<region:string,provider:string>"),
            ("api", "struct<response:struct<error:string,message:string,data:string>,operation:string,version:string,service:struct<name:string>,request:struct<data:string,uid:string>>"),
            ("policy", "struct<uid:string>"),
            ("session", "struct<uid:string,uid_alt:string,credential_uid:string,issuer:string>"),
            ("resources", "array<struct<uid:string,owner:struct<account:struct<uid:string>>,type:string>>"),
            ("actor", "struct<user:struct<type:string,name:string,uid_alt:string,uid:string,account:struct<uid:string>,credential_uid:string>,session:struct<created_time_dt:timestamp,is_mfa:boolean,issuer:string>,invoked_by:string,idp:struct<name:string>>"),
            ("http_request", "struct<user_agent:string>"),
            ("src_endpoint", "struct<uid:string,ip:string,domain:string>"),
            ("dst_endpoint", "struct<svc_name:string>"),
            ("user", "struct<uid:string,uid_alt:string,name:string>"),
            ("class_name", "string"),
            ("class_uid", "int"),
            ("category_name", "string"),
            ("category_uid", "int"),
            ("severity_id", "int"),
            ("severity", "string"),
            ("status", "string"),
            ("activity_name", "string"),
            ("activity_id", "int"),
            ("type_uid", "bigint"),
            ("type_name", "string"),
            ("is_mfa", "boolean"),
            ("unmapped", UNMAPPED),
        ],
        (VpcFlow, v) => {
            let cloud = if v == V1 {
                "struct<account_uid:string,region:string,zone:string,provider:string>"
            } else {
                "struct<account:struct<uid:string>,region:string,zone:string,provider:string>"
            };
            let ep = "struct<port:int,svc_name:string,ip:string,intermediate_ips:array<string>,interface_uid:string,vpc_uid:string,instance_uid:string,subnet_uid:string>";
            let mut c = vec![
                ("metadata", if v == V1 { META_V1 } else { META_V2 }),
                ("cloud", cloud),
                ("src_endpoint", ep),
                ("dst_endpoint", ep),
                ("connection_info", "struct<protocol_num:int,tcp_flags:int,protocol_ver:string,boundary_id:int,boundary:string,direction_id:int,direction:string>"),
                ("traffic", "struct<packets:bigint,bytes:bigint>"),
                ("time", "bigint"),
            ];
            if v == V1 {
                c.extend([("start_time", "bigint"), ("end_time", "bigint")]);
            } else {
                c.extend([("time_dt", "timestamp"), ("start_time_dt", "timestamp"), ("end_time_dt", "timestamp")]);
            }
            c.extend([
                ("status_code", "string"),
                ("severity_id", "int"),
                ("severity", "string"),
                ("class_name", "string"),
                ("class_uid", "int"),
                ("category_name", "string"),
                ("category_uid", "int"),
                ("activity_name", "string"),
                ("activity_id", "int"),
                ("disposition", "string"),
            ]);
            if v == V1 {
                c.extend([("disposition_id", "int"), ("type_uid", "int")]);
            } else {
                c.extend([("action", "string"), ("action_id", "int"), ("type_uid", "bigint")]);
            }
            c.extend([("type_name", "string"), ("unmapped", UNMAPPED)]);
            c
        }
        (Route53, v) => {
            let mut c = vec![
                ("metadata", if v == V1 { META_V1 } else { META_V2 }),
                (
                    "cloud",
                    if v == V1 {
                        "struct<account_uid:string,region:string,provider:string>"
                    } else {
                        "struct<account:struct<uid:string>,region:string,provider:string>"
                    },
                ),
                ("src_endpoint", "struct<vpc_uid:string,ip:string,port:int,instance_uid:string>"),
                ("time", "bigint"),
            ];
            if v == V2 {
                c.push(("time_dt", "timestamp"));
            }
            c.extend([
                ("query", "struct<hostname:string,type:string,class:string>"),
                ("answers", "array<struct<type:string,rdata:string,class:string>>"),
                ("connection_info", "struct<protocol_name:string,direction:string,direction_id:int>"),
                ("dst_endpoint", "struct<instance_uid:string,interface_uid:string>"),
                ("severity_id", "int"),
                ("severity", "string"),
                ("class_name", "string"),
                ("class_uid", "int"),
                ("category_name", "string"),
                ("category_uid", "int"),
                ("rcode_id", "int"),
                ("rcode", "string"),
                ("activity_id", "int"),
                ("activity_name", "string"),
                ("type_name", "string"),
                ("type_uid", if v == V1 { "int" } else { "bigint" }),
                ("disposition", "string"),
            ]);
            if v == V1 {
                c.push(("disposition_id", "int"));
            } else {
                c.extend([("action", "string"), ("action_id", "int"), ("firewall_rule", "struct<uid:string>")]);
            }
            c.push(("unmapped", UNMAPPED));
            c
        }
        (ShFindings, V1) => vec![
            ("metadata", "struct<product:struct<version:string,feature:struct<uid:string,name:string>,uid:string,vendor_name:string,name:string>,profiles:array<string>,version:string>"),
            ("time", "bigint"),
            ("confidence", "int"),
            ("cloud", "struct<account_uid:string,region:string,provider:string>"),
            ("resources", "array<struct<type:string,uid:string,cloud_partition:string,region:string,labels:array<string>,details:string,criticality:string>>"),
            ("finding", "struct<created_time:bigint,uid:string,desc:string,title:string,modified_time:bigint,first_seen_time:bigint,last_seen_time:bigint,related_events:array<struct<product_uid:string,uid:string>>,types:array<string>,remediation:struct<desc:string,kb_articles:array<string>>,src_url:string>"),
            // As Security Lake's v1 files carry them (`../shared/data/…/1.0.0-rc.2/SH_FINDINGS`):
            // AWS's published v1 queries read `vulnerabilities` and `compliance.status`.
            ("compliance", "struct<status:string,requirements:array<string>,status_detail:string>"),
            ("malware", "array<struct<name:string,path:string,classification_ids:array<int>,classifications:array<string>>>"),
            ("process", "struct<name:string,pid:int,file:struct<path:string,type_id:int,name:string>,parent_process:struct<pid:int>,created_time:bigint,terminated_time:bigint>"),
            ("vulnerabilities", VULNERABILITIES_V1),
            ("class_name", "string"),
            ("class_uid", "int"),
            ("category_name", "string"),
            ("category_uid", "int"),
            ("severity_id", "int"),
            ("severity", "string"),
            ("activity_name", "string"),
            ("activity_id", "int"),
            ("type_uid", "int"),
            ("type_name", "string"),
            ("state_id", "int"),
            ("state", "string"),
            ("unmapped", UNMAPPED),
        ],
        (ShFindings, V2) => vec![
            ("metadata", "struct<product:struct<version:string,feature:struct<uid:string,name:string>,uid:string,vendor_name:string,name:string>,profiles:array<string>,version:string,log_version:string,processed_time_dt:timestamp,extensions:array<struct<name:string,uid:string,version:string>>>"),
            ("time", "bigint"),
            ("time_dt", "timestamp"),
            ("confidence_score", "int"),
            ("cloud", "struct<account:struct<uid:string>,region:string,provider:string>"),
            ("resources", "array<struct<type:string,uid:string,cloud_partition:string,region:string,labels:array<string>,data:string,criticality:string,owner:struct<account:struct<uid:string>>>>"),
            ("resource", "struct<type:string,uid:string,cloud_partition:string,region:string,labels:array<string>,data:string,criticality:string>"),
            ("finding_info", "struct<created_time_dt:timestamp,uid:string,desc:string,title:string,modified_time_dt:timestamp,first_seen_time_dt:timestamp,last_seen_time_dt:timestamp,related_events:array<struct<product_uid:string,uid:string>>,types:array<string>,src_url:string>"),
            ("remediation", "struct<desc:string,references:array<string>>"),
            ("compliance", "struct<standards:array<string>,requirements:array<string>,control:string,status:string,status_detail:string,status_code:string>"),
            ("vulnerabilities", VULNERABILITIES),
            ("evidences", EVIDENCES),
            ("message", "string"),
            ("class_name", "string"),
            ("class_uid", "int"),
            ("category_name", "string"),
            ("category_uid", "int"),
            ("severity_id", "int"),
            ("severity", "string"),
            ("activity_name", "string"),
            ("activity_id", "int"),
            ("type_uid", "bigint"),
            ("type_name", "string"),
            ("status", "string"),
            ("unmapped", UNMAPPED),
        ],
        (ExtAuthentication, _) => vec![
            ("metadata", "struct<product:struct<version:string,name:string,vendor_name:string>,uid:string,profiles:array<string>,version:string>"),
            ("time", "bigint"),
            ("time_dt", "timestamp"),
            ("cloud", "struct<provider:string,region:string,account:struct<uid:string>>"),
            ("user", "struct<uid:string,name:string,email_addr:string,type_id:int>"),
            ("src_endpoint", "struct<ip:string,location:struct<country:string,city:string>>"),
            ("http_request", "struct<user_agent:string>"),
            ("service", "struct<name:string,uid:string>"),
            ("auth_protocol", "string"),
            ("auth_protocol_id", "int"),
            ("is_mfa", "boolean"),
            ("status", "string"),
            ("status_id", "int"),
            ("status_detail", "string"),
            ("class_name", "string"),
            ("class_uid", "int"),
            ("category_name", "string"),
            ("category_uid", "int"),
            ("severity_id", "int"),
            ("severity", "string"),
            ("activity_name", "string"),
            ("activity_id", "int"),
            ("type_uid", "bigint"),
            ("type_name", "string"),
            ("unmapped", UNMAPPED),
        ],
    };
    if version == V2 && kind != ExtAuthentication {
        cols.extend([
            ("accountid", "string"),
            ("region", "string"),
            ("asl_version", "string"),
            ("observables", OBSERVABLES),
        ]);
    }
    cols
}

/// The Arrow schema of one source at one version.
pub fn arrow_schema(kind: SourceKind, version: SourceVersion) -> Result<Schema, LakeError> {
    let fields = columns(kind, version)
        .into_iter()
        .map(|(n, t)| Ok(Field::new(n, parse_type(t)?, true)))
        .collect::<Result<Vec<_>, LakeError>>()?;
    Ok(Schema::new(fields))
}

/// Parse a Glue/Hive type string (`struct<a:string,b:array<int>>`, `map<string,string>`, `bigint`,
/// `timestamp` …) into an Arrow type. Lists use the element name `element` (Arrow's Parquet writer
/// then writes the standard 3-level form; the reader also accepts Security Lake's 2-level `array`).
pub fn parse_type(s: &str) -> Result<DataType, LakeError> {
    let mut p = TypeParser {
        s: s.as_bytes(),
        i: 0,
        src: s,
    };
    let t = p.parse()?;
    if p.i != p.s.len() {
        return Err(p.err("trailing characters"));
    }
    Ok(t)
}

struct TypeParser<'a> {
    s: &'a [u8],
    i: usize,
    src: &'a str,
}

impl TypeParser<'_> {
    fn err(&self, what: &str) -> LakeError {
        LakeError::Schema(format!("bad type string {:?} at {}: {what}", self.src, self.i))
    }
    fn ident(&mut self) -> &str {
        let start = self.i;
        while self.i < self.s.len() && (self.s[self.i].is_ascii_alphanumeric() || self.s[self.i] == b'_') {
            self.i += 1;
        }
        std::str::from_utf8(&self.s[start..self.i]).unwrap_or("")
    }
    fn expect(&mut self, c: u8) -> Result<(), LakeError> {
        if self.s.get(self.i) == Some(&c) {
            self.i += 1;
            Ok(())
        } else {
            Err(self.err(&format!("expected '{}'", c as char)))
        }
    }
    fn parse(&mut self) -> Result<DataType, LakeError> {
        let name = self.ident().to_ascii_lowercase();
        Ok(match name.as_str() {
            "string" | "varchar" => DataType::Utf8,
            "int" | "integer" => DataType::Int32,
            "bigint" => DataType::Int64,
            "boolean" => DataType::Boolean,
            "float" => DataType::Float32,
            "double" => DataType::Float64,
            "timestamp" => DataType::Timestamp(TimeUnit::Millisecond, Some(Arc::from("UTC"))),
            "decimal" => {
                // decimal(p,s), as Glue writes CVSS scores (3,1) and coordinates (9,6).
                self.expect(b'(')?;
                let p: u8 = self.ident().parse().map_err(|_| self.err("expected a precision"))?;
                self.expect(b',')?;
                let sc: i8 = self.ident().parse().map_err(|_| self.err("expected a scale"))?;
                self.expect(b')')?;
                if !(1..=38).contains(&p) || sc < 0 || sc as u8 > p {
                    return Err(self.err("decimal precision must be 1..=38 and the scale within it"));
                }
                DataType::Decimal128(p, sc)
            }
            "array" => {
                self.expect(b'<')?;
                let inner = self.parse()?;
                self.expect(b'>')?;
                DataType::List(Arc::new(Field::new("element", inner, true)))
            }
            "map" => {
                self.expect(b'<')?;
                let k = self.parse()?;
                self.expect(b',')?;
                let v = self.parse()?;
                self.expect(b'>')?;
                let entries = Field::new(
                    "key_value",
                    DataType::Struct(Fields::from(vec![Field::new("key", k, false), Field::new("value", v, true)])),
                    false,
                );
                DataType::Map(Arc::new(entries), false)
            }
            "struct" => {
                self.expect(b'<')?;
                let mut fields = Vec::new();
                loop {
                    let n = self.ident().to_string();
                    if n.is_empty() {
                        return Err(self.err("expected a field name"));
                    }
                    self.expect(b':')?;
                    let t = self.parse()?;
                    fields.push(Field::new(n, t, true));
                    if self.s.get(self.i) == Some(&b',') {
                        self.i += 1;
                    } else {
                        break;
                    }
                }
                self.expect(b'>')?;
                DataType::Struct(Fields::from(fields))
            }
            _ => return Err(self.err(&format!("unknown type {name:?}"))),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_source_schema_parses() {
        for k in SourceKind::ALL {
            for v in [SourceVersion::V1, SourceVersion::V2] {
                let s = arrow_schema(k, v).unwrap();
                assert!(s.field_with_name("time").is_ok(), "{k:?} {v:?}");
            }
        }
    }

    #[test]
    fn bad_type_is_an_error_not_a_panic() {
        assert!(parse_type("struct<a:strin>").is_err());
        assert!(parse_type("array<int").is_err());
        assert!(parse_type("map<string,string>x").is_err());
        for bad in ["decimal(40,1)", "decimal(3,4)", "decimal(3)", "decimal(a,1)", "decimal3,1)"] {
            assert!(parse_type(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_type("decimal(3,1)").unwrap(), DataType::Decimal128(3, 1));
    }
}
