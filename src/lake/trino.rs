//! Trino / Amazon Athena (engine v3) SQL compatibility functions for DataFusion.
//!
//! Analysts write their Security Lake (OCSF) queries in Athena, i.e. in the
//! Trino dialect. [`register`] installs, on a [`SessionContext`], scalar UDFs
//! (and two higher-order functions) so that the common Trino functions used in
//! security queries behave as they do in Athena. [`TRINO_FUNCTIONS`] lists every
//! name registered here; [`OVERRIDDEN_BUILTINS`] lists the subset whose name
//! already exists in DataFusion 54 with *different* semantics and which is
//! therefore shadowed (only in the context passed to [`register`]).
//!
//! Queries can be run with the ordinary `SessionContext::sql`. Two Trino
//! features need the SQL *text* to be handled differently, which [`sql`] /
//! [`sql_with_options`] do (use them for analyst-supplied SQL):
//!
//! * lambdas (`any_match(arr, x -> x > 1)`): DataFusion's default (generic)
//!   SQL dialect does not parse `->` lambdas; [`TrinoDialect`] is the generic
//!   dialect with lambda parsing switched on;
//! * `CAST(x AS IPADDRESS | IPPREFIX | JSON)`: rewritten to VARCHAR by
//!   [`rewrite_trino_casts`].
//!
//! # What DataFusion 54 already provides (not re-registered)
//!
//! These behave like Trino (modulo the notes) and are left alone:
//!
//! * `cardinality(array|map)`, `array_agg`, `unnest` (`CROSS JOIN UNNEST(x) AS t(c)`),
//!   `array_join(arr, sep[, null_repl])`, `array_distinct`, `array_max`, `array_min`,
//!   `array_sort`, `array_union`, `array_intersect`, `array_except`, `arrays_overlap`,
//!   `flatten`, `map_keys`, `map_values`, `approx_distinct`.
//!   (`cardinality` of a *nested* array counts all leaf elements in DataFusion, Trino
//!   counts the top level only.)
//! * Lambda functions: DataFusion 54 ships `any_match(arr, x -> ...)`,
//!   `array_filter` and `array_transform` (the SQL must go through [`sql`], see
//!   above). This module adds `all_match`/`none_match` and registers the Trino
//!   names `filter`/`transform` as aliases of `array_filter`/`array_transform`.
//!   `reduce`, `zip_with`, `transform_keys`, `transform_values` and
//!   `map_filter` are **not** available.
//! * `date_trunc(unit, ts)`, `now()`, `current_timestamp`, `current_date`,
//!   `EXTRACT(field FROM ts)`, `ts + INTERVAL '1' DAY`, `ts AT TIME ZONE 'x'`.
//! * `regexp_like(str, pattern)` (search semantics, like Trino) and `regexp_count`.
//!   Patterns use the Rust `regex` syntax: no back-references / look-around
//!   (Trino uses Java/joni regexes).
//! * `strpos`, `position`, `length`, `lower`, `upper`, `trim`, `ltrim`, `rtrim`,
//!   `lpad`, `rpad`, `reverse`, `replace`, `concat`, `concat_ws`, `starts_with`,
//!   `coalesce`, `nullif`, `greatest`, `least`, `try_cast`.
//! * Map subscript: `unmapped['key']` is planned by DataFusion as
//!   `get_field(unmapped, 'key')` and returns the value, or NULL for a missing key
//!   (Trino raises an error for a missing key in a subscript; NULL is strictly more
//!   permissive). Struct field access `actor.user.name` works natively.
//!   Caveat: DataFusion's subscript fails on maps whose *keys* are `Utf8View`
//!   ("Invalid comparison operation: Utf8 == Utf8View"); Parquet scans only
//!   convert top-level strings to views so lake maps are unaffected, and
//!   `element_at(map, key)` (this module) handles any string key type.
//!
//! # What this module adds or overrides
//!
//! Date/time: `from_unixtime` (override), `from_unixtime_nanos`, `to_unixtime`
//! (override), `from_iso8601_timestamp`, `from_iso8601_date`, `to_iso8601`,
//! `date_add`, `date_diff`, `date_format` (override), `date_parse`, `date`,
//! `last_day_of_month`, and the field extractors `year`, `quarter`, `month`,
//! `week`/`week_of_year`, `day`/`day_of_month`, `day_of_week`/`dow`,
//! `day_of_year`/`doy`, `year_of_week`/`yow`, `hour`, `minute`, `second`,
//! `millisecond`.
//!
//! IP: `contains` (override; CIDR / substring / array membership, see
//! [`Kind::Contains`]), `is_private_ip`, `ipaddress`, `ipprefix`, `ip_prefix`,
//! `is_subnet_of`, `ip_subnet_min`, `ip_subnet_max`.
//!
//! URL: `url_extract_host`, `url_extract_port`, `url_extract_protocol`,
//! `url_extract_path`, `url_extract_query`, `url_extract_fragment`,
//! `url_extract_parameter`, `url_encode`, `url_decode`.
//!
//! JSON (JSON values are carried as VARCHAR): `json_extract_scalar`,
//! `json_extract`, `json_array_length`, `json_size`, `json_parse`, `json_format`.
//!
//! Strings / regex: `split`, `split_part` (override), `regexp_extract`,
//! `regexp_replace` (override: replaces *all* matches, Java `$1` replacement
//! syntax).
//!
//! Collections: `element_at` (override: DataFusion's alias returns a one-element
//! list for maps), `contains(array, element)`, `all_match`, `none_match`,
//! `filter`, `transform`.
//!
//! Conditional: `if(cond, a[, b])` (rewritten to `CASE`).
//!
//! # Null and error policy
//!
//! * A NULL in any value argument yields NULL (except where documented).
//! * Malformed *data* (unparsable timestamp, IP, URL or JSON document) yields
//!   NULL instead of failing the whole query the way Trino does — i.e. the
//!   functions behave like Trino wrapped in `try(...)`.
//! * Malformed *constants* that Trino rejects at analysis/run time (unknown
//!   `date_add` unit, invalid JSON path, unknown time zone, index 0 for
//!   `element_at`/`split_part`, empty `split` delimiter) raise an execution
//!   error, as in Trino.
//! * No function panics on hostile input; overflows yield NULL.
//!
//! # Known gaps (not expressible as scalar UDFs or not done)
//!
//! * `CAST(x AS IPADDRESS)` / `CAST(x AS IPPREFIX)` / `JSON` type / `IPADDRESS '…'`
//!   literals: unknown SQL types cannot be added by UDFs. [`sql`] /
//!   [`rewrite_trino_casts`] rewrite the type name in casts to VARCHAR, or write
//!   `ipaddress(x)`; all IP functions here take VARCHAR. `IPADDRESS '1.2.3.4'`
//!   typed literals are not rewritten.
//! * `try(expr)`: cannot be a UDF (arguments are evaluated before the call).
//!   The NULL-on-bad-data policy above covers the usual `try(from_iso8601_timestamp(x))`.
//! * `timestamp with time zone` zone names: results of `from_unixtime` /
//!   `from_iso8601_timestamp` are normalised to UTC (`Timestamp(ms, "UTC")`); the
//!   original offset of an ISO-8601 string is not preserved.
//! * `at_timezone`, `with_timezone`, `format_datetime`/`parse_datetime` (Joda
//!   patterns), `regexp_extract_all`, `regexp_split`, `reduce`, `sequence`,
//!   `slice`, `typeof`, `array_position` (DataFusion returns NULL instead of 0
//!   when not found), `substr`/`substring` with a start <= 0 (DataFusion follows
//!   Postgres: `substr('hello', -3)` is `'hello'`, Trino gives `'llo'`; the
//!   SUBSTR/SUBSTRING syntax is planned by a DataFusion expression planner, so a
//!   UDF of that name cannot override it).
//! * Aggregates: `count_if`, `max_by`/`min_by`, `arbitrary`, `approx_percentile`,
//!   `histogram` are not provided (DataFusion has `approx_percentile_cont`,
//!   `first_value`, `approx_distinct`).

use std::any::TypeId;
use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;
use std::sync::Arc;

use chrono::{DateTime, Datelike, Months, NaiveDate, NaiveDateTime, NaiveTime, Offset, TimeDelta, TimeZone, Timelike};
use datafusion::arrow::array::timezone::Tz;
use datafusion::arrow::array::Scalar;
use datafusion::arrow::array::{
    make_comparator, Array, ArrayRef, AsArray, BooleanArray, Date32Array, Float64Array, GenericListArray, Int32Array, Int64Array,
    LargeStringArray, ListBuilder, OffsetSizeTrait, StringArray, StringBuilder, StringViewArray, UInt64Array,
};
use datafusion::arrow::buffer::NullBuffer;
use datafusion::arrow::compute::kernels::cmp::eq;
use datafusion::arrow::compute::{cast, take, take_arrays, SortOptions};
use datafusion::arrow::datatypes::{ArrowNativeType, DataType, Field, FieldRef, Float64Type, Int32Type, Int64Type, TimeUnit};
use datafusion::common::utils::{adjust_offsets_for_slice, list_values, list_values_row_number, take_function_args};
use datafusion::common::{exec_datafusion_err, exec_err, plan_datafusion_err, plan_err, Result, ScalarValue};
use datafusion::dataframe::DataFrame;
use datafusion::execution::context::SQLOptions;
use datafusion::logical_expr::expr::Case;
use datafusion::logical_expr::simplify::{ExprSimplifyResult, SimplifyContext};
use datafusion::logical_expr::type_coercion::binary::{comparison_coercion, type_union_resolution};
use datafusion::logical_expr::{
    ColumnarValue, Expr, HigherOrderFunctionArgs, HigherOrderReturnFieldArgs, HigherOrderSignature, HigherOrderUDF, HigherOrderUDFImpl,
    LambdaParametersProgress, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, ValueOrLambda, Volatility,
};
use datafusion::prelude::SessionContext;
use datafusion::sql::parser::DFParserBuilder;
use datafusion::sql::sqlparser::dialect::{Dialect, GenericDialect};

// ---------------------------------------------------------------------------
// Registration
// ---------------------------------------------------------------------------

/// Every function name registered by [`register`] (scalar UDFs, higher-order
/// functions and aliases).
pub const TRINO_FUNCTIONS: &[&str] = &[
    // date / time
    "from_unixtime",
    "from_unixtime_nanos",
    "to_unixtime",
    "from_iso8601_timestamp",
    "from_iso8601_date",
    "to_iso8601",
    "date_add",
    "date_diff",
    "date_format",
    "date_parse",
    "date",
    "last_day_of_month",
    "year",
    "quarter",
    "month",
    "week",
    "week_of_year",
    "day",
    "day_of_month",
    "day_of_week",
    "dow",
    "day_of_year",
    "doy",
    "year_of_week",
    "yow",
    "hour",
    "minute",
    "second",
    "millisecond",
    // ip
    "contains",
    "is_private_ip",
    "ipaddress",
    "ipprefix",
    "ip_prefix",
    "is_subnet_of",
    "ip_subnet_min",
    "ip_subnet_max",
    // url
    "url_extract_host",
    "url_extract_port",
    "url_extract_protocol",
    "url_extract_path",
    "url_extract_query",
    "url_extract_fragment",
    "url_extract_parameter",
    "url_encode",
    "url_decode",
    // json
    "json_extract_scalar",
    "json_extract",
    "json_array_length",
    "json_size",
    "json_parse",
    "json_format",
    // strings / regex
    "split",
    "split_part",
    "regexp_extract",
    "regexp_replace",
    // conditional
    "if",
    // collections
    "element_at",
    "all_match",
    "none_match",
    "filter",
    "transform",
];

/// Names in [`TRINO_FUNCTIONS`] that shadow a DataFusion 54 built-in (or
/// built-in alias) of the same name whose semantics differ from Trino.
pub const OVERRIDDEN_BUILTINS: &[&str] = &[
    "from_unixtime",  // DF: Int64 only, Timestamp(s, None)
    "to_unixtime",    // DF: returns Int64 (truncated); Trino returns double
    "date_format",    // DF: alias of to_char (chrono %M = minute, etc.)
    "contains",       // DF: substring only
    "split_part",     // DF: '' past the end and negative indexes
    "regexp_replace", // DF: first match only unless 'g' flag, \1 syntax
    "element_at",     // DF: alias of map_extract, returns a one-element list
];

/// Registers all Trino compatibility functions on `ctx`.
///
/// Functions listed in [`OVERRIDDEN_BUILTINS`] replace the DataFusion built-in
/// of the same name *in this context only*.
pub fn register(ctx: &SessionContext) {
    ctx.register_udf(ScalarUDF::new_from_impl(super::date_trunc::FastDateTrunc::new()));
    for (name, kind) in SCALAR_FUNCS {
        ctx.register_udf(ScalarUDF::new_from_impl(TrinoFn::new(name, *kind)));
    }
    ctx.register_higher_order_function(Arc::new(HigherOrderUDF::new_from_impl(MatchFn::new("all_match", MatchMode::All))));
    ctx.register_higher_order_function(Arc::new(HigherOrderUDF::new_from_impl(MatchFn::new("none_match", MatchMode::None))));
    // Trino spellings of DataFusion's lambda functions.
    let filter = datafusion::functions_nested::array_filter::array_filter_higher_order_function();
    ctx.register_higher_order_function(Arc::new(filter.as_ref().clone().with_aliases(["filter"])));
    let transform = datafusion::functions_nested::array_transform::array_transform_higher_order_function();
    ctx.register_higher_order_function(Arc::new(transform.as_ref().clone().with_aliases(["transform"])));
}

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
/// Call [`register`] on `ctx` first. Exactly one statement is accepted.
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
        super::unnest::rewrite(s, &dialect);
    }
    let plan = state.statement_to_plan(statement).await?;
    options.verify_plan(&plan)?;
    ctx.execute_logical_plan(plan).await
}

// ---------------------------------------------------------------------------
// Function catalogue
// ---------------------------------------------------------------------------

/// Calendar field extracted by the Trino field functions (`year(x)`, `hour(x)` …).
/// All return BIGINT, computed on the wall-clock time of the value's own time
/// zone (UTC for zone-less timestamps). DATE inputs are treated as midnight.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Part {
    Year,
    Quarter,
    Month,
    /// ISO-8601 week of the year (1–53), like Trino `week`/`week_of_year`.
    Week,
    Day,
    /// ISO day of week, Monday = 1 … Sunday = 7 (Trino `day_of_week`/`dow`).
    DayOfWeek,
    DayOfYear,
    /// ISO week-numbering year (Trino `year_of_week`/`yow`).
    YearOfWeek,
    Hour,
    Minute,
    Second,
    Millisecond,
}

/// Component returned by the `url_extract_*` functions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum UrlPart {
    Protocol,
    Host,
    Port,
    Path,
    Query,
    Fragment,
}

