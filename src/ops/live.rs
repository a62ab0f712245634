//! Planning against the live systems: what `plan` (without `--against`), `drift`, `apply` and `restore`
//! share.
//!
//! The live systems are PostgreSQL, MongoDB, Kafka, S3, Keycloak and OpenWhisk (the profile, or
//! `FALCONER_POSTGRES_URL`, `FALCONER_MONGO_URL`, `FALCONER_KAFKA_BOOTSTRAP`, `FALCONER_S3_ENDPOINT`,
//! `FALCONER_KEYCLOAK_URL` and `FALCONER_OPENWHISK_URL`).
//! A system is connected only when the manifest or the managed set has resources of its domain.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures_util::future::{join_all, try_join_all};

use super::{Error, Events};
use crate::domains::Spec;
use crate::domains::provider::{Provider, ProviderError};
use crate::domains::systems::ConnectError;
use crate::manifest::{self, LoadOptions, Manifest};
use crate::model::{Address, Domain};
use crate::plan::{self, Action, Item, Options, Plan};
use crate::profile::{Profile, ProfileError};
use crate::secrets;
use crate::secrets::FingerprintKey;
use crate::setup::Env;
use crate::state::State;
use crate::util::Timeouts;

pub use crate::domains::systems::{LIVE_DOMAINS, Live};

/// A loaded manifest, with the directory of each resource's file.
pub struct Desired {
    pub manifest: Manifest,
    pub specs: Vec<(Spec, PathBuf)>,
}

/// Loads a manifest or an artifact of the platform for a live plan; its problems go to `events`. With an
/// artifact, the address patterns of the domains it holds no data for (an error, not available, no
/// section): a plan leaves them alone rather than deleting what they hold.
pub fn load_any(
    path: &Path,
    opts: LoadOptions,
    events: &dyn Events,
) -> Result<(Desired, Vec<String>), Error> {
    use super::input::Input;
    let (imported, issues) = match super::input::read(path, opts) {
        Input::Manifest(loaded) => return desired(loaded, events).map(|d| (d, Vec::new())),
        Input::Artifact { imported, issues } => (imported, issues),
    };
    let imported = match imported.filter(|_| !issues.iter().any(crate::diag::Issue::is_error)) {
        Some(i) => {
            events.issues(&issues, &Default::default());
            i
        }
        None => {
            return Err(Error::Invalid {
                issues,
                sources: Default::default(),
            });
        }
    };
    let without: Vec<String> = Domain::ALL
        .into_iter()
        .filter(|d| !imported.section(*d).is_some_and(|s| s.status.has_data()))
        .map(|d| format!("{d}.*"))
        .collect();
    let specs = imported
        .manifest
        .resources
        .iter()
        .map(|r| (r.spec.clone(), PathBuf::new()))
        .collect();
    Ok((
        Desired {
            manifest: imported.manifest,
            specs,
        },
        without,
    ))
}

/// Loads a manifest for a live plan; its warnings go to `events`.
pub fn load(path: &Path, opts: LoadOptions, events: &dyn Events) -> Result<Desired, Error> {
    desired(manifest::load_path(path, opts), events)
}

/// A loaded manifest's desired state; its errors are the error, its warnings go to `events`.
fn desired(loaded: manifest::Loaded, events: &dyn Events) -> Result<Desired, Error> {
    match desired_of(&loaded) {
        Some(d) if !loaded.issues.iter().any(crate::diag::Issue::is_error) => {
            events.issues(&loaded.issues, &loaded.sources);
            Ok(d)
        }
        _ => Err(Error::Invalid {
            issues: loaded.issues,
            sources: loaded.sources,
        }),
    }
}

/// A loaded manifest as a live plan's desired state (`None` when it has errors).
pub fn desired_of(loaded: &manifest::Loaded) -> Option<Desired> {
    let m = loaded.manifest.clone()?;
    let specs = m
        .resources
        .iter()
        .map(|r| {
            let base = r
                .span
                .and_then(|s| loaded.files.get(s.file as usize))
                .and_then(|p| p.parent())
                .map(Path::to_path_buf)
                .unwrap_or_default();
            (r.spec.clone(), base)
        })
        .collect();
    Some(Desired { manifest: m, specs })
}

