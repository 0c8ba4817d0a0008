//! `faulty`: a sink that misbehaves where its config says, to prove the host refuses and
//! survives bad plugins (see `plugins/sdk/tests/host.rs`).
//!
//! ```yaml
//! sinks:
//!   bad:
//!     type: faulty
//!     panic_in: write          # create | write | flush | close, or absent
//!     error_in: null           # same stages: return an error instead of panicking
//!     error_kind: data_quality # runtime (default) | config | data_quality
//! ```
//!
//! With neither set it behaves: it counts the rows it is given and acknowledges them at
//! `flush` (`Ack.records`, plus `batches` in `Ack.metrics`).

use tributary_plugin_sdk::arrow_array::RecordBatch;
use tributary_plugin_sdk::{
    Ack, Checkpoint, CreateContext, ErrorKind, PluginError, PluginInfo, Result, Sink, export_plugin,
};

/// A call of the sink's lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// Building the instance from its config.
    Create,
    /// Receiving a batch.
    Write,
    /// Making a checkpoint durable.
    Flush,
    /// Ending the run.
    Close,
}

impl Stage {
    fn name(self) -> &'static str {
        match self {
            Stage::Create => "create",
            Stage::Write => "write",
            Stage::Flush => "flush",
            Stage::Close => "close",
        }
    }
}

/// The kind of error returned at `error_in`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    /// `ErrorKind::Runtime`.
    #[default]
    Runtime,
    /// `ErrorKind::Config`.
    Config,
    /// `ErrorKind::DataQuality`.
    DataQuality,
}

/// Configuration of the sink.
#[derive(Debug, Clone, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct Config {
    /// The call that panics. Example: `write`.
    #[serde(default)]
    pub panic_in: Option<Stage>,
    /// The call that returns an error of `error_kind`. Example: `flush`.
    #[serde(default)]
    pub error_in: Option<Stage>,
    /// The kind of the error returned at `error_in`. Example: `data_quality`.
    #[serde(default)]
    pub error_kind: FaultKind,
}

/// The sink.
pub struct Faulty {
    config: Config,
    rows: u64,
    batches: u64,
}

/// The message of a deliberate panic at `stage`; the host tests look for it.
fn panic_message(stage: Stage) -> String {
    format!("faulty: deliberate panic in {}", stage.name())
}

/// Panics or fails at `stage` when the config says so.
fn misbehave(config: &Config, stage: Stage) -> Result<()> {
    if config.panic_in == Some(stage) {
        #[allow(clippy::panic)] // The whole point of this plugin.
        {
            panic!("{}", panic_message(stage));
        }
    }
    if config.error_in == Some(stage) {
        let kind = match config.error_kind {
            FaultKind::Runtime => ErrorKind::Runtime,
            FaultKind::Config => ErrorKind::Config,
            FaultKind::DataQuality => ErrorKind::DataQuality,
        };
        return Err(PluginError::new(
            kind,
            format!(
                "faulty: deliberate {kind} in {}; remove `error_in` from the config",
                stage.name()
            ),
        ));
    }
    Ok(())
}

impl PluginInfo for Faulty {
    const NAME: &'static str = "faulty";
    const VERSION: &'static str = "0.1.0";
    type Config = Config;

    fn create(config: Config, _ctx: &CreateContext) -> Result<Self> {
        misbehave(&config, Stage::Create)?;
        Ok(Faulty {
            config,
            rows: 0,
            batches: 0,
        })
    }
}

impl Sink for Faulty {
    fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        misbehave(&self.config, Stage::Write)?;
        self.rows += batch.num_rows() as u64;
        self.batches += 1;
        Ok(())
    }

    fn flush(&mut self, _checkpoint: &Checkpoint) -> Result<Ack> {
        misbehave(&self.config, Stage::Flush)?;
        let mut ack = Ack {
            records: std::mem::take(&mut self.rows),
            ..Ack::default()
        };
        ack.metrics
            .insert("batches".into(), std::mem::take(&mut self.batches).into());
        Ok(ack)
    }

    fn close(&mut self) -> Result<Ack> {
        misbehave(&self.config, Stage::Close)?;
        Ok(Ack::default())
    }
}

export_plugin!(sink Faulty);
