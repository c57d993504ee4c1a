//! The function catalogue and the one scalar UDF behind it: [`Kind`] (one variant per Trino
//! function, documenting its semantics), [`SCALAR_FUNCS`] (name → kind) and [`TrinoFn`], whose
//! `ScalarUDFImpl` coerces the arguments, computes the return type and dispatches each kind to the
//! evaluation code of its family (`datetime`, `net`, `json`, `strings`, `collections`). The
//! per-kind `match`es live here, in one place, so adding a function touches this file and its
//! family's file.

use std::str::FromStr;
use std::sync::Arc;

use chrono::NaiveDate;
use datafusion::arrow::array::timezone::Tz;
use datafusion::arrow::array::{Array, ArrayRef, AsArray, BooleanArray, Date32Array, Int64Array, StringBuilder};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, TimeUnit};
use datafusion::common::{exec_datafusion_err, exec_err, plan_datafusion_err, plan_err, Result, ScalarValue};
use datafusion::logical_expr::expr::Case;
use datafusion::logical_expr::simplify::{ExprSimplifyResult, SimplifyContext};
use datafusion::logical_expr::type_coercion::binary::{comparison_coercion, type_union_resolution};
use datafusion::logical_expr::{ColumnarValue, Expr, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility};

use super::collections::eval_element_at;
use super::columns::{map_str_to_bool, map_str_to_str, scalar_i64, I64Col, StrCol};
use super::datetime::{
    date_to_days, eval_date_add, eval_date_diff, eval_from_unixtime, eval_to_unixtime, extract_part, last_day_of_month, mysql_format,
    mysql_parse, naive_to_ts, parse_iso_date, parse_iso_timestamp, TempCol,
};
use super::json::eval_json_path;
use super::net::{
    eval_contains, is_private_ip, parse_ip, parse_prefix, parse_url, percent_decode_lossy, url_encode, url_form_decode, url_parameter,
    Prefix,
};
use super::strings::{eval_regexp_extract, eval_regexp_replace, eval_split, eval_split_part};

// ---------------------------------------------------------------------------
// Function catalogue
// ---------------------------------------------------------------------------

/// Calendar field extracted by the Trino field functions (`year(x)`, `hour(x)` …).
/// All return BIGINT, computed on the wall-clock time of the value's own time
/// zone (UTC for zone-less timestamps). DATE inputs are treated as midnight.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum Part {
    Year,
    Quarter,
    Month,
    /// ISO-8601 week of the year (1–53), like Trino `week`/`week_of_year`.
    Week,
    Day,
    /// ISO day of week, Monday = 1 … Sunday = 7 (Trino `day_of_week`/`dow`).
    DayOfWeek,
    DayOfYear,
    /// ISO week-numbering year (Trino `year_of_week`/`yow`).
    YearOfWeek,
    Hour,
    Minute,
    Second,
    Millisecond,
}

/// Component returned by the `url_extract_*` functions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum UrlPart {
    Protocol,
    Host,
    Port,
    Path,
    Query,
    Fragment,
}

