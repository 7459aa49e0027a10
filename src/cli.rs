//! The `chatd` command line: which options exist, what they mean, and the `--help` text.
//!
//! Parsing is pure (strings in, [`Command`] out) so `main` stays a thin shell that only
//! acts on the result, and every form is unit-tested here. Hand-written rather than a
//! parser crate: four options do not justify a dependency.

use std::error::Error;
use std::fmt;
use std::path::PathBuf;

/// What the chatd command line asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum Command {
    /// Start the daemon.
    Run(Options),
    /// Validate the configuration, print the effective settings and exit.
    CheckConfig(Options),
    /// Print [`usage`] and exit.
    Help,
    /// Print the version and exit.
    Version,
    /// `chatd ctl …`: the arguments after `ctl`, for [`parse_ctl_args`]. Only a
    /// first argument `ctl` means this, so a daemon's options never do.
    Ctl(Vec<String>),
}

/// Settings given on the command line, shared by [`Command::Run`] and
/// [`Command::CheckConfig`].
#[derive(Debug, PartialEq, Eq, Default)]
pub struct Options {
    /// `--config PATH`: the config file; `None` means built-in defaults.
    pub config: Option<PathBuf>,
    /// `--port PORT`: overrides the `port` key of the config file.
    pub port: Option<u16>,
}

/// A command line chatd cannot act on. `Display` gives the message alone, e.g.
/// `unknown option "--prot"`; the caller adds the program name and a pointer to `--help`.
#[derive(Debug, PartialEq, Eq)]
pub struct CliError(pub String);

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Error for CliError {}

/// Parses the arguments after the program name (`std::env::args().skip(1)`).
///
/// `--help` and `--version` win as soon as they are seen, so `chatd --help` works
/// whatever else is on the line after it; errors before them are still reported.
pub fn parse_args<I: IntoIterator<Item = String>>(args: I) -> Result<Command, CliError> {
    let mut options = Options::default();
    let mut check_config = false;
    let mut args = args.into_iter().peekable();
    if args.peek().is_some_and(|first| first == "ctl") {
        return Ok(Command::Ctl(args.skip(1).collect()));
    }

    while let Some(arg) = args.next() {
        // `--name=value` and `--name value` mean the same; split the first form here.
        let (name, inline) = match arg.split_once('=') {
            Some((name, value)) if name.starts_with("--") => (name, Some(value)),
            _ => (arg.as_str(), None),
        };
        match name {
            "-h" | "--help" => {
                no_value(name, inline)?;
                return Ok(Command::Help);
            }
            "-V" | "--version" => {
                no_value(name, inline)?;
                return Ok(Command::Version);
            }
            "--check-config" => {
                no_value(name, inline)?;
                check_config = true;
            }
            "--config" => {
                let path = value(name, inline, &mut args)?;
                if options.config.replace(PathBuf::from(path)).is_some() {
                    return Err(CliError("--config given more than once".to_string()));
                }
            }
            "--port" => {
                let text = value(name, inline, &mut args)?;
                if options.port.replace(parse_port(&text)?).is_some() {
                    return Err(CliError("--port given more than once".to_string()));
                }
            }
            // A lone `-` conventionally means stdin, a positional argument.
            _ if name.starts_with('-') && name != "-" => {
                return Err(CliError(format!("unknown option {name:?}")));
            }
            _ => return Err(CliError(format!("unexpected argument {arg:?}"))),
        }
    }

    Ok(if check_config {
        Command::CheckConfig(options)
    } else {
        Command::Run(options)
    })
}

/// The `--help` text.
pub fn usage() -> &'static str {
    "\
Usage: chatd [--config PATH] [--port PORT] [--check-config]
       chatd ctl [--socket PATH | --config PATH] COMMAND [ARGS...]   (see chatd ctl --help)

A chat-room daemon: people join over TCP with nc, telnet or the chat client.

Options:
  --config PATH    read settings from PATH (default: built-in settings, 127.0.0.1:8194)
  --port PORT      listen on PORT (0 to 65535), overriding the config file
  --check-config   validate the configuration, print the effective settings and exit
  -h, --help       print this help and exit
  -V, --version    print the version and exit

