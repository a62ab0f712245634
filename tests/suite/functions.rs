//! The functions domain against the OpenWhisk test double (`tests/support/openwhisk_double.rs`, built from
//! OpenWhisk's published API definition and docs; no OpenWhisk server runs here): the acme example applies
//! and converges, export then plan shows no changes for a namespace another client populated, each kind of
//! change plans minimally and applies with OpenWhisk's merge semantics, and refusals are said in words.

use crate::openwhisk_double::{OpenWhiskDouble, Options};
use crate::support::{Workdir, both, code, text};
use falconer::domains::functions::client::{Config, Whisk};
use reqwest::Method;
use serde_json::{Value, json};

const TOKEN: &str = "functions-token-3b7c";

async fn double() -> OpenWhiskDouble {
    OpenWhiskDouble::start(0, Options::default())
        .await
        .expect("the double starts")
}

fn workdir(tag: &str, ow: &OpenWhiskDouble) -> Workdir {
    let mut env = ow.env();
    env.push(("ACME_FUNCTIONS_API_TOKEN".into(), TOKEN.into()));
    Workdir::new("functions", tag, env)
}

/// A client of the double's API: "another client" that populates and reads the namespace.
fn whisk(ow: &OpenWhiskDouble) -> Whisk {
    Whisk::new(Config {
        url: ow.url.clone(),
        auth: Options::default().auth,
        tls: Default::default(),
    })
    .expect("a client")
}

async fn put(w: &Whisk, path: &[&str], body: Value) {
    let mut segs = vec!["namespaces", "_"];
    segs.extend_from_slice(path);
    w.send(Method::PUT, &segs, &[], Some(&body))
        .await
        .unwrap_or_else(|e| panic!("PUT {path:?}: {e}"));
}

async fn get(w: &Whisk, path: &[&str]) -> Value {
    let mut segs = vec!["namespaces", "acme"];
    segs.extend_from_slice(path);
    w.get(&segs, &[]).await.expect("GET").expect("found")
}

fn kv(v: &Value, key: &str) -> Option<Value> {
    v.as_array()?
        .iter()
        .find(|x| x["key"] == key)
        .map(|x| x["value"].clone())
}

fn acme(tag: &str, ow: &OpenWhiskDouble) -> Workdir {
    let w = workdir(tag, ow);
    w.acme(&["tenant.toml", "functions.toml", "code"]);
    w
}

/// The acme example's functions part applies to an empty namespace as declared, and a second plan shows no
/// changes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acme_applies_to_an_empty_namespace_and_converges() {
    let ow = double().await;
    let w = acme("acme", &ow);
    assert_eq!(w.changes().len(), 6);
    let o = w.apply(&[]);
    code(&o, 0);
    assert!(!both(&o).contains(TOKEN), "{}", both(&o));
    w.converged();

    let c = whisk(&ow);
    let pkg = get(&c, &["packages", "orders"]).await;
    assert_eq!(kv(&pkg["parameters"], "API_TOKEN"), Some(json!(TOKEN)));
    assert_eq!(
        kv(&pkg["annotations"], "description"),
        Some(json!("Order processing"))
    );
    let notify = get(&c, &["actions", "orders", "notify"]).await;
    let source = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/acme/code/notify.js"),
    )
    .expect("notify.js");
    assert_eq!(notify["exec"]["code"], source.as_str());
    assert_eq!(notify["limits"]["timeout"], 30000);
    assert_eq!(
        notify["limits"]["logs"], 10,
        "limits not declared keep the server's"
    );
    assert_eq!(kv(&notify["annotations"], "exec"), Some(json!("nodejs")));
    // The package's parameters show in its actions (merged by OpenWhisk), yet the plan was clean.
    assert_eq!(
        kv(&notify["parameters"], "ORDERS_TOPIC"),
        Some(json!("acme.orders"))
    );
    let pipeline = get(&c, &["actions", "orders", "pipeline"]).await;
    assert_eq!(
        pipeline["exec"]["components"],
        json!(["/acme/orders/enrich", "/acme/orders/notify"])
    );
    let rule = get(&c, &["rules", "on-order-created"]).await;
    assert_eq!(rule["status"], "active");
    assert_eq!(
        rule["action"],
        json!({"path": "acme/orders", "name": "pipeline"})
    );
    let trigger = get(&c, &["triggers", "order-created"]).await;
    assert_eq!(
        trigger["rules"]["acme/on-order-created"]["status"],
        "active"
    );
}

