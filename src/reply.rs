//! The answer to one control-socket request and how it travels on the socket.
//! Its own module, below both the control socket (which sends it) and the hub
//! (which writes it), so neither has to import the other for it.

/// The answer to one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// Carried out; the text is the command's output (may be empty; each line ends in `\n`).
    Done(String),
    /// Refused, with the reason for people (one line, or several each ending in `\n`).
    Refused(String),
    /// The request is not a command line at all (see the module documentation).
    Usage(String),
}

impl Reply {
    /// The answer as sent on the socket: the status line, then the text.
    pub fn encode(&self) -> String {
        let (status, text) = match self {
            Reply::Done(text) => ("ok", text),
            Reply::Refused(text) => ("refused", text),
            Reply::Usage(text) => ("usage", text),
        };
        let mut out = format!("{status}\n{text}");
        if !text.is_empty() && !text.ends_with('\n') {
            out.push('\n');
        }
        out
    }

    /// Reads an answer written by [`encode`](Self::encode); `None` when `answer`
    /// is not one (no status line, an unknown status).
    pub fn decode(answer: &str) -> Option<Reply> {
        let (status, text) = answer.split_once('\n')?;
        let text = text.to_owned();
        match status {
            "ok" => Some(Reply::Done(text)),
            "refused" => Some(Reply::Refused(text)),
            "usage" => Some(Reply::Usage(text)),
            _ => None,
        }
    }
}
