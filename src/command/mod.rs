//! The command table: every command a user can type, declared once.
//!
//! Each [`Command`] carries its name and aliases, the shape of its arguments
//! ([`Params`]), who may use it ([`Access`]), whether `chatd ctl` may send it,
//! whether a mute silences it, and its usage and help text in English and
//! Chinese. The parser ([`parse`]), `/help`, usage errors, the permission
//! check and the mute check all read this one declaration.
//!
//! Adding a command takes its variant in its group's enum (`id.rs`: the group
//! is who handles it, see [`Id`]), its entry in [`COMMANDS`] (`table.rs`), its
//! arm in that group's handler in the hub, and the texts it answers with. The
//! compiler refuses a variant without its handler's arm, and the table test a
//! variant without its entry; nothing else lists the ids.
//! The types and the parser are here; the ids are in `id.rs`, the table in
//! `table.rs`.
//!
//! Parsing is pure and works on the raw line as framed (not sanitized): command
//! names and nicknames are taken as typed, so that nickname rules can refuse
//! what sanitizing would silently drop. Only text that others will see is
//! sanitized, by whoever formats it. The parser does promise that required text
//! is *visibly* non-blank: a `/me` followed only by spaces and control
//! characters is a usage error, not an empty action.

use crate::protocol::sanitize;

mod id;
mod table;

pub use id::{
    ComfortCommand, Id, ModerationCommand, RoomCommand, ServerCommand, SessionCommand, TalkCommand,
};
pub use table::COMMANDS;

/// Who may use a command. Ordered: each level may use what the ones before it may.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Access {
    /// Any connection, signed in or not.
    Everyone,
    /// Users who have picked a nickname.
    Registered,
    /// Operators (`op` over the control socket).
    Operator,
    /// Only the control socket (`chatd ctl`); never listed to users.
    ControlSocket,
}

/// What follows a command's name. Arguments are separated by spaces or tabs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Params {
    /// Nothing; whatever follows the name is ignored (`/who is here`).
    None,
    /// Required text: the rest of the line as typed, not trimmed (`/me ACTION`).
    Rest,
    /// A required value: the rest of the line, trimmed (`/nick NEW`).
    Value,
    /// An optional value: the rest of the line, trimmed (`/quit [REASON]`).
    OptValue,
    /// A word, then required text as typed (`/msg NICK TEXT`).
    WordRest,
    /// A word, then optional text, trimmed (`/kick NICK [REASON]`).
    WordOptRest,
}

/// What a mute does to a command, by what the command carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Muted {
    /// Nothing of the user's own words reaches others: it runs as usual.
    Runs,
    /// It says something (`/me`, `/msg`, `/reply`): it goes nowhere, and the
    /// user is told they are muted, as for a chat line.
    Silenced,
    /// It would carry their words some other way (`/nick`, `/away`): refused,
    /// naming the command.
    Refused,
}

/// A text in both of the server's languages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Words {
    /// English.
    pub en: &'static str,
    /// Chinese.
    pub zh: &'static str,
}

/// One command's declaration.
#[derive(Debug, PartialEq, Eq)]
pub struct Command {
    /// Which command this is.
    pub id: Id,
    /// Its name, lowercase, without the slash.
    pub name: &'static str,
    /// Other names that mean the same command.
    pub aliases: &'static [&'static str],
    /// The shape of its arguments.
    pub params: Params,
    /// Who may use it in the room.
    pub access: Access,
    /// Whether `chatd ctl` may send it over the control socket.
    pub ctl: bool,
    /// What a mute does to it: what it carries would reach others.
    pub muted: Muted,
    /// The arguments as `/help` and usage errors show them (`NICK TEXT`).
    pub usage: Words,
    /// One line for `/help`.
    pub help: Words,
}

impl Command {
    /// Whether `name` (as typed, any case) names this command.
    fn is_named(&self, name: &str) -> bool {
        self.name.eq_ignore_ascii_case(name)
            || self.aliases.iter().any(|a| a.eq_ignore_ascii_case(name))
    }
}

