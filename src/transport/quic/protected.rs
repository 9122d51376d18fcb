//! A QUIC connection's server packets past the Initials, opened with the user's secrets
//! (RFC 9001 §5, RFC 9369 §3.3): Handshake packets under `SERVER_HANDSHAKE_TRAFFIC_SECRET`,
//! 1-RTT (short-header) packets under `SERVER_TRAFFIC_SECRET_0`, each with keys from the
//! "quic key"/"quic iv"/"quic hp" labels ("quicv2 ..." for v2), header protection by AES-ECB
//! or ChaCha20 as the cipher suite says. The 1-RTT CRYPTO stream (the server's
//! NewSessionTickets) is reassembled and handed to the same TLS stage as every other
//! transport's handshake bytes.
//!
//! Invariants: at most `MAX_APP_PACKETS` 1-RTT and `MAX_HANDSHAKE_PACKETS` Handshake packets
//! are tried per connection, the rest counted as skipped; decryption ends at the cap, or at
//! the first 1-RTT packet without CRYPTO frames after the stream delivered bytes (the tickets
//! come before the answer). Keys are never printed; plaintext lives in the caller's scratch.

use aes::cipher::{BlockEncrypt, KeyInit, KeyIvInit, StreamCipher, StreamCipherSeek};
use aes::{Aes128, Aes256};
use chacha20::ChaCha20;

use super::crypto::{CryptoStream, Took};
use super::frames;
use super::packet::{self, Protection};
use crate::secrets::aead::{self as decrypt, PacketKeys};
use crate::secrets::DecryptCounts;
pub use crate::secrets::QuicSecrets;

/// 1-RTT packets from the server tried per connection before giving up on tickets.
pub const MAX_APP_PACKETS: u32 = 16;
/// Handshake packets from the server tried per connection (a certificate chain takes a few).
pub const MAX_HANDSHAKE_PACKETS: u32 = 32;

/// Header protection of a negotiated cipher suite (RFC 9001 §5.4.3, §5.4.4).
enum Hp {
    Aes128(Box<Aes128>),
    Aes256(Box<Aes256>),
    ChaCha([u8; 32]),
}

/// One packet-number space's keys from a TLS traffic secret.
pub struct LevelKeys {
    packet: PacketKeys,
    hp: Hp,
}

impl std::fmt::Debug for LevelKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LevelKeys(..)")
    }
}

impl LevelKeys {
    /// The keys of `secret` under `cipher`, with v2's labels when `v2`; `None` for a suite
    /// this build cannot open.
    pub fn derive(cipher: u16, secret: &[u8], v2: bool) -> Option<Self> {
        let prefix = if v2 { "quicv2 " } else { "quic " };
        let packet = PacketKeys::derive(cipher, secret, prefix)?;
        let mut key = [0u8; 32];
        let n = decrypt::key_len(cipher)?;
        decrypt::expand_label(cipher, secret, &format!("{prefix}hp"), &mut key[..n])?;
        let hp = match cipher {
            decrypt::TLS_AES_128_GCM_SHA256 => {
                Hp::Aes128(Box::new(Aes128::new_from_slice(&key[..16]).ok()?))
            }
            decrypt::TLS_AES_256_GCM_SHA384 => {
                Hp::Aes256(Box::new(Aes256::new_from_slice(&key).ok()?))
            }
            decrypt::TLS_CHACHA20_POLY1305_SHA256 => Hp::ChaCha(key),
            _ => return None,
        };
        Some(LevelKeys { packet, hp })
    }
}

impl Protection for LevelKeys {
    fn mask(&self, sample: &[u8; 16]) -> [u8; 5] {
        let mut block = (*sample).into();
        match &self.hp {
            Hp::Aes128(k) => k.encrypt_block(&mut block),
            Hp::Aes256(k) => k.encrypt_block(&mut block),
            Hp::ChaCha(key) => {
                // The sample's first 4 bytes are the block counter (little-endian), the
                // other 12 the nonce; the mask is the keystream's first 5 bytes.
                let counter = u32::from_le_bytes([sample[0], sample[1], sample[2], sample[3]]);
                let mut c = ChaCha20::new(key.into(), sample[4..].into());
                c.seek(u64::from(counter) * 64);
                let mut m = [0u8; 5];
                c.apply_keystream(&mut m);
                return m;
            }
        }
        [block[0], block[1], block[2], block[3], block[4]]
    }

