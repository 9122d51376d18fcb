//! Rules about time: keys kept too long, old tickets accepted, long lifetimes and caches.

use super::{dur, key_label, Alert, Severity, Thresholds};
use crate::tracker::view::ServiceView;

/// `stek-not-rotated`: one key held over more than `max_key_age`.
pub fn stek_not_rotated(view: &ServiceView<'_>, t: &Thresholds, out: &mut Vec<Alert>) {
    for (name, k) in &view.keys {
        let Some((span, how)) = k.held() else {
            continue;
        };
        let Some(sev) = t.age_severity(span.seconds()) else {
            continue;
        };
        let msg = format!(
            "{} used ticket key {} for {} ({} from {} to {}) without rotating it: whoever obtains \
             this key can decrypt every recorded session whose ticket it protected.",
            view.name,
            key_label(name),
            dur(span.seconds()),
            how,
            span.first.time,
            span.last.time,
        );
        let mut a = Alert::for_service("stek-not-rotated", sev, view, msg)
            .key(name)
            .seen(span.first.time, span.last.time)
            .evidence(&[span.first, span.last]);
        a.age_seconds = Some(span.seconds());
        out.push(a);
    }
}

/// `stale-ticket-accepted`: a resumption accepted with a ticket older than `max_key_age`.
pub fn stale_ticket_accepted(view: &ServiceView<'_>, t: &Thresholds, out: &mut Vec<Alert>) {
    for (name, k) in &view.keys {
        let Some(st) = k.stalest() else { continue };
        let (age, accepted, issued) = (st.age_secs, st.accepted, st.issued);
        let Some(sev) = t.age_severity(age) else {
            continue;
        };
        let msg = format!(
            "{} resumed a session from a ticket it had issued {} earlier (on {}, key {}); tickets \
             should not be honoured past {}.",
            view.name,
            dur(age),
            issued.time,
            key_label(name),
            dur(t.max_key_age),
        );
        let mut a = Alert::for_service("stale-ticket-accepted", sev, view, msg)
            .key(name)
            .seen(issued.time, accepted.time)
            .evidence(&[issued, accepted]);
        a.age_seconds = Some(age);
        out.push(a);
    }
}

/// `ticket-lifetime-too-long`: TLS 1.2 lifetime hint above 24h (warning) or 7 days (critical).
pub fn ticket_lifetime_too_long(view: &ServiceView<'_>, t: &Thresholds, out: &mut Vec<Alert>) {
    for (name, k) in &view.keys {
        let Some((hint, at)) = k.hint_max else {
            continue;
        };
        let sev = if hint as i64 > t.lifetime_critical {
            Severity::Critical
        } else if hint as i64 > t.lifetime_warning {
            Severity::Warning
        } else {
            continue;
        };
        let msg =
            format!(
            "{} tells clients to keep tickets under key {} for {} (lifetime hint {} s), longer \
             than {}.",
            view.name,
            key_label(name),
            dur(hint as i64),
            hint,
            if sev == Severity::Critical { "the 7-day maximum of RFC 8446" } else { "24 hours" },
        );
        let mut a = Alert::for_service("ticket-lifetime-too-long", sev, view, msg)
            .key(name)
            .seen(at.time, at.time)
            .evidence(&[at]);
        a.lifetime_hint_seconds = Some(hint);
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