/// Where the state store and the live systems are (`--state`, `--profile`).
pub struct Settings {
    pub state: String,
    pub profile: Option<PathBuf>,
    /// The timeouts of every system the profile gives none for.
    pub timeouts: Timeouts,
    /// The environment as the caller read it: where the systems the profile has no table for are.
    pub env: Env,
    /// The profile file, read once on first use (an empty profile without a file).
    loaded: std::sync::OnceLock<Result<Profile, ProfileError>>,
}

impl Settings {
    /// The state store and the profile, with the default timeouts.
    pub fn new(state: String, profile: Option<PathBuf>) -> Settings {
        Settings {
            state,
            profile,
            timeouts: Timeouts::default(),
            env: Env::default(),
            loaded: std::sync::OnceLock::new(),
        }
    }

    /// These settings with an environment (the command line's; without one, no system is reached
    /// through environment variables).
    pub fn with_env(self, env: Env) -> Settings {
        Settings { env, ..self }
    }

    /// These settings with other timeouts for the systems the profile gives none for.
    pub fn with_timeouts(self, timeouts: Timeouts) -> Settings {
        Settings { timeouts, ..self }
    }

    /// The same state store and timeouts with another profile (a fleet group's).
    pub fn for_profile(&self, profile: PathBuf) -> Settings {
        Settings::new(self.state.clone(), Some(profile))
            .with_timeouts(self.timeouts)
            .with_env(self.env.clone())
    }

    fn profile(&self) -> Result<&Profile, Error> {
        self.loaded
            .get_or_init(|| match self.profile.as_deref() {
                Some(p) => Profile::load(p, self.env.clone()),
                None => Ok(Profile::from_env(self.env.clone())),
            })
            .as_ref()
            .map_err(|e| Error::Profile(e.clone()))
    }

    /// The timeouts of what is not one of the systems (the backup repository on S3).
    pub fn general_timeouts(&self) -> Result<Timeouts, Error> {
        Ok(self.profile()?.general_timeouts(self.timeouts))
    }

    /// The profile's `[restore]` table, and the directory its secret files are relative to.
    pub fn restore(&self) -> Result<(crate::profile::RestoreTable, PathBuf), Error> {
        let p = self.profile()?;
        Ok((p.restore.clone(), p.dir.clone()))
    }

    /// The profile's `[backup] repo`, if any.
    pub fn backup_repo(&self) -> Result<Option<String>, Error> {
        Ok(self.profile()?.backup.repo.clone())
    }

    /// The S3 connection of a repository on S3 the profile's `[backup]` table gives, if it gives one.
    pub fn backup_s3(&self) -> Result<Option<crate::s3::client::Config>, Error> {
        let p = self.profile()?;
        p.backup.s3(&p.dir).map_err(Error::Profile)
    }

    /// A secret of the profile's own tables (`setting` names it in errors), read from its source relative
    /// to the profile: never written in plain text.
    fn own_secret(
        &self,
        secret: &crate::model::SecretValue,
        setting: &str,
    ) -> Result<String, Error> {
        let wrong = |why: String| Error::Profile(ProfileError::setting(setting, why));
        if let crate::model::SecretValue::Plain(_) = secret {
            return Err(wrong("is written in plain text: give it as { env = \"NAME\" }, { file = \"PATH\" } or { command = [...] }".into()));
        }
        let base = &self.profile()?.dir;
        let base = if base.as_os_str().is_empty() {
            Path::new(".")
        } else {
            base
        };
        crate::secrets::resolve_profile(secret, base)
            .map_err(|e| wrong(format!("cannot be read: {}", e.0)))?
            .ok_or_else(|| wrong("is redacted".into()))
    }

    /// The profile's `[backup] key` (`{ env = "NAME" }` or `{ file = "PATH" }`, relative to the profile).
    pub fn backup_key(&self) -> Result<Option<crate::backup::crypt::Key>, Error> {
        let Some(secret) = &self.profile()?.backup.key else {
            return Ok(None);
        };
        let text = self.own_secret(secret, "[backup] key")?;
        crate::backup::crypt::Key::parse(&text)
            .map(Some)
            .map_err(|e| {
                Error::Profile(ProfileError::setting(
                    "[backup] key",
                    format!("cannot be used: {e}"),
                ))
            })
    }

