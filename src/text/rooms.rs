//! What the server says about rooms: joining, leaving and moving between them,
//! `/rooms`, `/who` in a room, and a room's topic.
//!
//! The lobby keeps the words it always had (`* bob joined (3 online)`), so that
//! a server whose users never type `/join` sounds exactly as before; a named
//! room says where (`* bob joined #rust (3 here)`). Counts are the room's, and
//! say so: while anyone is in another room, the lobby's count is not everyone
//! online, and its lines say both (`3 here, 5 online`).

use crate::nick::NickError;

use super::presence::grouped;
use super::{LeaveReason, Texts};

/// Where something happens: the lobby (the room the tutorial had) or a room,
/// by its name as shown, without the `#`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place<'a> {
    /// The room everyone signs in to (`room_name`).
    Lobby,
    /// A room made with `/join`.
    Room(&'a str),
}

/// One line of `/rooms`.
#[derive(Debug, Clone, Copy)]
pub struct RoomEntry<'a> {
    /// The room.
    pub place: Place<'a>,
    /// How many are in it.
    pub members: usize,
    /// Its topic, if set.
    pub topic: Option<&'a str>,
    /// Kept (`keep`): it stays when empty. The lobby, always kept, is not marked.
    pub kept: bool,
}

impl Texts {
    /// `#rust`, or the lobby's name in words.
    fn where_to(&self, place: Place<'_>) -> String {
        match (place, self.zh()) {
            // Chinese sets `#rust` off with a space; 大厅 runs on.
            (Place::Room(name), true) => format!(" #{name}"),
            (Place::Room(name), false) => format!("#{name}"),
            (Place::Lobby, true) => "大厅".to_owned(),
            (Place::Lobby, false) => "the lobby".to_owned(),
        }
    }

    /// How many are in `place`: "3 here" in a room; in the lobby "3 online",
    /// or "3 here, 5 online" when not everyone `online` is there.
    fn count_in(&self, place: Place<'_>, count: usize, online: usize) -> String {
        match (place, self.zh()) {
            (Place::Lobby, _) => self.lobby_count(count, online),
            (Place::Room(_), true) => format!("本房间{count}人"),
            (Place::Room(_), false) => format!("{count} here"),
        }
    }

    /// To the members of `place`: `nick` joined it; `names` is the whole list
    /// in small rooms.
    pub fn joined_in(
        &self,
        place: Place<'_>,
        nick: &str,
        count: usize,
        online: usize,
        names: Option<&[&str]>,
    ) -> String {
        let Place::Room(room) = place else {
            return self.joined(nick, count, online, names);
        };
        let nick = self.nick(nick);
        match (self.zh(), names) {
            (true, Some(names)) => format!(
                "* {nick} 进入了 #{room}（本房间{count}人）\r\n* 本房间：【 {} 】\r\n",
                names.join(", ")
            ),
            (true, None) => format!("* {nick} 进入了 #{room}（本房间{count}人）\r\n"),
            (false, Some(names)) => format!(
                "* {nick} joined #{room} ({count} here: {})\r\n",
                names.join(", ")
            ),
            (false, None) => format!("* {nick} joined #{room} ({count} here)\r\n"),
        }
    }

    /// To the lobby: `nick` came back from room `from` (not a sign-in: they
    /// were online all along); `names` is the whole list in a small lobby.
    pub fn came_back(
        &self,
        from: &str,
        nick: &str,
        here: usize,
        online: usize,
        names: Option<&[&str]>,
    ) -> String {
        let nick = self.nick(nick);
        let count = self.lobby_count(here, online);
        match (self.zh(), names) {
            (true, Some(names)) => format!(
                "* {nick} 从 #{from} 回到大厅（{count}）\r\n* {}：【 {} 】\r\n",
                self.zh_lobby_list(here, online),
                names.join(", ")
            ),
            (true, None) => format!("* {nick} 从 #{from} 回到大厅（{count}）\r\n"),
            (false, Some(names)) => format!(
                "* {nick} came back from #{from} ({count}: {})\r\n",
                names.join(", ")
            ),
            (false, None) => format!("* {nick} came back from #{from} ({count})\r\n"),
        }
    }

