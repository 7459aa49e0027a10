//! Rounds: how a room's lines become the blocks its members are sent.
//!
//! While events keep coming, the hub handles a round of them before it
//! queues their broadcasts, and then queues them as one block per recipient: a
//! round of 100 joins in a room of 10,000 is 10,000 pushes, not a million. Each
//! recipient still gets exactly the lines it would have got one by one, in the
//! same order relative to what is sent to it alone: a line for one client
//! first catches that client up with the round ([`Hub::send`](super::Hub::send)).
//!
//! Every push is a `push_deferred` into a bounded [`Outbox`], bounded by
//! `send_queue_hard_bytes`: a full one marks its client too slow (dropped after
//! the round), never makes the hub wait. A push that finds a client's queue
//! empty leaves its writer asleep, and the round's end writes that client's
//! share through from the hub (see the outbox). A push that leaves a queue over the
//! soft bound puts its client on the watch list that the tick checks (see
//! `backlog`).

use std::sync::Arc;
use std::time::Instant;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::debug;
use crate::outbox::{Block, Outbox, PushError};

use super::ClientId;
use super::backlog::{Backlog, Overflow, QueueBounds};
use super::members::Member;
use super::members::{Comfort, IdMap};
use crate::config::Config;
use crate::render::{marked, stamp, strip_colors};

/// Pushes blocks into outboxes and keeps count; who overflowed is collected in
/// `too_slow` and dropped at the end of the round.
#[derive(Default)]
pub(super) struct Fanout {
    pub(super) deliveries: u64,
    /// The bytes of those deliveries.
    pub(super) delivered_bytes: u64,
    pub(super) peak_queue_bytes: usize,
    pub(super) too_slow: Vec<(ClientId, Overflow)>,
    /// Outboxes whose writer was left asleep this round: the hub writes them
    /// through at the round's end ([`Outbox::write_through`]).
    pub(super) through: Vec<Arc<Outbox>>,
    /// This round's writes go to the writers instead (events are waiting
    /// for the hub, and other threads can write meanwhile).
    pub(super) to_writers: bool,
    /// Clients whose queue a push left over the soft bound, until the tick
    /// finds them back under it or drops them.
    pub(super) backlogs: IdMap<Backlog>,
}

impl Fanout {
    /// Queues `block`, which holds `lines` lines, for one client.
    pub(super) fn push(
        &mut self,
        id: ClientId,
        member: &Member,
        block: Block,
        lines: u64,
        bounds: &QueueBounds,
    ) {
        let len = block.len() as u64;
        match member.outbox.push_deferred(block, bounds.hard) {
            Ok((bytes, deferred)) => {
                if deferred {
                    self.through.push(Arc::clone(&member.outbox));
                }
                self.deliveries += lines;
                self.delivered_bytes += len;
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

    /// Writes through every outbox whose writer a push of this round left
    /// asleep: the round's end.
    pub(super) fn write_through(&mut self) {
        let to_writers = std::mem::take(&mut self.to_writers);
        for outbox in self.through.drain(..) {
            if to_writers {
                outbox.wake_writer();
            } else {
                outbox.write_through();
            }
        }
    }
}

/// One broadcast of the round.
pub(super) struct Said {
    pub(super) line: Block,
    /// The one signed-in member it is not for.
    pub(super) except: Option<ClientId>,
    /// Who said it, for those who ignore them; None for the server's own lines.
    pub(super) author: Option<ClientId>,
    /// The members it names: each gets it marked, with a bell.
    pub(super) named: Vec<ClientId>,
    /// When it was said (Unix seconds), for timestamps.
    pub(super) at: u64,
}

/// How lines are shown to one member who does not get the shared block.
#[derive(Clone, Copy)]
pub(super) struct View<'a> {
    id: ClientId,
    comfort: &'a Comfort,
    /// The server sends colors, and this member has not turned them off.
    colors: bool,
    /// `/timestamps on`, for lines that do not carry their time already.
    stamps: bool,
    offset: i32,
}

impl<'a> View<'a> {
    pub(super) fn of(id: ClientId, member: &'a Member, config: &Config) -> View<'a> {
        View {
            id,
            comfort: member.comfort(),
            colors: config.colors && !member.comfort().no_colors,
            stamps: member.comfort().timestamps,
            offset: config.utc_offset_minutes,
        }
    }

    /// This view for lines stamped with their time already (a replay).
    pub(super) fn unstamped(self) -> View<'a> {
        View {
            stamps: false,
            ..self
        }
    }

    /// Appends `line` (said at `at`) to `out` as this member sees it.
    pub(super) fn show(&self, line: &[u8], at: u64, now: u64, out: &mut Vec<u8>) {
        let stripped;
        let line = if self.comfort.no_colors {
            stripped = strip_colors(line);
            &stripped[..]
        } else {
            line
        };
        if !self.stamps {
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
    pub(super) fn as_sent(&self) -> bool {
        !self.comfort.no_colors && !self.stamps
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
    pub(super) lines: Vec<Said>,
    pub(super) bytes: usize,
    /// Signed-in members for whom the round is not simply all of `lines`, with
    /// the first line that is for them: they signed in mid-round, were caught up
    /// mid-round (before a line sent to them alone), are the exception of a
    /// line (skipped when their block is built), or are named in one.
    pub(super) partial: IdMap<usize>,
    /// The whole round as one block, made when it is flushed.
    pub(super) whole: Option<(Block, u64)>,
}

impl Round {
    /// The lines from `start` on that are for `who` (all of them, as sent, for
    /// `None`), as one block, and how many lines it holds.
    pub(super) fn block(&self, who: Option<View<'_>>, start: usize) -> Option<(Block, u64)> {
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

    pub(super) fn clear(&mut self) {
        self.lines.clear();
        self.bytes = 0;
        self.partial.clear();
        self.whole = None;
    }
}
