//! String and regex functions: `split`, `split_part`, `regexp_extract` and `regexp_replace`
//! (Java `$1` replacements converted to Rust syntax). The regex functions delegate to
//! DataFusion's own `regexp_match` / `regexp_replace` ([`delegate`]) and adapt their results to
//! Trino semantics.

use std::fmt::Write as _;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, ListBuilder, StringArray, StringBuilder};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{ArrowNativeType, DataType, Field, FieldRef};
use datafusion::common::{exec_err, Result, ScalarValue};
use datafusion::logical_expr::{ColumnarValue, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF};

use super::columns::{I64Col, StrCol};

// ---------------------------------------------------------------------------
// Strings / regex
// ---------------------------------------------------------------------------

pub(super) fn eval_split(a: &[ColumnarValue], n: usize, name: &str) -> Result<ArrayRef> {
    let s = StrCol::new(&a[0])?;
    let d = StrCol::new(&a[1])?;
    let limit = match a.get(2) {
        Some(cv) => Some(I64Col::new(cv)?),
        None => None,
    };
    let mut b = ListBuilder::new(StringBuilder::new());
    for i in 0..n {
        let (Some(s), Some(d)) = (s.get(i), d.get(i)) else {
            b.append_null();
            continue;
        };
        let lim = match &limit {
            Some(l) => match l.get(i) {
                Some(v) if v <= 0 => return exec_err!("{name}: limit must be positive"),
                Some(v) => usize::try_from(v).unwrap_or(usize::MAX),
                None => {
                    b.append_null();
                    continue;
                }
            },
            None => usize::MAX,
        };
        if d.is_empty() {
            return exec_err!("{name}: the delimiter may not be the empty string");
        }
        for part in s.splitn(lim, d) {
            b.values().append_value(part);
        }
        b.append(true);
    }
    Ok(Arc::new(b.finish()))
}

pub(super) fn eval_split_part(a: &[ColumnarValue], n: usize, name: &str) -> Result<ArrayRef> {
    let s = StrCol::new(&a[0])?;
    let d = StrCol::new(&a[1])?;
    let idx = I64Col::new(&a[2])?;
    let mut b = StringBuilder::with_capacity(n, n * 8);
    for i in 0..n {
        let (Some(s), Some(d), Some(k)) = (s.get(i), d.get(i), idx.get(i)) else {
            b.append_null();
            continue;
        };
        if k <= 0 {
            return exec_err!("{name}: index must be greater than zero");
        }
        let k = usize::try_from(k - 1).unwrap_or(usize::MAX);
        if d.is_empty() {
            b.append_option(s.chars().nth(k).map(|c| c.to_string()));
        } else {
            b.append_option(s.split(d).nth(k));
        }
    }
    Ok(Arc::new(b.finish()))
}

fn delegate(udf: &ScalarUDF, args: Vec<ColumnarValue>, n: usize, config: &ScalarFunctionArgs) -> Result<ColumnarValue> {
    let arg_fields: Vec<FieldRef> = args
        .iter()
        .enumerate()
        .map(|(i, a)| Arc::new(Field::new(format!("a{i}"), a.data_type(), true)))
        .collect();
    let scalars: Vec<Option<&ScalarValue>> = args
        .iter()
        .map(|a| match a {
            ColumnarValue::Scalar(s) => Some(s),
            ColumnarValue::Array(_) => None,
        })
        .collect();
    let return_field = udf.return_field_from_args(ReturnFieldArgs {
        arg_fields: &arg_fields,
        scalar_arguments: &scalars,
    })?;
    udf.invoke_with_args(ScalarFunctionArgs {
        args,
        arg_fields,
        number_rows: n,
        return_field,
        config_options: Arc::clone(&config.config_options),
    })
}

fn to_utf8(cv: &ColumnarValue) -> Result<ColumnarValue> {
    Ok(match cv {
        ColumnarValue::Scalar(s) => ColumnarValue::Scalar(s.cast_to(&DataType::Utf8)?),
        ColumnarValue::Array(a) => ColumnarValue::Array(cast(a, &DataType::Utf8)?),
    })
}

