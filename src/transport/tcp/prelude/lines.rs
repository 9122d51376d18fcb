//! Line-based preludes: SMTP and FTP (three-digit reply codes, `NNN-` continuation lines),
//! NNTP (three-digit codes), IMAP (tagged answers), POP3 (`+OK`/`-ERR`) and ManageSieve
//! (`OK`/`NO`/`BYE`), and HTTP `CONNECT` through a proxy (the request's headers, then the
//! proxy's `2xx` status and headers). The client's switch command and the server's answer to exactly that
//! command: replies are counted against the commands sent before it (pipelining), IMAP's by tag.

use super::Step;
use crate::chunk::Protocol;

/// A line longer than this is read as one unit that means nothing (no command is this long).
const MAX_LINE: usize = 2048;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// `220` greeting: SMTP (STARTTLS → 220) or FTP (AUTH TLS → 234), told apart by the command.
    Codes,
    /// `200`/`201` greeting, STARTTLS → 382.
    Nntp,
    Imap,
    Pop3,
    Sieve,
    /// The client's `CONNECT` request; TLS after the proxy's `2xx` answer and its headers.
    Connect,
}

/// What answers the switch command.
#[derive(Debug)]
enum Accept {
    Code([u8; 3]),
    PlusOk,
    Ok,
    Tag(Vec<u8>),
}

#[derive(Debug)]
struct Pending {
    /// Final replies still owed to commands sent before the switch command.
    skip: u32,
    accept: Accept,
}

#[derive(Debug)]
pub struct Lines {
    kind: Kind,
    greeted: bool,
    /// Final replies owed to the client's commands.
    owed: u32,
    pending: Option<Pending>,
    /// The code of a multi-line reply in progress (`NNN-`).
    multi: Option<[u8; 3]>,
    /// HTTP: the client is in its request's headers.
    headers: bool,
    /// HTTP: the proxy's status line was read (`true`: 2xx); its headers follow.
    status: Option<bool>,
}

impl Lines {
    /// A server greeting of a known line protocol.
    pub fn recognise(b: &[u8]) -> Option<Self> {
        let kind = if b.starts_with(b"220") {
            Kind::Codes
        } else if b.starts_with(b"200 ") || b.starts_with(b"201 ") {
            Kind::Nntp
        } else if starts_with_ci(b, b"* OK") || starts_with_ci(b, b"* PREAUTH") {
            Kind::Imap
        } else if starts_with_ci(b, b"+OK") {
            Kind::Pop3
        } else if b.starts_with(b"\"") {
            Kind::Sieve
        } else {
            return None;
        };
        Some(Self::of(kind))
    }

    /// A client's first line of a known line protocol that the client opens (HTTP CONNECT).
    pub fn recognise_client(b: &[u8]) -> Option<Self> {
        starts_with_ci(b, b"CONNECT ").then(|| Self::of(Kind::Connect))
    }

    fn of(kind: Kind) -> Self {
        Lines {
            kind,
            greeted: false,
            owed: 0,
            pending: None,
            multi: None,
            headers: false,
            status: None,
        }
    }

    pub fn step(&mut self, from_client: bool, buf: &[u8]) -> Step {
        let Some(end) = buf.iter().position(|&c| c == b'\n') else {
            return if buf.len() > MAX_LINE {
                Step::Take(buf.len())
            } else {
                Step::Need
            };
        };
        let n = end + 1;
        let line = trim_eol(&buf[..end]);
        if self.kind == Kind::Connect {
            return self.connect(from_client, line, n);
        }
        if from_client {
            self.command(line, n)
        } else {
            self.reply(line, n)
        }
    }

    fn command(&mut self, line: &[u8], n: usize) -> Step {
        let (proto, accept) = match (self.kind, self.switch_command(line)) {
            (_, None) => {
                self.owed = self.owed.saturating_add(1);
                return Step::Take(n);
            }
            (_, Some(found)) => found,
        };
        self.pending = Some(Pending {
            skip: self.owed,
            accept,
        });
        self.owed = 0;
        Step::Ask(n, proto)
    }

    /// The protocol and expected answer if `line` asks to start TLS.
    fn switch_command(&self, line: &[u8]) -> Option<(Protocol, Accept)> {
        let mut words = line.split(|&c| c == b' ').filter(|w| !w.is_empty());
        let first = words.next()?;
        let second = words.next();
        let alone = second.is_none();
        match self.kind {
            Kind::Codes if alone && eq_ci(first, b"STARTTLS") => {
                Some((Protocol::Smtp, Accept::Code(*b"220")))
            }
            Kind::Codes
                if eq_ci(first, b"AUTH")
                    && second.is_some_and(|w| {
                        ["TLS", "SSL", "TLS-C"]
                            .iter()
                            .any(|m| eq_ci(w, m.as_bytes()))
                    }) =>
            {
                Some((Protocol::Ftp, Accept::Code(*b"234")))
            }
            Kind::Nntp if alone && eq_ci(first, b"STARTTLS") => {
                Some((Protocol::Nntp, Accept::Code(*b"382")))
            }
            Kind::Pop3 if alone && eq_ci(first, b"STLS") => Some((Protocol::Pop3, Accept::PlusOk)),
            Kind::Sieve if alone && eq_ci(first, b"STARTTLS") => {
                Some((Protocol::Sieve, Accept::Ok))
            }
            Kind::Imap
                if second.is_some_and(|w| eq_ci(w, b"STARTTLS")) && words.next().is_none() =>
            {
                Some((Protocol::Imap, Accept::Tag(first.to_vec())))
            }
            _ => None,
        }
    }

