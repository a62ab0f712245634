//! Role passwords: sent to the server as SCRAM-SHA-256 verifiers, never in clear text, so the password
//! appears in no server log, no `pg_stat_statements` and no falconer output.
//!
//! The verifier is what PostgreSQL itself stores (`SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>`,
//! RFC 5802 and RFC 7677); given one, `ALTER ROLE ... PASSWORD` stores it as is.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{KeyInit, Mac};
use sha2::{Digest, Sha256};

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

/// The iteration count PostgreSQL uses by default (`scram_iterations`).
pub const ITERATIONS: u32 = 4096;

fn hmac(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let mut m =
        HmacSha256::new_from_slice(key).unwrap_or_else(|_| HmacSha256::new(&Default::default()));
    for p in parts {
        m.update(p);
    }
    m.finalize().into_bytes().into()
}

/// PBKDF2-HMAC-SHA-256 with one output block (32 bytes, the length SCRAM-SHA-256 needs).
fn pbkdf2(password: &[u8], salt: &[u8], iterations: u32) -> [u8; 32] {
    let mut u = hmac(password, &[salt, &1u32.to_be_bytes()]);
    let mut out = u;
    for _ in 1..iterations {
        u = hmac(password, &[&u]);
        for (o, x) in out.iter_mut().zip(u.iter()) {
            *o ^= x;
        }
    }
    out
}

/// The SCRAM-SHA-256 verifier of a password with the given salt. Like the server, the password is
/// SASLprep-normalized when it can be, and used as bytes otherwise.
pub fn verifier_with_salt(password: &str, salt: &[u8], iterations: u32) -> String {
    let prepped = stringprep::saslprep(password)
        .map(|p| p.into_owned())
        .unwrap_or_else(|_| password.to_string());
    let salted = pbkdf2(prepped.as_bytes(), salt, iterations);
    let client_key = hmac(&salted, &[b"Client Key"]);
    let stored_key = Sha256::digest(client_key);
    let server_key = hmac(&salted, &[b"Server Key"]);
    format!(
        "SCRAM-SHA-256${iterations}:{}${}:{}",
        STANDARD.encode(salt),
        STANDARD.encode(stored_key),
        STANDARD.encode(server_key)
    )
}

/// The SCRAM-SHA-256 verifier of a password, with a fresh random salt (an error when the system has no
/// random generator).
pub fn verifier(password: &str) -> Result<String, getrandom::Error> {
    let salt = crate::util::random::<16>()?;
    Ok(verifier_with_salt(password, &salt, ITERATIONS))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7677 section 3: user "user", password "pencil", salt `W22ZaJ0SNY7soEsUEjb6gQ==`, 4096
    /// iterations. The client proof there is derived from the same StoredKey; the ServerKey is checked
    /// against the server signature's key derivation.
    #[test]
    fn matches_rfc_7677() {
        let salt = STANDARD.decode("W22ZaJ0SNY7soEsUEjb6gQ==").unwrap();
        let v = verifier_with_salt("pencil", &salt, 4096);
        let parts: Vec<&str> = v.split(['$', ':']).collect();
        assert_eq!(parts[0], "SCRAM-SHA-256");
        assert_eq!(parts[1], "4096");
        assert_eq!(parts[2], "W22ZaJ0SNY7soEsUEjb6gQ==");
        // AuthMessage of the RFC example; ClientSignature = HMAC(StoredKey, AuthMessage), and
        // ClientProof = ClientKey XOR ClientSignature must be the RFC's proof.
        let auth = "n=user,r=rOprNGfwEbeRWgbNEkqO,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
        let salted = pbkdf2(b"pencil", &salt, 4096);
        let client_key = hmac(&salted, &[b"Client Key"]);
        let stored = STANDARD.decode(parts[3]).unwrap();
        assert_eq!(stored, Sha256::digest(client_key).to_vec());
        let signature = hmac(&stored, &[auth.as_bytes()]);
        let proof: Vec<u8> = client_key
            .iter()
            .zip(signature.iter())
            .map(|(a, b)| a ^ b)
            .collect();
        assert_eq!(
            STANDARD.encode(proof),
            "dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
        );
        let server_key = STANDARD.decode(parts[4]).unwrap();
        let server_signature = hmac(&server_key, &[auth.as_bytes()]);
        assert_eq!(
            STANDARD.encode(server_signature),
            "6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="
        );
    }

    #[test]
    fn fresh_salts_differ() {
        assert_ne!(
            verifier("x").expect("salted"),
            verifier("x").expect("salted")
        );
    }
}
