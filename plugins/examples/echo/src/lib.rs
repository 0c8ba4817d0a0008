//! `echo`: a transform that emits every batch unchanged, on the main output and on the
//! output `copy`. The SDK's host tests send batches of every column type through its real
//! `.so` and compare what comes back; the boundary benchmark measures the cost per batch.

use tributary_plugin_sdk::arrow_array::RecordBatch;
use tributary_plugin_sdk::{CreateContext, Outputs, PluginInfo, Result, Transform, export_plugin};

/// The name of the second output.
pub const COPY_OUTPUT: &str = "copy";

/// Configuration of the transform: none.
#[derive(Debug, Clone, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct Config {}

/// The transform.
pub struct Echo;

impl PluginInfo for Echo {
    const NAME: &'static str = "echo";
    const VERSION: &'static str = "0.1.0";
    type Config = Config;

    fn create(_config: Config, _ctx: &CreateContext) -> Result<Self> {
        Ok(Echo)
    }
}

impl Transform for Echo {
    fn process(&mut self, batch: &RecordBatch, out: &mut Outputs) -> Result<()> {
        out.emit(batch.clone());
        out.emit_to(COPY_OUTPUT, batch.clone());
        Ok(())
    }
}

export_plugin!(transform Echo);
