//! [`Bans`]: the bans and the mutes in force and, with `state_dir`, the files
//! they are kept in — the one home of ban and mute state. The hub owns a
//! `Bans` and changes it only through these methods, each of which hands that
//! list's [`Saver`] a snapshot when the list changed, so the hub never waits for
//! the disk; the [`Change`] it returns says later, through
//! [`outcome`](Bans::outcome), whether the change reached the disk.

use std::fs::{self, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use async_channel::{Receiver, Sender};

use super::{AddressList, Entry, IpNet, Kind, Saver, load};

/// One list and, with `state_dir`, its file and saver.
struct Kept {
    list: AddressList,
    saver: Option<Saver>,
    path: Option<PathBuf>,
}

impl Kept {
    fn in_memory(kind: Kind) -> Kept {
        Kept {
            list: AddressList::new(kind),
            saver: None,
            path: None,
        }
    }

    /// Hands the saver a snapshot; the change it makes.
    fn save(&self) -> Change {
        Change {
            kind: self.list.kind(),
            generation: self
                .saver
                .as_ref()
                .map(|saver| saver.try_save(self.list.render())),
        }
    }
}

/// A change to a list, as [`Bans::outcome`] follows it to the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Change {
    kind: Kind,
    /// The snapshot that holds it; None when the list is kept in memory only.
    generation: Option<u64>,
}

impl Change {
    /// Which list changed.
    pub fn kind(&self) -> Kind {
        self.kind
    }
}

/// The bans and the mutes, and where they are kept.
pub struct Bans {
    bans: Kept,
    mutes: Kept,
    /// A message after every write of either file (see [`Saver`]).
    saved: Receiver<()>,
    /// Keeps `saved` open when nothing is saved (in memory), so that waiting
    /// on it waits for ever instead of failing at once.
    _wake: Sender<()>,
}

impl Bans {
    /// Bans and mutes that last until exit (no `state_dir`).
    pub fn in_memory() -> Bans {
        let (wake, saved) = async_channel::bounded(1);
        Bans {
            bans: Kept::in_memory(Kind::Ban),
            mutes: Kept::in_memory(Kind::Mute),
            saved,
            _wake: wake,
        }
    }

    /// What [`open`](Self::open) checks, without starting anything or writing
    /// a file (for `--check-config`): that `state_dir` is a writable directory
    /// and that both files, where they exist, are undamaged.
    ///
    /// # Errors
    /// As for [`open`](Self::open), told apart: a `state_dir` that does not
    /// exist yet is [`CheckError::Missing`].
    pub fn check(state_dir: &Path) -> Result<(), CheckError> {
        check_state_dir(state_dir)?;
        for kind in Kind::ALL {
            load(&state_dir.join(kind.file_name()), kind)
                .map_err(|e| CheckError::Unusable(e.to_string()))?;
        }
        Ok(())
    }

    /// The bans and mutes kept in `state_dir`: read now (a missing file is an
    /// empty list), each file written on every change to its list.
    ///
    /// # Errors
    /// A `state_dir` that does not exist, is not a directory or is not
    /// writable (`state_dir PATH: …`); a damaged file (`PATH:LINE: …`, since
    /// starting without the bans would let banned users in, and without the
    /// mutes would let muted ones speak); or a saver thread that cannot start.
    pub fn open(state_dir: &Path) -> Result<Bans, String> {
        check_state_dir(state_dir).map_err(CheckError::into_message)?;
        let (wake, saved) = async_channel::bounded(1);
        let open = |kind: Kind| -> Result<Kept, String> {
            let path = state_dir.join(kind.file_name());
            let mut list = load(&path, kind).map_err(|e| e.to_string())?;
            let expired = list.expire(SystemTime::now());
            let saver = Saver::start(path.clone(), Some(wake.clone())).map_err(|e| {
                format!(
                    "{}: cannot start saving {}s: {e}",
                    path.display(),
                    kind.noun()
                )
            })?;
            if !expired.is_empty() {
                saver.try_save(list.render());
            }
            Ok(Kept {
                list,
                saver: Some(saver),
                path: Some(path),
            })
        };
        Ok(Bans {
            bans: open(Kind::Ban)?,
            mutes: open(Kind::Mute)?,
            saved,
            _wake: wake,
        })
    }

    fn kept(&self, kind: Kind) -> &Kept {
        match kind {
            Kind::Ban => &self.bans,
            Kind::Mute => &self.mutes,
        }
    }

