//! Load that keeps the server's queue busy, for the model test: its rounds
//! then run long, and moves land in their middle.

use std::io::{BufRead, BufReader, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::mpsc;
use std::thread::JoinHandle;

use crate::common::TIMEOUT;

/// A connection that never signs in and keeps sending a line the server
/// answers at once (`/x`: a nickname may not start with '/'), with a window of
/// lines in flight, so that the server's queue is rarely empty. Stopped when
/// dropped.
pub(super) struct Noise {
    stream: TcpStream,
    threads: Vec<JoinHandle<()>>,
}

impl Noise {
    const WINDOW: usize = 64;
    const BATCH: usize = 16;

    pub(super) fn start(addr: SocketAddr) -> Noise {
        let stream = TcpStream::connect_timeout(&addr, TIMEOUT).expect("connect");
        stream.set_read_timeout(Some(TIMEOUT)).unwrap();
        stream.set_write_timeout(Some(TIMEOUT)).unwrap();
        let (tokens, batches) = mpsc::channel::<()>();
        let reader = BufReader::new(stream.try_clone().unwrap());
        let read = std::thread::spawn(move || {
            let mut prompts = 0;
            // Ends when the connection does; then the writer's channel closes.
            for line in reader.lines() {
                let Ok(line) = line else { return };
                if line.starts_with("> Please type") {
                    prompts += 1;
                    if prompts % Self::BATCH == 0 && tokens.send(()).is_err() {
                        return;
                    }
                }
            }
        });
        let mut writer = stream.try_clone().unwrap();
        let batch = "/x\n".repeat(Self::BATCH);
        let write = std::thread::spawn(move || {
            let mut send = || writer.write_all(batch.as_bytes()).is_ok();
            for _ in 0..Self::WINDOW / Self::BATCH {
                if !send() {
                    return;
                }
            }
            while batches.recv().is_ok() && send() {}
        });
        Noise {
            stream,
            threads: vec![read, write],
        }
    }
}

impl Drop for Noise {
    fn drop(&mut self) {
        // The server may have closed it already; then the threads are ending.
        let _ = self.stream.shutdown(Shutdown::Both);
        for thread in self.threads.drain(..) {
            // A panicked noise thread only means less noise.
            let _ = thread.join();
        }
    }
}
