//! The rooms users are in: the lobby, which everyone signs in to, and those
//! `/join` makes.
//!
//! A [`Room`] keeps what is per room: its signed-in members (in nickname
//! order, for listing), its history, its topic and who made it, the joins and
//! leaves waiting for a summary, and the round of lines said in it that have
//! not been queued yet. Nicknames, operators, mutes and bans are server-wide,
//! in `members` and `bans`.
//!
//! Rooms live in slots, so that a member's room is an index ([`RoomId`]), not
//! a name to look up on every delivery; a slot freed by a room that emptied is
//! used again.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use std::time::Instant;

use crate::history::{Mailbox, Record, Said, Text};
use crate::outbox::Block;
use crate::text::{Place, Texts};

use super::members::Members;
use super::round::Round;
use super::{ClientId, LOBBY, RoomId};

/// Hub names follow the nickname rules, with at most this many characters.
pub const MAX_ROOM_NAME_CHARS: usize = 32;

/// Joins and leaves waiting for the next summary line.
#[derive(Debug, Default)]
pub(super) struct Presence {
    pub(super) joined: u64,
    pub(super) left: u64,
    /// When the first of them happened: the summary goes out
    /// `presence_interval_secs` after it.
    pub(super) since: Option<Instant>,
}

impl Presence {
    pub(super) fn count(&mut self, joined: bool) {
        if joined {
            self.joined += 1;
        } else {
            self.left += 1;
        }
        self.since.get_or_insert_with(Instant::now);
    }
}

/// A line kept for newcomers to a room: the line as it was shown, and what
/// it was (who said which words, when), for the disk and for `purge`.
pub(super) struct HistoryEntry {
    /// The author's [`nick_key`](crate::nick::nick_key) when they said it, for `purge`.
    pub(super) author_key: String,
    /// The author's connection, so that who ignores them is not replayed it;
    /// None for a line read back from disk at start.
    pub(super) author: Option<ClientId>,
    /// The line as the room was shown it (for a line read back from disk:
    /// as the texts in force at start show it).
    pub(super) line: Block,
    /// Chat or action.
    pub(super) said: Said,
    /// The author's nickname when they said it.
    pub(super) nick: Arc<str>,
    /// The words, inside `line`.
    pub(super) text: Text,
    /// When it was said (Unix seconds); a replay shows it.
    pub(super) at: u64,
    /// Its place among every line remembered in the room: the room's
    /// [`said`](Room::said) count when it came. Set by [`Room::remember`].
    pub(super) seq: u64,
}

impl HistoryEntry {
    /// The entry of `line`, as `texts.chat` or `texts.action` made it from
    /// `nick` and `text`: the words are its end, before the `\r\n`.
    pub(super) fn new(
        author: Option<ClientId>,
        said: Said,
        nick: &Arc<str>,
        line: Block,
        text: &str,
        at: u64,
    ) -> HistoryEntry {
        let end = line.len().saturating_sub(2);
        let text = Text::within(Arc::clone(&line), end.saturating_sub(text.len()), end);
        HistoryEntry {
            author_key: crate::nick::nick_key(nick),
            author,
            line,
            said,
            nick: Arc::clone(nick),
            text,
            at,
            seq: 0,
        }
    }

    /// A line read back from disk, shown in `texts`.
    pub(super) fn restored(record: Record, texts: &Texts) -> HistoryEntry {
        let shown = match record.said {
            Said::Chat => texts.chat(&record.nick, record.text.as_str()),
            Said::Action => texts.action(&record.nick, record.text.as_str()),
        };
        let line: Block = Arc::from(shown.into_bytes().into_boxed_slice());
        HistoryEntry::new(
            None,
            record.said,
            &record.nick,
            line,
            record.text.as_str(),
            record.at,
        )
    }

    /// The line as the history files keep it.
    pub(super) fn record(&self) -> Record {
        Record {
            at: self.at,
            said: self.said,
            nick: Arc::clone(&self.nick),
            text: self.text.clone(),
        }
    }
}

