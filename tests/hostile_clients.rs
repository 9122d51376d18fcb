//! Issue 11, "only server evidence judges": what any client can send — forged ClientHellos
//! with random tickets, tickets under a weak-looking name — must neither erase nor invent
//! findings, and a connection picked up at the server's NewSessionTicket is filed under the
//! server. Built by rewriting the real `static-key-weeks.pcap` (nginx, one key for 3 weeks).

mod support;

use support::rewrite::{payload, ports, Capture, Pkt};
use support::*;

const ETH: usize = 14;

/// Offsets of the session_ticket extension's body in a ClientHello record, if non-empty.
fn ticket_range(tls: &[u8]) -> Option<std::ops::Range<usize>> {
    if tls.len() < 9 || tls[0] != 22 || tls[5] != 1 {
        return None;
    }
    let mut p = 9 + 2 + 32;
    p += 1 + *tls.get(p)? as usize;
    p += 2 + u16::from_be_bytes([*tls.get(p)?, *tls.get(p + 1)?]) as usize;
    p += 1 + *tls.get(p)? as usize;
    let end = p + 2 + u16::from_be_bytes([*tls.get(p)?, *tls.get(p + 1)?]) as usize;
    p += 2;
    while p + 4 <= end.min(tls.len()) {
        let kind = u16::from_be_bytes([tls[p], tls[p + 1]]);
        let len = u16::from_be_bytes([tls[p + 2], tls[p + 3]]) as usize;
        if kind == 35 && len > 0 {
            return Some(p + 4..p + 4 + len);
        }
        p += 4 + len;
    }
    None
}

/// The first packet carrying a ClientHello that presents a ticket.
fn ticket_hello(c: &Capture) -> Pkt {
    c.packets
        .iter()
        .find(|p| ticket_range(payload(p)).is_some())
        .expect("a ClientHello presenting a ticket")
        .clone()
}

/// Copies of `hello` from `n` other client ports whose ticket is `fill(i)` byte for byte,
/// stamped just after the capture's last packet; the server never answers them.
fn forged(c: &Capture, hello: &Pkt, n: u16, fill: impl Fn(u16, usize) -> u8) -> Vec<Pkt> {
    let last = c.packets.last().unwrap();
    let ihl = (hello.data[ETH] & 0x0f) as usize * 4;
    let tcp = ETH + ihl;
    let start = hello.data.len() - payload(hello).len();
    let range = ticket_range(payload(hello)).unwrap();
    (0..n)
        .map(|i| {
            let mut p = hello.clone();
            p.ts_sec = last.ts_sec + 1 + u32::from(i);
            p.data[tcp..tcp + 2].copy_from_slice(&(60000 + i).to_be_bytes());
            for (j, at) in range.clone().enumerate() {
                p.data[start + at] = fill(i, j);
            }
            p
        })
        .collect()
}

fn pseudo_random(i: u16, j: usize) -> u8 {
    let x = (u64::from(i) << 32 | j as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    (x >> 56) as u8
}

#[test]
fn forged_client_hellos_with_random_tickets_do_not_erase_the_findings() {
    let clean = fixture_report("static-key-weeks.pcap");
    let mut c = Capture::read(&capture("static-key-weeks.pcap"));
    let hello = ticket_hello(&c);
    let extra = forged(&c, &hello, 12, pseudo_random);
    c.packets.extend(extra);
    let path = c.write("forged-random-tickets.pcap");
    let r = report(&[&path], &[]);
    assert_eq!(alerts(&r), alerts(&clean));
    let svc = service(&r, "static.test");
    assert_eq!(svc["key_name_len"], 16);
    assert_eq!(svc["key_name_len_source"], "inferred");
    let out = stekwatch(&["read", "--fail-on", "warning", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn offered_only_tickets_under_a_weak_looking_name_raise_no_warning() {
    let mut c = Capture::read(&capture("static-key-weeks.pcap"));
    let hello = ticket_hello(&c);
    // Tickets that start with 16 zero bytes, offered to the victim and never accepted.
    let extra = forged(
        &c,
        &hello,
        3,
        |i, j| {
            if j < 16 {
                0
            } else {
                pseudo_random(i, j)
            }
        },
    );
    c.packets.extend(extra);
    let r = report(&[&c.write("forged-zero-names.pcap")], &[]);
    let fired = alerts(&r);
    assert!(
        !fired
            .iter()
            .any(|a| a.starts_with("weak-key-name") || a.starts_with("stek-shared")),
        "{fired:?}"
    );
    // The offered key is listed, as offered only.
    let svc = service(&r, "static.test");
    let k = key(svc, &"00".repeat(16));
    assert_eq!(k["tickets_issued"], 0);
    assert_eq!(k["resumptions_accepted"], 0);
    assert_eq!(k["resumptions_offered"], 3);
}

#[test]
fn a_connection_picked_up_at_the_new_session_ticket_is_filed_under_the_server() {
    let mut c = Capture::read(&capture("static-key-weeks.pcap"));
    // The first connection, from the server's NewSessionTicket on: no SYN, no hellos.
    let client_port = ports(&c.packets[0]).0;
    let nst = c
        .packets
        .iter()
        .position(|p| ports(p).1 == client_port && contains_nst(payload(p)))
        .expect("the first connection's NewSessionTicket");
    c.packets = c.packets[nst..]
        .iter()
        .filter(|p| {
            let (s, d) = ports(p);
            s == client_port || d == client_port
        })
        .cloned()
        .collect();
    let r = report(&[&c.write("picked-up-at-nst.pcap")], &[]);
    let names: Vec<&str> = r["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["service"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["127.0.0.1:443"]);
    assert_eq!(keys(&r)["127.0.0.1:443"], vec![hexname("static-key-0001!")]);
}

/// Whether a run of records holds a NewSessionTicket (handshake type 4).
fn contains_nst(b: &[u8]) -> bool {
    let mut p = 0;
    while p + 5 < b.len() {
        if b[p] == 22 && b[p + 5] == 4 {
            return true;
        }
        p += 5 + u16::from_be_bytes([b[p + 3], b[p + 4]]) as usize;
    }
    false
}
