//! Partitioned tables and their partitions: a table's `partition_by`, a partition's `partition_of` and
//! `partition_bound`. A partition takes its columns, and the indexes, keys and triggers declared on its
//! parent, from the parent: only what it declares itself is its own.

use sqlparser::tokenizer::{Token, Tokenizer};

use super::sql::qualified;
use super::*;

/// The parent's schema and name.
pub fn parent(t: &Table) -> Option<(String, String)> {
    let of = t.partition_of.as_deref()?;
    let (first, rest) = sql::split_ident(of)?;
    match rest.strip_prefix('.').and_then(sql::split_ident) {
        Some((name, _)) => Some((first, name)),
        None => Some((t.schema.clone(), first)),
    }
}

/// A partition is created after its parent, and dropped before it.
pub fn parent_reference(t: &Table) -> Option<Reference> {
    let (schema, name) = parent(t)?;
    Some(Reference::to("partition_of", addr("table", &[&schema, &name])))
}

/// Whether `text` is one clause of SQL: no second statement, no comment.
fn one_clause(text: &str) -> bool {
    let dialect = sqlparser::dialect::PostgreSqlDialect {};
    Tokenizer::new(&dialect, text).tokenize().is_ok_and(|tokens| {
        !tokens.iter().any(|t| {
            matches!(t, Token::SemiColon)
                || matches!(t, Token::Whitespace(sqlparser::tokenizer::Whitespace::SingleLineComment { .. }))
                || matches!(t, Token::Whitespace(sqlparser::tokenizer::Whitespace::MultiLineComment(_)))
        })
    })
}

pub fn check(t: &Table, cx: &mut Checker<'_>) {
    if let Some(by) = &t.partition_by {
        let upper = by.trim_start().to_ascii_uppercase();
        let method = ["RANGE", "LIST", "HASH"].iter().find(|m| upper.starts_with(*m));
        let keys = method.and_then(|m| sql::paren_group(by.trim_start()[m.len()..].trim_start()));
        match keys {
            Some((inner, rest)) if rest.trim().is_empty() && one_clause(by) => {
                for k in sql::split_top(&inner) {
                    if let Err(e) = sql::check_expr(&k) {
                        cx.error("partition_by", "invalid-sql", format!("partition key `{k}`: {e}"));
                    }
                }
            }
            _ => {
                cx.error("partition_by", "invalid-sql", "`partition_by` is RANGE, LIST or HASH and its keys in parentheses");
            }
        }
    }
    match (&t.partition_of, &t.partition_bound) {
        (Some(_), None) => {
            cx.error("partition_bound", "missing", "a partition needs its bound (`FOR VALUES ...` or `DEFAULT`)");
        }
        (None, Some(_)) => {
            cx.error("partition_of", "missing", "a bound is a partition's: name its parent in `partition_of`");
        }
        _ => {}
    }
    if let Some(b) = &t.partition_bound {
        let upper = b.trim_start().to_ascii_uppercase();
        if !(upper == "DEFAULT" || upper.starts_with("FOR VALUES")) || !one_clause(b) {
            cx.error("partition_bound", "invalid-sql", "a bound is `FOR VALUES ...` or `DEFAULT`");
        }
    }
    if t.partition_of.is_some() && !t.column.is_empty() {
        cx.error("column", "conflict", "a partition takes its columns from its parent: declare them there");
    }
}

/// The `CREATE [UNLOGGED] TABLE` of a table: a partition (`PARTITION OF parent [(constraints)] bound`), or a
/// table with its columns and constraints (`parts`), partitioned when it says so; `with` (its storage
/// parameters' clause) at the end.
pub fn create_statement(t: &Table, parts: &[String], with: &str) -> String {
    let name = qualified(&t.schema, &t.name);
    if let (Some((schema, parent)), Some(bound)) = (parent(t), &t.partition_bound) {
        let constraints = match parts.is_empty() {
            true => String::new(),
            false => format!(" ({})", parts.join(", ")),
        };
        return format!("create table {name} partition of {}{constraints} {bound}{with}", qualified(&schema, &parent));
    }
    let unlogged = if t.unlogged == Some(true) { "unlogged " } else { "" };
    let mut s = format!("create {unlogged}table {name} ({})", parts.join(", "));
    if let Some(by) = &t.partition_by {
        s.push_str(&format!(" partition by {by}"));
    }
    s.push_str(with);
    s
}

/// How a partition names its parent in a manifest: bare in its own schema, else qualified.
pub fn parent_text(schema: &str, parent_schema: &str, parent: &str) -> String {
    match schema == parent_schema {
        true => sql::ident_text(parent),
        false => format!("{}.{}", sql::ident_text(parent_schema), sql::ident_text(parent)),
    }
}
