//! Bans: which addresses may not connect, until when and why; the text file they
//! persist in; and writing that file so that a crash never leaves it torn.
//!
//! The one home of ban state: values, the file and its I/O, and [`Bans`], the
//! list in force with where it is kept. What a ban does to a connection, and who
//! may set one, is the hub's business; the hub never touches the disk itself:
//! [`Bans`] hands a rendered snapshot to a [`Saver`].
//!
//! # Addresses and ranges
//! An [`IpNet`] is an address and a prefix length: `203.0.113.5` (one host),
//! `10.0.0.0/8`, `2001:db8::/32`. A range with bits set after its prefix
//! (`203.0.113.5/24`) is refused with the range it probably means, rather than
//! silently widened: a ban should cover exactly what the operator wrote. An
//! IPv4-mapped IPv6 address (`::ffff:1.2.3.4`, and such ranges of prefix 96 or
//! more) is the IPv4 address it maps, both as a ban and as a client's address, so
//! a client that reaches a dual-stack socket over IPv4 matches an IPv4 ban. Other
//! IPv6 ranges match IPv6 clients only.
//!
//! # The file
//! `STATE_DIR/bans`, UTF-8 text, one ban per line; blank lines and lines starting
//! with `#` are ignored:
//!
//! ```text
//! 203.0.113.0/24 since=2026-12-02T18:00:00Z until=2026-12-03T06:00:00Z by=alice reason=spam
//! 2001:db8::7 since=2026-12-02T18:05:00Z until=never by=ctl reason=
//! ```
//!
//! The address or range comes first, then `since=`, `until=` (a time, or `never`
//! for a permanent ban) and `by=` in any order, separated by spaces, and last
//! `reason=`, whose value is the rest of the line (possibly empty). Times are
//! RFC 3339 UTC to the second. In `by=` and `reason=` a backslash escapes: `\\`,
//! `\n`, `\r`, `\t` and `\s` (a space, needed in `by=` only). Times are kept to
//! the second, so a ban read back equals the ban written when its times were whole
//! seconds. Any other line is an error naming its line: [`BanFileError`], which
//! displays as `bans:LINE: …` (with the file's path in front once [`load`] read it).

mod duration;
mod kept;
mod net;
mod store;

use std::error::Error;
use std::fmt;
use std::fs;
use std::io;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::log::{format_utc_seconds, parse_utc_seconds};

pub use duration::{MAX_DURATION, format_duration, parse_duration};
pub use kept::Bans;
pub use net::IpNet;
pub use store::{SAVE_RETRY, Saver, save_atomic};

/// At most this many bans are kept: the list is checked on every connect and
/// written out whole on every change. Past it, a new ban is refused.
pub const MAX_BANS: usize = 10_000;

/// The name of the ban file inside `state_dir`.
pub const FILE_NAME: &str = "bans";

/// Formats a time as RFC 3339 UTC to the second, `2026-12-03T10:00:00Z`, as the
/// ban file and the answers about bans show it. Times before 1970 show as 1970.
pub fn format_time(time: SystemTime) -> String {
    format_utc_seconds(epoch_secs(time))
}

fn epoch_secs(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
}

/// One ban.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ban {
    /// The address or range banned.
    pub net: IpNet,
    /// When it ends; `None` for a permanent ban.
    pub until: Option<SystemTime>,
    /// Why, as given by whoever set it (may be empty).
    pub reason: String,
    /// Who set it: `ctl`, or an operator's nickname.
    pub by: String,
    /// When it was set.
    pub since: SystemTime,
}

impl Ban {
    /// Whether the ban is in force at `now`.
    pub fn is_active(&self, now: SystemTime) -> bool {
        self.until.is_none_or(|until| until > now)
    }

    /// How long it still lasts at `now`; `None` for a permanent ban.
    pub fn remaining(&self, now: SystemTime) -> Option<Duration> {
        self.until
            .map(|until| until.duration_since(now).unwrap_or_default())
    }

    /// The ban as one line of the file, without the line break.
    fn render(&self) -> String {
        let until = match self.until {
            Some(until) => format_time(until),
            None => "never".to_owned(),
        };
        format!(
            "{} since={} until={until} by={} reason={}",
            self.net,
            format_time(self.since),
            escape(&self.by, true),
            escape(&self.reason, false)
        )
    }
}

/// Backslash-escapes what would break a line apart (and, in a `word`, spaces).
fn escape(text: &str, word: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' if word => out.push_str("\\t"),
            ' ' if word => out.push_str("\\s"),
            c => out.push(c),
        }
    }
    out
}

