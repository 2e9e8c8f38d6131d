//! Payload encryption at rest and crypto-shredding (docs/FORMAT.md §3a, DESIGN v2 principle 6).
//!
//! Each record has a random 32-byte *record key*. Entry `seq` of the record is encrypted
//! under its own *entry key*, `HKDF-SHA256(ikm = record key, salt = none, info = "caseledger
//! entry key v2" || u64 LE seq)`, so a bundle can carry the keys of the entries it holds and
//! nothing else. Record keys are wrapped by the practice's key-encryption key (KEK), kept
//! with the private keys, never in the ledger directory. Erasing a record's wrapped key
//! makes every stored ciphertext of the record unreadable: that is how destruction destroys.
//!
//! ```text
//! aad        = u64 LE len(origin) || origin || u64 LE len(record) || record || u64 LE seq
//! plaintext  = salt (32) || u32 LE len(content) || content || zero bytes to a multiple of 256
//! stored     = nonce (24) || XChaCha20-Poly1305(entry key, nonce, plaintext, aad)
//! wrap_aad   = "caseledger record key v2" || u64 LE len(origin) || origin
//!              || u64 LE len(record) || record || u32 LE slot
//! wrapped    = nonce (24) || XChaCha20-Poly1305(KEK, nonce, record key, wrap_aad)   (72 bytes)
//! ```
//!
//! ```
//! use caseledger_core::content::{Kek, RecordKey, seal_payload, open_payload};
//! use caseledger_core::event::Payload;
//! use caseledger_core::{RecordId, Seq};
//! let (kek, rk) = (Kek::generate(), RecordKey::generate());
//! let rec = RecordId::new("C-1").unwrap();
//! let wrapped = kek.wrap("o.example", &rec, 7, &rk);
//! let rk = kek.unwrap("o.example", &rec, 7, &wrapped).unwrap();
//! let p = Payload::new(b"note".to_vec());
//! let stored = seal_payload(&rk.entry_key(Seq(3)), "o.example", &rec, Seq(3), &p);
//! assert_eq!(open_payload(&rk.entry_key(Seq(3)), "o.example", &rec, Seq(3), &stored).unwrap(), p);
//! // Another seq (or record, or origin) does not open it.
//! assert!(open_payload(&rk.entry_key(Seq(4)), "o.example", &rec, Seq(4), &stored).is_err());
//! ```

use crate::event::Payload;
use crate::ids::{RecordId, Seq};
use chacha20poly1305::aead::{Aead, KeyInit, Payload as AeadPayload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use zeroize::{Zeroize, ZeroizeOnDrop};

/// The XChaCha20-Poly1305 nonce length that prefixes every ciphertext.
pub const NONCE_LEN: usize = 24;
/// The Poly1305 tag length.
pub const TAG_LEN: usize = 16;
/// Plaintexts are padded to a multiple of this, so stored lengths reveal little.
pub const PAD: usize = 256;
/// The length of a wrapped record key: nonce, 32 key bytes, tag.
pub const WRAPPED_LEN: usize = NONCE_LEN + 32 + TAG_LEN;
/// HKDF `info` prefix of entry keys.
pub const ENTRY_KEY_INFO: &[u8] = b"caseledger entry key v2";
/// AAD prefix of wrapped record keys.
pub const WRAP_AAD_PREFIX: &[u8] = b"caseledger record key v2";

/// Why stored content could not be opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ContentError {
    /// The ciphertext is shorter than a nonce and a tag.
    #[error("stored content is too short to be a ciphertext")]
    TooShort,
    /// Authentication failed: wrong key, wrong position (AAD), or altered bytes.
    #[error("stored content does not decrypt: wrong key, or the bytes or their position changed")]
    Decrypt,
    /// The plaintext's framing (salt, length, zero padding) is wrong.
    #[error("decrypted content is malformed")]
    Malformed,
}

