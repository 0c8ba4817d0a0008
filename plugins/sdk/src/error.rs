//! The one error type that crosses the plugin boundary.

/// What kind of failure a plugin reports; it decides the engine's reaction and exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorKind {
    /// The plugin's configuration is wrong: fix the pipeline file.
    Config,
    /// A batch could not be handled because of its content (wrong schema, bad values).
    InvalidData,
    /// A data-quality threshold was not met (for example `min_integrity_rate`).
    DataQuality,
    /// An I/O or other runtime failure (network, disk, remote service).
    Runtime,
    /// The plugin panicked; the instance is poisoned and is not called again.
    Panic,
    /// The instance was poisoned by an earlier panic and was not called.
    Poisoned,
    /// The ABI contract was broken (bad pointer, bad descriptor, wrong version).
    Abi,
}

impl ErrorKind {
    /// The status code this kind travels as across the C ABI.
    pub fn code(self) -> i32 {
        match self {
            ErrorKind::Config => 1,
            ErrorKind::InvalidData => 2,
            ErrorKind::DataQuality => 3,
            ErrorKind::Runtime => 4,
            ErrorKind::Panic => 5,
            ErrorKind::Poisoned => 6,
            ErrorKind::Abi => 7,
        }
    }

    /// The kind for a status code received across the C ABI (unknown codes are runtime errors).
    pub fn from_code(code: i32) -> ErrorKind {
        match code {
            1 => ErrorKind::Config,
            2 => ErrorKind::InvalidData,
            3 => ErrorKind::DataQuality,
            5 => ErrorKind::Panic,
            6 => ErrorKind::Poisoned,
            7 => ErrorKind::Abi,
            _ => ErrorKind::Runtime,
        }
    }
}

impl std::fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = match self {
            ErrorKind::Config => "configuration error",
            ErrorKind::InvalidData => "invalid data",
            ErrorKind::DataQuality => "data-quality failure",
            ErrorKind::Runtime => "runtime error",
            ErrorKind::Panic => "plugin panicked",
            ErrorKind::Poisoned => "plugin instance poisoned",
            ErrorKind::Abi => "plugin ABI violation",
        };
        f.write_str(s)
    }
}

/// An error reported by a plugin: a kind plus a message that says what went wrong and what to do.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[error("{kind}: {message}")]
pub struct PluginError {
    /// What kind of failure this is.
    pub kind: ErrorKind,
    /// Human-readable message; never contains secrets.
    pub message: String,
}

impl PluginError {
    /// An error of the given kind.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        PluginError {
            kind,
            message: message.into(),
        }
    }
    /// A configuration error.
    pub fn config(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Config, message)
    }
    /// A runtime (I/O, network) error.
    pub fn runtime(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Runtime, message)
    }
    /// An error caused by the content of a batch.
    pub fn invalid_data(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidData, message)
    }
    /// A data-quality threshold that was not met.
    pub fn data_quality(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::DataQuality, message)
    }
}

/// Result with a [`PluginError`].
pub type Result<T, E = PluginError> = std::result::Result<T, E>;
