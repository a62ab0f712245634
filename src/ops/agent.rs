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
    /// The time from the start of one drift cycle to the start of the next. Cycles start at multiples of
    /// it since the epoch, so agents sharing a state store run the same cycle (slot), each tenant checked
    /// by one of them.
    pub drift_every: Duration,
    /// How long a claim of a tenant's check lasts unrenewed (renewed every third of it): a check whose
    /// agent died is taken over after it.
    pub lease: Duration,
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
    (settings, store, demands): (&Settings, &Store, &Demands),
    req: &Request,
    observer: &dyn Observer,
    events: &dyn Events,
    cancel: &Cancel,
) {
    let holder = holder();
    let deliveries = Deliveries::new(store, &req.webhooks, &holder);
    let drifts = Drifts {
        settings,
        store,
        req,
        observer,
        events,
        holder: &holder,
        cancel,
        demands,
    };
    let pace = |job, on, period| Pace {
        job,
        on,
        period,
        grace: req.grace,
        aligned: false,
    };
    let drift = Pace {
        aligned: true,
        ..pace(Job::Drift, !req.paths.is_empty(), req.drift_every)
    };
    let backups = pace(Job::Backups, req.schedules, req.schedule_every);
    let hooks = pace(Job::Webhooks, !req.webhooks.is_empty(), req.deliver_every);
    tokio::join!(
        heartbeat(store, &holder, cancel),
        drifts.demands(demands),
        drift.run(|| drifts.cycle(), observer, cancel),
        backups.run(|| drifts.backups_due(), observer, cancel),
        hooks.run(|| deliveries.round(observer, events), observer, cancel),
    );
    drifts.hand_back().await;
}

/// How often an agent says it is alive in the state store; one not seen for two of these is not counted.
pub const HEARTBEAT: Duration = Duration::from_secs(15);
/// Since when an agent must have been seen at `now` to be alive: two heartbeats.
pub fn alive_since(now: i64) -> i64 {
    now - 2 * i64::try_from(HEARTBEAT.as_secs()).unwrap_or(15)
}

/// The heartbeats between two prunes of the outbox (an hour).
const PRUNE_EVERY: u64 = 240;

/// Says in the state store that this agent is alive, every [`HEARTBEAT`] until `cancel`, and prunes the
/// outbox of events older than [`webhooks::KEEP`]; then says that it left.
async fn heartbeat(store: &Store, holder: &str, cancel: &Cancel) {
    let started = crate::util::now();
    let host = crate::state::Owner::current().host;
    for beat in 0u64.. {
        if let Ok(state) = store.get().await {
            // The outbox's old events, and agents gone a day without saying so, go at the first beat
            // and then hourly, webhooks or not.
            if beat % PRUNE_EVERY == 0 {
                let now = crate::util::now();
                let _ = state.outbox().prune(now - webhooks::KEEP).await;
                let _ = state.claims().forget_agents(now - 86_400).await;
            }
            let me = crate::state::AgentRow {
                id: holder.into(),
                host: host.clone(),
                version: env!("CARGO_PKG_VERSION").into(),
                started_at: started,
                seen_at: crate::util::now(),
            };
            // A state store that does not answer is the jobs' to tell; the next beat tries again.
            let _ = state.claims().beat(&me).await;
        }
        tokio::select! {
            () = cancel.cancelled() => break,
            () = tokio::time::sleep(HEARTBEAT) => {}
        }
    }
    if let Ok(state) = store.get().await {
        let _ = state.claims().leave(holder).await;
    }
}

/// This agent, as its claims and deliveries name their holder: unique per process.
fn holder() -> String {
    let me = crate::state::Owner::current();
    let tag = crate::util::random::<4>()
        .map(|b| crate::util::hex(&b))
        .unwrap_or_default();
    format!("{}@{}:{}:{tag}", me.name, me.host, me.pid)
}

/// How often a job runs, if at all.
struct Pace {
    job: Job,
    on: bool,
    period: Duration,
    grace: Duration,
    /// Runs start at multiples of the period since the epoch (the first at once).
    aligned: bool,
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
            let next = Instant::now() + self.until_next();
            timed(self.job, work(), observer, self.grace, cancel).await;
            tokio::select! {
                () = cancel.cancelled() => return,
                () = tokio::time::sleep_until(next.into()) => {}
            }
        }
    }
}

