//! Nickname rules: what a nickname may contain, how one is taken from the
//! sign-in line, and the key under which nicknames must be unique.

use std::fmt;

use crate::protocol::sanitize::{is_control, is_format_override};

/// Why a nickname was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum NickError {
    /// Nothing left after trimming.
    Empty,
    /// More characters than allowed.
    TooLong {
        /// The limit, in characters.
        max: usize,
    },
    /// Contains whitespace.
    Whitespace,
    /// Contains a control character (C0, DEL or C1).
    ControlChar,
    /// Contains `#` (only possible through `/nick`).
    Hash,
    /// Starts with `/`, which would read as a command.
    Slash,
    /// Contains U+FFFD (invalid UTF-8), a bidi/format character that
    /// `sanitize` removes, or an invisible character.
    Invalid,
}

impl fmt::Display for NickError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NickError::Empty => f.write_str("nickname is empty"),
            NickError::TooLong { max } => {
                write!(f, "nickname is too long (max {max} characters)")
            }
            NickError::Whitespace => f.write_str("nickname may not contain spaces"),
            NickError::ControlChar => f.write_str("nickname may not contain control characters"),
            NickError::Hash => f.write_str("nickname may not contain '#'"),
            NickError::Slash => f.write_str("nickname may not start with '/'"),
            NickError::Invalid => {
                f.write_str("nickname may not contain invalid or invisible characters")
            }
        }
    }
}

impl std::error::Error for NickError {}

/// Extracts and validates the nickname from a registration line (raw decoded
/// text, not sanitized): the text before the first `#`, or the whole line if
/// it has none, trimmed of whitespace.
///
/// The result obeys the same rules as [`validate_nick`]: 1..=`max_chars`
/// characters (chars, not bytes: "小明" is 2), no whitespace, no control or
/// format characters, no U+FFFD, and no leading `/`.
///
/// # Errors
///
/// The first rule the nickname breaks, as a [`NickError`] whose `Display`
/// text can be sent to the user.
pub fn nick_from_registration(line: &str, max_chars: usize) -> Result<&str, NickError> {
    let before_hash = line.split('#').next().unwrap_or(line);
    validate_nick(before_hash.trim(), max_chars)
}

/// Validates a proposed nickname as given to `/nick NEW`.
///
/// Rules: 1..=`max_chars` characters; no whitespace anywhere; no control
/// characters; none of the characters [`sanitize`](crate::protocol::sanitize()) removes, no U+FFFD, and no
/// invisible characters (soft hyphen, zero-width space, word joiner and
/// invisible operators, Hangul fillers) since those let one user pass for
/// another; no `#`; must not start with `/`.
///
/// # Errors
///
/// The first rule the nickname breaks, as a [`NickError`].
pub fn validate_nick(nick: &str, max_chars: usize) -> Result<&str, NickError> {
    if nick.is_empty() {
        return Err(NickError::Empty);
    }
    if nick.starts_with('/') {
        return Err(NickError::Slash);
    }
    let mut chars = 0usize;
    for c in nick.chars() {
        chars += 1;
        if c.is_whitespace() {
            return Err(NickError::Whitespace);
        }
        if is_control(c) {
            return Err(NickError::ControlChar);
        }
        if c == '#' {
            return Err(NickError::Hash);
        }
        if c == char::REPLACEMENT_CHARACTER || is_format_override(c) || is_invisible(c) {
            return Err(NickError::Invalid);
        }
    }
    if chars > max_chars {
        return Err(NickError::TooLong { max: max_chars });
    }
    Ok(nick)
}

/// Characters that render as nothing (or as blank space without being
/// `White_Space`), which `sanitize` keeps in chat text but which have no
/// place in a name.
fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{ad}' | '\u{115f}' | '\u{1160}' | '\u{200b}' | '\u{2060}'
            ..='\u{2064}' | '\u{3164}' | '\u{ffa0}'
    )
}

