//! `--scenario soak`: the room under mixed, churning load for `--minutes N`,
//! sampled at a steady interval (once a minute; every 2 s with `--quick`): the
//! server's RSS, its open descriptors, and the deliveries since the last sample.
//!
//! The load: readers that read everything, talkers at a steady pace, a flooder
//! held back by flood control, clients that sign in, talk and `/quit` (half of
//! them in rooms they make, so rooms come and go), clients
//! that connect and vanish before signing in, and slow readers that never read
//! until they give up. It fails if memory or descriptors keep growing after the
//! warm-up, or if descriptors do not come back once the load is gone: what a
//! leak looks like.

use std::cell::Cell;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use smol::io::{AsyncReadExt, AsyncWriteExt};
use smol::net::TcpStream;
use smol::{LocalExecutor, Timer, future};

use crate::Outcome;
use crate::client::register;
use crate::target::{Target, rss_kib, start_server};

/// Readers, talkers and slow readers present all the time.
const READERS: usize = 30;
const TALKERS: usize = 8;
const SLOW_READERS: usize = 2;
/// Each talker's pace: 2.5 lines/s, under the flood limit below.
const TALK_EVERY: Duration = Duration::from_millis(400);
/// A slow reader holds its connection this long without reading, then leaves.
const SLOW_HOLD: Duration = Duration::from_secs(30);
/// The flooder's bursts (see [`flooder`]): 20 of the 30 wait for tokens, 4 s.
const FLOOD_LINES: usize = 30;
const FLOOD_EVERY: Duration = Duration::from_secs(10);
/// Pauses between churn connections, per churning loop.
const CHURN_EVERY: Duration = Duration::from_millis(100);

/// The server's settings for the soak: flood control on, a small send queue so
/// slow readers reach it, history on.
const CONFIG: &str = "flood_burst = 10\nflood_lines_per_sec = 5\nsend_queue_bytes = 65536\n\
                      history = 20\n";

/// What the load counts between samples.
#[derive(Default)]
struct Counts {
    deliveries: Cell<u64>,
    connects: Cell<u64>,
    errors: Cell<u64>,
}

/// One sample of the server.
struct Sample {
    rss_kib: u64,
    fds: usize,
    deliveries: u64,
    connects: u64,
}

pub fn run(minutes: f64, quick: bool, target: &Target) -> Outcome {
    let interval = if quick {
        Duration::from_secs(2)
    } else {
        Duration::from_secs(60)
    };
    let total = Duration::from_secs_f64(minutes * 60.0);
    eprintln!(
        "scenario soak: {minutes} minutes, a sample every {}s",
        interval.as_secs()
    );
    let server = start_server(READERS + TALKERS + SLOW_READERS + 16, target, CONFIG);
    let pid = server.child.id();
    let ex = LocalExecutor::new();
    let outcome = smol::block_on(ex.run(drive(&ex, server.addr, pid, total, interval)));
    drop(server);
    outcome
}

