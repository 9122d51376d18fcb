//! Runtimes: what drives the one `Pipeline`. Each pulls packets from a source and pushes them
//! through: `single` (capture files on one thread), `sharded` (capture files, a reading thread
//! and workers), `live` (cargo feature "live": an interface, with checkpoints and an alert
//! stream). They return a `History`, or, for `live`, the final report.

#[cfg(feature = "live")]
pub mod live;
#[cfg(feature = "live")]
pub mod live_workers;
pub mod progress;
pub mod sharded;
pub mod single;

use crate::capture::file::{FileReader, ReadOutcome};
use crate::capture::input::{Input, RELEASE_EVERY};
use crate::stats::Stats;

/// A failure that ends a run (the commands exit with status 2).
#[derive(Debug)]
pub struct RunError(pub String);

impl From<crate::state::StateError> for RunError {
    fn from(e: crate::state::StateError) -> Self {
        RunError(e.to_string())
    }
}

impl From<crate::capture::input::CaptureError> for RunError {
    fn from(e: crate::capture::input::CaptureError) -> Self {
        RunError(e.to_string())
    }
}

impl std::fmt::Display for RunError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for RunError {}

/// One opened input of a read: its name (as reports show it) and its bytes.
pub type NamedInput<'a> = (String, &'a Input);

/// Hands the input's pages back behind a reader, every `RELEASE_EVERY` bytes
/// (`Input::release`), so a capture of any size costs bounded memory.
struct Pages<'a> {
    input: &'a Input,
    next: usize,
}

impl<'a> Pages<'a> {
    fn new(input: &'a Input) -> Self {
        Pages {
            input,
            next: RELEASE_EVERY,
        }
    }

    fn read_up_to(&mut self, reader: &FileReader<'_>) {
        let done = reader.offset();
        if done >= self.next {
            self.next = done + RELEASE_EVERY;
            self.input.release(done);
        }
    }
}

/// What reading a file ended with; its skipped blocks join the run's counters.
fn finished(reader: FileReader<'_>, stats: &mut Stats) -> ReadOutcome {
    let outcome = reader.into_outcome();
    stats.skipped_capture_blocks += outcome.skipped_blocks;
    outcome
}
