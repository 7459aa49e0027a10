//! Moving between rooms and looking at them: `/join`, `/part`, `/rooms`,
//! `/who` and `/topic`.
//!
//! A move is a leave and a join done as one: the member first gets what was
//! said in the old room so far this round, then leaves it (the old room hears
//! where they went), then comes into the new one (which hears them arrive)
//! and gets its history and topic. A room left empty goes.

use crate::command::{Access, Args, Command, RoomCommand};
use crate::info;
use crate::nick::{self, nick_key};
use crate::protocol::sanitize;
use crate::render::stamp;
use crate::text::{MAX_LISTED_NAMES, MutedFrom, Place, RoomEntry, Texts};

use super::rooms::MAX_ROOM_NAME_CHARS;
use super::{Block, ClientId, Hub, JOIN_LIST_MAX_ROOM, LOBBY, RoomId, block};

impl Hub {
    /// Runs one of the rooms commands for the signed-in `id`.
    pub(super) fn run_room(
        &mut self,
        id: ClientId,
        nick: &str,
        which: RoomCommand,
        command: &Command,
        args: Args<'_>,
    ) {
        match which {
            RoomCommand::Who => self.who(id, args.rest),
            RoomCommand::Join => self.join(id, nick, args.rest),
            RoomCommand::Part => self.part(id, nick),
            RoomCommand::Rooms => {
                let msg = self.rooms_list(self.texts);
                self.send(id, block(msg));
            }
            RoomCommand::Topic => self.topic(id, nick, command, args.rest),
        }
    }

    /// The room `id` is in (the lobby for a connection that is not signed in).
    pub(super) fn room_of(&self, id: ClientId) -> RoomId {
        self.members.get(id).map_or(LOBBY, |member| member.room)
    }

    /// `#rust`, or `lobby` for the lobby.
    fn room_label(&self, room_id: RoomId, lobby: &str) -> String {
        match self.rooms.get(room_id).map(|c| c.place()) {
            Some(Place::Room(name)) => format!("#{name}"),
            _ => lobby.to_owned(),
        }
    }

    /// The room as the log names it.
    fn log_name(&self, room_id: RoomId) -> String {
        self.room_label(room_id, "the lobby")
    }

    /// The room as `ctl who` shows it: `#rust`, or the lobby's `room_name`.
    pub(super) fn ctl_room_name(&self, room_id: RoomId) -> String {
        self.room_label(room_id, &self.config.room_name)
    }

    /// Puts signed-in `id` into `room_id`; the room's round so far is not for it.
    pub(super) fn enter(&mut self, id: ClientId, room_id: RoomId) {
        let Some(member) = self.members.get_mut(id) else {
            return;
        };
        member.room = room_id;
        let key = nick_key(member.nick.as_deref().unwrap_or_default());
        self.rooms.add(room_id, key, id);
        if let Some(room) = self.rooms.get_mut(room_id) {
            room.round.starts_for(id);
        }
    }

    /// The history of `room_id` as `id`, coming in, is replayed it: each line
    /// with the time it was said, without the lines of those `id` ignores;
    /// coming back (`since`: the room's [`said`](super::rooms::Room::said)
    /// count when it left), only the lines said after it left.
    pub(super) fn replay(&self, room_id: RoomId, id: ClientId, since: Option<u64>) -> String {
        let Some(room) = self.rooms.get(room_id) else {
            return String::new();
        };
        let ignored = self.members.get(id).map(|m| &m.comfort().ignored);
        let shown: Vec<_> = room
            .history
            .iter()
            .filter(|entry| since.is_none_or(|since| entry.seq >= since))
            .filter(|entry| {
                let ignores = |author| ignored.is_some_and(|ignored| ignored.contains(&author));
                !entry.author.is_some_and(ignores)
            })
            .collect();
        if shown.is_empty() {
            return String::new();
        }
        let mut out = match since {
            Some(_) => self.texts.history_while_away_header(shown.len()),
            None => self.texts.history_header(shown.len()),
        };
        let now = super::round::unix_now();
        for entry in shown {
            out += &stamp(entry.at, now, self.config.utc_offset_minutes);
            out.push_str(&String::from_utf8_lossy(&entry.line));
        }
        out
    }

