//! OpenWhisk as a [`Provider`]: the tenant's namespace read through the REST API, and changes applied wave
//! by wave (packages, then actions, triggers and rules, as the graph orders them), four at a time.
//!
//! Code from a file is read when the plan is made. Text code is compared as text (the plan shows a
//! unified diff of it); binary code (base64) by its SHA-256 digest. OpenWhisk masks nothing: the values of
//! secret parameters are fingerprinted on the spot and dropped.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use base64::Engine;
use serde_json::json;
use sha2::{Digest, Sha256};

use super::apply::apply_one;
use super::client::{Config, Whisk};
use super::inspect::{Declared, inspect};
use super::{Action, Code};
use crate::domains::Spec;
use crate::domains::item::{Change, Item};
use crate::domains::provider::{self, DesiredSpecs, NotCarried, Provider, ProviderError, System};
use crate::setup::{Env, SetupError};
use crate::model::SecretValue;
use crate::model::{Address, Domain, Tenant};
use crate::secrets::{FingerprintKey, SENSITIVE};

/// Changes applied at once within a wave.
pub const PARALLEL: usize = 4;

pub struct Functions {
    pub whisk: Whisk,
    /// What the desired entities say of their parameters (set by `desired`, read by `live`).
    declared: Mutex<HashMap<String, Declared>>,
    /// The tenant's namespace (set by `live`, which every plan calls before an apply).
    namespace: provider::Remembered,
    /// What `live` found that no field reads, by namespace, for [`Provider::not_carried`].
    not_carried: Mutex<HashMap<String, Vec<NotCarried>>>,
}

/// Checks the address and the key.
pub async fn connect(config: Config) -> Result<Whisk, SetupError> {
    let w = Whisk::new(config)?;
    w.check().await?;
    Ok(w)
}

/// A configuration from the environment: `FALCONER_OPENWHISK_URL` and `FALCONER_OPENWHISK_AUTH`
/// (`uuid:key`).
pub fn config_from_env(env: &Env) -> Result<Config, SetupError> {
    let missing = |what, vars: &str| SetupError::NotConfigured {
        system: "OpenWhisk",
        what,
        vars: vars.into(),
        table: "functions",
    };
    let url = env.get("FALCONER_OPENWHISK_URL").ok_or_else(|| {
        missing(
            "connection",
            "FALCONER_OPENWHISK_URL with FALCONER_OPENWHISK_AUTH (uuid:key)",
        )
    })?;
    let auth = env
        .get("FALCONER_OPENWHISK_AUTH")
        .ok_or_else(|| missing("key", "FALCONER_OPENWHISK_AUTH (uuid:key)"))?;
    let tls = crate::tls::Tls::of(None, false, Path::new(""), env, ("functions", "FALCONER_OPENWHISK"))?;
    Ok(Config { url, auth, tls })
}

impl Functions {
    pub fn new(whisk: Whisk) -> Functions {
        Functions {
            whisk,
            declared: Mutex::new(HashMap::new()),
            namespace: provider::Remembered::default(),
            not_carried: Mutex::new(HashMap::new()),
        }
    }
}

/// The code of a file: text as it is; a `.b64` file, or bytes that are not UTF-8 (a zip, a jar) or an
/// action marked `binary`, as base64.
pub fn read_code(a: &Action, base: &Path) -> Result<Option<Code>, String> {
    let Some(Code::File(p)) = &a.code else {
        return Ok(a.code.clone());
    };
    let path = base.join(p);
    let bytes = std::fs::read(&path).map_err(|e| {
        format!(
            "action `{}`: cannot read its code file {}: {}",
            a.path(),
            path.display(),
            e.kind()
        )
    })?;
    let b64 = base64::engine::general_purpose::STANDARD;
    if p.ends_with(".b64") {
        let text = String::from_utf8_lossy(&bytes);
        let t: String = text.split_whitespace().collect();
        b64.decode(&t).map_err(|e| {
            format!(
                "action `{}`: {} is not base64: {e}",
                a.path(),
                path.display()
            )
        })?;
        return Ok(Some(Code::Base64(t)));
    }
    match String::from_utf8(bytes) {
        Ok(t) if a.binary != Some(true) => Ok(Some(Code::Inline(t))),
        Ok(t) => Ok(Some(Code::Base64(b64.encode(t.as_bytes())))),
        Err(e) => Ok(Some(Code::Base64(b64.encode(e.as_bytes())))),
    }
}

