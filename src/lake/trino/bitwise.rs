//! Trino's bitwise functions (`bitwise_and`, `bitwise_or`, `bitwise_xor`, `bitwise_not`,
//! `bitwise_left_shift`, `bitwise_right_shift`).

use std::sync::Arc;

use datafusion::logical_expr::ScalarUDF;

use super::columns::I64Col;

/// Trino's bitwise functions over `bigint` (arguments coerced to it; NULL in, NULL out): what a
/// query testing TCP flags or a permission mask writes. DataFusion has the `&`, `|`, `^` operators
/// but not these names. Shifts follow Trino: by 64 or more (or a negative amount) the result is
/// 0, and `bitwise_right_shift` is logical (zero-filling).
pub(super) fn udfs() -> Vec<ScalarUDF> {
    use datafusion::arrow::array::Int64Array;
    use datafusion::arrow::datatypes::DataType;
    use datafusion::logical_expr::{create_udf, ColumnarValue, Volatility};
    fn shift(v: i64, s: i64, left: bool) -> i64 {
        if !(0..64).contains(&s) {
            0
        } else if left {
            ((v as u64) << s) as i64
        } else {
            ((v as u64) >> s) as i64
        }
    }
    /// Rows of a call: an array argument's length, 1 when every argument is a constant.
    fn rows(args: &[ColumnarValue]) -> usize {
        args.iter()
            .find_map(|a| match a {
                ColumnarValue::Array(x) => Some(x.len()),
                ColumnarValue::Scalar(_) => None,
            })
            .unwrap_or(1)
    }
    type Op = fn(i64, i64) -> i64;
    let two: [(&str, Op); 5] = [
        ("bitwise_and", |a, b| a & b),
        ("bitwise_or", |a, b| a | b),
        ("bitwise_xor", |a, b| a ^ b),
        ("bitwise_left_shift", |a, b| shift(a, b, true)),
        ("bitwise_right_shift", |a, b| shift(a, b, false)),
    ];
    let mut out: Vec<ScalarUDF> = two
        .into_iter()
        .map(|(name, f)| {
            create_udf(
                name,
                vec![DataType::Int64, DataType::Int64],
                DataType::Int64,
                Volatility::Immutable,
                Arc::new(move |args: &[ColumnarValue]| {
                    let (a, b) = (I64Col::new(&args[0])?, I64Col::new(&args[1])?);
                    let r: Int64Array = (0..rows(args)).map(|i| Some(f(a.get(i)?, b.get(i)?))).collect();
                    Ok(ColumnarValue::Array(Arc::new(r)))
                }),
            )
        })
        .collect();
    out.push(create_udf(
        "bitwise_not",
        vec![DataType::Int64],
        DataType::Int64,
        Volatility::Immutable,
        Arc::new(|args: &[ColumnarValue]| {
            let a = I64Col::new(&args[0])?;
            let r: Int64Array = (0..rows(args)).map(|i| a.get(i).map(|v| !v)).collect();
            Ok(ColumnarValue::Array(Arc::new(r)))
        }),
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::super::tests::{ctx, rows};

    /// Trino's bitwise functions as a TCP-flags query uses them (SYN = 2, ACK = 16 in OCSF's
    /// `connection_info.tcp_flags`), with Trino's results for shifts out of range, logical right
    /// shifts of negatives, NULLs and integer arguments narrower than bigint.
    #[tokio::test]
    async fn bitwise_functions_behave_as_in_trino() {
        let ctx = ctx();
        let r = rows(
            &ctx,
            "SELECT bitwise_and(18, 2), bitwise_and(16, 2), bitwise_or(16, 2), bitwise_xor(19, 3), \
             bitwise_not(5), bitwise_left_shift(1, 4), bitwise_right_shift(-8, 60), \
             bitwise_left_shift(1, 64), bitwise_and(CAST(NULL AS BIGINT), 1), bitwise_and(CAST(6 AS INT), CAST(3 AS SMALLINT))",
        )
        .await;
        assert_eq!(r, vec![vec!["2", "0", "18", "16", "-6", "16", "15", "0", "NULL", "2"]]);
        let t = rows(
            &ctx,
            "SELECT count(*) FROM (VALUES (2), (18), (16), (3)) AS f(flags) WHERE bitwise_and(flags, 2) <> 0",
        )
        .await;
        assert_eq!(t, vec![vec!["3"]]);
    }
}
