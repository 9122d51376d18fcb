//! TLS after a cleartext prelude, end to end on captures of real daemons (captures/make-starttls.sh:
//! postfix, dovecot, vsftpd, slapd, PostgreSQL with `openssl s_client -starttls`): exact services
//! with their protocol and port, key names, ticket and resumption counts, tshark's agreement, and
//! the refusals, the client alone and the cap counted as skips rather than read as TLS.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use support::rewrite::{self, Capture};
use support::*;

/// What one fixture must show: its one service per server port.
struct Expect {
    file: &'static str,
    service: &'static str,
    protocol: &'static str,
    address: &'static str,
    /// full, resumed by ticket, by session ID, by TLS 1.3 PSK.
    handshakes: [u64; 4],
    /// (key name, tickets issued, resumptions accepted).
    keys: &'static [(&'static str, u64, u64)],
}

const SMTP_KEY: &str = "6feec6585fe0d3f134f1173766e760eb";

const EXPECTED: [Expect; 7] = [
    Expect {
        file: "starttls-smtp.pcap",
        service: "mail.example smtp 25",
        protocol: "smtp",
        address: "127.0.0.1:25",
        handshakes: [2, 1, 0, 1],
        keys: &[(SMTP_KEY, 1, 2)],
    },
    // Submission: another smtpd of the same postfix, whose tlsmgr shares one ticket key.
    Expect {
        file: "starttls-smtp.pcap",
        service: "mail.example smtp 587",
        protocol: "smtp",
        address: "127.0.0.1:587",
        handshakes: [2, 1, 0, 1],
        keys: &[(SMTP_KEY, 1, 2)],
    },
    Expect {
        file: "starttls-imap.pcap",
        service: "mail.example imap 143",
        protocol: "imap",
        address: "127.0.0.1:143",
        handshakes: [2, 1, 0, 1],
        keys: &[("a8457a304d3c63d82b000b575b6f2061", 1, 2)],
    },
    Expect {
        file: "starttls-pop3.pcap",
        service: "mail.example pop3 110",
        protocol: "pop3",
        address: "127.0.0.1:110",
        handshakes: [2, 1, 0, 1],
        keys: &[("bee1aabcd7a888a0a291518b65fafe5b", 1, 2)],
    },
    Expect {
        file: "starttls-ftp.pcap",
        service: "ftp.example ftp 21",
        protocol: "ftp",
        address: "127.0.0.1:21",
        handshakes: [2, 1, 0, 1],
        keys: &[("376125b16505c08ca4ccc8315941e3e6", 1, 2)],
    },
    // slapd (GnuTLS) issues no tickets over TLS 1.2 and none that OpenSSL's client resumes
    // over TLS 1.3: four full handshakes.
    Expect {
        file: "starttls-ldap.pcap",
        service: "ldap.example ldap 389",
        protocol: "ldap",
        address: "127.0.0.1:389",
        handshakes: [4, 0, 0, 0],
        keys: &[],
    },
    // PostgreSQL turns tickets off (SSL_OP_NO_TICKET) and has no session cache.
    Expect {
        file: "starttls-postgres.pcap",
        service: "db.example postgres 5432",
        protocol: "postgres",
        address: "127.0.0.1:5432",
        handshakes: [4, 0, 0, 0],
        keys: &[],
    },
];

fn services(r: &Value) -> Vec<String> {
    r["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["service"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn each_daemon_is_one_service_with_its_protocol_port_keys_and_counts() {
    for e in &EXPECTED {
        let r = fixture_report(e.file);
        let svc = service(&r, e.service);
        assert_eq!(svc["protocol"], e.protocol, "{}", e.service);
        assert_eq!(
            svc["addresses"],
            serde_json::json!([e.address]),
            "{}",
            e.service
        );
        assert_eq!(handshakes(svc), e.handshakes, "{}", e.service);
        let keys: Vec<(String, u64, u64)> = svc["ticket_keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| {
                (
                    k["key_name"].as_str().unwrap().to_string(),
                    k["tickets_issued"].as_u64().unwrap(),
                    k["resumptions_accepted"].as_u64().unwrap(),
                )
            })
            .collect();
        let want: Vec<(String, u64, u64)> = e
            .keys
            .iter()
            .map(|(k, i, a)| (k.to_string(), *i, *a))
            .collect();
        assert_eq!(keys, want, "{}", e.service);
        let connections: u64 = e.handshakes.iter().sum();
        assert_eq!(
            r["statistics"]["prelude_tls"],
            connections * services(&r).len() as u64
        );
        assert_eq!(
            r["statistics"]["tls_connections"],
            r["statistics"]["prelude_tls"]
        );
    }
    // Every file holds exactly the services listed.
    for file in ["starttls-smtp.pcap", "starttls-ldap.pcap"] {
        let want: Vec<&str> = EXPECTED
            .iter()
            .filter(|e| e.file == file)
            .map(|e| e.service)
            .collect();
        assert_eq!(services(&fixture_report(file)), want);
    }
}

