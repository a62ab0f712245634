//! The realm's own settings that no kind reads, named where they differ from what a new realm has.
//!
//! Every member of the realm's representation (`GET /admin/realms/{realm}`) is one of: read by the realm
//! kind ([`super::rep::REALM_FIELDS`], the SMTP server); a sub-resource read through its own endpoint (by
//! a kind, or by the inventory: flows, components, default groups, ...); maintained by the server (its id,
//! version, the OTP applications it derives); deprecated and no longer answered; or a setting no kind
//! carries. The last are compared with a new realm's value (Keycloak 24 to 26: where the versions differ,
//! each version's value is a new realm's) and named, by member only, when they differ. A member falconer
//! does not know at all is named whenever it holds something: a newer Keycloak's setting is then said,
//! never passed over.

use std::sync::LazyLock;

use serde_json::{Map, Value};

use crate::domains::provider::NotCarried;

/// Members that are not settings of the realm itself, or are read elsewhere.
const ELSEWHERE: &[&str] = &[
    // The realm's identity, and what the server maintains or derives.
    "id",
    "realm",
    "keycloakVersion",
    "notBefore",
    "otpSupportedApplications",
    // Sub-resources, read through their endpoints by the kinds or the inventory.
    "roles",
    "groups",
    "users",
    "federatedUsers",
    "clients",
    "clientScopes",
    "scopeMappings",
    "clientScopeMappings",
    "identityProviders",
    "identityProviderMappers",
    "protocolMappers",
    "components",
    "authenticationFlows",
    "authenticatorConfig",
    "requiredActions",
    "defaultRole",
    "defaultGroups",
    "clientPolicies",
    "clientProfiles",
    "localizationTexts",
    "organizations",
    "userFederationProviders",
    "userFederationMappers",
    "defaultDefaultClientScopes",
    "defaultOptionalClientScopes",
    "adminPermissionsClient",
    // Deprecated: no longer answered (secrets among them are never read).
    "privateKey",
    "publicKey",
    "certificate",
    "codeSecret",
    "defaultRoles",
    "requiredCredentials",
    "passwordCredentialGrantAllowed",
    "userCacheEnabled",
    "realmCacheEnabled",
    "social",
    "updateProfileOnInitialSocialLogin",
    "socialProviders",
    "applicationScopeMappings",
    "applications",
    "oauthClients",
    "clientTemplates",
];

