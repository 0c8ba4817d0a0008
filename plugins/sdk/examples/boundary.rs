//! The cost of the plugin boundary per batch.
//!
//! ```sh
//! cargo build --release -p tributary-example-echo -p tributary-example-faulty
//! cargo run --release -p tributary-plugin-sdk --features host --example boundary [BATCHES]
//! ```
//!
//! Pushes batches of the CXone interaction schema (10 columns, 5000 rows: 7 utf8 + 3 int64)
//! through the real `libtributary_example_echo.so` via `ForeignTransform`, and through an
//! identical `Transform` called in-process, and prints ns/batch for both, the difference,
//! and the difference as a share of the end-to-end time of one batch (5000 records at the
//! reference throughput of 600,000 records/s, i.e. 8.33 ms). The same for one sink
//! `write` through `libtributary_example_faulty.so` (a healthy `faulty` counts rows).
//!
//! Each crossing exports the batch through the C Data Interface (zero-copy) and imports
//! it on the other side. What the engine lends a plugin is checked for layout only (arrow-rs
//! made it); what a plugin hands back is validated in full (`ArrayData::validate_full`,
//! which includes checking that every string is UTF-8), so a plugin cannot hand the engine
//! an array that would make it read out of bounds, except for columns that are, buffer for
//! buffer, ones it was lent (a pass-through): those are the engine's own valid bytes.
//! Echo crosses three times per batch (the input, the main output, the `copy` output); it
//! is measured twice: passing the batch through, and with `fresh_buffers: true`, emitting
//! copies in new buffers (in-process twin: the same copies), the worst case, where both
//! returned batches get the full check. The sink write crosses once.

#[cfg(not(feature = "host"))]
fn main() -> std::process::ExitCode {
    eprintln!(
        "the boundary benchmark needs the host feature: \
         cargo run --release -p tributary-plugin-sdk --features host --example boundary"
    );
    std::process::ExitCode::from(2)
}

