//! The config file: its format, every key with its default and allowed range, and the
//! errors a bad file produces.
//!
//! The format is a small subset of TOML: `key = value` lines, `#` comments, strings in
//! double quotes, decimal integers and booleans. Anything this module accepts means the
//! same thing to a TOML parser, so editors and linters that know TOML help the operator.
//! Parsing is pure (text in, [`Config`] or [`ConfigError`] out); only [`load`] touches
//! the file system.
//!
//! Every key lives in one table (`keys::KEYS`) that ties its name to its parser and to how it is
//! written back, so [`parse`], [`Config::render`] and the "did you mean" suggestions can
//! never disagree about which keys exist.
//!
//! Its parts: [`keys`] (the table: each key's name, parser, how it is written back,
//! and whether it needs a restart), `toml` (the TOML-subset lexer), [`error`]
//! (what a bad file produces), [`Source`] (the file, then `--port`: what the
//! start and every reload read, with the reload policy) and [`live`] (the
//! settings readers consult at run time).

use std::fmt::Write as _;
use std::path::Path;

pub mod error;
pub mod keys;
pub mod live;
mod source;
mod toml;

#[cfg(test)]
mod docs_tests;
#[cfg(test)]
mod render_tests;
#[cfg(test)]
mod tests;

pub use error::ConfigError;
pub use live::LiveConfig;
pub use source::Source;

use keys::KEYS;
use keys::suggest;
use toml::{is_bare_key, lex_value};

/// The language of the server's own messages (banner, notices, errors).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Language {
    /// English, written `"en"`.
    En,
    /// Chinese, written `"zh"`: the wording of the tutorial chatd descends from.
    Zh,
}

impl Language {
    /// The value as written in the config file.
    pub fn as_str(self) -> &'static str {
        match self {
            Language::En => "en",
            Language::Zh => "zh",
        }
    }
}

/// How much the daemon logs. Ordered from least to most verbose, so
/// `level <= configured` means "write it".
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    /// Only failures, written `"error"`.
    Error,
    /// Failures and things an operator should look at, written `"warn"`.
    Warn,
    /// Lifecycle, connections and health lines, written `"info"`.
    Info,
    /// Everything, including what people typed into quit, kick and ban reasons,
    /// topics and server notices (never chat lines or private messages),
    /// written `"debug"`.
    Debug,
}

impl LogLevel {
    /// The value as written in the config file.
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Error => "error",
            LogLevel::Warn => "warn",
            LogLevel::Info => "info",
            LogLevel::Debug => "debug",
        }
    }
}

