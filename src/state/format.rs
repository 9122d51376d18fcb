//! The state file format, version 1: serde types mirroring the tracker, and the conversions
//! both ways. This is a persistence format, not a report (report output types are in
//! `report/json.rs`): it is versioned separately, and readers refuse versions they do not know.
//!
//! ```text
//! {"format": "stekwatch-state", "version": 1, "written_by": "stekwatch 0.1.0",
//!  "files": [...names, sorted...], "start_ns": .., "end_ns": .., "statistics": {..counters..},
//!  "dropped_services": 0,
//!  "services": [{"name": .., "sni": .., "addresses": [..], "versions": [771, 772],
//!                "handshakes": {..}, "span": [EV, EV], "keys": [..], "samples": [[HASH, PREFIX]],
//!                "tickets": [[HASH, NAME, EV|null, EV|null]], "sessions": [[HASH, EV|null, EV|null]],
//!                "sessions_established": 0, "ticketbleed": EV|null, "dropped": 0,
//!                "ticket_ivs": [[HASH, IVHASH]]}],
//!  "announced": [{"rule": .., "service": .., "key_name": .., "severity": .., "services": [..]}],
//!  "reported": [..as announced..]}
//! ```
//!
//! `announced` holds what live runs printed (a restarted sensor does not print it again),
//! `reported` what `read --state` reported (absent when empty); both make an alert not `new`.
//!
//! `EV` (evidence) is `[time_ns, file_index, frame]`, the index into `files`. `HASH` is the
//! 64-bit hash of a whole ticket or session ID as 16 hex digits; `PREFIX` and `NAME` are hex
//! of at most 16 bytes (a key name, see `tracker::Sample`). No whole ticket or session ID is
//! ever written. Every list is sorted, so equal histories give byte-identical files.
//!
//! Weak ticket keys (issue 15): a key record may carry `"weak": [FORMAT, EV]` (the format label
//! of `tls::weak::WeakFormat` and the first weak ticket), and a service `"ticket_ivs"`: per
//! issued ticket hash, the hash of its key name and IV (`IVHASH`, 16 hex digits), from which
//! repeated IVs are found. Both are left out when empty and default when absent, so older
//! files load; no key, plaintext or IV byte is written.
//!
//! Files written before `statistics` existed hold the counters as `"packets": {..}`,
//! `"flows": {..}` and three top-level counters; they are read into the same `Stats`.

use std::collections::BTreeSet;
use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

use crate::chunk::{Protocol, Transport};
use crate::decode::Tunnel;
use crate::evidence::Evidence;
use crate::rules::Severity;
use crate::stats::Stats;
use crate::time::Timestamp;
use crate::tls::ticket::{hex, MAX_KEY_NAME_LEN};
use crate::tls::weak::WeakFormat;
use crate::tracker::keys::{Counted, StaleMatch};
use crate::tracker::{
    Handshakes, HostUse, KeyStats, Sample, Service, SessionLife, Span, TicketLife, Tracker,
};

pub const FORMAT: &str = "stekwatch-state";
pub const VERSION: u32 = 1;

/// Read first, alone, so that a newer or foreign file is refused before its body is parsed.
#[derive(Deserialize)]
pub struct Header {
    pub format: Option<String>,
    pub version: Option<u32>,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct StateFile {
    pub format: String,
    pub version: u32,
    pub written_by: String,
    pub files: Vec<String>,
    pub start_ns: Option<i64>,
    pub end_ns: Option<i64>,
    /// The run's counters; `None` in files written before it existed (see `legacy`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub statistics: Option<Stats>,
    #[serde(flatten)]
    pub legacy: LegacyCounters,
    pub dropped_services: u64,
    pub services: Vec<ServiceRec>,
    /// Alerts a live run printed.
    pub announced: Vec<AnnouncedRec>,
    /// Alerts a report of the history showed (`read --state`): they are not new any more.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reported: Vec<AnnouncedRec>,
}

/// The counters of files written before `statistics`: never written now, read when present.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq, Default)]
#[serde(default)]
pub struct LegacyCounters {
    #[serde(skip_serializing_if = "Option::is_none")]
    packets: Option<LegacyPackets>,
    #[serde(skip_serializing_if = "Option::is_none")]
    flows: Option<LegacyFlows>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ip_datagrams_reassembled: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ip_fragments_dropped: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    skipped_capture_blocks: Option<u64>,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq, Default)]
