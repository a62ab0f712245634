//! MongoDB as a [`Provider`]: the connection, desired and live resources, and apply.

use std::future::IntoFuture;

use crate::util::Within;
use mongodb::error::ErrorKind;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

use mongodb::Client;
use mongodb::bson::{Document, doc};
use mongodb::options::ClientOptions;

use super::{apply, inspect};
use crate::domains::Spec;
use crate::domains::item::{Action, Change, Item};
use crate::domains::provider::{self, DesiredSpecs, Provider, ProviderError, System, UrlTable};
use crate::setup::{Env, SetupError};
use crate::model::{Address, Domain, Tenant};
use crate::secrets::FingerprintKey;

/// A MongoDB deployment reached through one client (it pools its own connections).
pub struct Mongo {
    pub client: Client,
    /// The server's database list (`listDatabases`), shared by a fleet's tenants.
    databases: provider::SharedListing<Vec<String>>,
    /// Whether the client speaks TLS (for `falconer doctor`).
    tls: bool,
}

impl Mongo {
    pub fn new(client: Client) -> Mongo {
        Mongo {
            client,
            databases: Default::default(),
            tls: false,
        }
    }

    /// The server's databases: one `listDatabases`, or (reads shared by a fleet) the run's one.
    async fn database_names(&self) -> Result<Vec<String>, mongodb::error::Error> {
        let list = || self.client.list_database_names().into_future().within("MongoDB");
        self.databases.get(list).await
    }
}

/// Connects to MongoDB and checks that it answers. `password`, when given, completes the URL's user.
/// Errors never show the URL (it may hold a password), only its hosts.
pub async fn connect(
    url: &str,
    password: Option<&str>,
    tls: &crate::tls::Tls,
) -> Result<(Client, bool), SetupError> {
    let mut opts = ClientOptions::parse(url).await.map_err(|e| {
        let why = format!(
            "is not valid ({}); it looks like mongodb://user@host:port/?options",
            apply::error_message(&e).replace(url, "<url>")
        );
        SetupError::setting("the MongoDB URL", why)
    })?;
    let hosts = opts
        .hosts
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",");
    if let Some(p) = password {
        let mut credential = opts.credential.clone().unwrap_or_default();
        credential.password = Some(p.to_string());
        opts.credential = Some(credential);
    }
    opts.app_name = Some("falconer".into());
    let combined = super::tls::apply(&mut opts, tls)?;
    let limit = crate::util::timeouts().connect;
    if opts.connect_timeout.is_none() {
        opts.connect_timeout = Some(limit);
    }
    if opts.server_selection_timeout.is_none() {
        opts.server_selection_timeout = Some(limit);
    }
    let failed = |e: mongodb::error::Error| {
        let words = format!(
            "cannot connect to MongoDB at {hosts}: {}",
            apply::error_message(&e)
        );
        match *e.kind {
            ErrorKind::Authentication { .. } => SetupError::SignIn(words),
            _ => SetupError::Unreachable(words),
        }
    };
    let first = opts.hosts.first().and_then(|h| match h {
        mongodb::options::ServerAddress::Tcp { host, port } => {
            Some((host.clone(), port.unwrap_or(27017)))
        }
        _ => None,
    });
    let tls_on = matches!(opts.tls, Some(mongodb::options::Tls::Enabled(_)));
    let client = Client::with_options(opts).map_err(failed)?;
    let pinged = client
        .database("admin")
        .run_command(doc! { "ping": 1 })
        .await;
    let Err(e) = pinged else {
        return Ok((client, tls_on));
    };
    // The driver says only that no server answered: a handshake of falconer's own says why, if TLS is it.
    let why = match (&*e.kind, first) {
        (ErrorKind::ServerSelection { .. }, Some((host, port))) if tls.given() => {
            let tls = tls.clone();
            crate::util::blocking(move || tls.probe(&host, port, limit).map(|f| (f, tls)))
                .await
                .ok()
                .flatten()
        }
        _ => None,
    };
    // The driver has read the combined certificate and key: the copy goes now.
    drop(combined);
    match why {
        Some((f, tls)) => Err(SetupError::Tls(format!(
            "cannot connect to MongoDB at {hosts}: {}",
            crate::tls::advice(&f, &|k| tls.key(k))
        ))),
        None => Err(failed(e)),
    }
}

