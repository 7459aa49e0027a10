//! Kept rooms and the conversation on disk, the hub's side: `keep` and
//! `unkeep` (moderation commands, for operators in the room and `chatd ctl`),
//! the rooms the start read back, and what the hub hands to the savers of
//! [`crate::history`] when a room's kept state, a kept room's topic or a
//! history on disk changes (a purge).
//!
//! A kept room stays when empty and outlives a restart with its topic and
//! history; the lobby always is kept, and never marked so. A room that is
//! not kept goes with its last member, and its history was never on disk.
//! `keep` of a room that does not exist makes it, empty (within `max_rooms`):
//! that is how an operator sets up `#help` before anyone comes.

use std::sync::Arc;

use crate::history::{Found, KeptRoom};
use crate::nick::{nick_key, validate_nick};
use crate::{info, warn};

use super::moderation::Caller;
use super::rooms::{HistoryEntry, MAX_ROOM_NAME_CHARS};
use super::{Hub, LOBBY, RoomId};

/// What `keep` or `unkeep` named.
enum Named<'a> {
    /// The lobby, by its name.
    Lobby,
    /// A room's name, valid, and the key of it.
    Room(&'a str, String),
}

impl Hub {
    /// Puts back what the start found on disk: the lobby's topic and
    /// history, and the kept rooms with theirs. Called once, by `dispatch`
    /// (a hub a live upgrade hands over brings its own rooms instead).
    pub(super) fn put_back(&mut self, found: Found) {
        let keep = self.config.history;
        let Found { lobby, rooms } = found;
        if let Some(room) = self.rooms.get_mut(LOBBY) {
            room.topic = lobby.topic;
            for record in lobby.records {
                room.remember(HistoryEntry::restored(record, &self.texts), keep);
            }
        }
        for state in rooms {
            let Some(name) = state.name else { continue };
            let key = nick_key(&name);
            if self.rooms.find(&key).is_some() {
                continue;
            }
            let id = self.rooms.create(&name, key, None);
            if let Some(room) = self.rooms.get_mut(id) {
                room.kept = true;
                room.topic = state.topic;
                for record in state.records {
                    room.remember(HistoryEntry::restored(record, &self.texts), keep);
                }
            }
        }
        self.attach_disk();
        if self.rooms.made() > self.config.max_rooms {
            warn!(
                "{} kept rooms, more than max_rooms ({}): no room can be made until some are unkept",
                self.rooms.made(),
                self.config.max_rooms
            );
        }
    }

    /// Gives the lobby and every kept room the mailbox of its history file
    /// (when history goes to disk): at start, and for a hub whose rooms came
    /// from elsewhere (a live upgrade), whose `kept` marks say which.
    pub(super) fn attach_disk(&mut self) {
        let kept: Vec<(RoomId, Option<Arc<str>>)> = self
            .rooms
            .iter()
            .filter(|&(id, room)| id == LOBBY || room.kept)
            .map(|(id, room)| (id, room.name().cloned()))
            .collect();
        for (id, name) in kept {
            let disk = self.disk.mailbox(name.as_deref());
            if let Some(room) = self.rooms.get_mut(id) {
                room.disk = disk;
            }
        }
    }

    /// What `typed` (a room name, `#` optional) names, or the refusal.
    fn room_named<'a>(&self, caller: Caller<'_>, typed: &'a str) -> Result<Named<'a>, String> {
        let name = typed.strip_prefix('#').unwrap_or(typed);
        let name = validate_nick(name, MAX_ROOM_NAME_CHARS)
            .map_err(|err| self.texts_of(caller).bad_room_name(&err))?;
        let key = nick_key(name);
        // The lobby's own name names the lobby, unless a room has that name
        // (as for `/join`).
        let lobby = nick_key(self.config.room_name.trim_start_matches('#'));
        if key == lobby && self.rooms.find(&key).is_none() {
            return Ok(Named::Lobby);
        }
        Ok(Named::Room(name, key))
    }