/// The inverse of [`escape`].
fn unescape(text: &str) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        out.push(match chars.next() {
            Some('\\') => '\\',
            Some('n') => '\n',
            Some('r') => '\r',
            Some('t') => '\t',
            Some('s') => ' ',
            Some(other) => return Err(format!("unknown escape \"\\{other}\"")),
            None => return Err("a backslash at the end of the line".to_owned()),
        });
    }
    Ok(out)
}

/// The bans in force (and any expired ones not yet dropped by [`expire`](Self::expire)),
/// at most one per address or range, in the order they were added.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BanList {
    // A plain list: bans number in the tens or hundreds, and a connect checks
    // them all in well under a microsecond each.
    bans: Vec<Ban>,
}

impl BanList {
    /// An empty list.
    pub fn new() -> BanList {
        BanList::default()
    }

    /// Adds `ban`, replacing (and returning) any ban on exactly the same range.
    pub fn add(&mut self, ban: Ban) -> Option<Ban> {
        match self.bans.iter_mut().find(|old| old.net == ban.net) {
            Some(old) => Some(std::mem::replace(old, ban)),
            None => {
                self.bans.push(ban);
                None
            }
        }
    }

    /// Removes the ban on exactly `net`; false when there was none.
    pub fn remove(&mut self, net: &IpNet) -> bool {
        let before = self.bans.len();
        self.bans.retain(|ban| ban.net != *net);
        self.bans.len() != before
    }

    /// The ban in force at `now` that covers `ip`; of several, the narrowest range.
    pub fn find(&self, ip: IpAddr, now: SystemTime) -> Option<&Ban> {
        self.bans
            .iter()
            .filter(|ban| ban.is_active(now) && ban.net.contains(ip))
            .max_by_key(|ban| ban.net.prefix())
    }

    /// Drops the bans that ended by `now` and returns them (for the log).
    pub fn expire(&mut self, now: SystemTime) -> Vec<Ban> {
        let (active, expired) = std::mem::take(&mut self.bans)
            .into_iter()
            .partition(|ban| ban.is_active(now));
        self.bans = active;
        expired
    }

    /// Every ban, in the order added.
    pub fn iter(&self) -> impl Iterator<Item = &Ban> {
        self.bans.iter()
    }

    /// How many bans there are.
    pub fn len(&self) -> usize {
        self.bans.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.bans.is_empty()
    }

    /// The list as the file's text (see the module documentation).
    pub fn render(&self) -> String {
        let mut text = String::from(
            "# chatd's bans, one per line, written by chatd; edit only while chatd is stopped.\n\
             # ADDRESS[/PREFIX] since=TIME until=TIME|never by=WHO reason=TEXT\n",
        );
        for ban in &self.bans {
            text.push_str(&ban.render());
            text.push('\n');
        }
        text
    }

    /// Reads the file's text; errors name their line and display as `bans:LINE: …`.
    pub fn parse(text: &str) -> Result<BanList, BanFileError> {
        let mut list = BanList::new();
        let mut first_line = Vec::new();
        for (index, line) in text.split('\n').enumerate() {
            let number = index + 1;
            let damaged = |message: String| BanFileError::Damaged {
                path: PathBuf::from(FILE_NAME),
                line: number,
                message,
            };
            // A line break written as CRLF (an editor) leaves a `\r`; a `\r` in a
            // reason is always escaped, so this one is not part of the ban.
            let line = line.strip_suffix('\r').unwrap_or(line);
            let trimmed = line.trim_start();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            let ban = parse_ban(trimmed).map_err(damaged)?;
            if let Some(&(_, first)) = first_line.iter().find(|(net, _)| *net == ban.net) {
                return Err(damaged(format!(
                    "a second ban for {} (the first is on line {first})",
                    ban.net
                )));
            }
            first_line.push((ban.net, number));
            list.bans.push(ban);
        }
        Ok(list)
    }
}

