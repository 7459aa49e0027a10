//! The client side of the wire protocol: bytes → lines → commands.
//!
//! Everything here is a pure function or a small state machine over bytes and
//! strings: no I/O, no async, no knowledge of the room. The layers are
//!
//! 1. [`LineFramer`]: raw socket bytes to [`Frame`]s. It removes telnet IAC
//!    sequences, ends lines at `\n` (dropping a `\r` before it) or at a telnet
//!    `\r\0`, decodes UTF-8 lossily and enforces the line length limit with a
//!    bounded buffer, across arbitrary read chunk boundaries.
//! 2. [`sanitize`]: strips whatever could act on another user's terminal.
//! 3. [`parse_input`]: a sanitized line to an [`Input`] (chat text or a command).
//! 4. Nickname rules: [`nick_from_registration`], [`validate_nick`], [`nick_key`].
//!
//! The caller is expected to run frames through [`sanitize`] before parsing;
//! the framer deliberately does not, so that nickname validation can reject
//! control characters instead of silently dropping them.

use std::borrow::Cow;
use std::fmt;

/// Telnet "interpret as command" byte.
const IAC: u8 = 0xFF;
/// Telnet subnegotiation end.
const SE: u8 = 0xF0;
/// Telnet subnegotiation begin.
const SB: u8 = 0xFA;
/// Telnet WILL; WILL, WONT, DO and DONT (251..=254) each carry one option byte.
const WILL: u8 = 0xFB;
/// Telnet DO: the peer asks us to enable an option.
const DO: u8 = 0xFD;
/// The TIMING-MARK option (RFC 860).
const TIMING_MARK: u8 = 6;
/// Telnet DONT, the last of the option negotiation commands.
const DONT: u8 = 0xFE;

/// An empty line buffer with more capacity than this is released by
/// [`LineFramer::shrink`]. Small enough that an idle connection costs little,
/// large enough that a client sending its lines in small pieces does not make
/// us reallocate after every read.
const SHRINK_ABOVE: usize = 256;

/// The answer to `IAC DO TIMING-MARK`: `IAC WILL TIMING-MARK`.
pub const TIMING_MARK_REPLY: [u8; 3] = [IAC, WILL, TIMING_MARK];

/// Where the framer is inside the telnet command syntax.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Telnet {
    /// Ordinary data bytes.
    Data,
    /// Just saw IAC; the next byte says what it means.
    Iac,
    /// Saw IAC WILL/WONT/DO/DONT (the byte kept here); the next byte is the
    /// option and is skipped.
    Option(u8),
    /// Inside IAC SB … : skip bytes until an IAC.
    Sub,
    /// Saw IAC inside a subnegotiation; SE ends it.
    SubIac,
}

/// One result of line framing.
#[derive(Debug, PartialEq, Eq)]
pub enum Frame {
    /// A complete line without its terminator, decoded lossily from UTF-8 and
    /// not yet sanitized. May be empty.
    Line(String),
    /// The current line grew past the length limit. Emitted once per such
    /// line, as soon as the limit is crossed; the rest of that line, up to
    /// and including its terminator, is discarded.
    TooLong,
}

/// Splits a client's byte stream into lines.
///
/// Holds the only per-connection input state: the unfinished line, where we
/// are in a telnet command, whether a `\r` is waiting to see what follows it,
/// and whether the current line is being discarded for being too long. The
/// unfinished line never holds more than `max_line_bytes` bytes, whatever the
/// client sends, and telnet subnegotiations are skipped without buffering.
#[derive(Debug)]
pub struct LineFramer {
    /// Content of the unfinished line, after telnet removal.
    buf: Vec<u8>,
    /// Limit for the line being read now.
    max: usize,
    /// Limit configured for later lines; becomes `max` at the next line start,
    /// so a reload never changes the rules halfway through a line.
    next_max: usize,
    telnet: Telnet,
    /// The previous data byte was `\r`: `\n` or `\0` next ends the line,
    /// anything else means the `\r` is dropped.
    cr: bool,
    /// The current line was reported as too long; skip to its end.
    discarding: bool,
    /// `IAC DO TIMING-MARK` requests seen and not yet taken.
    timing_marks: usize,
}

