//! Rules about how keys and tickets are handled: sharing, weak names, known bugs, modes.

use std::collections::{BTreeMap, BTreeSet};

use super::{key_label, Alert, Severity};
use crate::tls::ticket::MIN_KEY_NAME_LEN;
use crate::tracker::view::ServiceView;
use crate::tracker::Span;

/// `stek-shared`: one key name used by several services.
pub fn stek_shared(views: &[ServiceView<'_>], out: &mut Vec<Alert>) {
    let mut users: BTreeMap<&[u8], Vec<(&ServiceView<'_>, Option<Span>)>> = BTreeMap::new();
    for view in views {
        for (name, k) in &view.keys {
            // A key only clients presented proves nothing about the servers.
            if name.len() >= MIN_KEY_NAME_LEN && k.server_seen().is_some() {
                users
                    .entry(name.as_slice())
                    .or_default()
                    .push((view, k.server_seen()));
            }
        }
    }
    for (name, list) in users {
        if list.len() < 2 {
            continue;
        }
        let services: Vec<String> = list.iter().map(|(v, _)| v.name.to_string()).collect();
        let addresses: BTreeSet<String> = list.iter().flat_map(|(v, _)| v.addresses()).collect();
        let hosts: BTreeSet<std::net::IpAddr> = list
            .iter()
            .flat_map(|(v, _)| v.svc.addresses.iter().map(|a| a.ip()))
            .collect();
        // Virtual hosts behind one address commonly share a key; across hosts it is a choice.
        let sev = if hosts.len() > 1 {
            Severity::Warning
        } else {
            Severity::Info
        };
        let mut span = None;
        for (_, s) in &list {
            Span::merge(&mut span, *s);
        }
        let msg = format!(
            "Ticket key {} is shared by {} services ({}) on {} host{}: one stolen key exposes \
             all of them, and a ticket issued by one is accepted by the others.",
            key_label(name),
            services.len(),
            services.join(", "),
            hosts.len(),
            if hosts.len() == 1 { "" } else { "s" },
        );
        out.push(Alert {
            rule: "stek-shared",
            severity: sev,
            service: None,
            sni: None,
            addresses: addresses.into_iter().collect(),
            tunnel: None,
            key_name: Some(name.to_vec()),
            first_seen: span.map(|s| s.first.time),
            last_seen: span.map(|s| s.last.time),
            message: msg,
            evidence: span.map(|s| vec![s.first, s.last]).unwrap_or_default(),
            age_seconds: None,
            lifetime_hint_seconds: None,
            services,
            format: None,
            fix: None,
        });
    }
}

/// `weak-key-name`: a key name of zeros or one repeated byte.
pub fn weak_key_name(view: &ServiceView<'_>, out: &mut Vec<Alert>) {
    for (name, k) in &view.keys {
        if name.len() < MIN_KEY_NAME_LEN || !name.iter().all(|b| *b == name[0]) {
            continue;
        }
        let what = if name[0] == 0 {
            "all zeros".to_string()
        } else {
            format!("the byte {:02x} repeated", name[0])
        };
        let Some(span) = k.server_seen() else {
            continue;
        };
        let msg = format!(
            "{} uses a ticket key named {} ({what}): a sign of an uninitialised or default ticket key.",
            view.name,
            key_label(name)
        );
        out.push(
            Alert::for_service("weak-key-name", Severity::Warning, view, msg)
                .key(name)
                .seen(span.first.time, span.last.time)
                .evidence(&[span.first]),
        );
    }
}

/// `ticketbleed`: CVE-2016-9244.
pub fn ticketbleed(view: &ServiceView<'_>, out: &mut Vec<Alert>) {
    let Some(at) = view.svc.ticketbleed else {
        return;
    };
    let msg = format!(
        "{} answered a short session ID with a 32-byte one that begins with it: the Ticketbleed \
         bug (CVE-2016-9244), which leaks server memory to any client.",
        view.name
    );
    out.push(
        Alert::for_service("ticketbleed", Severity::Critical, view, msg)
            .seen(at.time, at.time)
            .evidence(&[at]),
    );
}

/// `psk-without-fs`: TLS 1.3 resumption in psk_ke mode (no key_share).
pub fn psk_without_fs(view: &ServiceView<'_>, out: &mut Vec<Alert>) {
    for (name, k) in &view.keys {
        let Some(c) = k.psk_without_fs else { continue };
        let msg = format!(
            "{} resumed {} TLS 1.3 session{} under key {} without a key share (psk_ke): whoever \
             obtains the ticket key can decrypt them.",
            view.name,
            c.count,
            if c.count == 1 { "" } else { "s" },
            key_label(name)
        );
        out.push(
            Alert::for_service("psk-without-fs", Severity::Warning, view, msg)
                .key(name)
                .seen(c.first.time, c.first.time)
                .evidence(&[c.first]),
        );
    }
}

/// `early-data-offered`: ClientHellos offering 0-RTT data.
pub fn early_data_offered(view: &ServiceView<'_>, out: &mut Vec<Alert>) {
    for (name, k) in &view.keys {
        let Some(c) = k.early_data else { continue };
        let msg = format!(
            "Clients offered 0-RTT early data to {} {} time{} (tickets under key {}); early data \
             can be replayed by an attacker.",
            view.name,
            c.count,
            if c.count == 1 { "" } else { "s" },
            key_label(name)
        );
        out.push(
            Alert::for_service("early-data-offered", Severity::Info, view, msg)
                .key(name)
                .seen(c.first.time, c.first.time)
                .evidence(&[c.first]),
        );
    }
}

/// `key-not-observable`: tickets share no key-name prefix.
pub fn key_not_observable(view: &ServiceView<'_>, out: &mut Vec<Alert>) {
    let Some(k) = &view.unobservable else { return };
    let Some(span) = k.seen() else { return };
    let msg = format!(
        "The {} tickets of {} share no key-name prefix (as with Go's crypto/tls), so key \
         rotation cannot be judged from the wire.",
        view.distinct_tickets(),
        view.name
    );
    out.push(
        Alert::for_service("key-not-observable", Severity::Info, view, msg)
            .seen(span.first.time, span.last.time)
            .evidence(&[span.first]),
    );
}
