//! One line of a history file: a [`Record`] written with [`encode`] and read
//! back with [`decode`], and a whole file read with [`parse`].
//!
//! ```text
//! 636275c5 1796292359 say alice hello world
//! d8ff03ab 1796292371 me bob waves
//! ```
//!
//! Fields, separated by one space: a checksum (FNV-1a, 32 bits, 8 lowercase
//! hex digits) of everything after it and its space; the time the line was
//! said (Unix seconds); `say` (a chat line) or `me` (an action); the author's
//! nickname; and last the text, the rest of the line. In the nickname and the
//! text a backslash escapes: `\\`, `\n`, `\r`, and `\s` (a space, in the
//! nickname only). Lines starting with `#`, and empty ones, are comments.
//!
//! The checksum catches what a crash or a disk can leave behind: a record cut
//! short, zeros, a line half overwritten. A file whose last line has no
//! newline was torn by a crash in the middle of an append: that line is
//! dropped (see [`Parsed::torn`]).

use std::sync::Arc;

use crate::escape::{escape_into, unescape};

/// What kind of line a record is: how it is shown again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Said {
    /// A chat line: `> alice: hello`.
    Chat,
    /// An action, `/me`: `* alice waves`.
    Action,
}

/// What someone said: UTF-8 text inside shared bytes, so that the words of
/// a line the hub formatted once (`> alice: hello\r\n`) are kept, handed to
/// the saver and written without a copy of their own.
#[derive(Debug, Clone)]
pub struct Text {
    bytes: Arc<[u8]>,
    start: usize,
    end: usize,
}

impl Text {
    /// The words at `start..end` of `bytes`, which must be UTF-8 there
    /// (else the words read as empty).
    pub fn within(bytes: Arc<[u8]>, start: usize, end: usize) -> Text {
        debug_assert!(std::str::from_utf8(&bytes[start..end]).is_ok());
        Text { bytes, start, end }
    }

    /// The words.
    pub fn as_str(&self) -> &str {
        self.bytes
            .get(self.start..self.end)
            .and_then(|bytes| std::str::from_utf8(bytes).ok())
            .unwrap_or_default()
    }
}

impl From<&str> for Text {
    fn from(text: &str) -> Text {
        Text {
            bytes: Arc::from(text.as_bytes()),
            start: 0,
            end: text.len(),
        }
    }
}

impl PartialEq for Text {
    fn eq(&self, other: &Text) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for Text {}

/// A line said in a room, as the history keeps it: who said what, when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// When it was said, in Unix seconds.
    pub at: u64,
    /// Chat or action.
    pub said: Said,
    /// The author's nickname as it was then.
    pub nick: Arc<str>,
    /// What they said, sanitized.
    pub text: Text,
}

/// FNV-1a, 32 bits: cheap, and enough to tell a record from garbage.
fn checksum(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c_9dc5, |hash, &b| {
        (hash ^ u32::from(b)).wrapping_mul(0x0100_0193)
    })
}

/// Appends `record` to `out` as one line, its newline included.
pub fn encode(record: &Record, out: &mut String) {
    let start = out.len();
    out.push_str("00000000 ");
    let body = out.len();
    out.push_str(&record.at.to_string());
    out.push_str(match record.said {
        Said::Chat => " say ",
        Said::Action => " me ",
    });
    escape_into(out, &record.nick, true);
    out.push(' ');
    escape_into(out, record.text.as_str(), false);
    let sum = format!("{:08x}", checksum(&out.as_bytes()[body..]));
    out.replace_range(start..start + 8, &sum);
    out.push('\n');
}

/// Reads one line (without its newline) back into a record.
///
/// # Errors
/// What is wrong with it, to be logged with the file and line.
pub fn decode(line: &str) -> Result<Record, String> {
    let (sum, body) = line
        .split_once(' ')
        .ok_or_else(|| "not a history record".to_owned())?;
    let sum = u32::from_str_radix(sum, 16)
        .ok()
        .filter(|_| sum.len() == 8)
        .ok_or_else(|| "not a history record: no checksum".to_owned())?;
    if checksum(body.as_bytes()) != sum {
        return Err("bad checksum: the record is damaged".to_owned());
    }
    let mut fields = body.splitn(4, ' ');
    let (Some(at), Some(said), Some(nick), Some(text)) =
        (fields.next(), fields.next(), fields.next(), fields.next())
    else {
        return Err("missing fields".to_owned());
    };
    let at = at.parse().map_err(|_| format!("bad time {at:?}"))?;
    let said = match said {
        "say" => Said::Chat,
        "me" => Said::Action,
        other => return Err(format!("unknown kind {other:?}")),
    };
    let nick = unescape(nick)?;
    if nick.is_empty() {
        return Err("no nickname".to_owned());
    }
    Ok(Record {
        at,
        said,
        nick: Arc::from(nick),
        text: Text::from(unescape(text)?.as_str()),
    })
}

