//! `--html`: the page of several fixtures rendered by headless Chromium, its DOM checked —
//! every service, key name and alert of the JSON report present, nothing that would load
//! from anywhere — for `read`, `report --state` and `report --from-log`, and a thousand
//! services collapsed and ordered worst first. Without Chromium (Debian package `chromium`)
//! the DOM checks skip visibly; CI sets STEKWATCH_REQUIRE_CHROMIUM=1 so they cannot.

mod support;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;
use support::*;

fn chromium() -> Option<&'static str> {
    let found = ["chromium", "chromium-browser"].into_iter().find(|c| {
        Command::new(c)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    });
    if found.is_none() {
        assert!(
            std::env::var_os("STEKWATCH_REQUIRE_CHROMIUM").is_none(),
            "STEKWATCH_REQUIRE_CHROMIUM is set but chromium is not installed"
        );
        skip_notice(
            "chromium is not installed (apt-get install chromium); HTML DOM checks not run",
        );
    }
    found
}

/// Chromium with every network path closed: names resolve nowhere and any request goes to a
/// closed local port, so neither the page nor the browser reaches another host.
fn headless(browser: &str, dir: &Path, args: &[&str]) -> Vec<u8> {
    let profile = dir.join("profile");
    let out = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
        ])
        .args([
            "--disable-background-networking",
            "--disable-component-update",
        ])
        .args(["--disable-sync", "--disable-extensions", "--no-pings"])
        .arg(format!("--user-data-dir={}", s(&profile)))
        .arg("--host-resolver-rules=MAP * ~NOTFOUND")
        .arg("--proxy-server=http://127.0.0.1:9")
        .args(args)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .expect("run chromium");
    assert!(out.status.success(), "chromium failed");
    out.stdout
}

fn dom(browser: &str, dir: &Path, page: &Path) -> String {
    let url = format!("file://{}", s(page));
    String::from_utf8(headless(browser, dir, &["--dump-dom", &url])).unwrap()
}

fn json_of(args: &[&str]) -> Value {
    serde_json::from_slice(&ok(args).stdout).expect("JSON report")
}

/// Every attribute value of `name` in `html`.
fn attrs<'a>(html: &'a str, name: &str) -> Vec<&'a str> {
    let pat = format!(" {name}=\"");
    html.match_indices(&pat)
        .filter_map(|(i, _)| {
            let rest = &html[i + pat.len()..];
            rest.find('"').map(|e| &rest[..e])
        })
        .collect()
}

/// The DOM shows what the JSON report says, and refers to nothing outside the page.
fn check(dom: &str, r: &Value, what: &str) {
    let services = r["services"].as_array().unwrap();
    let shown: HashSet<&str> = attrs(dom, "data-service").into_iter().collect();
    let keys: HashSet<&str> = attrs(dom, "data-key").into_iter().collect();
    assert_eq!(shown.len(), services.len(), "{what}");
    for s in services {
        let name = s["service"].as_str().unwrap();
        assert!(shown.contains(name), "{what}: service {name} missing");
        for k in s["ticket_keys"].as_array().unwrap() {
            let key = k["key_name"].as_str().unwrap();
            assert!(keys.contains(key), "{what}: key {key}");
        }
    }
    let rules: HashSet<&str> = attrs(dom, "data-rule").into_iter().collect();
    assert_eq!(
        dom.matches("<tr class=\"alert-row\"").count(),
        r["alerts"].as_array().unwrap().len(),
        "{what}"
    );
    let frames: HashSet<&str> = dom
        .match_indices("frame ")
        .map(|(i, _)| {
            let rest = &dom[i + 6..];
            &rest[..rest
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(rest.len())]
        })
        .collect();
    for a in r["alerts"].as_array().unwrap() {
        assert!(rules.contains(a["rule"].as_str().unwrap()), "{what}: {a}");
        for e in a["evidence"].as_array().unwrap() {
            assert!(
                frames.contains(e["frame"].to_string().as_str()),
                "{what}: {e}"
            );
        }
    }
    for attr in ["src", "href", "action", "srcset", "poster", "data"] {
        for v in attrs(dom, attr) {
            assert!(v.starts_with('#'), "{what}: {attr}=\"{v}\" leaves the page");
        }
    }
    assert!(
        !dom.contains("http://") && !dom.contains("https://"),
        "{what}"
    );
    assert!(!dom.contains("@import"), "{what}");
    for (i, _) in dom.match_indices("url(") {
        assert!(dom[i..].starts_with("url(#"), "{what}: {}", &dom[i..i + 30]);
    }
}

