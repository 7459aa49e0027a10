//! The unit tests of [`LineFramer`](super::LineFramer): framing, telnet, limits, chunk boundaries.

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

/// `decode` checks with `from_utf8` first and decodes lossily only on an
/// error: both ways must give what the lossy decoder alone gives.
#[test]
fn decode_matches_the_lossy_decoder() {
    for bytes in [
        &b""[..],
        b"t=123 the quick brown fox",
        "小明 ɑ 🎉".as_bytes(),
        b"a\xc3(b\xe4\xbd",
        b"\xff\xfe",
        b"\xed\xa0\x80 surrogate",
        b"\xc0\xaf overlong",
        b"\xf4\x90\x80\x80 too big",
        b"cut \xf0\x9f\x8e",
        b"\x1b[31m\x00\x7f\xc2\x9b",
    ] {
        assert_eq!(
            super::decode(bytes),
            String::from_utf8_lossy(bytes),
            "{bytes:?}"
        );
    }
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
            0 => self.bits() as u8,
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
