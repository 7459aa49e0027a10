//! Where the settings come from: the file `--config` named (or the built-in
//! defaults), then `--port`, which overrides the file. The start and every
//! reload read through one [`Source`], so that rule is written once.

use std::path::{Path, PathBuf};

use super::{Config, ConfigError, load};
use crate::warn;

/// The file and the command-line override that make the settings.
#[derive(Debug, Clone, Default)]
pub struct Source {
    /// The config file; None: the built-in defaults, nothing to reload.
    pub path: Option<PathBuf>,
    /// `--port`, if given: it wins over the file, at start and on every reload.
    pub port_override: Option<u16>,
}

impl Source {
    /// The config file, if there is one.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// The command-line options that make this source (`--config FILE`,
    /// `--port N`): what another chatd is given to read the same settings
    /// (a live upgrade's `--check-config`).
    pub fn args(&self) -> Vec<std::ffi::OsString> {
        let mut args = Vec::new();
        if let Some(path) = &self.path {
            args.push("--config".into());
            args.push(path.clone().into_os_string());
        }
        if let Some(port) = self.port_override {
            args.push("--port".into());
            args.push(port.to_string().into());
        }
        args
    }

    /// How the start-up log names it: the file's path, or "built-in defaults".
    pub fn describe(&self) -> String {
        match &self.path {
            Some(path) => path.display().to_string(),
            None => "built-in defaults".to_owned(),
        }
    }

    /// The settings: the file (or the built-in defaults), then `--port`.
    ///
    /// # Errors
    /// The file's errors, each naming its `path:line:`.
    pub fn load(&self) -> Result<Config, ConfigError> {
        let mut config = match &self.path {
            Some(path) => load(path)?,
            None => Config::default(),
        };
        if let Some(port) = self.port_override {
            config.port = port;
        }
        Ok(config)
    }

    /// What a reload (SIGHUP, or `chatd ctl reload`) makes of the source: the
    /// settings [`load`](Self::load) reads, with every key that needs a restart
    /// kept at its `current` value; and the names of the keys so kept (the
    /// file changed them), each also logged as a warning.
    ///
    /// # Errors
    /// The file's errors, one `path:line: …` per line: nothing is applied then.
    pub fn reload(&self, current: &Config) -> Result<(Config, Vec<&'static str>), String> {
        let mut new = self.load().map_err(|err| err.to_string())?;
        let kept = current.restart_only_changes(&new);
        for key in &kept {
            warn!("config reload: {key} changed, which needs a restart; keeping the old value");
        }
        new.keep_restart_only(current);
        Ok((new, kept))
    }
}
