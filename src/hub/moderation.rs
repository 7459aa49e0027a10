//! Moderation and the control socket: the moderation group (kick, ban, unban,
//! mute, unmute, bans, mutes, purge; keep and unkeep, in `keep`), which operators use in the room and
//! `chatd ctl` over the control socket, and the control socket's requests
//! ([`Hub::control_request`]): the moderation group, the server group (op,
//! deop, say, stats; reload is answered by the server, metrics by the control
//! socket from `Event::Metrics`), and its own answers to `who`, `rooms` and
//! `help`. Bans and mutes themselves, which bind to addresses, are in
//! `sanctions`. Each action carried out is counted for the metrics.
//!
//! A command runs the same way for both callers ([`Caller`]) and answers with
//! protocol lines: an operator in the room gets them as they are, in the
//! room's language; the control socket gets them in English, without colors
//! or the `* `/`! ` marks, as a [`Reply`]. Every action is logged at info with
//! who did it (the operator's nickname, or `ctl`); text users typed stays at
//! debug, as everywhere else.
//!
//! An answer about a change to the bans or mutes waits until the change is on
//! disk (a [`Pending`] answer; [`Hub::saves_settled`] sends it once the file
//! is written): so it can say truthfully that the change is in force but not
//! saved, when the file cannot be written. The hub itself never waits for the
//! disk.

use async_channel::Sender;

use crate::bans::{Change, SAVE_RETRY};
use crate::command::{
    self, Args, Command, Id, Input, ModerationCommand, RoomCommand, ServerCommand, SessionCommand,
};
use crate::config::Language;
use crate::nick::nick_key;
use crate::protocol::sanitize;
use crate::reply::Reply;
use crate::text::{LeaveReason, Texts};
use crate::{debug, info};

use super::{ClientId, Hub, block};

/// Who gives a moderation command.
#[derive(Clone, Copy)]
pub(super) enum Caller<'a> {
    /// An operator in the room.
    Op {
        /// The operator's connection.
        id: ClientId,
        /// The operator's nickname.
        nick: &'a str,
    },
    /// `chatd ctl`, over the control socket.
    ControlSocket,
}

impl Caller<'_> {
    /// The nickname people are told did it; None for the control socket.
    pub(super) fn by(&self) -> Option<&str> {
        match self {
            Caller::Op { nick, .. } => Some(nick),
            Caller::ControlSocket => None,
        }
    }

    /// Who did it, for the log and the ban and mute files.
    pub(super) fn name(&self) -> &str {
        self.by().unwrap_or("ctl")
    }
}

/// What a command that was carried out answers: its lines, and the change to
/// the bans or mutes the answer waits for, if it made one.
pub(super) struct Said {
    pub(super) text: String,
    pub(super) change: Option<Change>,
}

impl From<String> for Said {
    fn from(text: String) -> Said {
        Said { text, change: None }
    }
}

/// A command's answer: what it says when carried out, or the refusal.
pub(super) type Outcome = Result<Said, String>;

/// Where an answer goes.
pub(super) enum AnswerTo {
    /// An operator in the room.
    Op(ClientId),
    /// The control socket's waiting client.
    ControlSocket(Sender<Reply>),
}

/// An answer that waits for its change to reach the disk.
pub(super) struct Pending {
    change: Change,
    to: AnswerTo,
    /// The voice it is said in (the caller's).
    texts: Texts,
    /// What it says once the change is saved.
    text: String,
}

/// The control socket's voice: English, no colors.
pub(super) const CTL_TEXTS: Texts = Texts {
    language: Language::En,
    colors: false,
};

/// Protocol lines as the control socket shows them: `\n` line ends, without
/// the `* ` and `! ` marks meant for chat clients.
fn for_ctl(lines: &str) -> String {
    lines
        .split_terminator("\r\n")
        .map(|line| {
            let line = line
                .strip_prefix("* ")
                .or_else(|| line.strip_prefix("! "))
                .unwrap_or(line);
            format!("{line}\n")
        })
        .collect()
}

/// The refusal of a command the table does not let `chatd ctl` send.
fn not_for_ctl(command: &Command) -> String {
    format!(
        "! /{} is for users in the room, not for chatd ctl\r\n",
        command.name
    )
}

/// `ctl help`: the commands the control socket takes, in English, from the
/// table (`chatd ctl --help` prints the same list, see [`crate::cli`]).
fn ctl_help() -> String {
    command::ctl_commands()
        .map(|(usage, help)| format!("{usage:<32} {help}\r\n"))
        .collect()
}

impl Hub {
    /// Answers a control-socket request ([`super::Event::ControlRequest`]),
    /// exactly once: now, or once the change it made is on disk.
    pub(super) fn control_request(&mut self, line: &str, reply: Sender<Reply>) {
        let outcome = match command::parse_control(line) {
            Input::Command(command, args) if command.ctl => self.run_ctl(command, args),
            Input::Command(command, _) => Err(not_for_ctl(command)),
            Input::Usage(command) => Err(format!(
                "! usage: {} {}\r\n",
                command.name, command.usage.en
            )),
            Input::Unknown(name) => Err(format!(
                "! unknown command {:?}: `chatd ctl help` lists them\r\n",
                sanitize(name)
            )),
            // parse_control never gives chat.
            Input::Chat(_) => Err(String::new()),
        };
        self.answer(AnswerTo::ControlSocket(reply), CTL_TEXTS, outcome);
    }

