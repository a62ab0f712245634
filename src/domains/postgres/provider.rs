//! The PostgreSQL side of a live plan and apply: desired resources normalized by the server, live ones
//! inspected, and the plan's changes turned into statements in plan order.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use sqlx::PgPool;

use super::ddl::Statement;
use super::{ddl, inspect, normalize, password, sql};
use crate::domains::Spec;
use crate::domains::item::{Action, Change, Item};
use crate::domains::provider::{
    self, DataValue, DesiredSpecs, NotCarried, Provider, ProviderError, System, UrlTable,
};
use crate::setup::{Env, SetupError};
use crate::model::{Address, Domain, Tenant};
use crate::secrets::{self, FingerprintKey};
use crate::util::Within;

/// The desired PostgreSQL resources (each with the directory its secret files are relative to), with their
/// local forms settled (serial columns, constraint names) and sealed: what [`settle`] starts from.
pub fn local_items(
    specs: &[(Spec, std::path::PathBuf)],
    key: &FingerprintKey,
    warnings: &mut Vec<String>,
) -> Vec<Item> {
    let (mut pg, bases): (Vec<Spec>, Vec<&Path>) = specs
        .iter()
        .filter(|(s, _)| s.meta().domain == Domain::Postgres)
        .map(|(s, b)| (s.clone(), b.as_path()))
        .unzip();
    normalize::local_forms(&mut pg);
    pg.into_iter()
        .zip(bases)
        .map(|(s, b)| Item::new(s, b, key, warnings))
        .collect()
}

/// The desired items normalized by the server, except those the plan already finds unchanged against
/// their live selves (`unchanged`, in the order of `desired`: every field the manifest sets is the text
/// the server printed, and normalizing that text cannot find a difference to show). `specs` gives each
/// resource's directory for secret files, in the order of `desired`.
pub async fn settle(
    pool: &PgPool,
    specs: &[(Spec, std::path::PathBuf)],
    desired: Vec<Item>,
    unchanged: &[bool],
    key: &FingerprintKey,
) -> Result<Vec<Item>, sqlx::Error> {
    let wanted: Vec<bool> = (0..desired.len())
        .map(|i| !unchanged.get(i).copied().unwrap_or(false))
        .collect();
    if !wanted.iter().any(|w| *w) {
        return Ok(desired);
    }
    let mut pg: Vec<Spec> = desired.iter().map(|i| i.spec.clone()).collect();
    normalize::normalize_wanted(pool, &mut pg, &wanted).await?;
    let bases = specs
        .iter()
        .filter(|(s, _)| s.meta().domain == Domain::Postgres)
        .map(|(_, b)| b.as_path());
    // The normalized kinds hold no secrets: sealing them again has nothing to warn about.
    let mut quiet = Vec::new();
    Ok(desired
        .into_iter()
        .zip(pg)
        .zip(wanted)
        .zip(bases)
        .map(|(((item, spec), wanted), base)| match wanted && spec != item.spec {
            true => Item::new(spec, base, key, &mut quiet),
            false => item,
        })
        .collect())
}

/// The live PostgreSQL resources of the tenant, sealed; `roles` are read even when nothing in the
/// tenant's schemas refers to them (roles are cluster-wide).
pub async fn live_items(
    pool: &PgPool,
    tenant: &Tenant,
    roles: &[String],
    key: &FingerprintKey,
) -> Result<Vec<Item>, sqlx::Error> {
    let inspected = inspect::inspect_with_roles(pool, tenant, roles).await?;
    Ok(crate::domains::provider::sealed(inspected.resources, key))
}