/// The key under which a nickname must be unique.
///
/// Case-insensitive: every char is lowercased with `char::to_lowercase`, so
/// "Bob" and "bOB" collide, and a lowercase letter with a second lowercase
/// form (ς and σ, ı and i, ſ and s, µ and μ) is folded to the lowercase of its
/// uppercase, so "bıll" and "BILL" collide too. Then a few cheap confusables
/// are folded to ASCII so impersonation is harder:
/// - fullwidth ASCII (U+FF01–U+FF5E) to the ASCII it copies ("ｂｏｂ" → "bob");
/// - Cyrillic and Greek lowercase letters drawn the same as Latin ones
///   (Cyrillic а е о р с у х і ј ѕ ԁ ԛ ԝ, Greek ο) to those Latin letters;
/// - Cyrillic and Greek letters whose capital is drawn the same as a Latin
///   capital (Cyrillic в к м н т, Greek α β ε ζ η ι κ μ ν ρ τ υ χ) to that
///   Latin letter, in both cases so the key stays case-insensitive ("Воb" →
///   "bob").
///
/// The key is only for comparison; users see the nickname as typed.
pub fn nick_key(nick: &str) -> String {
    // ASCII folds to its lowercase, and nothing else: the common case (every
    // chat line remembered for the history makes its author's key) skips
    // the Unicode case mappings.
    if nick.is_ascii() {
        return nick.to_ascii_lowercase();
    }
    nick.chars()
        .flat_map(char::to_lowercase)
        .map(fold_case_variant)
        .map(fold_confusable)
        .collect()
}

/// Maps a lowercase char to the lowercase of its uppercase, when both mappings
/// give one char: "ς" → "Σ" → "σ". Other chars are returned unchanged.
fn fold_case_variant(c: char) -> char {
    let mut upper = c.to_uppercase();
    let (Some(upper), None) = (upper.next(), upper.next()) else {
        return c;
    };
    let mut lower = upper.to_lowercase();
    match (lower.next(), lower.next()) {
        (Some(lower), None) => lower,
        _ => c,
    }
}

/// Maps one lowercase char to the ASCII letter it imitates, if it is one of
/// the folded confusables.
fn fold_confusable(c: char) -> char {
    match c {
        // Fullwidth forms are a fixed offset from ASCII.
        '\u{ff01}'..='\u{ff5e}' => char::from_u32(c as u32 - 0xfee0).unwrap_or(c),
        'а' => 'a', // U+0430
        'е' => 'e', // U+0435
        'о' => 'o', // U+043E
        'р' => 'p', // U+0440
        'с' => 'c', // U+0441
        'у' => 'y', // U+0443
        'х' => 'x', // U+0445
        'і' => 'i', // U+0456
        'ј' => 'j', // U+0458
        'ѕ' => 's', // U+0455
        'ԁ' => 'd', // U+0501
        'ԛ' => 'q', // U+051B
        'ԝ' => 'w', // U+051D
        'ο' => 'o', // U+03BF Greek omicron
        // Drawn like Latin capitals: В К М Н Т, Α Β Ε Ζ Η Ι Κ Μ Ν Ρ Τ Υ Χ.
        'в' | 'β' => 'b', // U+0432, U+03B2
        'к' | 'κ' => 'k', // U+043A, U+03BA
        'м' | 'μ' => 'm', // U+043C, U+03BC
        'н' | 'η' => 'h', // U+043D, U+03B7
        'т' | 'τ' => 't', // U+0442, U+03C4
        'α' => 'a',       // U+03B1
        'ε' => 'e',       // U+03B5
        'ζ' => 'z',       // U+03B6
        'ι' => 'i',       // U+03B9
        'ν' => 'n',       // U+03BD
        'ρ' => 'p',       // U+03C1
        'υ' => 'y',       // U+03C5
        'χ' => 'x',       // U+03C7
        _ => c,
    }
}

/// A word without the ASCII punctuation around it; None for a room's name
/// (`#rust`, `＃聊天`) or a word of punctuation only.
fn mention_trim(word: &str) -> Option<&str> {
    if word.starts_with(['#', '\u{ff03}']) {
        return None;
    }
    let word = word.trim_matches(|c: char| c.is_ascii_punctuation() && c != '_');
    (!word.is_empty()).then_some(word)
}

/// Whether `c` is punctuation of Chinese (and Japanese) text: full-width
/// commas, stops, brackets and quotes, the ideographic comma and full stop,
/// dashes and the ellipsis. Such text has no spaces, so these are where its
/// words end; a line that names someone is read with them as boundaries. Kept
/// out: the marks that can be part of a name (々, 〆, 〇, the middle dots · and
/// ・, the full-width underscore).
pub fn is_cjk_punctuation(c: char) -> bool {
    matches!(
        c,
        '\u{3001}'..='\u{3003}'
            | '\u{3008}'..='\u{3011}'
            | '\u{3014}'..='\u{301f}'
            | '\u{3030}'
            | '\u{303d}'
            | '\u{2010}'..='\u{2027}'
            | '\u{fe10}'..='\u{fe19}'
            | '\u{fe30}'..='\u{fe4f}'
            | '\u{ff01}'..='\u{ff0f}'
            | '\u{ff1a}'..='\u{ff20}'
            | '\u{ff3b}'..='\u{ff3e}'
            | '\u{ff40}'
            | '\u{ff5b}'..='\u{ff65}'
    )
}

