//! The config file: its format, every key with its default and allowed range, and the
//! errors a bad file produces.
//!
//! The format is a small subset of TOML: `key = value` lines, `#` comments, strings in
//! double quotes, decimal integers and booleans. Anything this module accepts means the
//! same thing to a TOML parser, so editors and linters that know TOML help the operator.
//! Parsing is pure (text in, [`Config`] or [`ConfigError`] out); only [`load`] touches
//! the file system.
//!
//! Every key lives in one table (`KEYS`) that ties its name to its parser and to how it is
//! written back, so [`parse`], [`Config::render`] and the "did you mean" suggestions can
//! never disagree about which keys exist.

use std::error::Error;
use std::fmt::{self, Write as _};
use std::net::IpAddr;
use std::path::Path;

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
    /// Everything, including message text, written `"debug"`.
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
    /// Least important log lines still written.
    pub log_level: LogLevel,
    /// Longest nickname, in characters.
    pub max_nick_chars: usize,
    /// Longest input line, in bytes; longer lines are discarded.
    pub max_line_bytes: usize,
    /// Most connections at once; more get a "server full" line.
    pub max_clients: usize,
    /// Most connections at once from one remote address.
    pub max_clients_per_ip: usize,
    /// Seconds an unregistered connection may take to pick a nickname.
    pub login_timeout_secs: u64,
    /// Lines a client may send at once before flood control delays it.
    pub flood_burst: u32,
    /// Lines per second a client may send in the long run.
    pub flood_lines_per_sec: u32,
    /// Bytes that may wait to be written to one client before it is dropped as too slow.
    pub send_queue_bytes: usize,
    /// Messages replayed to a new user; 0 disables.
    pub history: usize,
    /// Seconds users may keep chatting after a shutdown signal.
    pub shutdown_grace_secs: u64,
    /// Seconds between health lines in the log; 0 disables.
    pub stats_interval_secs: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            address: "127.0.0.1".to_string(),
            port: 8194,
            room_name: "chatd".to_string(),
            language: Language::En,
            colors: true,
            log_level: LogLevel::Info,
            max_nick_chars: 24,
            max_line_bytes: 4096,
            max_clients: 10_000,
            max_clients_per_ip: 32,
            login_timeout_secs: 60,
            flood_burst: 20,
            flood_lines_per_sec: 5,
            send_queue_bytes: 1_048_576,
            history: 20,
            shutdown_grace_secs: 10,
            stats_interval_secs: 60,
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
            let _ = writeln!(out, "{} = {}", key.name, (key.show)(self));
        }
        out
    }

    /// Names of keys whose values differ between `self` and `new` but only take effect
    /// after a restart (the listening socket and the size of the client table are set up
    /// once). Used on SIGHUP reload to tell the operator what was not applied.
    pub fn restart_only_changes(&self, new: &Config) -> Vec<&'static str> {
        let mut changed = Vec::new();
        if self.address != new.address {
            changed.push("address");
        }
        if self.port != new.port {
            changed.push("port");
        }
        if self.max_clients != new.max_clients {
            changed.push("max_clients");
        }
        changed
    }

    /// Whether flood control is on: either key set to 0 turns it off.
    pub fn flood_enabled(&self) -> bool {
        self.flood_burst > 0 && self.flood_lines_per_sec > 0
    }
}

/// Why a config file was refused. Every variant but `Io` points at a line; `Display`
/// writes `path:line: message`, lowercase, with the bad value quoted.
#[derive(Debug)]
pub enum ConfigError {
    /// The file could not be read.
    Io {
        /// The path as the user gave it.
        path: String,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// A line that is not `key = value`, a broken string, a table header, invalid UTF-8.
    Syntax {
        /// The path as the user gave it.
        path: String,
        /// 1-based line number.
        line: usize,
        /// What is wrong, without the `path:line: ` prefix.
        message: String,
    },
    /// A key chatd does not know.
    UnknownKey {
        /// The path as the user gave it.
        path: String,
        /// 1-based line number.
        line: usize,
        /// The key as written.
        key: String,
        /// The closest known key, when one is close enough to be a likely typo.
        suggestion: Option<&'static str>,
    },
    /// A key set a second time.
    Duplicate {
        /// The path as the user gave it.
        path: String,
        /// 1-based line number of the second setting.
        line: usize,
        /// The key.
        key: &'static str,
        /// 1-based line number of the first setting.
        first_line: usize,
    },
    /// A value of the wrong type or out of range.
    BadValue {
        /// The path as the user gave it.
        path: String,
        /// 1-based line number.
        line: usize,
        /// The key.
        key: &'static str,
        /// What was expected and what was found, e.g. `expected true or false, got "yes"`.
        message: String,
    },
    /// Values that are each fine but do not fit together (`send_queue_bytes` too small
    /// for `max_line_bytes`).
    Invalid {
        /// The path as the user gave it.
        path: String,
        /// 1-based line number of the later of the keys involved.
        line: usize,
        /// What is wrong, naming the keys.
        message: String,
    },
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // The io::Error text is included because `main` prints only this line; it
            // is also available through `source()` for callers that walk the chain.
            ConfigError::Io { path, source } => write!(f, "{path}: cannot read: {source}"),
            ConfigError::Syntax {
                path,
                line,
                message,
            }
            | ConfigError::Invalid {
                path,
                line,
                message,
            } => write!(f, "{path}:{line}: {message}"),
            ConfigError::UnknownKey {
                path,
                line,
                key,
                suggestion,
            } => {
                write!(f, "{path}:{line}: unknown key {key:?}")?;
                if let Some(known) = suggestion {
                    write!(f, " (did you mean {known:?}?)")?;
                }
                Ok(())
            }
            ConfigError::Duplicate {
                path,
                line,
                key,
                first_line,
            } => {
                write!(
                    f,
                    "{path}:{line}: duplicate key {key:?} (first set on line {first_line})"
                )
            }
            ConfigError::BadValue {
                path,
                line,
                key,
                message,
            } => {
                write!(f, "{path}:{line}: bad value for {key:?}: {message}")
            }
        }
    }
}

