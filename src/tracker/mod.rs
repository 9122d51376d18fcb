//! Per-service history of resumption: which ticket keys (by key name) a service used, when and
//! how (issued, accepted, merely offered), and its session-ID cache behaviour.
//!
//! Keys are aggregated under the first 16 bytes of the ticket (`MAX_KEY_NAME_LEN`); the real
//! key-name length is inferred per service at report time and shorter names are formed by
//! merging aggregates. Every aggregate is a min, max or sum, so merging is order-free.
//!
//! Caps: addresses, keys, ticket samples, issued-ticket hashes and session hashes per service
//! are bounded; what a cap refuses is counted in `Service::dropped`. Across services, their
//! approximate memory (`Service::cost`) is bounded by `Tracker::max_bytes`: past it no new
//! service is created (`Tracker::dropped_services`) and existing ones take no new entries.

pub mod history;
pub mod keys;
pub mod lives;
pub mod record;
pub mod view;

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;

use hashbrown::HashMap;

pub use history::History;
pub use keys::{Answer, HostUse, KeyStats, Span, StaleMatch};
pub use lives::{Sample, SessionLife, TicketLife};

use keys::min_some;
pub use record::{ConnRecord, TicketMark};

use crate::chunk::{Protocol, Transport};
use crate::decode::Tunnel;
use crate::evidence::Evidence;
use crate::tls::conn::{ConnSummary, Outcome};

pub const MAX_ADDRESSES: usize = 64;
pub const MAX_KEYS_PER_SERVICE: usize = 4096;
pub const MAX_SAMPLES: usize = 64;
pub const MAX_HASHES: usize = 65_536;
pub const MAX_SERVICES: usize = 100_000;
/// Default approximate memory all services may hold together (see `Service::cost`).
pub const MAX_TRACKER_BYTES: usize = 32 << 20;
/// Approximate memory of a service without entries, of one key aggregate, and of one address,
/// sample, ticket or session entry (measured with the many-services capture of
/// examples/attacks.rs, report included).
const SERVICE_COST: usize = 4096;
const KEY_COST: usize = 640;
const ENTRY_COST: usize = 64;

/// Handshakes by outcome. Also the state file's and the report's record of them
/// (serialized with these names).
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Handshakes {
    pub full: u64,
    pub resumed_ticket: u64,
    pub resumed_session_id: u64,
    pub resumed_psk: u64,
    /// The server's answer was not seen.
    pub unknown: u64,
    /// Connections whose client sent early data (QUIC 0-RTT packets seen); absent while 0.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub zero_rtt_sent: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl Handshakes {
    fn merge(&mut self, o: &Handshakes) {
        self.full = self.full.saturating_add(o.full);
        self.resumed_ticket = self.resumed_ticket.saturating_add(o.resumed_ticket);
        self.resumed_session_id = self.resumed_session_id.saturating_add(o.resumed_session_id);
        self.resumed_psk = self.resumed_psk.saturating_add(o.resumed_psk);
        self.unknown = self.unknown.saturating_add(o.unknown);
        self.zero_rtt_sent = self.zero_rtt_sent.saturating_add(o.zero_rtt_sent);
    }
}

/// Merges `value` into `map[key]`, or inserts it while the map is under `cap` (else counts it).
fn upsert<K: std::hash::Hash + Eq, V>(
    map: &mut HashMap<K, V>,
    key: K,
    value: V,
    cap: usize,
    dropped: &mut u64,
    merge: impl Fn(&mut V, &V),
) {
    let len = map.len();
    match map.get_mut(&key) {
        Some(mine) => merge(mine, &value),
        None if len < cap => {
            map.insert(key, value);
        }
        None => *dropped = dropped.saturating_add(1),
    }
}

