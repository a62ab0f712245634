//! The storage domain against a real S3 server that checks signatures (SeaweedFS, started by
//! `scripts/test`): the acme example applies, export then plan shows no changes for buckets another client
//! configured, each configuration's add / change / remove plans minimally and applies, a non-empty bucket's
//! delete names its objects, and a wrong secret gives a clear error.

use std::path::Path;
use std::process::Command;

use crate::support::{Workdir, both, code, text};
use falconer::domains::storage::client::{Call, Client};
use reqwest::Method;

/// The run's S3 server, a client of it, and a Workdir whose falconer reaches it.
struct World {
    endpoint: String,
    client: Client,
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
        let endpoint = crate::support::s3_endpoint().await;
        let client = crate::support::s3_client(&endpoint, crate::support::S3_SECRET);
        let env = [
            ("FALCONER_S3_ENDPOINT", endpoint.as_str()),
            ("AWS_ACCESS_KEY_ID", "AK"),
            ("AWS_SECRET_ACCESS_KEY", crate::support::S3_SECRET),
            ("AWS_REGION", "us-east-1"),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .to_vec();
        let w = Workdir::new("s3", tag, env);
        World {
            endpoint,
            client,
            w,
        }
    }

    fn write(&self, body: &str) {
        self.w.write("m.toml", body);
    }

    /// The falconer command, signing with `secret`.
    fn command(&self, args: &[&str], secret: &str) -> Command {
        let mut c = self.w.command(args);
        c.env("AWS_SECRET_ACCESS_KEY", secret);
        c
    }

    /// The plan's one change: its action and the top-level fields it touches.
    fn one_change(&self) -> (String, Vec<String>) {
        let plan = self.plan();
        let changes = plan["changes"].as_array().expect("changes");
        assert_eq!(changes.len(), 1, "{plan:#}");
        let c = &changes[0];
        let mut fields: Vec<String> = c["fields"]
            .as_array()
            .map(|f| {
                f.iter()
                    .map(|x| {
                        x["path"]
                            .as_str()
                            .unwrap_or_default()
                            .split(['.', '['])
                            .next()
                            .unwrap_or_default()
                            .to_string()
                    })
                    .collect()
            })
            .unwrap_or_default();
        fields.dedup();
        (c["action"].as_str().unwrap_or_default().to_string(), fields)
    }

    /// Writes `base` with these additions (top-level keys before tables), checks that the plan is one
    /// update of `field` alone, and applies it.
    fn update_only(&self, base: &str, additions: &[&str], field: &str, context: &str) {
        let (plain, tables): (Vec<&str>, Vec<&str>) =
            additions.iter().partition(|a| !a.starts_with('['));
        self.write(&format!("{base}{}{}", plain.concat(), tables.concat()));
        let (action, fields) = self.one_change();
        assert_eq!(
            (action.as_str(), fields),
            ("update", vec![field.to_string()]),
            "{context}"
        );
        code(&self.apply(&[]), 0);
    }

    /// A sub-resource of a bucket as the server returns it (`None`: there is none).
    async fn get(&self, bucket: &str, sub: &str) -> Option<String> {
        self.client
            .send(Call::new(Method::GET, Some(bucket), sub))
            .await
            .ok()
            .map(|r| String::from_utf8_lossy(&r.body).into_owned())
    }

    async fn put(&self, bucket: &str, sub: &str, body: &str) {
        self.client
            .send(Call::new(Method::PUT, Some(bucket), sub).body(body.as_bytes().to_vec()))
            .await
            .unwrap_or_else(|e| panic!("PUT {bucket}?{sub}: {e}"));
    }

    async fn put_object(&self, bucket: &str, key: &str) {
        self.client
            .send(
                Call::new(Method::PUT, Some(bucket), "")
                    .key(key)
                    .body(b"data".to_vec()),
            )
            .await
            .unwrap_or_else(|e| panic!("PUT {bucket}/{key}: {e}"));
    }