/// One ban line, without leading spaces or line break.
fn parse_ban(line: &str) -> Result<Ban, String> {
    let (net_text, mut rest) = line.split_once([' ', '\t']).unwrap_or((line, ""));
    let net: IpNet = net_text.parse()?;
    let (mut since, mut until, mut by, mut reason) = (None, None, None, None);
    loop {
        rest = rest.trim_start_matches([' ', '\t']);
        if rest.is_empty() {
            break;
        }
        if let Some(text) = rest.strip_prefix("reason=") {
            reason = Some(unescape(text).map_err(|e| format!("reason=: {e}"))?);
            break;
        }
        let end = rest.find([' ', '\t']).unwrap_or(rest.len());
        let (field, after) = rest.split_at(end);
        rest = after;
        let Some((key, value)) = field.split_once('=') else {
            return Err(format!("expected KEY=VALUE, found {field:?}"));
        };
        let slot = match key {
            "since" => &mut since,
            "until" => &mut until,
            "by" => &mut by,
            _ => return Err(format!("unknown field {key:?}")),
        };
        if slot.replace(value).is_some() {
            return Err(format!("{key}= given twice"));
        }
    }
    let time = |key: &str, value: &str| {
        parse_utc_seconds(value)
            .map(|secs| UNIX_EPOCH + Duration::from_secs(secs))
            .ok_or_else(|| {
                format!("bad {key}= time {value:?}: expected a UTC time like 2026-12-03T10:00:00Z")
            })
    };
    let since = time("since", since.ok_or("missing since=")?)?;
    let until = match until.ok_or("missing until=")? {
        "never" => None,
        value => Some(time("until", value)?),
    };
    let by = unescape(by.ok_or("missing by=")?).map_err(|e| format!("by=: {e}"))?;
    if by.is_empty() {
        return Err("empty by=".to_owned());
    }
    Ok(Ban {
        net,
        until,
        reason: reason.ok_or("missing reason= (it may be empty, but must be last)")?,
        by,
        since,
    })
}

/// A ban file that cannot be used.
#[derive(Debug)]
pub enum BanFileError {
    /// A line that is not a ban; `path` is `bans` when the text did not come from a file.
    Damaged {
        /// The file.
        path: PathBuf,
        /// Its line, from 1.
        line: usize,
        /// What is wrong with it.
        message: String,
    },
    /// The file exists but cannot be read.
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
}

impl fmt::Display for BanFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BanFileError::Damaged {
                path,
                line,
                message,
            } => write!(f, "{}:{line}: {message}", path.display()),
            BanFileError::Io { path, source } => {
                write!(f, "cannot read {}: {source}", path.display())
            }
        }
    }
}

impl Error for BanFileError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            BanFileError::Damaged { .. } => None,
            BanFileError::Io { source, .. } => Some(source),
        }
    }
}

