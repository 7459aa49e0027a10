//! The metrics: what chatd counts for Prometheus, and how it is written.
//!
//! The hub keeps the counts (it owns the state they count) and answers a
//! request for them with a [`Snapshot`], a copy of its counters made in
//! one event; whoever asked (`chatd ctl metrics`, the HTTP endpoint) adds the
//! [`process`] figures and writes the text with [`render`], off the hub.
//! Nothing here does I/O but [`process::read`]; [`exposition`] is the text
//! format, [`histogram`] the buckets, [`http`] the endpoint's requests and
//! responses, [`probe`] how a line is followed to its last write.
//!
//! Every label's values are fixed by the code (reasons, bounds, commands): no
//! room name or nickname is ever a label, so the number of series is bounded.

pub mod exposition;
pub mod histogram;
pub mod http;
pub mod probe;
pub mod process;

use exposition::{Exposition, Kind};
pub use histogram::Histogram;
pub use probe::Probe;
use process::Process;

/// Upper bounds of the round-duration buckets, in seconds: 10 µs to 1 s.
pub const ROUND_BUCKETS: &[&str] = &[
    "0.00001", "0.000025", "0.00005", "0.0001", "0.00025", "0.0005", "0.001", "0.0025", "0.005",
    "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1",
];

/// Upper bounds of the line-latency buckets, in seconds: 100 µs to 10 s.
pub const LATENCY_BUCKETS: &[&str] = &[
    "0.0001", "0.00025", "0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1",
    "0.25", "0.5", "1", "2.5", "5", "10",
];

