//! What operators and the people they act on are told: kicks, bans, mutes,
//! operator rights, the topic and server notices. Every function returns whole
//! protocol lines ending in `\r\n`; `!` starts a refusal, `*` a notice.

use super::Texts;
use crate::command::Command;

/// What a mute keeps a user from doing besides talking (see
/// [`Texts::muted_cannot`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MutedFrom<'a> {
    /// A command, by name (`nick`, `away`).
    Command(&'a str),
    /// Making a room with `/join`.
    NewRoom,
    /// Setting a topic.
    Topic,
}

impl Texts {
    /// To the room: `nick` was kicked or banned (by an operator, or over the
    /// control socket when `by` is None).
    pub fn removed(
        &self,
        nick: &str,
        banned: bool,
        by: Option<&str>,
        reason: Option<&str>,
    ) -> String {
        let nick = self.nick(nick);
        if self.zh() {
            let what = if banned { "封禁" } else { "踢出" };
            let by = by
                .map(|by| format!("被 {} ", self.nick(by)))
                .unwrap_or_else(|| "被".to_owned());
            match reason {
                Some(reason) => format!("* {nick} {by}{what}（{reason}）\r\n"),
                None => format!("* {nick} {by}{what}\r\n"),
            }
        } else {
            let what = if banned { "banned" } else { "kicked" };
            let by = by
                .map(|by| format!(" by {}", self.nick(by)))
                .unwrap_or_default();
            match reason {
                Some(reason) => format!("* {nick} was {what}{by} ({reason})\r\n"),
                None => format!("* {nick} was {what}{by}\r\n"),
            }
        }
    }

    /// To the one kicked, just before the connection closes.
    pub fn kicked_you(&self, by: Option<&str>, reason: Option<&str>) -> String {
        // Without a reason the line ends after who did it, not in a colon.
        let (zh_why, en_why) = match reason.filter(|r| !r.is_empty()) {
            Some(reason) => (format!("：{reason}"), format!(": {reason}")),
            None => (String::new(), String::new()),
        };
        match (self.zh(), by) {
            (true, Some(by)) => format!("! 你被 {by} 踢出了聊天室{zh_why}\r\n"),
            (true, None) => format!("! 你被踢出了聊天室{zh_why}\r\n"),
            (false, Some(by)) => format!("! you were kicked by {by}{en_why}\r\n"),
            (false, None) => format!("! you were kicked{en_why}\r\n"),
        }
    }

    /// To a banned address, at the ban or when it connects again. `until` is
    /// the end of the ban as text, None when permanent.
    pub fn banned_you(&self, until: Option<&str>, reason: &str) -> String {
        match (self.zh(), until) {
            (true, Some(until)) => format!("! 你的地址已被封禁，直到 {until}：{reason}\r\n"),
            (true, None) => format!("! 你的地址已被永久封禁：{reason}\r\n"),
            (false, Some(until)) => format!("! your address is banned until {until}: {reason}\r\n"),
            (false, None) => format!("! your address is banned for good: {reason}\r\n"),
        }
    }

    /// To a user who was just muted; `left` is how long, None until unmuted.
    pub fn muted_you(&self, left: Option<&str>) -> String {
        match (self.zh(), left) {
            (true, Some(left)) => format!("! 你被禁言了，还剩 {left}，别人看不到你的消息\r\n"),
            (true, None) => "! 你被禁言了，别人看不到你的消息\r\n".to_owned(),
            (false, Some(left)) => {
                format!("! you are muted for {left}: nobody sees what you say\r\n")
            }
            (false, None) => "! you are muted: nobody sees what you say\r\n".to_owned(),
        }
    }

    /// To a muted user whose mute was lifted.
    pub fn unmuted_you(&self) -> String {
        if self.zh() {
            "* 你已被解除禁言\r\n".to_owned()
        } else {
            "* you are no longer muted\r\n".to_owned()
        }
    }

