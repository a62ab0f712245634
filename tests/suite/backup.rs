//! `falconer backup` against a real PostgreSQL: domain statuses (ok, not available, error), partial
//! backups and their exit code, content addressing (unchanged backups add only a record), `verify` finding
//! damaged blobs and records by id, `delete` keeping what other backups use, and no secret in the
//! repository.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::support::{TestDb, Workdir, both, code};

const PASSWORD: &str = "bk-CANARY-pw-51e0d2";

struct World {
    db: TestDb,
    w: Workdir,
}

impl std::ops::Deref for World {
    type Target = Workdir;
    fn deref(&self) -> &Workdir {
        &self.w
    }
}

impl World {
    async fn new(tag: &str) -> World {
        let db = TestDb::new(tag).await;
        let env = vec![
            ("FALCONER_POSTGRES_URL".to_string(), db.url.clone()),
            ("BACKUP_TEST_PASSWORD".to_string(), PASSWORD.to_string()),
        ];
        let w = Workdir::new("backup", &db.name, env);
        let role = format!("r_{}", db.name);
        w.write(
            "m.toml",
            &format!(
                "[tenant]\nid = \"acme\"\n[tenant.naming]\npostgres_schemas = [\"app\"]\n\n\
                 [[postgres.role]]\nname = \"{role}\"\nlogin = true\npassword = {{ env = \"BACKUP_TEST_PASSWORD\" }}\n\n\
                 [[postgres.schema]]\nname = \"app\"\ngrant = [{{ role = \"{role}\", privileges = [\"USAGE\"] }}]\n\n\
                 [[postgres.table]]\nname = \"orders\"\nschema = \"app\"\nprimary_key = {{ columns = [\"id\"] }}\n\
                 column = [{{ name = \"id\", type = \"bigint\", nullable = false }}, {{ name = \"note\", type = \"text\" }}]\n"
            ),
        );
        World { db, w }
    }

    fn repo(&self) -> PathBuf {
        self.dir.join("repo")
    }

    fn backup(&self, args: &[&str]) -> std::process::Output {
        let repo = format!("file:{}", self.repo().display());
        let m = self.manifest();
        let mut all = vec!["backup", args[0], "--repo", repo.as_str()];
        if args[0] == "create" {
            all.extend(["--tenant", "acme", "--manifest", m.as_str(), "--json"]);
        }
        all.extend(&args[1..]);
        self.run(&all)
    }

    /// Creates a backup; its record (from `--json`) and the exit code.
    fn create(&self, extra: &[&str]) -> (Value, i32) {
        let mut args = vec!["create"];
        args.extend(extra);
        let o = self.backup(&args);
        let record = serde_json::from_slice(&o.stdout)
            .unwrap_or_else(|e| panic!("a JSON record ({e}): {}", both(&o)));
        (record, o.status.code().unwrap_or(-1))
    }

    async fn finish(self) {
        let role = format!("r_{}", self.db.name);
        let _ = sqlx::raw_sql(&format!(
            "drop owned by \"{role}\"; drop role if exists \"{role}\""
        ))
        .execute(&self.db.pool)
        .await;
        let _ = std::fs::remove_dir_all(&self.w.dir);
        self.db.drop().await;
    }
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(files(&p));
        } else {
            out.push(p);
        }
    }
    out.sort();
    out
}

fn status_of<'a>(record: &'a Value, domain: &str) -> &'a Value {
    record["domains"]
        .as_array()
        .expect("domains")
        .iter()
        .find(|d| d["domain"] == domain)
        .unwrap_or_else(|| panic!("no {domain} in {record}"))
}

