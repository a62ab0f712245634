//! A fleet run in Markdown, for a pull-request comment or a CI job summary: a hidden marker line (a CI step
//! finds the comment it posted before and updates it), the counts first, then only the tenants with changes
//! or problems, riskiest first, each one's details collapsed. Always under GitHub's 65,535-character limit:
//! what does not fit is named, with where the full report is.

use std::fmt::Write;

use super::report::{Report, Status, TenantResult};
use crate::plan::render::{MARKDOWN_LIMIT, append_within, md_escape};

/// The marker line's prefix (the whole line is `<!-- falconer:COMMAND -->`).
pub const MARKER: &str = "<!-- falconer:";

/// Rows of one tenant's table of changes before it is cut.
const ROWS_PER_TENANT: usize = 40;

/// The marker line of a command's comment.
pub fn marker(command: &str) -> String {
    format!("{MARKER}{} -->", command.replace(' ', "-"))
}

/// Riskiest first: failures, then the worst hazard, then new drift before old, then more changes.
fn rank(r: &TenantResult) -> (u8, u8, u8, std::cmp::Reverse<usize>) {
    let failed = u8::from(!r.status.failed());
    let hazard = r.highest_hazard.map_or(u8::MAX, |h| h as u8);
    let new = u8::from(r.status != Status::NewDrift);
    (failed, hazard, new, std::cmp::Reverse(r.counts.total()))
}

/// The Markdown of a run; `full` names where the full report is (the `--report` file), if anywhere.
pub fn render(report: &Report, full: Option<&str>) -> String {
    let mut out = marker(&report.command);
    let shard = report
        .shard
        .as_ref()
        .map(|s| format!(" (shard {s})"))
        .unwrap_or_default();
    let _ = write!(
        out,
        "\n### falconer {} — {} tenants{shard}\n\n**{}**\n\n",
        report.command,
        report.summary.tenants,
        report.summary.line()
    );
    let mut shown: Vec<&TenantResult> = report
        .tenants
        .iter()
        .filter(|r| r.status.failed() || r.status.changed() || r.status == Status::Resolved)
        .collect();
    shown.sort_by(|a, b| rank(a).cmp(&rank(b)).then(a.tenant.cmp(&b.tenant)));
    if shown.is_empty() {
        out.push_str("Every tenant is as its manifest says.\n");
        return out;
    }
    // Room is kept for the closing note, which names every tenant left out (up to a point).
    let names_room = shown
        .iter()
        .map(|r| r.tenant.len() + 4)
        .sum::<usize>()
        .min(NAMES_ROOM);
    let budget = MARKDOWN_LIMIT - 600 - names_room;
    let n = append_within(&mut out, shown.iter().map(|r| tenant(r)), budget);
    if n < shown.len() {
        left_out(&mut out, &shown[n..], full);
    }
    out
}

/// Characters at most for the names of the tenants left out.
const NAMES_ROOM: usize = 20_000;

/// The closing note: how many tenants were left out, their names, and where the full report is.
fn left_out(out: &mut String, rest: &[&TenantResult], full: Option<&str>) {
    let mut names = String::new();
    for (i, r) in rest.iter().enumerate() {
        if names.len() + r.tenant.len() + 4 > NAMES_ROOM - 40 {
            let _ = write!(names, " and {} more", rest.len() - i);
            break;
        }
        if !names.is_empty() {
            names.push_str(", ");
        }
        let _ = write!(names, "`{}`", md_escape(&r.tenant));
    }
    let _ = writeln!(
        out,
        "\n_{} more tenants with changes or problems are left out to stay under GitHub's comment limit: {names}. {}_",
        rest.len(),
        match full {
            Some(f) => format!("The full report is `{}`.", md_escape(f)),
            None => "Run with `--report FILE` for the full report.".into(),
        }
    );
}

