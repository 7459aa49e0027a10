//! The invariants of chatd's parsers, written once and driven two ways: by
//! libFuzzer through the `cargo fuzz` targets in `fuzz_targets/`, and by a seeded
//! generator in the normal test suite (`tests/it/properties.rs` includes this file as
//! a module).
//!
//! Each `check_*` function takes arbitrary bytes, reads them as the decisions and
//! data of one test case, and panics when an invariant breaks. Every parser that
//! sees client or file bytes is covered: line framing (telnet, CR, NUL, the length
//! limit), the sanitizer, the command parser, the nickname rules and the config
//! parser. The invariants:
//! - no input makes a parser panic;
//! - no control byte from the input reaches what other users see;
//! - no line is longer than the limit, and the framer never buffers more;
//! - framing does not depend on how the stream is split into reads;
//! - encoding lines (with telnet noise) and framing them gives the lines back;
//! - a parsed config renders to text that parses to the same config.

use chatd::command::{self, Input, Params};
use chatd::config::{self, Config};
use chatd::nick::{nick_from_registration, nick_key, validate_nick};
use chatd::protocol::{Frame, LineFramer, sanitize};
use chatd::test_rng::Rng;
use chatd::text::{LeaveReason, Texts};

/// Telnet "interpret as command".
const IAC: u8 = 0xFF;

/// Reads a test case's decisions from the front of the fuzz input; once it is
/// used up, every decision reads as zero.
pub struct Decisions<'a> {
    data: &'a [u8],
}

impl<'a> Decisions<'a> {
    /// Decisions read from `data`.
    pub fn new(data: &'a [u8]) -> Self {
        Decisions { data }
    }

    /// The next byte, or 0 at the end.
    pub fn byte(&mut self) -> u8 {
        match self.data.split_first() {
            Some((&b, rest)) => {
                self.data = rest;
                b
            }
            None => 0,
        }
    }

    /// The next eight bytes as a number (zeros past the end).
    pub fn u64(&mut self) -> u64 {
        (0..8).fold(0, |n, _| (n << 8) | u64::from(self.byte()))
    }

    /// The next `n` bytes, or as many as are left.
    pub fn take(&mut self, n: usize) -> &'a [u8] {
        let (taken, rest) = self.data.split_at(n.min(self.data.len()));
        self.data = rest;
        taken
    }

    /// Everything not read yet.
    pub fn rest(&mut self) -> &'a [u8] {
        self.take(self.data.len())
    }
}

/// Chunk sizes for splitting a stream, from a seed in the input (chatd's test RNG).
struct Splitter(u64);

impl Splitter {
    /// Splits `bytes` into chunks of 1 to 17 bytes, or one chunk when the seed is 0.
    fn split<'b>(&mut self, bytes: &'b [u8]) -> Vec<&'b [u8]> {
        if self.0 == 0 {
            return vec![bytes];
        }
        let mut rng = Rng(self.0);
        let mut chunks = Vec::new();
        let mut rest = bytes;
        while !rest.is_empty() {
            let (chunk, tail) = rest.split_at(rest.len().min(1 + rng.below(17)));
            chunks.push(chunk);
            rest = tail;
        }
        self.0 = rng.0;
        chunks
    }
}

/// Frames `chunks` with limit `max`, one push per chunk, then ends the stream;
/// checks after every push that the framer holds no more than the limit.
fn frame(max: usize, chunks: &[&[u8]]) -> Vec<Frame> {
    let mut framer = LineFramer::new(max);
    let mut frames = Vec::new();
    for chunk in chunks {
        framer.push(chunk, &mut |f| frames.push(f));
        assert!(
            framer.buffered() <= max,
            "framer buffers {} bytes, limit {max}",
            framer.buffered()
        );
        framer.shrink();
    }
    framer.finish(&mut |f| frames.push(f));
    frames
}

/// The raw characters `sanitize` must remove: C0 controls but TAB, DEL, C1
/// controls, and the bidi/format characters that reorder other text. Written out
/// here from the protocol's rules rather than taken from the code under test.
fn must_strip(c: char) -> bool {
    matches!(
        c,
        '\u{0}'..='\u{8}'
            | '\u{a}'..='\u{1f}'
            | '\u{7f}'..='\u{9f}'
            | '\u{200e}'
            | '\u{200f}'
            | '\u{202a}'..='\u{202e}'
            | '\u{2066}'..='\u{2069}'
            | '\u{feff}'
    )
}

