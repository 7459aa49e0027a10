//! A histogram of durations with fixed buckets, as Prometheus reads them: an
//! observation counts in the first bucket whose upper bound it does not
//! exceed. Observing is a search over a handful of integers and two adds;
//! the cumulative counts are made only when the metrics are written.

use std::time::Duration;

/// Durations counted in buckets.
#[derive(Debug, Clone, PartialEq)]
pub struct Histogram {
    /// The buckets' upper bounds in seconds, ascending, as `le` writes them
    /// (so that a scrape writes them as they are, not formats floats).
    bounds: &'static [&'static str],
    /// The same bounds in nanoseconds, for the comparison.
    limits: Vec<u64>,
    /// Observations per bucket (not cumulative); the last one is `+Inf`.
    counts: Vec<u64>,
    /// The sum of every observation.
    sum: Duration,
}

impl Histogram {
    /// An empty histogram with these upper bounds: decimal seconds,
    /// ascending (`"0.005"`).
    pub fn new(bounds: &'static [&'static str]) -> Histogram {
        let limits: Vec<u64> = bounds
            .iter()
            .map(|b| match b.parse::<f64>() {
                Ok(seconds) if seconds.is_finite() && seconds > 0.0 => {
                    (seconds * 1e9).round() as u64
                }
                _ => panic!("bad histogram bound {b:?}"),
            })
            .collect();
        assert!(limits.windows(2).all(|w| w[0] < w[1]), "bounds ascend");
        Histogram {
            bounds,
            limits,
            counts: vec![0; bounds.len() + 1],
            sum: Duration::ZERO,
        }
    }

    /// Counts one observation.
    pub fn observe(&mut self, d: Duration) {
        let nanos = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        let bucket = self.limits.partition_point(|&limit| limit < nanos);
        self.counts[bucket] += 1;
        self.sum = self.sum.saturating_add(d);
    }

    /// How many observations there were.
    pub fn count(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// Their sum, in seconds.
    pub fn sum_seconds(&self) -> f64 {
        self.sum.as_secs_f64()
    }

    /// Each bucket's upper bound as `le` writes it (the last `+Inf`) with
    /// the number of observations up to it.
    pub fn cumulative(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        let bounds = self.bounds.iter().copied().chain(["+Inf"]);
        bounds.zip(self.counts.iter().scan(0, |total, &n| {
            *total += n;
            Some(*total)
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_observation_on_a_bound_counts_in_that_bucket() {
        let mut h = Histogram::new(&["0.001", "0.01"]);
        h.observe(Duration::from_millis(1));
        h.observe(Duration::from_nanos(1_000_001));
        h.observe(Duration::ZERO);
        h.observe(Duration::MAX);
        let got: Vec<_> = h.cumulative().collect();
        assert_eq!(
            got,
            [("0.001", 2), ("0.01", 3), ("+Inf", 4)],
            "le is inclusive; anything beyond the last bound is +Inf"
        );
        assert_eq!(h.count(), 4);
    }

    #[test]
    fn the_sum_adds_every_observation() {
        let mut h = Histogram::new(&["1"]);
        assert_eq!((h.count(), h.sum_seconds()), (0, 0.0));
        h.observe(Duration::from_millis(250));
        h.observe(Duration::from_millis(1500));
        assert_eq!(h.sum_seconds(), 1.75);
        assert_eq!(h.cumulative().collect::<Vec<_>>(), [("1", 1), ("+Inf", 2)]);
    }
}
