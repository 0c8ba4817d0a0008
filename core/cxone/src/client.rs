//! The HTTP client of the export API: every request goes through [`Client::execute`],
//! which applies the shared limiter, the token cache and the one retry policy.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderValue};
use reqwest::{Method, RequestBuilder};
use serde::Deserialize;
use tokio::time::Instant;

use crate::auth::{TokenCache, TokenResponse};
use crate::config::CxoneConfig;
use crate::config::{ClientAuth, resolve_secret};
use crate::error::CxoneError;
use crate::metrics::{Endpoint, SourceMetrics};
use crate::payload::ExportPayload;
use crate::retry::{Limiter, RetryPolicy};
use crate::secret::Secret;
use crate::window::Window;

mod attempt;
use attempt::{Call, Verdict};

/// A complete answer (body read).
#[derive(Debug)]
pub(crate) struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// The server's answer to create.
#[derive(Debug, Deserialize)]
pub(crate) struct Created {
    pub id: String,
}

/// The server's answer to poll.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ExportStatus {
    pub status: String,
    #[serde(default)]
    pub error_message: Option<String>,
    #[serde(default)]
    pub total_records: Option<u64>,
}

#[derive(Debug, Deserialize)]
struct ServerError {
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    message: Option<String>,
}

/// What create answered.
pub(crate) enum CreateOutcome {
    Created(String),
    /// 504: the job is too heavy; split the window.
    TooHeavy,
}

#[derive(Debug)]
pub(crate) struct Client {
    http: reqwest::Client,
    /// Download links: no total timeout (large files), an idle timeout per read.
    download: reqwest::Client,
    base: String,
    token_url: String,
    client_id: Secret,
    client_secret: Secret,
    scope: String,
    policy: RetryPolicy,
    limiter: Limiter,
    /// Largest successful body read (`max_response_bytes`).
    max_response_bytes: u64,
    /// Plain-http URLs accepted (`allow_http`, or the built-in simulator).
    allow_http: bool,
    tokens: TokenCache,
    metrics: Arc<SourceMetrics>,
    /// `auth: access-key` state.
    access_key: Option<AccessKeyFlow>,
    /// Spacing of Data Extraction API calls (one per `min_call_interval_ms`).
    spacing: Spacing,
}

/// The access-key flow: endpoints (configured or discovered once), credentials and the
/// current refresh token.
#[derive(Debug)]
pub(crate) struct AccessKeyFlow {
    discovery_url: String,
    /// The token endpoint and the client authentication used there.
    token_endpoint: tokio::sync::OnceCell<(String, ClientAuth)>,
    client_auth: ClientAuth,
    tenant_config_url: Option<String>,
    api_endpoint: tokio::sync::OnceCell<String>,
    key_id: Secret,
    key_secret: Secret,
    refresh: std::sync::Mutex<Option<Secret>>,
    tenant: std::sync::Mutex<Option<String>>,
}

/// Calls spaced by at least `interval` (the lock is held while waiting, so callers queue).
#[derive(Debug)]
pub(crate) struct Spacing {
    interval: Duration,
    last: tokio::sync::Mutex<Option<Instant>>,
}

impl Spacing {
    async fn acquire(&self, metrics: &SourceMetrics) {
        let mut last = self.last.lock().await;
        if let Some(t) = *last {
            let next = t
                .checked_add(self.interval)
                .unwrap_or_else(|| later(self.interval));
            let wait = next.saturating_duration_since(Instant::now());
            if !wait.is_zero() {
                metrics.note_wait(
                    format!(
                        "spacing Data Extraction calls {} s apart (the API refuses closer calls with 403)",
                        self.interval.as_secs()
                    ),
                    wait,
                );
            }
            tokio::time::sleep_until(next).await;
        }
        *last = Some(Instant::now());
    }
}

/// Per-call options of [`Client::execute_with`].
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct CallOpts {
    /// A `403` means "too many calls" (Data Extraction API), not a missing permission.
    pub forbidden_is_throttle: bool,
    /// Wait for the Data Extraction call spacing first.
    pub spaced: bool,
    /// Send `Accept: application/json` (the real APIs answer text without it).
    pub accept_json: bool,
    /// Return `403`/`404`/`410` answers to the caller (expired download links).
    pub pass_denied: bool,
}