    fn kept_mut(&mut self, kind: Kind) -> &mut Kept {
        match kind {
            Kind::Ban => &mut self.bans,
            Kind::Mute => &mut self.mutes,
        }
    }

    /// For the start-up log: how many bans and mutes there are and where they
    /// are kept.
    pub fn describe(&self) -> String {
        let (bans, mutes) = (self.bans.list.len(), self.mutes.list.len());
        match (&self.bans.path, &self.mutes.path) {
            (Some(bans_path), Some(mutes_path)) => format!(
                "{bans} bans and {mutes} mutes in force, kept in {} and {}",
                bans_path.display(),
                mutes_path.display()
            ),
            _ => "no state_dir: bans and mutes last until chatd exits".to_owned(),
        }
    }

    /// The list of `kind`, to look up and show.
    pub fn list(&self, kind: Kind) -> &AddressList {
        &self.kept(kind).list
    }

    /// The file the list of `kind` is kept in, if any.
    pub fn path(&self, kind: Kind) -> Option<&Path> {
        self.kept(kind).path.as_deref()
    }

    /// Adds `entry` to the list of `kind` (replacing one on the same range)
    /// and saves.
    pub fn add(&mut self, kind: Kind, entry: Entry) -> Change {
        let kept = self.kept_mut(kind);
        kept.list.add(entry);
        kept.save()
    }

    /// Takes up the list of `kind` a live upgrade handed over (the old
    /// chatd's, which its saver may not have finished writing), and saves it.
    pub fn adopt(&mut self, list: AddressList) {
        let kept = self.kept_mut(list.kind());
        kept.list = list;
        kept.save();
    }

    /// Lifts the entry of `kind` on exactly `net`, saving; None when there was
    /// none.
    pub fn remove(&mut self, kind: Kind, net: &IpNet) -> Option<Change> {
        let kept = self.kept_mut(kind);
        kept.list.remove(net).then(|| kept.save())
    }

    /// Drops the entries whose time is up at `now`, saving each list that had
    /// any; returns them with their kind.
    pub fn expire(&mut self, now: SystemTime) -> Vec<(Kind, Entry)> {
        let mut all = Vec::new();
        for kind in Kind::ALL {
            let kept = self.kept_mut(kind);
            let expired = kept.list.expire(now);
            if !expired.is_empty() {
                kept.save();
            }
            all.extend(expired.into_iter().map(|entry| (kind, entry)));
        }
        all
    }

    /// Where `change` stands: `None` while its file is still being written;
    /// `Some(Ok(()))` once it is on disk, or at once for a list kept in memory
    /// (nothing to wait for); `Some(Err(why))` when the write failed (the saver
    /// tries again, and logs it).
    pub fn outcome(&self, change: Change) -> Option<Result<(), String>> {
        let Some(generation) = change.generation else {
            return Some(Ok(()));
        };
        match &self.kept(change.kind).saver {
            Some(saver) => saver.outcome(generation),
            None => Some(Ok(())),
        }
    }

    /// A message after every write (or failed try) of either file: whoever
    /// waits for a [`Change`] looks at its [`outcome`](Self::outcome) then.
    pub fn saved_signal(&self) -> Receiver<()> {
        self.saved.clone()
    }
}

/// Why the bans and mutes cannot be kept in a `state_dir`; the message names
/// the path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckError {
    /// `state_dir` does not exist (yet): a service manager may make it at
    /// start (systemd's `StateDirectory=`), so `--check-config` warns instead
    /// of failing.
    Missing(String),
    /// Anything else that stops the start: not a directory, not writable, a
    /// damaged file.
    Unusable(String),
}

impl CheckError {
    /// The message, whichever it is.
    pub fn into_message(self) -> String {
        match self {
            CheckError::Missing(message) | CheckError::Unusable(message) => message,
        }
    }
}

