//! The JSON report (`--format json`): the only serde output types. A stable contract: fields
//! are added, never renamed (design.md §4).

use serde::Serialize;

use crate::chunk::{Protocol, Transport};
use crate::decode::Tunnel;
use crate::rules::Severity;
pub use crate::stats::Stats as Statistics;
use crate::tracker::Handshakes;

#[derive(Serialize, Debug, Clone)]
pub struct Report {
    pub version: u32,
    /// The program that wrote the report: `stekwatch 0.1.0`.
    pub tool: String,
    /// Every threshold the verdicts and rules ran with.
    pub thresholds: ThresholdsOut,
    pub observation: Observation,
    pub services: Vec<ServiceOut>,
    pub alerts: Vec<AlertOut>,
    pub statistics: Statistics,
    pub warnings: Vec<String>,
    /// Set when part of the traffic could not be audited (cut by the snaplen, refused or
    /// evicted by a cap): the verdicts may miss what that part held. The reasons are in
    /// `warnings`; `--fail-on warning` (or `info`) treats it as a warning.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub incomplete: bool,
    /// Files of the directories read that were not captures (only when there are some).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub skipped_inputs: Vec<SkippedInput>,
    /// Live capture only: what libpcap counted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub capture: Option<CaptureOut>,
}

/// A file found in a directory and not read, and why (empty, unreadable, not a capture).
#[derive(Serialize, Debug, Clone, PartialEq, Eq)]
pub struct SkippedInput {
    pub path: String,
    pub reason: String,
}

/// Counters of a live capture (libpcap's `pcap_stats`) and how the capture ended.
#[derive(Serialize, Debug, Clone, Default, PartialEq, Eq)]
pub struct CaptureOut {
    pub interface: String,
    /// Packets the kernel passed the filter and handed to the capture.
    pub received: u64,
    /// Dropped because the capture buffer was full (stekwatch too slow): increase
    /// `--buffer-mib` or filter more narrowly.
    pub dropped_by_kernel: u64,
    /// Dropped by the interface or its driver.
    pub dropped_by_interface: u64,
    /// Why the capture stopped: `signal`, `output closed`, or the capture error.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stopped: Option<String>,
    /// Times the capture failed (e.g. the link went down) and was opened again.
    #[serde(skip_serializing_if = "is_zero")]
    pub interruptions: u64,
    /// Seconds without capture across those interruptions.
    #[serde(skip_serializing_if = "is_zero")]
    pub interrupted_seconds: u64,
    /// The kernel-side bypass (`--ebpf`), when it was attached.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kernel_bypass: Option<KernelBypassOut>,
    /// With `-j N` (N > 1): each capture worker's share.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub workers: Vec<WorkerOut>,
}

/// The XDP program of `--xdp` (on a dedicated span port: its drops reach every consumer of the
/// interface).
#[derive(Serialize, Debug, Clone, PartialEq, Eq)]
pub struct XdpOut {
    /// "driver" (native XDP) or "generic" (the kernel's fallback, after allocation).
    pub mode: String,
    /// Packets the interface received and the program looked at.
    pub packets_seen: u64,
    /// ... of which dropped there as belonging to audited connections.
    pub packets_dropped: u64,
}

/// One capture worker of `live -j N`: its socket of the fanout group and its thread.
#[derive(Serialize, Debug, Clone, PartialEq, Eq)]
pub struct WorkerOut {
    /// Packets its socket delivered (after the kernel's filters).
    pub packets: u64,
    /// ... per second of the run, on average.
    pub packets_per_second: u64,
    /// Tunnelled packets it handed to the worker of their inner flow, and those it dropped
    /// because that worker's queue was full (their connections may go unaudited).
    pub forwarded: u64,
    pub forward_dropped: u64,
}

/// Counters of the eBPF program on the capture socket: what it saw, what it dropped as
/// belonging to connections already audited, and its map of such connections (one entry per
/// direction).
#[derive(Serialize, Debug, Clone, PartialEq, Eq)]
pub struct KernelBypassOut {
    /// Packets the program looked at: all the socket would have received without it.
    pub packets_seen: u64,
    /// ... of which dropped in the kernel (their connection was bypassed); the rest reached
    /// userland (`received`).
    pub packets_bypassed: u64,
    /// ... and packets refused by `--filter tcp` (the default), which the program then
    /// applies itself.
    pub packets_prefiltered: u64,
    /// Connections written into the map by the sensor (one entry each, both directions).
    pub map_inserted: u64,
    /// Connections in the map at the end.
    pub map_entries: u64,
    /// ... removed by the kernel on a SYN, FIN or RST.
    pub map_forgotten: u64,
    /// ... evicted by the full map (their packets reached userland again).
    pub map_evicted: u64,
    /// Writes the kernel refused, and connections not written because the queue was full.
    #[serde(skip_serializing_if = "is_zero")]
    pub map_write_failures: u64,
    /// Packets that reached userland but not the user's --filter (run there with the bypass).
    pub filtered_in_userspace: u64,
    /// `--xdp`: the same bypass as an XDP program on the interface.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub xdp: Option<XdpOut>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

#[derive(Serialize, Debug, Clone, PartialEq, Eq)]
pub struct ThresholdsOut {
    pub max_key_age_seconds: i64,
    pub critical_key_age_seconds: i64,
    pub max_ticket_age_seconds: i64,
    pub lifetime_warning_seconds: i64,
    pub lifetime_critical_seconds: i64,
    pub session_cache_max_seconds: i64,
    /// `--key-name-len`: a number, or `null` for `auto`.
    pub key_name_len: Option<usize>,
}

/// A service's verdict: `kind` is one of `rotating`, `not-rotated`, `not-observable`,
/// `no-resumption`, `undetermined`.
#[derive(Serialize, Debug, Clone, PartialEq, Eq)]
pub struct VerdictOut {
    pub kind: &'static str,
    pub reason: String,
}

#[derive(Serialize, Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatOut {
    pub min: i64,
    pub median: i64,
    pub max: i64,
}

