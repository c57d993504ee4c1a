//! Date/time functions: `from_unixtime`, `to_unixtime`, `from_iso8601_*`, `to_iso8601`,
//! `date_add`, `date_diff`, `date_format`/`date_parse` (MySQL specifiers), `date`,
//! `last_day_of_month` and the field extractors. Holds the timestamp/zone plumbing ([`TempCol`]),
//! the ISO-8601 parser and the MySQL format/parse code, which only these functions use.

use std::fmt::Write as _;
use std::str::FromStr;
use std::sync::Arc;

use chrono::{DateTime, Datelike, Months, NaiveDate, NaiveDateTime, NaiveTime, Offset, TimeDelta, TimeZone, Timelike};
use datafusion::arrow::array::timezone::Tz;
use datafusion::arrow::array::{Array, ArrayRef, AsArray, Date32Array, Float64Array, Int32Array, Int64Array};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Float64Type, Int32Type, Int64Type, TimeUnit};
use datafusion::common::{exec_datafusion_err, exec_err, Result};
use datafusion::logical_expr::ColumnarValue;

use super::catalogue::{is_string, Part};
use super::columns::{I64Col, StrCol};

// ---------------------------------------------------------------------------
// Date / time
// ---------------------------------------------------------------------------

fn unit_per_sec(unit: TimeUnit) -> i64 {
    match unit {
        TimeUnit::Second => 1,
        TimeUnit::Millisecond => 1_000,
        TimeUnit::Microsecond => 1_000_000,
        TimeUnit::Nanosecond => 1_000_000_000,
    }
}

/// Raw timestamp value → UTC wall clock. `None` outside chrono's range.
pub(super) fn ts_to_naive(v: i64, unit: TimeUnit) -> Option<NaiveDateTime> {
    let per = unit_per_sec(unit);
    let secs = v.div_euclid(per);
    let sub = v.rem_euclid(per);
    let nanos = (sub * (1_000_000_000 / per)) as u32;
    DateTime::from_timestamp(secs, nanos).map(|d| d.naive_utc())
}

/// UTC wall clock → raw timestamp value (truncating below `unit`). `None` on overflow.
pub(super) fn naive_to_ts(dt: &NaiveDateTime, unit: TimeUnit) -> Option<i64> {
    let u = dt.and_utc();
    let secs = u.timestamp();
    let nanos = i64::from(u.timestamp_subsec_nanos());
    let per = unit_per_sec(unit);
    secs.checked_mul(per)?.checked_add(nanos / (1_000_000_000 / per))
}

fn epoch() -> NaiveDate {
    NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default()
}

pub(super) fn date_to_days(d: NaiveDate) -> i32 {
    let days = d.signed_duration_since(epoch()).num_days();
    days.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32
}

fn days_to_date(days: i32) -> Option<NaiveDate> {
    epoch().checked_add_signed(TimeDelta::try_days(i64::from(days))?)
}

pub(super) fn last_day_of_month(d: NaiveDate) -> Option<NaiveDate> {
    let first = d.with_day(1)?;
    first.checked_add_months(Months::new(1))?.pred_opt()
}

/// Local wall clock of a UTC instant in `tz`.
fn to_local(tz: Option<&Tz>, utc: NaiveDateTime) -> NaiveDateTime {
    match tz {
        None => utc,
        Some(tz) => {
            let off = tz.offset_from_utc_datetime(&utc).fix();
            utc.checked_add_signed(TimeDelta::seconds(i64::from(off.local_minus_utc())))
                .unwrap_or(utc)
        }
    }
}

/// UTC instant of a local wall clock in `tz` (earliest on DST overlaps; for a
/// wall clock inside a DST gap the pre-transition offset is used).
fn to_utc(tz: Option<&Tz>, local: NaiveDateTime) -> Option<NaiveDateTime> {
    match tz {
        None => Some(local),
        Some(tz) => match tz.from_local_datetime(&local).earliest() {
            Some(d) => Some(d.naive_utc()),
            None => {
                let off = tz.offset_from_utc_datetime(&local).fix();
                local.checked_sub_signed(TimeDelta::seconds(i64::from(off.local_minus_utc())))
            }
        },
    }
}

/// A temporal argument normalised to raw values + unit + zone.
pub(super) struct TempCol {
    vals: TempVals,
    tz: Option<Tz>,
    tz_name: Option<Arc<str>>,
}

enum TempVals {
    Ts(Int64Array, TimeUnit),
    Date(Int32Array),
}

impl TempCol {
    pub(super) fn new(cv: &ColumnarValue, n: usize) -> Result<Self> {
        let a = cv.to_array(n)?;
        Self::from_array(&a)
    }

