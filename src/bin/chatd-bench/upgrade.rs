//! `--scenario upgrade`: a live upgrade under load. N registered clients
//! (10,000; `--clients`) sit in 100 rooms (`--rooms`); in the first few rooms
//! one member chats at a steady pace, every line numbered. Once the chat runs,
//! the bench asks the server to `upgrade` (to its own binary) over the control
//! socket, lets the chat run on, and then checks every line: each reached every
//! other member of its room once and in order, and nobody was disconnected.
//!
//! It reports how long deliveries stopped (the longest time, overlapping the
//! request, in which no client got a line), the longest any one client went
//! without a line across the upgrade, and what the server answered: the
//! connections it kept, the pause it measured itself and the size of its state.
//! It fails (exit status 1) if anything was lost, doubled or reordered, a client
//! was disconnected, or the upgrade was not done.

use std::cell::RefCell;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::rc::Rc;
use std::time::{Duration, Instant};

use chatd::control::{self, Reply};
use smol::io::AsyncWriteExt;
use smol::net::TcpStream;
use smol::{LocalExecutor, Timer};

use crate::client::each_read;
use crate::target::{Target, start_server};
use crate::{Outcome, THROUGHPUT_TUNING, rooms};

/// Rooms with a talker, at most: "a few senders".
const TALKERS: usize = 10;
/// Each talker's pace, lines per second.
const RATE: f64 = 20.0;
/// Chat before the request, and after the answer, before the talkers stop
/// (with `--quick`, a second each).
const BEFORE: Duration = Duration::from_secs(2);
const AFTER: Duration = Duration::from_secs(3);
/// How long the upgrade's answer may take.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(60);

/// What the upgrade scenario measured, beside what every scenario reports.
#[derive(Debug, Default, Clone)]
pub struct Figures {
    /// The longest time, overlapping the request, in which no client got a line.
    pub pause_ms: f64,
    /// The longest any one client went without a line, across the upgrade.
    pub max_gap_ms: f64,
    /// The server's own answer: connections kept, its pause, its state.
    pub kept: u64,
    pub server_pause_ms: f64,
    pub state_bytes: u64,
}

/// What one client saw.
#[derive(Default)]
struct Seen {
    /// The next number due from each talker heard.
    next: HashMap<String, u64>,
    /// When each read with chat lines in it arrived (µs since the start).
    reads: Vec<u64>,
    doubled_or_reordered: u64,
    skipped: u64,
    /// When the connection ended, if it did (µs since the start).
    closed_at: Option<u64>,
}

