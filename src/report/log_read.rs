//! `report --from-log`: per-connection logs (`report::log`) of any number of sensors back
//! into one `History`. Each `tls` line becomes the `ConnRecord` it was written from and goes
//! through `Tracker::observe_record`, the same call a capture's connections take; `stats`
//! lines add their counters, span and inputs. Aggregates are order-free, so the history
//! equals `merge` of the sensors' states, whatever order lines and files come in.
//!
//! Hostile or foreign input is expected (a log pipeline mixes sources): lines of another
//! `event_type` are counted as foreign and skipped; lines that are not JSON, too long
//! (`MAX_LINE`), or whose fields are out of range are counted as skipped
//! (`Stats::skipped_log_lines`) with the first few named in warnings. Nothing is trusted
//! beyond the caps the tracker already applies.

use std::collections::HashMap;
use std::io::{self, BufRead};
use std::net::{IpAddr, SocketAddr};

use super::log::{AtLine, ConnLine, IssuedLine, MarkLine, StatsLine, STATS_EVENT, TLS_EVENT};
use crate::chunk::{Protocol, Transport};
use crate::evidence::Evidence;
use crate::time::Timestamp;
use crate::tls::conn::{Outcome, MAX_TICKETS_PER_CONN};
use crate::tls::weak::{TicketCheck, WeakFormat};
use crate::tracker::record::IssuedMark;
use crate::tracker::{ConnRecord, History, TicketMark};

/// Longest line read; longer ones are skipped (a record is well under 8 KiB).
pub const MAX_LINE: usize = 1 << 20;
/// Most PSK identities taken from one record (a ClientHello holds a handful).
pub const MAX_PSK_IDENTITIES: usize = 64;
/// Distinct input names taken from logs; a line naming more is skipped.
pub const MAX_INPUT_NAMES: usize = 65_536;
/// Longest input name and server name taken.
pub const MAX_NAME_LEN: usize = 4096;
/// Skipped lines named in warnings, per run.
const NAMED_SKIPS: usize = 5;

/// What reading logs found besides the history.
#[derive(Debug, Default)]
pub struct LogReading {
    pub records: u64,
    pub stats_lines: u64,
    pub foreign_lines: u64,
    pub warnings: Vec<String>,
}

/// Adds logs to one history: the files list grows by name as records name inputs.
pub struct LogReader {
    pub history: History,
    names: HashMap<String, u32>,
    pub reading: LogReading,
}

impl LogReader {
    pub fn new(history: History) -> Self {
        let names = history
            .files
            .iter()
            .enumerate()
            .map(|(i, n)| (n.clone(), i as u32))
            .collect();
        LogReader {
            history,
            names,
            reading: LogReading::default(),
        }
    }