/// Reads the ban file at `path`; a file that does not exist is an empty list.
/// Expired bans are still in the result: drop them with [`BanList::expire`].
pub fn load(path: &Path) -> Result<BanList, BanFileError> {
    let bytes = match fs::read(path) {
        Ok(bytes) => bytes,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(BanList::new()),
        Err(source) => {
            return Err(BanFileError::Io {
                path: path.to_owned(),
                source,
            });
        }
    };
    let with_path = |err: BanFileError| match err {
        BanFileError::Damaged { line, message, .. } => BanFileError::Damaged {
            path: path.to_owned(),
            line,
            message,
        },
        other => other,
    };
    let text = String::from_utf8(bytes).map_err(|err| {
        let valid = &err.as_bytes()[..err.utf8_error().valid_up_to()];
        with_path(BanFileError::Damaged {
            path: PathBuf::new(),
            line: valid.iter().filter(|&&b| b == b'\n').count() + 1,
            message: "not valid UTF-8".to_owned(),
        })
    })?;
    BanList::parse(&text).map_err(with_path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_rng::Rng;
    use std::net::Ipv4Addr;

    fn net(text: &str) -> IpNet {
        text.parse().unwrap()
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    fn ban(target: &str, until: Option<u64>) -> Ban {
        Ban {
            net: net(target),
            until: until.map(at),
            reason: "spam".to_owned(),
            by: "ctl".to_owned(),
            since: at(1_000),
        }
    }

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("chatd-bans-{}-{name}", std::process::id()));
        // Left over from an earlier run with the same pid, if any.
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn add_replaces_the_ban_on_the_same_range() {
        let mut list = BanList::new();
        assert_eq!(list.add(ban("1.2.3.4", None)), None);
        assert_eq!(list.add(ban("1.2.3.0/24", None)), None);
        let replaced = list.add(ban("1.2.3.4", Some(5_000))).unwrap();
        assert_eq!(replaced.until, None);
        assert_eq!(list.len(), 2);
        assert!(list.remove(&net("1.2.3.4")));
        assert!(!list.remove(&net("1.2.3.4")));
        // Removing is by exact range: the /24 still stands.
        assert!(!list.remove(&net("1.2.3.0/25")));
        assert_eq!(list.len(), 1);
    }

    #[test]
    fn find_picks_the_narrowest_active_ban() {
        let mut list = BanList::new();
        list.add(ban("10.0.0.0/8", None));
        list.add(ban("10.1.0.0/16", Some(2_000)));
        list.add(ban("2001:db8::/32", None));
        let now = at(1_500);
        let found = |addr: &str, now| list.find(ip(addr), now).map(|b| b.net.to_string());
        assert_eq!(found("10.1.2.3", now).as_deref(), Some("10.1.0.0/16"));
        assert_eq!(
            found("::ffff:10.1.2.3", now).as_deref(),
            Some("10.1.0.0/16")
        );
        assert_eq!(found("10.2.0.1", now).as_deref(), Some("10.0.0.0/8"));
        assert_eq!(found("2001:db8::5", now).as_deref(), Some("2001:db8::/32"));
        assert_eq!(found("11.0.0.1", now), None);
        // At its end the /16 is over; the /8 still covers the address.
        assert_eq!(found("10.1.2.3", at(2_000)).as_deref(), Some("10.0.0.0/8"));
    }

    #[test]
    fn expire_drops_ended_bans_and_returns_them() {
        let mut list = BanList::new();
        list.add(ban("1.1.1.1", Some(2_000)));
        list.add(ban("2.2.2.2", None));
        list.add(ban("3.3.3.3", Some(3_000)));
        assert!(list.expire(at(1_999)).is_empty());
        assert_eq!(
            list.find(ip("1.1.1.1"), at(1_999))
                .unwrap()
                .remaining(at(1_999)),
            Some(Duration::from_secs(1))
        );
        let expired = list.expire(at(2_000));
        assert_eq!(expired, vec![ban("1.1.1.1", Some(2_000))]);
        assert_eq!(list.len(), 2);
        assert!(list.find(ip("1.1.1.1"), at(2_000)).is_none());
        assert_eq!(list.expire(at(u32::MAX as u64)).len(), 1);
        assert_eq!(
            list.iter().map(|b| b.net.to_string()).collect::<Vec<_>>(),
            ["2.2.2.2"]
        );
        assert_eq!(list.iter().next().unwrap().remaining(at(9)), None);
    }

    /// A few bans with awkward reasons; also used by the store's tests.
    pub(super) fn sample() -> BanList {
        let mut list = BanList::new();
        list.add(Ban {
            net: net("203.0.113.0/24"),
            until: Some(at(1_796_335_200)),
            reason: "spam and insults".to_owned(),
            by: "alice".to_owned(),
            since: at(1_796_292_000),
        });
        list.add(Ban {
            net: net("2001:db8::7"),
            until: None,
            reason: String::new(),
            by: "ctl".to_owned(),
            since: at(0),
        });
        list.add(Ban {
            net: net("::/0"),
            until: Some(at(253_402_300_799)),
            reason: " two\nlines, a back\\slash\r and reason=  ".to_owned(),
            by: "a b\tc\\".to_owned(),
            since: at(1),
        });
        list
    }

    #[test]
    fn render_is_the_documented_format() {
        let text = sample().render();
        let lines: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
        assert_eq!(
            lines,
            [
                "203.0.113.0/24 since=2026-12-03T10:00:00Z until=2026-12-03T22:00:00Z by=alice reason=spam and insults",
                "2001:db8::7 since=1970-01-01T00:00:00Z until=never by=ctl reason=",
                "::/0 since=1970-01-01T00:00:01Z until=9999-12-31T23:59:59Z by=a\\sb\\tc\\\\ reason= two\\nlines, a back\\\\slash\\r and reason=  ",
            ]
        );
    }

    #[test]
    fn parse_reads_back_what_render_wrote() {
        let list = sample();
        assert_eq!(BanList::parse(&list.render()).unwrap(), list);
        assert_eq!(BanList::parse("").unwrap(), BanList::new());
        // Fields in another order, extra spaces, CRLF line ends, comments.
        let text = "# hand-edited\r\n\r\n  203.0.113.0/24   by=alice\tuntil=2026-12-03T22:00:00Z since=2026-12-03T10:00:00Z reason=spam and insults\r\n";
        let read = BanList::parse(text).unwrap();
        assert_eq!(read.iter().next(), list.iter().next());
        let mut rng = Rng(0xba45);
        let mut big = BanList::new();
        for i in 0..500u32 {
            let reason: String = (0..rng.below(20))
                .map(|_| ['a', ' ', '\\', '\n', '\r', '\t', 'é', '中', '='][rng.below(9)])
                .collect();
            big.add(Ban {
                net: IpNet::host(IpAddr::V4(Ipv4Addr::from(i))),
                until: (i % 3 != 0).then(|| at(rng.bits() % 253_402_300_799)),
                reason: reason.clone(),
                by: reason.chars().rev().collect::<String>() + "x",
                since: at(rng.bits() % 253_402_300_799),
            });
        }
        assert_eq!(BanList::parse(&big.render()).unwrap(), big);
    }

    #[test]
    fn every_damaged_line_is_named() {
        let good = "1.2.3.4 since=2026-12-03T10:00:00Z until=never by=ctl reason=x";
        for (text, expected) in [
            (
                "troll since=2026-12-03T10:00:00Z",
                "bans:1: bad address \"troll\": expected an IP address or a CIDR range like 203.0.113.0/24",
            ),
            (
                "# c\n\n1.2.3.4/24 since=2026-12-03T10:00:00Z",
                "bans:3: \"1.2.3.4/24\" has bits set after the prefix: did you mean 1.2.3.0/24?",
            ),
            (
                "1.2.3.4 since=2026-12-03T10:00:00Z until=never reason=x",
                "bans:1: missing by=",
            ),
            (
                "1.2.3.4 until=never by=ctl reason=x",
                "bans:1: missing since=",
            ),
            (
                "1.2.3.4 since=2026-12-03T10:00:00Z by=ctl reason=x",
                "bans:1: missing until=",
            ),
            (
                "1.2.3.4 since=2026-12-03T10:00:00Z until=never by=ctl",
                "bans:1: missing reason= (it may be empty, but must be last)",
            ),
            ("1.2.3.4", "bans:1: missing since="),
            (
                "1.2.3.4 since=2026-12-03 until=never by=ctl reason=",
                "bans:1: bad since= time \"2026-12-03\": expected a UTC time like 2026-12-03T10:00:00Z",
            ),
            (
                "1.2.3.4 since=2026-12-03T10:00:00Z until=soon by=ctl reason=",
                "bans:1: bad until= time \"soon\": expected a UTC time like 2026-12-03T10:00:00Z",
            ),
            (
                "1.2.3.4 since=2026-12-03T10:00:00Z since=2026-12-03T10:00:00Z",
                "bans:1: since= given twice",
            ),
            (
                "1.2.3.4 since=2026-12-03T10:00:00Z until=never by=ctl for=ever reason=",
                "bans:1: unknown field \"for\"",
            ),
            (
                "1.2.3.4 since=2026-12-03T10:00:00Z until=never by=ctl spam",
                "bans:1: expected KEY=VALUE, found \"spam\"",
            ),
            (
                "1.2.3.4 since=2026-12-03T10:00:00Z until=never by= reason=",
                "bans:1: empty by=",
            ),
            (
                "1.2.3.4 since=2026-12-03T10:00:00Z until=never by=a\\q reason=",
                "bans:1: by=: unknown escape \"\\q\"",
            ),
            (
                "1.2.3.4 since=2026-12-03T10:00:00Z until=never by=ctl reason=a\\",
                "bans:1: reason=: a backslash at the end of the line",
            ),
        ] {
            assert_eq!(
                BanList::parse(text).unwrap_err().to_string(),
                expected,
                "{text:?}"
            );
        }
        let twice = format!(
            "{good}\n# the same again, written another way\n::ffff:1.2.3.4 since=2026-12-03T10:00:00Z until=never by=bob reason="
        );
        assert_eq!(
            BanList::parse(&twice).unwrap_err().to_string(),
            "bans:3: a second ban for 1.2.3.4 (the first is on line 1)"
        );
    }

    #[test]
    fn load_names_the_file_and_line() {
        let dir = temp_dir("load");
        let path = dir.join(FILE_NAME);
        assert_eq!(
            load(&path).unwrap(),
            BanList::new(),
            "a missing file is no bans"
        );
        fs::write(&path, "# ok\n1.2.3.4 by=ctl\n").unwrap();
        assert_eq!(
            load(&path).unwrap_err().to_string(),
            format!("{}:2: missing since=", path.display())
        );
        fs::write(&path, b"# ok\n# ok\n1.2.3.4 reason=\xff\n").unwrap();
        assert_eq!(
            load(&path).unwrap_err().to_string(),
            format!("{}:3: not valid UTF-8", path.display())
        );
        let err = load(&dir).unwrap_err();
        assert!(
            err.to_string()
                .starts_with(&format!("cannot read {}: ", dir.display())),
            "{err}"
        );
        assert!(err.source().is_some());
        fs::remove_dir_all(&dir).unwrap();
    }
}
