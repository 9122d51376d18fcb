//! Capture files on one thread, opened one after another: pull each packet from the reader
//! and push it through the pipeline.

use super::progress::{Hooks, Ticker};
use super::{finished, NamedInput, Pages};
use crate::capture::file::{FileReader, ReadOutcome};
use std::borrow::Borrow;

use crate::capture::input::{CaptureError, Input};
use crate::pipeline::{Limits, Pipeline};
use crate::tracker::History;

/// Reads `inputs` in order; returns the finished history and how reading each input ended.
/// Stops at the first input that is not a capture.
pub fn read(
    inputs: &[NamedInput<'_>],
    limits: Limits,
) -> Result<(History, Vec<ReadOutcome>), CaptureError> {
    read_each(inputs.iter().map(|(n, i)| Ok((n.clone(), *i))), limits)
}

/// Reads inputs opened one at a time, as the iterator yields them (each is dropped, its map
/// released, before the next opens). Stops at the first error: one that opening an input
/// gave, or an input that is not a capture.
pub fn read_each<B: Borrow<Input>>(
    inputs: impl IntoIterator<Item = Result<(String, B), CaptureError>>,
    limits: Limits,
) -> Result<(History, Vec<ReadOutcome>), CaptureError> {
    read_each_with(inputs, limits, Hooks::default())
}

/// `read_each`, also writing each connection's record to `hooks.log` and reporting progress.
pub fn read_each_with<B: Borrow<Input>>(
    inputs: impl IntoIterator<Item = Result<(String, B), CaptureError>>,
    limits: Limits,
    hooks: Hooks,
) -> Result<(History, Vec<ReadOutcome>), CaptureError> {
    let mut p = Pipeline::new(limits).with_log(hooks.log);
    let progress = hooks.progress.as_deref();
    let mut outcomes = Vec::new();
    for item in inputs {
        let (name, input) = item?;
        let input = input.borrow();
        p.begin_input(&name);
        let mut reader = FileReader::new(input.bytes(), &name)?;
        let mut pages = Pages::new(input);
        let mut ticker = Ticker::new(progress);
        while let Some(pkt) = reader.next() {
            p.push_packet(&pkt);
            pages.read_up_to(&reader);
            ticker.packet(reader.offset());
        }
        ticker.end(reader.offset(), input.bytes().len());
        outcomes.push(finished(reader, &mut p.history_mut().stats));
    }
    p.finish();
    Ok((p.into_history(), outcomes))
}