impl Error for ConfigError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            ConfigError::Io { source, .. } => Some(source),
            _ => None,
        }
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
/// Keys not in the file keep their defaults; the first problem found is returned.
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

    // `lines` also strips the `\r` of CRLF line endings.
    for (index, raw) in text.lines().enumerate() {
        let line = index + 1;
        let trimmed = raw.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        if trimmed.starts_with('[') {
            return Err(syntax(
                line,
                format!("table headers are not supported, got {trimmed:?}"),
            ));
        }
        let Some((name, rest)) = trimmed
            .split_once('=')
            .filter(|(name, _)| is_bare_key(name.trim_end()))
        else {
            return Err(syntax(
                line,
                format!("expected \"key = value\", got {trimmed:?}"),
            ));
        };
        let name = name.trim_end();

        let Some(slot) = KEYS.iter().position(|key| key.name == name) else {
            return Err(ConfigError::UnknownKey {
                path: path.to_string(),
                line,
                key: name.to_string(),
                suggestion: suggest(name),
            });
        };
        let key = &KEYS[slot];
        if let Some(first_line) = set_on[slot] {
            return Err(ConfigError::Duplicate {
                path: path.to_string(),
                line,
                key: key.name,
                first_line,
            });
        }
        set_on[slot] = Some(line);

        let value =
            lex_value(rest.trim_start(), key.name).map_err(|message| syntax(line, message))?;
        (key.set)(&mut config, &value).map_err(|message| ConfigError::BadValue {
            path: path.to_string(),
            line,
            key: key.name,
            message,
        })?;
    }

    // A whole formatted line (the text plus nick and decoration) must fit in a client's
    // send queue, or a client could be dropped as "too slow" for one legal message.
    let min_queue = config.max_line_bytes + LINE_OVERHEAD;
    if config.send_queue_bytes < min_queue {
        let lines = |name: &str| {
            KEYS.iter()
                .position(|key| key.name == name)
                .and_then(|slot| set_on[slot])
        };
        // Defaults pass this check, so at least one of the two keys was set.
        let line = lines("max_line_bytes")
            .max(lines("send_queue_bytes"))
            .unwrap_or(0);
        return Err(ConfigError::Invalid {
            path: path.to_string(),
            line,
            message: format!(
                "\"send_queue_bytes\" must be at least \"max_line_bytes\" + {LINE_OVERHEAD} = {min_queue} \
                 so a whole line fits, got \"{}\"",
                config.send_queue_bytes
            ),
        });
    }
    Ok(config)
}

/// Room a formatted line needs in a send queue beyond the user's text (nick, colors, CRLF).
const LINE_OVERHEAD: usize = 1024;