impl Client {
    pub fn new(
        cfg: &CxoneConfig,
        base: String,
        metrics: Arc<SourceMetrics>,
        default_credentials: Option<(Secret, Secret)>,
    ) -> Result<Self, CxoneError> {
        // No redirects: a 3xx is an answer, never a reason to send credentials elsewhere.
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(cfg.request_timeout_secs.max(1)))
            .connect_timeout(Duration::from_secs(cfg.request_timeout_secs.clamp(1, 30)))
            .user_agent(concat!("tributary-cxone/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|source| CxoneError::Client { source })?;
        let download = reqwest::Client::builder()
            .redirect(download_redirects())
            .read_timeout(Duration::from_secs(cfg.request_timeout_secs.max(1)))
            .connect_timeout(Duration::from_secs(cfg.request_timeout_secs.clamp(1, 30)))
            .user_agent(concat!("tributary-cxone/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|source| CxoneError::Client { source })?;
        let token_url = cfg
            .token_url
            .clone()
            .unwrap_or_else(|| format!("{base}/oauth/token"));
        let (def_id, def_secret) = default_credentials.unzip();
        let (id, secret) = cfg.client_credentials();
        let [(id_key, id_env), (secret_key, secret_env)] = cfg.client_credential_sources();
        let client_id = id.or(def_id).ok_or_else(|| missing(id_key, id_env))?;
        let client_secret = secret
            .or(def_secret)
            .ok_or_else(|| missing(secret_key, secret_env))?;
        Ok(Self {
            http,
            download,
            base,
            token_url,
            client_id,
            client_secret,
            scope: cfg.scope.clone(),
            policy: RetryPolicy {
                max_retries: cfg.max_retries,
                initial: Duration::from_millis(cfg.initial_backoff_ms.max(1)),
                max: Duration::from_millis(cfg.max_backoff_ms.max(1)),
            },
            limiter: Limiter::new(cfg.max_requests_per_second),
            max_response_bytes: cfg.max_response_bytes,
            allow_http: cfg.allow_http || cfg.simulator.is_some(),
            tokens: TokenCache::default(),
            metrics,
            access_key: None,
            spacing: Spacing {
                interval: Duration::from_millis(cfg.data_extraction.min_call_interval_ms.max(1)),
                last: tokio::sync::Mutex::new(None),
            },
        })
    }

    /// The HTTP client of download links (no token; an idle timeout, no total one).
    pub fn download(&self) -> &reqwest::Client {
        &self.download
    }

    /// Switches the client to the access-key flow.
    pub fn with_access_key(
        mut self,
        cfg: &CxoneConfig,
        override_url: Option<&str>,
        defaults: Option<(Secret, Secret)>,
    ) -> Result<Self, CxoneError> {
        let a = &cfg.access_key;
        let (def_id, def_secret) = defaults.unzip();
        let key_id = resolve_secret(&a.access_key_id, crate::config::ENV_ACCESS_KEY_ID)
            .or(def_id)
            .ok_or_else(|| missing("access_key.access_key_id", crate::config::ENV_ACCESS_KEY_ID))?;
        let key_secret = resolve_secret(&a.access_key_secret, crate::config::ENV_ACCESS_KEY_SECRET)
            .or(def_secret)
            .ok_or_else(|| {
                missing(
                    "access_key.access_key_secret",
                    crate::config::ENV_ACCESS_KEY_SECRET,
                )
            })?;
        let trim = |u: &str| u.trim_end_matches('/').to_string();
        // With the simulator every endpoint is discovered from its URL.
        let (discovery_url, token_endpoint, tenant_config_url, api_endpoint) = match override_url {
            Some(o) => (trim(o), None, None, None),
            None => (
                a.discovery_url
                    .as_deref()
                    .map_or(crate::config::DEFAULT_DISCOVERY_URL.to_string(), trim),
                a.token_endpoint.clone(),
                a.tenant_config_url.clone(),
                a.api_endpoint.as_deref().map(trim),
            ),
        };
        let explicit = match a.client_auth {
            ClientAuth::Auto => ClientAuth::ClientSecretBasic,
            m => m,
        };
        self.access_key = Some(AccessKeyFlow {
            discovery_url,
            token_endpoint: tokio::sync::OnceCell::new_with(token_endpoint.map(|u| (u, explicit))),
            client_auth: a.client_auth,
            tenant_config_url,
            api_endpoint: tokio::sync::OnceCell::new_with(api_endpoint),
            key_id,
            key_secret,
            refresh: std::sync::Mutex::new(None),
            tenant: std::sync::Mutex::new(None),
        });
        Ok(self)
    }

    /// The API base of the real dialects: `base_url` (client credentials) or the
    /// tenant's `api_endpoint` (access key: configured, else discovered once).
    pub async fn api_base(&self) -> Result<String, CxoneError> {
        let Some(ak) = &self.access_key else {
            return Ok(self.base.clone());
        };
        let url = ak
            .api_endpoint
            .get_or_try_init(|| async {
                // The tenant id comes from the token.
                let token = Box::pin(self.tokens.get(|| self.fetch_token())).await?;
                let tenant = ak
                    .tenant
                    .lock()
                    .ok()
                    .and_then(|g| g.clone())
                    .or_else(|| crate::auth::tenant_id_of(token.value.expose()))
                    .ok_or_else(|| CxoneError::Protocol {
                        url: ak.discovery_url.clone(),
                        message: "the access token carries no tenantId claim; set access_key.api_endpoint".into(),
                    })?;
                let doc_url = ak.tenant_config_url.clone().unwrap_or_else(|| {
                    format!("{}/.well-known/cxone-configuration", ak.discovery_url)
                });
                let reply = self
                    .execute(Endpoint::Token, Method::GET, &doc_url, None, &|r| {
                        r.query(&[("tenantId", tenant.as_str())])
                    })
                    .await?;
                #[derive(Deserialize)]
                struct TenantDoc {
                    api_endpoint: String,
                }
                let doc: TenantDoc = parse_json(&doc_url, &reply.body)?;
                self.check_discovered("api_endpoint", &doc_url, &doc.api_endpoint)?;
                tracing::info!(tenant = %tenant, api = %doc.api_endpoint, "discovered the tenant's API endpoint");
                Ok::<_, CxoneError>(doc.api_endpoint.trim_end_matches('/').to_string())
            })
            .await?;
        Ok(url.clone())
    }

    /// The token endpoint and the client authentication to use there (discovered once).
    async fn token_endpoint(&self, ak: &AccessKeyFlow) -> Result<(String, ClientAuth), CxoneError> {
        let found = ak
            .token_endpoint
            .get_or_try_init(|| async {
                let doc_url = format!("{}/.well-known/openid-configuration", ak.discovery_url);
                let reply = self
                    .execute(Endpoint::Token, Method::GET, &doc_url, None, &|r| r)
                    .await?;
                #[derive(Deserialize)]
                struct Discovery {
                    token_endpoint: String,
                    #[serde(default)]
                    token_endpoint_auth_methods_supported: Option<Vec<String>>,
                }
                let d: Discovery = parse_json(&doc_url, &reply.body)?;
                self.check_discovered("token_endpoint", &doc_url, &d.token_endpoint)?;
                let method = choose_client_auth(
                    ak.client_auth,
                    d.token_endpoint_auth_methods_supported.as_deref(),
                );
                tracing::debug!(method = ?method, "token endpoint discovered");
                Ok::<_, CxoneError>((d.token_endpoint, method))
            })
            .await?;
        Ok(found.clone())
    }

    /// Password grant, or refresh grant when a refresh token is held (falling back to
    /// a password grant when the refresh is refused).
    async fn fetch_access_key_token(
        &self,
        ak: &AccessKeyFlow,
    ) -> Result<(Secret, Duration), CxoneError> {
        let (url, method) = self.token_endpoint(ak).await?;
        let held = ak.refresh.lock().ok().and_then(|mut g| g.take());
        let mut answer = None;
        if let Some(rt) = held {
            // NICE's published refresh body carries `client_id` whatever the method.
            let mut form = vec![
                ("grant_type", "refresh_token"),
                ("refresh_token", rt.expose()),
                ("client_id", self.client_id.expose()),
            ];
            if method == ClientAuth::ClientSecretPost {
                form.push(("client_secret", self.client_secret.expose()));
            }
            match self
                .execute(Endpoint::Token, Method::POST, &url, None, &|r| {
                    self.client_authenticated(r, method).form(&form)
                })
                .await
            {
                Ok(reply) => {
                    SourceMetrics::add(&self.metrics.token_refreshes, 1);
                    tracing::debug!("refreshed the CXone access token with the refresh token");
                    answer = Some(reply);
                }
                Err(e @ (CxoneError::BadRequest { .. } | CxoneError::Auth { .. })) => {
                    tracing::info!(error = %e, "the refresh token was refused; asking for a new grant");
                }
                Err(e) => return Err(e),
            }
        }
        let reply = match answer {
            Some(r) => r,
            None => {
                let mut form = vec![
                    ("grant_type", "password"),
                    ("username", ak.key_id.expose()),
                    ("password", ak.key_secret.expose()),
                ];
                if method == ClientAuth::ClientSecretPost {
                    form.push(("client_id", self.client_id.expose()));
                    form.push(("client_secret", self.client_secret.expose()));
                }
                let r = self
                    .execute(Endpoint::Token, Method::POST, &url, None, &|r| {
                        self.client_authenticated(r, method).form(&form)
                    })
                    .await
                    .map_err(|e| match e {
                        CxoneError::BadRequest { url, message, .. } => CxoneError::Auth {
                            url,
                            status: 400,
                            message: format!(
                                "{message}; check access_key.access_key_id/access_key_secret"
                            ),
                        },
                        e => e,
                    })?;
                SourceMetrics::add(&self.metrics.token_refreshes, 1);
                r
            }
        };
        let t: TokenResponse = parse_secret_json(&url, &reply.body)?;
        if t.access_token.is_empty() {
            return Err(CxoneError::Protocol {
                url,
                message: "the token response has an empty access_token".into(),
            });
        }
        if let Ok(mut g) = ak.refresh.lock() {
            *g = t.refresh_token.clone();
        }
        if let Some(tenant) = crate::auth::tenant_id_of(t.access_token.expose())
            && let Ok(mut g) = ak.tenant.lock()
        {
            *g = Some(tenant);
        }
        let lifetime = t.lifetime();
        Ok((t.access_token, lifetime))
    }

    /// A discovered endpoint will get credentials: it must be an https URL (http only with
    /// `allow_http` or on loopback).
    fn check_discovered(&self, what: &str, doc_url: &str, value: &str) -> Result<(), CxoneError> {
        let mut problems = Vec::new();
        crate::config::check_credential_url(what, value, self.allow_http, &mut problems);
        match problems.into_iter().next() {
            None => Ok(()),
            Some(p) => Err(CxoneError::Protocol {
                url: doc_url.to_string(),
                message: format!("the discovered {p}"),
            }),
        }
    }

    /// Reads an answer: a successful body whole up to `max_response_bytes` (more fails),
    /// an error body's first 64 KiB.
    async fn read_reply(&self, resp: reqwest::Response) -> Result<Reply, BodyError> {
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let (limit, at_limit) = if (200..300).contains(&status) {
            (self.max_response_bytes, BodyLimit::Fail)
        } else {
            (ERROR_BODY_LIMIT, BodyLimit::Truncate)
        };
        let body = read_body(resp, limit, at_limit).await?;
        Ok(Reply {
            status,
            headers,
            body,
        })
    }

    /// Adds the client's Basic credentials when that is the method (marked sensitive).
    fn client_authenticated(&self, r: RequestBuilder, method: ClientAuth) -> RequestBuilder {
        if method != ClientAuth::ClientSecretBasic {
            return r;
        }
        match HeaderValue::from_str(&basic_credentials(
            self.client_id.expose(),
            self.client_secret.expose(),
        )) {
            Ok(mut v) => {
                v.set_sensitive(true);
                r.header(AUTHORIZATION, v)
            }
            Err(_) => r,
        }
    }

    fn exports_url(&self) -> String {
        format!("{}/api/v2/analytics/data-exports", self.base)
    }

    fn export_url(&self, id: &str) -> String {
        format!("{}/{}", self.exports_url(), encode_segment(id))
    }

    /// Creates an export job for a validated payload.
    pub async fn create(
        &self,
        payload: &ExportPayload,
        window: &Window,
    ) -> Result<CreateOutcome, CxoneError> {
        let url = self.exports_url();
        let reply = self
            .execute(Endpoint::Create, Method::POST, &url, Some(window), &|r| {
                r.json(payload)
            })
            .await?;
        if reply.status == 504 {
            return Ok(CreateOutcome::TooHeavy);
        }
        let created: Created = parse_json(&url, &reply.body)?;
        if created.id.is_empty() {
            return Err(CxoneError::Protocol {
                url,
                message: "the created export has an empty id".into(),
            });
        }
        Ok(CreateOutcome::Created(created.id))
    }

    /// Reads the status of an export.
    pub async fn poll(&self, id: &str, window: &Window) -> Result<ExportStatus, CxoneError> {
        let url = self.export_url(id);
        let reply = self
            .execute(Endpoint::Poll, Method::GET, &url, Some(window), &|r| r)
            .await?;
        parse_json(&url, &reply.body)
    }

    /// Fetches one data page.
    pub async fn page(
        &self,
        id: &str,
        page_size: u32,
        token: Option<&str>,
        window: &Window,
    ) -> Result<Reply, CxoneError> {
        let url = format!("{}/data", self.export_url(id));
        let size = page_size.to_string();
        self.execute(
            Endpoint::Data,
            Method::GET,
            &url,
            Some(window),
            &|r| match token {
                Some(t) => r.query(&[("pageSize", size.as_str()), ("nextPageToken", t)]),
                None => r.query(&[("pageSize", size.as_str())]),
            },
        )
        .await
    }

    /// The source's live metrics (request counts, waits).
    pub fn metrics(&self) -> &SourceMetrics {
        &self.metrics
    }

    /// Asks the token endpoint for a token with the configured credentials, once: what
    /// `tributary validate --connect` checks. Returns the endpoint's URL.
    ///
    /// # Errors
    /// The token endpoint's refusal (a wrong secret), or a network failure.
    pub async fn check_token(&self) -> Result<String, CxoneError> {
        Box::pin(self.fetch_token()).await?;
        Ok(match &self.access_key {
            Some(_) => "the access-key token endpoint".to_string(),
            None => self.token_url.clone(),
        })
    }

    async fn fetch_token(&self) -> Result<(Secret, Duration), CxoneError> {
        if let Some(ak) = &self.access_key {
            return self.fetch_access_key_token(ak).await;
        }
        let url = self.token_url.clone();
        let form = [
            ("grant_type", "client_credentials"),
            ("client_id", self.client_id.expose()),
            ("client_secret", self.client_secret.expose()),
            ("scope", self.scope.as_str()),
        ];
        let reply = self
            .execute(Endpoint::Token, Method::POST, &url, None, &|r| {
                r.form(&form)
            })
            .await?;
        let t: TokenResponse = parse_secret_json(&url, &reply.body)?;
        if t.access_token.is_empty() {
            return Err(CxoneError::Protocol {
                url,
                message: "the token response has an empty access_token".into(),
            });
        }
        SourceMetrics::add(&self.metrics.token_refreshes, 1);
        tracing::debug!(expires_in = ?t.lifetime(), "fetched a CXone access token");
        let lifetime = t.lifetime();
        Ok((t.access_token, lifetime))
    }

    /// Sends a request with the limiter, the token and the retry policy; returns the
    /// first final answer (2xx, or 504 on create), or a typed error.
    pub async fn execute(
        &self,
        ep: Endpoint,
        method: Method,
        url: &str,
        window: Option<&Window>,
        build: &(dyn Fn(RequestBuilder) -> RequestBuilder + Sync),
    ) -> Result<Reply, CxoneError> {
        self.execute_with(ep, method, url, window, build, CallOpts::default())
            .await
    }

    /// [`Client::execute`] with per-call options for the real dialects.
    pub async fn execute_with(
        &self,
        ep: Endpoint,
        method: Method,
        url: &str,
        window: Option<&Window>,
        build: &(dyn Fn(RequestBuilder) -> RequestBuilder + Sync),
        opts: CallOpts,
    ) -> Result<Reply, CxoneError> {
        let mut retries: u32 = 0;
        let mut refreshed = false;
        loop {
            if opts.spaced {
                self.spacing.acquire(&self.metrics).await;
            }
            self.limiter.acquire().await;
            let token = if ep == Endpoint::Token {
                None
            } else {
                Some(Box::pin(self.tokens.get(|| self.fetch_token())).await?)
            };
            let req = self.request(&method, url, build, opts, token.as_ref())?;
            let started = Instant::now();
            let sent = self.send(req, url).await?;
            let elapsed = started.elapsed();
            let verdict = match sent {
                Err(e) => self.transport_failure(ep, url, &e, elapsed, retries),
                Ok(reply) => {
                    let call = Call {
                        ep,
                        url,
                        window,
                        opts,
                    };
                    self.judge(&call, reply, elapsed, retries)
                }
            };
            let (wait, failure) = match verdict {
                Verdict::Done(reply) => return Ok(reply),
                Verdict::Fail(e) => return Err(e),
                Verdict::Retry { wait, failure } => (wait, failure),
                Verdict::Refresh if refreshed => {
                    return Err(CxoneError::Unauthorized {
                        url: url.to_string(),
                    });
                }
                Verdict::Refresh => {
                    refreshed = true;
                    if let Some(t) = &token {
                        self.tokens.invalidate(t.generation).await;
                    }
                    SourceMetrics::add(&self.metrics.retries, 1);
                    tracing::info!(endpoint = ep.as_str(), "401: refreshing the token once");
                    continue;
                }
            };
            if retries >= self.policy.max_retries {
                return Err(CxoneError::RetriesExhausted {
                    url: url.to_string(),
                    attempts: retries + 1,
                    last: failure,
                });
            }
            retries += 1;
            SourceMetrics::add(&self.metrics.retries, 1);
            if !wait.is_zero() {
                self.metrics.note_wait(
                    format!(
                        "backing off before retry {retries} of {} ({failure})",
                        ep.as_str()
                    ),
                    wait,
                );
                tokio::time::sleep(wait).await;
            }
        }
    }

    /// One attempt's request: the caller's parts, `Accept` when asked, the bearer token.
    fn request(
        &self,
        method: &Method,
        url: &str,
        build: &(dyn Fn(RequestBuilder) -> RequestBuilder + Sync),
        opts: CallOpts,
        token: Option<&crate::auth::Token>,
    ) -> Result<RequestBuilder, CxoneError> {
        let mut req = build(self.http.request(method.clone(), url));
        if opts.accept_json {
            req = req.header(reqwest::header::ACCEPT, "application/json");
        }
        if let Some(t) = token {
            let mut v =
                HeaderValue::from_str(&format!("Bearer {}", t.value.expose())).map_err(|_| {
                    CxoneError::Protocol {
                        url: self.token_url.clone(),
                        message: "the access token holds characters not allowed in a header".into(),
                    }
                })?;
            v.set_sensitive(true);
            req = req.header(AUTHORIZATION, v);
        }
        Ok(req)
    }

    /// Sends one attempt and reads its body: the reply, or the transport's error (retried);
    /// a body past its limit fails at once.
    async fn send(
        &self,
        req: RequestBuilder,
        url: &str,
    ) -> Result<Result<Reply, reqwest::Error>, CxoneError> {
        match req.send().await {
            Ok(resp) => match self.read_reply(resp).await {
                Err(BodyError::TooLarge { limit }) => Err(CxoneError::ResponseTooLarge {
                    url: url.to_string(),
                    limit,
                }),
                Err(BodyError::Transport(e)) => Ok(Err(e)),
                Ok(reply) => Ok(Ok(reply)),
            },
            Err(e) => Ok(Err(e.without_url())),
        }
    }
}

/// Now plus `d`, saturating a day ahead (configured durations are bounded, but an
/// `Instant` overflow must never panic).
fn later(d: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(d)
        .or_else(|| now.checked_add(Duration::from_secs(86_400)))
        .unwrap_or(now)
}

/// Download links (signed, no credentials) may redirect, at most 5 times and never
/// from https to http.
fn download_redirects() -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(|attempt| {
        let downgrade = attempt.url().scheme() == "http"
            && attempt.previous().iter().any(|u| u.scheme() == "https");
        if downgrade || attempt.previous().len() > 5 {
            attempt.stop()
        } else {
            attempt.follow()
        }
    })
}

/// The client authentication to use: the configured one, else the first of Basic and
/// post that the discovery document lists (Basic when it lists neither or nothing).
pub(crate) fn choose_client_auth(
    configured: ClientAuth,
    supported: Option<&[String]>,
) -> ClientAuth {
    if configured != ClientAuth::Auto {
        return configured;
    }
    let has = |m: &str| supported.is_some_and(|s| s.iter().any(|x| x == m));
    if !has("client_secret_basic") && has("client_secret_post") {
        ClientAuth::ClientSecretPost
    } else {
        ClientAuth::ClientSecretBasic
    }
}

/// `Basic` credentials per RFC 6749 §2.3.1: id and secret form-urlencoded, then base64.
pub(crate) fn basic_credentials(id: &str, secret: &str) -> String {
    use base64::Engine as _;
    let enc = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let raw = format!("{}:{}", enc(id), enc(secret));
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(raw)
    )
}

fn missing(key: &str, env: &str) -> CxoneError {
    CxoneError::Config {
        problems: vec![crate::config::ConfigProblem::new(
            key,
            format!("missing: set {key} or the {env} environment variable"),
        )],
    }
}

pub(crate) fn parse_json<T: for<'de> Deserialize<'de>>(
    url: &str,
    body: &[u8],
) -> Result<T, CxoneError> {
    serde_json::from_slice(body).map_err(|e| CxoneError::Protocol {
        url: url.to_string(),
        message: format!("{e} in `{}`", snippet(body)),
    })
}

/// [`parse_json`] for answers that hold secrets (token responses): the error says where
/// the JSON went wrong, never what it holds (serde quotes the offending value).
pub(crate) fn parse_secret_json<T: for<'de> Deserialize<'de>>(
    url: &str,
    body: &[u8],
) -> Result<T, CxoneError> {
    serde_json::from_slice(body).map_err(|e| {
        let kind = match e.classify() {
            serde_json::error::Category::Data => "a field of an unexpected type or a missing field",
            serde_json::error::Category::Syntax => "invalid JSON",
            serde_json::error::Category::Eof => "a truncated body",
            serde_json::error::Category::Io => "an unreadable body",
        };
        CxoneError::Protocol {
            url: url.to_string(),
            message: format!(
                "the token response has {kind} (line {}, column {}; the body is not shown: it \
                 holds credentials)",
                e.line(),
                e.column()
            ),
        }
    })
}

/// `error: message` of a JSON error body, else the start of the body.
fn server_message(body: &[u8]) -> String {
    match serde_json::from_slice::<ServerError>(body) {
        Ok(ServerError {
            error: Some(e),
            message: Some(m),
        }) => format!("{e}: {m}"),
        Ok(ServerError {
            error: Some(x),
            message: None,
        })
        | Ok(ServerError {
            error: None,
            message: Some(x),
        }) => x,
        _ => snippet(body),
    }
}

/// The start of an error body: at most `cap` bytes are read, as lossy text.
pub(crate) async fn read_capped(resp: reqwest::Response, cap: usize) -> String {
    match read_body(resp, cap as u64, BodyLimit::Truncate).await {
        Ok(b) => snippet(&b),
        Err(_) => String::new(),
    }
}

/// What [`read_body`] does at its limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BodyLimit {
    /// Stop reading and keep what came (error bodies: only their start is shown).
    Truncate,
    /// Fail: the body is data that must be whole.
    Fail,
}

