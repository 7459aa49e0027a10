//! What the config names outside itself, checked before anything starts: the
//! state directory and the ban and mute files in it (and its history
//! directory), the MOTD, and the place of
//! the control socket. The start ([`open`]) and `--check-config` ([`check`])
//! check the same things with the same code, so that a config the check
//! passes does not then fail to start — with one difference, told as a
//! warning: a directory that does not exist yet (`state_dir`, the control
//! socket's), which the service manager may make as the unit starts
//! (systemd's `StateDirectory=`, `RuntimeDirectory=`). Started without it,
//! chatd refuses.

use std::io;
use std::os::unix::fs::FileTypeExt;
use std::path::Path;

use crate::bans::{Bans, CheckError};
use crate::config::{Config, Source};
use crate::{history, hub, motd, server};

/// A problem found by [`check`]: one that stops the start, or a directory not
/// there yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finding {
    /// chatd would refuse to start: the message says why, naming the path.
    Error(String),
    /// A directory the config names does not exist yet: chatd started now
    /// would refuse, but a service manager may make it at start.
    Missing(String),
}

/// Everything [`open`] checks, without opening or writing anything (for
/// `--check-config`): each problem found, in the order the start meets them.
pub fn check(config: &Config) -> Vec<Finding> {
    let mut found = Vec::new();
    if let Some(dir) = &config.state_dir {
        match Bans::check(Path::new(dir)) {
            Ok(()) => {}
            Err(CheckError::Missing(err)) => {
                found.push(Finding::Missing(missing(err, "StateDirectory=")));
            }
            Err(CheckError::Unusable(err)) => found.push(Finding::Error(err)),
        }
        if let Err(err) = history::check(Path::new(dir), config) {
            found.push(Finding::Error(err));
        }
    }
    if let Err(err) = motd::read(config) {
        found.push(Finding::Error(err));
    }
    if let Some(path) = &config.control_socket {
        match check_control_socket(Path::new(path)) {
            Ok(()) => {}
            Err(ControlSocketPlace::Missing(err)) => {
                found.push(Finding::Missing(missing(err, "RuntimeDirectory=")));
            }
            Err(ControlSocketPlace::Unusable(err)) => found.push(Finding::Error(err)),
        }
    }
    found
}

/// A missing directory's message, with what makes it under systemd.
fn missing(err: String, directive: &str) -> String {
    format!(
        "{err} (yet: chatd will not start without it; systemd's {directive} makes it when the unit starts)"
    )
}

/// What is wrong with where the control socket is to be made.
enum ControlSocketPlace {
    /// Its directory does not exist.
    Missing(String),
    /// Its directory is not one, or its path holds something that is not a
    /// socket (which chatd will not replace).
    Unusable(String),
}

/// The control socket's directory must exist, and its path hold nothing or a
/// socket (a stale one is replaced at start; a live one belongs to a running
/// chatd, which is what a check during an upgrade finds).
fn check_control_socket(path: &Path) -> Result<(), ControlSocketPlace> {
    let fail = |why: String| format!("control_socket {}: {why}", path.display());
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    match std::fs::metadata(dir) {
        Ok(meta) if meta.is_dir() => {}
        Ok(_) => {
            let why = format!("{} is not a directory", dir.display());
            return Err(ControlSocketPlace::Unusable(fail(why)));
        }
        Err(err) if err.kind() == io::ErrorKind::NotFound => {
            let why = format!("its directory {} does not exist", dir.display());
            return Err(ControlSocketPlace::Missing(fail(why)));
        }
        Err(err) => {
            let why = format!("{}: {err}", dir.display());
            return Err(ControlSocketPlace::Unusable(fail(why)));
        }
    }
    match std::fs::symlink_metadata(path) {
        Ok(meta) if !meta.file_type().is_socket() => Err(ControlSocketPlace::Unusable(fail(
            "it exists and is not a socket".to_owned(),
        ))),
        _ => Ok(()),
    }
}

/// What the start needs besides the listener: the bans and mutes from
/// `state_dir` (their saver threads started), the kept rooms, topics and
/// histories from there too (their savers started), the MOTD,
/// and where reloads read from; the control socket's place checked (it is
/// bound later).
///
/// # Errors
/// The first problem [`check`] would report, missing directories included:
/// a config error (exit 78), named with its path.
pub fn open(source: Source, config: &Config) -> Result<server::Extras, String> {
    let bans = match &config.state_dir {
        Some(dir) => Bans::open(Path::new(dir))?,
        None => Bans::in_memory(),
    };
    // After the bans: `Bans::open` has checked that state_dir is usable.
    let history = match &config.state_dir {
        Some(dir) => history::open(Path::new(dir), config, hub::MAX_ROOM_NAME_CHARS)?,
        None => history::Disk::in_memory(),
    };
    let motd = motd::read(config)?;
    if let Some(path) = &config.control_socket {
        check_control_socket(Path::new(path)).map_err(|place| match place {
            ControlSocketPlace::Missing(err) | ControlSocketPlace::Unusable(err) => err,
        })?;
    }
    Ok(server::Extras {
        bans,
        history,
        control_socket: None,
        source,
        motd,
        metrics: None,
        resume: None,
        asker: None,
        exe: std::env::current_exe().ok(),
        args: std::env::args_os().skip(1).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(name: &str) -> std::path::PathBuf {
        crate::test_dir::fresh("startup", name)
    }

    #[test]
    fn the_check_finds_what_the_start_would_refuse() {
        let dir = temp_dir("check");
        let text = |p: &Path| p.display().to_string();
        let config = Config {
            state_dir: Some(text(&dir.join("state"))),
            motd_file: Some(text(&dir.join("motd"))),
            control_socket: Some(text(&dir.join("run").join("control.sock"))),
            ..Config::default()
        };
        let found = check(&config);
        assert_eq!(found.len(), 3, "{found:?}");
        assert!(
            matches!(&found[0], Finding::Missing(m) if m.starts_with(&format!("state_dir {}: does not exist (yet", text(&dir.join("state"))))),
            "{found:?}"
        );
        assert!(
            matches!(&found[1], Finding::Error(m) if m.contains("motd_file") && m.contains("cannot read")),
            "{found:?}"
        );
        assert!(
            matches!(&found[2], Finding::Missing(m) if m.contains("its directory") && m.contains("RuntimeDirectory=")),
            "{found:?}"
        );
        assert!(open(Source::default(), &config).is_err());
        std::fs::create_dir(dir.join("state")).unwrap();
        std::fs::write(dir.join("state").join("bans"), "x\n").unwrap();
        std::fs::write(dir.join("motd"), "hi\n").unwrap();
        std::fs::create_dir(dir.join("run")).unwrap();
        std::fs::write(dir.join("run").join("control.sock"), "").unwrap();
        let found = check(&config);
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(
            matches!(&found[0], Finding::Error(m) if m.ends_with("bans:1: bad address \"x\": expected an IP address or a CIDR range like 203.0.113.0/24")),
            "{found:?}"
        );
        assert!(
            matches!(&found[1], Finding::Error(m) if m.ends_with("it exists and is not a socket")),
            "{found:?}"
        );
        std::fs::remove_file(dir.join("state").join("bans")).unwrap();
        std::fs::remove_file(dir.join("run").join("control.sock")).unwrap();
        assert_eq!(check(&config), Vec::new());
        assert!(open(Source::default(), &config).is_ok());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
