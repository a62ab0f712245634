//! PostgreSQL against a real server: inspection, export then plan.

use std::path::Path;

use crate::support::TestDb;
use falconer::domains::Spec;
use falconer::domains::postgres::inspect::inspect;
use falconer::manifest::{Format, LoadOptions, Manifest, Resource, load_str, write};
use falconer::model::Tenant;
use falconer::plan::{self, Item, Options, render};
use falconer::secrets::FingerprintKey;

fn tenant() -> Tenant {
    let mut t = Tenant::new("acme");
    t.naming.set(
        &falconer::domains::postgres::SCHEMA_SCOPE,
        vec!["tenant_acme".into(), "tenant acme \"odd\"".into()],
    );
    t
}

/// A realistic schema written by hand, with the tricky objects the issue lists.
const SCHEMA: &str = r#"
create extension if not exists pgcrypto;
do $$ begin create role acme_app_pg_test_reader; exception when duplicate_object or unique_violation then null; end $$;
create schema tenant_acme;
create schema "tenant acme ""odd""";
create type tenant_acme.status as enum ('pending', 'paid');
create table tenant_acme.customers (
    id bigint generated always as identity primary key,
    email text not null unique,
    tags text[] not null default '{}'::text[],
    score numeric(5,2) default 0,
    created_at timestamptz not null default now()
);
create table tenant_acme.orders (
    id bigserial primary key,
    customer_id bigint not null references tenant_acme.customers(id) on delete cascade,
    status tenant_acme.status not null default 'pending',
    total numeric(12,2) not null check (total >= 0),
    note varchar(200) collate "C",
    public_id uuid not null default gen_random_uuid(),
    total_cents bigint generated always as ((total * 100)::bigint) stored,
    constraint orders_public_id_key unique (public_id)
);
create index orders_customer_idx on tenant_acme.orders (customer_id, id desc);
create index orders_pending_idx on tenant_acme.orders (id) where status = 'pending';
create index customers_lower_email_idx on tenant_acme.customers (lower(email)) include (score);
create view tenant_acme.open_orders as select id, customer_id, total from tenant_acme.orders where status = 'pending';
alter table tenant_acme.orders enable row level security;
create policy orders_by_customer on tenant_acme.orders for select to acme_app_pg_test_reader
    using (customer_id = current_setting('app.customer_id')::bigint);
grant usage on schema tenant_acme to acme_app_pg_test_reader;
grant select, insert on tenant_acme.orders to acme_app_pg_test_reader;
grant select on tenant_acme.open_orders to acme_app_pg_test_reader;
create table "tenant acme ""odd"""."we""ird ta.ble" ("co;l" int);
create table public.sentinel_outside_tenant (id int);
"#;

fn items(specs: &[Spec]) -> Vec<Item> {
    let mut w = Vec::new();
    specs
        .iter()
        .map(|s| {
            Item::new(
                s.clone(),
                Path::new("."),
                &FingerprintKey::new("pg-test"),
                &mut w,
            )
        })
        .collect()
}

#[tokio::test]
async fn export_then_plan_shows_no_changes() {
    let db = TestDb::new("export").await;
    db.exec(SCHEMA).await;
    let t = tenant();
    let live = inspect(&db.pool, &t).await.expect("inspects");
    // On one connection (no parallel lanes) the inspection reads the same.
    let single = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect(&db.url)
        .await
        .expect("connects");
    let alone = inspect(&single, &t)
        .await
        .expect("inspects on one connection");
    single.close().await;
    assert_eq!(alone.resources, live.resources);
    assert_eq!(alone.queries, live.queries);
    let addrs: Vec<String> = live
        .resources
        .iter()
        .map(|s| s.address().to_string())
        .collect();
    for a in [
        "postgres.schema.tenant_acme",
        "postgres.table.tenant_acme.orders",
        "postgres.index.tenant_acme.orders_pending_idx",
        "postgres.view.tenant_acme.open_orders",
        "postgres.policy.tenant_acme.orders.orders_by_customer",
        "postgres.grant.tenant_acme.orders.acme_app_pg_test_reader",
        "postgres.role.acme_app_pg_test_reader",
        "postgres.extension.pgcrypto",
    ] {
        assert!(
            addrs.iter().any(|x| x == a),
            "{a} not inspected: {addrs:#?}"
        );
    }
    assert!(
        !addrs.iter().any(|a| a.contains("sentinel")),
        "inspected outside the tenant"
    );

    // Export: write the inspected resources as a manifest, read it back, and plan it against live.
    let mut m = Manifest::new(t.clone());
    m.resources = live
        .resources
        .iter()
        .cloned()
        .map(|spec| Resource { spec, span: None })
        .collect();
    for format in [Format::Toml, Format::Kdl] {
        let text = write::write(&m, format).expect("writes");
        let loaded = load_str("export", &text, format, LoadOptions::default());
        assert!(!loaded.has_errors(), "{}\n{text}", loaded.messages());
        let exported: Vec<Spec> = loaded
            .manifest
            .expect("manifest")
            .resources
            .into_iter()
            .map(|r| r.spec)
            .collect();
        let p = plan::make(
            &t,
            &items(&exported),
            &items(&live.resources),
            &Options::default(),
        )
        .expect("plans");
        assert!(
            p.changes.is_empty(),
            "{format:?}:\n{}",
            render::text(&p, Default::default())
        );
    }

    // A few values as the server spells them.
    let orders = live
        .resources
        .iter()
        .find_map(|s| match s {
            Spec::PgTable(t) if t.name == "orders" => Some(t),
            _ => None,
        })
        .expect("orders");
    let col = |n: &str| orders.column.iter().find(|c| c.name == n).expect("column");
    assert_eq!(col("status").ty, "tenant_acme.status");
    assert_eq!(col("total").ty, "numeric(12,2)");
    assert_eq!(col("note").collation.as_deref(), Some("C"));
    assert_eq!(
        col("total_cents").generated.as_deref(),
        Some("(total * 100::numeric)::bigint")
    );
    // A bigserial column reads back as the user wrote it: the sequence it made is part of it.
    assert_eq!(
        (col("id").ty.as_str(), col("id").default.as_deref()),
        ("bigserial", None)
    );
    assert_eq!(orders.row_level_security, Some(true));
    assert_eq!(
        orders.foreign_key[0].on_delete,
        Some(falconer::domains::postgres::FkAction::Cascade)
    );
    db.drop().await;
}