/// A namespace populated through the API by another client: export writes code files and redacts the
/// secret-looking parameter, and planning the export shows no changes, before and after falconer manages it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_then_plan_shows_no_changes() {
    let ow = double().await;
    let c = whisk(&ow);
    put(
        &c,
        &["packages", "shop"],
        json!({"parameters": [{"key": "REGION", "value": "eu"},
        {"key": "DB_PASSWORD", "value": "hunter2-db-9d9d"}, {"key": "retries", "value": 3}],
        "annotations": [{"key": "owner", "value": {"team": "shop"}}]}),
    )
    .await;
    put(
        &c,
        &["packages", "alarms"],
        json!({"binding": {"namespace": "whisk.system", "name": "alarms"}}),
    )
    .await;
    put(
        &c,
        &["actions", "shop", "checkout"],
        json!({"exec": {"kind": "nodejs:20", "code": "function main(a) {\n  return a;\n}\n"},
        "parameters": [{"key": "REGION", "value": "us"}, {"key": "mode", "value": "fast"}],
        "limits": {"timeout": 5000}, "annotations": [{"key": "web-export", "value": true}]}),
    )
    .await;
    put(
        &c,
        &["actions", "shop", "zip"],
        json!({"exec": {"kind": "python:3.11", "code": "UEsDBBQAAAAIAA==", "main": "handler"}}),
    )
    .await;
    put(
        &c,
        &["actions", "image"],
        json!({"exec": {"kind": "blackbox", "image": "acme/worker:1"}}),
    )
    .await;
    put(
        &c,
        &["actions", "flow"],
        json!({"exec": {"kind": "sequence", "components": ["/acme/shop/checkout", "/_/image"]}}),
    )
    .await;
    put(
        &c,
        &["triggers", "tick"],
        json!({"parameters": [{"key": "cron", "value": "*/5 * * * *"}],
        "annotations": [{"key": "feed", "value": "/whisk.system/alarms/alarm"}]}),
    )
    .await;
    put(
        &c,
        &["rules", "on-tick"],
        json!({"trigger": "/_/tick", "action": "/_/flow"}),
    )
    .await;
    put(
        &c,
        &["rules", "off-tick"],
        json!({"trigger": "/_/tick", "action": "/_/shop/checkout"}),
    )
    .await;
    c.send(
        Method::POST,
        &["namespaces", "_", "rules", "off-tick"],
        &[],
        Some(&json!({"status": "inactive"})),
    )
    .await
    .expect("disabled");

    let w = workdir("export", &ow);
    let out = w.dir.join("manifest").join("functions.toml");
    let o = w.run(&[
        "export",
        "--tenant",
        "acme",
        "--domain",
        "functions",
        "-o",
        &out.display().to_string(),
    ]);
    code(&o, 0);
    let exported = std::fs::read_to_string(&out).expect("the export");
    assert!(
        !exported.contains("hunter2-db-9d9d") && !both(&o).contains("hunter2-db-9d9d"),
        "{exported}"
    );
    assert_eq!(exported.matches("***REDACTED***").count(), 1, "{exported}");
    let checkout =
        std::fs::read_to_string(w.dir.join("manifest/code/shop/checkout.js")).expect("a code file");
    assert_eq!(checkout, "function main(a) {\n  return a;\n}\n");
    let zip =
        std::fs::read_to_string(w.dir.join("manifest/code/shop/zip.b64")).expect("a base64 file");
    assert_eq!(zip.trim(), "UEsDBBQAAAAIAA==");
    for expected in [
        "feed = \"/whisk.system/alarms/alarm\"",
        "status = \"inactive\"",
        "image = \"acme/worker:1\"",
        "main = \"handler\"",
    ] {
        assert!(
            exported.contains(expected),
            "{expected} is missing:\n{exported}"
        );
    }
    assert!(
        !exported.contains("\"exec\""),
        "server annotations are left out:\n{exported}"
    );
    w.converged();
    code(&w.apply(&[]), 0);
    w.converged();
}

