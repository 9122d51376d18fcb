//! Reports: the run's tracker state, rules' alerts and statistics, rendered for people
//! (`human`) or programs (`json`). `build` is the one place that turns state into the report
//! model; renderers only format it.

pub mod human;
pub mod json;
pub mod stream;

use json::*;

use crate::evidence::Evidence;
use crate::pipeline::Pipeline;
use crate::rules::{self, Alert, Thresholds};
use crate::tls::handshake::version_label;
use crate::tls::ticket::{hex, KeyNameLen};
use crate::tracker::view::ServiceView;
use crate::tracker::{KeyStats, Span};

/// What the user chose that shapes the report.
#[derive(Clone, Debug, Default)]
pub struct ReportOptions {
    pub thresholds: Thresholds,
    pub key_name_len: Option<usize>,
}

pub fn build(
    p: &Pipeline,
    opts: &ReportOptions,
    warnings: Vec<String>,
    skipped_blocks: u64,
) -> Report {
    let views = views(p, opts);
    let alerts = alerts_of(p, &views, opts);
    let f = &p.flows.stats;
    let s = &p.stats;
    Report {
        version: 1,
        observation: Observation {
            start: p.start.map(|t| t.rfc3339()),
            end: p.end.map(|t| t.rfc3339()),
            seconds: match (p.start, p.end) {
                (Some(a), Some(b)) => b.seconds_since(a),
                _ => 0,
            },
            packets: s.packets,
            connections: f.connections,
            files: p.files.clone(),
        },
        services: views.iter().map(service_out).collect(),
        alerts,
        statistics: Statistics {
            packets: s.packets,
            bytes: s.bytes,
            tcp_segments: s.tcp_segments,
            skipped_not_tcp: s.not_tcp,
            skipped_ip_fragments: s.ip_fragments,
            ip_datagrams_reassembled: p.defrag.reassembled,
            ip_fragments_dropped: p.defrag.dropped,
            skipped_malformed: s.malformed,
            skipped_unsupported_link_type: s.unsupported_link_type,
            truncated_packets: s.truncated_packets,
            connections: f.connections,
            tls_connections: f.tls_connections,
            not_tls_connections: f.not_tls,
            handshake_messages: s.handshake_messages,
            parse_failures: s.parse_failures,
            gaps: f.gaps,
            resyncs: f.resyncs,
            retransmitted_bytes: f.retransmitted_bytes,
            expired_flows: f.expired,
            dropped_flows_cap: f.dropped_flows_cap,
            discarded_bytes_cap: f.discarded_bytes,
            abandoned_handshakes_cap: f.abandoned_handshakes_cap,
            handshake_messages_cap: s.handshake_messages_cap,
            dropped_by_service_caps: p.tracker.services.values().map(|s| s.dropped).sum(),
            dropped_services_cap: p.tracker.dropped_services,
            skipped_capture_blocks: skipped_blocks,
        },
        warnings,
        capture: None,
    }
}

/// Only the alerts (what a live run re-evaluates as history grows), as the report has them.
pub fn alerts(p: &Pipeline, opts: &ReportOptions) -> Vec<AlertOut> {
    let views = views(p, opts);
    alerts_of(p, &views, opts)
}

fn views<'a>(p: &'a Pipeline, opts: &ReportOptions) -> Vec<ServiceView<'a>> {
    let mut names: Vec<&String> = p.tracker.services.keys().collect();
    names.sort();
    names
        .into_iter()
        .map(|n| ServiceView::new(n, &p.tracker.services[n], opts.key_name_len))
        .collect()
}

fn alerts_of(p: &Pipeline, views: &[ServiceView<'_>], opts: &ReportOptions) -> Vec<AlertOut> {
    let ev = |e: &Evidence| EvidenceOut {
        file: p.files.get(e.file as usize).cloned().unwrap_or_default(),
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
        tls_versions: svc.versions.iter().map(|&x| version_label(x)).collect(),
        first_seen: span.map(|s| s.first.time.rfc3339()),
        last_seen: span.map(|s| s.last.time.rfc3339()),
        observed_seconds: span.map_or(0, |s| s.seconds()),
        handshakes: HandshakesOut {
            full: svc.handshakes.full,
            resumed_ticket: svc.handshakes.resumed_ticket,
            resumed_session_id: svc.handshakes.resumed_session_id,
            resumed_psk: svc.handshakes.resumed_psk,
            unknown: svc.handshakes.unknown,
        },
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
        severity: a.severity.as_str(),
        sni: a.sni.clone(),
        service: a.service.clone(),
        addresses: a.addresses.clone(),
        key_name: a.key_name.as_deref().map(hex),
        first_seen: a.first_seen.map(|t| t.rfc3339()),
        last_seen: a.last_seen.map(|t| t.rfc3339()),
        message: a.message.clone(),
        evidence: a.evidence.iter().map(ev).collect(),
        age_seconds: a.age_seconds,
        lifetime_hint_seconds: a.lifetime_hint_seconds,
        services: a.services.clone(),
    }
}
