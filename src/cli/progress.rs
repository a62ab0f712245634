//! Progress of long work on a terminal (one line per domain, a spinner while it runs, its outcome when
//! done); nothing off a terminal or with `-q`, so logs and pipes get only the command's own output.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// The lines of one piece of work.
pub struct Progress {
    multi: Option<MultiProgress>,
}

/// One line: a domain being read or applied.
pub struct Task {
    bar: Option<ProgressBar>,
}

impl Progress {
    /// Shown only on a terminal (stderr), and not when `quiet`.
    pub fn new(quiet: bool) -> Progress {
        let shown = !quiet && std::io::stderr().is_terminal();
        Progress {
            multi: shown.then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr())),
        }
    }

    /// Clears the lines (the command then prints its own summary).
    pub fn clear(&self) {
        if let Some(m) = &self.multi {
            let _ = m.clear();
        }
    }

    /// A line for `name`, running until [`Task::done`].
    pub fn task(&self, name: &str, doing: &str) -> Task {
        let Some(multi) = &self.multi else {
            return Task { bar: None };
        };
        let bar = multi.add(ProgressBar::new_spinner());
        if let Ok(style) = ProgressStyle::with_template("{spinner} {prefix:<10} {msg} {elapsed}") {
            bar.set_style(style);
        }
        bar.set_prefix(name.to_string());
        bar.set_message(doing.to_string());
        bar.enable_steady_tick(Duration::from_millis(120));
        Task { bar: Some(bar) }
    }
}

impl Task {
    /// Ends the line with its outcome.
    pub fn done(&self, outcome: &str) {
        if let Some(bar) = &self.bar {
            bar.finish_with_message(outcome.to_string());
        }
    }
}

/// A bar counting units of work (a fleet's tenants) on a terminal; what the command prints meanwhile goes
/// above it, never through it.
pub struct Counter {
    bar: Option<ProgressBar>,
}

impl Counter {
    /// Shown only on a terminal (stderr), and not when `quiet`.
    pub fn new(quiet: bool, total: usize, what: &str) -> Counter {
        let shown = !quiet && std::io::stderr().is_terminal();
        let bar = shown.then(|| {
            let bar = ProgressBar::with_draw_target(
                Some(u64::try_from(total).unwrap_or(u64::MAX)),
                ProgressDrawTarget::stderr(),
            );
            if let Ok(style) =
                ProgressStyle::with_template("{bar:30} {pos}/{len} {msg} {elapsed} (eta {eta})")
            {
                bar.set_style(style);
            }
            bar.set_message(what.to_string());
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        Counter { bar }
    }

    /// Prints `text` (to standard output) above the bar.
    pub fn print(&self, text: impl FnOnce()) {
        match &self.bar {
            Some(b) => b.suspend(text),
            None => text(),
        }
    }

    /// One more unit done.
    pub fn step(&self) {
        if let Some(b) = &self.bar {
            b.inc(1);
        }
    }

    /// Removes the bar (the command then prints its summary).
    pub fn clear(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}
