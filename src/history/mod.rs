//! The conversation on disk: each room's history, the kept rooms and the
//! topics, in `state_dir`, so that they outlive a stop, a reboot or a crash.
//!
//! The one home of what is on disk about rooms. The hub owns a [`Disk`] and
//! never touches a file itself: lines go to the history [`Saver`] through a
//! [`Mailbox`] per room, the kept rooms file to a [`crate::bans::Saver`] (the
//! one-slot atomic saver the ban files use). What the start read comes back
//! to the hub once, as [`Found`].
//!
//! # The files
//! - `STATE_DIR/rooms`: the kept rooms and the topics ([`kept`]).
//! - `STATE_DIR/history/`: one file per room whose history is on disk: the
//!   lobby (`lobby`) and each kept room (`room.` and the key of its name,
//!   each byte other than an ASCII letter, digit, `-` or `_` written `%XX`:
//!   `room.rust`, `room.%E5%B8%AE%E5%8A%A9`), one line per message
//!   ([`record`]). Rooms that are not kept go with their last member, so
//!   their history is never written.
//!
//! At start ([`open`]) a damaged line is skipped and logged with its
//! `file:line`, a torn last line (a crash during an append) dropped with a
//! warning, and such a file rewritten clean; a file of no kept room is
//! removed. None of it stops the start: losing a line of history is better
//! than not starting. With `history_on_disk = false` no history file is kept
//! (those found are removed); the kept rooms and topics still are.

pub mod kept;
pub mod record;
pub mod saver;

use std::collections::HashMap;
use std::fs;
use std::io;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use kept::KeptRoom;
pub use record::{Record, Said, Text};
pub use saver::{FLUSH_EVERY, Mailbox, Saver};

use crate::bans::save_atomic;
use crate::config::Config;
use crate::nick::{nick_key, validate_nick};
use crate::{info, warn};

/// The name of the history file of a room (None: the lobby).
pub fn file_name(room: Option<&str>) -> String {
    let Some(name) = room else {
        return "lobby".to_owned();
    };
    let mut file = String::from("room.");
    for byte in nick_key(name).bytes() {
        if byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_' {
            file.push(char::from(byte));
        } else {
            file.push_str(&format!("%{byte:02X}"));
        }
    }
    file
}

/// A room as the start read it.
#[derive(Debug, Default)]
pub struct RoomState {
    /// Its name as first typed; None for the lobby.
    pub name: Option<String>,
    /// Its topic.
    pub topic: Option<String>,
    /// Its last `history` lines, oldest first.
    pub records: Vec<Record>,
}

/// What the start read: the lobby, then each kept room.
#[derive(Debug, Default)]
pub struct Found {
    /// The lobby's topic and history.
    pub lobby: RoomState,
    /// The kept rooms, in the file's order.
    pub rooms: Vec<RoomState>,
}

/// What is kept on disk, and where; owned by the hub.
#[derive(Debug, Default)]
pub struct Disk {
    /// Writes the history files; None without `state_dir`, or with
    /// `history_on_disk = false`.
    saver: Option<Saver>,
    /// The kept rooms file and its saver; None without `state_dir`.
    rooms: Option<(PathBuf, crate::bans::Saver)>,
    /// What the start read, until the hub takes it.
    found: Found,
}

impl Disk {
    /// Nothing on disk: no `state_dir`.
    pub fn in_memory() -> Disk {
        Disk::default()
    }

    /// What the start read (once; empty after).
    pub fn take_found(&mut self) -> Found {
        std::mem::take(&mut self.found)
    }

    /// Whether rooms' histories go to disk.
    pub fn keeps_history(&self) -> bool {
        self.saver.is_some()
    }

    /// The mailbox of the history file of room `name` (None: the lobby), when
    /// history goes to disk.
    pub fn mailbox(&self, name: Option<&str>) -> Option<Arc<Mailbox>> {
        let saver = self.saver.as_ref()?;
        Some(saver.mailbox(&file_name(name)))
    }

    /// Hands the kept rooms file's new text to its saver; never waits.
    pub fn save_rooms(&self, rooms: &[KeptRoom]) {
        if let Some((_, saver)) = &self.rooms {
            saver.try_save(kept::render(rooms));
        }
    }

    /// For the start-up log: what is kept, and where.
    pub fn describe(&self) -> String {
        let lines = self.found.lobby.records.len()
            + self
                .found
                .rooms
                .iter()
                .map(|room| room.records.len())
                .sum::<usize>();
        let kept = self.found.rooms.len();
        match (&self.rooms, &self.saver) {
            (None, _) => {
                "no state_dir: history, kept rooms and topics last until chatd exits".to_owned()
            }
            (Some((path, _)), Some(saver)) => format!(
                "{kept} kept rooms besides the lobby, in {}; {lines} lines of history restored, kept in {}",
                path.display(),
                saver.dir().display()
            ),
            (Some((path, _)), None) => format!(
                "{kept} kept rooms besides the lobby, in {}; history_on_disk = false: history lasts until chatd exits",
                path.display()
            ),
        }
    }
}

