//! The one error type of the simulator's public API.

use std::net::SocketAddr;

/// What can go wrong starting a simulator.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SimError {
    /// A knob has a value the simulator cannot honour.
    #[error("simulator config key `{key}`: {message}")]
    InvalidConfig {
        /// The config key at fault, e.g. `p429`.
        key: &'static str,
        /// What is wrong and what to do.
        message: String,
    },
    /// The listening socket could not be bound.
    #[error("cannot listen on {addr}: {source}; pick another address or port 0 for a free one")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

/// Result alias of this crate.
pub type Result<T, E = SimError> = std::result::Result<T, E>;
