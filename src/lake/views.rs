//! Normalised views: one per source family, hiding the v1/v2 differences.
//!
//! Every later stage reads `lakesight.api_activity`, `lakesight.network_activity`,
//! `lakesight.dns_activity`, `lakesight.findings` and `lakesight.authentication` and never cares
//! which source version a row came from. Each view is a `UNION ALL` over the family's tables, and
//! each column is picked from a list of candidate paths (v1 name, v2 name): the first path the
//! table's merged schema has wins, else the column is a typed NULL. So a table whose files lack a
//! column still fits, and renames (`actor.user.uuid` → `actor.user.uid`, `cloud.account_uid` →
//! `cloud.account.uid`, `finding` → `finding_info`, `disposition_id` → `action_id`, ms → timestamp,
//! API Activity 3005 → 6003) are written down once, here.
//!
//! The SQL dialect differences (epoch-ms conversion, first array element) are in [`Dialect`]; the
//! same mapping renders DataFusion SQL now and Athena SQL when views are created there.

use arrow::datatypes::{DataType, Schema};

use super::catalog::LakeTable;
use super::ocsf::SourceKind;

/// SQL dialect for the few places where DataFusion and Athena (Trino) differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// Apache DataFusion.
    DataFusion,
    /// Amazon Athena (Trino).
    Athena,
    /// DuckDB (used only by the side-by-side benchmark scripts).
    DuckDb,
}

impl Dialect {
    /// Epoch milliseconds → UTC timestamp.
    pub fn ts_from_ms(self, e: &str) -> String {
        match self {
            Dialect::DataFusion => format!("to_timestamp_millis({e})"),
            Dialect::Athena => format!("from_unixtime(CAST({e} AS double) / 1000.0)"),
            Dialect::DuckDb => format!("epoch_ms({e})"),
        }
    }
    /// Timestamp → epoch milliseconds.
    pub fn ms_from_ts(self, e: &str) -> String {
        match self {
            Dialect::DataFusion | Dialect::Athena => format!("CAST(to_unixtime({e}) * 1000 AS BIGINT)"),
            Dialect::DuckDb => format!("epoch_ms({e})"),
        }
    }
    /// Field of the first element of an array of structs.
    pub fn first_field(self, array: &str, field: &str) -> String {
        match self {
            Dialect::DataFusion => format!("get_field(array_element({array}, 1), '{field}')"),
            Dialect::Athena => format!("element_at({array}, 1).{field}"),
            Dialect::DuckDb => format!("({array})[1].{field}"),
        }
    }
    /// First element of an array.
    pub fn first(self, array: &str) -> String {
        match self {
            Dialect::DataFusion => format!("array_element({array}, 1)"),
            Dialect::Athena => format!("element_at({array}, 1)"),
            Dialect::DuckDb => format!("({array})[1]"),
        }
    }
    /// Value of a key in a map (NULL when absent).
    pub fn map_get(self, map: &str, key: &str) -> String {
        match self {
            Dialect::DataFusion => format!("array_element(map_extract({map}, '{key}'), 1)"),
            Dialect::Athena => format!("element_at({map}, '{key}')"),
            Dialect::DuckDb => format!("map_extract({map}, '{key}')[1]"),
        }
    }
    /// `YYYYMMDD` of a UTC timestamp: the `eventday` of a version 2 table, which has no such
    /// partition column in Athena or in its Iceberg files (DataFusion's lake tables always have it).
    pub fn yyyymmdd(self, e: &str) -> String {
        match self {
            Dialect::DataFusion => format!("to_char({e}, '%Y%m%d')"),
            Dialect::Athena => format!("date_format({e}, '%Y%m%d')"),
            Dialect::DuckDb => format!("strftime({e}, '%Y%m%d')"),
        }
    }
    /// Quote a column path for the dialect (both accept `a.b.c` on structs).
    pub fn path(self, p: &str) -> String {
        p.split('.').map(|s| format!("\"{s}\"")).collect::<Vec<_>>().join(".")
    }
}

