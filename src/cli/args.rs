//! Argument types several commands share (clap derive), and how they become the operations' requests.

use std::path::PathBuf;

use crate::backup::repo::Repo;
use crate::ops::live::Settings;

/// How a plan (or a restore's preflight) is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PlanFormat {
    Text,
    Markdown,
    Json,
}

/// The options of a fleet run, shared by `plan` and `drift`.
#[derive(clap::Args, Debug, Clone)]
pub struct FleetArgs {
    /// Fleets: tenants in flight at once (they share one connection pool per system).
    #[arg(long, default_value_t = 4, value_name = "N")]
    pub parallelism: usize,
    /// Fleets: only this job's share of the tenants, K of N (stable, by tenant id): N jobs given 1/N … N/N
    /// cover every tenant once. `auto`: K and N from the runner's parallel job (a Kubernetes Indexed Job,
    /// GitLab CI, CircleCI, Buildkite; docs/fleets.md).
    #[arg(long, value_name = "K/N|auto")]
    pub shard: Option<String>,
    /// Fleets: JSON Lines events on standard output (schema: schemas/fleet-event.schema.json).
    #[arg(long)]
    pub json: bool,
    /// Fleets: write the run's report, one JSON document (schema: schemas/fleet-report.schema.json).
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
    /// Fleets: write JUnit XML, a test suite per tenant and a test case per domain.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Fleets: no progress bar on a terminal (off a terminal, and with --json, there is none anyway).
    #[arg(short, long)]
    pub quiet: bool,
    /// Fleets: write the Markdown summary (what `--format markdown` prints) to a file as well (for a
    /// pull-request comment, or to append to `$GITHUB_STEP_SUMMARY`).
    #[arg(long, value_name = "FILE")]
    pub markdown: Option<PathBuf>,
}

impl FleetArgs {
    /// Whether any option asks for a fleet run (a single tenant then runs as a fleet of one).
    pub fn asked(&self) -> bool {
        self.shard.is_some()
            || self.json
            || self.report.is_some()
            || self.junit.is_some()
            || self.markdown.is_some()
    }
}

#[derive(clap::Args, Debug, Clone)]
pub struct RepoArg {
    /// The repository: `file:PATH` (default `file:.falconer/backups`).
    #[arg(long, env = "FALCONER_REPO")]
    pub repo: Option<String>,
    /// A file holding the repository's encryption key (32 bytes, hex or base64); else the profile's
    /// `[backup] key`. With a key, new blobs are encrypted; an encrypted repository needs its key.
    #[arg(long, env = "FALCONER_BACKUP_KEY_FILE", value_name = "PATH")]
    pub key_file: Option<PathBuf>,
}

impl RepoArg {
    /// The repository asked for.
    pub fn spec(&self) -> crate::ops::repo::RepoSpec {
        crate::ops::repo::RepoSpec {
            url: self.repo.clone(),
            key_file: self.key_file.clone(),
        }
    }

    /// The repository's URL (the flag, `FALCONER_REPO`, the profile, the default).
    pub fn url(&self, settings: &Settings) -> Result<String, crate::ops::Error> {
        self.spec().url(settings)
    }

    /// The repository, with its key.
    pub fn open(&self, settings: &Settings) -> Result<Repo, crate::ops::Error> {
        self.spec().open(settings)
    }
}

/// An identifier map, for restoring another tenant's backup.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct MapArgs {
    /// Restoring another tenant's backup: map a name of the source to the target's (`acme_app=globex_app`,
    /// `acme.=globex.` for a prefix); repeat for several. Replaces the proposal's entry for the same name.
    #[arg(long = "map", value_name = "FROM=TO")]
    pub map: Vec<String>,
    /// A file of map entries: JSON (the report's `proposed_map`, or `{"FROM": "TO"}`) or TOML (`"FROM" =
    /// "TO"` lines); `--map` entries go on top.
    #[arg(long, value_name = "FILE")]
    pub map_file: Option<PathBuf>,
    /// Restoring another tenant's backup: use the identifier map the preflight proposes (`--map` and
    /// `--map-file` entries go on top).
    #[arg(long)]
    pub accept_proposed_map: bool,
}

impl MapArgs {
    /// The identifier map asked for.
    pub fn request(&self) -> crate::ops::restore::MapRequest {
        crate::ops::restore::MapRequest {
            map: self.map.clone(),
            map_file: self.map_file.clone(),
            accept_proposed: self.accept_proposed_map,
        }
    }
}

/// `--shard`: K/N as given, or for `auto` the runner's job index and count read from the environment
/// (said on standard error).
pub fn shard(given: Option<&str>) -> Result<Option<crate::fleet::Shard>, crate::fleet::FleetError> {
    match given {
        None => Ok(None),
        Some("auto") => {
            let (s, runner) = crate::fleet::Shard::auto(|k| std::env::var(k).ok())?;
            eprintln!("--shard auto: this job's share is {s} ({runner})");
            Ok(Some(s))
        }
        Some(k_of_n) => crate::fleet::Shard::parse(k_of_n).map(Some),
    }
}
