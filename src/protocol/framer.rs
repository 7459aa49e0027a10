//! Line framing: raw socket bytes to [`Frame`]s.
//!
//! [`LineFramer`] removes telnet IAC sequences, ends lines at `\n` (dropping a
//! `\r` before it) or at a telnet `\r\0`, decodes UTF-8 lossily and enforces the
//! line length limit with a bounded buffer, across arbitrary read chunk
//! boundaries. It does not sanitize: nickname validation must see the control
//! characters it refuses, and only text others will see is sanitized.

/// Telnet "interpret as command" byte.
const IAC: u8 = 0xFF;
/// Telnet subnegotiation end.
const SE: u8 = 0xF0;
/// Telnet subnegotiation begin.
const SB: u8 = 0xFA;
/// Telnet WILL; WILL, WONT, DO and DONT (251..=254) each carry one option byte.
const WILL: u8 = 0xFB;
/// Telnet DO: the peer asks us to enable an option.
const DO: u8 = 0xFD;
/// The TIMING-MARK option (RFC 860).
const TIMING_MARK: u8 = 6;
/// Telnet DONT, the last of the option negotiation commands.
const DONT: u8 = 0xFE;

/// An empty line buffer with more capacity than this is released by
/// [`LineFramer::shrink`]. Small enough that an idle connection costs little,
/// large enough that a client sending its lines in small pieces does not make
/// us reallocate after every read.
const SHRINK_ABOVE: usize = 256;

/// The answer to `IAC DO TIMING-MARK`: `IAC WILL TIMING-MARK`.
pub const TIMING_MARK_REPLY: [u8; 3] = [IAC, WILL, TIMING_MARK];

/// Where the framer is inside the telnet command syntax.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Telnet {
    /// Ordinary data bytes.
    Data,
    /// Just saw IAC; the next byte says what it means.
    Iac,
    /// Saw IAC WILL/WONT/DO/DONT (the byte kept here); the next byte is the
    /// option and is skipped.
    Option(u8),
    /// Inside IAC SB … : skip bytes until an IAC.
    Sub,
    /// Saw IAC inside a subnegotiation; SE ends it.
    SubIac,
}

/// One result of line framing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// A complete line without its terminator, decoded lossily from UTF-8 and
    /// not yet sanitized. May be empty.
    Line(String),
    /// The current line grew past the length limit. Emitted once per such
    /// line, as soon as the limit is crossed; the rest of that line, up to
    /// and including its terminator, is discarded.
    TooLong,
}

/// Splits a client's byte stream into lines.
///
/// Holds the only per-connection input state: the unfinished line, where we
/// are in a telnet command, whether a `\r` is waiting to see what follows it,
/// and whether the current line is being discarded for being too long. The
/// unfinished line never holds more than `max_line_bytes` bytes, whatever the
/// client sends, and telnet subnegotiations are skipped without buffering.
#[derive(Debug, Clone)]
pub struct LineFramer {
    /// Content of the unfinished line, after telnet removal.
    buf: Vec<u8>,
    /// Limit for the line being read now.
    max: usize,
    /// Limit configured for later lines; becomes `max` at the next line start,
    /// so a reload never changes the rules halfway through a line.
    next_max: usize,
    telnet: Telnet,
    /// The previous data byte was `\r`: `\n` or `\0` next ends the line,
    /// anything else means the `\r` is dropped.
    cr: bool,
    /// The current line was reported as too long; skip to its end.
    discarding: bool,
    /// `IAC DO TIMING-MARK` requests seen and not yet taken.
    timing_marks: usize,
}

impl LineFramer {
    /// Creates a framer.
    ///
    /// `max_line_bytes`: longest line content accepted, in bytes, not counting
    /// the terminator.
    pub fn new(max_line_bytes: usize) -> Self {
        LineFramer {
            buf: Vec::new(),
            max: max_line_bytes,
            next_max: max_line_bytes,
            telnet: Telnet::Data,
            cr: false,
            discarding: false,
            timing_marks: 0,
        }
    }

    /// Changes the limit (config reload); applies from the next line on.
    ///
    /// If no content of the current line has arrived yet, that line already
    /// counts as the next one.
    pub fn set_max_line_bytes(&mut self, max: usize) {
        self.next_max = max;
        if self.buf.is_empty() && !self.discarding {
            self.max = max;
        }
    }