macro_rules! secret32 {
    ($(#[$m:meta])* $name:ident) => {
        $(#[$m])*
        #[derive(Clone, PartialEq, Eq, Zeroize, ZeroizeOnDrop)]
        pub struct $name([u8; 32]);

        impl $name {
            /// A fresh key from the OS random number generator.
            pub fn generate() -> $name {
                $name(rand::random())
            }
            /// A key from its bytes (key files, tests).
            pub fn from_bytes(bytes: [u8; 32]) -> $name {
                $name(bytes)
            }
            /// The key bytes (to write to a key file, or to a bundle).
            pub fn as_bytes(&self) -> &[u8; 32] {
                &self.0
            }
        }
        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(concat!(stringify!($name), "(<redacted>)"))
            }
        }
    };
}

secret32!(
    /// The practice's key-encryption key: wraps every record key. Lives with the private
    /// keys, never in the ledger directory.
    Kek
);
secret32!(
    /// A record's content key (random, one per record).
    RecordKey
);
secret32!(
    /// The key of one entry's payload: HKDF of the record key and the seq.
    EntryKey
);

impl RecordKey {
    /// `HKDF-SHA256(ikm = record key, salt = none, info = "caseledger entry key v2" || u64 LE seq)`.
    pub fn entry_key(&self, seq: Seq) -> EntryKey {
        let hk = hkdf::Hkdf::<sha2::Sha256>::new(None, &self.0);
        let mut info = [0u8; ENTRY_KEY_INFO.len() + 8];
        info[..ENTRY_KEY_INFO.len()].copy_from_slice(ENTRY_KEY_INFO);
        info[ENTRY_KEY_INFO.len()..].copy_from_slice(&seq.0.to_le_bytes());
        let mut out = [0u8; 32];
        // INVARIANT: 32 bytes is far below HKDF-SHA256's 255 * 32 limit, so expand cannot fail.
        if hk.expand(&info, &mut out).is_err() {
            unreachable!("HKDF-SHA256 expands 32 bytes");
        }
        EntryKey(out)
    }
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u64).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

/// `u64 LE len(origin) || origin || u64 LE len(record) || record || u64 LE seq`.
pub fn payload_aad(origin: &str, record: &RecordId, seq: Seq) -> Vec<u8> {
    let mut a = Vec::with_capacity(24 + origin.len() + record.as_str().len());
    put_str(&mut a, origin);
    put_str(&mut a, record.as_str());
    a.extend_from_slice(&seq.0.to_le_bytes());
    a
}

fn wrap_aad(origin: &str, record: &RecordId, slot: u32) -> Vec<u8> {
    let mut a = Vec::with_capacity(WRAP_AAD_PREFIX.len() + 20 + origin.len() + 64);
    a.extend_from_slice(WRAP_AAD_PREFIX);
    put_str(&mut a, origin);
    put_str(&mut a, record.as_str());
    a.extend_from_slice(&slot.to_le_bytes());
    a
}

fn encrypt(key: &[u8; 32], nonce: [u8; NONCE_LEN], msg: &[u8], aad: &[u8]) -> Vec<u8> {
    let cipher = XChaCha20Poly1305::new(key.into());
    let mut out = Vec::with_capacity(NONCE_LEN + msg.len() + TAG_LEN);
    out.extend_from_slice(&nonce);
    // INVARIANT: XChaCha20-Poly1305 encryption fails only for messages over ~256 GiB; ours
    // are bounded by the payload limit.
    match cipher.encrypt(&XNonce::from(nonce), AeadPayload { msg, aad }) {
        Ok(ct) => out.extend_from_slice(&ct),
        Err(_) => unreachable!("XChaCha20-Poly1305 encrypts any bounded message"),
    }
    out
}