/// How an action's code is compared: text as itself, base64 by the SHA-256 of its bytes; `binary` is
/// derived from the code and left out.
fn compare_code(item: &mut Item) {
    let Spec::FnAction(a) = &item.spec else {
        return;
    };
    if let Some(Code::Base64(b)) = &a.code {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(b.split_whitespace().collect::<String>())
            .unwrap_or_else(|_| b.as_bytes().to_vec());
        let digest: String = Sha256::digest(&bytes)
            .iter()
            .map(|x| format!("{x:02x}"))
            .collect();
        item.value["code"] = json!({ "sha256": digest, "bytes": bytes.len() });
    }
    if let Some(o) = item.value.as_object_mut() {
        o.remove("binary");
    }
}

fn declared_of(spec: &Spec) -> Option<Declared> {
    let params = match spec {
        Spec::FnPackage(p) => &p.parameter,
        Spec::FnAction(a) => &a.parameter,
        Spec::FnTrigger(t) => &t.parameter,
        _ => return None,
    };
    let mut d = Declared::default();
    for p in params {
        if p.secret.is_some() {
            d.secret.insert(p.key.clone());
        } else {
            d.value.insert(p.key.clone());
        }
    }
    Some(d)
}

/// The profile's `[functions]` table: OpenWhisk's API host and the namespace's key.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpenWhiskTable {
    pub url: String,
    /// `uuid:key`.
    pub auth: SecretValue,
    pub tls: Option<crate::tls::TlsTable>,
}

/// Where OpenWhisk is and its key: the profile's table, else the environment.
pub fn config(table: Option<&OpenWhiskTable>, dir: &Path, env: &Env) -> Result<Config, SetupError> {
    let Some(t) = table else {
        return config_from_env(env);
    };
    Ok(Config {
        url: t.url.clone(),
        auth: provider::profile_secret(&t.auth, dir, "OpenWhisk key")?,
        tls: crate::tls::Tls::of(t.tls.as_ref(), true, dir, env, ("functions", "FALCONER_OPENWHISK"))?,
    })
}

impl System for Functions {
    type Table = OpenWhiskTable;
    fn in_env(env: &Env) -> bool {
        env.has("FALCONER_OPENWHISK_URL")
    }
    async fn connect(
        table: Option<&OpenWhiskTable>,
        dir: &Path,
        env: &Env,
    ) -> Result<Self, SetupError> {
        Ok(Functions::new(connect(config(table, dir, env)?).await?))
    }
}

impl Provider for Functions {
    fn domain(&self) -> Domain {
        Domain::Functions
    }

    /// The connection and the namespaces the key reaches (docs/functions.md: a key is its namespace's).
    /// OpenWhisk's API gives no version.
    async fn checkup(&self) -> Result<provider::Checkup, ProviderError> {
        let listed = self.whisk.send(reqwest::Method::GET, &["namespaces"], &[], None).await;
        let listed = listed.map_err(|e| ProviderError::backend(Domain::Functions, e))?;
        let names: Vec<&str> = listed.as_array().into_iter().flatten().filter_map(|v| v.as_str()).collect();
        let mut c = provider::Checkup::default();
        let tls = self.whisk.url().starts_with("https:");
        c.fact("tls", if tls { "on (https)" } else { "none (http)" })
            .fact("signed in as", format!("the key of {}", names.join(", ")))
            .need(!names.is_empty(), || "the key reaches no namespace: give the namespace's own key (wsk property get --auth)".into());
        Ok(c)
    }

    async fn desired(
        &self,
        specs: &DesiredSpecs,
        key: &FingerprintKey,
        warnings: &mut Vec<String>,
    ) -> Result<Vec<Item>, ProviderError> {
        let mut out = Vec::new();
        let mut declared = HashMap::new();
        for (s, base) in specs
            .iter()
            .filter(|(s, _)| s.meta().domain == Domain::Functions)
        {
            let mut s = s.clone();
            if let Spec::FnAction(a) = &mut s {
                a.code = read_code(a, base).map_err(|message| ProviderError::Change {
                    domain: Domain::Functions,
                    message,
                })?;
            }
            if let Some(d) = declared_of(&s) {
                declared.insert(s.address().to_string(), d);
            }
            let mut item = Item::new(s, base, key, warnings);
            compare_code(&mut item);
            out.push(item);
        }
        // Merged, not replaced: tenants of a fleet may share this provider.
        if let Ok(mut d) = self.declared.lock() {
            d.extend(declared);
        }
        Ok(out)
    }

