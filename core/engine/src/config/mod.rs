//! Pipeline configuration: YAML loaded with figment (file + `TRIBUTARY__` environment
//! overrides), `${VAR}` interpolation, and validation that reports every problem of a file
//! at once, each with file, line, column, key path and a hint.
//!
//! Stages: read → YAML syntax (positions) → figment merge → interpolation → engine
//! sections (JSON Schema of [`PipelineFile`]): a [`Document`], read without opening any
//! plugin. The caller then builds a [`Registry`] (source catalog + plugins the document's
//! `plugins:` section finds) and [`validate`]s: each component's keys against the schema
//! of its type, then the graph (`inputs` resolve, no cycles; [`graph`]).

mod components;
mod diagnostics;
pub mod graph;
mod interpolate;
mod model;
mod positions;
mod schema;
pub mod sensitive;

use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Yaml};
use sha2::{Digest, Sha256};

pub use diagnostics::{Collector, ConfigErrors, Diagnostic, closest, did_you_mean};
pub use interpolate::interpolate_str;
pub use model::*;
pub use positions::{Pos, Positions};
pub use schema::{check_against_schema, pipeline_json_schema, reference_markdown};

use crate::plugins::Registry;

/// The prefix of environment overrides: `TRIBUTARY__SINKS__LAKE__URL=s3://…` sets `sinks.lake.url`.
pub const ENV_PREFIX: &str = "TRIBUTARY__";

fn p(parts: &[&str]) -> Vec<String> {
    parts.iter().map(|s| s.to_string()).collect()
}

/// Key names whose values are secrets: removed before hashing or auditing the config.
pub fn is_secret_key(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    [
        "secret",
        "password",
        "token",
        "client_id",
        "access_key",
        "credential",
        "authorization",
        "api_key",
        "headers",
    ]
    .iter()
    .any(|s| k.contains(s))
}

/// A copy of a config value with every secret replaced by `**REDACTED**`.
pub fn redact(v: &serde_json::Value) -> serde_json::Value {
    match v {
        serde_json::Value::Object(m) => serde_json::Value::Object(
            m.iter()
                .map(|(k, v)| {
                    let v = if is_secret_key(k) && !v.is_null() {
                        serde_json::Value::String("**REDACTED**".into())
                    } else {
                        redact(v)
                    };
                    (k.clone(), v)
                })
                .collect(),
        ),
        serde_json::Value::Array(a) => serde_json::Value::Array(a.iter().map(redact).collect()),
        other => other.clone(),
    }
}

/// Replaces the values that the schemas mark secret: the engine's sections by the engine
/// schema, each component by its own (its source type's, a plugin's descriptor).
pub fn redact_by_schemas(value: &serde_json::Value, registry: &Registry) -> serde_json::Value {
    let mut out = sensitive::redact_with(value, &schema::engine_schema());
    for section in ["sources", "transforms", "sinks"] {
        let Some(components) = out.get_mut(section).and_then(|v| v.as_object_mut()) else {
            continue;
        };
        for (_, c) in components.iter_mut() {
            let type_name = c.get("type").and_then(|t| t.as_str()).unwrap_or_default();
            let component_schema = if section == "sources" {
                registry.sources.get(type_name).map(|f| f.config_schema())
            } else {
                registry
                    .get(type_name)
                    .map(|l| l.meta().config_schema.clone())
            };
            if let Some(s) = component_schema {
                *c = sensitive::redact_with(c, &s);
            }
        }
    }
    out
}

/// The `TRIBUTARY__` environment overrides. Each `__`-separated segment takes the spelling
/// of the key the file already has at that place, compared case-insensitively, so
/// `TRIBUTARY__SINKS__MYLAKE__URL` reaches `sinks.MyLake.url`; a segment that matches no key
/// of the file is taken in lowercase (`TRIBUTARY__ENGINE__CHANNEL_CAPACITY`).
fn env_overrides(doc: serde_yaml::Value) -> Env {
    // `lowercase(false)` last: figment's `map` turns lowercasing back on.
    Env::prefixed(ENV_PREFIX)
        .split("__")
        .map(move |key| resolve_env_key(&doc, key.as_str()).into())
        .lowercase(false)
}

