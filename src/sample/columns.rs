//! Arrow columns of generated events, built straight from the draws ([`super::events`]).
//!
//! Each source/version is one function that fills the columns of its schema by name, one column
//! at a time over a chunk of sorted events: a tight loop per column, text formatted straight into
//! the string buffers, no per-event intermediate form. The schema stays the single source of
//! truth for types and nesting ([`crate::lake::ocsf`], or its Iceberg form for v2 native
//! sources, whose timestamps are microseconds): every column is built for the type its schema
//! field has, a column the schema lacks is an error (as the strict JSON decoding it replaced made
//! it), and a column the generator does not fill is null, as an absent JSON key was.
//!
//! Struct validity follows what the JSON path wrote, which the lakes' tests and golden outputs
//! were made with: an object the event carried is a valid struct even when all its children are
//! null (`api.response`, `actor.idp`), an object it did not carry is a null struct.

use std::fmt::Write as _;
use std::sync::Arc;

use arrow::array::{
    new_null_array, Array, ArrayRef, BooleanArray, Int32Array, Int64Array, ListArray, MapArray, StringBuilder, StructArray,
    TimestampMicrosecondArray, TimestampMillisecondArray,
};
use arrow::buffer::{NullBuffer, OffsetBuffer};
use arrow::datatypes::{DataType, Field, Fields, SchemaRef, TimeUnit};
use arrow::record_batch::{RecordBatch, RecordBatchOptions};

use super::events::{fmt_uuid, ApiCall, Auth, DnsQuery, Event, Finding, Flow, FlowEnd};
use super::world::ApiClass;
use crate::lake::ocsf::{SourceKind, SourceVersion};
use crate::lake::LakeError;

type Res<T> = Result<T, LakeError>;

/// The task's constants, which every row of its file shares.
#[derive(Debug, Clone, Copy)]
pub struct RowCtx<'c> {
    /// Source version of the file.
    pub version: SourceVersion,
    /// Region name.
    pub region: &'c str,
    /// Account id (`external` for the `ext/` source).
    pub account: &'c str,
    /// The account's VPC id.
    pub vpc: &'c str,
    /// A v2 native (Iceberg) file: `accountid` and `region` are data columns too.
    pub v2_native: bool,
}

/// The record batch of `evs` (one task's events, in file order) for `schema`.
pub fn batch(schema: &SchemaRef, kind: SourceKind, c: &RowCtx<'_>, evs: &[&Event<'_>]) -> Res<RecordBatch> {
    let n = evs.len();
    let mut o = Cols::new(schema.fields(), n);
    let wrong = |e: &Event<'_>| LakeError::Schema(format!("a {} task made a {} event", kind.key_name(), event_name(e)));
    macro_rules! typed {
        ($var:ident) => {
            evs.iter()
                .map(|e| match *e {
                    Event::$var(x) => Ok(x),
                    other => Err(wrong(other)),
                })
                .collect::<Res<Vec<_>>>()?
        };
    }
    match kind {
        SourceKind::CloudTrailMgmt => cloudtrail(&mut o, &typed!(Api), c)?,
        SourceKind::VpcFlow => vpc_flow(&mut o, &typed!(Flow), c)?,
        SourceKind::Route53 => route53(&mut o, &typed!(Dns), c)?,
        SourceKind::ShFindings => findings(&mut o, &typed!(Finding), c)?,
        SourceKind::ExtAuthentication => idp_auth(&mut o, &typed!(Auth))?,
    }
    if c.v2_native {
        o.put("accountid", |f| konst(f, n, c.account))?;
        o.put("region", |f| konst(f, n, c.region))?;
    }
    let cols = o.finish();
    Ok(RecordBatch::try_new_with_options(
        schema.clone(),
        cols,
        &RecordBatchOptions::new().with_row_count(Some(n)),
    )?)
}

fn event_name(e: &Event<'_>) -> &'static str {
    match e {
        Event::Api(_) => "CloudTrail",
        Event::Flow(_) => "VPC Flow",
        Event::Dns(_) => "Route 53",
        Event::Finding(_) => "finding",
        Event::Auth(_) => "IdP logon",
    }
}

// ---------------------------------------------------------------------------------------------
// Building blocks
// ---------------------------------------------------------------------------------------------

/// The columns of one struct (or of the batch), filled by name.
struct Cols<'f> {
    fields: &'f Fields,
    cols: Vec<Option<ArrayRef>>,
    len: usize,
}

impl<'f> Cols<'f> {
    fn new(fields: &'f Fields, len: usize) -> Self {
        Cols {
            fields,
            cols: vec![None; fields.len()],
            len,
        }
    }

    /// Set column `name` to what `build` makes for its field.
    fn put(&mut self, name: &str, build: impl FnOnce(&Field) -> Res<ArrayRef>) -> Res<()> {
        let (i, f) = self
            .fields
            .find(name)
            .ok_or_else(|| LakeError::Schema(format!("the generator makes a column {name:?} that the schema lacks")))?;
        let a = build(f)?;
        if a.data_type() != f.data_type() || a.len() != self.len {
            return Err(LakeError::Schema(format!(
                "generated column {name:?} is {} × {}, the schema wants {} × {}",
                a.len(),
                a.data_type(),
                self.len,
                f.data_type()
            )));
        }
        self.cols[i] = Some(a);
        Ok(())
    }

    /// The columns in schema order; the ones never set are null.
    fn finish(self) -> Vec<ArrayRef> {
        let len = self.len;
        self.cols
            .into_iter()
            .zip(self.fields.iter())
            .map(|(c, f)| c.unwrap_or_else(|| new_null_array(f.data_type(), len)))
            .collect()
    }
}

fn type_err(f: &Field, what: &str) -> LakeError {
    LakeError::Schema(format!("column {:?} is {}, the generator makes {what}", f.name(), f.data_type()))
}

/// A null buffer from row validity, or none when every row is valid.
fn validity(valid: impl Iterator<Item = bool>) -> Option<NullBuffer> {
    let v: Vec<bool> = valid.collect();
    (!v.iter().all(|&b| b)).then(|| NullBuffer::from(v))
}