    /// The topic line of `room_id`, for someone coming in; empty without one.
    pub(super) fn topic_line(&self, room_id: RoomId) -> String {
        match self.rooms.get(room_id) {
            Some(room) if room.topic.is_some() => {
                self.texts.topic_of(room.place(), room.topic.as_deref())
            }
            _ => String::new(),
        }
    }

    /// `/join NAME`: to room NAME, made if it does not exist (within
    /// `max_rooms`). The lobby's own name leads back to the lobby.
    pub(super) fn join(&mut self, id: ClientId, nick: &str, typed: &str) {
        let name = typed.strip_prefix('#').unwrap_or(typed);
        let name = match nick::validate_nick(name, MAX_ROOM_NAME_CHARS) {
            Ok(name) => name,
            Err(err) => {
                let msg = self.texts.bad_room_name(&err);
                self.send(id, block(msg));
                return;
            }
        };
        let key = nick_key(name);
        let existing = self.rooms.find(&key);
        // The lobby's own name leads there, unless a room has that name (one
        // made before a reload gave the lobby its name): it stays reachable.
        if existing.is_none() && key == nick_key(self.config.room_name.trim_start_matches('#')) {
            self.part(id, nick);
            return;
        }
        let (to, created) = match existing {
            Some(to) if to == self.room_of(id) => {
                let place = self.rooms.get(to).map_or(Place::Lobby, |c| c.place());
                let msg = self.texts.already_in(place);
                self.send(id, block(msg));
                return;
            }
            Some(to) => (to, false),
            // A room's name is its maker's words.
            None if self.muted_from(id, MutedFrom::NewRoom) => return,
            None if self.rooms.made() >= self.config.max_rooms => {
                info!(
                    "refused to make room #{name} for {nick:?}: max_rooms is {}",
                    self.config.max_rooms
                );
                let msg = self.texts.too_many_rooms(self.config.max_rooms);
                self.send(id, block(msg));
                return;
            }
            None => {
                let to = self.rooms.create(name, key, Some(id));
                info!(
                    "room #{name} made by {nick:?} (rooms: {})",
                    self.rooms.made()
                );
                (to, true)
            }
        };
        self.move_to(id, nick, to, created);
    }

    /// Logs that room `name` went with its last member.
    pub(super) fn room_gone(&self, name: &str) {
        info!(
            "room #{name} is empty and gone (rooms: {})",
            self.rooms.made()
        );
    }

    /// `/part`: back to the lobby.
    pub(super) fn part(&mut self, id: ClientId, nick: &str) {
        if self.room_of(id) == LOBBY {
            let msg = self.texts.already_in(Place::Lobby);
            self.send(id, block(msg));
            return;
        }
        self.move_to(id, nick, LOBBY, false);
    }