    /// Runs a command the table lets `chatd ctl` send: the moderation and
    /// server groups, and the three commands the control socket answers its
    /// own way.
    fn run_ctl(&mut self, command: &Command, args: Args<'_>) -> Outcome {
        let outcome = match command.id {
            Id::Moderation(which) => self.moderate(Caller::ControlSocket, command, which, args),
            Id::Server(which) => self.run_server(which, args).map(Said::from),
            Id::Session(SessionCommand::Help) => Ok(ctl_help().into()),
            Id::Room(RoomCommand::Who) => Ok(self.who_table().into()),
            Id::Room(RoomCommand::Rooms) => Ok(self.rooms_list(CTL_TEXTS).into()),
            // The rest of these groups is for users in the room; a test
            // checks that the table marks none of it `ctl`.
            Id::Session(_) | Id::Talk(_) | Id::Room(_) | Id::Comfort(_) => {
                Err(not_for_ctl(command))
            }
        };
        if outcome.is_ok() {
            self.counts.acted(command.id);
        }
        outcome
    }

    /// Runs a moderation command for an operator in the room.
    pub(super) fn moderate_in_room(
        &mut self,
        id: ClientId,
        nick: &str,
        command: &Command,
        which: ModerationCommand,
        args: Args<'_>,
    ) {
        let outcome = self.moderate(Caller::Op { id, nick }, command, which, args);
        if outcome.is_ok() {
            self.counts.acted(Id::Moderation(which));
        }
        self.answer(AnswerTo::Op(id), self.texts, outcome);
    }

    /// Sends `outcome` to `to`: now, or (for a change to the bans or mutes
    /// not yet on disk) once its file is written.
    fn answer(&mut self, to: AnswerTo, texts: Texts, outcome: Outcome) {
        match outcome {
            Err(text) => self.deliver(to, false, text),
            Ok(Said { text, change: None }) => self.deliver(to, true, text),
            Ok(Said {
                text,
                change: Some(change),
            }) => {
                let pending = Pending {
                    change,
                    to,
                    texts,
                    text,
                };
                match self.bans.outcome(change) {
                    Some(saved) => self.settle(pending, saved),
                    None => self.pending.push(pending),
                }
            }
        }
    }

    /// The answers whose changes have reached the disk (or failed to) go out;
    /// the others wait on. Called when a saver has written a file.
    pub(super) fn saves_settled(&mut self) {
        for pending in std::mem::take(&mut self.pending) {
            match self.bans.outcome(pending.change) {
                Some(saved) => self.settle(pending, saved),
                None => self.pending.push(pending),
            }
        }
    }

    /// Answers `pending` now that its change is saved, or could not be: then
    /// the answer says so, as a refusal (`chatd ctl` exits 1).
    fn settle(&mut self, pending: Pending, saved: Result<(), String>) {
        let Pending {
            change,
            to,
            texts,
            mut text,
        } = pending;
        match saved {
            Ok(()) => self.deliver(to, true, text),
            Err(why) => {
                let kind = change.kind();
                let path = self
                    .bans
                    .path(kind)
                    .map(|p| p.display().to_string())
                    .unwrap_or_default();
                let ban = kind == crate::bans::Kind::Ban;
                text += &texts.not_saved(ban, &path, &why, SAVE_RETRY.as_secs());
                self.deliver(to, false, text);
            }
        }
    }

    /// Sends an answer: protocol lines to an operator, or a [`Reply`] to the
    /// control socket (`done`: carried out, else refused).
    fn deliver(&mut self, to: AnswerTo, done: bool, text: String) {
        match to {
            AnswerTo::Op(id) => {
                if !text.is_empty() {
                    self.send(id, block(text));
                }
            }
            AnswerTo::ControlSocket(reply) => {
                let reply_to = if done {
                    Reply::Done(for_ctl(&text))
                } else {
                    Reply::Refused(for_ctl(&text))
                };
                // The ctl client may have gone; then nobody is waiting for the answer.
                let _ = reply.try_send(reply_to);
            }
        }
    }

    pub(super) fn texts_of(&self, caller: Caller<'_>) -> Texts {
        match caller {
            Caller::Op { .. } => self.texts,
            Caller::ControlSocket => CTL_TEXTS,
        }
    }