    /// To a muted user who tried `what`, which a mute also closes (it would
    /// carry their words to others); `left` as for [`muted_you`](Self::muted_you).
    pub fn muted_cannot(&self, left: Option<&str>, what: MutedFrom<'_>) -> String {
        let zh_what = match what {
            MutedFrom::Command(name) => format!("使用 /{name}"),
            MutedFrom::NewRoom => "创建房间".to_owned(),
            MutedFrom::Topic => "设置话题".to_owned(),
        };
        let en_what = match what {
            MutedFrom::Command(name) => format!("use /{name}"),
            MutedFrom::NewRoom => "make a room".to_owned(),
            MutedFrom::Topic => "set the topic".to_owned(),
        };
        match (self.zh(), left) {
            (true, Some(left)) => format!("! 你被禁言了，还剩 {left}，现在不能{zh_what}\r\n"),
            (true, None) => format!("! 你被禁言了，不能{zh_what}\r\n"),
            (false, Some(left)) => {
                format!("! you are muted for {left}: you cannot {en_what} until then\r\n")
            }
            (false, None) => format!("! you are muted: you cannot {en_what}\r\n"),
        }
    }

    /// To an operator: the mute on `net` is in place (`nick`: the user it was
    /// named by), for `left` (None: until unmuted); `connected` clients are
    /// covered by it now.
    pub fn muted(
        &self,
        net: &str,
        nick: Option<&str>,
        left: Option<&str>,
        connected: usize,
    ) -> String {
        let zh_for = left.map_or_else(|| "永久禁言".to_owned(), |l| format!("禁言 {l}"));
        let en_for = left.map_or_else(|| "for good".to_owned(), |l| format!("for {l}"));
        match (self.zh(), nick) {
            (true, Some(nick)) => format!(
                "* {} 被{zh_for}（地址 {net}，{connected}个连接）\r\n",
                self.nick(nick)
            ),
            (true, None) => format!("* {net} 被{zh_for}（{connected}个连接）\r\n"),
            (false, Some(nick)) => format!(
                "* {} is muted {en_for} (address {net}, {connected} connected)\r\n",
                self.nick(nick)
            ),
            (false, None) => format!("* {net} is muted {en_for} ({connected} connected)\r\n"),
        }
    }

    /// To an operator: the mute on `net` is lifted (`nick`: the user it was
    /// named by).
    pub fn unmuted(&self, net: &str, nick: Option<&str>) -> String {
        let who = nick.map(|nick| self.nick(nick));
        match (self.zh(), who) {
            (true, Some(who)) => format!("* 已解除对 {net}（{who}）的禁言\r\n"),
            (true, None) => format!("* 已解除对 {net} 的禁言\r\n"),
            (false, Some(who)) => format!("* lifted the mute on {net} ({who})\r\n"),
            (false, None) => format!("* lifted the mute on {net}\r\n"),
        }
    }

    /// There is no mute on `target` (a nickname, an address or a range).
    pub fn not_muted(&self, target: &str) -> String {
        if self.zh() {
            format!("! {target} 没有被禁言\r\n")
        } else {
            format!("! {target} is not muted\r\n")
        }
    }

    /// `nick` is muted, but by the mute on the wider `range`, which is what
    /// must be lifted.
    pub fn muted_by_range(&self, nick: &str, range: &str) -> String {
        if self.zh() {
            format!("! {nick} 被针对 {range} 的禁言覆盖：请解除对 {range} 的禁言\r\n")
        } else {
            format!("! {nick} is muted by the mute on {range}: unmute {range} instead\r\n")
        }
    }

    /// There is no ban on exactly `net`, but the ban on the wider `range`
    /// covers it: that is what must be lifted.
    pub fn banned_by_range(&self, net: &str, range: &str) -> String {
        if self.zh() {
            format!(
                "! 没有对 {net} 本身的封禁：它被针对 {range} 的封禁覆盖，请解除对 {range} 的封禁\r\n"
            )
        } else {
            format!(
                "! no ban on {net} itself: the ban on {range} covers it (unban {range} instead)\r\n"
            )
        }
    }

    /// An operator named a user who connects from the operator's own
    /// address: a ban or mute on it would hit the operator too.
    pub fn shares_your_address(&self, nick: &str, ip: &str, banning: bool) -> String {
        match (self.zh(), banning) {
            (true, true) => format!("! {nick} 与你使用同一个地址 {ip}：封禁它也会封禁你自己\r\n"),
            (true, false) => format!("! {nick} 与你使用同一个地址 {ip}：禁言它也会禁言你自己\r\n"),
            (false, true) => {
                format!("! {nick} shares your address {ip}: a ban on it would shut you out too\r\n")
            }
            (false, false) => {
                format!("! {nick} shares your address {ip}: a mute on it would silence you too\r\n")
            }
        }
    }

