//! The handover state's bytes: a header that says what the file is, which
//! version of the layout follows, how long it is and its checksum, then the
//! body, written field by field by an [`Encoder`] and read back by a
//! [`Decoder`] in the same order.
//!
//! Hand-written rather than derived: no serialization crate is among chatd's
//! dependencies, the state is read only by the next chatd, and a layout
//! written out in one place per owner (`hub/handover.rs`, the connection's
//! reader, the server's sockets) is easy to check against what it must keep.
//! Every read is bounds-checked: a truncated or damaged file is an error that
//! names what was being read and where, never a panic.

use std::fmt;
use std::time::{Duration, Instant};

/// The layout this chatd writes.
pub const VERSION: u32 = 1;

/// The layouts this chatd reads (`chatd --version` says so: the old process
/// checks it before it hands over).
pub const READS: &[u32] = &[1];

/// The first bytes of every state file.
const MAGIC: &[u8; 8] = b"CHATDHO\n";

/// Magic, version (u32), body length (u64), checksum (u64).
const HEADER: usize = 8 + 4 + 8 + 8;

/// Why a state could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError(pub String);

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for DecodeError {}

/// FNV-1a over `bytes`: not cryptographic (the file comes from our own
/// process), only to catch a damaged or mixed-up file.
fn checksum(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

/// Converts between [`Instant`]s and nanoseconds of the system's monotonic
/// clock, which an exec does not reset: a deadline set before the upgrade
/// falls at the same moment after it.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    instant: Instant,
    monotonic: i128,
}

impl Clock {
    /// The two clocks, read together now.
    pub fn now() -> Clock {
        let ts = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
        Clock {
            instant: Instant::now(),
            monotonic: i128::from(ts.tv_sec) * 1_000_000_000 + i128::from(ts.tv_nsec),
        }
    }

    /// Now, as monotonic nanoseconds.
    pub fn monotonic(&self) -> i64 {
        self.monotonic as i64
    }

    /// `at` as monotonic nanoseconds.
    pub fn encode(&self, at: Instant) -> i64 {
        let ns = if at >= self.instant {
            self.monotonic + at.duration_since(self.instant).as_nanos() as i128
        } else {
            self.monotonic - self.instant.duration_since(at).as_nanos() as i128
        };
        ns as i64
    }

    /// The instant of monotonic nanoseconds `ns` (clamped to what `Instant`
    /// can hold).
    pub fn decode(&self, ns: i64) -> Instant {
        let delta = i128::from(ns) - self.monotonic;
        let span = Duration::from_nanos(delta.unsigned_abs().min(u64::MAX as u128) as u64);
        if delta >= 0 {
            self.instant.checked_add(span).unwrap_or(self.instant)
        } else {
            self.instant.checked_sub(span).unwrap_or(self.instant)
        }
    }

    /// Seconds from monotonic nanoseconds `ns` until now.
    pub fn since(&self, ns: i64) -> Duration {
        let delta = self.monotonic - i128::from(ns);
        Duration::from_nanos(delta.clamp(0, u64::MAX as i128) as u64)
    }
}

/// Writes the body of a state, field by field.
#[derive(Debug, Default)]
pub struct Encoder {
    buf: Vec<u8>,
}

impl Encoder {
    /// An empty body.
    pub fn new() -> Encoder {
        Encoder::default()
    }

    /// One byte.
    pub fn u8(&mut self, v: u8) {
        self.buf.push(v);
    }

    /// A flag.
    pub fn bool(&mut self, v: bool) {
        self.buf.push(u8::from(v));
    }

    /// A u32, little-endian.
    pub fn u32(&mut self, v: u32) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }

    /// A u64, little-endian.
    pub fn u64(&mut self, v: u64) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }

    /// An i64, little-endian.
    pub fn i64(&mut self, v: i64) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }

    /// A usize, as a u64.
    pub fn usize(&mut self, v: usize) {
        self.u64(v as u64);
    }

    /// An f64, by its bits.
    pub fn f64(&mut self, v: f64) {
        self.u64(v.to_bits());
    }

    /// Bytes, after their length.
    pub fn bytes(&mut self, v: &[u8]) {
        self.usize(v.len());
        self.buf.extend_from_slice(v);
    }

    /// A string, as its bytes.
    pub fn str(&mut self, v: &str) {
        self.bytes(v.as_bytes());
    }

    /// An optional string: a flag, then the string.
    pub fn opt_str(&mut self, v: Option<&str>) {
        self.bool(v.is_some());
        if let Some(v) = v {
            self.str(v);
        }
    }

    /// An optional u64.
    pub fn opt_u64(&mut self, v: Option<u64>) {
        self.bool(v.is_some());
        if let Some(v) = v {
            self.u64(v);
        }
    }

    /// The whole file: header, then the body.
    pub fn finish(self) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER + self.buf.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&VERSION.to_le_bytes());
        out.extend_from_slice(&(self.buf.len() as u64).to_le_bytes());
        out.extend_from_slice(&checksum(&self.buf).to_le_bytes());
        out.extend_from_slice(&self.buf);
        out
    }
}

