//! When scheduled backups are due: cron expressions (5 fields, or 6 with seconds first; `@daily` and the
//! other aliases), read by `croner`, in UTC.
//!
//! A schedule's slots are the times its expression names. At any moment the due slot is the newest one at
//! or before now and not before the schedule was added; a runner that missed slots runs only the newest of
//! them (a missed slot is caught up once, never replayed one by one). Which runner runs a slot is decided
//! by the state store (the first to claim it), so several runners may call `run-due` at once.

use chrono::{DateTime, Utc};
use croner::Cron;
use croner::parser::{CronParser, Seconds};

/// A parsed cron expression.
pub struct Schedule(Cron);

impl Schedule {
    /// Parses a cron expression; the message says what is wrong.
    pub fn parse(expr: &str) -> Result<Schedule, String> {
        CronParser::builder()
            .seconds(Seconds::Optional)
            .build()
            .parse(expr)
            .map(Schedule)
            .map_err(|e| format!("{expr:?} is not a cron expression: {e}"))
    }

    /// The due slot at `now` (Unix seconds): the newest slot at or before now, if it is not before `since`.
    pub fn due(&self, now: i64, since: i64) -> Option<i64> {
        let at = DateTime::<Utc>::from_timestamp(now, 0)?;
        let slot = self.0.find_previous_occurrence(&at, true).ok()?.timestamp();
        (slot >= since).then_some(slot)
    }

    /// The first slot after `now`.
    pub fn next(&self, now: i64) -> Option<i64> {
        let at = DateTime::<Utc>::from_timestamp(now, 0)?;
        Some(self.0.find_next_occurrence(&at, false).ok()?.timestamp())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backup::retention::parse_time;

    fn t(s: &str) -> i64 {
        parse_time(s).expect("a time")
    }

    #[test]
    fn the_due_slot_is_the_newest_not_before_the_schedule() {
        let daily = Schedule::parse("0 0 * * *").expect("parses");
        let since = t("2026-12-01T10:00:00Z");
        assert_eq!(daily.due(t("2026-12-01T23:00:00Z"), since), None);
        assert_eq!(
            daily.due(t("2026-12-04T12:00:00Z"), since),
            Some(t("2026-12-04T00:00:00Z"))
        );
        assert_eq!(daily.next(since), Some(t("2026-12-02T00:00:00Z")));
        let six = Schedule::parse("0 0 0 * * *").expect("six fields");
        assert_eq!(
            six.due(t("2026-12-04T12:00:00Z"), since),
            Some(t("2026-12-04T00:00:00Z"))
        );
        let alias = Schedule::parse("@daily").expect("an alias");
        assert_eq!(alias.next(since), Some(t("2026-12-02T00:00:00Z")));
        assert!(Schedule::parse("61 * * * *").is_err());
        assert!(Schedule::parse("not cron").is_err());
    }
}
