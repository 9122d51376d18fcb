//! Text from the wire or the command line (server names, file names, messages that embed
//! them) made safe for a terminal: control characters, line and paragraph separators and
//! bidirectional overrides are shown as `\u{..}` escapes, so a hostile SNI or file name can
//! neither move the cursor nor forge a line of the report.

use std::borrow::Cow;

fn unsafe_char(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{2028}' | '\u{2029}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// `s` with every unsafe character escaped (borrowed when there is none).
pub fn clean(s: &str) -> Cow<'_, str> {
    if !s.chars().any(unsafe_char) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if unsafe_char(c) {
            out.push_str(&c.escape_unicode().to_string());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::clean;

    #[test]
    fn escapes_and_forged_lines_are_shown_not_obeyed() {
        assert_eq!(clean("a.test"), "a.test");
        assert_eq!(
            clean("x.test\nwarning: FAKE ALERT"),
            "x.test\\u{a}warning: FAKE ALERT"
        );
        assert_eq!(clean("\u{1b}[2Jevil"), "\\u{1b}[2Jevil");
        assert_eq!(clean("abc\u{202e}gpj.exe"), "abc\\u{202e}gpj.exe");
    }
}
