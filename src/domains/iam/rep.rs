//! Keycloak's representations (camelCase JSON) and falconer's IAM kinds: read into the model with
//! server-generated fields (`id`, `containerId`, `access`, ...) left behind, and written back with only
//! the fields a request needs.

use serde_json::{Map, Value, json};

use super::{
    Client, ClientRole, ClientScope, Group, IdentityProvider, IdpMapper, Protocol, ProtocolMapper,
    Realm, Role, Smtp,
};
use crate::model::SecretValue;
use crate::model::secret::KEYCLOAK_MASK;

/// Realm settings falconer manages (model names).
pub const REALM_FIELDS: &[&str] = &[
    "display_name",
    "enabled",
    "ssl_required",
    "registration_allowed",
    "registration_email_as_username",
    "remember_me",
    "verify_email",
    "login_with_email_allowed",
    "duplicate_emails_allowed",
    "reset_password_allowed",
    "edit_username_allowed",
    "brute_force_protected",
    "login_theme",
    "account_theme",
    "admin_theme",
    "email_theme",
    "internationalization_enabled",
    "supported_locales",
    "default_locale",
    "access_token_lifespan",
    "access_code_lifespan",
    "sso_session_idle_timeout",
    "sso_session_max_lifespan",
    "offline_session_idle_timeout",
    "password_policy",
    "browser_flow",
    "direct_grant_flow",
    "registration_flow",
    "reset_credentials_flow",
    "client_authentication_flow",
    "docker_authentication_flow",
    "first_broker_login_flow",
    "events_enabled",
    "events_expiration",
    "events_listeners",
    "enabled_event_types",
    "admin_events_enabled",
    "admin_events_details_enabled",
    "attributes",
];

/// Client fields sent as they are (model names).
pub const CLIENT_FIELDS: &[&str] = &[
    "name",
    "description",
    "enabled",
    "protocol",
    "public_client",
    "bearer_only",
    "root_url",
    "base_url",
    "admin_url",
    "redirect_uris",
    "web_origins",
    "standard_flow_enabled",
    "implicit_flow_enabled",
    "direct_access_grants_enabled",
    "service_accounts_enabled",
    "consent_required",
    "full_scope_allowed",
    "frontchannel_logout",
    "attributes",
];

pub const SCOPE_FIELDS: &[&str] = &["description", "protocol", "attributes"];

pub const IDP_FIELDS: &[&str] = &[
    "display_name",
    "enabled",
    "trust_email",
    "store_token",
    "link_only",
    "first_broker_login_flow_alias",
    "post_broker_login_flow_alias",
];

/// Attributes Keycloak maintains itself: `realm_client` (added on read) and `client.secret.creation.time`
/// (set whenever it generates a client's secret).
const SERVER_ATTRIBUTES: &[&str] = &["realm_client", "client.secret.creation.time"];

/// `access_token_lifespan` → `accessTokenLifespan`.
pub fn camel(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut up = false;
    for c in s.chars() {
        if c == '_' {
            up = true;
        } else if up {
            out.push(c.to_ascii_uppercase());
            up = false;
        } else {
            out.push(c);
        }
    }
    out
}

fn empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        _ => false,
    }
}

/// The fields of a representation, by model name; empty values are left out (Keycloak writes `""` and
/// `[]` for unset ones).
fn take(rep: &Value, fields: &[&str]) -> Map<String, Value> {
    let mut out = Map::new();
    for f in fields {
        if let Some(v) = rep.get(camel(f))
            && !empty(v)
        {
            out.insert(f.to_string(), v.clone());
        }
    }
    out
}

/// The fields of a model value as a representation; with `only`, just those, and a field that is no
/// longer set is sent empty (Keycloak's updates leave out what is not sent).
fn put(model: &Value, fields: &[&str], only: Option<&[String]>, out: &mut Map<String, Value>) {
    for f in fields {
        if only.is_some_and(|o| !o.iter().any(|x| x == f)) {
            continue;
        }
        match model.get(*f) {
            Some(v) if !v.is_null() => {
                out.insert(camel(f), v.clone());
            }
            _ if only.is_some() => {
                let cleared = match *f {
                    "redirect_uris" | "web_origins" | "supported_locales" => json!([]),
                    "attributes" => json!({}),
                    _ => json!(""),
                };
                out.insert(camel(f), cleared);
            }
            _ => {}
        }
    }
}

