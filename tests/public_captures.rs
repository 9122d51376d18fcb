//! Real captures from other projects' test suites (../shared/captures-public, read in place):
//! every one is read without error, and the resumption outcomes match what those projects
//! documented. Skipped with a message where the folder is absent.

mod support;

use support::*;

/// Handshake totals over all services: [full, ticket, session ID, PSK, unknown].
fn totals(file: &str) -> Option<[u64; 5]> {
    let dir = public_captures()?;
    let r = report(&[&dir.join(file)], &[]);
    let mut t = [0; 5];
    for s in r["services"].as_array().unwrap() {
        for (i, k) in [
            "full",
            "resumed_ticket",
            "resumed_session_id",
            "resumed_psk",
            "unknown",
        ]
        .iter()
        .enumerate()
        {
            t[i] += s["handshakes"][k].as_u64().unwrap();
        }
    }
    Some(t)
}

macro_rules! outcome {
    ($name:ident, $file:expr, $want:expr) => {
        #[test]
        fn $name() {
            if let Some(t) = totals($file) {
                assert_eq!(t, $want, "{}", $file);
            }
        }
    };
}

outcome!(
    snapchat_has_two_ticket_and_one_session_id_resumption,
    "ntop_nDPI__tests__cfgs__default__pcap__snapchat.pcap",
    [0, 2, 1, 0, 0]
);
outcome!(
    suricata_version_negated_has_five_session_id_resumptions_and_an_sslv2_hello,
    "OISF_suricata-verify__tests__ssl_version_negated__input.pcap",
    [1, 0, 5, 0, 0]
);
outcome!(
    firefox_resumes_five_tls13_sessions_by_psk,
    "ntop_nDPI__tests__cfgs__default__pcap__firefox.pcap",
    [1, 0, 0, 5, 0]
);
outcome!(
    chrome_resumes_three_tls13_sessions_by_psk,
    "ntop_nDPI__tests__cfgs__default__pcap__chrome.pcap",
    [3, 0, 0, 3, 0]
);
outcome!(
    zeek_tls13_psk_is_one_psk_resumption,
    "zeek_zeek__testing__btest__Traces__tls__tls13_psk_succesfull.pcap",
    [0, 0, 0, 1, 0]
);
outcome!(
    chrome_tls13_experiment_session_id_echo_is_not_a_resumption,
    "zeek_zeek__testing__btest__Traces__tls__chrome-63.0.3211.0-canary-tls_experiment.pcap",
    [1, 0, 0, 0, 0]
);
outcome!(
    tls12_protocol_violation_full_handshake_is_not_a_resumption,
    "zeek_zeek__testing__btest__Traces__tls__tls1.2-protocol-violation.pcap",
    [1, 0, 0, 0, 0]
);
outcome!(
    arkime_session_id_resumption_is_recognised,
    "arkime_arkime__tests__pcap__tls-client-sessionid.pcap",
    [0, 0, 1, 0, 0]
);
outcome!(
    unidirectional_client_capture_leaves_the_outcome_unknown,
    "ntop_nDPI__tests__cfgs__default__pcap__tls_1.3_unidirectional_client.pcapng",
    [0, 0, 0, 0, 1]
);
outcome!(
    client_hello_over_two_reassemblies_with_facebook_tls13_resumes_by_psk,
    "ntop_nDPI__tests__cfgs__default__pcap__tls_2_reasms.pcapng",
    [0, 0, 0, 1, 0]
);
outcome!(
    pcapng_with_interfaces_of_several_link_types_is_read,
    "seladb_PcapPlusPlus__Tests__Pcap++Test__PcapExamples__many_interfaces-1.pcapng",
    [0, 1, 0, 0, 1]
);
outcome!(
    client_hello_split_at_mtu_300_is_reassembled,
    "OISF_suricata-verify__tests__tls__tls-client-hello-frag-01__dump_mtu300.pcap",
    [1, 0, 0, 0, 0]
);
outcome!(
    tls13_draft28_psk_resumption_is_recognised,
    "OISF_suricata-verify__tests__tls__tls13-draft28__tls13_draft28.pcap",
    [1, 0, 0, 1, 0]
);
outcome!(
    linux_sll2_client_hello_is_decoded,
    "cisco_mercury__unit_tests__pcaps__sll2_tls.pcap",
    [0, 0, 0, 0, 1]
);
outcome!(
    linux_sll_client_hello_is_decoded,
    "cisco_mercury__unit_tests__pcaps__sll_tls.pcap",
    [0, 0, 0, 0, 1]
);
outcome!(
    bsd_null_loopback_tls13_is_decoded,
    "syncsynchalt_illustrated-tls13__captures__capture.pcap",
    [1, 0, 0, 0, 0]
);
outcome!(
    ipv6_in_ipv4_tunnel_is_decoded,
    "ntop_nDPI__tests__cfgs__default__pcap__6in4tunnel.pcap",
    [2, 0, 0, 0, 0]
);
outcome!(
    vlan_tagged_tls_is_decoded,
    "ntop_nDPI__tests__cfgs__default__pcap__ultrasurf.pcap",
    [2, 0, 0, 0, 0]
);
outcome!(
    gzip_compressed_pcap_is_read,
    "secdev_scapy__test__pcaps__tls_tcp_frag_withnss.pcap.gz",
    [1, 0, 0, 0, 0]
);
// Issue 10: QUIC Initials (their services are `<sni> quic`; see tests/quic.rs for keys).
outcome!(
    quic_zero_rtt_draft28_and_v1_connections_both_resume_by_psk,
    "ntop_nDPI__tests__cfgs__default__pcap__quic_0RTT.pcap",
    [0, 0, 0, 2, 0]
);
outcome!(
    quic_v2_offer_with_early_data_gets_a_full_handshake,
    "ntop_nDPI__tests__cfgs__default__pcap__quic-v2.pcapng",
    [1, 0, 0, 0, 0]
);
outcome!(
    quic_go_zero_rtt_run_on_the_ppp_link_type_is_decoded,
    "zeek_zeek__testing__btest__Traces__quic__interop__quic-go_quic-go__zerortt.pcap",
    [1, 0, 0, 1, 0]
);
outcome!(
    chrome_to_cloudflare_over_tcp_and_quic_is_two_full_handshakes,
    "FoxIO-LLC_ja4__pcap__chrome-cloudflare-quic-with-secrets.pcapng",
    [2, 0, 0, 0, 0]
);
outcome!(
    chrome_page_load_over_tcp_and_quic_has_every_handshake,
    "FoxIO-LLC_ja4__pcap__tls3.pcapng",
    [9, 0, 0, 4, 0]
);

