//! The dashboard's pages as HTML (maud: every value interpolated is escaped). No script: forms and links
//! only; the fleet page refreshes itself with a `<meta>` every minute.

use maud::{DOCTYPE, Markup, html};

use crate::agent::api::backups::Backup as BackupRecord;
use crate::agent::api::work::{Agent, DriftChange, Event, Lock, Restore, Schedule};
use crate::agent::api::{Page, Tenant};

use super::pages_work::{ago, drift_words, path_part};

/// Who is looking: signed in or not, and the CSRF token of the forms when they may ask for work.
#[derive(Debug, Clone, Default)]
pub struct Viewer {
    /// Whether a session is open (the page shows "Sign out").
    pub signed_in: bool,
    /// The CSRF token, when the viewer may ask for a drift check or a backup.
    pub csrf: Option<String>,
    /// Whether the agent takes writes at all (the page says how to sign in for them).
    pub writes_on: bool,
}

/// A page: its title, the navigation, the content.
pub fn layout(title: &str, viewer: &Viewer, refresh: bool, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                @if refresh { meta http-equiv="refresh" content="60"; }
                title { (title) " · falconer" }
                link rel="stylesheet" href="/style.css";
            }
            body {
                a.skip href="#main" { "Skip to the content" }
                header {
                    nav aria-label="Main" {
                        ul {
                            li { a href="/" { "Fleet" } }
                            li { a href="/agents" { "Agents and their work" } }
                            @if viewer.signed_in {
                                li { form method="post" action="/logout" { button type="submit" { "Sign out" } } }
                            }
                        }
                    }
                }
                main id="main" { h1 { (title) } (body) }
            }
        }
    }
}

/// The CSS class of a status: `bad`, `warn`, `ok` or `none` (never the only sign: the words say it).
fn class_of(status: Option<&str>) -> &'static str {
    match status {
        Some("could_not_check") => "bad",
        Some("new_drift" | "still_drifted") => "warn",
        Some("in_sync" | "resolved") => "ok",
        _ => "none",
    }
}

/// The fleet page's filters and page, as its form sends them.
#[derive(Debug, Default, Clone, serde::Deserialize)]
pub struct FleetQuery {
    /// A drift status, `drifted`, or `failing` (could not check, or the last backup failed).
    pub status: Option<String>,
    pub environment: Option<String>,
    /// Part of a tenant's id.
    pub q: Option<String>,
    pub page: Option<usize>,
}

/// Tenants a fleet page shows at most.
pub const FLEET_PAGE: usize = 100;

/// The statuses the fleet page's filter offers.
const STATUSES: &[(&str, &str)] = &[
    ("", "any"),
    ("failing", "failing"),
    ("drifted", "drifted"),
    ("could_not_check", "could not check"),
    ("in_sync", "in sync"),
    ("unchecked", "not checked yet"),
];

impl FleetQuery {
    fn empty(v: &Option<String>) -> Option<&str> {
        v.as_deref().filter(|s| !s.is_empty())
    }

    fn keeps(&self, t: &Tenant) -> bool {
        let drift = t.drift.as_deref().unwrap_or("unchecked");
        let status = match Self::empty(&self.status) {
            None => true,
            Some("failing") => rank(t) == 0,
            Some("drifted") => matches!(drift, "new_drift" | "still_drifted"),
            Some("in_sync") => matches!(drift, "in_sync" | "resolved"),
            Some(s) => s == drift,
        };
        let env =
            Self::empty(&self.environment).is_none_or(|e| t.environment.as_deref() == Some(e));
        let q = Self::empty(&self.q).is_none_or(|q| t.tenant.contains(q));
        status && env && q
    }

    /// This query's link to another page.
    fn link(&self, page: usize) -> String {
        let mut pairs = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in [
            ("status", &self.status),
            ("environment", &self.environment),
            ("q", &self.q),
        ] {
            if let Some(v) = Self::empty(v) {
                pairs.append_pair(k, v);
            }
        }
        pairs.append_pair("page", &page.to_string());
        format!("/?{}", pairs.finish())
    }
}

