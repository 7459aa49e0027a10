//! What the hub counts, for the health line, the shutdown summary and the
//! metrics: the counters only the hub updates ([`Counts`]), the few the
//! accept loop, the readers and the server update ([`SharedCounters`],
//! atomics the hub only reads), the sample of lines followed to their last
//! write ([`LineLatency`]), and the [`Snapshot`] the hub answers
//! `Event::Metrics` with: one copy of its counts, made between two events,
//! that the asker writes out as text off the hub.
//!
//! What the counters cost the hub per line is a few adds, and one branch
//! to see whether the line should be followed; a round adds two clock reads
//! (its duration). Walking every member (bytes queued, mutes) happens only
//! when someone asks for the metrics.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use crate::bans::Kind;
use crate::command::{COMMANDS, Id, ServerCommand};
use crate::metrics::{Histogram, LATENCY_BUCKETS, Probe, ROUND_BUCKETS, Snapshot};

use super::backlog::Overflow;
use super::{ClientId, Hub, RoomId};

/// Why a connection was turned away (or closed at the prompt).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    /// `max_clients` reached (the accept loop).
    Full,
    /// `max_clients_per_ip` reached (the accept loop).
    PerAddress,
    /// The address is banned (the hub).
    Banned,
    /// No nickname within `login_timeout_secs` (the hub).
    LoginTimeout,
}

impl Rejection {
    /// Every reason, in the order the metrics list them.
    pub const ALL: [Rejection; 4] = [
        Rejection::Full,
        Rejection::PerAddress,
        Rejection::Banned,
        Rejection::LoginTimeout,
    ];

    /// The metrics' label value.
    pub fn label(self) -> &'static str {
        match self {
            Rejection::Full => "full",
            Rejection::PerAddress => "per_address",
            Rejection::Banned => "banned",
            Rejection::LoginTimeout => "login_timeout",
        }
    }
}

/// How a config reload ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReloadResult {
    /// The new settings are in force.
    Applied,
    /// The file was invalid (or there is none); nothing changed.
    Refused,
}

impl ReloadResult {
    const ALL: [ReloadResult; 2] = [ReloadResult::Applied, ReloadResult::Refused];

    fn label(self) -> &'static str {
        match self {
            ReloadResult::Applied => "applied",
            ReloadResult::Refused => "refused",
        }
    }
}

/// Counters updated outside the hub (the accept loop rejects connections
/// the hub never sees, readers hold lines back, the server reloads), as
/// atomics the hub reads: nobody waits for anybody.
#[derive(Debug, Default)]
pub struct SharedCounters {
    /// Connections turned away, by [`Rejection`].
    rejected: [AtomicU64; Rejection::ALL.len()],
    /// Lines flood control held back.
    flood_holds: AtomicU64,
    /// Reloads, by [`ReloadResult`].
    reloads: [AtomicU64; ReloadResult::ALL.len()],
}

impl SharedCounters {
    /// Every counter, in a fixed order, for a live upgrade.
    pub(crate) fn values(&self) -> Vec<u64> {
        let load = |n: &AtomicU64| n.load(Ordering::Relaxed);
        let mut all: Vec<u64> = self.rejected.iter().map(load).collect();
        all.push(load(&self.flood_holds));
        all.extend(self.reloads.iter().map(load));
        all
    }

    /// Adds counts written by [`values`](Self::values) (an old chatd's).
    pub(crate) fn add_values(&self, values: &[u64]) {
        let counters = self
            .rejected
            .iter()
            .chain([&self.flood_holds])
            .chain(self.reloads.iter());
        for (counter, &n) in counters.zip(values) {
            counter.fetch_add(n, Ordering::Relaxed);
        }
    }

