//! SQL text helpers for PostgreSQL: quoting identifiers and literals, reading identifiers back.

/// Quotes an identifier for SQL: always in double quotes, with embedded quotes doubled.
pub fn quote_ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

/// `"schema"."name"`.
pub fn qualified(schema: &str, name: &str) -> String {
    format!("{}.{}", quote_ident(schema), quote_ident(name))
}

/// An identifier as it may be written in a manifest's text: bare when that reads back the same (lower
/// case letters, digits, `_`, `$`), else in double quotes.
pub fn ident_text(s: &str) -> String {
    let simple = s.chars().next().is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '$');
    if simple { s.to_string() } else { quote_ident(s) }
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

use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::parser::Parser;
use sqlparser::tokenizer::Token;

/// Why SQL text of a manifest is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SqlRefused {
    /// The parser's words.
    #[error("{0}")]
    Unparsable(String),
    #[error("comments are not allowed in SQL fields")]
    Comment,
    #[error("unexpected `{0}` after the expression: exactly one expression is allowed")]
    AfterExpression(String),
    #[error("the query is empty")]
    Empty,
    #[error("a view is defined by one SELECT (or VALUES) query")]
    NotAQuery,
    #[error("{0} statements where one query is allowed")]
    Statements(usize),
    #[error("{0:?} is not a type name")]
    NotAType(String),
}

fn unparsable(e: impl std::fmt::Display) -> SqlRefused {
    SqlRefused::Unparsable(e.to_string())
}

/// Checks that SQL text is exactly one expression (a default, a check, an index expression or predicate,
/// a policy's USING or WITH CHECK): a second statement, or a comment, is refused.
pub fn check_expr(sql: &str) -> Result<(), SqlRefused> {
    refuse_comments(sql)?;
    let dialect = PostgreSqlDialect {};
    let mut p = Parser::new(&dialect).try_with_sql(sql).map_err(unparsable)?;
    p.parse_expr().map_err(unparsable)?;
    match p.peek_token().token {
        Token::EOF => Ok(()),
        t => Err(SqlRefused::AfterExpression(t.to_string())),
    }
}

/// Checks that SQL text is exactly one query (a view's definition).
pub fn check_query(sql: &str) -> Result<(), SqlRefused> {
    refuse_comments(sql)?;
    let statements = Parser::parse_sql(&PostgreSqlDialect {}, sql).map_err(unparsable)?;
    match statements.as_slice() {
        [sqlparser::ast::Statement::Query(_)] => Ok(()),
        [] => Err(SqlRefused::Empty),
        [_] => Err(SqlRefused::NotAQuery),
        _ => Err(SqlRefused::Statements(statements.len())),
    }
}

/// Checks a column type: a type name with optional modifiers and array brackets, nothing else.
pub fn check_type(ty: &str) -> Result<(), SqlRefused> {
    let ok = !ty.trim().is_empty()
        && ty.chars().all(|c| {
            c.is_alphanumeric() || matches!(c, '_' | ' ' | '.' | '"' | '(' | ')' | ',' | '[' | ']')
        })
        && ty.matches('"').count().is_multiple_of(2)
        && ty.matches('(').count() == ty.matches(')').count();
    if ok {
        Ok(())
    } else {
        Err(SqlRefused::NotAType(ty.to_string()))
    }
}

