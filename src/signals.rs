//! Signals into the daemon: SIGTERM/SIGINT become a graceful shutdown (a second
//! one ends the grace), SIGHUP a reload. The signal thread knows nothing of
//! the server: it calls what it is given.

use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM, SIGUSR2};

use crate::info;

/// What the signal thread does for each signal. Each returns false once
/// there is nobody left to act (the server has finished); the thread then ends.
pub struct Handlers {
    /// SIGTERM/SIGINT: begin a graceful shutdown, or end its grace.
    pub shutdown: Box<dyn Fn() -> bool + Send>,
    /// SIGHUP: reload, returning once the reload is applied or refused, so
    /// that reloads happen one at a time (systemd's `RELOADING=1` … `READY=1`
    /// wraps it).
    pub reload: Box<dyn Fn() -> bool + Send>,
    /// SIGUSR2: a live upgrade to the binary chatd was started from; the
    /// server logs the outcome.
    pub upgrade: Box<dyn Fn() -> bool + Send>,
}

/// The daemon's signals, caught from [`catch`] on: one that comes before the
/// signal thread runs waits for it, instead of its default action (which
/// for all four is to end the process). `main` catches them first thing:
/// a live upgrade's new image must not die of a SIGTERM, SIGHUP or SIGUSR2
/// sent while it reads its config and state, as the exec reset every
/// handler the old image had.
pub struct Caught(signal_hook::iterator::Signals);

/// Catches SIGTERM, SIGINT, SIGHUP and SIGUSR2 from now on (see [`Caught`]).
///
/// # Errors
/// The handlers cannot be installed.
pub fn catch() -> Result<Caught, String> {
    signal_hook::iterator::Signals::new([SIGTERM, SIGINT, SIGHUP, SIGUSR2])
        .map(Caught)
        .map_err(|e| format!("cannot install signal handlers: {e}"))
}

/// Starts the signal thread on what [`catch`] caught (and catches from then
/// on): SIGTERM/SIGINT call `handlers.shutdown` (the first logged as a
/// graceful shutdown with `grace_secs` and told to systemd as `STOPPING=1`,
/// the next as skipping the rest of the grace), SIGHUP calls
/// `handlers.reload`, SIGUSR2 `handlers.upgrade`. A plain thread: the signal
/// iterator blocks.
pub fn start(caught: Caught, handlers: Handlers, grace_secs: u64) -> Result<(), String> {
    let Caught(mut signals) = caught;
    std::thread::Builder::new()
        .name("signals".to_owned())
        .spawn(move || {
            let mut shutdowns = 0;
            for signal in signals.forever() {
                if signal == SIGUSR2 {
                    info!("SIGUSR2: live upgrade");
                    if !(handlers.upgrade)() {
                        return;
                    }
                    continue;
                }
                if signal == SIGHUP {
                    // Logged as `chatd ctl reload` is ("control socket: reload"),
                    // so the log says what asked for each reload.
                    info!("SIGHUP: reload");
                    if !(handlers.reload)() {
                        return;
                    }
                    continue;
                }
                shutdowns += 1;
                let name = if signal == SIGTERM {
                    "SIGTERM"
                } else {
                    "SIGINT"
                };
                if shutdowns == 1 {
                    info!("{name}: graceful shutdown ({grace_secs}s grace)");
                    crate::systemd::notify_or_warn("STOPPING=1");
                } else {
                    info!("{name} again: skipping the rest of the grace period");
                }
                if !(handlers.shutdown)() {
                    return;
                }
            }
        })
        .map_err(|e| format!("cannot start the signal thread: {e}"))?;
    Ok(())
}
