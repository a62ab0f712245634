//! Plan and apply agree, field by field: for every kind and every field that can change in place, a plan of
//! that one field changes exactly it, the apply carries it out against the real server (or the test double
//! for Keycloak and OpenWhisk), and the next plan shows no change.
//!
//! The fields come from the kind registry (each kind's JSON Schema, less its identity, `depends_on` and the
//! fields that force a replace), so a field added to a kind fails [`every_mutable_field_is_covered`] until a
//! case exercises it.

use std::collections::BTreeSet;

use falconer::domains::KINDS;
use falconer::model::flags::IMMUTABLE;

/// Every (kind, field) that can change in place, as `domain.kind` and the field's name.
pub fn mutable_fields() -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for entry in KINDS {
        let meta = (entry.meta)();
        let mut g = schemars::generate::SchemaSettings::draft2020_12().into_generator();
        let schema = (entry.schema)(&mut g).to_value();
        let resolved = match schema.get("$ref").and_then(|r| r.as_str()) {
            Some(r) => g
                .definitions()
                .get(r.rsplit('/').next().unwrap_or_default())
                .cloned()
                .unwrap_or_default(),
            None => schema,
        };
        for field in resolved["properties"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(k, _)| k)
        {
            if meta.identity.contains(&field.as_str())
                || field == "depends_on"
                || meta.flags_of(field) & IMMUTABLE != 0
            {
                continue;
            }
            out.insert((format!("{}.{}", meta.domain, meta.kind), field.clone()));
        }
    }
    out
}

/// Fields that no case changes, each with why. The list only shrinks: a field covered by a case must leave
/// it, and a field neither covered nor listed fails the coverage test.
const NOT_CHANGED_ALONE: &[(&str, &str, &str)] = &[
    (
        "postgres.aggregate",
        "state_type",
        "goes with the state function, which takes and returns it: changed alone it names a state function \
         of another type, which the server refuses",
    ),
    (
        "postgres.aggregate",
        "final_extra",
        "goes with the final function, which then takes the aggregate's arguments too: changed alone the final \
         function has the wrong arguments",
    ),
    (
        "postgres.aggregate",
        "serial_function",
        "only for a state of type `internal`, which only C functions handle: an aggregate written in SQL has none",
    ),
    (
        "postgres.aggregate",
        "deserial_function",
        "only for a state of type `internal`, which only C functions handle: an aggregate written in SQL has none",
    ),
    (
        "postgres.extension",
        "version",
        "the test server has one version of each extension, so there is nothing to update to",
    ),
    (
        "functions.action",
        "binary",
        "follows the code (base64 code is binary, a code file's bytes decide) and is left out of the \
         comparison: it never changes alone",
    ),
    (
        "iam.group",
        "name",
        "part of the group's address (its path): another name is another group",
    ),
    (
        "functions.action",
        "name",
        "part of the action's address (`package/name`): another name is another action",
    ),
    (
        "postgres.grant",
        "object_type",
        "says what the object is: another type names another object, never a change of this one",
    ),
    (
        "mongo.collection",
        "pipeline",
        "the test server (SecantusDB) answers ok to collMod {viewOn, pipeline} and keeps the old pipeline, so \
         no re-plan can come out empty here; mongo::updates_the_test_server_cannot_show_send_mongodbs_commands \
         holds the command falconer sends to MongoDB's collMod",
    ),
    (
        "mongo.index",
        "hidden",
        "the test server (SecantusDB) answers ok to collMod {index: {hidden}} and lists the index unchanged; \
         mongo::updates_the_test_server_cannot_show_send_mongodbs_commands holds the command falconer sends \
         to MongoDB's collMod",
    ),
    (
        "mongo.collection",
        "timeseries",
        "the test server (SecantusDB) answers ok to collMod {timeseries: {granularity}} and keeps the old \
         granularity; mongo::updates_the_test_server_cannot_show_send_mongodbs_commands holds the command \
         falconer sends to MongoDB's collMod (its time and meta fields cannot change: \
         mongo::time_series_and_clustered_collections_converge)",
    ),
    (
        "mongo.collection",
        "expire_after_seconds",
        "the test server (SecantusDB) answers ok to collMod {expireAfterSeconds} and keeps the old expiry; \
         mongo::updates_the_test_server_cannot_show_send_mongodbs_commands holds the command falconer sends",
    ),
    (
        "mongo.collection",
        "clustered",
        "set when a collection is created: a change is IMPOSSIBLE (mongo::time_series_and_clustered_collections_converge)",
    ),
    (
        "postgres.table",
        "renamed_from",
        "a directive for a rename, read only when the name changes (tests/suite/postgres.rs renames)",
    ),
];

/// Fields whose one-field plan, apply and empty re-plan another test makes (named), against the same server.
const COVERED_ELSEWHERE: &[(&str, &str, &str)] = &[
    (
        "storage.bucket",
        "versioning",
        "storage::each_configuration_plans_minimally_and_applies",
    ),
    (
        "storage.bucket",
        "tags",
        "storage::each_configuration_plans_minimally_and_applies",
    ),
    (
        "storage.bucket",
        "encryption",
        "storage::each_configuration_plans_minimally_and_applies",
    ),
    (
        "storage.bucket",
        "lifecycle_rule",
        "storage::each_configuration_plans_minimally_and_applies",
    ),
    (
        "storage.bucket",
        "cors_rule",
        "storage::each_configuration_plans_minimally_and_applies",
    ),
    (
        "storage.bucket",
        "policy",
        "storage::each_configuration_plans_minimally_and_applies",
    ),
    (
        "storage.bucket",
        "public_access_block",
        "storage::a_buckets_protection_plans_minimally_and_applies",
    ),
    (
        "storage.bucket",
        "ownership",
        "storage::a_buckets_protection_plans_minimally_and_applies",
    ),
    (
        "storage.bucket",
        "object_lock",
        "storage::a_buckets_protection_plans_minimally_and_applies",
    ),
    (
        "storage.bucket",
        "request_payer",
        "storage::requester_pays_and_acceleration_plan_minimally_and_apply",
    ),
    (
        "storage.bucket",
        "accelerate",
        "storage::requester_pays_and_acceleration_plan_minimally_and_apply",
    ),
    (
        "mongo.collection",
        "change_stream_pre_and_post_images",
        "mongo::time_series_and_clustered_collections_converge",
    ),
    (
        "kafka.topic",
        "partitions",
        "kafka::each_change_plans_minimally_and_applies",
    ),
    (
        "kafka.topic",
        "config",
        "kafka::each_change_plans_minimally_and_applies",
    ),
    (
        "mongo.role",
        "privilege",
        "mongo::users_and_roles_apply_sign_in_rotate_and_delete",
    ),
    (
        "mongo.role",
        "roles",
        "mongo::users_and_roles_apply_sign_in_rotate_and_delete",
    ),
    (
        "mongo.user",
        "roles",
        "mongo::users_and_roles_apply_sign_in_rotate_and_delete",
    ),
    (
        "mongo.user",
        "password",
        "mongo::users_and_roles_apply_sign_in_rotate_and_delete",
    ),
    (
        "kafka.scram_credential",
        "iterations",
        "scram::scram_credentials_apply_sign_in_rotate_and_delete",
    ),
    (
        "kafka.scram_credential",
        "password",
        "scram::scram_credentials_apply_sign_in_rotate_and_delete",
    ),
];

