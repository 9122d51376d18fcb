//! Reassembly of one TCP direction into an ordered byte stream.
//!
//! Invariant: `delivered` bytes of the stream (counted from the first byte after the SYN, or
//! from the first segment seen when the SYN was missed) have been handed out exactly once and in
//! order; `pending` holds out-of-order data strictly beyond `delivered`, keyed by stream offset,
//! at most `MAX_PENDING_BYTES` per stream and what the shared `Budget` allows overall.
//!
//! Overlap policy: *first wins*. Bytes already delivered or already buffered are never replaced
//! by a later retransmission carrying different bytes (the policy of most OS stacks' receive
//! path for already-queued data; see RFC 9293 §3.10.7.4 on trimming).
//!
//! When data is missing and cannot arrive any more (a cap is hit, or the flow ends), the stream
//! skips the hole and reports a `Gap`, so the consumer can resynchronise.

use std::collections::BTreeMap;

use super::seq::SeqNumber;
use crate::chunk::Chunk;

/// Out-of-order bytes one stream may hold.
pub const MAX_PENDING_BYTES: usize = 256 * 1024;

/// What one buffered segment costs beyond its payload (its map entry, vector header and
/// allocation). Caps count it, so a flood of 1-byte segments is bounded in memory, not only in
/// payload bytes.
pub const SEGMENT_OVERHEAD: usize = 96;

/// Memory charged for one buffered segment of `len` payload bytes.
fn cost(len: usize) -> usize {
    len + SEGMENT_OVERHEAD
}

/// Shared limit on out-of-order bytes across all streams (each segment counted with
/// `SEGMENT_OVERHEAD`); the flow table also charges what its connections' consumers hold (partial TLS
/// records) to it.
#[derive(Debug)]
pub struct Budget {
    pub limit: usize,
    pub used: usize,
    /// Bytes skipped because a cap refused to buffer them.
    pub discarded_bytes: u64,
}

impl Budget {
    pub fn new(limit: usize) -> Self {
        Budget {
            limit,
            used: 0,
            discarded_bytes: 0,
        }
    }

    /// Changes a holder's charge (e.g. a connection's partial TLS records) from `*charged` to
    /// `now` bytes; true when the budget is then exceeded by a holder that holds something.
    pub fn recharge(&mut self, charged: &mut usize, now: usize) -> bool {
        self.used = self.used - *charged + now;
        *charged = now;
        now > 0 && self.used > self.limit
    }

    /// Gives up a holder's whole charge, counting it as discarded.
    pub fn discard(&mut self, charged: &mut usize) {
        self.discarded_bytes += *charged as u64;
        self.recharge(charged, 0);
    }
}

#[derive(Debug, Default)]
pub struct Stream {
    /// Sequence number of stream offset `delivered`; `None` until the first segment.
    next: Option<SeqNumber>,
    delivered: u64,
    pending: BTreeMap<u64, Vec<u8>>,
    pending_bytes: usize,
    /// Stream offset where the FIN (or RST) said the stream ends.
    end: Option<u64>,
    /// Bytes received again after they were delivered or buffered.
    pub retransmitted_bytes: u64,
    pub gaps: u64,
}

impl Stream {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn delivered(&self) -> u64 {
        self.delivered
    }

    /// Memory charged for the buffered segments (payload + `SEGMENT_OVERHEAD` each).
    pub fn pending_bytes(&self) -> usize {
        self.pending_bytes
    }

