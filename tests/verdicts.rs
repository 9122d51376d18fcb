//! Verdicts, rotation figures, exposure and server guesses on every bundled fixture (real
//! servers, see captures/README.md), and the commands and options that come with them.

mod support;

use serde_json::{json, Value};
use support::*;

const HOUR: i64 = 3600;
const DAY: i64 = 86_400;

fn verdict(r: &Value, service_name: &str) -> String {
    service(r, service_name)["verdict"]["kind"]
        .as_str()
        .unwrap()
        .to_string()
}

fn families(r: &Value, service_name: &str) -> (Vec<String>, String) {
    let g = &service(r, service_name)["server_guess"];
    (
        g["families"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f.as_str().unwrap().to_string())
            .collect(),
        g["confidence"].as_str().unwrap().to_string(),
    )
}

/// Every fixture's verdict: a health verdict only with evidence, `undetermined` when the
/// capture is too short, and what kind of server it looks like.
#[test]
fn every_fixture_gets_the_verdict_its_server_earned() {
    let expected: &[(&str, &str, &str)] = &[
        ("early-data.pcap", "early.test", "undetermined"),
        ("gnutls-serv.pcap", "gnutls.test", "undetermined"),
        ("haproxy.pcap", "haproxy.test", "not-rotated"),
        ("healthy-stek.pcap", "healthy.test", "undetermined"),
        ("hello-retry.pcap", "hrr.test", "undetermined"),
        ("ipv6-sll2-nano.pcapng", "v6.test", "undetermined"),
        ("no-resumption.pcap", "none.test", "no-resumption"),
        ("openssl-s-server.pcap", "ossl.test", "undetermined"),
        ("rotation-daily.pcap", "rotate.test", "rotating"),
        ("session-cache-only.pcap", "cache.test", "no-resumption"),
        ("shared-key.pcap", "a.shared.test", "undetermined"),
        ("static-key-weeks.pcap", "static.test", "not-rotated"),
        ("tls13-static-days.pcap", "tls13.test", "not-rotated"),
        ("weak-key.pcap", "weak.test", "undetermined"),
        ("zero-stek-48.pcap", "zero48.test", "undetermined"),
    ];
    for (file, svc, kind) in expected {
        let r = fixture_report(file);
        assert_eq!(
            verdict(&r, svc),
            *kind,
            "{file}: {}",
            service(&r, svc)["verdict"]
        );
        let reason = service(&r, svc)["verdict"]["reason"].as_str().unwrap();
        assert!(
            reason.ends_with('.') && reason.len() > 20,
            "{file}: {reason}"
        );
    }
}

