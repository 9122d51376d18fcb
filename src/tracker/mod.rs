//! Per-service history of resumption: which ticket keys (by key name) a service used, when and
//! how (issued, accepted, merely offered), and its session-ID cache behaviour.
//!
//! Keys are aggregated under the first 16 bytes of the ticket (`MAX_KEY_NAME_LEN`); the real
//! key-name length is inferred per service at report time and shorter names are formed by
//! merging aggregates. Every aggregate is a min, max or sum, so merging is order-free.
//!
//! Caps: addresses, keys, ticket samples, issued-ticket hashes and session hashes per service
//! are bounded; what a cap refuses is counted in `Service::dropped`.

pub mod keys;
pub mod view;

use std::collections::BTreeSet;
use std::net::SocketAddr;

use hashbrown::HashMap;

pub use keys::{KeyStats, Span, StaleMatch};

use crate::evidence::Evidence;
use crate::tls::conn::{ConnSummary, Outcome};
use crate::tls::ticket::{id_hash, TicketRef, MAX_KEY_NAME_LEN};

pub const MAX_ADDRESSES: usize = 64;
pub const MAX_KEYS_PER_SERVICE: usize = 4096;
pub const MAX_SAMPLES: usize = 64;
pub const MAX_HASHES: usize = 65_536;
pub const MAX_SERVICES: usize = 100_000;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Handshakes {
    pub full: u64,
    pub resumed_ticket: u64,
    pub resumed_session_id: u64,
    pub resumed_psk: u64,
    /// The server's answer was not seen.
    pub unknown: u64,
}

/// Longest session-ID resumption seen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CacheAge {
    pub age_secs: i64,
    pub established: Evidence,
    pub resumed: Evidence,
}

#[derive(Clone, Debug, Default)]
pub struct Service {
    pub sni: Option<String>,
    pub addresses: BTreeSet<SocketAddr>,
    pub versions: BTreeSet<u16>,
    pub handshakes: Handshakes,
    pub span: Option<Span>,
    /// Aggregates keyed by the ticket's first `MAX_KEY_NAME_LEN` bytes.
    pub keys: HashMap<Vec<u8>, KeyStats>,
    /// Distinct ticket prefixes (in memory only) for key-name inference.
    pub samples: Vec<TicketRef>,
    issued: HashMap<u64, Evidence>,
    sessions: HashMap<u64, Evidence>,
    pub sessions_established: u64,
    pub session_cache_max: Option<CacheAge>,
    pub ticketbleed: Option<Evidence>,
    /// Entries refused by a per-service cap.
    pub dropped: u64,
}

#[derive(Default)]
pub struct Tracker {
    pub services: HashMap<String, Service>,
    pub dropped_services: u64,
}

impl Tracker {
    pub fn new() -> Self {
        Self::default()
    }

    /// Records what one connection showed.
    pub fn observe(&mut self, c: &ConnSummary) {
        let sni = c.offer.as_ref().and_then(|(ch, _)| ch.sni.clone());
        let name = sni.clone().unwrap_or_else(|| c.server.to_string());
        if !self.services.contains_key(&name) && self.services.len() >= MAX_SERVICES {
            self.dropped_services += 1;
            return;
        }
        let svc = self.services.entry(name).or_default();
        svc.sni = sni;
        svc.observe(c);
    }
}

