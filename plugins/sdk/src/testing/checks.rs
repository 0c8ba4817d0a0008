//! The checks themselves, shared by the sink and the transform suites through [`Subject`].

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_schema::{Field, Schema};

use super::report::{Outcome, Report, Status};
use super::{Common, Factory, SINK_CHECKS, TRANSFORM_CHECKS, batches};
use crate::error::{ErrorKind, PluginError, Result};
use crate::plugin::{Ack, Checkpoint, MAIN_OUTPUT, Outputs, Sink, Transform};

/// What a transform declares about its row accounting.
pub(super) struct TransformRules {
    pub(super) conserves_rows: bool,
    pub(super) acks_main_output_rows: bool,
}

type Emitted = Vec<(String, RecordBatch)>;
type MakeSubject<'a> = Box<dyn FnMut() -> Result<Box<dyn Subject>> + 'a>;

/// A sink or a transform, seen through one interface: `feed` is `write` or `process`.
trait Subject {
    fn feed(&mut self, batch: &RecordBatch) -> Result<Emitted>;
    fn end(&mut self, cp: &Checkpoint) -> Result<(Ack, Emitted)>;
    fn close(&mut self) -> Result<(Ack, Emitted)>;
}

struct SinkSubject(Box<dyn Sink>);

impl Subject for SinkSubject {
    fn feed(&mut self, batch: &RecordBatch) -> Result<Emitted> {
        self.0.write(batch).map(|()| Vec::new())
    }
    fn end(&mut self, cp: &Checkpoint) -> Result<(Ack, Emitted)> {
        self.0.flush(cp).map(|a| (a, Vec::new()))
    }
    fn close(&mut self) -> Result<(Ack, Emitted)> {
        self.0.close().map(|a| (a, Vec::new()))
    }
}

struct TransformSubject(Box<dyn Transform>);

impl Subject for TransformSubject {
    fn feed(&mut self, batch: &RecordBatch) -> Result<Emitted> {
        let mut out = Outputs::new();
        self.0.process(batch, &mut out)?;
        Ok(out.take())
    }
    fn end(&mut self, cp: &Checkpoint) -> Result<(Ack, Emitted)> {
        let mut out = Outputs::new();
        let ack = self.0.flush(cp, &mut out)?;
        Ok((ack, out.take()))
    }
    fn close(&mut self) -> Result<(Ack, Emitted)> {
        let mut out = Outputs::new();
        let ack = self.0.close(&mut out)?;
        Ok((ack, out.take()))
    }
}

enum Rules {
    Sink,
    Transform(TransformRules),
}

/// A check's failure: what happened.
type Fail = String;
/// A check's success, with a note when the plugin chose among allowed behaviours.
type Checked = std::result::Result<Option<String>, Fail>;

/// One instance under test; `None` once it panicked in-process (it is then leaked, as the
/// host leaks a poisoned instance, and never called again).
struct Inst(Option<Box<dyn Subject>>);

struct Suite<'a> {
    rules: Rules,
    make: MakeSubject<'a>,
    failing: Option<MakeSubject<'a>>,
    common: Common<'a>,
    /// Windows handed out so far (each check uses its own).
    windows: u32,
    /// Panics seen across the ABI (reported as `ErrorKind::Panic`).
    abi_panics: usize,
    /// Panics caught in-process (no ABI boundary in between).
    local_panics: usize,
    /// Later calls on a panicked instance that were not refused as poisoned.
    poison_failures: Vec<String>,
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic with a non-string payload".to_string()
    }
}

