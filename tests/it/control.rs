//! The control socket and `chatd ctl`, over real sockets with the real binary:
//! reload that answers once applied, exit statuses, the socket's mode, who may
//! use it, its life cycle (stale file replaced, removed at exit), and requests
//! that are not command lines.

use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::common::{
    BASE_CONFIG, Finished, Server, TIMEOUT, chatd, ctl, temp_dir, write_temp_file,
};

/// A fresh path for a control socket, in a directory of its own.
fn socket_path() -> PathBuf {
    temp_dir().join("control.sock")
}

/// The config line that puts the control socket at `path`.
fn control_line(path: &Path) -> String {
    format!("control_socket = \"{}\"\n", path.display())
}

/// Starts chatd with its control socket at `path` and `extra` settings.
fn start_with_control(path: &Path, extra: &str) -> Server {
    chatd()
        .config(&format!("{}{extra}", control_line(path)))
        .start()
}

/// Sends raw `bytes` to the control socket and returns the whole answer.
fn raw_request(path: &Path, bytes: &[u8]) -> String {
    let mut stream = UnixStream::connect(path).expect("connect to the control socket");
    stream.set_read_timeout(Some(TIMEOUT)).unwrap();
    stream.set_write_timeout(Some(TIMEOUT)).unwrap();
    stream.write_all(bytes).expect("send the request");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).expect("read the answer");
    answer
}

/// The room name in the banner a client connecting now gets.
fn banner_room(server: &Server) -> String {
    let mut client = server.connect();
    let line = client.expect_prefix("> Welcome to ");
    line.trim_start_matches("> Welcome to ").to_owned()
}

fn code(finished: &Finished) -> Option<i32> {
    finished.status.code()
}

#[test]
fn reload_answers_once_the_new_settings_apply() {
    let path = socket_path();
    let server = start_with_control(&path, "room_name = \"Before\"\n");
    assert!(banner_room(&server).starts_with("Before"));
    server.rewrite_config(&format!("{}room_name = \"After\"\n", control_line(&path)));
    let done = ctl(&path, &["reload"]);
    assert_eq!(code(&done), Some(0), "{done:?}");
    // No waiting: the answer came only once the new name was in force.
    assert!(banner_room(&server).starts_with("After"), "{done:?}");
}

#[test]
fn reload_through_the_config_file_finds_the_socket() {
    let path = socket_path();
    let server = start_with_control(&path, "room_name = \"Before\"\n");
    server.rewrite_config(&format!("{}room_name = \"Again\"\n", control_line(&path)));
    let config = server.config_path.to_str().unwrap();
    let done = chatd()
        .no_config()
        .args(&["ctl", "--config", config, "reload"])
        .run();
    assert_eq!(code(&done), Some(0), "{done:?}");
    assert!(banner_room(&server).starts_with("Again"));
}

#[test]
fn reload_of_a_bad_file_answers_its_line_and_changes_nothing() {
    let path = socket_path();
    let mut server = start_with_control(&path, "room_name = \"Before\"\n");
    // The bad key is on the config's last line; count it rather than hard-code it.
    server.rewrite_config(&format!(
        "{}room_name = \"After\"\nroom_nmae = \"x\"",
        control_line(&path)
    ));
    let text = std::fs::read_to_string(&server.config_path).unwrap();
    let line = text
        .lines()
        .position(|l| l.starts_with("room_nmae"))
        .unwrap()
        + 1;
    let config = server.config_path.display().to_string();
    for finished in [
        ctl(&path, &["reload"]),
        chatd()
            .no_config()
            .args(&["ctl", "--config", &config, "reload"])
            .run(),
    ] {
        assert_eq!(code(&finished), Some(1), "{finished:?}");
        assert!(
            finished.stderr.contains(&format!("{config}:{line}: ")),
            "no file:line in {:?}",
            finished.stderr
        );
        assert!(
            finished.stderr.contains("room_nmae"),
            "{:?}",
            finished.stderr
        );
        assert_eq!(finished.stdout, "");
    }
    assert!(banner_room(&server).starts_with("Before"));
    server.wait_log("config reload refused");
}

