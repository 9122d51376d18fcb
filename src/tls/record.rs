//! One direction of a TLS connection: TLS records out of a byte stream (whatever transport
//! reassembled it), and handshake messages out of records. tls-parser frames record headers
//! but does not defragment handshake messages, so messages split over records (or several per
//! record) are reassembled here.
//!
//! Invariants: `buf` never holds more than one record (header + at most `MAX_RECORD_LEN`);
//! `hs` never holds more than one handshake message (at most `MAX_HANDSHAKE_LEN`); bytes are
//! copied into them only when a record or message is incomplete: whole ones are handed on
//! from the caller's chunk. A direction that stops parsing (encrypted, not TLS, over a cap)
//! frees both and ignores further bytes.

use tls_parser::{TlsRecordHeader, TlsRecordType};

use crate::chunk::Chunk;

/// Largest record length accepted (RFC 8446 §5.2: 2^14 + 256 for ciphertext, 2^14 + 2048 for
/// TLS 1.2 compressed/ciphertext records).
pub const MAX_RECORD_LEN: usize = (1 << 14) + 2048;
/// Largest handshake message reassembled; larger ones stop the direction (counted).
pub const MAX_HANDSHAKE_LEN: usize = 256 * 1024;

/// What one direction yields.
#[derive(Debug, PartialEq, Eq)]
pub enum Unit<'a> {
    Handshake {
        msg_type: u8,
        body: &'a [u8],
    },
    ChangeCipherSpec,
    /// An application-data record (its body): what follows in this direction is encrypted.
    ApplicationData(&'a [u8]),
    /// An SSL 2.0-format ClientHello (the backwards-compatible hello of old clients).
    SslV2ClientHello,
}

/// Why a direction stopped being parsed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stop {
    /// The caller said so (encrypted from here on, or the handshake is audited).
    Done,
    /// The first bytes are not TLS.
    NotTls,
    /// A record or handshake message broke the format, or exceeded a cap.
    Malformed,
    /// A resource cap (shared buffer budget, messages per connection) ended parsing.
    Cap,
}

#[derive(Debug, Default)]
pub struct RecordReader {
    buf: Vec<u8>,
    hs: Vec<u8>,
    started: bool,
    resync: bool,
    stopped: Option<Stop>,
    pub records: u64,
    pub resyncs: u64,
}

impl RecordReader {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn stopped(&self) -> Option<Stop> {
        self.stopped
    }

    /// Bytes this reader holds (capacity of its record and message buffers): the flow table
    /// charges them to the shared buffer budget.
    pub fn buffered(&self) -> usize {
        self.buf.capacity() + self.hs.capacity()
    }

    pub fn stop(&mut self, why: Stop) {
        if self.stopped.is_none() {
            self.stopped = Some(why);
        }
        self.buf = Vec::new();
        self.hs = Vec::new();
    }

