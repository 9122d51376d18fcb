//! Passive tests of a TLS 1.2 session ticket for known-weak ticket encryption (Hebrok et al.,
//! USENIX Security 2023): trial verification under all-zero keys, session state sent in clear,
//! and the hash of the IV for repeated-IV detection. Owns the only code that looks inside a
//! ticket; the ticket itself never leaves the TLS stage.
//!
//! Formats tried (see README "Weak ticket keys"):
//! - the OpenSSL layout `key_name(16) | IV(16) | AES-CBC(state) | HMAC-SHA256(32)`, used by
//!   OpenSSL, BoringSSL/AWS-LC and every server that hands them keys (nginx, Apache, HAProxy,
//!   lighttpd, Node, Envoy): a 48-byte key file gives AES-128 and a 16-byte HMAC key, an
//!   80-byte one AES-256 and a 32-byte HMAC key. HMAC pads its key with zeros to the block
//!   size, so one HMAC under a zero key settles both sizes; the AES size is then found by
//!   decrypting;
//! - a DER `SSL_SESSION` in clear at offset 0, 16 (after a key name) or 32 (after name and IV).
//!
//! A verdict needs both proofs: the MAC verifies under the zero key *and* the decryption is a
//! well-formed session (`der_session`). Decrypted bytes live in one buffer inside `trial`, are
//! overwritten before it returns, and only the format label comes out.
//!
//! Invariant of the cache: it only saves work. The zero-key verdict of a ticket depends only on
//! the key, and a key is named by its 16-byte key name within one service, so the verdict is
//! kept per (server address, SNI, key name) for this thread (each worker has its own, so no
//! lock; results do not depend on which worker or in which order). A full cache stops taking
//! entries: the trial then runs per ticket, one HMAC.

use std::cell::RefCell;
use std::collections::HashMap;
use std::net::SocketAddr;

use aes::cipher::{BlockDecryptMut, KeyIvInit};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::ticket::id_hash;

const NAME: usize = 16;
const IV: usize = 16;
const MAC: usize = 32;
const BLOCK: usize = 16;
/// Cached verdicts per thread (about 40 bytes each).
pub const MAX_CACHED_KEYS: usize = 16_384;

/// How a ticket was found to be weak. The labels are stable (reports and state files).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum WeakFormat {
    /// OpenSSL layout, AES-128-CBC and HMAC-SHA256, all-zero keys (a 48-byte key file).
    ZeroAes128,
    /// OpenSSL layout, AES-256-CBC and HMAC-SHA256, all-zero keys (an 80-byte key file).
    ZeroAes256,
    /// The ticket carries a DER SSL_SESSION in clear.
    Plaintext,
}

impl WeakFormat {
    pub fn label(self) -> &'static str {
        match self {
            WeakFormat::ZeroAes128 => "openssl-aes128-cbc-hmac-sha256-zero-key",
            WeakFormat::ZeroAes256 => "openssl-aes256-cbc-hmac-sha256-zero-key",
            WeakFormat::Plaintext => "plaintext-der-session",
        }
    }

    pub fn from_label(s: &str) -> Option<Self> {
        [Self::ZeroAes128, Self::ZeroAes256, Self::Plaintext]
            .into_iter()
            .find(|f| f.label() == s)
    }

    /// The ticket's state is readable without any key.
    pub fn in_clear(self) -> bool {
        self == WeakFormat::Plaintext
    }
}

/// What the tests found in one ticket: nothing of its content.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TicketCheck {
    pub weak: Option<WeakFormat>,
    /// Hash of key name and IV (bytes 0..32: the IV or nonce of every 16-byte-named format),
    /// for repeated-IV detection; `None` for tickets too short to hold both and some state.
    pub iv_hash: Option<u64>,
}

type CacheKey = (SocketAddr, u64, [u8; NAME]);

thread_local! {
    static CACHE: RefCell<HashMap<CacheKey, Option<WeakFormat>>> = RefCell::new(HashMap::new());
}

/// Tests one ticket issued by `server` (answering a ClientHello with `sni`).
pub fn check(server: SocketAddr, sni: Option<&str>, ticket: &[u8]) -> TicketCheck {
    let iv_hash = (ticket.len() >= NAME + IV + BLOCK).then(|| id_hash(&ticket[..NAME + IV]));
    let weak = plaintext(ticket).or_else(|| zero_key_cached(server, sni, ticket));
    TicketCheck { weak, iv_hash }
}

fn zero_key_cached(server: SocketAddr, sni: Option<&str>, ticket: &[u8]) -> Option<WeakFormat> {
    if !openssl_layout(ticket) {
        return None;
    }
    let mut name = [0u8; NAME];
    name.copy_from_slice(&ticket[..NAME]);
    let key = (server, id_hash(sni.unwrap_or("").as_bytes()), name);
    if let Some(v) = CACHE.with(|c| c.borrow().get(&key).copied()) {
        return v;
    }
    let verdict = zero_key(ticket);
    CACHE.with(|c| {
        let mut c = c.borrow_mut();
        if c.len() < MAX_CACHED_KEYS {
            c.insert(key, verdict);
        }
    });
    verdict
}

/// Long enough for name, IV, one cipher block and the MAC, with whole blocks between.
fn openssl_layout(t: &[u8]) -> bool {
    t.len() >= NAME + IV + BLOCK + MAC && (t.len() - NAME - IV - MAC) % BLOCK == 0
}