    /// Carries out a moderation command, for an operator or the control socket.
    fn moderate(
        &mut self,
        caller: Caller<'_>,
        command: &Command,
        which: ModerationCommand,
        args: Args<'_>,
    ) -> Outcome {
        use crate::bans::Kind;
        match which {
            ModerationCommand::Kick => self.kick(caller, args.word, args.rest).map(Said::from),
            ModerationCommand::Ban => self.sanction(caller, Kind::Ban, command, args),
            ModerationCommand::Unban => self.lift(caller, Kind::Ban, args.rest),
            ModerationCommand::Mute => self.sanction(caller, Kind::Mute, command, args),
            ModerationCommand::Unmute => self.lift(caller, Kind::Mute, args.rest),
            ModerationCommand::Bans => Ok(self.entry_table(Kind::Ban).into()),
            ModerationCommand::Mutes => Ok(self.entry_table(Kind::Mute).into()),
            ModerationCommand::Keep => self.keep(caller, args.rest).map(Said::from),
            ModerationCommand::Unkeep => self.unkeep(caller, args.rest).map(Said::from),
            ModerationCommand::Purge => {
                let key = nick_key(args.rest);
                let mut count = 0;
                for (_, room) in self.rooms.iter_mut() {
                    let before = room.history.len();
                    room.history.retain(|entry| entry.author_key != key);
                    count += before - room.history.len();
                }
                // The files too: after a restart the lines are gone.
                self.rewrite_histories();
                info!(
                    "purged {count} lines by {:?} from the history, by {}",
                    args.rest,
                    caller.name()
                );
                Ok(self
                    .texts_of(caller)
                    .purged(&sanitize(args.rest), count)
                    .into())
            }
        }
    }

    /// Carries out a server command (the control socket's own).
    fn run_server(&mut self, which: ServerCommand, args: Args<'_>) -> Result<String, String> {
        match which {
            ServerCommand::Op => self.set_op(args.rest, true),
            ServerCommand::Deop => self.set_op(args.rest, false),
            ServerCommand::Say => {
                let text = sanitize(args.rest);
                info!("server notice sent by {}", Caller::ControlSocket.name());
                debug!("server notice: {text}");
                let msg = block(self.texts.server_notice(&text));
                self.broadcast_everywhere(&msg);
                Ok(String::new())
            }
            ServerCommand::Stats => Ok(format!("{}\r\n", self.health())),
            ServerCommand::Reload | ServerCommand::Upgrade => {
                Err("! this is answered by the server itself\r\n".to_owned())
            }
            // The control socket asks with `Event::Metrics` and writes the text itself.
            ServerCommand::Metrics => {
                Err("! metrics are answered by the control socket itself\r\n".to_owned())
            }
        }
    }

    /// The member called `nick`, or the refusal that names it.
    pub(super) fn target(&self, caller: Caller<'_>, nick: &str) -> Result<ClientId, String> {
        let texts = self.texts_of(caller);
        let id = self
            .members
            .find(nick)
            .ok_or_else(|| texts.no_such_user(&sanitize(nick)))?;
        if matches!(caller, Caller::Op { id: own, .. } if own == id) {
            return Err(texts.not_yourself());
        }
        Ok(id)
    }

    /// Whether `caller` is an operator who is muted: then the reasons they
    /// give (their own words, which the room or the user would read) are not
    /// said, though their kicks, bans and mutes still work.
    pub(super) fn caller_muted(&self, caller: Caller<'_>) -> bool {
        matches!(caller, Caller::Op { id, .. } if self.is_muted(id))
    }

    fn kick(&mut self, caller: Caller<'_>, nick: &str, reason: &str) -> Result<String, String> {
        let id = self.target(caller, nick)?;
        let reason = if self.caller_muted(caller) {
            ""
        } else {
            reason
        };
        let reason = sanitize(reason).trim().to_owned();
        let reason = (!reason.is_empty()).then_some(reason);
        let notice = self.texts.kicked_you(caller.by(), reason.as_deref());
        self.send(id, block(notice));
        let by = caller.by().map(str::to_owned);
        let name = self.members.nick_of(id).to_owned();
        let reason = LeaveReason::Kicked { by, reason };
        let room = self.room_of(id);
        self.remove(id, reason.clone());
        Ok(match caller {
            // An operator in the same room hears it with the room.
            Caller::Op { id: op, .. } if self.room_of(op) == room => String::new(),
            // A kick is told without counts.
            Caller::Op { .. } => self.texts.left(&name, &reason, 0, 0),
            Caller::ControlSocket => format!("kicked {}\r\n", sanitize(nick)),
        })
    }

    /// `op` and `deop`, over the control socket only.
    fn set_op(&mut self, nick: &str, op: bool) -> Result<String, String> {
        let id = self.target(Caller::ControlSocket, nick)?;
        let Some(member) = self.members.get_mut(id) else {
            return Err(String::new());
        };
        member.op = op;
        let name = member.nick.clone().unwrap_or_default();
        let verb = if op {
            "made an operator"
        } else {
            "no longer an operator"
        };
        info!("{name:?} from {} {verb}, by ctl", member.peer);
        let notice = if op {
            self.texts.opped_you()
        } else {
            self.texts.deopped_you()
        };
        self.send(id, block(notice));
        Ok(CTL_TEXTS.op_changed(&name, op))
    }
}