impl LineFramer {
    /// Creates a framer.
    ///
    /// `max_line_bytes`: longest line content accepted, in bytes, not counting
    /// the terminator.
    pub fn new(max_line_bytes: usize) -> Self {
        LineFramer {
            buf: Vec::new(),
            max: max_line_bytes,
            next_max: max_line_bytes,
            telnet: Telnet::Data,
            cr: false,
            discarding: false,
            timing_marks: 0,
        }
    }

    /// Changes the limit (config reload); applies from the next line on.
    ///
    /// If no content of the current line has arrived yet, that line already
    /// counts as the next one.
    pub fn set_max_line_bytes(&mut self, max: usize) {
        self.next_max = max;
        if self.buf.is_empty() && !self.discarding {
            self.max = max;
        }
    }

    /// Feeds bytes just read from the socket; calls `out` for each complete
    /// frame, in order.
    ///
    /// Chunk boundaries do not matter: the frames are the same however the
    /// stream is split into calls.
    pub fn push(&mut self, input: &[u8], out: &mut impl FnMut(Frame)) {
        let mut i = 0;
        while i < input.len() {
            match self.telnet {
                Telnet::Data => {
                    // Runs of ordinary bytes are the common case; take them
                    // whole rather than byte by byte.
                    if !self.cr {
                        i += self.take_plain_run(&input[i..], out);
                        if i == input.len() {
                            break;
                        }
                    }
                    let b = input[i];
                    i += 1;
                    if b == IAC {
                        self.telnet = Telnet::Iac;
                    } else {
                        self.data_byte(b, out);
                    }
                }
                Telnet::Iac => {
                    let b = input[i];
                    i += 1;
                    self.telnet_command(b, out);
                }
                Telnet::Option(verb) => {
                    if verb == DO && input[i] == TIMING_MARK {
                        self.timing_marks += 1;
                    }
                    i += 1;
                    self.telnet = Telnet::Data;
                }
                Telnet::Sub => {
                    // The body is skipped, never stored: its length is the
                    // client's choice and must not cost us memory.
                    match input[i..].iter().position(|&b| b == IAC) {
                        Some(p) => {
                            i += p + 1;
                            self.telnet = Telnet::SubIac;
                        }
                        None => i = input.len(),
                    }
                }
                Telnet::SubIac => {
                    let b = input[i];
                    i += 1;
                    match b {
                        SE => self.telnet = Telnet::Data,
                        // IAC IAC is an escaped 0xFF inside the body.
                        IAC => self.telnet = Telnet::Sub,
                        // Malformed: a real client never sends this. Ending the
                        // subnegotiation here and reading the byte as a command
                        // (as libtelnet does) keeps a stray IAC SB in garbage
                        // from swallowing the rest of the session.
                        _ => self.telnet_command(b, out),
                    }
                }
            }
        }
    }

    /// How many `IAC DO TIMING-MARK` requests arrived since the last call.
    ///
    /// The netkit `telnet` client sends one after an interrupt (Ctrl-C, or
    /// a `^O` it finds in multibyte input) and then discards everything the
    /// server sends until it gets `IAC WILL TIMING-MARK` back ([`TIMING_MARK_REPLY`]),
    /// so an unanswered one silences the session for good.
    pub fn take_timing_marks(&mut self) -> usize {
        std::mem::take(&mut self.timing_marks)
    }

    /// The stream has ended: emits the unfinished line if it has any content,
    /// whatever telnet command or `\r` was cut off after it (pushing a `\n`
    /// instead would be swallowed by an unfinished telnet command).
    pub fn finish(&mut self, out: &mut impl FnMut(Frame)) {
        self.telnet = Telnet::Data;
        self.cr = false;
        if !self.buf.is_empty() {
            self.end_line(out);
        }
    }

    /// Bytes currently buffered for the unfinished line (for memory
    /// accounting and tests). Never more than the line limit.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Releases the buffer's capacity if it is empty and large (keeps idle
    /// connections small).
    pub fn shrink(&mut self) {
        if self.buf.is_empty() && self.buf.capacity() > SHRINK_ABOVE {
            self.buf = Vec::new();
        }
    }

