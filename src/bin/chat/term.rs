//! The terminal when `chat` edits the line itself: raw mode and its undoing on
//! every way out (a panic included), and [`Screen`], the one owner of what is
//! drawn, so that a line from the server never tears the line being typed.
//!
//! The picture: everything above is the conversation, and at the bottom the
//! *block*, which is whatever the server sent after its last line end (its
//! `tail`, usually nothing, or a prompt) followed by the input line, wrapped by
//! the terminal at its width. The block starts at column 0 of some row; the
//! Screen remembers on which row of the block the cursor is, so it can always
//! go back to the block's start, clear to the end of the screen and draw again.
//! Server bytes are written exactly as they came, between an erase of the block
//! and its redraw. Only the cursor-movement codes every ANSI terminal has are
//! used (`CUU`, `CUD`, `CUF`, `ED`), with no terminfo.

use std::io::{self, Write};
use std::sync::OnceLock;

use rustix::termios::{self, InputModes, LocalModes, OptionalActions, SpecialCodeIndex, Termios};

use crate::editor::{Action, Editor};
use crate::keys::Key;
use crate::names::Names;
use crate::width::{Pen, char_width};

/// The terminal settings to put back, taken before raw mode.
static SAVED: OnceLock<Termios> = OnceLock::new();
/// A server "line" longer than this without a line end is cut on screen, so the
/// tail redrawn with every key stays small (chatd's own lines are far shorter).
const MAX_TAIL: usize = 4096;
/// Server lines longer than this teach [`Names`] nothing.
const MAX_LEARNED_LINE: usize = 64 * 1024;

/// Whether `chat` should edit the line itself: stdin and stdout are one
/// terminal's, and it is not a `dumb` one that cannot move the cursor.
pub fn wanted() -> bool {
    use std::io::IsTerminal;
    let dumb = std::env::var("TERM").map_or(true, |t| t.is_empty() || t == "dumb");
    io::stdin().is_terminal() && io::stdout().is_terminal() && !dumb
}

/// Switches the terminal to raw mode: keys arrive one by one, unechoed, and
/// Ctrl-C, Ctrl-Z and Ctrl-S are plain keys. Output processing stays on, so a
/// server's bare `\n` still starts its next line at column 0. From now on a
/// panic puts the terminal back before it reports.
pub fn enter_raw_mode() -> io::Result<()> {
    let saved = termios::tcgetattr(io::stdin())?;
    let mut raw = saved.clone();
    raw.local_modes
        .remove(LocalModes::ICANON | LocalModes::ECHO | LocalModes::ISIG | LocalModes::IEXTEN);
    raw.input_modes
        .remove(InputModes::ICRNL | InputModes::INLCR | InputModes::IGNCR | InputModes::IXON);
    raw.special_codes[SpecialCodeIndex::VMIN] = 1;
    raw.special_codes[SpecialCodeIndex::VTIME] = 0;
    // Set once per process; `run` is called once.
    let _ = SAVED.set(saved);
    let report = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        restore();
        // Raw mode left the cursor wherever the line was; the report starts afresh.
        let _ = io::stderr().write_all(b"\r\n");
        report(info);
        // A panicking thread would leave the session half alive: end it.
        std::process::exit(101);
    }));
    termios::tcsetattr(io::stdin(), OptionalActions::Now, &raw)?;
    Ok(())
}

/// Puts the terminal settings back as they were before raw mode, if it was on.
pub fn restore() {
    if let Some(saved) = SAVED.get() {
        // Nothing more can be done about a terminal that refuses its own settings.
        let _ = termios::tcsetattr(io::stdin(), OptionalActions::Now, saved);
    }
}

/// The terminal's width in columns (80 if it does not say).
pub fn width() -> usize {
    match termios::tcgetwinsize(io::stdout()) {
        Ok(size) if size.ws_col > 0 => usize::from(size.ws_col),
        _ => 80,
    }
}