/// Comments can hide text from a reader of the manifest: SQL fields may not have them.
fn refuse_comments(sql: &str) -> Result<(), SqlRefused> {
    let dialect = PostgreSqlDialect {};
    let tokens = sqlparser::tokenizer::Tokenizer::new(&dialect, sql)
        .tokenize()
        .map_err(unparsable)?;
    let comment = tokens.iter().any(|t| {
        matches!(
            t,
            Token::Whitespace(sqlparser::tokenizer::Whitespace::SingleLineComment { .. })
        ) || matches!(
            t,
            Token::Whitespace(sqlparser::tokenizer::Whitespace::MultiLineComment(_))
        )
    });
    if comment {
        Err(SqlRefused::Comment)
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod checks {
    use super::*;

    #[test]
    fn one_expression_or_query_only() {
        for ok in [
            "now()",
            "'{}'::text[]",
            "status = ANY (ARRAY['pending'::text, 'paid'::text])",
            "customer_id = current_setting('app.customer_id')::bigint",
            "nextval('tenant_acme.orders_id_seq'::regclass)",
            "(total * 100::numeric)::bigint",
        ] {
            assert!(check_expr(ok).is_ok(), "{ok}: {:?}", check_expr(ok));
        }
        for bad in [
            "1); drop table x; --",
            "1; select 2",
            "now() -- hidden",
            "now() /* x */",
            "1 2",
            "",
        ] {
            assert!(check_expr(bad).is_err(), "{bad} accepted");
        }
        assert!(
            check_query("SELECT o.id FROM tenant_acme.orders o WHERE o.status = 'pending'").is_ok()
        );
        assert!(check_query("select 1; drop table x").is_err());
        assert!(check_query("drop table x").is_err());
        assert!(check_type("numeric(12,2)").is_ok());
        assert!(check_type("timestamp with time zone").is_ok());
        assert!(check_type("\"my schema\".\"my type\"[]").is_ok());
        assert!(check_type("text); drop table x; --").is_err());
        assert!(check_type("text default 'x'").is_err());
    }
}

/// The relations a query reads, as (schema, name): each name after `FROM` or `JOIN`, and after each comma of
/// a `FROM` list, qualified or in `schema`. Read from the SQL tokenizer, not guessed from text: quoted names
/// keep their case, comments and literals are skipped. A query the tokenizer cannot read names none.
pub fn relations(query: &str, schema: &str) -> Vec<(String, String)> {
    use sqlparser::keywords::Keyword;
    use sqlparser::tokenizer::{Token, Tokenizer};
    let dialect = sqlparser::dialect::PostgreSqlDialect {};
    let Ok(tokens) = Tokenizer::new(&dialect, query).tokenize() else {
        return Vec::new();
    };
    let tokens: Vec<Token> = tokens
        .into_iter()
        .filter(|t| !matches!(t, Token::Whitespace(_)))
        .collect();
    let keyword = |t: &Token| match t {
        Token::Word(w) if w.quote_style.is_none() => w.keyword,
        _ => Keyword::NoKeyword,
    };
    let mut out = Vec::new();
    // The parenthesis depths at which a FROM list is open.
    let (mut depth, mut lists) = (0usize, Vec::<usize>::new());
    for (i, t) in tokens.iter().enumerate() {
        let starts = match (t, keyword(t)) {
            (_, Keyword::FROM) => {
                lists.push(depth);
                true
            }
            (_, Keyword::JOIN) => true,
            (Token::Comma, _) => lists.last() == Some(&depth),
            (Token::LParen, _) => {
                depth += 1;
                false
            }
            (Token::RParen, _) => {
                depth = depth.saturating_sub(1);
                lists.retain(|d| *d <= depth);
                false
            }
            (_, k) if ENDS_FROM.contains(&k) => {
                lists.retain(|d| *d < depth);
                false
            }
            _ => false,
        };
        if starts && let Some(r) = relation_at(&tokens[i + 1..], schema) {
            out.push(r);
        }
    }
    out
}

/// Keywords that end a `FROM` list.
const ENDS_FROM: &[sqlparser::keywords::Keyword] = {
    use sqlparser::keywords::Keyword::*;
    &[
        WHERE, GROUP, HAVING, ORDER, LIMIT, OFFSET, UNION, EXCEPT, INTERSECT, WINDOW, FETCH, FOR,
        RETURNING,
    ]
};

/// The relation named at the start of `tokens` (`[ONLY] name` or `[ONLY] schema.name`), if one is.
fn relation_at(tokens: &[sqlparser::tokenizer::Token], schema: &str) -> Option<(String, String)> {
    use sqlparser::keywords::Keyword;
    use sqlparser::tokenizer::Token;
    let name = |t: Option<&Token>| match t {
        Some(Token::Word(w))
            if w.quote_style.is_some()
                || !matches!(w.keyword, Keyword::SELECT | Keyword::LATERAL | Keyword::ONLY) =>
        {
            Some(w.value.clone())
        }
        _ => None,
    };
    let skip = usize::from(
        matches!(tokens.first(), Some(Token::Word(w)) if w.quote_style.is_none() && w.keyword == Keyword::ONLY),
    );
    let first = name(tokens.get(skip))?;
    if tokens.get(skip + 1) == Some(&Token::Period) {
        return Some((first, name(tokens.get(skip + 2))?));
    }
    Some((schema.to_string(), first))
}

#[cfg(test)]
mod relation_tests {
    use super::relations;

    #[test]
    fn a_query_names_the_relations_it_reads() {
        let r = relations(
            "select o.id, c.name from orders o join \"Sales\".customers as c on c.id = o.customer_id, \
             items i -- from commented\nwhere o.note <> 'from quoted' and exists (select 1 from app.flags)",
            "app",
        );
        let want = [
            ("app", "orders"),
            ("Sales", "customers"),
            ("app", "items"),
            ("app", "flags"),
        ];
        assert_eq!(
            r,
            want.map(|(s, n)| (s.to_string(), n.to_string())).to_vec()
        );
        assert!(relations("select 1", "app").is_empty());
        assert!(relations("select from", "app").is_empty());
    }
}

/// Renames the schemas a PostgreSQL text names, through the SQL tokenizer: identifiers (quoted or not)
/// that are a renamed schema, and string literals naming a relation in one (`'acme.orders_id_seq'`, as
/// defaults write them for `regclass`). Comments, other literals and other identifiers are kept as they
/// are; a text the tokenizer cannot read is kept (the restore's checks then refuse it).
pub fn rename_schemas(r: &crate::domains::rename::Renamer, text: &mut String) {
    use sqlparser::tokenizer::Tokenizer;
    let dialect = PostgreSqlDialect {};
    let Ok(tokens) = Tokenizer::new(&dialect, text).tokenize_with_location() else {
        return;
    };
    let schema = |s: &str| r.whole(&super::SCHEMA_SCOPE, s).map(str::to_string);
    // The renamed tokens as (start, end, new text), spliced into the text from the back.
    let mut edits = Vec::new();
    for t in tokens {
        let new = match t.token {
            Token::Word(mut w) => schema(&w.value).map(|to| {
                w.value = to;
                w.to_string()
            }),
            Token::SingleQuotedString(s) => s.split_once('.').and_then(|(first, rest)| {
                schema(first).map(|to| Token::SingleQuotedString(format!("{to}.{rest}")).to_string())
            }),
            _ => None,
        };
        let (Some(new), Some(start), Some(end)) =
            (new, offset(text, t.span.start), offset(text, t.span.end))
        else {
            continue;
        };
        edits.push((start, end, new));
    }
    for (start, end, new) in edits.into_iter().rev() {
        text.replace_range(start..end, &new);
    }
}

/// The byte offset of a tokenizer location (1-based line and column, columns counted in characters).
fn offset(text: &str, at: sqlparser::tokenizer::Location) -> Option<usize> {
    let line_start = if at.line <= 1 {
        0
    } else {
        text.match_indices('\n')
            .nth(usize::try_from(at.line).ok()? - 2)?
            .0
            + 1
    };
    let col = usize::try_from(at.column).ok()?.checked_sub(1)?;
    let line = &text[line_start..];
    match line.char_indices().nth(col) {
        Some((i, _)) => Some(line_start + i),
        None => (line.chars().count() == col).then_some(text.len()),
    }
}

/// What an expression uses by name: the functions it calls by a qualified name (`app.next_code(...)`), and
/// the sequences it names in `nextval`, `currval` or `setval` (`'app.invoice_no'`, unqualified ones in
/// `schema`). Read from the SQL tokenizer; a text it cannot read uses nothing.
#[derive(Debug, Default, PartialEq)]
pub struct Used {
    pub calls: Vec<(String, String)>,
    pub sequences: Vec<(String, String)>,
}

pub fn used(text: &str, schema: &str) -> Used {
    use sqlparser::tokenizer::Tokenizer;
    let dialect = PostgreSqlDialect {};
    let Ok(tokens) = Tokenizer::new(&dialect, text).tokenize() else {
        return Used::default();
    };
    let t: Vec<Token> = tokens
        .into_iter()
        .filter(|t| !matches!(t, Token::Whitespace(_)))
        .collect();
    let word = |i: usize| match t.get(i) {
        Some(Token::Word(w)) => Some(w.value.clone()),
        _ => None,
    };
    let mut out = Used::default();
    for i in 0..t.len() {
        let (Some(first), Some(Token::Period), Some(name), Some(Token::LParen)) =
            (word(i), t.get(i + 1), word(i + 2), t.get(i + 3))
        else {
            let sequence_fn = word(i).is_some_and(|w| {
                ["nextval", "currval", "setval"].contains(&w.to_ascii_lowercase().as_str())
            });
            if sequence_fn
                && t.get(i + 1) == Some(&Token::LParen)
                && let Some(Token::SingleQuotedString(s)) = t.get(i + 2)
                && let Some((a, rest)) = split_ident(s)
            {
                out.sequences.push(match rest.strip_prefix('.').and_then(split_ident) {
                    Some((b, _)) => (a, b),
                    None => (schema.to_string(), a),
                });
            }
            continue;
        };
        out.calls.push((first, name));
    }
    out
}

#[cfg(test)]
mod used_tests {
    use super::*;

    #[test]
    fn an_expression_names_the_functions_and_sequences_it_uses() {
        let u = used(
            "app.next_code(nextval('app.invoice_no'::regclass), \"Billing\".\"Fmt\"(x)) || lower(y) || nextval('seq')",
            "app",
        );
        assert_eq!(
            u.calls,
            vec![("app".into(), "next_code".into()), ("Billing".into(), "Fmt".into())]
        );
        assert_eq!(
            u.sequences,
            vec![("app".into(), "invoice_no".into()), ("app".into(), "seq".into())]
        );
    }
}
