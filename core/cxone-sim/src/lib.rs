//! A faithful, fast and deterministic simulator of the CXone analytics export API
//! (`shared/cxone-api.md`), so pipelines are developed and tested offline.
//!
//! It serves the four endpoints of the contract (token, create export, poll, data
//! pages in json or csv) exactly: every rule of the contract is answered with a `400`
//! whose `error` names the rule, tokens expire, scopes are enforced. Its data is a pure
//! function of a seed: a test computes exactly which records a date range holds
//! ([`records_in_range`]), their digest ([`id_digest`]) and the data-quality defects the
//! simulator injects into them ([`injected_defects`]). Faults (429 with both
//! `Retry-After` forms, 5xx, slow responses, 504 on long windows, failed exports,
//! expiring page tokens) are decided by hashing the seed with the request's identity
//! and attempt number, so they are reproducible.
//!
//! Beside the contract it serves the real CXone APIs in the shapes NICE publishes
//! (module `real`): access-key auth with OpenID discovery, the Reporting API's
//! completed contacts (the 58 published fields, [`COMPLETED_CONTACT_FIELDS`]) and the
//! Data Extraction API's jobs and CSV ([`DE_HEADERS`]). A test computes their truth
//! with [`contact_id_of`], [`last_update_time`] and [`extraction_segments`].
//!
//! Design choices:
//! - records are generated per (seed, day, index) with splitmix64, so any record costs
//!   O(1) and a range is located by binary search, never by generating whole days;
//! - pages are written by hand into a `Vec<u8>` and cached as `Bytes` per
//!   (export, offset, page size), bounded by `page_cache_bytes`;
//! - the config is one struct that is at once serde (YAML), JSON Schema and clap flags;
//! - the HTTP server is the default cargo feature `server`: without it the crate is the
//!   config types and the record generation (what the `cxone` source needs to accept a
//!   `simulator:` section); whoever starts simulators (the CLI, tests) turns it on.
//!
//! ```
//! use tributary_cxone_sim::{SimConfig, Simulator};
//! # let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
//! # rt.block_on(async {
//! let sim = Simulator::start(SimConfig::default(), "127.0.0.1:0".parse().unwrap())
//!     .await
//!     .unwrap();
//! assert!(sim.base_url().starts_with("http://127.0.0.1:"));
//! assert_eq!(sim.counters().exports_created, 0);
//! sim.shutdown().await;
//! # });
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod config;
#[cfg(feature = "server")]
mod counters;
// Without the server, the page writers and fault hashes of `data` have no caller.
#[cfg_attr(not(feature = "server"), allow(dead_code))]
mod data;
mod error;
#[cfg(feature = "server")]
mod faults;
#[cfg_attr(not(feature = "server"), allow(dead_code))]
mod filter;
#[cfg(feature = "server")]
mod real;
#[cfg(feature = "server")]
mod server;

pub use config::{
    CLIENT_AUTH_METHODS, ExtractionFailureStatus, FaultEndpoint, MAX_RECORDS_PER_DAY,
    RetryAfterMode, SCOPE_EXPORT_READ, SCOPE_EXPORT_WRITE, SCOPE_REPORTS_READ, SimConfig,
    SimSecret,
};
#[cfg(feature = "server")]
pub use counters::Counters;
pub use data::{
    Defects, EXTRA_FIELD, Field, Record, id_digest, injected_defects, last_update_time,
    media_type_of, records_in_range,
};
pub use error::{Result, SimError};
pub use filter::records_matching;
#[cfg(feature = "server")]
pub use real::{
    COMPLETED_CONTACT_FIELDS, DE_ENTITIES, DE_HEADERS, TOKEN_PATH, contact_id_of,
    extraction_segments,
};
#[cfg(feature = "server")]
pub use server::{
    DEFAULT_PAGE_SIZE, MAX_COLUMNS, MAX_EXPORT_DAYS, MAX_OR_FIELDS, MAX_PAGE_SIZE, SimHandle,
    Simulator, serve_forever,
};