impl Pace {
    /// The time to the next run's start.
    fn until_next(&self) -> Duration {
        if !self.aligned {
            return self.period;
        }
        let period = self.period.as_millis().max(1);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis();
        let left = period - now % period;
        Duration::from_millis(u64::try_from(left).unwrap_or(u64::MAX))
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

/// What the drift and backup jobs share: the settings, the agent's state store, the observer.
struct Drifts<'a> {
    settings: &'a Settings,
    store: &'a Store,
    req: &'a Request,
    observer: &'a dyn Observer,
    events: &'a dyn Events,
    holder: &'a str,
    cancel: &'a Cancel,
    demands: &'a Demands,
}

impl Drifts<'_> {
    /// The state store (told to the observer when it cannot be opened).
    async fn state(&self) -> Result<State, Error> {
        let opened = self.store.get().await;
        self.observer.state_store(opened.is_ok());
        opened.map_err(Error::State)
    }

    /// One drift check of every tenant of the fleet as it is now (tenants added or removed are picked
    /// up), shared with the other agents: each tenant claimed for this cycle's slot by one of them. Once
    /// this agent has gone over the fleet, it waits for the tenants other agents hold, and takes over
    /// those whose lease ran out, until every tenant was checked in the slot (or the slot ends, or the
    /// agent stops). The results of tenants no longer in the fleet are forgotten.
    async fn cycle(&self) -> (Outcome, usize) {
        let events = self.events;
        let members = match crate::fleet::members_of(&self.req.paths) {
            Ok(members) => members,
            Err(e) => {
                events.warning(&format!("the fleet could not be read: {e}"));
                return (Outcome::Failed, 0);
            }
        };
        let every = self.req.drift_every.as_secs().max(1);
        let slot = crate::util::now() / i64::try_from(every).unwrap_or(i64::MAX);
        let drift = fleet::Verb::Drift {
            fail_on: FailOn::Any,
        };
        let job = fleet::Request {
            share: Some(fleet::Share {
                slot,
                holder: self.holder.to_string(),
                lease: self.req.lease,
                stop: self.cancel.clone(),
                trouble: Default::default(),
            }),
            ..fleet::Request::of(drift, self.req.parallelism)
        };
        // The manifests are read once for the first pass; later passes read only the tenants left.
        let loaded = match fleet::tenants(&job, members.clone()) {
            Ok(loaded) => loaded,
            Err(e) => return failed(events, &e),
        };
        let ids: Vec<String> = loaded.0.iter().map(|t| t.id.clone()).collect();
        let mut pass = Pass {
            drifts: self,
            job,
            members: members.into_iter().zip(ids.iter().cloned()).collect(),
            first: Some(loaded),
            slot,
            checked: Vec::new(),
        };
        self.demands.know(&pass.members);
        let ended = pass.until_all_done().await;
        if let Ok(state) = self.store.get().await
            && let Err(e) = state.drift().forget_results(&ids).await
        {
            events.warning(&format!(
                "the results of tenants no longer in the fleet could not be forgotten: {e}"
            ));
        }
        let unchecked = pass
            .checked
            .iter()
            .any(|r| r.status == Status::CouldNotCheck);
        let done = match ended {
            Some(e) => self.lost(&e).0,
            None if unchecked => Outcome::Partial,
            None => Outcome::Ok,
        };
        (done, pass.checked.len())
    }

    /// Hands back the claims this agent holds undone (it stops): the next agent takes them over at once.
    async fn hand_back(&self) {
        if let Ok(state) = self.store.get().await
            && let Err(e) = state.claims().hand_back_all(self.holder).await
        {
            self.events
                .warning(&format!("the agent's claims could not be handed back: {e}"));
        }
    }

    /// The backup schedules' due slots, each taken once by whichever runner claims it.
    async fn backups_due(&self) -> (Outcome, usize) {
        let state = match self.state().await {
            Ok(s) => s,
            Err(e) => return failed(self.events, &e),
        };
        let (now, key) = (crate::util::now(), self.req.key_file.clone());
        match schedule::run_due_in(self.settings, &state, now, key, self.events).await {
            Ok(done) => {
                let ran: Vec<_> = done.iter().filter_map(|d| d.ran.as_ref()).collect();
                let bad = ran
                    .iter()
                    .any(|r| r.status() != crate::backup::BackupStatus::Ok);
                let outcome = if bad { Outcome::Partial } else { Outcome::Ok };
                (outcome, ran.iter().map(|r| r.backups.len()).sum())
            }
            Err(e) => self.lost(&e),
        }
    }

