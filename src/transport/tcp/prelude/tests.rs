//! The prelude stage on hand-written dialogs: each protocol's switch, refusals, a client
//! alone, pipelining, caps and gaps.

use super::*;

/// A ClientHello record header and the start of its body (enough for the fallback's test).
const CH: &[u8] = &[22, 3, 1, 0, 0x40, 1, 0, 0, 0x3c, 3, 3, 0xaa, 0xbb];
/// A ServerHello record's start.
const SH: &[u8] = &[22, 3, 3, 0, 0x30, 2, 0, 0, 0x2c, 3, 3, 0xcc];

fn at(frame: u64) -> Evidence {
    Evidence {
        frame,
        ..Evidence::default()
    }
}

/// Pushes `(direction, bytes)` in order; returns what went to TLS per direction, and the
/// frames (push numbers) the first TLS byte of each direction was attributed to.
fn run(pushes: &[(usize, &[u8])]) -> (Prelude, [Vec<u8>; 2], [Option<u64>; 2]) {
    let mut p = Prelude::new();
    let mut out = [Vec::new(), Vec::new()];
    let mut first = [None, None];
    for (i, (dir, bytes)) in pushes.iter().enumerate() {
        p.push(
            *dir,
            Chunk::Data(bytes),
            at(i as u64 + 1),
            &mut |d, c, at| {
                if let Chunk::Data(b) = c {
                    out[d].extend_from_slice(b);
                    first[d].get_or_insert(at.frame);
                }
            },
        );
    }
    (p, out, first)
}

#[test]
fn smtp_starttls_accepted_with_220_hands_on_both_hellos() {
    let (p, out, first) = run(&[
        (0, b"220 mail.example ESMTP Postfix\r\n"),
        (1, b"EHLO client.example\r\n"),
        (0, b"250-mail.example\r\n250-PIPELINING\r\n250 STARTTLS\r\n"),
        (1, b"STARTTLS\r\n"),
        (0, b"220 2.0.0 Ready to start TLS\r\n"),
        (1, CH),
        (0, SH),
    ]);
    assert_eq!(p.protocol(), Some(Protocol::Smtp));
    assert_eq!(out, [SH.to_vec(), CH.to_vec()]);
    assert_eq!(first, [Some(7), Some(6)]);
    assert_eq!(p.skip(), None);
}

#[test]
fn smtp_dialog_delivered_byte_by_byte_switches_at_the_same_place() {
    let server = b"220 m ESMTP\r\n250 ok\r\n220 go\r\n";
    let mut p = Prelude::new();
    let mut out = [Vec::new(), Vec::new()];
    let mut tls = |d: usize, c: Chunk<'_>, _| {
        if let Chunk::Data(b) = c {
            out[d].extend_from_slice(b);
        }
    };
    for b in &server[..13] {
        p.push(0, Chunk::Data(std::slice::from_ref(b)), at(1), &mut tls);
    }
    for b in b"EHLO x\r\n" {
        p.push(1, Chunk::Data(std::slice::from_ref(b)), at(2), &mut tls);
    }
    for b in &server[13..21] {
        p.push(0, Chunk::Data(std::slice::from_ref(b)), at(3), &mut tls);
    }
    for b in b"STARTTLS\r\n" {
        p.push(1, Chunk::Data(std::slice::from_ref(b)), at(4), &mut tls);
    }
    let mut rest = server[21..].to_vec();
    rest.extend_from_slice(SH);
    for b in &rest {
        p.push(0, Chunk::Data(std::slice::from_ref(b)), at(5), &mut tls);
    }
    assert_eq!(p.protocol(), Some(Protocol::Smtp));
    assert_eq!(out[0], SH);
}

