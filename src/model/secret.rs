//! Secret references.
//!
//! A manifest never holds a secret: it says where to find one (`{ env = "NAME" }`, `{ file = "path" }`).
//! The markers `***REDACTED***` (Falcone exports, falconer's own exports) and `**********` (Keycloak's
//! masking) mean "unknown: keep what is live". A plain string is accepted but warned about (an error with
//! `--strict`), and is never printed: `Debug` hides it.

use std::borrow::Cow;
use std::fmt;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::de::{self, MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The marker Falcone and falconer write in place of a secret.
pub const REDACTED: &str = "***REDACTED***";
/// The marker Keycloak returns in place of a secret.
pub const KEYCLOAK_MASK: &str = "**********";

pub fn is_marker(s: &str) -> bool {
    s == REDACTED || s == KEYCLOAK_MASK
}

#[derive(Clone, PartialEq, Eq, Hash)]
pub enum SecretValue {
    /// Read from an environment variable when needed.
    Env(String),
    /// Read from a file (relative to the manifest file that names it).
    File(String),
    /// Unknown; keep the live value. Holds the marker as written.
    Redacted(String),
    /// A secret written in the manifest itself (discouraged).
    Plain(String),
    /// Printed by a program (`{ command = ["vault", "kv", "get", ...] }`): run without a shell, for a
    /// profile's secrets (a manifest's only in a live plan or apply whose profile allows it).
    Command(Vec<String>),
}

impl SecretValue {
    pub fn redacted() -> Self {
        SecretValue::Redacted(REDACTED.to_string())
    }

    /// A secret a backup or an export could not carry: `field` (a JSON pointer) named for a kind's
    /// `secrets_needed`, or nothing.
    pub fn unknown_at(s: Option<&SecretValue>, field: &str) -> Vec<String> {
        match s {
            Some(SecretValue::Redacted(_)) => vec![field.to_string()],
            _ => Vec::new(),
        }
    }

    /// Forgets a secret a backup or an export could not carry (a kind's `without_unknown_secrets`).
    pub fn forget_unknown(s: &mut Option<SecretValue>) {
        if matches!(s, Some(SecretValue::Redacted(_))) {
            *s = None;
        }
    }

    /// How the secret is referenced, safe to show (`env:NAME`, `file:path`, `command:PROGRAM`, `redacted`,
    /// `inline`); a command's arguments are not shown.
    pub fn describe(&self) -> String {
        match self {
            SecretValue::Env(n) => format!("env:{n}"),
            SecretValue::File(p) => format!("file:{p}"),
            SecretValue::Command(argv) => {
                format!("command:{}", argv.first().map(String::as_str).unwrap_or(""))
            }
            SecretValue::Redacted(_) => "redacted".to_string(),
            SecretValue::Plain(_) => "inline".to_string(),
        }
    }
}

impl fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretValue::Plain(_) => f.write_str("Plain(<hidden>)"),
            other => write!(f, "Secret({})", other.describe()),
        }
    }
}

impl Serialize for SecretValue {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            SecretValue::Env(n) => {
                let mut m = s.serialize_map(Some(1))?;
                m.serialize_entry("env", n)?;
                m.end()
            }
            SecretValue::File(p) => {
                let mut m = s.serialize_map(Some(1))?;
                m.serialize_entry("file", p)?;
                m.end()
            }
            SecretValue::Command(argv) => {
                let mut m = s.serialize_map(Some(1))?;
                m.serialize_entry("command", argv)?;
                m.end()
            }
            SecretValue::Redacted(m) => s.serialize_str(m),
            SecretValue::Plain(v) => s.serialize_str(v),
        }
    }
}