    /// Takes bytes (or a gap) of the stream; calls `out` for every complete unit.
    pub fn push(&mut self, chunk: Chunk<'_>, out: &mut impl FnMut(&mut Self, Unit<'_>)) {
        if self.stopped.is_some() {
            return;
        }
        match chunk {
            Chunk::Gap(_) => {
                self.buf.clear();
                self.hs.clear();
                self.resync = self.started;
                if !self.started {
                    // Lost the very beginning: we cannot tell whether this is TLS.
                    self.stop(Stop::NotTls);
                }
            }
            Chunk::Data(bytes) if self.buf.is_empty() => {
                // Whole records are read in place; only an incomplete tail is kept.
                let used = self.parse(bytes, out);
                if self.stopped.is_none() {
                    self.buf.extend_from_slice(&bytes[used..]);
                }
            }
            Chunk::Data(bytes) => {
                // Work on the buffer taken out of `self`, so records can be handed on without
                // copying while `out` borrows `self`.
                let mut buf = std::mem::take(&mut self.buf);
                buf.extend_from_slice(bytes);
                let used = self.parse(&buf, out);
                if self.stopped.is_none() {
                    self.buf = unconsumed(buf, used);
                }
            }
        }
    }

    /// Takes handshake-message bytes without the record layer (QUIC CRYPTO frames), in
    /// stream order: the same message reassembly as records' fragments.
    pub fn push_messages(&mut self, bytes: &[u8], out: &mut impl FnMut(&mut Self, Unit<'_>)) {
        if self.stopped.is_some() {
            return;
        }
        self.started = true;
        self.record(TlsRecordType::Handshake, bytes, out);
    }

    /// Reads the units in `buf`; returns how many bytes were used.
    fn parse(&mut self, buf: &[u8], out: &mut impl FnMut(&mut Self, Unit<'_>)) -> usize {
        let mut pos = 0;
        while self.stopped.is_none() {
            let rest = &buf[pos..];
            if !self.started {
                match first_bytes(rest) {
                    First::NeedMore => break,
                    First::NotTls => {
                        self.stop(Stop::NotTls);
                        break;
                    }
                    First::SslV2(len) => {
                        if rest.len() < len {
                            break;
                        }
                        pos += len;
                        self.started = true;
                        out(self, Unit::SslV2ClientHello);
                        continue;
                    }
                    First::Record => self.started = true,
                }
            }
            if self.resync {
                match find_record_start(rest) {
                    Some(skip) => {
                        pos += skip;
                        self.resync = false;
                        self.resyncs += 1;
                        continue;
                    }
                    None => {
                        // Keep the last 4 bytes: a header may straddle the next delivery.
                        pos += rest.len().saturating_sub(4);
                        break;
                    }
                }
            }
            let Some((header, fragment)) = split_record(rest) else {
                if rest.len() >= 5 && !plausible_header(rest) {
                    self.stop(Stop::Malformed);
                }
                break;
            };
            pos += 5 + fragment.len();
            self.records += 1;
            self.record(header.record_type, fragment, out);
        }
        pos
    }

    fn record(
        &mut self,
        kind: TlsRecordType,
        fragment: &[u8],
        out: &mut impl FnMut(&mut Self, Unit<'_>),
    ) {
        match kind {
            TlsRecordType::ChangeCipherSpec => out(self, Unit::ChangeCipherSpec),
            TlsRecordType::ApplicationData => out(self, Unit::ApplicationData(fragment)),
            TlsRecordType::Handshake if self.hs.is_empty() => {
                let used = self.messages(fragment, out);
                if self.stopped.is_none() {
                    self.hs.extend_from_slice(&fragment[used..]);
                }
            }
            TlsRecordType::Handshake => {
                let mut hs = std::mem::take(&mut self.hs);
                hs.extend_from_slice(fragment);
                let used = self.messages(&hs, out);
                if self.stopped.is_none() {
                    self.hs = unconsumed(hs, used);
                }
            }
            _ => {}
        }
    }

    /// Hands on the whole messages in `hs`; returns how many bytes they took.
    fn messages(&mut self, hs: &[u8], out: &mut impl FnMut(&mut Self, Unit<'_>)) -> usize {
        let mut pos = 0;
        while self.stopped.is_none() {
            let rest = &hs[pos..];
            if rest.len() < 4 {
                break;
            }
            let len = u32::from_be_bytes([0, rest[1], rest[2], rest[3]]) as usize;
            if len > MAX_HANDSHAKE_LEN {
                self.stop(Stop::Malformed);
                break;
            }
            if rest.len() < 4 + len {
                break;
            }
            let msg_type = rest[0];
            let body = &rest[4..4 + len];
            pos += 4 + len;
            out(self, Unit::Handshake { msg_type, body });
        }
        pos
    }
}

/// What is left of a buffer after its first `consumed` bytes; a large allocation is given back
/// once everything is consumed, so an idle connection holds (and is charged for) little.
fn unconsumed(mut v: Vec<u8>, consumed: usize) -> Vec<u8> {
    v.drain(..consumed);
    if v.is_empty() && v.capacity() > 1024 {
        return Vec::new();
    }
    v
}

enum First {
    NeedMore,
    NotTls,
    SslV2(usize),
    Record,
}

/// Classifies the first bytes of a direction: a TLS record, an SSLv2-format ClientHello, or
/// not TLS at all. Detecting SSLv2 here matters: read as a TLS header it announces a huge
/// record and a naive reader would wait for it forever.
fn first_bytes(b: &[u8]) -> First {
    if b.len() < 3 {
        return First::NeedMore;
    }
    if b[0] & 0x80 != 0 && b[2] == 1 {
        let len = (((b[0] & 0x7f) as usize) << 8 | b[1] as usize) + 2;
        return First::SslV2(len);
    }
    if b.len() < 5 {
        return First::NeedMore;
    }
    // A handshake record, or an alert before it (servers send a warning-level
    // unrecognized_name alert ahead of their ServerHello).
    if (b[0] == 22 || b[0] == 21) && plausible_header(b) {
        First::Record
    } else {
        First::NotTls
    }
}

fn plausible_header(b: &[u8]) -> bool {
    let len = u16::from_be_bytes([b[3], b[4]]) as usize;
    (20..=24).contains(&b[0]) && b[1] == 3 && b[2] <= 4 && len <= MAX_RECORD_LEN
}

/// Finds the next offset where two consecutive plausible record headers (or one that runs to
/// the end of the buffer) start.
fn find_record_start(b: &[u8]) -> Option<usize> {
    (0..b.len().saturating_sub(4)).find(|&i| {
        let h = &b[i..];
        if !plausible_header(h) || h[0] == 24 {
            return false;
        }
        let len = u16::from_be_bytes([h[3], h[4]]) as usize;
        let next = 5 + len;
        h.len() <= next || (h.len() >= next + 5 && plausible_header(&h[next..]))
    })
}

fn split_record(b: &[u8]) -> Option<(TlsRecordHeader, &[u8])> {
    let (rest, header) = tls_parser::parse_tls_record_header(b).ok()?;
    if !plausible_header(b) {
        return None;
    }
    let len = header.len as usize;
    (rest.len() >= len).then(|| (header, &rest[..len]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(kind: u8, body: &[u8]) -> Vec<u8> {
        let mut r = vec![kind, 3, 3, (body.len() >> 8) as u8, body.len() as u8];
        r.extend_from_slice(body);
        r
    }

    fn handshake(msg_type: u8, body: &[u8]) -> Vec<u8> {
        let n = body.len();
        let mut m = vec![msg_type, (n >> 16) as u8, (n >> 8) as u8, n as u8];
        m.extend_from_slice(body);
        m
    }

    fn collect(chunks: &[&[u8]]) -> (Vec<String>, RecordReader) {
        let mut r = RecordReader::new();
        let mut got = Vec::new();
        for c in chunks {
            r.push(Chunk::Data(c), &mut |_, u| got.push(format!("{u:?}")));
        }
        (got, r)
    }

    #[test]
    fn message_split_over_two_records_is_defragmented() {
        let msg = handshake(1, &[7u8; 300]);
        let mut bytes = record(22, &msg[..100]);
        bytes.extend(record(22, &msg[100..]));
        let (got, _) = collect(&[&bytes]);
        assert_eq!(got.len(), 1);
        assert!(got[0].starts_with("Handshake { msg_type: 1"));
    }

    #[test]
    fn two_messages_in_one_record_both_come_out() {
        let mut body = handshake(2, &[1; 10]);
        body.extend(handshake(11, &[2; 20]));
        let (got, _) = collect(&[&record(22, &body)]);
        assert_eq!(got.len(), 2);
    }

    #[test]
    fn record_split_byte_by_byte_is_read() {
        let bytes = record(22, &handshake(4, &[9; 40]));
        let chunks: Vec<&[u8]> = bytes.chunks(1).collect();
        let (got, _) = collect(&chunks);
        assert_eq!(got.len(), 1);
    }

    #[test]
    fn warning_alert_before_the_server_hello_is_still_tls() {
        let mut bytes = record(21, &[1, 112]);
        bytes.extend(record(22, &handshake(2, &[0; 8])));
        let (got, r) = collect(&[&bytes]);
        assert_eq!(got.len(), 1);
        assert_eq!(r.stopped(), None);
    }

    #[test]
    fn http_is_not_tls() {
        let (got, r) = collect(&[b"GET / HTTP/1.1\r\n\r\n"]);
        assert!(got.is_empty());
        assert_eq!(r.stopped(), Some(Stop::NotTls));
    }

    #[test]
    fn sslv2_client_hello_is_recognised_and_reading_goes_on() {
        let mut bytes = vec![0x80, 0x04, 0x01, 0x03, 0x01, 0x00];
        bytes.extend(record(22, &handshake(2, &[0; 8])));
        let (got, _) = collect(&[&bytes]);
        assert_eq!(
            got,
            vec![
                "SslV2ClientHello".to_string(),
                format!(
                    "{:?}",
                    Unit::Handshake {
                        msg_type: 2,
                        body: &[0; 8]
                    }
                )
            ]
        );
    }

    #[test]
    fn oversized_handshake_message_stops_the_direction() {
        let bytes = record(22, &[1, 0x7f, 0xff, 0xff]);
        let (_, r) = collect(&[&bytes]);
        assert_eq!(r.stopped(), Some(Stop::Malformed));
    }

    #[test]
    fn buffers_are_given_back_once_a_large_record_is_consumed() {
        let bytes = record(22, &handshake(4, &[9; 10_000]));
        let mut r = RecordReader::new();
        r.push(Chunk::Data(&bytes[..6000]), &mut |_, _| {});
        assert!(r.buffered() >= 6000);
        r.push(Chunk::Data(&bytes[6000..]), &mut |_, _| {});
        assert!(r.buffered() <= 1024, "{}", r.buffered());
    }

    #[test]
    fn handshake_messages_without_records_are_reassembled_alike() {
        let mut bytes = handshake(1, &[7u8; 300]);
        bytes.extend(handshake(2, &[1; 10]));
        let mut r = RecordReader::new();
        let mut got = Vec::new();
        for piece in bytes.chunks(7) {
            r.push_messages(piece, &mut |_, u| got.push(format!("{u:?}")));
        }
        assert_eq!(got.len(), 2, "{got:?}");
        assert!(got[0].starts_with("Handshake { msg_type: 1"));
        assert!(got[1].starts_with("Handshake { msg_type: 2"));
        assert_eq!(r.records, 0);
    }

    #[test]
    fn after_a_gap_reading_resumes_at_the_next_record() {
        let mut r = RecordReader::new();
        let mut got = Vec::new();
        let first = record(22, &handshake(1, &[1; 10]));
        r.push(Chunk::Data(&first), &mut |_, u| got.push(format!("{u:?}")));
        r.push(Chunk::Gap(100), &mut |_, _| {});
        let mut tail = vec![0xaa; 37];
        tail.extend(record(22, &handshake(4, &[5; 12])));
        r.push(Chunk::Data(&tail), &mut |_, u| got.push(format!("{u:?}")));
        assert_eq!(got.len(), 2, "{got:?}");
        assert_eq!(r.resyncs, 1);
    }
}
