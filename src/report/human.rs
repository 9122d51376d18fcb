//! The human report: per service a table of key names with their lifespans and counts, then
//! the alerts with one sentence each and their evidence, then the statistics.

use std::io::{self, Write};

use super::json::{AlertOut, Report, ServiceOut};
use super::text::clean;

pub fn write(r: &Report, out: &mut dyn Write) -> io::Result<()> {
    let o = &r.observation;
    writeln!(
        out,
        "stekwatch: {} file{}, {} packets, {} TCP{} connections ({} TLS), {} → {} ({})",
        o.files.len(),
        plural(o.files.len() as u64),
        o.packets,
        o.connections,
        match r.statistics.quic_connections {
            0 => String::new(),
            n => format!(" and {n} QUIC"),
        },
        r.statistics.tls_connections,
        short_time(o.start.as_deref()),
        short_time(o.end.as_deref()),
        crate::time::human_duration(o.seconds),
    )?;
    for w in &r.warnings {
        writeln!(out, "warning: {}", clean(w))?;
    }
    if r.services.is_empty() {
        writeln!(out, "\nNo TLS handshakes found.")?;
    }
    for s in &r.services {
        service(s, out)?;
    }
    writeln!(out)?;
    if r.alerts.is_empty() {
        writeln!(out, "No alerts.")?;
    } else {
        writeln!(out, "ALERTS ({})", r.alerts.len())?;
        for a in &r.alerts {
            alert(a, out)?;
        }
    }
    statistics(r, out)
}

fn service(s: &ServiceOut, out: &mut dyn Write) -> io::Result<()> {
    writeln!(out)?;
    let versions = if s.tls_versions.is_empty() {
        "?".to_string()
    } else {
        s.tls_versions.join(", ")
    };
    writeln!(
        out,
        "{}  [{}{}]  TLS {}  observed {} ({} → {})",
        clean(&s.service),
        s.addresses.join(" "),
        s.tunnel.map_or(String::new(), |t| format!(" in {t}")),
        versions,
        crate::time::human_duration(s.observed_seconds),
        short_time(s.first_seen.as_deref()),
        short_time(s.last_seen.as_deref()),
    )?;
    let h = &s.handshakes;
    writeln!(
        out,
        "  handshakes: {} full, {} resumed by ticket, {} by session ID, {} by TLS 1.3 PSK{}",
        h.full,
        h.resumed_ticket,
        h.resumed_session_id,
        h.resumed_psk,
        if h.unknown > 0 {
            format!(", {} without a visible answer", h.unknown)
        } else {
            String::new()
        }
    )?;
    if h.zero_rtt_sent > 0 {
        writeln!(
            out,
            "  0-RTT sent (early data) on {} connection{}",
            h.zero_rtt_sent,
            plural(h.zero_rtt_sent)
        )?;
    }
    if let Some(l) = &s.lifetime_hint_seconds {
        if l.min == l.max {
            writeln!(
                out,
                "  ticket lifetime hint: {} s ({})",
                l.max,
                crate::time::human_duration(l.max as i64)
            )?;
        } else {
            writeln!(out, "  ticket lifetime hint: {} s to {} s", l.min, l.max)?;
        }
    }
    if s.session_ids.established > 0 || s.session_ids.resumed > 0 {
        let age = s
            .session_ids
            .max_resumption_age_seconds
            .map(|a| format!(", oldest resumed after {}", crate::time::human_duration(a)))
            .unwrap_or_default();
        writeln!(
            out,
            "  session IDs: {} established, {} resumed{age}",
            s.session_ids.established, s.session_ids.resumed
        )?;
    }
    ticket_keys(s, out)
}

/// The table of a service's key names.
fn ticket_keys(s: &ServiceOut, out: &mut dyn Write) -> io::Result<()> {
    match s.key_name_len {
        None if s.ticket_keys.is_empty() => {
            writeln!(
                out,
                "  ticket keys: not observable (tickets share no key-name prefix)"
            )?;
        }
        _ if s.ticket_keys.is_empty() => writeln!(out, "  ticket keys: none seen")?,
        len => {
            writeln!(
                out,
                "  ticket keys (key name {} bytes, {}):",
                len.map_or("?".into(), |n| n.to_string()),
                s.key_name_len_source
            )?;
            writeln!(
                out,
                "    {:<34} {:<19} {:<19} {:>8} {:>6} {:>7} {:>8}",
                "key name", "first seen", "last seen", "span", "issued", "offered", "accepted"
            )?;
            for k in &s.ticket_keys {
                let span = crate::time::human_duration(k.seen_seconds);
                writeln!(
                    out,
                    "    {:<34} {:<19} {:<19} {:>8} {:>6} {:>7} {:>8}{}",
                    k.key_name,
                    short_time(k.first_seen.as_deref()),
                    short_time(k.last_seen.as_deref()),
                    span,
                    k.tickets_issued,
                    k.resumptions_offered,
                    k.resumptions_accepted,
                    ascii_hint(&k.key_name),
                )?;
            }
        }
    }
    Ok(())
}