    /// A job that failed; a state store that failed it is opened afresh next time.
    fn lost(&self, e: &Error) -> (Outcome, usize) {
        if matches!(e, Error::State(_)) {
            self.observer.state_store(false);
            self.store.forget();
        }
        failed(self.events, e)
    }
}

/// A drift cycle's passes over the fleet.
struct Pass<'a> {
    drifts: &'a Drifts<'a>,
    job: fleet::Request,
    /// The fleet's members, each with its tenant's id.
    members: Vec<(crate::fleet::Member, String)>,
    /// The whole fleet as the cycle read it, for the first pass.
    first: Option<(Vec<fleet::Loaded>, Option<crate::fleet::Shard>)>,
    slot: i64,
    /// The tenants this agent checked.
    checked: Vec<crate::fleet::report::TenantResult>,
}

impl Pass<'_> {
    /// Goes over the tenants not yet checked in the slot, again and again (every third of a lease) while
    /// some are held by other agents, until none is left, the slot ends or the agent stops. A state store
    /// that fails is tried again at the same pace; the last error when the slot ended with it.
    async fn until_all_done(&mut self) -> Option<Error> {
        let d = self.drifts;
        let every = (d.req.lease / 3).max(Duration::from_millis(200));
        let mut left: Option<std::collections::HashSet<String>> = None;
        let mut trouble;
        loop {
            match self.once(left.as_ref()).await {
                Ok(now_left) if now_left.is_empty() => return None,
                Ok(now_left) => (left, trouble) = (Some(now_left), None),
                Err(e) => {
                    d.observer.state_store(false);
                    d.store.forget();
                    trouble = Some(e);
                }
            }
            let slot_ends = crate::util::now() / secs(d.req.drift_every) != self.slot;
            if slot_ends || d.cancel.is_cancelled() {
                return trouble;
            }
            tokio::select! {
                () = d.cancel.cancelled() => return trouble,
                () = tokio::time::sleep(every) => {}
            }
        }
    }

    /// The first pass over the fleet, a turn at a time. A first short turn from this agent's own part of
    /// the fleet (the k-th of n, as the agents' heartbeats say: agents started at once may not see each
    /// other yet); then what is left of its own part, at once; then, from the fleet's end backwards, what
    /// is left of the others', a short turn at a time. A turn's tenants share their reads of each system
    /// (a listing of their scopes at once): two agents read about what one `drift` reads, not twice the
    /// fleet's, and wait for a turn's last tenant a few times only.
    async fn in_turns(&mut self, state: &State, tenants: Vec<fleet::Loaded>) -> Result<(), Error> {
        let d = self.drifts;
        let short = (self.job.parallelism * 8).max(32);
        let mut left: Vec<Option<fleet::Loaded>> = tenants.into_iter().map(Some).collect();
        let len = left.len();
        for round in 0.. {
            let (k, n) = self.place(state).await;
            let own = (k * len / n..(k + 1) * len / n).filter(|&i| left[i].is_some());
            let mut picked: Vec<usize> = own.take(if round == 0 { short } else { len }).collect();
            if picked.is_empty() {
                let rest = (0..len).rev().filter(|&i| left[i].is_some());
                picked = rest.take(short).collect();
            }
            let turn: Vec<fleet::Loaded> = picked.iter().filter_map(|&i| left[i].take()).collect();
            if turn.is_empty() || d.cancel.is_cancelled() {
                break;
            }
            let run = fleet::run_in(d.settings, state, &self.job, (turn, None), d.events).await?;
            self.checked.extend(run.results);
        }
        Ok(())
    }

    /// This agent's place among the agents alive (by id): its index and their number.
    async fn place(&self, state: &State) -> (usize, usize) {
        let me = self.drifts.holder;
        let since = alive_since(crate::util::now());
        let alive = state.claims().agents(since).await.unwrap_or_default();
        let mut ids: Vec<&str> = alive.iter().map(|a| a.id.as_str()).collect();
        if !ids.contains(&me) {
            ids.push(me);
        }
        ids.sort_unstable();
        let k = ids.iter().position(|i| *i == me).unwrap_or(0);
        (k, ids.len())
    }

    /// One pass: the tenants among `only` (all at first) that no agent holds, each claimed and checked;
    /// then the ones left to check in the slot.
    async fn once(
        &mut self,
        only: Option<&std::collections::HashSet<String>>,
    ) -> Result<std::collections::HashSet<String>, Error> {
        let d = self.drifts;
        let state = d.state().await?;
        if let Some(share) = &self.job.share {
            share
                .trouble
                .store(false, std::sync::atomic::Ordering::Relaxed);
        }
        match self.first.take() {
            Some((tenants, _)) => self.in_turns(&state, tenants).await?,
            None => {
                let members = self.members.iter();
                let left = members.filter(|(_, id)| only.is_none_or(|o| o.contains(id)));
                let loaded = fleet::tenants(&self.job, left.map(|(m, _)| m.clone()).collect())?;
                if !loaded.0.is_empty() {
                    let run =
                        fleet::run_in(d.settings, &state, &self.job, loaded, d.events).await?;
                    self.checked.extend(run.results);
                }
            }
        }
        let claims = state.claims().of_job(fleet::DRIFT_JOB).await?;
        let done: std::collections::HashSet<&str> = claims
            .iter()
            .filter(|c| c.slot == self.slot && c.done_at.is_some())
            .map(|c| c.item.as_str())
            .collect();
        let ids = self.members.iter().map(|(_, id)| id);
        Ok(ids
            .filter(|i| !done.contains(i.as_str()))
            .cloned()
            .collect())
    }
}

