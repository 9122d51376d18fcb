//! Capture files on one thread: pull each packet from the reader and push it through the
//! pipeline.

use super::{finished, NamedInput, Pages};
use crate::capture::file::{FileReader, ReadOutcome};
use crate::capture::input::CaptureError;
use crate::pipeline::{Limits, Pipeline};
use crate::tracker::History;

/// Reads `inputs` in order; returns the finished history and how reading each input ended.
/// Stops at the first input that is not a capture.
pub fn read(
    inputs: &[NamedInput<'_>],
    limits: Limits,
) -> Result<(History, Vec<ReadOutcome>), CaptureError> {
    let mut p = Pipeline::new(limits);
    let mut outcomes = Vec::with_capacity(inputs.len());
    for (name, input) in inputs {
        p.begin_input(name);
        let mut reader = FileReader::new(input.bytes(), name)?;
        let mut pages = Pages::new(input);
        while let Some(pkt) = reader.next() {
            p.push_packet(&pkt);
            pages.read_up_to(&reader);
        }
        outcomes.push(finished(reader, &mut p.history_mut().stats));
    }
    p.finish();
    Ok((p.into_history(), outcomes))
}
