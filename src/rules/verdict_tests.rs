//! Verdicts and rotation figures on hand-built histories whose timing is known exactly: a
//! two-host fleet rotating hourly with one host late, a next key distributed early, Java's key
//! numbers, and the cases that must stay `undetermined`.

use super::policy::Stat;
use super::verdict::VerdictKind;
use super::*;
use crate::evidence::Evidence;
use crate::time::Timestamp;
use crate::tls::conn::{ConnSummary, Issued};
use crate::tls::handshake::{ClientHello, ServerHello};
use crate::tls::ticket::TicketRef;
use crate::tracker::view::ServiceView;
use crate::tracker::Tracker;

const T0: i64 = 1_793_491_200;
const HOUR: i64 = 3600;

fn at(secs: i64) -> Evidence {
    Evidence {
        time: Timestamp::from_parts(T0 + secs, 0),
        file: 0,
        frame: secs as u64 + 1,
    }
}

/// A ticket under key `name` (16 bytes), told apart by `n`.
fn ticket(name: &[u8], n: u32) -> TicketRef {
    let mut t = name.to_vec();
    t.extend(
        n.to_be_bytes()
            .iter()
            .cycle()
            .take(16)
            .enumerate()
            .map(|(i, b)| b ^ i as u8),
    );
    t.extend([0xee; 80]);
    TicketRef::new(&t)
}

/// Key names that differ from their first byte on, as random ones do (names sharing a long
/// prefix would read, with two tickets, as one key with a shorter name).
fn key(i: usize) -> Vec<u8> {
    format!("{i:02}-fleet-key-00!").into_bytes()
}

struct Fleet {
    t: Tracker,
    n: u32,
}

impl Fleet {
    fn new() -> Self {
        Fleet {
            t: Tracker::new(),
            n: 0,
        }
    }

    fn conn(&self, host: &str, secs: i64, ch: ClientHello) -> ConnSummary {
        let mut ch = ch;
        ch.sni = Some("fleet.test".into());
        let mut c = ConnSummary::new("198.51.100.9:40000".parse().unwrap(), host.parse().unwrap());
        c.offer = Some((ch, at(secs)));
        c.answer = Some((
            ServerHello {
                version: 0x0303,
                ..Default::default()
            },
            at(secs),
        ));
        c
    }

    /// A full TLS 1.2 handshake at `host` issuing a ticket under `name`; `offered`: the
    /// ticket the client presented (and the server rejected).
    fn full(
        &mut self,
        host: &str,
        secs: i64,
        name: &[u8],
        offered: Option<TicketRef>,
    ) -> TicketRef {
        let ch = ClientHello {
            ticket: Some(offered),
            ..Default::default()
        };
        let mut c = self.conn(host, secs, ch);
        c.full_flight = true;
        self.n += 1;
        let t = ticket(name, self.n);
        c.tickets.push(Issued {
            lifetime_hint: 3600,
            ticket: t,
            at: at(secs),
            check: Default::default(),
        });
        self.t.observe(&c);
        t
    }

    /// A TLS 1.2 resumption at `host` accepting `t`.
    fn resume(&mut self, host: &str, secs: i64, t: TicketRef) {
        let ch = ClientHello {
            ticket: Some(Some(t)),
            session_id: vec![7; 32],
            ..Default::default()
        };
        let mut c = self.conn(host, secs, ch);
        if let Some((sh, _)) = &mut c.answer {
            sh.session_id = vec![7; 32];
        }
        c.server_ccs = Some(at(secs));
        self.t.observe(&c);
    }

    fn assess(&self) -> (Assessment, Vec<Alert>) {
        let views: Vec<ServiceView<'_>> = self
            .t
            .services
            .iter()
            .map(|(n, s)| ServiceView::new(n, s, None))
            .collect();
        assert_eq!(views.len(), 1);
        let th = Thresholds::default();
        (assess(&views[0], &th), evaluate(&views, &th))
    }
}

const H1: &str = "192.0.2.1:443";
const H2: &str = "192.0.2.2:443";