/// One tenant: a summary line, and its changes and problems collapsed.
fn tenant(r: &TenantResult) -> String {
    let icon = if r.status.failed() {
        "❌"
    } else if r.highest_hazard.is_some() {
        "⚠️"
    } else if r.status == Status::Resolved {
        "✅"
    } else {
        "🔶"
    };
    let hazard = r
        .highest_hazard
        .map(|h| format!(" · highest hazard `{h}`"))
        .unwrap_or_default();
    let c = &r.counts;
    let counts = if r.counts.total() > 0 {
        format!(
            ": {} to create, {} to update, {} to replace, {} to delete",
            c.create, c.update, c.replace, c.delete
        )
    } else {
        String::new()
    };
    let mut s = format!(
        "<details><summary>{icon} <code>{}</code> — {}{counts}{hazard}</summary>\n\n",
        md_escape(&r.tenant),
        r.status.words()
    );
    for p in r.problems() {
        let _ = writeln!(s, "> {}\n", md_escape(&p));
    }
    if !r.changes.is_empty() {
        s.push_str("| | Resource | Hazards |\n|---|---|---|\n");
        for ch in r.changes.iter().take(ROWS_PER_TENANT) {
            let hazards: Vec<String> = ch.hazards.iter().map(|h| format!("`{h}`")).collect();
            let _ = writeln!(
                s,
                "| `{}` | `{}` | {} |",
                ch.action.symbol(),
                md_escape(&ch.address),
                hazards.join(" ")
            );
        }
        if r.changes.len() > ROWS_PER_TENANT {
            let _ = writeln!(
                s,
                "\n_… and {} more changes._",
                r.changes.len() - ROWS_PER_TENANT
            );
        }
    }
    s.push_str("\n</details>\n\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fleet::report::{ChangeLine, Summary};
    use crate::plan::Action;

    /// A tenant with `n` changes.
    fn drifted(i: usize, n: usize) -> TenantResult {
        let mut r = TenantResult::failed(
            format!("tenant-{i:03}"),
            format!("tenants/tenant-{i:03}.toml"),
            Status::NewDrift,
            String::new(),
        );
        r.errors.clear();
        r.changes = (0..n)
            .map(|k| ChangeLine {
                address: format!("postgres.table.tenant_{i:03}.items_{k}"),
                action: Action::Update,
                hazards: Vec::new(),
                fields: vec!["columns".into()],
            })
            .collect();
        r.counts.update = n;
        r
    }

    fn report(tenants: Vec<TenantResult>) -> Report {
        Report {
            format_version: 1,
            command: "drift".into(),
            started_at: String::new(),
            finished_at: String::new(),
            shard: None,
            summary: Summary::of(&tenants, 2),
            tenants,
        }
    }

    #[test]
    fn five_hundred_tenants_stay_under_the_limit_and_name_what_is_left_out() {
        let tenants: Vec<TenantResult> = (0..500).map(|i| drifted(i, 5 + i % 30)).collect();
        let md = render(&report(tenants), Some("drift.json"));
        assert!(
            md.chars().count() < 65_535,
            "{} characters",
            md.chars().count()
        );
        assert!(md.starts_with("<!-- falconer:drift -->\n"));
        assert!(md.contains("500 new drift"), "the counts come first");
        let shown = md.matches("<details>").count();
        assert!(shown > 10 && shown < 500, "{shown} tenants shown");
        let note = md.rsplit_once("\n_").map_or("", |(_, n)| n);
        assert!(
            note.contains(&format!("{} more tenants", 500 - shown)),
            "the note counts the rest"
        );
        // Every tenant is either shown or named as left out; the full report is named.
        for i in 0..500 {
            assert!(
                md.contains(&format!("tenant-{i:03}`"))
                    || md.contains(&format!("<code>tenant-{i:03}</code>"))
            );
        }
        assert!(md.contains("The full report is `drift.json`."));
    }

    #[test]
    fn the_riskiest_come_first_and_quiet_tenants_are_left_out() {
        let mut quiet = drifted(1, 0);
        quiet.status = Status::InSync;
        let mut failed = drifted(2, 0);
        failed.status = Status::CouldNotCheck;
        failed.errors.push("kafka: unreachable".into());
        let md = render(&report(vec![quiet, drifted(3, 2), failed]), None);
        assert!(!md.contains("tenant-001"), "{md}");
        let (a, b) = (md.find("tenant-002"), md.find("tenant-003"));
        assert!(a.is_some() && b.is_some() && a < b, "{md}");
        assert!(md.contains("> kafka: unreachable"), "{md}");
    }
}
