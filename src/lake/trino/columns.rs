//! Column accessors shared by every function family: read-only views over a VARCHAR
//! ([`StrCol`]) or BIGINT ([`I64Col`]) argument that hide the scalar/array and
//! Utf8/LargeUtf8/Utf8View differences, and the row-wise `map_str_to_*` helpers built on them.

use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Int64Array, LargeStringArray, StringArray, StringBuilder, StringViewArray,
};
use datafusion::arrow::datatypes::{DataType, Int64Type};
use datafusion::common::{exec_err, Result, ScalarValue};
use datafusion::logical_expr::ColumnarValue;

// ---------------------------------------------------------------------------
// Column accessors
// ---------------------------------------------------------------------------

pub(super) fn scalar_i64(s: &ScalarValue) -> Option<i64> {
    match s.cast_to(&DataType::Int64).ok()? {
        ScalarValue::Int64(v) => v,
        _ => None,
    }
}

/// Read-only view over a string argument (scalar or any string array type).
pub(super) enum StrCol<'a> {
    Const(Option<&'a str>),
    Utf8(&'a StringArray),
    Large(&'a LargeStringArray),
    View(&'a StringViewArray),
}

impl<'a> StrCol<'a> {
    pub(super) fn new(cv: &'a ColumnarValue) -> Result<Self> {
        match cv {
            ColumnarValue::Scalar(s) => {
                if s.is_null() {
                    return Ok(StrCol::Const(None));
                }
                match s.try_as_str() {
                    Some(v) => Ok(StrCol::Const(v)),
                    None => exec_err!("expected a VARCHAR argument, got {}", s.data_type()),
                }
            }
            ColumnarValue::Array(a) => Self::from_array(a),
        }
    }

    pub(super) fn from_array(a: &'a ArrayRef) -> Result<Self> {
        Ok(match a.data_type() {
            DataType::Utf8 => StrCol::Utf8(a.as_string::<i32>()),
            DataType::LargeUtf8 => StrCol::Large(a.as_string::<i64>()),
            DataType::Utf8View => StrCol::View(a.as_string_view()),
            DataType::Null => StrCol::Const(None),
            other => return exec_err!("expected a VARCHAR argument, got {other}"),
        })
    }

    pub(super) fn is_const(&self) -> bool {
        matches!(self, StrCol::Const(_))
    }

    pub(super) fn get(&self, i: usize) -> Option<&'a str> {
        match self {
            StrCol::Const(v) => *v,
            StrCol::Utf8(a) => (i < a.len() && a.is_valid(i)).then(|| a.value(i)),
            StrCol::Large(a) => (i < a.len() && a.is_valid(i)).then(|| a.value(i)),
            StrCol::View(a) => (i < a.len() && a.is_valid(i)).then(|| a.value(i)),
        }
    }
}

/// Read-only view over a BIGINT argument.
pub(super) enum I64Col<'a> {
    Const(Option<i64>),
    Arr(&'a Int64Array),
}

impl<'a> I64Col<'a> {
    pub(super) fn new(cv: &'a ColumnarValue) -> Result<Self> {
        match cv {
            ColumnarValue::Scalar(s) => {
                if s.is_null() {
                    Ok(I64Col::Const(None))
                } else {
                    match scalar_i64(s) {
                        Some(v) => Ok(I64Col::Const(Some(v))),
                        None => exec_err!("expected a BIGINT argument, got {}", s.data_type()),
                    }
                }
            }
            ColumnarValue::Array(a) => match a.data_type() {
                DataType::Int64 => Ok(I64Col::Arr(a.as_primitive::<Int64Type>())),
                DataType::Null => Ok(I64Col::Const(None)),
                other => exec_err!("expected a BIGINT argument, got {other}"),
            },
        }
    }

    pub(super) fn get(&self, i: usize) -> Option<i64> {
        match self {
            I64Col::Const(v) => *v,
            I64Col::Arr(a) => (i < a.len() && a.is_valid(i)).then(|| a.value(i)),
        }
    }
}

pub(super) fn map_str_to_str(cv: &ColumnarValue, n: usize, f: impl Fn(&str) -> Option<String>) -> Result<ArrayRef> {
    let s = StrCol::new(cv)?;
    let mut b = StringBuilder::with_capacity(n, n * 16);
    if s.is_const() {
        let v = s.get(0).and_then(&f);
        for _ in 0..n {
            b.append_option(v.as_deref());
        }
    } else {
        for i in 0..n {
            b.append_option(s.get(i).and_then(&f));
        }
    }
    Ok(Arc::new(b.finish()))
}

pub(super) fn map_str_to_bool(cv: &ColumnarValue, n: usize, f: impl Fn(&str) -> Option<bool>) -> Result<ArrayRef> {
    let s = StrCol::new(cv)?;
    let v: Vec<Option<bool>> = (0..n).map(|i| s.get(i).and_then(&f)).collect();
    Ok(Arc::new(BooleanArray::from(v)))
}