    fn from_array(a: &ArrayRef) -> Result<Self> {
        match a.data_type() {
            DataType::Timestamp(unit, tz) => {
                let ints = cast(a, &DataType::Int64)?;
                let tz_parsed = match tz {
                    None => None,
                    Some(s) => Some(Tz::from_str(s).map_err(|e| exec_datafusion_err!("invalid time zone '{s}': {e}"))?),
                };
                Ok(TempCol {
                    vals: TempVals::Ts(ints.as_primitive::<Int64Type>().clone(), *unit),
                    tz: tz_parsed,
                    tz_name: tz.clone(),
                })
            }
            DataType::Date32 | DataType::Date64 => {
                let d = cast(a, &DataType::Date32)?;
                let ints = cast(&d, &DataType::Int32)?;
                Ok(TempCol {
                    vals: TempVals::Date(ints.as_primitive::<Int32Type>().clone()),
                    tz: None,
                    tz_name: None,
                })
            }
            DataType::Null => Ok(TempCol {
                vals: TempVals::Date(Int32Array::new_null(a.len())),
                tz: None,
                tz_name: None,
            }),
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => {
                let ts = cast(a, &DataType::Timestamp(TimeUnit::Nanosecond, None))?;
                Self::from_array(&ts)
            }
            other => exec_err!("expected a TIMESTAMP or DATE argument, got {other}"),
        }
    }

    fn is_date(&self) -> bool {
        matches!(self.vals, TempVals::Date(_))
    }

    fn utc(&self, i: usize) -> Option<NaiveDateTime> {
        match &self.vals {
            TempVals::Ts(a, unit) => (i < a.len() && a.is_valid(i)).then(|| ts_to_naive(a.value(i), *unit))?,
            TempVals::Date(a) => (i < a.len() && a.is_valid(i))
                .then(|| days_to_date(a.value(i)))?
                .map(|d| d.and_time(NaiveTime::MIN)),
        }
    }

    pub(super) fn local(&self, i: usize) -> Option<NaiveDateTime> {
        self.utc(i).map(|u| to_local(self.tz.as_ref(), u))
    }

    pub(super) fn to_iso8601(&self, i: usize) -> Option<String> {
        let local = self.local(i)?;
        match &self.vals {
            TempVals::Date(_) => Some(local.format("%Y-%m-%d").to_string()),
            TempVals::Ts(_, unit) => {
                let mut s = local.format("%Y-%m-%dT%H:%M:%S").to_string();
                let nanos = local.nanosecond() % 1_000_000_000;
                match unit {
                    TimeUnit::Second => {}
                    TimeUnit::Millisecond => {
                        let _ = write!(s, ".{:03}", nanos / 1_000_000);
                    }
                    TimeUnit::Microsecond => {
                        let _ = write!(s, ".{:06}", nanos / 1_000);
                    }
                    TimeUnit::Nanosecond => {
                        let _ = write!(s, ".{nanos:09}");
                    }
                }
                if let Some(tz) = &self.tz {
                    let utc = self.utc(i)?;
                    let off = tz.offset_from_utc_datetime(&utc).fix().local_minus_utc();
                    if off == 0 {
                        s.push('Z');
                    } else {
                        let sign = if off < 0 { '-' } else { '+' };
                        let off = off.abs();
                        let _ = write!(s, "{sign}{:02}:{:02}", off / 3600, (off % 3600) / 60);
                    }
                }
                Some(s)
            }
        }
    }
}

pub(super) fn eval_from_unixtime(a: &[ColumnarValue], n: usize, rt: &DataType) -> Result<ArrayRef> {
    // Keep |ms| within chrono's supported range (about ±262 000 years).
    const MAX_MS: f64 = 8.0e15;
    let v = a[0].to_array(n)?;
    let ms: Vec<Option<i64>> = match v.data_type() {
        DataType::Int64 => v
            .as_primitive::<Int64Type>()
            .iter()
            .map(|x| x.and_then(|s| s.checked_mul(1000)).filter(|m| (*m as f64).abs() <= MAX_MS))
            .collect(),
        DataType::Float64 => v
            .as_primitive::<Float64Type>()
            .iter()
            .map(|x| {
                let m = (x? * 1000.0).round();
                (m.is_finite() && m.abs() <= MAX_MS).then_some(m as i64)
            })
            .collect(),
        DataType::Null => vec![None; v.len()],
        other => return exec_err!("from_unixtime: unsupported argument type {other}"),
    };
    Ok(cast(&Int64Array::from(ms), rt)?)
}