/// What the cases of this module, and the tests named in [`COVERED_ELSEWHERE`], change: (kind, field).
fn covered() -> BTreeSet<(String, String)> {
    PG.iter()
        .chain(MONGO)
        .chain(FUNCTIONS)
        .map(|c| (kind_of(c.address), c.field.to_string()))
        .chain(
            COVERED_ELSEWHERE
                .iter()
                .map(|(k, f, _)| (k.to_string(), f.to_string())),
        )
        .chain(iam_cases().into_iter().map(|c| (kind_of(&c.0), c.1)))
        .collect()
}

fn kind_of(address: &str) -> String {
    address.splitn(3, '.').take(2).collect::<Vec<_>>().join(".")
}

#[test]
fn every_mutable_field_is_covered() {
    let covered = covered();
    let excused: BTreeSet<(String, String)> = NOT_CHANGED_ALONE
        .iter()
        .map(|(k, f, _)| (k.to_string(), f.to_string()))
        .collect();
    assert!(
        covered.is_disjoint(&excused),
        "covered now: {:?}",
        covered.intersection(&excused).collect::<Vec<_>>()
    );
    let missing: Vec<_> = mutable_fields()
        .into_iter()
        .filter(|x| !covered.contains(x) && !excused.contains(x))
        .collect();
    assert!(missing.is_empty(), "fields no case changes: {missing:#?}");
    let unknown: Vec<_> = covered.difference(&mutable_fields()).cloned().collect();
    assert!(
        unknown.is_empty(),
        "cases of fields that are not mutable fields: {unknown:?}"
    );
}

/// The REST providers call their servers as they go and keep a list of the fields each kind's update sends
/// (refusing any other by name at run time): every mutable field that can change alone must be on it, and a
/// field that is not is refused, never applied as nothing.
#[test]
fn the_rest_providers_carry_every_mutable_field_and_refuse_others() {
    use falconer::domains::provider::{ProviderError, refuse_uncarried};
    use falconer::domains::{functions, iam, storage};
    use falconer::model::Domain;
    let carries = |domain: &str, kind: &str, field: &str| match domain {
        "iam" => Some(iam::apply::carries(kind, field)),
        "functions" => Some(functions::apply::carries(kind, field)),
        "storage" => Some(storage::provider::carries(kind, field)),
        _ => None,
    };
    let mut checked = 0;
    let mut missing = Vec::new();
    let excused = |kind: &str, field: &str| {
        NOT_CHANGED_ALONE
            .iter()
            .any(|(k, f, _)| *k == kind && *f == field)
    };
    for (kind, field) in mutable_fields() {
        if excused(&kind, &field) {
            continue;
        }
        let (domain, name) = kind.split_once('.').expect("domain.kind");
        match carries(domain, name, &field) {
            Some(true) => checked += 1,
            Some(false) => missing.push(format!("{kind}.{field}")),
            None => {}
        }
    }
    assert!(missing.is_empty(), "not carried: {missing:?}");
    assert!(checked > 40, "only {checked} fields checked");
    let change: falconer::plan::Change = serde_json::from_value(serde_json::json!({
        "address": "storage.bucket.acme-files",
        "kind": "storage.bucket",
        "action": "update",
        "wave": 0,
        "fields": [{"path": "tags.team", "old": "a", "new": "b"}, {"path": "no_such_field", "new": 1}],
    }))
    .expect("a change");
    match refuse_uncarried(Domain::Storage, &[change], storage::provider::carries) {
        Err(ProviderError::CannotApply { fields, .. }) => assert_eq!(fields, ["no_such_field"]),
        other => panic!("expected a refusal naming the field, got {other:?}"),
    }
}

/// One case: in the manifest, `from` becomes `to`, and the plan is exactly an update of `field` of `address`.
struct Case {
    address: &'static str,
    field: &'static str,
    from: &'static str,
    to: &'static str,
    allow: &'static [&'static str],
}

const fn case(
    address: &'static str,
    field: &'static str,
    from: &'static str,
    to: &'static str,
) -> Case {
    Case {
        address,
        field,
        from,
        to,
        allow: &[],
    }
}

/// The PostgreSQL manifest the cases edit (`R` is the test's role prefix: roles are cluster-wide).
const PG_BASE: &str = r#"[tenant]
id = "acme"
[tenant.naming]
postgres_schemas = ["app"]

[[postgres.extension]]
name = "pgcrypto"

[[postgres.role]]
name = "R_owner"

[[postgres.role]]
name = "R_group"

[[postgres.role]]
name = "R"
login = true
inherit = true
bypass_rls = false
connection_limit = 5
comment = "one"

[[postgres.schema]]
name = "app"
comment = "one"
grant = [{ role = "R", privileges = ["USAGE"] }]

[[postgres.table]]
name = "parent"
schema = "app"
primary_key = { columns = ["id"] }
column = [{ name = "id", type = "bigint", nullable = false, identity = "always" }]

[[postgres.table]]
name = "t"
schema = "app"
comment = "one"
column = [
  { name = "id", type = "bigint", nullable = false },
  { name = "n", type = "integer" },
  { name = "p", type = "bigint" },
]

[[postgres.index]]
name = "t_n"
schema = "app"
table = "t"
columns = ["n"]
comment = "one"

[[postgres.view]]
name = "v"
schema = "app"
query = "SELECT id, n FROM app.t"
comment = "one"

[[postgres.policy]]
name = "pol"
schema = "app"
table = "t"
roles = ["R"]
using = "n > 0"

[[postgres.grant]]
grantee = "R"
schema = "app"
object = "t"
privileges = ["SELECT"]

[[postgres.type]]
name = "level"
schema = "app"
kind = "enum"
values = ["low", "high"]
comment = "one"

[[postgres.type]]
name = "amount"
schema = "app"
kind = "domain"
base = "bigint"
check = [{ name = "amount_positive", expression = "VALUE > 0" }]

[[postgres.type]]
name = "pair"
schema = "app"
kind = "composite"
attribute = [{ name = "a", type = "integer" }]

[[postgres.type]]
name = "span"
schema = "app"
kind = "range"
base = "double precision"
subtype_diff = "float8mi"
comment = "one"

