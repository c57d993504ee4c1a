//! Trino's `CROSS JOIN UNNEST(expr) AS x(c)` on the embedded engine.
//!
//! Analysts unnest nested OCSF arrays the Trino way — `FROM t CROSS JOIN UNNEST(finding_info.types)
//! AS x(type)` — but DataFusion 54 plans a lateral `UNNEST` in `FROM` only for a plain column and
//! fails at execution ("OuterReferenceColumn … not supported") even then. DataFusion's *select-list*
//! `unnest()` works on any expression, so this rewrite moves the unnest into a derived table that
//! keeps the left relation's name:
//!
//! ```sql
//! FROM t AS a CROSS JOIN UNNEST(a.arr) AS x(c)
//! -- becomes
//! FROM (SELECT *, unnest(a.arr) AS c FROM t AS a WHERE cardinality(a.arr) > 0) AS a
//! ```
//!
//! and `x.c` references in the same `SELECT` become `c`. The `WHERE` keeps Trino's semantics: a row
//! whose array is NULL or empty produces no output rows under `CROSS JOIN UNNEST`. Handled: `CROSS
//! JOIN UNNEST` directly after the first relation of a `FROM` item, and the comma form `FROM t,
//! UNNEST(…) AS x(c)`, with one or more arrays (zipped, as in Trino), and one array of rows with an
//! alias but no column list (`CROSS JOIN UNNEST(observables) AS o` then `o.value`: the alias names
//! the unnested row), and chains of them (`FROM t, UNNEST(v) AS a(x), UNNEST(x.cvss) AS b(c)`:
//! each wraps the relation the ones before it made, so a later array may be a field of an
//! earlier element, as in Trino's lateral reference). Left unchanged (and so planned by DataFusion
//! as written): `WITH ORDINALITY`, an unnest after a join to another table, an `UNNEST` without any
//! alias. A `SELECT *` over the rewritten relation shows the unnested columns after the table's own.

use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{Expr, Ident, JoinOperator, Select, Statement, TableFactor, TableWithJoins, VisitMut, VisitorMut};
use datafusion::sql::sqlparser::dialect::Dialect;
use datafusion::sql::sqlparser::parser::Parser;

/// Rewrites every supported `UNNEST` relation in `statement`, in place.
pub fn rewrite(statement: &mut Statement, dialect: &dyn Dialect) {
    let mut v = Rewriter { dialect };
    let _ = statement.visit(&mut v);
}

struct Rewriter<'a> {
    dialect: &'a dyn Dialect,
}

impl VisitorMut for Rewriter<'_> {
    type Break = ();

    fn post_visit_select(&mut self, select: &mut Select) -> ControlFlow<()> {
        // Comma form: `FROM t, UNNEST(...) AS x(c)[, UNNEST(...) AS y(d)…]` is a chain of cross
        // joins of the FROM items.
        if select.from.len() >= 2
            && select.from.iter().all(|i| i.joins.is_empty())
            && select.from[1..].iter().all(|i| matches!(i.relation, TableFactor::UNNEST { .. }))
        {
            let rest: Vec<TableWithJoins> = select.from.drain(1..).collect();
            for second in rest {
                select.from[0].joins.push(datafusion::sql::sqlparser::ast::Join {
                    relation: second.relation,
                    global: false,
                    join_operator: JoinOperator::CrossJoin(datafusion::sql::sqlparser::ast::JoinConstraint::None),
                });
            }
        }
        let mut renames = Vec::new();
        for item in &mut select.from {
            // A chain `t CROSS JOIN UNNEST(a) AS x(v) CROSS JOIN UNNEST(v.b) AS y(w)`: each UNNEST
            // wraps the relation made of the ones before it, so a later array may be a field of
            // an earlier one's element (Trino's lateral reference).
            while let Some(r) = self.rewrite_item(item, &renames) {
                renames.extend(r);
            }
        }
        if !renames.is_empty() {
            let _ = datafusion::sql::sqlparser::ast::visit_expressions_mut(select, |e| {
                unqualify(e, &renames);
                ControlFlow::<()>::Continue(())
            });
        }
        ControlFlow::Continue(())
    }
}

/// `x.c` (or `x.c.field…`) for an unnested column `c` of alias `x` loses its qualifier: the
/// rewritten relation has `c` as a plain column.
fn unqualify(e: &mut Expr, renames: &[(Ident, Ident)]) {
    if let Expr::CompoundIdentifier(parts) = e {
        if parts.len() >= 2 && renames.iter().any(|(x, c)| same(&parts[0], x) && same(&parts[1], c)) {
            *e = if parts.len() == 2 {
                Expr::Identifier(parts[1].clone())
            } else {
                Expr::CompoundIdentifier(parts[1..].to_vec())
            };
        }
    }
}

fn same(a: &Ident, b: &Ident) -> bool {
    a.value.eq_ignore_ascii_case(&b.value)
}

