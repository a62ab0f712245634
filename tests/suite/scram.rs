//! Kafka SCRAM credentials (`kafka.scram_credential`) against the protocol double, which keeps them as a
//! Kafka controller does (salt, iterations, salted password) and signs users in with them: noida-db does
//! not offer DescribeUserScramCredentials / AlterUserScramCredentials (API keys 50 and 51), which the double
//! is also started without to show the refusal.

use crate::kafka_double::{KafkaDouble, Sasl, Secured};
use crate::support::{Workdir, both, code};

const ADMIN_PASSWORD: &str = "falconer-admin-pw";

/// A double with SCRAM sign-in, where falconer signs in as `falconer` (SCRAM-SHA-512).
async fn double() -> KafkaDouble {
    KafkaDouble::start_secured(Secured {
        tls: None,
        sasl: Some(Sasl {
            mechanisms: vec!["SCRAM-SHA-256".into(), "SCRAM-SHA-512".into()],
            users: vec![("falconer".into(), ADMIN_PASSWORD.into())],
            ..Sasl::default()
        }),
    })
    .await
}

/// Falconer's environment for `double`, signed in as `user` with `password` and `mechanism`.
fn env(double: &KafkaDouble, user: &str, password: &str, mechanism: &str) -> Vec<(String, String)> {
    [
        ("FALCONER_KAFKA_BOOTSTRAP", double.bootstrap.as_str()),
        ("FALCONER_KAFKA_SECURITY_PROTOCOL", "SASL_PLAINTEXT"),
        ("FALCONER_KAFKA_SASL_MECHANISM", mechanism),
        ("FALCONER_KAFKA_USERNAME", user),
        ("FALCONER_KAFKA_PASSWORD", password),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

fn credential(user: &str, mechanism: &str, extra: &str) -> String {
    format!(
        "\n[[kafka.scram_credential]]\nuser = \"{user}\"\nmechanism = \"{mechanism}\"\n{extra}password = {{ env = \"ORDERS_PW\" }}\n"
    )
}

/// The double's stored credentials: (user, mechanism, iterations).
fn stored(double: &KafkaDouble) -> Vec<(String, String, i32)> {
    let st = double.state.lock().expect("state");
    let all = st.scram.lock().expect("credentials");
    all.iter()
        .map(|((u, m), c)| (u.clone(), m.clone(), c.iterations))
        .collect()
}

/// Whether `user` signs in to the double with `password` (falconer itself reads the cluster as that user).
fn signs_in(double: &KafkaDouble, w: &Workdir, user: &str, password: &str) -> bool {
    let o = w
        .command(&["plan", &w.manifest()])
        .envs(env(double, user, password, "SCRAM-SHA-512"))
        .output()
        .expect("runs");
    o.status.success()
}

/// An apply refused for a hazard it was not allowed.
fn needs_allow(o: &std::process::Output) {
    assert_ne!(o.status.code(), Some(0), "{}", both(o));
    assert!(both(o).contains("CHANGES_SIGN_IN"), "{}", both(o));
}

/// Created in one AlterUserScramCredentials (salted by librdkafka: the double never sees the password),
/// read back as planned, signed in with; iterations changed (a hazard), the password rotated, one deleted
/// (a hazard); every step converges, and the password is in no output.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scram_credentials_apply_sign_in_rotate_and_delete() {
    let double = double().await;
    let mut e = env(&double, "falconer", ADMIN_PASSWORD, "SCRAM-SHA-512");
    e.push(("ORDERS_PW".into(), "orders-first-pw".into()));
    let w = Workdir::new("kafka", "scram", e);
    let a = credential("acme.orders-svc", "SCRAM-SHA-512", "");
    let b = credential("acme.billing-svc", "SCRAM-SHA-256", "iterations = 8192\n");
    w.write("m.toml", &format!("[tenant]\nid = \"acme\"\n{a}{b}"));
    let changes = w.changes();
    assert_eq!(changes.len(), 2, "{changes:?}");
    assert!(changes.iter().all(|c| c.1 == "create"), "{changes:?}");
    let o = w.apply(&[]);
    code(&o, 0);
    assert!(!both(&o).contains("orders-first-pw"), "{}", both(&o));
    assert_eq!(double.count("AlterUserScramCredentials"), 1);
    assert_eq!(
        stored(&double),
        vec![
            ("acme.billing-svc".into(), "SCRAM-SHA-256".into(), 8192),
            ("acme.orders-svc".into(), "SCRAM-SHA-512".into(), 4096),
        ]
    );
    {
        let st = double.state.lock().expect("state");
        let creds = st.scram.lock().expect("credentials");
        let c = creds
            .get(&("acme.orders-svc".to_string(), "SCRAM-SHA-512".to_string()))
            .expect("stored");
        assert_eq!((c.salt.len(), c.salted_password.len()), (64, 64));
        assert!(
            !c.salted_password
                .windows(15)
                .any(|x| x == b"orders-first-pw")
        );
    }
    w.converged();
    let o = w.run(&["doctor"]);
    assert!(both(&o).contains("2 readable"), "{}", both(&o));
    assert!(signs_in(&double, &w, "acme.orders-svc", "orders-first-pw"));
    assert!(!signs_in(&double, &w, "acme.orders-svc", "a-wrong-pw"));
    assert!(
        double
            .state
            .lock()
            .expect("state")
            .logins
            .contains(&("SCRAM-SHA-512".into(), "acme.orders-svc".into()))
    );

    // More iterations: set anew (the password from the manifest), a hazard to allow.
    let b2 = credential("acme.billing-svc", "SCRAM-SHA-256", "iterations = 16384\n");
    w.write("m.toml", &format!("[tenant]\nid = \"acme\"\n{a}{b2}"));
    needs_allow(&w.apply(&[]));
    w.step_with(
        "kafka.scram_credential.\"acme.billing-svc\".SCRAM-SHA-256",
        &["iterations"],
        &["CHANGES_SIGN_IN"],
    );
    assert!(stored(&double).contains(&("acme.billing-svc".into(), "SCRAM-SHA-256".into(), 16384)));

    // A new password: both credentials are set again with it; the old one no longer signs in.
    let mut e = env(&double, "falconer", ADMIN_PASSWORD, "SCRAM-SHA-512");
    e.push(("ORDERS_PW".into(), "orders-second-pw".into()));
    let w2 = Workdir {
        dir: w.dir.clone(),
        env: e,
    };
    let changes = w2.changes();
    assert_eq!(changes.len(), 2, "{changes:?}");
    assert!(
        changes
            .iter()
            .all(|c| c.1 == "update" && c.2 == ["password"]),
        "{changes:?}"
    );
    code(&w2.apply(&[]), 0);
    w2.converged();
    assert!(signs_in(
        &double,
        &w2,
        "acme.orders-svc",
        "orders-second-pw"
    ));
    assert!(!signs_in(
        &double,
        &w2,
        "acme.orders-svc",
        "orders-first-pw"
    ));

    // One deleted: the user can no longer sign in with it, a hazard to allow.
    w2.write("m.toml", &format!("[tenant]\nid = \"acme\"\n{a}"));
    needs_allow(&w2.apply(&[]));
    code(&w2.apply(&["CHANGES_SIGN_IN"]), 0);
    assert_eq!(
        stored(&double),
        vec![("acme.orders-svc".into(), "SCRAM-SHA-512".into(), 4096)]
    );
    w2.converged();
    let _ = std::fs::remove_dir_all(&w.dir);
}

/// A cluster without the API (the double answering ApiVersions without keys 50 and 51, as Kafka before 2.7):
/// nothing is read, and a credential to create is refused before anything is written, saying why. A
/// manifest breaking Kafka's rules is refused by validation.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_without_scram_credentials_refuses_them_before_writing() {
    let double = KafkaDouble::start().await;
    double.state.lock().expect("state").without_scram = true;
    let e = vec![
        (
            "FALCONER_KAFKA_BOOTSTRAP".to_string(),
            double.bootstrap.clone(),
        ),
        ("ORDERS_PW".to_string(), "pw".to_string()),
    ];
    let w = Workdir::new("kafka", "noscram", e);
    let topic = "\n[[kafka.topic]]\nname = \"acme.orders\"\npartitions = 1\n";
    let a = credential("acme.orders-svc", "SCRAM-SHA-512", "");
    w.write("m.toml", &format!("[tenant]\nid = \"acme\"\n{topic}{a}"));
    let o = w.apply(&[]);
    assert_ne!(o.status.code(), Some(0), "{}", both(&o));
    assert!(
        both(&o).contains("does not offer SCRAM credentials"),
        "{}",
        both(&o)
    );
    assert_eq!(double.count("CreateTopics"), 0, "nothing is written");
    assert_eq!(double.count("AlterUserScramCredentials"), 0);

    let bad = credential("acme.orders-svc", "SCRAM-SHA-512", "iterations = 1000\n");
    w.write("m.toml", &format!("[tenant]\nid = \"acme\"\n{bad}"));
    let o = w.run(&["validate", &w.manifest()]);
    assert_ne!(o.status.code(), Some(0));
    assert!(both(&o).contains("kafka-scram-credential"), "{}", both(&o));
    let other = credential("globex.orders-svc", "SCRAM-SHA-512", "");
    w.write("m.toml", &format!("[tenant]\nid = \"acme\"\n{other}"));
    let o = w.run(&["validate", &w.manifest()]);
    assert!(both(&o).contains("out-of-scope"), "{}", both(&o));
    let _ = std::fs::remove_dir_all(&w.dir);
}