[[postgres.sequence]]
name = "s"
schema = "app"
comment = "one"

[[postgres.function]]
name = "f"
schema = "app"
returns = "SETOF integer"
language = "sql"
body = "select 1"
comment = "one"

[[postgres.function]]
name = "tf"
schema = "app"
returns = "trigger"
language = "plpgsql"
body = "begin return new; end"

[[postgres.aggregate]]
name = "agg"
schema = "app"
argument = ["int4"]
state_function = "int4pl"
state_type = "integer"
comment = "one"

[[postgres.default_privileges]]
schema = "app"
role = "R_owner"
on = "tables"
grantee = "R"
privileges = ["SELECT"]

[[postgres.trigger]]
name = "trg"
schema = "app"
table = "t"
timing = "before"
events = ["insert"]
for_each = "row"
function = "tf"
comment = "one"
"#;

const PG: &[Case] = &[
    case(
        "postgres.role.R",
        "comment",
        "comment = \"one\"",
        "comment = \"two\"",
    ),
    case(
        "postgres.role.R",
        "connection_limit",
        "connection_limit = 5",
        "connection_limit = 6",
    ),
    case("postgres.role.R", "login", "login = true", "login = false"),
    case("postgres.role.R", "login", "login = false", "login = true"),
    case(
        "postgres.role.R",
        "inherit",
        "inherit = true",
        "inherit = false",
    ),
    case(
        "postgres.role.R",
        "bypass_rls",
        "bypass_rls = false",
        "bypass_rls = true",
    ),
    case(
        "postgres.role.R",
        "member_of",
        "comment = \"two\"",
        "comment = \"two\"\nmember_of = [\"R_group\"]",
    ),
    case(
        "postgres.role.R",
        "password",
        "member_of = [",
        "password = { env = \"FIELDS_PASSWORD\" }\nmember_of = [",
    ),
    // Removed again: the role has no password, and the recorded fingerprint is forgotten.
    case(
        "postgres.role.R",
        "password",
        "password = { env = \"FIELDS_PASSWORD\" }\n",
        "",
    ),
    case(
        "postgres.role.R",
        "settings",
        "bypass_rls = true",
        "bypass_rls = true\nsettings = { statement_timeout = \"5s\", search_path = \"app, public\" }",
    ),
    case(
        "postgres.role.R",
        "settings",
        "statement_timeout = \"5s\", search_path = \"app, public\"",
        "statement_timeout = \"7s\"",
    ),
    case(
        "postgres.role.R",
        "database_settings",
        "connection_limit = 6",
        "connection_limit = 6\ndatabase_settings = { work_mem = \"8MB\" }",
    ),
    case(
        "postgres.schema.app",
        "comment",
        "comment = \"one\"\ngrant",
        "comment = \"two\"\ngrant",
    ),
    case(
        "postgres.schema.app",
        "owner",
        "name = \"app\"\n",
        "name = \"app\"\nowner = \"R_owner\"\n",
    ),
    case(
        "postgres.schema.app",
        "grant",
        "privileges = [\"USAGE\"] }",
        "privileges = [\"USAGE\", \"CREATE\"] }",
    ),
    case(
        "postgres.schema.app",
        "grant",
        "privileges = [\"USAGE\", \"CREATE\"] }",
        "privileges = [\"USAGE\", \"CREATE\"], with_grant_option = true }",
    ),
    case(
        "postgres.table.app.t",
        "comment",
        "name = \"t\"\nschema = \"app\"\ncomment = \"one\"",
        "name = \"t\"\nschema = \"app\"\ncomment = \"two\"",
    ),
    case(
        "postgres.table.app.t",
        "column",
        "{ name = \"p\", type = \"bigint\" },",
        "{ name = \"p\", type = \"bigint\" },\n  { name = \"m\", type = \"text\" },",
    ),
    case(
        "postgres.table.app.t",
        "primary_key",
        "comment = \"two\"\ncolumn",
        "comment = \"two\"\nprimary_key = { columns = [\"id\"] }\ncolumn",
    ),
    case(
        "postgres.table.app.t",
        "unique",
        "comment = \"two\"\nprimary_key",
        "comment = \"two\"\nunique = [{ columns = [\"n\"] }]\nprimary_key",
    ),
    case(
        "postgres.table.app.t",
        "check",
        "comment = \"two\"\nunique",
        "comment = \"two\"\ncheck = [{ name = \"n_positive\", expression = \"n > 0\" }]\nunique",
    ),
    case(
        "postgres.table.app.t",
        "exclude",
        "expression = \"n > 0\" }]\nunique",
        "expression = \"n > 0\" }]\nexclude = [{ name = \"n_apart\", definition = \"using btree (n with =)\" }]\nunique",
    ),
    case(
        "postgres.table.app.t",
        "foreign_key",
        "comment = \"two\"\ncheck",
        "comment = \"two\"\nforeign_key = [{ columns = [\"p\"], references = { table = \"parent\" } }]\ncheck",
    ),
    case(
        "postgres.table.app.t",
        "row_level_security",
        "comment = \"two\"\nforeign_key",
        "comment = \"two\"\nrow_level_security = true\nforeign_key",
    ),
    case(
        "postgres.table.app.t",
        "force_row_level_security",
        "row_level_security = true",
        "row_level_security = true\nforce_row_level_security = true",
    ),
    case(
        "postgres.table.app.parent",
        "column",
        "identity = \"always\" }]",
        "identity = \"always\", identity_options = { start = 100, increment = 5 } }]",
    ),
    case(
        "postgres.table.app.parent",
        "column",
        "identity_options = { start = 100, increment = 5 }",
        "identity_options = { start = 100, increment = 5, cache = 20, cycle = true, max_value = 100000 }",
    ),
    case(
        "postgres.table.app.t",
        "storage",
        "force_row_level_security = true",
        "force_row_level_security = true\nstorage = { fillfactor = \"70\" }",
    ),
    case(
        "postgres.table.app.t",
        "storage",
        "storage = { fillfactor = \"70\" }",
        "storage = { fillfactor = \"80\", autovacuum_enabled = \"false\" }",
    ),
    Case {
        allow: &["LOCKS_TABLE"],
        ..case(
            "postgres.table.app.t",
            "unlogged",
            "storage = { fillfactor = \"80\"",
            "unlogged = true\nstorage = { fillfactor = \"80\"",
        )
    },
    case(
        "postgres.index.app.t_n",
        "comment",
        "columns = [\"n\"]\ncomment = \"one\"",
        "columns = [\"n\"]\ncomment = \"two\"",
    ),
    case(
        "postgres.view.app.v",
        "comment",
        "FROM app.t\"\ncomment = \"one\"",
        "FROM app.t\"\ncomment = \"two\"",
    ),
    case(
        "postgres.view.app.v",
        "query",
        "SELECT id, n FROM app.t\"",
        "SELECT id, n FROM app.t WHERE n > 1\"",
    ),
    case(
        "postgres.view.app.v",
        "check_option",
        "WHERE n > 1\"",
        "WHERE n > 1\"\ncheck_option = \"local\"",
    ),
    case(
        "postgres.view.app.v",
        "security_barrier",
        "check_option = \"local\"",
        "check_option = \"local\"\nsecurity_barrier = true",
    ),
    case(
        "postgres.view.app.v",
        "security_invoker",
        "security_barrier = true",
        "security_barrier = true\nsecurity_invoker = true",
    ),
    case(
        "postgres.policy.app.t.pol",
        "roles",
        "roles = [\"R\"]",
        "roles = [\"R\", \"R_group\"]",
    ),
    case(
        "postgres.policy.app.t.pol",
        "using",
        "using = \"n > 0\"",
        "using = \"n > 1\"",
    ),
    case(
        "postgres.policy.app.t.pol",
        "with_check",
        "using = \"n > 1\"",
        "using = \"n > 1\"\nwith_check = \"n < 100\"",
    ),
    case(
        "postgres.grant.app.t.R",
        "privileges",
        "privileges = [\"SELECT\"]",
        "privileges = [\"SELECT\", \"INSERT\"]",
    ),
    case(
        "postgres.grant.app.t.R",
        "with_grant_option",
        "privileges = [\"SELECT\", \"INSERT\"]",
        "privileges = [\"SELECT\", \"INSERT\"]\nwith_grant_option = true",
    ),
    case(
        "postgres.grant.app.t.R",
        "with_grant_option",
        "]\nwith_grant_option = true",
        "]\nwith_grant_option = false",
    ),
    case(
        "postgres.type.app.span",
        "comment",
        "subtype_diff = \"float8mi\"\ncomment = \"one\"",
        "subtype_diff = \"float8mi\"\ncomment = \"two\"",
    ),
    case(
        "postgres.grant.app.t.R",
        "columns",
        "]\nwith_grant_option = false",
        "]\ncolumns = { n = [\"UPDATE\"] }\nwith_grant_option = false",
    ),
    case(
        "postgres.grant.app.t.R",
        "columns",
        "columns = { n = [\"UPDATE\"] }",
        "columns = { n = [\"UPDATE\", \"SELECT\"], id = [\"UPDATE\"] }",
    ),
    case(
        "postgres.type.app.level",
        "values",
        "values = [\"low\", \"high\"]",
        "values = [\"low\", \"mid\", \"high\"]",
    ),
    case(
        "postgres.type.app.level",
        "comment",
        "\"high\"]\ncomment = \"one\"",
        "\"high\"]\ncomment = \"two\"",
    ),
    case(
        "postgres.type.app.level",
        "usage",
        "\"high\"]\ncomment = \"two\"",
        "\"high\"]\nusage = []\ncomment = \"two\"",
    ),
    case(
        "postgres.type.app.level",
        "usage",
        "usage = []",
        "usage = [\"R\"]",
    ),
    case(
        "postgres.type.app.amount",
        "default",
        "base = \"bigint\"\n",
        "base = \"bigint\"\ndefault = \"1\"\n",
    ),
    case(
        "postgres.type.app.amount",
        "nullable",
        "default = \"1\"\n",
        "default = \"1\"\nnullable = false\n",
    ),
    case(
        "postgres.type.app.amount",
        "check",
        "expression = \"VALUE > 0\" }]",
        "expression = \"VALUE > 0\" }, { name = \"amount_small\", expression = \"VALUE < 1000\" }]",
    ),
    case(
        "postgres.type.app.pair",
        "attribute",
        "[{ name = \"a\", type = \"integer\" }]",
        "[{ name = \"a\", type = \"integer\" }, { name = \"b\", type = \"text\" }]",
    ),
    case(
        "postgres.sequence.app.s",
        "comment",
        "name = \"s\"\nschema = \"app\"\ncomment = \"one\"",
        "name = \"s\"\nschema = \"app\"\ncomment = \"two\"",
    ),
    case(
        "postgres.sequence.app.s",
        "type",
        "comment = \"two\"\n\n[[postgres.function]]",
        "comment = \"two\"\ntype = \"integer\"\n\n[[postgres.function]]",
    ),
    case(
        "postgres.sequence.app.s",
        "increment",
        "type = \"integer\"\n",
        "type = \"integer\"\nincrement = 2\n",
    ),
    case(
        "postgres.sequence.app.s",
        "start",
        "increment = 2\n",
        "increment = 2\nstart = 20\n",
    ),
    case(
        "postgres.sequence.app.s",
        "min_value",
        "start = 20\n",
        "start = 20\nmin_value = -10\n",
    ),
    case(
        "postgres.sequence.app.s",
        "max_value",
        "min_value = -10\n",
        "min_value = -10\nmax_value = 1000\n",
    ),
    case(
        "postgres.sequence.app.s",
        "cache",
        "max_value = 1000\n",
        "max_value = 1000\ncache = 5\n",
    ),
    case(
        "postgres.sequence.app.s",
        "cycle",
        "cache = 5\n",
        "cache = 5\ncycle = true\n",
    ),
    case(
        "postgres.function.app.f()",
        "body",
        "body = \"select 1\"",
        "body = \"select 2\"",
    ),
    case(
        "postgres.function.app.f()",
        "comment",
        "select 2\"\ncomment = \"one\"",
        "select 2\"\ncomment = \"two\"",
    ),
    case(
        "postgres.function.app.f()",
        "volatility",
        "comment = \"two\"\n\n[[postgres.function]]",
        "comment = \"two\"\nvolatility = \"stable\"\n\n[[postgres.function]]",
    ),
    case(
        "postgres.function.app.f()",
        "strict",
        "volatility = \"stable\"\n",
        "volatility = \"stable\"\nstrict = true\n",
    ),
    case(
        "postgres.function.app.f()",
        "parallel",
        "strict = true\n",
        "strict = true\nparallel = \"safe\"\n",
    ),
    case(
        "postgres.function.app.f()",
        "leakproof",
        "parallel = \"safe\"\n",
        "parallel = \"safe\"\nleakproof = true\n",
    ),
    case(
        "postgres.function.app.f()",
        "cost",
        "leakproof = true\n",
        "leakproof = true\ncost = 50.0\n",
    ),
    case(
        "postgres.function.app.f()",
        "rows",
        "cost = 50.0\n",
        "cost = 50.0\nrows = 10.0\n",
    ),
    case(
        "postgres.function.app.f()",
        "set",
        "rows = 10.0\n",
        "rows = 10.0\nset = { search_path = \"app, pg_temp\" }\n",
    ),
    case(
        "postgres.function.app.f()",
        "language",
        "language = \"sql\"\nbody = \"select 2\"",
        "language = \"plpgsql\"\nbody = \"select 2\"",
    ),
    Case {
        allow: &["WIDENS_ACCESS"],
        ..case(
            "postgres.function.app.f()",
            "security_definer",
            "rows = 10.0\n",
            "rows = 10.0\nsecurity_definer = true\n",
        )
    },
    case(
        "postgres.aggregate.app.agg(integer)",
        "comment",
        "state_type = \"integer\"\ncomment = \"one\"",
        "state_type = \"integer\"\ncomment = \"two\"",
    ),
    case(
        "postgres.aggregate.app.agg(integer)",
        "initial_condition",
        "state_type = \"integer\"\ncomment = \"two\"",
        "state_type = \"integer\"\ninitial_condition = \"0\"\ncomment = \"two\"",
    ),
    case(
        "postgres.aggregate.app.agg(integer)",
        "parallel",
        "initial_condition = \"0\"\n",
        "initial_condition = \"0\"\nparallel = \"safe\"\n",
    ),
    case(
        "postgres.aggregate.app.agg(integer)",
        "final_function",
        "initial_condition = \"0\"\nparallel",
        "initial_condition = \"0\"\nfinal_function = \"int4abs\"\nparallel",
    ),
    case(
        "postgres.aggregate.app.agg(integer)",
        "combine_function",
        "final_function = \"int4abs\"\n",
        "final_function = \"int4abs\"\ncombine_function = \"int4pl\"\n",
    ),
    case(
        "postgres.aggregate.app.agg(integer)",
        "state_function",
        "state_function = \"int4pl\"",
        "state_function = \"int4larger\"",
    ),
    case(
        "postgres.aggregate.app.agg(integer)",
        "sort_operator",
        "combine_function = \"int4pl\"\n",
        "combine_function = \"int4pl\"\nsort_operator = \">\"\n",
    ),
    case(
        "postgres.trigger.app.t.trg",
        "comment",
        "function = \"tf\"\ncomment = \"one\"",
        "function = \"tf\"\ncomment = \"two\"",
    ),
    Case {
        allow: &["WIDENS_ACCESS"],
        ..case(
            "postgres.trigger.app.t.trg",
            "firing",
            "function = \"tf\"\ncomment = \"two\"",
            "function = \"tf\"\ncomment = \"two\"\nfiring = \"disabled\"",
        )
    },
    Case {
        allow: &["WIDENS_ACCESS"],
        ..case(
            "postgres.function.app.f()",
            "execute",
            "security_definer = true\n",
            "security_definer = true\nexecute = [\"R\"]\n",
        )
    },
    case(
        "postgres.default_privileges.app.R_owner.tables.R",
        "privileges",
        "grantee = \"R\"\nprivileges = [\"SELECT\"]",
        "grantee = \"R\"\nprivileges = [\"SELECT\", \"INSERT\"]",
    ),
    case(
        "postgres.default_privileges.app.R_owner.tables.R",
        "with_grant_option",
        "grantee = \"R\"\nprivileges = [\"SELECT\", \"INSERT\"]\n",
        "grantee = \"R\"\nprivileges = [\"SELECT\", \"INSERT\"]\nwith_grant_option = true\n",
    ),
    case(
        "postgres.table.app.t",
        "owner",
        "name = \"t\"\nschema = \"app\"\n",
        "name = \"t\"\nschema = \"app\"\nowner = \"R_owner\"\n",
    ),
    case(
        "postgres.view.app.v",
        "owner",
        "name = \"v\"\nschema = \"app\"\n",
        "name = \"v\"\nschema = \"app\"\nowner = \"R_owner\"\n",
    ),
    case(
        "postgres.type.app.level",
        "owner",
        "name = \"level\"\nschema = \"app\"\n",
        "name = \"level\"\nschema = \"app\"\nowner = \"R_owner\"\n",
    ),
    case(
        "postgres.aggregate.app.agg(integer)",
        "owner",
        "name = \"agg\"\nschema = \"app\"\n",
        "name = \"agg\"\nschema = \"app\"\nowner = \"R_owner\"\n",
    ),
    case(
        "postgres.sequence.app.s",
        "owner",
        "name = \"s\"\nschema = \"app\"\n",
        "name = \"s\"\nschema = \"app\"\nowner = \"R_owner\"\n",
    ),
    Case {
        allow: &["WIDENS_ACCESS"],
        ..case(
            "postgres.function.app.f()",
            "owner",
            "name = \"f\"\nschema = \"app\"\n",
            "name = \"f\"\nschema = \"app\"\nowner = \"R_owner\"\n",
        )
    },
];