fn map_utf8(cv: &ColumnarValue, f: impl Fn(&str) -> String) -> Result<ColumnarValue> {
    Ok(match cv {
        ColumnarValue::Scalar(s) => {
            let v = s.try_as_str().flatten().map(&f);
            ColumnarValue::Scalar(ScalarValue::Utf8(v))
        }
        ColumnarValue::Array(a) => {
            let col = StrCol::from_array(a)?;
            let v: StringArray = (0..a.len()).map(|i| col.get(i).map(&f)).collect();
            ColumnarValue::Array(Arc::new(v))
        }
    })
}

pub(super) fn eval_regexp_extract(args: &ScalarFunctionArgs, n: usize, name: &str) -> Result<ArrayRef> {
    let a = &args.args;
    let s = to_utf8(&a[0])?;
    // Wrap the pattern in a capture group so that group 0 (the whole match) is
    // available even when the pattern has its own groups.
    let p = map_utf8(&to_utf8(&a[1])?, |p| format!("({p})"))?;
    let groups = match a.get(2) {
        Some(cv) => Some(I64Col::new(cv)?),
        None => None,
    };
    // keep the scalar/array shape consistent for the delegate
    let (s, p) = match (&s, &p) {
        (ColumnarValue::Scalar(_), ColumnarValue::Scalar(_)) => {
            (ColumnarValue::Array(s.to_array(n)?), ColumnarValue::Array(p.to_array(n)?))
        }
        _ => (s, p),
    };
    let udf = datafusion::functions::regex::regexp_match();
    let res = delegate(&udf, vec![s, p], n, args)?.to_array(n)?;
    let mut b = StringBuilder::with_capacity(n, n * 8);
    let (offsets, values): (Vec<usize>, ArrayRef) = match res.data_type() {
        DataType::List(_) => {
            let l = res.as_list::<i32>();
            (l.value_offsets().iter().map(|o| o.as_usize()).collect(), Arc::clone(l.values()))
        }
        DataType::LargeList(_) => {
            let l = res.as_list::<i64>();
            (l.value_offsets().iter().map(|o| o.as_usize()).collect(), Arc::clone(l.values()))
        }
        other => return exec_err!("{name}: unexpected regexp_match result {other}"),
    };
    let vals = StrCol::from_array(&values)?;
    for i in 0..n {
        let g = match &groups {
            Some(gs) => match gs.get(i) {
                Some(g) if g < 0 => return exec_err!("{name}: group must be non-negative"),
                Some(g) => g as usize,
                None => {
                    b.append_null();
                    continue;
                }
            },
            None => 0,
        };
        if i >= res.len() || res.is_null(i) {
            b.append_null();
            continue;
        }
        let (start, end) = (offsets[i], offsets[i + 1]);
        let idx = start.saturating_add(g);
        if idx < end {
            b.append_option(vals.get(idx));
        } else {
            b.append_null();
        }
    }
    Ok(Arc::new(b.finish()))
}

/// Converts a Java `Matcher.replaceAll` replacement string to Rust regex syntax.
pub(super) fn java_replacement_to_rust(r: &str) -> String {
    let mut out = String::with_capacity(r.len() + 4);
    let mut it = r.chars().peekable();
    while let Some(c) = it.next() {
        match c {
            '\\' => match it.next() {
                Some('$') => out.push_str("$$"),
                Some(x) => out.push(x),
                None => out.push('\\'),
            },
            '$' => match it.peek().copied() {
                Some('{') => {
                    it.next();
                    let mut name = String::new();
                    let mut closed = false;
                    for x in it.by_ref() {
                        if x == '}' {
                            closed = true;
                            break;
                        }
                        name.push(x);
                    }
                    if closed && !name.is_empty() {
                        let _ = write!(out, "${{{name}}}");
                    } else {
                        out.push_str("$${");
                        out.push_str(&name);
                    }
                }
                Some(d) if d.is_ascii_digit() => {
                    let mut num = String::new();
                    while let Some(&d) = it.peek() {
                        if d.is_ascii_digit() {
                            num.push(d);
                            it.next();
                        } else {
                            break;
                        }
                    }
                    let _ = write!(out, "${{{num}}}");
                }
                _ => out.push_str("$$"),
            },
            x => out.push(x),
        }
    }
    out
}

