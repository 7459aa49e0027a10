//! When a client that has fallen behind is dropped as too slow: the send queue's
//! two bounds, and the watch over clients between them.
//!
//! The model is Redis's output-buffer limit for pub/sub clients, a hard bound
//! and a soft bound with a time, with one change in what the time means:
//! - **Hard** (`send_queue_hard_bytes`): a push that would put more in flight for
//!   a client drops it at once. This is what bounds memory.
//! - **Soft** (`send_queue_bytes`) with **grace** (`send_queue_grace_secs`): a
//!   client over the soft bound is dropped once it has been over it *and* had
//!   nothing written to it for the whole grace time. A slow reader that keeps
//!   reading stays however long the burst lasts (only the hard bound can drop
//!   it); a stopped one goes. Redis instead drops a client that stays over its
//!   soft limit for that long even while it reads, and so would drop the readers
//!   that fall behind during a long burst (issue 16), which are who the grace is for.
//!
//! "Nothing written" is read on the hub's once-a-second tick, from the outbox's
//! count of bytes written ([`Progress`]): if the count has not moved between the
//! ticks of a whole grace period while the queue stayed over the soft bound, the
//! client goes. So a stopped client is dropped between `grace` and `grace` + 1 s
//! after the last byte it took (or after it went over the soft bound, if that
//! was later). A trickle still counts as reading; the hard bound caps what it
//! can cost.
//!
//! Only clients over the soft bound are watched: a push that leaves a queue over
//! it puts the client on the watch list, and the tick looks at that list alone,
//! so with 10,000 clients under the bound the tick costs nothing here.
//!
//! [`Backlog`] is the pure decision (times and counts in, a [`Verdict`] out);
//! the hub feeds it in `round.rs` (pushes) and `timers.rs` (the tick).

use std::time::{Duration, Instant};

use crate::config::Config;
use crate::outbox::Progress;

/// The send-queue bounds in force.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct QueueBounds {
    /// Above this a client must keep taking bytes (`send_queue_bytes`).
    pub(super) soft: usize,
    /// A push past this drops the client (`send_queue_hard_bytes`, or 4 × soft).
    pub(super) hard: usize,
    /// How long a client over the soft bound may take nothing.
    pub(super) grace: Duration,
}

impl QueueBounds {
    pub(super) fn of(config: &Config) -> QueueBounds {
        QueueBounds {
            soft: config.send_queue_bytes,
            hard: config.send_queue_hard_bound(),
            grace: Duration::from_secs(config.send_queue_grace_secs),
        }
    }
}

/// Which bound a client too slow for the hub crossed; the log says which.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Overflow {
    /// A push would have put it over the hard bound.
    Hard,
    /// Over the soft bound with nothing written to it for the grace time.
    Stalled,
}

/// One client over the soft bound, as the hub last saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Backlog {
    /// When a push first left it over the soft bound (for the log).
    over_since: Instant,
    /// The outbox's written count when it last moved, and when that was seen.
    written: u64,
    moved_at: Instant,
}

/// What to do with a watched client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Verdict {
    /// Still over the soft bound, and it took bytes within the grace time.
    Keep,
    /// Back under the soft bound, after this long over it: stop watching.
    Under(Duration),
    /// Over the soft bound with nothing written for the grace time: drop it.
    Stalled,
}

impl Backlog {
    /// A client a push left over the soft bound at `now`, whose outbox had
    /// written `written` bytes then. The grace starts now: what it took before
    /// going over does not count against it.
    pub(super) fn new(now: Instant, written: u64) -> Backlog {
        Backlog {
            over_since: now,
            written,
            moved_at: now,
        }
    }

    /// What a live upgrade hands over: when it went over, and the written
    /// count last seen with when it moved.
    pub(super) fn parts(&self) -> (Instant, u64, Instant) {
        (self.over_since, self.written, self.moved_at)
    }

    /// Reads back [`parts`](Self::parts).
    pub(super) fn from_parts(over_since: Instant, written: u64, moved_at: Instant) -> Backlog {
        Backlog {
            over_since,
            written,
            moved_at,
        }
    }

