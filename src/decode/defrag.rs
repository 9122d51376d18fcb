//! Bounded IPv4 and IPv6 defragmentation. Fragments are held per (source, destination,
//! identification, protocol, tunnel) until the datagram is complete, for at most
//! `TIMEOUT_SECS` of packet time. An IPv6 datagram is rebuilt with its fixed header only (the
//! extension headers before the fragment header are dropped: nothing downstream reads them).
//!
//! Invariants: at most `MAX_DATAGRAMS` datagrams and `MAX_BYTES` fragment bytes are held
//! (each fragment counted with `FRAGMENT_OVERHEAD`, so floods of tiny fragments are bounded in
//! memory too); a datagram never grows past 65535 bytes. Expiry visits only expired datagrams
//! (an index by first-fragment time), so its cost does not grow with what is pending. What a cap or the timeout throws away is counted
//! in `Stats::ip_fragments_dropped`. Overlapping fragments: the first bytes received for an offset win.

use hashbrown::HashMap;
use std::collections::{BTreeMap, BTreeSet};

use super::tunnel::Tunnel;
use crate::stats::Stats;
use crate::time::Timestamp;

pub const MAX_DATAGRAMS: usize = 4096;
pub const MAX_BYTES: usize = 16 << 20;
pub const TIMEOUT_SECS: i64 = 30;
/// What one held fragment costs beyond its payload (map entry, vector, allocation).
pub const FRAGMENT_OVERHEAD: usize = 96;

/// One IPv4 or IPv6 fragment, borrowed from its packet.
#[derive(Clone, Copy, Debug)]
pub struct Fragment<'a> {
    /// Addresses as in `Endpoint` (IPv4 mapped into IPv6).
    pub src: u128,
    pub dst: u128,
    pub v6: bool,
    /// The tunnel the fragment came through, and how many tunnel headers it was inside.
    pub tunnel: Option<Tunnel>,
    pub encaps: u8,
    /// IPv4's 16-bit or IPv6's 32-bit identification.
    pub id: u32,
    /// The protocol of the datagram's payload (IPv6: the fragment header's next header).
    pub protocol: u8,
    /// Byte offset of `payload` in the datagram.
    pub offset: usize,
    pub more: bool,
    /// The IPv4 header (with options), or IPv6's fixed 40-byte header, of this fragment.
    pub header: &'a [u8],
    pub payload: &'a [u8],
}

#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct Key(u128, u128, bool, Option<Tunnel>, u32, u8);

struct Pending {
    first: Timestamp,
    /// Header of the fragment at offset 0, once seen.
    header: Option<Vec<u8>>,
    v6: bool,
    protocol: u8,
    parts: BTreeMap<usize, Vec<u8>>,
    /// Datagram payload length, known from the last fragment (MF clear).
    total: Option<usize>,
    bytes: usize,
    /// The parts cover `0..contiguous` without a hole; parts starting below `cursor` have
    /// been counted in it. Kept up to date per fragment, so completion is checked in
    /// constant time and a datagram of n fragments costs O(n log n), not O(n²).
    contiguous: usize,
    cursor: usize,
}

#[derive(Default)]
pub struct Defrag {
    pending: HashMap<Key, Pending>,
    /// `pending` ordered by first-fragment time, for expiry.
    by_time: BTreeSet<(Timestamp, Key)>,
    /// Memory charged for held fragments (payload + `FRAGMENT_OVERHEAD` each).
    bytes: usize,
}

impl Defrag {
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes a fragment; returns the whole datagram (IPv4 header + payload) once complete.
    pub fn push(&mut self, f: &Fragment<'_>, now: Timestamp, stats: &mut Stats) -> Option<Vec<u8>> {
        self.expire(now, stats);
        let key = Key(f.src, f.dst, f.v6, f.tunnel, f.id, f.protocol);
        if f.offset + f.payload.len() > 65535 - f.header.len() {
            stats.ip_fragments_dropped += 1;
            return None;
        }
        let cost = f.payload.len() + FRAGMENT_OVERHEAD;
        if !self.pending.contains_key(&key)
            && (self.pending.len() >= MAX_DATAGRAMS || self.bytes + cost > MAX_BYTES)
        {
            stats.ip_fragments_dropped += 1;
            return None;
        }
        if self.bytes + cost > MAX_BYTES {
            stats.ip_fragments_dropped += 1;
            return None;
        }
        let by_time = &mut self.by_time;
        let p = self.pending.entry(key).or_insert_with(|| {
            by_time.insert((now, key));
            Pending {
                first: now,
                header: None,
                v6: f.v6,
                protocol: f.protocol,
                parts: BTreeMap::new(),
                total: None,
                bytes: 0,
                contiguous: 0,
                cursor: 0,
            }
        });
        if f.offset == 0 && p.header.is_none() {
            p.header = Some(f.header.to_vec());
        }
        if !f.more {
            p.total = Some(f.offset + f.payload.len());
        }
        if let std::collections::btree_map::Entry::Vacant(e) = p.parts.entry(f.offset) {
            e.insert(f.payload.to_vec());
            p.bytes += cost;
            self.bytes += cost;
            if f.offset <= p.contiguous {
                p.contiguous = p.contiguous.max(f.offset + f.payload.len());
            }
            Self::advance(p);
        }
        if p.total.is_none_or(|t| p.contiguous < t) {
            return None;
        }
        let datagram = Self::complete(p)?;
        let p = self.pending.remove(&key).expect("present");
        self.by_time.remove(&(p.first, key));
        self.bytes -= p.bytes;
        stats.ip_datagrams_reassembled += 1;
        Some(datagram)
    }

