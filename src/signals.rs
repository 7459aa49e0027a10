//! Signals into the daemon: SIGTERM/SIGINT become a graceful shutdown (a second
//! one ends the grace), SIGHUP a reload that the server answers once applied.

use async_channel::Sender;
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};

use crate::control::ReloadRequest;
use crate::info;
use crate::server::Order;

/// Turns SIGTERM/SIGINT into [`Order::Shutdown`] and SIGHUP into
/// [`Order::Reload`], waiting for the server to have applied the reload (it
/// tells systemd `RELOADING=1` … `READY=1` around it). A plain thread: the
/// signal iterator blocks.
pub fn start(control: Sender<Order>, grace_secs: u64) -> Result<(), String> {
    let mut signals = signal_hook::iterator::Signals::new([SIGTERM, SIGINT, SIGHUP])
        .map_err(|e| format!("cannot install signal handlers: {e}"))?;
    std::thread::Builder::new()
        .name("signals".to_owned())
        .spawn(move || {
            let mut shutdowns = 0;
            for signal in signals.forever() {
                if signal == SIGHUP {
                    let (reply, answer) = async_channel::bounded(1);
                    if control
                        .send_blocking(Order::Reload(ReloadRequest { reply }))
                        .is_err()
                    {
                        return; // The server has finished.
                    }
                    // The answer is logged by the server; waiting for it keeps
                    // one reload at a time.
                    let _ = answer.recv_blocking();
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
                if control.send_blocking(Order::Shutdown).is_err() {
                    return; // The server has finished.
                }
            }
        })
        .map_err(|e| format!("cannot start the signal thread: {e}"))?;
    Ok(())
}