/// Each kind of change plans one update naming exactly the changed fields, and applies with OpenWhisk's
/// merge semantics.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_change_plans_the_minimal_change_and_applies() {
    let ow = double().await;
    let mut w = acme("changes", &ow);
    code(&w.apply(&[]), 0);
    let c = whisk(&ow);

    // Code: the text plan shows a unified diff.
    w.edit(
        "functions.toml",
        "order[\"enriched\"] = True",
        "order[\"enriched\"] = \"yes\"",
    );
    let o = w.run(&["plan", &w.manifest()]);
    let plan = text(&o.stdout);
    assert!(
        plan.contains("-    order[\"enriched\"] = True")
            && plan.contains("+    order[\"enriched\"] = \"yes\""),
        "{plan}"
    );
    w.step("functions.action.orders/enrich", &["code"]);
    let enrich = get(&c, &["actions", "orders", "enrich"]).await;
    assert!(
        enrich["exec"]["code"]
            .as_str()
            .unwrap_or_default()
            .contains("\"yes\"")
    );
    assert_eq!(enrich["version"], "0.0.2");

    // Limits: merged by OpenWhisk, the others kept.
    w.edit(
        "functions.toml",
        "limits = { timeout = 10000, memory = 128 }",
        "limits = { timeout = 20000, memory = 128 }",
    );
    w.step("functions.action.orders/enrich", &["limits.timeout"]);
    let enrich = get(&c, &["actions", "orders", "enrich"]).await;
    assert_eq!(
        (
            enrich["limits"]["timeout"].as_u64(),
            enrich["limits"]["memory"].as_u64()
        ),
        (Some(20000), Some(128))
    );
    assert!(
        enrich["exec"]["code"]
            .as_str()
            .unwrap_or_default()
            .contains("\"yes\""),
        "the code is kept"
    );

    // Parameters: a value and a secret (rotated), replaced whole.
    w.edit(
        "functions.toml",
        "value = \"acme-exports\"",
        "value = \"acme-exports-2\"",
    );
    w.set_env("ACME_FUNCTIONS_API_TOKEN", "functions-token-rotated-1e1e");
    let o = w.run(&["plan", &w.manifest()]);
    let plan = both(&o);
    assert!(
        plan.contains("(sensitive value changed)") && !plan.contains("rotated-1e1e"),
        "{plan}"
    );
    w.step(
        "functions.package.orders",
        &[
            "parameter[API_TOKEN].secret",
            "parameter[EXPORT_BUCKET].value",
        ],
    );
    let pkg = get(&c, &["packages", "orders"]).await;
    assert_eq!(
        kv(&pkg["parameters"], "API_TOKEN"),
        Some(json!("functions-token-rotated-1e1e"))
    );
    assert_eq!(
        kv(&pkg["parameters"], "EXPORT_BUCKET"),
        Some(json!("acme-exports-2"))
    );
    assert_eq!(
        kv(&pkg["parameters"], "ORDERS_TOPIC"),
        Some(json!("acme.orders"))
    );

    // An annotation removed: through delAnnotations (OpenWhisk merges annotations).
    w.edit(
        "functions.toml",
        "annotations = { \"web-export\" = false }\n",
        "",
    );
    w.step("functions.action.orders/notify", &["annotations"]);
    let notify = get(&c, &["actions", "orders", "notify"]).await;
    assert_eq!(kv(&notify["annotations"], "web-export"), None);
    assert_eq!(kv(&notify["annotations"], "exec"), Some(json!("nodejs")));

    // A rule disabled, then enabled again.
    w.edit(
        "functions.toml",
        "status = \"active\"",
        "status = \"inactive\"",
    );
    w.step("functions.rule.on-order-created", &["status"]);
    assert_eq!(
        get(&c, &["rules", "on-order-created"]).await["status"],
        "inactive"
    );
    w.edit(
        "functions.toml",
        "status = \"inactive\"",
        "status = \"active\"",
    );
    w.step("functions.rule.on-order-created", &["status"]);
    assert_eq!(
        get(&c, &["rules", "on-order-created"]).await["status"],
        "active"
    );

    // A rule retargeted: its status is kept.
    w.edit(
        "functions.toml",
        "action = \"orders/pipeline\"",
        "action = \"orders/notify\"",
    );
    w.step("functions.rule.on-order-created", &["action"]);
    let rule = get(&c, &["rules", "on-order-created"]).await;
    assert_eq!(
        rule["action"],
        json!({"path": "acme/orders", "name": "notify"})
    );
    assert_eq!(rule["status"], "active");
}