/// Failures first: could not check or a failed backup (0), drifted (1), not checked (2), in sync (3).
fn rank(t: &Tenant) -> u8 {
    let backup_failed = t
        .backup
        .as_ref()
        .is_some_and(|b| matches!(b.status.as_str(), "failed" | "partial"));
    match t.drift.as_deref() {
        Some("could_not_check") => 0,
        _ if backup_failed => 0,
        Some("new_drift" | "still_drifted") => 1,
        None => 2,
        _ => 3,
    }
}

/// The fleet: counts, filters, and a page of tenants × domains, failures first.
pub fn fleet(all: Vec<Tenant>, q: &FleetQuery, now: i64, viewer: &Viewer) -> Markup {
    let counts = Counts::of(&all);
    let environments: std::collections::BTreeSet<String> =
        all.iter().filter_map(|t| t.environment.clone()).collect();
    let mut kept: Vec<Tenant> = all.into_iter().filter(|t| q.keeps(t)).collect();
    kept.sort_by(|a, b| rank(a).cmp(&rank(b)).then_with(|| a.tenant.cmp(&b.tenant)));
    let page = Page::of(kept, (q.page.unwrap_or(1).max(1), FLEET_PAGE));
    let domains: std::collections::BTreeSet<&str> = page
        .items
        .iter()
        .flat_map(|t| t.domains.iter().map(|d| d.domain.as_str()))
        .collect();
    let body = html! {
        (counts.render())
        (filters(q, &environments))
        (fleet_table(&page, &domains, now))
        (pager(&page, q))
    };
    layout("Fleet", viewer, true, body)
}

/// How many tenants are in each state.
#[derive(Default)]
struct Counts {
    all: usize,
    drifted: usize,
    failing: usize,
    unchecked: usize,
}

impl Counts {
    fn of(all: &[Tenant]) -> Counts {
        let mut c = Counts {
            all: all.len(),
            ..Counts::default()
        };
        for t in all {
            match rank(t) {
                0 => c.failing += 1,
                1 => c.drifted += 1,
                2 => c.unchecked += 1,
                _ => {}
            }
        }
        c
    }

    fn render(&self) -> Markup {
        html! {
            ul.counts aria-label="Counts" {
                li { strong { (self.all) } " tenants" }
                li.bad { strong { (self.failing) } " failing (could not check, or the last backup failed)" }
                li.warn { strong { (self.drifted) } " drifted" }
                li { strong { (self.unchecked) } " not checked yet" }
            }
        }
    }
}

fn filters(q: &FleetQuery, environments: &std::collections::BTreeSet<String>) -> Markup {
    let status = FleetQuery::empty(&q.status).unwrap_or("");
    let env = FleetQuery::empty(&q.environment).unwrap_or("");
    html! {
        form.filters method="get" action="/" role="search" aria-label="Filter the tenants" {
            label for="status" { "Status" }
            select id="status" name="status" {
                @for (value, words) in STATUSES {
                    option value=(value) selected[*value == status] { (words) }
                }
            }
            label for="environment" { "Environment" }
            select id="environment" name="environment" {
                option value="" selected[env.is_empty()] { "any" }
                @for e in environments {
                    option value=(e) selected[e == env] { (e) }
                }
            }
            label for="q" { "Tenant" }
            input id="q" name="q" type="search" value=(q.q.as_deref().unwrap_or(""));
            button type="submit" { "Filter" }
        }
    }
}

fn fleet_table(
    page: &Page<Tenant>,
    domains: &std::collections::BTreeSet<&str>,
    now: i64,
) -> Markup {
    html! {
        table.fleet {
            caption { "Tenants, failures first (" (page.total) " match)" }
            thead { tr {
                th scope="col" { "Tenant" }
                th scope="col" { "Environment" }
                th scope="col" { "Drift" }
                @for d in domains { th scope="col" { (d) } }
                th scope="col" { "Checked" }
                th scope="col" { "Last complete backup" }
            } }
            tbody {
                @for t in &page.items { (fleet_row(t, domains, now)) }
            }
        }
    }
}