/// One room.
#[derive(Default)]
pub(super) struct Room {
    /// The name as it was first typed, without `#`; None for the lobby, whose
    /// name is the config's `room_name`.
    name: Option<Arc<str>>,
    /// Set by operators (or, in a room, its maker) with `/topic`.
    pub(super) topic: Option<String>,
    /// Who made the room with `/join`; may set its topic for as long as they
    /// stay connected.
    pub(super) creator: Option<ClientId>,
    /// Recent chat for newcomers.
    pub(super) history: VecDeque<HistoryEntry>,
    /// Signed-in members by nickname key: ordered, so that listing names costs
    /// no sort.
    members: BTreeMap<String, ClientId>,
    pub(super) presence: Presence,
    /// Lines said here this round, not queued yet.
    pub(super) round: Round,
    /// How many lines were ever remembered here, so that someone coming back
    /// is replayed only those said after they left.
    said: u64,
    /// Kept (`keep`): the room stays when empty, and outlives a restart with
    /// its topic and history. The lobby is always kept and never marked.
    pub(super) kept: bool,
    /// Where its history goes on disk (the lobby's and a kept room's, with
    /// `state_dir` and `history_on_disk`): each line remembered is handed to
    /// the saver here.
    pub(super) disk: Option<Arc<Mailbox>>,
}

impl Room {
    /// Where this is, as the texts name it.
    pub(super) fn place(&self) -> Place<'_> {
        match &self.name {
            Some(name) => Place::Room(name),
            None => Place::Lobby,
        }
    }

    /// The room's name as first typed; None for the lobby.
    pub(super) fn name(&self) -> Option<&Arc<str>> {
        self.name.as_ref()
    }

    /// Signed-in members here.
    pub(super) fn len(&self) -> usize {
        self.members.len()
    }

    /// The members' ids, in nickname order.
    pub(super) fn ids(&self) -> impl Iterator<Item = ClientId> + '_ {
        self.members.values().copied()
    }

    /// Up to `max` nicknames here, in case-insensitive order, and how many
    /// there are. Borrowed, not copied: every sign-in lists up to 50 of them.
    pub(super) fn names<'a>(&self, members: &'a Members, max: usize) -> (Vec<&'a str>, usize) {
        let names = self.ids().take(max).map(|id| members.nick_of(id)).collect();
        (names, self.len())
    }

    /// Like [`names`](Self::names), each away member's name as `mark` makes it.
    pub(super) fn names_marked(
        &self,
        members: &Members,
        max: usize,
        mark: impl Fn(&str) -> String,
    ) -> (Vec<String>, usize) {
        let names = self
            .ids()
            .take(max)
            .filter_map(|id| members.get(id))
            .map(|member| {
                let nick = member.nick.as_deref().unwrap_or_default();
                if member.comfort().away.is_some() {
                    mark(nick)
                } else {
                    nick.to_owned()
                }
            })
            .collect();
        (names, self.len())
    }

    /// Keeps a line for newcomers, at most `max` of them.
    pub(super) fn remember(&mut self, mut entry: HistoryEntry, max: usize) {
        if max == 0 {
            return;
        }
        while self.history.len() >= max {
            self.history.pop_front();
        }
        entry.seq = self.said;
        self.said += 1;
        self.history.push_back(entry);
    }

    /// How many lines were ever remembered here: the `seq` the next one gets.
    pub(super) fn said(&self) -> u64 {
        self.said
    }

    /// A room as a live upgrade hands it over; its members come back as
    /// their connections do ([`Rooms::add`]).
    pub(super) fn restored(
        name: Option<Arc<str>>,
        topic: Option<String>,
        creator: Option<ClientId>,
        history: VecDeque<HistoryEntry>,
        presence: Presence,
        said: u64,
    ) -> Room {
        Room {
            name,
            topic,
            creator,
            history,
            presence,
            said,
            ..Room::default()
        }
    }
}

/// Every room, the lobby in slot [`LOBBY`].
pub(super) struct Rooms {
    slots: Vec<Option<Room>>,
    /// Slots of rooms that emptied, to use again.
    free: Vec<RoomId>,
    /// Rooms (not the lobby) by the key of their name.
    by_key: HashMap<String, RoomId>,
    /// Rooms whose round has lines, each once.
    pub(super) pending: Vec<RoomId>,
}

impl Default for Rooms {
    fn default() -> Rooms {
        Rooms {
            slots: vec![Some(Room::default())],
            free: Vec::new(),
            by_key: HashMap::new(),
            pending: Vec::new(),
        }
    }
}

