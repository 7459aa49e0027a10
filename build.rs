//! Tells the integration tests (tests/it) which outside tools this machine has,
//! so that a test needing a missing one is marked ignored, with the reason, where
//! the test runner counts and shows it, instead of passing without having run.
//!
//! For each tool below found on `PATH`, it sets `cfg(has_TOOL)` (dashes become
//! underscores), and `cfg(is_root)` when the build runs as root. Under `CI=true`
//! it sets them all: there a missing tool must fail its test, not skip it.
//!
//! It runs again when `PATH` or `CI` change. A tool installed since the last
//! build is seen after `touch build.rs` (cargo cannot watch a file that does
//! not exist yet).

const TOOLS: &[&str] = &[
    "nc",
    "ncat",
    "telnet",
    "tmux",
    "pgrep",
    "setpriv",
    "timeout",
    "socat",
    "nsenter",
    "unshare",
    "mount",
    "ss",
    "systemd-analyze",
    "systemd-socket-activate",
    "systemd-nspawn",
    "promtool",
];

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-env-changed=PATH");
    println!("cargo::rerun-if-env-changed=CI");
    let ci = std::env::var("CI").is_ok_and(|v| v == "true");
    let path = std::env::var_os("PATH").unwrap_or_default();
    for tool in TOOLS {
        let cfg = format!("has_{}", tool.replace('-', "_"));
        println!("cargo::rustc-check-cfg=cfg({cfg})");
        let found = std::env::split_paths(&path)
            .map(|dir| dir.join(tool))
            .find(|file| file.is_file());
        if let Some(file) = &found {
            println!("cargo::rerun-if-changed={}", file.display());
        }
        if found.is_some() || ci {
            println!("cargo::rustc-cfg={cfg}");
        }
    }
    println!("cargo::rustc-check-cfg=cfg(is_root)");
    if ci || running_as_root() {
        println!("cargo::rustc-cfg=is_root");
    }
}

fn running_as_root() -> bool {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("Uid:"))
        .and_then(|ids| ids.split_whitespace().nth(1))
        == Some("0")
}
