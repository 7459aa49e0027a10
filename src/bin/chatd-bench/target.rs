//! The server under test: a chatd started for one scenario (pinned, with its
//! `threads`), or a server already running (`--addr`, `--pid`), and what
//! `/proc` says of its CPU time and memory.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::peers::Protocol;

/// A chatd child process started for one scenario.
pub struct Server {
    pub child: Child,
    pub addr: SocketAddr,
    /// The state directory made for it (`--history-on-disk`), removed after it.
    state_dir: Option<PathBuf>,
}

impl Drop for Server {
    fn drop(&mut self) {
        // SIGTERM first (the config has no shutdown grace, so chatd exits at
        // once), so that a profiler wrapped around the server (callgrind, perf)
        // writes its results; SIGKILL if it has not exited within 5 s.
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut exited = false;
        while !exited && Instant::now() < deadline {
            exited = matches!(self.child.try_wait(), Ok(Some(_)));
            if !exited {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        if !exited {
            // Already gone is fine: we only want it gone.
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        if let Some(dir) = &self.state_dir {
            // Litter at worst, in a directory the user named.
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// The server the scenarios measure.
#[derive(Debug, Clone)]
pub struct Target {
    /// Pin the chatd this starts to this CPU (`--server-cpu`).
    pub cpu: Option<String>,
    /// `threads` for the chatd this starts (`--threads`).
    pub threads: Option<usize>,
    /// A server already running (`--addr`, `--pid`): nothing is started.
    pub running: Option<(SocketAddr, u32)>,
    /// What the server speaks.
    pub protocol: Protocol,
    /// `history` for the throughput scenarios' chatd (`--history`; 0 by default).
    pub history: usize,
    /// Start chatd with its history on disk (`--history-on-disk DIR`): each
    /// chatd gets a fresh `state_dir` under this directory.
    pub history_on_disk: Option<PathBuf>,
}

/// Starts chatd for `clients` clients, with `tuning` (config lines) after the
/// settings every scenario shares, and the target's CPU and threads.
pub fn start_server(clients: usize, target: &Target, tuning: &str) -> Server {
    let threads = target
        .threads
        .map(|n| format!("threads = {n}\n"))
        .unwrap_or_default();
    let dir = std::env::temp_dir().join(format!("chatd-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let state_dir = target.history_on_disk.as_ref().map(|parent| {
        static STARTED: AtomicUsize = AtomicUsize::new(0);
        let n = STARTED.fetch_add(1, Ordering::Relaxed);
        let state = parent.join(format!("chatd-bench-state-{}-{n}", std::process::id()));
        // Left by an earlier run with the same pid, if any: a fresh start.
        let _ = std::fs::remove_dir_all(&state);
        std::fs::create_dir_all(&state).expect("state dir");
        state
    });
    let state = state_dir
        .as_ref()
        .map(|dir| format!("state_dir = \"{}\"\n", dir.display()))
        .unwrap_or_default();
    let config = dir.join("bench.conf");
    std::fs::write(
        &config,
        format!(
            "address = \"127.0.0.1\"\nport = 0\ncolors = false\nlog_level = \"warn\"\n\
             max_clients = {}\nmax_clients_per_ip = {}\n\
             stats_interval_secs = 0\nshutdown_grace_secs = 0\n{threads}{state}{tuning}",
            clients + 100,
            clients + 100,
        ),
    )
    .expect("write config");
    let exe = std::env::current_exe().expect("own path");
    let chatd = exe.with_file_name("chatd");
    let mut command = match &target.cpu {
        Some(cpu) => {
            let mut c = Command::new("taskset");
            c.arg("-c").arg(cpu).arg(&chatd);
            c
        }
        None => Command::new(&chatd),
    };
    // The config logs at "warn" (no line per connect), so chatd will not print its
    // address: pick a free port here and pass it. Between dropping the probe and
    // chatd binding, another process could take the port; then the wait fails.
    let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("probe port");
    let addr = probe.local_addr().expect("probe address");
    drop(probe);
    let mut child = command
        .arg("--config")
        .arg(&config)
        .arg("--port")
        .arg(addr.port().to_string())
        .env_remove("JOURNAL_STREAM")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start chatd");
    let stderr = child.stderr.take().expect("stderr");
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { return };
            eprintln!("chatd: {line}");
        }
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(addr).is_err() {
        assert!(
            Instant::now() < deadline,
            "chatd did not start listening on {addr}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    Server {
        child,
        addr,
        state_dir,
    }
}

/// Server CPU seconds (all threads) from /proc, with nanosecond resolution.
pub fn server_cpu_secs(pid: u32) -> f64 {
    let mut total = 0u64;
    if let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) {
        for task in tasks.flatten() {
            if let Ok(text) = std::fs::read_to_string(task.path().join("schedstat")) {
                total += text
                    .split_whitespace()
                    .next()
                    .and_then(|n| n.parse::<u64>().ok())
                    .unwrap_or(0);
            }
        }
    }
    total as f64 / 1e9
}

/// Resident memory of `pid` in KiB (0 when it cannot be read), with the
/// daemon's own parser of `/proc/PID/status`.
pub fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    chatd::metrics::process::resident_kib(&status).unwrap_or(0)
}