    /// Feeds bytes just read from the socket; calls `out` for each complete
    /// frame, in order.
    ///
    /// Chunk boundaries do not matter: the frames are the same however the
    /// stream is split into calls.
    pub fn push(&mut self, input: &[u8], out: &mut impl FnMut(Frame)) {
        let mut i = 0;
        while i < input.len() {
            match self.telnet {
                Telnet::Data => {
                    // Runs of ordinary bytes are the common case; take them
                    // whole rather than byte by byte.
                    if !self.cr {
                        i += self.take_plain_run(&input[i..], out);
                        if i == input.len() {
                            break;
                        }
                    }
                    let b = input[i];
                    i += 1;
                    if b == IAC {
                        self.telnet = Telnet::Iac;
                    } else {
                        self.data_byte(b, out);
                    }
                }
                Telnet::Iac => {
                    let b = input[i];
                    i += 1;
                    self.telnet_command(b, out);
                }
                Telnet::Option(verb) => {
                    if verb == DO && input[i] == TIMING_MARK {
                        self.timing_marks += 1;
                    }
                    i += 1;
                    self.telnet = Telnet::Data;
                }
                Telnet::Sub => {
                    // The body is skipped, never stored: its length is the
                    // client's choice and must not cost us memory.
                    match input[i..].iter().position(|&b| b == IAC) {
                        Some(p) => {
                            i += p + 1;
                            self.telnet = Telnet::SubIac;
                        }
                        None => i = input.len(),
                    }
                }
                Telnet::SubIac => {
                    let b = input[i];
                    i += 1;
                    match b {
                        SE => self.telnet = Telnet::Data,
                        // IAC IAC is an escaped 0xFF inside the body.
                        IAC => self.telnet = Telnet::Sub,
                        // Malformed: a real client never sends this. Ending the
                        // subnegotiation here and reading the byte as a command
                        // (as libtelnet does) keeps a stray IAC SB in garbage
                        // from swallowing the rest of the session.
                        _ => self.telnet_command(b, out),
                    }
                }
            }
        }
    }

    /// How many `IAC DO TIMING-MARK` requests arrived since the last call.
    ///
    /// The netkit `telnet` client sends one after an interrupt (Ctrl-C, or
    /// a `^O` it finds in multibyte input) and then discards everything the
    /// server sends until it gets `IAC WILL TIMING-MARK` back ([`TIMING_MARK_REPLY`]),
    /// so an unanswered one silences the session for good.
    pub fn take_timing_marks(&mut self) -> usize {
        std::mem::take(&mut self.timing_marks)
    }

    /// The stream has ended: emits the unfinished line if it has any content,
    /// whatever telnet command or `\r` was cut off after it (pushing a `\n`
    /// instead would be swallowed by an unfinished telnet command).
    pub fn finish(&mut self, out: &mut impl FnMut(Frame)) {
        self.telnet = Telnet::Data;
        self.cr = false;
        if !self.buf.is_empty() {
            self.end_line(out);
        }
    }

    /// Writes the framer's state for a live upgrade: the unfinished line's
    /// bytes (a split UTF-8 character among them: lines are decoded whole),
    /// where it is in a telnet command, a pending `\r`, discarding.
    pub fn encode(&self, enc: &mut crate::handover::Encoder) {
        enc.bytes(&self.buf);
        enc.usize(self.max);
        enc.usize(self.next_max);
        let (tag, option) = match self.telnet {
            Telnet::Data => (0, 0),
            Telnet::Iac => (1, 0),
            Telnet::Option(b) => (2, b),
            Telnet::Sub => (3, 0),
            Telnet::SubIac => (4, 0),
        };
        enc.u8(tag);
        enc.u8(option);
        enc.bool(self.cr);
        enc.bool(self.discarding);
        enc.usize(self.timing_marks);
    }

    /// Reads what [`encode`](Self::encode) wrote.
    ///
    /// # Errors
    /// A truncated or damaged state.
    pub fn decode(
        dec: &mut crate::handover::Decoder<'_>,
    ) -> Result<LineFramer, crate::handover::DecodeError> {
        let buf = dec.bytes("an unfinished line")?.to_vec();
        let max = dec.usize("a line limit")?;
        let next_max = dec.usize("a line limit")?;
        let telnet = match (dec.u8("a telnet state")?, dec.u8("a telnet option")?) {
            (0, _) => Telnet::Data,
            (1, _) => Telnet::Iac,
            (2, b) => Telnet::Option(b),
            (3, _) => Telnet::Sub,
            (4, _) => Telnet::SubIac,
            (tag, _) => return Err(dec.bad("a telnet state", &format!("tag {tag}"))),
        };
        Ok(LineFramer {
            buf,
            max,
            next_max,
            telnet,
            cr: dec.bool("a pending carriage return")?,
            discarding: dec.bool("a discarding flag")?,
            timing_marks: dec.usize("timing marks")?,
        })
    }

