//! The one retry policy of every request (token, create, poll, data) and the limiter
//! shared by all requests of a source.
//!
//! - `429`: wait `Retry-After` (seconds or an HTTP date; exponential backoff with
//!   jitter when absent) and push the shared "not before" instant, so every request of
//!   the source waits, not just the throttled one.
//! - `5xx`, timeouts, transport errors: bounded exponential backoff with jitter.
//! - Optional token bucket (`max_requests_per_second`) in front of every request.
//!
//! Backoff, jitter and `Retry-After` parsing are `tributary_plugin_sdk::retry`'s (shared
//! with the webhook sink, re-exported here); this module adds the source's cap on
//! `Retry-After`, its [`RetryPolicy`] and the limiter.

use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use tokio::time::Instant;
pub use tributary_plugin_sdk::retry::{Backoff, jitter};

/// Longest `Retry-After` honoured; larger values are capped (and still honoured).
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

/// Backoff parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first attempt.
    pub max_retries: u32,
    /// First backoff.
    pub initial: Duration,
    /// Cap of one backoff.
    pub max: Duration,
}

impl RetryPolicy {
    /// The backoff before retry number `retry` (0-based): `initial * 2^retry`, capped at
    /// `max`, with "equal jitter" (half fixed, half random) so that concurrent clients
    /// do not retry in lockstep ([`Backoff::delay`]).
    pub fn backoff(&self, retry: u32) -> Duration {
        Backoff {
            initial: self.initial,
            max: self.max,
        }
        .delay(retry)
    }
}

/// Parses a `Retry-After` value: delay seconds (`120`, also `1.5`) or an HTTP date
/// (`Wed, 21 Oct 2015 07:28:00 GMT`, relative to `now`; a date in the past is zero).
/// `None` when unparseable. Capped at [`MAX_RETRY_AFTER`]
/// ([`tributary_plugin_sdk::retry::parse_retry_after`] with this source's cap).
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    tributary_plugin_sdk::retry::parse_retry_after(value, now).map(|d| d.min(MAX_RETRY_AFTER))
}

#[derive(Debug)]
struct Bucket {
    rate: f64,
    capacity: f64,
    tokens: f64,
    last: Instant,
}

/// The per-source limiter: a shared "not before" instant (pushed by 429s) and an
/// optional token bucket. Every request calls [`Limiter::acquire`] first.
#[derive(Debug)]
pub struct Limiter {
    not_before: Mutex<Option<Instant>>,
    bucket: Option<tokio::sync::Mutex<Bucket>>,
}

impl Limiter {
    /// A limiter, with a token bucket when `max_rps` is set.
    pub fn new(max_rps: Option<f64>) -> Self {
        let bucket = max_rps.filter(|r| r.is_finite() && *r > 0.0).map(|rate| {
            let capacity = rate.clamp(1.0, 100.0);
            tokio::sync::Mutex::new(Bucket {
                rate,
                capacity,
                tokens: capacity,
                last: Instant::now(),
            })
        });
        Self {
            not_before: Mutex::new(None),
            bucket,
        }
    }

    /// The instant before which no request may start, if it is in the future.
    pub fn not_before(&self) -> Option<Instant> {
        let nb = self.not_before.lock().ok().and_then(|g| *g);
        nb.filter(|t| *t > Instant::now())
    }

    /// Forbids every request of the source until `until` (keeps the later instant).
    pub fn hold_until(&self, until: Instant) {
        if let Ok(mut g) = self.not_before.lock() {
            match *g {
                Some(t) if t >= until => {}
                _ => *g = Some(until),
            }
        }
    }

    /// Waits until a request may be sent.
    pub async fn acquire(&self) {
        // Bounded: each round either returns or sleeps until a strictly later instant.
        loop {
            while let Some(t) = self.not_before() {
                tokio::time::sleep_until(t).await;
            }
            if let Some(bucket) = &self.bucket {
                let mut b = bucket.lock().await;
                loop {
                    let now = Instant::now();
                    let elapsed = now.saturating_duration_since(b.last).as_secs_f64();
                    b.tokens = (b.tokens + elapsed * b.rate).min(b.capacity);
                    b.last = now;
                    if b.tokens >= 1.0 {
                        b.tokens -= 1.0;
                        break;
                    }
                    let wait = Duration::from_secs_f64(((1.0 - b.tokens) / b.rate).min(3600.0));
                    tokio::time::sleep(wait).await;
                }
            }
            // A 429 may have arrived while we waited for the bucket.
            if self.not_before().is_none() {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_is_the_sdks_capped_at_an_hour() {
        // The forms themselves are tested where they are parsed (tributary_plugin_sdk::retry).
        let now = httpdate::parse_http_date("Wed, 21 Oct 2015 07:28:00 GMT").unwrap();
        assert_eq!(parse_retry_after("2", now), Some(Duration::from_secs(2)));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:05 GMT", now),
            Some(Duration::from_secs(5))
        );
        assert_eq!(parse_retry_after("999999999", now), Some(MAX_RETRY_AFTER));
        assert_eq!(parse_retry_after("soon", now), None);
    }

    #[test]
    fn backoff_grows_bounded_with_jitter() {
        let p = RetryPolicy {
            max_retries: 8,
            initial: Duration::from_millis(100),
            max: Duration::from_millis(1000),
        };
        for retry in 0..40 {
            let base = (100u64 << retry.min(20)).min(1000);
            let d = p.backoff(retry).as_millis() as u64;
            assert!(
                d >= base / 2 && d <= base,
                "retry {retry}: {d} not in [{}, {base}]",
                base / 2
            );
        }
    }

    #[tokio::test(start_paused = true)]
    async fn hold_delays_every_acquire() {
        let l = Limiter::new(None);
        let t0 = Instant::now();
        l.hold_until(t0 + Duration::from_secs(2));
        l.hold_until(t0 + Duration::from_secs(1)); // earlier: ignored
        l.acquire().await;
        assert!(Instant::now() >= t0 + Duration::from_secs(2));
    }

    #[tokio::test(start_paused = true)]
    async fn token_bucket_paces() {
        let l = Limiter::new(Some(10.0));
        let t0 = Instant::now();
        for _ in 0..30 {
            l.acquire().await;
        }
        // 10 in the initial burst, then 20 more at 10/s.
        let el = Instant::now() - t0;
        assert!(
            el >= Duration::from_millis(1900) && el <= Duration::from_millis(2200),
            "{el:?}"
        );
    }
}
