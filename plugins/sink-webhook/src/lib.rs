//! # tributary-sink-webhook
//!
//! The `webhook` sink: POSTs records as JSON to an HTTP endpoint,
//! `{"timestamp": "<RFC 3339>", "records": [...]}` as the tutorial sends them, `batch_size`
//! records per request, encoded straight from Arrow with arrow-json.
//!
//! Design choices:
//! - **Requests leave as records arrive**: one per `batch_size` records, at most
//!   `concurrency` unanswered, the window's last partial one at `flush`; memory is bounded
//!   by `batch_size` x (`concurrency` + 1) records whatever the window's size. The
//!   idempotency key chains each request to the previous one of its window over the records
//!   only ([`request::idempotency_key`]), so the same window re-run (retry, `--resume`)
//!   yields the same keys without the sink having to know the window's name (which the
//!   engine gives only at `flush`), and a receiver can drop repeats.
//! - **Signature** (when `secret` is set): `X-Tributary-Signature: v1=<hex HMAC-SHA256>` over
//!   `<X-Tributary-Timestamp> "." <uncompressed body>`; the timestamp is the Unix time of each
//!   attempt, so a receiver can refuse stale replays. With `gzip: true`, the receiver
//!   decompresses first and verifies the decompressed bytes. See `README.md` for the recipe.
//! - **Retries**: 408, 429, 5xx, timeouts and connection errors are retried up to
//!   `max_retries` times with exponential backoff (jittered); a `Retry-After` (seconds or
//!   HTTP date, capped by `max_retry_after_secs`) holds back every request of the sink.
//!   Other statuses (4xx) are not retried: the batch is spooled and `flush` fails naming the
//!   URL (without query string) and status.
//! - **Spool**: a batch still failing is written to `{data_dir}/spool/<key>.batch`
//!   atomically, and counts as durable for the acknowledgement (`Ack.records` = delivered +
//!   spooled). On the first `write`/`flush`/`close` of every instance (not only on resume,
//!   so that a spool is never stranded; never in `create` or `healthcheck`), spooled batches
//!   are redelivered with their original keys and removed after a 2xx.
//! - **Secrets** (`secret`, every `headers` value) print as `**REDACTED**`; header values
//!   are not written to the spool.
//!
//! ```no_run
//! use tributary_plugin_sdk::{Checkpoint, CreateContext, PluginInfo, Sink};
//! use tributary_sink_webhook::{WebhookConfig, WebhookSink};
//! # fn batch() -> arrow_array::RecordBatch {
//! #     let ids = arrow_array::StringArray::from(vec!["c-1", "c-2"]);
//! #     arrow_array::RecordBatch::try_from_iter([("id", std::sync::Arc::new(ids) as arrow_array::ArrayRef)]).unwrap_or_else(|_| arrow_array::RecordBatch::new_empty(std::sync::Arc::new(arrow_schema::Schema::empty())))
//! # }
//! let ctx = CreateContext { pipeline: "p".into(), component: "notify".into(), data_dir: "/tmp/notify".into(), ..Default::default() };
//! let mut sink = WebhookSink::create(WebhookConfig::new("http://127.0.0.1:8080/ingest"), &ctx)?;
//! sink.write(&batch())?;
//! let ack = sink.flush(&Checkpoint { window_id: "20230101T000000Z-20230401T000000Z".into(), ..Default::default() })?;
//! println!("{} records delivered or spooled", ack.records);
//! # Ok::<(), tributary_plugin_sdk::PluginError>(())
//! ```
// `unsafe_code` stays denied (workspace lint); it cannot be `forbid`den because
// `export_plugin!` expands to an `#[allow(unsafe_code)]` item.
#![deny(unsafe_code)]

pub mod config;
pub mod error;
pub mod request;
pub mod sink;
pub mod spool;

pub use config::{Secret, SensitiveHeaders, WebhookConfig};
pub use error::Error;
pub use sink::WebhookSink;

tributary_plugin_sdk::export_plugin!(sink WebhookSink);
