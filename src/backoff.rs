//! The one back-off of the operator: a first delay, doubled after each consecutive failure, at
//! most a cap. The controller's retries of an import, of a template download and of a report
//! delivery, the mailer's retries of a relay ([`Backoff::steady_retries`], through `backon`),
//! and the retries of single API requests ([`Backoff::retries`], through `backon`) all use it.

use std::time::Duration;

use backon::ExponentialBuilder;

/// `first`, doubled per attempt after the first, at most `max`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Backoff {
    pub(crate) first: Duration,
    pub(crate) max: Duration,
}

impl Backoff {
    pub(crate) const fn new(first: Duration, max: Duration) -> Self {
        Backoff { first, max }
    }

    /// The delay after `attempt` consecutive failures (1-based; 0 is taken as 1):
    /// `first * 2^(attempt - 1)`, at most `max`.
    pub(crate) fn delay(&self, attempt: u32) -> Duration {
        let doublings = attempt.saturating_sub(1).min(31);
        self.first.saturating_mul(1 << doublings).min(self.max)
    }

    /// The same back-off for a retry loop of `backon` (`(|| request).retry(…)`): at most
    /// `times` retries, each delay with up to as much again of random jitter, so that many
    /// writes failing together do not retry together.
    pub(crate) fn retries(&self, times: usize) -> ExponentialBuilder {
        ExponentialBuilder::default()
            .with_min_delay(self.first)
            .with_max_delay(self.max)
            .with_max_times(times)
            .with_jitter()
    }

    /// The same back-off for a retry loop of `backon`, without jitter: at most `times`
    /// retries, waiting [`Backoff::delay`]`(1)`, `delay(2)`, … before them. For a retry loop
    /// of its own (the mailer's), where no crowd of writers fails together, and whose
    /// schedule its settings promise.
    pub(crate) fn steady_retries(&self, times: usize) -> ExponentialBuilder {
        ExponentialBuilder::default()
            // `delay` caps the first delay too; backon's first delay is its minimum.
            .with_min_delay(self.first.min(self.max))
            .with_max_delay(self.max)
            .with_max_times(times)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_from_the_first_delay_up_to_the_cap() {
        let backoff = Backoff::new(Duration::from_secs(30), Duration::from_secs(3600));
        assert_eq!(backoff.delay(0), Duration::from_secs(30));
        assert_eq!(backoff.delay(1), Duration::from_secs(30));
        assert_eq!(backoff.delay(3), Duration::from_secs(120));
        assert_eq!(backoff.delay(30), Duration::from_secs(3600));
        assert_eq!(backoff.delay(u32::MAX), Duration::from_secs(3600));
        let millis = Backoff::new(Duration::from_millis(100), Duration::from_millis(250));
        let delays: Vec<u128> = (1..=4).map(|n| millis.delay(n).as_millis()).collect();
        assert_eq!(delays, vec![100, 200, 250, 250]);
    }

    #[test]
    fn the_retry_loop_makes_at_most_the_given_retries_within_twice_the_cap() {
        use backon::BackoffBuilder;
        let backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(3));
        let delays: Vec<Duration> = backoff.retries(5).build().collect();
        assert_eq!(delays.len(), 5);
        assert!(delays[0] >= Duration::from_millis(100));
        assert!(delays.iter().all(|delay| *delay <= Duration::from_secs(6)));
    }

    /// backon doubles in `f32` seconds: the delays are `delay`'s to within 10 parts in a million
    /// (the mailer's default, 2 s doubling to 30 s, exactly).
    #[test]
    fn the_steady_retry_loop_waits_the_delays_of_the_back_off() {
        use backon::BackoffBuilder;
        for (first, max) in [(100, 250), (2_000, 30_000), (300, 100), (1, 3_600_000)] {
            let backoff = Backoff::new(Duration::from_millis(first), Duration::from_millis(max));
            let delays: Vec<Duration> = backoff.steady_retries(30).build().collect();
            assert_eq!(delays.len(), 30);
            for (attempt, delay) in (1..).zip(delays) {
                let expected = backoff.delay(attempt);
                let within = expected / 100_000 + Duration::from_nanos(1);
                assert!(
                    delay.abs_diff(expected) <= within,
                    "{attempt}: {delay:?} against {expected:?}"
                );
            }
        }
    }
}
