//! Keycloak as a [`Provider`]: the tenant's realm read through the admin API, and changes applied wave by
//! wave, four objects at a time. A confidential client's secret, when Keycloak gives it, is fingerprinted
//! on the spot and never kept; masked secrets (identity providers, SMTP) are unknown, and the plan falls
//! back on the fingerprints of what falconer last set.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::apply::apply_one;
use super::session::Session;
use super::client::{Auth, Config, Keycloak};
use super::inspect::inspect;
use crate::domains::item::{Change, Item};
use crate::domains::provider::{self, NotCarried, Provider, ProviderError, System};
use crate::setup::{Env, SetupError};
use crate::model::SecretValue;
use crate::model::{Address, Domain, Tenant};
use crate::secrets::{FingerprintKey, SENSITIVE};

/// Changes applied at once within a wave.
pub const PARALLEL: usize = 4;

pub struct Iam {
    pub kc: Keycloak,
    /// The tenant's realm (set by `live`, which every plan calls before an apply).
    realm: provider::Remembered,
}

/// Signs in to Keycloak (checking the address and the credentials).
pub async fn connect(config: Config) -> Result<Keycloak, SetupError> {
    let kc = Keycloak::new(config)?;
    kc.sign_in().await?;
    Ok(kc)
}

/// A configuration from the environment: `FALCONER_KEYCLOAK_URL` with `FALCONER_KEYCLOAK_USER` and
/// `FALCONER_KEYCLOAK_PASSWORD`, or `FALCONER_KEYCLOAK_CLIENT_ID` and `FALCONER_KEYCLOAK_CLIENT_SECRET`;
/// `FALCONER_KEYCLOAK_AUTH_REALM` (default `master`).
pub fn config_from_env(env: &Env) -> Result<Config, SetupError> {
    let var = |k: &str| env.get(k);
    let missing = |what, vars: &str| SetupError::NotConfigured {
        system: "Keycloak",
        what,
        vars: vars.into(),
        table: "iam",
    };
    let url = var("FALCONER_KEYCLOAK_URL").ok_or_else(|| {
        missing(
            "connection",
            "FALCONER_KEYCLOAK_URL with FALCONER_KEYCLOAK_USER and FALCONER_KEYCLOAK_PASSWORD",
        )
    })?;
    let auth = match (
        var("FALCONER_KEYCLOAK_CLIENT_ID"),
        var("FALCONER_KEYCLOAK_CLIENT_SECRET"),
        var("FALCONER_KEYCLOAK_USER"),
        var("FALCONER_KEYCLOAK_PASSWORD"),
    ) {
        (Some(id), Some(secret), _, _) => Auth::Client { id, secret },
        (_, _, Some(username), Some(password)) => Auth::Password { username, password },
        _ => {
            return Err(missing(
                "credentials",
                "FALCONER_KEYCLOAK_USER and FALCONER_KEYCLOAK_PASSWORD (or FALCONER_KEYCLOAK_CLIENT_ID and FALCONER_KEYCLOAK_CLIENT_SECRET)",
            ));
        }
    };
    Ok(Config {
        url,
        auth,
        auth_realm: var("FALCONER_KEYCLOAK_AUTH_REALM").unwrap_or_else(|| "master".into()),
        tls: crate::tls::Tls::of(None, false, Path::new(""), env, ("iam", "FALCONER_KEYCLOAK"))?,
    })
}

impl Iam {
    pub fn new(kc: Keycloak) -> Iam {
        Iam {
            kc,
            realm: provider::Remembered::default(),
        }
    }
}

/// The profile's `[iam]` table: Keycloak's address and how to sign in, as a user (password grant through
/// `admin-cli`) or a service client (client credentials).
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeycloakTable {
    pub url: String,
    pub username: Option<String>,
    pub password: Option<SecretValue>,
    pub client_id: Option<String>,
    pub client_secret: Option<SecretValue>,
    /// The realm to sign in to (default `master`).
    pub auth_realm: Option<String>,
    pub tls: Option<crate::tls::TlsTable>,
}

/// Where Keycloak is and how to sign in: the profile's table, else the environment.
pub fn config(table: Option<&KeycloakTable>, dir: &Path, env: &Env) -> Result<Config, SetupError> {
    let Some(t) = table else {
        return config_from_env(env);
    };
    let read =
        |s: &SecretValue, what: &str| provider::profile_secret(s, dir, &format!("Keycloak {what}"));
    let auth = match (&t.client_id, &t.client_secret, &t.username, &t.password) {
        (Some(id), Some(secret), None, None) => Auth::Client {
            id: id.clone(),
            secret: read(secret, "client secret")?,
        },
        (None, None, Some(user), Some(password)) => Auth::Password {
            username: user.clone(),
            password: read(password, "password")?,
        },
        _ => {
            let why = "needs `username` and `password`, or `client_id` and `client_secret`";
            return Err(SetupError::setting("the profile's [iam] table", why));
        }
    };
    Ok(Config {
        url: t.url.clone(),
        auth,
        auth_realm: t.auth_realm.clone().unwrap_or_else(|| "master".into()),
        tls: crate::tls::Tls::of(t.tls.as_ref(), true, dir, env, ("iam", "FALCONER_KEYCLOAK"))?,
    })
}

impl System for Iam {
    type Table = KeycloakTable;
    fn in_env(env: &Env) -> bool {
        env.has("FALCONER_KEYCLOAK_URL")
    }
    async fn connect(table: Option<&KeycloakTable>, dir: &Path, env: &Env) -> Result<Self, SetupError> {
        Ok(Iam::new(connect(config(table, dir, env)?).await?))
    }
}