#[test]
fn smtp_refusal_454_keeps_the_clients_hello_in_cleartext() {
    let (p, out, _) = run(&[
        (0, b"220 mail.example ESMTP\r\n"),
        (1, b"STARTTLS\r\n"),
        (0, b"454 4.7.0 TLS not available due to local problem\r\n"),
        (1, CH),
        (0, b"502 5.5.2 Error: command not recognized\r\n"),
    ]);
    assert_eq!(p.protocol(), None);
    assert_eq!(out, [Vec::<u8>::new(), Vec::new()]);
    assert_eq!(p.skip(), Some(Skip::Refused));
}

#[test]
fn a_client_alone_asking_and_sending_a_hello_is_unanswered_not_tls() {
    let (p, out, _) = run(&[
        (0, b"220 mail.example ESMTP\r\n"),
        (1, b"STARTTLS\r\n"),
        (1, CH),
    ]);
    assert_eq!(p.protocol(), None);
    assert!(out[1].is_empty());
    assert_eq!(p.skip(), Some(Skip::Unanswered));
}

#[test]
fn a_220_before_the_client_asked_is_not_an_acceptance() {
    let (p, out, _) = run(&[
        (0, b"220 mail.example ESMTP\r\n220 again\r\n"),
        (1, CH),
        (0, SH),
    ]);
    assert_eq!(p.protocol(), None);
    assert!(out[0].is_empty() && out[1].is_empty());
}

#[test]
fn pipelined_commands_are_answered_before_starttls_is() {
    // NOOP's 250 is not STARTTLS's answer; the 454 after it is.
    let (p, _, _) = run(&[
        (0, b"220 m ESMTP\r\n"),
        (1, b"NOOP\r\nSTARTTLS\r\n"),
        (0, b"250 ok\r\n454 no\r\n"),
    ]);
    assert_eq!(p.skip(), Some(Skip::Refused));
    let (p, _, _) = run(&[
        (0, b"220 m ESMTP\r\n"),
        (1, b"NOOP\r\nSTARTTLS\r\n"),
        (0, b"250-one\r\n250 two\r\n220 go\r\n"),
        (0, SH),
    ]);
    assert_eq!(p.protocol(), Some(Protocol::Smtp));
}

#[test]
fn imap_switches_only_on_the_tagged_ok_of_its_starttls() {
    let (p, out, _) = run(&[
        (
            0,
            b"* OK [CAPABILITY IMAP4rev1 STARTTLS] Dovecot ready.\r\n",
        ),
        (1, b". STARTTLS\r\n"),
        (
            0,
            b"* BYE not yet\r\nother OK no\r\n. OK Begin TLS negotiation now.\r\n",
        ),
        (1, CH),
        (0, SH),
    ]);
    assert_eq!(p.protocol(), Some(Protocol::Imap));
    assert_eq!(out, [SH.to_vec(), CH.to_vec()]);
    let (p, _, _) = run(&[
        (0, b"* OK ready\r\n"),
        (1, b"a1 STARTTLS\r\n"),
        (0, b"a1 NO [ALERT] no TLS\r\n"),
    ]);
    assert_eq!(p.skip(), Some(Skip::Refused));
}

