//! The token cache: one per source, shared by every concurrent request.
//!
//! Single flight: the cache is an async mutex held while a token is fetched, so a burst
//! of requests that all find the token stale triggers one fetch, not one each. A token
//! is refreshed once 90 % of its `expires_in` has elapsed (54 min of a one-hour token,
//! inside the tutorial's 50-55 min; for any lifetime of 10 min or more that is also at
//! least 60 s early). A `401` elsewhere invalidates the token it was sent with (by
//! generation, so concurrent 401s cause one refresh).

use std::future::Future;
use std::time::Duration;

use serde::Deserialize;
use tokio::sync::Mutex;
use tokio::time::Instant;

use crate::error::CxoneError;
use crate::secret::Secret;

/// Fraction of `expires_in` after which the token is refreshed.
pub const REFRESH_FRACTION: f64 = 0.9;

/// The token endpoint's answer.
#[derive(Deserialize)]
pub struct TokenResponse {
    /// The bearer token.
    pub access_token: Secret,
    /// `Bearer`.
    #[serde(default)]
    pub token_type: Option<String>,
    /// Lifetime in seconds (trusted; 3600 when absent).
    #[serde(default)]
    pub expires_in: Option<f64>,
    /// Refresh token (access-key flow).
    #[serde(default)]
    pub refresh_token: Option<Secret>,
}

/// The `tenantId` claim of a JWT access token (payload decoded, signature not checked).
pub fn tenant_id_of(jwt: &str) -> Option<String> {
    use base64::Engine as _;
    let payload = jwt.split('.').nth(1)?;
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    #[derive(Deserialize)]
    struct Claims {
        #[serde(rename = "tenantId")]
        tenant_id: Option<String>,
    }
    serde_json::from_slice::<Claims>(&raw).ok()?.tenant_id
}

impl std::fmt::Debug for TokenResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenResponse")
            .field("access_token", &self.access_token)
            .field("token_type", &self.token_type)
            .field("expires_in", &self.expires_in)
            .finish()
    }
}

impl TokenResponse {
    /// The lifetime, 3600 s when absent, never negative.
    pub fn lifetime(&self) -> Duration {
        let secs = self.expires_in.unwrap_or(3600.0);
        if secs.is_finite() && secs > 0.0 {
            Duration::from_secs_f64(secs.min(10.0 * 365.0 * 86_400.0))
        } else {
            Duration::ZERO
        }
    }
}

/// When to refresh a token of the given lifetime, counted from its acquisition.
pub fn refresh_after(lifetime: Duration) -> Duration {
    lifetime.mul_f64(REFRESH_FRACTION)
}

#[derive(Debug)]
struct Cached {
    token: Secret,
    generation: u64,
    refresh_at: Instant,
}

/// A token and the generation it belongs to.
#[derive(Debug, Clone)]
pub struct Token {
    /// The bearer token.
    pub value: Secret,
    /// Increases with every fetch.
    pub generation: u64,
}

/// The per-source token cache.
#[derive(Debug, Default)]
pub struct TokenCache {
    state: Mutex<(Option<Cached>, u64)>,
}

impl TokenCache {
    /// The current token, fetching one (single flight) when absent or due.
    ///
    /// # Errors
    /// Whatever `fetch` returns.
    pub async fn get<F, Fut>(&self, fetch: F) -> Result<Token, CxoneError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<(Secret, Duration), CxoneError>>,
    {
        let mut g = self.state.lock().await;
        if let Some(c) = &g.0
            && Instant::now() < c.refresh_at
        {
            return Ok(Token {
                value: c.token.clone(),
                generation: c.generation,
            });
        }
        let (token, lifetime) = fetch().await?;
        g.1 += 1;
        let generation = g.1;
        g.0 = Some(Cached {
            token: token.clone(),
            generation,
            refresh_at: Instant::now() + refresh_after(lifetime),
        });
        Ok(Token {
            value: token,
            generation,
        })
    }

    /// Drops the token of `generation` (after a 401), unless a newer one replaced it.
    pub async fn invalidate(&self, generation: u64) {
        let mut g = self.state.lock().await;
        if g.0.as_ref().is_some_and(|c| c.generation == generation) {
            g.0 = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[test]
    fn refresh_margin() {
        assert_eq!(
            refresh_after(Duration::from_secs(3600)),
            Duration::from_secs(3240)
        );
        assert!(
            Duration::from_secs(600) - refresh_after(Duration::from_secs(600))
                >= Duration::from_secs(60)
        );
        assert_eq!(
            refresh_after(Duration::from_secs(2)),
            Duration::from_millis(1800)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn single_flight_and_refresh() {
        let cache = Arc::new(TokenCache::default());
        let fetches = Arc::new(AtomicU32::new(0));
        let mut tasks = Vec::new();
        for _ in 0..20 {
            let cache = cache.clone();
            let fetches = fetches.clone();
            tasks.push(tokio::spawn(async move {
                cache
                    .get(|| async {
                        let n = fetches.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        Ok((Secret::new(format!("t{n}")), Duration::from_secs(100)))
                    })
                    .await
                    .unwrap()
            }));
        }
        for t in tasks {
            assert_eq!(t.await.unwrap().value.expose(), "t0");
        }
        assert_eq!(fetches.load(Ordering::SeqCst), 1);
        let f = || async { Ok((Secret::new("new"), Duration::from_secs(100))) };
        tokio::time::advance(Duration::from_secs(89)).await;
        assert_eq!(cache.get(f).await.unwrap().value.expose(), "t0");
        tokio::time::advance(Duration::from_secs(2)).await;
        let t = cache.get(f).await.unwrap();
        assert_eq!(t.value.expose(), "new");
        // A stale generation does not drop the new token.
        cache.invalidate(t.generation - 1).await;
        assert_eq!(cache.get(f).await.unwrap().generation, t.generation);
        cache.invalidate(t.generation).await;
        assert_eq!(cache.get(f).await.unwrap().generation, t.generation + 1);
    }
}