/// A string column filled by `fill` (one `append_*` per row).
fn text(f: &Field, rows: usize, bytes: usize, fill: impl FnOnce(&mut StringBuilder)) -> Res<ArrayRef> {
    if f.data_type() != &DataType::Utf8 {
        return Err(type_err(f, "strings"));
    }
    let mut b = StringBuilder::with_capacity(rows, bytes);
    fill(&mut b);
    Ok(Arc::new(b.finish()))
}

/// A string column of per-row values.
fn strs<'x>(f: &Field, rows: usize, it: impl Iterator<Item = Option<&'x str>>) -> Res<ArrayRef> {
    text(f, rows, rows * 16, |b| {
        for s in it {
            b.append_option(s);
        }
    })
}

/// A string column of one value.
fn konst(f: &Field, rows: usize, s: &str) -> Res<ArrayRef> {
    text(f, rows, rows * s.len(), |b| {
        for _ in 0..rows {
            b.append_value(s);
        }
    })
}

/// An integer column (`int` or `bigint`, as the field is).
fn ints(f: &Field, it: impl Iterator<Item = Option<i64>>) -> Res<ArrayRef> {
    match f.data_type() {
        DataType::Int32 => Ok(Arc::new(it.map(|v| v.map(|v| v as i32)).collect::<Int32Array>())),
        DataType::Int64 => Ok(Arc::new(it.collect::<Int64Array>())),
        _ => Err(type_err(f, "integers")),
    }
}

/// An integer column of one value.
fn konst_int(f: &Field, rows: usize, v: i64) -> Res<ArrayRef> {
    ints(f, std::iter::repeat_n(Some(v), rows))
}

/// A boolean column.
fn bools(f: &Field, it: impl Iterator<Item = Option<bool>>) -> Res<ArrayRef> {
    match f.data_type() {
        DataType::Boolean => Ok(Arc::new(it.collect::<BooleanArray>())),
        _ => Err(type_err(f, "booleans")),
    }
}

/// A timestamp column from epoch ms, in the field's unit and zone (ms in the Glue schemas, µs in
/// Iceberg's).
fn times(f: &Field, it: impl Iterator<Item = Option<i64>>) -> Res<ArrayRef> {
    match f.data_type() {
        DataType::Timestamp(TimeUnit::Millisecond, tz) => {
            Ok(Arc::new(it.collect::<TimestampMillisecondArray>().with_timezone_opt(tz.clone())))
        }
        DataType::Timestamp(TimeUnit::Microsecond, tz) => Ok(Arc::new(
            it.map(|v| v.map(|ms| ms * 1000))
                .collect::<TimestampMicrosecondArray>()
                .with_timezone_opt(tz.clone()),
        )),
        _ => Err(type_err(f, "timestamps")),
    }
}

/// A struct column whose children `fill` sets; `nulls` marks the rows without the object.
fn strukt(f: &Field, rows: usize, nulls: Option<NullBuffer>, fill: impl FnOnce(&mut Cols<'_>) -> Res<()>) -> Res<ArrayRef> {
    let DataType::Struct(fields) = f.data_type() else {
        return Err(type_err(f, "a struct"));
    };
    let mut c = Cols::new(fields, rows);
    fill(&mut c)?;
    Ok(Arc::new(StructArray::try_new(fields.clone(), c.finish(), nulls)?))
}

/// A list column: row `i` has `lens[i]` elements (`None`: a null list); `values` builds the
/// flattened elements for the element field and their total count.
fn list(f: &Field, lens: &[Option<usize>], values: impl FnOnce(&Field, usize) -> Res<ArrayRef>) -> Res<ArrayRef> {
    let DataType::List(elem) = f.data_type() else {
        return Err(type_err(f, "a list"));
    };
    let total: usize = lens.iter().map(|l| l.unwrap_or(0)).sum();
    let offsets = OffsetBuffer::<i32>::from_lengths(lens.iter().map(|l| l.unwrap_or(0)));
    let v = values(elem, total)?;
    let nulls = validity(lens.iter().map(|l| l.is_some()));
    Ok(Arc::new(ListArray::try_new(elem.clone(), offsets, v, nulls)?))
}

/// A list of strings, the same `items` in every row.
fn konst_list(f: &Field, rows: usize, items: &[&str]) -> Res<ArrayRef> {
    let lens = vec![Some(items.len()); rows];
    list(f, &lens, |ef, total| {
        text(ef, total, rows * items.iter().map(|s| s.len()).sum::<usize>(), |b| {
            for _ in 0..rows {
                for s in items {
                    b.append_value(s);
                }
            }
        })
    })
}

/// A `map<string,string>` column: `fill` appends each row's entries (key, value) to the two
/// builders and returns the row's entry count.
fn string_map(f: &Field, rows: usize, mut fill: impl FnMut(usize, &mut StringBuilder, &mut StringBuilder) -> usize) -> Res<ArrayRef> {
    let DataType::Map(entries, sorted) = f.data_type() else {
        return Err(type_err(f, "a map"));
    };
    let DataType::Struct(kv) = entries.data_type() else {
        return Err(type_err(entries, "map entries"));
    };
    if kv.len() != 2 || kv[0].data_type() != &DataType::Utf8 || kv[1].data_type() != &DataType::Utf8 {
        return Err(type_err(f, "a map<string,string>"));
    }
    let (mut k, mut v) = (
        StringBuilder::with_capacity(rows * 5, rows * 80),
        StringBuilder::with_capacity(rows * 5, rows * 60),
    );
    let lens: Vec<usize> = (0..rows).map(|i| fill(i, &mut k, &mut v)).collect();
    let kv_arr = StructArray::try_new(kv.clone(), vec![Arc::new(k.finish()), Arc::new(v.finish())], None)?;
    Ok(Arc::new(MapArray::try_new(
        entries.clone(),
        OffsetBuffer::<i32>::from_lengths(lens),
        kv_arr,
        None,
        *sorted,
    )?))
}

/// `cve.cvss` of findings with base scores `tenths` (in tenths of a point): v1's one
/// `struct<base_score:float,…>`, v2's `array<struct<base_score:decimal(3,1),…>>` of one score.
fn cvss(f: &Field, tenths: &[i64]) -> Res<ArrayRef> {
    let m = tenths.len();
    let fill = |s: &mut Cols<'_>| -> Res<()> {
        s.put("base_score", |f| match f.data_type() {
            DataType::Float32 => Ok(Arc::new(
                tenths
                    .iter()
                    .map(|&t| Some(t as f32 / 10.0))
                    .collect::<arrow::array::Float32Array>(),
            ) as ArrayRef),
            DataType::Decimal128(p, sc) => Ok(Arc::new(
                tenths
                    .iter()
                    .map(|&t| Some(t as i128 * 10i128.pow(*sc as u32) / 10))
                    .collect::<arrow::array::Decimal128Array>()
                    .with_precision_and_scale(*p, *sc)?,
            ) as ArrayRef),
            _ => Err(type_err(f, "a CVSS score")),
        })?;
        s.put("vector_string", |f| konst(f, m, "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N"))?;
        s.put("version", |f| konst(f, m, "3.1"))
    };
    match f.data_type() {
        DataType::List(_) => list(f, &vec![Some(1); m], |ef, _| strukt(ef, m, None, fill)),
        _ => strukt(f, m, None, fill),
    }
}

