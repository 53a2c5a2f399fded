//! How often and how patiently a transient delivery failure is retried.

use std::time::Duration;

use backon::ExponentialBuilder;

use crate::backoff::Backoff;

/// Exponential back-off, bounded both by attempts and by total time.
///
/// The delay before attempt `n + 1` is `initial_delay * 2^(n-1)`, capped at `max_delay`.
/// No further attempt starts when `max_attempts` is reached or when waiting would pass
/// `max_elapsed` since the first attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// At least 1 (0 is treated as 1).
    pub max_attempts: u32,
    /// The wait before the second attempt; it doubles after each.
    pub initial_delay: Duration,
    /// The longest wait between two attempts.
    pub max_delay: Duration,
    /// No retry is waited for past this much time since the first attempt.
    pub max_elapsed: Duration,
}

impl Default for RetryPolicy {
    /// 5 attempts, 2 s doubling to at most 30 s, within 2 minutes: long enough to ride out a
    /// relay restart, short enough that a reconcile does not hang.
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 5,
            initial_delay: Duration::from_secs(2),
            max_delay: Duration::from_secs(30),
            max_elapsed: Duration::from_secs(120),
        }
    }
}

impl RetryPolicy {
    /// The same policy with `max_attempts` attempts.
    pub fn with_max_attempts(mut self, max_attempts: u32) -> Self {
        self.max_attempts = max_attempts;
        self
    }

    /// The delays of `backon`'s retry loop: one after each failed attempt but the last of
    /// `max_attempts`, doubling ([`Backoff`]). `max_elapsed` is checked against the clock by
    /// the loop ([`RetryPolicy::within_time`]): the attempts take time too.
    pub(crate) fn delays(&self) -> ExponentialBuilder {
        let retries = self.max_attempts.max(1) - 1;
        Backoff::new(self.initial_delay, self.max_delay)
            .steady_retries(usize::try_from(retries).unwrap_or(usize::MAX))
    }

    /// `delay`, the next wait of [`RetryPolicy::delays`], when it ends within `max_elapsed`
    /// of the first attempt, which began `elapsed` ago; None (no retry) otherwise.
    pub(crate) fn within_time(
        &self,
        elapsed: Duration,
        delay: Option<Duration>,
    ) -> Option<Duration> {
        delay.filter(|delay| elapsed + *delay <= self.max_elapsed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 4,
            initial_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(250),
            max_elapsed: Duration::from_secs(10),
        }
    }

    fn delays(policy: &RetryPolicy) -> Vec<u128> {
        use backon::BackoffBuilder;
        policy
            .delays()
            .build()
            .map(|delay| delay.as_millis())
            .collect()
    }

    #[test]
    fn delays_double_up_to_the_cap_one_fewer_than_the_attempts() {
        assert_eq!(delays(&policy()), vec![100, 200, 250]);
        assert_eq!(
            delays(&RetryPolicy::default()),
            vec![2_000, 4_000, 8_000, 16_000]
        );
        for max_attempts in [0, 1] {
            let once = RetryPolicy {
                max_attempts,
                ..policy()
            };
            assert_eq!(delays(&once), Vec::<u128>::new());
        }
    }

    #[test]
    fn time_bounds_the_retries() {
        let p = policy();
        let delay = Some(Duration::from_millis(100));
        assert_eq!(p.within_time(Duration::ZERO, delay), delay);
        assert_eq!(p.within_time(Duration::from_millis(9900), delay), delay);
        assert_eq!(p.within_time(Duration::from_millis(9950), delay), None);
        assert_eq!(p.within_time(Duration::ZERO, None), None);
    }
}