/// Reads a body written by an [`Encoder`], in the same order.
#[derive(Debug)]
pub struct Decoder<'a> {
    buf: &'a [u8],
    at: usize,
}

impl<'a> Decoder<'a> {
    /// Checks a whole file's header (what it is, its version, its length and
    /// checksum) and returns a decoder at the start of its body.
    ///
    /// # Errors
    /// Not a state file, a version this chatd does not read, a file shorter
    /// than its header says (truncated), or a checksum that does not match.
    pub fn open(file: &'a [u8]) -> Result<Decoder<'a>, DecodeError> {
        if file.len() < HEADER || &file[..8] != MAGIC {
            return Err(DecodeError(format!(
                "not a chatd handover state ({} bytes, no header)",
                file.len()
            )));
        }
        let word = |at: usize| u64::from_le_bytes(file[at..at + 8].try_into().expect("8 bytes"));
        let version = u32::from_le_bytes(file[8..12].try_into().expect("4 bytes"));
        if !READS.contains(&version) {
            return Err(DecodeError(format!(
                "handover state version {version}: this chatd reads {}",
                versions()
            )));
        }
        let len = word(12);
        let body = &file[HEADER..];
        if (body.len() as u64) < len {
            return Err(DecodeError(format!(
                "handover state truncated: {} of {} bytes",
                file.len(),
                len as usize + HEADER
            )));
        }
        let body = &body[..len as usize];
        if checksum(body) != word(20) {
            return Err(DecodeError(
                "handover state damaged: its checksum does not match".to_owned(),
            ));
        }
        Ok(Decoder { buf: body, at: 0 })
    }

    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], DecodeError> {
        if self.buf.len() - self.at < n {
            return Err(DecodeError(format!(
                "handover state ends inside {what} at byte {}",
                self.at
            )));
        }
        let bytes = &self.buf[self.at..self.at + n];
        self.at += n;
        Ok(bytes)
    }

    /// One byte.
    pub fn u8(&mut self, what: &str) -> Result<u8, DecodeError> {
        Ok(self.take(1, what)?[0])
    }

    /// A flag; anything but 0 or 1 is damage.
    pub fn bool(&mut self, what: &str) -> Result<bool, DecodeError> {
        match self.u8(what)? {
            0 => Ok(false),
            1 => Ok(true),
            other => Err(self.bad(what, &format!("flag {other}"))),
        }
    }

    /// A u32.
    pub fn u32(&mut self, what: &str) -> Result<u32, DecodeError> {
        Ok(u32::from_le_bytes(
            self.take(4, what)?.try_into().expect("4 bytes"),
        ))
    }

    /// A u64.
    pub fn u64(&mut self, what: &str) -> Result<u64, DecodeError> {
        Ok(u64::from_le_bytes(
            self.take(8, what)?.try_into().expect("8 bytes"),
        ))
    }

    /// An i64.
    pub fn i64(&mut self, what: &str) -> Result<i64, DecodeError> {
        Ok(i64::from_le_bytes(
            self.take(8, what)?.try_into().expect("8 bytes"),
        ))
    }

    /// A usize (written as a u64).
    pub fn usize(&mut self, what: &str) -> Result<usize, DecodeError> {
        let v = self.u64(what)?;
        usize::try_from(v).map_err(|_| self.bad(what, &format!("size {v}")))
    }

    /// A count of items that follow, each at least `min_bytes` long: a count
    /// the rest of the file cannot hold is damage, not a huge allocation.
    pub fn count(&mut self, what: &str, min_bytes: usize) -> Result<usize, DecodeError> {
        let n = self.usize(what)?;
        if n.saturating_mul(min_bytes.max(1)) > self.buf.len() - self.at {
            return Err(self.bad(what, &format!("count {n}")));
        }
        Ok(n)
    }

    /// An f64.
    pub fn f64(&mut self, what: &str) -> Result<f64, DecodeError> {
        Ok(f64::from_bits(self.u64(what)?))
    }

