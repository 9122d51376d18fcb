//! One connection seen as TLS: both directions' record readers and what their handshake
//! messages say, summarised once the handshake is audited (or the connection ends). It takes
//! the bytes of each direction as `Chunk`s, whatever transport carried them.
//!
//! Parsing of a direction stops after its ChangeCipherSpec (TLS 1.2: what follows is
//! encrypted), at its first application-data record (e.g. a TLS 1.3 client's data after its
//! first flight, when the server's answer is not on the wire) and, for both directions, after
//! a TLS 1.3 ServerHello that is not a HelloRetryRequest. The outcome is decided from server
//! evidence, never from the client's offer alone.

use std::net::SocketAddr;

use super::handshake::{self as hs, ClientHello, ServerHello};
use super::record::{RecordReader, Stop, Unit};
use super::secrets;
use super::server13::{DecryptCounts, Next, Server13};
use super::ticket::TicketRef;
use super::weak::{self, TicketCheck};
use crate::chunk::{Chunk, Protocol, Transport};
use crate::decode::Tunnel;
use crate::evidence::Evidence;

/// At most this many NewSessionTickets are kept per connection (more are counted).
pub const MAX_TICKETS_PER_CONN: usize = 16;

/// Handshake messages read per connection (both directions); real handshakes have about a
/// dozen. Past this, parsing stops and `ConnSummary::message_cap_hit` says so.
pub const MAX_HANDSHAKE_MESSAGES: u32 = 256;

/// A TLS 1.2 NewSessionTicket as seen on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Issued {
    pub lifetime_hint: u32,
    pub ticket: TicketRef,
    pub at: Evidence,
    /// What the weak-key trial found (`tls::weak`): a format label and an IV hash, nothing
    /// of the ticket's content.
    pub check: TicketCheck,
}

/// How the handshake ended, decided from what the server sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Full,
    /// TLS 1.2 abbreviated handshake on the client's ticket.
    ResumedTicket,
    /// TLS 1.2 abbreviated handshake on the session ID.
    ResumedSessionId,
    /// TLS 1.3 ServerHello selected PSK identity `identity`; `key_share` false = psk_ke.
    ResumedPsk {
        identity: usize,
        key_share: bool,
    },
    /// The server's answer was not seen (one-sided capture, connection cut).
    Unknown,
}

/// Everything one connection showed about resumption.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnSummary {
    pub client: SocketAddr,
    pub server: SocketAddr,
    pub offer: Option<(ClientHello, Evidence)>,
    pub sslv2_hello: Option<Evidence>,
    pub answer: Option<(ServerHello, Evidence)>,
    pub hello_retry: bool,
    /// The server sent Certificate, ServerKeyExchange or ServerHelloDone (a full TLS 1.2 flight).
    pub full_flight: bool,
    pub server_ccs: Option<Evidence>,
    pub tickets: Vec<Issued>,
    pub tickets_dropped: u32,
    pub parse_errors: u32,
    pub handshake_messages: u32,
    /// The tunnel the connection came through (part of its service's identity).
    pub tunnel: Option<Tunnel>,
    /// TCP records or QUIC CRYPTO frames (part of its service's identity).
    pub transport: Transport,
    /// The client sent early data (QUIC 0-RTT packets seen).
    pub zero_rtt_sent: Option<Evidence>,
    /// TLS 1.3 server records opened with the user's secrets (`tls::server13`).
    pub decrypted: DecryptCounts,
    /// The cleartext protocol TLS started after (STARTTLS); `None` when TLS came first.
    pub protocol: Option<Protocol>,
}

impl ConnSummary {
    pub(crate) fn new(client: SocketAddr, server: SocketAddr) -> Self {
        ConnSummary {
            client,
            server,
            offer: None,
            sslv2_hello: None,
            answer: None,
            hello_retry: false,
            full_flight: false,
            server_ccs: None,
            tickets: Vec::new(),
            tickets_dropped: 0,
            parse_errors: 0,
            tunnel: None,
            handshake_messages: 0,
            transport: Transport::Tcp,
            zero_rtt_sent: None,
            decrypted: DecryptCounts::default(),
            protocol: None,
        }
    }