/// What OpenWhisk refuses is said in words with its transaction id; a wrong key names no key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_are_explained() {
    let ow = double().await;
    let mut w = acme("refusals", &ow);
    code(&w.apply(&[]), 0);
    // Another client put an action in the package: deleting the package is refused, not forced.
    put(
        &whisk(&ow),
        &["actions", "orders", "extra"],
        json!({"exec": {"kind": "nodejs:20", "code": "x"}}),
    )
    .await;
    w.write("functions.toml", "format_version = \"1\"\n");
    let o = w.apply(&[]);
    code(&o, 1);
    let out = both(&o);
    assert!(
        out.contains("Package not empty (contains 1 entity)") && out.contains("(transaction "),
        "{out}"
    );
    assert!(ow.world().actions.contains_key("orders/extra"));
    // A runtime the server does not have.
    let w2 = acme("kind", &ow);
    w2.edit(
        "functions.toml",
        "kind = \"python:3.11\"",
        "kind = \"python:2.7\"",
    );
    let o = w2.apply(&[]);
    assert!(
        both(&o).contains("kind 'python:2.7' not in Set("),
        "{}",
        both(&o)
    );
    // A wrong key.
    w.set_env(
        "FALCONER_OPENWHISK_AUTH",
        "00000000-0000-4000-8000-00000000ac3e:wrong-key-4242",
    );
    let o = w.run(&["plan", &w.manifest()]);
    code(&o, 1);
    let out = both(&o);
    assert!(
        out.contains("refused the key (401): The supplied authentication is invalid"),
        "{out}"
    );
    assert!(!out.contains("wrong-key-4242"), "{out}");
}

/// Lists are read page by page: 450 actions come back whole, in three pages of at most 200.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lists_are_paged() {
    let ow = double().await;
    let c = whisk(&ow);
    for i in 0..450 {
        put(
            &c,
            &["actions", &format!("a{i:03}")],
            json!({"exec": {"kind": "nodejs:20", "code": "x"}}),
        )
        .await;
    }
    let all = c
        .list(&["namespaces", "acme", "actions"])
        .await
        .expect("listed");
    assert_eq!(all.len(), 450);
    let pages: Vec<String> = ow
        .log()
        .iter()
        .filter(|r| r.method == "GET" && r.route == "/namespaces/{namespace}/actions")
        .map(|r| r.query.clone())
        .collect();
    assert_eq!(
        pages,
        [
            "limit=200&skip=0",
            "limit=200&skip=200",
            "limit=200&skip=400"
        ]
    );
}

