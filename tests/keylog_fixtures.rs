//! Fixtures with the client's key log (issue 10 item 4): QUIC, the server's Handshake and
//! 1-RTT packets opened with aioquic's key log (or a pcapng's Decryption Secrets Blocks), and
//! TCP, nginx's TLS 1.3 records opened with `openssl s_client -keylogfile`'s, in all three
//! TLS 1.3 cipher suites. The NewSessionTickets become issued tickets with their key names
//! and issuance times (tshark's frame times); without the key log nothing changes.

mod support;

use std::collections::BTreeMap;
use std::process::Command;

use serde_json::Value;
use support::*;

const QUIC: &str = "quic.stekwatch.test quic";

fn with_keylog(name: &str) -> Value {
    let keys = capture(&name.replace(".pcap", ".keys"));
    report(&[&capture(name)], &["--keylog", s(&keys)])
}

/// tshark's NewSessionTickets with the key log: (frame time as RFC 3339 UTC, key name hex).
fn tshark_nsts(name: &str) -> Vec<(String, String)> {
    let keys = capture(&name.replace(".pcap", ".keys"));
    let out = Command::new("tshark")
        .args(["-n", "-r", s(&capture(name))])
        .args(["-d", "tcp.port==8443,tls", "-d", "tcp.port==4433,tls"])
        .args(["-o", &format!("tls.keylog_file:{}", keys.display())])
        .args(["-Y", "tls.handshake.type==4", "-T", "fields"])
        .args([
            "-e",
            "frame.time_epoch",
            "-e",
            "tls.handshake.session_ticket",
        ])
        .output()
        .expect("run tshark");
    let mut nsts = Vec::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let (time, tickets) = line.split_once('\t').unwrap();
        let (secs, frac) = time.split_once('.').unwrap();
        let t = chrono_like(secs.parse().unwrap(), &frac[..6]);
        for ticket in tickets.split(',') {
            nsts.push((t.clone(), ticket[..32].to_string()));
        }
    }
    nsts
}

/// `secs` since the epoch as `YYYY-MM-DDTHH:MM:SS.micros Z` (the report's format).
fn chrono_like(secs: i64, micros: &str) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{micros}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Checks one fixture against tshark: per key name, the service of `services` that lists it
/// has as many issued tickets as tshark's NewSessionTickets under that key name, first and
/// last issued at their frame times.
fn matches_tshark(name: &str, r: &Value, services: &[&str]) {
    if !tshark_available() {
        return;
    }
    let nsts = tshark_nsts(name);
    assert!(
        !nsts.is_empty(),
        "{name}: tshark opened no NewSessionTicket"
    );
    let mut by_key: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (t, k) in &nsts {
        by_key.entry(k).or_default().push(t);
    }
    assert_eq!(by_key.len(), services.len(), "{name}: key names {by_key:?}");
    for (name_hex, times) in by_key {
        let svc = services
            .iter()
            .map(|s| service(r, s))
            .find(|s| {
                s["ticket_keys"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|k| k["key_name"] == name_hex)
            })
            .unwrap_or_else(|| panic!("{name}: key {name_hex} under none of {services:?}"));
        let k = key(svc, name_hex);
        assert_eq!(k["tickets_issued"], times.len() as u64, "{name} {name_hex}");
        assert_eq!(k["issued"]["first"], times[0], "{name} {name_hex}");
        assert_eq!(
            k["issued"]["last"],
            times[times.len() - 1],
            "{name} {name_hex}"
        );
    }
}

