//! Per-connection records (`--log FILE`): one JSON line per TLS connection, in the
//! conventions of Zeek's ssl.log (`ts` in epoch seconds, `uid`) and Suricata's EVE
//! (`timestamp`, `event_type`, `src_ip`/`src_port`/`dest_ip`/`dest_port`, `proto`,
//! `community_id`), so a SIEM joins them with conn.log and flow events. Each line is a whole
//! `tracker::ConnRecord` (every sighting with its file, frame and nanosecond time), so
//! `report --from-log` (`log_read`) rebuilds the same history; at the end of a run one
//! `"event_type": "stats"` line carries its counters, span and inputs.
//!
//! Privacy: a ticket or PSK identity appears as its key-name prefix (at most 16 bytes, hex)
//! and a 64-bit hash; a session ID as a 64-bit hash; never whole.
//!
//! The writer is shared by a run's pipelines (the workers of a sharded read): each line is
//! written whole under one lock. A write error is kept and reported once at the end.

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::Path;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use super::community_id::community_id;
use crate::decode::Tunnel;
use crate::evidence::Evidence;
use crate::stats::Stats;
use crate::tls::conn::Outcome;
use crate::tls::handshake::version_label;
use crate::tls::ticket::hex;
use crate::tracker::record::IssuedMark;
use crate::tracker::{ConnRecord, History, TicketMark};

/// Where a sighting was: the input's name, the frame (1-based) and the packet time in
/// nanoseconds since the epoch.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct AtLine {
    pub file: String,
    pub frame: u64,
    pub time_ns: i64,
}

/// A ticket or PSK identity: key-name prefix (hex, at most 16 bytes) and hash (16 hex digits).
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct MarkLine {
    pub key_name: String,
    pub hash: String,
    /// The ticket's length in bytes (not its bytes).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub len: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct IssuedLine {
    pub key_name: String,
    pub hash: String,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub len: u32,
    /// The lifetime hint, in seconds.
    pub lifetime: u32,
    pub at: AtLine,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weak: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iv_hash: Option<String>,
}

/// The evidence people look at first: the connection's earliest sighting.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct EvidenceLine {
    pub file: String,
    pub frame: u64,
}

/// One TLS connection.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct ConnLine {
    /// Zeek: epoch seconds of the connection's first sighting.
    pub ts: f64,
    /// EVE: the same, RFC 3339.
    pub timestamp: String,
    pub event_type: String,
    pub uid: String,
    pub community_id: String,
    pub src_ip: String,
    pub src_port: u16,
    pub dest_ip: String,
    pub dest_port: u16,
    /// EVE: `TCP` or `UDP`.
    pub proto: String,
    /// `tcp` or `quic`.
    pub transport: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tunnel: Option<Tunnel>,
    pub sni: Option<String>,
    pub version: Option<String>,
    pub version_id: Option<u16>,
    /// `full`, `ticket`, `session-id`, `psk`, or `unknown` (the server's answer not seen).
    pub resumption: String,
    /// `psk`: the selected identity and whether the server sent a key share (forward secrecy).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub psk_selected: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub psk_key_share: Option<bool>,
    /// The key name (first 16 bytes) a resumption was offered or accepted under.
    pub key_name: Option<String>,
    /// A TLS 1.2 ticket the client presented.
    pub ticket: Option<MarkLine>,
    pub psk_identities: Vec<MarkLine>,
    pub early_data: bool,
    /// QUIC 0-RTT packets seen from the client.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub zero_rtt_sent: bool,
    /// TLS 1.2 NewSessionTickets the server sent.
    pub tickets_issued: Vec<IssuedLine>,
    pub session_id_hash: Option<String>,
    pub ticketbleed: bool,
    pub evidence: Option<EvidenceLine>,
    pub client_hello: Option<AtLine>,
    pub server_hello: Option<AtLine>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sslv2_hello: Option<AtLine>,
    /// The cleartext protocol TLS started after (`smtp`, `imap`, ...; STARTTLS); absent when
    /// TLS came first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
}