    async fn exists(&self, bucket: &str) -> bool {
        self.client
            .send(Call::new(Method::HEAD, Some(bucket), ""))
            .await
            .is_ok()
    }

    fn finish(self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

const NS: &str = "xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"";

#[tokio::test]
async fn acme_applies_to_an_empty_server_and_then_plans_nothing() {
    let _turn = crate::support::ACME_BUCKETS.lock().await;
    let w = World::new("acme").await;
    let ex = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/acme");
    for f in ["tenant.toml", "storage.toml"] {
        std::fs::copy(ex.join(f), w.dir.join("manifest").join(f)).expect("copies");
    }
    let o = w.apply(&[]);
    code(&o, 0);
    assert!(
        text(&o.stdout).contains("Applied: 2 change(s)"),
        "{}",
        both(&o)
    );
    w.converged();
    let versioning = w
        .get("acme-uploads", "versioning")
        .await
        .expect("versioning");
    assert!(
        versioning.contains("<Status>Enabled</Status>"),
        "{versioning}"
    );
    let cors = w.get("acme-uploads", "cors").await.expect("cors");
    assert!(cors.contains("https://app.acme.example"), "{cors}");
    let tags = w.get("acme-uploads", "tagging").await.expect("tags");
    assert!(tags.contains("<Key>purpose</Key>"), "{tags}");
    let policy = w.get("acme-exports", "policy").await.expect("policy");
    assert!(policy.contains("acme-analytics"), "{policy}");
    let lifecycle = w.get("acme-exports", "lifecycle").await.expect("lifecycle");
    assert!(lifecycle.contains("expire-temporary"), "{lifecycle}");
    w.finish();
}

#[tokio::test]
async fn export_then_plan_shows_no_changes_for_what_another_client_configured() {
    let w = World::new("export").await;
    let b = "exp-data";
    w.put(b, "", "").await;
    w.put(
        b,
        "versioning",
        &format!(
            "<VersioningConfiguration {NS}><Status>Suspended</Status></VersioningConfiguration>"
        ),
    )
    .await;
    w.put(b, "lifecycle", &format!(
        "<LifecycleConfiguration {NS}>\
           <Rule><ID>logs</ID><Filter><And><Prefix>logs/</Prefix><Tag><Key>kind</Key><Value>log</Value></Tag><ObjectSizeGreaterThan>1024</ObjectSizeGreaterThan></And></Filter>\
             <Status>Enabled</Status><Expiration><Days>14</Days></Expiration></Rule>\
           <Rule><ID>old</ID><Filter><Prefix>old/</Prefix></Filter><Status>Disabled</Status>\
             <NoncurrentVersionExpiration><NoncurrentDays>7</NoncurrentDays></NoncurrentVersionExpiration>\
             <AbortIncompleteMultipartUpload><DaysAfterInitiation>2</DaysAfterInitiation></AbortIncompleteMultipartUpload></Rule>\
           <Rule><ID>tagged</ID><Filter><Tag><Key>tmp</Key><Value>yes</Value></Tag></Filter><Status>Enabled</Status>\
             <Expiration><Days>1</Days></Expiration></Rule>\
         </LifecycleConfiguration>"
    )).await;
    w.put(b, "cors", &format!(
        "<CORSConfiguration {NS}><CORSRule><AllowedOrigin>https://a.example</AllowedOrigin><AllowedOrigin>https://b.example</AllowedOrigin>\
         <AllowedMethod>GET</AllowedMethod><AllowedMethod>HEAD</AllowedMethod><AllowedHeader>*</AllowedHeader></CORSRule>\
         <CORSRule><ID>uploads</ID><AllowedOrigin>*</AllowedOrigin><AllowedMethod>PUT</AllowedMethod><ExposeHeader>ETag</ExposeHeader><MaxAgeSeconds>600</MaxAgeSeconds></CORSRule>\
         </CORSConfiguration>"
    )).await;
    // Statement as an object, one-element arrays, and whitespace: all normalized away.
    w.put(
        b,
        "policy",
        r#"{
        "Version": "2012-10-17",
        "Statement": {"Sid": "R", "Effect": "Allow",
                      "Principal": {"AWS": ["arn:aws:iam::000000000000:user/reader"]},
                      "Action": ["s3:GetObject"], "Resource": ["arn:aws:s3:::exp-data/*"]}
    }"#,
    )
    .await;
    w.put(b, "tagging", &format!("<Tagging {NS}><TagSet><Tag><Key>team</Key><Value>data</Value></Tag><Tag><Key>cost</Key><Value>42</Value></Tag></TagSet></Tagging>")).await;
    w.put(b, "encryption", &format!(
        "<ServerSideEncryptionConfiguration {NS}><Rule><ApplyServerSideEncryptionByDefault><SSEAlgorithm>AES256</SSEAlgorithm></ApplyServerSideEncryptionByDefault></Rule></ServerSideEncryptionConfiguration>"
    )).await;

    let out = w.dir.join("manifest/exp.toml");
    let tenant = w.dir.join("tenant.toml");
    std::fs::write(&tenant, "[tenant]\nid = \"exp\"\n").expect("writes");
    let o = w.run(&[
        "export",
        "--tenant",
        "exp",
        "--manifest",
        &tenant.display().to_string(),
        "--domain",
        "storage",
        "-o",
        &out.display().to_string(),
    ]);
    code(&o, 0);
    // Everything configured is carried: the inventory names nothing.
    assert!(
        !text(&o.stderr).contains("not carried"),
        "{}",
        text(&o.stderr)
    );
    let exported = std::fs::read_to_string(&out).expect("exported");
    for expected in [
        "versioning = \"suspended\"",
        "object_size_greater_than = 1024",
        "status = \"disabled\"",
        "noncurrent_days = 7",
        "abort_incomplete_multipart_upload_days = 2",
        "max_age_seconds = 600",
        "team = \"data\"",
        "algorithm = \"AES256\"",
        "AWS = \"arn:aws:iam::000000000000:user/reader\"",
    ] {
        assert!(
            exported.contains(expected),
            "no {expected:?} in\n{exported}"
        );
    }
    w.converged();
    w.finish();
}

#[tokio::test]
async fn each_configuration_plans_minimally_and_applies() {
    let w = World::new("changes").await;
    let base = "[tenant]\nid = \"chg\"\n\n[[storage.bucket]]\nname = \"chg-b\"\n";
    w.write(base);
    code(&w.apply(&[]), 0);
    w.converged();
    // (manifest addition, field, what the server then has)
    let steps: &[(&str, &str, &str)] = &[
        (
            "versioning = \"enabled\"\n",
            "versioning",
            "<Status>Enabled</Status>",
        ),
        (
            "versioning = \"suspended\"\n",
            "versioning",
            "<Status>Suspended</Status>",
        ),
        ("tags = { a = \"1\" }\n", "tags", "<Key>a</Key>"),
        (
            "tags = { a = \"2\", b = \"3\" }\n",
            "tags",
            "<Value>2</Value>",
        ),
        (
            "encryption = { algorithm = \"AES256\" }\n",
            "encryption",
            "AES256",
        ),
        (
            "[[storage.bucket.lifecycle_rule]]\nid = \"r\"\nexpiration = { days = 3 }\n",
            "lifecycle_rule",
            "<Days>3</Days>",
        ),
        (
            "[[storage.bucket.lifecycle_rule]]\nid = \"r\"\nexpiration = { days = 9 }\n",
            "lifecycle_rule",
            "<Days>9</Days>",
        ),
        (
            "[[storage.bucket.cors_rule]]\nallowed_origins = [\"https://x.example\"]\nallowed_methods = [\"GET\"]\n",
            "cors_rule",
            "https://x.example",
        ),
        (
            "[[storage.bucket.cors_rule]]\nallowed_origins = [\"https://y.example\"]\nallowed_methods = [\"GET\", \"PUT\"]\n",
            "cors_rule",
            "https://y.example",
        ),
        (
            "[storage.bucket.policy]\nVersion = \"2012-10-17\"\nStatement = [{ Effect = \"Deny\", Principal = { AWS = \"arn:aws:iam::000000000000:user/x\" }, Action = \"s3:DeleteObject\", Resource = \"arn:aws:s3:::chg-b/*\" }]\n",
            "policy",
            "s3:DeleteObject",
        ),
    ];
    let sub = |field: &str| {
        match field {
            "tags" => "tagging",
            "lifecycle_rule" => "lifecycle",
            "cors_rule" => "cors",
            other => other,
        }
        .to_string()
    };
    // Each configuration is set, then changed; the earlier ones stay (they are kept in the manifest).
    let mut kept: Vec<&str> = Vec::new();
    for (i, (addition, field, expect)) in steps.iter().enumerate() {
        // A later step of the same field replaces the earlier one.
        if i > 0 && steps[i - 1].1 == *field {
            kept.pop();
        }
        kept.push(addition);
        w.update_only(base, &kept, field, &format!("step {i}"));
        let got = w.get("chg-b", &sub(field)).await.unwrap_or_default();
        assert!(got.contains(expect), "step {i}: {got}");
        w.converged();
    }
    // Removing each configuration removes it on the server (versioning cannot be removed: it stays suspended).
    for field in [
        "policy",
        "cors_rule",
        "lifecycle_rule",
        "encryption",
        "tags",
    ] {
        kept.retain(|a| !a.starts_with(field) && !a.contains(&format!("storage.bucket.{field}")));
        w.update_only(base, &kept, field, &format!("removing {field}"));
        let left = w.get("chg-b", &sub(field)).await;
        assert!(
            left.as_deref().is_none_or(|x| !x.contains("<Key>")
                && !x.contains("Rule")
                && !x.contains("Statement")),
            "{field} is still there: {left:?}"
        );
        w.converged();
    }
    // Versioning never goes back to disabled.
    w.write(&format!("{base}versioning = \"disabled\"\n"));
    let o = w.apply(&[]);
    code(&o, 4);
    assert!(
        text(&o.stdout).contains("S3 can only suspend it"),
        "{}",
        both(&o)
    );
    w.finish();
}

#[tokio::test]
async fn a_public_policy_widens_access_and_a_full_bucket_names_its_objects() {
    let w = World::new("hazards").await;
    let base = "[tenant]\nid = \"hz\"\n\n[[storage.bucket]]\nname = \"hz-b\"\n";
    w.write(&format!(
        "{base}[storage.bucket.policy]\nVersion = \"2012-10-17\"\nStatement = [{{ Effect = \"Allow\", Principal = \"*\", Action = \"s3:GetObject\", Resource = \"arn:aws:s3:::hz-b/*\" }}]\n"
    ));
    let o = w.apply(&[]);
    code(&o, 4);
    assert!(text(&o.stdout).contains("WIDENS_ACCESS"), "{}", both(&o));
    code(&w.apply(&["WIDENS_ACCESS"]), 0);
    for key in ["a.txt", "b/c.txt", "d.txt"] {
        w.put_object("hz-b", key).await;
    }
    w.write("[tenant]\nid = \"hz\"\n");
    let plan = w.plan();
    let hazards = plan["changes"][0]["hazards"].to_string();
    assert!(hazards.contains("holds 3 objects"), "{hazards}");
    code(&w.apply(&[]), 4);
    assert!(w.exists("hz-b").await);
    code(&w.apply(&["DELETES_DATA"]), 0);
    assert!(!w.exists("hz-b").await);
    w.converged();
    w.finish();
}

#[tokio::test]
async fn a_wrong_secret_is_a_clear_error_naming_the_endpoint() {
    let w = World::new("auth").await;
    w.write("[tenant]\nid = \"au\"\n\n[[storage.bucket]]\nname = \"au-b\"\n");
    let o = w
        .command(&["plan", &w.manifest()], "not-the-secret-key")
        .output()
        .expect("runs");
    code(&o, 1);
    let err = text(&o.stderr);
    assert!(
        err.contains(&format!("S3 at {} refused the credentials", w.endpoint)),
        "{err}"
    );
    assert!(!err.contains('<'), "XML in the message: {err}");
    assert!(!both(&o).contains("not-the-secret-key"), "{}", both(&o));

    // The profile's `[storage]` table wins over the environment; its secret comes from a file beside it.
    std::fs::write(
        w.dir.join("s3-secret"),
        format!("{}\n", crate::support::S3_SECRET),
    )
    .expect("writes");
    let profile = w.dir.join("profile.toml");
    std::fs::write(
        &profile,
        format!(
            "[storage]\nendpoint = \"{}\"\naccess_key_id = \"AK\"\nsecret_access_key = {{ file = \"s3-secret\" }}\naddressing = \"path\"\n",
            w.endpoint
        ),
    )
    .expect("writes");
    let o = w
        .command(
            &[
                "plan",
                &w.manifest(),
                "--profile",
                &profile.display().to_string(),
            ],
            "not-the-secret-key",
        )
        .output()
        .expect("runs");
    code(&o, 0);
    assert!(
        text(&o.stdout).contains("+ storage.bucket.au-b"),
        "{}",
        both(&o)
    );
    w.finish();
}

/// A bucket made with object lock by another client, and one whose access logging (a sub-resource no field
/// carries; SeaweedFS does not implement it, so it is answered as the S3 API reference's GetBucketLogging
/// does, through `s3_recorded`) is on. Object lock was named here until the bucket kind carried it: the
/// export now holds it (`object_lock = {}`) and names the logging alone; `--strict` refuses the export,
/// and a backup's storage domain is `incomplete`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_configuration_no_field_carries_is_named() {
    let mut w = World::new("inventory").await;
    let logging = "<LoggingEnabled><TargetBucket>inv-logs</TargetBucket><TargetPrefix>inv-plain/</TargetPrefix></LoggingEnabled>";
    let recorded = crate::s3_recorded::S3Recorded::start(&w.endpoint, Some(logging)).await;
    w.w.set_env("FALCONER_S3_ENDPOINT", &recorded.endpoint());
    w.client
        .send(
            Call::new(Method::PUT, Some("inv-locked"), "")
                .header("x-amz-bucket-object-lock-enabled", "true"),
        )
        .await
        .expect("creates a bucket with object lock");
    w.put("inv-plain", "", "").await;
    let tenant = w.dir.join("tenant.toml");
    std::fs::write(&tenant, "[tenant]\nid = \"inv\"\n").expect("writes");
    let t = tenant.display().to_string();
    let export = |out: &str| {
        [
            "export",
            "--tenant",
            "inv",
            "--manifest",
            &t,
            "--domain",
            "storage",
            "-o",
            out,
        ]
        .map(String::from)
        .to_vec()
    };
    let args = export("/dev/null");
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let err = crate::support::named_and_strict(
        &w,
        &args,
        "storage: not carried (a manifest, export or backup does not hold them): 2 access logging: access logging of bucket inv-locked; access logging of bucket inv-plain",
    );
    assert!(!err.contains("object lock"), "carried now: {err}");
    let out = w.dir.join("carried.toml").display().to_string();
    let args = export(&out);
    code(
        &w.run(&args.iter().map(String::as_str).collect::<Vec<_>>()),
        0,
    );
    let exported = std::fs::read_to_string(&out).expect("the export");
    assert!(
        exported.contains("[storage.bucket.object_lock]\n"),
        "{exported}"
    );
    w.finish();
}