/// Rotation as measured from the wire (lower bounds where sightings bound them).
#[derive(Serialize, Debug, Clone, PartialEq, Eq)]
pub struct RotationOut {
    /// Time between the first sightings of successive keys.
    pub period_seconds: Option<StatOut>,
    pub rotations: u64,
    /// `keys-seen`, or `key-number` when an incrementing key number (Java) counts them.
    pub rotations_counted_by: &'static str,
    /// What dates a key: `issued` tickets, or `accepted` ones (TLS 1.3 only).
    pub basis: &'static str,
    /// How long an old key was still seen accepted after its successor started.
    pub decrypt_window_seconds: Option<StatOut>,
    pub next_key_accepted_early: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_key_early: Option<EarlyOut>,
    /// How far apart the hosts of the service started new keys; `null` on one address.
    pub host_skew_seconds: Option<StatOut>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latest_host: Option<SkewOut>,
}

#[derive(Serialize, Debug, Clone, PartialEq, Eq)]
pub struct EarlyOut {
    pub key_name: String,
    pub accepted: String,
    pub issued: String,
}

#[derive(Serialize, Debug, Clone, PartialEq, Eq)]
pub struct SkewOut {
    pub key_name: String,
    pub address: String,
    pub seconds: i64,
}

/// Best-effort guess of the server software.
#[derive(Serialize, Debug, Clone, PartialEq, Eq)]
pub struct GuessOut {
    /// Family ids (see `stekwatch explain`), most likely first.
    pub families: Vec<&'static str>,
    pub confidence: crate::rules::family::Confidence,
    pub basis: Vec<String>,
}

/// Sessions whose secrets a key protected, as far as seen, and their span.
#[derive(Serialize, Debug, Clone, PartialEq, Eq)]
pub struct ExposureOut {
    pub sessions: u64,
    pub first: Option<String>,
    pub last: Option<String>,
    pub seconds: i64,
}

/// One server address's use of a key.
#[derive(Serialize, Debug, Clone, PartialEq, Eq)]
pub struct HostKeyOut {
    pub address: String,
    pub issued: Option<SpanOut>,
    pub accepted: Option<SpanOut>,
    pub rejected: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rejected_span: Option<SpanOut>,
}

#[derive(Serialize, Debug, Clone)]
pub struct Observation {
    pub start: Option<String>,
    pub end: Option<String>,
    pub seconds: i64,
    pub packets: u64,
    pub connections: u64,
    pub files: Vec<String>,
}

#[derive(Serialize, Debug, Clone)]
pub struct ServiceOut {
    pub sni: Option<String>,
    /// The service's name: its SNI, or its server address when clients sent none.
    pub service: String,
    pub addresses: Vec<String>,
    /// The tunnel the service was seen through (`{"kind": "vxlan", "id": 100}`); absent
    /// outside tunnels.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tunnel: Option<Tunnel>,
    /// `"quic"` for a service seen over QUIC; absent over TCP.
    #[serde(skip_serializing_if = "Transport::is_tcp")]
    pub transport: Transport,
    /// The cleartext protocol TLS started after (`"smtp"`, `"imap"`, ...: STARTTLS and its
    /// kin, `"prelude"` for the generic fallback); absent when TLS came first.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub protocol: Option<Protocol>,
    pub tls_versions: Vec<String>,
    pub first_seen: Option<String>,
    pub last_seen: Option<String>,
    pub observed_seconds: i64,
    pub handshakes: Handshakes,
    /// `null` when keys are not observable.
    pub key_name_len: Option<usize>,
    /// `inferred`, `assumed` (too few tickets to infer), `forced` or `not-observable`.
    pub key_name_len_source: &'static str,
    pub lifetime_hint_seconds: Option<MinMax>,
    pub ticket_keys: Vec<TicketKeyOut>,
    pub session_ids: SessionIdsOut,
    pub verdict: VerdictOut,
    /// `null` when no key was seen by the server.
    pub rotation: Option<RotationOut>,
    pub server_guess: Option<GuessOut>,
    /// Presentations of stateful identities (too short for a key name): not key names, so not
    /// in `ticket_keys`.
    #[serde(skip_serializing_if = "is_zero")]
    pub stateful_identities_offered: u64,
    /// Tickets issued and accepted although their key names are not observable.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unnamed_tickets: Option<UnnamedOut>,
}