#[test]
fn smtp_and_submission_sharing_postfixs_key_is_one_stek_shared_alert() {
    let r = fixture_report("starttls-smtp.pcap");
    assert_eq!(
        alerts(&r),
        set(&[&format!(
            "stek-shared/info/mail.example smtp 25,mail.example smtp 587/{SMTP_KEY}"
        )])
    );
}

#[test]
fn refused_starttls_with_a_clienthello_sent_anyway_is_no_service_and_counted() {
    // Port 2525 answers STARTTLS with 502, 2526 with 454; s_client sends its ClientHello anyway.
    let r = fixture_report("starttls-refused.pcap");
    assert_eq!(services(&r), Vec::<String>::new());
    let st = &r["statistics"];
    assert_eq!(st["prelude_refused"], 2);
    assert_eq!(st["tls_connections"], 0);
    assert_eq!(st["not_tls_connections"], 2);
}

#[test]
fn the_client_side_alone_of_starttls_sessions_is_unanswered_not_tls() {
    // Only what the SMTP clients sent: STARTTLS and ClientHellos with tickets and PSKs, and
    // not one server byte to accept them.
    let path = Capture::read(&capture("starttls-smtp.pcap"))
        .drop_where(|_, p| rewrite::ports(p).1 != 25)
        .write("starttls-client-only.pcap");
    let r = report(&[&path], &[]);
    assert_eq!(services(&r), Vec::<String>::new());
    assert_eq!(r["statistics"]["prelude_unanswered"], 4);
    assert_eq!(r["statistics"]["tls_connections"], 0);
    // The server side alone: its 220s answer nothing this capture shows being asked.
    let path = Capture::read(&capture("starttls-smtp.pcap"))
        .drop_where(|_, p| rewrite::ports(p).0 != 25)
        .write("starttls-server-only.pcap");
    let r = report(&[&path], &[]);
    assert_eq!(services(&r), Vec::<String>::new());
    assert_eq!(r["statistics"]["prelude_no_tls"], 4);
}

/// The client's and server's first TLS payloads of the first connection of `file` to `port`.
fn hellos(file: &str, port: u16) -> (Vec<u8>, Vec<u8>) {
    let cap = Capture::read(&capture(file));
    let first = |from_server: bool| {
        cap.packets
            .iter()
            .find(|p| {
                let (src, dst) = rewrite::ports(p);
                let side = if from_server { src } else { dst };
                side == port && rewrite::payload(p).first() == Some(&0x16)
            })
            .map(|p| rewrite::payload(p).to_vec())
            .unwrap()
    };
    (first(false), first(true))
}

/// A pcap of one TCP connection 192.0.2.7:40000 → 192.0.2.1:`port`: handshake, then each
/// `(from_client, payload)` in order with consistent sequence numbers, then FINs.
fn one_connection(name: &str, port: u16, talk: &[(bool, Vec<u8>)]) -> PathBuf {
    let mut out: Vec<u8> = Vec::new();
    for w in [0xa1b2_c3d4u32, 0x0004_0002, 0, 0, 65535, 1] {
        out.extend_from_slice(&w.to_le_bytes());
    }
    let (client, server) = ([192u8, 0, 2, 7], [192u8, 0, 2, 1]);
    let mut seq = [1000u32, 5000u32];
    let mut frame = 0u32;
    let mut packet = |from_client: bool, flags: u8, payload: &[u8], seq: &mut [u32; 2]| {
        let (s, d, sp, dp) = if from_client {
            (client, server, 40000u16, port)
        } else {
            (server, client, port, 40000u16)
        };
        let i = usize::from(!from_client);
        let mut p = vec![2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 8, 0];
        let ip_len = (40 + payload.len()) as u16;
        p.extend_from_slice(&[0x45, 0]);
        p.extend_from_slice(&ip_len.to_be_bytes());
        p.extend_from_slice(&[0, 0, 0x40, 0, 64, 6, 0, 0]);
        p.extend_from_slice(&s);
        p.extend_from_slice(&d);
        p.extend_from_slice(&sp.to_be_bytes());
        p.extend_from_slice(&dp.to_be_bytes());
        p.extend_from_slice(&seq[i].to_be_bytes());
        p.extend_from_slice(&seq[1 - i].to_be_bytes());
        p.extend_from_slice(&[0x50, flags, 0xff, 0xff, 0, 0, 0, 0]);
        p.extend_from_slice(payload);
        seq[i] = seq[i].wrapping_add(payload.len() as u32 + u32::from(flags & 3 != 0));
        frame += 1;
        for w in [1_793_491_200 + frame / 1000, (frame % 1000) * 1000] {
            out.extend_from_slice(&w.to_le_bytes());
        }
        out.extend_from_slice(&(p.len() as u32).to_le_bytes());
        out.extend_from_slice(&(p.len() as u32).to_le_bytes());
        out.extend_from_slice(&p);
    };
    packet(true, 0x02, &[], &mut seq);
    packet(false, 0x12, &[], &mut seq);
    packet(true, 0x10, &[], &mut seq);
    for (from_client, payload) in talk {
        for piece in payload.chunks(1400) {
            packet(*from_client, 0x18, piece, &mut seq);
        }
    }
    packet(true, 0x11, &[], &mut seq);
    packet(false, 0x11, &[], &mut seq);
    let path =
        std::env::temp_dir().join(format!("stekwatch-starttls-{}-{name}", std::process::id()));
    std::fs::write(&path, out).unwrap();
    path
}

