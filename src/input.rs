//! What a connection's reader holds between reads: the [`Input`] (its line
//! framer, its flood-control [`FloodBucket`], what was read and not yet
//! handed to the hub), and how a live upgrade carries it over: written into
//! the handover state, or, frozen with its socket and outbox, [`Handed`] to
//! the hub. Below both the hub and the connection's task, which use it.

use std::collections::VecDeque;
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use smol::Async;

use crate::config::Config;
use crate::handover::{Clock, DecodeError, Decoder, Encoder};
use crate::outbox::Outbox;
use crate::protocol::{Frame, LineFramer};

/// A connection frozen for a live upgrade, as its task hands it to the hub.
#[derive(Debug, Clone)]
pub struct Handed {
    /// The socket, which must outlive the exec.
    pub stream: Arc<Async<TcpStream>>,
    /// Its outbox, for a new task should the exec fail.
    pub outbox: Arc<Outbox>,
    /// What the reader held.
    pub input: Input,
}

/// What a connection's reader holds between reads, and what a live upgrade
/// hands over of it: the framer (an unfinished line, a telnet command cut in
/// two), the flood bucket, and input read but not yet handed to the hub.
#[derive(Debug, Clone)]
pub struct Input {
    pub(crate) framer: LineFramer,
    pub(crate) bucket: FloodBucket,
    /// The client was told that flood control holds its lines back; not again
    /// until its bucket has filled up (the burst is over).
    pub(crate) told_held: bool,
    /// Input read and not yet handed on; None when idle, so that an idle
    /// connection keeps no input buffers (a pointer, not a queue).
    pub(crate) pending: Option<Box<Pending>>,
}

/// Input read and not yet handed to the hub.
#[derive(Debug, Clone, Default)]
pub(crate) struct Pending {
    /// A read's bytes; those before `pos` are framed. While the hub or flood
    /// control holds the reader up, the rest of a read waits here as bytes (at
    /// most READ_CHUNK), not as a list of framed lines, which for tiny lines
    /// would be many times larger.
    pub(crate) unframed: Vec<u8>,
    pub(crate) pos: usize,
    /// Lines framed and not yet handed on (usually at most one: framing goes
    /// up to the next newline only).
    pub(crate) frames: VecDeque<Frame>,
    /// The first frame has had its flood-control token.
    pub(crate) admitted: bool,
}

impl Input {
    /// A new connection's: nothing read, a full flood bucket.
    pub fn new(config: &Config) -> Input {
        Input {
            framer: LineFramer::new(config.max_line_bytes),
            bucket: FloodBucket::new(config, Instant::now()),
            told_held: false,
            pending: None,
        }
    }

    /// Writes the reader's state for a live upgrade.
    pub fn encode(&self, enc: &mut Encoder, clock: &Clock) {
        self.framer.encode(enc);
        self.bucket.encode(enc, clock);
        enc.bool(self.told_held);
        let empty = Pending::default();
        let pending = self.pending.as_deref().unwrap_or(&empty);
        enc.bytes(&pending.unframed[pending.pos.min(pending.unframed.len())..]);
        enc.usize(pending.frames.len());
        for frame in &pending.frames {
            match frame {
                Frame::Line(text) => {
                    enc.u8(0);
                    enc.str(text);
                }
                Frame::TooLong => enc.u8(1),
            }
        }
        enc.bool(pending.admitted);
    }

    /// Reads what [`encode`](Self::encode) wrote.
    ///
    /// # Errors
    /// A truncated or damaged state.
    pub fn decode(dec: &mut Decoder<'_>, clock: &Clock) -> Result<Input, DecodeError> {
        let framer = LineFramer::decode(dec)?;
        let bucket = FloodBucket::decode(dec, clock)?;
        let told_held = dec.bool("a flood notice flag")?;
        let unframed = dec.bytes("input not yet framed")?.to_vec();
        let count = dec.count("framed lines", 1)?;
        let mut frames = VecDeque::with_capacity(count);
        for _ in 0..count {
            frames.push_back(match dec.u8("a framed line")? {
                0 => Frame::Line(dec.str("a framed line")?.to_owned()),
                1 => Frame::TooLong,
                tag => return Err(dec.bad("a framed line", &format!("tag {tag}"))),
            });
        }
        let admitted = dec.bool("a flood admission")?;
        let pending = (!unframed.is_empty() || !frames.is_empty()).then(|| {
            Box::new(Pending {
                unframed,
                pos: 0,
                frames,
                admitted,
            })
        });
        Ok(Input {
            framer,
            bucket,
            told_held,
            pending,
        })
    }
}

