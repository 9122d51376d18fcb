//! Issue 11, "honest reports": when part of the traffic could not be read — cut by the
//! snaplen, or refused by a cap — the report says its verdicts are incomplete, and
//! `--fail-on warning` fails on it, instead of ending in a quiet "No alerts.".

mod support;

use support::rewrite::Capture;
use support::*;

#[test]
fn a_capture_cut_by_its_snaplen_is_reported_incomplete_and_fails_on_warning() {
    let cut = Capture::read(&capture("static-key-weeks.pcap"))
        .snaplen(100)
        .write("cut-at-100.pcap");
    let r = report(&[&cut], &[]);
    assert_eq!(r["incomplete"], true);
    let warnings = r["warnings"].to_string();
    assert!(warnings.contains("snaplen"), "{warnings}");
    let out = stekwatch(&["read", "--fail-on", "warning", cut.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("warning: verdicts are incomplete"), "{text}");
    // A critical-only gate is about alerts, not about completeness.
    let out = stekwatch(&["read", "--fail-on", "critical", cut.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn a_complete_capture_carries_no_incompleteness_mark() {
    let r = fixture_report("static-key-weeks.pcap");
    assert!(r.get("incomplete").is_none());
    assert_eq!(r["warnings"], serde_json::json!([]));
}
