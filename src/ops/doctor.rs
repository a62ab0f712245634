//! `falconer doctor`: whether a profile can be used, checked before a real run needs it. Each configured
//! system is connected to and asked its version, its TLS, who falconer is signed in as and which privileges
//! of its doc's least-privilege list the account lacks ([`crate::domains::provider::Provider::checkup`]);
//! then the state store, the backup repository and the backup key. Nothing is written: a state store or a
//! repository not made yet is said, not made.

use futures_util::future::join_all;

use super::Error;
use super::live::{LIVE_DOMAINS, Settings};
use super::repo::RepoSpec;
use crate::backup::repo::RepoError;
use crate::domains::provider::{Checkup, Provider};
use crate::model::Domain;

/// What was checked, in order: the systems (in plan order), the state store, the repository, the key.
#[derive(Debug, serde::Serialize, schemars::JsonSchema)]
pub struct Doctor {
    pub checks: Vec<Check>,
}

/// One thing checked: what it is, whether the profile (or the environment) gives it, what was found.
#[derive(Debug, serde::Serialize, schemars::JsonSchema)]
pub struct Check {
    pub subject: String,
    pub configured: bool,
    #[serde(flatten)]
    pub found: Checkup,
}

impl Doctor {
    /// How many problems were found, over every check.
    pub fn problems(&self) -> usize {
        self.checks.iter().map(|c| c.found.problems.len()).sum()
    }
}

/// Checks every system the settings give, then the state store, the repository and its key. A profile
/// that cannot be read is the error; everything else found wrong is a problem of its check.
pub async fn doctor(settings: &Settings, repo: &RepoSpec) -> Result<Doctor, Error> {
    settings.general_timeouts()?;
    let systems = join_all(LIVE_DOMAINS.iter().map(|d| system(settings, *d))).await;
    let mut checks: Vec<Check> = systems.into_iter().collect::<Result<_, _>>()?;
    checks.push(state(&settings.state).await);
    checks.push(repository(settings, repo).await?);
    checks.push(key(settings, repo));
    Ok(Doctor { checks })
}

fn problem(words: impl Into<String>) -> Checkup {
    let mut c = Checkup::default();
    c.problems.push(words.into());
    c
}

async fn system(settings: &Settings, domain: Domain) -> Result<Check, Error> {
    let subject = domain.system().to_string();
    if !settings.configured(domain)? {
        let found = Checkup::default();
        return Ok(Check {
            subject,
            configured: false,
            found,
        });
    }
    let found = match settings.connect(domain).await {
        Ok(live) => live
            .checkup()
            .await
            .unwrap_or_else(|e| problem(e.to_string())),
        Err(Error::Connect(errors)) => problem(
            errors
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; "),
        ),
        Err(e) => return Err(e),
    };
    Ok(Check {
        subject,
        configured: true,
        found,
    })
}

/// The state store: opened when it exists (a store made by an older falconer is brought up to date, as
/// every run would); a SQLite file not made yet is said with where the first run makes it.
async fn state(url: &str) -> Check {
    let subject = "state store".to_string();
    let mut found = Checkup::default();
    found.fact("location", crate::util::shown_url(url));
    if let Some(path) = url
        .strip_prefix("sqlite:")
        .map(|p| p.trim_start_matches("//"))
        && path != ":memory:"
        && !std::path::Path::new(path).exists()
    {
        let here = std::env::current_dir().unwrap_or_default().join(path);
        found.fact(
            "status",
            format!("not made yet: the first run makes it at {}", here.display()),
        );
        return Check {
            subject,
            configured: true,
            found,
        };
    }
    match crate::state::State::open(url).await {
        Ok(state) => match state.registry().tenants(None).await {
            Ok(rows) => found.fact("tenants registered", rows.len().to_string()),
            Err(e) => found.need(false, || e.to_string()),
        },
        Err(e) => found.need(false, || e.to_string()),
    };
    Check {
        subject,
        configured: true,
        found,
    }
}

/// The backup repository: reached, and whether anything was written to it yet.
async fn repository(settings: &Settings, spec: &RepoSpec) -> Result<Check, Error> {
    let subject = "backup repository".to_string();
    let url = spec.url(settings)?;
    let mut found = Checkup::default();
    found.fact("location", crate::util::shown_url(&url));
    let timeouts = settings.general_timeouts()?;
    let opened = crate::util::with_timeouts_now(timeouts, || {
        crate::backup::repo::Repo::open_with(&url, &settings.env, settings.backup_s3()?)
            .map_err(Error::from)
    });
    let written = match opened {
        Ok(repo) => crate::util::with_timeouts(timeouts, repo.must_exist()).await,
        Err(e) => {
            return Ok(Check {
                subject,
                configured: true,
                found: problem(e.to_string()),
            });
        }
    };
    match written {
        Ok(()) => found.fact("status", "reached"),
        Err(RepoError::Missing(_)) => {
            found.fact("status", "nothing written yet (the first backup writes it)")
        }
        Err(e) => found.need(false, || e.to_string()),
    };
    Ok(Check {
        subject,
        configured: true,
        found,
    })
}

/// The backup key: read and usable, or none (backups are then written unencrypted). The key is read once:
/// whether one is configured follows from what reading it gave.
fn key(settings: &Settings, spec: &RepoSpec) -> Check {
    let subject = "backup key".to_string();
    let mut found = Checkup::default();
    let read = spec.open_key(settings);
    let configured = spec.key_file.is_some() || !matches!(read, Ok(None));
    match read {
        Ok(Some(_)) => found.fact("status", "read; it can encrypt and decrypt"),
        Ok(None) => found.fact(
            "status",
            "none: backups are written unencrypted ([backup] key in the profile)",
        ),
        Err(e) => found.need(false, || e.to_string()),
    };
    Check {
        subject,
        configured,
        found,
    }
}

/// The JSON Schema of `falconer doctor --json` (schemas/doctor.schema.json).
pub fn schema() -> serde_json::Value {
    crate::util::json_schema::<Doctor>("doctor.schema.json", "falconer doctor")
}