/// A read that failed (after its retries): the server named, as PostgreSQL's reads name theirs.
fn backend(e: mongodb::error::Error) -> ProviderError {
    ProviderError::Backend {
        domain: Domain::Mongo,
        message: format!("reading MongoDB failed: {}", apply::error_message(&e)),
    }
}

/// Refuses, before anything runs, an update with a field no command carries out (plan and apply agree).
fn refuse_idle(
    changes: &[Change],
    desired: &HashMap<&Address, &Spec>,
    live: &HashMap<&Address, &Spec>,
) -> Result<(), ProviderError> {
    for c in changes {
        let (Some(d), Some(l)) = (desired.get(&c.address), live.get(&c.address)) else {
            continue;
        };
        provider::refuse_idle(Domain::Mongo, c, d, l, |one, alone| {
            // An update's commands read only its own resource (a replace's would read its indexes too).
            let only = HashMap::from([(&c.address, alone)]);
            // A password that changes is set (its value is read at apply; any stands in for it here).
            let password: HashMap<&Address, String> = super::principals_live::sets_password(one)
                .then(|| (&c.address, String::new()))
                .into_iter()
                .collect();
            let waves = apply::ops(std::slice::from_ref(one), &only, live, &password);
            Ok::<usize, std::convert::Infallible>(
                waves.iter().flat_map(|w| w.values()).map(Vec::len).sum(),
            )
        })?;
    }
    Ok(())
}

/// Where MongoDB is without a profile.
const URL_VAR: (&str, &str) = ("FALCONER_MONGO_URL", "mongodb://user@host:port/");

impl System for Mongo {
    type Table = UrlTable;
    fn in_env(env: &Env) -> bool {
        env.has(URL_VAR.0)
    }
    async fn connect(table: Option<&UrlTable>, dir: &Path, env: &Env) -> Result<Self, SetupError> {
        let c = provider::connection(table, dir, env, Domain::Mongo, URL_VAR)?;
        let (client, tls) = connect(&c.url, c.password.as_deref(), &c.tls).await?;
        Ok(Mongo { tls, ..Mongo::new(client) })
    }
}

impl Provider for Mongo {
    fn domain(&self) -> Domain {
        Domain::Mongo
    }

    async fn checkup(&self) -> Result<provider::Checkup, ProviderError> {
        let admin = self.client.database("admin");
        let info = admin.run_command(doc! { "buildInfo": 1 }).into_future().within("MongoDB");
        let status = doc! { "connectionStatus": 1, "showPrivileges": true };
        let status = admin.run_command(status).into_future().within("MongoDB");
        let (info, status) = (info.await.map_err(backend)?, status.await.map_err(backend)?);
        Ok(checkup(&info, &status, self.tls))
    }

    /// MongoDB stores what it is given (numbers by value and default index names are settled when a
    /// manifest is read), so the desired resources need no round trip.
    async fn desired(
        &self,
        specs: &DesiredSpecs,
        key: &FingerprintKey,
        warnings: &mut Vec<String>,
    ) -> Result<Vec<Item>, ProviderError> {
        let mine: Vec<&(Spec, PathBuf)> = specs
            .iter()
            .filter(|(s, _)| s.meta().domain == Domain::Mongo)
            .collect();
        for (s, _) in &mine {
            if let Spec::MongoDatabase(db) = s
                && !mine
                    .iter()
                    .any(|(c, _)| matches!(c, Spec::MongoCollection(c) if c.database == db.name))
            {
                warnings.push(format!(
                    "MongoDB database `{}` has no collection: MongoDB creates a database with its first collection, so it plans as a create until one is declared",
                    db.name
                ));
            }
        }
        Ok(provider::desired_of(specs, Domain::Mongo, key, warnings))
    }

    async fn live(
        &self,
        tenant: &Tenant,
        also: &[Address],
        key: &FingerprintKey,
    ) -> Result<Vec<Item>, ProviderError> {
        // A read is safe to repeat: a lost connection is read again (not a timeout: a hung server would
        // only multiply the wait).
        let read = || async {
            let names = self.database_names().await?;
            inspect::inspect(&self.client, names, tenant, also).await
        };
        let again = |e: &mongodb::error::Error| {
            matches!(&*e.kind, ErrorKind::Io(io) if io.kind() != std::io::ErrorKind::TimedOut)
                || matches!(&*e.kind, ErrorKind::ConnectionPoolCleared { .. })
        };
        let specs = crate::util::retry_read("MongoDB", read, again, || None)
            .await
            .map_err(backend)?;
        Ok(provider::sealed(specs, key))
    }