/// The hub's counts at one moment: what it answers a request for the
/// metrics with. Counters count since the start; the rest is now.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    /// Connections at the nickname prompt.
    pub at_prompt: usize,
    /// Connections signed in.
    pub signed_in: usize,
    /// Connections admitted (past the limits and the ban list).
    pub accepted: u64,
    /// Connections turned away, by reason.
    pub rejected: Vec<(&'static str, u64)>,
    /// Nicknames taken at sign-in.
    pub sign_ins: u64,
    /// Chat lines and commands from signed-in users.
    pub lines_in: u64,
    /// Lines queued to recipients.
    pub deliveries: u64,
    /// Their bytes.
    pub delivered_bytes: u64,
    /// Clients dropped as too slow, by the bound they crossed.
    pub slow_drops: Vec<(&'static str, u64)>,
    /// Clients over the soft bound of their send queue now.
    pub slow_clients: usize,
    /// Lines flood control held back.
    pub flood_holds: u64,
    /// Moderation actions carried out, by command.
    pub moderation: Vec<(&'static str, u64)>,
    /// Bans in force.
    pub bans: usize,
    /// Mutes in force (addresses and ranges).
    pub mutes: usize,
    /// Rooms besides the lobby.
    pub rooms: usize,
    /// Members of the largest room, the lobby included.
    pub largest_room: usize,
    /// Bytes waiting in every send queue now.
    pub queued_bytes: u64,
    /// The largest send queue now, in bytes.
    pub largest_queue_bytes: usize,
    /// The largest send queue since the start, in bytes.
    pub peak_queue_bytes: usize,
    /// Config reloads, by result.
    pub reloads: Vec<(&'static str, u64)>,
    /// How long the hub's rounds took.
    pub rounds: Histogram,
    /// From a sampled line's arrival to its last write.
    pub line_latency: Histogram,
}

/// Everything [`render`] writes besides the hub's snapshot.
#[derive(Debug, Clone, Default)]
pub struct Outside {
    /// Events waiting for the hub when the request was made.
    pub hub_queue: usize,
    /// The process's figures, when `/proc` could be read.
    pub process: Option<Process>,
}

/// The metrics in Prometheus's text format 0.0.4.
pub fn render(snapshot: &Snapshot, outside: &Outside) -> String {
    let s = snapshot;
    let mut out = Exposition::new();
    out.family(
        "chatd_build_info",
        Kind::Gauge,
        "Always 1; the version of chatd running, as a label.",
    );
    out.sample(
        "chatd_build_info",
        &[("version", env!("CARGO_PKG_VERSION"))],
        1u64,
    );
    out.labelled(
        "chatd_connections",
        Kind::Gauge,
        "Connections now: at the nickname prompt, or signed in.",
        "state",
        &[("prompt", s.at_prompt), ("signed_in", s.signed_in)],
    );
    out.single(
        "chatd_connections_accepted_total",
        Kind::Counter,
        "Connections admitted: past max_clients, max_clients_per_ip and the bans, and given the banner.",
        s.accepted,
    );
    out.labelled(
        "chatd_connections_rejected_total",
        Kind::Counter,
        "Connections turned away (full: max_clients; per_address: max_clients_per_ip; banned) or closed at the prompt (login_timeout).",
        "reason",
        &s.rejected,
    );
    out.single(
        "chatd_sign_ins_total",
        Kind::Counter,
        "Connections that picked a nickname and joined the lobby.",
        s.sign_ins,
    );
    out.single(
        "chatd_lines_in_total",
        Kind::Counter,
        "Chat lines and commands received from signed-in users.",
        s.lines_in,
    );
    out.single(
        "chatd_deliveries_total",
        Kind::Counter,
        "Lines queued to recipients (one per recipient).",
        s.deliveries,
    );
    out.single(
        "chatd_delivered_bytes_total",
        Kind::Counter,
        "Bytes of the lines queued to recipients.",
        s.delivered_bytes,
    );
    out.labelled(
        "chatd_slow_clients_dropped_total",
        Kind::Counter,
        "Clients dropped as too slow: a push over send_queue_hard_bytes (hard), or over send_queue_bytes and reading nothing for send_queue_grace_secs (soft_grace).",
        "bound",
        &s.slow_drops,
    );
    out.single(
        "chatd_slow_clients",
        Kind::Gauge,
        "Clients whose send queue is over send_queue_bytes now.",
        s.slow_clients,
    );
    out.single(
        "chatd_flood_holds_total",
        Kind::Counter,
        "Lines flood control held back until the sender had a token again.",
        s.flood_holds,
    );
    out.labelled(
        "chatd_moderation_actions_total",
        Kind::Counter,
        "Moderation actions carried out, by operators in the room or chatd ctl.",
        "action",
        &s.moderation,
    );
    out.single("chatd_bans", Kind::Gauge, "Bans in force.", s.bans);
    out.single("chatd_mutes", Kind::Gauge, "Mutes in force.", s.mutes);
    out.single(
        "chatd_rooms",
        Kind::Gauge,
        "Rooms besides the lobby.",
        s.rooms,
    );
    out.single(
        "chatd_room_members_max",
        Kind::Gauge,
        "Signed-in members of the largest room, the lobby included.",
        s.largest_room,
    );
    out.single(
        "chatd_send_queue_bytes",
        Kind::Gauge,
        "Bytes waiting in every client's send queue now.",
        s.queued_bytes,
    );
    out.single(
        "chatd_send_queue_largest_bytes",
        Kind::Gauge,
        "Bytes waiting in the largest send queue now.",
        s.largest_queue_bytes,
    );
    out.single(
        "chatd_send_queue_peak_bytes",
        Kind::Gauge,
        "The largest send queue since the start, in bytes (the health line's peak_queue_bytes).",
        s.peak_queue_bytes,
    );
    out.single(
        "chatd_hub_queue_events",
        Kind::Gauge,
        "Events waiting for the hub (at most 1024; readers wait while it is full).",
        outside.hub_queue,
    );
    out.labelled(
        "chatd_reloads_total",
        Kind::Counter,
        "Config reloads (SIGHUP, chatd ctl reload), by result.",
        "result",
        &s.reloads,
    );
    out.histogram(
        "chatd_round_duration_seconds",
        "How long the hub took over a round: the events it handled at once, and queueing their lines.",
        &s.rounds,
    );
    out.histogram(
        "chatd_line_latency_seconds",
        "From a sampled chat line's arrival (read, past flood control) until every recipient's socket took it.",
        &s.line_latency,
    );
    if let Some(p) = &outside.process {
        render_process(&mut out, p);
    }
    out.finish()
}

/// The standard process families, named as every Prometheus client names them.
fn render_process(out: &mut Exposition, p: &Process) {
    out.single(
        "process_cpu_seconds_total",
        Kind::Counter,
        "Total user and system CPU time spent in seconds.",
        p.cpu_seconds,
    );
    out.single(
        "process_resident_memory_bytes",
        Kind::Gauge,
        "Resident memory size in bytes.",
        p.resident_bytes,
    );
    out.single(
        "process_virtual_memory_bytes",
        Kind::Gauge,
        "Virtual memory size in bytes.",
        p.virtual_bytes,
    );
    out.single(
        "process_open_fds",
        Kind::Gauge,
        "Number of open file descriptors.",
        p.open_fds,
    );
    let max = if p.max_fds == u64::MAX {
        exposition::Number::Float(f64::INFINITY)
    } else {
        exposition::Number::Int(p.max_fds)
    };
    out.single(
        "process_max_fds",
        Kind::Gauge,
        "Maximum number of open file descriptors.",
        max,
    );
    out.single(
        "process_start_time_seconds",
        Kind::Gauge,
        "Start time of the process since unix epoch in seconds.",
        p.start_time_seconds,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot() -> Snapshot {
        Snapshot {
            at_prompt: 1,
            signed_in: 2,
            accepted: 3,
            rejected: vec![("full", 0), ("per_address", 1)],
            sign_ins: 2,
            lines_in: 5,
            deliveries: 9,
            delivered_bytes: 300,
            slow_drops: vec![("hard", 0), ("soft_grace", 0)],
            slow_clients: 0,
            flood_holds: 0,
            moderation: vec![("kick", 1)],
            bans: 0,
            mutes: 0,
            rooms: 0,
            largest_room: 2,
            queued_bytes: 0,
            largest_queue_bytes: 0,
            peak_queue_bytes: 120,
            reloads: vec![("applied", 0), ("refused", 0)],
            rounds: Histogram::new(ROUND_BUCKETS),
            line_latency: Histogram::new(LATENCY_BUCKETS),
        }
    }

    #[test]
    fn every_family_has_help_and_type_and_the_text_ends_in_a_line_feed() {
        let text = render(
            &snapshot(),
            &Outside {
                hub_queue: 0,
                process: process::read(),
            },
        );
        assert!(text.ends_with('\n'));
        let mut declared = Vec::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                declared.push(rest.split(' ').next().unwrap().to_owned());
            } else if !line.starts_with("# HELP ") {
                let name = line.split(['{', ' ']).next().unwrap();
                let family = ["_bucket", "_sum", "_count"]
                    .iter()
                    .find_map(|s| name.strip_suffix(s))
                    .filter(|f| declared.last().is_some_and(|d| d == f))
                    .unwrap_or(name);
                assert_eq!(declared.last().map(String::as_str), Some(family), "{line}");
            }
        }
        assert!(text.contains("\nchatd_connections{state=\"signed_in\"} 2\n"));
        assert!(text.contains("\nchatd_connections_rejected_total{reason=\"per_address\"} 1\n"));
        assert!(text.contains("\nchatd_round_duration_seconds_bucket{le=\"+Inf\"} 0\n"));
        assert!(text.starts_with("# HELP chatd_build_info "));
    }

    #[test]
    fn an_unlimited_descriptor_limit_is_infinite() {
        let process = Process {
            max_fds: u64::MAX,
            ..Process::default()
        };
        let outside = Outside {
            hub_queue: 0,
            process: Some(process),
        };
        assert!(render(&snapshot(), &outside).contains("\nprocess_max_fds +Inf\n"));
    }

    #[test]
    fn without_proc_the_process_families_are_left_out() {
        let text = render(&snapshot(), &Outside::default());
        assert!(!text.contains("process_"));
    }
}
