//! Real fixture captures rewritten as a span port delivers them — reordered, duplicated,
//! split into small segments, with losses, one direction only — must give the answers the
//! clean capture gives, or exactly what the remaining bytes allow.

mod support;

use std::collections::BTreeMap;

use serde_json::Value;
use support::rewrite::{is_syn, payload, Capture};
use support::*;

/// The fixtures in classic pcap, Ethernet/IPv4 (rewritable), with their server port.
const FIXTURES: &[(&str, u16)] = &[
    ("static-key-weeks.pcap", 443),
    ("rotation-daily.pcap", 443),
    ("tls13-static-days.pcap", 8443),
    ("session-cache-only.pcap", 443),
    ("shared-key.pcap", 443),
    ("no-resumption.pcap", 443),
    ("weak-key.pcap", 443),
    ("early-data.pcap", 443),
    ("openssl-s-server.pcap", 4433),
    ("haproxy.pcap", 8444),
    ("gnutls-serv.pcap", 5556),
    ("hello-retry.pcap", 4434),
];

/// What must not change: per service the handshake counts and, per key, the counters; and the
/// alert set. (Frame numbers do change when segments are split.)
fn meaning(r: &Value) -> (BTreeMap<String, String>, std::collections::BTreeSet<String>) {
    let services = r["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let keys: Vec<String> = s["ticket_keys"]
                .as_array()
                .unwrap()
                .iter()
                .map(|k| {
                    format!(
                        "{} issued {} offered {} accepted {} oldest {}",
                        k["key_name"],
                        k["tickets_issued"],
                        k["resumptions_offered"],
                        k["resumptions_accepted"],
                        k["oldest_accepted_ticket_age_seconds"]
                    )
                })
                .collect();
            (
                s["service"].as_str().unwrap().to_string(),
                format!("{} {:?} {}", s["handshakes"], keys, s["session_ids"]),
            )
        })
        .collect();
    (services, alerts(r))
}

fn check_variant(name: &str, variant: &str, rewrite: impl Fn(Capture) -> Capture) {
    let clean = fixture_report(name);
    let path = rewrite(Capture::read(&capture(name))).write(&format!("{variant}-{name}"));
    let got = report(&[&path], &[]);
    assert_eq!(meaning(&got), meaning(&clean), "{variant} {name}");
    assert_eq!(got["statistics"]["parse_failures"], 0, "{variant} {name}");
}

#[test]
fn reordered_segments_give_the_clean_answer() {
    for (name, _) in FIXTURES {
        check_variant(name, "reordered", Capture::reorder);
    }
}

#[test]
fn duplicated_segments_give_the_clean_answer() {
    for (name, _) in FIXTURES {
        check_variant(name, "duplicated", Capture::duplicate);
    }
}

#[test]
fn segments_split_into_five_byte_pieces_give_the_clean_answer() {
    for (name, _) in FIXTURES {
        check_variant(name, "split5", |c| c.split(5));
    }
}

#[test]
fn split_reordered_and_duplicated_together_give_the_clean_answer() {
    for (name, _) in FIXTURES {
        check_variant(name, "mixed", |c| c.split(97).reorder().duplicate());
    }
}

#[test]
fn connections_picked_up_without_their_syn_give_the_clean_answer() {
    for (name, _) in FIXTURES {
        check_variant(name, "no-syn", |c| c.drop_where(|_, p| is_syn(p)));
    }
}

#[test]
fn ip_fragments_in_reverse_order_are_reassembled_into_the_clean_answer() {
    for (name, _) in FIXTURES {
        check_variant(name, "ipfrag", |c| c.ip_fragment(64));
    }
    let clean = Capture::read(&capture("weak-key.pcap"));
    let original = clean.packets.len();
    let fragmented = clean.ip_fragment(64);
    let datagrams = fragmented.packets.len() - original; // each split datagram adds >= 1 packet
    let path = fragmented.write("ipfrag-count.pcap");
    let r = report(&[&path], &[]);
    let s = &r["statistics"];
    assert!(s["ip_datagrams_reassembled"].as_u64().unwrap() > 0, "{s}");
    assert!(
        s["ip_datagrams_reassembled"].as_u64().unwrap() as usize <= datagrams,
        "{s}"
    );
    assert_eq!(s["ip_fragments_dropped"], 0);
}

#[test]
fn syn_ack_seen_before_syn_gives_the_clean_answer() {
    for (name, _) in FIXTURES {
        check_variant(name, "synack-first", Capture::syn_ack_first);
    }
}

#[test]
fn connections_reusing_one_client_port_are_told_apart() {
    for (name, port) in FIXTURES {
        if *name == "shared-key.pcap" {
            continue; // two server addresses: reuse would not put them on one 5-tuple anyway
        }
        let clean = fixture_report(name);
        let path = Capture::read(&capture(name))
            .reuse_port(*port, 40000)
            .write(&format!("reuse-{name}"));
        let got = report(&[&path], &[]);
        assert_eq!(meaning(&got), meaning(&clean), "port reuse {name}");
        assert_eq!(
            got["statistics"]["connections"], clean["statistics"]["connections"],
            "{name}"
        );
    }
}

