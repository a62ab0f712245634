//! Work under a lease: a claim of a drift check, of a schedule's slot, a repository lock. The work runs
//! while its lease is renewed; it is dropped (before it writes more) once the lease is another's, or went
//! unrenewed for its length. The three leases' one loop.

use std::future::Future;
use std::time::{Duration, Instant};

/// How a lease is kept: renewed every `every`, lost when unrenewed for `length`.
#[derive(Debug, Clone, Copy)]
pub struct Lease {
    pub every: Duration,
    pub length: Duration,
}

/// Why the work was dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lost {
    /// The lease is another's now (it expired and was taken over).
    TakenOver,
    /// No renewal succeeded within the lease's length: the last error.
    Unrenewed(String),
}

/// Runs `work` while `renew` (asked every `lease.every`, each ask bounded by it) says the lease is still
/// this runner's. A failed renewal is told to `failed` and tried again, until the lease would run out.
pub async fn while_renewed<T, E, F>(
    lease: Lease,
    mut renew: impl FnMut() -> F,
    failed: impl Fn(&str),
    work: impl Future<Output = T>,
) -> Result<T, Lost>
where
    E: std::fmt::Display,
    F: Future<Output = Result<bool, E>>,
{
    let lost = async {
        let mut until = Instant::now() + lease.length;
        loop {
            tokio::time::sleep(lease.every).await;
            let asked = Instant::now();
            let why = match tokio::time::timeout(lease.every, renew()).await {
                Ok(Ok(true)) => {
                    until = asked + lease.length;
                    continue;
                }
                Ok(Ok(false)) => return Lost::TakenOver,
                Ok(Err(e)) => e.to_string(),
                Err(_) => format!("no answer within {} s", lease.every.as_secs_f64()),
            };
            if Instant::now() + lease.every >= until {
                return Lost::Unrenewed(why);
            }
            failed(&why);
        }
    };
    tokio::select! {
        t = work => Ok(t),
        why = lost => Err(why),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    const LEASE: Lease = Lease {
        every: Duration::from_millis(10),
        length: Duration::from_millis(35),
    };

    /// Work that never ends on its own: only a lost lease ends it (counted renewals, not times).
    async fn forever() {
        std::future::pending::<()>().await;
    }

    #[tokio::test]
    async fn a_lease_taken_over_drops_the_work() {
        let asked = AtomicUsize::new(0);
        let renew = || {
            let n = asked.fetch_add(1, Ordering::SeqCst);
            async move { Ok::<_, String>(n < 2) }
        };
        let r = while_renewed(LEASE, renew, |_| {}, forever()).await;
        assert_eq!(r, Err(Lost::TakenOver));
        assert_eq!(asked.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn failures_end_the_work_once_the_lease_runs_out() {
        let renew = || async { Err::<bool, _>("down") };
        let r = while_renewed(LEASE, renew, |_| {}, forever()).await;
        assert_eq!(r, Err(Lost::Unrenewed("down".into())));
    }

    #[tokio::test]
    async fn work_that_ends_is_kept() {
        let renew = || async { Ok::<_, String>(true) };
        let r = while_renewed(LEASE, renew, |_| {}, async { 7 }).await;
        assert_eq!(r, Ok(7));
    }
}
