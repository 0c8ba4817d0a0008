//! Contract suites for plugins (feature `testing`): one set of checks every sink and every
//! transform must pass, run against a Rust value in-process or against a loaded `.so`
//! (a [`crate::abi::host::ForeignSink`] is a [`Sink`] like any other).
//!
//! ```
//! use tributary_plugin_sdk::arrow_array::RecordBatch;
//! use tributary_plugin_sdk::testing::SinkContract;
//! use tributary_plugin_sdk::{Ack, Checkpoint, Result, Sink};
//!
//! #[derive(Default)]
//! struct Counter { rows: u64 }
//! impl Sink for Counter {
//!     fn write(&mut self, b: &RecordBatch) -> Result<()> { self.rows += b.num_rows() as u64; Ok(()) }
//!     fn flush(&mut self, _: &Checkpoint) -> Result<Ack> {
//!         Ok(Ack { records: std::mem::take(&mut self.rows), ..Ack::default() })
//!     }
//!     fn close(&mut self) -> Result<Ack> { Ok(Ack::default()) }
//! }
//!
//! let report = SinkContract::new(|| Ok(Box::new(Counter::default()))).run();
//! assert!(report.is_ok(), "{report}");
//! // Or, in a #[test]: tributary_plugin_sdk::testing::sink_contract(|| Ok(Box::new(Counter::default())));
//! ```
//!
//! Each check gets a fresh instance from the factory (`make`), and uses its own windows, so
//! instances may share one destination. What each check asserts is listed in
//! [`SINK_CHECKS`] and [`TRANSFORM_CHECKS`] (and in `docs/plugin-guide.md`). A check that
//! needs something only the caller can give (a probe of the destination, a factory of a
//! failing instance) is reported as skipped, with the reason, when it is not given:
//! [`Report`] never claims a check passed that did not run.
//!
//! What the engine does, which the checks encode (`core/engine/src/graph.rs`): one thread
//! calls an instance; `write`/`process` for each batch of a window, `flush` once at the
//! window's end (also for a window without records), `close` once at the end of the run,
//! and `close` also after a failed `write` or `flush`. Within one run an instance never
//! flushes the same window twice; the same `window_id` comes again in a later run (a
//! re-run, or `--resume` of a window not every sink acknowledged), in a fresh instance,
//! carrying the window's rows again.

pub mod batches;
mod checks;
mod report;
#[cfg(test)]
mod tests;

use arrow_array::RecordBatch;

use crate::error::Result;
use crate::plugin::{Sink, Transform};

pub use report::{Outcome, Report, Status};

/// The checks of [`SinkContract`], each with the contract it enforces.
pub const SINK_CHECKS: &[(&str, &str)] = &[
    (
        "empty_batch",
        "a batch with no rows is accepted; the window's flush acknowledges 0 records and lands nothing",
    ),
    (
        "empty_window",
        "a flush with nothing written since the last one succeeds and acknowledges 0 records",
    ),
    (
        "ack_counts",
        "each flush acknowledges exactly the rows written since the previous flush (batches of 1, 7 and 100 rows, then 5), the destination gains exactly those rows, and close after the last flush acknowledges 0",
    ),
    (
        "schema_change_between_windows",
        "a window whose batches have another schema (a column dropped, one retyped, one added) is either landed in full or refused with a typed error, never a panic; close still works",
    ),
    (
        "schema_change_within_window",
        "as above, with the two schemas in one window",
    ),
    (
        "window_flushed_twice",
        "a second flush of a window, with nothing written in between, acknowledges 0 records (or fails with a typed error) and lands nothing more",
    ),
    (
        "window_replayed",
        "a fresh instance writing the same rows under the same window_id (a re-run or --resume) acknowledges them again, but the destination holds them once (needs a landed_rows probe)",
    ),
    (
        "close_after_failure",
        "an instance whose write or flush failed (from the failing factory) fails with a typed error, and close then returns without panicking (needs a failing factory)",
    ),
    (
        "large_batch",
        "one batch of 100,000 rows (by default) is written, acknowledged and landed in full",
    ),
    (
        "all_null_batch",
        "a batch whose every value is null is accepted and acknowledged in full",
    ),
    (
        "engine_types",
        "every Arrow type the engine emits (Utf8, Int64, Float64, Boolean, Timestamp(ms, UTC)) at its edge values, nulls included, is accepted and acknowledged",
    ),
    (
        "panic_poisons",
        "once a call panicked across the ABI, every later call is refused with ErrorKind::Poisoned without reaching the plugin (runs only when a panic was seen; any panic also fails the check it happened in)",
    ),
];