/// `struct<uid:string>` of the task's account (`cloud.account`, `owner.account`…).
fn account_struct(f: &Field, rows: usize, account: &str) -> Res<ArrayRef> {
    strukt(f, rows, None, |a| a.put("uid", |f| konst(f, rows, account)))
}

/// An OCSF class and activity of one row.
#[derive(Clone, Copy)]
struct Class {
    uid: i32,
    name: &'static str,
    category_uid: i32,
    category: &'static str,
    activity_id: i32,
    activity: &'static str,
    severity_id: i32,
}

const SEVERITIES: [&str; 7] = ["Unknown", "Informational", "Low", "Medium", "High", "Critical", "Fatal"];

/// The class columns (`class_uid` … `type_name`, `severity`) of rows of classes `cls`.
fn class_cols(o: &mut Cols<'_>, cls: &[Class]) -> Res<()> {
    let n = cls.len();
    o.put("class_uid", |f| ints(f, cls.iter().map(|c| Some(c.uid as i64))))?;
    o.put("class_name", |f| strs(f, n, cls.iter().map(|c| Some(c.name))))?;
    o.put("category_uid", |f| ints(f, cls.iter().map(|c| Some(c.category_uid as i64))))?;
    o.put("category_name", |f| strs(f, n, cls.iter().map(|c| Some(c.category))))?;
    o.put("activity_id", |f| ints(f, cls.iter().map(|c| Some(c.activity_id as i64))))?;
    o.put("activity_name", |f| strs(f, n, cls.iter().map(|c| Some(c.activity))))?;
    o.put("type_uid", |f| {
        ints(f, cls.iter().map(|c| Some(c.uid as i64 * 100 + c.activity_id as i64)))
    })?;
    o.put("type_name", |f| {
        text(f, n, n * 32, |b| {
            for c in cls {
                let _ = write!(b, "{}: {}", c.name, c.activity);
                b.append_value("");
            }
        })
    })?;
    o.put("severity_id", |f| ints(f, cls.iter().map(|c| Some(c.severity_id as i64))))?;
    o.put("severity", |f| {
        strs(
            f,
            n,
            cls.iter()
                .map(|c| Some(SEVERITIES.get(c.severity_id as usize).copied().unwrap_or("Other"))),
        )
    })
}

/// `time` (epoch ms) and, in version 2, `time_dt`.
fn time_cols(o: &mut Cols<'_>, v: SourceVersion, ts: &[i64]) -> Res<()> {
    o.put("time", |f| ints(f, ts.iter().map(|&t| Some(t))))?;
    if v == SourceVersion::V2 {
        o.put("time_dt", |f| times(f, ts.iter().map(|&t| Some(t))))?;
    }
    Ok(())
}

/// A uuid column.
fn uuids(f: &Field, rows: usize, it: impl Iterator<Item = u128>) -> Res<ArrayRef> {
    text(f, rows, rows * 36, |b| {
        let mut buf = [0u8; 36];
        for a in it {
            b.append_value(fmt_uuid(a, &mut buf));
        }
    })
}

/// `metadata.product` of the AWS sources that name a feature: `{version, name, vendor_name: AWS,
/// feature: {name}}`.
fn aws_product(f: &Field, rows: usize, version: &str, name: &str, feature: &str) -> Res<ArrayRef> {
    strukt(f, rows, None, |p| {
        p.put("version", |f| konst(f, rows, version))?;
        p.put("name", |f| konst(f, rows, name))?;
        p.put("vendor_name", |f| konst(f, rows, "AWS"))?;
        p.put("feature", |f| strukt(f, rows, None, |x| x.put("name", |f| konst(f, rows, feature))))
    })
}

/// `cloud` of VPC Flow, Route 53 and findings: the account (`account_uid` in v1, `account.uid`
/// in v2), region, provider and optionally the zone.
fn aws_cloud(f: &Field, rows: usize, c: &RowCtx<'_>, zone: Option<&str>) -> Res<ArrayRef> {
    strukt(f, rows, None, |x| {
        if c.version == SourceVersion::V1 {
            x.put("account_uid", |f| konst(f, rows, c.account))?;
        } else {
            x.put("account", |f| account_struct(f, rows, c.account))?;
        }
        x.put("region", |f| konst(f, rows, c.region))?;
        if let Some(z) = zone {
            x.put("zone", |f| konst(f, rows, z))?;
        }
        x.put("provider", |f| konst(f, rows, "AWS"))
    })
}

// ---------------------------------------------------------------------------------------------
// Sources
// ---------------------------------------------------------------------------------------------