/// What [`open`] would refuse, without reading or writing anything (for
/// `--check-config`): a history directory that is there but is not a
/// directory.
///
/// # Errors
/// The message the start would stop with.
pub fn check(state_dir: &Path, config: &Config) -> Result<(), String> {
    let dir = state_dir.join("history");
    match fs::metadata(&dir) {
        Ok(meta) if !meta.is_dir() && config.history_on_disk => Err(format!(
            "history directory {}: not a directory",
            dir.display()
        )),
        _ => Ok(()),
    }
}

/// Reads what `state_dir` holds about rooms (the kept rooms file, then the
/// lobby's and each kept room's history, the last `history` lines of each),
/// cleans what needs it, and starts the savers. `max_name_chars` is the
/// longest room name.
///
/// # Errors
/// Only what stops the start (exit 78): the history directory cannot be made
/// or read, or a saver cannot start. A damaged file is logged and used as far
/// as it can be.
pub fn open(state_dir: &Path, config: &Config, max_name_chars: usize) -> Result<Disk, String> {
    let rooms_path = state_dir.join("rooms");
    let mut found = Found::default();
    let text = match fs::read(&rooms_path) {
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(err) if err.kind() == io::ErrorKind::NotFound => String::new(),
        Err(err) => return Err(format!("cannot read {}: {err}", rooms_path.display())),
    };
    let (rooms, damaged) = kept::parse(&text);
    for (line, why) in &damaged {
        warn!("{}:{line}: {why}; skipped", rooms_path.display());
    }
    // A room whose line is damaged may still be meant to be kept: its history
    // is not taken for an orphan's then.
    let sure = damaged.is_empty();
    let mut files: HashMap<String, usize> = HashMap::new();
    for room in rooms {
        let slot = match &room.name {
            None => Some(0),
            Some(name) => match validate_nick(name, max_name_chars) {
                Err(err) => {
                    warn!(
                        "{}: kept room #{name}: {err}; skipped",
                        rooms_path.display()
                    );
                    None
                }
                Ok(_) if files.contains_key(&file_name(Some(name))) => {
                    warn!(
                        "{}: kept room #{name} twice; the second skipped",
                        rooms_path.display()
                    );
                    None
                }
                Ok(_) => Some(found.rooms.len() + 1),
            },
        };
        let Some(slot) = slot else { continue };
        files.insert(file_name(room.name.as_deref()), slot);
        let state = RoomState {
            name: room.name,
            topic: room.topic,
            records: Vec::new(),
        };
        match slot {
            0 => found.lobby = state,
            _ => found.rooms.push(state),
        }
    }
    files.entry(file_name(None)).or_insert(0);
    let kept_saver = crate::bans::Saver::start(rooms_path.clone(), None)
        .map_err(|e| format!("{}: cannot start saving: {e}", rooms_path.display()))?;
    let dir = state_dir.join("history");
    let saver = if config.history_on_disk {
        let lines = read_histories(&dir, &files, &mut found, config.history, sure)?;
        let saver = Saver::start(dir.clone(), lines)
            .map_err(|e| format!("{}: cannot start saving: {e}", dir.display()))?;
        Some(saver)
    } else {
        remove_histories(&dir)?;
        None
    };
    Ok(Disk {
        saver,
        rooms: Some((rooms_path, kept_saver)),
        found,
    })
}

