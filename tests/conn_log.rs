//! Per-connection records (`--log`) and the history rebuilt from them (`report --from-log`):
//! one record per TLS connection of every fixture, Community IDs as tshark computes them, no
//! whole ticket in any line, and the logs of two sensors reporting exactly what `merge` of
//! their states reports.

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use support::*;

fn fixtures() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(root().join("captures"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let n = p.file_name().unwrap().to_string_lossy().to_string();
            n.ends_with(".pcap") || n.ends_with(".pcapng")
        })
        .collect();
    v.sort();
    v
}

fn lines(log: &Path) -> Vec<Value> {
    std::fs::read_to_string(log)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).expect("every line is JSON"))
        .collect()
}

fn of_type<'a>(lines: &'a [Value], t: &str) -> Vec<&'a Value> {
    lines.iter().filter(|l| l["event_type"] == t).collect()
}

/// Frame number → Community ID, as tshark computes it.
fn tshark_ids(path: &Path) -> BTreeMap<u64, String> {
    let out = Command::new("tshark")
        .args(["-n", "-r", s(path), "--enable-protocol", "communityid"])
        .args(["-T", "fields", "-e", "frame.number", "-e", "communityid"])
        .output()
        .expect("run tshark");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let (f, id) = l.split_once('\t')?;
            Some((f.parse().ok()?, id.to_string()))
        })
        .filter(|(_, id)| !id.is_empty())
        .collect()
}

/// Whole tickets, PSK identities and session IDs, as tshark extracts them (hex).
fn tshark_tickets(path: &Path) -> Vec<String> {
    let out = Command::new("tshark")
        .args([
            "-n",
            "-r",
            s(path),
            "-d",
            "tcp.port==8443,tls",
            "-d",
            "tcp.port==4433,tls",
        ])
        .args(["-T", "fields", "-e", "tls.handshake.session_ticket"])
        .args(["-e", "tls.handshake.extensions.psk.identity.identity"])
        .args(["-e", "tls.handshake.session_id"])
        .output()
        .expect("run tshark");
    String::from_utf8_lossy(&out.stdout)
        .split(['\t', '\n', ','])
        .map(|t| t.replace(':', ""))
        .filter(|t| t.len() > 32)
        .collect()
}

#[test]
fn every_tls_connection_of_every_fixture_is_one_record_with_tsharks_community_id() {
    let tshark = tshark_available();
    let dir = fresh_dir("connlog", "fixtures");
    let mut checked_ids = 0;
    for cap in fixtures() {
        let log = dir.join(format!(
            "{}.log",
            cap.file_name().unwrap().to_string_lossy()
        ));
        let r = report(&[&cap], &["--log", s(&log)]);
        let all = lines(&log);
        let conns = of_type(&all, "tls");
        let stats = of_type(&all, "stats");
        assert_eq!(
            conns.len() as u64,
            r["statistics"]["tls_connections"].as_u64().unwrap(),
            "{}",
            cap.display()
        );
        assert_eq!(stats.len(), 1, "{}", cap.display());
        assert_eq!(stats[0]["stats"], r["statistics"], "{}", cap.display());
        for c in &conns {
            assert!(c["uid"].as_str().unwrap().starts_with('C'));
            assert_eq!(c["evidence"]["file"], s(&cap));
            assert!(c["src_port"].as_u64().is_some() && c["dest_port"].as_u64().is_some());
            // The QUIC fixtures' connections travel over UDP (Community ID protocol 17).
            let quic = cap
                .file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("quic-");
            assert_eq!(c["transport"], if quic { "quic" } else { "tcp" });
        }
        if !tshark {
            continue;
        }
        let ids = tshark_ids(&cap);
        for c in &conns {
            let frame = c["evidence"]["frame"].as_u64().unwrap();
            assert_eq!(
                c["community_id"].as_str(),
                ids.get(&frame).map(String::as_str),
                "{} frame {frame}",
                cap.display()
            );
            checked_ids += 1;
        }
        let text = std::fs::read_to_string(&log).unwrap();
        for t in tshark_tickets(&cap) {
            assert!(
                !text.contains(&t),
                "{}: a whole ticket in the log",
                cap.display()
            );
        }
    }
    if tshark {
        assert!(checked_ids > 100, "only {checked_ids} records checked");
    }
}

