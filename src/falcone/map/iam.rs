//! The iam section of an artifact.

use serde_json::{Map, Value};

use super::*;
use crate::domains::{Spec, iam};

impl Mapper {
    pub(super) fn iam(&mut self, data: &Map<String, Value>, path: &str) -> Dialect {
        let dialect = if data.contains_key("realm_settings") || data.contains_key("clients") {
            Dialect::Collector
        } else {
            Dialect::Applier
        };
        let realm = s(data.get("realm")).unwrap_or_else(|| self.tenant.clone());
        self.in_scope(&crate::domains::iam::REALM_SCOPE, &realm);
        self.leftover(
            data,
            path,
            &[
                "realm",
                "realm_settings",
                "roles",
                "groups",
                "clients",
                "client_scopes",
                "identity_providers",
            ],
        );
        let kc = kc_name;
        if let Some(rs) = obj(data.get("realm_settings")) {
            self.realm_settings(rs, format!("{path}/realm_settings"), &realm);
        }
        for (i, r) in arr(data.get("roles")).iter().enumerate() {
            let p = format!("{path}/roles/{i}");
            let v = self.clean(r, &p, KC_SERVER_KEYS);
            if let Some(r) = decode::<iam::Role>(&v, &p, &kc, &mut self.issues) {
                self.push(Spec::IamRole(r), p);
            }
        }
        for (i, sc) in arr(data.get("client_scopes")).iter().enumerate() {
            let p = format!("{path}/client_scopes/{i}");
            let v = self.clean(sc, &p, KC_SERVER_KEYS);
            if let Some(sc) = decode::<iam::ClientScope>(&v, &p, &kc, &mut self.issues) {
                if iam::BUILTIN_SCOPES.contains(&sc.name.as_str()) && is_bare(&v, "name") {
                    // A bare built-in scope name (`{"name":"openid"}`) says nothing to manage.
                    continue;
                }
                self.push(Spec::IamClientScope(sc), p);
            }
        }
        for (i, c) in arr(data.get("clients")).iter().enumerate() {
            self.client(c, format!("{path}/clients/{i}"));
        }
        for (i, idp) in arr(data.get("identity_providers")).iter().enumerate() {
            self.identity_provider(idp, format!("{path}/identity_providers/{i}"));
        }
        for (i, g) in arr(data.get("groups")).iter().enumerate() {
            self.group(g, &format!("{path}/groups/{i}"), None, &kc);
        }
        dialect
    }

    fn realm_settings(&mut self, rs: &Map<String, Value>, p: String, realm: &str) {
        let mut v = self.clean(&Value::Object(rs.clone()), &p, &["id", "realm"]);
        if let Some(o) = v.as_object_mut() {
            o.insert("name".into(), Value::String(realm.to_string()));
            if let Some(Value::Object(smtp)) = o.get_mut("smtpServer") {
                smtp_types(smtp);
            }
        }
        if let Some(r) = decode::<iam::Realm>(&v, &p, &kc_name, &mut self.issues) {
            self.push(Spec::IamRealm(r), p);
        }
    }

    fn client(&mut self, c: &Value, p: String) {
        let v = self.clean(c, &p, KC_SERVER_KEYS);
        if let Some(c) = decode::<iam::Client>(&v, &p, &kc_name, &mut self.issues) {
            if iam::BUILTIN_CLIENTS.contains(&c.client_id.as_str()) {
                self.warn(
                    p,
                    "builtin",
                    format!("built-in client `{}` is not managed", c.client_id),
                );
                return;
            }
            self.push(Spec::IamClient(c), p);
        }
    }

    fn identity_provider(&mut self, idp: &Value, p: String) {
        let mut v = self.clean(idp, &p, KC_SERVER_KEYS);
        if let Some(cfg) = v.get_mut("config").and_then(Value::as_object_mut)
            && let Some(secret) = cfg.remove("clientSecret")
            && let Some(o) = v.as_object_mut()
        {
            o.insert("clientSecret".into(), secret);
        }
        if let Some(x) = decode::<iam::IdentityProvider>(&v, &p, &kc_name, &mut self.issues) {
            self.push(Spec::IamIdentityProvider(x), p);
        }
    }

    pub(super) fn group(
        &mut self,
        g: &Value,
        p: &str,
        parent: Option<String>,
        kc: &dyn Fn(&str) -> String,
    ) {
        let mut v = self.clean(g, p, KC_SERVER_KEYS);
        let subs = v.as_object_mut().and_then(|o| o.remove("subGroups"));
        let kc_path = v.as_object_mut().and_then(|o| o.remove("path"));
        let parent = parent.or_else(|| {
            let full = kc_path
                .as_ref()
                .and_then(Value::as_str)?
                .trim_matches('/')
                .to_string();
            full.rsplit_once('/').map(|(p, _)| p.to_string())
        });
        if let (Some(parent), Some(o)) = (&parent, v.as_object_mut()) {
            o.insert("parent".into(), Value::String(parent.clone()));
        }
        if let Some(g) = decode::<iam::Group>(&v, p, kc, &mut self.issues) {
            let path = g.path();
            self.push(Spec::IamGroup(g), p.to_string());
            for (i, sg) in arr(subs.as_ref()).iter().enumerate() {
                self.group(sg, &format!("{p}/subGroups/{i}"), Some(path.clone()), kc);
            }
        }
    }
}

