//! The command line as a user meets it: exit codes, error messages, odd inputs.

mod support;

use std::io::Write;

use support::*;

fn temp_file(name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("stekwatch-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).to_string()
}

#[test]
fn fail_on_warning_exits_1_when_a_key_is_not_rotated() {
    let static_key = capture("static-key-weeks.pcap");
    let out = stekwatch(&["read", "--fail-on", "warning", static_key.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let rotating = capture("rotation-daily.pcap");
    let out = stekwatch(&["read", "--fail-on", "warning", rotating.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

#[test]
fn fail_on_critical_ignores_warnings() {
    let tls13 = capture("tls13-static-days.pcap");
    let out = stekwatch(&["read", "--fail-on", "critical", tls13.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0));
    let out = stekwatch(&["read", "--fail-on", "info", tls13.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn garbage_is_refused_with_a_message_naming_the_file() {
    let path = temp_file(
        "garbage.pcap",
        b"this is not a capture file, just some text\n",
    );
    let out = stekwatch(&["read", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("garbage.pcap") && err.contains("not a pcap or pcapng capture"),
        "{err}"
    );
}

#[test]
fn empty_file_is_refused_with_a_clear_message() {
    let path = temp_file("empty.pcap", b"");
    let out = stekwatch(&["read", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("empty.pcap: not a pcap or pcapng capture (the file is empty)"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn missing_file_is_an_input_error() {
    let out = stekwatch(&["read", "/nonexistent/capture.pcap"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("/nonexistent/capture.pcap"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn truncated_capture_warns_and_reports_what_was_read() {
    let bytes = std::fs::read(capture("static-key-weeks.pcap")).unwrap();
    let cut = temp_file("cut.pcap", &bytes[..bytes.len() * 2 / 3]);
    let out = stekwatch(&["read", "--format", "json", cut.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let warnings = r["warnings"].as_array().unwrap();
    assert_eq!(warnings.len(), 1);
    assert!(
        warnings[0]
            .as_str()
            .unwrap()
            .contains("file ends inside packet record"),
        "{warnings:?}"
    );
    assert!(r["observation"]["packets"].as_u64().unwrap() > 50);
    assert_eq!(keys(&r)["static.test"], vec![hexname("static-key-0001!")]);
    // The human report shows the warning too.
    let out = stekwatch(&["read", cut.to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("warning: "));
}

#[test]
fn truncated_file_header_is_an_error() {
    let bytes = std::fs::read(capture("weak-key.pcap")).unwrap();
    let cut = temp_file("header.pcap", &bytes[..10]);
    let out = stekwatch(&["read", cut.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("header.pcap"), "{}", stderr(&out));
}

#[test]
fn stdin_gives_the_same_report_as_the_file() {
    let path = capture("shared-key.pcap");
    let bytes = std::fs::read(&path).unwrap();
    let out = stekwatch_stdin(&["read", "--format", "json", "-"], &bytes);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let from_stdin: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let from_file = report(&[&path], &[]);
    assert_eq!(alerts(&from_stdin), alerts(&from_file));
    assert_eq!(keys(&from_stdin), keys(&from_file));
    assert_eq!(
        from_stdin["observation"]["files"],
        serde_json::json!(["<stdin>"])
    );
}

#[test]
fn gzip_compressed_capture_is_read_transparently() {
    let bytes = std::fs::read(capture("weak-key.pcap")).unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&bytes).unwrap();
    let path = temp_file("weak.pcap.gz", &gz.finish().unwrap());
    let r = report(&[&path], &[]);
    assert_eq!(keys(&r)["weak.test"], vec!["00".repeat(16)]);
}

#[test]
fn bad_options_are_usage_errors() {
    let p = capture("weak-key.pcap");
    let p = p.to_str().unwrap();
    for args in [
        vec!["read", "--max-key-age", "soon", p],
        vec!["read", "--key-name-len", "40", p],
        vec!["read", "--fail-on", "loud", p],
        vec!["read", "--max-key-age", "7d", "--critical-key-age", "1d", p],
        vec!["read"],
        vec!["frobnicate"],
    ] {
        let out = stekwatch(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(!stderr(&out).is_empty());
    }
}

#[cfg(not(feature = "live"))]
#[test]
fn live_without_the_feature_says_how_to_get_it() {
    let out = stekwatch(&["live", "-i", "lo"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--features live"), "{}", stderr(&out));
}

#[test]
fn human_report_shows_keys_and_alerts_at_a_glance() {
    let out = stekwatch(&["read", capture("static-key-weeks.pcap").to_str().unwrap()]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("static.test"), "{text}");
    assert!(text.contains(&hexname("static-key-0001!")));
    assert!(text.contains("\"static-key-0001!\""));
    assert!(text.contains("CRITICAL stek-not-rotated"));
    assert!(text.contains("evidence: "));
}
