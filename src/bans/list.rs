//! [`AddressList`]: the entries of one list (the bans, or the mutes), each an
//! address or range with its times, author and reason; and the list's text
//! form, the file's content (see the parent module for the format).

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::escape::{escape, unescape};
use crate::log::parse_utc_seconds;

use super::{FileError, IpNet, format_time};

/// Which list: what its entries keep an address from doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Bans: the address may not connect.
    Ban,
    /// Mutes: nothing the address's users say reaches anyone.
    Mute,
}

impl Kind {
    /// Both kinds, bans first.
    pub const ALL: [Kind; 2] = [Kind::Ban, Kind::Mute];

    /// The list's file inside `state_dir`: `bans` or `mutes`.
    pub fn file_name(self) -> &'static str {
        match self {
            Kind::Ban => "bans",
            Kind::Mute => "mutes",
        }
    }

    /// One entry, for messages: `ban` or `mute`.
    pub fn noun(self) -> &'static str {
        match self {
            Kind::Ban => "ban",
            Kind::Mute => "mute",
        }
    }
}

/// One ban or mute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The address or range it covers.
    pub net: IpNet,
    /// When it ends; `None` for a permanent one.
    pub until: Option<SystemTime>,
    /// Why, as given by whoever set it (may be empty).
    pub reason: String,
    /// Who set it: `ctl`, or an operator's nickname.
    pub by: String,
    /// When it was set.
    pub since: SystemTime,
}

impl Entry {
    /// Whether it is in force at `now`.
    pub fn is_active(&self, now: SystemTime) -> bool {
        self.until.is_none_or(|until| until > now)
    }

    /// How long it still lasts at `now`; `None` for a permanent one.
    pub fn remaining(&self, now: SystemTime) -> Option<Duration> {
        self.until
            .map(|until| until.duration_since(now).unwrap_or_default())
    }

    /// The entry as one line of the file, without the line break.
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

/// The entries of one kind in force (and any expired ones not yet dropped by
/// [`expire`](Self::expire)), at most one per address or range, in the order
/// they were added.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddressList {
    kind: Kind,
    // A plain list: entries number in the tens or hundreds, and a connect (or
    // a muted check) looks at them all in well under a microsecond each.
    entries: Vec<Entry>,
}

impl AddressList {
    /// An empty list of `kind`.
    pub fn new(kind: Kind) -> AddressList {
        AddressList {
            kind,
            entries: Vec::new(),
        }
    }

    /// Which list this is.
    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// Adds `entry`, replacing (and returning) any entry on exactly the same range.
    pub fn add(&mut self, entry: Entry) -> Option<Entry> {
        match self.entries.iter_mut().find(|old| old.net == entry.net) {
            Some(old) => Some(std::mem::replace(old, entry)),
            None => {
                self.entries.push(entry);
                None
            }
        }
    }

    /// Removes the entry on exactly `net`; false when there was none.
    pub fn remove(&mut self, net: &IpNet) -> bool {
        let before = self.entries.len();
        self.entries.retain(|entry| entry.net != *net);
        self.entries.len() != before
    }

    /// The entry in force at `now` that covers `ip`; of several, the narrowest range.
    pub fn find(&self, ip: IpAddr, now: SystemTime) -> Option<&Entry> {
        self.entries
            .iter()
            .filter(|entry| entry.is_active(now) && entry.net.contains(ip))
            .max_by_key(|entry| entry.net.prefix())
    }

    /// Drops the entries that ended by `now` and returns them (for the log).
    pub fn expire(&mut self, now: SystemTime) -> Vec<Entry> {
        let (active, expired) = std::mem::take(&mut self.entries)
            .into_iter()
            .partition(|entry| entry.is_active(now));
        self.entries = active;
        expired
    }

    /// Every entry, in the order added.
    pub fn iter(&self) -> impl Iterator<Item = &Entry> {
        self.entries.iter()
    }

    /// How many entries there are.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The list as the file's text (see the parent module).
    pub fn render(&self) -> String {
        let name = self.kind.file_name();
        let mut text = format!(
            "# chatd's {name}, one per line, written by chatd; edit only while chatd is stopped.\n\
             # ADDRESS[/PREFIX] since=TIME until=TIME|never by=WHO reason=TEXT\n"
        );
        for entry in &self.entries {
            text.push_str(&entry.render());
            text.push('\n');
        }
        text
    }

    /// Reads the file's text; errors name their line and display as
    /// `bans:LINE: …` (or `mutes:LINE: …`).
    pub fn parse(kind: Kind, text: &str) -> Result<AddressList, FileError> {
        let mut list = AddressList::new(kind);
        let mut first_line = Vec::new();
        for (index, line) in text.split('\n').enumerate() {
            let number = index + 1;
            let damaged = |message: String| FileError::Damaged {
                path: PathBuf::from(kind.file_name()),
                line: number,
                message,
            };
            // A line break written as CRLF (an editor) leaves a `\r`; a `\r` in a
            // reason is always escaped, so this one is not part of the entry.
            let line = line.strip_suffix('\r').unwrap_or(line);
            let trimmed = line.trim_start();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            let entry = parse_entry(trimmed).map_err(damaged)?;
            if let Some(&(_, first)) = first_line.iter().find(|(net, _)| *net == entry.net) {
                return Err(damaged(format!(
                    "a second {} for {} (the first is on line {first})",
                    kind.noun(),
                    entry.net
                )));
            }
            first_line.push((entry.net, number));
            list.entries.push(entry);
        }
        Ok(list)
    }
}

/// One entry's line, without leading spaces or line break.
fn parse_entry(line: &str) -> Result<Entry, String> {
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
    Ok(Entry {
        net,
        until,
        reason: reason.ok_or("missing reason= (it may be empty, but must be last)")?,
        by,
        since,
    })
}
