//! The OpenWhisk test double against OpenWhisk's published API definition (`apiv1swagger.json` in the shared
//! reference): every route it serves exists there with the same method; a scenario (falconer's apply,
//! export, changes and deletes, and direct calls for the rest) reaches every route; every answer has a
//! documented status, and every body validates against the definition's schema for it (errors against
//! `ErrorMessage`), with no property the schema does not name.

use std::collections::BTreeSet;

use crate::openwhisk_double::{OpenWhiskDouble, Options, ROUTES, Recorded};
use crate::support::{Workdir, code, contract};
use falconer::domains::functions::client::{Config, Whisk};
use reqwest::Method;
use serde_json::{Value, json};

fn document() -> Value {
    contract::document("openwhisk/apiv1swagger.json")
}

fn operation<'a>(doc: &'a Value, method: &str, route: &str) -> Option<&'a Value> {
    doc["paths"].get(route)?.get(method.to_lowercase())
}

/// A response of an operation, with `#/responses/...` resolved.
fn response<'a>(doc: &'a Value, op: &'a Value, status: u16) -> Option<&'a Value> {
    let r = op["responses"].get(status.to_string())?;
    match r.get("$ref").and_then(Value::as_str) {
        Some(reference) => doc["responses"].get(reference.trim_start_matches("#/responses/")),
        None => Some(r),
    }
}

#[test]
fn every_route_of_the_double_is_in_the_definition() {
    let doc = document();
    let missing: Vec<String> = ROUTES
        .iter()
        .filter(|(m, r)| operation(&doc, m, r).is_none())
        .map(|(m, r)| format!("{m} /api/v1{r}"))
        .collect();
    assert!(missing.is_empty(), "not in apiv1swagger.json: {missing:?}");
    let unique: BTreeSet<_> = ROUTES.iter().collect();
    assert_eq!(unique.len(), ROUTES.len(), "a route is listed twice");
}

