//! The engine's error type, sorted by whose fault it is; it decides the exit code.

use tributary_plugin_sdk::{ErrorKind, PluginError};

use crate::config::ConfigErrors;

/// Exit code: success.
pub const EXIT_OK: u8 = 0;
/// Exit code: a runtime failure (network, storage, plugin crash).
pub const EXIT_RUNTIME: u8 = 1;
/// Exit code: the configuration is wrong (fix the pipeline file).
pub const EXIT_CONFIG: u8 = 2;
/// Exit code: a data-quality threshold failed (`min_integrity_rate`, `on_invalid: fail`).
pub const EXIT_DATA_QUALITY: u8 = 3;
/// Exit code: interrupted by SIGINT/SIGTERM; resume with `--resume`.
pub const EXIT_INTERRUPTED: u8 = 130;

/// Everything that can stop the engine.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EngineError {
    /// The pipeline file has problems.
    #[error("{0}")]
    Config(#[from] ConfigErrors),
    /// A usage problem outside the file (bad `--shard`, …).
    #[error("{0}")]
    Usage(String),
    /// A plugin reported an error.
    #[error("{component}: {source}")]
    Plugin {
        /// The component (`sinks.lake`).
        component: String,
        /// The plugin's error.
        #[source]
        source: PluginError,
    },
    /// The source failed.
    #[error("{component}: {message}")]
    Source {
        /// The component (`sources.<name>`).
        component: String,
        /// What failed.
        message: String,
    },
    /// The state store or another object store failed.
    #[error("object store {url}: {message}")]
    Store {
        /// The store's URL.
        url: String,
        /// What failed.
        message: String,
    },
    /// Another run holds the pipeline's (or shard's) lease.
    #[error(
        "another run of this pipeline is in progress: run {run_id} on host {host} (pid {pid}) holds \
         the lease until {expires_at} (renewed while it runs). Wait for it to finish; if it is dead \
         on another host, wait for the expiry or run again with --force-unlock"
    )]
    LeaseHeld {
        /// The holder's run id.
        run_id: String,
        /// The holder's host.
        host: String,
        /// The holder's process id.
        pid: u32,
        /// When the lease lapses unless renewed.
        expires_at: String,
    },
    /// Another run took this run's lease over (`--force-unlock`, or a stall past its expiry).
    #[error(
        "another run took over this pipeline's lease; stopping before landing more windows \
         (the windows landed so far stay landed; run again with --resume)"
    )]
    LeaseLost,
    /// The audit log failed.
    #[error("audit log {path}: {message}")]
    Audit {
        /// The file.
        path: String,
        /// What failed.
        message: String,
    },
    /// The run was interrupted.
    #[error("interrupted; landed windows are checkpointed, run again with --resume to finish")]
    Interrupted,
    /// Anything else at run time.
    #[error("{0}")]
    Runtime(String),
}

impl EngineError {
    /// The documented exit code for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            EngineError::Config(_) | EngineError::Usage(_) => EXIT_CONFIG,
            EngineError::Plugin { source, .. } => match source.kind {
                ErrorKind::Config => EXIT_CONFIG,
                ErrorKind::DataQuality | ErrorKind::InvalidData => EXIT_DATA_QUALITY,
                _ => EXIT_RUNTIME,
            },
            EngineError::Interrupted => EXIT_INTERRUPTED,
            _ => EXIT_RUNTIME,
        }
    }
}

/// Result with an [`EngineError`].
pub type Result<T, E = EngineError> = std::result::Result<T, E>;
