//! Secret resolution, fingerprints and sealing.
//!
//! A secret value exists in memory only between [`resolve`] and [`fingerprint`]: the planner works on
//! *sealed* values, where every secret field holds `{"$sensitive": "<fingerprint>"}` or
//! `{"$sensitive": "unknown"}`. A fingerprint is HMAC-SHA256 under a key that never leaves the process
//! (from `FALCONER_FINGERPRINT_KEY`, later from the state store); plans, logs and files never contain one.

use std::path::Path;

use hmac::{KeyInit, Mac};
use serde_json::Value;

use crate::model::secret::is_marker;
use crate::model::{KindMeta, SecretValue, flags};

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

pub mod command;

/// The key of the sealed marker object.
pub const SENSITIVE: &str = "$sensitive";
/// A sealed secret whose value is not known (redacted, or not resolvable here).
pub const UNKNOWN: &str = "unknown";

/// The key fingerprints are computed with.
#[derive(Clone)]
pub struct FingerprintKey(Vec<u8>);

impl std::fmt::Debug for FingerprintKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FingerprintKey(<hidden>)")
    }
}

impl FingerprintKey {
    pub fn new(bytes: impl Into<Vec<u8>>) -> Self {
        FingerprintKey(bytes.into())
    }

    /// From `FALCONER_FINGERPRINT_KEY`, else a fixed per-process key: fingerprints then only compare values
    /// resolved in the same run (enough for an offline plan), and are never stored.
    pub fn from_env(env: &crate::setup::Env) -> Self {
        match env.get("FALCONER_FINGERPRINT_KEY") {
            Some(k) => FingerprintKey(k.into_bytes()),
            None => FingerprintKey(b"falconer-offline-fingerprints".to_vec()),
        }
    }

