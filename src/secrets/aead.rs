//! TLS 1.3 record and QUIC packet protection for the one thing this tool decrypts: the server's
//! records after its ServerHello, when the user gave the connection's secrets (`secrets`), far
//! enough to read its NewSessionTickets (`tls::server13`, `transport::quic::protected`). Keys come from a traffic secret by HKDF-Expand-Label "key"/"iv"
//! (RFC 8446 §7.3); the nonce is the IV XOR the record sequence number. AES-128-GCM,
//! AES-256-GCM (SHA-384) and ChaCha20-Poly1305.
//!
//! Invariants: nothing here panics on any input; a record that does not authenticate yields
//! `None`; keys are never printed (`Debug` is redacted).

use aes_gcm::aead::{AeadInPlace, KeyInit};
use aes_gcm::{Aes128Gcm, Aes256Gcm};
use chacha20poly1305::ChaCha20Poly1305;
use hkdf::Hkdf;
use sha2::{Sha256, Sha384};

pub const TLS_AES_128_GCM_SHA256: u16 = 0x1301;
pub const TLS_AES_256_GCM_SHA384: u16 = 0x1302;
pub const TLS_CHACHA20_POLY1305_SHA256: u16 = 0x1303;

enum Aead {
    Aes128(Box<Aes128Gcm>),
    Aes256(Box<Aes256Gcm>),
    ChaCha(Box<ChaCha20Poly1305>),
}

/// One direction's record keys and sequence number.
pub struct RecordKeys {
    aead: Aead,
    iv: [u8; 12],
    seq: u64,
}

impl std::fmt::Debug for RecordKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RecordKeys(..)")
    }
}

/// HKDF-Expand-Label (RFC 8446 §7.1) with an empty context: `prefix` is "tls13 " for TLS;
/// QUIC's labels ("quic key", ...) go under the same prefix.
pub fn expand_label(cipher: u16, secret: &[u8], label: &str, out: &mut [u8]) -> Option<()> {
    let full = [b"tls13 ", label.as_bytes()].concat();
    let mut info = Vec::with_capacity(4 + full.len());
    info.extend_from_slice(&(out.len() as u16).to_be_bytes());
    info.push(full.len() as u8);
    info.extend_from_slice(&full);
    info.push(0);
    if cipher == TLS_AES_256_GCM_SHA384 {
        Hkdf::<Sha384>::from_prk(secret)
            .ok()?
            .expand(&info, out)
            .ok()
    } else {
        Hkdf::<Sha256>::from_prk(secret)
            .ok()?
            .expand(&info, out)
            .ok()
    }
}

/// The key length of a TLS 1.3 cipher suite, or `None` for one this build cannot read.
pub fn key_len(cipher: u16) -> Option<usize> {
    match cipher {
        TLS_AES_128_GCM_SHA256 => Some(16),
        TLS_AES_256_GCM_SHA384 | TLS_CHACHA20_POLY1305_SHA256 => Some(32),
        _ => None,
    }
}

/// An AEAD of `cipher` keyed with `key` (of `key_len(cipher)` bytes).
fn aead(cipher: u16, key: &[u8]) -> Option<Aead> {
    Some(match cipher {
        TLS_AES_128_GCM_SHA256 => Aead::Aes128(Box::new(Aes128Gcm::new_from_slice(key).ok()?)),
        TLS_AES_256_GCM_SHA384 => Aead::Aes256(Box::new(Aes256Gcm::new_from_slice(key).ok()?)),
        TLS_CHACHA20_POLY1305_SHA256 => {
            Aead::ChaCha(Box::new(ChaCha20Poly1305::new_from_slice(key).ok()?))
        }
        _ => return None,
    })
}

