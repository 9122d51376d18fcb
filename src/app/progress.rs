//! The progress bar of a read, on stderr: only when stderr is a terminal, not with `--quiet`,
//! and only once the read has taken more than `DELAY` (short reads print nothing). A thread
//! polls the runtime's `Progress` counters and draws through `indicatif`: bytes read (of the
//! total, when every input's size is known), bytes and packets per second, the current input.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::runtime::progress::Progress;

/// Reads shorter than this show no bar.
pub const DELAY: Duration = Duration::from_secs(1);
const TICK: Duration = Duration::from_millis(100);

/// A running progress display; `finish` clears it.
pub struct Bar {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Bar {
    /// Starts the display of `progress` when stderr is a terminal and `quiet` is off; `total`
    /// is the inputs' size in bytes when known.
    pub fn start(progress: &Arc<Progress>, total: Option<u64>, quiet: bool) -> Bar {
        let stop = Arc::new(AtomicBool::new(false));
        if quiet || !std::io::stderr().is_terminal() {
            return Bar { stop, thread: None };
        }
        let (p, s) = (Arc::clone(progress), Arc::clone(&stop));
        let thread = std::thread::Builder::new()
            .name("progress".into())
            .spawn(move || draw(&p, total, &s))
            .ok();
        Bar { stop, thread }
    }

    pub fn finish(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Bar {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn draw(p: &Progress, total: Option<u64>, stop: &AtomicBool) {
    let began = Instant::now();
    while began.elapsed() < DELAY {
        if stop.load(Ordering::Relaxed) {
            return;
        }
        std::thread::sleep(TICK);
    }
    let bar = match total {
        Some(t) if t > 0 => ProgressBar::with_draw_target(Some(t), ProgressDrawTarget::stderr())
            .with_style(
                ProgressStyle::with_template(
                    "{spinner} [{bar:30}] {percent:>3}% {binary_bytes}/{binary_total_bytes} \
                     {binary_bytes_per_sec} {msg} eta {eta}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
            ),
        _ => ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr()).with_style(
            ProgressStyle::with_template(
                "{spinner} {binary_bytes} {binary_bytes_per_sec} {msg} {elapsed}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        ),
    };
    while !stop.load(Ordering::Relaxed) {
        let (bytes, packets, input) = p.read();
        let secs = began.elapsed().as_secs_f64().max(0.001);
        bar.set_position(bytes);
        bar.set_message(format!(
            "{packets} packets ({:.0}/s) {}",
            packets as f64 / secs,
            crate::report::text::clean(&input)
        ));
        bar.tick();
        std::thread::sleep(TICK);
    }
    bar.finish_and_clear();
}

/// The inputs' total size, when each is a regular file that is read as it is (not gzip,
/// whose decompressed size is unknown, nor stdin or a FIFO).
pub fn total_size(paths: &[std::path::PathBuf]) -> Option<u64> {
    let mut sum = 0u64;
    for p in paths {
        let m = std::fs::metadata(p).ok()?;
        if !m.is_file() || is_gzip(p) {
            return None;
        }
        sum = sum.saturating_add(m.len());
    }
    Some(sum)
}

fn is_gzip(p: &std::path::Path) -> bool {
    use std::io::Read;
    let mut magic = [0u8; 2];
    std::fs::File::open(p)
        .and_then(|mut f| f.read_exact(&mut magic))
        .is_ok_and(|()| magic == [0x1f, 0x8b])
}