fn secs(d: Duration) -> i64 {
    i64::try_from(d.as_secs().max(1)).unwrap_or(i64::MAX)
}

/// The agent's one handle on the state store, shared by its jobs and its HTTP answers: opened when
/// first needed, and again after it failed.
pub struct Store {
    url: String,
    held: std::sync::Mutex<Option<State>>,
    opening: tokio::sync::Mutex<()>,
}

impl Store {
    pub fn new(url: &str) -> Store {
        Store {
            url: url.to_string(),
            held: std::sync::Mutex::new(None),
            opening: tokio::sync::Mutex::new(()),
        }
    }

    fn held(&self) -> std::sync::MutexGuard<'_, Option<State>> {
        self.held
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The state store, opened if it is not (one opening at a time).
    pub async fn get(&self) -> Result<State, crate::state::StateError> {
        let _one = self.opening.lock().await;
        if let Some(s) = self.held().as_ref() {
            return Ok(s.clone());
        }
        let state = State::open(&self.url).await?;
        *self.held() = Some(state.clone());
        Ok(state)
    }

    /// Drops the handle: the next [`Store::get`] opens the state store again.
    pub fn forget(&self) {
        *self.held() = None;
    }
}

fn failed(events: &dyn Events, e: &Error) -> (Outcome, usize) {
    events.warning(&e.to_string());
    (Outcome::Failed, 0)
}

/// The agent's deliveries of the outbox's events to its webhooks, over one HTTP client.
struct Deliveries<'a> {
    store: &'a Store,
    hooks: &'a [Webhook],
    holder: String,
    client: reqwest::Client,
}