    pub fn fingerprint(&self, value: &[u8]) -> String {
        // HMAC accepts keys of any length.
        let mut mac = HmacSha256::new_from_slice(&self.0)
            .unwrap_or_else(|_| HmacSha256::new(&Default::default()));
        mac.update(value);
        mac.finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

/// Why a secret could not be resolved (never contains the value).
#[derive(Debug, Clone, PartialEq)]
pub struct Unresolved(pub String);

tokio::task_local! {
    /// Whether a manifest's `{ command }` may run: only in a live plan or apply whose profile sets
    /// `allow_manifest_commands = true` ([`with_manifest_commands`]); never in validate, diff, graph or an
    /// offline plan.
    static MANIFEST_COMMANDS: bool;
}

/// Runs `work` with a manifest's commands allowed to run, or not.
pub async fn with_manifest_commands<F: std::future::Future>(allowed: bool, work: F) -> F::Output {
    MANIFEST_COMMANDS.scope(allowed, work).await
}

/// Reads a manifest's secret: an environment variable or a file (relative to `base`). A command is refused
/// unless this is a live plan or apply whose profile allows it: a manifest comes from a pull request, and
/// reading it must not run code.
pub fn resolve(s: &SecretValue, base: &Path) -> Result<Option<String>, Unresolved> {
    match s {
        SecretValue::Command(argv) if MANIFEST_COMMANDS.try_with(|a| *a).unwrap_or(false) => {
            command::output(argv, base, command::TIMEOUT).map(Some)
        }
        SecretValue::Command(_) => Err(Unresolved(
            "a manifest's command is run only by a live plan or apply whose profile sets allow_manifest_commands = true: give it as { env } or { file }"
                .into(),
        )),
        SecretValue::Env(name) => std::env::var(name)
            .map(Some)
            .map_err(|_| Unresolved(format!("environment variable {name} is not set"))),
        SecretValue::File(p) => {
            let path = base.join(p);
            std::fs::read_to_string(&path)
                .map(|t| Some(t.trim_end_matches(['\n', '\r']).to_string()))
                .map_err(|e| Unresolved(format!("cannot read {}: {}", path.display(), e.kind())))
        }
        SecretValue::Plain(v) => Ok(Some(v.clone())),
        SecretValue::Redacted(_) => Ok(None),
    }
}

/// Reads a profile's secret: as [`resolve`], and a command's output (run once per process).
pub fn resolve_profile(s: &SecretValue, base: &Path) -> Result<Option<String>, Unresolved> {
    match s {
        SecretValue::Command(argv) => command::output(argv, base, command::TIMEOUT).map(Some),
        other => resolve(other, base),
    }
}

/// Seals every secret field of a resource's JSON (as written by its kind): each becomes a sealed marker.
/// Returns the reasons of secrets that could not be resolved, by field path.
pub fn seal(
    meta: &KindMeta,
    value: &mut Value,
    base: &Path,
    key: &FingerprintKey,
) -> Vec<(String, Unresolved)> {
    let mut problems = Vec::new();
    if !meta.has_flag(flags::SECRET) {
        return problems;
    }
    seal_at(meta, "", "", value, base, key, &mut problems);
    problems
}

fn seal_at(
    meta: &KindMeta,
    meta_path: &str,
    shown: &str,
    v: &mut Value,
    base: &Path,
    key: &FingerprintKey,
    problems: &mut Vec<(String, Unresolved)>,
) {
    if meta.flags_of(meta_path) & flags::SECRET != 0 {
        if v.is_null() {
            return;
        }
        let sealed = match serde_json::from_value::<SecretValue>(v.clone()) {
            Ok(s) => match resolve(&s, base) {
                Ok(Some(value)) => key.fingerprint(value.as_bytes()),
                Ok(None) => UNKNOWN.to_string(),
                Err(u) => {
                    problems.push((shown.to_string(), u));
                    UNKNOWN.to_string()
                }
            },
            // Already sealed (a snapshot), or not a secret reference at all.
            Err(_) => match v.get(SENSITIVE).and_then(Value::as_str) {
                Some(fp) => fp.to_string(),
                None => UNKNOWN.to_string(),
            },
        };
        *v = serde_json::json!({ SENSITIVE: sealed });
        return;
    }
    match v {
        Value::Object(map) => {
            for (k, x) in map.iter_mut() {
                if !meta.flag_below(flags::SECRET, meta_path, k) {
                    continue;
                }
                let direct = join(meta_path, k);
                let mp = if meta.field(&direct).is_none()
                    && meta.field(&join(meta_path, "*")).is_some()
                {
                    join(meta_path, "*")
                } else {
                    direct
                };
                seal_at(meta, &mp, &join(shown, k), x, base, key, problems);
            }
        }
        Value::Array(items) => {
            let mp = format!("{meta_path}[]");
            for (i, x) in items.iter_mut().enumerate() {
                seal_at(meta, &mp, &format!("{shown}[{i}]"), x, base, key, problems);
            }
        }
        _ => {}
    }
}

fn join(a: &str, b: &str) -> String {
    if a.is_empty() {
        b.to_string()
    } else {
        format!("{a}.{b}")
    }
}

/// Paths (`smtp.password`, `parameter[0].secret`) of the secret fields of a resource's JSON that hold a
/// plain value, so that their text can be masked wherever a manifest file is shown.
pub fn plain_secret_paths(meta: &KindMeta, value: &Value) -> Vec<String> {
    let mut out = Vec::new();
    if !meta.has_flag(flags::SECRET) {
        return out;
    }
    plain_at(meta, "", "", value, &mut out);
    out
}

fn plain_at(meta: &KindMeta, mp: &str, shown: &str, v: &Value, out: &mut Vec<String>) {
    if meta.flags_of(mp) & flags::SECRET != 0 {
        if let Value::String(s) = v
            && !is_marker(s)
        {
            out.push(shown.to_string());
        }
        return;
    }
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                if !meta.flag_below(flags::SECRET, mp, k) {
                    continue;
                }
                let direct = join(mp, k);
                let cmp = if meta.field(&direct).is_none() && meta.field(&join(mp, "*")).is_some() {
                    join(mp, "*")
                } else {
                    direct
                };
                plain_at(meta, &cmp, &join(shown, k), x, out);
            }
        }
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                plain_at(meta, &format!("{mp}[]"), &format!("{shown}[{i}]"), x, out);
            }
        }
        _ => {}
    }
}

/// Whether a JSON value is a sealed secret, and its fingerprint (`None` when unknown).
pub fn sealed(v: &Value) -> Option<Option<&str>> {
    let o = v.as_object()?;
    if o.len() != 1 {
        return None;
    }
    let fp = o.get(SENSITIVE)?.as_str()?;
    Some((fp != UNKNOWN).then_some(fp))
}

/// A copy of a sealed value fit for output: every sealed secret becomes `"(sensitive)"`.
pub fn redact(v: &Value) -> Value {
    match v {
        _ if sealed(v).is_some() => Value::String("(sensitive)".into()),
        Value::Object(m) => Value::Object(m.iter().map(|(k, x)| (k.clone(), redact(x))).collect()),
        Value::Array(a) => Value::Array(a.iter().map(redact).collect()),
        Value::String(s) if is_marker(s) => Value::String("(sensitive)".into()),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_are_keyed() {
        let a = FingerprintKey::new("k1");
        let b = FingerprintKey::new("k2");
        assert_eq!(a.fingerprint(b"x"), a.fingerprint(b"x"));
        assert_ne!(a.fingerprint(b"x"), a.fingerprint(b"y"));
        assert_ne!(a.fingerprint(b"x"), b.fingerprint(b"x"));
        assert_eq!(a.fingerprint(b"x").len(), 64);
        assert!(!format!("{a:?}").contains("k1"));
    }
}
