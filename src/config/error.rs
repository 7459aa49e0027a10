//! Why a config file was refused: [`ConfigError`], whose `Display` is the line an
//! operator reads (`path:line: message`).

use std::error::Error;
use std::fmt;

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
    /// More than one of the above, in the order of their lines: an operator fixes
    /// them all in one edit instead of one per start. `Display` writes one per line.
    Several(Vec<ConfigError>),
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
            ConfigError::Several(errors) => {
                let lines: Vec<String> = errors.iter().map(ToString::to_string).collect();
                f.write_str(&lines.join("\n"))
            }
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
