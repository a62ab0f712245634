//! Events and their webhooks (docs/agent.md): what a falconer process writes to the state store's outbox
//! when it sees something worth telling (new drift, drift resolved, a backup that is not complete, a
//! restore finished), and the agent's deliveries of them: each event to each webhook at least once, with
//! a stable id, signed (HMAC-SHA256 over the time and the body) or in Slack's format, tried again with
//! backoff for a day.

use std::time::Duration;

use hmac::{KeyInit, Mac};

use super::Events;
use crate::state::{OutboxEvent, State, StateError};

/// How long a delivery is tried again before it is given up.
pub const RETRY_FOR: i64 = 24 * 3600;
/// How long an agent holds a delivery it is making.
const LEASE: i64 = 60;
/// The deliveries one round makes at most, per webhook.
const ROUND: i64 = 100;
/// Events are kept in the outbox this long (the agents prune it hourly).
pub const KEEP: i64 = 30 * 24 * 3600;
/// The first wait before a failed delivery is tried again (doubled each time, at most an hour).
const FIRST_RETRY: i64 = 2;

/// What an event is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    DriftNew,
    DriftResolved,
    BackupFailed,
    BackupPartial,
    BackupIncomplete,
    RestoreFinished,
    /// A schedule's slots that no runner ran (the runners were down), found when the next one runs.
    ScheduleMissed,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::DriftNew => "drift.new",
            Kind::DriftResolved => "drift.resolved",
            Kind::BackupFailed => "backup.failed",
            Kind::BackupPartial => "backup.partial",
            Kind::BackupIncomplete => "backup.incomplete",
            Kind::RestoreFinished => "restore.finished",
            Kind::ScheduleMissed => "schedule.missed",
        }
    }
}

/// Writes an event to the outbox (the caller warns when it cannot: what the event tells of is done).
pub async fn tell(
    state: &State,
    kind: Kind,
    tenant: &str,
    data: serde_json::Value,
) -> Result<(), StateError> {
    state.outbox().add(&event(kind, tenant, &data)?).await
}

/// An event with a new random id, as the outbox keeps it.
pub fn event(
    kind: Kind,
    tenant: &str,
    data: &serde_json::Value,
) -> Result<OutboxEvent, StateError> {
    let id = crate::util::random::<16>()
        .map(|b| crate::util::hex(&b))
        .map_err(|e| StateError::Db(format!("no random event id: {e}")))?;
    Ok(OutboxEvent {
        id,
        kind: kind.name().into(),
        tenant: tenant.into(),
        at: crate::util::now(),
        data: data.to_string(),
    })
}

/// How a webhook takes its events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// falconer's JSON, signed when the webhook has a secret.
    Json,
    /// Slack's incoming webhooks: `{ "text": ... }`.
    Slack,
}

/// A webhook: its URL (a secret: Slack's carry a token), format and signing secret.
#[derive(Clone)]
pub struct Webhook {
    pub url: String,
    pub format: Format,
    pub secret: Option<String>,
}

impl std::fmt::Debug for Webhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Webhook({})", self.host())
    }
}

impl Webhook {
    /// The webhook's host: the only part of its URL that errors and logs name.
    pub fn host(&self) -> String {
        reqwest::Url::parse(&self.url)
            .ok()
            .and_then(|u| u.host_str().map(str::to_string))
            .unwrap_or_else(|| "(a webhook whose URL does not parse)".into())
    }

    /// The webhook's id in the outbox's deliveries: a digest of its URL, never the URL.
    pub fn target(&self) -> String {
        use sha2::Digest;
        let digest = sha2::Sha256::digest(self.url.as_bytes());
        crate::util::hex(&digest[..8])
    }
}

/// What a round of deliveries did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Round {
    pub delivered: usize,
    pub failed: usize,
    pub given_up: usize,
}

/// Delivers the events due to each webhook, as `holder`; then forgets events older than [`KEEP`].
pub async fn deliver(
    state: &State,
    hooks: &[Webhook],
    holder: &str,
    client: &reqwest::Client,
    events: &dyn Events,
) -> Result<Round, StateError> {
    let now = crate::util::now();
    let mut round = Round::default();
    for hook in hooks {
        let target = hook.target();
        let due = state
            .outbox()
            .claim(&target, holder, (now, LEASE), now - RETRY_FOR, ROUND)
            .await?;
        for (event, attempts) in due {
            let sent = send(client, hook, &event).await;
            let failed = sent.as_ref().err().map(|why| {
                let next = now + (FIRST_RETRY << attempts.clamp(0, 11)).min(3600);
                let retry = (next < event.at + RETRY_FOR).then_some(next);
                (why.as_str(), retry)
            });
            if let Some((why, retry)) = &failed {
                let end = match retry {
                    Some(_) => "",
                    None => " given up after a day of tries",
                };
                let (host, kind, tenant) = (hook.host(), &event.kind, &event.tenant);
                events.warning(&format!("webhook {host}: {kind} of `{tenant}`{end}: {why}"));
            }
            match &failed {
                None => round.delivered += 1,
                Some((_, Some(_))) => round.failed += 1,
                Some((_, None)) => round.given_up += 1,
            }
            let at = crate::util::now();
            state
                .outbox()
                .settle((&event.id, &target, holder), at, failed)
                .await?;
        }
    }
    Ok(round)
}