/// The implemented functions. Each variant documents the Trino semantics it
/// mirrors and the deviations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    /// `from_unixtime(unixtime)`, `from_unixtime(unixtime, zone)`,
    /// `from_unixtime(unixtime, hours, minutes)`.
    /// `unixtime` is seconds since the epoch as BIGINT or DOUBLE (fractions kept
    /// to the millisecond, rounded as in Trino). Returns `Timestamp(ms, "UTC")`
    /// (Trino: `timestamp(3) with time zone`), or `Timestamp(ms, zone)` when a
    /// constant zone / hour+minute offset is given. Out-of-range or non-finite
    /// input yields NULL.
    FromUnixtime,
    /// `from_unixtime_nanos(nanos bigint)` → `Timestamp(ns, "UTC")`.
    FromUnixtimeNanos,
    /// `to_unixtime(ts)` → DOUBLE seconds since the epoch, with fractional
    /// seconds (DataFusion's built-in returns a truncated BIGINT). Also accepts
    /// DATE, ISO-8601 VARCHAR (NULL if unparsable) and numbers (returned as is).
    ToUnixtime,
    /// `from_iso8601_timestamp(varchar)` → `Timestamp(ms, "UTC")`. Accepts
    /// `YYYY[-MM[-DD]][(T| )hh[:mm[:ss[(.|,)fff…]]]][Z|±hh[[:]mm]]`; a missing
    /// zone means UTC (Athena's session zone). Unparsable → NULL.
    FromIso8601Timestamp,
    /// `from_iso8601_date(varchar)` → DATE. Unparsable → NULL.
    FromIso8601Date,
    /// `to_iso8601(ts|date)` → VARCHAR, e.g. `2020-05-11T11:15:05.000Z`; the
    /// fraction has the precision of the input unit; zone-less timestamps have no
    /// zone suffix, zero offsets print `Z`, others `±hh:mm`.
    ToIso8601,
    /// `date_add(unit, value, ts|date)`. Units (case-insensitive): millisecond,
    /// second, minute, hour, day, week, month, quarter, year. Sub-day units are
    /// exact durations; day/week/month/quarter/year are applied to the local
    /// wall-clock of the value's zone, and month arithmetic clamps to the last
    /// day of the month (Jan 31 + 1 month = Feb 28/29), like Trino. Returns the
    /// input type. Unknown unit → error; overflow → NULL.
    DateAdd,
    /// `date_diff(unit, ts1, ts2)` → BIGINT number of whole `unit`s from ts1 to
    /// ts2 (negative if ts2 < ts1), truncated toward zero; month/quarter/year
    /// count complete calendar months like Trino/Joda
    /// (`date_diff('month', DATE '2020-01-31', DATE '2020-02-28') = 0`, and
    /// `= 1` for `DATE '2020-02-29'`, the last day of February).
    DateDiff,
    /// `date_format(ts, format)` with MySQL specifiers (%Y %m %d %H %i %s %T %f
    /// %p %j %W %a %M %b %c %e %k %l %h %I %r %y %v %x %U %u %V %X %w %D %%);
    /// any other `%x` prints `x`. Formats the wall-clock time of the value's zone.
    DateFormat,
    /// `date_parse(varchar, format)` → `Timestamp(ms, None)` (Trino: timestamp(3)),
    /// MySQL specifiers as above (week specifiers unsupported → error).
    /// Unparsable input → NULL.
    DateParse,
    /// `date(x)`: `CAST(x AS DATE)` for timestamps (local date), dates and
    /// `YYYY-MM-DD` strings (NULL if unparsable).
    Date,
    /// `last_day_of_month(x)` → DATE.
    LastDayOfMonth,
    /// Field extraction, see [`Part`].
    Extract(Part),
    /// `contains(a, b)`, dispatching on the arguments (Trino overloads both
    /// `contains(array(T), T)` and `contains(varchar CIDR, ipaddress)`):
    ///
    /// 1. `a` is an ARRAY → Trino array membership: true if an element equals
    ///    `b`; NULL if `b` is NULL, or if not found and the array has NULL
    ///    elements; otherwise false. (DataFusion's `array_has` returns false in
    ///    the latter case.)
    /// 2. `a` is a VARCHAR whose text is `<ip>/<len>` → Trino CIDR test:
    ///    true if the IP text `b` (IPv4 or IPv6; IPv4-mapped IPv6 is treated as
    ///    IPv4) lies in the network. Different address families → false.
    ///    As an extension, `b` may itself be a CIDR (true if it is a subnet).
    ///    NULL if `b` is not an IP, or if `a` is an invalid CIDR that Trino
    ///    would reject (IPv4 host bits set, prefix too long).
    /// 3. Otherwise (e.g. `contains('/usr/bin/curl', 'curl')`) → DataFusion's
    ///    substring semantics: true if `b` occurs in `a`.
    ///
    /// NULL in either argument → NULL.
    Contains,
    /// `is_private_ip(ip varchar)` → true for RFC 1918 (10/8, 172.16/12,
    /// 192.168/16), loopback (127/8, ::1), link-local (169.254/16, fe80::/10)
    /// and IPv6 ULA (fc00::/7). IPv4-mapped IPv6 addresses are checked as IPv4.
    /// CGNAT (100.64/10), 0/8, multicast and documentation ranges are *not*
    /// private here. Unparsable → NULL. (Not available in Athena engine v3.)
    IsPrivateIp,
    /// `ipaddress(varchar)`: emulates `CAST(x AS IPADDRESS)` by returning the
    /// canonical text (IPv4 dotted quad, IPv4-mapped IPv6 shown as IPv4, IPv6 in
    /// RFC 5952 form). Unparsable → NULL.
    IpAddress,
    /// `ipprefix(varchar)`: emulates `CAST(x AS IPPREFIX)`: canonical
    /// `addr/len` with host bits cleared. Unparsable → NULL.
    IpPrefixCast,
    /// `ip_prefix(ip, prefix_bits)` → canonical prefix text.
    IpPrefix,
    /// `is_subnet_of(prefix, ip_or_prefix)` → boolean (IPv4 compared inside the
    /// IPv4-mapped IPv6 space, as Trino's IPPREFIX does).
    IsSubnetOf,
    /// `ip_subnet_min(prefix)` → smallest address of the prefix.
    IpSubnetMin,
    /// `ip_subnet_max(prefix)` → largest address of the prefix.
    IpSubnetMax,
    /// `url_extract_*(url)`, mirroring Trino's use of `java.net.URI`: a URL that
    /// cannot be parsed → NULL; a missing component → '' (missing port → NULL).
    /// Path, query and fragment are percent-decoded; the host keeps IPv6 brackets.
    UrlExtract(UrlPart),
    /// `url_extract_parameter(url, name)` → first value of query parameter `name`
    /// (decoded, '+' = space), '' if present without '=', NULL if absent.
    UrlExtractParameter,
    /// `url_encode(varchar)`: form-encoding (space → '+', unreserved
    /// `A-Za-z0-9-_.*` kept, everything else `%XX` of the UTF-8 bytes).
    UrlEncode,
    /// `url_decode(varchar)`: inverse of `url_encode`. Malformed escapes → NULL.
    UrlDecode,
    /// `json_extract_scalar(json, path)` → VARCHAR value of a scalar (string
    /// unquoted, number, boolean); NULL for objects, arrays, JSON null, missing
    /// paths and invalid JSON. Path syntax (Trino's): `$`, `.key`, `[n]`,
    /// `["key"]`, `['key']`; a bracketed or dotted number indexes arrays.
    /// Wildcards/filters are not supported (error). Numbers are re-serialised
    /// (`1.50` → `1.5`).
    JsonExtractScalar,
    /// `json_extract(json, path)` → JSON text of the value (Trino returns the
    /// JSON type; here VARCHAR). Missing → NULL.
    JsonExtract,
    /// `json_array_length(json)` → BIGINT, NULL if not an array.
    JsonArrayLength,
    /// `json_size(json, path)` → size of the object/array at `path`, 0 for
    /// scalars, NULL if missing.
    JsonSize,
    /// `json_parse(varchar)` → compact JSON text (NULL if invalid).
    JsonParse,
    /// `json_format(json)` → compact JSON text (NULL if invalid).
    JsonFormat,
    /// `split(string, delimiter[, limit])` → ARRAY(VARCHAR). With `limit`, the
    /// last element holds the rest of the string. Empty delimiter or limit ≤ 0
    /// → error (as Trino).
    Split,
    /// `split_part(string, delimiter, index)`: 1-based field; NULL when `index`
    /// exceeds the number of fields (DataFusion returns ''); index ≤ 0 → error;
    /// empty delimiter → the index-th character.
    SplitPart,
    /// `regexp_extract(string, pattern[, group])` → first match (or the given
    /// capture group of it); NULL if no match or the group does not exist
    /// (Trino errors for a non-existent group). Rust regex syntax.
    RegexpExtract,
    /// `regexp_replace(string, pattern[, replacement])`: replaces *every* match
    /// (Trino) — DataFusion's built-in replaces only the first unless the 'g'
    /// flag is given. Replacement uses Java syntax: `$1`, `${name}`, `\$`.
    /// The 2-argument form removes the matches. A 4-argument call is passed to
    /// DataFusion's implementation unchanged (Postgres semantics and flags).
    RegexpReplace,
    /// `if(condition, true_value[, false_value])` → rewritten to
    /// `CASE WHEN condition THEN true_value [ELSE false_value] END` during
    /// optimisation, so the branch not taken is not evaluated (as in Trino).
    /// A NULL condition selects the false branch (NULL without one).
    If,
    /// `element_at(array, index)` → element (1-based; negative counts from the
    /// end; out of bounds → NULL; 0 → error) and `element_at(map, key)` → value
    /// or NULL (DataFusion's alias returns a list).
    ElementAt,
}

const SCALAR_FUNCS: &[(&str, Kind)] = &[
    ("from_unixtime", Kind::FromUnixtime),
    ("from_unixtime_nanos", Kind::FromUnixtimeNanos),
    ("to_unixtime", Kind::ToUnixtime),
    ("from_iso8601_timestamp", Kind::FromIso8601Timestamp),
    ("from_iso8601_date", Kind::FromIso8601Date),
    ("to_iso8601", Kind::ToIso8601),
    ("date_add", Kind::DateAdd),
    ("date_diff", Kind::DateDiff),
    ("date_format", Kind::DateFormat),
    ("date_parse", Kind::DateParse),
    ("date", Kind::Date),
    ("last_day_of_month", Kind::LastDayOfMonth),
    ("year", Kind::Extract(Part::Year)),
    ("quarter", Kind::Extract(Part::Quarter)),
    ("month", Kind::Extract(Part::Month)),
    ("week", Kind::Extract(Part::Week)),
    ("week_of_year", Kind::Extract(Part::Week)),
    ("day", Kind::Extract(Part::Day)),
    ("day_of_month", Kind::Extract(Part::Day)),
    ("day_of_week", Kind::Extract(Part::DayOfWeek)),
    ("dow", Kind::Extract(Part::DayOfWeek)),
    ("day_of_year", Kind::Extract(Part::DayOfYear)),
    ("doy", Kind::Extract(Part::DayOfYear)),
    ("year_of_week", Kind::Extract(Part::YearOfWeek)),
    ("yow", Kind::Extract(Part::YearOfWeek)),
    ("hour", Kind::Extract(Part::Hour)),
    ("minute", Kind::Extract(Part::Minute)),
    ("second", Kind::Extract(Part::Second)),
    ("millisecond", Kind::Extract(Part::Millisecond)),
    ("contains", Kind::Contains),
    ("is_private_ip", Kind::IsPrivateIp),
    ("ipaddress", Kind::IpAddress),
    ("ipprefix", Kind::IpPrefixCast),
    ("ip_prefix", Kind::IpPrefix),
    ("is_subnet_of", Kind::IsSubnetOf),
    ("ip_subnet_min", Kind::IpSubnetMin),
    ("ip_subnet_max", Kind::IpSubnetMax),
    ("url_extract_host", Kind::UrlExtract(UrlPart::Host)),
    ("url_extract_port", Kind::UrlExtract(UrlPart::Port)),
    ("url_extract_protocol", Kind::UrlExtract(UrlPart::Protocol)),
    ("url_extract_path", Kind::UrlExtract(UrlPart::Path)),
    ("url_extract_query", Kind::UrlExtract(UrlPart::Query)),
    ("url_extract_fragment", Kind::UrlExtract(UrlPart::Fragment)),
    ("url_extract_parameter", Kind::UrlExtractParameter),
    ("url_encode", Kind::UrlEncode),
    ("url_decode", Kind::UrlDecode),
    ("json_extract_scalar", Kind::JsonExtractScalar),
    ("json_extract", Kind::JsonExtract),
    ("json_array_length", Kind::JsonArrayLength),
    ("json_size", Kind::JsonSize),
    ("json_parse", Kind::JsonParse),
    ("json_format", Kind::JsonFormat),
    ("split", Kind::Split),
    ("split_part", Kind::SplitPart),
    ("regexp_extract", Kind::RegexpExtract),
    ("regexp_replace", Kind::RegexpReplace),
    ("element_at", Kind::ElementAt),
    ("if", Kind::If),
];

/// One Trino function; the behaviour is selected by [`Kind`].
#[derive(Debug, PartialEq, Eq, Hash)]
struct TrinoFn {
    name: &'static str,
    kind: Kind,
    signature: Signature,
}

