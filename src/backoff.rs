//! The one back-off of the operator: a first delay, doubled after each consecutive failure, at
//! most a cap. The controller's retries of an import, of a template download and of a report
//! delivery, the mailer's retries of a relay, and the retries of single API requests
//! ([`Backoff::retries`], through `backon`) all use it.

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
}
