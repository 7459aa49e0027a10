//! Moderation and the control socket: the moderation group (kick, ban, unban,
//! mute, unmute, purge), which operators use in the room and `chatd ctl` over
//! the control socket, and the control socket's requests
//! ([`Hub::control_request`]): the moderation group, the server group (op,
//! deop, say, bans, stats; reload is answered by the server, metrics by the
//! control socket from `Event::Metrics`), and its own answers to `who`,
//! `rooms` and `help`. Each action carried out is counted for the metrics.
//!
//! A command runs the same way for both callers ([`Caller`]) and answers with
//! protocol lines: an operator in the room gets them as they are, in the
//! room's language; the control socket gets them in English, without colors
//! or the `* `/`! ` marks, as a [`Reply`]. Every action is logged at info with
//! who did it (the operator's nickname, or `ctl`); text users typed stays at
//! debug, as everywhere else.
//!
//! The bans themselves live in [`crate::bans::Bans`], which the hub owns and
//! which saves each change without making the hub wait for the disk.

use std::net::IpAddr;
use std::time::{Duration, Instant, SystemTime};

use async_channel::Sender;

use crate::bans::{self, Ban, IpNet, MAX_BANS};
use crate::command::{
    self, Args, COMMANDS, Command, Id, Input, ModerationCommand, RoomCommand, ServerCommand,
    SessionCommand,
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
    fn by(&self) -> Option<&str> {
        match self {
            Caller::Op { nick, .. } => Some(nick),
            Caller::ControlSocket => None,
        }
    }

    /// Who did it, for the log and the ban file.
    fn name(&self) -> &str {
        self.by().unwrap_or("ctl")
    }
}

/// A command's answer: lines for the caller, and whether it was carried out.
type Outcome = Result<String, String>;

