//! `chatd`, the daemon. A thin main: parse the command line, load the config, get
//! a listening socket (bound here, or handed over by systemd), install signal
//! handlers, and run the server. Everything else lives in the library.

use std::process::ExitCode;

use chatd::cli::{self, Command};
use chatd::config::{Config, Source};
use chatd::startup::{self, Finding};
use chatd::systemd::notify_or_warn;
use chatd::{error, handover, info, listener, server, signals};

/// Exit status for configuration errors (sysexits' EX_CONFIG); systemd is told
/// not to restart on it, since restarting cannot fix a bad file.
const EXIT_CONFIG: u8 = 78;

fn main() -> ExitCode {
    let command = match cli::parse_args(std::env::args().skip(1)) {
        Ok(command) => command,
        Err(err) => {
            chatd::log::error_line(&format!("chatd: {err}\n\n{}", cli::usage()));
            turn_away_handed_clients();
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
            // What a live upgrade checks before it hands over to this binary.
            println!("handover versions: {}", handover::format::versions());
            return ExitCode::SUCCESS;
        }
        Command::Ctl(args) => return chatd::ctl::main(args),
        Command::Run(options) => (options, false),
        Command::CheckConfig(options) => (options, true),
    };
    let source = Source {
        path: options.config,
        port_override: options.port,
    };
    let config = match source.load() {
        Ok(config) => config,
        Err(err) => {
            // One line per error, each `chatd: path:line: …`.
            for line in err.to_string().lines() {
                chatd::log::error_line(&format!("chatd: {line}"));
            }
            turn_away_handed_clients();
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    if check_only {
        // Everything the start checks, so that a file the check passes starts.
        let mut failed = false;
        for finding in startup::check(&config) {
            match finding {
                Finding::Error(err) => {
                    failed = true;
                    chatd::log::error_line(&format!("chatd: {err}"));
                }
                Finding::Missing(warning) => {
                    chatd::log::error_line(&format!("chatd: warning: {warning}"));
                }
            }
        }
        if failed {
            return ExitCode::from(EXIT_CONFIG);
        }
        print!("{}", config.render());
        return ExitCode::SUCCESS;
    }
    // Caught before anything slow (the config is read, the state directory
    // next): a signal now waits for the server instead of killing chatd.
    let caught = match signals::catch() {
        Ok(caught) => caught,
        Err(message) => {
            chatd::log::error_line(&format!("chatd: {message}"));
            turn_away_handed_clients();
            return ExitCode::FAILURE;
        }
    };
    chatd::log::init(config.log_level);
    info!(
        "chatd {} starting (config: {})",
        env!("CARGO_PKG_VERSION"),
        source.describe()
    );
    // What the config names must be usable before anything starts: a damaged
    // ban file would let banned users in, a missing MOTD is a config mistake.
    let extras = match startup::open(source, &config) {
        Ok(extras) => extras,
        Err(message) => {
            error!("{message}");
            turn_away_handed_clients();
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    match run(config, extras, caught) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            error!("{message}");
            turn_away_handed_clients();
            ExitCode::FAILURE
        }
    }
}

/// A new image of a live upgrade that cannot start after all (its config or
/// state directory changed since the checks): the clients the old one
/// handed over are told, not dropped in silence. Nothing otherwise.
fn turn_away_handed_clients() {
    if std::env::var_os(handover::ENV_FD).is_some() {
        let told = handover::turn_away(chatd::text::Texts::session_not_kept());
        error!("handover: this chatd cannot start; {told} clients told to reconnect");
    }
}

fn run(config: Config, mut extras: server::Extras, caught: signals::Caught) -> Result<(), String> {
    // A new image after a live upgrade takes the sockets the old one left
    // open; an ordinary start binds them.
    let handed = match handover::take_state() {
        Some(state) => Some(server::resumed_sockets(&config, state, &mut extras)?),
        None => None,
    };
    let (listener, _socket_file) = match handed {
        Some(sockets) => sockets,
        None => (listener::open(&config)?, None),
    };
    let local = listener
        .local_addr()
        .map_err(|e| format!("listening socket: {e}"))?;
    // Bound before "listening" is logged: whoever waits for that line may use it.
    let _socket_file = match (&config.control_socket, &extras.control_socket) {
        (Some(path), None) => {
            let (socket, file) = chatd::control::bind(std::path::Path::new(path))?;
            info!("control socket at {path}");
            extras.control_socket = Some(socket);
            Some(file)
        }
        _ => _socket_file,
    };
    if let (Some(addr), None) = (config.metrics_address, &extras.metrics) {
        let metrics = chatd::scrape::bind(addr)?;
        let bound = metrics
            .local_addr()
            .map_err(|e| format!("metrics socket: {e}"))?;
        info!("metrics at http://{bound}/metrics");
        extras.metrics = Some(metrics);
    }
    // Handlers go in before "listening" is logged too: whoever waits for that
    // line may signal at once, and an unhandled SIGHUP or SIGTERM would kill
    // the process.
    let (orders, orders_rx) = server::orders();
    let reloads = orders.clone();
    let upgrades = orders.clone();
    let handlers = signals::Handlers {
        shutdown: Box::new(move || orders.shutdown()),
        reload: Box::new(move || reloads.reload_and_wait()),
        upgrade: Box::new(move || upgrades.upgrade()),
    };
    signals::start(caught, handlers, config.shutdown_grace_secs)?;
    info!("listening on {local}");
    notify_or_warn("READY=1\nSTATUS=accepting connections");
    info!("{}", extras.bans.describe());
    info!("{}", extras.history.describe());

    let threads = chatd::exec::start(config.threads);
    info!("{threads} executor threads");
    let summary = chatd::exec::block_on(server::run(listener, config, orders_rx, extras))
        .map_err(|e| format!("server: {e}"))?;
    notify_or_warn(&format!(
        "STATUS=stopped after {} deliveries",
        summary.deliveries
    ));
    Ok(())
}