fn decrypt(key: &[u8; 32], stored: &[u8], aad: &[u8]) -> Result<Vec<u8>, ContentError> {
    if stored.len() < NONCE_LEN + TAG_LEN {
        return Err(ContentError::TooShort);
    }
    let (nonce, ct) = stored.split_at(NONCE_LEN);
    XChaCha20Poly1305::new(key.into())
        .decrypt(XNonce::from_slice(nonce), AeadPayload { msg: ct, aad })
        .map_err(|_| ContentError::Decrypt)
}

/// Encrypts a payload (salt and content, padded) for entry `seq` of `record`, with a fresh
/// random nonce. Returns the stored bytes `nonce || ciphertext`.
pub fn seal_payload(
    key: &EntryKey,
    origin: &str,
    record: &RecordId,
    seq: Seq,
    payload: &Payload,
) -> Vec<u8> {
    seal_payload_with_nonce(key, origin, record, seq, payload, rand::random())
}

/// [`seal_payload`] with a given nonce (golden vectors only: a nonce must never repeat
/// under one key).
pub fn seal_payload_with_nonce(
    key: &EntryKey,
    origin: &str,
    record: &RecordId,
    seq: Seq,
    payload: &Payload,
    nonce: [u8; NONCE_LEN],
) -> Vec<u8> {
    let content = payload.content();
    let framed = 32 + 4 + content.len();
    let padded = framed.div_ceil(PAD) * PAD;
    let mut plain = zeroize::Zeroizing::new(Vec::with_capacity(padded));
    plain.extend_from_slice(payload.salt());
    // Payloads are bounded far below 4 GiB (archive::MAX_PAYLOAD); saturate rather than wrap.
    plain.extend_from_slice(
        &u32::try_from(content.len())
            .unwrap_or(u32::MAX)
            .to_le_bytes(),
    );
    plain.extend_from_slice(content);
    plain.resize(padded, 0);
    encrypt(&key.0, nonce, &plain, &payload_aad(origin, record, seq))
}

/// Decrypts stored bytes of entry `seq` of `record` and checks the framing (length within
/// the plaintext, zero padding to the next multiple of [`PAD`]).
pub fn open_payload(
    key: &EntryKey,
    origin: &str,
    record: &RecordId,
    seq: Seq,
    stored: &[u8],
) -> Result<Payload, ContentError> {
    let plain =
        zeroize::Zeroizing::new(decrypt(&key.0, stored, &payload_aad(origin, record, seq))?);
    let (salt, rest) = plain
        .split_first_chunk::<32>()
        .ok_or(ContentError::Malformed)?;
    let (len, rest) = rest
        .split_first_chunk::<4>()
        .ok_or(ContentError::Malformed)?;
    let len = usize::try_from(u32::from_le_bytes(*len)).map_err(|_| ContentError::Malformed)?;
    if len > rest.len()
        || plain.len() != (36 + len).div_ceil(PAD) * PAD
        || rest[len..].iter().any(|&b| b != 0)
    {
        return Err(ContentError::Malformed);
    }
    Ok(Payload::with_salt(*salt, rest[..len].to_vec()))
}

