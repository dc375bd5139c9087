//! Pacing and backoff as pure arithmetic: the caller passes the time and the randomness.

use std::time::{Duration, Instant};

/// A token bucket that spaces requests to a rate, told the time by its caller.
///
/// SES allows one `VerifyDomainDkim` call a second per account and region; one `Pacer` per
/// account and region keeps a client within that. The bucket holds `burst` tokens and refills at
/// `rate` per second; [`Pacer::reserve`] takes a token and says how long to wait before using it.
#[derive(Debug, Clone)]
pub struct Pacer {
    interval: Duration,
    tolerance: Duration,
    /// When the bucket is next empty-but-refilled (GCRA's theoretical arrival time).
    next: Option<Instant>,
}

/// The longest interval a pacer keeps: a rate below one request a day counts as one a day.
pub const MAX_INTERVAL: Duration = Duration::from_secs(24 * 60 * 60);

impl Pacer {
    /// Creates a pacer for `rate` requests a second with bursts of up to `burst`.
    ///
    /// A rate that is not a positive finite number means no pacing; a rate so low that its
    /// interval would pass [`MAX_INTERVAL`] keeps that; `burst` below one counts as one.
    pub fn new(rate: f64, burst: u32) -> Self {
        let interval = if rate.is_finite() && rate > 0.0 {
            Duration::try_from_secs_f64(1.0 / rate)
                .unwrap_or(MAX_INTERVAL)
                .min(MAX_INTERVAL)
        } else {
            Duration::ZERO
        };
        let tolerance = interval.saturating_mul(burst.max(1) - 1);
        Self {
            interval,
            tolerance,
            next: None,
        }
    }

    /// Returns the spacing between requests at the steady rate.
    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// Reserves the next slot and returns how long to wait from `now` before sending.
    ///
    /// Each call reserves one request, so call it once per request actually sent.
    pub fn reserve(&mut self, now: Instant) -> Duration {
        let next = self.next.map_or(now, |next| next.max(now));
        let allowed_at = next.checked_sub(self.tolerance).unwrap_or(now).max(now);
        // With the interval at most a day, the sum cannot overflow an `Instant`.
        self.next = Some(next.checked_add(self.interval).unwrap_or(next));
        allowed_at.saturating_duration_since(now)
    }
}

impl Pacer {
    /// Records that a request actually went out at `now`.
    ///
    /// A request that leaves later than its slot (the process was busy, signing took a while)
    /// pushes the schedule back, so the next one never follows it closer than the interval
    /// allows, as a server that counts arrivals would check.
    pub fn sent(&mut self, now: Instant) {
        let earliest = now.checked_add(self.interval).unwrap_or(now);
        let tolerance_end = earliest.checked_sub(self.tolerance).unwrap_or(earliest);
        // `next` is the slot after this request's; with bursts, keep the burst allowance.
        let floor = if self.tolerance.is_zero() {
            earliest
        } else {
            tolerance_end.max(now)
        };
        self.next = Some(self.next.map_or(floor, |next| next.max(floor)));
    }
}

/// Returns the delay before retry number `retry` (1 for the first retry) with full jitter.
///
/// The ceiling grows as `initial * 2^(retry - 1)`, capped at `max`; the delay is `random` (in
/// `[0, 1)`, from the caller's random source) times that ceiling. This is the standard retry
/// mode of the AWS SDKs.
pub fn backoff_delay(retry: u32, initial: Duration, max: Duration, random: f64) -> Duration {
    let exponent = retry.saturating_sub(1).min(30);
    let ceiling = initial.saturating_mul(1u32 << exponent).min(max);
    let random = if random.is_finite() {
        random.clamp(0.0, 1.0)
    } else {
        0.0
    };
    ceiling.mul_f64(random)
}

