//! JSON Schemas: checking a value against one with positioned diagnostics, and the
//! schema of a whole pipeline file for editors (`tributary schema`).

use schemars::schema_for;

use super::diagnostics::{Collector, did_you_mean};
use super::model::PipelineFile;
use crate::plugins::Registry;

/// The schema of the engine sections.
pub fn engine_schema() -> serde_json::Value {
    serde_json::to_value(schema_for!(PipelineFile)).unwrap_or(serde_json::Value::Bool(true))
}

/// Follows `properties` along `path` in `schema` (resolving local `$ref`s), returning the
/// property names known at that place.
fn known_keys<'a>(root: &'a serde_json::Value, path: &[String]) -> Vec<&'a str> {
    fn resolve<'a>(
        root: &'a serde_json::Value,
        mut node: &'a serde_json::Value,
    ) -> &'a serde_json::Value {
        for _ in 0..16 {
            let Some(r) = node.get("$ref").and_then(|r| r.as_str()) else {
                break;
            };
            let Some(ptr) = r.strip_prefix('#') else {
                break;
            };
            match root.pointer(ptr) {
                Some(n) => node = n,
                None => break,
            }
        }
        // `Option<T>` is `anyOf [T, null]` in schemars.
        if let Some(any) = node.get("anyOf").and_then(|a| a.as_array()) {
            if let Some(first) = any
                .iter()
                .find(|s| s.get("type") != Some(&serde_json::Value::String("null".into())))
            {
                return resolve(root, first);
            }
        }
        node
    }
    let mut node = resolve(root, root);
    for seg in path {
        let next = node
            .get("properties")
            .and_then(|p| p.get(seg))
            .or_else(|| node.get("additionalProperties").filter(|a| a.is_object()))
            .or_else(|| node.get("items").filter(|a| a.is_object()));
        match next {
            Some(n) => node = resolve(root, n),
            None => return Vec::new(),
        }
    }
    node.get("properties")
        .and_then(|p| p.as_object())
        .map(|m| m.keys().map(String::as_str).collect())
        .unwrap_or_default()
}

fn pointer_to_path(ptr: &str) -> Vec<String> {
    ptr.split('/')
        .skip(1)
        .map(|s| s.replace("~1", "/").replace("~0", "~"))
        .collect()
}

/// Checks `instance` against `schema`, recording each violation at `base` + its path.
pub fn check_against_schema(
    schema: &serde_json::Value,
    instance: &serde_json::Value,
    base: &[String],
    c: &mut Collector,
) {
    let validator = match jsonschema::validator_for(schema) {
        Ok(v) => v,
        Err(e) => {
            c.push(
                base,
                format!("the component's published config schema is invalid: {e}"),
                Some("report this to the plugin's author".into()),
            );
            return;
        }
    };
    for err in validator.iter_errors(instance) {
        let rel = pointer_to_path(err.instance_path().as_str());
        let mut at = base.to_vec();
        at.extend(rel.iter().cloned());
        match err.kind() {
            jsonschema::error::ValidationErrorKind::AdditionalProperties { unexpected } => {
                let known = known_keys(schema, &rel);
                for key in unexpected {
                    let mut k = at.clone();
                    k.push(key.clone());
                    let hint = did_you_mean(key, known.iter().copied()).or_else(|| {
                        if known.is_empty() {
                            None
                        } else {
                            Some(format!("valid keys here: {}", known.join(", ")))
                        }
                    });
                    c.push(&k, format!("unknown key `{key}`"), hint);
                }
            }
            jsonschema::error::ValidationErrorKind::Required { property } => {
                let name = property
                    .as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| property.to_string());
                c.push(&at, format!("missing key `{name}`"), None);
            }
            jsonschema::error::ValidationErrorKind::Pattern { .. } => {
                let what = super::sensitive::subschema_at(schema, schema, &rel)
                    .and_then(|s| s.get("description"))
                    .and_then(|d| d.as_str())
                    .map(|d| {
                        let d = d.replace('\n', " ");
                        d.split(". ")
                            .next()
                            .unwrap_or(&d)
                            .trim_end_matches('.')
                            .to_string()
                    });
                let shown = if super::sensitive::path_is_sensitive(schema, &rel) {
                    "the value".to_string()
                } else {
                    format!("`{}`", err.instance().as_str().unwrap_or_default())
                };
                let message = match what {
                    Some(w) => format!("{shown} is not of the accepted form ({w})"),
                    None => format!("{shown} is not of the accepted form"),
                };
                c.push(&at, message, None);
            }
            _ if super::sensitive::path_is_sensitive(schema, &rel) => c.push(
                &at,
                "the value is not valid here (not shown: this key is sensitive)".to_string(),
                None,
            ),
            _ => c.push(&at, err.to_string(), None),
        }
    }
}

