//! The Trino SQL *text* layer: [`rewrite_trino_casts`] (Trino-only type names in casts, `user`
//! next to a dot), [`TrinoDialect`] (the generic dialect with `->` lambdas) and the [`sql`] /
//! [`sql_with_options`] entry points that plan a query through both. Kept apart from the UDFs
//! because it works on the SQL string before planning, not on Arrow arrays.

use std::any::TypeId;

use datafusion::common::{plan_err, Result};
use datafusion::dataframe::DataFrame;
use datafusion::execution::context::SQLOptions;
use datafusion::prelude::SessionContext;
use datafusion::sql::parser::DFParserBuilder;
use datafusion::sql::sqlparser::dialect::{Dialect, GenericDialect};

/// Rewrites Trino-only type names in `CAST(x AS <type>)` / `TRY_CAST` so that the
/// SQL can be planned by DataFusion: `IPADDRESS`, `IPPREFIX` and `JSON` become
/// `VARCHAR` (all IP/JSON functions in this module take VARCHAR). Text inside
/// string literals, quoted identifiers and comments is left untouched.
///
/// Only a type name directly preceded by `AS` and followed by `)` is rewritten,
/// so columns or aliases named `json` are not affected. Nested types
/// (`CAST(x AS ARRAY(JSON))`) are not rewritten.
///
/// It also quotes `user` where it touches a `.` (`actor.user.uid`, `user.name`): the generic
/// dialect parses a bare `USER` as the niladic `USER` function, which breaks every OCSF query on
/// `actor.user`, while in Trino it is just a field name there.
pub fn rewrite_trino_casts(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let b = sql.as_bytes();
    let mut i = 0;
    let mut prev_word_is_as = false;
    let mut last_nonspace = b' ';
    while i < b.len() {
        let c = b[i];
        if c == b'\'' || c == b'"' || c == b'`' {
            // quoted literal / identifier; '' and "" are escapes
            let q = c;
            let start = i;
            i += 1;
            while i < b.len() {
                if b[i] == q {
                    if i + 1 < b.len() && b[i + 1] == q {
                        i += 2;
                        continue;
                    }
                    i += 1;
                    break;
                }
                i += 1;
            }
            out.push_str(&sql[start..i]);
            prev_word_is_as = false;
        } else if c == b'-' && i + 1 < b.len() && b[i + 1] == b'-' {
            let start = i;
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
            out.push_str(&sql[start..i]);
        } else if c == b'/' && i + 1 < b.len() && b[i + 1] == b'*' {
            let start = i;
            i += 2;
            while i + 1 < b.len() && !(b[i] == b'*' && b[i + 1] == b'/') {
                i += 1;
            }
            i = (i + 2).min(b.len());
            out.push_str(&sql[start..i]);
        } else if c.is_ascii_alphabetic() || c == b'_' {
            let start = i;
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                i += 1;
            }
            let word = &sql[start..i];
            let closes_cast = sql[i..].trim_start().starts_with(')');
            if prev_word_is_as
                && closes_cast
                && (word.eq_ignore_ascii_case("ipaddress") || word.eq_ignore_ascii_case("ipprefix") || word.eq_ignore_ascii_case("json"))
            {
                out.push_str("VARCHAR");
            } else if word.eq_ignore_ascii_case("user") && (last_nonspace == b'.' || sql[i..].starts_with('.')) {
                out.push_str("\"user\"");
            } else {
                out.push_str(word);
            }
            prev_word_is_as = word.eq_ignore_ascii_case("as");
            last_nonspace = b'a';
            continue;
        } else {
            // push one (possibly multi-byte) char
            let ch = sql[i..].chars().next().unwrap_or(' ');
            out.push(ch);
            i += ch.len_utf8().max(1);
            if !ch.is_whitespace() {
                prev_word_is_as = false;
                last_nonspace = if ch.is_ascii() { ch as u8 } else { b'?' };
            }
        }
    }
    out
}