/// How one output column is computed.
#[derive(Debug, Clone, Copy)]
enum Src {
    /// First existing path, cast to the output type.
    Path(&'static [&'static str]),
    /// First existing epoch-ms path → timestamp; or a timestamp path as is.
    Time,
    /// A key of the `unmapped` map.
    Unmapped(&'static str),
    /// Field of the first element of the first existing array path.
    FirstField(&'static [&'static str], &'static str),
    /// First element of the first existing array path.
    First(&'static [&'static str]),
    /// A fixed SQL expression (no column needed).
    Expr(&'static str),
    /// The table's name as a string literal.
    Table,
}

/// Column spec: (name, SQL type, source).
type Col = (&'static str, &'static str, Src);

const COMMON_HEAD: &[Col] = &[("time", "TIMESTAMP", Src::Time), ("time_ms", "BIGINT", Src::Path(&["time"]))];

const API_ACTIVITY: &[Col] = &[
    (
        "class_uid",
        "INT",
        Src::Expr("CASE WHEN class_uid = 3005 THEN 6003 ELSE class_uid END"),
    ),
    ("activity_id", "INT", Src::Path(&["activity_id"])),
    ("activity_name", "VARCHAR", Src::Path(&["activity_name"])),
    ("operation", "VARCHAR", Src::Path(&["api.operation"])),
    ("service", "VARCHAR", Src::Path(&["api.service.name"])),
    ("principal", "VARCHAR", Src::Path(&["actor.user.uuid", "actor.user.uid"])),
    ("principal_id", "VARCHAR", Src::Path(&["actor.user.uid_alt", "actor.user.uid"])),
    ("principal_name", "VARCHAR", Src::Path(&["actor.user.name"])),
    ("principal_type", "VARCHAR", Src::Path(&["actor.user.type"])),
    ("credential_uid", "VARCHAR", Src::Path(&["actor.user.credential_uid"])),
    ("src_ip", "VARCHAR", Src::Path(&["src_endpoint.ip"])),
    ("user_agent", "VARCHAR", Src::Path(&["http_request.user_agent"])),
    ("status", "VARCHAR", Src::Path(&["status"])),
    ("error", "VARCHAR", Src::Path(&["api.response.error"])),
    ("is_mfa", "BOOLEAN", Src::Path(&["actor.session.mfa", "actor.session.is_mfa"])),
    // A console login's MFA is the Authentication row's own flag (CloudTrail's `MFAUsed`), not
    // the session's: an IAM user's `ConsoleLogin` has no session context.
    ("login_mfa", "BOOLEAN", Src::Path(&["mfa", "is_mfa"])),
    ("bucket", "VARCHAR", Src::Unmapped("requestParameters.bucketName")),
    ("event_uid", "VARCHAR", Src::Path(&["metadata.uid"])),
];

const NETWORK_ACTIVITY: &[Col] = &[
    ("src_ip", "VARCHAR", Src::Path(&["src_endpoint.ip"])),
    ("src_port", "INT", Src::Path(&["src_endpoint.port"])),
    ("src_instance", "VARCHAR", Src::Path(&["src_endpoint.instance_uid"])),
    ("dst_ip", "VARCHAR", Src::Path(&["dst_endpoint.ip"])),
    ("dst_port", "INT", Src::Path(&["dst_endpoint.port"])),
    ("dst_instance", "VARCHAR", Src::Path(&["dst_endpoint.instance_uid"])),
    ("vpc_uid", "VARCHAR", Src::Path(&["src_endpoint.vpc_uid"])),
    ("protocol_num", "INT", Src::Path(&["connection_info.protocol_num"])),
    ("direction", "VARCHAR", Src::Path(&["connection_info.direction"])),
    ("bytes", "BIGINT", Src::Path(&["traffic.bytes"])),
    ("packets", "BIGINT", Src::Path(&["traffic.packets"])),
    ("action_id", "INT", Src::Path(&["action_id", "disposition_id"])),
    ("activity_id", "INT", Src::Path(&["activity_id"])),
];

const DNS_ACTIVITY: &[Col] = &[
    ("src_ip", "VARCHAR", Src::Path(&["src_endpoint.ip"])),
    ("src_instance", "VARCHAR", Src::Path(&["src_endpoint.instance_uid"])),
    ("vpc_uid", "VARCHAR", Src::Path(&["src_endpoint.vpc_uid"])),
    ("query_hostname", "VARCHAR", Src::Path(&["query.hostname"])),
    ("query_type", "VARCHAR", Src::Path(&["query.type"])),
    ("rcode", "VARCHAR", Src::Path(&["rcode"])),
    ("rcode_id", "INT", Src::Path(&["rcode_id"])),
    ("answer", "VARCHAR", Src::FirstField(&["answers"], "rdata")),
];

