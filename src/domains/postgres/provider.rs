//! The PostgreSQL side of a live plan and apply: desired resources normalized by the server, live ones
//! inspected, and the plan's changes turned into statements in plan order.

use std::collections::HashMap;
use std::path::Path;

use sqlx::PgPool;

use super::{ddl, inspect, normalize};
use crate::domains::Spec;
use crate::model::{Domain, Tenant};
use crate::plan::{Item, Plan};
use crate::secrets::FingerprintKey;

/// The desired PostgreSQL resources, normalized by the server and sealed.
pub async fn desired_items(
    pool: &PgPool,
    specs: &[Spec],
    base: &Path,
    key: &FingerprintKey,
    warnings: &mut Vec<String>,
) -> Result<Vec<Item>, sqlx::Error> {
    let mut pg: Vec<Spec> = specs
        .iter()
        .filter(|s| s.meta().domain == Domain::Postgres)
        .cloned()
        .collect();
    normalize::normalize(pool, &mut pg).await?;
    Ok(pg
        .into_iter()
        .map(|s| Item::new(s, base, key, warnings))
        .collect())
}

/// The live PostgreSQL resources of the tenant, sealed.
pub async fn live_items(
    pool: &PgPool,
    tenant: &Tenant,
    key: &FingerprintKey,
) -> Result<Vec<Item>, sqlx::Error> {
    let mut warnings = Vec::new();
    Ok(inspect::inspect(pool, tenant)
        .await?
        .resources
        .into_iter()
        .map(|s| Item::new(s, Path::new(""), key, &mut warnings))
        .collect())
}

/// The statements that carry out a plan's PostgreSQL changes, in plan order.
pub fn statements(
    plan: &Plan,
    desired: &[Item],
    live: &[Item],
) -> Result<Vec<String>, ddl::DdlError> {
    let d: HashMap<String, &Spec> = desired
        .iter()
        .map(|i| (i.address.to_string(), &i.spec))
        .collect();
    let l: HashMap<String, &Spec> = live
        .iter()
        .map(|i| (i.address.to_string(), &i.spec))
        .collect();
    let mut out = Vec::new();
    for c in plan
        .changes
        .iter()
        .filter(|c| c.kind.starts_with("postgres."))
    {
        out.extend(ddl::statements(
            c.action,
            d.get(&c.address).copied(),
            l.get(&c.address).copied(),
        )?);
    }
    Ok(out)
}