/// A Keycloak key's name in the model.
fn kc_name(k: &str) -> String {
    match k {
        "protocolMappers" => "protocol_mapper".to_string(),
        "smtpServer" => "smtp".to_string(),
        "realmRoles" => "realm_roles".to_string(),
        other => snake_case(other),
    }
}

/// The SMTP settings as typed values (Keycloak exports them all as strings), without `auth`.
fn smtp_types(smtp: &mut Map<String, Value>) {
    for (k, x) in smtp.iter_mut() {
        if let Value::String(t) = x {
            if k == "port" {
                if let Ok(n) = t.parse::<u64>() {
                    *x = Value::from(n);
                }
            } else if matches!(k.as_str(), "ssl" | "starttls") {
                *x = Value::Bool(t == "true");
            }
        }
    }
    smtp.remove("auth");
}

/// Writing this domain's section in the export's (collector) dialect, from falconer's resources.
pub(crate) mod write {
    use std::collections::BTreeMap;

    use serde_json::{Map, Value};

    use crate::domains::{Spec, iam};
    use crate::model::Tenant;

    /// A model value as Keycloak represents it: camelCase keys (map-valued fields keep their keys), no
    /// `depends_on`.
    fn kc(v: Value) -> Value {
        match v {
            Value::Object(o) => Value::Object(
                o.into_iter()
                    .filter(|(k, _)| k != "depends_on")
                    .map(|(k, x)| {
                        let raw = crate::falcone::RAW_MAPS.contains(&k.as_str());
                        let key = match k.as_str() {
                            "protocol_mapper" => "protocolMappers".to_string(),
                            "smtp" => "smtpServer".to_string(),
                            "realm_roles" => "realmRoles".to_string(),
                            other => iam::rep::camel(other),
                        };
                        (key, if raw { x } else { kc(x) })
                    })
                    .collect(),
            ),
            Value::Array(a) => Value::Array(a.into_iter().map(kc).collect()),
            other => other,
        }
    }

    /// The dialect has no place for the flows a tenant made: what names one (a realm's binding, a client's
    /// override, an identity provider's broker flow) is left to falconer's own copy, so that the dialect's
    /// data never names a flow it does not hold.
    fn without_own_flows(o: &mut Map<String, Value>) {
        o.remove("authenticationFlowBindingOverrides");
        o.retain(|k, v| {
            let names_flow = k.ends_with("Flow") || k.ends_with("FlowAlias");
            !names_flow || v.as_str().is_none_or(iam::flow::builtin_flow)
        });
    }

    pub(crate) fn data(tenant: &Tenant, specs: &[Spec]) -> Value {
        let mut d = Map::new();
        let mut realm = tenant.name(&crate::domains::iam::REALM_SCOPE);
        let mut lists: BTreeMap<&str, Vec<Value>> = BTreeMap::new();
        for s in specs {
            let key = match s {
                Spec::IamRealm(r) => {
                    realm = r.name.clone();
                    let mut v = kc(s.to_json());
                    if let Some(o) = v.as_object_mut() {
                        o.remove("name");
                        without_own_flows(o);
                    }
                    d.insert("realm_settings".into(), v);
                    continue;
                }
                Spec::IamRole(_) => "roles",
                Spec::IamGroup(g) => {
                    let mut v = kc(s.to_json());
                    if let Some(o) = v.as_object_mut() {
                        o.remove("parent");
                        o.insert("path".into(), Value::from(format!("/{}", g.path())));
                    }
                    lists.entry("groups").or_default().push(v);
                    continue;
                }
                Spec::IamClient(_) => "clients",
                Spec::IamClientScope(_) => "client_scopes",
                Spec::IamIdentityProvider(_) => "identity_providers",
                _ => continue,
            };
            let mut v = kc(s.to_json());
            if let Some(o) = v.as_object_mut() {
                without_own_flows(o);
            }
            lists.entry(key).or_default().push(v);
        }
        let mut out = Map::new();
        out.insert("realm".into(), Value::from(realm));
        out.extend(d);
        for key in [
            "roles",
            "groups",
            "clients",
            "client_scopes",
            "identity_providers",
        ] {
            out.insert(
                key.into(),
                Value::Array(lists.remove(key).unwrap_or_default()),
            );
        }
        Value::Object(out)
    }
}
