//! Durations as operators type them (`30m`, `12h`, `7d`, `1h30m`) and as answers
//! show them.

use std::time::Duration;

/// The longest ban or mute duration accepted: ten years. Longer is what leaving
/// the duration out (permanent) is for, and it keeps every `until` representable.
pub const MAX_DURATION: Duration = Duration::from_secs(3650 * 86_400);

/// Parses a duration like `45s`, `30m`, `12h`, `7d`, `2w`, or several of them in
/// a row (`1h30m`), up to [`MAX_DURATION`].
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let bad = || {
        format!(
            "bad duration {text:?}: expected a number and a unit (s, m, h, d or w), like 30m or 12h"
        )
    };
    let mut rest = text;
    let mut total: u64 = 0;
    if rest.is_empty() {
        return Err(bad());
    }
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        let (number, after) = rest.split_at(digits);
        let mut units = after.chars();
        let unit = match units.next() {
            Some('s') => 1,
            Some('m') => 60,
            Some('h') => 3600,
            Some('d') => 86_400,
            Some('w') => 7 * 86_400,
            _ => return Err(bad()),
        };
        if number.is_empty() {
            return Err(bad());
        }
        // All digits: failing to parse means more than a u64 holds.
        let number: u64 = number.parse().map_err(|_| too_long(text))?;
        total = number
            .checked_mul(unit)
            .and_then(|secs| total.checked_add(secs))
            .ok_or_else(|| too_long(text))?;
        rest = units.as_str();
    }
    if total == 0 {
        return Err(format!("bad duration {text:?}: must be more than zero"));
    }
    let duration = Duration::from_secs(total);
    if duration > MAX_DURATION {
        return Err(too_long(text));
    }
    Ok(duration)
}

fn too_long(text: &str) -> String {
    format!(
        "bad duration {text:?}: at most {} (leave it out for no end)",
        format_duration(MAX_DURATION)
    )
}

/// Formats a duration in the units [`parse_duration`] reads, largest first,
/// to the second: `2w`, `1h30m`, `45s`; `0s` for nothing.
pub fn format_duration(duration: Duration) -> String {
    let mut secs = duration.as_secs();
    if secs == 0 {
        return "0s".to_owned();
    }
    let mut out = String::new();
    for (unit, name) in [
        (7 * 86_400, 'w'),
        (86_400, 'd'),
        (3600, 'h'),
        (60, 'm'),
        (1, 's'),
    ] {
        if secs >= unit {
            out.push_str(&(secs / unit).to_string());
            out.push(name);
            secs %= unit;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_rng::Rng;

    #[test]
    fn durations_parse_in_every_unit() {
        for (text, secs) in [
            ("45s", 45),
            ("30m", 1800),
            ("12h", 43_200),
            ("7d", 604_800),
            ("2w", 1_209_600),
            ("1h30m", 5400),
            ("1w2d3h4m5s", 788_645),
            ("90m", 5400),
            ("3650d", 3650 * 86_400),
        ] {
            assert_eq!(
                parse_duration(text),
                Ok(Duration::from_secs(secs)),
                "{text}"
            );
        }
    }

    #[test]
    fn bad_durations_are_refused() {
        for bad in [
            "", "30", "m", "30x", "30M", "-5m", "+5m", "1.5h", " 5m", "5m ", "5 m", "h5",
        ] {
            assert_eq!(
                parse_duration(bad).unwrap_err(),
                format!(
                    "bad duration {bad:?}: expected a number and a unit (s, m, h, d or w), like 30m or 12h"
                )
            );
        }
        assert_eq!(
            parse_duration("0m").unwrap_err(),
            "bad duration \"0m\": must be more than zero"
        );
        for too_long in [
            "3651d",
            "522w",
            "99999999999999999999w",
            "18446744073709551615w",
        ] {
            assert_eq!(
                parse_duration(too_long).unwrap_err(),
                format!("bad duration {too_long:?}: at most 521w3d (leave it out for no end)")
            );
        }
    }

    #[test]
    fn durations_format_in_the_units_they_parse() {
        assert_eq!(format_duration(Duration::ZERO), "0s");
        assert_eq!(format_duration(Duration::from_millis(999)), "0s");
        assert_eq!(format_duration(Duration::from_secs(45)), "45s");
        assert_eq!(format_duration(Duration::from_secs(5400)), "1h30m");
        assert_eq!(format_duration(Duration::from_secs(1_209_600)), "2w");
        assert_eq!(format_duration(Duration::from_secs(788_645)), "1w2d3h4m5s");
        let mut rng = Rng(0x5eed);
        for _ in 0..1000 {
            let secs = 1 + rng.bits() % MAX_DURATION.as_secs();
            let d = Duration::from_secs(secs);
            assert_eq!(parse_duration(&format_duration(d)), Ok(d));
        }
    }
}