impl TrinoFn {
    fn new(name: &'static str, kind: Kind) -> Self {
        Self {
            name,
            kind,
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

// ---------------------------------------------------------------------------
// Type coercion helpers
// ---------------------------------------------------------------------------

fn is_string(t: &DataType) -> bool {
    matches!(t, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View)
}

fn coerce_str(name: &str, t: &DataType) -> Result<DataType> {
    match t {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => Ok(t.clone()),
        DataType::Null => Ok(DataType::Utf8),
        DataType::Dictionary(_, v) if is_string(v) => Ok(v.as_ref().clone()),
        other => plan_err!("{name}: expected a VARCHAR argument, got {other}"),
    }
}

fn coerce_int(name: &str, t: &DataType) -> Result<DataType> {
    if t.is_integer() || matches!(t, DataType::Null) {
        Ok(DataType::Int64)
    } else {
        plan_err!("{name}: expected a BIGINT argument, got {t}")
    }
}

fn coerce_temporal(name: &str, t: &DataType) -> Result<DataType> {
    match t {
        DataType::Timestamp(_, _) | DataType::Date32 => Ok(t.clone()),
        DataType::Date64 => Ok(DataType::Date32),
        // Convenience (Trino would reject VARCHAR): parse with DataFusion's cast.
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => Ok(DataType::Timestamp(TimeUnit::Nanosecond, None)),
        DataType::Null => Ok(DataType::Timestamp(TimeUnit::Millisecond, None)),
        DataType::Dictionary(_, v) => coerce_temporal(name, v),
        other => plan_err!("{name}: expected a TIMESTAMP or DATE argument, got {other}"),
    }
}

fn check_arity(name: &str, types: &[DataType], min: usize, max: usize) -> Result<()> {
    if types.len() < min || types.len() > max {
        if min == max {
            return plan_err!("{name} expects {min} argument(s), got {}", types.len());
        }
        return plan_err!("{name} expects {min} to {max} arguments, got {}", types.len());
    }
    Ok(())
}

fn list_field(t: &DataType) -> Option<&FieldRef> {
    match t {
        DataType::List(f) | DataType::LargeList(f) | DataType::FixedSizeList(f, _) => Some(f),
        _ => None,
    }
}

fn utc() -> Option<Arc<str>> {
    Some(Arc::from("UTC"))
}

impl ScalarUDFImpl for TrinoFn {
    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, t: &[DataType]) -> Result<Vec<DataType>> {
        let n = self.name;
        use Kind::*;
        match self.kind {
            FromUnixtime => {
                check_arity(n, t, 1, 3)?;
                let first = match &t[0] {
                    x if x.is_integer() || matches!(x, DataType::Null) => DataType::Int64,
                    x if x.is_numeric() => DataType::Float64,
                    x => return plan_err!("{n}: expected a numeric argument, got {x}"),
                };
                let mut out = vec![first];
                if t.len() == 2 {
                    out.push(coerce_str(n, &t[1])?);
                } else if t.len() == 3 {
                    out.push(coerce_int(n, &t[1])?);
                    out.push(coerce_int(n, &t[2])?);
                }
                Ok(out)
            }
            FromUnixtimeNanos => {
                check_arity(n, t, 1, 1)?;
                Ok(vec![coerce_int(n, &t[0])?])
            }
            ToUnixtime => {
                check_arity(n, t, 1, 1)?;
                Ok(vec![match &t[0] {
                    DataType::Timestamp(_, _) | DataType::Date32 => t[0].clone(),
                    DataType::Date64 => DataType::Date32,
                    x if is_string(x) => x.clone(),
                    x if x.is_numeric() || matches!(x, DataType::Null) => DataType::Float64,
                    x => return plan_err!("{n}: unsupported argument type {x}"),
                }])
            }
            FromIso8601Timestamp | FromIso8601Date | IsPrivateIp | IpAddress | IpPrefixCast | IpSubnetMin | IpSubnetMax | UrlExtract(_)
            | UrlEncode | UrlDecode | JsonArrayLength | JsonParse | JsonFormat => {
                check_arity(n, t, 1, 1)?;
                Ok(vec![coerce_str(n, &t[0])?])
            }
            ToIso8601 | LastDayOfMonth | Extract(_) => {
                check_arity(n, t, 1, 1)?;
                Ok(vec![coerce_temporal(n, &t[0])?])
            }
            Date => {
                check_arity(n, t, 1, 1)?;
                Ok(vec![match &t[0] {
                    x if is_string(x) => x.clone(),
                    DataType::Dictionary(_, v) if is_string(v) => v.as_ref().clone(),
                    x => coerce_temporal(n, x)?,
                }])
            }
            DateAdd => {
                check_arity(n, t, 3, 3)?;
                Ok(vec![coerce_str(n, &t[0])?, coerce_int(n, &t[1])?, coerce_temporal(n, &t[2])?])
            }
            DateDiff => {
                check_arity(n, t, 3, 3)?;
                let a = coerce_temporal(n, &t[1])?;
                let b = coerce_temporal(n, &t[2])?;
                Ok(vec![coerce_str(n, &t[0])?, a, b])
            }
            DateFormat => {
                check_arity(n, t, 2, 2)?;
                Ok(vec![coerce_temporal(n, &t[0])?, coerce_str(n, &t[1])?])
            }
            DateParse | UrlExtractParameter | JsonExtractScalar | JsonExtract | JsonSize | IsSubnetOf => {
                check_arity(n, t, 2, 2)?;
                Ok(vec![coerce_str(n, &t[0])?, coerce_str(n, &t[1])?])
            }
            IpPrefix => {
                check_arity(n, t, 2, 2)?;
                Ok(vec![coerce_str(n, &t[0])?, coerce_int(n, &t[1])?])
            }
            Contains => {
                check_arity(n, t, 2, 2)?;
                if let Some(f) = list_field(&t[0]) {
                    let elem = f.data_type();
                    let common = if elem == &t[1] || t[1] == DataType::Null {
                        elem.clone()
                    } else {
                        comparison_coercion(elem, &t[1])
                            .ok_or_else(|| plan_datafusion_err!("{n}: cannot compare array elements of type {elem} with {}", t[1]))?
                    };
                    let field = Arc::new(Field::new(f.name(), common.clone(), true));
                    let list = match &t[0] {
                        DataType::LargeList(_) => DataType::LargeList(field),
                        _ => DataType::List(field),
                    };
                    Ok(vec![list, common])
                } else {
                    Ok(vec![coerce_str(n, &t[0])?, coerce_str(n, &t[1])?])
                }
            }
            Split => {
                check_arity(n, t, 2, 3)?;
                let mut out = vec![coerce_str(n, &t[0])?, coerce_str(n, &t[1])?];
                if t.len() == 3 {
                    out.push(coerce_int(n, &t[2])?);
                }
                Ok(out)
            }
            If => {
                check_arity(n, t, 2, 3)?;
                if !matches!(t[0], DataType::Boolean | DataType::Null) {
                    return plan_err!("{n}: the condition must be BOOLEAN, got {}", t[0]);
                }
                let common = if t.len() == 3 {
                    type_union_resolution(&[t[1].clone(), t[2].clone()])
                        .ok_or_else(|| plan_datafusion_err!("{n}: incompatible branch types {} and {}", t[1], t[2]))?
                } else {
                    t[1].clone()
                };
                let mut out = vec![DataType::Boolean, common.clone()];
                if t.len() == 3 {
                    out.push(common);
                }
                Ok(out)
            }
            SplitPart => {
                check_arity(n, t, 3, 3)?;
                Ok(vec![coerce_str(n, &t[0])?, coerce_str(n, &t[1])?, coerce_int(n, &t[2])?])
            }
            RegexpExtract => {
                check_arity(n, t, 2, 3)?;
                let mut out = vec![DataType::Utf8, DataType::Utf8];
                coerce_str(n, &t[0])?;
                coerce_str(n, &t[1])?;
                if t.len() == 3 {
                    out.push(coerce_int(n, &t[2])?);
                }
                Ok(out)
            }
            RegexpReplace => {
                check_arity(n, t, 2, 4)?;
                for x in t {
                    coerce_str(n, x)?;
                }
                Ok(vec![DataType::Utf8; t.len()])
            }
            ElementAt => {
                check_arity(n, t, 2, 2)?;
                match &t[0] {
                    DataType::Map(entries, _) => {
                        let key = match entries.data_type() {
                            DataType::Struct(fs) if fs.len() == 2 => fs[0].data_type().clone(),
                            other => return plan_err!("{n}: malformed map type {other}"),
                        };
                        Ok(vec![t[0].clone(), key])
                    }
                    DataType::List(_) | DataType::LargeList(_) => Ok(vec![t[0].clone(), coerce_int(n, &t[1])?]),
                    DataType::FixedSizeList(f, _) => Ok(vec![DataType::List(Arc::clone(f)), coerce_int(n, &t[1])?]),
                    DataType::Null => Ok(vec![DataType::Null, t[1].clone()]),
                    other => plan_err!("{n}: expected an ARRAY or MAP, got {other}"),
                }
            }
        }
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        self.ret_type(arg_types, &[])
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        let types: Vec<DataType> = args.arg_fields.iter().map(|f| f.data_type().clone()).collect();
        let rt = self.ret_type(&types, args.scalar_arguments)?;
        Ok(Arc::new(Field::new(self.name, rt, true)))
    }

    fn simplify(&self, args: Vec<Expr>, _info: &SimplifyContext) -> Result<ExprSimplifyResult> {
        if self.kind != Kind::If || !(2..=3).contains(&args.len()) {
            return Ok(ExprSimplifyResult::Original(args));
        }
        let mut it = args.into_iter();
        let (Some(cond), Some(then)) = (it.next(), it.next()) else {
            return plan_err!("if expects 2 or 3 arguments");
        };
        let otherwise = it.next().map(Box::new);
        Ok(ExprSimplifyResult::Simplified(Expr::Case(Case::new(
            None,
            vec![(Box::new(cond), Box::new(then))],
            otherwise,
        ))))
    }

    fn short_circuits(&self) -> bool {
        self.kind == Kind::If
    }

    fn conditional_arguments<'a>(&self, args: &'a [Expr]) -> Option<(Vec<&'a Expr>, Vec<&'a Expr>)> {
        if self.kind != Kind::If || args.is_empty() {
            return None;
        }
        Some((vec![&args[0]], args[1..].iter().collect()))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let all_scalar = args.args.iter().all(|a| matches!(a, ColumnarValue::Scalar(_)));
        let n = if all_scalar { 1 } else { args.number_rows };
        let out = self.eval(&args, n)?;
        if all_scalar {
            Ok(ColumnarValue::Scalar(ScalarValue::try_from_array(&out, 0)?))
        } else {
            Ok(ColumnarValue::Array(out))
        }
    }
}

impl TrinoFn {
    fn ret_type(&self, t: &[DataType], scalars: &[Option<&ScalarValue>]) -> Result<DataType> {
        use Kind::*;
        let n = self.name;
        Ok(match self.kind {
            FromUnixtime => {
                let zone: Option<Arc<str>> = match t.len() {
                    2 => {
                        let Some(Some(s)) = scalars.get(1) else {
                            return plan_err!("{n}: the time zone must be a constant");
                        };
                        let Some(Some(tz)) = s.try_as_str() else {
                            return plan_err!("{n}: the time zone must be a non-null string");
                        };
                        if Tz::from_str(tz).is_err() {
                            return plan_err!("{n}: unknown time zone '{tz}'");
                        }
                        Some(Arc::from(tz))
                    }
                    3 => {
                        let h = scalars.get(1).copied().flatten().and_then(scalar_i64);
                        let m = scalars.get(2).copied().flatten().and_then(scalar_i64);
                        let (Some(h), Some(m)) = (h, m) else {
                            return plan_err!("{n}: hours and minutes must be constants");
                        };
                        Some(Arc::from(
                            offset_string(h, m).ok_or_else(|| exec_datafusion_err!("{n}: invalid offset {h}:{m}"))?,
                        ))
                    }
                    _ => utc(),
                };
                DataType::Timestamp(TimeUnit::Millisecond, zone)
            }
            FromUnixtimeNanos => DataType::Timestamp(TimeUnit::Nanosecond, utc()),
            ToUnixtime => DataType::Float64,
            FromIso8601Timestamp => DataType::Timestamp(TimeUnit::Millisecond, utc()),
            FromIso8601Date | Date | LastDayOfMonth => DataType::Date32,
            DateParse => DataType::Timestamp(TimeUnit::Millisecond, None),
            DateAdd => match t.get(2) {
                Some(x) => x.clone(),
                None => return plan_err!("{n} expects 3 arguments"),
            },
            DateDiff | Extract(_) | JsonArrayLength | JsonSize => DataType::Int64,
            UrlExtract(UrlPart::Port) => DataType::Int64,
            Contains | IsPrivateIp | IsSubnetOf => DataType::Boolean,
            ToIso8601 | DateFormat | IpAddress | IpPrefixCast | IpPrefix | IpSubnetMin | IpSubnetMax | UrlExtract(_)
            | UrlExtractParameter | UrlEncode | UrlDecode | JsonExtractScalar | JsonExtract | JsonParse | JsonFormat | SplitPart
            | RegexpExtract | RegexpReplace => DataType::Utf8,
            If => match t.get(1) {
                Some(x) => x.clone(),
                None => return plan_err!("{n} expects 2 or 3 arguments"),
            },
            Split => DataType::new_list(DataType::Utf8, true),
            ElementAt => match t.first() {
                Some(DataType::Map(entries, _)) => match entries.data_type() {
                    DataType::Struct(fs) if fs.len() == 2 => fs[1].data_type().clone(),
                    other => return plan_err!("{n}: malformed map type {other}"),
                },
                Some(DataType::List(f) | DataType::LargeList(f) | DataType::FixedSizeList(f, _)) => f.data_type().clone(),
                Some(DataType::Null) => DataType::Null,
                other => return plan_err!("{n}: expected an ARRAY or MAP, got {other:?}"),
            },
        })
    }

