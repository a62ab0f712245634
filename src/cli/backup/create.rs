//! `falconer backup create`: one tenant's live configuration, every domain at once, stored as one backup
//! (through [`crate::ops::backup::create`]); a fleet's tenants each by a process of their own.

use std::ffi::OsString;
use std::path::PathBuf;

use super::super::args::RepoArg;
use super::super::fleet_each;
use super::super::terminal::Terminal;
use super::super::{exit, output::Output};
use crate::backup::repo::Repo;
use crate::backup::{BackupStatus, Record};
use crate::fleet::Member;
use crate::model::Domain;
use crate::ops::backup::CreateRequest;
use crate::ops::live::Settings;

#[derive(clap::Args, Debug, Clone)]
pub struct CreateArgs {
    /// The tenant to back up.
    #[arg(long, required_unless_present = "manifest")]
    pub tenant: Option<String>,
    /// Take the tenant's naming conventions (its scope) from this manifest's `tenant` block. Without
    /// `--tenant`, the tenant is the manifest's; a fleet (a directory of tenants, a glob, a fleet file: see
    /// docs/fleets.md) backs up each of its tenants, `--parallelism` at once.
    #[arg(long, value_name = "PATH")]
    pub manifest: Option<PathBuf>,
    /// Only these domains (default: all six; those without a connection are recorded as not available).
    #[arg(long, value_name = "DOMAIN")]
    pub domain: Vec<Domain>,
    /// A label for the backup (`KEY=VALUE`), repeatable.
    #[arg(long, value_name = "KEY=VALUE", value_parser = tag)]
    pub tag: Vec<(String, String)>,
    /// Only resources whose address matches one of these globs.
    #[arg(long, value_name = "ADDR")]
    pub include: Vec<String>,
    /// Leave out resources whose address matches one of these globs.
    #[arg(long, value_name = "ADDR")]
    pub exclude: Vec<String>,
    /// No progress lines on a terminal (off a terminal there are none anyway).
    #[arg(short, long)]
    pub quiet: bool,
    /// Print the record as JSON.
    #[arg(long)]
    pub json: bool,
    /// While another run holds the tenant's lock, wait up to this long (`30s`, `5m`, `1h`) instead of
    /// stopping with exit 3.
    #[arg(long, value_name = "DURATION", value_parser = wait_for)]
    pub wait: Option<u64>,
    /// Fleets: tenants backed up at once, each by a falconer process of its own, its output printed whole
    /// when it ends.
    #[arg(long, default_value_t = 4, value_name = "N")]
    pub parallelism: usize,
    /// Exit 5 when the backup is `incomplete` (a domain holds objects no kind carries); it is stored either
    /// way.
    #[arg(long)]
    pub strict: bool,
    #[command(flatten)]
    pub repo: RepoArg,
}

/// `--wait`: seconds, minutes or hours (`30s`, `5m`, `1h`).
fn wait_for(s: &str) -> Result<u64, String> {
    let (n, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = n
        .parse()
        .map_err(|_| format!("{s:?} is not a duration like 30s, 5m or 1h"))?;
    match unit {
        "s" | "" => Ok(n),
        "m" => Ok(n * 60),
        "h" => Ok(n * 3600),
        _ => Err(format!("{s:?} is not a duration like 30s, 5m or 1h")),
    }
}

fn tag(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(format!("{s:?} is not KEY=VALUE")),
    }
}

impl CreateArgs {
    /// The backup asked for: the tenant `--tenant` names, else the one `--manifest` declares.
    fn request(&self) -> Result<CreateRequest, crate::ops::Error> {
        use crate::ops::Error;
        let tenant = match (&self.tenant, &self.manifest) {
            (Some(t), _) => t.clone(),
            (None, Some(path)) => {
                let loaded =
                    crate::manifest::load_path(path, crate::manifest::LoadOptions::default());
                loaded.manifest.map(|m| m.tenant.id).ok_or_else(|| Error::Other(format!(
                    "{0}: no tenant to back up: the manifest cannot be read (see `falconer validate {0}`), or give --tenant",
                    path.display()
                )))?
            }
            (None, None) => {
                let why = "no tenant to back up: give --tenant or --manifest";
                return Err(Error::Other(why.into()));
            }
        };
        Ok(CreateRequest {
            tenant,
            manifest: self.manifest.clone(),
            domains: self.domain.clone(),
            tags: self.tag.clone(),
            include: self.include.clone(),
            exclude: self.exclude.clone(),
            wait: self.wait,
            at_ms: None,
        })
    }
}