Exit status:
  0   clean exit, including after a graceful shutdown
  1   fatal error, such as the address staying in use
  78  configuration error (bad command line or config file)

Signals:
  TERM, INT  graceful shutdown: stop accepting, let users finish (a second signal hurries it)
  HUP        reload the config file, keeping the old settings if the new one is invalid
"
}

/// The config file `chatd ctl` reads `control_socket` from when given neither
/// `--socket` nor `--config`: the one the shipped unit runs chatd with.
pub const CTL_DEFAULT_CONFIG: &str = "/etc/chatd/chatd.conf";

/// What `chatd ctl` is asked to do.
#[derive(Debug, PartialEq, Eq)]
pub enum CtlCommand {
    /// Print [`ctl_usage`] and exit (`--help`, or the command `help`, which
    /// needs no running chatd).
    Help,
    /// Send `line` to the control socket found through `socket`.
    Send {
        /// Where the socket is.
        socket: SocketSource,
        /// The request: the command and its arguments joined by spaces.
        line: String,
    },
}

/// How `chatd ctl` finds the control socket.
#[derive(Debug, PartialEq, Eq)]
pub enum SocketSource {
    /// `--socket PATH`.
    Socket(PathBuf),
    /// `--config PATH` (or [`CTL_DEFAULT_CONFIG`]): that file's `control_socket`.
    Config(PathBuf),
}

/// Parses the arguments after `chatd ctl`: options up to the first argument that is
/// not one (or `--`), then the command and its arguments, which are joined by
/// spaces into one request line. Every error is a usage error (exit 2).
pub fn parse_ctl_args<I: IntoIterator<Item = String>>(args: I) -> Result<CtlCommand, CliError> {
    let mut socket = None;
    let mut args = args.into_iter().peekable();
    while let Some(arg) = args.next_if(|arg| arg.starts_with('-')) {
        let (name, inline) = match arg.split_once('=') {
            Some((name, value)) if name.starts_with("--") => (name, Some(value)),
            _ => (arg.as_str(), None),
        };
        let source = match name {
            "--" => break,
            "-h" | "--help" => {
                no_value(name, inline)?;
                return Ok(CtlCommand::Help);
            }
            "--socket" => SocketSource::Socket(value(name, inline, &mut args)?.into()),
            "--config" => SocketSource::Config(value(name, inline, &mut args)?.into()),
            _ => return Err(CliError(format!("unknown option {name:?}"))),
        };
        if socket.replace(source).is_some() {
            return Err(CliError(
                "give one of --socket and --config, once".to_string(),
            ));
        }
    }
    let words: Vec<String> = args.collect();
    if words.is_empty() {
        return Err(CliError("no command given".to_string()));
    }
    // The command table has the text: no need to ask a running chatd.
    if words.len() == 1 && words[0].eq_ignore_ascii_case("help") {
        return Ok(CtlCommand::Help);
    }
    if words.iter().any(|word| word.contains(['\n', '\r', '\0'])) {
        return Err(CliError(
            "the command must be one line: no line breaks or NUL in its arguments".to_string(),
        ));
    }
    Ok(CtlCommand::Send {
        socket: socket.unwrap_or_else(|| SocketSource::Config(CTL_DEFAULT_CONFIG.into())),
        line: words.join(" "),
    })
}

