//! The sink's internal errors, converted into [`PluginError`] at the trait boundary.

use tributary_plugin_sdk::{ErrorKind, PluginError};

/// Everything that can go wrong in the parquet sink. Every variant names the key, object or
/// column at fault; none ever carries a credential.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A configuration key has a value the sink cannot use.
    #[error("{key}: {message}")]
    Config {
        /// The key path (`compression`, `s3.endpoint`).
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
        source: object_store::Error,
    },
    /// An object store operation failed.
    #[error(
        "{op} `{location}` failed: {source}; check that the store is reachable and the credentials allow it"
    )]
    Io {
        /// What was being done (`upload`, `list`, `delete`, `rename`).
        op: &'static str,
        /// The object (URL form).
        location: String,
        /// The object_store error.
        #[source]
        source: object_store::Error,
    },
    /// A batch did not fit what the sink was configured for.
    #[error("invalid batch: {0}")]
    Batch(String),
    /// Encoding parquet failed.
    #[error("encoding parquet for `{location}` failed: {source}")]
    Parquet {
        /// The object being written.
        location: String,
        /// The parquet error.
        #[source]
        source: parquet::errors::ParquetError,
    },
    /// An Arrow kernel failed while splitting a batch into partitions.
    #[error("splitting a batch into partitions failed: {0}")]
    Arrow(#[from] arrow_schema::ArrowError),
    /// A local I/O failure (creating the output directory, the async runtime).
    #[error("{context}: {source}")]
    Local {
        /// What was being done, naming the path.
        context: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// Serialising the run manifest failed.
    #[error("serialising the manifest failed: {0}")]
    Manifest(#[from] serde_json::Error),
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
}

impl From<tributary_lake::ConfigError> for Error {
    fn from(e: tributary_lake::ConfigError) -> Self {
        Error::Config {
            key: e.key,
            message: e.message,
        }
    }
}

impl From<Error> for PluginError {
    fn from(e: Error) -> Self {
        let kind = match &e {
            Error::Config { .. } | Error::Store { .. } => ErrorKind::Config,
            Error::Batch(_) | Error::Arrow(_) => ErrorKind::InvalidData,
            _ => ErrorKind::Runtime,
        };
        PluginError::new(kind, e.to_string())
    }
}
