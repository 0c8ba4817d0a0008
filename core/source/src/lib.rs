//! # tributary-source: what the engine asks of a source
//!
//! Sinks and transforms are compiled plugins; sources are components too, found by the
//! `type` of a `sources.<name>` entry in a [`SourceCatalog`] the caller hands to the
//! engine. This thin crate holds only the contract, so the engine names no source and a
//! source crate depends on no engine:
//!
//! - a [`SourceFactory`] per type: its config schema (for validation and the generated
//!   reference), a static [`check`](SourceFactory::check) of a config, and
//!   [`create`](SourceFactory::create), which is cheap and touches no network (the `plan`
//!   and `state` commands create sources without running them);
//! - a [`Source`]: [`plan`](Source::plan) into [`Window`]s, [`open`](Source::open)
//!   whatever a run needs (a built-in simulator), [`run`](Source::run) windows into a
//!   channel of [`SourceEvent`]s, and say what to save after a successful run
//!   ([`state_after_run`](Source::state_after_run)); the source owns its cursor rules.
//!
//! Design choices:
//! - **Windows are the unit of work, checkpoint and resume.** Their ids key state, sink
//!   files and table transactions, so a source must plan the same ids for the same data.
//! - **What a source saves is two strings** ([`SavedState`]): a `cursor` (where the next
//!   plan starts) and a `bookmark` (a high-water mark read from the data). The engine
//!   stores them per component; only the source interprets them.
//! - **Futures are boxed** ([`BoxFuture`]): object-safe traits without a macro crate.
//!
//! ```
//! use tributary_source::{SourceCatalog, Window};
//! let catalog = SourceCatalog::new();
//! assert!(catalog.get("cxone").is_none());
//! let t = |s: &str| chrono::DateTime::parse_from_rfc3339(s).unwrap().to_utc();
//! let w = Window::new(t("2023-01-01T00:00:00Z"), t("2023-04-01T00:00:00Z"));
//! assert_eq!(w.id, "20230101T000000Z-20230401T000000Z");
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod catalog;
mod error;
mod source;
mod window;

pub use catalog::SourceCatalog;
pub use error::{Problem, SourceError};
pub use source::{
    BoxFuture, SavedState, Source, SourceContext, SourceEvent, SourceFactory, SourceMetrics,
    Waiting, WindowEnd,
};
pub use window::Window;

pub use arrow_array;
pub use arrow_schema;
pub use prometheus_client;

/// Label set of the metric families sources register.
pub type Labels = Vec<(String, String)>;
