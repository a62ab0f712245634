//! Diagnostics: source files, spans, and issues rendered as miette reports.
//!
//! Every problem found in user input becomes an [`Issue`] with a severity, a stable code, a message, and
//! (when it comes from a file) a [`Span`]. Issues are collected, never thrown one at a time, so a run reports
//! every problem it can find. [`Sources`] owns the text of every file read so that a span can be turned into
//! `file:line:column` and a source snippet.

use std::fmt;
use std::sync::Arc;

use miette::{Diagnostic, LabeledSpan, NamedSource, SourceSpan};

/// A byte range inside one file of a [`Sources`] set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Span {
    pub file: u32,
    pub start: u32,
    pub end: u32,
}

impl Span {
    pub fn new(file: u32, range: std::ops::Range<usize>) -> Self {
        let start = u32::try_from(range.start).unwrap_or(u32::MAX);
        let end = u32::try_from(range.end.max(range.start)).unwrap_or(u32::MAX);
        Span { file, start, end }
    }
}

/// One file that was read, with the name it is shown under.
#[derive(Debug, Clone)]
pub struct SourceFile {
    pub name: String,
    pub text: Arc<String>,
}

/// All files read during one run.
#[derive(Debug, Default, Clone)]
pub struct Sources {
    files: Vec<SourceFile>,
}

impl Sources {
    pub fn add(&mut self, name: impl Into<String>, text: impl Into<String>) -> u32 {
        self.files.push(SourceFile {
            name: name.into(),
            text: Arc::new(text.into()),
        });
        u32::try_from(self.files.len() - 1).unwrap_or(u32::MAX)
    }

    pub fn get(&self, id: u32) -> Option<&SourceFile> {
        self.files.get(id as usize)
    }

    /// Hides the text of a span (a plain secret) in every rendering of the file, keeping byte offsets: the
    /// value's characters become `*`; a `key=` before it and its quotes stay.
    pub fn mask(&mut self, span: Span) {
        let Some(f) = self.files.get_mut(span.file as usize) else {
            return;
        };
        let text = std::sync::Arc::make_mut(&mut f.text);
        let (mut start, mut end) = (span.start as usize, (span.end as usize).min(text.len()));
        if start >= end || !text.is_char_boundary(start) || !text.is_char_boundary(end) {
            return;
        }
        if let Some(eq) = text[start..end].find('=') {
            start += eq + 1;
        }
        let inner = &text[start..end];
        let quoted = inner.len() >= 2
            && (inner.starts_with('"') || inner.starts_with('#'))
            && inner.ends_with(['"', '#']);
        if quoted {
            start += inner.find('"').map(|i| i + 1).unwrap_or(1);
            end -= inner.len() - inner.rfind('"').unwrap_or(inner.len() - 1);
        }
        if start >= end {
            return;
        }
        let masked: String = text[start..end]
            .chars()
            .map(|c| {
                if c == '\n' {
                    "\n".to_string()
                } else {
                    "*".repeat(c.len_utf8())
                }
            })
            .collect();
        text.replace_range(start..end, &masked);
    }

    /// `file:line:column` (1-based, columns in characters) of a span's start.
    pub fn location(&self, span: Span) -> String {
        match self.get(span.file) {
            Some(f) => {
                let (line, col) = line_col(&f.text, span.start as usize);
                format!("{}:{}:{}", f.name, line, col)
            }
            None => "<unknown>".to_string(),
        }
    }
}

/// 1-based line and column (in characters) of a byte offset.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
    let col = before[line_start..].chars().count() + 1;
    (line, col)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Warning,
    Error,
}

/// A rule a system holds its configuration to: what breaks it the system refuses, so falconer refuses it
/// before anything is written (`validate`, `plan` and a restore's preflight). Each domain lists its rules
/// (`RULES` in its module) and its documentation has a table of them.
#[derive(Debug, PartialEq, Eq)]
pub struct Rule {
    /// Stable name, as the domain's documentation lists it: `s3-cors-methods`.
    pub id: &'static str,
    /// What the system requires, in words.
    pub says: &'static str,
    /// Where the rule is written (the system's API reference).
    pub source: &'static str,
    /// A manifest (TOML, after a `[tenant]` block of tenant `acme`) that breaks it: the test that every rule is
    /// checked reads it.
    pub breaks: &'static str,
}