    /// A connection was turned away for `why`.
    pub fn rejected(&self, why: Rejection) {
        self.rejected[why as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// Flood control held a line back.
    pub fn flood_held(&self) {
        self.flood_holds.fetch_add(1, Ordering::Relaxed);
    }

    /// A reload ended with `result`.
    pub fn reloaded(&self, result: ReloadResult) {
        self.reloads[result as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// Connections turned away, for every reason: the health line's `rejections`.
    pub fn rejections(&self) -> u64 {
        self.rejected
            .iter()
            .map(|n| n.load(Ordering::Relaxed))
            .sum()
    }
}

/// At most one sampled line is followed at a time, and a new one is chosen
/// at most this often: following a line costs the hub a lock per recipient.
const SAMPLE_EVERY: Duration = Duration::from_millis(100);

/// A line some recipient has not taken after this long counts as this late
/// (past the last bucket, so `+Inf`), and the next one is chosen.
const FOLLOW_AT_MOST: Duration = Duration::from_secs(30);

/// The line-latency sample: a chat line now and then, followed from its
/// arrival until every recipient's socket has taken it.
pub(super) struct LineLatency {
    histogram: Histogram,
    /// A line said this round, to be followed once its round is queued: its
    /// room, who said it, and when it arrived.
    chosen: Option<(RoomId, ClientId, Instant)>,
    /// The line being followed.
    probe: Option<Arc<Probe>>,
    /// No line is chosen before this.
    next: Instant,
}

impl LineLatency {
    fn new(now: Instant) -> LineLatency {
        LineLatency {
            histogram: Histogram::new(LATENCY_BUCKETS),
            chosen: None,
            probe: None,
            next: now,
        }
    }

    /// `author` said a line in `room` that arrived at `at`: it is chosen if
    /// no line is being followed and the last was chosen long enough ago.
    pub(super) fn offer(&mut self, room: RoomId, author: ClientId, at: Instant) {
        if self.chosen.is_none() && self.probe.is_none() && at >= self.next {
            self.chosen = Some((room, author, at));
        }
    }

    /// The chosen line, if its room is among `flushed`.
    fn take_chosen(&mut self, flushed: &[RoomId]) -> Option<(RoomId, ClientId, Instant)> {
        self.chosen.take_if(|(room, _, _)| flushed.contains(room))
    }

    /// Records the followed line once every recipient has it, or once it
    /// has taken [`FOLLOW_AT_MOST`].
    fn poll(&mut self, now: Instant) {
        let Some(probe) = &self.probe else {
            return;
        };
        let took = match probe.took() {
            Some(took) => took,
            None if now.duration_since(probe.arrived()) >= FOLLOW_AT_MOST => {
                now.duration_since(probe.arrived())
            }
            None => return,
        };
        self.histogram.observe(took);
        self.probe = None;
    }
}

/// The counters only the hub updates.
pub(super) struct Counts {
    /// Connections admitted.
    pub(super) accepted: u64,
    /// Nicknames taken at sign-in.
    pub(super) sign_ins: u64,
    /// Slow clients dropped at the hard bound, and for stalling over the soft
    /// one (the summary has the total, as the health line shows it).
    slow_drops: [u64; 2],
    /// Moderation actions carried out: the command, its name, how many.
    actions: Vec<(Id, &'static str, u64)>,
    /// How long rounds took.
    rounds: Histogram,
    pub(super) latency: LineLatency,
}

impl Counts {
    pub(super) fn new(now: Instant) -> Counts {
        // The moderation group, and the server group's actions on people.
        let action = |id: Id| match id {
            Id::Moderation(_) => true,
            Id::Server(which) => matches!(
                which,
                ServerCommand::Op | ServerCommand::Deop | ServerCommand::Say
            ),
            _ => false,
        };
        Counts {
            accepted: 0,
            sign_ins: 0,
            slow_drops: [0; 2],
            actions: COMMANDS
                .iter()
                .filter(|c| action(c.id))
                .map(|c| (c.id, c.name, 0))
                .collect(),
            rounds: Histogram::new(ROUND_BUCKETS),
            latency: LineLatency::new(now),
        }
    }

    /// The plain counters, for a live upgrade: connections admitted,
    /// sign-ins, slow drops by bound, then each moderation action's count
    /// by name. (The histograms start again.)
    pub(super) fn values(&self) -> (Vec<u64>, Vec<(&'static str, u64)>) {
        let plain = vec![
            self.accepted,
            self.sign_ins,
            self.slow_drops[0],
            self.slow_drops[1],
        ];
        let actions = self.actions.iter().map(|&(_, name, n)| (name, n)).collect();
        (plain, actions)
    }

    /// Takes up counters written by [`values`](Self::values); an action
    /// this chatd does not have is dropped.
    pub(super) fn restore(&mut self, plain: &[u64], actions: &[(String, u64)]) {
        if let [accepted, sign_ins, hard, stalled] = *plain {
            self.accepted = accepted;
            self.sign_ins = sign_ins;
            self.slow_drops = [hard, stalled];
        }
        for (name, n) in actions {
            if let Some(action) = self.actions.iter_mut().find(|(_, a, _)| a == name) {
                action.2 = *n;
            }
        }
    }

    /// A client was dropped as too slow, for crossing `bound`.
    pub(super) fn slow_dropped(&mut self, bound: Overflow) {
        self.slow_drops[bound as usize] += 1;
    }

    /// Command `id` was carried out; counted if it is a moderation action.
    pub(super) fn acted(&mut self, id: Id) {
        if let Some((_, _, n)) = self.actions.iter_mut().find(|(a, _, _)| *a == id) {
            *n += 1;
        }
    }
}

impl Hub {
    /// A round that began at `began` is over: its duration is counted, and
    /// the followed line, if written everywhere by now.
    pub(super) fn round_ended(&mut self, began: Instant) {
        let now = Instant::now();
        self.counts.rounds.observe(now.duration_since(began));
        self.counts.latency.chosen = None;
        self.counts.latency.poll(now);
    }

    /// After the rounds of the rooms `flushed` were queued: if the chosen
    /// line was among them, each recipient's outbox is told to follow it.
    /// Recipients over the soft bound are not waited for: they are known to
    /// be behind, and the slow-client metrics show them.
    pub(super) fn follow_chosen(&mut self, flushed: &[RoomId]) {
        let Some((room_id, author, at)) = self.counts.latency.take_chosen(flushed) else {
            return;
        };
        let probe = Probe::new(at);
        let mut recipients = 0;
        if let Some(room) = self.rooms.get(room_id) {
            for id in room.ids() {
                if id == author || self.fanout.backlogs.contains_key(&id) {
                    continue;
                }
                if let Some(member) = self.members.get(id) {
                    member.outbox.watch(&probe);
                    recipients += 1;
                }
            }
        }
        // The hub's own hold: with every recipient done already, this stops the clock.
        probe.one_done();
        if recipients > 0 {
            self.counts.latency.next = at + SAMPLE_EVERY;
            self.counts.latency.probe = Some(probe);
        }
    }

    /// The counts now, for `Event::Metrics`.
    pub(super) fn snapshot(&mut self) -> Snapshot {
        let now = Instant::now();
        self.counts.latency.poll(now);
        let (mut queued, mut largest) = (0u64, 0);
        for (_, member) in self.members.iter() {
            let bytes = member.outbox.queued();
            queued += bytes as u64;
            largest = largest.max(bytes);
        }
        let wall = SystemTime::now();
        let shared = &self.shared;
        let load = |n: &AtomicU64| n.load(Ordering::Relaxed);
        let c = &self.counts;
        let in_force = |kind: Kind| {
            let list = self.bans.list(kind);
            list.iter().filter(|entry| entry.is_active(wall)).count()
        };
        Snapshot {
            at_prompt: self.members.len() - self.members.registered(),
            signed_in: self.members.registered(),
            accepted: c.accepted,
            rejected: Rejection::ALL
                .iter()
                .map(|&r| (r.label(), load(&shared.rejected[r as usize])))
                .collect(),
            sign_ins: c.sign_ins,
            lines_in: self.summary.lines_in,
            deliveries: self.fanout.deliveries,
            delivered_bytes: self.fanout.delivered_bytes,
            slow_drops: vec![
                ("hard", c.slow_drops[Overflow::Hard as usize]),
                ("soft_grace", c.slow_drops[Overflow::Stalled as usize]),
            ],
            slow_clients: self.fanout.backlogs.len(),
            flood_holds: load(&shared.flood_holds),
            moderation: c.actions.iter().map(|&(_, name, n)| (name, n)).collect(),
            bans: in_force(Kind::Ban),
            mutes: in_force(Kind::Mute),
            rooms: self.rooms.made(),
            largest_room: self.rooms.iter().map(|(_, r)| r.len()).max().unwrap_or(0),
            queued_bytes: queued,
            largest_queue_bytes: largest,
            peak_queue_bytes: self.fanout.peak_queue_bytes,
            reloads: ReloadResult::ALL
                .iter()
                .map(|&r| (r.label(), load(&shared.reloads[r as usize])))
                .collect(),
            rounds: c.rounds.clone(),
            line_latency: c.latency.histogram.clone(),
        }
    }
}