/// The JSON Schema of a pipeline file: engine sections, every source type and every
/// plugin in `registry`, for the YAML language server (`# yaml-language-server: $schema=…`).
pub fn pipeline_json_schema(registry: &Registry) -> serde_json::Value {
    let mut root = engine_schema();
    let component = |type_name: &str,
                     schema: &serde_json::Value,
                     with_inputs: bool|
     -> serde_json::Value {
        let mut s = schema.clone();
        if let Some(obj) = s.as_object_mut() {
            obj.remove("$schema");
            let props = obj
                .entry("properties")
                .or_insert_with(|| serde_json::json!({}));
            if let Some(props) = props.as_object_mut() {
                props.insert(
                    "type".into(),
                    serde_json::json!({"const": type_name, "description": "The component type."}),
                );
                if with_inputs {
                    props.insert("inputs".into(), serde_json::json!({"type": "array", "items": {"type": "string"}, "description": "Components (or `component.output`) this one reads."}));
                }
            }
            let req = obj
                .entry("required")
                .or_insert_with(|| serde_json::json!([]));
            if let Some(r) = req.as_array_mut() {
                r.push("type".into());
                if with_inputs {
                    r.push("inputs".into());
                }
            }
        }
        s
    };
    let sources = registry
        .sources
        .iter()
        .map(|f| component(f.type_name(), &f.config_schema(), false))
        .collect();
    let mut transforms = Vec::new();
    let mut sinks = Vec::new();
    for meta in registry.all() {
        let s = component(&meta.name, &meta.config_schema, true);
        match meta.kind {
            tributary_plugin_sdk::PluginKind::Sink => sinks.push(s),
            tributary_plugin_sdk::PluginKind::Transform => transforms.push(s),
        }
    }
    if let Some(props) = root.get_mut("properties").and_then(|p| p.as_object_mut()) {
        for (section, list) in [
            ("sources", sources),
            ("transforms", transforms),
            ("sinks", sinks),
        ] {
            props.insert(
                section.into(),
                serde_json::json!({"type": "object", "additionalProperties": {"oneOf": list}}),
            );
        }
    }
    root
}

fn type_of(root: &serde_json::Value, node: &serde_json::Value) -> String {
    let node = resolve_ref(root, node);
    // A closed set of values names them (`"strict" | "merge"`), not only their type.
    if let Some(c) = node.get("const") {
        return c.to_string();
    }
    if let Some(e) = node.get("enum").and_then(|e| e.as_array()) {
        return e
            .iter()
            .map(|v| v.to_string())
            .collect::<Vec<_>>()
            .join(" | ");
    }
    if let Some(t) = node.get("type") {
        return match t {
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Array(a) => a
                .iter()
                .filter_map(|v| v.as_str())
                .collect::<Vec<_>>()
                .join(" | "),
            _ => "any".into(),
        };
    }
    if let Some(any) = node
        .get("anyOf")
        .or_else(|| node.get("oneOf"))
        .and_then(|a| a.as_array())
    {
        return any
            .iter()
            .map(|n| type_of(root, n))
            .collect::<Vec<_>>()
            .join(" | ");
    }
    "any".into()
}

fn resolve_ref<'a>(
    root: &'a serde_json::Value,
    node: &'a serde_json::Value,
) -> &'a serde_json::Value {
    let mut node = node;
    for _ in 0..16 {
        match node
            .get("$ref")
            .and_then(|r| r.as_str())
            .and_then(|r| r.strip_prefix('#'))
            .and_then(|p| root.pointer(p))
        {
            Some(n) => node = n,
            None => break,
        }
    }
    node
}