/// The implemented functions. Each variant documents the Trino semantics it
/// mirrors and the deviations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum Kind {
    /// `from_unixtime(unixtime)`, `from_unixtime(unixtime, zone)`,
    /// `from_unixtime(unixtime, hours, minutes)`.
    /// `unixtime` is seconds since the epoch as BIGINT or DOUBLE (fractions kept
    /// to the millisecond, rounded as in Trino). Returns `Timestamp(ms, "UTC")`
    /// (Trino: `timestamp(3) with time zone`), or `Timestamp(ms, zone)` when a
    /// constant zone / hour+minute offset is given. Out-of-range or non-finite
    /// input yields NULL.
    FromUnixtime,
    /// `from_unixtime_nanos(nanos bigint)` → `Timestamp(ns, "UTC")`.
    FromUnixtimeNanos,
    /// `to_unixtime(ts)` → DOUBLE seconds since the epoch, with fractional
    /// seconds (DataFusion's built-in returns a truncated BIGINT). Also accepts
    /// DATE, ISO-8601 VARCHAR (NULL if unparsable) and numbers (returned as is).
    ToUnixtime,
    /// `from_iso8601_timestamp(varchar)` → `Timestamp(ms, "UTC")`. Accepts
    /// `YYYY[-MM[-DD]][(T| )hh[:mm[:ss[(.|,)fff…]]]][Z|±hh[[:]mm]]`; a missing
    /// zone means UTC (Athena's session zone). Unparsable → NULL.
    FromIso8601Timestamp,
    /// `from_iso8601_date(varchar)` → DATE. Unparsable → NULL.
    FromIso8601Date,
    /// `to_iso8601(ts|date)` → VARCHAR, e.g. `2020-05-11T11:15:05.000Z`; the
    /// fraction has the precision of the input unit; zone-less timestamps have no
    /// zone suffix, zero offsets print `Z`, others `±hh:mm`.
    ToIso8601,
    /// `date_add(unit, value, ts|date)`. Units (case-insensitive): millisecond,
    /// second, minute, hour, day, week, month, quarter, year. Sub-day units are
    /// exact durations; day/week/month/quarter/year are applied to the local
    /// wall-clock of the value's zone, and month arithmetic clamps to the last
    /// day of the month (Jan 31 + 1 month = Feb 28/29), like Trino. Returns the
    /// input type. Unknown unit → error; overflow → NULL.
    DateAdd,
    /// `date_diff(unit, ts1, ts2)` → BIGINT number of whole `unit`s from ts1 to
    /// ts2 (negative if ts2 < ts1), truncated toward zero; month/quarter/year
    /// count complete calendar months like Trino/Joda
    /// (`date_diff('month', DATE '2020-01-31', DATE '2020-02-28') = 0`, and
    /// `= 1` for `DATE '2020-02-29'`, the last day of February).
    DateDiff,
    /// `date_format(ts, format)` with MySQL specifiers (%Y %m %d %H %i %s %T %f
    /// %p %j %W %a %M %b %c %e %k %l %h %I %r %y %v %x %U %u %V %X %w %D %%);
    /// any other `%x` prints `x`. Formats the wall-clock time of the value's zone.
    DateFormat,
    /// `date_parse(varchar, format)` → `Timestamp(ms, None)` (Trino: timestamp(3)),
    /// MySQL specifiers as above (week specifiers unsupported → error).
    /// Unparsable input → NULL.
    DateParse,
    /// `date(x)`: `CAST(x AS DATE)` for timestamps (local date), dates and
    /// `YYYY-MM-DD` strings (NULL if unparsable).
    Date,
    /// `last_day_of_month(x)` → DATE.
    LastDayOfMonth,
    /// Field extraction, see [`Part`].
    Extract(Part),
    /// `contains(a, b)`, dispatching on the arguments (Trino overloads both
    /// `contains(array(T), T)` and `contains(varchar CIDR, ipaddress)`):
    ///
    /// 1. `a` is an ARRAY → Trino array membership: true if an element equals
    ///    `b`; NULL if `b` is NULL, or if not found and the array has NULL
    ///    elements; otherwise false. (DataFusion's `array_has` returns false in
    ///    the latter case.)
    /// 2. `a` is a VARCHAR whose text is `<ip>/<len>` → Trino CIDR test:
    ///    true if the IP text `b` (IPv4 or IPv6; IPv4-mapped IPv6 is treated as
    ///    IPv4) lies in the network. Different address families → false.
    ///    As an extension, `b` may itself be a CIDR (true if it is a subnet).
    ///    NULL if `b` is not an IP, or if `a` is an invalid CIDR that Trino
    ///    would reject (IPv4 host bits set, prefix too long).
    /// 3. Otherwise (e.g. `contains('/usr/bin/curl', 'curl')`) → DataFusion's
    ///    substring semantics: true if `b` occurs in `a`.
    ///
    /// NULL in either argument → NULL.
    Contains,
    /// `is_private_ip(ip varchar)` → true for RFC 1918 (10/8, 172.16/12,
    /// 192.168/16), loopback (127/8, ::1), link-local (169.254/16, fe80::/10)
    /// and IPv6 ULA (fc00::/7). IPv4-mapped IPv6 addresses are checked as IPv4.
    /// CGNAT (100.64/10), 0/8, multicast and documentation ranges are *not*
    /// private here. Unparsable → NULL. (Not available in Athena engine v3.)
    IsPrivateIp,
    /// `ipaddress(varchar)`: emulates `CAST(x AS IPADDRESS)` by returning the
    /// canonical text (IPv4 dotted quad, IPv4-mapped IPv6 shown as IPv4, IPv6 in
    /// RFC 5952 form). Unparsable → NULL.
    IpAddress,
    /// `ipprefix(varchar)`: emulates `CAST(x AS IPPREFIX)`: canonical
    /// `addr/len` with host bits cleared. Unparsable → NULL.
    IpPrefixCast,
    /// `ip_prefix(ip, prefix_bits)` → canonical prefix text.
    IpPrefix,
    /// `is_subnet_of(prefix, ip_or_prefix)` → boolean (IPv4 compared inside the
    /// IPv4-mapped IPv6 space, as Trino's IPPREFIX does).
    IsSubnetOf,
    /// `ip_subnet_min(prefix)` → smallest address of the prefix.
    IpSubnetMin,
    /// `ip_subnet_max(prefix)` → largest address of the prefix.
    IpSubnetMax,
    /// `url_extract_*(url)`, mirroring Trino's use of `java.net.URI`: a URL that
    /// cannot be parsed → NULL; a missing component → '' (missing port → NULL).
    /// Path, query and fragment are percent-decoded; the host keeps IPv6 brackets.
    UrlExtract(UrlPart),
    /// `url_extract_parameter(url, name)` → first value of query parameter `name`
    /// (decoded, '+' = space), '' if present without '=', NULL if absent.
    UrlExtractParameter,
    /// `url_encode(varchar)`: form-encoding (space → '+', unreserved
    /// `A-Za-z0-9-_.*` kept, everything else `%XX` of the UTF-8 bytes).
    UrlEncode,
    /// `url_decode(varchar)`: inverse of `url_encode`. Malformed escapes → NULL.
    UrlDecode,
    /// `json_extract_scalar(json, path)` → VARCHAR value of a scalar (string
    /// unquoted, number, boolean); NULL for objects, arrays, JSON null, missing
    /// paths and invalid JSON. Path syntax (Trino's): `$`, `.key`, `[n]`,
    /// `["key"]`, `['key']`; a bracketed or dotted number indexes arrays.
    /// Wildcards/filters are not supported (error). Numbers are re-serialised
    /// (`1.50` → `1.5`).
    JsonExtractScalar,
    /// `json_extract(json, path)` → JSON text of the value (Trino returns the
    /// JSON type; here VARCHAR). Missing → NULL.
    JsonExtract,
    /// `json_array_length(json)` → BIGINT, NULL if not an array.
    JsonArrayLength,
    /// `json_size(json, path)` → size of the object/array at `path`, 0 for
    /// scalars, NULL if missing.
    JsonSize,
    /// `json_parse(varchar)` → compact JSON text (NULL if invalid).
    JsonParse,
    /// `json_format(json)` → compact JSON text (NULL if invalid).
    JsonFormat,
    /// `split(string, delimiter[, limit])` → ARRAY(VARCHAR). With `limit`, the
    /// last element holds the rest of the string. Empty delimiter or limit ≤ 0
    /// → error (as Trino).
    Split,
    /// `split_part(string, delimiter, index)`: 1-based field; NULL when `index`
    /// exceeds the number of fields (DataFusion returns ''); index ≤ 0 → error;
    /// empty delimiter → the index-th character.
    SplitPart,
    /// `regexp_extract(string, pattern[, group])` → first match (or the given
    /// capture group of it); NULL if no match or the group does not exist
    /// (Trino errors for a non-existent group). Rust regex syntax.
    RegexpExtract,
    /// `regexp_replace(string, pattern[, replacement])`: replaces *every* match
    /// (Trino) — DataFusion's built-in replaces only the first unless the 'g'
    /// flag is given. Replacement uses Java syntax: `$1`, `${name}`, `\$`.
    /// The 2-argument form removes the matches. A 4-argument call is passed to
    /// DataFusion's implementation unchanged (Postgres semantics and flags).
    RegexpReplace,
    /// `if(condition, true_value[, false_value])` → rewritten to
    /// `CASE WHEN condition THEN true_value [ELSE false_value] END` during
    /// optimisation, so the branch not taken is not evaluated (as in Trino).
    /// A NULL condition selects the false branch (NULL without one).
    If,
    /// `element_at(array, index)` → element (1-based; negative counts from the
    /// end; out of bounds → NULL; 0 → error) and `element_at(map, key)` → value
    /// or NULL (DataFusion's alias returns a list).
    ElementAt,
}

