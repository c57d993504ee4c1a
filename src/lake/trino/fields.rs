//! Field access as Trino writes it, where DataFusion's planner reads it differently.
//!
//! * A lambda's row parameter read with a dot — `any_match(resources, r -> r.type = 'X')`,
//!   `any_match(vulnerabilities, v -> v.cve.cvss.base_score > 7)` ([`rewrite_lambda_fields`]).
//! * A field of a function's result — `element_at(resources, 1).type` ([`rewrite_dot_on_values`]):
//!   DataFusion plans dot access only on names ("Dot access not supported for non-string
//!   expr"), subscripts on anything, so the dots become `['type']`.
//! * The name of a nested field selected in a subquery — `WITH a AS (SELECT o.name, o.value …)
//!   SELECT … a.value` ([`name_subquery_fields`]): Trino names the column `value`, DataFusion
//!   `o[value]`, so the outer query's `a.value` found nothing.
//!
//! All three are rewrites of the parsed statement, before DataFusion plans it; AWS's published
//! Security Lake queries use each form (`tests/fixtures/security_lake_queries.sql`).

use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{
    visit_expressions_mut, AccessExpr, Expr, Query, SelectItem, SetExpr, Statement, Subscript, TableFactor, Value, VisitMut, VisitorMut,
};

/// `['name']`: a field read by subscript, which DataFusion plans on any struct value.
fn field(name: &str) -> AccessExpr {
    AccessExpr::Subscript(Subscript::Index {
        index: Expr::value(Value::SingleQuotedString(name.to_string())),
    })
}

/// `root['a']['b']` for the field path `a.b`.
fn subscripts(root: Expr, path: &[datafusion::sql::sqlparser::ast::Ident]) -> Expr {
    path.iter().fold(root, |x, f| Expr::CompoundFieldAccess {
        root: Box::new(x),
        access_chain: vec![field(&f.value)],
    })
}

/// Trino reads a field of a lambda's row parameter with a dot — `any_match(resources, r ->
/// r.type = 'AwsEc2Instance')`, `any_match(vulnerabilities, v -> v.cve.cvss.base_score > 7)` — as
/// AWS's published Security Lake queries do. DataFusion resolves a compound identifier against the
/// input's columns only, not the lambda's parameters ("No field named r.type"), but does read a
/// parameter's fields by subscript. So inside every lambda body, `p.a.b` for a parameter `p`
/// becomes `p['a']['b']` (a nested lambda sees its enclosing lambdas' parameters too).
pub(crate) fn rewrite_lambda_fields(statement: &mut Statement) {
    let _ = visit_expressions_mut(statement, |e| {
        if let Expr::Lambda(l) = e {
            let params: Vec<String> = l.params.iter().map(|p| p.name.value.to_lowercase()).collect();
            let _ = visit_expressions_mut(&mut *l.body, |b| {
                if let Expr::CompoundIdentifier(parts) = b {
                    if parts.len() >= 2 && parts[0].quote_style.is_none() && params.contains(&parts[0].value.to_lowercase()) {
                        *b = subscripts(Expr::Identifier(parts[0].clone()), &parts[1..]);
                    }
                }
                ControlFlow::<()>::Continue(())
            });
        }
        ControlFlow::<()>::Continue(())
    });
}

/// `f(x).a.b` (a dot on anything but a name) becomes `f(x)['a']['b']`.
pub(crate) fn rewrite_dot_on_values(statement: &mut Statement) {
    let _ = visit_expressions_mut(statement, |e| {
        if let Expr::CompoundFieldAccess { root, access_chain } = e {
            if !matches!(**root, Expr::Identifier(_) | Expr::CompoundIdentifier(_)) {
                for a in access_chain.iter_mut() {
                    if let AccessExpr::Dot(Expr::Identifier(f)) = a {
                        *a = field(&f.value);
                    }
                }
            }
        }
        ControlFlow::<()>::Continue(())
    });
}

