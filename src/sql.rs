//! Building SQL from hostile values: every literal quoted, every identifier validated.
//!
//! Data values (principal names, finding types, domains) come from the lake and may contain
//! anything. They only ever enter generated SQL through [`quote_literal`], which doubles single
//! quotes (the SQL standard, accepted by DataFusion and Trino alike) and rejects control characters
//! by escaping them out of the literal entirely, so a value can never end the literal early.

/// Quote a string as a SQL literal: `O'Brien` → `'O''Brien'`. Control characters (which some
/// clients mangle) are replaced by U+FFFD; the result is always exactly one literal.
pub fn quote_literal(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for c in s.chars() {
        match c {
            '\'' => out.push_str("''"),
            c if c.is_control() => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

/// Text safe inside a `-- …` line comment: every control character (`\n`, `\r`, …) and Unicode
/// line or paragraph separator becomes a space, so a data value can never end the comment and
/// continue as SQL.
pub fn comment_text(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_control() || matches!(c, '\u{2028}' | '\u{2029}' | '\u{85}') {
                ' '
            } else {
                c
            }
        })
        .collect()
}

/// A `TIMESTAMP 'YYYY-MM-DD HH:MM:SS'` literal (UTC) valid on DataFusion and Athena.
pub fn timestamp_literal(ms: i64) -> String {
    let t = chrono::DateTime::from_timestamp_millis(ms).unwrap_or_default();
    format!("TIMESTAMP '{}'", t.format("%Y-%m-%d %H:%M:%S"))
}

/// Quote an identifier after validating it (`[a-z_][a-z0-9_]*`); `None` if it is not safe.
pub fn ident(s: &str) -> Option<String> {
    valid_ident(s).then(|| format!("\"{s}\""))
}

/// True for a safe SQL identifier / name: `[a-z_][a-z0-9_]{0,127}`.
pub fn valid_ident(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && (b[0].is_ascii_lowercase() || b[0] == b'_')
        && b.iter().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_values_stay_one_literal() {
        assert_eq!(quote_literal("x' OR '1'='1"), "'x'' OR ''1''=''1'");
        assert_eq!(quote_literal("a\nb\u{0}"), "'a\u{FFFD}b\u{FFFD}'");
        assert_eq!(ident("principal"), Some("\"principal\"".into()));
        assert_eq!(ident("p\"; drop"), None);
        assert_eq!(comment_text("a\r\nDROP\u{2028}x"), "a  DROP x");
    }

    #[test]
    fn timestamp_literals_are_utc() {
        assert_eq!(timestamp_literal(0), "TIMESTAMP '1970-01-01 00:00:00'");
    }
}
