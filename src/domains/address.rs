//! Reading addresses and kinds from text, which needs the kind registry (a kind's identity says how many
//! segments its address has): the types are `model`'s, the parsing is here.

use serde::{Deserialize, Serialize};

use crate::model::address::split_segments;
use crate::model::{Address, Domain, Kind};

impl Address {
    /// Parses an address; the kind must be known, and the number of segments must match its identity.
    pub fn parse(s: &str) -> Result<Address, String> {
        let mut parts = s.splitn(3, '.');
        let domain: Domain = parts.next().unwrap_or_default().parse()?;
        let kind_s = parts.next().unwrap_or_default();
        let meta = crate::domains::kind(domain, kind_s).ok_or_else(|| {
            let kinds: Vec<&str> = crate::domains::kinds_of(domain).map(|m| m.kind).collect();
            format!(
                "unknown kind `{kind_s}` in domain `{domain}` (expected one of: {})",
                kinds.join(", ")
            )
        })?;
        let rest = parts.next().ok_or_else(|| {
            format!(
                "address `{s}` names no {}; expected `{domain}.{}.{}`",
                meta.title,
                meta.kind,
                meta.identity.join(".")
            )
        })?;
        let segments =
            split_segments(rest, meta.identity.len()).map_err(|e| format!("address `{s}`: {e}"))?;
        if segments.len() != meta.identity.len() {
            return Err(format!(
                "address `{s}` has {} identity part(s); a {} is addressed as `{domain}.{}.{}`",
                segments.len(),
                meta.title,
                meta.kind,
                meta.identity.join(".")
            ));
        }
        Ok(Address {
            domain,
            kind: meta.kind,
            segments,
        })
    }
}

/// An address equals its text (`postgres.table.app.orders`).
impl PartialEq<&str> for Address {
    fn eq(&self, other: &&str) -> bool {
        Address::parse(other).is_ok_and(|a| a == *self)
    }
}

impl Kind {
    /// Parses `<domain>.<kind>`; the kind must be known.
    pub fn parse(s: &str) -> Result<Kind, String> {
        let (d, k) = s
            .split_once('.')
            .ok_or_else(|| format!("`{s}` is not `<domain>.<kind>`"))?;
        let domain: Domain = d.parse()?;
        let meta = crate::domains::kind(domain, k)
            .ok_or_else(|| format!("unknown kind `{k}` in domain `{domain}`"))?;
        Ok(Kind {
            domain,
            name: meta.kind,
        })
    }
}

/// Both are written as their text (`postgres.table.tenant_acme.orders`, `postgres.table`) and read back
/// through `parse`, so a saved plan names only kinds this falconer knows.
macro_rules! as_text {
    ($t:ty) => {
        impl Serialize for $t {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }
        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = String::deserialize(d)?;
                <$t>::parse(&text).map_err(serde::de::Error::custom)
            }
        }
        impl schemars::JsonSchema for $t {
            fn schema_name() -> std::borrow::Cow<'static, str> {
                "String".into()
            }
            fn json_schema(g: &mut schemars::SchemaGenerator) -> schemars::Schema {
                String::json_schema(g)
            }
            fn inline_schema() -> bool {
                true
            }
        }
    };
}
as_text!(Address);
as_text!(Kind);
