//! Tickets and key names. A whole ticket never leaves this module: callers get a `TicketRef`
//! holding a short prefix (enough for any key name), the length and a 64-bit hash used only to
//! match a resumption with the issuance it came from.
//!
//! Key-name length is inferred per service (see `infer_key_name_len`): tickets encrypted under
//! one key share exactly the key-name prefix, and what follows (an IV) is random.

use sha2::{Digest, Sha256};

/// Bytes of each ticket kept for key-name inference; key names themselves are at most
/// `MAX_KEY_NAME_LEN`.
pub const PREFIX_LEN: usize = 32;
pub const MAX_KEY_NAME_LEN: usize = 16;
/// Tickets of at most this many bytes carry no key name (see `TicketRef::new`).
pub const MIN_NAMED_LEN: usize = 16;
/// Shorter tickets cannot hold a key name, an IV, encrypted session state and a MAC (RFC 5077
/// §4: 16 + 16 + state + 32): they are stateful identities. The shortest stateless tickets
/// seen (Go, mbedTLS) are well over 100 bytes; OpenSSL's stateful TLS 1.3 tickets are 32.
pub const MIN_STATELESS_LEN: usize = 64;
/// Below this many shared bytes a "key name" is indistinguishable from chance.
pub const MIN_KEY_NAME_LEN: usize = 4;
/// Default when too few tickets were seen to infer: the layout of RFC 5077 §4 and of OpenSSL,
/// BoringSSL, nginx, Apache, HAProxy and GnuTLS.
pub const DEFAULT_KEY_NAME_LEN: usize = 16;

#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TicketRef {
    prefix: [u8; PREFIX_LEN],
    prefix_len: u8,
    pub len: u32,
    pub hash: u64,
}

impl std::fmt::Debug for TicketRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "TicketRef(len {}, name16 {})",
            self.len,
            hex(self.name(16))
        )
    }
}

impl TicketRef {
    /// A ticket or PSK identity of at most `MIN_NAMED_LEN` bytes keeps no prefix: its first
    /// bytes would be most of it (a stateful session identifier, not a key name), so only its
    /// hash and length are kept.
    pub fn new(ticket: &[u8]) -> Self {
        let n = if ticket.len() <= MIN_NAMED_LEN {
            0
        } else {
            ticket.len().min(PREFIX_LEN)
        };
        let mut prefix = [0u8; PREFIX_LEN];
        prefix[..n].copy_from_slice(&ticket[..n]);
        let digest = Sha256::digest(ticket);
        let hash = u64::from_be_bytes(digest[..8].try_into().expect("8 bytes"));
        TicketRef {
            prefix,
            prefix_len: n as u8,
            len: ticket.len() as u32,
            hash,
        }
    }

    /// The first `len` bytes (fewer if the ticket is shorter).
    pub fn name(&self, len: usize) -> &[u8] {
        &self.prefix[..len.min(self.prefix_len as usize)]
    }

    pub fn prefix(&self) -> &[u8] {
        &self.prefix[..self.prefix_len as usize]
    }
}

/// Short hash of a session ID, so resumptions can be matched without storing the ID.
pub fn id_hash(id: &[u8]) -> u64 {
    let digest = Sha256::digest(id);
    u64::from_be_bytes(digest[..8].try_into().expect("8 bytes"))
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The inferred key-name layout of one service.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyNameLen {
    /// Tickets share this many leading bytes per key.
    Inferred(usize),
    /// Too few distinct tickets to tell; the common 16-byte layout is assumed.
    Assumed(usize),
    /// Forced by `--key-name-len`.
    Forced(usize),
    /// Tickets share no prefix (e.g. Go's crypto/tls): keys cannot be told apart.
    NotObservable,
}

impl KeyNameLen {
    pub fn bytes(self) -> Option<usize> {
        match self {
            KeyNameLen::Inferred(n) | KeyNameLen::Assumed(n) | KeyNameLen::Forced(n) => Some(n),
            KeyNameLen::NotObservable => None,
        }
    }
}

/// Infers the key-name length from distinct ticket prefixes of one service.
///
/// For each ticket, its longest common prefix with any other ticket is its key name plus,
/// rarely, a few bytes of IV that match by chance; across keys the common prefix is shorter.
/// The most frequent of these nearest-neighbour lengths is the key-name length. Known formats
/// are hints: values are capped at 16 (RFC 5077 key names), and below 4 bytes (what chance
/// gives for random IVs) the key is declared not observable.
pub fn infer_key_name_len(prefixes: &[&[u8]]) -> KeyNameLen {
    if prefixes.len() < 2 {
        return KeyNameLen::Assumed(DEFAULT_KEY_NAME_LEN);
    }
    let mut counts = [0usize; MAX_KEY_NAME_LEN + 1];
    for (i, a) in prefixes.iter().enumerate() {
        let nearest = prefixes
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != i)
            .map(|(_, b)| common_prefix(a, b))
            .max()
            .unwrap_or(0);
        counts[nearest.min(MAX_KEY_NAME_LEN)] += 1;
    }
    // Most frequent; ties go to the longer length.
    let (best, _) = counts
        .iter()
        .enumerate()
        .max_by_key(|(len, n)| (**n, *len))
        .expect("non-empty");
    if best < MIN_KEY_NAME_LEN {
        KeyNameLen::NotObservable
    } else {
        KeyNameLen::Inferred(best)
    }
}

