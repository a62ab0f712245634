//! Which column type changes make PostgreSQL rewrite the table: a rule table over parsed types, both
//! spellings of each (`varchar(20)` and `character varying(20)`), so that an offline plan (`--against`)
//! judges as a live one does.
//!
//! PostgreSQL changes a column's type without rewriting the table (and without a long exclusive lock) when
//! the old values are valid new ones as they are stored: a `varchar` that grows or loses its limit, a
//! `varchar` that becomes `text` (or back, without a limit), a `numeric` whose precision grows at the same
//! scale or that loses its constraint, a `timestamp`, `time` or `interval` whose fractional precision grows
//! or is dropped, a `bit varying` that grows. Everything else rewrites: `char(n)` growth (its values are
//! padded), `int` to `bigint`, a scale change, any narrowing.

/// A column type, parsed enough to judge a change.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Type {
    /// `varchar(n)`; `None` without a limit.
    Varchar(Option<u32>),
    Text,
    /// `char(n)` (`char` alone is `char(1)`).
    Char(u32),
    /// `numeric(p, s)`; `None` unconstrained.
    Numeric(Option<(u32, u32)>),
    /// `timestamp`, `timestamptz`, `time`, `timetz`, `interval` with their fractional precision (`None`:
    /// the default, 6).
    Temporal(&'static str, Option<u32>),
    /// `bit varying(n)`; `None` without a limit.
    Varbit(Option<u32>),
    /// Any other type, by its canonical spelling.
    Other(String),
}

/// Whether changing a column from `from` to `to` rewrites the table (`false` also when both are the same
/// type spelled two ways).
pub fn rewrites(from: &str, to: &str) -> bool {
    let (Some(a), Some(b)) = (parse(from), parse(to)) else {
        return normalize(from) != normalize(to);
    };
    !no_rewrite(&a, &b)
}

/// The rule table: the changes PostgreSQL makes in place.
fn no_rewrite(a: &Type, b: &Type) -> bool {
    use Type::*;
    let grows = |n: &Option<u32>, m: &Option<u32>| match (n, m) {
        (_, None) => true,
        (Some(n), Some(m)) => m >= n,
        (None, Some(_)) => false,
    };
    match (a, b) {
        _ if a == b => true,
        (Varchar(n), Varchar(m)) => grows(n, m),
        (Varchar(_), Text) | (Text, Varchar(None)) => true,
        (Numeric(Some(_)), Numeric(None)) => true,
        (Numeric(Some((p, s))), Numeric(Some((q, t)))) => s == t && q >= p,
        (Temporal(x, n), Temporal(y, m)) => x == y && grows(n, m),
        (Varbit(n), Varbit(m)) => grows(n, m),
        _ => false,
    }
}

/// Lower case, single spaces, no spaces around parentheses and commas.
fn normalize(t: &str) -> String {
    let lower = t.trim().to_ascii_lowercase();
    let words: Vec<&str> = lower.split_whitespace().collect();
    words
        .join(" ")
        .replace(" (", "(")
        .replace("( ", "(")
        .replace(" )", ")")
        .replace(", ", ",")
        .replace(" ,", ",")
}

/// The type a spelling names; `None` for an array (judged by its spelling alone).
fn parse(t: &str) -> Option<Type> {
    let t = normalize(t);
    if t.ends_with("[]") || t.starts_with('_') {
        return None;
    }
    let (name, args, rest) = split(&t);
    let n = |i: usize| args.get(i).copied();
    Some(match (name, rest) {
        ("varchar" | "character varying", "") => Type::Varchar(n(0)),
        ("text", "") => Type::Text,
        ("char" | "character" | "bpchar", "") => Type::Char(n(0).unwrap_or(1)),
        ("numeric" | "decimal", "") => Type::Numeric(n(0).map(|p| (p, n(1).unwrap_or(0)))),
        ("varbit" | "bit varying", "") => Type::Varbit(n(0)),
        ("timestamp", "" | "without time zone") => Type::Temporal("timestamp", n(0)),
        ("timestamp", "with time zone") | ("timestamptz", "") => {
            Type::Temporal("timestamptz", n(0))
        }
        ("time", "" | "without time zone") => Type::Temporal("time", n(0)),
        ("time", "with time zone") | ("timetz", "") => Type::Temporal("timetz", n(0)),
        ("interval", "") => Type::Temporal("interval", n(0)),
        _ => Type::Other(alias(&t).to_string()),
    })
}

/// The canonical name of the types with several spellings and no modifiers.
fn alias(t: &str) -> &str {
    match t {
        "int" | "int4" | "integer" => "integer",
        "int2" | "smallint" => "smallint",
        "int8" | "bigint" => "bigint",
        "float8" | "double precision" => "double precision",
        "float4" | "real" => "real",
        "bool" | "boolean" => "boolean",
        "serial" | "serial4" => "integer",
        "bigserial" | "serial8" => "bigint",
        other => other,
    }
}

/// A normalized spelling as its name, its numeric modifiers, and what follows them (`with time zone`).
fn split(t: &str) -> (&str, Vec<u32>, &str) {
    let Some(open) = t.find('(') else {
        return match t.split_once(" with") {
            Some((name, _)) => (name, Vec::new(), &t[name.len() + 1..]),
            None => (t, Vec::new(), ""),
        };
    };
    let close = t[open..].find(')').map_or(t.len(), |c| open + c);
    let args = t[open + 1..close]
        .split(',')
        .filter_map(|a| a.trim().parse().ok())
        .collect();
    let rest = t.get(close + 1..).unwrap_or_default().trim();
    (&t[..open], args, rest)
}

#[cfg(test)]
mod tests {
    use super::rewrites;

    #[test]
    fn the_changes_postgresql_makes_in_place_are_no_rewrite() {
        for (a, b) in [
            ("varchar(20)", "varchar(40)"),
            ("character varying(20)", "varchar(40)"),
            ("varchar(20)", "varchar"),
            ("varchar(20)", "text"),
            ("character varying", "text"),
            ("text", "varchar"),
            ("numeric(10,2)", "numeric"),
            ("numeric(10, 2)", "numeric(12,2)"),
            ("decimal(10,2)", "numeric(12,2)"),
            ("timestamp(3)", "timestamp(6)"),
            ("timestamp(3) without time zone", "timestamp"),
            ("timestamp(0) with time zone", "timestamptz(3)"),
            ("time(2)", "time"),
            ("interval(2)", "interval(4)"),
            ("varbit(4)", "bit varying(8)"),
            ("integer", "int4"),
            ("INT", "integer"),
        ] {
            assert!(!rewrites(a, b), "{a} -> {b} is made in place");
        }
    }

    #[test]
    fn the_others_rewrite() {
        for (a, b) in [
            ("char(5)", "char(10)"),
            ("character(5)", "character(10)"),
            ("integer", "bigint"),
            ("int", "text"),
            ("numeric(10,2)", "numeric(10,4)"),
            ("numeric(10,2)", "numeric(8,2)"),
            ("numeric", "numeric(10,2)"),
            ("varchar(40)", "varchar(20)"),
            ("text", "varchar(20)"),
            ("timestamp(6)", "timestamp(3)"),
            ("timestamp", "timestamptz"),
            ("varchar(20)[]", "varchar(40)[]"),
            ("jsonb", "json"),
        ] {
            assert!(rewrites(a, b), "{a} -> {b} rewrites");
        }
    }
}
