//! `falconer backup verify-restore ID --tenant T`: whether the live tenant is equivalent to the backup
//! (exit 0) or differs (exit 2, the differences listed): a restore's preflight that would overwrite every
//! conflict.

use std::path::PathBuf;

use super::super::args::{MapArgs, PlanFormat, RepoArg};
use super::super::terminal::Terminal;
use super::super::{exit, output::Output};
use crate::model::Domain;
use crate::ops::live::Settings;
use crate::ops::restore::{OnConflict, Request};
use crate::ops::{Cancel, Error};

#[derive(clap::Args, Debug)]
pub struct VerifyArgs {
    /// A backup id, `latest`, or a file (as for `restore`).
    pub id: String,
    /// The live tenant to compare (with `latest`: its newest backup).
    #[arg(long)]
    pub tenant: String,
    /// Only these domains (default: every domain the backup holds).
    #[arg(long, value_name = "DOMAIN")]
    pub domain: Vec<Domain>,
    /// The tenant's manifest: its tenant block stands for the backup's.
    #[arg(long, value_name = "PATH")]
    pub manifest: Option<PathBuf>,
    /// `text`, `markdown` or `json`.
    #[arg(long, value_enum, default_value_t = PlanFormat::Text)]
    pub format: PlanFormat,
    #[command(flatten)]
    pub mapping: MapArgs,
    #[command(flatten)]
    pub repo: RepoArg,
}

pub fn run(a: &VerifyArgs, out: &Output, settings: &Settings) -> i32 {
    let req = Request {
        source: Some(a.id.clone()),
        origin: a.id.clone(),
        tenant: a.tenant.clone(),
        from_tenant: None,
        domains: a.domain.clone(),
        on_conflict: OnConflict::Overwrite,
        dry_run: true,
        map: a.mapping.request(),
        manifest: a.manifest.clone(),
        repo: a.repo.spec(),
        ..Request::default()
    };
    let events = Terminal::with_format(out, a.format);
    let cancel = Cancel::new();
    let work = crate::ops::restore::restore(settings, &req, &events, &cancel);
    let Some((report, result)) = super::super::common::run_async(out, work) else {
        return exit::ERROR;
    };
    let code = match &result {
        Ok(()) => exit::OK,
        Err(e) => exit::fail(out, e),
    };
    let Some(report) = report else {
        return code;
    };
    super::super::show::restore_outcome(a.format, &report);
    let (Ok(()), c) = (result, &report.counts) else {
        return code;
    };
    if c.create + c.update + c.replace == 0 {
        println!(
            "Equivalent: tenant `{}` is as backup {} has it.",
            a.tenant, a.id
        );
        return exit::OK;
    }
    let e = Error::Differs(format!(
        "tenant `{}` differs from the backup: {} object(s) missing, {} changed (the plan above)",
        a.tenant,
        c.create,
        c.update + c.replace
    ));
    exit::fail(out, &e)
}
