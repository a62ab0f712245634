//! The dependency graph: every edge respected by the order and the waves, cycles named, DOT output.

use std::path::Path;

use falconer::graph::Graph;
use falconer::manifest::{Format, LoadOptions, load_path, load_str};

#[test]
fn order_and_waves_respect_every_edge_of_the_example() {
    let m = load_path(Path::new("examples/acme"), LoadOptions::default())
        .manifest
        .expect("loads");
    let specs: Vec<_> = m.resources.iter().map(|r| &r.spec).collect();
    let g = Graph::build(&m.tenant, &specs);
    let order = g.order().expect("no cycle");
    let pos: Vec<usize> = {
        let mut p = vec![0; order.len()];
        for (k, i) in order.iter().enumerate() {
            p[*i] = k;
        }
        p
    };
    let waves = g.waves().expect("waves");
    assert!(
        g.graph.edge_count() > 30,
        "the example has many dependencies ({})",
        g.graph.edge_count()
    );
    for e in g.graph.raw_edges() {
        let (a, b) = (g.graph[e.source()], g.graph[e.target()]);
        assert!(
            pos[a] < pos[b],
            "{} must come before {}",
            g.addresses[a],
            g.addresses[b]
        );
        assert!(
            waves[a] < waves[b],
            "{} must be in an earlier wave than {}",
            g.addresses[a],
            g.addresses[b]
        );
    }
    // A few dependencies the issue names, across domains too.
    let has = |from: &str, to: &str| {
        let (a, b) = (
            g.index[&falconer::model::Address::parse(from).expect("a")],
            g.index[&falconer::model::Address::parse(to).expect("b")],
        );
        g.graph.contains_edge(
            petgraph::graph::NodeIndex::new(a),
            petgraph::graph::NodeIndex::new(b),
        )
    };
    assert!(has(
        "postgres.table.tenant_acme.orders",
        "postgres.index.tenant_acme.orders_pending_idx"
    ));
    assert!(has(
        "postgres.table.tenant_acme.orders",
        "postgres.policy.tenant_acme.orders.orders_of_current_customer"
    ));
    assert!(has(
        "postgres.table.tenant_acme.customers",
        "postgres.table.tenant_acme.orders"
    ));
    assert!(has("iam.role.viewer", "iam.role.editor"));
    assert!(has("iam.client_scope.acme-api", "iam.client.web-app"));
    assert!(has(
        "kafka.topic.acme.orders",
        "kafka.acl.topic.literal.User:service-account-orders-api.\"*\".write.allow.acme.orders"
    ));
    assert!(has(
        "iam.client.orders-api",
        "kafka.acl.topic.literal.User:service-account-orders-api.\"*\".write.allow.acme.orders"
    ));
    assert!(has(
        "functions.package.orders",
        "functions.action.orders/notify"
    ));
    assert!(has(
        "functions.trigger.order-created",
        "functions.rule.on-order-created"
    ));
    assert!(has(
        "functions.action.orders/pipeline",
        "functions.rule.on-order-created"
    ));
    assert!(has("kafka.topic.acme.orders", "functions.package.orders"));
    assert!(has("iam.group.staff", "iam.group.staff/admins"));
}

#[test]
fn a_cycle_is_an_error_that_names_it() {
    let src = r#"
[tenant]
id = "acme"
[[kafka.topic]]
name = "acme.a"
partitions = 1
depends_on = ["kafka.topic.acme.b"]
[[kafka.topic]]
name = "acme.b"
partitions = 1
depends_on = ["kafka.topic.acme.c"]
[[kafka.topic]]
name = "acme.c"
partitions = 1
depends_on = ["kafka.topic.acme.a"]
"#;
    let loaded = load_str("cycle.toml", src, Format::Toml, LoadOptions::default());
    let msgs = loaded.messages();
    assert!(loaded.has_errors(), "{msgs}");
    let line = msgs
        .lines()
        .find(|l| l.contains("error[cycle]"))
        .expect("a cycle error");
    assert!(line.starts_with("cycle.toml:"), "{line}");
    for t in [
        "kafka.topic.acme.a",
        "kafka.topic.acme.b",
        "kafka.topic.acme.c",
    ] {
        assert!(line.contains(t), "{line}");
    }
}

#[test]
fn dot_has_a_cluster_per_domain_and_labelled_edges() {
    let m = load_path(Path::new("examples/acme-kdl"), LoadOptions::default())
        .manifest
        .expect("loads");
    let specs: Vec<_> = m.resources.iter().map(|r| &r.spec).collect();
    let dot = Graph::build(&m.tenant, &specs).to_dot();
    assert!(dot.starts_with("digraph falconer {"));
    for c in [
        "cluster_iam",
        "cluster_postgres",
        "cluster_mongo",
        "cluster_kafka",
        "cluster_functions",
        "cluster_storage",
    ] {
        assert!(dot.contains(c), "{c}");
    }
    assert!(dot.contains("\"postgres.table.tenant_acme.orders\" -> \"postgres.index.tenant_acme.orders_pending_idx\" [label=\"table\"]"));
    // Quotes inside addresses are escaped.
    assert!(dot.contains("\\\"*\\\""));
}
