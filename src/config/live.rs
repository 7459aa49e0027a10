//! The settings in force at run time, and the reload policy.
//!
//! [`LiveConfig`] is what readers consult: replaceable at run time without a
//! lock on the hot path (readers compare a generation number and re-read only
//! when it moved). [`reloaded`] is what a reload (SIGHUP, or `chatd ctl reload`)
//! makes of the file: the new settings, with the keys that need a restart kept
//! as they are.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use super::{Config, load};
use crate::warn;

/// The settings readers consult, replaceable at run time.
#[derive(Debug)]
pub struct LiveConfig {
    generation: AtomicU64,
    current: RwLock<Arc<Config>>,
}

impl LiveConfig {
    /// Starts at generation 0 with `config`.
    pub fn new(config: Arc<Config>) -> Self {
        LiveConfig {
            generation: AtomicU64::new(0),
            current: RwLock::new(config),
        }
    }

    /// The current generation; changes whenever the config is replaced.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// The current generation and config.
    pub fn get(&self) -> (u64, Arc<Config>) {
        // Readers of a poisoned lock still see a complete Arc.
        let config = self.current.read().unwrap_or_else(|e| e.into_inner());
        (self.generation(), Arc::clone(&config))
    }

    /// Replaces the config and moves the generation on.
    pub fn replace(&self, config: Arc<Config>) {
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = config;
        self.generation.fetch_add(1, Ordering::AcqRel);
    }
}

/// Re-reads the config file for a reload: the settings to apply, with
/// `--port` still in force and every key that needs a restart kept at its
/// current value (each such change logged as a warning).
///
/// # Errors
/// The file's errors, one `path:line: …` per line: nothing is applied then.
pub fn reloaded(
    path: &Path,
    port_override: Option<u16>,
    current: &Config,
) -> Result<Config, String> {
    let mut new = load(path).map_err(|err| err.to_string())?;
    if let Some(port) = port_override {
        new.port = port;
    }
    for key in current.restart_only_changes(&new) {
        warn!("config reload: {key} changed, which needs a restart; keeping the old value");
    }
    new.keep_restart_only(current);
    Ok(new)
}

/// The most a MOTD file may hold: it is sent to every user who signs in.
pub const MAX_MOTD_BYTES: usize = 16 * 1024;

/// The message of the day `config` names, as protocol lines (sanitized, each
/// ending in `\r\n`); None when `motd_file` is not set.
///
/// # Errors
/// The file cannot be read, or is larger than [`MAX_MOTD_BYTES`]: a clear
/// message naming it (at start the daemon stops; a reload is refused).
pub fn read_motd(config: &Config) -> Result<Option<String>, String> {
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
