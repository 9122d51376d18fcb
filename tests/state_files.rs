//! State files through the binary (issue 11, item 3): two runs on one state never lose a
//! history (a lock held for the whole run), a held lock refuses with the holder's pid, a
//! symlinked state is written through, owner and mode are kept, stray temporary files of
//! crashed saves are removed, merged counters saturate, and loading is linear.

mod support;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::*;

fn temp_dir(name: &str) -> PathBuf {
    fresh_dir("sf", name)
}

fn state_files(state: &Path) -> Vec<String> {
    let out = ok(&["report", "--state", s(state), "--format", "json"]);
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    r["observation"]["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap().to_string())
        .collect()
}

#[test]
fn two_concurrent_reads_on_one_state_never_lose_a_history() {
    let dir = temp_dir("race");
    let (a, b) = (
        capture("static-key-weeks.pcap"),
        capture("rotation-daily.pcap"),
    );
    for round in 0..20 {
        let state = dir.join(format!("s{round}.json"));
        let spawn = |input: &Path| {
            Command::new(env!("CARGO_BIN_EXE_stekwatch"))
                .args(["read", "--state", s(&state), s(input)])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        };
        let (x, y) = (spawn(&a), spawn(&b));
        for c in [x, y] {
            let out = c.wait_with_output().unwrap();
            assert_eq!(
                out.status.code(),
                Some(0),
                "round {round}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let files = state_files(&state);
        assert_eq!(files.len(), 2, "round {round}: {files:?}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_held_lock_makes_another_run_refuse_naming_the_holders_pid() {
    let dir = temp_dir("held");
    let state = dir.join("s.json");
    ok(&["read", "--state", s(&state), s(&capture("haproxy.pcap"))]);
    let before = std::fs::read(&state).unwrap();
    let lock = stekwatch::state::lock(&state, Duration::ZERO, &mut |_| {}).unwrap();
    let began = Instant::now();
    let out = stekwatch(&[
        "read",
        "--state",
        s(&state),
        "--lock-wait",
        "1s",
        s(&capture("rotation-daily.pcap")),
    ]);
    assert!(began.elapsed() >= Duration::from_secs(1));
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    let pid = format!("(pid {})", std::process::id());
    assert!(err.contains("is in use by another stekwatch run"), "{err}");
    assert!(err.contains(&pid), "{err}");
    assert_eq!(std::fs::read(&state).unwrap(), before, "state untouched");
    // A merge into it refuses the same way; once released, runs go through.
    let out = stekwatch(&["merge", s(&state), "-o", s(&state), "--lock-wait", "0"]);
    assert_eq!(out.status.code(), Some(2));
    drop(lock);
    ok(&[
        "read",
        "--state",
        s(&state),
        s(&capture("rotation-daily.pcap")),
    ]);
    assert_eq!(state_files(&state).len(), 2);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_symlinked_state_is_written_through_to_its_target() {
    let dir = temp_dir("symlink");
    std::fs::create_dir(dir.join("real")).unwrap();
    let target = dir.join("real/state.json");
    let link = dir.join("state.json");
    std::os::unix::fs::symlink("real/state.json", &link).unwrap();
    ok(&["read", "--state", s(&link), s(&capture("haproxy.pcap"))]);
    ok(&[
        "read",
        "--state",
        s(&link),
        s(&capture("rotation-daily.pcap")),
    ]);
    assert!(std::fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
    assert_eq!(state_files(&target).len(), 2);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_saved_state_keeps_the_mode_and_owner_of_the_file_it_replaces() {
    let dir = temp_dir("mode");
    let state = dir.join("s.json");
    ok(&["read", "--state", s(&state), s(&capture("haproxy.pcap"))]);
    // A new state names keys: private to its owner.
    assert_eq!(std::fs::metadata(&state).unwrap().mode() & 0o7777, 0o600);
    std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o640)).unwrap();
    let root = is_root();
    if root {
        std::os::unix::fs::chown(&state, Some(4321), Some(4322)).unwrap();
    }
    ok(&[
        "read",
        "--state",
        s(&state),
        s(&capture("rotation-daily.pcap")),
    ]);
    let m = std::fs::metadata(&state).unwrap();
    assert_eq!(m.mode() & 0o7777, 0o640);
    if root {
        assert_eq!((m.uid(), m.gid()), (4321, 4322));
    } else {
        eprintln!("SKIP: owner kept: needs root to chown");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn stray_temp_files_of_crashed_saves_are_removed_by_the_next_run() {
    let dir = temp_dir("strays");
    let state = dir.join("s.json");
    // Old pid naming (a dead pid), the new random naming, and files that are not strays.
    let dead = ".s.json.tmp-4194999";
    let random = ".s.json.tmp-Q7ab29XkLm03";
    let live = ".s.json.tmp-1"; // pid 1 is alive: an old stekwatch could be writing it
    for n in [dead, random, live, ".s.json.tmp-x.y", "other.json"] {
        std::fs::write(dir.join(n), b"{").unwrap();
    }
    let out = ok(&["read", "--state", s(&state), s(&capture("haproxy.pcap"))]);
    let err = String::from_utf8_lossy(&out.stderr);
    for n in [dead, random] {
        assert!(!dir.join(n).exists(), "{n} left");
        assert!(err.contains(n), "{err}");
    }
    for n in [live, ".s.json.tmp-x.y", "other.json"] {
        assert!(dir.join(n).exists(), "{n} removed");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

fn state_with(full: u64, issued: u64) -> String {
    json!({
        "format": "stekwatch-state", "version": 1, "written_by": "test",
        "files": ["x.pcap"], "start_ns": null, "end_ns": null,
        "packets": {}, "flows": {}, "skipped_capture_blocks": 0, "dropped_services": 0,
        "services": [{
            "name": "big.test", "sni": "big.test",
            "addresses": ["192.0.2.1:443"], "versions": [771],
            "handshakes": {"full": full, "resumed_ticket": 0, "resumed_session_id": 0,
                           "resumed_psk": 0, "unknown": 0},
            "span": [[1_793_491_200_000_000_000i64, 0, 1], [1_793_491_300_000_000_000i64, 0, 2]],
            "keys": [{"name": "00112233445566778899aabbccddeeff",
                      "issued": [[1_793_491_200_000_000_000i64, 0, 1], [1_793_491_300_000_000_000i64, 0, 2]],
                      "accepted": null, "offered": null,
                      "tickets_issued": issued, "resumptions_offered": 0, "resumptions_accepted": 0,
                      "hint_min": null, "hint_max": null, "stale_matched": null}],
            "samples": [], "tickets": [], "sessions": [],
            "sessions_established": 0, "ticketbleed": null, "dropped": 0
        }],
        "announced": []
    })
    .to_string()
}

#[test]
fn merged_counters_saturate_instead_of_wrapping() {
    let dir = temp_dir("saturate");
    let (a, b, out) = (dir.join("a.json"), dir.join("b.json"), dir.join("o.json"));
    std::fs::write(&a, state_with(u64::MAX - 1, u64::MAX)).unwrap();
    std::fs::write(&b, state_with(5, 3)).unwrap();
    ok(&["merge", s(&a), s(&b), "-o", s(&out)]);
    let r: Value =
        serde_json::from_slice(&ok(&["report", "--state", s(&out), "--format", "json"]).stdout)
            .unwrap();
    let svc = service(&r, "big.test");
    assert_eq!(svc["handshakes"]["full"].as_u64(), Some(u64::MAX));
    assert_eq!(
        svc["ticket_keys"][0]["tickets_issued"].as_u64(),
        Some(u64::MAX)
    );
    // Counting on from saturated counters (a capture added to the merged state) stays there.
    let more = ok(&[
        "read",
        "--state",
        s(&out),
        "--format",
        "json",
        s(&capture("static-key-weeks.pcap")),
    ]);
    let r: Value = serde_json::from_slice(&more.stdout).unwrap();
    assert_eq!(
        service(&r, "big.test")["handshakes"]["full"].as_u64(),
        Some(u64::MAX)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_state_of_100k_input_names_and_100k_services_loads_in_linear_time() {
    let dir = temp_dir("linear");
    let state = dir.join("big.json");
    let n = 100_000;
    let services: Vec<Value> = (0..n)
        .map(|i| {
            json!({
                "name": format!("svc{i:06}.test"), "sni": format!("svc{i:06}.test"),
                "addresses": ["192.0.2.1:443"], "versions": [771],
                "handshakes": {"full": 1, "resumed_ticket": 0, "resumed_session_id": 0,
                               "resumed_psk": 0, "unknown": 0},
                "span": [[1_793_491_200_000_000_000i64, i, 1], [1_793_491_300_000_000_000i64, i, 2]],
                "keys": [], "samples": [], "tickets": [], "sessions": [],
                "sessions_established": 0, "ticketbleed": null, "dropped": 0
            })
        })
        .collect();
    let files: Vec<String> = (0..n).map(|i| format!("f{i:06}.pcap")).collect();
    let text = json!({
        "format": "stekwatch-state", "version": 1, "written_by": "test",
        "files": files, "start_ns": null, "end_ns": null,
        "packets": {}, "flows": {}, "skipped_capture_blocks": 0, "dropped_services": 0,
        "services": services, "announced": []
    });
    std::fs::write(&state, text.to_string()).unwrap();
    let began = Instant::now();
    let out = ok(&["report", "--state", s(&state), "--format", "json"]);
    let took = began.elapsed();
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        r["observation"]["files"].as_array().unwrap().len(),
        n as usize
    );
    eprintln!("report of 100k names and 100k services: {took:?}");
    // Quadratic loading took 17 s (release build); linear takes a few seconds even unoptimised.
    assert!(took < Duration::from_secs(15), "{took:?}");
    let _ = std::fs::remove_dir_all(&dir);
}
