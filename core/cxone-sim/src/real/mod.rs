//! The real CXone APIs beside the tutorial's contract (`shared/cxone-real-api.md`),
//! in the shapes NICE publishes (`docs/simulator.md` lists them, `docs/cxone.md` gives
//! the public sources): OpenID and tenant discovery, the access-key password grant with
//! refresh tokens, the Reporting API's completed contacts and the Data Extraction API's
//! jobs and CSV downloads, with their quirks (the text body without
//! `Accept: application/json`, `204` past the last page, `icStatusDescription` errors,
//! `403` for calling the extraction API too often, expiring download links, old field
//! names and numbers as strings).
//!
//! One job per file: `auth.rs` (discovery and `/auth/token`), `contact.rs` (what a
//! record is made of: the completed-contact table and the names both dialects share),
//! `reporting.rs` (`/contacts/completed`), `extraction.rs` (`/data-extraction/...`).

mod auth;
mod contact;
mod extraction;
mod reporting;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use axum::Router;
use axum::routing::{get, post};

use crate::server::Shared;

pub use auth::TOKEN_PATH;
pub use contact::{COMPLETED_CONTACT_FIELDS, contact_id_of};
pub use extraction::{DE_ENTITIES, DE_HEADERS, extraction_segments};

/// Mutable state of the real dialects.
#[derive(Debug, Default)]
pub(crate) struct RealState {
    refresh_tokens: std::sync::Mutex<HashMap<String, Instant>>,
    jobs: std::sync::Mutex<HashMap<String, Arc<extraction::Job>>>,
    job_seq: std::sync::atomic::AtomicU64,
    last_extraction_call: std::sync::Mutex<Option<Instant>>,
}

pub(crate) fn routes() -> Router<Shared> {
    Router::new()
        .route(
            "/.well-known/openid-configuration",
            get(auth::openid_configuration),
        )
        .route(
            "/.well-known/cxone-configuration",
            get(auth::cxone_configuration),
        )
        .route(TOKEN_PATH, post(auth::auth_token))
        .route(
            "/inContactAPI/services/{version}/contacts/completed",
            get(reporting::contacts_completed),
        )
        .route("/data-extraction/v1/jobs", post(extraction::create_job))
        .route("/data-extraction/v1/jobs/{id}", get(extraction::poll_job))
        .route("/data-extraction/files/{file}", get(extraction::download))
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// `2023-01-01T00:00:00Z` or with milliseconds; UTC with `Z` only.
fn parse_utc(s: &str) -> Option<i64> {
    if !s.ends_with('Z') {
        return None;
    }
    chrono::DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|d| d.timestamp_millis())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_needs_z() {
        assert_eq!(parse_utc("1970-01-01T00:00:01Z"), Some(1000));
        assert_eq!(parse_utc("1970-01-01T00:00:01.250Z"), Some(1250));
        assert_eq!(parse_utc("1970-01-01T00:00:01+00:00"), None);
        assert_eq!(parse_utc("1970-01-01"), None);
    }
}