/// Every PostgreSQL case in turn against one database: each edit plans exactly its one field, applies, and
/// the next plan is empty.
#[tokio::test]
async fn postgres_fields_apply_one_by_one() {
    let db = crate::support::TestDb::new("fields").await;
    let r = format!("f_{}", db.name);
    let env = vec![
        ("FALCONER_POSTGRES_URL".to_string(), db.url.clone()),
        (
            "FIELDS_PASSWORD".to_string(),
            "a-password-for-the-field-test".to_string(),
        ),
    ];
    let w = crate::support::Workdir::new("postgres", &format!("fields-{}", db.name), env);
    w.write("db.toml", &PG_BASE.replace("\"R", &format!("\"{r}")));
    crate::support::code(&w.apply(&[]), 0);
    w.converged();
    for c in PG {
        let with_role = |s: &str| s.replace("\"R", &format!("\"{r}"));
        w.edit("db.toml", &with_role(c.from), &with_role(c.to));
        let address = c.address.replace(".R", &format!(".{r}"));
        println!("case: {} {} ({} → {})", c.address, c.field, c.from, c.to);
        w.step_field(&address, c.field, c.allow);
    }
    db.drop().await;
}

/// The MongoDB manifest the cases edit.
const MONGO_BASE: &str = r#"[tenant]
id = "acme"

