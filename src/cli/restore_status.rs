//! `falconer restore status [--tenant T] [--json]`: the running restore's domains (pending, applying,
//! committed or failed as its steps are journaled, then each domain's outcome), from the state store
//! (another machine sharing it sees the same), else the last restore's outcome from the history.

use super::common::with_state;
use super::{exit, output::Output};
use crate::state::{State, Work, rfc3339};

#[derive(clap::Args, Debug)]
pub struct StatusArgs {
    /// The tenant whose restore to show (default: the last restore of any tenant).
    #[arg(long)]
    pub tenant: Option<String>,
    /// The outcome as JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn status(a: &StatusArgs, out: &Output, state_url: &str) -> i32 {
    with_state(out, state_url, async |state: State| {
        let rows: Vec<_> = state
            .progress()
            .work_running(Work::Restore)
            .await?
            .into_iter()
            .filter(|r| a.tenant.as_ref().is_none_or(|t| *t == r.tenant))
            .collect();
        if let Some(first) = rows.first() {
            // A domain still pending shows how far its steps got (the journal of the running run).
            let steps = state.runs().running_steps(&first.tenant).await?;
            let domains: Vec<serde_json::Value> = rows
                .iter()
                .filter(|r| r.id == first.id)
                .map(|r| {
                    let step = steps.iter().rev().find(|(d, _)| *d == r.domain);
                    let status = match (r.status.as_str(), step) {
                        ("pending", Some((_, s))) => s.clone(),
                        (s, _) => s.to_string(),
                    };
                    serde_json::json!({ "domain": r.domain, "status": status })
                })
                .collect();
            if a.json {
                let v = serde_json::json!({
                    "running": true, "id": first.id, "tenant": first.tenant, "holder": first.holder,
                    "started_at": rfc3339(first.started_at), "domains": domains,
                });
                println!("{v}");
            } else {
                println!(
                    "Restore {} of tenant `{}` running, by {}, since {}:",
                    first.id,
                    first.tenant,
                    first.holder,
                    rfc3339(first.started_at)
                );
                for d in &domains {
                    println!(
                        "  {:<10} {}",
                        d["domain"].as_str().unwrap_or_default(),
                        d["status"].as_str().unwrap_or_default()
                    );
                }
            }
            return Ok(exit::OK);
        }
        let last = state
            .registry()
            .history(a.tenant.as_deref(), Some("restore"))
            .await?
            .into_iter()
            .next();
        match (last, a.json) {
            (Some(h), true) => println!("{}", serde_json::json!({ "running": false, "last": h })),
            (None, true) => println!("{}", serde_json::json!({ "running": false, "last": null })),
            (Some(h), false) => println!(
                "No restore running. The last: tenant `{}`, {} at {} by {}@{} from {} [{}]",
                h.tenant,
                h.outcome,
                rfc3339(h.finished_at),
                h.who,
                h.host,
                h.source,
                h.domains
            ),
            (None, false) => println!("No restore running, and none recorded."),
        }
        Ok(exit::OK)
    })
}
