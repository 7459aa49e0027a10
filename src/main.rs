//! `chatd`, the daemon. A thin main: parse the command line, load the config, get
//! a listening socket (bound here, or handed over by systemd), install signal
//! handlers, and run the server. Everything else lives in the library.

use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use async_channel::Sender;
use chatd::cli::{self, Command, Options};
use chatd::config::{self, Config};
use chatd::server::{self, Control};
use chatd::{error, info, systemd, warn};
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};

/// Exit status for configuration errors (sysexits' EX_CONFIG); systemd is told
/// not to restart on it, since restarting cannot fix a bad file.
const EXIT_CONFIG: u8 = 78;
/// When the address is in use, retry this many times, a second apart.
const BIND_RETRIES: u32 = 5;

fn main() -> ExitCode {
    let command = match cli::parse_args(std::env::args().skip(1)) {
        Ok(command) => command,
        Err(err) => {
            eprintln!("chatd: {err}\n\n{}", cli::usage());
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    let (options, check_only) = match command {
        Command::Help => {
            print!("{}", cli::usage());
            return ExitCode::SUCCESS;
        }
        Command::Version => {
            println!("chatd {}", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
        Command::Ctl(args) => return chatd::ctl::main(args),
        Command::Run(options) => (options, false),
        Command::CheckConfig(options) => (options, true),
    };
    let config = match load_config(&options) {
        Ok(config) => config,
        Err(err) => {
            eprintln!("chatd: {err}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    if check_only {
        print!("{}", config.render());
        return ExitCode::SUCCESS;
    }
    chatd::log::init(config.log_level);
    match run(options, config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            error!("{message}");
            ExitCode::FAILURE
        }
    }
}

/// The file named by `--config` (or the built-in defaults), then `--port`.
fn load_config(options: &Options) -> Result<Config, config::ConfigError> {
    let mut config = match &options.config {
        Some(path) => config::load(path)?,
        None => Config::default(),
    };
    if let Some(port) = options.port {
        config.port = port;
    }
    Ok(config)
}

fn run(options: Options, config: Config) -> Result<(), String> {
    let source = match &options.config {
        Some(path) => path.display().to_string(),
        None => "built-in defaults".to_owned(),
    };
    info!(
        "chatd {} starting (config: {source})",
        env!("CARGO_PKG_VERSION")
    );
    let listener = match systemd::listener_from_systemd() {
        Ok(Some(listener)) => {
            info!("using the socket passed by systemd");
            listener
        }
        Ok(None) => bind(&config)?,
        Err(err) => return Err(format!("socket activation: {err}")),
    };
    let local = listener
        .local_addr()
        .map_err(|e| format!("listening socket: {e}"))?;
    // Handlers go in before "listening" is logged: whoever waits for that line may
    // signal at once, and an unhandled SIGHUP or SIGTERM would kill the process.
    let (control_tx, control_rx) = async_channel::bounded(16);
    start_signal_thread(
        control_tx,
        options.config.clone(),
        options.port,
        config.clone(),
    )?;
    info!("listening on {local}");
    notify("READY=1\nSTATUS=accepting connections");

    let summary = smol::block_on(server::run(
        listener,
        config,
        control_rx,
        chatd::room::Bans::in_memory(),
    ))
    .map_err(|e| format!("server: {e}"))?;
    notify(&format!(
        "STATUS=stopped after {} deliveries",
        summary.deliveries
    ));
    Ok(())
}

/// Binds the configured address; while it is in use, retries once a second up to
/// [`BIND_RETRIES`] times, as the tutorial's server does.
fn bind(config: &Config) -> Result<TcpListener, String> {
    let ip = config
        .address
        .parse()
        .map_err(|_| format!("bad address {:?}", config.address))?;
    let addr = SocketAddr::new(ip, config.port);
    let mut attempt = 0;
    loop {
        match TcpListener::bind(addr) {
            Ok(listener) => return Ok(listener),
            Err(err) if err.kind() == std::io::ErrorKind::AddrInUse && attempt < BIND_RETRIES => {
                attempt += 1;
                warn!("address {addr} in use, retrying in 1s ({attempt} of {BIND_RETRIES})");
                std::thread::sleep(Duration::from_secs(1));
            }
            Err(err) => return Err(format!("cannot listen on {addr}: {err}")),
        }
    }
}

/// Sends a state to systemd; failing to is worth a warning, never an exit.
fn notify(state: &str) {
    if let Err(err) = systemd::notify(state) {
        warn!("sd_notify {state:?} failed: {err}");
    }
}

/// Turns SIGTERM/SIGINT into [`Control::Shutdown`] and SIGHUP into a validated
/// [`Control::Reload`]. A plain thread, because reading the config file blocks.
fn start_signal_thread(
    control: Sender<Control>,
    path: Option<PathBuf>,
    port_override: Option<u16>,
    mut current: Config,
) -> Result<(), String> {
    let mut signals = signal_hook::iterator::Signals::new([SIGTERM, SIGINT, SIGHUP])
        .map_err(|e| format!("cannot install signal handlers: {e}"))?;
    std::thread::Builder::new()
        .name("signals".to_owned())
        .spawn(move || {
            let mut shutdowns = 0;
            for signal in signals.forever() {
                let message = if signal == SIGHUP {
                    // Once STOPPING=1 is sent, READY=1 would tell systemd the
                    // opposite; a reload during the grace is applied silently.
                    let stopping = shutdowns > 0;
                    if !stopping {
                        notify("RELOADING=1");
                    }
                    let reloaded = reload(path.as_deref(), port_override, &current);
                    if !stopping {
                        notify("READY=1");
                    }
                    match reloaded {
                        Some(new) => {
                            current = new.clone();
                            Control::Reload(Box::new(new))
                        }
                        None => continue,
                    }
                } else {
                    shutdowns += 1;
                    let name = if signal == SIGTERM {
                        "SIGTERM"
                    } else {
                        "SIGINT"
                    };
                    if shutdowns == 1 {
                        info!(
                            "{name}: graceful shutdown ({}s grace)",
                            current.shutdown_grace_secs
                        );
                        notify("STOPPING=1");
                    } else {
                        info!("{name} again: skipping the rest of the grace period");
                    }
                    Control::Shutdown
                };
                if control.send_blocking(message).is_err() {
                    return; // The server has finished.
                }
            }
        })
        .map_err(|e| format!("cannot start the signal thread: {e}"))?;
    Ok(())
}

/// Re-reads the config file for SIGHUP. Returns the config to apply, or None
/// (logged) when there is nothing to apply.
fn reload(
    path: Option<&std::path::Path>,
    port_override: Option<u16>,
    current: &Config,
) -> Option<Config> {
    let Some(path) = path else {
        info!("SIGHUP: no config file (running on built-in defaults), nothing to reload");
        return None;
    };
    match config::reloaded(path, port_override, current) {
        Ok(new) => Some(new),
        Err(err) => {
            warn!("config reload refused, keeping the old settings: {err}");
            None
        }
    }
}