/// A profile's `[functions]` table gives the API host and the key (from the environment variable it names).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_profile_reaches_openwhisk() {
    let ow = double().await;
    let mut w = acme("profile", &ow);
    w.set_env("FALCONER_OPENWHISK_URL", "http://127.0.0.1:9");
    w.set_env("OW_KEY_FOR_TEST", &Options::default().auth);
    let profile = w.dir.join("profile.toml");
    std::fs::write(
        &profile,
        format!(
            "[functions]\nurl = \"{}/api/v1/\"\nauth = {{ env = \"OW_KEY_FOR_TEST\" }}\n",
            ow.url
        ),
    )
    .expect("profile");
    let p = profile.display().to_string();
    let o = w.run(&["--profile", &p, "apply", &w.manifest(), "--auto-approve"]);
    code(&o, 0);
    assert_eq!(ow.world().actions.len(), 3);
    std::fs::write(
        &profile,
        format!(
            "[functions]\nurl = \"{}\"\nauth = {{ env = \"OW_KEY_NOT_SET_ANYWHERE\" }}\n",
            ow.url
        ),
    )
    .expect("profile");
    let o = w.run(&["--profile", &p, "plan", &w.manifest()]);
    code(&o, 1);
    assert!(
        both(&o).contains("OpenWhisk key (env:OW_KEY_NOT_SET_ANYWHERE) cannot be read"),
        "{}",
        both(&o)
    );
}

/// Apply killed with SIGKILL at six points of a 105-entity run (after a given number of requests): each run
/// resumes what the one before left (a `PUT` that finds its entity gets 409 and is retried as an update), and
/// the last converges with every entity once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_applies_resume_and_converge() {
    let ow = double().await;
    let w = workdir("killed", &ow);
    let mut m = String::from("[tenant]\nid = \"acme\"\n");
    for p in 0..5 {
        m.push_str(&format!("\n[[functions.package]]\nname = \"p{p}\"\nparameter = [{{ key = \"n\", value = {p} }}]\n"));
    }
    for i in 0..80 {
        m.push_str(&format!(
            "\n[[functions.action]]\nname = \"a{i}\"\npackage = \"p{}\"\nkind = \"nodejs:20\"\ncode = \"function main() {{ return {{ n: {i} }}; }}\"\n",
            i % 5
        ));
    }
    for i in 0..10 {
        m.push_str(&format!(
            "\n[[functions.trigger]]\nname = \"t{i}\"\n\n[[functions.rule]]\nname = \"r{i}\"\ntrigger = \"t{i}\"\naction = \"p{}/a{i}\"\nstatus = \"inactive\"\n",
            i % 5
        ));
    }
    w.write("tenant.toml", &m);
    // Killed after the double has answered this many requests of the run (the run makes about 110).
    let kills = w
        .killed_applies(&[5, 20, 40, 60, 80, 95], || ow.log().len())
        .await;
    // Each run resumes the one before, so later runs have less to do; most kill points land mid-run.
    assert!(kills >= 4, "only {kills} runs were killed mid-way");
    code(&w.apply(&[]), 0);
    w.converged();
    let world = ow.world();
    assert_eq!(
        (
            world.packages.len(),
            world.actions.len(),
            world.triggers.len(),
            world.rules.len()
        ),
        (5, 80, 10, 10)
    );
    assert!(world.rules.values().all(|r| r["status"] == "inactive"));
}

/// What the namespace holds that no field reads, as another client set it up: a shared (`publish`) action
/// and trigger, and limits an operator set for the namespace. The acme example applied alone has none of
/// it (its export names nothing); each is named by `export` (members by name, limits with their number),
/// which `--strict` refuses, and a backup's functions domain is `incomplete`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_no_field_carries_is_named() {
    let ow = double().await;
    let w = acme("inventory", &ow);
    code(&w.apply(&[]), 0);
    let m = w.manifest();
    let export = crate::support::export_args("acme", &m, "functions");
    let export: Vec<&str> = export.iter().map(String::as_str).collect();
    crate::support::nothing_named(&w, &export);

    let c = whisk(&ow);
    put(
        &c,
        &["actions", "shared-hello"],
        json!({"exec": {"kind": "nodejs:20", "code": "function main() { return {}; }"}, "publish": true}),
    )
    .await;
    put(&c, &["triggers", "public-tick"], json!({"publish": true})).await;
    ow.world().limits =
        serde_json::from_value(json!({"invocationsPerMinute": 120, "storeActivations": false}))
            .expect("limits");
    let err = crate::support::named_and_strict(
        &w,
        &export,
        "functions: not carried (a manifest, export or backup does not hold them): 1 action member, 2 namespace limit, 1 trigger member: shared-hello: publish; invocationsPerMinute = 120; storeActivations = false; public-tick: publish",
    );
    assert!(!err.contains("function main"), "{err}");
    let repo = format!("file:{}", w.dir.join("repo").display());
    let record = crate::support::backup_record(&w, ("acme", &m, "functions"), &repo, &[], 0);
    assert_eq!(record["status"], "incomplete", "{record}");
}

