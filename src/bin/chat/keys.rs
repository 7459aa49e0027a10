//! Turns the bytes a terminal sends in raw mode into keys: UTF-8 characters,
//! control keys, and the escape sequences of the arrow and editing keys in both
//! the forms terminals use (`ESC [ A` and, in application mode, `ESC O A`).

/// A key as the line editor sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    /// A printable character.
    Char(char),
    /// A control key, by its letter: `Ctrl(b'a')` is Ctrl-A.
    Ctrl(u8),
    Enter,
    Tab,
    Backspace,
    Delete,
    Left,
    Right,
    Up,
    Down,
    Home,
    End,
}

/// Longest escape sequence we wait for; a longer one is dropped as garbage.
const MAX_SEQUENCE: usize = 16;

/// What the decoder is in the middle of.
#[derive(Debug, Default)]
enum State {
    #[default]
    Ground,
    /// After ESC.
    Escape,
    /// After `ESC [`, with the parameter bytes so far.
    Csi(Vec<u8>),
    /// After `ESC O`.
    Ss3,
    /// Inside a UTF-8 character: its bytes so far and how many it has.
    Utf8(Vec<u8>, usize),
}

/// Decodes the keys of a byte stream that may split sequences anywhere.
#[derive(Debug, Default)]
pub struct Decoder {
    state: State,
    /// The last byte was a carriage return: a line feed right after it is the
    /// same Enter (a paste of `\r\n` text), not a second one.
    after_cr: bool,
}

impl Decoder {
    /// Feeds one byte; returns the key it completes, if any.
    pub fn feed(&mut self, byte: u8) -> Option<Key> {
        let after_cr = std::mem::take(&mut self.after_cr);
        match std::mem::take(&mut self.state) {
            State::Ground => self.ground(byte, after_cr),
            State::Escape => match byte {
                b'[' => {
                    self.state = State::Csi(Vec::new());
                    None
                }
                b'O' => {
                    self.state = State::Ss3;
                    None
                }
                // Alt-something or a lone Escape: the Escape means nothing to us.
                _ => self.ground(byte, false),
            },
            State::Csi(mut params) => match byte {
                0x20..=0x3f if params.len() < MAX_SEQUENCE => {
                    params.push(byte);
                    self.state = State::Csi(params);
                    None
                }
                0x40..=0x7e => csi_key(&params, byte),
                // Too long or not a sequence at all: drop it.
                _ => None,
            },
            State::Ss3 => match byte {
                b'A' => Some(Key::Up),
                b'B' => Some(Key::Down),
                b'C' => Some(Key::Right),
                b'D' => Some(Key::Left),
                b'H' => Some(Key::Home),
                b'F' => Some(Key::End),
                _ => None,
            },
            State::Utf8(mut bytes, len) => {
                if byte & 0xc0 != 0x80 {
                    // Not a continuation: the character was broken; start over.
                    return self.ground(byte, false);
                }
                bytes.push(byte);
                if bytes.len() < len {
                    self.state = State::Utf8(bytes, len);
                    return None;
                }
                std::str::from_utf8(&bytes)
                    .ok()
                    .and_then(|s| s.chars().next())
                    .filter(|c| !c.is_control())
                    .map(Key::Char)
            }
        }
    }

    fn ground(&mut self, byte: u8, after_cr: bool) -> Option<Key> {
        match byte {
            0x1b => {
                self.state = State::Escape;
                None
            }
            b'\r' => {
                self.after_cr = true;
                Some(Key::Enter)
            }
            b'\n' if after_cr => None,
            b'\n' => Some(Key::Enter),
            b'\t' => Some(Key::Tab),
            0x08 | 0x7f => Some(Key::Backspace),
            0x01..=0x1a => Some(Key::Ctrl(byte - 1 + b'a')),
            0x20..=0x7e => Some(Key::Char(char::from(byte))),
            0xc2..=0xdf => self.start_utf8(byte, 2),
            0xe0..=0xef => self.start_utf8(byte, 3),
            0xf0..=0xf4 => self.start_utf8(byte, 4),
            // NUL, the other C0 controls, stray continuation bytes.
            _ => None,
        }
    }

    fn start_utf8(&mut self, byte: u8, len: usize) -> Option<Key> {
        self.state = State::Utf8(vec![byte], len);
        None
    }
}