    /// Checks that the input names a line uses fit the caps, before anything of it is taken.
    fn room_for<'n>(&self, names: impl Iterator<Item = &'n str>) -> Result<(), String> {
        let mut new = std::collections::BTreeSet::new();
        for n in names {
            if n.len() > MAX_NAME_LEN {
                return Err(format!("an input name longer than {MAX_NAME_LEN} bytes"));
            }
            if !self.names.contains_key(n) {
                new.insert(n);
            }
        }
        if self.names.len() + new.len() > MAX_INPUT_NAMES {
            return Err(format!("more than {MAX_INPUT_NAMES} input names"));
        }
        Ok(())
    }

    /// The index of input `name` (added; `room_for` checked the caps).
    fn file(&mut self, name: &str) -> u32 {
        if let Some(&i) = self.names.get(name) {
            return i;
        }
        let i = self.history.files.len() as u32;
        self.history.files.push(name.to_string());
        self.names.insert(name.to_string(), i);
        i
    }

    /// Reads one log (`name` for messages).
    pub fn read(&mut self, name: &str, input: &mut dyn BufRead) -> io::Result<()> {
        let mut buf = Vec::new();
        let mut line_no = 0u64;
        loop {
            buf.clear();
            let (n, too_long) = read_capped_line(input, &mut buf)?;
            if n == 0 {
                return Ok(());
            }
            line_no += 1;
            let text = String::from_utf8_lossy(&buf);
            let text = text.trim();
            if text.is_empty() {
                continue;
            }
            let result = if too_long {
                Err(format!("longer than {MAX_LINE} bytes"))
            } else {
                self.line(text)
            };
            if let Err(why) = result {
                let skipped = &mut self.history.stats.skipped_log_lines;
                *skipped += 1;
                if *skipped <= NAMED_SKIPS as u64 {
                    self.reading
                        .warnings
                        .push(format!("{name}: line {line_no} skipped: {why}"));
                }
            }
        }
    }

    fn line(&mut self, text: &str) -> Result<(), String> {
        #[derive(serde::Deserialize)]
        struct Kind {
            event_type: Option<String>,
        }
        let kind: Kind = serde_json::from_str(text).map_err(|e| format!("not JSON ({e})"))?;
        match kind.event_type.as_deref() {
            Some(TLS_EVENT) => {
                let line: ConnLine =
                    serde_json::from_str(text).map_err(|e| format!("not a record ({e})"))?;
                let rec = self.record(&line)?;
                self.history.tracker.observe_record(&rec);
                self.reading.records += 1;
                Ok(())
            }
            Some(STATS_EVENT) => {
                let line: StatsLine =
                    serde_json::from_str(text).map_err(|e| format!("not a stats line ({e})"))?;
                self.room_for(line.inputs.iter().map(String::as_str))?;
                self.stats(line);
                Ok(())
            }
            // Another tool's event in the same stream.
            _ => {
                self.reading.foreign_lines += 1;
                Ok(())
            }
        }
    }

    fn stats(&mut self, s: StatsLine) {
        for name in &s.inputs {
            self.file(name);
        }
        let h = &mut self.history;
        h.stats.merge(&s.stats);
        for t in [s.start_ns, s.end_ns].into_iter().flatten() {
            h.saw(Timestamp(t));
        }
        self.reading.stats_lines += 1;
    }

    fn at(&mut self, a: &AtLine) -> Evidence {
        Evidence {
            time: Timestamp(a.time_ns),
            file: self.file(&a.file),
            frame: a.frame,
        }
    }

    fn record(&mut self, l: &ConnLine) -> Result<ConnRecord, String> {
        let addr = |ip: &str, port: u16| -> Result<SocketAddr, String> {
            let ip: IpAddr = ip.parse().map_err(|_| format!("bad address '{ip}'"))?;
            Ok(SocketAddr::new(ip, port))
        };
        let outcome = match l.resumption.as_str() {
            "full" => Outcome::Full,
            "ticket" => Outcome::ResumedTicket,
            "session-id" => Outcome::ResumedSessionId,
            "psk" => Outcome::ResumedPsk {
                identity: l.psk_selected.ok_or("psk without psk_selected")?,
                key_share: l.psk_key_share.ok_or("psk without psk_key_share")?,
            },
            "unknown" => Outcome::Unknown,
            other => return Err(format!("unknown resumption '{other}'")),
        };
        if l.psk_identities.len() > MAX_PSK_IDENTITIES {
            return Err(format!(
                "{} PSK identities (at most {MAX_PSK_IDENTITIES})",
                l.psk_identities.len()
            ));
        }
        if l.tickets_issued.len() > MAX_TICKETS_PER_CONN {
            return Err(format!(
                "{} tickets issued (at most {MAX_TICKETS_PER_CONN})",
                l.tickets_issued.len()
            ));
        }
        if l.sni.as_ref().is_some_and(|s| s.len() > MAX_NAME_LEN) {
            return Err(format!("a server name longer than {MAX_NAME_LEN} bytes"));
        }
        let ats = [&l.client_hello, &l.server_hello, &l.sslv2_hello];
        self.room_for(
            ats.iter()
                .filter_map(|a| a.as_ref())
                .chain(l.tickets_issued.iter().map(|i| &i.at))
                .map(|a| a.file.as_str()),
        )?;
        let transport = Transport::from_label(&l.transport)
            .ok_or_else(|| format!("unknown transport '{}'", l.transport))?;
        let protocol = l
            .protocol
            .as_deref()
            .map(|p| Protocol::from_label(p).ok_or_else(|| format!("unknown protocol '{p}'")))
            .transpose()?;
        let psk_identities = l
            .psk_identities
            .iter()
            .map(mark)
            .collect::<Result<_, _>>()?;
        let ticket_offered = l.ticket.as_ref().map(mark).transpose()?;
        let (client, server) = (addr(&l.src_ip, l.src_port)?, addr(&l.dest_ip, l.dest_port)?);
        let session_id = l.session_id_hash.as_deref().map(hash).transpose()?;
        let mut issued = Vec::with_capacity(l.tickets_issued.len());
        for i in &l.tickets_issued {
            issued.push(issued_mark(i)?);
        }
        // Everything checked: only now are input names taken (a skipped line adds none).
        for (m, i) in issued.iter_mut().zip(&l.tickets_issued) {
            m.at = self.at(&i.at);
        }
        Ok(ConnRecord {
            client,
            server,
            transport,
            tunnel: l.tunnel,
            sni: l.sni.clone(),
            version: l.version_id,
            outcome,
            offered_at: l.client_hello.as_ref().map(|a| self.at(a)),
            answered_at: l.server_hello.as_ref().map(|a| self.at(a)),
            sslv2_at: l.sslv2_hello.as_ref().map(|a| self.at(a)),
            ticket_offered,
            psk_identities,
            early_data: l.early_data,
            zero_rtt_sent: l.zero_rtt_sent,
            issued,
            session_id,
            ticketbleed: l.ticketbleed,
            protocol,
        })
    }
}