/// The end of a run: its counters, packet-time span and inputs.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct StatsLine {
    pub event_type: String,
    pub start_ns: Option<i64>,
    pub end_ns: Option<i64>,
    pub inputs: Vec<String>,
    pub stats: Stats,
}

pub const TLS_EVENT: &str = "tls";
pub const STATS_EVENT: &str = "stats";

fn resumption_label(o: Outcome) -> &'static str {
    match o {
        Outcome::Full => "full",
        Outcome::ResumedTicket => "ticket",
        Outcome::ResumedSessionId => "session-id",
        Outcome::ResumedPsk { .. } => "psk",
        Outcome::Unknown => "unknown",
    }
}

fn mark_line(m: &TicketMark) -> MarkLine {
    MarkLine {
        key_name: hex(m.name()),
        hash: format!("{:016x}", m.hash),
        len: m.len,
    }
}

/// Zeek's habit: `C` and base62 digits; here of a hash of where and when the connection was
/// first seen, so the same capture gives the same uids.
fn uid(first: &AtLine, cid: &str) -> String {
    use sha1::{Digest, Sha1};
    const DIGITS: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut h = Sha1::new();
    h.update(first.file.as_bytes());
    h.update([0]);
    h.update(first.frame.to_be_bytes());
    h.update(first.time_ns.to_be_bytes());
    h.update(cid.as_bytes());
    let d = h.finalize();
    let mut n = u128::from_be_bytes(d[..16].try_into().expect("16 bytes"));
    let mut out = String::from("C");
    for _ in 0..17 {
        out.push(DIGITS[(n % 62) as usize] as char);
        n /= 62;
    }
    out
}

/// Epoch seconds with microseconds, as Zeek writes them: the double nearest to the decimal, so
/// it prints with at most six decimals.
fn epoch_seconds(ns: i64) -> f64 {
    let micros = (ns / 1000).unsigned_abs();
    let sign = if ns < 0 { "-" } else { "" };
    format!("{sign}{}.{:06}", micros / 1_000_000, micros % 1_000_000)
        .parse()
        .unwrap_or(0.0)
}

impl ConnLine {
    /// The line of `r`; `file` names an input by its index.
    pub fn of(r: &ConnRecord, file: &dyn Fn(u32) -> String) -> Self {
        let at = |e: Evidence| AtLine {
            file: file(e.file),
            frame: e.frame,
            time_ns: e.time.0,
        };
        let first = r.first_seen();
        let cid = community_id(0, r.transport.ip_proto(), r.client, r.server);
        let first_at = first.map(at);
        let (psk_selected, psk_key_share) = match r.outcome {
            Outcome::ResumedPsk {
                identity,
                key_share,
            } => (Some(identity), Some(key_share)),
            _ => (None, None),
        };
        ConnLine {
            ts: first.map_or(0.0, |e| epoch_seconds(e.time.0)),
            timestamp: first.map(|e| e.time.rfc3339()).unwrap_or_default(),
            event_type: TLS_EVENT.into(),
            uid: first_at.as_ref().map(|f| uid(f, &cid)).unwrap_or_default(),
            community_id: cid,
            src_ip: r.client.ip().to_string(),
            src_port: r.client.port(),
            dest_ip: r.server.ip().to_string(),
            dest_port: r.server.port(),
            proto: if r.transport.ip_proto() == 6 {
                "TCP"
            } else {
                "UDP"
            }
            .into(),
            transport: r.transport.label().into(),
            tunnel: r.tunnel,
            sni: r.sni.clone(),
            version: r.version.map(version_label),
            version_id: r.version,
            resumption: resumption_label(r.outcome).into(),
            psk_selected,
            psk_key_share,
            key_name: r.resumption_key().map(|m| hex(m.name())),
            ticket: r.ticket_offered.as_ref().map(mark_line),
            psk_identities: r.psk_identities.iter().map(mark_line).collect(),
            early_data: r.early_data,
            zero_rtt_sent: r.zero_rtt_sent,
            tickets_issued: r
                .issued
                .iter()
                .map(|i: &IssuedMark| IssuedLine {
                    key_name: hex(i.ticket.name()),
                    hash: format!("{:016x}", i.ticket.hash),
                    len: i.ticket.len,
                    lifetime: i.lifetime_hint,
                    at: at(i.at),
                    weak: i.check.weak.map(|w| w.label().to_string()),
                    iv_hash: i.check.iv_hash.map(|h| format!("{h:016x}")),
                })
                .collect(),
            session_id_hash: r.session_id.map(|h| format!("{h:016x}")),
            ticketbleed: r.ticketbleed,
            evidence: first_at.map(|f| EvidenceLine {
                file: f.file,
                frame: f.frame,
            }),
            client_hello: r.offered_at.map(at),
            server_hello: r.answered_at.map(at),
            sslv2_hello: r.sslv2_at.map(at),
            protocol: r.protocol.map(|p| p.label().to_string()),
        }
    }
}