/// The statements that carry out PostgreSQL changes (in plan order). A created role, or one whose
/// password changed, gets its password as a SCRAM verifier; `bases` gives the directory a resource's secret
/// files are relative to (by address). An update with a field no statement changes is refused
/// ([`ProviderError::CannotApply`]) before anything runs.
pub fn statements(
    changes: &[Change],
    desired: &[Item],
    live: &[Item],
    bases: &HashMap<Address, PathBuf>,
) -> Result<Vec<Statement>, ProviderError> {
    let d: HashMap<&Address, &Spec> = desired.iter().map(|i| (&i.address, &i.spec)).collect();
    let l: HashMap<&Address, &Spec> = live.iter().map(|i| (&i.address, &i.spec)).collect();
    let mut out = Vec::new();
    // Default privileges given or changed come last: they give privileges on what is created after them,
    // and what this run creates has its own grants (as the schema it was read from had them). Those taken
    // away keep their place, before the roles they name are dropped.
    let (defaults, rest): (Vec<&Change>, Vec<&Change>) = changes
        .iter()
        .filter(|c| c.kind.domain == Domain::Postgres)
        .partition(|c| {
            c.kind.name == super::default_privileges::DEFAULT_PRIVILEGES.kind && c.action != Action::Delete
        });
    for c in rest.into_iter().chain(defaults) {
        let (desired, live) = (d.get(&c.address).copied(), l.get(&c.address).copied());
        let base = bases
            .get(&c.address)
            .map(PathBuf::as_path)
            .unwrap_or(Path::new(""));
        if let (Some(ds), Some(ls)) = (desired, live) {
            provider::refuse_idle(Domain::Postgres, c, ds, ls, |one, alone| {
                change_statements(one, Some(alone), Some(ls), base).map(|s| s.len())
            })?;
        }
        out.extend(change_statements(c, desired, live, base).map_err(|e| {
            ProviderError::Change {
                domain: Domain::Postgres,
                message: e.to_string(),
            }
        })?);
    }
    Ok(out)
}

/// The statements of one change.
fn change_statements(
    c: &Change,
    desired: Option<&Spec>,
    live: Option<&Spec>,
    base: &Path,
) -> Result<Vec<Statement>, ddl::DdlError> {
    let mut out: Vec<Statement> = Vec::new();
    if let (Action::Update, Some(Spec::PgType(d)), Some(Spec::PgType(l))) = (c.action, desired, live) {
        out.extend(super::types::add_values(d, l).into_iter().map(Statement::first));
    }
    out.extend(ddl::statements(c.action, desired, live)?.into_iter().map(Statement::plain));
    if c.action != Action::Delete {
        out.extend(ddl::owner_change(c.action, desired, live).map(Statement::plain));
    }
    let password_changed = match c.action {
        Action::Create | Action::Replace => true,
        Action::Update => c.fields.iter().any(|f| f.path == "password"),
        Action::Delete => false,
    };
    if password_changed
        && let Some(Spec::PgRole(r)) = desired
        && r.password.is_none()
        && c.action == Action::Update
    {
        // The manifest no longer sets one: the role has none.
        out.push(Statement::plain(format!(
            "alter role {} password null",
            sql::quote_ident(&r.name)
        )));
    }
    if password_changed
        && let Some(Spec::PgRole(r)) = desired
        && let Some(secret) = &r.password
        && let Some(p) = secrets::resolve(secret, base).map_err(|why| {
            ddl::DdlError::Unsupported(format!(
                "{}: the password ({}) cannot be read: {}",
                c.address,
                secret.describe(),
                why.0
            ))
        })?
    {
        let role = sql::quote_ident(&r.name);
        let verifier = password::verifier(&p).map_err(|e| {
            ddl::DdlError::Unsupported(format!(
                "{}: no random salt for the password's verifier: {e}",
                c.address
            ))
        })?;
        out.push(Statement::secret(
            format!(
                "alter role {role} password {}",
                sql::quote_literal(&verifier)
            ),
            format!("alter role {role} password <redacted>"),
        ));
    }
    Ok(out)
}

/// PostgreSQL as a [`Provider`]: one database, the tenant's schemas in it.
pub struct Postgres {
    pub pool: PgPool,
    /// Set by [`Provider::share_reads`]: the fleet's tenants, whose catalog is read once for all.
    fleet: std::sync::OnceLock<inspect::Fleet>,
    /// Set with `fleet`: the fleet's inventory, read once for all its tenants.
    fleet_inventory: std::sync::OnceLock<super::inventory::Shared>,
}

impl Postgres {
    pub fn new(pool: PgPool) -> Postgres {
        Postgres {
            pool,
            fleet: std::sync::OnceLock::new(),
            fleet_inventory: std::sync::OnceLock::new(),
        }
    }
}

fn backend(e: &sqlx::Error) -> ProviderError {
    ProviderError::Backend {
        domain: Domain::Postgres,
        message: super::connection_error(e),
    }
}

