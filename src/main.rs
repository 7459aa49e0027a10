//! `chatd`, the daemon. A thin main: parse the command line, load the config, get
//! a listening socket (bound here, or handed over by systemd), install signal
//! handlers, and run the server. Everything else lives in the library.

use std::net::{SocketAddr, TcpListener};
use std::process::ExitCode;
use std::time::Duration;

use async_channel::Sender;
use chatd::cli::{self, Command, Options};
use chatd::config::{self, Config};
use chatd::control::ReloadRequest;
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
    let source = match &options.config {
        Some(path) => path.display().to_string(),
        None => "built-in defaults".to_owned(),
    };
    info!(
        "chatd {} starting (config: {source})",
        env!("CARGO_PKG_VERSION")
    );
    // What the config names must be usable before anything starts: a damaged
    // ban file would let banned users in, a missing MOTD is a config mistake.
    let extras = match extras(&options, &config) {
        Ok(extras) => extras,
        Err(message) => {
            error!("{message}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    match run(config, extras) {
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

/// The bans from `state_dir`, the MOTD, and where reloads read from.
fn extras(options: &Options, config: &Config) -> Result<server::Extras, String> {
    let bans = match &config.state_dir {
        Some(dir) => chatd::room::Bans::open(std::path::Path::new(dir))?,
        None => chatd::room::Bans::in_memory(),
    };
    Ok(server::Extras {
        bans,
        control_socket: None,
        reload: server::ReloadSource {
            path: options.config.clone(),
            port_override: options.port,
        },
        motd: config::read_motd(config)?,
    })
}

fn run(config: Config, mut extras: server::Extras) -> Result<(), String> {
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
    // Bound before "listening" too: whoever waits for that line may use it.
    let _socket_file = match &config.control_socket {
        Some(path) => {
            let (socket, file) = chatd::control::bind(std::path::Path::new(path))?;
            info!("control socket at {path}");
            extras.control_socket = Some(socket);
            Some(file)
        }
        None => None,
    };
    start_signal_thread(control_tx, config.shutdown_grace_secs)?;
    info!("listening on {local}");
    notify("READY=1\nSTATUS=accepting connections");
    info!("{}", extras.bans.describe());

    let summary = smol::block_on(server::run(listener, config, control_rx, extras))
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

fn notify(state: &str) {
    systemd::notify_or_warn(state);
}

/// Turns SIGTERM/SIGINT into [`Control::Shutdown`] and SIGHUP into
/// [`Control::Reload`], waiting for the server to have applied the reload (it
/// tells systemd `RELOADING=1` … `READY=1` around it). A plain thread: the
/// signal iterator blocks.
fn start_signal_thread(control: Sender<Control>, grace_secs: u64) -> Result<(), String> {
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
                        .send_blocking(Control::Reload(ReloadRequest { reply }))
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
                    notify("STOPPING=1");
                } else {
                    info!("{name} again: skipping the rest of the grace period");
                }
                if control.send_blocking(Control::Shutdown).is_err() {
                    return; // The server has finished.
                }
            }
        })
        .map_err(|e| format!("cannot start the signal thread: {e}"))?;
    Ok(())
}
