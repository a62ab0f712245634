//! Why an operation did not do what it was asked: typed, so that a caller decides on the variant (the command
//! line's exit code, an agent's retry), never on the message.

use crate::diag::{Issue, Sources};
use crate::domains::provider::ProviderError;
use crate::domains::systems::ConnectError;
use crate::engine::Stopped;
use crate::model::{Domain, HazardCode};
use crate::state::StateError;

/// An operation's failure.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The input has errors (each an issue with its place; warnings may come with them).
    #[error("the input has errors")]
    Invalid {
        issues: Vec<Issue>,
        sources: Sources,
    },
    /// Systems could not be reached: each says which (every system is tried, so that one missing connection
    /// does not hide another).
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
    Connect(Vec<ConnectError>),
    /// A system failed a read or a check; the error names it.
    #[error(transparent)]
    System(#[from] ProviderError),
    /// The connection profile could not be read or is wrong.
    #[error("{0}")]
    Profile(#[from] crate::profile::ProfileError),
    /// The state store failed.
    #[error(transparent)]
    State(StateError),
    /// Another run holds the tenant's lock.
    #[error(
        "tenant `{tenant}` is locked by {holder}; wait for that run, or break a stale lock with `falconer lock break {tenant}`"
    )]
    Locked { tenant: String, holder: String },
    /// The backup repository failed, or another run holds its lock.
    #[error(transparent)]
    Repo(#[from] crate::backup::repo::RepoError),
    /// Refused before anything was written.
    #[error("{0}")]
    Refused(Refusal),
    /// A person was asked and did not say yes: nothing was written.
    #[error("not approved: nothing was written")]
    Declined,
    /// Approval was needed and nobody could be asked (no terminal): what to do instead.
    #[error("{0}")]
    NotApproved(&'static str),
    /// The run started writing and did not finish: what failed, and what was done.
    #[error("{0}")]
    Run(RunFailure),
    /// Some domains were written and others failed: each says why; the same run again completes the rest.
    #[error("{0}")]
    Partial(RunFailure),
    /// A verification found the target different from what was asked.
    #[error("{0}")]
    Differs(String),
    /// The work is done, but the state store could not record it (the next run records it).
    #[error("{0}")]
    Unrecorded(String),
    /// Cancelled before its next write.
    #[error("cancelled before the next write")]
    Cancelled,
    /// The identifier map asked for cannot be used.
    #[error(transparent)]
    Map(#[from] crate::restore::map::MapError),
    /// A file could not be read or written.
    #[error(transparent)]
    File(#[from] crate::util::FileError),
    /// The plan cannot be made: a cycle, a bad pattern, a `--target` that matches nothing.
    #[error(transparent)]
    Plan(#[from] crate::plan::PlanError),
    /// Anything else, as a message for a person (nothing decides on it).
    #[error("{0}")]
    Other(String),
}

impl From<StateError> for Error {
    fn from(e: StateError) -> Error {
        match e {
            StateError::Locked { tenant, holder } => Error::Locked { tenant, holder },
            e => Error::State(e),
        }
    }
}

impl Error {
    /// The system that failed, when one did.
    pub fn domain(&self) -> Option<Domain> {
        match self {
            Error::Connect(c) => c.first().map(|c| c.domain),
            Error::System(e) => Some(e.domain()),
            Error::Run(r) | Error::Partial(r) => r.errors.first().map(ProviderError::domain),
            _ => None,
        }
    }
}

/// Why an operation refused to write.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The manifest's tenant block says the tenant is suspended.
    #[error("tenant `{0}` is suspended: nothing is applied to a suspended tenant")]
    Suspended(String),
    /// The tenant registry says the tenant is suspended.
    #[error(
        "tenant `{0}` is suspended in the tenant registry: nothing is written to a suspended tenant (`falconer tenant set {0} --status active` to lift it)"
    )]
    SuspendedInRegistry(String),
    /// The plan has changes that cannot be made.
    #[error(
        "refused: the plan has changes that cannot be made (IMPOSSIBLE); change the manifest (see the plan above)"
    )]
    Impossible,
    /// The plan has hazards that were not allowed.
    #[error(
        "refused: the plan has hazards that are not allowed: {}; re-run with {} after reading what each would do",
        .0.iter().map(ToString::to_string).collect::<Vec<_>>().join(", "),
        .0.iter().map(|h| format!("--allow {h}")).collect::<Vec<_>>().join(" ")
    )]
    Hazards(Vec<HazardCode>),
    /// A saved plan no longer matches the manifest or the live state.
    #[error(
        "{0} is stale: the manifest or the live state changed since it was planned; plan again"
    )]
    Stale(String),
    /// A saved plan was made against a file, not the live systems.
    #[error(
        "{plan} was planned against {against}, not the live systems: plan against them (`falconer plan {manifest} -o FILE`) to apply"
    )]
    PlannedOffline {
        plan: String,
        against: String,
        manifest: String,
    },
    /// The production guard refused the restore (operational hours, one-time code).
    #[error("{0}")]
    Production(String),
    /// The containers the tenant's objects live in do not exist (a Keycloak realm): nothing is written.
    #[error(
        "refused before writing: the containers the tenant's objects live in do not exist: {}; create them, or re-run with --create-missing to create those falconer can, with the system's defaults",
        .0.join(", ")
    )]
    MissingContainers(Vec<String>),
    /// Objects the restore would write need secrets the backup could not carry (`ADDRESS FIELD`).
    #[error(
        "refused before writing: these objects cannot be written without secrets the backup could not carry: {}; give each in a manifest (`--manifest`, the object declared with `{{ env = \"NAME\" }}` or `{{ file = \"path\" }}` in place of the value), or re-run with --create-without-secrets to write the objects without them (then set them)",
        .0.join(", ")
    )]
    SecretsUnknown(Vec<String>),
    /// Objects the restore would create lack what their creation needs (`ADDRESS: what`).
    #[error(
        "refused before writing: these objects cannot be created from this source: {}; give them in a manifest (`--manifest`), restore without their domain (`--domain`), or re-run with --skip-invalid to leave them out (listed in the report)",
        .0.join("; ")
    )]
    CannotCreate(Vec<String>),
    /// Objects of the source break rules the systems hold their configuration to (`ADDRESS PART: why`).
    #[error(
        "refused before writing: these objects break rules their systems would refuse them by: {}; correct the source, restore without their domain (`--domain`), or re-run with --skip-invalid to leave out what breaks a rule (a lifecycle or CORS rule alone, else the object; listed in the report)",
        .0.join("; ")
    )]
    BreaksRules(Vec<String>),
    /// Systems refused the connection for a reason a later run would meet again (a setting, a secret,
    /// credentials): `DOMAIN: why`.
    #[error(
        "refused before writing: these systems cannot be connected to: {}; correct the connection (the profile, its secrets), or restore without their domains (`--domain`)",
        .0.join("; ")
    )]
    CannotConnect(Vec<String>),
    /// Any other refusal, in words.
    #[error("{0}")]
    Other(String),
}

/// A run that started writing and stopped before its end.
#[derive(Debug)]
pub struct RunFailure {
    /// What the systems refused or failed.
    pub errors: Vec<ProviderError>,
    /// Why the run stopped between steps, if it did (a lost lock, the state store, a cancellation).
    pub stopped: Option<Stopped>,
    /// The domains whose changes were applied.
    pub done: Vec<Domain>,
}

impl From<crate::engine::Outcome> for RunFailure {
    fn from(o: crate::engine::Outcome) -> RunFailure {
        RunFailure {
            errors: o.errors,
            stopped: o.stopped,
            done: o.done,
        }
    }
}

impl RunFailure {
    /// Whether the only reason is a lost lock.
    pub fn lock_lost(&self) -> bool {
        self.errors.is_empty() && matches!(self.stopped, Some(Stopped::LockLost(_)))
    }
}

impl std::fmt::Display for RunFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut lines: Vec<String> = self.errors.iter().map(ToString::to_string).collect();
        lines.extend(self.stopped.as_ref().map(ToString::to_string));
        write!(f, "{}", lines.join("\n"))
    }
}
