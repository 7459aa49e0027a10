//! Bans and mutes, which bind to addresses: `ban` and `mute TARGET [DURATION]
//! [REASON]` (a nickname, whose address is taken; an address; a CIDR range),
//! `unban` and `unmute`, the lists (`bans`, `mutes`, and `ctl who`'s table),
//! what a ban does to a connection and what a mute keeps from the room, and
//! their expiry. The lists themselves are [`crate::bans::Bans`], which the hub
//! owns and which saves each change without making the hub wait for the disk.
//!
//! A mute binds to the address, as a ban does: a reconnect, a new nickname or
//! a second connection from it stays muted until the mute ends. While muted,
//! nothing the user chooses reaches anyone: chat, and the commands the
//! table marks `muted: Silenced` or `Refused` (`/me`, `/msg`, `/reply`,
//! `/away`, `/nick`), are refused with a notice, as are making a room and setting a topic; a quit reason and the
//! text after `#` at sign-in are not said; joins, leaves and moves from a
//! muted address are not announced (the nickname is theirs to choose); an away
//! message set before the mute is cleared; and a muted operator's reasons for
//! a kick, ban or mute are left out.

use std::net::IpAddr;
use std::time::{Duration, Instant, SystemTime};

use crate::bans::{self, Entry, IpNet, Kind, MAX_ENTRIES};
use crate::command::{Args, Command};
use crate::protocol::sanitize;
use crate::text::{LeaveReason, MutedFrom};
use crate::{debug, info};

use super::moderation::{Caller, Outcome, Said};
use super::{ClientId, Hub, block};

/// What a `ban` or `mute` TARGET names: an address or range, and the
/// nickname of the user it was found by, when it was a nickname.
struct Target {
    net: IpNet,
    nick: Option<String>,
}

/// Whether `target` is written like an address or range rather than a
/// nickname, so that an error in it is told as such.
fn looks_like_address(target: &str) -> bool {
    target.contains(['/', ':']) || target.chars().all(|c| c.is_ascii_digit() || c == '.')
}

/// "2026-12-03T10:00:00Z" for an entry's end; None when permanent.
fn until_text(entry: &Entry) -> Option<String> {
    entry.until.map(bans::format_time)
}

impl Hub {
    /// `ban` or `mute`: adds the entry and applies it to everyone connected
    /// from the range (a ban closes them, a mute tells them).
    pub(super) fn sanction(
        &mut self,
        caller: Caller<'_>,
        kind: Kind,
        command: &Command,
        args: Args<'_>,
    ) -> Outcome {
        let texts = self.texts_of(caller);
        let target = self.address_target(caller, args.word)?;
        self.spares_the_caller(caller, kind, &target)?;
        let (duration, reason) = bans::split_duration(args.rest).map_err(|why| match caller {
            Caller::Op { .. } => texts.usage_hint(&why, command),
            Caller::ControlSocket => {
                format!("! {why} (usage: {} {})\r\n", command.name, command.usage.en)
            }
        })?;
        let reason = if self.caller_muted(caller) {
            ""
        } else {
            reason
        };
        let reason = sanitize(reason).trim().to_owned();
        let net = target.net;
        let list = self.bans.list(kind);
        if list.len() >= MAX_ENTRIES && !list.iter().any(|entry| entry.net == net) {
            return Err(texts.refused(&format!(
                "too many {}s (at most {MAX_ENTRIES}); lift some first",
                kind.noun()
            )));
        }
        let now = SystemTime::now();
        let entry = Entry {
            net,
            until: duration.map(|d| now + d),
            reason: reason.clone(),
            by: caller.name().to_owned(),
            since: now,
        };
        let until = until_text(&entry);
        let change = self.bans.add(kind, entry);
        let matching: Vec<ClientId> = self
            .members
            .iter()
            .filter(|(_, m)| net.contains(m.peer.ip()))
            .map(|(id, _)| id)
            .collect();
        let text = match kind {
            Kind::Ban => {
                // Everyone connected from the range goes, each told why.
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
                texts.banned(&net.to_string(), until.as_deref(), matching.len())
            }
            Kind::Mute => {
                let left = duration.map(bans::format_duration);
                for &id in &matching {
                    // An away message set before is words the room would still see.
                    if let Some(member) = self.members.get_mut(id) {
                        member.own_away_taken();
                    }
                    self.send(id, block(self.texts.muted_you(left.as_deref())));
                }
                info!(
                    "muted {net} for {} by {} ({} connected)",
                    left.as_deref().unwrap_or("good"),
                    caller.name(),
                    matching.len()
                );
                let nick = target.nick.as_deref().map(|n| sanitize(n).into_owned());
                texts.muted(
                    &net.to_string(),
                    nick.as_deref(),
                    left.as_deref(),
                    matching.len(),
                )
            }
        };
        debug!("{} reason: {reason}", kind.noun());
        Ok(Said {
            text,
            change: Some(change),
        })
    }