    /// An operator named an address or range that covers their own address.
    pub fn covers_your_address(&self, net: &str, ip: &str) -> String {
        if self.zh() {
            format!("! {net} 包含你自己的地址 {ip}\r\n")
        } else {
            format!("! {net} covers your own address {ip}\r\n")
        }
    }

    /// A ban or mute was changed in memory but its file could not be written:
    /// it is in force until chatd exits; the saver keeps trying.
    pub fn not_saved(&self, ban: bool, path: &str, why: &str, retry_secs: u64) -> String {
        match (self.zh(), ban) {
            (true, true) => {
                format!("! 封禁已生效，但没有保存到 {path}：{why}（每{retry_secs}秒重试一次）\r\n")
            }
            (true, false) => {
                format!("! 禁言已生效，但没有保存到 {path}：{why}（每{retry_secs}秒重试一次）\r\n")
            }
            (false, true) => format!(
                "! the ban is in force, but not saved to {path}: {why} (tried again every {retry_secs}s)\r\n"
            ),
            (false, false) => format!(
                "! the mute is in force, but not saved to {path}: {why} (tried again every {retry_secs}s)\r\n"
            ),
        }
    }

    /// A refusal of a command's arguments, with the command's usage.
    pub fn usage_hint(&self, why: &str, command: &Command) -> String {
        let usage = self.usage_of(command);
        if self.zh() {
            format!("! {why}（用法：{usage}）\r\n")
        } else {
            format!("! {why} (usage: {usage})\r\n")
        }
    }

    /// To an operator: a ban is in place; `disconnected` clients matched it.
    pub fn banned(&self, net: &str, until: Option<&str>, disconnected: usize) -> String {
        match (self.zh(), until) {
            (true, Some(until)) => {
                format!("* 已封禁 {net}，直到 {until}（断开{disconnected}个连接）\r\n")
            }
            (true, None) => format!("* 已永久封禁 {net}（断开{disconnected}个连接）\r\n"),
            (false, Some(until)) => {
                format!("* banned {net} until {until} ({disconnected} disconnected)\r\n")
            }
            (false, None) => format!("* banned {net} for good ({disconnected} disconnected)\r\n"),
        }
    }

    /// To an operator: a ban was lifted.
    pub fn unbanned(&self, net: &str) -> String {
        if self.zh() {
            format!("* 已解除对 {net} 的封禁\r\n")
        } else {
            format!("* lifted the ban on {net}\r\n")
        }
    }

    /// There is no ban on `net`.
    pub fn no_ban(&self, net: &str) -> String {
        if self.zh() {
            format!("! 没有对 {net} 的封禁\r\n")
        } else {
            format!("! no ban on {net}\r\n")
        }
    }

    /// To an operator: `count` lines by `nick` left the history.
    pub fn purged(&self, nick: &str, count: usize) -> String {
        let nick = self.nick(nick);
        if self.zh() {
            format!("* 已从历史中删除 {nick} 的{count}条消息\r\n")
        } else {
            let lines = if count == 1 { "line" } else { "lines" };
            format!("* removed {count} {lines} by {nick} from the history\r\n")
        }
    }

    /// `keep ROOM` was carried out: `made`, the room did not exist and was
    /// made empty; `already`, it was kept before.
    pub fn kept(&self, room: &str, made: bool, already: bool) -> String {
        match (self.zh(), made, already) {
            (true, _, true) => format!("* #{room} 已经是常驻房间\r\n"),
            (true, true, _) => format!("* 已创建常驻房间 #{room}：无人时也保留，重启后仍在\r\n"),
            (true, false, _) => format!("* #{room} 已设为常驻房间：无人时也保留，重启后仍在\r\n"),
            (false, _, true) => format!("* #{room} is kept already\r\n"),
            (false, true, _) => {
                format!("* #{room} made and kept: it stays when empty and outlives a restart\r\n")
            }
            (false, false, _) => {
                format!("* #{room} is kept: it stays when empty and outlives a restart\r\n")
            }
        }
    }

