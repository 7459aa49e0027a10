//! chatd under a real systemd (issue 13): boots systemd as PID 1 of a throw-away
//! container (`systemd_live/container.rs`), installs chatd there by running the
//! Install block of docs/operating.md line by line, and checks what an operator relies on:
//! start, status, chat, watchdog, reload, the journal's priorities, a live
//! upgrade (same PID, users kept, watchdog and reload after it), graceful stop,
//! config errors, restarts, socket activation and the hardening.
//!
//! Each check has a name and runs even when an earlier one failed; the test
//! fails at the end listing every failed check. It needs root, `systemd-nspawn`,
//! `nsenter`, `unshare`, `socat` and `mount`: without them it is ignored (see
//! build.rs), except under `CI=true`, where it runs and fails.
//!
//! Test-only changes to what docs/operating.md installs, each to keep the test fast:
//! `shutdown_grace_secs = 1` in the staged config, a drop-in with
//! `WatchdogSec=6s` (so a ping is seen within seconds), and no `/bin/kill` in
//! the container (the host tree has procps; a minimal Debian does not).

mod container;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use container::{Client, Container, SOURCE_DIR, TIMEOUT};

const GUIDE: &str = include_str!("../../docs/operating.md");
const SHIPPED_CONFIG: &str = include_str!("../../config/chatd.conf");
const SERVICE: &str = include_str!("../../systemd/chatd.service");
const SOCKET: &str = include_str!("../../systemd/chatd.socket");

/// The shipped config's port, which the socket unit listens on too.
const PORT: u16 = 8194;

/// Where the installed config lives (the unit's `--config`).
const CONFIG_PATH: &str = "/etc/chatd/chatd.conf";

/// The watchdog drop-in: the room pings at half the interval, so every 3 s.
const WATCHDOG_DROP_IN: &str = "[Service]\nWatchdogSec=6s\n";

#[test]
#[cfg_attr(
    not(all(
        is_root,
        has_systemd_nspawn,
        has_nsenter,
        has_unshare,
        has_socat,
        has_mount
    )),
    ignore = "needs root, systemd-nspawn (systemd-container), nsenter, unshare, socat and mount"
)]
fn chatd_under_systemd_as_pid_1() {
    if let Err(why) = prerequisites() {
        panic!("the systemd live test cannot run here: {why}");
    }
    let started = Instant::now();
    let stage = Stage::new();
    let mut container =
        Container::boot(stage.path()).unwrap_or_else(|err| panic!("booting the container: {err}"));
    let booted = started.elapsed();
    let mut checks = Checks::default();
    run_checks(&Live { c: &container }, &mut checks);
    let left = container.shut_down();
    checks.record(
        "cleanup: no mounts, cgroups or processes left",
        if left.is_empty() {
            Ok(())
        } else {
            Err(left.join("; "))
        },
    );
    drop(stage);
    eprintln!(
        "systemd live test: booted in {booted:.1?}, {} checks in {:.1?}",
        checks.results.len(),
        started.elapsed()
    );
    checks.finish();
}

/// Why the test cannot run here, if it cannot.
fn prerequisites() -> Result<(), String> {
    let status = std::fs::read_to_string("/proc/self/status").map_err(|err| err.to_string())?;
    let euid = status
        .lines()
        .find_map(|line| line.strip_prefix("Uid:"))
        .and_then(|ids| ids.split_whitespace().nth(1));
    if euid != Some("0") {
        return Err("needs root (it mounts, creates cgroups and boots a container)".to_owned());
    }
    let missing: Vec<&str> = ["systemd-nspawn", "nsenter", "unshare", "socat", "mount"]
        .into_iter()
        .filter(|program| !on_path(program))
        .collect();
    if !missing.is_empty() {
        return Err(format!(
            "{} not installed (systemd-nspawn is in Debian's systemd-container)",
            missing.join(", ")
        ));
    }
    Ok(())
}

fn on_path(program: &str) -> bool {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path).any(|dir| dir.join(program).is_file())
}

// --- What gets installed ----------------------------------------------------------

