//! Writing a ban or mute file so that a crash never tears it ([`save_atomic`]),
//! and the thread that does it for the hub ([`Saver`]), which must never wait
//! for a disk.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use async_channel::Sender;

use crate::{error, info};

/// Replaces the file at `path` with `text` so that, whatever happens meanwhile
/// (a crash, a kill, a power cut), the file holds either its old content or all of
/// `text`: write a temporary file in the same directory, fsync it, rename it over
/// `path`, fsync the directory (which makes the rename itself durable). The file
/// is mode 0600: it lists the addresses of people.
pub fn save_atomic(path: &Path, text: &str) -> io::Result<()> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "the path names no file"))?;
    let mut temp_name = std::ffi::OsString::from(".");
    temp_name.push(name);
    temp_name.push(".tmp");
    let temp = dir.join(temp_name);
    let written = (|| {
        let mut file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&temp)?;
        file.write_all(text.as_bytes())?;
        file.sync_all()
    })();
    if let Err(err) = written {
        // The old file is untouched; the partial temporary one is only litter,
        // and the next save truncates it anyway.
        let _ = fs::remove_file(&temp);
        return Err(err);
    }
    fs::rename(&temp, path)?;
    File::open(dir)?.sync_all()
}

/// How long the [`Saver`] waits before trying a failed save again, when no newer
/// snapshot came meanwhile.
pub const SAVE_RETRY: Duration = Duration::from_secs(10);

/// Writes list snapshots to the file on its own thread, so that the hub never
/// waits for the disk. It holds at most one snapshot waiting: a newer one replaces
/// it (a one-slot mailbox, the bounded channel that coalesces), because only the
/// latest list matters. A failed save is logged and tried again after
/// [`SAVE_RETRY`], unless a newer snapshot came first. Dropping the saver (or
/// [`finish`](Self::finish)) writes the snapshot still waiting, then stops.
///
/// Each snapshot handed over gets a number, its generation, so that whoever
/// changed the list can learn later whether that change reached the disk
/// ([`outcome`](Self::outcome)): a snapshot written counts for every earlier
/// one too, since it holds their changes. After every write (or failed try)
/// the saver sends on its `wake` channel, if it has one, so that the one
/// waiting need not poll; a full channel means a wake-up is pending already.
#[derive(Debug)]
pub struct Saver {
    mailbox: Arc<Mailbox>,
    thread: Option<JoinHandle<()>>,
}

#[derive(Debug, Default)]
struct Mailbox {
    state: Mutex<MailboxState>,
    changed: Condvar,
}

#[derive(Debug, Default)]
struct MailboxState {
    /// The snapshot waiting to be written, with its generation.
    snapshot: Option<(u64, String)>,
    closed: bool,
    /// The generation of the last snapshot handed over.
    handed: u64,
    /// The highest generation written.
    saved: u64,
    /// The highest generation whose write failed (after `saved`), and why.
    failed: Option<(u64, String)>,
}

impl Mailbox {
    fn lock(&self) -> MutexGuard<'_, MailboxState> {
        // The lock only guards a move of an Option; a panic elsewhere cannot
        // leave it half-done.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Saver {
    /// Starts the saving thread for the file at `path`; it sends on `wake`
    /// after each write or failed try.
    pub fn start(path: PathBuf, wake: Option<Sender<()>>) -> io::Result<Saver> {
        let mailbox = Arc::new(Mailbox::default());
        let shared = Arc::clone(&mailbox);
        let thread = std::thread::Builder::new()
            .name("list-saver".to_owned())
            .spawn(move || save_loop(&path, &shared, wake.as_ref()))?;
        Ok(Saver {
            mailbox,
            thread: Some(thread),
        })
    }

    /// Hands over a rendered list ([`AddressList::render`](super::AddressList::render))
    /// to be written soon, and returns its generation; never waits for the disk
    /// (the lock it takes is only ever held for a moment).
    pub fn try_save(&self, snapshot: String) -> u64 {
        let mut state = self.mailbox.lock();
        state.handed += 1;
        let generation = state.handed;
        state.snapshot = Some((generation, snapshot));
        drop(state);
        self.mailbox.changed.notify_one();
        generation
    }

    /// Whether the snapshot of `generation` (or a later one, which holds its
    /// changes) is on disk: `None` while it is still being written, the error
    /// of its last try when that failed.
    pub fn outcome(&self, generation: u64) -> Option<Result<(), String>> {
        let state = self.mailbox.lock();
        if state.saved >= generation {
            return Some(Ok(()));
        }
        match &state.failed {
            Some((failed, why)) if *failed >= generation => Some(Err(why.clone())),
            _ => None,
        }
    }