    fn eval(&self, args: &ScalarFunctionArgs, n: usize) -> Result<ArrayRef> {
        use Kind::*;
        let a = &args.args;
        let name = self.name;
        let rt = args.return_field.data_type();
        match self.kind {
            FromUnixtime => eval_from_unixtime(a, n, rt),
            FromUnixtimeNanos => {
                let v = a[0].to_array(n)?;
                Ok(cast(&cast(&v, &DataType::Int64)?, rt)?)
            }
            ToUnixtime => eval_to_unixtime(a, n),
            FromIso8601Timestamp => {
                let s = StrCol::new(&a[0])?;
                let v: Vec<Option<i64>> = (0..n)
                    .map(|i| {
                        s.get(i)
                            .and_then(parse_iso_timestamp)
                            .and_then(|dt| naive_to_ts(&dt, TimeUnit::Millisecond))
                    })
                    .collect();
                Ok(cast(&Int64Array::from(v), rt)?)
            }
            FromIso8601Date => {
                let s = StrCol::new(&a[0])?;
                let v: Vec<Option<i32>> = (0..n).map(|i| s.get(i).and_then(parse_iso_date).map(date_to_days)).collect();
                Ok(Arc::new(Date32Array::from(v)))
            }
            ToIso8601 => {
                let c = TempCol::new(&a[0], n)?;
                let mut b = StringBuilder::with_capacity(n, n * 24);
                for i in 0..n {
                    b.append_option(c.to_iso8601(i));
                }
                Ok(Arc::new(b.finish()))
            }
            DateAdd => eval_date_add(a, n, name),
            DateDiff => eval_date_diff(a, n, name),
            DateFormat => {
                let c = TempCol::new(&a[0], n)?;
                let f = StrCol::new(&a[1])?;
                let mut b = StringBuilder::with_capacity(n, n * 20);
                let mut s = String::new();
                for i in 0..n {
                    match (c.local(i), f.get(i)) {
                        (Some(dt), Some(fmt)) => {
                            s.clear();
                            mysql_format(&dt, fmt, &mut s).map_err(|e| exec_datafusion_err!("{name}: {e}"))?;
                            b.append_value(&s);
                        }
                        _ => b.append_null(),
                    }
                }
                Ok(Arc::new(b.finish()))
            }
            DateParse => {
                let s = StrCol::new(&a[0])?;
                let f = StrCol::new(&a[1])?;
                let mut v = Vec::with_capacity(n);
                for i in 0..n {
                    v.push(match (s.get(i), f.get(i)) {
                        (Some(s), Some(f)) => mysql_parse(s, f)
                            .map_err(|e| exec_datafusion_err!("{name}: {e}"))?
                            .and_then(|dt| naive_to_ts(&dt, TimeUnit::Millisecond)),
                        _ => None,
                    });
                }
                Ok(cast(&Int64Array::from(v), rt)?)
            }
            Date => {
                if is_string(&a[0].data_type()) {
                    let s = StrCol::new(&a[0])?;
                    let v: Vec<Option<i32>> = (0..n)
                        .map(|i| {
                            s.get(i)
                                .and_then(|x| NaiveDate::parse_from_str(x.trim(), "%Y-%m-%d").ok())
                                .map(date_to_days)
                        })
                        .collect();
                    Ok(Arc::new(Date32Array::from(v)))
                } else {
                    let c = TempCol::new(&a[0], n)?;
                    let v: Vec<Option<i32>> = (0..n).map(|i| c.local(i).map(|d| date_to_days(d.date()))).collect();
                    Ok(Arc::new(Date32Array::from(v)))
                }
            }
            LastDayOfMonth => {
                let c = TempCol::new(&a[0], n)?;
                let v: Vec<Option<i32>> = (0..n)
                    .map(|i| c.local(i).and_then(|d| last_day_of_month(d.date())).map(date_to_days))
                    .collect();
                Ok(Arc::new(Date32Array::from(v)))
            }
            Extract(part) => {
                let c = TempCol::new(&a[0], n)?;
                let v: Vec<Option<i64>> = (0..n).map(|i| c.local(i).map(|d| extract_part(&d, part))).collect();
                Ok(Arc::new(Int64Array::from(v)))
            }
            Contains => eval_contains(a, n, name),
            IsPrivateIp => map_str_to_bool(&a[0], n, |s| parse_ip(s).map(is_private_ip)),
            IpAddress => map_str_to_str(&a[0], n, |s| parse_ip(s).map(|ip| ip.to_string())),
            IpPrefixCast => map_str_to_str(&a[0], n, |s| parse_prefix(s).map(|p| p.to_string())),
            IpSubnetMin => map_str_to_str(&a[0], n, |s| parse_prefix(s).map(|p| p.first().to_string())),
            IpSubnetMax => map_str_to_str(&a[0], n, |s| parse_prefix(s).map(|p| p.last().to_string())),
            IpPrefix => {
                let s = StrCol::new(&a[0])?;
                let bits = I64Col::new(&a[1])?;
                let mut b = StringBuilder::with_capacity(n, n * 16);
                for i in 0..n {
                    let v = match (s.get(i).and_then(parse_ip), bits.get(i)) {
                        (Some(ip), Some(len)) => {
                            let max = if ip.is_ipv4() { 32 } else { 128 };
                            if !(0..=max).contains(&len) {
                                return exec_err!("{name}: prefix length {len} out of range for {ip}");
                            }
                            Some(Prefix::new_masked(ip, len as u8).to_string())
                        }
                        _ => None,
                    };
                    b.append_option(v);
                }
                Ok(Arc::new(b.finish()))
            }
            IsSubnetOf => {
                let p = StrCol::new(&a[0])?;
                let x = StrCol::new(&a[1])?;
                let v: Vec<Option<bool>> = (0..n)
                    .map(|i| {
                        let prefix = parse_prefix(p.get(i)?)?;
                        let other = x.get(i)?;
                        if other.contains('/') {
                            let sub = parse_prefix(other)?;
                            Some(prefix.contains_mapped(&sub.addr) && sub.len_mapped() >= prefix.len_mapped())
                        } else {
                            Some(prefix.contains_mapped(&parse_ip(other)?))
                        }
                    })
                    .collect();
                Ok(Arc::new(BooleanArray::from(v)))
            }
            UrlExtract(UrlPart::Port) => {
                let s = StrCol::new(&a[0])?;
                let v: Vec<Option<i64>> = (0..n).map(|i| parse_url(s.get(i)?)?.port).collect();
                Ok(Arc::new(Int64Array::from(v)))
            }
            UrlExtract(part) => map_str_to_str(&a[0], n, |s| {
                let u = parse_url(s)?;
                Some(match part {
                    UrlPart::Protocol => u.scheme.unwrap_or("").to_string(),
                    UrlPart::Host => u.host.unwrap_or("").to_string(),
                    UrlPart::Path => percent_decode_lossy(u.path),
                    UrlPart::Query => u.query.map(percent_decode_lossy).unwrap_or_default(),
                    UrlPart::Fragment => u.fragment.map(percent_decode_lossy).unwrap_or_default(),
                    UrlPart::Port => String::new(), // handled above (BIGINT)
                })
            }),
            UrlExtractParameter => {
                let s = StrCol::new(&a[0])?;
                let p = StrCol::new(&a[1])?;
                let mut b = StringBuilder::with_capacity(n, n * 8);
                for i in 0..n {
                    let v = match (s.get(i), p.get(i)) {
                        (Some(url), Some(param)) => url_parameter(url, param),
                        _ => None,
                    };
                    b.append_option(v);
                }
                Ok(Arc::new(b.finish()))
            }
            UrlEncode => map_str_to_str(&a[0], n, |s| Some(url_encode(s))),
            UrlDecode => map_str_to_str(&a[0], n, url_form_decode),
            JsonExtractScalar | JsonExtract | JsonSize => eval_json_path(self.kind, a, n, name),
            JsonArrayLength => {
                let s = StrCol::new(&a[0])?;
                let v: Vec<Option<i64>> = (0..n)
                    .map(|i| match serde_json::from_str::<serde_json::Value>(s.get(i)?) {
                        Ok(serde_json::Value::Array(v)) => Some(v.len() as i64),
                        _ => None,
                    })
                    .collect();
                Ok(Arc::new(Int64Array::from(v)))
            }
            JsonParse | JsonFormat => map_str_to_str(&a[0], n, |s| {
                serde_json::from_str::<serde_json::Value>(s)
                    .ok()
                    .and_then(|v| serde_json::to_string(&v).ok())
            }),
            Split => eval_split(a, n, name),
            SplitPart => eval_split_part(a, n, name),
            If => eval_if(a, n, rt),
            RegexpExtract => eval_regexp_extract(args, n, name),
            RegexpReplace => eval_regexp_replace(args, n),
            ElementAt => eval_element_at(a, n, name),
        }
    }
}

fn scalar_i64(s: &ScalarValue) -> Option<i64> {
    match s.cast_to(&DataType::Int64).ok()? {
        ScalarValue::Int64(v) => v,
        _ => None,
    }
}

fn offset_string(h: i64, m: i64) -> Option<String> {
    // Trino: from_unixtime(x, hours, minutes) with the sign of `hours`.
    if !(-14..=14).contains(&h) || !(-59..=59).contains(&m) {
        return None;
    }
    let total = h * 60 + if h < 0 { -m.abs() } else { m };
    let sign = if total < 0 { '-' } else { '+' };
    let total = total.abs();
    Some(format!("{sign}{:02}:{:02}", total / 60, total % 60))
}

// ---------------------------------------------------------------------------
// Column accessors
// ---------------------------------------------------------------------------

/// Read-only view over a string argument (scalar or any string array type).
enum StrCol<'a> {
    Const(Option<&'a str>),
    Utf8(&'a StringArray),
    Large(&'a LargeStringArray),
    View(&'a StringViewArray),
}

impl<'a> StrCol<'a> {
    fn new(cv: &'a ColumnarValue) -> Result<Self> {
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

    fn from_array(a: &'a ArrayRef) -> Result<Self> {
        Ok(match a.data_type() {
            DataType::Utf8 => StrCol::Utf8(a.as_string::<i32>()),
            DataType::LargeUtf8 => StrCol::Large(a.as_string::<i64>()),
            DataType::Utf8View => StrCol::View(a.as_string_view()),
            DataType::Null => StrCol::Const(None),
            other => return exec_err!("expected a VARCHAR argument, got {other}"),
        })
    }

    fn is_const(&self) -> bool {
        matches!(self, StrCol::Const(_))
    }

    fn get(&self, i: usize) -> Option<&'a str> {
        match self {
            StrCol::Const(v) => *v,
            StrCol::Utf8(a) => (i < a.len() && a.is_valid(i)).then(|| a.value(i)),
            StrCol::Large(a) => (i < a.len() && a.is_valid(i)).then(|| a.value(i)),
            StrCol::View(a) => (i < a.len() && a.is_valid(i)).then(|| a.value(i)),
        }
    }
}

/// Read-only view over a BIGINT argument.
enum I64Col<'a> {
    Const(Option<i64>),
    Arr(&'a Int64Array),
}

impl<'a> I64Col<'a> {
    fn new(cv: &'a ColumnarValue) -> Result<Self> {
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

    fn get(&self, i: usize) -> Option<i64> {
        match self {
            I64Col::Const(v) => *v,
            I64Col::Arr(a) => (i < a.len() && a.is_valid(i)).then(|| a.value(i)),
        }
    }
}

fn map_str_to_str(cv: &ColumnarValue, n: usize, f: impl Fn(&str) -> Option<String>) -> Result<ArrayRef> {
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

fn map_str_to_bool(cv: &ColumnarValue, n: usize, f: impl Fn(&str) -> Option<bool>) -> Result<ArrayRef> {
    let s = StrCol::new(cv)?;
    let v: Vec<Option<bool>> = (0..n).map(|i| s.get(i).and_then(&f)).collect();
    Ok(Arc::new(BooleanArray::from(v)))
}

// ---------------------------------------------------------------------------
// Date / time
// ---------------------------------------------------------------------------

fn unit_per_sec(unit: TimeUnit) -> i64 {
    match unit {
        TimeUnit::Second => 1,
        TimeUnit::Millisecond => 1_000,
        TimeUnit::Microsecond => 1_000_000,
        TimeUnit::Nanosecond => 1_000_000_000,
    }
}

/// Raw timestamp value → UTC wall clock. `None` outside chrono's range.
fn ts_to_naive(v: i64, unit: TimeUnit) -> Option<NaiveDateTime> {
    let per = unit_per_sec(unit);
    let secs = v.div_euclid(per);
    let sub = v.rem_euclid(per);
    let nanos = (sub * (1_000_000_000 / per)) as u32;
    DateTime::from_timestamp(secs, nanos).map(|d| d.naive_utc())
}

/// UTC wall clock → raw timestamp value (truncating below `unit`). `None` on overflow.
fn naive_to_ts(dt: &NaiveDateTime, unit: TimeUnit) -> Option<i64> {
    let u = dt.and_utc();
    let secs = u.timestamp();
    let nanos = i64::from(u.timestamp_subsec_nanos());
    let per = unit_per_sec(unit);
    secs.checked_mul(per)?.checked_add(nanos / (1_000_000_000 / per))
}

fn epoch() -> NaiveDate {
    NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default()
}

fn date_to_days(d: NaiveDate) -> i32 {
    let days = d.signed_duration_since(epoch()).num_days();
    days.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32
}

fn days_to_date(days: i32) -> Option<NaiveDate> {
    epoch().checked_add_signed(TimeDelta::try_days(i64::from(days))?)
}

fn last_day_of_month(d: NaiveDate) -> Option<NaiveDate> {
    let first = d.with_day(1)?;
    first.checked_add_months(Months::new(1))?.pred_opt()
}

/// Local wall clock of a UTC instant in `tz`.
fn to_local(tz: Option<&Tz>, utc: NaiveDateTime) -> NaiveDateTime {
    match tz {
        None => utc,
        Some(tz) => {
            let off = tz.offset_from_utc_datetime(&utc).fix();
            utc.checked_add_signed(TimeDelta::seconds(i64::from(off.local_minus_utc())))
                .unwrap_or(utc)
        }
    }
}

/// UTC instant of a local wall clock in `tz` (earliest on DST overlaps; for a
/// wall clock inside a DST gap the pre-transition offset is used).
fn to_utc(tz: Option<&Tz>, local: NaiveDateTime) -> Option<NaiveDateTime> {
    match tz {
        None => Some(local),
        Some(tz) => match tz.from_local_datetime(&local).earliest() {
            Some(d) => Some(d.naive_utc()),
            None => {
                let off = tz.offset_from_utc_datetime(&local).fix();
                local.checked_sub_signed(TimeDelta::seconds(i64::from(off.local_minus_utc())))
            }
        },
    }
}

/// A temporal argument normalised to raw values + unit + zone.
struct TempCol {
    vals: TempVals,
    tz: Option<Tz>,
    tz_name: Option<Arc<str>>,
}

enum TempVals {
    Ts(Int64Array, TimeUnit),
    Date(Int32Array),
}

impl TempCol {
    fn new(cv: &ColumnarValue, n: usize) -> Result<Self> {
        let a = cv.to_array(n)?;
        Self::from_array(&a)
    }

    fn from_array(a: &ArrayRef) -> Result<Self> {
        match a.data_type() {
            DataType::Timestamp(unit, tz) => {
                let ints = cast(a, &DataType::Int64)?;
                let tz_parsed = match tz {
                    None => None,
                    Some(s) => Some(Tz::from_str(s).map_err(|e| exec_datafusion_err!("invalid time zone '{s}': {e}"))?),
                };
                Ok(TempCol {
                    vals: TempVals::Ts(ints.as_primitive::<Int64Type>().clone(), *unit),
                    tz: tz_parsed,
                    tz_name: tz.clone(),
                })
            }
            DataType::Date32 | DataType::Date64 => {
                let d = cast(a, &DataType::Date32)?;
                let ints = cast(&d, &DataType::Int32)?;
                Ok(TempCol {
                    vals: TempVals::Date(ints.as_primitive::<Int32Type>().clone()),
                    tz: None,
                    tz_name: None,
                })
            }
            DataType::Null => Ok(TempCol {
                vals: TempVals::Date(Int32Array::new_null(a.len())),
                tz: None,
                tz_name: None,
            }),
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => {
                let ts = cast(a, &DataType::Timestamp(TimeUnit::Nanosecond, None))?;
                Self::from_array(&ts)
            }
            other => exec_err!("expected a TIMESTAMP or DATE argument, got {other}"),
        }
    }

    fn is_date(&self) -> bool {
        matches!(self.vals, TempVals::Date(_))
    }

    fn utc(&self, i: usize) -> Option<NaiveDateTime> {
        match &self.vals {
            TempVals::Ts(a, unit) => (i < a.len() && a.is_valid(i)).then(|| ts_to_naive(a.value(i), *unit))?,
            TempVals::Date(a) => (i < a.len() && a.is_valid(i))
                .then(|| days_to_date(a.value(i)))?
                .map(|d| d.and_time(NaiveTime::MIN)),
        }
    }

    fn local(&self, i: usize) -> Option<NaiveDateTime> {
        self.utc(i).map(|u| to_local(self.tz.as_ref(), u))
    }

    fn to_iso8601(&self, i: usize) -> Option<String> {
        let local = self.local(i)?;
        match &self.vals {
            TempVals::Date(_) => Some(local.format("%Y-%m-%d").to_string()),
            TempVals::Ts(_, unit) => {
                let mut s = local.format("%Y-%m-%dT%H:%M:%S").to_string();
                let nanos = local.nanosecond() % 1_000_000_000;
                match unit {
                    TimeUnit::Second => {}
                    TimeUnit::Millisecond => {
                        let _ = write!(s, ".{:03}", nanos / 1_000_000);
                    }
                    TimeUnit::Microsecond => {
                        let _ = write!(s, ".{:06}", nanos / 1_000);
                    }
                    TimeUnit::Nanosecond => {
                        let _ = write!(s, ".{nanos:09}");
                    }
                }
                if let Some(tz) = &self.tz {
                    let utc = self.utc(i)?;
                    let off = tz.offset_from_utc_datetime(&utc).fix().local_minus_utc();
                    if off == 0 {
                        s.push('Z');
                    } else {
                        let sign = if off < 0 { '-' } else { '+' };
                        let off = off.abs();
                        let _ = write!(s, "{sign}{:02}:{:02}", off / 3600, (off % 3600) / 60);
                    }
                }
                Some(s)
            }
        }
    }
}

fn eval_from_unixtime(a: &[ColumnarValue], n: usize, rt: &DataType) -> Result<ArrayRef> {
    // Keep |ms| within chrono's supported range (about ±262 000 years).
    const MAX_MS: f64 = 8.0e15;
    let v = a[0].to_array(n)?;
    let ms: Vec<Option<i64>> = match v.data_type() {
        DataType::Int64 => v
            .as_primitive::<Int64Type>()
            .iter()
            .map(|x| x.and_then(|s| s.checked_mul(1000)).filter(|m| (*m as f64).abs() <= MAX_MS))
            .collect(),
        DataType::Float64 => v
            .as_primitive::<Float64Type>()
            .iter()
            .map(|x| {
                let m = (x? * 1000.0).round();
                (m.is_finite() && m.abs() <= MAX_MS).then_some(m as i64)
            })
            .collect(),
        DataType::Null => vec![None; v.len()],
        other => return exec_err!("from_unixtime: unsupported argument type {other}"),
    };
    Ok(cast(&Int64Array::from(ms), rt)?)
}

fn eval_to_unixtime(a: &[ColumnarValue], n: usize) -> Result<ArrayRef> {
    let t = a[0].data_type();
    let out: Vec<Option<f64>> = match &t {
        DataType::Timestamp(unit, _) => {
            let ints = cast(&a[0].to_array(n)?, &DataType::Int64)?;
            let per = unit_per_sec(*unit);
            ints.as_primitive::<Int64Type>()
                .iter()
                .map(|x| x.map(|v| v.div_euclid(per) as f64 + v.rem_euclid(per) as f64 / per as f64))
                .collect()
        }
        DataType::Date32 | DataType::Date64 => {
            let c = TempCol::new(&a[0], n)?;
            (0..n).map(|i| c.utc(i).map(|d| d.and_utc().timestamp() as f64)).collect()
        }
        x if is_string(x) => {
            let s = StrCol::new(&a[0])?;
            (0..n)
                .map(|i| {
                    let dt = parse_iso_timestamp(s.get(i)?)?;
                    let u = dt.and_utc();
                    Some(u.timestamp() as f64 + f64::from(u.timestamp_subsec_nanos()) / 1e9)
                })
                .collect()
        }
        _ => {
            let f = cast(&a[0].to_array(n)?, &DataType::Float64)?;
            f.as_primitive::<Float64Type>().iter().collect()
        }
    };
    Ok(Arc::new(Float64Array::from(out)))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DtUnit {
    Millisecond,
    Second,
    Minute,
    Hour,
    Day,
    Week,
    Month,
    Quarter,
    Year,
}

impl DtUnit {
    fn parse(s: &str) -> Option<Self> {
        let s = s.trim().to_ascii_lowercase();
        let s = s.strip_suffix('s').unwrap_or(&s);
        Some(match s {
            "millisecond" => Self::Millisecond,
            "second" => Self::Second,
            "minute" => Self::Minute,
            "hour" => Self::Hour,
            "day" => Self::Day,
            "week" => Self::Week,
            "month" => Self::Month,
            "quarter" => Self::Quarter,
            "year" => Self::Year,
            _ => return None,
        })
    }

    /// Length in nanoseconds of the fixed-duration units.
    fn fixed_nanos(self) -> Option<i128> {
        Some(match self {
            Self::Millisecond => 1_000_000,
            Self::Second => 1_000_000_000,
            Self::Minute => 60_000_000_000,
            Self::Hour => 3_600_000_000_000,
            _ => return None,
        })
    }

    fn months(self) -> Option<i64> {
        match self {
            Self::Month => Some(1),
            Self::Quarter => Some(3),
            Self::Year => Some(12),
            _ => None,
        }
    }
}

fn parse_unit_arg(name: &str, s: &str) -> Result<DtUnit> {
    DtUnit::parse(s).ok_or_else(|| exec_datafusion_err!("{name}: '{s}' is not a valid unit"))
}

fn add_months(dt: NaiveDateTime, months: i64) -> Option<NaiveDateTime> {
    if months >= 0 {
        dt.checked_add_months(Months::new(u32::try_from(months).ok()?))
    } else {
        dt.checked_sub_months(Months::new(u32::try_from(months.unsigned_abs()).ok()?))
    }
}

fn eval_date_add(a: &[ColumnarValue], n: usize, name: &str) -> Result<ArrayRef> {
    let units = StrCol::new(&a[0])?;
    let amounts = I64Col::new(&a[1])?;
    let c = TempCol::new(&a[2], n)?;
    let mut cached: Option<(String, DtUnit)> = None;
    let mut unit_of = |s: &str| -> Result<DtUnit> {
        if let Some((k, u)) = &cached {
            if k == s {
                return Ok(*u);
            }
        }
        let u = parse_unit_arg(name, s)?;
        cached = Some((s.to_string(), u));
        Ok(u)
    };
    match &c.vals {
        TempVals::Date(days) => {
            let mut out = Vec::with_capacity(n);
            for i in 0..n {
                let (Some(u), Some(k)) = (units.get(i), amounts.get(i)) else {
                    out.push(None);
                    continue;
                };
                let unit = unit_of(u)?;
                if !(i < days.len() && days.is_valid(i)) {
                    out.push(None);
                    continue;
                }
                let d = days_to_date(days.value(i));
                let r = match unit {
                    DtUnit::Day => d.and_then(|d| d.checked_add_signed(TimeDelta::try_days(k)?)),
                    DtUnit::Week => d.and_then(|d| d.checked_add_signed(TimeDelta::try_days(k.checked_mul(7)?)?)),
                    _ => match unit.months() {
                        Some(m) => d.and_then(|d| add_months(d.and_time(NaiveTime::MIN), k.checked_mul(m)?).map(|x| x.date())),
                        None => return exec_err!("{name}: unit '{u}' is not valid for DATE values"),
                    },
                };
                out.push(r.map(date_to_days));
            }
            Ok(Arc::new(Date32Array::from(out)))
        }
        TempVals::Ts(vals, unit) => {
            let per_ns = i128::from(1_000_000_000 / unit_per_sec(*unit));
            let mut out = Vec::with_capacity(n);
            for i in 0..n {
                let (Some(u), Some(k)) = (units.get(i), amounts.get(i)) else {
                    out.push(None);
                    continue;
                };
                let du = unit_of(u)?;
                if !(i < vals.len() && vals.is_valid(i)) {
                    out.push(None);
                    continue;
                }
                let raw = vals.value(i);
                let r = if let Some(ns) = du.fixed_nanos() {
                    let delta = i128::from(k) * ns / per_ns;
                    i64::try_from(i128::from(raw) + delta).ok()
                } else {
                    (|| {
                        let local = to_local(c.tz.as_ref(), ts_to_naive(raw, *unit)?);
                        let shifted = match du {
                            DtUnit::Day => local.checked_add_signed(TimeDelta::try_days(k)?)?,
                            DtUnit::Week => local.checked_add_signed(TimeDelta::try_days(k.checked_mul(7)?)?)?,
                            _ => add_months(local, k.checked_mul(du.months()?)?)?,
                        };
                        naive_to_ts(&to_utc(c.tz.as_ref(), shifted)?, *unit)
                    })()
                };
                out.push(r);
            }
            Ok(cast(&Int64Array::from(out), &DataType::Timestamp(*unit, c.tz_name.clone()))?)
        }
    }
}

/// Whole calendar months from `a` to `b` (Joda semantics).
fn months_between(a: NaiveDateTime, b: NaiveDateTime) -> Option<i64> {
    if b < a {
        return months_between(b, a).map(|m| -m);
    }
    let mut m = (i64::from(b.year()) - i64::from(a.year())) * 12 + i64::from(b.month()) - i64::from(a.month());
    if add_months(a, m)? > b {
        m -= 1;
    }
    Some(m)
}

fn eval_date_diff(a: &[ColumnarValue], n: usize, name: &str) -> Result<ArrayRef> {
    let units = StrCol::new(&a[0])?;
    let x = TempCol::new(&a[1], n)?;
    let y = TempCol::new(&a[2], n)?;
    let mut cached: Option<(String, DtUnit)> = None;
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let Some(u) = units.get(i) else {
            out.push(None);
            continue;
        };
        let unit = match &cached {
            Some((k, unit)) if k == u => *unit,
            _ => {
                let unit = parse_unit_arg(name, u)?;
                cached = Some((u.to_string(), unit));
                unit
            }
        };
        if x.is_date() && y.is_date() && unit.fixed_nanos().is_some() {
            return exec_err!("{name}: unit '{u}' is not valid for DATE values");
        }
        let (Some(ua), Some(ub)) = (x.utc(i), y.utc(i)) else {
            out.push(None);
            continue;
        };
        let r = if let Some(ns) = unit.fixed_nanos() {
            let to_ns = |d: NaiveDateTime| {
                let u = d.and_utc();
                i128::from(u.timestamp()) * 1_000_000_000 + i128::from(u.timestamp_subsec_nanos())
            };
            i64::try_from((to_ns(ub) - to_ns(ua)) / ns).ok()
        } else {
            // calendar units on the wall clock of the first argument's zone
            let la = to_local(x.tz.as_ref(), ua);
            let lb = to_local(x.tz.as_ref(), ub);
            match unit {
                DtUnit::Day => Some(lb.signed_duration_since(la).num_days()),
                DtUnit::Week => Some(lb.signed_duration_since(la).num_days() / 7),
                _ => months_between(la, lb).map(|m| m / unit.months().unwrap_or(1)),
            }
        };
        out.push(r);
    }
    Ok(Arc::new(Int64Array::from(out)))
}

fn extract_part(d: &NaiveDateTime, p: Part) -> i64 {
    match p {
        Part::Year => i64::from(d.year()),
        Part::Quarter => i64::from((d.month() - 1) / 3 + 1),
        Part::Month => i64::from(d.month()),
        Part::Week => i64::from(d.iso_week().week()),
        Part::Day => i64::from(d.day()),
        Part::DayOfWeek => i64::from(d.weekday().number_from_monday()),
        Part::DayOfYear => i64::from(d.ordinal()),
        Part::YearOfWeek => i64::from(d.iso_week().year()),
        Part::Hour => i64::from(d.hour()),
        Part::Minute => i64::from(d.minute()),
        Part::Second => i64::from(d.second()),
        Part::Millisecond => i64::from((d.nanosecond() % 1_000_000_000) / 1_000_000),
    }
}

// --- ISO 8601 parsing -------------------------------------------------------

struct Cursor<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn new(s: &'a str) -> Self {
        Cursor { b: s.as_bytes(), pos: 0 }
    }
    fn done(&self) -> bool {
        self.pos >= self.b.len()
    }
    fn peek(&self) -> Option<u8> {
        self.b.get(self.pos).copied()
    }
    fn eat(&mut self, c: u8) -> bool {
        if self.peek() == Some(c) {
            self.pos += 1;
            true
        } else {
            false
        }
    }
    /// Between `min` and `max` ASCII digits.
    fn digits(&mut self, min: usize, max: usize) -> Option<(u64, usize)> {
        let start = self.pos;
        let mut v: u64 = 0;
        while self.pos - start < max {
            match self.peek() {
                Some(c) if c.is_ascii_digit() => {
                    v = v.checked_mul(10)?.checked_add(u64::from(c - b'0'))?;
                    self.pos += 1;
                }
                _ => break,
            }
        }
        let len = self.pos - start;
        if len < min {
            self.pos = start;
            return None;
        }
        Some((v, len))
    }
}

/// Parses the date part `YYYY[-MM[-DD]]`.
fn parse_iso_date_part(c: &mut Cursor) -> Option<NaiveDate> {
    let (y, _) = c.digits(4, 4)?;
    let mut m = 1;
    let mut d = 1;
    if c.eat(b'-') {
        m = c.digits(2, 2)?.0;
        if c.eat(b'-') {
            d = c.digits(2, 2)?.0;
        }
    }
    NaiveDate::from_ymd_opt(i32::try_from(y).ok()?, u32::try_from(m).ok()?, u32::try_from(d).ok()?)
}

fn parse_iso_date(s: &str) -> Option<NaiveDate> {
    let mut c = Cursor::new(s.trim());
    let d = parse_iso_date_part(&mut c)?;
    c.done().then_some(d)
}

/// Parses an ISO-8601 timestamp, returning the UTC wall clock.
fn parse_iso_timestamp(s: &str) -> Option<NaiveDateTime> {
    let mut c = Cursor::new(s.trim());
    let date = parse_iso_date_part(&mut c)?;
    let (mut h, mut mi, mut se, mut ns) = (0u64, 0u64, 0u64, 0u64);
    if c.eat(b'T') || c.eat(b't') || c.eat(b' ') {
        h = c.digits(2, 2)?.0;
        if c.eat(b':') {
            mi = c.digits(2, 2)?.0;
            if c.eat(b':') {
                se = c.digits(2, 2)?.0;
                if c.eat(b'.') || c.eat(b',') {
                    let start = c.pos;
                    while c.peek().is_some_and(|d| d.is_ascii_digit()) {
                        c.pos += 1;
                    }
                    if c.pos == start {
                        return None;
                    }
                    // first 9 digits are nanoseconds, the rest are truncated
                    let frac = &c.b[start..c.pos.min(start + 9)];
                    let mut v: u64 = 0;
                    for d in frac {
                        v = v * 10 + u64::from(d - b'0');
                    }
                    ns = v * 10u64.pow(9 - frac.len() as u32);
                }
            }
        }
    }
    let time = NaiveTime::from_hms_nano_opt(
        u32::try_from(h).ok()?,
        u32::try_from(mi).ok()?,
        u32::try_from(se).ok()?,
        u32::try_from(ns).ok()?,
    )?;
    let mut offset_secs: i64 = 0;
    if c.eat(b'Z') || c.eat(b'z') {
    } else if let Some(sign) = c.peek().filter(|x| *x == b'+' || *x == b'-') {
        c.pos += 1;
        let oh = c.digits(2, 2)?.0;
        c.eat(b':');
        let om = c.digits(2, 2).map(|x| x.0).unwrap_or(0);
        if oh > 18 || om > 59 {
            return None;
        }
        offset_secs = (oh * 3600 + om * 60) as i64;
        if sign == b'-' {
            offset_secs = -offset_secs;
        }
    }
    if !c.done() {
        return None;
    }
    date.and_time(time).checked_sub_signed(TimeDelta::seconds(offset_secs))
}

// --- MySQL format / parse ---------------------------------------------------

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const WEEKDAYS: [&str; 7] = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"];

/// MySQL week mode 0 (%U): Sunday first, 0–53.
fn week_sunday0(d: NaiveDate) -> u32 {
    (d.ordinal0() + 7 - d.weekday().num_days_from_sunday()) / 7
}

/// MySQL week mode 1 (%u): Monday first, 0–53, week 1 has ≥ 4 days.
fn week_monday0(d: NaiveDate) -> u32 {
    let jan1 = d.with_ordinal(1).unwrap_or(d);
    let wd = jan1.weekday().num_days_from_monday();
    (d.ordinal0() + wd) / 7 + u32::from(wd <= 3)
}

/// MySQL week mode 2 (%V / %X): Sunday first, 1–53, week 1 has a Sunday.
fn week_sunday1(d: NaiveDate) -> (i32, u32) {
    let w = week_sunday0(d);
    if w > 0 {
        return (d.year(), w);
    }
    match NaiveDate::from_ymd_opt(d.year() - 1, 12, 31) {
        Some(prev) => (prev.year(), week_sunday0(prev)),
        None => (d.year(), 0),
    }
}

fn hour12(h: u32) -> u32 {
    match h % 12 {
        0 => 12,
        x => x,
    }
}

fn mysql_format(dt: &NaiveDateTime, fmt: &str, out: &mut String) -> std::result::Result<(), String> {
    let mut it = fmt.chars();
    let d = dt.date();
    let ampm = if dt.hour() < 12 { "AM" } else { "PM" };
    while let Some(c) = it.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let Some(s) = it.next() else {
            out.push('%');
            break;
        };
        let _ = match s {
            'a' => write!(out, "{}", &WEEKDAYS[d.weekday().num_days_from_monday() as usize][..3]),
            'b' => write!(out, "{}", &MONTHS[d.month0() as usize][..3]),
            'c' => write!(out, "{}", d.month()),
            'D' => {
                let day = d.day();
                let suffix = match (day % 10, day % 100) {
                    (_, 11..=13) => "th",
                    (1, _) => "st",
                    (2, _) => "nd",
                    (3, _) => "rd",
                    _ => "th",
                };
                write!(out, "{day}{suffix}")
            }
            'd' => write!(out, "{:02}", d.day()),
            'e' => write!(out, "{}", d.day()),
            'f' => write!(out, "{:06}", (dt.nanosecond() % 1_000_000_000) / 1_000_000 * 1000),
            'H' => write!(out, "{:02}", dt.hour()),
            'h' | 'I' => write!(out, "{:02}", hour12(dt.hour())),
            'i' => write!(out, "{:02}", dt.minute()),
            'j' => write!(out, "{:03}", d.ordinal()),
            'k' => write!(out, "{}", dt.hour()),
            'l' => write!(out, "{}", hour12(dt.hour())),
            'M' => write!(out, "{}", MONTHS[d.month0() as usize]),
            'm' => write!(out, "{:02}", d.month()),
            'p' => write!(out, "{ampm}"),
            'r' => write!(out, "{:02}:{:02}:{:02} {ampm}", hour12(dt.hour()), dt.minute(), dt.second()),
            'S' | 's' => write!(out, "{:02}", dt.second()),
            'T' => write!(out, "{:02}:{:02}:{:02}", dt.hour(), dt.minute(), dt.second()),
            'U' => write!(out, "{:02}", week_sunday0(d)),
            'u' => write!(out, "{:02}", week_monday0(d)),
            'V' => write!(out, "{:02}", week_sunday1(d).1),
            'v' => write!(out, "{:02}", d.iso_week().week()),
            'W' => write!(out, "{}", WEEKDAYS[d.weekday().num_days_from_monday() as usize]),
            'w' => write!(out, "{}", d.weekday().num_days_from_sunday()),
            'X' => write!(out, "{:04}", week_sunday1(d).0),
            'x' => write!(out, "{:04}", d.iso_week().year()),
            'Y' => write!(out, "{:04}", d.year()),
            'y' => write!(out, "{:02}", d.year().rem_euclid(100)),
            other => {
                out.push(other);
                Ok(())
            }
        };
    }
    Ok(())
}

fn match_name(input: &str, pos: &mut usize, names: &[&str]) -> Option<usize> {
    let rest = input.get(*pos..)?;
    // full names first, then 3-letter abbreviations
    for (i, name) in names.iter().enumerate() {
        if rest.len() >= name.len() && rest.is_char_boundary(name.len()) && rest[..name.len()].eq_ignore_ascii_case(name) {
            *pos += name.len();
            return Some(i);
        }
    }
    for (i, name) in names.iter().enumerate() {
        if name.len() <= 3 {
            continue;
        }
        let abbr = &name[..3];
        if rest.len() >= 3 && rest.is_char_boundary(3) && rest[..3].eq_ignore_ascii_case(abbr) {
            *pos += 3;
            return Some(i);
        }
    }
    None
}

/// Parses `input` with a MySQL format. `Ok(None)` when the input does not
/// match; `Err` for an unsupported format specifier.
fn mysql_parse(input: &str, fmt: &str) -> std::result::Result<Option<NaiveDateTime>, String> {
    let mut c = Cursor::new(input);
    let (mut year, mut month, mut day) = (1970i64, 1u64, 1u64);
    let (mut hour, mut minute, mut second, mut nanos) = (0u64, 0u64, 0u64, 0u64);
    let mut pm: Option<bool> = None;
    let mut doy: Option<u64> = None;
    let mut it = fmt.chars();
    macro_rules! num {
        ($min:expr, $max:expr) => {
            match c.digits($min, $max) {
                Some((v, _)) => v,
                None => return Ok(None),
            }
        };
    }
    while let Some(f) = it.next() {
        if f != '%' {
            let mut buf = [0u8; 4];
            for b in f.encode_utf8(&mut buf).bytes() {
                if !c.eat(b) {
                    return Ok(None);
                }
            }
            continue;
        }
        let Some(s) = it.next() else {
            if !c.eat(b'%') {
                return Ok(None);
            }
            break;
        };
        match s {
            'Y' => year = num!(1, 4) as i64,
            'y' => {
                let y = num!(2, 2) as i64;
                year = if y < 70 { 2000 + y } else { 1900 + y };
            }
            'm' | 'c' => month = num!(1, 2),
            'd' | 'e' => day = num!(1, 2),
            'H' | 'k' | 'h' | 'I' | 'l' => hour = num!(1, 2),
            'i' => minute = num!(1, 2),
            's' | 'S' => second = num!(1, 2),
            'f' => {
                let start = c.pos;
                if c.digits(1, 9).is_none() {
                    return Ok(None);
                }
                let len = c.pos - start;
                let mut v: u64 = 0;
                for d in &c.b[start..start + len] {
                    v = v * 10 + u64::from(d - b'0');
                }
                nanos = v * 10u64.pow(9 - len as u32);
            }
            'j' => doy = Some(num!(1, 3)),
            'T' => {
                hour = num!(1, 2);
                if !c.eat(b':') {
                    return Ok(None);
                }
                minute = num!(1, 2);
                if !c.eat(b':') {
                    return Ok(None);
                }
                second = num!(1, 2);
            }
            'r' => {
                hour = num!(1, 2);
                if !c.eat(b':') {
                    return Ok(None);
                }
                minute = num!(1, 2);
                if !c.eat(b':') {
                    return Ok(None);
                }
                second = num!(1, 2);
                c.eat(b' ');
                let mut p = c.pos;
                match match_name(input, &mut p, &["AM", "PM"]) {
                    Some(i) => {
                        pm = Some(i == 1);
                        c.pos = p;
                    }
                    None => return Ok(None),
                }
            }
            'p' => {
                let rest = input.get(c.pos..).unwrap_or("");
                if rest.len() >= 2 && rest.is_char_boundary(2) {
                    match rest[..2].to_ascii_uppercase().as_str() {
                        "AM" => pm = Some(false),
                        "PM" => pm = Some(true),
                        _ => return Ok(None),
                    }
                    c.pos += 2;
                } else {
                    return Ok(None);
                }
            }
            'b' | 'M' => {
                let mut p = c.pos;
                match match_name(input, &mut p, &MONTHS) {
                    Some(i) => {
                        month = i as u64 + 1;
                        c.pos = p;
                    }
                    None => return Ok(None),
                }
            }
            'a' | 'W' => {
                let mut p = c.pos;
                match match_name(input, &mut p, &WEEKDAYS) {
                    Some(_) => c.pos = p,
                    None => return Ok(None),
                }
            }
            '%' => {
                if !c.eat(b'%') {
                    return Ok(None);
                }
            }
            'D' | 'U' | 'u' | 'V' | 'v' | 'w' | 'X' | 'x' => {
                return Err(format!("%{s} is not supported for parsing"));
            }
            other => {
                let mut buf = [0u8; 4];
                for b in other.encode_utf8(&mut buf).bytes() {
                    if !c.eat(b) {
                        return Ok(None);
                    }
                }
            }
        }
    }
    if !c.done() {
        return Ok(None);
    }
    if let Some(pm) = pm {
        if !(1..=12).contains(&hour) {
            return Ok(None);
        }
        hour = (hour % 12) + if pm { 12 } else { 0 };
    }
    let Ok(year) = i32::try_from(year) else {
        return Ok(None);
    };
    let date = match doy {
        Some(doy) => u32::try_from(doy).ok().and_then(|o| NaiveDate::from_yo_opt(year, o)),
        None => NaiveDate::from_ymd_opt(year, month as u32, day as u32),
    };
    let time = NaiveTime::from_hms_nano_opt(hour as u32, minute as u32, second as u32, nanos as u32);
    Ok(match (date, time) {
        (Some(d), Some(t)) if month <= 12 && day <= 31 && hour < 24 && minute < 60 && second < 60 => Some(d.and_time(t)),
        _ => None,
    })
}

// ---------------------------------------------------------------------------
// IP addresses
// ---------------------------------------------------------------------------

/// Parses an IP address, canonicalising IPv4-mapped IPv6 to IPv4 (as Trino's
/// IPADDRESS type does on output). Accepts surrounding whitespace and `[v6]`.
fn parse_ip(s: &str) -> Option<IpAddr> {
    let s = s.trim();
    let s = s.strip_prefix('[').and_then(|x| x.strip_suffix(']')).unwrap_or(s);
    if s.is_empty() || s.len() > 64 {
        return None;
    }
    let ip = IpAddr::from_str(s).ok()?;
    Some(canonical_ip(ip))
}

fn canonical_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => ip,
        },
        v4 => v4,
    }
}

fn is_private_ip(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            o[0] == 10
                || (o[0] == 172 && (16..=31).contains(&o[1]))
                || (o[0] == 192 && o[1] == 168)
                || o[0] == 127
                || (o[0] == 169 && o[1] == 254)
        }
        IpAddr::V6(v6) => {
            let seg0 = v6.segments()[0];
            v6 == Ipv6Addr::LOCALHOST
                || (seg0 & 0xffc0) == 0xfe80 // link-local fe80::/10
                || (seg0 & 0xfe00) == 0xfc00 // ULA fc00::/7
        }
    }
}

