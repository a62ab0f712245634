//! The Keycloak test double against Keycloak's published OpenAPI document (`openapi-26.6.2.json` in the
//! shared reference): every route it serves exists there with the same method; a scenario (falconer's
//! apply, export and changes, and direct calls for the rest) reaches every route; every answer has a
//! documented status, and every body validates against the document's schema for it, with no property
//! the schema does not name.

use std::collections::BTreeSet;

use crate::keycloak_double::{KeycloakDouble, Options, ROUTES, Recorded};
use crate::support::{Workdir, code, contract};
use falconer::domains::iam::client::Keycloak;
use reqwest::Method;
use serde_json::{Value, json};

fn document() -> Value {
    contract::document("keycloak/openapi-26.6.2.json")
}

fn validator(doc: &Value, schema: &Value) -> jsonschema::Validator {
    contract::validator(doc, "components", schema)
}

fn operation<'a>(doc: &'a Value, method: &str, route: &str) -> Option<&'a Value> {
    doc["paths"]
        .get(format!("/admin/realms{route}"))?
        .get(method.to_lowercase())
}

async fn admin(kc: &KeycloakDouble) -> Keycloak {
    let o = Options::default();
    crate::support::keycloak_client(&kc.url, &o.username, &o.password)
}

#[test]
fn every_route_of_the_double_is_in_the_document() {
    let doc = document();
    let mut missing = Vec::new();
    for (method, route) in ROUTES {
        if operation(&doc, method, route).is_none() {
            missing.push(format!("{method} /admin/realms{route}"));
        }
    }
    assert!(
        missing.is_empty(),
        "not in the OpenAPI document: {missing:?}"
    );
    let unique: BTreeSet<_> = ROUTES.iter().collect();
    assert_eq!(unique.len(), ROUTES.len(), "a route is listed twice");
}

