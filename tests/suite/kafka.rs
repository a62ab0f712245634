//! Kafka against a real broker (noida-db, one per test, no authorizer): the acme example's topics apply and
//! its ACLs are refused with the no-authorizer message while the rest goes on, export
//! then plan shows no changes for topics another client created, and config set / change / unset,
//! partition increase, partition decrease (refused) and topic delete each plan the minimal change.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use crate::support::{KafkaServer, Workdir, both, code, text};
use rdkafka::ClientConfig;
use rdkafka::admin::{
    AdminClient, AdminOptions, ConfigSource, NewTopic, ResourceSpecifier, TopicReplication,
};
use rdkafka::client::DefaultClientContext;
use serde_json::Value;

/// A broker of its own, an admin client of it, and a Workdir whose falconer reaches it.
struct World {
    /// Kept for its life: the broker stops when it is dropped.
    _kafka: KafkaServer,
    admin: AdminClient<DefaultClientContext>,
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
        let kafka = KafkaServer::start().await;
        let admin = ClientConfig::new()
            .set("bootstrap.servers", &kafka.bootstrap)
            .set("log_level", "3")
            .create()
            .expect("an admin client");
        let env = vec![(
            "FALCONER_KAFKA_BOOTSTRAP".to_string(),
            kafka.bootstrap.clone(),
        )];
        let w = Workdir::new("kafka", tag, env);
        World {
            _kafka: kafka,
            admin,
            w,
        }
    }

    fn write(&self, body: &str) {
        self.w.write("m.toml", body);
    }

    /// The configs set on a topic (source: the topic itself).
    async fn configs(&self, topic: &str) -> BTreeMap<String, String> {
        let r = self
            .admin
            .describe_configs(
                [ResourceSpecifier::Topic(topic)].iter(),
                &AdminOptions::new(),
            )
            .await
            .expect("describes");
        let r = r.into_iter().next().expect("one").expect("the topic");
        r.entries
            .iter()
            .filter(|e| matches!(e.source, ConfigSource::DynamicTopic))
            .filter_map(|e| Some((e.name.clone(), e.value.clone()?)))
            .collect()
    }

    fn partitions(&self, topic: &str) -> Option<usize> {
        let md = self
            .admin
            .inner()
            .fetch_metadata(None, Duration::from_secs(10))
            .expect("metadata");
        md.topics()
            .iter()
            .find(|t| t.name() == topic)
            .map(|t| t.partitions().len())
    }

    fn finish(self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn changes(plan: &Value) -> Vec<(String, String, Vec<String>)> {
    plan["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .map(|c| {
            (
                c["address"].as_str().unwrap_or_default().to_string(),
                c["action"].as_str().unwrap_or_default().to_string(),
                c["fields"]
                    .as_array()
                    .map(|f| {
                        f.iter()
                            .map(|x| x["path"].as_str().unwrap_or_default().to_string())
                            .collect()
                    })
                    .unwrap_or_default(),
            )
        })
        .collect()
}

fn one(address: &str, action: &str, fields: &[&str]) -> Vec<(String, String, Vec<String>)> {
    vec![(
        address.to_string(),
        action.to_string(),
        fields.iter().map(|f| f.to_string()).collect(),
    )]
}

#[tokio::test]
async fn acme_topics_apply_and_acls_say_the_broker_has_no_authorizer() {
    let w = World::new("acme").await;
    let ex = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/acme");
    for f in ["tenant.toml", "kafka.toml"] {
        std::fs::copy(ex.join(f), w.dir.join("manifest").join(f)).expect("copies");
    }
    // The broker has no authorizer: the topics are applied, the ACLs cannot be, and the run says why.
    let o = w.apply(&[]);
    code(&o, 1);
    let err = text(&o.stderr);
    assert!(
        err.contains("the broker has no authorizer; ACLs cannot be managed on this cluster"),
        "{err}"
    );
    assert!(err.contains("the topics were applied"), "{err}");
    // What is left to do is the three ACLs, nothing of the topics.
    let left = changes(&w.plan());
    assert_eq!(left.len(), 3, "{left:?}");
    assert!(
        left.iter()
            .all(|(a, action, _)| a.starts_with("kafka.acl.") && action == "create"),
        "{left:?}"
    );
    assert_eq!(w.partitions("acme.orders"), Some(6));
    let orders = w.configs("acme.orders").await;
    assert_eq!(
        orders.get("retention.ms").map(String::as_str),
        Some("604800000")
    );
    assert_eq!(
        orders.get("cleanup.policy").map(String::as_str),
        Some("delete")
    );
    assert_eq!(
        w.configs("acme.customers")
            .await
            .get("cleanup.policy")
            .map(String::as_str),
        Some("compact")
    );
    w.finish();
}