const FINDINGS: &[Col] = &[
    ("class_uid", "INT", Src::Path(&["class_uid"])),
    ("product", "VARCHAR", Src::Path(&["metadata.product.name"])),
    ("feature", "VARCHAR", Src::Path(&["metadata.product.feature.name"])),
    ("finding_type_raw", "VARCHAR", Src::First(&["finding.types", "finding_info.types"])),
    ("finding_uid", "VARCHAR", Src::Path(&["finding.uid", "finding_info.uid"])),
    ("title", "VARCHAR", Src::Path(&["finding.title", "finding_info.title"])),
    ("severity_id", "INT", Src::Path(&["severity_id"])),
    ("severity", "VARCHAR", Src::Path(&["severity"])),
    ("resource_uid", "VARCHAR", Src::FirstField(&["resources"], "uid")),
    ("status", "VARCHAR", Src::Path(&["state", "status"])),
];

const AUTHENTICATION: &[Col] = &[
    ("class_uid", "INT", Src::Path(&["class_uid"])),
    ("user_name", "VARCHAR", Src::Path(&["user.name", "actor.user.name"])),
    ("user_uid", "VARCHAR", Src::Path(&["user.uuid", "user.uid"])),
    ("src_ip", "VARCHAR", Src::Path(&["src_endpoint.ip"])),
    ("status", "VARCHAR", Src::Path(&["status"])),
    ("status_id", "INT", Src::Path(&["status_id"])),
    ("is_mfa", "BOOLEAN", Src::Path(&["mfa", "is_mfa"])),
    ("service", "VARCHAR", Src::Path(&["service.name", "dst_endpoint.svc_name"])),
    ("product", "VARCHAR", Src::Path(&["metadata.product.name"])),
];

/// A normalised view: its name, columns, which tables feed it and an optional row filter.
#[derive(Debug, Clone, Copy)]
pub struct ViewDef {
    /// View name inside the `lakesight` schema.
    pub name: &'static str,
    /// Source families feeding it.
    pub kinds: &'static [SourceKind],
    cols: &'static [Col],
    /// Row filter per table kind (CloudTrail feeds `authentication` only with its 3002 rows).
    filter: fn(SourceKind) -> Option<&'static str>,
}

/// Every normalised view.
pub const VIEWS: &[ViewDef] = &[
    ViewDef {
        name: "api_activity",
        kinds: &[SourceKind::CloudTrailMgmt],
        cols: API_ACTIVITY,
        filter: |_| None,
    },
    ViewDef {
        name: "network_activity",
        kinds: &[SourceKind::VpcFlow],
        cols: NETWORK_ACTIVITY,
        filter: |_| None,
    },
    ViewDef {
        name: "dns_activity",
        kinds: &[SourceKind::Route53],
        cols: DNS_ACTIVITY,
        filter: |_| None,
    },
    ViewDef {
        name: "findings",
        kinds: &[SourceKind::ShFindings],
        cols: FINDINGS,
        filter: |_| None,
    },
    ViewDef {
        name: "authentication",
        kinds: &[SourceKind::CloudTrailMgmt, SourceKind::ExtAuthentication],
        cols: AUTHENTICATION,
        filter: |k| (k == SourceKind::CloudTrailMgmt).then_some("class_uid = 3002"),
    },
];

/// Look up a dotted path in a schema; returns its type.
pub fn path_type<'a>(schema: &'a Schema, path: &str) -> Option<&'a DataType> {
    let mut parts = path.split('.');
    let first = parts.next()?;
    let mut t = schema.field_with_name(first).ok()?.data_type();
    for p in parts {
        match t {
            DataType::Struct(fs) => t = fs.iter().find(|f| f.name() == p)?.data_type(),
            _ => return None,
        }
    }
    Some(t)
}

