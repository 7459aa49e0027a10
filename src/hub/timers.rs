//! The hub's once-a-second tick: connections that did not sign in in time are
//! closed, a big room's joins and leaves are summarized, clients that stopped reading while over the soft bound of their send
//! queue are marked too slow, the health line is logged every
//! `stats_interval_secs`, and systemd gets its status and watchdog pings.

use std::time::{Duration, Instant};

use crate::{debug, info};

use super::backlog::{Overflow, Verdict};
use super::{Hub, Rejection, block};

impl Hub {
    pub(super) fn tick(&mut self) {
        let now = Instant::now();
        self.close_late_logins(now);
        self.check_backlogs(now);
        self.expire_bans();
        self.announce_presence(now);
        let interval = self.config.stats_interval_secs;
        if interval > 0 && now.duration_since(self.last_health) >= Duration::from_secs(interval) {
            self.last_health = now;
            self.log_health();
        }
        let stopping = self.shutting_down;
        let (clients, registered) = (self.members.len(), self.members.registered());
        let rooms = self.rooms.made();
        self.heartbeat
            .tick(now, clients, registered, rooms, stopping);
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
            self.shared.rejected(Rejection::LoginTimeout);
            let notice = self.texts.login_timeout(self.config.login_timeout_secs);
            member.outbox.push_final(block(notice));
            member.outbox.close();
            self.members.remove(id);
        }
    }

    /// Looks at each client over the soft bound (only those: the watch list):
    /// back under it, it is no longer watched; stalled for the grace time, it is
    /// marked too slow, and dropped at the end of this round.
    pub(super) fn check_backlogs(&mut self, now: Instant) {
        let bounds = self.bounds;
        let members = &self.members;
        let too_slow = &mut self.fanout.too_slow;
        self.fanout.backlogs.retain(|&id, backlog| {
            let Some(member) = members.get(id) else {
                return false; // Gone already; `remove` normally takes it off.
            };
            match backlog.check(&bounds, member.outbox.progress(), now) {
                Verdict::Keep => true,
                Verdict::Under(over_for) => {
                    debug!(
                        "send queue of {} {:?} under {} bytes again after {:.1} s over",
                        member.peer,
                        member.nick.as_deref().unwrap_or(""),
                        bounds.soft,
                        over_for.as_secs_f64()
                    );
                    false
                }
                Verdict::Stalled => {
                    too_slow.push((id, Overflow::Stalled));
                    false
                }
            }
        });
    }

    pub(super) fn log_health(&self) {
        info!("health: {}", self.health());
    }

    /// The health counters now, as the health line and `ctl stats` show them.
    pub(super) fn health(&self) -> String {
        format!(
            "clients={} registered={} rooms={} lines_in={} deliveries={} slow_drops={} rejections={} peak_queue_bytes={} uptime={}s",
            self.members.len(),
            self.members.registered(),
            self.rooms.made(),
            self.summary.lines_in,
            self.fanout.deliveries,
            self.summary.slow_drops,
            self.shared.rejections(),
            self.fanout.peak_queue_bytes,
            self.started.elapsed().as_secs()
        )
    }
}
