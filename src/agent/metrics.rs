//! `/metrics`: the agent's metrics in the Prometheus text format (prometheus-client), each scrape made
//! anew from the state store (per-tenant series: the same on every agent sharing it; a tenant removed
//! from the fleet drops its series) and from this agent's own job histograms (no tenant label).

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64};

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::backup::schedule::Schedule;
use crate::fleet::report::TenantResult;
use crate::ops::agent::{Job, Observer, Outcome};
use crate::state::{State, StateError};

type Labels = Vec<(&'static str, String)>;
type Gauges = Family<Labels, Gauge<i64, AtomicI64>>;
type Seconds = Family<Labels, Gauge<f64, AtomicU64>>;

/// The buckets of job durations, in seconds: a one-tenant check to a long fleet's cycle.
const BUCKETS: [f64; 12] = [
    0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0,
];

/// This agent's own metrics, kept between scrapes.
#[derive(Clone)]
pub struct Metrics {
    jobs: Family<Labels, Histogram>,
    job_items: Family<Labels, Gauge<i64, AtomicI64>>,
    store_up: Gauge<i64, AtomicI64>,
    started: Arc<std::time::Instant>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            jobs: Family::new_with_constructor(|| Histogram::new(BUCKETS)),
            job_items: Family::default(),
            store_up: Gauge::default(),
            started: Arc::new(std::time::Instant::now()),
        }
    }
}

impl Observer for Metrics {
    fn job_done(&self, job: Job, outcome: Outcome, seconds: f64, items: usize) {
        let labels = vec![
            ("job", job.name().into()),
            ("outcome", outcome.name().into()),
        ];
        self.jobs.get_or_create(&labels).observe(seconds);
        let count = i64::try_from(items).unwrap_or(i64::MAX);
        let job = vec![("job", job.name().into())];
        self.job_items.get_or_create(&job).set(count);
    }

    fn state_store(&self, up: bool) {
        self.store_up.set(i64::from(up));
    }
}

impl Metrics {
    /// The metrics as text: the state store's series (when it answers) and this agent's.
    pub async fn render(&self, state: Option<&State>) -> String {
        let mut registry = Registry::with_prefix("falconer");
        if let Some(state) = state {
            let read = fleet_series(&mut registry, state).await;
            self.store_up.set(i64::from(read.is_ok()));
        } else {
            self.store_up.set(0);
        }
        self.own_series(&mut registry);
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut text, &registry);
        text
    }

    fn own_series(&self, registry: &mut Registry) {
        registry.register(
            "job_duration_seconds",
            "How long the agent's jobs took (drift: a cycle over the fleet; backups: the due slots), by outcome",
            self.jobs.clone(),
        );
        registry.register(
            "job_items",
            "What the last run of each job went over: tenants (drift), backups (backups), deliveries (webhooks)",
            self.job_items.clone(),
        );
        registry.register(
            "state_store_up",
            "Whether the state store answered this agent's last request (1) or not (0)",
            self.store_up.clone(),
        );
        let uptime = Gauge::<f64, AtomicU64>::default();
        uptime.set(self.started.elapsed().as_secs_f64());
        registry.register(
            "agent_uptime_seconds",
            "Seconds since this agent started",
            uptime,
        );
    }
}

/// The series every agent sharing the state store shows alike: each tenant's drift and backups, the
/// schedules' lag, the locks.
async fn fleet_series(registry: &mut Registry, state: &State) -> Result<(), StateError> {
    drift_series(registry, state).await?;
    backup_series(registry, state).await?;
    schedule_series(registry, state).await?;
    lock_series(registry, state).await?;
    work_series(registry, state).await
}

/// The agents alive and the work they hold.
async fn work_series(registry: &mut Registry, state: &State) -> Result<(), StateError> {
    let now = crate::state::now();
    let alive = state
        .claims()
        .agents(crate::ops::agent::alive_since(now))
        .await?;
    let agents = Gauge::<i64, AtomicI64>::default();
    agents.set(i64::try_from(alive.len()).unwrap_or(i64::MAX));
    registry.register(
        "agents_alive",
        "Agents sharing the state store that said they were alive in the last 30 seconds",
        agents,
    );
    let claimed = Gauges::default();
    let drift = vec![("job", crate::ops::fleet::DRIFT_JOB.to_string())];
    claimed.get_or_create(&drift).set(0);
    for c in state.claims().held(now).await? {
        claimed.get_or_create(&vec![("job", c.job.clone())]).inc();
    }
    registry.register(
        "work_claimed",
        "Items of the agents' jobs claimed now (a tenant's drift check), by job",
        claimed,
    );
    Ok(())
}

async fn drift_series(registry: &mut Registry, state: &State) -> Result<(), StateError> {
    let drifted = Gauges::default();
    let checked = Gauges::default();
    let check_ok = Gauges::default();
    let at = Seconds::default();
    let statuses = Gauges::default();
    for row in state.drift().results().await? {
        let tenant = || vec![("tenant", row.tenant.clone())];
        at.get_or_create(&tenant()).set(row.checked_at as f64);
        statuses
            .get_or_create(&vec![("status", row.status.clone())])
            .inc();
        let ok = i64::from(row.status != "could_not_check");
        check_ok.get_or_create(&tenant()).set(ok);
        let Ok(result) = serde_json::from_str::<TenantResult>(&row.result) else {
            continue;
        };
        for s in &result.systems {
            let labels = vec![("tenant", row.tenant.clone()), ("domain", s.domain.clone())];
            checked
                .get_or_create(&labels)
                .set(i64::from(s.error.is_none()));
            if s.error.is_none() {
                drifted.get_or_create(&labels).set(i64::from(s.changes > 0));
            }
        }
    }
    registry.register(
        "tenant_drift_check_ok",
        "Whether the tenant's last drift check could read every system it needs (1) or not (0)",
        check_ok,
    );
    registry.register(
        "tenant_domain_check_ok",
        "Whether the tenant's last drift check could read the domain's system (1) or not (0)",
        checked,
    );
    registry.register(
        "tenant_domain_drifted",
        "Whether the domain of the tenant differs from its manifest (1) or not (0), as last checked",
        drifted,
    );
    registry.register(
        "tenant_last_drift_check_timestamp_seconds",
        "When the tenant's drift was last checked (Unix seconds)",
        at,
    );
    registry.register(
        "tenants",
        "Tenants by the status of their last drift check",
        statuses,
    );
    Ok(())
}

