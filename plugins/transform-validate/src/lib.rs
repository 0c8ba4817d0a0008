//! # tributary-transform-validate
//!
//! The `validate` transform: checks CXone records and measures their integrity.
//!
//! `schema` picks the record shape: `interaction` (default, described below),
//! `completed-contacts` (the Reporting API's native record: required `contactId`,
//! `contactStartDate`, `lastUpdateTime`; `mediaTypeName` among NICE's media type names;
//! dedupe by `contactId`) or `recording-interaction-metadata` (the Data Extraction CSV:
//! required `acdCallId`, `startDate`; dedupe by `segmentId`). The native shapes are typed
//! by the source, so a row valid by NICE's published schema is never rejected.
//!
//! For every interaction record it checks
//! - **presence**: each `required` field (default: all ten schema fields) is present and
//!   non-null. A column missing from the batch, or a null value, counts as *missing*
//!   (the tutorial only looked at absent keys; a null carries no more information, so it
//!   counts too);
//! - **types**: `startTime`/`endTime` parse as RFC 3339 text (or are Arrow timestamps),
//!   `holdTime`/`wrapTime`/`talkTime` are integers (integral floats and integer text are
//!   accepted) and not negative; `id`, `agentId`, `queueId` are text;
//! - **rules**: `endTime` is not before `startTime`; `direction` and `medium` are in the
//!   configured lists;
//! - **duplicates**: a record whose `id` was already accepted earlier in the *run* (across
//!   windows) is dropped and counted. Ids are held back to `dedupe_horizon_days` before the
//!   current window (windows are cut by `startTime`), so memory does not grow with the run.
//!
//! Invalid records go to the named output `invalid` with an extra `_reason` column
//! (`missing:agentId; endTime<startTime`), or are dropped, or fail the batch (`on_invalid`).
//!
//! Metrics (in each window's and the run's `Ack.metrics`): `records_in`, `complete`,
//! `valid`, `invalid`, `duplicates`, `integrity_rate`, `missing_field_counts`,
//! `schema_alignment_pass`. As in the tutorial, `integrity_rate = complete / records_in`,
//! where a record is complete when no required field is missing (0.0 for no records), and
//! `schema_alignment_pass` is `valid == records_in`. `min_integrity_rate` is checked at
//! the end of the run (an empty run never fails it).
//!
//! ```
//! use tributary_plugin_sdk::{CreateContext, Outputs, PluginInfo, Transform};
//! use tributary_transform_validate::{Validate, ValidateConfig};
//! use arrow_array::{RecordBatch, StringArray};
//! use std::sync::Arc;
//!
//! let config = ValidateConfig { required: Some(vec!["id".into()]), ..ValidateConfig::default() };
//! let mut v = Validate::create(config, &CreateContext::default()).unwrap();
//! let ids = StringArray::from(vec![Some("a"), None, Some("a")]);
//! let batch = RecordBatch::try_from_iter([("id", Arc::new(ids) as _)]).unwrap();
//! let mut out = Outputs::new();
//! v.process(&batch, &mut out).unwrap();
//! let outputs = out.take();
//! assert_eq!(outputs[0].1.num_rows(), 1); // main: the first "a"
//! assert_eq!(outputs[1].0, "invalid");    // the null id, with `_reason`
//! assert_eq!(v.run_stats().duplicates, 1);
//! ```
// `unsafe_code` stays denied (workspace lint); it cannot be `forbid`den because
// `export_plugin!` expands to an `#[allow(unsafe_code)]` item.
#![deny(unsafe_code)]

pub mod check;
pub mod config;
pub mod dedupe;
pub mod error;
pub mod transform;

pub use config::{
    Fields, NICE_MEDIA_NAMES, OnInvalid, RecordSchema, SCHEMA_FIELDS, ValidateConfig,
    ValidatedConfig,
};
pub use error::Error;
pub use transform::{INVALID_OUTPUT, Validate};

tributary_plugin_sdk::export_plugin!(transform Validate);

#[cfg(test)]
mod tests;
