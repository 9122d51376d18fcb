//! The per-connection record: exactly what the tracker takes from one TLS connection, and
//! nothing more. It is made from a `ConnSummary` (a capture or a live interface) or read back
//! from a per-connection log line (`report::log`), and `Tracker::observe_record` is the one
//! way either reaches the history, so a history rebuilt from logs cannot drift from one built
//! from packets.
//!
//! Privacy: a ticket or PSK identity is kept as its first `MAX_KEY_NAME_LEN` bytes (the
//! longest key name; empty for tickets too short to carry one) and its 64-bit hash, a session
//! ID as its 64-bit hash only: what the tracker and state files already keep.

use std::net::SocketAddr;

use crate::decode::Tunnel;
use crate::evidence::Evidence;
use crate::tls::conn::{ConnSummary, Outcome};
use crate::tls::ticket::{id_hash, TicketRef, MAX_KEY_NAME_LEN};
use crate::tls::weak::TicketCheck;

pub use crate::chunk::{Protocol, Transport};

/// A ticket or PSK identity as the tracker knows it: its key-name prefix and its hash.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TicketMark {
    name: [u8; MAX_KEY_NAME_LEN],
    name_len: u8,
    pub hash: u64,
    /// The whole ticket's length in bytes (0: not known, e.g. a log line of an older
    /// version): too short a ticket is a stateful identity, not one with a key name.
    pub len: u32,
}

impl TicketMark {
    pub fn of(t: &TicketRef) -> Self {
        Self::new(t.name(MAX_KEY_NAME_LEN), t.hash).with_len(t.len)
    }

    pub fn with_len(mut self, len: u32) -> Self {
        self.len = len;
        self
    }

    /// From stored bytes; anything past `MAX_KEY_NAME_LEN` is dropped.
    pub fn new(name: &[u8], hash: u64) -> Self {
        let n = name.len().min(MAX_KEY_NAME_LEN);
        let mut mark = TicketMark {
            name_len: n as u8,
            hash,
            ..Default::default()
        };
        mark.name[..n].copy_from_slice(&name[..n]);
        mark
    }

    /// The first `MAX_KEY_NAME_LEN` bytes; empty for a ticket too short to carry a key name.
    pub fn name(&self) -> &[u8] {
        &self.name[..self.name_len as usize]
    }
}

/// A TLS 1.2 NewSessionTicket: when, its lifetime hint, and what the weak-key trial found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IssuedMark {
    pub ticket: TicketMark,
    pub lifetime_hint: u32,
    pub at: Evidence,
    pub check: TicketCheck,
}

/// What one TLS connection showed about resumption, as the tracker consumes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnRecord {
    pub client: SocketAddr,
    pub server: SocketAddr,
    pub transport: Transport,
    pub tunnel: Option<Tunnel>,
    pub sni: Option<String>,
    /// The negotiated version, from the ServerHello.
    pub version: Option<u16>,
    pub outcome: Outcome,
    /// The ClientHello, the ServerHello and an SSLv2 ClientHello, where seen.
    pub offered_at: Option<Evidence>,
    pub answered_at: Option<Evidence>,
    pub sslv2_at: Option<Evidence>,
    /// A TLS 1.2 ticket the client presented.
    pub ticket_offered: Option<TicketMark>,
    /// TLS 1.3 PSK identities the client presented, in order (`Outcome::ResumedPsk` indexes
    /// them).
    pub psk_identities: Vec<TicketMark>,
    pub early_data: bool,
    /// 0-RTT packets were seen (QUIC): the client sent early data.
    pub zero_rtt_sent: bool,
    pub issued: Vec<IssuedMark>,
    /// Hash of a TLS 1.2 ServerHello's non-empty session ID.
    pub session_id: Option<u64>,
    pub ticketbleed: bool,
    /// The cleartext protocol TLS started after (STARTTLS); `None` when TLS came first.
    pub protocol: Option<Protocol>,
}

impl ConnRecord {
    pub fn of(c: &ConnSummary) -> Self {
        let ch = c.offer.as_ref().map(|(ch, _)| ch);
        let sh = c.answer.as_ref().map(|(sh, _)| sh);
        ConnRecord {
            client: c.client,
            server: c.server,
            transport: c.transport,
            zero_rtt_sent: c.zero_rtt_sent.is_some(),
            tunnel: c.tunnel,
            sni: ch.and_then(|ch| ch.sni.clone()),
            version: c.tls_version(),
            outcome: c.outcome(),
            offered_at: c.offer.as_ref().map(|o| o.1),
            answered_at: c.answer.as_ref().map(|a| a.1),
            sslv2_at: c.sslv2_hello,
            ticket_offered: ch
                .and_then(|ch| ch.ticket.flatten())
                .map(|t| TicketMark::of(&t)),
            psk_identities: ch.map_or_else(Vec::new, |ch| {
                ch.psk_identities.iter().map(TicketMark::of).collect()
            }),
            early_data: ch.is_some_and(|ch| ch.early_data),
            issued: c
                .tickets
                .iter()
                .map(|i| IssuedMark {
                    ticket: TicketMark::of(&i.ticket),
                    lifetime_hint: i.lifetime_hint,
                    at: i.at,
                    check: i.check,
                })
                .collect(),
            session_id: sh
                .filter(|sh| !sh.is_tls13() && !sh.session_id.is_empty())
                .map(|sh| id_hash(&sh.session_id)),
            ticketbleed: c.ticketbleed(),
            protocol: c.protocol,
        }
    }

    /// The earliest evidence the record holds (the connection's time in logs).
    pub fn first_seen(&self) -> Option<Evidence> {
        [self.offered_at, self.answered_at, self.sslv2_at]
            .into_iter()
            .chain(self.issued.iter().map(|i| Some(i.at)))
            .flatten()
            .min()
    }

    /// The key name a resumption was offered or accepted under: the selected PSK identity's,
    /// else the first offered one's, else the TLS 1.2 ticket's.
    pub fn resumption_key(&self) -> Option<&TicketMark> {
        if let Outcome::ResumedPsk { identity, .. } = self.outcome {
            if let Some(t) = self.psk_identities.get(identity) {
                return Some(t);
            }
        }
        self.ticket_offered.as_ref().or(self.psk_identities.first())
    }
}
