//! # tributary-plugin-sdk
//!
//! Write Tributary sinks and transforms as compiled plugins.
//!
//! A plugin is a `cdylib` exporting one symbol, `tributary_plugin_v1`, that returns a
//! `#[repr(C)]` descriptor ([`abi::v1::TributaryPluginV1`]): ABI version, size, kind, name,
//! version, the JSON Schema of its config, and a table of `extern "C"` functions. Batches
//! cross as the Arrow C Data Interface (a struct array per batch, zero-copy). Errors cross as
//! a status code plus an owned message; panics are caught at every entry point.
//!
//! In Rust you implement [`PluginInfo`] plus [`Sink`] (or [`Transform`]) and add one line:
//!
//! ```
//! use tributary_plugin_sdk::{Ack, Checkpoint, CreateContext, PluginInfo, Result, Sink, export_plugin};
//! use tributary_plugin_sdk::arrow_array::RecordBatch;
//!
//! #[derive(serde::Deserialize, schemars::JsonSchema)]
//! #[serde(deny_unknown_fields)]
//! pub struct Config { /// Prefix for log lines.
//!     prefix: String }
//!
//! pub struct Counter { rows: u64, prefix: String }
//!
//! impl PluginInfo for Counter {
//!     const NAME: &'static str = "counter";
//!     const VERSION: &'static str = "0.1.0";
//!     type Config = Config;
//!     fn create(config: Config, _ctx: &CreateContext) -> Result<Self> {
//!         Ok(Counter { rows: 0, prefix: config.prefix })
//!     }
//! }
//!
//! impl Sink for Counter {
//!     fn write(&mut self, batch: &RecordBatch) -> Result<()> {
//!         self.rows += batch.num_rows() as u64;
//!         Ok(())
//!     }
//!     fn flush(&mut self, _cp: &Checkpoint) -> Result<Ack> {
//!         Ok(Ack { records: std::mem::take(&mut self.rows), ..Ack::default() })
//!     }
//!     fn close(&mut self) -> Result<Ack> { Ok(Ack::default()) }
//! }
//!
//! export_plugin!(sink Counter);
//! ```
//!
//! The `host` feature holds the loading side used by the engine; the `testing` feature, the
//! contract suites every plugin's tests run (module `testing`). [`retry`] holds the
//! backoff, jitter and `Retry-After` rules the CXone source and the webhook sink share.
#![warn(missing_docs)]
#![deny(
    unsafe_op_in_unsafe_fn,
    clippy::undocumented_unsafe_blocks,
    clippy::missing_safety_doc
)]

pub mod abi;
mod copy;
mod error;
mod plugin;
pub mod retry;
pub mod secret;
#[cfg(feature = "testing")]
pub mod testing;
pub mod time;

pub use copy::deep_copy;
pub use error::{ErrorKind, PluginError, Result};
pub use plugin::{
    Ack, Checkpoint, CreateContext, LandedFile, MAIN_OUTPUT, Outputs, PluginInfo, PluginKind, Sink,
    SinkPlugin, Transform, TransformPlugin, config_schema, parse_config,
};
pub use secret::Secret;

pub use arrow_array;
pub use arrow_data;
pub use arrow_schema;
pub use schemars;
pub use serde;
pub use serde_json;