    /// `keep ROOM`: the room stays when empty and outlives a restart; made,
    /// empty, if it does not exist.
    pub(super) fn keep(&mut self, caller: Caller<'_>, typed: &str) -> Result<String, String> {
        let texts = self.texts_of(caller);
        let (name, key) = match self.room_named(caller, typed)? {
            Named::Lobby => return Ok(texts.lobby_always_kept()),
            Named::Room(name, key) => (name, key),
        };
        let (id, made) = match self.rooms.find(&key) {
            Some(id) => (id, false),
            None if self.rooms.made() >= self.config.max_rooms => {
                info!(
                    "refused to make room #{name} for {}: max_rooms is {}",
                    caller.name(),
                    self.config.max_rooms
                );
                return Err(texts.too_many_rooms(self.config.max_rooms));
            }
            None => {
                let id = self.rooms.create(name, key, None);
                info!(
                    "room #{name} made by {} (rooms: {})",
                    caller.name(),
                    self.rooms.made()
                );
                (id, true)
            }
        };
        let keep = self.config.history;
        let disk = self.disk.mailbox(Some(name));
        let Some(room) = self.rooms.get_mut(id) else {
            return Err(String::new());
        };
        let shown: Arc<str> = room.name().cloned().unwrap_or_else(|| Arc::from(name));
        if room.kept {
            return Ok(texts.kept(&shown, false, true));
        }
        room.kept = true;
        // What it has said so far goes to disk too.
        if let Some(disk) = &disk {
            disk.replace(room.history.iter().map(HistoryEntry::record), keep);
        }
        room.disk = disk;
        self.save_kept();
        info!("room #{shown} kept, by {}", caller.name());
        Ok(texts.kept(&shown, made, false))
    }

    /// `unkeep ROOM`: the room goes with its last member again (now, if it
    /// is empty), and its history leaves the disk.
    pub(super) fn unkeep(&mut self, caller: Caller<'_>, typed: &str) -> Result<String, String> {
        let texts = self.texts_of(caller);
        let (name, key) = match self.room_named(caller, typed)? {
            Named::Lobby => return Err(texts.lobby_cannot_be_unkept()),
            Named::Room(name, key) => (name, key),
        };
        let Some(id) = self.rooms.find(&key) else {
            return Err(texts.not_kept(name, false));
        };
        let Some(room) = self.rooms.get_mut(id) else {
            return Err(String::new());
        };
        let shown: Arc<str> = room.name().cloned().unwrap_or_else(|| Arc::from(name));
        if !room.kept {
            return Err(texts.not_kept(&shown, true));
        }
        room.kept = false;
        if let Some(disk) = room.disk.take() {
            disk.remove();
        }
        self.save_kept();
        info!("room #{shown} no longer kept, by {}", caller.name());
        let gone = self.rooms.remove_if_empty(id);
        if let Some(gone) = &gone {
            self.room_gone(gone);
        }
        Ok(texts.unkept(&shown, gone.is_some()))
    }

    /// Hands the kept rooms file its new text: the lobby's topic, and each
    /// kept room with its topic. Never waits for the disk.
    pub(super) fn save_kept(&self) {
        let rooms: Vec<KeptRoom> = self
            .rooms
            .iter()
            .filter(|&(id, room)| id == LOBBY || room.kept)
            .map(|(_, room)| KeptRoom {
                name: room.name().map(|name| name.to_string()),
                topic: room.topic.clone(),
            })
            .collect();
        self.disk.save_rooms(&rooms);
    }

    /// Every history on disk is rewritten to hold what the room remembers
    /// now (after a purge): lines older than that leave the disk too.
    pub(super) fn rewrite_histories(&self) {
        let keep = self.config.history;
        for (_, room) in self.rooms.iter() {
            if let Some(disk) = &room.disk {
                disk.replace(room.history.iter().map(HistoryEntry::record), keep);
            }
        }
    }

    /// Whether room `id` is kept (the lobby always is).
    pub(super) fn is_kept(&self, id: RoomId) -> bool {
        id == LOBBY || self.rooms.get(id).is_some_and(|room| room.kept)
    }
}
