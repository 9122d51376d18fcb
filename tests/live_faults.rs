//! `stekwatch live` under faults (issue 11; cargo feature "live", needs root, skips visibly
//! otherwise): SIGHUP saves the history and the capture goes on; a link that goes down and up
//! again (a veth pair in a network namespace) is waited out, reported on stderr and in the
//! summary's `capture` object.
#![cfg(feature = "live")]

mod support;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use support::*;

fn root_or_skip(test: &str) -> bool {
    root_or_skip_because(test, "live capture")
}

fn temp_dir(name: &str) -> PathBuf {
    fresh_dir("livef", name)
}

fn spawn(prefix: &[&str], args: &[&str], err: &Path) -> Child {
    let mut cmd = match prefix.split_first() {
        Some((p, rest)) => {
            let mut c = Command::new(p);
            c.args(rest).arg(env!("CARGO_BIN_EXE_stekwatch"));
            c
        }
        None => Command::new(env!("CARGO_BIN_EXE_stekwatch")),
    };
    let child = cmd
        .arg("live")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(err).unwrap())
        .spawn()
        .expect("spawn stekwatch live");
    assert!(
        wait_for(err, "capturing on", 20),
        "live did not start: {}",
        std::fs::read_to_string(err).unwrap()
    );
    child
}

fn signal(child: &Child, sig: &str) {
    let ok = Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill {sig}");
}

fn stop_and_summary(mut child: Child, err: &Path) -> serde_json::Value {
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
        std::fs::read_to_string(err).unwrap()
    );
    serde_json::from_str(out.lines().last().unwrap()).unwrap()
}

fn ip(args: &[&str]) -> bool {
    Command::new("ip")
        .args(args)
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

#[test]
fn sighup_saves_the_state_and_the_sensor_keeps_capturing() {
    if !root_or_skip("sighup") {
        return;
    }
    let dir = temp_dir("sighup");
    let state = dir.join("s.json");
    std::fs::write(&state, big_state(2)).unwrap();
    let before = std::fs::metadata(&state).unwrap().modified().unwrap();
    let err = dir.join("err");
    let args = [
        "-i",
        "lo",
        "--filter",
        "tcp port 1",
        "--state",
        s(&state),
        "--checkpoint",
        "1h",
        "--format",
        "jsonl",
    ];
    let mut child = spawn(&[], &args, &err);
    signal(&child, "-HUP");
    assert!(
        wait_for(&err, "SIGHUP: history saved", 10),
        "{}",
        std::fs::read_to_string(&err).unwrap()
    );
    std::thread::sleep(Duration::from_millis(300));
    assert!(child.try_wait().unwrap().is_none(), "the sensor ended");
    assert!(std::fs::metadata(&state).unwrap().modified().unwrap() > before);
    let report = stekwatch(&["report", "--state", s(&state), "--format", "jsonl"]);
    assert_eq!(report.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&report.stdout).contains("\"services\":2"));
    let summary = stop_and_summary(child, &err);
    assert_eq!(summary["capture"]["stopped"], "signal");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_link_that_goes_down_and_up_again_is_waited_out_and_reported() {
    if !root_or_skip("link down") {
        return;
    }
    let ns = format!("swlink{}", std::process::id());
    if !ip(&["netns", "add", &ns]) {
        skip_notice("link down: cannot make a network namespace");
        return;
    }
    let inns = |args: &[&str]| {
        let mut all = vec!["netns", "exec", ns.as_str(), "ip"];
        all.extend_from_slice(args);
        assert!(ip(&all), "ip {args:?}");
    };
    inns(&["link", "add", "swa", "type", "veth", "peer", "name", "swb"]);
    inns(&["link", "set", "dev", "swa", "up"]);
    inns(&["link", "set", "dev", "swb", "up"]);
    let dir = temp_dir("link");
    let err = dir.join("err");
    let child = spawn(
        &["ip", "netns", "exec", &ns],
        &["-i", "swa", "--filter", "tcp port 1", "--format", "jsonl"],
        &err,
    );
    std::thread::sleep(Duration::from_millis(300));
    inns(&["link", "set", "dev", "swa", "down"]);
    std::thread::sleep(Duration::from_millis(1500));
    inns(&["link", "set", "dev", "swa", "up"]);
    let back = wait_for(&err, "capturing again", 20);
    let text = std::fs::read_to_string(&err).unwrap();
    let summary = stop_and_summary(child, &err);
    ip(&["netns", "del", &ns]);
    assert!(back, "{text}");
    assert!(
        summary["capture"]["interruptions"].as_u64() >= Some(1),
        "{summary}"
    );
    assert_eq!(summary["capture"]["stopped"], "signal");
    let files = summary["observation"]["files"].as_array().unwrap();
    assert!(files.len() >= 2, "a new input after the reopen: {files:?}");
    let _ = std::fs::remove_dir_all(&dir);
}
