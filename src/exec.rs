//! Where chatd's tasks run: one executor on `threads` threads (config; 0, the
//! default, means the cores this process may use, which respects `taskset`
//! pinning and cgroup limits). The thread that runs the server ([`block_on`])
//! is one of them, so `threads` threads run tasks in all, never more: on one
//! core a single thread runs everything, and the hub's pushes wake writers on
//! its own thread, with no cross-thread wake-up (a second executor thread on
//! one core cost a third more CPU per delivery at a chatting pace; see
//! docs/performance.md). The hub stays one task, the one owner of its state;
//! readers and writers (most of a big room's CPU is write syscalls) run on
//! every thread. smol's own global executor runs a thread of its own unless
//! `SMOL_THREADS` says otherwise; this one is sized by the config.

use std::future::Future;
use std::sync::OnceLock;

use smol::{Executor, Task};

static EXECUTOR: Executor<'static> = Executor::new();
static THREADS: OnceLock<usize> = OnceLock::new();

/// How many threads run tasks for `threads` (the config's value): 0 means
/// the cores available to the process.
pub fn threads_for(threads: usize) -> usize {
    if threads == 0 {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    } else {
        threads
    }
}

/// How many threads run tasks ([`start`]'s answer; 1 before it is called).
pub fn running() -> usize {
    THREADS.get().copied().unwrap_or(1)
}

/// Starts the executor's threads besides the one that will call
/// [`block_on`], once; later calls change nothing. Returns how many threads
/// run tasks in all, that one included.
pub fn start(threads: usize) -> usize {
    *THREADS.get_or_init(|| {
        let n = threads_for(threads);
        let mut running = 1;
        for i in 1..n {
            // A worker that cannot start leaves fewer threads, not none: the
            // thread that blocks on the server also runs tasks.
            let started = std::thread::Builder::new()
                .name(format!("chatd-worker-{i}"))
                .spawn(|| smol::block_on(EXECUTOR.run(smol::future::pending::<()>())));
            if started.is_ok() {
                running += 1;
            }
        }
        running
    })
}

/// Spawns `future` on the executor.
pub fn spawn<T: Send + 'static>(future: impl Future<Output = T> + Send + 'static) -> Task<T> {
    EXECUTOR.spawn(future)
}

/// Runs `future` on this thread to its end, running the executor's tasks too
/// meanwhile (so chatd works even before [`start`], as in unit tests).
pub fn block_on<T>(future: impl Future<Output = T>) -> T {
    smol::block_on(EXECUTOR.run(future))
}

#[cfg(test)]
mod tests {
    use super::threads_for;

    #[test]
    fn zero_threads_means_the_cores_available_and_others_are_taken_as_given() {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        assert_eq!(threads_for(0), cores);
        assert_eq!(threads_for(1), 1);
        assert_eq!(threads_for(3), 3);
    }
}