/// A NewSessionTicket of a line, its evidence left to fill in.
fn issued_mark(i: &IssuedLine) -> Result<IssuedMark, String> {
    let weak = match i.weak.as_deref() {
        Some(w) => {
            Some(WeakFormat::from_label(w).ok_or_else(|| format!("unknown weak format '{w}'"))?)
        }
        None => None,
    };
    Ok(IssuedMark {
        ticket: TicketMark::new(&key_name(&i.key_name)?, hash(&i.hash)?).with_len(i.len),
        lifetime_hint: i.lifetime,
        at: Evidence::default(),
        check: TicketCheck {
            weak,
            iv_hash: i.iv_hash.as_deref().map(hash).transpose()?,
        },
    })
}

fn mark(m: &MarkLine) -> Result<TicketMark, String> {
    Ok(TicketMark::new(&key_name(&m.key_name)?, hash(&m.hash)?).with_len(m.len))
}

/// Hex of at most 16 bytes.
fn key_name(s: &str) -> Result<Vec<u8>, String> {
    if s.len() > 32 || s.len() % 2 != 0 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!(
            "bad key name '{}'",
            s.chars().take(40).collect::<String>()
        ));
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).map_err(|e| e.to_string()))
        .collect()
}

/// 16 hex digits.
fn hash(s: &str) -> Result<u64, String> {
    if s.len() != 16 {
        return Err(format!(
            "bad hash '{}'",
            s.chars().take(40).collect::<String>()
        ));
    }
    u64::from_str_radix(s, 16).map_err(|_| format!("bad hash '{s}'"))
}

