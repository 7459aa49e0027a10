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

/// Splits what follows a `ban` or `mute` target, `[DURATION] [REASON]`: a
/// first word that looks like a duration (it starts with a digit, or with a
/// sign and a digit) is one, and must parse; anything else is the reason, and
/// there is no duration (for good). So `-1h`, `0m`, `1hr` or `30M` is refused
/// with a hint rather than taken as the reason of a permanent entry.
pub fn split_duration(rest: &str) -> Result<(Option<Duration>, &str), String> {
    let rest = rest.trim_start_matches([' ', '\t']);
    let (word, after) = rest.split_once([' ', '\t']).unwrap_or((rest, ""));
    let mut chars = word.chars();
    let looks_like_one = match chars.next() {
        Some(c) if c.is_ascii_digit() => true,
        Some('+' | '-') => chars.next().is_some_and(|c| c.is_ascii_digit()),
        _ => false,
    };
    if !looks_like_one {
        return Ok((None, rest));
    }
    if let Some(unsigned) = word.strip_prefix(['+', '-']) {
        return Err(format!(
            "bad duration {word:?}: a duration has no sign (like {unsigned})"
        ));
    }
    let duration = parse_duration(word).map_err(|err| match suggest(word) {
        Some(meant) => format!("bad duration {word:?}: did you mean {meant}?"),
        None => err,
    })?;
    Ok((Some(duration), after.trim_matches([' ', '\t'])))
}

/// What a duration written with a unit word or in capitals (`1hr`, `30M`,
/// `2days`) probably means (`1h`, `30m`, `2d`); None when nothing fits.
fn suggest(word: &str) -> Option<String> {
    let digits = word.bytes().take_while(u8::is_ascii_digit).count();
    let (number, unit) = word.split_at(digits);
    let unit = match unit.to_ascii_lowercase().as_str() {
        "s" | "sec" | "secs" | "second" | "seconds" => "s",
        "m" | "min" | "mins" | "minute" | "minutes" => "m",
        "h" | "hr" | "hrs" | "hour" | "hours" => "h",
        "d" | "day" | "days" => "d",
        "w" | "wk" | "wks" | "week" | "weeks" => "w",
        _ => return None,
    };
    let meant = format!("{number}{unit}");
    (meant != word && parse_duration(&meant).is_ok()).then_some(meant)
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
    fn a_first_word_that_looks_like_a_duration_must_be_one() {
        let split = |rest| split_duration(rest);
        assert_eq!(split(""), Ok((None, "")));
        assert_eq!(split("spam and eggs"), Ok((None, "spam and eggs")));
        assert_eq!(
            split("12h  spam and eggs "),
            Ok((Some(Duration::from_secs(43_200)), "spam and eggs"))
        );
        assert_eq!(split("7d"), Ok((Some(Duration::from_secs(604_800)), "")));
        // A sign not followed by a digit is a word like any other.
        assert_eq!(split("-- spam"), Ok((None, "-- spam")));
        assert_eq!(split("+ spam"), Ok((None, "+ spam")));
        for (rest, error) in [
            (
                "-1h",
                "bad duration \"-1h\": a duration has no sign (like 1h)",
            ),
            (
                "+30m why",
                "bad duration \"+30m\": a duration has no sign (like 30m)",
            ),
            ("0m", "bad duration \"0m\": must be more than zero"),
            ("1hr spam", "bad duration \"1hr\": did you mean 1h?"),
            ("30M", "bad duration \"30M\": did you mean 30m?"),
            ("2days", "bad duration \"2days\": did you mean 2d?"),
            ("10Minutes", "bad duration \"10Minutes\": did you mean 10m?"),
            (
                "3 strikes",
                "bad duration \"3\": expected a number and a unit (s, m, h, d or w), like 30m or 12h",
            ),
            (
                "12x",
                "bad duration \"12x\": expected a number and a unit (s, m, h, d or w), like 30m or 12h",
            ),
            (
                "0hr",
                "bad duration \"0hr\": expected a number and a unit (s, m, h, d or w), like 30m or 12h",
            ),
        ] {
            assert_eq!(split(rest), Err(error.to_owned()), "{rest:?}");
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