/// The OCSF class of a CloudTrail call (its table holds three).
fn api_class(v1: bool, api: &super::world::Api) -> Class {
    let iam = if v1 { "Audit Activity" } else { "Identity & Access Management" };
    let (uid, name, category_uid, category, activity) = match api.class {
        ApiClass::Api => {
            let an = ["Unknown", "Create", "Read", "Update", "Delete"]
                .get(api.activity_id as usize)
                .copied()
                .unwrap_or("Other");
            if v1 {
                (3005, "API Activity", 3, "Audit Activity", an)
            } else {
                (6003, "API Activity", 6, "Application Activity", an)
            }
        }
        ApiClass::Auth => (3002, "Authentication", 3, iam, "Logon"),
        ApiClass::AccountChange => (
            3001,
            "Account Change",
            3,
            iam,
            if api.activity_id == 1 { "Create" } else { "Attach Policy" },
        ),
    };
    let activity_id = match api.class {
        ApiClass::AccountChange if api.activity_id != 1 => 7,
        _ => api.activity_id,
    };
    Class {
        uid,
        name,
        category_uid,
        category,
        activity_id,
        activity,
        severity_id: 1,
    }
}

fn cloudtrail(o: &mut Cols<'_>, xs: &[&ApiCall<'_>], c: &RowCtx<'_>) -> Res<()> {
    let n = xs.len();
    let v = c.version;
    let v1 = v == SourceVersion::V1;
    o.put("metadata", |f| {
        strukt(f, n, None, |m| {
            m.put("product", |f| aws_product(f, n, "1.08", "CloudTrail", "Management"))?;
            m.put("uid", |f| uuids(f, n, xs.iter().map(|x| x.uid)))?;
            m.put("profiles", |f| {
                konst_list(f, n, if v1 { &["cloud"] } else { &["cloud", "datetime"] })
            })?;
            m.put("version", |f| konst(f, n, v.ocsf_version()))?;
            if !v1 {
                m.put("event_code", |f| konst(f, n, "AwsApiCall"))?;
            }
            Ok(())
        })
    })?;
    let ts: Vec<i64> = xs.iter().map(|x| x.time).collect();
    time_cols(o, v, &ts)?;
    o.put("cloud", |f| {
        strukt(f, n, None, |x| {
            x.put("region", |f| konst(f, n, c.region))?;
            x.put("provider", |f| konst(f, n, "AWS"))
        })
    })?;
    o.put("api", |f| {
        strukt(f, n, None, |a| {
            a.put("response", |f| {
                strukt(f, n, None, |r| {
                    r.put("error", |f| strs(f, n, xs.iter().map(|x| x.error.map(|e| e.0))))?;
                    r.put("message", |f| strs(f, n, xs.iter().map(|x| x.error.map(|e| e.1))))
                })
            })?;
            a.put("operation", |f| strs(f, n, xs.iter().map(|x| Some(x.api.operation))))?;
            a.put("service", |f| {
                strukt(f, n, None, |s| {
                    s.put("name", |f| strs(f, n, xs.iter().map(|x| Some(x.api.service))))
                })
            })?;
            a.put("request", |f| {
                strukt(f, n, None, |r| r.put("uid", |f| uuids(f, n, xs.iter().map(|x| x.request_uid))))
            })
        })
    })?;
    // S3 calls name their bucket as the one resource.
    let buckets: Vec<&str> = xs.iter().filter_map(|x| x.bucket.as_ref().map(|b| b.0.as_ref())).collect();
    let lens: Vec<Option<usize>> = xs.iter().map(|x| x.bucket.as_ref().map(|_| 1)).collect();
    o.put("resources", |f| {
        list(f, &lens, |ef, m| {
            strukt(ef, m, None, |r| {
                r.put("uid", |f| {
                    text(f, m, m * 40, |b| {
                        for bk in &buckets {
                            let _ = write!(b, "arn:aws:s3:::{bk}");
                            b.append_value("");
                        }
                    })
                })?;
                if v1 {
                    r.put("account_uid", |f| konst(f, m, c.account))?;
                } else {
                    r.put("owner", |f| {
                        strukt(f, m, None, |w| w.put("account", |f| account_struct(f, m, c.account)))
                    })?;
                }
                r.put("type", |f| konst(f, m, "AWS::S3::Bucket"))
            })
        })
    })?;
    o.put("actor", |f| {
        strukt(f, n, None, |a| {
            a.put("user", |f| {
                strukt(f, n, None, |u| {
                    u.put("type", |f| strs(f, n, xs.iter().map(|x| Some(x.principal.kind))))?;
                    u.put("name", |f| strs(f, n, xs.iter().map(|x| Some(x.principal.name.as_str()))))?;
                    let pid = |f: &Field| strs(f, n, xs.iter().map(|x| Some(x.principal.principal_id.as_str())));
                    let arn = |f: &Field| strs(f, n, xs.iter().map(|x| Some(x.principal.arn.as_str())));
                    if v1 {
                        u.put("uid", pid)?;
                        u.put("uuid", arn)?;
                        u.put("account_uid", |f| konst(f, n, c.account))?;
                    } else {
                        u.put("uid_alt", pid)?;
                        u.put("uid", arn)?;
                        u.put("account", |f| account_struct(f, n, c.account))?;
                    }
                    u.put("credential_uid", |f| {
                        strs(f, n, xs.iter().map(|x| Some(x.principal.access_key.as_str())))
                    })
                })
            })?;
            a.put("session", |f| {
                strukt(f, n, None, |s| {
                    let created = xs.iter().map(|x| Some(x.time - 1_800_000));
                    let mfa = xs.iter().map(|x| Some(x.mfa_used()));
                    if v1 {
                        s.put("created_time", |f| ints(f, created))?;
                        s.put("mfa", |f| bools(f, mfa))?;
                    } else {
                        s.put("created_time_dt", |f| times(f, created))?;
                        s.put("is_mfa", |f| bools(f, mfa))?;
                    }
                    s.put("issuer", |f| {
                        strs(f, n, xs.iter().map(|x| (!x.principal.human).then_some(x.principal.arn.as_str())))
                    })
                })
            })?;
            // `idp` is there with a null name; `invoked_by` is null.
            a.put("idp", |f| strukt(f, n, None, |_| Ok(())))
        })
    })?;
    o.put("http_request", |f| {
        strukt(f, n, None, |h| {
            h.put("user_agent", |f| {
                strs(f, n, xs.iter().map(|x| Some(x.agent.unwrap_or(x.principal.user_agent))))
            })
        })
    })?;
    o.put("src_endpoint", |f| {
        strukt(f, n, None, |s| s.put("ip", |f| strs(f, n, xs.iter().map(|x| Some(x.ip.as_ref())))))
    })?;
    o.put("status", |f| {
        strs(f, n, xs.iter().map(|x| Some(if x.error.is_some() { "Failure" } else { "Success" })))
    })?;
    if v1 {
        o.put("status_id", |f| {
            ints(f, xs.iter().map(|x| Some(if x.error.is_some() { 2 } else { 1 })))
        })?;
    }
    // Authentication and Account Change rows also name the user, the service and MFA.
    let not_api: Vec<bool> = xs.iter().map(|x| x.api.class != ApiClass::Api).collect();
    o.put("user", |f| {
        strukt(f, n, validity(not_api.iter().copied()), |u| {
            fn pick<'s>(keep: bool, s: &'s str) -> Option<&'s str> {
                keep.then_some(s)
            }
            let pid = |f: &Field| {
                strs(
                    f,
                    n,
                    xs.iter()
                        .enumerate()
                        .map(|(i, x)| pick(not_api[i], x.principal.principal_id.as_str())),
                )
            };
            let arn = |f: &Field| strs(f, n, xs.iter().enumerate().map(|(i, x)| pick(not_api[i], x.principal.arn.as_str())));
            if v1 {
                u.put("uid", pid)?;
                u.put("uuid", arn)?;
            } else {
                u.put("uid", arn)?;
                u.put("uid_alt", pid)?;
            }
            u.put("name", |f| {
                strs(
                    f,
                    n,
                    xs.iter().enumerate().map(|(i, x)| pick(not_api[i], x.principal.name.as_str())),
                )
            })
        })
    })?;
    o.put("dst_endpoint", |f| {
        strukt(f, n, validity(not_api.iter().copied()), |d| {
            d.put("svc_name", |f| {
                strs(f, n, xs.iter().zip(&not_api).map(|(x, &k)| k.then_some(x.api.service)))
            })
        })
    })?;
    o.put(if v1 { "mfa" } else { "is_mfa" }, |f| {
        bools(f, xs.iter().zip(&not_api).map(|(x, &k)| k.then_some(x.mfa_used())))
    })?;
    let cls: Vec<Class> = xs.iter().map(|x| api_class(v1, x.api)).collect();
    class_cols(o, &cls)?;
    if !v1 {
        o.put("observables", |f| {
            list(f, &vec![Some(1); n], |ef, m| {
                strukt(ef, m, None, |s| {
                    s.put("name", |f| konst(f, m, "src_endpoint.ip"))?;
                    s.put("value", |f| strs(f, m, xs.iter().map(|x| Some(x.ip.as_ref()))))?;
                    s.put("type", |f| konst(f, m, "IP Address"))?;
                    s.put("type_id", |f| konst_int(f, m, 2))
                })
            })
        })?;
    }
    // Keys in the order the JSON path's (sorted) object map wrote them.
    o.put("unmapped", |f| {
        string_map(f, n, |i, k, val| {
            let x = xs[i];
            k.append_value("eventType");
            val.append_value("AwsApiCall");
            k.append_value("managementEvent");
            val.append_value("true");
            k.append_value("recipientAccountId");
            val.append_value(c.account);
            match &x.bucket {
                Some((b, key)) => {
                    k.append_value("requestParameters.bucketName");
                    val.append_value(b.as_ref());
                    k.append_value("requestParameters.key");
                    let _ = write!(val, "data/{key:06}.csv");
                    val.append_value("");
                    5
                }
                None => 3,
            }
        })
    })
}

