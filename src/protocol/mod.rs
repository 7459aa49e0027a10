//! The client side of the wire protocol, bytes to text: [`framer`] turns socket
//! bytes into lines (telnet, line ends, UTF-8, the length limit) and
//! [`sanitize`](mod@sanitize) strips from user text whatever could act on a terminal. Both
//! are pure: no I/O, no async, no knowledge of the hub. What a line means is
//! [`crate::command`]'s business, and nickname rules are [`crate::nick`]'s.

pub mod framer;
pub mod sanitize;

pub use framer::{Frame, LineFramer, TIMING_MARK_REPLY};
pub use sanitize::sanitize;
