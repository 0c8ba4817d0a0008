//! `tributary tap FILE COMPONENT[.output]`: run the pipeline up to a component and print
//! the records that pass out of it, landing nothing. Its sinks are replaced by one printing
//! sink; state goes to a temporary directory and no audit entry is written, so a tap never
//! marks a window landed nor takes the pipeline's lease.

use std::io::Write;
use std::sync::Arc;

use arrow_cast::display::{ArrayFormatter, FormatOptions};
use tributary_engine::config::{ComponentKind, ComponentSpec, InputRef};
use tributary_engine::plugins::declared_outputs;
use tributary_engine::run::{NoProgress, RunOptions};
use tributary_engine::{EXIT_CONFIG, EXIT_OK, EXIT_RUNTIME};
use tributary_plugin_sdk::arrow_array::RecordBatch;
use tributary_plugin_sdk::{Ack, Checkpoint, Result as PluginResult, Sink};

/// How records are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TapFormat {
    /// One JSON object per line.
    Json,
    /// Aligned columns, a header per batch.
    Table,
}

/// The printing sink.
struct TapSink {
    format: TapFormat,
    limit: u64,
    printed: u64,
    stop: tokio::sync::watch::Sender<bool>,
}

fn table(batch: &RecordBatch) -> Result<String, tributary_plugin_sdk::arrow_schema::ArrowError> {
    let opts = FormatOptions::default().with_null("null");
    let formatters = batch
        .columns()
        .iter()
        .map(|c| ArrayFormatter::try_new(c.as_ref(), &opts))
        .collect::<Result<Vec<_>, _>>()?;
    let mut cells: Vec<Vec<String>> = vec![
        batch
            .schema_ref()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect(),
    ];
    for row in 0..batch.num_rows() {
        cells.push(
            formatters
                .iter()
                .map(|f| f.value(row).to_string())
                .collect(),
        );
    }
    let widths: Vec<usize> = (0..batch.num_columns())
        .map(|c| {
            cells
                .iter()
                .map(|r| r[c].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for r in &cells {
        let line: Vec<String> = r
            .iter()
            .zip(&widths)
            .map(|(v, w)| format!("{v:<w$}"))
            .collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    Ok(out)
}

impl TapSink {
    fn print(&mut self, batch: &RecordBatch) -> Result<(), String> {
        let left = usize::try_from(self.limit - self.printed).unwrap_or(usize::MAX);
        let batch = batch.slice(0, batch.num_rows().min(left));
        let mut stdout = std::io::stdout().lock();
        match self.format {
            TapFormat::Json => {
                // Nulls written out, so a missing field shows as `null` rather than vanishing.
                let mut w = arrow_json::WriterBuilder::new()
                    .with_explicit_nulls(true)
                    .build::<_, arrow_json::writer::LineDelimited>(&mut stdout);
                w.write(&batch).map_err(|e| e.to_string())?;
                w.finish().map_err(|e| e.to_string())?;
            }
            TapFormat::Table => {
                let text = table(&batch).map_err(|e| e.to_string())?;
                stdout
                    .write_all(text.as_bytes())
                    .map_err(|e| e.to_string())?;
            }
        }
        stdout.flush().map_err(|e| e.to_string())?;
        self.printed += batch.num_rows() as u64;
        if self.printed >= self.limit {
            // Enough: stop the run as Ctrl-C would (flush, close, exit).
            let _ = self.stop.send(true);
        }
        Ok(())
    }
}

impl Sink for TapSink {
    fn write(&mut self, batch: &RecordBatch) -> PluginResult<()> {
        if self.printed >= self.limit || batch.num_rows() == 0 {
            return Ok(());
        }
        self.print(batch)
            .map_err(|e| tributary_plugin_sdk::PluginError::runtime(format!("printing: {e}")))
    }
    fn flush(&mut self, _checkpoint: &Checkpoint) -> PluginResult<Ack> {
        Ok(Ack::default())
    }
    fn close(&mut self) -> PluginResult<Ack> {
        Ok(Ack::default())
    }
}

/// `tributary tap`.
pub fn tap(
    file: &std::path::Path,
    target: &str,
    limit: u64,
    format: TapFormat,
) -> anyhow::Result<u8> {
    let (mut pipeline, registry) = match crate::sources::load(file) {
        Ok(p) => p,
        Err(e) => {
            eprint!("{e}");
            return Ok(EXIT_CONFIG);
        }
    };
    let (component, output) = target.split_once('.').unwrap_or((target, ""));
    let is_source = pipeline.sources.iter().any(|s| s.spec.name == component);
    let transform = pipeline.transforms.iter().find(|t| t.name == component);
    if !is_source && transform.is_none() {
        let mut names: Vec<&str> = pipeline
            .sources
            .iter()
            .map(|s| s.spec.name.as_str())
            .collect();
        names.extend(pipeline.transforms.iter().map(|t| t.name.as_str()));
        eprintln!(
            "error: `{component}` is no source or transform of {} (tap one of: {})",
            file.display(),
            names.join(", ")
        );
        return Ok(EXIT_CONFIG);
    }
    if !output.is_empty() {
        let declared = transform
            .and_then(|t| registry.get(&t.type_name))
            .and_then(|l| declared_outputs(&l.meta().config_schema))
            .unwrap_or_default();
        if !declared.iter().any(|o| o == output) {
            eprintln!(
                "error: `{component}` has no output `{output}` (its outputs: (main){})",
                declared
                    .iter()
                    .map(|o| format!(", {o}"))
                    .collect::<String>()
            );
            return Ok(EXIT_CONFIG);
        }
    }
    // Nothing lands and nothing is remembered: the sinks go, state goes to a temporary
    // directory, no audit.
    let scratch = tempfile::tempdir()?;
    pipeline.header.state.url = scratch.path().join("state").display().to_string();
    pipeline.header.audit = None;
    pipeline.sinks = vec![ComponentSpec {
        name: "tap".into(),
        kind: ComponentKind::Sink,
        type_name: "tap".into(),
        inputs: vec![InputRef {
            component: component.to_string(),
            output: output.to_string(),
        }],
        config: serde_json::json!({}),
    }];
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let (stop, cancel) = tokio::sync::watch::channel(false);
    let sink = TapSink {
        format,
        limit,
        printed: 0,
        stop,
    };
    let mut provided: std::collections::HashMap<String, Box<dyn Sink>> = Default::default();
    provided.insert("tap".into(), Box::new(sink));
    let opts = RunOptions {
        resume: false,
        shard: None,
        today: None,
        cancel,
        progress: Arc::new(NoProgress),
        metrics: Arc::default(),
        force_unlock: false,
        provided_sinks: provided,
    };
    let (summary, result) = rt.block_on(tributary_engine::run::run(&pipeline, &registry, opts));
    match result {
        Ok(()) => Ok(EXIT_OK),
        // Stopped by the limit: the run ends as interrupted, which is what was asked.
        Err(_) if summary.status == tributary_engine::run::RunStatus::Interrupted => Ok(EXIT_OK),
        Err(e) => {
            eprintln!("error: {e}");
            Ok(EXIT_RUNTIME)
        }
    }
}
