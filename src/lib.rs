//! chatd: a plain-text TCP chat room for `nc` and `telnet` users.
//!
//! Data flows one way through these modules:
//! socket bytes → [`protocol`] (lines, telnet, UTF-8, sanitizing) →
//! [`connection`] (reader task, flood control; its state in [`input`]) → [`hub`] (the one owner of who
//! is here and in which room; what each line does, by [`command`]'s table and
//! [`nick`]'s rules; fan-out, shown to each reader by [`render`]) → [`outbox`]
//! (bounded per-client queue) → [`connection`] (writer task) → socket.
//!
//! Around that path: [`server`] accepts connections and runs the shutdown, on
//! the executor of [`exec`]; [`control`] serves the control socket, whose
//! client is [`ctl`] (`chatd ctl`) and whose answers are [`reply`]s; [`scrape`]
//! answers requests for the [`metrics`] (`chatd ctl metrics` and the HTTP
//! endpoint) from the hub's counts; [`bans`] holds ban and mute state and
//! their files, [`history`] the conversation on disk (histories, kept rooms,
//! topics) and its saver; [`text`] is everything the server says, in English and
//! Chinese. [`config`], [`cli`], [`listener`], [`signals`], [`startup`] (what
//! the config names, checked before the start and by `--check-config`),
//! [`motd`], [`log`] and [`systemd`] serve `main`. [`handover`] is the way
//! over in a live upgrade (`chatd ctl upgrade`): the state's format, the
//! checks of the new binary, the memory file and the exec. [`escape`] is the
//! backslash escaping every file of chatd's own shares. [`test_rng`] is the tests'
//! random numbers.

#![deny(unsafe_code)]
#![warn(missing_docs, rust_2018_idioms)]

pub mod bans;
pub mod cli;
pub mod command;
pub mod config;
pub mod connection;
pub mod control;
pub mod ctl;
pub mod escape;
pub mod exec;
pub mod handover;
pub mod history;
pub mod hub;
pub mod input;
pub mod listener;
pub mod log;
pub mod metrics;
pub mod motd;
pub mod nick;
pub mod outbox;
pub mod protocol;
pub mod render;
pub mod reply;
pub mod scrape;
pub mod server;
pub mod signals;
pub mod startup;
pub mod systemd;
pub mod text;

#[cfg(test)]
mod test_dir;
#[doc(hidden)]
pub mod test_rng;