/// The SQL dialect used by [`sql`]: DataFusion's default (`GenericDialect`)
/// plus Trino lambda syntax (`x -> x > 1`, `(k, v) -> ...`), which the generic
/// dialect does not parse. It reports itself as `GenericDialect` to the parser so
/// every other construct parses exactly as with `SessionContext::sql`.
///
/// (The `->` token therefore always starts a lambda in function arguments; the
/// Postgres JSON arrow operator is not available — DataFusion has no
/// implementation of it anyway.)
#[derive(Debug, Default, Clone, Copy)]
pub struct TrinoDialect(GenericDialect);

/// Implements trait methods by delegating to the wrapped `GenericDialect`.
macro_rules! forward_to_generic {
    ($($method:ident,)*) => {
        $(
            fn $method(&self) -> bool {
                self.0.$method()
            }
        )*
    };
}

impl Dialect for TrinoDialect {
    fn dialect(&self) -> TypeId {
        TypeId::of::<GenericDialect>()
    }

    fn supports_lambda_functions(&self) -> bool {
        true
    }

    fn is_delimited_identifier_start(&self, ch: char) -> bool {
        self.0.is_delimited_identifier_start(ch)
    }

    fn is_identifier_start(&self, ch: char) -> bool {
        self.0.is_identifier_start(ch)
    }

    fn is_identifier_part(&self, ch: char) -> bool {
        self.0.is_identifier_part(ch)
    }

    // Every other method `GenericDialect` overrides (sqlparser 0.62).
    forward_to_generic! {
        supports_unicode_string_literal,
        supports_partition_by_after_order_by,
        supports_array_join_syntax,
        supports_group_by_expr,
        supports_group_by_with_modifier,
        supports_left_associative_joins_without_parens,
        supports_connect_by,
        supports_match_recognize,
        supports_pipe_operator,
        supports_start_transaction_modifier,
        supports_window_function_null_treatment_arg,
        supports_dictionary_syntax,
        supports_window_clause_named_window_reference,
        supports_parenthesized_set_variables,
        supports_select_wildcard_except,
        support_map_literal_syntax,
        allow_extract_custom,
        allow_extract_single_quotes,
        supports_extract_comma_syntax,
        supports_create_view_comment_syntax,
        supports_parens_around_table_factor,
        supports_values_as_table_factor,
        supports_create_index_with_clause,
        supports_explain_with_utility_options,
        supports_limit_comma,
        supports_update_order_by,
        supports_from_first_select,
        supports_projection_trailing_commas,
        supports_asc_desc_in_column_definition,
        supports_try_convert,
        supports_bitwise_shift_operators,
        supports_comment_on,
        supports_load_extension,
        supports_named_fn_args_with_assignment_operator,
        supports_struct_literal,
        supports_empty_projections,
        supports_nested_comments,
        supports_multiline_comment_hints,
        supports_user_host_grantee,
        supports_string_escape_constant,
        supports_array_typedef_with_brackets,
        supports_match_against,
        supports_set_names,
        supports_comma_separated_set_assignments,
        supports_filter_during_aggregation,
        supports_select_wildcard_exclude,
        supports_data_type_signed_suffix,
        supports_interval_options,
        supports_quote_delimited_string,
        supports_select_wildcard_replace,
        supports_select_wildcard_ilike,
        supports_select_wildcard_rename,
        supports_optimize_table,
        supports_install,
        supports_detach,
        supports_prewhere,
        supports_with_fill,
        supports_limit_by,
        supports_interpolate,
        supports_settings,
        supports_select_format,
        supports_comment_optimizer_hint,
        supports_constraint_keyword_without_name,
        supports_key_column_option,
        supports_comma_separated_trim,
        supports_cte_without_as,
        supports_select_item_multi_column_alias,
        supports_xml_expressions,
    }
}

