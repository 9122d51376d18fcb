//! Issue 10, items 3 and 5: TLS over QUIC, read through the same TLS stage as TCP.
//!
//! The fixtures are aioquic (a real QUIC stack) server and client on loopback
//! (captures/make-quic-fixtures.sh): the server's tickets start with one fixed key name per
//! run, so every resumption shows the key it was accepted under. Hostile variants are made by
//! rewriting the real captures' UDP payloads.

mod support;

use std::collections::BTreeSet;

use serde_json::Value;
use support::rewrite::Capture;
use support::*;

const SVC: &str = "quic.stekwatch.test quic";

fn stat(r: &Value, name: &str) -> u64 {
    r["statistics"][name].as_u64().unwrap_or(0)
}

fn services(r: &Value) -> BTreeSet<String> {
    r["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["service"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn resumption_over_quic_v1_shows_the_key_name_and_early_data() {
    let r = fixture_report("quic-resumption.pcap");
    assert_eq!(services(&r), set(&[SVC]));
    let svc = service(&r, SVC);
    assert_eq!(svc["transport"], "quic");
    assert_eq!(svc["sni"], "quic.stekwatch.test");
    assert_eq!(svc["tls_versions"], serde_json::json!(["1.3"]));
    assert_eq!(handshakes(svc), [1, 0, 0, 3]);
    assert_eq!(svc["handshakes"]["zero_rtt_sent"], 1);
    let name = hexname("stekwatch-quic-A");
    assert_eq!(keys(&r)[SVC], vec![name.clone()]);
    let k = key(svc, &name);
    assert_eq!(k["resumptions_offered"], 3);
    assert_eq!(k["resumptions_accepted"], 3);
    assert_eq!(k["tickets_issued"], 0, "TLS 1.3 tickets are encrypted");
    assert_eq!(svc["key_name_len"], 16);
    assert_eq!(
        alerts(&r),
        set(&[&format!("early-data-offered/info/{SVC}/{name}")])
    );
    assert_eq!(stat(&r, "quic_connections"), 4);
    assert_eq!(stat(&r, "quic_zero_rtt_packets"), 1);
    assert_eq!(stat(&r, "quic_undecryptable"), 0);
    assert_eq!(stat(&r, "quic_malformed"), 0);
    assert_eq!(stat(&r, "tls_connections"), 4);
}

#[test]
fn quic_v2_initials_are_read_in_both_directions() {
    let r = fixture_report("quic-v2.pcap");
    let svc = service(&r, SVC);
    assert_eq!(handshakes(svc), [1, 0, 0, 1]);
    assert_eq!(keys(&r)[SVC], vec![hexname("stekwatch-quic-2")]);
    assert_eq!(stat(&r, "quic_connections"), 2);
    assert_eq!(stat(&r, "quic_undecryptable"), 0);
}

#[test]
fn after_a_retry_the_server_hello_is_still_read() {
    let r = fixture_report("quic-retry.pcap");
    let svc = service(&r, SVC);
    // Without re-deriving the keys from the client's new DCID, the ServerHellos would not
    // open and both handshakes would have no visible answer.
    assert_eq!(handshakes(svc), [1, 0, 0, 1]);
    assert_eq!(svc["handshakes"]["unknown"], 0);
    assert_eq!(keys(&r)[SVC], vec![hexname("stekwatch-quic-R")]);
    assert_eq!(stat(&r, "quic_retry"), 2);
    assert_eq!(stat(&r, "quic_undecryptable"), 0);
}

#[test]
fn one_quic_key_accepted_over_eight_days_is_a_critical_stek_not_rotated() {
    let r = fixture_report("quic-static-days.pcap");
    let name = hexname("stekwatch-quic-S");
    let svc = service(&r, SVC);
    assert_eq!(handshakes(svc), [1, 0, 0, 5]);
    assert_eq!(key(svc, &name)["resumptions_accepted"], 5);
    assert_eq!(
        alerts(&r),
        set(&[
            &format!("stek-not-rotated/critical/{SVC}/{name}"),
            &format!("early-data-offered/info/{SVC}/{name}"),
        ])
    );
    let a = r["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["rule"] == "stek-not-rotated")
        .unwrap();
    assert_eq!(
        a["first_seen"].as_str().unwrap().get(..10),
        Some("2026-11-01")
    );
    assert_eq!(
        a["last_seen"].as_str().unwrap().get(..10),
        Some("2026-11-09")
    );
}

#[test]
fn a_quic_service_survives_a_state_file_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let state_arg = state.to_str().unwrap();
    let direct = fixture_report("quic-static-days.pcap");
    let out = stekwatch(&[
        "read",
        "--state",
        state_arg,
        "--format",
        "json",
        capture("quic-static-days.pcap").to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0));
    let saved: Value = serde_json::from_slice(&std::fs::read(&state).unwrap()).unwrap();
    let text = saved.to_string();
    assert!(text.contains(r#""transport":"quic""#), "{text}");
    let out = stekwatch(&["report", "--state", state_arg, "--format", "json"]);
    assert_eq!(out.status.code(), Some(0));
    let again: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(services(&again), set(&[SVC]));
    assert_eq!(service(&again, SVC)["transport"], "quic");
    assert_eq!(alerts(&again), alerts(&direct));
    assert_eq!(keys(&again), keys(&direct));
}

#[test]
fn tcp_services_keep_their_names_and_carry_no_transport_field() {
    let r = fixture_report("tls13-static-days.pcap");
    for s in r["services"].as_array().unwrap() {
        assert!(s.get("transport").is_none(), "{s}");
        assert!(!s["service"].as_str().unwrap().ends_with(" quic"));
    }
    assert!(r["statistics"].get("quic_datagrams").is_none());
}

#[test]
fn quic_and_tcp_fixtures_read_together_stay_apart() {
    let r = report(
        &[
            &capture("quic-resumption.pcap"),
            &capture("tls13-static-days.pcap"),
        ],
        &["-j", "2"],
    );
    let one = fixture_report("quic-resumption.pcap");
    assert_eq!(
        service(&r, SVC)["handshakes"],
        service(&one, SVC)["handshakes"]
    );
    assert!(services(&r).len() >= 2);
}

/// The UDP payload of an Ethernet/IPv4 loopback frame (14 + 20 + 8 header bytes).
const UDP_PAYLOAD: usize = 42;

#[test]
fn cut_and_corrupted_quic_packets_are_counted_never_a_panic() {
    let base = Capture::read(&capture("quic-resumption.pcap"));
    let mut c = Capture::read(&capture("quic-resumption.pcap"));
    c.packets.clear();
    for (i, p) in base.packets.iter().enumerate() {
        if p.data.len() <= UDP_PAYLOAD + 1 {
            continue;
        }
        let quic = p.data.len() - UDP_PAYLOAD;
        // The original, cut at a third of its QUIC bytes, and with one byte flipped.
        let mut cut = p.clone();
        cut.data.truncate(UDP_PAYLOAD + quic / 3);
        fix_lengths(&mut cut.data);
        let mut flip = p.clone();
        let at = UDP_PAYLOAD + (i * 37) % quic;
        flip.data[at] ^= 0x5a;
        c.packets.extend([cut, flip]);
    }
    let path = c.write("quic-hostile.pcap");
    let r = report(&[&path], &[]);
    assert!(stat(&r, "quic_malformed") > 0, "{}", r["statistics"]);
    assert!(stat(&r, "quic_undecryptable") > 0, "{}", r["statistics"]);
    // A cut or flipped Initial never opens; what still opens is an Initial left whole ahead
    // of the damaged packet it was coalesced with (a server's Initial before its Handshake).
    let original = fixture_report("quic-resumption.pcap");
    let opened = stat(&r, "quic_initials_decrypted");
    assert!(
        opened < stat(&original, "quic_initials_decrypted"),
        "{opened}"
    );
    assert!(stat(&r, "handshake_messages") < stat(&original, "handshake_messages"));
}

/// Sets the IPv4 total length and UDP length of a cut frame to what is left.
fn fix_lengths(frame: &mut [u8]) {
    let ip_len = (frame.len() - 14) as u16;
    frame[16..18].copy_from_slice(&ip_len.to_be_bytes());
    frame[24..26].fill(0);
    let udp_len = ip_len - 20;
    frame[38..40].copy_from_slice(&udp_len.to_be_bytes());
    frame[40..42].fill(0);
}

#[test]
fn public_quic_captures_give_their_psk_identities_under_the_quic_service() {
    let Some(dir) = public_captures() else { return };
    let one = |name: &str| report(&[&dir.join(name)], &[]);
    // nDPI quic_0RTT: a draft-28 connection on port 4443 and a v1 one, both 0-RTT resumptions.
    let r = one("ntop_nDPI__tests__cfgs__default__pcap__quic_0RTT.pcap");
    for (svc, name) in [
        ("abcd quic", "e8de51cd3efe73596edf587b3a20a44f"),
        ("ssl.gstatic.com quic", "01f0a9cf08375cc99c432f89461f977f"),
    ] {
        let s = service(&r, svc);
        assert_eq!(handshakes(s), [0, 0, 0, 1], "{svc}");
        assert_eq!(s["handshakes"]["zero_rtt_sent"], 1, "{svc}");
        assert_eq!(key(s, name)["resumptions_accepted"], 1, "{svc}");
    }
    // nDPI quic-v2: Linux SLL, IPv6, QUIC v2 with a greased fixed bit; Initial + 0-RTT.
    let r = one("ntop_nDPI__tests__cfgs__default__pcap__quic-v2.pcapng");
    let s = service(&r, "test quic");
    assert_eq!(handshakes(s), [1, 0, 0, 0]);
    assert_eq!(s["handshakes"]["zero_rtt_sent"], 1);
    // The offered key, then (issue 10 item 4) the one of the NewSessionTicket that the
    // capture's Decryption Secrets Block opens in the server's 1-RTT packet.
    assert_eq!(
        keys(&r)["test quic"],
        vec![
            "b9698e1ee56902faace359fe7ef4519a",
            "1f85d6de0648b03ee6d23df7cfda2490"
        ]
    );
    // Zeek's quic-go interop 0-RTT run on the PPP link type.
    let r = one("zeek_zeek__testing__btest__Traces__quic__interop__quic-go_quic-go__zerortt.pcap");
    assert_eq!(stat(&r, "skipped_unsupported_link_type"), 0);
    let s = service(&r, "server4:443 quic");
    assert_eq!(handshakes(s), [1, 0, 0, 1]);
    assert_eq!(s["handshakes"]["zero_rtt_sent"], 1);
    // FoxIO tls3: Chrome over TCP and QUIC to the same names: separate services, one key
    // shared between rsms.me and rsms.me quic (one CDN's STEK on both stacks).
    let r = one("FoxIO-LLC_ja4__pcap__tls3.pcapng");
    let quic: BTreeSet<String> = services(&r)
        .into_iter()
        .filter(|s| s.ends_with(" quic"))
        .collect();
    assert_eq!(
        quic,
        set(&[
            "cdn.jsdelivr.net quic",
            "cdnjs.cloudflare.com quic",
            "fonts.googleapis.com quic",
            "fonts.gstatic.com quic",
            "rsms.me quic",
        ])
    );
    assert_eq!(handshakes(service(&r, "rsms.me quic")), [1, 0, 0, 1]);
    assert!(alerts(&r)
        .contains("stek-shared/info/rsms.me,rsms.me quic/db483816df4b42a1b7363b83c6fa156e"));
}
