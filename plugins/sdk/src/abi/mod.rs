//! The C ABI between the engine and plugins. Every `unsafe` block of the project lives here.
//!
//! - [`v1`]: the `#[repr(C)]` descriptor, buffers and function signatures (mirrored by
//!   `include/tributary_plugin.h`).
//! - [`export`]: the plugin side, used through [`crate::export_plugin!`]; every entry point
//!   catches panics and reports errors as a code plus an owned message.
//! - `host` (feature `host`): the engine side; loads a library, checks its descriptor, and
//!   wraps instances as [`crate::Sink`] / [`crate::Transform`].

pub mod export;
#[cfg(feature = "host")]
pub mod host;
pub mod v1;
