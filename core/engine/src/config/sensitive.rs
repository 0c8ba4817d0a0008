//! Schema-driven redaction: a key is secret when the JSON Schema of its component says so
//! (`writeOnly: true` or `x-sensitive: true`, as the SDK's `Secret` type does), whatever
//! its name. Key-name guessing ([`super::redact`]) stays as a second net for schemas
//! that mark nothing.

use serde_json::Value;

/// The text put in place of a secret.
pub const REDACTED: &str = "**REDACTED**";

/// Follows a local `$ref` (`#/$defs/X`, `#/definitions/X`) against `root`.
fn resolve<'a>(schema: &'a Value, root: &'a Value) -> &'a Value {
    let mut s = schema;
    for _ in 0..16 {
        match s.get("$ref").and_then(Value::as_str) {
            Some(r) => match r.strip_prefix('#').and_then(|p| root.pointer(p)) {
                Some(t) => s = t,
                None => return s,
            },
            None => return s,
        }
    }
    s
}

/// The branches of a schema: itself, and those of `anyOf`/`oneOf`/`allOf`.
fn branches<'a>(schema: &'a Value, root: &'a Value) -> Vec<&'a Value> {
    let s = resolve(schema, root);
    let mut out = vec![s];
    for key in ["anyOf", "oneOf", "allOf"] {
        if let Some(list) = s.get(key).and_then(Value::as_array) {
            for b in list {
                out.extend(branches(b, root));
            }
        }
    }
    out
}

/// True when the schema (or one of its branches) marks its value as secret.
pub fn is_sensitive(schema: &Value, root: &Value) -> bool {
    branches(schema, root).into_iter().any(|s| {
        s.get("writeOnly").and_then(Value::as_bool) == Some(true)
            || s.get("x-sensitive").and_then(Value::as_bool) == Some(true)
    })
}

/// The schema of key `key` inside an object schema (its `properties`, else its
/// `additionalProperties`), looking through branches.
fn property<'a>(schema: &'a Value, root: &'a Value, key: &str) -> Option<&'a Value> {
    let bs = branches(schema, root);
    bs.iter()
        .find_map(|s| s.get("properties").and_then(|p| p.get(key)))
        .or_else(|| {
            bs.iter()
                .find_map(|s| s.get("additionalProperties").filter(|a| a.is_object()))
        })
}

/// The schema at a path of keys (array indices pass through `items`).
pub fn subschema_at<'a>(schema: &'a Value, root: &'a Value, path: &[String]) -> Option<&'a Value> {
    let mut s = schema;
    for key in path {
        s = if key.parse::<usize>().is_ok() {
            branches(s, root)
                .into_iter()
                .find_map(|b| b.get("items"))
                .or_else(|| property(s, root, key))?
        } else {
            property(s, root, key)?
        };
    }
    Some(s)
}

/// True when the value at `path` is secret by `schema`, or lies under a secret value.
pub fn path_is_sensitive(schema: &Value, path: &[String]) -> bool {
    (0..=path.len()).any(|n| {
        path.get(..n)
            .and_then(|p| subschema_at(schema, schema, p))
            .is_some_and(|s| is_sensitive(s, schema))
    })
}

/// A copy of `value` with every value its schema marks secret replaced.
pub fn redact_with(value: &Value, schema: &Value) -> Value {
    walk(value, schema, schema)
}

fn walk(value: &Value, schema: &Value, root: &Value) -> Value {
    match value {
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| {
                    let v = match property(schema, root, k) {
                        Some(s) if is_sensitive(s, root) && !v.is_null() => {
                            Value::String(REDACTED.into())
                        }
                        Some(s) => walk(v, s, root),
                        None => v.clone(),
                    };
                    (k.clone(), v)
                })
                .collect(),
        ),
        Value::Array(a) => {
            let items = branches(schema, root)
                .into_iter()
                .find_map(|b| b.get("items"));
            Value::Array(
                a.iter()
                    .map(|v| match items {
                        Some(s) if is_sensitive(s, root) && !v.is_null() => {
                            Value::String(REDACTED.into())
                        }
                        Some(s) => walk(v, s, root),
                        None => v.clone(),
                    })
                    .collect(),
            )
        }
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_found_by_schema_not_by_name() {
        let schema = serde_json::json!({
            "type": "object",
            "properties": {
                "dsn": {"anyOf": [{"$ref": "#/$defs/Secret"}, {"type": "null"}]},
                "token_count": {"type": "integer"},
                "nested": {"type": "object", "properties": {"pw": {"type": "string", "x-sensitive": true}}},
                "list": {"type": "array", "items": {"$ref": "#/$defs/Secret"}}
            },
            "$defs": {"Secret": {"type": "string", "writeOnly": true}}
        });
        let v = serde_json::json!({
            "dsn": "postgres://u:p@h/db", "token_count": 3,
            "nested": {"pw": "hunter2"}, "list": ["a", "b"], "other": "x"
        });
        let r = redact_with(&v, &schema);
        assert_eq!(
            r,
            serde_json::json!({
                "dsn": REDACTED, "token_count": 3,
                "nested": {"pw": REDACTED}, "list": [REDACTED, REDACTED], "other": "x"
            })
        );
        assert!(path_is_sensitive(&schema, &["nested".into(), "pw".into()]));
        assert!(path_is_sensitive(&schema, &["list".into(), "1".into()]));
        assert!(!path_is_sensitive(&schema, &["token_count".into()]));
    }
}
