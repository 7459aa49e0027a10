//! The standard process metrics (`process_cpu_seconds_total`,
//! `process_resident_memory_bytes`, …), read from `/proc` the way
//! Prometheus's own client libraries read them, so dashboards made for any
//! other Linux service work for chatd too.
//!
//! [`read`] does the file system reads (blocking, but of `/proc`: no disk;
//! the caller runs it off the executor all the same, since counting the open
//! descriptors of a server with 10,000 clients reads a directory of 10,000
//! entries). The parsers are pure and unit-tested.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Clock ticks per second in `/proc/PID/stat` (`USER_HZ`): 100 on every
/// architecture Linux runs on today but Alpha. Prometheus's procfs library
/// assumes the same rather than ask `sysconf`, which would need libc.
const USER_HZ: f64 = 100.0;

/// What the process uses now.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Process {
    /// User and system CPU time of every thread since the process started.
    pub cpu_seconds: f64,
    /// Memory resident in RAM now.
    pub resident_bytes: u64,
    /// The size of its address space.
    pub virtual_bytes: u64,
    /// File descriptors open now.
    pub open_fds: u64,
    /// The limit on them (`RLIMIT_NOFILE`, soft; `LimitNOFILE=` under systemd).
    pub max_fds: u64,
    /// When the process started, in seconds since the Unix epoch.
    pub start_time_seconds: f64,
}

/// Reads this process's figures from `/proc`; None where there is no
/// `/proc` (not Linux) or it cannot be read: the metrics then leave the
/// process families out rather than show zeros.
pub fn read() -> Option<Process> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let boot = boot_time(&std::fs::read_to_string("/proc/stat").ok()?)?;
    let open_fds = std::fs::read_dir("/proc/self/fd").ok()?.count() as u64;
    let stat = parse_stat(&stat)?;
    Some(Process {
        cpu_seconds: (stat.utime + stat.stime) as f64 / USER_HZ,
        resident_bytes: resident_kib(&status)? * 1024,
        virtual_bytes: stat.vsize,
        open_fds,
        max_fds: max_open_files(&limits)?,
        start_time_seconds: boot as f64 + stat.starttime as f64 / USER_HZ,
    })
}

/// The fields of `/proc/PID/stat` the metrics need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stat {
    /// Fields 14 and 15: CPU time in user and kernel mode, in clock ticks.
    utime: u64,
    stime: u64,
    /// Field 22: when the process started, in clock ticks after boot.
    starttime: u64,
    /// Field 23: the address space in bytes.
    vsize: u64,
}

/// Reads `/proc/PID/stat`. The command name (field 2) is in parentheses and
/// may itself hold spaces and parentheses, so the fields are counted from
/// the last `)`.
fn parse_stat(text: &str) -> Option<Stat> {
    let (_, after_name) = text.rsplit_once(')')?;
    // Field 3 (the state) is the first after the name.
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let field = |n: usize| fields.get(n - 3)?.parse::<u64>().ok();
    Some(Stat {
        utime: field(14)?,
        stime: field(15)?,
        starttime: field(22)?,
        vsize: field(23)?,
    })
}

/// `VmRSS:` of `/proc/PID/status`, in KiB.
pub fn resident_kib(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// The soft limit of `Max open files` in `/proc/PID/limits`;
/// `unlimited` as `u64::MAX`.
fn max_open_files(limits: &str) -> Option<u64> {
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    match line["Max open files".len()..].split_whitespace().next()? {
        "unlimited" => Some(u64::MAX),
        soft => soft.parse().ok(),
    }
}

/// `btime` of `/proc/stat`: when the system booted, in seconds since the
/// Unix epoch.
fn boot_time(stat: &str) -> Option<u64> {
    stat.lines()
        .find_map(|l| l.strip_prefix("btime "))?
        .trim()
        .parse()
        .ok()
}

/// Seconds since the Unix epoch now, for comparing with a start time.
pub fn unix_seconds_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_secs_f64()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_are_counted_after_the_name() {
        // A command name with a space and a parenthesis of its own.
        let line = "4242 (chat d) x) S 1 4242 4242 0 -1 4194560 580 0 0 0 \
                    17 5 0 0 20 0 3 0 123456 27525120 1024 18446744073709551615 \
                    1 1 0 0 0 0 0 4096 17922 0 0 0 17 1 0 0 0 0 0";
        assert_eq!(
            parse_stat(line),
            Some(Stat {
                utime: 17,
                stime: 5,
                starttime: 123_456,
                vsize: 27_525_120
            })
        );
        assert_eq!(parse_stat("4242 (chatd) S 1"), None);
        assert_eq!(parse_stat("no name here"), None);
    }

    #[test]
    fn resident_memory_from_status() {
        let status = "Name:\tchatd\nVmPeak:\t  30000 kB\nVmRSS:\t    4321 kB\nThreads:\t3\n";
        assert_eq!(resident_kib(status), Some(4321));
        assert_eq!(resident_kib("Name:\tchatd\n"), None);
    }

    #[test]
    fn the_soft_limit_on_open_files() {
        let limits = "Limit                     Soft Limit           Hard Limit           Units     \n\
                      Max cpu time              unlimited            unlimited            seconds   \n\
                      Max open files            1024                 524288               files     \n";
        assert_eq!(max_open_files(limits), Some(1024));
        let unlimited =
            "Max open files            unlimited            unlimited            files\n";
        assert_eq!(max_open_files(unlimited), Some(u64::MAX));
        assert_eq!(max_open_files("Max processes 10 10 processes\n"), None);
    }

    #[test]
    fn boot_time_from_proc_stat() {
        let stat = "cpu  1 2 3 4\nintr 5\nctxt 6\nbtime 1764979200\nprocesses 7\n";
        assert_eq!(boot_time(stat), Some(1_764_979_200));
        assert_eq!(boot_time("cpu 1\n"), None);
    }

    #[test]
    fn this_process_reads_sensibly() {
        let Some(me) = read() else {
            return; // No /proc here: nothing to check.
        };
        assert!(me.open_fds >= 3 && me.open_fds <= me.max_fds, "{me:?}");
        assert!(me.resident_bytes > 0 && me.virtual_bytes >= me.resident_bytes);
        let now = unix_seconds_now();
        assert!(
            me.start_time_seconds <= now + 1.0 && me.start_time_seconds > now - 86_400.0,
            "started at {} (now {now})",
            me.start_time_seconds
        );
    }
}
