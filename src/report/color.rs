//! Colour for people on a terminal: severities (CRITICAL red, WARNING yellow, INFO cyan) and
//! verdicts (not-rotated red, undetermined and not-observable yellow, rotating green), painted
//! on the lines the human printers already wrote, so the printers stay plain text and every
//! format gets the same colours. `Colors::new` decides (`--color`, `NO_COLOR`, a terminal).
//!
//! Only whole words are painted, a severity only as the first word of an alert line's text,
//! a verdict only after the word `verdict` on its line; wire text was already escaped by
//! `text::clean`, so no input can bring its own escape sequences.

use std::io::{self, Write};

use anstyle::{AnsiColor, Style};

const SEVERITIES: [(&str, AnsiColor); 3] = [
    ("CRITICAL", AnsiColor::Red),
    ("WARNING", AnsiColor::Yellow),
    ("INFO", AnsiColor::Cyan),
];

const VERDICTS: [(&str, AnsiColor); 5] = [
    ("not-rotated", AnsiColor::Red),
    ("undetermined", AnsiColor::Yellow),
    ("not-observable", AnsiColor::Yellow),
    ("no-resumption", AnsiColor::BrightBlack),
    ("rotating", AnsiColor::Green),
];

/// Whether colour is on: `always`, or `auto` on a terminal without `NO_COLOR` (any non-empty
/// value, <https://no-color.org>).
pub fn enabled(choice: &str, is_terminal: bool, no_color: Option<&str>) -> bool {
    match choice {
        "always" => true,
        "never" => false,
        _ => is_terminal && no_color.is_none_or(str::is_empty),
    }
}

fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
}

/// Finds `word` in `line` from `from` as a whole word.
fn find_word(line: &str, word: &str, from: usize) -> Option<usize> {
    let bytes = line.as_bytes();
    let mut start = from;
    while let Some(i) = line.get(start..)?.find(word) {
        let at = start + i;
        let end = at + word.len();
        let before = at == 0 || !is_word_byte(bytes[at - 1]);
        let after = end == bytes.len() || !is_word_byte(bytes[end]);
        if before && after {
            return Some(at);
        }
        start = end;
    }
    None
}

fn paint(line: &str, at: usize, len: usize, color: AnsiColor) -> String {
    let style = Style::new().fg_color(Some(color.into())).bold();
    format!(
        "{}{style}{}{style:#}{}",
        &line[..at],
        &line[at..at + len],
        &line[at + len..]
    )
}

/// `line` with its severity or verdict painted.
pub fn paint_line(line: &str) -> String {
    let first = line.len() - line.trim_start().len();
    // The severity is the first word of an alert line, or follows a time stamp (live).
    let head_end = line[first..].find(' ').map_or(line.len(), |i| first + i);
    let stamped = line[first..].starts_with(|c: char| c.is_ascii_digit());
    let starts = [Some(first), stamped.then_some(head_end + 1)];
    for (word, color) in SEVERITIES {
        for start in starts.into_iter().flatten() {
            let rest = line.get(start..).unwrap_or("");
            if rest.starts_with(word) && rest[word.len()..].starts_with(' ') {
                return paint(line, start, word.len(), color);
            }
        }
    }
    // The human report's VERDICTS lines start with the kind, indented by two.
    if first == 2 {
        for (word, color) in VERDICTS {
            if line[first..].starts_with(word) && line[first + word.len()..].starts_with(' ') {
                return paint(line, first, word.len(), color);
            }
        }
    }
    if let Some(v) = find_word(line, "verdict", 0) {
        for (word, color) in VERDICTS {
            if let Some(at) = find_word(line, word, v + "verdict".len()) {
                return paint(line, at, word.len(), color);
            }
        }
    }
    line.to_string()
}

/// A writer that paints whole lines as they pass (`finish` writes a last partial line).
pub struct Painter<'a> {
    out: &'a mut dyn Write,
    line: Vec<u8>,
}

impl<'a> Painter<'a> {
    pub fn new(out: &'a mut dyn Write) -> Self {
        Painter {
            out,
            line: Vec::new(),
        }
    }

    fn emit(&mut self) -> io::Result<()> {
        let text = String::from_utf8_lossy(&self.line).into_owned();
        self.line.clear();
        let (body, nl) = match text.strip_suffix('\n') {
            Some(b) => (b, "\n"),
            None => (text.as_str(), ""),
        };
        write!(self.out, "{}{nl}", paint_line(body))
    }

    pub fn finish(mut self) -> io::Result<()> {
        if !self.line.is_empty() {
            self.emit()?;
        }
        self.out.flush()
    }
}

impl Write for Painter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        for &b in buf {
            self.line.push(b);
            if b == b'\n' {
                self.emit()?;
            }
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn severities_are_painted_as_the_first_word_only() {
        let l = paint_line("  CRITICAL stek-not-rotated static.test");
        assert_eq!(
            l,
            "  \u{1b}[1m\u{1b}[31mCRITICAL\u{1b}[0m stek-not-rotated static.test"
        );
        let live = paint_line("2026-11-01T00:00:00Z WARNING  stale-ticket-accepted x");
        assert!(live.contains("\u{1b}[33mWARNING\u{1b}[0m"), "{live}");
        // A server name that says CRITICAL is left alone.
        assert_eq!(paint_line("  svc CRITICAL.test"), "  svc CRITICAL.test");
        assert_eq!(paint_line("  INFOS x"), "  INFOS x");
    }

    #[test]
    fn verdict_lines_are_painted_at_their_start() {
        let l = paint_line("  not-rotated    static.test  key 73 was issued over 21d");
        assert!(l.starts_with("  \u{1b}["), "{l:?}");
        assert!(l.contains("not-rotated\u{1b}[0m"), "{l:?}");
        // Not deeper inside a table.
        assert_eq!(paint_line("    rotating x"), "    rotating x");
    }

    #[test]
    fn verdicts_are_painted_after_the_word_verdict() {
        let l = paint_line("  verdict: not-rotated (one key for 20d)");
        assert!(l.contains("\u{1b}[31mnot-rotated\u{1b}[0m"), "{l}");
        assert_eq!(paint_line("  keys rotating daily"), "  keys rotating daily");
    }

    #[test]
    fn no_color_and_the_choice_decide() {
        assert!(enabled("auto", true, None));
        assert!(enabled("auto", true, Some("")));
        assert!(!enabled("auto", true, Some("1")));
        assert!(!enabled("auto", false, None));
        assert!(enabled("always", false, Some("1")));
        assert!(!enabled("never", true, None));
    }

    #[test]
    fn a_painter_passes_every_byte_of_plain_lines() {
        let mut out = Vec::new();
        let mut p = Painter::new(&mut out);
        p.write_all(b"a\nINFO b\nlast").unwrap();
        p.finish().unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.starts_with("a\n\u{1b}[1m\u{1b}[36mINFO\u{1b}[0m b\nlast"),
            "{text:?}"
        );
    }
}
