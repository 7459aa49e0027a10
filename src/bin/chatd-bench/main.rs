//! `chatd-bench`: a load generator for chatd, and the benchmark whose numbers
//! docs/performance.md quotes.
//!
//! It starts the `chatd` binary that sits beside it (optionally pinned to a CPU
//! with `taskset`), connects N clients over loopback, registers them, lets S of
//! them send M lines each (as fast as possible or paced), and measures on the
//! receivers: deliveries per second, end-to-end latency (each line carries its
//! send time), the server's CPU time per delivery (from /proc) and its RSS.
//!
//! Scenarios: burst, paced, bigroom, rooms and roompaced (the clients split
//! into rooms they `/join` first, `rooms.rs`), idle, connected, slow, and the soak run
//! (`soak.rs`) (see `--help`). `--quick` scales every scenario down so the test
//! suite can check the generator works. The clients' side of the protocol, and
//! how deliveries and latencies are counted, is in `client.rs`.

mod client;
mod peers;
mod report;
mod rooms;
mod soak;
mod target;
mod upgrade;

use std::cell::RefCell;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Command;
use std::rc::Rc;
use std::time::{Duration, Instant};

use smol::net::TcpStream;
use smol::{LocalExecutor, Timer};

use client::{Tally, receive, register, send};
use peers::Protocol;
use target::{Target, rss_kib, server_cpu_secs, start_server};

const USAGE: &str = "\
Usage: chatd-bench [--scenario NAME]... [--quick] [--clients N] [--rooms N] [--minutes N]
                   [--lines N] [--server-cpu N] [--load-cpu N] [--threads N] [--json PATH]
                   [--history N] [--history-on-disk DIR]
                   [--addr HOST:PORT --pid PID [--protocol NAME]]

Starts ./chatd (the binary beside this one) on a free loopback port and measures it,
or measures a server already running (--addr).
Scenarios (default: all, in this order):
  burst     50 clients, 5 send 100,000 lines each as fast as they can
            (with send_queue_hard_bytes = 16 MiB: the load generator's one
            reading thread falls behind; `slow` keeps the default)
  paced     200 clients, 10 send 100 lines/s each for 10 s
  bigroom   5,000 clients, 10 send 20 lines/s each for 10 s
  rooms     5,000 clients in 100 rooms of 50 (each /joins its room first),
            2 in every room send 2,000 lines each as fast as they can
  roompaced the same rooms, 1 in every room sends 20 lines/s for 10 s
  idle      10,000 registered clients doing nothing: server memory per client
  connected 10,000 connected clients that never pick a nickname: memory per connection
  slow      burst, plus one registered client that never reads
  soak      (only when named) mixed, churning load for --minutes N: readers,
            talkers, a flooder, sign-in/quit churn, slow readers; a sample of
            RSS, descriptors and deliveries each minute; fails if they keep growing
  upgrade   (only when named) 10,000 clients in 100 rooms, one in each of
            10 rooms chatting at 20 lines/s, and a live upgrade (`upgrade` on
            the control socket) in the middle: how long deliveries stopped,
            the longest any client waited, the state's size; fails if a line
            was lost, doubled or reordered, or a client disconnected