/// 128-bit value of an address in the IPv4-mapped IPv6 space.
fn ip_bits_mapped(ip: &IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => u128::from(v4.to_ipv6_mapped()),
        IpAddr::V6(v6) => u128::from(*v6),
    }
}

fn mask128(len: u32) -> u128 {
    if len == 0 {
        0
    } else {
        u128::MAX << (128 - len.min(128))
    }
}

/// A network prefix; `addr` is canonical (IPv4 or non-mapped IPv6) and `len`
/// is relative to the address family.
#[derive(Debug, Clone, Copy)]
struct Prefix {
    addr: IpAddr,
    len: u8,
}

impl Prefix {
    fn new_masked(ip: IpAddr, len: u8) -> Self {
        let addr = match ip {
            IpAddr::V4(v4) => {
                let m = if len == 0 { 0 } else { u32::MAX << (32 - u32::from(len.min(32))) };
                IpAddr::V4(Ipv4Addr::from(u32::from(v4) & m))
            }
            IpAddr::V6(v6) => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & mask128(u32::from(len)))),
        };
        Prefix { addr, len }
    }

    fn len_mapped(&self) -> u32 {
        u32::from(self.len) + if self.addr.is_ipv4() { 96 } else { 0 }
    }

    /// Trino `contains(cidr, ip)`: same family required.
    fn contains_same_family(&self, ip: &IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(a)) => {
                let m = if self.len == 0 { 0 } else { u32::MAX << (32 - u32::from(self.len)) };
                (u32::from(net) & m) == (u32::from(*a) & m)
            }
            (IpAddr::V6(net), IpAddr::V6(a)) => {
                let m = mask128(u32::from(self.len));
                (u128::from(net) & m) == (u128::from(*a) & m)
            }
            _ => false,
        }
    }

    /// Trino IPPREFIX semantics: compare in the IPv4-mapped IPv6 space.
    fn contains_mapped(&self, ip: &IpAddr) -> bool {
        let m = mask128(self.len_mapped());
        (ip_bits_mapped(&self.addr) & m) == (ip_bits_mapped(ip) & m)
    }

    fn first(&self) -> IpAddr {
        self.addr
    }

    fn last(&self) -> IpAddr {
        match self.addr {
            IpAddr::V4(v4) => {
                let host = if self.len >= 32 { 0 } else { u32::MAX >> u32::from(self.len) };
                IpAddr::V4(Ipv4Addr::from(u32::from(v4) | host))
            }
            IpAddr::V6(v6) => {
                let host = !mask128(u32::from(self.len));
                canonical_ip(IpAddr::V6(Ipv6Addr::from(u128::from(v6) | host)))
            }
        }
    }
}