/// In the body of every CTE and derived table, an unaliased field path `x.a.b` in the select
/// list is named `b`, as Trino names it, unless another item of the list has that name (Trino
/// allows duplicate column names, DataFusion does not: such items keep DataFusion's name).
pub(crate) fn name_subquery_fields(statement: &mut Statement) {
    struct V;
    impl VisitorMut for V {
        type Break = ();
        fn pre_visit_query(&mut self, q: &mut Query) -> ControlFlow<()> {
            if let Some(with) = &mut q.with {
                for cte in &mut with.cte_tables {
                    name_fields(&mut cte.query);
                }
            }
            ControlFlow::Continue(())
        }
        fn pre_visit_table_factor(&mut self, t: &mut TableFactor) -> ControlFlow<()> {
            if let TableFactor::Derived { subquery, .. } = t {
                name_fields(subquery);
            }
            ControlFlow::Continue(())
        }
    }
    let _ = statement.visit(&mut V);
}

fn name_fields(q: &mut Query) {
    let SetExpr::Select(s) = q.body.as_mut() else { return };
    let name = |i: &SelectItem| -> Option<String> {
        match i {
            SelectItem::UnnamedExpr(Expr::Identifier(x)) => Some(x.value.to_lowercase()),
            SelectItem::UnnamedExpr(Expr::CompoundIdentifier(p)) => p.last().map(|x| x.value.to_lowercase()),
            SelectItem::ExprWithAlias { alias, .. } => Some(alias.value.to_lowercase()),
            _ => None,
        }
    };
    let names: Vec<Option<String>> = s.projection.iter().map(name).collect();
    for (i, item) in s.projection.iter_mut().enumerate() {
        if let SelectItem::UnnamedExpr(Expr::CompoundIdentifier(p)) = item {
            let unique = names.iter().filter(|n| **n == names[i]).count() == 1;
            if let (true, Some(last)) = (unique, p.last().cloned()) {
                let expr = Expr::CompoundIdentifier(p.clone());
                *item = SelectItem::ExprWithAlias { expr, alias: last };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{ctx, trino_rows};

    #[tokio::test]
    async fn fields_of_lambda_parameters() {
        let ctx = ctx();
        // Fields of a row parameter by dot, at any depth, in nested lambdas too (Trino's form).
        let rows = "(VALUES ([named_struct('type', 'bucket', 'cve', named_struct('uid', 'CVE-1', 'score', 7.5))]), \
                    ([named_struct('type', 'instance', 'cve', named_struct('uid', 'CVE-2', 'score', 2.0))])) AS t(a)";
        let r = trino_rows(
            &ctx,
            &format!(
                "SELECT any_match(a, r -> r.type = 'bucket'), any_match(a, r -> r.cve.score > 5), \
                 any_match(transform(a, x -> x.cve.uid), y -> y LIKE '%-2'), cardinality(filter(a, R -> R.cve.uid = 'CVE-1')) \
                 FROM {rows}"
            ),
        )
        .await;
        assert_eq!(r, vec![vec!["true", "true", "false", "1"], vec!["false", "false", "true", "0"]]);
    }

    #[tokio::test]
    async fn fields_of_function_results_and_of_subquery_columns() {
        let ctx = ctx();
        let rows = "(VALUES ([named_struct('type', 'bucket', 'uid', 'b-1')], named_struct('name', 'ip', 'value', '10.0.0.1')), \
                    ([named_struct('type', 'instance', 'uid', 'i-2')], named_struct('name', 'ip', 'value', '10.0.0.2'))) AS t(r, o)";
        let r = trino_rows(&ctx, &format!("SELECT element_at(r, 1).type, element_at(r, -1).uid FROM {rows}")).await;
        assert_eq!(r, vec![vec!["bucket", "b-1"], vec!["instance", "i-2"]]);
        // A CTE's and a derived table's nested fields are named by their last part, so the outer
        // query reads them by that name; two items of one name keep DataFusion's names.
        let r = trino_rows(
            &ctx,
            &format!(
                "WITH a AS (SELECT o.name, o.value FROM {rows}) \
                 SELECT b.value, a.name FROM a JOIN (SELECT o.value, o.name AS n FROM {rows}) b ON a.value = b.value ORDER BY b.value"
            ),
        )
        .await;
        assert_eq!(r, vec![vec!["10.0.0.1", "ip"], vec!["10.0.0.2", "ip"]]);
        let r = trino_rows(
            &ctx,
            &format!("SELECT count(*) FROM (SELECT o.name, o.value AS name FROM {rows}) x"),
        )
        .await;
        assert_eq!(r, vec![vec!["2"]]);
    }
}
