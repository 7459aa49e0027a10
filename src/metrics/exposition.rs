//! Prometheus's text exposition format, version 0.0.4, written by hand: the
//! format is a few rules, and a client library would be the biggest
//! dependency in the tree.
//!
//! A family is its `# HELP` and `# TYPE` lines followed by its samples,
//! `name{label="value",…} number`, each on a line of its own ending in `\n`.
//! Label values escape `\`, `"` and line feeds; help texts escape `\` and
//! line feeds. A counter's name ends in `_total`. A histogram is its
//! cumulative `_bucket{le="…"}` samples, the last one `le="+Inf"`, then
//! `_sum` and `_count`. [`Exposition`] writes exactly that; names are the
//! caller's constants, checked in debug builds.

use std::borrow::Cow;
use std::fmt::Write;

use super::histogram::Histogram;

/// What a family is, as its `# TYPE` line says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Only goes up (or resets to zero when the process restarts).
    Counter,
    /// Goes up and down.
    Gauge,
    /// Observations counted in cumulative buckets.
    Histogram,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        }
    }
}

/// A sample's value: whole counts are written as integers, the rest as
/// decimals (`+Inf`, `-Inf` and `NaN` as the format spells them).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Number {
    /// A count.
    Int(u64),
    /// Seconds, or anything else with a fraction.
    Float(f64),
}

impl From<u64> for Number {
    fn from(n: u64) -> Number {
        Number::Int(n)
    }
}

impl From<usize> for Number {
    fn from(n: usize) -> Number {
        Number::Int(n as u64)
    }
}

impl From<f64> for Number {
    fn from(n: f64) -> Number {
        Number::Float(n)
    }
}

impl std::fmt::Display for Number {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            Number::Int(n) => write!(f, "{n}"),
            Number::Float(x) if x.is_nan() => f.write_str("NaN"),
            Number::Float(x) if x == f64::INFINITY => f.write_str("+Inf"),
            Number::Float(x) if x == f64::NEG_INFINITY => f.write_str("-Inf"),
            // Rust writes the shortest decimal that reads back as the same
            // number, and never an exponent: what Prometheus's parser takes.
            Number::Float(x) => write!(f, "{x}"),
        }
    }
}

/// The metrics text being written, family by family.
#[derive(Debug, Default)]
pub struct Exposition {
    out: String,
}

impl Exposition {
    /// An empty text.
    pub fn new() -> Exposition {
        Exposition::default()
    }

    /// The text; it ends in a line feed (once anything has been written).
    pub fn finish(self) -> String {
        self.out
    }

    /// A family's `# HELP` and `# TYPE` lines; its samples follow.
    pub fn family(&mut self, name: &str, kind: Kind, help: &str) {
        debug_assert!(valid_name(name, true), "bad metric name {name:?}");
        debug_assert_eq!(
            kind == Kind::Counter,
            name.ends_with("_total"),
            "{name}: counters, and only they, end in _total"
        );
        // Pieces pushed, not formatted: a scrape writes a hundred of these.
        for piece in [
            "# HELP ",
            name,
            " ",
            &escape_help(help),
            "\n# TYPE ",
            name,
            " ",
        ] {
            self.out.push_str(piece);
        }
        self.out.push_str(kind.as_str());
        self.out.push('\n');
    }

    /// One sample: `name{labels} value`.
    pub fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: impl Into<Number>) {
        self.out.push_str(name);
        if !labels.is_empty() {
            self.out.push('{');
            for (i, (label, value)) in labels.iter().enumerate() {
                debug_assert!(valid_name(label, false), "bad label name {label:?}");
                if i > 0 {
                    self.out.push(',');
                }
                for piece in [label, "=\"", &escape_label_value(value), "\""] {
                    self.out.push_str(piece);
                }
            }
            self.out.push('}');
        }
        self.out.push(' ');
        match value.into() {
            // Integers are most samples: written without the formatting machinery's detour.
            Number::Int(n) => push_integer(&mut self.out, n),
            float => {
                let _ = write!(self.out, "{float}");
            }
        }
        self.out.push('\n');
    }

    /// A family of one sample without labels.
    pub fn single(&mut self, name: &str, kind: Kind, help: &str, value: impl Into<Number>) {
        self.family(name, kind, help);
        self.sample(name, &[], value);
    }

    /// A family with one label, one sample per value of it.
    pub fn labelled<N: Into<Number> + Copy>(
        &mut self,
        name: &str,
        kind: Kind,
        help: &str,
        label: &str,
        samples: &[(&str, N)],
    ) {
        self.family(name, kind, help);
        for &(value, n) in samples {
            self.sample(name, &[(label, value)], n);
        }
    }

    /// A histogram family: cumulative buckets in seconds, the sum and the count.
    pub fn histogram(&mut self, name: &str, help: &str, histogram: &Histogram) {
        self.family(name, Kind::Histogram, help);
        let bucket = format!("{name}_bucket");
        for (le, count) in histogram.cumulative() {
            self.sample(&bucket, &[("le", le)], count);
        }
        self.sample(
            &format!("{name}_sum"),
            &[],
            Number::Float(histogram.sum_seconds()),
        );
        self.sample(&format!("{name}_count"), &[], histogram.count());
    }
}

/// Appends `n` in decimal.
fn push_integer(out: &mut String, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    // Only ASCII digits were written.
    out.push_str(std::str::from_utf8(&digits[at..]).unwrap_or("0"));
}

