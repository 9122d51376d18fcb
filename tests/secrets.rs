//! Secrets when the user has them (issue 10 item 4): TLS 1.3 NewSessionTickets opened with a
//! pcapng's Decryption Secrets Blocks or a `--keylog` file, and never a secret in the output.

mod support;

use support::*;

const NYA: &str = "lf-_clipper__crates__net_decode__corpus__nya-dsb.pcapng";

/// The SERVER_TRAFFIC_SECRET_0 hex embedded in a capture's Decryption Secrets Block.
fn embedded_secret(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let at = text
        .find("SERVER_TRAFFIC_SECRET_0 ")
        .expect("a DSB key log line");
    let line = text[at..].lines().next().unwrap();
    line.split_whitespace().nth(2).unwrap().to_string()
}

#[test]
fn tls13_tickets_in_a_capture_with_secrets_are_read_and_the_secrets_never_shown() {
    let Some(dir) = public_captures() else { return };
    let path = dir.join(NYA);
    let secret = embedded_secret(&std::fs::read(&path).unwrap());
    let log = tempfile::NamedTempFile::new().unwrap();
    let out = stekwatch(&[
        "read",
        path.to_str().unwrap(),
        "--format",
        "json",
        "--log",
        log.path().to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let svc = report["services"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["service"] == "jade.fyi")
        .expect("jade.fyi");
    let keys = svc["ticket_keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0]["key_name"], "4f219f15645fd3f1a14dd4780c777799");
    assert_eq!(keys[0]["tickets_issued"], 2);
    // Issuance is the packet time of the decrypted tickets.
    assert_eq!(keys[0]["issued"]["first"], "2023-06-09T06:33:32.827987Z");
    let all = format!(
        "{stdout}{}{}",
        String::from_utf8_lossy(&out.stderr),
        std::fs::read_to_string(log.path()).unwrap()
    );
    assert!(secret.len() >= 64);
    assert!(!all
        .to_ascii_lowercase()
        .contains(&secret.to_ascii_lowercase()));
}

#[test]
fn a_malformed_key_log_is_no_error_and_changes_nothing() {
    let Some(dir) = public_captures() else { return };
    let path = dir.join("ntop_nDPI__tests__cfgs__default__pcap__chrome.pcap");
    let keylog = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        keylog.path(),
        b"# c\nSERVER_TRAFFIC_SECRET_0 zz 00\nCLIENT_RANDOM\n\xff\xfe\nSERVER_HANDSHAKE_TRAFFIC_SECRET 00 11\n",
    )
    .unwrap();
    let with = report(&[&path], &["--keylog", keylog.path().to_str().unwrap()]);
    let without = report(&[&path], &[]);
    assert_eq!(with["services"], without["services"]);
}