    fn reply(&mut self, line: &[u8], n: usize) -> Step {
        if self.kind == Kind::Imap {
            return self.imap_reply(line, n);
        }
        let Some(ok) = self.final_reply(line) else {
            return Step::Take(n);
        };
        if !self.greeted {
            self.greeted = true;
            return Step::Take(n);
        }
        let Some(p) = self.pending.as_mut() else {
            self.owed = self.owed.saturating_sub(1);
            return Step::Take(n);
        };
        if p.skip > 0 {
            p.skip -= 1;
            return Step::Take(n);
        }
        let accepted = match &p.accept {
            Accept::Code(code) => line.starts_with(code),
            Accept::PlusOk | Accept::Ok => ok,
            Accept::Tag(_) => false,
        };
        self.pending = None;
        if accepted {
            Step::Accept(n)
        } else {
            Step::Refuse(n)
        }
    }

    /// HTTP CONNECT: the request's blank line asks, the proxy's blank line after a `2xx`
    /// status accepts (any other status refuses).
    fn connect(&mut self, from_client: bool, line: &[u8], n: usize) -> Step {
        if from_client {
            if !self.headers {
                self.headers = starts_with_ci(line, b"CONNECT ");
                return Step::Take(n);
            }
            if !line.is_empty() {
                return Step::Take(n);
            }
            self.headers = false;
            self.pending = Some(Pending {
                skip: 0,
                accept: Accept::Ok,
            });
            return Step::Ask(n, Protocol::Http);
        }
        match self.status {
            None => {
                if line.starts_with(b"HTTP/1.") {
                    self.status = Some(line.get(9) == Some(&b'2'));
                }
                Step::Take(n)
            }
            Some(ok) if line.is_empty() => {
                self.status = None;
                match self.pending.take() {
                    Some(_) if ok => Step::Accept(n),
                    Some(_) => Step::Refuse(n),
                    None => Step::Take(n),
                }
            }
            Some(_) => Step::Take(n),
        }
    }

    /// IMAP: only the tagged answer to the STARTTLS command decides.
    fn imap_reply(&mut self, line: &[u8], n: usize) -> Step {
        let Some(Pending {
            accept: Accept::Tag(tag),
            ..
        }) = &self.pending
        else {
            return Step::Take(n);
        };
        let mut words = line.split(|&c| c == b' ');
        if words.next() != Some(tag.as_slice()) {
            return Step::Take(n);
        }
        let ok = words.next().is_some_and(|w| eq_ci(w, b"OK"));
        self.pending = None;
        if ok {
            Step::Accept(n)
        } else {
            Step::Refuse(n)
        }
    }

    /// `Some(positive)` if `line` ends a reply; continuation and data lines are `None`.
    fn final_reply(&mut self, line: &[u8]) -> Option<bool> {
        match self.kind {
            Kind::Codes | Kind::Nntp => {
                let code: [u8; 3] = line.get(..3)?.try_into().ok()?;
                if let Some(m) = self.multi {
                    // Inside a multi-line reply only its code followed by a space ends it
                    // (FTP allows free text lines in between).
                    if code == m && matches!(line.get(3), None | Some(b' ')) {
                        self.multi = None;
                        return Some(code[0] == b'2' || code[0] == b'3');
                    }
                    return None;
                }
                if !code.iter().all(u8::is_ascii_digit) {
                    return None;
                }
                match line.get(3) {
                    Some(b'-') => {
                        self.multi = Some(code);
                        None
                    }
                    None | Some(b' ') => Some(code[0] == b'2' || code[0] == b'3'),
                    _ => None,
                }
            }
            Kind::Pop3 => {
                if starts_with_ci(line, b"+OK") {
                    Some(true)
                } else if starts_with_ci(line, b"-ERR") {
                    Some(false)
                } else {
                    None
                }
            }
            Kind::Sieve => {
                let word = line.split(|&c| c == b' ' || c == b'(').next()?;
                if eq_ci(word, b"OK") {
                    Some(true)
                } else if eq_ci(word, b"NO") || eq_ci(word, b"BYE") {
                    Some(false)
                } else {
                    None
                }
            }
            Kind::Imap | Kind::Connect => None,
        }
    }
}

fn trim_eol(mut b: &[u8]) -> &[u8] {
    while let [rest @ .., b'\r' | b'\n'] = b {
        b = rest;
    }
    b
}

fn eq_ci(a: &[u8], b: &[u8]) -> bool {
    a.eq_ignore_ascii_case(b)
}

fn starts_with_ci(a: &[u8], prefix: &[u8]) -> bool {
    a.len() >= prefix.len() && a[..prefix.len()].eq_ignore_ascii_case(prefix)
}