/// The roles the PostgreSQL objects to create or change name (their soft references to roles) that the
/// desired state does not declare: each object's address and the role.
fn role_references(tenant: &Tenant, desired: &[Item], live: &[Item]) -> Vec<(Address, String)> {
    let live: HashMap<&Address, &Item> = live.iter().map(|i| (&i.address, i)).collect();
    let declared: HashSet<&Address> = desired.iter().map(|i| &i.address).collect();
    let changed = desired.iter().filter(|i| {
        i.address.domain == Domain::Postgres
            && live.get(&i.address).is_none_or(|l| l.value != i.value)
    });
    let mut out = Vec::new();
    for item in changed {
        for r in item.spec.references(tenant) {
            for t in r.targets.iter().filter(|t| t.domain == Domain::Postgres && t.kind == "role") {
                let role = t.segments.first().cloned().unwrap_or_default();
                if !declared.contains(t) && !role.eq_ignore_ascii_case("public") {
                    out.push((item.address.clone(), role));
                }
            }
        }
    }
    out
}

/// Where PostgreSQL is without a profile.
const URL_VAR: (&str, &str) = (
    "FALCONER_POSTGRES_URL",
    "postgres://user@host:port/database",
);

impl System for Postgres {
    type Table = UrlTable;
    fn in_env(env: &Env) -> bool {
        env.has(URL_VAR.0)
    }
    async fn connect(table: Option<&UrlTable>, dir: &Path, env: &Env) -> Result<Self, SetupError> {
        let c = provider::connection(table, dir, env, Domain::Postgres, URL_VAR)?;
        let pool = super::connect(&c.url, c.password.as_deref(), &c.tls, 4).await?;
        Ok(Postgres::new(pool))
    }
}

impl Provider for Postgres {
    fn domain(&self) -> Domain {
        Domain::Postgres
    }

    async fn checkup(&self) -> Result<provider::Checkup, ProviderError> {
        checkup(&self.pool)
            .await
            .map_err(|e| ProviderError::backend(Domain::Postgres, e))
    }

    async fn desired(
        &self,
        specs: &DesiredSpecs,
        key: &FingerprintKey,
        warnings: &mut Vec<String>,
    ) -> Result<Vec<Item>, ProviderError> {
        Ok(local_items(specs, key, warnings))
    }

    async fn settle(
        &self,
        specs: &DesiredSpecs,
        desired: Vec<Item>,
        unchanged: &[bool],
        key: &FingerprintKey,
    ) -> Result<Vec<Item>, ProviderError> {
        settle(&self.pool, specs, desired, unchanged, key)
            .await
            .map_err(|e| backend(&e))
    }

    async fn data(
        &self,
        tenant: &Tenant,
        _carried: &[&Spec],
    ) -> Result<Vec<DataValue>, ProviderError> {
        let schemas = tenant.names(&super::SCHEMA_SCOPE);
        super::data::values(&self.pool, &schemas).await.map_err(|e| backend(&e))
    }

    async fn set_data(&self, values: &[DataValue]) -> Result<Vec<String>, ProviderError> {
        super::data::set(&self.pool, values).await.map_err(|e| backend(&e))
    }