async fn backup_series(registry: &mut Registry, state: &State) -> Result<(), StateError> {
    let success = Seconds::default();
    let complete = Seconds::default();
    let last_ok = Gauges::default();
    for b in state.backups().all().await? {
        let tenant = || vec![("tenant", b.tenant.clone())];
        if let Some(t) = b.success_at {
            success.get_or_create(&tenant()).set(t as f64);
        }
        if let Some(t) = b.complete_at {
            complete.get_or_create(&tenant()).set(t as f64);
        }
        last_ok
            .get_or_create(&tenant())
            .set(i64::from(b.status != "failed"));
    }
    registry.register(
        "tenant_last_backup_success_timestamp_seconds",
        "When the tenant's last backup that stored anything (ok, incomplete or partial) ended (Unix seconds)",
        success,
    );
    registry.register(
        "tenant_last_backup_complete_timestamp_seconds",
        "When the tenant's last complete (ok) backup ended (Unix seconds)",
        complete,
    );
    registry.register(
        "tenant_last_backup_stored",
        "Whether the tenant's last backup stored anything (1) or failed (0)",
        last_ok,
    );
    Ok(())
}

async fn schedule_series(registry: &mut Registry, state: &State) -> Result<(), StateError> {
    let lag = Seconds::default();
    let now = crate::state::now();
    for s in state.schedules().all().await? {
        let Ok(cron) = Schedule::parse(&s.cron) else {
            continue;
        };
        let due = cron.due(now, s.created_at).filter(|_| !s.paused);
        let last = state.schedules().last_slot(&s.name).await?;
        let behind = match (due, last) {
            (Some(due), Some((slot, status))) if slot >= due && status != "running" => 0,
            (Some(due), _) => now - due,
            (None, _) => 0,
        };
        lag.get_or_create(&vec![("schedule", s.name.clone())])
            .set(behind as f64);
    }
    registry.register(
        "schedule_lag_seconds",
        "Seconds since the schedule's due slot began while it has not run to its end (0: none due)",
        lag,
    );
    Ok(())
}

async fn lock_series(registry: &mut Registry, state: &State) -> Result<(), StateError> {
    let now = crate::state::now();
    let locks = state.locks().all().await?;
    let held = Gauge::<i64, AtomicI64>::default();
    let oldest = Gauge::<f64, AtomicU64>::default();
    let live: Vec<_> = locks.iter().filter(|l| !l.expired(now)).collect();
    held.set(i64::try_from(live.len()).unwrap_or(i64::MAX));
    let age = live.iter().map(|l| now - l.acquired_at).max().unwrap_or(0);
    oldest.set(age as f64);
    registry.register("locks_held", "Tenant locks held now", held);
    registry.register(
        "lock_oldest_age_seconds",
        "Seconds the oldest tenant lock held now has been held",
        oldest,
    );
    Ok(())
}

/// Fills a state store with a fleet of `n` tenants as a long-running agent leaves it: each checked in two
/// domains (`postgres`, `iam`), every other one drifted in `iam`, each backed up. What the tests and the
/// benchmark of the metrics measure.
pub async fn sample_fleet(state: &State, n: usize) -> Result<(), StateError> {
    use crate::fleet::report::{Status, SystemLine};
    for i in 0..n {
        let tenant = format!("tenant-{i:05}");
        let drifted = i % 2 == 1;
        let status = if drifted {
            Status::NewDrift
        } else {
            Status::InSync
        };
        let path = format!("fleet/{tenant}");
        let mut r = TenantResult::failed(tenant.clone(), path, status, String::new());
        r.errors.clear();
        r.systems = ["postgres", "iam"]
            .iter()
            .map(|d| SystemLine {
                domain: d.to_string(),
                changes: usize::from(drifted && *d == "iam"),
                error: None,
            })
            .collect();
        let row = crate::state::DriftResult {
            tenant: tenant.clone(),
            status: if drifted { "new_drift" } else { "in_sync" }.into(),
            checked_at: 1_700_000_000,
            result: sample_result(&r, drifted),
        };
        state.drift().record_result(&row, "").await?;
        let id = format!("b{i}");
        let at = 1_700_000_000;
        state
            .backups()
            .record(&tenant, (&id, "ok"), at, (true, true))
            .await?;
    }
    Ok(())
}

/// A sample tenant's result as the state store keeps it: with drift, its plan's text (about a kilobyte).
fn sample_result(r: &TenantResult, drifted: bool) -> String {
    let mut v = serde_json::to_value(r).unwrap_or_default();
    if drifted && let Some(o) = v.as_object_mut() {
        let mut plan = format!("falconer will change tenant `{}`:\n\n# wave 0\n", r.tenant);
        plan.push_str("  ~ iam.realm.acme\n      display_name: \"ACME\" -> \"ACME Corporation\"\n");
        plan.push_str(&"      # (a line of a longer plan, as a drifted tenant's are)\n".repeat(16));
        o.insert("plan".into(), plan.into());
    }
    v.to_string()
}
