//! OpenID and tenant discovery, and the access-key token endpoint (`POST /auth/token`,
//! password and refresh-token grants), with client authentication as the discovery
//! document announces it (`client_auth_methods`).

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use bytes::Bytes;
use serde_json::json;

use super::now_ms;
use crate::counters::{CounterSet, Endpoint};
use crate::data::hash_words;
use crate::server::{
    AppState, Shared, api_error, content_type, form_decode, json_response, lock, parse_urlencoded,
};

/// Path of the access-key token endpoint (announced by the OpenID discovery document).
pub const TOKEN_PATH: &str = "/auth/token";

const BASIC: &str = "client_secret_basic";
const POST: &str = "client_secret_post";

pub(super) async fn openid_configuration(State(s): State<Shared>) -> Response {
    let st = s.clone();
    s.instrumented(Endpoint::Discovery, async move {
        json_response(
            StatusCode::OK,
            &json!({
                "issuer": st.base_url,
                "token_endpoint": format!("{}{TOKEN_PATH}", st.base_url),
                "authorization_endpoint": format!("{}/auth/authorize", st.base_url),
                "jwks_uri": format!("{}/auth/jwks", st.base_url),
                "grant_types_supported": ["password", "refresh_token", "client_credentials"],
                "token_endpoint_auth_methods_supported": st.cfg.client_auth_methods,
                "token_endpoint_auth_signing_alg_values_supported": ["RS256"],
                "scopes_supported": ["openid"],
                "response_types_supported": ["code"],
                "id_token_signing_alg_values_supported": ["RS256"],
            }),
        )
    })
    .await
}

pub(super) async fn cxone_configuration(
    State(s): State<Shared>,
    RawQuery(q): RawQuery,
) -> Response {
    let st = s.clone();
    s.instrumented(Endpoint::TenantConfig, async move {
        let query = parse_urlencoded(q.as_deref().unwrap_or(""));
        let tenant = query
            .iter()
            .find(|(k, _)| k == "tenantId")
            .map(|(_, v)| v.as_str());
        match tenant {
            Some(t) if t == st.cfg.tenant_id => json_response(
                StatusCode::OK,
                &json!({
                    "tenantId": t,
                    "api_endpoint": st.base_url,
                    "ui_endpoint": st.base_url,
                    "auth_endpoint": st.base_url,
                    "area": "na1",
                    "cluster": "sim1",
                    "domain": "127.0.0.1",
                }),
            ),
            Some(t) => api_error(
                StatusCode::NOT_FOUND,
                "unknown_tenant",
                format!("no tenant `{t}`"),
            ),
            None => api_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "missing ?tenantId=",
            ),
        }
    })
    .await
}

/// The client credentials of an `Authorization: Basic` header, decoded as RFC 6749
/// §2.3.1 says: base64, split at the first `:`, then each half form-urlencoded-decoded
/// (the client encodes id and secret before joining them). `None` without a Basic
/// header; `Some(None)` for one that does not decode.
fn basic_credentials(headers: &HeaderMap) -> Option<Option<(String, String)>> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, b64) = v.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    Some(decode_basic(b64.trim()))
}

fn decode_basic(b64: &str) -> Option<(String, String)> {
    let raw = STANDARD.decode(b64).ok()?;
    let text = String::from_utf8(raw).ok()?;
    let (id, secret) = text.split_once(':')?;
    Some((form_decode(id), form_decode(secret)))
}

fn oauth_error(status: StatusCode, code: &str) -> Response {
    json_response(status, &json!({"error": code}))
}

fn invalid_client() -> Response {
    oauth_error(StatusCode::UNAUTHORIZED, "invalid_client")
}

/// Authenticates the client by the one method it used, if the discovery document
/// announces that method; `Err` is the response to send.
fn authenticate_client(
    st: &AppState,
    headers: &HeaderMap,
    field: &dyn Fn(&str) -> Option<String>,
) -> Result<(), Box<Response>> {
    let basic = basic_credentials(headers);
    let post = field("client_secret").map(|secret| (field("client_id"), secret));
    let (method, id, secret) = match (basic, post) {
        (Some(_), Some(_)) => {
            // RFC 6749 §2.3: a client MUST NOT use more than one method per request.
            return Err(Box::new(oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
            )));
        }
        (Some(None), None) => return Err(Box::new(invalid_client())),
        (Some(Some((id, secret))), None) => (BASIC, id, secret),
        (None, Some((id, secret))) => (POST, id.unwrap_or_default(), secret),
        (None, None) => return Err(Box::new(invalid_client())),
    };
    if !st.cfg.accepts_client_auth(method)
        || id != st.cfg.client_id
        || secret != st.cfg.client_secret.expose()
    {
        return Err(Box::new(invalid_client()));
    }
    let counter = if method == BASIC {
        &st.counters.client_auth_basic
    } else {
        &st.counters.client_auth_post
    };
    CounterSet::add(counter, 1);
    Ok(())
}