pub(super) fn eval_to_unixtime(a: &[ColumnarValue], n: usize) -> Result<ArrayRef> {
    let t = a[0].data_type();
    let out: Vec<Option<f64>> = match &t {
        DataType::Timestamp(unit, _) => {
            let ints = cast(&a[0].to_array(n)?, &DataType::Int64)?;
            let per = unit_per_sec(*unit);
            ints.as_primitive::<Int64Type>()
                .iter()
                .map(|x| x.map(|v| v.div_euclid(per) as f64 + v.rem_euclid(per) as f64 / per as f64))
                .collect()
        }
        DataType::Date32 | DataType::Date64 => {
            let c = TempCol::new(&a[0], n)?;
            (0..n).map(|i| c.utc(i).map(|d| d.and_utc().timestamp() as f64)).collect()
        }
        x if is_string(x) => {
            let s = StrCol::new(&a[0])?;
            (0..n)
                .map(|i| {
                    let dt = parse_iso_timestamp(s.get(i)?)?;
                    let u = dt.and_utc();
                    Some(u.timestamp() as f64 + f64::from(u.timestamp_subsec_nanos()) / 1e9)
                })
                .collect()
        }
        _ => {
            let f = cast(&a[0].to_array(n)?, &DataType::Float64)?;
            f.as_primitive::<Float64Type>().iter().collect()
        }
    };
    Ok(Arc::new(Float64Array::from(out)))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DtUnit {
    Millisecond,
    Second,
    Minute,
    Hour,
    Day,
    Week,
    Month,
    Quarter,
    Year,
}

impl DtUnit {
    fn parse(s: &str) -> Option<Self> {
        let s = s.trim().to_ascii_lowercase();
        let s = s.strip_suffix('s').unwrap_or(&s);
        Some(match s {
            "millisecond" => Self::Millisecond,
            "second" => Self::Second,
            "minute" => Self::Minute,
            "hour" => Self::Hour,
            "day" => Self::Day,
            "week" => Self::Week,
            "month" => Self::Month,
            "quarter" => Self::Quarter,
            "year" => Self::Year,
            _ => return None,
        })
    }

    /// Length in nanoseconds of the fixed-duration units.
    fn fixed_nanos(self) -> Option<i128> {
        Some(match self {
            Self::Millisecond => 1_000_000,
            Self::Second => 1_000_000_000,
            Self::Minute => 60_000_000_000,
            Self::Hour => 3_600_000_000_000,
            _ => return None,
        })
    }

    fn months(self) -> Option<i64> {
        match self {
            Self::Month => Some(1),
            Self::Quarter => Some(3),
            Self::Year => Some(12),
            _ => None,
        }
    }
}

fn parse_unit_arg(name: &str, s: &str) -> Result<DtUnit> {
    DtUnit::parse(s).ok_or_else(|| exec_datafusion_err!("{name}: '{s}' is not a valid unit"))
}

fn add_months(dt: NaiveDateTime, months: i64) -> Option<NaiveDateTime> {
    if months >= 0 {
        dt.checked_add_months(Months::new(u32::try_from(months).ok()?))
    } else {
        dt.checked_sub_months(Months::new(u32::try_from(months.unsigned_abs()).ok()?))
    }
}

pub(super) fn eval_date_add(a: &[ColumnarValue], n: usize, name: &str) -> Result<ArrayRef> {
    let units = StrCol::new(&a[0])?;
    let amounts = I64Col::new(&a[1])?;
    let c = TempCol::new(&a[2], n)?;
    let mut cached: Option<(String, DtUnit)> = None;
    let mut unit_of = |s: &str| -> Result<DtUnit> {
        if let Some((k, u)) = &cached {
            if k == s {
                return Ok(*u);
            }
        }
        let u = parse_unit_arg(name, s)?;
        cached = Some((s.to_string(), u));
        Ok(u)
    };
    match &c.vals {
        TempVals::Date(days) => {
            let mut out = Vec::with_capacity(n);
            for i in 0..n {
                let (Some(u), Some(k)) = (units.get(i), amounts.get(i)) else {
                    out.push(None);
                    continue;
                };
                let unit = unit_of(u)?;
                if !(i < days.len() && days.is_valid(i)) {
                    out.push(None);
                    continue;
                }
                let d = days_to_date(days.value(i));
                let r = match unit {
                    DtUnit::Day => d.and_then(|d| d.checked_add_signed(TimeDelta::try_days(k)?)),
                    DtUnit::Week => d.and_then(|d| d.checked_add_signed(TimeDelta::try_days(k.checked_mul(7)?)?)),
                    _ => match unit.months() {
                        Some(m) => d.and_then(|d| add_months(d.and_time(NaiveTime::MIN), k.checked_mul(m)?).map(|x| x.date())),
                        None => return exec_err!("{name}: unit '{u}' is not valid for DATE values"),
                    },
                };
                out.push(r.map(date_to_days));
            }
            Ok(Arc::new(Date32Array::from(out)))
        }
        TempVals::Ts(vals, unit) => {
            let per_ns = i128::from(1_000_000_000 / unit_per_sec(*unit));
            let mut out = Vec::with_capacity(n);
            for i in 0..n {
                let (Some(u), Some(k)) = (units.get(i), amounts.get(i)) else {
                    out.push(None);
                    continue;
                };
                let du = unit_of(u)?;
                if !(i < vals.len() && vals.is_valid(i)) {
                    out.push(None);
                    continue;
                }
                let raw = vals.value(i);
                let r = if let Some(ns) = du.fixed_nanos() {
                    let delta = i128::from(k) * ns / per_ns;
                    i64::try_from(i128::from(raw) + delta).ok()
                } else {
                    (|| {
                        let local = to_local(c.tz.as_ref(), ts_to_naive(raw, *unit)?);
                        let shifted = match du {
                            DtUnit::Day => local.checked_add_signed(TimeDelta::try_days(k)?)?,
                            DtUnit::Week => local.checked_add_signed(TimeDelta::try_days(k.checked_mul(7)?)?)?,
                            _ => add_months(local, k.checked_mul(du.months()?)?)?,
                        };
                        naive_to_ts(&to_utc(c.tz.as_ref(), shifted)?, *unit)
                    })()
                };
                out.push(r);
            }
            Ok(cast(&Int64Array::from(out), &DataType::Timestamp(*unit, c.tz_name.clone()))?)
        }
    }
}

/// Whole calendar months from `a` to `b` (Joda semantics).
fn months_between(a: NaiveDateTime, b: NaiveDateTime) -> Option<i64> {
    if b < a {
        return months_between(b, a).map(|m| -m);
    }
    let mut m = (i64::from(b.year()) - i64::from(a.year())) * 12 + i64::from(b.month()) - i64::from(a.month());
    if add_months(a, m)? > b {
        m -= 1;
    }
    Some(m)
}

pub(super) fn eval_date_diff(a: &[ColumnarValue], n: usize, name: &str) -> Result<ArrayRef> {
    let units = StrCol::new(&a[0])?;
    let x = TempCol::new(&a[1], n)?;
    let y = TempCol::new(&a[2], n)?;
    let mut cached: Option<(String, DtUnit)> = None;
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let Some(u) = units.get(i) else {
            out.push(None);
            continue;
        };
        let unit = match &cached {
            Some((k, unit)) if k == u => *unit,
            _ => {
                let unit = parse_unit_arg(name, u)?;
                cached = Some((u.to_string(), unit));
                unit
            }
        };
        if x.is_date() && y.is_date() && unit.fixed_nanos().is_some() {
            return exec_err!("{name}: unit '{u}' is not valid for DATE values");
        }
        let (Some(ua), Some(ub)) = (x.utc(i), y.utc(i)) else {
            out.push(None);
            continue;
        };
        let r = if let Some(ns) = unit.fixed_nanos() {
            let to_ns = |d: NaiveDateTime| {
                let u = d.and_utc();
                i128::from(u.timestamp()) * 1_000_000_000 + i128::from(u.timestamp_subsec_nanos())
            };
            i64::try_from((to_ns(ub) - to_ns(ua)) / ns).ok()
        } else {
            // calendar units on the wall clock of the first argument's zone
            let la = to_local(x.tz.as_ref(), ua);
            let lb = to_local(x.tz.as_ref(), ub);
            match unit {
                DtUnit::Day => Some(lb.signed_duration_since(la).num_days()),
                DtUnit::Week => Some(lb.signed_duration_since(la).num_days() / 7),
                _ => months_between(la, lb).map(|m| m / unit.months().unwrap_or(1)),
            }
        };
        out.push(r);
    }
    Ok(Arc::new(Int64Array::from(out)))
}

