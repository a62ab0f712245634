//! `falconer tenant set|list` (the registry: each tenant's status, environment and naming) and
//! `falconer history` (every apply and restore: who, where, when, from what, with what outcome).

use super::{common::with_state, exit, output::Output};
use crate::model::Scope;
use crate::ops::live::Settings;
use crate::ops::tenant::SetRequest;
use crate::state::{State, rfc3339};

#[derive(clap::Subcommand, Debug)]
pub enum TenantCommand {
    /// Sets a tenant's status and environment (a new tenant: `active`, no environment, unless given).
    Set(Box<SetArgs>),
    /// The registry: tenant, status, environment, whether its naming is known, last change.
    List {
        /// One JSON object a line.
        #[arg(long)]
        json: bool,
    },
}

#[derive(clap::Args, Debug)]
pub struct SetArgs {
    /// The tenant id.
    pub tenant: String,
    /// `active`, or `suspended` (apply and restore refuse a suspended tenant).
    #[arg(long, value_parser = ["active", "suspended"])]
    pub status: Option<String>,
    /// `production`, `staging`, `test`, `development` (or the profile's `environments`); empty clears it. A
    /// production tenant's restores are guarded: see `docs/restore.md`.
    #[arg(long)]
    pub environment: Option<String>,
    #[command(flatten)]
    pub naming: NamingArgs,
}

/// Declares the tenant's real naming (its scope), scope by scope; what is not given stays as remembered.
/// Artifacts of the platform do not always follow the defaults (topics and buckets without the tenant
/// prefix are common): once declared, their objects are in the tenant's scope. One flag per scope the
/// domains declare (`--postgres-schema`, `--realm`, ...), named as the scope.
#[derive(Debug, Default)]
pub struct NamingArgs(Vec<(&'static Scope, Vec<String>)>);

/// The scopes a tenant's naming declares (not the tenant id itself).
fn naming_scopes() -> impl Iterator<Item = &'static Scope> {
    crate::domains::scopes().filter(|s| !s.key.is_empty())
}

impl clap::FromArgMatches for NamingArgs {
    fn from_arg_matches(m: &clap::ArgMatches) -> Result<Self, clap::Error> {
        let given = naming_scopes()
            .filter_map(|s| Some((s, m.get_many::<String>(s.name)?.cloned().collect())))
            .collect();
        Ok(NamingArgs(given))
    }

    fn update_from_arg_matches(&mut self, m: &clap::ArgMatches) -> Result<(), clap::Error> {
        *self = Self::from_arg_matches(m)?;
        Ok(())
    }
}

impl clap::Args for NamingArgs {
    fn augment_args(cmd: clap::Command) -> clap::Command {
        naming_scopes().fold(cmd, |cmd, s| {
            let arg = clap::Arg::new(s.name).long(s.name.replace('_', "-"));
            let arg = match (s.many, s.prefix) {
                (true, _) => arg
                    .value_name("NAME")
                    .action(clap::ArgAction::Append)
                    .help(format!(
                        "{} Repeat for several; replaces the remembered list.",
                        s.doc
                    )),
                (false, true) => arg
                    .value_name("PREFIX")
                    .help(format!("{} May be empty.", s.doc)),
                (false, false) => arg.value_name("NAME").help(s.doc),
            };
            cmd.arg(arg)
        })
    }

    fn augment_args_for_update(cmd: clap::Command) -> clap::Command {
        Self::augment_args(cmd)
    }
}

#[derive(clap::Args, Debug)]
pub struct HistoryArgs {
    /// Only this tenant.
    #[arg(long)]
    pub tenant: Option<String>,
    /// Only `apply` or only `restore`.
    #[arg(long, value_parser = ["apply", "restore"])]
    pub kind: Option<String>,
    /// One JSON object a line.
    #[arg(long)]
    pub json: bool,
}

pub fn tenant(cmd: &TenantCommand, out: &Output, settings: &Settings) -> i32 {
    with_state(out, &settings.state, async |state: State| match cmd {
        TenantCommand::Set(a) => {
            let req = SetRequest {
                tenant: a.tenant.clone(),
                status: a.status.clone(),
                environment: a.environment.clone(),
                naming: a.naming.0.clone(),
            };
            let set = crate::ops::tenant::set(settings, &state, &req).await?;
            if let Some(naming) = &set.naming {
                println!("tenant `{}`: naming {naming}", a.tenant);
            }
            println!(
                "tenant `{}`: {}, environment {}",
                a.tenant,
                set.status,
                shown(&set.environment)
            );
            Ok(exit::OK)
        }
        TenantCommand::List { json } => {
            let rows = state.registry().tenants(None).await?;
            if !*json {
                match rows.is_empty() {
                    true => {
                        println!("No tenants in the registry (`falconer tenant set` adds one).")
                    }
                    false => println!("TENANT\tSTATUS\tENVIRONMENT\tNAMING\tUPDATED"),
                }
            }
            for r in rows {
                if *json {
                    let v = serde_json::json!({
                        "tenant": r.tenant, "status": r.status, "environment": r.environment,
                        "naming": serde_json::from_str::<serde_json::Value>(&r.naming).ok(),
                        "updated_at": rfc3339(r.updated_at),
                    });
                    println!("{v}");
                } else {
                    let naming = if r.naming.is_empty() {
                        "naming unknown"
                    } else {
                        "naming known"
                    };
                    println!(
                        "{}\t{}\t{}\t{naming}\t{}",
                        r.tenant,
                        r.status,
                        shown(&r.environment),
                        rfc3339(r.updated_at)
                    );
                }
            }
            Ok(exit::OK)
        }
    })
}

fn shown(environment: &str) -> &str {
    if environment.is_empty() {
        "(none)"
    } else {
        environment
    }
}

pub fn history(a: &HistoryArgs, out: &Output, state_url: &str) -> i32 {
    with_state(out, state_url, async |state: State| {
        let rows = state
            .registry()
            .history(a.tenant.as_deref(), a.kind.as_deref())
            .await?;
        if !a.json {
            match rows.is_empty() {
                true => println!("No applies or restores recorded."),
                false => println!("STARTED\tTENANT\tKIND\tOUTCOME\tWHO@HOST\tSOURCE\tDOMAINS"),
            }
        }
        for r in rows {
            if a.json {
                println!("{}", serde_json::to_string(&r).unwrap_or_default());
                continue;
            }
            let reason = if r.reason.is_empty() {
                String::new()
            } else {
                format!("\treason: {}", r.reason)
            };
            println!(
                "{}\t{}\t{}\t{}\t{}@{}\t{}\t[{}]{reason}",
                rfc3339(r.started_at),
                r.tenant,
                r.kind,
                r.outcome,
                r.who,
                r.host,
                r.source,
                r.domains
            );
        }
        Ok(exit::OK)
    })
}