#[derive(Clone, Debug, Default)]
pub struct Service {
    pub sni: Option<String>,
    /// The tunnel (VNI, GRE key, ERSPAN session) the service was seen through: the same
    /// names or addresses in two tunnels are two services.
    pub tunnel: Option<Tunnel>,
    /// TCP or QUIC: one name over both transports is two services (`a.example quic`).
    pub transport: Transport,
    /// The cleartext protocol its TLS started after (`mail.example smtp 25`); `None` for
    /// TLS from the first byte.
    pub protocol: Option<Protocol>,
    /// The lowest `MAX_ADDRESSES` server addresses.
    pub addresses: BTreeSet<SocketAddr>,
    pub versions: BTreeSet<u16>,
    pub handshakes: Handshakes,
    pub span: Option<Span>,
    /// Aggregates keyed by the ticket's first `MAX_KEY_NAME_LEN` bytes.
    pub keys: HashMap<Vec<u8>, KeyStats>,
    /// Ticket prefixes for key-name inference, keyed by ticket hash: the `MAX_SAMPLES` distinct
    /// tickets with the lowest hashes, a sample that does not depend on arrival order.
    pub samples: BTreeMap<u64, Sample>,
    pub tickets: HashMap<u64, TicketLife>,
    pub sessions: HashMap<u64, SessionLife>,
    pub sessions_established: u64,
    pub ticketbleed: Option<Evidence>,
    /// Entries refused by a per-service cap.
    pub dropped: u64,
    /// Set while the tracker is over its memory cap: no new entries.
    pub(crate) full: bool,
    /// Per-key host entries (`KeyStats::hosts`) over all keys, for `cost`.
    pub(crate) host_entries: usize,
}

pub struct Tracker {
    pub services: HashMap<String, Service>,
    pub dropped_services: u64,
    /// Cap on the sum of `Service::cost` (approximate bytes).
    pub max_bytes: usize,
    /// The sum of `Service::cost` over all services.
    used: usize,
}

impl Default for Tracker {
    fn default() -> Self {
        Tracker {
            services: HashMap::new(),
            dropped_services: 0,
            max_bytes: MAX_TRACKER_BYTES,
            used: 0,
        }
    }
}

impl Tracker {
    pub fn new() -> Self {
        Self::default()
    }

    /// A tracker whose services may hold about `max_bytes` together.
    pub fn with_max_bytes(max_bytes: usize) -> Self {
        Tracker {
            max_bytes,
            ..Self::default()
        }
    }

    /// Records what one connection showed.
    pub fn observe(&mut self, c: &ConnSummary) {
        self.observe_record(&ConnRecord::of(c));
    }

    /// Records one connection's record: the one way a connection reaches the history, from
    /// packets or from a per-connection log line.
    pub fn observe_record(&mut self, c: &ConnRecord) {
        let name = service_name(c.sni.as_deref(), c.server, c.tunnel, c.transport)
            + &protocol_suffix(c.sni.is_some(), c.server, c.protocol);
        self.update(name, |svc| {
            svc.sni = c.sni.clone();
            svc.tunnel = c.tunnel;
            svc.transport = c.transport;
            svc.protocol = c.protocol;
            svc.observe(c);
        });
    }

    /// The name of the service a connection belongs to: its SNI, else its server address, the
    /// tunnel it came through, if any (`10.0.0.5:443 vxlan 100`), and ` quic` over QUIC.
    pub fn service_name_of(c: &ConnSummary) -> String {
        let sni = c.offer.as_ref().and_then(|(ch, _)| ch.sni.as_deref());
        service_name(sni, c.server, c.tunnel, c.transport)
            + &protocol_suffix(sni.is_some(), c.server, c.protocol)
    }

    /// Adds another tracker's history (another worker, file or sensor). Order-free:
    /// `a.merge(b)` and `b.merge(a)` describe the same history (while under the caps).
    pub fn merge(&mut self, other: Tracker) {
        self.dropped_services = self.dropped_services.saturating_add(other.dropped_services);
        for (name, svc) in other.services {
            self.update(name, |mine| mine.merge(svc));
        }
    }

