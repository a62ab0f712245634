//! `falconer backup list|show|status|verify|delete`: the repository's catalog.

use std::collections::BTreeMap;

use super::super::args::RepoArg;
use super::super::show::domain_line;
use super::super::terminal::Terminal;
use super::super::{exit, output::Output};
use crate::backup::repo::{Repo, RepoError};
use crate::backup::{BackupStatus, DomainStatus, LeftOut, Record};
use crate::ops::live::Settings;
use crate::state::Work;

#[derive(clap::Args, Debug)]
pub struct ListArgs {
    /// Only this tenant's backups.
    #[arg(long)]
    pub tenant: Option<String>,
    /// Only backups with this status (ok, partial, failed).
    #[arg(long, value_parser = ["ok", "partial", "failed"])]
    pub status: Option<String>,
    /// As JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub repo: RepoArg,
}

#[derive(clap::Args, Debug)]
pub struct ShowArgs {
    /// A backup id, or `latest` (the newest backup that is not failed; with `--tenant`, of that tenant).
    pub id: String,
    /// With `latest`: the newest backup of this tenant.
    #[arg(long)]
    pub tenant: Option<String>,
    /// As JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub repo: RepoArg,
}

#[derive(clap::Args, Debug)]
pub struct StatusArgs {
    /// With `latest`: the newest backup of this tenant; without, any tenant's running backups.
    #[arg(long)]
    pub tenant: Option<String>,
    /// As JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub repo: RepoArg,
}

#[derive(clap::Args, Debug)]
pub struct VerifyArgs {
    /// A backup id, or `latest`.
    #[arg(required_unless_present = "all", conflicts_with = "all")]
    pub id: Option<String>,
    /// Every backup in the repository (with `--tenant`: every backup of that tenant).
    #[arg(long)]
    pub all: bool,
    /// `latest` and `--all` mean this tenant's backups (without it: any tenant's).
    #[arg(long)]
    pub tenant: Option<String>,
    #[command(flatten)]
    pub repo: RepoArg,
}

#[derive(clap::Args, Debug)]
pub struct DeleteArgs {
    /// The backup id.
    pub id: String,
    #[command(flatten)]
    pub repo: RepoArg,
}

pub async fn list(a: &ListArgs, repo: &Repo) -> Result<i32, RepoError> {
    let mut records = Vec::new();
    let mut damaged = 0;
    for r in repo.records(a.tenant.as_deref()).await? {
        match r {
            Ok(r)
                if a.status
                    .as_deref()
                    .is_none_or(|s| r.status.to_string() == s) =>
            {
                records.push(r)
            }
            Ok(_) => {}
            Err(e) => {
                damaged += 1;
                eprintln!("warning: {e}");
            }
        }
    }
    if a.json {
        let rows: Vec<serde_json::Value> = records.iter().map(summary).collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&rows).unwrap_or_default()
        );
    } else {
        match records.is_empty() {
            true => println!("No backups in {}.", repo.describe()),
            false => println!(
                "{:<24}  {:<16} {:<8} {:>11}  DOMAINS",
                "ID", "TENANT", "STATUS", "SIZE"
            ),
        }
        for r in &records {
            let domains: Vec<String> = r
                .domains
                .iter()
                .filter(|d| d.status.stored())
                .map(|d| d.domain.to_string())
                .collect();
            println!(
                "{:<24}  {:<16} {:<8} {:>9} B  {}",
                r.id,
                r.tenant,
                r.status,
                r.size(),
                domains.join(",")
            );
        }
    }
    Ok(if damaged > 0 { exit::ERROR } else { exit::OK })
}

/// One line of `backup list --json`.
fn summary(r: &Record) -> serde_json::Value {
    serde_json::json!({
        "id": r.id,
        "tenant": r.tenant,
        "status": r.status,
        "started_at": r.started_at,
        "finished_at": r.finished_at,
        "size": r.size(),
        "domains": r.domains.iter().filter(|d| d.status.stored()).map(|d| d.domain).collect::<Vec<_>>(),
        "tags": r.tags,
    })
}

pub async fn show(a: &ShowArgs, repo: &Repo) -> Result<i32, RepoError> {
    let r = repo.record(&a.id, a.tenant.as_deref()).await?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&r).unwrap_or_default());
        return Ok(exit::OK);
    }
    println!("Backup {} of tenant `{}`: {}", r.id, r.tenant, r.status);
    println!(
        "  taken {} .. {} on {} by falconer {}",
        r.started_at, r.finished_at, r.source, r.falconer
    );
    let read: Vec<i64> = r
        .domains
        .iter()
        .filter_map(|d| {
            d.read_at
                .as_deref()
                .and_then(crate::backup::retention::parse_time)
        })
        .collect();
    if let (Some(first), Some(last)) = (read.iter().min(), read.iter().max()) {
        println!("  domains read within {} s of each other", last - first);
    }
    for (k, v) in &r.tags {
        println!("  tag {k}={v}");
    }
    if let Some(e) = &r.encryption {
        println!("  encrypted ({}, key id {})", e.algorithm, e.key_id);
    }
    for d in &r.domains {
        println!("{}", domain_line(d));
        if let Some(digest) = &d.digest {
            println!("  {:<10} sha256:{digest} ({} bytes)", "", d.size);
        }
        for (path, digest) in &d.parts {
            println!("  {:<10} {path}: sha256:{digest}", "");
        }
        for n in &d.not_carried {
            println!("  {:<10} not carried: {}", "", n.name);
        }
    }
    let secrets: Vec<&LeftOut> = r.domains.iter().flat_map(|d| &d.secrets).collect();
    if !secrets.is_empty() {
        println!("Secrets not in the backup (set them again after a restore):");
        for s in secrets {
            println!("  {} {}", s.address, s.field);
        }
    }
    if r.left_out > 0 {
        println!(
            "{} resources left out by --include/--exclude ({} / {})",
            r.left_out,
            r.include.join(" "),
            r.exclude.join(" ")
        );
    }
    Ok(exit::OK)
}