fn fleet_row(t: &Tenant, domains: &std::collections::BTreeSet<&str>, now: i64) -> Markup {
    let status = t.drift.as_deref();
    html! {
        tr {
            th scope="row" { a href={ "/tenants/" (path_part(&t.tenant)) } { (t.tenant) } }
            td { (t.environment.as_deref().unwrap_or("")) }
            td class=(class_of(status)) { (drift_words(status)) }
            @for d in domains { (domain_cell(t, d)) }
            td { @if let Some(at) = &t.checked_at { (ago(at, now)) } }
            td { (backup_cell(t, now)) }
        }
    }
}

fn domain_cell(t: &Tenant, domain: &str) -> Markup {
    let line = t.domains.iter().find(|d| d.domain == domain);
    html! {
        @match line {
            None => td.none { "—" },
            Some(l) if l.error.is_some() => td.bad { "could not check" },
            Some(l) if l.changes > 0 => td.warn { (l.changes) " drifted" },
            Some(_) => td.ok { "in sync" },
        }
    }
}

fn backup_cell(t: &Tenant, now: i64) -> Markup {
    let Some(b) = &t.backup else {
        return html! { "none" };
    };
    html! {
        @match &b.last_complete_at {
            Some(at) => (ago(at, now)),
            None => "none complete",
        }
        @if b.status != "ok" {
            " " span class=(if b.status == "incomplete" { "warn" } else { "bad" }) { "(last: " (b.status) ")" }
        }
    }
}

fn pager(page: &Page<Tenant>, q: &FleetQuery) -> Markup {
    let pages = page.total.div_ceil(page.per_page).max(1);
    html! {
        nav.pager aria-label="Pages" {
            @if page.page > 1 { a rel="prev" href=(q.link(page.page - 1)) { "Previous page" } }
            span { "Page " (page.page) " of " (pages) }
            @if page.page < pages { a rel="next" href=(q.link(page.page + 1)) { "Next page" } }
        }
    }
}

/// What a tenant page shows.
pub struct TenantView<'a> {
    pub tenant: &'a Tenant,
    /// The drift as the plan renders it (redacted), when drifted.
    pub plan: Option<&'a str>,
    pub drift: &'a [DriftChange],
    /// The backups, or why the repository could not be read.
    pub backups: Result<&'a [BackupRecord], &'a str>,
    pub restores: &'a [Restore],
    pub history: &'a [Event],
    /// What was just asked for, to say so.
    pub flash: Option<&'a str>,
}

/// A tenant: its drift, the buttons to ask for work, its backups, restores and history.
pub fn tenant(v: &TenantView<'_>, now: i64, viewer: &Viewer) -> Markup {
    let t = v.tenant;
    let body = html! {
        @if let Some(f) = v.flash { p.flash role="status" { (f) } }
        dl.facts {
            dt { "Environment" } dd { (t.environment.as_deref().unwrap_or("—")) }
            dt { "Registry status" } dd { (t.registry_status.as_deref().unwrap_or("—")) }
            dt { "Drift" } dd class=(class_of(t.drift.as_deref())) { (drift_words(t.drift.as_deref())) }
            dt { "Checked" } dd { @if let Some(at) = &t.checked_at { time datetime=(at) { (ago(at, now)) } } @else { "never" } }
        }
        (asks(&t.tenant, viewer))
        (drift(v))
        (backups(v.backups, now))
        (super::pages_work::restores(v.restores))
        (super::pages_work::history(v.history))
    };
    layout(&format!("Tenant {}", t.tenant), viewer, false, body)
}