    /// Writes the snapshot still waiting, if any, and stops the thread.
    pub fn finish(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        self.mailbox.lock().closed = true;
        self.mailbox.changed.notify_one();
        if let Some(thread) = self.thread.take() {
            // The thread only panics on a bug, which it has already reported on
            // stderr; there is nothing more to do about it here.
            let _ = thread.join();
        }
    }
}

impl Drop for Saver {
    fn drop(&mut self) {
        self.stop();
    }
}

fn save_loop(path: &Path, mailbox: &Mailbox, wake: Option<&Sender<()>>) {
    // A snapshot whose save failed, to try again unless a newer one comes.
    let mut failed: Option<(u64, String)> = None;
    let mut last_failed = false;
    loop {
        let snapshot = {
            let mut state = mailbox.lock();
            loop {
                if let Some(snapshot) = state.snapshot.take() {
                    break Some(snapshot);
                }
                if state.closed {
                    break None;
                }
                match failed.take() {
                    None => {
                        state = mailbox
                            .changed
                            .wait(state)
                            .unwrap_or_else(|e| e.into_inner())
                    }
                    Some(snapshot) => {
                        let (woken, wait) = mailbox
                            .changed
                            .wait_timeout(state, SAVE_RETRY)
                            .unwrap_or_else(|e| e.into_inner());
                        state = woken;
                        if wait.timed_out() && state.snapshot.is_none() {
                            break Some(snapshot);
                        }
                        // Woken by a newer snapshot or by closing: look again,
                        // keeping this one in case it is closing.
                        failed = Some(snapshot);
                    }
                }
            }
        };
        // Logged with the lock released: stderr may be slow, and the hub takes
        // the lock to hand over snapshots.
        let Some(snapshot) = snapshot else {
            if failed.is_some() {
                error!("{} not saved: giving up at exit", path.display());
            }
            return;
        };
        // A newer snapshot supersedes the one that failed.
        failed = None;
        let (generation, text) = snapshot;
        let written = save_atomic(path, &text);
        {
            let mut state = mailbox.lock();
            match &written {
                Ok(()) => {
                    state.saved = state.saved.max(generation);
                    state.failed = None;
                }
                Err(err) => state.failed = Some((generation, err.to_string())),
            }
        }
        if let Some(wake) = wake {
            // Full: a wake-up is pending already. Closed: nobody waits any more.
            let _ = wake.try_send(());
        }
        match written {
            Ok(()) if last_failed => {
                last_failed = false;
                info!("{} saved again", path.display());
            }
            Ok(()) => {}
            Err(err) => {
                last_failed = true;
                error!(
                    "cannot save {}: {err}; trying again in {}s",
                    path.display(),
                    SAVE_RETRY.as_secs()
                );
                failed = Some((generation, text));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bans::tests::{at, temp_dir};
    use crate::bans::{AddressList, Entry, IpNet, Kind, load};
    use crate::test_rng::Rng;
    use std::io::{BufRead, BufReader};
    use std::net::{IpAddr, Ipv4Addr};
    use std::process::{Command, Stdio};

    #[test]
    fn save_atomic_writes_a_private_file_that_loads_back() {
        use std::os::unix::fs::PermissionsExt;
        let dir = temp_dir("save");
        let path = dir.join("bans");
        save_atomic(&path, "old").unwrap();
        let list = crate::bans::tests::sample();
        save_atomic(&path, &list.render()).unwrap();
        assert_eq!(load(&path, Kind::Ban).unwrap(), list);
        let mode = fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        // Only the file itself is left: the temporary one was renamed over it.
        let names: Vec<_> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["bans"]);
        let missing = dir.join("no such dir").join("bans");
        assert_eq!(
            save_atomic(&missing, "x").unwrap_err().kind(),
            io::ErrorKind::NotFound
        );
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn saver_writes_the_latest_snapshot() {
        let dir = temp_dir("saver");
        let path = dir.join("bans");
        let saver = Saver::start(path.clone(), None).unwrap();
        for i in 0..100 {
            saver.try_save(format!("snapshot {i}\n"));
        }
        saver.finish();
        assert_eq!(fs::read_to_string(&path).unwrap(), "snapshot 99\n");
        // Dropping also writes what is waiting.
        let saver = Saver::start(path.clone(), None).unwrap();
        saver.try_save("last\n".to_owned());
        drop(saver);
        assert_eq!(fs::read_to_string(&path).unwrap(), "last\n");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn saver_tells_whether_a_snapshot_reached_the_disk() {
        let dir = temp_dir("outcome");
        let (wake, woken) = async_channel::bounded(1);
        let saver = Saver::start(dir.join("bans"), Some(wake.clone())).unwrap();
        let first = saver.try_save("one\n".to_owned());
        woken.recv_blocking().unwrap();
        assert_eq!(saver.outcome(first), Some(Ok(())));
        // Not handed over yet: not known.
        assert_eq!(saver.outcome(first + 1), None);
        saver.finish();
        let broken = Saver::start(dir.join("missing").join("bans"), Some(wake)).unwrap();
        let generation = broken.try_save("two\n".to_owned());
        woken.recv_blocking().unwrap();
        let why = broken.outcome(generation).unwrap().unwrap_err();
        assert!(why.contains("No such file"), "{why}");
        broken.finish();
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn saver_that_cannot_write_still_stops() {
        let dir = temp_dir("saver-fails");
        let saver = Saver::start(dir.join("missing").join("bans"), None).unwrap();
        saver.try_save("x".to_owned());
        // It logs the failure, waits to retry, and gives up when told to stop.
        saver.finish();
        fs::remove_dir_all(&dir).unwrap();
    }

    /// Names the directory the child process of [`save_is_never_torn_by_sigkill`] saves in.
    const CHILD_DIR: &str = "CHATD_TEST_BAN_SAVER_DIR";

    /// Two different big lists' texts (about 1 MB each), the same every run.
    fn big_texts() -> (String, String) {
        let make = |seed: u64| {
            let mut rng = Rng(seed);
            let mut list = AddressList::new(Kind::Ban);
            for i in 0..12_000u32 {
                list.add(Entry {
                    net: IpNet::host(IpAddr::V4(Ipv4Addr::from(i))),
                    until: Some(at(1_796_000_000 + rng.bits() % 1_000_000)),
                    reason: format!("reason {}", rng.bits()),
                    by: "ctl".to_owned(),
                    since: at(1_795_000_000),
                });
            }
            list.render()
        };
        (make(1), make(2))
    }

    /// Not a test by itself: the child process that [`save_is_never_torn_by_sigkill`]
    /// starts (this test binary again, running only this function) and kills. It
    /// saves the two big lists in turn, forever, saying on stdout after each save.
    #[test]
    #[ignore = "the child process of save_is_never_torn_by_sigkill"]
    fn ban_saving_child() {
        let Some(dir) = std::env::var_os(CHILD_DIR) else {
            return;
        };
        let path = Path::new(&dir).join("bans");
        let (a, b) = big_texts();
        let mut stdout = io::stdout();
        for i in 0u64.. {
            save_atomic(&path, if i % 2 == 0 { &b } else { &a }).unwrap();
            writeln!(stdout, "saved {i}").unwrap();
            stdout.flush().unwrap();
        }
    }

    /// The atomic-write guarantee: a process killed with SIGKILL while saving leaves
    /// the old or the new file, complete, never a mix or a truncated one. A child
    /// process saves two big lists in turn; it is killed just after a save it
    /// reported, so while it writes the next one; the file must then be exactly one
    /// of the two. (With a plain `fs::write` this fails at once: the file is found
    /// truncated.)
    #[test]
    fn save_is_never_torn_by_sigkill() {
        let dir = temp_dir("sigkill");
        let path = dir.join("bans");
        let (a, b) = big_texts();
        save_atomic(&path, &a).unwrap();
        let mut rng = Rng(0x4b111);
        for round in 0..10 {
            let mut child = Command::new(std::env::current_exe().unwrap())
                .args([
                    "bans::store::tests::ban_saving_child",
                    "--exact",
                    "--ignored",
                    "--nocapture",
                ])
                .env(CHILD_DIR, &dir)
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            let stdout = child.stdout.take().unwrap();
            let (tx, rx) = std::sync::mpsc::channel();
            std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines() {
                    let Ok(line) = line else { return };
                    if line.starts_with("saved ") && tx.send(line).is_err() {
                        return;
                    }
                }
            });
            // After 1 to 3 saves: the kill then lands at varying points of the next.
            for _ in 0..=rng.below(3) {
                rx.recv_timeout(Duration::from_secs(10))
                    .unwrap_or_else(|e| panic!("round {round}: the child did not save: {e}"));
            }
            child.kill().unwrap();
            child.wait().unwrap();
            let now = fs::read_to_string(&path).unwrap();
            assert!(
                now == a || now == b,
                "round {round}: torn file of {} bytes",
                now.len()
            );
        }
        fs::remove_dir_all(&dir).unwrap();
    }
}
