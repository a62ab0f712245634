//! Hostile names and values (issue 18, item 7): what could leave the tenant's scope or reach another route,
//! statement or object is refused before anything runs, by name and place; what is legal however odd
//! (Keycloak role names with `/`, `..`, `?`, `#`, `%2F`; PostgreSQL identifiers with quotes and `;`) reaches
//! the system exactly as written, quoted or encoded, and a sentinel of another tenant survives.

use crate::keycloak_double::KeycloakDouble;
use crate::support::{TestDb, Workdir, both, code};
use falconer::manifest::{Format, LoadOptions, load_str};

/// Manifests that must be refused when loaded: (what, body, a fragment of the refusal).
const REFUSED: &[(&str, &str, &str)] = &[
    (
        "a Kafka topic name with a path",
        "[[kafka.topic]]\nname = \"acme.../../etc\"\npartitions = 1\n",
        "'/' is not allowed",
    ),
    (
        "a Kafka config value with a command",
        "[[kafka.topic]]\nname = \"acme.ok\"\npartitions = 1\nconfig = { \"retention.ms\" = \"1; rm -rf /\" }\n",
        "expected an integer",
    ),
    (
        "a Kafka config key with a line break",
        "[[kafka.topic]]\nname = \"acme.ok\"\npartitions = 1\nconfig = { \"x\\ny\" = \"1\" }\n",
        // One line per problem: the line break is shown escaped.
        "x\\ny",
    ),
    (
        "a bucket name with a path",
        "[[storage.bucket]]\nname = \"acme-../evil\"\n",
        "'/' is not allowed",
    ),
    (
        "a bucket policy granting another bucket",
        "[[storage.bucket]]\nname = \"acme-ok\"\npolicy = { Version = \"2012-10-17\", Statement = [{ Effect = \"Allow\", Principal = \"*\", Action = \"s3:GetObject\", Resource = \"arn:aws:s3:::other-bucket/*\" }] }\n",
        "may only name `arn:aws:s3:::acme-ok`",
    ),
    (
        "a bucket policy granting everything",
        "[[storage.bucket]]\nname = \"acme-ok\"\npolicy = { Version = \"2012-10-17\", Statement = [{ Effect = \"Allow\", Principal = \"*\", Action = \"s3:*\", Resource = [\"arn:aws:s3:::acme-ok\", \"*\"] }] }\n",
        "not \"*\"",
    ),
    (
        "a bucket policy naming a bucket that only starts like the tenant's",
        "[[storage.bucket]]\nname = \"acme-ok\"\npolicy = { Version = \"2012-10-17\", Statement = [{ Effect = \"Allow\", Principal = \"*\", Action = \"s3:GetObject\", Resource = \"arn:aws:s3:::acme-ok-other/*\" }] }\n",
        "may only name",
    ),
    (
        "a MongoDB database name with `$`",
        "[[mongo.database]]\nname = \"acme$x\"\n",
        "'$' is not allowed",
    ),
    (
        "a MongoDB collection name with `$cmd`",
        "[[mongo.collection]]\nname = \"a.$cmd\"\ndatabase = \"acme\"\n",
        "`$` and NUL are not allowed",
    ),
    (
        "an OpenWhisk name with an encoded path",
        "[[functions.package]]\nname = \"p%2F..%2Fq\"\n",
        "'%' is not allowed",
    ),
    (
        "an OpenWhisk name with a query",
        "[[functions.action]]\nname = \"x?y\"\nkind = \"nodejs:20\"\ncode = \"x\"\n",
        "'?' is not allowed",
    ),
    (
        "an OpenWhisk name climbing out",
        "[[functions.action]]\nname = \"../x\"\nkind = \"nodejs:20\"\ncode = \"x\"\n",
        "must start with a letter",
    ),
    (
        "a Keycloak role named `..`",
        "[[iam.realm]]\nname = \"acme\"\n[[iam.role]]\nname = \"..\"\n",
        "keycloak-path-name",
    ),
    (
        "a Keycloak client role named `.`",
        "[[iam.realm]]\nname = \"acme\"\n[[iam.client]]\nclient_id = \"portal\"\nrole = [{ name = \".\" }]\n",
        "keycloak-path-name",
    ),
    (
        "a Keycloak group named `..`",
        "[[iam.realm]]\nname = \"acme\"\n[[iam.group]]\nname = \"..\"\n",
        "keycloak-path-name",
    ),
    (
        "a Keycloak identity provider aliased `..`",
        "[[iam.realm]]\nname = \"acme\"\n[[iam.identity_provider]]\nalias = \"..\"\nprovider_id = \"oidc\"\n",
        "keycloak-path-name",
    ),
    (
        "an OpenWhisk package named `..`",
        "[[functions.package]]\nname = \"..\"\n",
        "must start with a letter",
    ),
    (
        "an OpenWhisk binding to a package named `.`",
        "[[functions.package]]\nname = \"b\"\nbinding = { namespace = \"whisk.system\", name = \".\" }\n",
        "must start with a letter",
    ),
    (
        "a manifest secret read by running a command",
        "[[postgres.role]]\nname = \"acme_r\"\npassword = { command = [\"sh\", \"-c\", \"id\"] }\n",
        "a manifest may not run one",
    ),
    (
        "a Keycloak group with a path",
        "[[iam.group]]\nname = \"../admins\"\n",
        "cannot contain `/`",
    ),
    (
        "a PostgreSQL default that ends its statement",
        "[[postgres.table]]\nname = \"t\"\nschema = \"acme\"\ncolumn = [{ name = \"a\", type = \"int\", default = \"1); drop table public.sentinel; --\" }]\n",
        "invalid-sql",
    ),
    (
        "a PostgreSQL table in another tenant's schema",
        "[[postgres.table]]\nname = \"t\"\nschema = \"globex\"\n",
        "outside tenant `acme`",
    ),
];

