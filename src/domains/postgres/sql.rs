//! SQL text helpers for PostgreSQL: quoting identifiers and literals, reading identifiers back.

/// Quotes an identifier for SQL: always in double quotes, with embedded quotes doubled.
pub fn quote_ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

/// `"schema"."name"`.
pub fn qualified(schema: &str, name: &str) -> String {
    format!("{}.{}", quote_ident(schema), quote_ident(name))
}

/// Quotes a string literal for SQL (standard conforming strings: quotes doubled).
pub fn quote_literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// Reads an identifier at the start of `s` (quoted or not) and returns it with the rest of the text.
pub fn split_ident(s: &str) -> Option<(String, &str)> {
    let s = s.trim_start();
    if let Some(r) = s.strip_prefix('"') {
        let mut out = String::new();
        let mut chars = r.char_indices().peekable();
        while let Some((i, c)) = chars.next() {
            if c == '"' {
                if chars.peek().map(|(_, n)| *n) == Some('"') {
                    out.push('"');
                    chars.next();
                } else {
                    return Some((out, &r[i + 1..]));
                }
            } else {
                out.push(c);
            }
        }
        None
    } else {
        let end = s
            .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == '$'))
            .unwrap_or(s.len());
        if end == 0 {
            return None;
        }
        Some((s[..end].to_string(), &s[end..]))
    }
}

pub fn unquote(s: &str) -> String {
    match split_ident(s) {
        Some((id, rest)) if rest.trim().is_empty() => id,
        _ => s.trim().to_string(),
    }
}

/// The text inside a leading parenthesised group, and what follows it.
pub fn paren_group(s: &str) -> Option<(String, &str)> {
    let s = s.strip_prefix('(')?;
    let mut depth = 1;
    let mut in_str = false;
    for (i, c) in s.char_indices() {
        match c {
            '\'' => in_str = !in_str,
            '(' if !in_str => depth += 1,
            ')' if !in_str => {
                depth -= 1;
                if depth == 0 {
                    return Some((s[..i].to_string(), &s[i + 1..]));
                }
            }
            _ => {}
        }
    }
    None
}

/// Splits on commas outside parentheses and quotes.
pub fn split_top(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut depth = 0;
    let mut in_str = false;
    let mut start = 0;
    for (i, c) in s.char_indices() {
        match c {
            '\'' => in_str = !in_str,
            '(' if !in_str => depth += 1,
            ')' if !in_str => depth -= 1,
            ',' if !in_str && depth == 0 => {
                out.push(s[start..i].trim().to_string());
                start = i + 1;
            }
            _ => {}
        }
    }
    if !s[start..].trim().is_empty() {
        out.push(s[start..].trim().to_string());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
        assert_eq!(qualified("s", "t"), "\"s\".\"t\"");
        assert_eq!(quote_literal("it's"), "'it''s'");
        assert_eq!(unquote("\"a\"\"b\""), "a\"b");
        assert_eq!(unquote("plain"), "plain");
        assert_eq!(
            split_top("a, f(b, c), 'x,y'"),
            vec!["a", "f(b, c)", "'x,y'"]
        );
    }
}
