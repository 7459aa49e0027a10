//! Who is connected, and who is signed in under which nickname.
//!
//! [`Members`] keeps the connections by id and the nickname index side by
//! side and changes them together, so that a nickname is in the index exactly
//! while its member is signed in under it.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, LazyLock};
use std::time::Instant;

use crate::nick::nick_key;
use crate::outbox::Outbox;

use super::ClientId;

/// One connection as the room sees it.
pub(super) struct Member {
    pub(super) outbox: Arc<Outbox>,
    pub(super) peer: SocketAddr,
    /// None until the client signs in. Shared, so that handling a line can hold
    /// it without copying it.
    pub(super) nick: Option<Arc<str>>,
    /// When the connection was admitted, for `ctl who`.
    pub(super) since: Instant,
    /// When it last sent a line, for `ctl who`.
    pub(super) last_input: Instant,
    /// An operator (`op` over the control socket), for as long as it stays.
    pub(super) op: bool,
    /// Muted: nobody receives its chat, `/me` or `/msg`. `Some(None)` until
    /// unmuted, `Some(Some(t))` until `t`.
    pub(super) muted: Option<Option<Instant>>,
    /// The member's own settings and state for comfort (`/away`, `/ignore`, …);
    /// None until it uses one, so that most members cost a pointer, not the
    /// whole struct (read it with [`comfort`](Self::comfort)).
    own: Option<Box<Comfort>>,
}

/// What a signed-in user set for themself, for this session only.
#[derive(Debug, Default)]
pub(super) struct Comfort {
    /// `/away MESSAGE`, until `/back`.
    pub(super) away: Option<String>,
    /// Who sent the last private message here, for `/reply`.
    pub(super) reply_to: Option<ClientId>,
    /// Whose lines this member does not get (`/ignore`), by connection: a
    /// rename does not lift it.
    pub(super) ignored: HashSet<ClientId>,
    /// `/bell off`: no BEL before lines that name this member.
    pub(super) no_bell: bool,
    /// `/colors off` on a server with colors: the escapes are taken out.
    pub(super) no_colors: bool,
    /// `/timestamps on` (or `timestamps = true`): the time before every line.
    pub(super) timestamps: bool,
}

impl Comfort {
    /// Whether this member gets the room's lines exactly as everyone does, so
    /// that the round's shared block can go to it as it is.
    pub(super) fn plain(&self) -> bool {
        self.ignored.is_empty() && !self.no_colors && !self.timestamps
    }
}

/// The settings of a member who has changed none.
static PLAIN: LazyLock<Comfort> = LazyLock::new(Comfort::default);

impl Member {
    /// The member's comfort settings.
    pub(super) fn comfort(&self) -> &Comfort {
        self.own.as_deref().unwrap_or(&PLAIN)
    }

    /// The member's comfort settings, to change.
    pub(super) fn comfort_mut(&mut self) -> &mut Comfort {
        self.own.get_or_insert_with(Box::default)
    }

    /// Whether the member is muted at `now` (a mute past its time is over).
    pub(super) fn is_muted(&self, now: Instant) -> bool {
        match self.muted {
            Some(Some(until)) => until > now,
            Some(None) => true,
            None => false,
        }
    }
}

#[derive(Default)]
pub(super) struct Members {
    by_id: HashMap<ClientId, Member>,
    /// Signed-in members by [`nick_key`], for case-insensitive uniqueness.
    /// Ordered, so that listing names in case-insensitive order costs no sort:
    /// a join in a room of thousands must not sort thousands of names.
    by_nick: BTreeMap<String, ClientId>,
}

impl Members {
    /// A new, not yet signed-in connection.
    pub(super) fn connect(&mut self, id: ClientId, peer: SocketAddr, outbox: Arc<Outbox>) {
        let now = Instant::now();
        let member = Member {
            outbox,
            peer,
            nick: None,
            since: now,
            last_input: now,
            op: false,
            muted: None,
            own: None,
        };
        self.by_id.insert(id, member);
    }

    pub(super) fn get(&self, id: ClientId) -> Option<&Member> {
        self.by_id.get(&id)
    }

    pub(super) fn get_mut(&mut self, id: ClientId) -> Option<&mut Member> {
        self.by_id.get_mut(&id)
    }

    /// Removes a member, and its nickname from the index.
    pub(super) fn remove(&mut self, id: ClientId) -> Option<Member> {
        let member = self.by_id.remove(&id)?;
        if let Some(nick) = &member.nick {
            self.by_nick.remove(&nick_key(nick));
        }
        Some(member)
    }

    /// Removes everyone.
    pub(super) fn drain(&mut self) -> impl Iterator<Item = (ClientId, Member)> + '_ {
        self.by_nick.clear();
        self.by_id.drain()
    }

    /// Connections, signed in or not.
    pub(super) fn len(&self) -> usize {
        self.by_id.len()
    }

    /// Members who have signed in.
    pub(super) fn registered(&self) -> usize {
        self.by_nick.len()
    }

    pub(super) fn iter(&self) -> impl Iterator<Item = (ClientId, &Member)> {
        self.by_id.iter().map(|(&id, member)| (id, member))
    }

    pub(super) fn ids(&self) -> Vec<ClientId> {
        self.by_id.keys().copied().collect()
    }

    /// Who is signed in as `nick` (compared by [`nick_key`]).
    pub(super) fn find(&self, nick: &str) -> Option<ClientId> {
        self.by_nick.get(&nick_key(nick)).copied()
    }

    /// The signed-in member whose [`nick_key`] is `key`.
    pub(super) fn find_key(&self, key: &str) -> Option<ClientId> {
        self.by_nick.get(key).copied()
    }

    /// The nickname `id` is signed in with; empty when it is not.
    pub(super) fn nick_of(&self, id: ClientId) -> &str {
        self.by_id
            .get(&id)
            .and_then(|m| m.nick.as_deref())
            .unwrap_or_default()
    }

    /// Signs `id` in as `nick`, or renames it. Refused (false) when someone else
    /// has the nickname; changing only the case of one's own name is allowed.
    pub(super) fn set_nick(&mut self, id: ClientId, nick: &str) -> bool {
        let key = nick_key(nick);
        if self.by_nick.get(&key).is_some_and(|&holder| holder != id) {
            return false;
        }
        let Some(member) = self.by_id.get_mut(&id) else {
            return false;
        };
        if let Some(old) = &member.nick {
            self.by_nick.remove(&nick_key(old));
        }
        member.nick = Some(Arc::from(nick));
        self.by_nick.insert(key, id);
        true
    }

    /// Up to `max` signed-in nicknames, in case-insensitive order, and how many
    /// there are.
    /// Like [`names`](Self::names), each away member marked by `mark`.
    pub(super) fn names_marked(
        &self,
        max: usize,
        mark: impl Fn(&str) -> String,
    ) -> (Vec<String>, usize) {
        let names = self
            .by_nick
            .values()
            .take(max)
            .map(|&id| match self.by_id.get(&id) {
                Some(member) if member.comfort().away.is_some() => mark(self.nick_of(id)),
                _ => self.nick_of(id).to_owned(),
            })
            .collect();
        (names, self.by_nick.len())
    }

    pub(super) fn names(&self, max: usize) -> (Vec<&str>, usize) {
        let names = self
            .by_nick
            .values()
            .take(max)
            .map(|&id| self.nick_of(id))
            .collect();
        (names, self.by_nick.len())
    }
}