impl std::fmt::Display for Prefix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

/// Result of classifying the first argument of `contains(varchar, varchar)`.
enum CidrClass {
    /// Not of the form `<ip>/<digits>`: use substring semantics.
    NotCidr,
    /// Looks like a CIDR but Trino would reject it.
    Invalid,
    Cidr(Prefix),
}

fn classify_cidr(s: &str) -> CidrClass {
    let Some((addr, len)) = s.trim().split_once('/') else {
        return CidrClass::NotCidr;
    };
    let Some(ip) = parse_ip(addr) else {
        return CidrClass::NotCidr;
    };
    if len.is_empty() || len.len() > 3 || !len.bytes().all(|b| b.is_ascii_digit()) {
        return CidrClass::Invalid;
    }
    let Ok(len) = len.parse::<u32>() else {
        return CidrClass::Invalid;
    };
    let max = if ip.is_ipv4() { 32 } else { 128 };
    if len > max {
        return CidrClass::Invalid;
    }
    let p = Prefix::new_masked(ip, len as u8);
    if ip.is_ipv4() && p.addr != ip {
        // Trino: "Invalid CIDR" when IPv4 host bits are set
        return CidrClass::Invalid;
    }
    CidrClass::Cidr(p)
}

/// Trino `CAST(varchar AS IPPREFIX)` semantics: host bits are cleared.
/// (`contains` instead uses [`classify_cidr`], which rejects IPv4 host bits.)
fn parse_prefix(s: &str) -> Option<Prefix> {
    match classify_cidr(s) {
        CidrClass::Cidr(p) => Some(p),
        CidrClass::Invalid => {
            let (addr, len) = s.trim().split_once('/')?;
            let ip = parse_ip(addr)?;
            let len: u32 = len.parse().ok()?;
            let max = if ip.is_ipv4() { 32 } else { 128 };
            (len <= max).then(|| Prefix::new_masked(ip, len as u8))
        }
        _ => None,
    }
}

/// `contains(cidr_or_string, ip_or_substring)` for one row (see [`Kind::Contains`]).
fn contains_str(class: &CidrClass, hay: &str, needle: &str) -> Option<bool> {
    match class {
        CidrClass::NotCidr => Some(hay.contains(needle)),
        CidrClass::Invalid => None,
        CidrClass::Cidr(p) => {
            if needle.contains('/') {
                let sub = parse_prefix(needle)?;
                Some(p.contains_same_family(&sub.addr) && sub.len >= p.len)
            } else {
                Some(p.contains_same_family(&parse_ip(needle)?))
            }
        }
    }
}

fn eval_contains(a: &[ColumnarValue], n: usize, name: &str) -> Result<ArrayRef> {
    let t0 = a[0].data_type();
    if list_field(&t0).is_some() {
        let list = a[0].to_array(n)?;
        let needle = a[1].to_array(n)?;
        return match list.data_type() {
            DataType::List(_) => list_contains(list.as_list::<i32>(), &needle, name),
            DataType::LargeList(_) => list_contains(list.as_list::<i64>(), &needle, name),
            DataType::FixedSizeList(f, _) => {
                let l = cast(&list, &DataType::List(Arc::clone(f)))?;
                list_contains(l.as_list::<i32>(), &needle, name)
            }
            other => exec_err!("{name}: unexpected argument type {other}"),
        };
    }
    let hay = StrCol::new(&a[0])?;
    let needle = StrCol::new(&a[1])?;
    let const_class = if hay.is_const() { hay.get(0).map(classify_cidr) } else { None };
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let v = match (hay.get(i), needle.get(i)) {
            (Some(h), Some(x)) => match &const_class {
                Some(c) => contains_str(c, h, x),
                None if h.contains('/') => contains_str(&classify_cidr(h), h, x),
                None => Some(h.contains(x)),
            },
            _ => None,
        };
        out.push(v);
    }
    Ok(Arc::new(BooleanArray::from(out)))
}

/// Trino `contains(array, element)` with three-valued logic.
fn list_contains<O: OffsetSizeTrait>(list: &GenericListArray<O>, needle: &ArrayRef, name: &str) -> Result<ArrayRef> {
    let values = list.values();
    let needle = if needle.data_type() != values.data_type() {
        cast(needle, values.data_type()).map_err(|e| exec_datafusion_err!("{name}: cannot compare element types: {e}"))?
    } else {
        Arc::clone(needle)
    };
    let scalar_needle = needle.len() == 1;
    let cmp = make_comparator(values.as_ref(), needle.as_ref(), SortOptions::default()).map_err(|e| exec_datafusion_err!("{name}: {e}"))?;
    let offsets = list.value_offsets();
    let mut out = Vec::with_capacity(list.len());
    for row in 0..list.len() {
        let ni = if scalar_needle { 0 } else { row };
        if list.is_null(row) || ni >= needle.len() || needle.is_null(ni) {
            out.push(None);
            continue;
        }
        let start = offsets[row].as_usize();
        let end = offsets[row + 1].as_usize();
        let mut found = false;
        let mut saw_null = false;
        for j in start..end {
            if values.is_null(j) {
                saw_null = true;
            } else if cmp(j, ni).is_eq() {
                found = true;
                break;
            }
        }
        out.push(if found {
            Some(true)
        } else if saw_null {
            None
        } else {
            Some(false)
        });
    }
    Ok(Arc::new(BooleanArray::from(out)))
}

// ---------------------------------------------------------------------------
// URLs
// ---------------------------------------------------------------------------

struct UrlParts<'a> {
    scheme: Option<&'a str>,
    host: Option<&'a str>,
    port: Option<i64>,
    path: &'a str,
    query: Option<&'a str>,
    fragment: Option<&'a str>,
}

/// RFC 3986 split approximating `java.net.URI` (which Trino uses): characters
/// that URI rejects (space, `"<>\^`{|}`, controls, malformed `%` escapes) make
/// the whole URL invalid.
fn parse_url(s: &str) -> Option<UrlParts<'_>> {
    let bytes = s.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        if b <= 0x20 || b == 0x7f || b"\"<>\\^`{|}".contains(&b) {
            return None;
        }
        if b == b'%' && !(i + 2 < bytes.len() && bytes[i + 1].is_ascii_hexdigit() && bytes[i + 2].is_ascii_hexdigit()) {
            return None;
        }
    }
    if s.is_empty() {
        return None;
    }
    let (rest, fragment) = match s.split_once('#') {
        Some((a, f)) => (a, Some(f)),
        None => (s, None),
    };
    // scheme
    let mut scheme = None;
    let mut rest = rest;
    if let Some(colon) = rest.find(':') {
        let cand = &rest[..colon];
        let first_special = rest.find(['/', '?']).unwrap_or(usize::MAX);
        if colon < first_special {
            let valid = !cand.is_empty()
                && cand.as_bytes()[0].is_ascii_alphabetic()
                && cand
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'-' || b == b'.');
            if !valid {
                return None;
            }
            scheme = Some(cand);
            rest = &rest[colon + 1..];
        }
    }
    let (rest, query) = match rest.split_once('?') {
        Some((a, q)) => (a, Some(q)),
        None => (rest, None),
    };
    let mut host = None;
    let mut port = None;
    let path;
    if let Some(after) = rest.strip_prefix("//") {
        let end = after.find('/').unwrap_or(after.len());
        let authority = &after[..end];
        path = &after[end..];
        let hostport = match authority.rfind('@') {
            Some(at) => &authority[at + 1..],
            None => authority,
        };
        let (h, p) = if hostport.starts_with('[') {
            let close = hostport.find(']')?;
            let h = &hostport[..=close];
            let tail = &hostport[close + 1..];
            let p = match tail.strip_prefix(':') {
                Some(p) => Some(p),
                None if tail.is_empty() => None,
                None => return None,
            };
            // validate the IPv6 literal
            Ipv6Addr::from_str(&h[1..h.len() - 1]).ok()?;
            (h, p)
        } else {
            match hostport.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (hostport, None),
            }
        };
        if let Some(p) = p {
            if !p.is_empty() {
                if !p.bytes().all(|b| b.is_ascii_digit()) || p.len() > 9 {
                    return None;
                }
                port = p.parse::<i64>().ok();
            }
        }
        if !h.is_empty() {
            host = Some(h);
        }
    } else {
        path = rest;
    }
    if scheme.is_some() && !path.starts_with('/') && !rest.starts_with("//") {
        // opaque URI (mailto:x, urn:…): Java reports no path/host
        return Some(UrlParts {
            scheme,
            host: None,
            port: None,
            path: "",
            query: None,
            fragment,
        });
    }
    Some(UrlParts {
        scheme,
        host,
        port,
        path,
        query,
        fragment,
    })
}

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Percent-decoding as `java.net.URI#getPath` does (invalid UTF-8 → U+FFFD).
fn percent_decode_lossy(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(h), Some(l)) = (hex_val(b[i + 1]), hex_val(b[i + 2])) {
                out.push(h * 16 + l);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `java.net.URLDecoder` semantics: '+' is a space, `%XX` bytes are UTF-8;
/// malformed escapes → `None`.
fn url_form_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b'%' => {
                let h = hex_val(*b.get(i + 1)?)?;
                let l = hex_val(*b.get(i + 2)?)?;
                out.push(h * 16 + l);
                i += 3;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    Some(String::from_utf8_lossy(&out).into_owned())
}

/// Guava `urlFormParameterEscaper` semantics (used by Trino `url_encode`).
fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3 / 2);
    for &b in s.as_bytes() {
        match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'*' => out.push(b as char),
            b' ' => out.push('+'),
            _ => {
                let _ = write!(out, "%{b:02X}");
            }
        }
    }
    out
}

fn url_parameter(url: &str, name: &str) -> Option<String> {
    let u = parse_url(url)?;
    let q = u.query?;
    for arg in q.split('&') {
        let (k, v) = match arg.split_once('=') {
            Some((k, v)) => (k, Some(v)),
            None => (arg, None),
        };
        if k == name {
            return match v {
                Some(v) => url_form_decode(v),
                None => Some(String::new()),
            };
        }
    }
    None
}

// ---------------------------------------------------------------------------
// JSON
// ---------------------------------------------------------------------------

