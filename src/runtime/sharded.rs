//! Capture files on several cores: one thread reads and decodes packets and computes each
//! segment's flow hash once; `N` workers each own a pipeline (flow table, TLS, tracker).
//! Segments go to the worker the hash picks, so both directions of a connection meet in one
//! worker, and carry the hash there for the worker's flow table. They travel in batches over
//! bounded crossbeam channels, borrowing the packet bytes from the memory-mapped input (no
//! copies). At the end the workers' histories merge; aggregates are order-free, so the report
//! is the same for every number of workers. Inputs are opened a few at a time; each stays
//! mapped until the workers have processed its last batch.

use crossbeam_channel::{bounded, Sender};

use std::borrow::Borrow;

use super::progress::{Hooks, Progress, Ticker};
use super::{finished, NamedInput, Pages};
use crate::capture::file::{FileReader, ReadOutcome};
use crate::capture::input::{CaptureError, Input};
use crate::decode::Decoded;
use crate::evidence::Evidence;
use crate::pipeline::{FlowHasher, Limits, Pipeline};
use crate::tracker::History;

/// Segments per message: amortises the channel's per-message cost.
const BATCH: usize = 256;
/// Batches in flight per worker: bounds memory and lets the reader run ahead a little.
const QUEUE: usize = 8;
/// Inputs opened and mapped at once, at most (files, bytes): one group shares a start and
/// stop of the workers, which borrow packet bytes from its maps.
const GROUP_FILES: usize = 64;
const GROUP_BYTES: usize = 1 << 30;
/// A batch is sent early once the reassembled datagrams it owns reach this many bytes, so
/// what is in flight stays bounded (`QUEUE` × this, per worker) even when every segment is a
/// 64 KB reassembled datagram.
const BATCH_OWNED_BYTES: usize = 1 << 20;

/// A decoded packet on its way to a worker: a segment borrowed from the mapped input (with its
/// flow hash), or a datagram reassembled from IPv4 fragments, owned, so its bytes live only
/// until the worker has processed it.
struct Item<'a> {
    decoded: Decoded<'a>,
    hash: u64,
    at: Evidence,
}

type Batch<'a> = Vec<Item<'a>>;

/// Reads `inputs` with `threads` workers; returns the merged history and how reading each
/// input ended. Stops at the first input that is not a capture.
pub fn read(
    inputs: &[NamedInput<'_>],
    threads: usize,
    limits: Limits,
) -> Result<(History, Vec<ReadOutcome>), CaptureError> {
    read_each(
        inputs.iter().map(|(n, i)| Ok((n.clone(), *i))),
        threads,
        limits,
    )
}

/// Reads inputs opened as the iterator yields them, in groups of a few (`GROUP_FILES`,
/// `GROUP_BYTES`; a large capture is a group of its own). The workers borrow packet bytes from
/// the group's maps, so at the end of each group its last batches are sent and the workers
/// finish them (their threads end; their pipelines, with every open connection, carry on into
/// the next group) before its inputs are dropped. Stops at the first error.
pub fn read_each<B: Borrow<Input>>(
    inputs: impl IntoIterator<Item = Result<(String, B), CaptureError>>,
    threads: usize,
    limits: Limits,
) -> Result<(History, Vec<ReadOutcome>), CaptureError> {
    read_each_with(inputs, threads, limits, Hooks::default())
}

/// `read_each`, also writing each connection's record to `hooks.log` (the reader names the
/// inputs, the workers write the records) and reporting progress.
pub fn read_each_with<B: Borrow<Input>>(
    inputs: impl IntoIterator<Item = Result<(String, B), CaptureError>>,
    threads: usize,
    limits: Limits,
    hooks: Hooks,
) -> Result<(History, Vec<ReadOutcome>), CaptureError> {
    let log = hooks.log;
    let threads = threads.max(1);
    let per_worker = worker_limits(limits, threads);
    let mut reader = Pipeline::new(per_worker).with_log(log.clone());
    let hasher = reader.hasher().clone();
    let mut workers: Vec<Pipeline> = (0..threads)
        .map(|_| Pipeline::with_hasher(per_worker, hasher.clone()).with_log(log.clone()))
        .collect();
    let mut outcomes = Vec::new();
    let mut inputs = inputs.into_iter();
    loop {
        // A group of inputs shares one start and stop of the worker threads: small files
        // would otherwise cost more in thread starts than in reading.
        let mut group: Vec<(String, B)> = Vec::new();
        let mut bytes = 0usize;
        while group.len() < GROUP_FILES && bytes < GROUP_BYTES {
            let Some(item) = inputs.next() else { break };
            let (name, input) = item?;
            bytes += input.borrow().bytes().len();
            group.push((name, input));
        }
        if group.is_empty() {
            break;
        }
        let progress = hooks.progress.as_deref();
        outcomes.extend(read_group(
            &mut reader,
            &mut workers,
            &group,
            &hasher,
            progress,
        )?);
    }
    let mut history = reader.into_history();
    for mut w in workers {
        w.finish();
        history.merge(w.into_history());
    }
    Ok((history, outcomes))
}

/// One worker's share of the caps when `threads` workers split the flows: flow tables and
/// buffers are divided; history caps are not.
pub(super) fn worker_limits(limits: Limits, threads: usize) -> Limits {
    Limits {
        max_flows: (limits.max_flows / threads).max(1),
        max_buffered_bytes: limits.max_buffered_bytes / threads,
        quic: crate::transport::quic::Limits {
            max_flows: (limits.quic.max_flows / threads).max(1),
            max_held_bytes: limits.quic.max_held_bytes / threads,
            ..limits.quic
        },
        // Every worker sees every service (flows, not services, are spread), so each gets the
        // whole history cap: the report is the same for every -j unless the cap is reached.
        // Memory for history is then bounded by threads x the cap.
        ..limits
    }
}

/// A few inputs, in order, through the reader and the workers; returns once the workers
/// processed all of them.
fn read_group<B: Borrow<Input>>(
    reader: &mut Pipeline,
    workers: &mut [Pipeline],
    group: &[(String, B)],
    hasher: &FlowHasher,
    progress: Option<&Progress>,
) -> Result<Vec<ReadOutcome>, CaptureError> {
    let threads = workers.len();
    std::thread::scope(|scope| {
        let mut senders: Vec<Sender<Batch<'_>>> = Vec::new();
        let mut handles = Vec::new();
        for worker in workers.iter_mut() {
            let (tx, rx) = bounded::<Batch<'_>>(QUEUE);
            senders.push(tx);
            handles.push(scope.spawn(move || {
                for batch in rx {
                    for item in &batch {
                        match &item.decoded {
                            Decoded::Segment(seg) => worker.push_segment(seg, item.hash, item.at),
                            Decoded::Datagram(d) => worker.push_datagram(d, item.at),
                            Decoded::Udp(d) => worker.push_udp(d, item.at),
                        }
                    }
                }
            }));
        }
        let mut out = Outbox {
            batches: (0..threads).map(|_| Vec::with_capacity(BATCH)).collect(),
            owned: vec![0; threads],
            senders,
        };
        let result = (|| {
            let mut outcomes = Vec::with_capacity(group.len());
            for (name, input) in group {
                let input = input.borrow();
                reader.begin_input(name);
                let mut file = FileReader::new(input.bytes(), name)?;
                let mut pages = Pages::new(input);
                let mut ticker = Ticker::new(progress);
                while let Some(pkt) = file.next() {
                    if let Some((decoded, at)) = reader.decode(&pkt) {
                        out.send(decoded, at, hasher, threads);
                    }
                    pages.read_up_to(&file);
                    ticker.packet(file.offset());
                }
                ticker.end(file.offset(), input.bytes().len());
                outcomes.push(finished(file, &mut reader.history_mut().stats));
            }
            Ok(outcomes)
        })();
        out.flush();
        for h in handles {
            h.join().expect("worker panicked");
        }
        result
    })
}

/// The reader's batches, one per worker.
struct Outbox<'a> {
    batches: Vec<Batch<'a>>,
    /// Bytes of reassembled datagrams in each batch.
    owned: Vec<usize>,
    senders: Vec<Sender<Batch<'a>>>,
}