impl Kek {
    /// Wraps `key` for `record` in key store `slot` with a fresh nonce: [`WRAPPED_LEN`] bytes.
    pub fn wrap(&self, origin: &str, record: &RecordId, slot: u32, key: &RecordKey) -> Vec<u8> {
        self.wrap_with_nonce(origin, record, slot, key, rand::random())
    }
    /// [`Kek::wrap`] with a given nonce (golden vectors only).
    pub fn wrap_with_nonce(
        &self,
        origin: &str,
        record: &RecordId,
        slot: u32,
        key: &RecordKey,
        nonce: [u8; NONCE_LEN],
    ) -> Vec<u8> {
        encrypt(&self.0, nonce, &key.0, &wrap_aad(origin, record, slot))
    }
    /// Unwraps a record key; fails on a wrong KEK, record, slot or altered bytes.
    pub fn unwrap(
        &self,
        origin: &str,
        record: &RecordId,
        slot: u32,
        wrapped: &[u8],
    ) -> Result<RecordKey, ContentError> {
        let plain =
            zeroize::Zeroizing::new(decrypt(&self.0, wrapped, &wrap_aad(origin, record, slot))?);
        let bytes: [u8; 32] = plain
            .as_slice()
            .try_into()
            .map_err(|_| ContentError::Malformed)?;
        Ok(RecordKey(bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(s: &str) -> RecordId {
        RecordId::new(s).unwrap()
    }

    #[test]
    fn lengths_are_padded_and_round_trip() {
        let rk = RecordKey::from_bytes([9; 32]);
        for n in [0usize, 1, 219, 220, 221, 1000] {
            let p = Payload::with_salt([1; 32], vec![b'x'; n]);
            let k = rk.entry_key(Seq(5));
            let stored = seal_payload(&k, "o", &rec("C-1"), Seq(5), &p);
            assert_eq!((stored.len() - NONCE_LEN - TAG_LEN) % PAD, 0, "{n}");
            assert_eq!(
                open_payload(&k, "o", &rec("C-1"), Seq(5), &stored).unwrap(),
                p
            );
        }
    }

    #[test]
    fn position_origin_and_bytes_are_authenticated() {
        let rk = RecordKey::from_bytes([9; 32]);
        let p = Payload::with_salt([1; 32], b"fee $80".to_vec());
        let k = rk.entry_key(Seq(5));
        let stored = seal_payload(&k, "o", &rec("C-1"), Seq(5), &p);
        assert_eq!(
            open_payload(&k, "o", &rec("C-2"), Seq(5), &stored),
            Err(ContentError::Decrypt)
        );
        assert_eq!(
            open_payload(&k, "p", &rec("C-1"), Seq(5), &stored),
            Err(ContentError::Decrypt)
        );
        let mut flipped = stored.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 1;
        assert_eq!(
            open_payload(&k, "o", &rec("C-1"), Seq(5), &flipped),
            Err(ContentError::Decrypt)
        );
        assert_eq!(
            open_payload(&k, "o", &rec("C-1"), Seq(5), &stored[..10]),
            Err(ContentError::TooShort)
        );
        // The plaintext never appears in the stored bytes.
        assert!(!stored.windows(7).any(|w| w == b"fee $80"));
    }

    #[test]
    fn wrapped_keys_are_bound_to_record_and_slot() {
        let kek = Kek::from_bytes([7; 32]);
        let rk = RecordKey::from_bytes([9; 32]);
        let w = kek.wrap("o", &rec("C-1"), 3, &rk);
        assert_eq!(w.len(), WRAPPED_LEN);
        assert_eq!(kek.unwrap("o", &rec("C-1"), 3, &w).unwrap(), rk);
        assert!(kek.unwrap("o", &rec("C-1"), 4, &w).is_err());
        assert!(kek.unwrap("o", &rec("C-2"), 3, &w).is_err());
        assert!(Kek::from_bytes([8; 32])
            .unwrap("o", &rec("C-1"), 3, &w)
            .is_err());
    }

    /// Known answer computed outside this code: RFC 5869 HKDF-SHA256 by hand with Python's
    /// `hmac` (salt = 32 zero bytes, PRK = HMAC(salt, ikm), T(1) = HMAC(PRK, info || 0x01)),
    /// ikm = 32 bytes of 0x09, info = b"caseledger entry key v2" + (5).to_bytes(8, "little").
    /// A change is a format change.
    #[test]
    fn entry_key_known_answer() {
        let k = RecordKey::from_bytes([9; 32]).entry_key(Seq(5));
        assert_eq!(hex::encode(k.as_bytes()), ENTRY_KEY_KAT);
    }
    const ENTRY_KEY_KAT: &str = "4966eead5c5bb2eb431520673a5a6d8984a827c7956fc020d7cabaa0d9318e1c";
}
