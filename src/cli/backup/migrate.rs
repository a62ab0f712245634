//! `falconer backup migrate`: upgrades backups written in an older record format to the current one, in
//! place (each record is rewritten whole, after the blobs it names; the blobs only the old records used are
//! removed at the end). Format 1 → 2: each action's code moves out of its document into a blob of its own.

use super::super::args::RepoArg;
use super::super::terminal::Terminal;
use super::super::{exit, output::Output};
use crate::backup::repo::{Repo, RepoError};
use crate::backup::{FORMAT_VERSION, Record};
use crate::ops::backup::{lock_repo, renewing, stored};

#[derive(clap::Args, Debug)]
pub struct MigrateArgs {
    /// A backup id; without one, every backup in an older format (of `--tenant`, when given).
    pub id: Option<String>,
    /// Only this tenant's backups.
    #[arg(long)]
    pub tenant: Option<String>,
    /// Say what would be migrated; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub repo: RepoArg,
}

pub async fn migrate(a: &MigrateArgs, repo: &Repo, out: &Output) -> Result<i32, RepoError> {
    let records: Vec<Record> = match &a.id {
        Some(id) => vec![repo.record(id, a.tenant.as_deref()).await?],
        None => repo
            .records_read(a.tenant.as_deref())
            .await?
            .into_iter()
            .flatten()
            .collect(),
    };
    let old: Vec<Record> = records
        .into_iter()
        .filter(|r| r.format_version < FORMAT_VERSION)
        .collect();
    if old.is_empty() {
        println!("Nothing to migrate: every backup is in format {FORMAT_VERSION}.");
        return Ok(exit::OK);
    }
    if a.dry_run {
        for r in &old {
            println!(
                "would migrate backup {} of `{}` from format {} to {FORMAT_VERSION}",
                r.id, r.tenant, r.format_version
            );
        }
        return Ok(exit::OK);
    }
    let events = Terminal::new(out);
    let held = lock_repo(repo, &events).await?;
    let done = renewing(repo, &held, &events, migrate_all(repo, &old, out)).await;
    let removed = match done {
        Ok(Ok(code)) => repo.collect().await.map(|n| (code, n)),
        Ok(Err(e)) | Err(e) => Err(e),
    };
    repo.unlock(held).await?;
    let (code, removed) = removed?;
    println!("{removed} blobs no backup uses any more were removed.");
    Ok(code)
}

/// Migrates each record; the exit code (1 when one could not be).
async fn migrate_all(repo: &Repo, old: &[Record], out: &Output) -> Result<i32, RepoError> {
    let mut code = exit::OK;
    for r in old {
        match upgraded(repo, r).await {
            Ok(new) => {
                repo.put_record(&new).await?;
                let parts: usize = new.domains.iter().map(|d| d.parts.len()).sum();
                println!(
                    "migrated backup {} of `{}` from format {} to {FORMAT_VERSION} ({parts} parts stored apart)",
                    r.id, r.tenant, r.format_version
                );
            }
            Err(e) => {
                out.error(format!("backup {} was not migrated: {e}", r.id));
                code = exit::ERROR;
            }
        }
    }
    Ok(code)
}

/// A record in the current format: each stored document read, its files (each action's code) stored apart
/// and the document stored again without them; statuses, counts, times and secrets left out are kept.
async fn upgraded(repo: &Repo, r: &Record) -> Result<Record, RepoError> {
    let mut new = r.clone();
    for entry in new.domains.iter_mut().filter(|d| d.status.stored()) {
        let Some(digest) = &entry.digest else {
            continue;
        };
        let bytes = repo.get_blob(digest).await?;
        let damaged = |reason: String| RepoError::Damaged {
            digest: digest.clone(),
            reason: format!("its {} document: {reason}", entry.domain),
        };
        let doc: serde_json::Value =
            serde_json::from_slice(&bytes).map_err(|e| damaged(format!("not JSON: {e}")))?;
        let (tenant, specs) = crate::falcone::write::read_document(&doc).map_err(damaged)?;
        let again = stored(repo, &tenant, entry.domain, specs, None).await?;
        entry.digest = again.digest;
        entry.size = again.size;
        entry.parts = again.parts;
    }
    new.format_version = FORMAT_VERSION;
    new.encryption = repo.encryption();
    Ok(new)
}
