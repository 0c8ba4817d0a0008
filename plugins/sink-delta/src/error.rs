//! The sink's internal errors, converted into [`PluginError`] at the trait boundary.

use tributary_plugin_sdk::{ErrorKind, PluginError};

/// Everything that can go wrong in the delta sink. Every variant names the key, table or
/// column at fault; none ever carries a credential.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A configuration key has a value the sink cannot use.
    #[error("{key}: {message}")]
    Config {
        /// The key path (`schema_mode`, `s3.endpoint`).
        key: String,
        /// What is wrong and what to do.
        message: String,
    },
    /// The object store could not be built from the configuration.
    #[error("cannot open object store for `{url}`: {source}; check `url` and the `s3` settings")]
    Store {
        /// The configured URL.
        url: String,
        /// The object_store error.
        #[source]
        source: delta_object_store::Error,
    },
    /// A Delta operation on the table failed.
    #[error("{op} on the Delta table `{url}` failed: {source}")]
    Delta {
        /// What was being done (`loading`, `creating`, `committing window …`).
        op: String,
        /// The table URL.
        url: String,
        /// delta-rs' error.
        #[source]
        source: Box<deltalake_core::DeltaTableError>,
    },
    /// A batch does not fit the table's schema (and `schema_mode` does not allow the change).
    #[error("window does not fit the Delta table `{url}`: {message}")]
    Schema {
        /// The table URL.
        url: String,
        /// Which column, what the table has, what the batch has, and what to do.
        message: String,
    },
    /// A window's commit did not stay in the table's log.
    #[error("committing to the Delta table `{url}` failed: {message}")]
    Commit {
        /// The table URL.
        url: String,
        /// What happened and what to do.
        message: String,
    },
    /// A batch did not fit what the sink was configured for.
    #[error("invalid batch: {0}")]
    Batch(String),
    /// A local I/O failure (creating the table directory, the async runtime).
    #[error("{context}: {source}")]
    Local {
        /// What was being done, naming the path.
        context: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

/// Result with the sink's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// A configuration error for `key`.
    pub fn config(key: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Config {
            key: key.into(),
            message: message.into(),
        }
    }

    /// A delta-rs failure while doing `op` on the table at `url`.
    pub fn delta(
        op: impl Into<String>,
        url: &str,
        source: deltalake_core::DeltaTableError,
    ) -> Self {
        Error::Delta {
            op: op.into(),
            url: url.to_string(),
            source: Box::new(source),
        }
    }
}

impl From<tributary_lake::ConfigError> for Error {
    fn from(e: tributary_lake::ConfigError) -> Self {
        Error::Config {
            key: e.key,
            message: e.message,
        }
    }
}

impl From<arrow_schema::ArrowError> for Error {
    fn from(e: arrow_schema::ArrowError) -> Self {
        Error::Batch(e.to_string())
    }
}

impl From<delta_arrow_schema::ArrowError> for Error {
    fn from(e: delta_arrow_schema::ArrowError) -> Self {
        Error::Batch(e.to_string())
    }
}

impl From<Error> for PluginError {
    fn from(e: Error) -> Self {
        let kind = match &e {
            Error::Config { .. } | Error::Store { .. } => ErrorKind::Config,
            Error::Batch(_) | Error::Schema { .. } => ErrorKind::InvalidData,
            _ => ErrorKind::Runtime,
        };
        PluginError::new(kind, e.to_string())
    }
}