#[tokio::test]
async fn export_then_plan_shows_no_changes_for_topics_another_client_made() {
    let w = World::new("export").await;
    let topics = [
        NewTopic::new("beta.events", 4, TopicReplication::Fixed(1))
            .set("retention.ms", "86400000")
            .set("cleanup.policy", "compact")
            .set("max.message.bytes", "2097152"),
        NewTopic::new("beta.plain", 1, TopicReplication::Fixed(1)),
        NewTopic::new("beta.segments", 2, TopicReplication::Fixed(1))
            .set("segment.bytes", "104857600")
            .set("min.insync.replicas", "1"),
        NewTopic::new("other.topic", 1, TopicReplication::Fixed(1)),
    ];
    for r in w
        .admin
        .create_topics(topics.iter(), &AdminOptions::new())
        .await
        .expect("creates")
    {
        r.expect("created");
    }
    let out = w.dir.join("manifest/beta.toml");
    let o = w.run(&[
        "export",
        "--tenant",
        "beta",
        "--domain",
        "kafka",
        "-o",
        &out.display().to_string(),
    ]);
    code(&o, 0);
    let exported = std::fs::read_to_string(&out).expect("exported");
    for expected in [
        "name = \"beta.events\"",
        "partitions = 4",
        "\"retention.ms\" = \"86400000\"",
        "\"segment.bytes\" = \"104857600\"",
    ] {
        assert!(
            exported.contains(expected),
            "no {expected:?} in\n{exported}"
        );
    }
    // Outside the tenant's prefix; and broker defaults are never exported.
    assert!(!exported.contains("other.topic"), "{exported}");
    assert!(!exported.contains("\"segment.ms\""), "{exported}");
    w.converged();
    w.finish();
}

#[tokio::test]
async fn each_change_plans_minimally_and_applies() {
    let w = World::new("changes").await;
    let topic = |partitions: u32, config: &str| {
        format!(
            "[tenant]\nid = \"gamma\"\n\n[[kafka.topic]]\nname = \"gamma.t\"\npartitions = {partitions}\nreplication_factor = 1\nconfig = {{ {config} }}\n"
        )
    };
    w.write(&topic(2, "\"retention.ms\" = \"1000\""));
    code(&w.apply(&[]), 0);
    w.converged();

    // Set one more config, change one: one update, applied through IncrementalAlterConfigs.
    w.write(&topic(
        2,
        "\"retention.ms\" = \"2000\", \"cleanup.policy\" = \"compact\"",
    ));
    assert_eq!(
        changes(&w.plan()),
        one(
            "kafka.topic.gamma.t",
            "update",
            &["config.cleanup.policy", "config.retention.ms"]
        )
    );
    code(&w.apply(&[]), 0);
    let c = w.configs("gamma.t").await;
    assert_eq!(c.get("retention.ms").map(String::as_str), Some("2000"));
    assert_eq!(c.get("cleanup.policy").map(String::as_str), Some("compact"));
    w.converged();

    // Unset one: back to the broker's default, no longer set on the topic.
    w.write(&topic(2, "\"cleanup.policy\" = \"compact\""));
    assert_eq!(
        changes(&w.plan()),
        one("kafka.topic.gamma.t", "update", &["config.retention.ms"])
    );
    code(&w.apply(&[]), 0);
    assert!(!w.configs("gamma.t").await.contains_key("retention.ms"));
    w.converged();

    // More partitions.
    w.write(&topic(5, "\"cleanup.policy\" = \"compact\""));
    assert_eq!(
        changes(&w.plan()),
        one("kafka.topic.gamma.t", "update", &["partitions"])
    );
    code(&w.apply(&[]), 0);
    assert_eq!(w.partitions("gamma.t"), Some(5));
    w.converged();

    // Fewer partitions: impossible, refused at plan time, nothing touched.
    w.write(&topic(3, "\"cleanup.policy\" = \"compact\""));
    let o = w.apply(&[]);
    code(&o, 4);
    assert!(
        text(&o.stdout).contains("Kafka cannot remove partitions"),
        "{}",
        both(&o)
    );
    assert_eq!(w.partitions("gamma.t"), Some(5));

    // Delete: DELETES_DATA, refused without permission.
    w.write("[tenant]\nid = \"gamma\"\n");
    assert_eq!(
        changes(&w.plan()),
        one("kafka.topic.gamma.t", "delete", &[])
    );
    code(&w.apply(&[]), 4);
    assert_eq!(w.partitions("gamma.t"), Some(5));
    code(&w.apply(&["DELETES_DATA"]), 0);
    assert_eq!(w.partitions("gamma.t"), None);
    w.converged();
    w.finish();
}