/// What a service without key names still shows (Go, Caddy, stateful tickets).
#[derive(Serialize, Debug, Clone, PartialEq, Eq)]
pub struct UnnamedOut {
    pub tickets_issued: u64,
    pub resumptions_offered: u64,
    pub resumptions_accepted: u64,
    pub rejected: u64,
    /// Age of the oldest ticket accepted whose own issuance was seen: how long old tickets work.
    pub oldest_accepted_ticket_age_seconds: Option<i64>,
}

#[derive(Serialize, Debug, Clone)]
pub struct MinMax {
    pub min: u32,
    pub max: u32,
}

#[derive(Serialize, Debug, Clone, PartialEq, Eq)]
pub struct SpanOut {
    pub first: String,
    pub last: String,
}

#[derive(Serialize, Debug, Clone)]
pub struct TicketKeyOut {
    pub key_name: String,
    pub first_seen: Option<String>,
    pub last_seen: Option<String>,
    /// Seconds from first to last sighting, whatever its source.
    pub seen_seconds: i64,
    pub tickets_issued: u64,
    pub resumptions_offered: u64,
    pub resumptions_accepted: u64,
    /// Age of the oldest ticket accepted whose own issuance was seen.
    pub oldest_accepted_ticket_age_seconds: Option<i64>,
    pub issued: Option<SpanOut>,
    pub accepted: Option<SpanOut>,
    pub offered_not_accepted: Option<SpanOut>,
    /// Sightings by the server (issued, accepted): what `span` in the human table shows.
    pub server_seen: Option<SpanOut>,
    pub server_seen_seconds: i64,
    /// Presentations answered with a full handshake.
    pub rejected: u64,
    pub exposure: ExposureOut,
    pub hosts: Vec<HostKeyOut>,
}

#[derive(Serialize, Debug, Clone)]
pub struct SessionIdsOut {
    pub established: u64,
    pub resumed: u64,
    pub max_resumption_age_seconds: Option<i64>,
}

#[derive(Serialize, Debug, Clone)]
pub struct AlertOut {
    /// Stable across runs: rule, service and key (see `rules::Alert::id`).
    pub id: String,
    pub rule: &'static str,
    pub severity: Severity,
    pub sni: Option<String>,
    pub service: Option<String>,
    pub addresses: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tunnel: Option<Tunnel>,
    pub key_name: Option<String>,
    pub first_seen: Option<String>,
    pub last_seen: Option<String>,
    pub message: String,
    pub evidence: Vec<EvidenceOut>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub age_seconds: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lifetime_hint_seconds: Option<u32>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub services: Vec<String>,
    /// `weak-stek`: the ticket format and weakness (e.g. `openssl-aes128-cbc-hmac-sha256-zero-key`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub format: Option<&'static str>,
    /// What to change on the server.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
    /// With a loaded state: whether that history had not reported this alert before.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new: Option<bool>,
}

#[derive(Serialize, Debug, Clone)]
pub struct EvidenceOut {
    pub file: String,
    pub frame: u64,
    pub time: String,
}

/// One line of `--format jsonl`: an alert with the fields of the report's `alerts`, and
/// `"type": "alert"`.
#[derive(Serialize, Debug)]
pub struct AlertLine<'a> {
    #[serde(rename = "type")]
    pub kind: &'static str,
    #[serde(flatten)]
    pub alert: &'a AlertOut,
}

/// The last line of `--format jsonl`: what the run covered and how many alerts its history
/// holds (all of them, printed now or by earlier runs).
#[derive(Serialize, Debug)]
pub struct SummaryLine<'a> {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub version: u32,
    pub observation: &'a Observation,
    pub services: usize,
    pub alerts: AlertCounts,
    pub statistics: &'a Statistics,
    pub warnings: &'a [String],
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub incomplete: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub capture: Option<&'a CaptureOut>,
}

#[derive(Serialize, Debug, Default)]
pub struct AlertCounts {
    pub critical: usize,
    pub warning: usize,
    pub info: usize,
}

impl<'a> SummaryLine<'a> {
    pub fn of(r: &'a Report) -> Self {
        let mut alerts = AlertCounts::default();
        for a in &r.alerts {
            match a.severity {
                Severity::Critical => alerts.critical += 1,
                Severity::Warning => alerts.warning += 1,
                Severity::Info => alerts.info += 1,
            }
        }
        SummaryLine {
            kind: "summary",
            version: r.version,
            observation: &r.observation,
            services: r.services.len(),
            alerts,
            statistics: &r.statistics,
            warnings: &r.warnings,
            incomplete: r.incomplete,
            capture: r.capture.as_ref(),
        }
    }
}

pub fn write(report: &Report, out: &mut dyn std::io::Write) -> std::io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, report)?;
    writeln!(out)
}
