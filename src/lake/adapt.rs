//! Leaf reads on files whose schema is not the table's: struct field access below the adaptation cast.
//!
//! A lake table's schema is the union of its files' schemas with every field nullable (see
//! [`super::schema`]). Security Lake's own v1 files mark most struct fields required, name list
//! elements `array` and carry Avro metadata; its v2 (Iceberg) files carry Parquet field ids. Any such
//! difference makes DataFusion 54's default expression adapter wrap the struct column in a cast to
//! the table's type, `get_field(CAST(actor AS …), 'user', 'uid')`, and the Parquet reader then reads
//! every leaf of `actor` to feed the cast: on AWS-shaped files `actor.user.uid` read 30× the bytes of
//! the leaf (`benches/aws_shaped_lake.py`). Filters on such fields were worse: pushed into the
//! decoder they matched every row (apache/datafusion#24109), so pushdown was off for those tables.
//!
//! Upstream fixed both in 55.1 (apache/datafusion#24125: `CAST(get_field(s, 'x'))` instead of
//! `get_field(CAST(s), 'x')`), which needs arrow 59 — the `iceberg` crate is on 58. This adapter
//! does the same rewrite on 54: after the default adapter, a struct field access whose root is a
//! file column under an adapter-inserted cast becomes `get_field(column, path…)` on the file's own
//! type — one leaf, which the Parquet reader's leaf projection and row filters understand — cast to
//! the table's leaf type only where the leaf types differ (`int` vs `bigint`), and a null of the
//! table's type where the file lacks a nested field. Casts written in the query are left alone (only
//! a cast to exactly the table's field for that column counts as the adapter's), so an explicit
//! cast's errors are not hidden (the concern of apache/datafusion#24680). Map lookups and accesses
//! that end on a struct keep the default behaviour.

use std::sync::Arc;

use arrow::datatypes::{DataType, FieldRef, SchemaRef};
use datafusion::common::tree_node::{Transformed, TransformedResult, TreeNode, TreeNodeRecursion};
use datafusion::common::ScalarValue;
use datafusion::error::Result as DfResult;
use datafusion::functions::core::getfield::GetFieldFunc;
use datafusion::physical_expr::expressions::{CastExpr, Column, Literal};
use datafusion::physical_expr::{PhysicalExpr, ScalarFunctionExpr};
use datafusion::physical_expr_adapter::{DefaultPhysicalExprAdapterFactory, PhysicalExprAdapter, PhysicalExprAdapterFactory};

/// The factory every lake scan uses: DataFusion's default adapter, then struct accesses narrowed
/// to the file's leaves.
#[derive(Debug, Clone, Default)]
pub struct LeafAdapterFactory;

impl PhysicalExprAdapterFactory for LeafAdapterFactory {
    fn create(&self, logical: SchemaRef, physical: SchemaRef) -> DfResult<Arc<dyn PhysicalExprAdapter>> {
        Ok(Arc::new(LeafAdapter {
            inner: DefaultPhysicalExprAdapterFactory.create(logical.clone(), physical.clone())?,
            logical,
            physical,
        }))
    }
}

#[derive(Debug)]
struct LeafAdapter {
    inner: Arc<dyn PhysicalExprAdapter>,
    logical: SchemaRef,
    physical: SchemaRef,
}

impl PhysicalExprAdapter for LeafAdapter {
    fn rewrite(&self, expr: Arc<dyn PhysicalExpr>) -> DfResult<Arc<dyn PhysicalExpr>> {
        let adapted = self.inner.rewrite(expr)?;
        adapted.transform_down(|e| self.narrow(e)).data()
    }
}

impl LeafAdapter {
    /// Rewrite one `get_field` whose root is an adapted file column (see the module docs).
    fn narrow(&self, e: Arc<dyn PhysicalExpr>) -> DfResult<Transformed<Arc<dyn PhysicalExpr>>> {
        let Some(f) = ScalarFunctionExpr::try_downcast_func::<GetFieldFunc>(e.as_ref()) else {
            return Ok(Transformed::no(e));
        };
        let Some(first) = f.args().first() else {
            return Ok(Transformed::no(e));
        };
        if first.downcast_ref::<Column>().is_some() {
            // Already a field of the file's own column: nothing to narrow.
            return Ok(Transformed::no(e));
        }
        let Some((col, mut path)) = self.root(first) else {
            return Ok(Transformed::no(e));
        };
        let Some(names) = literal_names(&f.args()[1..]) else {
            return Ok(Transformed::no(e));
        };
        path.extend(names);
        let target: FieldRef = f.return_field(&self.physical)?;
        let mut t = self.physical.field(col.index()).data_type();
        for name in &path {
            let DataType::Struct(fields) = t else {
                // A map lookup or a list on the way: keep the default (whole-column) behaviour.
                return Ok(Transformed::no(e));
            };
            match fields.iter().find(|x| x.name() == name) {
                Some(x) => t = x.data_type(),
                None => {
                    let null = ScalarValue::try_from(target.data_type())?;
                    return Ok(Transformed::new(Arc::new(Literal::new(null)), true, TreeNodeRecursion::Jump));
                }
            }
        }
        if t.is_nested() {
            // Only leaves narrow the read; a struct result needs the whole sub-tree anyway.
            return Ok(Transformed::no(e));
        }
        let mut args: Vec<Arc<dyn PhysicalExpr>> = vec![Arc::new(col)];
        args.extend(
            path.into_iter()
                .map(|n| Arc::new(Literal::new(ScalarValue::Utf8(Some(n)))) as Arc<dyn PhysicalExpr>),
        );
        let g = ScalarFunctionExpr::try_new(
            Arc::new(f.fun().clone()),
            args,
            &self.physical,
            Arc::new(f.config_options().clone()),
        )?
        .with_nullable(target.is_nullable());
        let out: Arc<dyn PhysicalExpr> = if g.return_type() == target.data_type() {
            Arc::new(g)
        } else {
            Arc::new(CastExpr::new_with_target_field(Arc::new(g), target, None))
        };
        Ok(Transformed::new(out, true, TreeNodeRecursion::Jump))
    }

