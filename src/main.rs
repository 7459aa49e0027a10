//! `chatd`, the daemon. A thin main: parse the command line, load the config, get
//! a listening socket (bound here, or handed over by systemd), install signal
//! handlers, and run the server. Everything else lives in the library.

use std::process::ExitCode;

use chatd::cli::{self, Command, Options};
use chatd::config::{self, Config};
use chatd::systemd::notify_or_warn;
use chatd::{error, info, listener, server, signals};

/// Exit status for configuration errors (sysexits' EX_CONFIG); systemd is told
/// not to restart on it, since restarting cannot fix a bad file.
const EXIT_CONFIG: u8 = 78;

fn main() -> ExitCode {
    let command = match cli::parse_args(std::env::args().skip(1)) {
        Ok(command) => command,
        Err(err) => {
            chatd::log::error_line(&format!("chatd: {err}\n\n{}", cli::usage()));
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
            // One line per error, each `chatd: path:line: …`.
            for line in err.to_string().lines() {
                chatd::log::error_line(&format!("chatd: {line}"));
            }
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
        Some(dir) => chatd::bans::Bans::open(std::path::Path::new(dir))?,
        None => chatd::bans::Bans::in_memory(),
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
    let listener = listener::open(&config)?;
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
    signals::start(control_tx, config.shutdown_grace_secs)?;
    info!("listening on {local}");
    notify_or_warn("READY=1\nSTATUS=accepting connections");
    info!("{}", extras.bans.describe());

    let workers = chatd::exec::start(config.threads);
    info!("{workers} worker threads");
    let summary = chatd::exec::block_on(server::run(listener, config, control_rx, extras))
        .map_err(|e| format!("server: {e}"))?;
    notify_or_warn(&format!(
        "STATUS=stopped after {} deliveries",
        summary.deliveries
    ));
    Ok(())
}