pub(super) async fn auth_token(
    State(s): State<Shared>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let st = s.clone();
    s.instrumented(Endpoint::AuthToken, async move {
        if !content_type(&headers).starts_with("application/x-www-form-urlencoded") {
            return oauth_error(StatusCode::BAD_REQUEST, "invalid_request");
        }
        let form = parse_urlencoded(&String::from_utf8_lossy(&body));
        let field = |name: &str| form.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
        if let Err(r) = authenticate_client(&st, &headers, &field) {
            return *r;
        }
        match field("grant_type").as_deref() {
            Some("password") => password_grant(&st, &field),
            Some("refresh_token") => refresh_grant(&st, &field),
            _ => oauth_error(StatusCode::BAD_REQUEST, "unsupported_grant_type"),
        }
    })
    .await
}

fn password_grant(st: &AppState, field: &dyn Fn(&str) -> Option<String>) -> Response {
    let user = field("username").unwrap_or_default();
    let password = field("password").unwrap_or_default();
    if user != st.cfg.access_key_id || password != st.cfg.access_key_secret.expose() {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
    }
    CounterSet::add(&st.counters.password_grants, 1);
    issue(st)
}

/// NICE's published refresh body is `{client_id (required), grant_type, refresh_token}`.
fn refresh_grant(st: &AppState, field: &dyn Fn(&str) -> Option<String>) -> Response {
    match field("client_id") {
        None => return oauth_error(StatusCode::BAD_REQUEST, "invalid_request"),
        Some(id) if id != st.cfg.client_id => return invalid_client(),
        Some(_) => {}
    }
    let rt = field("refresh_token").unwrap_or_default();
    let issued = lock(&st.real.refresh_tokens).remove(&rt);
    let ttl = Duration::from_secs(st.cfg.refresh_token_ttl_secs);
    match issued {
        Some(at) if at.elapsed() < ttl => {
            CounterSet::add(&st.counters.refresh_grants, 1);
            issue(st)
        }
        _ => {
            CounterSet::add(&st.counters.refresh_refused, 1);
            oauth_error(StatusCode::BAD_REQUEST, "invalid_grant")
        }
    }
}

/// Issues a JWT access token carrying `tenantId`, and a refresh token.
fn issue(st: &AppState) -> Response {
    let seq = st.token_seq.fetch_add(1, Ordering::Relaxed);
    let exp = now_ms() / 1000 + st.cfg.token_ttl_secs as i64;
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let claims = json!({
        "iss": st.base_url,
        "tenantId": st.cfg.tenant_id,
        "sub": format!("user:{}", st.cfg.access_key_id),
        "exp": exp,
        "jti": format!("{:016x}", hash_words(&[st.cfg.seed, 0xA11CE, seq])),
    });
    let payload = URL_SAFE_NO_PAD.encode(claims.to_string().as_bytes());
    let access_token = format!("{header}.{payload}.sim");
    let refresh_token = format!(
        "simrefresh-{:016x}{:016x}",
        hash_words(&[st.cfg.seed, 0x2EF2, seq]),
        hash_words(&[seq, 0x2EF2])
    );
    st.issue_token(&access_token, st.cfg.scopes.clone());
    lock(&st.real.refresh_tokens).insert(refresh_token.clone(), Instant::now());
    let mut r = json_response(
        StatusCode::OK,
        &json!({
            "access_token": access_token,
            "token_type": "Bearer",
            "expires_in": st.cfg.token_ttl_secs,
            "refresh_token": refresh_token,
            "refresh_token_server_uri": format!("{}{TOKEN_PATH}", st.base_url),
            "id_token": access_token,
        }),
    );
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a client does (RFC 6749 §2.3.1): form-urlencode id and secret, join with
    /// `:`, base64.
    fn encode(id: &str, secret: &str) -> String {
        fn form(s: &str) -> String {
            form_urlencoded::byte_serialize(s.as_bytes()).collect()
        }
        STANDARD.encode(format!("{}:{}", form(id), form(secret)))
    }

    #[test]
    fn basic_credentials_are_form_urlencoded_halves() {
        let secret = "a:b=c+d%e f";
        let (id, got) = decode_basic(&encode("my client", secret)).unwrap();
        assert_eq!(id, "my client");
        assert_eq!(got, secret);
        // Split at the first `:` only: a raw (unencoded) secret with `:` survives too.
        let raw = STANDARD.encode("id:se:cret");
        assert_eq!(
            decode_basic(&raw),
            Some(("id".to_owned(), "se:cret".to_owned()))
        );
        // `+` in an unencoded secret is a space once decoded, as the RFC says.
        let plus = STANDARD.encode("id:a+b");
        assert_eq!(decode_basic(&plus).unwrap().1, "a b");
        assert_eq!(decode_basic("not base64!"), None);
        assert_eq!(decode_basic(&STANDARD.encode("no-colon")), None);
    }

    #[test]
    fn basic_header_scheme_is_case_insensitive() {
        let mut h = HeaderMap::new();
        assert_eq!(basic_credentials(&h), None);
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(&format!("BASIC {}", encode("i", "s"))).unwrap(),
        );
        assert_eq!(
            basic_credentials(&h),
            Some(Some(("i".to_owned(), "s".to_owned())))
        );
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer x"));
        assert_eq!(basic_credentials(&h), None);
    }
}
