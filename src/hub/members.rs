//! Who is connected, and who is signed in under which nickname.
//!
//! [`Members`] keeps the connections by id and the nickname index side by
//! side and changes them together, so that a nickname is in the index exactly
//! while its member is signed in under it.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};
use std::net::SocketAddr;
use std::sync::{Arc, LazyLock};
use std::time::Instant;

use crate::nick::nick_key;

/// A map by connection id with a cheap hash: ids are the hub's own numbers,
/// not attacker-chosen, and the hub looks members up on every delivery.
pub(super) type IdMap<V> = HashMap<ClientId, V, BuildHasherDefault<IdHasher>>;

/// Fibonacci hashing of a `ClientId` (a u64); SipHash guards against chosen
/// keys, which ids are not.
#[derive(Default)]
pub(super) struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}
use crate::outbox::Outbox;

use super::ClientId;
use super::{LOBBY, RoomId};

/// One connection as the hub sees it.
pub(super) struct Member {
    pub(super) outbox: Arc<Outbox>,
    pub(super) peer: SocketAddr,
    /// None until the client signs in. Shared, so that handling a line can hold
    /// it without copying it.
    pub(super) nick: Option<Arc<str>>,
    /// The room it is in (signed-in members only are counted there).
    pub(super) room: RoomId,
    /// When the connection was admitted, for `ctl who`.
    pub(super) since: Instant,
    /// When it last sent a line, for `ctl who`.
    pub(super) last_input: Instant,
    /// An operator (`op` over the control socket), for as long as it stays.
    pub(super) op: bool,
    /// How many lines the lobby had remembered when this member last left it
    /// for a room ([`Room::said`](super::rooms::Room::said)): coming back, it
    /// is replayed only the lines said after.
    pub(super) lobby_seen: u64,
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
    /// Who sent the last private message here, for `/reply`, with the name
    /// they had then (to say who left, once they have).
    pub(super) reply_to: Option<(ClientId, Arc<str>)>,
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

    /// The member's own settings, if it changed any (a live upgrade hands
    /// over only those).
    pub(super) fn own(&self) -> Option<&Comfort> {
        self.own.as_deref()
    }

    /// Sets the member's own settings (a live upgrade restoring them).
    pub(super) fn set_own(&mut self, own: Option<Box<Comfort>>) {
        self.own = own;
    }

    /// Takes the member's away message, if it is away; a member that never
    /// used a comfort command gets no settings made for the asking.
    pub(super) fn own_away_taken(&mut self) -> Option<String> {
        self.own.as_mut()?.away.take()
    }
}

#[derive(Default)]
pub(super) struct Members {
    by_id: IdMap<Member>,
    /// Signed-in members by [`nick_key`], for case-insensitive uniqueness.
    /// Ordered, so that listing names in case-insensitive order costs no sort:
    /// a join in a room of thousands must not sort thousands of names.
    by_nick: BTreeMap<String, ClientId>,
    /// How many keys in `by_nick` have each length in bytes, and each first
    /// byte: every chat line's words are looked up (who does it name?), and
    /// most words are ruled out by these two counts without a search.
    key_lengths: Vec<u32>,
    key_firsts: Vec<u32>,
}

impl Members {
    /// A new, not yet signed-in connection.
    pub(super) fn connect(&mut self, id: ClientId, peer: SocketAddr, outbox: Arc<Outbox>) {
        let now = Instant::now();
        let member = Member {
            outbox,
            peer,
            nick: None,
            room: LOBBY,
            since: now,
            last_input: now,
            op: false,
            lobby_seen: 0,
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
            self.unindex(&nick_key(nick));
        }
        Some(member)
    }

    /// Removes everyone.
    pub(super) fn drain(&mut self) -> impl Iterator<Item = (ClientId, Member)> + '_ {
        self.by_nick.clear();
        self.key_lengths.clear();
        self.key_firsts.clear();
        self.by_id.drain()
    }

    /// Whether some signed-in member may have the key of the ASCII `word`
    /// (its lowercase): false rules it out without making the key or
    /// searching (see `key_lengths`). The key has the word's length, and its
    /// first byte is the word's lowercased, so most words of a chat line are
    /// ruled out before any copy.
    pub(super) fn may_be_key_of_ascii(&self, word: &str) -> bool {
        self.may_have_key(
            word.len(),
            word.bytes().next().map(|b| b.to_ascii_lowercase()),
        )
    }

    /// Whether some key is `len` bytes long, and some starts with `first`.
    fn may_have_key(&self, len: usize, first: Option<u8>) -> bool {
        let counted = |counts: &[u32], at: usize| counts.get(at).is_some_and(|&n| n > 0);
        counted(&self.key_lengths, len)
            && first.is_some_and(|b| counted(&self.key_firsts, usize::from(b)))
    }

    fn index(&mut self, key: String, id: ClientId) {
        let grow = |counts: &mut Vec<u32>, at: usize| {
            if counts.len() <= at {
                counts.resize(at + 1, 0);
            }
            counts[at] += 1;
        };
        grow(&mut self.key_lengths, key.len());
        if let Some(first) = key.bytes().next() {
            grow(&mut self.key_firsts, usize::from(first));
        }
        self.by_nick.insert(key, id);
    }

    fn unindex(&mut self, key: &str) {
        if self.by_nick.remove(key).is_none() {
            return;
        }
        let shrink = |counts: &mut Vec<u32>, at: usize| {
            if let Some(n) = counts.get_mut(at) {
                *n = n.saturating_sub(1);
            }
        };
        shrink(&mut self.key_lengths, key.len());
        if let Some(first) = key.bytes().next() {
            shrink(&mut self.key_firsts, usize::from(first));
        }
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
        let old = member.nick.replace(Arc::from(nick));
        if let Some(old) = old {
            self.unindex(&nick_key(&old));
        }
        self.index(key, id);
        true
    }

    /// The signed-in members' ids, in case-insensitive nickname order.
    pub(super) fn ids_by_nick(&self) -> impl Iterator<Item = ClientId> + '_ {
        self.by_nick.values().copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn members_with(nicks: &[&str]) -> Members {
        let mut members = Members::default();
        for (id, nick) in nicks.iter().enumerate() {
            let id = id as ClientId;
            members.connect(id, "127.0.0.1:1".parse().unwrap(), Arc::new(Outbox::new()));
            assert!(members.set_nick(id, nick));
        }
        members
    }

    #[test]
    fn the_key_filter_follows_sign_ins_renames_and_leaves() {
        let mut members = members_with(&["bob", "Carol"]);
        let may_be = |members: &Members, word| members.may_be_key_of_ascii(word);
        assert!(may_be(&members, "bob") && may_be(&members, "carol"));
        // A word is checked as its key (its lowercase) would be.
        assert!(may_be(&members, "BOB") && may_be(&members, "CaRoL"));
        // Same length and first byte as a key: not ruled out (the search decides).
        assert!(may_be(&members, "bxx"));
        // No key of six bytes; no key starting with z.
        assert!(!may_be(&members, "bobbie") && !may_be(&members, "Zed"));
        assert!(!may_be(&members, ""));
        assert!(members.set_nick(0, "zed"));
        assert!(may_be(&members, "zed") && !may_be(&members, "bob"));
        members.remove(1);
        assert!(!may_be(&members, "carol"));
        assert_eq!(members.find_key("zed"), Some(0));
    }
}
