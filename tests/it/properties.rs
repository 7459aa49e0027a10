//! Randomized property tests of every parser that sees client or file bytes: line
//! framing, the sanitizer, the command parser, the nickname rules and the config
//! parser.
//!
//! The invariants are the ones the `cargo fuzz` targets check (`fuzz/src/lib.rs`,
//! included here as a module): this suite drives them with a seeded xorshift
//! generator, so every run tests the same inputs, in a few seconds, with no extra
//! dependency. The generators are biased toward the bytes and characters the
//! parsers treat specially; the fuzzer explores beyond them.

#[path = "../../fuzz/src/lib.rs"]
mod invariants;

use chatd::config::{Config, Language, LogLevel};
use chatd::test_rng::Rng;

/// The inputs the generators make from chatd's one test RNG.
trait Inputs {
    fn byte(&mut self) -> u8;
    fn bytes(&mut self, max_len: usize) -> Vec<u8>;
    fn char(&mut self) -> char;
    fn text(&mut self, max_chars: usize) -> String;
    fn text_bytes(&mut self, max_chars: usize) -> Vec<u8>;
}

impl Inputs for Rng {
    /// A byte, two times in three one the framer or sanitizer treats specially.
    fn byte(&mut self) -> u8 {
        const SPECIAL: &[u8] = &[
            b'\r', b'\n', 0, 0xff, 0xff, 0xfa, 0xf0, 0xfb, 0xfe, 0xf1, 0x1b, b'\t', 0x7f, 0xc2,
            0x9b, 0xe2, 0x80, 0xae, 0xef, 0xbb, 0xbf, b' ', b'a', b'#', b'/',
        ];
        match self.below(3) {
            0 => self.bits() as u8,
            _ => *self.pick(SPECIAL),
        }
    }

    fn bytes(&mut self, max_len: usize) -> Vec<u8> {
        let len = self.below(max_len + 1);
        (0..len).map(|_| self.byte()).collect()
    }

    /// A character, mostly one that some rule is about: controls, the parts of
    /// escape sequences, bidi and invisible characters, whitespace, `#` and `/`,
    /// lookalikes of Latin letters,
    /// letters with unusual case mappings, other scripts, and now and then any
    /// code point at all.
    fn char(&mut self) -> char {
        const SPECIAL: &[char] = &[
            '\0', '\t', '\n', '\r', '\x1b', '\x7f', '\u{85}', '\u{9b}', '\u{a0}', '\u{ad}',
            '\u{200b}', '\u{200d}', '\u{200e}', '\u{202e}', '\u{2066}', '\u{2069}', '\u{3000}',
            '\u{feff}', '\u{fffd}', ' ', '#', '/', 'b', 'B', 'o', 'i', 'I', 'ı', 'İ', 'ſ', 'ß',
            'ς', 'Σ', 'µ', 'ϐ', 'Ｂ', 'ｏ', 'В', 'о', 'Ο', 'Ρ', 'ϱ', '小', '明', '🎉', '\u{301}',
            // What escape sequences are made of: CSI and OSC, their ends.
            '[', ']', '\\', '\x07', '\u{9c}', '\u{9d}', 'm', ';', '2',
        ];
        match self.below(4) {
            0 => char::from_u32(self.below(0x11_0000) as u32).unwrap_or('?'),
            1 => (b'!' + self.below(94) as u8) as char,
            _ => *self.pick(SPECIAL),
        }
    }

    fn text(&mut self, max_chars: usize) -> String {
        let len = self.below(max_chars + 1);
        (0..len).map(|_| self.char()).collect()
    }

    /// Text as UTF-8 bytes, sometimes with an invalid byte spliced in.
    fn text_bytes(&mut self, max_chars: usize) -> Vec<u8> {
        let mut bytes = self.text(max_chars).into_bytes();
        if self.below(4) == 0 {
            let at = self.below(bytes.len() + 1);
            bytes.insert(at, self.pick(&[0x80, 0xc3, 0xe5, 0xf0, 0xff]).to_owned());
        }
        bytes
    }
}

#[test]
fn framing_does_not_depend_on_read_splits() {
    let mut rng = Rng(0x5eed_f4a3_e001);
    for _ in 0..3000 {
        let mut input = rng.bytes(9);
        input.extend(rng.bytes(300));
        invariants::check_framer(&input);
    }
}

#[test]
fn telnet_encoded_lines_frame_back_to_themselves() {
    let mut rng = Rng(0x5eed_f4a3_e002);
    for _ in 0..6000 {
        let input: Vec<u8> = (0..rng.below(400)).map(|_| rng.bits() as u8).collect();
        invariants::check_framing_round_trip(&input);
    }
}

#[test]
fn sanitized_text_carries_no_terminal_controls() {
    let mut rng = Rng(0x5eed_f4a3_e003);
    for _ in 0..6000 {
        invariants::check_sanitize(&rng.text_bytes(40));
    }
}

#[test]
fn commands_and_nicknames_keep_their_shape() {
    let mut rng = Rng(0x5eed_f4a3_e004);
    let prefixes = [
        "", "/", "//", "/nick ", "/NICK  ", "/me ", "/msg ", "/quit ", "/who",
    ];
    for _ in 0..8000 {
        let mut input = vec![rng.bits() as u8];
        input.extend_from_slice(rng.pick(&prefixes).as_bytes());
        input.extend(rng.text_bytes(30));
        if rng.below(2) == 0 {
            input.extend_from_slice(b"#");
            input.extend(rng.text_bytes(5));
        }
        invariants::check_commands(&input);
    }
}

