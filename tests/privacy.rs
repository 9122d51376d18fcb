//! Whole tickets and session IDs identify clients across connections: they must never appear in
//! any output. Every fixture is run through every output format (and saved as a state file),
//! and the output is searched for
//! every ticket, PSK identity and session ID the capture holds, as hex (lower and upper case)
//! and base64 (standard, unpadded, URL-safe). The secrets are extracted here with the library's
//! reassembly and record reader and a small independent parser of the three messages.

mod support;

use std::collections::{BTreeSet, HashMap};

use stekwatch::capture::file::read_packets;
use stekwatch::tls::record::{RecordReader, Unit};
use stekwatch::transport::tcp::reassembly::{Budget, Stream};
use support::*;

const FORMATS: [&str; 3] = ["human", "json", "jsonl"];

struct Cursor<'a>(&'a [u8]);

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        (self.0.len() >= n).then(|| {
            let (a, b) = self.0.split_at(n);
            self.0 = b;
            a
        })
    }
    fn num(&mut self, n: usize) -> Option<usize> {
        Some(self.take(n)?.iter().fold(0, |a, &b| a << 8 | b as usize))
    }
    fn vec(&mut self, len_bytes: usize) -> Option<&'a [u8]> {
        let n = self.num(len_bytes)?;
        self.take(n)
    }
}

/// Session IDs, tickets and PSK identities in one handshake message.
fn secrets_of(msg_type: u8, body: &[u8], out: &mut Secrets) -> Option<()> {
    let mut c = Cursor(body);
    match msg_type {
        1 => {
            c.take(2 + 32)?;
            out.session_ids.insert(c.vec(1)?.to_vec());
            c.vec(2)?;
            c.vec(1)?;
            let mut ext = Cursor(c.vec(2)?);
            while let (Some(kind), Some(data)) = (ext.num(2), ext.vec(2)) {
                match kind {
                    35 => {
                        out.tickets.insert(data.to_vec());
                    }
                    41 => {
                        let mut ids = Cursor(Cursor(data).vec(2)?);
                        while let Some(id) = ids.vec(2) {
                            out.tickets.insert(id.to_vec());
                            ids.take(4)?;
                        }
                    }
                    _ => {}
                }
            }
        }
        2 => {
            c.take(2 + 32)?;
            out.session_ids.insert(c.vec(1)?.to_vec());
        }
        4 => {
            c.take(4)?;
            out.tickets.insert(c.vec(2)?.to_vec());
        }
        _ => {}
    }
    Some(())
}

#[derive(Default)]
struct Secrets {
    tickets: BTreeSet<Vec<u8>>,
    session_ids: BTreeSet<Vec<u8>>,
}

fn secrets(capture_bytes: &[u8]) -> Secrets {
    let mut out = Secrets::default();
    let mut dirs: HashMap<_, (Stream, RecordReader)> = HashMap::new();
    let mut budget = Budget::new(16 << 20);
    read_packets(capture_bytes, "fixture", &mut |pkt| {
        let Ok(seg) = stekwatch::decode::decode(pkt) else {
            return;
        };
        let (stream, reader) = dirs.entry((seg.src, seg.dst)).or_default();
        stream.push(
            seg.seq,
            seg.flags.syn,
            seg.flags.fin || seg.flags.rst,
            seg.payload,
            &mut budget,
            &mut |d| {
                reader.push(d, &mut |_, unit| {
                    if let Unit::Handshake { msg_type, body } = unit {
                        secrets_of(msg_type, body, &mut out);
                    }
                })
            },
        );
    })
    .unwrap();
    out.tickets.retain(|t| !t.is_empty());
    out.session_ids.retain(|t| !t.is_empty());
    out
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn base64(b: &[u8], alphabet: &[u8; 64], pad: bool) -> String {
    let mut s = String::new();
    for chunk in b.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |a, (i, &x)| a | (x as u32) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            s.push(alphabet[(n >> (18 - 6 * i)) as usize & 63] as char);
        }
        if pad {
            s.push_str(&"=".repeat(3 - chunk.len()));
        }
    }
    s
}

const STD: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const URL: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// The textual forms a leak could take.
fn forms(secret: &[u8]) -> Vec<String> {
    let h = hex(secret);
    vec![
        h.clone(),
        h.to_uppercase(),
        base64(secret, STD, true),
        base64(secret, STD, false),
        base64(secret, URL, false),
    ]
}

#[test]
fn base64_helper_matches_known_vectors() {
    assert_eq!(base64(b"foobar", STD, true), "Zm9vYmFy");
    assert_eq!(base64(b"fooba", STD, true), "Zm9vYmE=");
    assert_eq!(base64(b"foob", STD, true), "Zm9vYg==");
    assert_eq!(base64(&[0xfb, 0xff], URL, false), "-_8");
}

#[test]
fn no_output_format_reveals_a_whole_ticket_or_session_id() {
    let mut fixtures: Vec<_> = std::fs::read_dir(root().join("captures"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let n = p.to_str().unwrap();
            n.ends_with(".pcap") || n.ends_with(".pcapng")
        })
        .collect();
    fixtures.sort();
    let (mut tickets, mut ids) = (0, 0);
    for path in &fixtures {
        let s = secrets(&std::fs::read(path).unwrap());
        tickets += s.tickets.len();
        ids += s.session_ids.len();
        let state = std::env::temp_dir().join(format!(
            "stekwatch-privacy-{}-{}.state",
            std::process::id(),
            path.file_name().unwrap().to_str().unwrap()
        ));
        let _ = std::fs::remove_file(&state);
        for format in FORMATS {
            let out = stekwatch(&[
                "read",
                "--format",
                format,
                "--state",
                state.to_str().unwrap(),
                path.to_str().unwrap(),
            ]);
            assert_eq!(out.status.code(), Some(0), "{}", path.display());
            let mut text = String::from_utf8_lossy(&out.stdout).to_string();
            text.push_str(&String::from_utf8_lossy(&out.stderr));
            // The saved history too (text forms, and the raw bytes for a binary format).
            let saved = std::fs::read(&state).expect("state file written");
            text.push_str(&String::from_utf8_lossy(&saved));
            for secret in s.tickets.iter().chain(&s.session_ids) {
                assert!(
                    !saved.windows(secret.len()).any(|w| w == &secret[..]),
                    "{}: the state file holds a whole ticket or session ID",
                    path.display()
                );
            }
            for (what, set) in [("ticket", &s.tickets), ("session ID", &s.session_ids)] {
                for secret in set.iter() {
                    for form in forms(secret) {
                        assert!(
                            !text.contains(&form),
                            "{} --format {format} shows a whole {what}: {form}",
                            path.display()
                        );
                    }
                    // Past a 16-byte key name, a ticket's bytes (the IV) must not show either.
                    if what == "ticket" && secret.len() >= 32 {
                        let iv = hex(&secret[16..32]);
                        assert!(
                            !text.to_lowercase().contains(&iv),
                            "{} --format {format} shows ticket bytes 16..32",
                            path.display()
                        );
                    }
                }
            }
        }
    }
    for path in &fixtures {
        let _ = std::fs::remove_file(std::env::temp_dir().join(format!(
            "stekwatch-privacy-{}-{}.state",
            std::process::id(),
            path.file_name().unwrap().to_str().unwrap()
        )));
    }
    // The fixtures really hold secrets to look for.
    assert!(
        tickets >= 30,
        "only {tickets} tickets found in the fixtures"
    );
    assert!(ids >= 30, "only {ids} session IDs found in the fixtures");
}