#[tokio::test]
async fn backups_record_each_domain_and_share_unchanged_documents() {
    let w = World::new("backup_statuses").await;
    code(&w.apply(&[]), 0);

    let (first, rc) = w.create(&[]);
    assert_eq!(rc, 0, "{first}");
    assert_eq!(first["status"], "ok");
    let schema = jsonschema::validator_for(&falconer::backup::schema()).expect("a schema");
    assert!(
        schema.is_valid(&first),
        "the record follows its schema: {first}"
    );
    let pg = status_of(&first, "postgres");
    assert_eq!(pg["status"], "ok");
    assert_eq!(pg["resources"], 3, "{pg}");
    assert_eq!(pg["secrets"][0]["field"], "/password", "{pg}");
    let mongo = status_of(&first, "mongo");
    assert_eq!(mongo["status"], "not_available");
    assert!(
        mongo["message"]
            .as_str()
            .unwrap_or_default()
            .contains("MongoDB"),
        "{mongo}"
    );
    let blobs_after_one = files(&w.repo().join("blobs")).len();
    assert_eq!(blobs_after_one, 1);

    // Nine more backups of the unchanged tenant: one record each, no new blob.
    let bytes = |w: &World| -> u64 {
        files(&w.repo().join("blobs"))
            .iter()
            .map(|p| std::fs::metadata(p).expect("meta").len())
            .sum()
    };
    let blob_bytes = bytes(&w);
    let mut ids = vec![first["id"].as_str().unwrap_or_default().to_string()];
    for _ in 0..9 {
        let (r, rc) = w.create(&[]);
        assert_eq!(rc, 0, "{r}");
        assert_eq!(status_of(&r, "postgres")["digest"], pg["digest"]);
        ids.push(r["id"].as_str().unwrap_or_default().to_string());
    }
    assert_eq!(bytes(&w), blob_bytes, "unchanged backups add no blob bytes");
    assert_eq!(files(&w.repo().join("backups/acme")).len(), 10);

    // The listing shows all ten, newest first.
    let o = w.backup(&["list", "--json"]);
    code(&o, 0);
    let listed: Value = serde_json::from_slice(&o.stdout).expect("JSON list");
    let listed: Vec<&str> = listed
        .as_array()
        .expect("rows")
        .iter()
        .map(|r| r["id"].as_str().unwrap_or_default())
        .collect();
    let mut newest_first = ids.clone();
    newest_first.sort();
    newest_first.reverse();
    assert_eq!(listed, newest_first);

    // No secret anywhere in the repository.
    for f in files(&w.repo()) {
        let body = std::fs::read(&f).expect("reads");
        let body = if f.starts_with(w.repo().join("blobs")) {
            miniz_inflate(&body)
        } else {
            body
        };
        assert!(
            !String::from_utf8_lossy(&body).contains(PASSWORD),
            "{} holds the secret",
            f.display()
        );
    }
    w.finish().await;
}

/// A blob's document (the repository's layout: a 4-byte tag, then deflate).
fn miniz_inflate(body: &[u8]) -> Vec<u8> {
    assert_eq!(&body[..4], b"FBZ1");
    miniz_oxide::inflate::decompress_to_vec(&body[4..]).expect("inflates")
}

#[tokio::test]
async fn a_failing_domain_makes_a_partial_backup_that_keeps_the_others() {
    let mut w = World::new("backup_partial").await;
    code(&w.apply(&[]), 0);
    // An S3 endpoint where nothing listens: the storage domain fails, the others are kept.
    w.w.set_env("FALCONER_S3_ENDPOINT", "http://127.0.0.1:9");
    w.w.set_env("AWS_ACCESS_KEY_ID", "k");
    w.w.set_env("AWS_SECRET_ACCESS_KEY", "s");
    let (r, rc) = w.create(&[]);
    assert_eq!(rc, 5, "partial: {r}");
    assert_eq!(r["status"], "partial");
    let s3 = status_of(&r, "storage");
    assert_eq!(s3["status"], "error");
    assert!(
        s3["message"]
            .as_str()
            .unwrap_or_default()
            .contains("127.0.0.1:9"),
        "{s3}"
    );
    assert_eq!(status_of(&r, "postgres")["status"], "ok");

    // Only PostgreSQL asked for, and only the table: the record says what was left out.
    let (r, rc) = w.create(&["--domain", "postgres", "--include", "postgres.table.*"]);
    assert_eq!(rc, 0, "{r}");
    assert_eq!(status_of(&r, "postgres")["resources"], 1);
    assert_eq!(r["left_out"], 2);
    assert_eq!(r["domains"].as_array().map(Vec::len), Some(1));
    w.finish().await;
}