Options:
  --minutes N      how long the soak runs (default 30; with --quick 0.2)
  --quick          scale every scenario down (a smoke test, not a benchmark)
  --clients N      override the number of clients of every scenario run (the
                   upgrade's: 10,000; with --quick 200); in
                   rooms, the total: the number of rooms stays (100, or --rooms)
                   and each room grows or shrinks; fewer rooms only if there
                   are not 2 clients for each
  --lines N        override how many lines each sender sends
  --rooms N        how many rooms the rooms scenario uses, 1 to 1000 (default
                   100; with --quick 10)
  --server-cpu N   pin chatd to CPU N (taskset)
  --load-cpu N     pin this load generator to CPU N
  --threads N      start chatd with `threads = N` (default: its own default, 0:
                   the cores it may use)
  --json PATH      also write the results as JSON to PATH
  --history N      start chatd with `history = N` (default 0: the throughput
                   scenarios measure delivery alone)
  --history-on-disk DIR
                   start chatd with its history on disk: each chatd started
                   gets a fresh state_dir under DIR (removed after it), so the
                   cost of keeping the conversation on disk can be measured
                   (with --history N, the same N measured without it)
  --addr HOST:PORT measure the server already listening there instead of
                   starting chatd (one scenario per run is fairest: the server
                   keeps what earlier scenarios left); --pid PID names its
                   process, whose CPU and memory are measured
  --protocol NAME  what the server at --addr speaks: chatd (default), tutorial
                   (the Node.js tutorial chatd descends from), smol (smol's
                   examples/chat-server.rs) or tokio (tokio's examples/chat.rs);
                   the rooms scenarios need chatd
";

#[derive(Debug, Clone)]
struct Scenario {
    name: &'static str,
    clients: usize,
    senders: usize,
    lines_per_sender: usize,
    /// Rooms the clients are split into (`rooms.rs`); 0: all in the lobby.
    /// `senders` send in each room (the lobby counts as one).
    rooms: usize,
    /// Lines per second per sender; 0 = as fast as possible.
    rate: u32,
    /// One extra registered client that never reads.
    slow_reader: bool,
    /// Clients pick a nickname (sign in to the lobby); `false` leaves them connected only.
    register: bool,
}

#[derive(Debug, Default, Clone)]
struct Outcome {
    name: String,
    clients: usize,
    deliveries: u64,
    expected: u64,
    seconds: f64,
    deliveries_per_sec: f64,
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
    server_cpu_secs: f64,
    cpu_us_per_delivery: f64,
    rss_before_kib: u64,
    rss_after_kib: u64,
    rss_per_client_bytes: f64,
    errors: u64,
    /// What `--scenario upgrade` measured besides.
    upgrade: Option<upgrade::Figures>,
}

fn main() {
    let mut scenarios = Vec::new();
    let mut quick = false;
    let mut server_cpu = None;
    let mut load_cpu = None;
    let mut json = None;
    let mut clients: Option<usize> = None;
    let mut minutes: Option<f64> = None;
    let mut room_count: Option<usize> = None;
    let mut threads: Option<usize> = None;
    let mut lines: Option<usize> = None;
    let mut addr: Option<SocketAddr> = None;
    let mut pid: Option<u32> = None;
    let mut protocol = Protocol::Chatd;
    let mut history_on_disk: Option<PathBuf> = None;
    let mut history: usize = 0;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--scenario" => scenarios.push(args.next().unwrap_or_default()),
            "--quick" => quick = true,
            "--clients" => clients = Some(value(&mut args, "--clients", "a number")),
            "--rooms" => {
                room_count = args
                    .next()
                    .and_then(|n| n.parse().ok())
                    .filter(|n| (1..=rooms::MAX_ROOMS).contains(n));
                if room_count.is_none() {
                    eprintln!(
                        "chatd-bench: --rooms needs a number from 1 to {}",
                        rooms::MAX_ROOMS
                    );
                    std::process::exit(2);
                }
            }
            "--minutes" => minutes = Some(value(&mut args, "--minutes", "a number")),
            "--server-cpu" => server_cpu = args.next(),
            "--lines" => lines = Some(value(&mut args, "--lines", "a number")),
            "--threads" => threads = Some(value(&mut args, "--threads", "a number")),
            "--addr" => {
                addr = Some(value(
                    &mut args,
                    "--addr",
                    "HOST:PORT, such as 127.0.0.1:8194",
                ))
            }
            "--pid" => pid = Some(value(&mut args, "--pid", "a process id")),
            "--protocol" => {
                let name = args.next().unwrap_or_default();
                let Some(named) = Protocol::from_name(&name) else {
                    eprintln!(
                        "chatd-bench: unknown protocol {name:?}: chatd, tutorial, smol or tokio"
                    );
                    std::process::exit(2);
                };
                protocol = named;
            }
            "--load-cpu" => load_cpu = args.next(),
            "--history" => history = value(&mut args, "--history", "a number"),
            "--history-on-disk" => history_on_disk = args.next().map(PathBuf::from),
            "--json" => json = args.next().map(PathBuf::from),
            "-h" | "--help" => {
                print!("{USAGE}");
                return;
            }
            other => {
                eprintln!("chatd-bench: unknown argument {other:?}\n\n{USAGE}");
                std::process::exit(2);
            }
        }
    }
    if let Some(cpu) = load_cpu
        && std::env::var_os("CHATD_BENCH_PINNED").is_none()
    {
        // Re-run this program under taskset so every thread starts pinned.
        let status = Command::new("taskset")
            .arg("-c")
            .arg(&cpu)
            .arg(std::env::current_exe().expect("own path"))
            .args(std::env::args().skip(1))
            .env("CHATD_BENCH_PINNED", "1")
            .status()
            .expect("run taskset");
        std::process::exit(status.code().unwrap_or(1));
    }
    let running = match (addr, pid) {
        (Some(addr), Some(pid)) => Some((addr, pid)),
        (None, None) => None,
        _ => {
            eprintln!("chatd-bench: --addr and --pid go together");
            std::process::exit(2);
        }
    };
    if running.is_none() && protocol != Protocol::Chatd {
        eprintln!("chatd-bench: --protocol is for a server at --addr; this starts chatd");
        std::process::exit(2);
    }
    let target = Target {
        cpu: server_cpu,
        threads,
        running,
        protocol,
        history,
        history_on_disk,
    };
    if scenarios.is_empty() {
        scenarios = [
            "burst",
            "paced",
            "bigroom",
            "rooms",
            "roompaced",
            "idle",
            "connected",
            "slow",
        ]
        .map(String::from)
        .to_vec();
    }
    let mut outcomes = Vec::new();
    let mut burst_rate = None;
    for name in &scenarios {
        if name == "soak" {
            if target.running.is_some() {
                eprintln!("chatd-bench: the soak starts its own chatd; it takes no --addr");
                std::process::exit(2);
            }
            let minutes = minutes.unwrap_or(if quick { 0.2 } else { 30.0 });
            outcomes.push(soak::run(minutes, quick, &target));
            continue;
        }
        if name == "upgrade" {
            if target.running.is_some() {
                eprintln!(
                    "chatd-bench: the upgrade starts its own chatd (with a control socket); \
                     it takes no --addr"
                );
                std::process::exit(2);
            }
            let clients = clients.unwrap_or(if quick { 200 } else { 10_000 });
            let rooms = room_count.unwrap_or(if quick { 10 } else { 100 });
            outcomes.push(upgrade::run(clients, rooms, quick, &target));
            continue;
        }
        let Some(mut scenario) = scenario(name, quick) else {
            eprintln!("chatd-bench: unknown scenario {name:?}\n\n{USAGE}");
            std::process::exit(2);
        };
        if let Some(clients) = clients {
            scenario.clients = clients;
        }
        if let Some(lines) = lines
            && scenario.senders > 0
        {
            scenario.lines_per_sender = lines;
        }
        if let Some(rooms) = room_count
            && scenario.rooms > 0
        {
            scenario.rooms = rooms;
        }
        if scenario.rooms > 0 && !target.protocol.has_rooms() {
            eprintln!(
                "chatd-bench: {} needs rooms, which {:?} does not have",
                scenario.name, target.protocol
            );
            std::process::exit(2);
        }
        let outcome = run_scenario(&scenario, &target);
        if scenario.name == "burst" {
            burst_rate = Some(outcome.deliveries_per_sec);
        }
        if scenario.name == "slow"
            && let Some(base) = burst_rate
        {
            eprintln!(
                "slow consumer: {:.1}% of the burst throughput",
                100.0 * outcome.deliveries_per_sec / base
            );
        }
        outcomes.push(outcome);
    }
    report::print_table(&outcomes);
    let json_text = report::to_json(&outcomes);
    println!("{json_text}");
    if let Some(path) = json {
        std::fs::write(&path, json_text + "\n").expect("write json");
    }
    let errors: u64 = outcomes.iter().map(|o| o.errors).sum();
    if errors > 0 {
        std::process::exit(1);
    }
}

