//! How a delivered line is shown to one recipient: the time it was said in
//! front (`/timestamps on`), the server's colors taken out (`/colors off`), and
//! the mark of a line that names its reader (a bell, bold). Pure functions over
//! bytes; the hub's delivery calls them only for members who see lines their
//! own way, so most deliveries share one block untouched.

/// The terminal bell, before a line that names its reader and before a
/// private message.
pub const BEL: u8 = 0x07;

/// `[14:05] ` for a line said at `said` (Unix seconds) in the zone `offset`
/// minutes east of UTC; `[2026-12-02 14:05] ` when that was another day than
/// `now` there.
pub fn stamp(said: u64, now: u64, offset: i32) -> String {
    let local = |secs: u64| secs as i64 + i64::from(offset) * 60;
    let (said, today) = (local(said), local(now).div_euclid(86_400));
    let (day, secs) = (said.div_euclid(86_400), said.rem_euclid(86_400));
    let clock = format!("{:02}:{:02}", secs / 3600, secs % 3600 / 60);
    if day == today {
        format!("[{clock}] ")
    } else {
        let (y, m, d) = crate::log::civil_from_days(day);
        format!("[{y:04}-{m:02}-{d:02} {clock}] ")
    }
}

/// `bytes` without the color escapes the server adds (`ESC [ … m`); user text
/// never holds an escape (it is sanitized), so nothing of theirs is touched.
pub fn strip_colors(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == 0x1b && bytes.get(i + 1) == Some(&b'[') {
            let mut j = i + 2;
            while j < bytes.len() && (bytes[j].is_ascii_digit() || bytes[j] == b';') {
                j += 1;
            }
            if bytes.get(j) == Some(&b'm') {
                i = j + 1;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    out
}

/// A line that names its reader: a bell first (`bell`), and in bold (`bold`).
pub fn marked(line: &[u8], bell: bool, bold: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(line.len() + 12);
    if bell {
        out.push(BEL);
    }
    if bold {
        let body = line.strip_suffix(b"\r\n").unwrap_or(line);
        out.extend_from_slice(b"\x1b[1m");
        out.extend_from_slice(body);
        out.extend_from_slice(b"\x1b[22m\r\n");
    } else {
        out.extend_from_slice(line);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_say_the_local_minute_and_the_day_when_it_is_another() {
        // 2026-12-03 10:05:59 UTC.
        let t = 1_796_292_359;
        assert_eq!(stamp(t, t, 0), "[10:05] ");
        assert_eq!(stamp(t, t, 480), "[18:05] ");
        assert_eq!(stamp(t, t, -330), "[04:35] ");
        // Said yesterday, there: the date too.
        assert_eq!(stamp(t - 86_400, t, 0), "[2026-12-02 10:05] ");
        // 14:00 east of UTC, it is the next day already; said and now agree.
        assert_eq!(stamp(t, t, 14 * 60), "[00:05] ");
    }

    #[test]
    fn strip_colors_takes_out_sgr_and_nothing_else() {
        assert_eq!(
            strip_colors(b"> \x1b[33mbob\x1b[39m: a [1m b\r\n"),
            b"> bob: a [1m b\r\n"
        );
        assert_eq!(strip_colors(b"\x1b[1;33mx\x1b[m"), b"x");
        // Not an SGR: left alone (the server sends no other escape).
        assert_eq!(strip_colors(b"\x1b[2Jx"), b"\x1b[2Jx");
    }

    #[test]
    fn marked_lines_ring_and_are_bold_when_asked() {
        assert_eq!(
            marked(b"> a: bob\r\n", true, true),
            b"\x07\x1b[1m> a: bob\x1b[22m\r\n"
        );
        assert_eq!(marked(b"> a: bob\r\n", true, false), b"\x07> a: bob\r\n");
        assert_eq!(marked(b"> a: bob\r\n", false, false), b"> a: bob\r\n");
    }
}
