//! Trino aggregate names DataFusion 54 spells differently, renamed in the parsed statement:
//!
//! * `arbitrary(x)` and `any_value(x)` — "an arbitrary non-null value of x" — become
//!   `first_value(x) IGNORE NULLS` (AWS's published Security Lake queries collapse duplicate
//!   findings with `ARBITRARY(finding_info)` and the like);
//! * `approx_percentile(x, p)` becomes `approx_percentile_cont(x, p)` (the same t-digest
//!   estimate; Trino's array-of-percentiles form is not translated and fails to plan).
//!
//! Why a rename of the syntax tree and not aggregate UDF aliases: `IGNORE NULLS` is a property of
//! the call, not of the function, and an alias of `first_value` would keep a NULL first row.

use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{Expr, FunctionArguments, Ident, NullTreatment, ObjectName, Statement};

/// Renames the Trino aggregates above in `statement`, in place.
pub fn rewrite(statement: &mut Statement) {
    let _ = datafusion::sql::sqlparser::ast::visit_expressions_mut(statement, |e| {
        if let Expr::Function(f) = e {
            let name = f.name.to_string().to_ascii_lowercase();
            let args = match &f.args {
                FunctionArguments::List(l) => l.args.len(),
                _ => 0,
            };
            match (name.as_str(), args) {
                ("arbitrary" | "any_value", 1) if f.over.is_none() => {
                    f.name = ObjectName::from(vec![Ident::new("first_value")]);
                    f.null_treatment = Some(NullTreatment::IgnoreNulls);
                }
                ("approx_percentile", 2) => f.name = ObjectName::from(vec![Ident::new("approx_percentile_cont")]),
                _ => {}
            }
        }
        ControlFlow::<()>::Continue(())
    });
}

#[cfg(test)]
mod tests {
    use super::super::tests::{ctx, trino_rows};

    /// Proves the renamed aggregates give Trino's answers: `arbitrary` skips a NULL first row,
    /// works under GROUP BY on any type, and `approx_percentile` estimates the median.
    #[tokio::test]
    async fn arbitrary_and_approx_percentile_run_as_in_trino() {
        let ctx = ctx();
        ctx.sql("CREATE TABLE t (g INT, v VARCHAR, x DOUBLE) AS VALUES (1, NULL, 1.0), (1, 'a', 2.0), (2, 'b', 3.0), (2, 'b', 4.0), (2, NULL, 5.0)")
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        let rows = trino_rows(&ctx, "SELECT g, ARBITRARY(v) AS a, any_value(v) AS b FROM t GROUP BY g ORDER BY g").await;
        assert_eq!(rows, vec![vec!["1", "a", "a"], vec!["2", "b", "b"]]);
        let rows = trino_rows(&ctx, "SELECT approx_percentile(x, 0.5) FROM t").await;
        assert_eq!(rows, vec![vec!["3.0"]]);
    }
}
