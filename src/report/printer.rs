//! The one place that chooses how a report is written: `--format human|json|jsonl`, for a
//! whole report (`read`, `report`) and for a live run's stream of alerts and its end.

use std::io::{self, Write};

use super::json::{AlertOut, Report};
use super::{color, human, json, stream};

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Human,
    Json,
    /// One JSON object per line: each alert, then a summary (`live`: alerts as they fire).
    Jsonl,
}

#[derive(Clone, Copy, Debug)]
pub struct Printer {
    pub format: Format,
    /// Paint severities and verdicts (`--color`; human output only).
    pub color: bool,
}

impl Printer {
    pub fn new(format: Format) -> Self {
        Printer {
            format,
            color: false,
        }
    }

    pub fn with_color(self, color: bool) -> Self {
        Printer { color, ..self }
    }

    /// Runs `f` on `out`, through a `color::Painter` when colour is on.
    fn human(
        &self,
        out: &mut dyn Write,
        f: impl FnOnce(&mut dyn Write) -> io::Result<()>,
    ) -> io::Result<()> {
        if !self.color {
            return f(out);
        }
        let mut p = color::Painter::new(out);
        f(&mut p)?;
        p.finish()
    }

    /// A whole report.
    pub fn report(&self, r: &Report, out: &mut dyn Write) -> io::Result<()> {
        match self.format {
            Format::Human => self.human(out, |o| human::write(r, o)),
            Format::Json => json::write(r, out),
            Format::Jsonl => stream::write_jsonl(r, out),
        }
    }

    /// Whether alerts print as they fire (a live run): not for one JSON document.
    pub fn streams_alerts(&self) -> bool {
        self.format != Format::Json
    }

    /// One alert as it fires (a live run).
    pub fn alert(&self, a: &AlertOut, out: &mut dyn Write) -> io::Result<()> {
        match self.format {
            Format::Human => self.human(out, |o| stream::human_line(a, o)),
            Format::Jsonl => stream::json_line(a, out),
            Format::Json => Ok(()),
        }
    }

    /// The end of a live run: the whole report as one JSON document, the summary line of the
    /// stream, or nothing for people (they saw the alerts as they fired).
    pub fn closing(&self, r: &Report, out: &mut dyn Write) -> io::Result<()> {
        match self.format {
            Format::Json => json::write(r, out),
            Format::Jsonl => stream::summary_line(r, out),
            Format::Human => Ok(()),
        }
    }
}