/// The `chatd ctl --help` text (and `chatd ctl help`'s): the options, every
/// command the control socket takes, from the command table
/// ([`crate::command::ctl_commands`]), and the exit statuses.
pub fn ctl_usage() -> String {
    let mut text = String::from(
        "\
Usage: chatd ctl [--socket PATH | --config PATH] COMMAND [ARGS...]

Sends one command to a running chatd over its control socket and prints the answer.
`chatd ctl help` prints this, without a running chatd.

Options:
  --socket PATH   the control socket
  --config PATH   use the control_socket of this config file (default: /etc/chatd/chatd.conf)
  -h, --help      print this help and exit

Commands:
",
    );
    for (usage, help) in crate::command::ctl_commands() {
        // A usage too long for its column goes on a line of its own.
        if usage.chars().count() > CTL_USAGE_COLUMN {
            text.push_str(&format!("  {usage}\n  {:CTL_USAGE_COLUMN$} {help}\n", ""));
        } else {
            text.push_str(&format!("  {usage:CTL_USAGE_COLUMN$} {help}\n"));
        }
    }
    text.push_str(
        "
DURATION: like 30m, 12h, 7d, 2w or 1h30m; without one, a ban or mute is for good.

Exit status:
  0   done
  1   chatd refused the command (the reason is on stderr)
  2   usage error (this command line)
  69  cannot reach chatd (not running, no control_socket, or no permission)
",
    );
    text
}

/// The width of the usage column in [`ctl_usage`].
const CTL_USAGE_COLUMN: usize = 28;

/// Rejects `--flag=value` for options that take no value.
fn no_value(name: &str, inline: Option<&str>) -> Result<(), CliError> {
    match inline {
        Some(_) => Err(CliError(format!("{name} takes no value"))),
        None => Ok(()),
    }
}

/// The value of `name`: the text after `=`, or else the next argument. The next argument
/// is not taken when it is another long option, so `--config --port 1` reports the
/// missing path instead of reading a file called `--port`.
fn value(
    name: &str,
    inline: Option<&str>,
    rest: &mut impl Iterator<Item = String>,
) -> Result<String, CliError> {
    let value = match inline {
        Some(value) => Some(value.to_string()),
        None => rest.next().filter(|next| !next.starts_with("--")),
    };
    value
        .filter(|value| !value.is_empty())
        .ok_or_else(|| CliError(format!("{name} needs a value")))
}

