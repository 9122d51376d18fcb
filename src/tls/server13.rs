//! The server's side of a TLS 1.3 connection read with the user's secrets: its encrypted
//! handshake records opened with the handshake traffic secret (so the record sequence numbers
//! stay right), then, after its Finished, its first application-traffic records opened with
//! `SERVER_TRAFFIC_SECRET_0`, far enough to hand on the NewSessionTickets. Decrypted bytes live
//! only while one record is parsed.
//!
//! Invariants: at most `MAX_APP_RECORDS` records are opened under the application secret; the
//! first that fails to open, an alert, or application data after a ticket ends decryption.

use super::decrypt::RecordKeys;
use super::record::{RecordReader, Unit};
use super::secrets::ConnSecrets;

/// Records opened under the application traffic secret before giving up on tickets.
pub const MAX_APP_RECORDS: u32 = 16;

const FINISHED: u8 = 20;
const NEW_SESSION_TICKET: u8 = 4;

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

pub struct Server13 {
    keys: RecordKeys,
    cipher: u16,
    /// `SERVER_TRAFFIC_SECRET_0`, until the server's Finished switches to it.
    app_secret: Option<Vec<u8>>,
    in_app: bool,
    app_records: u32,
    tickets: u32,
    messages: RecordReader,
    pub counts: DecryptCounts,
}

impl std::fmt::Debug for Server13 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server13")
            .field("counts", &self.counts)
            .finish()
    }
}

/// Whether to go on opening records.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Next {
    More,
    Stop,
}

impl Server13 {
    /// Decryption of a server's records under `cipher`, or `None` without the handshake
    /// traffic secret (or for a suite this build cannot open).
    pub fn new(cipher: u16, secrets: &ConnSecrets) -> Option<Self> {
        let keys = RecordKeys::new(cipher, secrets.server_handshake.as_deref()?)?;
        Some(Server13 {
            keys,
            cipher,
            app_secret: secrets.server_traffic.clone(),
            in_app: false,
            app_records: 0,
            tickets: 0,
            messages: RecordReader::new(),
            counts: DecryptCounts::default(),
        })
    }

    /// Opens one application_data record's `body`; `out` gets each complete handshake message
    /// (type, body) found inside.
    pub fn record(&mut self, body: &[u8], out: &mut impl FnMut(u8, &[u8])) -> Next {
        if self.in_app {
            if self.app_records >= MAX_APP_RECORDS {
                self.counts.cap_hit = true;
                return Next::Stop;
            }
            self.app_records += 1;
        }
        let Some((ty, plain)) = self.keys.open_record(body) else {
            self.counts.failures += 1;
            return Next::Stop;
        };
        self.counts.records += 1;
        match ty {
            22 => {
                let mut finished = false;
                let mut tickets = 0;
                self.messages.push_messages(&plain, &mut |_, unit| {
                    if let Unit::Handshake { msg_type, body } = unit {
                        finished |= msg_type == FINISHED;
                        tickets += u32::from(msg_type == NEW_SESSION_TICKET);
                        out(msg_type, body);
                    }
                });
                self.tickets += tickets;
                if finished && !self.in_app {
                    return self.switch_to_app();
                }
                if self.messages.stopped().is_some() {
                    return Next::Stop;
                }
                Next::More
            }
            // Application data: the tickets (if any) come before the answer.
            23 if !self.in_app || self.tickets > 0 => Next::Stop,
            23 => Next::More,
            _ => Next::Stop,
        }
    }

    fn switch_to_app(&mut self) -> Next {
        self.in_app = true;
        let keys = self
            .app_secret
            .take()
            .and_then(|s| RecordKeys::new(self.cipher, &s));
        match keys {
            Some(k) => {
                self.keys = k;
                self.messages = RecordReader::new();
                Next::More
            }
            None => Next::Stop,
        }
    }

    /// Bytes held in a partial decrypted message.
    pub fn buffered(&self) -> usize {
        self.messages.buffered()
    }
}