/// `src_endpoint` / `dst_endpoint` of flows: our instances carry their ENI, VPC, instance and
/// subnet; other addresses only ip and port.
fn flow_end(f: &Field, ends: &[&FlowEnd<'_>], vpc: &str) -> Res<ArrayRef> {
    let n = ends.len();
    strukt(f, n, None, |e| {
        e.put("port", |f| ints(f, ends.iter().map(|x| Some(x.port as i64))))?;
        e.put("ip", |f| strs(f, n, ends.iter().map(|x| Some(x.ip.as_ref()))))?;
        e.put("interface_uid", |f| strs(f, n, ends.iter().map(|x| x.host.map(|h| h.eni.as_str()))))?;
        e.put("vpc_uid", |f| strs(f, n, ends.iter().map(|x| x.host.map(|_| vpc))))?;
        e.put("instance_uid", |f| {
            strs(f, n, ends.iter().map(|x| x.host.map(|h| h.instance.as_str())))
        })?;
        e.put("subnet_uid", |f| strs(f, n, ends.iter().map(|x| x.host.map(|h| h.subnet.as_str()))))
    })
}

fn vpc_flow(o: &mut Cols<'_>, xs: &[&Flow<'_>], c: &RowCtx<'_>) -> Res<()> {
    let n = xs.len();
    let v = c.version;
    let v1 = v == SourceVersion::V1;
    o.put("metadata", |f| {
        strukt(f, n, None, |m| {
            m.put("product", |f| aws_product(f, n, "5", "Amazon VPC", "Flowlogs"))?;
            m.put("profiles", |f| konst_list(f, n, &["cloud", "security_control"]))?;
            m.put("version", |f| konst(f, n, v.ocsf_version()))
        })
    })?;
    let zone = format!("{}a", c.region);
    o.put("cloud", |f| aws_cloud(f, n, c, Some(&zone)))?;
    let src: Vec<&FlowEnd<'_>> = xs.iter().map(|x| &x.src).collect();
    let dst: Vec<&FlowEnd<'_>> = xs.iter().map(|x| &x.dst).collect();
    o.put("src_endpoint", |f| flow_end(f, &src, c.vpc))?;
    o.put("dst_endpoint", |f| flow_end(f, &dst, c.vpc))?;
    o.put("connection_info", |f| {
        strukt(f, n, None, |ci| {
            ci.put("protocol_num", |f| konst_int(f, n, 6))?;
            ci.put("tcp_flags", |f| ints(f, xs.iter().map(|x| Some(if x.accepted { 19 } else { 2 }))))?;
            ci.put("protocol_ver", |f| konst(f, n, "IPv4"))?;
            ci.put("direction", |f| {
                strs(f, n, xs.iter().map(|x| Some(if x.outbound { "Outbound" } else { "Inbound" })))
            })?;
            ci.put("direction_id", |f| ints(f, xs.iter().map(|x| Some(if x.outbound { 2 } else { 1 }))))?;
            ci.put("boundary", |f| konst(f, n, "-"))?;
            ci.put("boundary_id", |f| konst_int(f, n, 99))
        })
    })?;
    o.put("traffic", |f| {
        strukt(f, n, None, |t| {
            t.put("packets", |f| ints(f, xs.iter().map(|x| Some(x.packets))))?;
            t.put("bytes", |f| ints(f, xs.iter().map(|x| Some(x.bytes))))
        })
    })?;
    o.put("status_code", |f| konst(f, n, "OK"))?;
    o.put("disposition", |f| {
        strs(f, n, xs.iter().map(|x| Some(if x.accepted { "Allowed" } else { "Blocked" })))
    })?;
    let ts: Vec<i64> = xs.iter().map(|x| x.time).collect();
    time_cols(o, v, &ts)?;
    let start = || ts.iter().map(|&t| Some(t));
    let end = || ts.iter().map(|&t| Some(t + 60_000));
    if v1 {
        o.put("start_time", |f| ints(f, start()))?;
        o.put("end_time", |f| ints(f, end()))?;
        o.put("disposition_id", |f| {
            ints(f, xs.iter().map(|x| Some(if x.accepted { 1 } else { 2 })))
        })?;
    } else {
        o.put("start_time_dt", |f| times(f, start()))?;
        o.put("end_time_dt", |f| times(f, end()))?;
        o.put("action", |f| {
            strs(f, n, xs.iter().map(|x| Some(if x.accepted { "Allowed" } else { "Denied" })))
        })?;
        o.put("action_id", |f| ints(f, xs.iter().map(|x| Some(if x.accepted { 1 } else { 2 }))))?;
    }
    let cls: Vec<Class> = xs
        .iter()
        .map(|x| {
            let (activity_id, activity) = if x.accepted { (6, "Traffic") } else { (5, "Refuse") };
            Class {
                uid: 4001,
                name: "Network Activity",
                category_uid: 4,
                category: "Network Activity",
                activity_id,
                activity,
                severity_id: 1,
            }
        })
        .collect();
    class_cols(o, &cls)
}