fn common_prefix(a: &[u8], b: &[u8]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Deterministic filler standing in for a per-ticket random IV.
    fn iv(seed: u32) -> Vec<u8> {
        let mut x = seed.wrapping_mul(2_654_435_761).wrapping_add(12345);
        (0..16)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                (x >> 3) as u8
            })
            .collect()
    }

    fn tickets(names: &[&[u8]], per_key: u32) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        for (k, name) in names.iter().enumerate() {
            for i in 0..per_key {
                let mut t = name.to_vec();
                t.extend(iv(k as u32 * 1000 + i));
                t.extend([0x55; 48]);
                out.push(t);
            }
        }
        out
    }

    fn infer(ts: &[Vec<u8>]) -> KeyNameLen {
        let refs: Vec<TicketRef> = ts.iter().map(|t| TicketRef::new(t)).collect();
        let prefixes: Vec<&[u8]> = refs.iter().map(|r| r.prefix()).collect();
        infer_key_name_len(&prefixes)
    }

    #[test]
    fn openssl_style_sixteen_byte_names_are_inferred_across_similar_names() {
        let ts = tickets(
            &[
                b"rotate-key-0001!",
                b"rotate-key-0002!",
                b"rotate-key-0003!",
            ],
            3,
        );
        assert_eq!(infer(&ts), KeyNameLen::Inferred(16));
    }

    #[test]
    fn four_byte_key_ids_of_mbedtls_and_jsse_are_inferred() {
        let ts = tickets(&[&[0, 0, 0, 7], &[0, 0, 0, 8]], 4);
        assert_eq!(infer(&ts), KeyNameLen::Inferred(4));
    }

    #[test]
    fn nss_names_sharing_the_nss_prefix_are_still_told_apart() {
        // NSS: "NSS!" then 12 random bytes make the 16-byte key name.
        let ts = tickets(
            &[
                b"NSS!\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c",
                b"NSS!\xf1\xf2\xf3\xf4\xf5\xf6\xf7\xf8\xf9\xfa\xfb\xfc",
            ],
            3,
        );
        assert_eq!(infer(&ts), KeyNameLen::Inferred(16));
    }

    #[test]
    fn s2n_version_byte_before_the_name_keeps_keys_apart() {
        // s2n-tls: a 1-byte format version, then the 16-byte key name; names are capped at 16
        // bytes, so the version byte and the first 15 name bytes identify the key.
        let a = [&[1u8][..], b"s2n-key-name-aaa"].concat();
        let b = [&[1u8][..], b"s2n-key-name-bbb"].concat();
        let ts = tickets(&[&a, &b], 3);
        assert_eq!(infer(&ts), KeyNameLen::Inferred(16));
        let refs: Vec<TicketRef> = ts.iter().map(|t| TicketRef::new(t)).collect();
        assert_ne!(refs[0].name(16), refs[3].name(16));
    }

    #[test]
    fn go_tickets_without_key_name_are_not_observable() {
        let ts: Vec<Vec<u8>> = (0..20).map(|i| [iv(i), vec![1; 40]].concat()).collect();
        assert_eq!(infer(&ts), KeyNameLen::NotObservable);
    }

    #[test]
    fn a_single_ticket_assumes_the_common_layout() {
        let ts = tickets(&[b"only-one-ticket!"], 1);
        assert_eq!(infer(&ts), KeyNameLen::Assumed(16));
    }

    #[test]
    fn ticket_ref_keeps_no_more_than_the_prefix() {
        let t = [7u8; 200];
        let r = TicketRef::new(&t);
        assert_eq!(r.prefix().len(), PREFIX_LEN);
        assert_eq!(r.len, 200);
        assert_eq!(r.name(16), &[7u8; 16]);
    }
}
