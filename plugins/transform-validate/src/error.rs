//! Errors of the `validate` transform.

use tributary_plugin_sdk::PluginError;

/// What can go wrong in the `validate` transform.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A configuration key is wrong.
    #[error("transforms.<name>.{key}: {message}")]
    Config {
        /// The key at fault.
        key: &'static str,
        /// What is wrong and what to write instead.
        message: String,
    },
    /// An Arrow kernel failed on a batch.
    #[error("could not {action} a batch of {rows} rows: {source}")]
    Arrow {
        /// What the transform was doing.
        action: &'static str,
        /// Rows in the batch.
        rows: usize,
        /// The Arrow error.
        #[source]
        source: arrow_schema::ArrowError,
    },
}

/// Result with the crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl From<Error> for PluginError {
    fn from(e: Error) -> Self {
        match e {
            Error::Config { .. } => PluginError::config(e.to_string()),
            Error::Arrow { .. } => PluginError::runtime(e.to_string()),
        }
    }
}
