//! `falconer doctor` against the suite's servers and the doubles: every system read (version, TLS, who
//! falconer is), then an account short of its least privileges, a system not there and a bad key, each
//! named as a problem, with exit 1 and no secret in any output.

use crate::keycloak_double::{KeycloakDouble, Options as KcOptions};
use crate::support::{Workdir, code, text};

/// The block of one subject in doctor's text: its first line and the indented lines under it.
fn block<'a>(out: &'a str, subject: &str) -> Vec<&'a str> {
    let mut lines = out.lines().skip_while(|l| !l.starts_with(subject));
    let head = lines
        .next()
        .unwrap_or_else(|| panic!("no block for {subject} in:\n{out}"));
    std::iter::once(head)
        .chain(lines.take_while(|l| l.starts_with("  ")))
        .collect()
}

fn fact<'a>(block: &[&'a str], name: &str) -> &'a str {
    let line = block
        .iter()
        .find(|l| l.trim_start().starts_with(&format!("{name} ")));
    let line = line.unwrap_or_else(|| panic!("no `{name}` in {block:#?}"));
    line.trim_start()[name.len()..].trim()
}

#[tokio::test(flavor = "multi_thread")]
async fn doctor_reads_every_system_and_names_each_problem() {
    let servers = crate::support::servers("doctor", "doctor-ns").await;
    let (db, env) = (&servers.db, servers.env.clone());
    let w = Workdir::new("doctor", "all", env.clone());

    let o = w.run(&["doctor"]);
    code(&o, 0);
    let out = text(&o.stdout);
    for system in [
        "Keycloak",
        "PostgreSQL",
        "MongoDB",
        "Kafka",
        "OpenWhisk",
        "S3",
    ] {
        assert_eq!(block(&out, system)[0], format!("{system:<20}ok"), "{out}");
    }
    let pg = block(&out, "PostgreSQL");
    assert!(
        fact(&pg, "version").starts_with(|c: char| c.is_ascii_digit()),
        "{pg:?}"
    );
    assert!(
        fact(&pg, "signed in as").ends_with(&format!("(database {})", db.name)),
        "{pg:?}"
    );
    let kc_block = block(&out, "Keycloak");
    assert_eq!(
        fact(&kc_block, "signed in as"),
        "admin",
        "the token's preferred_username"
    );
    assert_eq!(
        fact(&block(&out, "OpenWhisk"), "signed in as"),
        "the key of doctor-ns"
    );
    assert!(
        fact(&block(&out, "MongoDB"), "version").contains('.'),
        "{out}"
    );
    assert!(
        fact(&block(&out, "Kafka"), "brokers").starts_with("1 ("),
        "{out}"
    );
    // noida-db does not offer SCRAM credentials: said up front.
    assert!(
        fact(&block(&out, "Kafka"), "scram credentials")
            .starts_with("none: the cluster does not offer them"),
        "{out}"
    );
    assert!(
        fact(&block(&out, "state store"), "status").starts_with("not made yet"),
        "{out}"
    );
    assert!(
        !w.dir.join("state.db").exists(),
        "doctor makes no state store"
    );
    assert!(text(&o.stderr).contains("No problems found."));
    assert!(
        !out.contains("warning"),
        "warnings go to standard error: {out}"
    );

    // The same as JSON: nine checks, in order, none with a problem.
    let o = w.run(&["doctor", "--json"]);
    code(&o, 0);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("JSON");
    let schema = jsonschema::validator_for(&falconer::ops::doctor::schema()).expect("a schema");
    assert!(schema.is_valid(&v), "doctor --json against its schema: {v}");
    let subjects: Vec<&str> = v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["subject"].as_str().unwrap())
        .collect();
    assert_eq!(
        subjects[6..],
        ["state store", "backup repository", "backup key"]
    );
    assert!(
        v["checks"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["problems"] == serde_json::json!([]))
    );

    // An account short of its privileges, a Keycloak client without create-realm, a Kafka not there and
    // a key that cannot be read.
    let role = format!("doctor_{}", std::process::id());
    let password = format!("pw-sentinel-{}", std::process::id());
    db.exec(&format!(
        "create role {role} login nocreaterole password '{password}'"
    ))
    .await;
    let mut limited = reqwest::Url::parse(&db.url).expect("url");
    limited.set_username(&role).unwrap();
    limited.set_password(Some(&password)).unwrap();
    let service = (
        "falconer-viewer".to_string(),
        format!("client-secret-{}", std::process::id()),
    );
    let options = KcOptions {
        service_client: service.clone(),
        service_roles: vec!["default-roles-master".into()],
        ..Default::default()
    };
    let kc2 = KeycloakDouble::start(0, options)
        .await
        .expect("the Keycloak double starts");
    let key = w.dir.join("backup.key");
    std::fs::write(&key, "not a key").unwrap();
    let mut w = Workdir::new("doctor", "short", env);
    w.set_env("FALCONER_POSTGRES_URL", limited.as_str());
    w.set_env("FALCONER_KEYCLOAK_URL", &kc2.url);
    w.set_env("FALCONER_KEYCLOAK_USER", "");
    w.set_env("FALCONER_KEYCLOAK_CLIENT_ID", &service.0);
    w.set_env("FALCONER_KEYCLOAK_CLIENT_SECRET", &service.1);
    w.set_env("FALCONER_KAFKA_BOOTSTRAP", "127.0.0.1:1");
    let o = w.run(&["doctor", "--key-file", &key.display().to_string()]);
    code(&o, 1);
    let out = text(&o.stdout);
    let pg = block(&out, "PostgreSQL");
    assert_eq!(pg[0], "PostgreSQL          2 problems", "{out}");
    assert!(pg.contains(&format!("  problem: role {role} cannot create the tenants' roles: ALTER ROLE {role} CREATEROLE").as_str()), "{pg:#?}");
    assert!(
        pg.iter()
            .any(|l| l.contains(&format!("GRANT CREATE ON DATABASE {} TO {role}", db.name))),
        "{pg:#?}"
    );
    let kc_block = block(&out, "Keycloak");
    assert_eq!(
        fact(&kc_block, "signed in as"),
        "service-account-falconer-viewer"
    );
    assert!(
        kc_block
            .iter()
            .any(|l| l.contains("problem:") && l.contains("create-realm")),
        "{kc_block:#?}"
    );
    let k = block(&out, "Kafka");
    assert_eq!(k[0], "Kafka               1 problem", "{out}");
    assert!(
        k[1].contains("127.0.0.1:1"),
        "the problem names where it tried: {k:#?}"
    );
    let key_block = block(&out, "backup key");
    assert!(
        key_block
            .iter()
            .any(|l| l.contains("problem:") && l.contains("backup.key")),
        "{key_block:#?}"
    );
    assert_eq!(
        block(&out, "MongoDB")[0],
        format!("{:<20}ok", "MongoDB"),
        "the others still checked"
    );
    let all = format!("{out}{}", text(&o.stderr));
    assert!(text(&o.stderr).contains("5 problems found"), "{all}");
    for secret in [&password, &service.1] {
        assert!(
            !all.contains(secret.as_str()),
            "a secret in the output: {all}"
        );
    }
    drop(kc2);
    servers.db.drop().await;
}
