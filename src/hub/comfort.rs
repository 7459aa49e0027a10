//! The comfort commands' handlers: `/away` and `/back`, `/reply`, `/ignore`
//! and `/unignore`, `/bell`, `/colors`, `/timestamps`. What they change is the
//! member's [`Comfort`]; delivery (`round`) reads it.

use std::sync::Arc;

use crate::command::{Args, ComfortCommand, Command};
use crate::protocol::sanitize;

use super::members::Comfort;
use super::{ClientId, Hub, block};

impl Hub {
    /// Runs one of the comfort commands for the signed-in `id`.
    pub(super) fn run_comfort(
        &mut self,
        id: ClientId,
        nick: &Arc<str>,
        which: ComfortCommand,
        command: &Command,
        args: Args<'_>,
    ) {
        match which {
            ComfortCommand::Away => {
                let message = sanitize(args.rest).trim().to_owned();
                let message = if message.is_empty() {
                    self.texts.away_default().to_owned()
                } else {
                    message
                };
                let msg = block(self.texts.away(nick, &message));
                if let Some(member) = self.members.get_mut(id) {
                    member.comfort_mut().away = Some(message);
                }
                self.broadcast(self.room_of(id), &msg, None);
            }
            ComfortCommand::Back => {
                let was_away = self.end_away(id, nick);
                if !was_away {
                    self.send(id, block(self.texts.not_away()));
                }
            }
            ComfortCommand::Reply => {
                let to = self
                    .members
                    .get(id)
                    .and_then(|member| member.comfort().reply_to.clone());
                match to {
                    Some((to, _)) if self.members.get(to).is_some_and(|m| m.nick.is_some()) => {
                        let to = self.members.nick_of(to).to_owned();
                        self.private(id, nick, &to, &sanitize(args.rest));
                    }
                    // Not sent: the one it was for is gone, and someone else
                    // may have their name by now.
                    Some((_, name)) => self.send(id, block(self.texts.reply_partner_left(&name))),
                    None => self.send(id, block(self.texts.nobody_to_reply_to())),
                }
            }
            ComfortCommand::Ignore if args.rest.is_empty() => {
                let ignored = self.ignored_names(id);
                let names: Vec<&str> = ignored.iter().map(String::as_str).collect();
                let msg = self.texts.ignore_list(&names);
                self.send(id, block(msg));
            }
            ComfortCommand::Ignore | ComfortCommand::Unignore => {
                let Some(target) = self.members.find(args.rest) else {
                    let msg = self.texts.no_such_user(&sanitize(args.rest));
                    self.send(id, block(msg));
                    return;
                };
                let name = self.members.nick_of(target).to_owned();
                let msg = if target == id {
                    self.texts.ignore_yourself()
                } else if which == ComfortCommand::Ignore {
                    self.set_ignored(id, target, true);
                    self.texts.ignoring(&name)
                } else if self.set_ignored(id, target, false) {
                    self.texts.unignored(&name)
                } else {
                    self.texts.not_ignored(&name)
                };
                self.send(id, block(msg));
            }
            ComfortCommand::Bell => {
                self.switch(id, command, args.rest, BELL);
            }
            // Where the server has no colors, turning them on is refused (a
            // value other than on or off still gets the usage).
            ComfortCommand::Colors if on_off(args.rest) == Some(true) && !self.config.colors => {
                self.send(id, block(self.texts.colors_unavailable()));
            }
            ComfortCommand::Colors => {
                // Off for everyone where the server has none.
                let colors = if self.config.colors {
                    COLORS
                } else {
                    NO_COLORS
                };
                self.switch(id, command, args.rest, colors);
            }
            ComfortCommand::Timestamps => {
                self.switch(id, command, args.rest, TIMESTAMPS);
            }
        }
    }

    /// `/bell`, `/colors` or `/timestamps`: `set` turns the setting on or off
    /// as `value` says, and the user is told; without a value, the user is
    /// told how it is now (`get`).
    fn switch(&mut self, id: ClientId, command: &Command, value: &str, (get, set): Setting) {
        if value.is_empty() {
            let on = self.members.get(id).is_some_and(|m| get(m.comfort()));
            self.send(id, block(self.texts.setting_is(command.name, on)));
            return;
        }
        let Some(on) = on_off(value) else {
            let msg = self.texts.usage(command);
            self.send(id, block(msg));
            return;
        };
        // The line before the change reaches it as the old setting said.
        self.catch_up(id);
        if let Some(member) = self.members.get_mut(id) {
            set(member.comfort_mut(), on);
        }
        self.send(id, block(self.texts.setting(command.name, on)));
    }

    /// Starts (`on`) or stops ignoring `target` for `id`; whether that changed anything.
    fn set_ignored(&mut self, id: ClientId, target: ClientId, on: bool) -> bool {
        // What the round holds so far was said before: it is delivered as it was.
        self.catch_up(id);
        let Some(member) = self.members.get_mut(id) else {
            return false;
        };
        if on {
            member.comfort_mut().ignored.insert(target)
        } else {
            member.comfort_mut().ignored.remove(&target)
        }
    }

    /// The names of the signed-in members `id` ignores, in order.
    fn ignored_names(&self, id: ClientId) -> Vec<String> {
        let Some(member) = self.members.get(id) else {
            return Vec::new();
        };
        let mut names: Vec<String> = member
            .comfort()
            .ignored
            .iter()
            .filter(|&&other| self.members.get(other).is_some_and(|m| m.nick.is_some()))
            .map(|&other| self.members.nick_of(other).to_owned())
            .collect();
        names.sort_by_key(|name| name.to_lowercase());
        names
    }
}

/// One of a member's own on/off settings: how to read it, how to set it.
type Setting = (fn(&Comfort) -> bool, fn(&mut Comfort, bool));

const BELL: Setting = (
    |c: &Comfort| !c.no_bell,
    |c: &mut Comfort, on: bool| c.no_bell = !on,
);
const COLORS: Setting = (
    |c: &Comfort| !c.no_colors,
    |c: &mut Comfort, on: bool| c.no_colors = !on,
);
/// `/colors` where the server has no colors: off, whatever was set.
const NO_COLORS: Setting = (|_: &Comfort| false, COLORS.1);
const TIMESTAMPS: Setting = (
    |c: &Comfort| c.timestamps,
    |c: &mut Comfort, on: bool| c.timestamps = on,
);

/// `on` or `off` (any case), as the settings take it; None for anything else.
fn on_off(value: &str) -> Option<bool> {
    match value.to_ascii_lowercase().as_str() {
        "on" => Some(true),
        "off" => Some(false),
        _ => None,
    }
}

impl Hub {
    /// Ends `id`'s away, telling its room (`/back`, or a chat line); whether
    /// it was away.
    pub(super) fn end_away(&mut self, id: ClientId, nick: &str) -> bool {
        let was_away = self
            .members
            .get_mut(id)
            .and_then(|member| member.own_away_taken())
            .is_some();
        if was_away {
            let msg = block(self.texts.back(nick));
            self.broadcast(self.room_of(id), &msg, None);
        }
        was_away
    }
}