/// Plans and returns a Trino/Athena query: like [`SessionContext::sql`], but
/// parsed with [`TrinoDialect`] (lambdas) after [`rewrite_trino_casts`].
/// Call [`super::register`] on `ctx` first. Exactly one statement is accepted.
pub async fn sql(ctx: &SessionContext, query: &str) -> Result<DataFrame> {
    sql_with_options(ctx, query, SQLOptions::new()).await
}

/// [`sql`] with explicit [`SQLOptions`] (e.g. read-only:
/// `SQLOptions::new().with_allow_ddl(false).with_allow_dml(false)`).
pub async fn sql_with_options(ctx: &SessionContext, query: &str, options: SQLOptions) -> Result<DataFrame> {
    let query = rewrite_trino_casts(query);
    let state = ctx.state();
    let recursion_limit = state.config().options().sql_parser.recursion_limit;
    let dialect = TrinoDialect::default();
    let mut statements = DFParserBuilder::new(query.as_str())
        .with_dialect(&dialect)
        .with_recursion_limit(recursion_limit)
        .build()?
        .parse_statements()?;
    if statements.len() != 1 {
        return plan_err!("expected exactly one SQL statement, got {}", statements.len());
    }
    let Some(mut statement) = statements.pop_front() else {
        return plan_err!("no SQL statement");
    };
    if let datafusion::sql::parser::Statement::Statement(s) = &mut statement {
        crate::lake::unnest::rewrite(s, &dialect);
        super::fields::rewrite_lambda_fields(s);
        super::fields::rewrite_dot_on_values(s);
        super::fields::name_subquery_fields(s);
        super::aggregates::rewrite(s);
    }
    let plan = state.statement_to_plan(statement).await?;
    options.verify_plan(&plan)?;
    ctx.execute_logical_plan(plan).await
}

#[cfg(test)]
mod tests {
    use super::super::tests::{ctx, trino_rows};
    use super::*;

    #[tokio::test]
    async fn trino_entry_point() {
        let ctx = ctx();
        ctx.sql("CREATE TABLE \"my db\" AS VALUES ('10.1.2.3', 1), ('8.8.8.8', 2)")
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        // quoted identifiers, CAST(.. AS IPADDRESS), comments, ARRAY[..]
        let r = trino_rows(
            &ctx,
            "SELECT column2 FROM \"my db\" -- comment AS ipaddress\n\
             WHERE contains('10.0.0.0/8', CAST(column1 AS IPADDRESS)) \
             AND contains(ARRAY[1, 2], column2)",
        )
        .await;
        assert_eq!(r, vec![vec!["1"]]);
        assert!(super::sql(&ctx, "SELECT 1; SELECT 2").await.is_err());
        assert!(
            super::sql_with_options(&ctx, "CREATE TABLE x AS VALUES (1)", SQLOptions::new().with_allow_ddl(false))
                .await
                .is_err()
        );
    }

    #[test]
    fn rewrite_casts() {
        assert_eq!(
            rewrite_trino_casts(
                "SELECT contains('10.0.0.0/8', CAST(ip AS IPADDRESS)), 'AS ipaddress', \"json\", j AS json \
                 FROM t WHERE TRY_CAST(x as json) IS NOT NULL -- AS IPADDRESS"
            ),
            "SELECT contains('10.0.0.0/8', CAST(ip AS VARCHAR)), 'AS ipaddress', \"json\", j AS json \
             FROM t WHERE TRY_CAST(x as VARCHAR) IS NOT NULL -- AS IPADDRESS"
        );
    }

    #[test]
    fn user_next_to_a_dot_is_a_field_not_the_user_function() {
        assert_eq!(
            rewrite_trino_casts("SELECT actor.user.uid, t.USER, user.name, user, 'actor.user.x' FROM t"),
            "SELECT actor.\"user\".uid, t.\"user\", \"user\".name, user, 'actor.user.x' FROM t"
        );
    }
}