/// Drives every route: falconer's own calls, then direct calls for what falconer does not use in this
/// scenario (and duplicates, to see 409 bodies).
async fn scenario(kc: &KeycloakDouble) {
    let mut env = kc.env();
    for (k, v) in [
        ("ACME_SMTP_PASSWORD", "s1"),
        ("ACME_ORDERS_API_SECRET", "s2"),
        ("ACME_GOOGLE_CLIENT_SECRET", "s3"),
    ] {
        env.push((k.into(), v.into()));
    }
    let mut w = Workdir::new("iam", "contract", env);
    w.acme(&["tenant.toml", "iam.toml"]);
    code(&w.apply(&["WIDENS_ACCESS"]), 0);
    let out = w.dir.join("export.toml").display().to_string();
    code(
        &w.run(&["export", "--tenant", "acme", "--domain", "iam", "-o", &out]),
        0,
    );
    // Updates of every kind, then deletes of every kind.
    w.edit(
        "iam.toml",
        "description = \"Reads orders and customers\"",
        "description = \"Reads\"",
    );
    w.edit(
        "iam.toml",
        "description = \"Read orders\"",
        "description = \"Reads orders\"",
    );
    w.edit(
        "iam.toml",
        "\"claim.value\" = \"acme\"",
        "\"claim.value\" = \"acme-2\"",
    );
    w.edit(
        "iam.toml",
        "\"included.client.audience\" = \"orders-api\"",
        "\"included.client.audience\" = \"orders\"",
    );
    w.edit(
        "iam.toml",
        "description = \"Audience and claims for the ACME APIs\"",
        "description = \"APIs\"",
    );
    w.edit(
        "iam.toml",
        "config = { role = \"viewer\", syncMode = \"INHERIT\" }",
        "config = { role = \"editor\", syncMode = \"INHERIT\" }",
    );
    w.edit(
        "iam.toml",
        "display_name = \"Sign in with Google\"",
        "display_name = \"Google\"",
    );
    w.edit(
        "iam.toml",
        "attributes = { department = [\"operations\"] }",
        "attributes = { department = [\"ops\"] }",
    );
    w.edit(
        "iam.toml",
        "realm_roles = [\"admin\"]",
        "realm_roles = [\"editor\"]",
    );
    w.edit(
        "iam.toml",
        "client_roles = { orders-api = [\"orders:write\"] }",
        "client_roles = { orders-api = [\"orders:read\"] }",
    );
    w.edit("iam.toml", "service_account_roles = { realm = [\"viewer\"] }", "service_account_roles = { realm = [\"editor\"], client = { orders-api = [\"orders:read\"] } }");
    w.edit(
        "iam.toml",
        "composites = { realm = [\"editor\"], client",
        "composites = { client",
    );
    w.edit(
        "iam.toml",
        "optional_client_scopes = [\"offline_access\"]",
        "optional_client_scopes = [\"phone\"]",
    );
    w.edit(
        "iam.toml",
        "default_client_scopes = [\"profile\", \"email\", \"roles\", \"acme-api\"]",
        "default_client_scopes = [\"profile\", \"roles\", \"acme-api\"]",
    );
    w.edit(
        "iam.toml",
        "display_name = \"ACME Corporation\"",
        "display_name = \"ACME\"",
    );
    // The flow: descriptions (its own and a sub-flow's), a requirement and a config changed in place; then
    // a config removed; then a step removed (its steps taken away and added again). A required action.
    w.edit(
        "iam.toml",
        "description = \"Cookie, or a password and a one-time code for users who set one up\"",
        "description = \"Cookie or password\"",
    );
    w.edit(
        "iam.toml",
        "description = \"A one-time code for users who have one\"",
        "description = \"OTP\"",
    );
    w.edit(
        "iam.toml",
        "authenticator = \"auth-cookie\"\nrequirement = \"ALTERNATIVE\"",
        "authenticator = \"auth-cookie\"\nrequirement = \"DISABLED\"",
    );
    w.edit(
        "iam.toml",
        "userRealmLimit = \"3\"",
        "userRealmLimit = \"5\"",
    );
    w.edit(
        "iam.toml",
        "default_action = true",
        "default_action = false",
    );
    code(&w.apply(&["CHANGES_SIGN_IN"]), 0);
    w.converged();
    w.edit(
        "iam.toml",
        "\nconfig = { alias = \"acme session limits\", config = { userRealmLimit = \"5\", behavior = \"Deny new session\", errorMessage = \"\" } }",
        "",
    );
    code(&w.apply(&["CHANGES_SIGN_IN"]), 0);
    w.converged();
    w.edit(
        "iam.toml",
        "[[iam.authentication_flow.execution]]\nauthenticator = \"auth-cookie\"\nrequirement = \"DISABLED\"\n\n",
        "",
    );
    code(&w.apply(&["CHANGES_SIGN_IN"]), 0);
    w.converged();
    // What is left: everything else is deleted (roles, a client, a client role, a scope, mappers, a
    // group, composites and role mappings).
    w.write(
        "iam.toml",
        r#"format_version = "1"
[[iam.realm]]
name = "acme"
[[iam.role]]
name = "viewer"
[[iam.client]]
client_id = "orders-api"
public_client = false
secret = { env = "ACME_ORDERS_API_SECRET" }
service_accounts_enabled = true
[[iam.client.role]]
name = "orders:read"
[[iam.client.role]]
name = "orders:reader"
[[iam.client.role]]
name = "orders:write"
[[iam.identity_provider]]
alias = "google"
provider_id = "google"
client_secret = { env = "ACME_GOOGLE_CLIENT_SECRET" }
[[iam.group]]
name = "staff"
"#,
    );
    w.set_env("ACME_ORDERS_API_SECRET", "s2-rotated");
    code(
        &w.apply(&["DELETES_DATA", "WIDENS_ACCESS", "CHANGES_SIGN_IN"]),
        0,
    );
    w.converged();

    // Direct calls: what falconer did not need above, and conflicts.
    let k = admin(kc).await;
    let call = |m: Method, p: Vec<String>, b: Option<Value>| {
        let k = &k;
        async move {
            let refs: Vec<&str> = p.iter().map(String::as_str).collect();
            k.send(m, &refs, &[], b.as_ref()).await
        }
    };
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    let list = call(Method::GET, s(&["acme", "clients"]), None)
        .await
        .expect("clients")
        .body;
    let orders = list
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["clientId"] == "orders-api")
        .and_then(|c| c["id"].as_str())
        .expect("orders-api")
        .to_string();
    let scopes = call(Method::GET, s(&["acme", "client-scopes"]), None)
        .await
        .expect("scopes")
        .body;
    let scope = scopes
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["name"] == "profile")
        .and_then(|c| c["id"].as_str())
        .expect("profile")
        .to_string();
    call(Method::GET, s(&[]), None).await.expect("realms");
    call(Method::GET, s(&["acme", "clients", &orders]), None)
        .await
        .expect("client");
    call(
        Method::GET,
        s(&["acme", "clients", &orders, "client-secret"]),
        None,
    )
    .await
    .expect("secret");
    call(Method::GET, s(&["acme", "client-scopes", &scope]), None)
        .await
        .expect("scope");
    call(
        Method::GET,
        s(&["acme", "identity-provider", "instances", "google"]),
        None,
    )
    .await
    .expect("idp");
    let m = call(Method::POST, s(&["acme", "client-scopes", &scope, "protocol-mappers", "models"]),
        Some(json!({"name": "x", "protocol": "openid-connect", "protocolMapper": "oidc-audience-mapper", "config": {}}))).await.expect("mapper");
    let mid = m.created_id().expect("an id");
    call(Method::PUT, s(&["acme", "client-scopes", &scope, "protocol-mappers", "models", &mid]),
        Some(json!({"id": mid, "name": "x", "protocol": "openid-connect", "protocolMapper": "oidc-audience-mapper", "config": {"a": "b"}}))).await.expect("mapper update");
    call(
        Method::DELETE,
        s(&[
            "acme",
            "client-scopes",
            &scope,
            "protocol-mappers",
            "models",
            &mid,
        ]),
        None,
    )
    .await
    .expect("mapper delete");
    let g = call(
        Method::POST,
        s(&["acme", "groups"]),
        Some(json!({"name": "g"})),
    )
    .await
    .expect("group");
    let gid = g.created_id().expect("an id");
    call(Method::GET, s(&["acme", "groups", &gid]), None)
        .await
        .expect("group");
    call(Method::GET, s(&["acme", "groups", &gid, "children"]), None)
        .await
        .expect("children");
    call(
        Method::POST,
        s(&["acme", "groups", &gid, "children"]),
        Some(json!({"name": "c"})),
    )
    .await
    .expect("child");
    for (method, path, body) in [
        (Method::POST, s(&[]), json!({"realm": "acme"})),
        (
            Method::POST,
            s(&["acme", "roles"]),
            json!({"name": "viewer"}),
        ),
        (
            Method::POST,
            s(&["acme", "clients"]),
            json!({"clientId": "orders-api"}),
        ),
        (
            Method::POST,
            s(&["acme", "client-scopes"]),
            json!({"name": "profile"}),
        ),
        (
            Method::POST,
            s(&["acme", "identity-provider", "instances"]),
            json!({"alias": "google", "providerId": "google"}),
        ),
        (Method::POST, s(&["acme", "groups"]), json!({"name": "g"})),
        (
            Method::POST,
            s(&["acme", "clients", &orders, "roles"]),
            json!({"name": "orders:write"}),
        ),
    ] {
        let e = call(method, path, Some(body))
            .await
            .err()
            .expect("a conflict");
        assert_eq!(e.status(), Some(409), "{e}");
    }
    // The realm's configuration falconer's inventory reads (export above read each list).
    for (method, path, body) in [
        (
            Method::POST,
            s(&["acme", "authentication", "flows"]),
            Some(
                json!({"alias": "browser-mfa", "providerId": "basic-flow", "topLevel": true, "builtIn": false}),
            ),
        ),
        (
            Method::PUT,
            s(&[
                "acme",
                "authentication",
                "required-actions",
                "CONFIGURE_TOTP",
            ]),
            Some(json!({"alias": "CONFIGURE_TOTP", "enabled": true, "defaultAction": true})),
        ),
        (
            Method::PUT,
            s(&["acme", "client-policies", "policies"]),
            Some(
                json!({"policies": [{"name": "p", "enabled": true, "conditions": [], "profiles": []}]}),
            ),
        ),
        (
            Method::PUT,
            s(&["acme", "client-policies", "profiles"]),
            Some(json!({"profiles": [{"name": "q", "executors": []}]})),
        ),
        (
            Method::PUT,
            s(&["acme", "events", "config"]),
            Some(json!({"adminEventsEnabled": true})),
        ),
        (Method::PUT, s(&["acme", "default-groups", &gid]), None),
        (
            Method::PUT,
            s(&["acme", "default-default-client-scopes", &scope]),
            None,
        ),
        (
            Method::PUT,
            s(&["acme", "default-optional-client-scopes", &scope]),
            None,
        ),
    ] {
        call(method, path, body).await.expect("accepted");
    }
    // The events settings are one store, read through `/events/config` and the realm alike.
    let events = call(Method::GET, s(&["acme", "events", "config"]), None)
        .await
        .expect("the events settings")
        .body;
    let realm = call(Method::GET, s(&["acme"]), None)
        .await
        .expect("the realm")
        .body;
    assert_eq!(events["adminEventsEnabled"], json!(true), "{events}");
    assert_eq!(realm["adminEventsEnabled"], json!(true), "{realm}");
    // A default group taken off, and made one again.
    let default = s(&["acme", "default-groups", &gid]);
    call(Method::DELETE, default.clone(), None)
        .await
        .expect("taken off");
    call(Method::PUT, default, None)
        .await
        .expect("made a default group again");
    let e = call(
        Method::POST,
        s(&["acme", "authentication", "flows"]),
        Some(json!({"alias": "browser-mfa"})),
    )
    .await
    .err()
    .expect("a conflict");
    assert_eq!(e.status(), Some(409), "{e}");
    // A required action unregistered and registered again.
    let action = s(&[
        "acme",
        "authentication",
        "required-actions",
        "delete_credential",
    ]);
    call(Method::DELETE, action, None)
        .await
        .expect("unregistered");
    let register = s(&["acme", "authentication", "register-required-action"]);
    let body = json!({"providerId": "delete_credential", "name": "Delete Credential"});
    call(Method::POST, register, Some(body))
        .await
        .expect("registered");
    call(Method::DELETE, s(&["acme", "groups", &gid]), None)
        .await
        .expect("group delete");
    call(
        Method::DELETE,
        s(&["acme", "clients", &orders, "roles", "orders:reader"]),
        None,
    )
    .await
    .expect("client role delete");
    call(
        Method::DELETE,
        s(&["acme", "identity-provider", "instances", "google"]),
        None,
    )
    .await
    .expect("idp delete");
    call(Method::DELETE, s(&["acme", "client-scopes", &scope]), None)
        .await
        .ok();
    call(Method::DELETE, s(&["acme", "clients", &orders]), None)
        .await
        .expect("client delete");
    call(Method::DELETE, s(&["acme"]), None)
        .await
        .expect("realm delete");
}

