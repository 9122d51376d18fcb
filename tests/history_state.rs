//! State files on the fixture captures (moved from src/state/tests.rs): a saved and restored history reports exactly what the
//! original did, histories merge in any order, and nothing but key names and hashes is kept.

use std::path::PathBuf;

use stekwatch::capture::{file as capture, input};
use stekwatch::pipeline::{Limits, Pipeline};
use stekwatch::report::stream::AlertStream;
use stekwatch::report::{self, ReportOptions};
use stekwatch::state::file::parse_state;
use stekwatch::state::format::StateFile;
use stekwatch::state::{restore, snapshot, StateError};
use stekwatch::tracker::{History, MAX_TRACKER_BYTES};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("captures")
        .join(name)
}

fn read(names: &[&str]) -> History {
    let mut p = Pipeline::new(Limits::default());
    for name in names {
        let input = input::open(&fixture(name)).unwrap();
        p.begin_input(name);
        capture::read_packets(input.bytes(), name, &mut |pkt| p.push_packet(pkt)).unwrap();
    }
    p.finish();
    p.into_history()
}

fn report_json(h: &History) -> serde_json::Value {
    let r = report::build(h, &ReportOptions::default(), vec![]);
    serde_json::to_value(&r).unwrap()
}

fn empty() -> History {
    History::new(MAX_TRACKER_BYTES)
}

fn reloaded(h: &History) -> History {
    let text = serde_json::to_vec(&snapshot(h, &AlertStream::new())).unwrap();
    let mut out = empty();
    restore(
        parse_state(&text).unwrap(),
        &mut out,
        &mut AlertStream::new(),
    )
    .unwrap();
    out
}

const FIXTURES: &[&str] = &[
    "static-key-weeks.pcap",
    "rotation-daily.pcap",
    "tls13-static-days.pcap",
    "session-cache-only.pcap",
    "shared-key.pcap",
    "no-resumption.pcap",
    "ipv6-sll2-nano.pcapng",
    "weak-key.pcap",
    "early-data.pcap",
    "plain-http.pcap",
    "openssl-s-server.pcap",
    "haproxy.pcap",
    "gnutls-serv.pcap",
    "hello-retry.pcap",
];

#[test]
fn a_reloaded_history_reports_exactly_what_the_original_did() {
    for name in FIXTURES {
        let p = read(&[name]);
        assert_eq!(report_json(&p), report_json(&reloaded(&p)), "{name}");
    }
}

#[test]
fn key_names_inferred_after_a_reload_are_those_inferred_before() {
    // rotation-daily's names share 14 bytes: inference must still see 16 after a reload.
    let p = reloaded(&read(&["rotation-daily.pcap"]));
    let r = report_json(&p);
    let svc = &r["services"][0];
    assert_eq!(svc["key_name_len"], 16);
    assert_eq!(svc["key_name_len_source"], "inferred");
    assert_eq!(svc["ticket_keys"].as_array().unwrap().len(), 5);
}

#[test]
fn histories_merge_into_the_same_state_in_either_order() {
    let a = snapshot(&read(&["static-key-weeks.pcap"]), &AlertStream::new());
    let b = snapshot(&read(&["shared-key.pcap"]), &AlertStream::new());
    let merged = |x: &StateFile, y: &StateFile| {
        let mut h = empty();
        let mut e = AlertStream::new();
        restore(x.clone(), &mut h, &mut e).unwrap();
        restore(y.clone(), &mut h, &mut e).unwrap();
        snapshot(&h, &e)
    };
    let ab = merged(&a, &b);
    assert_eq!(ab, merged(&b, &a));
    let both = read(&["static-key-weeks.pcap", "shared-key.pcap"]);
    assert_eq!(ab, snapshot(&both, &AlertStream::new()));
}

#[test]
fn a_state_holds_no_hex_longer_than_a_key_name() {
    let p = read(&[
        "static-key-weeks.pcap",
        "no-resumption.pcap",
        "session-cache-only.pcap",
    ]);
    let v = serde_json::to_value(snapshot(&p, &AlertStream::new())).unwrap();
    fn walk(v: &serde_json::Value, longest: &mut usize) {
        match v {
            serde_json::Value::String(s) if s.bytes().all(|b| b.is_ascii_hexdigit()) => {
                *longest = (*longest).max(s.len())
            }
            serde_json::Value::Array(a) => a.iter().for_each(|x| walk(x, longest)),
            serde_json::Value::Object(o) => o.values().for_each(|x| walk(x, longest)),
            _ => {}
        }
    }
    let mut longest = 0;
    walk(&v, &mut longest);
    assert_eq!(longest, 32, "16-byte key names are the longest hex kept");
}

#[test]
fn a_newer_version_is_refused_with_its_number() {
    let mut v =
        serde_json::to_value(snapshot(&read(&["weak-key.pcap"]), &AlertStream::new())).unwrap();
    v["version"] = 2.into();
    let err = parse_state(&serde_json::to_vec(&v).unwrap()).unwrap_err();
    assert!(matches!(err, StateError::Newer { version: 2, .. }), "{err}");
    assert!(err.to_string().contains("newer stekwatch"), "{err}");
}

#[test]
fn damaged_or_foreign_files_are_refused() {
    let good =
        serde_json::to_vec(&snapshot(&read(&["weak-key.pcap"]), &AlertStream::new())).unwrap();
    for bad in [
        &good[..good.len() / 2],
        b"".as_slice(),
        b"{\"version\": 1}".as_slice(),
        b"\x0a\x0d\x0d\x0a garbage".as_slice(),
    ] {
        assert!(matches!(parse_state(bad), Err(StateError::Invalid { .. })));
    }
    // Evidence pointing past the list of files is damage, not a panic.
    let mut v: serde_json::Value = serde_json::from_slice(&good).unwrap();
    v["files"] = serde_json::json!([]);
    let s = parse_state(&serde_json::to_vec(&v).unwrap()).unwrap();
    let err = restore(s, &mut empty(), &mut AlertStream::new());
    assert!(matches!(err, Err(StateError::Invalid { .. })));
}