/// Host 1 switches to key h at h:00, host 2 at h:10; each keeps the previous key for
/// decryption. Every 5 minutes each host issues a ticket; at h:05 a ticket host 1 just issued
/// is presented to host 2 (rejected: host 2 does not have the key yet); at h:30 a ticket
/// of the previous hour is resumed on host 1 (accepted: decrypt-only key).
fn skewed_fleet(hours: usize) -> Fleet {
    let mut f = Fleet::new();
    let mut previous: Option<TicketRef> = None;
    for h in 0..hours {
        let base = h as i64 * HOUR;
        for m in (0..60).step_by(5) {
            let secs = base + m * 60 + 1;
            let t1 = f.full(H1, secs, &key(h), None);
            let k2 = if m < 10 && h > 0 { key(h - 1) } else { key(h) };
            let t2 = f.full(H2, secs + 1, &k2, None);
            if m == 5 && h > 0 {
                // Host 2 still on the old key: the new ticket is refused.
                f.full(H2, secs + 2, &k2, Some(t1));
            }
            if m == 30 {
                if let Some(old) = previous {
                    f.resume(H1, secs + 3, old);
                }
            }
            if m == 55 {
                previous = Some(t2);
            }
        }
    }
    f
}

#[test]
fn an_hourly_fleet_with_a_late_host_measures_period_window_and_skew() {
    let f = skewed_fleet(5);
    let (a, alerts) = f.assess();
    let r = a.rotation.expect("rotation measured");
    assert_eq!(r.rotations, 4);
    assert_eq!(
        r.period,
        Some(Stat {
            min: HOUR,
            median: HOUR,
            max: HOUR
        })
    );
    // The previous hour's key is accepted by host 1 at h:30 + 4 s, its successor first
    // issued by host 1 at h:00 + 1 s: at least 30 minutes and 3 seconds of decryption.
    assert_eq!(
        r.decrypt_window,
        Some(Stat {
            min: 30 * 60 + 3,
            median: 30 * 60 + 3,
            max: 30 * 60 + 3
        })
    );
    // Host 2 first issues key h at h:10 + 2 s, host 1 at h:00 + 1 s.
    assert_eq!(
        r.host_skew,
        Some(Stat {
            min: 601,
            median: 601,
            max: 601
        })
    );
    assert_eq!(
        r.worst_skew.as_ref().map(|w| w.late_host.to_string()),
        Some(H2.to_string())
    );
    assert!(!r.next_key_accepted_early());
    assert_eq!(a.verdict.kind, VerdictKind::Rotating);
    let rules: Vec<(&str, Severity, Vec<String>)> = alerts
        .iter()
        .map(|a| (a.rule, a.severity, a.addresses.clone()))
        .collect();
    assert_eq!(
        rules,
        [("ticket-rejected", Severity::Info, vec![H2.to_string()])]
    );
    assert!(
        alerts[0].message.contains("4 tickets"),
        "{}",
        alerts[0].message
    );
}

#[test]
fn a_key_accepted_before_it_issues_was_distributed_early() {
    let mut f = Fleet::new();
    // Host 1 issues the next key from 1:00; host 2 holds it as decrypt-only from 0:30 (it
    // accepts a host-1 ticket presented at 1:20) and issues it only from 2:00.
    let _ = f.full(H1, 1, &key(0), None);
    let _ = f.full(H2, 2, &key(0), None);
    let t = f.full(H1, HOUR, &key(1), None);
    // A host that accepts a key moments before it first issues it, with nothing older
    // issued in between, merely switched: not early.
    let mut only_switch = Fleet::new();
    let _ = only_switch.full(H2, 2, &key(0), None);
    let t1 = only_switch.full(H1, HOUR, &key(1), None);
    only_switch.resume(H2, HOUR + 20 * 60, t1);
    let _ = only_switch.full(H2, HOUR + 20 * 60 + 1, &key(1), None);
    assert_eq!(only_switch.assess().0.rotation.unwrap().early, None);
    f.resume(H2, HOUR + 20 * 60, t);
    // Still issuing the old key after accepting the new one: the new one was decrypt-only.
    let _ = f.full(H2, HOUR + 30 * 60, &key(0), None);
    let _ = f.full(H2, 2 * HOUR, &key(1), None);
    let (a, _) = f.assess();
    let r = a.rotation.unwrap();
    let early = r.early.expect("early key");
    assert_eq!(early.key, key(1));
    assert_eq!(early.accepted, at(HOUR + 20 * 60));
    assert_eq!(early.issued, at(2 * HOUR));
}