#[serde(default)]
struct LegacyPackets {
    packets: u64,
    bytes: u64,
    tcp_segments: u64,
    not_tcp: u64,
    ip_fragments: u64,
    malformed: u64,
    unsupported_link_type: u64,
    truncated_packets: u64,
    handshake_messages: u64,
    parse_failures: u64,
    handshake_messages_cap: u64,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq, Default)]
#[serde(default)]
struct LegacyFlows {
    connections: u64,
    tls_connections: u64,
    not_tls: u64,
    expired: u64,
    dropped_flows_cap: u64,
    discarded_bytes: u64,
    abandoned_handshakes_cap: u64,
    gaps: u64,
    resyncs: u64,
    retransmitted_bytes: u64,
}

impl StateFile {
    /// The counters, from `statistics` or, in an older file, from its legacy fields.
    pub fn stats(&self) -> Stats {
        if let Some(s) = &self.statistics {
            return s.clone();
        }
        let l = &self.legacy;
        let p = l.packets.clone().unwrap_or_default();
        let f = l.flows.clone().unwrap_or_default();
        Stats {
            packets: p.packets,
            bytes: p.bytes,
            tcp_segments: p.tcp_segments,
            skipped_not_tcp: p.not_tcp,
            skipped_ip_fragments: p.ip_fragments,
            ip_datagrams_reassembled: l.ip_datagrams_reassembled.unwrap_or(0),
            ip_fragments_dropped: l.ip_fragments_dropped.unwrap_or(0),
            skipped_malformed: p.malformed,
            skipped_unsupported_link_type: p.unsupported_link_type,
            truncated_packets: p.truncated_packets,
            connections: f.connections,
            tls_connections: f.tls_connections,
            not_tls_connections: f.not_tls,
            handshake_messages: p.handshake_messages,
            parse_failures: p.parse_failures,
            gaps: f.gaps,
            resyncs: f.resyncs,
            retransmitted_bytes: f.retransmitted_bytes,
            expired_flows: f.expired,
            dropped_flows_cap: f.dropped_flows_cap,
            discarded_bytes_cap: f.discarded_bytes,
            abandoned_handshakes_cap: f.abandoned_handshakes_cap,
            handshake_messages_cap: p.handshake_messages_cap,
            dropped_by_service_caps: 0,
            dropped_services_cap: 0,
            skipped_capture_blocks: l.skipped_capture_blocks.unwrap_or(0),
            ..Stats::default()
        }
    }
}

