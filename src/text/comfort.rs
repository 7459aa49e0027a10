//! What the comfort commands say: away and back, replies, ignoring, the bell,
//! colors and timestamps. Each function returns whole protocol lines ending in
//! `\r\n` (`!` starts a refusal, `*` a notice), but for `away_default`, a
//! fragment. How a line is then shown to
//! each reader (stamped, without colors, marked) is [`crate::render`]'s.

use super::Texts;

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

    /// `/reply` when whoever sent the last private message (`nick`, as they
    /// were called then) has left: nothing is sent.
    pub fn reply_partner_left(&self, nick: &str) -> String {
        if self.zh() {
            format!("! {nick} 已经离开了，回复没有发出\r\n")
        } else {
            format!("! {nick} has left, so there is nobody to reply to\r\n")
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

    /// `/bell`, `/colors` or `/timestamps` without a value: how it is now.
    pub fn setting_is(&self, name: &str, on: bool) -> String {
        match (self.zh(), on) {
            (true, true) => format!("* {name} 现在是打开的（/{name} on|off 可以更改）\r\n"),
            (true, false) => format!("* {name} 现在是关闭的（/{name} on|off 可以更改）\r\n"),
            (false, true) => format!("* {name} is on (/{name} off turns it off)\r\n"),
            (false, false) => format!("* {name} is off (/{name} on turns it on)\r\n"),
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