/// What a line's arguments were split into; `""` where there is none.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Args<'a> {
    /// The first word, for [`Params::WordRest`].
    pub word: &'a str,
    /// The text or value after the name (or after `word`).
    pub rest: &'a str,
}

/// What a line asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum Input<'a> {
    /// Ordinary text for the room, raw; `//text` arrives as `/text`.
    Chat(&'a str),
    /// A known command with the arguments it needs.
    Command(&'static Command, Args<'a>),
    /// A known command without the arguments it needs.
    Usage(&'static Command),
    /// An unknown command's name as typed (`/foo bar` gives `"foo"`, a bare `/`
    /// gives `""`).
    Unknown(&'a str),
}

/// Parses one raw line (as framed, not sanitized).
///
/// Command names are case-insensitive (`/WHO` works); arguments are separated
/// from the name and from each other by spaces or tabs.
pub fn parse(line: &str) -> Input<'_> {
    let Some(rest) = line.strip_prefix('/') else {
        return Input::Chat(line);
    };
    if rest.starts_with('/') {
        // `//text` is the escape for chat text that starts with a slash.
        return Input::Chat(rest);
    }
    parse_command(rest)
}

/// Parses a control-socket request: a command line without the slash
/// (`kick troll spam`). Never [`Input::Chat`].
pub fn parse_control(line: &str) -> Input<'_> {
    parse_command(trim(line))
}

/// `name args…`, the name looked up in the table.
fn parse_command(line: &str) -> Input<'_> {
    let (name, args) = split_word(line);
    let Some(command) = COMMANDS.iter().find(|c| c.is_named(name)) else {
        return Input::Unknown(name);
    };
    match parse_args(command.params, args) {
        Some(args) => Input::Command(command, args),
        None => Input::Usage(command),
    }
}

/// Splits `args` as `params` says; None when something required is missing.
fn parse_args(params: Params, args: &str) -> Option<Args<'_>> {
    let value = || trim(args);
    match params {
        Params::None => Some(Args::default()),
        Params::OptValue => Some(Args {
            word: "",
            rest: value(),
        }),
        Params::Rest => (!is_blank(args)).then_some(Args {
            word: "",
            rest: args,
        }),
        Params::Value => (!is_blank(args)).then(|| Args {
            word: "",
            rest: value(),
        }),
        Params::WordRest => {
            let (word, rest) = split_word(args);
            (!word.is_empty() && !is_blank(rest)).then_some(Args { word, rest })
        }
        Params::WordOptRest => {
            let (word, rest) = split_word(args);
            (!word.is_empty()).then(|| Args {
                word,
                rest: trim(rest),
            })
        }
    }
}

/// The commands `chatd ctl` may send, in the table's order: each one's name
/// with its usage (`ban TARGET [DURATION] [REASON]`), and its help line, in
/// English. `chatd ctl help` and `chatd ctl --help` list them.
pub fn ctl_commands() -> impl Iterator<Item = (String, &'static str)> {
    COMMANDS.iter().filter(|c| c.ctl).map(|c| {
        // The control socket answers these its own way (see the hub's
        // `run_ctl`); the rest mean there what they mean in the room.
        let (usage, help) = match c.id {
            Id::Session(SessionCommand::Help) => ("", "the commands chatd ctl sends (this list)"),
            Id::Room(RoomCommand::Who) => (
                "",
                "every client: nickname, address, room, times, queue, flags",
            ),
            _ => (c.usage.en, c.help.en),
        };
        let usage = if usage.is_empty() {
            c.name.to_owned()
        } else {
            format!("{} {usage}", c.name)
        };
        (usage, help)
    })
}

fn is_separator(c: char) -> bool {
    c == ' ' || c == '\t'
}

fn trim(s: &str) -> &str {
    s.trim_matches(is_separator)
}

/// Whether nothing visible would be left of `text` once sanitized and trimmed
/// (an escape sequence goes whole, so `\e[2J` alone is blank).
pub fn is_blank(text: &str) -> bool {
    sanitize(text).chars().all(char::is_whitespace)
}

