//! The suites catch what they claim to: each deliberately broken plugin fails the check
//! named for its fault, and a well-behaved one passes everything that can run.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use arrow_array::RecordBatch;

use super::{SinkContract, Status, TransformContract};
use crate::{Ack, Checkpoint, ErrorKind, Outputs, PluginError, Result, Sink, Transform};

/// What can go wrong in [`Model`], one fault at a time.
#[derive(Clone, Copy, Default, PartialEq)]
enum Fault {
    #[default]
    None,
    /// Acknowledges one record more than it was given.
    AckOneMore,
    /// Panics when given a batch without rows.
    PanicOnEmpty,
    /// Never resets its count, so a second flush acknowledges the window again.
    NoReset,
    /// Appends a window's rows instead of replacing them (a resumed run duplicates).
    Appends,
    /// Panics on a batch whose schema differs from the first one.
    PanicOnSchemaChange,
    /// Refuses a changed schema with a typed error (allowed).
    RefuseSchemaChange,
    /// Refuses a batch of nulls.
    RefuseNulls,
    /// Acknowledges everything again at close.
    CloseReacks,
    /// Fails every write (for the failing factory) and panics in close.
    FailThenPanicInClose,
    /// Fails every write and closes cleanly.
    FailThenClose,
    /// Drops rows over 50,000 in a batch.
    Truncates,
}

/// A sink keeping its windows in a shared map (window id → rows), as a destination would.
struct Model {
    fault: Fault,
    pending: u64,
    schema: Option<arrow_schema::SchemaRef>,
    landed: Arc<Mutex<BTreeMap<String, u64>>>,
}

impl Sink for Model {
    fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        match self.fault {
            Fault::PanicOnEmpty if batch.num_rows() == 0 => panic!("no rows!"),
            Fault::FailThenPanicInClose | Fault::FailThenClose => {
                return Err(PluginError::runtime("the destination is gone"));
            }
            Fault::RefuseNulls
                if batch.num_rows() > 0 && batch.column(0).null_count() == batch.num_rows() =>
            {
                return Err(PluginError::invalid_data("nulls"));
            }
            _ => {}
        }
        match &self.schema {
            Some(s) if s != batch.schema_ref() => match self.fault {
                Fault::PanicOnSchemaChange => panic!("schema changed"),
                Fault::RefuseSchemaChange => {
                    return Err(PluginError::invalid_data("the schema changed"));
                }
                _ => {}
            },
            Some(_) => {}
            None => self.schema = Some(batch.schema()),
        }
        let mut n = batch.num_rows() as u64;
        if self.fault == Fault::Truncates {
            n = n.min(50_000);
        }
        self.pending += n;
        Ok(())
    }

    fn flush(&mut self, cp: &Checkpoint) -> Result<Ack> {
        let rows = if self.fault == Fault::NoReset {
            self.pending
        } else {
            std::mem::take(&mut self.pending)
        };
        let mut landed = self.landed.lock().unwrap();
        let slot = landed.entry(cp.window_id.clone()).or_default();
        if self.fault == Fault::Appends {
            *slot += rows;
        } else {
            *slot = rows;
        }
        let extra = u64::from(self.fault == Fault::AckOneMore);
        Ok(Ack {
            records: rows + extra,
            ..Ack::default()
        })
    }

    fn close(&mut self) -> Result<Ack> {
        match self.fault {
            Fault::FailThenPanicInClose => panic!("close after a failure"),
            Fault::CloseReacks => Ok(Ack {
                records: 1,
                ..Ack::default()
            }),
            _ => Ok(Ack::default()),
        }
    }
}

fn suite(fault: Fault) -> super::Report {
    let landed = Arc::new(Mutex::new(BTreeMap::new()));
    let probe = Arc::clone(&landed);
    let make = move || -> Result<Box<dyn Sink>> {
        Ok(Box::new(Model {
            fault,
            pending: 0,
            schema: None,
            landed: Arc::clone(&landed),
        }))
    };
    let failing_landed = Arc::new(Mutex::new(BTreeMap::new()));
    let failing_fault = if fault == Fault::FailThenPanicInClose {
        fault
    } else {
        Fault::FailThenClose
    };
    SinkContract::new(make)
        .named(format!("model sink with fault #{}", fault as u8))
        .landed_rows(move || probe.lock().unwrap().values().sum())
        .failing(move || {
            Ok(Box::new(Model {
                fault: failing_fault,
                pending: 0,
                schema: None,
                landed: Arc::clone(&failing_landed),
            }))
        })
        .run()
}

