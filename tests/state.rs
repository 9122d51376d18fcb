//! Lasting history through the binary (issue 4): `read --state`, `report --state`, `merge`;
//! order-free merges, history across capture files read one at a time, refusal of damaged or
//! newer files, and states that survive SIGKILL during writes.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::*;

/// A fresh directory, removed when the test passes.
struct TempDir(PathBuf);

impl std::ops::Deref for TempDir {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

fn temp_dir(name: &str) -> TempDir {
    let dir = std::env::temp_dir().join(format!("stekwatch-state-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    TempDir(dir)
}

fn state_report(state: &Path) -> Value {
    let out = ok(&["report", "--state", s(state), "--format", "json"]);
    without_new(serde_json::from_slice(&out.stdout).unwrap())
}

/// A report without the alerts' `new` flags, which say whether a loaded history had reported
/// an alert before (present only when a state was loaded, so they differ by design between
/// `read`, `read --state` and `report --state`; see `alerts_are_new_until_a_state_reported_them`).
fn without_new(mut r: Value) -> Value {
    for a in r["alerts"].as_array_mut().unwrap() {
        a.as_object_mut().unwrap().remove("new");
    }
    r
}

/// The packets of a classic pcap file whose time passes `keep` (seconds since the epoch).
fn pcap_subset(path: &Path, keep: impl Fn(u32) -> bool) -> Vec<u8> {
    let bytes = std::fs::read(path).unwrap();
    assert_eq!(
        &bytes[..4],
        &[0xd4, 0xc3, 0xb2, 0xa1],
        "little-endian µs pcap"
    );
    let mut out = bytes[..24].to_vec();
    let mut at = 24;
    while at + 16 <= bytes.len() {
        let word = |o: usize| u32::from_le_bytes(bytes[at + o..at + o + 4].try_into().unwrap());
        let end = at + 16 + word(8) as usize;
        if keep(word(0)) {
            out.extend_from_slice(&bytes[at..end]);
        }
        at = end;
    }
    out
}

#[test]
fn merge_a_b_equals_merge_b_a_equals_one_run_over_both_inputs() {
    let dir = temp_dir("merge");
    let (one, two) = (capture("static-key-weeks.pcap"), capture("shared-key.pcap"));
    let (a, b) = (dir.join("a.json"), dir.join("b.json"));
    ok(&["read", "--state", s(&a), s(&one)]);
    ok(&["read", "--state", s(&b), s(&two)]);
    let (ab, ba, both) = (
        dir.join("ab.json"),
        dir.join("ba.json"),
        dir.join("both.json"),
    );
    ok(&["merge", s(&a), s(&b), "-o", s(&ab)]);
    ok(&["merge", s(&b), s(&a), "-o", s(&ba)]);
    ok(&["read", "--state", s(&both), s(&one), s(&two)]);
    assert_eq!(
        std::fs::read(&ab).unwrap(),
        std::fs::read(&ba).unwrap(),
        "byte-identical states"
    );
    let r = state_report(&ab);
    assert_eq!(r, state_report(&ba));
    assert_eq!(r, state_report(&both));
    assert_eq!(
        alerts(&r),
        set(&[
            &format!(
                "stale-ticket-accepted/critical/static.test/{}",
                hexname("static-key-0001!")
            ),
            &format!(
                "stek-not-rotated/critical/static.test/{}",
                hexname("static-key-0001!")
            ),
            &format!(
                "ticket-lifetime-too-long/critical/static.test/{}",
                hexname("static-key-0001!")
            ),
            &format!(
                "stek-shared/warning/a.shared.test,b.shared.test,c.shared.test/{}",
                hexname("shared-key-0001!")
            ),
        ])
    );
    // Evidence keeps its file names through the merge.
    let files: Vec<&str> = r["observation"]["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap())
        .collect();
    assert_eq!(files, vec![s(&two), s(&one)], "sorted by name");
    let not_rotated = r["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["rule"] == "stek-not-rotated")
        .unwrap();
    assert_eq!(not_rotated["evidence"][0]["file"], s(&one));
    assert_eq!(not_rotated["evidence"][0]["frame"], 9);
}

#[test]
fn stek_not_rotated_fires_across_capture_files_read_one_at_a_time() {
    let dir = temp_dir("series");
    let src = capture("tls13-static-days.pcap");
    let day0 = 1_793_491_200u32;
    let first = dir.join("day0.pcap");
    let last = dir.join("day3.pcap");
    std::fs::write(&first, pcap_subset(&src, |t| t < day0 + 3600)).unwrap();
    std::fs::write(&last, pcap_subset(&src, |t| t >= day0 + 3 * 86_400)).unwrap();
    let k = hexname("tls13-static-k01");
    // Each file alone proves nothing.
    for f in [&first, &last] {
        assert!(alerts(&report(&[f], &[])).is_empty());
    }
    let state = dir.join("history.json");
    let out = ok(&["read", "--state", s(&state), "--format", "json", s(&first)]);
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(alerts(&r).is_empty());
    let out = ok(&["read", "--state", s(&state), "--format", "json", s(&last)]);
    let r: Value = without_new(serde_json::from_slice(&out.stdout).unwrap());
    assert_eq!(
        alerts(&r),
        set(&[&format!("stek-not-rotated/warning/tls13.test/{k}")])
    );
    let evidence = &r["alerts"][0]["evidence"];
    assert_eq!(evidence[0]["file"], s(&first));
    assert_eq!(evidence[1]["file"], s(&last));
    assert_eq!(
        state_report(&state),
        r,
        "report --state shows what read printed"
    );
}

#[test]
fn every_fixture_reports_the_same_from_a_saved_state_as_when_read() {
    let dir = temp_dir("same");
    for entry in std::fs::read_dir(root().join("captures")).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if !(name.ends_with(".pcap") || name.ends_with(".pcapng")) {
            continue;
        }
        let state = dir.join(format!("{name}.json"));
        let direct = report(&[&path], &[]);
        let with_state = without_new(report(&[&path], &["--state", s(&state)]));
        assert_eq!(direct, with_state, "{name}");
        assert_eq!(direct, state_report(&state), "{name}");
        // Nothing longer than a 16-byte key name is kept: no tickets, no session IDs.
        let text = std::fs::read_to_string(&state).unwrap();
        let longest_hex = text
            .split('"')
            .filter(|t| t.len() > 1 && t.bytes().all(|b| b.is_ascii_hexdigit()))
            .map(str::len)
            .max()
            .unwrap_or(0);
        assert!(longest_hex <= 32, "{name}: {longest_hex} hex digits");
    }
}

#[test]
fn ip_fragment_counters_survive_a_saved_state() {
    let dir = temp_dir("frag");
    let path = support::rewrite::Capture::read(&capture("weak-key.pcap"))
        .ip_fragment(64)
        .write("state-ipfrag.pcap");
    let state = dir.join("s.json");
    let direct = without_new(report(&[&path], &["--state", s(&state)]));
    assert!(
        direct["statistics"]["ip_datagrams_reassembled"]
            .as_u64()
            .unwrap()
            > 0
    );
    assert_eq!(state_report(&state), direct);
}

#[test]
fn a_damaged_or_newer_state_is_refused_with_status_2_and_left_untouched() {
    let dir = temp_dir("refuse");
    let good = dir.join("good.json");
    ok(&["read", "--state", s(&good), s(&capture("weak-key.pcap"))]);
    let text = std::fs::read_to_string(&good).unwrap();
    let newer = dir.join("newer.json");
    std::fs::write(&newer, text.replacen("\"version\":1", "\"version\":7", 1)).unwrap();
    let damaged = dir.join("damaged.json");
    std::fs::write(&damaged, &text[..text.len() / 2]).unwrap();
    let foreign = dir.join("foreign.json");
    std::fs::write(&foreign, "{\"hello\": 1}\n").unwrap();
    let fixture = capture("shared-key.pcap");
    for (path, says) in [
        (
            &newer,
            "written by a newer stekwatch (state format version 7",
        ),
        (&damaged, "is not a usable stekwatch state file"),
        (&foreign, "is not a usable stekwatch state file"),
    ] {
        let before = std::fs::read(path).unwrap();
        for args in [
            vec!["read", "--state", s(path), s(&fixture)],
            vec!["report", "--state", s(path)],
            vec!["merge", s(&good), s(path), "-o", s(&dir.join("out.json"))],
            vec!["merge", s(&good), "-o", s(path)],
        ] {
            let out = stekwatch(&args);
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
            assert!(
                err.contains(says) && err.contains("left untouched"),
                "{err}"
            );
            assert_eq!(std::fs::read(path).unwrap(), before, "{args:?}");
        }
    }
    let out = stekwatch(&["report", "--state", s(&dir.join("missing.json"))]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no such state file"));
}

#[test]
fn reading_a_file_already_in_the_history_warns_that_it_counts_twice() {
    let dir = temp_dir("twice");
    let state = dir.join("s.json");
    let f = capture("weak-key.pcap");
    ok(&["read", "--state", s(&state), s(&f)]);
    let r = report(&[&f], &["--state", s(&state)]);
    let w = r["warnings"].as_array().unwrap();
    assert!(
        w.iter()
            .any(|w| w.as_str().unwrap().contains("now count twice")),
        "{w:?}"
    );
}

#[test]
fn jsonl_prints_one_line_per_alert_and_a_closing_summary() {
    let out = ok(&[
        "read",
        "--format",
        "jsonl",
        s(&capture("static-key-weeks.pcap")),
    ]);
    let lines: Vec<Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 4);
    for a in &lines[..3] {
        assert_eq!(a["type"], "alert");
        assert_eq!(a["severity"], "critical");
        assert!(a["evidence"].as_array().is_some_and(|e| !e.is_empty()));
    }
    let summary = &lines[3];
    assert_eq!(summary["type"], "summary");
    assert_eq!(summary["alerts"]["critical"], 3);
    assert_eq!(summary["services"], 1);
}

#[test]
fn sigkill_at_any_moment_of_a_save_never_leaves_a_state_that_fails_to_load() {
    let dir = temp_dir("sigkill");
    let input = dir.join("big.json");
    std::fs::write(&input, big_state(20)).unwrap();
    let out = dir.join("out.json");
    // How long one whole merge (load, build, write, fsync, rename) takes.
    let began = Instant::now();
    ok(&["merge", s(&input), "-o", s(&out)]);
    let full = began.elapsed();
    let mut seed = 0x9e37_79b9_7f4a_7c15u64 ^ std::process::id() as u64;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let (mut killed, mut mid_write) = (0, 0);
    let rounds = 16;
    for round in 0..rounds {
        let mut child = Command::new(env!("CARGO_BIN_EXE_stekwatch"))
            .args(["merge", s(&input), "-o", s(&out)])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // The save's temporary file: `.out.json.tmp-` and random letters (issue 11).
        let temp_len = || {
            std::fs::read_dir(&*dir)
                .unwrap()
                .flatten()
                .filter(|e| {
                    e.file_name()
                        .to_string_lossy()
                        .starts_with(".out.json.tmp-")
                })
                .filter_map(|e| e.metadata().ok())
                .map(|m| m.len())
                .max()
        };
        if round % 2 == 0 {
            // Anywhere in the run, or just after it.
            std::thread::sleep(full.mul_f64((next() % 1000) as f64 / 900.0));
        } else {
            // While the new state is being written: once its temp file has contents.
            let began = Instant::now();
            while child.try_wait().unwrap().is_none()
                && temp_len().unwrap_or(0) == 0
                && began.elapsed() < Duration::from_secs(60)
            {
                std::thread::sleep(Duration::from_millis(1));
            }
            std::thread::sleep(Duration::from_millis(next() % 40));
        }
        if child.try_wait().unwrap().is_none() {
            child.kill().unwrap(); // SIGKILL
            killed += 1;
        }
        child.wait().unwrap();
        mid_write += usize::from(temp_len().is_some());
        let load = stekwatch(&["report", "--state", s(&out), "--format", "jsonl"]);
        assert_eq!(
            load.status.code(),
            Some(0),
            "round {round}: {}",
            String::from_utf8_lossy(&load.stderr)
        );
    }
    eprintln!("{killed} of {rounds} merges killed, {mid_write} while writing the new state");
    assert!(
        killed >= rounds / 4,
        "only {killed} of {rounds} runs were killed before they ended"
    );
    // A stray temp file shows that the kill landed while the new state was being written.
    assert!(mid_write >= 1, "no kill landed during a write");
}

#[test]
fn alerts_are_new_until_a_state_reported_them() {
    let dir = temp_dir("new");
    let state = dir.join("s.json");
    let weeks = capture("static-key-weeks.pcap");
    // No state loaded: no `new` flags.
    let first = report(&[&weeks], &["--state", s(&state)]);
    let ids: Vec<&str> = first["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            assert!(a.get("new").is_none(), "{a}");
            a["id"].as_str().unwrap()
        })
        .collect();
    let k = hexname("static-key-0001!");
    assert_eq!(
        ids,
        [
            format!("stale-ticket-accepted:static.test:{k}"),
            format!("stek-not-rotated:static.test:{k}"),
            "ticket-lifetime-too-long:static.test:hint-691200".to_string(),
        ]
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
    );
    // The run recorded what it reported: nothing is new to `report --state`.
    let out = ok(&["report", "--state", s(&state), "--format", "json"]);
    let again: Value = serde_json::from_slice(&out.stdout).unwrap();
    for a in again["alerts"].as_array().unwrap() {
        assert_eq!(a["new"], false, "{a}");
    }
    // A new finding in a later run is new, the old ones are not.
    let weak = capture("weak-key.pcap");
    let later = report(&[&weak], &["--state", s(&state)]);
    let flags: Vec<(String, bool)> = later["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["rule"].as_str().unwrap().to_string(),
                a["new"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        flags,
        [
            ("stale-ticket-accepted".to_string(), false),
            ("stek-not-rotated".to_string(), false),
            ("ticket-lifetime-too-long".to_string(), false),
            ("weak-key-name".to_string(), true),
        ]
    );
}