[[mongo.database]]
name = "acme"

[[mongo.collection]]
name = "c"
database = "acme"
validator = { n = { "$type" = "int" } }

[[mongo.collection]]
name = "v"
database = "acme"
view_on = "c"
pipeline = [{ "$match" = { n = 1 } }]

[[mongo.index]]
name = "ttl"
database = "acme"
collection = "c"
key = [{ field = "at", order = 1 }]
expire_after_seconds = 60
"#;

const MONGO: &[Case] = &[
    case(
        "mongo.collection.acme.c",
        "validator",
        "\"$type\" = \"int\"",
        "\"$type\" = \"long\"",
    ),
    case(
        "mongo.collection.acme.c",
        "validation_level",
        "\"long\" } }\n",
        "\"long\" } }\nvalidation_level = \"moderate\"\n",
    ),
    case(
        "mongo.collection.acme.c",
        "validation_action",
        "validation_level = \"moderate\"\n",
        "validation_level = \"moderate\"\nvalidation_action = \"warn\"\n",
    ),
    case(
        "mongo.index.acme.c.ttl",
        "expire_after_seconds",
        "expire_after_seconds = 60",
        "expire_after_seconds = 120",
    ),
];

/// Every MongoDB case in turn against one server.
#[tokio::test]
async fn mongo_fields_apply_one_by_one() {
    let server = crate::support::MongoServer::start().await;
    let env = vec![("FALCONER_MONGO_URL".to_string(), server.url.clone())];
    let w = crate::support::Workdir::new("mongo", "fields", env);
    w.write("db.toml", MONGO_BASE);
    crate::support::code(&w.apply(&[]), 0);
    w.converged();
    for c in MONGO {
        println!("case: {} {} ({} → {})", c.address, c.field, c.from, c.to);
        w.edit("db.toml", c.from, c.to);
        w.step_field(c.address, c.field, c.allow);
    }
}