/// Calls `each` with every word of `text` that may be a nickname it names:
/// the [`mention_candidates`] of each of its whitespace-separated words, in
/// order.
///
/// Every chat line goes through this. Most are ASCII, whose words are found
/// on bytes (`for_each_ascii_mention_word`) instead of by decoding every
/// character; other text takes the general way. (A callback rather than an
/// iterator: an iterator that could be either would be large, and moved
/// around.)
pub fn for_each_mention_word<'a>(text: &'a str, each: impl FnMut(&'a str)) {
    if text.is_ascii() {
        for_each_ascii_mention_word(text, each);
    } else {
        text.split_whitespace()
            .flat_map(mention_candidates)
            .for_each(each);
    }
}

/// [`for_each_mention_word`] for ASCII `text`: the same words, found on
/// bytes in one pass. An ASCII word has no CJK punctuation, so it gives at
/// most itself without the punctuation around it ([`mention_trim`]).
fn for_each_ascii_mention_word<'a>(text: &'a str, mut each: impl FnMut(&'a str)) {
    // The ASCII that `char::is_whitespace` takes: with the vertical tab,
    // which `u8::is_ascii_whitespace` leaves out.
    let space = |b: u8| b == b' ' || (b'\t'..=b'\r').contains(&b);
    let trimmed = |b: u8| b.is_ascii_punctuation() && b != b'_';
    let bytes = text.as_bytes();
    let mut at = 0;
    while at < bytes.len() {
        if space(bytes[at]) {
            at += 1;
            continue;
        }
        let mut start = at;
        while at < bytes.len() && !space(bytes[at]) {
            at += 1;
        }
        if bytes[start] == b'#' {
            continue;
        }
        let mut end = at;
        while start < end && trimmed(bytes[start]) {
            start += 1;
        }
        while start < end && trimmed(bytes[end - 1]) {
            end -= 1;
        }
        if start < end {
            // ASCII: every byte index is a char boundary.
            each(&text[start..end]);
        }
    }
}