pub fn run(clients: usize, room_count: usize, quick: bool, target: &Target) -> Outcome {
    let (before, after) = if quick {
        (Duration::from_secs(1), Duration::from_secs(1))
    } else {
        (BEFORE, AFTER)
    };
    let dir = std::env::temp_dir().join(format!("chatd-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let socket = dir.join("upgrade-control.sock");
    let tuning = format!(
        "{THROUGHPUT_TUNING}max_rooms = {}\ncontrol_socket = \"{}\"\n",
        room_count.max(1),
        socket.display()
    );
    let groups = rooms::layout(clients, room_count);
    let talkers = groups.len().min(TALKERS);
    eprintln!(
        "scenario upgrade: {clients} clients in {} rooms, {talkers} of them talk at {RATE}/s; \
         upgrade after {}s, then {}s more",
        groups.len(),
        before.as_secs(),
        after.as_secs()
    );
    let server = start_server(clients + 1, target, &tuning);
    let (addr, pid) = (server.addr, server.child.id());
    let ex = LocalExecutor::new();
    let phases = (before, after);
    let outcome = smol::block_on(ex.run(drive(&ex, addr, pid, &socket, &groups, talkers, phases)));
    drop(server);
    outcome
}

async fn drive(
    ex: &LocalExecutor<'_>,
    addr: SocketAddr,
    pid: u32,
    socket: &Path,
    groups: &[rooms::Group],
    talkers: usize,
    (before, after): (Duration, Duration),
) -> Outcome {
    let start = Instant::now();
    let mut errors = 0u64;
    // Sign in, in small parallel groups, and read from the start.
    let mut seats = Vec::new();
    for (g, group) in groups.iter().enumerate() {
        for _ in 0..group.clients {
            seats.push(g);
        }
    }
    let mut members: Vec<Vec<(String, TcpStream)>> = groups.iter().map(|_| Vec::new()).collect();
    // Each client's room, nickname and what it saw.
    let mut seen: Vec<(usize, String, Rc<RefCell<Seen>>)> = Vec::new();
    let mut readers = Vec::new();
    for (chunk_start, chunk) in seats.chunks(100).enumerate().map(|(c, s)| (c * 100, s)) {
        let tasks: Vec<_> = (chunk.iter().enumerate())
            .map(|(k, &g)| {
                let nick = format!("c{}", chunk_start + k);
                let room = groups[g].room.clone();
                let task = ex.spawn(rooms::sign_in(addr, Some(nick.clone()), room));
                (g, nick, task)
            })
            .collect();
        for (g, nick, task) in tasks {
            match task.await {
                Ok(stream) => {
                    let client = Rc::new(RefCell::new(Seen::default()));
                    readers.push(ex.spawn(receive(stream.clone(), Rc::clone(&client), start)));
                    seen.push((g, nick.clone(), client));
                    members[g].push((nick, stream));
                }
                Err(err) => {
                    eprintln!("sign-in failed: {err}");
                    errors += 1;
                }
            }
        }
    }
    let signed_in = seen.len();
    eprintln!(
        "  {signed_in} clients registered and in their rooms in {:.1}s",
        start.elapsed().as_secs_f64()
    );

    // Each of the first rooms' first member talks until told to stop, each
    // at its own offset, so that some client gets a line every
    // 1 / (RATE x talkers) s: the resolution of the pause measured.
    let stop = Rc::new(std::cell::Cell::new(false));
    let talking: Vec<_> = (members.iter().take(talkers).enumerate())
        .filter_map(|(i, room)| room.first().map(|talker| (i, talker)))
        .map(|(i, (nick, stream))| {
            let (stream, stop) = (stream.clone(), Rc::clone(&stop));
            let offset = Duration::from_secs_f64(i as f64 / (RATE * talkers as f64));
            (nick.clone(), ex.spawn(talk(stream, stop, offset, start)))
        })
        .collect();
    Timer::after(before).await;
    let request_us = micros(start);
    let path = socket.to_path_buf();
    let answer = smol::unblock(move || control::request(&path, "upgrade", ANSWER_TIMEOUT)).await;
    let answer_us = micros(start);
    let mut figures = Figures::default();
    match answer {
        Ok(Reply::Done(text)) => {
            eprintln!(
                "  the server answered: {}",
                text.trim_end().replace('\n', "; ")
            );
            match parse_answer(&text) {
                Some((kept, pause_ms, state_bytes)) => {
                    figures.kept = kept;
                    figures.server_pause_ms = pause_ms;
                    figures.state_bytes = state_bytes;
                    if kept != signed_in as u64 {
                        eprintln!("  the server kept {kept} connections of {signed_in}");
                        errors += 1;
                    }
                }
                None => {
                    eprintln!("  an answer not in the form `upgraded to chatd …`: {text:?}");
                    errors += 1;
                }
            }
        }
        other => {
            eprintln!("  the upgrade was not done: {other:?}");
            errors += 1;
        }
    }
    if !process_alive(pid) {
        eprintln!("  the server's process {pid} is gone");
        errors += 1;
    }
    Timer::after(after).await;
    stop.set(true);
    let mut sent: HashMap<String, u64> = HashMap::new();
    for (nick, task) in talking {
        match task.await {
            Ok(count) => {
                sent.insert(nick, count);
            }
            Err(err) => {
                eprintln!("talker {nick} failed: {err}");
                errors += 1;
            }
        }
    }
    // Every talker's room mates are due every line it sent.
    let due: Vec<(usize, &String, u64)> = (members.iter().enumerate())
        .filter_map(|(g, room)| room.first().map(|(nick, _)| (g, nick)))
        .filter_map(|(g, nick)| sent.get(nick).map(|&n| (g, nick, n)))
        .collect();
    let expected: u64 = due
        .iter()
        .map(|&(g, _, n)| n * (members[g].len() as u64 - 1))
        .sum();
    // Wait (bounded) until every due line arrived.
    let delivered = || -> u64 {
        (seen.iter())
            .map(|(_, _, s)| s.borrow().next.values().sum::<u64>())
            .sum()
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while delivered() < expected && Instant::now() < deadline {
        Timer::after(Duration::from_millis(20)).await;
    }
    let end_us = micros(start);
    let (mut skipped, mut doubled, mut short, mut disconnected) = (0u64, 0u64, 0u64, 0u64);
    let mut all_reads = Vec::new();
    let mut max_gap = 0u64;
    for (g, nick, client) in &seen {
        let s = client.borrow();
        skipped += s.skipped;
        doubled += s.doubled_or_reordered;
        if s.closed_at.is_some() {
            disconnected += 1;
        }
        // A talker's room mates are due all its lines; the talker none.
        if let Some(&(_, talker, count)) = due.iter().find(|(room, _, _)| room == g)
            && talker != nick
        {
            short += count.saturating_sub(s.next.get(talker).copied().unwrap_or(0));
        }
        // The longest this client waited for a line, across the upgrade.
        for pair in s.reads.windows(2) {
            if pair[1] >= request_us && pair[0] <= answer_us {
                max_gap = max_gap.max(pair[1] - pair[0]);
            }
        }
        all_reads.extend_from_slice(&s.reads);
    }
    all_reads.sort_unstable();
    let pause = (all_reads.windows(2))
        .filter(|pair| pair[1] >= request_us && pair[0] <= answer_us)
        .map(|pair| pair[1] - pair[0])
        .max()
        .unwrap_or(0);
    figures.pause_ms = pause as f64 / 1000.0;
    figures.max_gap_ms = max_gap as f64 / 1000.0;
    let delivered = delivered();
    let lines: u64 = sent.values().sum();
    println!(
        "upgrade: {signed_in} clients; the server kept {} connections, paused {:.2} s by its \
         own count, state {} bytes",
        figures.kept,
        figures.server_pause_ms / 1000.0,
        figures.state_bytes
    );
    println!(
        "upgrade: the answer came {:.3} s after the request; deliveries stopped for {:.3} s \
         (a line is due every {:.3} s); the longest any client waited across it: {:.3} s \
         (one is due every {:.3} s)",
        (answer_us - request_us) as f64 / 1e6,
        figures.pause_ms / 1000.0,
        1.0 / (RATE * talkers.max(1) as f64),
        figures.max_gap_ms / 1000.0,
        1.0 / RATE
    );
    println!(
        "upgrade: {lines} lines sent, {delivered} of {expected} deliveries, {short} missing, \
         {skipped} skipped, {doubled} doubled or out of order, {disconnected} disconnected"
    );
    errors += short + skipped + doubled + disconnected;
    drop(readers);
    let seconds = (end_us - request_us) as f64 / 1e6;
    Outcome {
        name: "upgrade".into(),
        clients: signed_in,
        deliveries: delivered,
        expected,
        seconds,
        deliveries_per_sec: delivered as f64 / seconds.max(1e-6),
        max_ms: figures.max_gap_ms,
        errors,
        upgrade: Some(figures),
        ..Outcome::default()
    }
}

fn micros(start: Instant) -> u64 {
    start.elapsed().as_micros() as u64
}

fn process_alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

/// `upgraded to chatd X.Y.Z: N connections kept, paused S.SS s` and
/// `state: B bytes`: N, the pause in ms and B.
fn parse_answer(text: &str) -> Option<(u64, f64, u64)> {
    let mut lines = text.lines();
    let first = lines.next()?.strip_prefix("upgraded to chatd ")?;
    let (_version, rest) = first.split_once(": ")?;
    let (kept, rest) = rest.split_once(" connections kept, paused ")?;
    let pause: f64 = rest.strip_suffix(" s")?.parse().ok()?;
    let state = lines
        .next()?
        .strip_prefix("state: ")?
        .strip_suffix(" bytes")?;
    Some((kept.parse().ok()?, pause * 1000.0, state.parse().ok()?))
}

/// After `offset`, sends `t=<µs since start> n=<k>` lines at [`RATE`] until
/// `stop`; returns how many.
async fn talk(
    mut stream: TcpStream,
    stop: Rc<std::cell::Cell<bool>>,
    offset: Duration,
    start: Instant,
) -> std::io::Result<u64> {
    Timer::after(offset).await;
    let began = Instant::now();
    let mut sent = 0u64;
    while !stop.get() {
        let line = format!("t={} n={sent}\n", micros(start));
        stream.write_all(line.as_bytes()).await?;
        sent += 1;
        Timer::at(began + Duration::from_secs_f64(sent as f64 / RATE)).await;
    }
    Ok(sent)
}

/// Reads everything a client gets; checks each talker's numbers come in order
/// and once each, and notes when chat arrived and whether the connection ended.
async fn receive(stream: TcpStream, seen: Rc<RefCell<Seen>>, start: Instant) {
    let mut partial: Vec<u8> = Vec::new();
    each_read(stream, start, |read, now_us| {
        partial.extend_from_slice(read);
        let mut s = seen.borrow_mut();
        let mut chat = false;
        let mut from = 0;
        while let Some(end) = partial[from..].iter().position(|&b| b == b'\n') {
            let line = &partial[from..from + end];
            from += end + 1;
            if let Some((nick, n)) = numbered(line) {
                chat = true;
                let next = s.next.entry(nick).or_insert(0);
                if n == *next {
                    *next += 1;
                } else if n > *next {
                    let gap = n - *next;
                    *next = n + 1;
                    s.skipped += gap;
                } else {
                    s.doubled_or_reordered += 1;
                }
            }
        }
        partial.drain(..from);
        if chat {
            s.reads.push(now_us);
        }
    })
    .await;
    seen.borrow_mut().closed_at = Some(micros(start));
}

/// `> NICK: t=… n=K` (a chat line, with or without its `\r`): NICK and K.
fn numbered(line: &[u8]) -> Option<(String, u64)> {
    let text = std::str::from_utf8(line.strip_prefix(b"> ")?).ok()?;
    let (nick, said) = text.trim_end_matches('\r').split_once(": ")?;
    let n = said.strip_prefix("t=")?.split_once(" n=")?.1;
    Some((nick.to_owned(), n.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_answer_is_read_as_chatd_writes_it() {
        assert_eq!(
            parse_answer(
                "upgraded to chatd 0.1.0: 10000 connections kept, paused 0.42 s\nstate: 12345 bytes\n"
            ),
            Some((10000, 420.0, 12345))
        );
        assert_eq!(parse_answer("upgrade refused: already upgrading\n"), None);
    }

    #[test]
    fn numbered_lines_are_read_and_others_are_not() {
        assert_eq!(numbered(b"> c12: t=123 n=7\r"), Some(("c12".to_owned(), 7)));
        assert_eq!(numbered(b"* server upgraded\r"), None);
        assert_eq!(numbered(b"> c12: hello\r"), None);
    }
}
