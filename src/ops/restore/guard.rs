//! The production guard of `falconer restore`: a tenant the registry puts in `production` is restored only
//! within the profile's operational hours (`[restore] operational_hours`, default 09:00-18:00, in
//! `timezone`, default the local clock's), unless `--break-glass REASON` says why not; where the profile
//! gives a TOTP secret, a current one-time code (`--mfa-code`, RFC 6238, each code once) is needed too.
//! Refusals are [`Refusal::Production`]; the reason of a break-glass restore goes to the history.

use crate::profile::ProfileError;
use chrono::{Offset, TimeZone};

use crate::ops::live::Settings;
use crate::ops::{Error, Events, Refusal};
use crate::state::State;

/// The environment whose tenants are guarded.
pub const PRODUCTION: &str = "production";
const DEFAULT_HOURS: &str = "09:00-18:00";

/// What the guard asks of one restore.
pub struct Asked<'a> {
    pub tenant: &'a str,
    pub break_glass: Option<&'a str>,
    pub mfa_code: Option<&'a str>,
    /// The time to judge by (Unix seconds): now, or a test's fake clock.
    pub now: i64,
}

/// Checks a production restore; `Ok(Some(reason))` when it goes on by break glass. A wrong profile is
/// [`Error::Profile`], a refusal [`Refusal::Production`] with its reason.
pub async fn check(
    asked: &Asked<'_>,
    environment: &str,
    settings: &Settings,
    state: &State,
    events: &dyn Events,
) -> Result<Option<String>, Error> {
    if environment != PRODUCTION {
        return Ok(None);
    }
    let (table, dir) = settings.restore()?;
    let hours = table.operational_hours.as_deref().unwrap_or(DEFAULT_HOURS);
    let (from, to) = parse_hours(hours)?;
    let zone = table.timezone.as_deref().unwrap_or("local");
    let offset = offset_at(zone, asked.now)?;
    let minute = (asked.now + offset).rem_euclid(86_400) / 60;
    let inside = if from <= to {
        (from..to).contains(&minute)
    } else {
        minute >= from || minute < to
    };
    let glass = match (inside, asked.break_glass) {
        (true, _) => None,
        (false, Some(reason)) if !reason.trim().is_empty() => {
            events.warning(&format!(
                "restoring production tenant `{}` outside its operational hours ({hours} {zone}) by break glass: {reason}",
                asked.tenant
            ));
            Some(reason.to_string())
        }
        (false, _) => {
            return Err(refuse(format!(
                "tenant `{}` is in production and it is {} ({zone}), outside the operational hours {hours}: restore within them, or pass --break-glass REASON (recorded in the history)",
                asked.tenant,
                clock(minute)
            )));
        }
    };
    if let Some(secret) = &table.totp_secret {
        let secret =
            crate::domains::provider::profile_secret(secret, &dir, "[restore] TOTP secret")
                .map_err(ProfileError::from)?;
        one_time_code(asked, &secret, state).await?;
    }
    Ok(glass)
}

fn refuse(message: String) -> Error {
    Error::Refused(Refusal::Production(message))
}

/// Checks `--mfa-code` against the secret at the asked time; each code's time step is used once.
async fn one_time_code(asked: &Asked<'_>, secret: &str, state: &State) -> Result<(), Error> {
    let Some(code) = asked.mfa_code else {
        return Err(refuse(format!(
            "tenant `{}` is in production and the profile asks for a one-time code: pass --mfa-code CODE",
            asked.tenant
        )));
    };
    let secret = totp_rs::Secret::try_from_base32(secret.trim().to_uppercase())
        .map_err(|_| ProfileError::setting("[restore] TOTP secret", "is not base32"))?;
    let totp = totp_rs::Builder::new()
        .with_secret(secret)
        .build()
        .map_err(|e| {
            ProfileError::setting("[restore] TOTP secret", format!("cannot be used: {e}"))
        })?;
    let Some(step) = totp.check(code.trim(), u64::try_from(asked.now).unwrap_or(0)) else {
        return Err(refuse("the one-time code is wrong (or expired)".into()));
    };
    let step = i64::try_from(step).unwrap_or(i64::MAX);
    match state.codes().use_code(asked.tenant, step).await? {
        true => Ok(()),
        false => Err(refuse(
            "the one-time code was used before: wait for the next one".into(),
        )),
    }
}

/// `HH:MM-HH:MM` as minutes of the day.
fn parse_hours(s: &str) -> Result<(i64, i64), ProfileError> {
    let bad = || {
        let why = format!("{s:?} is not like \"09:00-18:00\"");
        ProfileError::setting("[restore] operational_hours", why)
    };
    let (a, b) = s.split_once('-').ok_or_else(bad)?;
    let minutes = |t: &str| -> Option<i64> {
        let (h, m) = t.trim().split_once(':')?;
        let (h, m): (i64, i64) = (h.parse().ok()?, m.parse().ok()?);
        ((0..=24).contains(&h) && (0..60).contains(&m) && h * 60 + m <= 1440).then_some(h * 60 + m)
    };
    Ok((minutes(a).ok_or_else(bad)?, minutes(b).ok_or_else(bad)?))
}

/// The offset from UTC, in seconds, of a time zone at a time: `local` (the machine's), `UTC`, `+HH:MM`.
fn offset_at(zone: &str, at: i64) -> Result<i64, ProfileError> {
    match zone {
        "local" => Ok(i64::from(
            chrono::Local
                .timestamp_opt(at, 0)
                .single()
                .map(|t| t.offset().fix().local_minus_utc())
                .unwrap_or(0),
        )),
        "UTC" | "utc" | "Z" => Ok(0),
        z => {
            let bad = || {
                let why = format!("{z:?} is not `local`, `UTC` or an offset like \"+01:00\"");
                ProfileError::setting("[restore] timezone", why)
            };
            let (sign, rest) = match z.as_bytes().first() {
                Some(b'+') => (1, &z[1..]),
                Some(b'-') => (-1, &z[1..]),
                _ => return Err(bad()),
            };
            let (h, m) = rest.split_once(':').ok_or_else(bad)?;
            let (h, m): (i64, i64) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
            if h > 14 || m > 59 {
                return Err(bad());
            }
            Ok(sign * (h * 3600 + m * 60))
        }
    }
}

fn clock(minute: i64) -> String {
    format!("{:02}:{:02}", minute / 60, minute % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hours_and_offsets_parse() {
        assert_eq!(parse_hours("09:00-18:00"), Ok((540, 1080)));
        assert_eq!(parse_hours("22:00-06:30"), Ok((1320, 390)));
        assert!(parse_hours("9-18").is_err());
        assert!(parse_hours("25:00-18:00").is_err());
        assert_eq!(offset_at("UTC", 0), Ok(0));
        assert_eq!(offset_at("+01:30", 0), Ok(5400));
        assert_eq!(offset_at("-05:00", 0), Ok(-18000));
        assert!(offset_at("Europe/Paris", 0).is_err());
    }
}