/// Reads one line into `buf`, keeping at most `MAX_LINE` bytes of it (the rest is read and
/// thrown away). Returns the bytes consumed and whether the line was cut.
fn read_capped_line(input: &mut dyn BufRead, buf: &mut Vec<u8>) -> io::Result<(usize, bool)> {
    let mut consumed = 0;
    let mut cut = false;
    loop {
        let avail = input.fill_buf()?;
        if avail.is_empty() {
            return Ok((consumed, cut));
        }
        let (take, done) = match avail.iter().position(|&b| b == b'\n') {
            Some(i) => (i + 1, true),
            None => (avail.len(), false),
        };
        let room = MAX_LINE.saturating_sub(buf.len());
        if take > room {
            cut = true;
        }
        buf.extend_from_slice(&avail[..take.min(room)]);
        input.consume(take);
        consumed += take;
        if done {
            return Ok((consumed, cut));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn foreign_broken_and_oversized_lines_are_counted_not_fatal() {
        let mut r = LogReader::new(History::default());
        let big = format!(
            "{{\"event_type\":\"tls\",\"x\":\"{}\"}}\n",
            "a".repeat(MAX_LINE)
        );
        let text = format!(
            "{{\"event_type\":\"flow\",\"src_ip\":\"1.2.3.4\"}}\nnot json\n\n{big}\
             {{\"event_type\":\"tls\",\"resumption\":\"maybe\"}}\n"
        );
        r.read("x.log", &mut text.as_bytes()).unwrap();
        assert_eq!(r.reading.foreign_lines, 1);
        assert_eq!(r.history.stats.skipped_log_lines, 3);
        assert_eq!(r.reading.records, 0);
        assert_eq!(r.reading.warnings.len(), 3);
        assert!(r.reading.warnings[1].contains("longer than"));
    }

    #[test]
    fn input_names_are_capped_and_a_skipped_line_adds_none() {
        let mut r = LogReader::new(History::default());
        let mut text = String::new();
        for i in 0..MAX_INPUT_NAMES + 3 {
            text += &format!(
                "{{\"event_type\":\"stats\",\"start_ns\":null,\"end_ns\":null,\"inputs\":[\"f{i}\"],\"stats\":{{}}}}\n"
            );
        }
        // A record whose ticket hash is bad names a new file: nothing of it is taken.
        text += "{\"event_type\":\"tls\",\"ts\":0,\"timestamp\":\"\",\"uid\":\"C\",\
                 \"community_id\":\"1:x\",\"src_ip\":\"192.0.2.7\",\"src_port\":1,\
                 \"dest_ip\":\"192.0.2.1\",\"dest_port\":443,\"proto\":\"TCP\",\
                 \"transport\":\"tcp\",\"sni\":null,\"version\":null,\"version_id\":null,\
                 \"resumption\":\"full\",\"key_name\":null,\"ticket\":null,\
                 \"psk_identities\":[],\"early_data\":false,\"tickets_issued\":[{\"key_name\":\"00\",\
                 \"hash\":\"zz\",\"lifetime\":1,\"at\":{\"file\":\"f0\",\"frame\":1,\"time_ns\":0}}],\
                 \"session_id_hash\":null,\"ticketbleed\":false,\"evidence\":null,\
                 \"client_hello\":{\"file\":\"new.pcap\",\"frame\":1,\"time_ns\":0},\"server_hello\":null}\n";
        r.read("x.log", &mut text.as_bytes()).unwrap();
        assert_eq!(r.history.files.len(), MAX_INPUT_NAMES);
        assert_eq!(r.history.stats.skipped_log_lines, 4);
        assert!(!r.history.files.iter().any(|f| f == "new.pcap"));
        assert_eq!(r.reading.records, 0);
    }

    #[test]
    fn key_names_and_hashes_are_checked() {
        assert_eq!(key_name("00ff").unwrap(), vec![0, 255]);
        assert!(key_name(&"00".repeat(17)).is_err());
        assert!(key_name("0g").is_err());
        assert_eq!(hash("00000000000000ff").unwrap(), 255);
        assert!(hash("ff").is_err());
    }
}