impl<'de> Deserialize<'de> for SecretValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = SecretValue;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(
                    "a secret reference ({ env = \"NAME\" }, { file = \"path\" } or { command = [\"program\", \"arg\"] })",
                )
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<SecretValue, E> {
                Ok(if is_marker(v) {
                    SecretValue::Redacted(v.to_string())
                } else {
                    SecretValue::Plain(v.to_string())
                })
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<SecretValue, A::Error> {
                let mut out = None;
                while let Some(k) = map.next_key::<String>()? {
                    if out.is_some() {
                        return Err(de::Error::custom(
                            "a secret reference names exactly one source: `env`, `file` or `command`",
                        ));
                    }
                    if k == "command" {
                        let argv: Vec<String> = map.next_value()?;
                        if argv.first().is_none_or(|p| p.is_empty()) {
                            return Err(de::Error::custom(
                                "the command is empty: give the program and its arguments",
                            ));
                        }
                        out = Some(SecretValue::Command(argv));
                        continue;
                    }
                    let v: String = map.next_value()?;
                    out = Some(match k.as_str() {
                        "env" => {
                            if v.is_empty() {
                                return Err(de::Error::custom(
                                    "the environment variable name is empty",
                                ));
                            }
                            SecretValue::Env(v)
                        }
                        "file" => {
                            if v.is_empty() {
                                return Err(de::Error::custom("the file path is empty"));
                            }
                            SecretValue::File(v)
                        }
                        other => {
                            return Err(de::Error::unknown_variant(
                                other,
                                &["env", "file", "command"],
                            ));
                        }
                    });
                }
                out.ok_or_else(|| {
                    de::Error::custom("a secret reference needs `env`, `file` or `command`")
                })
            }
        }
        d.deserialize_any(V)
    }
}

impl JsonSchema for SecretValue {
    fn schema_name() -> Cow<'static, str> {
        "SecretValue".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A secret reference: { env = \"NAME\" } or { file = \"path\" }; in a profile also { command = [\"program\", \"arg\"] } (a manifest's runs only in a live plan or apply whose profile sets allow_manifest_commands = true). The markers \"***REDACTED***\" and \"**********\" mean unknown (keep the live value). A plain string is accepted with a warning.",
            "oneOf": [
                { "type": "string" },
                { "type": "object", "properties": { "env": { "type": "string", "minLength": 1 } }, "required": ["env"], "additionalProperties": false },
                { "type": "object", "properties": { "file": { "type": "string", "minLength": 1 } }, "required": ["file"], "additionalProperties": false },
                { "type": "object", "properties": { "command": { "type": "array", "items": { "type": "string" }, "minItems": 1 } }, "required": ["command"], "additionalProperties": false }
            ]
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_plain_values() {
        let s = SecretValue::Plain("hunter2".into());
        assert!(!format!("{s:?}").contains("hunter2"));
    }

    #[test]
    fn parses_references() {
        let v: SecretValue = serde_json::from_str(r#"{"env":"X"}"#).expect("env");
        assert_eq!(v, SecretValue::Env("X".into()));
        let v: SecretValue = serde_json::from_str(r#""***REDACTED***""#).expect("marker");
        assert!(matches!(v, SecretValue::Redacted(_)));
        let v: SecretValue = serde_json::from_str(r#""**********""#).expect("mask");
        assert!(matches!(v, SecretValue::Redacted(_)));
        assert!(serde_json::from_str::<SecretValue>(r#"{"env":"X","file":"y"}"#).is_err());
        assert!(serde_json::from_str::<SecretValue>(r#"{"vault":"X"}"#).is_err());
        let v: SecretValue =
            serde_json::from_str(r#"{"command":["vault","kv","get"]}"#).expect("command");
        assert_eq!(v.describe(), "command:vault");
        assert_eq!(
            serde_json::to_string(&v).expect("serializes"),
            r#"{"command":["vault","kv","get"]}"#
        );
        assert!(serde_json::from_str::<SecretValue>(r#"{"command":[]}"#).is_err());
        assert!(serde_json::from_str::<SecretValue>(r#"{"command":"vault"}"#).is_err());
    }
}