/// An SMTP dialog around postfix's real hellos, with `noise` bytes of commands before STARTTLS.
fn smtp_dialog(noise: usize, answer: &[u8]) -> Vec<(bool, Vec<u8>)> {
    let (ch, sh) = hellos("starttls-smtp.pcap", 25);
    let mut talk = vec![
        (false, b"220 mail.example ESMTP Postfix\r\n".to_vec()),
        (true, b"EHLO client.example\r\n".to_vec()),
        (false, b"250-mail.example\r\n250 STARTTLS\r\n".to_vec()),
    ];
    for _ in 0..noise / 6 {
        talk.push((true, b"NOOP\r\n".to_vec()));
        talk.push((false, b"250 2.0.0 Ok\r\n".to_vec()));
    }
    talk.push((true, b"STARTTLS\r\n".to_vec()));
    talk.push((false, answer.to_vec()));
    talk.push((true, ch));
    talk.push((false, sh));
    talk
}

#[test]
fn a_prelude_past_the_cap_is_counted_and_the_same_dialog_under_it_is_read() {
    let ready = b"220 2.0.0 Ready to start TLS\r\n";
    let short = one_connection("short.pcap", 25, &smtp_dialog(600, ready));
    let r = report(&[&short], &[]);
    assert_eq!(services(&r), vec!["mail.example smtp 25".to_string()]);
    // 20 KiB of NOOPs from the client: past the 16 KiB cap before STARTTLS.
    let long = one_connection("long.pcap", 25, &smtp_dialog(20 * 1024, ready));
    let r = report(&[&long], &[]);
    assert_eq!(services(&r), Vec::<String>::new());
    assert_eq!(r["statistics"]["prelude_over_cap"], 1);
    assert_eq!(r["statistics"]["not_tls_connections"], 1);
    // And a server that says 454 but sends a ServerHello all the same is not switched.
    let refused = b"454 4.7.0 TLS not available due to local problem\r\n";
    let odd = one_connection("odd.pcap", 25, &smtp_dialog(0, refused));
    let r = report(&[&odd], &[]);
    assert_eq!(services(&r), Vec::<String>::new());
    assert_eq!(r["statistics"]["prelude_refused"], 1);
}

#[test]
fn the_same_hellos_after_an_unknown_prelude_are_found_by_the_fallback() {
    let (ch, sh) = hellos("starttls-imap.pcap", 143);
    let talk = vec![
        (true, b"HELLO example-protocol/1\r\n".to_vec()),
        (false, b"WELCOME\r\n".to_vec()),
        (true, ch),
        (false, sh),
    ];
    let r = report(&[&one_connection("generic.pcap", 7000, &talk)], &[]);
    let svc = service(&r, "mail.example prelude 7000");
    assert_eq!(svc["protocol"], "prelude");
    assert_eq!(handshakes(svc), [1, 0, 0, 0]);
}

#[test]
fn the_protocol_survives_state_files_and_connection_logs() {
    let dir = fresh_dir("starttls", "state");
    let state = dir.join("state.json");
    let log = dir.join("conns.jsonl");
    let cap = capture("starttls-smtp.pcap");
    ok(&["read", "--state", s(&state), "--log", s(&log), s(&cap)]);
    let out = ok(&["report", "--state", s(&state), "--format", "json"]);
    let from_state: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        service(&from_state, "mail.example smtp 587")["protocol"],
        "smtp"
    );
    let lines: Vec<Value> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .filter(|v: &Value| v["event_type"] == "tls")
        .collect();
    assert_eq!(lines.len(), 8);
    assert!(lines.iter().all(|l| l["protocol"] == "smtp"), "{lines:?}");
    let out = ok(&["report", "--from-log", s(&log), "--format", "json"]);
    let from_log: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        services(&from_log),
        vec!["mail.example smtp 25", "mail.example smtp 587"]
    );
    // Human text names the protocol and port.
    let out = ok(&["read", s(&cap)]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("mail.example smtp 25  [127.0.0.1:25]"),
        "{text}"
    );
}

