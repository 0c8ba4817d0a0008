//! Judging one attempt of a request: what its answer (or its failure to come) means for the
//! request: done, failed, retried after a wait, or a token to refresh.

use std::time::{Duration, SystemTime};

use reqwest::header::RETRY_AFTER;

use super::{CallOpts, Client, Endpoint, Reply, later, reply_message, server_message};
use crate::config::DEFAULT_SCOPE;
use crate::error::CxoneError;
use crate::metrics::SourceMetrics;
use crate::retry::parse_retry_after;
use crate::window::Window;

impl Client {
    /// A request that got no answer (timeout, connection): retried after a backoff.
    pub(super) fn transport_failure(
        &self,
        ep: Endpoint,
        url: &str,
        e: &reqwest::Error,
        elapsed: Duration,
        retries: u32,
    ) -> Verdict {
        self.metrics.record_request(ep, 0, elapsed);
        SourceMetrics::add(&self.metrics.timeouts, 1);
        let what = if e.is_timeout() {
            "timed out"
        } else {
            "failed"
        };
        tracing::warn!(endpoint = ep.as_str(), url, error = %e, "request {what}");
        Verdict::Retry {
            wait: self.policy.backoff(retries),
            failure: format!("request {what}: {e}"),
        }
    }

    /// What an answer means: done, failed (typed), retried (after `wait`, with every
    /// request held on 429 and throttling 403s), or a token to refresh (401).
    pub(super) fn judge(
        &self,
        call: &Call<'_>,
        reply: Reply,
        elapsed: Duration,
        retries: u32,
    ) -> Verdict {
        let Call {
            ep,
            url,
            window,
            opts,
        } = *call;
        let status = reply.status;
        self.metrics.record_request(ep, status, elapsed);
        SourceMetrics::add(&self.metrics.bytes, reply.body.len() as u64);
        let fail = |e: CxoneError| Verdict::Fail(e);
        match status {
            200..=299 => Verdict::Done(reply),
            403 | 404 | 410 if opts.pass_denied => Verdict::Done(reply),
            403 if opts.forbidden_is_throttle => {
                SourceMetrics::add(&self.metrics.spacing_refusals, 1);
                let wait = self.spacing.interval.max(self.policy.backoff(retries));
                self.limiter.hold_until(later(wait));
                self.metrics.note_wait(
                    format!(
                        "HTTP 403 from {} (calls too frequent): every request waits",
                        ep.as_str()
                    ),
                    wait,
                );
                Verdict::Retry {
                    wait: Duration::ZERO,
                    failure: "HTTP 403 (calls too frequent)".to_string(),
                }
            }
            504 if ep == Endpoint::Create => {
                SourceMetrics::add(&self.metrics.server_errors, 1);
                Verdict::Done(reply)
            }
            401 if ep == Endpoint::Token => fail(CxoneError::Auth {
                url: url.to_string(),
                status,
                message: server_message(&reply.body),
            }),
            401 => Verdict::Refresh,
            403 => fail(CxoneError::Forbidden {
                url: url.to_string(),
                scopes: DEFAULT_SCOPE.to_string(),
                message: server_message(&reply.body),
            }),
            429 => {
                SourceMetrics::add(&self.metrics.throttled, 1);
                let wait = reply
                    .header(RETRY_AFTER.as_str())
                    .and_then(|v| parse_retry_after(v, SystemTime::now()))
                    .unwrap_or_else(|| self.policy.backoff(retries));
                // Every request of this source waits, not just this one.
                self.limiter.hold_until(later(wait));
                self.metrics.note_wait(
                    format!(
                        "HTTP 429 from {} (Retry-After): every request waits",
                        ep.as_str()
                    ),
                    wait,
                );
                Verdict::Retry {
                    wait: Duration::ZERO,
                    failure: format!("HTTP 429 (retry after {wait:?})"),
                }
            }
            500..=599 => {
                SourceMetrics::add(&self.metrics.server_errors, 1);
                Verdict::Retry {
                    wait: self.policy.backoff(retries),
                    failure: format!("HTTP {status}: {}", server_message(&reply.body)),
                }
            }
            400 => fail(CxoneError::BadRequest {
                url: url.to_string(),
                window: window.map(Window::id),
                message: reply_message(&reply),
            }),
            _ => fail(CxoneError::UnexpectedStatus {
                url: url.to_string(),
                status,
                window: window.map(Window::id),
                body: reply_message(&reply),
            }),
        }
    }
}

/// What a request is, for judging its answers.
#[derive(Clone, Copy)]
pub(super) struct Call<'a> {
    pub(super) ep: Endpoint,
    pub(super) url: &'a str,
    pub(super) window: Option<&'a Window>,
    pub(super) opts: CallOpts,
}

/// What one attempt's outcome means for the request.
pub(super) enum Verdict {
    /// The answer to return.
    Done(Reply),
    /// A final failure.
    Fail(CxoneError),
    /// Try again after `wait` (zero when every request is already held back).
    Retry { wait: Duration, failure: String },
    /// 401: fetch a new token and try once more.
    Refresh,
}
