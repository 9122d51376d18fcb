//! The tracker's caps: many services, a full tracker, merged workers.

use super::*;
use crate::tls::conn::Issued;
use crate::tls::handshake::{ClientHello, ServerHello};
use crate::tls::ticket::TicketRef;

fn conn(i: u32) -> ConnSummary {
    let at = Evidence {
        frame: i as u64,
        ..Evidence::default()
    };
    let mut name = [0x6b; 16];
    name[..4].copy_from_slice(&i.to_be_bytes());
    let mut ticket = name.to_vec();
    ticket.extend_from_slice(&[i as u8; 64]);
    ConnSummary {
        client: "198.51.100.9:40000".parse().unwrap(),
        server: "192.0.2.1:443".parse().unwrap(),
        offer: Some((
            ClientHello {
                sni: Some(format!("svc-{i}.test")),
                ..Default::default()
            },
            at,
        )),
        sslv2_hello: None,
        answer: Some((
            ServerHello {
                version: 0x0303,
                session_id: i.to_be_bytes().to_vec(),
                ..Default::default()
            },
            at,
        )),
        hello_retry: false,
        tunnel: None,
        transport: Default::default(),
        zero_rtt_sent: None,
        decrypted: Default::default(),
        secrets_found: false,
        protocol: None,
        full_flight: true,
        server_ccs: None,
        tickets: vec![Issued {
            lifetime_hint: 7200,
            ticket: TicketRef::new(&ticket),
            at,
            check: Default::default(),
        }],
        tickets_dropped: 0,
        parse_errors: 0,
        handshake_messages: 5,
    }
}

#[test]
fn many_services_stop_at_the_memory_cap_and_are_counted() {
    let mut t = Tracker::new();
    let n = 20_000;
    for i in 0..n {
        t.observe(&conn(i));
    }
    assert!(t.services.len() < n as usize);
    assert_eq!(t.services.len() as u64 + t.dropped_services, n as u64);
    let one = t.services.values().next().unwrap().cost();
    assert!(t.approx_bytes() <= t.max_bytes + one);
    // The services kept are whole: their key and session were recorded.
    let svc = &t.services["svc-0.test"];
    assert_eq!(svc.keys.len(), 1);
    assert_eq!(svc.sessions_established, 1);
    assert_eq!(svc.sessions.len(), 1);
}

#[test]
fn a_full_tracker_still_counts_handshakes_of_known_services_but_adds_no_entries() {
    let mut t = Tracker::new();
    let mut i = 0;
    while t.approx_bytes() < t.max_bytes {
        t.observe(&conn(i));
        i += 1;
    }
    let before = t.approx_bytes();
    // svc-0 again, with a new key name: counted, but no new key is stored.
    let mut c = conn(0);
    c.tickets[0].ticket = TicketRef::new(&[0x42; 80]);
    t.observe(&c);
    let svc = &t.services["svc-0.test"];
    assert_eq!(svc.handshakes.full, 2);
    assert_eq!(svc.keys.len(), 1);
    assert!(svc.dropped >= 1);
    assert_eq!(t.approx_bytes(), before);
}

#[test]
fn merging_workers_respects_the_cap_of_the_merged_tracker() {
    let mut merged = Tracker::new();
    for w in 0..4u32 {
        let mut worker = Tracker::with_max_bytes(MAX_TRACKER_BYTES / 4);
        for i in 0..10_000 {
            worker.observe(&conn(w * 10_000 + i));
        }
        assert!(worker.dropped_services > 0);
        merged.merge(worker);
    }
    let one = merged.services.values().next().unwrap().cost();
    assert!(merged.approx_bytes() <= merged.max_bytes + one);
    assert_eq!(
        merged.services.len() as u64 + merged.dropped_services,
        40_000
    );
}

/// One service's connection issuing `ticket` at `frame`, with the trial's findings.
fn weak_conn(ticket: &[u8], frame: u64, check: crate::tls::weak::TicketCheck) -> ConnSummary {
    let mut c = conn(1);
    c.offer.as_mut().unwrap().0.sni = Some("weak.test".into());
    let at = Evidence {
        frame,
        ..Evidence::default()
    };
    c.tickets = vec![Issued {
        lifetime_hint: 7200,
        ticket: TicketRef::new(ticket),
        at,
        check,
    }];
    c
}

#[test]
fn weak_findings_and_repeated_ivs_merge_in_any_order() {
    use crate::tls::weak::{TicketCheck, WeakFormat};
    let name = *b"zero-stek-key-01";
    let t1 = [&name[..], &[1; 16], &[2; 64]].concat();
    let t2 = [&name[..], &[1; 16], &[3; 64]].concat();
    let weak = TicketCheck {
        weak: Some(WeakFormat::ZeroAes128),
        iv_hash: Some(42),
    };
    let a = weak_conn(&t1, 9, weak);
    let b = weak_conn(&t2, 37, weak);
    let run = |order: &[&ConnSummary]| {
        let mut merged = Tracker::new();
        for c in order {
            let mut one = Tracker::new();
            one.observe(c);
            merged.merge(one);
        }
        let svc = &merged.services["weak.test"];
        let view = view::ServiceView::new("weak.test", svc, None);
        let k = view.keys[&name.to_vec()].clone();
        (
            k.weak.map(|(e, f)| (e.frame, f)),
            k.iv_reuse.map(|(x, y)| (x.frame, y.frame)),
        )
    };
    let want = (Some((9, WeakFormat::ZeroAes128)), Some((9, 37)));
    assert_eq!(run(&[&a, &b]), want);
    assert_eq!(run(&[&b, &a]), want);
    // The same ticket seen twice is no reuse.
    assert_eq!(run(&[&a, &a]).1, None);
}

/// Issue 11: counting on from a loaded history whose counters are at their maximum (a state
/// file that says so) saturates instead of wrapping or panicking.
#[test]
fn counting_on_from_saturated_counters_stays_saturated() {
    let mut t = Tracker::new();
    t.observe(&conn(1));
    let svc = t.services.get_mut("svc-1.test").unwrap();
    svc.handshakes.full = u64::MAX;
    svc.sessions_established = u64::MAX;
    for k in svc.keys.values_mut() {
        k.tickets_issued = u64::MAX;
    }
    t.observe(&conn(1));
    let svc = &t.services["svc-1.test"];
    assert_eq!(svc.handshakes.full, u64::MAX);
    assert_eq!(svc.sessions_established, u64::MAX);
    assert!(svc.keys.values().all(|k| k.tickets_issued == u64::MAX));
}