/// `state_dir` must be a directory chatd can write in: a probe file is made
/// there and removed again.
fn check_state_dir(dir: &Path) -> Result<(), CheckError> {
    let fail = |why: String| CheckError::Unusable(format!("state_dir {}: {why}", dir.display()));
    match fs::metadata(dir) {
        Ok(meta) if meta.is_dir() => {}
        Ok(_) => return Err(fail("not a directory".to_owned())),
        Err(err) if err.kind() == io::ErrorKind::NotFound => {
            let why = format!("state_dir {}: does not exist", dir.display());
            return Err(CheckError::Missing(why));
        }
        Err(err) => return Err(fail(err.to_string())),
    }
    let probe = dir.join(format!(".chatd-probe-{}", std::process::id()));
    OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&probe)
        .map_err(|err| fail(format!("cannot write in it: {err}")))?;
    // The probe is only litter if it stays; it is named for this process.
    let _ = fs::remove_file(&probe);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bans::IpNet;
    use std::time::{Duration, UNIX_EPOCH};

    fn temp_dir(name: &str) -> PathBuf {
        crate::test_dir::fresh("kept", name)
    }

    fn entry(net: &str) -> Entry {
        Entry {
            net: net.parse::<IpNet>().unwrap(),
            until: None,
            reason: "r".to_owned(),
            by: "ctl".to_owned(),
            since: UNIX_EPOCH + Duration::from_secs(1),
        }
    }

    /// Waits for `change` to reach the disk (or fail).
    fn settled(bans: &Bans, change: Change) -> Result<(), String> {
        let signal = bans.saved_signal();
        loop {
            if let Some(outcome) = bans.outcome(change) {
                return outcome;
            }
            signal.recv_blocking().unwrap();
        }
    }

    #[test]
    fn bans_and_mutes_are_kept_in_two_files() {
        let dir = temp_dir("two");
        let mut bans = Bans::open(&dir).unwrap();
        let ban = bans.add(Kind::Ban, entry("10.0.0.1"));
        let mute = bans.add(Kind::Mute, entry("10.0.0.2"));
        assert_eq!(settled(&bans, ban), Ok(()));
        assert_eq!(settled(&bans, mute), Ok(()));
        assert_eq!(
            bans.describe(),
            format!(
                "1 bans and 1 mutes in force, kept in {} and {}",
                dir.join("bans").display(),
                dir.join("mutes").display()
            )
        );
        drop(bans);
        let again = Bans::open(&dir).unwrap();
        assert_eq!(
            again.list(Kind::Ban).iter().next(),
            Some(&entry("10.0.0.1"))
        );
        assert_eq!(
            again.list(Kind::Mute).iter().next(),
            Some(&entry("10.0.0.2"))
        );
        assert!(Bans::check(&dir).is_ok());
        fs::write(dir.join("mutes"), "10.0.0.2 since=x\n").unwrap();
        let err = Bans::check(&dir).unwrap_err().into_message();
        assert!(
            err.ends_with(
                "mutes:1: bad since= time \"x\": expected a UTC time like 2026-12-03T10:00:00Z"
            ),
            "{err}"
        );
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_failed_save_is_told_and_memory_needs_none() {
        let dir = temp_dir("fails");
        let mut bans = Bans::open(&dir).unwrap();
        // The file's place taken by a directory: the rename over it fails.
        fs::create_dir(dir.join("bans")).unwrap();
        let change = bans.add(Kind::Ban, entry("10.0.0.1"));
        let why = settled(&bans, change).unwrap_err();
        assert!(!why.is_empty());
        assert_eq!(bans.list(Kind::Ban).len(), 1, "in force all the same");
        let mut memory = Bans::in_memory();
        let change = memory.add(Kind::Mute, entry("10.0.0.3"));
        assert_eq!(memory.outcome(change), Some(Ok(())));
        assert_eq!(change.kind(), Kind::Mute);
        assert!(
            memory
                .remove(Kind::Mute, &"10.0.0.4".parse().unwrap())
                .is_none()
        );
        assert!(
            memory
                .remove(Kind::Mute, &"10.0.0.3".parse().unwrap())
                .is_some()
        );
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn state_dir_must_be_a_writable_directory() {
        let dir = temp_dir("state");
        let missing = dir.join("missing");
        let err = Bans::open(&missing).err().unwrap();
        assert_eq!(
            err,
            format!("state_dir {}: does not exist", missing.display())
        );
        assert_eq!(Bans::check(&missing), Err(CheckError::Missing(err)));
        let file = dir.join("file");
        fs::write(&file, "").unwrap();
        let err = Bans::check(&file).unwrap_err();
        assert_eq!(
            err,
            CheckError::Unusable(format!("state_dir {}: not a directory", file.display()))
        );
        // The probe leaves nothing behind.
        Bans::check(&dir).unwrap();
        let names: Vec<_> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["file"]);
        fs::remove_dir_all(&dir).unwrap();
    }
}
