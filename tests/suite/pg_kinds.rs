//! PostgreSQL's kinds for what application schemas hold (sequences, types, functions, procedures,
//! triggers) against a real server: an application schema round-trips whole, and each kind changes in place.

use std::path::Path;

use crate::postgres::{converge, live_plan};
use crate::support::TestDb;
use falconer::domains::Spec;
use falconer::domains::postgres::{ddl, inventory, provider};
use falconer::manifest::{Format, LoadOptions, Manifest, Resource, load_str, write};
use falconer::model::Tenant;
use falconer::plan::{self, render};
use falconer::secrets::FingerprintKey;

/// An invoicing application's schema, written the way its migrations would write it: an extension in the
/// tenant's schema, an enum, a composite type, domains, a standalone sequence used by a default, serial
/// columns, a sequence a column owns, a trigger function and its triggers (one disabled), a `SECURITY
/// DEFINER` function with `SET search_path`, an overloaded function pair, a procedure, a function used in a
/// table's CHECK and in a materialized view, quoted mixed-case names, and comments.
const APP: &str = r#"
create schema app;
create extension if not exists citext with schema app;
create type app.invoice_status as enum ('draft', 'sent', 'paid');
comment on type app.invoice_status is 'Where an invoice is';
create type app.money_amount as (currency char(3), cents bigint);
create domain app.email as app.citext check (value ~ '^[^@]+@[^@]+$');
create domain app.positive_cents as bigint not null default 0 constraint positive_cents_check check (value >= 0);
create sequence app.invoice_no as integer start with 1000 minvalue 1000 increment by 1;
create table app.customers (
    id serial primary key,
    email app.email not null unique,
    "displayName" text,
    created_at timestamptz not null default now()
);
create table app.invoices (
    id bigserial primary key,
    number integer not null default nextval('app.invoice_no'),
    customer_id integer not null references app.customers (id),
    status app.invoice_status not null default 'draft',
    total app.positive_cents,
    updated_at timestamptz
);
create sequence app."Audit_seq";
create table app.audit_log (id bigint not null default nextval('app."Audit_seq"'), note text);
alter sequence app."Audit_seq" owned by app.audit_log.id;
create function app.touch() returns trigger language plpgsql as $$
begin
    new.updated_at := now();
    return new;
end
$$;
comment on function app.touch() is 'Keeps updated_at current';
create trigger invoices_touch before update on app.invoices for each row
    when (old.* is distinct from new.*) execute function app.touch();
create function app.audit() returns trigger language plpgsql security definer set search_path = app, pg_temp as $$
begin
    insert into audit_log (note) values (tg_op);
    return null;
end
$$;
create trigger invoices_audit after insert or delete on app.invoices for each statement execute function app.audit();
alter table app.invoices disable trigger invoices_audit;
create function app.total_of(customer integer) returns bigint language sql stable as $$
    select coalesce(sum(total), 0)::bigint from app.invoices where customer_id = customer
$$;
create function app.total_of(customer integer, since timestamptz) returns bigint language sql stable as $$
    select coalesce(sum(total), 0)::bigint from app.invoices where customer_id = customer and updated_at >= since
$$;
create procedure app.close_month(p_status app.invoice_status default 'sent') language plpgsql as $$
begin
    update app.invoices set status = 'paid' where status = p_status;
end
$$;
create function app.valid_code(code text) returns boolean language sql immutable strict parallel safe as $$
    select code ~ '^[A-Z]{3}$'
$$;
create table app.products (code text primary key check (app.valid_code(code)), price app.money_amount);
create function app.cents_add(state bigint, v bigint) returns bigint language sql immutable
    as 'select state + coalesce(v, 0)';
create aggregate app.sum_cents(bigint) (sfunc = app.cents_add, stype = bigint, initcond = '0', parallel = safe);
comment on aggregate app.sum_cents(bigint) is 'Cents of every row';
create view app.revenue as select app.sum_cents(total) as cents from app.invoices;
create materialized view app.customer_totals as select c.id, app.total_of(c.id) as total from app.customers c;
"#;

fn tenant(schema: &str) -> Tenant {
    let mut t = Tenant::new("acme");
    t.naming.set(
        &falconer::domains::postgres::SCHEMA_SCOPE,
        vec![schema.into()],
    );
    t
}