/// Why a body could not be read.
#[derive(Debug)]
pub(crate) enum BodyError {
    /// Longer than the limit (announced by Content-Length, or seen while reading).
    TooLarge { limit: u64 },
    /// The transport failed (the error, without its URL).
    Transport(reqwest::Error),
}

/// Most bytes reserved up front for a body from its Content-Length.
const PREALLOCATE_MAX: u64 = 32 * 1024 * 1024;

/// Reads a body, never holding more than `limit` bytes: a Content-Length above it is
/// refused before reading, and the stream is cut when it passes it.
pub(crate) async fn read_body(
    mut resp: reqwest::Response,
    limit: u64,
    at_limit: BodyLimit,
) -> Result<Bytes, BodyError> {
    if at_limit == BodyLimit::Fail && resp.content_length().is_some_and(|n| n > limit) {
        return Err(BodyError::TooLarge { limit });
    }
    let cap = usize::try_from(limit).unwrap_or(usize::MAX);
    // Sized once from Content-Length (bounded: a header is not trusted with memory), so a
    // page is not copied through every doubling of the buffer (memmove was 5 % of a run).
    let hint = resp
        .content_length()
        .map_or(0, |n| n.min(limit).min(PREALLOCATE_MAX));
    let mut buf = bytes::BytesMut::with_capacity(usize::try_from(hint).unwrap_or(0));
    loop {
        match resp.chunk().await {
            Ok(Some(c)) => {
                if buf.len() + c.len() > cap {
                    if at_limit == BodyLimit::Fail {
                        return Err(BodyError::TooLarge { limit });
                    }
                    let room = cap - buf.len();
                    buf.extend_from_slice(c.get(..room).unwrap_or_default());
                    return Ok(buf.freeze());
                }
                buf.extend_from_slice(&c);
            }
            Ok(None) => return Ok(buf.freeze()),
            Err(e) => return Err(BodyError::Transport(e.without_url())),
        }
    }
}

