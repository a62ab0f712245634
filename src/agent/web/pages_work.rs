//! The dashboard's tables of work: a tenant's drift history, backups (with what they did not carry),
//! restores and history; the agents, schedules and locks.

use maud::{Markup, html};

use crate::agent::api::backups::Backup;
use crate::agent::api::work::{Agent, DriftChange, Event, Lock, Restore, Schedule};

/// The status of a drift check in words.
pub fn drift_words(status: Option<&str>) -> &'static str {
    match status {
        Some("in_sync") => "in sync",
        Some("resolved") => "in sync (drift resolved)",
        Some("new_drift") => "drifted (new)",
        Some("still_drifted") => "drifted",
        Some("could_not_check") => "could not check",
        Some(_) => "unknown",
        None => "not checked yet",
    }
}

/// How long ago an RFC 3339 time was, in words (`3 h ago`).
pub fn ago(at: &str, now: i64) -> String {
    let Some(then) = crate::backup::retention::parse_time(at) else {
        return at.to_string();
    };
    let s = (now - then).max(0);
    match s {
        0..60 => format!("{s} s ago"),
        60..3600 => format!("{} min ago", s / 60),
        3600..172_800 => format!("{} h ago", s / 3600),
        _ => format!("{} days ago", s / 86_400),
    }
}

/// A tenant id as a path segment.
pub fn path_part(id: &str) -> String {
    url::form_urlencoded::byte_serialize(id.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

pub fn drift_history(changes: &[DriftChange]) -> Markup {
    html! {
        h3 { "Changes of its drift status" }
        @if changes.is_empty() { p { "None yet." } } @else {
            table {
                caption { "Newest first" }
                thead { tr { th scope="col" { "Checked" } th scope="col" { "Status" } th scope="col" { "Drift's digest" } } }
                tbody { @for c in changes {
                    tr { td { (c.checked_at) } td { (drift_words(Some(&c.status))) } td { code { (c.digest) } } }
                } }
            }
        }
    }
}

/// A backup: its status, its domains, and the inventory of what it did not carry.
pub fn backup(b: &Backup, now: i64) -> Markup {
    let not_carried: usize = b.domains.iter().map(|d| d.not_carried.len()).sum();
    html! {
        article.backup aria-label={ "Backup " (b.id) } {
            h3 { "Backup " code { (b.id) } ": " (b.status) " (" (ago(&b.finished_at, now)) ")" }
            @if !b.tags.is_empty() {
                p { "Tags: " @for (k, v) in &b.tags { code { (k) "=" (v) } " " } }
            }
            table {
                caption { "Its domains" }
                thead { tr { th scope="col" { "Domain" } th scope="col" { "Status" } th scope="col" { "Resources" } th scope="col" { "Secrets left out" } th scope="col" { "Message" } } }
                tbody { @for d in &b.domains {
                    tr { th scope="row" { (d.domain) } td { (d.status) } td { (d.resources) } td { (d.secrets_left_out) } td { (d.message.as_deref().unwrap_or("")) } }
                } }
            }
            @if not_carried > 0 {
                details {
                    summary { (not_carried) " objects this backup does not carry (a restore cannot bring them back)" }
                    ul { @for d in &b.domains { @for n in &d.not_carried {
                        li { (d.domain) " " (n.kind) " " code { (n.name) } }
                    } } }
                }
            }
        }
    }
}

pub fn restores(restores: &[Restore]) -> Markup {
    html! {
        section aria-labelledby="restores" {
            h2 id="restores" { "Restores" }
            @if restores.is_empty() { p { "None." } } @else {
                table {
                    thead { tr { th scope="col" { "Restore" } th scope="col" { "Started" } th scope="col" { "State" } th scope="col" { "Domains" } } }
                    tbody { @for r in restores {
                        tr {
                            td { code { (r.id) } }
                            td { (r.started_at) }
                            td { @if r.running { "running" } @else { (r.outcome.as_deref().unwrap_or("done")) } }
                            td { @for (d, s) in &r.domains { (d) ": " (s) " " } }
                        }
                    } }
                }
            }
        }
    }
}

pub fn history(events: &[Event]) -> Markup {
    html! {
        section aria-labelledby="history" {
            h2 id="history" { "History" }
            @if events.is_empty() { p { "No apply or restore yet." } } @else {
                table {
                    caption { "Applies and restores, newest first" }
                    thead { tr { th scope="col" { "When" } th scope="col" { "What" } th scope="col" { "Outcome" } th scope="col" { "Who" } th scope="col" { "Domains" } } }
                    tbody { @for e in events {
                        tr {
                            td { (e.finished_at) }
                            td { (e.kind) " from " (e.source) }
                            td { (e.outcome) @if !e.reason.is_empty() { ": " (e.reason) } }
                            td { (e.who) "@" (e.host) }
                            td { (e.domains.join(", ")) }
                        }
                    } }
                }
            }
        }
    }
}

pub fn agents(agents: &[Agent]) -> Markup {
    html! {
        section aria-labelledby="agents" {
            h2 id="agents" { "Agents alive" }
            @if agents.is_empty() { p { "None has beaten in the last minutes." } } @else {
                table {
                    thead { tr { th scope="col" { "Agent" } th scope="col" { "Version" } th scope="col" { "Started" } th scope="col" { "Last seen" } th scope="col" { "Checks held" } } }
                    tbody { @for a in agents {
                        tr { th scope="row" { (a.id) } td { (a.version) } td { (a.started_at) } td { (a.seen_at) } td { (a.claims) } }
                    } }
                }
            }
        }
    }
}

pub fn schedules(schedules: &[Schedule]) -> Markup {
    html! {
        section aria-labelledby="schedules" {
            h2 id="schedules" { "Backup schedules" }
            @if schedules.is_empty() { p { "None." } } @else {
                table {
                    thead { tr { th scope="col" { "Schedule" } th scope="col" { "When" } th scope="col" { "Tenants" } th scope="col" { "Next slot" } th scope="col" { "Last slot" } } }
                    tbody { @for s in schedules {
                        tr {
                            th scope="row" { (s.name) }
                            td { code { (s.cron) } @if s.paused { " (paused)" } }
                            td { @for t in &s.tenants { a href={ "/tenants/" (path_part(t)) } { (t) } " " } }
                            td { (s.next_slot.as_deref().unwrap_or("—")) }
                            td { (s.last_slot.as_deref().unwrap_or("—")) " " (s.last_status.as_deref().unwrap_or("")) }
                        }
                    } }
                }
            }
        }
    }
}

pub fn locks(locks: &[Lock]) -> Markup {
    html! {
        section aria-labelledby="locks" {
            h2 id="locks" { "Locks" }
            @if locks.is_empty() { p { "None held." } } @else {
                table {
                    thead { tr { th scope="col" { "Tenant" } th scope="col" { "Holder" } th scope="col" { "Renewed" } th scope="col" { "Expires" } } }
                    tbody { @for l in locks {
                        tr {
                            th scope="row" { (l.tenant) }
                            td { (l.holder) }
                            td { (l.heartbeat_at) }
                            td { (l.expires_at) @if l.expired { " (expired)" } }
                        }
                    } }
                }
            }
        }
    }
}