struct Inner {
    out: Box<dyn Write + Send>,
    /// Input names, indexed as `Evidence::file`.
    names: Vec<String>,
    records: u64,
    error: Option<io::Error>,
}

/// The per-connection log of a run, shared by its pipelines.
pub struct ConnLog {
    inner: Mutex<Inner>,
}

impl std::fmt::Debug for ConnLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ConnLog")
    }
}

impl ConnLog {
    /// Appends to `path` (created `0600`: records name keys), as Zeek and Suricata logs do,
    /// so a shipper tailing the file and log rotation work as usual.
    pub fn create(path: &Path) -> io::Result<Self> {
        let mut o = OpenOptions::new();
        o.append(true).create(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            o.mode(0o600);
        }
        let f: File = o.open(path)?;
        Ok(Self::to_writer(Box::new(f)))
    }

    pub fn to_writer(out: Box<dyn Write + Send>) -> Self {
        ConnLog {
            inner: Mutex::new(Inner {
                out: Box::new(BufWriter::new(out)),
                names: Vec::new(),
                records: 0,
                error: None,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A worker that panicked holding the lock leaves whole lines behind: go on.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Input `index` is called `name` from now on.
    pub fn input(&self, index: u32, name: &str) {
        let mut g = self.lock();
        let i = index as usize;
        if g.names.len() <= i {
            g.names.resize(i + 1, String::new());
        }
        g.names[i] = name.to_string();
    }

    /// One connection.
    pub fn conn(&self, r: &ConnRecord) {
        let mut g = self.lock();
        let line = {
            let names = &g.names;
            ConnLine::of(r, &|i| names.get(i as usize).cloned().unwrap_or_default())
        };
        g.records += 1;
        write_line(&mut g, &line);
    }

    /// The run's end: its counters, span and inputs; then everything is flushed. Returns the
    /// number of connection lines written, or the first write error.
    pub fn finish(&self, h: &History) -> io::Result<u64> {
        self.finish_with(&h.files, h, &h.stats)
    }

    /// `finish` for a run whose history also holds an earlier one (a live sensor's state):
    /// only `inputs` and `stats` are this run's.
    pub fn finish_with(&self, inputs: &[String], h: &History, stats: &Stats) -> io::Result<u64> {
        let mut g = self.lock();
        let mut inputs = inputs.to_vec();
        inputs.sort();
        inputs.dedup();
        let line = StatsLine {
            event_type: STATS_EVENT.into(),
            start_ns: h.start.map(|t| t.0),
            end_ns: h.end.map(|t| t.0),
            inputs,
            stats: stats.clone(),
        };
        write_line(&mut g, &line);
        if g.error.is_none() {
            if let Err(e) = g.out.flush() {
                g.error = Some(e);
            }
        }
        match g.error.take() {
            Some(e) => Err(e),
            None => Ok(g.records),
        }
    }
}

fn write_line<T: Serialize>(g: &mut Inner, line: &T) {
    if g.error.is_some() {
        return;
    }
    let r = serde_json::to_writer(&mut g.out, line)
        .map_err(io::Error::from)
        .and_then(|()| g.out.write_all(b"\n"));
    if let Err(e) = r {
        g.error = Some(e);
    }
}
