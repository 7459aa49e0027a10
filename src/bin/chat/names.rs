//! What Tab completes: the nicknames in the room and the command names, learned
//! from what the server says. chatd's lines in both its languages (`src/text/`)
//! tell who is here: the welcome list, `/who`, joins, leaves, renames and chat
//! lines; `/help` lists the commands.
//!
//! This is a reading of human-oriented text, so it is forgiving: a line it does
//! not recognise teaches nothing, and a wrong guess only offers a name to
//! complete.

use std::collections::BTreeMap;

/// Commands every chatd has; `/help` may add more.
const BUILT_IN_COMMANDS: &[&str] = &["/help", "/who", "/nick", "/me", "/msg", "/quit"];
/// Bounds what a server can make us remember.
const MAX_NAMES: usize = 10_000;

/// The nicknames and commands known so far.
#[derive(Debug)]
pub struct Names {
    /// Lowercased nickname → nickname as the server writes it.
    nicks: BTreeMap<String, String>,
    /// Our own nickname, from the welcome or a rename; never offered.
    own: Option<String>,
    commands: Vec<String>,
    /// Lowercased room name → `#Name` as the server writes it.
    rooms: BTreeMap<String, String>,
    /// Inside the answer to `/help`.
    in_help: bool,
}

impl Default for Names {
    fn default() -> Names {
        Names {
            nicks: BTreeMap::new(),
            own: None,
            commands: BUILT_IN_COMMANDS.iter().map(|c| c.to_string()).collect(),
            rooms: BTreeMap::new(),
            in_help: false,
        }
    }
}

impl Names {
    /// Learns from one line the server sent (colors and the line end included).
    pub fn learn(&mut self, raw: &[u8]) {
        let line = plain_text(raw);
        let line = strip_timestamp(&line);
        self.learn_help(line);
        if let Some(rest) = line.strip_prefix("* ") {
            self.learn_rooms(rest);
            self.learn_notice(rest);
        } else if let Some(rest) = line.strip_prefix("> ") {
            // `> bob: hi`, `> bob (private): hi`, `> bob（私聊）: hi`: a nickname
            // has no spaces, so it ends at the first one.
            let first = rest.split(' ').next().unwrap_or_default();
            if let Some(nick) = first.strip_suffix(':') {
                self.add(nick.strip_suffix("（私聊）").unwrap_or(nick));
            } else if rest[first.len()..].starts_with(" (private):") {
                self.add(first);
            }
        }
    }

    /// `/help` answers `* Commands:` (`* 命令：`) and then `*   /name …` lines.
    fn learn_help(&mut self, line: &str) {
        if line == "* Commands:" || line == "* 命令：" {
            self.in_help = true;
            return;
        }
        if !self.in_help {
            return;
        }
        let command = line
            .strip_prefix("*   /")
            .and_then(|rest| rest.split(' ').next())
            .filter(|name| !name.is_empty() && !name.starts_with('/'));
        match command {
            Some(name) => {
                let command = format!("/{name}");
                if !self.commands.contains(&command) && self.commands.len() < MAX_NAMES {
                    self.commands.push(command);
                }
            }
            // `*   //text` is part of the answer; anything else ends it.
            None if line.starts_with("*   //") => {}
            None => self.in_help = false,
        }
    }