/// What tshark finds per server port: ticket and PSK key names, NewSessionTickets, connections
/// answered by a ServerHello, and PSK resumptions accepted.
#[derive(Debug, Default, PartialEq)]
struct Oracle {
    names: BTreeSet<String>,
    tickets: u64,
    connections: u64,
    psk_accepted: u64,
}

fn tshark_oracle(path: &Path) -> BTreeMap<u16, Oracle> {
    let mut args: Vec<String> = vec!["-n".into(), "-r".into(), path.display().to_string()];
    for port in [587, 2525, 2526] {
        args.extend(["-d".into(), format!("tcp.port=={port},smtp")]);
    }
    args.extend(
        [
            "-Y",
            "tls.handshake.type",
            "-T",
            "fields",
            "-E",
            "occurrence=a",
            "-E",
            "aggregator=,",
        ]
        .map(String::from),
    );
    for f in [
        "tcp.stream",
        "tcp.srcport",
        "tcp.dstport",
        "tls.handshake.type",
        "tls.handshake.session_ticket",
        "tls.handshake.extensions.psk.identity.identity",
        "tls.handshake.extensions.psk.identity.selected",
    ] {
        args.extend(["-e".into(), f.into()]);
    }
    let out = Command::new("tshark").args(&args).output().expect("tshark");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut per: BTreeMap<u16, Oracle> = BTreeMap::new();
    let mut answered = BTreeSet::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let f: Vec<&str> = line.split('\t').collect();
        let (src, dst): (u16, u16) = (f[1].parse().unwrap(), f[2].parse().unwrap());
        let server = src.min(dst);
        let o = per.entry(server).or_default();
        let types: Vec<&str> = f[3].split(',').collect();
        for t in f[4].split(',').filter(|t| !t.is_empty()) {
            o.tickets += 1;
            o.names.insert(t[..32].to_string());
        }
        for id in f[5].split(',').filter(|t| t.len() >= 32) {
            o.names.insert(id[..32].to_string());
        }
        if src == server && types.contains(&"2") && answered.insert(f[0].to_string()) {
            o.connections += 1;
        }
        if src == server && !f[6].is_empty() {
            o.psk_accepted += 1;
        }
    }
    per
}

#[test]
fn tshark_agrees_on_every_key_name_ticket_and_psk_resumption() {
    if !tshark_available() {
        return;
    }
    let mut files: Vec<&str> = EXPECTED.iter().map(|e| e.file).collect();
    files.dedup();
    files.push("starttls-refused.pcap");
    let mut names = 0;
    for file in files {
        let r = fixture_report(file);
        let mut ours: BTreeMap<u16, Oracle> = BTreeMap::new();
        for svc in r["services"].as_array().unwrap() {
            let addr = svc["addresses"][0].as_str().unwrap();
            let port: u16 = addr.rsplit(':').next().unwrap().parse().unwrap();
            let keys = svc["ticket_keys"].as_array().unwrap();
            let h = &svc["handshakes"];
            ours.insert(
                port,
                Oracle {
                    names: keys
                        .iter()
                        .map(|k| k["key_name"].as_str().unwrap().to_string())
                        .collect(),
                    tickets: keys
                        .iter()
                        .map(|k| k["tickets_issued"].as_u64().unwrap())
                        .sum(),
                    connections: handshakes(svc).iter().sum(),
                    psk_accepted: h["resumed_psk"].as_u64().unwrap(),
                },
            );
        }
        let theirs = tshark_oracle(&capture(file));
        assert_eq!(ours, theirs, "{file}");
        names += theirs.values().map(|o| o.names.len()).sum::<usize>();
    }
    // The four ticket keys (SMTP's counted on both of its ports), and no TLS in the refusals.
    assert_eq!(names, 5);
}

#[test]
fn tls_through_an_http_connect_proxy_in_a_public_capture_is_read_after_the_200() {
    let Some(dir) = public_captures() else { return };
    let path = dir.join("zeek_zeek__testing__btest__Traces__http__connect-with-header.pcap");
    let r = report(&[&path], &[]);
    // tshark agrees: one ClientHello for secure.newegg.com, answered by a ServerHello that
    // echoes its session ID (a session-ID resumption), after the proxy's 200.
    let svc = service(&r, "secure.newegg.com http 80");
    assert_eq!(svc["protocol"], "http");
    assert_eq!(handshakes(svc), [0, 0, 1, 0]);
    assert_eq!(r["statistics"]["prelude_tls"], 1);
}
