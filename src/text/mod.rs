//! Everything the server says to users, in English or in the tutorial's Chinese.
//!
//! The [`Texts`] functions that say something to users return complete protocol
//! lines ending in `\r\n`; the few that return a fragment (a default away
//! message, a [`LeaveReason`] for the log) say so. Nicknames and user text
//! reaching here are already sanitized; the only escape codes in the
//! output are the server's own colors, and only when `colors` is on.

use crate::config::Language;
use crate::nick::NickError;

mod comfort;
mod commands;
mod presence;
mod rooms;

pub use commands::display_width;
pub use rooms::{Place, RoomEntry};
mod moderation;
pub use moderation::MutedFrom;

/// English and Chinese without colors, for the texts' tests.
#[cfg(test)]
const EN: Texts = Texts {
    language: Language::En,
    colors: false,
};
#[cfg(test)]
const ZH: Texts = Texts {
    language: Language::Zh,
    colors: false,
};

/// Lists longer than this end in "… and N more".
pub const MAX_LISTED_NAMES: usize = 50;

const YELLOW: &str = "\x1b[33m";
const GREEN: &str = "\x1b[92m";
const DEFAULT_FG: &str = "\x1b[39m";

/// "1 second", "10 seconds".
fn seconds(n: u64) -> String {
    if n == 1 {
        "1 second".to_owned()
    } else {
        format!("{n} seconds")
    }
}

/// Why a user left, as the room tells it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeaveReason {
    /// `/quit`, with the user's reason if any.
    Quit(Option<String>),
    /// The client closed the connection.
    Closed,
    /// The connection failed (reset, timeout from the kernel, ...).
    Error(String),
    /// The writer could not keep up: the send queue overflowed.
    TooSlow,
    /// The server shut down.
    Shutdown,
    /// An operator (`by`; None for the control socket) kicked the user.
    Kicked {
        /// The operator's nickname.
        by: Option<String>,
        /// Why, if they said.
        reason: Option<String>,
    },
    /// An operator banned the user's address.
    Banned {
        /// The operator's nickname.
        by: Option<String>,
        /// Why, if they said.
        reason: Option<String>,
    },
}

impl LeaveReason {
    /// English, with what anyone typed: the leave line's reason, and the debug log.
    pub fn describe(&self) -> String {
        match self {
            LeaveReason::Quit(None) => "quit".to_owned(),
            LeaveReason::Quit(Some(r)) => format!("quit: {r}"),
            LeaveReason::Closed => "connection closed".to_owned(),
            LeaveReason::Error(e) => format!("connection error: {e}"),
            LeaveReason::TooSlow => "too slow".to_owned(),
            LeaveReason::Shutdown => "server shutdown".to_owned(),
            LeaveReason::Kicked { by, reason } => action_by("kicked", by, reason),
            LeaveReason::Banned { by, reason } => action_by("banned", by, reason),
        }
    }

    /// The reason for the log at info: what happened, without what anyone typed
    /// (a quit message, a kick or ban reason), which [`typed`](Self::typed) gives
    /// for the debug level only, like all message text.
    pub fn for_log(&self) -> String {
        match self {
            LeaveReason::Quit(_) => "quit".to_owned(),
            LeaveReason::Kicked { by, .. } => action_by("kicked", by, &None),
            LeaveReason::Banned { by, .. } => action_by("banned", by, &None),
            other => other.describe(),
        }
    }

    /// The reason as typed by the user or the operator, if they gave one.
    pub fn typed(&self) -> Option<&str> {
        match self {
            LeaveReason::Quit(reason)
            | LeaveReason::Kicked { reason, .. }
            | LeaveReason::Banned { reason, .. } => reason.as_deref(),
            _ => None,
        }
    }
}

/// "kicked by alice: spam", for the log.
fn action_by(what: &str, by: &Option<String>, reason: &Option<String>) -> String {
    let by = by.as_deref().unwrap_or("ctl");
    match reason {
        Some(reason) => format!("{what} by {by}: {reason}"),
        None => format!("{what} by {by}"),
    }
}

/// The server's voice: a language and whether to use colors.
#[derive(Debug, Clone, Copy)]
pub struct Texts {
    /// Which language to speak.
    pub language: Language,
    /// Whether to color nicknames and the room name.
    pub colors: bool,
}

