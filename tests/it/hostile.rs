//! Hostile data values cannot change the structure of generated SQL (property tests).
//!
//! Principal names, addresses, domains, account ids and finding types come from the lake and may
//! hold anything. Every generated statement that embeds them — each series template's
//! investigation SQL (window and change-point forms), the hunts' flow investigation SQL with its
//! comment line — is rendered once with a benign value and once with an arbitrary string (quotes,
//! backslashes, `--` and `/*` comments, semicolons, newlines and other control characters, Unicode
//! line separators, NUL, long values), tokenised by DataFusion's SQL tokenizer (sqlparser), and the
//! two token streams must be the same with the contents of string literals and comments masked:
//! the value stayed inside its literal or its comment. Each rendering must also parse as one
//! statement.

use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::parser::Parser;
use datafusion::sql::sqlparser::tokenizer::{Token, Tokenizer, Whitespace};
use lakesight::findings::investigate;
use lakesight::series::{Series, SeriesCatalog};
use lakesight::stages::hunt::flows_sql;
use proptest::prelude::*;

/// The statement's tokens with literal and comment contents masked and plain whitespace dropped.
fn shape(sql: &str) -> Vec<String> {
    let tokens = Tokenizer::new(&GenericDialect {}, sql)
        .tokenize()
        .unwrap_or_else(|e| panic!("does not tokenize: {e}\n{sql}"));
    tokens
        .into_iter()
        .filter_map(|t| match t {
            Token::SingleQuotedString(_) => Some("'…'".to_string()),
            Token::Whitespace(Whitespace::SingleLineComment { prefix, .. }) => Some(format!("{prefix}…")),
            Token::Whitespace(_) => None,
            other => Some(format!("{other:?}")),
        })
        .collect()
}

fn one_statement(sql: &str) {
    let stmts = Parser::parse_sql(&GenericDialect {}, sql).unwrap_or_else(|e| panic!("does not parse: {e}\n{sql}"));
    assert_eq!(stmts.len(), 1, "{sql}");
}

/// Arbitrary strings weighted towards what breaks SQL.
fn hostile() -> impl Strategy<Value = String> {
    let pieces = prop_oneof![
        Just("'".to_string()),
        Just("''".to_string()),
        Just("\\".to_string()),
        Just("\\'".to_string()),
        Just("--".to_string()),
        Just("/*".to_string()),
        Just("*/".to_string()),
        Just(";".to_string()),
        Just("\n".to_string()),
        Just("\r".to_string()),
        Just("\u{0}".to_string()),
        Just("\u{2028}".to_string()),
        Just("\"".to_string()),
        Just(" OR 1=1".to_string()),
        Just("DROP TABLE x".to_string()),
        Just("é漢🙂".to_string()),
        any::<String>(),
    ];
    prop::collection::vec(pieces, 0..12).prop_map(|v| v.concat())
}

const DAY: i64 = 1_742_947_200_000; // 2025-03-26

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    /// Investigation SQL of every built-in series family, with every key set to the value.
    #[test]
    fn series_investigation_sql_keeps_its_shape(v in hostile()) {
        let c = SeriesCatalog::builtin().unwrap();
        for fam in c.names() {
            let t = c.get(fam).unwrap();
            let make = |val: &str| Series { key: vec![Some(val.to_string()); t.keys.len()], start_ms: DAY, values: vec![] };
            let (benign, bad) = (make("alice"), make(&v));
            let a = investigate::sql(&t, &benign, DAY, DAY + 3_600_000);
            let b = investigate::sql(&t, &bad, DAY, DAY + 3_600_000);
            prop_assert_eq!(shape(&a), shape(&b), "{}: {}", fam, b);
            one_statement(&b);
            let a = investigate::regimes_sql(&t, &benign, DAY - 86_400_000, DAY, DAY + 86_400_000);
            let b = investigate::regimes_sql(&t, &bad, DAY - 86_400_000, DAY, DAY + 86_400_000);
            prop_assert_eq!(shape(&a), shape(&b), "{}: {}", fam, b);
            one_statement(&b);
        }
    }

    /// The hunts' flow investigation SQL: comment, account, source and destinations all hostile.
    #[test]
    fn hunt_investigation_sql_keeps_its_shape(v in hostile(), w in hostile()) {
        let a = flows_sql("beacon from 10.0.0.1", Some("111122223333"), "10.0.0.1", DAY, &["1.2.3.4".into(), "5.6.7.8".into()], &[443]);
        let b = flows_sql(&format!("beacon from {v}"), Some(&w), &v, DAY, &[w.clone(), v.clone()], &[443]);
        prop_assert_eq!(shape(&a), shape(&b), "{}", b);
        one_statement(&b);
    }
}

/// The comparison above can fail: a value that escapes its literal, or a comment a newline ends,
/// changes the token stream.
#[test]
fn the_shape_check_sees_an_injection() {
    let benign = "-- who: alice\nSELECT * FROM t WHERE p = 'alice'";
    assert_ne!(shape(benign), shape("-- who: alice\nSELECT * FROM t WHERE p = 'x' OR '1'='1'"));
    assert_ne!(shape(benign), shape("-- who: a\nDROP TABLE t;\nSELECT * FROM t WHERE p = 'alice'"));
    assert_eq!(
        shape(benign),
        shape("-- who: a'; DROP\nSELECT * FROM t WHERE p = 'x'' OR ''1''=''1'")
    );
}
