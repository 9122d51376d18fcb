//! One verdict per service: does it rotate its ticket keys, and how sure can we be? A verdict of
//! health needs evidence: a service seen too briefly, or with too few tickets, is
//! `undetermined` and says how much longer to watch.

use super::policy::Rotation;
use super::{dur, key_label, Thresholds};
use crate::tracker::view::ServiceView;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum VerdictKind {
    /// A key was held longer than `--max-key-age`.
    NotRotated,
    /// Too little seen to judge (never shown as healthy).
    Undetermined,
    /// Tickets carry no key name: rotation cannot be seen.
    NotObservable,
    /// New keys appear, none held longer than `--max-key-age`.
    Rotating,
    /// No tickets issued or accepted.
    NoResumption,
}

impl VerdictKind {
    pub fn as_str(self) -> &'static str {
        match self {
            VerdictKind::NotRotated => "not-rotated",
            VerdictKind::Undetermined => "undetermined",
            VerdictKind::NotObservable => "not-observable",
            VerdictKind::Rotating => "rotating",
            VerdictKind::NoResumption => "no-resumption",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verdict {
    pub kind: VerdictKind,
    pub reason: String,
}

fn verdict(kind: VerdictKind, reason: String) -> Verdict {
    Verdict { kind, reason }
}

pub fn judge(view: &ServiceView<'_>, rotation: Option<&Rotation>, t: &Thresholds) -> Verdict {
    // The key held longest by the server.
    let longest = view
        .keys
        .iter()
        .filter_map(|(name, k)| k.held().map(|(span, how)| (span.seconds(), name, how, k)))
        .max_by_key(|(secs, name, _, _)| (*secs, std::cmp::Reverse(name.to_vec())));
    if let Some((secs, name, how, k)) = longest {
        if secs > t.max_key_age {
            return verdict(
                VerdictKind::NotRotated,
                format!(
                    "key {} was {how} over {} (the limit is {}); a leak of it exposes at least {} \
                     recorded session{}.",
                    key_label(name),
                    dur(secs),
                    dur(t.max_key_age),
                    k.exposed_sessions(),
                    plural(k.exposed_sessions()),
                ),
            );
        }
    }
    if let Some(r) = rotation.filter(|r| r.rotations > 0) {
        let period = r.period.map_or(0, |p| p.median);
        if period <= t.max_key_age || r.counted_by_key_number {
            let window = r
                .decrypt_window
                .map(|w| {
                    format!(
                        "; old keys still accepted at least {} after their successor",
                        dur(w.max)
                    )
                })
                .unwrap_or_default();
            return verdict(
                VerdictKind::Rotating,
                format!(
                    "a new key about every {} ({} rotation{} seen, keys dated by {} tickets){window}.",
                    dur(period),
                    r.rotations,
                    plural(r.rotations),
                    r.basis.as_str(),
                ),
            );
        }
        return verdict(
            VerdictKind::Undetermined,
            format!(
                "{} keys seen about {} apart, each only briefly: whether one stayed in use for \
                 more than {} in between was not seen; watch without gaps.",
                r.sequence.len(),
                dur(period),
                dur(t.max_key_age),
            ),
        );
    }
    if let Some((_, name, _, k)) = longest {
        // Everything the server showed of the key, issued or accepted.
        let (secs, how) = k
            .server_seen()
            .map_or((0, "seen"), |s| (s.seconds(), "in use"));
        let more = t.max_key_age.saturating_sub(secs).max(0);
        return verdict(
            VerdictKind::Undetermined,
            format!(
                "one key ({}) {how} over {} only; watch at least {} more to tell whether it \
                 rotates.",
                key_label(name),
                dur(secs),
                dur(more),
            ),
        );
    }
    if let Some(k) = &view.unobservable {
        if k.server_seen().is_some() {
            let window = k
                .stalest()
                .map(|m| {
                    format!(
                        "; the oldest ticket seen accepted was {} old",
                        dur(m.age_secs)
                    )
                })
                .unwrap_or_else(|| "; no ticket was seen both issued and accepted".into());
            return verdict(
                VerdictKind::NotObservable,
                format!(
                    "tickets carry no key name (as with Go 1.21+, Caddy or stateful tickets), so \
                     rotation cannot be seen{window}."
                ),
            );
        }
    }
    let h = &view.svc.handshakes;
    let tls12_full = view.svc.versions.contains(&0x0303) && h.full > 0;
    let offered: u64 = view
        .keys
        .values()
        .chain(view.unobservable.iter())
        .map(|k| k.rejected)
        .sum();
    if tls12_full || offered > 0 || h.resumed_session_id > 0 {
        let cache = if h.resumed_session_id > 0 {
            format!(
                "; {} resumption{} by session ID (a server-side cache)",
                h.resumed_session_id,
                plural(h.resumed_session_id)
            )
        } else {
            String::new()
        };
        return verdict(
            VerdictKind::NoResumption,
            format!(
                "no session tickets issued or accepted over {} handshake{}{cache}.",
                h.full + h.resumed_session_id + h.unknown,
                plural(h.full + h.resumed_session_id + h.unknown),
            ),
        );
    }
    verdict(
        VerdictKind::Undetermined,
        "no ticket seen: TLS 1.3 tickets are issued encrypted and no client resumed; watch until \
         clients resume."
            .to_string(),
    )
}

fn plural(n: u64) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}