fn alert(a: &AlertOut, out: &mut dyn Write) -> io::Result<()> {
    let subject = a.service.clone().unwrap_or_else(|| a.services.join(", "));
    writeln!(
        out,
        "  {:<8} {}  {}",
        a.severity.as_str().to_uppercase(),
        a.rule,
        clean(&subject)
    )?;
    writeln!(out, "           {}", clean(&a.message))?;
    for e in &a.evidence {
        writeln!(
            out,
            "           evidence: {} frame {} ({})",
            clean(&e.file),
            e.frame,
            e.time
        )?;
    }
    Ok(())
}

fn statistics(r: &Report, out: &mut dyn Write) -> io::Result<()> {
    let s = &r.statistics;
    writeln!(out)?;
    writeln!(
        out,
        "statistics: {} packets ({} bytes), {} TCP segments, {} connections ({} TLS, {} not TLS), \
         {} handshake messages, {} parse failures, {} gaps, {} resyncs",
        s.packets,
        s.bytes,
        s.tcp_segments,
        s.connections,
        s.tls_connections,
        s.not_tls_connections,
        s.handshake_messages,
        s.parse_failures,
        s.gaps,
        s.resyncs
    )?;
    let skipped = [
        (s.skipped_not_tcp, "not TCP"),
        (s.skipped_ip_fragments, "IP fragments"),
        (s.skipped_malformed, "malformed"),
        (s.skipped_unsupported_link_type, "unsupported link type"),
        (s.skipped_tunnel_malformed, "malformed tunnel headers"),
        (s.skipped_tunnel_depth, "tunnels nested too deep"),
        (s.truncated_packets, "cut by snaplen"),
        (s.dropped_flows_cap, "flows refused by --max-flows"),
        (s.discarded_bytes_cap, "bytes discarded by buffer caps"),
        (
            s.abandoned_handshakes_cap,
            "handshakes abandoned by --max-buffer-mib",
        ),
        (
            s.handshake_messages_cap,
            "connections past the handshake-message cap",
        ),
        (
            s.dropped_by_service_caps + s.dropped_services_cap,
            "entries refused by per-service caps",
        ),
        (s.skipped_capture_blocks, "capture blocks skipped"),
    ];
    let parts: Vec<String> = skipped
        .iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, what)| format!("{n} {what}"))
        .collect();
    if !parts.is_empty() {
        writeln!(out, "skipped: {}", parts.join(", "))?;
    }
    quic_statistics(s, out)
}

/// The QUIC counters, on their own line when any QUIC was seen.
fn quic_statistics(s: &crate::stats::Stats, out: &mut dyn Write) -> io::Result<()> {
    if s.quic_datagrams == 0 {
        return Ok(());
    }
    let parts = [
        (s.quic_packets, "long-header packets"),
        (s.quic_connections, "connections"),
        (s.quic_initials_decrypted, "Initials decrypted"),
        (s.quic_undecryptable, "Initials not decrypted"),
        (s.quic_malformed, "malformed headers"),
        (s.quic_malformed_frames, "malformed frames"),
        (s.quic_unknown_version, "unknown versions"),
        (s.quic_version_negotiation, "version negotiations"),
        (s.quic_retry, "retries"),
        (s.quic_zero_rtt_packets, "0-RTT packets"),
        (s.quic_crypto_duplicates, "duplicate CRYPTO frames"),
        (s.quic_crypto_refused, "CRYPTO frames refused by caps"),
        (
            s.quic_dropped_flows_cap,
            "connections refused by the table cap",
        ),
    ];
    let parts: Vec<String> = parts
        .iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, what)| format!("{n} {what}"))
        .collect();
    writeln!(
        out,
        "quic: {} datagrams, {}",
        s.quic_datagrams,
        parts.join(", ")
    )
}

fn plural(n: u64) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// `2026-11-01T00:00:00.123456Z` → `2026-11-01 00:00:00`.
fn short_time(t: Option<&str>) -> String {
    match t {
        Some(t) if t.len() >= 19 => t[..19].replace('T', " "),
        Some(t) => t.to_string(),
        None => "-".to_string(),
    }
}

/// Shows a key name as text too when it is printable ASCII (operators often choose such names).
fn ascii_hint(hex: &str) -> String {
    let bytes: Option<Vec<u8>> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect();
    match bytes {
        Some(b) if !b.is_empty() && b.iter().all(|c| c.is_ascii_graphic()) => {
            format!("  \"{}\"", String::from_utf8_lossy(&b))
        }
        _ => String::new(),
    }
}