/// What a key means for the session once the Screen has drawn its effect.
#[derive(Debug, PartialEq, Eq)]
pub enum Input {
    Nothing,
    /// Send this line.
    Line(String),
    /// Ctrl-C.
    Interrupt,
    /// Ctrl-D on an empty line.
    Eof,
}

/// Where the block's pieces land at some width.
struct Layout {
    cursor: (usize, usize),
    end: (usize, usize),
    /// The last row is exactly full (see [`Pen::row_is_full`]).
    full: bool,
}

/// The terminal's lower part: the line editor and what the server left unfinished.
pub struct Screen {
    out: io::Stdout,
    width: usize,
    /// The server's bytes since its last line end, as they are on screen.
    tail: Vec<u8>,
    /// The server line being received, for [`Names`].
    line: Vec<u8>,
    /// The row of the block the terminal's cursor is on.
    cursor_row: usize,
    /// The last row of the block (0 when it is one row).
    end_row: usize,
    /// The column where the block's last row ends.
    end_col: usize,
    pub editor: Editor,
    names: Names,
    /// Cleared by [`finish`](Self::finish): from then on bytes go out as they come.
    live: bool,
}

impl Screen {
    pub fn new(width: usize, max_line_bytes: usize) -> Screen {
        Screen {
            out: io::stdout(),
            width,
            tail: Vec::new(),
            line: Vec::new(),
            cursor_row: 0,
            end_row: 0,
            end_col: 0,
            editor: Editor::new(max_line_bytes),
            names: Names::default(),
            live: true,
        }
    }

    /// Shows bytes from the server: above the input line, exactly as sent.
    pub fn show_server(&mut self, bytes: &[u8]) -> io::Result<()> {
        if !self.live {
            self.out.write_all(bytes)?;
            return self.out.flush();
        }
        let mut frame = self.erase();
        frame.extend(self.tail.iter().filter(|&&b| b != b'\x07'));
        for &byte in bytes {
            frame.push(byte);
            if byte == b'\n' {
                if self.line.len() <= MAX_LEARNED_LINE {
                    self.names.learn(&self.line);
                }
                self.line.clear();
                self.tail.clear();
                continue;
            }
            if self.line.len() <= MAX_LEARNED_LINE {
                self.line.push(byte);
            }
            self.tail.push(byte);
            if self.tail.len() > MAX_TAIL {
                frame.extend(b"\r\n");
                self.tail.clear();
            }
        }
        self.paint(&mut frame, false);
        self.write(&frame)
    }

    /// Applies a key to the line editor and shows the result.
    pub fn key(&mut self, key: Key) -> io::Result<Input> {
        match self.editor.apply(key, &self.names) {
            Action::Nothing => Ok(Input::Nothing),
            Action::Bell => self.write(b"\x07").map(|()| Input::Nothing),
            Action::Redraw => self.redraw().map(|()| Input::Nothing),
            Action::Submit(line) => {
                // The line stays on screen above, as the terminal's own echo left it.
                self.close_block(b"", true)?;
                Ok(Input::Line(line))
            }
            Action::Interrupt => {
                // As the terminal echoes it; the half-typed line is not sent.
                self.close_block(b"^C", true)?;
                self.editor.clear();
                Ok(Input::Interrupt)
            }
            Action::EndOfInput => Ok(Input::Eof),
        }
    }

    /// The terminal is now `width` columns wide. Terminals re-wrap the rows a
    /// long line wrapped over (tmux, VTE, kitty, iTerm2 do), so the block's
    /// rows are counted again at the new width before it is erased and drawn.
    pub fn resize(&mut self, width: usize) -> io::Result<()> {
        if !self.live {
            return Ok(());
        }
        self.width = width;
        self.cursor_row = self.layout().cursor.0;
        self.redraw()
    }

    /// Leaves the block on screen with the cursor below it, and stops drawing:
    /// for the end of the session, before the terminal is restored.
    pub fn finish(&mut self) -> io::Result<()> {
        if !self.live {
            return Ok(());
        }
        self.close_block(b"", false)?;
        self.live = false;
        Ok(())
    }

    fn redraw(&mut self) -> io::Result<()> {
        let mut frame = self.erase();
        self.paint(&mut frame, true);
        self.write(&frame)
    }

