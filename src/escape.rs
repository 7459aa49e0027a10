//! The one way chatd's own files keep text on a line: a backslash escapes
//! what would break the line apart (`\\`, `\n`, `\r`) and, in a word that
//! spaces separate from the next (a nickname, a `by=`), tabs and spaces
//! (`\t`, `\s`). The ban and mute files, the history files and the kept
//! rooms file all use it, so that one reader reads them all.

/// Appends `text` to `out`, escaped; `word`: spaces and tabs too.
pub fn escape_into(out: &mut String, text: &str, word: bool) {
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' if word => out.push_str("\\t"),
            ' ' if word => out.push_str("\\s"),
            c => out.push(c),
        }
    }
}

/// `text`, escaped (see [`escape_into`]).
pub fn escape(text: &str, word: bool) -> String {
    let mut out = String::with_capacity(text.len());
    escape_into(&mut out, text, word);
    out
}

/// The inverse of [`escape`].
///
/// # Errors
/// An unknown escape, or a backslash at the end: what the caller names.
pub fn unescape(text: &str) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        out.push(match chars.next() {
            Some('\\') => '\\',
            Some('n') => '\n',
            Some('r') => '\r',
            Some('t') => '\t',
            Some('s') => ' ',
            Some(other) => return Err(format!("unknown escape \"\\{other}\"")),
            None => return Err("a backslash at the end of the line".to_owned()),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_is_escaped_reads_back() {
        for text in ["plain", "a b\tc", "back\\slash", "two\nlines\r", "", "\\s"] {
            for word in [false, true] {
                let escaped = escape(text, word);
                assert!(!escaped.contains('\n') && !escaped.contains('\r'));
                if word {
                    assert!(!escaped.contains(' ') && !escaped.contains('\t'));
                }
                assert_eq!(unescape(&escaped).as_deref(), Ok(text));
            }
        }
        assert_eq!(unescape("a\\q"), Err("unknown escape \"\\q\"".to_owned()));
        assert_eq!(
            unescape("a\\"),
            Err("a backslash at the end of the line".to_owned())
        );
    }
}