    fn share_reads(&self, _tenants: &[Tenant]) {
        self.databases.share();
    }

    /// What the tenant's databases hold that no kind carries (`inventory.rs`).
    async fn not_carried(
        &self,
        _tenant: &Tenant,
        carried: &[&Spec],
    ) -> Result<Option<Vec<provider::NotCarried>>, ProviderError> {
        let read = super::inventory::not_carried(&self.client, carried);
        read.within("MongoDB").await.map(Some).map_err(backend)
    }

    async fn apply(
        &self,
        changes: &[Change],
        desired: &[Item],
        live: &[Item],
        bases: &HashMap<Address, PathBuf>,
    ) -> Result<usize, ProviderError> {
        let mine: Vec<Change> = changes
            .iter()
            .filter(|c| c.kind.domain == Domain::Mongo)
            .cloned()
            .collect();
        let (d, l) = (
            provider::by_address(desired, Domain::Mongo),
            provider::by_address(live, Domain::Mongo),
        );
        refuse_idle(&mine, &d, &l)?;
        let passwords = passwords(&mine, &d, bases)?;
        let waves = apply::ops(&mine, &d, &l, &passwords);
        apply::execute(&self.client, &waves)
            .await
            .map_err(|(done, command, e)| ProviderError::Failed {
                domain: Domain::Mongo,
                message: apply::error_message(&e),
                command,
                done,
            })?;
        Ok(mine.len())
    }
}

/// The passwords of the users whose change sets one (created, or its secret changed), read from their
/// secrets. A user created without a password (none declared, or a restore's `--create-without-secrets`)
/// gets a random one nobody knows: it exists with its grants and cannot sign in until one is given.
fn passwords<'a>(
    changes: &'a [Change],
    desired: &HashMap<&Address, &Spec>,
    bases: &HashMap<Address, PathBuf>,
) -> Result<HashMap<&'a Address, String>, ProviderError> {
    let mut out = HashMap::new();
    for c in changes.iter().filter(|c| super::principals_live::sets_password(c)) {
        let Some(Spec::MongoUser(u)) = desired.get(&c.address) else { continue };
        let base = bases.get(&c.address).map(PathBuf::as_path).unwrap_or(std::path::Path::new("."));
        let refused = |why: String| ProviderError::Change { domain: Domain::Mongo, message: format!("{}: {why}", c.address) };
        let password = match &u.password {
            Some(s) => crate::secrets::resolve(s, base)
                .map_err(|e| refused(format!("the password ({}) cannot be read: {}", s.describe(), e.0)))?,
            None => None,
        };
        let password = match (password, c.action) {
            (Some(p), _) => p,
            (None, Action::Create | Action::Replace) => {
                unknowable().map_err(|e| refused(format!("no random password for a user created without one: {e}")))?
            }
            (None, _) => continue,
        };
        out.insert(&c.address, password);
    }
    Ok(out)
}

/// 32 random bytes as hex: a password nobody knows.
fn unknowable() -> Result<String, getrandom::Error> {
    Ok(crate::util::random::<32>()?.iter().map(|b| format!("{b:02x}")).collect())
}

