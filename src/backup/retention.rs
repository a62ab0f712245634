//! Which backups a retention policy keeps: restic's rules, per tenant.
//!
//! - `last n`: the n newest backups.
//! - `hourly|daily|weekly|monthly|yearly n`: for the n newest hours (days, ISO weeks, months, years, in UTC)
//!   that have a backup, the newest backup of each.
//! - `within d`: every backup newer than d before the newest backup (not before now).
//! - When a calendar rule finds fewer periods than it may keep, the oldest backup is kept as well (restic
//!   0.17's rule: a young repository keeps its first backup).
//!
//! A backup kept by any rule is kept; the reasons are all given. Failed backups hold nothing and fill no
//! period: a policy removes them. The newest backup that is not failed is always kept, and so is the newest
//! complete one (every domain read): newer partial backups never leave a tenant without one.

use std::collections::{BTreeMap, HashSet};

/// A retention policy; `None` rules are not applied.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Policy {
    pub last: Option<usize>,
    pub hourly: Option<usize>,
    pub daily: Option<usize>,
    pub weekly: Option<usize>,
    pub monthly: Option<usize>,
    pub yearly: Option<usize>,
    /// Seconds before the newest backup.
    pub within: Option<i64>,
}

impl Policy {
    /// Whether the policy says nothing (it would remove everything but the newest: refused).
    pub fn is_empty(&self) -> bool {
        *self == Policy::default()
    }
}

/// A backup as retention sees it.
#[derive(Debug, Clone)]
pub struct Candidate {
    pub id: String,
    /// Seconds since the Unix epoch.
    pub at: i64,
    pub status: super::BackupStatus,
}

/// The kept backups with why each is kept (in the rules' words); those not listed are removed.
pub fn keep(candidates: &[Candidate], policy: &Policy) -> BTreeMap<String, Vec<String>> {
    let mut sorted: Vec<&Candidate> = candidates
        .iter()
        .filter(|c| c.status != super::BackupStatus::Failed)
        .collect();
    sorted.sort_by(|a, b| b.at.cmp(&a.at).then_with(|| b.id.cmp(&a.id)));
    let mut why: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut say = |id: &str, reason: String| why.entry(id.to_string()).or_default().push(reason);
    if let Some(newest) = sorted.first() {
        say(&newest.id, "newest".into());
    }
    let complete = sorted.iter().find(|c| c.status == super::BackupStatus::Ok);
    if let Some(c) = complete.filter(|c| sorted.first().is_some_and(|n| n.id != c.id)) {
        say(&c.id, "newest complete (the newer ones are partial)".into());
    }
    if let Some(n) = policy.last {
        for (i, c) in sorted.iter().take(n).enumerate() {
            say(&c.id, format!("last {}", i + 1));
        }
    }
    let mut oldest_too = false;
    for (rule, n, period) in [
        ("hourly", policy.hourly, hour as fn(i64) -> String),
        ("daily", policy.daily, day),
        ("weekly", policy.weekly, week),
        ("monthly", policy.monthly, month),
        ("yearly", policy.yearly, year),
    ] {
        let Some(n) = n else { continue };
        let mut seen = HashSet::new();
        for c in &sorted {
            if seen.len() == n {
                break;
            }
            let p = period(c.at);
            if seen.insert(p.clone()) {
                say(&c.id, format!("{rule} {p}"));
            }
        }
        oldest_too |= seen.len() < n;
    }
    if let (Some(d), Some(newest)) = (policy.within, sorted.first()) {
        for c in sorted.iter().filter(|c| c.at > newest.at - d) {
            say(&c.id, "within".into());
        }
    }
    if oldest_too && let Some(oldest) = sorted.last() {
        say(&oldest.id, "oldest (a rule has periods to fill)".into());
    }
    why
}

const DAY: i64 = 86_400;

fn hour(at: i64) -> String {
    format!("{}T{:02}", day(at), at.rem_euclid(DAY) / 3600)
}

fn day(at: i64) -> String {
    crate::util::rfc3339(at)[..10].to_string()
}

fn month(at: i64) -> String {
    crate::util::rfc3339(at)[..7].to_string()
}

fn year(at: i64) -> String {
    crate::util::rfc3339(at)[..4].to_string()
}

/// The ISO week (`2026-W48`): weeks start on Monday and belong to the year of their Thursday.
fn week(at: i64) -> String {
    let days = at.div_euclid(DAY);
    // 1970-01-01 was a Thursday: Monday is 0.
    let weekday = (days + 3).rem_euclid(7);
    let thursday = days - weekday + 3;
    let iso_year = year(thursday * DAY);
    let jan1 = parse_time(&format!("{iso_year}-01-01T00:00:00Z")).unwrap_or(0) / DAY;
    format!("{iso_year}-W{:02}", (thursday - jan1) / 7 + 1)
}

