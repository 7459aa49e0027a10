//! The summary of joins and leaves that big rooms get instead of one line each.

use super::Texts;

impl Texts {
    /// `* 37 joined, 12 left (15,012 online)` in the lobby (`here` there,
    /// `online` in all: `15,012 here, 15,500 online` when they differ); a
    /// count of 0 is left out.
    pub fn presence(&self, joined: u64, left: u64, here: usize, online: usize) -> String {
        if self.zh() {
            let mut parts = Vec::new();
            if joined > 0 {
                parts.push(format!("{joined}人上线"));
            }
            if left > 0 {
                parts.push(format!("{left}人下线"));
            }
            format!(
                "* {}（{}）\r\n",
                parts.join("，"),
                self.lobby_count(here, online)
            )
        } else {
            let mut parts = Vec::new();
            if joined > 0 {
                parts.push(format!("{} joined", grouped(joined)));
            }
            if left > 0 {
                parts.push(format!("{} left", grouped(left)));
            }
            let count = if here == online {
                format!("{} online", grouped(here as u64))
            } else {
                format!(
                    "{} here, {} online",
                    grouped(here as u64),
                    grouped(online as u64)
                )
            };
            format!("* {} ({count})\r\n", parts.join(", "))
        }
    }
}

/// `15012` as `15,012`.
pub(super) fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::text::{EN, ZH};

    #[test]
    fn summaries_in_both_languages() {
        assert_eq!(
            EN.presence(37, 12, 15_012, 15_012),
            "* 37 joined, 12 left (15,012 online)\r\n"
        );
        assert_eq!(EN.presence(1, 0, 101, 101), "* 1 joined (101 online)\r\n");
        assert_eq!(
            EN.presence(0, 1_234, 999, 999),
            "* 1,234 left (999 online)\r\n"
        );
        assert_eq!(
            EN.presence(0, 1, 1_500, 2_000),
            "* 1 left (1,500 here, 2,000 online)\r\n"
        );
        assert_eq!(
            ZH.presence(37, 12, 15_012, 15_012),
            "* 37人上线，12人下线（当前15012人在线）\r\n"
        );
    }

    #[test]
    fn numbers_are_grouped_by_thousands() {
        for (n, text) in [
            (0, "0"),
            (999, "999"),
            (1000, "1,000"),
            (1_234_567, "1,234,567"),
        ] {
            assert_eq!(grouped(n), text);
        }
    }
}