    /// To the members of `place`: `nick` disconnected, for `reason`.
    pub fn left_in(
        &self,
        place: Place<'_>,
        nick: &str,
        reason: &LeaveReason,
        count: usize,
        online: usize,
    ) -> String {
        let Place::Room(room) = place else {
            return self.left(nick, reason, count, online);
        };
        if matches!(
            reason,
            LeaveReason::Kicked { .. } | LeaveReason::Banned { .. }
        ) {
            // "* troll was kicked by alice (spam)", as in the lobby.
            return self.left(nick, reason, count, online);
        }
        let why = match (self.zh(), reason) {
            (true, LeaveReason::Quit(None)) => "退出".to_owned(),
            (true, LeaveReason::Quit(Some(r))) => format!("退出：{r}"),
            (true, LeaveReason::TooSlow) => "接收太慢".to_owned(),
            (true, LeaveReason::Shutdown) => "服务器关闭".to_owned(),
            (true, LeaveReason::Closed) => "连接已关闭".to_owned(),
            (true, _) => "连接异常".to_owned(),
            (false, LeaveReason::Error(_)) => "connection error".to_owned(),
            (false, other) => other.describe(),
        };
        let nick = self.nick(nick);
        if self.zh() {
            format!("* {nick} 下线了（{why}，#{room}还有{count}人）\r\n")
        } else {
            format!("* {nick} left #{room} ({why}; {count} here)\r\n")
        }
    }

    /// To the members of `from`: `nick` went to `to`; `count` are left in
    /// `from`, `online` signed in in all.
    pub fn moved(
        &self,
        from: Place<'_>,
        nick: &str,
        to: Place<'_>,
        count: usize,
        online: usize,
    ) -> String {
        let nick = self.nick(nick);
        let dest = self.where_to(to);
        let count = self.count_in(from, count, online);
        match (self.zh(), from) {
            (true, Place::Lobby) => format!("* {nick} 去了{dest}（{count}）\r\n"),
            (true, Place::Room(room)) => {
                format!("* {nick} 离开 #{room}，去了{dest}（{count}）\r\n")
            }
            (false, Place::Lobby) => format!("* {nick} left for {dest} ({count})\r\n"),
            (false, Place::Room(room)) => {
                format!("* {nick} left #{room} for {dest} ({count})\r\n")
            }
        }
    }

    /// To whoever just came into `place`: who is there (at most
    /// [`MAX_LISTED_NAMES`](super::MAX_LISTED_NAMES) of `total` names), or, in
    /// a room they made, how to give it a topic.
    pub fn now_in(&self, place: Place<'_>, created: bool, names: &[&str], total: usize) -> String {
        let list = self.name_list(names, total);
        match (self.zh(), place, created) {
            (true, Place::Room(room), true) => {
                format!("* 你创建了房间 #{room}，可用 /topic 内容 设置话题\r\n")
            }
            (true, Place::Room(room), false) => {
                format!("* 你已进入 #{room}（{total}人）：【 {list} 】\r\n")
            }
            (true, Place::Lobby, _) => format!("* 你已回到大厅（{total}人）：【 {list} 】\r\n"),
            (false, Place::Room(room), true) => {
                format!("* You are now in #{room}, a new room: /topic TEXT gives it a topic\r\n")
            }
            (false, Place::Room(room), false) => {
                format!("* You are now in #{room} ({total}): {list}\r\n")
            }
            (false, Place::Lobby, _) => {
                format!("* You are back in the lobby ({total}): {list}\r\n")
            }
        }
    }

    /// `/join` to where one is already, or `/part` in the lobby.
    pub fn already_in(&self, place: Place<'_>) -> String {
        let here = self.where_to(place);
        match (self.zh(), place) {
            (true, Place::Room(_)) => format!("! 你已经在{here} 了\r\n"),
            (true, Place::Lobby) => format!("! 你已经在{here}了\r\n"),
            (false, _) => format!("! you are in {here} already\r\n"),
        }
    }

