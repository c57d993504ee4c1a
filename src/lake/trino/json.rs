//! JSON functions (JSON values are carried as VARCHAR): `json_extract_scalar`, `json_extract`,
//! `json_size` through Trino's JSON path subset ([`parse_json_path`]); `json_array_length`,
//! `json_parse` and `json_format` are one-liners in the catalogue's dispatch.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, Int64Array, StringArray};
use datafusion::common::{exec_datafusion_err, Result};
use datafusion::logical_expr::ColumnarValue;

use super::catalogue::Kind;
use super::columns::StrCol;

// ---------------------------------------------------------------------------
// JSON
// ---------------------------------------------------------------------------

/// Parses Trino's JSON path subset into a list of member/index tokens.
pub(super) fn parse_json_path(p: &str) -> std::result::Result<Vec<String>, String> {
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

pub(super) fn eval_json_path(kind: Kind, a: &[ColumnarValue], n: usize, name: &str) -> Result<ArrayRef> {
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

#[cfg(test)]
mod tests {
    use super::super::tests::{ctx, fails, row, rows};

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
}
