//! The frames of a decrypted packet (RFC 9000 §12.4, §19): in Initial and Handshake packets
//! only PADDING, PING, ACK, CRYPTO and CONNECTION_CLOSE may appear; 1-RTT packets (opened with
//! the user's secrets) may carry every RFC 9000 frame and DATAGRAM (RFC 9221), which are
//! skipped by their lengths. CRYPTO frames are handed on by offset.
//!
//! Invariants: every length is checked against what is left of the payload; a frame this
//! stage does not allow (or know) ends the walk as `Malformed` (frames before it were
//! already handed on, as a receiver that processes frames in order would have).

use super::packet::{varint, Malformed};

const PADDING: u64 = 0x00;
const PING: u64 = 0x01;
const ACK: u64 = 0x02;
const ACK_ECN: u64 = 0x03;
const CRYPTO: u64 = 0x06;
const CONNECTION_CLOSE: u64 = 0x1c;
const CONNECTION_CLOSE_APP: u64 = 0x1d;

/// What a payload's frames said besides their CRYPTO data.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Seen {
    pub crypto_frames: u32,
    /// A CONNECTION_CLOSE: the sender gave up on the connection.
    pub close: bool,
}

struct Cursor<'a>(&'a [u8]);

impl<'a> Cursor<'a> {
    fn varint(&mut self) -> Result<u64, Malformed> {
        let (v, n) = varint(self.0)?;
        self.0 = &self.0[n..];
        Ok(v)
    }
    fn take(&mut self, n: u64) -> Result<&'a [u8], Malformed> {
        let n = usize::try_from(n).map_err(|_| Malformed)?;
        if n > self.0.len() {
            return Err(Malformed);
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Ok(head)
    }
}

/// Walks the frames of an Initial or Handshake packet's `payload`; `crypto(offset, data)` is
/// called for each CRYPTO frame.
pub fn walk(payload: &[u8], crypto: &mut impl FnMut(u64, &[u8])) -> Result<Seen, Malformed> {
    walk_frames(payload, false, crypto)
}

/// Walks the frames of a 1-RTT packet's `payload`, as `walk` does.
pub fn walk_app(payload: &[u8], crypto: &mut impl FnMut(u64, &[u8])) -> Result<Seen, Malformed> {
    walk_frames(payload, true, crypto)
}

fn walk_frames(
    payload: &[u8],
    app: bool,
    crypto: &mut impl FnMut(u64, &[u8]),
) -> Result<Seen, Malformed> {
    let mut c = Cursor(payload);
    let mut seen = Seen::default();
    while !c.0.is_empty() {
        match c.varint()? {
            PADDING => {
                // A run of padding is common (up to 1200 bytes): skip it at once.
                let n = c.0.iter().take_while(|&&b| b == 0).count();
                c.0 = &c.0[n..];
            }
            PING => {}
            t @ (ACK | ACK_ECN) => {
                let _largest = c.varint()?;
                let _delay = c.varint()?;
                let ranges = c.varint()?;
                let _first = c.varint()?;
                for _ in 0..ranges {
                    // Each range is at least two bytes: a count past the payload ends here.
                    let _gap = c.varint()?;
                    let _len = c.varint()?;
                }
                if t == ACK_ECN {
                    for _ in 0..3 {
                        c.varint()?;
                    }
                }
            }
            CRYPTO => {
                let offset = c.varint()?;
                let len = c.varint()?;
                let data = c.take(len)?;
                // RFC 9000 §19.6: the stream may not exceed 2^62 - 1.
                if offset.checked_add(len).is_none_or(|end| end >= 1 << 62) {
                    return Err(Malformed);
                }
                seen.crypto_frames += 1;
                crypto(offset, data);
            }
            t @ (CONNECTION_CLOSE | CONNECTION_CLOSE_APP) => {
                let _code = c.varint()?;
                if t == CONNECTION_CLOSE {
                    let _frame_type = c.varint()?;
                }
                let n = c.varint()?;
                c.take(n)?;
                seen.close = true;
            }
            t if app => app_frame(&mut c, t)?,
            _ => return Err(Malformed),
        }
    }
    Ok(seen)
}

