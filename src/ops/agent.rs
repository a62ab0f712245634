//! The agent's jobs (`falconer serve`, docs/agent.md): a fleet's drift checked at an interval, and the
//! backup schedules run when due, until cancelled. Each job is the command's own operation (`drift` over
//! the fleet, `backup run-due`), with the same records in the state store; what came of it is told to an
//! [`Observer`] (the agent's metrics).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::live::Settings;
use super::webhooks::{self, Webhook};
use super::{Cancel, Error, Events, fleet, schedule};
use crate::fleet::report::{FailOn, Status};
use crate::state::State;

/// What the agent runs.
#[derive(Debug, Clone)]
pub struct Request {
    /// The fleet, as `drift` takes it (fleet files, globs, directories): read again at every cycle.
    pub paths: Vec<PathBuf>,
    /// The time from the start of one drift cycle to the start of the next.
    pub drift_every: Duration,
    /// Runs the backup schedules that are due (`backup run-due`), checked every `schedule_every`.
    pub schedules: bool,
    pub schedule_every: Duration,
    /// Tenants checked at once.
    pub parallelism: usize,
    /// The repository key of the schedules' backups.
    pub key_file: Option<PathBuf>,
    /// How long a running job may go on once the agent is asked to stop.
    pub grace: Duration,
    /// Where the outbox's events are delivered, and how often the due deliveries are made.
    pub webhooks: Vec<Webhook>,
    pub deliver_every: Duration,
}

/// A job of the agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Job {
    Drift,
    Backups,
    Webhooks,
}

impl Job {
    pub fn name(self) -> &'static str {
        match self {
            Job::Drift => "drift",
            Job::Backups => "backups",
            Job::Webhooks => "webhooks",
        }
    }
}

/// What came of a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// Every tenant checked, every due backup taken.
    Ok,
    /// Done, with some tenants that could not be checked or backups that failed.
    Partial,
    /// Not done (the fleet could not be read, the state store could not be reached, ...).
    Failed,
    /// Stopped by the agent's shutdown.
    Stopped,
}

impl Outcome {
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Partial => "partial",
            Outcome::Failed => "failed",
            Outcome::Stopped => "stopped",
        }
    }
}

/// Told what the agent's jobs did (the agent's metrics implement it).
pub trait Observer: Send + Sync {
    /// A job ended after `seconds`; the `items` it went over (a drift cycle's tenants, the backups taken,
    /// the deliveries made).
    fn job_done(&self, job: Job, outcome: Outcome, seconds: f64, items: usize);
    /// Whether the state store answered the last time a job opened it.
    fn state_store(&self, up: bool);
}

/// Runs the jobs until `cancel`, each at its own pace (a long drift cycle never holds up a backup slot or a
/// delivery); a job running then is given `grace` to finish, then dropped (a drift check only reads; a
/// backup's lock and its slot's lease expire and another runner takes them over; a delivery's claim
/// expires and the event is delivered again, with its id).
pub async fn run(
    settings: &Settings,
    req: &Request,
    observer: &dyn Observer,
    events: &dyn Events,
    cancel: &Cancel,
) {
    let deliveries = Deliveries::new(settings, &req.webhooks);
    let pace = |job, on, period| Pace {
        job,
        on,
        period,
        grace: req.grace,
    };
    let drift = pace(Job::Drift, !req.paths.is_empty(), req.drift_every);
    let backups = pace(Job::Backups, req.schedules, req.schedule_every);
    let hooks = pace(Job::Webhooks, !req.webhooks.is_empty(), req.deliver_every);
    tokio::join!(
        drift.run(
            || drift_cycle(settings, req, observer, events),
            observer,
            cancel
        ),
        backups.run(
            || backups_due(settings, req, observer, events),
            observer,
            cancel
        ),
        hooks.run(|| deliveries.round(observer, events), observer, cancel),
    );
}

/// How often a job runs, if at all.
struct Pace {
    job: Job,
    on: bool,
    period: Duration,
    grace: Duration,
}

