//! Bans and mutes: which addresses may not connect, and which may not be heard,
//! until when and why; the text files they persist in; and writing those files
//! so that a crash never leaves one torn.
//!
//! The one home of ban and mute state: the entries ([`Entry`]), one generic
//! list used for both ([`AddressList`], of a [`Kind`]), the files and their I/O,
//! and [`Bans`], the two lists in force with where they are kept. What a ban or
//! a mute does to a connection, and who may set one, is the hub's business; the
//! hub never touches the disk itself: [`Bans`] hands a rendered snapshot to a
//! [`Saver`], and tells the hub later whether it was written.
//!
//! # Addresses and ranges
//! An [`IpNet`] is an address and a prefix length: `203.0.113.5` (one host),
//! `10.0.0.0/8`, `2001:db8::/32`. A range with bits set after its prefix
//! (`203.0.113.5/24`) is refused with the range it probably means, rather than
//! silently widened: a ban or mute should cover exactly what the operator wrote. An
//! IPv4-mapped IPv6 address (`::ffff:1.2.3.4`, and such ranges of prefix 96 or
//! more) is the IPv4 address it maps, both as a ban and as a client's address, so
//! a client that reaches a dual-stack socket over IPv4 matches an IPv4 ban. Other
//! IPv6 ranges match IPv6 clients only.
//!
//! # The files
//! `STATE_DIR/bans` and `STATE_DIR/mutes`, in the same format: UTF-8 text, one
//! entry per line; blank lines and lines starting with `#` are ignored:
//!
//! ```text
//! 203.0.113.0/24 since=2026-12-02T18:00:00Z until=2026-12-03T06:00:00Z by=alice reason=spam
//! 2001:db8::7 since=2026-12-02T18:05:00Z until=never by=ctl reason=
//! ```
//!
//! The address or range comes first, then `since=`, `until=` (a time, or `never`
//! for a permanent ban) and `by=` in any order, separated by spaces, and last
//! `reason=`, whose value is the rest of the line (possibly empty). Times are
//! RFC 3339 UTC to the second. In `by=` and `reason=` a backslash escapes: `\\`,
//! `\n`, `\r`, `\t` and `\s` (a space, needed in `by=` only). Times are kept to
//! the second, so an entry read back equals the entry written when its times were
//! whole seconds. Any other line is an error naming its line: [`FileError`], which
//! displays as `bans:LINE: …` or `mutes:LINE: …` (with the file's path in front
//! once [`load`] read it).

mod duration;
mod kept;
mod list;
mod net;
mod store;

use std::error::Error;
use std::fmt;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::log::format_utc_seconds;

pub use duration::{MAX_DURATION, format_duration, parse_duration, split_duration};
pub use kept::{Bans, Change, CheckError};
pub use list::{AddressList, Entry, Kind};
pub use net::IpNet;
pub use store::{SAVE_RETRY, Saver, save_atomic};

/// At most this many bans are kept, and as many mutes: each list is checked
/// on every connect (or every line) and written out whole on every change.
/// Past it, a new entry is refused.
pub const MAX_ENTRIES: usize = 10_000;

/// Formats a time as RFC 3339 UTC to the second, `2026-12-03T10:00:00Z`, as the
/// files and the answers about bans and mutes show it. Times before 1970 show
/// as 1970.
pub fn format_time(time: SystemTime) -> String {
    format_utc_seconds(epoch_secs(time))
}

fn epoch_secs(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
}

/// A ban or mute file that cannot be used.
#[derive(Debug)]
pub enum FileError {
    /// A line that is not an entry; `path` is `bans` or `mutes` when the text
    /// did not come from a file.
    Damaged {
        /// The file.
        path: PathBuf,
        /// Its line, from 1.
        line: usize,
        /// What is wrong with it.
        message: String,
    },
    /// The file exists but cannot be read.
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
}

impl fmt::Display for FileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FileError::Damaged {
                path,
                line,
                message,
            } => write!(f, "{}:{line}: {message}", path.display()),
            FileError::Io { path, source } => {
                write!(f, "cannot read {}: {source}", path.display())
            }
        }
    }
}

impl Error for FileError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            FileError::Damaged { .. } => None,
            FileError::Io { source, .. } => Some(source),
        }
    }
}

/// Reads the file of `kind` at `path`; a file that does not exist is an empty
/// list. Expired entries are still in the result: drop them with
/// [`AddressList::expire`].
pub fn load(path: &Path, kind: Kind) -> Result<AddressList, FileError> {
    let bytes = match fs::read(path) {
        Ok(bytes) => bytes,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(AddressList::new(kind)),
        Err(source) => {
            return Err(FileError::Io {
                path: path.to_owned(),
                source,
            });
        }
    };
    let with_path = |err: FileError| match err {
        FileError::Damaged { line, message, .. } => FileError::Damaged {
            path: path.to_owned(),
            line,
            message,
        },
        other => other,
    };
    let text = String::from_utf8(bytes).map_err(|err| {
        let valid = &err.as_bytes()[..err.utf8_error().valid_up_to()];
        with_path(FileError::Damaged {
            path: PathBuf::new(),
            line: valid.iter().filter(|&&b| b == b'\n').count() + 1,
            message: "not valid UTF-8".to_owned(),
        })
    })?;
    AddressList::parse(kind, &text).map_err(with_path)
}

#[cfg(test)]
mod tests;