    /// Extends the contiguous prefix over parts not counted yet.
    fn advance(p: &mut Pending) {
        while let Some((&off, part)) = p.parts.range(p.cursor..).next() {
            if off > p.contiguous {
                break;
            }
            p.contiguous = p.contiguous.max(off + part.len());
            p.cursor = off + 1;
        }
    }

    fn complete(p: &Pending) -> Option<Vec<u8>> {
        let (header, total) = (p.header.as_ref()?, p.total?);
        let mut payload = Vec::with_capacity(total);
        for (&off, part) in &p.parts {
            if off > payload.len() {
                return None;
            }
            let skip = payload.len() - off;
            if skip < part.len() {
                payload.extend_from_slice(&part[skip..]);
            }
        }
        if payload.len() < total {
            return None;
        }
        payload.truncate(total);
        let mut out = header.clone();
        if p.v6 {
            // Fixed header only: payload length and next header are the datagram's now.
            out.truncate(40);
            out[4..6].copy_from_slice(&(total as u16).to_be_bytes());
            out[6] = p.protocol;
        } else {
            let len = (header.len() + total) as u16;
            out[2..4].copy_from_slice(&len.to_be_bytes());
            out[6] = 0; // flags and fragment offset: a whole datagram now
            out[7] = 0;
        }
        out.extend_from_slice(&payload);
        Some(out)
    }

    fn expire(&mut self, now: Timestamp, stats: &mut Stats) {
        // Oldest first: the expired datagrams are a prefix of `by_time`.
        while let Some(&(first, key)) = self.by_time.first() {
            if now.seconds_since(first) <= TIMEOUT_SECS {
                break;
            }
            self.by_time.pop_first();
            if let Some(p) = self.pending.remove(&key) {
                self.bytes -= p.bytes;
                stats.ip_fragments_dropped += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frag<'a>(header: &'a [u8], payload: &'a [u8], offset: usize, more: bool) -> Fragment<'a> {
        Fragment {
            src: 1,
            dst: 2,
            v6: false,
            tunnel: None,
            encaps: 0,
            id: 7,
            protocol: 6,
            offset,
            more,
            header,
            payload,
        }
    }

    #[test]
    fn fragments_in_any_order_make_one_datagram() {
        let header = [0x45u8; 20];
        let mut d = Defrag::new();
        let mut stats = Stats::default();
        let t = Timestamp::from_parts(100, 0);
        assert!(d
            .push(&frag(&header, b"IJKL", 8, false), t, &mut stats)
            .is_none());
        let whole = d
            .push(&frag(&header, b"ABCDEFGH", 0, true), t, &mut stats)
            .expect("complete");
        assert_eq!(&whole[20..], b"ABCDEFGHIJKL");
        assert_eq!(u16::from_be_bytes([whole[2], whole[3]]), 32);
        assert_eq!(stats.ip_datagrams_reassembled, 1);
    }

    #[test]
    fn a_datagram_of_eight_thousand_tiny_fragments_is_reassembled_in_linear_time() {
        let header = [0x45u8; 20];
        let mut d = Defrag::new();
        let mut stats = Stats::default();
        let t = Timestamp::from_parts(100, 0);
        let n = 8000;
        // Last fragment first (total known at once), then the rest backwards: every push
        // before the last leaves a hole at the front.
        let mut whole = None;
        for k in (0..n).rev() {
            let f = frag(&header, b"ABCDEFGH", k * 8, k + 1 < n);
            whole = d.push(&f, t, &mut stats);
            if k > 0 {
                assert!(whole.is_none());
            }
        }
        let whole = whole.expect("complete");
        assert_eq!(whole.len(), 20 + n * 8);
        assert_eq!(stats.ip_datagrams_reassembled, 1);
    }

    #[test]
    fn an_unfinished_datagram_expires_and_is_counted() {
        let header = [0x45u8; 20];
        let mut d = Defrag::new();
        let mut stats = Stats::default();
        assert!(d
            .push(
                &frag(&header, b"ABCDEFGH", 0, true),
                Timestamp::from_parts(100, 0),
                &mut stats
            )
            .is_none());
        let mut other = frag(&header, b"x", 0, true);
        other.id = 8;
        assert!(d
            .push(&other, Timestamp::from_parts(200, 0), &mut stats)
            .is_none());
        assert_eq!(stats.ip_fragments_dropped, 1);
        assert_eq!(d.bytes, 1 + FRAGMENT_OVERHEAD);
        assert_eq!(d.by_time.len(), 1);
    }

    #[test]
    fn tiny_fragments_are_charged_their_overhead_and_expiry_stays_cheap() {
        let header = [0x45u8; 20];
        let mut d = Defrag::new();
        let mut stats = Stats::default();
        let t = Timestamp::from_parts(100, 0);
        // 1000 datagrams, each 8-byte fragments that never complete.
        let mut held = 0;
        for k in 0..1000 {
            for id in 0..1000u16 {
                let mut f = frag(&header, b"ABCDEFGH", k * 8, true);
                f.id = u32::from(id);
                held += usize::from(d.push(&f, t, &mut stats).is_none());
            }
        }
        assert_eq!(held, 1_000_000);
        assert!(d.bytes <= MAX_BYTES);
        let parts: usize = d.pending.values().map(|p| p.parts.len()).sum();
        assert!(parts <= MAX_BYTES / (8 + FRAGMENT_OVERHEAD), "{parts}");
        assert!(stats.ip_fragments_dropped > 0);
        // All expire at once, and the index empties with them.
        let mut f = frag(&header, b"x", 0, true);
        f.id = 4242;
        d.push(&f, Timestamp::from_parts(200, 0), &mut stats);
        assert_eq!(d.pending.len(), 1);
        assert_eq!(d.by_time.len(), 1);
        assert_eq!(d.bytes, 1 + FRAGMENT_OVERHEAD);
    }
}
