//! Rules about how tickets are encrypted, from what the TLS stage's trial found
//! (`tls::weak`): tickets readable under a known-weak key or in clear (`weak-stek`), and
//! repeated IVs under one key (`ticket-iv-reuse`). Both are critical: either lets whoever
//! records the traffic read session secrets.

use super::{key_label, Alert, Severity};
use crate::tracker::view::ServiceView;

/// `weak-stek`: a ticket verified and decrypted under an all-zero key, or sent in clear.
pub fn weak_stek(view: &ServiceView<'_>, out: &mut Vec<Alert>) {
    for (name, k) in &view.keys {
        let Some((at, format)) = k.weak else { continue };
        let msg = if format.in_clear() {
            format!(
                "{} sends its session state in clear inside tickets under key {} (session state \
                 sent in clear): anyone on the path reads each session's master secret.",
                view.name,
                key_label(name)
            )
        } else {
            format!(
                "{} encrypts session tickets under key {} with an all-zero key ({}): anyone who \
                 records the traffic can decrypt every ticket, and with it the session's master \
                 secret. Install a random ticket key and rotate it.",
                view.name,
                key_label(name),
                format.label()
            )
        };
        let (first, last) = k.issued.map_or((at, at), |s| (s.first, s.last));
        let mut a = Alert::for_service("weak-stek", Severity::Critical, view, msg)
            .key(name)
            .seen(first.time, last.time)
            .evidence(&[at]);
        a.format = Some(format.label());
        out.push(a);
    }
}

/// `ticket-iv-reuse`: two different tickets under one key with the same IV or nonce.
pub fn ticket_iv_reuse(view: &ServiceView<'_>, out: &mut Vec<Alert>) {
    for (name, k) in &view.keys {
        let Some((first, second)) = k.iv_reuse else {
            continue;
        };
        let msg = format!(
            "{} issued two different tickets under key {} with the same IV: with a stream or \
             counter-mode cipher the keystream repeats, and their contents can be recovered.",
            view.name,
            key_label(name)
        );
        out.push(
            Alert::for_service("ticket-iv-reuse", Severity::Critical, view, msg)
                .key(name)
                .seen(first.time, second.time)
                .evidence(&[first, second]),
        );
    }
}