#[tokio::test]
async fn verify_names_damaged_backups_and_delete_keeps_shared_blobs() {
    let w = World::new("backup_verify").await;
    code(&w.apply(&[]), 0);
    let (a, _) = w.create(&[]);
    let (b, _) = w.create(&[]);
    let (a, b) = (
        a["id"].as_str().unwrap_or_default().to_string(),
        b["id"].as_str().unwrap_or_default().to_string(),
    );
    code(&w.backup(&["verify", "--all"]), 0);
    let o = w.backup(&["prune"]);
    code(&o, 4);
    assert!(both(&o).contains("empty policy"), "{}", both(&o));
    let o = w.backup(&["prune", "--keep-last", "1", "--dry-run"]);
    code(&o, 0);
    assert!(
        both(&o).contains(&format!("would remove {a}")),
        "{}",
        both(&o)
    );
    assert_eq!(
        files(&w.repo().join("backups/acme")).len(),
        2,
        "a dry run removes nothing"
    );

    // Deleting one backup keeps the blob the other uses.
    let o = w.backup(&["delete", &a]);
    code(&o, 0);
    assert!(both(&o).contains("0 blobs"), "{}", both(&o));
    code(&w.backup(&["verify", &b]), 0);
    let o = w.backup(&["show", "latest"]);
    code(&o, 0);
    assert!(both(&o).contains(&b), "{}", both(&o));

    // A flipped byte in the blob: verify names the backup and fails.
    let blob = files(&w.repo().join("blobs")).pop().expect("a blob");
    let mut bytes = std::fs::read(&blob).expect("reads");
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x40;
    std::fs::write(&blob, bytes).expect("writes");
    let o = w.backup(&["verify", "--all"]);
    code(&o, 1);
    assert!(both(&o).contains(&format!("damaged: {b}")), "{}", both(&o));

    // A truncated record is reported by its file, and the listing says so.
    let record = w.repo().join(format!("backups/acme/{b}.json"));
    let body = std::fs::read(&record).expect("reads");
    std::fs::write(&record, &body[..body.len() / 2]).expect("truncates");
    let o = w.backup(&["verify", "--all"]);
    code(&o, 1);
    assert!(both(&o).contains(&format!("{b}.json")), "{}", both(&o));
    code(&w.backup(&["list"]), 1);
    w.finish().await;
}

#[tokio::test]
async fn a_backup_waits_for_no_one_and_is_refused_while_the_tenant_is_locked() {
    let w = World::new("backup_locked").await;
    code(&w.apply(&[]), 0);
    let state = falconer::state::State::open(&w.state_url())
        .await
        .expect("state");
    let falconer::state::Acquired::Fresh(held) = state
        .lock(
            "acme",
            &falconer::state::Owner::current(),
            std::time::Duration::from_secs(300),
        )
        .await
        .expect("locks")
    else {
        panic!("a fresh lock");
    };
    let o = w.backup(&["create"]);
    code(&o, 3);
    assert!(both(&o).contains("locked by"), "{}", both(&o));
    assert!(files(&w.repo()).is_empty(), "nothing written");
    state.unlock(&held).await.expect("unlocks");
    let (_, rc) = w.create(&[]);
    assert_eq!(rc, 0);
    w.finish().await;
}

/// Killed at 24 points (counted events: the Keycloak double's answers while the domains are read, then the
/// files the repository gains), `backup create` leaves either no backup or a complete one: every record
/// there reads and verifies, and the next backup completes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_backup_leaves_nothing_or_a_complete_backup() {
    use crate::keycloak_double::{KeycloakDouble, Options};
    let kc = KeycloakDouble::start(0, Options::default())
        .await
        .expect("the double starts");
    let mut w = World::new("backup_killed").await;
    for (k, v) in kc.env() {
        w.w.set_env(&k, &v);
    }
    let mut realm = String::from("[[iam.realm]]\nname = \"acme\"\n");
    for i in 0..20 {
        realm.push_str(&format!(
            "\n[[iam.role]]\nname = \"r{i}\"\n\n[[iam.client]]\nclient_id = \"c{i}\"\npublic_client = true\nredirect_uris = [\"https://c{i}/cb\"]\n"
        ));
    }
    w.write("iam.toml", &realm);
    code(&w.apply(&["WIDENS_ACCESS"]), 0);

    let repo_files = || files(&w.repo()).len();
    let events = || kc.log().len() + repo_files();
    // One whole backup first: how many events one makes.
    let before = events();
    assert_eq!(w.create(&[]).1, 0);
    let whole = events() - before;
    let mut kills = 0;
    for point in (1..=24).map(|i| i * whole / 25) {
        let start = events();
        let command = w.w.command(&[
            "backup",
            "create",
            "--tenant",
            "acme",
            "--manifest",
            &w.manifest(),
            "--repo",
            &format!("file:{}", w.repo().display()),
        ]);
        if crate::support::kill_when(command, || events() >= start + point).await {
            kills += 1;
        }
        // Whatever is there reads and verifies.
        code(&w.backup(&["verify", "--all"]), 0);
    }
    assert!(kills >= 20, "only {kills} backups were killed mid-way");
    let (r, rc) = w.create(&[]);
    assert_eq!(rc, 0, "{r}");
    assert_eq!(status_of(&r, "iam")["resources"], 41, "{r}");
    assert!(whole >= 25, "a backup makes {whole} events");
    let o = w.backup(&["verify", "--all"]);
    code(&o, 0);
    w.finish().await;
}
