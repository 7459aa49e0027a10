//! Sanitizing: removes from user text whatever could act on another user's
//! terminal. Applied to the text others will see, never to command names or
//! nicknames (those are checked as typed, so that their rules can refuse what
//! sanitizing would silently drop).

use std::borrow::Cow;

/// True for characters that [`sanitize`] removes (TAB is not one: it is
/// replaced, not removed).
pub(crate) fn is_stripped(c: char) -> bool {
    is_control(c) || is_format_override(c)
}

/// C0 controls, DEL and C1 controls: they drive terminals (ESC starts escape
/// sequences, and U+009B is a one-character CSI on some terminals).
pub(crate) fn is_control(c: char) -> bool {
    matches!(c, '\u{0}'..='\u{1f}' | '\u{7f}'..='\u{9f}')
}

/// Bidi marks, embeddings, overrides and isolates reorder the text that
/// follows them, including other users' text on the same screen line; U+FEFF
/// is an invisible byte-order mark.
pub(crate) fn is_format_override(c: char) -> bool {
    matches!(
        c,
        '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{feff}'
    )
}

/// Removes everything that could act on a terminal: C0 controls
/// (U+0000–U+001F) except TAB, which becomes a space; DEL (U+007F); C1
/// controls (U+0080–U+009F); and the Unicode bidi/format overrides U+200E,
/// U+200F, U+202A–U+202E, U+2066–U+2069 (they reorder other users' text) and
/// U+FEFF. Everything else (any script, emoji, U+FFFD) is kept.
///
/// Returns `Cow::Borrowed` when nothing changes (the common case: no
/// allocation).
pub fn sanitize(text: &str) -> Cow<'_, str> {
    let Some(first) = first_to_change(text) else {
        return Cow::Borrowed(text);
    };
    let mut clean = String::with_capacity(text.len());
    clean.push_str(&text[..first]);
    for c in text[first..].chars() {
        if c == '\t' {
            clean.push(' ');
        } else if !is_stripped(c) {
            clean.push(c);
        }
    }
    Cow::Owned(clean)
}

/// Byte index of the first character `sanitize` must change, if any.
fn first_to_change(text: &str) -> Option<usize> {
    // Every character sanitize touches is either a byte below 0x20, 0x7F, or
    // a UTF-8 sequence led by 0xC2 (C1), 0xE2 (U+2000–U+2FFF) or 0xEF
    // (U+F000–U+FFFF). Scanning bytes for those leads skips most text
    // (ASCII, CJK) without decoding it; a hit is checked as a char.
    let bytes = text.as_bytes();
    let mut i = 0;
    while let Some(p) = bytes[i..]
        .iter()
        .position(|&b| b < 0x20 || b == 0x7f || b == 0xc2 || b == 0xe2 || b == 0xef)
    {
        let at = i + p;
        // Every byte matched above is ASCII or a lead byte, so `at` is a
        // char boundary and the slice is non-empty.
        let c = text[at..].chars().next().unwrap_or('\0');
        if c == '\t' || is_stripped(c) {
            return Some(at);
        }
        i = at + c.len_utf8();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitize_removes_escape_sequences() {
        assert_eq!(sanitize("\x1b[2Jhi"), "[2Jhi");
        assert_eq!(sanitize("a\x1b]0;title\x07b"), "a]0;titleb");
    }

    #[test]
    fn sanitize_removes_c0_del_and_c1() {
        assert_eq!(sanitize("a\u{9b}2Jb"), "a2Jb");
        assert_eq!(sanitize("a\u{7f}b\u{0}c\rd\u{85}e"), "abcde");
    }

    #[test]
    fn sanitize_turns_tab_into_space() {
        assert_eq!(sanitize("a\tb"), "a b");
    }

    #[test]
    fn sanitize_removes_bidi_overrides_and_bom() {
        let text = "\u{202e}evil\u{202c} \u{200e}\u{200f}\u{2066}x\u{2069}\u{feff}";
        assert_eq!(sanitize(text), "evil x");
    }

    #[test]
    fn sanitize_keeps_other_text_borrowed() {
        for text in [
            "hello, world",
            "你好，世界！",
            "emoji 🎉👍",
            "bad \u{fffd}",
            "— “quotes” ™",
            "",
        ] {
            assert!(
                matches!(sanitize(text), Cow::Borrowed(t) if t == text),
                "{text}"
            );
        }
        // Zero-width joiner in emoji is not a format override.
        assert!(matches!(sanitize("👨\u{200d}👩"), Cow::Borrowed(_)));
    }

    #[test]
    fn sanitize_handles_change_after_clean_multibyte_prefix() {
        assert_eq!(sanitize("小明—\u{202e}好"), "小明—好");
    }
}
