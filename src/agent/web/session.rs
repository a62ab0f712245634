//! The dashboard's sessions: a cookie signed with a key made from the agent's tokens (so every agent of a
//! profile accepts it, and a new token ends every session), and the CSRF token of its forms.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hmac::{KeyInit, Mac};

/// The session cookie's name.
pub const COOKIE: &str = "falconer_session";

/// How long a session lasts.
pub const LIFETIME: Duration = Duration::from_secs(12 * 3600);

/// What a session may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grant {
    /// Read the pages (the read token was given).
    Read,
    /// Read, and ask for a drift check or a backup (the write token was given).
    Write,
}

/// The key sessions are signed with, made from the agent's tokens.
#[derive(Clone)]
pub struct Keys {
    key: [u8; 32],
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Keys(redacted)")
    }
}

/// A session as its cookie proves it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub grant: Grant,
    /// The cookie's value (the CSRF token is derived from it).
    value: String,
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Keys {
    /// The key of a profile's tokens.
    pub fn of(token: Option<&str>, write_token: Option<&str>) -> Keys {
        use sha2::Digest;
        let mut h = sha2::Sha256::new();
        h.update(b"falconer dashboard sessions v1\0");
        h.update(token.unwrap_or("").as_bytes());
        h.update(b"\0");
        h.update(write_token.unwrap_or("").as_bytes());
        Keys {
            key: h.finalize().into(),
        }
    }

    fn mac(&self, what: &str) -> String {
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&self.key)
            .unwrap_or_else(|_| hmac::Hmac::<sha2::Sha256>::new(&Default::default()));
        mac.update(what.as_bytes());
        crate::util::hex(&mac.finalize().into_bytes())
    }

    /// A new session's cookie value: `until.grant.nonce.mac`.
    pub fn open(&self, grant: Grant) -> Result<String, getrandom::Error> {
        let nonce = crate::util::hex(&crate::util::random::<16>()?);
        let until = unix_now() + LIFETIME.as_secs();
        let g = match grant {
            Grant::Read => "r",
            Grant::Write => "w",
        };
        let body = format!("{until}.{g}.{nonce}");
        Ok(format!("{body}.{}", self.mac(&body)))
    }

    /// The session a cookie value proves: signed by this key, and not expired.
    pub fn check(&self, value: &str) -> Option<Session> {
        let (body, mac) = value.rsplit_once('.')?;
        if !super::super::same(&self.mac(body), mac) {
            return None;
        }
        let mut parts = body.split('.');
        let until: u64 = parts.next()?.parse().ok()?;
        let grant = match parts.next()? {
            "r" => Grant::Read,
            "w" => Grant::Write,
            _ => return None,
        };
        (until > unix_now()).then(|| Session {
            grant,
            value: value.to_string(),
        })
    }

    /// The CSRF token of a session's forms.
    pub fn csrf(&self, session: &Session) -> String {
        self.mac(&format!("csrf\0{}", session.value))
    }

    /// Whether a form's CSRF token is its session's.
    pub fn csrf_ok(&self, session: &Session, given: &str) -> bool {
        super::super::same(&self.csrf(session), given)
    }
}

/// The session cookie a request carries, if any.
pub fn cookie(headers: &axum::http::HeaderMap) -> Option<&str> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value)
}

/// The `Set-Cookie` of a new session: HttpOnly, Secure, SameSite=Strict.
pub fn set_cookie(value: &str) -> String {
    format!(
        "{COOKIE}={value}; Path=/; Max-Age={}; HttpOnly; Secure; SameSite=Strict",
        LIFETIME.as_secs()
    )
}

/// The `Set-Cookie` that ends a session.
pub fn clear_cookie() -> String {
    format!("{COOKIE}=; Path=/; Max-Age=0; HttpOnly; Secure; SameSite=Strict")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_is_what_its_key_signed() {
        let keys = Keys::of(
            Some("read-token-0123456789"),
            Some("write-token-0123456789"),
        );
        let value = keys.open(Grant::Write).expect("random");
        let s = keys.check(&value).expect("a session");
        assert_eq!(s.grant, Grant::Write);
        // Another profile's tokens, a changed grant, a cut value: none is a session.
        let other = Keys::of(Some("read-token-0123456789"), Some("another-write-token"));
        assert!(other.check(&value).is_none());
        let forged = value.replacen(".w.", ".r.", 1);
        assert!(keys.check(&forged).is_none());
        assert!(keys.check(&value[..value.len() - 1]).is_none());
        assert!(keys.check("").is_none());
        // The CSRF token belongs to its session.
        let csrf = keys.csrf(&s);
        assert!(keys.csrf_ok(&s, &csrf));
        let s2 = keys
            .check(&keys.open(Grant::Write).expect("random"))
            .expect("a session");
        assert!(!keys.csrf_ok(&s2, &csrf));
        assert!(!keys.csrf_ok(&s, ""));
    }

    #[test]
    fn an_expired_session_is_none() {
        let keys = Keys::of(Some("t"), None);
        let body = format!("{}.r.00", unix_now() - 1);
        let value = format!("{body}.{}", keys.mac(&body));
        assert!(keys.check(&value).is_none());
        let body = format!("{}.r.00", unix_now() + 60);
        let value = format!("{body}.{}", keys.mac(&body));
        assert_eq!(keys.check(&value).map(|s| s.grant), Some(Grant::Read));
    }

    #[test]
    fn the_cookie_is_found_among_others() {
        let mut h = axum::http::HeaderMap::new();
        h.insert(
            axum::http::header::COOKIE,
            "a=1; falconer_session=abc.def; b=2"
                .parse()
                .expect("a header"),
        );
        assert_eq!(cookie(&h), Some("abc.def"));
        assert!(set_cookie("v").contains("HttpOnly; Secure; SameSite=Strict"));
    }
}
