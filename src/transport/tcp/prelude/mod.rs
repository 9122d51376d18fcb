//! TLS after a cleartext prelude: STARTTLS in SMTP, IMAP, POP3 (STLS), FTP (AUTH TLS), NNTP,
//! ManageSieve and XMPP, HTTP CONNECT through a proxy, LDAP's StartTLS extended operation, PostgreSQL's SSLRequest, and a
//! generic fallback that finds a ClientHello record after any cleartext. `Prelude` reads both
//! directions' cleartext until the protocol switches to TLS and then hands every later byte on
//! unchanged, so the TLS stage reads them exactly as it reads a connection that began with TLS.
//!
//! Invariants:
//! - The switch needs the *server's* acceptance (SMTP `220` to STARTTLS, IMAP tagged `OK`,
//!   POP3 `+OK`, FTP `234`, NNTP `382`, Sieve `OK`, a proxy's `2xx` to CONNECT, XMPP `<proceed/>`, LDAP extendedResp with
//!   resultCode 0, PostgreSQL `S`; in the generic fallback a ServerHello record). What the
//!   client sends after its request is held until then; a refusal makes it cleartext again, so
//!   a client alone can never make later bytes count as TLS.
//! - At most `MAX_PRELUDE_BYTES` per direction are read as cleartext or held; past that, or at a
//!   gap before the switch, reading ends and the reason is kept (`Skip`) for the run's counters.
//! - Bytes are copied only while in the prelude (at most the cap); after the switch chunks pass
//!   through without copies.

mod binary;
mod lines;
#[cfg(test)]
mod tests;

use crate::chunk::{Chunk, Protocol};
use crate::evidence::Evidence;

/// Cleartext (read or held) accepted per direction before TLS must have started. Real
/// preludes are well under 4 KiB (an SMTP greeting and EHLO answer, an IMAP capability list);
/// 16 KiB leaves room for long banners while keeping a non-TLS connection's cost small.
pub const MAX_PRELUDE_BYTES: usize = 16 * 1024;

/// Why a connection with a prelude ended without TLS.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Skip {
    /// More cleartext than `MAX_PRELUDE_BYTES` in a direction.
    OverCap,
    /// The server refused the switch (e.g. SMTP `454`, PostgreSQL `N`).
    Refused,
    /// The client asked for TLS (or sent a ClientHello) and the server never accepted.
    Unanswered,
    /// A known protocol that stayed in cleartext.
    NoTls,
    /// Bytes were lost before the switch: the dialog cannot be followed.
    Gap,
}

/// What a dialog makes of the bytes at the start of a direction's unread cleartext.
#[derive(Debug, PartialEq, Eq)]
enum Step {
    /// More bytes are needed to tell.
    Need,
    /// A unit of this many bytes was read; nothing follows from it.
    Take(usize),
    /// The client's request to start TLS (this many bytes); what follows waits for the server.
    Ask(usize, Protocol),
    /// The server's acceptance (this many bytes): TLS follows in both directions.
    Accept(usize),
    /// The server's refusal (this many bytes): the client's held bytes are cleartext again.
    Refuse(usize),
    /// No TLS can follow in this connection.
    Clear,
    /// The bytes do not fit the dialog: read on with the generic fallback (before any unit
    /// was read), or give up.
    Unknown,
}

/// The dialog of one recognised protocol (or the fallback).
enum Dialog {
    /// No data yet: the first bytes decide.
    Unrecognised,
    Lines(lines::Lines),
    Ldap(binary::Ldap),
    Postgres(binary::Postgres),
    Xmpp(binary::Xmpp),
    Generic,
}