/// Runs falconer against the protocol double (not a noida broker).
fn run_against(double: &crate::kafka_double::KafkaDouble, dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_falconer"))
        .args(args)
        .env("NO_COLOR", "1")
        .env(
            "FALCONER_STATE",
            format!("sqlite:{}", dir.join("state.db").display()),
        )
        .env("FALCONER_KAFKA_BOOTSTRAP", &double.bootstrap)
        .env_remove("FALCONER_PROFILE")
        .stdin(Stdio::null())
        .output()
        .expect("runs")
}

fn temp(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("falconer-kafka-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("manifest")).expect("temp dir");
    dir
}

/// ACLs against a broker that has an authorizer (the protocol double): planned, created in one request,
/// read back as planned (no changes), and one removed with one DeleteAcls.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acls_plan_apply_and_replan_against_an_authorizing_broker() {
    let double = crate::kafka_double::KafkaDouble::start().await;
    let dir = temp("acls");
    let m = dir.join("manifest").display().to_string();
    let acl = |name: &str, rt: &str, extra: &str, principal: &str, op: &str| {
        format!(
            "\n[[kafka.acl]]\nresource_name = \"{name}\"\nresource_type = \"{rt}\"\n{extra}principal = \"{principal}\"\noperation = \"{op}\"\npermission = \"allow\"\n"
        )
    };
    // (A literal topic ACL would need its topic declared; topics are tested against the real broker.)
    let a1 = acl(
        "acme.orders-tx",
        "transactional_id",
        "",
        "User:orders-api",
        "write",
    );
    let a2 = acl(
        "acme.",
        "topic",
        "pattern_type = \"prefixed\"\n",
        "User:analytics",
        "read",
    );
    let a3 = acl(
        "acme.workers",
        "group",
        "host = \"10.0.0.1\"\n",
        "User:analytics",
        "read",
    );
    let write = |body: String| std::fs::write(dir.join("manifest/m.toml"), body).expect("writes");
    write(format!("[tenant]\nid = \"acme\"\n{a1}{a2}{a3}"));
    let o = run_against(&double, &dir, &["apply", &m, "--auto-approve"]);
    code(&o, 0);
    assert!(
        text(&o.stdout).contains("Applied: 3 change(s)"),
        "{}",
        both(&o)
    );
    assert_eq!(double.count("CreateAcls"), 1);
    {
        let st = double.state.lock().expect("state");
        assert_eq!(st.acls.len(), 3, "{:?}", st.acls);
        let prefixed = st
            .acls
            .iter()
            .find(|b| b.name == "acme.")
            .expect("the prefixed ACL");
        // Topic = 2, PREFIXED = 4, READ = 3, ALLOW = 3 in the protocol.
        assert_eq!(
            (
                prefixed.resource_type,
                prefixed.pattern,
                prefixed.operation,
                prefixed.permission
            ),
            (2, 4, 3, 3)
        );
        let group = st
            .acls
            .iter()
            .find(|b| b.name == "acme.workers")
            .expect("the group ACL");
        assert_eq!((group.resource_type, group.host.as_str()), (3, "10.0.0.1"));
    }
    code(
        &run_against(&double, &dir, &["plan", &m, "--detailed-exitcode"]),
        0,
    );

    write(format!("[tenant]\nid = \"acme\"\n{a1}{a3}"));
    let o = run_against(&double, &dir, &["apply", &m, "--auto-approve"]);
    code(&o, 0);
    assert_eq!(double.count("DeleteAcls"), 1);
    assert_eq!(double.state.lock().expect("state").acls.len(), 2);
    code(
        &run_against(&double, &dir, &["plan", &m, "--detailed-exitcode"]),
        0,
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A thousand new topics are one CreateTopics request, not a thousand.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_topics_are_one_create_topics_request() {
    let double = crate::kafka_double::KafkaDouble::start().await;
    let dir = temp("thousand");
    let mut body = String::from("[tenant]\nid = \"acme\"\n");
    for i in 0..1000 {
        body.push_str(&format!(
            "\n[[kafka.topic]]\nname = \"acme.t{i}\"\npartitions = 2\nreplication_factor = 1\n"
        ));
    }
    std::fs::write(dir.join("manifest/m.toml"), body).expect("writes");
    let m = dir.join("manifest").display().to_string();
    let o = run_against(&double, &dir, &["apply", &m, "--auto-approve"]);
    code(&o, 0);
    assert_eq!(double.count("CreateTopics"), 1);
    assert_eq!(double.state.lock().expect("state").topics.len(), 1000);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A manifest (or an artifact's `config_overrides`) that repeats the broker's defaults plans no change
/// against a topic that has none set; the broker's own refusals name the topic.
#[tokio::test]
async fn broker_defaults_plan_no_change_and_broker_errors_name_the_topic() {
    let w = World::new("defaults").await;
    let t = [NewTopic::new("delta.t", 1, TopicReplication::Fixed(1))];
    for r in w
        .admin
        .create_topics(t.iter(), &AdminOptions::new())
        .await
        .expect("creates")
    {
        r.expect("created");
    }
    // The broker's effective retention of a topic with nothing set.
    let r = w
        .admin
        .describe_configs(
            [ResourceSpecifier::Topic("delta.t")].iter(),
            &AdminOptions::new(),
        )
        .await
        .expect("describes");
    let r = r.into_iter().next().expect("one").expect("the topic");
    let retention = r
        .get("retention.ms")
        .and_then(|e| e.value.clone())
        .expect("a default retention");
    w.write(&format!(
        "[tenant]\nid = \"delta\"\n\n[[kafka.topic]]\nname = \"delta.t\"\npartitions = 1\nreplication_factor = 1\nconfig = {{ \"retention.ms\" = \"{retention}\" }}\n"
    ));
    w.converged();
    assert!(w.configs("delta.t").await.is_empty());

    // A replication factor the single broker cannot have: refused before writing, the topic named.
    w.write(&format!(
        "[tenant]\nid = \"delta\"\n\n[[kafka.topic]]\nname = \"delta.t\"\npartitions = 1\nreplication_factor = 1\nconfig = {{ \"retention.ms\" = \"{retention}\" }}\n\n\
         [[kafka.topic]]\nname = \"delta.wide\"\npartitions = 1\nreplication_factor = 3\n"
    ));
    let o = w.apply(&[]);
    code(&o, 4);
    let err = text(&o.stdout) + &text(&o.stderr);
    assert!(err.contains("delta.wide"), "{err}");
    assert!(err.contains("[kafka-replication-factor]"), "{err}");
    assert_eq!(w.partitions("delta.wide"), None);
    w.finish();
}

/// The acme example's whole Kafka part (topics with configs, and ACLs) against a broker with an authorizer
/// (the double): it applies, and a second plan shows no changes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acme_applies_whole_against_an_authorizing_broker() {
    let double = crate::kafka_double::KafkaDouble::start().await;
    let dir = temp("acme-double");
    let ex = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/acme");
    for f in ["tenant.toml", "kafka.toml"] {
        std::fs::copy(ex.join(f), dir.join("manifest").join(f)).expect("copies");
    }
    let m = dir.join("manifest").display().to_string();
    let o = run_against(&double, &dir, &["apply", &m, "--auto-approve"]);
    code(&o, 0);
    assert!(
        text(&o.stdout).contains("Applied: 6 change(s)"),
        "{}",
        both(&o)
    );
    assert_eq!(double.state.lock().expect("state").acls.len(), 3);
    code(
        &run_against(&double, &dir, &["plan", &m, "--detailed-exitcode"]),
        0,
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A targeted plan, apply and drift reach only the systems of their targets (and of what those depend on):
/// the whole acme example with only Kafka configured plans, applies and drifts its topics; untargeted, it
/// needs every system and says which connection is missing.
#[tokio::test]
async fn targeted_runs_reach_only_the_systems_they_need() {
    let w = World::new("reach").await;
    let ex = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/acme");
    for e in std::fs::read_dir(&ex).expect("lists") {
        let e = e.expect("an entry");
        let to = w.dir.join("manifest").join(e.file_name());
        if e.path().is_dir() {
            std::fs::create_dir_all(&to).expect("a directory");
            for f in std::fs::read_dir(e.path()).expect("lists") {
                let f = f.expect("an entry");
                std::fs::copy(f.path(), to.join(f.file_name())).expect("copies");
            }
        } else {
            std::fs::copy(e.path(), to).expect("copies");
        }
    }
    let m = w.manifest();
    let whole = w.run(&["plan", &m]);
    code(&whole, 1);
    assert!(
        text(&whole.stderr).contains("PostgreSQL"),
        "{}",
        both(&whole)
    );

    let target = ["--target", "kafka.topic.*"];
    let o = w.run(&[&["plan", m.as_str(), "--format", "json"][..], &target[..]].concat());
    code(&o, 0);
    let planned = changes(&serde_json::from_slice(&o.stdout).expect("a JSON plan"));
    assert!(!planned.is_empty());
    assert!(
        planned
            .iter()
            .all(|(a, action, _)| a.starts_with("kafka.topic.") && action == "create"),
        "{planned:?}"
    );
    let drift = w.run(&[&["drift", m.as_str()][..], &target[..]].concat());
    code(&drift, 2);
    let applied = w.run(&[&["apply", m.as_str(), "--auto-approve"][..], &target[..]].concat());
    code(&applied, 0);
    assert_eq!(w.partitions("acme.orders"), Some(6));
    let drift = w.run(&[&["drift", m.as_str()][..], &target[..]].concat());
    code(&drift, 0);
    // --exclude narrows drift the same way plan does.
    let drift = w.run(&[
        "drift",
        m.as_str(),
        "--target",
        "kafka.*",
        "--exclude",
        "kafka.acl.*",
    ]);
    code(&drift, 0);
}

/// A consumer group of the tenant (its topic prefix) is named by export's inventory: its committed offsets
/// are not carried. `--strict` refuses the export.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_group_is_named_as_not_carried() {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    let w = World::new("inventory").await;
    let topic = NewTopic::new("inv.events", 1, TopicReplication::Fixed(1));
    for r in w
        .admin
        .create_topics([&topic], &AdminOptions::new())
        .await
        .expect("creates")
    {
        r.expect("created");
    }
    let bootstrap =
        w.w.env
            .iter()
            .find_map(|(k, v)| (k == "FALCONER_KAFKA_BOOTSTRAP").then(|| v.clone()))
            .expect("the broker");
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .set("group.id", "inv.readers")
        .set("log_level", "3")
        .create()
        .expect("a consumer");
    consumer.subscribe(&["inv.events"]).expect("subscribes");
    // Joined once the group has given it the partition (a bounded number of polls).
    for _ in 0..300 {
        let _ = consumer.poll(Duration::from_millis(100));
        if consumer.assignment().is_ok_and(|a| a.count() > 0) {
            break;
        }
    }
    assert!(
        consumer.assignment().is_ok_and(|a| a.count() > 0),
        "the consumer joined its group"
    );
    let export = [
        "export",
        "--tenant",
        "inv",
        "--domain",
        "kafka",
        "-o",
        "/dev/null",
    ];
    crate::support::named_and_strict(
        &w,
        &export,
        "kafka: not carried (a manifest, export or backup does not hold them): 1 consumer group: consumer group inv.readers (its committed offsets)",
    );
    w.finish();
}

/// A topic asking for more replicas than the cluster has brokers is found before writing: the plan marks
/// its creation IMPOSSIBLE naming the rule, `apply` refuses (exit 4) and creates nothing, not even the topic
/// that could be made; with a replication factor the cluster can give, both are created.
#[tokio::test]
async fn a_replication_factor_above_the_brokers_is_refused_before_writing() {
    let w = World::new("rf").await;
    let topics = |rf: u32| {
        format!(
            "[tenant]\nid = \"rf\"\n\n[[kafka.topic]]\nname = \"rf.orders\"\npartitions = 1\n\n\
             [[kafka.topic]]\nname = \"rf.audit\"\npartitions = 2\nreplication_factor = {rf}\n"
        )
    };
    w.write(&topics(3));
    let plan = w.plan();
    let refused = crate::support::refused_by(&plan, "kafka-replication-factor", "");
    assert_eq!(refused, ["kafka.topic.rf.audit"], "{plan}");
    code(&w.apply(&[]), 4);
    assert_eq!(w.partitions("rf.orders"), None, "nothing is written");
    w.write(&topics(1));
    code(&w.apply(&[]), 0);
    assert_eq!(w.partitions("rf.audit"), Some(2));
    w.finish();
}

/// Kafka answers each ACL of a CreateAcls on its own: when the broker refuses one (here, the caller may not
/// create ACLs for that principal), the apply fails naming it and its error code, says the others were
/// created, and the next apply, once allowed, converges. The double's MATCH filter finds the ACLs that
/// apply to a resource (literal, wildcard and prefixed), as Kafka's does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_acl_is_named_and_the_others_are_kept() {
    let double = crate::kafka_double::KafkaDouble::start().await;
    double
        .state
        .lock()
        .expect("state")
        .refused_principals
        .push("User:intruder".into());
    let dir = temp("acl-refused");
    let m = dir.join("manifest").display().to_string();
    let acl = |principal: &str| {
        format!(
            "\n[[kafka.acl]]\nresource_name = \"acme.\"\nresource_type = \"topic\"\npattern_type = \"prefixed\"\nprincipal = \"{principal}\"\noperation = \"read\"\npermission = \"allow\"\n"
        )
    };
    let body = format!(
        "[tenant]\nid = \"acme\"\n{}{}",
        acl("User:analytics"),
        acl("User:intruder")
    );
    std::fs::write(dir.join("manifest/m.toml"), body).expect("writes");
    let o = run_against(&double, &dir, &["apply", &m, "--auto-approve"]);
    let out = both(&o);
    assert_ne!(o.status.code(), Some(0), "{out}");
    assert!(
        out.contains("User:intruder") && out.contains("CLUSTER_AUTHORIZATION_FAILED"),
        "{out}"
    );
    assert!(out.contains("refused 1 of 2"), "{out}");
    assert!(
        !out.contains("User:analytics Read"),
        "only the refused ACL is named: {out}"
    );
    {
        let st = double.state.lock().expect("state");
        assert_eq!(st.acls.len(), 1, "{:?}", st.acls);
        assert_eq!(st.acls[0].principal, "User:analytics");
    }
    double
        .state
        .lock()
        .expect("state")
        .refused_principals
        .clear();
    code(
        &run_against(&double, &dir, &["apply", &m, "--auto-approve"]),
        0,
    );
    code(
        &run_against(&double, &dir, &["plan", &m, "--detailed-exitcode"]),
        0,
    );
    let _ = std::fs::remove_dir_all(&dir);
}