    fn open(&self, pn: u64, header: &[u8], payload: &mut [u8]) -> Option<usize> {
        self.packet.open(pn, header, payload)
    }
}

/// What opening one protected packet came to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    More,
    /// Decryption is over (cap, or the tickets are through).
    Done,
}

/// One connection's server-side decryption state.
pub struct Protected {
    handshake: Option<LevelKeys>,
    app: Option<LevelKeys>,
    /// Length of the client's Source Connection ID: the server's short headers carry it.
    dcid_len: usize,
    largest: [Option<u64>; 2],
    handshake_tried: u32,
    app_tried: u32,
    stream: CryptoStream,
    delivered: bool,
    pub counts: DecryptCounts,
}

impl std::fmt::Debug for Protected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Protected")
            .field("counts", &self.counts)
            .finish()
    }
}

impl Protected {
    /// Decryption of a `version` connection's server packets, or `None` when neither secret
    /// gives keys (an unknown suite).
    pub fn new(s: &QuicSecrets, v2: bool, dcid_len: usize) -> Option<Self> {
        let level = |x: &Option<Vec<u8>>| {
            x.as_deref()
                .and_then(|k| LevelKeys::derive(s.cipher, k, v2))
        };
        let handshake = level(&s.secrets.server_handshake);
        let app = level(&s.secrets.server_traffic);
        if handshake.is_none() && app.is_none() {
            return None;
        }
        Some(Protected {
            handshake,
            app,
            dcid_len,
            largest: [None; 2],
            handshake_tried: 0,
            app_tried: 0,
            stream: CryptoStream::default(),
            delivered: false,
            counts: DecryptCounts::default(),
        })
    }

    /// A server Handshake packet: opened and its frames checked (its CRYPTO stream holds
    /// EncryptedExtensions to Finished, nothing about tickets); counts only.
    pub fn handshake(&mut self, bytes: &[u8], pn_offset: usize, scratch: &mut Vec<u8>) {
        let Some(keys) = &self.handshake else { return };
        if self.handshake_tried >= MAX_HANDSHAKE_PACKETS {
            self.counts.skipped += 1;
            return;
        }
        self.handshake_tried += 1;
        match packet::open(keys, bytes, pn_offset, self.largest[0], scratch) {
            Ok((pn, range)) => {
                self.largest[0] = self.largest[0].max(Some(pn));
                self.counts.records += 1;
                if frames::walk(&scratch[range], &mut |_, _| {}).is_err() {
                    self.counts.malformed += 1;
                }
            }
            Err(_) => self.counts.failures += 1,
        }
        scratch.fill(0);
    }

    /// A server 1-RTT packet: opened, its CRYPTO frames reassembled, the stream's next bytes
    /// handed to `out`; `may_hold` says whether the table's budget allows holding pieces that
    /// arrive out of order.
    pub fn short(
        &mut self,
        bytes: &[u8],
        may_hold: bool,
        scratch: &mut Vec<u8>,
        out: &mut impl FnMut(&[u8]),
    ) -> Step {
        let Some(keys) = &self.app else {
            return Step::Done;
        };
        if self.app_tried >= MAX_APP_PACKETS {
            self.counts.cap_hit = true;
            self.counts.skipped += 1;
            return Step::Done;
        }
        self.app_tried += 1;
        let step = match packet::open_short(keys, bytes, self.dcid_len, self.largest[1], scratch) {
            Ok((pn, range)) => {
                self.largest[1] = self.largest[1].max(Some(pn));
                self.counts.records += 1;
                self.app_frames(&scratch[range], may_hold, out)
            }
            Err(_) => {
                self.counts.failures += 1;
                Step::More
            }
        };
        scratch.fill(0);
        if self.app_tried >= MAX_APP_PACKETS && step == Step::More {
            self.counts.cap_hit = true;
            return Step::Done;
        }
        step
    }