    fn learn_notice(&mut self, rest: &str) {
        // English.
        if let Some(rest) = rest.strip_prefix("Welcome, ") {
            if let Some((nick, list)) = rest.split_once("! Online (") {
                self.own = Some(nick.to_owned());
                self.add_list(after_marker(list, "): "), ", ");
            }
        } else if let Some(list) = rest.strip_prefix("Online (") {
            self.add_list(after_marker(list, "): "), ", ");
        } else if [
            "You are now in #",
            "You are back in the lobby (",
            "In #",
            "Everyone online (",
        ]
        .iter()
        .any(|start| rest.starts_with(start))
        {
            // Who is in the room one came to, or `/who` (`/who *`) lists.
            self.add_list(after_marker(rest, "): "), ", ");
        } else if let Some((old, new)) = rest.split_once(" is now known as ") {
            self.rename(old, new);
        } else if let Some((nick, after)) = rest.split_once(' ') {
            if let Some(list) = after.strip_prefix("joined (") {
                self.add(nick);
                // `(3 online: a, b, c)` in small rooms.
                if let Some((_, list)) = list.split_once(" online: ") {
                    self.add_list(list.strip_suffix(')').unwrap_or(list), ", ");
                }
            } else if let Some(list) = after.strip_prefix("joined #") {
                // `joined #rust (3 here: a, b, c)`.
                self.add(nick);
                if let Some((_, list)) = list.split_once(" here: ") {
                    self.add_list(list.strip_suffix(')').unwrap_or(list), ", ");
                }
            } else if after.starts_with("left (")
                || after
                    .strip_prefix("left #")
                    .and_then(|room| room.split_once(' '))
                    .is_some_and(|(_, why)| why.starts_with('('))
            {
                // Gone; `left for #go` and `left #rust for …` are still online.
                self.remove(nick);
            }
        }
        // Chinese.
        if ["你已进入 #", "你已回到大厅", "全部在线", "本房间：", "#"]
            .iter()
            .any(|start| rest.starts_with(start))
            && rest.contains("【 ")
        {
            // The rooms' lists: coming in, `/who` in a room, `/who *`, a join.
            self.add_list(between(rest, "【 ", " 】"), ",");
        } else if let Some(list) = rest.strip_prefix("当前在线") {
            // `当前在线（3人）：【 a, b, c 】` from /who, `当前在线：【 a,b 】` after a join.
            self.add_list(between(list, "【 ", " 】"), ",");
        } else if let Some((nick, list)) = rest.split_once(" 你好！当前在线") {
            self.own = Some(nick.to_owned());
            self.add_list(between(list, "【 ", " 】"), ",");
        } else if let Some((old, new)) = rest.split_once(" 改名为 ") {
            self.rename(old, new);
        } else if let Some((nick, after)) = rest.split_once(' ') {
            if after.starts_with("上线了") || after.starts_with("进入了 #") {
                self.add(nick);
            } else if after.starts_with("下线了") {
                self.remove(nick);
            }
        }
    }

    /// Rooms, from the server's notices: `#rust` in `* You are now in #rust
    /// (2): …`, `*   #rust (3): topic` of `/rooms`, `left for #rust`, …. A
    /// room name has no `#` inside and no spaces, so it ends at a space or at
    /// the punctuation around it.
    fn learn_rooms(&mut self, notice: &str) {
        let ends = |c: char| c.is_whitespace() || "(),:（），：】".contains(c);
        for (_, after) in notice
            .match_indices('#')
            .map(|(at, _)| notice.split_at(at + 1))
        {
            let name = &after[..after.find(ends).unwrap_or(after.len())];
            let plausible = !name.is_empty() && name.chars().count() <= 32;
            if plausible && self.rooms.len() < MAX_NAMES {
                self.rooms.insert(name.to_lowercase(), format!("#{name}"));
            }
        }
    }

    fn add_list(&mut self, list: &str, separator: &str) {
        // `… and 50 more` (`… 等另外50人`) ends a long list.
        let list = list.split(" … ").next().unwrap_or_default();
        for nick in list.split(separator) {
            // `bob (#rust)` and `bob (away)` in `/who` lists: the name is the first word.
            let nick = nick.trim();
            self.add(nick.split_once(" (").map_or(nick, |(nick, _)| nick));
        }
    }

    fn add(&mut self, nick: &str) {
        let plausible = !nick.is_empty() && !nick.contains(char::is_whitespace);
        if plausible && self.nicks.len() < MAX_NAMES {
            self.nicks.insert(nick.to_lowercase(), nick.to_owned());
        }
    }

    fn remove(&mut self, nick: &str) {
        self.nicks.remove(&nick.to_lowercase());
    }

    fn rename(&mut self, old: &str, new: &str) {
        if self.own.as_deref() == Some(old) {
            self.own = Some(new.to_owned());
        }
        self.remove(old);
        self.add(new);
    }