/// Flood control: a token bucket per client. Each line takes a token; tokens come
/// back at `flood_lines_per_sec` up to `flood_burst`. When none is left the reader
/// waits (and so stops reading) instead of dropping the line.
#[derive(Debug, Clone)]
pub struct FloodBucket {
    tokens: f64,
    burst: f64,
    rate: f64,
    last: Instant,
}

impl FloodBucket {
    /// A full bucket for `config`'s flood settings.
    pub fn new(config: &Config, now: Instant) -> Self {
        let mut bucket = FloodBucket {
            tokens: 0.0,
            burst: 0.0,
            rate: 0.0,
            last: now,
        };
        bucket.reconfigure(config);
        bucket.tokens = bucket.burst;
        bucket
    }

    /// Applies new flood settings (config reload); the tokens held are kept.
    pub fn reconfigure(&mut self, config: &Config) {
        if config.flood_enabled() {
            self.burst = f64::from(config.flood_burst);
            self.rate = f64::from(config.flood_lines_per_sec);
        } else {
            self.burst = 0.0;
            self.rate = 0.0;
        }
        self.tokens = self.tokens.min(self.burst);
    }

    /// Writes the bucket for a live upgrade (its settings come from the config).
    pub fn encode(&self, enc: &mut Encoder, clock: &Clock) {
        enc.f64(self.tokens);
        enc.i64(clock.encode(self.last));
    }

    /// Reads what [`encode`](Self::encode) wrote; the settings are taken up
    /// at the reader's next reload check.
    ///
    /// # Errors
    /// A truncated or damaged state.
    pub fn decode(dec: &mut Decoder<'_>, clock: &Clock) -> Result<FloodBucket, DecodeError> {
        let tokens = dec.f64("flood tokens")?;
        if !tokens.is_finite() {
            return Err(dec.bad("flood tokens", &tokens.to_string()));
        }
        let last = clock.decode(dec.i64("a flood time")?);
        Ok(FloodBucket {
            tokens,
            burst: 0.0,
            rate: 0.0,
            last,
        })
    }

    /// Whether the bucket is full at `now`: the client has been quiet long
    /// enough that a new burst may begin. Always true with flood control off.
    pub fn is_full(&self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens + elapsed * self.rate >= self.burst
    }

    /// Takes a token for one line. `None`: go ahead. `Some(wait)`: no token yet;
    /// wait that long, then call again (the line is never dropped).
    pub fn take(&mut self, now: Instant) -> Option<Duration> {
        if self.rate == 0.0 {
            return None; // Flood control is off.
        }
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            None
        } else {
            Some(Duration::from_secs_f64((1.0 - self.tokens) / self.rate))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(burst: u32, rate: u32) -> Config {
        Config {
            flood_burst: burst,
            flood_lines_per_sec: rate,
            ..Config::default()
        }
    }

    #[test]
    fn a_bucket_is_full_again_once_the_client_was_quiet_long_enough() {
        let start = Instant::now();
        let mut bucket = FloodBucket::new(&config(2, 4), start);
        assert!(bucket.is_full(start));
        assert_eq!(bucket.take(start), None);
        assert!(!bucket.is_full(start));
        // One token comes back in 250 ms.
        assert!(!bucket.is_full(start + Duration::from_millis(200)));
        assert!(bucket.is_full(start + Duration::from_millis(250)));
        assert!(FloodBucket::new(&config(0, 0), start).is_full(start));
    }

    #[test]
    fn burst_then_paced() {
        let start = Instant::now();
        let mut bucket = FloodBucket::new(&config(3, 2), start);
        for _ in 0..3 {
            assert_eq!(bucket.take(start), None);
        }
        let wait = bucket.take(start).expect("bucket is empty");
        assert_eq!(wait, Duration::from_millis(500));
        // After waiting, the line goes through.
        assert_eq!(bucket.take(start + wait), None);
        // Refill never exceeds the burst.
        let later = start + Duration::from_secs(60);
        for _ in 0..3 {
            assert_eq!(bucket.take(later), None);
        }
        assert!(bucket.take(later).is_some());
    }

    #[test]
    fn zero_disables() {
        let now = Instant::now();
        for cfg in [config(0, 5), config(20, 0)] {
            let mut bucket = FloodBucket::new(&cfg, now);
            for _ in 0..1000 {
                assert_eq!(bucket.take(now), None);
            }
        }
    }
}
