//! What an input line does: before sign-in it is a nickname (or one of the
//! session commands, which anyone may use); after it, chat or a command from
//! the table in [`crate::command`].
//!
//! [`Hub::run`] hands a command to its group's handler, one arm per group, and
//! each handler's `match` has one arm per command of its group: the session
//! and talk groups here, the rooms group in `joins`, comfort in `comfort`,
//! moderation in `moderation`. The server group is the control socket's
//! (`Hub::control_request`, in `moderation`).
//!
//! Lines arrive raw. Nicknames are checked as typed; text others will see is
//! sanitized here, where it is formatted.

use std::sync::Arc;

use crate::command::{self, Access, Args, Command, Id, Input, Muted, SessionCommand, TalkCommand};
use crate::info;
use crate::nick::{self, NickError};
use crate::protocol::sanitize;
use crate::render::BEL;
use crate::text::{LeaveReason, MAX_LISTED_NAMES, MutedFrom};

use super::rooms::HistoryEntry;
use super::{ClientId, Hub, JOIN_LIST_MAX_ROOM, LOBBY, RoomId, block, joined_block};
use crate::history::Said;

impl Hub {
    /// Handles one input line from `id`.
    pub(super) fn input(&mut self, id: ClientId, raw: &str) {
        let Some(member) = self.members.get(id) else {
            // Lines can still arrive from a client the hub already closed.
            return;
        };
        let nick = member.nick.clone();
        if let Some(member) = self.members.get_mut(id) {
            // When the line arrived: the reader took the time already.
            member.last_input = self.line_arrived;
        }
        let input = command::parse(raw);
        match nick {
            None => self.input_before_sign_in(id, raw, input),
            Some(nick) => self.input_signed_in(id, &nick, input),
        }
    }

    /// What `id` may use.
    pub(super) fn access(&self, id: ClientId) -> Access {
        match self.members.get(id) {
            Some(member) if member.op => Access::Operator,
            Some(member) if member.nick.is_some() => Access::Registered,
            _ => Access::Everyone,
        }
    }

    fn input_before_sign_in(&mut self, id: ClientId, raw: &str, input: Input<'_>) {
        if raw.trim().is_empty() {
            return;
        }
        match input {
            // Without a nickname only the session group runs, and of it only
            // what the table opens to everyone (its test checks that this is
            // the whole group); any other command waits for sign-in.
            Input::Command(command, args) => match (command.id, command.access) {
                (Id::Session(which), Access::Everyone) => {
                    self.run_session(id, None, which, args);
                }
                _ => {
                    let msg = self.texts.sign_in_first(command);
                    self.send(id, block(msg));
                }
            },
            Input::Usage(command) if command.access > Access::Everyone => {
                let msg = self.texts.sign_in_first(command);
                self.send(id, block(msg));
            }
            Input::Usage(command) => {
                let msg = self.texts.usage(command) + &self.texts.prompt();
                self.send(id, block(msg));
            }
            // Anything else is a nickname: the text before the first `#`; what
            // follows it (`bob#hello all`) is the user's first line.
            Input::Chat(_) | Input::Unknown(_) => {
                let nick = nick::nick_from_registration(raw, self.config.max_nick_chars);
                if self.sign_in(id, nick)
                    && let Some((_, first)) = raw.split_once('#')
                    && !first.trim().is_empty()
                {
                    self.input(id, first.trim());
                }
            }
        }
    }

    fn input_signed_in(&mut self, id: ClientId, nick: &Arc<str>, input: Input<'_>) {
        match input {
            Input::Chat(raw) => {
                let text = sanitize(raw);
                if text.trim().is_empty() {
                    return;
                }
                self.summary.lines_in += 1;
                if self.silenced(id) {
                    return;
                }
                // A chat line ends away (the room hears it is back first);
                // the check is a pointer test for most members.
                if self
                    .members
                    .get(id)
                    .is_some_and(|m| m.comfort().away.is_some())
                {
                    self.end_away(id, nick);
                }
                let parts = self.texts.chat_parts(nick, &text);
                let msg = joined_block(&mut self.line_buffer, &parts);
                let room_id = self.remember(id, nick, Said::Chat, &msg, &text);
                let named = self.named(id, room_id, &text);
                self.broadcast_said(room_id, &msg, Some(id), Some(id), named);
            }
            Input::Command(command, args) => {
                self.summary.lines_in += 1;
                if command.access > self.access(id) {
                    let msg = self.texts.not_allowed(command);
                    self.send(id, block(msg));
                } else {
                    self.run(id, nick, command, args);
                }
            }
            Input::Usage(command) => {
                self.summary.lines_in += 1;
                let msg = self.texts.usage(command);
                self.send(id, block(msg));
            }
            Input::Unknown(name) => {
                self.summary.lines_in += 1;
                let msg = self.texts.unknown_command(&sanitize(name));
                self.send(id, block(msg));
            }
        }
    }