async fn drive(
    ex: &LocalExecutor<'_>,
    addr: SocketAddr,
    pid: u32,
    total: Duration,
    interval: Duration,
) -> Outcome {
    let counts = Rc::new(Counts::default());
    let stop = Rc::new(Cell::new(false));
    let fds_before = idle_fds(addr, pid).await;
    let rss_before = rss_kib(pid);
    let start = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..READERS {
        tasks.push(ex.spawn(reader(addr, format!("reader{i}"), Rc::clone(&counts))));
    }
    for i in 0..TALKERS {
        let (counts, stop) = (Rc::clone(&counts), Rc::clone(&stop));
        tasks.push(ex.spawn(talker(addr, i, counts, stop)));
    }
    for i in 0..SLOW_READERS {
        let (counts, stop) = (Rc::clone(&counts), Rc::clone(&stop));
        tasks.push(ex.spawn(slow_reader(addr, i, counts, stop)));
    }
    for i in 0..4 {
        let (counts, stop) = (Rc::clone(&counts), Rc::clone(&stop));
        tasks.push(ex.spawn(churn(addr, i, counts, stop)));
    }
    {
        let (counts, stop) = (Rc::clone(&counts), Rc::clone(&stop));
        tasks.push(ex.spawn(vanisher(addr, counts, stop)));
    }
    {
        let (counts, stop) = (Rc::clone(&counts), Rc::clone(&stop));
        tasks.push(ex.spawn(flooder(addr, counts, stop)));
    }

    println!("soak   minute    rss_kib      fds   deliveries   connects");
    let mut samples = Vec::new();
    let mut taken = (0u64, 0u64);
    while start.elapsed() < total {
        Timer::after(interval.min(total.saturating_sub(start.elapsed()))).await;
        let now = (counts.deliveries.get(), counts.connects.get());
        let sample = Sample {
            rss_kib: rss_kib(pid),
            fds: open_fds(pid),
            deliveries: now.0 - taken.0,
            connects: now.1 - taken.1,
        };
        taken = now;
        println!(
            "soak {:>8.1} {:>10} {:>8} {:>12} {:>10}",
            start.elapsed().as_secs_f64() / 60.0,
            sample.rss_kib,
            sample.fds,
            sample.deliveries,
            sample.connects
        );
        samples.push(sample);
    }

    // The load goes; every descriptor it held must come back.
    stop.set(true);
    drop(tasks);
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut fds_after = open_fds(pid);
    while fds_after > fds_before && Instant::now() < deadline {
        Timer::after(Duration::from_millis(50)).await;
        fds_after = open_fds(pid);
    }
    let mut failures = counts.errors.get();
    if fds_after > fds_before {
        eprintln!(
            "soak: {fds_after} descriptors open after the load, {fds_before} before: {:?}",
            fd_targets(pid)
        );
        failures += 1;
    }
    failures += u64::from(keeps_growing("RSS", &samples, |s| s.rss_kib, 1024));
    failures += u64::from(keeps_growing("descriptors", &samples, |s| s.fds as u64, 16));
    let deliveries: u64 = samples.iter().map(|s| s.deliveries).sum();
    let seconds = start.elapsed().as_secs_f64();
    Outcome {
        name: "soak".into(),
        clients: READERS + TALKERS + SLOW_READERS,
        deliveries,
        expected: deliveries,
        seconds,
        deliveries_per_sec: deliveries as f64 / seconds,
        rss_before_kib: rss_before,
        rss_after_kib: samples.last().map_or(rss_before, |s| s.rss_kib),
        errors: failures,
        ..Outcome::default()
    }
}

/// Whether `figure` keeps growing: after the first fifth of the samples (the
/// warm-up), every value of the second half of the rest is above every value of
/// the first half, and the last is above the first by more than `slack` (so
/// that a figure that settles, or wobbles by a page, is not growth). Too few
/// samples to tell (fewer than four after the warm-up) is not growth.
fn keeps_growing(
    what: &str,
    samples: &[Sample],
    figure: impl Fn(&Sample) -> u64,
    slack: u64,
) -> bool {
    let after_warm_up = &samples[(samples.len() / 5).max(1).min(samples.len())..];
    if after_warm_up.len() < 4 {
        eprintln!("soak: too few samples to judge {what} growth");
        return false;
    }
    let (first, second) = after_warm_up.split_at(after_warm_up.len() / 2);
    let high_first = first.iter().map(&figure).max().unwrap_or(0);
    let low_second = second.iter().map(&figure).min().unwrap_or(0);
    let start = figure(&after_warm_up[0]);
    let end = figure(&after_warm_up[after_warm_up.len() - 1]);
    let growing = low_second > high_first && end > start + slack;
    if growing {
        eprintln!(
            "soak: {what} keeps growing: from {start} to {end}, at least {low_second} late, \
             at most {high_first} early"
        );
    }
    growing
}

