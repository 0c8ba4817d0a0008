//! Errors of the `webhook` sink. None of them carries a secret: URLs are shown without
//! their query string or user info, and header values never appear.

use tributary_plugin_sdk::PluginError;

/// What can go wrong in the `webhook` sink.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A configuration key is wrong.
    #[error("sinks.<name>.{key}: {message}")]
    Config {
        /// The key at fault.
        key: String,
        /// What is wrong and what to write instead.
        message: String,
    },
    /// The receiver refused a batch with a status that is not worth retrying.
    #[error(
        "POST {url} answered {status} for batch {key} ({records} records); it was not retried and is kept in the \
         spool {spool}; check the receiver's logs and the sink's url, secret and headers, then run again to redeliver it"
    )]
    Rejected {
        /// The URL, without query string.
        url: String,
        /// The HTTP status.
        status: u16,
        /// The batch's idempotency key.
        key: String,
        /// Records in the batch.
        records: u64,
        /// The spool directory.
        spool: String,
    },
    /// The receiver could not be reached or kept failing.
    #[error("POST {url} failed after {attempts} attempts: {reason}")]
    Delivery {
        /// The URL, without query string.
        url: String,
        /// Attempts made.
        attempts: u32,
        /// The last failure (status or transport error, without the URL).
        reason: String,
    },
    /// The receiver did not answer a health check.
    #[error("{url} is not reachable: {reason}; check the sink's url and that the receiver is up")]
    Unreachable {
        /// The URL, without query string.
        url: String,
        /// Why.
        reason: String,
    },
    /// The local spool could not be read or written.
    #[error("spool {path}: {source}; check that the sink's data directory is writable")]
    Spool {
        /// The file or directory.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A batch could not be encoded as JSON.
    #[error("could not encode a batch as JSON: {source}")]
    Encode {
        /// The Arrow error.
        #[source]
        source: arrow_schema::ArrowError,
    },
    /// The HTTP client or async runtime could not be set up.
    #[error("could not start the HTTP client: {reason}")]
    Setup {
        /// Why.
        reason: String,
    },
}

/// Result with the crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl From<Error> for PluginError {
    fn from(e: Error) -> Self {
        match e {
            Error::Config { .. } => PluginError::config(e.to_string()),
            Error::Encode { .. } => PluginError::invalid_data(e.to_string()),
            _ => PluginError::runtime(e.to_string()),
        }
    }
}