fn failed(fault: Fault) -> Vec<&'static str> {
    let report = suite(fault);
    eprintln!("{report}");
    report.failed_checks()
}

#[test]
fn a_well_behaved_sink_passes_every_check_that_runs() {
    let report = suite(Fault::None);
    assert!(report.is_ok(), "{report}");
    let passed = report.passed_checks();
    for (check, _) in super::SINK_CHECKS {
        if *check != "panic_poisons" {
            assert!(passed.contains(check), "{check} did not pass:\n{report}");
        }
    }
    assert!(matches!(
        report.status("panic_poisons"),
        Some(Status::Skipped(_))
    ));
}

#[test]
fn a_wrong_ack_count_fails_ack_counts() {
    let failed = failed(Fault::AckOneMore);
    assert!(failed.contains(&"ack_counts"), "{failed:?}");
}

#[test]
fn a_panic_on_an_empty_batch_fails_empty_batch_and_is_caught() {
    let report = suite(Fault::PanicOnEmpty);
    assert_eq!(report.failed_checks(), ["empty_batch"], "{report}");
    let Some(Status::Failed(why)) = report.status("empty_batch") else {
        panic!("{report}")
    };
    assert!(why.contains("write panicked: no rows!"), "{why}");
    // In-process there is no ABI boundary to poison the instance: said, not claimed.
    assert!(matches!(
        report.status("panic_poisons"),
        Some(Status::Skipped(why)) if why.contains("in-process")
    ));
}

#[test]
fn acknowledging_a_window_again_fails_window_flushed_twice() {
    let failed = failed(Fault::NoReset);
    assert!(failed.contains(&"window_flushed_twice"), "{failed:?}");
}

#[test]
fn appending_a_replayed_window_fails_window_replayed() {
    assert_eq!(failed(Fault::Appends), ["window_replayed"]);
}

#[test]
fn a_panic_on_a_schema_change_fails_both_schema_checks() {
    assert_eq!(
        failed(Fault::PanicOnSchemaChange),
        [
            "schema_change_between_windows",
            "schema_change_within_window"
        ]
    );
}

#[test]
fn refusing_a_schema_change_with_a_typed_error_passes() {
    let report = suite(Fault::RefuseSchemaChange);
    assert!(report.is_ok(), "{report}");
    let Some(Status::Passed(Some(note))) = report.status("schema_change_within_window") else {
        panic!("{report}")
    };
    assert!(note.contains("InvalidData"), "{note}");
}

#[test]
fn refusing_nulls_fails_all_null_batch() {
    assert_eq!(failed(Fault::RefuseNulls), ["all_null_batch"]);
}

#[test]
fn acknowledging_again_at_close_fails() {
    let failed = failed(Fault::CloseReacks);
    assert!(failed.contains(&"ack_counts"), "{failed:?}");
    assert!(failed.contains(&"empty_batch"), "{failed:?}");
}

#[test]
fn a_panic_in_close_after_a_failure_fails_close_after_failure() {
    let report = suite(Fault::FailThenPanicInClose);
    assert!(
        report.failed_checks().contains(&"close_after_failure"),
        "{report}"
    );
}

#[test]
fn losing_rows_of_a_large_batch_fails_large_batch() {
    assert_eq!(failed(Fault::Truncates), ["large_batch"]);
}

#[test]
fn a_failing_factory_that_does_not_fail_is_reported() {
    let report = SinkContract::new(|| Ok(Box::new(counter())))
        .failing(|| Ok(Box::new(counter())))
        .run();
    let Some(Status::Failed(why)) = report.status("close_after_failure") else {
        panic!("{report}")
    };
    assert!(why.contains("did not fail"), "{why}");
}