/// The value after `flag`, parsed; a missing or bad one ends the run with
/// exit status 2, saying what `flag` needs.
fn value<T: std::str::FromStr>(
    args: &mut impl Iterator<Item = String>,
    flag: &str,
    needs: &str,
) -> T {
    match args.next().and_then(|v| v.parse().ok()) {
        Some(value) => value,
        None => {
            eprintln!("chatd-bench: {flag} needs {needs}");
            std::process::exit(2);
        }
    }
}

fn scenario(name: &str, quick: bool) -> Option<Scenario> {
    let q = |full: usize, small: usize| if quick { small } else { full };
    let s = match name {
        "burst" | "slow" => Scenario {
            name: if name == "burst" { "burst" } else { "slow" },
            clients: q(50, 10),
            senders: q(5, 2),
            lines_per_sender: q(100_000, 500),
            rate: 0,
            slow_reader: name == "slow",
            register: true,
            rooms: 0,
        },
        "paced" => Scenario {
            name: "paced",
            clients: q(200, 20),
            senders: q(10, 2),
            lines_per_sender: q(1000, 20),
            rate: 100,
            slow_reader: false,
            register: true,
            rooms: 0,
        },
        "bigroom" => Scenario {
            name: "bigroom",
            clients: q(5000, 50),
            senders: q(10, 2),
            lines_per_sender: q(200, 10),
            rate: 20,
            slow_reader: false,
            register: true,
            rooms: 0,
        },
        "rooms" => Scenario {
            name: "rooms",
            clients: q(5000, 100),
            senders: 2,
            lines_per_sender: q(2000, 100),
            rate: 0,
            slow_reader: false,
            register: true,
            rooms: q(100, 10),
        },
        // The rooms at a pace people chat at: the latency a member of a room
        // sees while every other room is busy too.
        "roompaced" => Scenario {
            name: "roompaced",
            clients: q(5000, 100),
            senders: 1,
            lines_per_sender: q(200, 10),
            rate: 20,
            slow_reader: false,
            register: true,
            rooms: q(100, 10),
        },
        "connected" => Scenario {
            name: "connected",
            clients: q(10_000, 50),
            senders: 0,
            lines_per_sender: 0,
            rate: 0,
            slow_reader: false,
            register: false,
            rooms: 0,
        },
        "idle" => Scenario {
            name: "idle",
            clients: q(10_000, 50),
            senders: 0,
            lines_per_sender: 0,
            rate: 0,
            slow_reader: false,
            register: true,
            rooms: 0,
        },
        _ => return None,
    };
    Some(s)
}