pub async fn verify(a: &VerifyArgs, repo: &Repo) -> Result<i32, RepoError> {
    let tenant = a.tenant.as_deref();
    let records: Vec<Result<Record, RepoError>> = match &a.id {
        Some(id) => vec![repo.record(id, tenant).await],
        None => repo.records_read(tenant).await?,
    };
    if records.is_empty() {
        // A verification that checked nothing must not pass.
        return Err(RepoError::NotFound(match tenant {
            Some(t) => format!("of tenant `{t}`"),
            None => "to verify".into(),
        }));
    }
    let mut bad = 0;
    for r in &records {
        let problems = match r {
            Ok(r) => repo.verify(r).await,
            Err(e) => {
                bad += 1;
                println!("damaged: {e}");
                continue;
            }
        };
        let Ok(r) = r else { continue };
        if problems.is_empty() {
            println!("ok: {} ({} blobs)", r.id, r.blobs().count());
        } else {
            bad += 1;
            for p in problems {
                println!("damaged: {}: {p}", r.id);
            }
        }
    }
    println!("{} backups checked, {bad} damaged", records.len());
    Ok(if bad > 0 { exit::ERROR } else { exit::OK })
}

pub async fn delete(a: &DeleteArgs, repo: &Repo, out: &Output) -> Result<i32, RepoError> {
    let events = Terminal::new(out);
    let lock = crate::ops::backup::lock_repo(repo, &events).await?;
    let r = match repo.record(&a.id, None).await {
        Ok(r) => r,
        Err(e) => {
            repo.unlock(lock).await?;
            return Err(e);
        }
    };
    let removed = crate::ops::backup::renewing(repo, &lock, &events, repo.delete(&r)).await;
    repo.unlock(lock).await?;
    let removed = removed??;
    println!(
        "Deleted backup {} of tenant `{}` ({removed} blobs no other backup used).",
        r.id, r.tenant
    );
    Ok(exit::OK)
}

pub async fn status(a: &StatusArgs, repo: &Repo, settings: &Settings) -> Result<i32, RepoError> {
    let state = crate::state::State::open(&settings.state)
        .await
        .map_err(|e| RepoError::State(e.to_string()))?;
    let rows: Vec<crate::state::ProgressRow> = state
        .progress()
        .work_running(Work::Backup)
        .await
        .map_err(|e| RepoError::State(e.to_string()))?
        .into_iter()
        .filter(|r| a.tenant.as_ref().is_none_or(|t| *t == r.tenant))
        .collect();
    if !rows.is_empty() {
        print_running(&rows, a.json);
        return Ok(exit::OK);
    }
    let latest = repo
        .records(a.tenant.as_deref())
        .await?
        .into_iter()
        .flatten()
        .next();
    if a.json {
        let backup = latest.as_ref().map(|r| {
            serde_json::json!({
                "id": r.id, "tenant": r.tenant, "succeeded": r.status == BackupStatus::Ok,
                "status": r.status, "statusMessage": status_message(r),
                "startDate": r.started_at, "endDate": r.finished_at,
            })
        });
        let v = serde_json::json!({"running": false, "backup": backup});
        println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
        return Ok(exit::OK);
    }
    match latest {
        Some(r) => println!(
            "No backup running. Latest: {} of tenant `{}`, {} ({})",
            r.id,
            r.tenant,
            r.status,
            status_message(&r)
        ),
        None => println!("No backup running, and none in {}.", repo.describe()),
    }
    Ok(exit::OK)
}

/// What a backup's outcome says in words: the domains in error, with their messages.
fn status_message(r: &Record) -> String {
    let failed: Vec<String> = r
        .domains
        .iter()
        .filter(|d| d.status == DomainStatus::Error)
        .map(|d| format!("{}: {}", d.domain, d.message.as_deref().unwrap_or("error")))
        .collect();
    if failed.is_empty() {
        format!(
            "{} domains read",
            r.domains.iter().filter(|d| d.status.stored()).count()
        )
    } else {
        failed.join("; ")
    }
}

fn print_running(rows: &[crate::state::ProgressRow], json: bool) {
    let mut by_id: BTreeMap<&str, Vec<&crate::state::ProgressRow>> = BTreeMap::new();
    for r in rows {
        by_id.entry(r.id.as_str()).or_default().push(r);
    }
    if json {
        let running: Vec<serde_json::Value> = by_id
            .values()
            .map(|rs| {
                let pending: Vec<&str> = rs.iter().filter(|r| r.status == "pending").map(|r| r.domain.as_str()).collect();
                let done: Vec<serde_json::Value> = rs.iter().filter(|r| r.status != "pending")
                    .map(|r| serde_json::json!({"domain": r.domain, "status": r.status})).collect();
                serde_json::json!({"id": rs[0].id, "tenant": rs[0].tenant, "holder": rs[0].holder,
                    "startDate": crate::util::rfc3339(rs[0].started_at), "pending": pending, "completed": done})
            })
            .collect();
        let v = serde_json::json!({"running": true, "backups": running});
        println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
        return;
    }
    for rs in by_id.values() {
        println!(
            "Backup {} of tenant `{}` running since {} ({})",
            rs[0].id,
            rs[0].tenant,
            crate::util::rfc3339(rs[0].started_at),
            rs[0].holder
        );
        for r in rs {
            println!("  {:<10} {}", r.domain, r.status);
        }
    }
}