    /// The agent's tokens (`[serve] token` and `write_token`), read, and whether `/metrics` is public.
    pub fn serve_access(&self) -> Result<ServeAccess, Error> {
        let serve = &self.profile()?.serve;
        let token = |secret: Option<&crate::model::SecretValue>, place: &str| {
            let Some(secret) = secret else {
                return Ok(None);
            };
            let token = self.own_secret(secret, place)?;
            if token.trim().len() < 16 {
                let why =
                    "is shorter than 16 characters: make a long random one (openssl rand -hex 32)";
                return Err(Error::Profile(ProfileError::setting(place, why)));
            }
            Ok(Some(token.trim().to_string()))
        };
        let dir = &self.profile()?.dir;
        let tls = serve.tls.as_ref().map(|t| crate::tls::ServerFiles {
            cert: dir.join(&t.cert_file),
            key: dir.join(&t.key_file),
            client_ca: t.client_ca_file.as_ref().map(|c| dir.join(c)),
        });
        let access = ServeAccess {
            token: token(serve.token.as_ref(), "[serve] token")?,
            write_token: token(serve.write_token.as_ref(), "[serve] write_token")?,
            metrics_public: serve.metrics_public,
            tls,
        };
        if access.token.is_some() && access.token == access.write_token {
            let why = "is the same as [serve] token: the writes take a token of their own";
            return Err(Error::Profile(ProfileError::setting(
                "[serve] write_token",
                why,
            )));
        }
        Ok(access)
    }

    /// The profile's webhooks (`[[serve.webhook]]`), their URLs and secrets read.
    pub fn webhooks(&self) -> Result<Vec<super::webhooks::Webhook>, Error> {
        use super::webhooks::{Format, Webhook};
        let mut out = Vec::new();
        for (i, w) in self.profile()?.serve.webhook.iter().enumerate() {
            let place = format!("[[serve.webhook]] {}", i + 1);
            let format = match w.format.as_deref() {
                None | Some("json") => Format::Json,
                Some("slack") => Format::Slack,
                Some(other) => {
                    let why = format!("format {other:?}: use \"json\" or \"slack\"");
                    return Err(Error::Profile(ProfileError::setting(place, why)));
                }
            };
            let secret = w
                .secret
                .as_ref()
                .map(|s| self.own_secret(s, &format!("{place} secret")))
                .transpose()?;
            out.push(Webhook {
                url: self.own_secret(&w.url, &format!("{place} url"))?,
                format,
                secret,
            });
        }
        Ok(out)
    }

    /// Whether the profile lets a manifest's secret `{ command }` run in live plans and applies.
    /// The environments a tenant can be in (the profile's `environments`, else the defaults).
    pub fn environments(&self) -> Result<Vec<String>, Error> {
        Ok(self.profile()?.environments())
    }

    pub fn manifest_commands(&self) -> Result<bool, Error> {
        Ok(self.profile()?.manifest_commands)
    }

    /// How a live plan or apply loads its manifest: a `{ command }` is not an error where the profile
    /// allows it.
    pub fn load_options(&self) -> Result<LoadOptions, Error> {
        Ok(LoadOptions {
            commands: self.manifest_commands()?,
            ..LoadOptions::default()
        })
    }

    /// Whether a system's connection is given (profile or environment).
    pub fn configured(&self, domain: Domain) -> Result<bool, Error> {
        Ok(self.profile()?.configured(domain))
    }

    /// Connects to a live system.
    pub async fn connect(&self, domain: Domain) -> Result<Live, Error> {
        self.profile()?
            .connect(domain, self.timeouts)
            .await
            .map_err(|e| Error::Connect(vec![e]))
    }
}

/// What a live plan needs: the state store, the tenant's fingerprint key and the live systems.
pub struct Context {
    pub state: State,
    pub key: FingerprintKey,
    /// The systems of the domains the tenant has resources in (declared or managed); shared with the other
    /// tenants of a fleet run.
    pub live: Vec<Arc<Live>>,
}