pub(super) fn extract_part(d: &NaiveDateTime, p: Part) -> i64 {
    match p {
        Part::Year => i64::from(d.year()),
        Part::Quarter => i64::from((d.month() - 1) / 3 + 1),
        Part::Month => i64::from(d.month()),
        Part::Week => i64::from(d.iso_week().week()),
        Part::Day => i64::from(d.day()),
        Part::DayOfWeek => i64::from(d.weekday().number_from_monday()),
        Part::DayOfYear => i64::from(d.ordinal()),
        Part::YearOfWeek => i64::from(d.iso_week().year()),
        Part::Hour => i64::from(d.hour()),
        Part::Minute => i64::from(d.minute()),
        Part::Second => i64::from(d.second()),
        Part::Millisecond => i64::from((d.nanosecond() % 1_000_000_000) / 1_000_000),
    }
}

// --- ISO 8601 parsing -------------------------------------------------------

struct Cursor<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn new(s: &'a str) -> Self {
        Cursor { b: s.as_bytes(), pos: 0 }
    }
    fn done(&self) -> bool {
        self.pos >= self.b.len()
    }
    fn peek(&self) -> Option<u8> {
        self.b.get(self.pos).copied()
    }
    fn eat(&mut self, c: u8) -> bool {
        if self.peek() == Some(c) {
            self.pos += 1;
            true
        } else {
            false
        }
    }
    /// Between `min` and `max` ASCII digits.
    fn digits(&mut self, min: usize, max: usize) -> Option<(u64, usize)> {
        let start = self.pos;
        let mut v: u64 = 0;
        while self.pos - start < max {
            match self.peek() {
                Some(c) if c.is_ascii_digit() => {
                    v = v.checked_mul(10)?.checked_add(u64::from(c - b'0'))?;
                    self.pos += 1;
                }
                _ => break,
            }
        }
        let len = self.pos - start;
        if len < min {
            self.pos = start;
            return None;
        }
        Some((v, len))
    }
}

/// Parses the date part `YYYY[-MM[-DD]]`.
fn parse_iso_date_part(c: &mut Cursor) -> Option<NaiveDate> {
    let (y, _) = c.digits(4, 4)?;
    let mut m = 1;
    let mut d = 1;
    if c.eat(b'-') {
        m = c.digits(2, 2)?.0;
        if c.eat(b'-') {
            d = c.digits(2, 2)?.0;
        }
    }
    NaiveDate::from_ymd_opt(i32::try_from(y).ok()?, u32::try_from(m).ok()?, u32::try_from(d).ok()?)
}

pub(super) fn parse_iso_date(s: &str) -> Option<NaiveDate> {
    let mut c = Cursor::new(s.trim());
    let d = parse_iso_date_part(&mut c)?;
    c.done().then_some(d)
}