/// The throughput scenarios' settings: no flood control, and no history
/// unless `--history N` asks for it, so the figures measure delivery alone.
const THROUGHPUT_TUNING: &str = "flood_burst = 0\nflood_lines_per_sec = 0\n";

/// `send_queue_hard_bytes` in the burst scenario: 4 × the default.
const BURST_HARD_BYTES: usize = 16 << 20;

fn run_scenario(scenario: &Scenario, target: &Target) -> Outcome {
    eprintln!(
        "scenario {}: {} clients, {} senders{} x {} lines{}",
        scenario.name,
        scenario.clients,
        scenario.senders,
        if scenario.rooms > 0 {
            format!(" in each of {} rooms", scenario.rooms)
        } else {
            String::new()
        },
        scenario.lines_per_sender,
        if scenario.rate > 0 {
            format!(" at {}/s", scenario.rate)
        } else {
            String::new()
        }
    );
    let mut tuning = THROUGHPUT_TUNING.to_owned();
    tuning += &format!("history = {}\n", target.history);
    if scenario.name == "burst" {
        // This load generator reads for all 50 clients on one thread, and
        // chatd's burst now outruns it: past the default hard bound (4 MiB)
        // its readers would be dropped as too slow, which measures the
        // generator. The bound's rule has its own scenario (`slow`).
        tuning += &format!("send_queue_hard_bytes = {BURST_HARD_BYTES}\n");
    }
    if scenario.rooms > 0 {
        // The default (100) would refuse the 101st room of `--rooms 1000`.
        tuning += &format!("max_rooms = {}\n", scenario.rooms);
    }
    let (server, addr, pid) = match target.running {
        Some((addr, pid)) => (None, addr, pid),
        None => {
            let server = start_server(scenario.clients + 1, target, &tuning);
            let (addr, pid) = (server.addr, server.child.id());
            (Some(server), addr, pid)
        }
    };
    let ex = LocalExecutor::new();
    let outcome = smol::block_on(ex.run(drive(&ex, scenario, addr, pid, target.protocol)));
    drop(server);
    outcome
}

