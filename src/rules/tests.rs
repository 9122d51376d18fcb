//! Rules on hand-built connection summaries: the rules whose triggers no bundled server can
//! produce (Ticketbleed, psk_ke resumption, Go-style nameless tickets, 4-byte key ids).

use super::*;
use crate::evidence::Evidence;
use crate::time::Timestamp;
use crate::tls::conn::{ConnSummary, Issued};
use crate::tls::handshake::{ClientHello, ServerHello};
use crate::tls::ticket::TicketRef;
use crate::tracker::view::ServiceView;
use crate::tracker::Tracker;

const T0: i64 = 1_793_491_200;

fn at(secs: i64) -> Evidence {
    Evidence {
        time: Timestamp::from_parts(T0 + secs, 0),
        file: 0,
        frame: secs as u64 + 1,
    }
}

fn conn(sni: &str, ch: ClientHello, sh: ServerHello, secs: i64) -> ConnSummary {
    let mut ch = ch;
    ch.sni = Some(sni.to_string());
    let mut c = ConnSummary::new(
        "198.51.100.9:40000".parse().unwrap(),
        "192.0.2.1:443".parse().unwrap(),
    );
    c.offer = Some((ch, at(secs)));
    c.answer = Some((sh, at(secs)));
    c
}

fn ticket(name: &[u8], n: u8) -> TicketRef {
    let mut t = name.to_vec();
    t.extend((0..16).map(|i| n.wrapping_mul(31).wrapping_add(i * 7)));
    t.extend([0xee; 64]);
    TicketRef::new(&t)
}

fn alerts_of(tracker: &Tracker) -> Vec<(String, Severity)> {
    let views: Vec<ServiceView<'_>> = tracker
        .services
        .iter()
        .map(|(n, s)| ServiceView::new(n, s, None))
        .collect();
    evaluate(&views, &Thresholds::default())
        .into_iter()
        .map(|a| (a.rule.to_string(), a.severity))
        .collect()
}

#[test]
fn ticketbleed_server_raises_a_critical_alert() {
    let mut t = Tracker::new();
    let ch = ClientHello {
        session_id: vec![1, 2, 3, 4],
        ticket: Some(Some(ticket(b"bleeding-server!", 1))),
        ..Default::default()
    };
    let mut sid = vec![1, 2, 3, 4];
    sid.extend([0x5a; 28]);
    let mut c = conn(
        "bleed.test",
        ch,
        ServerHello {
            version: 0x0303,
            session_id: sid,
            ..Default::default()
        },
        0,
    );
    c.server_ccs = Some(at(0));
    t.observe(&c);
    assert_eq!(
        alerts_of(&t),
        vec![("ticketbleed".to_string(), Severity::Critical)]
    );
}

#[test]
fn psk_ke_resumption_without_key_share_is_a_warning() {
    let mut t = Tracker::new();
    let ch = ClientHello {
        psk_identities: vec![ticket(b"psk-ke-only-key!", 1)],
        psk_modes: vec![0],
        ..Default::default()
    };
    let sh = ServerHello {
        version: 0x0304,
        selected_psk: Some(0),
        key_share: false,
        ..Default::default()
    };
    t.observe(&conn("pskke.test", ch, sh, 0));
    assert_eq!(
        alerts_of(&t),
        vec![("psk-without-fs".to_string(), Severity::Warning)]
    );
}

