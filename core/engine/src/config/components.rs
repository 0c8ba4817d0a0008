//! The components of a pipeline: each entry's name, `type`, `inputs` and keys, checked
//! against the schema of its type (a source type of the catalog, a loaded plugin).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use tributary_plugin_sdk::PluginKind;

use super::diagnostics::{Collector, did_you_mean};
use super::graph::Outputs;
use super::model::{ComponentKind, ComponentSpec, InputRef, PipelineFile, SourceSpec};
use super::schema::check_against_schema;
use crate::plugins::{Registry, declared_outputs};

/// Every component of the file, the sources with their type, and the outputs of each.
pub(super) fn components(
    header: &PipelineFile,
    registry: &Registry,
    c: &mut Collector<'_>,
) -> (Vec<ComponentSpec>, Vec<SourceSpec>, Outputs) {
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
            if let Some(spec) = component(kind, name, raw, &base, registry, c) {
                let component_ok = c.diagnostics.len() == before;
                let outs = match kind {
                    ComponentKind::Transform => registry
                        .get(&spec.type_name)
                        .and_then(|l| declared_outputs(&l.meta().config_schema)),
                    _ => Some(Vec::new()),
                };
                outputs.insert(name.clone(), (kind, outs));
                if kind == ComponentKind::Source && component_ok {
                    if let Some(factory) = registry.sources.get(&spec.type_name) {
                        if let Err(problems) = factory.check(&spec.config) {
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
                        sources.push(SourceSpec {
                            spec: spec.clone(),
                            factory: Arc::clone(factory),
                        });
                    }
                }
                specs.push(spec);
            }
        }
    }
    if header.sources.is_empty() {
        c.push(
            &["sources".to_string()],
            "at least one source is required",
            None,
        );
    }
    if header.sinks.is_empty() {
        c.push(
            &["sinks".to_string()],
            "at least one sink is required",
            None,
        );
    }

    (specs, sources, outputs)
}

fn component(
    kind: ComponentKind,
    name: &str,
    raw: &serde_json::Map<String, serde_json::Value>,
    base: &[String],
    registry: &Registry,
    c: &mut Collector<'_>,
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
    let inputs = parse_inputs(kind, raw, base, c);
    let mut config = raw.clone();
    config.remove("type");
    config.remove("inputs");
    let config = serde_json::Value::Object(config);

    // A component whose type cannot be resolved keeps its inputs, so graph checks still
    // see it; only its own keys go unchecked.
    let schema = type_schema(kind, &type_name, base, registry, c);
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

/// The `inputs` of an entry (a source has none), each `component` or `component.output`.
fn parse_inputs(
    kind: ComponentKind,
    raw: &serde_json::Map<String, serde_json::Value>,
    base: &[String],
    c: &mut Collector<'_>,
) -> Vec<InputRef> {
    let key = |k: &str| {
        let mut v = base.to_vec();
        v.push(k.to_string());
        v
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
            Some("name the components it reads, e.g. `inputs: [interactions]`".into()),
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
            Some("e.g. `inputs: [interactions]`".into()),
        ),
    }
    inputs
}

/// The schema of a component's keys: its source type's or its plugin's; `None` (with the
/// problem reported) when the type is unknown or of the wrong kind.
fn type_schema(
    kind: ComponentKind,
    type_name: &str,
    base: &[String],
    registry: &Registry,
    c: &mut Collector<'_>,
) -> Option<serde_json::Value> {
    let key = |k: &str| {
        let mut v = base.to_vec();
        v.push(k.to_string());
        v
    };
    match kind {
        ComponentKind::Source => match registry.sources.get(type_name) {
            Some(factory) => Some(factory.config_schema()),
            None => {
                let known = registry.sources.names();
                c.push(
                    &key("type"),
                    format!("unknown source type `{type_name}`"),
                    did_you_mean(type_name, known.iter().copied())
                        .or(Some(format!("the source types are: {}", known.join(", ")))),
                );
                None
            }
        },
        ComponentKind::Transform | ComponentKind::Sink => {
            let want = if kind == ComponentKind::Sink {
                PluginKind::Sink
            } else {
                PluginKind::Transform
            };
            match registry.get(type_name) {
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
                    let hint = did_you_mean(type_name, known.iter().copied()).unwrap_or_else(|| {
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
    }
}
