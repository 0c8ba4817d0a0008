//! # tributary-cxone: the NICE CXone analytics export source
//!
//! Speaks the export API contract (`shared/cxone-api.md`): an OAuth client-credentials
//! token, export jobs per date window, polling, and paginated JSON or CSV pages decoded
//! straight into Arrow [`RecordBatch`](arrow_array::RecordBatch)es.
//!
//! Design choices:
//! - **Planning** ([`plan`]): the date range becomes consecutive half-open UTC windows
//!   `[start, end)` of at most `max_window_days` (90); the payload expresses one as
//!   `start` .. `end - 1 ms` (`...T23:59:59.999Z`), as the API wants.
//! - **Payloads** are built and checked against every rule of the contract before any
//!   request ([`payload`]).
//! - **One client per source**: one token cache (single-flight refresh at 90 % of
//!   `expires_in`, refresh-once on 401), one limiter (a 429's `Retry-After` holds back
//!   every request of the source; optional requests-per-second bucket), one retry
//!   policy for every request (bounded exponential backoff with jitter).
//! - **Ahead-of-time export jobs**: up to `concurrency` windows are created and polled
//!   in background tasks while pages stream window by window in plan order; a 504 on
//!   create splits the window in two, recursively, down to one day.
//! - **No per-record `serde_json::Value`**: one pass over the bytes of the `data` array
//!   appends each value to its column's Arrow builder and counts (and optionally keeps)
//!   unknown fields (`decode::json`, 2.3× arrow-json's decoder with our key scan).
//! - **The next page is asked for while this one decodes**: its token read from the end of
//!   a JSON envelope shaped as the contract shows it (or a CSV page's header), the reply used
//!   only if the decoded page names the same token.
//! - `startTime`/`endTime` are `Timestamp(ms, UTC)`, parsed once here; a value that does
//!   not parse lands null, counted, and kept in `_extra` for `validate` to reject
//!   (`columns_as_strings` keeps the server's text).
//!
//! ```no_run
//! # async fn demo() -> Result<(), tributary_cxone::CxoneError> {
//! use tributary_cxone::{CxoneConfig, CxoneSource, SourceEvent, plan};
//! let mut cfg = CxoneConfig::new("3a2b1c4d", "2023-01-01", "2023-12-31");
//! cfg.base_url = Some("http://127.0.0.1:8080".into());
//! let today = chrono::Utc::now().date_naive();
//! let windows = plan(&cfg, today, None)?;
//! let source = CxoneSource::new(cfg, None)?;
//! let (tx, mut rx) = tokio::sync::mpsc::channel(16);
//! let run = tokio::spawn(async move { source.run(windows, tx).await });
//! while let Some(ev) = rx.recv().await {
//!     if let SourceEvent::Batch(b) = ev {
//!         println!("{} rows", b.num_rows());
//!     }
//! }
//! run.await.ok();
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod auth;
mod client;
pub mod component;
pub mod config;
pub mod decode;
pub mod error;
mod exposition;
mod extraction;
pub mod mapping;
pub mod metrics;
pub mod payload;
mod prefetch;
mod reporting;
pub mod requests;
pub mod retry;
pub mod secret;
pub mod simulator;
pub mod source;
pub mod window;

pub use component::{CxoneComponent, CxoneFactory};
pub use config::{
    AccessKeyConfig, ApiDialect, AuthMode, ClientAuth, ConfigProblem, CxoneConfig,
    DataExtractionConfig, DateRangeConfig, ExportFormat, ExtractionDates, RecordShape,
    ReportingConfig,
};
pub use decode::output_schema;
pub use error::{CxoneError, Result};
pub use metrics::{Endpoint, MetricsSnapshot, SourceMetrics, Waiting};
pub use secret::Secret;
pub use simulator::{NO_SIMULATOR, SimulatorHandle, SimulatorStarter, StartedSimulator};
pub use source::{CxoneSource, SourceEvent, WindowReport};
pub use window::{Window, plan};
