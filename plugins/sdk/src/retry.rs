//! Retry timing shared by the CXone source and the sinks that call HTTP services (the
//! `webhook` sink): exponential backoff with a cap, jitter, and `Retry-After` parsing.
//!
//! Pure std plus `httpdate` (the HTTP-date form of `Retry-After`); no runtime, no clock
//! of its own beyond [`std::time::SystemTime`]: callers sleep with whatever they run on.
//!
//! ```
//! use std::time::{Duration, SystemTime};
//! use tributary_plugin_sdk::retry::{Backoff, parse_retry_after};
//!
//! let b = Backoff { initial: Duration::from_millis(100), max: Duration::from_secs(1) };
//! assert_eq!(b.base(3), Duration::from_millis(800));
//! assert_eq!(b.base(10), Duration::from_secs(1));
//! let d = b.delay(3); // between half and all of 800 ms
//! assert!(d >= Duration::from_millis(400) && d <= Duration::from_millis(800));
//! assert_eq!(parse_retry_after("2", SystemTime::now()), Some(Duration::from_secs(2)));
//! ```

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

/// Exponential backoff: `initial * 2^retry`, capped at `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The first delay (retry 0).
    pub initial: Duration,
    /// The longest delay.
    pub max: Duration,
}

impl Backoff {
    /// The delay before retry number `retry` (0-based) without jitter: `initial * 2^retry`,
    /// capped at `max` (no overflow for any `retry`).
    pub fn base(&self, retry: u32) -> Duration {
        self.initial
            .saturating_mul(1u32.checked_shl(retry.min(31)).unwrap_or(u32::MAX))
            .min(self.max)
    }

    /// [`Backoff::base`] with "equal jitter": half of it fixed, the other half random, so
    /// that concurrent clients do not retry in lockstep yet never retry much earlier than
    /// planned.
    pub fn delay(&self, retry: u32) -> Duration {
        let base = self.base(retry);
        let half = base / 2;
        half + jitter(base - half)
    }
}

/// A random duration in `[0, upto]` ("full jitter" of `upto`). splitmix64 over one
/// process-wide state seeded from the clock: spread, not secrecy.
pub fn jitter(upto: Duration) -> Duration {
    static STATE: AtomicU64 = AtomicU64::new(0);
    const GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;
    let seed = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(GAMMA, |d| d.as_nanos() as u64)
        | 1;
    // One atomic step per draw, so concurrent callers get different numbers.
    let prev = STATE
        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |s| {
            Some(if s == 0 { seed } else { s }.wrapping_add(GAMMA))
        })
        .unwrap_or(seed);
    let mut z = if prev == 0 { seed } else { prev }.wrapping_add(GAMMA);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    let frac = (z >> 11) as f64 / (1u64 << 53) as f64;
    upto.mul_f64(frac)
}

/// Parses a `Retry-After` value (RFC 9110 §10.2.3): delay seconds (`120`; `1.5` accepted
/// too) or an HTTP date (`Wed, 21 Oct 2015 07:28:00 GMT`, relative to `now`; a date in
/// the past is zero). `None` when unparseable or negative. Not capped (a huge number of
/// seconds saturates): callers apply their own longest wait.
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let v = value.trim();
    if v.is_empty() {
        return None;
    }
    if v.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        // Digits and dots only: never negative or NaN; too many digits parse as infinity.
        let secs: f64 = v.parse().ok()?;
        return Some(Duration::try_from_secs_f64(secs).unwrap_or(Duration::MAX));
    }
    let at = httpdate::parse_http_date(v).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_both_forms() {
        let now = httpdate::parse_http_date("Wed, 21 Oct 2015 07:28:00 GMT").unwrap();
        assert_eq!(parse_retry_after("2", now), Some(Duration::from_secs(2)));
        assert_eq!(parse_retry_after(" 0 ", now), Some(Duration::ZERO));
        assert_eq!(
            parse_retry_after("1.5", now),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:05 GMT", now),
            Some(Duration::from_secs(5))
        );
        // RFC 850 and asctime forms, which RFC 9110 asks recipients to accept.
        assert_eq!(
            parse_retry_after("Wednesday, 21-Oct-15 07:28:07 GMT", now),
            Some(Duration::from_secs(7))
        );
        assert_eq!(
            parse_retry_after("Wed Oct 21 07:28:09 2015", now),
            Some(Duration::from_secs(9))
        );
        // In the past: no wait.
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:27:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(
            parse_retry_after("999999999", now),
            Some(Duration::from_secs(999_999_999))
        );
        assert_eq!(
            parse_retry_after(&"9".repeat(400), now),
            Some(Duration::MAX)
        );
        for bad in ["", "soon", "-1", "1.2.3", ".", "Wed, 99 Foo 2015"] {
            assert_eq!(parse_retry_after(bad, now), None, "{bad}");
        }
    }

    #[test]
    fn backoff_grows_bounded_with_equal_jitter() {
        let b = Backoff {
            initial: Duration::from_millis(100),
            max: Duration::from_millis(1000),
        };
        for retry in 0..40 {
            let base = (100u64 << retry.min(20)).min(1000);
            assert_eq!(b.base(retry).as_millis() as u64, base);
            let d = b.delay(retry).as_millis() as u64;
            assert!(
                d >= base / 2 && d <= base,
                "retry {retry}: {d} not in [{}, {base}]",
                base / 2
            );
        }
        let huge = Backoff {
            initial: Duration::from_secs(u64::MAX / 2),
            max: Duration::MAX,
        };
        assert_eq!(huge.base(u32::MAX), Duration::MAX);
    }

    #[test]
    fn jitter_spreads_within_bounds() {
        let upto = Duration::from_millis(1000);
        let draws: Vec<Duration> = (0..1000).map(|_| jitter(upto)).collect();
        assert!(draws.iter().all(|d| *d <= upto));
        let low = draws.iter().filter(|d| **d < upto / 2).count();
        assert!((300..700).contains(&low), "{low} of 1000 below the middle");
        assert_eq!(jitter(Duration::ZERO), Duration::ZERO);
    }
}
