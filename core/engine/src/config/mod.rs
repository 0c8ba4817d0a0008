//! Pipeline configuration: YAML loaded with figment (file + `TRIBUTARY__` environment
//! overrides), `${VAR}` interpolation, and validation that reports every problem of a file
//! at once, each with file, line, column, key path and a hint.
//!
//! Stages: read → YAML syntax (positions) → figment merge → interpolation → engine
//! sections (JSON Schema of [`PipelineFile`]) → plugins discovered → each component's
//! keys checked against the schema of its type → graph (`inputs` resolve, no cycles).

mod diagnostics;
mod interpolate;
mod model;
mod positions;
mod schema;
pub mod sensitive;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;

use figment::Figment;
use figment::providers::{Env, Format, Yaml};
use sha2::{Digest, Sha256};
use tributary_plugin_sdk::PluginKind;

pub use diagnostics::{Collector, ConfigErrors, Diagnostic, closest, did_you_mean};
pub use interpolate::interpolate_str;
pub use model::*;
pub use positions::{Pos, Positions};
pub use schema::{check_against_schema, pipeline_json_schema, reference_markdown, source_schema};

use crate::plugins::{Registry, declared_outputs};

/// The prefix of environment overrides: `TRIBUTARY__SINKS__LAKE__URL=s3://…` sets `sinks.lake.url`.
pub const ENV_PREFIX: &str = "TRIBUTARY__";

