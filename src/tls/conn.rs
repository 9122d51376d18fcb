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
use super::server13::{Next, Server13};
use super::ticket::TicketRef;
use super::weak::{self, TicketCheck};
use crate::chunk::{Chunk, Protocol, Transport};
use crate::decode::Tunnel;
use crate::evidence::Evidence;
use crate::secrets;
use crate::secrets::DecryptCounts;

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
    /// TLS 1.3 server records opened with the user's secrets (`tls::server13`), or QUIC
    /// packets (`transport::quic::protected`).
    pub decrypted: DecryptCounts,
    /// The user's secrets covered this connection (its ClientHello's random).
    pub secrets_found: bool,
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
            secrets_found: false,
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
    /// QUIC with the user's secrets: until the transport has ended decryption.
    quic13: Option<Box<Quic13>>,
}

/// A QUIC connection's secrets until the transport takes them, and the reader of the
/// handshake messages in the server's 1-RTT CRYPTO stream (its NewSessionTickets).
struct Quic13 {
    secrets: Option<secrets::QuicSecrets>,
    messages: RecordReader,
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
                quic13: None,
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

    /// No direction will yield anything more (and QUIC decryption, if any, has ended).
    pub fn is_done(&self) -> bool {
        self.readers.iter().all(|r| r.stopped().is_some()) && self.st.quic13.is_none()
    }

    /// QUIC: the user's secrets for this connection, once its TLS 1.3 ServerHello has been
    /// read; handed over once, to the transport that opens the server's packets.
    pub fn quic_secrets(&mut self) -> Option<secrets::QuicSecrets> {
        self.st.quic13.as_mut()?.secrets.take()
    }

    /// QUIC: the next bytes of the server's 1-RTT CRYPTO stream, opened with the secrets:
    /// read by the same message parsing, NewSessionTickets kept as TCP's are.
    pub fn push_quic_protected(&mut self, bytes: &[u8], at: Evidence) {
        let Some(mut q) = self.st.quic13.take() else {
            return;
        };
        let dir = 1 - self.st.client_dir.unwrap_or(0);
        let st = &mut self.st;
        q.messages.push_messages(bytes, &mut |_, unit| {
            if let Unit::Handshake { msg_type, body } = unit {
                if msg_type == hs::NEW_SESSION_TICKET {
                    st.ticket13(dir, body, at);
                }
            }
        });
        self.st.quic13 = Some(q);
    }

    /// QUIC: decryption of the server's packets is over, having counted `counts`.
    pub fn end_quic_decryption(&mut self, counts: DecryptCounts) {
        self.st.quic13 = None;
        self.st.summary.decrypted = counts;
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
        let decrypting = self.st.server13.as_ref().map_or(0, |(_, d)| d.buffered())
            + self.st.quic13.as_ref().map_or(0, |q| q.messages.buffered());
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
        self.st.quic13 = None;
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
                            self.with_secrets(dir, &sh);
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
    /// At a TLS 1.3 ServerHello: the user's secrets for this connection, if any, set up the
    /// server direction's decryption (TCP records here, QUIC packets by the transport).
    fn with_secrets(&mut self, dir: usize, sh: &ServerHello) {
        let Some((ch, _)) = self.summary.offer.as_ref() else {
            return;
        };
        let Some(found) = secrets::lookup(&ch.random) else {
            return;
        };
        self.summary.secrets_found = true;
        match self.summary.transport {
            Transport::Tcp => {
                self.server13 = Server13::new(sh.cipher, &found).map(|d| (dir, Box::new(d)));
            }
            Transport::Quic => {
                self.quic13 = Some(Box::new(Quic13 {
                    secrets: Some(secrets::QuicSecrets {
                        cipher: sh.cipher,
                        secrets: found,
                    }),
                    messages: RecordReader::new(),
                }));
            }
        }
    }

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
        let Some(nst) = super::server13::parse_nst13(body) else {
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
#[path = "conn_tests.rs"]
mod tests;
