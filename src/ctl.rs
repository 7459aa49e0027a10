//! `chatd ctl`, the operator's client of the control socket: find the socket, send
//! the one request line, print the answer, and exit with a status a script (or
//! systemd's `ExecReload=`) can act on.
//!
//! The command line is parsed in [`crate::cli`] and the protocol lives in
//! [`crate::control`]; this module connects them and owns the exit statuses.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use crate::cli::{self, CtlCommand, SocketSource};
use crate::config::{self, Config};
use crate::control::{self, MAX_REQUEST, Reply, RequestError};
use crate::log;

/// Exit status when chatd refused the command.
pub const EXIT_REFUSED: u8 = 1;
/// Exit status for a bad `chatd ctl` command line (and a request chatd could not
/// read as one).
pub const EXIT_USAGE: u8 = 2;
/// Exit status when chatd cannot be reached (sysexits' EX_UNAVAILABLE).
pub const EXIT_UNAVAILABLE: u8 = 69;

/// How long `chatd ctl` waits for an answer. A `reload` answers only once the new
/// settings are in force; this stays well inside systemd's default 90 s for
/// `ExecReload=`.
pub const ANSWER_TIMEOUT: Duration = Duration::from_secs(30);

/// Runs `chatd ctl` with the arguments after `ctl`; returns the exit status.
pub fn main(args: Vec<String>) -> ExitCode {
    let (socket, line) = match cli::parse_ctl_args(args) {
        Ok(CtlCommand::Help) => {
            print!("{}", cli::ctl_usage());
            return ExitCode::SUCCESS;
        }
        Ok(CtlCommand::Send { socket, line }) => (socket, line),
        Err(err) => {
            log::error_line(&format!("chatd ctl: {err}\n\n{}", cli::ctl_usage()));
            return ExitCode::from(EXIT_USAGE);
        }
    };
    if line.len() > MAX_REQUEST {
        log::error_line(&format!(
            "chatd ctl: the command is too long: at most {MAX_REQUEST} bytes"
        ));
        return ExitCode::from(EXIT_USAGE);
    }
    let path = match socket {
        SocketSource::Socket(path) => path,
        SocketSource::Config(config) => match socket_from_config(&config) {
            Ok(path) => path,
            Err(err) => {
                log::error_line(&format!("chatd ctl: {err}"));
                return ExitCode::from(EXIT_UNAVAILABLE);
            }
        },
    };
    match control::request(&path, &line, ANSWER_TIMEOUT) {
        Ok(Reply::Done(text)) => {
            // stdout closed early (`chatd ctl who | head -1`) is the reader's choice.
            let _ = std::io::stdout().lock().write_all(text.as_bytes());
            ExitCode::SUCCESS
        }
        Ok(Reply::Refused(text)) => {
            log::error_line(&text);
            ExitCode::from(EXIT_REFUSED)
        }
        Ok(Reply::Usage(text)) => {
            log::error_line(&format!("chatd ctl: {text}"));
            ExitCode::from(EXIT_USAGE)
        }
        Err(err) => {
            log::error_line(&format!("chatd ctl: {}", describe(&path, &err)));
            ExitCode::from(EXIT_UNAVAILABLE)
        }
    }
}

/// Why there is no answer, with a hint at the usual cause.
fn describe(path: &Path, err: &RequestError) -> String {
    let shown = path.display();
    match err {
        RequestError::Connect(io) => {
            let hint = match io.kind() {
                std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused => {
                    " (is chatd running, with control_socket set?)"
                }
                std::io::ErrorKind::PermissionDenied => {
                    " (only chatd's user and root may use the control socket)"
                }
                _ => "",
            };
            format!("cannot connect to {shown}: {io}{hint}")
        }
        RequestError::NoAnswer(io) => format!("no answer from {shown}: {io}"),
        RequestError::BadAnswer(text) => {
            format!("{shown} answered something that is not chatd's: {text:?}")
        }
    }
}

/// The `control_socket` of the config file at `path`. The file is read the way
/// chatd reads it; if it has errors elsewhere (someone is editing it, and is about
/// to run `reload`), the `control_socket` line alone still counts, so that chatd
/// itself can answer the reload with every error in the file.
fn socket_from_config(path: &Path) -> Result<PathBuf, String> {
    let config = match config::load(path) {
        Ok(config) => config,
        Err(full) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            match control_socket_line(&text) {
                Some((index, line)) => {
                    // Blank lines in front keep the line number of any error right.
                    let alone = format!("{}{line}\n", "\n".repeat(index));
                    config::parse(&alone, &path.display().to_string()).map_err(|e| e.to_string())?
                }
                None => return Err(full.to_string()),
            }
        }
    };
    socket_of(&config).ok_or_else(|| {
        format!(
            "{} sets no control_socket, so chatd has no control socket (or use --socket PATH)",
            path.display()
        )
    })
}

/// The first line that sets `control_socket`, and its index.
fn control_socket_line(text: &str) -> Option<(usize, &str)> {
    text.lines().enumerate().find(|(_, line)| {
        line.split_once('=')
            .is_some_and(|(key, _)| key.trim() == "control_socket")
    })
}

/// The control socket `config` sets.
fn socket_of(config: &Config) -> Option<PathBuf> {
    config.control_socket.as_ref().map(PathBuf::from)
}
