//! Plan renderings: text (Terraform-like, coloured on a terminal), Markdown for a pull-request comment
//! (risk-ranked, collapsible, always under 65,000 characters) and JSON (versioned).

use std::fmt::Write;

use serde_json::Value;

use super::{Action, Change, Plan, PlannedField};
use crate::model::HazardCode;

/// GitHub refuses comments over 65,536 characters; the Markdown plan stays under this.
pub const MARKDOWN_LIMIT: usize = 65_000;

/// ANSI styling, off unless asked for.
#[derive(Debug, Clone, Copy, Default)]
pub struct Style {
    pub color: bool,
}

impl Style {
    fn paint(&self, code: &str, s: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    }
    fn action(&self, a: Action, s: &str) -> String {
        let code = match a {
            Action::Create => "32",
            Action::Update => "33",
            Action::Replace => "35",
            Action::Delete => "31",
        };
        self.paint(code, s)
    }
    fn bold(&self, s: &str) -> String {
        self.paint("1", s)
    }
    fn warn(&self, s: &str) -> String {
        self.paint("1;31", s)
    }
}

/// A value on one line (strings quoted, documents as compact JSON).
fn inline(v: &Value) -> String {
    v.to_string()
}

/// A document (object or list) too long for one line: shown over indented lines.
fn is_document(v: Option<&Value>) -> bool {
    v.is_some_and(|v| (v.is_object() || v.is_array()) && inline(v).len() > 72)
}

/// A document over indented lines.
fn pretty(v: &Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_default()
}

/// Long or multi-line text is shown as a unified diff.
fn is_long(v: Option<&Value>) -> bool {
    v.and_then(Value::as_str)
        .is_some_and(|s| s.contains('\n') || s.len() > 60)
}

fn unified(old: &str, new: &str) -> String {
    // Compare whole lines: a missing final newline is not a change worth a line of its own.
    let line = |s: &str| {
        if s.ends_with('\n') {
            s.to_string()
        } else {
            format!("{s}\n")
        }
    };
    let (old, new) = (line(old), line(new));
    let d = similar::TextDiff::from_lines(&old, &new);
    let mut out = d
        .unified_diff()
        .context_radius(3)
        .header("live", "desired")
        .to_string();
    if !out.ends_with('\n') {
        out.push('\n');
    }
    out
}

fn field_lines(f: &PlannedField, indent: &str, style: Style) -> String {
    let mut out = String::new();
    let mark = match (&f.old, &f.new) {
        _ if f.sensitive => "~",
        (None, Some(_)) => "+",
        (Some(_), None) => "-",
        _ => "~",
    };
    let replace = if f.forces_replace {
        "  # forces replacement"
    } else {
        ""
    };
    if f.sensitive {
        let _ = writeln!(
            out,
            "{indent}{mark} {}: (sensitive value changed){replace}",
            f.path
        );
        return out;
    }
    let text = |v: &Option<Value>| {
        v.as_ref()
            .and_then(|x| x.as_str())
            .unwrap_or_default()
            .to_string()
    };
    if (is_long(f.old.as_ref()) || is_long(f.new.as_ref()))
        && f.old.as_ref().is_none_or(Value::is_string)
        && f.new.as_ref().is_none_or(Value::is_string)
    {
        let _ = writeln!(out, "{indent}{mark} {}:{replace}", f.path);
        diff_lines(&mut out, &text(&f.old), &text(&f.new), indent, style);
        return out;
    }
    if is_document(f.old.as_ref()) || is_document(f.new.as_ref()) {
        let _ = writeln!(out, "{indent}{mark} {}:{replace}", f.path);
        let side = |v: &Option<Value>| v.as_ref().map(pretty).unwrap_or_default();
        diff_lines(&mut out, &side(&f.old), &side(&f.new), indent, style);
        return out;
    }
    match (&f.old, &f.new) {
        (None, Some(n)) => {
            let _ = writeln!(out, "{indent}{mark} {}: {}{replace}", f.path, inline(n));
        }
        (Some(o), None) => {
            let _ = writeln!(out, "{indent}{mark} {}: {}{replace}", f.path, inline(o));
        }
        (Some(o), Some(n)) => {
            let _ = writeln!(
                out,
                "{indent}{mark} {}: {} → {}{replace}",
                f.path,
                inline(o),
                inline(n)
            );
        }
        (None, None) => {}
    }
    out
}

