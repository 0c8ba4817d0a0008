//! # tributary-engine
//!
//! The engine of Tributary: pipeline configuration, plugin host, graph runtime, state
//! store, audit log and metrics. The CLI (`tributary`) is a thin shell over it.
//!
//! The engine names no source type: sources come from the
//! [`SourceCatalog`](tributary_source::SourceCatalog) the caller passes to [`load`]
//! (the CLI's holds the built-in source types).
#![warn(missing_docs)]
#![forbid(unsafe_code)]

pub mod audit;
pub mod config;
pub mod connect;
pub mod error;
pub mod graph;
pub mod lease;
mod load;
pub mod metrics;
pub mod plugins;
pub mod run;
pub mod shard;
pub mod source;
pub mod state;
pub mod store;
pub mod unittest;

pub use error::{
    EXIT_CONFIG, EXIT_DATA_QUALITY, EXIT_INTERRUPTED, EXIT_OK, EXIT_RUNTIME, EngineError,
};
pub use load::{load, load_with};
pub use tributary_source::{SourceCatalog, Waiting, Window};
