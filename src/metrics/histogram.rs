//! A histogram of durations with fixed buckets, as Prometheus reads them: an
//! observation counts in the first bucket whose upper bound it does not
//! exceed. Observing is a search over a handful of integers and two adds;
//! the cumulative counts are made only when the metrics are written.

use std::time::Duration;

/// Durations counted in buckets.
#[derive(Debug, Clone, PartialEq)]
pub struct Histogram {
    /// The buckets' upper bounds in seconds, as written in `le`, ascending.
    bounds: &'static [f64],
    /// The same bounds in nanoseconds, for the comparison.
    limits: Vec<u64>,
    /// Observations per bucket (not cumulative); the last one is `+Inf`.
    counts: Vec<u64>,
    /// The sum of every observation.
    sum: Duration,
}

impl Histogram {
    /// An empty histogram with these upper bounds, in seconds, ascending.
    pub fn new(bounds: &'static [f64]) -> Histogram {
        debug_assert!(bounds.windows(2).all(|w| w[0] < w[1]), "bounds ascend");
        Histogram {
            bounds,
            limits: bounds.iter().map(|b| (b * 1e9).round() as u64).collect(),
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

    /// Each bucket's upper bound in seconds (None: `+Inf`) with the number of
    /// observations up to it.
    pub fn cumulative(&self) -> impl Iterator<Item = (Option<f64>, u64)> + '_ {
        let bounds = self.bounds.iter().map(|&b| Some(b)).chain([None]);
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
        let mut h = Histogram::new(&[0.001, 0.01]);
        h.observe(Duration::from_millis(1));
        h.observe(Duration::from_nanos(1_000_001));
        h.observe(Duration::ZERO);
        h.observe(Duration::MAX);
        let got: Vec<_> = h.cumulative().collect();
        assert_eq!(
            got,
            [(Some(0.001), 2), (Some(0.01), 3), (None, 4)],
            "le is inclusive; anything beyond the last bound is +Inf"
        );
        assert_eq!(h.count(), 4);
    }

    #[test]
    fn the_sum_adds_every_observation() {
        let mut h = Histogram::new(&[1.0]);
        assert_eq!((h.count(), h.sum_seconds()), (0, 0.0));
        h.observe(Duration::from_millis(250));
        h.observe(Duration::from_millis(1500));
        assert_eq!(h.sum_seconds(), 1.75);
        assert_eq!(
            h.cumulative().collect::<Vec<_>>(),
            [(Some(1.0), 1), (None, 2)]
        );
    }
}