impl Context {
    /// Connects to the live systems of the domains `desired` declares or the state store (opened by the
    /// caller) says falconer manages for the tenant (`opts.managed`, when given, stands for the latter).
    /// Only the systems a plan with these options can change are connected: a targeted plan needs the
    /// systems of its targets and of what they depend on, no others.
    pub async fn open(
        settings: &Settings,
        state: &State,
        desired: &Desired,
        opts: &Options,
    ) -> Result<Context, Error> {
        match Self::open_reachable(settings, state, desired, opts).await? {
            (cx, unreachable) if unreachable.is_empty() => Ok(cx),
            (_, unreachable) => Err(Error::Connect(unreachable)),
        }
    }

    /// As [`Context::open`], with the systems that cannot be reached (refused, unknown, timed out: the
    /// next run may reach them) left out of the context and returned; any other failure to connect (a
    /// setting, a secret, credentials refused) is an error naming every system that failed.
    pub async fn open_reachable(
        settings: &Settings,
        state: &State,
        desired: &Desired,
        opts: &Options,
    ) -> Result<(Context, Vec<ConnectError>), Error> {
        let tenant = &desired.manifest.tenant.id;
        let state = state.clone();
        let key = state.managed().fingerprint_key(tenant).await?;
        let domains = Self::domains(&state, desired, opts).await?;
        let profile = settings.profile()?;
        // Every system is tried, so a missing connection is not hidden behind another.
        let (live, failed): (Vec<_>, Vec<_>) = join_all(
            domains
                .into_iter()
                .map(|d| profile.connect(d, settings.timeouts)),
        )
        .await
        .into_iter()
        .partition(Result::is_ok);
        let failed: Vec<ConnectError> = failed.into_iter().filter_map(Result::err).collect();
        if !failed.iter().all(ConnectError::unreachable) {
            return Err(Error::Connect(failed));
        }
        let live = live
            .into_iter()
            .filter_map(Result::ok)
            .map(Arc::new)
            .collect();
        Ok((Context { state, key, live }, failed))
    }

    /// The domains whose systems a plan of `desired` with these options needs: those it declares or the
    /// state store says falconer manages for the tenant (`opts.managed`, when given, stands for the latter),
    /// and with targets only those of the targets and of what they depend on.
    pub async fn domains(
        state: &State,
        desired: &Desired,
        opts: &Options,
    ) -> Result<Vec<Domain>, Error> {
        let managed = match &opts.managed {
            Some(m) => m.clone(),
            None => state.managed().managed(&desired.manifest.tenant.id).await?,
        };
        let specs: Vec<&Spec> = desired.specs.iter().map(|(s, _)| s).collect();
        let reach = plan::reach(&desired.manifest.tenant, &specs, &managed, opts)?;
        Ok(LIVE_DOMAINS
            .iter()
            .copied()
            .filter(|d| reach.as_ref().is_none_or(|r| r.contains(d)))
            .filter(|d| {
                desired.specs.iter().any(|(s, _)| s.meta().domain == *d)
                    || managed.iter().any(|a| a.domain == *d)
            })
            .collect())
    }

