//! The server side of SASL for the Kafka protocol double: PLAIN (RFC 4616), SCRAM-SHA-256/512 (RFC 5802 and
//! 7677, as Kafka's KIP-84 uses them: no channel binding) and OAUTHBEARER (RFC 7628, a token the test's
//! token endpoint issued). One [`Session`] per connection.
#![allow(dead_code)]

use std::sync::{Arc, Mutex};

use base64::Engine;
use hmac::{KeyInit, Mac};
use sha2::Digest;

/// What the double accepts: its mechanisms, users and passwords, and the bearer tokens issued.
#[derive(Clone, Default)]
pub struct Sasl {
    pub mechanisms: Vec<String>,
    pub users: Vec<(String, String)>,
    pub tokens: Arc<Mutex<Vec<String>>>,
    /// SCRAM credentials set through AlterUserScramCredentials: a user with one for the mechanism signs in
    /// with it (its salt, iterations and salted password), as a broker does; the others with `users`.
    pub credentials: crate::kafka_scram::Credentials,
}

/// A connection's exchange so far.
#[derive(Default)]
pub struct Session {
    pub mechanism: Option<String>,
    /// The principal signed in, once done.
    pub principal: Option<String>,
    scram: Option<Scram>,
}

struct Scram {
    wide: bool,
    user: String,
    client_first_bare: String,
    server_first: String,
    nonce: String,
    /// The salted password of the stored credential the exchange uses, if any.
    salted: Option<Vec<u8>>,
}

const ITERATIONS: u32 = 4096;
const SALT: &[u8] = b"falconer-double-salt";

fn b64() -> base64::engine::GeneralPurpose {
    base64::engine::general_purpose::STANDARD
}

fn hmac(wide: bool, key: &[u8], data: &[u8]) -> Vec<u8> {
    if wide {
        let mut m = hmac::Hmac::<sha2::Sha512>::new_from_slice(key).expect("any key");
        m.update(data);
        m.finalize().into_bytes().to_vec()
    } else {
        let mut m = hmac::Hmac::<sha2::Sha256>::new_from_slice(key).expect("any key");
        m.update(data);
        m.finalize().into_bytes().to_vec()
    }
}

fn hash(wide: bool, data: &[u8]) -> Vec<u8> {
    if wide {
        sha2::Sha512::digest(data).to_vec()
    } else {
        sha2::Sha256::digest(data).to_vec()
    }
}

/// PBKDF2 with the mechanism's HMAC, one block (the hash's length).
fn salted(wide: bool, password: &[u8]) -> Vec<u8> {
    let mut u = hmac(wide, password, &[SALT, &1u32.to_be_bytes()].concat());
    let mut out = u.clone();
    for _ in 1..ITERATIONS {
        u = hmac(wide, password, &u);
        out.iter_mut().zip(&u).for_each(|(o, x)| *o ^= x);
    }
    out
}

/// `key=value` attributes of a SCRAM message.
fn attr<'a>(msg: &'a str, key: &str) -> Option<&'a str> {
    msg.split(',')
        .find_map(|p| p.strip_prefix(&format!("{key}=")))
}

impl Sasl {
    /// The answer to a SaslHandshake: whether the mechanism is enabled.
    pub fn handshake(&self, session: &mut Session, mechanism: &str) -> bool {
        let ok = self.mechanisms.iter().any(|m| m == mechanism);
        if ok {
            session.mechanism = Some(mechanism.to_string());
        }
        ok
    }

    fn password(&self, user: &str) -> Option<&str> {
        self.users
            .iter()
            .find(|(u, _)| u == user)
            .map(|(_, p)| p.as_str())
    }

