//! Rules about time: keys kept too long, old tickets accepted, long lifetimes and caches.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use super::{dur, key_label, Alert, Severity, Thresholds};
use crate::evidence::Evidence;
use crate::tracker::view::ServiceView;
use crate::tracker::Span;

/// `stek-not-rotated`: one key held over more than `max_key_age`.
pub fn stek_not_rotated(view: &ServiceView<'_>, t: &Thresholds, out: &mut Vec<Alert>) {
    for (name, k) in &view.keys {
        let Some((span, how)) = k.held() else {
            continue;
        };
        let Some(sev) = t.age_severity(span.seconds()) else {
            continue;
        };
        let exposed = k.exposed_sessions();
        let msg = format!(
            "{} used ticket key {} for {} ({} from {} to {}) without rotating it: a leak of this \
             key at its last sighting exposes at least {} recorded session{} over {}.",
            view.name,
            key_label(name),
            dur(span.seconds()),
            how,
            span.first.time,
            span.last.time,
            exposed,
            if exposed == 1 { "" } else { "s" },
            dur(k.server_seen().map_or(span.seconds(), |s| s.seconds())),
        );
        let mut a = Alert::for_service("stek-not-rotated", sev, view, msg)
            .key(name)
            .seen(span.first.time, span.last.time)
            .evidence(&[span.first, span.last]);
        a.age_seconds = Some(span.seconds());
        out.push(a);
    }
}

/// `stale-ticket-accepted`: a resumption accepted with a ticket older than `max_ticket_age`,
/// measured from that ticket's own issuance (so it also holds without key names).
pub fn stale_ticket_accepted(view: &ServiceView<'_>, t: &Thresholds, out: &mut Vec<Alert>) {
    let named = view.keys.iter().map(|(n, k)| (Some(n.as_slice()), k));
    let unnamed = view.unobservable.iter().map(|k| (None, k));
    for (name, k) in named.chain(unnamed) {
        let Some(st) = k.stalest() else { continue };
        let (age, accepted, issued) = (st.age_secs, st.accepted, st.issued);
        let Some(sev) = t.ticket_age_severity(age) else {
            continue;
        };
        let under = name.map_or_else(
            || "no key name".to_string(),
            |n| format!("key {}", key_label(n)),
        );
        let msg = format!(
            "{} resumed a session from a ticket it had issued {} earlier (on {}, {under}); tickets \
             should not be honoured past {}.",
            view.name,
            dur(age),
            issued.time,
            dur(t.max_ticket_age),
        );
        let mut a = Alert::for_service("stale-ticket-accepted", sev, view, msg)
            .seen(issued.time, accepted.time)
            .evidence(&[issued, accepted]);
        if let Some(n) = name {
            a = a.key(n);
        }
        a.age_seconds = Some(age);
        out.push(a);
    }
}

/// `ticket-lifetime-too-long`: TLS 1.2 lifetime hint above 24h (warning) or 7 days (critical);
/// one alert per service and hint, on the key that sent it first.
pub fn ticket_lifetime_too_long(view: &ServiceView<'_>, t: &Thresholds, out: &mut Vec<Alert>) {
    /// Keys that sent a hint, and the first one and where.
    type Senders<'a> = (usize, Option<(Evidence, Option<&'a [u8]>)>);
    let mut hints: BTreeMap<u32, Senders<'_>> = BTreeMap::new();
    let named = view.keys.iter().map(|(n, k)| (Some(n.as_slice()), k));
    let unnamed = view.unobservable.iter().map(|k| (None, k));
    for (name, k) in named.chain(unnamed) {
        let Some((hint, at)) = k.hint_max else {
            continue;
        };
        let e = hints.entry(hint).or_default();
        e.0 += 1;
        if e.1.is_none_or(|(first, _)| at < first) {
            e.1 = Some((at, name));
        }
    }
    for (hint, (keys, first)) in hints {
        let Some((at, name)) = first else { continue };
        let sev = if hint as i64 > t.lifetime_critical {
            Severity::Critical
        } else if hint as i64 > t.lifetime_warning {
            Severity::Warning
        } else {
            continue;
        };
        let msg = format!(
            "{} tells clients to keep tickets for {} (lifetime hint {} s, {} key{}), longer than {}.",
            view.name,
            dur(hint as i64),
            hint,
            keys,
            if keys == 1 { "" } else { "s" },
            if sev == Severity::Critical { "the 7-day maximum of RFC 8446" } else { "24 hours" },
        );
        let mut a = Alert::for_service("ticket-lifetime-too-long", sev, view, msg)
            .seen(at.time, at.time)
            .evidence(&[at]);
        if let Some(n) = name {
            a = a.key(n);
        }
        a.lifetime_hint_seconds = Some(hint);
        out.push(a);
    }
}

/// `ticket-rejected`: a host answered tickets under a key with full handshakes while the
/// service was still issuing that key: the key had not reached that host (late distribution,
/// clock skew). Availability, not secrecy: clients lose resumption, nothing leaks. Rejections
/// of keys the service no longer issues are normal expiry and do not count.
pub fn ticket_rejected(view: &ServiceView<'_>, out: &mut Vec<Alert>) {
    /// Rejections of current keys at one host: how many, under which keys, when.
    type Rejections<'a> = (u64, Vec<&'a [u8]>, Option<Span>);
    let mut by_host: BTreeMap<SocketAddr, Rejections<'_>> = BTreeMap::new();
    for (name, k) in &view.keys {
        let Some(issued) = k.issued.or(k.accepted) else {
            continue;
        };
        for (addr, u) in &k.hosts {
            let Some(rejected) = u.rejected else { continue };
            if rejected.first > issued.last || u.rejections == 0 {
                continue;
            }
            let e = by_host.entry(*addr).or_default();
            e.0 += u.rejections;
            e.1.push(name);
            Span::merge(&mut e.2, Some(rejected));
        }
    }
    for (addr, (count, keys, span)) in by_host {
        let Some(span) = span else { continue };
        let msg = format!(
            "{} at {addr} answered {count} ticket{} under {} with full handshakes while the \
             service was still issuing {}: the key reached this host late (distribution or clock \
             skew), so its clients lose resumption.",
            view.name,
            if count == 1 { "" } else { "s" },
            if keys.len() == 1 {
                format!("key {}", key_label(keys[0]))
            } else {
                format!("{} current keys", keys.len())
            },
            if keys.len() == 1 { "it" } else { "them" },
        );
        let mut a = Alert::for_service("ticket-rejected", Severity::Info, view, msg)
            .seen(span.first.time, span.last.time)
            .evidence(&[span.first, span.last]);
        a.addresses = vec![addr.to_string()];
        if keys.len() == 1 {
            a = a.key(keys[0]);
        }
        out.push(a);
    }
}

/// `session-cache-too-long`: a session-ID resumption more than 24h after establishment.
pub fn session_cache_too_long(view: &ServiceView<'_>, t: &Thresholds, out: &mut Vec<Alert>) {
    let Some((age, established, resumed)) = view.svc.session_cache_max() else {
        return;
    };
    if age <= t.session_cache_max {
        return;
    }
    let msg = format!(
        "{} resumed a cached session {} after it was established; session IDs should expire \
         within 24 hours.",
        view.name,
        dur(age)
    );
    let mut a = Alert::for_service("session-cache-too-long", Severity::Warning, view, msg)
        .seen(established.time, resumed.time)
        .evidence(&[established, resumed]);
    a.age_seconds = Some(age);
    out.push(a);
}
