//! The one public error type of the crate.
//!
//! Variants are sorted by whose fault it is: the configuration (fix the YAML), the
//! credentials (fix the service account), the server's answers (the export or the
//! data), and the transport (retry later). Every variant carries the context a user
//! needs: the key, window, export id, page number, URL or status at fault.

use crate::config::ConfigProblem;

/// Result alias of this crate.
pub type Result<T, E = CxoneError> = std::result::Result<T, E>;

/// Everything that can go wrong in the CXone source.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CxoneError {
    /// The configuration is invalid; each problem names its key.
    #[error("invalid CXone source configuration: {}", join_problems(.problems))]
    Config {
        /// Every problem found, each with its key path.
        problems: Vec<ConfigProblem>,
    },

    /// A locally built export payload breaks a rule of the export API.
    #[error("export payload for window {window} is invalid: {message}")]
    Payload {
        /// The window id (`20230101T000000Z-20230401T000000Z`).
        window: String,
        /// Which rule, which column, which limit.
        message: String,
    },

    /// The token endpoint refused the credentials (HTTP 401 `invalid_client`).
    #[error(
        "authentication failed at {url} (HTTP {status}): {message}; check client_id/client_secret \
         (or CXONE_API_KEY/CXONE_API_SECRET)"
    )]
    Auth {
        /// The token URL.
        url: String,
        /// HTTP status.
        status: u16,
        /// The server's message.
        message: String,
    },

    /// A call was refused with HTTP 403: the service account lacks a scope.
    #[error(
        "access forbidden at {url} (HTTP 403): the service account lacks a required scope; it needs \
         the scopes `{scopes}` (add them to the OAuth client in the CXone admin console and set \
         `scope` accordingly){}",
        server_message(.message)
    )]
    Forbidden {
        /// The URL that answered 403.
        url: String,
        /// The scopes the source requires.
        scopes: String,
        /// The server's message, if any.
        message: String,
    },

    /// A second 401 after refreshing the token once.
    #[error(
        "{url} answered 401 again after a token refresh: the token is not accepted; check the \
         credentials and the token URL"
    )]
    Unauthorized {
        /// The URL.
        url: String,
    },

    /// The server rejected a request with HTTP 400.
    #[error("{url} rejected the request (HTTP 400){}: {message}", window_ctx(.window))]
    BadRequest {
        /// The URL.
        url: String,
        /// The window the request was for, if any.
        window: Option<String>,
        /// The server's message (`error: message`).
        message: String,
    },

    /// An HTTP status the contract does not allow here.
    #[error("{url} answered unexpected HTTP {status}{}: {body}", window_ctx(.window))]
    UnexpectedStatus {
        /// The URL.
        url: String,
        /// HTTP status.
        status: u16,
        /// The window, if any.
        window: Option<String>,
        /// The start of the response body.
        body: String,
    },

    /// A transient failure persisted through every retry.
    #[error(
        "{url}: giving up after {attempts} attempts (max_retries exhausted); last failure: {last}"
    )]
    RetriesExhausted {
        /// The URL.
        url: String,
        /// Attempts made.
        attempts: u32,
        /// The last failure (status or transport error).
        last: String,
    },

    /// The export job failed on the server.
    #[error("export {export_id} for window {window} failed on the server: {message}")]
    ExportFailed {
        /// The window id.
        window: String,
        /// The export id.
        export_id: String,
        /// The server's `errorMessage`.
        message: String,
    },

    /// The poll endpoint answered a status outside the contract.
    #[error("export {export_id} for window {window}: unexpected export status `{status}`")]
    ExportStatus {
        /// The window id.
        window: String,
        /// The export id.
        export_id: String,
        /// The status received.
        status: String,
    },

    /// The export did not complete within `poll_timeout_secs`.
    #[error(
        "export {export_id} for window {window} did not complete within {waited_secs} s \
         (poll_timeout_secs); raise poll_timeout_secs or shrink max_window_days"
    )]
    PollTimeout {
        /// The window id.
        window: String,
        /// The export id.
        export_id: String,
        /// Seconds waited.
        waited_secs: u64,
    },

    /// A `504` persisted after splitting the window down to one day.
    #[error(
        "creating the export for window {window} timed out on the server (HTTP 504) even after \
         splitting it down to one day; simplify the filters or retry later"
    )]
    SplitFloor {
        /// The (one-day or shorter) window that still fails.
        window: String,
    },

    /// A response could not be decoded (bad JSON/CSV, wrong type, wrong content type...).
    #[error("export {export_id}, page {page}: {message}")]
    Decode {
        /// The export id.
        export_id: String,
        /// The page number (1-based).
        page: u64,
        /// What is wrong.
        message: String,
    },

    /// A successful answer was longer than `max_response_bytes` (announced or read).
    #[error(
        "{url}: the response is larger than max_response_bytes ({limit} bytes); reading stopped \
         there. Narrow the request (smaller windows, page size or `top`) or raise max_response_bytes"
    )]
    ResponseTooLarge {
        /// The URL (without its query).
        url: String,
        /// The limit in bytes.
        limit: u64,
    },

    /// A server answer other than a data page could not be parsed.
    #[error("{url}: malformed response: {message}")]
    Protocol {
        /// The URL.
        url: String,
        /// What is wrong.
        message: String,
    },

    /// The pages of an export did not add up to the `totalRecords` the server announced.
    #[error(
        "export {export_id} for window {window}: the server announced {expected} records but the \
         pages held {received}"
    )]
    RecordCount {
        /// The window id.
        window: String,
        /// The export id.
        export_id: String,
        /// `totalRecords` from the poll endpoint.
        expected: u64,
        /// Records read from the pages.
        received: u64,
    },

    /// The HTTP client could not be built.
    #[error("cannot build the HTTP client: {source}")]
    Client {
        /// The cause.
        #[source]
        source: reqwest::Error,
    },

    /// A background task failed unexpectedly.
    #[error("internal task failure: {message}")]
    Task {
        /// What happened.
        message: String,
    },
}

fn join_problems(problems: &[ConfigProblem]) -> String {
    problems
        .iter()
        .map(|p| format!("{}: {}", p.key, p.message))
        .collect::<Vec<_>>()
        .join("; ")
}

fn window_ctx(window: &Option<String>) -> String {
    match window {
        Some(w) => format!(" for window {w}"),
        None => String::new(),
    }
}

fn server_message(message: &str) -> String {
    if message.is_empty() {
        String::new()
    } else {
        format!("; server said: {message}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_error_lists_every_key() {
        let e = CxoneError::Config {
            problems: vec![
                ConfigProblem::new("date_range.start", "bad"),
                ConfigProblem::new("page_size", "too big"),
            ],
        };
        let s = e.to_string();
        assert!(s.contains("date_range.start: bad"));
        assert!(s.contains("page_size: too big"));
    }
}
