//! [`Bans`]: the bans in force and, with `state_dir`, the file they are kept
//! in — the one home of ban state. The hub owns a `Bans` and changes it only
//! through these methods, each of which hands the [`Saver`] a snapshot when the
//! list changed, so the hub never waits for the disk.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use super::{Ban, BanList, FILE_NAME, IpNet, Saver, load};

/// The ban list and, with `state_dir`, where it is kept.
pub struct Bans {
    list: BanList,
    saver: Option<Saver>,
    kept_in: Option<PathBuf>,
}

impl Bans {
    /// Bans that last until exit (no `state_dir`).
    pub fn in_memory() -> Bans {
        Bans {
            list: BanList::new(),
            saver: None,
            kept_in: None,
        }
    }

    /// The bans kept in `state_dir`: read now (a missing file is no bans),
    /// written on every change.
    ///
    /// # Errors
    /// A damaged file (`PATH:LINE: …`, since starting without its bans would let
    /// banned users in), or a saver thread that cannot start.
    pub fn open(state_dir: &Path) -> Result<Bans, String> {
        let path = state_dir.join(FILE_NAME);
        let mut list = load(&path).map_err(|e| e.to_string())?;
        let expired = list.expire(SystemTime::now());
        let saver = Saver::start(path.clone())
            .map_err(|e| format!("{}: cannot start saving bans: {e}", path.display()))?;
        if !expired.is_empty() {
            saver.try_save(list.render());
        }
        Ok(Bans {
            list,
            saver: Some(saver),
            kept_in: Some(path),
        })
    }

    /// For the start-up log: how many bans there are and where they are kept.
    pub fn describe(&self) -> String {
        match &self.kept_in {
            Some(path) => format!(
                "{} bans in force, kept in {}",
                self.list.len(),
                path.display()
            ),
            None => "no state_dir: bans last until chatd exits".to_owned(),
        }
    }

    /// The bans, to look up and list.
    pub fn list(&self) -> &BanList {
        &self.list
    }

    /// Adds `ban` (replacing one on the same range) and saves.
    pub fn add(&mut self, ban: Ban) {
        self.list.add(ban);
        self.save();
    }

    /// Lifts the ban on exactly `net`, saving; false when there was none.
    pub fn remove(&mut self, net: &IpNet) -> bool {
        let removed = self.list.remove(net);
        if removed {
            self.save();
        }
        removed
    }

    /// Drops the bans whose time is up at `now`, saving if any were; returns them.
    pub fn expire(&mut self, now: SystemTime) -> Vec<Ban> {
        let expired = self.list.expire(now);
        if !expired.is_empty() {
            self.save();
        }
        expired
    }

    fn save(&self) {
        if let Some(saver) = &self.saver {
            saver.try_save(self.list.render());
        }
    }
}