#[test]
fn a_record_names_the_resumption_key_and_issued_tickets() {
    let dir = fresh_dir("connlog", "fields");
    let log = dir.join("x.log");
    report(&[&capture("rotation-daily.pcap")], &["--log", s(&log)]);
    let all = lines(&log);
    let conns = of_type(&all, "tls");
    let key = hexname("rotate-key-0001!");
    let first = conns[0];
    assert_eq!(first["sni"], "rotate.test");
    assert_eq!(first["version"], "1.2");
    assert_eq!(first["resumption"], "full");
    assert_eq!(first["tickets_issued"][0]["key_name"], key);
    assert_eq!(first["tickets_issued"][0]["lifetime"], 43200);
    let resumed: Vec<_> = conns
        .iter()
        .filter(|c| c["resumption"] == "ticket")
        .collect();
    assert!(!resumed.is_empty());
    assert!(resumed
        .iter()
        .all(|c| c["key_name"].as_str().unwrap().len() == 32));
    assert!(resumed.iter().any(|c| c["key_name"] == key));
}

fn json_of(args: &[&str]) -> Value {
    serde_json::from_slice(&ok(args).stdout).expect("JSON report")
}

#[test]
fn logs_of_two_sensors_report_what_merge_of_their_states_reports() {
    let dir = fresh_dir("connlog", "sensors");
    let all = fixtures();
    let (a, b): (Vec<_>, Vec<_>) = all.iter().enumerate().partition(|(i, _)| i % 2 == 0);
    let sensor = |name: &str, caps: Vec<(usize, &PathBuf)>, threads: &str| {
        let state = dir.join(format!("{name}.state"));
        let log = dir.join(format!("{name}.log"));
        let mut args = vec![
            "read",
            "-j",
            threads,
            "--state",
            s(&state),
            "--log",
            s(&log),
        ];
        let paths: Vec<&str> = caps.iter().map(|(_, p)| s(p)).collect();
        args.extend(paths);
        ok(&args);
        (state, log)
    };
    let (sa, la) = sensor("a", a, "1");
    let (sb, lb) = sensor("b", b, "2");
    let merged = dir.join("merged.state");
    ok(&["merge", s(&sa), s(&sb), "-o", s(&merged)]);
    let mut want = json_of(&["report", "--state", s(&merged), "--format", "json"]);
    // `new` says what a loaded state had reported before (true here for findings only the
    // merge shows, such as a key shared by services of both sensors): a log knows nothing of
    // that, so only the state's report has it.
    for a in want["alerts"].as_array_mut().unwrap() {
        assert!(a["new"].is_boolean(), "{a}");
        a.as_object_mut().unwrap().remove("new");
    }
    let got = json_of(&["report", "--from-log", s(&la), s(&lb), "--format", "json"]);
    assert_eq!(got, want);
    assert!(want["alerts"].as_array().unwrap().len() > 10);
    // Any order of logs, and the lines of both in one stream mixed with another tool's.
    let mixed = dir.join("mixed.log");
    let mut text = String::from("{\"event_type\":\"flow\",\"community_id\":\"1:x\"}\n");
    text += &std::fs::read_to_string(&lb).unwrap();
    text += &std::fs::read_to_string(&la).unwrap();
    std::fs::write(&mixed, text).unwrap();
    let got = json_of(&["report", "--from-log", s(&mixed), "--format", "json"]);
    assert_eq!(got, want);
}

#[test]
fn a_damaged_log_line_is_a_counted_skip_with_a_warning() {
    let dir = fresh_dir("connlog", "damaged");
    let log = dir.join("x.log");
    report(&[&capture("static-key-weeks.pcap")], &["--log", s(&log)]);
    let good = json_of(&["report", "--from-log", s(&log), "--format", "json"]);
    let mut text = std::fs::read_to_string(&log).unwrap();
    text.push_str("{\"event_type\":\"tls\",\"src_ip\":\"nonsense\"}\n\u{0}\u{1}garbage\n");
    std::fs::write(&log, text).unwrap();
    let r = json_of(&["report", "--from-log", s(&log), "--format", "json"]);
    assert_eq!(r["services"], good["services"]);
    assert_eq!(r["alerts"], good["alerts"]);
    assert_eq!(r["statistics"]["skipped_log_lines"], 2);
    let w = r["warnings"].as_array().unwrap();
    assert!(
        w.iter()
            .any(|w| w.as_str().unwrap().contains("line 19 skipped")),
        "{w:?}"
    );
}