    /// Handles the byte after an IAC.
    fn telnet_command(&mut self, b: u8, out: &mut impl FnMut(Frame)) {
        self.telnet = match b {
            IAC => {
                // IAC IAC: a literal 0xFF data byte (it decodes to U+FFFD).
                self.data_byte(IAC, out);
                Telnet::Data
            }
            SB => Telnet::Sub,
            WILL..=DONT => Telnet::Option(b),
            // Every other command is two bytes long.
            _ => Telnet::Data,
        };
    }

    /// Consumes the plain bytes at the start of `rest` (up to the first `\n`,
    /// `\r` or IAC), and the line end after them when that is simple.
    /// Returns how many bytes were consumed. Requires `Data` state with no
    /// `\r` pending.
    fn take_plain_run(&mut self, rest: &[u8], out: &mut impl FnMut(Frame)) -> usize {
        let n = rest
            .iter()
            .position(|&b| b == b'\n' || b == b'\r' || b == IAC)
            .unwrap_or(rest.len());
        let run = &rest[..n];
        // A whole line inside one read (the usual case): decode it straight
        // from the input instead of copying it through the buffer.
        if self.buf.is_empty() && !self.discarding && run.len() <= self.max {
            let line_end = match (rest.get(n).copied(), rest.get(n + 1).copied()) {
                (Some(b'\n'), _) => Some(n + 1),
                (Some(b'\r'), Some(b'\n' | 0)) => Some(n + 2),
                _ => None,
            };
            if let Some(used) = line_end {
                out(Frame::Line(decode(run)));
                self.start_next_line();
                return used;
            }
        }
        self.append(run, out);
        n
    }

    /// Handles one data byte (telnet already removed) the slow way.
    fn data_byte(&mut self, b: u8, out: &mut impl FnMut(Frame)) {
        if std::mem::take(&mut self.cr) && (b == b'\n' || b == 0) {
            self.end_line(out);
            return;
        }
        // A `\r` not followed by `\n` or `\0` is dropped: the sanitizer
        // would remove it anyway, and it must not count as a line end.
        match b {
            b'\n' => self.end_line(out),
            b'\r' => self.cr = true,
            _ => self.append(&[b], out),
        }
    }

    /// Adds line content, reporting the line as too long the moment it
    /// crosses the limit.
    fn append(&mut self, bytes: &[u8], out: &mut impl FnMut(Frame)) {
        if self.discarding || bytes.is_empty() {
            return;
        }
        let len = self.buf.len() + bytes.len();
        if len > self.max {
            self.buf.clear();
            self.discarding = true;
            out(Frame::TooLong);
            return;
        }
        if len > self.buf.capacity() {
            // Grow geometrically as Vec would, but never past the limit, so
            // the capacity stays bounded by `max` too.
            let target = (self.buf.capacity() * 2).max(len).min(self.max);
            self.buf.reserve_exact(target - self.buf.len());
        }
        self.buf.extend_from_slice(bytes);
    }

    /// The current line has ended: emit it, or stop discarding it.
    fn end_line(&mut self, out: &mut impl FnMut(Frame)) {
        if self.discarding {
            self.discarding = false;
        } else {
            out(Frame::Line(decode(&self.buf)));
            self.buf.clear();
        }
        self.start_next_line();
    }

    fn start_next_line(&mut self) {
        self.max = self.next_max;
    }
}

