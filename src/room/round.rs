//! Delivery: how the room's lines reach outboxes.
//!
//! While events keep coming, the room handles a round of them before it
//! queues their broadcasts, and then queues them as one block per recipient: a
//! round of 100 joins in a room of 10,000 is 10,000 pushes, not a million. Each
//! recipient still gets exactly the lines it would have got one by one, in the
//! same order relative to what is sent to it alone: a line for one client
//! first catches that client up with the round ([`Room::send`]).
//!
//! Every push is a `try_push` into a bounded [`Outbox`], bounded by
//! `send_queue_hard_bytes`: a full one marks its client too slow (dropped after
//! the round), never makes the room wait. A push that leaves a queue over the
//! soft bound puts its client on the watch list that the tick checks (see
//! `backlog`).

use std::sync::Arc;
use std::time::Instant;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::debug;
use crate::outbox::{Block, PushError};

use super::backlog::{Backlog, Overflow, QueueBounds};
use super::channels::ChannelId;
use super::members::Member;
use super::members::{Comfort, IdMap};
use super::{ClientId, ROUND_BYTES, Room};
use crate::config::Config;
use crate::text::{marked, stamp, strip_colors};

/// Pushes blocks into outboxes and keeps count; who overflowed is collected in
/// `too_slow` and dropped at the end of the round.
#[derive(Default)]
pub(super) struct Fanout {
    pub(super) deliveries: u64,
    pub(super) peak_queue_bytes: usize,
    pub(super) too_slow: Vec<(ClientId, Overflow)>,
    /// Clients whose queue a push left over the soft bound, until the tick
    /// finds them back under it or drops them.
    pub(super) backlogs: IdMap<Backlog>,
}

impl Fanout {
    /// Queues `block`, which holds `lines` lines, for one client.
    fn push(
        &mut self,
        id: ClientId,
        member: &Member,
        block: Block,
        lines: u64,
        bounds: &QueueBounds,
    ) {
        match member.outbox.try_push(block, bounds.hard) {
            Ok(bytes) => {
                self.deliveries += lines;
                self.peak_queue_bytes = self.peak_queue_bytes.max(bytes);
                if bytes > bounds.soft && !self.backlogs.contains_key(&id) {
                    // Rare (once per time over the bound), so the clock and the
                    // outbox's lock are only paid for here.
                    let written = member.outbox.progress().written;
                    self.backlogs
                        .insert(id, Backlog::new(Instant::now(), written));
                    debug!(
                        "send queue of {} {:?} over {} bytes",
                        member.peer,
                        member.nick.as_deref().unwrap_or(""),
                        bounds.soft
                    );
                }
            }
            Err(PushError::Full) => self.too_slow.push((id, Overflow::Hard)),
            // The writer already gave up on this connection; the reader's
            // Disconnected event is on its way and will remove it.
            Err(PushError::Closed) => {}
        }
    }
}

/// One broadcast of the round.
struct Said {
    line: Block,
    /// The one signed-in member it is not for.
    except: Option<ClientId>,
    /// Who said it, for those who ignore them; None for the server's own lines.
    author: Option<ClientId>,
    /// The members it names: each gets it marked, with a bell.
    named: Vec<ClientId>,
    /// When it was said (Unix seconds), for timestamps.
    at: u64,
}

/// How lines are shown to one member who does not get the shared block.
#[derive(Clone, Copy)]
pub(super) struct View<'a> {
    id: ClientId,
    comfort: &'a Comfort,
    /// The server sends colors, and this member has not turned them off.
    colors: bool,
    offset: i32,
}

