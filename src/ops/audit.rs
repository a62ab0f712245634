//! What apply and restore share about the tenant registry: the suspended tenant's refusal, its
//! environment, and the history row each run leaves.

use super::{Error, Events, Refusal};
use crate::model::Tenant;
use crate::state::{HistoryRow, Owner, State};

/// Refuses a tenant the registry says is suspended.
pub async fn refuse_suspended(state: &State, tenant: &str) -> Result<(), Error> {
    let rows = state.registry().tenants(Some(tenant)).await?;
    if rows.first().is_some_and(|r| r.status == "suspended") {
        return Err(Error::Refused(Refusal::SuspendedInRegistry(tenant.into())));
    }
    Ok(())
}

/// The environment the registry gives a tenant (empty when unknown).
pub async fn environment(state: &State, tenant: &str) -> Result<String, Error> {
    Ok(state
        .registry()
        .tenants(Some(tenant))
        .await?
        .first()
        .map(|r| r.environment.clone())
        .unwrap_or_default())
}

/// What one apply or restore leaves in the history.
pub struct Audit {
    pub kind: &'static str,
    pub tenant: String,
    pub started_at: i64,
    pub source: String,
    pub digest: String,
    pub map: String,
    pub domains: Vec<String>,
    pub outcome: String,
    pub reason: String,
}

/// The history's word for how an operation ended.
pub fn outcome_of<T>(result: &Result<T, Error>) -> &'static str {
    match result {
        Ok(_) => "success",
        Err(Error::Refused(_) | Error::Locked { .. } | Error::Declined) => "refused",
        Err(_) => "failed",
    }
}

/// Records an apply or restore in the history, and after a success the tenant's naming; a failure to do
/// so is a warning (the work itself is done).
pub async fn record(state: &State, a: Audit, naming_of: Option<&Tenant>, events: &dyn Events) {
    let me = Owner::current();
    let row = HistoryRow {
        id: crate::backup::new_id(crate::util::now_millis()),
        tenant: a.tenant.clone(),
        kind: a.kind.into(),
        who: me.name,
        host: me.host,
        started_at: a.started_at,
        finished_at: crate::util::now(),
        source: a.source,
        digest: a.digest,
        map: a.map,
        domains: a.domains.join(","),
        outcome: a.outcome,
        reason: a.reason,
    };
    if let Err(e) = state.registry().record_history(&row).await {
        events.warning(&format!(
            "could not record this {} in the history: {e}",
            a.kind
        ));
    }
    if row.kind == "restore" {
        let data = serde_json::json!({
            "id": row.id,
            "outcome": row.outcome,
            "source": row.source,
            "domains": a.domains,
            "reason": row.reason,
        });
        let told = super::webhooks::Kind::RestoreFinished;
        if let Err(e) = super::webhooks::tell(state, told, &row.tenant, data).await {
            events.warning(&format!("could not write the restore's event: {e}"));
        }
    }
    if let Some(t) = naming_of {
        let naming = serde_json::to_string(&t.naming).unwrap_or_default();
        if let Err(e) = state.registry().remember_naming(&t.id, &naming).await {
            events.warning(&format!(
                "could not remember the naming of tenant `{}`: {e}",
                t.id
            ));
        }
    }
}
