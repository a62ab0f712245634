//! What an operation reports on the way, to whoever runs it.

use std::sync::Mutex;

use super::fleet::Checked;
use super::schedule::Slot;
use crate::diag::{Issue, Sources};
use crate::model::Domain;
use crate::plan::Plan;
use crate::restore::map::MapEntry;
use crate::restore::report::Report;

/// A question for a person before something is written.
#[derive(Debug, Clone)]
pub struct Question {
    pub text: String,
    /// The answer that goes on (`yes`, or the tenant's id for a production restore).
    pub expected: String,
    /// What to do instead when nobody can be asked (no terminal).
    pub unattended: &'static str,
}

/// A person's answer, or that nobody could be asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    Yes,
    No,
    NobodyToAsk,
}

/// The caller's side of an operation: a terminal renders these, a test or an agent records them.
pub trait Events: Send + Sync {
    /// Problems found in the input (warnings, and errors before an [`super::Error::Invalid`]).
    fn issues(&self, issues: &[Issue], sources: &Sources);
    /// Something worth knowing that did not stop the operation.
    fn warning(&self, message: &str);
    /// What the operation does about something found on the way.
    fn note(&self, message: &str);
    /// The plan, before it is approved and applied.
    fn planned(&self, plan: &Plan) {
        let _ = plan;
    }
    /// A restore's preflight: its plan, and the report so far (each domain's disposition, conflicts).
    fn preflight(&self, plan: &Plan, report: &Report) {
        let _ = (plan, report);
    }
    /// A restore's identifier map from one tenant to another: used, or proposed (the restore refused).
    fn mapped(&self, from: &str, to: &str, entries: &[MapEntry], proposed: bool) {
        let _ = (from, to, entries, proposed);
    }
    /// Work on a domain began (a backup's read).
    fn domain_started(&self, domain: Domain) {
        let _ = domain;
    }
    /// Work on a domain ended, with its status (`read`, `error`, `not_available`).
    fn domain_done(&self, domain: Domain, status: &str) {
        let _ = (domain, status);
    }
    /// A fleet's tenant began to be checked.
    fn tenant_started(&self, tenant: &str, path: &str) {
        let _ = (tenant, path);
    }
    /// A fleet's tenant was checked.
    fn tenant_checked(&self, checked: &Checked) {
        let _ = checked;
    }
    /// A due schedule's slot: run already, held by another runner, or run by this one.
    fn slot(&self, schedule: &str, at: &str, news: Slot) {
        let _ = (schedule, at, news);
    }
    /// Asks a person to approve; the default is that nobody can be asked.
    fn confirm(&self, question: &Question) -> Answer {
        let _ = question;
        Answer::NobodyToAsk
    }
}

/// One event, as [`Recorded`] keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// An issue's code and message.
    Issue {
        code: String,
        message: String,
    },
    Warning(String),
    Note(String),
    /// A plan: its number of changes.
    Planned {
        changes: usize,
    },
    /// A restore's preflight: its number of changes.
    Preflight {
        changes: usize,
    },
    /// An identifier map: its number of entries, and whether it was only proposed.
    Mapped {
        entries: usize,
        proposed: bool,
    },
    /// A fleet's tenant checked: its id and status.
    Checked {
        tenant: String,
        status: String,
    },
    /// A schedule's slot, as a runner found it.
    Slot {
        schedule: String,
        news: Slot,
    },
    /// A question asked.
    Asked(String),
}

/// Events kept in memory, answering every question with `answer`.
pub struct Recorded {
    pub events: Mutex<Vec<Event>>,
    pub answer: Answer,
}

impl Default for Recorded {
    fn default() -> Recorded {
        Recorded {
            events: Mutex::new(Vec::new()),
            answer: Answer::NobodyToAsk,
        }
    }
}

impl Recorded {
    fn push(&self, e: Event) {
        if let Ok(mut v) = self.events.lock() {
            v.push(e);
        }
    }

    /// What was recorded so far.
    pub fn taken(&self) -> Vec<Event> {
        self.events.lock().map(|v| v.clone()).unwrap_or_default()
    }
}

impl Events for Recorded {
    fn issues(&self, issues: &[Issue], _: &Sources) {
        for i in issues {
            self.push(Event::Issue {
                code: i.code.to_string(),
                message: i.message.clone(),
            });
        }
    }

    fn warning(&self, message: &str) {
        self.push(Event::Warning(message.into()));
    }

    fn note(&self, message: &str) {
        self.push(Event::Note(message.into()));
    }

    fn planned(&self, plan: &Plan) {
        self.push(Event::Planned {
            changes: plan.changes.len(),
        });
    }

    fn preflight(&self, plan: &Plan, _: &Report) {
        self.push(Event::Preflight {
            changes: plan.changes.len(),
        });
    }

    fn mapped(&self, _: &str, _: &str, entries: &[MapEntry], proposed: bool) {
        self.push(Event::Mapped {
            entries: entries.len(),
            proposed,
        });
    }

    fn tenant_checked(&self, checked: &Checked) {
        self.push(Event::Checked {
            tenant: checked.result.tenant.clone(),
            status: checked.result.status.words().to_string(),
        });
    }

    fn slot(&self, schedule: &str, _: &str, news: Slot) {
        self.push(Event::Slot {
            schedule: schedule.into(),
            news,
        });
    }

    fn confirm(&self, question: &Question) -> Answer {
        self.push(Event::Asked(question.text.clone()));
        self.answer
    }
}
