//! The load generator runs end to end (scaled down) and reports every scenario,
//! the soak run included.
//! A smoke test: no speed is asserted here; the numbers in docs/performance.md come from full runs.

use std::process::Command;

#[test]
fn load_generator_runs_every_scenario() {
    let json = std::env::temp_dir().join(format!("chatd-bench-smoke-{}.json", std::process::id()));
    let output = Command::new(env!("CARGO_BIN_EXE_chatd-bench"))
        .arg("--quick")
        .arg("--json")
        .arg(&json)
        .output()
        .expect("run chatd-bench");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "chatd-bench failed:\n{stderr}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    for scenario in [
        "burst",
        "paced",
        "bigroom",
        "rooms",
        "roompaced",
        "idle",
        "connected",
        "slow",
    ] {
        assert!(
            stdout.lines().any(|l| l.starts_with(scenario)),
            "no table row for {scenario}:\n{stdout}"
        );
    }
    let json_path = json;
    let json = std::fs::read_to_string(&json_path).expect("json written");
    // Only litter if left behind.
    let _ = std::fs::remove_file(&json_path);
    // Every delivery the senders caused arrived, and nothing failed.
    assert!(json.contains("\"scenario\":\"burst\""), "{json}");
    assert!(!json.contains("\"errors\":1"), "{json}");
    for item in json.split("},{") {
        let field = |name: &str| {
            item.split(&format!("\"{name}\":"))
                .nth(1)
                .and_then(|v| v.split([',', '}']).next())
                .and_then(|v| v.parse::<f64>().ok())
                .unwrap_or_else(|| panic!("no {name} in {item}"))
        };
        assert_eq!(field("deliveries"), field("expected"), "{item}");
        assert_eq!(field("errors"), 0.0, "{item}");
    }
}

#[test]
fn soak_run_samples_and_judges() {
    // 0.1 minutes with a sample every 2 s: two or three samples, too few to
    // judge growth, but the load, the sampling and the descriptor check all run.
    let output = Command::new(env!("CARGO_BIN_EXE_chatd-bench"))
        .args(["--quick", "--scenario", "soak", "--minutes", "0.1"])
        .output()
        .expect("run chatd-bench");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "chatd-bench failed:\n{stderr}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let samples: Vec<&str> = stdout
        .lines()
        // A sample row: soak, minute, RSS, descriptors, deliveries, connects.
        .filter(|l| {
            l.starts_with("soak ") && !l.contains("minute") && l.split_whitespace().count() == 6
        })
        .collect();
    assert!((2..=3).contains(&samples.len()), "{stdout}");
    for sample in samples {
        let deliveries: u64 = sample
            .split_whitespace()
            .nth(4)
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("{sample:?}"));
        assert!(deliveries > 0, "nothing delivered in {sample:?}");
    }
    assert!(stdout.contains("\"scenario\":\"soak\""), "{stdout}");
}

/// `--addr`/`--pid`: the load generator measures a server it did not start
/// (how the tutorial and the other chat examples are measured), here a chatd
/// the test started, with what the throughput scenarios turn off.
#[test]
fn load_generator_measures_a_running_server() {
    let server = crate::common::chatd()
        .config("flood_burst = 0\nflood_lines_per_sec = 0\nhistory = 0")
        .start();
    let output = Command::new(env!("CARGO_BIN_EXE_chatd-bench"))
        .args(["--quick", "--scenario", "paced", "--protocol", "chatd"])
        .args(["--addr", &server.addr.to_string()])
        .args(["--pid", &server.child.id().to_string()])
        .output()
        .expect("run chatd-bench");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "chatd-bench failed:\n{stderr}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let row = stdout
        .lines()
        .find(|l| l.starts_with("paced"))
        .unwrap_or_else(|| panic!("no paced row:\n{stdout}"));
    // 2 senders x 20 lines to the 19 others: every one arrived, with the
    // server's memory read from the process it was pointed at.
    assert!(row.contains(" 760 "), "{row}");
    assert!(stdout.contains("\"errors\":0"), "{stdout}");
    assert!(!stdout.contains("\"rss_before_kib\":0,"), "{stdout}");
}

#[test]
fn load_generator_refuses_half_a_target() {
    for args in [
        &["--addr", "127.0.0.1:1"][..],
        &["--pid", "1"],
        &["--protocol", "smol"],
        &["--protocol", "irc"],
        &["--threads", "many"],
    ] {
        let output = Command::new(env!("CARGO_BIN_EXE_chatd-bench"))
            .args(args)
            .output()
            .expect("run chatd-bench");
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.starts_with("chatd-bench: "), "{args:?}: {stderr}");
    }
}

/// `--scenario upgrade`, scaled down: the server upgrades itself in the middle
/// of the chat, the bench checks every line arrived once and in order, and the
/// report gives the pause and the state's size from the server's answer.
#[test]
fn load_generator_measures_a_live_upgrade() {
    let output = Command::new(env!("CARGO_BIN_EXE_chatd-bench"))
        .args(["--quick", "--scenario", "upgrade", "--clients", "100"])
        .output()
        .expect("run chatd-bench");
    let stderr = String::from_utf8_lossy(&output.stderr);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "chatd-bench failed:\n{stderr}\n{stdout}"
    );
    let json = stdout
        .lines()
        .find(|l| l.contains("\"scenario\":\"upgrade\""))
        .unwrap_or_else(|| panic!("no upgrade result:\n{stdout}"));
    let field = |name: &str| -> f64 {
        json.split(&format!("\"{name}\":"))
            .nth(1)
            .and_then(|v| v.split([',', '}']).next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {name} in {json}"))
    };
    assert_eq!(field("errors"), 0.0, "{json}");
    assert_eq!(field("kept"), 100.0, "{json}");
    assert_eq!(field("deliveries"), field("expected"), "{json}");
    assert!(field("expected") > 0.0, "{json}");
    assert!(field("state_bytes") > 0.0, "{json}");
    assert!(field("pause_ms") > 0.0, "{json}");
    assert!(
        stdout.contains("upgrade: the answer came "),
        "no pause reported:\n{stdout}"
    );
}