/// Every setting of the daemon. `Config::default()` is what runs without `--config`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// IP address to listen on (v4 or v6).
    pub address: String,
    /// TCP port to listen on; 0 picks a free one (tests use it).
    pub port: u16,
    /// Room name shown in the welcome banner.
    pub room_name: String,
    /// Language of the server's own messages.
    pub language: Language,
    /// Whether the server colors its own output with ANSI escapes.
    pub colors: bool,
    /// Whether users start with `/timestamps on`: the time before every line.
    pub timestamps: bool,
    /// Whether users see `* server upgraded` after a live upgrade.
    pub upgrade_notice: bool,
    /// The time zone of timestamps, as minutes east of UTC (`utc_offset = "+08:00"`).
    pub utc_offset_minutes: i32,
    /// Least important log lines still written.
    pub log_level: LogLevel,
    /// Longest nickname, in characters.
    pub max_nick_chars: usize,
    /// Longest input line, in bytes; longer lines are discarded.
    pub max_line_bytes: usize,
    /// Most connections at once; more get a "server full" line.
    pub max_clients: usize,
    /// Threads that run tasks, the main one included; 0: the cores available.
    pub threads: usize,
    /// Most connections at once from one remote address.
    pub max_clients_per_ip: usize,
    /// Seconds an unregistered connection may take to pick a nickname.
    pub login_timeout_secs: u64,
    /// Lines a client may send at once before flood control delays it.
    pub flood_burst: u32,
    /// Lines per second a client may send in the long run.
    pub flood_lines_per_sec: u32,
    /// The soft bound of a client's send queue: bytes that may wait to be written to
    /// it for as long as it likes. Above it, a client that takes nothing for
    /// `send_queue_grace_secs` is dropped as too slow.
    pub send_queue_bytes: usize,
    /// The hard bound: a push that would queue more for one client drops it at once.
    /// None: 4 × `send_queue_bytes` (see [`Config::send_queue_hard_bound`]).
    pub send_queue_hard_bytes: Option<usize>,
    /// Seconds a client over the soft bound may go without taking a byte.
    pub send_queue_grace_secs: u64,
    /// Messages replayed to a new user; 0 disables.
    pub history: usize,
    /// Rooms that may exist besides the lobby (`/join` makes them); 0: only
    /// the lobby.
    pub max_rooms: usize,
    /// In a room of more members than this, joins and leaves are announced as
    /// one summary line per `presence_interval_secs`; 0: always one by one.
    pub presence_summary_above: usize,
    /// How often that summary goes out.
    pub presence_interval_secs: u64,
    /// Seconds users may keep chatting after a shutdown signal.
    pub shutdown_grace_secs: u64,
    /// Seconds between health lines in the log; 0 disables.
    pub stats_interval_secs: u64,
    /// Where the control socket for `chatd ctl` is; None: no control socket.
    pub control_socket: Option<String>,
    /// Where state that outlives a restart (the bans) is kept; None: bans last
    /// until exit.
    pub state_dir: Option<String>,
    /// With `state_dir`: each kept room's history (the lobby's too) is kept
    /// on disk too, and comes back after a restart; false: only in memory.
    pub history_on_disk: bool,
    /// A file shown to each user after sign-in, re-read on reload; None: none.
    pub motd_file: Option<String>,
    /// Where the HTTP endpoint for Prometheus listens (`GET /metrics`); None:
    /// no endpoint (`chatd ctl metrics` still answers).
    pub metrics_address: Option<std::net::SocketAddr>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            address: "127.0.0.1".to_string(),
            port: 8194,
            room_name: "chatd".to_string(),
            language: Language::En,
            colors: true,
            timestamps: false,
            upgrade_notice: true,
            utc_offset_minutes: 0,
            log_level: LogLevel::Info,
            max_nick_chars: 24,
            max_line_bytes: 4096,
            max_clients: 10_000,
            threads: 0,
            max_clients_per_ip: 32,
            login_timeout_secs: 60,
            flood_burst: 20,
            flood_lines_per_sec: 5,
            send_queue_bytes: 1_048_576,
            send_queue_hard_bytes: None,
            send_queue_grace_secs: 10,
            history: 20,
            max_rooms: 100,
            presence_summary_above: 100,
            presence_interval_secs: 10,
            shutdown_grace_secs: 10,
            stats_interval_secs: 60,
            control_socket: None,
            state_dir: None,
            history_on_disk: true,
            motd_file: None,
            metrics_address: None,
        }
    }
}

impl Config {
    /// Effective settings rendered in the config file format, one `key = value` per line,
    /// every key, in declaration order (printed by `chatd --check-config`). Parsing the
    /// output gives back an equal `Config`.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for key in &KEYS {
            // Writing to a String cannot fail.
            let _ = match (key.show)(self) {
                Some(value) => writeln!(out, "{} = {value}", key.name),
                // A comment, so that the output still parses to the same config.
                None => writeln!(out, "# {} is not set", key.name),
            };
        }
        out
    }

    /// Names of keys whose values differ between `self` and `new` but only take effect
    /// after a restart (the key table's `restart` column). Used on reload to tell the
    /// operator what was not applied.
    pub fn restart_only_changes(&self, new: &Config) -> Vec<&'static str> {
        KEYS.iter()
            .filter(|key| key.restart.is_some() && (key.show)(self) != (key.show)(new))
            .map(|key| key.name)
            .collect()
    }

    /// Sets every restart-only key of `self` back to its value in `current`.
    pub fn keep_restart_only(&mut self, current: &Config) {
        for keep in KEYS.iter().filter_map(|key| key.restart) {
            keep(self, current);
        }
    }

    /// The hard bound of a client's send queue in force: `send_queue_hard_bytes`,
    /// or, when that is not set, 4 × `send_queue_bytes` (so it follows the soft
    /// bound, on reload too).
    pub fn send_queue_hard_bound(&self) -> usize {
        self.send_queue_hard_bytes
            .unwrap_or(self.send_queue_bytes.saturating_mul(HARD_PER_SOFT))
    }

    /// Whether flood control is on: either key set to 0 turns it off.
    pub fn flood_enabled(&self) -> bool {
        self.flood_burst > 0 && self.flood_lines_per_sec > 0
    }
}

/// Reads and parses a config file. The path appears in error messages as given.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    let shown = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|source| ConfigError::Io {
        path: shown.clone(),
        source,
    })?;
    // Decoding here rather than with `read_to_string` lets the error name the line.
    let text = String::from_utf8(bytes).map_err(|err| {
        let valid = &err.as_bytes()[..err.utf8_error().valid_up_to()];
        let line = 1 + valid.iter().filter(|&&b| b == b'\n').count();
        ConfigError::Syntax {
            path: shown.clone(),
            line,
            message: "invalid UTF-8".to_string(),
        }
    })?;
    parse(&text, &shown)
}

