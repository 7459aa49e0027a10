//! The room's once-a-second tick: connections that did not sign in in time are
//! closed, the health line is logged every `stats_interval_secs`, and systemd
//! gets its status and watchdog pings.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crate::info;

use super::{Room, block};

impl Room {
    pub(super) fn tick(&mut self) {
        let now = Instant::now();
        self.close_late_logins(now);
        self.expire_bans();
        let interval = self.config.stats_interval_secs;
        if interval > 0 && now.duration_since(self.last_health) >= Duration::from_secs(interval) {
            self.last_health = now;
            self.log_health();
        }
        let stopping = self.shutting_down;
        let (clients, registered) = (self.members.len(), self.members.registered());
        self.heartbeat.tick(now, clients, registered, stopping);
    }

    /// Closes, with a notice, every connection whose time to sign in is up.
    fn close_late_logins(&mut self, now: Instant) {
        while let Some(&(deadline, id)) = self.login_deadlines.front() {
            if deadline > now {
                break;
            }
            self.login_deadlines.pop_front();
            let Some(member) = self.members.get(id) else {
                continue;
            };
            if member.nick.is_some() {
                continue;
            }
            info!(
                "rejected {}: no nickname after {}s",
                member.peer, self.config.login_timeout_secs
            );
            self.shared.rejections.fetch_add(1, Ordering::Relaxed);
            let notice = self.texts.login_timeout(self.config.login_timeout_secs);
            member.outbox.push_final(block(notice));
            member.outbox.close();
            self.members.remove(id);
        }
    }

    pub(super) fn log_health(&self) {
        info!("health: {}", self.health());
    }

    /// The health counters now, as the health line and `ctl stats` show them.
    pub(super) fn health(&self) -> String {
        format!(
            "clients={} registered={} lines_in={} deliveries={} slow_drops={} rejections={} peak_queue_bytes={} uptime={}s",
            self.members.len(),
            self.members.registered(),
            self.summary.lines_in,
            self.fanout.deliveries,
            self.summary.slow_drops,
            self.shared.rejections.load(Ordering::Relaxed),
            self.fanout.peak_queue_bytes,
            self.started.elapsed().as_secs()
        )
    }
}