    pub fn outcome(&self) -> Outcome {
        let Some((sh, _)) = &self.answer else {
            return Outcome::Unknown;
        };
        if sh.is_tls13() {
            return match sh.selected_psk {
                Some(i) => Outcome::ResumedPsk {
                    identity: i as usize,
                    key_share: sh.key_share,
                },
                None => Outcome::Full,
            };
        }
        if self.full_flight {
            return Outcome::Full;
        }
        let ch = self.offer.as_ref().map(|(ch, _)| ch);
        let ticket_offered = matches!(ch.and_then(|c| c.ticket), Some(Some(_)));
        let sid_echoed =
            ch.is_some_and(|c| !c.session_id.is_empty() && c.session_id == sh.session_id);
        if self.server_ccs.is_some() || sid_echoed {
            if ticket_offered {
                return Outcome::ResumedTicket;
            }
            if sid_echoed {
                return Outcome::ResumedSessionId;
            }
        }
        Outcome::Unknown
    }

    /// CVE-2016-9244: the server pads a short client session ID to 32 bytes with memory.
    pub fn ticketbleed(&self) -> bool {
        let (Some((ch, _)), Some((sh, _))) = (&self.offer, &self.answer) else {
            return false;
        };
        let n = ch.session_id.len();
        (1..32).contains(&n)
            && matches!(ch.ticket, Some(Some(_)))
            && sh.session_id.len() == 32
            && sh.session_id.starts_with(&ch.session_id)
    }

    /// Parsing stopped at `MAX_HANDSHAKE_MESSAGES` (the count then exceeds it by one).
    pub fn message_cap_hit(&self) -> bool {
        self.handshake_messages > MAX_HANDSHAKE_MESSAGES
    }

    /// The service address: the server side of the connection.
    pub fn tls_version(&self) -> Option<u16> {
        self.answer.as_ref().map(|(sh, _)| sh.version)
    }
}

/// Per-connection TLS state; direction 0 is the sender of the flow's first packet.
pub struct TlsConn {
    readers: [RecordReader; 2],
    st: State,
}

struct State {
    senders: [SocketAddr; 2],
    client_dir: Option<usize>,
    summary: ConnSummary,
    stop_both: bool,
    /// The server direction's decryption, when the user's secrets cover this connection.
    server13: Option<(usize, Box<Server13>)>,
}

impl TlsConn {
    pub fn new(first_sender: SocketAddr, other: SocketAddr) -> Self {
        TlsConn {
            readers: [RecordReader::new(), RecordReader::new()],
            st: State {
                senders: [first_sender, other],
                client_dir: None,
                summary: ConnSummary::new(first_sender, other),
                stop_both: false,
                server13: None,
            },
        }
    }

    /// The same connection, seen inside `tunnel`.
    pub fn in_tunnel(mut self, tunnel: Option<Tunnel>) -> Self {
        self.st.summary.tunnel = tunnel;
        self
    }

    /// The same connection, carried by `transport`.
    pub fn over(mut self, transport: Transport) -> Self {
        self.st.summary.transport = transport;
        self
    }

    /// The next bytes (or a gap) of direction `dir` (0 = the sender of the first bytes seen),
    /// as TLS records (TCP).
    pub fn push(&mut self, dir: usize, chunk: Chunk<'_>, at: Evidence) {
        let st = &mut self.st;
        self.readers[dir].push(chunk, &mut |reader, unit| st.unit(dir, reader, unit, at));
        self.after_push();
    }

    /// The next handshake-message bytes of direction `dir`, without the record layer (QUIC
    /// CRYPTO streams): read by the same message parsing as `push`.
    pub fn push_messages(&mut self, dir: usize, bytes: &[u8], at: Evidence) {
        let st = &mut self.st;
        self.readers[dir].push_messages(bytes, &mut |reader, unit| st.unit(dir, reader, unit, at));
        self.after_push();
    }

    fn after_push(&mut self) {
        if self.st.stop_both {
            let decrypting = self.st.server13.as_ref().map(|(d, _)| *d);
            for (i, r) in self.readers.iter_mut().enumerate() {
                if decrypting != Some(i) {
                    r.stop(Stop::Done);
                }
            }
        }
    }

    /// The client sent early data (a QUIC 0-RTT packet) at `at`; the first sighting is kept.
    pub fn saw_zero_rtt(&mut self, at: Evidence) {
        self.st.summary.zero_rtt_sent.get_or_insert(at);
    }

    /// No direction will yield anything more.
    pub fn is_done(&self) -> bool {
        self.readers.iter().all(|r| r.stopped().is_some())
    }

