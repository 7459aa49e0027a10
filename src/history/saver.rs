//! The history saver: a thread that writes what the hub hands it to the
//! history files, so that the hub never waits for a disk.
//!
//! The hub hands lines over through one [`Mailbox`] per file (per room on
//! disk): a lock held for a push, never a system call, never a wait. Each
//! mailbox holds at most the room's `history` lines: when more come before the
//! saver took them, the oldest go and the file is rewritten with the rest
//! instead of appended to (only the last `history` lines matter), so nothing
//! the hub hands over is ever refused and memory stays bounded.
//!
//! Every [`FLUSH_EVERY`] the saver takes what each mailbox holds and, per
//! file, does one of: append the lines and `fdatasync`; rewrite the file
//! atomically (temporary file, fsync, rename — as the ban files are written)
//! when it was asked to, or when the file would pass twice `history` lines
//! (compaction: the last `history` lines are kept); or remove it. A crash
//! loses at most what waited, under a second; a torn append is a last line
//! without its newline, which the start drops. A write that fails (a full
//! disk, a file size limit) is logged once, the lines wait in the mailbox
//! (still at most `history`) and the saver tries again at every flush; the
//! file is then rewritten rather than appended to, so a partial line never
//! stays in its middle. Dropping the [`Saver`] writes everything waiting,
//! then stops the thread: a graceful stop loses nothing.

use std::collections::{HashMap, VecDeque};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use super::record::{self, Record};
use crate::bans::save_atomic;
use crate::{error, info, warn};

/// How often the saver writes what waits: a crash loses at most this much of
/// the conversation, plus the time of one write.
pub const FLUSH_EVERY: Duration = Duration::from_millis(500);

/// The first line of every history file.
pub const HEADER: &str = "# chatd history: checksum time say|me nick text, one line each\n";

/// What the hub hands over for one file, waiting for the saver.
#[derive(Debug)]
pub struct Mailbox {
    file: Arc<str>,
    state: Mutex<Pending>,
    /// Set when `state` has something for the saver: it looks at no clean
    /// mailbox's lock.
    dirty: AtomicBool,
}

#[derive(Debug, Default)]
struct Pending {
    /// Lines not written yet, oldest first; at most `keep`.
    records: VecDeque<Record>,
    /// The file is to hold exactly `records`: rewrite it, do not append.
    replace: bool,
    /// The file is to go (the room is no longer kept).
    remove: bool,
    /// The room's `history` when the hub last handed something over.
    keep: usize,
    /// The hub holds this mailbox (a room on disk uses it); a detached,
    /// clean one is forgotten.
    attached: bool,
}