/// The OpenWhisk manifest the cases edit.
const FUNCTIONS_BASE: &str = r#"[tenant]
id = "acme"

[[functions.package]]
name = "p"
parameter = [{ key = "a", value = "1" }]
annotations = { description = "one" }

[[functions.action]]
name = "f"
package = "p"
kind = "nodejs:20"
code = "function main() { return {}; }"
limits = { timeout = 1000 }
parameter = [{ key = "b", value = "1" }]
annotations = { tag = "one" }

[[functions.action]]
name = "g"
package = "p"
kind = "nodejs:20"
code = "function main() { return { g: 1 }; }"
require_whisk_auth = false

[[functions.action]]
name = "box"
package = "p"
kind = "blackbox"
image = "acme/box:1"

[[functions.action]]
name = "zip"
package = "p"
kind = "nodejs:20"
code = { base64 = "UEsFBgAAAAAAAAAAAAAAAAAAAAAAAA==" }
require_whisk_auth_token = "web-token-one"

[[functions.action]]
name = "seq"
package = "p"
kind = "sequence"
components = ["p/f"]

[[functions.trigger]]
name = "t"
parameter = [{ key = "c", value = "1" }]
annotations = { note = "one" }

[[functions.trigger]]
name = "t2"

[[functions.rule]]
name = "r"
trigger = "t"
action = "p/f"
status = "active"
"#;

const FUNCTIONS: &[Case] = &[
    case(
        "functions.package.p",
        "parameter",
        "key = \"a\", value = \"1\"",
        "key = \"a\", value = \"2\"",
    ),
    case(
        "functions.package.p",
        "annotations",
        "description = \"one\" }",
        "description = \"two\" }",
    ),
    case(
        "functions.package.p",
        "publish",
        "description = \"two\" }",
        "description = \"two\" }\npublish = true",
    ),
    case(
        "functions.action.p/f",
        "code",
        "return {}; }\"\nlimits",
        "return { f: 1 }; }\"\nlimits",
    ),
    case(
        "functions.action.p/f",
        "kind",
        "kind = \"nodejs:20\"\ncode = \"function main() { return { f",
        "kind = \"nodejs:18\"\ncode = \"function main() { return { f",
    ),
    case(
        "functions.action.p/f",
        "main",
        "limits = { timeout = 1000 }",
        "main = \"run\"\nlimits = { timeout = 1000 }",
    ),
    case(
        "functions.action.p/f",
        "limits",
        "timeout = 1000",
        "timeout = 2000",
    ),
    case(
        "functions.action.p/f",
        "parameter",
        "key = \"b\", value = \"1\"",
        "key = \"b\", value = \"2\"",
    ),
    case(
        "functions.action.p/f",
        "annotations",
        "tag = \"one\"",
        "tag = \"two\"",
    ),
    case(
        "functions.action.p/g",
        "require_whisk_auth",
        "require_whisk_auth = false",
        "require_whisk_auth = true",
    ),
    case(
        "functions.action.p/zip",
        "require_whisk_auth_token",
        "web-token-one",
        "web-token-two",
    ),
    case(
        "functions.action.p/box",
        "image",
        "acme/box:1",
        "acme/box:2",
    ),
    case(
        "functions.action.p/seq",
        "components",
        "components = [\"p/f\"]",
        "components = [\"p/f\", \"p/g\"]",
    ),
    case(
        "functions.trigger.t",
        "parameter",
        "key = \"c\", value = \"1\"",
        "key = \"c\", value = \"2\"",
    ),
    case(
        "functions.trigger.t",
        "annotations",
        "note = \"one\"",
        "note = \"two\"",
    ),
    case(
        "functions.rule.r",
        "status",
        "status = \"active\"",
        "status = \"inactive\"",
    ),
    case(
        "functions.rule.r",
        "action",
        "action = \"p/f\"",
        "action = \"p/g\"",
    ),
    case(
        "functions.rule.r",
        "trigger",
        "trigger = \"t\"\naction",
        "trigger = \"t2\"\naction",
    ),
];

/// Every OpenWhisk case in turn against the test double.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn functions_fields_apply_one_by_one() {
    let ow = crate::openwhisk_double::OpenWhiskDouble::start(0, Default::default())
        .await
        .expect("the double starts");
    let w = crate::support::Workdir::new("functions", "fields", ow.env());
    w.write("fns.toml", FUNCTIONS_BASE);
    crate::support::code(&w.apply(&[]), 0);
    w.converged();
    for c in FUNCTIONS {
        println!("case: {} {} ({} → {})", c.address, c.field, c.from, c.to);
        w.edit("fns.toml", c.from, c.to);
        w.step_field(c.address, c.field, c.allow);
    }
}

/// The Keycloak manifest the cases edit.
const IAM_BASE: &str = r#"[tenant]
id = "acme"

[[iam.realm]]
name = "acme"
display_name = "one"
smtp = { host = "smtp.one.example", from = "a@one.example" }
attributes = { realm_k = "one" }

[[iam.client_scope]]
name = "s"
description = "one"
protocol = "openid-connect"
attributes = { scope_k = "one" }

[[iam.client_scope.protocol_mapper]]
name = "m"
protocol_mapper = "oidc-hardcoded-claim-mapper"
config = { "claim.name" = "x", "claim.value" = "scope-one" }

[[iam.role]]
name = "r"
description = "one"
attributes = { role_k = ["one"] }

[[iam.role]]
name = "r2"

[[iam.client]]
client_id = "b"
public_client = false