/// A history file, read.
#[derive(Debug, Default)]
pub struct Parsed {
    /// Its records in the order they were written.
    pub records: Vec<Record>,
    /// Lines that are not records, each with its line number (from 1) and why.
    pub damaged: Vec<(usize, String)>,
    /// The line number of a last line without its newline, dropped: an append
    /// a crash cut short.
    pub torn: Option<usize>,
}

/// Reads a whole file's bytes.
pub fn parse(bytes: &[u8]) -> Parsed {
    let mut parsed = Parsed::default();
    let mut lines = bytes.split(|&b| b == b'\n').enumerate().peekable();
    while let Some((index, line)) = lines.next() {
        let number = index + 1;
        if lines.peek().is_none() {
            // After the last newline: nothing, or the torn end of an append.
            if !line.is_empty() {
                parsed.torn = Some(number);
            }
            break;
        }
        if line.is_empty() || line.starts_with(b"#") {
            continue;
        }
        let result = std::str::from_utf8(line)
            .map_err(|_| "not valid UTF-8".to_owned())
            .and_then(decode);
        match result {
            Ok(record) => parsed.records.push(record),
            Err(why) => parsed.damaged.push((number, why)),
        }
    }
    parsed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(at: u64, said: Said, nick: &str, text: &str) -> Record {
        Record {
            at,
            said,
            nick: Arc::from(nick),
            text: Text::from(text),
        }
    }

    #[test]
    fn records_read_back_as_written() {
        let records = [
            record(1_796_292_359, Said::Chat, "alice", "hello world"),
            record(0, Said::Action, "鲍勃", "waves \\ at\r\nyou  "),
            record(7, Said::Chat, "a b", ""),
        ];
        let mut text = String::from("# a comment\n\n");
        for r in &records {
            encode(r, &mut text);
        }
        assert!(text.ends_with('\n'));
        assert_eq!(text.lines().count(), 5, "{text}");
        let parsed = parse(text.as_bytes());
        assert_eq!(parsed.records, records);
        assert!(parsed.damaged.is_empty() && parsed.torn.is_none());
    }

    #[test]
    fn exact_bytes_of_a_record() {
        let mut text = String::new();
        encode(&record(5, Said::Chat, "bob", "hi there"), &mut text);
        let body = "5 say bob hi there";
        assert_eq!(text, format!("{:08x} {body}\n", checksum(body.as_bytes())));
    }

    #[test]
    fn garbage_is_skipped_with_its_line_and_a_torn_end_dropped() {
        let mut text = String::new();
        encode(&record(1, Said::Chat, "a", "one"), &mut text);
        text.push_str("garbage here\n");
        let mut second = String::new();
        encode(&record(2, Said::Chat, "a", "two"), &mut second);
        // One character changed: the checksum no longer matches.
        text.push_str(&second.replace("two", "twO"));
        encode(&record(3, Said::Chat, "a", "three"), &mut text);
        let mut bytes = text.into_bytes();
        bytes.extend_from_slice(b"\xff\xfe\n");
        bytes.extend_from_slice(b"0123abcd 4 say a fo");
        let parsed = parse(&bytes);
        let texts: Vec<&str> = parsed.records.iter().map(|r| r.text.as_str()).collect();
        assert_eq!(texts, ["one", "three"]);
        let lines: Vec<usize> = parsed.damaged.iter().map(|(n, _)| *n).collect();
        assert_eq!(lines, [2, 3, 5]);
        assert!(
            parsed.damaged[1].1.contains("checksum"),
            "{:?}",
            parsed.damaged
        );
        assert!(parsed.damaged[2].1.contains("UTF-8"));
        assert_eq!(parsed.torn, Some(6));
    }

    #[test]
    fn bad_fields_are_named() {
        let line = |body: &str| format!("{:08x} {body}", checksum(body.as_bytes()));
        assert!(decode(&line("x say a b")).unwrap_err().contains("bad time"));
        assert!(decode(&line("1 shout a b")).unwrap_err().contains("kind"));
        assert!(
            decode(&line("1 say a\\q b"))
                .unwrap_err()
                .contains("escape")
        );
        assert!(decode(&line("1 say")).unwrap_err().contains("missing"));
        assert!(decode("nothing").is_err());
        assert!(decode("zz b").unwrap_err().contains("checksum"));
    }
}