#[test]
fn hostile_names_and_values_are_refused_before_anything_runs() {
    for (what, body, why) in REFUSED {
        let src = format!("format_version = \"1\"\n[tenant]\nid = \"acme\"\n{body}");
        let loaded = load_str("hostile.toml", &src, Format::Toml, LoadOptions::default());
        assert!(loaded.has_errors(), "{what}: accepted");
        let messages = loaded.messages();
        assert!(messages.contains(why), "{what}: {messages}");
    }
}

/// Odd but legal names reach the systems exactly as written: Keycloak roles with path and URL characters
/// (each a segment of its own, encoded), a PostgreSQL table and column with quotes, `;` and a comment
/// opener. The sentinel realm of another tenant and a table outside the tenant's schema survive, and every
/// request the double saw went to a route it knows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn odd_but_legal_names_reach_the_systems_exactly_as_written() {
    let kc = KeycloakDouble::start(0, Default::default())
        .await
        .expect("the Keycloak double starts");
    let db = TestDb::new("injection").await;
    db.exec("create table public.sentinel (id int); insert into public.sentinel values (1);")
        .await;
    let mut env = kc.env();
    env.push(("FALCONER_POSTGRES_URL".into(), db.url.clone()));

    // The other tenant first: its realm and role are the sentinel.
    let other = Workdir::new("injection", "other", env.clone());
    other.write(
        "m.toml",
        "[tenant]\nid = \"other\"\n\n[[iam.realm]]\nname = \"other\"\n\n[[iam.role]]\nname = \"sentinel\"\n",
    );
    code(&other.apply(&[]), 0);

    let roles = [
        "../../users",
        "a/b?c#d%2Fe",
        "...",
        ".x",
        "other/roles/sentinel",
    ];
    let manifest = |description: &str, with_roles: bool| {
        let mut body = String::from(
            "[tenant]\nid = \"acme\"\n[tenant.naming]\npostgres_schemas = [\"acme\"]\n\n[[iam.realm]]\nname = \"acme\"\n\n[[iam.role]]\nname = \"base\"\n",
        );
        for r in roles.iter().filter(|_| with_roles) {
            body.push_str(&format!(
                "\n[[iam.role]]\nname = {r:?}\ndescription = {description:?}\ncomposites = {{ realm = [\"base\"] }}\n"
            ));
        }
        body.push_str(
            "\n[[postgres.schema]]\nname = \"acme\"\n\n[[postgres.table]]\nname = \"t\\\"; drop table public.sentinel; --\"\nschema = \"acme\"\ncolumn = [{ name = \"c /* x\", type = \"int\" }]\n",
        );
        body
    };
    let body = manifest("first", true);
    let w = Workdir::new("injection", "acme", env);
    w.write("m.toml", &body);
    let o = w.apply(&[]);
    code(&o, 0);
    w.converged();

    // Keycloak: exactly these roles in realm acme; nothing reached a route the double does not know.
    let export = w.run(&["export", "--tenant", "acme", "--domain", "iam"]);
    code(&export, 0);
    let exported = String::from_utf8_lossy(&export.stdout).to_string();
    for r in roles {
        assert!(
            exported.contains(&format!("name = {r:?}")),
            "role {r:?} is in realm acme as written: {exported}"
        );
    }
    let unknown: Vec<_> = kc
        .log()
        .into_iter()
        .filter(|r| r.route.starts_with('('))
        .map(|r| format!("{} {}", r.method, r.route))
        .collect();
    assert!(unknown.is_empty(), "{unknown:?}");
    let sentinel = other.run(&["plan", &other.manifest(), "--detailed-exitcode"]);
    assert_eq!(sentinel.status.code(), Some(0), "{}", both(&sentinel));

    // Each odd name is one segment for reading, updating and reading its composites, then deleting.
    let k = crate::support::keycloak_client(&kc.url, "admin", "admin-password");
    let read = |path: Vec<String>| {
        let k = &k;
        async move {
            let refs: Vec<&str> = path.iter().map(String::as_str).collect();
            k.get(&refs, &[]).await.expect("GET")
        }
    };
    let path = |r: &str, more: &[&str]| {
        let mut p = vec!["acme".to_string(), "roles".to_string(), r.to_string()];
        p.extend(more.iter().map(|m| m.to_string()));
        p
    };
    for r in roles {
        let role = read(path(r, &[])).await.expect("the role");
        assert_eq!(
            (role["name"].as_str(), role["description"].as_str()),
            (Some(r), Some("first"))
        );
        let composites = read(path(r, &["composites"]))
            .await
            .expect("its composites");
        assert_eq!(composites[0]["name"], "base", "{r}: {composites}");
    }
    w.write("m.toml", &manifest("second", true));
    code(&w.apply(&[]), 0);
    w.converged();
    for r in roles {
        let role = read(path(r, &[])).await.expect("the role");
        assert_eq!(role["description"], "second", "{r}");
    }
    w.write("m.toml", &manifest("second", false));
    code(&w.apply(&["DELETES_DATA"]), 0);
    w.converged();
    for r in roles {
        assert!(read(path(r, &[])).await.is_none(), "{r} is deleted");
    }
    assert!(read(path("base", &[])).await.is_some(), "base is kept");
    let sentinel = other.run(&["plan", &other.manifest(), "--detailed-exitcode"]);
    assert_eq!(sentinel.status.code(), Some(0), "{}", both(&sentinel));

    // PostgreSQL: the table exists under its literal name; the sentinel outside the tenant is intact.
    let names: Vec<(String, String)> = sqlx::query_as(
        "select c.relname::text, a.attname::text from pg_class c join pg_attribute a on a.attrelid = c.oid
         where c.relnamespace = 'acme'::regnamespace and a.attnum > 0",
    )
    .fetch_all(&db.pool)
    .await
    .expect("the catalog");
    assert_eq!(
        names,
        vec![(
            "t\"; drop table public.sentinel; --".to_string(),
            "c /* x".to_string()
        )]
    );
    let n: i64 = sqlx::query_scalar("select count(*) from public.sentinel")
        .fetch_one(&db.pool)
        .await
        .expect("the sentinel survives");
    assert_eq!(n, 1);
    let _ = std::fs::remove_dir_all(&w.dir);
    let _ = std::fs::remove_dir_all(&other.dir);
    db.drop().await;
}

