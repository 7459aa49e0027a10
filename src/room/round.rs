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

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use crate::debug;
use crate::outbox::{Block, PushError};

use super::backlog::{Backlog, Overflow, QueueBounds};
use super::members::Member;
use super::{ClientId, ROUND_BYTES, Room};

/// Pushes blocks into outboxes and keeps count; who overflowed is collected in
/// `too_slow` and dropped at the end of the round.
#[derive(Default)]
pub(super) struct Fanout {
    pub(super) deliveries: u64,
    pub(super) peak_queue_bytes: usize,
    pub(super) too_slow: Vec<(ClientId, Overflow)>,
    /// Clients whose queue a push left over the soft bound, until the tick
    /// finds them back under it or drops them.
    pub(super) backlogs: HashMap<ClientId, Backlog>,
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

/// The broadcasts of the current round, not yet queued to anyone.
#[derive(Default)]
pub(super) struct Round {
    /// Each broadcast, and the one signed-in member it is not for.
    lines: Vec<(Block, Option<ClientId>)>,
    bytes: usize,
    /// Signed-in members for whom the round is not simply all of `lines`, with
    /// the first line that is for them: they signed in mid-round, were caught up
    /// mid-round (before a line sent to them alone), or are the exception of a
    /// line (skipped when their block is built).
    partial: HashMap<ClientId, usize>,
}

impl Round {
    /// The lines from `start` on that are for `who` (all of them for `None`), as
    /// one block, and how many lines it holds.
    fn block(&self, who: Option<ClientId>, start: usize) -> Option<(Block, u64)> {
        let mut mine = self.lines[start..]
            .iter()
            .filter(|(_, except)| who.is_none() || *except != who)
            .map(|(line, _)| line);
        let first = mine.next()?;
        let Some(second) = mine.next() else {
            // One line: share it, no copy.
            return Some((Arc::clone(first), 1));
        };
        let mut block = Vec::with_capacity(self.bytes);
        block.extend_from_slice(first);
        block.extend_from_slice(second);
        let mut count = 2;
        for line in mine {
            block.extend_from_slice(line);
            count += 1;
        }
        Some((Arc::from(block), count))
    }

    /// `id` signed in now: the round's broadcasts so far were not for it.
    pub(super) fn starts_for(&mut self, id: ClientId) {
        self.partial.insert(id, self.lines.len());
    }
}

impl Room {
    /// Queues `line` for one client, after the round's broadcasts that came
    /// before it; an overflow marks it too slow.
    pub(super) fn send(&mut self, id: ClientId, line: Block) {
        self.catch_up(id);
        if let Some(member) = self.members.get(id) {
            let bounds = QueueBounds::of(&self.config);
            self.fanout.push(id, member, line, 1, &bounds);
        }
    }

    /// Sends every signed-in client except `except` the line `line`, with the
    /// rest of the round's broadcasts.
    pub(super) fn broadcast(&mut self, line: &Block, except: Option<ClientId>) {
        self.round.lines.push((Arc::clone(line), except));
        self.round.bytes += line.len();
        if let Some(id) = except {
            self.round.partial.entry(id).or_insert(0);
        }
        if self.round.bytes >= ROUND_BYTES {
            self.flush();
        }
    }

    /// Queues for `id` the round's broadcasts it has not got yet, so that a line
    /// sent to it alone comes after them, as it was sent.
    pub(super) fn catch_up(&mut self, id: ClientId) {
        if self.round.lines.is_empty() {
            return;
        }
        let Some(member) = self.members.get(id) else {
            return;
        };
        if member.nick.is_none() {
            return; // Broadcasts are for signed-in members only.
        }
        let start = self.round.partial.get(&id).copied().unwrap_or(0);
        if let Some((block, lines)) = self.round.block(Some(id), start) {
            let bounds = QueueBounds::of(&self.config);
            self.fanout.push(id, member, block, lines, &bounds);
        }
        self.round.partial.insert(id, self.round.lines.len());
    }

    /// Queues the round's broadcasts: the whole round as one shared block for
    /// most members, a block of their own for the few in `partial`.
    pub(super) fn flush(&mut self) {
        if self.round.lines.is_empty() {
            return;
        }
        let everything = self.round.block(None, 0);
        let bounds = QueueBounds::of(&self.config);
        for (id, member) in self.members.iter() {
            if member.nick.is_none() {
                continue;
            }
            let block = match self.round.partial.get(&id) {
                None => everything.clone(),
                Some(&start) => self.round.block(Some(id), start),
            };
            if let Some((block, lines)) = block {
                self.fanout.push(id, member, block, lines, &bounds);
            }
        }
        self.round.lines.clear();
        self.round.bytes = 0;
        self.round.partial.clear();
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
