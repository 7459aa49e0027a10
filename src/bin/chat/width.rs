//! How many terminal columns a character takes, and where text lands when the
//! terminal wraps it: what the line editor needs to put the cursor in the right
//! column after wide (CJK) characters and combining marks.
//!
//! The tables are our own, written from the Unicode Character Database (15.1):
//! `WIDE` is the `W` and `F` classes of `EastAsianWidth.txt`, `ZERO` the
//! nonspacing and enclosing marks (`Mn`, `Me`) and the invisible format
//! characters (`Cf`) of `DerivedGeneralCategory.txt`, plus the Hangul medial and
//! final jamo, which join the syllable before them. Kept compact on purpose:
//! neighbouring ranges are merged across unassigned code points, the emoji
//! blocks are taken whole, and only the marks of the scripts most likely in a
//! chat room (Latin, Greek, Cyrillic, Hebrew, Arabic, Devanagari, Thai, the CJK
//! tone and kana voicing marks) are listed; any other mark counts as one column,
//! which at worst puts the cursor one column off after it.

/// Characters that take two columns.
const WIDE: &[(u32, u32)] = &[
    (0x1100, 0x115F),   // Hangul initial jamo
    (0x231A, 0x231B),   // watch, hourglass
    (0x2329, 0x232A),   // angle brackets
    (0x23E9, 0x23EC),   // media controls
    (0x23F0, 0x23F0),   // alarm clock
    (0x23F3, 0x23F3),   // hourglass with flowing sand
    (0x25FD, 0x25FE),   // medium small squares
    (0x2614, 0x2615),   // umbrella, hot beverage
    (0x2648, 0x2653),   // zodiac
    (0x267F, 0x267F),   // wheelchair
    (0x2693, 0x2693),   // anchor
    (0x26A1, 0x26A1),   // high voltage
    (0x26AA, 0x26AB),   // medium circles
    (0x26BD, 0x26BE),   // soccer ball, baseball
    (0x26C4, 0x26C5),   // snowman, sun behind cloud
    (0x26CE, 0x26CE),   // Ophiuchus
    (0x26D4, 0x26D4),   // no entry
    (0x26EA, 0x26EA),   // church
    (0x26F2, 0x26F3),   // fountain, flag in hole
    (0x26F5, 0x26F5),   // sailboat
    (0x26FA, 0x26FA),   // tent
    (0x26FD, 0x26FD),   // fuel pump
    (0x2705, 0x2705),   // check mark button
    (0x270A, 0x270B),   // raised fist, hand
    (0x2728, 0x2728),   // sparkles
    (0x274C, 0x274C),   // cross mark
    (0x274E, 0x274E),   // cross mark button
    (0x2753, 0x2755),   // question and exclamation marks
    (0x2757, 0x2757),   // heavy exclamation mark
    (0x2795, 0x2797),   // heavy plus, minus, division
    (0x27B0, 0x27B0),   // curly loop
    (0x27BF, 0x27BF),   // double curly loop
    (0x2B1B, 0x2B1C),   // large squares
    (0x2B50, 0x2B50),   // star
    (0x2B55, 0x2B55),   // heavy circle
    (0x2E80, 0x303E),   // CJK radicals, Kangxi, ideographic space and punctuation
    (0x3041, 0x3247),   // kana, Bopomofo, Hangul compatibility jamo, enclosed CJK
    (0x3250, 0x4DBF),   // enclosed CJK, CJK compatibility, CJK extension A
    (0x4E00, 0xA4CF),   // CJK unified ideographs, Yi
    (0xA960, 0xA97F),   // Hangul jamo extended A
    (0xAC00, 0xD7A3),   // Hangul syllables
    (0xF900, 0xFAFF),   // CJK compatibility ideographs
    (0xFE10, 0xFE19),   // vertical forms
    (0xFE30, 0xFE6F),   // CJK compatibility forms, small form variants
    (0xFF00, 0xFF60),   // fullwidth forms
    (0xFFE0, 0xFFE6),   // fullwidth signs
    (0x16FE0, 0x16FE4), // ideographic symbols
    (0x17000, 0x18D08), // Tangut, Khitan
    (0x1AFF0, 0x1B2FF), // kana extended and supplement, Nushu
    (0x1F004, 0x1F004), // mahjong red dragon
    (0x1F0CF, 0x1F0CF), // joker
    (0x1F18E, 0x1F18E), // AB button
    (0x1F191, 0x1F19A), // squared words
    (0x1F200, 0x1F265), // enclosed ideographic supplement
    (0x1F300, 0x1F64F), // pictographs, emoticons
    (0x1F680, 0x1F6FF), // transport and map symbols
    (0x1F7E0, 0x1F7F0), // large colored circles and squares
    (0x1F900, 0x1F9FF), // supplemental symbols and pictographs
    (0x1FA70, 0x1FAFF), // symbols and pictographs extended A
    (0x20000, 0x2FFFD), // CJK extensions B..F, compatibility supplement
    (0x30000, 0x3FFFD), // CJK extensions G, H
];