#[cfg(feature = "host")]
fn main() -> std::process::ExitCode {
    match bench::run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

#[cfg(feature = "host")]
mod bench {
    use std::hint::black_box;
    use std::path::PathBuf;
    use std::sync::Arc;
    use std::time::Instant;

    use tributary_plugin_sdk::abi::host::PluginLibrary;
    use tributary_plugin_sdk::arrow_array::{
        Array, ArrayRef, Int64Array, RecordBatch, StringArray, StructArray,
    };
    use tributary_plugin_sdk::{
        Ack, Checkpoint, CreateContext, ErrorKind, Outputs, PluginError, Result, Sink, Transform,
        deep_copy, serde_json,
    };

    const ROWS: usize = 5000;
    const RECORDS_PER_SECOND: f64 = 600_000.0;
    const ROUNDS: usize = 7;

    /// The in-process twin of `plugins/examples/echo` (the same `deep_copy`, from the SDK).
    struct Echo {
        fresh_buffers: bool,
    }
    impl Transform for Echo {
        fn process(&mut self, batch: &RecordBatch, out: &mut Outputs) -> Result<()> {
            if self.fresh_buffers {
                out.emit(deep_copy(batch)?);
                out.emit_to("copy", deep_copy(batch)?);
            } else {
                out.emit(batch.clone());
                out.emit_to("copy", batch.clone());
            }
            Ok(())
        }
    }

    /// The in-process twin of a healthy `plugins/examples/faulty`.
    struct Count {
        rows: u64,
    }
    impl Sink for Count {
        fn write(&mut self, batch: &RecordBatch) -> Result<()> {
            self.rows += batch.num_rows() as u64;
            Ok(())
        }
        fn flush(&mut self, _cp: &Checkpoint) -> Result<Ack> {
            Ok(Ack {
                records: std::mem::take(&mut self.rows),
                ..Ack::default()
            })
        }
        fn close(&mut self) -> Result<Ack> {
            Ok(Ack::default())
        }
    }

    /// One batch shaped like the CXone interactions export: 7 utf8 + 3 int64 columns.
    fn cxone_batch(seed: usize) -> std::result::Result<RecordBatch, String> {
        let s = |f: &dyn Fn(usize) -> String| {
            Arc::new(
                (0..ROWS)
                    .map(|i| Some(f(seed * ROWS + i)))
                    .collect::<StringArray>(),
            ) as ArrayRef
        };
        let n = |f: &dyn Fn(usize) -> i64| {
            Arc::new(
                (0..ROWS)
                    .map(|i| f(seed * ROWS + i))
                    .collect::<Int64Array>(),
            ) as ArrayRef
        };
        let ts = |i: usize| {
            format!(
                "2023-{:02}-{:02}T{:02}:{:02}:{:02}.000Z",
                i % 12 + 1,
                i % 28 + 1,
                i % 24,
                i % 60,
                (i * 7) % 60
            )
        };
        RecordBatch::try_from_iter([
            ("contactId", s(&|i| format!("{:012}", 500_000_000_000 + i))),
            (
                "direction",
                s(&|i| ["inbound", "outbound"][i % 2].to_string()),
            ),
            (
                "mediaType",
                s(&|i| ["voice", "chat", "email", "sms"][i % 4].to_string()),
            ),
            ("startTime", s(&ts)),
            ("endTime", s(&|i| ts(i + 3))),
            ("agentId", s(&|i| format!("agent-{:06}", i % 2000))),
            (
                "skillName",
                s(&|i| format!("Skill {} - Tier {}", i % 40, i % 3)),
            ),
            ("durationSeconds", n(&|i| (i % 3600) as i64)),
            ("holdSeconds", n(&|i| (i % 120) as i64)),
            ("campaignId", n(&|i| (i % 500) as i64 + 10_000)),
        ])
        .map_err(|e| e.to_string())
    }

    /// `lib<name>.so` next to this example (`target/<profile>/` or its `deps/`), newest first.
    fn so_path(name: &str) -> std::result::Result<PathBuf, String> {
        let file = format!("lib{name}.so");
        let exe = std::env::current_exe().map_err(|e| e.to_string())?;
        let profile = exe
            .parent()
            .and_then(|examples| examples.parent())
            .ok_or("cannot find the target directory from the executable's path")?;
        [profile.join(&file), profile.join("deps").join(&file)]
            .into_iter()
            .filter_map(|p| Some((std::fs::metadata(&p).ok()?.modified().ok()?, p)))
            .max_by_key(|(m, _)| *m)
            .map(|(_, p)| p)
            .ok_or_else(|| {
                format!(
                    "{file} not found in {}: build it first with \
                     cargo build --release -p {}",
                    profile.display(),
                    name.replace('_', "-")
                )
            })
    }

    /// Median ns per batch over `ROUNDS` rounds of `f` applied to every batch.
    fn time(
        batches: &[RecordBatch],
        mut f: impl FnMut(&RecordBatch) -> Result<()>,
    ) -> std::result::Result<f64, String> {
        for b in batches.iter().take(8) {
            f(b).map_err(|e| e.to_string())?; // warm-up
        }
        let mut rounds = Vec::with_capacity(ROUNDS);
        for _ in 0..ROUNDS {
            let start = Instant::now();
            for b in batches {
                f(b).map_err(|e| e.to_string())?;
            }
            rounds.push(start.elapsed().as_nanos() as f64 / batches.len() as f64);
        }
        rounds.sort_by(f64::total_cmp);
        Ok(rounds[ROUNDS / 2])
    }

    fn report(what: &str, foreign: f64, local: f64) {
        let end_to_end = ROWS as f64 / RECORDS_PER_SECOND * 1e9;
        let diff = foreign - local;
        println!("{what}");
        println!("  in-process  : {local:>12.0} ns/batch");
        println!("  through .so : {foreign:>12.0} ns/batch");
        println!("  difference  : {diff:>12.0} ns/batch");
        println!(
            "  share       : {diff:.0} ns / ({ROWS} records / {RECORDS_PER_SECOND:.0} records/s = {end_to_end:.0} ns) = {:.3} % of end-to-end batch time",
            diff / end_to_end * 100.0
        );
    }

    pub(crate) fn run() -> std::result::Result<(), String> {
        let count: usize = match std::env::args().nth(1) {
            Some(a) => a.parse().map_err(|e| format!("BATCHES {a:?}: {e}"))?,
            None => 200,
        };
        // A few distinct batches, reused: the boundary cost does not depend on the values.
        let distinct = (0..8)
            .map(cxone_batch)
            .collect::<std::result::Result<Vec<_>, _>>()?;
        let batches: Vec<RecordBatch> = distinct.iter().cycle().take(count).cloned().collect();
        let bytes: usize = distinct[0].get_array_memory_size();
        println!(
            "{count} batches x {ROWS} rows, 10 columns (7 utf8 + 3 int64), ~{} KiB per batch; median of {ROUNDS} rounds",
            bytes / 1024
        );

        let echo_so = so_path("tributary_example_echo")?;
        let lib = PluginLibrary::load(&echo_so, None).map_err(|e| e.to_string())?;
        for fresh_buffers in [false, true] {
            let mut foreign = lib
                .create_transform(
                    &serde_json::json!({ "fresh_buffers": fresh_buffers }),
                    &CreateContext::default(),
                )
                .map_err(|e| e.to_string())?;
            let mut local = Echo { fresh_buffers };
            let mut out = Outputs::new();
            let t_local = time(&batches, |b| {
                local.process(b, &mut out)?;
                black_box(out.take());
                Ok(())
            })?;
            let t_foreign = time(&batches, |b| {
                foreign.process(b, &mut out)?;
                black_box(out.take());
                Ok(())
            })?;
            let mode = if fresh_buffers {
                "fresh_buffers: both returned batches are new data, checked in full"
            } else {
                "pass-through: the returned columns are the lent ones"
            };
            report(
                &format!(
                    "transform `echo`, {mode} ({}; 3 crossings per batch)",
                    echo_so.display()
                ),
                t_foreign,
                t_local,
            );
        }

        // What one import spends on full validation, measured alone (no FFI involved).
        let t_validate = time(&batches, |b| {
            let data = StructArray::from(b.clone()).into_data();
            data.validate_full()
                .map_err(|e| PluginError::new(ErrorKind::Abi, e.to_string()))
        })?;
        println!(
            "ArrayData::validate_full (offsets + UTF-8) of one such batch, alone: {t_validate:.0} ns"
        );

        let faulty_so = so_path("tributary_example_faulty")?;
        let lib = PluginLibrary::load(&faulty_so, None).map_err(|e| e.to_string())?;
        let mut foreign = lib
            .create_sink(&serde_json::json!({}), &CreateContext::default())
            .map_err(|e| e.to_string())?;
        let mut local = Count { rows: 0 };
        let t_local = time(&batches, |b| local.write(b))?;
        let t_foreign = time(&batches, |b| foreign.write(b))?;
        report(
            &format!(
                "sink `faulty` write ({}; 1 crossing per batch)",
                faulty_so.display()
            ),
            t_foreign,
            t_local,
        );
        black_box(
            local
                .flush(&Checkpoint::default())
                .map_err(|e| e.to_string())?,
        );
        Ok(())
    }
}