/// One config key: its name, how to read it into a [`Config`] and how to write it back.
struct Key {
    name: &'static str,
    /// Stores the value in its field; the error is the text after `bad value for "name": `.
    set: fn(&mut Config, &Value<'_>) -> Result<(), String>,
    /// The field's value as written in a config file.
    show: fn(&Config) -> String,
}

/// Every key, in the order `render` writes them.
const KEYS: [Key; 17] = [
    Key {
        name: "address",
        set: |c, v| {
            let text = v.string()?;
            text.parse::<IpAddr>().map_err(|_| {
                format!("expected an IP address such as \"127.0.0.1\" or \"::\", got {text:?}")
            })?;
            c.address = text.to_string();
            Ok(())
        },
        show: |c| quote(&c.address),
    },
    Key {
        name: "port",
        set: |c, v| v.integer(0, 65_535).map(|n| c.port = n),
        show: |c| c.port.to_string(),
    },
    Key {
        name: "room_name",
        set: |c, v| {
            let text = v.string()?;
            if !(1..=64).contains(&text.chars().count()) {
                return Err(format!("expected 1 to 64 characters, got {text:?}"));
            }
            // The name goes into every banner; a control character could garble terminals.
            if text.chars().any(char::is_control) {
                return Err(format!("control characters are not allowed, got {text:?}"));
            }
            c.room_name = text.to_string();
            Ok(())
        },
        show: |c| quote(&c.room_name),
    },
    Key {
        name: "language",
        set: |c, v| {
            c.language = match v.string()? {
                "en" => Language::En,
                "zh" => Language::Zh,
                other => return Err(format!("expected \"en\" or \"zh\", got {other:?}")),
            };
            Ok(())
        },
        show: |c| quote(c.language.as_str()),
    },
    Key {
        name: "colors",
        set: |c, v| v.boolean().map(|on| c.colors = on),
        show: |c| c.colors.to_string(),
    },
    Key {
        name: "log_level",
        set: |c, v| {
            c.log_level = match v.string()? {
                "error" => LogLevel::Error,
                "warn" => LogLevel::Warn,
                "info" => LogLevel::Info,
                "debug" => LogLevel::Debug,
                other => {
                    return Err(format!(
                        "expected \"error\", \"warn\", \"info\" or \"debug\", got {other:?}"
                    ));
                }
            };
            Ok(())
        },
        show: |c| quote(c.log_level.as_str()),
    },
    Key {
        name: "max_nick_chars",
        set: |c, v| v.integer(1, 64).map(|n| c.max_nick_chars = n),
        show: |c| c.max_nick_chars.to_string(),
    },
    Key {
        name: "max_line_bytes",
        set: |c, v| v.integer(64, 1 << 20).map(|n| c.max_line_bytes = n),
        show: |c| c.max_line_bytes.to_string(),
    },
    Key {
        name: "max_clients",
        set: |c, v| v.integer(1, 1_000_000).map(|n| c.max_clients = n),
        show: |c| c.max_clients.to_string(),
    },
    Key {
        name: "max_clients_per_ip",
        set: |c, v| v.integer(1, 1_000_000).map(|n| c.max_clients_per_ip = n),
        show: |c| c.max_clients_per_ip.to_string(),
    },
    Key {
        name: "login_timeout_secs",
        set: |c, v| v.integer(1, 86_400).map(|n| c.login_timeout_secs = n),
        show: |c| c.login_timeout_secs.to_string(),
    },
    Key {
        name: "flood_burst",
        set: |c, v| v.integer(0, 1_000_000).map(|n| c.flood_burst = n),
        show: |c| c.flood_burst.to_string(),
    },
    Key {
        name: "flood_lines_per_sec",
        set: |c, v| v.integer(0, 1_000_000).map(|n| c.flood_lines_per_sec = n),
        show: |c| c.flood_lines_per_sec.to_string(),
    },
    Key {
        name: "send_queue_bytes",
        // The lower bound is the smallest max_line_bytes plus the overhead; the check
        // against the actual max_line_bytes happens once the whole file is read.
        set: |c, v| {
            v.integer(64 + LINE_OVERHEAD as u64, 1 << 30)
                .map(|n| c.send_queue_bytes = n)
        },
        show: |c| c.send_queue_bytes.to_string(),
    },
    Key {
        name: "history",
        set: |c, v| v.integer(0, 1000).map(|n| c.history = n),
        show: |c| c.history.to_string(),
    },
    Key {
        name: "shutdown_grace_secs",
        set: |c, v| v.integer(0, 3600).map(|n| c.shutdown_grace_secs = n),
        show: |c| c.shutdown_grace_secs.to_string(),
    },
    Key {
        name: "stats_interval_secs",
        set: |c, v| v.integer(0, 86_400).map(|n| c.stats_interval_secs = n),
        show: |c| c.stats_interval_secs.to_string(),
    },
];

/// A value as written after `=`: a string with its quotes removed and escapes resolved,
/// or a bare word (integer, boolean, or a mistake) with any trailing comment removed.
#[derive(Debug, PartialEq)]
enum Value<'a> {
    Str(String),
    Bare(&'a str),
}

impl Value<'_> {
    fn string(&self) -> Result<&str, String> {
        match self {
            Value::Str(text) => Ok(text),
            Value::Bare(word) => Err(format!(
                "expected a string in double quotes, got {word:?} without quotes"
            )),
        }
    }

    fn boolean(&self) -> Result<bool, String> {
        match self {
            Value::Bare("true") => Ok(true),
            Value::Bare("false") => Ok(false),
            Value::Bare(word) => Err(format!("expected true or false, got {word:?}")),
            Value::Str(text) => Err(format!("expected true or false, got the string {text:?}")),
        }
    }