fn route53(o: &mut Cols<'_>, xs: &[&DnsQuery<'_>], c: &RowCtx<'_>) -> Res<()> {
    let n = xs.len();
    let v = c.version;
    let v1 = v == SourceVersion::V1;
    o.put("metadata", |f| {
        strukt(f, n, None, |m| {
            m.put("product", |f| aws_product(f, n, "1.100000", "Route 53", "Resolver Query Logs"))?;
            m.put("profiles", |f| {
                konst_list(f, n, if v1 { &["cloud"] } else { &["cloud", "datetime"] })
            })?;
            m.put("version", |f| konst(f, n, v.ocsf_version()))
        })
    })?;
    o.put("cloud", |f| aws_cloud(f, n, c, None))?;
    o.put("src_endpoint", |f| {
        strukt(f, n, None, |s| {
            s.put("vpc_uid", |f| konst(f, n, c.vpc))?;
            s.put("ip", |f| strs(f, n, xs.iter().map(|x| Some(x.host.ip.as_str()))))?;
            s.put("port", |f| {
                ints(f, xs.iter().map(|x| Some(40_000 + (x.time % 20_000) as i32 as i64)))
            })?;
            s.put("instance_uid", |f| strs(f, n, xs.iter().map(|x| Some(x.host.instance.as_str()))))
        })
    })?;
    let ts: Vec<i64> = xs.iter().map(|x| x.time).collect();
    time_cols(o, v, &ts)?;
    o.put("query", |f| {
        strukt(f, n, None, |q| {
            q.put("hostname", |f| strs(f, n, xs.iter().map(|x| Some(x.hostname.as_ref()))))?;
            q.put("type", |f| konst(f, n, "A"))?;
            q.put("class", |f| konst(f, n, "IN"))
        })
    })?;
    let answers: Vec<&str> = xs.iter().filter_map(|x| x.answer.as_deref()).collect();
    let lens: Vec<Option<usize>> = xs.iter().map(|x| x.answer.as_ref().map(|_| 1)).collect();
    o.put("answers", |f| {
        list(f, &lens, |ef, m| {
            strukt(ef, m, None, |a| {
                a.put("type", |f| konst(f, m, "A"))?;
                a.put("rdata", |f| strs(f, m, answers.iter().map(|s| Some(*s))))?;
                a.put("class", |f| konst(f, m, "IN"))
            })
        })
    })?;
    o.put("connection_info", |f| {
        strukt(f, n, None, |ci| {
            ci.put("protocol_name", |f| konst(f, n, "UDP"))?;
            ci.put("direction", |f| konst(f, n, "Unknown"))?;
            ci.put("direction_id", |f| konst_int(f, n, 0))
        })
    })?;
    o.put("rcode_id", |f| {
        ints(f, xs.iter().map(|x| Some(if x.answer.is_some() { 0 } else { 3 })))
    })?;
    o.put("rcode", |f| {
        strs(
            f,
            n,
            xs.iter().map(|x| Some(if x.answer.is_some() { "NoError" } else { "NXDomain" })),
        )
    })?;
    o.put("disposition", |f| konst(f, n, "Unknown"))?;
    if v1 {
        o.put("disposition_id", |f| konst_int(f, n, 0))?;
    } else {
        o.put("action", |f| konst(f, n, "Allowed"))?;
        o.put("action_id", |f| konst_int(f, n, 1))?;
    }
    let cls = vec![
        Class {
            uid: 4003,
            name: "DNS Activity",
            category_uid: 4,
            category: "Network Activity",
            activity_id: 2,
            activity: "Response",
            severity_id: 1,
        };
        n
    ];
    class_cols(o, &cls)
}