/// A greeting, the client's request, the server's answer, and the protocol they make.
type Dialogue = (&'static [u8], &'static [u8], &'static [u8], Protocol);

#[test]
fn pop3_stls_ftp_auth_tls_nntp_and_sieve_switch_on_their_answers() {
    let cases: [Dialogue; 4] = [
        (
            b"+OK Dovecot ready.\r\n",
            b"STLS\r\n",
            b"+OK Begin TLS\r\n",
            Protocol::Pop3,
        ),
        (
            b"220-Welcome\r\nfree text\r\n220 (vsFTPd 3.0.3)\r\n",
            b"AUTH TLS\r\n",
            b"234 Proceed with negotiation.\r\n",
            Protocol::Ftp,
        ),
        (
            b"200 news.example ready\r\n",
            b"STARTTLS\r\n",
            b"382 Continue\r\n",
            Protocol::Nntp,
        ),
        (
            b"\"IMPLEMENTATION\" \"Pigeonhole\"\r\n\"STARTTLS\"\r\nOK \"ready\"\r\n",
            b"STARTTLS\r\n",
            b"OK \"Begin TLS negotiation now\"\r\n",
            Protocol::Sieve,
        ),
    ];
    for (greeting, ask, answer, proto) in cases {
        let (p, out, _) = run(&[(0, greeting), (1, ask), (0, answer), (1, CH), (0, SH)]);
        assert_eq!(p.protocol(), Some(proto), "{proto:?}");
        assert_eq!(out, [SH.to_vec(), CH.to_vec()], "{proto:?}");
    }
    // Their refusals.
    let refusals: [(&[u8], &[u8], &[u8]); 3] = [
        (b"+OK ready\r\n", b"STLS\r\n", b"-ERR no\r\n"),
        (b"220 ftp\r\n", b"AUTH TLS\r\n", b"530 no\r\n"),
        (b"201 news\r\n", b"STARTTLS\r\n", b"580 no\r\n"),
    ];
    for (greeting, ask, answer) in refusals {
        let (p, _, _) = run(&[(0, greeting), (1, ask), (0, answer), (1, CH), (0, SH)]);
        assert_eq!(p.skip(), Some(Skip::Refused));
    }
}

#[test]
fn http_connect_switches_after_the_proxys_2xx_headers_and_not_after_a_407() {
    let ask: &[u8] = b"CONNECT secure.example:443 HTTP/1.1\r\nHost: secure.example:443\r\n\r\n";
    let (p, out, _) = run(&[
        (0, ask),
        (
            1,
            b"HTTP/1.1 200 Connection established\r\nVia: proxy\r\n\r\n",
        ),
        (0, CH),
        (1, SH),
    ]);
    assert_eq!(p.protocol(), Some(Protocol::Http));
    assert_eq!(out, [CH.to_vec(), SH.to_vec()]);
    let (p, out, _) = run(&[
        (0, ask),
        (
            1,
            b"HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n",
        ),
        (0, CH),
        (1, SH),
    ]);
    assert!(out[0].is_empty() && out[1].is_empty());
    assert_eq!(p.skip(), Some(Skip::Refused));
}

#[test]
fn xmpp_switches_after_proceed_and_not_after_failure() {
    let client = b"<?xml version='1.0'?><stream:stream to='im.example' xmlns='jabber:client'>";
    let server = b"<stream:stream from='im.example'><stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls></stream:features>";
    let ask = b"<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>";
    let (p, out, _) = run(&[
        (0, client),
        (1, server),
        (0, ask),
        (1, b"<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"),
        (0, CH),
        (1, SH),
    ]);
    assert_eq!(p.protocol(), Some(Protocol::Xmpp));
    assert_eq!(out, [CH.to_vec(), SH.to_vec()]);
    let (p, _, _) = run(&[
        (0, client),
        (1, server),
        (0, ask),
        (
            1,
            b"<failure xmlns='urn:ietf:params:xml:ns:xmpp-tls'/></stream:stream>",
        ),
    ]);
    assert_eq!(p.skip(), Some(Skip::Refused));
}

/// An LDAPMessage: messageID 1, ExtendedRequest StartTLS (as OpenLDAP clients send it).
const LDAP_ASK: &[u8] = b"\x30\x1d\x02\x01\x01\x77\x18\x80\x161.3.6.1.4.1.1466.20037";

fn ldap_answer(result: u8) -> Vec<u8> {
    // messageID 1, ExtendedResponse { resultCode, matchedDN "", diagnosticMessage "" }.
    vec![0x30, 0x0c, 2, 1, 1, 0x78, 0x07, 0x0a, 1, result, 4, 0, 4, 0]
}

#[test]
fn ldap_starttls_switches_on_result_code_zero_only() {
    let ok = ldap_answer(0);
    let (p, out, _) = run(&[(0, LDAP_ASK), (1, &ok), (0, CH), (1, SH)]);
    assert_eq!(p.protocol(), Some(Protocol::Ldap));
    assert_eq!(out, [CH.to_vec(), SH.to_vec()]);
    // protocolError (2): refused.
    let no = ldap_answer(2);
    let (p, out, _) = run(&[(0, LDAP_ASK), (1, &no), (0, CH), (1, SH)]);
    assert_eq!(p.protocol(), None);
    assert!(out[0].is_empty());
    assert_eq!(p.skip(), Some(Skip::Refused));
    // An answer to another message ID does not count.
    let mut other = ldap_answer(0);
    other[4] = 7;
    let (p, _, _) = run(&[(0, LDAP_ASK), (1, &other), (0, CH)]);
    assert_eq!(p.skip(), Some(Skip::Unanswered));
}

#[test]
fn postgres_sslrequest_switches_on_s_and_n_is_a_refusal() {
    let req: &[u8] = &[0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f];
    let (p, out, _) = run(&[(0, req), (1, b"S"), (0, CH), (1, SH)]);
    assert_eq!(p.protocol(), Some(Protocol::Postgres));
    assert_eq!(out, [CH.to_vec(), SH.to_vec()]);
    let startup: &[u8] = &[0, 0, 0, 9, 0, 3, 0, 0, 0];
    let (p, out, _) = run(&[(0, req), (1, b"N"), (0, startup)]);
    assert!(out[0].is_empty());
    assert_eq!(p.skip(), Some(Skip::Refused));
    assert!(!p.reading());
}

#[test]
fn generic_fallback_needs_the_servers_hello_after_the_clients() {
    let (p, out, first) = run(&[
        (0, b"HELLO proto 1\r\n"),
        (1, b"OK\r\n"),
        (0, b"TLS please\r\n"),
        (0, CH),
        (1, b"sure\r\n"),
        (1, SH),
    ]);
    assert_eq!(p.protocol(), Some(Protocol::Prelude));
    assert_eq!(out, [CH.to_vec(), SH.to_vec()]);
    // The held ClientHello keeps the frame it came in.
    assert_eq!(first, [Some(4), Some(6)]);
    // Without the server's hello: nothing.
    let (p, out, _) = run(&[(0, b"HELLO\r\n"), (0, CH), (1, b"no\r\n")]);
    assert!(out[0].is_empty());
    assert_eq!(p.skip(), Some(Skip::Unanswered));
}

#[test]
fn plain_http_is_simply_not_tls() {
    let (p, out, _) = run(&[
        (0, b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"),
        (1, b"HTTP/1.1 200 OK\r\n\r\n"),
    ]);
    assert!(out[0].is_empty() && out[1].is_empty());
    assert_eq!(p.skip(), None);
    assert!(p.reading());
}

#[test]
fn a_prelude_over_the_cap_ends_reading_and_is_counted() {
    let line = [b'x'; 1000];
    let mut pushes: Vec<(usize, &[u8])> = vec![(0, b"220 m ESMTP\r\n")];
    for _ in 0..17 {
        pushes.push((1, &line));
    }
    pushes.push((1, b"STARTTLS\r\n"));
    let (p, out, _) = run(&pushes);
    assert!(out[1].is_empty());
    assert_eq!(p.skip(), Some(Skip::OverCap));
    assert!(!p.reading());
    assert_eq!(p.held(), 0);
}

#[test]
fn a_gap_before_the_switch_ends_reading() {
    let mut p = Prelude::new();
    let mut none = |_: usize, _: Chunk<'_>, _: Evidence| panic!("nothing is TLS");
    p.push(0, Chunk::Data(b"220 m ESMTP\r\n"), at(1), &mut none);
    p.push(1, Chunk::Gap(10), at(2), &mut none);
    p.push(1, Chunk::Data(b"STARTTLS\r\n"), at(3), &mut none);
    assert_eq!(p.skip(), Some(Skip::Gap));
}