/// A representation Keycloak gave that does not decode into falconer's kind: which object, and why.
#[derive(Debug, thiserror::Error)]
#[error("{what}: {source}")]
pub struct Undecodable {
    pub what: String,
    #[source]
    pub source: serde_json::Error,
}

fn decode<T: serde::de::DeserializeOwned>(what: &str, m: Map<String, Value>) -> Result<T, Undecodable> {
    serde_json::from_value(Value::Object(m)).map_err(|source| Undecodable {
        what: what.to_string(),
        source,
    })
}

fn str_of<'a>(v: &'a Value, k: &str) -> &'a str {
    v.get(k).and_then(Value::as_str).unwrap_or_default()
}

fn string_map(v: Option<&Value>, skip: &[&str]) -> Map<String, Value> {
    v.and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter(|(k, v)| !skip.contains(&k.as_str()) && !v.is_null())
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        })
        .unwrap_or_default()
}

// ------------------------------------------------------------------------------------------- realm

pub fn realm(rep: &Value) -> Result<Realm, Undecodable> {
    let name = str_of(rep, "realm").to_string();
    let mut m = take(rep, REALM_FIELDS);
    m.insert("name".into(), json!(name));
    let smtp = string_map(rep.get("smtpServer"), &[]);
    if smtp.get("host").is_some_and(|h| !empty(h)) {
        let s = |k: &str| {
            smtp.get(k)
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
        };
        let flag = |k: &str| s(k).map(|v| v == "true");
        let mut o = Map::new();
        o.insert("host".into(), json!(s("host")));
        if let Some(p) = s("port").and_then(|p| p.parse::<u16>().ok()) {
            o.insert("port".into(), json!(p));
        }
        o.insert("from".into(), json!(s("from").unwrap_or_default()));
        for (k, model) in [
            ("fromDisplayName", "from_display_name"),
            ("replyTo", "reply_to"),
            ("user", "user"),
        ] {
            if let Some(v) = s(k) {
                o.insert(model.into(), json!(v));
            }
        }
        for k in ["ssl", "starttls"] {
            if let Some(v) = flag(k) {
                o.insert(k.into(), json!(v));
            }
        }
        if s("password").is_some() {
            // Keycloak masks it; what is live is unknown.
            o.insert("password".into(), json!(crate::model::secret::REDACTED));
        }
        m.insert("smtp".into(), Value::Object(o));
    }
    decode(&format!("realm {name}"), m)
}

/// The SMTP settings as Keycloak stores them (strings); `password` is the value to set, else the stored
/// one is kept (Keycloak keeps it when it is sent masked).
fn smtp_rep(s: &Smtp, password: Option<&str>) -> Value {
    let mut o = Map::new();
    o.insert("host".into(), json!(s.host));
    if let Some(p) = s.port {
        o.insert("port".into(), json!(p.to_string()));
    }
    o.insert("from".into(), json!(s.from));
    for (k, v) in [
        ("fromDisplayName", &s.from_display_name),
        ("replyTo", &s.reply_to),
        ("user", &s.user),
    ] {
        if let Some(v) = v {
            o.insert(k.into(), json!(v));
        }
    }
    for (k, v) in [("ssl", s.ssl), ("starttls", s.starttls)] {
        if let Some(v) = v {
            o.insert(k.into(), json!(v.to_string()));
        }
    }
    o.insert("auth".into(), json!(s.user.is_some().to_string()));
    match (password, &s.password) {
        (Some(p), _) => {
            o.insert("password".into(), json!(p));
        }
        (None, Some(_)) => {
            o.insert("password".into(), json!(KEYCLOAK_MASK));
        }
        _ => {}
    }
    Value::Object(o)
}

