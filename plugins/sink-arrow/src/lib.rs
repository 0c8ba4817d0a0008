//! # tributary-sink-arrow
//!
//! The `arrow` sink: lands batches as Arrow IPC **files** (the random-access file format
//! pyarrow's `ipc.open_file`, polars' `read_ipc` and DuckDB read) in a local directory.
//!
//! ```yaml
//! sinks:
//!   rejects:
//!     type: arrow
//!     inputs: [checked.invalid]
//!     path: ./rejects
//!     max_rows_per_file: 1000000
//!     compression: zstd      # none | zstd
//! ```
//!
//! Design choices:
//! - **Atomic files.** Each file is written to `.tributary-{run}-{component}-N.arrow.tmp` in
//!   the same directory, fsynced, and renamed at the window's flush to
//!   `{window_id}-{n:05}.arrow` (then the directory is fsynced). Readers never see half a file.
//! - **Exactly once.** Names are deterministic per window and part, so a re-run of a window
//!   overwrites; files of the same window from an earlier attempt that this attempt did not
//!   write are removed at flush, and leftover temporary files of the same run at start.
//! - **Rotation** by rows (`max_rows_per_file`, exact: batches are sliced) or bytes
//!   (`max_bytes_per_file`, checked after each batch); a new schema starts a new file.
//! - The `Ack` lists every landed file with rows, bytes and SHA-256 (hashed while writing).
#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod config;
pub mod error;
pub mod sink;
pub mod writer;

pub use config::ArrowConfig;
pub use error::Error;
pub use sink::ArrowSink;

tributary_plugin_sdk::export_plugin!(sink ArrowSink);