#[test]
fn every_public_capture_is_read_without_error() {
    let Some(dir) = public_captures() else { return };
    let mut n = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let r = report(&[&path], &[]);
        assert!(
            r["warnings"].as_array().unwrap().is_empty(),
            "{}: {}",
            path.display(),
            r["warnings"]
        );
        assert_eq!(r["statistics"]["parse_failures"], 0, "{}", path.display());
        n += 1;
    }
    assert!(n >= 40, "{n} captures");
}

#[test]
fn go_style_or_per_connection_keys_are_not_observable_never_rotating() {
    // pcapFS's all_ciphers capture: 29 tickets from servers restarted per cipher suite, so no
    // two tickets share a key name. That must not read as "rotating".
    let Some(dir) = public_captures() else { return };
    let r = report(
        &[&dir.join("fkie-cad_pcapFS__tests__crypto__all_ciphers_test__all_ciphers.pcap")],
        &[],
    );
    for s in r["services"].as_array().unwrap() {
        assert!(s["key_name_len"].is_null(), "{s}");
        assert!(s["ticket_keys"].as_array().unwrap().is_empty());
    }
    assert!(
        alerts(&r)
            .iter()
            .all(|a| a.starts_with("key-not-observable/info/")),
        "{:?}",
        alerts(&r)
    );
}