#[test]
fn a_lost_new_session_ticket_loses_only_what_it_carried() {
    // Frame 9 of static-key-weeks carries the day-0 NewSessionTicket (captures/README.md).
    let lost = Capture::read(&capture("static-key-weeks.pcap")).drop_where(|frame, _| frame == 9);
    let r = report(&[&lost.write("lost-nst.pcap")], &[]);
    let k = hexname("static-key-0001!");
    // The day-0 issuance is gone: the key is first issued on day 7 (still 14 days: critical),
    // and the day-0 ticket accepted on day 14 has no visible issuance any more.
    assert_eq!(
        alerts(&r),
        set(&[
            &format!("stek-not-rotated/critical/static.test/{k}"),
            &format!("ticket-lifetime-too-long/critical/static.test/{k}")
        ])
    );
    let key = key(service(&r, "static.test"), &k);
    assert_eq!(key["tickets_issued"], 3);
    assert_eq!(key["resumptions_accepted"], 9);
    assert_eq!(r["statistics"]["gaps"], 1, "{}", r["statistics"]);
    assert_eq!(r["statistics"]["connections"], 17);
}

#[test]
fn a_lost_client_hello_costs_that_connection_only() {
    // Drop the ClientHello of the day-14 stale resumption: the stale acceptance is no longer
    // visible, everything else is.
    let clean = Capture::read(&capture("static-key-weeks.pcap"));
    let stale_ch = 175; // captures/README.md
    assert_eq!(
        payload(&clean.packets[stale_ch - 1])[5],
        1,
        "frame 175 is a ClientHello"
    );
    let r = report(
        &[&clean
            .drop_where(|frame, _| frame == stale_ch)
            .write("lost-ch.pcap")],
        &[],
    );
    let k = hexname("static-key-0001!");
    assert_eq!(
        alerts(&r),
        set(&[
            &format!("stek-not-rotated/critical/static.test/{k}"),
            &format!("ticket-lifetime-too-long/critical/static.test/{k}")
        ])
    );
    assert!(
        r["statistics"]["not_tls_connections"].as_u64().unwrap() >= 1
            || r["statistics"]["gaps"].as_u64().unwrap() >= 1
    );
}

#[test]
fn client_side_only_still_shows_the_key_names_clients_present() {
    let one = Capture::read(&capture("static-key-weeks.pcap")).one_direction(443, true);
    let r = report(&[&one.write("client-only.pcap")], &[]);
    let k = hexname("static-key-0001!");
    assert_eq!(
        keys(&r),
        [("static.test".to_string(), vec![k.clone()])].into()
    );
    let svc = service(&r, "static.test");
    assert_eq!(svc["handshakes"]["unknown"], 17);
    let key = key(svc, &k);
    assert_eq!(
        (
            key["resumptions_offered"].as_u64(),
            key["resumptions_accepted"].as_u64()
        ),
        (Some(9), Some(0))
    );
    // Offers alone prove nothing about the server.
    assert!(alerts(&r).is_empty(), "{:?}", alerts(&r));
}

#[test]
fn server_side_only_still_proves_a_static_key() {
    let one = Capture::read(&capture("static-key-weeks.pcap")).one_direction(443, false);
    let r = report(&[&one.write("server-only.pcap")], &[]);
    let k = hexname("static-key-0001!");
    // No ClientHello, so no SNI: the service is named by its address.
    assert_eq!(
        keys(&r),
        [("127.0.0.1:443".to_string(), vec![k.clone()])].into()
    );
    assert_eq!(
        alerts(&r),
        set(&[
            &format!("stek-not-rotated/critical/127.0.0.1:443/{k}"),
            &format!("ticket-lifetime-too-long/critical/127.0.0.1:443/{k}")
        ])
    );
    assert_eq!(key(service(&r, "127.0.0.1:443"), &k)["tickets_issued"], 4);
}

#[test]
fn tls13_client_side_only_shows_psk_identities() {
    let one = Capture::read(&capture("tls13-static-days.pcap")).one_direction(8443, true);
    let r = report(&[&one.write("tls13-client-only.pcap")], &[]);
    assert_eq!(
        keys(&r),
        [("tls13.test".to_string(), vec![hexname("tls13-static-k01")])].into()
    );
    assert!(alerts(&r).is_empty());
}

#[test]
fn vlan_and_qinq_tagged_fixtures_give_the_clean_answer() {
    for (name, _) in FIXTURES {
        check_variant(name, "vlan", |c| c.vlan(&[42]));
        check_variant(name, "qinq", |c| c.vlan(&[100, 42]));
    }
}

#[test]
fn raw_ip_fixtures_give_the_clean_answer() {
    for (name, _) in FIXTURES {
        check_variant(name, "rawip", Capture::raw_ip);
    }
}

#[test]
fn snaplen_cut_packets_are_counted_and_never_misread() {
    // 96 bytes keep the headers and a few bytes of TLS: handshakes cannot be read, and the
    // report must say so rather than invent keys.
    let cut = Capture::read(&capture("static-key-weeks.pcap")).snaplen(96);
    let r = report(&[&cut.write("snaplen96.pcap")], &[]);
    let s = &r["statistics"];
    assert!(s["truncated_packets"].as_u64().unwrap() > 50, "{s}");
    for svc in r["services"].as_array().unwrap() {
        for k in svc["ticket_keys"].as_array().unwrap() {
            assert_eq!(
                k["key_name"],
                hexname("static-key-0001!"),
                "a cut ticket must not make up a key name"
            );
        }
    }
    assert!(alerts(&r)
        .iter()
        .all(|a| !a.starts_with("stale-ticket-accepted")));
}