impl Provider for Iam {
    fn domain(&self) -> Domain {
        Domain::Iam
    }

    /// The connection, who falconer is signed in as and whether its token carries `create-realm`
    /// (docs/iam.md's least privilege); the realms it can see. Keycloak gives its version only to
    /// `master` administrators (`/admin/serverinfo`), so it is not read.
    async fn checkup(&self) -> Result<provider::Checkup, ProviderError> {
        let failed = |e: super::client::KcError| ProviderError::backend(Domain::Iam, e);
        let claims = self.kc.claims().await.map_err(failed)?;
        let realms = match self.kc.all(&[]).await {
            Ok(r) => r.len().to_string(),
            Err(e) if e.status() == Some(403) => "none (403: the account may view no realm)".into(),
            Err(e) => return Err(failed(e)),
        };
        let mut c = provider::Checkup::default();
        let tls = self.kc.url().starts_with("https:");
        c.fact("tls", if tls { "on (https)" } else { "none (http)" });
        let user = claims.as_ref().and_then(|c| c["preferred_username"].as_str());
        c.fact("signed in as", user.map_or_else(|| self.kc.account(), String::from))
            .fact("realms visible", realms);
        let Some(roles) = claims.as_ref().and_then(|c| c["realm_access"]["roles"].as_array()) else {
            c.fact("roles", "not readable (the token is not a JWT)");
            return Ok(c);
        };
        let has = |r: &str| roles.iter().any(|x| x.as_str() == Some(r));
        c.need(has("create-realm") || has("admin"), || {
            "the account cannot create a tenant's realm: give it the create-realm role of master (docs/iam.md)".into()
        });
        Ok(c)
    }

    async fn live(
        &self,
        tenant: &Tenant,
        also: &[Address],
        key: &FingerprintKey,
    ) -> Result<Vec<Item>, ProviderError> {
        let realm = tenant.name(&super::REALM_SCOPE);
        self.realm.set(realm.clone());
        let actions: Vec<&str> = also
            .iter()
            .filter(|a| a.domain == Domain::Iam && a.kind == "required_action")
            .filter_map(|a| a.segments.first().map(String::as_str))
            .collect();
        let found = inspect(&self.kc, &realm, &actions)
            .await
            .map_err(|e| ProviderError::backend(Domain::Iam, e))?;
        let mut items = provider::sealed(found.specs, key);
        for item in &mut items {
            if let crate::domains::Spec::IamClient(c) = &item.spec
                && let Some(secret) = found.client_secrets.get(&c.client_id)
            {
                item.value["secret"] =
                    serde_json::json!({ SENSITIVE: key.fingerprint(secret.as_bytes()) });
            }
        }
        Ok(items)
    }

    async fn not_carried(
        &self,
        tenant: &Tenant,
        _carried: &[&crate::domains::Spec],
    ) -> Result<Option<Vec<NotCarried>>, ProviderError> {
        let realm = tenant.name(&super::REALM_SCOPE);
        super::inventory::not_carried(&self.kc, &realm)
            .await
            .map(Some)
            .map_err(|e| ProviderError::backend(Domain::Iam, e))
    }

    /// The authenticators the desired flows name that this Keycloak does not offer.
    async fn refusals(
        &self,
        tenant: &Tenant,
        desired: &[Item],
        _live: &[Item],
    ) -> Result<Vec<(Address, String)>, ProviderError> {
        let flows: Vec<&super::flow::AuthenticationFlow> = desired
            .iter()
            .filter_map(|i| match &i.spec {
                crate::domains::Spec::IamAuthenticationFlow(f) => Some(f),
                _ => None,
            })
            .collect();
        let realm = tenant.name(&super::REALM_SCOPE);
        let found = super::flow_read::unknown_authenticators(&self.kc, &realm, &flows)
            .await
            .map_err(|e| ProviderError::backend(Domain::Iam, e))?;
        Ok(found
            .into_iter()
            .map(|(alias, why)| (Address::new(Domain::Iam, "authentication_flow", vec![alias]), why))
            .collect())
    }

    async fn apply(
        &self,
        changes: &[Change],
        desired: &[Item],
        live: &[Item],
        bases: &HashMap<Address, PathBuf>,
    ) -> Result<usize, ProviderError> {
        provider::refuse_uncarried(Domain::Iam, changes, super::apply::carries)?;
        let realm = self.realm.get(Domain::Iam, "realm")?;
        let mut session = Session::new(&self.kc, &realm);
        session.bindings = desired
            .iter()
            .find_map(|i| match &i.spec {
                crate::domains::Spec::IamRealm(r) => Some(super::flow::realm_bindings(r)),
                _ => None,
            })
            .into_iter()
            .flatten()
            .filter_map(|(field, alias)| {
                let member = super::flow::REALM_BINDINGS.iter().find(|(f, _, _)| *f == field)?.1;
                Some((member, alias.to_string()))
            })
            .collect();
        let (d, l) = (
            provider::by_address(desired, Domain::Iam),
            provider::by_address(live, Domain::Iam),
        );
        provider::in_waves(changes, Domain::Iam, PARALLEL, |c| {
            let base = bases
                .get(&c.address)
                .map(PathBuf::as_path)
                .unwrap_or(Path::new(""));
            let (d, l) = (d.get(&c.address).copied(), l.get(&c.address).copied());
            apply_one(&session, c, d, l, base)
        })
        .await
    }
}