    /// Plans the desired state against the live one, deleting only what the state store says falconer
    /// manages (or, when `opts.managed` is given, only those); a failing system is named by the error.
    pub async fn plan(
        &self,
        d: &Desired,
        opts: Options,
    ) -> Result<(Plan, Vec<Item>, Vec<Item>), Error> {
        let mut warnings = Vec::new();
        let tenant = &d.manifest.tenant;
        let managed = match opts.managed.clone() {
            Some(m) => m,
            None => self.state.managed().managed(&tenant.id).await?,
        };
        // Declared and managed resources are read even outside the tenant's scope (cluster-wide roles).
        let mut also: Vec<Address> = d.specs.iter().map(|(s, _)| s.address()).collect();
        also.extend(managed.iter().cloned());
        // Each system by index, not by reference: a closure over `&Arc<Live>` would keep the plan's future
        // from being `Send` (the compiler cannot see that its lifetime is one).
        let systems = 0..self.live.len();
        let desired = join_all(systems.clone().map(|i| async move {
            let mut w = Vec::new();
            let r = self.live[i].desired(&d.specs, &self.key, &mut w).await;
            (r, w)
        }))
        .await
        .into_iter()
        .map(|(r, mut w)| {
            warnings.append(&mut w);
            r
        })
        .collect::<Result<Vec<Vec<Item>>, ProviderError>>()?;
        let live: Vec<Vec<Item>> = try_join_all(
            systems
                .clone()
                .map(|i| self.live[i].live(tenant, &also, &self.key)),
        )
        .await?;
        // What each system's inventory finds in the tenant's scope that no kind carries: said by kind and
        // count (a plan neither changes nor deletes it).
        let read: Vec<Vec<&Spec>> = live
            .iter()
            .map(|items| items.iter().map(|i| &i.spec).collect())
            .collect();
        let inventories = try_join_all(
            read.iter()
                .enumerate()
                .map(|(i, specs)| async move { self.live[i].not_carried(tenant, specs).await }),
        )
        .await?;
        for (i, items) in inventories.iter().enumerate() {
            if let Some(items) = items.as_ref().filter(|x| !x.is_empty()) {
                warnings.push(crate::domains::provider::not_carried_line(
                    self.live[i].domain(),
                    items,
                ));
            }
        }
        // Each system settles its desired resources knowing which already plan as unchanged against their
        // live selves (the same order as `self.live`).
        let unchanged: Vec<Vec<bool>> = desired
            .iter()
            .zip(&live)
            .map(|(desired, live)| plan::unchanged(desired, live))
            .collect();
        let settled = systems
            .zip(desired)
            .map(|(i, desired)| self.live[i].settle(&d.specs, desired, &unchanged[i], &self.key));
        let desired: Vec<Item> = try_join_all(settled).await?.into_iter().flatten().collect();
        let mut live: Vec<Item> = live.into_iter().flatten().collect();
        let recorded = self.state.managed().secret_fingerprints(&tenant.id).await?;
        with_recorded_secrets(&mut live, &recorded);
        mark_unrecorded_secrets(&mut live, &desired);
        let opts = Options {
            managed: Some(managed),
            ..opts
        };
        let mut p = plan::make(tenant, &desired, &live, &opts)?;
        for (address, why) in self.refusals(tenant, &desired, &live).await? {
            p.refuse(&address, why);
        }
        warnings.append(&mut p.warnings);
        p.warnings = warnings;
        Ok((p, desired, live))
    }

    /// What each system would refuse of `desired` by a rule that needs reading it (`Provider::refusals`,
    /// each given every domain's items and reading its own), given the live items the plan read: each
    /// object's address and why.
    async fn refusals(
        &self,
        tenant: &crate::model::Tenant,
        desired: &[Item],
        live: &[Item],
    ) -> Result<Vec<(Address, String)>, Error> {
        let mut out = Vec::new();
        for system in &self.live {
            out.extend(system.refusals(tenant, desired, live).await?);
        }
        Ok(out)
    }
}

/// Fills in the secrets a server cannot give back (sealed as unknown) with the fingerprints of what falconer
/// last set, so that a changed secret plans as a change.
fn with_recorded_secrets(live: &mut [Item], recorded: &HashMap<(String, String), String>) {
    if recorded.is_empty() {
        return;
    }
    let mut by_address: HashMap<&str, Vec<(&str, &str)>> = HashMap::new();
    for ((address, field), fp) in recorded {
        by_address.entry(address).or_default().push((field, fp));
    }
    for item in live {
        let Some(fields) = by_address.get(item.address.to_string().as_str()) else {
            continue;
        };
        for (field, fp) in fields {
            // `smtp.password` is the value at /smtp/password.
            let pointer = pointer(field);
            if let Some(v) = item.value.pointer_mut(&pointer)
                && secrets::sealed(v) == Some(None)
            {
                *v = serde_json::json!({ secrets::SENSITIVE: fp });
            }
        }
    }
}

/// What stands for a live secret the server cannot show and falconer never set: it equals no fingerprint.
const UNRECORDED: &str = "unrecorded";

/// A secret the manifest declares, on a resource whose server cannot show it and for which falconer has
/// recorded nothing (it was set some other way, or never): the plan cannot know whether they are the same, so
/// it sets it once (and records it). Without this, a password added to an existing role would never be set.
fn mark_unrecorded_secrets(live: &mut [Item], desired: &[Item]) {
    let by_address: HashMap<&Address, &Item> = desired.iter().map(|i| (&i.address, i)).collect();
    for item in live {
        if let Some(d) = by_address.get(&item.address) {
            mark_unrecorded(&mut item.value, &d.value);
        }
    }
}