/// `buildInfo` and `connectionStatus` (with privileges) in `falconer doctor`'s words: the version, the
/// TLS, the users signed in and whether they may list the databases (docs/mongo.md's least privilege).
fn checkup(info: &Document, status: &Document, tls: bool) -> provider::Checkup {
    let mut c = provider::Checkup::default();
    let version = info.get_str("version").unwrap_or("unknown");
    c.fact("version", version).fact("tls", if tls { "on" } else { "none (plain text)" });
    let auth = status.get_document("authInfo").ok();
    let users: Vec<String> = listed(auth, "authenticatedUsers")
        .map(|u| format!("{}@{}", u.get_str("user").unwrap_or("?"), u.get_str("db").unwrap_or("?")))
        .collect();
    if users.is_empty() {
        c.fact("signed in as", "nobody (the server asks for no sign-in)");
        return c;
    }
    c.fact("signed in as", users.join(", "));
    let roles: Vec<String> = listed(auth, "authenticatedUserRoles")
        .map(|r| format!("{}@{}", r.get_str("role").unwrap_or("?"), r.get_str("db").unwrap_or("?")))
        .collect();
    c.fact("roles", roles.join(", "));
    let by_role = roles.iter().any(|r| LISTING_ROLES.iter().any(|l| r == &format!("{l}@admin")));
    let privileges: Vec<&Document> = listed(auth, "authenticatedUserPrivileges").collect();
    let by_privilege = privileges.iter().any(|p| {
        let cluster = p.get_document("resource").is_ok_and(|r| r.get_bool("cluster") == Ok(true));
        let actions = p.get_array("actions").map(|a| a.iter().any(|x| x.as_str() == Some("listDatabases")));
        cluster && actions == Ok(true)
    });
    if !by_role && privileges.is_empty() {
        c.fact("privileges", "not listed by the server: whether it may list the databases is not known");
        return c;
    }
    c.need(by_role || by_privilege, || {
        format!("{} may not list the databases: grant listDatabases on the cluster (docs/mongo.md)", users.join(", "))
    });
    c
}

/// MongoDB's built-in roles (of `admin`) that hold `listDatabases` on the cluster.
const LISTING_ROLES: [&str; 8] = [
    "root",
    "clusterAdmin",
    "clusterMonitor",
    "backup",
    "readAnyDatabase",
    "readWriteAnyDatabase",
    "dbAdminAnyDatabase",
    "userAdminAnyDatabase",
];

/// The documents of a list in `connectionStatus`'s `authInfo`.
fn listed<'a>(auth: Option<&'a Document>, key: &str) -> impl Iterator<Item = &'a Document> {
    auth.and_then(|a| a.get_array(key).ok()).into_iter().flatten().filter_map(|v| v.as_document())
}

#[cfg(test)]
mod checkup_tests {
    use super::*;

    fn status(roles: &[&str], privileges: Vec<Document>) -> Document {
        let roles: Vec<Document> = roles.iter().map(|r| doc! { "role": *r, "db": "admin" }).collect();
        doc! { "authInfo": {
            "authenticatedUsers": [{ "user": "falconer", "db": "admin" }],
            "authenticatedUserRoles": roles,
            "authenticatedUserPrivileges": privileges,
        }, "ok": 1.0 }
    }

    #[test]
    fn the_account_may_list_databases_by_role_or_privilege_or_is_told_what_to_grant() {
        let info = doc! { "version": "8.0.4" };
        let cluster = doc! { "resource": { "cluster": true }, "actions": ["listDatabases", "serverStatus"] };
        let on_db = doc! { "resource": { "db": "acme", "collection": "" }, "actions": ["find", "listCollections"] };
        // MongoDB's own answer for docs/mongo.md's custom role: the privilege listed.
        let c = checkup(&info, &status(&["falconerCluster"], vec![cluster, on_db.clone()]), true);
        assert_eq!(c.facts["signed in as"], "falconer@admin");
        assert_eq!(c.facts["tls"], "on");
        assert!(c.problems.is_empty(), "{c:?}");
        // A built-in role that holds it, the privileges not listed (as SecantusDB answers).
        assert!(checkup(&info, &status(&["root"], vec![]), false).problems.is_empty());
        // readWrite on one database only: told what to grant.
        let c = checkup(&info, &status(&["readWrite"], vec![on_db]), false);
        assert_eq!(c.problems.len(), 1, "{c:?}");
        assert!(c.problems[0].contains("grant listDatabases on the cluster"), "{c:?}");
        // Nothing listed at all: not known, not a problem made up.
        let c = checkup(&info, &status(&["custom"], vec![]), false);
        assert!(c.problems.is_empty() && c.facts["privileges"].starts_with("not listed"), "{c:?}");
        // No sign-in asked for.
        let open = doc! { "authInfo": { "authenticatedUsers": [], "authenticatedUserRoles": [] }, "ok": 1.0 };
        assert!(checkup(&info, &open, false).facts["signed in as"].starts_with("nobody"));
    }
}
