//! `falconer backup ...`: per-tenant backups in a repository. This file only dispatches.

mod catalog;
mod create;
mod io;
mod migrate;
mod prune;
mod schedule;
mod verify_restore;

use super::{exit, output::Output};
use crate::ops::live::Settings;

#[derive(clap::Subcommand, Debug)]
pub enum Command {
    /// Read a tenant's live configuration in every configured domain and store it as one backup.
    Create(create::CreateArgs),
    /// List backups, newest first.
    List(catalog::ListArgs),
    /// Show one backup: every domain's status, counts, digest and message, and the secrets left out.
    Show(catalog::ShowArgs),
    /// The running backups (pending and completed domains, from any process sharing the state store), or,
    /// with none running, the latest backup's outcome.
    Status(catalog::StatusArgs),
    /// Re-read every blob of a backup (or of all) and check its digest; exit 1 when one is damaged.
    Verify(catalog::VerifyArgs),
    /// Compare a tenant's live configuration with a backup: exit 0 when equivalent, 2 when it differs.
    VerifyRestore(verify_restore::VerifyArgs),
    /// Remove a backup, and the blobs no other backup uses.
    Delete(catalog::DeleteArgs),
    /// Write a backup as one self-contained file (its record and documents).
    Export(io::ExportArgs),
    /// Put a backup file, or an artifact of the platform ("1.0" / "1.0.0"), into the repository.
    Import(io::ImportArgs),
    /// Remove the backups a retention policy does not keep (restic's rules, per tenant; see docs/backup.md).
    Prune(prune::PruneArgs),
    /// Upgrade backups written in an older record format to the current one.
    Migrate(migrate::MigrateArgs),
    /// Add, list, remove, pause or resume backup schedules (kept in the state store).
    #[command(subcommand)]
    Schedule(schedule::Command),
    /// Run every schedule that is due (from cron, a systemd timer, a CronJob or a CI schedule).
    RunDue(schedule::RunDueArgs),
}

pub fn run(c: &Command, out: &Output, settings: &Settings) -> i32 {
    let repo = match c {
        Command::Create(a) => return create::run(a, out, settings),
        Command::Schedule(s) => return schedule::run(s, out, settings),
        Command::VerifyRestore(a) => return verify_restore::run(a, out, settings),
        Command::RunDue(a) => return schedule::run_due(a, out, settings),
        Command::List(a) => &a.repo,
        Command::Show(a) => &a.repo,
        Command::Status(a) => &a.repo,
        Command::Verify(a) => &a.repo,
        Command::Delete(a) => &a.repo,
        Command::Export(a) => &a.repo,
        Command::Import(a) => &a.repo,
        Command::Prune(a) => &a.repo,
        Command::Migrate(a) => &a.repo,
    };
    let repo = match repo.open(settings) {
        Ok(r) => r,
        Err(e) => return exit::fail(out, &e),
    };
    // An import writes into a repository that may not exist yet, and a status may come before the first
    // backup wrote anything; the rest read a repository.
    let reads = !matches!(c, Command::Import(_) | Command::Status(_));
    let done = super::common::run_async(out, async {
        if reads {
            repo.must_exist().await?;
        }
        match c {
            Command::List(a) => catalog::list(a, &repo).await,
            Command::Show(a) => catalog::show(a, &repo).await,
            Command::Status(a) => catalog::status(a, &repo, settings).await,
            Command::Verify(a) => catalog::verify(a, &repo).await,
            Command::Delete(a) => catalog::delete(a, &repo, out).await,
            Command::Export(a) => io::export(a, &repo, out).await,
            Command::Import(a) => io::import(a, &repo, out).await,
            Command::Prune(a) => prune::prune(a, &repo, out).await,
            Command::Migrate(a) => migrate::migrate(a, &repo, out).await,
            Command::Create(_)
            | Command::Schedule(_)
            | Command::RunDue(_)
            | Command::VerifyRestore(_) => Ok(exit::ERROR),
        }
    });
    match done {
        Some(Ok(code)) => code,
        Some(Err(e)) => exit::fail(out, &crate::ops::Error::Repo(e)),
        None => exit::ERROR,
    }
}
