//! TLS secrets the user hands over: NSS key log lines (`--keylog FILE`, as browsers write with
//! SSLKEYLOGFILE) and pcapng Decryption Secrets Blocks, kept in one bounded store keyed by the
//! ClientHello's random. Only the TLS 1.3 server traffic secrets are used (to read the server's
//! NewSessionTickets, `secrets::aead`); the other labels are recognised and counted.
//!
//! Privacy: secrets never leave this module except as key material handed to `secrets::aead`;
//! `Debug` shows counts only, and errors never quote a line.

pub mod aead;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{OnceLock, RwLock};

/// Client randoms kept; lines for further connections are counted in `Counts::overflow`.
pub const MAX_CONNECTIONS: usize = 100_000;
/// Longest secret accepted (SHA-384 is 48 bytes; TLS 1.2's master secret too).
const MAX_SECRET_LEN: usize = 64;

/// One connection's secrets (by client random).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct ConnSecrets {
    pub server_handshake: Option<Vec<u8>>,
    pub server_traffic: Option<Vec<u8>>,
    pub client_handshake: Option<Vec<u8>>,
    pub client_traffic: Option<Vec<u8>>,
    /// Labels this stage does not use (CLIENT_RANDOM, EXPORTER_SECRET, early traffic): seen.
    pub others: u8,
}

impl std::fmt::Debug for ConnSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ConnSecrets(redacted)")
    }
}

/// The secrets a QUIC connection's TLS stage found for it, with the cipher suite of its
/// ServerHello: what the transport needs to open the server's packets.
#[derive(Debug)]
pub struct QuicSecrets {
    pub cipher: u16,
    pub secrets: ConnSecrets,
}

/// What the store took in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Well-formed lines stored.
    pub lines: u64,
    /// Lines that are not `LABEL <64 hex> <hex>` with a known label (comments and blank
    /// lines are not counted).
    pub bad_lines: u64,
    /// Lines for connections past `MAX_CONNECTIONS`.
    pub overflow: u64,
    /// Decryption Secrets Blocks read (TLS key log type).
    pub blocks: u64,
    /// Decryption Secrets Blocks of another type (e.g. WireGuard): skipped.
    pub other_blocks: u64,
}

/// The bounded store.
#[derive(Default)]
pub struct Secrets {
    by_random: HashMap<[u8; 32], ConnSecrets>,
    pub counts: Counts,
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Secrets")
            .field("connections", &self.by_random.len())
            .field("counts", &self.counts)
            .finish()
    }
}

impl Secrets {
    /// Reads key log text (bytes that are not UTF-8 make their line bad, nothing else).
    pub fn add_keylog(&mut self, text: &[u8]) {
        for line in text.split(|&b| b == b'\n') {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            let Ok(line) = std::str::from_utf8(line) else {
                self.counts.bad_lines += 1;
                continue;
            };
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            self.add_line(line);
        }
    }

    fn add_line(&mut self, line: &str) {
        let mut parts = line.split_ascii_whitespace();
        let (Some(label), Some(random), Some(secret), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            self.counts.bad_lines += 1;
            return;
        };
        let (Some(random), Some(secret)) = (unhex(random), unhex(secret)) else {
            self.counts.bad_lines += 1;
            return;
        };
        let (Ok(random), true) = (<[u8; 32]>::try_from(random), secret.len() <= MAX_SECRET_LEN)
        else {
            self.counts.bad_lines += 1;
            return;
        };
        let known = matches!(
            label,
            "SERVER_HANDSHAKE_TRAFFIC_SECRET"
                | "SERVER_TRAFFIC_SECRET_0"
                | "CLIENT_HANDSHAKE_TRAFFIC_SECRET"
                | "CLIENT_TRAFFIC_SECRET_0"
                | "CLIENT_RANDOM"
                | "EXPORTER_SECRET"
                | "CLIENT_EARLY_TRAFFIC_SECRET"
                | "EARLY_EXPORTER_SECRET"
        );
        if !known {
            self.counts.bad_lines += 1;
            return;
        }
        if !self.by_random.contains_key(&random) && self.by_random.len() >= MAX_CONNECTIONS {
            self.counts.overflow += 1;
            return;
        }
        let entry = self.by_random.entry(random).or_default();
        let slot = match label {
            "SERVER_HANDSHAKE_TRAFFIC_SECRET" => &mut entry.server_handshake,
            "SERVER_TRAFFIC_SECRET_0" => &mut entry.server_traffic,
            "CLIENT_HANDSHAKE_TRAFFIC_SECRET" => &mut entry.client_handshake,
            "CLIENT_TRAFFIC_SECRET_0" => &mut entry.client_traffic,
            _ => {
                entry.others = entry.others.saturating_add(1);
                self.counts.lines += 1;
                return;
            }
        };
        *slot = Some(secret);
        self.counts.lines += 1;
    }