#[test]
fn java_key_numbers_count_rotations_not_seen() {
    let mut f = Fleet::new();
    // Key numbers 7, 9, 12 seen an hour apart each: 5 rotations, about every 24 and 20 minutes.
    for (i, num) in [7u32, 9, 12].iter().enumerate() {
        let secs = i as i64 * HOUR;
        let name = num.to_be_bytes();
        for j in 0..3 {
            f.n += 1;
            let mut raw = name.to_vec();
            raw.extend((0..12).map(|b| (f.n as u8).wrapping_mul(53).wrapping_add(b * 17)));
            raw.extend([0x55; 100]);
            let mut c = f.conn(H1, secs + j, ClientHello::default());
            c.full_flight = true;
            c.tickets.push(Issued {
                lifetime_hint: 86_400,
                ticket: TicketRef::new(&raw),
                at: at(secs + j),
                check: Default::default(),
            });
            f.t.observe(&c);
        }
    }
    let (a, _) = f.assess();
    let r = a.rotation.unwrap();
    assert!(r.counted_by_key_number);
    assert_eq!(r.rotations, 5);
    assert_eq!(
        r.period,
        Some(Stat {
            min: 1200,
            median: 1200,
            max: 1800
        })
    );
    let g = a.guess.unwrap();
    assert_eq!(g.families, ["java"]);
    assert_eq!(g.confidence, family::Confidence::High);
}

#[test]
fn one_key_seen_briefly_is_undetermined_and_says_how_long_to_watch() {
    let mut f = Fleet::new();
    let t = f.full(H1, 0, &key(0), None);
    f.resume(H1, 600, t);
    let (a, alerts) = f.assess();
    assert_eq!(a.verdict.kind, VerdictKind::Undetermined);
    assert!(
        a.verdict.reason.contains("watch at least 23h 50m more"),
        "{}",
        a.verdict.reason
    );
    assert!(alerts.is_empty());
}

#[test]
fn keys_seen_days_apart_but_each_briefly_are_undetermined_not_rotating() {
    let mut f = Fleet::new();
    for j in 0..2 {
        let _ = f.full(H1, j, &key(0), None);
        let _ = f.full(H1, 3 * 86_400 + j, &key(1), None);
    }
    let (a, alerts) = f.assess();
    assert_eq!(a.verdict.kind, VerdictKind::Undetermined);
    assert_eq!(a.rotation.unwrap().rotations, 1);
    assert!(alerts.is_empty());
}

#[test]
fn a_key_held_for_two_days_is_not_rotated_with_its_exposure() {
    let mut f = Fleet::new();
    let t = f.full(H1, 0, &key(0), None);
    f.resume(H1, 86_400, t);
    let _ = f.full(H1, 2 * 86_400, &key(0), None);
    let (a, alerts) = f.assess();
    assert_eq!(a.verdict.kind, VerdictKind::NotRotated);
    // Two tickets issued, one resumption accepted.
    assert!(
        a.verdict
            .reason
            .contains("exposes at least 3 recorded sessions"),
        "{}",
        a.verdict.reason
    );
    let not_rotated = alerts
        .iter()
        .find(|a| a.rule == "stek-not-rotated")
        .unwrap();
    assert!(
        not_rotated
            .message
            .contains("exposes at least 3 recorded sessions over 2d"),
        "{}",
        not_rotated.message
    );
    assert!(not_rotated.fix.is_some());
}

#[test]
fn median_is_a_measured_value() {
    assert_eq!(
        Stat::of(vec![5, 1, 3, 9]),
        Some(Stat {
            min: 1,
            median: 3,
            max: 9
        })
    );
    assert_eq!(Stat::of(vec![]), None);
}