type Ev = (i64, u32, u64);
type SpanRec = (Ev, Ev);

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct ServiceRec {
    pub name: String,
    pub sni: Option<String>,
    /// Absent for services outside tunnels (state files of plain traffic are unchanged).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tunnel: Option<Tunnel>,
    /// `"quic"` for QUIC services; absent for TCP ones (older files read as TCP).
    #[serde(default, skip_serializing_if = "Transport::is_tcp")]
    pub transport: Transport,
    /// The cleartext protocol TLS started after (STARTTLS); absent for TLS from the first
    /// byte (older files read as such).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<Protocol>,
    pub addresses: Vec<String>,
    pub versions: Vec<u16>,
    pub handshakes: Handshakes,
    pub span: Option<SpanRec>,
    pub keys: Vec<KeyRec>,
    pub samples: Vec<(String, String)>,
    pub tickets: Vec<(String, String, Option<Ev>, Option<Ev>)>,
    pub sessions: Vec<(String, Option<Ev>, Option<Ev>)>,
    pub sessions_established: u64,
    pub ticketbleed: Option<Ev>,
    pub dropped: u64,
    /// `(ticket hash, key-name-and-IV hash)` of issued tickets.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ticket_ivs: Vec<(String, String)>,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct KeyRec {
    pub name: String,
    pub issued: Option<SpanRec>,
    pub accepted: Option<SpanRec>,
    pub offered: Option<SpanRec>,
    pub tickets_issued: u64,
    pub resumptions_offered: u64,
    pub resumptions_accepted: u64,
    pub hint_min: Option<u32>,
    pub hint_max: Option<(u32, Ev)>,
    /// `(age_secs, accepted, issued)`.
    pub stale_matched: Option<(i64, Ev, Ev)>,
    pub psk_without_fs: Option<(u64, Ev)>,
    pub early_data: Option<(u64, Ev)>,
    /// `(format label, first weak ticket)`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weak: Option<(String, Ev)>,
    /// Presentations answered with a full handshake.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub rejected: u64,
    /// Per server address: `[ADDRESS, ISSUED|null, ACCEPTED|null, REJECTED|null, REJECTIONS]`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hosts: Vec<HostRec>,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub dropped_hosts: u64,
    /// Longest ticket under the key (0: not recorded).
    #[serde(default, skip_serializing_if = "is_zero_u32")]
    pub max_len: u32,
}

fn is_zero_u32(n: &u32) -> bool {
    *n == 0
}

/// One server address's use of one key.
pub type HostRec = (
    String,
    Option<SpanRec>,
    Option<SpanRec>,
    Option<SpanRec>,
    u64,
);

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// An alert a live run printed, so the next run does not print it again.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct AnnouncedRec {
    pub rule: String,
    pub service: Option<String>,
    pub key_name: Option<String>,
    pub severity: Severity,
    pub services: Vec<String>,
}

/// A state file that parsed as JSON but does not hold what version 1 says.
#[derive(Debug)]
pub struct Invalid(pub String);

fn ev_out(e: Evidence, file: &dyn Fn(u32) -> u32) -> Ev {
    (e.time.0, file(e.file), e.frame)
}

fn span_out(s: Option<Span>, file: &dyn Fn(u32) -> u32) -> Option<SpanRec> {
    s.map(|s| (ev_out(s.first, file), ev_out(s.last, file)))
}

/// The tracker as records; `file` maps the tracker's file indices to the file's.
pub fn services_out(t: &Tracker, file: &dyn Fn(u32) -> u32) -> Vec<ServiceRec> {
    let mut names: Vec<&String> = t.services.keys().collect();
    names.sort();
    names
        .into_iter()
        .map(|name| service_out(name, &t.services[name], file))
        .collect()
}

