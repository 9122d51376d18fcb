//! Preludes that are not lines: LDAP (BER-encoded LDAPMessages; StartTLS is the extended
//! operation 1.3.6.1.4.1.1466.20037, accepted by an extendedResp with resultCode 0), PostgreSQL
//! (the 8-byte SSLRequest `00000008 04d2162f`, answered by one byte, `S` or `N`), XMPP
//! (`<starttls/>` answered by `<proceed/>` or `<failure/>`), and the generic fallback: a TLS
//! handshake record holding a ClientHello after any cleartext, accepted by a ServerHello record.

use super::Step;
use crate::chunk::Protocol;

/// The StartTLS extended operation's name (RFC 4511 §4.14.1).
const STARTTLS_OID: &[u8] = b"1.3.6.1.4.1.1466.20037";
const SSL_REQUEST: [u8; 8] = [0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f];
const GSSENC_REQUEST: [u8; 8] = [0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x30];
/// The largest TLS record a sender may use (RFC 8446 §5.2, with TLS 1.2's expansion).
const MAX_RECORD_LEN: usize = (1 << 14) + 2048;
/// Bytes kept unread at the end of a buffer searched for a pattern that may straddle pushes.
const KEEP: usize = 16;

/// LDAP: the messageID of a StartTLS request waiting for its answer.
#[derive(Debug, Default)]
pub struct Ldap {
    pending: Option<u32>,
}

/// One BER element: tag, where its contents start and its whole length.
struct Tlv {
    tag: u8,
    start: usize,
    end: usize,
}

/// The BER element at the start of `b`: `Ok(None)` if incomplete, `Err` if not BER
/// (indefinite or over-long lengths are refused: LDAP uses neither).
fn tlv(b: &[u8]) -> Result<Option<Tlv>, ()> {
    let (Some(&tag), Some(&first)) = (b.first(), b.get(1)) else {
        return Ok(None);
    };
    let (len, start) = match first {
        0..=0x7f => (first as usize, 2),
        0x81..=0x84 => {
            let n = (first & 0x7f) as usize;
            let Some(bytes) = b.get(2..2 + n) else {
                return Ok(None);
            };
            let len = bytes.iter().fold(0usize, |a, &x| a << 8 | x as usize);
            (len, 2 + n)
        }
        _ => return Err(()),
    };
    let end = start.checked_add(len).ok_or(())?;
    Ok((b.len() >= end).then_some(Tlv { tag, start, end }))
}

impl Ldap {
    /// A client's first bytes: an LDAPMessage (SEQUENCE) starting with its INTEGER messageID.
    pub fn recognise(b: &[u8]) -> bool {
        let hdr = match b.get(1) {
            Some(0..=0x7f) => 2,
            Some(&l @ 0x81..=0x84) => 2 + (l & 0x7f) as usize,
            _ => return false,
        };
        b[0] == 0x30 && b.get(hdr) == Some(&0x02)
    }

    pub fn step(&mut self, from_client: bool, b: &[u8]) -> Step {
        let msg = match tlv(b) {
            Ok(Some(m)) if m.tag == 0x30 => m,
            Ok(None) => return Step::Need,
            _ => return Step::Unknown,
        };
        let body = &b[msg.start..msg.end];
        let Some((id, op, contents)) = message(body) else {
            return Step::Unknown;
        };
        match (from_client, op) {
            // ExtendedRequest [APPLICATION 23]: requestName [0] first.
            (true, 0x77) => {
                let name = first_element(contents);
                if name.is_some_and(|(tag, v)| tag == 0x80 && v == STARTTLS_OID) {
                    self.pending = Some(id);
                    return Step::Ask(msg.end, Protocol::Ldap);
                }
                Step::Take(msg.end)
            }
            // ExtendedResponse [APPLICATION 24]: resultCode ENUMERATED first.
            (false, 0x78) if self.pending == Some(id) => {
                self.pending = None;
                match first_element(contents) {
                    Some((0x0a, [0])) => Step::Accept(msg.end),
                    _ => Step::Refuse(msg.end),
                }
            }
            _ => Step::Take(msg.end),
        }
    }
}

/// An LDAPMessage's messageID, protocolOp tag and the protocolOp's contents.
fn message(body: &[u8]) -> Option<(u32, u8, &[u8])> {
    let id = tlv(body).ok()??;
    if id.tag != 0x02 || id.end - id.start > 4 {
        return None;
    }
    let value = body[id.start..id.end]
        .iter()
        .fold(0u32, |a, &x| a << 8 | u32::from(x));
    let rest = &body[id.end..];
    let op = tlv(rest).ok()??;
    Some((value, op.tag, &rest[op.start..op.end]))
}

fn first_element(b: &[u8]) -> Option<(u8, &[u8])> {
    let e = tlv(b).ok()??;
    Some((e.tag, &b[e.start..e.end]))
}

/// PostgreSQL: which 8-byte request waits for its one-byte answer.
#[derive(Debug, Default)]
pub struct Postgres {
    pending: Option<[u8; 8]>,
}