    /// Moves below the block (after writing `mark` at its end); the next
    /// block starts there. With `always`, even an empty block gets its row, as
    /// Enter on an empty line moves down.
    fn close_block(&mut self, mark: &[u8], always: bool) -> io::Result<()> {
        let mut frame = Vec::new();
        if self.end_row > self.cursor_row {
            frame.extend(format!("\x1b[{}B", self.end_row - self.cursor_row).as_bytes());
        }
        frame.push(b'\r');
        if self.end_col > 0 {
            frame.extend(format!("\x1b[{}C", self.end_col).as_bytes());
        }
        frame.extend(mark);
        // A last row that is empty (after an exactly full one) is already fresh.
        let empty = self.end_row == 0 && self.end_col == 0;
        if self.end_col > 0 || !mark.is_empty() || (always && empty) {
            frame.extend(b"\r\n");
        }
        self.tail.clear();
        self.cursor_row = 0;
        self.end_row = 0;
        self.end_col = 0;
        self.write(&frame)
    }

    /// Goes to the block's first row and clears from there to the screen's end.
    fn erase(&self) -> Vec<u8> {
        let mut frame = b"\r".to_vec();
        if self.cursor_row > 0 {
            frame.extend(format!("\x1b[{}A", self.cursor_row).as_bytes());
        }
        frame.extend(b"\x1b[J");
        frame
    }

    /// Draws the block (its tail only if `with_tail`, when the terminal does
    /// not show it yet) from its start and puts the cursor in place.
    fn paint(&mut self, frame: &mut Vec<u8>, with_tail: bool) {
        if with_tail {
            // The bell rang when the tail first arrived; once is enough.
            frame.extend(self.tail.iter().filter(|&&b| b != b'\x07'));
        }
        let text: String = self.editor.text().iter().collect();
        frame.extend(text.as_bytes());
        let layout = self.layout();
        if layout.full {
            // Make the terminal leave its last column now, as our count did.
            frame.extend(b"\r\n");
        }
        let (end, cursor) = (layout.end, layout.cursor);
        if end.0 > cursor.0 {
            frame.extend(format!("\x1b[{}A", end.0 - cursor.0).as_bytes());
        }
        frame.push(b'\r');
        if cursor.1 > 0 {
            frame.extend(format!("\x1b[{}C", cursor.1).as_bytes());
        }
        self.cursor_row = cursor.0;
        self.end_row = end.0;
        self.end_col = end.1;
    }

    /// Where the tail, the input line and the cursor land at the current width.
    fn layout(&self) -> Layout {
        let mut pen = Pen::new(self.width);
        place_tail(&mut pen, &self.tail);
        let text = self.editor.text();
        let mut cursor = None;
        for (i, &c) in text.iter().enumerate() {
            let columns = char_width(c);
            if i == self.editor.cursor() && columns > 0 {
                cursor = Some(pen.place(columns));
            } else {
                if i == self.editor.cursor() {
                    cursor = Some(pen.next());
                }
                pen.place(columns);
            }
        }
        let full = pen.row_is_full() && !(self.tail.is_empty() && text.is_empty());
        Layout {
            cursor: cursor.unwrap_or_else(|| pen.next()),
            end: pen.next(),
            full,
        }
    }

    fn write(&mut self, frame: &[u8]) -> io::Result<()> {
        self.out.write_all(frame)?;
        self.out.flush()
    }
}

/// Follows the server's unfinished line on `pen`: its characters, carriage
/// returns, and escape sequences (colors), which take no room.
fn place_tail(pen: &mut Pen, tail: &[u8]) {
    let text = String::from_utf8_lossy(tail);
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\r' => pen.carriage_return(),
            '\x1b' => {
                if chars.next_if_eq(&'[').is_some() {
                    for c in chars.by_ref() {
                        if ('@'..='~').contains(&c) {
                            break;
                        }
                    }
                } else {
                    chars.next();
                }
            }
            c => {
                pen.place(char_width(c));
            }
        }
    }
}