/// Reads the history directory (made if missing) into `found`, each
/// file's last `keep` lines; removes what belongs to no kept room (when the
/// kept rooms are `sure`: their file was undamaged) and rewrites what was
/// damaged. Returns each file's count of records.
fn read_histories(
    dir: &Path,
    files: &HashMap<String, usize>,
    found: &mut Found,
    keep: usize,
    sure: bool,
) -> Result<HashMap<String, usize>, String> {
    let fail = |err: io::Error| format!("history directory {}: {err}", dir.display());
    match fs::DirBuilder::new().mode(0o700).create(dir) {
        Err(err) if err.kind() != io::ErrorKind::AlreadyExists => return Err(fail(err)),
        _ => {}
    }
    let mut lines = HashMap::new();
    for entry in fs::read_dir(dir).map_err(fail)? {
        let entry = entry.map_err(fail)?;
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(&slot) = files.get(&name) else {
            if !sure {
                warn!(
                    "{}: the history of no kept room, left alone: the kept rooms file is damaged",
                    path.display()
                );
                continue;
            }
            // A room no longer kept (or a temporary file a crash left).
            info!("removing {}: the history of no kept room", path.display());
            if let Err(err) = fs::remove_file(&path) {
                warn!("cannot remove {}: {err}", path.display());
            }
            continue;
        };
        let bytes = fs::read(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let parsed = record::parse(&bytes);
        for (line, why) in &parsed.damaged {
            warn!("{}:{line}: {why}; skipped", path.display());
        }
        if let Some(line) = parsed.torn {
            warn!(
                "{}:{line}: the last line is incomplete (a write cut short); dropped",
                path.display()
            );
        }
        let mut records = parsed.records;
        let over = records.len().saturating_sub(keep);
        records.drain(..over);
        if !parsed.damaged.is_empty() || parsed.torn.is_some() || over > 0 {
            // Appends go on from a clean end, and the file holds what is shown.
            let mut text = String::from(saver::HEADER);
            for record in &records {
                record::encode(record, &mut text);
            }
            if let Err(err) = save_atomic(&path, &text) {
                warn!("cannot rewrite {}: {err}", path.display());
                continue;
            }
        }
        lines.insert(name, records.len());
        match slot {
            0 => found.lobby.records = records,
            n => found.rooms[n - 1].records = records,
        }
    }
    Ok(lines)
}

/// `history_on_disk = false`: the history files there are removed.
fn remove_histories(dir: &Path) -> Result<(), String> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(err) => return Err(format!("history directory {}: {err}", dir.display())),
    };
    let mut removed = 0;
    for entry in entries.flatten() {
        match fs::remove_file(entry.path()) {
            Ok(()) => removed += 1,
            Err(err) => warn!("cannot remove {}: {err}", entry.path().display()),
        }
    }
    // Not empty only if a removal failed, which was logged.
    let _ = fs::remove_dir(dir);
    if removed > 0 {
        info!(
            "history_on_disk = false: removed {removed} history files from {}",
            dir.display()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(name: &str) -> PathBuf {
        let dir = crate::test_dir::fresh("history-open", name);
        fs::create_dir_all(dir.join("history")).unwrap();
        dir
    }

    fn line(text: &str) -> String {
        let mut out = String::new();
        let record = Record {
            at: 1,
            said: Said::Chat,
            nick: Arc::from("ann"),
            text: Text::from(text),
        };
        record::encode(&record, &mut out);
        out
    }

    #[test]
    fn open_reads_kept_rooms_and_their_last_lines_and_removes_orphans() {
        // What it warns of is the point here, not the test output.
        crate::log::set_level(crate::config::LogLevel::Error);
        let state = temp_dir("open");
        let config = Config {
            history: 2,
            ..Config::default()
        };
        let history = state.join("history");
        fs::write(state.join("rooms"), "lobby topic=hi\n#Help\nnot a room\n").unwrap();
        fs::write(history.join("lobby"), line("a") + &line("b") + &line("c")).unwrap();
        fs::write(history.join("room.help"), line("h")).unwrap();
        fs::write(history.join("room.gone"), line("g")).unwrap();
        let mut disk = open(&state, &config, 32).unwrap();
        let found = disk.take_found();
        assert_eq!(found.lobby.topic.as_deref(), Some("hi"));
        let texts: Vec<_> = found
            .lobby
            .records
            .iter()
            .map(|r| r.text.as_str())
            .collect();
        assert_eq!(texts, ["b", "c"]);
        assert_eq!(found.rooms.len(), 1);
        assert_eq!(found.rooms[0].name.as_deref(), Some("Help"));
        assert_eq!(found.rooms[0].records.len(), 1);
        // The lobby's file held more than the history: rewritten to it.
        assert_eq!(
            record::parse(&fs::read(history.join("lobby")).unwrap())
                .records
                .len(),
            2
        );
        // The kept rooms file is damaged: a file of no kept room stays.
        assert!(history.join("room.gone").exists());
        drop(disk);
        fs::write(state.join("rooms"), "#help\n").unwrap();
        let _disk = open(&state, &config, 32).unwrap();
        assert!(!history.join("room.gone").exists());
        // history_on_disk = false: the files go, the kept rooms stay.
        let config = Config {
            history_on_disk: false,
            ..config
        };
        let mut disk = open(&state, &config, 32).unwrap();
        assert!(!history.exists());
        assert!(!disk.keeps_history());
        assert_eq!(disk.take_found().rooms.len(), 1);
        fs::remove_dir_all(&state).unwrap();
    }

    #[test]
    fn file_names_are_safe_and_distinct() {
        assert_eq!(file_name(None), "lobby");
        assert_eq!(file_name(Some("Rust")), "room.rust");
        assert_eq!(file_name(Some("lobby")), "room.lobby");
        assert_eq!(file_name(Some("../x")), "room.%2E%2E%2Fx");
        assert_eq!(file_name(Some("帮助")), "room.%E5%B8%AE%E5%8A%A9");
        assert_eq!(file_name(Some("a-b_c")), "room.a-b_c");
    }
}
