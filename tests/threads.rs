//! The report does not depend on the number of worker threads (issue 5): identical JSON for
//! `-j1` and `-j2` (and `-j3`) on every fixture, on all fixtures read together, and on the
//! public captures.

mod support;

use std::path::Path;

use support::*;

fn json(paths: &[&Path], threads: &str) -> serde_json::Value {
    report(paths, &["-j", threads])
}

#[test]
fn every_fixture_gives_identical_reports_for_one_two_and_three_workers() {
    let mut n = 0;
    for entry in std::fs::read_dir(root().join("captures")).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if !(name.ends_with(".pcap") || name.ends_with(".pcapng")) {
            continue;
        }
        let one = json(&[&path], "1");
        assert_eq!(one, json(&[&path], "2"), "{name}");
        assert_eq!(one, json(&[&path], "3"), "{name}");
        n += 1;
    }
    assert!(n >= 10);
}

#[test]
fn all_fixtures_read_together_give_identical_reports_for_one_and_two_workers() {
    let dir = root().join("captures");
    let one = json(&[&dir], "1");
    assert_eq!(one, json(&[&dir], "2"));
    assert!(one["alerts"].as_array().unwrap().len() >= 8);
}

#[test]
fn public_captures_give_identical_reports_for_one_and_two_workers() {
    let Some(dir) = public_captures() else { return };
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        assert_eq!(
            json(&[&path], "1"),
            json(&[&path], "2"),
            "{}",
            path.display()
        );
    }
}