/// The words of one whitespace-separated `word` of a line that may be a
/// nickname it names: the word without the ASCII punctuation around it
/// (`@bob:` gives `bob`), and, when it holds CJK punctuation, each part between
/// those marks, trimmed alike (`王伟，你好` also gives `王伟` and `你好`;
/// `（王伟）` gives `王伟`). A nickname inside a run of CJK characters with no
/// boundary (`王伟你好`) is not found: with one-character nicknames common in
/// Chinese, looking inside words would ring for every line that uses the
/// character. A word starting with `#` names a room, not a user, and gives
/// nothing; so does such a part.
pub fn mention_candidates(word: &str) -> impl Iterator<Item = &str> {
    let whole = mention_trim(word);
    let parts = (whole.is_some() && !word.is_ascii() && word.contains(is_cjk_punctuation))
        .then(|| word.split(is_cjk_punctuation).filter_map(mention_trim))
        .into_iter()
        .flatten();
    whole.into_iter().chain(parts)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The hub finds who a chat line names by lowercasing ASCII words itself
    /// (`Hub::named`), and `nick_key` takes ASCII the short way: for ASCII,
    /// the key must be exactly the lowercase.
    #[test]
    fn the_key_of_ascii_is_its_lowercase() {
        let ascii: String = (0..=0x7f).map(char::from).collect();
        assert_eq!(nick_key(&ascii), ascii.to_ascii_lowercase());
        // The general way gives the same (ASCII takes a shorter one).
        let general: String = ascii
            .chars()
            .flat_map(char::to_lowercase)
            .map(fold_case_variant)
            .map(fold_confusable)
            .collect();
        assert_eq!(general, ascii.to_ascii_lowercase());
    }

    #[test]
    fn registration_takes_text_before_hash() {
        assert_eq!(nick_from_registration("bob#", 24), Ok("bob"));
        assert_eq!(nick_from_registration("  bob  #rest", 24), Ok("bob"));
        assert_eq!(nick_from_registration("bob#x#y", 24), Ok("bob"));
        assert_eq!(nick_from_registration("bob", 24), Ok("bob"));
        assert_eq!(nick_from_registration("\tbob \r", 24), Ok("bob"));
    }

    #[test]
    fn registration_accepts_chinese() {
        assert_eq!(nick_from_registration("小明#", 24), Ok("小明"));
        // Counted in chars: 24 Chinese chars are 72 bytes and still fit.
        let name = "明".repeat(24);
        assert_eq!(nick_from_registration(&name, 24), Ok(name.as_str()));
    }

    #[test]
    fn registration_rejects_empty() {
        assert_eq!(nick_from_registration("#", 24), Err(NickError::Empty));
        assert_eq!(nick_from_registration("   #bob", 24), Err(NickError::Empty));
        assert_eq!(nick_from_registration("", 24), Err(NickError::Empty));
    }

    #[test]
    fn nick_length_limit_is_in_chars() {
        assert_eq!(validate_nick(&"a".repeat(24), 24).map(str::len), Ok(24));
        assert_eq!(
            validate_nick(&"a".repeat(25), 24),
            Err(NickError::TooLong { max: 24 })
        );
        assert_eq!(
            nick_from_registration(&"明".repeat(25), 24),
            Err(NickError::TooLong { max: 24 })
        );
    }

    #[test]
    fn nick_rejects_bad_characters() {
        assert_eq!(nick_from_registration("/bob#", 24), Err(NickError::Slash));
        assert_eq!(
            nick_from_registration("a b#", 24),
            Err(NickError::Whitespace)
        );
        assert_eq!(validate_nick("a\u{3000}b", 24), Err(NickError::Whitespace));
        assert_eq!(
            nick_from_registration("a\x1b[31mb#", 24),
            Err(NickError::ControlChar)
        );
        assert_eq!(validate_nick("a\u{9b}b", 24), Err(NickError::ControlChar));
        assert_eq!(validate_nick("a\u{7f}", 24), Err(NickError::ControlChar));
        assert_eq!(validate_nick("bob#x", 24), Err(NickError::Hash));
        assert_eq!(validate_nick("b\u{fffd}b", 24), Err(NickError::Invalid));
        assert_eq!(validate_nick("\u{202e}bob", 24), Err(NickError::Invalid));
        assert_eq!(validate_nick("b\u{200b}ob", 24), Err(NickError::Invalid));
        assert_eq!(validate_nick("bob\u{feff}", 24), Err(NickError::Invalid));
    }

    #[test]
    fn validate_nick_does_not_trim() {
        assert_eq!(validate_nick(" bob", 24), Err(NickError::Whitespace));
        assert_eq!(validate_nick("", 24), Err(NickError::Empty));
        assert_eq!(validate_nick("b/ob", 24), Ok("b/ob"));
    }

    #[test]
    fn nick_error_messages() {
        assert_eq!(
            NickError::TooLong { max: 24 }.to_string(),
            "nickname is too long (max 24 characters)"
        );
        assert_eq!(NickError::Empty.to_string(), "nickname is empty");
        assert_eq!(
            NickError::Whitespace.to_string(),
            "nickname may not contain spaces"
        );
        assert_eq!(
            NickError::ControlChar.to_string(),
            "nickname may not contain control characters"
        );
        assert_eq!(NickError::Hash.to_string(), "nickname may not contain '#'");
        assert_eq!(
            NickError::Slash.to_string(),
            "nickname may not start with '/'"
        );
        let err: Box<dyn std::error::Error> = Box::new(NickError::Invalid);
        assert!(err.to_string().starts_with("nickname "));
    }

    #[test]
    fn nick_key_ignores_case() {
        assert_eq!(nick_key("Bob"), nick_key("bOB"));
        assert_eq!(nick_key("Bob"), "bob");
        assert_eq!(nick_key("ÉMILE"), "émile");
        assert_eq!(nick_key("小明"), "小明");
        assert_ne!(nick_key("bob"), nick_key("rob"));
    }

    #[test]
    fn nick_key_folds_fullwidth_and_lookalikes() {
        assert_eq!(nick_key("ｂｏｂ"), "bob");
        assert_eq!(nick_key("ＢＯＢ１"), "bob1");
        // Cyrillic о and Greek ο posing as Latin o.
        assert_eq!(nick_key("b\u{43e}b"), "bob");
        assert_eq!(nick_key("B\u{41e}B"), "bob");
        assert_eq!(nick_key("b\u{3bf}b"), "bob");
        assert_eq!(nick_key("\u{440}\u{430}\u{443}"), "pay");
    }

    /// The way general text takes, which ASCII text's must match.
    fn general_mention_words(text: &str) -> Vec<&str> {
        text.split_whitespace()
            .flat_map(mention_candidates)
            .collect()
    }

    #[test]
    fn ascii_whitespace_is_what_split_whitespace_splits_at() {
        for b in 0..=0x7fu8 {
            let text = format!("a{}b", char::from(b));
            let mut words = 0;
            for_each_mention_word(&text, |_| words += 1);
            let split = char::from(b).is_whitespace();
            assert_eq!(words, if split { 2 } else { 1 }, "{text:?}");
        }
    }

    #[test]
    fn ascii_words_that_may_name_someone_are_found_as_in_general_text() {
        fn words(text: &str) -> Vec<&str> {
            let mut words = Vec::new();
            for_each_mention_word(text, |word| words.push(word));
            words
        }
        for text in [
            "",
            "   ",
            "t=123 the quick brown fox",
            "@bob: hi, carol!",
            "  bob\tcarol\n\x0cdave\r eve  ",
            "#rust is where bob_ is; #",
            "!!! ... ?bob? (carol) _x_ a-b 'dave's'",
            "vertical\x0btab bob\x0b",
            "\x1c\x1dbob\x1e\x1f",
        ] {
            assert_eq!(words(text), general_mention_words(text), "{text:?}");
        }
        assert_eq!(words("@bob: (carol), #rust"), ["bob", "carol"]);
        // Random ASCII, spaces and punctuation frequent.
        let mut rng = crate::test_rng::Rng(0x5eed_0a5c);
        let alphabet: Vec<u8> = (0..=0x7f)
            .chain(b"    ##@@::,,__".iter().copied())
            .collect();
        for _ in 0..2000 {
            let len = rng.below(40);
            let bytes: Vec<u8> = (0..len).map(|_| *rng.pick(&alphabet)).collect();
            let text = String::from_utf8(bytes).expect("ASCII");
            assert_eq!(words(&text), general_mention_words(&text), "{text:?}");
        }
    }

    #[test]
    fn words_of_other_text_that_may_name_someone_are_its_candidates() {
        for text in [
            "王伟，你好 @bob",
            "ｂｏｂ：hi",
            "bob\u{a0}carol\u{3000}dave",
            "é bob",
        ] {
            let mut words = Vec::new();
            for_each_mention_word(text, |word| words.push(word));
            assert_eq!(words, general_mention_words(text), "{text:?}");
        }
    }

    #[test]
    fn cjk_punctuation_bounds_the_words_that_may_name_someone() {
        let words = |word| mention_candidates(word).collect::<Vec<_>>();
        assert_eq!(words("@bob:"), ["bob"]);
        assert_eq!(words("bob_"), ["bob_"]);
        assert_eq!(words("#rust"), Vec::<&str>::new());
        assert_eq!(words("!!!"), Vec::<&str>::new());
        assert_eq!(words("王伟"), ["王伟"]);
        assert_eq!(words("@王伟"), ["王伟"]);
        assert_eq!(words("王伟!"), ["王伟"]);
        assert_eq!(words("王伟，你好"), ["王伟，你好", "王伟", "你好"]);
        assert_eq!(words("王伟！"), ["王伟！", "王伟"]);
        assert_eq!(words("王伟。"), ["王伟。", "王伟"]);
        assert_eq!(words("（王伟）"), ["（王伟）", "王伟"]);
        assert_eq!(words("「王伟」你好"), ["「王伟」你好", "王伟", "你好"]);
        assert_eq!(words("“王伟”……"), ["“王伟”……", "王伟"]);
        assert_eq!(words("王伟、李娜"), ["王伟、李娜", "王伟", "李娜"]);
        assert_eq!(words("你好，#聊天"), ["你好，#聊天", "你好"]);
        // No boundary, no name found inside: 伟 alone is not named here.
        assert_eq!(words("王伟你好"), ["王伟你好"]);
        // Marks that names use are not boundaries.
        assert_eq!(words("佐々木"), ["佐々木"]);
        assert_eq!(words("威廉·莎士比亚"), ["威廉·莎士比亚"]);
        assert!(!is_cjk_punctuation('々') && !is_cjk_punctuation('・'));
        assert!(!is_cjk_punctuation('Ａ') && !is_cjk_punctuation('＿'));
        assert!(is_cjk_punctuation('，') && is_cjk_punctuation('。') && is_cjk_punctuation('】'));
    }
}