    /// Moves signed-in `id` from its room to `to`, telling both rooms.
    fn move_to(&mut self, id: ClientId, nick: &str, to: RoomId, created: bool) {
        let from = self.room_of(id);
        // What was said where they were, up to now, still reaches them.
        self.catch_up(id);
        // Leaving the lobby: what it said so far was seen, not to be replayed.
        if from == LOBBY {
            let said = self.rooms.lobby().said();
            if let Some(member) = self.members.get_mut(id) {
                member.lobby_seen = said;
            }
        }
        let key = nick_key(nick);
        info!(
            "{nick:?} went from {} to {}",
            self.log_name(from),
            self.log_name(to)
        );
        let to_name = self.rooms.get(to).and_then(|c| c.name().cloned());
        let to_place = to_name.as_deref().map_or(Place::Lobby, Place::Room);
        // Named before the room can go with its last member.
        let from_name = self.rooms.get(from).and_then(|c| c.name().cloned());
        if let Some(gone) = self.rooms.take_out(from, &key) {
            self.room_gone(&gone);
        }
        // A muted user moves unannounced, as they come and go.
        let quiet = self.is_muted(id);
        if !quiet {
            self.announce_leave(from, |texts, place, here, online| {
                texts.moved(place, nick, to_place, here, online)
            });
        }

        self.enter(id, to);
        let Some(room) = self.rooms.get(to) else {
            return;
        };
        let here = room.len();
        let mark = |nick: &str| self.texts.away_mark(nick);
        let (names, total) = room.names_marked(&self.members, MAX_LISTED_NAMES, mark);
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        let msg = self.texts.now_in(to_place, created, &names, total);
        // Back in the lobby: only what was said while away.
        let since = (to == LOBBY)
            .then(|| self.members.get(id).map(|m| m.lobby_seen))
            .flatten();
        let replay = self.replay(to, id, since);
        let topic = self.topic_line(to);
        let list = (here <= JOIN_LIST_MAX_ROOM).then_some(names.as_slice());
        let online = self.members.registered();
        let joined = (!self.summarizes(here)).then(|| {
            block(match (to_place, &from_name) {
                (Place::Lobby, Some(from)) => self.texts.came_back(from, nick, here, online, list),
                _ => self.texts.joined_in(to_place, nick, here, online, list),
            })
        });
        self.send(id, block(msg));
        if !replay.is_empty() {
            // Stamped with when each line was said, not again with now.
            self.send_stamped(id, block(replay));
        }
        if !topic.is_empty() {
            self.send(id, block(topic));
        }
        if !quiet {
            self.announce_join(to, id, joined);
        }
    }

    /// Tells `room_id` that `id` came in with `joined`; None: the room is
    /// big enough that the join goes into its next summary instead.
    pub(super) fn announce_join(&mut self, room_id: RoomId, id: ClientId, joined: Option<Block>) {
        match joined {
            Some(joined) => self.broadcast(room_id, &joined, Some(id)),
            None => {
                if let Some(room) = self.rooms.get_mut(room_id) {
                    room.presence.count(true);
                }
            }
        }
    }