impl Pace {
    /// Runs the job every period (from one start to the next) until `cancel`.
    async fn run<F, W>(self, mut work: F, observer: &dyn Observer, cancel: &Cancel)
    where
        F: FnMut() -> W,
        W: Future<Output = (Outcome, usize)>,
    {
        if !self.on {
            return;
        }
        loop {
            let next = Instant::now() + self.period;
            timed(self.job, work(), observer, self.grace, cancel).await;
            tokio::select! {
                () = cancel.cancelled() => return,
                () = tokio::time::sleep_until(next.into()) => {}
            }
        }
    }
}

/// Runs a job, timed and told to the observer; once `cancel` fires it has `grace` left.
async fn timed(
    job: Job,
    work: impl Future<Output = (Outcome, usize)>,
    observer: &dyn Observer,
    grace: Duration,
    cancel: &Cancel,
) {
    let started = Instant::now();
    let stopping = async {
        cancel.cancelled().await;
        tokio::time::sleep(grace).await;
    };
    let (outcome, items) = tokio::select! {
        done = work => done,
        () = stopping => (Outcome::Stopped, 0),
    };
    observer.job_done(job, outcome, started.elapsed().as_secs_f64(), items);
}

/// One drift check of every tenant of the fleet as it is now (tenants added or removed are picked up);
/// the results of tenants no longer in it are forgotten.
async fn drift_cycle(
    settings: &Settings,
    req: &Request,
    observer: &dyn Observer,
    events: &dyn Events,
) -> (Outcome, usize) {
    let members = match crate::fleet::resolve(&req.paths) {
        Ok(Some(members)) => members,
        Ok(None) => vec![crate::fleet::Member {
            path: req.paths[0].clone(),
            profile: None,
            group: None,
        }],
        Err(e) => {
            events.warning(&format!("the fleet could not be read: {e}"));
            return (Outcome::Failed, 0);
        }
    };
    let job = fleet::Request {
        verb: fleet::Verb::Drift {
            fail_on: FailOn::Any,
        },
        targets: Vec::new(),
        excludes: Vec::new(),
        save: None,
        parallelism: req.parallelism,
        shard: None,
    };
    let tenants = match fleet::tenants(&job, members) {
        Ok(t) => t,
        Err(e) => return failed(events, &e),
    };
    let ids: Vec<String> = tenants.0.iter().map(|t| t.id.clone()).collect();
    let outcome = match fleet::run(settings, &job, tenants, events).await {
        Ok(o) => o,
        Err(e) => {
            observer.state_store(!matches!(e, Error::State(_)));
            return failed(events, &e);
        }
    };
    observer.state_store(true);
    forget_others(settings, &ids, events).await;
    let unchecked = outcome
        .results
        .iter()
        .any(|r| r.status == Status::CouldNotCheck);
    let done = if unchecked {
        Outcome::Partial
    } else {
        Outcome::Ok
    };
    (done, outcome.results.len())
}

/// Forgets the drift results of tenants no longer in the fleet (their series leave the metrics).
async fn forget_others(settings: &Settings, ids: &[String], events: &dyn Events) {
    let forgotten = match State::open(&settings.state).await {
        Ok(state) => state.drift().forget_results(ids).await,
        Err(e) => Err(e),
    };
    if let Err(e) = forgotten {
        events.warning(&format!(
            "the results of tenants no longer in the fleet could not be forgotten: {e}"
        ));
    }
}

/// The backup schedules' due slots, each taken once by whichever runner claims it.
async fn backups_due(
    settings: &Settings,
    req: &Request,
    observer: &dyn Observer,
    events: &dyn Events,
) -> (Outcome, usize) {
    let now = crate::util::now();
    match schedule::run_due(settings, now, req.key_file.clone(), events).await {
        Ok(done) => {
            observer.state_store(true);
            let ran: Vec<_> = done.iter().filter_map(|d| d.ran.as_ref()).collect();
            let bad = ran
                .iter()
                .any(|r| r.status() != crate::backup::BackupStatus::Ok);
            let outcome = if bad { Outcome::Partial } else { Outcome::Ok };
            (outcome, ran.iter().map(|r| r.backups.len()).sum())
        }
        Err(e) => {
            observer.state_store(!matches!(e, Error::State(_)));
            failed(events, &e)
        }
    }
}