async fn inspected(db: &TestDb, t: &Tenant) -> Vec<Spec> {
    let key = FingerprintKey::new("pg-kinds");
    let items = provider::live_items(&db.pool, t, &[], &key)
        .await
        .expect("inspects");
    items.into_iter().map(|i| i.spec).collect()
}

/// The specs written as a TOML manifest and read back (what `export` writes and `apply` reads).
fn through_a_manifest(t: &Tenant, specs: &[Spec]) -> Manifest {
    let mut m = Manifest::new(t.clone());
    m.resources = specs
        .iter()
        .cloned()
        .map(|spec| Resource { spec, span: None })
        .collect();
    let text = write::write(&m, Format::Toml).expect("writes");
    let loaded = load_str("export.toml", &text, Format::Toml, LoadOptions::default());
    assert!(!loaded.has_errors(), "{}\n{text}", loaded.messages());
    loaded.manifest.expect("manifest")
}

/// Applies `m` to the database and checks that a second plan has no changes.
async fn apply(db: &TestDb, m: &Manifest) {
    let (p, desired, live) = live_plan(db, m, Path::new(".")).await;
    let statements =
        provider::statements(&p.changes, &desired, &live, &Default::default()).expect("DDL");
    ddl::execute(&db.pool, &statements)
        .await
        .unwrap_or_else(|(i, e)| panic!("statement {i} failed: {e}\n{statements:#?}"));
    let (again, _, _) = live_plan(db, m, Path::new(".")).await;
    assert!(
        again.changes.is_empty(),
        "{}",
        render::text(&again, Default::default())
    );
}

