//! The input line being typed: its text and cursor, the keys that edit it, the
//! earlier lines Up and Down bring back, and Tab completion. Pure: it knows
//! nothing of the terminal, so every key is tested here on plain values.
//!
//! The cursor always sits between characters as the terminal shows them: a
//! combining mark belongs to the character before it, so Left, Right and
//! Backspace move over or delete both together.

use crate::keys::Key;
use crate::names::Names;
use crate::width::char_width;

/// Earlier lines kept for Up and Down.
const MAX_HISTORY: usize = 1000;

/// What the terminal side should do after a key.
#[derive(Debug, PartialEq, Eq)]
pub enum Action {
    /// Nothing changed.
    Nothing,
    /// The line or the cursor changed: draw it again.
    Redraw,
    /// The key could not do anything: ring the bell.
    Bell,
    /// Enter: send this line (the editor is empty again).
    Submit(String),
    /// Ctrl-C.
    Interrupt,
    /// Ctrl-D on an empty line: end of input.
    EndOfInput,
}

/// A Tab completion in progress: repeated Tabs cycle through `candidates`.
#[derive(Debug)]
struct Completion {
    /// Where the completed word starts.
    start: usize,
    /// Where the inserted text ends (the cursor).
    end: usize,
    candidates: Vec<String>,
    index: usize,
    /// Put after the candidate: `": "` for a nickname that starts the line.
    suffix: &'static str,
}

/// The line editor's state.
#[derive(Debug)]
pub struct Editor {
    text: Vec<char>,
    cursor: usize,
    /// Longest line in UTF-8 bytes; typing more rings the bell.
    max_bytes: usize,
    history: Vec<String>,
    /// The history entry shown, while Up/Down browse.
    browsing: Option<usize>,
    /// The line that was being typed when browsing began.
    draft: Vec<char>,
    completion: Option<Completion>,
}

impl Editor {
    pub fn new(max_bytes: usize) -> Editor {
        Editor {
            text: Vec::new(),
            cursor: 0,
            max_bytes,
            history: Vec::new(),
            browsing: None,
            draft: Vec::new(),
            completion: None,
        }
    }

    pub fn text(&self) -> &[char] {
        &self.text
    }

    /// The cursor as an index into [`text`](Self::text).
    pub fn cursor(&self) -> usize {
        self.cursor
    }

    /// Empties the line (after Ctrl-C), leaving the history as it is.
    pub fn clear(&mut self) {
        self.text.clear();
        self.cursor = 0;
        self.browsing = None;
        self.completion = None;
    }

    /// Applies one key.
    pub fn apply(&mut self, key: Key, names: &Names) -> Action {
        if key != Key::Tab {
            self.completion = None;
        }
        match key {
            Key::Char(c) => self.insert(c),
            Key::Enter => self.submit(),
            Key::Tab => self.complete(names),
            Key::Backspace | Key::Ctrl(b'h') => {
                let start = self.previous_boundary(self.cursor);
                self.delete(start, self.cursor)
            }
            Key::Delete => self.delete(self.cursor, self.next_boundary(self.cursor)),
            Key::Ctrl(b'd') if self.text.is_empty() => Action::EndOfInput,
            Key::Ctrl(b'd') => self.delete(self.cursor, self.next_boundary(self.cursor)),
            Key::Left | Key::Ctrl(b'b') => self.move_to(self.previous_boundary(self.cursor)),
            Key::Right | Key::Ctrl(b'f') => self.move_to(self.next_boundary(self.cursor)),
            Key::Home | Key::Ctrl(b'a') => self.move_to(0),
            Key::End | Key::Ctrl(b'e') => self.move_to(self.text.len()),
            Key::Ctrl(b'u') => self.delete(0, self.cursor),
            Key::Ctrl(b'k') => self.delete(self.cursor, self.text.len()),
            Key::Ctrl(b'w') => self.delete(self.word_start(), self.cursor),
            Key::Up | Key::Ctrl(b'p') => self.older(),
            Key::Down | Key::Ctrl(b'n') => self.newer(),
            Key::Ctrl(b'c') => Action::Interrupt,
            Key::Ctrl(b'l') => Action::Redraw,
            Key::Ctrl(_) => Action::Nothing,
        }
    }