/// The control socket's voice: English, no colors.
const CTL_TEXTS: Texts = Texts {
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

/// "2026-12-03T10:00:00Z" for a ban's end; None when permanent.
fn until_text(ban: &Ban) -> Option<String> {
    ban.until.map(bans::format_time)
}

/// The refusal of a command the table does not let `chatd ctl` send.
fn not_for_ctl(command: &Command) -> String {
    format!(
        "! /{} is for users in the room, not for chatd ctl\r\n",
        command.name
    )
}

/// `ctl help`: the commands the control socket takes, in English.
fn ctl_help() -> String {
    COMMANDS
        .iter()
        .filter(|c| c.ctl)
        .map(|c| {
            format!(
                "{:<32} {}\r\n",
                format!("{} {}", c.name, c.usage.en),
                c.help.en
            )
        })
        .collect()
}

impl Hub {
    /// Answers a control-socket request ([`super::Event::ControlRequest`]),
    /// exactly once.
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
        let reply_to = match outcome {
            Ok(text) => Reply::Done(for_ctl(&text)),
            Err(text) => Reply::Refused(for_ctl(&text)),
        };
        // The ctl client may have gone; then nobody is waiting for the answer.
        let _ = reply.try_send(reply_to);
    }

    /// Runs a command the table lets `chatd ctl` send: the moderation and
    /// server groups, and the three commands the control socket answers its
    /// own way.
    fn run_ctl(&mut self, command: &Command, args: Args<'_>) -> Outcome {
        let outcome = match command.id {
            Id::Moderation(which) => self.moderate(Caller::ControlSocket, which, args),
            Id::Server(which) => self.run_server(which, args),
            Id::Session(SessionCommand::Help) => Ok(ctl_help()),
            Id::Room(RoomCommand::Who) => Ok(self.who_table()),
            Id::Room(RoomCommand::Rooms) => Ok(self.rooms_list(CTL_TEXTS)),
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
        which: ModerationCommand,
        args: Args<'_>,
    ) {
        let outcome = self.moderate(Caller::Op { id, nick }, which, args);
        if outcome.is_ok() {
            self.counts.acted(Id::Moderation(which));
        }
        let text = match outcome {
            Ok(text) | Err(text) => text,
        };
        if !text.is_empty() {
            self.send(id, block(text));
        }
    }

    fn texts_of(&self, caller: Caller<'_>) -> Texts {
        match caller {
            Caller::Op { .. } => self.texts,
            Caller::ControlSocket => CTL_TEXTS,
        }
    }

    /// Carries out a moderation command, for an operator or the control socket.
    fn moderate(
        &mut self,
        caller: Caller<'_>,
        which: ModerationCommand,
        args: Args<'_>,
    ) -> Outcome {
        match which {
            ModerationCommand::Kick => self.kick(caller, args.word, args.rest),
            ModerationCommand::Ban => self.ban(caller, args.word, args.rest),
            ModerationCommand::Unban => self.unban(caller, args.rest),
            ModerationCommand::Mute => self.mute(caller, args.word, args.rest),
            ModerationCommand::Unmute => self.unmute(caller, args.rest),
            ModerationCommand::Purge => {
                let key = nick_key(args.rest);
                let mut count = 0;
                for (_, room) in self.rooms.iter_mut() {
                    let before = room.history.len();
                    room.history.retain(|entry| entry.author_key != key);
                    count += before - room.history.len();
                }
                info!(
                    "purged {count} lines by {:?} from the history, by {}",
                    args.rest,
                    caller.name()
                );
                Ok(self.texts_of(caller).purged(&sanitize(args.rest), count))
            }
        }
    }

    /// Carries out a server command (the control socket's own).
    fn run_server(&mut self, which: ServerCommand, args: Args<'_>) -> Outcome {
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
            ServerCommand::Bans => Ok(self.ban_table()),
            ServerCommand::Stats => Ok(format!("{}\r\n", self.health())),
            ServerCommand::Reload => {
                Err("! reload is answered by the server itself\r\n".to_owned())
            }
            // The control socket asks with `Event::Metrics` and writes the text itself.
            ServerCommand::Metrics => {
                Err("! metrics are answered by the control socket itself\r\n".to_owned())
            }
        }
    }

    /// The member called `nick`, or the refusal that names it.
    fn target(&self, caller: Caller<'_>, nick: &str) -> Result<ClientId, String> {
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

    fn kick(&mut self, caller: Caller<'_>, nick: &str, reason: &str) -> Outcome {
        let id = self.target(caller, nick)?;
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
            Caller::Op { .. } => self.texts.left(&name, &reason, 0),
            Caller::ControlSocket => format!("kicked {}\r\n", sanitize(nick)),
        })
    }

    fn ban(&mut self, caller: Caller<'_>, target: &str, rest: &str) -> Outcome {
        let texts = self.texts_of(caller);
        let net = self.ban_target(caller, target)?;
        if let Caller::Op { id, .. } = caller
            && self
                .members
                .get(id)
                .is_some_and(|m| net.contains(m.peer.ip()))
        {
            return Err(texts.not_yourself());
        }
        // A first word that starts with a digit is meant as the duration.
        let (word, after) = rest.split_once(' ').unwrap_or((rest, ""));
        let (duration, reason) = if word.starts_with(|c: char| c.is_ascii_digit()) {
            let duration = bans::parse_duration(word).map_err(|e| texts.refused(&e))?;
            (Some(duration), after.trim())
        } else {
            (None, rest)
        };
        let reason = sanitize(reason).trim().to_owned();
        let now = SystemTime::now();
        if self.bans.list().len() >= MAX_BANS && self.bans.list().find(net.addr(), now).is_none() {
            return Err(texts.refused(&format!(
                "too many bans (at most {MAX_BANS}); lift some first"
            )));
        }
        let ban = Ban {
            net,
            until: duration.map(|d| now + d),
            reason: reason.clone(),
            by: caller.name().to_owned(),
            since: now,
        };
        let until = until_text(&ban);
        self.bans.add(ban);
        // Everyone connected from the range goes, each told why.
        let matching: Vec<ClientId> = self
            .members
            .iter()
            .filter(|(_, m)| net.contains(m.peer.ip()))
            .map(|(id, _)| id)
            .collect();
        for &id in &matching {
            self.send(id, block(self.texts.banned_you(until.as_deref(), &reason)));
            let by = caller.by().map(str::to_owned);
            let reason = (!reason.is_empty()).then(|| reason.clone());
            self.remove(id, LeaveReason::Banned { by, reason });
        }
        info!(
            "banned {net} until {} by {} ({} disconnected)",
            until.as_deref().unwrap_or("never"),
            caller.name(),
            matching.len()
        );
        debug!("ban reason: {reason}");
        Ok(texts.banned(&net.to_string(), until.as_deref(), matching.len()))
    }

    /// What `ban TARGET` bans: an address or range as written, or the address
    /// of the connected user of that name.
    fn ban_target(&self, caller: Caller<'_>, target: &str) -> Result<IpNet, String> {
        let texts = self.texts_of(caller);
        match target.parse::<IpNet>() {
            Ok(net) => Ok(net),
            // Written like an address or range: say what is wrong with it.
            Err(err)
                if target.contains(['/', ':'])
                    || target.chars().all(|c| c.is_ascii_digit() || c == '.') =>
            {
                Err(texts.refused(&err))
            }
            Err(_) => {
                let id = self.target(caller, target)?;
                let ip: IpAddr = self
                    .members
                    .get(id)
                    .map(|m| m.peer.ip())
                    .ok_or_else(String::new)?;
                Ok(IpNet::host(ip))
            }
        }
    }

    fn unban(&mut self, caller: Caller<'_>, target: &str) -> Outcome {
        let texts = self.texts_of(caller);
        let net: IpNet = target.parse().map_err(|e: String| texts.refused(&e))?;
        if !self.bans.remove(&net) {
            return Err(texts.no_ban(&net.to_string()));
        }
        info!("ban on {net} lifted by {}", caller.name());
        Ok(texts.unbanned(&net.to_string()))
    }

    fn mute(&mut self, caller: Caller<'_>, nick: &str, duration: &str) -> Outcome {
        let texts = self.texts_of(caller);
        let id = self.target(caller, nick)?;
        let duration = match duration {
            "" => None,
            text => Some(bans::parse_duration(text).map_err(|e| texts.refused(&e))?),
        };
        let left = duration.map(bans::format_duration);
        let Some(member) = self.members.get_mut(id) else {
            return Err(String::new());
        };
        member.muted = Some(duration.map(|d| Instant::now() + d));
        let name = member.nick.clone().unwrap_or_default();
        info!(
            "muted {name:?} from {} for {} by {}",
            member.peer,
            left.as_deref().unwrap_or("good"),
            caller.name()
        );
        self.send(id, block(self.texts.muted_you(left.as_deref())));
        Ok(texts.muted(&name, left.as_deref()))
    }

    fn unmute(&mut self, caller: Caller<'_>, nick: &str) -> Outcome {
        let texts = self.texts_of(caller);
        let id = self.target(caller, nick)?;
        let now = Instant::now();
        let Some(member) = self.members.get_mut(id) else {
            return Err(String::new());
        };
        let name = member.nick.clone().unwrap_or_default();
        if !member.is_muted(now) {
            return Err(texts.not_muted(&name));
        }
        member.muted = None;
        info!("unmuted {name:?} from {} by {}", member.peer, caller.name());
        self.send(id, block(self.texts.unmuted_you()));
        Ok(texts.unmuted(&name))
    }

    /// `op` and `deop`, over the control socket only.
    fn set_op(&mut self, nick: &str, op: bool) -> Outcome {
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

    /// Whether `id` is muted; if so it has been told, instead of being heard.
    pub(super) fn silenced(&mut self, id: ClientId) -> bool {
        match self.muted_notice(id) {
            Some(notice) => {
                self.send(id, block(notice));
                true
            }
            None => false,
        }
    }

    /// How long `id` is still muted, when it is: what it is told instead of
    /// being heard.
    fn muted_notice(&self, id: ClientId) -> Option<String> {
        let now = Instant::now();
        let member = self.members.get(id).filter(|m| m.is_muted(now))?;
        let left = match member.muted {
            Some(Some(until)) => Some(bans::format_duration(round_up(until - now))),
            _ => None,
        };
        Some(self.texts.muted_you(left.as_deref()))
    }

    /// Turns away a new connection from a banned address, with one line saying
    /// why and until when. Returns whether it did.
    pub(super) fn refuse_if_banned(
        &mut self,
        peer: std::net::SocketAddr,
        outbox: &crate::outbox::Outbox,
    ) -> bool {
        let Some(ban) = self.bans.list().find(peer.ip(), SystemTime::now()) else {
            return false;
        };
        let until = until_text(ban);
        info!(
            "rejected {peer}: banned ({} until {})",
            ban.net,
            until.as_deref().unwrap_or("never")
        );
        outbox.push_final(block(self.texts.banned_you(until.as_deref(), &ban.reason)));
        outbox.close();
        self.shared.rejected(super::Rejection::Banned);
        true
    }

    /// Drops bans whose time is up (from the tick).
    pub(super) fn expire_bans(&mut self) {
        for ban in self.bans.expire(SystemTime::now()) {
            info!("ban on {} expired", ban.net);
        }
    }

    /// `ctl who`: every connection, one line each, under a header.
    fn who_table(&self) -> String {
        let now = Instant::now();
        let mut rows = vec![[
            "NICK".to_owned(),
            "ADDRESS".to_owned(),
            "ROOM".to_owned(),
            "CONNECTED".to_owned(),
            "IDLE".to_owned(),
            "QUEUED".to_owned(),
            "FLAGS".to_owned(),
        ]];
        let mut members: Vec<_> = self.members.iter().collect();
        members.sort_by_key(|(id, _)| *id);
        for (_, m) in members {
            let mut flags = Vec::new();
            if m.op {
                flags.push("op");
            }
            if m.is_muted(now) {
                flags.push("muted");
            }
            rows.push([
                m.nick.as_deref().unwrap_or("-").to_owned(),
                m.peer.to_string(),
                if m.nick.is_some() {
                    self.ctl_room_name(m.room)
                } else {
                    "-".to_owned() // in no room until signed in
                },
                bans::format_duration(whole_seconds(now - m.since)),
                bans::format_duration(whole_seconds(now - m.last_input)),
                m.outbox.queued().to_string(),
                if flags.is_empty() {
                    "-".to_owned()
                } else {
                    flags.join(",")
                },
            ]);
        }
        table(&rows)
    }

    /// `ctl bans`: every ban in force, or a line saying there are none.
    fn ban_table(&self) -> String {
        let now = SystemTime::now();
        let mut out = String::new();
        for ban in self.bans.list().iter().filter(|b| b.is_active(now)) {
            let until = until_text(ban).unwrap_or_else(|| "never".to_owned());
            out.push_str(&format!(
                "{} until={until} by={} since={} reason={}\r\n",
                ban.net,
                ban.by,
                bans::format_time(ban.since),
                ban.reason
            ));
        }
        if out.is_empty() {
            out.push_str("no bans\r\n");
        }
        out
    }
}

/// Rows padded into columns.
fn table<const N: usize>(rows: &[[String; N]]) -> String {
    let mut widths = [0; N];
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in rows {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i + 1 < N {
                line.push_str(&format!("{cell:<width$}  ", width = widths[i]));
            } else {
                line.push_str(cell);
            }
        }
        out.push_str(line.trim_end());
        out.push_str("\r\n");
    }
    out
}

fn whole_seconds(d: Duration) -> Duration {
    Duration::from_secs(d.as_secs())
}

/// A mute's time left, rounded up to the second, so it never shows as `0s`.
fn round_up(d: Duration) -> Duration {
    Duration::from_secs(d.as_secs() + u64::from(d.subsec_nanos() > 0))
}