#[test]
fn quic_tickets_come_out_of_the_clients_key_log_with_key_name_count_and_issuance_times() {
    let r = with_keylog("quic-resumption.pcap");
    let k = key(service(&r, QUIC), &hexname("stekwatch-quic-A"));
    // Frames 4, 12, 21, 29: one NewSessionTicket in each connection's first 1-RTT packets.
    assert_eq!(k["tickets_issued"], 4);
    assert_eq!(k["issued"]["first"], "2026-11-01T00:00:00.006804Z");
    assert_eq!(k["issued"]["last"], "2026-11-01T00:00:01.569322Z");
    let st = &r["statistics"];
    assert_eq!(st["secrets_connections"], 4);
    // Per connection: one Handshake packet and the two 1-RTT packets up to the tickets' end.
    assert_eq!(st["secrets_opened"], 13);
    assert!(st.get("secrets_failures").is_none(), "{st}");
    assert_eq!(st["keylog_lines"], 19);
    matches_tshark("quic-resumption.pcap", &r, &[QUIC]);
}

#[test]
fn without_the_key_log_the_same_quic_capture_shows_no_issued_ticket() {
    let r = fixture_report("quic-resumption.pcap");
    let k = key(service(&r, QUIC), &hexname("stekwatch-quic-A"));
    assert_eq!(k["tickets_issued"], 0);
    assert!(k["issued"].is_null());
    assert!(r["statistics"].get("secrets_opened").is_none());
    assert!(r["statistics"].get("keylog_lines").is_none());
}

#[test]
fn quic_v2_packets_open_under_the_quicv2_labels() {
    let r = with_keylog("quic-v2.pcap");
    let k = key(service(&r, QUIC), &hexname("stekwatch-quic-2"));
    assert_eq!(k["tickets_issued"], 2);
    assert_eq!(r["statistics"]["secrets_opened"], 6);
    matches_tshark("quic-v2.pcap", &r, &[QUIC]);
}

#[test]
fn quic_tickets_issued_across_days_date_the_key_from_its_first_issuance() {
    let r = with_keylog("quic-static-days.pcap");
    let k = key(service(&r, QUIC), &hexname("stekwatch-quic-S"));
    assert_eq!(k["tickets_issued"], 6);
    assert_eq!(k["issued"]["first"], "2026-11-01T00:00:00.011068Z");
    assert_eq!(k["issued"]["last"], "2026-11-09T00:00:00.443384Z");
    let stek = format!(
        "stek-not-rotated/critical/{QUIC}/{}",
        hexname("stekwatch-quic-S")
    );
    assert!(alerts(&r).contains(&stek), "{:?}", alerts(&r));
    matches_tshark("quic-static-days.pcap", &r, &[QUIC]);
}

#[test]
fn quic_tickets_in_public_captures_open_with_their_decryption_secrets_blocks() {
    let Some(dir) = public_captures() else { return };
    // Chrome to Cloudflare: frame 56 (a Handshake packet coalesced with a 1-RTT one to a
    // zero-length connection ID) carries two tickets.
    let r = report(
        &[&dir.join("FoxIO-LLC_ja4__pcap__chrome-cloudflare-quic-with-secrets.pcapng")],
        &[],
    );
    let k = key(
        service(&r, "cloudflare-quic.com quic"),
        "3638720b3c849e344b7c2a0fd9b877df",
    );
    assert_eq!(k["tickets_issued"], 2);
    assert_eq!(r["statistics"]["secrets_blocks"], 1);
    // nDPI's QUIC v2 capture: one ticket in frame 2 (Initial, Handshake and 1-RTT packets
    // coalesced in one datagram).
    let r = report(
        &[&dir.join("ntop_nDPI__tests__cfgs__default__pcap__quic-v2.pcapng")],
        &[],
    );
    let k = key(service(&r, "test quic"), "1f85d6de0648b03ee6d23df7cfda2490");
    assert_eq!(k["tickets_issued"], 1);
}

/// nginx's three servers (`make-keylog.sh`): service, key name, cipher suite.
const NGINX: [(&str, &str, &str); 3] = [
    (
        "aes128.keylog.test",
        "stekwatch-kl-aes",
        "TLS_AES_128_GCM_SHA256",
    ),
    (
        "aes256.keylog.test",
        "stekwatch-kl-256",
        "TLS_AES_256_GCM_SHA384",
    ),
    (
        "chacha.keylog.test",
        "stekwatch-kl-c20",
        "TLS_CHACHA20_POLY1305_SHA256",
    ),
];