    /// The file column and field path under `e`: an adapter-inserted cast of a file column, or a
    /// `get_field` chain over one.
    fn root(&self, e: &Arc<dyn PhysicalExpr>) -> Option<(Column, Vec<String>)> {
        if let Some(c) = e.downcast_ref::<CastExpr>() {
            let col = c.expr().downcast_ref::<Column>()?;
            let physical = self.physical.fields().get(col.index())?;
            let logical = self.logical.field_with_name(col.name()).ok()?;
            // Only the adapter's own cast (to exactly the table's field) may be looked through.
            if physical.name() != col.name() || c.target_field().data_type() != logical.data_type() {
                return None;
            }
            return Some((col.clone(), Vec::new()));
        }
        let f = ScalarFunctionExpr::try_downcast_func::<GetFieldFunc>(e.as_ref())?;
        let first = f.args().first()?;
        let (col, mut path) = match first.downcast_ref::<Column>() {
            Some(c) => (c.clone(), Vec::new()),
            None => self.root(first)?,
        };
        path.extend(literal_names(&f.args()[1..])?);
        Some((col, path))
    }
}

fn literal_names(args: &[Arc<dyn PhysicalExpr>]) -> Option<Vec<String>> {
    args.iter()
        .map(|a| {
            a.downcast_ref::<Literal>()
                .and_then(|l| l.value().try_as_str().flatten().map(str::to_string))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::datatypes::{Field, Fields, Schema};
    use datafusion::prelude::SessionContext;

    fn struct_of(fields: Vec<Field>, nullable: bool) -> Field {
        Field::new("actor", DataType::Struct(Fields::from(fields)), nullable)
    }

    /// The file's `actor.user.uid` is required and `type_uid` an int; the table's are nullable and
    /// bigint. The adapted access must be a single `get_field` on the file column (what the Parquet
    /// reader's leaf projection recognises), a cast only where the leaf type differs, and a null
    /// where the file lacks the field.
    #[test]
    fn struct_access_under_the_adapters_cast_becomes_a_leaf_access() {
        let user_file = Field::new(
            "user",
            DataType::Struct(Fields::from(vec![
                Field::new("uid", DataType::Utf8, false),
                Field::new("n", DataType::Int32, true),
            ])),
            false,
        );
        let physical = Arc::new(Schema::new(vec![struct_of(vec![user_file], false)]));
        let user_table = Field::new(
            "user",
            DataType::Struct(Fields::from(vec![
                Field::new("uid", DataType::Utf8, true),
                Field::new("n", DataType::Int64, true),
                Field::new("extra", DataType::Utf8, true),
            ])),
            true,
        );
        let logical = Arc::new(Schema::new(vec![struct_of(vec![user_table], true)]));
        let adapter = LeafAdapterFactory.create(logical.clone(), physical.clone()).unwrap();
        let ctx = SessionContext::new();
        let df_schema = datafusion::common::DFSchema::try_from(logical.as_ref().clone()).unwrap();
        let plan = |sql_expr: datafusion::logical_expr::Expr| {
            let p = ctx.create_physical_expr(sql_expr, &df_schema).unwrap();
            adapter.rewrite(p).unwrap().to_string()
        };
        use datafusion::functions::core::expr_fn::get_field;
        use datafusion::prelude::col;
        let uid = plan(get_field(get_field(col("actor"), "user"), "uid"));
        assert!(!uid.contains("CAST"), "{uid}");
        assert!(uid.starts_with("get_field(actor@0, user, uid)"), "{uid}");
        let n = plan(get_field(get_field(col("actor"), "user"), "n"));
        assert!(n.starts_with("CAST(get_field(actor@0, user, n) AS Int64)"), "{n}");
        let extra = plan(get_field(get_field(col("actor"), "user"), "extra"));
        assert_eq!(extra, "NULL");
        // A struct-valued access keeps the default cast of the whole column.
        let user = plan(get_field(col("actor"), "user"));
        assert!(user.contains("CAST(actor@0"), "{user}");
    }
}