pub(super) const SCALAR_FUNCS: &[(&str, Kind)] = &[
    ("from_unixtime", Kind::FromUnixtime),
    ("from_unixtime_nanos", Kind::FromUnixtimeNanos),
    ("to_unixtime", Kind::ToUnixtime),
    ("from_iso8601_timestamp", Kind::FromIso8601Timestamp),
    ("from_iso8601_date", Kind::FromIso8601Date),
    ("to_iso8601", Kind::ToIso8601),
    ("date_add", Kind::DateAdd),
    ("date_diff", Kind::DateDiff),
    ("date_format", Kind::DateFormat),
    ("date_parse", Kind::DateParse),
    ("date", Kind::Date),
    ("last_day_of_month", Kind::LastDayOfMonth),
    ("year", Kind::Extract(Part::Year)),
    ("quarter", Kind::Extract(Part::Quarter)),
    ("month", Kind::Extract(Part::Month)),
    ("week", Kind::Extract(Part::Week)),
    ("week_of_year", Kind::Extract(Part::Week)),
    ("day", Kind::Extract(Part::Day)),
    ("day_of_month", Kind::Extract(Part::Day)),
    ("day_of_week", Kind::Extract(Part::DayOfWeek)),
    ("dow", Kind::Extract(Part::DayOfWeek)),
    ("day_of_year", Kind::Extract(Part::DayOfYear)),
    ("doy", Kind::Extract(Part::DayOfYear)),
    ("year_of_week", Kind::Extract(Part::YearOfWeek)),
    ("yow", Kind::Extract(Part::YearOfWeek)),
    ("hour", Kind::Extract(Part::Hour)),
    ("minute", Kind::Extract(Part::Minute)),
    ("second", Kind::Extract(Part::Second)),
    ("millisecond", Kind::Extract(Part::Millisecond)),
    ("contains", Kind::Contains),
    ("is_private_ip", Kind::IsPrivateIp),
    ("ipaddress", Kind::IpAddress),
    ("ipprefix", Kind::IpPrefixCast),
    ("ip_prefix", Kind::IpPrefix),
    ("is_subnet_of", Kind::IsSubnetOf),
    ("ip_subnet_min", Kind::IpSubnetMin),
    ("ip_subnet_max", Kind::IpSubnetMax),
    ("url_extract_host", Kind::UrlExtract(UrlPart::Host)),
    ("url_extract_port", Kind::UrlExtract(UrlPart::Port)),
    ("url_extract_protocol", Kind::UrlExtract(UrlPart::Protocol)),
    ("url_extract_path", Kind::UrlExtract(UrlPart::Path)),
    ("url_extract_query", Kind::UrlExtract(UrlPart::Query)),
    ("url_extract_fragment", Kind::UrlExtract(UrlPart::Fragment)),
    ("url_extract_parameter", Kind::UrlExtractParameter),
    ("url_encode", Kind::UrlEncode),
    ("url_decode", Kind::UrlDecode),
    ("json_extract_scalar", Kind::JsonExtractScalar),
    ("json_extract", Kind::JsonExtract),
    ("json_array_length", Kind::JsonArrayLength),
    ("json_size", Kind::JsonSize),
    ("json_parse", Kind::JsonParse),
    ("json_format", Kind::JsonFormat),
    ("split", Kind::Split),
    ("split_part", Kind::SplitPart),
    ("regexp_extract", Kind::RegexpExtract),
    ("regexp_replace", Kind::RegexpReplace),
    ("element_at", Kind::ElementAt),
    ("if", Kind::If),
];