    /// What `ban TARGET` or `mute TARGET` covers: an address or range as
    /// written, or the address of the connected user of that name.
    fn address_target(&self, caller: Caller<'_>, target: &str) -> Result<Target, String> {
        let texts = self.texts_of(caller);
        match target.parse::<IpNet>() {
            Ok(net) => Ok(Target { net, nick: None }),
            // Written like an address or range: say what is wrong with it.
            Err(err) if looks_like_address(target) => Err(texts.refused(&err)),
            Err(_) => {
                let id = self.target(caller, target)?;
                let member = self.members.get(id).ok_or_else(String::new)?;
                Ok(Target {
                    net: IpNet::host(member.peer.ip()),
                    nick: member.nick.as_deref().map(str::to_owned),
                })
            }
        }
    }

    /// Refuses a ban or mute that would hit the operator giving it: a user
    /// who shares the operator's address, or a range that covers it.
    fn spares_the_caller(
        &self,
        caller: Caller<'_>,
        kind: Kind,
        target: &Target,
    ) -> Result<(), String> {
        let Caller::Op { id, .. } = caller else {
            return Ok(());
        };
        let Some(own) = self.members.get(id).map(|m| m.peer.ip().to_canonical()) else {
            return Ok(());
        };
        if !target.net.contains(own) {
            return Ok(());
        }
        let texts = self.texts;
        Err(match &target.nick {
            Some(nick) => {
                texts.shares_your_address(&sanitize(nick), &own.to_string(), kind == Kind::Ban)
            }
            None => texts.covers_your_address(&target.net.to_string(), &own.to_string()),
        })
    }

    /// `unban` or `unmute TARGET`: an address or range exactly as banned or
    /// muted; for `unmute`, also a connected user's nickname (their address).
    pub(super) fn lift(&mut self, caller: Caller<'_>, kind: Kind, target: &str) -> Outcome {
        let texts = self.texts_of(caller);
        let user = (kind == Kind::Mute)
            .then(|| self.members.find(target))
            .flatten()
            .and_then(|id| self.members.get(id));
        let target = match (target.parse::<IpNet>(), user) {
            (Ok(net), _) => Target { net, nick: None },
            (Err(_), Some(member)) => Target {
                net: IpNet::host(member.peer.ip()),
                nick: member.nick.as_deref().map(str::to_owned),
            },
            (Err(_), None) if kind == Kind::Mute && !looks_like_address(target) => {
                return Err(texts.no_such_user(&sanitize(target)));
            }
            (Err(err), None) => return Err(texts.refused(&err)),
        };
        let net = target.net;
        let nick = target.nick.as_deref().map(|n| sanitize(n).into_owned());
        let Some(change) = self.bans.remove(kind, &net) else {
            // Not on exactly this; maybe covered by a wider range, which is
            // what would have to be lifted.
            let wider = net
                .is_host()
                .then(|| self.bans.list(kind).find(net.addr(), SystemTime::now()))
                .flatten()
                .map(|entry| entry.net.to_string());
            let named = nick.clone().unwrap_or_else(|| net.to_string());
            return Err(match (kind, wider) {
                (Kind::Ban, Some(wider)) => texts.banned_by_range(&named, &wider),
                (Kind::Ban, None) => texts.no_ban(&named),
                (Kind::Mute, Some(wider)) => texts.muted_by_range(&named, &wider),
                (Kind::Mute, None) => texts.not_muted(&named),
            });
        };
        info!("{} on {net} lifted by {}", kind.noun(), caller.name());
        let text = match kind {
            Kind::Ban => texts.unbanned(&net.to_string()),
            Kind::Mute => {
                self.tell_unmuted(|ip| net.contains(ip));
                texts.unmuted(&net.to_string(), nick.as_deref())
            }
        };
        Ok(Said {
            text,
            change: Some(change),
        })
    }

    /// Tells each connection whose address `was_muted` and is muted no more
    /// that it is heard again.
    fn tell_unmuted(&mut self, was_muted: impl Fn(IpAddr) -> bool) {
        let now = SystemTime::now();
        let mutes = self.bans.list(Kind::Mute);
        let freed: Vec<ClientId> = self
            .members
            .iter()
            .filter(|(_, m)| was_muted(m.peer.ip()) && mutes.find(m.peer.ip(), now).is_none())
            .map(|(id, _)| id)
            .collect();
        for id in freed {
            self.send(id, block(self.texts.unmuted_you()));
        }
    }

    /// The mute in force on `id`'s address, if any.
    pub(super) fn mute_of(&self, id: ClientId) -> Option<&Entry> {
        let mutes = self.bans.list(Kind::Mute);
        // Every line asks; without mutes that costs one comparison.
        if mutes.is_empty() {
            return None;
        }
        let member = self.members.get(id)?;
        mutes.find(member.peer.ip(), SystemTime::now())
    }

