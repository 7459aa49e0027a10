//! Delivery: the rooms' lines into the outboxes, per room, in rounds (see
//! `round` for how a round's lines become each member's block).
//!
//! A line for one client alone ([`Hub::send`]) first catches that client up
//! with its room's round, so that everyone sees lines in the order they were
//! said. A round ends with [`Hub::flush`]: in every room with lines, the
//! round's block goes to each member.

use std::sync::Arc;

use crate::outbox::Block;

use super::members::Member;
use super::round::{Round, Said, View, unix_now};
use super::{ClientId, Hub, ROUND_BYTES, RoomId};

impl Hub {
    /// Queues `line` for one client, after the round's broadcasts that came
    /// before it, as that client has asked to see lines (colors, timestamps);
    /// an overflow marks it too slow.
    pub(super) fn send(&mut self, id: ClientId, line: Block) {
        self.send_as(id, line, true);
    }

    /// Like [`send`](Self::send), for lines that carry the time they were
    /// said already (a history replay): `/timestamps on` adds no second one.
    pub(super) fn send_stamped(&mut self, id: ClientId, line: Block) {
        self.send_as(id, line, false);
    }

    fn send_as(&mut self, id: ClientId, line: Block, stamps: bool) {
        self.catch_up(id);
        if let Some(member) = self.members.get(id) {
            let view = View::of(id, member, &self.config);
            let view = if stamps { view } else { view.unstamped() };
            let line = if view.as_sent() {
                line
            } else {
                let mut shown = Vec::with_capacity(line.len() + 16);
                let now = unix_now();
                view.show(&line, now, now, &mut shown);
                Arc::from(shown)
            };
            let bounds = self.bounds;
            self.fanout.push(id, member, line, 1, &bounds);
        }
    }

    /// Sends every signed-in member of room `room_id` except `except` the
    /// line `line`, with the rest of the round's broadcasts.
    pub(super) fn broadcast(&mut self, room_id: RoomId, line: &Block, except: Option<ClientId>) {
        self.broadcast_said(room_id, line, except, None, Vec::new());
    }

    /// Sends `line` to every signed-in member, whatever their room.
    pub(super) fn broadcast_everywhere(&mut self, line: &Block) {
        let ids: Vec<RoomId> = self
            .rooms
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
        room_id: RoomId,
        line: &Block,
        except: Option<ClientId>,
        author: Option<ClientId>,
        named: Vec<ClientId>,
    ) {
        if self
            .rooms
            .get(room_id)
            .is_some_and(|room| room.round.lines.is_empty())
        {
            self.rooms.pending.push(room_id);
        }
        if let Some(author) = author {
            self.counts
                .latency
                .offer(room_id, author, self.line_arrived);
        }
        let Some(room) = self.rooms.get_mut(room_id) else {
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
            at: self.round_time,
        });
        round.bytes += line.len();
        if round.bytes >= ROUND_BYTES {
            self.flush();
        }
    }

    /// Queues for `id` the round's broadcasts in its room that it has not got
    /// yet, so that a line sent to it alone comes after them, as it was sent.
    pub(super) fn catch_up(&mut self, id: ClientId) {
        // No room has lines this round (the common case for a line sent to
        // one client): nothing to look up.
        if self.rooms.pending.is_empty() {
            return;
        }
        let Some(member) = self.members.get(id) else {
            return;
        };
        if member.nick.is_none() {
            return; // Broadcasts are for signed-in members only.
        }
        let Some(room) = self.rooms.get_mut(member.room) else {
            return;
        };
        let round = &mut room.round;
        if round.lines.is_empty() {
            return;
        }
        let start = round.partial.get(&id).copied().unwrap_or(0);
        let view = View::of(id, member, &self.config);
        if let Some((block, lines)) = round.block(Some(view), start) {
            let bounds = self.bounds;
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
        if self.rooms.pending.is_empty() {
            return;
        }
        let pending = std::mem::take(&mut self.rooms.pending);
        let bounds = self.bounds;
        let mut covered = 0;
        for &room_id in &pending {
            if let Some(room) = self.rooms.get_mut(room_id) {
                room.round.whole = room.round.block(None, 0);
                covered += room.len();
            }
        }
        let (members, rooms, fanout) = (&self.members, &self.rooms, &mut self.fanout);
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
        if let ([only], true) = (&pending[..], covered * 2 >= members.registered()) {
            // One room had lines (the lobby, while nobody uses rooms): its
            // round is looked up once, not per member.
            if let Some(room) = rooms.get(*only) {
                for (id, member) in members.iter() {
                    if member.nick.is_some() && member.room == *only {
                        deliver(id, member, &room.round);
                    }
                }
            }
        } else if covered * 2 >= members.registered() {
            for (id, member) in members.iter() {
                if member.nick.is_none() {
                    continue;
                }
                match rooms.get(member.room) {
                    Some(room) if !room.round.lines.is_empty() => deliver(id, member, &room.round),
                    _ => {}
                }
            }
        } else {
            for &room_id in &pending {
                let Some(room) = rooms.get(room_id) else {
                    continue;
                };
                for id in room.ids() {
                    if let Some(member) = members.get(id) {
                        deliver(id, member, &room.round);
                    }
                }
            }
        }
        self.follow_chosen(&pending);
        for &room_id in &pending {
            if let Some(room) = self.rooms.get_mut(room_id) {
                room.round.clear();
            }
        }
        let mut pending = pending;
        pending.clear();
        self.rooms.pending = pending;
    }

    /// Ends a round: queues its broadcasts, drops whoever that overflowed
    /// (which, announced, starts the next round), and writes through to the
    /// clients whose writers the round left asleep.
    pub(super) fn end_round(&mut self) {
        loop {
            self.flush();
            if self.fanout.too_slow.is_empty() {
                break;
            }
            self.drop_too_slow();
        }
        self.fanout.write_through();
    }
}
