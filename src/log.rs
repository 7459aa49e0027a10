//! Log lines on stderr: one line per event, filtered by `log_level`.
//!
//! Two formats, chosen once at start-up. Under systemd (`JOURNAL_STREAM` set) each
//! line starts with a `<N>` syslog priority and has no timestamp, because journald
//! adds its own and reads the priority from the prefix. Anywhere else a line starts
//! with an RFC 3339 UTC timestamp and the level, so a plain `2>chatd.log` is readable.

use std::fmt;
use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::config::LogLevel;

/// The current level as a number (see `level_number`); Info until `init` runs.
static LEVEL: AtomicU8 = AtomicU8::new(2);
/// Whether lines get journald priority prefixes instead of timestamps.
static JOURNAL: AtomicBool = AtomicBool::new(false);

fn level_number(level: LogLevel) -> u8 {
    match level {
        LogLevel::Error => 0,
        LogLevel::Warn => 1,
        LogLevel::Info => 2,
        LogLevel::Debug => 3,
    }
}

/// Chooses the format (journald prefixes when `JOURNAL_STREAM` names stderr) and the level.
pub fn init(level: LogLevel) {
    JOURNAL.store(crate::systemd::stderr_is_journal(), Ordering::Relaxed);
    set_level(level);
}

/// Writes an error to stderr outside the log: before logging starts (a bad
/// config file, a bad command line) or from `chatd ctl`. Under journald each line
/// gets the error priority `<3>`, so that `journalctl -p err` shows the reason and
/// not only systemd's "Failed with result".
pub fn error_line(text: &str) {
    let journal = crate::systemd::stderr_is_journal();
    let mut out = String::new();
    for line in text.trim_end_matches('\n').lines() {
        if journal {
            out.push_str("<3>");
        }
        out.push_str(line);
        out.push('\n');
    }
    // Nothing is left to tell if stderr itself is gone.
    let _ = std::io::Write::write_all(&mut std::io::stderr().lock(), out.as_bytes());
}

/// Changes the level at run time (config reload).
pub fn set_level(level: LogLevel) {
    LEVEL.store(level_number(level), Ordering::Relaxed);
}

/// Whether a line at `level` would be written; lets callers skip building it.
pub fn enabled(level: LogLevel) -> bool {
    level_number(level) <= LEVEL.load(Ordering::Relaxed)
}

/// Writes one line at `level`. Use the `error!`/`warn!`/`info!`/`debug!` macros.
pub fn write(level: LogLevel, args: fmt::Arguments<'_>) {
    if !enabled(level) {
        return;
    }
    let line = if JOURNAL.load(Ordering::Relaxed) {
        let priority = match level {
            LogLevel::Error => 3,
            LogLevel::Warn => 4,
            LogLevel::Info => 6,
            LogLevel::Debug => 7,
        };
        format!("<{priority}>{args}\n")
    } else {
        let name = match level {
            LogLevel::Error => "ERROR",
            LogLevel::Warn => "WARN ",
            LogLevel::Info => "INFO ",
            LogLevel::Debug => "DEBUG",
        };
        format!("{} {name} {args}\n", rfc3339_now())
    };
    // A log line that cannot be written (stderr closed) has nowhere else to go;
    // the daemon must keep serving, so the error is dropped.
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
}

/// Logs at error level.
#[macro_export]
macro_rules! error { ($($t:tt)*) => { $crate::log::write($crate::config::LogLevel::Error, format_args!($($t)*)) } }
/// Logs at warn level.
#[macro_export]
macro_rules! warn { ($($t:tt)*) => { $crate::log::write($crate::config::LogLevel::Warn, format_args!($($t)*)) } }
/// Logs at info level.
#[macro_export]
macro_rules! info { ($($t:tt)*) => { $crate::log::write($crate::config::LogLevel::Info, format_args!($($t)*)) } }
/// Logs at debug level.
#[macro_export]
macro_rules! debug { ($($t:tt)*) => { $crate::log::write($crate::config::LogLevel::Debug, format_args!($($t)*)) } }

/// The current time as `2026-11-24T07:30:19.123Z`.
fn rfc3339_now() -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    format_utc(now.as_secs(), now.subsec_millis())
}

/// Formats seconds since the Unix epoch as an RFC 3339 UTC time with milliseconds.
fn format_utc(secs: u64, millis: u32) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to a proleptic Gregorian (year, month, day): Howard
/// Hinnant's well-known algorithm, so we need no date crate for one timestamp.
pub(crate) fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

// RFC 3339 UTC timestamps to the second, as the ban file keeps them: the same
// calendar as the log's, in both directions.

