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