/// Parses Trino's JSON path subset into a list of member/index tokens.
fn parse_json_path(p: &str) -> std::result::Result<Vec<String>, String> {
    let err = || format!("Invalid JSON path: '{p}'");
    let s = p.trim();
    let mut chars = s.chars().peekable();
    if chars.next() != Some('$') {
        return Err(err());
    }
    let mut out = Vec::new();
    while let Some(c) = chars.next() {
        match c {
            '.' => {
                let mut tok = String::new();
                while let Some(&c) = chars.peek() {
                    if c == '.' || c == '[' {
                        break;
                    }
                    if c == '*' || c.is_whitespace() || c == ']' || c == '"' || c == '\'' {
                        return Err(err());
                    }
                    tok.push(c);
                    chars.next();
                }
                if tok.is_empty() {
                    return Err(err());
                }
                out.push(tok);
            }
            '[' => {
                let mut tok = String::new();
                match chars.peek().copied() {
                    Some(q @ ('"' | '\'')) => {
                        chars.next();
                        let mut closed = false;
                        while let Some(c) = chars.next() {
                            if c == '\\' {
                                match chars.next() {
                                    Some(e @ ('"' | '\'' | '\\')) => tok.push(e),
                                    _ => return Err(err()),
                                }
                            } else if c == q {
                                closed = true;
                                break;
                            } else {
                                tok.push(c);
                            }
                        }
                        if !closed {
                            return Err(err());
                        }
                    }
                    _ => {
                        while let Some(&c) = chars.peek() {
                            if c == ']' {
                                break;
                            }
                            if !(c.is_alphanumeric() || c == '_') {
                                return Err(err());
                            }
                            tok.push(c);
                            chars.next();
                        }
                        if tok.is_empty() {
                            return Err(err());
                        }
                    }
                }
                if chars.next() != Some(']') {
                    return Err(err());
                }
                out.push(tok);
            }
            _ => return Err(err()),
        }
    }
    Ok(out)
}