impl<'a> View<'a> {
    pub(super) fn of(id: ClientId, member: &'a Member, config: &Config) -> View<'a> {
        View {
            id,
            comfort: member.comfort(),
            colors: config.colors && !member.comfort().no_colors,
            offset: config.utc_offset_minutes,
        }
    }

    /// Appends `line` (said at `at`) to `out` as this member sees it.
    fn show(&self, line: &[u8], at: u64, now: u64, out: &mut Vec<u8>) {
        let stripped;
        let line = if self.comfort.no_colors {
            stripped = strip_colors(line);
            &stripped[..]
        } else {
            line
        };
        if !self.comfort.timestamps {
            out.extend_from_slice(line);
            return;
        }
        let prefix = stamp(at, now, self.offset);
        for piece in line.split_inclusive(|&b| b == b'\n') {
            out.extend_from_slice(prefix.as_bytes());
            out.extend_from_slice(piece);
        }
    }

    /// Whether this member sees lines exactly as sent.
    fn as_sent(&self) -> bool {
        !self.comfort.no_colors && !self.comfort.timestamps
    }
}

/// Now, in Unix seconds.
pub(super) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The broadcasts of the current round, not yet queued to anyone.
#[derive(Default)]
pub(super) struct Round {
    lines: Vec<Said>,
    bytes: usize,
    /// Signed-in members for whom the round is not simply all of `lines`, with
    /// the first line that is for them: they signed in mid-round, were caught up
    /// mid-round (before a line sent to them alone), are the exception of a
    /// line (skipped when their block is built), or are named in one.
    partial: IdMap<usize>,
    /// The whole round as one block, made when it is flushed.
    whole: Option<(Block, u64)>,
}

impl Round {
    /// The lines from `start` on that are for `who` (all of them, as sent, for
    /// `None`), as one block, and how many lines it holds.
    fn block(&self, who: Option<View<'_>>, start: usize) -> Option<(Block, u64)> {
        let lines = &self.lines[start..];
        let Some(view) = who else {
            return match lines {
                [] => None,
                // One line: share it, no copy.
                [one] => Some((Arc::clone(&one.line), 1)),
                _ => {
                    let mut block = Vec::with_capacity(self.bytes);
                    for said in lines {
                        block.extend_from_slice(&said.line);
                    }
                    Some((Arc::from(block), lines.len() as u64))
                }
            };
        };
        let now = unix_now();
        let mut mine = lines.iter().filter(|said| {
            said.except != Some(view.id)
                && said
                    .author
                    .is_none_or(|a| !view.comfort.ignored.contains(&a))
        });
        let first = mine.next()?;
        let named = |said: &Said| said.named.contains(&view.id);
        let mut rest = mine.peekable();
        if rest.peek().is_none() && !named(first) && view.as_sent() {
            return Some((Arc::clone(&first.line), 1));
        }
        let mut block = Vec::with_capacity(self.bytes);
        let mut count = 0;
        for said in std::iter::once(first).chain(rest) {
            if named(said) {
                let line = marked(&said.line, !view.comfort.no_bell, view.colors);
                view.show(&line, said.at, now, &mut block);
            } else {
                view.show(&said.line, said.at, now, &mut block);
            }
            count += 1;
        }
        Some((Arc::from(block), count))
    }

    /// `id` signed in or came into the room now: the round's broadcasts so
    /// far were not for it.
    pub(super) fn starts_for(&mut self, id: ClientId) {
        self.partial.insert(id, self.lines.len());
    }

    /// `id` is no longer in the room.
    pub(super) fn forget(&mut self, id: ClientId) {
        self.partial.remove(&id);
    }

    fn clear(&mut self) {
        self.lines.clear();
        self.bytes = 0;
        self.partial.clear();
        self.whole = None;
    }
}

impl Room {
    /// Queues `line` for one client, after the round's broadcasts that came
    /// before it, as that client has asked to see lines (colors, timestamps);
    /// an overflow marks it too slow.
    pub(super) fn send(&mut self, id: ClientId, line: Block) {
        self.catch_up(id);
        if let Some(member) = self.members.get(id) {
            let view = View::of(id, member, &self.config);
            let line = if view.as_sent() {
                line
            } else {
                let mut shown = Vec::with_capacity(line.len() + 16);
                let now = unix_now();
                view.show(&line, now, now, &mut shown);
                Arc::from(shown)
            };
            let bounds = QueueBounds::of(&self.config);
            self.fanout.push(id, member, line, 1, &bounds);
        }
    }

    /// Sends every signed-in member of channel `channel` except `except` the
    /// line `line`, with the rest of the round's broadcasts.
    pub(super) fn broadcast(&mut self, channel: ChannelId, line: &Block, except: Option<ClientId>) {
        self.broadcast_said(channel, line, except, None, Vec::new());
    }

    /// Sends `line` to every signed-in member, whatever their room.
    pub(super) fn broadcast_everywhere(&mut self, line: &Block) {
        let ids: Vec<ChannelId> = self
            .channels
            .iter()
            .filter(|(_, c)| c.len() > 0)
            .map(|(id, _)| id)
            .collect();
        for id in ids {
            self.broadcast(id, line, None);
        }
    }

