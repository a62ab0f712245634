//! The operations' events on a terminal: problems and warnings on standard error, the plan on standard
//! output, questions asked on the terminal (never off one).

use std::io::{BufRead, IsTerminal, Write};
use std::sync::Mutex;

use super::args::PlanFormat;
use super::output::Output;
use super::progress::{Counter, Progress, Task};
use crate::diag::{Issue, Sources};
use crate::fleet::report::Event;
use crate::model::Domain;
use crate::ops::fleet::Checked;
use crate::ops::schedule::Slot;
use crate::ops::{Answer, Events, Question};
use crate::plan::Plan;
use crate::plan::render::{self, Style};
use crate::restore::map::MapEntry;
use crate::restore::report::Report;

/// Renders events for a person.
pub struct Terminal<'a> {
    pub out: &'a Output,
    /// How a restore's preflight is shown.
    pub format: PlanFormat,
    /// A line per domain while it is worked on (only on a terminal, unless quiet).
    pub progress: Option<Progress>,
    tasks: Mutex<Vec<(Domain, Task)>>,
    /// A fleet run: how each tenant's result is shown.
    pub fleet: Option<FleetView>,
}

/// How a fleet run's tenants are shown: JSON Lines events, or each tenant's block, above a progress bar.
pub struct FleetView {
    pub json: bool,
    /// Each tenant's block in text (not with `--format markdown` or `json`).
    pub blocks: bool,
    pub bar: Counter,
    /// The problem lines said so far, and the other tenants that had the same one (said once, counted).
    pub said: Mutex<Vec<(String, Vec<String>)>>,
}

impl FleetView {
    /// A tenant's problem lines on standard error: each the first time, under the tenant's id; a line
    /// another tenant already had is only counted ([`FleetView::repeated`] says them at the end).
    fn say(&self, tenant: &str, lines: Vec<String>) {
        let Ok(mut said) = self.said.lock() else {
            return;
        };
        for line in lines {
            match said.iter_mut().find(|(l, _)| *l == line) {
                Some((_, others)) => others.push(tenant.to_string()),
                None => {
                    eprintln!("{tenant}: {line}");
                    said.push((line, Vec::new()));
                }
            }
        }
    }

    /// The lines other tenants shared, one each with how many and which (the first few).
    pub fn repeated(&self) {
        let Ok(said) = self.said.lock() else {
            return;
        };
        for (line, others) in said.iter().filter(|(_, o)| !o.is_empty()) {
            let mut names = others
                .iter()
                .take(5)
                .cloned()
                .collect::<Vec<_>>()
                .join(", ");
            if others.len() > 5 {
                names.push_str(", ...");
            }
            eprintln!(
                "note: {} more tenant(s) had the same: {line} ({names})",
                others.len()
            );
        }
    }
}

impl<'a> Terminal<'a> {
    pub fn new(out: &'a Output) -> Terminal<'a> {
        Terminal {
            out,
            format: PlanFormat::Text,
            progress: None,
            tasks: Mutex::new(Vec::new()),
            fleet: None,
        }
    }

    /// Showing a restore's preflight in `format`.
    pub fn with_format(out: &'a Output, format: PlanFormat) -> Terminal<'a> {
        Terminal {
            format,
            ..Terminal::new(out)
        }
    }

    /// Showing a fleet's tenants as they are checked.
    pub fn with_fleet(out: &'a Output, view: FleetView) -> Terminal<'a> {
        Terminal {
            fleet: Some(view),
            ..Terminal::new(out)
        }
    }

    /// With a line per domain on a terminal (none when `quiet`).
    pub fn with_progress(out: &'a Output, quiet: bool) -> Terminal<'a> {
        Terminal {
            progress: Some(Progress::new(quiet)),
            ..Terminal::new(out)
        }
    }

    /// Clears the progress lines or bar (the command then prints its own summary).
    pub fn clear_progress(&self) {
        if let Some(p) = &self.progress {
            p.clear();
        }
        if let Some(f) = &self.fleet {
            f.bar.clear();
        }
    }
}

impl Events for Terminal<'_> {
    fn issues(&self, issues: &[Issue], sources: &Sources) {
        self.out.issues(issues, sources);
    }

    fn warning(&self, message: &str) {
        self.out.warning(message);
    }

    fn note(&self, message: &str) {
        eprintln!("note: {message}");
    }

    fn planned(&self, plan: &Plan) {
        super::show::warnings(plan);
        let color = super::output::stdout_color();
        print!("{}", render::text(plan, Style { color }));
    }

    fn preflight(&self, plan: &Plan, report: &Report) {
        super::show::preflight(self.format, plan, report);
    }

    fn mapped(&self, from: &str, to: &str, entries: &[MapEntry], proposed: bool) {
        super::show::mapped(from, to, entries, proposed);
    }

    fn domain_started(&self, domain: Domain) {
        if let (Some(p), Ok(mut tasks)) = (&self.progress, self.tasks.lock()) {
            tasks.push((domain, p.task(domain.as_str(), "reading")));
        }
    }

    fn domain_done(&self, domain: Domain, status: &str) {
        if let Ok(tasks) = self.tasks.lock()
            && let Some((_, t)) = tasks.iter().find(|(d, _)| *d == domain)
        {
            t.done(status);
        }
    }

    fn tenant_started(&self, tenant: &str, path: &str) {
        if self.fleet.as_ref().is_some_and(|f| f.json) {
            let e = Event::TenantStart {
                tenant: tenant.into(),
                path: path.into(),
            };
            super::show::say(&(e.line() + "\n"));
        }
    }

    fn tenant_checked(&self, d: &Checked) {
        let Some(f) = &self.fleet else {
            return;
        };
        f.bar.print(|| {
            if f.json {
                for e in Event::of_tenant(&d.result) {
                    super::show::say(&(e.line() + "\n"));
                }
            } else if f.blocks {
                let (block, said) = super::show::block(d);
                f.say(&d.result.tenant, said);
                super::show::say(&block);
            }
        });
        f.bar.step();
    }

    fn slot(&self, schedule: &str, at: &str, news: Slot) {
        let what = match news {
            Slot::AlreadyRun => "already run",
            Slot::Held => "already run (or running)",
            Slot::Claimed => "",
            Slot::TakenOver => " again: the runner that claimed it stopped",
        };
        match news {
            Slot::Claimed | Slot::TakenOver => {
                println!("schedule `{schedule}`: running slot {at}{what}")
            }
            _ => println!("schedule `{schedule}`: slot {at} {what}"),
        }
    }

    fn confirm(&self, question: &Question) -> Answer {
        if !std::io::stdin().is_terminal() {
            return Answer::NobodyToAsk;
        }
        print!("{} Type {} to go on: ", question.text, question.expected);
        let _ = std::io::stdout().flush();
        let mut answer = String::new();
        let _ = std::io::stdin().lock().read_line(&mut answer);
        match answer.trim() == question.expected {
            true => Answer::Yes,
            false => Answer::No,
        }
    }
}