/// A label value as the format quotes it: `\` as `\\`, `"` as `\"`, a line
/// feed as `\n`.
pub fn escape_label_value(value: &str) -> Cow<'_, str> {
    if !value.contains(['\\', '"', '\n']) {
        return Cow::Borrowed(value);
    }
    let mut out = String::with_capacity(value.len() + 2);
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// A help text as the format writes it: `\` as `\\`, a line feed as `\n`.
pub fn escape_help(help: &str) -> Cow<'_, str> {
    if !help.contains(['\\', '\n']) {
        return Cow::Borrowed(help);
    }
    Cow::Owned(help.replace('\\', "\\\\").replace('\n', "\\n"))
}

/// Whether `name` is a metric name (`[a-zA-Z_:][a-zA-Z0-9_:]*`), or with
/// `metric` false a label name (no `:`, and not starting with `__`, which
/// Prometheus keeps for itself).
pub fn valid_name(name: &str, metric: bool) -> bool {
    let allowed = |c: char, first: bool| {
        c == '_'
            || c.is_ascii_alphabetic()
            || (!first && c.is_ascii_digit())
            || (metric && c == ':')
    };
    let mut chars = name.chars();
    chars.next().is_some_and(|c| allowed(c, true))
        && chars.all(|c| allowed(c, false))
        && (metric || !name.starts_with("__"))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_counter_and_a_gauge() {
        let mut out = Exposition::new();
        out.single("x_lines_total", Kind::Counter, "Lines.", 3u64);
        out.single("x_rooms", Kind::Gauge, "Rooms now.", 0.5);
        assert_eq!(
            out.finish(),
            "# HELP x_lines_total Lines.\n# TYPE x_lines_total counter\nx_lines_total 3\n\
             # HELP x_rooms Rooms now.\n# TYPE x_rooms gauge\nx_rooms 0.5\n"
        );
    }

    #[test]
    fn labels_are_quoted_and_escaped() {
        let mut out = Exposition::new();
        out.family("x_info", Kind::Gauge, "Info.");
        out.sample("x_info", &[("a", "1"), ("b", "q\"b\\s\nn")], 1u64);
        assert_eq!(
            out.finish(),
            "# HELP x_info Info.\n# TYPE x_info gauge\nx_info{a=\"1\",b=\"q\\\"b\\\\s\\nn\"} 1\n"
        );
    }

    #[test]
    fn help_escapes_backslashes_and_line_feeds_only() {
        assert_eq!(escape_help("a\\b\nc \"d\""), "a\\\\b\\nc \"d\"");
    }

    #[test]
    fn one_label_families() {
        let mut out = Exposition::new();
        out.labelled(
            "x_rejected_total",
            Kind::Counter,
            "Rejected.",
            "reason",
            &[("full", 1u64), ("banned", 0)],
        );
        assert_eq!(
            out.finish(),
            "# HELP x_rejected_total Rejected.\n# TYPE x_rejected_total counter\n\
             x_rejected_total{reason=\"full\"} 1\nx_rejected_total{reason=\"banned\"} 0\n"
        );
    }

    #[test]
    fn numbers_as_the_format_spells_them() {
        let shown: Vec<String> = [
            Number::Int(0),
            Number::Int(u64::MAX),
            Number::Float(0.000_025),
            Number::Float(1e21),
            Number::Float(2.0),
            Number::Float(f64::INFINITY),
            Number::Float(f64::NEG_INFINITY),
            Number::Float(f64::NAN),
        ]
        .iter()
        .map(Number::to_string)
        .collect();
        assert_eq!(
            shown,
            [
                "0",
                "18446744073709551615",
                "0.000025",
                "1000000000000000000000",
                "2",
                "+Inf",
                "-Inf",
                "NaN"
            ]
        );
    }

    #[test]
    fn integers_are_written_whole() {
        let mut out = Exposition::new();
        for n in [0, 7, 10, 1_234_567_890, u64::MAX] {
            out.sample("x", &[], n);
        }
        assert_eq!(
            out.finish(),
            "x 0\nx 7\nx 10\nx 1234567890\nx 18446744073709551615\n"
        );
    }

    #[test]
    fn a_histogram_is_cumulative_with_sum_and_count() {
        let mut histogram = Histogram::new(&["0.001", "0.01"]);
        histogram.observe(Duration::from_micros(500));
        histogram.observe(Duration::from_millis(5));
        histogram.observe(Duration::from_millis(5));
        histogram.observe(Duration::from_secs(2));
        let mut out = Exposition::new();
        out.histogram("x_seconds", "Time.", &histogram);
        assert_eq!(
            out.finish(),
            "# HELP x_seconds Time.\n# TYPE x_seconds histogram\n\
             x_seconds_bucket{le=\"0.001\"} 1\nx_seconds_bucket{le=\"0.01\"} 3\n\
             x_seconds_bucket{le=\"+Inf\"} 4\nx_seconds_sum 2.0105\nx_seconds_count 4\n"
        );
    }

    #[test]
    fn names_follow_the_format() {
        for good in ["a", "_a", "a:b", "chatd_lines_total", "A9"] {
            assert!(valid_name(good, true), "{good}");
        }
        for bad in ["", "9a", "a-b", "a b", "ä"] {
            assert!(!valid_name(bad, true), "{bad}");
        }
        assert!(valid_name("reason", false));
        assert!(!valid_name("a:b", false));
        assert!(!valid_name("__name__", false));
    }
}