/// A source tree as the Install block of docs/operating.md expects it: the binaries cargo
/// built for this test where `cargo build --release` puts them, the config and
/// the units. The container sees it read-only at `SOURCE_DIR`.
struct Stage {
    dir: PathBuf,
}

impl Stage {
    fn new() -> Stage {
        let dir = std::env::temp_dir().join(format!("chatd-live-{}-src", std::process::id()));
        let config = staged_config();
        let files: [(&str, &[u8]); 4] = [
            ("config/chatd.conf", config.as_bytes()),
            ("systemd/chatd.service", SERVICE.as_bytes()),
            ("systemd/chatd.socket", SOCKET.as_bytes()),
            ("docs/operating.md", GUIDE.as_bytes()),
        ];
        for (path, contents) in files {
            let path = dir.join(path);
            std::fs::create_dir_all(path.parent().expect("staged files are in a dir"))
                .expect("create stage dir");
            std::fs::write(&path, contents).expect("write staged file");
        }
        let release = dir.join("target/release");
        std::fs::create_dir_all(&release).expect("create stage target dir");
        for (name, built) in [
            ("chatd", env!("CARGO_BIN_EXE_chatd")),
            ("chat", env!("CARGO_BIN_EXE_chat")),
        ] {
            std::fs::copy(built, release.join(name)).expect("copy built binary");
        }
        Stage { dir }
    }

    fn path(&self) -> &Path {
        &self.dir
    }
}

impl Drop for Stage {
    fn drop(&mut self) {
        if let Err(err) = std::fs::remove_dir_all(&self.dir) {
            eprintln!(
                "systemd live test: cannot remove {}: {err}",
                self.dir.display()
            );
        }
    }
}

/// The shipped config with a 1 s grace, so each graceful stop takes 1 s, not 10.
fn staged_config() -> String {
    let from = "\nshutdown_grace_secs = 10\n";
    assert!(
        SHIPPED_CONFIG.contains(from),
        "config/chatd.conf no longer has {from:?}"
    );
    SHIPPED_CONFIG.replace(from, "\nshutdown_grace_secs = 1\n")
}

/// The staged config with another room name, for the reload checks.
fn reloaded_config() -> String {
    let from = "\nroom_name = \"chatd\"\n";
    assert!(
        SHIPPED_CONFIG.contains(from),
        "config/chatd.conf no longer has {from:?}"
    );
    staged_config().replace(from, "\nroom_name = \"live-reloaded\"\n")
}

/// The `sh` code blocks of the docs/operating.md section under `heading`, each
/// as its lines.
fn guide_blocks(heading: &str) -> Vec<Vec<&'static str>> {
    let mut blocks = Vec::new();
    let mut in_section = false;
    let mut block: Option<Vec<&str>> = None;
    for line in GUIDE.lines() {
        if let Some(lines) = block.as_mut() {
            if line.starts_with("```") {
                blocks.push(block.take().unwrap_or_default());
            } else {
                lines.push(line);
            }
        } else if line.starts_with('#') {
            if in_section {
                break;
            }
            in_section = line == heading;
        } else if in_section && line == "```sh" {
            block = Some(Vec::new());
        }
    }
    blocks
}

/// The commands of a guide's block: its lines without blank and comment lines.
fn commands<'a>(block: &[&'a str]) -> Vec<&'a str> {
    block
        .iter()
        .map(|line| line.trim())
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .collect()
}

// --- Checks -----------------------------------------------------------------------

type Check = Result<(), String>;

/// The named results so far.
#[derive(Default)]
struct Checks {
    results: Vec<(&'static str, Check)>,
}

impl Checks {
    fn record(&mut self, name: &'static str, result: Check) {
        match &result {
            Ok(()) => eprintln!("check {name}: ok"),
            Err(why) => eprintln!("check {name}: FAILED: {why}"),
        }
        self.results.push((name, result));
    }