fn fixtures(names: &[&str]) -> Vec<PathBuf> {
    names.iter().map(|n| capture(n)).collect()
}

#[test]
fn pages_of_several_fixtures_show_every_service_key_and_alert_and_load_nothing() {
    let Some(browser) = chromium() else { return };
    let dir = fresh_dir("html", "fixtures");
    for name in [
        "rotation-daily.pcap",
        "static-key-weeks.pcap",
        "shared-key.pcap",
        "tls13-static-days.pcap",
        "weak-key.pcap",
        "session-cache-only.pcap",
    ] {
        let page = dir.join(format!("{name}.html"));
        let cap = capture(name);
        let r = json_of(&["read", "--format", "json", "--html", s(&page), s(&cap)]);
        check(&dom(browser, &dir, &page), &r, name);
    }
}

#[test]
fn report_state_and_from_log_render_the_same_history() {
    let Some(browser) = chromium() else { return };
    let dir = fresh_dir("html", "state");
    let (state, log) = (dir.join("h.state"), dir.join("h.log"));
    let caps = fixtures(&[
        "rotation-daily.pcap",
        "static-key-weeks.pcap",
        "zero-stek-48.pcap",
    ]);
    let mut args = vec!["read", "--state", s(&state), "--log", s(&log)];
    args.extend(caps.iter().map(|p| s(p)));
    ok(&args);
    let (a, b) = (dir.join("state.html"), dir.join("log.html"));
    let r = json_of(&[
        "report",
        "--state",
        s(&state),
        "--format",
        "json",
        "--html",
        s(&a),
    ]);
    ok(&["report", "--from-log", s(&log), "--html", s(&b)]);
    let (da, db) = (dom(browser, &dir, &a), dom(browser, &dir, &b));
    check(&da, &r, "report --state");
    check(&db, &r, "report --from-log");
    assert_eq!(da, db);
}

#[test]
fn a_thousand_services_are_collapsed_and_ordered_worst_first() {
    let Some(browser) = chromium() else { return };
    let dir = fresh_dir("html", "many");
    // 500 copies of a never-rotating service and 500 of a rotating one: per-connection
    // records of the two fixtures under other server names.
    let mut many = String::new();
    for (name, sni) in [
        ("static-key-weeks.pcap", "static.test"),
        ("rotation-daily.pcap", "rotate.test"),
    ] {
        let log = dir.join(format!("{name}.log"));
        ok(&["read", "--log", s(&log), s(&capture(name))]);
        let text = std::fs::read_to_string(&log).unwrap();
        for i in 0..500 {
            let n = if sni == "static.test" {
                i * 2
            } else {
                i * 2 + 1
            };
            many += &text.replace(&format!("\"{sni}\""), &format!("\"svc{n:04}.test\""));
        }
    }
    let log = dir.join("many.log");
    std::fs::write(&log, many).unwrap();
    let page = dir.join("many.html");
    let r = json_of(&[
        "report",
        "--from-log",
        s(&log),
        "--format",
        "json",
        "--html",
        s(&page),
    ]);
    assert_eq!(r["services"].as_array().unwrap().len(), 1000);
    let d = dom(browser, &dir, &page);
    check(&d, &r, "1000 services");
    assert_eq!(d.matches("<details class=\"service\"").count(), 1000);
    assert!(
        !d.contains(" open=\"\"") && !d.contains(" open>"),
        "sections start collapsed"
    );
    let order = attrs(&d, "data-service");
    // Worst first: the 500 services with critical alerts (even numbers), then the rest.
    assert!(order[..500]
        .iter()
        .all(|n| n[3..7].parse::<u32>().unwrap() % 2 == 0));
    assert!(order[500..]
        .iter()
        .all(|n| n[3..7].parse::<u32>().unwrap() % 2 == 1));
    assert_eq!(order[0], "svc0000.test");
}

#[test]
fn the_page_is_written_without_chromium_too() {
    // The page itself needs no browser: self-contained, escaped, one document.
    let dir = fresh_dir("html", "plain");
    let page = dir.join("p.html");
    ok(&["read", "--html", s(&page), s(&capture("shared-key.pcap"))]);
    let text = std::fs::read_to_string(&page).unwrap();
    assert!(text.starts_with("<!DOCTYPE html>"));
    assert!(text.trim_end().ends_with("</html>"));
    assert_eq!(text.matches("<svg").count(), text.matches("</svg>").count());
    assert!(!text.contains("http://") && !text.contains("https://"));
}