/// A manifest comes from a pull request: no command that reads falconer's manifests runs a `{ command }`
/// written in one (`validate`, `graph`, `plan`, `diff`); each refuses it, and the command never ran.
#[test]
fn a_manifest_never_runs_a_command() {
    let w = Workdir::new("injection", "command", vec![]);
    let marker = w.dir.join("ran");
    w.write(
        "m.toml",
        &format!(
            "[tenant]\nid = \"acme\"\n\n[[functions.trigger]]\nname = \"tick\"\nparameter = [{{ key = \"TOKEN\", secret = {{ command = [\"touch\", {:?}] }} }}]\n",
            marker.display().to_string()
        ),
    );
    let m = w.manifest();
    for args in [
        vec!["validate", m.as_str()],
        vec!["graph", m.as_str()],
        vec!["plan", m.as_str()],
        vec!["diff", m.as_str(), m.as_str()],
    ] {
        let o = w.run(&args);
        assert_ne!(o.status.code(), Some(0), "{args:?}: {}", both(&o));
        assert!(
            both(&o).contains("a manifest may not run one"),
            "{args:?}: {}",
            both(&o)
        );
        assert!(!marker.exists(), "{args:?} ran the command");
    }
    let _ = std::fs::remove_dir_all(&w.dir);
}

