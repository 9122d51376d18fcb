//! The server's side of a TLS 1.3 connection read with the user's secrets: its encrypted
//! handshake records opened with the handshake traffic secret (so the record sequence numbers
//! stay right), then, after its Finished, its first application-traffic records opened with
//! `SERVER_TRAFFIC_SECRET_0`, far enough to hand on the NewSessionTickets. Decrypted bytes live
//! only while one record is parsed.
//!
//! Invariants: at most `MAX_APP_RECORDS` records are opened under the application secret; the
//! first that fails to open, an alert, or application data after a ticket ends decryption.

use super::record::{RecordReader, Unit};
use crate::secrets::aead::RecordKeys;
use crate::secrets::{ConnSecrets, DecryptCounts};

/// Records opened under the application traffic secret before giving up on tickets.
pub const MAX_APP_RECORDS: u32 = 16;

const FINISHED: u8 = 20;
const NEW_SESSION_TICKET: u8 = 4;

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

/// A TLS 1.3 NewSessionTicket (RFC 8446 §4.6.1): lifetime, age_add, nonce, and the ticket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Nst13<'a> {
    pub lifetime: u32,
    pub age_add: u32,
    pub nonce_len: usize,
    pub ticket: &'a [u8],
}

/// Parses a TLS 1.3 NewSessionTicket body; `None` when it is malformed.
pub fn parse_nst13(body: &[u8]) -> Option<Nst13<'_>> {
    let lifetime = u32::from_be_bytes(body.get(0..4)?.try_into().ok()?);
    let age_add = u32::from_be_bytes(body.get(4..8)?.try_into().ok()?);
    let nonce_len = *body.get(8)? as usize;
    let at = 9 + nonce_len;
    let tlen = u16::from_be_bytes(body.get(at..at + 2)?.try_into().ok()?) as usize;
    let ticket = body.get(at + 2..at + 2 + tlen)?;
    let ext_at = at + 2 + tlen;
    let elen = u16::from_be_bytes(body.get(ext_at..ext_at + 2)?.try_into().ok()?) as usize;
    body.get(ext_at + 2..ext_at + 2 + elen)?;
    if ticket.is_empty() {
        return None;
    }
    Some(Nst13 {
        lifetime,
        age_add,
        nonce_len,
        ticket,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncated_new_session_tickets_are_refused_whole_ones_read() {
        let mut nst = vec![0, 0, 0x1c, 0x20, 1, 2, 3, 4, 2, 0, 1, 0, 3, 9, 8, 7, 0, 0];
        let t = parse_nst13(&nst).unwrap();
        assert_eq!(
            (t.lifetime, t.age_add, t.ticket),
            (7200, 0x01020304, &[9, 8, 7][..])
        );
        nst.pop();
        assert_eq!(parse_nst13(&nst), None);
        for n in 0..nst.len() {
            assert_eq!(parse_nst13(&nst[..n]), None);
        }
    }
}