impl<'a> Deliveries<'a> {
    fn new(store: &'a Store, hooks: &'a [Webhook], holder: &str) -> Deliveries<'a> {
        Deliveries {
            store,
            hooks,
            holder: holder.to_string(),
            client: reqwest::Client::builder()
                .connect_timeout(Duration::from_secs(5))
                .build()
                .unwrap_or_default(),
        }
    }

    /// One round: every due delivery made (the state store opened again after it failed).
    async fn round(&self, observer: &dyn Observer, events: &dyn Events) -> (Outcome, usize) {
        let delivered = match self.store.get().await {
            Ok(state) => {
                let holder = &self.holder;
                webhooks::deliver(&state, self.hooks, holder, &self.client, events).await
            }
            Err(e) => Err(e),
        };
        observer.state_store(delivered.is_ok());
        match delivered {
            Ok(r) => {
                let tried = r.delivered + r.failed + r.given_up;
                let done = match r.failed + r.given_up {
                    0 => Outcome::Ok,
                    _ => Outcome::Partial,
                };
                (done, tried)
            }
            Err(e) => {
                self.store.forget();
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
pub async fn sole_agent(store: &Store, events: &dyn Events) -> Result<Option<Sole>, Error> {
    if !store.url.starts_with("sqlite:") {
        return Ok(None);
    }
    let state = store.get().await?;
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

/// What a person asked the agent to do now (the API's two writes): a tenant's drift check, or a backup.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Demand {
    Drift,
    Backup,
}

/// How a demand was taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Asked {
    /// Queued: the agent runs it next.
    Queued,
    /// One of the same kind for the tenant is queued or running: asked once, run once.
    AlreadyQueued,
    /// The tenant is not in the agent's fleet (as its last cycle read it).
    NotInFleet,
}

/// The demands queued, at most one of each kind per tenant, and the fleet's members by tenant id (from
/// the last drift cycle).
#[derive(Default)]
pub struct Demands {
    queued: std::sync::Mutex<std::collections::HashSet<(Demand, String)>>,
    waiting: std::sync::Mutex<std::collections::VecDeque<(Demand, String)>>,
    ready: tokio::sync::Notify,
    fleet: std::sync::Mutex<std::collections::HashMap<String, crate::fleet::Member>>,
}

impl Demands {
    /// Queues a demand, unless one of its kind is queued or running for the tenant.
    pub fn ask(&self, demand: Demand, tenant: &str) -> Asked {
        if !lock(&self.fleet).contains_key(tenant) {
            return Asked::NotInFleet;
        }
        if !lock(&self.queued).insert((demand, tenant.to_string())) {
            return Asked::AlreadyQueued;
        }
        lock(&self.waiting).push_back((demand, tenant.to_string()));
        self.ready.notify_one();
        Asked::Queued
    }

    /// The fleet's members as the last cycle read them.
    fn know(&self, members: &[(crate::fleet::Member, String)]) {
        let by_id = members.iter().map(|(m, id)| (id.clone(), m.clone()));
        *lock(&self.fleet) = by_id.collect();
    }

    /// The next demand, waited for.
    async fn next(&self) -> (Demand, String) {
        loop {
            if let Some(d) = lock(&self.waiting).pop_front() {
                return d;
            }
            self.ready.notified().await;
        }
    }

    /// A demand run: the tenant may be asked for again.
    fn done(&self, demand: Demand, tenant: &str) {
        lock(&self.queued).remove(&(demand, tenant.to_string()));
    }

    fn member(&self, tenant: &str) -> Option<crate::fleet::Member> {
        lock(&self.fleet).get(tenant).cloned()
    }
}

fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Drifts<'_> {
    /// Runs the demands as they come, one at a time, until `cancel`.
    async fn demands(&self, demands: &Demands) {
        loop {
            let (demand, tenant) = tokio::select! {
                () = self.cancel.cancelled() => return,
                d = demands.next() => d,
            };
            if let Some(member) = demands.member(&tenant) {
                let started = Instant::now();
                let (outcome, items) = match demand {
                    Demand::Drift => self.check_now(member).await,
                    Demand::Backup => self.back_up_now(&tenant, member).await,
                };
                let job = match demand {
                    Demand::Drift => Job::Drift,
                    Demand::Backup => Job::Backups,
                };
                let seconds = started.elapsed().as_secs_f64();
                self.observer.job_done(job, outcome, seconds, items);
            }
            demands.done(demand, &tenant);
        }
    }

    /// One tenant's drift check, now (outside the cycles: not claimed).
    async fn check_now(&self, member: crate::fleet::Member) -> (Outcome, usize) {
        let state = match self.state().await {
            Ok(s) => s,
            Err(e) => return failed(self.events, &e),
        };
        let drift = fleet::Verb::Drift {
            fail_on: FailOn::Any,
        };
        let job = fleet::Request::of(drift, 1);
        let run = match fleet::tenants(&job, vec![member]) {
            Ok(tenants) => fleet::run_in(self.settings, &state, &job, tenants, self.events).await,
            Err(e) => Err(e),
        };
        match run {
            Ok(o) if o.results.iter().any(|r| r.status == Status::CouldNotCheck) => {
                (Outcome::Partial, o.results.len())
            }
            Ok(o) => (Outcome::Ok, o.results.len()),
            Err(e) => self.lost(&e),
        }
    }

    /// One tenant's backup, now, into the profile's repository (as `backup create` takes it).
    async fn back_up_now(&self, tenant: &str, member: crate::fleet::Member) -> (Outcome, usize) {
        let spec = super::repo::RepoSpec {
            url: None,
            key_file: self.req.key_file.clone(),
        };
        let req = super::backup::CreateRequest {
            tenant: tenant.to_string(),
            manifest: Some(member.path),
            tags: vec![("asked".into(), "api".into())],
            ..Default::default()
        };
        let made = match (spec.open(self.settings), self.state().await) {
            (Ok(repo), Ok(state)) => {
                super::backup::create_in(self.settings, &state, &repo, &req, self.events).await
            }
            (Err(e), _) | (_, Err(e)) => Err(e),
        };
        match made {
            Ok(r) if r.status == crate::backup::BackupStatus::Ok => (Outcome::Ok, 1),
            Ok(_) => (Outcome::Partial, 1),
            Err(e) => self.lost(&e),
        }
    }
}
