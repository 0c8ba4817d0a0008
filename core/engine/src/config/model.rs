//! The typed engine sections of a pipeline file and the validated pipeline.

use std::collections::BTreeMap;
use std::path::PathBuf;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use crate::plugins::{PluginFile, PluginsConfig};

fn default_state_url() -> String {
    ".tributary/state".to_string()
}
fn default_channel_capacity() -> usize {
    8
}

/// Where checkpoints live.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct StateConfig {
    /// An object-store URL (`s3://bucket/state`, `file:///abs/dir`) or a local directory.
    /// Shards of one pipeline share it. Example: `.tributary/state`.
    #[serde(default = "default_state_url")]
    pub url: String,
}

impl Default for StateConfig {
    fn default() -> Self {
        StateConfig {
            url: default_state_url(),
        }
    }
}

/// The hash-chained audit log.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct AuditConfig {
    /// Local directory of the log; entries are appended to `<path>/audit.jsonl`. Example: `./audit`.
    pub path: String,
    /// Optional object-store URL the log is copied to at the end of each run
    /// (`s3://lake/audit/`). Example: `file:///var/lib/tributary/audit`.
    #[serde(default)]
    pub url: Option<String>,
    /// Key of an HMAC-SHA256 chain: without it, rewriting the whole log (recomputing every
    /// hash) is detected too. Keep it outside the log's machine; `tributary audit verify
    /// --key-env VAR` needs it. Example: `${AUDIT_KEY}`. Default: a plain SHA-256 chain.
    #[serde(default)]
    pub key: Option<tributary_plugin_sdk::Secret>,
}

/// Engine tuning.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct EngineConfig {
    /// Batches buffered on each edge of the graph; bounds memory and sets backpressure. Example: `8`.
    #[serde(default = "default_channel_capacity")]
    pub channel_capacity: usize,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            channel_capacity: default_channel_capacity(),
        }
    }
}

/// The top level of a pipeline file. Components keep their own keys, checked against
/// the schema of their type. Its `Debug` output redacts secrets.
#[derive(Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct PipelineFile {
    /// The pipeline's name; names its state, output manifests and audit entries (and
    /// local directories, so: letters, digits, `.`, `_`, `-`, no `..`). Example: `contact-history`.
    #[schemars(regex(pattern = r"^(?!.*\.\.)[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"))]
    pub name: String,
    /// Free text.
    #[serde(default)]
    pub description: Option<String>,
    /// Checkpoint store.
    #[serde(default)]
    pub state: StateConfig,
    /// Audit log; none when absent.
    #[serde(default)]
    pub audit: Option<AuditConfig>,
    /// Plugin search paths and pins.
    #[serde(default)]
    pub plugins: PluginsConfig,
    /// Engine tuning.
    #[serde(default)]
    pub engine: EngineConfig,
    /// Named sources; each has a `type` (one of the source types).
    pub sources: BTreeMap<String, serde_json::Map<String, serde_json::Value>>,
    /// Named transforms; each has a `type` (a transform plugin) and `inputs`.
    #[serde(default)]
    pub transforms: BTreeMap<String, serde_json::Map<String, serde_json::Value>>,
    /// Named sinks; each has a `type` (a sink plugin) and `inputs`.
    pub sinks: BTreeMap<String, serde_json::Map<String, serde_json::Value>>,
}

impl std::fmt::Debug for PipelineFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let section = |m: &BTreeMap<String, serde_json::Map<String, serde_json::Value>>| {
            super::redact(&serde_json::Value::Object(
                m.iter()
                    .map(|(k, v)| (k.clone(), serde_json::Value::Object(v.clone())))
                    .collect(),
            ))
        };
        f.debug_struct("PipelineFile")
            .field("name", &self.name)
            .field("description", &self.description)
            .field("state", &self.state)
            .field("audit", &self.audit)
            .field("plugins", &self.plugins)
            .field("engine", &self.engine)
            .field("sources", &section(&self.sources))
            .field("transforms", &section(&self.transforms))
            .field("sinks", &section(&self.sinks))
            .finish()
    }
}

/// The three kinds of component.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ComponentKind {
    /// Produces batches.
    Source,
    /// Turns batches into batches.
    Transform,
    /// Lands batches.
    Sink,
}

impl ComponentKind {
    /// The section of the file it is declared in.
    pub fn section(self) -> &'static str {
        match self {
            ComponentKind::Source => "sources",
            ComponentKind::Transform => "transforms",
            ComponentKind::Sink => "sinks",
        }
    }
}

/// A reference to a component's output: `checked` or `checked.invalid`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct InputRef {
    /// The component.
    pub component: String,
    /// The output (`""` for the main one).
    pub output: String,
}

impl std::fmt::Display for InputRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.output.is_empty() {
            f.write_str(&self.component)
        } else {
            write!(f, "{}.{}", self.component, self.output)
        }
    }
}

/// A component after validation. Its `Debug` output redacts secrets.
#[derive(Clone)]
pub struct ComponentSpec {
    /// Its name.
    pub name: String,
    /// Source, transform or sink.
    pub kind: ComponentKind,
    /// Its `type`.
    pub type_name: String,
    /// What it reads.
    pub inputs: Vec<InputRef>,
    /// Its own keys (without `type` and `inputs`), interpolated.
    pub config: serde_json::Value,
}

impl std::fmt::Debug for ComponentSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ComponentSpec")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("type_name", &self.type_name)
            .field("inputs", &self.inputs)
            .field("config", &super::redact(&self.config))
            .finish()
    }
}

/// A validated pipeline, ready to plan and run.
#[derive(Debug, Clone)]
pub struct Pipeline {
    /// The file it came from.
    pub file: PathBuf,
    /// Top-level sections.
    pub header: PipelineFile,
    /// Sources, with their type.
    pub sources: Vec<SourceSpec>,
    /// Transforms in topological order.
    pub transforms: Vec<ComponentSpec>,
    /// Sinks.
    pub sinks: Vec<ComponentSpec>,
    /// SHA-256 of the interpolated configuration with secrets removed.
    pub config_hash: String,
    /// The interpolated configuration with secrets removed (for the audit log).
    pub redacted: serde_json::Value,
}

/// A source of a validated pipeline: its entry and its type's factory.
#[derive(Clone)]
pub struct SourceSpec {
    /// The entry.
    pub spec: ComponentSpec,
    /// Its type.
    pub factory: std::sync::Arc<dyn tributary_source::SourceFactory>,
}

impl std::fmt::Debug for SourceSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SourceSpec")
            .field("spec", &self.spec)
            .field("type", &self.factory.type_name())
            .finish()
    }
}
