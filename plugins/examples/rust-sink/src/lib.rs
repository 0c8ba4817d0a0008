//! `jsonl_count`: an example custom sink. It writes one JSON line per window to a file:
//! `{"window": "...", "rows": 1234, "columns": ["id", ...]}`. A window landed again (a re-run,
//! or `--resume` of a window another sink had not acknowledged) replaces its line, so no
//! window is counted twice.

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
        use tributary_plugin_sdk::serde_json::{Value, json};
        let io = |what: &str, e: std::io::Error| {
            PluginError::runtime(format!("cannot {what} {}: {e}", self.path))
        };
        // The lines of other windows, kept; this window's earlier line, if any, dropped.
        let earlier = match std::fs::read_to_string(&self.path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(io("read", e)),
        };
        let mut text: String = earlier
            .lines()
            .filter(|l| {
                tributary_plugin_sdk::serde_json::from_str::<Value>(l)
                    .map_or(true, |v| v["window"] != checkpoint.window_id.as_str())
            })
            .map(|l| format!("{l}\n"))
            .collect();
        let line = json!({
            "window": checkpoint.window_id, "rows": self.rows, "columns": self.columns,
        });
        text.push_str(&format!("{line}\n"));
        // Written beside the file and renamed over it: a crash leaves the old file or the new.
        let tmp = format!("{}.tmp", self.path);
        let mut f = std::fs::File::create(&tmp).map_err(|e| io("create", e))?;
        f.write_all(text.as_bytes())
            .and_then(|()| f.sync_all())
            .map_err(|e| io("write", e))?;
        std::fs::rename(&tmp, &self.path).map_err(|e| io("replace", e))?;
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

#[cfg(test)]
mod tests {
    use tributary_plugin_sdk::testing::SinkContract;
    use tributary_plugin_sdk::{CreateContext, PluginInfo, Sink};

    use super::{Config, JsonlCount};

    /// Records in the file: the `rows` of every line.
    pub(crate) fn landed(path: &std::path::Path) -> u64 {
        std::fs::read_to_string(path)
            .unwrap_or_default()
            .lines()
            .map(|l| {
                let v: tributary_plugin_sdk::serde_json::Value =
                    tributary_plugin_sdk::serde_json::from_str(l).unwrap();
                v["rows"].as_u64().unwrap()
            })
            .sum()
    }

    #[test]
    fn meets_the_sink_contract() {
        let dir = std::env::temp_dir().join(format!("jsonl-contract-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("windows.jsonl");
        let make = |path: &std::path::Path| {
            let path = path.display().to_string();
            move || -> tributary_plugin_sdk::Result<Box<dyn Sink>> {
                let config = Config { path: path.clone() };
                Ok(Box::new(JsonlCount::create(
                    config,
                    &CreateContext::default(),
                )?))
            }
        };
        let report = SinkContract::new(make(&file))
            .landed_rows(|| landed(&file))
            .failing(make(&dir.join("missing/windows.jsonl")))
            .run();
        std::fs::remove_dir_all(&dir).unwrap();
        report.assert_ok();
    }
}