fn failed(events: &dyn Events, e: &Error) -> (Outcome, usize) {
    events.warning(&e.to_string());
    (Outcome::Failed, 0)
}

/// The agent's deliveries of the outbox's events to its webhooks, over one state store connection and
/// one HTTP client.
struct Deliveries<'a> {
    settings: &'a Settings,
    hooks: &'a [Webhook],
    holder: String,
    client: reqwest::Client,
    state: tokio::sync::Mutex<Option<State>>,
}

impl<'a> Deliveries<'a> {
    fn new(settings: &'a Settings, hooks: &'a [Webhook]) -> Deliveries<'a> {
        let me = crate::state::Owner::current();
        let tag = crate::util::random::<4>()
            .map(|b| crate::util::hex(&b))
            .unwrap_or_default();
        Deliveries {
            settings,
            hooks,
            holder: format!("{}@{}:{}:{tag}", me.name, me.host, me.pid),
            client: reqwest::Client::builder()
                .connect_timeout(Duration::from_secs(5))
                .build()
                .unwrap_or_default(),
            state: tokio::sync::Mutex::new(None),
        }
    }

    /// One round: every due delivery made (the state store opened again after it failed).
    async fn round(&self, observer: &dyn Observer, events: &dyn Events) -> (Outcome, usize) {
        let mut held = self.state.lock().await;
        let state = match held.as_ref() {
            Some(s) => s.clone(),
            None => match State::open(&self.settings.state).await {
                Ok(s) => held.insert(s).clone(),
                Err(e) => {
                    observer.state_store(false);
                    return failed(events, &Error::State(e));
                }
            },
        };
        let holder = &self.holder;
        match webhooks::deliver(&state, self.hooks, holder, &self.client, events).await {
            Ok(r) => {
                observer.state_store(true);
                let tried = r.delivered + r.failed + r.given_up;
                let done = match r.failed + r.given_up {
                    0 => Outcome::Ok,
                    _ => Outcome::Partial,
                };
                (done, tried)
            }
            Err(e) => {
                observer.state_store(false);
                *held = None;
                failed(events, &Error::State(e))
            }
        }
    }
}

/// The lock an agent on a SQLite state store holds, under a name no tenant id can have.
pub const AGENT_LOCK: &str = "(agent)";

/// An agent's hold on a SQLite state store: its lock, kept alive until released.
pub struct Sole {
    state: State,
    lock: crate::state::Lock,
    beat: tokio::task::JoinHandle<()>,
}

impl Sole {
    /// Lets the next agent in.
    pub async fn release(self, events: &dyn Events) {
        self.beat.abort();
        super::lock::release(&self.state, &self.lock, events).await;
    }
}

/// On a SQLite state store, this agent's lock: a second agent is refused, naming the first (a state store
/// on one machine's disk is one agent's); on PostgreSQL none, several agents share it.
pub async fn sole_agent(settings: &Settings, events: &dyn Events) -> Result<Option<Sole>, Error> {
    if !settings.state.starts_with("sqlite:") {
        return Ok(None);
    }
    let state = State::open(&settings.state).await?;
    match super::lock::lock_tenant(&state, AGENT_LOCK, events).await {
        Ok(lock) => {
            let beat = super::lock::keep_alive(&state, &lock);
            Ok(Some(Sole { state, lock, beat }))
        }
        Err(Error::Locked { holder, .. }) => Err(Error::Other(format!(
            "another agent ({holder}) runs on this state store: with SQLite, one agent at a time; give several agents a PostgreSQL state store (--state postgres://...)"
        ))),
        Err(e) => Err(e),
    }
}