/// `backup create`: one tenant, or each tenant of the fleet `--manifest` names.
pub fn run(a: &CreateArgs, out: &Output, settings: &Settings) -> i32 {
    if let Some(code) = fleet(a, out, settings) {
        return code;
    }
    let repo = match a.repo.open(settings) {
        Ok(r) => r,
        Err(e) => return exit::fail(out, &e),
    };
    super::super::common::block_on(out, one(a, out, settings, &repo))
}

/// Takes one backup; its exit code.
async fn one(a: &CreateArgs, out: &Output, settings: &Settings, repo: &Repo) -> i32 {
    let req = match a.request() {
        Ok(r) => r,
        Err(e) => return exit::fail(out, &e),
    };
    let events = Terminal::with_progress(out, a.quiet || a.json);
    let created = crate::ops::backup::create(settings, repo, &req, &events).await;
    events.clear_progress();
    match created {
        Ok(record) => {
            report_created(&record, a.json);
            match record.status {
                BackupStatus::Incomplete if a.strict => exit::PARTIAL,
                status => code_of(status),
            }
        }
        Err(e) => exit::fail(out, &e),
    }
}

/// The exit code of a backup's outcome.
fn code_of(status: BackupStatus) -> i32 {
    match status {
        BackupStatus::Ok | BackupStatus::Incomplete => exit::OK,
        BackupStatus::Partial => exit::PARTIAL,
        BackupStatus::Failed => exit::ERROR,
    }
}

fn report_created(r: &Record, json: bool) {
    if json {
        println!("{}", serde_json::to_string_pretty(r).unwrap_or_default());
        return;
    }
    super::super::show::backup_created(r);
}

/// Runs `backup create` for each tenant of the fleet `--manifest` names (without `--tenant`):
/// `Some(exit code)`; `None` when it names one tenant.
fn fleet(args: &CreateArgs, out: &Output, settings: &Settings) -> Option<i32> {
    let path = args.manifest.as_ref().filter(|_| args.tenant.is_none())?;
    let members = match crate::fleet::resolve(std::slice::from_ref(path)) {
        Ok(m) => m?,
        Err(e) => return Some(fleet_each::failed(&e.to_string(), out)),
    };
    if args.parallelism > 1 {
        let argv = |m: &Member| {
            let id = fleet_each::tenant_of(&m.path)?;
            let given: [OsString; 4] = [
                "--manifest".into(),
                m.path.clone().into(),
                "--tenant".into(),
                id.into(),
            ];
            Ok(fleet_each::command_line(&[], &["--manifest"], &given))
        };
        let outcomes = fleet_each::in_processes(&members, args.parallelism, settings, argv);
        return Some(fleet_each::finish("backup create", "backed up", &outcomes));
    }
    Some(fleet_each::each(
        "backup create",
        "backed up",
        &members,
        settings,
        |m, s| {
            let loaded =
                crate::manifest::load_path(&m.path, crate::manifest::LoadOptions::default());
            let Some(manifest) = loaded.manifest else {
                out.error(format!(
                    "{0}: the manifest cannot be read (see `falconer validate {0}`)",
                    m.path.display()
                ));
                return exit::ERROR;
            };
            let one = CreateArgs {
                tenant: Some(manifest.tenant.id.clone()),
                manifest: Some(m.path.clone()),
                ..args.clone()
            };
            let repo = match one.repo.open(s) {
                Ok(r) => r,
                Err(e) => return exit::fail(out, &e),
            };
            super::super::common::block_on(out, self::one(&one, out, s, &repo))
        },
    ))
}