/// Parses an ISO-8601 timestamp, returning the UTC wall clock.
pub(super) fn parse_iso_timestamp(s: &str) -> Option<NaiveDateTime> {
    let mut c = Cursor::new(s.trim());
    let date = parse_iso_date_part(&mut c)?;
    let (mut h, mut mi, mut se, mut ns) = (0u64, 0u64, 0u64, 0u64);
    if c.eat(b'T') || c.eat(b't') || c.eat(b' ') {
        h = c.digits(2, 2)?.0;
        if c.eat(b':') {
            mi = c.digits(2, 2)?.0;
            if c.eat(b':') {
                se = c.digits(2, 2)?.0;
                if c.eat(b'.') || c.eat(b',') {
                    let start = c.pos;
                    while c.peek().is_some_and(|d| d.is_ascii_digit()) {
                        c.pos += 1;
                    }
                    if c.pos == start {
                        return None;
                    }
                    // first 9 digits are nanoseconds, the rest are truncated
                    let frac = &c.b[start..c.pos.min(start + 9)];
                    let mut v: u64 = 0;
                    for d in frac {
                        v = v * 10 + u64::from(d - b'0');
                    }
                    ns = v * 10u64.pow(9 - frac.len() as u32);
                }
            }
        }
    }
    let time = NaiveTime::from_hms_nano_opt(
        u32::try_from(h).ok()?,
        u32::try_from(mi).ok()?,
        u32::try_from(se).ok()?,
        u32::try_from(ns).ok()?,
    )?;
    let mut offset_secs: i64 = 0;
    if c.eat(b'Z') || c.eat(b'z') {
    } else if let Some(sign) = c.peek().filter(|x| *x == b'+' || *x == b'-') {
        c.pos += 1;
        let oh = c.digits(2, 2)?.0;
        c.eat(b':');
        let om = c.digits(2, 2).map(|x| x.0).unwrap_or(0);
        if oh > 18 || om > 59 {
            return None;
        }
        offset_secs = (oh * 3600 + om * 60) as i64;
        if sign == b'-' {
            offset_secs = -offset_secs;
        }
    }
    if !c.done() {
        return None;
    }
    date.and_time(time).checked_sub_signed(TimeDelta::seconds(offset_secs))
}

// --- MySQL format / parse ---------------------------------------------------

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const WEEKDAYS: [&str; 7] = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"];

/// MySQL week mode 0 (%U): Sunday first, 0–53.
fn week_sunday0(d: NaiveDate) -> u32 {
    (d.ordinal0() + 7 - d.weekday().num_days_from_sunday()) / 7
}

/// MySQL week mode 1 (%u): Monday first, 0–53, week 1 has ≥ 4 days.
fn week_monday0(d: NaiveDate) -> u32 {
    let jan1 = d.with_ordinal(1).unwrap_or(d);
    let wd = jan1.weekday().num_days_from_monday();
    (d.ordinal0() + wd) / 7 + u32::from(wd <= 3)
}

/// MySQL week mode 2 (%V / %X): Sunday first, 1–53, week 1 has a Sunday.
fn week_sunday1(d: NaiveDate) -> (i32, u32) {
    let w = week_sunday0(d);
    if w > 0 {
        return (d.year(), w);
    }
    match NaiveDate::from_ymd_opt(d.year() - 1, 12, 31) {
        Some(prev) => (prev.year(), week_sunday0(prev)),
        None => (d.year(), 0),
    }
}

fn hour12(h: u32) -> u32 {
    match h % 12 {
        0 => 12,
        x => x,
    }
}

pub(super) fn mysql_format(dt: &NaiveDateTime, fmt: &str, out: &mut String) -> std::result::Result<(), String> {
    let mut it = fmt.chars();
    let d = dt.date();
    let ampm = if dt.hour() < 12 { "AM" } else { "PM" };
    while let Some(c) = it.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let Some(s) = it.next() else {
            out.push('%');
            break;
        };
        let _ = match s {
            'a' => write!(out, "{}", &WEEKDAYS[d.weekday().num_days_from_monday() as usize][..3]),
            'b' => write!(out, "{}", &MONTHS[d.month0() as usize][..3]),
            'c' => write!(out, "{}", d.month()),
            'D' => {
                let day = d.day();
                let suffix = match (day % 10, day % 100) {
                    (_, 11..=13) => "th",
                    (1, _) => "st",
                    (2, _) => "nd",
                    (3, _) => "rd",
                    _ => "th",
                };
                write!(out, "{day}{suffix}")
            }
            'd' => write!(out, "{:02}", d.day()),
            'e' => write!(out, "{}", d.day()),
            'f' => write!(out, "{:06}", (dt.nanosecond() % 1_000_000_000) / 1_000_000 * 1000),
            'H' => write!(out, "{:02}", dt.hour()),
            'h' | 'I' => write!(out, "{:02}", hour12(dt.hour())),
            'i' => write!(out, "{:02}", dt.minute()),
            'j' => write!(out, "{:03}", d.ordinal()),
            'k' => write!(out, "{}", dt.hour()),
            'l' => write!(out, "{}", hour12(dt.hour())),
            'M' => write!(out, "{}", MONTHS[d.month0() as usize]),
            'm' => write!(out, "{:02}", d.month()),
            'p' => write!(out, "{ampm}"),
            'r' => write!(out, "{:02}:{:02}:{:02} {ampm}", hour12(dt.hour()), dt.minute(), dt.second()),
            'S' | 's' => write!(out, "{:02}", dt.second()),
            'T' => write!(out, "{:02}:{:02}:{:02}", dt.hour(), dt.minute(), dt.second()),
            'U' => write!(out, "{:02}", week_sunday0(d)),
            'u' => write!(out, "{:02}", week_monday0(d)),
            'V' => write!(out, "{:02}", week_sunday1(d).1),
            'v' => write!(out, "{:02}", d.iso_week().week()),
            'W' => write!(out, "{}", WEEKDAYS[d.weekday().num_days_from_monday() as usize]),
            'w' => write!(out, "{}", d.weekday().num_days_from_sunday()),
            'X' => write!(out, "{:04}", week_sunday1(d).0),
            'x' => write!(out, "{:04}", d.iso_week().year()),
            'Y' => write!(out, "{:04}", d.year()),
            'y' => write!(out, "{:02}", d.year().rem_euclid(100)),
            other => {
                out.push(other);
                Ok(())
            }
        };
    }
    Ok(())
}