/// Parses config file text. `path` is only used in error messages, as the user gave it.
/// Keys not in the file keep their defaults. Every bad line is reported (one
/// error, or [`ConfigError::Several`]); a line with an error is skipped.
pub fn parse(text: &str, path: &str) -> Result<Config, ConfigError> {
    // Editors on Windows like to start UTF-8 files with a byte order mark.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let syntax = |line, message: String| ConfigError::Syntax {
        path: path.to_string(),
        line,
        message,
    };

    let mut config = Config::default();
    // Where each key (by index into KEYS) was set, to report duplicates and conflicts.
    let mut set_on: [Option<usize>; KEYS.len()] = [None; KEYS.len()];
    let mut errors = Vec::new();

    // `lines` also strips the `\r` of CRLF line endings.
    for (index, raw) in text.lines().enumerate() {
        let line = index + 1;
        let trimmed = raw.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        if trimmed.starts_with('[') {
            errors.push(syntax(
                line,
                format!("table headers are not supported, got {trimmed:?}"),
            ));
            continue;
        }
        let Some((name, rest)) = trimmed
            .split_once('=')
            .filter(|(name, _)| is_bare_key(name.trim_end()))
        else {
            errors.push(syntax(
                line,
                format!("expected \"key = value\", got {trimmed:?}"),
            ));
            continue;
        };
        let name = name.trim_end();

        let Some(slot) = KEYS.iter().position(|key| key.name == name) else {
            errors.push(ConfigError::UnknownKey {
                path: path.to_string(),
                line,
                key: name.to_string(),
                suggestion: suggest(name),
            });
            continue;
        };
        let key = &KEYS[slot];
        if let Some(first_line) = set_on[slot] {
            errors.push(ConfigError::Duplicate {
                path: path.to_string(),
                line,
                key: key.name,
                first_line,
            });
            continue;
        }
        set_on[slot] = Some(line);

        let value = match lex_value(rest.trim_start(), key.name) {
            Ok(value) => value,
            Err(message) => {
                errors.push(syntax(line, message));
                continue;
            }
        };
        if let Err(message) = (key.set)(&mut config, &value) {
            errors.push(ConfigError::BadValue {
                path: path.to_string(),
                line,
                key: key.name,
                message,
            });
        }
    }
    // The checks across keys below would only repeat a bad line's error.
    match errors.len() {
        0 => {}
        1 => return Err(errors.remove(0)),
        _ => return Err(ConfigError::Several(errors)),
    }

    // A whole formatted line (the text plus nick and decoration) must fit in a client's
    // send queue, or a client could be dropped as "too slow" for one legal message.
    // Checks between keys are reported at the later of the keys involved.
    // Only keys that were set can break these (the defaults pass), so the
    // later of the two lines is known.
    let invalid = |keys: [&str; 2], message: String| {
        let line_of = |name: &str| {
            KEYS.iter()
                .position(|key| key.name == name)
                .and_then(|slot| set_on[slot])
        };
        ConfigError::Invalid {
            path: path.to_string(),
            line: line_of(keys[0]).max(line_of(keys[1])).unwrap_or(0),
            message,
        }
    };
    let min_queue = config.max_line_bytes + LINE_OVERHEAD;
    if config.send_queue_bytes < min_queue {
        return Err(invalid(
            ["max_line_bytes", "send_queue_bytes"],
            format!(
                "\"send_queue_bytes\" must be at least \"max_line_bytes\" + {LINE_OVERHEAD} = {min_queue} \
                 so a whole line fits, got \"{}\"",
                config.send_queue_bytes
            ),
        ));
    }
    // A hard bound below the soft one would make the grace meaningless: every
    // client over the soft bound would already be over the hard one.
    if let Some(hard) = config.send_queue_hard_bytes
        && hard < config.send_queue_bytes
    {
        return Err(invalid(
            ["send_queue_hard_bytes", "send_queue_bytes"],
            format!(
                "\"send_queue_hard_bytes\" must be at least \"send_queue_bytes\" = {}, got \"{hard}\"",
                config.send_queue_bytes
            ),
        ));
    }
    Ok(config)
}

/// The hard bound of a send queue, in soft bounds, when `send_queue_hard_bytes` is
/// not set: the Redis default for pub/sub clients (32 MiB hard, 8 MiB soft).
const HARD_PER_SOFT: usize = 4;

/// Room a formatted line needs in a send queue beyond the user's text (nick, colors, CRLF).
const LINE_OVERHEAD: usize = 1024;