    /// Like [`broadcast`](Self::broadcast), for a line `author` said (those who
    /// ignore them do not get it), naming `named` (they get it marked).
    pub(super) fn broadcast_said(
        &mut self,
        channel: ChannelId,
        line: &Block,
        except: Option<ClientId>,
        author: Option<ClientId>,
        named: Vec<ClientId>,
    ) {
        if self
            .channels
            .get(channel)
            .is_some_and(|room| room.round.lines.is_empty())
        {
            self.channels.pending.push(channel);
        }
        let Some(room) = self.channels.get_mut(channel) else {
            return;
        };
        let round = &mut room.round;
        for &id in except.iter().chain(&named) {
            round.partial.entry(id).or_insert(0);
        }
        round.lines.push(Said {
            line: Arc::clone(line),
            except,
            author,
            named,
            at: unix_now(),
        });
        round.bytes += line.len();
        if round.bytes >= ROUND_BYTES {
            self.flush();
        }
    }

    /// Queues for `id` the round's broadcasts in its room that it has not got
    /// yet, so that a line sent to it alone comes after them, as it was sent.
    pub(super) fn catch_up(&mut self, id: ClientId) {
        let Some(member) = self.members.get(id) else {
            return;
        };
        if member.nick.is_none() {
            return; // Broadcasts are for signed-in members only.
        }
        let Some(room) = self.channels.get_mut(member.channel) else {
            return;
        };
        let round = &mut room.round;
        if round.lines.is_empty() {
            return;
        }
        let start = round.partial.get(&id).copied().unwrap_or(0);
        let view = View::of(id, member, &self.config);
        if let Some((block, lines)) = round.block(Some(view), start) {
            let bounds = QueueBounds::of(&self.config);
            self.fanout.push(id, member, block, lines, &bounds);
        }
        round.partial.insert(id, round.lines.len());
    }

    /// Queues the round's broadcasts: in each room with lines, the whole round
    /// as one shared block for most members, a block of their own for the few
    /// in `partial` and those who see lines their own way (`/ignore`,
    /// `/colors off`, `/timestamps on`).
    ///
    /// When the rooms with lines hold most of those signed in (always, while
    /// everyone is in the lobby), one pass over all members finds each one's
    /// room by index; otherwise each such room's own members are looked up.
    pub(super) fn flush(&mut self) {
        if self.channels.pending.is_empty() {
            return;
        }
        let pending = std::mem::take(&mut self.channels.pending);
        let bounds = QueueBounds::of(&self.config);
        let mut covered = 0;
        for &channel in &pending {
            if let Some(room) = self.channels.get_mut(channel) {
                room.round.whole = room.round.block(None, 0);
                covered += room.len();
            }
        }
        let (members, channels, fanout) = (&self.members, &self.channels, &mut self.fanout);
        let mut deliver = |id: ClientId, member: &Member, round: &Round| {
            let partial = round.partial.get(&id).copied();
            let block = if partial.is_none() && member.comfort().plain() {
                round.whole.clone()
            } else {
                let view = View::of(id, member, &self.config);
                round.block(Some(view), partial.unwrap_or(0))
            };
            if let Some((block, lines)) = block {
                fanout.push(id, member, block, lines, &bounds);
            }
        };
        if covered * 2 >= members.registered() {
            for (id, member) in members.iter() {
                if member.nick.is_none() {
                    continue;
                }
                match channels.get(member.channel) {
                    Some(room) if !room.round.lines.is_empty() => deliver(id, member, &room.round),
                    _ => {}
                }
            }
        } else {
            for &channel in &pending {
                let Some(room) = channels.get(channel) else {
                    continue;
                };
                for id in room.ids() {
                    if let Some(member) = members.get(id) {
                        deliver(id, member, &room.round);
                    }
                }
            }
        }
        for &channel in &pending {
            if let Some(room) = self.channels.get_mut(channel) {
                room.round.clear();
            }
        }
        let mut pending = pending;
        pending.clear();
        self.channels.pending = pending;
    }

    /// Ends a round: queues its broadcasts and drops whoever that overflowed
    /// (which, announced, starts the next round).
    pub(super) fn end_round(&mut self) {
        loop {
            self.flush();
            if self.fanout.too_slow.is_empty() {
                break;
            }
            self.drop_too_slow();
        }
    }
}