    /// One SaslAuthenticate: the bytes to answer, or why the sign-in fails.
    pub fn authenticate(&self, session: &mut Session, bytes: &[u8]) -> Result<Vec<u8>, String> {
        let text = String::from_utf8_lossy(bytes).to_string();
        match session.mechanism.as_deref() {
            Some("PLAIN") => {
                let parts: Vec<&str> = text.split('\0').collect();
                let [_, user, password] = parts[..] else {
                    return Err("malformed PLAIN message".into());
                };
                if self.password(user) != Some(password) {
                    return Err("Authentication failed: Invalid username or password".into());
                }
                session.principal = Some(user.to_string());
                Ok(Vec::new())
            }
            Some("OAUTHBEARER") => {
                let token = text
                    .split('\u{1}')
                    .find_map(|p| p.strip_prefix("auth=Bearer "))
                    .unwrap_or_default();
                if !self
                    .tokens
                    .lock()
                    .expect("tokens")
                    .iter()
                    .any(|t| t == token)
                {
                    return Err("{\"status\":\"invalid_token\"}".into());
                }
                session.principal = Some("oauth".into());
                Ok(Vec::new())
            }
            Some(m @ ("SCRAM-SHA-256" | "SCRAM-SHA-512")) => {
                let wide = m == "SCRAM-SHA-512";
                match session.scram.take() {
                    None => self.scram_first(session, wide, &text),
                    Some(s) => self.scram_final(session, s, &text),
                }
            }
            _ => Err("no mechanism was agreed".into()),
        }
    }

    fn scram_first(
        &self,
        session: &mut Session,
        wide: bool,
        text: &str,
    ) -> Result<Vec<u8>, String> {
        let bare = text
            .strip_prefix("n,,")
            .ok_or("channel binding is not supported")?;
        let user = attr(bare, "n").ok_or("no user")?.to_string();
        let cnonce = attr(bare, "r").ok_or("no nonce")?;
        let nonce = format!("{cnonce}double{}", bare.len());
        let mechanism = if wide {
            "SCRAM-SHA-512"
        } else {
            "SCRAM-SHA-256"
        };
        let stored = self
            .credentials
            .lock()
            .expect("credentials")
            .get(&(user.clone(), mechanism.to_string()))
            .cloned();
        let (salt, iterations) = match &stored {
            Some(c) => (c.salt.clone(), c.iterations as u32),
            None => (SALT.to_vec(), ITERATIONS),
        };
        let server_first = format!("r={nonce},s={},i={iterations}", b64().encode(salt));
        session.scram = Some(Scram {
            wide,
            user,
            client_first_bare: bare.to_string(),
            server_first: server_first.clone(),
            nonce,
            salted: stored.map(|c| c.salted_password),
        });
        Ok(server_first.into_bytes())
    }

    fn scram_final(&self, session: &mut Session, s: Scram, text: &str) -> Result<Vec<u8>, String> {
        let fail = || {
            "Authentication failed during authentication due to invalid credentials with SASL mechanism".to_string()
        };
        let (without_proof, proof) = text.rsplit_once(",p=").ok_or("no proof")?;
        if attr(without_proof, "r") != Some(s.nonce.as_str()) {
            return Err(fail());
        }
        let salted = match &s.salted {
            Some(stored) => stored.clone(),
            None => salted(s.wide, self.password(&s.user).ok_or_else(fail)?.as_bytes()),
        };
        let client_key = hmac(s.wide, &salted, b"Client Key");
        let stored = hash(s.wide, &client_key);
        let auth = format!("{},{},{without_proof}", s.client_first_bare, s.server_first);
        let signature = hmac(s.wide, &stored, auth.as_bytes());
        let expected: Vec<u8> = client_key
            .iter()
            .zip(&signature)
            .map(|(a, b)| a ^ b)
            .collect();
        if b64().decode(proof).ok() != Some(expected) {
            return Err(fail());
        }
        let server_key = hmac(s.wide, &salted, b"Server Key");
        let verifier = hmac(s.wide, &server_key, auth.as_bytes());
        session.principal = Some(s.user);
        Ok(format!("v={}", b64().encode(verifier)).into_bytes())
    }
}