    /// Whether `id` is muted now.
    pub(super) fn is_muted(&self, id: ClientId) -> bool {
        self.mute_of(id).is_some()
    }

    /// How long `id`'s mute still lasts, as answers show it (rounded up to
    /// the second, so it never shows as `0s`); None for a mute for good.
    fn mute_left(&self, id: ClientId) -> Option<String> {
        let remaining = self.mute_of(id)?.remaining(SystemTime::now())?;
        Some(bans::format_duration(round_up(remaining)))
    }

    /// Whether `id` is muted; if so it has been told that nobody hears what it
    /// says, instead of being heard.
    pub(super) fn silenced(&mut self, id: ClientId) -> bool {
        if !self.is_muted(id) {
            return false;
        }
        let notice = self.texts.muted_you(self.mute_left(id).as_deref());
        self.send(id, block(notice));
        true
    }

    /// Whether `id` is muted; if so it has been told it cannot do `what`.
    pub(super) fn muted_from(&mut self, id: ClientId, what: MutedFrom<'_>) -> bool {
        if !self.is_muted(id) {
            return false;
        }
        let notice = self.texts.muted_cannot(self.mute_left(id).as_deref(), what);
        self.send(id, block(notice));
        true
    }

    /// Turns away a new connection from a banned address, with one line saying
    /// why and until when. Returns whether it did.
    pub(super) fn refuse_if_banned(
        &mut self,
        peer: std::net::SocketAddr,
        outbox: &crate::outbox::Outbox,
    ) -> bool {
        let Some(ban) = self.bans.list(Kind::Ban).find(peer.ip(), SystemTime::now()) else {
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

    /// Drops bans and mutes whose time is up (from the tick); whoever a mute
    /// ended for is told.
    pub(super) fn expire_bans(&mut self) {
        let expired = self.bans.expire(SystemTime::now());
        let mut ended = Vec::new();
        for (kind, entry) in expired {
            info!("{} on {} expired", kind.noun(), entry.net);
            if kind == Kind::Mute {
                ended.push(entry.net);
            }
        }
        if !ended.is_empty() {
            self.tell_unmuted(|ip| ended.iter().any(|net| net.contains(ip)));
        }
    }

    /// `bans` or `mutes`: every entry in force, or a line saying there are
    /// none; notices in the room (`* `), plain lines for `chatd ctl`.
    pub(super) fn entry_table(&self, kind: Kind) -> String {
        let now = SystemTime::now();
        let mut out = String::new();
        for entry in self.bans.list(kind).iter().filter(|e| e.is_active(now)) {
            let until = until_text(entry).unwrap_or_else(|| "never".to_owned());
            out.push_str(&format!(
                "* {} until={until} by={} since={} reason={}\r\n",
                entry.net,
                // A hand-edited file may hold anything: shown, it is sanitized.
                sanitize(&entry.by),
                bans::format_time(entry.since),
                sanitize(&entry.reason)
            ));
        }
        if out.is_empty() {
            out.push_str(&format!("* no {}s\r\n", kind.noun()));
        }
        out
    }

    /// `ctl who`: every connection, one line each, under a header.
    pub(super) fn who_table(&self) -> String {
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
        for (id, m) in members {
            let mut flags = Vec::new();
            if m.op {
                flags.push("op");
            }
            if self.is_muted(id) {
                flags.push("muted");
            }
            if m.comfort().away.is_some() {
                flags.push("away");
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
}

/// Rows padded into columns by the width they take on a terminal, so that a
/// column of CJK names (two columns a character) stays straight.
fn table<const N: usize>(rows: &[[String; N]]) -> String {
    let width = crate::text::display_width;
    let mut widths = [0; N];
    for row in rows {
        for (column, cell) in widths.iter_mut().zip(row) {
            *column = (*column).max(width(cell));
        }
    }
    let mut out = String::new();
    for row in rows {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            line.push_str(cell);
            if i + 1 < N {
                let pad = widths[i] - width(cell) + 2;
                line.extend(std::iter::repeat_n(' ', pad));
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

/// A time left, rounded up to the second, so it never shows as `0s`.
fn round_up(d: Duration) -> Duration {
    Duration::from_secs(d.as_secs() + u64::from(d.subsec_nanos() > 0))
}

#[cfg(test)]
mod tests {
    use super::table;

    #[test]
    fn table_columns_line_up_by_display_width() {
        let rows = [
            ["NICK".to_owned(), "ADDRESS".to_owned()],
            ["王伟".to_owned(), "10.0.0.1:1".to_owned()],
            ["bob".to_owned(), "10.0.0.2:1".to_owned()],
        ];
        assert_eq!(
            table(&rows),
            "NICK  ADDRESS\r\n王伟  10.0.0.1:1\r\nbob   10.0.0.2:1\r\n"
        );
    }
}