/// Splits off the first word; the remainder starts after the separators that
/// follow it.
fn split_word(s: &str) -> (&str, &str) {
    match s.split_once(is_separator) {
        Some((word, rest)) => (word, rest.trim_start_matches(is_separator)),
        None => (s, ""),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HELP: Id = Id::Session(SessionCommand::Help);
    const NICK: Id = Id::Session(SessionCommand::Nick);
    const QUIT: Id = Id::Session(SessionCommand::Quit);
    const WHO: Id = Id::Room(RoomCommand::Who);
    const ME: Id = Id::Talk(TalkCommand::Me);
    const MSG: Id = Id::Talk(TalkCommand::Msg);
    const KICK: Id = Id::Moderation(ModerationCommand::Kick);
    const BAN: Id = Id::Moderation(ModerationCommand::Ban);

    fn command(line: &str) -> (Id, Args<'_>) {
        match parse(line) {
            Input::Command(command, args) => (command.id, args),
            other => panic!("{line:?} gave {other:?}"),
        }
    }

    fn rest(rest: &str) -> Args<'_> {
        Args { word: "", rest }
    }

    fn usage(line: &str) -> Id {
        match parse(line) {
            Input::Usage(command) => command.id,
            other => panic!("{line:?} gave {other:?}"),
        }
    }

    #[test]
    fn every_id_has_one_entry_and_names_are_unique() {
        for id in Id::all() {
            assert_eq!(COMMANDS.iter().filter(|c| c.id == id).count(), 1, "{id:?}");
        }
        assert_eq!(COMMANDS.len(), Id::all().count());
        let mut names: Vec<&str> = COMMANDS
            .iter()
            .flat_map(|c| std::iter::once(c.name).chain(c.aliases.iter().copied()))
            .collect();
        let count = names.len();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), count, "a name is declared twice");
        for c in COMMANDS {
            assert!(!c.help.en.is_empty() && !c.help.zh.is_empty(), "{}", c.name);
            let takes_args = c.params != Params::None;
            assert_eq!(takes_args, !c.usage.en.is_empty(), "{}", c.name);
            assert_eq!(takes_args, !c.usage.zh.is_empty(), "{}", c.name);
        }
    }

    /// What the hub's dispatch relies on: it runs only the session group
    /// without a nickname, ignores the server group in chat, and lets the
    /// control socket run every moderation and server command.
    #[test]
    fn each_group_has_the_access_its_handler_relies_on() {
        for c in COMMANDS {
            let session = matches!(c.id, Id::Session(_));
            assert_eq!(c.access == Access::Everyone, session, "{}", c.name);
            let server = matches!(c.id, Id::Server(_));
            assert_eq!(c.access == Access::ControlSocket, server, "{}", c.name);
            if let Id::Moderation(_) = c.id {
                assert_eq!(c.access, Access::Operator, "{}", c.name);
            }
            if let Id::Moderation(_) | Id::Server(_) = c.id {
                assert!(c.ctl, "{}", c.name);
            }
        }
    }

    #[test]
    fn parse_chat() {
        assert_eq!(parse("hello"), Input::Chat("hello"));
        assert_eq!(parse("  spaced  "), Input::Chat("  spaced  "));
        assert_eq!(parse(" /who"), Input::Chat(" /who"));
        assert_eq!(parse("a#b"), Input::Chat("a#b"));
    }

    #[test]
    fn parse_double_slash_is_chat() {
        assert_eq!(parse("//etc/passwd"), Input::Chat("/etc/passwd"));
        assert_eq!(parse("//"), Input::Chat("/"));
    }

    #[test]
    fn parse_help_and_who_ignore_extra() {
        assert_eq!(command("/help"), (HELP, Args::default()));
        assert_eq!(command("/help me please"), (HELP, Args::default()));
        assert_eq!(command("/who"), (WHO, Args::default()));
        // `/who *` is everyone; the room's handler ignores any other word.
        assert_eq!(command("/who *").1.rest, "*");
        assert_eq!(command("/who is here").0, WHO);
    }

    #[test]
    fn parse_command_names_are_case_insensitive() {
        assert_eq!(command("/WHO").0, WHO);
        assert_eq!(command("/HeLp").0, HELP);
        assert_eq!(command("/NICK bob"), (NICK, rest("bob")));
        assert_eq!(command("/Quit"), (QUIT, rest("")));
    }

    #[test]
    fn parse_nick() {
        assert_eq!(command("/nick bob"), (NICK, rest("bob")));
        assert_eq!(command("/nick    bob   "), (NICK, rest("bob")));
        assert_eq!(command("/nick a b"), (NICK, rest("a b")));
        assert_eq!(command("/nick\tbob"), (NICK, rest("bob")));
        assert_eq!(usage("/nick"), NICK);
        assert_eq!(usage("/nick    "), NICK);
        // Nothing visible: a usage error, not a nickname of controls.
        assert_eq!(usage("/nick \x1b\u{202e}"), NICK);
    }

    #[test]
    fn parse_me() {
        assert_eq!(command("/me waves"), (ME, rest("waves")));
        assert_eq!(command("/me   waves  hi"), (ME, rest("waves  hi")));
        assert_eq!(usage("/me"), ME);
        assert_eq!(usage("/me   "), ME);
        assert_eq!(usage("/me \x1b\x07 "), ME);
        // An escape sequence goes whole: nothing would be left to show.
        assert_eq!(usage("/me \x1b[2J\x1b]0;title\x07 "), ME);
    }

    #[test]
    fn parse_msg() {
        let msg = |word, rest| (MSG, Args { word, rest });
        assert_eq!(command("/msg bob hi there"), msg("bob", "hi there"));
        assert_eq!(command("/MSG  bob   hi"), msg("bob", "hi"));
        assert_eq!(command("/msg\tbob\thi"), msg("bob", "hi"));
        assert_eq!(usage("/msg bob"), MSG);
        assert_eq!(usage("/msg bob   "), MSG);
        assert_eq!(usage("/msg"), MSG);
        assert_eq!(usage("/msg bob \x1b"), MSG);
    }

    #[test]
    fn parse_quit() {
        assert_eq!(command("/quit"), (QUIT, rest("")));
        assert_eq!(command("/quit   "), (QUIT, rest("")));
        assert_eq!(command("/quit  bye now "), (QUIT, rest("bye now")));
    }

    #[test]
    fn parse_unknown() {
        assert_eq!(parse("/foo bar"), Input::Unknown("foo"));
        assert_eq!(parse("/Whois bob"), Input::Unknown("Whois"));
        assert_eq!(parse("/"), Input::Unknown(""));
        assert_eq!(parse("/ who"), Input::Unknown(""));
    }

    #[test]
    fn access_is_ordered() {
        assert!(Access::Everyone < Access::Registered);
        assert!(Access::Registered < Access::Operator);
        assert!(Access::Operator < Access::ControlSocket);
    }

    #[test]
    fn parse_word_and_optional_rest() {
        let kick = |word, rest| (KICK, Args { word, rest });
        assert_eq!(command("/kick troll"), kick("troll", ""));
        assert_eq!(command("/kick  troll  spam  "), kick("troll", "spam"));
        assert_eq!(usage("/kick"), KICK);
        assert_eq!(usage("/kick   "), KICK);
    }

    #[test]
    fn control_requests_have_no_slash() {
        let Input::Command(command, args) = parse_control("  ban 10.0.0.0/8 7d spam ") else {
            panic!("not a command");
        };
        assert_eq!(command.id, BAN);
        assert_eq!(
            args,
            Args {
                word: "10.0.0.0/8",
                rest: "7d spam"
            }
        );
        assert_eq!(parse_control("frobnicate"), Input::Unknown("frobnicate"));
        assert_eq!(parse_control(""), Input::Unknown(""));
        assert!(matches!(parse_control("kick"), Input::Usage(c) if c.id == KICK));
    }
}
