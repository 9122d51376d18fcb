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
    } else {
        verdicts(r, out)?;
    }
    for s in &r.services {
        service(s, out)?;
    }
    writeln!(out)?;
    let undetermined = r
        .services
        .iter()
        .filter(|s| s.verdict.kind == "undetermined")
        .count();
    if r.alerts.is_empty() && undetermined > 0 {
        writeln!(
            out,
            "No alerts, but this is not a clean bill of health: {undetermined} service{} \
             undetermined (too little seen to judge; see VERDICTS).",
            if undetermined == 1 { " is" } else { "s are" }
        )?;
    } else if r.alerts.is_empty() {
        writeln!(out, "No alerts.")?;
    } else {
        writeln!(out, "ALERTS ({})", r.alerts.len())?;
        let mut shown: Vec<(Option<&str>, &str)> = Vec::new();
        for a in &r.alerts {
            // A service's fix is printed once, with its first alert.
            let fix = a.fix.as_deref().filter(|f| {
                let k = (a.service.as_deref(), *f);
                let new = !shown.contains(&k);
                shown.push(k);
                new
            });
            alert(a, fix, out)?;
        }
    }
    statistics(r, out)
}

/// One line per service: its verdict and why, worst first.
fn verdicts(r: &Report, out: &mut dyn Write) -> io::Result<()> {
    let rank = |k: &str| match k {
        "not-rotated" => 0,
        "undetermined" => 1,
        "not-observable" => 2,
        "rotating" => 3,
        _ => 4,
    };
    let mut list: Vec<&ServiceOut> = r.services.iter().collect();
    list.sort_by_key(|s| (rank(s.verdict.kind), s.service.clone()));
    let width = list
        .iter()
        .map(|s| clean(&s.service).chars().count())
        .max()
        .unwrap_or(0)
        .min(40);
    writeln!(out, "\nVERDICTS")?;
    for s in list {
        writeln!(
            out,
            "  {:<14} {:<width$}  {}",
            s.verdict.kind,
            clean(&s.service),
            clean(&s.verdict.reason),
        )?;
    }
    Ok(())
}

fn stat(s: &super::json::StatOut) -> String {
    let d = crate::time::human_duration;
    if s.min == s.max {
        d(s.median)
    } else {
        format!("{} (min {}, max {})", d(s.median), d(s.min), d(s.max))
    }
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
    if let Some(r) = &s.rotation {
        let mut parts = Vec::new();
        match &r.period_seconds {
            Some(p) if r.rotations > 0 => parts.push(format!(
                "a new key every {}, {} rotation{}{}",
                stat(p),
                r.rotations,
                plural(r.rotations),
                if r.rotations_counted_by == "key-number" {
                    " (counted by the key number)"
                } else {
                    ""
                }
            )),
            _ => parts.push("no rotation seen".to_string()),
        }
        if let Some(w) = r.decrypt_window_seconds.as_ref().filter(|w| w.max > 0) {
            parts.push(format!(
                "old keys still accepted at least {} after their successor",
                stat(w)
            ));
        }
        if r.next_key_accepted_early {
            parts.push("next key accepted before it issued (pre-distributed)".to_string());
        }
        if let Some(k) = &r.host_skew_seconds {
            let late = r
                .latest_host
                .as_ref()
                .map(|l| format!(", latest {}", l.address))
                .unwrap_or_default();
            parts.push(format!("hosts switch up to {} apart{late}", stat(k)));
        }
        writeln!(out, "  rotation: {}", parts.join("; "))?;
    }
    if let Some(u) = &s.unnamed_tickets {
        let age = u
            .oldest_accepted_ticket_age_seconds
            .map(|a| format!(", oldest accepted {} old", crate::time::human_duration(a)))
            .unwrap_or_default();
        writeln!(
            out,
            "  tickets without key names: {} issued, {} accepted, {} rejected{age}",
            u.tickets_issued, u.resumptions_accepted, u.rejected
        )?;
    }
    if let Some(g) = &s.server_guess {
        let names: Vec<&str> = g
            .families
            .iter()
            .map(|id| crate::rules::family::family(id).map_or(*id, |f| f.name))
            .collect();
        let conf = match g.confidence {
            crate::rules::family::Confidence::High => "high",
            crate::rules::family::Confidence::Medium => "medium",
            crate::rules::family::Confidence::Low => "low",
        };
        writeln!(
            out,
            "  server: probably {} ({conf} confidence: {})",
            names.join(" or "),
            g.basis.join(", ")
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
                "    {:<34} {:<19} {:<19} {:>8} {:>6} {:>8} {:>8} {:>7} {:>7}",
                "key name",
                "first seen",
                "last seen",
                "span",
                "issued",
                "accepted",
                "rejected",
                "offered",
                "exposed"
            )?;
            for k in &s.ticket_keys {
                // Server evidence dates a key; a key only clients presented shows their times.
                let (first, last, span) = match &k.server_seen {
                    Some(sp) => (
                        short_time(Some(&sp.first)),
                        short_time(Some(&sp.last)),
                        crate::time::human_duration(k.server_seen_seconds),
                    ),
                    None => (
                        short_time(k.first_seen.as_deref()),
                        short_time(k.last_seen.as_deref()),
                        "offered".to_string(),
                    ),
                };
                writeln!(
                    out,
                    "    {:<34} {:<19} {:<19} {:>8} {:>6} {:>8} {:>8} {:>7} {:>7}{}",
                    k.key_name,
                    first,
                    last,
                    span,
                    k.tickets_issued,
                    k.resumptions_accepted,
                    k.rejected,
                    k.resumptions_offered.saturating_sub(k.resumptions_accepted),
                    k.exposure.sessions,
                    ascii_hint(&k.key_name),
                )?;
            }
        }
    }
    Ok(())
}

