//! Graph checks of a pipeline: every input names a component output that exists, the
//! transforms form no cycle (and get their run order), and every source and transform
//! output is read by something.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::diagnostics::{Collector, did_you_mean};
use super::model::{ComponentKind, ComponentSpec};

/// The outputs of each component: its kind and, for transforms, the named outputs it
/// declares (`None`: any name).
pub(super) type Outputs = HashMap<String, (ComponentKind, Option<Vec<String>>)>;

/// Checks that every input names an existing output of another, non-sink component.
pub(super) fn check_inputs(specs: &[ComponentSpec], outputs: &Outputs, c: &mut Collector<'_>) {
    let names: Vec<&str> = outputs.keys().map(String::as_str).collect();
    for spec in specs {
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
}

/// The transforms in an order where each comes after the transforms it reads, or the
/// first cycle found (`a → b → a`).
///
/// # Errors
/// The names along a cycle, its first name repeated at the end.
pub fn transform_order(specs: &[ComponentSpec]) -> Result<Vec<String>, Vec<String>> {
    let transforms: BTreeMap<&str, &ComponentSpec> = specs
        .iter()
        .filter(|s| s.kind == ComponentKind::Transform)
        .map(|s| (s.name.as_str(), s))
        .collect();
    let mut order: Vec<String> = Vec::new();
    let mut state: HashMap<&str, Mark> = HashMap::new();
    for name in transforms.keys() {
        let mut stack = Vec::new();
        if let Some(cycle) = visit(name, &transforms, &mut state, &mut order, &mut stack) {
            return Err(cycle);
        }
    }
    Ok(order)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mark {
    Visiting,
    Done,
}

/// Depth-first visit; returns the cycle through `n` if one is found.
fn visit<'a>(
    n: &'a str,
    t: &BTreeMap<&'a str, &'a ComponentSpec>,
    state: &mut HashMap<&'a str, Mark>,
    order: &mut Vec<String>,
    stack: &mut Vec<&'a str>,
) -> Option<Vec<String>> {
    match state.get(n) {
        Some(Mark::Done) => return None,
        Some(Mark::Visiting) => {
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
        None => {}
    }
    state.insert(n, Mark::Visiting);
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
    state.insert(n, Mark::Done);
    order.push(n.to_string());
    None
}

/// Flags every source or transform no component reads.
pub(super) fn check_unused(specs: &[ComponentSpec], c: &mut Collector<'_>) {
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::InputRef;

    fn t(name: &str, inputs: &[&str]) -> ComponentSpec {
        ComponentSpec {
            name: name.into(),
            kind: ComponentKind::Transform,
            type_name: "validate".into(),
            inputs: inputs
                .iter()
                .map(|i| InputRef {
                    component: i.to_string(),
                    output: String::new(),
                })
                .collect(),
            config: serde_json::json!({}),
        }
    }

    #[test]
    fn order_puts_each_transform_after_what_it_reads() {
        let specs = [t("c", &["b"]), t("a", &["src"]), t("b", &["a"])];
        assert_eq!(transform_order(&specs).unwrap(), ["a", "b", "c"]);
    }

    #[test]
    fn a_cycle_is_named_along_its_path() {
        let specs = [t("a", &["src", "c"]), t("b", &["a"]), t("c", &["b"])];
        assert_eq!(transform_order(&specs).unwrap_err(), ["a", "c", "b", "a"]);
        let self_loop = [t("x", &["x"])];
        assert_eq!(transform_order(&self_loop).unwrap_err(), ["x", "x"]);
    }

    #[test]
    fn a_diamond_is_no_cycle() {
        let specs = [
            t("a", &["src"]),
            t("b", &["a"]),
            t("c", &["a"]),
            t("d", &["b", "c"]),
        ];
        let order = transform_order(&specs).unwrap();
        let pos = |n: &str| order.iter().position(|o| o == n).unwrap();
        assert!(pos("a") < pos("b") && pos("b") < pos("d") && pos("c") < pos("d"));
    }
}