/// A binding as OpenWhisk keeps it: it must name a package that exists and that the namespace may read
/// (refused otherwise, in the apply's words), it shows the bound package's parameters merged into its own,
/// and falconer sheds them on read so that it converges; a bound package that cannot be read stops the plan
/// instead of passing its parameters off as the binding's own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bindings_are_held_to_openwhisk_rules() {
    let manifest = |namespace: &str, name: &str| {
        format!(
            "format_version = \"1\"\n[[functions.package]]\nname = \"valhalla\"\nbinding = {{ namespace = \"{namespace}\", name = \"{name}\" }}\nparameter = [{{ key = \"place\", value = \"Valhalla\" }}]\n"
        )
    };
    let ow = double().await;
    let w = workdir("bindings", &ow);
    w.acme(&["tenant.toml"]);
    for (namespace, name, why) in [
        ("whisk.system", "nowhere", "does not exist"),
        ("globex", "internal", "not authorized"),
    ] {
        w.write("functions.toml", &manifest(namespace, name));
        let o = w.apply(&[]);
        assert_ne!(o.status.code(), Some(0), "{}", both(&o));
        assert!(both(&o).contains(why), "{}", both(&o));
    }
    w.write("functions.toml", &manifest("whisk.system", "samples"));
    code(&w.apply(&[]), 0);
    w.converged();
    let c = whisk(&ow);
    let shown = get(&c, &["packages", "valhalla"]).await;
    assert_eq!(kv(&shown["parameters"], "place"), Some(json!("Valhalla")));
    assert_eq!(kv(&shown["parameters"], "greeting"), Some(json!("Hello")));
    let exported = w.export_acme("functions", "exported.toml");
    assert!(
        exported.contains("Valhalla") && !exported.contains("greeting"),
        "{exported}"
    );

    // The bound package cannot be read: the plan fails and says why.
    let failing = OpenWhiskDouble::start(
        0,
        Options {
            fault: Some(std::sync::Arc::new(
                |m: &axum::http::Method, p: &str, _: &[u8]| {
                    (m == axum::http::Method::GET && p.ends_with("/whisk.system/packages/samples"))
                        .then(|| {
                            (
                                503,
                                vec![],
                                "{\"error\":\"unavailable\",\"code\":\"x\"}".to_string(),
                            )
                        })
                },
            )),
            ..Options::default()
        },
    )
    .await
    .expect("starts");
    let f = workdir("bindings-unread", &failing);
    f.acme(&["tenant.toml"]);
    f.write("functions.toml", &manifest("whisk.system", "samples"));
    code(&f.apply(&[]), 0);
    let o = f.run(&["plan", "--tenant", "acme"]);
    assert_ne!(o.status.code(), Some(0), "{}", both(&o));
    assert!(!text(&o.stdout).contains("greeting"), "{}", both(&o));
}