impl Mailbox {
    fn new(file: Arc<str>) -> Mailbox {
        Mailbox {
            file,
            state: Mutex::default(),
            dirty: AtomicBool::new(false),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Pending> {
        // Held only for pushes and moves; a panic cannot leave it half-done.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The file's name in the history directory.
    pub fn file(&self) -> &str {
        &self.file
    }

    /// Hands over a line said in the room, which keeps `keep` (`history`).
    pub fn append(&self, record: Record, keep: usize) {
        if keep == 0 {
            return;
        }
        let mut pending = self.lock();
        pending.keep = keep;
        while pending.records.len() >= keep {
            pending.records.pop_front();
            pending.replace = true;
        }
        pending.records.push_back(record);
        drop(pending);
        self.dirty.store(true, Ordering::Release);
    }

    /// The file is to hold exactly `records` (the last `keep` of them): after
    /// a purge, or when a room starts being kept.
    pub fn replace(&self, records: impl IntoIterator<Item = Record>, keep: usize) {
        let mut pending = self.lock();
        pending.records = records.into_iter().collect();
        while pending.records.len() > keep {
            pending.records.pop_front();
        }
        pending.keep = keep;
        pending.replace = true;
        pending.remove = false;
        drop(pending);
        self.dirty.store(true, Ordering::Release);
    }

    /// The file is to go, and the hub lets go of this mailbox.
    pub fn remove(&self) {
        let mut pending = self.lock();
        pending.records.clear();
        pending.replace = false;
        pending.remove = true;
        pending.attached = false;
        drop(pending);
        self.dirty.store(true, Ordering::Release);
    }
}

/// What the saver thread and the hub share.
#[derive(Debug)]
struct Shared {
    dir: PathBuf,
    /// Every file's mailbox, by file name, so that a room kept again gets the
    /// mailbox that may still hold its removal: one file, one queue, in order.
    files: Mutex<HashMap<Arc<str>, Arc<Mailbox>>>,
    closing: AtomicBool,
}

impl Shared {
    fn files(&self) -> MutexGuard<'_, HashMap<Arc<str>, Arc<Mailbox>>> {
        self.files.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The saver thread and its mailboxes.
#[derive(Debug)]
pub struct Saver {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl Saver {
    /// Starts the thread writing into `dir`, whose files hold `lines` records
    /// each (what the start read; a file not named is counted when first
    /// written).
    pub fn start(dir: PathBuf, lines: HashMap<String, usize>) -> io::Result<Saver> {
        ignore_file_size_signal();
        let shared = Arc::new(Shared {
            dir,
            files: Mutex::new(HashMap::new()),
            closing: AtomicBool::new(false),
        });
        let thread_shared = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("history-saver".to_owned())
            .spawn(move || save_loop(&thread_shared, lines))?;
        Ok(Saver {
            shared,
            thread: Some(thread),
        })
    }

    /// The directory the files are in.
    pub fn dir(&self) -> &Path {
        &self.shared.dir
    }

    /// The mailbox of the file `file`, for a room whose history goes to disk.
    pub fn mailbox(&self, file: &str) -> Arc<Mailbox> {
        let mut files = self.shared.files();
        let mailbox = files
            .entry(Arc::from(file))
            .or_insert_with_key(|file| Arc::new(Mailbox::new(Arc::clone(file))));
        mailbox.lock().attached = true;
        Arc::clone(mailbox)
    }
}

impl Drop for Saver {
    fn drop(&mut self) {
        self.shared.closing.store(true, Ordering::Release);
        if let Some(thread) = self.thread.take() {
            thread.thread().unpark();
            // The thread panics only on a bug, already reported on stderr.
            let _ = thread.join();
        }
    }
}

/// A file size limit (`ulimit -f`, `LimitFSIZE=`) kills a process that writes
/// past it with SIGXFSZ, unless the signal is handled; handled, the write
/// fails with EFBIG, which the saver logs like a full disk.
fn ignore_file_size_signal() {
    let flag = Arc::new(AtomicBool::new(false));
    if let Err(err) = signal_hook::flag::register(signal_hook::consts::SIGXFSZ, flag) {
        warn!("cannot handle SIGXFSZ: {err}; a file size limit would stop chatd");
    }
}

/// The saver's knowledge of one file.
#[derive(Debug, Default)]
struct OnDisk {
    /// Records in it; None: not known (never counted, or after a failed
    /// append that may have left part of a line): the next write rewrites it.
    lines: Option<usize>,
    /// Its last write failed (logged once, until one succeeds).
    failing: bool,
}

fn save_loop(shared: &Shared, lines: HashMap<String, usize>) {
    let mut disk: HashMap<String, OnDisk> = lines
        .into_iter()
        .map(|(file, lines)| {
            let on_disk = OnDisk {
                lines: Some(lines),
                failing: false,
            };
            (file, on_disk)
        })
        .collect();
    loop {
        // Read before the pass: whatever was handed over before the close is
        // in this last pass.
        let closing = shared.closing.load(Ordering::Acquire);
        let dirty: Vec<Arc<Mailbox>> = {
            let mut files = shared.files();
            // A detached mailbox with nothing left to do is forgotten.
            files.retain(|_, mailbox| {
                mailbox.dirty.load(Ordering::Acquire) || mailbox.lock().attached
            });
            files
                .values()
                .filter(|mailbox| mailbox.dirty.load(Ordering::Acquire))
                .cloned()
                .collect()
        };
        for mailbox in dirty {
            let state = disk.entry(mailbox.file.to_string()).or_default();
            flush(&shared.dir, &mailbox, state);
        }
        if closing {
            return;
        }
        std::thread::park_timeout(FLUSH_EVERY);
    }
}

/// Writes what `mailbox` holds to its file.
fn flush(dir: &Path, mailbox: &Mailbox, state: &mut OnDisk) {
    if !mailbox.dirty.swap(false, Ordering::AcqRel) {
        return;
    }
    let (records, replace, remove, keep) = {
        let mut pending = mailbox.lock();
        (
            std::mem::take(&mut pending.records),
            std::mem::take(&mut pending.replace),
            std::mem::take(&mut pending.remove),
            pending.keep,
        )
    };
    let path = dir.join(&*mailbox.file);
    let written = if remove {
        match fs::remove_file(&path) {
            Err(err) if err.kind() != io::ErrorKind::NotFound => Err(err),
            _ => {
                state.lines = Some(0);
                Ok(())
            }
        }
    } else {
        let over = state
            .lines
            .is_none_or(|lines| lines + records.len() > 2 * keep);
        if replace || over {
            rewrite(&path, &records, replace, keep).map(|lines| state.lines = Some(lines))
        } else {
            let appended = append(&path, &records);
            match &appended {
                Ok(()) => state.lines = state.lines.map(|lines| lines + records.len()),
                Err(_) => state.lines = None,
            }
            appended
        }
    };
    match written {
        Ok(()) => {
            if state.failing {
                state.failing = false;
                info!("history {} written again", path.display());
            }
        }
        Err(err) => {
            if !state.failing {
                state.failing = true;
                error!(
                    "cannot write history {}: {err}; its last lines wait in memory (at most {keep}), trying again every {} ms",
                    path.display(),
                    FLUSH_EVERY.as_millis()
                );
            }
            give_back(mailbox, records, replace, remove, keep);
        }
    }
}

/// After a failed write: what was taken goes back before what came since,
/// unless something newer replaces the file anyway.
fn give_back(
    mailbox: &Mailbox,
    records: VecDeque<Record>,
    replace: bool,
    remove: bool,
    keep: usize,
) {
    let mut pending = mailbox.lock();
    if !pending.replace && !pending.remove {
        let newer = std::mem::replace(&mut pending.records, records);
        pending.records.extend(newer);
        pending.replace |= replace;
        pending.remove |= remove;
        let keep = pending.keep.max(keep);
        while pending.records.len() > keep {
            pending.records.pop_front();
            pending.replace = true;
        }
    }
    drop(pending);
    mailbox.dirty.store(true, Ordering::Release);
}

/// Appends `records` to the file at `path` (made, with its header, if new)
/// and syncs it.
fn append(path: &Path, records: &VecDeque<Record>) -> io::Result<()> {
    let mut text = String::new();
    let mut file = OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        .open(path)?;
    let made = file.metadata()?.len() == 0;
    if made {
        text.push_str(HEADER);
    }
    for record in records {
        record::encode(record, &mut text);
    }
    file.write_all(text.as_bytes())?;
    file.sync_data()?;
    if made {
        // The new name itself must survive a power cut.
        if let Some(dir) = path.parent() {
            File::open(dir)?.sync_all()?;
        }
    }
    Ok(())
}

/// Rewrites the file at `path` atomically to hold the last `keep` of its
/// records followed by `records` (`replace`: `records` alone); returns how
/// many it holds.
fn rewrite(
    path: &Path,
    records: &VecDeque<Record>,
    replace: bool,
    keep: usize,
) -> io::Result<usize> {
    let mut old = Vec::new();
    if !replace && records.len() < keep {
        match fs::read(path) {
            Ok(bytes) => {
                let parsed = record::parse(&bytes);
                for (line, why) in &parsed.damaged {
                    warn!("{}:{line}: {why}; skipped", path.display());
                }
                old = parsed.records;
            }
            Err(err) if err.kind() == io::ErrorKind::NotFound => {}
            Err(err) => return Err(err),
        }
    }
    let from_old = keep.saturating_sub(records.len()).min(old.len());
    let kept: Vec<&Record> = old[old.len() - from_old..]
        .iter()
        .chain(records.iter())
        .collect();
    let kept = &kept[kept.len().saturating_sub(keep)..];
    let mut text = String::from(HEADER);
    for record in kept {
        record::encode(record, &mut text);
    }
    save_atomic(path, &text)?;
    Ok(kept.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::record::{Said, Text};

    fn temp_dir(name: &str) -> PathBuf {
        crate::test_dir::fresh("history-saver", name)
    }

    fn line(i: usize) -> Record {
        Record {
            at: 1_796_000_000 + i as u64,
            said: Said::Chat,
            nick: Arc::from("ann"),
            text: Text::from(format!("line {i}").as_str()),
        }
    }

    fn texts(path: &Path) -> Vec<String> {
        let parsed = record::parse(&fs::read(path).unwrap());
        assert!(parsed.damaged.is_empty() && parsed.torn.is_none());
        parsed
            .records
            .iter()
            .map(|r| r.text.as_str().to_owned())
            .collect()
    }

    fn lines(range: std::ops::Range<usize>) -> Vec<String> {
        range.map(|i| format!("line {i}")).collect()
    }

    #[test]
    fn appends_compact_at_twice_the_history_and_a_drop_writes_everything() {
        let dir = temp_dir("compact");
        let path = dir.join("lobby");
        let mut total = 0;
        for round in 0..6 {
            let saver = Saver::start(dir.clone(), HashMap::new()).unwrap();
            let mailbox = saver.mailbox("lobby");
            for _ in 0..3 {
                mailbox.append(line(total), 4);
                total += 1;
            }
            drop(saver);
            let on_disk = texts(&path);
            // Never more than twice the history, and always the newest lines.
            assert!(on_disk.len() <= 8, "round {round}: {on_disk:?}");
            assert_eq!(on_disk, lines(total - on_disk.len()..total));
        }
        // More than the history at once: only the last 4 are written.
        let saver = Saver::start(dir.clone(), HashMap::new()).unwrap();
        let mailbox = saver.mailbox("lobby");
        for i in 100..110 {
            mailbox.append(line(i), 4);
        }
        drop(saver);
        assert_eq!(texts(&path), lines(106..110));
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn replace_and_remove_keep_their_order_with_appends() {
        let dir = temp_dir("order");
        let saver = Saver::start(dir.clone(), HashMap::new()).unwrap();
        let mailbox = saver.mailbox("room.rust");
        mailbox.append(line(1), 5);
        mailbox.replace([line(7), line(8)], 5);
        mailbox.append(line(9), 5);
        drop(saver);
        assert_eq!(texts(&dir.join("room.rust")), lines(7..10));
        let saver = Saver::start(dir.clone(), HashMap::new()).unwrap();
        let mailbox = saver.mailbox("room.rust");
        mailbox.append(line(10), 5);
        mailbox.remove();
        drop(saver);
        assert!(!dir.join("room.rust").exists());
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_failed_write_keeps_the_lines_for_the_next_try() {
        let dir = temp_dir("fails");
        // No thread: the test flushes.
        let mailbox = Mailbox::new(Arc::from("lobby"));
        mailbox.append(line(1), 3);
        let mut state = OnDisk::default();
        flush(&dir.join("missing"), &mailbox, &mut state);
        assert!(state.failing);
        // Given back, with the lines that came meanwhile, at most the history.
        for i in 2..6 {
            mailbox.append(line(i), 3);
        }
        fs::create_dir(dir.join("missing")).unwrap();
        flush(&dir.join("missing"), &mailbox, &mut state);
        assert!(!state.failing);
        assert_eq!(texts(&dir.join("missing").join("lobby")), lines(3..6));
        fs::remove_dir_all(&dir).unwrap();
    }
}