/// Carried by export and backup (the password never: a backup cannot hold it), and restored into another
/// tenant with the identifier map: refused before writing while the password is unknown, then created with
/// the password a manifest gives, verified, and signed in with.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scram_credentials_back_up_and_restore_into_another_tenant() {
    let double = double().await;
    let mut e = env(&double, "falconer", ADMIN_PASSWORD, "SCRAM-SHA-512");
    e.push(("ORDERS_PW".into(), "orders-first-pw".into()));
    let w = Workdir::new("kafka", "scramrs", e);
    let a = credential("acme.orders-svc", "SCRAM-SHA-512", "iterations = 8192\n");
    w.write("m.toml", &format!("[tenant]\nid = \"acme\"\n{a}"));
    code(&w.apply(&[]), 0);

    let o = w.run(&["export", "--tenant", "acme", "--manifest", &w.manifest()]);
    code(&o, 0);
    let exported = both(&o);
    assert!(
        exported.contains("[[kafka.scram_credential]]"),
        "{exported}"
    );
    assert!(
        exported.contains("user = \"acme.orders-svc\""),
        "{exported}"
    );
    assert!(exported.contains("iterations = 8192"), "{exported}");
    assert!(!exported.contains("orders-first-pw"), "{exported}");

    let repo = w.dir.join("repo").display().to_string();
    let record = crate::support::backed_up(&w, "acme", &repo);
    let id = record["id"].as_str().expect("an id").to_string();
    let kafka = record["domains"]
        .as_array()
        .and_then(|d| d.iter().find(|d| d["domain"] == "kafka"))
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        (kafka["status"].as_str(), kafka["resources"].as_u64()),
        (Some("ok"), Some(1)),
        "{record}"
    );

    let restore = |extra: &[&str]| crate::support::restored_as(&w, (&id, &repo), "globex", extra);
    let o = restore(&[]);
    code(&o, 4);
    assert!(
        both(&o).contains("kafka.scram_credential.\"globex.orders-svc\".SCRAM-SHA-512 /password"),
        "{}",
        both(&o)
    );
    assert_eq!(stored(&double).len(), 1, "nothing is written");

    let given = w.dir.join("given");
    std::fs::create_dir_all(&given).expect("a directory");
    let g = credential("globex.orders-svc", "SCRAM-SHA-512", "iterations = 8192\n");
    std::fs::write(
        given.join("m.toml"),
        format!("[tenant]\nid = \"globex\"\n{g}"),
    )
    .expect("writes");
    let o = restore(&["--manifest", &given.display().to_string(), "--verify"]);
    code(&o, 0);
    assert!(
        stored(&double).contains(&("globex.orders-svc".into(), "SCRAM-SHA-512".into(), 8192)),
        "{:?}",
        stored(&double)
    );
    assert!(signs_in(
        &double,
        &w,
        "globex.orders-svc",
        "orders-first-pw"
    ));
    let _ = std::fs::remove_dir_all(&w.dir);
}
