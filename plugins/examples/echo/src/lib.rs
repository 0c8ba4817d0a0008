//! `echo`: a transform that emits every batch unchanged, on the main output and on the
//! output `copy`. The SDK's host tests send batches of every column type through its real
//! `.so` and compare what comes back; the boundary benchmark measures the cost per batch.
//!
//! With `fresh_buffers: true` it emits copies in buffers of its own, as a transform that
//! computes its output would: the host then checks every returned value in full, which is
//! the boundary's worst case.

use tributary_plugin_sdk::arrow_array::RecordBatch;
use tributary_plugin_sdk::{
    CreateContext, Outputs, PluginInfo, Result, Transform, deep_copy, export_plugin,
};

/// The name of the second output.
pub const COPY_OUTPUT: &str = "copy";

/// Configuration of the transform: none.
#[derive(Debug, Clone, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct Config {
    /// Emit copies in new buffers instead of the batch as received.
    #[serde(default)]
    pub fresh_buffers: bool,
}

/// The transform.
pub struct Echo {
    fresh_buffers: bool,
}

impl PluginInfo for Echo {
    const NAME: &'static str = "echo";
    const VERSION: &'static str = "0.1.0";
    type Config = Config;

    fn create(config: Config, _ctx: &CreateContext) -> Result<Self> {
        Ok(Echo {
            fresh_buffers: config.fresh_buffers,
        })
    }
}

impl Transform for Echo {
    fn process(&mut self, batch: &RecordBatch, out: &mut Outputs) -> Result<()> {
        if self.fresh_buffers {
            out.emit(deep_copy(batch)?);
            out.emit_to(COPY_OUTPUT, deep_copy(batch)?);
        } else {
            out.emit(batch.clone());
            out.emit_to(COPY_OUTPUT, batch.clone());
        }
        Ok(())
    }
}

export_plugin!(transform Echo);