/// Largest error body read (only its start is shown).
const ERROR_BODY_LIMIT: u64 = 64 * 1024;

/// The text of an error answer: the `icStatusDescription` header (the Reporting API
/// puts it there with an empty body), else the body's message.
pub(crate) fn reply_message(reply: &Reply) -> String {
    match reply.header("icStatusDescription") {
        Some(h) if !h.is_empty() => h.to_string(),
        _ => server_message(&reply.body),
    }
}

fn snippet(body: &[u8]) -> String {
    let s = String::from_utf8_lossy(body);
    let mut out: String = s.chars().take(300).collect();
    if out.len() < s.len() {
        out.push('…');
    }
    out
}

/// Bytes escaped in a path segment: everything but RFC 3986's unreserved characters.
const SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// Percent-encodes a path segment (export ids are opaque).
fn encode_segment(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, SEGMENT).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_credentials_are_form_urlencoded_first() {
        use base64::Engine as _;
        let h = basic_credentials("app id", "s:e=c+r%t");
        let raw = base64::engine::general_purpose::STANDARD
            .decode(h.strip_prefix("Basic ").unwrap())
            .unwrap();
        assert_eq!(String::from_utf8(raw).unwrap(), "app+id:s%3Ae%3Dc%2Br%25t");
    }

    #[test]
    fn client_auth_follows_the_discovery_document() {
        let list = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let auto = ClientAuth::Auto;
        assert_eq!(
            choose_client_auth(auto, None),
            ClientAuth::ClientSecretBasic
        );
        assert_eq!(
            choose_client_auth(auto, Some(&list(&["client_secret_post"]))),
            ClientAuth::ClientSecretPost
        );
        assert_eq!(
            choose_client_auth(
                auto,
                Some(&list(&["client_secret_post", "client_secret_basic"]))
            ),
            ClientAuth::ClientSecretBasic
        );
        assert_eq!(
            choose_client_auth(
                ClientAuth::ClientSecretPost,
                Some(&list(&["client_secret_basic"]))
            ),
            ClientAuth::ClientSecretPost
        );
    }

    #[test]
    fn segments_are_encoded() {
        assert_eq!(encode_segment("ab-12_x.y~"), "ab-12_x.y~");
        assert_eq!(encode_segment("a/b c"), "a%2Fb%20c");
    }

    #[test]
    fn server_messages() {
        assert_eq!(
            server_message(br#"{"error":"invalid_payload","message":"too many columns"}"#),
            "invalid_payload: too many columns"
        );
        assert_eq!(
            server_message(br#"{"error":"invalid_client"}"#),
            "invalid_client"
        );
        assert_eq!(server_message(b"plain"), "plain");
    }
}