    fn app_frames(&mut self, plain: &[u8], may_hold: bool, out: &mut impl FnMut(&[u8])) -> Step {
        let stream = &mut self.stream;
        let mut delivered = false;
        let mut refused = 0;
        let walked = frames::walk_app(plain, &mut |offset, data| {
            let took = stream.push(offset, data, may_hold, &mut |b| {
                delivered = true;
                out(b);
            });
            refused += u32::from(took == Took::Refused);
        });
        self.counts.skipped += refused;
        let crypto = walked.map_or(0, |s| s.crypto_frames);
        if walked.is_err() {
            self.counts.malformed += 1;
        }
        self.delivered |= delivered;
        if self.delivered && crypto == 0 {
            return Step::Done;
        }
        Step::More
    }

    /// Bytes held out of order.
    pub fn held(&self) -> usize {
        self.stream.held()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secrets::ConnSecrets;

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// RFC 9001 Appendix A.5: a ChaCha20-Poly1305 short-header packet.
    #[test]
    fn rfc9001_chacha20_short_header_packet_opens_to_a_ping() {
        let secret = hex("9ac312a7f877468ebe69422748ad00a1 5443f18203a07d6060f688f30f21632b");
        let keys =
            LevelKeys::derive(decrypt::TLS_CHACHA20_POLY1305_SHA256, &secret, false).unwrap();
        let sample: [u8; 16] = hex("5e5cd55c41f69080575d7999c25a5bfb").try_into().unwrap();
        assert_eq!(keys.mask(&sample).to_vec(), hex("aefefe7d03"));
        let packet = hex("4cfe4189655e5cd55c41f69080575d7999c25a5bfb");
        let mut scratch = Vec::new();
        // The largest packet number seen before: 654360564 - 1 (RFC 9001 A.5).
        let (pn, range) =
            packet::open_short(&keys, &packet, 0, Some(654_360_563), &mut scratch).unwrap();
        assert_eq!(pn, 654_360_564);
        assert_eq!(scratch[range].to_vec(), vec![0x01]);
    }

    #[test]
    fn an_unknown_cipher_suite_gives_no_keys() {
        assert!(LevelKeys::derive(0x1304, &[7; 32], false).is_none());
        let s = QuicSecrets {
            cipher: 0x1304,
            secrets: ConnSecrets {
                server_traffic: Some(vec![7; 32]),
                ..Default::default()
            },
        };
        assert!(Protected::new(&s, false, 8).is_none());
    }

    #[test]
    fn garbage_and_cut_packets_fail_counted_until_the_cap_ends_decryption() {
        let s = QuicSecrets {
            cipher: decrypt::TLS_AES_128_GCM_SHA256,
            secrets: ConnSecrets {
                server_handshake: Some(vec![1; 32]),
                server_traffic: Some(vec![2; 32]),
                ..Default::default()
            },
        };
        let mut p = Protected::new(&s, false, 8).unwrap();
        let mut scratch = Vec::new();
        // Handshake packets: cut before the sample, then garbage that does not authenticate.
        p.handshake(&[0xe0; 10], 9, &mut scratch);
        p.handshake(&[0xe0; 200], 30, &mut scratch);
        assert_eq!((p.counts.records, p.counts.failures), (0, 2));
        let mut steps = Vec::new();
        for n in 0..(MAX_APP_PACKETS as usize + 3) {
            let packet = vec![0x40 | (n as u8 & 3); n * 7];
            steps.push(p.short(&packet, true, &mut scratch, &mut |_| {
                panic!("nothing authenticates")
            }));
        }
        assert_eq!(p.counts.failures, 2 + MAX_APP_PACKETS);
        assert!(p.counts.cap_hit);
        assert_eq!(p.counts.skipped, 3);
        assert_eq!(steps[MAX_APP_PACKETS as usize - 2], Step::More);
        assert_eq!(steps[MAX_APP_PACKETS as usize - 1], Step::Done);
        assert!(scratch.iter().all(|&b| b == 0));
    }
}
