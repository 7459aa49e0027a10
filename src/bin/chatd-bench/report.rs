//! How the results are shown: the table on stdout and the JSON the numbers in
//! docs/performance.md are read from.

use crate::Outcome;

pub fn print_table(outcomes: &[Outcome]) {
    println!(
        "{:<8} {:>7} {:>11} {:>12} {:>8} {:>8} {:>8} {:>10} {:>10} {:>11}",
        "scenario",
        "clients",
        "deliveries",
        "deliv/s",
        "p50 ms",
        "p99 ms",
        "max ms",
        "µs/deliv",
        "RSS KiB",
        "B/client"
    );
    for o in outcomes {
        println!(
            "{:<8} {:>7} {:>11} {:>12.0} {:>8.2} {:>8.2} {:>8.2} {:>10.3} {:>10} {:>11.0}",
            o.name,
            o.clients,
            o.deliveries,
            o.deliveries_per_sec,
            o.p50_ms,
            o.p99_ms,
            o.max_ms,
            o.cpu_us_per_delivery,
            o.rss_after_kib,
            o.rss_per_client_bytes
        );
    }
}

pub fn to_json(outcomes: &[Outcome]) -> String {
    let items: Vec<String> = outcomes
        .iter()
        .map(|o| {
            let item = format!(
                "{{\"scenario\":\"{}\",\"clients\":{},\"deliveries\":{},\"expected\":{},\"seconds\":{:.3},\"deliveries_per_sec\":{:.0},\"p50_ms\":{:.3},\"p99_ms\":{:.3},\"max_ms\":{:.3},\"server_cpu_secs\":{:.3},\"cpu_us_per_delivery\":{:.4},\"rss_before_kib\":{},\"rss_after_kib\":{},\"rss_per_client_bytes\":{:.0},\"errors\":{}}}",
                o.name, o.clients, o.deliveries, o.expected, o.seconds, o.deliveries_per_sec, o.p50_ms, o.p99_ms, o.max_ms,
                o.server_cpu_secs, o.cpu_us_per_delivery, o.rss_before_kib, o.rss_after_kib, o.rss_per_client_bytes, o.errors
            );
            match &o.upgrade {
                Some(u) => format!(
                    "{},\"pause_ms\":{:.3},\"max_gap_ms\":{:.3},\"kept\":{},\"server_pause_ms\":{:.0},\"state_bytes\":{}}}",
                    item.trim_end_matches('}'), u.pause_ms, u.max_gap_ms, u.kept, u.server_pause_ms, u.state_bytes
                ),
                None => item,
            }
        })
        .collect();
    format!("[{}]", items.join(","))
}