/// A port number in plain decimal digits; `u16::from_str` alone would accept `+80`.
fn parse_port(text: &str) -> Result<u16, CliError> {
    text.bytes()
        .all(|b| b.is_ascii_digit())
        .then(|| text.parse().ok())
        .flatten()
        .ok_or_else(|| CliError(format!("bad port {text:?}: expected 0 to 65535")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Command, CliError> {
        parse_args(args.iter().map(|arg| arg.to_string()))
    }

    fn error(args: &[&str]) -> String {
        parse(args).unwrap_err().to_string()
    }

    fn run(config: Option<&str>, port: Option<u16>) -> Command {
        Command::Run(Options {
            config: config.map(PathBuf::from),
            port,
        })
    }

    #[test]
    fn no_arguments_runs_with_defaults() {
        assert_eq!(parse(&[]), Ok(Command::Run(Options::default())));
    }

    #[test]
    fn config_both_forms() {
        let expected = run(Some("/etc/chatd/chatd.conf"), None);
        assert_eq!(parse(&["--config", "/etc/chatd/chatd.conf"]), Ok(expected));
        let expected = run(Some("/etc/chatd/chatd.conf"), None);
        assert_eq!(parse(&["--config=/etc/chatd/chatd.conf"]), Ok(expected));
        // Only the first `=` splits, so paths may contain one.
        assert_eq!(
            parse(&["--config=a=b.conf"]),
            Ok(run(Some("a=b.conf"), None))
        );
    }

    #[test]
    fn port_both_forms() {
        assert_eq!(parse(&["--port", "9000"]), Ok(run(None, Some(9000))));
        assert_eq!(parse(&["--port=0"]), Ok(run(None, Some(0))));
        assert_eq!(parse(&["--port=65535"]), Ok(run(None, Some(65535))));
    }

    #[test]
    fn check_config_keeps_options() {
        let expected = Command::CheckConfig(Options {
            config: Some("chatd.conf".into()),
            port: Some(1),
        });
        assert_eq!(
            parse(&["--check-config", "--config", "chatd.conf", "--port=1"]),
            Ok(expected)
        );
        assert_eq!(
            parse(&["--check-config"]),
            Ok(Command::CheckConfig(Options::default()))
        );
    }

    #[test]
    fn help_and_version() {
        for arg in ["-h", "--help"] {
            assert_eq!(parse(&[arg]), Ok(Command::Help));
        }
        for arg in ["-V", "--version"] {
            assert_eq!(parse(&[arg]), Ok(Command::Version));
        }
        // They win over whatever follows, even something invalid.
        assert_eq!(
            parse(&["--port", "1", "--help", "--bogus"]),
            Ok(Command::Help)
        );
        assert_eq!(parse(&["--version", "extra"]), Ok(Command::Version));
    }

    #[test]
    fn unknown_option() {
        assert_eq!(error(&["--prot", "8194"]), r#"unknown option "--prot""#);
        assert_eq!(error(&["--prot=8194"]), r#"unknown option "--prot""#);
        assert_eq!(error(&["-p"]), r#"unknown option "-p""#);
        assert_eq!(error(&["-hV"]), r#"unknown option "-hV""#);
    }

    #[test]
    fn positional_arguments_are_errors() {
        assert_eq!(
            error(&["chatd.conf"]),
            r#"unexpected argument "chatd.conf""#
        );
        assert_eq!(error(&["-"]), r#"unexpected argument "-""#);
        assert_eq!(error(&["--port", "1", "2"]), r#"unexpected argument "2""#);
    }

    #[test]
    fn missing_values() {
        assert_eq!(error(&["--port"]), "--port needs a value");
        assert_eq!(error(&["--port="]), "--port needs a value");
        assert_eq!(error(&["--config"]), "--config needs a value");
        assert_eq!(error(&["--config="]), "--config needs a value");
        assert_eq!(
            error(&["--config", "--port", "1"]),
            "--config needs a value"
        );
    }

    #[test]
    fn bad_ports() {
        for bad in [
            "x",
            "65536",
            "-1",
            "+80",
            " 80",
            "80 ",
            "1e3",
            "99999999999",
        ] {
            assert_eq!(
                error(&["--port", bad]),
                format!("bad port {bad:?}: expected 0 to 65535")
            );
        }
        assert_eq!(error(&["--port=x"]), r#"bad port "x": expected 0 to 65535"#);
    }

    #[test]
    fn repeated_options_are_errors() {
        assert_eq!(
            error(&["--config", "a", "--config=b"]),
            "--config given more than once"
        );
        assert_eq!(
            error(&["--port=1", "--port", "2"]),
            "--port given more than once"
        );
    }

    #[test]
    fn flags_take_no_value() {
        assert_eq!(
            error(&["--check-config=yes"]),
            "--check-config takes no value"
        );
        assert_eq!(error(&["--help=1"]), "--help takes no value");
        assert_eq!(error(&["--version=1"]), "--version takes no value");
    }

    fn ctl(args: &[&str]) -> Result<CtlCommand, CliError> {
        parse_ctl_args(args.iter().map(|arg| arg.to_string()))
    }

    fn send(socket: SocketSource, line: &str) -> Result<CtlCommand, CliError> {
        Ok(CtlCommand::Send {
            socket,
            line: line.to_string(),
        })
    }

    #[test]
    fn ctl_is_its_own_command_line() {
        let args = |list: &[&str]| list.iter().map(|a| a.to_string()).collect::<Vec<_>>();
        assert_eq!(
            parse(&["ctl", "--socket", "s", "who"]),
            Ok(Command::Ctl(args(&["--socket", "s", "who"])))
        );
        assert_eq!(parse(&["ctl"]), Ok(Command::Ctl(Vec::new())));
        // Only as the first argument.
        assert_eq!(
            error(&["--config", "a", "ctl"]),
            r#"unexpected argument "ctl""#
        );
    }

    #[test]
    fn ctl_finds_the_socket_three_ways() {
        let default = || SocketSource::Config(CTL_DEFAULT_CONFIG.into());
        assert_eq!(ctl(&["who"]), send(default(), "who"));
        assert_eq!(
            ctl(&["--socket", "/run/c.sock", "who"]),
            send(SocketSource::Socket("/run/c.sock".into()), "who")
        );
        assert_eq!(
            ctl(&["--socket=/run/c.sock", "who"]),
            send(SocketSource::Socket("/run/c.sock".into()), "who")
        );
        assert_eq!(
            ctl(&["--config", "/etc/x.conf", "reload"]),
            send(SocketSource::Config("/etc/x.conf".into()), "reload")
        );
    }

    #[test]
    fn ctl_joins_the_command_into_one_line() {
        let default = || SocketSource::Config(CTL_DEFAULT_CONFIG.into());
        assert_eq!(
            ctl(&["ban", "203.0.113.0/24", "12h", "spam and insults"]),
            send(default(), "ban 203.0.113.0/24 12h spam and insults")
        );
        // After the command, dashes are the command's: `say -- hi` says "-- hi".
        assert_eq!(ctl(&["say", "--", "hi"]), send(default(), "say -- hi"));
        assert_eq!(ctl(&["--", "--odd"]), send(default(), "--odd"));
    }

    #[test]
    fn ctl_usage_errors() {
        let error = |args: &[&str]| ctl(args).unwrap_err().to_string();
        assert_eq!(error(&[]), "no command given");
        assert_eq!(error(&["--socket", "s"]), "no command given");
        assert_eq!(error(&["--socket"]), "--socket needs a value");
        assert_eq!(
            error(&["--socket", "--config", "c", "who"]),
            "--socket needs a value"
        );
        assert_eq!(error(&["--config="]), "--config needs a value");
        assert_eq!(error(&["--sock", "s", "who"]), r#"unknown option "--sock""#);
        assert_eq!(
            error(&["--socket", "s", "--config", "c", "who"]),
            "give one of --socket and --config, once"
        );
        assert_eq!(
            error(&["--socket", "a", "--socket", "b", "who"]),
            "give one of --socket and --config, once"
        );
        assert_eq!(
            error(&["say", "two\nlines"]),
            "the command must be one line: no line breaks or NUL in its arguments"
        );
        assert_eq!(ctl(&["--help", "--bogus"]), Ok(CtlCommand::Help));
        assert_eq!(ctl(&["--socket", "s", "help"]), Ok(CtlCommand::Help));
        assert_eq!(ctl(&["HELP"]), Ok(CtlCommand::Help));
        assert_eq!(ctl(&["-h"]), Ok(CtlCommand::Help));
        // `--help` after the command is the command's argument.
        assert_eq!(
            ctl(&["say", "--help"]),
            send(
                SocketSource::Config(CTL_DEFAULT_CONFIG.into()),
                "say --help"
            )
        );
    }

    #[test]
    fn ctl_usage_lists_every_command_and_exit_status() {
        let text = ctl_usage();
        for needle in [
            "\n  help ",
            "\n  who ",
            "\n  rooms ",
            "kick NICK",
            "ban TARGET",
            "unban TARGET",
            "\n  bans ",
            "mute TARGET",
            "unmute TARGET",
            "\n  mutes ",
            "op NICK",
            "deop NICK",
            "say TEXT",
            "purge NICK",
            "stats",
            "metrics",
            "reload",
            "\n  0 ",
            "\n  1 ",
            "\n  2 ",
            "\n  69 ",
        ] {
            assert!(text.contains(needle), "ctl usage lacks {needle:?}");
        }
        assert!(text.lines().all(|line| line.chars().count() <= 100));
    }

    #[test]
    fn cli_error_is_an_error() {
        let error: Box<dyn Error> = Box::new(CliError("x".to_string()));
        assert_eq!(error.to_string(), "x");
        assert!(error.source().is_none());
    }

    #[test]
    fn usage_covers_options_exit_statuses_and_signals() {
        let text = usage();
        assert!(text.starts_with("Usage: chatd [--config PATH] [--port PORT] [--check-config]\n"));
        for needle in [
            "--config PATH",
            "--port PORT",
            "--check-config",
            "-h, --help",
            "-V, --version",
            "\n  0 ",
            "\n  1 ",
            "\n  78 ",
            "TERM, INT",
            "HUP",
        ] {
            assert!(text.contains(needle), "usage lacks {needle:?}");
        }
        assert!(text.lines().all(|line| line.chars().count() <= 100));
    }
}