    /// Looks at the client again at `now`, its outbox reading `progress`.
    pub(super) fn check(
        &mut self,
        bounds: &QueueBounds,
        progress: Progress,
        now: Instant,
    ) -> Verdict {
        if progress.queued <= bounds.soft {
            return Verdict::Under(now.saturating_duration_since(self.over_since));
        }
        if progress.written != self.written {
            self.written = progress.written;
            self.moved_at = now;
            return Verdict::Keep;
        }
        if now.saturating_duration_since(self.moved_at) >= bounds.grace {
            Verdict::Stalled
        } else {
            Verdict::Keep
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOUNDS: QueueBounds = QueueBounds {
        soft: 100,
        hard: 400,
        grace: Duration::from_secs(10),
    };

    fn at(queued: usize, written: u64) -> Progress {
        Progress { queued, written }
    }

    fn secs(start: Instant, n: u64) -> Instant {
        start + Duration::from_secs(n)
    }

    #[test]
    fn a_stopped_client_goes_after_the_grace() {
        let t0 = Instant::now();
        let mut backlog = Backlog::new(t0, 5000);
        for n in 1..10 {
            assert_eq!(
                backlog.check(&BOUNDS, at(150, 5000), secs(t0, n)),
                Verdict::Keep
            );
        }
        assert_eq!(
            backlog.check(&BOUNDS, at(150, 5000), secs(t0, 10)),
            Verdict::Stalled
        );
    }

    #[test]
    fn a_client_that_keeps_reading_stays_over_the_soft_bound() {
        let t0 = Instant::now();
        let mut backlog = Backlog::new(t0, 0);
        // A minute over the soft bound, taking a little each second.
        for n in 1..=60 {
            let progress = at(390, n * 10);
            assert_eq!(backlog.check(&BOUNDS, progress, secs(t0, n)), Verdict::Keep);
        }
    }

    #[test]
    fn the_grace_counts_from_the_last_byte_taken() {
        let t0 = Instant::now();
        let mut backlog = Backlog::new(t0, 0);
        assert_eq!(
            backlog.check(&BOUNDS, at(200, 10), secs(t0, 5)),
            Verdict::Keep
        );
        // Then it stops: 10 s after the last movement seen, not after going over.
        assert_eq!(
            backlog.check(&BOUNDS, at(200, 10), secs(t0, 14)),
            Verdict::Keep
        );
        assert_eq!(
            backlog.check(&BOUNDS, at(200, 10), secs(t0, 15)),
            Verdict::Stalled
        );
    }

    #[test]
    fn bytes_taken_before_going_over_do_not_count() {
        // Written 5000 bytes in all, then went over: the count at the start is the baseline.
        let t0 = Instant::now();
        let mut backlog = Backlog::new(t0, 5000);
        assert_eq!(
            backlog.check(&BOUNDS, at(101, 5000), secs(t0, 10)),
            Verdict::Stalled
        );
    }

    #[test]
    fn back_under_the_soft_bound_ends_the_watch() {
        let t0 = Instant::now();
        let mut backlog = Backlog::new(t0, 0);
        assert_eq!(
            backlog.check(&BOUNDS, at(300, 0), secs(t0, 3)),
            Verdict::Keep
        );
        // Exactly at the soft bound is under it: only more than it counts.
        assert_eq!(
            backlog.check(&BOUNDS, at(100, 0), secs(t0, 42)),
            Verdict::Under(Duration::from_secs(42))
        );
    }

    #[test]
    fn bounds_come_from_the_config() {
        let config = Config {
            send_queue_bytes: 2000,
            send_queue_grace_secs: 3,
            ..Config::default()
        };
        let bounds = QueueBounds::of(&config);
        assert_eq!((bounds.soft, bounds.hard), (2000, 8000));
        assert_eq!(bounds.grace, Duration::from_secs(3));
        let set = Config {
            send_queue_hard_bytes: Some(5000),
            ..config
        };
        assert_eq!(QueueBounds::of(&set).hard, 5000);
    }
}
