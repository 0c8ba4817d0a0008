//! The sink's internal errors, converted into [`PluginError`] at the trait boundary.

use std::path::PathBuf;

use tributary_plugin_sdk::{ErrorKind, PluginError};

/// Everything that can go wrong in the arrow sink; every variant names the key or file at fault.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A configuration key has a value the sink cannot use.
    #[error("{key}: {message}")]
    Config {
        /// The key (`compression`).
        key: String,
        /// What is wrong and what to do.
        message: String,
    },
    /// A file system operation failed.
    #[error("{op} `{}` failed: {source}; check that the directory exists, is writable and has space", path.display())]
    Io {
        /// What was being done (`create`, `write`, `fsync`, `rename`, `remove`, `list`).
        op: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// Encoding Arrow IPC failed.
    #[error("writing Arrow IPC to `{}` failed: {source}", path.display())]
    Ipc {
        /// The file being written.
        path: PathBuf,
        /// The arrow error.
        #[source]
        source: arrow_schema::ArrowError,
    },
    /// The engine sent something the sink cannot use.
    #[error("{0}")]
    Invalid(String),
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
    /// An I/O error on `path`.
    pub fn io(op: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.into();
        move |source| Error::Io { op, path, source }
    }
}

impl From<Error> for PluginError {
    fn from(e: Error) -> Self {
        let kind = match &e {
            Error::Config { .. } => ErrorKind::Config,
            Error::Invalid(_) => ErrorKind::InvalidData,
            _ => ErrorKind::Runtime,
        };
        PluginError::new(kind, e.to_string())
    }
}
