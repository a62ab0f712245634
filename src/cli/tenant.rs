//! `falconer tenant set|list` (the registry: each tenant's status, environment and naming) and
//! `falconer history` (every apply and restore: who, where, when, from what, with what outcome).

use super::{common::with_state, exit, output::Output};
use crate::state::{State, rfc3339};

#[derive(clap::Subcommand, Debug)]
pub enum TenantCommand {
    /// Sets a tenant's status and environment (a new tenant: `active`, no environment, unless given).
    Set(Box<SetArgs>),
    /// The registry: tenant, status, environment, whether its naming is known, last change.
    List {
        #[arg(long)]
        json: bool,
    },
}

#[derive(clap::Args, Debug)]
pub struct SetArgs {
    pub tenant: String,
    #[arg(long, value_parser = ["active", "suspended"])]
    pub status: Option<String>,
    /// `production`, `staging`, ... (a production tenant's restores are guarded: see `docs/restore.md`).
    #[arg(long)]
    pub environment: Option<String>,
    #[command(flatten)]
    pub naming: NamingArgs,
}

/// Declares the tenant's real naming (its scope), field by field; what is not given stays as remembered.
/// Artifacts of the platform do not always follow the defaults (topics and buckets without the tenant
/// prefix are common): once declared, their objects are in the tenant's scope.
#[derive(clap::Args, Debug, Default)]
pub struct NamingArgs {
    #[arg(long)]
    pub realm: Option<String>,
    /// A PostgreSQL schema of the tenant (repeat for several; replaces the remembered list).
    #[arg(long = "postgres-schema", value_name = "SCHEMA")]
    pub postgres_schemas: Vec<String>,
    /// A MongoDB database of the tenant (repeat for several; replaces the remembered list).
    #[arg(long = "mongo-database", value_name = "DATABASE")]
    pub mongo_databases: Vec<String>,
    /// The prefix of the tenant's topics, consumer groups and transactional ids (may be empty).
    #[arg(long, value_name = "PREFIX")]
    pub kafka_topic_prefix: Option<String>,
    #[arg(long, value_name = "NAMESPACE")]
    pub functions_namespace: Option<String>,
    /// The prefix of the tenant's buckets (may be empty).
    #[arg(long, value_name = "PREFIX")]
    pub bucket_prefix: Option<String>,
}

impl NamingArgs {
    /// `naming` with the given fields replaced; whether any was given.
    fn apply(&self, naming: &mut crate::model::Naming) -> bool {
        let mut given = false;
        let mut set = |slot: &mut Option<String>, v: &Option<String>| {
            if let Some(v) = v {
                *slot = Some(v.clone());
                given = true;
            }
        };
        set(&mut naming.realm, &self.realm);
        set(&mut naming.kafka_topic_prefix, &self.kafka_topic_prefix);
        set(&mut naming.functions_namespace, &self.functions_namespace);
        set(&mut naming.bucket_prefix, &self.bucket_prefix);
        for (slot, v) in [
            (&mut naming.postgres_schemas, &self.postgres_schemas),
            (&mut naming.mongo_databases, &self.mongo_databases),
        ] {
            if !v.is_empty() {
                *slot = Some(v.clone());
                given = true;
            }
        }
        given
    }
}

#[derive(clap::Args, Debug)]
pub struct HistoryArgs {
    #[arg(long)]
    pub tenant: Option<String>,
    /// Only `apply` or only `restore`.
    #[arg(long, value_parser = ["apply", "restore"])]
    pub kind: Option<String>,
    #[arg(long)]
    pub json: bool,
}

pub fn tenant(cmd: &TenantCommand, out: &Output, state_url: &str) -> i32 {
    with_state(out, state_url, async |state: State| match cmd {
        TenantCommand::Set(a) => {
            let known = state
                .registry()
                .tenants(Some(&a.tenant))
                .await
                .map_err(|e| e.to_string())?;
            let (status, environment) = match known.first() {
                Some(r) => (r.status.clone(), r.environment.clone()),
                None => ("active".to_string(), String::new()),
            };
            let status = a.status.clone().unwrap_or(status);
            let environment = a.environment.clone().unwrap_or(environment);
            state
                .registry()
                .set_tenant(&a.tenant, &status, &environment)
                .await
                .map_err(|e| e.to_string())?;
            let mut t = state
                .registry()
                .registered(&a.tenant)
                .await
                .map_err(|e| e.to_string())?;
            if a.naming.apply(&mut t.naming) {
                let naming = serde_json::to_string(&t.naming).map_err(|e| e.to_string())?;
                state
                    .registry()
                    .remember_naming(&a.tenant, &naming)
                    .await
                    .map_err(|e| e.to_string())?;
                println!("tenant `{}`: naming {naming}", a.tenant);
            }
            println!(
                "tenant `{}`: {status}, environment {}",
                a.tenant,
                shown(&environment)
            );
            Ok(exit::OK)
        }
        TenantCommand::List { json } => {
            let rows = state
                .registry()
                .tenants(None)
                .await
                .map_err(|e| e.to_string())?;
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
            .await
            .map_err(|e| e.to_string())?;
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
