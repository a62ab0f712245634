//! Encryption of a repository's documents at rest: ChaCha20-Poly1305 (from `ring`), a 256-bit key the user
//! keeps (never in the repository), a random nonce per blob, and the blob's digest as associated data, so a
//! blob cannot be passed off under another blob's name.
//!
//! An encrypted blob is `FBE1`, the key's id (8 bytes), the nonce (12 bytes), then the sealed compressed
//! content and its tag. The key id (the first 8 bytes of SHA-256 over a label and the key) lets a reader say
//! which key a repository needs without holding it.

use ring::aead::{Aad, CHACHA20_POLY1305, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use sha2::{Digest, Sha256};

/// What an encrypted blob starts with.
pub const MAGIC: &[u8; 4] = b"FBE1";
/// The algorithm's name in records and the repository's configuration.
pub const ALGORITHM: &str = "chacha20-poly1305";
const ID_LEN: usize = 8;

/// A repository key.
pub struct Key {
    key: LessSafeKey,
    id: [u8; ID_LEN],
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Key({})", self.id())
    }
}

impl Key {
    /// A key from its text: 32 bytes as 64 hex digits or in base64 (surrounding white space ignored).
    pub fn parse(text: &str) -> Result<Key, String> {
        use base64::Engine;
        let t = text.trim();
        let bytes = if t.len() == 64 && t.bytes().all(|b| b.is_ascii_hexdigit()) {
            (0..32)
                .map(|i| u8::from_str_radix(&t[2 * i..2 * i + 2], 16).unwrap_or(0))
                .collect()
        } else {
            base64::engine::general_purpose::STANDARD
                .decode(t)
                .unwrap_or_default()
        };
        if bytes.len() != 32 {
            return Err(
                "a backup key is 32 random bytes, written as 64 hex digits or in base64 \
                        (make one with `openssl rand -hex 32`)"
                    .into(),
            );
        }
        let unbound = UnboundKey::new(&CHACHA20_POLY1305, &bytes)
            .map_err(|_| "the backup key is not usable".to_string())?;
        let mut id = [0u8; ID_LEN];
        let digest = Sha256::new()
            .chain_update(b"falconer backup key id\0")
            .chain_update(&bytes)
            .finalize();
        id.copy_from_slice(&digest[..ID_LEN]);
        Ok(Key {
            key: LessSafeKey::new(unbound),
            id,
        })
    }

    /// The key's id (hex), safe to show and to store.
    pub fn id(&self) -> String {
        crate::util::hex(&self.id)
    }

    /// Seals `plain` (already compressed) as the blob named `digest`.
    pub fn seal(&self, digest: &str, mut plain: Vec<u8>) -> Result<Vec<u8>, String> {
        let nonce_bytes = crate::util::random::<NONCE_LEN>().map_err(|e| e.to_string())?;
        let nonce = Nonce::assume_unique_for_key(nonce_bytes);
        self.key
            .seal_in_place_append_tag(nonce, Aad::from(digest.as_bytes()), &mut plain)
            .map_err(|_| "encryption failed".to_string())?;
        let mut out = MAGIC.to_vec();
        out.extend_from_slice(&self.id);
        out.extend_from_slice(&nonce_bytes);
        out.extend(plain);
        Ok(out)
    }

    /// Opens the blob named `digest`: its compressed content.
    pub fn open(&self, digest: &str, sealed: &[u8]) -> Result<Vec<u8>, Sealed> {
        let body = sealed.strip_prefix(MAGIC).ok_or(Sealed::Damaged)?;
        let (id, rest) = body.split_at_checked(ID_LEN).ok_or(Sealed::Damaged)?;
        if id != self.id {
            return Err(Sealed::OtherKey(crate::util::hex(id)));
        }
        let (nonce, ct) = rest.split_at_checked(NONCE_LEN).ok_or(Sealed::Damaged)?;
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| Sealed::Damaged)?;
        let mut buf = ct.to_vec();
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(digest.as_bytes()), &mut buf)
            .map_err(|_| Sealed::Damaged)?;
        Ok(plain.to_vec())
    }
}

/// The key id an encrypted blob names (hex), if it is one.
pub fn key_id_of(sealed: &[u8]) -> Option<String> {
    let body = sealed.strip_prefix(MAGIC)?;
    body.get(..ID_LEN).map(crate::util::hex)
}

/// Why a sealed blob cannot be opened.
#[derive(Debug, PartialEq, Eq)]
pub enum Sealed {
    /// It was sealed with another key (its id).
    OtherKey(String),
    /// It is damaged, or not the blob of that name (the tag does not match).
    Damaged,
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

    #[test]
    fn a_sealed_blob_opens_with_its_key_and_name_only() {
        let key = Key::parse(HEX).expect("a key");
        let sealed = key.seal("d1", b"content".to_vec()).expect("seals");
        assert_eq!(key.open("d1", &sealed).expect("opens"), b"content");
        assert_eq!(key_id_of(&sealed), Some(key.id()));
        assert_eq!(
            key.open("d2", &sealed),
            Err(Sealed::Damaged),
            "another name"
        );
        let mut flipped = sealed.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 1;
        assert_eq!(key.open("d1", &flipped), Err(Sealed::Damaged));
        let other = Key::parse(&HEX.replace("1f", "ff")).expect("a key");
        assert_eq!(other.open("d1", &sealed), Err(Sealed::OtherKey(key.id())));
        let again = key.seal("d1", b"content".to_vec()).expect("seals");
        assert_ne!(sealed, again, "a fresh nonce each time");
    }

    #[test]
    fn keys_are_32_bytes_in_hex_or_base64() {
        use base64::Engine;
        let b64 = base64::engine::general_purpose::STANDARD.encode([7u8; 32]);
        assert!(Key::parse(&b64).is_ok());
        assert!(Key::parse(&format!("  {HEX}\n")).is_ok());
        let e = Key::parse("correct horse battery staple").expect_err("refused");
        assert!(e.contains("openssl rand -hex 32"), "{e}");
        assert_eq!(Key::parse(HEX).expect("a key").id().len(), 16);
    }
}
