//! What is known about one ticket key (one key name) of one service. Every field is a min, max
//! or sum of sightings, so `merge` is commutative and associative.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use crate::evidence::Evidence;
use crate::tls::ticket::MIN_STATELESS_LEN;
use crate::tls::weak::WeakFormat;

/// Hosts (server addresses) tracked per key; further ones are counted in `KeyStats::dropped_hosts`.
pub const MAX_HOSTS_PER_KEY: usize = 16;

/// First and last sighting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Span {
    pub first: Evidence,
    pub last: Evidence,
}

impl Span {
    pub fn add(span: &mut Option<Span>, at: Evidence) {
        Self::merge(
            span,
            Some(Span {
                first: at,
                last: at,
            }),
        );
    }

    pub fn merge(span: &mut Option<Span>, other: Option<Span>) {
        *span = match (*span, other) {
            (Some(a), Some(b)) => Some(Span {
                first: a.first.min(b.first),
                last: a.last.max(b.last),
            }),
            (a, b) => a.or(b),
        };
    }

    pub fn seconds(&self) -> i64 {
        self.last.time.seconds_since(self.first.time)
    }
}

/// A resumption accepted with a ticket whose issuance was seen.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct StaleMatch {
    pub age_secs: i64,
    pub accepted: Evidence,
    pub issued: Evidence,
}

/// What one server address did with one key: when it issued tickets under it, when it
/// accepted them, and when it refused them (a full handshake after the client presented one).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HostUse {
    pub issued: Option<Span>,
    pub accepted: Option<Span>,
    pub rejected: Option<Span>,
    pub rejections: u64,
}

impl HostUse {
    pub fn merge(&mut self, o: &HostUse) {
        Span::merge(&mut self.issued, o.issued);
        Span::merge(&mut self.accepted, o.accepted);
        Span::merge(&mut self.rejected, o.rejected);
        self.rejections = self.rejections.saturating_add(o.rejections);
    }
}

/// A count with its earliest sighting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Counted {
    pub count: u64,
    pub first: Evidence,
}

