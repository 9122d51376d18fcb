//! Multi-core reading: one thread reads and decodes packets, `N` workers each own a flow table
//! and a tracker. Segments go to the worker chosen by a symmetric hash of their flow, so both
//! directions of a connection meet in one worker; they travel in batches over bounded
//! crossbeam channels, borrowing the packet bytes from the memory-mapped input (no copies).
//! At the end the workers' trackers merge; aggregates are order-free, so the report is the same
//! for every number of workers.

use std::hash::{Hash, Hasher};

use crossbeam_channel::{bounded, Sender};

use crate::capture::file::{self, CaptureError, Input, ReadOutcome};
use crate::decode::{self, Segment};
use crate::flow::Limits;
use crate::pipeline::{Decoded, Pipeline};

/// Segments per message: amortises the channel's per-message cost.
const BATCH: usize = 256;
/// Batches in flight per worker: bounds memory and lets the reader run ahead a little.
const QUEUE: usize = 8;
/// A batch is sent early once the reassembled datagrams it owns reach this many bytes, so
/// what is in flight stays bounded (`QUEUE` × this, per worker) even when every segment is a
/// 64 KB reassembled datagram.
const BATCH_OWNED_BYTES: usize = 1 << 20;

/// Segments for a worker: borrowed from the mapped input, or, for datagrams reassembled from
/// IPv4 fragments, owned (decoded by the worker), so reassembled bytes live only until their
/// segment is processed.
type Batch<'a> = Vec<Decoded<'a>>;

/// Reads `inputs` (name, input) with `threads` workers; returns the merged pipeline and how
/// reading each input ended. Stops at the first input that is not a capture.
pub fn read_sharded(
    inputs: &[(String, &Input)],
    threads: usize,
    limits: Limits,
) -> Result<(Pipeline, Vec<ReadOutcome>), CaptureError> {
    let threads = threads.max(1);
    let per_worker = Limits {
        max_flows: (limits.max_flows / threads).max(1),
        max_buffered_bytes: limits.max_buffered_bytes / threads,
        max_tracker_bytes: limits.max_tracker_bytes / threads,
        ..limits
    };
    let mut reader = Pipeline::new(per_worker);
    // The workers' histories merge into the reader's: it may hold all of them.
    reader.tracker.max_bytes = limits.max_tracker_bytes;
    let mut outcomes = Vec::new();
    let workers = std::thread::scope(|scope| {
        let mut senders: Vec<Sender<Batch<'_>>> = Vec::new();
        let mut handles = Vec::new();
        for _ in 0..threads {
            let (tx, rx) = bounded::<Batch<'_>>(QUEUE);
            senders.push(tx);
            handles.push(scope.spawn(move || {
                let mut worker = Pipeline::new(per_worker);
                for batch in rx {
                    for item in &batch {
                        match item {
                            Decoded::Segment(seg, at) => worker.push_segment(seg, *at),
                            Decoded::Datagram(data, at) => worker.push_datagram(data, *at),
                        }
                    }
                }
                worker.finish();
                worker
            }));
        }
        let mut batches: Vec<Batch<'_>> = (0..threads).map(|_| Vec::with_capacity(BATCH)).collect();
        let mut owned = vec![0usize; threads];
        let mut result = Ok(());
        for (name, input) in inputs {
            reader.begin_input(name);
            let bytes: &[u8] = input.bytes();
            let read = file::read_packets_with(
                bytes,
                name,
                &mut |pkt| {
                    let Some(item) = reader.decode(pkt) else {
                        return;
                    };
                    let w = match &item {
                        Decoded::Segment(seg, _) => shard(seg, threads),
                        Decoded::Datagram(data, _) => {
                            // Not TCP: the worker counts it; any worker will do.
                            let w = decode::decode_ip(data).map_or(0, |seg| shard(&seg, threads));
                            owned[w] += data.len();
                            w
                        }
                    };
                    batches[w].push(item);
                    if batches[w].len() == BATCH || owned[w] >= BATCH_OWNED_BYTES {
                        owned[w] = 0;
                        let full = std::mem::replace(&mut batches[w], Vec::with_capacity(BATCH));
                        senders[w].send(full).expect("worker alive");
                    }
                },
                &mut |done| input.release(done),
            );
            match read {
                Ok(outcome) => outcomes.push(outcome),
                Err(e) => {
                    result = Err(e);
                    break;
                }
            }
        }
        for (w, batch) in batches.into_iter().enumerate() {
            if !batch.is_empty() {
                senders[w].send(batch).expect("worker alive");
            }
        }
        drop(senders);
        let workers: Vec<Pipeline> = handles
            .into_iter()
            .map(|h| h.join().expect("worker panicked"))
            .collect();
        result.map(|()| workers)
    })?;
    for w in workers {
        reader.merge(w);
    }
    Ok((reader, outcomes))
}

/// The worker for a segment's flow; the same for both directions.
fn shard(seg: &Segment<'_>, n: usize) -> usize {
    if n == 1 {
        return 0;
    }
    let (a, b) = if seg.src <= seg.dst {
        (seg.src, seg.dst)
    } else {
        (seg.dst, seg.src)
    };
    let mut h = std::hash::DefaultHasher::new();
    (a, b).hash(&mut h);
    (h.finish() % n as u64) as usize
}
