//! Issue 15: weak ticket encryption found passively. Real servers with all-zero ticket keys
//! (nginx 48- and 80-byte key files, HAProxy `tls-ticket-keys`), a healthy random key under
//! the same key name, a real ticket rewritten to carry its session state in clear, and a real
//! capture rewritten so two tickets share an IV (captures/README.md). Decrypted bytes must not
//! reach any output or state file.

mod support;

use std::collections::BTreeSet;

use aes::cipher::{BlockDecryptMut, KeyIvInit};
use serde_json::Value;
use support::rewrite::{payload, Capture};
use support::*;

/// The key name of every weak-STEK fixture (captures/make-fixtures.sh `WEAK_NAME`).
const WEAK_NAME: &str = "zero-stek-key-01";

fn weak_alerts(r: &Value) -> Vec<&Value> {
    r["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["rule"] == "weak-stek" || a["rule"] == "ticket-iv-reuse")
        .collect()
}

/// Frames of the NewSessionTickets, by tshark when installed (the independent oracle).
fn tshark_nst_frames(file: &str) -> Option<Vec<u64>> {
    if !tshark_available() {
        return None;
    }
    let out = std::process::Command::new("tshark")
        .args(["-r", capture(file).to_str().unwrap()])
        .args([
            "-Y",
            "tls.handshake.type==4",
            "-T",
            "fields",
            "-e",
            "frame.number",
        ])
        .output()
        .unwrap();
    Some(
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| l.trim().parse().unwrap())
            .collect(),
    )
}

/// Exactly one alert, `weak-stek` critical on `WEAK_NAME` of `sni`, with `format` and the
/// first NewSessionTicket as evidence.
fn assert_one_weak_stek(file: &str, sni: &str, format: &str, frame: u64) {
    let r = fixture_report(file);
    let want = format!("weak-stek/critical/{sni}/{}", hexname(WEAK_NAME));
    assert_eq!(alerts(&r), set(&[&want]), "{file}");
    let a = weak_alerts(&r)[0];
    assert_eq!(a["format"], format, "{file}");
    assert_eq!(a["sni"], sni);
    let ev: Vec<(String, u64)> = a["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["file"].as_str().unwrap().to_string(),
                e["frame"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        ev,
        vec![(capture(file).display().to_string(), frame)],
        "{file}"
    );
    if let Some(frames) = tshark_nst_frames(file) {
        assert_eq!(frames.first(), Some(&frame), "{file}: tshark's first NST");
        assert_eq!(frames.len(), 2, "{file}: two tickets, one verdict");
    }
    // Both tickets are counted under the one key.
    let svc = service(&r, sni);
    assert_eq!(key(svc, &hexname(WEAK_NAME))["tickets_issued"], 2);
}

#[test]
fn nginx_zero_key_file_of_48_bytes_is_weak_stek_with_aes128() {
    assert_one_weak_stek(
        "zero-stek-48.pcap",
        "zero48.test",
        "openssl-aes128-cbc-hmac-sha256-zero-key",
        9,
    );
}

#[test]
fn nginx_zero_key_file_of_80_bytes_is_weak_stek_with_aes256() {
    assert_one_weak_stek(
        "zero-stek-80.pcap",
        "zero80.test",
        "openssl-aes256-cbc-hmac-sha256-zero-key",
        9,
    );
}

#[test]
fn haproxy_zero_tls_ticket_key_is_weak_stek_with_aes256() {
    assert_one_weak_stek(
        "zero-stek-haproxy.pcap",
        "haproxy-zero.test",
        "openssl-aes256-cbc-hmac-sha256-zero-key",
        8,
    );
}

#[test]
fn rewritten_ticket_carrying_its_state_in_clear_is_weak_stek() {
    assert_one_weak_stek(
        "plaintext-ticket.pcap",
        "healthy.test",
        "plaintext-der-session",
        9,
    );
    let r = fixture_report("plaintext-ticket.pcap");
    let msg = weak_alerts(&r)[0]["message"].as_str().unwrap();
    assert!(msg.contains("session state sent in clear"), "{msg}");
}

#[test]
fn healthy_random_key_under_the_same_name_raises_no_alert() {
    let r = fixture_report("healthy-stek.pcap");
    assert_eq!(alerts(&r), BTreeSet::new());
    assert_eq!(keys(&r)["healthy.test"], vec![hexname(WEAK_NAME)]);
}

#[test]
fn the_older_fixtures_raise_no_weak_ticket_alert() {
    let new = [
        "zero-stek-48.pcap",
        "zero-stek-80.pcap",
        "zero-stek-haproxy.pcap",
        "healthy-stek.pcap",
        "plaintext-ticket.pcap",
    ];
    let mut checked = 0;
    for entry in std::fs::read_dir(root().join("captures")).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_string();
        if !(name.ends_with(".pcap") || name.ends_with(".pcapng")) || new.contains(&name.as_str()) {
            continue;
        }
        let r = report(&[&path], &[]);
        assert!(weak_alerts(&r).is_empty(), "{name}: {:?}", weak_alerts(&r));
        checked += 1;
    }
    // The 14 older fixtures, the 6 verdict fixtures of issue 12, the 4 QUIC ones of issue 10
    // and its nginx key-log fixture (TLS 1.3 only: no ticket to try without the key log),
    // and its 7 STARTTLS ones.
    assert_eq!(checked, 32);
}