#[test]
fn nick_key_ignores_case_for_every_character() {
    for code in 0..=0x10_ffff {
        let Some(c) = char::from_u32(code) else {
            continue;
        };
        if c.to_uppercase().eq([c]) && c.to_lowercase().eq([c]) {
            continue; // No case: nothing to compare.
        }
        let name = format!("x{c}");
        if chatd::nick::validate_nick(&name, 24).is_ok() {
            invariants::check_nick_key(&name);
        }
    }
}

#[test]
fn config_text_parses_or_names_its_line() {
    let mut rng = Rng(0x5eed_f4a3_e005);
    for _ in 0..3000 {
        let mut text = random_config(&mut rng).render().into_bytes();
        for _ in 0..1 + rng.below(4) {
            mutate(&mut rng, &mut text);
        }
        invariants::check_config(&text);
    }
}

#[test]
fn random_configs_round_trip_through_render() {
    let mut rng = Rng(0x5eed_f4a3_e006);
    for _ in 0..3000 {
        invariants::check_config_round_trip(&random_config(&mut rng));
    }
}

/// A valid config with every key at a random value in its range.
fn random_config(rng: &mut Rng) -> Config {
    let addresses = [
        "127.0.0.1",
        "0.0.0.0",
        "::",
        "::1",
        "192.168.1.20",
        "fe80::1",
    ];
    let room_name = loop {
        let name: String = rng.text(20).chars().filter(|c| !c.is_control()).collect();
        if !name.is_empty() {
            break name;
        }
    };
    let max_line_bytes = 64 + rng.below(1 << 14);
    let send_queue_bytes = max_line_bytes + 1024 + rng.below(1 << 20);
    Config {
        address: rng.pick(&addresses).to_string(),
        port: rng.bits() as u16,
        room_name,
        language: *rng.pick(&[Language::En, Language::Zh]),
        colors: rng.below(2) == 0,
        timestamps: rng.below(2) == 0,
        upgrade_notice: rng.below(2) == 0,
        utc_offset_minutes: rng.below(14 * 60 * 2 + 1) as i32 - 14 * 60,
        log_level: *rng.pick(&[
            LogLevel::Error,
            LogLevel::Warn,
            LogLevel::Info,
            LogLevel::Debug,
        ]),
        max_nick_chars: 1 + rng.below(64),
        max_line_bytes,
        max_clients: 1 + rng.below(1_000_000),
        threads: rng.below(1025),
        max_clients_per_ip: 1 + rng.below(1_000_000),
        login_timeout_secs: 1 + rng.below(86_400) as u64,
        flood_burst: rng.below(1_000_001) as u32,
        flood_lines_per_sec: rng.below(1_000_001) as u32,
        send_queue_bytes,
        send_queue_hard_bytes: (rng.below(2) == 0).then(|| send_queue_bytes + rng.below(1 << 22)),
        send_queue_grace_secs: 1 + rng.below(3600) as u64,
        history: rng.below(1001),
        max_rooms: rng.below(1001),
        presence_summary_above: rng.below(1_000_001),
        presence_interval_secs: 1 + rng.below(3600) as u64,
        shutdown_grace_secs: rng.below(3601) as u64,
        stats_interval_secs: rng.below(86_401) as u64,
        control_socket: (rng.below(2) == 0).then(|| "/run/chatd/control.sock".to_owned()),
        state_dir: (rng.below(2) == 0).then(|| format!("/var/lib/chatd {}", rng.below(9))),
        history_on_disk: rng.below(2) == 0,
        motd_file: (rng.below(2) == 0).then(|| "/etc/chatd/\"motd\"".to_owned()),
        metrics_address: (rng.below(2) == 0).then(|| {
            let ip: std::net::IpAddr = rng.pick(&addresses).parse().unwrap();
            std::net::SocketAddr::new(ip, rng.bits() as u16)
        }),
    }
}

/// One edit of the kind a person or a broken tool makes to a config file.
fn mutate(rng: &mut Rng, text: &mut Vec<u8>) {
    const PIECES: &[&str] = &[
        "\"",
        "'",
        "=",
        "#",
        "\\",
        "\\u",
        "\\U0001F389",
        "\\x",
        "\n",
        "\r",
        "\r\n",
        "\u{feff}",
        "[table]",
        "\"\"\"",
        "_",
        "-",
        "+",
        "0",
        "99999999999999999999",
        "true",
        "yes",
        " ",
        "\t",
        "port",
        "max_clients",
        "\u{202e}",
        "\u{0}",
        "\u{1b}",
    ];
    let at = rng.below(text.len() + 1);
    match rng.below(5) {
        // Insert a syntax piece.
        0 | 1 => {
            let piece = rng.pick(PIECES).as_bytes();
            text.splice(at..at, piece.iter().copied());
        }
        // Delete a few bytes.
        2 => {
            let end = (at + 1 + rng.below(8)).min(text.len());
            text.drain(at.min(end)..end);
        }
        // Repeat a line (a duplicate key).
        3 => {
            let lines: Vec<&[u8]> = text.split(|&b| b == b'\n').collect();
            let line = rng.pick(&lines).to_vec();
            text.extend_from_slice(b"\n");
            text.extend(line);
        }
        // Overwrite a byte with anything.
        _ => {
            if let Some(b) = text.get_mut(at) {
                *b = rng.byte();
            }
        }
    }
}
