//! Resource addresses: `<domain>.<kind>.<identity...>`, e.g. `postgres.table.tenant_acme.orders`.
//!
//! The identity segments are the kind's identity fields in order. Segments are joined with `.`; a segment
//! other than the last is written in double quotes when it contains a `.`, a quote, white space or a glob
//! character, or is empty. The last segment takes the rest of the address as it is, so names that contain
//! dots need no quoting there (`kafka.topic.acme.orders` is the topic `acme.orders`).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A reference target whose last segment ends in this means every resource of its kind whose last
/// segment is the same name followed by `(`: an overloaded name (a function called by name, whatever its
/// argument types). The dependency graph resolves it.
pub const OVERLOADS: &str = "(*)";

/// The domain table: the one line outside its folder that a new domain adds. Each line gives the
/// `Domain` variant, the domain's module (and manifest key, profile table and address prefix), the system
/// behind it (for messages) and its section key in the platform's artifacts (`None` when the platform does
/// not export it). The callback macro receives the lines; `model` declares [`Domain`] from them and
/// `domains` its modules and its live systems (each module's `Provider`), so the order here is the plan's.
#[macro_export]
macro_rules! for_each_domain {
    ($callback:ident) => {
        $callback! {
            Iam iam "Keycloak" Some("iam"),
            Postgres postgres "PostgreSQL" Some("postgres_metadata"),
            Mongo mongo "MongoDB" Some("mongo_metadata"),
            Kafka kafka "Kafka" Some("kafka"),
            Functions functions "OpenWhisk" Some("functions"),
            Storage storage "S3" Some("storage"),
        }
    };
}

macro_rules! declare_domain {
    ($( $variant:ident $module:ident $system:literal $falcone:expr ),* $(,)?) => {
        // A domain: one system and its kinds.
        #[derive(
            Debug,
            Clone,
            Copy,
            PartialEq,
            Eq,
            Hash,
            PartialOrd,
            Ord,
            Serialize,
            Deserialize,
            schemars::JsonSchema,
        )]
        #[serde(rename_all = "lowercase")]
        pub enum Domain {
            $( $variant, )*
        }

        impl Domain {
            pub const ALL: [Domain; [$( stringify!($variant) ),*].len()] = [$( Domain::$variant ),*];

            pub fn as_str(self) -> &'static str {
                match self { $( Domain::$variant => stringify!($module), )* }
            }

            /// The system behind the domain, for messages.
            pub fn system(self) -> &'static str {
                match self { $( Domain::$variant => $system, )* }
            }

            /// The platform artifact's `domain_key` for this domain, if the platform exports it.
            pub fn falcone_key(self) -> Option<&'static str> {
                match self { $( Domain::$variant => $falcone, )* }
            }
        }
    };
}

for_each_domain!(declare_domain);

impl fmt::Display for Domain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Domain {
    type Err = AddressError;
    fn from_str(s: &str) -> Result<Self, AddressError> {
        Domain::ALL
            .into_iter()
            .find(|d| d.as_str() == s)
            .ok_or_else(|| AddressError::Domain {
                given: s.to_string(),
            })
    }
}

/// Why a text is not an address or a kind (`<domain>.<kind>.<identity…>`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    #[error("unknown domain `{given}` (expected one of: {})", Domain::ALL.map(|d| d.as_str()).join(", "))]
    Domain { given: String },
    #[error("unknown kind `{kind}` in domain `{domain}` (expected one of: {expected})")]
    Kind {
        domain: Domain,
        kind: String,
        expected: String,
    },
    #[error("`{0}` is not `<domain>.<kind>`")]
    NotKind(String),
    /// The kind is known and nothing names the resource; `form` is how one is addressed.
    #[error("address `{address}` names no {title}; expected `{form}`")]
    NoIdentity {
        address: String,
        title: &'static str,
        form: String,
    },
    #[error("address `{address}` has {given} identity part(s); a {title} is addressed as `{form}`")]
    Arity {
        address: String,
        given: usize,
        title: &'static str,
        form: String,
    },
    #[error("address `{address}`: {why}")]
    Segments { address: String, why: SegmentError },
}

/// Why an address's identity parts cannot be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SegmentError {
    #[error("unclosed quote")]
    Unclosed,
    #[error("a quoted part must be followed by `.`")]
    AfterQuote,
    #[error("text after a quoted last part")]
    AfterLast,
}

