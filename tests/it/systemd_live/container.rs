//! A throw-away container with systemd as PID 1 for the live test, and the ways
//! the test reaches into it.
//!
//! The container's root is the host's own tree under an overlay whose upper layer
//! is a tmpfs, mounted in a private mount namespace: whatever the test installs
//! or changes lives in memory and is gone when the namespace's last process
//! exits. `systemd-nspawn` boots it with `--private-network` (only a loopback
//! of its own, so the test's port collides with nothing on the host) and
//! `--keep-unit --register=no` from cgroups this module creates, because the
//! host need not run systemd (see `shared/notes/systemd-nspawn.md`).
//!
//! Commands run inside through `nsenter` into every namespace of the container's
//! PID 1; TCP clients are the host's `nc` entered into the container's network
//! namespace only. Every wait has a deadline ([`TIMEOUT`]).

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

/// How long any single wait may take before the test calls it a failure.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// Where the staged source tree appears inside the container (read-only).
pub const SOURCE_DIR: &str = "/root/chatd";

/// `PATH` for commands run in the container: a clean environment, the way an
/// operator's root shell has it, instead of whatever cargo's environment holds.
const PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// How often a wait looks again at something it cannot be woken by (a process's
/// exit, a cgroup emptying, a value shown by `systemctl`).
const POLL: Duration = Duration::from_millis(20);