#[test]
fn nginx_tls13_tickets_open_with_the_clients_key_log_in_every_cipher_suite() {
    let r = with_keylog("tls13-keylog.pcap");
    for (svc, name, suite) in NGINX {
        let k = key(service(&r, svc), &hexname(name));
        // Two tickets after the full handshake, one after the resumption (OpenSSL's server).
        assert_eq!(k["tickets_issued"], 3, "{suite}");
        assert_eq!(k["resumptions_accepted"], 1, "{suite}");
    }
    let st = &r["statistics"];
    assert_eq!(st["secrets_connections"], 6);
    // Per connection: the server's encrypted handshake records (4 full, 2 resumed) and its
    // records up to the first answer after the tickets.
    assert_eq!(st["secrets_opened"], 33);
    assert!(st.get("secrets_failures").is_none(), "{st}");
    assert_eq!(st["keylog_lines"], 30);
    let services: Vec<&str> = NGINX.iter().map(|(s, _, _)| *s).collect();
    matches_tshark("tls13-keylog.pcap", &r, &services);
}

#[test]
fn without_the_key_log_nginx_tls13_tickets_are_not_seen() {
    let r = fixture_report("tls13-keylog.pcap");
    for (svc, name, suite) in NGINX {
        // The key is still known from the resumption's PSK identity, never as issued.
        let k = key(service(&r, svc), &hexname(name));
        assert_eq!(k["tickets_issued"], 0, "{suite}");
        assert!(k["issued"].is_null(), "{suite}");
        assert_eq!(k["resumptions_accepted"], 1, "{suite}");
    }
    assert!(r["statistics"].get("secrets_connections").is_none());
}

#[test]
fn a_key_log_for_other_connections_opens_nothing_and_changes_nothing() {
    // aioquic's key log has no line for nginx's client randoms.
    let other = capture("quic-resumption.keys");
    let r = report(&[&capture("tls13-keylog.pcap")], &["--keylog", s(&other)]);
    let plain = fixture_report("tls13-keylog.pcap");
    assert_eq!(r["services"], plain["services"]);
    assert!(r["statistics"].get("secrets_connections").is_none());
    assert_eq!(r["statistics"]["keylog_lines"], 19);
}

#[test]
fn the_text_report_counts_what_the_key_log_opened_and_shows_no_secret() {
    let keys = capture("tls13-keylog.keys");
    let pcap = capture("tls13-keylog.pcap");
    let out = stekwatch(&["read", "--keylog", s(&keys), s(&pcap)]);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains(
            "secrets: 30 key log lines, 6 connections covered, 33 records/packets opened"
        ),
        "{text}"
    );
    let json = String::from_utf8_lossy(
        &stekwatch(&["read", "--format", "json", "--keylog", s(&keys), s(&pcap)]).stdout,
    )
    .to_string();
    let secrets: Vec<String> = std::fs::read_to_string(&keys)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_whitespace().nth(2).map(str::to_string))
        .collect();
    assert_eq!(secrets.len(), 30);
    for secret in secrets {
        assert!(!text.contains(&secret) && !json.contains(&secret));
    }
}

#[test]
fn worker_threads_open_the_same_tickets_as_one() {
    for name in ["quic-resumption.pcap", "tls13-keylog.pcap"] {
        let keys = capture(&name.replace(".pcap", ".keys"));
        let one = report(&[&capture(name)], &["--threads", "1", "--keylog", s(&keys)]);
        let four = report(&[&capture(name)], &["--threads", "4", "--keylog", s(&keys)]);
        assert_eq!(one["services"], four["services"], "{name}");
        assert_eq!(
            one["statistics"]["secrets_opened"], four["statistics"]["secrets_opened"],
            "{name}"
        );
    }
}