/// Skips one 1-RTT-only frame of type `t` (RFC 9000 §19.4-19.20, RFC 9221 §4).
fn app_frame(c: &mut Cursor<'_>, t: u64) -> Result<(), Malformed> {
    // Frames made only of varints: how many follow the type.
    let varints = match t {
        0x04 => 3,                                    // RESET_STREAM: id, code, final size
        0x05 | 0x11 | 0x15 => 2, // STOP_SENDING, MAX_STREAM_DATA, STREAM_DATA_BLOCKED
        0x10 | 0x12..=0x14 | 0x16 | 0x17 | 0x19 => 1, // MAX_DATA, MAX_STREAMS, *_BLOCKED, RETIRE_CID
        0x1e => 0,                                    // HANDSHAKE_DONE
        _ => usize::MAX,
    };
    if varints != usize::MAX {
        for _ in 0..varints {
            c.varint()?;
        }
        return Ok(());
    }
    match t {
        0x07 => {
            // NEW_TOKEN
            let n = c.varint()?;
            c.take(n)?;
        }
        0x08..=0x0f => {
            // STREAM: id, offset if OFF, length if LEN (else to the end), data.
            c.varint()?;
            if t & 0x04 != 0 {
                c.varint()?;
            }
            let n = if t & 0x02 != 0 {
                c.varint()?
            } else {
                c.0.len() as u64
            };
            c.take(n)?;
        }
        0x18 => {
            // NEW_CONNECTION_ID: sequence, retire prior to, length, id, reset token.
            c.varint()?;
            c.varint()?;
            let n = *c.take(1)?.first().ok_or(Malformed)?;
            if usize::from(n) > super::packet::MAX_CID_LEN {
                return Err(Malformed);
            }
            c.take(u64::from(n) + 16)?;
        }
        0x1a | 0x1b => {
            // PATH_CHALLENGE, PATH_RESPONSE
            c.take(8)?;
        }
        0x30 => {
            // DATAGRAM without a length: to the end.
            c.0 = &[];
        }
        0x31 => {
            let n = c.varint()?;
            c.take(n)?;
        }
        _ => return Err(Malformed),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// CRYPTO frames as (offset, bytes).
    type Pieces = Vec<(u64, Vec<u8>)>;

    fn crypto_of(payload: &[u8]) -> (Result<Seen, Malformed>, Pieces) {
        let mut got = Vec::new();
        let r = walk(payload, &mut |o, d| got.push((o, d.to_vec())));
        (r, got)
    }

    #[test]
    fn crypto_frames_between_ack_ping_and_padding_are_handed_on() {
        let mut p = vec![0x02, 0x05, 0x00, 0x00, 0x00]; // ACK, no extra ranges
        p.extend([0x06, 0x40, 0x10, 0x03, 0xaa, 0xbb, 0xcc]); // CRYPTO at 16, 3 bytes
        p.push(0x01);
        p.extend([0; 50]);
        p.extend([0x06, 0x00, 0x01, 0xdd]);
        let (r, got) = crypto_of(&p);
        assert_eq!(
            r,
            Ok(Seen {
                crypto_frames: 2,
                close: false
            })
        );
        assert_eq!(got, vec![(16, vec![0xaa, 0xbb, 0xcc]), (0, vec![0xdd])]);
    }

    #[test]
    fn connection_close_is_noted() {
        let p = [0x1c, 0x0a, 0x06, 0x02, b'n', b'o'];
        assert!(crypto_of(&p).0.unwrap().close);
    }

    #[test]
    fn bad_lengths_and_forbidden_frames_are_malformed() {
        // CRYPTO announcing more bytes than there are.
        assert_eq!(crypto_of(&[0x06, 0x00, 0x40, 0x20, 1, 2]).0, Err(Malformed));
        // CRYPTO whose end passes 2^62.
        let p = [
            0x06, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0x00,
        ];
        assert_eq!(crypto_of(&p).0, Err(Malformed));
        // An ACK with a huge range count ends at the payload's end.
        let p = [0x02, 0, 0, 0xbf, 0xff, 0xff, 0xff, 0];
        assert_eq!(crypto_of(&p).0, Err(Malformed));
        // A STREAM frame may not appear in an Initial.
        assert_eq!(crypto_of(&[0x08, 0, 0]).0, Err(Malformed));
    }

    #[test]
    fn one_rtt_frames_around_crypto_are_skipped_by_their_lengths() {
        let mut p = vec![0x1e]; // HANDSHAKE_DONE
        p.extend([0x18, 0x01, 0x00, 0x04, 1, 2, 3, 4]); // NEW_CONNECTION_ID, 4-byte id
        p.extend([0xee; 16]); // its reset token
        p.extend([0x0a, 0x03, 0x02, b'h', b'i']); // STREAM 3 with a length
        p.extend([0x10, 0x44, 0x00]); // MAX_DATA
        p.extend([0x07, 0x02, 9, 9]); // NEW_TOKEN
        p.extend([0x06, 0x00, 0x02, 0x04, 0x00]); // CRYPTO at 0, 2 bytes
        p.extend([0x1a, 1, 2, 3, 4, 5, 6, 7, 8]); // PATH_CHALLENGE
        p.extend([0x08, 0x00, b'r', b'e', b's', b't']); // STREAM 0 to the end
        let mut got = Vec::new();
        let seen = walk_app(&p, &mut |o, d| got.push((o, d.to_vec()))).unwrap();
        assert_eq!(seen.crypto_frames, 1);
        assert_eq!(got, vec![(0, vec![0x04, 0x00])]);
        // The same frames are not allowed in an Initial, and cut ones are malformed.
        assert_eq!(crypto_of(&p).0, Err(Malformed));
        for n in [2, 5, 26, 28, 32] {
            assert!(walk_app(&p[..n], &mut |_, _| {}).is_err(), "cut at {n}");
        }
        assert_eq!(walk_app(&[0x40, 0xff], &mut |_, _| {}), Err(Malformed));
    }
}