#[test]
fn go_tickets_without_key_names_are_not_observable_and_never_rotating() {
    let mut t = Tracker::new();
    for i in 0..12u8 {
        // Go's crypto/tls: the ticket starts with a random IV, no key name.
        let iv: Vec<u8> = (0..16u8)
            .map(|j| i.wrapping_mul(97).wrapping_add(j.wrapping_mul(41)) ^ j.wrapping_mul(i))
            .collect();
        let mut c = conn(
            "go.test",
            ClientHello::default(),
            ServerHello {
                version: 0x0303,
                ..Default::default()
            },
            i as i64 * 86_400,
        );
        c.full_flight = true;
        c.tickets.push(Issued {
            lifetime_hint: 604_800,
            ticket: TicketRef::new(&[iv, vec![9; 80]].concat()),
            at: at(i as i64 * 86_400),
            check: Default::default(),
        });
        t.observe(&c);
    }
    // The lifetime hint is the server's promise whether or not keys have names.
    assert_eq!(
        alerts_of(&t),
        vec![
            ("ticket-lifetime-too-long".to_string(), Severity::Warning),
            ("key-not-observable".to_string(), Severity::Info),
        ]
    );
}

#[test]
fn four_byte_key_ids_kept_for_two_days_are_not_rotated() {
    let mut t = Tracker::new();
    for (i, day) in [0i64, 1, 2].iter().enumerate() {
        for n in 0..3u8 {
            let mut c = conn(
                "mbed.test",
                ClientHello::default(),
                ServerHello {
                    version: 0x0303,
                    ..Default::default()
                },
                day * 86_400,
            );
            c.full_flight = true;
            c.tickets.push(Issued {
                lifetime_hint: 3600,
                ticket: ticket(&[0, 0, 0, 42], (i as u8) * 10 + n),
                at: at(day * 86_400 + n as i64),
                check: Default::default(),
            });
            t.observe(&c);
        }
    }
    let svc = &t.services["mbed.test"];
    let view = ServiceView::new("mbed.test", svc, None);
    assert_eq!(view.key_len.bytes(), Some(4));
    assert_eq!(
        view.keys.keys().cloned().collect::<Vec<_>>(),
        vec![vec![0, 0, 0, 42]]
    );
    assert_eq!(
        alerts_of(&t),
        vec![("stek-not-rotated".to_string(), Severity::Warning)]
    );
}

#[test]
fn offered_but_rejected_old_tickets_never_raise_a_warning() {
    let mut t = Tracker::new();
    let old = ticket(b"someone-elses-k!", 1);
    for day in [0i64, 10] {
        let ch = ClientHello {
            ticket: Some(Some(old)),
            ..Default::default()
        };
        let mut c = conn(
            "strict.test",
            ch,
            ServerHello {
                version: 0x0303,
                ..Default::default()
            },
            day * 86_400,
        );
        c.full_flight = true;
        t.observe(&c);
    }
    assert!(alerts_of(&t).is_empty());
}

/// Issue 11, item 9: `stale-ticket-accepted` does not fall back to the key's first issuance.
/// A TLS 1.3 PSK whose NewSessionTicket was encrypted may have been issued a second before it
/// is used, under a key the server has issued for ten days: that age is the key's, and
/// `stek-not-rotated` reports it; the ticket's own age is unknown and raises nothing.
#[test]
fn an_accepted_ticket_whose_issuance_was_not_seen_proves_no_age() {
    let mut t = Tracker::new();
    let name = b"ten-days-key-01!";
    for (i, day) in [0i64, 10].iter().enumerate() {
        let mut c = conn(
            "psk.test",
            ClientHello::default(),
            ServerHello {
                version: 0x0303,
                ..Default::default()
            },
            day * 86_400,
        );
        c.full_flight = true;
        c.tickets.push(Issued {
            lifetime_hint: 3600,
            ticket: ticket(name, i as u8),
            at: at(day * 86_400),
            check: Default::default(),
        });
        t.observe(&c);
    }
    // Day 10: a PSK under that key, never seen issued, accepted.
    let ch = ClientHello {
        psk_identities: vec![ticket(name, 99)],
        ..Default::default()
    };
    let sh = ServerHello {
        version: 0x0304,
        selected_psk: Some(0),
        key_share: true,
        ..Default::default()
    };
    t.observe(&conn("psk.test", ch, sh, 10 * 86_400 + 5));
    assert_eq!(
        alerts_of(&t),
        vec![("stek-not-rotated".to_string(), Severity::Critical)]
    );
}