#[test]
fn weak_fixtures_read_together_keep_their_verdicts_apart() {
    // Four services with the same key name: only the weak ones are flagged, and the verdict
    // does not depend on the number of threads.
    let files: Vec<_> = [
        "healthy-stek.pcap",
        "zero-stek-48.pcap",
        "zero-stek-80.pcap",
        "zero-stek-haproxy.pcap",
    ]
    .map(capture)
    .to_vec();
    let paths: Vec<&std::path::Path> = files.iter().map(|p| p.as_path()).collect();
    let want: BTreeSet<String> = ["zero48.test", "zero80.test", "haproxy-zero.test"]
        .iter()
        .map(|s| format!("weak-stek/critical/{s}/{}", hexname(WEAK_NAME)))
        .collect();
    for threads in ["1", "2"] {
        let r = report(&paths, &["-j", threads]);
        let got: BTreeSet<String> = alerts(&r)
            .into_iter()
            .filter(|a| !a.starts_with("stek-shared/"))
            .collect();
        assert_eq!(got, want, "-j {threads}");
    }
}

/// healthy-stek.pcap with the second ticket's IV replaced by the first's (in its
/// NewSessionTicket, frame 37): two different tickets, one key, one IV.
fn repeated_iv_capture() -> std::path::PathBuf {
    let mut cap = Capture::read(&capture("healthy-stek.pcap"));
    let name = WEAK_NAME.as_bytes();
    let find = |p: &[u8]| p.windows(16).position(|w| w == name);
    let first = payload(&cap.packets[8]).to_vec();
    let at = find(&first).expect("ticket in frame 9");
    let iv = first[at + 16..at + 32].to_vec();
    let pkt = &cap.packets[36];
    let start = pkt.data.len() - payload(pkt).len();
    let at = find(payload(pkt)).expect("ticket in frame 37");
    cap.packets[36].data[start + at + 16..start + at + 32].copy_from_slice(&iv);
    cap.write("weak-stek-repeated-iv.pcap")
}

