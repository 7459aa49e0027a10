//! What the comfort commands say: away and back, replies, ignoring, the bell,
//! colors and timestamps. Every function returns whole protocol lines ending in
//! `\r\n`; `!` starts a refusal, `*` a notice.

use super::Texts;

/// `[14:05] ` for a line said at `said` (Unix seconds) in the zone `offset`
/// minutes east of UTC; `[2026-12-02 14:05] ` when that was another day than
/// `now` there.
pub fn stamp(said: u64, now: u64, offset: i32) -> String {
    let local = |secs: u64| secs as i64 + i64::from(offset) * 60;
    let (said, today) = (local(said), local(now).div_euclid(86_400));
    let (day, secs) = (said.div_euclid(86_400), said.rem_euclid(86_400));
    let clock = format!("{:02}:{:02}", secs / 3600, secs % 3600 / 60);
    if day == today {
        format!("[{clock}] ")
    } else {
        let (y, m, d) = crate::log::civil_from_days(day);
        format!("[{y:04}-{m:02}-{d:02} {clock}] ")
    }
}

/// `bytes` without the color escapes the server adds (`ESC [ … m`); user text
/// never holds an escape (it is sanitized), so nothing of theirs is touched.
pub fn strip_colors(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == 0x1b && bytes.get(i + 1) == Some(&b'[') {
            let mut j = i + 2;
            while j < bytes.len() && (bytes[j].is_ascii_digit() || bytes[j] == b';') {
                j += 1;
            }
            if bytes.get(j) == Some(&b'm') {
                i = j + 1;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    out
}

/// A line that names its reader: a bell first (`bell`), and in bold (`bold`).
pub fn marked(line: &[u8], bell: bool, bold: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(line.len() + 12);
    if bell {
        out.push(0x07);
    }
    if bold {
        let body = line.strip_suffix(b"\r\n").unwrap_or(line);
        out.extend_from_slice(b"\x1b[1m");
        out.extend_from_slice(body);
        out.extend_from_slice(b"\x1b[22m\r\n");
    } else {
        out.extend_from_slice(line);
    }
    out
}

impl Texts {
    /// To the room: `nick` is away, with their message.
    pub fn away(&self, nick: &str, message: &str) -> String {
        if self.zh() {
            format!("* {} 暂时离开：{message}\r\n", self.nick(nick))
        } else {
            format!("* {} is away: {message}\r\n", self.nick(nick))
        }
    }

    /// What `/away` without a message says.
    pub fn away_default(&self) -> &'static str {
        if self.zh() { "暂时离开" } else { "away" }
    }

    /// To the room: `nick` is back.
    pub fn back(&self, nick: &str) -> String {
        if self.zh() {
            format!("* {} 回来了\r\n", self.nick(nick))
        } else {
            format!("* {} is back\r\n", self.nick(nick))
        }
    }

    /// `/back` from someone who was not away.
    pub fn not_away(&self) -> String {
        if self.zh() {
            "! 你并没有离开\r\n".to_owned()
        } else {
            "! you are not away\r\n".to_owned()
        }
    }

    /// To the sender of a private message: its recipient is away.
    pub fn is_away(&self, nick: &str, message: &str) -> String {
        if self.zh() {
            format!("* {} 暂时离开：{message}\r\n", self.nick(nick))
        } else {
            format!("* {} is away: {message}\r\n", self.nick(nick))
        }
    }

    /// How `/who` marks someone away.
    pub fn away_mark(&self, nick: &str) -> String {
        if self.zh() {
            format!("{nick}（离开）")
        } else {
            format!("{nick} (away)")
        }
    }

    /// `/reply` with no private message to reply to.
    pub fn nobody_to_reply_to(&self) -> String {
        if self.zh() {
            "! 还没有人私聊过你，无从回复\r\n".to_owned()
        } else {
            "! nobody to reply to: no one has sent you a private message\r\n".to_owned()
        }
    }

    /// `/ignore` confirmed (the ignored user is not told).
    pub fn ignoring(&self, nick: &str) -> String {
        if self.zh() {
            format!("* 已屏蔽 {nick}（对方不会知道）\r\n")
        } else {
            format!("* ignoring {nick} (they are not told)\r\n")
        }
    }

    /// `/unignore` confirmed.
    pub fn unignored(&self, nick: &str) -> String {
        if self.zh() {
            format!("* 不再屏蔽 {nick}\r\n")
        } else {
            format!("* no longer ignoring {nick}\r\n")
        }
    }

    /// `/unignore` of someone not ignored.
    pub fn not_ignored(&self, nick: &str) -> String {
        if self.zh() {
            format!("! 你并没有屏蔽 {nick}\r\n")
        } else {
            format!("! you are not ignoring {nick}\r\n")
        }
    }

    /// `/ignore` of yourself.
    pub fn ignore_yourself(&self) -> String {
        if self.zh() {
            "! 不能屏蔽自己\r\n".to_owned()
        } else {
            "! you cannot ignore yourself\r\n".to_owned()
        }
    }

    /// `/ignore` alone: whom you ignore.
    pub fn ignore_list(&self, names: &[&str]) -> String {
        match (self.zh(), names.is_empty()) {
            (true, true) => "* 你没有屏蔽任何人\r\n".to_owned(),
            (true, false) => format!("* 已屏蔽：{}\r\n", names.join(", ")),
            (false, true) => "* you are ignoring nobody\r\n".to_owned(),
            (false, false) => format!("* ignoring: {}\r\n", names.join(", ")),
        }
    }

    /// A setting (`bell`, `colors`, `timestamps`) is now `on`.
    pub fn setting(&self, name: &str, on: bool) -> String {
        match (self.zh(), on) {
            (true, true) => format!("* {name} 已打开\r\n"),
            (true, false) => format!("* {name} 已关闭\r\n"),
            (false, true) => format!("* {name} on\r\n"),
            (false, false) => format!("* {name} off\r\n"),
        }
    }

    /// `/colors on` on a server that sends no colors.
    pub fn colors_unavailable(&self) -> String {
        if self.zh() {
            "! 本服务器未开启颜色\r\n".to_owned()
        } else {
            "! this server sends no colors (colors = false)\r\n".to_owned()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_say_the_local_minute_and_the_day_when_it_is_another() {
        // 2026-12-03 10:05:59 UTC.
        let t = 1_796_292_359;
        assert_eq!(stamp(t, t, 0), "[10:05] ");
        assert_eq!(stamp(t, t, 480), "[18:05] ");
        assert_eq!(stamp(t, t, -330), "[04:35] ");
        // Said yesterday, there: the date too.
        assert_eq!(stamp(t - 86_400, t, 0), "[2026-12-02 10:05] ");
        // 14:00 east of UTC, it is the next day already; said and now agree.
        assert_eq!(stamp(t, t, 14 * 60), "[00:05] ");
    }

    #[test]
    fn strip_colors_takes_out_sgr_and_nothing_else() {
        assert_eq!(
            strip_colors(b"> \x1b[33mbob\x1b[39m: a [1m b\r\n"),
            b"> bob: a [1m b\r\n"
        );
        assert_eq!(strip_colors(b"\x1b[1;33mx\x1b[m"), b"x");
        // Not an SGR: left alone (the server sends no other escape).
        assert_eq!(strip_colors(b"\x1b[2Jx"), b"\x1b[2Jx");
    }

    #[test]
    fn marked_lines_ring_and_are_bold_when_asked() {
        assert_eq!(
            marked(b"> a: bob\r\n", true, true),
            b"\x07\x1b[1m> a: bob\x1b[22m\r\n"
        );
        assert_eq!(marked(b"> a: bob\r\n", true, false), b"\x07> a: bob\r\n");
        assert_eq!(marked(b"> a: bob\r\n", false, false), b"> a: bob\r\n");
    }
}