/// A realm representation: every managed setting, or with `only` just those top-level fields.
pub fn realm_rep(r: &Realm, only: Option<&[String]>, smtp_password: Option<&str>) -> Value {
    let model = serde_json::to_value(r).unwrap_or_default();
    let mut out = Map::new();
    out.insert("realm".into(), json!(r.name));
    put(&model, REALM_FIELDS, only, &mut out);
    if only.is_none_or(|o| o.iter().any(|f| f == "smtp")) {
        match &r.smtp {
            Some(s) => {
                out.insert("smtpServer".into(), smtp_rep(s, smtp_password));
            }
            None if only.is_some() => {
                out.insert("smtpServer".into(), json!({}));
            }
            None => {}
        }
    }
    Value::Object(out)
}

// ------------------------------------------------------------------------------- roles and mappers

/// A realm or client role's own fields (composites are read through their endpoint).
pub fn role(rep: &Value) -> Result<Role, Undecodable> {
    let mut m = take(rep, &["description", "attributes"]);
    m.insert("name".into(), json!(str_of(rep, "name")));
    decode(&format!("role {}", str_of(rep, "name")), m)
}

pub fn client_role(rep: &Value) -> Result<ClientRole, Undecodable> {
    let mut m = take(rep, &["description", "attributes"]);
    m.insert("name".into(), json!(str_of(rep, "name")));
    decode(&format!("client role {}", str_of(rep, "name")), m)
}

/// What a role's own request sends (name, description, attributes).
pub fn role_rep(name: &str, description: Option<&str>, attributes: &Value) -> Value {
    json!({
        "name": name,
        "description": description.unwrap_or_default(),
        "attributes": if attributes.is_null() { json!({}) } else { attributes.clone() },
    })
}

pub fn protocol_mapper(rep: &Value, owner: Protocol) -> Result<ProtocolMapper, Undecodable> {
    let mut m = Map::new();
    m.insert("name".into(), json!(str_of(rep, "name")));
    let p = str_of(rep, "protocol");
    if !p.is_empty() && serde_json::from_value::<Protocol>(json!(p)).ok() != Some(owner) {
        m.insert("protocol".into(), json!(p));
    }
    m.insert(
        "protocol_mapper".into(),
        json!(str_of(rep, "protocolMapper")),
    );
    let config = string_map(rep.get("config"), &[]);
    if !config.is_empty() {
        m.insert("config".into(), Value::Object(config));
    }
    decode(&format!("protocol mapper {}", str_of(rep, "name")), m)
}

pub fn protocol_mapper_rep(p: &ProtocolMapper, owner: Protocol) -> Value {
    json!({
        "name": p.name,
        "protocol": p.protocol.unwrap_or(owner),
        "protocolMapper": p.protocol_mapper,
        "config": p.config,
    })
}

pub fn idp_mapper(rep: &Value) -> Result<IdpMapper, Undecodable> {
    let mut m = Map::new();
    m.insert("name".into(), json!(str_of(rep, "name")));
    m.insert(
        "identity_provider_mapper".into(),
        json!(str_of(rep, "identityProviderMapper")),
    );
    let config = string_map(rep.get("config"), &[]);
    if !config.is_empty() {
        m.insert("config".into(), Value::Object(config));
    }
    decode(&format!("mapper {}", str_of(rep, "name")), m)
}

pub fn idp_mapper_rep(alias: &str, p: &IdpMapper) -> Value {
    json!({
        "name": p.name,
        "identityProviderAlias": alias,
        "identityProviderMapper": p.identity_provider_mapper,
        "config": p.config,
    })
}

// ----------------------------------------------------------------------------------------- clients

/// A client's own fields; roles, scopes and service-account roles are read through their endpoints.
/// The secret (Keycloak returns it in clear up to 26.6) is never put in the model: it is `***REDACTED***`.
pub fn client(rep: &Value) -> Result<Client, Undecodable> {
    let id = str_of(rep, "clientId").to_string();
    let mut m = take(rep, CLIENT_FIELDS);
    m.insert("client_id".into(), json!(id));
    let attributes = string_map(rep.get("attributes"), SERVER_ATTRIBUTES);
    if attributes.is_empty() {
        m.remove("attributes");
    } else {
        m.insert("attributes".into(), Value::Object(attributes));
    }
    let confidential = !rep["publicClient"].as_bool().unwrap_or(false)
        && !rep["bearerOnly"].as_bool().unwrap_or(false);
    if confidential && rep.get("secret").is_some_and(|s| !empty(s)) {
        m.insert("secret".into(), json!(crate::model::secret::REDACTED));
    }
    let mut c: Client = decode(&format!("client {id}"), m)?;
    c.protocol_mapper = protocol_mappers(rep)?;
    Ok(c)
}