impl Rewriter<'_> {
    /// Rewrites `item` when its first join is a supported UNNEST; returns the (unnest alias, column)
    /// pairs whose qualified references must lose their qualifier.
    fn rewrite_item(&self, item: &mut TableWithJoins, earlier: &[(Ident, Ident)]) -> Option<Vec<(Ident, Ident)>> {
        let first = item.joins.first_mut()?;
        if !matches!(first.join_operator, JoinOperator::CrossJoin(_)) {
            return None;
        }
        let TableFactor::UNNEST {
            alias: Some(alias),
            array_exprs,
            with_offset: false,
            with_ordinality: false,
            ..
        } = &mut first.relation
        else {
            return None;
        };
        // An array named through an earlier UNNEST of the chain (`x.v.b`) reads that column.
        for e in array_exprs.iter_mut() {
            let _ = datafusion::sql::sqlparser::ast::visit_expressions_mut(e, |x| {
                unqualify(x, earlier);
                ControlFlow::<()>::Continue(())
            });
        }
        let (alias, array_exprs) = (alias.clone(), array_exprs.clone());
        // Trino: `UNNEST(array of rows) AS a` without a column list exposes the rows' fields as
        // `a.field`. Here the one unnested column is named `a`, a struct, and `a.field` reads its
        // field (DataFusion resolves a compound identifier whose head is no relation as field
        // access on a column).
        let whole_rows = alias.columns.is_empty() && array_exprs.len() == 1;
        if !whole_rows && (alias.columns.len() != array_exprs.len() || array_exprs.is_empty()) {
            return None;
        }
        let base_name = match &item.relation {
            TableFactor::Table { name, alias: None, .. } => name.0.last()?.as_ident()?.clone(),
            TableFactor::Table { alias: Some(a), .. } | TableFactor::Derived { alias: Some(a), .. } if a.columns.is_empty() => {
                a.name.clone()
            }
            _ => return None,
        };
        let unnests: Vec<String> = if whole_rows {
            vec![format!("unnest({}) AS {}", array_exprs[0], alias.name)]
        } else {
            array_exprs
                .iter()
                .zip(&alias.columns)
                .map(|(e, c)| format!("unnest({e}) AS {}", c.name))
                .collect()
        };
        let non_empty: Vec<String> = array_exprs.iter().map(|e| format!("coalesce(cardinality({e}), 0)")).collect();
        let sql = format!(
            "SELECT * FROM (SELECT *, {} FROM {} WHERE {} > 0) AS {}",
            unnests.join(", "),
            item.relation,
            non_empty.join(" + "),
            base_name
        );
        let mut parsed = Parser::parse_sql(self.dialect, &sql).ok()?;
        let Some(Statement::Query(q)) = parsed.pop() else { return None };
        let datafusion::sql::sqlparser::ast::SetExpr::Select(mut s) = *q.body else {
            return None;
        };
        let derived = s.from.pop()?.relation;
        let renames = alias.columns.iter().map(|c| (alias.name.clone(), c.name.clone())).collect();
        item.relation = derived;
        item.joins.remove(0);
        Some(renames)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::sql::sqlparser::dialect::GenericDialect;

    fn rw(sql: &str) -> String {
        let d = GenericDialect {};
        let mut st = Parser::parse_sql(&d, sql).unwrap().pop().unwrap();
        rewrite(&mut st, &d);
        st.to_string()
    }

    #[test]
    fn cross_join_unnest_becomes_select_list_unnest() {
        assert_eq!(
            rw("SELECT x.t FROM f CROSS JOIN UNNEST(finding_info.types) AS x(t)"),
            "SELECT t FROM (SELECT *, unnest(finding_info.types) AS t FROM f WHERE coalesce(cardinality(finding_info.types), 0) > 0) AS f"
        );
        assert_eq!(
            rw("SELECT t, u FROM f AS a, UNNEST(a.x, a.y) AS z(t, u)"),
            "SELECT t, u FROM (SELECT *, unnest(a.x) AS t, unnest(a.y) AS u FROM f AS a \
             WHERE coalesce(cardinality(a.x), 0) + coalesce(cardinality(a.y), 0) > 0) AS a"
        );
        // An array of rows under an alias without columns: the alias names the row.
        assert_eq!(
            rw("SELECT o.value FROM f CROSS JOIN UNNEST(observables) AS o WHERE o.type_id = 2"),
            "SELECT o.value FROM (SELECT *, unnest(observables) AS o FROM f WHERE coalesce(cardinality(observables), 0) > 0) AS f \
             WHERE o.type_id = 2"
        );
    }

    #[test]
    fn a_chain_of_unnests_reads_earlier_elements() {
        // Trino's lateral chain (AWS's CVSS query form): the second array is a field of the
        // first array's element, named with or without the first alias.
        assert_eq!(
            rw("SELECT u.c.s FROM f, UNNEST(v) AS t(x), UNNEST(t.x.cvss) AS u(c) WHERE u.c.s > 1"),
            "SELECT c.s FROM (SELECT *, unnest(x.cvss) AS c FROM (SELECT *, unnest(v) AS x FROM f \
             WHERE coalesce(cardinality(v), 0) > 0) AS f WHERE coalesce(cardinality(x.cvss), 0) > 0) AS f WHERE c.s > 1"
        );
        assert_eq!(
            rw("SELECT c FROM f CROSS JOIN UNNEST(v) AS t(x) CROSS JOIN UNNEST(x.cvss) AS u(c)"),
            "SELECT c FROM (SELECT *, unnest(x.cvss) AS c FROM (SELECT *, unnest(v) AS x FROM f \
             WHERE coalesce(cardinality(v), 0) > 0) AS f WHERE coalesce(cardinality(x.cvss), 0) > 0) AS f"
        );
    }

    #[test]
    fn unsupported_forms_are_left_alone() {
        for sql in [
            "SELECT t FROM f CROSS JOIN UNNEST(arr) WITH ORDINALITY AS x(t, n)",
            "SELECT t FROM f CROSS JOIN UNNEST(arr, brr) AS x",
            "SELECT * FROM f CROSS JOIN UNNEST(arr)",
            "SELECT * FROM f JOIN g ON f.a = g.a CROSS JOIN UNNEST(arr) AS x(t)",
        ] {
            assert_eq!(rw(sql), Parser::parse_sql(&GenericDialect {}, sql).unwrap()[0].to_string());
        }
    }
}