    fn insert(&mut self, c: char) -> Action {
        let bytes: usize = self.text.iter().map(|c| c.len_utf8()).sum();
        if bytes + c.len_utf8() > self.max_bytes {
            return Action::Bell;
        }
        self.text.insert(self.cursor, c);
        self.cursor += 1;
        Action::Redraw
    }

    fn submit(&mut self) -> Action {
        let line: String = self.text.iter().collect();
        let repeated = self.history.last() == Some(&line);
        if !line.is_empty() && !repeated {
            if self.history.len() == MAX_HISTORY {
                self.history.remove(0);
            }
            self.history.push(line.clone());
        }
        self.clear();
        Action::Submit(line)
    }

    fn delete(&mut self, start: usize, end: usize) -> Action {
        if start >= end {
            return Action::Bell;
        }
        self.text.drain(start..end);
        self.cursor = start;
        Action::Redraw
    }

    fn move_to(&mut self, position: usize) -> Action {
        if position == self.cursor {
            return Action::Nothing;
        }
        self.cursor = position;
        Action::Redraw
    }

    /// The start of the character (with its marks) before `at`.
    fn previous_boundary(&self, at: usize) -> usize {
        let mut at = at.saturating_sub(1);
        while at > 0 && char_width(self.text[at]) == 0 {
            at -= 1;
        }
        at
    }

    /// The end of the character (with its marks) at `at`.
    fn next_boundary(&self, at: usize) -> usize {
        let mut at = (at + 1).min(self.text.len());
        while at < self.text.len() && char_width(self.text[at]) == 0 {
            at += 1;
        }
        at
    }

    /// Ctrl-W's reach: back over spaces, then over the word before them.
    fn word_start(&self) -> usize {
        let mut at = self.cursor;
        while at > 0 && self.text[at - 1].is_whitespace() {
            at -= 1;
        }
        while at > 0 && !self.text[at - 1].is_whitespace() {
            at -= 1;
        }
        at
    }

    fn older(&mut self) -> Action {
        let index = match self.browsing {
            None if self.history.is_empty() => return Action::Bell,
            None => {
                self.draft = std::mem::take(&mut self.text);
                self.history.len() - 1
            }
            Some(0) => return Action::Bell,
            Some(index) => index - 1,
        };
        self.show_history(index)
    }

    fn newer(&mut self) -> Action {
        match self.browsing {
            None => Action::Bell,
            Some(index) if index + 1 < self.history.len() => self.show_history(index + 1),
            Some(_) => {
                self.browsing = None;
                self.text = std::mem::take(&mut self.draft);
                self.cursor = self.text.len();
                Action::Redraw
            }
        }
    }

    fn show_history(&mut self, index: usize) -> Action {
        self.browsing = Some(index);
        self.text = self.history[index].chars().collect();
        self.cursor = self.text.len();
        Action::Redraw
    }

    /// Tab: completes the word before the cursor, a command name at the start of
    /// the line, a room after `#` or `/join`, or a nickname anywhere; Tab again
    /// offers the next candidate.
    fn complete(&mut self, names: &Names) -> Action {
        if let Some(mut completion) = self.completion.take() {
            completion.index = (completion.index + 1) % completion.candidates.len();
            self.fill(&mut completion);
            self.completion = Some(completion);
            return Action::Redraw;
        }
        let mut start = self.cursor;
        while start > 0 && !self.text[start - 1].is_whitespace() {
            start -= 1;
        }
        let word: String = self.text[start..self.cursor].iter().collect();
        let before: String = self.text[..start].iter().collect();
        let (candidates, suffix) = if start == 0 && word.starts_with('/') {
            (names.commands_starting_with(&word), " ")
        } else if word.starts_with('#') || before.trim_end().eq_ignore_ascii_case("/join") {
            // A room: `#ru`, or `/join ru`.
            (names.rooms_starting_with(&word), " ")
        } else if word.is_empty() {
            (Vec::new(), "")
        } else if start == 0 {
            (names.nicks_starting_with(&word), ": ")
        } else {
            (names.nicks_starting_with(&word), " ")
        };
        if candidates.is_empty() {
            return Action::Bell;
        }
        let mut completion = Completion {
            start,
            end: self.cursor,
            candidates,
            index: 0,
            suffix,
        };
        self.fill(&mut completion);
        self.completion = Some(completion);
        Action::Redraw
    }

