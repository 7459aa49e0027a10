//! The TOML subset the config file is written in: `key = value` lines whose values
//! are basic strings, decimal integers or booleans, with `#` comments.

use std::fmt::Write as _;

/// A value as written after `=`: a string with its quotes removed and escapes resolved,
/// or a bare word (integer, boolean, or a mistake) with any trailing comment removed.
#[derive(Debug, PartialEq)]
pub(super) enum Value<'a> {
    Str(String),
    Bare(&'a str),
}

impl Value<'_> {
    pub(super) fn string(&self) -> Result<&str, String> {
        match self {
            Value::Str(text) => Ok(text),
            Value::Bare(word) => Err(format!(
                "expected a string in double quotes, got {word:?} without quotes"
            )),
        }
    }

    pub(super) fn boolean(&self) -> Result<bool, String> {
        match self {
            Value::Bare("true") => Ok(true),
            Value::Bare("false") => Ok(false),
            Value::Bare(word) => Err(format!("expected true or false, got {word:?}")),
            Value::Str(text) => Err(format!("expected true or false, got the string {text:?}")),
        }
    }

    /// An unsigned decimal integer in `min..=max`, converted to the field's type.
    pub(super) fn integer<T: TryFrom<u64>>(&self, min: u64, max: u64) -> Result<T, String> {
        let expected = format!("expected an integer from {min} to {max}");
        let word = match self {
            Value::Bare(word) => *word,
            Value::Str(text) => return Err(format!("{expected}, got the string {text:?}")),
        };
        if word.starts_with(['+', '-']) {
            return Err(format!("{expected} without a sign, got {word:?}"));
        }
        parse_decimal(word)
            .filter(|n| (min..=max).contains(n))
            // Every range above fits the field it is stored in, so this conversion only
            // fails if a range and a field type disagree; report it rather than panic.
            .and_then(|n| T::try_from(n).ok())
            .ok_or_else(|| format!("{expected}, got {word:?}"))
    }
}

/// A TOML decimal integer without sign: digits, `_` only between two digits, and no
/// leading zero (TOML forbids it so `010` cannot be mistaken for octal).
/// `None` on bad syntax or overflow.
pub(super) fn parse_decimal(word: &str) -> Option<u64> {
    let bytes = word.as_bytes();
    let digits_around = |i: usize| {
        i > 0
            && i + 1 < bytes.len()
            && bytes[i - 1].is_ascii_digit()
            && bytes[i + 1].is_ascii_digit()
    };
    let well_formed = !bytes.is_empty()
        && bytes
            .iter()
            .enumerate()
            .all(|(i, &b)| b.is_ascii_digit() || (b == b'_' && digits_around(i)))
        && !(bytes.len() > 1 && bytes[0] == b'0');
    if !well_formed {
        return None;
    }
    word.bytes()
        .filter(u8::is_ascii_digit)
        .try_fold(0u64, |n, digit| {
            n.checked_mul(10)?.checked_add(u64::from(digit - b'0'))
        })
}

/// Whether `name` is a TOML bare key (`A-Za-z0-9_-`). Quoted and dotted keys are not
/// supported; none of ours needs them.
pub(super) fn is_bare_key(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Splits what follows `key =` into a value, checking that only a comment may follow it.
/// The error is a syntax message without the `path:line: ` prefix.
pub(super) fn lex_value<'a>(text: &'a str, key: &str) -> Result<Value<'a>, String> {
    let (value, rest) = if text.starts_with("\"\"\"") || text.starts_with("'''") {
        return Err("multi-line strings are not supported".to_string());
    } else if let Some(body) = text.strip_prefix('"') {
        let (value, len) = unescape(body)?;
        (Value::Str(value), &body[len + 1..])
    } else if let Some(body) = text.strip_prefix('\'') {
        // A TOML literal string: no escapes, ends at the next single quote.
        let end = body.find('\'').ok_or("unterminated string")?;
        (Value::Str(body[..end].to_string()), &body[end + 1..])
    } else {
        // A bare word ends at a comment; `#` cannot occur inside integers or booleans.
        let word = text.split('#').next().unwrap_or("").trim_end();
        if word.is_empty() {
            return Err(format!("missing value for {key:?}"));
        }
        return Ok(Value::Bare(word));
    };
    let rest = rest.trim_start();
    if !rest.is_empty() && !rest.starts_with('#') {
        return Err(format!("unexpected text after the string: {rest:?}"));
    }
    Ok(value)
}

/// Reads a basic (double-quoted) string body up to its closing quote, resolving escapes.
/// Returns the value and the byte offset of the closing quote in `body`.
pub(super) fn unescape(body: &str) -> Result<(String, usize), String> {
    let mut value = String::new();
    let mut chars = body.char_indices();
    while let Some((at, c)) = chars.next() {
        match c {
            '"' => return Ok((value, at)),
            '\\' => {
                let (_, escape) = chars.next().ok_or("unterminated string")?;
                let resolved = match escape {
                    '"' => '"',
                    '\\' => '\\',
                    'n' => '\n',
                    't' => '\t',
                    'r' => '\r',
                    'b' => '\u{8}',
                    'f' => '\u{c}',
                    'u' | 'U' => {
                        let len = if escape == 'u' { 4 } else { 8 };
                        // `at` is the backslash and `at + 1` the ASCII `u`, so digits start at `at + 2`.
                        let hex: String = body[at + 2..]
                            .chars()
                            .take(len)
                            .take_while(char::is_ascii_hexdigit)
                            .collect();
                        let code = Some(&hex)
                            .filter(|hex| hex.len() == len)
                            .and_then(|hex| u32::from_str_radix(hex, 16).ok())
                            .and_then(char::from_u32)
                            .ok_or_else(|| format!("bad unicode escape \"\\{escape}{hex}\""))?;
                        // Skip the hex digits just read; they are ASCII, one char each.
                        chars.nth(len - 1);
                        code
                    }
                    other => {
                        // Quoted the way every other bad value is, so that a control
                        // character cannot garble the one-line error in the log.
                        let shown: String = if other.is_control() {
                            other.escape_debug().collect()
                        } else {
                            other.to_string()
                        };
                        return Err(format!("unknown escape \"\\{shown}\" in string"));
                    }
                };
                value.push(resolved);
            }
            c => value.push(c),
        }
    }
    Err("unterminated string".to_string())
}

/// Writes `text` as a basic TOML string that `unescape` reads back unchanged.
pub(super) fn quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => {
                // Writing to a String cannot fail.
                let _ = write!(out, "\\u{:04X}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
