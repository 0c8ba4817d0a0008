//! Pipeline unit tests (`tributary test FILE`), as `vector test` offers them: records
//! declared in YAML are fed through one of a pipeline's transforms, and the declared
//! expectations on its outputs and metrics are checked. No network, no source, no sink.
//!
//! ```yaml
//! pipeline: ../quickstart.yaml          # relative to this file
//! tests:
//!   - name: a record without agentId is rejected
//!     transform: checked
//!     input:
//!       - { id: a1, direction: inbound, medium: voice, startTime: "2023-01-01T00:00:00.000Z",
//!           endTime: "2023-01-01T00:01:00.000Z", queueId: q1, holdTime: 0, wrapTime: 0, talkTime: 60 }
//!     expect:
//!       outputs:
//!         main: { count: 0 }
//!         invalid: { count: 1, rows: [{ id: a1, _reason: "missing:agentId" }] }
//!       metrics: { integrity_rate: 0.0 }
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use arrow_array::RecordBatch;
use serde::Deserialize;
use tributary_plugin_sdk::{Checkpoint, CreateContext, Outputs, Transform};

use crate::config::{self, ConfigErrors};
use crate::error::EngineError;

/// A file of pipeline unit tests.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestFile {
    /// The pipeline whose transforms are tested, relative to the test file.
    pub pipeline: String,
    /// The tests.
    pub tests: Vec<TestCase>,
}

/// One test.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestCase {
    /// What it shows.
    pub name: String,
    /// The transform to feed (a key of `transforms`).
    pub transform: String,
    /// Records, as the source would produce them (keys are column names).
    pub input: Vec<serde_json::Map<String, serde_json::Value>>,
    /// What must come out.
    #[serde(default)]
    pub expect: Expect,
}

/// Expectations.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// By output name (`main` for the main output).
    #[serde(default)]
    pub outputs: BTreeMap<String, OutputExpect>,
    /// Run-level metrics the transform reports at the end (numbers compared to 1e-9).
    #[serde(default)]
    pub metrics: serde_json::Map<String, serde_json::Value>,
    /// The transform must fail with this kind (`data_quality`, `invalid_data`, …).
    #[serde(default)]
    pub error: Option<String>,
}

/// Expectations on one output.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutputExpect {
    /// Exact number of rows.
    #[serde(default)]
    pub count: Option<usize>,
    /// Rows that must appear (each listed field must equal; other fields are ignored).
    #[serde(default)]
    pub rows: Vec<serde_json::Map<String, serde_json::Value>>,
}

/// The outcome of one test.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TestOutcome {
    /// Its name.
    pub name: String,
    /// Problems found; empty when it passed.
    pub failures: Vec<String>,
}

fn rows_of(
    batches: &[RecordBatch],
) -> Result<Vec<serde_json::Map<String, serde_json::Value>>, String> {
    let mut buf = Vec::new();
    {
        let mut w = arrow_json::ArrayWriter::new(&mut buf);
        for b in batches {
            w.write(b).map_err(|e| e.to_string())?;
        }
        w.finish().map_err(|e| e.to_string())?;
    }
    if buf.is_empty() {
        return Ok(Vec::new());
    }
    serde_json::from_slice(&buf).map_err(|e| e.to_string())
}

fn same(expected: &serde_json::Value, actual: Option<&serde_json::Value>) -> bool {
    match (expected, actual) {
        (serde_json::Value::Null, None) => true,
        (serde_json::Value::Number(a), Some(serde_json::Value::Number(b))) => {
            match (a.as_f64(), b.as_f64()) {
                (Some(x), Some(y)) => (x - y).abs() < 1e-9,
                _ => a == b,
            }
        }
        (e, Some(a)) => e == a,
        _ => false,
    }
}

fn run_case(
    case: &TestCase,
    pipeline: &config::Pipeline,
    registry: &crate::plugins::Registry,
    schema: &arrow_schema::SchemaRef,
) -> Vec<String> {
    let mut failures = Vec::new();
    let Some(spec) = pipeline
        .transforms
        .iter()
        .find(|t| t.name == case.transform)
    else {
        let names: Vec<&str> = pipeline
            .transforms
            .iter()
            .map(|t| t.name.as_str())
            .collect();
        return vec![format!(
            "the pipeline has no transform `{}`{}",
            case.transform,
            config::did_you_mean(&case.transform, names.iter().copied())
                .map(|h| format!(" ({h})"))
                .unwrap_or_default()
        )];
    };
    let Some(lib) = registry.get(&spec.type_name) else {
        return vec![format!("no plugin `{}`", spec.type_name)];
    };
    let ctx = CreateContext {
        component: spec.name.clone(),
        pipeline: pipeline.header.name.clone(),
        run_id: "test".into(),
        ..Default::default()
    };
    let mut t = match lib.create_transform(&spec.config, &ctx) {
        Ok(t) => t,
        Err(e) => return vec![format!("cannot create the transform: {e}")],
    };
    let batch = match input_batch(&case.input, schema) {
        Ok(b) => b,
        Err(e) => {
            return vec![format!(
                "the input records do not fit the source's columns: {e}"
            )];
        }
    };
    let (outputs, metrics, error) = drive(&mut t, &batch);
    check_error(case.expect.error.as_deref(), error.as_ref(), &mut failures);
    check_outputs(&case.expect.outputs, &outputs, &mut failures);
    check_metrics(&case.expect.metrics, &metrics, &mut failures);
    failures
}

