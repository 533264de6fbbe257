//! Text a guest controls (its error strings, rejection reasons, log messages, stderr, even the
//! function names in a backtrace) made safe to print: cut to a size with a note saying how much
//! was cut, and with every character that could end a line or drive a terminal escaped. Without
//! this a plugin could put 100 MB into one error (and so into the run's JSON and stderr), or
//! write a newline followed by a line shaped like a host log record, or clear the operator's
//! screen with an escape sequence.

/// How many bytes of one guest message (an error, a rejection reason) are kept.
pub(crate) const GUEST_TEXT_MAX: usize = 4096;

/// `text` on one line: every control character (newline and carriage return included) and
/// every character that reorders or breaks displayed text is escaped (`\n`, `\u{1b}`); cut
/// to at most about `max` bytes with a note `… (N bytes truncated)`.
pub(crate) fn one_line(text: &str, max: usize) -> String {
    sanitize(text, max, false)
}

/// Like [`one_line`], but newlines stay (a panic message and a backtrace span lines). Each line
/// after the first is indented by the caller's choosing, so none can pass for a log record.
pub(crate) fn multi_line(text: &str, max: usize) -> String {
    sanitize(text, max, true)
}

fn sanitize(text: &str, max: usize, keep_newlines: bool) -> String {
    let mut out = String::with_capacity(text.len().min(max) + 32);
    let mut buf = [0u8; 4];
    for (at, c) in text.char_indices() {
        let unicode;
        let piece: &str = if (c == '\n' && keep_newlines) || c == '\t' || !needs_escape(c) {
            c.encode_utf8(&mut buf)
        } else if c == '\n' {
            "\\n"
        } else if c == '\r' {
            "\\r"
        } else {
            unicode = c.escape_unicode().to_string();
            &unicode
        };
        if out.len() + piece.len() > max {
            out.push_str(&format!("… ({} bytes truncated)", text.len() - at));
            return out;
        }
        out.push_str(piece);
    }
    out
}

/// Control characters (C0, DEL, C1 — U+009B alone starts a terminal escape sequence), line and
/// paragraph separators, and the bidirectional overrides and isolates (which make displayed
/// text read differently from what it is).
fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{2028}' | '\u{2029}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(
            one_line("a\nb\rc\x1b[2J\u{9b}d\te\u{202e}f", 100),
            "a\\nb\\rc\\u{1b}[2J\\u{9b}d\te\\u{202e}f"
        );
        assert_eq!(multi_line("a\nb\x1bc", 100), "a\nb\\u{1b}c");
        assert_eq!(one_line("plain ünïcödé", 100), "plain ünïcödé");
    }

    #[test]
    fn long_text_is_cut_with_a_note() {
        let long = "x".repeat(10_000);
        let cut = one_line(&long, 4096);
        assert!(cut.starts_with(&"x".repeat(4096)));
        assert!(cut.ends_with("… (5904 bytes truncated)"), "{cut}");
        // Escapes count towards the cap: a wall of ESC cannot grow sixfold.
        let escapes = "\x1b".repeat(10_000);
        let cut = one_line(&escapes, 60);
        assert!(cut.len() < 100, "{cut}");
        assert!(cut.ends_with("… (9990 bytes truncated)"), "{cut}");
        // Never cut inside a character.
        let cut = one_line(&"é".repeat(10), 5);
        assert_eq!(cut, "éé… (16 bytes truncated)");
        assert_eq!(one_line("short", 5), "short");
    }
}
