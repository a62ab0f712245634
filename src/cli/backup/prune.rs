//! `falconer backup prune`: the backups a retention policy does not keep, removed (restic's rules, per
//! tenant; through [`crate::ops::backup::prune`]).

use super::super::args::RepoArg;
use super::super::terminal::Terminal;
use super::super::{exit, output::Output};
use crate::backup::repo::{Repo, RepoError};
use crate::ops::backup::Keep;

#[derive(clap::Args, Debug)]
pub struct PruneArgs {
    #[command(flatten)]
    pub keep: Keep,
    /// Only this tenant's backups.
    #[arg(long)]
    pub tenant: Option<String>,
    /// Say what would be removed, remove nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// What was kept and removed, as JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub repo: RepoArg,
}

pub async fn prune(a: &PruneArgs, repo: &Repo, out: &Output) -> Result<i32, RepoError> {
    let policy = match a.keep.policy() {
        Ok(p) if p.is_empty() => {
            out.error("refused: an empty policy would remove every backup but the newest of each tenant; give at least one --keep-* rule");
            return Ok(exit::REFUSED);
        }
        Ok(p) => p,
        Err(e) => {
            out.error(e);
            return Ok(exit::ERROR);
        }
    };
    let events = Terminal::new(out);
    let pruning = crate::ops::backup::Pruning {
        policy: &policy,
        tenant: a.tenant.as_deref(),
        dry_run: a.dry_run,
    };
    let pruned = crate::ops::backup::prune(repo, &pruning, &events).await?;
    super::super::show::pruned(&pruned, a.dry_run, a.json);
    Ok(exit::OK)
}