    /// A `/join` whose name breaks the rules (those of nicknames, at most
    /// `max` characters).
    pub fn bad_room_name(&self, err: &NickError) -> String {
        let why = match (self.zh(), err) {
            (true, NickError::Empty) => "房间名不能为空".to_owned(),
            (true, NickError::TooLong { max }) => format!("房间名太长（最多{max}个字符）"),
            (true, NickError::Whitespace) => "房间名不能包含空格".to_owned(),
            (true, NickError::ControlChar) => "房间名不能包含控制字符".to_owned(),
            (true, NickError::Hash) => "'#' 只能放在房间名开头".to_owned(),
            (true, NickError::Slash) => "房间名不能以 '/' 开头".to_owned(),
            (true, NickError::Invalid) => "房间名包含无效字符".to_owned(),
            (false, NickError::Empty) => "a room needs a name".to_owned(),
            (false, NickError::TooLong { max }) => format!("at most {max} characters"),
            (false, NickError::Whitespace) => "no spaces".to_owned(),
            (false, NickError::ControlChar) => "no control characters".to_owned(),
            (false, NickError::Hash) => "'#' only at the start".to_owned(),
            (false, NickError::Slash) => "it must not start with '/'".to_owned(),
            (false, NickError::Invalid) => "characters that are not allowed".to_owned(),
        };
        if self.zh() {
            format!("! 房间名无效：{why}\r\n")
        } else {
            format!("! bad room name: {why}\r\n")
        }
    }

    /// `max_rooms` rooms (besides the lobby) exist already.
    pub fn too_many_rooms(&self, max: usize) -> String {
        match (self.zh(), max) {
            (true, 0) => "! 本服务器只有大厅，不能创建房间\r\n".to_owned(),
            (true, max) => {
                format!("! 房间数量已达上限（除大厅外最多{max}个），/rooms 查看已有的房间\r\n")
            }
            (false, 0) => "! this server has only the lobby: no rooms can be made\r\n".to_owned(),
            (false, max) => format!(
                "! too many rooms (at most {max} besides the lobby): /rooms lists those there are\r\n"
            ),
        }
    }

