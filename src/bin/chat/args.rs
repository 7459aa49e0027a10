//! The command line: `chat [HOST[:PORT]]`, `--help`, `--version`.

use crate::{DEFAULT_HOST, DEFAULT_PORT};

/// What the command line asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum Command {
    Connect(Target),
    Help,
    Version,
}

/// Where to connect: a host name or address literal (IPv6 without brackets) and a port.
#[derive(Debug, PartialEq, Eq)]
pub struct Target {
    pub host: String,
    pub port: u16,
}

pub fn usage() -> &'static str {
    concat!(
        "Usage: chat [HOST[:PORT]]\n",
        "\n",
        "Joins a chatd chat room: sends what you type (or pipe in) line by line and\n",
        "prints what the room says as it arrives. Start with your nickname followed\n",
        "by '#', e.g. \"bob#\".\n",
        "\n",
        "  HOST[:PORT]     where chatd listens (default 127.0.0.1:8194). HOST is a\n",
        "                  name, an IPv4 address or an IPv6 address in brackets\n",
        "                  ([::1]:8194); \":PORT\" alone means 127.0.0.1\n",
        "  -h, --help      print this help\n",
        "  -V, --version   print the version\n",
        "\n",
        "Leave with /quit, end of input (Ctrl-D) or Ctrl-C. Local notices go to\n",
        "stderr; stdout carries only what the server sends. Notices are in Chinese\n",
        "when LC_ALL, LC_MESSAGES or LANG (the first one set) starts with \"zh\".\n",
        "\n",
        "Exit status: 0 when the room closed the connection, 1 on a connection\n",
        "error, 2 on a bad command line.\n",
    )
}

/// Parses the arguments after the program name.
pub fn parse_args<I: IntoIterator<Item = String>>(args: I) -> Result<Command, String> {
    let mut target = None;
    let mut options_done = false;
    for arg in args {
        if !options_done && arg.starts_with('-') && arg != "-" {
            match arg.as_str() {
                "-h" | "--help" => return Ok(Command::Help),
                "-V" | "--version" => return Ok(Command::Version),
                "--" => options_done = true,
                _ => return Err(format!("unknown option {arg:?}")),
            }
        } else if target.is_some() {
            return Err(format!(
                "unexpected argument {arg:?} (only one HOST[:PORT])"
            ));
        } else {
            target = Some(parse_target(&arg)?);
        }
    }
    Ok(Command::Connect(target.unwrap_or(Target {
        host: DEFAULT_HOST.to_owned(),
        port: DEFAULT_PORT,
    })))
}

/// `HOST`, `HOST:PORT`, `:PORT`, `[IPV6]`, `[IPV6]:PORT`, or a bare IPv6 literal.
fn parse_target(arg: &str) -> Result<Target, String> {
    let bad = |why: &str| format!("bad address {arg:?}: {why}");
    let (host, port) = if let Some(rest) = arg.strip_prefix('[') {
        let (host, after) = rest.split_once(']').ok_or_else(|| bad("missing ']'"))?;
        match after {
            "" => (host, None),
            _ => match after.strip_prefix(':') {
                Some(port) => (host, Some(port)),
                None => return Err(bad("expected ':PORT' after ']'")),
            },
        }
    } else if arg.matches(':').count() > 1 {
        (arg, None) // An IPv6 literal such as ::1; a port needs the brackets.
    } else {
        match arg.split_once(':') {
            Some(("", port)) => (DEFAULT_HOST, Some(port)),
            Some((host, port)) => (host, Some(port)),
            None => (arg, None),
        }
    };
    if host.is_empty() {
        return Err(bad("empty host"));
    }
    let port = match port {
        None => DEFAULT_PORT,
        Some(port) => match port.parse::<u16>() {
            Ok(0) | Err(_) => return Err(bad("the port must be a number from 1 to 65535")),
            Ok(port) => port,
        },
    };
    Ok(Target {
        host: host.to_owned(),
        port,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(host: &str, port: u16) -> Target {
        Target {
            host: host.to_owned(),
            port,
        }
    }

    fn args(list: &[&str]) -> Result<Command, String> {
        parse_args(list.iter().map(|s| s.to_string()))
    }

    #[test]
    fn address_forms() {
        let cases = [
            ("example.org", target("example.org", 8194)),
            ("example.org:9000", target("example.org", 9000)),
            ("10.0.0.1:1", target("10.0.0.1", 1)),
            (":9000", target("127.0.0.1", 9000)),
            ("[::1]:9000", target("::1", 9000)),
            ("[::1]", target("::1", 8194)),
            ("::1", target("::1", 8194)),
            ("fe80::1:2", target("fe80::1:2", 8194)),
        ];
        for (arg, expected) in cases {
            assert_eq!(parse_target(arg), Ok(expected), "{arg}");
        }
    }

    #[test]
    fn bad_addresses_are_refused() {
        for arg in [
            "host:",
            "host:0",
            "host:65536",
            "host:x",
            "[::1",
            "[::1]9000",
            "[]",
            ":",
        ] {
            let err = parse_target(arg).expect_err(arg);
            assert!(err.starts_with(&format!("bad address {arg:?}: ")), "{err}");
        }
    }

    #[test]
    fn command_line() {
        assert_eq!(args(&[]), Ok(Command::Connect(target("127.0.0.1", 8194))));
        assert_eq!(args(&["h:1"]), Ok(Command::Connect(target("h", 1))));
        assert_eq!(args(&["--", "h"]), Ok(Command::Connect(target("h", 8194))));
        assert_eq!(args(&["h", "--help"]), Ok(Command::Help));
        assert_eq!(args(&["-V"]), Ok(Command::Version));
        assert_eq!(
            args(&["--prot"]),
            Err("unknown option \"--prot\"".to_owned())
        );
        assert!(args(&["a", "b"]).is_err());
    }
}
