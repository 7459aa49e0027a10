//! A line followed to its last write: how the time from a line's arrival to
//! the moment every recipient's socket has taken it is measured, for a sample
//! of lines.
//!
//! The hub makes a [`Probe`] for a line it has just queued, and hands it to
//! each recipient's outbox (`Outbox::watch`), which notes where in its stream
//! of bytes the line ends. Each writer that gets past that point says so
//! ([`Probe::one_done`]); the last one stops the clock. The hub then reads
//! [`Probe::took`] when it next ends a round. Nobody waits for anybody: the
//! writers only decrement a counter, and the hub only reads one.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Not finished yet, in [`Probe`]'s `took`.
const RUNNING: u64 = u64::MAX;

/// One sampled line on its way to its recipients.
#[derive(Debug)]
pub struct Probe {
    /// When the line arrived (read, and let through by flood control).
    arrived: Instant,
    /// Recipients (and the hub, while it hands the probe out) yet to finish.
    waiting: AtomicUsize,
    /// Nanoseconds from arrival to the last write; [`RUNNING`] until then.
    took: AtomicU64,
}

impl Probe {
    /// A probe for a line that arrived at `arrived`, held by the hub (one
    /// [`one_done`](Self::one_done) owed) while it is handed out.
    pub fn new(arrived: Instant) -> Arc<Probe> {
        Arc::new(Probe {
            arrived,
            waiting: AtomicUsize::new(1),
            took: AtomicU64::new(RUNNING),
        })
    }

    /// One more recipient to wait for.
    pub fn add_one(&self) {
        self.waiting.fetch_add(1, Ordering::Relaxed);
    }

    /// One recipient has it (or is gone); the last stops the clock.
    pub fn one_done(&self) {
        if self.waiting.fetch_sub(1, Ordering::AcqRel) == 1 {
            let nanos = u64::try_from(self.arrived.elapsed().as_nanos()).unwrap_or(RUNNING - 1);
            self.took.store(nanos, Ordering::Release);
        }
    }

    /// From arrival to the last write, once every recipient has it.
    pub fn took(&self) -> Option<Duration> {
        match self.took.load(Ordering::Acquire) {
            RUNNING => None,
            nanos => Some(Duration::from_nanos(nanos)),
        }
    }

    /// When the line arrived.
    pub fn arrived(&self) -> Instant {
        self.arrived
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_clock_stops_with_the_last_recipient() {
        let probe = Probe::new(Instant::now());
        probe.add_one();
        probe.add_one();
        probe.one_done(); // the hub has handed it out
        assert_eq!(probe.took(), None);
        probe.one_done();
        assert_eq!(probe.took(), None);
        probe.one_done();
        assert!(probe.took().is_some());
    }

    #[test]
    fn without_recipients_it_ends_when_the_hub_lets_go() {
        let probe = Probe::new(Instant::now());
        probe.one_done();
        assert!(probe.took().is_some());
    }
}