/// Statuses a route answers that its operation documents (201 and 204 stand for a documented 200 that has
/// no body: Keycloak's own resources answer those, the document says 200).
fn documented(op: &Value, status: u16) -> bool {
    let r = &op["responses"];
    if r.get(status.to_string()).is_some() {
        return true;
    }
    matches!(status, 201 | 204) && r.get("200").is_some_and(|ok| ok.get("content").is_none())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_is_reached_and_every_body_validates() {
    let doc = document();
    let kc = KeycloakDouble::start(0, Options::default())
        .await
        .expect("starts");
    scenario(&kc).await;
    let log: Vec<Recorded> = kc.log();
    let unreached = contract::unreached(
        ROUTES,
        log.iter()
            .map(|r| (r.method.clone(), r.route.clone(), r.status)),
    );
    assert!(
        unreached.is_empty(),
        "routes the scenario did not reach: {unreached:?}"
    );

    let error = validator(
        &doc,
        &json!({"$ref": "#/components/schemas/ErrorRepresentation"}),
    );
    let mut checked = 0;
    let mut requests = 0;
    let mut problems = Vec::new();
    for r in log
        .iter()
        .filter(|r| r.route.starts_with('/') || r.route.is_empty())
    {
        if r.route == crate::keycloak_double::TOKEN_ROUTE {
            continue;
        }
        let Some(op) = operation(&doc, &r.method, &r.route) else {
            problems.push(format!("{} {}: not documented", r.method, r.route));
            continue;
        };
        if let Some(p) = request_problem(&doc, op, r) {
            problems.push(p);
        } else if !r.request.is_null() {
            requests += 1;
        }
        if !documented(op, r.status) && !ANY_ROUTE.contains(&r.status) {
            problems.push(format!(
                "{} {}: status {} is not documented",
                r.method, r.route, r.status
            ));
        }
        // Keycloak's refusals (`ErrorResponse`) are ErrorRepresentations; its 401, 404 and 405 come from the
        // HTTP layer as `{"error": "..."}`.
        if matches!(r.status, 400 | 409) {
            if let Err(e) = error.validate(&r.body) {
                problems.push(format!("{} {} {}: {e}", r.method, r.route, r.status));
            }
            checked += 1;
            continue;
        }
        if r.status >= 400 {
            if !r.body["error"].is_string() || r.body.as_object().is_some_and(|o| o.len() != 1) {
                problems.push(format!(
                    "{} {} {}: not an error body: {}",
                    r.method, r.route, r.status, r.body
                ));
            }
            continue;
        }
        if !(200..300).contains(&r.status) {
            continue;
        }
        if !documented(op, r.status) {
            problems.push(format!(
                "{} {}: status {} is not documented",
                r.method, r.route, r.status
            ));
        }
        let schema =
            op["responses"][r.status.to_string()]["content"]["application/json"]["schema"].clone();
        if schema.is_null() {
            if !r.body.is_null() {
                problems.push(format!(
                    "{} {} {}: a body where none is documented",
                    r.method, r.route, r.status
                ));
            }
            continue;
        }
        match validator(&doc, &schema).validate(&r.body) {
            Ok(()) => checked += 1,
            Err(e) => problems.push(format!(
                "{} {} {}: {e} (body {})",
                r.method, r.route, r.status, r.body
            )),
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
    assert!(checked > 100, "only {checked} bodies were checked");
    assert!(requests > 50, "only {requests} request bodies were checked");
}

/// Statuses any admin route answers whatever its operation documents: 401 (no valid token: the bearer
/// check runs before any resource) and 404 (a realm or parent that does not exist: `RealmsAdminResource`
/// looks the realm up before the operation's own resource is reached).
const ANY_ROUTE: &[u16] = &[401, 404];

/// What is wrong with a request's body, if anything: a body where the operation takes none, or one that does
/// not validate (strictly: no member the schema does not name) against the operation's request schema.
fn request_problem(doc: &Value, op: &Value, r: &Recorded) -> Option<String> {
    let mut schema = &op["requestBody"]["content"]["application/json"]["schema"];
    // The realm import reads its body as a stream: the document types it a binary string, and its summary
    // says it is "a full representation of that realm".
    let realm = json!({"$ref": "#/components/schemas/RealmRepresentation"});
    if r.method == "POST" && r.route.is_empty() {
        schema = &realm;
    }
    match (schema.is_null(), r.request.is_null()) {
        (_, true) => None,
        (true, false) => Some(format!(
            "{} {}: a request body where none is documented: {}",
            r.method, r.route, r.request
        )),
        (false, false) => validator(doc, schema).validate(&r.request).err().map(|e| {
            format!(
                "{} {}: the request does not validate: {e} (body {})",
                r.method, r.route, r.request
            )
        }),
    }
}