    /// Runs a command the signed-in `id` may use: hands it to its group's
    /// handler, whose `match` has an arm for each of the group's commands.
    fn run(&mut self, id: ClientId, nick: &Arc<str>, command: &Command, args: Args<'_>) {
        // What a muted user says reaches nobody; they are told instead, as
        // the table says for each command.
        let refused = match command.muted {
            Muted::Runs => false,
            Muted::Silenced => self.silenced(id),
            Muted::Refused => self.muted_from(id, MutedFrom::Command(command.name)),
        };
        if refused {
            return;
        }
        match command.id {
            Id::Session(which) => self.run_session(id, Some(nick), which, args),
            Id::Talk(which) => self.run_talk(id, nick, which, args),
            Id::Room(which) => self.run_room(id, nick, which, command, args),
            Id::Comfort(which) => self.run_comfort(id, nick, which, command, args),
            Id::Moderation(which) => self.moderate_in_room(id, nick, command, which, args),
            // No user has `Access::ControlSocket`: only `control_request` runs these.
            Id::Server(_) => {}
        }
    }

    /// Runs a session command; `nick` is None before sign-in.
    fn run_session(
        &mut self,
        id: ClientId,
        nick: Option<&Arc<str>>,
        which: SessionCommand,
        args: Args<'_>,
    ) {
        match (which, nick) {
            (SessionCommand::Help, _) => {
                let msg = self.texts.help(self.access(id));
                self.send(id, block(msg));
            }
            (SessionCommand::Nick, None) => {
                let new = nick::validate_nick(args.rest, self.config.max_nick_chars);
                self.sign_in(id, new);
            }
            (SessionCommand::Nick, Some(old)) => self.rename(id, old, args.rest),
            (SessionCommand::Quit, None) => {
                self.send(id, block(self.texts.bye_unregistered()));
                self.remove(id, LeaveReason::Quit(None));
            }
            (SessionCommand::Quit, Some(nick)) => {
                // A muted user's reason would be said to the room: it is not.
                let reason = if self.is_muted(id) {
                    String::new()
                } else {
                    sanitize(args.rest).trim().to_owned()
                };
                self.send(id, block(self.texts.bye(nick)));
                self.remove(
                    id,
                    LeaveReason::Quit((!reason.is_empty()).then_some(reason)),
                );
            }
        }
    }

    /// Runs `/me` or `/msg` for the signed-in `id`.
    fn run_talk(&mut self, id: ClientId, nick: &Arc<str>, which: TalkCommand, args: Args<'_>) {
        match which {
            TalkCommand::Me => {
                let text = sanitize(args.rest);
                let parts = self.texts.action_parts(nick, &text);
                let msg = joined_block(&mut self.line_buffer, &parts);
                let room_id = self.remember(id, nick, Said::Action, &msg, &text);
                let named = self.named(id, room_id, &text);
                self.broadcast_said(room_id, &msg, Some(id), Some(id), named);
            }
            TalkCommand::Msg => self.private(id, nick, args.word, &sanitize(args.rest)),
        }
    }

    pub(super) fn private(&mut self, id: ClientId, nick: &str, to: &str, text: &str) {
        match self.members.find(to) {
            Some(target) => {
                let to_name = self.members.nick_of(target).to_owned();
                let from = self.members.get(id).and_then(|m| m.nick.clone());
                let (ignored, ring, away) = match self.members.get_mut(target) {
                    Some(member) => {
                        let ignored = member.comfort().ignored.contains(&id);
                        if !ignored && let Some(from) = from {
                            member.comfort_mut().reply_to = Some((id, from));
                        }
                        let comfort = member.comfort();
                        (ignored, !comfort.no_bell, comfort.away.clone())
                    }
                    None => (true, false, None),
                };
                // Someone who ignores the sender gets nothing; the sender is not told.
                if !ignored {
                    let mut line = self.texts.private_from(nick, text);
                    if ring {
                        line.insert(0, char::from(BEL));
                    }
                    self.send(target, block(line));
                }
                self.send(id, block(self.texts.private_sent(&to_name, text)));
                if let Some(away) = away {
                    self.send(id, block(self.texts.is_away(&to_name, &away)));
                }
            }
            None => {
                let msg = self.texts.no_such_user(&sanitize(to));
                self.send(id, block(msg));
            }
        }
    }