#[test]
fn checks_needing_options_are_skipped_not_passed() {
    let report = SinkContract::new(|| Ok(Box::new(counter()))).run();
    assert!(report.is_ok(), "{report}");
    for check in ["window_replayed", "close_after_failure", "panic_poisons"] {
        assert!(
            matches!(report.status(check), Some(Status::Skipped(_))),
            "{check}:\n{report}"
        );
    }
    let report = SinkContract::new(|| Ok(Box::new(counter())))
        .skip("large_batch", "slow here")
        .run();
    assert!(matches!(
        report.status("large_batch"),
        Some(Status::Skipped(why)) if why.contains("slow here")
    ));
}

#[test]
#[should_panic(expected = "FAILED  ack_counts: the flush of window")]
fn sink_contract_panics_naming_the_failed_check() {
    super::sink_contract(|| {
        Ok(Box::new(Model {
            fault: Fault::AckOneMore,
            pending: 0,
            schema: None,
            landed: Arc::default(),
        }))
    });
}

fn counter() -> Model {
    Model {
        fault: Fault::None,
        pending: 0,
        schema: None,
        landed: Arc::default(),
    }
}

#[test]
fn a_create_that_fails_fails_every_check_that_needs_an_instance() {
    let report = SinkContract::new(|| Err(PluginError::config("no"))).run();
    assert!(report.failed_checks().contains(&"empty_batch"), "{report}");
}

/// A transform passing each batch on: all of it to the main output (the rest, if any, to
/// `invalid`), or, when `drop_half`, only its first half, losing the rest.
struct Pass {
    drop_half: bool,
    main: u64,
}

impl Transform for Pass {
    fn process(&mut self, batch: &RecordBatch, out: &mut Outputs) -> Result<()> {
        let keep = if self.drop_half {
            batch.num_rows() / 2
        } else {
            batch.num_rows()
        };
        let (main, rest) = (
            batch.slice(0, keep),
            batch.slice(keep, batch.num_rows() - keep),
        );
        self.main += main.num_rows() as u64;
        out.emit(main);
        if !self.drop_half && rest.num_rows() > 0 {
            out.emit_to("invalid", rest);
        }
        Ok(())
    }
    fn flush(&mut self, _: &Checkpoint, _: &mut Outputs) -> Result<Ack> {
        Ok(Ack {
            records: std::mem::take(&mut self.main),
            ..Ack::default()
        })
    }
}

#[test]
fn a_transform_losing_rows_fails_ack_counts_when_it_declares_conservation() {
    let report = TransformContract::new(|| {
        Ok(Box::new(Pass {
            drop_half: true,
            main: 0,
        }))
    })
    .conserves_rows()
    .run();
    assert!(report.failed_checks().contains(&"ack_counts"), "{report}");

    let report = TransformContract::new(|| {
        Ok(Box::new(Pass {
            drop_half: false,
            main: 0,
        }))
    })
    .conserves_rows()
    .acks_main_output_rows()
    .run();
    assert!(report.is_ok(), "{report}");
    assert!(report.passed_checks().contains(&"ack_counts"), "{report}");
}

#[test]
fn a_transform_without_declared_counts_skips_ack_counts() {
    let report = TransformContract::new(|| {
        Ok(Box::new(Pass {
            drop_half: true,
            main: 0,
        }))
    })
    .run();
    assert!(report.is_ok(), "{report}");
    assert!(matches!(
        report.status("ack_counts"),
        Some(Status::Skipped(_))
    ));
}

#[test]
fn an_abi_kind_error_is_never_an_acceptable_answer() {
    struct Abi;
    impl Sink for Abi {
        fn write(&mut self, _: &RecordBatch) -> Result<()> {
            Err(PluginError::new(ErrorKind::Abi, "bad pointer"))
        }
        fn flush(&mut self, _: &Checkpoint) -> Result<Ack> {
            Ok(Ack::default())
        }
        fn close(&mut self) -> Result<Ack> {
            Ok(Ack::default())
        }
    }
    let report = SinkContract::new(|| Ok(Box::new(Abi))).run();
    assert!(
        report
            .failed_checks()
            .contains(&"schema_change_within_window"),
        "{report}"
    );
}
