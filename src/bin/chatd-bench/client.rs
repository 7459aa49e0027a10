//! The bench's clients: how one signs in, sends its timed lines and counts
//! what it receives. The throughput scenarios, the rooms scenario and the soak
//! all talk to chatd through these, so that every figure is counted one way.

use std::cell::RefCell;
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use smol::io::{AsyncReadExt, AsyncWriteExt};
use smol::net::TcpStream;
use smol::{Timer, future};

/// What the receivers collect.
#[derive(Default)]
pub struct Tally {
    pub chat_lines: u64,
    pub latencies_us: Vec<u32>,
    pub last_receive: Option<Instant>,
    pub errors: u64,
}

/// How long a client waits for a reply it needs (the banner, the welcome, a
/// room's greeting): chatd answers within milliseconds even in a join storm,
/// so this only turns a hang into an error.
const REPLY_TIMEOUT: Duration = Duration::from_secs(30);

/// One read, failing with `TimedOut` at `deadline`.
async fn read_by(stream: &mut TcpStream, buf: &mut [u8], deadline: Instant) -> io::Result<usize> {
    future::or(stream.read(buf), async {
        Timer::at(deadline).await;
        Err(io::Error::from(io::ErrorKind::TimedOut))
    })
    .await
}

/// Reads until the bytes read hold one of `needles` (`what` names it in the
/// error). The rest of that read is dropped: it is sign-in or join traffic,
/// never a chat line, since nothing is said before the timed phase.
pub async fn read_until(stream: &mut TcpStream, needles: &[&str], what: &str) -> io::Result<()> {
    let deadline = Instant::now() + REPLY_TIMEOUT;
    let longest = needles.iter().map(|n| n.len()).max().unwrap_or(0);
    let mut seen = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        let n = match read_by(stream, &mut buf, deadline).await {
            Ok(n) => n,
            Err(err) => {
                return Err(io::Error::new(
                    err.kind(),
                    format!("{err} waiting for {what}"),
                ));
            }
        };
        if n == 0 {
            return Err(io::Error::other(format!(
                "closed before {what}: {}",
                String::from_utf8_lossy(&seen)
            )));
        }
        // Only a needle that ends in the new bytes is new: search from where
        // one that starts in the old bytes could begin, not from the start.
        let from = seen.len().saturating_sub(longest);
        seen.extend_from_slice(&buf[..n]);
        let fresh = &seen[from..];
        if needles
            .iter()
            .any(|needle| fresh.windows(needle.len()).any(|w| w == needle.as_bytes()))
        {
            return Ok(());
        }
    }
}

/// Connects and, given a nickname, registers (waiting for the welcome); without
/// one, waits for the banner only.
pub async fn connect(addr: SocketAddr, nick: Option<String>) -> io::Result<TcpStream> {
    match nick {
        Some(nick) => register(addr, nick).await,
        None => {
            let mut stream = TcpStream::connect(addr).await?;
            let deadline = Instant::now() + REPLY_TIMEOUT;
            let mut buf = [0u8; 1024];
            let mut seen = 0;
            // The banner is three short lines.
            while seen < 3 {
                let n = read_by(&mut stream, &mut buf, deadline).await?;
                if n == 0 {
                    return Err(io::Error::other("closed before the banner"));
                }
                seen += buf[..n].iter().filter(|&&b| b == b'\n').count();
            }
            Ok(stream)
        }
    }
}

/// Connects and signs in as `nick`, waiting for the welcome.
pub async fn register(addr: SocketAddr, nick: String) -> io::Result<TcpStream> {
    let mut stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    stream.write_all(format!("{nick}#\n").as_bytes()).await?;
    let welcome = format!("* Welcome, {nick}!");
    read_until(&mut stream, &[&welcome], "the welcome").await?;
    Ok(stream)
}

/// Sends `count` lines `t=<micros since start> …`, as fast as possible or at `rate`/s.
pub async fn send(
    mut stream: TcpStream,
    count: usize,
    rate: u32,
    start: Instant,
) -> io::Result<()> {
    const BATCH: usize = 64;
    let mut out = Vec::with_capacity(BATCH * 64);
    let mut sent = 0;
    let began = Instant::now();
    while sent < count {
        out.clear();
        let n = if rate == 0 {
            BATCH.min(count - sent)
        } else {
            1
        };
        for _ in 0..n {
            let micros = start.elapsed().as_micros();
            out.extend_from_slice(format!("t={micros} the quick brown fox\n").as_bytes());
        }
        stream.write_all(&out).await?;
        sent += n;
        if rate > 0 {
            let due = began + Duration::from_secs_f64(sent as f64 / f64::from(rate));
            Timer::at(due).await;
        }
    }
    Ok(())
}

/// Reads everything a client gets, counting chat lines (`> …`) and, when
/// `parse_all`, the latency of each; otherwise of the last line of each read.
pub async fn receive(
    stream: TcpStream,
    tally: Rc<RefCell<Tally>>,
    parse_all: bool,
    start: Instant,
) {
    // Bytes of a line cut by the end of the previous read.
    let mut partial: Vec<u8> = Vec::new();
    each_read(stream, start, |read, now_us| {
        let mut lines = 0u64;
        let mut lat = Vec::new();
        let mut data = read;
        if !partial.is_empty() {
            match data.iter().position(|&b| b == b'\n') {
                Some(i) => {
                    partial.extend_from_slice(&data[..=i]);
                    if partial.first() == Some(&b'>') {
                        lines += 1;
                        if parse_all {
                            lat.extend(latency(&partial, now_us));
                        }
                    }
                    partial.clear();
                    data = &data[i + 1..];
                }
                None => {
                    partial.extend_from_slice(data);
                    return;
                }
            }
        }
        let mut last_line: &[u8] = &[];
        while let Some(i) = data.iter().position(|&b| b == b'\n') {
            let line = &data[..=i];
            if line.first() == Some(&b'>') {
                lines += 1;
                if parse_all {
                    lat.extend(latency(line, now_us));
                }
                last_line = line;
            }
            data = &data[i + 1..];
        }
        partial.extend_from_slice(data);
        if !parse_all && !last_line.is_empty() {
            lat.extend(latency(last_line, now_us));
        }
        let mut t = tally.borrow_mut();
        t.chat_lines += lines;
        t.latencies_us.extend(lat);
        if lines > 0 {
            t.last_receive = Some(Instant::now());
        }
    })
    .await;
}

/// Reads until the connection ends, handing `on` each read's bytes and the
/// microseconds since `start` when they arrived.
pub async fn each_read(mut stream: TcpStream, start: Instant, mut on: impl FnMut(&[u8], u64)) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        on(&buf[..n], start.elapsed().as_micros() as u64);
    }
}

fn latency(line: &[u8], now_us: u64) -> Option<u32> {
    let at = line.windows(3).position(|w| w == b": t")? + 4;
    let digits = &line[at..];
    let end = digits.iter().position(|b| !b.is_ascii_digit())?;
    let sent: u64 = std::str::from_utf8(&digits[..end]).ok()?.parse().ok()?;
    Some(now_us.saturating_sub(sent).min(u64::from(u32::MAX)) as u32)
}