/// Posts one event; why it failed, naming only the webhook's host.
async fn send(client: &reqwest::Client, hook: &Webhook, event: &OutboxEvent) -> Result<(), String> {
    let body = match hook.format {
        Format::Json => json_body(event),
        Format::Slack => serde_json::json!({ "text": slack_text(event) }).to_string(),
    };
    let mut req = client
        .post(&hook.url)
        .header("content-type", "application/json")
        .header("x-falconer-event-id", &event.id)
        .header("x-falconer-event-type", &event.kind);
    if let (Format::Json, Some(secret)) = (hook.format, &hook.secret) {
        let t = crate::util::now();
        req = req.header(
            "x-falconer-signature",
            format!("t={t},v1={}", sign(secret, t, &body)),
        );
    }
    match req.body(body).timeout(Duration::from_secs(10)).send().await {
        Ok(r) if r.status().is_success() => Ok(()),
        Ok(r) => Err(format!("answered {}", r.status())),
        // reqwest's errors name the URL: only their kind is said.
        Err(e) if e.is_timeout() => Err("no answer within 10 s".into()),
        Err(e) if e.is_connect() => Err("cannot connect".into()),
        Err(_) => Err("the request failed".into()),
    }
}

/// The signature of a body sent at `t`: hex HMAC-SHA256 over `t.body`.
pub fn sign(secret: &str, t: i64, body: &str) -> String {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| hmac::Hmac::<sha2::Sha256>::new(&Default::default()));
    mac.update(format!("{t}.{body}").as_bytes());
    crate::util::hex(&mac.finalize().into_bytes())
}

/// An event as a JSON webhook receives it (`schemas/webhook-event.schema.json`).
#[derive(Debug, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct Payload {
    /// The event's id, the same in every delivery of it (also the `X-Falconer-Event-Id` header).
    pub id: String,
    /// `drift.new`, `drift.resolved`, `backup.failed`, `backup.partial`, `backup.incomplete`,
    /// `restore.finished`, `schedule.missed` (also the `X-Falconer-Event-Type` header).
    #[serde(rename = "type")]
    pub kind: String,
    /// The tenant (empty for a schedule's event: its data names the schedule).
    pub tenant: String,
    /// When it happened (RFC 3339).
    pub at: String,
    /// What the event says: a drift's changes by domain, a backup's id and domains, a restore's outcome.
    /// Names and counts, never a value.
    pub data: serde_json::Value,
}

/// The JSON Schema of a JSON webhook's payload.
pub fn payload_schema() -> serde_json::Value {
    crate::util::json_schema::<Payload>("webhook-event.schema.json", "falconer webhook event")
}

/// falconer's JSON of an event.
fn json_body(event: &OutboxEvent) -> String {
    let payload = Payload {
        id: event.id.clone(),
        kind: event.kind.clone(),
        tenant: event.tenant.clone(),
        at: crate::util::rfc3339(event.at),
        data: serde_json::from_str(&event.data).unwrap_or_default(),
    };
    serde_json::to_string(&payload).unwrap_or_default()
}

/// An event in one line for a chat.
fn slack_text(event: &OutboxEvent) -> String {
    let data: serde_json::Value = serde_json::from_str(&event.data).unwrap_or_default();
    if event.kind == "schedule.missed" {
        return format!(
            "falconer: schedule `{}`: {} slots missed, from {} to {}",
            data["schedule"].as_str().unwrap_or("?"),
            data["missed"],
            data["first"].as_str().unwrap_or("?"),
            data["last"].as_str().unwrap_or("?")
        );
    }
    let what = match event.kind.as_str() {
        "drift.new" => format!("new drift ({} changes)", data["changes"]),
        "drift.resolved" => "drift resolved: in sync again".to_string(),
        "restore.finished" => format!(
            "restore finished: {}",
            data["outcome"].as_str().unwrap_or("?")
        ),
        k => format!("{k}: backup {}", data["id"].as_str().unwrap_or("?")),
    };
    format!("falconer: tenant `{}`: {what}", event.tenant)
}
