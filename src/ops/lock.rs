//! The tenant's lock, as every writing operation takes it: a lock left by a process of this host that no
//! longer runs is broken, an expired one taken over (each said as a warning), a held one refused.

use std::time::Duration;

use super::{Error, Events};
use crate::state::{Acquired, Lock, Owner, State, StateError};

/// How long a lock lasts without a heartbeat.
pub const LOCK_TTL: Duration = Duration::from_secs(300);

/// Takes the tenant's lock (an expired one is taken over, with a warning); [`Error::Locked`] names the
/// holder.
pub async fn lock_tenant(state: &State, tenant: &str, events: &dyn Events) -> Result<Lock, Error> {
    match take_lock(state, tenant, events).await? {
        Acquired::Fresh(l) => Ok(l),
        Acquired::TakenOver { lock, previous } => {
            events.warning(&format!(
                "took over the expired lock of {}",
                previous.holder()
            ));
            Ok(lock)
        }
    }
}

/// Keeps the lock alive while a long step runs (the engine also renews it before each level, and stops
/// when it is gone); abort the task when done.
pub fn keep_alive(state: &State, lock: &Lock) -> tokio::task::JoinHandle<()> {
    let (state, lock) = (state.clone(), lock.clone());
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(LOCK_TTL / 5).await;
            match state.locks().heartbeat(&lock, LOCK_TTL).await {
                Ok(true) => {}
                Ok(false) => break,
                Err(e) => tracing::warn!("could not renew the lock: {e}"),
            }
        }
    })
}

/// Takes the tenant's lock. A lock left by a process of this host that no longer runs (killed, crashed)
/// is broken first, with a warning: its run cannot be going on.
async fn take_lock(
    state: &State,
    tenant: &str,
    events: &dyn Events,
) -> Result<Acquired, StateError> {
    let me = Owner::current();
    match state.locks().lock(tenant, &me, LOCK_TTL).await {
        Err(StateError::Locked { .. }) => {
            let Some(held) = state.locks().lock_of(tenant).await? else {
                return state.locks().lock(tenant, &me, LOCK_TTL).await;
            };
            // Only where the pid means the same process: same host name, boot and pid namespace.
            if holder_is_gone(&held, &me) {
                events.warning(&format!(
                    "broke the lock of {}: that process no longer runs on this host",
                    held.holder()
                ));
                // Only that lock: another run may have broken it and taken the tenant meanwhile.
                state.locks().unlock(&held).await?;
                return state.locks().lock(tenant, &me, LOCK_TTL).await;
            }
            state.locks().lock(tenant, &me, LOCK_TTL).await
        }
        other => other,
    }
}

/// Whether a lock's holder is a process of this host (same host name, boot and pid namespace) that no
/// longer runs: only then does the pid mean what it says.
pub fn holder_is_gone(held: &Lock, me: &Owner) -> bool {
    held.host == me.host
        && !me.scope.is_empty()
        && held.scope == me.scope
        && !crate::util::process_runs(held.pid)
}

/// Releases the lock; a failure is a warning (the lock expires by itself).
pub async fn release(state: &State, lock: &Lock, events: &dyn Events) {
    if let Err(e) = state.locks().unlock(lock).await {
        events.warning(&format!("could not release the lock: {e}"));
    }
}
