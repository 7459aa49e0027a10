//! Line framing: raw socket bytes to [`Frame`]s.
//!
//! [`LineFramer`] removes telnet IAC sequences, ends lines at `\n` (dropping a
//! `\r` before it) or at a telnet `\r\0`, decodes UTF-8 lossily and enforces the
//! line length limit with a bounded buffer, across arbitrary read chunk
//! boundaries. It does not sanitize: nickname validation must see the control
//! characters it refuses, and only text others will see is sanitized.

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command;
    use crate::nick::nick_from_registration;
    use crate::protocol::sanitize::{is_stripped, sanitize};
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
                    let _ = command::parse(text); // must not panic; the result is irrelevant
                    let _ = nick_from_registration(text, 24); // likewise
                }
            }
        }
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