/// The path an override's dotted `key` names in `doc` (see [`env_overrides`]).
fn resolve_env_key(doc: &serde_yaml::Value, key: &str) -> String {
    let mut node = Some(doc);
    let mut out: Vec<String> = Vec::new();
    for seg in key.split('.') {
        let found = node.and_then(serde_yaml::Value::as_mapping).and_then(|m| {
            m.iter().find_map(|(k, v)| {
                k.as_str()
                    .filter(|k| k.eq_ignore_ascii_case(seg))
                    .map(|k| (k.to_string(), v))
            })
        });
        match found {
            Some((k, v)) => {
                out.push(k);
                node = Some(v);
            }
            None => {
                out.push(seg.to_ascii_lowercase());
                node = None;
            }
        }
    }
    out.join(".")
}

/// Reads, interpolates and checks the engine sections of a file, without plugins.
/// Returns the value and the positions; problems go to `diags`.
fn read_file(
    path: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<(serde_json::Value, Positions), ConfigErrors> {
    let mut early = Collector::new(path, None);
    let src = match std::fs::read_to_string(path) {
        Ok(s) => s,
        Err(e) => {
            early.push(
                &[],
                format!("cannot read the pipeline file: {e}"),
                Some("check the path".into()),
            );
            return early
                .finish()
                .map(|_| (serde_json::Value::Null, Positions::default()));
        }
    };
    let positions = match Positions::parse(&src) {
        Ok(p) => p,
        Err(e) => {
            early.push_at(
                &[],
                Some(e.pos),
                format!("YAML syntax error: {}", e.message),
                None,
            );
            return early
                .finish()
                .map(|_| (serde_json::Value::Null, Positions::default()));
        }
    };
    let doc = match serde_yaml::from_str::<serde_yaml::Value>(&src) {
        Ok(doc @ serde_yaml::Value::Mapping(_)) => doc,
        Err(e) => {
            // Valid YAML events, but not a valid document: a key given twice, most often.
            let pos = e.location().map(|l| Pos {
                line: l.line(),
                col: l.column(),
            });
            let message = e.to_string();
            let message = message
                .split(" at line ")
                .next()
                .unwrap_or(&message)
                .to_string();
            early.push_at(
                &[],
                pos,
                format!("YAML error: {message}"),
                Some("each key may appear once per mapping; remove or rename the repeat".into())
                    .filter(|_| message.contains("duplicate")),
            );
            return Err(early.into_errors());
        }
        Ok(_) => {
            early.push_at(
                &[],
                Some(Pos { line: 1, col: 1 }),
                "a pipeline file must be a mapping with `name`, `sources` and `sinks`",
                Some("see pipelines/quickstart.yaml for the shape".into()),
            );
            return Err(early.into_errors());
        }
    };
    let figment = Figment::new()
        .merge(Yaml::string(&src))
        .merge(env_overrides(doc));
    let mut value: serde_json::Value = match figment.extract() {
        Ok(v) => v,
        Err(e) => {
            let mut c = Collector::new(path, Some(&positions));
            for err in e {
                c.push(&err.path, err.to_string(), None);
            }
            return Err(c.into_errors());
        }
    };
    if !value.is_object() {
        early.push(
            &[],
            "a pipeline file must be a mapping with `name`, `sources` and `sinks`",
            None,
        );
        return early.finish().map(|_| (value, positions));
    }
    let mut problems = Vec::new();
    interpolate::interpolate_value(&mut value, &mut Vec::new(), env, &mut problems);
    let mut c = Collector::new(path, Some(&positions));
    for (key, var) in problems {
        c.push(
            &key,
            format!("environment variable `{var}` is not set"),
            Some(format!("export {var}=…, or write ${{{var}:-default}}")),
        );
    }
    c.finish()?;
    Ok((value, positions))
}

/// A pipeline file read, interpolated, with its engine sections checked: what plugin
/// discovery needs (`plugins:`), before any library is opened.
#[derive(Debug, Clone)]
pub struct Document {
    /// The file.
    pub path: PathBuf,
    /// The interpolated value (file + environment overrides).
    pub value: serde_json::Value,
    /// Where each key is in the file.
    pub positions: Positions,
    /// The engine sections.
    pub header: PipelineFile,
}

/// Reads a pipeline file: YAML, environment overrides, interpolation, engine sections.
/// Opens no plugin.
///
/// # Errors
/// Every problem found so far, together.
pub fn read_document(
    path: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Document, ConfigErrors> {
    let (value, positions) = read_file(path, env)?;
    let mut c = Collector::new(path, Some(&positions));
    check_against_schema(&schema::engine_schema(), &value, &[], &mut c);
    let header = if c.is_empty() {
        serde_json::from_value::<PipelineFile>(value.clone())
            .map_err(|e| c.push(&[], e.to_string(), None))
            .ok()
    } else {
        None
    };
    let Some(header) = header else {
        return Err(c.into_errors());
    };
    Ok(Document {
        path: path.to_path_buf(),
        value,
        positions,
        header,
    })
}

/// Checks the components of a document against the types `registry` knows (sources of
/// its catalog, loaded plugins) and the graph they form.
///
/// # Errors
/// Every problem of the file, together.
pub fn validate(doc: &Document, registry: &Registry) -> Result<Pipeline, ConfigErrors> {
    let mut c = Collector::new(&doc.path, Some(&doc.positions));
    let header = doc.header.clone();
    if header.engine.channel_capacity == 0 {
        c.push(
            &p(&["engine", "channel_capacity"]),
            "must be at least 1",
            None,
        );
    }
    for fp in &registry.file_problems {
        c.push(
            &[
                "plugins".into(),
                "files".into(),
                fp.index.to_string(),
                "path".into(),
            ],
            fp.error.to_string(),
            None,
        );
    }
    let (specs, sources, outputs) = components::components(&header, registry, &mut c);
    graph::check_inputs(&specs, &outputs, &mut c);
    let order = match graph::transform_order(&specs) {
        Ok(order) => order,
        Err(cycle) => {
            let first = cycle.first().cloned().unwrap_or_default();
            c.push(
                &p(&["transforms", &first, "inputs"]),
                format!("the inputs form a cycle: {}", cycle.join(" → ")),
                Some("data must flow from sources to sinks without loops".into()),
            );
            Vec::new()
        }
    };
    graph::check_unused(&specs, &mut c);
    c.finish()?;

    let redacted = redact(&redact_by_schemas(&doc.value, registry));
    let config_hash = hex::encode(Sha256::digest(redacted.to_string().as_bytes()));
    let of_kind = |kind: ComponentKind| specs.iter().filter(move |s| s.kind == kind);
    let transforms = order
        .iter()
        .filter_map(|n| {
            of_kind(ComponentKind::Transform)
                .find(|s| &s.name == n)
                .cloned()
        })
        .collect();
    Ok(Pipeline {
        file: doc.path.clone(),
        header,
        sources,
        transforms,
        sinks: of_kind(ComponentKind::Sink).cloned().collect(),
        config_hash,
        redacted,
    })
}

#[cfg(test)]
mod env_key_tests {
    use super::resolve_env_key;

    #[test]
    fn overrides_take_the_files_spelling_of_each_key() {
        let doc: serde_yaml::Value =
            serde_yaml::from_str("sinks:\n  MyLake:\n    url: x\nengine: {}\n").unwrap_or_default();
        assert_eq!(
            resolve_env_key(&doc, "SINKS.MYLAKE.URL"),
            "sinks.MyLake.url"
        );
        assert_eq!(
            resolve_env_key(&doc, "sinks.mylake.S3.Region"),
            "sinks.MyLake.s3.region"
        );
        assert_eq!(
            resolve_env_key(&doc, "ENGINE.CHANNEL_CAPACITY"),
            "engine.channel_capacity"
        );
        assert_eq!(
            resolve_env_key(&doc, "SOURCES.CONTACTS.X"),
            "sources.contacts.x"
        );
    }
}