/// A bucket's protection plans minimally and applies, field by field: its object ownership and object lock
/// against SeaweedFS, which implements both (object lock enabled on a bucket that exists and is versioned,
/// then its default retention set and lengthened); its public access block through `s3_recorded`, which
/// answers as the S3 API reference does (SeaweedFS answers 501). Then what S3 refuses is refused before
/// writing: a COMPLIANCE retention needs `--allow RETAINS_DATA`, disabling object lock and suspending
/// versioning under it are IMPOSSIBLE, unblocking public policies widens access, and a public policy beside a
/// block, or object lock without versioning, break the rules.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_buckets_protection_plans_minimally_and_applies() {
    let mut w = World::new("protect").await;
    let recorded = crate::s3_recorded::S3Recorded::start(&w.endpoint, None).await;
    w.w.set_env("FALCONER_S3_ENDPOINT", &recorded.endpoint());
    let base = "[tenant]\nid = \"prot\"\n\n[[storage.bucket]]\nname = \"prot-b\"\nversioning = \"enabled\"\n";
    w.write(base);
    code(&w.apply(&[]), 0);
    w.converged();
    let steps: &[(&str, &str, &str)] = &[
        (
            "ownership = \"BucketOwnerPreferred\"\n",
            "ownership",
            "BucketOwnerPreferred",
        ),
        (
            "ownership = \"ObjectWriter\"\n",
            "ownership",
            "ObjectWriter",
        ),
        (
            "public_access_block = { block_public_acls = true, block_public_policy = true }\n",
            "public_access_block",
            "<BlockPublicPolicy>true</BlockPublicPolicy><RestrictPublicBuckets>false",
        ),
        (
            "public_access_block = { block_public_acls = true, ignore_public_acls = true, block_public_policy = true, restrict_public_buckets = true }\n",
            "public_access_block",
            "<RestrictPublicBuckets>true",
        ),
        (
            "object_lock = {}\n",
            "object_lock",
            "<ObjectLockEnabled>Enabled",
        ),
        (
            "object_lock = { mode = \"GOVERNANCE\", days = 7 }\n",
            "object_lock",
            "<Days>7</Days>",
        ),
        (
            "object_lock = { mode = \"GOVERNANCE\", days = 30 }\n",
            "object_lock",
            "<Days>30</Days>",
        ),
    ];
    let sub = |field: &str| match field {
        "ownership" => "ownershipControls",
        "public_access_block" => "publicAccessBlock",
        _ => "object-lock",
    };
    let mut kept: Vec<&str> = Vec::new();
    for (i, (addition, field, expect)) in steps.iter().enumerate() {
        if i > 0 && steps[i - 1].1 == *field {
            kept.pop();
        }
        kept.push(addition);
        w.update_only(base, &kept, field, &format!("step {i}"));
        let got = match *field {
            "public_access_block" => recorded
                .blocks
                .lock()
                .expect("kept")
                .get("prot-b?publicAccessBlock")
                .cloned(),
            f => w.get("prot-b", sub(f)).await,
        };
        assert!(
            got.as_deref().unwrap_or_default().contains(expect),
            "step {i}: {got:?}"
        );
        w.converged();
    }
    let with = |last: &str| format!("{base}{}{}{last}", kept[0], kept[1]);
    // A COMPLIANCE retention: no one can delete an object version before it ends.
    w.write(&with("object_lock = { mode = \"COMPLIANCE\", days = 1 }\n"));
    let o = w.apply(&[]);
    code(&o, 4);
    assert!(both(&o).contains("RETAINS_DATA"), "{}", both(&o));
    code(&w.apply(&["RETAINS_DATA"]), 0);
    w.converged();
    assert!(
        w.get("prot-b", "object-lock")
            .await
            .unwrap_or_default()
            .contains("COMPLIANCE")
    );
    // Object lock cannot be disabled, nor versioning suspended under it.
    w.write(&with(""));
    let o = w.apply(&[]);
    code(&o, 4);
    assert!(both(&o).contains("S3 cannot disable it"), "{}", both(&o));
    let locked = "object_lock = { mode = \"COMPLIANCE\", days = 1 }\n";
    w.write(&with(locked).replace("versioning = \"enabled\"", "versioning = \"suspended\""));
    let o = w.run(&["validate", &w.manifest()]);
    assert_ne!(o.status.code(), Some(0), "{}", both(&o));
    assert!(both(&o).contains("s3-object-lock"), "{}", both(&o));
    // Public policies unblocked: wider access, allowed explicitly.
    let open = "public_access_block = { block_public_acls = true }\n";
    w.write(&format!("{base}{}{open}{locked}", kept[0]));
    let o = w.apply(&[]);
    code(&o, 4);
    assert!(
        both(&o).contains("no longer blocks public policies"),
        "{}",
        both(&o)
    );
    code(&w.apply(&["WIDENS_ACCESS"]), 0);
    w.converged();
    // A public policy beside a block of public policies breaks S3's rule.
    let policy = "policy = { Version = \"2012-10-17\", Statement = [{ Effect = \"Allow\", Principal = \"*\", Action = \"s3:GetObject\", Resource = \"arn:aws:s3:::prot-b/*\" }] }\n";
    w.write(&format!("{base}{}{}{locked}{policy}", kept[0], kept[1]));
    let o = w.run(&["validate", &w.manifest()]);
    assert_ne!(o.status.code(), Some(0), "{}", both(&o));
    assert!(both(&o).contains("s3-public-access-block"), "{}", both(&o));
    w.finish();
}