/// Characters that may never reach a user's terminal from another user.
fn is_terminal_control(c: char) -> bool {
    c == '\t' || must_strip(c)
}

/// The limit for a test case: small (so lines go over it often) or the default.
fn limit(decisions: &mut Decisions<'_>) -> usize {
    match decisions.byte() {
        b @ 0..=199 => usize::from(b % 40),
        _ => 4096,
    }
}

/// Framing raw bytes: the same frames however the stream is split, no line over
/// the limit, and everything downstream of the framer (sanitizer, command parser,
/// nickname rules, the lines other users get) holds its invariants for each line.
pub fn check_framer(data: &[u8]) {
    let mut decisions = Decisions::new(data);
    let max = limit(&mut decisions);
    let mut splitter = Splitter(decisions.u64());
    let stream = decisions.rest();

    let whole = frame(max, &[stream]);
    assert_eq!(
        frame(max, &splitter.split(stream)),
        whole,
        "split framing differs"
    );
    let bytes: Vec<&[u8]> = stream.chunks(1).collect();
    assert_eq!(frame(max, &bytes), whole, "byte-by-byte framing differs");

    // Each line end gives at most one frame, and so does an unfinished last line.
    let line_ends = stream.iter().filter(|&&b| b == b'\n' || b == 0).count();
    assert!(whole.len() <= line_ends + 1, "more frames than lines");
    for f in &whole {
        let Frame::Line(text) = f else { continue };
        assert!(!text.contains(['\n', '\r']), "line end inside {text:?}");
        // U+FFFD is three bytes but stands for at least one input byte.
        let raw_len: usize = text
            .chars()
            .map(|c| if c == '\u{fffd}' { 1 } else { c.len_utf8() })
            .sum();
        assert!(raw_len <= max, "line of {raw_len} bytes, limit {max}");
        check_line_downstream(text);
    }
}

/// What happens to one framed line, registered or not.
fn check_line_downstream(text: &str) {
    let clean = sanitize(text);
    check_sanitized(text, &clean);
    check_parsed(&clean);
    for max in [1, 24, 64] {
        check_registration(text, max);
    }
}

/// Encoding lines for the wire and framing them gives the lines back.
///
/// The input describes lines and telnet noise; they are encoded the way a telnet
/// client would send them (`\n`, `\r\n` or `\r\0` line ends, 0xFF doubled, option
/// negotiation, subnegotiations and two-byte commands anywhere inside a line),
/// split into random reads, and framed: the frames must be exactly the lines, with
/// `TooLong` for those over the limit. The stream may end in an unfinished line,
/// even in the middle of a telnet command; that line still counts.
pub fn check_framing_round_trip(data: &[u8]) {
    let mut decisions = Decisions::new(data);
    let max = limit(&mut decisions);
    let mut splitter = Splitter(decisions.u64());
    let mut stream = Vec::new();
    let mut expected = Vec::new();
    for _ in 0..64 {
        let len = usize::from(decisions.byte() % 48);
        let content: Vec<u8> = decisions
            .take(len)
            .iter()
            .copied()
            .filter(|&b| b != b'\n' && b != b'\r')
            .collect();
        // Telnet noise goes at one place in the line, possibly its very start or end.
        let noise_at = usize::from(decisions.byte()) % (content.len() + 1);
        let noise = telnet_noise(&mut decisions);
        for (i, &b) in content.iter().enumerate() {
            if i == noise_at {
                stream.extend_from_slice(&noise);
            }
            stream.push(b);
            if b == IAC {
                stream.push(IAC);
            }
        }
        if noise_at == content.len() {
            stream.extend_from_slice(&noise);
        }
        // A stream can end anywhere: after a `\r`, inside a telnet command, or
        // just after the line's text.
        const CUTS: [&[u8]; 5] = [b"\r", &[IAC], &[IAC, 0xFB], &[IAC, 0xFA, 1], b""];
        let ending = decisions.byte();
        let last = decisions.data.is_empty();
        let terminated = ending % 4 < 3 || !last;
        stream.extend_from_slice(match ending % 4 {
            0 => b"\n",
            1 => b"\r\n",
            2 => b"\r\0",
            _ if last => CUTS[usize::from(ending / 4) % CUTS.len()],
            _ => b"\n",
        });
        if content.len() > max {
            expected.push(Frame::TooLong);
        } else if terminated || !content.is_empty() {
            expected.push(Frame::Line(String::from_utf8_lossy(&content).into_owned()));
        }
        if last {
            break;
        }
    }
    assert_eq!(
        frame(max, &splitter.split(&stream)),
        expected,
        "stream {stream:x?}"
    );
}

