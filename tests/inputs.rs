//! Inputs through the binary (issue 11, item 4): directories read by content, non-captures in
//! them skipped and listed, each file once, symlink loops ended, pipes and process
//! substitution read, spools capped with clear refusals, and a capture truncated under the
//! reader a clear error rather than a crash.

mod support;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::*;

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("stekwatch-inputs-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn json(out: &std::process::Output) -> Value {
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(bytes).unwrap();
    gz.finish().unwrap()
}

fn warnings(r: &Value) -> Vec<String> {
    r["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w.as_str().unwrap().to_string())
        .collect()
}

#[test]
fn a_directory_is_read_by_content_and_its_non_captures_are_skipped_and_listed() {
    let dir = temp_dir("bycontent");
    let copy = |fixture: &str, name: &str| std::fs::copy(capture(fixture), dir.join(name)).unwrap();
    copy("static-key-weeks.pcap", "x.pcap1"); // tcpdump -C rotation
    copy("rotation-daily.pcap", "trace-20261101"); // tcpdump -G, no extension
    copy("tls13-static-days.pcap", "UPPER.PCAP");
    std::fs::create_dir(dir.join("sub")).unwrap();
    let weak = std::fs::read(capture("weak-key.pcap")).unwrap();
    std::fs::write(dir.join("sub/weak"), gzip(&weak)).unwrap();
    std::fs::write(dir.join("empty.pcap"), b"").unwrap();
    std::fs::write(dir.join("notes.txt"), b"not a capture\n").unwrap();
    std::fs::write(dir.join("text.gz"), gzip(b"hello")).unwrap();
    std::os::unix::fs::symlink("gone.pcap", dir.join("dangling.pcap")).unwrap();
    let out = stekwatch(&["read", "--format", "json", s(&dir)]);
    let r = json(&out);
    let files: Vec<&str> = r["observation"]["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap())
        .collect();
    assert_eq!(files.len(), 4, "{files:?}");
    for n in ["x.pcap1", "trace-20261101", "UPPER.PCAP", "sub/weak"] {
        assert!(files.iter().any(|f| f.ends_with(n)), "{n} in {files:?}");
    }
    for svc in ["static.test", "rotate.test", "weak.test"] {
        assert!(keys(&r).contains_key(svc), "{svc}");
    }
    let skipped: Vec<(String, String)> = r["skipped_inputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let path = s["path"].as_str().unwrap();
            let name = Path::new(path).file_name().unwrap().to_string_lossy();
            (name.to_string(), s["reason"].as_str().unwrap().to_string())
        })
        .collect();
    let names: Vec<&str> = skipped.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        ["dangling.pcap", "empty.pcap", "notes.txt", "text.gz"],
        "{skipped:?}"
    );
    assert!(skipped[0].1.starts_with("unreadable"), "{skipped:?}");
    assert_eq!(skipped[1].1, "empty");
    assert!(
        skipped[2].1.starts_with("not a pcap or pcapng capture"),
        "{skipped:?}"
    );
    assert!(skipped[3].1.contains("gzip"), "{skipped:?}");
    assert_eq!(
        warnings(&r)
            .iter()
            .filter(|w| w.contains("skipped"))
            .count(),
        4
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_report_with_nothing_skipped_has_no_skipped_inputs_field() {
    let r = fixture_report("haproxy.pcap");
    assert!(r.get("skipped_inputs").is_none(), "{}", r["skipped_inputs"]);
}

#[test]
fn a_non_capture_named_on_the_command_line_is_still_an_error() {
    let dir = temp_dir("explicit");
    let notes = dir.join("notes.txt");
    std::fs::write(&notes, b"not a capture\n").unwrap();
    let out = stekwatch(&["read", s(&capture("haproxy.pcap")), s(&notes)]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("notes.txt: not a pcap or pcapng capture"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_same_file_given_twice_or_through_a_link_is_read_once_with_a_warning() {
    let dir = temp_dir("twice");
    let f = capture("static-key-weeks.pcap");
    std::os::unix::fs::symlink(&f, dir.join("alias.pcap")).unwrap();
    let once = fixture_report("static-key-weeks.pcap");
    let r = json(&stekwatch(&[
        "read",
        "--format",
        "json",
        s(&f),
        s(&f),
        s(&dir),
    ]));
    assert_eq!(r["observation"]["files"].as_array().unwrap().len(), 1);
    assert_eq!(
        handshakes(service(&r, "static.test")),
        handshakes(service(&once, "static.test"))
    );
    let w = warnings(&r);
    assert_eq!(
        w.iter()
            .filter(|w| w.contains("is the same file as"))
            .count(),
        2,
        "{w:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_symlink_loop_in_a_directory_is_searched_once() {
    let dir = temp_dir("loop");
    std::fs::copy(capture("haproxy.pcap"), dir.join("a.pcap")).unwrap();
    std::os::unix::fs::symlink(".", dir.join("loop")).unwrap();
    std::os::unix::fs::symlink(&dir, dir.join("again")).unwrap();
    let r = json(&stekwatch(&["read", "--format", "json", s(&dir)]));
    assert_eq!(r["observation"]["files"].as_array().unwrap().len(), 1);
    assert!(warnings(&r)
        .iter()
        .any(|w| w.contains("directory already searched")));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_fifo_dev_stdin_and_process_substitution_are_read_like_the_file() {
    let f = capture("rotation-daily.pcap");
    let want = keys(&fixture_report("rotation-daily.pcap"));
    let dir = temp_dir("fifo");
    let fifo = dir.join("feed");
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let (f2, fifo2) = (f.clone(), fifo.clone());
    let writer = std::thread::spawn(move || {
        let bytes = std::fs::read(f2).unwrap();
        std::fs::OpenOptions::new()
            .write(true)
            .open(fifo2)
            .unwrap()
            .write_all(&bytes)
            .unwrap();
    });
    let r = json(&stekwatch(&["read", "--format", "json", s(&fifo)]));
    writer.join().unwrap();
    assert_eq!(keys(&r), want, "fifo");
    let bytes = std::fs::read(&f).unwrap();
    let r = json(&stekwatch_stdin(
        &["read", "--format", "json", "/dev/stdin"],
        &bytes,
    ));
    assert_eq!(keys(&r), want, "/dev/stdin");
    let out = Command::new("bash")
        .arg("-c")
        .arg(format!(
            "{} read --format json <(cat {})",
            env!("CARGO_BIN_EXE_stekwatch"),
            s(&f)
        ))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(keys(&json(&out)), want, "<(cat)");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn stdin_past_max_spool_gib_is_refused_with_a_clear_message() {
    let bytes = std::fs::read(capture("static-key-weeks.pcap")).unwrap();
    // 10 KiB cap, a 40 KB capture.
    let cap = format!("{}", 10240.0 / (1u64 << 30) as f64);
    let out = stekwatch_stdin(&["read", "--max-spool-gib", &cap, "-"], &bytes);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("standard input is larger than --max-spool-gib (10240 bytes): refused"),
        "{err}"
    );
    // Under the cap it reads.
    let out = stekwatch_stdin(&["read", "--format", "json", "-"], &bytes);
    assert!(keys(&json(&out)).contains_key("static.test"));
}

#[test]
fn gzip_that_decompresses_past_the_cap_is_refused_not_cut_short() {
    let dir = temp_dir("gzcap");
    let bytes = std::fs::read(capture("static-key-weeks.pcap")).unwrap();
    let gz = dir.join("big.pcap.gz");
    std::fs::write(&gz, gzip(&bytes)).unwrap();
    let cap = format!("{}", 10240.0 / (1u64 << 30) as f64);
    let out = stekwatch(&["read", "--max-spool-gib", &cap, s(&gz)]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("the decompressed capture is larger than --max-spool-gib"),
        "{err}"
    );
    assert!(err.contains("rather than cut short"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_unusable_tmpdir_for_stdin_is_a_clear_error_naming_tmpdir() {
    let bytes = std::fs::read(capture("haproxy.pcap")).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_stekwatch"))
        .args(["read", "-"])
        .env("TMPDIR", "/nonexistent/stekwatch-tmp")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let _ = child.stdin.take().unwrap().write_all(&bytes);
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cannot make a temporary file")
            && err.contains("/nonexistent/stekwatch-tmp (TMPDIR)"),
        "{err}"
    );
}

/// A pcap of `fixture`'s records repeated until it holds at least `bytes`.
fn big_pcap(fixture: &str, bytes: usize) -> Vec<u8> {
    let src = std::fs::read(capture(fixture)).unwrap();
    let mut out = src.clone();
    while out.len() < bytes {
        out.extend_from_slice(&src[24..]);
    }
    out
}

#[test]
fn a_capture_truncated_while_being_read_is_a_clear_error_not_a_crash() {
    let dir = temp_dir("truncate");
    let path = dir.join("growing.pcap");
    std::fs::write(&path, big_pcap("rotation-daily.pcap", 400 << 20)).unwrap();
    let mut caught = false;
    for _ in 0..5 {
        let child = Command::new(env!("CARGO_BIN_EXE_stekwatch"))
            .args(["read", "-j", "1", "--format", "json", s(&path)])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Once the file is mapped, stop the reader, cut the file from this thread, go on.
        let maps = format!("/proc/{}/maps", child.id());
        let began = Instant::now();
        while !std::fs::read_to_string(&maps).is_ok_and(|m| m.contains("growing.pcap"))
            && began.elapsed() < Duration::from_secs(10)
        {
            std::thread::sleep(Duration::from_micros(200));
        }
        let pid = child.id().to_string();
        Command::new("kill").args(["-STOP", &pid]).status().unwrap();
        let file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        file.set_len(4096).unwrap();
        Command::new("kill").args(["-CONT", &pid]).status().unwrap();
        let out = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        if out.status.code() == Some(0) {
            // It had finished before the cut: try again with the whole file.
            std::fs::write(&path, big_pcap("rotation-daily.pcap", 400 << 20)).unwrap();
            continue;
        }
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(
            err.contains("growing.pcap was truncated while it was being read"),
            "{err}"
        );
        caught = true;
        break;
    }
    assert!(caught, "every read finished before the file was cut");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn many_small_files_give_the_same_report_for_one_and_two_workers() {
    let dir = temp_dir("many");
    for i in 0..300 {
        let fixture = ["haproxy.pcap", "rotation-daily.pcap", "shared-key.pcap"][i % 3];
        std::fs::copy(capture(fixture), dir.join(format!("f{i:03}"))).unwrap();
    }
    let one = stekwatch(&["read", "--format", "json", "-j", "1", s(&dir)]);
    let two = stekwatch(&["read", "--format", "json", "-j", "2", s(&dir)]);
    assert_eq!(
        json(&one)["observation"]["files"].as_array().unwrap().len(),
        300
    );
    assert_eq!(one.stdout, two.stdout);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Issue 11, item 8: a file name is input too; in an error it cannot forge a line or a
/// terminal sequence.
#[test]
fn a_file_name_in_an_error_is_escaped() {
    let dir = temp_dir("forged-name");
    let path = dir.join("x\nstekwatch: warning: FAKE ALERT\u{1b}[2J.pcap");
    std::fs::write(&path, b"not a capture at all").unwrap();
    let out = stekwatch(&["read", s(&path)]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with("stekwatch: error: "), "{err}");
    assert!(!err.contains('\u{1b}'), "{err:?}");
    assert!(
        err.contains("\\u{a}stekwatch: warning: FAKE ALERT"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