/// A resource address.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Address {
    pub domain: Domain,
    pub kind: &'static str,
    pub segments: Vec<String>,
}

impl Address {
    pub fn new(domain: Domain, kind: &'static str, segments: Vec<String>) -> Self {
        Address {
            domain,
            kind,
            segments,
        }
    }
}

fn needs_quotes(seg: &str, last: bool) -> bool {
    if seg.is_empty() || seg.starts_with('"') || seg.chars().any(char::is_whitespace) {
        return true;
    }
    !last
        && seg
            .chars()
            .any(|c| matches!(c, '.' | '"' | '*' | '?' | '[' | ']' | '\\'))
}

fn quote(seg: &str) -> String {
    let mut out = String::from("\"");
    for c in seg.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// Reads a quoted segment (after its opening quote); returns its text and what follows the closing quote.
fn read_quoted(s: &str) -> Result<(String, &str), SegmentError> {
    let mut out = String::new();
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        if escaped {
            out.push(c);
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == '"' {
            return Ok((out, &s[i + 1..]));
        } else {
            out.push(c);
        }
    }
    Err(SegmentError::Unclosed)
}

pub(crate) fn split_segments(rest: &str, arity: usize) -> Result<Vec<String>, SegmentError> {
    let mut segs = Vec::new();
    let mut s = rest;
    while segs.len() + 1 < arity {
        if let Some(after) = s.strip_prefix('"') {
            let (seg, remaining) = read_quoted(after)?;
            segs.push(seg);
            if remaining.is_empty() {
                return Ok(segs);
            }
            s = remaining
                .strip_prefix('.')
                .ok_or(SegmentError::AfterQuote)?;
        } else {
            match s.find('.') {
                Some(i) => {
                    segs.push(s[..i].to_string());
                    s = &s[i + 1..];
                }
                None => {
                    segs.push(s.to_string());
                    return Ok(segs);
                }
            }
        }
    }
    match s.strip_prefix('"') {
        Some(after) => {
            let (seg, remaining) = read_quoted(after)?;
            if !remaining.is_empty() {
                return Err(SegmentError::AfterLast);
            }
            segs.push(seg);
        }
        None => segs.push(s.to_string()),
    }
    Ok(segs)
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.domain, self.kind)?;
        let n = self.segments.len();
        for (i, s) in self.segments.iter().enumerate() {
            f.write_str(".")?;
            if needs_quotes(s, i + 1 == n) {
                f.write_str(&quote(s))?;
            } else {
                f.write_str(s)?;
            }
        }
        Ok(())
    }
}

/// A resource kind: its domain and its name (`postgres.table`), written `<domain>.<kind>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Kind {
    pub domain: Domain,
    pub name: &'static str,
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.domain, self.name)
    }
}

impl Address {
    /// The kind of the addressed resource.
    pub fn kind_of(&self) -> Kind {
        Kind {
            domain: self.domain,
            name: self.kind,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        for s in [
            "postgres.table.tenant_acme.orders",
            "kafka.topic.acme.orders",
            "iam.client.web-app",
            "postgres.table.\"my.schema\".orders",
            "postgres.policy.tenant_acme.orders.\"tenant isolation\"",
            "storage.bucket.acme-uploads",
            "mongo.index.acme.orders.customer_1",
        ] {
            let a = Address::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"));
            assert_eq!(a.to_string(), s);
        }
        let a = Address::parse("kafka.topic.acme.orders").expect("parses");
        assert_eq!(a.segments, vec!["acme.orders"]);
        let a = Address::parse("postgres.table.\"my.schema\".orders").expect("parses");
        assert_eq!(a.segments, vec!["my.schema", "orders"]);
    }

    #[test]
    fn rejects_bad_addresses() {
        assert!(Address::parse("pg.table.x.y").is_err());
        assert!(Address::parse("postgres.tabel.x.y").is_err());
        assert!(Address::parse("postgres.table.x").is_err());
        assert!(Address::parse("postgres.table").is_err());
        assert!(Address::parse("postgres.table.\"x.y").is_err());
    }

    #[test]
    fn any_segments_round_trip() {
        let a = Address::new(
            Domain::Postgres,
            "policy",
            vec!["a.\"b".into(), "".into(), "x y".into()],
        );
        let s = a.to_string();
        assert_eq!(Address::parse(&s).expect("parses"), a, "{s}");
    }
}