/// The server's descriptors while idle, measured after one connection has
/// come and gone: its event loop makes its own descriptors at the first
/// connection, and those are not a leak.
async fn idle_fds(addr: SocketAddr, pid: u32) -> usize {
    if let Ok(mut probe) = TcpStream::connect(addr).await {
        let mut buf = [0u8; 64];
        let _ = probe.read(&mut buf).await;
    }
    // The probe's socket closes a moment after ours: wait until the count
    // holds still for 100 ms (at most 2 s).
    let deadline = Instant::now() + Duration::from_secs(2);
    let mut last = open_fds(pid);
    while Instant::now() < deadline {
        Timer::after(Duration::from_millis(100)).await;
        let now = open_fds(pid);
        if now == last {
            break;
        }
        last = now;
    }
    last
}

/// What each open descriptor of `pid` is, for the failure message.
fn fd_targets(pid: u32) -> Vec<String> {
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return Vec::new();
    };
    dir.flatten()
        .map(|entry| {
            let target = std::fs::read_link(entry.path()).unwrap_or_default();
            format!(
                "{}={}",
                entry.file_name().to_string_lossy(),
                target.display()
            )
        })
        .collect()
}

fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |dir| dir.count())
}

/// Counts the `> ` lines in `data` (chat lines; a line cut by a read boundary is
/// counted where its start is, which is close enough for a rate).
fn chat_lines(data: &[u8], at_line_start: &mut bool) -> u64 {
    let mut lines = 0;
    for &b in data {
        if *at_line_start && b == b'>' {
            lines += 1;
        }
        *at_line_start = b == b'\n';
    }
    lines
}

/// Reads everything until the connection ends, counting chat lines.
async fn read_all(mut stream: TcpStream, counts: &Counts) {
    let mut buf = vec![0u8; 16 * 1024];
    let mut at_line_start = true;
    loop {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                let lines = chat_lines(&buf[..n], &mut at_line_start);
                counts.deliveries.set(counts.deliveries.get() + lines);
            }
        }
    }
}

async fn joined(addr: SocketAddr, nick: String, counts: &Counts) -> Option<TcpStream> {
    counts.connects.set(counts.connects.get() + 1);
    match register(addr, nick.clone()).await {
        Ok(stream) => Some(stream),
        Err(err) => {
            eprintln!("soak: {nick} could not sign in: {err}");
            counts.errors.set(counts.errors.get() + 1);
            None
        }
    }
}

async fn reader(addr: SocketAddr, nick: String, counts: Rc<Counts>) {
    if let Some(stream) = joined(addr, nick, &counts).await {
        read_all(stream, &counts).await;
    }
}

async fn talker(addr: SocketAddr, i: usize, counts: Rc<Counts>, stop: Rc<Cell<bool>>) {
    let Some(mut stream) = joined(addr, format!("talker{i}"), &counts).await else {
        return;
    };
    let incoming = stream.clone();
    let talking = async {
        let mut n = 0u64;
        while !stop.get() {
            n += 1;
            let line = format!("talker {i} says line {n}, with some words to carry\n");
            if stream.write_all(line.as_bytes()).await.is_err() {
                counts.errors.set(counts.errors.get() + 1);
                return;
            }
            Timer::after(TALK_EVERY).await;
        }
    };
    // A talker reads too, or it would be dropped as too slow.
    future::or(talking, read_all(incoming, &counts)).await;
}

/// Signs in and never reads, for [`SLOW_HOLD`], again and again: the server
/// queues for it up to `send_queue_bytes` and then drops it.
async fn slow_reader(addr: SocketAddr, i: usize, counts: Rc<Counts>, stop: Rc<Cell<bool>>) {
    let mut round = 0;
    while !stop.get() {
        round += 1;
        let Some(stream) = joined(addr, format!("slow{i}r{round}"), &counts).await else {
            return;
        };
        Timer::after(SLOW_HOLD).await;
        drop(stream);
    }
}

