//! chatd: a plain-text TCP chat room for `nc` and `telnet` users.
//!
//! Data flows one way through these modules:
//! socket bytes → [`protocol`] (lines, telnet, UTF-8, sanitizing) →
//! [`connection`] (reader task, flood control) → [`room`] (the one owner of who is
//! here; what each line does, by [`command`]'s table and [`nick`]'s rules;
//! fan-out) → [`outbox`] (bounded per-client queue) → [`connection`] (writer
//! task) → socket. [`server`] accepts connections and runs the shutdown;
//! [`config`], [`cli`], [`log`], [`text`] and [`systemd`] serve `main`.

#![deny(unsafe_code)]
#![warn(missing_docs, rust_2018_idioms)]

pub mod bans;
pub mod cli;
pub mod command;
pub mod config;
pub mod connection;
pub mod control;
pub mod ctl;
pub mod exec;
pub mod hub;
pub mod listener;
pub mod log;
pub mod motd;
pub mod nick;
pub mod outbox;
pub mod protocol;
pub mod render;
pub mod reply;
pub mod server;
pub mod signals;
pub mod systemd;
pub mod text;

#[doc(hidden)]
pub mod test_rng;