    /// An object created or changed that names a role (its owner, a grantee, a member) which is neither
    /// declared nor in the cluster: PostgreSQL refuses the statement.
    async fn refusals(
        &self,
        tenant: &Tenant,
        desired: &[Item],
        live: &[Item],
    ) -> Result<Vec<(Address, String)>, ProviderError> {
        let wanted = role_references(tenant, desired, live);
        if wanted.is_empty() {
            return Ok(Vec::new());
        }
        let mut names: Vec<&str> = wanted.iter().map(|(_, r)| r.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        let found: Vec<String> =
            sqlx::query_scalar("select rolname::text from pg_roles where rolname = any($1)")
                .bind(&names)
                .fetch_all(&self.pool)
                .within("PostgreSQL")
                .await
                .map_err(|e| backend(&e))?;
        Ok(wanted
            .into_iter()
            .filter(|(_, role)| !found.contains(role))
            .map(|(a, role)| {
                let why = format!(
                    "it names role `{role}`, which is neither declared nor in the cluster (PostgreSQL refuses it): restore or create the role first"
                );
                (a, why)
            })
            .collect())
    }

    async fn not_carried(
        &self,
        tenant: &Tenant,
        carried: &[&Spec],
    ) -> Result<Option<Vec<NotCarried>>, ProviderError> {
        let schemas = tenant.names(&super::SCHEMA_SCOPE);
        super::inventory::not_carried(&self.pool, &schemas, carried, self.fleet_inventory.get())
            .await
            .map(Some)
            .map_err(|e| backend(&e))
    }

    async fn live(
        &self,
        tenant: &Tenant,
        also: &[Address],
        key: &FingerprintKey,
    ) -> Result<Vec<Item>, ProviderError> {
        // Roles are cluster-wide: those named are read even when nothing in the schemas refers to them.
        let roles: Vec<String> = also
            .iter()
            .filter(|a| a.domain == Domain::Postgres && a.kind == "role")
            .filter_map(|a| a.segments.first().cloned())
            .collect();
        // A read is safe to repeat: a lost connection or a server that says "not now" is read again.
        let again = |e: &std::sync::Arc<sqlx::Error>| crate::util::pg_transient(e);
        if let Some(fleet) = self.fleet.get().filter(|f| f.covers(tenant)) {
            let read = || inspect::inspect_in_fleet(&self.pool, fleet, tenant, &roles);
            let inspected = crate::util::retry_read("PostgreSQL", read, again, || None)
                .await
                .map_err(|e| backend(&e))?;
            return Ok(provider::sealed(inspected.resources, key));
        }
        let read = || async {
            let found = live_items(&self.pool, tenant, &roles, key).await;
            found.map_err(std::sync::Arc::new)
        };
        crate::util::retry_read("PostgreSQL", read, again, || None)
            .await
            .map_err(|e| backend(&e))
    }

    fn share_reads(&self, tenants: &[Tenant]) {
        let fleet = inspect::Fleet::new(tenants);
        let shared = super::inventory::Shared::new(fleet.schemas().to_vec());
        let _ = self.fleet_inventory.set(shared);
        let _ = self.fleet.set(fleet);
    }

    async fn apply(
        &self,
        changes: &[Change],
        desired: &[Item],
        live: &[Item],
        bases: &HashMap<Address, PathBuf>,
    ) -> Result<usize, ProviderError> {
        let statements = statements(changes, desired, live, bases)?;
        ddl::execute(&self.pool, &statements)
            .await
            .map_err(|(i, e)| ProviderError::Refused {
                domain: Domain::Postgres,
                message: super::connection_error(&e),
                statement: statements
                    .get(i)
                    .map(|s| first_line(s.shown()))
                    .unwrap_or_default(),
            })?;
        Ok(changes
            .iter()
            .filter(|c| c.kind.domain == Domain::Postgres)
            .count())
    }
}

/// The first line of a statement, at most 200 characters.
fn first_line(s: &str) -> String {
    let line = s.lines().next().unwrap_or_default();
    match line.char_indices().nth(200) {
        Some((i, _)) => format!("{}…", &line[..i]),
        None => line.to_string(),
    }
}

/// The server's version, the connection's TLS, the role falconer signed in as and what of
/// docs/postgres.md's least privilege it lacks (CREATEROLE, CREATE on the database).
async fn checkup(pool: &PgPool) -> Result<provider::Checkup, sqlx::Error> {
    type Row = (String, String, String, Option<String>, bool, bool, bool);
    let (version, who, db, tls, superuser, createrole, create): Row = sqlx::query_as(
        "select current_setting('server_version'), current_user::text, current_database()::text, \
         (select version from pg_stat_ssl where pid = pg_backend_pid() and ssl), \
         r.rolsuper, r.rolcreaterole, has_database_privilege(current_database(), 'CREATE') \
         from pg_roles r where r.rolname = current_user",
    )
    .fetch_one(pool)
    .await?;
    let mut c = provider::Checkup::default();
    c.fact("version", version)
        .fact("tls", tls.map_or_else(|| "none (plain text)".into(), |v| format!("on ({v})")))
        .fact("signed in as", format!("{who} (database {db})"));
    if superuser {
        c.fact("privileges", "superuser (more than falconer needs: see docs/postgres.md)");
    }
    c.need(superuser || createrole, || {
        format!("role {who} cannot create the tenants' roles: ALTER ROLE {who} CREATEROLE")
    })
    .need(superuser || create, || {
        format!("role {who} cannot create the tenants' schemas: GRANT CREATE ON DATABASE {db} TO {who}")
    });
    Ok(c)
}