    /// `keep` named the lobby, which is always kept.
    pub fn lobby_always_kept(&self) -> String {
        if self.zh() {
            "* 大厅总是常驻的\r\n".to_owned()
        } else {
            "* the lobby is always kept\r\n".to_owned()
        }
    }

    /// `unkeep` named the lobby.
    pub fn lobby_cannot_be_unkept(&self) -> String {
        if self.zh() {
            "! 大厅总是常驻的，不能取消\r\n".to_owned()
        } else {
            "! the lobby is always kept: it cannot be unkept\r\n".to_owned()
        }
    }

    /// `unkeep ROOM` was carried out; `gone`: the room was empty and went.
    pub fn unkept(&self, room: &str, gone: bool) -> String {
        match (self.zh(), gone) {
            (true, true) => format!("* #{room} 不再常驻；房间里没有人，已关闭\r\n"),
            (true, false) => {
                format!("* #{room} 不再常驻：最后一个人离开时，房间和它的历史一起消失\r\n")
            }
            (false, true) => format!("* #{room} is no longer kept; it was empty and is gone\r\n"),
            (false, false) => format!(
                "* #{room} is no longer kept: it goes with its last member, its history with it\r\n"
            ),
        }
    }

    /// `unkeep` named a room that is not kept (`exists`) or not there at all.
    pub fn not_kept(&self, room: &str, exists: bool) -> String {
        match (self.zh(), exists) {
            (true, true) => format!("! #{room} 不是常驻房间\r\n"),
            (true, false) => format!("! 没有房间 #{room}\r\n"),
            (false, true) => format!("! #{room} is not kept\r\n"),
            (false, false) => format!("! there is no room #{room}\r\n"),
        }
    }

    /// To a user given operator rights.
    pub fn opped_you(&self) -> String {
        if self.zh() {
            "* 你现在是管理员了：输入 /help 查看你可以使用的命令\r\n".to_owned()
        } else {
            "* you are now an operator: /help lists your commands\r\n".to_owned()
        }
    }

    /// To a user whose operator rights were taken away.
    pub fn deopped_you(&self) -> String {
        if self.zh() {
            "* 你不再是管理员了\r\n".to_owned()
        } else {
            "* you are no longer an operator\r\n".to_owned()
        }
    }

    /// To the control socket: `nick`'s rights changed.
    pub fn op_changed(&self, nick: &str, op: bool) -> String {
        if op {
            format!("* {nick} is now an operator\r\n")
        } else {
            format!("* {nick} is no longer an operator\r\n")
        }
    }

    /// A server notice to everyone (`say`).
    pub fn server_notice(&self, text: &str) -> String {
        if self.zh() {
            format!("* 【服务器】{text}\r\n")
        } else {
            format!("* [server] {text}\r\n")
        }
    }

    /// Answer to `/topic`.
    pub fn topic(&self, topic: Option<&str>) -> String {
        match (self.zh(), topic) {
            (true, Some(topic)) => format!("* 话题：{topic}\r\n"),
            (true, None) => "* 还没有设置话题\r\n".to_owned(),
            (false, Some(topic)) => format!("* Topic: {topic}\r\n"),
            (false, None) => "* no topic is set\r\n".to_owned(),
        }
    }

    /// To the room: the topic changed.
    pub fn topic_set(&self, by: Option<&str>, topic: &str) -> String {
        match (self.zh(), by) {
            (true, Some(by)) => format!("* {} 把话题设为：{topic}\r\n", self.nick(by)),
            (true, None) => format!("* 话题设为：{topic}\r\n"),
            (false, Some(by)) => format!("* {} set the topic: {topic}\r\n", self.nick(by)),
            (false, None) => format!("* the topic is now: {topic}\r\n"),
        }
    }

    /// An operator tried to act on themselves.
    pub fn not_yourself(&self) -> String {
        if self.zh() {
            "! 不能对自己这样做\r\n".to_owned()
        } else {
            "! you cannot do that to yourself\r\n".to_owned()
        }
    }

    /// A refusal in words of its own (already worded for the operator: a bad
    /// duration, range or address).
    pub fn refused(&self, why: &str) -> String {
        format!("! {why}\r\n")
    }
}
