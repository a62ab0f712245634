//! How problems are printed: with source snippets (miette), one line each, or JSON.

use std::io::IsTerminal;

use clap::ValueEnum;

use crate::diag::{Issue, Severity, Sources};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorWhen {
    Auto,
    Always,
    Never,
}

impl ColorWhen {
    /// Whether output to a stream (a terminal or not) is coloured: `--color`, then NO_COLOR (set and not
    /// empty: never), then CLICOLOR_FORCE (set and not `0`: always), then whether the stream is a terminal.
    pub(super) fn colors(self, terminal: bool) -> bool {
        let set = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        match self {
            ColorWhen::Always => true,
            ColorWhen::Never => false,
            ColorWhen::Auto if set("NO_COLOR").is_some() => false,
            ColorWhen::Auto if set("CLICOLOR_FORCE").is_some_and(|v| v != "0") => true,
            ColorWhen::Auto => terminal,
        }
    }
}

/// Whether what goes to standard output is coloured (decided once, from the command line).
pub(super) static STDOUT_COLOR: std::sync::OnceLock<bool> = std::sync::OnceLock::new();

/// Whether to colour standard output.
pub fn stdout_color() -> bool {
    *STDOUT_COLOR.get_or_init(|| ColorWhen::Auto.colors(std::io::stdout().is_terminal()))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum MessageFormat {
    Human,
    Short,
    Json,
}

/// Where problems are reported.
pub struct Output {
    pub format: MessageFormat,
}

impl Output {
    /// Prints issues to stderr in the chosen format.
    pub fn issues(&self, issues: &[Issue], sources: &Sources) {
        eprint!("{}", self.render(issues, sources));
    }

    /// Issues as text in the chosen format (for output that is printed later, in order).
    pub fn render(&self, issues: &[Issue], sources: &Sources) -> String {
        use std::fmt::Write;
        let mut out = String::new();
        match self.format {
            MessageFormat::Human => {
                for i in issues {
                    // A problem with no place in a file is one line (`error: ...`), as every warning
                    // and error of falconer's own is; one in a file shows its place with a snippet.
                    match i.span.is_none() && i.related.is_empty() {
                        true => {
                            let _ = writeln!(out, "{}", i.short(sources));
                        }
                        false => {
                            let _ = writeln!(out, "{:?}", miette::Report::new(i.report(sources)));
                        }
                    }
                }
            }
            MessageFormat::Short => {
                for i in issues {
                    let _ = writeln!(out, "{}", i.short(sources));
                }
            }
            MessageFormat::Json => {
                if !issues.is_empty() {
                    let items: Vec<serde_json::Value> =
                        issues.iter().map(|i| issue_json(i, sources)).collect();
                    let _ = writeln!(out, "{}", serde_json::Value::Array(items));
                }
            }
        }
        out
    }

    /// A one-line error that is not about a file.
    pub fn error(&self, message: impl Into<String>) {
        self.issues(&[Issue::error("error", message)], &Sources::default());
    }

    /// A one-line warning that is not about a file (on standard error, in the chosen format).
    pub fn warning(&self, message: impl Into<String>) {
        self.issues(&[Issue::warning("warning", message)], &Sources::default());
    }
}

/// An issue as JSON: severity, code, message, file/line/column or JSON path, help.
pub fn issue_json(i: &Issue, sources: &Sources) -> serde_json::Value {
    let mut o = serde_json::Map::new();
    o.insert(
        "severity".into(),
        match i.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        }
        .into(),
    );
    o.insert("code".into(), i.code.into());
    o.insert("message".into(), i.message.clone().into());
    if let Some(span) = i.span
        && let Some(f) = sources.get(span.file)
    {
        let (line, col) = crate::diag::line_col(&f.text, span.start as usize);
        o.insert("file".into(), f.name.clone().into());
        o.insert("line".into(), line.into());
        o.insert("column".into(), col.into());
    }
    if let Some(p) = &i.path {
        o.insert("path".into(), p.clone().into());
    }
    if let Some(h) = &i.help {
        o.insert("help".into(), h.clone().into());
    }
    serde_json::Value::Object(o)
}