    /// The secrets of the connection whose ClientHello carried `random`.
    pub fn get(&self, random: &[u8; 32]) -> Option<&ConnSecrets> {
        self.by_random.get(random)
    }

    pub fn is_empty(&self) -> bool {
        self.by_random.is_empty()
    }
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 || s.is_empty() {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// The process's store: filled by `--keylog` before reading and by each Decryption Secrets
/// Block as the capture reader meets it; read by every connection's TLS stage (all
/// transports, all worker threads) when a TLS 1.3 ServerHello is seen.
pub fn global() -> &'static RwLock<Secrets> {
    static STORE: OnceLock<RwLock<Secrets>> = OnceLock::new();
    STORE.get_or_init(|| RwLock::new(Secrets::default()))
}

static LOADED: AtomicBool = AtomicBool::new(false);

/// The process's store holds secrets: the decode stage then also hands on UDP that starts
/// with a QUIC short header (1-RTT packets, opened only for connections the secrets cover).
/// One relaxed load.
pub fn loaded() -> bool {
    LOADED.load(Ordering::Relaxed)
}

fn note_loaded(s: &Secrets) {
    if !s.is_empty() {
        LOADED.store(true, Ordering::Relaxed);
    }
}

/// Adds key log text to the process's store.
pub fn add_keylog(text: &[u8]) {
    if let Ok(mut s) = global().write() {
        s.add_keylog(text);
        note_loaded(&s);
    }
}

/// The pcapng secrets type of TLS key logs ("TLSK").
pub const DSB_TLS_KEY_LOG: u32 = 0x544c_534b;

/// Adds a Decryption Secrets Block's data (of pcapng secrets type `kind`) to the process's
/// store; other types are counted and skipped.
pub fn add_block(kind: u32, data: &[u8]) {
    if let Ok(mut s) = global().write() {
        if kind == DSB_TLS_KEY_LOG {
            s.counts.blocks += 1;
            s.add_keylog(data);
            note_loaded(&s);
        } else {
            s.counts.other_blocks += 1;
        }
    }
}

/// The process's store's counts.
pub fn counts() -> Counts {
    global().read().map(|s| s.counts).unwrap_or_default()
}

/// A copy of the secrets for `random`, or `None` (also when the store is empty: one read lock
/// per TLS 1.3 handshake).
pub fn lookup(random: &[u8; 32]) -> Option<ConnSecrets> {
    let s = global().read().ok()?;
    if s.is_empty() {
        return None;
    }
    s.get(random).cloned()
}

/// What decryption of one direction counted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DecryptCounts {
    /// Records opened.
    pub records: u32,
    /// Records that did not authenticate (wrong or missing secrets, a gap): decryption stopped.
    pub failures: u32,
    /// Decryption stopped at `MAX_APP_RECORDS` (QUIC: `MAX_APP_PACKETS`).
    pub cap_hit: bool,
    /// QUIC: packets past the caps, and CRYPTO frames refused, not tried.
    pub skipped: u32,
    /// QUIC: opened packets whose frames broke the format.
    pub malformed: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    const R: &str = "0a0b0c0d0e0f101112131415161718191a1b1c1d1e1f202122232425262728a9";

    #[test]
    fn key_log_lines_are_stored_by_client_random_and_bad_ones_counted() {
        let mut s = Secrets::default();
        let text = format!(
            "# comment\n\nSERVER_HANDSHAKE_TRAFFIC_SECRET {R} {}\r\nSERVER_TRAFFIC_SECRET_0 {R} {}\n\
             EXPORTER_SECRET {R} 00\nBOGUS_LABEL {R} 00\nSERVER_TRAFFIC_SECRET_0 12 00\n\
             SERVER_TRAFFIC_SECRET_0 {R} zz\nonly_one_field
",
            "11".repeat(32),
            "22".repeat(32)
        );
        s.add_keylog(text.as_bytes());
        s.add_keylog(b"\xff\xfe\n");
        assert_eq!(s.counts.lines, 3);
        assert_eq!(s.counts.bad_lines, 5);
        let random: [u8; 32] = unhex(R).unwrap().try_into().unwrap();
        let c = s.get(&random).unwrap();
        assert_eq!(c.server_handshake.as_deref(), Some(&[0x11; 32][..]));
        assert_eq!(c.server_traffic.as_deref(), Some(&[0x22; 32][..]));
        assert_eq!(c.others, 1);
        assert!(!format!("{s:?} {c:?}").contains("1111"));
    }

    #[test]
    fn connections_past_the_cap_are_counted_not_stored() {
        let mut s = Secrets::default();
        let mut text = String::new();
        for i in 0..MAX_CONNECTIONS + 3 {
            text.push_str(&format!("CLIENT_RANDOM {:064x} 00\n", i));
        }
        s.add_keylog(text.as_bytes());
        assert_eq!(s.by_random.len(), MAX_CONNECTIONS);
        assert_eq!(s.counts.overflow, 3);
    }
}
