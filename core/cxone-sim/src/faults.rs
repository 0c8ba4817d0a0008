//! Fault decisions, reproducible from the seed.
//!
//! A transient fault (429, 5xx, slow) is decided by hashing the seed, the endpoint, the
//! identity of the request (client id for tokens, body for creates, export id for polls,
//! export id + page token + page size for data) and how many times that identity has
//! been asked for. The same client making the same requests therefore meets the same
//! faults, whatever the interleaving of concurrent requests, and a retry is a new
//! attempt that may succeed.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use crate::config::{FaultEndpoint, RetryAfterMode, SimConfig};
use crate::data::{DAY_MS, format_day, hash_words, mix, unit};
use crate::server::lock;

/// A transient failure to answer instead of the real response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Transient {
    /// 429 with `Retry-After`.
    RateLimited,
    /// 500, 502 or 503.
    ServerError(u16),
}

/// What happens to one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct FaultPlan {
    pub(crate) transient: Option<Transient>,
    pub(crate) slow: bool,
}

/// Attempt numbers per request identity.
#[derive(Debug, Default)]
pub(crate) struct Faults {
    attempts: Mutex<HashMap<u64, u32>>,
}

fn endpoint_tag(endpoint: FaultEndpoint) -> u64 {
    match endpoint {
        FaultEndpoint::Token => 1,
        FaultEndpoint::Create => 2,
        FaultEndpoint::Poll => 3,
        FaultEndpoint::Data => 4,
    }
}

impl Faults {
    /// Counts one more attempt of `identity` and returns its number (1 for the first).
    pub(crate) fn next_attempt(&self, identity: u64) -> u32 {
        let mut map = lock(&self.attempts);
        let n = map.entry(identity).or_insert(0);
        *n = n.saturating_add(1);
        *n
    }

    /// Decides the transient faults of one request.
    pub(crate) fn decide(
        &self,
        cfg: &SimConfig,
        endpoint: FaultEndpoint,
        identity: u64,
    ) -> FaultPlan {
        if !cfg.faults_apply_to(endpoint)
            || (cfg.p429 <= 0.0
                && cfg.p500 <= 0.0
                && cfg.p502 <= 0.0
                && cfg.p503 <= 0.0
                && cfg.p_slow <= 0.0)
        {
            return FaultPlan::default();
        }
        let key = hash_words(&[cfg.seed, endpoint_tag(endpoint), identity]);
        let attempt = self.next_attempt(key);
        let h = hash_words(&[key, u64::from(attempt)]);
        let u = unit(mix(h ^ 0x429));
        let transient = if u < cfg.p429 {
            Some(Transient::RateLimited)
        } else if endpoint == FaultEndpoint::Token {
            None
        } else if u < cfg.p429 + cfg.p500 {
            Some(Transient::ServerError(500))
        } else if u < cfg.p429 + cfg.p500 + cfg.p502 {
            Some(Transient::ServerError(502))
        } else if u < cfg.p429 + cfg.p500 + cfg.p502 + cfg.p503 {
            Some(Transient::ServerError(503))
        } else {
            None
        };
        let slow = unit(mix(h ^ 0x510)) < cfg.p_slow;
        FaultPlan { transient, slow }
    }
}

/// The `Retry-After` header value for a 429.
pub(crate) fn retry_after_value(cfg: &SimConfig) -> String {
    match cfg.retry_after {
        RetryAfterMode::Seconds => cfg.retry_after_secs.to_string(),
        RetryAfterMode::HttpDate => {
            httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(cfg.retry_after_secs))
        }
    }
}

/// Whether an export of `[start_ms, end_ms]`, submitted for the `submission`-th time,
/// fails, and with which message.
pub(crate) fn export_failure(
    cfg: &SimConfig,
    start_ms: i64,
    end_ms: i64,
    submission: u32,
) -> Option<String> {
    if !cfg.fail_dates.is_empty() {
        let first = start_ms.div_euclid(DAY_MS);
        let last = end_ms.div_euclid(DAY_MS);
        // Bounded: the contract limits a window to 90 days; stop scanning after 400.
        for day in (first..=last).take(400) {
            let date = format_day(day);
            if let Some(pattern) = cfg.fail_dates.iter().find(|p| date.contains(p.as_str())) {
                return Some(format!(
                    "Export processing failed: data for {date} could not be read from the \
                     warehouse (simulated failure, fail_dates pattern {pattern:?})"
                ));
            }
        }
    }
    if cfg.p_export_fail > 0.0 {
        let h = hash_words(&[
            cfg.seed,
            0xFA11,
            start_ms as u64,
            end_ms as u64,
            u64::from(submission),
        ]);
        if unit(h) < cfg.p_export_fail {
            return Some(
                "Export processing failed: the warehouse job was aborted (simulated failure, \
                 p_export_fail); submit the export again"
                    .to_owned(),
            );
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decisions_are_reproducible_and_follow_probability() {
        let cfg = SimConfig {
            p429: 0.2,
            p503: 0.1,
            ..SimConfig::default()
        };
        let run = || {
            let f = Faults::default();
            (0..2000)
                .map(|k| f.decide(&cfg, FaultEndpoint::Data, k % 100))
                .collect::<Vec<_>>()
        };
        let a = run();
        assert_eq!(a, run());
        let rl = a
            .iter()
            .filter(|p| p.transient == Some(Transient::RateLimited))
            .count();
        let se = a
            .iter()
            .filter(|p| p.transient == Some(Transient::ServerError(503)))
            .count();
        assert!((320..480).contains(&rl), "{rl}");
        assert!((140..260).contains(&se), "{se}");
    }

    #[test]
    fn token_endpoint_never_gets_5xx() {
        let cfg = SimConfig {
            p500: 1.0,
            ..SimConfig::default()
        };
        let f = Faults::default();
        assert_eq!(f.decide(&cfg, FaultEndpoint::Token, 1).transient, None);
        assert_eq!(
            f.decide(&cfg, FaultEndpoint::Poll, 1).transient,
            Some(Transient::ServerError(500))
        );
    }
}
