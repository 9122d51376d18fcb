//! End-to-end audits of the bundled fixture captures (made by real nginx/OpenSSL servers, see
//! captures/README.md): exact key names per service, exact alert sets, exact resumption counts.

mod support;

use support::*;

const DAY: i64 = 86_400;

#[test]
fn static_key_over_three_weeks_is_critical_on_every_time_rule() {
    let r = fixture_report("static-key-weeks.pcap");
    let k = hexname("static-key-0001!");
    assert_eq!(
        keys(&r),
        [("static.test".to_string(), vec![k.clone()])].into()
    );
    assert_eq!(
        alerts(&r),
        set(&[
            &format!("stale-ticket-accepted/critical/static.test/{k}"),
            &format!("stek-not-rotated/critical/static.test/{k}"),
            &format!("ticket-lifetime-too-long/critical/static.test/{k}"),
        ])
    );
    let svc = service(&r, "static.test");
    assert_eq!(handshakes(svc), [8, 5, 0, 4]);
    assert_eq!(svc["tls_versions"], serde_json::json!(["1.2", "1.3"]));
    assert_eq!(svc["key_name_len"], 16);
    assert_eq!(svc["key_name_len_source"], "inferred");
    assert_eq!(
        svc["lifetime_hint_seconds"],
        serde_json::json!({"min": 691200, "max": 691200})
    );
    let key = key(svc, &k);
    assert_eq!(key["tickets_issued"], 4);
    assert_eq!(key["resumptions_offered"], 9);
    assert_eq!(key["resumptions_accepted"], 9);
    // The day-0 ticket resumed on day 14 is matched to its own issuance.
    let oldest = key["oldest_accepted_ticket_age_seconds"].as_i64().unwrap();
    assert!((14 * DAY..14 * DAY + 600).contains(&oldest), "{oldest}");
    let not_rotated = &r["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["rule"] == "stek-not-rotated")
        .unwrap();
    let age = not_rotated["age_seconds"].as_i64().unwrap();
    assert!((21 * DAY - 600..=21 * DAY + 600).contains(&age), "{age}");
    assert_eq!(not_rotated["evidence"].as_array().unwrap().len(), 2);
}

#[test]
fn daily_rotation_with_decrypt_only_predecessors_raises_nothing() {
    let r = fixture_report("rotation-daily.pcap");
    let names: Vec<String> = (1..=5)
        .map(|i| hexname(&format!("rotate-key-000{i}!")))
        .collect();
    assert_eq!(
        keys(&r),
        [("rotate.test".to_string(), names.clone())].into()
    );
    assert!(alerts(&r).is_empty(), "{:?}", alerts(&r));
    let svc = service(&r, "rotate.test");
    assert_eq!(handshakes(svc), [10, 5, 0, 5]);
    // Keys 1-4 are each accepted once more, 6 hours later, after the next rotation.
    for name in &names[..4] {
        let k = key(svc, name);
        let accepted = &k["accepted"];
        assert!(accepted.is_object(), "{k}");
        assert!(k["seen_seconds"].as_i64().unwrap() >= 6 * 3600 - 60, "{k}");
    }
    assert_eq!(key(svc, &names[4])["resumptions_accepted"], 0);
}

#[test]
fn tls13_only_static_key_is_seen_through_psk_identities() {
    let r = fixture_report("tls13-static-days.pcap");
    let k = hexname("tls13-static-k01");
    assert_eq!(
        keys(&r),
        [("tls13.test".to_string(), vec![k.clone()])].into()
    );
    assert_eq!(
        alerts(&r),
        set(&[&format!("stek-not-rotated/warning/tls13.test/{k}")])
    );
    let svc = service(&r, "tls13.test");
    assert_eq!(handshakes(svc), [4, 0, 0, 4]);
    assert_eq!(svc["addresses"], serde_json::json!(["127.0.0.1:8443"]));
    let key = key(svc, &k);
    assert_eq!(
        key["tickets_issued"], 0,
        "TLS 1.3 tickets are issued encrypted"
    );
    assert_eq!(key["resumptions_accepted"], 4);
}

#[test]
fn session_cache_resumed_after_a_day_and_a_half_is_flagged() {
    let r = fixture_report("session-cache-only.pcap");
    assert_eq!(keys(&r), [("cache.test".to_string(), vec![])].into());
    assert_eq!(
        alerts(&r),
        set(&["session-cache-too-long/warning/cache.test/-"])
    );
    let svc = service(&r, "cache.test");
    assert_eq!(handshakes(svc), [1, 0, 2, 0]);
    assert_eq!(svc["session_ids"]["established"], 1);
    let age = svc["session_ids"]["max_resumption_age_seconds"]
        .as_i64()
        .unwrap();
    assert!((36 * 3600 - 600..=36 * 3600).contains(&age), "{age}");
}

#[test]
fn one_key_behind_three_names_on_two_hosts_is_shared() {
    let r = fixture_report("shared-key.pcap");
    let k = hexname("shared-key-0001!");
    let names = ["a.shared.test", "b.shared.test", "c.shared.test"];
    assert_eq!(
        keys(&r),
        names
            .iter()
            .map(|n| (n.to_string(), vec![k.clone()]))
            .collect()
    );
    assert_eq!(
        alerts(&r),
        set(&[&format!("stek-shared/warning/{}/{k}", names.join(","))])
    );
    for n in names {
        assert_eq!(handshakes(service(&r, n)), [1, 1, 0, 0], "{n}");
    }
    assert_eq!(
        service(&r, "c.shared.test")["addresses"],
        serde_json::json!(["127.0.0.2:443"])
    );
}

#[test]
fn tickets_and_cache_off_give_no_resumption_and_no_warning() {
    let r = fixture_report("no-resumption.pcap");
    let svc = service(&r, "none.test");
    assert_eq!(handshakes(svc), [4, 0, 0, 0]);
    assert!(alerts(&r).is_empty(), "{:?}", alerts(&r));
    for k in svc["ticket_keys"].as_array().unwrap() {
        assert_eq!(k["resumptions_accepted"], 0);
        assert_eq!(k["tickets_issued"], 0);
    }
}

#[test]
fn ipv6_linux_sll2_nanosecond_pcapng_reads_like_any_other() {
    let r = fixture_report("ipv6-sll2-nano.pcapng");
    let k = hexname("ipv6-sll2-key-01");
    assert_eq!(keys(&r), [("v6.test".to_string(), vec![k.clone()])].into());
    assert!(alerts(&r).is_empty());
    let svc = service(&r, "v6.test");
    assert_eq!(svc["addresses"], serde_json::json!(["[::1]:443"]));
    assert_eq!(handshakes(svc), [2, 1, 0, 1]);
    // Nanosecond timestamps are kept to the microsecond in reports.
    assert!(r["observation"]["start"]
        .as_str()
        .unwrap()
        .starts_with("2026-11-01T00:00:00."));
}

#[test]
fn all_zero_key_name_is_weak() {
    let r = fixture_report("weak-key.pcap");
    let k = "00".repeat(16);
    assert_eq!(
        keys(&r),
        [("weak.test".to_string(), vec![k.clone()])].into()
    );
    assert_eq!(
        alerts(&r),
        set(&[&format!("weak-key-name/warning/weak.test/{k}")])
    );
    assert_eq!(handshakes(service(&r, "weak.test")), [1, 1, 0, 0]);
}

#[test]
fn zero_rtt_offer_is_reported_as_info() {
    let r = fixture_report("early-data.pcap");
    let k = hexname("early-data-key01");
    assert_eq!(
        keys(&r),
        [("early.test".to_string(), vec![k.clone()])].into()
    );
    assert_eq!(
        alerts(&r),
        set(&[&format!("early-data-offered/info/early.test/{k}")])
    );
    assert_eq!(handshakes(service(&r, "early.test")), [1, 0, 0, 1]);
}

#[test]
fn plain_http_gives_a_clean_empty_report() {
    let r = fixture_report("plain-http.pcap");
    assert!(r["services"].as_array().unwrap().is_empty());
    assert!(r["alerts"].as_array().unwrap().is_empty());
    assert_eq!(r["statistics"]["connections"], 3);
    assert_eq!(r["statistics"]["not_tls_connections"], 3);
    assert_eq!(r["statistics"]["tls_connections"], 0);
}

#[test]
fn zero_lifetime_hints_of_renewed_tickets_are_not_lifetimes() {
    let r = fixture_report("rotation-daily.pcap");
    assert_eq!(
        service(&r, "rotate.test")["lifetime_hint_seconds"],
        serde_json::json!({"min": 43200, "max": 43200})
    );
}

#[test]
fn openssl_s_server_restarted_after_two_days_shows_two_short_lived_random_keys() {
    let r = fixture_report("openssl-s-server.pcap");
    let (k1, k2) = (
        "5ba8623675088dab98042248cd2a84ef",
        "4c5500a99831f0ee3cd65bb6b2c6da30",
    );
    assert_eq!(
        keys(&r),
        [(
            "ossl.test".to_string(),
            vec![k1.to_string(), k2.to_string()]
        )]
        .into()
    );
    // The day-0 ticket and PSK offered on day 2 are rejected by the new process: offered
    // sightings never make a key "not rotated".
    assert!(alerts(&r).is_empty(), "{:?}", alerts(&r));
    let svc = service(&r, "ossl.test");
    assert_eq!(handshakes(svc), [8, 2, 2, 2]);
    assert_eq!(key(svc, k1)["resumptions_accepted"], 2);
    assert!(key(svc, k1)["offered_not_accepted"].is_object());
    assert_eq!(svc["key_name_len_source"], "inferred");
}

#[test]
fn haproxy_static_keys_file_over_ten_days_is_critical() {
    let r = fixture_report("haproxy.pcap");
    // haproxy encrypts with the penultimate key of its file: 0002 of 0001..0003.
    let k = hexname("haproxy-key-0002");
    assert_eq!(
        keys(&r),
        [("haproxy.test".to_string(), vec![k.clone()])].into()
    );
    assert_eq!(
        alerts(&r),
        set(&[&format!("stek-not-rotated/critical/haproxy.test/{k}")])
    );
    assert_eq!(handshakes(service(&r, "haproxy.test")), [4, 2, 0, 2]);
}

#[test]
fn gnutls_tickets_share_the_sixteen_byte_key_name_layout() {
    let r = fixture_report("gnutls-serv.pcap");
    let k = "dedd394d30a2af6306a1693ba039e26b";
    assert_eq!(
        keys(&r),
        [("gnutls.test".to_string(), vec![k.to_string()])].into()
    );
    assert!(alerts(&r).is_empty(), "{:?}", alerts(&r));
    let svc = service(&r, "gnutls.test");
    assert_eq!(handshakes(svc), [5, 2, 1, 2]);
    assert_eq!(svc["key_name_len"], 16);
    assert_eq!(key(svc, k)["resumptions_accepted"], 4);
}

#[test]
fn hello_retry_request_does_not_hide_the_real_server_hello() {
    let r = fixture_report("hello-retry.pcap");
    let k = "36d37aae5b8f0b969594be71d1a547f0";
    assert_eq!(
        keys(&r),
        [("hrr.test".to_string(), vec![k.to_string()])].into()
    );
    assert!(alerts(&r).is_empty());
    let svc = service(&r, "hrr.test");
    assert_eq!(handshakes(svc), [2, 0, 0, 2]);
    assert_eq!(svc["handshakes"]["unknown"], 0);
}

#[test]
fn several_files_in_one_run_merge_into_one_history() {
    let r = report(
        &[&capture("shared-key.pcap"), &capture("weak-key.pcap")],
        &[],
    );
    assert_eq!(r["observation"]["files"].as_array().unwrap().len(), 2);
    assert!(alerts(&r)
        .iter()
        .any(|a| a.starts_with("stek-shared/warning/")));
    assert!(alerts(&r)
        .iter()
        .any(|a| a.starts_with("weak-key-name/warning/weak.test/")));
}

#[test]
fn a_directory_is_read_as_all_the_captures_in_it() {
    let r = report(&[&root().join("captures")], &[]);
    let files = r["observation"]["files"].as_array().unwrap();
    // 14 fixtures, the 5 weak-STEK fixtures of issue 15 (tests/weak_stek.rs), the 6 verdict
    // fixtures of issue 12 (tests/verdicts.rs) and the 4 QUIC fixtures of issue 10
    // (tests/quic.rs), the nginx key-log fixture (tests/keylog_fixtures.rs) and the 7
    // STARTTLS fixtures of issue 10 (tests/starttls.rs); their key logs and scripts are not
    // captures.
    assert_eq!(files.len(), 37, "{files:?}");
    assert!(keys(&r).contains_key("static.test"));
}

#[test]
fn forced_key_name_length_regroups_keys() {
    let r = report(
        &[&capture("rotation-daily.pcap")],
        &["--key-name-len", "10"],
    );
    assert_eq!(keys(&r)["rotate.test"], vec![hexname("rotate-key")]);
    assert_eq!(service(&r, "rotate.test")["key_name_len_source"], "forced");
    // As one 10-byte "key", the five keys span the whole day: over a 12h limit.
    let r = report(
        &[&capture("rotation-daily.pcap")],
        &["--key-name-len", "10", "--max-key-age", "12h"],
    );
    assert!(alerts(&r).contains(&format!(
        "stek-not-rotated/warning/rotate.test/{}",
        hexname("rotate-key")
    )));
}

#[test]
fn thresholds_move_the_verdicts() {
    let r = report(
        &[&capture("tls13-static-days.pcap")],
        &["--max-key-age", "4d"],
    );
    assert!(alerts(&r).is_empty(), "{:?}", alerts(&r));
    let r = report(
        &[&capture("tls13-static-days.pcap")],
        &["--max-key-age", "1h", "--critical-key-age", "2d"],
    );
    assert_eq!(
        alerts(&r),
        set(&[&format!(
            "stek-not-rotated/critical/tls13.test/{}",
            hexname("tls13-static-k01")
        )])
    );
}

#[test]
fn every_alert_carries_file_frame_and_time_evidence() {
    for f in [
        "static-key-weeks.pcap",
        "session-cache-only.pcap",
        "shared-key.pcap",
        "weak-key.pcap",
        "early-data.pcap",
    ] {
        let r = fixture_report(f);
        for a in r["alerts"].as_array().unwrap() {
            let ev = a["evidence"].as_array().unwrap();
            assert!(!ev.is_empty(), "{f}: {a}");
            for e in ev {
                assert!(e["file"].as_str().unwrap().ends_with(f));
                assert!(e["frame"].as_u64().unwrap() >= 1);
                assert!(e["time"].as_str().unwrap().ends_with('Z'));
            }
            assert!(!a["message"].as_str().unwrap().is_empty());
        }
    }
}

#[test]
fn closed_connections_free_their_entries_so_a_small_flow_cap_loses_nothing() {
    // static-key-weeks has 17 connections one after the other; two entries are enough when
    // closed connections are forgotten at once.
    let small = report(
        &[&capture("static-key-weeks.pcap")],
        &["--max-flows", "2", "-j", "1"],
    );
    let clean = fixture_report("static-key-weeks.pcap");
    assert_eq!(
        small["statistics"]["dropped_flows_cap"], 0,
        "{}",
        small["statistics"]
    );
    assert_eq!(alerts(&small), alerts(&clean));
    assert_eq!(small["services"], clean["services"]);
}