/// Source types built into the engine.
pub const SOURCE_TYPES: &[&str] = &["cxone"];

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
/// schema, each component by its own (the `cxone` source's, a plugin's descriptor).
pub fn redact_by_schemas(value: &serde_json::Value, registry: &Registry) -> serde_json::Value {
    let mut out = sensitive::redact_with(value, &schema::engine_schema());
    for section in ["sources", "transforms", "sinks"] {
        let Some(components) = out.get_mut(section).and_then(|v| v.as_object_mut()) else {
            continue;
        };
        for (_, c) in components.iter_mut() {
            let type_name = c.get("type").and_then(|t| t.as_str()).unwrap_or_default();
            let component_schema = if section == "sources" {
                Some(source_schema())
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

/// Loads and validates a pipeline file, discovering plugins as its `plugins` section and
/// `TRIBUTARY_PLUGIN_PATH` say.
///
/// # Errors
/// Every problem of the file, together.
pub fn load(path: &Path) -> Result<(Pipeline, Registry), ConfigErrors> {
    let env = |name: &str| std::env::var(name).ok();
    load_with(
        path,
        &env,
        std::env::var("TRIBUTARY_PLUGIN_PATH").ok().as_deref(),
    )
}

/// [`load`] with an explicit environment (for tests).
///
/// # Errors
/// Every problem of the file, together.
pub fn load_with(
    path: &Path,
    env: &dyn Fn(&str) -> Option<String>,
    plugin_path: Option<&str>,
) -> Result<(Pipeline, Registry), ConfigErrors> {
    let (value, positions) = read_file(path, env)?;
    let mut c = Collector::new(path, Some(&positions));

    // Engine sections.
    check_against_schema(&schema::engine_schema(), &value, &[], &mut c);
    let header: Option<PipelineFile> = if c.is_empty() {
        match serde_json::from_value::<PipelineFile>(value.clone()) {
            Ok(h) => Some(h),
            Err(e) => {
                c.push(&[], e.to_string(), None);
                None
            }
        }
    } else {
        None
    };
    let Some(header) = header else {
        return Err(c.into_errors());
    };

    if header.engine.channel_capacity == 0 {
        c.push(
            &p(&["engine", "channel_capacity"]),
            "must be at least 1",
            None,
        );
    }

    let (registry, file_problems) = Registry::discover(&header.plugins, plugin_path);
    for fp in file_problems {
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

    // Components.
    let mut specs: Vec<ComponentSpec> = Vec::new();
    let mut sources = Vec::new();
    let mut outputs: HashMap<String, (ComponentKind, Option<Vec<String>>)> = HashMap::new();
    let mut seen_names: BTreeMap<String, ComponentKind> = BTreeMap::new();
    for (kind, section) in [
        (ComponentKind::Source, &header.sources),
        (ComponentKind::Transform, &header.transforms),
        (ComponentKind::Sink, &header.sinks),
    ] {
        for (name, raw) in section.iter() {
            let base = vec![kind.section().to_string(), name.clone()];
            if let Some(prev) = seen_names.insert(name.clone(), kind) {
                c.push(
                    &base,
                    format!("the name `{name}` is already used in `{}`", prev.section()),
                    Some("component names are unique across sources, transforms and sinks".into()),
                );
            }
            if name.contains('.') || name.is_empty() {
                c.push(
                    &base,
                    "a component name must be non-empty and contain no `.`",
                    Some(
                        "`.` separates a component from its output, as in `checked.invalid`".into(),
                    ),
                );
            }
            let before = c.diagnostics.len();
            if let Some(spec) = component(kind, name, raw, &base, &registry, &mut c) {
                let component_ok = c.diagnostics.len() == before;
                let outs = match kind {
                    ComponentKind::Transform => registry
                        .get(&spec.type_name)
                        .and_then(|l| declared_outputs(&l.meta().config_schema)),
                    _ => Some(Vec::new()),
                };
                outputs.insert(name.clone(), (kind, outs));
                if kind == ComponentKind::Source && component_ok {
                    match serde_json::from_value::<tributary_cxone::CxoneConfig>(
                        spec.config.clone(),
                    ) {
                        Ok(cfg) => {
                            if let Err(problems) = cfg.validate() {
                                for pr in problems {
                                    let mut key = base.clone();
                                    key.extend(
                                        pr.key
                                            .split('.')
                                            .filter(|s| !s.is_empty())
                                            .map(str::to_string),
                                    );
                                    c.push(&key, pr.message, None);
                                }
                            }
                            sources.push((spec.clone(), cfg));
                        }
                        Err(e) => c.push(&base, e.to_string(), None),
                    }
                }
                specs.push(spec);
            }
        }
    }
    if header.sources.is_empty() {
        c.push(&p(&["sources"]), "at least one source is required", None);
    }
    if header.sinks.is_empty() {
        c.push(&p(&["sinks"]), "at least one sink is required", None);
    }

    // Inputs.
    let names: Vec<&str> = outputs.keys().map(String::as_str).collect();
    for spec in &specs {
        for (i, input) in spec.inputs.iter().enumerate() {
            let key = vec![
                spec.kind.section().to_string(),
                spec.name.clone(),
                "inputs".into(),
                i.to_string(),
            ];
            match outputs.get(&input.component) {
                None => c.push(
                    &key,
                    format!("`{input}` is not a component of this pipeline"),
                    did_you_mean(&input.component, names.iter().copied()),
                ),
                Some((ComponentKind::Sink, _)) => c.push(
                    &key,
                    format!("`{input}` is a sink; sinks have no output to read"),
                    None,
                ),
                Some((kind, declared)) => {
                    if !input.output.is_empty() {
                        match (kind, declared) {
                            (ComponentKind::Transform, Some(list))
                                if !list.contains(&input.output) =>
                            {
                                let hint =
                                    did_you_mean(&input.output, list.iter().map(String::as_str))
                                        .or_else(|| {
                                            Some(format!(
                                                "`{}` has the outputs: (main){}",
                                                input.component,
                                                list.iter()
                                                    .map(|o| format!(", {o}"))
                                                    .collect::<String>()
                                            ))
                                        });
                                c.push(
                                    &key,
                                    format!(
                                        "`{}` has no output named `{}`",
                                        input.component, input.output
                                    ),
                                    hint,
                                )
                            }
                            (ComponentKind::Source, _) => c.push(
                                &key,
                                format!("source `{}` has only its main output", input.component),
                                Some(format!("write `{}`", input.component)),
                            ),
                            _ => {}
                        }
                    }
                }
            }
            if input.component == spec.name {
                c.push(&key, format!("`{}` reads its own output", spec.name), None);
            }
        }
    }

    // Cycles among transforms.
    let transforms: BTreeMap<&str, &ComponentSpec> = specs
        .iter()
        .filter(|s| s.kind == ComponentKind::Transform)
        .map(|s| (s.name.as_str(), s))
        .collect();
    let mut order: Vec<String> = Vec::new();
    let mut state: HashMap<&str, u8> = HashMap::new(); // 1 visiting, 2 done
    fn visit<'a>(
        n: &'a str,
        t: &BTreeMap<&'a str, &'a ComponentSpec>,
        state: &mut HashMap<&'a str, u8>,
        order: &mut Vec<String>,
        stack: &mut Vec<&'a str>,
    ) -> Option<Vec<String>> {
        match state.get(n) {
            Some(2) => return None,
            Some(1) => {
                let start = stack.iter().position(|s| *s == n).unwrap_or(0);
                let mut cycle: Vec<String> = stack
                    .get(start..)
                    .unwrap_or_default()
                    .iter()
                    .map(|s| s.to_string())
                    .collect();
                cycle.push(n.to_string());
                return Some(cycle);
            }
            _ => {}
        }
        state.insert(n, 1);
        stack.push(n);
        if let Some(spec) = t.get(n) {
            for i in &spec.inputs {
                if let Some((k, _)) = t.get_key_value(i.component.as_str()) {
                    if let Some(cycle) = visit(k, t, state, order, stack) {
                        return Some(cycle);
                    }
                }
            }
        }
        stack.pop();
        state.insert(n, 2);
        order.push(n.to_string());
        None
    }
    for name in transforms.keys() {
        let mut stack = Vec::new();
        if let Some(cycle) = visit(name, &transforms, &mut state, &mut order, &mut stack) {
            let first = cycle.first().cloned().unwrap_or_default();
            c.push(
                &p(&["transforms", &first, "inputs"]),
                format!("the inputs form a cycle: {}", cycle.join(" → ")),
                Some("data must flow from sources to sinks without loops".into()),
            );
            break;
        }
    }

    // Every source and transform output is used by something.
    let used: BTreeSet<&str> = specs
        .iter()
        .flat_map(|s| s.inputs.iter().map(|i| i.component.as_str()))
        .collect();
    for spec in specs.iter().filter(|s| s.kind != ComponentKind::Sink) {
        if !used.contains(spec.name.as_str()) {
            c.push(
                &[spec.kind.section().to_string(), spec.name.clone()],
                format!("`{}` is read by no component", spec.name),
                Some("add it to the `inputs` of a transform or sink, or remove it".into()),
            );
        }
    }

    c.finish()?;

    let redacted = redact(&redact_by_schemas(&value, &registry));
    let config_hash = hex::encode(Sha256::digest(redacted.to_string().as_bytes()));
    let transforms_sorted = order
        .iter()
        .filter_map(|n| {
            specs
                .iter()
                .find(|s| s.kind == ComponentKind::Transform && &s.name == n)
                .cloned()
        })
        .collect();
    let sinks = specs
        .iter()
        .filter(|s| s.kind == ComponentKind::Sink)
        .cloned()
        .collect();
    let pipeline = Pipeline {
        file: path.to_path_buf(),
        header,
        sources,
        transforms: transforms_sorted,
        sinks,
        config_hash,
        redacted,
    };
    Ok((pipeline, registry))
}

fn component(
    kind: ComponentKind,
    name: &str,
    raw: &serde_json::Map<String, serde_json::Value>,
    base: &[String],
    registry: &Registry,
    c: &mut Collector,
) -> Option<ComponentSpec> {
    let key = |k: &str| {
        let mut v = base.to_vec();
        v.push(k.to_string());
        v
    };
    let name_ok = !name.is_empty()
        && name.len() <= 128
        && name
            .chars()
            .all(|ch| ch.is_ascii_alphanumeric() || ch == '_' || ch == '-');
    if !name_ok {
        c.push(
            base,
            format!("component name `{name}` may hold only letters, digits, `_` and `-`"),
            Some("names become directory names and `name.output` references".into()),
        );
        return None;
    }
    let type_name = match raw.get("type") {
        Some(serde_json::Value::String(t)) => t.clone(),
        Some(_) => {
            c.push(&key("type"), "`type` must be a string", None);
            return None;
        }
        None => {
            c.push(
                base,
                "missing key `type`",
                Some(format!(
                    "every entry of `{}` names its `type`",
                    kind.section()
                )),
            );
            return None;
        }
    };
    let mut inputs = Vec::new();
    match (kind, raw.get("inputs")) {
        (ComponentKind::Source, Some(_)) => {
            c.push(&key("inputs"), "a source has no `inputs`", None)
        }
        (ComponentKind::Source, None) => {}
        (_, None) => c.push(
            base,
            "missing key `inputs`",
            Some("name the components it reads, e.g. `inputs: [cxone]`".into()),
        ),
        (_, Some(serde_json::Value::Array(items))) => {
            if items.is_empty() {
                c.push(
                    &key("inputs"),
                    "`inputs` is empty",
                    Some("name at least one component to read".into()),
                );
            }
            for (i, item) in items.iter().enumerate() {
                match item.as_str() {
                    Some(s) => {
                        let (component, output) = match s.split_once('.') {
                            Some((a, b)) => (a.to_string(), b.to_string()),
                            None => (s.to_string(), String::new()),
                        };
                        inputs.push(InputRef { component, output });
                    }
                    None => c.push(
                        &key(&format!("inputs.{i}")),
                        "each input must be a component name (a string)",
                        None,
                    ),
                }
            }
        }
        (_, Some(_)) => c.push(
            &key("inputs"),
            "`inputs` must be a list of component names",
            Some("e.g. `inputs: [cxone]`".into()),
        ),
    }
    let mut config = raw.clone();
    config.remove("type");
    config.remove("inputs");
    let config = serde_json::Value::Object(config);

    // A component whose type cannot be resolved keeps its inputs, so graph checks still
    // see it; only its own keys go unchecked.
    let schema = match kind {
        ComponentKind::Source => {
            if !SOURCE_TYPES.contains(&type_name.as_str()) {
                c.push(
                    &key("type"),
                    format!("unknown source type `{type_name}`"),
                    did_you_mean(&type_name, SOURCE_TYPES.iter().copied())
                        .or(Some("the built-in source type is `cxone`".into())),
                );
                None
            } else {
                Some(source_schema())
            }
        }
        ComponentKind::Transform | ComponentKind::Sink => {
            let want = if kind == ComponentKind::Sink {
                PluginKind::Sink
            } else {
                PluginKind::Transform
            };
            match registry.get(&type_name) {
                Some(lib) if lib.meta().kind == want => Some(lib.meta().config_schema.clone()),
                Some(lib) => {
                    c.push(
                        &key("type"),
                        format!(
                            "`{type_name}` is a {} plugin, not a {want}",
                            lib.meta().kind
                        ),
                        None,
                    );
                    None
                }
                None => {
                    let known = registry.names(want);
                    let hint = did_you_mean(&type_name, known.iter().copied()).unwrap_or_else(|| {
                        if known.is_empty() {
                            format!("no {want} plugins were found; build them with `cargo build`, or set `plugins.paths` / TRIBUTARY_PLUGIN_PATH")
                        } else {
                            format!("known {want} types: {}", known.join(", "))
                        }
                    });
                    c.push(
                        &key("type"),
                        format!("no {want} plugin named `{type_name}`"),
                        Some(hint),
                    );
                    None
                }
            }
        }
    };
    if let Some(schema) = &schema {
        check_against_schema(schema, &config, base, c);
    }
    Some(ComponentSpec {
        name: name.to_string(),
        kind,
        type_name,
        inputs,
        config,
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
        assert_eq!(resolve_env_key(&doc, "SOURCES.CXONE.X"), "sources.cxone.x");
    }
}