#[test]
fn daily_rotation_is_measured_from_the_wire() {
    let r = fixture_report("rotation-daily.pcap");
    let svc = service(&r, "rotate.test");
    let rot = &svc["rotation"];
    assert_eq!(rot["rotations"], 4);
    assert_eq!(rot["basis"], "issued");
    assert_eq!(rot["rotations_counted_by"], "keys-seen");
    // Segments every 6 h; first tickets within a second of each segment start.
    for f in ["min", "median", "max"] {
        let p = rot["period_seconds"][f].as_i64().unwrap();
        assert!((6 * HOUR - 2..=6 * HOUR + 2).contains(&p), "{f} {p}");
    }
    // Each old key is resumed right after its successor issued, in the same segment: the
    // window seen is under a second (a lower bound; nginx keeps it 6 h here).
    assert_eq!(
        rot["decrypt_window_seconds"],
        json!({"min": 0, "median": 0, "max": 0})
    );
    assert_eq!(rot["next_key_accepted_early"], false);
    assert_eq!(rot["host_skew_seconds"], Value::Null);
    let reason = svc["verdict"]["reason"].as_str().unwrap();
    assert!(
        reason.starts_with("a new key about every 6h (4 rotations seen"),
        "{reason}"
    );
    // Exposure per key: tickets issued + resumptions accepted.
    let exposure: Vec<u64> = svc["ticket_keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["exposure"]["sessions"].as_u64().unwrap())
        .collect();
    assert_eq!(exposure, [5, 4, 4, 4, 2]);
    assert_eq!(
        families(&r, "rotate.test"),
        (
            vec!["nginx".into(), "apache".into(), "haproxy".into()],
            "medium".into()
        )
    );
}

#[test]
fn a_static_key_says_how_much_a_leak_exposes_and_what_to_change() {
    let r = fixture_report("static-key-weeks.pcap");
    let svc = service(&r, "static.test");
    let k = hexname("static-key-0001!");
    let key = key(svc, &k);
    // 4 tickets issued, 9 resumptions accepted, from day 0 to day 21.
    assert_eq!(key["exposure"]["sessions"], 13);
    let secs = key["exposure"]["seconds"].as_i64().unwrap();
    assert!((21 * DAY - 60..=21 * DAY + 60).contains(&secs), "{secs}");
    assert_eq!(svc["verdict"]["kind"], "not-rotated");
    assert_eq!(
        svc["verdict"]["reason"],
        format!(
            "key {k} was issued over 21d (the limit is 1d); a leak of it exposes at least 13 \
             recorded sessions."
        )
    );
    let alert = r["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["rule"] == "stek-not-rotated")
        .unwrap();
    assert!(alert["message"]
        .as_str()
        .unwrap()
        .ends_with("exposes at least 13 recorded sessions over 21d."));
    assert_eq!(alert["id"], format!("stek-not-rotated:static.test:{k}"));
    let fix = alert["fix"].as_str().unwrap();
    assert!(
        fix.starts_with("Probably one of nginx, Apache httpd, HAProxy (medium"),
        "{fix}"
    );
    assert!(fix.contains("ssl_session_ticket_key"), "{fix}");
    // The durations in the table and the alerts read the same (rounded, not cut).
    let out = stekwatch(&["read", s(&capture("static-key-weeks.pcap"))]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("for 21d (issued from"), "{text}");
    assert!(!text.contains("20d 23h"), "{text}");
}

#[test]
fn one_lifetime_alert_per_service_and_hint() {
    let r = fixture_report("static-key-weeks.pcap");
    let lifetime: Vec<&Value> = r["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["rule"] == "ticket-lifetime-too-long")
        .collect();
    assert_eq!(lifetime.len(), 1);
    assert_eq!(
        lifetime[0]["id"],
        "ticket-lifetime-too-long:static.test:hint-691200"
    );
    assert_eq!(lifetime[0]["lifetime_hint_seconds"], 691_200);
}

#[test]
fn servers_are_guessed_from_their_tickets() {
    for (file, svc, fams, conf) in [
        ("gnutls-serv.pcap", "gnutls.test", &["gnutls"][..], "medium"),
        (
            "openssl-s-server.pcap",
            "ossl.test",
            &["openssl", "haproxy", "node"][..],
            "medium",
        ),
        (
            "weak-key.pcap",
            "weak.test",
            &["nginx", "apache"][..],
            "medium",
        ),
        (
            "hello-retry.pcap",
            "hrr.test",
            &["nginx", "apache", "haproxy", "openssl", "boringssl"][..],
            "low",
        ),
    ] {
        let r = fixture_report(file);
        let want: Vec<String> = fams.iter().map(|s| s.to_string()).collect();
        assert_eq!(families(&r, svc), (want, conf.to_string()), "{file}");
    }
}

#[test]
fn rejected_tickets_are_counted_per_key_and_host() {
    // At +2d the run-1 tickets are presented to the restarted server and refused.
    let r = fixture_report("openssl-s-server.pcap");
    let svc = service(&r, "ossl.test");
    let first = &svc["ticket_keys"][0];
    assert_eq!(first["rejected"], 2);
    assert_eq!(first["hosts"][0]["address"], "127.0.0.1:4433");
    assert_eq!(first["hosts"][0]["rejected"], 2);
    assert_eq!(svc["ticket_keys"][1]["rejected"], 0);
    // Keys days apart, each seen for seconds: no rotation policy can be claimed.
    assert_eq!(svc["verdict"]["kind"], "undetermined");
    // Expired keys refused are normal: no ticket-rejected alert.
    assert!(alerts(&r).is_empty(), "{:?}", alerts(&r));
}

#[test]
fn a_stateful_identity_is_counted_not_listed_as_a_key_name() {
    let r = fixture_report("no-resumption.pcap");
    let svc = service(&r, "none.test");
    assert_eq!(svc["ticket_keys"], json!([]));
    assert_eq!(svc["stateful_identities_offered"], 1);
    assert_eq!(svc["verdict"]["kind"], "no-resumption");
}

#[test]
fn a_short_capture_is_not_a_clean_bill_of_health() {
    let out = stekwatch(&["read", s(&capture("healthy-stek.pcap"))]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("\nVERDICTS\n  undetermined   healthy.test  one key"),
        "{text}"
    );
    assert!(text.contains("watch at least 1d more"), "{text}");
    assert!(
        text.contains(
            "No alerts, but this is not a clean bill of health: 1 service is undetermined"
        ),
        "{text}"
    );
    assert!(!text.contains("\nNo alerts.\n"), "{text}");
}

#[test]
fn verdicts_come_first_worst_first() {
    let out = stekwatch(&[
        "read",
        s(&capture("rotation-daily.pcap")),
        s(&capture("healthy-stek.pcap")),
        s(&capture("static-key-weeks.pcap")),
    ]);
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text
        .lines()
        .skip_while(|l| *l != "VERDICTS")
        .skip(1)
        .take_while(|l| !l.is_empty())
        .map(|l| l.split_whitespace().take(2).last().unwrap())
        .collect();
    assert_eq!(lines, ["static.test", "healthy.test", "rotate.test"]);
}

#[test]
fn the_report_records_the_tool_and_every_threshold() {
    let r = report(
        &[&capture("static-key-weeks.pcap")],
        &[
            "--max-key-age",
            "2d",
            "--max-ticket-age",
            "20d",
            "--critical-key-age",
            "30d",
        ],
    );
    assert_eq!(
        r["tool"],
        format!("stekwatch {}", env!("CARGO_PKG_VERSION"))
    );
    assert_eq!(
        r["thresholds"],
        json!({
            "max_key_age_seconds": 2 * DAY,
            "critical_key_age_seconds": 30 * DAY,
            "max_ticket_age_seconds": 20 * DAY,
            "lifetime_warning_seconds": DAY,
            "lifetime_critical_seconds": 7 * DAY,
            "session_cache_max_seconds": DAY,
            "key_name_len": null,
        })
    );
    // The day-14 resumption of a day-0 ticket is within 20 days: not stale; the key is
    // still used for 21 days, past 2 days.
    let k = hexname("static-key-0001!");
    assert_eq!(
        alerts(&r),
        set(&[
            &format!("stek-not-rotated/warning/static.test/{k}"),
            &format!("ticket-lifetime-too-long/critical/static.test/{k}"),
        ])
    );
    let short = report(
        &[&capture("static-key-weeks.pcap")],
        &["--max-ticket-age", "1h"],
    );
    assert!(alerts(&short).contains(&format!("stale-ticket-accepted/critical/static.test/{k}")));
    let bad = stekwatch(&[
        "read",
        "--max-ticket-age",
        "8d",
        s(&capture("static-key-weeks.pcap")),
    ]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--max-ticket-age"));
}

#[test]
fn explain_tells_what_a_rule_means_and_how_to_fix_it() {
    let out = stekwatch(&["explain", "stek-not-rotated"]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).unwrap();
    for part in [
        "stek-not-rotated (warning past --max-key-age",
        "What it means:",
        "Why it matters:",
        "RFC 9325",
        "By server",
        "nginx — default:",
        "Java JSSE — default:",
        "jdk.tls.server.statelessKeyTimeout",
    ] {
        assert!(text.contains(part), "{part}: {text}");
    }
    let list = String::from_utf8(stekwatch(&["explain"]).stdout).unwrap();
    assert_eq!(list.lines().count(), 14, "{list}");
    assert!(list.contains("ticket-rejected"));
    let bad = stekwatch(&["explain", "no-such-rule"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("the rules are: stek-not-rotated"));
}

fn rotation_stat(svc: &Value, field: &str) -> (i64, i64, i64) {
    let s = &svc["rotation"][field];
    (
        s["min"].as_i64().unwrap(),
        s["median"].as_i64().unwrap(),
        s["max"].as_i64().unwrap(),
    )
}

fn host_use(svc: &Value, key_name: &str) -> Vec<(String, u64, u64, u64)> {
    key(svc, key_name)["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            (
                h["address"].as_str().unwrap().to_string(),
                u64::from(h["issued"].is_object()),
                u64::from(h["accepted"].is_object()),
                h["rejected"].as_u64().unwrap(),
            )
        })
        .collect()
}

/// Two nginx hosts rotating hourly, host 2 ten minutes late (captures/README.md, "Verdict
/// fixtures"): period, decrypt window, skew and the rejections on the late host.
#[test]
fn an_hourly_nginx_fleet_with_a_late_host() {
    let r = fixture_report("fleet-hourly.pcap");
    let svc = service(&r, "fleet.test");
    assert_eq!(svc["addresses"], json!(["127.0.0.1:443", "127.0.0.2:443"]));
    assert_eq!(svc["verdict"]["kind"], "rotating");
    let rot = &svc["rotation"];
    assert_eq!(rot["rotations"], 4);
    // First issues on host 1 at h:00:00.002 ± 0.3 ms: 3600 s apart, floored to whole seconds.
    let (lo, med, hi) = rotation_stat(svc, "period_seconds");
    assert!(
        lo >= 3599 && hi <= 3600 && (lo..=hi).contains(&med),
        "{lo} {med} {hi}"
    );
    // Old keys last accepted at h:50 on host 1, 3000 s after their successors' first issue.
    let (lo, _, hi) = rotation_stat(svc, "decrypt_window_seconds");
    assert!(lo >= 2999 && hi <= 3000, "{lo} {hi}");
    // Host 2 first issues each new key 600.2 s after host 1.
    assert_eq!(rotation_stat(svc, "host_skew_seconds"), (600, 600, 600));
    assert_eq!(rot["latest_host"]["address"], "127.0.0.2:443");
    assert_eq!(rot["next_key_accepted_early"], false);
    // Per key and host: issued, accepted, rejected (README's table).
    let names: Vec<String> = (1..=5)
        .map(|i| hexname(&format!("fleet-hourly-k0{i}")))
        .collect();
    assert_eq!(keys(&r)["fleet.test"], names);
    // Every key issued and accepted on both hosts; the late host rejected 2 of each new key.
    let h1 = "127.0.0.1:443".to_string();
    let h2 = "127.0.0.2:443".to_string();
    assert_eq!(
        host_use(svc, &names[0]),
        [(h1.clone(), 1, 1, 0), (h2.clone(), 1, 1, 0)]
    );
    for name in &names[1..] {
        assert_eq!(
            host_use(svc, name),
            [(h1.clone(), 1, 1, 0), (h2.clone(), 1, 1, 2)],
            "{name}"
        );
        assert_eq!(key(svc, name)["rejected"], 2);
    }
    let issued_accepted: Vec<(u64, u64)> = names
        .iter()
        .map(|n| {
            let k = key(svc, n);
            (
                k["tickets_issued"].as_u64().unwrap(),
                k["resumptions_accepted"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(issued_accepted, [(6, 7), (10, 8), (10, 8), (10, 8), (8, 4)]);
    // The late host's rejections, and nothing else.
    assert_eq!(
        alerts(&r),
        set(&["ticket-rejected/info/fleet.test/-"]),
        "{}",
        r["alerts"]
    );
    let a = &r["alerts"][0];
    assert_eq!(a["addresses"], json!(["127.0.0.2:443"]));
    assert_eq!(a["id"], "ticket-rejected:fleet.test:127.0.0.2:443");
    assert!(
        a["message"]
            .as_str()
            .unwrap()
            .contains("answered 8 tickets under 4 current keys"),
        "{a}"
    );
}

#[test]
fn a_next_key_accepted_hours_before_it_issues_is_seen_as_distributed_early() {
    let r = fixture_report("next-key-early.pcap");
    let svc = service(&r, "next.test");
    let rot = &svc["rotation"];
    assert_eq!(rot["next_key_accepted_early"], true);
    assert_eq!(
        rot["next_key_early"]["key_name"],
        hexname("next-early-key-2")
    );
    assert_eq!(
        rot["next_key_early"]["accepted"],
        "2026-11-01T00:00:00.467185Z"
    );
    assert_eq!(
        rot["next_key_early"]["issued"],
        "2026-11-01T06:00:00.007828Z"
    );
    assert_eq!(rot["rotations"], 1);
    assert_eq!(svc["verdict"]["kind"], "rotating");
    assert!(alerts(&r).is_empty(), "{:?}", alerts(&r));
}

#[test]
fn go_without_key_names_still_shows_how_long_old_tickets_work() {
    let r = fixture_report("go-default.pcap");
    let svc = service(&r, "go.test");
    assert_eq!(svc["key_name_len"], Value::Null);
    assert_eq!(svc["verdict"]["kind"], "not-observable");
    assert!(svc["verdict"]["reason"]
        .as_str()
        .unwrap()
        .ends_with("the oldest ticket seen accepted was 2d old."));
    let unnamed = &svc["unnamed_tickets"];
    assert_eq!(unnamed["tickets_issued"], 5);
    assert_eq!(unnamed["resumptions_accepted"], 6);
    let age = unnamed["oldest_accepted_ticket_age_seconds"]
        .as_i64()
        .unwrap();
    assert!((2 * DAY..2 * DAY + 10).contains(&age), "{age}");
    // The 2-day-old ticket, matched by its hash, is stale although no key name is visible.
    assert_eq!(
        alerts(&r),
        set(&[
            "stale-ticket-accepted/warning/go.test/-",
            "key-not-observable/info/go.test/-",
        ])
    );
    assert_eq!(
        families(&r, "go.test"),
        (vec!["go".into(), "rustls".into()], "medium".into())
    );
}

#[test]
fn go_1_19_names_its_key_and_sends_no_lifetime_hint() {
    let r = fixture_report("go119-default.pcap");
    let k = "2cea82c5f93fc58810c2db2d4a8e9748";
    assert_eq!(keys(&r)["go.test"], [k.to_string()]);
    assert_eq!(verdict(&r, "go.test"), "not-rotated");
    assert_eq!(
        alerts(&r),
        set(&[
            &format!("stale-ticket-accepted/warning/go.test/{k}"),
            &format!("stek-not-rotated/warning/go.test/{k}"),
        ])
    );
    assert_eq!(
        families(&r, "go.test"),
        (vec!["go".into()], "medium".into())
    );
}

#[test]
fn java_key_numbers_count_the_rotations() {
    let r = fixture_report("java-jsse.pcap");
    let svc = service(&r, "java.test");
    assert_eq!(svc["key_name_len"], 4);
    assert_eq!(
        keys(&r)["java.test"],
        ["e33e2406", "e33e2407", "e33e2408", "e33e2409"]
    );
    let rot = &svc["rotation"];
    assert_eq!(rot["rotations"], 3);
    assert_eq!(rot["rotations_counted_by"], "key-number");
    // jdk.tls.server.statelessKeyTimeout=60 s, rounds 65 s apart.
    let (lo, _, hi) = rotation_stat(svc, "period_seconds");
    assert!(lo >= 64 && hi <= 65, "{lo} {hi}");
    assert_eq!(svc["verdict"]["kind"], "rotating");
    assert_eq!(
        families(&r, "java.test"),
        (vec!["java".into()], "high".into())
    );
    assert!(alerts(&r).is_empty(), "{:?}", alerts(&r));
}

#[test]
fn one_second_of_a_static_key_is_undetermined() {
    let r = fixture_report("static-short.pcap");
    let svc = service(&r, "short.test");
    assert_eq!(svc["verdict"]["kind"], "undetermined");
    assert_eq!(
        svc["verdict"]["reason"],
        format!(
            "one key ({}) in use over 1s only; watch at least 1d more to tell whether it rotates.",
            hexname("static-short-k01")
        )
    );
    assert!(alerts(&r).is_empty());
}

/// The whole table: every fixture's services with verdict, rotations seen (-1: no key seen
/// by the server), server guess and confidence, and exposure per key (tickets issued plus
/// resumptions accepted, in the order of the report's key table).
#[test]
fn every_fixture_service_verdict_guess_and_exposure() {
    type Row = (
        &'static str,
        &'static str,
        &'static str,
        i64,
        &'static [&'static str],
        &'static str,
        &'static [u64],
    );
    let ossl = &["nginx", "apache", "haproxy", "openssl", "boringssl"][..];
    let files = &["nginx", "apache", "haproxy"][..];
    let rows: &[Row] = &[
        (
            "early-data.pcap",
            "early.test",
            "undetermined",
            0,
            files,
            "medium",
            &[1],
        ),
        (
            "fleet-hourly.pcap",
            "fleet.test",
            "rotating",
            4,
            files,
            "medium",
            &[13, 18, 18, 18, 12],
        ),
        (
            "gnutls-serv.pcap",
            "gnutls.test",
            "undetermined",
            0,
            &["gnutls"],
            "medium",
            &[6],
        ),
        (
            "go-default.pcap",
            "go.test",
            "not-observable",
            -1,
            &["go", "rustls"],
            "medium",
            &[],
        ),
        (
            "go119-default.pcap",
            "go.test",
            "not-rotated",
            0,
            &["go"],
            "medium",
            &[8],
        ),
        (
            "haproxy.pcap",
            "haproxy.test",
            "not-rotated",
            0,
            files,
            "medium",
            &[6],
        ),
        (
            "healthy-stek.pcap",
            "healthy.test",
            "undetermined",
            0,
            files,
            "medium",
            &[3],
        ),
        (
            "hello-retry.pcap",
            "hrr.test",
            "undetermined",
            0,
            ossl,
            "low",
            &[2],
        ),
        (
            "ipv6-sll2-nano.pcapng",
            "v6.test",
            "undetermined",
            0,
            files,
            "medium",
            &[3],
        ),
        (
            "java-jsse.pcap",
            "java.test",
            "rotating",
            3,
            &["java"],
            "high",
            &[6, 7, 7, 5],
        ),
        (
            "next-key-early.pcap",
            "next.test",
            "rotating",
            1,
            files,
            "medium",
            &[5, 6],
        ),
        (
            "no-resumption.pcap",
            "none.test",
            "no-resumption",
            -1,
            &[],
            "-",
            &[],
        ),
        (
            "openssl-s-server.pcap",
            "ossl.test",
            "undetermined",
            1,
            &["openssl", "haproxy", "node"],
            "medium",
            &[3, 4],
        ),
        (
            "plaintext-ticket.pcap",
            "healthy.test",
            "undetermined",
            0,
            files,
            "medium",
            &[3],
        ),
        (
            "rotation-daily.pcap",
            "rotate.test",
            "rotating",
            4,
            files,
            "medium",
            &[5, 4, 4, 4, 2],
        ),
        (
            "session-cache-only.pcap",
            "cache.test",
            "no-resumption",
            -1,
            &[],
            "-",
            &[],
        ),
        (
            "shared-key.pcap",
            "a.shared.test",
            "undetermined",
            0,
            files,
            "medium",
            &[2],
        ),
        (
            "shared-key.pcap",
            "b.shared.test",
            "undetermined",
            0,
            files,
            "medium",
            &[2],
        ),
        (
            "shared-key.pcap",
            "c.shared.test",
            "undetermined",
            0,
            files,
            "medium",
            &[2],
        ),
        (
            "static-key-weeks.pcap",
            "static.test",
            "not-rotated",
            0,
            files,
            "medium",
            &[13],
        ),
        (
            "static-short.pcap",
            "short.test",
            "undetermined",
            0,
            files,
            "medium",
            &[6],
        ),
        (
            "tls13-static-days.pcap",
            "tls13.test",
            "not-rotated",
            0,
            files,
            "medium",
            &[4],
        ),
        (
            "weak-key.pcap",
            "weak.test",
            "undetermined",
            0,
            &["nginx", "apache"],
            "medium",
            &[2],
        ),
        (
            "zero-stek-48.pcap",
            "zero48.test",
            "undetermined",
            0,
            files,
            "medium",
            &[3],
        ),
        (
            "zero-stek-80.pcap",
            "zero80.test",
            "undetermined",
            0,
            files,
            "medium",
            &[3],
        ),
        (
            "zero-stek-haproxy.pcap",
            "haproxy-zero.test",
            "undetermined",
            0,
            files,
            "medium",
            &[3],
        ),
        // Issue 10: the QUIC fixtures (aioquic tickets given readable key names).
        (
            "quic-resumption.pcap",
            "quic.stekwatch.test quic",
            "undetermined",
            0,
            files,
            "medium",
            &[3],
        ),
        (
            "quic-v2.pcap",
            "quic.stekwatch.test quic",
            "undetermined",
            0,
            files,
            "medium",
            &[1],
        ),
        (
            "quic-retry.pcap",
            "quic.stekwatch.test quic",
            "undetermined",
            0,
            files,
            "medium",
            &[1],
        ),
        (
            "quic-static-days.pcap",
            "quic.stekwatch.test quic",
            "not-rotated",
            0,
            files,
            "medium",
            &[5],
        ),
        // Issue 10 item 4: nginx TLS 1.3, read without its key log (one resumption each).
        (
            "tls13-keylog.pcap",
            "aes128.keylog.test",
            "undetermined",
            0,
            files,
            "medium",
            &[1],
        ),
        (
            "tls13-keylog.pcap",
            "aes256.keylog.test",
            "undetermined",
            0,
            files,
            "medium",
            &[1],
        ),
        (
            "tls13-keylog.pcap",
            "chacha.keylog.test",
            "undetermined",
            0,
            files,
            "medium",
            &[1],
        ),
        // Issue 10: STARTTLS daemons (OpenSSL in postfix, dovecot, vsftpd; slapd's GnuTLS and
        // PostgreSQL issue no tickets).
        (
            "starttls-smtp.pcap",
            "mail.example smtp 25",
            "undetermined",
            0,
            &["openssl", "haproxy", "node"],
            "medium",
            &[3],
        ),
        (
            "starttls-smtp.pcap",
            "mail.example smtp 587",
            "undetermined",
            0,
            &["openssl", "haproxy", "node"],
            "medium",
            &[3],
        ),
        (
            "starttls-imap.pcap",
            "mail.example imap 143",
            "undetermined",
            0,
            &["openssl", "haproxy", "node"],
            "medium",
            &[3],
        ),
        (
            "starttls-pop3.pcap",
            "mail.example pop3 110",
            "undetermined",
            0,
            &["openssl", "haproxy", "node"],
            "medium",
            &[3],
        ),
        (
            "starttls-ftp.pcap",
            "ftp.example ftp 21",
            "undetermined",
            0,
            &["openssl", "haproxy", "node"],
            "medium",
            &[3],
        ),
        (
            "starttls-ldap.pcap",
            "ldap.example ldap 389",
            "no-resumption",
            -1,
            &[],
            "-",
            &[],
        ),
        (
            "starttls-postgres.pcap",
            "db.example postgres 5432",
            "no-resumption",
            -1,
            &[],
            "-",
            &[],
        ),
    ];
    let mut seen_files = std::collections::BTreeSet::new();
    for (file, name, kind, rotations, fams, conf, exposure) in rows {
        seen_files.insert(*file);
        let r = fixture_report(file);
        let svc = service(&r, name);
        assert_eq!(svc["verdict"]["kind"], *kind, "{file} {name}");
        let rot = svc["rotation"]["rotations"].as_i64().unwrap_or(-1);
        assert_eq!(rot, *rotations, "{file} {name}");
        let guess = match &svc["server_guess"] {
            Value::Null => (vec![], "-".to_string()),
            _ => families(&r, name),
        };
        let want: Vec<String> = fams.iter().map(|f| f.to_string()).collect();
        assert_eq!(guess, (want, conf.to_string()), "{file} {name}");
        let got: Vec<u64> = svc["ticket_keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["exposure"]["sessions"].as_u64().unwrap())
            .collect();
        assert_eq!(got, *exposure, "{file} {name}");
    }
    // Every fixture with TLS is in the table (plain-http.pcap has no service).
    let all = std::fs::read_dir(root().join("captures"))
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().to_string())
        .filter(|n| (n.ends_with(".pcap") || n.ends_with(".pcapng")) && n != "plain-http.pcap")
        // starttls-refused.pcap has no service either (the servers refused STARTTLS).
        .filter(|n| n != "starttls-refused.pcap")
        .count();
    assert_eq!(seen_files.len(), all);
}