/// The key of `ESC [ PARAMS FINAL`; modifiers (`1;5C`, Ctrl-Right) are ignored.
fn csi_key(params: &[u8], last: u8) -> Option<Key> {
    match last {
        b'A' => Some(Key::Up),
        b'B' => Some(Key::Down),
        b'C' => Some(Key::Right),
        b'D' => Some(Key::Left),
        b'H' => Some(Key::Home),
        b'F' => Some(Key::End),
        b'~' => {
            let first = params.split(|&b| b == b';').next().unwrap_or_default();
            match first {
                b"1" | b"7" => Some(Key::Home),
                b"4" | b"8" => Some(Key::End),
                b"3" => Some(Key::Delete),
                _ => None,
            }
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(bytes: &[u8]) -> Vec<Key> {
        let mut decoder = Decoder::default();
        bytes.iter().filter_map(|&b| decoder.feed(b)).collect()
    }

    #[test]
    fn characters_and_controls() {
        assert_eq!(
            keys("a你\u{301}".as_bytes()),
            [Key::Char('a'), Key::Char('你'), Key::Char('\u{301}')]
        );
        assert_eq!(
            keys(b"\x01\x05\x15\x17\x03\x04\t\x7f\x08"),
            [
                Key::Ctrl(b'a'),
                Key::Ctrl(b'e'),
                Key::Ctrl(b'u'),
                Key::Ctrl(b'w'),
                Key::Ctrl(b'c'),
                Key::Ctrl(b'd'),
                Key::Tab,
                Key::Backspace,
                Key::Backspace
            ]
        );
    }

    #[test]
    fn enter_in_all_its_forms() {
        assert_eq!(keys(b"\r"), [Key::Enter]);
        assert_eq!(keys(b"\n"), [Key::Enter]);
        assert_eq!(
            keys(b"a\r\nb"),
            [Key::Char('a'), Key::Enter, Key::Char('b')]
        );
        assert_eq!(keys(b"\r\r"), [Key::Enter, Key::Enter]);
    }

    #[test]
    fn arrows_and_editing_keys() {
        assert_eq!(
            keys(b"\x1b[A\x1b[B\x1b[C\x1b[D\x1bOA\x1bOD"),
            [
                Key::Up,
                Key::Down,
                Key::Right,
                Key::Left,
                Key::Up,
                Key::Left
            ]
        );
        assert_eq!(
            keys(b"\x1b[H\x1b[F\x1b[1~\x1b[4~\x1b[7~\x1b[8~\x1bOH\x1bOF\x1b[3~"),
            [
                Key::Home,
                Key::End,
                Key::Home,
                Key::End,
                Key::Home,
                Key::End,
                Key::Home,
                Key::End,
                Key::Delete
            ]
        );
        assert_eq!(keys(b"\x1b[1;5C"), [Key::Right]);
    }

    #[test]
    fn unknown_and_broken_input_is_dropped() {
        assert_eq!(keys(b"\x1b[15~x"), [Key::Char('x')]); // F5
        assert_eq!(keys(b"\x1bx"), [Key::Char('x')]); // Alt-x
        assert_eq!(keys(b"\xe4\xbdx"), [Key::Char('x')]); // cut-off character
        assert_eq!(keys(b"\x80\xffx\x00"), [Key::Char('x')]);
        assert_eq!(keys(b"\xc2\x85"), []); // U+0085, a C1 control
        let mut long = b"\x1b[".to_vec();
        long.extend([b'1'; 40]);
        long.push(b'x');
        assert_eq!(
            keys(&long),
            [Key::Char('1'); 23]
                .into_iter()
                .chain([Key::Char('x')])
                .collect::<Vec<_>>()
        );
    }

    #[test]
    fn sequences_split_across_reads() {
        let mut decoder = Decoder::default();
        assert_eq!(decoder.feed(0x1b), None);
        assert_eq!(decoder.feed(b'['), None);
        assert_eq!(decoder.feed(b'D'), Some(Key::Left));
        assert_eq!(decoder.feed(0xe5), None);
        assert_eq!(decoder.feed(0xa5), None);
        assert_eq!(decoder.feed(0xbd), Some(Key::Char('好')));
    }
}