    /// A complete handshake message (or an SSLv2 hello) was read.
    pub fn progressed(&self) -> bool {
        self.st.summary.handshake_messages > 0 || self.st.summary.sslv2_hello.is_some()
    }

    /// Direction `dir` may still yield something.
    pub fn wants(&self, dir: usize) -> bool {
        self.readers[dir].stopped().is_none()
    }

    /// Neither direction looked like TLS.
    pub fn is_not_tls(&self) -> bool {
        self.st.summary.offer.is_none()
            && self.st.summary.answer.is_none()
            && self.st.summary.sslv2_hello.is_none()
            && self
                .readers
                .iter()
                .all(|r| r.stopped() == Some(Stop::NotTls))
    }

    /// Bytes both directions hold in partial records and messages.
    pub fn buffered(&self) -> usize {
        let decrypting = self.st.server13.as_ref().map_or(0, |(_, d)| d.buffered());
        self.readers
            .iter()
            .map(RecordReader::buffered)
            .sum::<usize>()
            + decrypting
    }

    /// Stops parsing both directions and frees their buffers (a resource cap was hit); what
    /// was already seen is still summarised.
    pub fn abandon(&mut self) {
        for r in &mut self.readers {
            r.stop(Stop::Cap);
        }
        self.st.end_decryption();
    }

    pub fn resyncs(&self) -> u64 {
        self.readers.iter().map(|r| r.resyncs).sum()
    }

    /// The summary, or `None` when no TLS handshake message was seen.
    pub fn finish(mut self) -> Option<ConnSummary> {
        self.st.end_decryption();
        let mut s = self.st.summary;
        if s.offer.is_none()
            && s.answer.is_none()
            && s.sslv2_hello.is_none()
            && s.tickets.is_empty()
        {
            return None;
        }
        if self.st.client_dir.is_some() {
            let c = self.st.client_dir.unwrap_or(0);
            s.client = self.st.senders[c];
            s.server = self.st.senders[1 - c];
        }
        Some(s)
    }
}

impl State {
    fn unit(&mut self, dir: usize, reader: &mut RecordReader, unit: Unit<'_>, at: Evidence) {
        match unit {
            Unit::SslV2ClientHello => {
                self.client_dir.get_or_insert(dir);
                self.summary.sslv2_hello = Some(at);
            }
            Unit::ChangeCipherSpec => {
                // Before the (real) ServerHello a ChangeCipherSpec is TLS 1.3's middlebox
                // compatibility record (e.g. after a HelloRetryRequest): nothing is encrypted yet.
                if self.summary.answer.is_none() || self.decrypts(dir) {
                    return;
                }
                if !self.is_client(dir) {
                    self.summary.server_ccs = Some(at);
                }
                reader.stop(Stop::Done);
            }
            // Encrypted from here on in this direction: nothing more to read in clear.
            Unit::ApplicationData(body) if self.decrypts(dir) => {
                if self.decrypt_record(dir, body, at) == Next::Stop {
                    self.end_decryption();
                    reader.stop(Stop::Done);
                }
            }
            Unit::ApplicationData(_) => reader.stop(Stop::Done),
            Unit::Handshake { msg_type, body } => {
                self.summary.handshake_messages += 1;
                if self.summary.handshake_messages > MAX_HANDSHAKE_MESSAGES {
                    self.stop_both = true;
                    reader.stop(Stop::Cap);
                    return;
                }
                self.handshake(dir, reader, msg_type, body, at);
            }
        }
    }

    fn is_client(&self, dir: usize) -> bool {
        self.client_dir == Some(dir)
    }