[[iam.client]]
client_id = "c"
name = "one"
description = "one"
public_client = false
secret = { env = "FIELDS_SECRET" }
root_url = "https://one.example"
base_url = "/one"
admin_url = "https://one.example/admin"
redirect_uris = ["https://one.example/cb"]
web_origins = ["https://one.example"]
attributes = { client_k = "one" }

[[iam.client.role]]
name = "cr"

[[iam.client.protocol_mapper]]
name = "m"
protocol_mapper = "oidc-hardcoded-claim-mapper"
config = { "claim.name" = "x", "claim.value" = "client-one" }

[[iam.identity_provider]]
alias = "idp"
provider_id = "oidc"
display_name = "one"
client_secret = { env = "FIELDS_IDP_SECRET" }
config = { clientId = "one", authorizationUrl = "https://idp.example/auth", tokenUrl = "https://idp.example/token" }

[[iam.identity_provider.mapper]]
name = "m"
identity_provider_mapper = "hardcoded-role-idp-mapper"
config = { role = "r" }

[[iam.group]]
name = "g"
attributes = { group_k = ["one"] }

[[iam.authentication_flow]]
alias = "f"
description = "one"

[[iam.authentication_flow.execution]]
authenticator = "auth-cookie"
requirement = "ALTERNATIVE"

[[iam.authentication_flow.execution]]
flow = "f forms"
requirement = "ALTERNATIVE"

[[iam.authentication_flow.execution.execution]]
authenticator = "auth-username-password-form"
requirement = "REQUIRED"

[[iam.authentication_flow]]
alias = "cf"
provider_id = "client-flow"

[[iam.authentication_flow.execution]]
authenticator = "client-secret"
requirement = "ALTERNATIVE"

[[iam.required_action]]
alias = "TERMS_AND_CONDITIONS"
name = "Terms and Conditions"
enabled = false
priority = 20
"#;

