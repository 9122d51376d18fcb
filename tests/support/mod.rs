//! Helpers for end-to-end tests: run the real binary, parse its JSON report, and read the
//! parts tests assert on.
#![allow(dead_code)]

pub mod encap;
pub mod rewrite;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn capture(name: &str) -> PathBuf {
    root().join("captures").join(name)
}

/// The public captures of other projects, or `None` (with a message) where absent.
pub fn public_captures() -> Option<PathBuf> {
    let dir = root().join("../shared/captures-public/captures");
    if dir.is_dir() {
        Some(dir)
    } else {
        skip_notice(&format!(
            "{} is absent; public-capture checks not run",
            dir.display()
        ));
        None
    }
}

/// Says that a check was skipped, where `cargo test` shows it: straight to the process's
/// standard error (file descriptor 2), which the test harness does not capture (it captures
/// only `print!`/`eprint!`), so the line appears in the normal output of a passing run.
pub fn skip_notice(msg: &str) {
    use std::io::Write;
    use std::os::fd::FromRawFd;
    // SAFETY: fd 2 is open for the whole process; ManuallyDrop keeps it open afterwards.
    let mut err = std::mem::ManuallyDrop::new(unsafe { std::fs::File::from_raw_fd(2) });
    let _ = writeln!(err, "SKIP: {msg}");
}

pub fn stekwatch(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_stekwatch"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run stekwatch")
}

pub fn stekwatch_stdin(args: &[&str], input: &[u8]) -> Output {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_stekwatch"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn stekwatch");
    child.stdin.take().unwrap().write_all(input).unwrap();
    child.wait_with_output().unwrap()
}

/// Runs `read --format json` on `paths` (plus `extra` options) and returns the parsed report.
pub fn report(paths: &[&Path], extra: &[&str]) -> Value {
    let mut args: Vec<String> = vec!["read".into(), "--format".into(), "json".into()];
    args.extend(extra.iter().map(|s| s.to_string()));
    args.extend(paths.iter().map(|p| p.display().to_string()));
    let argv: Vec<&str> = args.iter().map(|s| s.as_str()).collect();
    let out = stekwatch(&argv);
    assert_eq!(
        out.status.code(),
        Some(0),
        "stekwatch failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("valid JSON report")
}

pub fn fixture_report(name: &str) -> Value {
    report(&[&capture(name)], &[])
}

/// Service name → key names (hex), in report order.
pub fn keys(r: &Value) -> BTreeMap<String, Vec<String>> {
    r["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let names = s["ticket_keys"]
                .as_array()
                .unwrap()
                .iter()
                .map(|k| k["key_name"].as_str().unwrap().to_string())
                .collect();
            (s["service"].as_str().unwrap().to_string(), names)
        })
        .collect()
}

/// Alerts as `rule/severity/subject/key` strings; subject is the service or the joined list.
pub fn alerts(r: &Value) -> BTreeSet<String> {
    r["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            let subject = a["service"]
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| {
                    a["services"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|s| s.as_str().unwrap())
                        .collect::<Vec<_>>()
                        .join(",")
                });
            format!(
                "{}/{}/{}/{}",
                a["rule"].as_str().unwrap(),
                a["severity"].as_str().unwrap(),
                subject,
                a["key_name"].as_str().unwrap_or("-")
            )
        })
        .collect()
}

pub fn service<'a>(r: &'a Value, name: &str) -> &'a Value {
    r["services"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["service"] == name)
        .unwrap_or_else(|| panic!("no service {name} in {}", r["services"]))
}

pub fn key<'a>(svc: &'a Value, hex_name: &str) -> &'a Value {
    svc["ticket_keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["key_name"] == hex_name)
        .unwrap_or_else(|| panic!("no key {hex_name} in {}", svc["ticket_keys"]))
}

/// Hex of an ASCII key name, as reports print it.
pub fn hexname(ascii: &str) -> String {
    ascii.bytes().map(|b| format!("{b:02x}")).collect()
}

pub fn handshakes(svc: &Value) -> [u64; 4] {
    let h = &svc["handshakes"];
    [
        "full",
        "resumed_ticket",
        "resumed_session_id",
        "resumed_psk",
    ]
    .map(|k| h[k].as_u64().unwrap())
}

pub fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// Whether `program --version` runs; shows `skip` (what is not checked) when not.
pub fn tool_available(program: &str, skip: &str) -> bool {
    let ok = Command::new(program)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        skip_notice(skip);
    }
    ok
}

/// Whether tshark can be run; prints a skip message when not.
pub fn tshark_available() -> bool {
    tool_available(
        "tshark",
        "tshark is not installed (apt-get install tshark); oracle cross-check not run",
    )
}

/// A state of `services` services with many ticket hashes each: slow enough to write that
/// kills land mid-write.
pub fn big_state(services: usize) -> String {
    let mut svcs = Vec::new();
    for i in 0..services {
        let tickets: Vec<Value> = (0..2000u64)
            .map(|t| {
                serde_json::json!([
                    format!("{:016x}", (i as u64) << 32 | t),
                    "00112233445566778899aabbccddeeff",
                    [1_793_491_200_000_000_000i64 + t as i64, 0, t + 1],
                    null
                ])
            })
            .collect();
        svcs.push(serde_json::json!({
            "name": format!("svc{i:05}.test"), "sni": format!("svc{i:05}.test"),
            "addresses": ["192.0.2.1:443"], "versions": [771],
            "handshakes": {"full": 1, "resumed_ticket": 0, "resumed_session_id": 0,
                           "resumed_psk": 0, "unknown": 0},
            "span": [[1_793_491_200_000_000_000i64, 0, 1], [1_793_491_300_000_000_000i64, 0, 2]],
            "keys": [], "samples": [], "tickets": tickets, "sessions": [],
            "sessions_established": 0, "ticketbleed": null, "dropped": 0
        }));
    }
    serde_json::json!({
        "format": "stekwatch-state", "version": 1, "written_by": "test",
        "files": ["big.pcap"], "start_ns": null, "end_ns": null,
        "packets": {}, "flows": {}, "skipped_capture_blocks": 0, "dropped_services": 0,
        "services": svcs, "announced": []
    })
    .to_string()
}

/// Whether the tests run as root (live capture, network namespaces).
pub fn is_root() -> bool {
    let out = Command::new("id").arg("-u").output().expect("id -u");
    String::from_utf8_lossy(&out.stdout).trim() == "0"
}

/// True as root; otherwise prints a visible SKIP line for `test` saying it needs `what`.
pub fn root_or_skip_because(test: &str, what: &str) -> bool {
    let root = is_root();
    if !root {
        skip_notice(&format!("{test}: {what} needs root"));
    }
    root
}

/// A fresh, empty directory `stekwatch-PREFIX-PID-NAME` under the temp dir.
pub fn fresh_dir(prefix: &str, name: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("stekwatch-{prefix}-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A path as the `&str` command lines take.
pub fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Runs the binary and asserts it exited 0.
pub fn ok(args: &[&str]) -> Output {
    let out = stekwatch(args);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Waits up to `secs` for `file` to contain `text`.
pub fn wait_for(file: &Path, text: &str, secs: u64) -> bool {
    let began = std::time::Instant::now();
    while began.elapsed() < std::time::Duration::from_secs(secs) {
        if std::fs::read_to_string(file).is_ok_and(|t| t.contains(text)) {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    false
}