/// The settings no kind carries, each with the values a new realm has (JSON: member → values).
const NEW_REALM_JSON: &str = r#"{
        "displayNameHtml": [null, ""],
        "defaultSignatureAlgorithm": ["RS256"],
        "revokeRefreshToken": [false],
        "refreshTokenMaxReuse": [0],
        "accessTokenLifespanForImplicitFlow": [900],
        "ssoSessionIdleTimeoutRememberMe": [0],
        "ssoSessionMaxLifespanRememberMe": [0],
        "offlineSessionMaxLifespanEnabled": [false],
        "offlineSessionMaxLifespan": [5184000],
        "clientSessionIdleTimeout": [0],
        "clientSessionMaxLifespan": [0],
        "clientOfflineSessionIdleTimeout": [0],
        "clientOfflineSessionMaxLifespan": [0],
        "accessCodeLifespanUserAction": [300],
        "accessCodeLifespanLogin": [1800],
        "actionTokenGeneratedByAdminLifespan": [43200],
        "actionTokenGeneratedByUserLifespan": [300],
        "oauth2DeviceCodeLifespan": [600],
        "oauth2DevicePollingInterval": [5],
        "permanentLockout": [false],
        "maxTemporaryLockouts": [0],
        "bruteForceStrategy": ["MULTIPLE"],
        "maxFailureWaitSeconds": [900],
        "minimumQuickLoginWaitSeconds": [60],
        "waitIncrementSeconds": [60],
        "quickLoginCheckMilliSeconds": [1000],
        "maxDeltaTimeSeconds": [43200],
        "failureFactor": [30],
        "maxSecondaryAuthFailures": [0],
        "otpPolicyType": ["totp"],
        "otpPolicyAlgorithm": ["HmacSHA1"],
        "otpPolicyInitialCounter": [0],
        "otpPolicyDigits": [6],
        "otpPolicyLookAheadWindow": [1],
        "otpPolicyPeriod": [30],
        "otpPolicyCodeReusable": [false],
        "webAuthnPolicyRpEntityName": ["keycloak"],
        "webAuthnPolicySignatureAlgorithms": [["ES256"], ["ES256", "RS256"]],
        "webAuthnPolicyRpId": [""],
        "webAuthnPolicyAttestationConveyancePreference": ["not specified"],
        "webAuthnPolicyAuthenticatorAttachment": ["not specified"],
        "webAuthnPolicyRequireResidentKey": ["not specified"],
        "webAuthnPolicyUserVerificationRequirement": ["not specified"],
        "webAuthnPolicyCreateTimeout": [0],
        "webAuthnPolicyAvoidSameAuthenticatorRegister": [false],
        "webAuthnPolicyAcceptableAaguids": [[]],
        "webAuthnPolicyExtraOrigins": [[]],
        "webAuthnPolicyPasswordlessRpEntityName": ["keycloak"],
        "webAuthnPolicyPasswordlessSignatureAlgorithms": [["ES256"], ["ES256", "RS256"]],
        "webAuthnPolicyPasswordlessRpId": [""],
        "webAuthnPolicyPasswordlessAttestationConveyancePreference": ["not specified"],
        "webAuthnPolicyPasswordlessAuthenticatorAttachment": ["not specified"],
        "webAuthnPolicyPasswordlessRequireResidentKey": ["not specified", "Yes"],
        "webAuthnPolicyPasswordlessUserVerificationRequirement": ["required"],
        "webAuthnPolicyPasswordlessCreateTimeout": [0],
        "webAuthnPolicyPasswordlessAvoidSameAuthenticatorRegister": [false],
        "webAuthnPolicyPasswordlessAcceptableAaguids": [[]],
        "webAuthnPolicyPasswordlessExtraOrigins": [[]],
        "webAuthnPolicyPasswordlessPasskeysEnabled": [false],
        "browserSecurityHeaders": [{
            "contentSecurityPolicyReportOnly": "",
            "xContentTypeOptions": "nosniff",
            "referrerPolicy": "no-referrer",
            "xRobotsTag": "none",
            "xFrameOptions": "SAMEORIGIN",
            "contentSecurityPolicy": "frame-src 'self'; frame-ancestors 'self'; object-src 'none';",
            "xXSSProtection": "1; mode=block",
            "strictTransportSecurity": "max-age=31536000; includeSubDomains"
        }],
        "browserFlow": ["browser"],
        "registrationFlow": ["registration"],
        "directGrantFlow": ["direct grant"],
        "resetCredentialsFlow": ["reset credentials"],
        "clientAuthenticationFlow": ["clients"],
        "dockerAuthenticationFlow": ["docker auth"],
        "firstBrokerLoginFlow": ["first broker login"],
        "userManagedAccessAllowed": [false],
        "organizationsEnabled": [false],
        "verifiableCredentialsEnabled": [false],
        "adminPermissionsEnabled": [false],
        "scimApiEnabled": [false]
    }"#;

static NEW_REALM: LazyLock<Map<String, Value>> =
    LazyLock::new(|| serde_json::from_str(NEW_REALM_JSON).unwrap_or_default());

/// Whether `v` holds nothing (absent, `null`, `false`, `0`, empty).
fn holds_nothing(v: &Value) -> bool {
    match v {
        Value::Null | Value::Bool(false) => true,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        Value::Bool(true) => false,
    }
}

/// Whether `v` is one of a new realm's values: an object member by member (a member a new realm lacks
/// holds nothing; one this version does not answer is as a new realm has it).
fn as_new(v: &Value, values: &[Value]) -> bool {
    values.iter().any(|new| match (v, new) {
        (Value::Object(live), Value::Object(new)) => live
            .iter()
            .all(|(k, x)| new.get(k).map_or(holds_nothing(x), |n| n == x)),
        _ => v == new,
    })
}

/// The realm's settings that no kind reads and that differ from a new realm's, named by member (never by
/// value); `carried`: the members the realm kind reads (its flow bindings among them).
pub fn realm_settings(settings: &Value, carried: &[String]) -> Vec<NotCarried> {
    let mut out = Vec::new();
    for (member, v) in settings.as_object().into_iter().flatten() {
        if ELSEWHERE.contains(&member.as_str()) || carried.contains(member) {
            continue;
        }
        let differs = match NEW_REALM.get(member).and_then(Value::as_array) {
            Some(values) => !as_new(v, values),
            None => !holds_nothing(v),
        };
        if differs {
            let name = match NEW_REALM.contains_key(member) {
                true => format!("realm {member}"),
                false => format!("realm {member} (a setting falconer does not know)"),
            };
            out.push(NotCarried {
                kind: "realm setting".into(),
                name,
            });
        }
    }
    out
}