pub(super) fn eval_regexp_replace(args: &ScalarFunctionArgs, n: usize) -> Result<ArrayRef> {
    let a = &args.args;
    let udf = datafusion::functions::regex::regexp_replace();
    let mut call: Vec<ColumnarValue> = Vec::with_capacity(4);
    call.push(to_utf8(&a[0])?);
    call.push(to_utf8(&a[1])?);
    if a.len() == 4 {
        // DataFusion/Postgres form with explicit flags: pass through unchanged.
        call.push(to_utf8(&a[2])?);
        call.push(to_utf8(&a[3])?);
    } else {
        let repl = match a.get(2) {
            Some(r) => map_utf8(&to_utf8(r)?, java_replacement_to_rust)?,
            None => ColumnarValue::Scalar(ScalarValue::Utf8(Some(String::new()))),
        };
        call.push(repl);
        call.push(ColumnarValue::Scalar(ScalarValue::Utf8(Some("g".to_string()))));
    }
    let all_scalar = call.iter().all(|c| matches!(c, ColumnarValue::Scalar(_)));
    if all_scalar {
        // evaluate as a 1-row array to get a uniform shape
        call[0] = ColumnarValue::Array(call[0].to_array(n)?);
    }
    let res = delegate(&udf, call, n, args)?.to_array(n)?;
    Ok(cast(&res, &DataType::Utf8)?)
}

#[cfg(test)]
mod tests {
    use super::super::tests::{ctx, fails, row, rows};

    #[tokio::test]
    async fn strings_and_regex() {
        let ctx = ctx();
        let r = row(
            &ctx,
            "SELECT split('a,b,,c', ','), split('a,b,c', ',', 2), cardinality(split('', ',')), \
             split_part('a.b.c', '.', 2), split_part('a.b.c', '.', 4), split_part('abc', '', 2), \
             regexp_extract('user=alice id=42', 'id=(\\d+)'), \
             regexp_extract('user=alice id=42', 'id=(\\d+)', 1), \
             regexp_extract('user=alice', 'id=(\\d+)', 1), regexp_extract('abc', 'b', 3), \
             regexp_replace('a1b22c', '\\d+', '#'), regexp_replace('a1b22c', '\\d'), \
             regexp_replace('john smith', '(\\w+) (\\w+)', '$2, $1'), \
             regexp_replace('aXa', 'a', '\\$'), regexp_like('powershell -enc AAA', '-enc\\s')",
        )
        .await;
        assert_eq!(
            r,
            [
                "[a, b, , c]",
                "[a, b,c]",
                "1",
                "b",
                "NULL",
                "b",
                "id=42",
                "42",
                "NULL",
                "NULL",
                "a#b#c",
                "abc",
                "smith, john",
                "$X$",
                "true"
            ]
        );
        assert!(fails(&ctx, "SELECT split('abc', '')").await);
        assert!(fails(&ctx, "SELECT split_part('a.b', '.', 0)").await);
        // column inputs
        let r = rows(
            &ctx,
            "SELECT regexp_extract(cmd, '-(\\w+)', 1), split_part(path, '/', 2) FROM (VALUES \
             ('cmd.exe -enc', '/usr/bin'), ('ls', 'x'), (NULL, NULL)) AS t(cmd, path)",
        )
        .await;
        assert_eq!(r, vec![vec!["enc", "usr"], vec!["NULL", "NULL"], vec!["NULL", "NULL"]]);
    }
}