    /// Signs `id` in under `nick`, or tells it why not and asks again; whether
    /// it is signed in now.
    fn sign_in(&mut self, id: ClientId, nick: Result<&str, NickError>) -> bool {
        let nick = match nick {
            Ok(nick) => nick,
            Err(err) => {
                let msg = self.texts.nick_invalid(&err) + &self.texts.prompt();
                self.send(id, block(msg));
                return false;
            }
        };
        if !self.members.set_nick(id, nick) {
            let msg = self.texts.nick_taken(nick) + &self.texts.prompt();
            self.send(id, block(msg));
            return false;
        }
        if let Some(member) = self.members.get(id) {
            info!("registered {nick:?} from {}", member.peer);
        }
        self.counts.sign_ins += 1;
        // Everyone starts in the lobby; its round so far is not for them.
        self.enter(id, LOBBY);
        let lobby = self.rooms.lobby();
        let here = lobby.len();
        let (names, total) = lobby.names(&self.members, MAX_LISTED_NAMES);
        let online = self.members.registered();
        let mut welcome = self.texts.welcome(nick, &names, total, online);
        // Timestamps are not on yet: the replay carries its own.
        welcome += &self.replay(LOBBY, id, None);
        welcome += &self.topic_line(LOBBY);
        if let Some(motd) = &self.motd {
            welcome += motd;
        }
        let rooms = self.rooms.made();
        if rooms > 0 {
            welcome += &self.texts.rooms_hint(rooms);
        }
        let list = (here <= JOIN_LIST_MAX_ROOM).then_some(names.as_slice());
        let joined =
            (!self.summarizes(here)).then(|| block(self.texts.joined(nick, here, online, list)));
        self.send(id, block(welcome));
        // From here on (the welcome's replay is stamped already).
        if self.config.timestamps
            && let Some(member) = self.members.get_mut(id)
        {
            member.comfort_mut().timestamps = true;
        }
        // A muted user's nickname is theirs to choose: the room is not told.
        if !self.is_muted(id) {
            self.announce_join(LOBBY, id, joined);
        }
        true
    }

    fn rename(&mut self, id: ClientId, old: &str, new: &str) {
        let new = match nick::validate_nick(new, self.config.max_nick_chars) {
            Ok(new) => new,
            Err(err) => {
                let msg = self.texts.nick_invalid(&err);
                self.send(id, block(msg));
                return;
            }
        };
        if !self.members.set_nick(id, new) {
            let msg = self.texts.nick_taken(new);
            self.send(id, block(msg));
            return;
        }
        if let Some(member) = self.members.get(id) {
            info!("renamed {old:?} to {new:?} from {}", member.peer);
        }
        let room_id = self.room_of(id);
        self.rooms
            .rekey(room_id, &nick::nick_key(old), nick::nick_key(new));
        let msg = block(self.texts.renamed(old, new));
        self.broadcast(room_id, &msg, None);
    }

    /// The members of `room_id` (other than `author`) that `text` names: a word,
    /// stripped of the punctuation around it (`@bob:`), whose nickname key is
    /// theirs, so `bob` names Bob and ＢＯＢ but not bobby; in Chinese text
    /// without spaces, CJK punctuation bounds words too (`王伟，你好`), see
    /// [`nick::mention_candidates`].
    ///
    /// Every chat line goes through this, so the common case is kept cheap:
    /// an ASCII line's words are found on bytes
    /// ([`nick::for_each_mention_word`]), a word longer than any nickname is
    /// skipped, an ASCII word whose length and first letter no key has is
    /// ruled out before its key is made, and the others' keys (their
    /// lowercase) are made in one reused buffer.
    fn named(&self, author: ClientId, room_id: RoomId, text: &str) -> Vec<ClientId> {
        let mut named = Vec::new();
        let mut key = String::new();
        // A nickname's characters take at most 4 bytes each.
        let longest = self.config.max_nick_chars * 4;
        // `#rust` names a room, not the user rust: candidates leave it out.
        nick::for_each_mention_word(text, |word| {
            if word.len() > longest {
                return;
            }
            let found = if word.is_ascii() {
                if !self.members.may_be_key_of_ascii(word) {
                    return;
                }
                key.clear();
                key.push_str(word);
                key.make_ascii_lowercase();
                self.members.find_key(&key)
            } else {
                self.members.find(word)
            };
            if let Some(id) = found
                && id != author
                && self.room_of(id) == room_id
                && !named.contains(&id)
            {
                named.push(id);
            }
        });
        named
    }

    /// Keeps a chat line (`said`: or an action) by `author` (`id`), shown as
    /// `msg`, whose words are `text`, for the history replayed to newcomers
    /// to its room, and hands it to the saver when that room's history is on
    /// disk (a push into its mailbox, never a wait); the room it was said in.
    fn remember(
        &mut self,
        id: ClientId,
        author: &Arc<str>,
        said: Said,
        msg: &super::Block,
        text: &str,
    ) -> RoomId {
        let room_id = self.room_of(id);
        let keep = self.config.history;
        if keep == 0 {
            return room_id;
        }
        if let Some(room) = self.rooms.get_mut(room_id) {
            let at = self.round_time;
            let entry = HistoryEntry::new(Some(id), said, author, Arc::clone(msg), text, at);
            if let Some(disk) = &room.disk {
                disk.append(entry.record(), keep);
            }
            room.remember(entry, keep);
        }
        room_id
    }
}