async fn drive(
    ex: &LocalExecutor<'_>,
    scenario: &Scenario,
    addr: SocketAddr,
    pid: u32,
    protocol: Protocol,
) -> Outcome {
    let tally = Rc::new(RefCell::new(Tally::default()));
    let rss_before = rss_kib(pid);
    let start = Instant::now();
    let groups = rooms::layout(scenario.clients, scenario.rooms);
    // Each client's number and group, in the order they sign in.
    let seats: Vec<(usize, usize)> = groups
        .iter()
        .enumerate()
        .flat_map(|(g, group)| std::iter::repeat_n(g, group.clients))
        .enumerate()
        .collect();
    // Each group's clients that signed in (and reached its room), in that order.
    let mut members: Vec<Vec<TcpStream>> = groups.iter().map(|_| Vec::new()).collect();
    // Every client reads everything (the join storm, then the chat lines).
    let parse_all = scenario.rate > 0;
    let mut readers = Vec::new();
    // Sign in in small parallel groups: fast, without a connect storm.
    for chunk in seats.chunks(100) {
        let tasks: Vec<_> = chunk
            .iter()
            .map(|&(i, g)| {
                let nick = scenario.register.then(|| format!("c{i}"));
                let room = groups[g].room.clone();
                let register = scenario.register;
                (
                    g,
                    ex.spawn(async move {
                        match protocol {
                            Protocol::Chatd => rooms::sign_in(addr, nick, room).await,
                            _ if !register => TcpStream::connect(addr).await,
                            other => peers::sign_in(other, addr, i).await,
                        }
                    }),
                )
            })
            .collect();
        for (g, task) in tasks {
            match task.await {
                Ok(stream) => {
                    // Read from the start, as a real client does: otherwise the
                    // join storm piles up in the server's queues and the memory
                    // figures measure that instead of idle clients.
                    let (stream_in, tally) = (stream.clone(), Rc::clone(&tally));
                    readers.push(match protocol {
                        Protocol::Chatd => ex.spawn(receive(stream_in, tally, parse_all, start)),
                        _ => ex.spawn(peers::receive(stream_in, tally, parse_all, start)),
                    });
                    members[g].push(stream);
                }
                Err(err) => {
                    eprintln!("sign-in failed: {err}");
                    tally.borrow_mut().errors += 1;
                }
            }
        }
    }
    let sizes: Vec<usize> = members.iter().map(Vec::len).collect();
    let signed_in: usize = sizes.iter().sum();
    eprintln!(
        "  {signed_in} clients registered{} in {:.1}s",
        if scenario.rooms > 0 {
            format!(" and in their {} rooms", groups.len())
        } else {
            String::new()
        },
        start.elapsed().as_secs_f64()
    );
    let slow = if scenario.slow_reader {
        Some(
            match protocol {
                Protocol::Chatd => register(addr, "slowpoke".to_owned()).await,
                other => peers::sign_in(other, addr, signed_in).await,
            }
            .expect("register slowpoke"),
        )
    } else {
        None
    };
    // Let the join storm drain before measuring: wait until the server's CPU goes quiet.
    settle(pid).await;
    let rss_registered = rss_kib(pid);

    if scenario.senders == 0 {
        let per_client =
            (rss_registered.saturating_sub(rss_before) as f64 * 1024.0) / signed_in.max(1) as f64;
        return Outcome {
            name: scenario.name.into(),
            clients: signed_in,
            rss_before_kib: rss_before,
            rss_after_kib: rss_registered,
            rss_per_client_bytes: per_client,
            errors: tally.borrow().errors,
            ..Outcome::default()
        };
    }

    let expected = rooms::expected(
        &sizes,
        scenario.senders,
        scenario.lines_per_sender,
        protocol.echoes(),
    );
    let base_lines = tally.borrow().chat_lines;
    let cpu_before = server_cpu_secs(pid);
    let send_start = Instant::now();
    let mut send_tasks = Vec::new();
    // Each group's first members send (see `rooms::expected`).
    for stream in members.iter().flat_map(|m| m.iter().take(scenario.senders)) {
        send_tasks.push(ex.spawn(send(
            stream.clone(),
            scenario.lines_per_sender,
            scenario.rate,
            start,
        )));
    }
    for task in send_tasks {
        if let Err(err) = task.await {
            eprintln!("sender failed: {err}");
            tally.borrow_mut().errors += 1;
        }
    }
    // Wait for every delivery (bounded).
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let got = tally.borrow().chat_lines - base_lines;
        if got >= expected || Instant::now() > deadline {
            break;
        }
        Timer::after(Duration::from_millis(5)).await;
    }
    let cpu = server_cpu_secs(pid) - cpu_before;
    let tally = tally.borrow();
    let delivered = tally.chat_lines - base_lines;
    let end = tally.last_receive.unwrap_or_else(Instant::now);
    let seconds = end.duration_since(send_start).as_secs_f64();
    let mut lat = tally.latencies_us.clone();
    lat.sort_unstable();
    let pct = |p: f64| {
        if lat.is_empty() {
            0.0
        } else {
            lat[((lat.len() - 1) as f64 * p) as usize] as f64 / 1000.0
        }
    };
    drop(slow);
    drop(readers);
    let rss_after = rss_kib(pid);
    Outcome {
        name: scenario.name.into(),
        clients: signed_in,
        deliveries: delivered,
        expected,
        seconds,
        deliveries_per_sec: delivered as f64 / seconds,
        p50_ms: pct(0.50),
        p99_ms: pct(0.99),
        max_ms: lat.last().copied().unwrap_or(0) as f64 / 1000.0,
        server_cpu_secs: cpu,
        cpu_us_per_delivery: cpu * 1e6 / delivered.max(1) as f64,
        rss_before_kib: rss_before,
        rss_after_kib: rss_after,
        rss_per_client_bytes: 0.0,
        errors: tally.errors + u64::from(delivered < expected),
        upgrade: None,
    }
}

/// Waits until the server has used (almost) no CPU for 200 ms, at most 60 s.
async fn settle(pid: u32) {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut last = server_cpu_secs(pid);
    while Instant::now() < deadline {
        Timer::after(Duration::from_millis(200)).await;
        let now = server_cpu_secs(pid);
        if now - last < 0.004 {
            return;
        }
        last = now;
    }
}