/// The checks of [`TransformContract`], each with the contract it enforces.
pub const TRANSFORM_CHECKS: &[(&str, &str)] = &[
    (
        "empty_batch",
        "a batch with no rows is processed and emits no rows",
    ),
    (
        "empty_window",
        "a flush with nothing processed succeeds and emits no rows",
    ),
    (
        "ack_counts",
        "with conserves_rows, every input row comes out on exactly one output; with acks_main_output_rows, each flush acknowledges the rows emitted on the main output in its window",
    ),
    (
        "schema_change_between_windows",
        "a window whose batches have another schema is processed or refused with a typed error, never a panic; close still works",
    ),
    (
        "schema_change_within_window",
        "as above, with the two schemas in one window",
    ),
    (
        "window_flushed_twice",
        "a second flush of a window, with nothing processed in between, emits no rows and acknowledges nothing more (or fails with a typed error)",
    ),
    (
        "close_after_failure",
        "an instance whose process or flush failed (from the failing factory) fails with a typed error, and close then returns without panicking (needs a failing factory)",
    ),
    (
        "large_batch",
        "one batch of 100,000 rows (by default) is processed",
    ),
    (
        "all_null_batch",
        "a batch whose every value is null is processed (routing it elsewhere is fine)",
    ),
    (
        "engine_types",
        "every Arrow type the engine emits, at its edge values, is processed",
    ),
    (
        "panic_poisons",
        "once a call panicked across the ABI, every later call is refused with ErrorKind::Poisoned (runs only when a panic was seen)",
    ),
];

type Factory<'a, T> = Box<dyn FnMut() -> Result<Box<T>> + 'a>;
type Rows<'a> = Box<dyn FnMut(usize) -> RecordBatch + 'a>;

/// Options shared by both suites.
struct Common<'a> {
    landed: Option<Box<dyn FnMut() -> u64 + 'a>>,
    rows: Option<Rows<'a>>,
    large_rows: usize,
    skip: Vec<(String, String)>,
}

impl Default for Common<'_> {
    fn default() -> Self {
        Common {
            landed: None,
            rows: None,
            large_rows: 100_000,
            skip: Vec::new(),
        }
    }
}

/// The sink contract suite. Build it with [`SinkContract::new`], add what you can (a
/// probe of the destination, a factory of a failing instance), then [`SinkContract::run`].
pub struct SinkContract<'a> {
    name: String,
    make: Factory<'a, dyn Sink>,
    failing: Option<Factory<'a, dyn Sink>>,
    common: Common<'a>,
}

impl<'a> SinkContract<'a> {
    /// A suite over the sinks `make` creates: every call must give a fresh instance with
    /// the same configuration (the same destination).
    pub fn new(make: impl FnMut() -> Result<Box<dyn Sink>> + 'a) -> Self {
        SinkContract {
            name: "sink".into(),
            make: Box::new(make),
            failing: None,
            common: Common::default(),
        }
    }

