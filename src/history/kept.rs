//! The kept rooms file, `STATE_DIR/rooms`: which rooms stay when empty and
//! outlive a restart, and their topics (the lobby's too, which is always
//! kept). One room a line: `lobby` or `#NAME`, then, if it has a topic,
//! ` topic=` and the topic, the rest of the line, in which a backslash escapes
//! (`\\`, `\n`, `\r`). Lines starting with `#` followed by a space, and empty
//! ones, are comments.
//!
//! ```text
//! # chatd kept rooms: lobby or #NAME, then topic=TEXT
//! lobby topic=Welcome! Be nice.
//! #help topic=Ask anything
//! #rust
//! ```

use crate::escape::{escape_into, unescape};

/// The first line of the file.
const HEADER: &str = "# chatd kept rooms: lobby or #NAME, then topic=TEXT\n";

/// One line of the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeptRoom {
    /// The room's name as first typed, without `#`; None for the lobby.
    pub name: Option<String>,
    /// Its topic, if set.
    pub topic: Option<String>,
}

/// The file's text for `rooms`, the lobby first.
pub fn render(rooms: &[KeptRoom]) -> String {
    let mut out = String::from(HEADER);
    for room in rooms {
        match &room.name {
            Some(name) => {
                out.push('#');
                out.push_str(name);
            }
            None => out.push_str("lobby"),
        }
        if let Some(topic) = &room.topic {
            out.push_str(" topic=");
            escape_into(&mut out, topic, false);
        }
        out.push('\n');
    }
    out
}

/// Reads the file's text: the rooms, and each line that is not one, with its
/// number (from 1) and why. A name is not checked here against the rules for
/// room names (the caller does).
pub fn parse(text: &str) -> (Vec<KeptRoom>, Vec<(usize, String)>) {
    let mut rooms = Vec::new();
    let mut damaged = Vec::new();
    for (index, line) in text.lines().enumerate() {
        if line.is_empty() || line.starts_with("# ") {
            continue;
        }
        match parse_line(line) {
            Ok(room) => rooms.push(room),
            Err(why) => damaged.push((index + 1, why)),
        }
    }
    (rooms, damaged)
}

fn parse_line(line: &str) -> Result<KeptRoom, String> {
    let (name, rest) = match line.split_once(' ') {
        Some((name, rest)) => (name, Some(rest)),
        None => (line, None),
    };
    let name = match name {
        "lobby" => None,
        _ => match name.strip_prefix('#') {
            Some(room) if !room.is_empty() => Some(room.to_owned()),
            _ => return Err(format!("expected lobby or #NAME, got {name:?}")),
        },
    };
    let topic = match rest {
        None => None,
        Some(rest) => {
            let escaped = rest
                .strip_prefix("topic=")
                .ok_or_else(|| format!("expected topic=TEXT after the name, got {rest:?}"))?;
            let topic = unescape(escaped).map_err(|e| format!("the topic: {e}"))?;
            Some(topic)
        }
    };
    Ok(KeptRoom { name, topic })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rooms_read_back_as_written() {
        let rooms = vec![
            KeptRoom {
                name: None,
                topic: Some("welcome \\ all".to_owned()),
            },
            KeptRoom {
                name: Some("帮助".to_owned()),
                topic: Some(String::new()),
            },
            KeptRoom {
                name: Some("rust".to_owned()),
                topic: None,
            },
        ];
        let text = render(&rooms);
        assert_eq!(
            text,
            format!("{HEADER}lobby topic=welcome \\\\ all\n#帮助 topic=\n#rust\n")
        );
        assert_eq!(parse(&text), (rooms, Vec::new()));
    }

    #[test]
    fn bad_lines_are_named_and_skipped() {
        let (rooms, damaged) = parse("#ok\nrust\n# a comment\n#\n#a colour=red\n#b topic=x\\q\n");
        assert_eq!(rooms.len(), 1);
        let lines: Vec<usize> = damaged.iter().map(|(n, _)| *n).collect();
        assert_eq!(lines, [2, 4, 5, 6], "{damaged:?}");
    }
}