#[tokio::test]
async fn inspection_uses_a_fixed_number_of_queries() {
    let db = TestDb::new("queries").await;
    db.exec("create schema tenant_acme; create table tenant_acme.t0 (id int primary key);")
        .await;
    let few = inspect(&db.pool, &tenant()).await.expect("inspects");
    let mut sql = String::new();
    for i in 1..60 {
        sql.push_str(&format!("create table tenant_acme.t{i} (id int primary key, v text); create index t{i}_v on tenant_acme.t{i} (v);"));
    }
    db.exec(&sql).await;
    let many = inspect(&db.pool, &tenant()).await.expect("inspects");
    assert!(many.resources.len() > few.resources.len() + 100);
    assert_eq!(
        few.queries, many.queries,
        "queries must not grow with the number of objects"
    );
    db.drop().await;
}

#[tokio::test]
async fn export_command_writes_a_valid_manifest() {
    let db = TestDb::new("exportcli").await;
    db.exec(SCHEMA).await;
    let dir = std::env::temp_dir().join(format!("falconer-export-{}", db.name));
    std::fs::create_dir_all(&dir).expect("dir");
    std::fs::write(
        dir.join("tenant.toml"),
        "[tenant]\nid = \"acme\"\n[tenant.naming]\npostgres_schemas = [\"tenant_acme\", \"tenant acme \\\"odd\\\"\"]\n",
    )
    .expect("write");
    let out_file = dir.join("exported.kdl");
    let bin = env!("CARGO_BIN_EXE_falconer");
    let out = std::process::Command::new(bin)
        .args(["export", "--tenant", "acme", "--manifest"])
        .arg(dir.join("tenant.toml"))
        .args(["--to", "kdl", "-o"])
        .arg(&out_file)
        .env("FALCONER_POSTGRES_URL", &db.url)
        .output()
        .expect("runs");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v = std::process::Command::new(bin)
        .arg("validate")
        .arg(&out_file)
        .output()
        .expect("runs");
    assert_eq!(
        v.status.code(),
        Some(0),
        "{}{}",
        String::from_utf8_lossy(&v.stdout),
        String::from_utf8_lossy(&v.stderr)
    );
    assert!(String::from_utf8_lossy(&v.stdout).contains("valid manifest: tenant `acme`"));

    // A wrong password is named as such, and the URL (with its password) is never shown.
    let bad_url = db.url.replacen(
        "postgres://postgres@",
        "postgres://nobody_here:hunter2-canary@",
        1,
    );
    let out = std::process::Command::new(bin)
        .args(["export", "--tenant", "acme"])
        .env("FALCONER_POSTGRES_URL", &bad_url)
        .output()
        .expect("runs");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(err.contains("cannot connect to PostgreSQL at"), "{err}");
    assert!(!err.contains("hunter2-canary"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
    db.drop().await;
}

/// A manifest as people write it: aliases, casts left out, IN lists.
const HUMAN: &str = r#"
[tenant]
id = "acme"
[tenant.naming]
postgres_schemas = ["tenant_acme"]

[[postgres.schema]]
name = "tenant_acme"

[[postgres.table]]
name = "orders"
schema = "tenant_acme"
primary_key = { columns = ["id"] }
check = [{ name = "orders_status_check", expression = "status IN ('pending', 'paid')" }]
row_level_security = true

[[postgres.table.column]]
name = "id"
type = "serial"

[[postgres.table.column]]
name = "email"
type = "varchar(200)"
nullable = false

[[postgres.table.column]]
name = "status"
type = "text"
default = "'pending'"

[[postgres.table.column]]
name = "qty"
type = "int"
default = "0"

[[postgres.table.column]]
name = "created_at"
type = "timestamptz"
default = "now()"

[[postgres.index]]
name = "orders_email_idx"
schema = "tenant_acme"
table = "orders"
columns = [{ expression = "lower(email)" }]
where = "status = 'pending'"

[[postgres.policy]]
name = "own_orders"
schema = "tenant_acme"
table = "orders"
command = "select"
using = "email = current_setting('app.email')"

[[postgres.view]]
name = "pending"
schema = "tenant_acme"
query = "select id, email from tenant_acme.orders where status = 'pending'"
"#;

#[tokio::test]
async fn the_server_normalizes_what_people_write() {
    let db = TestDb::new("normalize").await;
    // The same objects, created by hand with the manifest's own text.
    db.exec(
        "create schema tenant_acme;
         create table tenant_acme.orders (id serial primary key, email varchar(200) not null,
             status text default 'pending', qty int default 0, created_at timestamptz default now(),
             constraint orders_status_check check (status IN ('pending', 'paid')));
         create index orders_email_idx on tenant_acme.orders (lower(email)) where status = 'pending';
         alter table tenant_acme.orders enable row level security;
         create policy own_orders on tenant_acme.orders for select using (email = current_setting('app.email'));
         create view tenant_acme.pending as select id, email from tenant_acme.orders where status = 'pending';",
    )
    .await;
    let loaded = load_str("human.toml", HUMAN, Format::Toml, LoadOptions::default());
    assert!(!loaded.has_errors(), "{}", loaded.messages());
    let m = loaded.manifest.expect("manifest");
    let live = inspect(&db.pool, &m.tenant)
        .await
        .expect("inspects")
        .resources;
    let mut desired: Vec<Spec> = m.resources.iter().map(|r| r.spec.clone()).collect();

    // As written, the plan would be noise.
    let raw = plan::make(
        &m.tenant,
        &items(&desired),
        &items(&live),
        &Options::default(),
    )
    .expect("plans");
    assert!(
        !raw.changes.is_empty(),
        "the test needs spelling differences to be meaningful"
    );

    falconer::domains::postgres::normalize::normalize(&db.pool, &mut desired)
        .await
        .expect("normalizes");
    let p = plan::make(
        &m.tenant,
        &items(&desired),
        &items(&live),
        &Options::default(),
    )
    .expect("plans");
    let left: Vec<_> = p
        .changes
        .iter()
        .filter(|c| c.action != plan::Action::Delete)
        .collect();
    assert!(left.is_empty(), "{}", render::text(&p, Default::default()));
    // Nothing was left behind by normalization.
    let shadows: i64 = sqlx::query_scalar(
        "select count(*) from pg_namespace where nspname like 'falconer_shadow%'",
    )
    .fetch_one(&db.pool)
    .await
    .expect("query");
    assert_eq!(shadows, 0);
    db.drop().await;
}

#[tokio::test]
async fn hostile_sql_fields_are_refused_before_reaching_the_server() {
    let db = TestDb::new("hostile").await;
    db.exec("create table public.sentinel (id int); insert into public.sentinel values (1);")
        .await;
    let cases = [
        (
            "default",
            "[[postgres.table]]\nname = \"t\"\nschema = \"tenant_acme\"\ncolumn = [{ name = \"a\", type = \"int\", default = \"1); drop table public.sentinel; --\" }]\n",
        ),
        (
            "type",
            "[[postgres.table]]\nname = \"t\"\nschema = \"tenant_acme\"\ncolumn = [{ name = \"a\", type = \"int); drop table public.sentinel; create table x (a int\" }]\n",
        ),
        (
            "check",
            "[[postgres.table]]\nname = \"t\"\nschema = \"tenant_acme\"\ncolumn = [{ name = \"a\", type = \"int\" }]\ncheck = [{ name = \"c\", expression = \"true) ; drop table public.sentinel; select (1\" }]\n",
        ),
        (
            "view",
            "[[postgres.view]]\nname = \"v\"\nschema = \"tenant_acme\"\nquery = \"select 1; drop table public.sentinel\"\n",
        ),
        (
            "comment",
            "[[postgres.policy]]\nname = \"p\"\nschema = \"tenant_acme\"\ntable = \"t\"\nusing = \"true /* ; drop table public.sentinel */\"\n[[postgres.table]]\nname = \"t\"\nschema = \"tenant_acme\"\n",
        ),
    ];
    for (what, body) in cases {
        let src = format!(
            "[tenant]\nid = \"acme\"\n[tenant.naming]\npostgres_schemas = [\"tenant_acme\"]\n{body}"
        );
        let loaded = load_str("hostile.toml", &src, Format::Toml, LoadOptions::default());
        assert!(
            loaded.messages().contains("invalid-sql"),
            "{what}: {}",
            loaded.messages()
        );
        // Even handed to the normalizer directly, nothing runs.
        let decoded = falconer::manifest::tree::read_toml(0, &src).expect("toml");
        let mut specs: Vec<Spec> = falconer::manifest::decode(std::slice::from_ref(&decoded))
            .resources
            .into_iter()
            .map(|(s, _)| s)
            .collect();
        falconer::domains::postgres::normalize::normalize(&db.pool, &mut specs)
            .await
            .expect("normalizes");
    }
    let n: i64 = sqlx::query_scalar("select count(*) from public.sentinel")
        .fetch_one(&db.pool)
        .await
        .expect("sentinel survives");
    assert_eq!(n, 1);
    db.drop().await;
}

/// The desired PostgreSQL resources as a live plan settles them: local forms, then normalized by the server
/// except those the plan already finds unchanged against `live`.
async fn desired_items(
    pool: &sqlx::PgPool,
    specs: &[(Spec, std::path::PathBuf)],
    live: &[Item],
    key: &FingerprintKey,
    warnings: &mut Vec<String>,
) -> Result<Vec<Item>, sqlx::Error> {
    use falconer::domains::postgres::provider;
    let local = provider::local_items(specs, key, warnings);
    let unchanged = plan::unchanged(&local, live);
    provider::settle(pool, specs, local, &unchanged, key).await
}

/// Plans the desired PostgreSQL resources against the database, with the desired addresses as the managed
/// set (what the state store will hold).
pub(crate) async fn live_plan(
    db: &TestDb,
    m: &Manifest,
    base: &Path,
) -> (plan::Plan, Vec<Item>, Vec<Item>) {
    use falconer::domains::postgres::provider;
    let key = FingerprintKey::new("pg-apply");
    let specs: Vec<(Spec, std::path::PathBuf)> = m
        .resources
        .iter()
        .map(|r| (r.spec.clone(), base.to_path_buf()))
        .collect();
    let mut w = Vec::new();
    let live = provider::live_items(&db.pool, &m.tenant, &[], &key)
        .await
        .expect("inspects");
    let desired = desired_items(&db.pool, &specs, &live, &key, &mut w)
        .await
        .expect("normalizes");
    let managed = desired.iter().map(|i| i.address.clone()).collect();
    let opts = Options {
        managed: Some(managed),
        ..Options::default()
    };
    let p = plan::make(&m.tenant, &desired, &live, &opts).expect("plans");
    (p, desired, live)
}

#[tokio::test]
async fn the_example_applies_to_an_empty_database_and_then_plans_no_changes() {
    use falconer::domains::postgres::{ddl, provider};
    let db = TestDb::new("apply").await;
    // Roles are cluster-wide: the example's are created beforehand (role creation is tested on its own).
    db.exec(
        "do $$ begin create role acme_app; exception when duplicate_object or unique_violation then null; end $$;
         do $$ begin create role acme_readonly; exception when duplicate_object or unique_violation then null; end $$;
         create table public.sentinel (id int);",
    )
    .await;
    let loaded = falconer::manifest::load_path(Path::new("examples/acme"), LoadOptions::default());
    let mut m = loaded.manifest.expect("example");
    m.resources.retain(|r| {
        r.spec.meta().domain == falconer::model::Domain::Postgres
            && !matches!(r.spec, Spec::PgRole(_))
    });
    let base = Path::new("examples/acme");

    let (p, desired, live) = live_plan(&db, &m, base).await;
    assert!(
        p.changes.iter().all(|c| c.action == plan::Action::Create),
        "{}",
        render::text(&p, Default::default())
    );
    let statements =
        provider::statements(&p.changes, &desired, &live, &Default::default()).expect("DDL");
    assert!(
        statements
            .iter()
            .any(|s| s.sql.starts_with("create table \"tenant_acme\".\"orders\"")),
        "{statements:#?}"
    );
    ddl::execute(&db.pool, &statements)
        .await
        .unwrap_or_else(|(i, e)| panic!("statement {i} failed: {e}\n{}", statements[i]));

    let (again, _, _) = live_plan(&db, &m, base).await;
    assert!(
        again.changes.is_empty(),
        "{}",
        render::text(&again, Default::default())
    );
    let n: i64 = sqlx::query_scalar("select count(*) from public.sentinel")
        .fetch_one(&db.pool)
        .await
        .expect("sentinel");
    assert_eq!(n, 0);
    db.drop().await;
}

pub(crate) fn manifest_of(body: &str) -> Manifest {
    let src = format!(
        "[tenant]\nid = \"acme\"\n[tenant.naming]\npostgres_schemas = [\"app\"]\n[[postgres.schema]]\nname = \"app\"\n{body}"
    );
    let loaded = load_str("scenario.toml", &src, Format::Toml, LoadOptions::default());
    assert!(!loaded.has_errors(), "{}", loaded.messages());
    loaded.manifest.expect("manifest")
}

/// Plans `body` against the database, checks the plan with `check`, applies it, and checks that a second
/// plan is empty.
pub(crate) async fn converge(db: &TestDb, body: &str, check: impl Fn(&plan::Plan)) {
    use falconer::domains::postgres::{ddl, provider};
    let m = manifest_of(body);
    let (p, desired, live) = live_plan(db, &m, Path::new(".")).await;
    check(&p);
    let statements =
        provider::statements(&p.changes, &desired, &live, &Default::default()).expect("DDL");
    ddl::execute(&db.pool, &statements)
        .await
        .unwrap_or_else(|(i, e)| panic!("statement {i} failed: {e}\n{statements:#?}"));
    let (again, _, _) = live_plan(db, &m, Path::new(".")).await;
    assert!(
        again.changes.is_empty(),
        "{body}\n{}",
        render::text(&again, Default::default())
    );
}

#[tokio::test]
async fn update_scenarios_plan_the_minimal_change_and_converge() {
    let db = TestDb::new("updates").await;
    db.exec("do $$ begin create role falconer_test_reader; exception when duplicate_object or unique_violation then null; end $$;").await;
    let table = |cols: &str, extra: &str| {
        format!(
            "[[postgres.table]]\nname = \"items\"\nschema = \"app\"\nprimary_key = {{ columns = [\"id\"] }}\ncolumn = [{cols}]\n{extra}"
        )
    };
    let base_cols = "{ name = \"id\", type = \"bigint\" }, { name = \"label\", type = \"text\" }";
    // Start.
    converge(&db, &table(base_cols, ""), |p| {
        assert!(p.changes.iter().all(|c| c.action == plan::Action::Create))
    })
    .await;
    db.exec("insert into app.items values (1, 'one'), (2, 'two');")
        .await;

    // Add a column.
    let cols = format!("{base_cols}, {{ name = \"qty\", type = \"int\", default = \"0\" }}");
    converge(&db, &table(&cols, ""), |p| {
        assert_eq!(p.changes.len(), 1);
        assert_eq!(p.changes[0].fields.len(), 1, "{:?}", p.changes[0].fields);
        assert!(p.changes[0].fields[0].path.starts_with("column[qty]"));
    })
    .await;

    // Alter it: type, default, NOT NULL.
    let cols = format!(
        "{base_cols}, {{ name = \"qty\", type = \"bigint\", default = \"1\", nullable = false }}"
    );
    converge(&db, &table(&cols, ""), |p| {
        let paths: Vec<&str> = p.changes[0]
            .fields
            .iter()
            .map(|f| f.path.as_str())
            .collect();
        assert!(
            paths.contains(&"column[qty].type") && paths.contains(&"column[qty].default"),
            "{paths:?}"
        );
        assert!(
            p.changes[0]
                .hazards
                .iter()
                .any(|h| h.code == falconer::model::HazardCode::RewritesData)
        );
    })
    .await;

    // Rename a column explicitly: its data stays.
    let renamed = "{ name = \"id\", type = \"bigint\" }, { name = \"title\", type = \"text\", renamed_from = \"label\" }, { name = \"qty\", type = \"bigint\", default = \"1\", nullable = false }";
    converge(&db, &table(renamed, ""), |p| {
        assert!(
            !p.changes[0]
                .hazards
                .iter()
                .any(|h| h.code == falconer::model::HazardCode::DeletesData),
            "a rename loses nothing"
        );
    })
    .await;
    let title: String = sqlx::query_scalar("select title from app.items where id = 1")
        .fetch_one(&db.pool)
        .await
        .expect("renamed");
    assert_eq!(title, "one");

    // Drop the column: the plan says what is lost.
    let cols = "{ name = \"id\", type = \"bigint\" }, { name = \"title\", type = \"text\" }";
    converge(&db, &table(cols, ""), |p| {
        let h = &p.changes[0].hazards;
        assert!(
            h.iter()
                .any(|h| h.code == falconer::model::HazardCode::DeletesData
                    && h.message.contains("`qty`")),
            "{h:?}"
        );
    })
    .await;

    // An index, then a changed index (a replace).
    let index = |cols: &str| {
        format!(
            "[[postgres.index]]\nname = \"items_title_idx\"\nschema = \"app\"\ntable = \"items\"\ncolumns = [{cols}]\n"
        )
    };
    converge(
        &db,
        &format!("{}{}", table(cols, ""), index("\"title\"")),
        |p| assert_eq!(p.changes.len(), 1),
    )
    .await;
    converge(
        &db,
        &format!(
            "{}{}",
            table(cols, ""),
            index("{ expression = \"lower(title)\" }")
        ),
        |p| {
            assert_eq!(p.changes[0].action, plan::Action::Replace);
        },
    )
    .await;

    // A policy with RLS, then a changed policy; a grant added.
    let with_policy = |using: &str| {
        format!(
            "{}{}[[postgres.policy]]\nname = \"readers\"\nschema = \"app\"\ntable = \"items\"\ncommand = \"select\"\nroles = [\"falconer_test_reader\"]\nusing = \"{using}\"\n",
            table(cols, "row_level_security = true\n"),
            index("{ expression = \"lower(title)\" }")
        )
    };
    converge(&db, &with_policy("id > 0"), |_| {}).await;
    converge(&db, &with_policy("id > 1"), |p| {
        assert_eq!(p.changes.len(), 1);
        assert_eq!(p.changes[0].address, "postgres.policy.app.items.readers");
    })
    .await;
    let grant = "[[postgres.grant]]\ngrantee = \"falconer_test_reader\"\nschema = \"app\"\nobject = \"items\"\nprivileges = [\"SELECT\"]\n";
    converge(&db, &format!("{}{grant}", with_policy("id > 1")), |p| {
        assert_eq!(p.changes.len(), 1);
        assert_eq!(p.changes[0].action, plan::Action::Create);
    })
    .await;
    let more = grant.replace("[\"SELECT\"]", "[\"SELECT\", \"UPDATE\"]");
    converge(&db, &format!("{}{more}", with_policy("id > 1")), |p| {
        assert_eq!(p.changes[0].fields.len(), 1, "{:?}", p.changes[0].fields);
    })
    .await;
    db.drop().await;
}

/// Normalization runs in batches (a transaction each) on several connections: a tenant larger than one
/// batch, written with the spellings people use (`int`, `varchar(20)`, uncast literals), applies and then
/// plans no changes, and nothing falls back to "compared as written".
#[tokio::test]
async fn many_tables_normalize_across_batches() {
    let db = TestDb::new("batches").await;
    let mut body = String::new();
    for i in 0..260 {
        body.push_str(&format!(
            "[[postgres.table]]\nname = \"t{i}\"\nschema = \"app\"\nprimary_key = {{ columns = [\"id\"] }}\n\
             column = [{{ name = \"id\", type = \"int\" }}, {{ name = \"code\", type = \"varchar(20)\", default = \"'x'\" }}]\n\
             check = [{{ name = \"t{i}_code\", expression = \"code IN ('x', 'y')\" }}]\n\
             [[postgres.index]]\nname = \"t{i}_code\"\nschema = \"app\"\ntable = \"t{i}\"\ncolumns = [{{ expression = \"lower(code)\" }}]\n"
        ));
    }
    converge(&db, &body, |p| {
        assert_eq!(p.changes.len(), 521, "schema, 260 tables, 260 indexes");
    })
    .await;
    db.drop().await;
}

/// An object the server cannot build yet (its type does not exist) is compared as written, and the rest
/// of its batch is still normalized (the batch is redone with a savepoint per object).
#[tokio::test]
async fn one_unbuildable_object_does_not_spoil_its_batch() {
    let db = TestDb::new("careful").await;
    let m = manifest_of(
        "[[postgres.table]]\nname = \"good\"\nschema = \"app\"\ncolumn = [{ name = \"n\", type = \"int\" }]\n\
         [[postgres.table]]\nname = \"bad\"\nschema = \"app\"\ncolumn = [{ name = \"n\", type = \"no_such_type\" }]\n\
         [[postgres.index]]\nname = \"good_n\"\nschema = \"app\"\ntable = \"good\"\ncolumns = [{ expression = \"(n + 1)\" }]\n",
    );
    let (_, desired, _) = live_plan(&db, &m, Path::new(".")).await;
    let ty = |name: &str| {
        desired
            .iter()
            .find_map(|i| match &i.spec {
                Spec::PgTable(t) if t.name == name => Some(t.column[0].ty.clone()),
                _ => None,
            })
            .expect("table")
    };
    assert_eq!(ty("good"), "integer");
    assert_eq!(ty("bad"), "no_such_type");
    let index = desired
        .iter()
        .find_map(|i| match &i.spec {
            Spec::PgIndex(x) => Some(x.columns[0].expression.clone()),
            _ => None,
        })
        .expect("index");
    assert_eq!(index.as_deref(), Some("(n + 1)"));
    db.drop().await;
}

/// A generated column: its type family, how the live database and the manifest spell the type and the
/// default (spelling 0 is how the server prints it), whether it has a default, and whether the manifest
/// changes it for real (another family's type, no default).
#[derive(Debug, Clone)]
struct GenColumn {
    family: usize,
    live: usize,
    desired: usize,
    default: bool,
    changed: bool,
}

/// Type families: the spellings of the type (the server's first), of a default, a check and an index key
/// on a column `{c}`.
const FAMILIES: &[(&[&str], &[&str], &str, &str)] = &[
    (&["integer", "int", "int4"], &["0", "(0)"], "{c} > 0", "{c}"),
    (
        &["character varying(20)", "varchar(20)"],
        &["'x'::character varying", "'x'"],
        "{c} in ('a', 'b')",
        "lower({c})",
    ),
    (
        &["numeric(10,2)", "decimal(10,2)"],
        &["1.5", "1.50"],
        "{c} >= 0",
        "({c} * 2)",
    ),
    (
        &["timestamp with time zone", "timestamptz"],
        &["now()", "CURRENT_TIMESTAMP"],
        "{c} is not null",
        "{c}",
    ),
    (
        &["boolean", "bool"],
        &["true", "'t'"],
        "{c} or not {c}",
        "{c}",
    ),
];

/// The SQL type and default of a column on one side (`live` or the manifest's).
fn column_forms(c: &GenColumn, live: bool) -> (String, Option<String>) {
    let (family, spelling) = match (live, c.changed) {
        (false, true) => ((c.family + 1) % FAMILIES.len(), 0),
        (true, _) => (c.family, c.live),
        (false, false) => (c.family, c.desired),
    };
    let (types, defaults, _, _) = FAMILIES[family];
    let ty = types[spelling % types.len()].to_string();
    let default = (c.default && (live || !c.changed))
        .then(|| defaults[spelling % defaults.len()].to_string());
    (ty, default)
}

/// The live SQL and the manifest's TOML of generated tables; table `t{i}` exists live unless `only_desired`.
fn generated_schema(tables: &[(Vec<GenColumn>, bool, bool, bool)]) -> (String, String) {
    let (mut sql, mut toml) = (String::from("create schema app;\n"), String::new());
    for (i, (cols, check, index, only_desired)) in tables.iter().enumerate() {
        let first = &cols[0];
        let (_, _, check_text, key) = FAMILIES[first.family];
        let (live_check, live_key) = (check_text.replace("{c}", "c0"), key.replace("{c}", "c0"));
        let mut live_cols = Vec::new();
        let mut toml_cols = Vec::new();
        for (k, c) in cols.iter().enumerate() {
            let (ty, default) = column_forms(c, true);
            live_cols.push(format!(
                "c{k} {ty}{}",
                default.map(|d| format!(" default {d}")).unwrap_or_default()
            ));
            let (ty, default) = column_forms(c, false);
            let default = default
                .map(|d| format!(", default = {d:?}"))
                .unwrap_or_default();
            toml_cols.push(format!("{{ name = \"c{k}\", type = {ty:?}{default} }}"));
        }
        // The manifest's check and index follow its first column (a changed one drops them).
        let keep = !first.changed;
        if *check {
            live_cols.push(format!("constraint t{i}_check check ({live_check})"));
        }
        if !only_desired {
            sql.push_str(&format!(
                "create table app.t{i} ({});\n",
                live_cols.join(", ")
            ));
            if *index {
                sql.push_str(&format!(
                    "create index t{i}_idx on app.t{i} (({live_key}));\n"
                ));
            }
        }
        toml.push_str(&format!(
            "[[postgres.table]]\nname = \"t{i}\"\nschema = \"app\"\ncolumn = [{}]\n",
            toml_cols.join(", ")
        ));
        if *check && keep {
            toml.push_str(&format!(
                "check = [{{ name = \"t{i}_check\", expression = {live_check:?} }}]\n"
            ));
        }
        if *index && keep {
            toml.push_str(&format!("[[postgres.index]]\nname = \"t{i}_idx\"\nschema = \"app\"\ntable = \"t{i}\"\ncolumns = [{{ expression = {live_key:?} }}]\n"));
        }
    }
    (sql, toml)
}

fn gen_tables() -> impl proptest::strategy::Strategy<Value = Vec<(Vec<GenColumn>, bool, bool, bool)>>
{
    use proptest::prelude::*;
    let column = (
        0..FAMILIES.len(),
        0..3usize,
        0..3usize,
        any::<bool>(),
        proptest::bool::weighted(0.15),
    )
        .prop_map(|(family, live, desired, default, changed)| GenColumn {
            family,
            live,
            desired,
            default,
            changed,
        });
    let table = (
        proptest::collection::vec(column, 1..4),
        any::<bool>(),
        any::<bool>(),
        proptest::bool::weighted(0.1),
    );
    proptest::collection::vec(table, 1..6)
}

/// Plans made with the shortcut (objects equal to their live selves are not normalized) and without it
/// (every object normalized by the server) are the same, on generated schemas whose live and desired
/// spellings differ, agree, or differ for real.
#[test]
fn plans_with_and_without_the_normalization_shortcut_are_the_same() {
    use falconer::domains::postgres::{normalize, provider};
    use proptest::test_runner::{Config, TestRunner};
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let db = rt.block_on(TestDb::new("shortcut"));
    let key = FingerprintKey::new("shortcut");
    let (skipped, changed) = (std::cell::Cell::new(0usize), std::cell::Cell::new(0usize));
    let mut runner = TestRunner::new(Config {
        cases: 24,
        failure_persistence: None,
        ..Config::default()
    });
    let result = runner.run(&gen_tables(), |tables| {
        let (sql, toml) = generated_schema(&tables);
        let m = manifest_of(&toml);
        let specs: Vec<(Spec, std::path::PathBuf)> = m
            .resources
            .iter()
            .map(|r| (r.spec.clone(), ".".into()))
            .collect();
        let (short, full, live) = rt.block_on(async {
            db.exec("drop schema if exists app cascade").await;
            db.exec(&sql).await;
            let live = provider::live_items(&db.pool, &m.tenant, &[], &key)
                .await
                .expect("inspects");
            let mut w = Vec::new();
            let short = desired_items(&db.pool, &specs, &live, &key, &mut w)
                .await
                .expect("settles");
            let mut all: Vec<Spec> = specs.iter().map(|(s, _)| s.clone()).collect();
            normalize::normalize(&db.pool, &mut all)
                .await
                .expect("normalizes");
            (short, items(&all), live)
        });
        let key_of = |i: &Item| (i.address.to_string(), i.value.clone());
        skipped.set(
            skipped.get()
                + short
                    .iter()
                    .filter(|i| live.iter().any(|l| key_of(l) == key_of(i)))
                    .count(),
        );
        let managed = short.iter().map(|i| i.address.clone()).collect();
        let opts = Options {
            managed: Some(managed),
            ..Options::default()
        };
        let a = plan::make(&m.tenant, &short, &live, &opts).expect("plans");
        let b = plan::make(&m.tenant, &full, &live, &opts).expect("plans");
        changed.set(changed.get() + a.changes.len());
        let (a, b) = (
            render::text(&a, Default::default()),
            render::text(&b, Default::default()),
        );
        proptest::prop_assert_eq!(a, b, "{}\n{}", sql, toml);
        Ok(())
    });
    rt.block_on(db.drop());
    if let Err(e) = result {
        panic!("{e}");
    }
    // Both sides of the shortcut were exercised: objects skipped, and real changes found.
    let (skipped, changed) = (skipped.get(), changed.get());
    assert!(
        skipped > 0 && changed > 0,
        "skipped {skipped}, changes {changed}"
    );
}

/// A fleet's shared read of the catalog (every tenant's schemas at once, shared out by schema) gives each
/// tenant exactly what its own inspection gives: tables with columns and constraints (a foreign key into
/// another tenant's schema too), indexes, views, policies, grants and the roles they name, for tenants of
/// one schema and of two; a tenant the fleet does not cover is inspected alone.
#[tokio::test]
async fn a_fleet_read_of_the_catalog_equals_each_tenants_own() {
    use falconer::domains::postgres::inspect::{Fleet, inspect_in_fleet, inspect_with_roles};
    let db = TestDb::new("fleet_catalog").await;
    let role = format!("{}_reader", db.name);
    db.exec(&format!(
        "do $$ begin if not exists (select 1 from pg_roles where rolname = '{role}') then create role {role}; end if; end $$;
         create schema fa; create schema fb; create schema fb_audit; create schema fc;
         create table fa.orders (id bigint generated always as identity primary key, total numeric(10,2) not null default 0 check (total >= 0), note text);
         create index orders_note on fa.orders (lower(note)) where note is not null;
         create table fb.customers (id int primary key, email varchar(80) unique, ref_order bigint references fa.orders (id) on delete cascade);
         alter table fb.customers enable row level security;
         create policy own on fb.customers for select to {role} using (email is not null);
         grant select on fb.customers to {role};
         grant usage on schema fb to {role};
         create view fb.emails as select email from fb.customers;
         create table fb_audit.events (at timestamptz default now(), what text collate \"C\");
         create table fc.other (x int);"
    ))
    .await;
    let tenant = |id: &str, schemas: &[&str]| {
        let mut t = Tenant::new(id);
        let schemas = schemas.iter().map(|s| s.to_string()).collect();
        t.naming
            .set(&falconer::domains::postgres::SCHEMA_SCOPE, schemas);
        t
    };
    let tenants = [
        tenant("fa", &["fa"]),
        tenant("fb", &["fb", "fb_audit"]),
        tenant("empty", &["f_none"]),
    ];
    let fleet = Fleet::new(&tenants);
    let roles = [role.clone()];
    for t in &tenants {
        assert!(fleet.covers(t));
        let alone = inspect_with_roles(&db.pool, t, &roles)
            .await
            .expect("inspects");
        let shared = inspect_in_fleet(&db.pool, &fleet, t, &roles)
            .await
            .expect("inspects in the fleet");
        assert_eq!(alone.resources, shared.resources, "tenant {}", t.id);
        assert!(!alone.resources.is_empty());
    }
    let fb = inspect_in_fleet(&db.pool, &fleet, &tenants[1], &[])
        .await
        .expect("inspects");
    let kinds: Vec<&str> = fb.resources.iter().map(|s| s.meta().kind).collect();
    for kind in ["schema", "table", "view", "policy", "grant", "role"] {
        assert!(kinds.contains(&kind), "fb has a {kind}: {kinds:?}");
    }
    // The foreign key into another tenant's schema names its columns both ways: read with the fleet's
    // columns, and (inspected alone) read for the referenced table outside the tenant's schemas.
    let alone = inspect_with_roles(&db.pool, &tenants[1], &[])
        .await
        .expect("inspects");
    for inspected in [&fb, &alone] {
        let fk = inspected
            .resources
            .iter()
            .find_map(|s| match s {
                Spec::PgTable(t) if t.name == "customers" => t.foreign_key.first().cloned(),
                _ => None,
            })
            .expect("customers has a foreign key");
        assert_eq!(fk.columns, ["ref_order"]);
        assert_eq!(
            (
                fk.references.schema.as_deref(),
                fk.references.table.as_str()
            ),
            (Some("fa"), "orders")
        );
        assert_eq!(fk.references.columns, ["id"]);
    }
    // The schemas of another tenant are not the fleet's.
    assert!(!fleet.covers(&tenant("fc", &["fc"])));
    db.drop().await;
}

/// A column type change is `REWRITES_DATA` exactly when PostgreSQL rewrites the table: each rule of
/// `postgres::hazards` checked against the server by the table's `relfilenode` (a rewrite gives the table a
/// new file), with a row in the table so that a rewrite has something to copy.
#[tokio::test]
async fn type_changes_are_rewrites_exactly_when_the_server_rewrites() {
    let db = TestDb::new("rewrites").await;
    let cases = [
        ("varchar(20)", "varchar(40)", false),
        ("varchar(20)", "text", false),
        ("varchar", "text", false),
        ("numeric(10,2)", "numeric", false),
        ("numeric(10,2)", "numeric(12,2)", false),
        ("timestamp(3)", "timestamp(6)", false),
        ("char(5)", "char(10)", true),
        ("int", "bigint", true),
        ("numeric(10,2)", "numeric(10,4)", true),
        ("varchar(40)", "varchar(20)", true),
    ];
    for (i, (from, to, rewrites)) in cases.into_iter().enumerate() {
        let table = |ty: &str| {
            format!(
                "[[postgres.table]]\nname = \"t{i}\"\nschema = \"app\"\ncolumn = [{{ name = \"c\", type = \"{ty}\" }}]\n"
            )
        };
        converge(&db, &table(from), |_| {}).await;
        db.exec(&format!("insert into app.t{i} values (null)"))
            .await;
        let file = || {
            let pool = db.pool.clone();
            async move {
                let n: i64 =
                    sqlx::query_scalar(&format!("select pg_relation_filenode('app.t{i}')::bigint"))
                        .fetch_one(&pool)
                        .await
                        .expect("a filenode");
                n
            }
        };
        let before = file().await;
        converge(&db, &table(to), |p| {
            let hazard = p
                .changes
                .iter()
                .flat_map(|c| &c.hazards)
                .any(|h| h.code == falconer::model::HazardCode::RewritesData);
            assert_eq!(hazard, rewrites, "{from} -> {to}: REWRITES_DATA");
        })
        .await;
        let rewritten = file().await != before;
        assert_eq!(
            rewritten, rewrites,
            "{from} -> {to}: the server rewrote the table"
        );
        db.exec(&format!("drop table app.t{i}")).await;
    }
    db.drop().await;
}