impl Rooms {
    /// Rooms as a live upgrade hands them over, each in the slot it had
    /// (members name their room by slot).
    ///
    /// # Errors
    /// No lobby in slot 0, or two rooms in one slot or with one name.
    pub(super) fn restored(rooms: Vec<(RoomId, Room)>) -> Result<Rooms, String> {
        let len = rooms
            .iter()
            .map(|(id, _)| *id as usize + 1)
            .max()
            .unwrap_or(0);
        let mut slots: Vec<Option<Room>> = Vec::with_capacity(len);
        slots.resize_with(len, || None);
        let mut by_key = HashMap::new();
        for (id, room) in rooms {
            if let Some(name) = &room.name {
                if id == LOBBY || by_key.insert(crate::nick::nick_key(name), id).is_some() {
                    return Err(format!("room {name:?} in slot {id}"));
                }
            } else if id != LOBBY {
                return Err(format!("a room without a name in slot {id}"));
            }
            if slots[id as usize].replace(room).is_some() {
                return Err(format!("two rooms in slot {id}"));
            }
        }
        if slots.first().is_none_or(Option::is_none) {
            return Err("no lobby".to_owned());
        }
        let free = (0..len as RoomId)
            .filter(|&id| slots[id as usize].is_none())
            .collect();
        Ok(Rooms {
            slots,
            free,
            by_key,
            pending: Vec::new(),
        })
    }

    pub(super) fn get(&self, id: RoomId) -> Option<&Room> {
        self.slots.get(id as usize)?.as_ref()
    }

    pub(super) fn get_mut(&mut self, id: RoomId) -> Option<&mut Room> {
        self.slots.get_mut(id as usize)?.as_mut()
    }

    pub(super) fn lobby(&self) -> &Room {
        self.slots[LOBBY as usize]
            .as_ref()
            .expect("the lobby is never removed")
    }

    /// Rooms besides the lobby.
    pub(super) fn made(&self) -> usize {
        self.by_key.len()
    }

    /// The room whose name has the key `key`.
    pub(super) fn find(&self, key: &str) -> Option<RoomId> {
        self.by_key.get(key).copied()
    }

    /// Makes room `name` (key `key`), made by `creator` (None: kept by an
    /// operator before anyone came, or read back at start).
    pub(super) fn create(&mut self, name: &str, key: String, creator: Option<ClientId>) -> RoomId {
        let room_id = Room {
            name: Some(Arc::from(name)),
            creator,
            ..Room::default()
        };
        let id = match self.free.pop() {
            Some(id) => {
                self.slots[id as usize] = Some(room_id);
                id
            }
            None => {
                self.slots.push(Some(room_id));
                (self.slots.len() - 1) as RoomId
            }
        };
        self.by_key.insert(key, id);
        id
    }

    /// Adds a signed-in member (nickname key `key`) to room `id`.
    pub(super) fn add(&mut self, id: RoomId, key: String, member: ClientId) {
        if let Some(room_id) = self.get_mut(id) {
            room_id.members.insert(key, member);
        }
    }

    /// Takes a member out of room `id`. A room (not the lobby, not kept)
    /// left empty is removed, and whatever it still had to say goes to
    /// nobody; its name is returned, for the log.
    pub(super) fn take_out(&mut self, id: RoomId, key: &str) -> Option<Arc<str>> {
        let room_id = self.get_mut(id)?;
        if let Some(member) = room_id.members.remove(key) {
            room_id.round.forget(member);
        }
        self.remove_if_empty(id)
    }

    /// Removes room `id` if it is empty, not kept and not the lobby; its
    /// name, for the log.
    pub(super) fn remove_if_empty(&mut self, id: RoomId) -> Option<Arc<str>> {
        let room_id = self.get(id)?;
        if id == LOBBY || room_id.kept || !room_id.members.is_empty() {
            return None;
        }
        let room = self.slots.get_mut(id as usize)?.take()?;
        let name = room.name?;
        self.by_key.remove(&crate::nick::nick_key(&name));
        self.pending.retain(|&c| c != id);
        self.free.push(id);
        Some(name)
    }

    /// A member of room `id` changed their nickname key.
    pub(super) fn rekey(&mut self, id: RoomId, old: &str, new: String) {
        if let Some(room_id) = self.get_mut(id)
            && let Some(member) = room_id.members.remove(old)
        {
            room_id.members.insert(new, member);
        }
    }

    /// Every room, the lobby first.
    pub(super) fn iter(&self) -> impl Iterator<Item = (RoomId, &Room)> {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(id, slot)| Some((id as RoomId, slot.as_ref()?)))
    }

    pub(super) fn iter_mut(&mut self) -> impl Iterator<Item = (RoomId, &mut Room)> {
        self.slots
            .iter_mut()
            .enumerate()
            .filter_map(|(id, slot)| Some((id as RoomId, slot.as_mut()?)))
    }
}