    /// Nicknames starting with `prefix` (ignoring case), ourselves left out, in order.
    pub fn nicks_starting_with(&self, prefix: &str) -> Vec<String> {
        let prefix = prefix.to_lowercase();
        let own = self.own.as_deref().map(str::to_lowercase);
        self.nicks
            .range(prefix.clone()..)
            .take_while(|(key, _)| key.starts_with(&prefix))
            .filter(|(key, _)| Some(key.as_str()) != own.as_deref())
            .map(|(_, nick)| nick.clone())
            .collect()
    }

    /// Rooms (as `#Name`) whose name starts with `prefix`, ignoring case and
    /// a leading `#`, in order.
    pub fn rooms_starting_with(&self, prefix: &str) -> Vec<String> {
        let prefix = prefix.strip_prefix('#').unwrap_or(prefix).to_lowercase();
        self.rooms
            .range(prefix.clone()..)
            .take_while(|(key, _)| key.starts_with(&prefix))
            .map(|(_, room)| room.clone())
            .collect()
    }

    /// Commands starting with `prefix` (which starts with `/`), in order.
    pub fn commands_starting_with(&self, prefix: &str) -> Vec<String> {
        let prefix = prefix.to_lowercase();
        let mut found: Vec<String> = self
            .commands
            .iter()
            .filter(|c| c.starts_with(&prefix))
            .cloned()
            .collect();
        found.sort();
        found
    }
}

/// The text of a server line: UTF-8 (lossy), without escape sequences, BELs and
/// the line end.
fn plain_text(raw: &[u8]) -> String {
    let text = String::from_utf8_lossy(raw);
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\x1b' => {
                // CSI: `ESC [`, parameters, one final byte in @..~.
                if chars.next_if_eq(&'[').is_some() {
                    for c in chars.by_ref() {
                        if ('@'..='~').contains(&c) {
                            break;
                        }
                    }
                } else {
                    chars.next(); // A two-byte escape.
                }
            }
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// Drops a leading `[12:34] ` (or `[2026-12-02 12:34] `): timestamps, when on,
/// come before the line.
fn strip_timestamp(line: &str) -> &str {
    if let Some(rest) = line.strip_prefix('[')
        && let Some((stamp, after)) = rest.split_once("] ")
        && !stamp.is_empty()
        && stamp
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, ':' | '-' | ' ' | '+' | 'T' | 'Z'))
    {
        return after;
    }
    line
}

/// What follows the first `marker` in `text`, or nothing.
fn after_marker<'a>(text: &'a str, marker: &str) -> &'a str {
    text.split_once(marker).map_or("", |(_, rest)| rest)
}

