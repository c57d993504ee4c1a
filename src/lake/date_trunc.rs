//! `date_trunc` with a fast path for UTC timestamps.
//!
//! Why: Security Lake v2's `time_dt` is a `timestamp with time zone` (Arrow `Timestamp(_, "UTC")`),
//! and `date_trunc('hour', time_dt)` is the most common grouping in analysts' Athena SQL. DataFusion
//! 54 truncates zoned timestamps through its general time-zone path, which made
//! `events per principal per hour` 1.7× slower than the same query truncating by integer
//! arithmetic (0.78 s vs 0.46 s on 6.6M rows). For a timestamp without zone or in UTC, truncating
//! to second, minute, hour or day is `floor(t / width) * width` in the column's own unit — no
//! calendar needed. Every other case (week, month, quarter, year, other zones, strings) is handed to
//! DataFusion's own `date_trunc`, so results are identical and only faster.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, PrimitiveArray};
use arrow::datatypes::{
    ArrowTimestampType, DataType, TimeUnit, TimestampMicrosecondType, TimestampMillisecondType, TimestampNanosecondType,
    TimestampSecondType,
};
use datafusion::common::{Result, ScalarValue};
use datafusion::logical_expr::{ColumnarValue, Documentation, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature};

/// The override; wraps DataFusion's `date_trunc` for everything it does not speed up.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct FastDateTrunc {
    inner: Arc<ScalarUDF>,
}

impl FastDateTrunc {
    /// Wrap DataFusion's built-in.
    pub fn new() -> Self {
        FastDateTrunc {
            inner: datafusion::functions::datetime::date_trunc(),
        }
    }
}

impl Default for FastDateTrunc {
    fn default() -> Self {
        Self::new()
    }
}

/// Width of `unit` in nanoseconds, for the units that need no calendar.
fn width_ns(unit: &str) -> Option<i64> {
    Some(match unit.to_ascii_lowercase().as_str() {
        "second" => 1_000_000_000,
        "minute" => 60_000_000_000,
        "hour" => 3_600_000_000_000,
        "day" => 86_400_000_000_000,
        _ => return None,
    })
}

fn utc(tz: &Option<Arc<str>>) -> bool {
    match tz.as_deref() {
        None => true,
        Some(z) => matches!(z, "UTC" | "utc" | "+00:00" | "Z" | "Etc/UTC" | "+00"),
    }
}

fn trunc<T: ArrowTimestampType>(a: &ArrayRef, width_ns: i64, per_ns: i64) -> Option<ArrayRef> {
    let width = width_ns / per_ns;
    if width <= 0 {
        return None;
    }
    let arr = a.as_any().downcast_ref::<PrimitiveArray<T>>()?;
    let out: PrimitiveArray<T> = arr.unary(|v| v.div_euclid(width) * width);
    Some(Arc::new(out.with_timezone_opt(arr.timezone().map(Arc::<str>::from))))
}

impl ScalarUDFImpl for FastDateTrunc {
    fn name(&self) -> &str {
        self.inner.name()
    }
    fn aliases(&self) -> &[String] {
        self.inner.aliases()
    }
    fn signature(&self) -> &Signature {
        self.inner.signature()
    }
    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        self.inner.return_type(arg_types)
    }
    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<arrow::datatypes::FieldRef> {
        self.inner.return_field_from_args(args)
    }
    fn documentation(&self) -> Option<&Documentation> {
        self.inner.documentation()
    }
    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        self.inner.inner().coerce_types(arg_types)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        if let [ColumnarValue::Scalar(ScalarValue::Utf8(Some(unit)) | ScalarValue::Utf8View(Some(unit))), ColumnarValue::Array(a)] =
            args.args.as_slice()
        {
            if let (Some(w), DataType::Timestamp(tu, tz)) = (width_ns(unit), a.data_type()) {
                if utc(tz) {
                    let out = match tu {
                        TimeUnit::Second => trunc::<TimestampSecondType>(a, w, 1_000_000_000),
                        TimeUnit::Millisecond => trunc::<TimestampMillisecondType>(a, w, 1_000_000),
                        TimeUnit::Microsecond => trunc::<TimestampMicrosecondType>(a, w, 1_000),
                        TimeUnit::Nanosecond => trunc::<TimestampNanosecondType>(a, w, 1),
                    };
                    if let Some(out) = out {
                        return Ok(ColumnarValue::Array(out));
                    }
                }
            }
        }
        self.inner.invoke_with_args(args)
    }
}

#[cfg(test)]
mod tests {
    use datafusion::prelude::SessionContext;

    use super::*;

    /// The fast path and DataFusion's own `date_trunc` agree on every unit, unit of time, zone and
    /// on negative (pre-1970) times and NULLs.
    #[tokio::test]
    async fn agrees_with_datafusion_everywhere() {
        let plain = SessionContext::new();
        let fast = SessionContext::new();
        fast.register_udf(ScalarUDF::new_from_impl(FastDateTrunc::new()));
        let values = "(VALUES (TIMESTAMP '2025-03-28 13:47:59.123456'), (TIMESTAMP '1969-12-31 23:59:59.5'), (NULL), (TIMESTAMP '2024-02-29 00:00:00'))";
        for unit in ["second", "minute", "hour", "day", "week", "month", "year", "HOUR"] {
            for cast in [
                "CAST(column1 AS TIMESTAMP)",
                "arrow_cast(column1, 'Timestamp(Millisecond, Some(\"UTC\"))')",
                "arrow_cast(column1, 'Timestamp(Microsecond, Some(\"UTC\"))')",
                "arrow_cast(column1, 'Timestamp(Second, None)')",
                "arrow_cast(column1, 'Timestamp(Microsecond, Some(\"+05:30\"))')",
            ] {
                let q = format!("SELECT CAST(date_trunc('{unit}', {cast}) AS VARCHAR) FROM {values} v");
                let a = plain.sql(&q).await.unwrap().collect().await.unwrap();
                let b = fast.sql(&q).await.unwrap().collect().await.unwrap();
                assert_eq!(
                    arrow::util::pretty::pretty_format_batches(&a).unwrap().to_string(),
                    arrow::util::pretty::pretty_format_batches(&b).unwrap().to_string(),
                    "{q}"
                );
            }
        }
    }
}