fn findings(o: &mut Cols<'_>, xs: &[&Finding<'_>], c: &RowCtx<'_>) -> Res<()> {
    let n = xs.len();
    let v = c.version;
    let v1 = v == SourceVersion::V1;
    // Findings are few (hundreds a day): plain per-row strings are fine here.
    let product_arn: Vec<String> = xs
        .iter()
        .map(|x| {
            format!(
                "arn:aws:securityhub:{}::product/aws/{}",
                c.region,
                x.feature.to_lowercase().replace(' ', "-")
            )
        })
        .collect();
    let title: Vec<&str> = xs.iter().map(|x| x.ftype.rsplit('/').next().unwrap_or(x.ftype)).collect();
    let desc: Vec<String> = title.iter().map(|t| format!("{t} detected")).collect();
    let uid: Vec<String> = xs
        .iter()
        .map(|x| {
            let mut buf = [0u8; 36];
            format!(
                "arn:aws:securityhub:{}:{}:finding/{}",
                c.region,
                c.account,
                fmt_uuid(x.uid, &mut buf)
            )
        })
        .collect();
    let ts: Vec<i64> = xs.iter().map(|x| x.time).collect();
    let at = || ts.iter().map(|&t| Some(t));
    o.put("metadata", |f| {
        strukt(f, n, None, |m| {
            m.put("product", |f| {
                strukt(f, n, None, |p| {
                    p.put("version", |f| konst(f, n, "2018-10-08"))?;
                    p.put("feature", |f| {
                        strukt(f, n, None, |ft| {
                            ft.put("uid", |f| strs(f, n, product_arn.iter().map(|s| Some(s.as_str()))))?;
                            ft.put("name", |f| strs(f, n, xs.iter().map(|x| Some(x.feature))))
                        })
                    })?;
                    p.put("uid", |f| strs(f, n, product_arn.iter().map(|s| Some(s.as_str()))))?;
                    p.put("vendor_name", |f| konst(f, n, "AWS"))?;
                    p.put("name", |f| strs(f, n, xs.iter().map(|x| Some(x.product))))
                })
            })?;
            m.put("profiles", |f| {
                konst_list(f, n, if v1 { &["cloud"] } else { &["cloud", "datetime"] })
            })?;
            m.put("version", |f| konst(f, n, v.ocsf_version()))?;
            if !v1 {
                m.put("log_version", |f| konst(f, n, "2018-10-08"))?;
                m.put("processed_time_dt", |f| times(f, at()))?;
            }
            Ok(())
        })
    })?;
    o.put(if v1 { "confidence" } else { "confidence_score" }, |f| konst_int(f, n, 80))?;
    o.put("cloud", |f| aws_cloud(f, n, c, None))?;
    // v1 and the v2 GuardDuty/Macie findings list their resource; other v2 findings have one
    // `resource` object.
    let listed: Vec<bool> = xs.iter().map(|x| v1 || x.product == "GuardDuty" || x.product == "Macie").collect();
    let resource_fields = |r: &mut Cols<'_>, rows: &[&&Finding<'_>], owner: bool| -> Res<()> {
        let m = rows.len();
        r.put("type", |f| konst(f, m, "AwsEc2Instance"))?;
        r.put("uid", |f| strs(f, m, rows.iter().map(|x| Some(x.resource))))?;
        r.put("cloud_partition", |f| konst(f, m, "aws"))?;
        r.put("region", |f| konst(f, m, c.region))?;
        if owner {
            r.put("owner", |f| {
                strukt(f, m, None, |w| w.put("account", |f| account_struct(f, m, c.account)))
            })?;
        }
        Ok(())
    };
    let in_list: Vec<&&Finding<'_>> = xs.iter().zip(&listed).filter(|(_, &l)| l).map(|(x, _)| x).collect();
    let lens: Vec<Option<usize>> = listed.iter().map(|&l| l.then_some(1)).collect();
    o.put("resources", |f| {
        list(f, &lens, |ef, m| strukt(ef, m, None, |r| resource_fields(r, &in_list, !v1)))
    })?;
    if !v1 {
        let all: Vec<&&Finding<'_>> = xs.iter().collect();
        o.put("resource", |f| {
            strukt(f, n, validity(listed.iter().map(|&l| !l)), |r| resource_fields(r, &all, false))
        })?;
    }
    {
        // Security Hub's own (CSPM) findings carry a compliance verdict and Inspector's a CVE
        // with its CVSS score (one in v1, a list in v2), as AWS's published queries over these
        // columns expect; the others leave them null.
        let cspm: Vec<bool> = xs.iter().map(|x| x.product == "Security Hub").collect();
        let control: Vec<Option<&str>> = xs
            .iter()
            .zip(&cspm)
            .map(|(x, &c)| c.then(|| if x.ftype.contains("CIS") { "CIS.2.1" } else { "EC2.8" }))
            .collect();
        let status: Vec<Option<&str>> = xs
            .iter()
            .zip(&cspm)
            .map(|(x, &c)| c.then_some(if x.uid % 4 == 0 { "PASSED" } else { "FAILED" }))
            .collect();
        o.put("compliance", |f| {
            strukt(f, n, validity(cspm.iter().copied()), |cp| {
                if !v1 {
                    cp.put("control", |f| strs(f, n, control.iter().copied()))?;
                }
                cp.put("status", |f| strs(f, n, status.iter().copied()))
            })
        })?;
        let inspector: Vec<&&Finding<'_>> = xs.iter().filter(|x| x.product == "Inspector").collect();
        let cve: Vec<String> = inspector.iter().map(|x| format!("CVE-2024-{}", 1000 + x.uid % 9000)).collect();
        // CVSS base scores in tenths, 2.0 to 9.9.
        let score: Vec<i64> = inspector.iter().map(|x| 20 + (x.uid % 80) as i64).collect();
        let lens: Vec<Option<usize>> = xs.iter().map(|x| (x.product == "Inspector").then_some(1)).collect();
        o.put("vulnerabilities", |f| {
            list(f, &lens, |ef, m| {
                strukt(ef, m, None, |vu| {
                    vu.put("cve", |f| {
                        strukt(f, m, None, |cv| {
                            cv.put("uid", |f| strs(f, m, cve.iter().map(|s| Some(s.as_str()))))?;
                            cv.put("cvss", |f| cvss(f, &score))
                        })
                    })?;
                    vu.put("vendor_name", |f| konst(f, m, "NVD"))?;
                    if !v1 {
                        vu.put("is_fix_available", |f| bools(f, inspector.iter().map(|x| Some(x.uid % 3 != 0))))?;
                    }
                    Ok(())
                })
            })
        })?;
    }
    o.put(if v1 { "finding" } else { "finding_info" }, |f| {
        strukt(f, n, None, |fi| {
            let sfx = if v1 { "" } else { "_dt" };
            let time = |f: &Field| if v1 { ints(f, at()) } else { times(f, at()) };
            fi.put(&format!("created_time{sfx}"), time)?;
            fi.put("uid", |f| strs(f, n, uid.iter().map(|s| Some(s.as_str()))))?;
            fi.put("desc", |f| strs(f, n, desc.iter().map(|s| Some(s.as_str()))))?;
            fi.put("title", |f| strs(f, n, title.iter().map(|s| Some(*s))))?;
            fi.put(&format!("modified_time{sfx}"), time)?;
            fi.put(&format!("first_seen_time{sfx}"), time)?;
            fi.put(&format!("last_seen_time{sfx}"), time)?;
            fi.put("types", |f| {
                list(f, &vec![Some(1); n], |ef, m| strs(ef, m, xs.iter().map(|x| Some(x.ftype))))
            })
        })
    })?;
    if v1 {
        o.put("state_id", |f| konst_int(f, n, 1))?;
        o.put("state", |f| konst(f, n, "New"))?;
    } else {
        o.put("message", |f| strs(f, n, desc.iter().map(|s| Some(s.as_str()))))?;
        o.put("status", |f| konst(f, n, "New"))?;
    }
    time_cols(o, v, &ts)?;
    let cls: Vec<Class> = xs
        .iter()
        .map(|x| {
            let (uid, name) = match (v, x.product) {
                (SourceVersion::V1, _) => (2001, "Security Finding"),
                (_, "GuardDuty" | "Macie") => (2004, "Detection Finding"),
                (_, "Inspector") => (2002, "Vulnerability Finding"),
                _ => (2003, "Compliance Finding"),
            };
            let severity_id = if x.ftype.contains("TTPs") || x.ftype.contains("Unusual") {
                4
            } else {
                3
            };
            Class {
                uid,
                name,
                category_uid: 2,
                category: "Findings",
                activity_id: 1,
                activity: "Create",
                severity_id,
            }
        })
        .collect();
    class_cols(o, &cls)
}