/// A problem in user input.
#[derive(Debug, Clone, PartialEq)]
pub struct Issue {
    pub severity: Severity,
    /// Stable, documented code such as `unknown-field`.
    pub code: &'static str,
    pub message: String,
    pub span: Option<Span>,
    pub label: Option<String>,
    pub help: Option<String>,
    /// Other places that matter (for example where a duplicate was first defined).
    pub related: Vec<(Span, String)>,
    /// For inputs without spans (JSON artifacts read as data): a JSON pointer into the input.
    pub path: Option<String>,
    /// The resource's field the issue is about (`cors_rule[0].allowed_methods`), when a resource's check
    /// found it; empty for the whole resource.
    pub field: Option<String>,
    /// The system's rule it breaks, when it is one.
    pub rule: Option<&'static Rule>,
}

impl Issue {
    pub fn error(code: &'static str, message: impl Into<String>) -> Self {
        Issue {
            severity: Severity::Error,
            code,
            message: message.into(),
            span: None,
            label: None,
            help: None,
            related: Vec::new(),
            path: None,
            field: None,
            rule: None,
        }
    }

    pub fn warning(code: &'static str, message: impl Into<String>) -> Self {
        Issue {
            severity: Severity::Warning,
            ..Issue::error(code, message)
        }
    }

    pub fn at(mut self, span: Span) -> Self {
        self.span = Some(span);
        self
    }

    pub fn at_opt(mut self, span: Option<Span>) -> Self {
        if self.span.is_none() {
            self.span = span;
        }
        self
    }

    pub fn label(mut self, label: impl Into<String>) -> Self {
        self.label = Some(label.into());
        self
    }

    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    pub fn related(mut self, span: Span, note: impl Into<String>) -> Self {
        self.related.push((span, note.into()));
        self
    }

