//! A fresh directory for one unit test, under the system temp directory:
//! `chatd-AREA-PID-NAME`, emptied first (an earlier run with the same pid
//! may have left it). The tests that save bans, mutes, kept rooms and
//! histories, and the start-up checks, each take theirs from here.

use std::path::PathBuf;

/// The directory for test `name` of `area`, fresh and empty.
pub(crate) fn fresh(area: &str, name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("chatd-{area}-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