    /// An unsigned decimal integer in `min..=max`, converted to the field's type.
    fn integer<T: TryFrom<u64>>(&self, min: u64, max: u64) -> Result<T, String> {
        let expected = format!("expected an integer from {min} to {max}");
        let word = match self {
            Value::Bare(word) => *word,
            Value::Str(text) => return Err(format!("{expected}, got the string {text:?}")),
        };
        if word.starts_with(['+', '-']) {
            return Err(format!("{expected} without a sign, got {word:?}"));
        }
        parse_decimal(word)
            .filter(|n| (min..=max).contains(n))
            // Every range above fits the field it is stored in, so this conversion only
            // fails if a range and a field type disagree; report it rather than panic.
            .and_then(|n| T::try_from(n).ok())
            .ok_or_else(|| format!("{expected}, got {word:?}"))
    }
}

/// A TOML decimal integer without sign: digits, `_` only between two digits, and no
/// leading zero (TOML forbids it so `010` cannot be mistaken for octal).
/// `None` on bad syntax or overflow.
fn parse_decimal(word: &str) -> Option<u64> {
    let bytes = word.as_bytes();
    let digits_around = |i: usize| {
        i > 0
            && i + 1 < bytes.len()
            && bytes[i - 1].is_ascii_digit()
            && bytes[i + 1].is_ascii_digit()
    };
    let well_formed = !bytes.is_empty()
        && bytes
            .iter()
            .enumerate()
            .all(|(i, &b)| b.is_ascii_digit() || (b == b'_' && digits_around(i)))
        && !(bytes.len() > 1 && bytes[0] == b'0');
    if !well_formed {
        return None;
    }
    word.bytes()
        .filter(u8::is_ascii_digit)
        .try_fold(0u64, |n, digit| {
            n.checked_mul(10)?.checked_add(u64::from(digit - b'0'))
        })
}

/// Whether `name` is a TOML bare key (`A-Za-z0-9_-`). Quoted and dotted keys are not
/// supported; none of ours needs them.
fn is_bare_key(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Splits what follows `key =` into a value, checking that only a comment may follow it.
/// The error is a syntax message without the `path:line: ` prefix.
fn lex_value<'a>(text: &'a str, key: &str) -> Result<Value<'a>, String> {
    let (value, rest) = if text.starts_with("\"\"\"") || text.starts_with("'''") {
        return Err("multi-line strings are not supported".to_string());
    } else if let Some(body) = text.strip_prefix('"') {
        let (value, len) = unescape(body)?;
        (Value::Str(value), &body[len + 1..])
    } else if let Some(body) = text.strip_prefix('\'') {
        // A TOML literal string: no escapes, ends at the next single quote.
        let end = body.find('\'').ok_or("unterminated string")?;
        (Value::Str(body[..end].to_string()), &body[end + 1..])
    } else {
        // A bare word ends at a comment; `#` cannot occur inside integers or booleans.
        let word = text.split('#').next().unwrap_or("").trim_end();
        if word.is_empty() {
            return Err(format!("missing value for {key:?}"));
        }
        return Ok(Value::Bare(word));
    };
    let rest = rest.trim_start();
    if !rest.is_empty() && !rest.starts_with('#') {
        return Err(format!("unexpected text after the string: {rest:?}"));
    }
    Ok(value)
}

/// Reads a basic (double-quoted) string body up to its closing quote, resolving escapes.
/// Returns the value and the byte offset of the closing quote in `body`.
fn unescape(body: &str) -> Result<(String, usize), String> {
    let mut value = String::new();
    let mut chars = body.char_indices();
    while let Some((at, c)) = chars.next() {
        match c {
            '"' => return Ok((value, at)),
            '\\' => {
                let (_, escape) = chars.next().ok_or("unterminated string")?;
                let resolved = match escape {
                    '"' => '"',
                    '\\' => '\\',
                    'n' => '\n',
                    't' => '\t',
                    'r' => '\r',
                    'b' => '\u{8}',
                    'f' => '\u{c}',
                    'u' | 'U' => {
                        let len = if escape == 'u' { 4 } else { 8 };
                        // `at` is the backslash and `at + 1` the ASCII `u`, so digits start at `at + 2`.
                        let hex: String = body[at + 2..]
                            .chars()
                            .take(len)
                            .take_while(char::is_ascii_hexdigit)
                            .collect();
                        let code = Some(&hex)
                            .filter(|hex| hex.len() == len)
                            .and_then(|hex| u32::from_str_radix(hex, 16).ok())
                            .and_then(char::from_u32)
                            .ok_or_else(|| format!("bad unicode escape \"\\{escape}{hex}\""))?;
                        // Skip the hex digits just read; they are ASCII, one char each.
                        chars.nth(len - 1);
                        code
                    }
                    other => {
                        // Quoted the way every other bad value is, so that a control
                        // character cannot garble the one-line error in the log.
                        let shown: String = if other.is_control() {
                            other.escape_debug().collect()
                        } else {
                            other.to_string()
                        };
                        return Err(format!("unknown escape \"\\{shown}\" in string"));
                    }
                };
                value.push(resolved);
            }
            c => value.push(c),
        }
    }
    Err("unterminated string".to_string())
}