/// The two buttons (with the CSRF token), or how to get them.
fn asks(id: &str, viewer: &Viewer) -> Markup {
    html! {
        section aria-labelledby="ask" {
            h2 id="ask" { "Ask for work now" }
            @if let Some(csrf) = &viewer.csrf {
                @for (what, words) in [("drift", "Check drift now"), ("backup", "Back up now")] {
                    form.ask method="post" action={ "/tenants/" (path_part(id)) "/" (what) } {
                        input type="hidden" name="csrf" value=(csrf);
                        button type="submit" { (words) }
                    }
                }
            } @else if viewer.writes_on {
                p { a href="/login" { "Sign in with the write token" } " to ask for a drift check or a backup." }
            } @else {
                p { "This agent takes no writes (no [serve] write_token)." }
            }
        }
    }
}

fn drift(v: &TenantView<'_>) -> Markup {
    let t = v.tenant;
    html! {
        section aria-labelledby="drift" {
            h2 id="drift" { "Drift" }
            @if !t.domains.is_empty() {
                table {
                    caption { "Each system, as last checked" }
                    thead { tr { th scope="col" { "System" } th scope="col" { "Status" } } }
                    tbody { @for d in &t.domains {
                        tr { th scope="row" { (d.domain) } (domain_cell(t, &d.domain)) }
                    } }
                }
            }
            @for e in &t.errors { p.bad { (e) } }
            @for d in t.domains.iter().filter_map(|d| d.error.as_ref().map(|e| (&d.domain, e))) {
                p.bad { (d.0) ": " (d.1) }
            }
            @if let Some(plan) = v.plan { pre.plan aria-label="The drift as the plan renders it" { (plan) } }
            (super::pages_work::drift_history(v.drift))
        }
    }
}

fn backups(backups: Result<&[BackupRecord], &str>, now: i64) -> Markup {
    html! {
        section aria-labelledby="backups" {
            h2 id="backups" { "Backups" }
            @match backups {
                Err(e) => p.bad { "The backup repository could not be read: " (e) },
                Ok([]) => p { "No backups." },
                Ok(list) => @for b in list { (super::pages_work::backup(b, now)) },
            }
        }
    }
}

/// The agents page: agents, schedules, locks.
pub fn agents(agents: &[Agent], schedules: &[Schedule], locks: &[Lock], viewer: &Viewer) -> Markup {
    let body = html! {
        (super::pages_work::agents(agents))
        (super::pages_work::schedules(schedules))
        (super::pages_work::locks(locks))
    };
    layout("Agents and their work", viewer, true, body)
}

/// The sign-in form.
pub fn login(error: Option<&str>, writes_only: bool) -> Markup {
    let body = html! {
        @if let Some(e) = error { p.bad role="alert" { (e) } }
        form.login method="post" action="/login" {
            label for="token" { @if writes_only { "The agent's write token" } @else { "The agent's token (or its write token, to ask for work)" } }
            input id="token" name="token" type="password" autocomplete="current-password" required;
            button type="submit" { "Sign in" }
        }
    };
    layout("Sign in", &Viewer::default(), false, body)
}

/// A page that says what went wrong.
pub fn problem(title: &str, message: &str, viewer: &Viewer) -> Markup {
    layout(title, viewer, false, html! { p.bad { (message) } })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_in_words() {
        assert_eq!(ago(&crate::util::rfc3339(100), 100 + 7200), "2 h ago");
        assert_eq!(
            ago(&crate::util::rfc3339(100), 100 + 3 * 86_400),
            "3 days ago"
        );
        assert_eq!(ago("yesterday", 0), "yesterday");
    }

    #[test]
    fn what_a_tenant_controls_is_text() {
        let t = Tenant {
            tenant: "<b>x</b>".into(),
            ..serde_json::from_value(serde_json::json!({"tenant": "x", "changes": 0}))
                .expect("a tenant")
        };
        let page = fleet(vec![t], &FleetQuery::default(), 0, &Viewer::default()).into_string();
        assert!(page.contains("&lt;b&gt;x&lt;/b&gt;"), "{page}");
        assert!(!page.contains("<b>x"), "{page}");
    }
}