/// Puts this shell into the container's cgroups, then in a private mount
/// namespace mounts the overlay and a tmpfs over `/run` (nspawn refuses a `/run`
/// on disk), prepares the tree and execs nspawn, so the pid the test spawned is
/// nspawn's. Arguments: the tmpfs mount point, machine name, staged source tree,
/// then the `cgroup.procs` files to join.
const BOOT_SCRIPT: &str = r#"
set -eu
top=$1 machine=$2 stage=$3 src=$4
shift 4
for procs in "$@"; do echo $$ > "$procs"; done
exec unshare --mount --propagation private sh -euc '
top=$1 machine=$2 stage=$3 src=$4
mount -t tmpfs -o mode=0700 chatd-live "$top"
mkdir "$top/upper" "$top/work" "$top/root"
mount -t overlay -o "lowerdir=/,upperdir=$top/upper,workdir=$top/work" chatd-live "$top/root"
mount -t tmpfs -o mode=0755 chatd-live /run
root=$top/root
# A minimal Debian has no procps, so no kill(1): make that true here too.
rm -f "$root/bin/kill" "$root/usr/bin/kill"
# A fresh install: nothing of chatd that this host may have installed by hand.
rm -rf "$root/etc/chatd" "$root/usr/local/bin/chatd" "$root/usr/local/bin/chat"
rm -rf "$root"/etc/systemd/system/chatd.* "$root"/etc/systemd/system/*/chatd.*
# Only what basic.target pulls in starts, and none of the host timers.
ln -sf /dev/null "$root/etc/systemd/system/timers.target"
exec systemd-nspawn --quiet --directory="$root" --machine="$machine" \
  --boot --console=read-only --private-network --keep-unit --register=no \
  --bind-ro="$stage:$src" -- --unit=basic.target
' sh "$top" "$machine" "$stage" "$src"
"#;

/// What a finished command left: its exit status and both outputs.
pub struct Output {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    /// The status and both outputs, for a failure message.
    pub fn describe(&self) -> String {
        format!(
            "{}; stdout: {:?}; stderr: {:?}",
            self.status,
            self.stdout.trim_end(),
            self.stderr.trim_end()
        )
    }
}

/// Runs `command` to its end, at most `timeout`; `input` is its standard input.
pub fn run_with_timeout(
    command: &mut Command,
    input: &[u8],
    timeout: Duration,
) -> Result<Output, String> {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|err| format!("cannot run {command:?}: {err}"))?;
    let stdout = read_all_in_background(child.stdout.take());
    let stderr = read_all_in_background(child.stderr.take());
    if let Some(mut stdin) = child.stdin.take() {
        // A command that exits without reading its input closes the pipe: the
        // write error says nothing the exit status does not.
        let _ = stdin.write_all(input);
    }
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(POLL),
            outcome => {
                // Killing and reaping may fail only if it already exited.
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "{command:?} did not finish in {timeout:?} ({outcome:?})"
                ));
            }
        }
    };
    let text = |rx: Receiver<Vec<u8>>| {
        let bytes = rx.recv_timeout(TIMEOUT).unwrap_or_default();
        String::from_utf8_lossy(&bytes).into_owned()
    };
    Ok(Output {
        status,
        stdout: text(stdout),
        stderr: text(stderr),
    })
}

fn read_all_in_background(source: Option<impl Read + Send + 'static>) -> Receiver<Vec<u8>> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        if let Some(mut source) = source {
            // A read error ends the output; what was read so far is the answer.
            let _ = source.read_to_end(&mut bytes);
        }
        // The receiver may have given up waiting.
        let _ = tx.send(bytes);
    });
    rx
}

/// The booted container. Dropping it tears it down (also when a check panics).
pub struct Container {
    name: String,
    /// The tmpfs mount point; on the host (outside the namespace) an empty dir.
    top: PathBuf,
    /// Holds `top` and the console log.
    base: PathBuf,
    cgroups: Vec<PathBuf>,
    nspawn: Option<Child>,
    /// The container's PID 1, as the host numbers it.
    leader: u32,
    torn_down: bool,
}

impl Container {
    /// Boots a container whose `SOURCE_DIR` shows `stage`, and waits until its
    /// systemd has finished booting.
    pub fn boot(stage: &Path) -> Result<Container, String> {
        let name = format!("chatd-live-{}", std::process::id());
        let base = std::env::temp_dir().join(&name);
        let top = base.join("mnt");
        std::fs::create_dir_all(&top).map_err(|err| format!("create {top:?}: {err}"))?;
        let console_path = base.join("console.log");
        let console = std::fs::File::create(&console_path)
            .map_err(|err| format!("create {console_path:?}: {err}"))?;
        let console_too = console
            .try_clone()
            .map_err(|err| format!("dup console log: {err}"))?;
        let cgroups = cgroup_dirs(&name)?;
        let mut container = Container {
            name,
            top,
            base,
            cgroups: Vec::new(),
            nspawn: None,
            leader: 0,
            torn_down: false,
        };
        for dir in cgroups {
            std::fs::create_dir(&dir).map_err(|err| format!("create cgroup {dir:?}: {err}"))?;
            container.cgroups.push(dir);
        }
        let procs: Vec<PathBuf> = container
            .cgroups
            .iter()
            .map(|dir| dir.join("cgroup.procs"))
            .collect();
        let nspawn = Command::new("sh")
            .arg("-c")
            .arg(BOOT_SCRIPT)
            .arg("sh")
            .arg(&container.top)
            .arg(&container.name)
            .arg(stage)
            .arg(SOURCE_DIR)
            .args(&procs)
            .stdin(Stdio::null())
            .stdout(console)
            .stderr(console_too)
            .spawn()
            .map_err(|err| format!("cannot start systemd-nspawn: {err}"))?;
        let nspawn_pid = nspawn.id();
        container.nspawn = Some(nspawn);
        container.leader = container
            .wait_for_leader(nspawn_pid)
            .map_err(|err| format!("{err}; console: {}", container.console()))?;
        container
            .wait_booted()
            .map_err(|err| format!("{err}; console: {}", container.console()))?;
        Ok(container)
    }

    /// What the container printed on its console so far (the last part).
    pub fn console(&self) -> String {
        let text = std::fs::read_to_string(self.base.join("console.log")).unwrap_or_default();
        let tail: Vec<&str> = text.lines().rev().take(15).collect();
        tail.into_iter().rev().collect::<Vec<_>>().join("\n")
    }

    /// The child of nspawn that is PID 1 of the container's pid namespace.
    fn wait_for_leader(&mut self, nspawn_pid: u32) -> Result<u32, String> {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            if let Some(pid) = container_init_of(nspawn_pid) {
                // Only once it runs systemd has nspawn finished setting it up.
                let comm = std::fs::read_to_string(format!("/proc/{pid}/comm"));
                if comm.is_ok_and(|comm| comm.trim() == "systemd") {
                    return Ok(pid);
                }
            }
            if let Some(nspawn) = self.nspawn.as_mut()
                && let Ok(Some(status)) = nspawn.try_wait()
            {
                return Err(format!("systemd-nspawn exited with {status}"));
            }
            if Instant::now() > deadline {
                return Err(format!("no systemd in the container after {TIMEOUT:?}"));
            }
            std::thread::sleep(POLL);
        }
    }

    fn wait_booted(&self) -> Result<(), String> {
        // Until PID 1 listens on its private socket, systemctl says "offline"
        // or cannot connect at all; then `--wait` waits for the boot to end.
        let deadline = Instant::now() + TIMEOUT;
        let mut out = self.sh("systemctl is-system-running --wait", "")?;
        while !matches!(out.stdout.trim(), "running" | "degraded") && Instant::now() < deadline {
            std::thread::sleep(POLL);
            out = self.sh("systemctl is-system-running --wait", "")?;
        }
        match out.stdout.trim() {
            "running" => Ok(()),
            // A host unit that cannot work in a container does not concern
            // chatd: say which, and go on.
            "degraded" => {
                let failed = self.sh("systemctl --failed --no-legend --plain", "")?;
                eprintln!(
                    "systemd live test: container booted degraded: {}",
                    failed.stdout.trim()
                );
                Ok(())
            }
            _ => Err(format!("container did not boot: {}", out.describe())),
        }
    }

    /// Runs `script` with `sh -c` inside the container, as root with a clean
    /// environment, `input` on its standard input; any exit status.
    pub fn sh(&self, script: &str, input: &str) -> Result<Output, String> {
        let mut command = Command::new("nsenter");
        command
            .arg("-t")
            .arg(self.leader.to_string())
            .arg("-a")
            .args(["env", "-i"])
            .arg(format!("PATH={PATH}"))
            .args(["LANG=C.UTF-8", "sh", "-c", script]);
        run_with_timeout(&mut command, input.as_bytes(), TIMEOUT)
    }

    /// Runs `script` like [`sh`](Self::sh) and returns its standard output;
    /// a non-zero exit status is an error that shows both outputs.
    pub fn run(&self, script: &str) -> Result<String, String> {
        let out = self.sh(script, "")?;
        if out.status.success() {
            Ok(out.stdout)
        } else {
            Err(format!("`{script}` failed: {}", out.describe()))
        }
    }

    /// Opens a TCP connection to `127.0.0.1:port` on the container's loopback.
    pub fn connect(&self, port: u16) -> Result<Client, String> {
        let mut child = Command::new("nsenter")
            .arg("-t")
            .arg(self.leader.to_string())
            .arg("-n")
            // socat, not nc: openbsd nc stays up after the server closes while
            // its input is open, so a closed connection would look open.
            .args(["socat", "-"])
            .arg(format!("TCP:127.0.0.1:{port}"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|err| format!("cannot run socat: {err}"))?;
        let stdin = child.stdin.take();
        let lines = spawn_line_reader(child.stdout.take());
        let stderr = read_all_in_background(child.stderr.take());
        Ok(Client {
            child,
            stdin,
            lines,
            stderr,
            transcript: Vec::new(),
        })
    }

    /// Stops everything the container ran and removes what boot created.
    /// Returns what could not be removed (empty: nothing left behind).
    pub fn shut_down(&mut self) -> Vec<String> {
        if self.torn_down {
            return Vec::new();
        }
        self.torn_down = true;
        let deadline = Instant::now() + TIMEOUT;
        let mut left = Vec::new();
        // Killing every process of the cgroups ends the container's PID 1,
        // which takes the rest of its pid namespace with it, and nspawn.
        loop {
            let pids = self.cgroup_pids();
            if pids.is_empty() {
                break;
            }
            self.kill_all(&pids);
            if Instant::now() > deadline {
                left.push(format!("processes still running: {pids:?}"));
                break;
            }
            std::thread::sleep(POLL);
        }
        if let Some(mut nspawn) = self.nspawn.take() {
            // Killed above; this only reaps it (and fails only if already reaped).
            let _ = nspawn.kill();
            let _ = nspawn.wait();
        }
        for root in &self.cgroups {
            let mut dirs = Vec::new();
            collect_dirs(root, &mut dirs);
            // Children before their parents.
            dirs.sort_by_key(|dir| std::cmp::Reverse(dir.components().count()));
            for dir in dirs {
                // A cgroup can stay busy a moment after its last process exits.
                while std::fs::remove_dir(&dir).is_err() && Instant::now() < deadline {
                    std::thread::sleep(POLL);
                }
            }
            if root.exists() {
                left.push(format!("cgroup {} not removed", root.display()));
            }
        }
        // Killed processes that the host's init has yet to reap still show
        // their cgroup for a moment.
        let mut processes = self.processes_left();
        while !processes.is_empty() && Instant::now() < deadline {
            std::thread::sleep(POLL);
            processes = self.processes_left();
        }
        left.extend(processes);
        let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        let top = self.top.to_string_lossy().into_owned();
        let mounted: Vec<&str> = mountinfo.lines().filter(|l| l.contains(&top)).collect();
        if mounted.is_empty() {
            // Only empty directories and the console log: the mounts were
            // never visible out here, and nothing is mounted on them now.
            let _ = std::fs::remove_dir(&self.top);
            let _ = std::fs::remove_file(self.base.join("console.log"));
            if let Err(err) = std::fs::remove_dir(&self.base) {
                left.push(format!("{} not removed: {err}", self.base.display()));
            }
        } else {
            left.push(format!("mounts left on the host: {mounted:?}"));
        }
        left
    }

    /// Every pid in the container's cgroups and their children.
    fn cgroup_pids(&self) -> Vec<u32> {
        let mut pids = Vec::new();
        for root in &self.cgroups {
            let mut dirs = Vec::new();
            collect_dirs(root, &mut dirs);
            for dir in dirs {
                let procs = std::fs::read_to_string(dir.join("cgroup.procs")).unwrap_or_default();
                pids.extend(
                    procs
                        .lines()
                        .filter_map(|line| line.trim().parse::<u32>().ok()),
                );
            }
        }
        pids.sort_unstable();
        pids.dedup();
        pids
    }

    fn kill_all(&self, pids: &[u32]) {
        for root in &self.cgroups {
            // cgroup v2 kills a whole subtree at once (Linux 5.14 and later);
            // where it cannot, the signals below do it one by one.
            let _ = std::fs::write(root.join("cgroup.kill"), "1");
        }
        let mut kill = Command::new("sh");
        kill.args(["-c", r#"kill -KILL "$@" 2>/dev/null; true"#, "sh"]);
        kill.args(pids.iter().map(u32::to_string));
        // Its result shows in the next look at the cgroups.
        let _ = run_with_timeout(&mut kill, b"", TIMEOUT);
    }

    /// Host processes whose cgroup path still names this container.
    fn processes_left(&self) -> Vec<String> {
        let needle = format!("/{}", self.name);
        let mut left = Vec::new();
        let Ok(entries) = std::fs::read_dir("/proc") else {
            return vec!["cannot read /proc".to_owned()];
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(pid) = name.to_str().and_then(|s| s.parse::<u32>().ok()) else {
                continue;
            };
            let cgroup = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap_or_default();
            if let Some(line) = cgroup.lines().find(|line| line.contains(&needle)) {
                let status =
                    std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
                let state = status
                    .lines()
                    .find_map(|line| line.strip_prefix("State:"))
                    .unwrap_or("")
                    .trim();
                left.push(format!("process {pid} ({state}) still in {line}"));
            }
        }
        left
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        let left = self.shut_down();
        if !left.is_empty() {
            eprintln!("systemd live test: left behind: {}", left.join("; "));
        }
    }
}

/// The cgroups to create for the container: on a unified hierarchy one, on a
/// hybrid one (as on these machines) one in `name=systemd` and one in the
/// cgroup2 tree at `unified`.
fn cgroup_dirs(name: &str) -> Result<Vec<PathBuf>, String> {
    let root = Path::new("/sys/fs/cgroup");
    if root.join("cgroup.controllers").exists() {
        return Ok(vec![root.join(name)]);
    }
    let dirs: Vec<PathBuf> = ["systemd", "unified"]
        .iter()
        .map(|hierarchy| root.join(hierarchy))
        .filter(|dir| dir.join("cgroup.procs").exists())
        .map(|dir| dir.join(name))
        .collect();
    if dirs.is_empty() {
        Err("no cgroup2 or name=systemd hierarchy under /sys/fs/cgroup".to_owned())
    } else {
        Ok(dirs)
    }
}

/// `dir` and every directory below it.
fn collect_dirs(dir: &Path, found: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    found.push(dir.to_path_buf());
    for entry in entries.flatten() {
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            collect_dirs(&entry.path(), found);
        }
    }
}

/// The child of `parent` that is PID 1 of a pid namespace of its own.
fn container_init_of(parent: u32) -> Option<u32> {
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // The command name may hold spaces and parentheses: fields start
        // after the last ')'; the second of them is the parent pid.
        let Some((_, fields)) = stat.rsplit_once(')') else {
            continue;
        };
        if fields.split_whitespace().nth(1) != Some(&parent.to_string()) {
            continue;
        }
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        let nspid = status.lines().find_map(|line| line.strip_prefix("NSpid:"));
        if let Some(ids) = nspid
            && ids.split_whitespace().count() > 1
            && ids.split_whitespace().last() == Some("1")
        {
            return Some(pid);
        }
    }
    None
}

/// A line the server sent, or `None` once the connection closed.
type Received = Option<String>;

/// One TCP connection inside the container: `nc` with piped standard streams.
pub struct Client {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<Received>,
    stderr: Receiver<Vec<u8>>,
    /// Every line received so far, for failure messages.
    transcript: Vec<String>,
}

impl Client {
    /// Sends `line` and a newline.
    pub fn send(&mut self, line: &str) -> Result<(), String> {
        let stdin = self.stdin.as_mut().ok_or("the client's input is closed")?;
        stdin
            .write_all(format!("{line}\n").as_bytes())
            .and_then(|()| stdin.flush())
            .map_err(|err| format!("cannot send {line:?}: {err}"))
    }

    /// Waits for a line containing `needle`; returns it.
    pub fn expect(&mut self, needle: &str) -> Result<String, String> {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(Some(line)) => {
                    self.transcript.push(line.clone());
                    if line.contains(needle) {
                        return Ok(line);
                    }
                }
                Ok(None) | Err(RecvTimeoutError::Disconnected) => {
                    let nc = self.nc_said();
                    return Err(format!(
                        "connection closed before {needle:?}; received {:?}{nc}",
                        self.transcript
                    ));
                }
                Err(RecvTimeoutError::Timeout) => {
                    return Err(format!(
                        "no {needle:?} within {TIMEOUT:?}; received {:?}",
                        self.transcript
                    ));
                }
            }
        }
    }

    /// Waits for the server to close the connection; fails on any other line.
    pub fn expect_closed(&mut self) -> Result<(), String> {
        match self.lines.recv_timeout(TIMEOUT) {
            Ok(None) | Err(RecvTimeoutError::Disconnected) => Ok(()),
            Ok(Some(line)) => Err(format!("expected the connection to close, got {line:?}")),
            Err(RecvTimeoutError::Timeout) => {
                Err(format!("the connection was still open after {TIMEOUT:?}"))
            }
        }
    }

    /// What `nc` wrote on stderr, if it has exited (e.g. "Connection refused").
    fn nc_said(&mut self) -> String {
        match self.child.try_wait() {
            Ok(Some(status)) => {
                let stderr = self.stderr.recv_timeout(TIMEOUT).unwrap_or_default();
                format!(
                    "; nc exited with {status}: {:?}",
                    String::from_utf8_lossy(&stderr).trim()
                )
            }
            _ => String::new(),
        }
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        // It may have exited already; either way it is reaped here.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Reads `source` line by line into a channel, without line ends and ANSI
/// escapes (the shipped config colors the server's output); `None` at the end.
fn spawn_line_reader(source: Option<impl Read + Send + 'static>) -> Receiver<Received> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        if let Some(source) = source {
            let mut reader = BufReader::new(source);
            let mut bytes = Vec::new();
            while matches!(reader.read_until(b'\n', &mut bytes), Ok(n) if n > 0) {
                let line = strip_escapes(&String::from_utf8_lossy(&bytes));
                bytes.clear();
                if tx
                    .send(Some(line.trim_end_matches(['\r', '\n']).to_owned()))
                    .is_err()
                {
                    return;
                }
            }
        }
        // The receiver may be gone; then nobody is waiting for the end.
        let _ = tx.send(None);
    });
    rx
}

/// `text` without ANSI CSI sequences (`ESC [` … final byte).
fn strip_escapes(text: &str) -> String {
    let mut plain = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            if chars.next() == Some('[') {
                for c in chars.by_ref() {
                    if ('@'..='~').contains(&c) {
                        break;
                    }
                }
            }
        } else {
            plain.push(c);
        }
    }
    plain
}