    /// Takes one segment. `syn` marks a SYN (its sequence number precedes the first data byte);
    /// `fin` a FIN or RST, whose sequence number (after the payload) ends the stream.
    pub fn push(
        &mut self,
        seq: u32,
        syn: bool,
        fin: bool,
        payload: &[u8],
        budget: &mut Budget,
        out: &mut impl FnMut(Chunk<'_>),
    ) {
        let mut seq = SeqNumber(seq);
        if syn {
            seq = seq + 1;
        }
        let next = *self.next.get_or_insert(seq);
        let dist = seq.distance_from(next);
        let start = self.delivered as i64 + dist;
        let end = start + payload.len() as i64;
        if fin && end >= 0 {
            self.end = Some(self.end.map_or(end as u64, |e| e.min(end as u64)));
        }
        if payload.is_empty() {
            return;
        }
        if end <= self.delivered as i64 {
            self.retransmitted_bytes += payload.len() as u64;
            return;
        }
        if start <= self.delivered as i64 {
            let skip = (self.delivered as i64 - start) as usize;
            self.retransmitted_bytes += skip as u64;
            self.deliver(&payload[skip..], out);
            self.drain(budget, out);
            return;
        }
        self.buffer(start as u64, payload, budget, out);
    }

    /// The capture cut `missing` bytes off the end of the segment just pushed (at `seq`, `syn`,
    /// with `captured` bytes): when that segment was in order, the bytes after it are known to
    /// be lost, so the gap is reported now rather than when the stream ends.
    pub fn cut(
        &mut self,
        seq: u32,
        syn: bool,
        captured: usize,
        missing: u32,
        budget: &mut Budget,
        out: &mut impl FnMut(Chunk<'_>),
    ) {
        let Some(next) = self.next else { return };
        let seq = SeqNumber(seq) + u32::from(syn);
        let end = self.delivered as i64 - next.distance_from(seq) + captured as i64;
        if missing == 0 || end != self.delivered as i64 {
            return;
        }
        self.skip_to(self.delivered + u64::from(missing), out);
        self.drain(budget, out);
    }

    /// Delivers everything still buffered, skipping holes: the stream will get no more data.
    /// Bytes missing before the FIN count as a final gap.
    pub fn flush(&mut self, budget: &mut Budget, out: &mut impl FnMut(Chunk<'_>)) {
        while let Some((&start, _)) = self.pending.first_key_value() {
            if start > self.delivered {
                self.skip_to(start, out);
            }
            self.drain(budget, out);
        }
        if let Some(end) = self.end {
            self.skip_to(end, out);
        }
    }

    /// Frees buffered data (the consumer wants no more bytes).
    pub fn release(&mut self, budget: &mut Budget) {
        budget.used -= self.pending_bytes;
        self.pending_bytes = 0;
        self.pending.clear();
    }

    fn buffer(
        &mut self,
        start: u64,
        payload: &[u8],
        budget: &mut Budget,
        out: &mut impl FnMut(Chunk<'_>),
    ) {
        loop {
            if start <= self.delivered {
                let skip = (self.delivered - start) as usize;
                if skip < payload.len() {
                    self.deliver(&payload[skip..], out);
                }
                self.drain(budget, out);
                return;
            }
            let fits = self.pending_bytes + cost(payload.len()) <= MAX_PENDING_BYTES
                && budget.used + cost(payload.len()) <= budget.limit;
            if fits {
                self.insert(start, payload, budget);
                return;
            }
            // No room: give up on the oldest hole, then try again.
            let first = self
                .pending
                .keys()
                .next()
                .copied()
                .unwrap_or(start)
                .min(start);
            budget.discarded_bytes += first - self.delivered;
            self.skip_to(first, out);
            self.drain(budget, out);
        }
    }

    /// Buffers the parts of `payload` (at stream offset `start`) that nothing buffered covers
    /// yet: first bytes win, whatever order the overlapping segments came in.
    fn insert(&mut self, start: u64, payload: &[u8], budget: &mut Budget) {
        let end = start + payload.len() as u64;
        let mut pos = start;
        if let Some((&s, b)) = self.pending.range(..=start).next_back() {
            pos = pos.max(s + b.len() as u64);
        }
        let mut pieces = Vec::new();
        for (&s, b) in self.pending.range(start..end) {
            if s > pos {
                pieces.push((pos, s));
            }
            pos = pos.max(s + b.len() as u64);
        }
        if pos < end {
            pieces.push((pos, end));
        }
        let new: u64 = pieces.iter().map(|(a, b)| b - a).sum();
        self.retransmitted_bytes += payload.len() as u64 - new;
        for (a, b) in pieces {
            let bytes = payload[(a - start) as usize..(b - start) as usize].to_vec();
            self.pending_bytes += cost(bytes.len());
            budget.used += cost(bytes.len());
            self.pending.insert(a, bytes);
        }
    }

    fn drain(&mut self, budget: &mut Budget, out: &mut impl FnMut(Chunk<'_>)) {
        while let Some(entry) = self.pending.first_entry() {
            let start = *entry.key();
            if start > self.delivered {
                break;
            }
            let bytes = entry.remove();
            self.pending_bytes -= cost(bytes.len());
            budget.used -= cost(bytes.len());
            let end = start + bytes.len() as u64;
            if end <= self.delivered {
                self.retransmitted_bytes += bytes.len() as u64;
                continue;
            }
            let skip = (self.delivered - start) as usize;
            self.retransmitted_bytes += skip as u64;
            self.deliver(&bytes[skip..], out);
        }
    }

    fn skip_to(&mut self, offset: u64, out: &mut impl FnMut(Chunk<'_>)) {
        if offset > self.delivered {
            let missing = offset - self.delivered;
            self.advance(missing);
            self.gaps += 1;
            out(Chunk::Gap(missing));
        }
    }

    fn deliver(&mut self, bytes: &[u8], out: &mut impl FnMut(Chunk<'_>)) {
        self.advance(bytes.len() as u64);
        out(Chunk::Data(bytes));
    }

    fn advance(&mut self, n: u64) {
        self.delivered += n;
        if let Some(next) = self.next.as_mut() {
            *next = *next + n as u32;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pushes `(seq, bytes)` segments into a fresh stream whose first byte has sequence 1000
    /// and returns what came out ("<gap N>" for gaps), after a final flush.
    fn run(segments: &[(u32, &str)]) -> String {
        let mut s = Stream::new();
        let mut budget = Budget::new(1 << 20);
        let mut out = String::new();
        let mut sink = |d: Chunk<'_>| match d {
            Chunk::Data(b) => out.push_str(std::str::from_utf8(b).unwrap()),
            Chunk::Gap(n) => out.push_str(&format!("<gap {n}>")),
        };
        s.push(999, true, false, b"", &mut budget, &mut sink);
        for (seq, text) in segments {
            s.push(*seq, false, false, text.as_bytes(), &mut budget, &mut sink);
        }
        s.flush(&mut budget, &mut sink);
        assert_eq!(budget.used, 0);
        out
    }

    macro_rules! case {
        ($name:ident, [$(($seq:expr, $text:expr)),*], $want:expr) => {
            #[test]
            fn $name() {
                assert_eq!(run(&[$(($seq, $text)),*]), $want);
            }
        };
    }

    case!(
        in_order_segments_come_out_in_order,
        [(1000, "abc"), (1003, "def")],
        "abcdef"
    );
    case!(
        out_of_order_segments_are_reordered,
        [(1003, "def"), (1000, "abc")],
        "abcdef"
    );
    case!(
        exact_retransmission_is_dropped,
        [(1000, "abc"), (1000, "abc"), (1003, "d")],
        "abcd"
    );
    case!(
        retransmission_with_other_bytes_keeps_the_first,
        [(1000, "abc"), (1000, "XYZ")],
        "abc"
    );
    case!(
        overlap_extending_the_stream_adds_only_new_bytes,
        [(1000, "abc"), (1001, "bcde")],
        "abcde"
    );
    case!(
        buffered_overlap_keeps_the_first_bytes,
        [(1002, "cd"), (1002, "XYZ"), (1000, "ab")],
        "abcdZ"
    );
    case!(
        a_later_segment_starting_lower_keeps_the_bytes_buffered_first,
        [(1003, "XY"), (1002, "cd"), (1000, "ab")],
        "abcXY"
    );
    case!(
        a_segment_spanning_two_buffered_ones_only_fills_between_them,
        [(1002, "c"), (1005, "f"), (1001, "BCDEFG"), (1000, "a")],
        "aBcDEfG"
    );
    case!(
        hole_at_the_end_is_reported_as_a_gap,
        [(1000, "ab"), (1005, "fg")],
        "ab<gap 3>fg"
    );
    case!(
        three_way_shuffle_reassembles,
        [(1004, "e"), (1002, "cd"), (1000, "ab")],
        "abcde"
    );
    case!(
        segment_covering_two_buffered_ones_fills_the_hole,
        [(1002, "c"), (1004, "e"), (1000, "abcde")],
        "abcde"
    );

    #[test]
    fn bytes_cut_by_the_snaplen_become_a_gap_at_once() {
        let mut s = Stream::new();
        let mut budget = Budget::new(1 << 20);
        let mut out = Vec::new();
        let mut sink = |d: Chunk<'_>| out.push(format!("{d:?}"));
        s.push(999, true, false, b"", &mut budget, &mut sink);
        s.push(1000, false, false, b"ab", &mut budget, &mut sink);
        s.cut(1000, false, 2, 3, &mut budget, &mut sink);
        s.push(1005, false, false, b"fg", &mut budget, &mut sink);
        assert_eq!(out, ["Data([97, 98])", "Gap(3)", "Data([102, 103])"]);
        assert_eq!(budget.used, 0);
    }

    #[test]
    fn pickup_without_syn_starts_at_the_first_segment_seen() {
        let mut s = Stream::new();
        let mut budget = Budget::new(1 << 20);
        let mut got = Vec::new();
        s.push(5000, false, false, b"xy", &mut budget, &mut |d| {
            if let Chunk::Data(b) = d {
                got.extend_from_slice(b)
            }
        });
        assert_eq!(got, b"xy");
    }

    #[test]
    fn sequence_wrap_around_is_seamless() {
        let mut s = Stream::new();
        let mut budget = Budget::new(1 << 20);
        let mut got = Vec::new();
        let mut sink = |d: Chunk<'_>| {
            if let Chunk::Data(b) = d {
                got.extend_from_slice(b)
            }
        };
        s.push(u32::MAX - 1, false, false, b"ab", &mut budget, &mut sink);
        s.push(2, false, false, b"ef", &mut budget, &mut sink);
        s.push(0, false, false, b"cd", &mut budget, &mut sink);
        assert_eq!(got, b"abcdef");
    }

    #[test]
    fn budget_exhaustion_skips_the_hole_and_counts_it() {
        let mut s = Stream::new();
        let mut budget = Budget::new(4 + SEGMENT_OVERHEAD);
        let mut out = Vec::new();
        let mut sink = |d: Chunk<'_>| out.push(format!("{d:?}"));
        s.push(100, false, false, b"a", &mut budget, &mut sink);
        s.push(105, false, false, b"fgh", &mut budget, &mut sink);
        s.push(110, false, false, b"klm", &mut budget, &mut sink);
        assert_eq!(budget.discarded_bytes, 4);
        assert_eq!(s.gaps, 1);
        assert!(out.contains(&"Gap(4)".to_string()), "{out:?}");
    }

    /// A small deterministic generator (xorshift64*), so failures reproduce.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n.max(1)
        }
    }

    /// Random segments covering a random stream, with overlaps and duplicates, in random
    /// order, from a random initial sequence number (often near the wrap-around).
    fn scenario(rng: &mut Rng) -> (Vec<u8>, u32, Vec<(usize, usize)>) {
        let len = 1 + rng.below(3000) as usize;
        let stream: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        let isn = if rng.below(2) == 0 {
            u32::MAX - rng.below(4000) as u32
        } else {
            rng.next() as u32
        };
        let mut segs = Vec::new();
        let mut pos = 0;
        while pos < len {
            let n = (1 + rng.below(300) as usize).min(len - pos);
            segs.push((pos, n));
            pos += n;
        }
        for _ in 0..rng.below(20) {
            let start = rng.below(len as u64) as usize;
            let n = (1 + rng.below(400) as usize).min(len - start);
            segs.push((start, n));
        }
        for i in (1..segs.len()).rev() {
            let j = rng.below(i as u64 + 1) as usize;
            segs.swap(i, j);
        }
        (stream, isn, segs)
    }

    /// Runs a scenario; returns the delivered bytes with gaps as `None`.
    fn deliver(stream: &[u8], isn: u32, segs: &[(usize, usize)], budget: usize) -> Vec<Option<u8>> {
        let mut s = Stream::new();
        let mut budget = Budget::new(budget);
        let mut out: Vec<Option<u8>> = Vec::new();
        let mut sink = |d: Chunk<'_>| match d {
            Chunk::Data(b) => out.extend(b.iter().map(|&x| Some(x))),
            Chunk::Gap(n) => out.extend(std::iter::repeat_n(None, n as usize)),
        };
        s.push(isn, true, false, b"", &mut budget, &mut sink);
        for &(start, n) in segs {
            let seq = isn.wrapping_add(1).wrapping_add(start as u32);
            s.push(
                seq,
                false,
                false,
                &stream[start..start + n],
                &mut budget,
                &mut sink,
            );
        }
        s.flush(&mut budget, &mut sink);
        assert_eq!(budget.used, 0, "buffered bytes leaked");
        out
    }

    #[test]
    fn reassembly_matches_the_original_stream_whatever_the_segment_order() {
        let mut rng = Rng(0x5eed_1234_abcd_0001);
        for round in 0..2000 {
            let (stream, isn, segs) = scenario(&mut rng);
            let got = deliver(&stream, isn, &segs, 1 << 20);
            let want: Vec<Option<u8>> = stream.iter().map(|&b| Some(b)).collect();
            assert_eq!(got, want, "round {round}: isn {isn} segments {segs:?}");
        }
    }

    #[test]
    fn under_a_tight_budget_every_delivered_byte_is_right_and_holes_are_gaps() {
        let mut rng = Rng(0x0dd_ba11_cafe_0002);
        for round in 0..2000 {
            let (stream, isn, segs) = scenario(&mut rng);
            let limit = 1 + rng.below(1500) as usize;
            let got = deliver(&stream, isn, &segs, limit);
            assert_eq!(got.len(), stream.len(), "round {round}: length");
            for (i, b) in got.iter().enumerate() {
                if let Some(b) = b {
                    assert_eq!(*b, stream[i], "round {round}: byte {i}");
                }
            }
        }
    }

    #[test]
    fn a_fin_after_a_hole_reports_the_missing_bytes_as_a_gap() {
        let mut s = Stream::new();
        let mut budget = Budget::new(1 << 20);
        let mut out = Vec::new();
        let mut sink = |d: Chunk<'_>| out.push(format!("{d:?}"));
        s.push(99, true, false, b"", &mut budget, &mut sink);
        s.push(100, false, false, b"abc", &mut budget, &mut sink);
        s.push(110, false, true, b"", &mut budget, &mut sink);
        s.flush(&mut budget, &mut sink);
        assert_eq!(
            out,
            vec!["Data([97, 98, 99])".to_string(), "Gap(7)".to_string()]
        );
        assert_eq!(s.gaps, 1);
    }

    #[test]
    fn tiny_segments_are_charged_their_overhead_so_a_flood_of_them_is_bounded() {
        let mut s = Stream::new();
        let mut budget = Budget::new(1 << 20);
        let mut sink = |_: Chunk<'_>| {};
        s.push(100, false, false, b"a", &mut budget, &mut sink);
        // A hole at 101, then 100k one-byte segments beyond it.
        for i in 0..100_000u32 {
            s.push(200 + 2 * i, false, false, b"x", &mut budget, &mut sink);
            assert!(s.pending_bytes() <= MAX_PENDING_BYTES);
        }
        assert!(s.pending.len() <= MAX_PENDING_BYTES / (1 + SEGMENT_OVERHEAD));
        assert_eq!(s.pending_bytes(), s.pending.len() * (1 + SEGMENT_OVERHEAD));
        assert_eq!(budget.used, s.pending_bytes());
        assert!(budget.discarded_bytes > 0);
    }
}
