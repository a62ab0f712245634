//! `falconer restore SOURCE --tenant T`: a backup (or an artifact) back into the live systems, as a plan
//! the user reads first, through [`crate::ops::restore`] (`restore status` goes to `restore_status`).

use std::path::PathBuf;

use super::args::{MapArgs, PlanFormat, RepoArg};
use super::terminal::Terminal;
use super::{exit, output::Output};
use crate::model::{Domain, HazardCode};
use crate::ops::live::Settings;
use crate::ops::restore::{OnConflict, Request};
use crate::ops::{Cancel, Error};
use crate::restore::report::Report;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    pub command: Option<Sub>,
    /// A backup id, `latest` (the tenant's newest backup that did not fail), or a file: a backup file
    /// (`backup export`) or an artifact of the platform ("1.0" or "1.0.0").
    pub source: Option<String>,
    /// Instead of SOURCE: the tenant's newest successful backup taken at or before this time (UTC,
    /// `2026-11-30T21:00:00Z`).
    #[arg(long, value_name = "TIME", conflicts_with = "source")]
    pub at: Option<String>,
    /// The tenant to restore into (the backup's own tenant). Required (optional only for `restore status`).
    #[arg(long, required = true)]
    pub tenant: Option<String>,
    /// With `latest` or `--at`: the newest backup of this tenant, not of the target (a clone: restore
    /// acme's newest backup into globex with `latest --tenant globex --from-tenant acme`).
    #[arg(long, value_name = "TENANT")]
    pub from_tenant: Option<String>,
    /// Only these domains (default: every domain the backup holds).
    #[arg(long, value_name = "DOMAIN")]
    pub domain: Vec<Domain>,
    /// What to do with objects that exist and differ from the backup: `fail` (refuse, the default), `keep` them, or `overwrite` them.
    #[arg(long, value_enum, default_value_t = OnConflict::Fail)]
    pub on_conflict: OnConflict,
    /// Also delete what falconer manages in the restored domains and the backup does not hold.
    #[arg(long)]
    pub prune: bool,
    /// Preflight only: show what the restore would do, write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// How the preflight is shown.
    #[arg(long, value_enum, default_value_t = PlanFormat::Text)]
    pub format: PlanFormat,
    /// Write the restore's report (JSON) to this file.
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
    /// Allow changes with this hazard code (repeat for several).
    #[arg(long, value_enum, value_name = "HAZARD")]
    pub allow: Vec<HazardCode>,
    /// Restore without asking.
    #[arg(long)]
    pub auto_approve: bool,
    /// After the restore, read the target again and compare it with the backup (exit 2 when they differ).
    #[arg(long)]
    pub verify: bool,
    /// Also set the sequences' current values the backup holds (they are data, not configuration: by
    /// default a restored sequence starts where its definition says).
    #[arg(long)]
    pub sequence_values: bool,
    /// Create the containers the tenant's objects live in that do not exist and can be created (a Keycloak
    /// realm), with the system's defaults (the preflight lists the security settings that take them).
    /// Without it, a missing container refuses the restore before anything is written.
    #[arg(long)]
    pub create_missing: bool,
    /// Write the objects that need a secret the backup could not carry without it (an OpenWhisk
    /// parameter); they are listed to be set after. Without it, such an object refuses the restore
    /// before anything is written.
    #[arg(long)]
    pub create_without_secrets: bool,
    /// The secrets the backup could not carry, by reference: a TOML file with a table per object address
    /// and its fields as the preflight names them, each `{ env = "NAME" }` or `{ file = "path" }`.
    #[arg(long, value_name = "FILE")]
    pub secrets: Option<PathBuf>,
    /// Leave out the objects that cannot be written as the source holds them (an action whose code was
    /// not exported), listed in the preflight and the report. Without it, they refuse the restore before
    /// anything is written.
    #[arg(long)]
    pub skip_invalid: bool,
    #[command(flatten)]
    pub mapping: MapArgs,
    /// The tenant's manifest: its `tenant` block (naming, status) stands for the backup's, and its secret
    /// references (`{ env }`, `{ file }`) fill the secrets the backup could not carry.
    #[arg(long, value_name = "PATH")]
    pub manifest: Option<PathBuf>,
    /// Restore a production tenant outside its operational hours, for this reason (kept in the history).
    #[arg(long, value_name = "REASON")]
    pub break_glass: Option<String>,
    /// The current one-time code, where the profile's `[restore] totp_secret` asks for one.
    #[arg(long, value_name = "CODE")]
    pub mfa_code: Option<String>,
    /// The time to judge operational hours and codes by (tests' fake clock, RFC 3339 UTC).
    #[arg(long, hide = true)]
    pub now: Option<String>,
    #[command(flatten)]
    pub repo: RepoArg,
}

