//! How far a read has got, for a progress display: bytes of the inputs read and packets, kept
//! in atomics that the reading loop bumps every `EVERY` packets (and at the end of each input)
//! and that another thread (`app::progress`) polls. Reading never waits for the display.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// Packets between two updates of the shared counters.
pub const EVERY: u64 = 1024;

#[derive(Debug, Default)]
pub struct Progress {
    /// Bytes of the finished inputs.
    base: AtomicU64,
    bytes: AtomicU64,
    packets: AtomicU64,
    /// The input being read or opened.
    input: Mutex<String>,
}

impl Progress {
    /// Input `name` comes next (it may take a while to open: a spool from stdin or gzip).
    pub fn input(&self, name: &str) {
        if let Ok(mut n) = self.input.lock() {
            n.clear();
            n.push_str(name);
        }
    }

    /// `offset` bytes of the current input read; `packets` more packets since the last call.
    pub fn at(&self, offset: usize, packets: u64) {
        let base = self.base.load(Ordering::Relaxed);
        self.bytes
            .store(base.saturating_add(offset as u64), Ordering::Relaxed);
        self.packets.fetch_add(packets, Ordering::Relaxed);
    }

    /// The current input ended after `len` bytes.
    pub fn end_input(&self, len: usize) {
        let base = self.base.fetch_add(len as u64, Ordering::Relaxed) + len as u64;
        self.bytes.store(base, Ordering::Relaxed);
    }

    /// (bytes read, packets read, current input).
    pub fn read(&self) -> (u64, u64, String) {
        (
            self.bytes.load(Ordering::Relaxed),
            self.packets.load(Ordering::Relaxed),
            self.input.lock().map(|n| n.clone()).unwrap_or_default(),
        )
    }
}

/// What a read does besides building the history: per-connection records and progress.
#[derive(Clone, Debug, Default)]
pub struct Hooks {
    pub log: Option<std::sync::Arc<crate::report::log::ConnLog>>,
    pub progress: Option<std::sync::Arc<Progress>>,
}

/// Counts packets of one input between updates of a `Progress`.
pub(super) struct Ticker<'a> {
    progress: Option<&'a Progress>,
    since: u64,
}

impl<'a> Ticker<'a> {
    pub(super) fn new(progress: Option<&'a Progress>) -> Self {
        Ticker { progress, since: 0 }
    }

    #[inline]
    pub(super) fn packet(&mut self, offset: usize) {
        self.since += 1;
        if self.since == EVERY {
            if let Some(p) = self.progress {
                p.at(offset, self.since);
            }
            self.since = 0;
        }
    }

    pub(super) fn end(&mut self, offset: usize, len: usize) {
        if let Some(p) = self.progress {
            p.at(offset, self.since);
            p.end_input(len);
        }
        self.since = 0;
    }
}