#[test]
fn no_socket_exits_69() {
    let path = socket_path();
    let finished = ctl(&path, &["who"]);
    assert_eq!(code(&finished), Some(69), "{finished:?}");
    assert!(
        finished.stderr.contains("cannot connect to"),
        "{:?}",
        finished.stderr
    );
    assert!(finished.stderr.contains(&path.display().to_string()));
}

#[test]
fn config_without_control_socket_exits_69() {
    let config = write_temp_file("chatd.conf", BASE_CONFIG);
    let config = config.to_str().unwrap();
    let finished = chatd()
        .no_config()
        .args(&["ctl", "--config", config, "who"])
        .run();
    assert_eq!(code(&finished), Some(69), "{finished:?}");
    assert!(
        finished.stderr.contains("sets no control_socket"),
        "{:?}",
        finished.stderr
    );
}

#[test]
fn bare_ctl_is_a_usage_error() {
    let finished = chatd().no_config().args(&["ctl"]).run();
    assert_eq!(code(&finished), Some(2), "{finished:?}");
    assert!(
        finished.stderr.starts_with("chatd ctl: no command given\n"),
        "{:?}",
        finished.stderr
    );
    assert!(finished.stderr.contains("Usage: chatd ctl"));
    let finished = chatd()
        .no_config()
        .args(&["ctl", "--sock", "x", "who"])
        .run();
    assert_eq!(code(&finished), Some(2), "{finished:?}");
    let help = chatd().no_config().args(&["ctl", "--help"]).run();
    assert_eq!(code(&help), Some(0));
    assert!(help.stdout.starts_with("Usage: chatd ctl"));
}

#[test]
fn refused_command_exits_1_with_the_reason() {
    let path = socket_path();
    let _server = start_with_control(&path, "");
    let finished = ctl(&path, &["frobnicate", "everything"]);
    assert_eq!(code(&finished), Some(1), "{finished:?}");
    assert!(!finished.stderr.trim().is_empty(), "no reason given");
    assert_eq!(finished.stdout, "");
}

#[test]
fn socket_is_mode_0600() {
    let path = socket_path();
    let _server = start_with_control(&path, "");
    let meta = std::fs::symlink_metadata(&path).expect("the socket exists");
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    // And nothing else is left beside it (the private directory it was bound in).
    let names: Vec<_> = std::fs::read_dir(path.parent().unwrap())
        .unwrap()
        .map(|entry| entry.unwrap().file_name())
        .collect();
    assert_eq!(names, ["control.sock"]);
}

/// Whether this process runs as root, which the test of another user needs (to
/// become `nobody`): CI runs as root, so there the test must run.
fn running_as_root() -> bool {
    let status = std::fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
    status
        .lines()
        .find_map(|line| line.strip_prefix("Uid:"))
        .and_then(|ids| ids.split_whitespace().nth(1))
        == Some("0")
}

#[test]
#[cfg_attr(
    not(all(is_root, has_setpriv, has_timeout)),
    ignore = "needs root (to become nobody), setpriv and timeout"
)]
fn another_user_cannot_use_the_socket() {
    assert!(running_as_root(), "this test needs root, to become nobody");
    crate::common::require("setpriv");
    crate::common::require("timeout");
    let path = socket_path();
    let _server = start_with_control(&path, "");
    // Everyone may enter the directory: only the socket's own mode keeps them out.
    let dir = path.parent().unwrap();
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o777)).unwrap();
    let socket = path.to_str().unwrap();
    let wrapper = [
        "timeout",
        "10",
        "setpriv",
        "--reuid=nobody",
        "--regid=nogroup",
        "--clear-groups",
    ];
    let run = chatd()
        .no_config()
        .wrapper(&wrapper)
        .args(&["ctl", "--socket", socket, "who"])
        .run();
    assert_eq!(run.status.code(), Some(69), "{}", run.stderr);
    assert!(run.stderr.contains("Permission denied"), "{}", run.stderr);
    // The same request as root (the owner here) gets through.
    assert_eq!(code(&ctl(&path, &["who"])).map(|c| c != 69), Some(true));
}

