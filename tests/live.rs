//! `stekwatch live` through the binary (cargo feature "live"; `cargo test --features live`).
//! Tests that capture need root (they use the loopback interface and a filter that matches
//! nothing); without root they say they skip. The TLS end to end test with nginx is
//! scripts/live-e2e.sh.
#![cfg(feature = "live")]

mod support;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use support::*;

fn root_or_skip(test: &str) -> bool {
    root_or_skip_because(test, "capturing on lo")
}

fn temp_dir(name: &str) -> PathBuf {
    fresh_dir("live", name)
}

/// Starts `stekwatch live` with stderr to a file, and waits until it captures.
fn start_live(args: &[&str], err: &Path) -> Child {
    let mut child = Command::new(env!("CARGO_BIN_EXE_stekwatch"))
        .arg("live")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(err).unwrap())
        .spawn()
        .expect("spawn stekwatch live");
    let began = Instant::now();
    while began.elapsed() < Duration::from_secs(20) {
        if std::fs::read_to_string(err).is_ok_and(|t| t.contains("capturing on")) {
            return child;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!(
        "live did not start: {}",
        std::fs::read_to_string(err).unwrap()
    );
}

fn signal(child: &Child, sig: &str) {
    let ok = Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill {sig}");
}

#[test]
fn a_missing_interface_is_an_error_naming_the_available_ones() {
    let out = stekwatch(&["live", "-i", "no-such-if9"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no interface named 'no-such-if9' (available: ") && err.contains("lo"),
        "{err}"
    );
}

#[test]
fn bad_live_options_are_usage_errors() {
    for args in [
        vec!["live", "-i", "lo", "--checkpoint", "0s"],
        vec!["live", "-i", "lo", "--snaplen", "10"],
        vec!["live", "-i", "lo", "--buffer-mib", "0"],
        vec!["live", "-i", "lo", "--stats-interval", "often"],
    ] {
        let out = stekwatch(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
    }
}

#[test]
fn an_invalid_capture_filter_is_refused_before_capturing() {
    if !root_or_skip("filter") {
        return;
    }
    let out = stekwatch(&["live", "-i", "lo", "--filter", "tcp port"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("is not a valid BPF filter"), "{err}");
}

#[test]
fn capture_without_permission_says_how_to_get_it() {
    let out = if is_root() {
        // As nobody, when setpriv exists and nobody can run the test binary.
        match Command::new("setpriv")
            .args(["--reuid=nobody", "--regid=nogroup", "--clear-groups"])
            .arg(env!("CARGO_BIN_EXE_stekwatch"))
            .args(["live", "-i", "lo"])
            .output()
        {
            Ok(out) if !String::from_utf8_lossy(&out.stderr).contains("Permission denied") => out,
            _ => {
                skip_notice("cannot run the binary as nobody here");
                return;
            }
        }
    } else {
        stekwatch(&["live", "-i", "lo"])
    };
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no permission to capture on 'lo'") && err.contains("setcap"),
        "{err}"
    );
}

#[test]
fn sigterm_saves_the_state_and_ends_with_a_summary_and_status_0() {
    if !root_or_skip("sigterm") {
        return;
    }
    let dir = temp_dir("sigterm");
    let state = dir.join("s.json");
    let err = dir.join("err");
    let mut child = start_live(
        &[
            "-i",
            "lo",
            "--filter",
            "tcp port 1",
            "--state",
            s(&state),
            "--format",
            "jsonl",
        ],
        &err,
    );
    signal(&child, "-TERM");
    let status = child.wait().unwrap();
    let mut out = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    assert_eq!(
        status.code(),
        Some(0),
        "{}",
        std::fs::read_to_string(&err).unwrap()
    );
    let last: serde_json::Value = serde_json::from_str(out.lines().last().unwrap()).unwrap();
    assert_eq!(last["type"], "summary");
    assert_eq!(last["capture"]["interface"], "lo");
    assert_eq!(last["capture"]["stopped"], "signal");
    let files = last["observation"]["files"].as_array().unwrap();
    assert!(
        files[0].as_str().unwrap().starts_with("live:lo "),
        "{files:?}"
    );
    let report = stekwatch(&["report", "--state", s(&state)]);
    assert_eq!(report.status.code(), Some(0));
    assert!(std::fs::read_to_string(&err).unwrap().contains("(at exit)"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn sigkill_during_live_checkpoints_never_leaves_a_state_that_fails_to_load() {
    if !root_or_skip("sigkill") {
        return;
    }
    let dir = temp_dir("sigkill");
    let state = dir.join("s.json");
    // A large history makes every checkpoint a long write.
    std::fs::write(&state, big_state(20)).unwrap();
    let err = dir.join("err");
    let mut seed = 0x2545_f491_4f6c_dd1du64 ^ std::process::id() as u64;
    for round in 0..6 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let mut child = start_live(
            &[
                "-i",
                "lo",
                "--filter",
                "tcp port 1",
                "--state",
                s(&state),
                "--checkpoint",
                "1s",
                "--format",
                "jsonl",
            ],
            &err,
        );
        std::thread::sleep(Duration::from_millis(1000 + seed % 2000));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let load = stekwatch(&["report", "--state", s(&state), "--format", "jsonl"]);
        assert_eq!(
            load.status.code(),
            Some(0),
            "round {round}: {}",
            String::from_utf8_lossy(&load.stderr)
        );
        let text = String::from_utf8_lossy(&load.stdout);
        assert!(
            text.contains("\"services\":20"),
            "round {round}: history kept"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
