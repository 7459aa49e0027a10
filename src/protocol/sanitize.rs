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

/// ESC, which starts an escape sequence.
const ESC: char = '\u{1b}';
/// BEL, which ends an operating system command (xterm's way).
const BEL: char = '\u{7}';

/// Removes everything that could act on a terminal: whole escape sequences
/// (see below); C0 controls (U+0000–U+001F) except TAB, which becomes a space;
/// DEL (U+007F); C1 controls (U+0080–U+009F); and the Unicode bidi/format
/// overrides U+200E, U+200F, U+202A–U+202E, U+2066–U+2069 (they reorder other
/// users' text) and U+FEFF. Everything else (any script, emoji, U+FFFD) is kept.
///
/// An escape sequence goes whole, as a terminal would take it (ECMA-48), not
/// only its ESC, so `\e[2J\e[H` leaves nothing rather than `[2J[H`:
/// - a CSI (`ESC [`, or U+009B): parameter bytes (`0`–`?`), intermediate bytes
///   (space–`/`) and the final byte (`@`–`~`), as far as they go;
/// - a control string: an OSC (`ESC ]`, U+009D), DCS (`ESC P`, U+0090), SOS
///   (`ESC X`, U+0098), PM (`ESC ^`, U+009E) or APC (`ESC _`, U+009F), up to
///   and including its end, BEL or ST (`ESC \`, U+009C), or to the end of the
///   text when it has none (an ESC inside it ends it, and starts what follows);
/// - any other escape: intermediate bytes (space–`/`) and one final byte
///   (`0`–`~`), as in `ESC ( B`, `ESC 7`, `ESC c`.
///
/// What follows a sequence cut short (an ESC at the end, `ESC [ 1` then a
/// letter of another script) is kept. Nothing the result holds can start a
/// sequence, so sanitizing again changes nothing.
///
/// Returns `Cow::Borrowed` when nothing changes (the common case: no
/// allocation).
pub fn sanitize(text: &str) -> Cow<'_, str> {
    let Some(first) = first_to_change(text) else {
        return Cow::Borrowed(text);
    };
    let mut clean = String::with_capacity(text.len());
    clean.push_str(&text[..first]);
    let mut chars = text[first..].chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\t' => clean.push(' '),
            ESC => skip_escape(&mut chars),
            '\u{9b}' => skip_csi(&mut chars),
            '\u{90}' | '\u{98}' | '\u{9d}' | '\u{9e}' | '\u{9f}' => skip_string(&mut chars),
            c if is_stripped(c) => {}
            c => clean.push(c),
        }
    }
    Cow::Owned(clean)
}

type Chars<'a> = std::iter::Peekable<std::str::Chars<'a>>;

fn in_range(low: char, high: char) -> impl Fn(&char) -> bool {
    move |c| (low..=high).contains(c)
}

/// The rest of an escape sequence whose ESC was just taken.
fn skip_escape(chars: &mut Chars<'_>) {
    match chars.peek() {
        Some('[') => {
            chars.next();
            skip_csi(chars);
        }
        Some(']' | 'P' | 'X' | '^' | '_') => {
            chars.next();
            skip_string(chars);
        }
        Some(' '..='~') => {
            while chars.next_if(in_range(' ', '/')).is_some() {}
            chars.next_if(in_range('0', '~'));
        }
        // A lone ESC: only it goes.
        _ => {}
    }
}

/// The rest of a CSI: parameters, intermediates, the final byte.
fn skip_csi(chars: &mut Chars<'_>) {
    while chars.next_if(in_range('0', '?')).is_some() {}
    while chars.next_if(in_range(' ', '/')).is_some() {}
    chars.next_if(in_range('@', '~'));
}