fn describe_object(
    root: &serde_json::Value,
    node: &serde_json::Value,
    prefix: &str,
    out: &mut String,
    depth: usize,
) {
    let node = resolve_ref(root, node);
    let Some(props) = node.get("properties").and_then(|p| p.as_object()) else {
        return;
    };
    let required: Vec<&str> = node
        .get("required")
        .and_then(|r| r.as_array())
        .map(|a| a.iter().filter_map(|v| v.as_str()).collect())
        .unwrap_or_default();
    for (key, prop) in props {
        let full = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        let resolved = resolve_ref(root, prop);
        let desc = prop
            .get("description")
            .or_else(|| resolved.get("description"))
            .and_then(|d| d.as_str())
            .unwrap_or("")
            .replace('\n', " ");
        // A sensitive key's default is serialised as `**REDACTED**`: say what it is instead.
        let sensitive = super::sensitive::is_sensitive(prop, root);
        let default = prop
            .get("default")
            .map(|d| {
                if sensitive && !d.is_null() {
                    "(sensitive, not shown)".to_string()
                } else {
                    format!("`{d}`")
                }
            })
            .unwrap_or_else(|| {
                if required.contains(&key.as_str()) {
                    "required".into()
                } else {
                    "".into()
                }
            });
        out.push_str(&format!(
            "| `{full}` | {} | {default} | {desc} |\n",
            type_of(root, prop).replace('|', "\\|")
        ));
        // Nested objects (one level of `Option<T>` unwrapped).
        let inner = resolved
            .get("anyOf")
            .and_then(|a| a.as_array())
            .and_then(|a| {
                a.iter()
                    .find(|n| n.get("type") != Some(&serde_json::json!("null")))
            })
            .map(|n| resolve_ref(root, n))
            .unwrap_or(resolved);
        if depth < 3 && inner.get("properties").is_some() {
            describe_object(root, inner, &full, out, depth + 1);
        }
    }
}

/// The configuration reference (`docs/configuration.md`), generated from the schemas of
/// the engine sections, every source type and every plugin in `registry`.
pub fn reference_markdown(registry: &Registry) -> String {
    let mut out = String::from(
        "# Configuration reference\n\n<!-- Generated by `tributary schema --markdown`; a test fails when it is stale. -->\n\n\
         A pipeline file has engine sections and three maps of named components. Any key can be \
         set from the environment: `TRIBUTARY__SINKS__LAKE__URL=…` sets `sinks.lake.url`; each \
         segment takes the spelling of the key the file has there, compared case-insensitively \
         (`TRIBUTARY__SINKS__MYLAKE__URL` sets `sinks.MyLake.url`), and a segment no key matches is \
         lowercased. String values may use `${VAR}` and `${VAR:-default}`.\n\n## Engine sections\n\n| key | type | default | description |\n|---|---|---|---|\n",
    );
    let engine = engine_schema();
    describe_object(&engine, &engine, "", &mut out, 0);
    for f in registry.sources.iter() {
        out.push_str(&format!(
            "\n## Source `{t}`\n\n{d}\n\nUnder `sources.<name>` with `type: {t}`.\n\n| key | type | default | description |\n|---|---|---|---|\n",
            t = f.type_name(),
            d = f.description(),
        ));
        let src = f.config_schema();
        describe_object(&src, &src, "", &mut out, 0);
    }
    let mut metas: Vec<_> = registry
        .all()
        .filter(|m| {
            let f = m.path.file_name().and_then(|f| f.to_str()).unwrap_or("");
            f.starts_with("libtributary_sink_") || f.starts_with("libtributary_transform_")
        })
        .collect();
    metas.sort_by(|a, b| (a.kind.to_string(), &a.name).cmp(&(b.kind.to_string(), &b.name)));
    for m in metas {
        out.push_str(&format!(
            "\n## {} `{}`\n\nUnder `{}.<name>` with `type: {}` and `inputs: [...]`. Plugin version {}.\n\n| key | type | default | description |\n|---|---|---|---|\n",
            if m.kind == tributary_plugin_sdk::PluginKind::Sink { "Sink" } else { "Transform" },
            m.name,
            if m.kind == tributary_plugin_sdk::PluginKind::Sink { "sinks" } else { "transforms" },
            m.name,
            m.version
        ));
        describe_object(&m.config_schema, &m.config_schema, "", &mut out, 0);
        if let Some(outs) = crate::plugins::declared_outputs(&m.config_schema) {
            out.push_str(&format!(
                "\nNamed outputs: {}.\n",
                outs.iter()
                    .map(|o| format!("`<name>.{o}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_keys_follow_refs() {
        let root = engine_schema();
        let keys = known_keys(&root, &["state".to_string()]);
        assert!(keys.contains(&"url"), "{keys:?}");
        let top = known_keys(&root, &[]);
        assert!(top.contains(&"sinks"));
    }
}
