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

#[test]
fn history_caps_give_the_same_report_for_every_number_of_workers() {
    use stekwatch::capture::input;
    use stekwatch::pipeline::Limits;
    // A history cap that holds every fixture service once, but not a quarter of them: with
    // per-worker shares of the cap, -j 4 lost services.
    let names: Vec<String> = std::fs::read_dir(support::root().join("captures"))
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path().display().to_string()))
        .filter(|p| p.ends_with(".pcap"))
        .collect();
    let opened: Vec<(String, input::Input)> = names
        .iter()
        .map(|n| (n.clone(), input::open(std::path::Path::new(n)).unwrap()))
        .collect();
    let inputs: Vec<(String, &input::Input)> = opened.iter().map(|(n, i)| (n.clone(), i)).collect();
    // What all of them take together, plus a little: a quarter of it holds far fewer.
    let (whole, _) = stekwatch::runtime::sharded::read(&inputs, 1, Limits::default()).unwrap();
    let limits = Limits {
        max_tracker_bytes: whole.tracker.approx_bytes() + 16 * 1024,
        ..Limits::default()
    };
    let run = |threads| {
        let (h, _) = stekwatch::runtime::sharded::read(&inputs, threads, limits).unwrap();
        let mut services: Vec<(String, u64)> = h
            .tracker
            .services
            .iter()
            .map(|(n, s)| (n.clone(), s.handshakes.full + s.handshakes.resumed_ticket))
            .collect();
        services.sort();
        (services, h.tracker.dropped_services)
    };
    let one = run(1);
    assert_eq!(one.1, 0, "the cap holds every service");
    for threads in [2, 4] {
        assert_eq!(run(threads), one, "-j {threads}");
    }
}