/// With `allow_manifest_commands = true` in the profile, a manifest's secret command runs in a live plan and
/// an apply (once per run), and nowhere else: validate passes without running it, an offline plan and a
/// diff do not run it. Without the setting, a live plan refuses it too.
#[tokio::test]
async fn a_manifest_command_runs_only_in_live_plans_and_applies_the_profile_allows() {
    let db = crate::support::TestDb::new("mcmd").await;
    let w = Workdir::new(
        "injection",
        "allowed-command",
        vec![("FALCONER_POSTGRES_URL".to_string(), db.url.clone())],
    );
    let runs = w.dir.join("runs");
    let role = format!("cmd_{}", db.name);
    w.write(
        "m.toml",
        &format!(
            "[tenant]\nid = \"acme\"\n\n[[postgres.role]]\nname = \"{role}\"\nlogin = true\npassword = {{ command = [\"sh\", \"-c\", \"echo ran >> {}; printf Cmd-Pa55-%s word\"] }}\n",
            runs.display()
        ),
    );
    let m = w.manifest();
    let ran = || {
        std::fs::read_to_string(&runs)
            .map(|t| t.lines().count())
            .unwrap_or(0)
    };
    let allowing = w.dir.join("allowing.toml");
    std::fs::write(&allowing, "allow_manifest_commands = true\n").expect("writes");
    let p = allowing.display().to_string();
    let o = w.run(&["plan", &m]);
    assert_ne!(o.status.code(), Some(0), "{}", both(&o));
    assert_eq!(ran(), 0, "refused without the setting");
    code(&w.run(&["validate", &m, "--profile", &p]), 0);
    let o = w.run(&["diff", &m, &m, "--profile", &p]);
    assert!(!both(&o).contains("Cmd-Pa55-word"), "{}", both(&o));
    let empty = w.dir.join("empty");
    std::fs::create_dir_all(&empty).expect("a directory");
    std::fs::write(empty.join("t.toml"), "[tenant]\nid = \"acme\"\n").expect("writes");
    let empty = empty.display().to_string();
    let _ = w.run(&["plan", &m, "--against", &empty, "--profile", &p]);
    assert_eq!(ran(), 0, "validate, diff and an offline plan never run it");
    let o = w.run(&["plan", &m, "--profile", &p, "--detailed-exitcode"]);
    code(&o, 2);
    assert_eq!(ran(), 1, "a live plan runs it once");
    let o = w.run(&["apply", &m, "--auto-approve", "--profile", &p]);
    code(&o, 0);
    assert_eq!(ran(), 2, "an apply runs it once");
    assert!(!both(&o).contains("Cmd-Pa55-word"), "{}", both(&o));
    code(
        &w.run(&["plan", &m, "--profile", &p, "--detailed-exitcode"]),
        0,
    );
    let _ = std::fs::remove_dir_all(&w.dir);
    db.drop().await;
}