/// Writes `text` as a basic TOML string that `unescape` reads back unchanged.
fn quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => {
                // Writing to a String cannot fail.
                let _ = write!(out, "\\u{:04X}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The known key closest to `unknown`, if it is likely what the user meant: within two
/// edits, or one name a prefix of the other (`max_clients_per` for `max_clients_per_ip`).
fn suggest(unknown: &str) -> Option<&'static str> {
    // Case and kebab-case are the commonest slips; they should not count as edits.
    let unknown = unknown.to_ascii_lowercase().replace('-', "_");
    KEYS.iter()
        .map(|key| (edit_distance(&unknown, key.name), key.name))
        .filter(|&(distance, name)| {
            distance <= 2 || name.starts_with(&unknown) || unknown.starts_with(name)
        })
        // `min_by_key` keeps the first of equals, so ties go to the earlier key in KEYS.
        .min_by_key(|&(distance, _)| distance)
        .map(|(_, name)| name)
}

/// Levenshtein distance: insertions, deletions and substitutions, one each.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    // Distances from a prefix of `a` to every prefix of `b`; one row at a time.
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    let mut current = vec![0; b.len() + 1];
    for (i, ca) in a.chars().enumerate() {
        current[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let substitute = previous[j] + usize::from(ca != cb);
            current[j + 1] = substitute.min(previous[j + 1] + 1).min(current[j] + 1);
        }
        std::mem::swap(&mut previous, &mut current);
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(text: &str) -> Config {
        parse(text, "chatd.conf").unwrap()
    }

    fn err(text: &str) -> String {
        parse(text, "chatd.conf").unwrap_err().to_string()
    }

    #[test]
    fn empty_file_gives_defaults() {
        assert_eq!(ok(""), Config::default());
        assert_eq!(ok("\n\n  \n# only a comment\n"), Config::default());
    }

    #[test]
    fn defaults_match_the_spec() {
        let c = Config::default();
        assert_eq!(c.address, "127.0.0.1");
        assert_eq!(c.port, 8194);
        assert_eq!(c.room_name, "chatd");
        assert_eq!(c.language, Language::En);
        assert!(c.colors);
        assert_eq!(c.log_level, LogLevel::Info);
        assert_eq!(c.max_nick_chars, 24);
        assert_eq!(c.max_line_bytes, 4096);
        assert_eq!(c.max_clients, 10_000);
        assert_eq!(c.max_clients_per_ip, 32);
        assert_eq!(c.login_timeout_secs, 60);
        assert_eq!(c.flood_burst, 20);
        assert_eq!(c.flood_lines_per_sec, 5);
        assert_eq!(c.send_queue_bytes, 1_048_576);
        assert_eq!(c.history, 20);
        assert_eq!(c.shutdown_grace_secs, 10);
        assert_eq!(c.stats_interval_secs, 60);
        assert!(c.flood_enabled());
    }

    #[test]
    fn every_key_parses() {
        let c = ok(concat!(
            "address = \"::1\"\n",
            "port = 0\n",
            "room_name = \"聊天室\"\n",
            "language = \"zh\"\n",
            "colors = false\n",
            "log_level = \"debug\"\n",
            "max_nick_chars = 64\n",
            "max_line_bytes = 64\n",
            "max_clients = 1_000_000\n",
            "max_clients_per_ip = 1\n",
            "login_timeout_secs = 86400\n",
            "flood_burst = 0\n",
            "flood_lines_per_sec = 0\n",
            "send_queue_bytes = 1088\n",
            "history = 1000\n",
            "shutdown_grace_secs = 3600\n",
            "stats_interval_secs = 0\n",
        ));
        let expected = Config {
            address: "::1".into(),
            port: 0,
            room_name: "聊天室".into(),
            language: Language::Zh,
            colors: false,
            log_level: LogLevel::Debug,
            max_nick_chars: 64,
            max_line_bytes: 64,
            max_clients: 1_000_000,
            max_clients_per_ip: 1,
            login_timeout_secs: 86_400,
            flood_burst: 0,
            flood_lines_per_sec: 0,
            send_queue_bytes: 1088,
            history: 1000,
            shutdown_grace_secs: 3600,
            stats_interval_secs: 0,
        };
        assert_eq!(c, expected);
        assert!(!c.flood_enabled());
    }

    #[test]
    fn every_log_level_parses_and_orders() {
        for (text, level) in [
            ("error", LogLevel::Error),
            ("warn", LogLevel::Warn),
            ("info", LogLevel::Info),
            ("debug", LogLevel::Debug),
        ] {
            assert_eq!(ok(&format!("log_level = \"{text}\"")).log_level, level);
            assert_eq!(level.as_str(), text);
        }
        assert!(
            LogLevel::Error < LogLevel::Warn
                && LogLevel::Warn < LogLevel::Info
                && LogLevel::Info < LogLevel::Debug
        );
    }

    #[test]
    fn flood_control_needs_both_keys() {
        assert!(!ok("flood_burst = 0").flood_enabled());
        assert!(!ok("flood_lines_per_sec = 0").flood_enabled());
        assert!(ok("flood_burst = 1\nflood_lines_per_sec = 1").flood_enabled());
    }

    #[test]
    fn comments_and_whitespace() {
        let c = ok(
            "# header\n  port=9000   # trailing comment\n\tcolors = true#tight\nroom_name = \"a # b\" # real comment\n",
        );
        assert_eq!(c.port, 9000);
        assert!(c.colors);
        assert_eq!(c.room_name, "a # b");
    }

    #[test]
    fn bom_and_crlf() {
        let c = ok("\u{feff}port = 1\r\nroom_name = \"x\"\r\n\r\n# c\r\ncolors = false\r\n");
        assert_eq!((c.port, c.room_name.as_str(), c.colors), (1, "x", false));
    }

    #[test]
    fn string_escapes() {
        assert_eq!(
            ok(r#"room_name = "say \"hi\" \\ \u00e9\U0001F600""#).room_name,
            "say \"hi\" \\ é😀"
        );
        assert_eq!(
            ok("room_name = 'C:\\rooms\\a \"b\"' # literal").room_name,
            "C:\\rooms\\a \"b\""
        );
        // Escapes that produce control characters parse, then the room name rejects them.
        assert_eq!(
            err(r#"room_name = "a\tb""#),
            r#"chatd.conf:1: bad value for "room_name": control characters are not allowed, got "a\tb""#
        );
    }

    #[test]
    fn integers_with_underscores() {
        assert_eq!(ok("max_clients = 10_000").max_clients, 10_000);
        assert_eq!(
            ok("send_queue_bytes = 1_073_741_824").send_queue_bytes,
            1 << 30
        );
        for bad in [
            "1__0", "_10", "10_", "010", "0x10", "1e3", "8194.0", "81 94", "",
        ] {
            assert_eq!(parse_decimal(bad), None, "{bad:?}");
        }
        assert_eq!(parse_decimal("0"), Some(0));
        assert_eq!(parse_decimal("18446744073709551615"), Some(u64::MAX));
        assert_eq!(parse_decimal("18446744073709551616"), None);
    }

    #[test]
    fn unknown_key_with_suggestion() {
        let text = "# chatd\n\naddress = \"0.0.0.0\"\n\n\n\nprot = 8194\n";
        assert_eq!(
            err(text),
            r#"chatd.conf:7: unknown key "prot" (did you mean "port"?)"#
        );
        let e = parse(text, "chatd.conf").unwrap_err();
        assert!(matches!(
            e,
            ConfigError::UnknownKey {
                line: 7,
                suggestion: Some("port"),
                ..
            }
        ));
    }

    #[test]
    fn unknown_key_suggestions() {
        assert_eq!(suggest("Port"), Some("port"));
        assert_eq!(suggest("max_client"), Some("max_clients"));
        assert_eq!(suggest("max-clients-per-ip"), Some("max_clients_per_ip"));
        assert_eq!(suggest("history_size"), Some("history"));
        assert_eq!(suggest("log"), Some("log_level"));
        assert_eq!(suggest("colours"), Some("colors"));
        assert_eq!(suggest("bind"), None);
        assert_eq!(err("listen = 1"), r#"chatd.conf:1: unknown key "listen""#);
    }

    #[test]
    fn duplicate_key() {
        assert_eq!(
            err("port = 1\ncolors = true\nport = 2\n"),
            r#"chatd.conf:3: duplicate key "port" (first set on line 1)"#
        );
    }

    #[test]
    fn bad_values_name_the_range_or_choices() {
        let cases = [
            (
                "port = 80000",
                r#"bad value for "port": expected an integer from 0 to 65535, got "80000""#,
            ),
            (
                "port = -1",
                r#"bad value for "port": expected an integer from 0 to 65535 without a sign, got "-1""#,
            ),
            (
                "port = +1",
                r#"bad value for "port": expected an integer from 0 to 65535 without a sign, got "+1""#,
            ),
            (
                "port = \"8194\"",
                r#"bad value for "port": expected an integer from 0 to 65535, got the string "8194""#,
            ),
            (
                "port = 99999999999999999999",
                r#"bad value for "port": expected an integer from 0 to 65535, got "99999999999999999999""#,
            ),
            (
                "port = true",
                r#"bad value for "port": expected an integer from 0 to 65535, got "true""#,
            ),
            (
                "language = \"fr\"",
                r#"bad value for "language": expected "en" or "zh", got "fr""#,
            ),
            (
                "language = en",
                r#"bad value for "language": expected a string in double quotes, got "en" without quotes"#,
            ),
            (
                "log_level = \"trace\"",
                r#"bad value for "log_level": expected "error", "warn", "info" or "debug", got "trace""#,
            ),
            (
                "colors = yes",
                r#"bad value for "colors": expected true or false, got "yes""#,
            ),
            (
                "colors = \"true\"",
                r#"bad value for "colors": expected true or false, got the string "true""#,
            ),
            (
                "address = \"localhost\"",
                r#"bad value for "address": expected an IP address such as "127.0.0.1" or "::", got "localhost""#,
            ),
            (
                "address = 0.0.0.0",
                r#"bad value for "address": expected a string in double quotes, got "0.0.0.0" without quotes"#,
            ),
            (
                "room_name = \"\"",
                r#"bad value for "room_name": expected 1 to 64 characters, got """#,
            ),
            (
                "max_nick_chars = 0",
                r#"bad value for "max_nick_chars": expected an integer from 1 to 64, got "0""#,
            ),
            (
                "max_line_bytes = 63",
                r#"bad value for "max_line_bytes": expected an integer from 64 to 1048576, got "63""#,
            ),
            (
                "max_clients = 0",
                r#"bad value for "max_clients": expected an integer from 1 to 1000000, got "0""#,
            ),
            (
                "max_clients_per_ip = 1000001",
                r#"bad value for "max_clients_per_ip": expected an integer from 1 to 1000000, got "1000001""#,
            ),
            (
                "login_timeout_secs = 0",
                r#"bad value for "login_timeout_secs": expected an integer from 1 to 86400, got "0""#,
            ),
            (
                "flood_burst = 1000001",
                r#"bad value for "flood_burst": expected an integer from 0 to 1000000, got "1000001""#,
            ),
            (
                "flood_lines_per_sec = 1e3",
                r#"bad value for "flood_lines_per_sec": expected an integer from 0 to 1000000, got "1e3""#,
            ),
            (
                "send_queue_bytes = 1073741825",
                r#"bad value for "send_queue_bytes": expected an integer from 1088 to 1073741824, got "1073741825""#,
            ),
            (
                "history = 1001",
                r#"bad value for "history": expected an integer from 0 to 1000, got "1001""#,
            ),
            (
                "shutdown_grace_secs = 3601",
                r#"bad value for "shutdown_grace_secs": expected an integer from 0 to 3600, got "3601""#,
            ),
            (
                "stats_interval_secs = 86401",
                r#"bad value for "stats_interval_secs": expected an integer from 0 to 86400, got "86401""#,
            ),
        ];
        for (text, message) in cases {
            assert_eq!(
                err(&format!("# line 1\n{text}\n")),
                format!("chatd.conf:2: {message}")
            );
        }
        let long = "x".repeat(65);
        assert_eq!(
            err(&format!("room_name = \"{long}\"")),
            format!(
                r#"chatd.conf:1: bad value for "room_name": expected 1 to 64 characters, got "{long}""#
            )
        );
        assert_eq!(
            ok(&format!("room_name = \"{}\"", "é".repeat(64)))
                .room_name
                .chars()
                .count(),
            64
        );
    }

    #[test]
    fn bad_value_variant_carries_the_key() {
        let e = parse("\n\nport = 80000", "chatd.conf").unwrap_err();
        assert!(matches!(
            e,
            ConfigError::BadValue {
                line: 3,
                key: "port",
                ..
            }
        ));
        assert!(e.source().is_none());
    }

    #[test]
    fn syntax_errors() {
        let cases = [
            ("port 8194", r#"expected "key = value", got "port 8194""#),
            ("= 8194", r#"expected "key = value", got "= 8194""#),
            (
                "\"port\" = 8194",
                r#"expected "key = value", got "\"port\" = 8194""#,
            ),
            (
                "server.port = 8194",
                r#"expected "key = value", got "server.port = 8194""#,
            ),
            ("room_name = \"chat", "unterminated string"),
            ("room_name = \"chat\\\"", "unterminated string"),
            ("room_name = 'chat", "unterminated string"),
            (
                "room_name = \"\"\"chat\"\"\"",
                "multi-line strings are not supported",
            ),
            (
                "room_name = \"a\" \"b\"",
                r#"unexpected text after the string: "\"b\"""#,
            ),
            ("room_name = \"a\\q\"", r#"unknown escape "\q" in string"#),
            ("room_name = \"\\u12\"", r#"bad unicode escape "\u12""#),
            ("room_name = \"\\uD800\"", r#"bad unicode escape "\uD800""#),
            ("port =", r#"missing value for "port""#),
            ("port = # none", r#"missing value for "port""#),
            (
                "[server]",
                r#"table headers are not supported, got "[server]""#,
            ),
        ];
        for (text, message) in cases {
            assert_eq!(
                err(&format!("\n\n\n\n{text}\n")),
                format!("chatd.conf:5: {message}"),
                "{text}"
            );
        }
        assert_eq!(
            err("\n\n\n\n\n\nroom_name = \"chat\n"),
            "chatd.conf:7: unterminated string"
        );
    }

    #[test]
    fn send_queue_must_hold_a_whole_line() {
        let message = |line, got| {
            format!(
                "chatd.conf:{line}: \"send_queue_bytes\" must be at least \"max_line_bytes\" + 1024 = 1049600 \
                 so a whole line fits, got \"{got}\""
            )
        };
        // Reported at the later of the two keys, whichever order they come in.
        assert_eq!(err("max_line_bytes = 1048576\n"), message(1, 1_048_576));
        assert_eq!(
            err("send_queue_bytes = 1048576\n\nmax_line_bytes = 1048576\n"),
            message(3, 1_048_576)
        );
        assert_eq!(
            err("max_line_bytes = 1048576\nsend_queue_bytes = 2000\n"),
            message(2, 2000)
        );
        assert!(matches!(
            parse("max_line_bytes = 1048576", "p").unwrap_err(),
            ConfigError::Invalid { line: 1, .. }
        ));
        assert_eq!(
            ok("max_line_bytes = 1048576\nsend_queue_bytes = 1049600").send_queue_bytes,
            1_049_600
        );
        assert_eq!(
            ok("max_line_bytes = 64\nsend_queue_bytes = 1088").send_queue_bytes,
            1088
        );
    }

    #[test]
    fn render_parse_round_trip() {
        let default = Config::default();
        assert_eq!(ok(&default.render()), default);

        let odd = Config {
            address: "::".into(),
            room_name: "he said \"hi\" \\ 你好 #1".into(),
            language: Language::Zh,
            colors: false,
            log_level: LogLevel::Warn,
            port: 0,
            history: 0,
            ..Config::default()
        };
        assert_eq!(ok(&odd.render()), odd);
    }

    #[test]
    fn render_writes_every_key_in_order() {
        let rendered = Config::default().render();
        let names: Vec<&str> = rendered
            .lines()
            .map(|line| line.split(" = ").next().unwrap())
            .collect();
        let expected = [
            "address",
            "port",
            "room_name",
            "language",
            "colors",
            "log_level",
            "max_nick_chars",
            "max_line_bytes",
            "max_clients",
            "max_clients_per_ip",
            "login_timeout_secs",
            "flood_burst",
            "flood_lines_per_sec",
            "send_queue_bytes",
            "history",
            "shutdown_grace_secs",
            "stats_interval_secs",
        ];
        assert_eq!(names, expected);
        assert!(rendered.starts_with("address = \"127.0.0.1\"\nport = 8194\nroom_name = \"chatd\"\nlanguage = \"en\"\ncolors = true\n"));
    }

    #[test]
    fn quote_escapes_what_unescape_reads() {
        assert_eq!(quote("a\"b\\c\nd\te\u{1b}"), r#""a\"b\\c\nd\te\u001B""#);
        let text = "a\"b\\c\nd\te\u{1b}\u{7f}";
        let (back, _) = unescape(&quote(text)[1..]).unwrap();
        assert_eq!(back, text);
    }

    #[test]
    fn restart_only_changes_lists_socket_and_table_keys() {
        let old = Config::default();
        assert!(old.restart_only_changes(&old.clone()).is_empty());
        let runtime_only = Config {
            history: 5,
            log_level: LogLevel::Debug,
            room_name: "x".into(),
            ..old.clone()
        };
        assert!(old.restart_only_changes(&runtime_only).is_empty());
        let all = Config {
            address: "0.0.0.0".into(),
            port: 1,
            max_clients: 5,
            ..old.clone()
        };
        assert_eq!(
            old.restart_only_changes(&all),
            ["address", "port", "max_clients"]
        );
        assert_eq!(
            old.restart_only_changes(&Config {
                port: 1,
                ..old.clone()
            }),
            ["port"]
        );
    }

    #[test]
    fn shipped_config_is_defaults_on_all_addresses() {
        let shipped = parse(include_str!("../config/chatd.conf"), "config/chatd.conf").unwrap();
        assert_eq!(
            shipped,
            Config {
                address: "0.0.0.0".into(),
                ..Default::default()
            }
        );
    }

    #[test]
    fn shipped_config_sets_every_key() {
        // "Every other key is set explicitly": a key missing from the shipped file would
        // silently take its default and go undocumented.
        let text = include_str!("../config/chatd.conf");
        for key in &KEYS {
            let set = text.lines().any(|line| {
                line.split('=')
                    .next()
                    .is_some_and(|name| name.trim() == key.name)
            });
            assert!(set, "config/chatd.conf does not set {}", key.name);
        }
    }

    #[test]
    fn load_reports_io_and_encoding_errors() {
        let missing = Path::new("/nonexistent/chatd.conf");
        let e = load(missing).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("/nonexistent/chatd.conf: cannot read: "),
            "{e}"
        );
        let io = e
            .source()
            .and_then(|s| s.downcast_ref::<std::io::Error>())
            .unwrap();
        assert_eq!(io.kind(), std::io::ErrorKind::NotFound);

        let dir = std::env::temp_dir().join(format!("chatd-config-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("chatd.conf");
        std::fs::write(&file, b"port = 1\nroom_name = \"\xff\"\n").unwrap();
        let e = load(&file).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("{}:2: invalid UTF-8", file.display())
        );
        std::fs::write(&file, b"port = 1\n").unwrap();
        assert_eq!(load(&file).unwrap().port, 1);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
