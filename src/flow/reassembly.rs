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

/// Out-of-order bytes one stream may hold.
pub const MAX_PENDING_BYTES: usize = 256 * 1024;

/// Shared limit on out-of-order bytes across all streams.
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
}

/// What a stream hands to its consumer.
#[derive(Debug, PartialEq, Eq)]
pub enum Delivery<'a> {
    Data(&'a [u8]),
    /// This many bytes are missing before the next `Data`.
    Gap(u64),
}

#[derive(Debug, Default)]
pub struct Stream {
    /// Sequence number of stream offset `delivered`; `None` until the first segment.
    next: Option<SeqNumber>,
    delivered: u64,
    pending: BTreeMap<u64, Vec<u8>>,
    pending_bytes: usize,
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

    pub fn pending_bytes(&self) -> usize {
        self.pending_bytes
    }

    /// Takes one segment. `syn` marks a SYN (its sequence number precedes the first data byte).
    pub fn push(
        &mut self,
        seq: u32,
        syn: bool,
        payload: &[u8],
        budget: &mut Budget,
        out: &mut dyn FnMut(Delivery<'_>),
    ) {
        let mut seq = SeqNumber(seq);
        if syn {
            seq = seq + 1;
        }
        let next = *self.next.get_or_insert(seq);
        if payload.is_empty() {
            return;
        }
        let dist = seq.distance_from(next);
        let start = self.delivered as i64 + dist;
        let end = start + payload.len() as i64;
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

    /// Delivers everything still buffered, skipping holes: the stream will get no more data.
    pub fn flush(&mut self, budget: &mut Budget, out: &mut dyn FnMut(Delivery<'_>)) {
        while let Some((&start, _)) = self.pending.first_key_value() {
            if start > self.delivered {
                self.skip_to(start, out);
            }
            self.drain(budget, out);
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
        out: &mut dyn FnMut(Delivery<'_>),
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
            let fits = self.pending_bytes + payload.len() <= MAX_PENDING_BYTES
                && budget.used + payload.len() <= budget.limit;
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

    fn insert(&mut self, start: u64, payload: &[u8], budget: &mut Budget) {
        match self.pending.get(&start) {
            Some(old) if old.len() >= payload.len() => {
                self.retransmitted_bytes += payload.len() as u64;
            }
            old => {
                // Same start but longer: keep the old bytes (first wins), add the new tail.
                let mut bytes = payload.to_vec();
                if let Some(old) = old {
                    bytes[..old.len()].copy_from_slice(old);
                    self.retransmitted_bytes += old.len() as u64;
                    self.pending_bytes -= old.len();
                    budget.used -= old.len();
                }
                self.pending_bytes += bytes.len();
                budget.used += bytes.len();
                self.pending.insert(start, bytes);
            }
        }
    }

    fn drain(&mut self, budget: &mut Budget, out: &mut dyn FnMut(Delivery<'_>)) {
        while let Some(entry) = self.pending.first_entry() {
            let start = *entry.key();
            if start > self.delivered {
                break;
            }
            let bytes = entry.remove();
            self.pending_bytes -= bytes.len();
            budget.used -= bytes.len();
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

    fn skip_to(&mut self, offset: u64, out: &mut dyn FnMut(Delivery<'_>)) {
        if offset > self.delivered {
            let missing = offset - self.delivered;
            self.advance(missing);
            self.gaps += 1;
            out(Delivery::Gap(missing));
        }
    }

    fn deliver(&mut self, bytes: &[u8], out: &mut dyn FnMut(Delivery<'_>)) {
        self.advance(bytes.len() as u64);
        out(Delivery::Data(bytes));
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
        let mut sink = |d: Delivery<'_>| match d {
            Delivery::Data(b) => out.push_str(std::str::from_utf8(b).unwrap()),
            Delivery::Gap(n) => out.push_str(&format!("<gap {n}>")),
        };
        s.push(999, true, b"", &mut budget, &mut sink);
        for (seq, text) in segments {
            s.push(*seq, false, text.as_bytes(), &mut budget, &mut sink);
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
    fn pickup_without_syn_starts_at_the_first_segment_seen() {
        let mut s = Stream::new();
        let mut budget = Budget::new(1 << 20);
        let mut got = Vec::new();
        s.push(5000, false, b"xy", &mut budget, &mut |d| {
            if let Delivery::Data(b) = d {
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
        let mut sink = |d: Delivery<'_>| {
            if let Delivery::Data(b) = d {
                got.extend_from_slice(b)
            }
        };
        s.push(u32::MAX - 1, false, b"ab", &mut budget, &mut sink);
        s.push(2, false, b"ef", &mut budget, &mut sink);
        s.push(0, false, b"cd", &mut budget, &mut sink);
        assert_eq!(got, b"abcdef");
    }

    #[test]
    fn budget_exhaustion_skips_the_hole_and_counts_it() {
        let mut s = Stream::new();
        let mut budget = Budget::new(4);
        let mut out = Vec::new();
        let mut sink = |d: Delivery<'_>| out.push(format!("{d:?}"));
        s.push(100, false, b"a", &mut budget, &mut sink);
        s.push(105, false, b"fgh", &mut budget, &mut sink);
        s.push(110, false, b"klm", &mut budget, &mut sink);
        assert_eq!(budget.discarded_bytes, 4);
        assert_eq!(s.gaps, 1);
        assert!(out.contains(&"Gap(4)".to_string()), "{out:?}");
    }
}