fn service_out(name: &str, s: &Service, file: &dyn Fn(u32) -> u32) -> ServiceRec {
    let ev = |e: Evidence| ev_out(e, file);
    let mut keys: Vec<KeyRec> = s
        .keys
        .iter()
        .map(|(name, k)| KeyRec {
            name: hex(name),
            issued: span_out(k.issued, file),
            accepted: span_out(k.accepted, file),
            offered: span_out(k.offered, file),
            tickets_issued: k.tickets_issued,
            resumptions_offered: k.resumptions_offered,
            resumptions_accepted: k.resumptions_accepted,
            hint_min: k.hint_min,
            hint_max: k.hint_max.map(|(h, e)| (h, ev(e))),
            stale_matched: k
                .stale_matched
                .map(|m| (m.age_secs, ev(m.accepted), ev(m.issued))),
            psk_without_fs: k.psk_without_fs.map(|c| (c.count, ev(c.first))),
            early_data: k.early_data.map(|c| (c.count, ev(c.first))),
            weak: k.weak.map(|(e, f)| (f.label().to_string(), ev(e))),
            rejected: k.rejected,
            hosts: k
                .hosts
                .iter()
                .map(|(a, u)| {
                    (
                        a.to_string(),
                        span_out(u.issued, file),
                        span_out(u.accepted, file),
                        span_out(u.rejected, file),
                        u.rejections,
                    )
                })
                .collect(),
            dropped_hosts: k.dropped_hosts,
            max_len: k.max_len,
        })
        .collect();
    keys.sort_by(|a, b| a.name.cmp(&b.name));
    let mut tickets: Vec<_> = s
        .tickets
        .iter()
        .map(|(h, l)| {
            (
                hash_hex(*h),
                hex(l.name()),
                l.issued.map(ev),
                l.accepted.map(ev),
            )
        })
        .collect();
    tickets.sort();
    let mut ticket_ivs: Vec<_> = s
        .tickets
        .iter()
        .filter_map(|(h, l)| Some((hash_hex(*h), hash_hex(l.iv?))))
        .collect();
    ticket_ivs.sort();
    let mut sessions: Vec<_> = s
        .sessions
        .iter()
        .map(|(h, l)| (hash_hex(*h), l.established.map(ev), l.resumed.map(ev)))
        .collect();
    sessions.sort();
    ServiceRec {
        name: name.to_string(),
        sni: s.sni.clone(),
        tunnel: s.tunnel,
        transport: s.transport,
        protocol: s.protocol,
        addresses: s.addresses.iter().map(|a| a.to_string()).collect(),
        versions: s.versions.iter().copied().collect(),
        handshakes: s.handshakes.clone(),
        span: span_out(s.span, file),
        keys,
        samples: s
            .samples
            .iter()
            .map(|(h, p)| (hash_hex(*h), hex(p.prefix())))
            .collect(),
        tickets,
        sessions,
        sessions_established: s.sessions_established,
        ticketbleed: s.ticketbleed.map(ev),
        dropped: s.dropped,
        ticket_ivs,
    }
}

/// Records back into a tracker; `file` maps the file's indices to the tracker's (and refuses
/// indices past the file's list). Per-service caps apply as when observing.
pub fn services_in(
    recs: Vec<ServiceRec>,
    dropped_services: u64,
    file: &dyn Fn(u32) -> Option<u32>,
) -> Result<Tracker, Invalid> {
    let mut t = Tracker::new();
    t.dropped_services = dropped_services;
    let mut seen = BTreeSet::new();
    for rec in recs {
        if !seen.insert(rec.name.clone()) {
            return Err(Invalid(format!("service {} is listed twice", rec.name)));
        }
        let name = rec.name.clone();
        let svc = service_in(rec, file).map_err(|Invalid(e)| Invalid(format!("{name}: {e}")))?;
        let mut one = Tracker::new();
        one.services.insert(name, svc);
        t.merge(one);
    }
    Ok(t)
}