/// Opens `buf` (ciphertext then 16-byte tag) in place with `nonce` and `aad`; returns the
/// plaintext length.
fn open(aead: &Aead, nonce: &[u8; 12], aad: &[u8], buf: &mut [u8]) -> Option<usize> {
    let n = buf.len().checked_sub(16)?;
    let (msg, tag) = buf.split_at_mut(n);
    let tag = aes_gcm::Tag::from_slice(tag);
    let nonce = aes_gcm::Nonce::from_slice(nonce);
    let ok = match aead {
        Aead::Aes128(a) => a.decrypt_in_place_detached(nonce, aad, msg, tag),
        Aead::Aes256(a) => a.decrypt_in_place_detached(nonce, aad, msg, tag),
        Aead::ChaCha(a) => a.decrypt_in_place_detached(nonce, aad, msg, tag),
    };
    ok.ok().map(|_| n)
}

/// `iv` XOR the big-endian `seq` (RFC 8446 §5.3, RFC 9001 §5.3).
pub fn nonce(iv: &[u8; 12], seq: u64) -> [u8; 12] {
    let mut n = *iv;
    for (b, s) in n[4..].iter_mut().zip(seq.to_be_bytes()) {
        *b ^= s;
    }
    n
}

/// An AEAD and IV derived from `secret` with labels `{prefix}key` / `{prefix}iv` ("" for TLS,
/// "quic " or "quicv2 " for QUIC packet protection).
pub struct PacketKeys {
    aead: Aead,
    pub iv: [u8; 12],
}

impl std::fmt::Debug for PacketKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PacketKeys(..)")
    }
}

impl PacketKeys {
    pub fn derive(cipher: u16, secret: &[u8], prefix: &str) -> Option<Self> {
        let mut key = [0u8; 32];
        let key = &mut key[..key_len(cipher)?];
        expand_label(cipher, secret, &format!("{prefix}key"), key)?;
        let mut iv = [0u8; 12];
        expand_label(cipher, secret, &format!("{prefix}iv"), &mut iv)?;
        Some(PacketKeys {
            aead: aead(cipher, key)?,
            iv,
        })
    }

    /// Opens `buf` in place (ciphertext then tag) as packet/record number `seq` with `aad`.
    pub fn open(&self, seq: u64, aad: &[u8], buf: &mut [u8]) -> Option<usize> {
        open(&self.aead, &nonce(&self.iv, seq), aad, buf)
    }
}

impl RecordKeys {
    /// Keys for records protected with `secret` under `cipher`, from sequence number 0.
    pub fn new(cipher: u16, secret: &[u8]) -> Option<Self> {
        let k = PacketKeys::derive(cipher, secret, "")?;
        Some(RecordKeys {
            aead: k.aead,
            iv: k.iv,
            seq: 0,
        })
    }

    /// Opens one application_data record's `body` (its header is rebuilt as the AAD); returns
    /// the inner content type and the plaintext (padding removed), or `None`. The sequence
    /// number advances either way (a record that does not open was still sent).
    pub fn open_record(&mut self, body: &[u8]) -> Option<(u8, Vec<u8>)> {
        let seq = self.seq;
        self.seq += 1;
        let len = u16::try_from(body.len()).ok()?;
        let aad = [23, 3, 3, (len >> 8) as u8, len as u8];
        let mut buf = body.to_vec();
        let n = open(&self.aead, &nonce(&self.iv, seq), &aad, &mut buf)?;
        buf.truncate(n);
        // TLSInnerPlaintext: content, the type byte, then zero padding.
        let end = buf.iter().rposition(|&b| b != 0)?;
        let ty = buf[end];
        buf.truncate(end);
        Some((ty, buf))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 8448 §3 (simple 1-RTT handshake): the server handshake traffic secret, its write
    /// key and IV.
    #[test]
    fn rfc8448_server_handshake_key_and_iv_come_out_of_the_secret() {
        let secret = hex("b67b7d690cc16c4e75e54213cb2d37b4e9c912bcded9105d42befd59d391ad38");
        let mut key = [0u8; 16];
        expand_label(0x1301, &secret, "key", &mut key).unwrap();
        let mut iv = [0u8; 12];
        expand_label(0x1301, &secret, "iv", &mut iv).unwrap();
        assert_eq!(key.to_vec(), hex("3fce516009c21727d0f2e4e86ee403bc"));
        assert_eq!(iv.to_vec(), hex("5d313eb2671276ee13000b30"));
    }

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }
}
