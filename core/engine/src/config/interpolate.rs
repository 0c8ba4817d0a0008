//! `${VAR}` and `${VAR:-default}` interpolation of string values from the environment.
//! `$${` is a literal `${`. Interpolation happens on parsed values, never on the YAML text,
//! so a variable's value cannot inject YAML structure.

/// Interpolates one string. Returns the result or the names of unset variables.
pub fn interpolate_str(
    s: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<String, Vec<String>> {
    if !s.contains('$') {
        return Ok(s.to_string());
    }
    let mut out = String::with_capacity(s.len());
    let mut missing = Vec::new();
    let mut rest = s;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(stripped) = after.strip_prefix("${") {
            out.push_str("${");
            rest = stripped;
        } else if let Some(body) = after.strip_prefix('{') {
            match body.find('}') {
                Some(end) => {
                    let expr = &body[..end];
                    let (name, default) = match expr.split_once(":-") {
                        Some((n, d)) => (n, Some(d)),
                        None => (expr, None),
                    };
                    match (
                        env(name).filter(|v| !(v.is_empty() && default.is_some())),
                        default,
                    ) {
                        (Some(v), _) => out.push_str(&v),
                        (None, Some(d)) => out.push_str(d),
                        (None, None) => missing.push(name.to_string()),
                    }
                    rest = &body[end + 1..];
                }
                None => {
                    // No closing brace: keep the text as written.
                    out.push('$');
                    rest = after;
                }
            }
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    if missing.is_empty() {
        Ok(out)
    } else {
        Err(missing)
    }
}

/// Interpolates every string in a value; reports each unset variable with its key path.
pub fn interpolate_value(
    v: &mut serde_json::Value,
    path: &mut Vec<String>,
    env: &dyn Fn(&str) -> Option<String>,
    problems: &mut Vec<(Vec<String>, String)>,
) {
    match v {
        serde_json::Value::String(s) => match interpolate_str(s, env) {
            Ok(new) => *s = new,
            Err(names) => {
                for n in names {
                    problems.push((path.clone(), n));
                }
            }
        },
        serde_json::Value::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                path.push(i.to_string());
                interpolate_value(item, path, env, problems);
                path.pop();
            }
        }
        serde_json::Value::Object(map) => {
            for (k, item) in map.iter_mut() {
                path.push(k.clone());
                interpolate_value(item, path, env, problems);
                path.pop();
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "SITE" => Some("acme".into()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    #[test]
    fn forms() {
        assert_eq!(
            interpolate_str("https://${SITE}.api", &env).unwrap(),
            "https://acme.api"
        );
        assert_eq!(interpolate_str("${NOPE:-dflt}", &env).unwrap(), "dflt");
        assert_eq!(interpolate_str("${EMPTY:-dflt}", &env).unwrap(), "dflt");
        assert_eq!(interpolate_str("$${SITE} $5", &env).unwrap(), "${SITE} $5");
        assert_eq!(
            interpolate_str("${A}${B}", &env).unwrap_err(),
            vec!["A", "B"]
        );
    }
}
