//! Helpers: start a simulator, speak the contract with reqwest.

use reqwest::{Response, StatusCode};
use serde_json::{Value, json};
use tributary_cxone_sim::{SimConfig, SimHandle, Simulator};

pub const ALL_SCOPES: &str = "analytics:export:read analytics:export:write reports:read";

pub async fn start(cfg: SimConfig) -> SimHandle {
    Simulator::start(cfg, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap()
}

pub fn body(start: &str, end: &str, format: &str) -> Value {
    json!({
        "reportId": "3a2b1c4d-0000-4000-8000-000000000001",
        "dateRange": {"start": start, "end": end},
        "format": format,
        "columns": ["id", "direction", "medium", "startTime", "endTime", "agentId", "queueId",
                    "holdTime", "wrapTime", "talkTime"],
        "filters": {},
        "pageSize": 5000
    })
}

pub struct Client {
    pub http: reqwest::Client,
    pub base: String,
}

impl Client {
    pub fn new(sim: &SimHandle) -> Self {
        Self {
            http: reqwest::Client::new(),
            base: sim.base_url(),
        }
    }

    pub async fn token_with(&self, id: &str, secret: &str, scope: Option<&str>) -> Response {
        let mut form = vec![
            ("grant_type", "client_credentials"),
            ("client_id", id),
            ("client_secret", secret),
        ];
        if let Some(s) = scope {
            form.push(("scope", s));
        }
        self.http
            .post(format!("{}/oauth/token", self.base))
            .form(&form)
            .send()
            .await
            .unwrap()
    }

    pub async fn token_scoped(&self, scope: &str) -> String {
        let r = self
            .token_with("sim-client", "sim-secret", Some(scope))
            .await;
        assert_eq!(r.status(), StatusCode::OK);
        let v: Value = r.json().await.unwrap();
        v["access_token"].as_str().unwrap().to_owned()
    }

    pub async fn token(&self) -> String {
        self.token_scoped(ALL_SCOPES).await
    }

    pub async fn create(&self, token: &str, body: &Value) -> Response {
        self.http
            .post(format!("{}/api/v2/analytics/data-exports", self.base))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .unwrap()
    }

    pub async fn poll(&self, token: &str, id: &str) -> Response {
        self.http
            .get(format!("{}/api/v2/analytics/data-exports/{id}", self.base))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }

    pub async fn data(
        &self,
        token: &str,
        id: &str,
        page_size: u32,
        next: Option<&str>,
    ) -> Response {
        let mut q = vec![("pageSize", page_size.to_string())];
        if let Some(t) = next {
            q.push(("nextPageToken", t.to_owned()));
        }
        self.http
            .get(format!(
                "{}/api/v2/analytics/data-exports/{id}/data",
                self.base
            ))
            .bearer_auth(token)
            .query(&q)
            .send()
            .await
            .unwrap()
    }

    /// Creates an export and polls (at most 20 times) until it is no longer pending.
    /// Returns (id, final poll body).
    pub async fn run_export(&self, token: &str, body: &Value) -> (String, Value) {
        let r = self.create(token, body).await;
        assert_eq!(r.status(), StatusCode::CREATED, "{:?}", r.text().await);
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["status"], "pending");
        let id = v["id"].as_str().unwrap().to_owned();
        for _ in 0..20 {
            let p: Value = self.poll(token, &id).await.json().await.unwrap();
            match p["status"].as_str().unwrap() {
                "pending" | "processing" => continue,
                "completed" | "failed" => return (id, p),
                other => panic!("unexpected status {other}"),
            }
        }
        panic!("export {id} never completed");
    }

    /// Fetches every JSON page; returns the records and the number of pages.
    pub async fn fetch_json(&self, token: &str, id: &str, page_size: u32) -> (Vec<Value>, usize) {
        let mut records = Vec::new();
        let mut next: Option<String> = None;
        for pages in 1..=100_000 {
            let r = self.data(token, id, page_size, next.as_deref()).await;
            assert_eq!(r.status(), StatusCode::OK);
            let v: Value = r.json().await.unwrap();
            records.extend(v["data"].as_array().unwrap().iter().cloned());
            match v.get("nextPageToken").and_then(Value::as_str) {
                Some(t) if !t.is_empty() => next = Some(t.to_owned()),
                _ => return (records, pages),
            }
        }
        panic!("pagination did not end");
    }

    /// Fetches every CSV page; returns (header of the first page, rows as maps).
    pub async fn fetch_csv(
        &self,
        token: &str,
        id: &str,
        page_size: u32,
    ) -> (Vec<String>, Vec<Vec<String>>) {
        let mut rows = Vec::new();
        let mut header = Vec::new();
        let mut next: Option<String> = None;
        for _ in 0..100_000 {
            let r = self.data(token, id, page_size, next.as_deref()).await;
            assert_eq!(r.status(), StatusCode::OK);
            assert!(
                r.headers()["content-type"]
                    .to_str()
                    .unwrap()
                    .starts_with("text/csv")
            );
            let token_header = r
                .headers()
                .get("x-next-page-token")
                .map(|v| v.to_str().unwrap().to_owned());
            let text = r.text().await.unwrap();
            let mut lines = text.lines();
            let h: Vec<String> = lines
                .next()
                .unwrap()
                .split(',')
                .map(str::to_owned)
                .collect();
            if header.is_empty() {
                header = h;
            } else {
                assert_eq!(header, h, "every page starts with the same header row");
            }
            rows.extend(lines.map(|l| l.split(',').map(str::to_owned).collect::<Vec<_>>()));
            match token_header {
                Some(t) if !t.is_empty() => next = Some(t),
                _ => return (header, rows),
            }
        }
        panic!("pagination did not end");
    }
}