    /// Puts the current candidate in place of the word being completed.
    fn fill(&mut self, completion: &mut Completion) {
        let candidate = &completion.candidates[completion.index];
        let new: Vec<char> = candidate.chars().chain(completion.suffix.chars()).collect();
        let end = completion.start + new.len();
        self.text.splice(completion.start..completion.end, new);
        completion.end = end;
        self.cursor = end;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn type_keys(editor: &mut Editor, names: &Names, keys: &[Key]) -> Vec<Action> {
        keys.iter().map(|&k| editor.apply(k, names)).collect()
    }

    fn type_text(editor: &mut Editor, text: &str) {
        for c in text.chars() {
            editor.apply(Key::Char(c), &Names::default());
        }
    }

    fn line(editor: &Editor) -> String {
        editor.text().iter().collect()
    }

    #[test]
    fn editing_in_the_middle_of_cjk_text() {
        let names = Names::default();
        let mut e = Editor::new(100);
        type_text(&mut e, "你好，小明");
        type_keys(&mut e, &names, &[Key::Left, Key::Left]);
        type_text(&mut e, "李");
        assert_eq!(line(&e), "你好，李小明");
        assert_eq!(e.cursor(), 4);
        type_keys(&mut e, &names, &[Key::Backspace, Key::Backspace]);
        assert_eq!(line(&e), "你好小明");
        type_keys(&mut e, &names, &[Key::Home, Key::Delete, Key::End]);
        assert_eq!(line(&e), "好小明");
        assert_eq!(e.cursor(), 3);
    }

    #[test]
    fn combining_marks_move_with_their_character() {
        let names = Names::default();
        let mut e = Editor::new(100);
        type_text(&mut e, "cafe\u{301}!");
        type_keys(&mut e, &names, &[Key::Left]);
        assert_eq!(e.cursor(), 5);
        type_keys(&mut e, &names, &[Key::Left]);
        assert_eq!(e.cursor(), 3); // before the e, not between e and its accent
        type_keys(&mut e, &names, &[Key::Right]);
        assert_eq!(e.cursor(), 5);
        type_keys(&mut e, &names, &[Key::Backspace]);
        assert_eq!(line(&e), "caf!");
    }

    #[test]
    fn kill_keys() {
        let names = Names::default();
        let mut e = Editor::new(100);
        type_text(&mut e, "one two  three");
        type_keys(&mut e, &names, &[Key::Ctrl(b'w')]);
        assert_eq!(line(&e), "one two  ");
        type_keys(&mut e, &names, &[Key::Ctrl(b'w')]);
        assert_eq!(line(&e), "one ");
        type_text(&mut e, "2 3");
        type_keys(&mut e, &names, &[Key::Left, Key::Left, Key::Ctrl(b'u')]);
        assert_eq!(line(&e), " 3");
        assert_eq!(e.cursor(), 0);
        type_keys(&mut e, &names, &[Key::Right, Key::Ctrl(b'k')]);
        assert_eq!(line(&e), " ");
        assert_eq!(
            type_keys(&mut e, &names, &[Key::Ctrl(b'k')]),
            [Action::Bell]
        );
    }

    #[test]
    fn ctrl_d_ends_input_only_on_an_empty_line() {
        let names = Names::default();
        let mut e = Editor::new(100);
        type_text(&mut e, "ab");
        assert_eq!(
            type_keys(&mut e, &names, &[Key::Home, Key::Ctrl(b'd')]),
            [Action::Redraw, Action::Redraw]
        );
        assert_eq!(line(&e), "b");
        type_keys(&mut e, &names, &[Key::Ctrl(b'd')]);
        assert_eq!(
            type_keys(&mut e, &names, &[Key::Ctrl(b'd')]),
            [Action::EndOfInput]
        );
    }

    #[test]
    fn history_up_and_down() {
        let names = Names::default();
        let mut e = Editor::new(100);
        for text in ["first", "second", "second", ""] {
            type_text(&mut e, text);
            assert_eq!(e.apply(Key::Enter, &names), Action::Submit(text.to_owned()));
        }
        type_text(&mut e, "draft");
        type_keys(&mut e, &names, &[Key::Up]);
        assert_eq!(line(&e), "second"); // the repeat and the empty line are not kept
        type_keys(&mut e, &names, &[Key::Up]);
        assert_eq!(line(&e), "first");
        assert_eq!(type_keys(&mut e, &names, &[Key::Up]), [Action::Bell]);
        type_keys(&mut e, &names, &[Key::Down, Key::Down]);
        assert_eq!(line(&e), "draft");
        assert_eq!(type_keys(&mut e, &names, &[Key::Down]), [Action::Bell]);
    }

    #[test]
    fn history_is_bounded() {
        let names = Names::default();
        let mut e = Editor::new(100);
        for i in 0..MAX_HISTORY + 5 {
            type_text(&mut e, &i.to_string());
            e.apply(Key::Enter, &names);
        }
        assert_eq!(e.history.len(), MAX_HISTORY);
        assert_eq!(e.history[0], "5");
    }

    #[test]
    fn line_length_is_bounded() {
        let names = Names::default();
        let mut e = Editor::new(4);
        type_text(&mut e, "ab你"); // 2 + 3 bytes: the 你 does not fit
        assert_eq!(line(&e), "ab");
        type_text(&mut e, "cd");
        assert_eq!(line(&e), "abcd");
        assert_eq!(e.apply(Key::Char('e'), &names), Action::Bell);
    }

    fn room() -> Names {
        let mut names = Names::default();
        names.learn(b"* Welcome, bob! Online (4): alice, alfred, bob, carol\r\n");
        names
    }

    #[test]
    fn tab_completes_a_nickname_and_cycles() {
        let names = room();
        let mut e = Editor::new(100);
        type_text(&mut e, "al");
        type_keys(&mut e, &names, &[Key::Tab]);
        assert_eq!(line(&e), "alfred: ");
        type_keys(&mut e, &names, &[Key::Tab]);
        assert_eq!(line(&e), "alice: ");
        type_keys(&mut e, &names, &[Key::Tab]);
        assert_eq!(line(&e), "alfred: ");
        type_text(&mut e, "hi ca");
        type_keys(&mut e, &names, &[Key::Tab]);
        assert_eq!(line(&e), "alfred: hi carol ");
        type_text(&mut e, "x");
        assert_eq!(type_keys(&mut e, &names, &[Key::Tab]), [Action::Bell]);
    }

    #[test]
    fn tab_completes_commands_at_the_start() {
        let names = room();
        let mut e = Editor::new(100);
        type_text(&mut e, "/wh");
        type_keys(&mut e, &names, &[Key::Tab]);
        assert_eq!(line(&e), "/who ");
        e.clear();
        type_text(&mut e, "/msg c");
        type_keys(&mut e, &names, &[Key::Tab]);
        assert_eq!(line(&e), "/msg carol ");
        e.clear();
        type_text(&mut e, "bo");
        assert_eq!(type_keys(&mut e, &names, &[Key::Tab]), [Action::Bell]); // ourselves
    }

    #[test]
    fn tab_completes_rooms_after_a_hash_or_join() {
        let mut names = room();
        names.learn(b"* Rooms (3):\r\n*   #rust (2)\r\n*   #ruby (1)\r\n");
        let mut e = Editor::new(100);
        type_text(&mut e, "/join ru");
        type_keys(&mut e, &names, &[Key::Tab]);
        assert_eq!(line(&e), "/join #ruby ");
        type_keys(&mut e, &names, &[Key::Tab]);
        assert_eq!(line(&e), "/join #rust ");
        e.clear();
        type_text(&mut e, "see #ru");
        type_keys(&mut e, &names, &[Key::Tab]);
        assert_eq!(line(&e), "see #ruby ");
        e.clear();
        type_text(&mut e, "/join #x");
        assert_eq!(type_keys(&mut e, &names, &[Key::Tab]), [Action::Bell]);
    }

    #[test]
    fn tab_in_the_middle_keeps_the_rest() {
        let names = room();
        let mut e = Editor::new(100);
        type_text(&mut e, "hi c, welcome");
        for _ in 0.."c, welcome".len() - 1 {
            e.apply(Key::Left, &names);
        }
        type_keys(&mut e, &names, &[Key::Tab]);
        assert_eq!(line(&e), "hi carol , welcome");
        assert_eq!(e.cursor(), "hi carol ".len());
    }
}