    /// Approximate memory of all services: at most `max_bytes` plus one service's growth.
    pub fn approx_bytes(&self) -> usize {
        self.used
    }

    /// Runs `f` on the service `name` (created if the caps allow) and accounts its growth.
    fn update(&mut self, name: String, f: impl FnOnce(&mut Service)) {
        let full = self.used >= self.max_bytes;
        let new = !self.services.contains_key(&name);
        if new && (full || self.services.len() >= MAX_SERVICES) {
            self.dropped_services = self.dropped_services.saturating_add(1);
            return;
        }
        let svc = self.services.entry(name).or_default();
        let before = if new { 0 } else { svc.cost() };
        svc.full = full;
        f(svc);
        self.used = self.used - before + svc.cost();
    }
}

fn service_name(
    sni: Option<&str>,
    server: SocketAddr,
    tunnel: Option<Tunnel>,
    transport: Transport,
) -> String {
    let mut name = sni.map_or_else(|| server.to_string(), str::to_string);
    if let Some(t) = tunnel {
        name = format!("{name} {t}");
    }
    if !transport.is_tcp() {
        name.push(' ');
        name.push_str(transport.label());
    }
    name
}

/// What a service's name ends with when its TLS started after a cleartext protocol: the
/// protocol, and the port when the name is a server name (`mail.example smtp 587`; an
/// address already shows it: `192.0.2.1:25 smtp`).
fn protocol_suffix(has_sni: bool, server: SocketAddr, protocol: Option<Protocol>) -> String {
    match protocol {
        None => String::new(),
        Some(p) if has_sni => format!(" {} {}", p.label(), server.port()),
        Some(p) => format!(" {}", p.label()),
    }
}

impl Service {
    /// Approximate memory of this service and its entries.
    fn cost(&self) -> usize {
        SERVICE_COST
            + self.sni.as_ref().map_or(0, String::len)
            + self.keys.len() * KEY_COST
            + self.host_entries * ENTRY_COST
            + (self.addresses.len() + self.samples.len() + self.tickets.len() + self.sessions.len())
                * ENTRY_COST
    }

    /// The cap for a map of entries: none may be added while the tracker is full.
    fn cap(&self, cap: usize) -> usize {
        if self.full {
            0
        } else {
            cap
        }
    }

    fn observe(&mut self, c: &ConnRecord) {
        let hosts_before = self.touched_hosts(c);
        self.record(c);
        self.host_entries = self.host_entries - hosts_before + self.touched_hosts(c);
    }

    /// Host entries of the keys a connection touches (issued, presented), for `cost`.
    fn touched_hosts(&self, c: &ConnRecord) -> usize {
        let mut names: Vec<&[u8]> = c.issued.iter().map(|t| t.ticket.name()).collect();
        names.extend(c.ticket_offered.iter().map(|t| t.name()));
        names.extend(c.psk_identities.iter().map(|t| t.name()));
        names.sort_unstable();
        names.dedup();
        names
            .into_iter()
            .filter_map(|n| self.keys.get(n))
            .map(|k| k.hosts.len())
            .sum()
    }