/// One Trino function; the behaviour is selected by [`Kind`].
#[derive(Debug, PartialEq, Eq, Hash)]
pub(super) struct TrinoFn {
    name: &'static str,
    kind: Kind,
    signature: Signature,
}

impl TrinoFn {
    pub(super) fn new(name: &'static str, kind: Kind) -> Self {
        Self {
            name,
            kind,
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

// ---------------------------------------------------------------------------
// Type coercion helpers
// ---------------------------------------------------------------------------

pub(super) fn is_string(t: &DataType) -> bool {
    matches!(t, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View)
}

fn coerce_str(name: &str, t: &DataType) -> Result<DataType> {
    match t {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => Ok(t.clone()),
        DataType::Null => Ok(DataType::Utf8),
        DataType::Dictionary(_, v) if is_string(v) => Ok(v.as_ref().clone()),
        other => plan_err!("{name}: expected a VARCHAR argument, got {other}"),
    }
}

fn coerce_int(name: &str, t: &DataType) -> Result<DataType> {
    if t.is_integer() || matches!(t, DataType::Null) {
        Ok(DataType::Int64)
    } else {
        plan_err!("{name}: expected a BIGINT argument, got {t}")
    }
}

fn coerce_temporal(name: &str, t: &DataType) -> Result<DataType> {
    match t {
        DataType::Timestamp(_, _) | DataType::Date32 => Ok(t.clone()),
        DataType::Date64 => Ok(DataType::Date32),
        // Convenience (Trino would reject VARCHAR): parse with DataFusion's cast.
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => Ok(DataType::Timestamp(TimeUnit::Nanosecond, None)),
        DataType::Null => Ok(DataType::Timestamp(TimeUnit::Millisecond, None)),
        DataType::Dictionary(_, v) => coerce_temporal(name, v),
        other => plan_err!("{name}: expected a TIMESTAMP or DATE argument, got {other}"),
    }
}

fn check_arity(name: &str, types: &[DataType], min: usize, max: usize) -> Result<()> {
    if types.len() < min || types.len() > max {
        if min == max {
            return plan_err!("{name} expects {min} argument(s), got {}", types.len());
        }
        return plan_err!("{name} expects {min} to {max} arguments, got {}", types.len());
    }
    Ok(())
}

pub(super) fn list_field(t: &DataType) -> Option<&FieldRef> {
    match t {
        DataType::List(f) | DataType::LargeList(f) | DataType::FixedSizeList(f, _) => Some(f),
        _ => None,
    }
}

fn utc() -> Option<Arc<str>> {
    Some(Arc::from("UTC"))
}

impl ScalarUDFImpl for TrinoFn {
    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, t: &[DataType]) -> Result<Vec<DataType>> {
        let n = self.name;
        use Kind::*;
        match self.kind {
            FromUnixtime => {
                check_arity(n, t, 1, 3)?;
                let first = match &t[0] {
                    x if x.is_integer() || matches!(x, DataType::Null) => DataType::Int64,
                    x if x.is_numeric() => DataType::Float64,
                    x => return plan_err!("{n}: expected a numeric argument, got {x}"),
                };
                let mut out = vec![first];
                if t.len() == 2 {
                    out.push(coerce_str(n, &t[1])?);
                } else if t.len() == 3 {
                    out.push(coerce_int(n, &t[1])?);
                    out.push(coerce_int(n, &t[2])?);
                }
                Ok(out)
            }
            FromUnixtimeNanos => {
                check_arity(n, t, 1, 1)?;
                Ok(vec![coerce_int(n, &t[0])?])
            }
            ToUnixtime => {
                check_arity(n, t, 1, 1)?;
                Ok(vec![match &t[0] {
                    DataType::Timestamp(_, _) | DataType::Date32 => t[0].clone(),
                    DataType::Date64 => DataType::Date32,
                    x if is_string(x) => x.clone(),
                    x if x.is_numeric() || matches!(x, DataType::Null) => DataType::Float64,
                    x => return plan_err!("{n}: unsupported argument type {x}"),
                }])
            }
            FromIso8601Timestamp | FromIso8601Date | IsPrivateIp | IpAddress | IpPrefixCast | IpSubnetMin | IpSubnetMax | UrlExtract(_)
            | UrlEncode | UrlDecode | JsonArrayLength | JsonParse | JsonFormat => {
                check_arity(n, t, 1, 1)?;
                Ok(vec![coerce_str(n, &t[0])?])
            }
            ToIso8601 | LastDayOfMonth | Extract(_) => {
                check_arity(n, t, 1, 1)?;
                Ok(vec![coerce_temporal(n, &t[0])?])
            }
            Date => {
                check_arity(n, t, 1, 1)?;
                Ok(vec![match &t[0] {
                    x if is_string(x) => x.clone(),
                    DataType::Dictionary(_, v) if is_string(v) => v.as_ref().clone(),
                    x => coerce_temporal(n, x)?,
                }])
            }
            DateAdd => {
                check_arity(n, t, 3, 3)?;
                Ok(vec![coerce_str(n, &t[0])?, coerce_int(n, &t[1])?, coerce_temporal(n, &t[2])?])
            }
            DateDiff => {
                check_arity(n, t, 3, 3)?;
                let a = coerce_temporal(n, &t[1])?;
                let b = coerce_temporal(n, &t[2])?;
                Ok(vec![coerce_str(n, &t[0])?, a, b])
            }
            DateFormat => {
                check_arity(n, t, 2, 2)?;
                Ok(vec![coerce_temporal(n, &t[0])?, coerce_str(n, &t[1])?])
            }
            DateParse | UrlExtractParameter | JsonExtractScalar | JsonExtract | JsonSize | IsSubnetOf => {
                check_arity(n, t, 2, 2)?;
                Ok(vec![coerce_str(n, &t[0])?, coerce_str(n, &t[1])?])
            }
            IpPrefix => {
                check_arity(n, t, 2, 2)?;
                Ok(vec![coerce_str(n, &t[0])?, coerce_int(n, &t[1])?])
            }
            Contains => {
                check_arity(n, t, 2, 2)?;
                if let Some(f) = list_field(&t[0]) {
                    let elem = f.data_type();
                    let common = if elem == &t[1] || t[1] == DataType::Null {
                        elem.clone()
                    } else {
                        comparison_coercion(elem, &t[1])
                            .ok_or_else(|| plan_datafusion_err!("{n}: cannot compare array elements of type {elem} with {}", t[1]))?
                    };
                    let field = Arc::new(Field::new(f.name(), common.clone(), true));
                    let list = match &t[0] {
                        DataType::LargeList(_) => DataType::LargeList(field),
                        _ => DataType::List(field),
                    };
                    Ok(vec![list, common])
                } else {
                    Ok(vec![coerce_str(n, &t[0])?, coerce_str(n, &t[1])?])
                }
            }
            Split => {
                check_arity(n, t, 2, 3)?;
                let mut out = vec![coerce_str(n, &t[0])?, coerce_str(n, &t[1])?];
                if t.len() == 3 {
                    out.push(coerce_int(n, &t[2])?);
                }
                Ok(out)
            }
            If => {
                check_arity(n, t, 2, 3)?;
                if !matches!(t[0], DataType::Boolean | DataType::Null) {
                    return plan_err!("{n}: the condition must be BOOLEAN, got {}", t[0]);
                }
                let common = if t.len() == 3 {
                    type_union_resolution(&[t[1].clone(), t[2].clone()])
                        .ok_or_else(|| plan_datafusion_err!("{n}: incompatible branch types {} and {}", t[1], t[2]))?
                } else {
                    t[1].clone()
                };
                let mut out = vec![DataType::Boolean, common.clone()];
                if t.len() == 3 {
                    out.push(common);
                }
                Ok(out)
            }
            SplitPart => {
                check_arity(n, t, 3, 3)?;
                Ok(vec![coerce_str(n, &t[0])?, coerce_str(n, &t[1])?, coerce_int(n, &t[2])?])
            }
            RegexpExtract => {
                check_arity(n, t, 2, 3)?;
                let mut out = vec![DataType::Utf8, DataType::Utf8];
                coerce_str(n, &t[0])?;
                coerce_str(n, &t[1])?;
                if t.len() == 3 {
                    out.push(coerce_int(n, &t[2])?);
                }
                Ok(out)
            }
            RegexpReplace => {
                check_arity(n, t, 2, 4)?;
                for x in t {
                    coerce_str(n, x)?;
                }
                Ok(vec![DataType::Utf8; t.len()])
            }
            ElementAt => {
                check_arity(n, t, 2, 2)?;
                match &t[0] {
                    DataType::Map(entries, _) => {
                        let key = match entries.data_type() {
                            DataType::Struct(fs) if fs.len() == 2 => fs[0].data_type().clone(),
                            other => return plan_err!("{n}: malformed map type {other}"),
                        };
                        Ok(vec![t[0].clone(), key])
                    }
                    DataType::List(_) | DataType::LargeList(_) => Ok(vec![t[0].clone(), coerce_int(n, &t[1])?]),
                    DataType::FixedSizeList(f, _) => Ok(vec![DataType::List(Arc::clone(f)), coerce_int(n, &t[1])?]),
                    DataType::Null => Ok(vec![DataType::Null, t[1].clone()]),
                    other => plan_err!("{n}: expected an ARRAY or MAP, got {other}"),
                }
            }
        }
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        self.ret_type(arg_types, &[])
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        let types: Vec<DataType> = args.arg_fields.iter().map(|f| f.data_type().clone()).collect();
        let rt = self.ret_type(&types, args.scalar_arguments)?;
        Ok(Arc::new(Field::new(self.name, rt, true)))
    }

    fn simplify(&self, args: Vec<Expr>, _info: &SimplifyContext) -> Result<ExprSimplifyResult> {
        if self.kind != Kind::If || !(2..=3).contains(&args.len()) {
            return Ok(ExprSimplifyResult::Original(args));
        }
        let mut it = args.into_iter();
        let (Some(cond), Some(then)) = (it.next(), it.next()) else {
            return plan_err!("if expects 2 or 3 arguments");
        };
        let otherwise = it.next().map(Box::new);
        Ok(ExprSimplifyResult::Simplified(Expr::Case(Case::new(
            None,
            vec![(Box::new(cond), Box::new(then))],
            otherwise,
        ))))
    }

    fn short_circuits(&self) -> bool {
        self.kind == Kind::If
    }

    fn conditional_arguments<'a>(&self, args: &'a [Expr]) -> Option<(Vec<&'a Expr>, Vec<&'a Expr>)> {
        if self.kind != Kind::If || args.is_empty() {
            return None;
        }
        Some((vec![&args[0]], args[1..].iter().collect()))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let all_scalar = args.args.iter().all(|a| matches!(a, ColumnarValue::Scalar(_)));
        let n = if all_scalar { 1 } else { args.number_rows };
        let out = self.eval(&args, n)?;
        if all_scalar {
            Ok(ColumnarValue::Scalar(ScalarValue::try_from_array(&out, 0)?))
        } else {
            Ok(ColumnarValue::Array(out))
        }
    }
}

impl TrinoFn {
    fn ret_type(&self, t: &[DataType], scalars: &[Option<&ScalarValue>]) -> Result<DataType> {
        use Kind::*;
        let n = self.name;
        Ok(match self.kind {
            FromUnixtime => {
                let zone: Option<Arc<str>> = match t.len() {
                    2 => {
                        let Some(Some(s)) = scalars.get(1) else {
                            return plan_err!("{n}: the time zone must be a constant");
                        };
                        let Some(Some(tz)) = s.try_as_str() else {
                            return plan_err!("{n}: the time zone must be a non-null string");
                        };
                        if Tz::from_str(tz).is_err() {
                            return plan_err!("{n}: unknown time zone '{tz}'");
                        }
                        Some(Arc::from(tz))
                    }
                    3 => {
                        let h = scalars.get(1).copied().flatten().and_then(scalar_i64);
                        let m = scalars.get(2).copied().flatten().and_then(scalar_i64);
                        let (Some(h), Some(m)) = (h, m) else {
                            return plan_err!("{n}: hours and minutes must be constants");
                        };
                        Some(Arc::from(
                            offset_string(h, m).ok_or_else(|| exec_datafusion_err!("{n}: invalid offset {h}:{m}"))?,
                        ))
                    }
                    _ => utc(),
                };
                DataType::Timestamp(TimeUnit::Millisecond, zone)
            }
            FromUnixtimeNanos => DataType::Timestamp(TimeUnit::Nanosecond, utc()),
            ToUnixtime => DataType::Float64,
            FromIso8601Timestamp => DataType::Timestamp(TimeUnit::Millisecond, utc()),
            FromIso8601Date | Date | LastDayOfMonth => DataType::Date32,
            DateParse => DataType::Timestamp(TimeUnit::Millisecond, None),
            DateAdd => match t.get(2) {
                Some(x) => x.clone(),
                None => return plan_err!("{n} expects 3 arguments"),
            },
            DateDiff | Extract(_) | JsonArrayLength | JsonSize => DataType::Int64,
            UrlExtract(UrlPart::Port) => DataType::Int64,
            Contains | IsPrivateIp | IsSubnetOf => DataType::Boolean,
            ToIso8601 | DateFormat | IpAddress | IpPrefixCast | IpPrefix | IpSubnetMin | IpSubnetMax | UrlExtract(_)
            | UrlExtractParameter | UrlEncode | UrlDecode | JsonExtractScalar | JsonExtract | JsonParse | JsonFormat | SplitPart
            | RegexpExtract | RegexpReplace => DataType::Utf8,
            If => match t.get(1) {
                Some(x) => x.clone(),
                None => return plan_err!("{n} expects 2 or 3 arguments"),
            },
            Split => DataType::new_list(DataType::Utf8, true),
            ElementAt => match t.first() {
                Some(DataType::Map(entries, _)) => match entries.data_type() {
                    DataType::Struct(fs) if fs.len() == 2 => fs[1].data_type().clone(),
                    other => return plan_err!("{n}: malformed map type {other}"),
                },
                Some(DataType::List(f) | DataType::LargeList(f) | DataType::FixedSizeList(f, _)) => f.data_type().clone(),
                Some(DataType::Null) => DataType::Null,
                other => return plan_err!("{n}: expected an ARRAY or MAP, got {other:?}"),
            },
        })
    }