/// `pg_dump --schema-only` of one schema, with owners and privileges, as a sorted list of statements: the
/// comments, `SET`s and blank lines it writes around them left out. Two databases hold the same objects
/// and definitions when their lists are equal.
fn dump(db: &TestDb, schema: &str) -> Vec<String> {
    let pg_dump = std::env::var("FALCONER_TEST_PG_DUMP").unwrap_or_else(|_| "pg_dump".into());
    let out = std::process::Command::new(&pg_dump)
        .args(["--schema-only", "--schema", schema, "--dbname"])
        // libpq takes the URL without sqlx's own parameters.
        .arg(db.url.split('?').next().unwrap_or_default())
        .output()
        .unwrap_or_else(|e| panic!("{pg_dump}: {e}"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let kept: Vec<&str> = text
        .lines()
        // `\restrict KEY` (pg_dump 17.6, 16.10, 15.14 and later) carries a random key.
        .filter(|l| {
            ![
                "--",
                "SET ",
                "SELECT pg_catalog.set_config",
                "\\restrict",
                "\\unrestrict",
            ]
            .iter()
            .any(|p| l.starts_with(p))
        })
        .filter(|l| !l.trim().is_empty())
        .collect();
    let mut statements: Vec<String> = kept
        .join("\n")
        .split(";\n")
        .map(|s| s.trim().to_string())
        .collect();
    statements.sort();
    statements
}

/// Loads `sql` into an empty database, inspects schema `schema` (nothing may be left uncarried), writes it as
/// a manifest, applies that into a second empty database (a second plan is empty) and compares both with
/// pg_dump. Returns the manifest.
async fn round_trip(tag: &str, sql: &str, schema: &str) -> Manifest {
    let (a, b) = (
        TestDb::new(&format!("{tag}_a")).await,
        TestDb::new(&format!("{tag}_b")).await,
    );
    a.exec(sql).await;
    let t = tenant(schema);
    let specs = inspected(&a, &t).await;
    let refs: Vec<&Spec> = specs.iter().collect();
    let left = inventory::not_carried(&a.pool, &[schema.to_string()], &refs, None)
        .await
        .expect("inventory");
    assert!(left.is_empty(), "not carried: {left:#?}");
    let m = through_a_manifest(&t, &specs);
    // Roles are cluster-wide: the second database shares the first's.
    let mut in_b = m.clone();
    in_b.resources
        .retain(|r| !matches!(r.spec, Spec::PgRole(_)));
    apply(&b, &in_b).await;
    assert_eq!(dump(&a, schema), dump(&b, schema));
    a.drop().await;
    b.drop().await;
    m
}

/// What an ORM's migrations make: Django (identity keys, `varchar_pattern_ops` indexes, foreign keys
/// `DEFERRABLE INITIALLY DEFERRED`, its migrations table), Rails (bigserial keys, `timestamp(6)`,
/// `index_..._on_...` indexes, `schema_migrations`) and Prisma (quoted mixed-case names, an enum, a unique
/// index over two columns).
const ORM: &str = r#"
create schema shop;
create table shop.django_migrations (id bigint not null generated by default as identity primary key,
    app varchar(255) not null, name varchar(255) not null, applied timestamp with time zone not null);
create table shop.auth_user (id integer not null generated by default as identity primary key,
    password varchar(128) not null, last_login timestamp with time zone null, is_superuser boolean not null,
    username varchar(150) not null unique, email varchar(254) not null, date_joined timestamp with time zone not null);
create index auth_user_username_6821ab7c_like on shop.auth_user (username varchar_pattern_ops);
create table shop.catalog_product (id bigserial primary key, sku varchar(32) not null, title varchar(200) not null,
    price numeric(10, 2) not null, stock integer not null check (stock >= 0), created_by_id integer null,
    "metadata" jsonb not null default '{}'::jsonb);
alter table shop.catalog_product add constraint catalog_product_sku_key unique (sku);
alter table shop.catalog_product add constraint catalog_product_created_by_id_fk_auth_user_id
    foreign key (created_by_id) references shop.auth_user (id) deferrable initially deferred;
create index catalog_product_created_by_id_7a6b0c2e on shop.catalog_product (created_by_id);
create table shop.schema_migrations (version varchar not null primary key);
create table shop.ar_internal_metadata (key varchar not null primary key, value varchar,
    created_at timestamp(6) not null, updated_at timestamp(6) not null);
create table shop.orders (id bigserial primary key, product_id bigint not null references shop.catalog_product (id),
    quantity integer default 1 not null, state varchar default 'cart' not null,
    created_at timestamp(6) not null, updated_at timestamp(6) not null);
create index index_orders_on_product_id on shop.orders using btree (product_id);
create index index_orders_on_state_and_created_at on shop.orders (state, created_at desc);
create type shop."Role" as enum ('USER', 'ADMIN');
create table shop."Account" ("id" text not null, "role" shop."Role" not null default 'USER',
    "createdAt" timestamp(3) not null default current_timestamp, "updatedAt" timestamp(3) not null,
    constraint "Account_pkey" primary key ("id"));
create unique index "Account_id_role_key" on shop."Account" ("id", "role");
"#;

#[tokio::test]
async fn an_orm_made_schema_round_trips_whole() {
    let m = round_trip("kinds_orm", ORM, "shop").await;
    let fk = m.resources.iter().find_map(|r| match &r.spec {
        Spec::PgTable(t) if t.name == "catalog_product" => t.foreign_key.first().cloned(),
        _ => None,
    });
    assert_eq!(fk.and_then(|f| f.initially_deferred), Some(true));
}

/// A multi-tenant SaaS schema: tenants and their events in a table partitioned by range (two quarters and
/// a default partition, an index on the parent), row-level security forced on both, a policy per role,
/// grants to the application's role, a `SECURITY DEFINER` function the policies call that only that role may
/// call, and default privileges for what is created later.
const SAAS: &str = r#"
do $$ begin create role falconer_saas_app; exception when duplicate_object or unique_violation then null; end $$;
create extension if not exists pgcrypto;
create schema saas;
create function saas.current_tenant() returns uuid language sql stable security definer
    set search_path = saas, pg_temp as $$ select nullif(current_setting('app.tenant_id', true), '')::uuid $$;
create table saas.tenants (id uuid primary key default gen_random_uuid(), slug text not null unique,
    plan text not null default 'free' check (plan in ('free', 'pro', 'enterprise')));
create table saas.events (tenant_id uuid not null references saas.tenants (id), id bigserial,
    occurred_at timestamptz not null, kind text not null, payload jsonb,
    primary key (tenant_id, occurred_at, id)) partition by range (occurred_at);
create table saas.events_2026_q1 partition of saas.events for values from ('2026-01-01') to ('2026-04-01');
create table saas.events_2026_q2 partition of saas.events for values from ('2026-04-01') to ('2026-07-01');
create table saas.events_default partition of saas.events default;
create index events_kind_idx on saas.events (tenant_id, kind);
create type saas.price_band as range (subtype = numeric);
comment on type saas.price_band is 'A band of prices';
create table saas.reservations (id bigint generated always as identity primary key, room text not null,
    during tstzrange not null, price saas.price_band,
    constraint no_double_booking exclude using gist (during with &&) where (room <> 'overflow') deferrable);
alter table saas.events enable row level security;
alter table saas.events force row level security;
create policy tenant_isolation on saas.events to falconer_saas_app using (tenant_id = saas.current_tenant());
alter table saas.tenants enable row level security;
create policy tenant_self on saas.tenants for select to falconer_saas_app using (id = saas.current_tenant());
grant usage on schema saas to falconer_saas_app;
grant select, insert on saas.events to falconer_saas_app;
grant select on saas.tenants to falconer_saas_app;
revoke execute on function saas.current_tenant() from public;
grant execute on function saas.current_tenant() to falconer_saas_app;
alter default privileges in schema saas grant select on tables to falconer_saas_app;
alter default privileges in schema saas grant usage, select on sequences to falconer_saas_app;
"#;

#[tokio::test]
async fn a_multi_tenant_saas_schema_round_trips_whole() {
    let m = round_trip("kinds_saas", SAAS, "saas").await;
    let table = |n: &str| {
        m.resources.iter().find_map(|r| match &r.spec {
            Spec::PgTable(t) if t.name == n => Some(t.clone()),
            _ => None,
        })
    };
    let parent = table("events").expect("events");
    assert_eq!(parent.partition_by.as_deref(), Some("RANGE (occurred_at)"));
    let band = m.resources.iter().find_map(|r| match &r.spec {
        Spec::PgType(t) if t.name == "price_band" => Some(t.clone()),
        _ => None,
    });
    let band = band.expect("the range type");
    assert_eq!(
        (band.base.as_deref(), band.multirange.as_deref()),
        (Some("numeric"), Some("price_band_multirange"))
    );
    let reservations = table("reservations").expect("reservations");
    assert_eq!(
        reservations.exclude,
        [falconer::domains::postgres::Exclusion {
            name: "no_double_booking".into(),
            definition: "USING gist (during WITH &&) WHERE (room <> 'overflow'::text) DEFERRABLE"
                .into(),
        }]
    );
    let default = table("events_default").expect("the default partition");
    assert_eq!(
        (
            default.partition_of.as_deref(),
            default.partition_bound.as_deref(),
            default.column.len()
        ),
        (Some("events"), Some("DEFAULT"), 0)
    );
    // The index on the parent is one resource; the partitions' copies of it are not.
    let indexes: Vec<String> = m
        .resources
        .iter()
        .filter_map(|r| match &r.spec {
            Spec::PgIndex(i) => Some(i.name.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(indexes, ["events_kind_idx"]);
}

#[tokio::test]
async fn an_application_schema_round_trips_whole() {
    let (a, b, c) = (
        TestDb::new("kinds_a").await,
        TestDb::new("kinds_b").await,
        TestDb::new("kinds_c").await,
    );
    a.exec(APP).await;
    let t = tenant("app");
    let specs = inspected(&a, &t).await;
    let kinds: Vec<String> = specs.iter().map(|s| s.meta().kind.to_string()).collect();
    for k in [
        "type",
        "sequence",
        "function",
        "trigger",
        "table",
        "view",
        "extension",
    ] {
        assert!(kinds.iter().any(|x| x == k), "no {k}: {kinds:?}");
    }
    // Nothing of the schema is left out.
    let refs: Vec<&Spec> = specs.iter().collect();
    let left = inventory::not_carried(&a.pool, &["app".to_string()], &refs, None)
        .await
        .expect("inventory");
    assert!(left.is_empty(), "not carried: {left:#?}");
    // The serial columns read back as serials; the owned sequence as a sequence its column owns.
    let table = |n: &str| {
        specs.iter().find_map(|s| match s {
            Spec::PgTable(t) if t.name == n => Some(t.clone()),
            _ => None,
        })
    };
    assert_eq!(
        table("customers").expect("customers").column[0].ty,
        "serial"
    );
    assert_eq!(
        table("audit_log").expect("audit_log").column[0].owns_sequence,
        Some(true)
    );

    // Exported, then applied into an empty database: the same objects and definitions as pg_dump sees them.
    let m = through_a_manifest(&t, &specs);
    apply(&b, &m).await;
    assert_eq!(dump(&a, "app"), dump(&b, "app"));

    // Restored into another tenant through the identifier map: every name of the schema follows, in bodies
    // and `search_path` too, and the renamed functions, defaults and triggers work.
    let r = falconer::domains::rename::Renamer::new(vec![falconer::domains::rename::Rename {
        scopes: vec![&falconer::domains::postgres::SCHEMA_SCOPE],
        from: "app".into(),
        to: "billing".into(),
    }]);
    let mut renamed = m.clone();
    renamed.tenant = tenant("billing");
    for res in &mut renamed.resources {
        res.spec.rename(&r);
    }
    let text = write::write(&renamed, Format::Toml).expect("writes");
    assert!(!text.contains("app."), "{text}");
    apply(&c, &renamed).await;
    c.exec(
        "insert into billing.customers (email) values ('ann@example.com');
         insert into billing.invoices (customer_id, total) values (1, 250);
         update billing.invoices set total = 300;
         insert into billing.products values ('ABC', ('EUR', 100));
         call billing.close_month();",
    )
    .await;
    let row: (i32, i64, Option<String>, String) = sqlx::query_as(
        "select number, billing.total_of(customer_id), updated_at::text, status::text from billing.invoices",
    )
    .fetch_one(&c.pool)
    .await
    .expect("reads");
    assert_eq!((row.0, row.1, row.3.as_str()), (1000, 300, "draft"));
    assert!(row.2.is_some(), "the renamed trigger set updated_at");
    for db in [a, b, c] {
        db.drop().await;
    }
}

/// The change of `address` in a plan, with its action and hazard codes.
fn change_of<'p>(p: &'p plan::Plan, address: &str) -> &'p falconer::domains::item::Change {
    p.changes
        .iter()
        .find(|c| c.address == address)
        .unwrap_or_else(|| {
            panic!(
                "no change of {address}:\n{}",
                render::text(p, Default::default())
            )
        })
}

fn hazards(c: &falconer::domains::item::Change) -> Vec<&'static str> {
    c.hazards.iter().map(|h| h.code.as_str()).collect()
}

const TYPES_1: &str = r#"
[[postgres.type]]
schema = "app"
name = "status"
kind = "enum"
values = ["draft", "paid"]
[[postgres.type]]
schema = "app"
name = "cents"
kind = "domain"
base = "bigint"
nullable = false
default = "0"
check = [{ name = "cents_positive", expression = "VALUE >= 0" }]
[[postgres.type]]
schema = "app"
name = "money"
kind = "composite"
attribute = [{ name = "currency", type = "text" }, { name = "cents", type = "bigint" }]
[[postgres.sequence]]
schema = "app"
name = "invoice_no"
start = 10
min_value = 10
[[postgres.table]]
schema = "app"
name = "invoices"
column = [
  { name = "id", type = "serial" },
  { name = "number", type = "bigint", default = "nextval('app.invoice_no'::regclass)" },
  { name = "status", type = "app.status", default = "'draft'::app.status" },
  { name = "total", type = "app.cents" },
  { name = "touched", type = "timestamptz" },
]
[[postgres.function]]
schema = "app"
name = "touch"
returns = "trigger"
language = "plpgsql"
body = "begin new.touched := now(); return new; end"
[[postgres.function]]
schema = "app"
name = "plus"
argument = [{ name = "a", type = "int" }, { name = "b", type = "int", default = "1" }]
returns = "integer"
language = "sql"
body = "select a + b"
[[postgres.trigger]]
schema = "app"
table = "invoices"
name = "invoices_touch"
timing = "before"
events = ["update"]
for_each = "row"
function = "touch"
"#;

#[tokio::test]
async fn each_kind_changes_in_place_and_converges() {
    let db = TestDb::new("kinds_change").await;
    converge(&db, TYPES_1, |p| {
        assert!(
            p.changes.iter().all(|c| c.action == plan::Action::Create),
            "{}",
            render::text(p, Default::default())
        );
    })
    .await;
    // An enum gains labels before and after others, and a default uses one at once; a domain gains a check
    // and a new default; a composite type an attribute; a sequence new options; a function a new body; a
    // trigger stops firing.
    let two = TYPES_1
        .replace(r#"values = ["draft", "paid"]"#, r#"values = ["void", "draft", "sent", "paid"]"#)
        .replace(r#"default = "'draft'::app.status""#, r#"default = "'void'::app.status""#)
        .replace(r#"default = "0""#, r#"default = "1""#)
        .replace(
            r#"check = [{ name = "cents_positive", expression = "VALUE >= 0" }]"#,
            r#"check = [{ name = "cents_positive", expression = "VALUE >= 0" }, { name = "cents_small", expression = "VALUE < 1000000" }]"#,
        )
        .replace(r#"{ name = "cents", type = "bigint" }]"#, r#"{ name = "cents", type = "bigint" }, { name = "note", type = "text" }]"#)
        .replace("min_value = 10\n", "min_value = 10\nincrement = 5\ncycle = true\n")
        .replace("select a + b", "select a + b + 0")
        .replace("function = \"touch\"\n", "function = \"touch\"\nfiring = \"disabled\"\n");
    converge(&db, &two, |p| {
        for a in [
            "postgres.type.app.status",
            "postgres.type.app.cents",
            "postgres.type.app.money",
            "postgres.sequence.app.invoice_no",
            r#"postgres.function.app."plus(integer, integer)""#,
            "postgres.table.app.invoices",
        ] {
            assert_eq!(change_of(p, a).action, plan::Action::Update, "{a}");
        }
        let trigger = change_of(p, "postgres.trigger.app.invoices.invoices_touch");
        assert_eq!(
            (trigger.action, hazards(trigger)),
            (plan::Action::Update, vec!["WIDENS_ACCESS"])
        );
    })
    .await;
    let firing: String = sqlx::query_scalar(
        "select tgenabled::text from pg_trigger where tgname = 'invoices_touch'",
    )
    .fetch_one(&db.pool)
    .await
    .expect("reads");
    assert_eq!(firing, "D");
    // A function's result type is its signature's: a replace. Running as its owner widens access.
    let three = two
        .replace(
            "returns = \"integer\"",
            "returns = \"bigint\"\nsecurity_definer = true",
        )
        .replace("select a + b + 0", "select (a + b)::bigint");
    converge(&db, &three, |p| {
        let f = change_of(p, r#"postgres.function.app."plus(integer, integer)""#);
        assert_eq!(
            (f.action, hazards(f)),
            (plan::Action::Replace, vec!["WIDENS_ACCESS"])
        );
    })
    .await;
    // Removing an enum's label is impossible in place: the plan says so, and what to do.
    let (p, _, _) = live_plan(
        &db,
        &crate::postgres::manifest_of(&three.replace(r#""sent", "#, "")),
        Path::new("."),
    )
    .await;
    let status = change_of(&p, "postgres.type.app.status");
    assert_eq!(hazards(status), vec!["IMPOSSIBLE"]);
    assert!(
        status.hazards[0].message.contains("create a new type"),
        "{:?}",
        status.hazards
    );
    db.drop().await;
}

/// Objects and settings the inventory used to name are carried now, and it names nothing here: a
/// function's `REVOKE EXECUTE ... FROM PUBLIC` (`execute = []`), default privileges, an aggregate, a role's
/// settings in the tenant's database, privileges on a column and on a type, UNLOGGED, storage parameters
/// and an identity's sequence options.
#[tokio::test]
async fn settings_and_privileges_the_inventory_named_are_carried() {
    let db = TestDb::new("kinds_acl").await;
    db.exec(
        "do $$ begin create role falconer_acl_reader; exception when duplicate_object or unique_violation then null; end $$;
         create schema app;
         create table app.t (id int, secret text);
         grant select (id) on app.t to falconer_acl_reader;
         do $$ begin execute format('alter role falconer_acl_reader in database %I set work_mem = %L',
                                    current_database(), '8MB'); end $$;
         create function app.f() returns int language sql as 'select 1';
         revoke execute on function app.f() from public;
         create type app.mood as enum ('calm', 'busy');
         revoke usage on type app.mood from public;
         grant usage on type app.mood to falconer_acl_reader;
         alter default privileges in schema app grant select on tables to falconer_acl_reader;
         create aggregate app.total(numeric) (sfunc = numeric_add, stype = numeric);
         create unlogged table app.scratch (id bigint generated always as identity (start with 100) primary key)
             with (fillfactor = 70);",
    )
    .await;
    let t = tenant("app");
    let specs = inspected(&db, &t).await;
    let refs: Vec<&Spec> = specs.iter().collect();
    let left = inventory::not_carried(&db.pool, &["app".to_string()], &refs, None)
        .await
        .expect("inventory");
    let named: Vec<(String, String)> = left.into_iter().map(|n| (n.kind, n.name)).collect();
    assert!(named.is_empty(), "{named:#?}");
    // What stays uncarried of a carried relation is still named: a materialized view's storage parameters,
    // an unlogged sequence (PostgreSQL 15 has them).
    db.exec(
        "create materialized view app.totals with (fillfactor = 80) as select 1 as n;
         do $$ begin if current_setting('server_version_num')::int >= 150000 then
           execute 'create unlogged sequence app.scratch_counter'; end if; end $$;",
    )
    .await;
    let (version,): (String,) = sqlx::query_as("select current_setting('server_version_num')")
        .fetch_one(&db.pool)
        .await
        .expect("version");
    let more = inspected(&db, &t).await;
    let refs: Vec<&Spec> = more.iter().collect();
    let left = inventory::not_carried(&db.pool, &["app".to_string()], &refs, None)
        .await
        .expect("inventory");
    let mut expected = vec!["storage parameters of materialized view app.totals"];
    if version.parse::<u32>().unwrap_or(0) >= 150000 {
        expected.push("sequence app.scratch_counter is UNLOGGED");
    }
    let names: Vec<String> = left.into_iter().map(|n| n.name).collect();
    assert_eq!(names, expected);
    let usage = specs.iter().find_map(|s| match s {
        Spec::PgType(t) if t.name == "mood" => t.usage.clone(),
        _ => None,
    });
    assert_eq!(usage, Some(vec!["falconer_acl_reader".to_string()]));
    let scratch = specs.iter().find_map(|s| match s {
        Spec::PgTable(t) if t.name == "scratch" => Some((t.unlogged, t.storage.clone())),
        _ => None,
    });
    assert_eq!(
        scratch,
        Some((
            Some(true),
            [("fillfactor".to_string(), "70".to_string())].into()
        ))
    );
    let column_grant = specs.iter().find_map(|s| match s {
        Spec::PgGrant(g) if g.object == "t" && g.grantee == "falconer_acl_reader" => {
            Some(g.clone())
        }
        _ => None,
    });
    let columns = column_grant.map(|g| (g.privileges, g.columns));
    assert_eq!(
        columns,
        Some((
            vec![],
            [(
                "id".to_string(),
                vec![falconer::domains::postgres::Privilege::Select]
            )]
            .into()
        ))
    );
    assert!(
        specs.iter().any(|s| matches!(s, Spec::PgAggregate(a) if a.signature() == "total(numeric)" && a.state_function == "numeric_add")),
        "{specs:#?}"
    );
    let role = specs.iter().find_map(|s| match s {
        Spec::PgRole(r) if r.name == "falconer_acl_reader" => Some(r.clone()),
        _ => None,
    });
    let settings = role.map(|r| r.database_settings).unwrap_or_default();
    assert_eq!(
        settings.get("work_mem").map(String::as_str),
        Some("8MB"),
        "{specs:#?}"
    );
    assert!(
        specs.iter().any(
            |s| matches!(s, Spec::PgDefaultPrivileges(d) if d.grantee == "falconer_acl_reader")
        ),
        "{specs:#?}"
    );
    let execute = specs.iter().find_map(|s| match s {
        Spec::PgFunction(f) if f.name == "f" => f.execute.clone(),
        _ => None,
    });
    assert_eq!(execute, Some(vec![]));
    db.drop().await;
}

/// The invoicing schema through the commands a user runs: `backup create --strict` of the tenant (complete),
/// then `restore` into an empty database (refused until its hazard is allowed, writing nothing); pg_dump of
/// both holds the same statements. Then restored into another tenant through the identifier map: the renamed
/// function runs there, and the schema name inside a dynamic SQL string, which the map cannot rewrite, is
/// listed as kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_application_schema_is_backed_up_and_restored_whole() {
    let (a, b, c) = (
        TestDb::new("kinds_bk_a").await,
        TestDb::new("kinds_bk_b").await,
        TestDb::new("kinds_bk_c").await,
    );
    a.exec(APP).await;
    a.exec(
        "create function app.purge_notes() returns void language plpgsql as $$
         begin
             delete from app.audit_log where note is null;
             execute 'truncate app.audit_log';
         end
         $$;
         insert into app.customers (email) values ('ann@example.com');
         insert into app.invoices (customer_id, total) values (1, 5), (1, 6);",
    )
    .await;
    let env = vec![("FALCONER_POSTGRES_URL".to_string(), a.url.clone())];
    let w = crate::support::Workdir::new("pg_kinds", "backup", env);
    w.write(
        "tenant.toml",
        "[tenant]\nid = \"acme\"\n[tenant.naming]\npostgres_schemas = [\"app\"]\n",
    );
    let repo = format!("file:{}", w.dir.join("repo").display());
    let m = w.manifest();
    // Nothing of the schema is left out: a complete backup, not `incomplete` (which exits 5 here).
    let record =
        crate::support::backup_record(&w, ("acme", &m, "postgres"), &repo, &["--strict"], 0);
    let id = record["id"].as_str().expect("an id").to_string();
    // The `SECURITY DEFINER` function is a hazard the restore asks permission for, before writing anything.
    let run = |tenant: &str, url: &str, extra: &[&str]| {
        let mut args = vec![
            "restore",
            &id,
            "--tenant",
            tenant,
            "--repo",
            &repo,
            "--domain",
            "postgres",
            "--auto-approve",
        ];
        args.extend(extra);
        w.command(&args)
            .env("FALCONER_POSTGRES_URL", url)
            .output()
            .expect("runs")
    };
    crate::support::code(&run("acme", &b.url, &[]), 4);
    let schemas: i64 =
        sqlx::query_scalar("select count(*) from pg_namespace where nspname = 'app'")
            .fetch_one(&b.pool)
            .await
            .expect("reads");
    assert_eq!(schemas, 0, "nothing was written");
    let o = run("acme", &b.url, &["--allow", "WIDENS_ACCESS"]);
    crate::support::code(&o, 0);
    assert_eq!(dump(&a, "app"), dump(&b, "app"));
    // Sequences' current values are data: the backup holds them (three sequences were used), the restore
    // says so and leaves the new sequences where their definitions start.
    assert!(
        crate::support::both(&o).contains("the backup holds 3 value(s) that are data"),
        "{}",
        crate::support::both(&o)
    );
    let next: i64 = sqlx::query_scalar("select nextval('app.invoice_no')")
        .fetch_one(&b.pool)
        .await
        .expect("reads");
    assert_eq!(next, 1000);

    // Into another tenant, the schema renamed by the map.
    let o = run(
        "globex",
        &c.url,
        &[
            "--allow",
            "WIDENS_ACCESS",
            "--map",
            "app=billing",
            "--sequence-values",
        ],
    );
    crate::support::code(&o, 0);
    // Asked for, the values are set in the renamed sequences: numbering goes on from the source's.
    let next: (i64, i64) =
        sqlx::query_as("select nextval('billing.invoice_no'), nextval('billing.invoices_id_seq')")
            .fetch_one(&c.pool)
            .await
            .expect("reads");
    assert_eq!(next, (1002, 3));
    let said = crate::support::both(&o);
    assert!(
        said.contains(
            "postgres.function.billing.purge_notes() /body: \"execute 'truncate app.audit_log';\""
        ),
        "{said}"
    );
    assert!(!said.contains("delete from app."), "{said}");
    c.exec(
        "insert into billing.invoices (customer_id, total) select 1, 5 where false;
         insert into billing.audit_log (note) values (null), ('kept');",
    )
    .await;
    let total: i64 = sqlx::query_scalar("select billing.total_of(1)")
        .fetch_one(&c.pool)
        .await
        .expect("the renamed function runs");
    assert_eq!(total, 0);
    sqlx::query("select billing.purge_notes()")
        .execute(&c.pool)
        .await
        .expect_err("its dynamic SQL still names the source schema, as the restore said");
    let renamed = dump(&c, "billing");
    assert_eq!(renamed.len(), dump(&a, "app").len(), "{renamed:?}");
    let _ = std::fs::remove_dir_all(&w.dir);
    for db in [a, b, c] {
        db.drop().await;
    }
}