impl<'a> Outbox<'a> {
    fn send(&mut self, decoded: Decoded<'a>, at: Evidence, hasher: &FlowHasher, n: usize) {
        let (w, hash) = match &decoded {
            Decoded::Segment(seg) => {
                let hash = hasher.hash(seg);
                (shard(hash, n), hash)
            }
            Decoded::Udp(d) => {
                let hash = hasher.hash_udp(d);
                (shard(hash, n), hash)
            }
            Decoded::Datagram(d) => {
                // Not TCP: the worker counts it; any worker will do.
                let hash = d.decode().map_or(0, |seg| hasher.hash(&seg));
                let w = shard(hash, n);
                self.owned[w] += d.len();
                (w, hash)
            }
        };
        self.batches[w].push(Item { decoded, hash, at });
        if self.batches[w].len() == BATCH || self.owned[w] >= BATCH_OWNED_BYTES {
            self.owned[w] = 0;
            let full = std::mem::replace(&mut self.batches[w], Vec::with_capacity(BATCH));
            self.senders[w].send(full).expect("worker alive");
        }
    }

    /// Sends what is left and closes the channels, so the workers finish.
    fn flush(self) {
        for (batch, tx) in self.batches.into_iter().zip(&self.senders) {
            if !batch.is_empty() {
                tx.send(batch).expect("worker alive");
            }
        }
    }
}

/// The worker for a flow hash; the same for both directions. Takes bits from the middle of
/// the hash: the flow table uses its low bits for buckets and its top bits for tags, which
/// would then be the same for all of one worker's flows.
pub(super) fn shard(hash: u64, n: usize) -> usize {
    ((u64::from((hash >> 24) as u32) * n as u64) >> 32) as usize
}

#[cfg(test)]
mod tests {
    use super::shard;

    #[test]
    fn shards_cover_every_worker_and_stay_in_range() {
        for n in 1..=8 {
            let mut seen = vec![false; n];
            for i in 0..10_000u64 {
                let h = i.wrapping_mul(0x9e37_79b9_7f4a_7c15);
                let w = shard(h, n);
                assert!(w < n);
                seen[w] = true;
            }
            assert!(seen.iter().all(|s| *s), "{n}");
        }
    }
}