/// Seconds since the epoch of an RFC 3339 UTC time (`2026-11-30T21:36:22Z`).
pub fn parse_time(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() != 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[19] != b'Z' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| s.get(r)?.parse::<i64>().ok();
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hh, mm, ss) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) || hh > 23 || mm > 59 || ss > 60 {
        return None;
    }
    // Days from the civil date (the inverse of util::rfc3339's conversion).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * DAY + hh * 3600 + mm * 60 + ss)
}

/// A duration like `30d`, `2w`, `1y6m`, `12h` (a month is 30 days, a year 365).
pub fn parse_duration(s: &str) -> Result<i64, String> {
    let units = [
        ('h', 3600),
        ('d', DAY),
        ('w', 7 * DAY),
        ('m', 30 * DAY),
        ('y', 365 * DAY),
    ];
    crate::util::sum_of_units(s, &units, "30d, 2w, 1y6m or 12h")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backup::BackupStatus;

    fn c(id: &str, at: &str) -> Candidate {
        Candidate {
            id: id.into(),
            at: parse_time(at).expect("a time"),
            status: BackupStatus::Ok,
        }
    }

    #[test]
    fn times_round_trip() {
        for t in [0, 951_782_400, 1_700_000_000, 4_102_444_800] {
            assert_eq!(parse_time(&crate::util::rfc3339(t)), Some(t));
        }
        assert_eq!(parse_time("2026-13-01T00:00:00Z"), None);
    }

    #[test]
    fn iso_weeks() {
        let w = |s: &str| week(parse_time(s).expect("a time"));
        assert_eq!(w("2026-11-30T12:00:00Z"), "2026-W49");
        assert_eq!(w("2021-01-03T12:00:00Z"), "2020-W53");
        assert_eq!(w("2024-12-30T00:00:00Z"), "2025-W01");
    }

    #[test]
    fn daily_keeps_the_newest_of_each_day() {
        let all = [
            c("a", "2026-11-28T01:00:00Z"),
            c("b", "2026-11-28T23:00:00Z"),
            c("c", "2026-11-29T10:00:00Z"),
            c("d", "2026-11-30T09:00:00Z"),
            c("e", "2026-11-30T10:00:00Z"),
        ];
        let policy = Policy {
            daily: Some(2),
            ..Policy::default()
        };
        let kept: Vec<String> = keep(&all, &policy).into_keys().collect();
        assert_eq!(kept, ["c", "e"]);
        let policy = Policy {
            daily: Some(5),
            ..Policy::default()
        };
        let kept = keep(&all, &policy);
        // Three days only: the oldest backup is kept as well.
        assert_eq!(kept.keys().collect::<Vec<_>>(), ["a", "b", "c", "e"]);
    }

    #[test]
    fn the_newest_complete_backup_stays_behind_newer_partial_ones() {
        let partial = |id: &str, at: &str| Candidate {
            status: BackupStatus::Partial,
            ..c(id, at)
        };
        let all = [
            c("a", "2026-11-28T01:00:00Z"),
            c("b", "2026-11-29T01:00:00Z"),
            partial("c", "2026-11-30T01:00:00Z"),
            partial("d", "2026-11-30T02:00:00Z"),
        ];
        let policy = Policy {
            last: Some(1),
            ..Policy::default()
        };
        let kept = keep(&all, &policy);
        assert_eq!(kept.keys().collect::<Vec<_>>(), ["b", "d"]);
        assert_eq!(
            kept["b"],
            ["newest complete (the newer ones are partial)".to_string()]
        );
        // When the newest is complete, it is kept once, as the newest.
        let kept = keep(&all[..2], &policy);
        assert_eq!(kept.keys().collect::<Vec<_>>(), ["b"]);
    }

    #[test]
    fn within_counts_from_the_newest_and_failed_ones_go() {
        let mut all = vec![
            c("a", "2026-11-01T00:00:00Z"),
            c("b", "2026-11-25T00:00:00Z"),
            c("c", "2026-11-30T00:00:00Z"),
        ];
        all.push(Candidate {
            id: "d".into(),
            at: parse_time("2026-11-30T01:00:00Z").expect("a time"),
            status: BackupStatus::Failed,
        });
        let policy = Policy {
            within: Some(parse_duration("7d").expect("a duration")),
            ..Policy::default()
        };
        assert_eq!(
            keep(&all, &policy).into_keys().collect::<Vec<_>>(),
            ["b", "c"]
        );
        assert!(parse_duration("7").is_err());
        assert!(parse_duration("3q").is_err());
        assert_eq!(parse_duration("1w2d"), Ok(9 * DAY));
    }
}