    fn record(&mut self, c: &ConnRecord) {
        self.address(c.server);
        for at in [c.offered_at, c.answered_at, c.sslv2_at]
            .into_iter()
            .flatten()
        {
            Span::add(&mut self.span, at);
        }
        if let Some(v) = c.version {
            self.versions.insert(v);
        }
        let outcome = c.outcome;
        let h = &mut self.handshakes;
        match outcome {
            Outcome::Full => h.full = h.full.saturating_add(1),
            Outcome::ResumedTicket => h.resumed_ticket = h.resumed_ticket.saturating_add(1),
            Outcome::ResumedSessionId => {
                h.resumed_session_id = h.resumed_session_id.saturating_add(1)
            }
            Outcome::ResumedPsk { .. } => h.resumed_psk = h.resumed_psk.saturating_add(1),
            Outcome::Unknown => h.unknown = h.unknown.saturating_add(1),
        }
        h.zero_rtt_sent = h.zero_rtt_sent.saturating_add(u64::from(c.zero_rtt_sent));
        for issued in &c.issued {
            Span::add(&mut self.span, issued.at);
            self.sample(&issued.ticket);
            self.ticket_life(&issued.ticket, Some(issued.at), None, issued.check.iv_hash);
            if let Some(k) = self.key(&issued.ticket) {
                k.max_len = k.max_len.max(issued.ticket.len);
                k.issue(c.server, issued.at, issued.lifetime_hint);
                if let Some(format) = issued.check.weak {
                    k.weak(issued.at, format);
                }
            }
        }
        self.offers(c, outcome);
        self.sessions(c, outcome);
        if c.ticketbleed {
            self.ticketbleed = min_some(self.ticketbleed, c.answered_at);
        }
    }

    fn merge(&mut self, o: Service) {
        self.sni = self.sni.take().or(o.sni);
        self.tunnel = self.tunnel.or(o.tunnel);
        self.transport = self.transport.max(o.transport);
        self.protocol = self.protocol.or(o.protocol);
        for a in o.addresses {
            self.address(a);
        }
        self.versions.extend(o.versions);
        self.handshakes.merge(&o.handshakes);
        Span::merge(&mut self.span, o.span);
        let (key_cap, hash_cap) = (self.cap(MAX_KEYS_PER_SERVICE), self.cap(MAX_HASHES));
        for (name, stats) in o.keys {
            upsert(
                &mut self.keys,
                name,
                stats,
                key_cap,
                &mut self.dropped,
                |a, b| a.merge(b),
            );
        }
        for (hash, s) in o.samples {
            self.insert_sample(hash, s);
        }
        for (hash, life) in o.tickets {
            upsert(
                &mut self.tickets,
                hash,
                life,
                hash_cap,
                &mut self.dropped,
                |a, b| a.merge(b),
            );
        }
        for (hash, life) in o.sessions {
            upsert(
                &mut self.sessions,
                hash,
                life,
                hash_cap,
                &mut self.dropped,
                |a, b| a.merge(b),
            );
        }
        self.sessions_established = self
            .sessions_established
            .saturating_add(o.sessions_established);
        self.ticketbleed = min_some(self.ticketbleed, o.ticketbleed);
        self.dropped = self.dropped.saturating_add(o.dropped);
        self.host_entries = self.keys.values().map(|k| k.hosts.len()).sum();
    }

    fn address(&mut self, a: SocketAddr) {
        if self.full && !self.addresses.contains(&a) {
            self.dropped = self.dropped.saturating_add(1);
            return;
        }
        self.addresses.insert(a);
        if self.addresses.len() > MAX_ADDRESSES {
            self.addresses.pop_last();
            self.dropped = self.dropped.saturating_add(1);
        }
    }

    /// Tickets and PSK identities the client presented, and whether the server took them.
    fn offers(&mut self, c: &ConnRecord, outcome: Outcome) {
        let Some(offered_at) = &c.offered_at else {
            return;
        };
        let accepted_at = c.answered_at.unwrap_or(*offered_at);
        // A presented ticket is rejected when the server answered with a full handshake.
        let refused = if outcome == Outcome::Full {
            Answer::Rejected
        } else {
            Answer::Unknown
        };
        if let Some(ticket) = c.ticket_offered {
            let answer = if outcome == Outcome::ResumedTicket {
                Answer::Accepted
            } else {
                refused
            };
            self.present(c.server, &ticket, answer, *offered_at, accepted_at);
        }
        for (i, identity) in c.psk_identities.iter().enumerate() {
            let (accepted, fs) = match outcome {
                Outcome::ResumedPsk {
                    identity: sel,
                    key_share,
                } => (sel == i, key_share),
                _ => (false, true),
            };
            let answer = if accepted { Answer::Accepted } else { refused };
            self.present(c.server, identity, answer, *offered_at, accepted_at);
            if accepted && !fs {
                if let Some(k) = self.key(identity) {
                    k.psk_without_fs(accepted_at);
                }
            }
        }
        if c.early_data {
            if let Some(first) = c.psk_identities.first() {
                if let Some(k) = self.key(first) {
                    k.early_data(*offered_at);
                }
            }
        }
    }

