//! Array and map functions: `element_at` (1-based, negative from the end; map lookup for any key
//! type) and the higher-order `all_match` / `none_match` ([`MatchFn`]); `filter` / `transform`
//! are aliases of DataFusion's lambdas registered in [`super::register`].

use std::sync::Arc;

use datafusion::arrow::array::Scalar;
use datafusion::arrow::array::{make_comparator, Array, ArrayRef, AsArray, BooleanArray, GenericListArray, OffsetSizeTrait, UInt64Array};
use datafusion::arrow::buffer::NullBuffer;
use datafusion::arrow::compute::kernels::cmp::eq;
use datafusion::arrow::compute::{cast, take, take_arrays, SortOptions};
use datafusion::arrow::datatypes::{ArrowNativeType, DataType, Field, FieldRef};
use datafusion::common::utils::{adjust_offsets_for_slice, list_values, list_values_row_number, take_function_args};
use datafusion::common::{exec_datafusion_err, exec_err, plan_err, Result};
use datafusion::logical_expr::{
    ColumnarValue, HigherOrderFunctionArgs, HigherOrderReturnFieldArgs, HigherOrderSignature, HigherOrderUDFImpl, LambdaParametersProgress,
    ValueOrLambda, Volatility,
};

use super::columns::I64Col;

// ---------------------------------------------------------------------------
// element_at
// ---------------------------------------------------------------------------

pub(super) fn eval_element_at(a: &[ColumnarValue], n: usize, name: &str) -> Result<ArrayRef> {
    let container = a[0].to_array(n)?;
    match container.data_type() {
        DataType::Map(_, _) => {
            let map = container.as_map();
            let keys = map.keys();
            let key_scalar = matches!(a[1], ColumnarValue::Scalar(_));
            // a scalar key stays a 1-element array (required by `Scalar::new`)
            let key = a[1].to_array(if key_scalar { 1 } else { n })?;
            let key = if key.data_type() != keys.data_type() {
                cast(&key, keys.data_type())?
            } else {
                key
            };
            let offsets = map.value_offsets();
            let eqs: Option<BooleanArray> = if key_scalar && !keys.data_type().is_nested() {
                Some(eq(keys, &Scalar::new(Arc::clone(&key)))?)
            } else {
                None
            };
            let cmp = if eqs.is_none() {
                Some(
                    make_comparator(keys.as_ref(), key.as_ref(), SortOptions::default())
                        .map_err(|e| exec_datafusion_err!("{name}: {e}"))?,
                )
            } else {
                None
            };
            let mut idx: Vec<Option<u64>> = Vec::with_capacity(map.len());
            for row in 0..map.len() {
                let ki = if key_scalar { 0 } else { row };
                if map.is_null(row) || ki >= key.len() || key.is_null(ki) {
                    idx.push(None);
                    continue;
                }
                let start = offsets[row] as usize;
                let end = offsets[row + 1] as usize;
                let hit = (start..end).find(|&j| match (&eqs, &cmp) {
                    (Some(e), _) => e.is_valid(j) && e.value(j),
                    (None, Some(c)) => keys.is_valid(j) && c(j, ki).is_eq(),
                    _ => false,
                });
                idx.push(hit.map(|j| j as u64));
            }
            Ok(take(map.values().as_ref(), &UInt64Array::from(idx), None)?)
        }
        DataType::List(_) => list_element_at(container.as_list::<i32>(), &a[1], name),
        DataType::LargeList(_) => list_element_at(container.as_list::<i64>(), &a[1], name),
        DataType::FixedSizeList(f, _) => {
            let l = cast(&container, &DataType::List(Arc::clone(f)))?;
            list_element_at(l.as_list::<i32>(), &a[1], name)
        }
        DataType::Null => Ok(Arc::new(datafusion::arrow::array::NullArray::new(n))),
        other => exec_err!("{name}: expected an ARRAY or MAP, got {other}"),
    }
}