impl Service {
    fn observe(&mut self, c: &ConnSummary) {
        if self.addresses.len() < MAX_ADDRESSES || self.addresses.contains(&c.server) {
            self.addresses.insert(c.server);
        } else {
            self.dropped += 1;
        }
        for at in [
            c.offer.as_ref().map(|o| o.1),
            c.answer.as_ref().map(|a| a.1),
            c.sslv2_hello,
        ]
        .into_iter()
        .flatten()
        {
            Span::add(&mut self.span, at);
        }
        if let Some(v) = c.tls_version() {
            self.versions.insert(v);
        }
        let outcome = c.outcome();
        let h = &mut self.handshakes;
        match outcome {
            Outcome::Full => h.full += 1,
            Outcome::ResumedTicket => h.resumed_ticket += 1,
            Outcome::ResumedSessionId => h.resumed_session_id += 1,
            Outcome::ResumedPsk { .. } => h.resumed_psk += 1,
            Outcome::Unknown => h.unknown += 1,
        }
        for issued in &c.tickets {
            Span::add(&mut self.span, issued.at);
            self.sample(&issued.ticket);
            if self.issued.len() < MAX_HASHES {
                self.issued.entry(issued.ticket.hash).or_insert(issued.at);
            } else {
                self.dropped += 1;
            }
            if let Some(k) = self.key(&issued.ticket) {
                k.issue(issued.at, issued.lifetime_hint);
            }
        }
        self.offers(c, outcome);
        self.sessions(c, outcome);
        if c.ticketbleed() {
            self.ticketbleed = c.answer.as_ref().map(|a| a.1);
        }
    }

    /// Tickets and PSK identities the client presented, and whether the server took them.
    fn offers(&mut self, c: &ConnSummary, outcome: Outcome) {
        let Some((ch, offered_at)) = &c.offer else {
            return;
        };
        let accepted_at = c.answer.as_ref().map(|a| a.1).unwrap_or(*offered_at);
        if let Some(Some(ticket)) = ch.ticket {
            let accepted = outcome == Outcome::ResumedTicket;
            self.present(&ticket, accepted, *offered_at, accepted_at);
        }
        for (i, identity) in ch.psk_identities.iter().enumerate() {
            let (accepted, fs) = match outcome {
                Outcome::ResumedPsk {
                    identity: sel,
                    key_share,
                } => (sel == i, key_share),
                _ => (false, true),
            };
            self.present(identity, accepted, *offered_at, accepted_at);
            if accepted && !fs {
                if let Some(k) = self.key(identity) {
                    k.psk_without_fs(accepted_at);
                }
            }
        }
        if ch.early_data {
            if let Some(first) = ch.psk_identities.first() {
                if let Some(k) = self.key(first) {
                    k.early_data(*offered_at);
                }
            }
        }
    }

    fn present(
        &mut self,
        t: &TicketRef,
        accepted: bool,
        offered_at: Evidence,
        accepted_at: Evidence,
    ) {
        self.sample(t);
        let issued = self.issued.get(&t.hash).copied();
        if let Some(k) = self.key(t) {
            k.offer(offered_at, accepted, accepted_at, issued);
        }
    }

    /// TLS 1.2 session-ID cache: establishment on full handshakes, age on resumption.
    fn sessions(&mut self, c: &ConnSummary, outcome: Outcome) {
        let Some((sh, at)) = &c.answer else { return };
        if sh.is_tls13() || sh.session_id.is_empty() {
            return;
        }
        let id = id_hash(&sh.session_id);
        match outcome {
            Outcome::Full => {
                self.sessions_established += 1;
                if self.sessions.len() < MAX_HASHES {
                    self.sessions.insert(id, *at);
                } else {
                    self.dropped += 1;
                }
            }
            Outcome::ResumedSessionId => {
                if let Some(est) = self.sessions.get(&id).copied() {
                    let age = at.time.seconds_since(est.time);
                    if self.session_cache_max.is_none_or(|m| age > m.age_secs) {
                        self.session_cache_max = Some(CacheAge {
                            age_secs: age,
                            established: est,
                            resumed: *at,
                        });
                    }
                }
            }
            _ => {}
        }
    }

    fn sample(&mut self, t: &TicketRef) {
        if self.samples.len() < MAX_SAMPLES && !self.samples.iter().any(|s| s.hash == t.hash) {
            self.samples.push(*t);
        }
    }

    fn key(&mut self, t: &TicketRef) -> Option<&mut KeyStats> {
        let name = t.name(MAX_KEY_NAME_LEN);
        if !self.keys.contains_key(name) && self.keys.len() >= MAX_KEYS_PER_SERVICE {
            self.dropped += 1;
            return None;
        }
        Some(self.keys.entry(name.to_vec()).or_default())
    }
}
