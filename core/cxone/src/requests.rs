//! What a window will ask of the API, per dialect, for `tributary plan`: the same
//! builders the source uses, without a network call or a secret.

use serde::Serialize;

use crate::config::{ApiDialect, AuthMode, CxoneConfig};
use crate::error::CxoneError;
use crate::window::Window;

/// One request (or a repeated one) of a window.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlannedRequest {
    /// `GET` or `POST`.
    pub method: &'static str,
    /// The path below the API base (or a description of where the URL comes from).
    pub path: String,
    /// Query parameters.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub query: Vec<(String, String)>,
    /// JSON body.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<serde_json::Value>,
    /// When it is sent and how often.
    pub note: String,
}

fn req(method: &'static str, path: impl Into<String>, note: impl Into<String>) -> PlannedRequest {
    PlannedRequest {
        method,
        path: path.into(),
        query: Vec::new(),
        body: None,
        note: note.into(),
    }
}

/// How the source authenticates, in one line (no secret).
pub fn auth_summary(cfg: &CxoneConfig) -> String {
    match cfg.auth {
        AuthMode::ClientCredentials => format!(
            "POST {} (client_credentials, scope `{}`)",
            cfg.token_url.as_deref().unwrap_or("{base_url}/oauth/token"),
            cfg.scope
        ),
        AuthMode::AccessKey => {
            let a = &cfg.access_key;
            let discovery = match (&cfg.simulator, a.discovery_url.as_deref()) {
                (Some(_), _) => "{the built-in simulator}",
                (None, Some(u)) => u,
                (None, None) => crate::config::DEFAULT_DISCOVERY_URL,
            };
            let token = a.token_endpoint.clone().unwrap_or_else(|| {
                format!("token_endpoint of {discovery}/.well-known/openid-configuration")
            });
            format!(
                "POST {token} (password grant with the access key, client auth {}, refresh_token \
                 grant with client_id); API base: {}",
                serde_json::to_value(a.client_auth)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default(),
                a.api_endpoint.clone().unwrap_or_else(|| format!(
                    "api_endpoint of {discovery}/.well-known/cxone-configuration?tenantId=<from the token>"
                ))
            )
        }
    }
}

/// The requests of window `w`, in order.
///
/// # Errors
/// The analytics export's payload rules ([`crate::payload::build`]).
pub fn planned_requests(cfg: &CxoneConfig, w: &Window) -> Result<Vec<PlannedRequest>, CxoneError> {
    Ok(match cfg.api {
        ApiDialect::AnalyticsExport => {
            let payload = crate::payload::build(cfg, w)?;
            let mut create = req(
                "POST",
                "/api/v2/analytics/data-exports",
                "creates the export job (504: the window is split in two)",
            );
            create.body = serde_json::to_value(&payload).ok();
            let mut page = req(
                "GET",
                "/api/v2/analytics/data-exports/{id}/data",
                "each page, following nextPageToken",
            );
            page.query = vec![("pageSize".into(), cfg.page_size.to_string())];
            vec![
                create,
                req(
                    "GET",
                    "/api/v2/analytics/data-exports/{id}",
                    format!(
                        "polls until completed, from {} ms, x1.5 up to {} ms",
                        cfg.poll_interval_ms, cfg.max_poll_interval_ms
                    ),
                ),
                page,
            ]
        }
        ApiDialect::Reporting => {
            let bookmark = cfg
                .reporting
                .updated_since
                .as_deref()
                .and_then(crate::mapping::parse_time_ms)
                .map(|b| b + 1);
            let mut first = req(
                "GET",
                crate::reporting::contacts_path(cfg),
                "first page; then updatedSince = last row's lastUpdateTime − 1 ms (keyset), \
                 until 204, an empty list, _links.next null or totalRecords reached",
            );
            first.query = crate::reporting::contacts_query(cfg, w, bookmark, 0);
            vec![first]
        }
        ApiDialect::DataExtraction => {
            let mut create = req(
                "POST",
                "/data-extraction/v1/jobs",
                "creates the job (202 + job id); one job at a time per tenant",
            );
            create.body = Some(crate::extraction::job_body(cfg, w));
            vec![
                create,
                req(
                    "GET",
                    "/data-extraction/v1/jobs/{jobId}",
                    format!(
                        "polls until SUCCEEDED, one call per {} ms (FAILED/CANCELLED/EXPIRED: created again up to {} times)",
                        cfg.data_extraction.min_call_interval_ms, cfg.export_retries
                    ),
                ),
                req(
                    "GET",
                    "{jobStatus.result.url}",
                    "downloads the CSV at once (the link lives ~30 s; an expired one is polled for again)",
                ),
            ]
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(api: ApiDialect) -> CxoneConfig {
        let mut c = CxoneConfig::new("r1", "2023-01-01", "2023-01-31");
        c.api = api;
        c.auth = AuthMode::AccessKey;
        c
    }

    #[test]
    fn each_dialect_plans_its_own_requests() {
        let w = crate::window::plan(
            &cfg(ApiDialect::Reporting),
            chrono::Utc::now().date_naive(),
            None,
        )
        .unwrap()[0];
        let r = planned_requests(&cfg(ApiDialect::Reporting), &w).unwrap();
        assert_eq!(r[0].path, "/inContactAPI/services/v26.0/contacts/completed");
        let q: std::collections::BTreeMap<_, _> = r[0].query.iter().cloned().collect();
        assert_eq!(q["startDate"], "2023-01-01T00:00:00.000Z");
        assert_eq!(q["endDate"], "2023-01-31T23:59:59.999Z");
        assert_eq!(q["orderBy"], "lastUpdateTime asc");
        let d = planned_requests(&cfg(ApiDialect::DataExtraction), &w).unwrap();
        assert_eq!(d[0].path, "/data-extraction/v1/jobs");
        let body = d[0].body.clone().unwrap();
        assert_eq!(body["startDate"], "2023-01-01");
        assert_eq!(body["endDate"], "2023-02-01");
        assert_eq!(body["version"], "7");
        assert!(auth_summary(&cfg(ApiDialect::Reporting)).contains("password grant"));
    }
}