/// The rest of a control string, up to and including its end (BEL or ST).
fn skip_string(chars: &mut Chars<'_>) {
    while let Some(c) = chars.next() {
        match c {
            BEL | '\u{9c}' => return,
            ESC => {
                // `ESC \` is ST; any other ESC ends the string and starts anew.
                if chars.next_if_eq(&'\\').is_none() {
                    skip_escape(chars);
                }
                return;
            }
            _ => {}
        }
    }
}

/// Byte index of the first character `sanitize` must change, if any.
fn first_to_change(text: &str) -> Option<usize> {
    // Printable ASCII, which most lines are, has nothing to change. Checked
    // without stopping at the first other byte, a loop the compiler makes
    // into wide compares: a few instructions for a whole line.
    if text
        .bytes()
        .fold(true, |printable, b| printable & matches!(b, b' '..=b'~'))
    {
        return None;
    }
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
    fn sanitize_removes_whole_escape_sequences() {
        for (raw, clean) in [
            ("\x1b[2J\x1b[H", ""),
            ("\x1b[2Jhi", "hi"),
            ("a\x1b[31mred\x1b[0m b", "ared b"),
            ("a\x1b[?25l\x1b[1;31;4mb", "ab"),
            ("a\x1b[38:2::255:0:0mb", "ab"),
            ("a\x1b[ qb", "ab"),
            // OSC to BEL, and to ST; a hyperlink; an unterminated one.
            ("a\x1b]0;title\x07b", "ab"),
            ("a\x1b]0;title\x1b\\b", "ab"),
            (
                "x\x1b]8;;http://e.example\x1b\\link\x1b]8;;\x1b\\y",
                "xlinky",
            ),
            ("a\x1b]0;the rest of the line", "a"),
            // DCS (sixel), SOS, PM, APC.
            ("a\x1bPq#0;2;0;0;0#0!10~\x1b\\b", "ab"),
            ("a\x1bXsos\x1b\\b\x1b^pm\x07c\x1b_apc\x1b\\d", "abcd"),
            // An ESC inside a string ends it and starts a sequence of its own.
            ("a\x1b]0;t\x1b[31mb", "ab"),
            // Other escapes: charset, save/restore, reset, keypad.
            ("a\x1b(Bb\x1b7c\x1b8d\x1bce\x1b=f\x1b#8g", "abcdefg"),
            // C1 forms of CSI, OSC and ST.
            ("a\u{9b}2Jb", "ab"),
            ("a\u{9d}0;title\u{9c}b", "ab"),
            ("a\u{90}dcs\u{9c}b", "ab"),
            // Cut short: what follows is kept.
            ("a\x1b", "a"),
            ("a\x1b[", "a"),
            ("a\x1b[12", "a"),
            ("a\x1b[1中文", "a中文"),
            ("a\x1b中", "a中"),
            ("a\x1b\tb", "a b"),
        ] {
            assert_eq!(sanitize(raw), clean, "{raw:?}");
            assert_eq!(sanitize(clean), clean, "sanitizing {clean:?} again");
        }
    }

    #[test]
    fn sanitize_removes_c0_del_and_c1() {
        assert_eq!(sanitize("a\u{85}b\u{9c}c"), "abc");
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

    /// Every ASCII byte, alone and inside printable text: the fast way for
    /// printable ASCII must agree with the byte-by-byte scan.
    #[test]
    fn sanitize_changes_exactly_the_ascii_controls() {
        for b in 0..=0x7fu8 {
            let c = char::from(b);
            for text in [c.to_string(), format!("the {c} quick brown fox")] {
                let changed = matches!(sanitize(&text), Cow::Owned(_));
                assert_eq!(changed, c.is_ascii_control(), "{text:?}");
            }
        }
        let printable: String = (b' '..=b'~').map(char::from).collect();
        assert!(matches!(sanitize(&printable), Cow::Borrowed(_)));
    }

    #[test]
    fn sanitize_handles_change_after_clean_multibyte_prefix() {
        assert_eq!(sanitize("小明—\u{202e}好"), "小明—好");
    }
}
