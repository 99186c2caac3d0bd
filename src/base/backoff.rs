//! Exponential backoff, the one curve used for Kafka retries and for task
//! restarts.
//!
//! The wait before attempt `n` (1-based) is `first × multiplierⁿ⁻¹`, capped
//! at `max`. Retries against a shared broker add jitter so that N daemons
//! (or N partitions) that lost the same broker do not all come back in the
//! same millisecond; the supervisor's restarts use the plain curve so that
//! its waits can be stated in the config and checked.

use std::time::Duration;

/// An exponential backoff curve and the attempt reached on it.
#[derive(Debug, Clone)]
pub struct Backoff {
    first: Duration,
    max: Duration,
    multiplier: f64,
    /// Relative jitter: each wait is scaled by a random factor in
    /// `1 ± jitter` (still capped at `max`).
    jitter: f64,
    attempt: u32,
}

impl Backoff {
    /// Doubling waits from `first` (at least 1 ms) up to `max` (at least
    /// `first`), without jitter.
    pub fn new(first: Duration, max: Duration) -> Self {
        let first = first.max(Duration::from_millis(1));
        Self {
            first,
            max: max.max(first),
            multiplier: 2.0,
            jitter: 0.0,
            attempt: 0,
        }
    }

    /// Each further attempt multiplies the wait by `multiplier` (values
    /// below 1, or not finite, are taken as 1).
    pub fn with_multiplier(mut self, multiplier: f64) -> Self {
        self.multiplier = if multiplier.is_finite() {
            multiplier.max(1.0)
        } else {
            1.0
        };
        self
    }

    /// Scales every wait by a random factor in `1 ± fraction` (0..=1).
    pub fn with_jitter(mut self, fraction: f64) -> Self {
        self.jitter = fraction.clamp(0.0, 1.0);
        self
    }

    /// The wait before attempt `attempt` (1-based) on the plain curve,
    /// without jitter.
    pub fn delay(&self, attempt: u32) -> Duration {
        let exp = self
            .multiplier
            .powi(attempt.saturating_sub(1).min(64) as i32);
        let secs = (self.first.as_secs_f64() * exp).min(self.max.as_secs_f64());
        Duration::from_secs_f64(secs.max(0.0))
    }

    /// The wait before the next attempt, jittered; each call moves one
    /// attempt up the curve.
    pub fn next_wait(&mut self) -> Duration {
        self.attempt = self.attempt.saturating_add(1);
        let step = self.delay(self.attempt);
        if self.jitter == 0.0 {
            return step;
        }
        let factor = rand::random_range((1.0 - self.jitter)..=(1.0 + self.jitter));
        step.mul_f64(factor).min(self.max)
    }

    /// Back to the first step after a success.
    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plain_curve_multiplies_up_to_the_cap() {
        let b = Backoff::new(Duration::from_millis(500), Duration::from_secs(30));
        assert_eq!(b.delay(1), Duration::from_millis(500));
        assert_eq!(b.delay(2), Duration::from_secs(1));
        assert_eq!(b.delay(30), Duration::from_secs(30));
        let slow = b.clone().with_multiplier(1.5);
        assert_eq!(slow.delay(3), Duration::from_millis(1125));
    }

    #[test]
    fn jittered_waits_double_up_to_the_cap_and_reset() {
        let mut b =
            Backoff::new(Duration::from_millis(100), Duration::from_millis(1000)).with_jitter(0.25);
        let waits: Vec<Duration> = (0..8).map(|_| b.next_wait()).collect();
        assert!(waits[0] >= Duration::from_millis(75) && waits[0] <= Duration::from_millis(125));
        assert!(waits[2] >= Duration::from_millis(300) && waits[2] <= Duration::from_millis(500));
        assert!(waits.iter().all(|w| *w <= Duration::from_millis(1000)));
        assert!(waits[7] >= Duration::from_millis(750));
        b.reset();
        assert!(b.next_wait() <= Duration::from_millis(125));
    }
}