#[derive(clap::Subcommand, Debug)]
pub enum Sub {
    /// The running restore (its domains, pending or done), else the last one's outcome; from the state
    /// store, so another machine sharing it sees the same.
    Status(super::restore_status::StatusArgs),
}

impl Args {
    pub fn tenant(&self) -> &str {
        self.tenant.as_deref().unwrap_or_default()
    }

    /// The restore asked for (`--at` and `--now` read as times).
    fn request(&self) -> Result<Request, crate::ops::Error> {
        let time = |flag: &str, t: &Option<String>| match t {
            Some(t) => crate::backup::retention::parse_time(t)
                .map(Some)
                .ok_or_else(|| {
                    let why = format!("{flag} {t:?} is not a time like 2026-11-30T21:36:22Z (UTC)");
                    crate::ops::Error::Other(why)
                }),
            None => Ok(None),
        };
        Ok(Request {
            source: self.source.clone(),
            at: time("--at", &self.at)?,
            origin: self
                .source
                .clone()
                .or_else(|| self.at.as_ref().map(|t| format!("--at {t}")))
                .unwrap_or_default(),
            tenant: self.tenant().to_string(),
            from_tenant: self.from_tenant.clone(),
            domains: self.domain.clone(),
            on_conflict: self.on_conflict,
            prune: self.prune,
            dry_run: self.dry_run,
            allow: self.allow.clone(),
            auto_approve: self.auto_approve,
            verify: self.verify,
            data_values: self.sequence_values,
            create_missing: self.create_missing,
            create_without_secrets: self.create_without_secrets,
            secrets: self.secrets.clone(),
            skip_invalid: self.skip_invalid,
            map: self.mapping.request(),
            manifest: self.manifest.clone(),
            break_glass: self.break_glass.clone(),
            mfa_code: self.mfa_code.clone(),
            now: time("--now", &self.now)?,
            repo: self.repo.spec(),
        })
    }
}

/// `falconer restore`: the restore; the outcome and the report shown, the report written with `--report`.
pub fn run(args: &Args, out: &Output, settings: &Settings) -> i32 {
    if let Some(Sub::Status(a)) = &args.command {
        return super::restore_status::status(a, out, &settings.state);
    }
    let req = match args.request() {
        Ok(r) => r,
        Err(e) => return exit::fail(out, &e),
    };
    let (report, result) = restore(&req, args.format, out, settings);
    let code = match &result {
        Ok(()) if args.verify && report.as_ref().and_then(|r| r.verified) == Some(true) => {
            println!("Verified: the target is equivalent to the backup.");
            exit::OK
        }
        Ok(()) => exit::OK,
        Err(e) => failed(out, e),
    };
    match &report {
        Some(r) => finish(args.format, args.report.as_deref(), out, r, code),
        None => code,
    }
}

/// Runs a restore with its events on the terminal.
pub fn restore(
    req: &Request,
    format: PlanFormat,
    out: &Output,
    settings: &Settings,
) -> (Option<Report>, Result<(), Error>) {
    let events = Terminal::with_format(out, format);
    let cancel = Cancel::new();
    let work = crate::ops::restore::restore(settings, req, &events, &cancel);
    super::common::run_async(out, work).unwrap_or_else(|| {
        let e = Error::Other("the restore did not start".into());
        (None, Err(e))
    })
}

/// A restore's error on standard error; its exit code.
pub fn failed(out: &Output, e: &Error) -> i32 {
    match e {
        Error::Run(f) | Error::Partial(f) => {
            for e in &f.errors {
                out.error(e.to_string());
            }
            if let Some(s) = &f.stopped {
                out.error(s.to_string());
            }
            eprintln!(
                "note: the journal keeps what was done; run the same restore again to complete the rest"
            );
            exit::of(e)
        }
        e => exit::fail(out, e),
    }
}

/// Prints the outcome (or the report as JSON), writes the report; the exit code.
pub fn finish(
    format: PlanFormat,
    path: Option<&std::path::Path>,
    out: &Output,
    report: &Report,
    code: i32,
) -> i32 {
    super::show::restore_outcome(format, report);
    if let Some(path) = path {
        let text = serde_json::to_string_pretty(report).unwrap_or_default() + "\n";
        if let Err(e) = super::common::write_atomic(path, &text) {
            out.error(format!("cannot write the report {}: {e}", path.display()));
            return code.max(exit::ERROR);
        }
    }
    code
}