/// The test's input records as one batch of the source's schema.
fn input_batch(
    input: &[serde_json::Map<String, serde_json::Value>],
    schema: &arrow_schema::SchemaRef,
) -> Result<RecordBatch, String> {
    let mut ndjson = Vec::new();
    for r in input {
        if let Ok(line) = serde_json::to_vec(r) {
            ndjson.extend_from_slice(&line);
            ndjson.push(b'\n');
        }
    }
    arrow_json::ReaderBuilder::new(schema.clone())
        .with_strict_mode(false)
        .build(std::io::Cursor::new(ndjson))
        .map_err(|e| e.to_string())
        .and_then(|r| r.collect::<Result<Vec<_>, _>>().map_err(|e| e.to_string()))
        .and_then(|v| arrow_select::concat::concat_batches(schema, &v).map_err(|e| e.to_string()))
}

/// What a transform emits and reports for one window: outputs by name, metrics, the
/// first error.
type Driven = (
    BTreeMap<String, Vec<RecordBatch>>,
    serde_json::Map<String, serde_json::Value>,
    Option<tributary_plugin_sdk::PluginError>,
);

/// Processes the batch, flushes one window and closes.
fn drive(t: &mut dyn Transform, batch: &RecordBatch) -> Driven {
    let mut outputs: BTreeMap<String, Vec<RecordBatch>> = BTreeMap::new();
    let mut metrics = serde_json::Map::new();
    let mut error: Option<tributary_plugin_sdk::PluginError> = None;
    let mut out = Outputs::new();
    let cp = Checkpoint {
        run_id: "test".into(),
        window_id: "test-window".into(),
        ..Default::default()
    };
    let steps: Result<(), tributary_plugin_sdk::PluginError> = (|| {
        t.process(batch, &mut out)?;
        let a = t.flush(&cp, &mut out)?;
        metrics.extend(a.metrics);
        let a = t.close(&mut out)?;
        metrics.extend(a.metrics);
        Ok(())
    })();
    if let Err(e) = steps {
        error = Some(e);
    }
    for (name, b) in out.take() {
        outputs
            .entry(if name.is_empty() { "main".into() } else { name })
            .or_default()
            .push(b);
    }
    (outputs, metrics, error)
}

fn check_error(
    expected: Option<&str>,
    error: Option<&tributary_plugin_sdk::PluginError>,
    failures: &mut Vec<String>,
) {
    match (expected, error) {
        (Some(kind), Some(e)) => {
            let actual = serde_json::to_value(e.kind)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default();
            if actual != kind {
                failures.push(format!(
                    "expected a `{kind}` error, got `{actual}`: {}",
                    e.message
                ));
            }
        }
        (Some(kind), None) => failures.push(format!(
            "expected a `{kind}` error, but the transform succeeded"
        )),
        (None, Some(e)) => {
            failures.push(format!(
                "the transform failed: {e} (declare `expect: {{ error: {} }}` if that is intended)",
                serde_json::to_value(e.kind)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default()
            ));
        }
        _ => {}
    }
}

fn check_outputs(
    expected: &BTreeMap<String, OutputExpect>,
    outputs: &BTreeMap<String, Vec<RecordBatch>>,
    failures: &mut Vec<String>,
) {
    for (name, exp) in expected {
        let batches = outputs.get(name).cloned().unwrap_or_default();
        let rows = match rows_of(&batches) {
            Ok(r) => r,
            Err(e) => {
                failures.push(format!("output `{name}`: cannot read rows: {e}"));
                continue;
            }
        };
        if let Some(n) = exp.count {
            if rows.len() != n {
                failures.push(format!(
                    "output `{name}`: expected {n} rows, got {}",
                    rows.len()
                ));
            }
        }
        for want in &exp.rows {
            if !rows
                .iter()
                .any(|row| want.iter().all(|(k, v)| same(v, row.get(k))))
            {
                failures.push(format!(
                    "output `{name}`: no row matches {}; got {}",
                    serde_json::Value::Object(want.clone()),
                    serde_json::Value::Array(
                        rows.iter()
                            .cloned()
                            .map(serde_json::Value::Object)
                            .collect()
                    )
                ));
            }
        }
    }
}

fn check_metrics(
    expected: &serde_json::Map<String, serde_json::Value>,
    metrics: &serde_json::Map<String, serde_json::Value>,
    failures: &mut Vec<String>,
) {
    for (k, v) in expected {
        if !same(v, metrics.get(k)) {
            failures.push(format!(
                "metric `{k}`: expected {v}, got {}",
                metrics
                    .get(k)
                    .map(|m| m.to_string())
                    .unwrap_or_else(|| "nothing".into())
            ));
        }
    }
}

/// Runs every test of a file.
///
/// # Errors
/// When the test file or its pipeline cannot be read or is invalid.
pub fn run_file(
    path: &Path,
    sources: &tributary_source::SourceCatalog,
) -> Result<Vec<TestOutcome>, EngineError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        EngineError::Usage(format!(
            "{}: cannot read the test file: {e}",
            path.display()
        ))
    })?;
    let file: TestFile = serde_yaml::from_str(&text).map_err(|e| {
        let at = e
            .location()
            .map(|l| format!(":{}:{}", l.line(), l.column()))
            .unwrap_or_default();
        EngineError::Usage(format!("{}{at}: {e}", path.display()))
    })?;
    let pipeline_path: PathBuf = path.parent().unwrap_or(Path::new(".")).join(&file.pipeline);
    let (pipeline, registry) =
        crate::load(&pipeline_path, sources).map_err(|e: ConfigErrors| EngineError::Config(e))?;
    let spec = crate::source::only_source(&pipeline)?;
    let schema = crate::source::instantiate(&pipeline, spec, Default::default())?
        .schema()
        .map_err(|e| crate::source::source_error(spec, e))?;
    Ok(file
        .tests
        .iter()
        .map(|case| TestOutcome {
            name: case.name.clone(),
            failures: run_case(case, &pipeline, &registry, &schema),
        })
        .collect())
}