/// Walks objects only (a keyed list's items are not matched by position).
fn mark_unrecorded(live: &mut serde_json::Value, desired: &serde_json::Value) {
    if secrets::sealed(live) == Some(None) {
        if matches!(secrets::sealed(desired), Some(Some(_))) {
            *live = serde_json::json!({ secrets::SENSITIVE: UNRECORDED });
        }
        return;
    }
    if let (Some(l), Some(d)) = (live.as_object_mut(), desired.as_object()) {
        for (k, v) in l.iter_mut() {
            if let Some(dv) = d.get(k) {
                mark_unrecorded(v, dv);
            }
        }
    }
}

/// The JSON pointer of a dotted field path (`smtp.password` → `/smtp/password`).
fn pointer(path: &str) -> String {
    format!("/{}", path.replace('.', "/"))
}

/// The known secrets of a sealed value, by dotted path (`secret`, `smtp.password`).
fn known_secrets(v: &serde_json::Value, path: &str, out: &mut Vec<(String, String)>) {
    if let Some(Some(fp)) = secrets::sealed(v) {
        out.push((path.to_string(), fp.to_string()));
    } else if let Some(fields) = v.as_object() {
        for (k, x) in fields {
            let p = if path.is_empty() {
                k.clone()
            } else {
                format!("{path}.{k}")
            };
            known_secrets(x, &p, out);
        }
    }
}

/// The fingerprints of the secrets a successful apply set: every known secret (top level or nested in
/// objects) of a created or replaced resource, and of an updated one the secrets its change names.
pub fn secrets_set(plan: &Plan, desired: &[Item]) -> Vec<(String, String, String)> {
    let by_address: HashMap<&Address, &Item> = desired.iter().map(|i| (&i.address, i)).collect();
    let mut out = Vec::new();
    for c in &plan.changes {
        let Some(item) = by_address.get(&c.address) else {
            continue;
        };
        let mut known = Vec::new();
        known_secrets(&item.value, "", &mut known);
        for (field, fp) in known {
            let set = match c.action {
                Action::Create | Action::Replace => true,
                Action::Update => c
                    .fields
                    .iter()
                    .any(|f| f.path == field || field.starts_with(&format!("{}.", f.path))),
                Action::Delete => false,
            };
            if set {
                out.push((c.address.to_string(), field, fp));
            }
        }
    }
    out
}

/// The recorded secrets an applied plan made obsolete: those of deleted resources, and secret fields an
/// update removed (the manifest no longer declares them).
pub fn secrets_gone(plan: &Plan, desired: &[Item]) -> Vec<(String, Option<String>)> {
    let by_address: HashMap<&Address, &Item> = desired.iter().map(|i| (&i.address, i)).collect();
    let mut out = Vec::new();
    for c in &plan.changes {
        match c.action {
            Action::Delete => out.push((c.address.to_string(), None)),
            Action::Update => {
                let Some(item) = by_address.get(&c.address) else {
                    continue;
                };
                for f in c.fields.iter().filter(|f| f.sensitive) {
                    let pointer = pointer(&f.path);
                    if item.value.pointer(&pointer).is_none() {
                        out.push((c.address.to_string(), Some(f.path.clone())));
                    }
                }
            }
            Action::Create | Action::Replace => {}
        }
    }
    out
}

/// Loads a manifest (or an artifact) and plans it against the live systems.
pub async fn plan_path(
    path: &Path,
    opts: Options,
    settings: &Settings,
    events: &dyn Events,
) -> Result<Plan, Error> {
    let allowed = settings.manifest_commands()?;
    let (desired, without) = load_any(path, settings.load_options()?, events)?;
    let mut opts = opts;
    opts.excludes.extend(without);
    let state = State::open(&settings.state).await?;
    let cx = Context::open(settings, &state, &desired, &opts).await?;
    let planned = cx.plan(&desired, opts);
    crate::secrets::with_manifest_commands(allowed, planned)
        .await
        .map(|(p, _, _)| p)
}

/// The agent's tokens from the profile's `[serve]` table, read.
#[derive(Debug, Clone, Default)]
pub struct ServeAccess {
    pub token: Option<String>,
    pub write_token: Option<String>,
    pub metrics_public: bool,
    /// `[serve.tls]`'s files, made absolute.
    pub tls: Option<crate::tls::ServerFiles>,
}