fn list_element_at<O: OffsetSizeTrait>(list: &GenericListArray<O>, index: &ColumnarValue, name: &str) -> Result<ArrayRef> {
    let idx = I64Col::new(index)?;
    let offsets = list.value_offsets();
    let mut out: Vec<Option<u64>> = Vec::with_capacity(list.len());
    for row in 0..list.len() {
        let Some(k) = idx.get(row) else {
            out.push(None);
            continue;
        };
        if k == 0 {
            return exec_err!("{name}: SQL array indices start at 1");
        }
        if list.is_null(row) {
            out.push(None);
            continue;
        }
        let start = offsets[row].as_usize();
        let end = offsets[row + 1].as_usize();
        let len = (end - start) as u64;
        let pos = if k > 0 {
            let k = k as u64;
            (k <= len).then(|| start as u64 + k - 1)
        } else {
            let k = k.unsigned_abs();
            (k <= len).then(|| end as u64 - k)
        };
        out.push(pos);
    }
    Ok(take(list.values().as_ref(), &UInt64Array::from(out), None)?)
}

// ---------------------------------------------------------------------------
// all_match / none_match (higher-order functions)
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum MatchMode {
    /// `all_match(array, x -> pred)`: false if any element's predicate is false;
    /// otherwise NULL if any is NULL; otherwise true (true for empty arrays).
    All,
    /// `none_match(array, x -> pred)`: false if any predicate is true; otherwise
    /// NULL if any is NULL; otherwise true (true for empty arrays).
    None,
}

/// Trino `all_match` / `none_match` (DataFusion 54 only has `any_match`).
#[derive(Debug, PartialEq, Eq, Hash)]
pub(super) struct MatchFn {
    name: &'static str,
    mode: MatchMode,
    signature: HigherOrderSignature,
}

impl MatchFn {
    pub(super) fn new(name: &'static str, mode: MatchMode) -> Self {
        Self {
            name,
            mode,
            signature: HigherOrderSignature::exact(vec![ValueOrLambda::Value(()), ValueOrLambda::Lambda(())], Volatility::Immutable),
        }
    }
}

impl HigherOrderUDFImpl for MatchFn {
    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &HigherOrderSignature {
        &self.signature
    }