    fn handshake(
        &mut self,
        dir: usize,
        reader: &mut RecordReader,
        msg_type: u8,
        body: &[u8],
        at: Evidence,
    ) {
        // Messages only a server sends prove which side is which, also when the hellos were
        // not seen (a connection picked up at the server's NewSessionTicket).
        if self.client_dir.is_none() && is_server_message(msg_type) {
            self.client_dir = Some(1 - dir);
        }
        let from_client = self.is_client(dir);
        let s = &mut self.summary;
        match msg_type {
            hs::CLIENT_HELLO => {
                if self.client_dir.is_some_and(|c| c != dir) {
                    return;
                }
                self.client_dir = Some(dir);
                match hs::parse_client_hello(body) {
                    Ok(ch) => s.offer = Some((ch, at)),
                    Err(_) => s.parse_errors += 1,
                }
            }
            hs::SERVER_HELLO => {
                if self.client_dir == Some(dir) {
                    return;
                }
                self.client_dir = Some(1 - dir);
                match hs::parse_server_hello(body) {
                    Ok(sh) if sh.hello_retry => s.hello_retry = true,
                    Ok(sh) => {
                        if sh.is_tls13() {
                            self.stop_both = true;
                            self.server13 =
                                decryption(&self.summary, &sh).map(|d| (dir, Box::new(d)));
                            if self.server13.is_none() {
                                reader.stop(Stop::Done);
                            }
                        }
                        self.summary.answer = Some((sh, at));
                    }
                    Err(_) => {
                        s.parse_errors += 1;
                        reader.stop(Stop::Malformed);
                    }
                }
            }
            hs::CERTIFICATE | hs::SERVER_KEY_EXCHANGE | hs::SERVER_HELLO_DONE if !from_client => {
                s.full_flight = true;
            }
            hs::NEW_SESSION_TICKET if !from_client && self.server13.is_some() => {}
            hs::NEW_SESSION_TICKET if !from_client => match hs::new_session_ticket_raw(body) {
                Ok((_, [])) => {}
                Ok((hint, ticket)) if s.tickets.len() < MAX_TICKETS_PER_CONN => {
                    let sni = s.offer.as_ref().and_then(|(ch, _)| ch.sni.as_deref());
                    s.tickets.push(Issued {
                        lifetime_hint: hint,
                        ticket: TicketRef::new(ticket),
                        at,
                        check: weak::check(self.senders[dir], sni, ticket),
                    });
                }
                Ok(_) => s.tickets_dropped += 1,
                Err(_) => s.parse_errors += 1,
            },
            _ => {}
        }
    }
}

impl State {
    fn decrypts(&self, dir: usize) -> bool {
        self.server13.as_ref().is_some_and(|(d, _)| *d == dir)
    }

    fn decrypt_record(&mut self, dir: usize, body: &[u8], at: Evidence) -> Next {
        let Some((_, mut d)) = self.server13.take() else {
            return Next::Stop;
        };
        let next = d.record(body, &mut |msg_type, body| {
            if msg_type == hs::NEW_SESSION_TICKET {
                self.ticket13(dir, body, at);
            }
        });
        self.server13 = Some((dir, d));
        next
    }

    /// A TLS 1.3 NewSessionTicket read from decrypted records: the same history as TLS 1.2's.
    fn ticket13(&mut self, dir: usize, body: &[u8], at: Evidence) {
        let s = &mut self.summary;
        s.handshake_messages += 1;
        let Some(nst) = super::decrypt::parse_nst13(body) else {
            s.parse_errors += 1;
            return;
        };
        if s.tickets.len() >= MAX_TICKETS_PER_CONN {
            s.tickets_dropped += 1;
            return;
        }
        let sni = s.offer.as_ref().and_then(|(ch, _)| ch.sni.as_deref());
        s.tickets.push(Issued {
            lifetime_hint: nst.lifetime,
            ticket: TicketRef::new(nst.ticket),
            at,
            check: weak::check(self.senders[dir], sni, nst.ticket),
        });
    }

    /// Drops the decryption state, keeping its counts in the summary.
    fn end_decryption(&mut self) {
        if let Some((_, d)) = self.server13.take() {
            self.summary.decrypted = d.counts;
        }
    }
}

/// The server's records can be opened: TLS 1.3 over TCP records, with the user's handshake
/// traffic secret for this ClientHello's random.
fn decryption(s: &ConnSummary, sh: &ServerHello) -> Option<Server13> {
    if s.transport != Transport::Tcp {
        return None;
    }
    let (ch, _) = s.offer.as_ref()?;
    Server13::new(sh.cipher, &secrets::lookup(&ch.random)?)
}

/// Handshake messages only a server sends (not Certificate: clients send one too).
const CERTIFICATE_REQUEST: u8 = 13;

