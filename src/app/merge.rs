//! `stekwatch merge A B ... -o OUT`: one state holding every input's history, the same in any
//! order.

use std::path::{Path, PathBuf};

use super::RunError;
use crate::report::stream::AlertStream;
use crate::state;
use crate::tracker::{History, MAX_TRACKER_BYTES};

/// An existing `OUT` must itself be a state file (it is replaced, not merged, unless it is
/// also an input). Returns a one-line account and warnings about inputs two states share.
pub fn run(
    inputs: &[PathBuf],
    out: &Path,
    lock_wait_secs: u64,
) -> Result<(String, Vec<String>), RunError> {
    // Held until OUT is written, and taken before the inputs are read (OUT may be one).
    let _lock = super::lock_state(out, lock_wait_secs)?;
    let mut h = History::new(MAX_TRACKER_BYTES);
    let mut announced = AlertStream::new();
    let mut warnings = Vec::new();
    let mut loaded = Vec::new();
    for path in inputs {
        let snap = state::load(path)?
            .ok_or_else(|| RunError(format!("{}: no such state file", path.display())))?;
        loaded.push((path, snap));
    }
    state::load(out)?;
    state::probe_writable(out)?;
    for (path, snap) in loaded {
        for name in state::shared_inputs(&h.files, &snap.files) {
            warnings.push(format!(
                "{name} is in more than one of the merged states (also in {}): its connections \
                 count twice",
                path.display()
            ));
        }
        state::restore(snap, &mut h, &mut announced)?;
    }
    let snap = state::snapshot(&h, &announced);
    state::save(out, &snap)?;
    let plural = |n: usize| if n == 1 { "" } else { "s" };
    let msg = format!(
        "merged {} state{} into {}: {} service{}, {} input{}",
        inputs.len(),
        plural(inputs.len()),
        out.display(),
        snap.services.len(),
        plural(snap.services.len()),
        snap.files.len(),
        plural(snap.files.len()),
    );
    Ok((msg, warnings))
}