    fn present(
        &mut self,
        host: SocketAddr,
        t: &TicketMark,
        answer: Answer,
        offered_at: Evidence,
        answered_at: Evidence,
    ) {
        // Only the server's evidence shapes key-name inference: any client can present
        // whatever ticket it likes.
        if answer == Answer::Accepted {
            self.sample(t);
            self.ticket_life(t, None, Some(answered_at), None);
        }
        if let Some(k) = self.key(t) {
            k.max_len = k.max_len.max(t.len);
            k.offer(host, offered_at, answer, answered_at);
        }
    }

    fn ticket_life(
        &mut self,
        t: &TicketMark,
        issued: Option<Evidence>,
        accepted: Option<Evidence>,
        iv: Option<u64>,
    ) {
        let mut life = TicketLife::new(t.name(), issued, accepted);
        life.iv = iv;
        let cap = self.cap(MAX_HASHES);
        upsert(
            &mut self.tickets,
            t.hash,
            life,
            cap,
            &mut self.dropped,
            |a, b| a.merge(b),
        );
    }

    /// TLS 1.2 session-ID cache: establishment on full handshakes, age on resumption.
    fn sessions(&mut self, c: &ConnRecord, outcome: Outcome) {
        let (Some(at), Some(id)) = (&c.answered_at, c.session_id) else {
            return;
        };
        let life = match outcome {
            Outcome::Full => {
                self.sessions_established = self.sessions_established.saturating_add(1);
                SessionLife {
                    established: Some(*at),
                    resumed: None,
                }
            }
            Outcome::ResumedSessionId => SessionLife {
                established: None,
                resumed: Some(*at),
            },
            _ => return,
        };
        let cap = self.cap(MAX_HASHES);
        upsert(
            &mut self.sessions,
            id,
            life,
            cap,
            &mut self.dropped,
            |a, b| a.merge(b),
        );
    }

    fn sample(&mut self, t: &TicketMark) {
        if t.name().is_empty() {
            return;
        }
        if self.full && self.samples.len() < MAX_SAMPLES {
            return;
        }
        self.insert_sample(t.hash, Sample::from_prefix(t.name()));
    }

    /// Keeps the `MAX_SAMPLES` samples with the lowest hashes.
    fn insert_sample(&mut self, hash: u64, sample: Sample) {
        self.samples.insert(hash, sample);
        if self.samples.len() > MAX_SAMPLES {
            self.samples.pop_last();
        }
    }

    fn key(&mut self, t: &TicketMark) -> Option<&mut KeyStats> {
        let name = t.name();
        if name.is_empty() {
            // Too short to carry a key name: nothing to file it under.
            return None;
        }
        if !self.keys.contains_key(name) && self.keys.len() >= self.cap(MAX_KEYS_PER_SERVICE) {
            self.dropped = self.dropped.saturating_add(1);
            return None;
        }
        Some(self.keys.entry(name.to_vec()).or_default())
    }

    /// The longest session-ID resumption: (age, established, resumed).
    pub fn session_cache_max(&self) -> Option<(i64, Evidence, Evidence)> {
        self.sessions
            .values()
            .filter_map(|s| match (s.established, s.resumed) {
                (Some(e), Some(r)) => Some((r.time.seconds_since(e.time), e, r)),
                _ => None,
            })
            .max()
    }
}

#[cfg(test)]
mod tests;
