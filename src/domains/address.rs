//! Reading addresses and kinds from text, which needs the kind registry (a kind's identity says how many
//! segments its address has): the types are `model`'s, the parsing is here.

use serde::{Deserialize, Serialize};

use crate::model::address::AddressError;
use crate::model::address::split_segments;
use crate::model::{Address, Domain, Kind};

impl Address {
    /// Parses an address; the kind must be known, and the number of segments must match its identity.
    pub fn parse(s: &str) -> Result<Address, AddressError> {
        let mut parts = s.splitn(3, '.');
        let domain: Domain = parts.next().unwrap_or_default().parse()?;
        let meta = known(domain, parts.next().unwrap_or_default())?;
        let form = format!("{domain}.{}.{}", meta.kind, meta.identity.join("."));
        let rest = parts.next().ok_or_else(|| AddressError::NoIdentity {
            address: s.to_string(),
            title: meta.title,
            form: form.clone(),
        })?;
        let segments =
            split_segments(rest, meta.identity.len()).map_err(|why| AddressError::Segments {
                address: s.to_string(),
                why,
            })?;
        if segments.len() != meta.identity.len() {
            return Err(AddressError::Arity {
                address: s.to_string(),
                given: segments.len(),
                title: meta.title,
                form,
            });
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
    pub fn parse(s: &str) -> Result<Kind, AddressError> {
        let (d, k) = s
            .split_once('.')
            .ok_or_else(|| AddressError::NotKind(s.to_string()))?;
        let domain: Domain = d.parse()?;
        let meta = known(domain, k)?;
        Ok(Kind {
            domain,
            name: meta.kind,
        })
    }
}

/// A kind of `domain` the registry knows.
fn known(domain: Domain, kind: &str) -> Result<&'static crate::model::KindMeta, AddressError> {
    crate::domains::kind(domain, kind).ok_or_else(|| AddressError::Kind {
        domain,
        kind: kind.to_string(),
        expected: crate::domains::kinds_of(domain)
            .map(|m| m.kind)
            .collect::<Vec<_>>()
            .join(", "),
    })
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