    /// Bytes written with [`Encoder::bytes`].
    pub fn bytes(&mut self, what: &str) -> Result<&'a [u8], DecodeError> {
        let n = self.usize(what)?;
        self.take(n, what)
    }

    /// A string.
    pub fn str(&mut self, what: &str) -> Result<&'a str, DecodeError> {
        let bytes = self.bytes(what)?;
        std::str::from_utf8(bytes).map_err(|_| self.bad(what, "text that is not UTF-8"))
    }

    /// An optional string.
    pub fn opt_str(&mut self, what: &str) -> Result<Option<&'a str>, DecodeError> {
        Ok(if self.bool(what)? {
            Some(self.str(what)?)
        } else {
            None
        })
    }

    /// An optional u64.
    pub fn opt_u64(&mut self, what: &str) -> Result<Option<u64>, DecodeError> {
        Ok(if self.bool(what)? {
            Some(self.u64(what)?)
        } else {
            None
        })
    }

    /// A damaged value: what was read, where, and what was found.
    pub fn bad(&self, what: &str, found: &str) -> DecodeError {
        DecodeError(format!(
            "handover state damaged: {what} near byte {}: {found}",
            self.at
        ))
    }

    /// Ends the body: bytes left over mean the two sides disagree on the layout.
    ///
    /// # Errors
    /// Bytes left unread.
    pub fn end(&self) -> Result<(), DecodeError> {
        if self.at == self.buf.len() {
            Ok(())
        } else {
            Err(DecodeError(format!(
                "handover state damaged: {} bytes left after the end",
                self.buf.len() - self.at
            )))
        }
    }
}

/// The versions this chatd reads, as `chatd --version` prints them.
pub fn versions() -> String {
    READS
        .iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<u8> {
        let mut enc = Encoder::new();
        enc.u8(7);
        enc.bool(true);
        enc.u32(70_000);
        enc.u64(u64::MAX - 1);
        enc.i64(-5);
        enc.f64(2.5);
        enc.str("bob");
        enc.opt_str(None);
        enc.opt_str(Some("né"));
        enc.opt_u64(Some(9));
        enc.bytes(&[1, 2, 3]);
        enc.finish()
    }

    #[test]
    fn what_is_written_reads_back_in_order() {
        let file = sample();
        let mut dec = Decoder::open(&file).unwrap();
        assert_eq!(dec.u8("a").unwrap(), 7);
        assert!(dec.bool("b").unwrap());
        assert_eq!(dec.u32("c").unwrap(), 70_000);
        assert_eq!(dec.u64("d").unwrap(), u64::MAX - 1);
        assert_eq!(dec.i64("e").unwrap(), -5);
        assert_eq!(dec.f64("f").unwrap(), 2.5);
        assert_eq!(dec.str("g").unwrap(), "bob");
        assert_eq!(dec.opt_str("h").unwrap(), None);
        assert_eq!(dec.opt_str("i").unwrap(), Some("né"));
        assert_eq!(dec.opt_u64("j").unwrap(), Some(9));
        assert_eq!(dec.bytes("k").unwrap(), &[1, 2, 3]);
        dec.end().unwrap();
    }

    #[test]
    fn a_truncated_file_says_so_and_how_much_is_there() {
        let file = sample();
        for cut in [0, 5, HEADER - 1, HEADER, file.len() - 1] {
            let err = Decoder::open(&file[..cut]).unwrap_err().0;
            assert!(
                err.contains("truncated") || err.contains("no header"),
                "{cut}: {err}"
            );
        }
    }

    #[test]
    fn a_future_version_and_damage_are_refused_with_their_reason() {
        let mut file = sample();
        file[8] = 2;
        let err = Decoder::open(&file).unwrap_err().0;
        assert_eq!(err, "handover state version 2: this chatd reads 1");
        let mut file = sample();
        let last = file.len() - 1;
        file[last] ^= 0xff;
        assert!(Decoder::open(&file).unwrap_err().0.contains("checksum"));
    }

    #[test]
    fn reading_past_the_end_or_a_huge_count_is_an_error_not_a_panic() {
        let mut enc = Encoder::new();
        enc.u64(1 << 40);
        let file = enc.finish();
        let mut dec = Decoder::open(&file).unwrap();
        assert!(dec.count("members", 8).is_err());
        let mut dec = Decoder::open(&file).unwrap();
        assert!(dec.bytes("a line").unwrap_err().0.contains("a line"));
        let mut dec = Decoder::open(&file).unwrap();
        dec.u32("half").unwrap();
        assert!(dec.end().unwrap_err().0.contains("4 bytes left"));
    }

    #[test]
    fn instants_survive_the_trip_through_the_monotonic_clock() {
        let clock = Clock::now();
        let now = Instant::now();
        let past = now - Duration::from_secs(3);
        let future = now + Duration::from_secs(30);
        let later = Clock::now();
        for at in [now, past, future] {
            let back = later.decode(clock.encode(at));
            let diff = if back > at { back - at } else { at - back };
            assert!(diff < Duration::from_millis(1), "{diff:?}");
        }
    }
}
