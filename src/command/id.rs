//! The command ids, grouped by who handles them: [`Id`] names a group, and
//! each group is an enum of its commands. A handler takes its group's enum and
//! matches it exhaustively, so the compiler proves every command is handled
//! without any `match` listing the ids of other groups.
//!
//! `ids!` declares each group together with its `ALL`, so [`Id::all`]
//! iterates every id without a second list to keep in step.

/// Declares [`Id`] over the groups, each group's enum with its `ALL`, and
/// [`Id::all`].
macro_rules! ids {
    ($(
        $(#[$group_doc:meta])*
        $variant:ident($group:ident) {
            $( $(#[$doc:meta])* $command:ident, )*
        }
    )*) => {
        /// Which command a parsed line is: its group (who handles it), then
        /// the command within the group.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum Id {
            $( $(#[$group_doc])* $variant($group), )*
        }

        impl Id {
            /// Every id, group by group.
            pub fn all() -> impl Iterator<Item = Id> {
                std::iter::empty()
                    $( .chain($group::ALL.iter().map(|&command| Id::$variant(command))) )*
            }
        }

        $(
            $(#[$group_doc])*
            #[derive(Debug, Clone, Copy, PartialEq, Eq)]
            pub enum $group {
                $( $(#[$doc])* $command, )*
            }

            impl $group {
                /// Every command of the group, in declaration order.
                pub const ALL: &[$group] = &[$($group::$command),*];
            }
        )*
    };
}

ids! {
    /// Commands open to every connection, signed in or not; the hub's
    /// `commands` handles them, with or without a nickname.
    Session(SessionCommand) {
        /// `/help`: the commands this user may use.
        Help,
        /// `/nick NEW`: change nickname (at the prompt: sign in as NEW).
        Nick,
        /// `/quit [REASON]`: leave.
        Quit,
    }
    /// What a signed-in user says to others; the hub's `commands`.
    Talk(TalkCommand) {
        /// `/me ACTION`: an action in the third person.
        Me,
        /// `/msg NICK TEXT`: a private message.
        Msg,
    }
    /// The rooms and moving between them; the hub's `joins`.
    Room(RoomCommand) {
        /// `/who [*]`: who is in your room, or everyone online.
        Who,
        /// `/join NAME`: go to room NAME, made if new.
        Join,
        /// `/part`: back to the lobby.
        Part,
        /// `/rooms`: the rooms, with members and topics.
        Rooms,
        /// `/topic [TEXT]`: show the topic, or (operators) set it.
        Topic,
    }
    /// A user's own settings and conveniences; the hub's `comfort`.
    Comfort(ComfortCommand) {
        /// `/reply TEXT` (`/r`): a private message to whoever sent you the last one.
        Reply,
        /// `/away [MESSAGE]`: say you are away; `/who` and private messages show it.
        Away,
        /// `/back`: no longer away.
        Back,
        /// `/ignore [NICK]`: hear nothing more from NICK (this session); alone, the list.
        Ignore,
        /// `/unignore NICK`.
        Unignore,
        /// `/bell on|off`: a BEL before lines that name you and private messages.
        Bell,
        /// `/colors on|off`: colors for yourself.
        Colors,
        /// `/timestamps on|off`: the time before every line.
        Timestamps,
    }
    /// Operators' commands, in the room and over the control socket; the
    /// hub's `moderation`.
    Moderation(ModerationCommand) {
        /// `/kick NICK [REASON]`: disconnect a user.
        Kick,
        /// `/ban TARGET [DURATION] [REASON]`: ban a user's address, an address or a range.
        Ban,
        /// `/unban TARGET`: lift a ban.
        Unban,
        /// `/mute TARGET [DURATION] [REASON]`: nobody hears a user's address,
        /// an address or a range.
        Mute,
        /// `/unmute TARGET`: lift a mute.
        Unmute,
        /// `/bans`: the ban list.
        Bans,
        /// `/mutes`: the mute list.
        Mutes,
        /// `/purge NICK`: the user's lines leave the history.
        Purge,
        /// `/keep ROOM`: the room stays when empty and outlives a restart.
        Keep,
        /// `/unkeep ROOM`: the room goes with its last member again.
        Unkeep,
    }
    /// The server's commands, over the control socket only; the hub's
    /// `moderation` (and the server itself for `reload`).
    Server(ServerCommand) {
        /// `op NICK`: make a user an operator while connected.
        Op,
        /// `deop NICK`.
        Deop,
        /// `say TEXT`: a server notice to everyone.
        Say,
        /// `stats`: the health counters now.
        Stats,
        /// `metrics`: the metrics in Prometheus's text format; answered by
        /// the control socket, from the hub's snapshot.
        Metrics,
        /// `reload`: answered by the server, not the hub.
        Reload,
        /// `upgrade [PATH]`: a live upgrade, carried out by the server.
        Upgrade,
    }
}