#[cfg(test)]
#[expect(
    clippy::disallowed_methods,
    reason = "a test needs some instant to start from"
)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// A rate too low for a `Duration` (or for an `Instant` to add) keeps a day between
    /// requests: never no pacing, never a panic.
    #[test]
    fn a_vanishing_rate_waits_a_day_at_most() {
        let start = Instant::now();
        for rate in [1e-19, 1e-20, f64::MIN_POSITIVE] {
            let mut pacer = Pacer::new(rate, 1);
            assert_eq!(pacer.interval(), MAX_INTERVAL, "{rate}");
            assert_eq!(pacer.reserve(start), Duration::ZERO);
            assert_eq!(pacer.reserve(start), MAX_INTERVAL);
            pacer.sent(start);
        }
    }

    #[test]
    fn one_a_second_spaces_every_request() {
        let start = Instant::now();
        let mut pacer = Pacer::new(1.0, 1);
        assert_eq!(pacer.reserve(start), Duration::ZERO);
        assert_eq!(pacer.reserve(start), Duration::from_secs(1));
        assert_eq!(pacer.reserve(start), Duration::from_secs(2));
        // After a long pause the bucket is full again, but holds one token only.
        let later = start + Duration::from_secs(60);
        assert_eq!(pacer.reserve(later), Duration::ZERO);
        assert_eq!(pacer.reserve(later), Duration::from_secs(1));
    }

    #[test]
    fn a_late_send_pushes_the_next_slot_back() {
        let start = Instant::now();
        let mut pacer = Pacer::new(10.0, 1);
        assert_eq!(pacer.reserve(start), Duration::ZERO);
        // The first request left 30 ms late.
        pacer.sent(start + Duration::from_millis(30));
        // Its successor waits a whole interval after it, not after its slot.
        assert_eq!(pacer.reserve(start), Duration::from_millis(130));
        pacer.sent(start + Duration::from_millis(130));
        assert_eq!(
            pacer.reserve(start + Duration::from_millis(130)),
            Duration::from_millis(100)
        );
    }

    #[test]
    fn bursts_then_the_rate() {
        let start = Instant::now();
        let mut pacer = Pacer::new(2.0, 3);
        let waits: Vec<Duration> = (0..5).map(|_| pacer.reserve(start)).collect();
        let ms = |n| Duration::from_millis(n);
        assert_eq!(waits, [ms(0), ms(0), ms(0), ms(500), ms(1000)]);
    }

    #[test]
    fn no_rate_means_no_wait() {
        let start = Instant::now();
        let mut pacer = Pacer::new(0.0, 1);
        assert_eq!(pacer.reserve(start), Duration::ZERO);
        assert_eq!(pacer.reserve(start), Duration::ZERO);
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let s = Duration::from_secs;
        assert_eq!(
            backoff_delay(1, s(1), s(20), 0.999_999),
            s(1).mul_f64(0.999_999)
        );
        assert_eq!(backoff_delay(3, s(1), s(20), 0.5), s(2));
        assert_eq!(backoff_delay(10, s(1), s(20), 1.0), s(20));
        assert_eq!(backoff_delay(100, s(1), s(20), 0.5), s(10));
        assert_eq!(backoff_delay(2, s(1), s(20), f64::NAN), Duration::ZERO);
    }

    proptest! {
        #[test]
        fn paced_requests_never_come_closer_than_the_interval(
            rate in 0.1f64..50.0,
            gaps in proptest::collection::vec(0u64..3_000, 1..40),
        ) {
            let start = Instant::now();
            let mut pacer = Pacer::new(rate, 1);
            let mut now = start;
            let mut last_send: Option<Instant> = None;
            for gap in gaps {
                now += Duration::from_millis(gap);
                let send = now + pacer.reserve(now) + Duration::from_millis(gap % 7);
                pacer.sent(send);
                if let Some(last) = last_send {
                    // Allow a nanosecond of float rounding in the interval.
                    prop_assert!(send + Duration::from_nanos(1) >= last + pacer.interval());
                }
                last_send = Some(send);
                now = send;
            }
        }
    }
}