/// Characters that take no column of their own: they combine with the one before.
const ZERO: &[(u32, u32)] = &[
    (0x0300, 0x036F), // combining diacritical marks
    (0x0483, 0x0489), // Cyrillic combining marks
    (0x0591, 0x05BD), // Hebrew points
    (0x05BF, 0x05BF),
    (0x05C1, 0x05C2),
    (0x05C4, 0x05C5),
    (0x05C7, 0x05C7),
    (0x0610, 0x061A), // Arabic marks
    (0x061C, 0x061C), // Arabic letter mark
    (0x064B, 0x065F), // Arabic harakat
    (0x0670, 0x0670),
    (0x06D6, 0x06DC),
    (0x06DF, 0x06E4),
    (0x06E7, 0x06E8),
    (0x06EA, 0x06ED),
    (0x0900, 0x0902), // Devanagari signs
    (0x093A, 0x093A),
    (0x093C, 0x093C),
    (0x0941, 0x0948),
    (0x094D, 0x094D),
    (0x0951, 0x0957),
    (0x0962, 0x0963),
    (0x0E31, 0x0E31), // Thai vowels and tone marks
    (0x0E34, 0x0E3A),
    (0x0E47, 0x0E4E),
    (0x1160, 0x11FF),   // Hangul medial and final jamo
    (0x1AB0, 0x1AFF),   // combining diacritical marks extended
    (0x1DC0, 0x1DFF),   // combining diacritical marks supplement
    (0x200B, 0x200F),   // zero width space, joiners, direction marks
    (0x202A, 0x202E),   // direction embeddings
    (0x2060, 0x2064),   // word joiner, invisible operators
    (0x20D0, 0x20F0),   // combining marks for symbols
    (0x302A, 0x302D),   // ideographic tone marks
    (0x3099, 0x309A),   // kana voicing marks
    (0xFE00, 0xFE0F),   // variation selectors
    (0xFE20, 0xFE2F),   // combining half marks
    (0xFEFF, 0xFEFF),   // zero width no-break space
    (0xE0001, 0xE007F), // tags
    (0xE0100, 0xE01EF), // variation selectors supplement
];

fn listed(table: &[(u32, u32)], c: char) -> bool {
    let c = u32::from(c);
    table
        .binary_search_by(|&(first, last)| {
            if last < c {
                std::cmp::Ordering::Less
            } else if first > c {
                std::cmp::Ordering::Greater
            } else {
                std::cmp::Ordering::Equal
            }
        })
        .is_ok()
}

/// Columns `c` takes: 0 for combining marks and control characters, 2 for wide
/// ones, 1 otherwise.
pub fn char_width(c: char) -> usize {
    if c.is_control() || listed(ZERO, c) {
        0
    } else if listed(WIDE, c) {
        2
    } else {
        1
    }
}

/// Follows where characters land on a terminal `width` columns wide that wraps
/// long lines, starting from column 0: a character that does not fit in what is
/// left of a row starts the next one, as terminals do with a wide character in
/// the last column.
#[derive(Debug, Clone)]
pub struct Pen {
    width: usize,
    row: usize,
    col: usize,
}

impl Pen {
    pub fn new(width: usize) -> Pen {
        Pen {
            width: width.max(1),
            row: 0,
            col: 0,
        }
    }

    /// Places a character `columns` wide; returns the (row, column) it starts at.
    pub fn place(&mut self, columns: usize) -> (usize, usize) {
        if columns > 0 && self.col + columns > self.width {
            self.row += 1;
            self.col = 0;
        }
        let at = (self.row, self.col);
        self.col += columns;
        at
    }

    /// A carriage return: back to column 0 of the same row.
    pub fn carriage_return(&mut self) {
        self.col = 0;
    }

    /// Where the next character would start if it were one column wide: after a
    /// full row that is the start of the next one.
    pub fn next(&self) -> (usize, usize) {
        if self.col >= self.width {
            (self.row + 1, 0)
        } else {
            (self.row, self.col)
        }
    }

    /// Whether the last row is exactly full: the terminal then holds the cursor
    /// on its last column until the next character, so whoever wants the cursor
    /// on the next row must move it there.
    pub fn row_is_full(&self) -> bool {
        self.col >= self.width
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn str_width(text: &str) -> usize {
        text.chars().map(char_width).sum()
    }

    #[test]
    fn tables_are_sorted_and_disjoint() {
        for table in [WIDE, ZERO] {
            for pair in table.windows(2) {
                assert!(pair[0].0 <= pair[0].1, "{:x?}", pair[0]);
                assert!(pair[0].1 < pair[1].0, "{:x?}", pair);
            }
        }
    }

    #[test]
    fn widths() {
        assert_eq!(str_width("hello"), 5);
        assert_eq!(str_width("你好，小明"), 10);
        assert_eq!(str_width("こんにちは"), 10);
        assert_eq!(str_width("한국어"), 6);
        assert_eq!(str_width("ＡＢＣ"), 6);
        assert_eq!(str_width("cafe\u{301}"), 4);
        assert_eq!(str_width("\u{1F600}"), 2);
        assert_eq!(str_width("Ελληνικά русский"), 16);
        assert_eq!(char_width('\u{7}'), 0);
        assert_eq!(char_width('\u{303F}'), 1); // the half-width ideographic space
        assert_eq!(char_width('\u{3099}'), 0);
        assert_eq!(char_width('\u{20000}'), 2);
    }

    #[test]
    fn wide_character_that_does_not_fit_starts_the_next_row() {
        let mut pen = Pen::new(5);
        assert_eq!(pen.place(2), (0, 0));
        assert_eq!(pen.place(2), (0, 2));
        assert_eq!(pen.place(2), (1, 0)); // column 4 holds only one
        assert_eq!(pen.next(), (1, 2));
        assert!(!pen.row_is_full());
    }

    #[test]
    fn full_row_moves_next_position_down() {
        let mut pen = Pen::new(3);
        for _ in 0..3 {
            pen.place(1);
        }
        assert!(pen.row_is_full());
        assert_eq!(pen.next(), (1, 0));
        assert_eq!(pen.place(0), (0, 3)); // a mark joins the last character
        assert_eq!(pen.place(1), (1, 0));
        pen.carriage_return();
        assert_eq!(pen.next(), (1, 0));
    }
}