    fn finish(self) {
        let failed: Vec<String> = self
            .results
            .iter()
            .filter_map(|(name, result)| result.as_ref().err().map(|why| format!("{name}: {why}")))
            .collect();
        assert!(
            failed.is_empty(),
            "{} of {} live checks failed:\n{}",
            failed.len(),
            self.results.len(),
            failed.join("\n")
        );
    }
}

fn ensure(condition: bool, why: impl FnOnce() -> String) -> Check {
    if condition { Ok(()) } else { Err(why()) }
}

/// The running container, with the ways the checks ask it things.
struct Live<'a> {
    c: &'a Container,
}

impl Live<'_> {
    /// One property of a unit, as `systemctl show` gives it.
    fn show(&self, unit: &str, property: &str) -> Result<String, String> {
        let out = self
            .c
            .run(&format!("systemctl show --value -p {property} {unit}"))?;
        Ok(out.trim().to_owned())
    }

    /// Waits until `property` of `unit` satisfies `wanted`; returns its value.
    fn wait_show(
        &self,
        unit: &str,
        property: &str,
        wanted: impl Fn(&str) -> bool,
    ) -> Result<String, String> {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let value = self.show(unit, property)?;
            if wanted(&value) {
                return Ok(value);
            }
            if Instant::now() > deadline {
                return Err(format!("{unit} {property}={value:?} after {TIMEOUT:?}"));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The journal's messages for `filter` (journalctl arguments), one a line.
    fn journal(&self, filter: &str) -> Result<String, String> {
        self.c
            .run(&format!("journalctl --no-pager -q -o cat {filter}"))
    }

    /// Waits until the journal for `filter` has a message containing `needle`.
    /// Returns all of that journal: journald reads each stream in order, so
    /// everything chatd wrote before that message is in it too.
    fn wait_journal(&self, filter: &str, needle: &str) -> Result<String, String> {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let journal = self.journal(filter)?;
            if journal.contains(needle) {
                return Ok(journal);
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "no {needle:?} in `journalctl {filter}` after {TIMEOUT:?}; it has:\n{journal}"
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// A filter for what the journal gets from now on: `--since=` one
    /// microsecond after its newest entry. Not `--after-cursor=`: journalctl
    /// 252 (Debian 12) then skips the first entry that matches the other
    /// filters whenever the cursor's own entry does not match them (systemd
    /// issue #30288, fixed in 255), so `-u chatd -p err --after-cursor=…` lost
    /// exactly the line a check looks for.
    fn mark(&self) -> Result<String, String> {
        let out = self
            .c
            .run("journalctl --no-pager -q -n 1 -o export --output-fields=__REALTIME_TIMESTAMP")?;
        let usec: u64 = out
            .lines()
            .find_map(|line| line.strip_prefix("__REALTIME_TIMESTAMP="))
            .and_then(|usec| usec.parse().ok())
            .ok_or_else(|| format!("no __REALTIME_TIMESTAMP in {out:?}"))?;
        let after = usec + 1;
        Ok(format!(
            "--since=@{}.{:06}",
            after / 1_000_000,
            after % 1_000_000
        ))
    }

    /// Writes the installed config file.
    fn write_config(&self, text: &str) -> Check {
        let out = self.c.sh(&format!("cat > {CONFIG_PATH}"), text)?;
        ensure(out.status.success(), || {
            format!("writing {CONFIG_PATH}: {}", out.describe())
        })
    }

    /// A new connection, up to the nickname prompt; returns it and the room
    /// name its banner gave.
    fn connect(&self) -> Result<(Client, String), String> {
        let mut client = self.c.connect(PORT)?;
        let banner = client.expect("> Welcome to ")?;
        let room = banner.trim_start_matches("> Welcome to ").to_owned();
        client.expect("Please type your nickname")?;
        Ok((client, room))
    }

    /// A new user `nick` in the room.
    fn join(&self, nick: &str) -> Result<Client, String> {
        let (mut client, _) = self.connect()?;
        client.send(&format!("{nick}#"))?;
        client.expect(&format!("* Welcome, {nick}!"))?;
        Ok(client)
    }

    fn main_pid(&self) -> Result<u32, String> {
        let pid = self.show("chatd", "MainPID")?;
        pid.parse().map_err(|_| format!("MainPID={pid:?}"))
    }

    /// What `systemctl status` says, for failure messages.
    fn status(&self) -> String {
        match self.c.sh("systemctl status --no-pager -l -n 5 chatd", "") {
            Ok(out) => out.stdout,
            Err(err) => err,
        }
    }
}

fn run_checks(live: &Live<'_>, checks: &mut Checks) {
    checks.record(
        "container: no kill(1), as on a minimal Debian",
        no_kill(live),
    );
    checks.record(
        "install: the Install block of docs/operating.md runs, line by line",
        install(live),
    );
    checks.record(
        "start: `systemctl enable --now chatd` leaves it active (Type=notify)",
        active_after_enable(live),
    );
    checks.record(
        "status: `systemctl status` shows the Status: line",
        status_line(live),
    );
    checks.record(
        "chat: two users talk through the service",
        two_users_chat(live),
    );
    checks.record(
        "watchdog: chatd's pings reach systemd (WatchdogTimestamp moves)",
        watchdog(live),
    );
    let reloaded = reload_applies(live);
    let mark = reloaded.as_ref().ok().cloned();
    checks.record(
        "reload: `systemctl reload` applies a change (room_name in the banner)",
        reloaded.map(|_| ()),
    );
    checks.record(
        "reload: returns only after the new settings apply",
        match mark {
            Some(mark) => reload_waits_for_apply(live, &mark),
            None => Err("the reload itself failed (see above)".to_owned()),
        },
    );
    bad_reload(live, checks);
    checks.record(
        "journal: -p warning shows chatd's warnings and none of its info lines",
        warning_priority(live),
    );
    let upgraded = live_upgrade(live);
    let after_upgrade = |check: fn(&Live<'_>) -> Check| match &upgraded {
        Ok(()) => check(live),
        Err(_) => Err("the upgrade itself failed (see above)".to_owned()),
    };
    let (watchdog_after, reload_after) = (
        after_upgrade(watchdog_after_upgrade),
        after_upgrade(reload_after_upgrade),
    );
    checks.record(
        "upgrade: `chatd ctl upgrade` keeps the PID, the unit active and the users chatting",
        upgraded,
    );
    checks.record(
        "upgrade: the new image pings the watchdog; nothing restarted (NRestarts=0)",
        watchdog_after,
    );
    checks.record(
        "upgrade: `systemctl reload` still reloads the config after an upgrade",
        reload_after,
    );
    checks.record(
        "stop: graceful with a connected user (notices, exit status 0)",
        graceful_stop(live),
    );
    config_error(live, checks);
    checks.record(
        "restart: SIGKILL is restarted (NRestarts +1, new PID)",
        sigkill_restarts(live),
    );
    checks.record(
        "socket: the lines of docs/operating.md; chatd starts on the first connection",
        socket_activation(live),
    );
    checks.record(
        "socket: a connection made during a graceful stop is served by the next start",
        connection_during_stop(live),
    );
    checks.record("hardening: no denials in the journal", no_denials(live));
}

fn no_kill(live: &Live<'_>) -> Check {
    let out = live
        .c
        .run("test ! -e /bin/kill && test ! -e /usr/bin/kill && command -v kill")?;
    ensure(out.trim() == "kill", || {
        format!("kill is {:?}, not only the shell builtin", out.trim())
    })
}

fn install(live: &Live<'_>) -> Check {
    let blocks = guide_blocks("### Install");
    let [build, install] = blocks.as_slice() else {
        return Err(format!(
            "the Install section of docs/operating.md should have two sh blocks (build, install), has {}",
            blocks.len()
        ));
    };
    // The build block is what cargo did before it ran this test: the staged
    // tree has the binaries it built in target/release.
    ensure(commands(build) == ["cargo build --release"], || {
        format!("the build block is {build:?}, not `cargo build --release`")
    })?;
    live.c.run(&format!(
        "mkdir -p /etc/systemd/system/chatd.service.d && \
         printf '{}' > /etc/systemd/system/chatd.service.d/live-test.conf",
        WATCHDOG_DROP_IN.replace('\n', "\\n")
    ))?;
    let lines = commands(install);
    ensure(lines.contains(&"systemctl enable --now chatd"), || {
        format!("the install block has no `systemctl enable --now chatd`: {lines:?}")
    })?;
    for line in lines {
        live.c.run(&format!("cd {SOURCE_DIR} && {line}"))?;
    }
    Ok(())
}

fn active_after_enable(live: &Live<'_>) -> Check {
    // `enable --now` has returned: for Type=notify that means READY=1 came.
    let state = live.show("chatd", "ActiveState")?;
    let sub = live.show("chatd", "SubState")?;
    let kind = live.show("chatd", "Type")?;
    ensure(
        state == "active" && sub == "running" && kind == "notify",
        || {
            format!(
                "ActiveState={state} SubState={sub} Type={kind}; {}",
                live.status()
            )
        },
    )
}

fn status_line(live: &Live<'_>) -> Check {
    let _alice = live.join("alice")?;
    let wanted = "Status: \"1 connected, 1 registered\"";
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let status = live.status();
        if status.contains(wanted) {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!("no {wanted:?} in:\n{status}"));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn two_users_chat(live: &Live<'_>) -> Check {
    let mut alice = live.join("alice")?;
    let mut bob = live.join("bob")?;
    alice.expect("* bob joined")?;
    bob.send("hello from bob")?;
    alice.expect("> bob: hello from bob")?;
    alice.send("hi bob")?;
    bob.expect("> alice: hi bob")?;
    Ok(())
}

fn watchdog(live: &Live<'_>) -> Check {
    let interval = live.show("chatd", "WatchdogUSec")?;
    ensure(interval == "6s", || {
        format!("WatchdogUSec={interval}: the test's drop-in did not apply")
    })?;
    let before = live.show("chatd", "WatchdogTimestampMonotonic")?;
    live.wait_show("chatd", "WatchdogTimestampMonotonic", |now| now != before)?;
    Ok(())
}

/// Reloads with a new room name; on success returns the journal mark taken
/// before the reload.
fn reload_applies(live: &Live<'_>) -> Result<String, String> {
    live.write_config(&reloaded_config())?;
    let mark = live.mark()?;
    let out = live.c.sh("systemctl reload chatd", "")?;
    if !out.status.success() {
        return Err(format!(
            "`systemctl reload chatd` failed: {}\n{}",
            out.describe(),
            live.status()
        ));
    }
    // No waiting: the reload has returned, so the new name must be in force.
    let (_client, room) = live.connect()?;
    ensure(room == "live-reloaded", || {
        format!("the banner says {room:?} right after the reload returned")
    })?;
    Ok(mark)
}

/// `mark` was taken before the reload: chatd's "config reloaded" must come
/// before systemd's "Reloaded", which it logs when the reload job ends.
fn reload_waits_for_apply(live: &Live<'_>, mark: &str) -> Check {
    let filter = format!("-u chatd {mark}");
    let systemd_done = "Reloaded chatd.service";
    live.wait_journal(&filter, systemd_done)?;
    let journal = live.wait_journal(&filter, "config reloaded")?;
    let applied = journal.find("config reloaded").unwrap_or(usize::MAX);
    let done = journal.find(systemd_done).unwrap_or(0);
    ensure(applied < done, || {
        format!("systemd finished the reload before chatd applied it:\n{journal}")
    })
}

fn bad_reload(live: &Live<'_>, checks: &mut Checks) {
    let before = (|| {
        let pid = live.main_pid()?;
        let (_client, room) = live.connect()?;
        let mut bad = reloaded_config();
        bad.push_str("prot = 8194\n");
        live.write_config(&bad)?;
        Ok::<_, String>((pid, room, live.mark()?))
    })();
    let (pid, room, mark) = match before {
        Ok(before) => before,
        Err(err) => {
            checks.record("reload: a bad file fails the reload", Err(err));
            return;
        }
    };
    checks.record(
        "reload: a bad file fails the reload",
        (|| {
            let out = live.c.sh("systemctl reload chatd", "")?;
            ensure(!out.status.success(), || {
                format!(
                    "`systemctl reload chatd` succeeded with a bad file: {}",
                    out.describe()
                )
            })
        })(),
    );
    checks.record(
        "reload: the bad file's reason is in `journalctl -u chatd -p err`",
        live.wait_journal(&format!("-u chatd -p err {mark}"), "unknown key \"prot\"")
            .map(|_| ()),
    );
    checks.record(
        "reload: after a bad file chatd is untouched (same PID, serving, old settings)",
        (|| {
            let now = live.main_pid()?;
            ensure(now == pid, || format!("MainPID was {pid}, is {now}"))?;
            let (mut client, room_now) = live.connect()?;
            ensure(room_now == room, || {
                format!("room name was {room:?} before the bad reload, is {room_now:?}")
            })?;
            client.send("dave#")?;
            client.expect("* Welcome, dave!")?;
            Ok(())
        })(),
    );
    // Later checks start from a good file; a failure here shows in them.
    let _ = live.write_config(&reloaded_config());
}

/// chatd's info lines, as `journalctl -o cat` shows them.
const INFO_LINES: [&str; 9] = [
    "chatd 0.1.0 starting",
    "listening on ",
    "connect ",
    "registered \"",
    "left \"",
    "config reloaded",
    "SIGTERM: graceful",
    "shutdown begun",
    "shutdown finished",
];

fn warning_priority(live: &Live<'_>) -> Check {
    // A restart-only key changed gives a warning and is otherwise a good
    // reload. SIGHUP goes straight from systemd, so this check does not
    // depend on ExecReload=.
    live.write_config(&reloaded_config().replace("\nport = 8194\n", "\nport = 8195\n"))?;
    let mark = live.mark()?;
    live.c.run("systemctl kill -s HUP --kill-whom=main chatd")?;
    let warning = "config reload: port changed, which needs a restart; keeping the old value";
    live.wait_journal(&format!("-u chatd -p warning {mark}"), warning)
        .map_err(|err| {
            format!(
                "{err}\nall of it since:\n{}",
                live.journal(&format!("-u chatd {mark}"))
                    .unwrap_or_default()
            )
        })?;
    // The info line that follows the warning: the check can see info lines.
    live.wait_journal(&format!("-u chatd -p info {mark}"), "config reloaded")?;
    live.write_config(&reloaded_config())?;
    let warnings = live.journal("-u chatd -p warning")?;
    let info: Vec<&str> = warnings
        .lines()
        .filter(|line| INFO_LINES.iter().any(|info| line.starts_with(info)))
        .collect();
    ensure(info.is_empty(), || {
        format!("info lines at -p warning: {info:?}")
    })
}

/// `chatd ctl upgrade` as root, to the binary chatd was started from: the
/// answer, the same MainPID, the unit back to active/running (READY=1 after
/// RELOADING=1), no restart, the users told once and chatting on, the log line.
fn live_upgrade(live: &Live<'_>) -> Check {
    let pid = live.main_pid()?;
    let restarts = live.show("chatd", "NRestarts")?;
    let mut ursula = live.join("ursula")?;
    let mut victor = live.join("victor")?;
    ursula.expect("* victor joined")?;
    let mark = live.mark()?;
    let out = live
        .c
        .sh(&format!("chatd ctl --config {CONFIG_PATH} upgrade"), "")?;
    ensure(out.status.success(), || {
        format!(
            "`chatd ctl upgrade` failed: {}\n{}",
            out.describe(),
            live.status()
        )
    })?;
    let answer: Vec<&str> = out.stdout.lines().collect();
    let version = env!("CARGO_PKG_VERSION");
    ensure(
        answer.len() == 2
            && answer[0].starts_with(&format!("upgraded to chatd {version}: "))
            && answer[0].contains(" connections kept, paused ")
            && answer[1].starts_with("state: "),
        || format!("the answer: {:?}", out.stdout),
    )?;
    let now = live.main_pid()?;
    ensure(now == pid, || format!("MainPID was {pid}, is {now}"))?;
    // RELOADING=1 then READY=1: back to active/running, not left reloading.
    live.wait_show("chatd", "ActiveState", |state| state == "active")?;
    live.wait_show("chatd", "SubState", |state| state == "running")?;
    let restarts_now = live.show("chatd", "NRestarts")?;
    ensure(restarts_now == restarts, || {
        format!("NRestarts was {restarts}, is {restarts_now}")
    })?;
    for user in [&mut ursula, &mut victor] {
        user.expect("* server upgraded")?;
    }
    ursula.send("still here")?;
    victor.expect("> ursula: still here")?;
    victor.send("me too")?;
    ursula.expect("> victor: me too")?;
    live.wait_journal(&format!("-u chatd -p info {mark}"), "upgraded to chatd ")?;
    // And the new image serves newcomers.
    let mut walter = live.join("walter")?;
    walter.send("hello")?;
    ursula.expect("> walter: hello")?;
    Ok(())
}

/// After the upgrade the watchdog is pinged by the new image (its timestamp
/// moves), and systemd never restarted chatd: same PID, NRestarts=0.
fn watchdog_after_upgrade(live: &Live<'_>) -> Check {
    let pid = live.main_pid()?;
    let before = live.show("chatd", "WatchdogTimestampMonotonic")?;
    live.wait_show("chatd", "WatchdogTimestampMonotonic", |now| now != before)?;
    let now = live.main_pid()?;
    let restarts = live.show("chatd", "NRestarts")?;
    let state = live.show("chatd", "ActiveState")?;
    ensure(now == pid && restarts == "0" && state == "active", || {
        format!("MainPID {pid} -> {now}, NRestarts={restarts}, ActiveState={state}")
    })
}

/// `systemctl reload` after an upgrade: the new image answers the reload and
/// the banner shows the new room name, in the same process.
fn reload_after_upgrade(live: &Live<'_>) -> Check {
    let pid = live.main_pid()?;
    let renamed = reloaded_config().replace(
        "\nroom_name = \"live-reloaded\"\n",
        "\nroom_name = \"after-upgrade\"\n",
    );
    live.write_config(&renamed)?;
    let out = live.c.sh("systemctl reload chatd", "")?;
    // Later checks start from the reloaded config again.
    let restored = live.write_config(&reloaded_config());
    ensure(out.status.success(), || {
        format!(
            "`systemctl reload chatd` failed: {}\n{}",
            out.describe(),
            live.status()
        )
    })?;
    restored?;
    let (_client, room) = live.connect()?;
    ensure(room == "after-upgrade", || {
        format!("the banner says {room:?} after the reload")
    })?;
    let now = live.main_pid()?;
    ensure(now == pid, || format!("MainPID was {pid}, is {now}"))
}

fn graceful_stop(live: &Live<'_>) -> Check {
    let mut carol = live.join("carol")?;
    live.c.run("systemctl stop chatd")?;
    carol.expect("* server shutting down in 1 second")?;
    carol.expect("* server shutting down now, goodbye")?;
    carol.expect_closed()?;
    let code = live.show("chatd", "ExecMainCode")?;
    let status = live.show("chatd", "ExecMainStatus")?;
    let result = live.show("chatd", "Result")?;
    // ExecMainCode 1 is CLD_EXITED: it exited rather than being killed.
    ensure(code == "1" && status == "0" && result == "success", || {
        format!("ExecMainCode={code} ExecMainStatus={status} Result={result}")
    })
}

fn config_error(live: &Live<'_>, checks: &mut Checks) {
    let mark = (|| {
        let mut bad = reloaded_config();
        bad.push_str("colour = true\n");
        live.write_config(&bad)?;
        live.mark()
    })();
    checks.record(
        "config error: status=78/CONFIG and no restart loop",
        mark.clone().and_then(|_| {
            let out = live.c.sh("systemctl start chatd", "")?;
            ensure(!out.status.success(), || {
                format!(
                    "`systemctl start` succeeded with a bad file: {}",
                    out.describe()
                )
            })?;
            let status = live.status();
            ensure(status.contains("status=78/CONFIG"), || {
                format!("no status=78/CONFIG in:\n{status}")
            })?;
            // A unit that is going to be restarted is in SubState=auto-restart.
            let state = live.show("chatd", "ActiveState")?;
            let sub = live.show("chatd", "SubState")?;
            let restarts = live.show("chatd", "NRestarts")?;
            ensure(
                state == "failed" && sub == "failed" && restarts == "0",
                || format!("ActiveState={state} SubState={sub} NRestarts={restarts}"),
            )
        }),
    );
    checks.record(
        "config error: the reason is in `journalctl -u chatd -p err`",
        mark.and_then(|mark| {
            live.wait_journal(&format!("-u chatd -p err {mark}"), "unknown key \"colour\"")
                .map(|_| ())
        }),
    );
    // The next check starts chatd again.
    let _ = live.write_config(&reloaded_config());
}

fn sigkill_restarts(live: &Live<'_>) -> Check {
    live.c.run("systemctl start chatd")?;
    let pid = live.main_pid()?;
    let restarts: u32 = live.show("chatd", "NRestarts")?.parse().unwrap_or(u32::MAX);
    live.c
        .run("systemctl kill -s KILL --kill-whom=main chatd")?;
    // RestartSec=2s, then a start: wait for a new main process that is up.
    live.wait_show("chatd", "MainPID", |now| {
        now != "0" && now != pid.to_string()
    })?;
    live.wait_show("chatd", "ActiveState", |state| state == "active")?;
    let now: u32 = live.show("chatd", "NRestarts")?.parse().unwrap_or(u32::MAX);
    ensure(now == restarts + 1, || {
        format!("NRestarts was {restarts}, is {now}")
    })?;
    live.join("frank").map(|_| ())
}

fn socket_activation(live: &Live<'_>) -> Check {
    let blocks = guide_blocks("### Socket activation");
    let block = blocks
        .first()
        .ok_or("the Socket activation section of docs/operating.md has no sh block")?;
    let mark = live.mark()?;
    for line in commands(block) {
        live.c.run(&format!("cd {SOURCE_DIR} && {line}"))?;
    }
    let socket = live.show("chatd.socket", "ActiveState")?;
    let service = live.show("chatd", "ActiveState")?;
    ensure(socket == "active" && service == "inactive", || {
        format!(
            "after the lines of docs/operating.md: chatd.socket {socket}, chatd.service {service}"
        )
    })?;
    let _dave = live.join("dave")?;
    let service = live.show("chatd", "ActiveState")?;
    ensure(service == "active", || {
        format!("chatd.service is {service} after serving a connection")
    })?;
    live.wait_journal(
        &format!("-u chatd {mark}"),
        "using the socket passed by systemd",
    )?;
    Ok(())
}

fn connection_during_stop(live: &Live<'_>) -> Check {
    let mut dave = live.join("dave")?;
    let pid = live.main_pid()?;
    let mark = live.mark()?;
    live.c.run("systemctl stop --no-block chatd.service")?;
    dave.expect("* server shutting down in 1 second")?;
    // chatd has closed its listening socket; systemd still holds it.
    live.wait_journal(&format!("-u chatd {mark}"), "shutdown begun")?;
    let mut erin = live.c.connect(PORT)?;
    dave.expect("* server shutting down now, goodbye")?;
    dave.expect_closed()?;
    erin.expect("> Welcome to ")?;
    erin.expect("Please type your nickname")?;
    erin.send("erin#")?;
    erin.expect("* Welcome, erin!")?;
    let now = live.main_pid()?;
    ensure(now != pid, || format!("MainPID is still {pid}"))
}

fn no_denials(live: &Live<'_>) -> Check {
    let journal = live.journal("-u chatd -u chatd.socket")?;
    let everything = live.journal("")?;
    let mut found: Vec<&str> = journal
        .lines()
        .filter(|line| {
            line.contains("Permission denied") || line.contains("Operation not permitted")
        })
        .collect();
    found.extend(everything.lines().filter(|line| {
        line.contains("SECCOMP") || line.contains("audit:") || line.contains("status=31/SYS")
    }));
    ensure(found.is_empty(), || format!("denials: {found:?}"))
}
