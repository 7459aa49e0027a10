//! chatd's integration tests, in one test binary: each module starts the real
//! binaries (`chatd`, `chat`, `chatd-bench`) and talks to them over real sockets.
//! `common` holds the one way to start a server and the one test client.
//!
//! A test that needs a tool the machine lacks is marked ignored by `build.rs`
//! (the runner counts and names it); under `CI=true` it runs and fails instead.

mod common;

mod abuse;
mod answers;
mod bench_smoke;
mod client;
mod comfort;
mod config_cli;
mod control;
mod history;
mod lifecycle;
mod limits;
mod metrics;
mod moderation;
mod mutes;
mod presence;
mod properties;
mod robustness;
mod rooms;
mod sanitize;
mod session;
mod systemd;
mod systemd_live;
mod upgrade;