/// The client scopes a new realm gives every new client (Keycloak 24 to 26), as default or optional; the
/// first `always` of each are every version's.
const NEW_DEFAULT_SCOPES: (&[&str], usize) = (&["profile", "email", "roles", "web-origins", "acr", "basic"], 5);
const NEW_OPTIONAL_SCOPES: (&[&str], usize) =
    (&["address", "phone", "offline_access", "microprofile-jwt", "organization"], 4);

/// The realm's default client scopes (`optional`: the optional ones) beyond or without a new realm's.
pub fn default_scopes(live: &[Value], optional: bool) -> Vec<NotCarried> {
    let ((new, always), what) = match optional {
        false => (NEW_DEFAULT_SCOPES, "default client scope"),
        true => (NEW_OPTIONAL_SCOPES, "optional client scope"),
    };
    let names: Vec<&str> = live
        .iter()
        .filter_map(|s| s.get("name").and_then(Value::as_str))
        .collect();
    let added = names.iter().filter(|n| !new.contains(n)).map(|n| format!("realm {what} {n}"));
    let removed = new[..always]
        .iter()
        .filter(|n| !names.contains(n))
        .map(|n| format!("realm {what} {n} (removed)"));
    added
        .chain(removed)
        .map(|name| NotCarried {
            kind: "realm client scopes".into(),
            name,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn named(settings: Value) -> Vec<String> {
        // What the realm kind reads, as the inventory passes it.
        let carried: Vec<String> = super::super::rep::REALM_FIELDS
            .iter()
            .map(|f| super::super::rep::camel(f))
            .chain(["smtpServer".to_string()])
            .collect();
        let mut names: Vec<String> = realm_settings(&settings, &carried)
            .into_iter()
            .map(|n| n.name)
            .collect();
        names.sort();
        names
    }

    #[test]
    fn the_new_realms_values_are_read() {
        assert!(NEW_REALM.len() > 70, "{}", NEW_REALM.len());
        assert!(NEW_REALM.values().all(|v| v.as_array().is_some_and(|a| !a.is_empty())));
        assert!(NEW_REALM.keys().all(|k| !ELSEWHERE.contains(&k.as_str())));
    }

    #[test]
    fn a_new_realms_settings_name_nothing() {
        let new = json!({
            "id": "r1", "realm": "acme", "displayName": "ACME", "notBefore": 0,
            "otpPolicyDigits": 6, "otpSupportedApplications": ["totpAppGoogleName"],
            "webAuthnPolicySignatureAlgorithms": ["ES256", "RS256"], "displayNameHtml": null,
            "browserSecurityHeaders": {"xFrameOptions": "SAMEORIGIN", "xRobotsTag": "none"},
            "browserFlow": "browser-mfa", "eventsEnabled": true, "someNewFlag": false,
            "smtpServer": {"host": "mail"}, "clients": [{"clientId": "x"}]
        });
        assert!(named(new).is_empty());
    }

    #[test]
    fn what_a_tenant_changed_is_named_by_member() {
        let changed = json!({
            "otpPolicyDigits": 8, "failureFactor": 5,
            "browserSecurityHeaders": {"xFrameOptions": "DENY", "xRobotsTag": "none"},
            "directGrantFlow": "browser", "someNewSetting": "on", "codeSecret": "never read"
        });
        assert_eq!(
            named(changed),
            [
                "realm browserSecurityHeaders",
                "realm failureFactor",
                "realm otpPolicyDigits",
                "realm someNewSetting (a setting falconer does not know)"
            ]
        );
    }

    #[test]
    fn default_scopes_beyond_or_without_a_new_realms_are_named() {
        let scopes = |names: &[&str]| -> Vec<Value> { names.iter().map(|n| json!({"id": n, "name": n})).collect() };
        assert!(default_scopes(&scopes(&["profile", "email", "roles", "web-origins", "acr", "basic"]), false).is_empty());
        // Keycloak 24 has no `basic` scope: a new realm there names nothing either.
        assert!(default_scopes(&scopes(&["profile", "email", "roles", "web-origins", "acr"]), false).is_empty());
        let names: Vec<String> = default_scopes(&scopes(&["profile", "roles", "web-origins", "acr", "tenant-audience"]), false)
            .into_iter()
            .map(|n| n.name)
            .collect();
        assert_eq!(names, ["realm default client scope tenant-audience", "realm default client scope email (removed)"]);
        let optional = default_scopes(&scopes(&["address", "phone", "offline_access", "microprofile-jwt"]), true);
        assert!(optional.is_empty());
    }
}