impl Dialog {
    fn step(&mut self, from_client: bool, waiting: bool, buf: &[u8]) -> Step {
        match self {
            Dialog::Unrecognised => Step::Need,
            Dialog::Lines(l) => l.step(from_client, buf),
            Dialog::Ldap(l) => l.step(from_client, buf),
            Dialog::Postgres(p) => p.step(from_client, buf),
            Dialog::Xmpp(x) => x.step(from_client, buf),
            Dialog::Generic => binary::generic_step(from_client, waiting, buf),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Scanning,
    /// The client asked for `Protocol`; its later bytes are held.
    Waiting(Protocol),
    /// TLS from here on in both directions.
    Tls(Protocol),
    /// Reading ended without TLS.
    Ended(Skip),
}

#[derive(Default)]
struct Side {
    /// Unread cleartext, or (the client's, while waiting) bytes held for the server's answer.
    buf: Vec<u8>,
    /// Cleartext bytes read and dropped.
    read: usize,
    /// Where the first held byte was seen.
    held_at: Option<Evidence>,
}

/// One connection's prelude; direction 0 is the sender of the first bytes seen.
pub struct Prelude {
    dialog: Dialog,
    /// The direction of the client, once known.
    client: Option<usize>,
    sides: [Side; 2],
    state: State,
    refused: bool,
    /// Units the dialog has read.
    units: u32,
}

impl Default for Prelude {
    fn default() -> Self {
        Self::new()
    }
}

impl Prelude {
    pub fn new() -> Self {
        Prelude {
            dialog: Dialog::Unrecognised,
            client: None,
            sides: [Side::default(), Side::default()],
            state: State::Scanning,
            refused: false,
            units: 0,
        }
    }

    /// Takes bytes (or a gap) of direction `dir` seen at `at`; calls `tls` with every byte
    /// that is TLS, in stream order per direction (held bytes with where they were seen).
    pub fn push(
        &mut self,
        dir: usize,
        chunk: Chunk<'_>,
        at: Evidence,
        tls: &mut impl FnMut(usize, Chunk<'_>, Evidence),
    ) {
        match (self.state, chunk) {
            (State::Tls(_), chunk) => tls(dir, chunk, at),
            (State::Ended(_), _) => {}
            (_, Chunk::Gap(_)) => self.end(Skip::Gap),
            (_, Chunk::Data(bytes)) => {
                let side = &mut self.sides[dir];
                if side.read + side.buf.len() + bytes.len() > MAX_PRELUDE_BYTES {
                    self.end(Skip::OverCap);
                    return;
                }
                if side.buf.is_empty() {
                    side.held_at = Some(at);
                }
                side.buf.extend_from_slice(bytes);
                self.scan(dir, at, tls);
            }
        }
    }

    /// Reads the units of direction `dir`'s unread cleartext.
    fn scan(&mut self, dir: usize, at: Evidence, tls: &mut impl FnMut(usize, Chunk<'_>, Evidence)) {
        if let Dialog::Unrecognised = self.dialog {
            match recognise(&self.sides[dir].buf) {
                None => return,
                Some((dialog, sender_is_client)) => {
                    self.dialog = dialog;
                    if let Some(c) = sender_is_client {
                        self.client = Some(if c { dir } else { 1 - dir });
                    }
                }
            }
        }
        loop {
            let waiting = matches!(self.state, State::Waiting(_));
            let from_client = self.client == Some(dir);
            if waiting && from_client || !matches!(self.state, State::Scanning | State::Waiting(_))
            {
                return;
            }
            let step = self.dialog.step(from_client, waiting, &self.sides[dir].buf);
            if !matches!(step, Step::Need | Step::Unknown) {
                self.units += 1;
            }
            match step {
                Step::Need => return,
                Step::Take(n) => self.consume(dir, n),
                Step::Ask(n, p) if !waiting => {
                    self.consume(dir, n);
                    self.client = Some(dir);
                    self.state = State::Waiting(p);
                    self.sides[dir].held_at = Some(at);
                }
                Step::Accept(n) if waiting && !from_client => {
                    self.consume(dir, n);
                    self.accept(dir, at, tls);
                }
                Step::Refuse(n) if waiting && !from_client => {
                    self.consume(dir, n);
                    self.refused = true;
                    self.state = State::Scanning;
                    if let Some(c) = self.client {
                        self.scan(c, at, tls);
                    }
                }
                Step::Ask(n, _) | Step::Accept(n) | Step::Refuse(n) => self.consume(dir, n),
                Step::Clear => self.end(Skip::NoTls),
                // A protocol that broke its own format after its first units is not followed
                // further; one misrecognised from its first bytes is read as the fallback.
                Step::Unknown if self.units > 0 => self.end(Skip::NoTls),
                Step::Unknown => self.dialog = Dialog::Generic,
            }
        }
    }

    /// The server (direction `server`) accepted: the client's held bytes, then the server's
    /// unread ones, are TLS.
    fn accept(
        &mut self,
        server: usize,
        at: Evidence,
        tls: &mut impl FnMut(usize, Chunk<'_>, Evidence),
    ) {
        let State::Waiting(p) = self.state else {
            return;
        };
        self.state = State::Tls(p);
        let client = 1 - server;
        let held = std::mem::take(&mut self.sides[client].buf);
        if !held.is_empty() {
            let held_at = self.sides[client].held_at.unwrap_or(at);
            tls(client, Chunk::Data(&held), held_at);
        }
        let rest = std::mem::take(&mut self.sides[server].buf);
        if !rest.is_empty() {
            tls(server, Chunk::Data(&rest), at);
        }
    }

    fn consume(&mut self, dir: usize, n: usize) {
        let side = &mut self.sides[dir];
        let n = n.min(side.buf.len());
        side.buf.drain(..n);
        side.read += n;
    }

    /// Reading ends without TLS; buffers are freed.
    fn end(&mut self, why: Skip) {
        self.state = State::Ended(why);
        self.sides = [Side::default(), Side::default()];
    }

    /// The protocol TLS started after, once the server accepted.
    pub fn protocol(&self) -> Option<Protocol> {
        match self.state {
            State::Tls(p) => Some(p),
            _ => None,
        }
    }

    /// Whether the prelude still reads (before the switch, and not given up).
    pub fn reading(&self) -> bool {
        matches!(self.state, State::Scanning | State::Waiting(_))
    }

    /// A known protocol's dialog was recognised (its first unit read): progress worth keeping.
    pub fn recognised(&self) -> bool {
        !matches!(self.dialog, Dialog::Unrecognised | Dialog::Generic)
    }

    /// Bytes held in the prelude's buffers (charged to the shared budget).
    pub fn held(&self) -> usize {
        self.sides.iter().map(|s| s.buf.capacity()).sum()
    }

    /// A resource cap was hit: stop reading, free what is held.
    pub fn abandon(&mut self) {
        if self.reading() {
            self.end(Skip::OverCap);
        }
    }

    /// Why the connection ended without TLS: `None` once TLS started, and for a connection
    /// of no known protocol in which nothing looked like TLS (simply not TLS).
    pub fn skip(&self) -> Option<Skip> {
        let why = match self.state {
            State::Tls(_) => return None,
            State::Ended(why) => why,
            State::Waiting(_) => Skip::Unanswered,
            State::Scanning => Skip::NoTls,
        };
        if self.refused {
            return Some(Skip::Refused);
        }
        if why == Skip::NoTls && !self.recognised() {
            return None;
        }
        Some(why)
    }
}

/// Recognises a protocol from the first bytes of the first direction that sent any: the
/// dialog, and whether that sender is the client (`None`: not known yet). `None` while too
/// few bytes are there to tell.
fn recognise(b: &[u8]) -> Option<(Dialog, Option<bool>)> {
    if b.len() < 8 && !b.contains(&b'\n') {
        return None;
    }
    if let Some(pg) = binary::Postgres::recognise(b) {
        return Some((Dialog::Postgres(pg), Some(true)));
    }
    if binary::Ldap::recognise(b) {
        return Some((Dialog::Ldap(binary::Ldap::default()), Some(true)));
    }
    if binary::Xmpp::recognise(b) {
        return Some((Dialog::Xmpp(binary::Xmpp::default()), Some(true)));
    }
    if let Some(l) = lines::Lines::recognise(b) {
        return Some((Dialog::Lines(l), Some(false)));
    }
    if let Some(l) = lines::Lines::recognise_client(b) {
        return Some((Dialog::Lines(l), Some(true)));
    }
    Some((Dialog::Generic, None))
}
