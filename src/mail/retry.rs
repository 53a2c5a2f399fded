//! How often and how patiently a transient delivery failure is retried.

use std::time::Duration;

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

    /// The delay to wait after failed attempt number `attempt` (1-based).
    pub(crate) fn delay_after(&self, attempt: u32) -> Duration {
        Backoff::new(self.initial_delay, self.max_delay).delay(attempt)
    }

    /// Whether another attempt may start after `attempt` failures, `elapsed` after the first.
    pub(crate) fn may_retry(&self, attempt: u32, elapsed: Duration) -> bool {
        attempt < self.max_attempts.max(1)
            && elapsed + self.delay_after(attempt) <= self.max_elapsed
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

    #[test]
    fn delays_double_up_to_the_cap() {
        let p = policy();
        let delays: Vec<u128> = (1..=4).map(|n| p.delay_after(n).as_millis()).collect();
        assert_eq!(delays, vec![100, 200, 250, 250]);
    }

    #[test]
    fn attempts_and_time_bound_the_retries() {
        let p = policy();
        assert!(p.may_retry(3, Duration::ZERO));
        assert!(!p.may_retry(4, Duration::ZERO));
        assert!(!p.may_retry(1, Duration::from_millis(9950)));
        let once = RetryPolicy {
            max_attempts: 0,
            ..p
        };
        assert!(!once.may_retry(1, Duration::ZERO));
    }
}