// ---------------------------------------------------------------------------------------
// The real dialects

/// `Authorization: Basic` value for client credentials, form-urlencoded first as
/// RFC 6749 §2.3.1 asks.
pub fn basic(id: &str, secret: &str) -> String {
    use base64::Engine as _;
    fn form(s: &str) -> String {
        form_urlencoded::byte_serialize(s.as_bytes()).collect()
    }
    let pair = format!("{}:{}", form(id), form(secret));
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(pair)
    )
}

impl Client {
    /// `POST /auth/token` with the form `form` and, when given, an `Authorization` value.
    pub async fn auth_token(&self, authorization: Option<&str>, form: &[(&str, &str)]) -> Response {
        let mut req = self
            .http
            .post(format!("{}/auth/token", self.base))
            .form(form);
        if let Some(a) = authorization {
            req = req.header("authorization", a);
        }
        req.send().await.unwrap()
    }

    /// An access-key token (password grant, HTTP Basic client authentication).
    pub async fn access_token(&self) -> Value {
        let r = self
            .auth_token(
                Some(&basic("sim-client", "sim-secret")),
                &[
                    ("grant_type", "password"),
                    ("username", "sim-access-key"),
                    ("password", "sim-access-secret"),
                ],
            )
            .await;
        assert_eq!(r.status(), StatusCode::OK);
        r.json().await.unwrap()
    }

    /// `GET .../{version}/contacts/completed?{query}` with `Accept: application/json`.
    pub async fn completed(&self, token: &str, version: &str, query: &[(&str, &str)]) -> Response {
        self.http
            .get(format!(
                "{}/inContactAPI/services/{version}/contacts/completed",
                self.base
            ))
            .bearer_auth(token)
            .header("accept", "application/json")
            .query(query)
            .send()
            .await
            .unwrap()
    }

    /// Every `completedContacts` record of a query, paging with `skip` until a 204.
    pub async fn completed_all(
        &self,
        token: &str,
        version: &str,
        query: &[(&str, &str)],
        top: u32,
    ) -> Vec<Value> {
        let mut out = Vec::new();
        let top = top.to_string();
        loop {
            let skip = out.len().to_string();
            let mut q = query.to_vec();
            q.push(("skip", &skip));
            q.push(("top", &top));
            let r = self.completed(token, version, &q).await;
            if r.status() == StatusCode::NO_CONTENT {
                return out;
            }
            assert_eq!(r.status(), StatusCode::OK, "{:?}", r.headers());
            let v: Value = r.json().await.unwrap();
            out.extend(v["completedContacts"].as_array().unwrap().iter().cloned());
        }
    }

    /// `POST /data-extraction/v1/jobs` with `body`.
    pub async fn create_job(&self, token: &str, body: &Value) -> Response {
        self.http
            .post(format!("{}/data-extraction/v1/jobs", self.base))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .unwrap()
    }

    /// Creates a `recording-interaction-metadata` job and polls it (at most 20 times)
    /// until it is no longer `RUNNING`; returns the final `jobStatus`.
    pub async fn run_job(&self, token: &str, start: &str, end: &str) -> Value {
        let body = json!({"entityName": "recording-interaction-metadata", "version": "7",
                          "startDate": start, "endDate": end});
        let r = self.create_job(token, &body).await;
        assert_eq!(r.status(), StatusCode::ACCEPTED, "{:?}", r.text().await);
        let id: String = r.json().await.unwrap();
        for _ in 0..20 {
            let r = self
                .http
                .get(format!("{}/data-extraction/v1/jobs/{id}", self.base))
                .bearer_auth(token)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::OK);
            let v: Value = r.json().await.unwrap();
            if v["jobStatus"]["status"] != "RUNNING" {
                return v["jobStatus"].clone();
            }
        }
        panic!("job {id} never finished");
    }

    /// The CSV of a finished job: its text (BOM included).
    pub async fn download(&self, status: &Value) -> String {
        let url = status["result"]["url"].as_str().unwrap();
        let r = self.http.get(url).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        String::from_utf8(r.bytes().await.unwrap().to_vec()).unwrap()
    }
}

/// Parses CSV text (quoted fields with `""` escapes, CRLF rows) into rows of cells.
pub fn parse_csv(text: &str) -> Vec<Vec<String>> {
    csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes())
        .records()
        .map(|r| r.unwrap().iter().map(str::to_owned).collect())
        .collect()
}
