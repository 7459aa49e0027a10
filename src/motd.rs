//! The message of the day: the file `motd_file` names, shown to each user
//! after sign-in. Read at start (a missing or oversized file stops the start)
//! and again on every reload (then the reload is refused instead).

use crate::config::Config;

/// The most a MOTD file may hold: it is sent to every user who signs in.
pub const MAX_MOTD_BYTES: usize = 16 * 1024;

/// The message of the day `config` names, as protocol lines (sanitized, each
/// ending in `\r\n`); None when `motd_file` is not set.
///
/// # Errors
/// The file cannot be read, or is larger than [`MAX_MOTD_BYTES`]: a clear
/// message naming it (at start the daemon stops; a reload is refused).
pub fn read(config: &Config) -> Result<Option<String>, String> {
    let Some(path) = &config.motd_file else {
        return Ok(None);
    };
    let bytes = std::fs::read(path).map_err(|e| format!("motd_file {path}: cannot read: {e}"))?;
    if bytes.len() > MAX_MOTD_BYTES {
        return Err(format!(
            "motd_file {path}: {} bytes, at most {MAX_MOTD_BYTES}",
            bytes.len()
        ));
    }
    let text = String::from_utf8_lossy(&bytes);
    let lines: String = text
        .lines()
        .map(|line| format!("{}\r\n", crate::protocol::sanitize(line)))
        .collect();
    Ok(Some(lines))
}