/// The protocol mappers a client or client scope representation carries.
fn protocol_mappers(rep: &Value) -> Result<Vec<ProtocolMapper>, Undecodable> {
    let owner = protocol_of(rep);
    rep.get("protocolMappers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|x| protocol_mapper(x, owner))
        .collect()
}

/// What a list of protocol mappers sends, each with its protocol (default: its owner's).
pub fn protocol_mapper_reps(mappers: &[ProtocolMapper], owner: Option<Protocol>) -> Vec<Value> {
    let owner = owner.unwrap_or(Protocol::OpenidConnect);
    mappers
        .iter()
        .map(|m| protocol_mapper_rep(m, owner))
        .collect()
}

pub fn protocol_of(rep: &Value) -> Protocol {
    serde_json::from_value(rep.get("protocol").cloned().unwrap_or_default())
        .unwrap_or(Protocol::OpenidConnect)
}

/// A client representation: every field, or with `only` just those; `secret` is the value to set.
///
/// Keycloak merges the `attributes` of a client update into the stored ones (a key the update leaves out
/// is kept; an empty value removes it), so each key of `live` the client no longer has is sent empty.
pub fn client_rep(
    c: &Client,
    only: Option<&[String]>,
    secret: Option<&str>,
    live: Option<&Client>,
) -> Value {
    let model = serde_json::to_value(c).unwrap_or_default();
    let mut out = Map::new();
    out.insert("clientId".into(), json!(c.client_id));
    put(&model, CLIENT_FIELDS, only, &mut out);
    if let (Some(Value::Object(sent)), Some(live)) = (out.get_mut("attributes"), live) {
        for k in live.attributes.keys() {
            if !c.attributes.contains_key(k) {
                sent.insert(k.clone(), json!(""));
            }
        }
    }
    if let Some(s) = secret {
        out.insert("secret".into(), json!(s));
    }
    Value::Object(out)
}

// ----------------------------------------------------------------------------------- client scopes

pub fn client_scope(rep: &Value) -> Result<ClientScope, Undecodable> {
    let name = str_of(rep, "name").to_string();
    let mut m = take(rep, SCOPE_FIELDS);
    m.insert("name".into(), json!(name));
    let mut s: ClientScope = decode(&format!("client scope {name}"), m)?;
    s.protocol_mapper = protocol_mappers(rep)?;
    Ok(s)
}

/// A client scope representation, laid over `base` (what is live) so that attributes falconer does not
/// manage are kept.
pub fn client_scope_rep(s: &ClientScope, base: Option<&Value>) -> Value {
    let model = serde_json::to_value(s).unwrap_or_default();
    let mut out = Map::new();
    out.insert("name".into(), json!(s.name));
    put(&model, SCOPE_FIELDS, None, &mut out);
    let mut attributes = string_map(base.and_then(|b| b.get("attributes")), &[]);
    attributes.extend(s.attributes.iter().map(|(k, v)| (k.clone(), json!(v))));
    out.insert("attributes".into(), Value::Object(attributes));
    Value::Object(out)
}

// ------------------------------------------------------------------------------ identity providers

pub fn identity_provider(rep: &Value) -> Result<IdentityProvider, Undecodable> {
    let alias = str_of(rep, "alias").to_string();
    let mut m = take(rep, IDP_FIELDS);
    m.insert("alias".into(), json!(alias));
    m.insert("provider_id".into(), json!(str_of(rep, "providerId")));
    let config = string_map(rep.get("config"), &["clientSecret"]);
    if !config.is_empty() {
        m.insert("config".into(), Value::Object(config));
    }
    if rep
        .pointer("/config/clientSecret")
        .is_some_and(|s| !empty(s))
    {
        m.insert(
            "client_secret".into(),
            json!(crate::model::secret::REDACTED),
        );
    }
    decode(&format!("identity provider {alias}"), m)
}

/// An identity provider representation laid over `base` (what is live: config keys falconer does not
/// manage are kept). `secret` is the client secret to set; without it the live one is sent back as it
/// came (masked), which Keycloak reads as "keep", whether or not the manifest declares one.
pub fn identity_provider_rep(
    p: &IdentityProvider,
    base: Option<&Value>,
    secret: Option<&str>,
) -> Value {
    let model = serde_json::to_value(p).unwrap_or_default();
    let mut out = base.and_then(Value::as_object).cloned().unwrap_or_default();
    out.insert("alias".into(), json!(p.alias));
    out.insert("providerId".into(), json!(p.provider_id));
    put(&model, IDP_FIELDS, None, &mut out);
    let mut config = string_map(base.and_then(|b| b.get("config")), &[]);
    config.extend(p.config.iter().map(|(k, v)| (k.clone(), json!(v))));
    // Without a new secret, the live one goes back as it came (masked): Keycloak keeps it.
    if let Some(s) = secret {
        config.insert("clientSecret".into(), json!(s));
    }
    out.insert("config".into(), Value::Object(config));
    Value::Object(out)
}

// ------------------------------------------------------------------------------------------ groups

pub fn group(rep: &Value, parent: Option<&str>) -> Result<Group, Undecodable> {
    let name = str_of(rep, "name").to_string();
    let mut m = take(rep, &["attributes"]);
    m.insert("name".into(), json!(name));
    if let Some(p) = parent {
        m.insert("parent".into(), json!(p));
    }
    decode(&format!("group {name}"), m)
}

pub fn group_rep(g: &Group) -> Value {
    json!({ "name": g.name, "attributes": g.attributes })
}

/// A secret of the model as a value to send: only a resolved one is sent (a marker is never a value).
pub fn secret_value(s: Option<&SecretValue>, resolved: Option<String>) -> Option<String> {
    match s {
        Some(SecretValue::Redacted(_)) | None => None,
        Some(_) => resolved.filter(|v| !crate::model::secret::is_marker(v)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_turn_camel() {
        assert_eq!(camel("access_token_lifespan"), "accessTokenLifespan");
        assert_eq!(camel("name"), "name");
    }

    #[test]
    fn server_fields_stay_behind() {
        let rep = json!({
            "id": "9f1c", "clientId": "web", "publicClient": true, "access": {"view": true},
            "redirectUris": ["https://a/*"], "rootUrl": "", "attributes": {"realm_client": "false", "x": "1"},
            "protocolMappers": [{"id": "m1", "name": "n", "protocol": "openid-connect",
                "protocolMapper": "oidc-hardcoded-claim-mapper", "config": {"a": "b"}}],
            "secret": null
        });
        let c = client(&rep).unwrap();
        assert_eq!(c.client_id, "web");
        assert_eq!(c.root_url, None);
        assert_eq!(c.attributes.len(), 1);
        assert_eq!(c.protocol_mapper[0].protocol, None);
        assert!(c.secret.is_none());
    }

    #[test]
    fn partial_updates_clear_explicitly() {
        let mut c = client(&json!({"clientId": "web"})).unwrap();
        c.name = None;
        let only = vec!["name".to_string(), "redirect_uris".to_string()];
        let rep = client_rep(&c, Some(&only), None, None);
        assert_eq!(
            rep,
            json!({"clientId": "web", "name": "", "redirectUris": []})
        );
    }

    #[test]
    fn smtp_round_trips_with_the_password_masked() {
        let rep = json!({"realm": "acme", "smtpServer": {"host": "h", "port": "587", "from": "a@b",
            "starttls": "true", "auth": "true", "user": "u", "password": "**********"}});
        let r = realm(&rep).unwrap();
        let s = r.smtp.as_ref().unwrap();
        assert_eq!((s.port, s.starttls), (Some(587), Some(true)));
        assert!(matches!(s.password, Some(SecretValue::Redacted(_))));
        let back = realm_rep(&r, None, None);
        assert_eq!(back["smtpServer"]["password"], KEYCLOAK_MASK);
        assert_eq!(back["smtpServer"]["port"], "587");
        let set = realm_rep(&r, None, Some("new"));
        assert_eq!(set["smtpServer"]["password"], "new");
    }
}
