//! Reports: a `History` (per-service history, counters, inputs) and the rules' alerts,
//! rendered for people (`human`), programs (`json`) or streams (`jsonl`). `build` is the one
//! place that turns a history into the report model; `Printer` chooses the rendering, and
//! renderers only format.

pub mod human;
pub mod json;
pub mod printer;
pub mod stream;
pub mod text;

use json::*;
pub use printer::{Format, Printer};

use crate::evidence::Evidence;
use crate::rules::{self, Alert, Thresholds};
use crate::tls::handshake::version_label;
use crate::tls::ticket::{hex, KeyNameLen};
use crate::tracker::view::ServiceView;
use crate::tracker::{History, KeyStats, Span};

/// What the user chose that shapes the report.
#[derive(Clone, Debug, Default)]
pub struct ReportOptions {
    pub thresholds: Thresholds,
    pub key_name_len: Option<usize>,
}

/// The report of a history.
pub fn build(h: &History, opts: &ReportOptions, mut warnings: Vec<String>) -> Report {
    let views = views(h, opts);
    let alerts = alerts_of(h, &views, opts);
    let statistics = h.statistics();
    let gaps = incompleteness(&statistics);
    let incomplete = !gaps.is_empty();
    warnings.extend(gaps);
    Report {
        version: 1,
        observation: Observation {
            start: h.start.map(|t| t.rfc3339()),
            end: h.end.map(|t| t.rfc3339()),
            seconds: h.seconds(),
            packets: statistics.packets,
            connections: statistics.connections,
            files: h.files.clone(),
        },
        services: views.iter().map(service_out).collect(),
        alerts,
        statistics,
        warnings,
        incomplete,
        skipped_inputs: Vec::new(),
        capture: None,
    }
}

/// Why the verdicts may be incomplete: traffic the auditor saw but could not read.
fn incompleteness(s: &Statistics) -> Vec<String> {
    let mut out = Vec::new();
    let mut say = |n: u64, what: &str| {
        if n > 0 {
            out.push(format!("verdicts are incomplete: {n} {what}"));
        }
    };
    say(
        s.truncated_packets,
        "packets were cut short by the capture's snaplen (capture with -s 0 or a larger \
         --snaplen)",
    );
    say(
        s.dropped_flows_cap,
        "connections were refused because the flow table was full (raise --max-flows)",
    );
    say(
        s.evicted_flows,
        "connections without handshake progress were evicted to make room: the auditor was \
         under pressure (a flood?)",
    );
    say(
        s.abandoned_handshakes_cap,
        "handshakes were abandoned by the buffer cap (raise --max-buffer-mib)",
    );
    say(
        s.dropped_services_cap + s.dropped_by_service_caps,
        "services or per-service entries were refused by the history's caps",
    );
    out
}

/// Only the alerts (what a live run re-evaluates as history grows), as the report has them.
pub fn alerts(h: &History, opts: &ReportOptions) -> Vec<AlertOut> {
    let views = views(h, opts);
    alerts_of(h, &views, opts)
}

fn views<'a>(h: &'a History, opts: &ReportOptions) -> Vec<ServiceView<'a>> {
    let services = &h.tracker.services;
    let mut names: Vec<&String> = services.keys().collect();
    names.sort();
    names
        .into_iter()
        .map(|n| ServiceView::new(n, &services[n], opts.key_name_len))
        .collect()
}

fn alerts_of(h: &History, views: &[ServiceView<'_>], opts: &ReportOptions) -> Vec<AlertOut> {
    let ev = |e: &Evidence| EvidenceOut {
        file: h.files.get(e.file as usize).cloned().unwrap_or_default(),
        frame: e.frame,
        time: e.time.rfc3339(),
    };
    rules::evaluate(views, &opts.thresholds)
        .iter()
        .map(|a| alert_out(a, &ev))
        .collect()
}

fn span_out(s: Option<Span>) -> Option<SpanOut> {
    s.map(|s| SpanOut {
        first: s.first.time.rfc3339(),
        last: s.last.time.rfc3339(),
    })
}

fn service_out(v: &ServiceView<'_>) -> ServiceOut {
    let svc = v.svc;
    let (len, source) = match v.key_len {
        KeyNameLen::Inferred(n) => (Some(n), "inferred"),
        KeyNameLen::Assumed(n) => (Some(n), "assumed"),
        KeyNameLen::Forced(n) => (Some(n), "forced"),
        KeyNameLen::NotObservable => (None, "not-observable"),
    };
    let mut hints: Option<MinMax> = None;
    for k in v.keys.values().chain(v.unobservable.iter()) {
        if let (Some(lo), Some((hi, _))) = (k.hint_min, k.hint_max) {
            hints = Some(match hints {
                Some(m) => MinMax {
                    min: m.min.min(lo),
                    max: m.max.max(hi),
                },
                None => MinMax { min: lo, max: hi },
            });
        }
    }
    let mut keys: Vec<(&Vec<u8>, &KeyStats)> = v.keys.iter().collect();
    keys.sort_by_key(|(name, k)| (k.seen().map(|s| s.first), name.to_vec()));
    let span = v.span();
    ServiceOut {
        sni: svc.sni.clone(),
        service: v.name.to_string(),
        addresses: v.addresses(),
        tunnel: svc.tunnel,
        transport: svc.transport,
        tls_versions: svc.versions.iter().map(|&x| version_label(x)).collect(),
        first_seen: span.map(|s| s.first.time.rfc3339()),
        last_seen: span.map(|s| s.last.time.rfc3339()),
        observed_seconds: span.map_or(0, |s| s.seconds()),
        handshakes: svc.handshakes.clone(),
        key_name_len: len,
        key_name_len_source: source,
        lifetime_hint_seconds: hints,
        ticket_keys: keys
            .into_iter()
            .map(|(name, k)| {
                let seen = k.seen();
                TicketKeyOut {
                    key_name: hex(name),
                    first_seen: seen.map(|s| s.first.time.rfc3339()),
                    last_seen: seen.map(|s| s.last.time.rfc3339()),
                    seen_seconds: seen.map_or(0, |s| s.seconds()),
                    tickets_issued: k.tickets_issued,
                    resumptions_offered: k.resumptions_offered,
                    resumptions_accepted: k.resumptions_accepted,
                    oldest_accepted_ticket_age_seconds: k.stale_matched.map(|m| m.age_secs),
                    issued: span_out(k.issued),
                    accepted: span_out(k.accepted),
                    offered_not_accepted: span_out(k.offered),
                }
            })
            .collect(),
        session_ids: SessionIdsOut {
            established: svc.sessions_established,
            resumed: svc.handshakes.resumed_session_id,
            max_resumption_age_seconds: svc.session_cache_max().map(|c| c.0),
        },
    }
}

fn alert_out(a: &Alert, ev: &dyn Fn(&Evidence) -> EvidenceOut) -> AlertOut {
    AlertOut {
        rule: a.rule,
        severity: a.severity,
        sni: a.sni.clone(),
        service: a.service.clone(),
        addresses: a.addresses.clone(),
        tunnel: a.tunnel,
        key_name: a.key_name.as_deref().map(hex),
        first_seen: a.first_seen.map(|t| t.rfc3339()),
        last_seen: a.last_seen.map(|t| t.rfc3339()),
        message: a.message.clone(),
        evidence: a.evidence.iter().map(ev).collect(),
        age_seconds: a.age_seconds,
        lifetime_hint_seconds: a.lifetime_hint_seconds,
        services: a.services.clone(),
        format: a.format,
    }
}