    pub fn path(mut self, path: impl Into<String>) -> Self {
        self.path = Some(path.into());
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// One line (plus an indented help line) in the form `file:line:col: error[code]: message`.
    /// Used for logs, CI output and snapshot tests.
    pub fn short(&self, sources: &Sources) -> String {
        let sev = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        let mut out = String::new();
        if let Some(span) = self.span {
            out.push_str(&sources.location(span));
            out.push_str(": ");
        }
        // A generic code (`error`, `warning`) says nothing the severity does not.
        // A line break inside the message (a value quoted from the input) is shown escaped: one line per
        // problem, and no input can forge a line of its own.
        let message = self.message.replace('\n', "\\n");
        match self.code == sev {
            true => out.push_str(&format!("{sev}: {message}")),
            false => out.push_str(&format!("{sev}[{}]: {message}", self.code)),
        }
        if let Some(p) = &self.path {
            out.push_str(&format!(" (at {p})"));
        }
        for (span, note) in &self.related {
            out.push_str(&format!("; note: {}: {note}", sources.location(*span)));
        }
        if let Some(h) = &self.help {
            out.push_str(&format!("; help: {h}"));
        }
        if let Some(r) = self.rule {
            out.push_str(&format!("; {}", rule_line(r)));
        }
        // One line per problem, whatever the message holds.
        out.split('\n')
            .map(str::trim_end)
            .filter(|l| !l.is_empty())
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// A miette report with a source snippet.
    pub fn report(&self, sources: &Sources) -> Report {
        let mut rep = Report {
            message: match &self.path {
                Some(p) => format!("{} (at {p})", self.message),
                None => self.message.clone(),
            },
            code: Some(self.code),
            severity: match self.severity {
                Severity::Error => miette::Severity::Error,
                Severity::Warning => miette::Severity::Warning,
            },
            help: match (&self.help, self.rule) {
                (Some(h), Some(r)) => Some(format!("{h}\n{}", rule_line(r))),
                (None, Some(r)) => Some(rule_line(r)),
                (h, None) => h.clone(),
            },
            source: None,
            labels: Vec::new(),
            related: Vec::new(),
        };
        if let Some(span) = self.span
            && let Some(f) = sources.get(span.file)
        {
            rep.source = Some(NamedSource::new(f.name.clone(), f.text.clone()));
            rep.labels.push(LabeledSpan::new_with_span(
                self.label.clone(),
                to_source_span(span),
            ));
        }
        for (span, note) in &self.related {
            // A place in the same file is a second label of the one snippet; another file's is a note
            // (advice) after it, never a second warning.
            if self.span.is_some_and(|s| s.file == span.file) && rep.source.is_some() {
                rep.labels.push(LabeledSpan::new_with_span(
                    Some(note.clone()),
                    to_source_span(*span),
                ));
                continue;
            }
            if let Some(f) = sources.get(span.file) {
                rep.related.push(Report {
                    message: note.clone(),
                    code: None,
                    severity: miette::Severity::Advice,
                    help: None,
                    source: Some(NamedSource::new(f.name.clone(), f.text.clone())),
                    labels: vec![LabeledSpan::new_with_span(
                        Some(note.clone()),
                        to_source_span(*span),
                    )],
                    related: Vec::new(),
                });
            }
        }
        rep
    }
}

/// How an issue names the rule it breaks.
fn rule_line(r: &Rule) -> String {
    format!("rule {}: {} ({})", r.id, r.says, r.source)
}

fn to_source_span(span: Span) -> SourceSpan {
    SourceSpan::new(
        (span.start as usize).into(),
        (span.end.saturating_sub(span.start)) as usize,
    )
}

/// A rendered issue, ready for miette's report handlers.
#[derive(Debug)]
pub struct Report {
    message: String,
    code: Option<&'static str>,
    severity: miette::Severity,
    help: Option<String>,
    source: Option<NamedSource<Arc<String>>>,
    labels: Vec<LabeledSpan>,
    related: Vec<Report>,
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Report {}

impl Diagnostic for Report {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.code.map(|c| Box::new(c) as Box<dyn fmt::Display>)
    }
    fn severity(&self) -> Option<miette::Severity> {
        Some(self.severity)
    }
    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.help
            .as_ref()
            .map(|h| Box::new(h.clone()) as Box<dyn fmt::Display>)
    }
    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        self.source.as_ref().map(|s| s as &dyn miette::SourceCode)
    }
    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        if self.labels.is_empty() {
            None
        } else {
            Some(Box::new(self.labels.iter().cloned()))
        }
    }
    fn related<'a>(&'a self) -> Option<Box<dyn Iterator<Item = &'a dyn Diagnostic> + 'a>> {
        if self.related.is_empty() {
            None
        } else {
            Some(Box::new(self.related.iter().map(|r| r as &dyn Diagnostic)))
        }
    }
}

/// The closest candidate to `word`, if any is close enough to be a likely typo.
pub fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let lw = word.to_ascii_lowercase();
    let mut best: Option<(&str, usize)> = None;
    for c in candidates {
        let d = strsim::damerau_levenshtein(&lw, &c.to_ascii_lowercase());
        let limit = (c.chars().count().max(word.chars().count()) / 3).max(1);
        if d <= limit && best.is_none_or(|(_, bd)| d < bd) {
            best = Some((c, d));
        }
    }
    best.map(|(c, _)| c)
}

/// Sorts issues errors-first, then by file and position, and removes exact duplicates.
pub fn sort_issues(issues: &mut Vec<Issue>) {
    issues.sort_by(|a, b| {
        let ka = a.span.map(|s| (s.file, s.start)).unwrap_or((u32::MAX, 0));
        let kb = b.span.map(|s| (s.file, s.start)).unwrap_or((u32::MAX, 0));
        ka.cmp(&kb).then_with(|| a.message.cmp(&b.message))
    });
    issues.dedup();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_counts_chars() {
        let t = "ab\ncdé\nf";
        assert_eq!(line_col(t, 0), (1, 1));
        assert_eq!(line_col(t, 3), (2, 1));
        assert_eq!(line_col(t, 7), (2, 4));
        assert_eq!(line_col(t, 8), (3, 1));
        // Offsets inside a character or past the end never panic.
        assert_eq!(line_col(t, 6), (2, 3));
        assert_eq!(line_col(t, 100), (3, 2));
    }

    #[test]
    fn suggestions() {
        assert_eq!(
            did_you_mean("nulable", ["nullable", "name"]),
            Some("nullable")
        );
        assert_eq!(did_you_mean("zzz", ["nullable", "name"]), None);
    }
}