/// A telnet command a client might send, chosen by the input; empty for none.
fn telnet_noise(decisions: &mut Decisions<'_>) -> Vec<u8> {
    match decisions.byte() % 5 {
        // WILL, WONT, DO, DONT with an option byte (which may be anything).
        0 => vec![IAC, 0xFB + decisions.byte() % 4, decisions.byte()],
        // A two-byte command: NOP, DM, BRK, IP, AO, AYT, EC, EL, GA (and SE).
        1 => vec![IAC, 0xF0 + decisions.byte() % 10],
        // A subnegotiation, its body's 0xFF bytes doubled.
        2 => {
            let len = usize::from(decisions.byte() % 16);
            let mut sub = vec![IAC, 0xFA];
            for &b in decisions.take(len) {
                sub.push(b);
                if b == IAC {
                    sub.push(IAC);
                }
            }
            sub.extend_from_slice(&[IAC, 0xF0]);
            sub
        }
        _ => Vec::new(),
    }
}

/// Sanitizing arbitrary text (lossily decoded) matches the rules, is idempotent,
/// and lets no terminal control through to any line the server formats with it.
pub fn check_sanitize(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let clean = sanitize(&text);
    check_sanitized(&text, &clean);
}

/// How an escape sequence starts (ECMA-48), for [`expected_clean`].
enum Sequence {
    /// `ESC [` or U+009B: parameters `0`–`?`, intermediates space–`/`, a final `@`–`~`.
    Csi,
    /// OSC, DCS, SOS, PM, APC: up to BEL or ST (`ESC \`, U+009C).
    String,
    /// Any other `ESC`: intermediates space–`/`, a final `0`–`~`.
    Other,
}

/// What `sanitize` must leave of `raw`, written out from the protocol's rules
/// (docs/protocol.md) rather than taken from the code under test: every escape
/// sequence goes whole, then every character of [`must_strip`], and TAB
/// becomes a space.
fn expected_clean(raw: &str) -> String {
    let chars: Vec<char> = raw.chars().collect();
    let within =
        |i: usize, low: char, high: char| chars.get(i).is_some_and(|c| (low..=high).contains(c));
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        i += 1;
        let sequence = match c {
            '\u{1b}' => match chars.get(i) {
                Some('[') => {
                    i += 1;
                    Sequence::Csi
                }
                Some(']' | 'P' | 'X' | '^' | '_') => {
                    i += 1;
                    Sequence::String
                }
                Some(' '..='~') => Sequence::Other,
                _ => continue,
            },
            '\u{9b}' => Sequence::Csi,
            '\u{90}' | '\u{98}' | '\u{9d}' | '\u{9e}' | '\u{9f}' => Sequence::String,
            '\t' => {
                out.push(' ');
                continue;
            }
            c if must_strip(c) => continue,
            c => {
                out.push(c);
                continue;
            }
        };
        match sequence {
            Sequence::Csi => {
                while within(i, '0', '?') {
                    i += 1;
                }
                while within(i, ' ', '/') {
                    i += 1;
                }
                if within(i, '@', '~') {
                    i += 1;
                }
            }
            Sequence::Other => {
                while within(i, ' ', '/') {
                    i += 1;
                }
                if within(i, '0', '~') {
                    i += 1;
                }
            }
            Sequence::String => loop {
                match chars.get(i) {
                    None => break,
                    Some('\u{7}' | '\u{9c}') => {
                        i += 1;
                        break;
                    }
                    // ST ends it; any other ESC ends it and starts anew.
                    Some('\u{1b}') => {
                        if chars.get(i + 1) == Some(&'\\') {
                            i += 2;
                        }
                        break;
                    }
                    Some(_) => i += 1,
                }
            },
        }
    }
    out
}