    fn eval(&self, args: &ScalarFunctionArgs, n: usize) -> Result<ArrayRef> {
        use Kind::*;
        let a = &args.args;
        let name = self.name;
        let rt = args.return_field.data_type();
        match self.kind {
            FromUnixtime => eval_from_unixtime(a, n, rt),
            FromUnixtimeNanos => {
                let v = a[0].to_array(n)?;
                Ok(cast(&cast(&v, &DataType::Int64)?, rt)?)
            }
            ToUnixtime => eval_to_unixtime(a, n),
            FromIso8601Timestamp => {
                let s = StrCol::new(&a[0])?;
                let v: Vec<Option<i64>> = (0..n)
                    .map(|i| {
                        s.get(i)
                            .and_then(parse_iso_timestamp)
                            .and_then(|dt| naive_to_ts(&dt, TimeUnit::Millisecond))
                    })
                    .collect();
                Ok(cast(&Int64Array::from(v), rt)?)
            }
            FromIso8601Date => {
                let s = StrCol::new(&a[0])?;
                let v: Vec<Option<i32>> = (0..n).map(|i| s.get(i).and_then(parse_iso_date).map(date_to_days)).collect();
                Ok(Arc::new(Date32Array::from(v)))
            }
            ToIso8601 => {
                let c = TempCol::new(&a[0], n)?;
                let mut b = StringBuilder::with_capacity(n, n * 24);
                for i in 0..n {
                    b.append_option(c.to_iso8601(i));
                }
                Ok(Arc::new(b.finish()))
            }
            DateAdd => eval_date_add(a, n, name),
            DateDiff => eval_date_diff(a, n, name),
            DateFormat => {
                let c = TempCol::new(&a[0], n)?;
                let f = StrCol::new(&a[1])?;
                let mut b = StringBuilder::with_capacity(n, n * 20);
                let mut s = String::new();
                for i in 0..n {
                    match (c.local(i), f.get(i)) {
                        (Some(dt), Some(fmt)) => {
                            s.clear();
                            mysql_format(&dt, fmt, &mut s).map_err(|e| exec_datafusion_err!("{name}: {e}"))?;
                            b.append_value(&s);
                        }
                        _ => b.append_null(),
                    }
                }
                Ok(Arc::new(b.finish()))
            }
            DateParse => {
                let s = StrCol::new(&a[0])?;
                let f = StrCol::new(&a[1])?;
                let mut v = Vec::with_capacity(n);
                for i in 0..n {
                    v.push(match (s.get(i), f.get(i)) {
                        (Some(s), Some(f)) => mysql_parse(s, f)
                            .map_err(|e| exec_datafusion_err!("{name}: {e}"))?
                            .and_then(|dt| naive_to_ts(&dt, TimeUnit::Millisecond)),
                        _ => None,
                    });
                }
                Ok(cast(&Int64Array::from(v), rt)?)
            }
            Date => {
                if is_string(&a[0].data_type()) {
                    let s = StrCol::new(&a[0])?;
                    let v: Vec<Option<i32>> = (0..n)
                        .map(|i| {
                            s.get(i)
                                .and_then(|x| NaiveDate::parse_from_str(x.trim(), "%Y-%m-%d").ok())
                                .map(date_to_days)
                        })
                        .collect();
                    Ok(Arc::new(Date32Array::from(v)))
                } else {
                    let c = TempCol::new(&a[0], n)?;
                    let v: Vec<Option<i32>> = (0..n).map(|i| c.local(i).map(|d| date_to_days(d.date()))).collect();
                    Ok(Arc::new(Date32Array::from(v)))
                }
            }
            LastDayOfMonth => {
                let c = TempCol::new(&a[0], n)?;
                let v: Vec<Option<i32>> = (0..n)
                    .map(|i| c.local(i).and_then(|d| last_day_of_month(d.date())).map(date_to_days))
                    .collect();
                Ok(Arc::new(Date32Array::from(v)))
            }
            Extract(part) => {
                let c = TempCol::new(&a[0], n)?;
                let v: Vec<Option<i64>> = (0..n).map(|i| c.local(i).map(|d| extract_part(&d, part))).collect();
                Ok(Arc::new(Int64Array::from(v)))
            }
            Contains => eval_contains(a, n, name),
            IsPrivateIp => map_str_to_bool(&a[0], n, |s| parse_ip(s).map(is_private_ip)),
            IpAddress => map_str_to_str(&a[0], n, |s| parse_ip(s).map(|ip| ip.to_string())),
            IpPrefixCast => map_str_to_str(&a[0], n, |s| parse_prefix(s).map(|p| p.to_string())),
            IpSubnetMin => map_str_to_str(&a[0], n, |s| parse_prefix(s).map(|p| p.first().to_string())),
            IpSubnetMax => map_str_to_str(&a[0], n, |s| parse_prefix(s).map(|p| p.last().to_string())),
            IpPrefix => {
                let s = StrCol::new(&a[0])?;
                let bits = I64Col::new(&a[1])?;
                let mut b = StringBuilder::with_capacity(n, n * 16);
                for i in 0..n {
                    let v = match (s.get(i).and_then(parse_ip), bits.get(i)) {
                        (Some(ip), Some(len)) => {
                            let max = if ip.is_ipv4() { 32 } else { 128 };
                            if !(0..=max).contains(&len) {
                                return exec_err!("{name}: prefix length {len} out of range for {ip}");
                            }
                            Some(Prefix::new_masked(ip, len as u8).to_string())
                        }
                        _ => None,
                    };
                    b.append_option(v);
                }
                Ok(Arc::new(b.finish()))
            }
            IsSubnetOf => {
                let p = StrCol::new(&a[0])?;
                let x = StrCol::new(&a[1])?;
                let v: Vec<Option<bool>> = (0..n)
                    .map(|i| {
                        let prefix = parse_prefix(p.get(i)?)?;
                        let other = x.get(i)?;
                        if other.contains('/') {
                            let sub = parse_prefix(other)?;
                            Some(prefix.contains_mapped(&sub.addr) && sub.len_mapped() >= prefix.len_mapped())
                        } else {
                            Some(prefix.contains_mapped(&parse_ip(other)?))
                        }
                    })
                    .collect();
                Ok(Arc::new(BooleanArray::from(v)))
            }
            UrlExtract(UrlPart::Port) => {
                let s = StrCol::new(&a[0])?;
                let v: Vec<Option<i64>> = (0..n).map(|i| parse_url(s.get(i)?)?.port).collect();
                Ok(Arc::new(Int64Array::from(v)))
            }
            UrlExtract(part) => map_str_to_str(&a[0], n, |s| {
                let u = parse_url(s)?;
                Some(match part {
                    UrlPart::Protocol => u.scheme.unwrap_or("").to_string(),
                    UrlPart::Host => u.host.unwrap_or("").to_string(),
                    UrlPart::Path => percent_decode_lossy(u.path),
                    UrlPart::Query => u.query.map(percent_decode_lossy).unwrap_or_default(),
                    UrlPart::Fragment => u.fragment.map(percent_decode_lossy).unwrap_or_default(),
                    UrlPart::Port => String::new(), // handled above (BIGINT)
                })
            }),
            UrlExtractParameter => {
                let s = StrCol::new(&a[0])?;
                let p = StrCol::new(&a[1])?;
                let mut b = StringBuilder::with_capacity(n, n * 8);
                for i in 0..n {
                    let v = match (s.get(i), p.get(i)) {
                        (Some(url), Some(param)) => url_parameter(url, param),
                        _ => None,
                    };
                    b.append_option(v);
                }
                Ok(Arc::new(b.finish()))
            }
            UrlEncode => map_str_to_str(&a[0], n, |s| Some(url_encode(s))),
            UrlDecode => map_str_to_str(&a[0], n, url_form_decode),
            JsonExtractScalar | JsonExtract | JsonSize => eval_json_path(self.kind, a, n, name),
            JsonArrayLength => {
                let s = StrCol::new(&a[0])?;
                let v: Vec<Option<i64>> = (0..n)
                    .map(|i| match serde_json::from_str::<serde_json::Value>(s.get(i)?) {
                        Ok(serde_json::Value::Array(v)) => Some(v.len() as i64),
                        _ => None,
                    })
                    .collect();
                Ok(Arc::new(Int64Array::from(v)))
            }
            JsonParse | JsonFormat => map_str_to_str(&a[0], n, |s| {
                serde_json::from_str::<serde_json::Value>(s)
                    .ok()
                    .and_then(|v| serde_json::to_string(&v).ok())
            }),
            Split => eval_split(a, n, name),
            SplitPart => eval_split_part(a, n, name),
            If => eval_if(a, n, rt),
            RegexpExtract => eval_regexp_extract(args, n, name),
            RegexpReplace => eval_regexp_replace(args, n),
            ElementAt => eval_element_at(a, n, name),
        }
    }
}

fn offset_string(h: i64, m: i64) -> Option<String> {
    // Trino: from_unixtime(x, hours, minutes) with the sign of `hours`.
    if !(-14..=14).contains(&h) || !(-59..=59).contains(&m) {
        return None;
    }
    let total = h * 60 + if h < 0 { -m.abs() } else { m };
    let sign = if total < 0 { '-' } else { '+' };
    let total = total.abs();
    Some(format!("{sign}{:02}:{:02}", total / 60, total % 60))
}

/// Eager fallback for `if` (normally rewritten to CASE by `simplify`).
fn eval_if(a: &[ColumnarValue], n: usize, rt: &DataType) -> Result<ArrayRef> {
    let cond = a[0].to_array(n)?;
    let cond = cast(&cond, &DataType::Boolean)?;
    let cond = cond.as_boolean();
    let mask = match cond.nulls() {
        Some(nulls) => BooleanArray::new(cond.values() & nulls.inner(), None),
        None => BooleanArray::new(cond.values().clone(), None),
    };
    let then = cast(&a[1].to_array(n)?, rt)?;
    let otherwise = match a.get(2) {
        Some(cv) => cast(&cv.to_array(n)?, rt)?,
        None => datafusion::arrow::array::new_null_array(rt, n),
    };
    Ok(datafusion::arrow::compute::kernels::zip::zip(&mask, &then, &otherwise)?)
}

#[cfg(test)]
mod tests {
    use super::super::tests::{ctx, row, rows};

    #[tokio::test]
    async fn if_function() {
        let ctx = ctx();
        let r = row(
            &ctx,
            "SELECT if(1 > 0, 'yes', 'no'), if(1 < 0, 'yes'), if(NULL, 1, 2), if(true, 1, 2.5)",
        )
        .await;
        assert_eq!(r, ["yes", "NULL", "2", "1.0"]);
        // the branch not taken is not evaluated (no division by zero)
        let r = rows(&ctx, "SELECT if(d <> 0, 10 / d, -1) FROM (VALUES (0), (5)) AS t(d)").await;
        assert_eq!(r, vec![vec!["-1"], vec!["2"]]);
    }
}