/// Requester pays and transfer acceleration, through the port that answers them as S3 does (SeaweedFS answers
/// 501): each set, changed and taken back to S3's default by one update of its field alone, the document
/// sent as the S3 API reference writes it, and the next plan empty; a bucket created with both sets both; a
/// dotted name with acceleration breaks S3's rule before anything is written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requester_pays_and_acceleration_plan_minimally_and_apply() {
    let mut w = World::new("transfer").await;
    let recorded = crate::s3_recorded::S3Recorded::start(&w.endpoint, None).await;
    w.w.set_env("FALCONER_S3_ENDPOINT", &recorded.endpoint());
    let base = "[tenant]\nid = \"xfer\"\n\n[[storage.bucket]]\nname = \"xfer-b\"\n";
    w.write(base);
    code(&w.apply(&[]), 0);
    w.converged();
    let kept = |sub: &str| {
        recorded
            .blocks
            .lock()
            .expect("kept")
            .get(&format!("xfer-b?{sub}"))
            .cloned()
            .unwrap_or_default()
    };
    let steps: &[(&str, &str, &str, &str)] = &[
        (
            "request_payer = \"Requester\"\n",
            "request_payer",
            "requestPayment",
            "<Payer>Requester</Payer>",
        ),
        (
            "",
            "request_payer",
            "requestPayment",
            "<Payer>BucketOwner</Payer>",
        ),
        (
            "accelerate = true\n",
            "accelerate",
            "accelerate",
            "<Status>Enabled</Status>",
        ),
        ("", "accelerate", "accelerate", "<Status>Suspended</Status>"),
    ];
    for (i, (addition, field, sub, expect)) in steps.iter().enumerate() {
        w.update_only(base, &[addition], field, &format!("step {i}"));
        assert!(kept(sub).contains(expect), "step {i}: {}", kept(sub));
        w.converged();
    }
    // Created with both: both set as the bucket is made.
    let both_set = "[tenant]\nid = \"xfer\"\n\n[[storage.bucket]]\nname = \"xfer-c\"\nrequest_payer = \"Requester\"\naccelerate = true\n";
    w.write(both_set);
    code(&w.apply(&["DELETES_DATA"]), 0);
    w.converged();
    let c = |sub: &str| {
        recorded
            .blocks
            .lock()
            .expect("kept")
            .get(&format!("xfer-c?{sub}"))
            .cloned()
            .unwrap_or_default()
    };
    assert!(
        c("requestPayment").contains("Requester"),
        "{}",
        c("requestPayment")
    );
    assert!(c("accelerate").contains("Enabled"), "{}", c("accelerate"));
    // S3 does not accelerate a bucket with a `.` in its name.
    w.write(
        "[tenant]\nid = \"xfer\"\n\n[[storage.bucket]]\nname = \"xfer.d\"\naccelerate = true\n",
    );
    let o = w.run(&["validate", &w.manifest()]);
    assert_ne!(o.status.code(), Some(0), "{}", both(&o));
    assert!(both(&o).contains("s3-accelerate"), "{}", both(&o));
    w.finish();
}
