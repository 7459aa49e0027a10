//! What users send is cleaned before anyone else sees it: terminal controls,
//! bidi overrides, telnet commands and invalid UTF-8. Asserted on the exact bytes
//! other users receive.

use crate::common::{Client, Server, chatd, room};

/// A server with alice and bob registered, and alice's view of bob's join read.
fn alice_and_bob() -> (Server, Client, Client) {
    let (server, [alice, bob]) = room(["alice", "bob"]);
    (server, alice, bob)
}

/// Alice sends `bytes` (one line); returns the raw line bob receives.
fn as_seen_by_bob(bytes: &[u8]) -> Vec<u8> {
    let (_server, mut alice, mut bob) = alice_and_bob();
    alice.send_bytes(bytes);
    bob.read_raw_line()
}

#[test]
fn escape_sequences_are_removed() {
    // Whole sequences, not only their ESC: nothing of `[2J` is left.
    assert_eq!(as_seen_by_bob(b"a\x1b[2Jb\n"), b"> alice: ab\r\n");
    assert_eq!(as_seen_by_bob(b"\x1b[2J\x1b[Hhi\n"), b"> alice: hi\r\n");
    assert_eq!(as_seen_by_bob(b"x\x1b]0;title\x07y\n"), b"> alice: xy\r\n");
    assert_eq!(
        as_seen_by_bob(b"a\x1bPq#0;2;0;0;0\x1b\\b\xc2\x9b31mc\n"),
        b"> alice: abc\r\n"
    );
}

#[test]
fn c1_controls_are_removed() {
    // U+009B, the one-character CSI, is C2 9B in UTF-8.
    // It starts a sequence as ESC [ does: `2J` goes with it.
    assert_eq!(as_seen_by_bob(b"a\xc2\x9b2Jb\n"), b"> alice: ab\r\n");
    assert_eq!(as_seen_by_bob(b"a\xc2\x85b\n"), b"> alice: ab\r\n");
}

#[test]
fn del_and_nul_are_removed() {
    assert_eq!(as_seen_by_bob(b"a\x7fb\x00c\x01d\n"), b"> alice: abcd\r\n");
}

#[test]
fn tab_becomes_space() {
    assert_eq!(as_seen_by_bob(b"a\tb\n"), b"> alice: a b\r\n");
}

#[test]
fn bidi_override_is_removed() {
    assert_eq!(
        as_seen_by_bob("abc\u{202e}fed\n".as_bytes()),
        b"> alice: abcfed\r\n"
    );
}

#[test]
fn line_of_only_controls_is_not_sent() {
    let (_server, mut alice, mut bob) = alice_and_bob();
    alice.send_bytes(b"\x1b\x07\x7f\n");
    alice.send("after\n");
    bob.expect_line("> alice: after");
}

#[test]
fn sanitized_text_in_commands() {
    let (_server, mut alice, mut bob) = alice_and_bob();
    alice.send_bytes(b"/me waves\x1b[31m\n");
    bob.expect_line("* alice waves");
    alice.send_bytes(b"/msg bob psst\x1b[2J\n");
    bob.expect_line("\u{7}> alice (private): psst");
}

#[test]
fn escape_in_nickname_is_rejected() {
    let server = chatd().start();
    let mut client = server.connect();
    client.read_banner();
    client.send_bytes(b"ev\x1b[31mil#\n");
    client.expect_line("! nickname may not contain control characters");
    client.expect_line("> Please type your nickname followed by '#' and press Enter");
    let mut bob = server.join("bob");
    bob.send_bytes(b"/nick b\x1bob\n");
    bob.expect_line("! nickname may not contain control characters");
    bob.send("/nick b\u{202e}ob\n");
    bob.expect_line("! nickname may not contain invalid or invisible characters");
}

#[test]
fn telnet_commands_are_removed_and_not_echoed() {
    let (_server, mut alice, mut bob) = alice_and_bob();
    // IAC WILL ECHO, IAC DO SUPPRESS-GO-AHEAD, IAC SB TERMINAL-TYPE IS "xterm"
    // IAC SE, IAC IP (interrupt process), inside and around one line.
    alice.send_bytes(b"\xff\xfb\x01he\xff\xfd\x03llo\xff\xfa\x18\x00xterm\xff\xf0 wor\xff\xf4ld\n");
    assert_eq!(bob.read_raw_line(), b"> alice: hello world\r\n");
    // Alice gets nothing back but the answer she asks for: no telnet reply, no echo.
    alice.send("/who\n");
    assert_eq!(alice.read_raw_line(), b"* Online (2): alice, bob\r\n");
}

#[test]
fn telnet_timing_mark_is_answered_so_output_resumes() {
    // netkit telnet sends IAC IP IAC DO TIMING-MARK on Ctrl-C and then drops all
    // output until IAC WILL TIMING-MARK comes back.
    let (_server, mut alice, mut bob) = alice_and_bob();
    alice.send_bytes(b"\xff\xf4\xff\xfd\x06/who\n");
    assert_eq!(
        alice.read_raw_line(),
        b"\xff\xfb\x06* Online (2): alice, bob\r\n"
    );
    // The request is not passed on as text either.
    alice.send("still here\n");
    assert_eq!(bob.read_raw_line(), b"> alice: still here\r\n");
}

#[test]
fn telnet_command_split_across_writes_is_removed() {
    let (_server, mut alice, mut bob) = alice_and_bob();
    alice.stream.set_nodelay(true).unwrap();
    for piece in [
        &b"a\xff"[..],
        b"\xfa\x18",
        b"\x00vt",
        b"100\xff",
        b"\xf0b\xff",
        b"\xfb",
        b"\x01c\n",
    ] {
        alice.send_bytes(piece);
    }
    assert_eq!(bob.read_raw_line(), b"> alice: abc\r\n");
}

#[test]
fn telnet_iac_iac_is_a_data_byte() {
    // An escaped 0xFF is data; alone it is not UTF-8, so it becomes U+FFFD.
    assert_eq!(
        as_seen_by_bob(b"a\xff\xffb\n"),
        "> alice: a\u{fffd}b\r\n".as_bytes()
    );
}

#[test]
fn invalid_utf8_becomes_replacement_character() {
    assert_eq!(
        as_seen_by_bob(b"caf\xc3(\x80x\n"),
        "> alice: caf\u{fffd}(\u{fffd}x\r\n".as_bytes()
    );
}

#[test]
fn random_bytes_do_not_disturb_the_room() {
    let (_server, [mut alice, mut bob, mut noise]) = room(["alice", "bob", "noise"]);
    noise.send_bytes(&chatd::test_rng::Rng(0x5eed).uniform_bytes(64 * 1024));
    // Whatever telnet state the noise ended in (inside a subnegotiation, after an
    // IAC, ...), two IAC SE pairs and a newline get back to plain data.
    noise.send_bytes(b"\xff\xf0\xff\xf0\nnoise is done\n");
    // Everything bob gets in the meantime is valid UTF-8 lines without escapes.
    for line in bob.read_until("> noise: noise is done") {
        assert!(
            !line.chars().any(|c| c.is_control()),
            "control character reached bob: {line:?}"
        );
    }
    alice.read_until("> noise: noise is done");
    alice.send("still here\n");
    bob.expect_line("> alice: still here");
    bob.send("me too\n");
    alice.expect_line("> bob: me too");
}