/// The OpenSSL-layout trial under all-zero keys, without the cache.
pub fn zero_key(t: &[u8]) -> Option<WeakFormat> {
    if !openssl_layout(t) {
        return None;
    }
    let (signed, tag) = t.split_at(t.len() - MAC);
    // A zero HMAC key of 16 or 32 bytes is the same key once padded to the block size.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&[0u8; 32]).expect("any key length");
    mac.update(signed);
    mac.verify_slice(tag).ok()?;
    let iv = &signed[NAME..NAME + IV];
    let ct = &signed[NAME + IV..];
    if trial::<aes::Aes128>(iv, ct) {
        Some(WeakFormat::ZeroAes128)
    } else if trial::<aes::Aes256>(iv, ct) {
        Some(WeakFormat::ZeroAes256)
    } else {
        None
    }
}

/// Decrypts `ct` under the all-zero key of cipher `C` and says whether it is a DER session
/// with valid PKCS#7 padding; the plaintext is wiped before returning.
fn trial<C>(iv: &[u8], ct: &[u8]) -> bool
where
    C: aes::cipher::BlockCipher + aes::cipher::BlockDecrypt + aes::cipher::KeyInit,
    cbc::Decryptor<C>: KeyIvInit,
{
    let key = vec![0u8; <cbc::Decryptor<C> as aes::cipher::KeySizeUser>::key_size()];
    let Ok(mut dec) = cbc::Decryptor::<C>::new_from_slices(&key, iv) else {
        return false;
    };
    let mut buf = ct.to_vec();
    for block in buf.chunks_exact_mut(BLOCK) {
        dec.decrypt_block_mut(block.into());
    }
    let ok = unpadded(&buf).is_some_and(|p| der_session(p) == Some(p.len()));
    wipe(&mut buf);
    ok
}

/// Overwrites decrypted bytes so they do not linger in freed memory.
fn wipe(buf: &mut [u8]) {
    buf.fill(0);
    // Keeps the stores: the buffer is "used" after them.
    std::hint::black_box(&*buf);
}

/// PKCS#7: the last byte n (1..=16) and n bytes of value n.
fn unpadded(p: &[u8]) -> Option<&[u8]> {
    let n = *p.last()? as usize;
    if n == 0 || n > BLOCK || n > p.len() || !p[p.len() - n..].iter().all(|&b| b as usize == n) {
        return None;
    }
    Some(&p[..p.len() - n])
}

/// A DER session in clear at one of the offsets a server could put it at.
fn plaintext(t: &[u8]) -> Option<WeakFormat> {
    [0, NAME, NAME + IV]
        .into_iter()
        .filter(|&off| t.len() > off && t[off] == 0x30)
        .any(|off| der_session(&t[off..]).is_some())
        .then_some(WeakFormat::Plaintext)
}

/// A light structural check of OpenSSL's (and BoringSSL's) ASN.1 `SSL_SESSION`: a SEQUENCE
/// whose definite length fits in `b`, starting with `version INTEGER = 1`, `sslVersion
/// INTEGER` (SSL 3.0 to TLS 1.3, or DTLS), `cipher OCTET STRING (2 bytes)`, `sessionID OCTET
/// STRING (at most 32)` and `masterKey OCTET STRING (1 to 64 bytes)`. Returns the bytes the
/// SEQUENCE takes (trailing bytes are the caller's business).
pub fn der_session(b: &[u8]) -> Option<usize> {
    let (tag, body, used) = tlv(b)?;
    if tag != 0x30 {
        return None;
    }
    let (tag, v, n) = tlv(body)?;
    if tag != 0x02 || v != [1] {
        return None;
    }
    let rest = &body[n..];
    let (tag, v, n) = tlv(rest)?;
    let version = match v {
        [a] => u16::from(*a),
        [a, b] => u16::from_be_bytes([*a, *b]),
        [0, a, b] => u16::from_be_bytes([*a, *b]),
        _ => return None,
    };
    if tag != 0x02 || !matches!(version, 0x0300..=0x0304 | 0xfeff | 0xfefd | 0x0100) {
        return None;
    }
    let rest = &rest[n..];
    let (tag, cipher, n) = tlv(rest)?;
    if tag != 0x04 || cipher.len() != 2 {
        return None;
    }
    let rest = &rest[n..];
    let (tag, id, n) = tlv(rest)?;
    if tag != 0x04 || id.len() > 32 {
        return None;
    }
    let (tag, master, _) = tlv(&rest[n..])?;
    if tag != 0x04 || !(1..=64).contains(&master.len()) {
        return None;
    }
    Some(used)
}

/// One DER TLV with a definite length (short form, or long form of 1 to 3 bytes):
/// `(tag, value, bytes used)`.
fn tlv(b: &[u8]) -> Option<(u8, &[u8], usize)> {
    let (&tag, rest) = b.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, hdr) = match first {
        0..=0x7f => (first as usize, 2),
        0x81..=0x83 => {
            let k = (first & 0x7f) as usize;
            let bytes = rest.get(..k)?;
            let len = bytes.iter().fold(0usize, |a, &x| (a << 8) | x as usize);
            // DER: the shortest form only.
            if len < 0x80 || bytes[0] == 0 {
                return None;
            }
            (len, 2 + k)
        }
        _ => return None,
    };
    let value = b.get(hdr..hdr + len)?;
    Some((tag, value, hdr + len))
}

/// Test helper: forget this thread's cached verdicts.
#[cfg(test)]
pub(crate) fn clear_cache() {
    CACHE.with(|c| c.borrow_mut().clear());
}

/// Test helper: how many verdicts this thread has cached.
#[cfg(test)]
pub(crate) fn cached() -> usize {
    CACHE.with(|c| c.borrow().len())
}

#[cfg(test)]
#[path = "weak_tests.rs"]
mod tests;