/// `clean` is `sanitize(raw)`.
fn check_sanitized(raw: &str, clean: &str) {
    let expected = expected_clean(raw);
    assert_eq!(clean, expected, "sanitize({raw:?})");
    assert!(
        clean.chars().all(|c| !c.is_control()),
        "control left in {clean:?}"
    );
    assert_eq!(sanitize(clean), clean, "sanitize is not idempotent");
    if expected == raw {
        assert!(
            matches!(sanitize(raw), std::borrow::Cow::Borrowed(_)),
            "clean text {raw:?} was copied"
        );
    }
    check_formatted(clean);
}

/// Every line the server builds around sanitized user text, in both languages,
/// with colors off, holds no control character but its final CRLF; with colors on,
/// none but the server's own color codes.
fn check_formatted(clean: &str) {
    let nick = "nick";
    for language in [config::Language::En, config::Language::Zh] {
        for colors in [false, true] {
            let texts = Texts { language, colors };
            let reason = LeaveReason::Quit(Some(clean.trim().to_owned()));
            let lines = [
                texts.chat(nick, clean),
                texts.action(nick, clean),
                texts.private_from(nick, clean),
                texts.private_sent(nick, clean),
                texts.no_such_user(clean),
                texts.unknown_command(clean),
                texts.left(nick, &reason, 1, 2),
            ];
            for line in lines {
                let body = line
                    .strip_suffix("\r\n")
                    .unwrap_or_else(|| panic!("no CRLF at the end of {line:?}"));
                let body = if colors {
                    body.replace("\x1b[33m", "").replace("\x1b[39m", "")
                } else {
                    body.to_owned()
                };
                assert!(
                    !body.chars().any(is_terminal_control),
                    "control character in {line:?}"
                );
            }
        }
    }
}

/// Commands parsed from arbitrary raw lines keep their documented shape.
pub fn check_commands(data: &[u8]) {
    let mut decisions = Decisions::new(data);
    let max = 1 + usize::from(decisions.byte() % 64);
    let raw = String::from_utf8_lossy(decisions.rest());
    check_parsed(&raw);
    check_registration(&raw, max);
    check_rename(&raw, max);
}

/// The shape of `command::parse(line)` for a raw line.
fn check_parsed(line: &str) {
    let input = command::parse(line);
    let Some(rest) = line.strip_prefix('/') else {
        assert_eq!(input, Input::Chat(line), "plain text is chat");
        return;
    };
    if rest.starts_with('/') {
        assert_eq!(input, Input::Chat(rest), "// escapes a slash");
        return;
    }
    let separator = |c: char| c == ' ' || c == '\t';
    match input {
        Input::Chat(text) => panic!("command {line:?} parsed as chat {text:?}"),
        Input::Command(command, args) => {
            let typed = rest.split(separator).next().unwrap_or("");
            assert!(
                std::iter::once(&command.name)
                    .chain(command.aliases)
                    .any(|name| name.eq_ignore_ascii_case(typed)),
                "{line:?} parsed as /{}",
                command.name
            );
            match command.params {
                Params::None | Params::OptValue => {}
                Params::Rest => assert!(!command::is_blank(args.rest), "{line:?}"),
                Params::Value => {
                    assert!(!command::is_blank(args.rest), "{line:?}");
                    assert_eq!(args.rest, args.rest.trim_matches(separator), "{line:?}");
                }
                Params::WordOptRest => {
                    assert!(!args.word.is_empty() && !args.word.contains(separator));
                    assert_eq!(args.rest, args.rest.trim_matches(separator), "{line:?}");
                }
                Params::WordRest => {
                    assert!(!args.word.is_empty() && !args.word.contains(separator));
                    assert!(!command::is_blank(args.rest), "{line:?}");
                    assert!(
                        line.ends_with(args.rest),
                        "text {:?} not the line's end",
                        args.rest
                    );
                }
            }
            if command.params == Params::OptValue {
                assert_eq!(args.rest, args.rest.trim_matches(separator), "{line:?}");
            }
        }
        Input::Usage(command) => assert!(command.params != Params::None, "{}", command.name),
        Input::Unknown(name) => {
            assert!(
                rest.starts_with(name) && !name.contains(separator),
                "{name:?}"
            );
        }
    }
}