#[test]
fn two_tickets_under_one_key_with_one_iv_are_ticket_iv_reuse() {
    let path = repeated_iv_capture();
    let r = report(&[&path], &[]);
    let want = format!(
        "ticket-iv-reuse/critical/healthy.test/{}",
        hexname(WEAK_NAME)
    );
    assert_eq!(alerts(&r), set(&[&want]));
    let frames: Vec<u64> = weak_alerts(&r)[0]["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["frame"].as_u64().unwrap())
        .collect();
    assert_eq!(frames, vec![9, 37]);
    // The IV hashes survive a state file: the reloaded history says the same.
    let state =
        std::env::temp_dir().join(format!("stekwatch-ivreuse-{}.state", std::process::id()));
    let _ = std::fs::remove_file(&state);
    let s = state.to_str().unwrap();
    assert_eq!(
        stekwatch(&["read", "--state", s, path.to_str().unwrap()])
            .status
            .code(),
        Some(0)
    );
    let out = stekwatch(&["report", "--state", s, "--format", "json"]);
    let again: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(alerts(&again), set(&[&want]));
    let _ = std::fs::remove_file(&state);
}

#[test]
fn weak_findings_survive_a_state_file_and_older_files_still_load() {
    let state = std::env::temp_dir().join(format!("stekwatch-weak-{}.state", std::process::id()));
    let _ = std::fs::remove_file(&state);
    let s = state.to_str().unwrap();
    let cap = capture("zero-stek-80.pcap");
    assert_eq!(
        stekwatch(&["read", "--state", s, cap.to_str().unwrap()])
            .status
            .code(),
        Some(0)
    );
    let text = std::fs::read_to_string(&state).unwrap();
    assert!(text.contains("openssl-aes256-cbc-hmac-sha256-zero-key"));
    let out = stekwatch(&["report", "--state", s, "--format", "json"]);
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    let want = format!("weak-stek/critical/zero80.test/{}", hexname(WEAK_NAME));
    assert_eq!(alerts(&r), set(&[&want]));
    // A file written before issue 15: no "weak", no "ticket_ivs".
    let mut v: Value = serde_json::from_str(&text).unwrap();
    for svc in v["services"].as_array_mut().unwrap() {
        svc.as_object_mut().unwrap().remove("ticket_ivs");
        for k in svc["keys"].as_array_mut().unwrap() {
            k.as_object_mut().unwrap().remove("weak");
        }
    }
    std::fs::write(&state, serde_json::to_string(&v).unwrap()).unwrap();
    let out = stekwatch(&["report", "--state", s, "--format", "json"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(alerts(&r), BTreeSet::new());
    let _ = std::fs::remove_file(&state);
}

// ---------------------------------------------------------------------------------------------
// Privacy: nothing decrypted leaves the trial.
// ---------------------------------------------------------------------------------------------

fn unhex(h: &str) -> Vec<u8> {
    (0..h.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&h[i..i + 2], 16).unwrap())
        .collect()
}

/// The tickets of a capture, found by their key name in the server's packets.
fn tickets(file: &str) -> Vec<Vec<u8>> {
    let cap = Capture::read(&capture(file));
    let name = WEAK_NAME.as_bytes();
    let mut out = Vec::new();
    for p in &cap.packets {
        let pl = payload(p);
        // NewSessionTicket: handshake type 4, 3-byte length, hint, 2-byte ticket length, name.
        if let Some(at) = pl.windows(16).position(|w| w == name) {
            if at >= 6 && pl[at - 6 - 4] == 4 {
                let len = u16::from_be_bytes([pl[at - 2], pl[at - 1]]) as usize;
                out.push(pl[at..at + len].to_vec());
            }
        }
    }
    out
}

/// AES-CBC decryption of an OpenSSL-layout ticket under `key` (no padding removed).
fn decrypt<C>(key: &[u8], ticket: &[u8]) -> Vec<u8>
where
    C: aes::cipher::BlockCipher + aes::cipher::BlockDecrypt + aes::cipher::KeyInit,
    cbc::Decryptor<C>: KeyIvInit,
{
    let mut dec = cbc::Decryptor::<C>::new_from_slices(key, &ticket[16..32]).unwrap();
    let mut buf = ticket[32..ticket.len() - 32].to_vec();
    for b in buf.chunks_exact_mut(16) {
        dec.decrypt_block_mut(b.into());
    }
    buf
}

/// The master key of a DER SSL_SESSION: the fifth element (all short-form lengths here).
fn master_key(session: &[u8]) -> Vec<u8> {
    let mut pos = 2; // SEQUENCE, short length
    for _ in 0..4 {
        pos += 2 + session[pos + 1] as usize;
    }
    assert_eq!(session[pos], 0x04);
    session[pos + 2..pos + 2 + session[pos + 1] as usize].to_vec()
}

fn encodings(secret: &[u8]) -> Vec<String> {
    let lower: String = secret.iter().map(|b| format!("{b:02x}")).collect();
    let std = |s: &[u8]| {
        const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        s.chunks(3)
            .flat_map(|c| {
                let n = c.iter().fold(0u32, |a, &b| a << 8 | b as u32) << (8 * (3 - c.len()));
                (0..=c.len()).map(move |i| A[(n >> (18 - 6 * i) & 63) as usize] as char)
            })
            .collect::<String>()
    };
    vec![lower.to_uppercase(), lower, std(secret)]
}

#[test]
fn no_decrypted_byte_reaches_any_output_or_state_file() {
    let zero = [0u8; 32];
    let cases: Vec<(&str, Vec<Vec<u8>>)> = vec![
        (
            "zero-stek-48.pcap",
            tickets("zero-stek-48.pcap")
                .iter()
                .map(|t| decrypt::<aes::Aes128>(&zero[..16], t))
                .collect(),
        ),
        (
            "zero-stek-80.pcap",
            tickets("zero-stek-80.pcap")
                .iter()
                .map(|t| decrypt::<aes::Aes256>(&zero, t))
                .collect(),
        ),
        (
            "plaintext-ticket.pcap",
            tickets("plaintext-ticket.pcap")
                .iter()
                .map(|t| t[32..t.len() - 32].to_vec())
                .collect(),
        ),
    ];
    for (file, plains) in cases {
        assert_eq!(plains.len(), 2, "{file}");
        let mut secrets: Vec<Vec<u8>> = Vec::new();
        for p in &plains {
            assert_eq!(p[0], 0x30, "{file}: a DER session");
            secrets.push(master_key(p));
            // Every 12-byte window past the DER header (version, cipher: public on the wire),
            // but for text: OpenSSL keeps the server name (sent in clear in the ClientHello).
            secrets.extend(
                p[16..]
                    .windows(12)
                    .filter(|w| !w.iter().all(u8::is_ascii_graphic))
                    .map(<[u8]>::to_vec),
            );
        }
        assert_eq!(secrets[0].len(), 48, "{file}: a TLS 1.2 master secret");
        let state = std::env::temp_dir().join(format!(
            "stekwatch-weak-privacy-{}-{file}.state",
            std::process::id()
        ));
        let _ = std::fs::remove_file(&state);
        let mut text = String::new();
        for format in ["human", "json", "jsonl"] {
            let out = stekwatch(&[
                "read",
                "--format",
                format,
                "--state",
                state.to_str().unwrap(),
                capture(file).to_str().unwrap(),
            ]);
            assert_eq!(out.status.code(), Some(0));
            text.push_str(&String::from_utf8_lossy(&out.stdout));
            text.push_str(&String::from_utf8_lossy(&out.stderr));
        }
        let saved = std::fs::read(&state).unwrap();
        text.push_str(&String::from_utf8_lossy(&saved));
        assert!(text.contains("weak-stek"), "{file}: the alert is there");
        for s in &secrets {
            assert!(
                !saved.windows(s.len()).any(|w| w == &s[..]),
                "{file}: raw bytes in state"
            );
            for e in encodings(s) {
                assert!(
                    !text.contains(&e),
                    "{file}: decrypted bytes {e} in the output"
                );
            }
        }
        let _ = std::fs::remove_file(&state);
    }
    // The helper sees what it should: the rewritten capture's plaintext is the zero-key
    // decryption's shape (same DER header bytes).
    assert_eq!(
        unhex("307f020101")[..],
        tickets("plaintext-ticket.pcap")[0][32..37]
    );
}
