//! What the tenant's realm holds that no kind carries: the realm's configuration sub-resources the admin
//! API answers, each named where it differs from what a new realm has (Keycloak marks its own flows
//! `builtIn`; a new realm has no client policy, default group or localization text, asks no required action
//! by default, and has only generated keys). A server that does not have a sub-resource
//! (404) has nothing to name there. Users and sessions are data, like rows: never named.
//!
//! Read: components (user federation, imported keys, ...), client policies and profiles, the default client
//! roles beyond a new realm's, localization texts, the realm's settings no kind reads. The realm's default
//! roles and groups are carried (`default` of a role or group).
//! Authentication flows, their bindings and required actions are carried (`flow.rs`), and so are the events
//! settings (realm fields).

use serde_json::Value;

use super::baseline;
use super::client::{KcError, Keycloak};
use crate::domains::provider::NotCarried;

fn named(kind: &str, name: impl Into<String>) -> NotCarried {
    NotCarried {
        kind: kind.into(),
        name: name.into(),
    }
}

fn str_of<'a>(v: &'a Value, k: &str) -> &'a str {
    v.get(k).and_then(Value::as_str).unwrap_or_default()
}

fn items(v: Option<Value>, member: Option<&str>) -> Vec<Value> {
    let v = match (v, member) {
        (Some(v), Some(m)) => v.get(m).cloned(),
        (v, None) => v,
        (None, _) => None,
    };
    match v {
        Some(Value::Array(a)) => a,
        _ => Vec::new(),
    }
}

/// What the realm holds that no kind carries; nothing when the realm does not exist.
pub async fn not_carried(kc: &Keycloak, realm: &str) -> Result<Vec<NotCarried>, KcError> {
    let Some(settings) = kc.get(&[realm], &[]).await? else {
        return Ok(Vec::new());
    };
    // Components, client policies and profiles, locales, default scopes.
    const SUBRESOURCES: [&[&str]; 6] = [
        &["components"],
        &["client-policies", "policies"],
        &["client-policies", "profiles"],
        &["localization"],
        &["default-default-client-scopes"],
        &["default-optional-client-scopes"],
    ];
    let reads = SUBRESOURCES.iter().map(|sub| async move {
        let path: Vec<&str> = std::iter::once(realm).chain(sub.iter().copied()).collect();
        kc.get(&path, &[]).await
    });
    let answers = futures_util::future::try_join_all(reads).await?;
    let [components, policies, profiles, locales, default_scopes, optional_scopes]: [Option<Value>; 6] =
        answers.try_into().expect("one answer a sub-resource");
    let default_role = format!("default-roles-{realm}");
    let defaults = kc.get(&[realm, "roles", &default_role, "composites"], &[]).await?;
    let carried: Vec<String> = super::rep::REALM_FIELDS
        .iter()
        .map(|f| super::rep::camel(f))
        .chain(["smtpServer".to_string()])
        .collect();
    let mut out = baseline::realm_settings(&settings, &carried);
    out.extend(baseline::default_scopes(&items(default_scopes, None), false));
    out.extend(baseline::default_scopes(&items(optional_scopes, None), true));
    out.extend(component_items(&settings, items(components, None)));
    for p in items(policies, Some("policies")) {
        out.push(named("client policy", str_of(&p, "name")));
    }
    for p in items(profiles, Some("profiles")) {
        out.push(named("client profile", str_of(&p, "name")));
    }
    out.extend(default_roles(items(defaults, None)));
    for l in items(locales, None) {
        out.push(named("localization texts", l.as_str().unwrap_or_default()));
    }
    out.sort();
    Ok(out)
}

/// The realm's components but its generated keys and the client registration policies every realm has:
/// user federation (LDAP, Kerberos), imported keys, and what else a tenant added.
fn component_items(settings: &Value, components: Vec<Value>) -> Vec<NotCarried> {
    const KEYS: &str = "org.keycloak.keys.KeyProvider";
    const REGISTRATION: &str =
        "org.keycloak.services.clientregistration.policy.ClientRegistrationPolicy";
    let realm_id = str_of(settings, "id");
    components
        .iter()
        .filter_map(|c| {
            let (ty, provider) = (str_of(c, "providerType"), str_of(c, "providerId"));
            let name = str_of(c, "name");
            match ty {
                REGISTRATION => None,
                KEYS if provider.ends_with("-generated") => None,
                KEYS => Some(named("key provider", format!("{name} ({provider})"))),
                "org.keycloak.storage.UserStorageProvider" => {
                    Some(named("user federation", format!("{name} ({provider})")))
                }
                // Mappers of a federation hang off it: the federation names them.
                _ if str_of(c, "parentId") != realm_id => None,
                _ => Some(named("component", format!("{name} ({ty})"))),
            }
        })
        .collect()
}

/// Client roles every new user gets beyond a new realm's (the account console's `view-profile` and
/// `manage-account`); the realm's own default roles are carried (a role's `default`).
fn default_roles(roles: Vec<Value>) -> Vec<NotCarried> {
    const NEW_REALM: &[&str] = &[
        "offline_access",
        "uma_authorization",
        "view-profile",
        "manage-account",
    ];
    roles
        .iter()
        .filter(|r| r["clientRole"] == true)
        .map(|r| str_of(r, "name"))
        .filter(|n| !NEW_REALM.contains(n))
        .map(|n| named("default client role", n))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_what_a_new_realm_lacks_is_named() {
        let settings = json!({"id": "r1"});
        let components = vec![
            json!({"name": "rsa-generated", "providerId": "rsa-generated", "providerType": "org.keycloak.keys.KeyProvider", "parentId": "r1"}),
            json!({"name": "Trusted Hosts", "providerId": "trusted-hosts", "providerType": "org.keycloak.services.clientregistration.policy.ClientRegistrationPolicy", "parentId": "r1"}),
            json!({"name": "corp", "providerId": "ldap", "providerType": "org.keycloak.storage.UserStorageProvider", "parentId": "r1"}),
            json!({"name": "email", "providerId": "user-attribute-ldap-mapper", "providerType": "org.keycloak.storage.ldap.mappers.LDAPStorageMapper", "parentId": "c1"}),
        ];
        assert_eq!(
            component_items(&settings, components),
            [named("user federation", "corp (ldap)")]
        );
        let roles = vec![
            json!({"name": "offline_access", "clientRole": false}),
            json!({"name": "reader", "clientRole": false}),
            json!({"name": "view-profile", "clientRole": true}),
            json!({"name": "view-orders", "clientRole": true}),
        ];
        assert_eq!(default_roles(roles), [named("default client role", "view-orders")]);
    }
}