impl Texts {
    /// The voice `config` sets (`language`, `colors`); derived again on every
    /// reload, never per line.
    pub fn of(config: &crate::config::Config) -> Texts {
        Texts {
            language: config.language,
            colors: config.colors,
        }
    }

    pub(crate) fn zh(&self) -> bool {
        self.language == Language::Zh
    }

    fn paint(&self, color: &str, s: &str) -> String {
        if self.colors {
            format!("{color}{s}{DEFAULT_FG}")
        } else {
            s.to_owned()
        }
    }

    pub(crate) fn nick(&self, nick: &str) -> String {
        self.paint(YELLOW, nick)
    }

    /// `nick` as [`nick`](Self::nick) paints it, in three parts (the color,
    /// the nickname, the default color back; without colors, empty, the
    /// nickname, empty), for the lines said in a room: joined from parts, a
    /// line costs no `format!` machinery and no growing reallocations.
    fn nick_parts<'a>(&self, nick: &'a str) -> [&'a str; 3] {
        if self.colors {
            [YELLOW, nick, DEFAULT_FG]
        } else {
            ["", nick, ""]
        }
    }

    /// The greeting on connect.
    pub fn banner(&self, room: &str, online: usize) -> String {
        let room = self.paint(GREEN, room);
        if self.zh() {
            format!(
                "> 欢迎来到 {room}\r\n> 当前有{online}人在线\r\n{}",
                self.prompt()
            )
        } else {
            format!(
                "> Welcome to {room}\r\n> {online} online now\r\n{}",
                self.prompt()
            )
        }
    }

    /// Asks for a nickname.
    pub fn prompt(&self) -> String {
        if self.zh() {
            "> 请输入您的昵称 + '#'，按回车键结束\r\n".to_owned()
        } else {
            "> Please type your nickname followed by '#' and press Enter\r\n".to_owned()
        }
    }

    /// A nickname broke the rules.
    pub fn nick_invalid(&self, err: &NickError) -> String {
        if self.zh() {
            let why = match err {
                NickError::Empty => "昵称不能为空".to_owned(),
                NickError::TooLong { max } => format!("昵称太长（最多{max}个字符）"),
                NickError::Whitespace => "昵称不能包含空格".to_owned(),
                NickError::ControlChar => "昵称不能包含控制字符".to_owned(),
                NickError::Hash => "昵称不能包含 '#'".to_owned(),
                NickError::Slash => "昵称不能以 '/' 开头".to_owned(),
                NickError::Invalid => "昵称包含无效字符".to_owned(),
            };
            format!("! {why}\r\n")
        } else {
            format!("! {err}\r\n")
        }
    }

    /// Someone else has that nickname.
    pub fn nick_taken(&self, nick: &str) -> String {
        if self.zh() {
            format!("! 昵称 \"{nick}\" 已被占用，请换一个\r\n")
        } else {
            format!("! nickname \"{nick}\" is taken, try another\r\n")
        }
    }

    fn name_list(&self, names: &[&str], total: usize) -> String {
        let mut list = names.join(", ");
        if total > names.len() {
            let more = total - names.len();
            if self.zh() {
                list.push_str(&format!(" … 等另外{more}人"));
            } else {
                list.push_str(&format!(" … and {more} more"));
            }
        }
        list
    }

    /// How many are in the lobby, `here` of `online` signed in: "3 online"
    /// while everyone online is in the lobby (as the tutorial said it), else
    /// "3 here, 5 online", so that no count says "online" for the lobby alone.
    pub(crate) fn lobby_count(&self, here: usize, online: usize) -> String {
        match (self.zh(), here == online) {
            (true, true) => format!("当前{here}人在线"),
            (true, false) => format!("大厅{here}人，共{online}人在线"),
            (false, true) => format!("{here} online"),
            (false, false) => format!("{here} here, {online} online"),
        }
    }

    /// The label of a list of the lobby's names in Chinese: 当前在线 while the
    /// lobby holds everyone online, else 大厅.
    fn zh_lobby_list(&self, here: usize, online: usize) -> &'static str {
        if here == online {
            "当前在线"
        } else {
            "大厅"
        }
    }

    /// To a newly registered user: who is in the lobby. `names` holds at most
    /// [`MAX_LISTED_NAMES`] of the `total` there; `online` are signed in in all.
    pub fn welcome(&self, nick: &str, names: &[&str], total: usize, online: usize) -> String {
        let list = self.name_list(names, total);
        let nick = self.nick(nick);
        match (self.zh(), total == online) {
            (true, true) => format!("* {nick} 你好！当前在线（{total}人）：【 {list} 】\r\n"),
            (true, false) => {
                format!("* {nick} 你好！大厅（{total}人，共{online}人在线）：【 {list} 】\r\n")
            }
            (false, true) => format!("* Welcome, {nick}! Online ({total}): {list}\r\n"),
            (false, false) => {
                format!("* Welcome, {nick}! In the lobby ({total} of {online} online): {list}\r\n")
            }
        }
    }

    /// Introduces the replayed history.
    pub fn history_header(&self, count: usize) -> String {
        if self.zh() {
            format!("* 最近的{count}条消息：\r\n")
        } else {
            if count == 1 {
                "* Last message:\r\n".to_owned()
            } else {
                format!("* Last {count} messages:\r\n")
            }
        }
    }

    /// Introduces the replay of what the lobby said while the user was in
    /// another room, as they come back.
    pub fn history_while_away_header(&self, count: usize) -> String {
        if self.zh() {
            format!("* 你离开期间的{count}条消息：\r\n")
        } else if count == 1 {
            "* 1 message while you were away:\r\n".to_owned()
        } else {
            format!("* {count} messages while you were away:\r\n")
        }
    }

    /// To everyone else in the lobby: `nick` signed in; `here` are in the
    /// lobby now, `online` signed in in all; `names` is the whole list in a
    /// small lobby.
    pub fn joined(&self, nick: &str, here: usize, online: usize, names: Option<&[&str]>) -> String {
        let nick = self.nick(nick);
        let count = self.lobby_count(here, online);
        match (self.zh(), names) {
            // Listed with ", " as the welcome and `/who` list them.
            (true, Some(names)) => format!(
                "* {nick} 上线了（{count}）\r\n* {}：【 {} 】\r\n",
                self.zh_lobby_list(here, online),
                names.join(", ")
            ),
            (true, None) => format!("* {nick} 上线了（{count}）\r\n"),
            (false, Some(names)) => format!("* {nick} joined ({count}: {})\r\n", names.join(", ")),
            (false, None) => format!("* {nick} joined ({count})\r\n"),
        }
    }

    /// To everyone else in the lobby: `nick` left; `here` are left in the
    /// lobby, `online` signed in in all.
    pub fn left(&self, nick: &str, reason: &LeaveReason, here: usize, online: usize) -> String {
        let banned = matches!(reason, LeaveReason::Banned { .. });
        if let LeaveReason::Kicked { by, reason } | LeaveReason::Banned { by, reason } = reason {
            return self.removed(nick, banned, by.as_deref(), reason.as_deref());
        }
        let nick = self.nick(nick);
        if self.zh() {
            let why = match reason {
                LeaveReason::Quit(None) => "退出".to_owned(),
                LeaveReason::Quit(Some(r)) => format!("退出：{r}"),
                LeaveReason::Closed => "连接已关闭".to_owned(),
                LeaveReason::Error(_) => "连接异常".to_owned(),
                LeaveReason::TooSlow => "接收太慢".to_owned(),
                LeaveReason::Shutdown => "服务器关闭".to_owned(),
                // Told by `removed` above.
                LeaveReason::Kicked { .. } | LeaveReason::Banned { .. } => String::new(),
            };
            format!(
                "* {nick} 下线了（{why}，{}）\r\n",
                self.lobby_count(here, online)
            )
        } else {
            let why = match reason {
                LeaveReason::Error(_) => "connection error".to_owned(),
                other => other.describe(),
            };
            format!(
                "* {nick} left ({why}; {})\r\n",
                self.lobby_count(here, online)
            )
        }
    }

    /// A chat line as everyone else sees it.
    pub fn chat(&self, nick: &str, text: &str) -> String {
        self.chat_parts(nick, text).concat()
    }

    /// [`chat`](Self::chat)'s line in parts, to be joined (the hub joins
    /// every chat line in a buffer it reuses).
    pub fn chat_parts<'a>(&self, nick: &'a str, text: &'a str) -> [&'a str; 7] {
        let [color, nick, default] = self.nick_parts(nick);
        ["> ", color, nick, default, ": ", text, "\r\n"]
    }

    /// `/me waves` as everyone sees it.
    pub fn action(&self, nick: &str, text: &str) -> String {
        self.action_parts(nick, text).concat()
    }

    /// [`action`](Self::action)'s line in parts, to be joined.
    pub fn action_parts<'a>(&self, nick: &'a str, text: &'a str) -> [&'a str; 7] {
        let [color, nick, default] = self.nick_parts(nick);
        ["* ", color, nick, default, " ", text, "\r\n"]
    }

    /// A private message as its recipient sees it.
    pub fn private_from(&self, nick: &str, text: &str) -> String {
        if self.zh() {
            format!("> {}（私聊）: {text}\r\n", self.nick(nick))
        } else {
            format!("> {} (private): {text}\r\n", self.nick(nick))
        }
    }

    /// Confirms a private message to its sender.
    pub fn private_sent(&self, to: &str, text: &str) -> String {
        format!("-> {}: {text}\r\n", self.nick(to))
    }

    /// `/msg` named nobody present.
    pub fn no_such_user(&self, nick: &str) -> String {
        if self.zh() {
            format!("! 没有名为 \"{nick}\" 的用户\r\n")
        } else {
            format!("! no such user \"{nick}\"\r\n")
        }
    }

    /// Answer to `/who` in the lobby: `total` there, `online` in all.
    pub fn who(&self, names: &[&str], total: usize, online: usize) -> String {
        let list = self.name_list(names, total);
        match (self.zh(), total == online) {
            (true, true) => format!("* 当前在线（{total}人）：【 {list} 】\r\n"),
            (true, false) => format!("* 大厅（{total}人，共{online}人在线）：【 {list} 】\r\n"),
            (false, true) => format!("* Online ({total}): {list}\r\n"),
            (false, false) => format!("* In the lobby ({total} of {online} online): {list}\r\n"),
        }
    }

    /// `/nick` changed a name; everyone sees it.
    pub fn renamed(&self, old: &str, new: &str) -> String {
        if self.zh() {
            format!("* {} 改名为 {}\r\n", self.nick(old), self.nick(new))
        } else {
            format!(
                "* {} is now known as {}\r\n",
                self.nick(old),
                self.nick(new)
            )
        }
    }

    /// A line over `max_line_bytes` was discarded.
    pub fn too_long(&self, max: usize) -> String {
        if self.zh() {
            format!("! 消息太长（最多{max}字节），已丢弃\r\n")
        } else {
            format!("! line too long (max {max} bytes), discarded\r\n")
        }
    }

    /// Flood control holds `waiting` of a sender's lines back: they follow, in
    /// order, at `per_sec` a second after a burst of `burst`.
    pub fn flood_held(&self, waiting: usize, burst: u32, per_sec: u32) -> String {
        if self.zh() {
            format!(
                "! 发送太快：你有{waiting}条消息在排队，会按顺序发出（防刷屏：连发{burst}条后每秒{per_sec}条）\r\n"
            )
        } else {
            let lines = if waiting == 1 {
                "line of yours waits"
            } else {
                "lines of yours wait"
            };
            format!(
                "! slow down: {waiting} {lines} and will follow in order (flood control: {per_sec} a second after {burst} in a row)\r\n"
            )
        }
    }

    /// `max_clients` reached.
    pub fn server_full(&self) -> String {
        if self.zh() {
            "! 聊天室已满，请稍后再试\r\n".to_owned()
        } else {
            "! server full, try again later\r\n".to_owned()
        }
    }

    /// `max_clients_per_ip` reached.
    pub fn too_many_from_address(&self) -> String {
        if self.zh() {
            "! 来自您的地址的连接太多\r\n".to_owned()
        } else {
            "! too many connections from your address\r\n".to_owned()
        }
    }

    /// No nickname within `login_timeout_secs`.
    pub fn login_timeout(&self, secs: u64) -> String {
        if self.zh() {
            format!("! {secs}秒内没有输入昵称，连接关闭\r\n")
        } else {
            format!(
                "! no nickname after {}, closing the connection\r\n",
                seconds(secs)
            )
        }
    }

    /// Sent to every client when a graceful shutdown begins.
    pub fn shutdown_begun(&self, secs: u64) -> String {
        if self.zh() {
            format!("* 服务器将在{secs}秒后关闭\r\n")
        } else {
            format!("* server shutting down in {}\r\n", seconds(secs))
        }
    }

    /// What every client sees once a live upgrade has handed it over
    /// (`upgrade_notice`).
    pub fn upgraded(&self) -> String {
        if self.zh() {
            "* 服务器已升级\r\n".to_owned()
        } else {
            "* server upgraded\r\n".to_owned()
        }
    }

    /// What every client gets when a new chatd could not read what the old
    /// one handed over, before it is closed. Not in the configured language:
    /// the config is not what failed to arrive, but this line is said once.
    pub fn session_not_kept() -> &'static str {
        "* the server restarted and could not keep your session; please reconnect\r\n"
    }

    /// The last line every client gets.
    pub fn shutdown_now(&self) -> String {
        if self.zh() {
            "* 服务器正在关闭，再见\r\n".to_owned()
        } else {
            "* server shutting down now, goodbye\r\n".to_owned()
        }
    }

    /// Answer to `/quit`.
    pub fn bye(&self, nick: &str) -> String {
        if self.zh() {
            format!("* 再见，{}！\r\n", self.nick(nick))
        } else {
            format!("* Bye, {}!\r\n", self.nick(nick))
        }
    }

    /// Answer to `/quit` before registering.
    pub fn bye_unregistered(&self) -> String {
        if self.zh() {
            "* 再见！\r\n".to_owned()
        } else {
            "* Bye!\r\n".to_owned()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_line_ends_in_crlf() {
        let samples = [
            EN.banner("room", 2),
            EN.joined("bob", 2, 2, Some(&["alice", "bob"])),
            EN.left("bob", &LeaveReason::TooSlow, 1, 1),
            EN.help(crate::command::Access::Operator),
        ];
        for s in samples {
            assert!(s.ends_with("\r\n"), "{s:?}");
            assert!(!s.replace("\r\n", "").contains('\n'), "{s:?}");
        }
    }

    #[test]
    fn long_lists_are_cut() {
        assert_eq!(
            EN.who(&["a", "b"], 52, 52),
            "* Online (52): a, b … and 50 more\r\n"
        );
    }

    #[test]
    fn colors_only_when_asked() {
        let colored = Texts { colors: true, ..EN };
        assert_eq!(colored.chat("bob", "hi"), "> \x1b[33mbob\x1b[39m: hi\r\n");
        assert_eq!(EN.chat("bob", "hi"), "> bob: hi\r\n");
        assert_eq!(
            colored.action("bob", "waves"),
            "* \x1b[33mbob\x1b[39m waves\r\n"
        );
        assert_eq!(EN.action("bob", "waves"), "* bob waves\r\n");
    }

    /// Chat and action lines are joined from parts (no `format!`, which every
    /// chat line would pay for): the lines are those the format gives.
    #[test]
    fn said_lines_are_the_format_s() {
        for texts in [EN, ZH, Texts { colors: true, ..EN }] {
            for (nick, text) in [
                ("bob", "hi"),
                ("小明", "你好，世界"),
                ("b", ""),
                ("x_1", "a  b "),
            ] {
                let shown = texts.nick(nick);
                assert_eq!(texts.chat(nick, text), format!("> {shown}: {text}\r\n"));
                assert_eq!(texts.action(nick, text), format!("* {shown} {text}\r\n"));
            }
        }
    }

    /// Every list of names in Chinese uses the same separator.
    #[test]
    fn chinese_lists_are_joined_alike() {
        let zh = ZH;
        let names = ["alice", "小红"];
        assert!(
            zh.joined("小红", 2, 2, Some(&names))
                .contains("【 alice, 小红 】")
        );
        assert!(
            zh.welcome("小红", &names, 2, 2)
                .contains("【 alice, 小红 】")
        );
        assert!(zh.who(&names, 2, 2).contains("【 alice, 小红 】"));
    }
}