fn match_name(input: &str, pos: &mut usize, names: &[&str]) -> Option<usize> {
    let rest = input.get(*pos..)?;
    // full names first, then 3-letter abbreviations
    for (i, name) in names.iter().enumerate() {
        if rest.len() >= name.len() && rest.is_char_boundary(name.len()) && rest[..name.len()].eq_ignore_ascii_case(name) {
            *pos += name.len();
            return Some(i);
        }
    }
    for (i, name) in names.iter().enumerate() {
        if name.len() <= 3 {
            continue;
        }
        let abbr = &name[..3];
        if rest.len() >= 3 && rest.is_char_boundary(3) && rest[..3].eq_ignore_ascii_case(abbr) {
            *pos += 3;
            return Some(i);
        }
    }
    None
}

/// Parses `input` with a MySQL format. `Ok(None)` when the input does not
/// match; `Err` for an unsupported format specifier.
pub(super) fn mysql_parse(input: &str, fmt: &str) -> std::result::Result<Option<NaiveDateTime>, String> {
    let mut c = Cursor::new(input);
    let (mut year, mut month, mut day) = (1970i64, 1u64, 1u64);
    let (mut hour, mut minute, mut second, mut nanos) = (0u64, 0u64, 0u64, 0u64);
    let mut pm: Option<bool> = None;
    let mut doy: Option<u64> = None;
    let mut it = fmt.chars();
    macro_rules! num {
        ($min:expr, $max:expr) => {
            match c.digits($min, $max) {
                Some((v, _)) => v,
                None => return Ok(None),
            }
        };
    }
    while let Some(f) = it.next() {
        if f != '%' {
            let mut buf = [0u8; 4];
            for b in f.encode_utf8(&mut buf).bytes() {
                if !c.eat(b) {
                    return Ok(None);
                }
            }
            continue;
        }
        let Some(s) = it.next() else {
            if !c.eat(b'%') {
                return Ok(None);
            }
            break;
        };
        match s {
            'Y' => year = num!(1, 4) as i64,
            'y' => {
                let y = num!(2, 2) as i64;
                year = if y < 70 { 2000 + y } else { 1900 + y };
            }
            'm' | 'c' => month = num!(1, 2),
            'd' | 'e' => day = num!(1, 2),
            'H' | 'k' | 'h' | 'I' | 'l' => hour = num!(1, 2),
            'i' => minute = num!(1, 2),
            's' | 'S' => second = num!(1, 2),
            'f' => {
                let start = c.pos;
                if c.digits(1, 9).is_none() {
                    return Ok(None);
                }
                let len = c.pos - start;
                let mut v: u64 = 0;
                for d in &c.b[start..start + len] {
                    v = v * 10 + u64::from(d - b'0');
                }
                nanos = v * 10u64.pow(9 - len as u32);
            }
            'j' => doy = Some(num!(1, 3)),
            'T' => {
                hour = num!(1, 2);
                if !c.eat(b':') {
                    return Ok(None);
                }
                minute = num!(1, 2);
                if !c.eat(b':') {
                    return Ok(None);
                }
                second = num!(1, 2);
            }
            'r' => {
                hour = num!(1, 2);
                if !c.eat(b':') {
                    return Ok(None);
                }
                minute = num!(1, 2);
                if !c.eat(b':') {
                    return Ok(None);
                }
                second = num!(1, 2);
                c.eat(b' ');
                let mut p = c.pos;
                match match_name(input, &mut p, &["AM", "PM"]) {
                    Some(i) => {
                        pm = Some(i == 1);
                        c.pos = p;
                    }
                    None => return Ok(None),
                }
            }
            'p' => {
                let rest = input.get(c.pos..).unwrap_or("");
                if rest.len() >= 2 && rest.is_char_boundary(2) {
                    match rest[..2].to_ascii_uppercase().as_str() {
                        "AM" => pm = Some(false),
                        "PM" => pm = Some(true),
                        _ => return Ok(None),
                    }
                    c.pos += 2;
                } else {
                    return Ok(None);
                }
            }
            'b' | 'M' => {
                let mut p = c.pos;
                match match_name(input, &mut p, &MONTHS) {
                    Some(i) => {
                        month = i as u64 + 1;
                        c.pos = p;
                    }
                    None => return Ok(None),
                }
            }
            'a' | 'W' => {
                let mut p = c.pos;
                match match_name(input, &mut p, &WEEKDAYS) {
                    Some(_) => c.pos = p,
                    None => return Ok(None),
                }
            }
            '%' => {
                if !c.eat(b'%') {
                    return Ok(None);
                }
            }
            'D' | 'U' | 'u' | 'V' | 'v' | 'w' | 'X' | 'x' => {
                return Err(format!("%{s} is not supported for parsing"));
            }
            other => {
                let mut buf = [0u8; 4];
                for b in other.encode_utf8(&mut buf).bytes() {
                    if !c.eat(b) {
                        return Ok(None);
                    }
                }
            }
        }
    }
    if !c.done() {
        return Ok(None);
    }
    if let Some(pm) = pm {
        if !(1..=12).contains(&hour) {
            return Ok(None);
        }
        hour = (hour % 12) + if pm { 12 } else { 0 };
    }
    let Ok(year) = i32::try_from(year) else {
        return Ok(None);
    };
    let date = match doy {
        Some(doy) => u32::try_from(doy).ok().and_then(|o| NaiveDate::from_yo_opt(year, o)),
        None => NaiveDate::from_ymd_opt(year, month as u32, day as u32),
    };
    let time = NaiveTime::from_hms_nano_opt(hour as u32, minute as u32, second as u32, nanos as u32);
    Ok(match (date, time) {
        (Some(d), Some(t)) if month <= 12 && day <= 31 && hour < 24 && minute < 60 && second < 60 => Some(d.and_time(t)),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::super::tests::{ctx, fails, one, row, rows};

    #[tokio::test]
    async fn unixtime() {
        let ctx = ctx();
        let r = row(
            &ctx,
            "SELECT to_iso8601(from_unixtime(0)), to_iso8601(from_unixtime(1.5)), \
             to_iso8601(from_unixtime(1700000000123 / 1000.0)), arrow_typeof(from_unixtime(0)), \
             to_unixtime(from_unixtime(1.25)), to_unixtime(TIMESTAMP '1970-01-01 00:00:01.5'), \
             to_iso8601(from_unixtime(0, 'America/New_York')), to_iso8601(from_unixtime(0, 5, 30)), \
             from_unixtime(CAST(NULL AS BIGINT)), from_unixtime(1e300), \
             to_iso8601(from_unixtime_nanos(1500000000))",
        )
        .await;
        assert_eq!(
            r,
            [
                "1970-01-01T00:00:00.000Z",
                "1970-01-01T00:00:01.500Z",
                "2023-11-14T22:13:20.123Z",
                "Timestamp(ms, \"UTC\")",
                "1.25",
                "1.5",
                "1969-12-31T19:00:00.000-05:00",
                "1970-01-01T05:30:00.000+05:30",
                "NULL",
                "NULL",
                "1970-01-01T00:00:01.500000000Z"
            ]
        );
        // OCSF `time` is epoch milliseconds (bigint)
        let r = rows(
            &ctx,
            "SELECT to_iso8601(from_unixtime(time / 1000)) FROM (VALUES (CAST(1700000000000 AS BIGINT)), (NULL)) AS t(time)",
        )
        .await;
        assert_eq!(r, vec![vec!["2023-11-14T22:13:20.000Z"], vec!["NULL"]]);
        // comparison with a timestamp literal works after coercion
        assert_eq!(
            one(&ctx, "SELECT from_unixtime(86400) > TIMESTAMP '1970-01-01 12:00:00'").await,
            "true"
        );
    }

    #[tokio::test]
    async fn iso8601() {
        let ctx = ctx();
        let r = row(
            &ctx,
            "SELECT to_iso8601(from_iso8601_timestamp('2020-05-11T11:15:05.123456Z')), \
             to_iso8601(from_iso8601_timestamp('2020-05-11T11:15:05+02:00')), \
             to_iso8601(from_iso8601_timestamp('2020-05-11')), \
             to_iso8601(from_iso8601_timestamp('2020-05-11 11:15:05')), \
             from_iso8601_timestamp('nope'), from_iso8601_timestamp('2020-13-01'), \
             from_iso8601_date('2020-05-11'), from_iso8601_date('2020-05-11T00:00:00'), \
             to_iso8601(DATE '2020-02-29'), \
             to_unixtime('1970-01-02T00:00:00Z')",
        )
        .await;
        assert_eq!(
            r,
            [
                "2020-05-11T11:15:05.123Z",
                "2020-05-11T09:15:05.000Z",
                "2020-05-11T00:00:00.000Z",
                "2020-05-11T11:15:05.000Z",
                "NULL",
                "NULL",
                "2020-05-11",
                "NULL",
                "2020-02-29",
                "86400.0"
            ]
        );
    }

    #[tokio::test]
    async fn date_add_and_diff() {
        let ctx = ctx();
        let r = row(
            &ctx,
            "SELECT date_add('day', 1, TIMESTAMP '2024-01-31 10:00:00'), \
             date_add('month', 1, TIMESTAMP '2024-01-31 10:00:00'), \
             date_add('HOUR', -25, TIMESTAMP '2024-01-01 00:00:00'), \
             date_add('week', 2, DATE '2024-01-01'), date_add('year', 1, DATE '2024-02-29'), \
             date_add('quarter', 1, DATE '2024-01-15'), \
             date_add('millisecond', 1500, TIMESTAMP '2024-01-01 00:00:00'), \
             to_iso8601(date_add('day', 1, from_unixtime(0))), \
             date_add('day', CAST(NULL AS BIGINT), DATE '2024-01-01')",
        )
        .await;
        assert_eq!(
            r,
            [
                "2024-02-01T10:00:00",
                "2024-02-29T10:00:00",
                "2023-12-30T23:00:00",
                "2024-01-15",
                "2025-02-28",
                "2024-04-15",
                "2024-01-01T00:00:01.500",
                "1970-01-02T00:00:00.000Z",
                "NULL"
            ]
        );
        assert!(fails(&ctx, "SELECT date_add('fortnight', 1, DATE '2024-01-01')").await);
        assert!(fails(&ctx, "SELECT date_add('hour', 1, DATE '2024-01-01')").await);
        // DST-aware day arithmetic in a named zone
        assert_eq!(
            one(
                &ctx,
                "SELECT to_iso8601(date_add('day', 1, from_unixtime(1710000000, 'America/New_York')))"
            )
            .await,
            // 2024-03-09T11:00-05:00 + 1 day = 2024-03-10T11:00-04:00 (23h later)
            "2024-03-10T11:00:00.000-04:00"
        );
        let r = row(
            &ctx,
            "SELECT date_diff('day', TIMESTAMP '2024-01-01 00:00:00', TIMESTAMP '2024-01-03 23:59:59'), \
             date_diff('hour', TIMESTAMP '2024-01-01 10:00:00', TIMESTAMP '2024-01-01 08:30:00'), \
             date_diff('month', DATE '2020-01-31', DATE '2020-02-28'), \
             date_diff('month', DATE '2020-01-31', DATE '2020-03-31'), \
             date_diff('year', DATE '2020-02-29', DATE '2021-02-28'), \
             date_diff('second', from_unixtime(0), from_unixtime(90.9)), \
             date_diff('week', DATE '2024-01-01', DATE '2024-01-20'), \
             date_diff('month', DATE '2024-03-31', DATE '2024-01-31')",
        )
        .await;
        assert_eq!(r, ["2", "-1", "0", "2", "1", "90", "2", "-2"]);
    }

    #[tokio::test]
    async fn date_format_parse_and_fields() {
        let ctx = ctx();
        let r = row(
            &ctx,
            "SELECT date_format(TIMESTAMP '2024-03-05 14:07:09.123', '%Y-%m-%d %H:%i:%s'), \
             date_format(TIMESTAMP '2024-03-05 14:07:09.123', '%T %f %p %h %l %j %W %a %M %b %c %e %y %D %%'), \
             date_format(DATE '2024-12-30', '%v %x %u %U %w'), \
             date_format(from_unixtime(0, 'Asia/Tokyo'), '%Y-%m-%d %H:%i'), \
             date_format(CAST(NULL AS TIMESTAMP), '%Y')",
        )
        .await;
        assert_eq!(
            r,
            [
                "2024-03-05 14:07:09",
                "14:07:09 123000 PM 02 2 065 Tuesday Tue March Mar 3 5 24 5th %",
                "01 2025 53 52 1",
                "1970-01-01 09:00",
                "NULL"
            ]
        );
        let r = row(
            &ctx,
            "SELECT date_parse('2024-03-05 14:07:09', '%Y-%m-%d %H:%i:%s'), \
             date_parse('05/Mar/2024:02:07:09 PM', '%d/%b/%Y:%h:%i:%s %p'), \
             date_parse('20240305', '%Y%m%d'), date_parse('2024-03-05 x', '%Y-%m-%d'), \
             date_parse('2024-02-30', '%Y-%m-%d'), date_parse('1.5', '%s.%f')",
        )
        .await;
        assert_eq!(
            r,
            [
                "2024-03-05T14:07:09",
                "2024-03-05T14:07:09",
                "2024-03-05T00:00:00",
                "NULL",
                "NULL",
                "1970-01-01T00:00:01.500"
            ]
        );
        let r = row(
            &ctx,
            "SELECT year(t), quarter(t), month(t), week(t), day(t), day_of_week(t), dow(t), \
             day_of_year(t), hour(t), minute(t), second(t), millisecond(t), year_of_week(t), \
             date(t), last_day_of_month(t), date('2024-02-10'), date('bad') \
             FROM (SELECT TIMESTAMP '2024-02-10 13:14:15.678' AS t)",
        )
        .await;
        assert_eq!(
            r,
            [
                "2024",
                "1",
                "2",
                "6",
                "10",
                "6",
                "6",
                "41",
                "13",
                "14",
                "15",
                "678",
                "2024",
                "2024-02-10",
                "2024-02-29",
                "2024-02-10",
                "NULL"
            ]
        );
        // fields use the value's own zone
        assert_eq!(one(&ctx, "SELECT hour(from_unixtime(0, 'Asia/Kolkata'))").await, "5");
    }
}