/// A nickname accepted at registration obeys every nickname rule.
fn check_registration(raw: &str, max: usize) {
    let result = nick_from_registration(raw, max);
    let before_hash = raw.split('#').next().unwrap_or(raw).trim();
    assert_eq!(result, validate_nick(before_hash, max), "{raw:?}");
    if let Ok(nick) = result {
        check_valid_nick(nick, max);
    }
}

/// A nickname accepted by `/nick` obeys every nickname rule.
fn check_rename(raw: &str, max: usize) {
    if let Ok(nick) = validate_nick(raw, max) {
        check_valid_nick(nick, max);
    }
}

fn check_valid_nick(nick: &str, max: usize) {
    let chars = nick.chars().count();
    assert!(
        (1..=max).contains(&chars),
        "{nick:?}: {chars} chars, max {max}"
    );
    assert!(!nick.starts_with('/'), "{nick:?}");
    assert!(
        !nick
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '#' || c == '\u{fffd}'),
        "{nick:?}"
    );
    assert_eq!(sanitize(nick), nick, "sanitize would change {nick:?}");
    assert_eq!(validate_nick(nick, max), Ok(nick));
    check_nick_key(nick);
}

/// The uniqueness key ignores case: changing any character to its other case
/// (where that is one character, and the result is still a valid name) changes
/// nothing, and the key of a key is itself.
pub fn check_nick_key(nick: &str) {
    let key = nick_key(nick);
    assert_eq!(nick_key(&key), key, "key of {nick:?} is not stable");
    for (at, c) in nick.char_indices() {
        for other in [single(c.to_uppercase()), single(c.to_lowercase())]
            .into_iter()
            .flatten()
        {
            let mut variant = nick.to_owned();
            variant.replace_range(at..at + c.len_utf8(), other.encode_utf8(&mut [0; 4]));
            if validate_nick(&variant, usize::MAX).is_ok() {
                assert_eq!(
                    nick_key(&variant),
                    key,
                    "{nick:?} and {variant:?} differ only in case"
                );
            }
        }
    }
}

/// The one char a case mapping gives, if it gives exactly one.
fn single(mut chars: impl Iterator<Item = char>) -> Option<char> {
    let c = chars.next()?;
    chars.next().is_none().then_some(c)
}

/// Config text (lossily decoded) either parses to a config within every key's
/// range that renders and parses back to itself, or is refused with one
/// printable line per error, each naming the file and a line of it, in order.
pub fn check_config(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    match config::parse(&text, "fuzz.conf") {
        Ok(config) => check_config_round_trip(&config),
        Err(err) => {
            let message = err.to_string();
            // `lines()` does not count a final empty line; an error can be there.
            let lines = text.lines().count().max(1);
            let mut previous = 0;
            for error in message.split('\n') {
                assert!(
                    !error.is_empty() && !error.chars().any(char::is_control),
                    "each config error must be one printable line: {message:?}"
                );
                let line: usize = error
                    .strip_prefix("fuzz.conf:")
                    .and_then(|rest| rest.split(':').next())
                    .and_then(|n| n.parse().ok())
                    .unwrap_or_else(|| panic!("no path:line: in {error:?}"));
                assert!((1..=lines).contains(&line), "line {line} of {lines}");
                assert!(line > previous, "errors out of order: {message:?}");
                previous = line;
            }
        }
    }
}

/// `config` renders to text that parses back to it, and that text renders the same.
pub fn check_config_round_trip(config: &Config) {
    assert!(config.address.parse::<std::net::IpAddr>().is_ok());
    assert!((1..=64).contains(&config.room_name.chars().count()));
    assert!(!config.room_name.chars().any(char::is_control));
    assert!((1..=64).contains(&config.max_nick_chars));
    assert!(config.max_line_bytes >= 64);
    assert!(config.send_queue_bytes >= config.max_line_bytes + 1024);
    let rendered = config.render();
    let again = config::parse(&rendered, "rendered.conf")
        .unwrap_or_else(|err| panic!("rendered config refused: {err}\n{rendered}"));
    assert_eq!(&again, config, "round trip changed the config:\n{rendered}");
    assert_eq!(again.render(), rendered);
}