/// A web action's `require-whisk-auth` token is a secret: export and backups write it redacted, a manifest
/// gives it from the environment, a plan compares it by fingerprint and shows it `(sensitive)`, and an
/// apply sets it; `true`/`false` stays a plain field; the annotation written as such (a manifest of before)
/// becomes the field, warned as a plain secret.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_web_actions_auth_token_is_a_secret() {
    const OLD: &str = "wa-token-7f3e91";
    const NEW: &str = "wa-token-rotated-c4d2";
    let ow = double().await;
    let c = whisk(&ow);
    let web = |auth: Value| {
        json!({"exec": {"kind": "nodejs:20", "code": "function main() {}"},
        "annotations": [{"key": "web-export", "value": true}, {"key": "require-whisk-auth", "value": auth}]})
    };
    put(&c, &["actions", "hook"], web(json!(OLD))).await;
    put(&c, &["actions", "keyed"], web(json!(true))).await;

    let w = workdir("whisk-auth", &ow);
    let out = w.dir.join("manifest").join("functions.toml");
    let args = ["export", "--tenant", "acme", "--domain", "functions", "-o"];
    let o = w.run(&[&args[..], &[out.to_str().unwrap()]].concat());
    code(&o, 0);
    let exported = std::fs::read_to_string(&out).expect("the export");
    assert!(
        !exported.contains(OLD) && !both(&o).contains(OLD),
        "{exported}"
    );
    assert!(
        exported.contains("require_whisk_auth_token = \"***REDACTED***\""),
        "{exported}"
    );
    assert!(exported.contains("require_whisk_auth = true"), "{exported}");
    assert!(
        !exported.contains("require-whisk-auth"),
        "not an annotation any more: {exported}"
    );

    // A backup holds no token either.
    let repo = w.dir.join("repo");
    let backup = [
        "backup",
        "create",
        "--tenant",
        "acme",
        "--domain",
        "functions",
        "--repo",
    ];
    code(
        &w.run(&[&backup[..], &[&format!("file:{}", repo.display())]].concat()),
        0,
    );
    let mut files = vec![repo.clone()];
    while let Some(p) = files.pop() {
        match std::fs::read_dir(&p) {
            Ok(dir) => files.extend(dir.map(|e| e.expect("an entry").path())),
            Err(_) => {
                let bytes = std::fs::read(&p).expect("a file");
                assert!(
                    !String::from_utf8_lossy(&bytes).contains(OLD),
                    "{}",
                    p.display()
                );
            }
        }
    }

    // The manifest gives the token from the environment: the same one plans nothing, another one an
    // update of a sensitive field, applied.
    let mut w = w;
    let given = "require_whisk_auth_token = { env = \"HOOK_TOKEN\" }";
    w.edit(
        "functions.toml",
        "require_whisk_auth_token = \"***REDACTED***\"",
        given,
    );
    w.set_env("HOOK_TOKEN", OLD);
    w.converged();
    w.set_env("HOOK_TOKEN", NEW);
    let o = w.run(&["plan", &w.manifest()]);
    code(&o, 0);
    let plan = text(&o.stdout);
    assert!(
        plan.contains("~ functions.action.hook") && plan.contains("require_whisk_auth_token"),
        "{plan}"
    );
    assert!(!plan.contains(NEW) && !plan.contains(OLD), "{plan}");
    code(&w.apply(&[]), 0);
    assert_eq!(
        kv(
            &get(&c, &["actions", "hook"]).await["annotations"],
            "require-whisk-auth"
        ),
        Some(json!(NEW))
    );
    assert_eq!(
        kv(
            &get(&c, &["actions", "keyed"]).await["annotations"],
            "require-whisk-auth"
        ),
        Some(json!(true))
    );
    w.converged();

    // Written as an annotation, it is read into the field and warned as a plain secret.
    let old_style = "[tenant]\nid = \"acme\"\n\n[[functions.action]]\nname = \"hook\"\nkind = \"nodejs:20\"\n\
                     annotations = { \"web-export\" = true, \"require-whisk-auth\" = \"in-clear-5e5e\" }\n";
    std::fs::write(w.dir.join("old.toml"), old_style).expect("writes");
    let o = w.run(&["validate", w.dir.join("old.toml").to_str().unwrap()]);
    code(&o, 0);
    let said = text(&o.stderr);
    assert!(
        said.contains("require_whisk_auth_token") && said.contains("plain text"),
        "{said}"
    );
    assert!(!said.contains("in-clear-5e5e"), "{said}");
}