/// Signs in, says one line, `/quit`s and reads to the end, again and again.
/// Odd-numbered loops first go to one of a few rooms, which they make and
/// which goes when they leave it (or which the other loop made): rooms made
/// and removed all the time, their slots used again.
async fn churn(addr: SocketAddr, i: usize, counts: Rc<Counts>, stop: Rc<Cell<bool>>) {
    let mut round = 0u64;
    while !stop.get() {
        round += 1;
        let Some(mut stream) = joined(addr, format!("churn{i}n{round}"), &counts).await else {
            return;
        };
        let room = if i % 2 == 1 {
            format!("/join churn{}\n", round % 5)
        } else {
            String::new()
        };
        let lines = format!("{room}just passing through\n/quit bye\n");
        if stream.write_all(lines.as_bytes()).await.is_err() {
            counts.errors.set(counts.errors.get() + 1);
            return;
        }
        read_all(stream, &counts).await;
        Timer::after(CHURN_EVERY).await;
    }
}

/// Connects, reads the banner's start, and drops the connection before signing in.
async fn vanisher(addr: SocketAddr, counts: Rc<Counts>, stop: Rc<Cell<bool>>) {
    while !stop.get() {
        counts.connects.set(counts.connects.get() + 1);
        match TcpStream::connect(addr).await {
            Ok(mut stream) => {
                let mut buf = [0u8; 64];
                let _ = stream.read(&mut buf).await;
            }
            Err(err) => {
                eprintln!("soak: connect failed: {err}");
                counts.errors.set(counts.errors.get() + 1);
                return;
            }
        }
        Timer::after(CHURN_EVERY).await;
    }
}

/// Sends [`FLOOD_LINES`] lines at once every [`FLOOD_EVERY`]: three times the
/// flood limit's burst, so flood control holds most of each back. Not a
/// continuous flood: what a client has sent is delivered even after it leaves,
/// at the flood rate, so a flooder that had filled the socket buffers would keep
/// its connection for hours after the load stops, and the descriptor check at
/// the end could not tell that from a leak.
async fn flooder(addr: SocketAddr, counts: Rc<Counts>, stop: Rc<Cell<bool>>) {
    let Some(mut stream) = joined(addr, "flooder".to_owned(), &counts).await else {
        return;
    };
    let incoming = stream.clone();
    let flooding = async {
        let batch: String = (0..FLOOD_LINES)
            .map(|i| format!("flood line {i}\n"))
            .collect();
        while !stop.get() {
            if stream.write_all(batch.as_bytes()).await.is_err() {
                counts.errors.set(counts.errors.get() + 1);
                return;
            }
            Timer::after(FLOOD_EVERY).await;
        }
    };
    future::or(flooding, read_all(incoming, &counts)).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn samples(rss: &[u64]) -> Vec<Sample> {
        rss.iter()
            .map(|&rss_kib| Sample {
                rss_kib,
                fds: 50,
                deliveries: 1,
                connects: 1,
            })
            .collect()
    }

    #[test]
    fn a_steady_figure_after_the_warm_up_is_not_growth() {
        // The first fifth is the warm-up; noise within the slack is fine.
        let steady = samples(&[1000, 3000, 3100, 3050, 3200, 3100, 3150, 3120, 3180, 3100]);
        assert!(!keeps_growing("RSS", &steady, |s| s.rss_kib, 1024));
    }

    #[test]
    fn a_floor_that_keeps_rising_is_growth() {
        let leak = samples(&[1000, 3000, 4000, 5000, 6000, 7000, 8000, 9000, 10000, 11000]);
        assert!(keeps_growing("RSS", &leak, |s| s.rss_kib, 1024));
    }

    #[test]
    fn too_few_samples_are_not_judged() {
        let short = samples(&[1000, 5000, 9000]);
        assert!(!keeps_growing("RSS", &short, |s| s.rss_kib, 1024));
    }

    #[test]
    fn chat_lines_are_counted_across_reads() {
        let mut at_start = true;
        assert_eq!(
            chat_lines(b"> a: hi\r\n* b joined\r\n> c", &mut at_start),
            2
        );
        assert_eq!(chat_lines(b": rest\r\n> d: x\r\n", &mut at_start), 1);
    }
}