/// Formats seconds since the Unix epoch as `2026-12-03T10:00:00Z`.
pub(crate) fn format_utc_seconds(secs: u64) -> String {
    let mut text = format_utc(secs, 0);
    // `…:00.000Z` -> `…:00Z`: the ban file needs no milliseconds.
    text.replace_range(19..23, "");
    text
}

/// Parses `2026-12-03T10:00:00Z` (exactly that shape: UTC, whole seconds, years
/// 1970 to 9999) into seconds since the Unix epoch; None when it is anything else.
pub(crate) fn parse_utc_seconds(text: &str) -> Option<u64> {
    let b = text.as_bytes();
    let shape_ok = b.len() == 20
        && [4, 7].iter().all(|&i| b[i] == b'-')
        && b[10] == b'T'
        && [13, 16].iter().all(|&i| b[i] == b':')
        && b[19] == b'Z';
    if !shape_ok {
        return None;
    }
    // Every field is plain digits; `u64::from_str` alone would accept a `+`.
    let number = |from: usize, to: usize| -> Option<u64> {
        let digits = text.get(from..to)?;
        digits
            .bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| digits.parse().ok())
            .flatten()
    };
    let (year, month, day) = (number(0, 4)?, number(5, 7)?, number(8, 10)?);
    let (hour, minute, second) = (number(11, 13)?, number(14, 16)?, number(17, 19)?);
    if year < 1970 || !(1..=12).contains(&month) || hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let days = days_from_civil(year as i64, month as u32, day as u32)?;
    Some(days * 86_400 + hour * 3600 + minute * 60 + second)
}

/// The inverse of [`civil_from_days`] (Hinnant's `days_from_civil`), for dates from
/// 1970 on; None for a day the month does not have.
fn days_from_civil(y: i64, m: u32, d: u32) -> Option<u64> {
    let leap = y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
    let month_days = match m {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    };
    if d == 0 || d > month_days {
        return None;
    }
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = i64::from(if m > 2 { m - 3 } else { m + 9 });
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    u64::try_from(era * 146_097 + doe - 719_468).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_epoch_and_known_dates() {
        assert_eq!(format_utc(0, 0), "1970-01-01T00:00:00.000Z");
        // 2000-02-29 is a leap day in a century year divisible by 400.
        assert_eq!(format_utc(951_782_400, 5), "2000-02-29T00:00:00.005Z");
        assert_eq!(format_utc(1_795_505_419, 999), "2026-11-24T07:30:19.999Z");
        assert_eq!(format_utc(4_107_542_399, 0), "2100-02-28T23:59:59.000Z");
    }

    #[test]
    fn utc_seconds_round_trip() {
        for secs in [
            0,
            951_782_400,
            1_795_505_419,
            4_107_542_399,
            253_402_300_799,
        ] {
            let text = format_utc_seconds(secs);
            assert_eq!(parse_utc_seconds(&text), Some(secs), "{text}");
        }
        assert_eq!(format_utc_seconds(1_795_505_419), "2026-11-24T07:30:19Z");
        // Every day of a leap year and of a common year maps back to itself.
        for day in 0..(366 + 365) {
            let secs = 946_684_800 + day * 86_400 + 3661; // from 2000-01-01T01:01:01
            assert_eq!(parse_utc_seconds(&format_utc_seconds(secs)), Some(secs));
        }
    }

    #[test]
    fn utc_seconds_rejects_other_shapes() {
        for bad in [
            "",
            "2026-11-24T07:30:19",
            "2026-11-24T07:30:19.000Z",
            "2026-11-24 07:30:19Z",
            "2026-11-24T07:30:19+00:00",
            "2026-13-01T00:00:00Z",
            "2026-00-01T00:00:00Z",
            "2026-02-29T00:00:00Z",
            "2026-04-31T00:00:00Z",
            "2026-01-00T00:00:00Z",
            "2026-01-01T24:00:00Z",
            "2026-01-01T00:60:00Z",
            "2026-01-01T00:00:60Z",
            "1969-12-31T23:59:59Z",
            "+026-01-01T00:00:00Z",
            "2026-+1-01T00:00:00Z",
            "２026-01-01T00:00:00Z",
        ] {
            assert_eq!(parse_utc_seconds(bad), None, "{bad:?}");
        }
        assert!(parse_utc_seconds("2024-02-29T00:00:00Z").is_some());
    }

    #[test]
    fn level_filter_orders_levels() {
        set_level(LogLevel::Warn);
        assert!(enabled(LogLevel::Error));
        assert!(enabled(LogLevel::Warn));
        assert!(!enabled(LogLevel::Info));
        set_level(LogLevel::Info);
    }
}