    async fn live(
        &self,
        tenant: &Tenant,
        _also: &[Address],
        key: &FingerprintKey,
    ) -> Result<Vec<Item>, ProviderError> {
        let ns = tenant.name(&super::NAMESPACE_SCOPE);
        self.namespace.set(ns.clone());
        let declared = self.declared.lock().map(|d| d.clone()).unwrap_or_default();
        let found = inspect(&self.whisk, &ns, &declared)
            .await
            .map_err(|e| ProviderError::backend(Domain::Functions, e))?;
        if let Ok(mut kept) = self.not_carried.lock() {
            kept.insert(ns.clone(), found.not_carried);
        }
        let mut items = provider::sealed(found.specs, key);
        for item in &mut items {
            compare_code(item);
            let address = item.address.to_string();
            for p in item.value["parameter"].as_array_mut().into_iter().flatten() {
                let k = p["key"].as_str().unwrap_or_default().to_string();
                if let Some(v) = found.secrets.get(&(address.clone(), k)) {
                    p["secret"] = json!({ SENSITIVE: key.fingerprint(v.as_bytes()) });
                }
            }
            let token = (address.clone(), super::inspect::TOKEN_KEY.to_string());
            if let Some(v) = found.secrets.get(&token) {
                item.value["require_whisk_auth_token"] = json!({ SENSITIVE: key.fingerprint(v.as_bytes()) });
            }
        }
        Ok(items)
    }

    async fn not_carried(
        &self,
        tenant: &Tenant,
        _carried: &[&Spec],
    ) -> Result<Option<Vec<NotCarried>>, ProviderError> {
        let ns = tenant.name(&super::NAMESPACE_SCOPE);
        let backend = |e| ProviderError::backend(Domain::Functions, e);
        let kept = self.not_carried.lock().ok().and_then(|mut k| k.remove(&ns));
        let mut out = match kept {
            Some(found) => found,
            None => inspect(&self.whisk, &ns, &HashMap::new()).await.map_err(backend)?.not_carried,
        };
        let limits = self.whisk.get(&["namespaces", &ns, "limits"], &[]).await.map_err(backend)?;
        out.extend(limits.map(|l| super::inventory::namespace_limits(&l)).unwrap_or_default());
        out.sort();
        Ok(Some(out))
    }

    async fn apply(
        &self,
        changes: &[Change],
        desired: &[Item],
        live: &[Item],
        bases: &HashMap<Address, PathBuf>,
    ) -> Result<usize, ProviderError> {
        provider::refuse_uncarried(Domain::Functions, changes, super::apply::carries)?;
        let ns = self.namespace.get(Domain::Functions, "namespace")?;
        let (d, l) = (
            provider::by_address(desired, Domain::Functions),
            provider::by_address(live, Domain::Functions),
        );
        provider::in_waves(changes, Domain::Functions, PARALLEL, |c| {
            let base = bases
                .get(&c.address)
                .map(PathBuf::as_path)
                .unwrap_or(Path::new(""));
            let (d, l) = (d.get(&c.address).copied(), l.get(&c.address).copied());
            apply_one(&self.whisk, &ns, c, d, l, base)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn action(code: Code, binary: Option<bool>) -> Action {
        serde_json::from_value::<Action>(json!({"name": "a", "kind": "nodejs:20"}))
            .map(|mut a| {
                a.code = Some(code);
                a.binary = binary;
                a
            })
            .unwrap()
    }

    #[test]
    fn code_files_are_read_as_text_or_base64() {
        let dir = std::env::temp_dir().join(format!("falconer-code-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("a.js"), "function main() {}\n").unwrap();
        std::fs::write(dir.join("a.zip"), [0x50u8, 0x4b, 0x03, 0x04, 0xff, 0x00]).unwrap();
        std::fs::write(dir.join("a.b64"), "UEsDBP8A\n").unwrap();
        let read = |p: &str, b| read_code(&action(Code::File(p.into()), b), &dir).unwrap();
        assert_eq!(
            read("a.js", None),
            Some(Code::Inline("function main() {}\n".into()))
        );
        assert_eq!(read("a.zip", None), Some(Code::Base64("UEsDBP8A".into())));
        assert_eq!(read("a.b64", None), Some(Code::Base64("UEsDBP8A".into())));
        let e = read_code(&action(Code::File("missing.js".into()), None), &dir).unwrap_err();
        assert!(e.contains("missing.js") && e.contains("not found"), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