async fn scenario(ow: &OpenWhiskDouble) {
    let mut env = ow.env();
    env.push(("ACME_FUNCTIONS_API_TOKEN".into(), "t1".into()));
    let mut w = Workdir::new("functions", "contract", env);
    w.acme(&["tenant.toml", "functions.toml", "code"]);
    code(&w.apply(&[]), 0);
    let out = w.dir.join("export.toml").display().to_string();
    code(
        &w.run(&[
            "export",
            "--tenant",
            "acme",
            "--domain",
            "functions",
            "-o",
            &out,
        ]),
        0,
    );
    w.edit(
        "functions.toml",
        "order[\"enriched\"] = True",
        "order[\"enriched\"] = 1",
    );
    w.edit(
        "functions.toml",
        "annotations = { \"web-export\" = false }\n",
        "",
    );
    w.edit(
        "functions.toml",
        "status = \"active\"",
        "status = \"inactive\"",
    );
    w.edit(
        "functions.toml",
        "value = \"orders-api\"",
        "value = \"shop\"",
    );
    w.set_env("ACME_FUNCTIONS_API_TOKEN", "t2");
    code(&w.apply(&[]), 0);
    w.edit(
        "functions.toml",
        "action = \"orders/pipeline\"",
        "action = \"orders/notify\"",
    );
    code(&w.apply(&[]), 0);
    w.converged();

    // Direct calls: a top-level action, and conflicts and refusals for their bodies.
    let c = Whisk::new(Config {
        url: ow.url.clone(),
        auth: Options::default().auth,
        tls: Default::default(),
    })
    .expect("a client");
    let top = ["namespaces", "_", "actions", "solo"];
    c.send(
        Method::PUT,
        &top,
        &[],
        Some(&json!({"exec": {"kind": "nodejs:20", "code": "x"}})),
    )
    .await
    .expect("created");
    c.send(Method::GET, &top, &[], None).await.expect("read");
    for (path, body) in [
        (
            &top[..],
            json!({"exec": {"kind": "nodejs:20", "code": "x"}}),
        ),
        (&["namespaces", "_", "packages", "orders"][..], json!({})),
        (
            &["namespaces", "_", "triggers", "order-created"][..],
            json!({}),
        ),
        (
            &["namespaces", "_", "rules", "on-order-created"][..],
            json!({"trigger": "/_/order-created", "action": "/_/solo"}),
        ),
    ] {
        let e = c
            .send(Method::PUT, path, &[], Some(&body))
            .await
            .expect_err("a conflict");
        assert_eq!(e.status(), Some(409), "{e}");
    }
    let e = c
        .send(
            Method::DELETE,
            &["namespaces", "_", "packages", "orders"],
            &[],
            None,
        )
        .await
        .expect_err("not empty");
    assert_eq!(e.status(), Some(409), "{e}");
    c.send(Method::DELETE, &top, &[], None)
        .await
        .expect("deleted");
    // Everything else is deleted by falconer.
    w.write("functions.toml", "format_version = \"1\"\n");
    code(&w.apply(&[]), 0);
    assert!(ow.world().packages.is_empty() && ow.world().actions.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_is_reached_and_every_body_validates() {
    let doc = document();
    let ow = OpenWhiskDouble::start(0, Options::default())
        .await
        .expect("starts");
    scenario(&ow).await;
    let log = ow.log();
    let unreached = contract::unreached(
        ROUTES,
        log.iter()
            .map(|r| (r.method.clone(), r.route.clone(), r.status)),
    );
    assert!(
        unreached.is_empty(),
        "routes the scenario did not reach: {unreached:?}"
    );

    let error = contract::validator(
        &doc,
        "definitions",
        &json!({"$ref": "#/definitions/ErrorMessage"}),
    );
    let (mut checked, mut errors) = (0, 0);
    let mut problems = Vec::new();
    let mut requests = 0;
    for r in &log {
        let Some(op) = operation(&doc, &r.method, &r.route) else {
            problems.push(format!("{} {}: not in the definition", r.method, r.route));
            continue;
        };
        match request_problem(&doc, op, r) {
            Some(p) => problems.push(p),
            None if !r.request.is_null() => requests += 1,
            None => {}
        }
        let Some(resp) = response(&doc, op, r.status) else {
            problems.push(format!(
                "{} {}: status {} is not documented",
                r.method, r.route, r.status
            ));
            continue;
        };
        if r.status >= 400 {
            match error.validate(&r.body) {
                Ok(()) => errors += 1,
                Err(e) => problems.push(format!("{} {} {}: {e}", r.method, r.route, r.status)),
            }
            continue;
        }
        let Some(schema) = resp.get("schema") else {
            continue;
        };
        match contract::validator(&doc, "definitions", schema).validate(&r.body) {
            Ok(()) => checked += 1,
            Err(e) => problems.push(format!(
                "{} {} {}: {e} (body {})",
                r.method, r.route, r.status, r.body
            )),
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
    assert!(checked > 40, "only {checked} bodies were checked");
    assert!(errors >= 5, "only {errors} error bodies were checked");
    assert!(requests > 15, "only {requests} request bodies were checked");
}

/// What is wrong with a request's body, if anything: a body where the operation takes none, or one that does
/// not validate (strictly: no member the schema does not name) against the operation's `in: body`
/// parameter.
fn request_problem(doc: &Value, op: &Value, r: &Recorded) -> Option<String> {
    let schema = op["parameters"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|p| p["in"] == "body")
        .map(|p| &p["schema"]);
    match (schema, r.request.is_null()) {
        (_, true) => None,
        (None, false) => Some(format!(
            "{} {}: a request body where none is documented: {}",
            r.method, r.route, r.request
        )),
        (Some(schema), false) => contract::validator(doc, "definitions", schema)
            .validate(&r.request)
            .err()
            .map(|e| {
                format!(
                    "{} {}: the request does not validate: {e} (body {})",
                    r.method, r.route, r.request
                )
            }),
    }
}