    fn coerce_value_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        let [list] = take_function_args(self.name, arg_types)?;
        Ok(vec![match list {
            DataType::List(_) | DataType::LargeList(_) => list.clone(),
            DataType::FixedSizeList(f, _) | DataType::ListView(f) => DataType::List(Arc::clone(f)),
            DataType::LargeListView(f) => DataType::LargeList(Arc::clone(f)),
            DataType::Null => DataType::new_list(DataType::Null, true),
            other => return plan_err!("{} expects an array, got {other}", self.name),
        }])
    }

    fn lambda_parameters(&self, _step: usize, fields: &[ValueOrLambda<FieldRef, Option<FieldRef>>]) -> Result<LambdaParametersProgress> {
        let [list, _] = take_function_args(self.name, fields)?;
        let ValueOrLambda::Value(list) = list else {
            return plan_err!("{} expects an array as first argument", self.name);
        };
        let field = match list.data_type() {
            DataType::List(f) | DataType::LargeList(f) => f,
            other => return plan_err!("{} expects an array, got {other}", self.name),
        };
        Ok(LambdaParametersProgress::Complete(vec![vec![Arc::clone(field)]]))
    }

    fn return_field_from_args(&self, _args: HigherOrderReturnFieldArgs) -> Result<FieldRef> {
        Ok(Arc::new(Field::new(self.name, DataType::Boolean, true)))
    }

    fn invoke_with_args(&self, args: HigherOrderFunctionArgs) -> Result<ColumnarValue> {
        let [ValueOrLambda::Value(list), ValueOrLambda::Lambda(lambda)] = take_function_args(self.name, &args.args)? else {
            return exec_err!("{} expects an array followed by a lambda", self.name);
        };
        let list_array = list.to_array(args.number_rows)?;
        if list_array.null_count() == list_array.len() {
            return Ok(ColumnarValue::Array(datafusion::arrow::array::new_null_array(
                &DataType::Boolean,
                list_array.len(),
            )));
        }
        let values = list_values(&list_array)?;
        let values_param = || Ok(Arc::clone(&values));
        let pred = lambda
            .evaluate(&[&values_param], |arrays| {
                let indices = list_values_row_number(&list_array)?;
                Ok(take_arrays(arrays, &indices, None)?)
            })?
            .into_array(values.len())?;
        let pred = pred
            .as_any()
            .downcast_ref::<BooleanArray>()
            .ok_or_else(|| exec_datafusion_err!("{}: predicate must be boolean", self.name))?;
        // value that makes the whole result false
        let decisive = match self.mode {
            MatchMode::All => false,
            MatchMode::None => true,
        };
        let mut out: Vec<Option<bool>> = Vec::with_capacity(list_array.len());
        let mut push_range = |start: usize, end: usize| {
            let mut saw_null = false;
            for j in start..end {
                if j >= pred.len() || pred.is_null(j) {
                    saw_null = true;
                } else if pred.value(j) == decisive {
                    out.push(Some(false));
                    return;
                }
            }
            out.push(if saw_null { None } else { Some(true) });
        };
        match list_array.data_type() {
            DataType::List(_) => {
                let l = list_array.as_list::<i32>();
                let offs = adjust_offsets_for_slice(l);
                for i in 0..l.len() {
                    push_range(offs[i].as_usize(), offs[i + 1].as_usize());
                }
            }
            DataType::LargeList(_) => {
                let l = list_array.as_list::<i64>();
                let offs = adjust_offsets_for_slice(l);
                for i in 0..l.len() {
                    push_range(offs[i].as_usize(), offs[i + 1].as_usize());
                }
            }
            other => return exec_err!("{} expects an array, got {other}", self.name),
        }
        let res = BooleanArray::from(out);
        let (bits, nulls) = res.into_parts();
        let nulls = NullBuffer::union(list_array.nulls(), nulls.as_ref());
        Ok(ColumnarValue::Array(Arc::new(BooleanArray::new(bits, nulls))))
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{ctx, fails, row, rows, trino_rows};

    #[tokio::test]
    async fn maps_and_arrays() {
        let ctx = ctx();
        let r = row(
            &ctx,
            "SELECT m['a'], element_at(m, 'a'), element_at(m, 'zz'), m['zz'], cardinality(m) \
             FROM (SELECT MAP(['a', 'b'], ['1', '2']) AS m)",
        )
        .await;
        assert_eq!(r, ["1", "1", "NULL", "NULL", "2"]);
        let r = rows(
            &ctx,
            "SELECT unmapped['k'], element_at(unmapped, k) FROM (VALUES \
               (make_map('k', 'v1', 'z', 'v2'), 'z'), \
               (make_map('z', 'v3'), 'k')) AS t(unmapped, k)",
        )
        .await;
        assert_eq!(r, vec![vec!["v1", "v2"], vec!["NULL", "NULL"]]);
        let r = row(
            &ctx,
            "SELECT element_at([10, 20, 30], 1), element_at([10, 20, 30], -1), \
             element_at([10, 20, 30], 4), element_at([10, 20, 30], -4), \
             element_at(['a'], CAST(NULL AS BIGINT))",
        )
        .await;
        assert_eq!(r, ["10", "30", "NULL", "NULL", "NULL"]);
        assert!(fails(&ctx, "SELECT element_at([1, 2], 0)").await);
    }

    #[tokio::test]
    async fn lambdas() {
        let ctx = ctx();
        // DataFusion's generic dialect does not parse lambdas …
        assert!(ctx.sql("SELECT any_match([1, 2], x -> x > 1)").await.is_err());
        // … the Trino entry point does.
        let r = trino_rows(
            &ctx,
            "SELECT any_match([1, 2, 3], x -> x > 2), all_match([1, 2, 3], x -> x > 0), \
             all_match([1, 2, 3], x -> x > 1), all_match(arrow_cast(make_array(), 'List(Int64)'), x -> x > 1), \
             all_match([1, NULL], x -> x > 0), none_match([1, 2], x -> x > 5), \
             none_match([1, 2], x -> x > 1), none_match([NULL, 1], x -> x > 5), \
             filter([1, 2, 3], x -> x > 1), transform([1, 2], x -> x * 10)",
        )
        .await;
        assert_eq!(
            r,
            vec![vec![
                "true", "true", "false", "true", "NULL", "true", "false", "NULL", "[2, 3]", "[10, 20]"
            ]]
        );
        let r = trino_rows(
            &ctx,
            "SELECT all_match(a, x -> x LIKE 'a%'), any_match(a, x -> x = 'b') \
             FROM (VALUES (['ab', 'ac']), (['ab', 'b']), (NULL)) AS t(a)",
        )
        .await;
        assert_eq!(r, vec![vec!["true", "false"], vec!["false", "true"], vec!["NULL", "NULL"]]);
    }
}