/// What lies between `open` and the last `close` in `text`, or nothing.
fn between<'a>(text: &'a str, open: &str, close: &str) -> &'a str {
    let Some((_, rest)) = text.split_once(open) else {
        return "";
    };
    rest.rsplit_once(close).map_or(rest, |(inside, _)| inside)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(lines: &[&str]) -> Names {
        let mut names = Names::default();
        for line in lines {
            names.learn(format!("{line}\r\n").as_bytes());
        }
        names
    }

    fn all(names: &Names) -> Vec<String> {
        names.nicks_starting_with("")
    }

    #[test]
    fn english_lines() {
        let mut n = names(&["* Welcome, bob! Online (3): alice, bob, carol"]);
        assert_eq!(all(&n), ["alice", "carol"]); // not ourselves
        for line in [
            "* zed joined (4 online: alice, bob, carol, zed)",
            "* yan joined (60 online)",
            "* carol left (quit; 3 online)",
            "* alice is now known as Alicia",
            "> dora: hi all",
            "> eve (private): psst",
            "> Welcome to chatd",
            "* Online (52): ann … and 50 more",
        ] {
            n.learn(format!("{line}\r\n").as_bytes());
        }
        assert_eq!(all(&n), ["Alicia", "ann", "dora", "eve", "yan", "zed"]);
    }

    #[test]
    fn chinese_lines() {
        let mut n = names(&["* bob 你好！当前在线（3人）：【 alice, bob, 小明 】"]);
        assert_eq!(all(&n), ["alice", "小明"]);
        for line in [
            "* zed 上线了（当前4人在线）",
            "* 当前在线：【 alice,bob,小明,zed,yan 】",
            "* alice 下线了（退出，当前3人在线）",
            "* 小明 改名为 小红",
            "> dora: 你好",
            "> eve（私聊）: 嘘",
            "* 当前在线（9人）：【 ann, bea … 等另外7人 】",
        ] {
            n.learn(format!("{line}\r\n").as_bytes());
        }
        assert_eq!(all(&n), ["ann", "bea", "dora", "eve", "yan", "zed", "小红"]);
    }

    #[test]
    fn room_lines() {
        let mut n = names(&["* Welcome, bob! Online (1): bob"]);
        for line in [
            "* You are now in #rust (3): alice, bob, carol",
            "* dan joined #rust (4 here: alice, bob, carol, dan)",
            "* eve joined #rust (40 here)",
            "* carol left #rust for the lobby (3 here)",
            "* alice left for #go (9 online)",
            "* dan left #rust (quit; 2 here)",
            "* Everyone online (3): bob, fay (#go), gus (away)",
            "* In #go (2): hal, ivy",
        ] {
            n.learn(format!("{line}\r\n").as_bytes());
        }
        assert_eq!(
            all(&n),
            ["alice", "carol", "eve", "fay", "gus", "hal", "ivy"]
        );
        let zh = names(&[
            "* 你已进入 #rust（2人）：【 甲, 乙 】",
            "* 丙 进入了 #rust（本房间3人）",
            "* 本房间：【 甲, 乙, 丙, 丁 】",
            "* 全部在线（2人）：【 戊 (#go), 己 】",
            "* 甲 下线了（退出，本房间3人）",
        ]);
        assert_eq!(all(&zh), ["丁", "丙", "乙", "己", "戊"]);
    }

    #[test]
    fn rooms_from_the_notices() {
        let n = names(&[
            "* You are now in #Rust, a new room: /topic TEXT gives it a topic",
            "* Rooms (3):",
            "*   chatd, the lobby (4)",
            "*   #go (2): gophers",
            "* bob left for #茶馆 (3 online)",
            "> eve: come to #notaroom",
        ]);
        assert_eq!(n.rooms_starting_with(""), ["#go", "#Rust", "#茶馆"]);
        assert_eq!(n.rooms_starting_with("#r"), ["#Rust"]);
        assert_eq!(n.rooms_starting_with("RU"), ["#Rust"]);
        assert!(n.rooms_starting_with("#x").is_empty());
    }

    #[test]
    fn colors_timestamps_and_bells_are_looked_through() {
        let n = names(&[
            "\x07> \x1b[33malice\x1b[39m: bob, look",
            "[12:34] > carol: hi",
            "* \x1b[33mbob\x1b[39m joined (2 online: alice, bob)",
        ]);
        assert_eq!(all(&n), ["alice", "bob", "carol"]);
    }

    #[test]
    fn renaming_ourselves_keeps_us_out() {
        let n = names(&[
            "* Welcome, bob! Online (2): alice, bob",
            "* bob is now known as robert",
        ]);
        assert_eq!(all(&n), ["alice"]);
    }

    #[test]
    fn prefixes_ignore_case() {
        let n = names(&["* Online (3): Alice, alfred, bob"]);
        assert_eq!(n.nicks_starting_with("AL"), ["alfred", "Alice"]);
        assert_eq!(n.nicks_starting_with("b"), ["bob"]);
        assert!(n.nicks_starting_with("x").is_empty());
    }

    #[test]
    fn commands_from_help() {
        let n = names(&[
            "* Commands:",
            "*   /help              this help",
            "*   /away [MESSAGE]    say you are away",
            "*   //text             send a line starting with /",
            "* Online (1): bob",
            "*   /notacommand       after the answer",
        ]);
        assert_eq!(n.commands_starting_with("/a"), ["/away"]);
        assert_eq!(n.commands_starting_with("/n"), ["/nick"]);
        assert_eq!(n.commands_starting_with("/m"), ["/me", "/msg"]);
        let zh = names(&["* 命令：", "*   /ignore 昵称       忽略"]);
        assert_eq!(zh.commands_starting_with("/i"), ["/ignore"]);
    }

    #[test]
    fn memory_is_bounded() {
        let mut n = Names::default();
        for i in 0..MAX_NAMES + 10 {
            n.learn(format!("> user{i}: hi\r\n").as_bytes());
        }
        assert_eq!(all(&n).len(), MAX_NAMES);
    }
}