fn json_lookup<'v>(mut v: &'v serde_json::Value, path: &[String]) -> Option<&'v serde_json::Value> {
    for tok in path {
        v = match v {
            serde_json::Value::Object(m) => m.get(tok.as_str())?,
            serde_json::Value::Array(a) => a.get(tok.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(v)
}

fn eval_json_path(kind: Kind, a: &[ColumnarValue], n: usize, name: &str) -> Result<ArrayRef> {
    let docs = StrCol::new(&a[0])?;
    let paths = StrCol::new(&a[1])?;
    let mut cached: Option<(String, Vec<String>)> = None;
    let mut strs: Vec<Option<String>> = Vec::new();
    let mut ints: Vec<Option<i64>> = Vec::new();
    for i in 0..n {
        let (Some(doc), Some(p)) = (docs.get(i), paths.get(i)) else {
            strs.push(None);
            ints.push(None);
            continue;
        };
        if !matches!(&cached, Some((k, _)) if k == p) {
            let parsed = parse_json_path(p).map_err(|e| exec_datafusion_err!("{name}: {e}"))?;
            cached = Some((p.to_string(), parsed));
        }
        let Some((_, path)) = &cached else {
            continue;
        };
        let parsed = serde_json::from_str::<serde_json::Value>(doc).ok();
        let found = parsed.as_ref().and_then(|v| json_lookup(v, path));
        match kind {
            Kind::JsonExtractScalar => strs.push(match found {
                Some(serde_json::Value::String(s)) => Some(s.clone()),
                Some(serde_json::Value::Number(x)) => Some(x.to_string()),
                Some(serde_json::Value::Bool(b)) => Some(b.to_string()),
                _ => None,
            }),
            Kind::JsonExtract => strs.push(found.and_then(|v| serde_json::to_string(v).ok())),
            _ => ints.push(found.map(|v| match v {
                serde_json::Value::Object(m) => m.len() as i64,
                serde_json::Value::Array(a) => a.len() as i64,
                _ => 0,
            })),
        }
    }
    if matches!(kind, Kind::JsonSize) {
        Ok(Arc::new(Int64Array::from(ints)))
    } else {
        Ok(Arc::new(StringArray::from(strs)))
    }
}

// ---------------------------------------------------------------------------
// Strings / regex
// ---------------------------------------------------------------------------

fn eval_split(a: &[ColumnarValue], n: usize, name: &str) -> Result<ArrayRef> {
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

fn eval_split_part(a: &[ColumnarValue], n: usize, name: &str) -> Result<ArrayRef> {
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

/// Eager fallback for `if` (normally rewritten to CASE by `simplify`).
fn eval_if(a: &[ColumnarValue], n: usize, rt: &DataType) -> Result<ArrayRef> {
    let cond = a[0].to_array(n)?;
    let cond = cast(&cond, &DataType::Boolean)?;
    let cond = cond.as_boolean();
    let mask = match cond.nulls() {
        Some(nulls) => BooleanArray::new(cond.values() & nulls.inner(), None),
        None => BooleanArray::new(cond.values().clone(), None),
    };
    let then = cast(&a[1].to_array(n)?, rt)?;
    let otherwise = match a.get(2) {
        Some(cv) => cast(&cv.to_array(n)?, rt)?,
        None => datafusion::arrow::array::new_null_array(rt, n),
    };
    Ok(datafusion::arrow::compute::kernels::zip::zip(&mask, &then, &otherwise)?)
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

fn eval_regexp_extract(args: &ScalarFunctionArgs, n: usize, name: &str) -> Result<ArrayRef> {
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
fn java_replacement_to_rust(r: &str) -> String {
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

fn eval_regexp_replace(args: &ScalarFunctionArgs, n: usize) -> Result<ArrayRef> {
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

// ---------------------------------------------------------------------------
// element_at
// ---------------------------------------------------------------------------

fn eval_element_at(a: &[ColumnarValue], n: usize, name: &str) -> Result<ArrayRef> {
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
enum MatchMode {
    /// `all_match(array, x -> pred)`: false if any element's predicate is false;
    /// otherwise NULL if any is NULL; otherwise true (true for empty arrays).
    All,
    /// `none_match(array, x -> pred)`: false if any predicate is true; otherwise
    /// NULL if any is NULL; otherwise true (true for empty arrays).
    None,
}

/// Trino `all_match` / `none_match` (DataFusion 54 only has `any_match`).
#[derive(Debug, PartialEq, Eq, Hash)]
struct MatchFn {
    name: &'static str,
    mode: MatchMode,
    signature: HigherOrderSignature,
}

impl MatchFn {
    fn new(name: &'static str, mode: MatchMode) -> Self {
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

// ---------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::record_batch::RecordBatch;
    use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};

    fn ctx() -> SessionContext {
        let ctx = SessionContext::new();
        register(&ctx);
        ctx
    }

    /// Runs `sql` through `SessionContext::sql` (what the engine does).
    async fn rows(ctx: &SessionContext, sql: &str) -> Vec<Vec<String>> {
        let df = ctx.sql(sql).await.unwrap_or_else(|e| panic!("planning {sql}: {e}"));
        collect(df, sql).await
    }

    /// Runs `query` through this module's [`super::sql`] (Trino dialect).
    async fn trino_rows(ctx: &SessionContext, query: &str) -> Vec<Vec<String>> {
        let df = super::sql(ctx, query).await.unwrap_or_else(|e| panic!("planning {query}: {e}"));
        collect(df, query).await
    }

    async fn collect(df: DataFrame, sql: &str) -> Vec<Vec<String>> {
        let batches: Vec<RecordBatch> = df.collect().await.unwrap_or_else(|e| panic!("executing {sql}: {e}"));
        let opts = FormatOptions::default().with_null("NULL");
        let mut out = Vec::new();
        for b in &batches {
            let fmts: Vec<ArrayFormatter> = b
                .columns()
                .iter()
                .map(|c| ArrayFormatter::try_new(c.as_ref(), &opts).unwrap())
                .collect();
            for r in 0..b.num_rows() {
                out.push(fmts.iter().map(|f| f.value(r).to_string()).collect());
            }
        }
        out
    }

    /// Single-row query → its cells.
    async fn row(ctx: &SessionContext, sql: &str) -> Vec<String> {
        let mut r = rows(ctx, sql).await;
        assert_eq!(r.len(), 1, "{sql}: expected one row, got {r:?}");
        r.remove(0)
    }

    async fn one(ctx: &SessionContext, sql: &str) -> String {
        row(ctx, sql).await.remove(0)
    }

    async fn fails(ctx: &SessionContext, sql: &str) -> bool {
        match ctx.sql(sql).await {
            Err(_) => true,
            Ok(df) => df.collect().await.is_err(),
        }
    }

    #[test]
    fn catalogue_is_consistent() {
        for (name, _) in SCALAR_FUNCS {
            assert!(TRINO_FUNCTIONS.contains(name), "{name} missing from TRINO_FUNCTIONS");
        }
        for name in OVERRIDDEN_BUILTINS {
            assert!(TRINO_FUNCTIONS.contains(name), "{name}");
        }
        assert_eq!(SCALAR_FUNCS.len() + 4, TRINO_FUNCTIONS.len());
    }

    #[tokio::test]
    async fn all_names_resolve() {
        let ctx = ctx();
        let state = ctx.state();
        for name in TRINO_FUNCTIONS {
            let ok = state.scalar_functions().contains_key(*name) || state.higher_order_functions().contains_key(*name);
            assert!(ok, "{name} not registered");
        }
    }

    #[tokio::test]
    async fn cidr_contains() {
        let ctx = ctx();
        let r = row(
            &ctx,
            "SELECT contains('10.0.0.0/8', '10.1.2.3'), contains('10.0.0.0/8', '11.0.0.1'), \
             contains('2001:db8::/32', '2001:db8::1'), contains('2001:db8::/32', '2001:db9::1'), \
             contains('10.0.0.0/8', '::ffff:10.9.9.9'), contains('10.0.0.0/8', '2001:db8::1'), \
             contains('0.0.0.0/0', '8.8.8.8'), contains('192.168.1.0/24', '192.168.1.255'), \
             contains('192.168.1.0/24', '192.168.2.0')",
        )
        .await;
        assert_eq!(r, ["true", "false", "true", "false", "true", "false", "true", "true", "false"]);
        // garbage / nulls / invalid cidr
        let r = row(
            &ctx,
            "SELECT contains('10.0.0.0/8', 'not-an-ip'), contains('10.0.0.0/8', CAST(NULL AS VARCHAR)), \
             contains(CAST(NULL AS VARCHAR), '1.2.3.4'), contains('10.1.0.0/8', '10.1.2.3'), \
             contains('10.0.0.0/33', '10.1.2.3'), contains('10.0.0.0/8', '10.2.0.0/16')",
        )
        .await;
        assert_eq!(r, ["NULL", "NULL", "NULL", "NULL", "NULL", "true"]);
    }

    #[tokio::test]
    async fn contains_substring_and_array() {
        let ctx = ctx();
        let r = row(
            &ctx,
            "SELECT contains('/usr/bin/curl', 'curl'), contains('powershell.exe', 'shell'), \
             contains('abc', 'x'), contains(arrow_cast('abc', 'Utf8View'), 'b')",
        )
        .await;
        assert_eq!(r, ["true", "true", "false", "true"]);
        let r = row(
            &ctx,
            "SELECT contains([1, 2, 3], 2), contains([1, 2, 3], 5), contains([1, NULL], 5), \
             contains([1, NULL], 1), contains([1, 2], CAST(NULL AS BIGINT)), \
             contains(['a', 'b'], 'b'), contains(make_array(), 1)",
        )
        .await;
        assert_eq!(r, ["true", "false", "NULL", "true", "NULL", "true", "false"]);
    }

    #[tokio::test]
    async fn contains_on_columns() {
        let ctx = ctx();
        let r = rows(
            &ctx,
            "SELECT contains(net, ip), contains(tags, 'x') FROM (VALUES \
               ('10.0.0.0/8', '10.0.0.1', ['x', 'y']), \
               ('fd00::/8', 'fd12::1', ['y']), \
               ('/tmp/x', 'tmp', ['x']), \
               (NULL, '1.1.1.1', NULL)) AS t(net, ip, tags)",
        )
        .await;
        assert_eq!(
            r,
            vec![
                vec!["true", "true"],
                vec!["true", "false"],
                vec!["true", "true"],
                vec!["NULL", "NULL"],
            ]
        );
        // scalar CIDR against an ip column (the common security-query shape)
        let r = rows(
            &ctx,
            "SELECT contains('172.16.0.0/12', ip) FROM (VALUES ('172.31.255.255'), ('172.32.0.0'), ('junk'), (NULL)) AS t(ip)",
        )
        .await;
        assert_eq!(r, vec![vec!["true"], vec!["false"], vec!["NULL"], vec!["NULL"]]);
    }

    #[tokio::test]
    async fn private_ip_and_ip_helpers() {
        let ctx = ctx();
        let r = rows(
            &ctx,
            "SELECT is_private_ip(ip) FROM (VALUES ('10.1.2.3'), ('172.20.0.1'), ('192.168.0.1'), \
             ('127.0.0.1'), ('169.254.1.1'), ('8.8.8.8'), ('172.32.0.1'), ('::1'), ('fe80::1'), \
             ('fd00::1'), ('2001:4860::8888'), ('::ffff:192.168.1.1'), ('garbage'), (NULL)) AS t(ip)",
        )
        .await;
        let got: Vec<String> = r.into_iter().map(|mut v| v.remove(0)).collect();
        assert_eq!(
            got,
            ["true", "true", "true", "true", "true", "false", "false", "true", "true", "true", "false", "true", "NULL", "NULL"]
        );
        let r = row(
            &ctx,
            "SELECT ipaddress('::ffff:1.2.3.4'), ipaddress('2001:DB8:0:0:0:0:0:1'), ipaddress('x'), \
             ipprefix('192.168.255.255/9'), ip_prefix('10.1.2.3', 16), \
             is_subnet_of('10.0.0.0/8', '10.1.2.3'), is_subnet_of('10.0.0.0/8', '10.1.0.0/16'), \
             is_subnet_of('10.1.0.0/16', '10.0.0.0/8'), ip_subnet_min('192.168.0.0/16'), \
             ip_subnet_max('192.168.0.0/16'), ip_subnet_max('2001:db8::/32')",
        )
        .await;
        assert_eq!(
            r,
            [
                "1.2.3.4",
                "2001:db8::1",
                "NULL",
                "192.128.0.0/9",
                "10.1.0.0/16",
                "true",
                "true",
                "false",
                "192.168.0.0",
                "192.168.255.255",
                "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff"
            ]
        );
    }

    #[tokio::test]
    async fn unixtime() {
        let ctx = ctx();
        let r = row(
            &ctx,
            "SELECT to_iso8601(from_unixtime(0)), to_iso8601(from_unixtime(1.5)), \
             to_iso8601(from_unixtime(1700000000123 / 1000.0)), arrow_typeof(from_unixtime(0)), \
             to_unixtime(from_unixtime(1.25)), to_unixtime(TIMESTAMP '1970-01-01 00:00:01.5'), \
             to_iso8601(from_unixtime(0, 'America/New_York')), to_iso8601(from_unixtime(0, 5, 30)), \
             from_unixtime(CAST(NULL AS BIGINT)), from_unixtime(1e300), \
             to_iso8601(from_unixtime_nanos(1500000000))",
        )
        .await;
        assert_eq!(
            r,
            [
                "1970-01-01T00:00:00.000Z",
                "1970-01-01T00:00:01.500Z",
                "2023-11-14T22:13:20.123Z",
                "Timestamp(ms, \"UTC\")",
                "1.25",
                "1.5",
                "1969-12-31T19:00:00.000-05:00",
                "1970-01-01T05:30:00.000+05:30",
                "NULL",
                "NULL",
                "1970-01-01T00:00:01.500000000Z"
            ]
        );
        // OCSF `time` is epoch milliseconds (bigint)
        let r = rows(
            &ctx,
            "SELECT to_iso8601(from_unixtime(time / 1000)) FROM (VALUES (CAST(1700000000000 AS BIGINT)), (NULL)) AS t(time)",
        )
        .await;
        assert_eq!(r, vec![vec!["2023-11-14T22:13:20.000Z"], vec!["NULL"]]);
        // comparison with a timestamp literal works after coercion
        assert_eq!(
            one(&ctx, "SELECT from_unixtime(86400) > TIMESTAMP '1970-01-01 12:00:00'").await,
            "true"
        );
    }

    #[tokio::test]
    async fn iso8601() {
        let ctx = ctx();
        let r = row(
            &ctx,
            "SELECT to_iso8601(from_iso8601_timestamp('2020-05-11T11:15:05.123456Z')), \
             to_iso8601(from_iso8601_timestamp('2020-05-11T11:15:05+02:00')), \
             to_iso8601(from_iso8601_timestamp('2020-05-11')), \
             to_iso8601(from_iso8601_timestamp('2020-05-11 11:15:05')), \
             from_iso8601_timestamp('nope'), from_iso8601_timestamp('2020-13-01'), \
             from_iso8601_date('2020-05-11'), from_iso8601_date('2020-05-11T00:00:00'), \
             to_iso8601(DATE '2020-02-29'), \
             to_unixtime('1970-01-02T00:00:00Z')",
        )
        .await;
        assert_eq!(
            r,
            [
                "2020-05-11T11:15:05.123Z",
                "2020-05-11T09:15:05.000Z",
                "2020-05-11T00:00:00.000Z",
                "2020-05-11T11:15:05.000Z",
                "NULL",
                "NULL",
                "2020-05-11",
                "NULL",
                "2020-02-29",
                "86400.0"
            ]
        );
    }

    #[tokio::test]
    async fn date_add_and_diff() {
        let ctx = ctx();
        let r = row(
            &ctx,
            "SELECT date_add('day', 1, TIMESTAMP '2024-01-31 10:00:00'), \
             date_add('month', 1, TIMESTAMP '2024-01-31 10:00:00'), \
             date_add('HOUR', -25, TIMESTAMP '2024-01-01 00:00:00'), \
             date_add('week', 2, DATE '2024-01-01'), date_add('year', 1, DATE '2024-02-29'), \
             date_add('quarter', 1, DATE '2024-01-15'), \
             date_add('millisecond', 1500, TIMESTAMP '2024-01-01 00:00:00'), \
             to_iso8601(date_add('day', 1, from_unixtime(0))), \
             date_add('day', CAST(NULL AS BIGINT), DATE '2024-01-01')",
        )
        .await;
        assert_eq!(
            r,
            [
                "2024-02-01T10:00:00",
                "2024-02-29T10:00:00",
                "2023-12-30T23:00:00",
                "2024-01-15",
                "2025-02-28",
                "2024-04-15",
                "2024-01-01T00:00:01.500",
                "1970-01-02T00:00:00.000Z",
                "NULL"
            ]
        );
        assert!(fails(&ctx, "SELECT date_add('fortnight', 1, DATE '2024-01-01')").await);
        assert!(fails(&ctx, "SELECT date_add('hour', 1, DATE '2024-01-01')").await);
        // DST-aware day arithmetic in a named zone
        assert_eq!(
            one(
                &ctx,
                "SELECT to_iso8601(date_add('day', 1, from_unixtime(1710000000, 'America/New_York')))"
            )
            .await,
            // 2024-03-09T11:00-05:00 + 1 day = 2024-03-10T11:00-04:00 (23h later)
            "2024-03-10T11:00:00.000-04:00"
        );
        let r = row(
            &ctx,
            "SELECT date_diff('day', TIMESTAMP '2024-01-01 00:00:00', TIMESTAMP '2024-01-03 23:59:59'), \
             date_diff('hour', TIMESTAMP '2024-01-01 10:00:00', TIMESTAMP '2024-01-01 08:30:00'), \
             date_diff('month', DATE '2020-01-31', DATE '2020-02-28'), \
             date_diff('month', DATE '2020-01-31', DATE '2020-03-31'), \
             date_diff('year', DATE '2020-02-29', DATE '2021-02-28'), \
             date_diff('second', from_unixtime(0), from_unixtime(90.9)), \
             date_diff('week', DATE '2024-01-01', DATE '2024-01-20'), \
             date_diff('month', DATE '2024-03-31', DATE '2024-01-31')",
        )
        .await;
        assert_eq!(r, ["2", "-1", "0", "2", "1", "90", "2", "-2"]);
    }

    #[tokio::test]
    async fn date_format_parse_and_fields() {
        let ctx = ctx();
        let r = row(
            &ctx,
            "SELECT date_format(TIMESTAMP '2024-03-05 14:07:09.123', '%Y-%m-%d %H:%i:%s'), \
             date_format(TIMESTAMP '2024-03-05 14:07:09.123', '%T %f %p %h %l %j %W %a %M %b %c %e %y %D %%'), \
             date_format(DATE '2024-12-30', '%v %x %u %U %w'), \
             date_format(from_unixtime(0, 'Asia/Tokyo'), '%Y-%m-%d %H:%i'), \
             date_format(CAST(NULL AS TIMESTAMP), '%Y')",
        )
        .await;
        assert_eq!(
            r,
            [
                "2024-03-05 14:07:09",
                "14:07:09 123000 PM 02 2 065 Tuesday Tue March Mar 3 5 24 5th %",
                "01 2025 53 52 1",
                "1970-01-01 09:00",
                "NULL"
            ]
        );
        let r = row(
            &ctx,
            "SELECT date_parse('2024-03-05 14:07:09', '%Y-%m-%d %H:%i:%s'), \
             date_parse('05/Mar/2024:02:07:09 PM', '%d/%b/%Y:%h:%i:%s %p'), \
             date_parse('20240305', '%Y%m%d'), date_parse('2024-03-05 x', '%Y-%m-%d'), \
             date_parse('2024-02-30', '%Y-%m-%d'), date_parse('1.5', '%s.%f')",
        )
        .await;
        assert_eq!(
            r,
            [
                "2024-03-05T14:07:09",
                "2024-03-05T14:07:09",
                "2024-03-05T00:00:00",
                "NULL",
                "NULL",
                "1970-01-01T00:00:01.500"
            ]
        );
        let r = row(
            &ctx,
            "SELECT year(t), quarter(t), month(t), week(t), day(t), day_of_week(t), dow(t), \
             day_of_year(t), hour(t), minute(t), second(t), millisecond(t), year_of_week(t), \
             date(t), last_day_of_month(t), date('2024-02-10'), date('bad') \
             FROM (SELECT TIMESTAMP '2024-02-10 13:14:15.678' AS t)",
        )
        .await;
        assert_eq!(
            r,
            [
                "2024",
                "1",
                "2",
                "6",
                "10",
                "6",
                "6",
                "41",
                "13",
                "14",
                "15",
                "678",
                "2024",
                "2024-02-10",
                "2024-02-29",
                "2024-02-10",
                "NULL"
            ]
        );
        // fields use the value's own zone
        assert_eq!(one(&ctx, "SELECT hour(from_unixtime(0, 'Asia/Kolkata'))").await, "5");
    }

    #[tokio::test]
    async fn json_functions() {
        let ctx = ctx();
        let r = row(
            &ctx,
            r#"SELECT json_extract_scalar('{"a":{"b":"x"}}', '$.a.b'),
                      json_extract_scalar('{"a":[{"b":1},{"b":2.5}]}', '$.a[1].b'),
                      json_extract_scalar('{"a.b":true}', '$["a.b"]'),
                      json_extract_scalar('{"a.b":true}', '$[''a.b'']'),
                      json_extract_scalar('{"a":{"b":"x"}}', '$.a'),
                      json_extract_scalar('{"a":null}', '$.a'),
                      json_extract_scalar('not json', '$.a'),
                      json_extract_scalar('{"a":1}', '$.missing'),
                      json_extract('{"a":{"b":[1,2]}}', '$.a'),
                      json_extract('{"a":"s"}', '$.a'),
                      json_array_length('[1,2,3]'), json_array_length('{}'),
                      json_size('{"a":{"x":1,"y":2}}', '$.a'), json_size('{"a":3}', '$.a'),
                      json_parse('{ "a" : 1 }'), json_format('[1, 2]'), json_parse('{bad')"#,
        )
        .await;
        assert_eq!(
            r,
            [
                "x",
                "2.5",
                "true",
                "true",
                "NULL",
                "NULL",
                "NULL",
                "NULL",
                r#"{"b":[1,2]}"#,
                r#""s""#,
                "3",
                "NULL",
                "2",
                "0",
                r#"{"a":1}"#,
                "[1,2]",
                "NULL"
            ]
        );
        assert!(fails(&ctx, r#"SELECT json_extract_scalar('{}', 'a.b')"#).await);
        assert!(fails(&ctx, r#"SELECT json_extract_scalar('{}', '$.a[*]')"#).await);
        // column input with mixed rows, hostile nesting
        let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        let sql = format!(
            r#"SELECT json_extract_scalar(j, '$.user.name') FROM (VALUES ('{{"user":{{"name":"bob"}}}}'), ('{deep}'), (NULL)) AS t(j)"#
        );
        let r = rows(&ctx, &sql).await;
        assert_eq!(r, vec![vec!["bob"], vec!["NULL"], vec!["NULL"]]);
    }

    #[tokio::test]
    async fn url_functions() {
        let ctx = ctx();
        let r = row(
            &ctx,
            "SELECT url_extract_host('https://user:pw@Example.com:8443/a%20b/c?q=1&x=a+b%21#frag'), \
             url_extract_port('https://example.com:8443/'), url_extract_port('https://example.com/'), \
             url_extract_protocol('https://example.com/'), \
             url_extract_path('https://example.com/a%20b/c?q=1'), \
             url_extract_query('https://example.com/p?q=1&r=2#f'), \
             url_extract_fragment('https://example.com/p#sec'), \
             url_extract_parameter('https://example.com/p?q=1&x=a+b%21&flag', 'x'), \
             url_extract_parameter('https://example.com/p?q=1&flag', 'flag'), \
             url_extract_parameter('https://example.com/p?q=1', 'nope'), \
             url_extract_host('http://[2001:db8::1]:80/'), url_extract_host('not a url'), \
             url_extract_host('/relative/path'), url_encode('a b&c/é'), url_decode('a+b%26c%2F%C3%A9'), \
             url_decode('%zz')",
        )
        .await;
        assert_eq!(
            r,
            [
                "Example.com",
                "8443",
                "NULL",
                "https",
                "/a b/c",
                "q=1&r=2",
                "sec",
                "a b!",
                "",
                "NULL",
                "[2001:db8::1]",
                "NULL",
                "",
                "a+b%26c%2F%C3%A9",
                "a b&c/é",
                "NULL"
            ]
        );
    }

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

    #[tokio::test]
    async fn if_function() {
        let ctx = ctx();
        let r = row(
            &ctx,
            "SELECT if(1 > 0, 'yes', 'no'), if(1 < 0, 'yes'), if(NULL, 1, 2), if(true, 1, 2.5)",
        )
        .await;
        assert_eq!(r, ["yes", "NULL", "2", "1.0"]);
        // the branch not taken is not evaluated (no division by zero)
        let r = rows(&ctx, "SELECT if(d <> 0, 10 / d, -1) FROM (VALUES (0), (5)) AS t(d)").await;
        assert_eq!(r, vec![vec!["-1"], vec!["2"]]);
    }

    /// Parquet-style physical types: Utf8View / LargeUtf8 / dictionary strings,
    /// maps with view keys, zoned microsecond timestamps, lists of views.
    #[tokio::test]
    async fn physical_type_variants() {
        use datafusion::arrow::array::{DictionaryArray, MapBuilder, StringViewBuilder, TimestampMicrosecondArray};
        use datafusion::arrow::datatypes::{Int32Type as K, Schema};
        let ctx = ctx();
        let ip: ArrayRef = Arc::new(StringViewArray::from(vec![Some("10.0.0.7"), Some("8.8.4.4"), None]));
        let j: ArrayRef = Arc::new(LargeStringArray::from(vec![Some(r#"{"a":{"b":7}}"#), Some("[]"), None]));
        let part: ArrayRef = Arc::new(DictionaryArray::<K>::from_iter([Some("us-east-1"), Some("eu-west-1"), None]));
        let mut mb = MapBuilder::new(None, StringViewBuilder::new(), StringViewBuilder::new());
        for row in [vec![("k", "v")], vec![], vec![("x", "y"), ("k", "w")]] {
            for (k, v) in row {
                mb.keys().append_value(k);
                mb.values().append_value(v);
            }
            mb.append(true).unwrap();
        }
        let m: ArrayRef = Arc::new(mb.finish());
        let ts: ArrayRef = Arc::new(TimestampMicrosecondArray::from(vec![Some(1_700_000_000_123_456), Some(0), None]).with_timezone("UTC"));
        let mut lb = ListBuilder::new(StringViewBuilder::new());
        for row in [vec!["x", "y"], vec!["z"], vec![]] {
            for v in row {
                lb.values().append_value(v);
            }
            lb.append(true);
        }
        let tags: ArrayRef = Arc::new(lb.finish());
        let schema = Arc::new(Schema::new(vec![
            Field::new("ip", ip.data_type().clone(), true),
            Field::new("j", j.data_type().clone(), true),
            Field::new("part", part.data_type().clone(), true),
            Field::new("m", m.data_type().clone(), true),
            Field::new("ts", ts.data_type().clone(), true),
            Field::new("tags", tags.data_type().clone(), true),
        ]));
        let batch = RecordBatch::try_new(schema, vec![ip, j, part, m, ts, tags]).unwrap();
        ctx.register_batch("t", batch).unwrap();
        // NB: DataFusion 54's own `m['k']` (get_field) fails on Utf8View map keys
        // ("Utf8 == Utf8View"); element_at handles them. Parquet scans only turn
        // top-level strings into views, so `unmapped['k']` works on lake tables.
        let r = rows(
            &ctx,
            "SELECT contains('10.0.0.0/8', ip), is_private_ip(ip), json_extract_scalar(j, '$.a.b'), \
             split_part(part, '-', 2), element_at(m, 'k'), contains(tags, 'x'), \
             date_format(ts, '%Y-%m-%d %H:%i:%s.%f'), to_unixtime(ts), \
             date_diff('millisecond', ts, date_add('minute', 1, ts)), to_iso8601(ts), \
             contains(ip, '.4.') FROM t",
        )
        .await;
        assert_eq!(
            r,
            vec![
                vec![
                    "true",
                    "true",
                    "7",
                    "east",
                    "v",
                    "true",
                    "2023-11-14 22:13:20.123000",
                    "1700000000.123456",
                    "60000",
                    "2023-11-14T22:13:20.123456Z",
                    "false"
                ],
                vec![
                    "false",
                    "false",
                    "NULL",
                    "west",
                    "NULL",
                    "false",
                    "1970-01-01 00:00:00.000000",
                    "0.0",
                    "60000",
                    "1970-01-01T00:00:00.000000Z",
                    "true"
                ],
                vec!["NULL", "NULL", "NULL", "NULL", "w", "false", "NULL", "NULL", "NULL", "NULL", "NULL"],
            ]
        );
    }

    /// Typical Athena/Security Lake idioms combining these UDFs with built-ins.
    #[tokio::test]
    async fn athena_idioms() {
        let ctx = ctx();
        let r = row(
            &ctx,
            "SELECT date_format(DATE '2024-03-10' - INTERVAL '7' DAY, '%Y%m%d'), \
             to_iso8601(date_trunc('hour', from_unixtime(1700000000))), \
             CAST(from_unixtime(1700000000) AS DATE), \
             from_unixtime(1700000000) BETWEEN from_iso8601_timestamp('2023-11-14T00:00:00Z') AND current_timestamp, \
             date_diff('hour', from_unixtime(0), now()) > 0, \
             from_unixtime(1700000000) > now() - INTERVAL '1' DAY, \
             date_add('day', -7, now()) < now()",
        )
        .await;
        assert_eq!(
            r,
            [
                "20240303",
                "2023-11-14T22:00:00.000Z",
                "2023-11-14",
                "true",
                "true",
                "false",
                "true"
            ]
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

    #[test]
    fn hostile_inputs_do_not_panic() {
        for s in ["", "%", "%Y%", "%%%", "é%", "%é"] {
            let mut out = String::new();
            let dt = NaiveDate::from_ymd_opt(2024, 1, 1).unwrap().and_hms_opt(0, 0, 0).unwrap();
            let _ = mysql_format(&dt, s, &mut out);
            let _ = mysql_parse(s, s);
            let _ = mysql_parse("é", "%Y");
            let _ = mysql_parse("2024é", "%Y%b");
        }
        for s in [
            "",
            "T",
            "2020-",
            "2020-01-01T",
            "2020-01-01T25",
            "99999999999",
            "2020-01-01T00:00:00.99999999999999999999Z",
            "2020-01-01T00:00:00+99:00",
            "é",
        ] {
            let _ = parse_iso_timestamp(s);
        }
        for s in [
            "",
            "/",
            "::/",
            "1.2.3.4/",
            "1.2.3.4/999999999999",
            "[",
            "[::1",
            "%",
            "http://[::1",
            "http://h:99999999999/",
            "a:b",
            "é://x",
        ] {
            let _ = classify_cidr(s);
            let _ = parse_prefix(s);
            let _ = parse_ip(s);
            let _ = parse_url(s);
            let _ = url_form_decode(s);
            let _ = percent_decode_lossy(s);
        }
        for p in ["", "$", "$.", "$[", "$['a", "$[\"a\\", "$..a", "$.a[1", "é"] {
            let _ = parse_json_path(p);
        }
        assert_eq!(java_replacement_to_rust("$"), "$$");
        assert_eq!(java_replacement_to_rust("${x"), "$${x");
        assert_eq!(ts_to_naive(i64::MIN, TimeUnit::Second), None);
        assert!(ts_to_naive(i64::MAX, TimeUnit::Nanosecond).is_some());
    }
}