/// Lossy UTF-8 decoding: invalid sequences become U+FFFD.
fn decode(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// True for characters that [`sanitize`] removes (TAB is not one: it is
/// replaced, not removed).
fn is_stripped(c: char) -> bool {
    is_control(c) || is_format_override(c)
}

/// C0 controls, DEL and C1 controls: they drive terminals (ESC starts escape
/// sequences, and U+009B is a one-character CSI on some terminals).
fn is_control(c: char) -> bool {
    matches!(c, '\u{0}'..='\u{1f}' | '\u{7f}'..='\u{9f}')
}

/// Bidi marks, embeddings, overrides and isolates reorder the text that
/// follows them, including other users' text on the same screen line; U+FEFF
/// is an invisible byte-order mark.
fn is_format_override(c: char) -> bool {
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

/// What a registered user's line asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum Input<'a> {
    /// Ordinary text for the room, as typed; `//text` arrives as `/text`.
    Chat(&'a str),
    /// `/help`.
    Help,
    /// `/who`.
    Who,
    /// `/nick NEW`, with the argument trimmed (not yet validated).
    Nick(&'a str),
    /// `/me ACTION`.
    Me(&'a str),
    /// `/msg NICK TEXT`: a private message.
    Msg {
        /// The recipient's nickname as typed.
        to: &'a str,
        /// The message text.
        text: &'a str,
    },
    /// `/quit [REASON]`; the reason trimmed, `None` if empty.
    Quit(Option<&'a str>),
    /// A known command with missing arguments, carrying its name: `"nick"`,
    /// `"me"` or `"msg"`.
    Usage(&'static str),
    /// An unknown command's name as typed: `/foo bar` gives `"foo"`, a bare
    /// `/` gives `""`.
    Unknown(&'a str),
}

/// Parses one sanitized, non-empty line.
///
/// Command names are case-insensitive (`/WHO` works). Arguments are separated
/// from the command by one or more spaces. `/who extra` and `/help extra`
/// ignore the extra. Text in `Chat` is returned as is (not trimmed).
pub fn parse_input(line: &str) -> Input<'_> {
    let Some(rest) = line.strip_prefix('/') else {
        return Input::Chat(line);
    };
    if rest.starts_with('/') {
        // `//text` is the escape for chat text that starts with a slash.
        return Input::Chat(rest);
    }
    let (name, args) = split_word(rest);
    let is = |known: &str| name.eq_ignore_ascii_case(known);
    if is("help") {
        Input::Help
    } else if is("who") {
        Input::Who
    } else if is("nick") {
        match args.trim() {
            "" => Input::Usage("nick"),
            nick => Input::Nick(nick),
        }
    } else if is("me") {
        if args.trim().is_empty() {
            Input::Usage("me")
        } else {
            Input::Me(args)
        }
    } else if is("msg") {
        let (to, text) = split_word(args);
        if to.is_empty() || text.trim().is_empty() {
            Input::Usage("msg")
        } else {
            Input::Msg { to, text }
        }
    } else if is("quit") {
        let reason = args.trim();
        Input::Quit((!reason.is_empty()).then_some(reason))
    } else {
        Input::Unknown(name)
    }
}

/// Splits off the first space-separated word; the remainder starts after
/// all the spaces that follow it.
fn split_word(s: &str) -> (&str, &str) {
    match s.split_once(' ') {
        Some((word, rest)) => (word, rest.trim_start_matches(' ')),
        None => (s, ""),
    }
}

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
    Control,
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
            NickError::Control => f.write_str("nickname may not contain control characters"),
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
/// characters; none of the characters [`sanitize`] removes, no U+FFFD, and no
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
            return Err(NickError::Control);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_rng::Rng;

    /// Frames from feeding `input` in one push.
    fn frames(max: usize, input: &[u8]) -> Vec<Frame> {
        frames_split(max, &[input])
    }

    /// Frames from feeding each chunk in its own push.
    fn frames_split(max: usize, chunks: &[&[u8]]) -> Vec<Frame> {
        let mut framer = LineFramer::new(max);
        let mut got = Vec::new();
        for chunk in chunks {
            framer.push(chunk, &mut |f| got.push(f));
            assert!(framer.buffered() <= max);
        }
        got
    }

    fn line(s: &str) -> Frame {
        Frame::Line(s.to_owned())
    }

    /// Asserts that `input` frames to `expected` in one push, one byte per
    /// push, and split in two at every position.
    fn assert_frames_any_split(max: usize, input: &[u8], expected: &[Frame]) {
        assert_eq!(frames(max, input), expected, "whole input");
        let bytes: Vec<&[u8]> = input.chunks(1).collect();
        assert_eq!(frames_split(max, &bytes), expected, "byte by byte");
        for at in 0..=input.len() {
            let (a, b) = input.split_at(at);
            assert_eq!(frames_split(max, &[a, b]), expected, "split at {at}");
        }
    }

    #[test]
    fn lf_ends_lines() {
        assert_frames_any_split(100, b"hello\nworld\n", &[line("hello"), line("world")]);
    }

    #[test]
    fn unfinished_line_is_not_emitted() {
        let mut framer = LineFramer::new(100);
        let mut got = Vec::new();
        framer.push(b"hel", &mut |f| got.push(f));
        assert!(got.is_empty());
        assert_eq!(framer.buffered(), 3);
        framer.push(b"lo\n", &mut |f| got.push(f));
        assert_eq!(got, [line("hello")]);
        assert_eq!(framer.buffered(), 0);
    }

    #[test]
    fn crlf_ends_lines_without_extra_empty_line() {
        assert_frames_any_split(100, b"hello\r\nworld\r\n", &[line("hello"), line("world")]);
    }

    #[test]
    fn telnet_cr_nul_ends_lines() {
        assert_frames_any_split(100, b"a\r\0b\n", &[line("a"), line("b")]);
    }

    #[test]
    fn cr_split_across_pushes() {
        assert_eq!(
            frames_split(100, &[b"a\r", b"\nb\r", b"\0"]),
            [line("a"), line("b")]
        );
    }

    #[test]
    fn lone_cr_is_dropped() {
        assert_frames_any_split(100, b"a\rb\n", &[line("ab")]);
        assert_frames_any_split(100, b"a\r\r\nb\r\r\r\0", &[line("a"), line("b")]);
        assert_frames_any_split(100, b"\rx\n", &[line("x")]);
    }

    #[test]
    fn empty_lines_are_emitted() {
        assert_frames_any_split(100, b"\n\r\n\r\0", &[line(""), line(""), line("")]);
    }

    #[test]
    fn nul_without_cr_is_content() {
        assert_frames_any_split(100, b"a\0b\n", &[line("a\0b")]);
    }

    #[test]
    fn iac_option_negotiation_is_removed() {
        // IAC WILL ECHO, IAC WONT, IAC DO SGA, IAC DONT around the text.
        let input = b"\xff\xfb\x01he\xff\xfc\x03l\xff\xfd\x03lo\xff\xfe\x22\n";
        assert_frames_any_split(100, input, &[line("hello")]);
    }

    #[test]
    fn iac_option_byte_may_be_newline() {
        // The option byte is consumed even when it looks like a line end.
        assert_frames_any_split(100, b"a\xff\xfd\nb\n", &[line("ab")]);
    }

    #[test]
    fn iac_two_byte_commands_are_removed() {
        // NOP, AYT, IP, GA, EL, and a stray SE.
        let input = b"a\xff\xf1b\xff\xf6c\xff\xf4d\xff\xf9e\xff\xf8f\xff\xf0\n";
        assert_frames_any_split(100, input, &[line("abcdef")]);
    }

    #[test]
    fn iac_iac_is_a_literal_ff_byte() {
        assert_frames_any_split(100, b"a\xff\xffb\n", &[line("a\u{fffd}b")]);
    }

    #[test]
    fn iac_between_cr_and_lf_does_not_split_the_terminator() {
        assert_frames_any_split(100, b"a\r\xff\xf1\nb\n", &[line("a"), line("b")]);
    }

    #[test]
    fn subnegotiation_is_removed() {
        // IAC SB NAWS 0 80 0 24 IAC SE, with an escaped IAC in the body.
        let input = b"x\xff\xfa\x1f\x00\x50\xff\xff\x18\xff\xf0y\n";
        assert_frames_any_split(100, input, &[line("xy")]);
    }

    #[test]
    fn subnegotiation_body_may_contain_newlines() {
        assert_frames_any_split(100, b"a\xff\xfa\x18\n\r\n\xff\xf0b\n", &[line("ab")]);
    }

    #[test]
    fn long_subnegotiation_is_skipped_without_buffering() {
        let mut framer = LineFramer::new(16);
        let mut got = Vec::new();
        framer.push(b"ab\xff\xfa\x18", &mut |f| got.push(f));
        let body = vec![b'z'; 1 << 20];
        for _ in 0..10 {
            framer.push(&body, &mut |f| got.push(f));
            assert_eq!(framer.buffered(), 2);
        }
        framer.push(b"\xff\xf0cd\n", &mut |f| got.push(f));
        assert_eq!(got, [line("abcd")]);
    }

    #[test]
    fn malformed_iac_in_subnegotiation_ends_it() {
        // IAC NOP inside SB: treated as a command that ends the subnegotiation.
        assert_frames_any_split(100, b"a\xff\xfaxx\xff\xf1b\n", &[line("ab")]);
    }

    #[test]
    fn invalid_utf8_becomes_replacement_char() {
        assert_frames_any_split(100, b"a\xc3(b\xe4\xbd\n", &[line("a\u{fffd}(b\u{fffd}")]);
        assert_frames_any_split(100, "小明\n".as_bytes(), &[line("小明")]);
    }

    #[test]
    fn exactly_max_bytes_is_accepted() {
        assert_frames_any_split(5, b"abcde\nabcde\r\n", &[line("abcde"), line("abcde")]);
        // The limit counts bytes, not chars: "小明" is 6 bytes.
        assert_eq!(frames(6, "小明\n".as_bytes()), [line("小明")]);
        assert_eq!(frames(5, "小明\n".as_bytes()), [Frame::TooLong]);
    }

    #[test]
    fn max_plus_one_is_too_long_once_then_next_line_is_fine() {
        assert_frames_any_split(5, b"abcdef\nok\n", &[Frame::TooLong, line("ok")]);
        assert_frames_any_split(
            5,
            b"abcdefghijklmnop\r\0ok\r\n",
            &[Frame::TooLong, line("ok")],
        );
    }

    #[test]
    fn too_long_is_reported_when_the_limit_is_crossed() {
        let mut framer = LineFramer::new(5);
        let mut got = Vec::new();
        framer.push(b"abcde", &mut |f| got.push(f));
        assert!(got.is_empty());
        framer.push(b"f", &mut |f| got.push(f));
        assert_eq!(got, [Frame::TooLong]);
        framer.push(b"ghijklmnop", &mut |f| got.push(f));
        assert_eq!(got, [Frame::TooLong]);
        assert_eq!(framer.buffered(), 0);
    }

    #[test]
    fn telnet_and_dropped_cr_do_not_count_toward_the_limit() {
        assert_frames_any_split(3, b"a\xff\xf1b\rc\n", &[line("abc")]);
        assert_frames_any_split(3, b"a\xff\xffc\n", &[line("a\u{fffd}c")]);
        assert_frames_any_split(3, b"abc\xff\xff\n", &[Frame::TooLong]);
    }

    #[test]
    fn ten_megabyte_line_stays_bounded() {
        let max = 4096;
        let mut framer = LineFramer::new(max);
        let mut got = Vec::new();
        let chunk = vec![b'x'; 64 * 1024];
        for _ in 0..160 {
            framer.push(&chunk, &mut |f| got.push(f));
            assert!(framer.buffered() <= max);
        }
        framer.push(b"\nafter\n", &mut |f| got.push(f));
        assert_eq!(got, [Frame::TooLong, line("after")]);
    }

    #[test]
    fn buffer_capacity_stays_bounded() {
        let mut framer = LineFramer::new(1000);
        framer.push(&[b'y'; 999], &mut |_| {});
        assert!(framer.buf.capacity() <= 1000);
        framer.push(b"\n", &mut |_| {});
        framer.shrink();
        assert_eq!(framer.buf.capacity(), 0);
    }

    #[test]
    fn shrink_keeps_a_partial_line() {
        let mut framer = LineFramer::new(1000);
        let mut got = Vec::new();
        framer.push(&[b'y'; 600], &mut |f| got.push(f));
        framer.shrink();
        assert_eq!(framer.buffered(), 600);
        framer.push(b"\n", &mut |f| got.push(f));
        assert_eq!(got, [line(&"y".repeat(600))]);
    }

    #[test]
    fn new_limit_applies_from_the_next_line() {
        let mut framer = LineFramer::new(5);
        let mut got = Vec::new();
        framer.push(b"abc", &mut |f| got.push(f));
        framer.set_max_line_bytes(2);
        framer.push(b"de\nabc\nab\n", &mut |f| got.push(f));
        assert_eq!(got, [line("abcde"), Frame::TooLong, line("ab")]);

        // Between lines the new limit applies at once.
        let mut framer = LineFramer::new(5);
        let mut got = Vec::new();
        framer.set_max_line_bytes(8);
        framer.push(b"abcdefgh\n", &mut |f| got.push(f));
        assert_eq!(got, [line("abcdefgh")]);
    }

    #[test]
    fn zero_limit_accepts_only_empty_lines() {
        assert_frames_any_split(0, b"\na\n\r\n", &[line(""), Frame::TooLong, line("")]);
    }

    /// The reference model for the property test: the same rules written the
    /// obvious way over the whole input at once.
    fn reference_frames(max: usize, input: &[u8]) -> Vec<Frame> {
        let mut data = Vec::new();
        let mut i = 0;
        let mut in_sub = false;
        while i < input.len() {
            let b = input[i];
            if in_sub {
                if b == IAC && i + 1 < input.len() {
                    match input[i + 1] {
                        SE => in_sub = false,
                        IAC => {}
                        _ => {
                            // Malformed: end the subnegotiation and let the
                            // IAC be read again as a command.
                            in_sub = false;
                            continue;
                        }
                    }
                    i += 2;
                } else {
                    i += 1;
                }
                continue;
            }
            if b != IAC {
                data.push(b);
                i += 1;
                continue;
            }
            match input.get(i + 1) {
                None => break,
                Some(&IAC) => {
                    data.push(IAC);
                    i += 2;
                }
                Some(&SB) => {
                    in_sub = true;
                    i += 2;
                }
                Some(&(WILL..=DONT)) => i += 3,
                Some(_) => i += 2,
            }
        }
        let mut out = Vec::new();
        let mut content = Vec::new();
        let mut reported = false;
        let mut j = 0;
        while j < data.len() {
            let b = data[j];
            let next = data.get(j + 1).copied();
            let ends = b == b'\n' || (b == b'\r' && matches!(next, Some(b'\n' | 0)));
            if ends {
                if !reported {
                    out.push(Frame::Line(String::from_utf8_lossy(&content).into_owned()));
                }
                content.clear();
                reported = false;
                j += if b == b'\r' { 2 } else { 1 };
                continue;
            }
            if b != b'\r' {
                content.push(b);
                if content.len() > max && !reported {
                    out.push(Frame::TooLong);
                    reported = true;
                }
            }
            j += 1;
        }
        out
    }

    /// Random bytes for the framer.
    trait FramerBytes {
        fn byte(&mut self) -> u8;
    }

    impl FramerBytes for Rng {
        /// Bytes biased toward the ones the framer treats specially.
        fn byte(&mut self) -> u8 {
            const SPECIAL: &[u8] = &[
                b'\r', b'\n', 0, 0xff, 0xff, 0x1b, 0xfa, 0xf0, 0xfb, 0xfe, 0xf1, b'\t', 0x7f, 0xc2,
                0x9b, 0xe2, 0x80, 0xae, 0xe5, 0xb0, 0x8f, b'a', b'#', b'/',
            ];
            match self.below(3) {
                0 => self.next() as u8,
                _ => SPECIAL[self.below(SPECIAL.len())],
            }
        }
    }

    #[test]
    fn random_input_in_random_splits_frames_consistently() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        for _ in 0..3000 {
            let len = rng.below(200);
            let input: Vec<u8> = (0..len).map(|_| rng.byte()).collect();
            let max = rng.below(24);
            let expected = reference_frames(max, &input);

            assert_eq!(frames(max, &input), expected, "input {input:x?} max {max}");
            let bytes: Vec<&[u8]> = input.chunks(1).collect();
            assert_eq!(
                frames_split(max, &bytes),
                expected,
                "input {input:x?} max {max}"
            );
            let mut chunks = Vec::new();
            let mut rest = &input[..];
            while !rest.is_empty() {
                let (a, b) = rest.split_at(rng.below(rest.len() + 1));
                chunks.push(a);
                rest = b;
            }
            assert_eq!(
                frames_split(max, &chunks),
                expected,
                "input {input:x?} max {max}"
            );

            for frame in &expected {
                if let Frame::Line(text) = frame {
                    // U+FFFD is 3 bytes but stands for at least one input byte.
                    let raw_len: usize = text
                        .chars()
                        .map(|c| if c == '\u{fffd}' { 1 } else { c.len_utf8() })
                        .sum();
                    assert!(raw_len <= max, "{text:?} max {max}");
                    let clean = sanitize(text);
                    assert!(
                        !clean.chars().any(|c| c == '\t' || is_stripped(c)),
                        "{clean:?}"
                    );
                    let _ = parse_input(&clean); // must not panic; the result is irrelevant
                    let _ = nick_from_registration(text, 24); // likewise
                }
            }
        }
    }

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

    #[test]
    fn parse_chat() {
        assert_eq!(parse_input("hello"), Input::Chat("hello"));
        assert_eq!(parse_input("  spaced  "), Input::Chat("  spaced  "));
        assert_eq!(parse_input(" /who"), Input::Chat(" /who"));
        assert_eq!(parse_input("a#b"), Input::Chat("a#b"));
    }

    #[test]
    fn parse_double_slash_is_chat() {
        assert_eq!(parse_input("//etc/passwd"), Input::Chat("/etc/passwd"));
        assert_eq!(parse_input("//"), Input::Chat("/"));
    }

    #[test]
    fn parse_help_and_who_ignore_extra() {
        assert_eq!(parse_input("/help"), Input::Help);
        assert_eq!(parse_input("/help me please"), Input::Help);
        assert_eq!(parse_input("/who"), Input::Who);
        assert_eq!(parse_input("/who is here"), Input::Who);
    }

    #[test]
    fn parse_command_names_are_case_insensitive() {
        assert_eq!(parse_input("/WHO"), Input::Who);
        assert_eq!(parse_input("/HeLp"), Input::Help);
        assert_eq!(parse_input("/NICK bob"), Input::Nick("bob"));
        assert_eq!(parse_input("/Quit"), Input::Quit(None));
    }

    #[test]
    fn parse_nick() {
        assert_eq!(parse_input("/nick bob"), Input::Nick("bob"));
        assert_eq!(parse_input("/nick    bob   "), Input::Nick("bob"));
        assert_eq!(parse_input("/nick a b"), Input::Nick("a b"));
        assert_eq!(parse_input("/nick"), Input::Usage("nick"));
        assert_eq!(parse_input("/nick    "), Input::Usage("nick"));
    }

    #[test]
    fn parse_me() {
        assert_eq!(parse_input("/me waves"), Input::Me("waves"));
        assert_eq!(parse_input("/me   waves  hi"), Input::Me("waves  hi"));
        assert_eq!(parse_input("/me"), Input::Usage("me"));
        assert_eq!(parse_input("/me   "), Input::Usage("me"));
    }

    #[test]
    fn parse_msg() {
        assert_eq!(
            parse_input("/msg bob hi there"),
            Input::Msg {
                to: "bob",
                text: "hi there"
            }
        );
        assert_eq!(
            parse_input("/MSG  bob   hi"),
            Input::Msg {
                to: "bob",
                text: "hi"
            }
        );
        assert_eq!(parse_input("/msg bob"), Input::Usage("msg"));
        assert_eq!(parse_input("/msg bob   "), Input::Usage("msg"));
        assert_eq!(parse_input("/msg"), Input::Usage("msg"));
    }

    #[test]
    fn parse_quit() {
        assert_eq!(parse_input("/quit"), Input::Quit(None));
        assert_eq!(parse_input("/quit   "), Input::Quit(None));
        assert_eq!(parse_input("/quit  bye now "), Input::Quit(Some("bye now")));
    }

    #[test]
    fn parse_unknown() {
        assert_eq!(parse_input("/foo bar"), Input::Unknown("foo"));
        assert_eq!(parse_input("/Whois bob"), Input::Unknown("Whois"));
        assert_eq!(parse_input("/"), Input::Unknown(""));
        assert_eq!(parse_input("/ who"), Input::Unknown(""));
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
            Err(NickError::Control)
        );
        assert_eq!(validate_nick("a\u{9b}b", 24), Err(NickError::Control));
        assert_eq!(validate_nick("a\u{7f}", 24), Err(NickError::Control));
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
            NickError::Control.to_string(),
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

    #[test]
    fn timing_mark_requests_are_counted_not_passed_on() {
        let mut framer = LineFramer::new(100);
        let mut frames = Vec::new();
        // What netkit telnet sends for Ctrl-C: IAC IP IAC DO TIMING-MARK.
        framer.push(b"ab\xff\xf4\xff\xfd", &mut |f| frames.push(f));
        framer.push(b"\x06cd\n\xff\xfb\x06\n", &mut |f| frames.push(f));
        assert_eq!(
            frames,
            vec![Frame::Line("abcd".into()), Frame::Line(String::new())]
        );
        // IAC WILL TIMING-MARK is not a request.
        assert_eq!(framer.take_timing_marks(), 1);
        assert_eq!(framer.take_timing_marks(), 0);
    }
}