fn idp_auth(o: &mut Cols<'_>, xs: &[&Auth<'_>]) -> Res<()> {
    let n = xs.len();
    o.put("metadata", |f| {
        strukt(f, n, None, |m| {
            m.put("product", |f| {
                strukt(f, n, None, |p| {
                    p.put("version", |f| konst(f, n, "2024.01"))?;
                    p.put("name", |f| konst(f, n, "Okta"))?;
                    p.put("vendor_name", |f| konst(f, n, "Okta"))
                })
            })?;
            m.put("uid", |f| uuids(f, n, xs.iter().map(|x| x.uid)))?;
            m.put("profiles", |f| konst_list(f, n, &["datetime"]))?;
            m.put("version", |f| konst(f, n, "1.1.0"))
        })
    })?;
    o.put("cloud", |f| {
        strukt(f, n, None, |x| {
            x.put("provider", |f| konst(f, n, "Okta"))?;
            x.put("account", |f| account_struct(f, n, "external"))
        })
    })?;
    o.put("user", |f| {
        strukt(f, n, None, |u| {
            u.put("uid", |f| {
                text(f, n, n * 6, |b| {
                    for x in xs {
                        let _ = write!(b, "00u{}", x.user.len());
                        b.append_value("");
                    }
                })
            })?;
            u.put("name", |f| strs(f, n, xs.iter().map(|x| Some(x.user.as_ref()))))?;
            u.put("email_addr", |f| strs(f, n, xs.iter().map(|x| Some(x.user.as_ref()))))?;
            u.put("type_id", |f| konst_int(f, n, 1))
        })
    })?;
    o.put("src_endpoint", |f| {
        strukt(f, n, None, |s| {
            s.put("ip", |f| strs(f, n, xs.iter().map(|x| Some(x.ip.as_ref()))))?;
            s.put("location", |f| {
                strukt(f, n, None, |l| l.put("country", |f| strs(f, n, xs.iter().map(|x| Some(x.country)))))
            })
        })
    })?;
    o.put("http_request", |f| {
        strukt(f, n, None, |h| {
            h.put("user_agent", |f| {
                konst(
                    f,
                    n,
                    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 Safari/605.1.15",
                )
            })
        })
    })?;
    o.put("service", |f| {
        strukt(f, n, None, |s| {
            s.put("name", |f| konst(f, n, "Okta Dashboard"))?;
            s.put("uid", |f| konst(f, n, "0oa1dashboard"))
        })
    })?;
    o.put("auth_protocol", |f| konst(f, n, "SAML"))?;
    o.put("auth_protocol_id", |f| konst_int(f, n, 5))?;
    o.put("is_mfa", |f| bools(f, xs.iter().map(|x| Some(x.mfa))))?;
    o.put("status", |f| {
        strs(f, n, xs.iter().map(|x| Some(if x.ok { "Success" } else { "Failure" })))
    })?;
    o.put("status_id", |f| ints(f, xs.iter().map(|x| Some(if x.ok { 1 } else { 2 }))))?;
    o.put("status_detail", |f| {
        strs(f, n, xs.iter().map(|x| (!x.ok).then_some("INVALID_CREDENTIALS")))
    })?;
    let ts: Vec<i64> = xs.iter().map(|x| x.time).collect();
    time_cols(o, SourceVersion::V2, &ts)?;
    let cls: Vec<Class> = xs
        .iter()
        .map(|x| Class {
            uid: 3002,
            name: "Authentication",
            category_uid: 3,
            category: "Identity & Access Management",
            activity_id: 1,
            activity: "Logon",
            severity_id: if x.ok { 1 } else { 3 },
        })
        .collect();
    class_cols(o, &cls)
}
