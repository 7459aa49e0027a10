//! The key table: every config key with its parser, how it is written back, and
//! whether changing it needs a restart. [`super::parse`], [`Config::render`],
//! the "did you mean" suggestions and the reload policy all read it, so they can
//! never disagree about which keys exist.

use std::net::{IpAddr, SocketAddr};

use super::toml::{Value, quote};
use super::{Config, LINE_OVERHEAD, Language, LogLevel};

/// One config key: its name, how to read it into a [`Config`] and how to write it back.
pub(super) struct Key {
    pub(super) name: &'static str,
    /// Set when changing it needs a restart (the listening socket, the size of the
    /// client table, the control socket and the state directory are set up once):
    /// copies the running value over a reloaded config, so a reload keeps it.
    pub(super) restart: Option<fn(&mut Config, &Config)>,
    /// Stores the value in its field; the error is the text after `bad value for "name": `.
    pub(super) set: fn(&mut Config, &Value<'_>) -> Result<(), String>,
    /// The field's value as written in a config file; None when it is unset.
    pub(super) show: fn(&Config) -> Option<String>,
}

/// Every key, in the order `render` writes them.
pub(super) const KEYS: [Key; 31] = [
    Key {
        name: "address",
        restart: Some(|new, old| new.address = old.address.clone()),
        set: |c, v| {
            let text = v.string()?;
            text.parse::<IpAddr>().map_err(|_| {
                format!("expected an IP address such as \"127.0.0.1\" or \"::\", got {text:?}")
            })?;
            c.address = text.to_string();
            Ok(())
        },
        show: |c| Some(quote(&c.address)),
    },
    Key {
        name: "port",
        restart: Some(|new, old| new.port = old.port),
        set: |c, v| v.integer(0, 65_535).map(|n| c.port = n),
        show: |c| Some(c.port.to_string()),
    },
    Key {
        name: "room_name",
        restart: None,
        set: |c, v| {
            let text = v.string()?;
            if !(1..=64).contains(&text.chars().count()) {
                return Err(format!("expected 1 to 64 characters, got {text:?}"));
            }
            // The name goes into every banner; a control character could garble terminals.
            if text.chars().any(char::is_control) {
                return Err(format!("control characters are not allowed, got {text:?}"));
            }
            c.room_name = text.to_string();
            Ok(())
        },
        show: |c| Some(quote(&c.room_name)),
    },
    Key {
        name: "language",
        restart: None,
        set: |c, v| {
            c.language = match v.string()? {
                "en" => Language::En,
                "zh" => Language::Zh,
                other => return Err(format!("expected \"en\" or \"zh\", got {other:?}")),
            };
            Ok(())
        },
        show: |c| Some(quote(c.language.as_str())),
    },
    Key {
        name: "colors",
        restart: None,
        set: |c, v| v.boolean().map(|on| c.colors = on),
        show: |c| Some(c.colors.to_string()),
    },
    Key {
        name: "timestamps",
        restart: None,
        set: |c, v| v.boolean().map(|on| c.timestamps = on),
        show: |c| Some(c.timestamps.to_string()),
    },
    Key {
        name: "upgrade_notice",
        restart: None,
        set: |c, v| v.boolean().map(|on| c.upgrade_notice = on),
        show: |c| Some(c.upgrade_notice.to_string()),
    },
    Key {
        name: "utc_offset",
        restart: None,
        set: |c, v| {
            let text = v.string()?;
            c.utc_offset_minutes = parse_utc_offset(text).ok_or_else(|| {
                format!(
                    "expected an offset from UTC such as \"+08:00\" or \"-05:30\", got {text:?}"
                )
            })?;
            Ok(())
        },
        show: |c| Some(quote(&show_utc_offset(c.utc_offset_minutes))),
    },
    Key {
        name: "log_level",
        restart: None,
        set: |c, v| {
            c.log_level = match v.string()? {
                "error" => LogLevel::Error,
                "warn" => LogLevel::Warn,
                "info" => LogLevel::Info,
                "debug" => LogLevel::Debug,
                other => {
                    return Err(format!(
                        "expected \"error\", \"warn\", \"info\" or \"debug\", got {other:?}"
                    ));
                }
            };
            Ok(())
        },
        show: |c| Some(quote(c.log_level.as_str())),
    },
    Key {
        name: "max_nick_chars",
        restart: None,
        set: |c, v| v.integer(1, 64).map(|n| c.max_nick_chars = n),
        show: |c| Some(c.max_nick_chars.to_string()),
    },
    Key {
        name: "max_line_bytes",
        restart: None,
        set: |c, v| v.integer(64, 1 << 20).map(|n| c.max_line_bytes = n),
        show: |c| Some(c.max_line_bytes.to_string()),
    },
    Key {
        name: "max_clients",
        restart: Some(|new, old| new.max_clients = old.max_clients),
        set: |c, v| v.integer(1, 1_000_000).map(|n| c.max_clients = n),
        show: |c| Some(c.max_clients.to_string()),
    },
    Key {
        name: "threads",
        restart: Some(|new, old| new.threads = old.threads),
        set: |c, v| v.integer(0, 1024).map(|n| c.threads = n),
        show: |c| Some(c.threads.to_string()),
    },
    Key {
        name: "max_clients_per_ip",
        restart: None,
        set: |c, v| v.integer(1, 1_000_000).map(|n| c.max_clients_per_ip = n),
        show: |c| Some(c.max_clients_per_ip.to_string()),
    },
    Key {
        name: "login_timeout_secs",
        restart: None,
        set: |c, v| v.integer(1, 86_400).map(|n| c.login_timeout_secs = n),
        show: |c| Some(c.login_timeout_secs.to_string()),
    },
    Key {
        name: "flood_burst",
        restart: None,
        set: |c, v| v.integer(0, 1_000_000).map(|n| c.flood_burst = n),
        show: |c| Some(c.flood_burst.to_string()),
    },
    Key {
        name: "flood_lines_per_sec",
        restart: None,
        set: |c, v| v.integer(0, 1_000_000).map(|n| c.flood_lines_per_sec = n),
        show: |c| Some(c.flood_lines_per_sec.to_string()),
    },
    Key {
        name: "send_queue_bytes",
        restart: None,
        // The lower bound is the smallest max_line_bytes plus the overhead; the check
        // against the actual max_line_bytes happens once the whole file is read.
        set: |c, v| {
            v.integer(64 + LINE_OVERHEAD as u64, 1 << 30)
                .map(|n| c.send_queue_bytes = n)
        },
        show: |c| Some(c.send_queue_bytes.to_string()),
    },
    Key {
        name: "send_queue_hard_bytes",
        restart: None,
        // Up to 4 × the soft bound's maximum, the value it defaults to; that it is
        // at least send_queue_bytes is checked once the whole file is read.
        set: |c, v| {
            v.integer(64 + LINE_OVERHEAD as u64, 4 << 30)
                .map(|n| c.send_queue_hard_bytes = Some(n))
        },
        show: |c| c.send_queue_hard_bytes.map(|n| n.to_string()),
    },
    Key {
        name: "send_queue_grace_secs",
        restart: None,
        // At least 1: the hub checks on its once-a-second tick, so 0 could not
        // mean "at once" anyway (the hard bound is for that).
        set: |c, v| v.integer(1, 3600).map(|n| c.send_queue_grace_secs = n),
        show: |c| Some(c.send_queue_grace_secs.to_string()),
    },
    Key {
        name: "history",
        restart: None,
        set: |c, v| v.integer(0, 1000).map(|n| c.history = n),
        show: |c| Some(c.history.to_string()),
    },
    Key {
        name: "max_rooms",
        restart: None,
        set: |c, v| v.integer(0, 1000).map(|n| c.max_rooms = n),
        show: |c| Some(c.max_rooms.to_string()),
    },
    Key {
        name: "presence_summary_above",
        restart: None,
        set: |c, v| {
            v.integer(0, 1_000_000)
                .map(|n| c.presence_summary_above = n)
        },
        show: |c| Some(c.presence_summary_above.to_string()),
    },
    Key {
        name: "presence_interval_secs",
        restart: None,
        set: |c, v| v.integer(1, 3600).map(|n| c.presence_interval_secs = n),
        show: |c| Some(c.presence_interval_secs.to_string()),
    },
    Key {
        name: "shutdown_grace_secs",
        restart: None,
        set: |c, v| v.integer(0, 3600).map(|n| c.shutdown_grace_secs = n),
        show: |c| Some(c.shutdown_grace_secs.to_string()),
    },
    Key {
        name: "stats_interval_secs",
        restart: None,
        set: |c, v| v.integer(0, 86_400).map(|n| c.stats_interval_secs = n),
        show: |c| Some(c.stats_interval_secs.to_string()),
    },
    Key {
        name: "control_socket",
        restart: Some(|new, old| new.control_socket = old.control_socket.clone()),
        set: |c, v| path(v, 107).map(|p| c.control_socket = Some(p)),
        show: |c| c.control_socket.as_deref().map(quote),
    },
    Key {
        name: "state_dir",
        restart: Some(|new, old| new.state_dir = old.state_dir.clone()),
        set: |c, v| path(v, 4095).map(|p| c.state_dir = Some(p)),
        show: |c| c.state_dir.as_deref().map(quote),
    },
    Key {
        name: "history_on_disk",
        restart: Some(|new, old| new.history_on_disk = old.history_on_disk),
        set: |c, v| v.boolean().map(|on| c.history_on_disk = on),
        show: |c| Some(c.history_on_disk.to_string()),
    },
    Key {
        name: "motd_file",
        restart: None,
        set: |c, v| path(v, 4095).map(|p| c.motd_file = Some(p)),
        show: |c| c.motd_file.as_deref().map(quote),
    },
    Key {
        name: "metrics_address",
        restart: Some(|new, old| new.metrics_address = old.metrics_address),
        set: |c, v| {
            let text = v.string()?;
            let addr = text.parse::<SocketAddr>().map_err(|_| {
                format!(
                    "expected an IP address and port such as \"127.0.0.1:9194\" or \"[::1]:9194\", got {text:?}"
                )
            })?;
            c.metrics_address = Some(addr);
            Ok(())
        },
        show: |c| c.metrics_address.map(|a| quote(&a.to_string())),
    },
];

/// `"+08:00"` as minutes east of UTC (480); `None` unless it is a sign, two
/// digits of hours up to 14, `:` and two digits of minutes below 60.
pub(crate) fn parse_utc_offset(text: &str) -> Option<i32> {
    let sign = match text.as_bytes().first()? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let (hours, minutes) = text[1..].split_once(':')?;
    let digits = |s: &str| s.len() == 2 && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(hours) || !digits(minutes) {
        return None;
    }
    let (hours, minutes): (i32, i32) = (hours.parse().ok()?, minutes.parse().ok()?);
    (hours <= 14 && minutes < 60).then_some(sign * (hours * 60 + minutes))
}

/// Minutes east of UTC as `"+08:00"`.
pub(crate) fn show_utc_offset(minutes: i32) -> String {
    let sign = if minutes < 0 { '-' } else { '+' };
    let minutes = minutes.unsigned_abs();
    format!("{sign}{:02}:{:02}", minutes / 60, minutes % 60)
}

/// The known key closest to `unknown`, if it is likely what the user meant: within two
/// edits, or one name a prefix of the other (`max_clients_per` for `max_clients_per_ip`).
pub(super) fn suggest(unknown: &str) -> Option<&'static str> {
    // Case and kebab-case are the commonest slips; they should not count as edits.
    let unknown = unknown.to_ascii_lowercase().replace('-', "_");
    KEYS.iter()
        .map(|key| (edit_distance(&unknown, key.name), key.name))
        .filter(|&(distance, name)| {
            distance <= 2 || name.starts_with(&unknown) || unknown.starts_with(name)
        })
        // `min_by_key` keeps the first of equals, so ties go to the earlier key in KEYS.
        .min_by_key(|&(distance, _)| distance)
        .map(|(_, name)| name)
}

/// Levenshtein distance: insertions, deletions and substitutions, one each.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    // Distances from a prefix of `a` to every prefix of `b`; one row at a time.
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    let mut current = vec![0; b.len() + 1];
    for (i, ca) in a.chars().enumerate() {
        current[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let substitute = previous[j] + usize::from(ca != cb);
            current[j + 1] = substitute.min(previous[j + 1] + 1).min(current[j] + 1);
        }
        std::mem::swap(&mut previous, &mut current);
    }
    previous[b.len()]
}

/// A path value: absolute (the daemon's working directory is nobody's business),
/// no NUL, at most `max` bytes (107 for a Unix socket's `sun_path`).
fn path(v: &Value<'_>, max: usize) -> Result<String, String> {
    let text = v.string()?;
    if !text.starts_with('/') {
        return Err(format!("expected an absolute path, got {text:?}"));
    }
    if text.contains('\0') {
        return Err(format!("a path cannot contain NUL, got {text:?}"));
    }
    if text.len() > max {
        return Err(format!(
            "expected a path of at most {max} bytes, got {} bytes",
            text.len()
        ));
    }
    Ok(text.to_owned())
}