    /// Bytes currently buffered for the unfinished line (for memory
    /// accounting and tests). Never more than the line limit.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Releases the buffer's capacity if it is empty and large (keeps idle
    /// connections small).
    pub fn shrink(&mut self) {
        if self.buf.is_empty() && self.buf.capacity() > SHRINK_ABOVE {
            self.buf = Vec::new();
        }
    }

    /// Handles the byte after an IAC.
    fn telnet_command(&mut self, b: u8, out: &mut impl FnMut(Frame)) {
        self.telnet = match b {
            IAC => {
                // IAC IAC: a literal 0xFF data byte (it decodes to U+FFFD).
                self.data_byte(IAC, out);
                Telnet::Data
            }
            SB => Telnet::Sub,
            WILL..=DONT => Telnet::Option(b),
            // Every other command is two bytes long.
            _ => Telnet::Data,
        };
    }

    /// Consumes the plain bytes at the start of `rest` (up to the first `\n`,
    /// `\r` or IAC), and the line end after them when that is simple.
    /// Returns how many bytes were consumed. Requires `Data` state with no
    /// `\r` pending.
    fn take_plain_run(&mut self, rest: &[u8], out: &mut impl FnMut(Frame)) -> usize {
        let n = rest
            .iter()
            .position(|&b| b == b'\n' || b == b'\r' || b == IAC)
            .unwrap_or(rest.len());
        let run = &rest[..n];
        // A whole line inside one read (the usual case): decode it straight
        // from the input instead of copying it through the buffer.
        if self.buf.is_empty() && !self.discarding && run.len() <= self.max {
            let line_end = match (rest.get(n).copied(), rest.get(n + 1).copied()) {
                (Some(b'\n'), _) => Some(n + 1),
                (Some(b'\r'), Some(b'\n' | 0)) => Some(n + 2),
                _ => None,
            };
            if let Some(used) = line_end {
                out(Frame::Line(decode(run)));
                self.start_next_line();
                return used;
            }
        }
        self.append(run, out);
        n
    }

    /// Handles one data byte (telnet already removed) the slow way.
    fn data_byte(&mut self, b: u8, out: &mut impl FnMut(Frame)) {
        if std::mem::take(&mut self.cr) && (b == b'\n' || b == 0) {
            self.end_line(out);
            return;
        }
        // A `\r` not followed by `\n` or `\0` is dropped: the sanitizer
        // would remove it anyway, and it must not count as a line end.
        match b {
            b'\n' => self.end_line(out),
            b'\r' => self.cr = true,
            _ => self.append(&[b], out),
        }
    }

    /// Adds line content, reporting the line as too long the moment it
    /// crosses the limit.
    fn append(&mut self, bytes: &[u8], out: &mut impl FnMut(Frame)) {
        if self.discarding || bytes.is_empty() {
            return;
        }
        let len = self.buf.len() + bytes.len();
        if len > self.max {
            self.buf.clear();
            self.discarding = true;
            out(Frame::TooLong);
            return;
        }
        if len > self.buf.capacity() {
            // Grow geometrically as Vec would, but never past the limit, so
            // the capacity stays bounded by `max` too.
            let target = (self.buf.capacity() * 2).max(len).min(self.max);
            self.buf.reserve_exact(target - self.buf.len());
        }
        self.buf.extend_from_slice(bytes);
    }

    /// The current line has ended: emit it, or stop discarding it.
    fn end_line(&mut self, out: &mut impl FnMut(Frame)) {
        if self.discarding {
            self.discarding = false;
        } else {
            out(Frame::Line(decode(&self.buf)));
            self.buf.clear();
        }
        self.start_next_line();
    }

    fn start_next_line(&mut self) {
        self.max = self.next_max;
    }
}

/// Lossy UTF-8 decoding: invalid sequences become U+FFFD.
///
/// Every line goes through this. Valid UTF-8 (nearly every line) is checked
/// with `str::from_utf8`, which takes ASCII a word at a time; the lossy
/// decoder, which walks the bytes one by one, runs only for a line that needs it.
fn decode(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(text) => text.to_owned(),
        Err(_) => String::from_utf8_lossy(bytes).into_owned(),
    }
}

#[cfg(test)]
mod tests;
