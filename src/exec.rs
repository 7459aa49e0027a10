//! Where chatd's tasks run: one executor with `threads` worker threads (config;
//! 0, the default, means the cores this process may use, which respects
//! `taskset` pinning and cgroup limits). The hub stays one task, the one owner
//! of its state; readers and writers (most of a big room's CPU is write
//! syscalls) run on every worker. smol's own global executor runs a single
//! thread unless `SMOL_THREADS` says otherwise; this one is sized by the config.

use std::future::Future;
use std::sync::OnceLock;

use smol::{Executor, Task};

static EXECUTOR: Executor<'static> = Executor::new();
static WORKERS: OnceLock<usize> = OnceLock::new();

/// Starts the worker threads, once; later calls change nothing. Returns how
/// many run. `threads` 0 means the cores available to the process.
pub fn start(threads: usize) -> usize {
    *WORKERS.get_or_init(|| {
        let n = if threads == 0 {
            std::thread::available_parallelism().map_or(1, |n| n.get())
        } else {
            threads
        };
        for i in 0..n {
            // A worker that cannot start leaves fewer workers, not none: the
            // thread that blocks on the server also runs tasks.
            let _ = std::thread::Builder::new()
                .name(format!("chatd-worker-{i}"))
                .spawn(|| smol::block_on(EXECUTOR.run(smol::future::pending::<()>())));
        }
        n
    })
}

/// Spawns `future` on the workers.
pub fn spawn<T: Send + 'static>(future: impl Future<Output = T> + Send + 'static) -> Task<T> {
    EXECUTOR.spawn(future)
}

/// Runs `future` on this thread to its end, running the workers' tasks too
/// meanwhile (so chatd works even before [`start`], as in unit tests).
pub fn block_on<T>(future: impl Future<Output = T>) -> T {
    smol::block_on(EXECUTOR.run(future))
}