/// Handshake messages only a server sends (not Certificate: clients send one too).
fn is_server_message(msg_type: u8) -> bool {
    matches!(
        msg_type,
        hs::NEW_SESSION_TICKET
            | hs::SERVER_KEY_EXCHANGE
            | CERTIFICATE_REQUEST
            | hs::SERVER_HELLO_DONE
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::Timestamp;

    fn at(frame: u64) -> Evidence {
        Evidence {
            time: Timestamp::from_parts(1_800_000_000 + frame as i64, 0),
            file: 0,
            frame,
        }
    }

    fn summary(ch: ClientHello, sh: Option<ServerHello>) -> ConnSummary {
        let mut s = ConnSummary::new(
            "192.0.2.7:50000".parse().unwrap(),
            "192.0.2.1:443".parse().unwrap(),
        );
        s.offer = Some((ch, at(1)));
        s.answer = sh.map(|sh| (sh, at(2)));
        s
    }

    fn tls12(session_id: &[u8]) -> ServerHello {
        ServerHello {
            version: 0x0303,
            session_id: session_id.to_vec(),
            ..Default::default()
        }
    }

    #[test]
    fn ticketbleed_is_a_short_client_id_padded_to_32_bytes() {
        let ch = ClientHello {
            session_id: vec![0xab],
            ticket: Some(Some(TicketRef::new(&[7; 100]))),
            ..Default::default()
        };
        let mut padded = vec![0xab];
        padded.extend([0x11; 31]);
        let mut s = summary(ch.clone(), Some(tls12(&padded)));
        s.server_ccs = Some(at(3));
        assert!(s.ticketbleed());
        assert_eq!(s.outcome(), Outcome::ResumedTicket);
        // A correct server echoes the client's session ID unchanged.
        let s = summary(ch, Some(tls12(&[0xab])));
        assert!(!s.ticketbleed());
    }

    #[test]
    fn abbreviated_flight_without_ticket_is_a_session_id_resumption() {
        let ch = ClientHello {
            session_id: vec![5; 32],
            ticket: Some(None),
            ..Default::default()
        };
        let mut s = summary(ch, Some(tls12(&[5; 32])));
        s.server_ccs = Some(at(3));
        assert_eq!(s.outcome(), Outcome::ResumedSessionId);
    }

    #[test]
    fn certificate_from_the_server_makes_it_a_full_handshake_whatever_the_client_offered() {
        let ch = ClientHello {
            session_id: vec![5; 32],
            ticket: Some(Some(TicketRef::new(&[1; 80]))),
            ..Default::default()
        };
        let mut s = summary(ch, Some(tls12(&[9; 32])));
        s.full_flight = true;
        assert_eq!(s.outcome(), Outcome::Full);
    }

    #[test]
    fn tls13_psk_outcome_comes_from_the_server_selection_and_key_share() {
        let ch = ClientHello {
            session_id: vec![3; 32],
            psk_identities: vec![TicketRef::new(&[1; 90]), TicketRef::new(&[2; 90])],
            ..Default::default()
        };
        let sh = ServerHello {
            version: 0x0304,
            session_id: vec![3; 32],
            selected_psk: Some(1),
            key_share: false,
            hello_retry: false,
            ..Default::default()
        };
        assert_eq!(
            summary(ch.clone(), Some(sh)).outcome(),
            Outcome::ResumedPsk {
                identity: 1,
                key_share: false
            }
        );
        // The middlebox-compatibility echo of the session ID is not a resumption.
        let sh = ServerHello {
            version: 0x0304,
            session_id: vec![3; 32],
            selected_psk: None,
            key_share: true,
            hello_retry: false,
            ..Default::default()
        };
        assert_eq!(summary(ch.clone(), Some(sh)).outcome(), Outcome::Full);
        // Without the server's answer nothing is decided.
        assert_eq!(summary(ch, None).outcome(), Outcome::Unknown);
    }

    #[test]
    fn thousands_of_handshake_messages_stop_at_the_cap() {
        let mut tls = TlsConn::new(
            "192.0.2.7:50000".parse().unwrap(),
            "192.0.2.1:443".parse().unwrap(),
        );
        // 5000 HelloRequests (type 0, empty) in records of 4000 bytes.
        let msgs = [0u8, 0, 0, 0].repeat(5000);
        for chunk in msgs.chunks(4000) {
            let mut rec = vec![22, 3, 3, (chunk.len() >> 8) as u8, chunk.len() as u8];
            rec.extend_from_slice(chunk);
            tls.push(0, Chunk::Data(&rec), at(1));
        }
        assert!(tls.is_done());
        assert_eq!(tls.buffered(), 0);
        // A ClientHello is needed for a summary: none here, so look at the count directly.
        assert_eq!(
            tls.st.summary.handshake_messages,
            MAX_HANDSHAKE_MESSAGES + 1
        );
        assert!(tls.st.summary.message_cap_hit());
    }
}
