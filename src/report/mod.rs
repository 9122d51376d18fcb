//! Reports: a `History` (per-service history, counters, inputs) and the rules' alerts,
//! rendered for people (`human`), programs (`json`) or streams (`jsonl`). `build` is the one
//! place that turns a history into the report model; `Printer` chooses the rendering, and
//! renderers only format.

pub mod color;
pub mod community_id;
pub mod html;
pub mod human;
pub mod json;
pub mod log;
pub mod log_read;
pub mod printer;
pub mod stream;
pub mod text;
pub mod timeline;

use json::*;
pub use printer::{Format, Printer};

use crate::evidence::Evidence;
use crate::rules::policy::{Rotation, Stat};
use crate::rules::{self, Alert, Assessment, Thresholds};
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
    let t = &opts.thresholds;
    Report {
        version: 1,
        tool: format!("stekwatch {}", env!("CARGO_PKG_VERSION")),
        thresholds: ThresholdsOut {
            max_key_age_seconds: t.max_key_age,
            critical_key_age_seconds: t.critical_key_age,
            max_ticket_age_seconds: t.max_ticket_age,
            lifetime_warning_seconds: t.lifetime_warning,
            lifetime_critical_seconds: t.lifetime_critical,
            session_cache_max_seconds: t.session_cache_max,
            key_name_len: opts.key_name_len,
        },
        observation: Observation {
            start: h.start.map(|t| t.rfc3339()),
            end: h.end.map(|t| t.rfc3339()),
            seconds: h.seconds(),
            packets: statistics.packets,
            connections: statistics.connections,
            files: h.files.clone(),
        },
        services: views
            .iter()
            .map(|v| service_out(v, &rules::assess(v, t)))
            .collect(),
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

fn stat_out(s: Option<Stat>) -> Option<StatOut> {
    s.map(|s| StatOut {
        min: s.min,
        median: s.median,
        max: s.max,
    })
}

fn rotation_out(r: &Rotation) -> RotationOut {
    RotationOut {
        period_seconds: stat_out(r.period),
        rotations: r.rotations,
        rotations_counted_by: if r.counted_by_key_number {
            "key-number"
        } else {
            "keys-seen"
        },
        basis: r.basis.as_str(),
        decrypt_window_seconds: stat_out(r.decrypt_window),
        next_key_accepted_early: r.next_key_accepted_early(),
        next_key_early: r.early.as_ref().map(|e| EarlyOut {
            key_name: hex(&e.key),
            accepted: e.accepted.time.rfc3339(),
            issued: e.issued.time.rfc3339(),
        }),
        host_skew_seconds: stat_out(r.host_skew),
        latest_host: r.worst_skew.as_ref().map(|w| SkewOut {
            key_name: hex(&w.key),
            address: w.late_host.to_string(),
            seconds: w.seconds,
        }),
    }
}

fn key_out(name: &[u8], k: &KeyStats) -> TicketKeyOut {
    let seen = k.seen();
    let server = k.server_seen();
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
        server_seen: span_out(server),
        server_seen_seconds: server.map_or(0, |s| s.seconds()),
        rejected: k.rejected,
        exposure: ExposureOut {
            sessions: k.exposed_sessions(),
            first: server.map(|s| s.first.time.rfc3339()),
            last: server.map(|s| s.last.time.rfc3339()),
            seconds: server.map_or(0, |s| s.seconds()),
        },
        hosts: k
            .hosts
            .iter()
            .map(|(addr, u)| HostKeyOut {
                address: addr.to_string(),
                issued: span_out(u.issued),
                accepted: span_out(u.accepted),
                rejected: u.rejections,
                rejected_span: span_out(u.rejected),
            })
            .collect(),
    }
}

fn service_out(v: &ServiceView<'_>, a: &Assessment) -> ServiceOut {
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
    // What only clients presented, too short to be a stateless ticket, is a stateful
    // identity: its first bytes are no key name, so it is counted, not listed.
    let listed = |k: &KeyStats| k.server_seen().is_some() || k.may_be_stateless();
    let stateful_offers: u64 = v
        .keys
        .values()
        .filter(|k| !listed(k))
        .map(|k| k.resumptions_offered)
        .sum();
    let mut keys: Vec<(&Vec<u8>, &KeyStats)> = v.keys.iter().filter(|(_, k)| listed(k)).collect();
    keys.sort_by_key(|(name, k)| (k.seen().map(|s| s.first), name.to_vec()));
    let span = v.span();
    ServiceOut {
        sni: svc.sni.clone(),
        service: v.name.to_string(),
        addresses: v.addresses(),
        tunnel: svc.tunnel,
        transport: svc.transport,
        protocol: svc.protocol,
        tls_versions: svc.versions.iter().map(|&x| version_label(x)).collect(),
        first_seen: span.map(|s| s.first.time.rfc3339()),
        last_seen: span.map(|s| s.last.time.rfc3339()),
        observed_seconds: span.map_or(0, |s| s.seconds()),
        handshakes: svc.handshakes.clone(),
        key_name_len: len,
        key_name_len_source: source,
        lifetime_hint_seconds: hints,
        ticket_keys: keys.into_iter().map(|(name, k)| key_out(name, k)).collect(),
        verdict: VerdictOut {
            kind: a.verdict.kind.as_str(),
            reason: a.verdict.reason.clone(),
        },
        rotation: a.rotation.as_ref().map(rotation_out),
        server_guess: a.guess.as_ref().map(|g| GuessOut {
            families: g.families.clone(),
            confidence: g.confidence,
            basis: g.basis.clone(),
        }),
        stateful_identities_offered: stateful_offers,
        unnamed_tickets: v.unobservable.as_ref().map(|k| UnnamedOut {
            tickets_issued: k.tickets_issued,
            resumptions_offered: k.resumptions_offered,
            resumptions_accepted: k.resumptions_accepted,
            rejected: k.rejected,
            oldest_accepted_ticket_age_seconds: k.stale_matched.map(|m| m.age_secs),
        }),
        session_ids: SessionIdsOut {
            established: svc.sessions_established,
            resumed: svc.handshakes.resumed_session_id,
            max_resumption_age_seconds: svc.session_cache_max().map(|c| c.0),
        },
    }
}

fn alert_out(a: &Alert, ev: &dyn Fn(&Evidence) -> EvidenceOut) -> AlertOut {
    AlertOut {
        id: a.id(),
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
        fix: a.fix.clone(),
        new: None,
    }
}