    /// Tells `room_id` (if it is still there) that someone left it, with the
    /// line `line` makes from its place, how many are left there and how many
    /// are online in all; in a big room the leave goes into its next summary
    /// instead.
    pub(super) fn announce_leave(
        &mut self,
        room_id: RoomId,
        line: impl FnOnce(&Texts, Place<'_>, usize, usize) -> String,
    ) {
        let online = self.members.registered();
        let Some(here) = self.rooms.get(room_id).map(|room| room.len()) else {
            return; // It went with its last member.
        };
        // Counted with the one leaving: the room had that many when it happened.
        let summarize = self.summarizes(here + 1);
        let Some(room) = self.rooms.get_mut(room_id) else {
            return;
        };
        if summarize {
            room.presence.count(false);
            return;
        }
        let msg = block(line(&self.texts, room.place(), here, online));
        self.broadcast(room_id, &msg, None);
    }

    /// `/who`: who is in your room; `/who *`: everyone signed in, each not in
    /// the lobby with their room.
    pub(super) fn who(&mut self, id: ClientId, arg: &str) {
        let texts = self.texts;
        let msg = match arg {
            "*" => {
                let names: Vec<String> = self
                    .members
                    .ids_by_nick()
                    .take(MAX_LISTED_NAMES)
                    .filter_map(|id| self.members.get(id))
                    .map(|member| {
                        let nick = member.nick.as_deref().unwrap_or_default();
                        let nick = if member.comfort().away.is_some() {
                            texts.away_mark(nick)
                        } else {
                            nick.to_owned()
                        };
                        match self.rooms.get(member.room).map(|c| c.place()) {
                            Some(Place::Room(room)) => texts.in_room(&nick, room),
                            _ => nick,
                        }
                    })
                    .collect();
                let names: Vec<&str> = names.iter().map(String::as_str).collect();
                texts.who_all(&names, self.members.registered())
            }
            // Anything else is ignored, as `/who` always ignored it.
            _ => {
                let room_id = self.room_of(id);
                let Some(room) = self.rooms.get(room_id) else {
                    return;
                };
                let mark = |nick: &str| texts.away_mark(nick);
                let (names, total) = room.names_marked(&self.members, MAX_LISTED_NAMES, mark);
                let names: Vec<&str> = names.iter().map(String::as_str).collect();
                texts.who_in(room.place(), &names, total, self.members.registered())
            }
        };
        self.send(id, block(msg));
    }

    /// `/rooms` (and `ctl rooms`): the lobby, then the rooms, the biggest first.
    pub(super) fn rooms_list(&self, texts: Texts) -> String {
        let mut rooms: Vec<_> = self
            .rooms
            .iter()
            .filter(|&(id, _)| id != LOBBY)
            .map(|(_, room)| room)
            .collect();
        rooms.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.name().cmp(&b.name())));
        let lobby = self.rooms.lobby();
        let entries: Vec<RoomEntry<'_>> = std::iter::once(lobby)
            .chain(rooms)
            .take(MAX_LISTED_NAMES)
            .map(|room| RoomEntry {
                place: room.place(),
                members: room.len(),
                topic: room.topic.as_deref(),
                kept: room.kept,
            })
            .collect();
        texts.rooms(&self.config.room_name, &entries, self.rooms.made() + 1)
    }

    /// `/topic`: anyone sees their room's topic; operators set it, and so may
    /// whoever made a room (not the lobby).
    pub(super) fn topic(&mut self, id: ClientId, nick: &str, command: &Command, text: &str) {
        let room_id = self.room_of(id);
        let operator = self.access(id) >= Access::Operator;
        let Some(room) = self.rooms.get(room_id) else {
            return;
        };
        if text.is_empty() {
            let msg = self.texts.topic_of(room.place(), room.topic.as_deref());
            self.send(id, block(msg));
            return;
        }
        let maker = room_id != LOBBY && room.creator == Some(id);
        if !operator && !maker {
            let msg = match room.place() {
                Place::Room(name) => self.texts.topic_not_allowed(name),
                Place::Lobby => self.texts.not_allowed(command),
            };
            self.send(id, block(msg));
            return;
        }
        // A topic is its setter's words.
        if self.muted_from(id, MutedFrom::Topic) {
            return;
        }
        let topic = sanitize(text).trim().to_owned();
        info!("topic of {} set by {nick}", self.log_name(room_id));
        crate::debug!("topic: {topic}");
        let msg = block(self.texts.topic_set(Some(nick), &topic));
        if let Some(room) = self.rooms.get_mut(room_id) {
            room.topic = Some(topic);
        }
        // A kept room's topic (the lobby's too) outlives a restart.
        if self.is_kept(room_id) {
            self.save_kept();
        }
        self.broadcast(room_id, &msg, None);
    }

    /// Sends the summary of the joins and leaves not announced one by one in
    /// each room, once `presence_interval_secs` has passed since the first.
    pub(super) fn announce_presence(&mut self, now: std::time::Instant) {
        let interval = std::time::Duration::from_secs(self.config.presence_interval_secs);
        let due: Vec<RoomId> = self
            .rooms
            .iter()
            .filter(|(_, room)| {
                room.presence
                    .since
                    .is_some_and(|since| now.duration_since(since) >= interval)
            })
            .map(|(id, _)| id)
            .collect();
        let online = self.members.registered();
        for room_id in due {
            let Some(room) = self.rooms.get_mut(room_id) else {
                continue;
            };
            let presence = std::mem::take(&mut room.presence);
            let msg = self.texts.presence_in(
                room.place(),
                presence.joined,
                presence.left,
                room.len(),
                online,
            );
            self.broadcast(room_id, &block(msg), None);
        }
    }
}