impl Counted {
    fn add(c: &mut Option<Counted>, at: Evidence) {
        Self::merge(
            c,
            Some(Counted {
                count: 1,
                first: at,
            }),
        );
    }
    fn merge(c: &mut Option<Counted>, other: Option<Counted>) {
        *c = match (*c, other) {
            (Some(a), Some(b)) => Some(Counted {
                count: a.count.saturating_add(b.count),
                first: a.first.min(b.first),
            }),
            (a, b) => a.or(b),
        };
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeyStats {
    /// The server issued TLS 1.2 tickets under this key.
    pub issued: Option<Span>,
    /// The server resumed sessions from tickets under this key.
    pub accepted: Option<Span>,
    /// Clients presented tickets under this key that the server rejected, or whose outcome is
    /// unknown.
    pub offered: Option<Span>,
    pub tickets_issued: u64,
    pub resumptions_offered: u64,
    pub resumptions_accepted: u64,
    pub hint_min: Option<u32>,
    /// Largest lifetime hint and where it was sent.
    pub hint_max: Option<(u32, Evidence)>,
    /// The oldest ticket (by its own issuance) the server accepted; filled in by the service
    /// view from the service's ticket lives.
    pub stale_matched: Option<StaleMatch>,
    pub psk_without_fs: Option<Counted>,
    pub early_data: Option<Counted>,
    /// The first ticket under this key found weak (`tls::weak`), and how.
    pub weak: Option<(Evidence, WeakFormat)>,
    /// Two different tickets under this key with the same IV: the earlier and the later
    /// issuance. Filled in by the service view from the service's ticket lives.
    pub iv_reuse: Option<(Evidence, Evidence)>,
    /// Presentations answered with a full handshake (a subset of those not accepted; the rest
    /// had no visible answer).
    pub rejected: u64,
    /// Per server address: issuance, acceptance and rejection under this key (the lowest
    /// `MAX_HOSTS_PER_KEY` addresses).
    pub hosts: BTreeMap<SocketAddr, HostUse>,
    /// Host entries refused by `MAX_HOSTS_PER_KEY`.
    pub dropped_hosts: u64,
    /// Longest ticket or identity seen under this key (0: not recorded, older state files).
    pub max_len: u32,
}

impl KeyStats {
    /// A TLS 1.2 ticket issued under this key. A lifetime hint of 0 means "unspecified"
    /// (RFC 5077 §3.3; OpenSSL sends it on renewed tickets) and is not a lifetime.
    pub fn issue(&mut self, host: SocketAddr, at: Evidence, hint: u32) {
        Span::add(&mut self.issued, at);
        self.tickets_issued = self.tickets_issued.saturating_add(1);
        if let Some(h) = self.host(host) {
            Span::add(&mut h.issued, at);
        }
        if hint == 0 {
            return;
        }
        self.hint_min = Some(self.hint_min.map_or(hint, |m| m.min(hint)));
        if self.hint_max.is_none_or(|(h, e)| (hint, at) > (h, e)) {
            self.hint_max = Some((hint, at));
        }
    }

    /// A client presented a ticket under this key to `host`: accepted, rejected (answered with
    /// a full handshake) or neither (no visible answer).
    pub fn offer(&mut self, host: SocketAddr, offered_at: Evidence, answer: Answer, at: Evidence) {
        self.resumptions_offered = self.resumptions_offered.saturating_add(1);
        match answer {
            Answer::Accepted => {
                self.resumptions_accepted = self.resumptions_accepted.saturating_add(1);
                Span::add(&mut self.accepted, at);
                if let Some(h) = self.host(host) {
                    Span::add(&mut h.accepted, at);
                }
            }
            Answer::Rejected => {
                Span::add(&mut self.offered, offered_at);
                self.rejected = self.rejected.saturating_add(1);
                if let Some(h) = self.host(host) {
                    Span::add(&mut h.rejected, at);
                    h.rejections = h.rejections.saturating_add(1);
                }
            }
            Answer::Unknown => Span::add(&mut self.offered, offered_at),
        }
    }

    /// The entry of `host`, created while under `MAX_HOSTS_PER_KEY`.
    fn host(&mut self, host: SocketAddr) -> Option<&mut HostUse> {
        if !self.hosts.contains_key(&host) && self.hosts.len() >= MAX_HOSTS_PER_KEY {
            self.dropped_hosts = self.dropped_hosts.saturating_add(1);
            return None;
        }
        Some(self.hosts.entry(host).or_default())
    }

    /// Adds one host's record (a merge, or a loaded state), within `MAX_HOSTS_PER_KEY`.
    pub fn merge_host(&mut self, host: SocketAddr, u: &HostUse) {
        if let Some(h) = self.host(host) {
            h.merge(u);
        }
    }

    /// A ticket under this key was found weak.
    pub fn weak(&mut self, at: Evidence, format: WeakFormat) {
        self.weak = min_some(self.weak, Some((at, format)));
    }

    pub fn psk_without_fs(&mut self, at: Evidence) {
        Counted::add(&mut self.psk_without_fs, at);
    }

    pub fn early_data(&mut self, at: Evidence) {
        Counted::add(&mut self.early_data, at);
    }

    pub fn merge(&mut self, o: &KeyStats) {
        Span::merge(&mut self.issued, o.issued);
        Span::merge(&mut self.accepted, o.accepted);
        Span::merge(&mut self.offered, o.offered);
        self.tickets_issued = self.tickets_issued.saturating_add(o.tickets_issued);
        self.resumptions_offered = self
            .resumptions_offered
            .saturating_add(o.resumptions_offered);
        self.resumptions_accepted = self
            .resumptions_accepted
            .saturating_add(o.resumptions_accepted);
        self.hint_min = match (self.hint_min, o.hint_min) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.hint_max = self.hint_max.max(o.hint_max);
        self.stale_matched = self.stale_matched.max(o.stale_matched);
        Counted::merge(&mut self.psk_without_fs, o.psk_without_fs);
        Counted::merge(&mut self.early_data, o.early_data);
        self.weak = min_some(self.weak, o.weak);
        self.iv_reuse = min_some(self.iv_reuse, o.iv_reuse);
        self.rejected = self.rejected.saturating_add(o.rejected);
        for (addr, u) in &o.hosts {
            self.merge_host(*addr, u);
        }
        self.dropped_hosts = self.dropped_hosts.saturating_add(o.dropped_hosts);
        self.max_len = self.max_len.max(o.max_len);
    }

    /// Whether what clients presented under this key can be a stateless ticket at all: too
    /// short for a key name, an IV, session state and a MAC, it is a stateful identity (a
    /// session ID kept by the server), and its first bytes are no key name.
    pub fn may_be_stateless(&self) -> bool {
        self.max_len == 0 || self.max_len as usize >= MIN_STATELESS_LEN
    }

    /// Sessions whose secrets this key protected, as far as the wire shows: tickets issued
    /// under it and resumptions it accepted (TLS 1.3 tickets are issued encrypted, so their
    /// full handshakes are not counted: a lower bound).
    pub fn exposed_sessions(&self) -> u64 {
        self.tickets_issued
            .saturating_add(self.resumptions_accepted)
    }

    /// Every sighting, whatever its source.
    pub fn seen(&self) -> Option<Span> {
        let mut s = self.issued;
        Span::merge(&mut s, self.accepted);
        Span::merge(&mut s, self.offered);
        s
    }

    /// Sightings the server made: issuance and acceptance, not what clients merely offered.
    pub fn server_seen(&self) -> Option<Span> {
        let mut s = self.issued;
        Span::merge(&mut s, self.accepted);
        s
    }

    /// The span over which the server demonstrably held this key: issuance when visible,
    /// else acceptance (TLS 1.3, where tickets are issued encrypted).
    pub fn held(&self) -> Option<(Span, &'static str)> {
        match (self.issued, self.accepted) {
            (Some(s), _) => Some((s, "issued")),
            (None, Some(s)) => Some((s, "accepted")),
            _ => None,
        }
    }

    /// The oldest accepted ticket, measured from that ticket's own issuance. An acceptance
    /// whose issuance was not seen proves no age (TLS 1.3 tickets are issued encrypted, often
    /// seconds before), so it does not count.
    pub fn stalest(&self) -> Option<StaleMatch> {
        self.stale_matched
    }
}

/// The server's answer to a presented ticket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Answer {
    Accepted,
    /// A full handshake: the server could not or would not use the ticket.
    Rejected,
    /// No answer was seen (one-sided capture, connection cut).
    Unknown,
}

/// The smaller of two options, `None` being no value (not the least).
pub(super) fn min_some<T: Ord>(a: Option<T>, b: Option<T>) -> Option<T> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}