#[test]
fn socket_is_removed_at_exit() {
    let path = socket_path();
    let mut server = start_with_control(&path, "");
    assert!(path.exists());
    server.signal("TERM");
    assert!(server.wait_exit(Duration::from_secs(15)).success());
    assert!(!path.exists(), "the socket file outlived chatd");
}

#[test]
fn stale_socket_is_replaced_at_start() {
    let path = socket_path();
    // A socket file nobody listens on, as a chatd killed with SIGKILL leaves.
    drop(UnixListener::bind(&path).unwrap());
    assert!(path.exists());
    let server = start_with_control(&path, "room_name = \"Fresh\"\n");
    let meta = std::fs::symlink_metadata(&path).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    server.rewrite_config(&format!(
        "{}room_name = \"Reloaded\"\n",
        control_line(&path)
    ));
    assert_eq!(code(&ctl(&path, &["reload"])), Some(0));
    assert!(banner_room(&server).starts_with("Reloaded"));
}

#[test]
fn live_socket_is_not_taken_over() {
    let path = socket_path();
    let _listener = UnixListener::bind(&path).unwrap();
    let finished = chatd().config(&control_line(&path)).run();
    assert_eq!(code(&finished), Some(1), "{finished:?}");
    let expected = format!(
        "cannot create the control socket {}: another process is listening on it",
        path.display()
    );
    assert!(finished.stderr.contains(&expected), "{:?}", finished.stderr);
    assert!(path.exists(), "the other process's socket was removed");
}

#[test]
fn path_that_is_not_a_socket_is_an_error() {
    let path = socket_path();
    std::fs::write(&path, "precious").unwrap();
    let finished = chatd().config(&control_line(&path)).run();
    // A config error, found before the start (as --check-config finds it).
    assert_eq!(code(&finished), Some(78), "{finished:?}");
    assert!(
        finished.stderr.contains("it exists and is not a socket"),
        "{:?}",
        finished.stderr
    );
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "precious");
}

#[test]
fn over_long_request_line_is_answered_with_an_error() {
    let path = socket_path();
    let _server = start_with_control(&path, "");
    let mut request = "x".repeat(4097).into_bytes();
    request.push(b'\n');
    assert_eq!(
        raw_request(&path, &request),
        "usage\nrequest line too long: at most 4096 bytes\n"
    );
    // Far longer, with no line break at all: the same answer, and no reset.
    assert_eq!(
        raw_request(&path, &vec![b'y'; 100_000]),
        "usage\nrequest line too long: at most 4096 bytes\n"
    );
    // At the limit it is a request like any other (an unknown command here).
    let mut at_limit = "x".repeat(4096).into_bytes();
    at_limit.push(b'\n');
    assert!(raw_request(&path, &at_limit).starts_with("refused\n"));
    // chatd ctl checks the length itself, as a usage error.
    let long = "y".repeat(5000);
    let finished = ctl(&path, &["say", &long]);
    assert_eq!(code(&finished), Some(2), "{finished:?}");
    assert!(finished.stderr.contains("at most 4096 bytes"));
}

#[test]
fn requests_that_are_not_command_lines_are_answered() {
    let path = socket_path();
    let _server = start_with_control(&path, "");
    assert_eq!(
        raw_request(&path, b"\n"),
        "usage\nempty request: send a command, such as who\n"
    );
    assert_eq!(
        raw_request(&path, b"who \xff\n"),
        "usage\nthe request is not valid UTF-8\n"
    );
    assert_eq!(
        raw_request(&path, b"reload now\n"),
        "refused\nreload takes no arguments\n"
    );
    // A request ended by closing instead of a line break counts the same.
    let mut stream = UnixStream::connect(&path).unwrap();
    stream.set_read_timeout(Some(TIMEOUT)).unwrap();
    stream.write_all(b"reload extra").unwrap();
    stream.shutdown(std::net::Shutdown::Write).unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    assert_eq!(answer, "refused\nreload takes no arguments\n");
}

#[test]
fn silent_client_gets_an_answer_after_the_read_timeout() {
    let path = socket_path();
    let _server = start_with_control(&path, "");
    let mut stream = UnixStream::connect(&path).unwrap();
    stream.set_read_timeout(Some(TIMEOUT)).unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    assert_eq!(answer, "usage\nno request line within 5s\n");
}