fn service_in(r: ServiceRec, file: &dyn Fn(u32) -> Option<u32>) -> Result<Service, Invalid> {
    let ev = |e: Ev| ev_in(e, file);
    let span = |s: Option<SpanRec>| -> Result<Option<Span>, Invalid> {
        s.map(|(a, b)| {
            Ok(Span {
                first: ev(a)?,
                last: ev(b)?,
            })
        })
        .transpose()
    };
    let mut s = Service {
        sni: r.sni,
        tunnel: r.tunnel,
        transport: r.transport,
        protocol: r.protocol,
        versions: r.versions.into_iter().collect(),
        handshakes: r.handshakes,
        span: span(r.span)?,
        sessions_established: r.sessions_established,
        ticketbleed: r.ticketbleed.map(ev).transpose()?,
        dropped: r.dropped,
        ..Service::default()
    };
    for a in r.addresses {
        let addr: SocketAddr = a
            .parse()
            .map_err(|_| Invalid(format!("bad address {a:?}")))?;
        s.addresses.insert(addr);
    }
    for k in r.keys {
        let name = key_name(&k.name)?;
        let mut stats = KeyStats {
            issued: span(k.issued)?,
            accepted: span(k.accepted)?,
            offered: span(k.offered)?,
            tickets_issued: k.tickets_issued,
            resumptions_offered: k.resumptions_offered,
            resumptions_accepted: k.resumptions_accepted,
            hint_min: k.hint_min,
            hint_max: k.hint_max.map(|(h, e)| Ok((h, ev(e)?))).transpose()?,
            stale_matched: k
                .stale_matched
                .map(|(age_secs, a, i)| {
                    Ok(StaleMatch {
                        age_secs,
                        accepted: ev(a)?,
                        issued: ev(i)?,
                    })
                })
                .transpose()?,
            psk_without_fs: counted(k.psk_without_fs, &ev)?,
            early_data: counted(k.early_data, &ev)?,
            weak: k
                .weak
                .map(|(f, e)| {
                    let format = WeakFormat::from_label(&f)
                        .ok_or_else(|| Invalid(format!("unknown weak-ticket format {f:?}")))?;
                    Ok((ev(e)?, format))
                })
                .transpose()?,
            iv_reuse: None,
            rejected: k.rejected,
            dropped_hosts: k.dropped_hosts,
            max_len: k.max_len,
            ..KeyStats::default()
        };
        for (a, issued, accepted, rejected, rejections) in k.hosts {
            let addr: SocketAddr = a
                .parse()
                .map_err(|_| Invalid(format!("bad address {a:?}")))?;
            let u = HostUse {
                issued: span(issued)?,
                accepted: span(accepted)?,
                rejected: span(rejected)?,
                rejections,
            };
            stats.merge_host(addr, &u);
        }
        if s.keys.insert(name, stats).is_some() {
            return Err(Invalid(format!("key {} is listed twice", k.name)));
        }
    }
    for (h, prefix) in r.samples {
        s.samples
            .insert(hash_in(&h)?, Sample::from_prefix(&key_name(&prefix)?));
    }
    for (h, name, issued, accepted) in r.tickets {
        let life = TicketLife::new(
            &key_name(&name)?,
            issued.map(ev).transpose()?,
            accepted.map(ev).transpose()?,
        );
        s.tickets.insert(hash_in(&h)?, life);
    }
    for (h, iv) in r.ticket_ivs {
        let life = s
            .tickets
            .get_mut(&hash_in(&h)?)
            .ok_or_else(|| Invalid(format!("IV of ticket {h}, not listed")))?;
        life.iv = Some(hash_in(&iv)?);
    }
    for (h, established, resumed) in r.sessions {
        let life = SessionLife {
            established: established.map(ev).transpose()?,
            resumed: resumed.map(ev).transpose()?,
        };
        s.sessions.insert(hash_in(&h)?, life);
    }
    Ok(s)
}

fn counted(
    c: Option<(u64, Ev)>,
    ev: &dyn Fn(Ev) -> Result<Evidence, Invalid>,
) -> Result<Option<Counted>, Invalid> {
    c.map(|(count, e)| {
        Ok(Counted {
            count,
            first: ev(e)?,
        })
    })
    .transpose()
}

fn ev_in((time, f, frame): Ev, file: &dyn Fn(u32) -> Option<u32>) -> Result<Evidence, Invalid> {
    Ok(Evidence {
        time: Timestamp(time),
        file: file(f).ok_or_else(|| Invalid(format!("evidence names file #{f}, not listed")))?,
        frame,
    })
}

fn hash_hex(h: u64) -> String {
    format!("{h:016x}")
}

fn hash_in(text: &str) -> Result<u64, Invalid> {
    if text.len() != 16 {
        return Err(Invalid(format!("bad hash {text:?}")));
    }
    u64::from_str_radix(text, 16).map_err(|_| Invalid(format!("bad hash {text:?}")))
}

/// Hex of at most `MAX_KEY_NAME_LEN` bytes.
fn key_name(text: &str) -> Result<Vec<u8>, Invalid> {
    let bad = || Invalid(format!("bad key name {text:?}"));
    if text.len() % 2 != 0 || text.len() > 2 * MAX_KEY_NAME_LEN {
        return Err(bad());
    }
    (0..text.len())
        .step_by(2)
        .map(|i| {
            text.get(i..i + 2)
                .and_then(|b| u8::from_str_radix(b, 16).ok())
                .ok_or_else(bad)
        })
        .collect()
}
