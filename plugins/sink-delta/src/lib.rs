//! # tributary-sink-delta
//!
//! The `delta` sink: lands each window as one commit of a Delta Lake table (built on
//! delta-rs), locally or on any S3-compatible store.
//!
//! ```yaml
//! sinks:
//!   table:
//!     type: delta
//!     inputs: [checked]
//!     url: s3://lake/cxone/interactions_delta
//!     partition_by: [startTime:day]      # -> a `date` partition column
//!     schema_mode: merge                 # new nullable columns evolve the table
//!     s3: { endpoint: http://127.0.0.1:9000, allow_http: true, force_path_style: true }
//! ```
//!
//! Design choices:
//! - **One commit per window, at most once.** Batches stream into data files as they
//!   arrive; `flush` commits the window's files in one table version carrying a Delta
//!   transaction action (`txn`) with appId `tributary/{pipeline}/{sink}/{window_id}` and
//!   version = the window's start in ms. Before committing, the sink looks that appId up
//!   in the log: a resumed or repeated window that already landed is acknowledged without a
//!   second commit. The id names the window, not only the shard, so no ordering of
//!   windows, shards or backfills can make a new window look landed.
//! - **Concurrent writers.** Shards commit to one table: a version is taken with a
//!   conditional PUT of its log file (`If-None-Match: *` on S3), and a writer that loses
//!   the race re-reads the log and retries (`commit_retries`); appends never conflict.
//! - **Typed.** Timestamps land as Delta `timestamp` (microseconds, UTC); `startTime:day`
//!   partitions by a Delta `date` column.
//! - **Arrow across versions.** delta-rs pins its own Arrow; batches cross to it through
//!   the Arrow C Data Interface, zero-copy (`convert`).
//! - The sink owns a current-thread tokio runtime and blocks on it; the engine calls it
//!   from a dedicated thread.
#![warn(missing_docs)]

pub mod config;
pub mod convert;
pub mod error;
pub mod maintain;
pub mod prepare;
pub mod sink;
pub mod table;

pub use config::DeltaConfig;
pub use error::Error;
pub use sink::DeltaSink;

/// Makes a run id safe in an object name: letters, digits, `-` and `_` kept, others `_`.
pub(crate) fn sanitize(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

tributary_plugin_sdk::export_plugin!(sink DeltaSink);