fn rows_of(batches: &[(String, RecordBatch)]) -> u64 {
    batches.iter().map(|(_, b)| b.num_rows() as u64).sum()
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian (H. Hinnant's algorithm).
fn civil(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

impl<'a> Suite<'a> {
    fn verb(&self) -> &'static str {
        match self.rules {
            Rules::Sink => "write",
            Rules::Transform(_) => "process",
        }
    }

    /// A checkpoint for a window no other check uses: one day, from 2023-01-01 on.
    fn window(&mut self) -> Checkpoint {
        const FIRST: i64 = 19_358; // 2023-01-01
        let day = FIRST + i64::from(self.windows);
        self.windows += 1;
        let (y0, m0, d0) = civil(day);
        let (y1, m1, d1) = civil(day + 1);
        Checkpoint {
            run_id: "contract".into(),
            window_id: format!("{y0:04}{m0:02}{d0:02}T000000Z-{y1:04}{m1:02}{d1:02}T000000Z"),
            window_start: format!("{y0:04}-{m0:02}-{d0:02}T00:00:00Z"),
            window_end: format!("{y1:04}-{m1:02}-{d1:02}T00:00:00Z"),
        }
    }

    fn rows(&mut self, n: usize) -> std::result::Result<RecordBatch, Fail> {
        let made = match self.common.rows.as_mut() {
            Some(f) => catch_unwind(AssertUnwindSafe(|| f(n))).map_err(|p| {
                format!(
                    "the suite's rows({n}) panicked: {}",
                    panic_message(p.as_ref())
                )
            })?,
            None => batches::interactions(n).map_err(|e| format!("cannot build rows: {e}"))?,
        };
        if made.num_rows() != n {
            return Err(format!(
                "the suite's rows({n}) made {} rows",
                made.num_rows()
            ));
        }
        Ok(made)
    }

    fn landed(&mut self) -> Option<u64> {
        self.common.landed.as_mut().map(|probe| probe())
    }

    fn fresh(&mut self) -> std::result::Result<Inst, Fail> {
        Self::create(&mut self.make, "create")
    }

    fn create(make: &mut MakeSubject<'a>, what: &str) -> std::result::Result<Inst, Fail> {
        match catch_unwind(AssertUnwindSafe(make)) {
            Ok(Ok(s)) => Ok(Inst(Some(s))),
            Ok(Err(e)) => Err(format!("{what} failed: {e}")),
            Err(p) => Err(format!("{what} panicked: {}", panic_message(p.as_ref()))),
        }
    }

    /// One call: a panic, a poisoned instance or an ABI violation fails the check; any other
    /// error is the plugin's typed answer, for the check to judge.
    fn call<T>(
        &mut self,
        inst: &mut Inst,
        what: &str,
        f: impl FnOnce(&mut dyn Subject) -> Result<T>,
    ) -> std::result::Result<Result<T>, Fail> {
        let Some(s) = inst.0.as_mut() else {
            return Err(format!("{what}: not called, the instance panicked earlier"));
        };
        match catch_unwind(AssertUnwindSafe(|| f(s.as_mut()))) {
            Err(payload) => {
                self.local_panics += 1;
                // Leaked, never dropped: its state is whatever the panic left.
                std::mem::forget(inst.0.take());
                Err(format!(
                    "{what} panicked: {}",
                    panic_message(payload.as_ref())
                ))
            }
            Ok(Err(e)) if e.kind == ErrorKind::Panic => {
                self.abi_panics += 1;
                self.verify_poisoned(inst, what);
                Err(format!(
                    "{what} panicked (caught at the ABI boundary): {}",
                    e.message
                ))
            }
            Ok(Err(e)) if matches!(e.kind, ErrorKind::Poisoned | ErrorKind::Abi) => {
                Err(format!("{what} failed: {e}"))
            }
            Ok(r) => Ok(r),
        }
    }

    /// After a panic reported across the ABI: every later call must be refused as poisoned.
    fn verify_poisoned(&mut self, inst: &mut Inst, after: &str) {
        let Some(s) = inst.0.as_mut() else { return };
        let tiny = batches::interactions(1);
        let cp = Checkpoint {
            window_id: "poisoned".into(),
            ..Checkpoint::default()
        };
        let verb = self.verb();
        let mut probe = |name: &str, r: std::thread::Result<Result<()>>| match r {
            Ok(Err(e)) if e.kind == ErrorKind::Poisoned => {}
            Ok(Err(e)) => self.poison_failures.push(format!(
                "after a panic in {after}, {name} returned `{e}` instead of a poisoned error"
            )),
            Ok(Ok(())) => self.poison_failures.push(format!(
                "after a panic in {after}, {name} reached the plugin and succeeded"
            )),
            Err(p) => self.poison_failures.push(format!(
                "after a panic in {after}, {name} panicked: {}",
                panic_message(p.as_ref())
            )),
        };
        if let Ok(tiny) = tiny {
            let r = catch_unwind(AssertUnwindSafe(|| s.feed(&tiny).map(drop)));
            probe(verb, r);
        }
        let r = catch_unwind(AssertUnwindSafe(|| s.end(&cp).map(drop)));
        probe("flush", r);
        let r = catch_unwind(AssertUnwindSafe(|| s.close().map(drop)));
        probe("close", r);
    }

    fn must<T>(
        &mut self,
        inst: &mut Inst,
        what: &str,
        f: impl FnOnce(&mut dyn Subject) -> Result<T>,
    ) -> std::result::Result<T, Fail> {
        self.call(inst, what, f)?
            .map_err(|e| format!("{what} returned an error where it must succeed: {e}"))
    }

    /// Checks what a window's flush acknowledged and emitted against what went in.
    fn account(
        &self,
        rows_in: u64,
        ack: &Ack,
        emitted: &Emitted,
        cp: &Checkpoint,
    ) -> std::result::Result<(), Fail> {
        let w = &cp.window_id;
        match &self.rules {
            Rules::Sink => {
                if ack.records != rows_in {
                    return Err(format!(
                        "the flush of window {w} acknowledged {} records, but {rows_in} were written since the previous flush",
                        ack.records
                    ));
                }
            }
            Rules::Transform(r) => {
                let out = rows_of(emitted);
                if r.conserves_rows && out != rows_in {
                    return Err(format!(
                        "window {w}: {rows_in} rows went in and {out} came out over all outputs; a row-conserving transform emits each row on exactly one output"
                    ));
                }
                let main: u64 = emitted
                    .iter()
                    .filter(|(o, _)| o == MAIN_OUTPUT)
                    .map(|(_, b)| b.num_rows() as u64)
                    .sum();
                if r.acks_main_output_rows && ack.records != main {
                    return Err(format!(
                        "the flush of window {w} acknowledged {} records, but {main} were emitted on the main output in the window",
                        ack.records
                    ));
                }
            }
        }
        Ok(())
    }

    /// Feeds `batches` as one window and flushes it; every call must succeed and the
    /// accounting (and the destination, when probed) must match.
    fn window_ok(
        &mut self,
        inst: &mut Inst,
        batches: &[RecordBatch],
        cp: &Checkpoint,
    ) -> std::result::Result<(Ack, Emitted), Fail> {
        let before = self.landed();
        let verb = self.verb();
        let mut emitted = Vec::new();
        for b in batches {
            emitted.extend(self.must(inst, verb, |s| s.feed(b))?);
        }
        let (ack, more) = self.must(inst, "flush", |s| s.end(cp))?;
        emitted.extend(more);
        let rows_in: u64 = batches.iter().map(|b| b.num_rows() as u64).sum();
        self.account(rows_in, &ack, &emitted, cp)?;
        if let Some(before) = before {
            let after = self.landed().unwrap_or(before);
            if after != before + rows_in {
                return Err(format!(
                    "after the flush of window {} acknowledged {rows_in} records, the destination holds {} more (from {before} to {after})",
                    cp.window_id,
                    after as i128 - before as i128
                ));
            }
        }
        Ok((ack, emitted))
    }

    /// Like [`Suite::window_ok`], except that a typed error is an allowed answer: then the
    /// instance is closed (which must not panic) and the refusal is the note.
    fn window_tolerant(
        &mut self,
        inst: &mut Inst,
        batches: &[RecordBatch],
        cp: &Checkpoint,
    ) -> Checked {
        let before = self.landed();
        let verb = self.verb();
        let mut emitted = Vec::new();
        for b in batches {
            match self.call(inst, verb, |s| s.feed(b))? {
                Ok(e) => emitted.extend(e),
                Err(e) => return self.refused(inst, verb, &e),
            }
        }
        let (ack, more) = match self.call(inst, "flush", |s| s.end(cp))? {
            Ok(r) => r,
            Err(e) => return self.refused(inst, "flush", &e),
        };
        emitted.extend(more);
        let rows_in: u64 = batches.iter().map(|b| b.num_rows() as u64).sum();
        self.account(rows_in, &ack, &emitted, cp)?;
        if let Some(before) = before {
            let after = self.landed().unwrap_or(before);
            if after != before + rows_in {
                return Err(format!(
                    "window {} was accepted and acknowledged with {rows_in} records, but the destination holds {} more",
                    cp.window_id,
                    after as i128 - before as i128
                ));
            }
        }
        self.close_clean(inst)?;
        Ok(Some("accepted".into()))
    }

    fn refused(&mut self, inst: &mut Inst, what: &str, e: &PluginError) -> Checked {
        let closed = match self.call(inst, "close", |s| s.close())? {
            Ok(_) => "closed cleanly".to_string(),
            Err(c) => format!("close then returned `{c}`"),
        };
        Ok(Some(format!(
            "refused in {what} with a typed error ({:?}: {}); {closed}",
            e.kind, e.message
        )))
    }

    /// `close` after every window was flushed: must succeed and, for a sink, acknowledge
    /// nothing more (the engine adds it to the records landed).
    fn close_clean(&mut self, inst: &mut Inst) -> std::result::Result<(), Fail> {
        let (ack, _) = self.must(inst, "close", |s| s.close())?;
        if matches!(self.rules, Rules::Sink) && ack.records != 0 {
            return Err(format!(
                "close acknowledged {} records, but every record written had been flushed and acknowledged already",
                ack.records
            ));
        }
        Ok(())
    }

    fn run_check(&mut self, check: &str) -> Checked {
        match check {
            "empty_batch" => self.empty_batch(),
            "empty_window" => self.empty_window(),
            "ack_counts" => self.ack_counts(),
            "schema_change_between_windows" => self.schema_change_between_windows(),
            "schema_change_within_window" => self.schema_change_within_window(),
            "window_flushed_twice" => self.window_flushed_twice(),
            "window_replayed" => self.window_replayed(),
            "close_after_failure" => self.close_after_failure(),
            "large_batch" => self.large_batch(),
            "all_null_batch" => self.all_null_batch(),
            "engine_types" => self.engine_types(),
            other => Err(format!("no such check `{other}`")),
        }
    }

    fn empty_batch(&mut self) -> Checked {
        let empty = self.rows(0)?;
        self.nothing_comes_out(&[empty], "an empty batch")
    }

    fn empty_window(&mut self) -> Checked {
        self.nothing_comes_out(&[], "an empty window")
    }

    /// One window of `batches` (no rows in them) on a fresh instance emits no row, and the
    /// instance closes cleanly.
    fn nothing_comes_out(&mut self, batches: &[RecordBatch], what: &str) -> Checked {
        let mut inst = self.fresh()?;
        let cp = self.window();
        let (_, emitted) = self.window_ok(&mut inst, batches, &cp)?;
        if rows_of(&emitted) != 0 {
            return Err(format!("{what} made {} rows come out", rows_of(&emitted)));
        }
        self.close_clean(&mut inst)?;
        Ok(None)
    }

    fn ack_counts(&mut self) -> Checked {
        if let Rules::Transform(r) = &self.rules
            && !r.conserves_rows
            && !r.acks_main_output_rows
        {
            return Ok(Some("skip:declare conserves_rows() or acks_main_output_rows() to check a transform's counts".into()));
        }
        let mut inst = self.fresh()?;
        let (cp1, cp2) = (self.window(), self.window());
        let first = [self.rows(1)?, self.rows(7)?, self.rows(100)?];
        self.window_ok(&mut inst, &first, &cp1)?;
        let second = [self.rows(5)?];
        self.window_ok(&mut inst, &second, &cp2)?;
        self.close_clean(&mut inst)?;
        Ok(None)
    }

    fn schema_change_between_windows(&mut self) -> Checked {
        let mut inst = self.fresh()?;
        let (cp1, cp2) = (self.window(), self.window());
        let b = self.rows(10)?;
        let changed = batches::changed_schema(&self.rows(10)?)
            .map_err(|e| format!("cannot change the schema of rows(10): {e}"))?;
        self.window_ok(&mut inst, &[b], &cp1)?;
        self.window_tolerant(&mut inst, &[changed], &cp2)
    }

    fn schema_change_within_window(&mut self) -> Checked {
        let mut inst = self.fresh()?;
        let cp = self.window();
        let b = self.rows(10)?;
        let changed = batches::changed_schema(&self.rows(10)?)
            .map_err(|e| format!("cannot change the schema of rows(10): {e}"))?;
        self.window_tolerant(&mut inst, &[b, changed], &cp)
    }

    fn window_flushed_twice(&mut self) -> Checked {
        let mut inst = self.fresh()?;
        let cp = self.window();
        let b = self.rows(20)?;
        self.window_ok(&mut inst, &[b], &cp)?;
        let before = self.landed();
        let (ack, emitted) = match self.call(&mut inst, "second flush", |s| s.end(&cp))? {
            Ok(r) => r,
            Err(e) => return self.refused(&mut inst, "the second flush", &e),
        };
        let counts_acks = match &self.rules {
            Rules::Sink => true,
            Rules::Transform(r) => r.acks_main_output_rows,
        };
        if counts_acks && ack.records != 0 {
            return Err(format!(
                "the second flush of window {} acknowledged {} records again; nothing was written since the first",
                cp.window_id, ack.records
            ));
        }
        if rows_of(&emitted) != 0 {
            return Err(format!(
                "the second flush of window {} emitted {} rows again",
                cp.window_id,
                rows_of(&emitted)
            ));
        }
        if let Some(before) = before {
            let after = self.landed().unwrap_or(before);
            if after > before {
                return Err(format!(
                    "the second flush of window {} added {} records to the destination",
                    cp.window_id,
                    after - before
                ));
            }
        }
        self.close_clean(&mut inst)?;
        Ok(None)
    }

    fn window_replayed(&mut self) -> Checked {
        if self.common.landed.is_none() {
            return Ok(Some(
                "skip:needs landed_rows(probe) to see whether the destination holds the replayed rows once".into(),
            ));
        }
        let cp = self.window();
        let b = self.rows(50)?;
        let before = self.landed().unwrap_or(0);
        let mut first = self.fresh()?;
        self.window_ok(&mut first, std::slice::from_ref(&b), &cp)?;
        self.close_clean(&mut first)?;
        drop(first);
        let mut again = self.fresh()?;
        let verb = self.verb();
        self.must(&mut again, verb, |s| s.feed(&b))?;
        let (ack, _) = self.must(&mut again, "flush", |s| s.end(&cp))?;
        self.account(b.num_rows() as u64, &ack, &Vec::new(), &cp)?;
        let after = self.landed().unwrap_or(before);
        if after != before + b.num_rows() as u64 {
            return Err(format!(
                "window {} landed twice with the same {} rows (a re-run or --resume) left {} rows in the destination instead of {}: a replayed window must replace its earlier copy, not add to it",
                cp.window_id,
                b.num_rows(),
                after as i128 - before as i128,
                b.num_rows()
            ));
        }
        self.close_clean(&mut again)?;
        Ok(None)
    }

    fn close_after_failure(&mut self) -> Checked {
        let Some(mut failing) = self.failing.take() else {
            return Ok(Some(
                "skip:needs failing(factory), an instance bound to fail".into(),
            ));
        };
        let made = Self::create(&mut failing, "the failing factory's create");
        self.failing = Some(failing);
        let mut inst = made.map_err(|e| {
            format!("{e} (give a factory whose instance fails later, in write or flush)")
        })?;
        let cp = self.window();
        let b = self.rows(10)?;
        let verb = self.verb();
        let error = match self.call(&mut inst, verb, |s| s.feed(&b))? {
            Err(e) => e,
            Ok(_) => match self.call(&mut inst, "flush", |s| s.end(&cp))? {
                Err(e) => e,
                Ok(_) => {
                    return Err(format!(
                        "the failing factory's instance did not fail: {verb} and flush both succeeded"
                    ));
                }
            },
        };
        let closed = match self.call(&mut inst, "close after the failure", |s| s.close())? {
            Ok(_) => "closed cleanly".to_string(),
            Err(c) => format!("close then returned `{c}`"),
        };
        Ok(Some(format!("failed with {:?}; {closed}", error.kind)))
    }

    fn large_batch(&mut self) -> Checked {
        let mut inst = self.fresh()?;
        let cp = self.window();
        let n = self.common.large_rows;
        let b = self.rows(n)?;
        self.window_ok(&mut inst, &[b], &cp)?;
        self.close_clean(&mut inst)?;
        Ok(Some(format!("{n} rows")))
    }

    fn all_null_batch(&mut self) -> Checked {
        let mut inst = self.fresh()?;
        let cp = self.window();
        let like = self.rows(1)?;
        let nullable = Arc::new(Schema::new(
            like.schema()
                .fields()
                .iter()
                .map(|f| Field::new(f.name(), f.data_type().clone(), true))
                .collect::<Vec<_>>(),
        ));
        let b = batches::all_null(&nullable, 10)
            .map_err(|e| format!("cannot build an all-null batch: {e}"))?;
        self.window_ok(&mut inst, &[b], &cp)?;
        self.close_clean(&mut inst)?;
        Ok(None)
    }

    fn engine_types(&mut self) -> Checked {
        let mut inst = self.fresh()?;
        let cp = self.window();
        let b = batches::edge_values()
            .map_err(|e| format!("cannot build the edge-value batch: {e}"))?;
        self.window_ok(&mut inst, &[b], &cp)?;
        self.close_clean(&mut inst)?;
        Ok(None)
    }

    fn panic_poisons(&self) -> Status {
        if !self.poison_failures.is_empty() {
            return Status::Failed(self.poison_failures.join("; "));
        }
        match (self.abi_panics, self.local_panics) {
            (0, 0) => Status::Skipped("no call panicked, so no instance needed poisoning".into()),
            (0, n) => Status::Skipped(format!(
                "{n} panic(s) caught in-process, where no ABI boundary poisons the instance (the suite stopped calling it); run the suite through the .so to check poisoning"
            )),
            (n, _) => Status::Passed(Some(format!(
                "after {n} panic(s) across the ABI, every later call was refused as poisoned"
            ))),
        }
    }

    fn run(mut self, subject: String, checks: &[(&'static str, &str)]) -> Report {
        let mut outcomes = Vec::new();
        for (check, _) in checks.iter().copied() {
            if check == "panic_poisons" {
                continue;
            }
            let skipped = self
                .common
                .skip
                .iter()
                .find(|(c, _)| c == check)
                .map(|(_, why)| why.clone());
            let status = match skipped {
                Some(why) => Status::Skipped(format!("skipped by the caller: {why}")),
                None => match self.run_check(check) {
                    Ok(Some(note)) => match note.strip_prefix("skip:") {
                        Some(why) => Status::Skipped(why.to_string()),
                        None => Status::Passed(Some(note)),
                    },
                    Ok(None) => Status::Passed(None),
                    Err(why) => Status::Failed(why),
                },
            };
            outcomes.push(Outcome { check, status });
        }
        outcomes.push(Outcome {
            check: "panic_poisons",
            status: self.panic_poisons(),
        });
        Report { subject, outcomes }
    }
}

pub(super) fn run_sink<'a>(
    name: String,
    mut make: Factory<'a, dyn Sink>,
    failing: Option<Factory<'a, dyn Sink>>,
    common: Common<'a>,
) -> Report {
    let wrap = |s: Box<dyn Sink>| Box::new(SinkSubject(s)) as Box<dyn Subject>;
    let failing = failing.map(|mut f| Box::new(move || f().map(wrap)) as MakeSubject<'a>);
    Suite {
        rules: Rules::Sink,
        make: Box::new(move || make().map(wrap)),
        failing,
        common,
        windows: 0,
        abi_panics: 0,
        local_panics: 0,
        poison_failures: Vec::new(),
    }
    .run(name, SINK_CHECKS)
}

pub(super) fn run_transform<'a>(
    name: String,
    mut make: Factory<'a, dyn Transform>,
    failing: Option<Factory<'a, dyn Transform>>,
    rules: TransformRules,
    common: Common<'a>,
) -> Report {
    let wrap = |t: Box<dyn Transform>| Box::new(TransformSubject(t)) as Box<dyn Subject>;
    let failing = failing.map(|mut f| Box::new(move || f().map(wrap)) as MakeSubject<'a>);
    Suite {
        rules: Rules::Transform(rules),
        make: Box::new(move || make().map(wrap)),
        failing,
        common,
        windows: 0,
        abi_panics: 0,
        local_panics: 0,
        poison_failures: Vec::new(),
    }
    .run(name, TRANSFORM_CHECKS)
}