/// A unified diff of two texts, under the field, its lines painted.
fn diff_lines(out: &mut String, old: &str, new: &str, indent: &str, style: Style) {
    for line in unified(old, new).lines() {
        let painted = match line.chars().next() {
            Some('+') if !line.starts_with("+++") => style.action(Action::Create, line),
            Some('-') if !line.starts_with("---") => style.action(Action::Delete, line),
            _ => line.to_string(),
        };
        let _ = writeln!(out, "{indent}    {painted}");
    }
}

/// The fields of a created or deleted resource, one per line.
fn value_lines(v: &Value, indent: &str) -> String {
    let mut out = String::new();
    if let Value::Object(m) = v {
        for (k, x) in m {
            match x.as_str() {
                Some(s) if s.contains('\n') => {
                    let _ = writeln!(out, "{indent}{k}:");
                    for line in s.lines() {
                        let _ = writeln!(out, "{indent}    {line}");
                    }
                }
                _ if is_document(Some(x)) => {
                    let _ = writeln!(out, "{indent}{k} =");
                    for line in pretty(x).lines() {
                        let _ = writeln!(out, "{indent}    {line}");
                    }
                }
                _ => {
                    let _ = writeln!(out, "{indent}{k} = {}", inline(x));
                }
            }
        }
    }
    out
}

fn heading(c: &Change) -> String {
    let mut h = format!("{} {}", c.action.symbol(), c.address);
    if c.action == Action::Replace {
        let why: Vec<&str> = c
            .fields
            .iter()
            .filter(|f| f.forces_replace)
            .map(|f| f.path.as_str())
            .collect();
        let _ = write!(h, " (replace: {})", why.join(", "));
    }
    h
}

fn counts_line(plan: &Plan) -> String {
    let c = &plan.summary.counts;
    format!(
        "{} to create, {} to update, {} to replace, {} to delete",
        c.create, c.update, c.replace, c.delete
    )
}

fn hazards_line(plan: &Plan) -> Option<String> {
    if plan.summary.hazards.is_empty() {
        return None;
    }
    let parts: Vec<String> = plan
        .summary
        .hazards
        .iter()
        .map(|(k, n)| format!("{k} ({n})"))
        .collect();
    Some(parts.join(", "))
}

/// The text rendering.
pub fn text(plan: &Plan, style: Style) -> String {
    let mut out = String::new();
    if plan.changes.is_empty() {
        let _ = writeln!(
            out,
            "No changes: tenant `{}` is as desired ({} resources unchanged).",
            plan.tenant, plan.summary.unchanged
        );
    } else {
        let _ = writeln!(out, "falconer will change tenant `{}`:\n", plan.tenant);
        let mut wave = usize::MAX;
        for c in &plan.changes {
            if c.wave != wave {
                wave = c.wave;
                let _ = writeln!(out, "{}", style.bold(&format!("# wave {wave}")));
            }
            let _ = writeln!(out, "  {}", style.action(c.action, &heading(c)));
            for h in &c.hazards {
                let _ = writeln!(
                    out,
                    "      {} {}",
                    style.warn(&format!("! {}:", h.code)),
                    h.message
                );
            }
            match c.action {
                Action::Create => out.push_str(&value_lines(
                    c.value.as_ref().unwrap_or(&Value::Null),
                    "      ",
                )),
                Action::Update | Action::Replace => {
                    for f in &c.fields {
                        out.push_str(&field_lines(f, "      ", style));
                    }
                }
                Action::Delete => {}
            }
        }
        let _ = writeln!(out);
    }
    if !plan.unmanaged.is_empty() {
        let _ = writeln!(
            out,
            "Not managed by falconer, left alone ({}):",
            plan.unmanaged.len()
        );
        for a in &plan.unmanaged {
            let _ = writeln!(out, "  ? {a}");
        }
        let _ = writeln!(out);
    }
    // The plan's warnings are not part of its text: the command line writes them to standard error.
    if !plan.changes.is_empty() {
        let _ = writeln!(
            out,
            "{}",
            style.bold(&format!("Plan: {}.", counts_line(plan)))
        );
        if let Some(h) = hazards_line(plan) {
            let _ = writeln!(
                out,
                "{}",
                style.warn(&format!(
                    "Hazards: {h}. Applying needs --allow for each code."
                ))
            );
        }
    }
    out
}