impl Postgres {
    /// A client's first message: SSLRequest, GSSENCRequest or a protocol-3 StartupMessage.
    pub fn recognise(b: &[u8]) -> Option<Self> {
        let first = b.get(..8)?;
        let startup = first[..2] == [0, 0] && first[4..8] == [0, 3, 0, 0];
        (first == SSL_REQUEST || first == GSSENC_REQUEST || startup).then(Self::default)
    }

    pub fn step(&mut self, from_client: bool, b: &[u8]) -> Step {
        if from_client {
            let Some(first) = b.get(..8) else {
                return Step::Need;
            };
            return if first == SSL_REQUEST {
                self.pending = Some(SSL_REQUEST);
                Step::Ask(8, Protocol::Postgres)
            } else if first == GSSENC_REQUEST {
                self.pending = Some(GSSENC_REQUEST);
                Step::Take(8)
            } else {
                // A StartupMessage (or anything else): the session stays in cleartext.
                Step::Clear
            };
        }
        let Some(&answer) = b.first() else {
            return Step::Need;
        };
        match (self.pending.take(), answer) {
            (Some(SSL_REQUEST), b'S') => Step::Accept(1),
            (Some(SSL_REQUEST), _) => Step::Refuse(1),
            // GSSAPI encryption refused: the client may ask for TLS next.
            (Some(_), b'N') => Step::Take(1),
            _ => Step::Clear,
        }
    }
}

/// XMPP: whether the client's `<starttls/>` waits for the server's answer.
#[derive(Debug, Default)]
pub struct Xmpp {
    asked: bool,
}

impl Xmpp {
    /// A client's stream header (RFC 6120 §4.2).
    pub fn recognise(b: &[u8]) -> bool {
        b.starts_with(b"<?xml") || b.starts_with(b"<stream:stream")
    }

    pub fn step(&mut self, from_client: bool, b: &[u8]) -> Step {
        if from_client {
            let Some(at) = find(b, b"<starttls") else {
                return keep_tail(b);
            };
            return match element_end(&b[at..], b"</starttls>") {
                Some(end) => {
                    self.asked = true;
                    Step::Ask(at + end, Protocol::Xmpp)
                }
                None => Step::Need,
            };
        }
        if !self.asked {
            return keep_tail(b);
        }
        let proceed = find(b, b"<proceed");
        let failure = find(b, b"<failure");
        let (at, ok) = match (proceed, failure) {
            (Some(p), f) if f.is_none_or(|f| p < f) => (p, true),
            (_, Some(f)) => (f, false),
            _ => return keep_tail(b),
        };
        let close: &[u8] = if ok { b"</proceed>" } else { b"</failure>" };
        match element_end(&b[at..], close) {
            Some(end) if ok => {
                self.asked = false;
                Step::Accept(at + end)
            }
            Some(end) => {
                self.asked = false;
                Step::Refuse(at + end)
            }
            None => Step::Need,
        }
    }
}

/// The end of the element starting at `b[0]`: after `/>` if it is empty, else after `close`.
fn element_end(b: &[u8], close: &[u8]) -> Option<usize> {
    let gt = b.iter().position(|&c| c == b'>')?;
    if gt > 0 && b[gt - 1] == b'/' {
        return Some(gt + 1);
    }
    find(b, close).map(|i| i + close.len())
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Reads all but the last `KEEP` bytes (a pattern may straddle the next push).
fn keep_tail(b: &[u8]) -> Step {
    if b.len() > KEEP {
        Step::Take(b.len() - KEEP)
    } else {
        Step::Need
    }
}

/// A TLS handshake record header followed by a handshake message of type `msg_type` (1
/// ClientHello, 2 ServerHello) at the start of `b`: `Some(true)` yes, `Some(false)` no, `None`
/// too few bytes to tell.
pub fn handshake_record_at(b: &[u8], msg_type: u8) -> Option<bool> {
    let head = b.get(..11)?;
    let len = u16::from_be_bytes([head[3], head[4]]) as usize;
    Some(
        head[0] == 0x16
            && head[1] == 3
            && head[2] <= 4
            && (4..=MAX_RECORD_LEN).contains(&len)
            && head[5] == msg_type
            // A hello is shorter than 64 KiB and starts with its legacy version 3.x.
            && head[6] == 0
            && head[9] == 3,
    )
}

/// The generic fallback: anyone's ClientHello record after cleartext asks; then the other
/// direction's ServerHello record accepts.
pub fn generic_step(from_client: bool, waiting: bool, b: &[u8]) -> Step {
    let msg_type = match (waiting, from_client) {
        (false, _) => 1,
        (true, false) => 2,
        (true, true) => return Step::Need,
    };
    for i in 0..b.len() {
        match handshake_record_at(&b[i..], msg_type) {
            Some(true) if i > 0 => return Step::Take(i),
            Some(true) if msg_type == 1 => return Step::Ask(0, Protocol::Prelude),
            Some(true) => return Step::Accept(0),
            Some(false) => {}
            None => return if i > 0 { Step::Take(i) } else { Step::Need },
        }
    }
    Step::Take(b.len())
}