fn alert(a: &AlertOut, fix: Option<&str>, out: &mut dyn Write) -> io::Result<()> {
    let subject = a.service.clone().unwrap_or_else(|| a.services.join(", "));
    writeln!(
        out,
        "  {:<8} {}  {}",
        a.severity.as_str().to_uppercase(),
        a.rule,
        clean(&subject)
    )?;
    writeln!(out, "           {}", clean(&a.message))?;
    match fix {
        Some(fix) => writeln!(out, "           fix: {}", clean(fix))?,
        None if a.fix.is_some() => writeln!(out, "           fix: as above")?,
        None => {}
    }
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
        (s.prelude_refused, "STARTTLS refused by the server"),
        (
            s.prelude_unanswered,
            "STARTTLS or ClientHello without the server's acceptance",
        ),
        (
            s.prelude_no_tls,
            "STARTTLS-capable sessions left in cleartext",
        ),
        (
            s.prelude_over_cap,
            "preludes past the cleartext cap without TLS",
        ),
        (s.prelude_gap, "preludes cut by lost bytes"),
    ];
    let parts = nonzero(&skipped);
    if !parts.is_empty() {
        writeln!(out, "skipped: {}", parts.join(", "))?;
    }
    quic_statistics(s, out)?;
    secrets_statistics(s, out)
}

/// "N what" for each counter that is not zero.
fn nonzero(counts: &[(u64, &str)]) -> Vec<String> {
    counts
        .iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, what)| format!("{n} {what}"))
        .collect()
}

/// What the user's secrets opened, on their own line when any were given.
fn secrets_statistics(s: &crate::stats::Stats, out: &mut dyn Write) -> io::Result<()> {
    if s.keylog_lines == 0 && s.keylog_bad_lines == 0 && s.secrets_blocks == 0 {
        return Ok(());
    }
    let parts = [
        (s.keylog_bad_lines, "key log lines refused"),
        (s.keylog_overflow, "past the store's cap"),
        (s.secrets_blocks, "Decryption Secrets Blocks"),
        (s.secrets_other_blocks, "secrets blocks of other types"),
        (s.secrets_connections, "connections covered"),
        (s.secrets_opened, "records/packets opened"),
        (s.secrets_failures, "not opened"),
        (s.secrets_skipped, "skipped past caps"),
        (s.secrets_malformed, "malformed"),
    ];
    let parts = nonzero(&parts);
    writeln!(
        out,
        "secrets: {} key log lines, {}",
        s.keylog_lines,
        parts.join(", ")
    )
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
    let parts = nonzero(&parts);
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