pub fn md_escape(s: &str) -> String {
    s.replace('|', "\\|")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Appends pieces while the text stays within `limit` characters; returns how many fit.
pub fn append_within(
    out: &mut String,
    pieces: impl Iterator<Item = String>,
    limit: usize,
) -> usize {
    let mut n = 0;
    for p in pieces {
        if out.len() + p.len() > limit {
            break;
        }
        out.push_str(&p);
        n += 1;
    }
    n
}

/// One change as a collapsible Markdown block.
fn details(c: &Change) -> String {
    let mut block = format!("<details><summary><code>{}</code>", md_escape(&heading(c)));
    if let Some(h) = c.worst() {
        let _ = write!(block, " ⚠️ <code>{h}</code>");
    }
    block.push_str("</summary>\n\n");
    for h in &c.hazards {
        let _ = writeln!(block, "- **{}**: {}", h.code, md_escape(&h.message));
    }
    block.push_str("\n```diff\n");
    match c.action {
        Action::Create => {
            for line in value_lines(c.value.as_ref().unwrap_or(&Value::Null), "").lines() {
                let _ = writeln!(block, "+ {line}");
            }
        }
        Action::Delete => {
            let _ = writeln!(block, "- {}", c.address);
        }
        _ => {
            for f in &c.fields {
                block.push_str(&field_lines(f, "", Style::default()));
            }
        }
    }
    block.push_str("```\n\n</details>\n\n");
    block.replace("```diff\n```", "```diff\n(no details)\n```")
}

/// The changes, riskiest first: by worst hazard, then deletes and replaces before updates and creates.
fn riskiest_first(plan: &Plan) -> Vec<&Change> {
    let rank = |c: &Change| -> (usize, usize) {
        let h = c.worst().map(|h| h as usize).unwrap_or(9);
        let a = match c.action {
            Action::Delete => 0,
            Action::Replace => 1,
            Action::Update => 2,
            Action::Create => 3,
        };
        (h, a)
    };
    let mut ranked: Vec<&Change> = plan.changes.iter().collect();
    ranked.sort_by(|a, b| {
        rank(a)
            .cmp(&rank(b))
            .then_with(|| a.address.to_string().cmp(&b.address.to_string()))
    });
    ranked
}

/// The Markdown rendering for a pull-request comment, always under [`MARKDOWN_LIMIT`] characters.
pub fn markdown(plan: &Plan) -> String {
    let mut out = format!("### falconer plan — tenant `{}`\n\n", plan.tenant);
    if plan.changes.is_empty() {
        let _ = writeln!(
            out,
            "**No changes.** {} resources are as desired.",
            plan.summary.unchanged
        );
    } else {
        let _ = write!(out, "**{}**", counts_line(plan));
        match plan.summary.highest_hazard {
            Some(h) => {
                let _ = writeln!(out, " · highest hazard: **`{h}`**\n");
            }
            None => out.push_str(" · no hazards\n\n"),
        }
        if let Some(h) = hazards_line(plan) {
            let _ = writeln!(
                out,
                "> ⚠️ Hazards: {h}. Applying needs `--allow` for each code.\n"
            );
        }
    }
    let ranked = riskiest_first(plan);
    if !ranked.is_empty() {
        out.push_str("| | Resource | Hazards |\n|---|---|---|\n");
        let rows = ranked.iter().map(|c| {
            let hazards: Vec<String> = c.hazards.iter().map(|h| format!("`{}`", h.code)).collect();
            format!(
                "| `{}` | `{}` | {} |\n",
                c.action.symbol(),
                md_escape(&c.address.to_string()),
                hazards.join(" ")
            )
        });
        let shown_rows = append_within(&mut out, rows, MARKDOWN_LIMIT * 2 / 5);
        if shown_rows < ranked.len() {
            let _ = writeln!(
                out,
                "\n_… and {} more changes (the table is cut to fit a comment)._",
                ranked.len() - shown_rows
            );
        }
        out.push('\n');
    }

    // Room is kept for the closing notes.
    let shown_details = append_within(
        &mut out,
        ranked.iter().map(|c| details(c)),
        MARKDOWN_LIMIT - 400,
    );
    if shown_details < ranked.len() {
        let _ = writeln!(
            out,
            "_Details of {} more changes are left out to stay under GitHub's comment limit; run `falconer plan --format text` for the full plan._",
            ranked.len() - shown_details
        );
    }
    if !plan.unmanaged.is_empty() {
        let _ = writeln!(
            out,
            "\n{} live resources are not managed by falconer and are left alone.",
            plan.unmanaged.len()
        );
    }
    for w in &plan.warnings {
        let line = format!("\n> warning: {}\n", md_escape(w));
        if out.len() + line.len() < MARKDOWN_LIMIT {
            out.push_str(&line);
        }
    }
    out
}

/// The JSON rendering (the plan file format).
pub fn json(plan: &Plan) -> String {
    serde_json::to_string_pretty(plan).unwrap_or_default() + "\n"
}

/// The worst hazard code of a plan, for exit decisions.
pub fn worst(plan: &Plan) -> Option<HazardCode> {
    plan.summary.highest_hazard
}
