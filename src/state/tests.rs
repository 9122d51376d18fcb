//! State files on the fixture captures: a saved and restored history reports exactly what the
//! original did, histories merge in any order, and nothing but key names and hashes is kept.

use std::path::PathBuf;

use super::*;
use crate::capture::file as capture;
use crate::report::{self, ReportOptions};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("captures")
        .join(name)
}

fn read(names: &[&str]) -> Pipeline {
    let mut p = Pipeline::new(Limits::default());
    for name in names {
        let input = capture::open(&fixture(name)).unwrap();
        p.begin_input(name);
        capture::read_packets(input.bytes(), name, &mut |pkt| p.push_packet(pkt)).unwrap();
    }
    p.finish();
    p
}

fn report_json(p: &Pipeline) -> serde_json::Value {
    let r = report::build(p, &ReportOptions::default(), vec![], 0);
    serde_json::to_value(&r).unwrap()
}

fn reloaded(p: &Pipeline) -> Pipeline {
    let text = serde_json::to_vec(&snapshot(p, &Extra::default())).unwrap();
    let mut out = Pipeline::new(Limits::default());
    restore(
        super::file::parse_state(&text).unwrap(),
        &mut out,
        &mut Extra::default(),
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
    let a = snapshot(&read(&["static-key-weeks.pcap"]), &Extra::default());
    let b = snapshot(&read(&["shared-key.pcap"]), &Extra::default());
    let merged = |x: &StateFile, y: &StateFile| {
        let mut p = Pipeline::new(Limits::default());
        let mut e = Extra::default();
        restore(x.clone(), &mut p, &mut e).unwrap();
        restore(y.clone(), &mut p, &mut e).unwrap();
        snapshot(&p, &e)
    };
    let ab = merged(&a, &b);
    assert_eq!(ab, merged(&b, &a));
    let both = read(&["static-key-weeks.pcap", "shared-key.pcap"]);
    assert_eq!(ab, snapshot(&both, &Extra::default()));
}

#[test]
fn a_state_holds_no_hex_longer_than_a_key_name() {
    let p = read(&[
        "static-key-weeks.pcap",
        "no-resumption.pcap",
        "session-cache-only.pcap",
    ]);
    let v = serde_json::to_value(snapshot(&p, &Extra::default())).unwrap();
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
        serde_json::to_value(snapshot(&read(&["weak-key.pcap"]), &Extra::default())).unwrap();
    v["version"] = 2.into();
    let err = super::file::parse_state(&serde_json::to_vec(&v).unwrap()).unwrap_err();
    assert!(matches!(err, StateError::Newer { version: 2, .. }), "{err}");
    assert!(err.to_string().contains("newer stekwatch"), "{err}");
}

#[test]
fn damaged_or_foreign_files_are_refused() {
    let good = serde_json::to_vec(&snapshot(&read(&["weak-key.pcap"]), &Extra::default())).unwrap();
    for bad in [
        &good[..good.len() / 2],
        b"".as_slice(),
        b"{\"version\": 1}".as_slice(),
        b"\x0a\x0d\x0d\x0a garbage".as_slice(),
    ] {
        assert!(matches!(
            super::file::parse_state(bad),
            Err(StateError::Invalid { .. })
        ));
    }
    // Evidence pointing past the list of files is damage, not a panic.
    let mut v: serde_json::Value = serde_json::from_slice(&good).unwrap();
    v["files"] = serde_json::json!([]);
    let s = super::file::parse_state(&serde_json::to_vec(&v).unwrap()).unwrap();
    let err = restore(
        s,
        &mut Pipeline::new(Limits::default()),
        &mut Extra::default(),
    );
    assert!(matches!(err, Err(StateError::Invalid { .. })));
}