    /// Names the subject in the report (`parquet (.so)`).
    pub fn named(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// A probe of the destination: the number of records it holds now (each record counted
    /// once however often it was delivered: distinct idempotency keys, rows in the files
    /// that exist). With it, the checks compare what landed with what was acknowledged,
    /// and `window_replayed` runs.
    pub fn landed_rows(mut self, probe: impl FnMut() -> u64 + 'a) -> Self {
        self.common.landed = Some(Box::new(probe));
        self
    }

    /// A factory of instances of the same sink whose `write` or `flush` is bound to fail
    /// (an unreachable endpoint, a read-only directory). With it, `close_after_failure` runs.
    pub fn failing(mut self, make: impl FnMut() -> Result<Box<dyn Sink>> + 'a) -> Self {
        self.failing = Some(Box::new(make));
        self
    }

    /// The data: `rows(n)` makes `n` rows the sink accepts (default:
    /// [`batches::interactions`], CXone-shaped records with every type the engine emits).
    /// Every field must be nullable (for `all_null_batch`).
    pub fn rows(mut self, rows: impl FnMut(usize) -> RecordBatch + 'a) -> Self {
        self.common.rows = Some(Box::new(rows));
        self
    }

    /// Rows in the `large_batch` check (default 100,000).
    pub fn large_rows(mut self, n: usize) -> Self {
        self.common.large_rows = n;
        self
    }

    /// Skips a check, with the reason shown in the report.
    pub fn skip(mut self, check: &str, reason: impl Into<String>) -> Self {
        self.common.skip.push((check.to_string(), reason.into()));
        self
    }

    /// Runs every check and reports each outcome. Never panics, whatever the sink does.
    pub fn run(self) -> Report {
        checks::run_sink(self.name, self.make, self.failing, self.common)
    }
}

/// The transform contract suite; see [`SinkContract`].
pub struct TransformContract<'a> {
    name: String,
    make: Factory<'a, dyn Transform>,
    failing: Option<Factory<'a, dyn Transform>>,
    conserves_rows: bool,
    acks_main_output_rows: bool,
    common: Common<'a>,
}

impl<'a> TransformContract<'a> {
    /// A suite over the transforms `make` creates (a fresh instance on every call).
    pub fn new(make: impl FnMut() -> Result<Box<dyn Transform>> + 'a) -> Self {
        TransformContract {
            name: "transform".into(),
            make: Box::new(make),
            failing: None,
            conserves_rows: false,
            acks_main_output_rows: false,
            common: Common::default(),
        }
    }

    /// Names the subject in the report.
    pub fn named(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Declares that every input row comes out on exactly one output (a router such as
    /// `validate` with `on_invalid: route`); `ack_counts` then checks it.
    pub fn conserves_rows(mut self) -> Self {
        self.conserves_rows = true;
        self
    }

    /// Declares that `flush` acknowledges (`Ack.records`) the rows emitted on the main
    /// output in the window; `ack_counts` then checks it.
    pub fn acks_main_output_rows(mut self) -> Self {
        self.acks_main_output_rows = true;
        self
    }

    /// A factory of instances bound to fail in `process` or `flush`.
    pub fn failing(mut self, make: impl FnMut() -> Result<Box<dyn Transform>> + 'a) -> Self {
        self.failing = Some(Box::new(make));
        self
    }

    /// The data; see [`SinkContract::rows`].
    pub fn rows(mut self, rows: impl FnMut(usize) -> RecordBatch + 'a) -> Self {
        self.common.rows = Some(Box::new(rows));
        self
    }

    /// Rows in the `large_batch` check (default 100,000).
    pub fn large_rows(mut self, n: usize) -> Self {
        self.common.large_rows = n;
        self
    }

    /// Skips a check, with the reason shown in the report.
    pub fn skip(mut self, check: &str, reason: impl Into<String>) -> Self {
        self.common.skip.push((check.to_string(), reason.into()));
        self
    }

    /// Runs every check and reports each outcome. Never panics, whatever the transform does.
    pub fn run(self) -> Report {
        checks::run_transform(
            self.name,
            self.make,
            self.failing,
            checks::TransformRules {
                conserves_rows: self.conserves_rows,
                acks_main_output_rows: self.acks_main_output_rows,
            },
            self.common,
        )
    }
}

/// Runs the sink contract with the defaults and panics, naming every failed check, if any
/// failed. For a `#[test]`; use [`SinkContract`] for the options.
pub fn sink_contract(make: impl FnMut() -> Result<Box<dyn Sink>>) {
    SinkContract::new(make).run().assert_ok();
}

/// Runs the transform contract with the defaults and panics, naming every failed check,
/// if any failed.
pub fn transform_contract(make: impl FnMut() -> Result<Box<dyn Transform>>) {
    TransformContract::new(make).run().assert_ok();
}
