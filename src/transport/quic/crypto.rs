//! One direction's CRYPTO stream at the Initial level: frames arrive by offset, duplicated,
//! overlapping and out of order (browsers split a large ClientHello over several Initials and
//! shuffle the pieces); the stream's bytes come out in order, exactly once.
//!
//! Invariants: `next` is the number of bytes handed on; `pending` holds pieces starting after
//! `next`, none reaching past `MAX_CRYPTO_OFFSET`, at most `MAX_CRYPTO_OFFSET` bytes in all;
//! a piece is copied only when it cannot be handed on at once.

use std::collections::BTreeMap;

/// The Initial CRYPTO stream is read up to this offset; data past it is refused (counted).
/// A ClientHello with post-quantum key shares and several PSK identities takes a few KiB.
pub const MAX_CRYPTO_OFFSET: u64 = 64 * 1024;

/// What happened to one CRYPTO frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Took {
    /// Handed on (some or all of it), possibly with pending pieces after it.
    Delivered,
    /// Kept for later: it starts past what was handed on.
    Held,
    /// Everything in it was handed on (or is held) already.
    Duplicate,
    /// It reaches past `MAX_CRYPTO_OFFSET` (or the caller's budget said no): dropped.
    Refused,
}

#[derive(Debug, Default)]
pub struct CryptoStream {
    next: u64,
    pending: BTreeMap<u64, Vec<u8>>,
    held: usize,
}

impl CryptoStream {
    /// Bytes held out of order.
    pub fn held(&self) -> usize {
        self.held
    }

    /// Takes the frame `data` at `offset`; `out` gets the stream's next bytes in order.
    /// `may_hold` says whether the caller's budget allows holding `data.len()` more bytes.
    pub fn push(
        &mut self,
        offset: u64,
        data: &[u8],
        may_hold: bool,
        out: &mut impl FnMut(&[u8]),
    ) -> Took {
        let end = offset + data.len() as u64;
        if end <= self.next {
            return Took::Duplicate;
        }
        if end > MAX_CRYPTO_OFFSET {
            return Took::Refused;
        }
        if offset > self.next {
            if !may_hold {
                return Took::Refused;
            }
            // Keep the longer of two pieces at one offset.
            if self
                .pending
                .get(&offset)
                .is_some_and(|p| p.len() >= data.len())
            {
                return Took::Duplicate;
            }
            let old = self.pending.insert(offset, data.to_vec());
            self.held = self.held + data.len() - old.map_or(0, |o| o.len());
            return Took::Held;
        }
        out(&data[(self.next - offset) as usize..]);
        self.next = end;
        self.drain(out);
        Took::Delivered
    }

    /// Hands on the pending pieces that now continue the stream.
    fn drain(&mut self, out: &mut impl FnMut(&[u8])) {
        while let Some(entry) = self.pending.first_entry() {
            let start = *entry.key();
            if start > self.next {
                break;
            }
            let piece = entry.remove();
            self.held -= piece.len();
            let end = start + piece.len() as u64;
            if end > self.next {
                out(&piece[(self.next - start) as usize..]);
                self.next = end;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pushes `(offset, bytes)` pieces; returns the stream as handed on.
    fn run(pieces: &[(u64, &[u8])]) -> (Vec<u8>, CryptoStream) {
        let mut s = CryptoStream::default();
        let mut got = Vec::new();
        for (o, d) in pieces {
            s.push(*o, d, true, &mut |b| got.extend_from_slice(b));
        }
        (got, s)
    }

    macro_rules! stream_case {
        ($name:ident, [$(($o:expr, $d:expr)),*], $want:expr) => {
            #[test]
            fn $name() {
                let (got, s) = run(&[$(($o, &$d[..])),*]);
                assert_eq!(got, $want.to_vec());
                assert_eq!(s.held(), 0);
            }
        };
    }

    stream_case!(in_order_pieces_join, [(0, b"ab"), (2, b"cd")], b"abcd");
    stream_case!(
        reversed_pieces_join,
        [(4, b"ef"), (2, b"cd"), (0, b"ab")],
        b"abcdef"
    );
    stream_case!(
        duplicates_come_out_once,
        [(0, b"ab"), (0, b"ab"), (2, b"c"), (2, b"c")],
        b"abc"
    );
    stream_case!(
        overlaps_are_trimmed,
        [(0, b"abc"), (1, b"bcde"), (3, b"d")],
        b"abcde"
    );
    stream_case!(
        pending_overlap_is_trimmed,
        [(3, b"de"), (2, b"cdef"), (0, b"ab")],
        b"abcdef"
    );
    stream_case!(
        a_piece_inside_a_longer_one,
        [(2, b"c"), (1, b"bcd"), (0, b"a")],
        b"abcd"
    );

    #[test]
    fn a_gap_holds_the_rest_until_it_is_filled() {
        let (got, s) = run(&[(0, b"ab"), (5, b"fg")]);
        assert_eq!(got, b"ab");
        assert_eq!(s.held(), 2);
    }

    #[test]
    fn huge_offsets_are_refused_and_hold_nothing() {
        let mut s = CryptoStream::default();
        let took = s.push(1 << 40, b"x", true, &mut |_| panic!("nothing to hand on"));
        assert_eq!(took, Took::Refused);
        let took = s.push(MAX_CRYPTO_OFFSET - 1, b"xy", true, &mut |_| {});
        assert_eq!(took, Took::Refused);
        assert_eq!(s.held(), 0);
    }

    #[test]
    fn a_full_budget_refuses_to_hold_but_still_delivers() {
        let mut s = CryptoStream::default();
        assert_eq!(s.push(3, b"d", false, &mut |_| {}), Took::Refused);
        let mut got = Vec::new();
        assert_eq!(
            s.push(0, b"abc", false, &mut |b| got.extend_from_slice(b)),
            Took::Delivered
        );
        assert_eq!(got, b"abc");
    }
}