    /// Answer to `/rooms`: the lobby (named `lobby`) first, then `rooms` (at
    /// most [`MAX_LISTED_NAMES`](super::MAX_LISTED_NAMES) of `total`).
    pub fn rooms(&self, lobby: &str, rooms: &[RoomEntry<'_>], total: usize) -> String {
        let mut out = if self.zh() {
            format!("* 房间（{total}个）：\r\n")
        } else {
            format!("* Rooms ({total}):\r\n")
        };
        for entry in rooms {
            let name = match entry.place {
                Place::Room(name) => format!("#{name}"),
                Place::Lobby if self.zh() => format!("{lobby}（大厅）"),
                Place::Lobby => format!("{lobby}, the lobby"),
            };
            let count = match (self.zh(), entry.kept) {
                (true, true) => format!("{}人，常驻", entry.members),
                (true, false) => format!("{}人", entry.members),
                (false, true) => format!("{}, kept", entry.members),
                (false, false) => entry.members.to_string(),
            };
            let line = match (self.zh(), entry.topic) {
                (true, Some(topic)) => format!("*   {name}（{count}）：{topic}\r\n"),
                (true, None) => format!("*   {name}（{count}）\r\n"),
                (false, Some(topic)) => format!("*   {name} ({count}): {topic}\r\n"),
                (false, None) => format!("*   {name} ({count})\r\n"),
            };
            out.push_str(&line);
        }
        if total > rooms.len() {
            let more = total - rooms.len();
            out.push_str(&if self.zh() {
                format!("*   … 等另外{more}个\r\n")
            } else {
                format!("*   … and {more} more\r\n")
            });
        }
        out
    }

    /// After sign-in, when rooms besides the lobby exist: how to find them.
    pub fn rooms_hint(&self, rooms: usize) -> String {
        match (self.zh(), rooms) {
            (true, n) => format!("* 另有{n}个房间：/rooms 查看，/join 房间名 进入\r\n"),
            (false, 1) => "* 1 more room: /rooms lists it, /join NAME goes there\r\n".to_owned(),
            (false, n) => {
                format!("* {n} more rooms: /rooms lists them, /join NAME goes to one\r\n")
            }
        }
    }

    /// Answer to `/who` in `place` (at most
    /// [`MAX_LISTED_NAMES`](super::MAX_LISTED_NAMES) of `total` names).
    pub fn who_in(&self, place: Place<'_>, names: &[&str], total: usize, online: usize) -> String {
        let Place::Room(room) = place else {
            return self.who(names, total, online);
        };
        let list = self.name_list(names, total);
        if self.zh() {
            format!("* #{room}（{total}人）：【 {list} 】\r\n")
        } else {
            format!("* In #{room} ({total}): {list}\r\n")
        }
    }

    /// Answer to `/who *`: everyone signed in, those in a room marked with it.
    pub fn who_all(&self, names: &[&str], total: usize) -> String {
        let list = self.name_list(names, total);
        if self.zh() {
            format!("* 全部在线（{total}人）：【 {list} 】\r\n")
        } else {
            format!("* Everyone online ({total}): {list}\r\n")
        }
    }

    /// `bob (#rust)`, in `/who *`.
    pub fn in_room(&self, nick: &str, room: &str) -> String {
        format!("{nick} (#{room})")
    }

    /// The topic of `place`, as `/topic` and a newcomer see it.
    pub fn topic_of(&self, place: Place<'_>, topic: Option<&str>) -> String {
        let Place::Room(room) = place else {
            return self.topic(topic);
        };
        match (self.zh(), topic) {
            (true, Some(topic)) => format!("* #{room} 的话题：{topic}\r\n"),
            (true, None) => format!("* #{room} 还没有设置话题\r\n"),
            (false, Some(topic)) => format!("* Topic of #{room}: {topic}\r\n"),
            (false, None) => format!("* #{room} has no topic\r\n"),
        }
    }

    /// `/topic TEXT` in a room by someone who neither made it nor is an operator.
    pub fn topic_not_allowed(&self, room: &str) -> String {
        if self.zh() {
            format!("! 只有管理员和房间创建者可以设置 #{room} 的话题\r\n")
        } else {
            format!("! only operators and whoever made #{room} may set its topic\r\n")
        }
    }

    /// The summary of a big room's joins and leaves.
    pub fn presence_in(
        &self,
        place: Place<'_>,
        joined: u64,
        left: u64,
        count: usize,
        online: usize,
    ) -> String {
        let Place::Room(room) = place else {
            return self.presence(joined, left, count, online);
        };
        let mut parts = Vec::new();
        if self.zh() {
            if joined > 0 {
                parts.push(format!("{joined}人进入"));
            }
            if left > 0 {
                parts.push(format!("{left}人离开"));
            }
            format!("* #{room}：{}（本房间{count}人）\r\n", parts.join("，"))
        } else {
            if joined > 0 {
                parts.push(format!("{} joined", grouped(joined)));
            }
            if left > 0 {
                parts.push(format!("{} left", grouped(left)));
            }
            format!(
                "* #{room}: {} ({} here)\r\n",
                parts.join(", "),
                grouped(count as u64)
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::text::{EN, ZH};

    /// The lobby sounds as it did before there were rooms.
    #[test]
    fn the_lobby_keeps_its_words() {
        for texts in [EN, ZH] {
            assert_eq!(
                texts.joined_in(Place::Lobby, "bob", 2, 2, Some(&["alice", "bob"])),
                texts.joined("bob", 2, 2, Some(&["alice", "bob"]))
            );
            let reason = LeaveReason::Quit(None);
            assert_eq!(
                texts.left_in(Place::Lobby, "bob", &reason, 1, 1),
                texts.left("bob", &reason, 1, 1)
            );
            assert_eq!(
                texts.who_in(Place::Lobby, &["a"], 1, 1),
                texts.who(&["a"], 1, 1)
            );
            assert_eq!(texts.topic_of(Place::Lobby, None), texts.topic(None));
        }
    }

    #[test]
    fn rooms_say_where() {
        let rust = Place::Room("rust");
        assert_eq!(
            EN.joined_in(rust, "bob", 2, 7, Some(&["alice", "bob"])),
            "* bob joined #rust (2 here: alice, bob)\r\n"
        );
        assert_eq!(
            EN.left_in(rust, "bob", &LeaveReason::Closed, 1, 7),
            "* bob left #rust (connection closed; 1 here)\r\n"
        );
        assert_eq!(
            EN.moved(Place::Lobby, "bob", rust, 4, 5),
            "* bob left for #rust (4 here, 5 online)\r\n"
        );
        assert_eq!(
            EN.moved(rust, "bob", Place::Lobby, 0, 5),
            "* bob left #rust for the lobby (0 here)\r\n"
        );
        assert_eq!(
            EN.now_in(rust, false, &["alice", "bob"], 2),
            "* You are now in #rust (2): alice, bob\r\n"
        );
        assert_eq!(
            EN.who_all(&["alice", &EN.in_room("bob", "rust")], 2),
            "* Everyone online (2): alice, bob (#rust)\r\n"
        );
    }

    /// Each count says what it counts: "online" is everyone signed in, and a
    /// lobby that holds fewer says both.
    #[test]
    fn lobby_counts_say_what_they_count() {
        assert_eq!(
            EN.welcome("bob", &["alice", "bob"], 2, 5),
            "* Welcome, bob! In the lobby (2 of 5 online): alice, bob\r\n"
        );
        assert_eq!(
            EN.welcome("bob", &["alice", "bob"], 2, 2),
            "* Welcome, bob! Online (2): alice, bob\r\n"
        );
        assert_eq!(
            EN.joined("bob", 2, 5, Some(&["alice", "bob"])),
            "* bob joined (2 here, 5 online: alice, bob)\r\n"
        );
        assert_eq!(
            EN.left("bob", &LeaveReason::Quit(None), 1, 4),
            "* bob left (quit; 1 here, 4 online)\r\n"
        );
        assert_eq!(
            EN.came_back("rust", "bob", 3, 5, None),
            "* bob came back from #rust (3 here, 5 online)\r\n"
        );
        assert_eq!(
            EN.who(&["alice", "bob"], 2, 5),
            "* In the lobby (2 of 5 online): alice, bob\r\n"
        );
        assert_eq!(
            ZH.joined("bob", 2, 5, Some(&["alice", "bob"])),
            "* bob 上线了（大厅2人，共5人在线）\r\n* 大厅：【 alice, bob 】\r\n"
        );
        assert_eq!(
            ZH.welcome("bob", &["alice", "bob"], 2, 5),
            "* bob 你好！大厅（2人，共5人在线）：【 alice, bob 】\r\n"
        );
    }

    #[test]
    fn the_rooms_list_cuts_long_lists() {
        let rooms = [
            RoomEntry {
                place: Place::Lobby,
                members: 3,
                topic: None,
                kept: false,
            },
            RoomEntry {
                place: Place::Room("rust"),
                members: 2,
                topic: Some("borrowing"),
                kept: false,
            },
            RoomEntry {
                place: Place::Room("help"),
                members: 0,
                topic: None,
                kept: true,
            },
        ];
        assert_eq!(
            EN.rooms("chatd", &rooms, 5),
            concat!(
                "* Rooms (5):\r\n",
                "*   chatd, the lobby (3)\r\n",
                "*   #rust (2): borrowing\r\n",
                "*   #help (0, kept)\r\n",
                "*   … and 2 more\r\n"
            )
        );
        assert!(
            ZH.rooms("聊天室", &rooms, 3)
                .contains("#help（0人，常驻）\r\n")
        );
        assert!(
            ZH.rooms("聊天室", &rooms, 2)
                .contains("聊天室（大厅）（3人）")
        );
    }

    #[test]
    fn every_room_line_ends_in_crlf() {
        let rust = Place::Room("rust");
        let samples = [
            EN.joined_in(rust, "bob", 2, 2, Some(&["alice", "bob"])),
            ZH.joined_in(rust, "bob", 2, 2, Some(&["alice", "bob"])),
            ZH.moved(rust, "bob", Place::Lobby, 0, 1),
            ZH.came_back("rust", "bob", 2, 2, Some(&["alice", "bob"])),
            ZH.came_back("rust", "bob", 2, 3, Some(&["alice", "bob"])),
            EN.came_back("rust", "bob", 2, 2, None),
            EN.now_in(rust, true, &["bob"], 1),
            ZH.now_in(Place::Lobby, false, &["bob"], 1),
            EN.already_in(rust),
            EN.bad_room_name(&NickError::Hash),
            ZH.too_many_rooms(0),
            EN.too_many_rooms(100),
            EN.rooms_hint(1),
            EN.presence_in(rust, 3, 1, 120, 200),
            EN.topic_not_allowed("rust"),
        ];
        // Keeping rooms, in both languages and every case.
        let mut samples = samples.to_vec();
        for texts in [EN, ZH] {
            for (made, already) in [(false, false), (true, false), (false, true)] {
                samples.push(texts.kept("help", made, already));
            }
            samples.push(texts.lobby_always_kept());
            samples.push(texts.lobby_cannot_be_unkept());
            samples.push(texts.unkept("help", true));
            samples.push(texts.unkept("help", false));
            samples.push(texts.not_kept("help", true));
            samples.push(texts.not_kept("help", false));
        }
        for s in samples {
            assert!(s.ends_with("\r\n"), "{s:?}");
            assert!(!s.replace("\r\n", "").contains('\n'), "{s:?}");
        }
    }
}