/// The Keycloak cases: (address, field, from, to). A field the base leaves to the server is added right
/// under its object's identity, with a value other than the server's default.
fn iam_cases() -> Vec<(String, String, String, String)> {
    let mut out = Vec::new();
    let mut add = |address: &str, anchor: &str, field: &str, value: &str| {
        out.push((
            address.to_string(),
            field.to_string(),
            anchor.to_string(),
            format!("{anchor}{field} = {value}\n"),
        ));
    };
    let realm = "[[iam.realm]]\nname = \"acme\"\n";
    for (field, value) in [
        ("ssl_required", "\"all\""),
        ("registration_allowed", "true"),
        ("registration_email_as_username", "true"),
        ("remember_me", "true"),
        ("verify_email", "true"),
        ("login_with_email_allowed", "false"),
        ("duplicate_emails_allowed", "true"),
        ("reset_password_allowed", "true"),
        ("edit_username_allowed", "true"),
        ("brute_force_protected", "true"),
        ("login_theme", "\"keycloak\""),
        ("account_theme", "\"keycloak.v3\""),
        ("admin_theme", "\"keycloak.v2\""),
        ("email_theme", "\"keycloak\""),
        ("internationalization_enabled", "true"),
        ("supported_locales", "[\"en\", \"de\"]"),
        ("default_locale", "\"en\""),
        ("access_token_lifespan", "600"),
        ("access_code_lifespan", "120"),
        ("sso_session_idle_timeout", "3600"),
        ("sso_session_max_lifespan", "72000"),
        ("offline_session_idle_timeout", "86400"),
        ("password_policy", "\"length(10)\""),
        ("events_enabled", "true"),
        ("events_expiration", "604800"),
        ("events_listeners", "[\"jboss-logging\", \"email\"]"),
        ("enabled_event_types", "[\"LOGIN\", \"LOGIN_ERROR\"]"),
        ("admin_events_enabled", "true"),
        ("admin_events_details_enabled", "true"),
        // A realm created without `enabled` is disabled (Keycloak's default).
        ("enabled", "true"),
    ] {
        add("iam.realm.acme", realm, field, value);
    }
    let scope = "[[iam.client_scope]]\nname = \"s\"\n";
    let role = "[[iam.role]]\nname = \"r\"\n";
    add("iam.role.r", role, "composites", "{ realm = [\"r2\"] }");
    let client = "[[iam.client]]\nclient_id = \"c\"\n";
    for (field, value) in [
        ("standard_flow_enabled", "false"),
        ("implicit_flow_enabled", "true"),
        ("direct_access_grants_enabled", "true"),
        ("consent_required", "true"),
        ("full_scope_allowed", "false"),
        ("frontchannel_logout", "false"),
        ("default_client_scopes", "[\"s\"]"),
        ("optional_client_scopes", "[\"offline_access\"]"),
        ("service_accounts_enabled", "true"),
        ("service_account_roles", "{ realm = [\"r2\"] }"),
        ("enabled", "false"),
    ] {
        add("iam.client.c", client, field, value);
    }
    let idp = "[[iam.identity_provider]]\nalias = \"idp\"\nprovider_id = \"oidc\"\n";
    for (field, value) in [
        // Created without `enabled`, an identity provider is disabled (the double's default).
        ("enabled", "true"),
        ("trust_email", "true"),
        ("store_token", "true"),
        ("link_only", "true"),
        ("first_broker_login_flow_alias", "\"browser\""),
        ("post_broker_login_flow_alias", "\"browser\""),
    ] {
        add("iam.identity_provider.idp", idp, field, value);
    }
    // The realm's bindings move from Keycloak's flows to the tenant's own.
    for field in [
        "browser_flow",
        "direct_grant_flow",
        "registration_flow",
        "reset_credentials_flow",
        "docker_authentication_flow",
        "first_broker_login_flow",
    ] {
        add("iam.realm.acme", realm, field, "\"f\"");
    }
    add(
        "iam.realm.acme",
        realm,
        "client_authentication_flow",
        "\"cf\"",
    );
    add(
        "iam.client.c",
        client,
        "authentication_flow_overrides",
        "{ browser = \"f\" }",
    );
    let group = "[[iam.group]]\nname = \"g\"\n";
    add("iam.group.g", group, "realm_roles", "[\"r\"]");
    add("iam.group.g", group, "client_roles", "{ c = [\"cr\"] }");
    let mut edit = |address: &str, field: &str, from: &str, to: &str| {
        out.push((address.into(), field.into(), from.into(), to.into()));
    };
    edit(
        "iam.realm.acme",
        "display_name",
        "display_name = \"one\"",
        "display_name = \"two\"",
    );
    edit(
        "iam.realm.acme",
        "smtp",
        "smtp.one.example",
        "smtp.two.example",
    );
    edit(
        "iam.realm.acme",
        "attributes",
        "realm_k = \"one\"",
        "realm_k = \"two\"",
    );
    edit(
        "iam.client_scope.s",
        "description",
        &format!("{scope}description = \"one\""),
        &format!("{scope}description = \"two\""),
    );
    edit(
        "iam.client_scope.s",
        "attributes",
        "scope_k = \"one\"",
        "scope_k = \"two\"",
    );
    edit(
        "iam.client_scope.s",
        "protocol_mapper",
        "scope-one",
        "scope-two",
    );
    edit(
        "iam.role.r",
        "description",
        &format!("{role}composites = {{ realm = [\"r2\"] }}\ndescription = \"one\""),
        &format!("{role}composites = {{ realm = [\"r2\"] }}\ndescription = \"two\""),
    );
    edit(
        "iam.role.r",
        "attributes",
        "role_k = [\"one\"]",
        "role_k = [\"two\"]",
    );
    edit(
        "iam.client.c",
        "name",
        "name = \"one\"\ndescription = \"one\"",
        "name = \"two\"\ndescription = \"one\"",
    );
    edit(
        "iam.client.c",
        "description",
        "name = \"two\"\ndescription = \"one\"",
        "name = \"two\"\ndescription = \"two\"",
    );
    edit(
        "iam.client.c",
        "root_url",
        "root_url = \"https://one.example\"",
        "root_url = \"https://two.example\"",
    );
    edit(
        "iam.client.c",
        "base_url",
        "base_url = \"/one\"",
        "base_url = \"/two\"",
    );
    edit(
        "iam.client.c",
        "admin_url",
        "https://one.example/admin",
        "https://two.example/admin",
    );
    edit(
        "iam.client.c",
        "redirect_uris",
        "[\"https://one.example/cb\"]",
        "[\"https://one.example/cb\", \"https://two.example/cb\"]",
    );
    edit(
        "iam.client.c",
        "web_origins",
        "web_origins = [\"https://one.example\"]",
        "web_origins = [\"https://two.example\"]",
    );
    edit(
        "iam.client.c",
        "attributes",
        "client_k = \"one\"",
        "client_k = \"two\"",
    );
    edit(
        "iam.client.c",
        "protocol_mapper",
        "client-one",
        "client-two",
    );
    edit(
        "iam.client.c",
        "role",
        "[[iam.client.role]]\nname = \"cr\"\n",
        "[[iam.client.role]]\nname = \"cr\"\n\n[[iam.client.role]]\nname = \"cr2\"\n",
    );
    edit(
        "iam.client.c",
        "secret",
        "env = \"FIELDS_SECRET\"",
        "env = \"FIELDS_SECRET_2\"",
    );
    // Client b has no secret: it can turn public and back, then bearer-only (Keycloak keeps no secret for
    // either).
    let b = "client_id = \"b\"\npublic_client = ";
    edit(
        "iam.client.b",
        "public_client",
        &format!("{b}false"),
        &format!("{b}true"),
    );
    edit(
        "iam.client.b",
        "public_client",
        &format!("{b}true"),
        &format!("{b}false"),
    );
    edit(
        "iam.client.b",
        "bearer_only",
        &format!("{b}false\n"),
        &format!("{b}false\nbearer_only = true\n"),
    );
    edit(
        "iam.identity_provider.idp",
        "display_name",
        "display_name = \"one\"\nclient_secret",
        "display_name = \"two\"\nclient_secret",
    );
    edit(
        "iam.identity_provider.idp",
        "client_secret",
        "env = \"FIELDS_IDP_SECRET\"",
        "env = \"FIELDS_IDP_SECRET_2\"",
    );
    edit(
        "iam.identity_provider.idp",
        "config",
        "clientId = \"one\"",
        "clientId = \"two\"",
    );
    edit(
        "iam.identity_provider.idp",
        "mapper",
        "config = { role = \"r\" }",
        "config = { role = \"r2\" }",
    );
    edit(
        "iam.group.g",
        "attributes",
        "group_k = [\"one\"]",
        "group_k = [\"two\"]",
    );
    edit(
        "iam.authentication_flow.f",
        "description",
        "alias = \"f\"\ndescription = \"one\"",
        "alias = \"f\"\ndescription = \"two\"",
    );
    edit(
        "iam.authentication_flow.f",
        "execution",
        "authenticator = \"auth-cookie\"\nrequirement = \"ALTERNATIVE\"",
        "authenticator = \"auth-cookie\"\nrequirement = \"DISABLED\"",
    );
    let action = "alias = \"TERMS_AND_CONDITIONS\"\nname = \"Terms and Conditions\"\n";
    edit(
        "iam.required_action.TERMS_AND_CONDITIONS",
        "enabled",
        &format!("{action}enabled = false"),
        &format!("{action}enabled = true"),
    );
    edit(
        "iam.required_action.TERMS_AND_CONDITIONS",
        "name",
        "name = \"Terms and Conditions\"",
        "name = \"Terms\"",
    );
    edit(
        "iam.required_action.TERMS_AND_CONDITIONS",
        "priority",
        "priority = 20",
        "priority = 25",
    );
    edit(
        "iam.required_action.TERMS_AND_CONDITIONS",
        "default_action",
        "priority = 25",
        "priority = 25\ndefault_action = true",
    );
    edit(
        "iam.required_action.TERMS_AND_CONDITIONS",
        "config",
        "default_action = true",
        "default_action = true\nconfig = { max_auth_age = \"300\" }",
    );
    // Last: each is written right after its kind's name, where the cases above expect their own fields.
    for (address, anchor) in [
        ("iam.role.r", "[[iam.role]]\nname = \"r\"\n"),
        ("iam.group.g", "[[iam.group]]\nname = \"g\"\n"),
    ] {
        edit(
            address,
            "default",
            anchor,
            &format!("{anchor}default = true\n"),
        );
    }
    out
}

/// Every Keycloak case in turn against the test double.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn iam_fields_apply_one_by_one() {
    let kc = crate::keycloak_double::KeycloakDouble::start(0, Default::default())
        .await
        .expect("the double starts");
    let mut env = kc.env();
    for (k, v) in [
        ("FIELDS_SECRET", "client-secret-one"),
        ("FIELDS_SECRET_2", "client-secret-two"),
        ("FIELDS_IDP_SECRET", "idp-secret-one"),
        ("FIELDS_IDP_SECRET_2", "idp-secret-two"),
    ] {
        env.push((k.to_string(), v.to_string()));
    }
    let w = crate::support::Workdir::new("iam", "fields", env);
    w.write("iam.toml", IAM_BASE);
    crate::support::code(&w.apply(&[]), 0);
    w.converged();
    for (address, field, from, to) in iam_cases() {
        println!("case: {address} {field} ({from} → {to})");
        w.edit("iam.toml", &from, &to);
        w.step_field(&address, &field, &["WIDENS_ACCESS", "CHANGES_SIGN_IN"]);
    }
}