fn column_sql(d: Dialect, schema: &Schema, name: &str, ty: &str, src: Src, table: &str) -> String {
    let null = format!("CAST(NULL AS {ty}) AS {name}");
    let pick = |paths: &[&str]| paths.iter().find(|p| path_type(schema, p).is_some()).map(|p| p.to_string());
    match src {
        Src::Path(paths) => match pick(paths) {
            Some(p) => format!("CAST({} AS {ty}) AS {name}", d.path(&p)),
            None => null,
        },
        Src::Time => match (path_type(schema, "time_dt"), path_type(schema, "time")) {
            (Some(DataType::Timestamp(..)), _) => format!("CAST({} AS TIMESTAMP) AS {name}", d.path("time_dt")),
            (_, Some(_)) => format!("CAST({} AS TIMESTAMP) AS {name}", d.ts_from_ms(&d.path("time"))),
            _ => null,
        },
        Src::Unmapped(key) => match path_type(schema, "unmapped") {
            Some(DataType::Map(..)) => format!("CAST({} AS {ty}) AS {name}", d.map_get("unmapped", key)),
            _ => null,
        },
        Src::FirstField(paths, field) => match pick(paths) {
            Some(p) => {
                let has_field = matches!(path_type(schema, &p), Some(DataType::List(f)) if matches!(f.data_type(), DataType::Struct(fs) if fs.iter().any(|x| x.name() == field)));
                if has_field {
                    format!("CAST({} AS {ty}) AS {name}", d.first_field(&d.path(&p), field))
                } else {
                    null
                }
            }
            None => null,
        },
        Src::First(paths) => match pick(paths) {
            Some(p) => format!("CAST({} AS {ty}) AS {name}", d.first(&d.path(&p))),
            None => null,
        },
        Src::Expr(e) => {
            if path_type(schema, "class_uid").is_some() || !e.contains("class_uid") {
                format!("CAST({e} AS {ty}) AS {name}")
            } else {
                null
            }
        }
        Src::Table => format!("'{table}' AS {name}"),
    }
}

/// The `SELECT` of one table inside a view.
pub fn table_select(d: Dialect, view: &ViewDef, t: &LakeTable, qualified_name: &str) -> String {
    let kind = t.kind.unwrap_or(SourceKind::CloudTrailMgmt);
    let mut cols: Vec<String> = Vec::new();
    for (n, ty, s) in COMMON_HEAD.iter().chain(view.cols.iter()) {
        cols.push(column_sql(d, &t.schema, n, ty, *s, &t.glue_name));
    }
    let v2_native = t.version == Some(crate::lake::ocsf::SourceVersion::V2) && !t.custom;
    if d != Dialect::DataFusion && v2_native && t.schema.field_with_name("time_dt").is_ok() {
        cols.push(format!("{} AS eventday", d.yyyymmdd("\"time_dt\"")));
    } else {
        cols.push("eventday".into());
    }
    cols.push("region".into());
    cols.push("accountid".into());
    cols.push(column_sql(d, &t.schema, "source_table", "VARCHAR", Src::Table, &t.glue_name));
    let mut sql = format!("SELECT {} FROM {qualified_name}", cols.join(", "));
    if let Some(f) = (view.filter)(kind) {
        sql.push_str(&format!(" WHERE {f}"));
    }
    sql
}

/// The whole view body over `tables`, or `None` when the lake has no table of the family.
pub fn view_sql(d: Dialect, view: &ViewDef, tables: &[&LakeTable]) -> Option<String> {
    view_sql_with(d, view, tables, &|t| format!("{}.{}", t.database, t.glue_name))
}

/// [`view_sql`] with a caller-chosen table reference (e.g. DuckDB's `read_parquet([...])`).
pub fn view_sql_with(d: Dialect, view: &ViewDef, tables: &[&LakeTable], table_ref: &dyn Fn(&LakeTable) -> String) -> Option<String> {
    let parts: Vec<String> = tables
        .iter()
        .filter(|t| t.kind.is_some_and(|k| view.kinds.contains(&k)))
        .map(|t| table_select(d, view, t, &table_ref(t)))
        .collect();
    if parts.is_empty() {
        None
    } else {
        Some(parts.join("\nUNION ALL\n"))
    }
}

/// Column names of a view, in order (for callers that need the shape without a lake).
pub fn view_columns(view: &ViewDef) -> Vec<&'static str> {
    let mut v: Vec<&'static str> = COMMON_HEAD.iter().chain(view.cols.iter()).map(|c| c.0).collect();
    v.extend(["eventday", "region", "accountid", "source_table"]);
    v
}
