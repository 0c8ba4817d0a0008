//! `jsonl_count`: an example custom sink. It writes one JSON line per window to a file:
//! `{"window": "...", "rows": 1234, "columns": ["id", ...]}`.

use std::io::Write;

use tributary_plugin_sdk::arrow_array::RecordBatch;
use tributary_plugin_sdk::{
    Ack, Checkpoint, CreateContext, PluginError, PluginInfo, Result, Sink, export_plugin,
};

/// Configuration of the sink.
#[derive(serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The file to append to. Example: `./windows.jsonl`.
    pub path: String,
}

/// The sink.
pub struct JsonlCount {
    path: String,
    rows: u64,
    columns: Vec<String>,
}

impl PluginInfo for JsonlCount {
    const NAME: &'static str = "jsonl_count";
    const VERSION: &'static str = "0.1.0";
    type Config = Config;

    fn create(config: Config, _ctx: &CreateContext) -> Result<Self> {
        if config.path.is_empty() {
            return Err(PluginError::config("`path` must not be empty"));
        }
        Ok(JsonlCount {
            path: config.path,
            rows: 0,
            columns: Vec::new(),
        })
    }
}

impl Sink for JsonlCount {
    fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        self.rows += batch.num_rows() as u64;
        if self.columns.is_empty() {
            self.columns = batch
                .schema()
                .fields()
                .iter()
                .map(|f| f.name().clone())
                .collect();
        }
        Ok(())
    }

    fn flush(&mut self, checkpoint: &Checkpoint) -> Result<Ack> {
        let line = tributary_plugin_sdk::serde_json::json!({
            "window": checkpoint.window_id, "rows": self.rows, "columns": self.columns,
        });
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .map_err(|e| PluginError::runtime(format!("cannot open {}: {e}", self.path)))?;
        writeln!(f, "{line}")
            .map_err(|e| PluginError::runtime(format!("cannot write {}: {e}", self.path)))?;
        Ok(Ack {
            records: std::mem::take(&mut self.rows),
            ..Ack::default()
        })
    }

    fn close(&mut self) -> Result<Ack> {
        Ok(Ack::default())
    }
}

export_plugin!(sink JsonlCount);
