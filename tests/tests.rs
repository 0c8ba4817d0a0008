//! End-to-end tests of the `tributary` CLI: configuration errors, the quick start against
//! the built-in simulator, independent read-back with pyarrow, audit verification,
//! resume and sharding.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod util;

use std::path::Path;

use util::{read_arrow_rows, read_parquet_ids, root, text, tributary};

/// Every broken pipeline file gets its specific message, exit code 2, and no panic.
#[test]
fn broken_pipelines_get_specific_messages() {
    let cases: &[(&str, &[&str])] = &[
        (
            "syntax_error.yaml",
            &["syntax_error.yaml:3:", "YAML syntax error"],
        ),
        (
            "unknown_top_key.yaml",
            &["unknown key `sinkz`", "did you mean `sinks`?"],
        ),
        ("missing_name.yaml", &["missing key `name`"]),
        (
            "unknown_source_type.yaml",
            &[
                "sources.cxone.type",
                "unknown source type `cxon`",
                "did you mean `cxone`?",
            ],
        ),
        (
            "unknown_sink_type.yaml",
            &[
                "sinks.out.type",
                "no sink plugin named `parket`",
                "did you mean `parquet`?",
            ],
        ),
        (
            "dangling_input.yaml",
            &[
                "sinks.out.inputs.0",
                "`cxon` is not a component",
                "did you mean `cxone`?",
            ],
        ),
        ("cycle.yaml", &["the inputs form a cycle", "a → b → a"]),
        (
            "unset_variable.yaml",
            &[
                "sources.cxone.client_secret",
                "`TRIBUTARY_TEST_SURELY_UNSET` is not set",
            ],
        ),
        ("wrong_type.yaml", &["sources.cxone.page_size", "\"lots\""]),
        (
            "unknown_sink_key.yaml",
            &[
                "sinks.lake.partiton_by",
                "unknown key `partiton_by`",
                "did you mean `partition_by`?",
            ],
        ),
        (
            "missing_inputs.yaml",
            &["sinks.out", "missing key `inputs`"],
        ),
        (
            "bad_output_name.yaml",
            &[
                "sinks.bad.inputs.0",
                "no output named `invalidd`",
                "did you mean `invalid`?",
            ],
        ),
        ("sink_as_input.yaml", &["sinks.b.inputs.0", "`a` is a sink"]),
        ("no_sinks.yaml", &["at least one sink is required"]),
        ("end_before_start.yaml", &["sources.cxone.date_range"]),
        ("not_a_mapping.yaml", &["must be a mapping"]),
        ("duplicate_name.yaml", &["the name `cxone` is already used"]),
        (
            "many_problems.yaml",
            &[
                "unknown key `on_invalidd`",
                "`chekced` is not a component",
                "no sink plugin named `arow`",
                "3 problems",
            ],
        ),
        (
            "unused_source.yaml",
            &["sources.other", "is read by no component"],
        ),
        ("does_not_exist.yaml", &["cannot read the pipeline file"]),
    ];
    let dir = root().join("tests/data/broken");
    assert!(cases.len() >= 15);
    for (file, expected) in cases {
        let out = tributary(&dir, &["validate", file], &[]);
        let t = text(&out);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{file}: expected exit 2, got {:?}\n{t}",
            out.status.code()
        );
        assert!(!t.contains("panicked"), "{file}: panic\n{t}");
        for e in *expected {
            assert!(t.contains(e), "{file}: expected `{e}` in:\n{t}");
        }
        // Every diagnostic names the file, and a line where one is known.
        if *file != "does_not_exist.yaml" {
            assert!(
                t.contains(&format!("{file}:")),
                "{file}: no file:line in\n{t}"
            );
        }
    }
}

/// Every shipped pipeline validates.
#[test]
fn shipped_pipelines_validate() {
    let dir = root().join("pipelines");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let p = entry.unwrap().path();
        if p.extension().and_then(|e| e.to_str()) != Some("yaml") {
            continue;
        }
        let out = tributary(&root(), &["validate", p.to_str().unwrap()], &[]);
        assert!(out.status.success(), "{}: {}", p.display(), text(&out));
        n += 1;
    }
    assert!(n >= 1);
}

fn quickstart_in(dir: &Path, end: &str) -> std::process::Output {
    // The quick start file itself, shortened through the documented environment override.
    let file = root().join("pipelines/quickstart.yaml");
    tributary(
        dir,
        &["run", file.to_str().unwrap()],
        &[("TRIBUTARY__SOURCES__CXONE__DATE_RANGE__END", end)],
    )
}

/// The quick start lands exactly the simulator's records as Parquet (read back by pyarrow),
/// routes rejects to Arrow files, and writes an audit log that verifies.
#[test]
fn quickstart_lands_the_simulators_records() {
    let tmp = tempfile::tempdir().unwrap();
    let out = quickstart_in(tmp.path(), "2023-02-15");
    let t = text(&out);
    assert!(out.status.success(), "quickstart failed:\n{t}");
    assert!(t.contains("SUCCEEDED"), "{t}");

    // The simulator's truth for the same range and seed.
    let cfg = tributary_cxone_sim::SimConfig {
        seed: 42,
        records_per_day: 2740,
        ..Default::default()
    };
    let start = chrono::DateTime::parse_from_rfc3339("2023-01-01T00:00:00Z")
        .unwrap()
        .to_utc();
    let end = chrono::DateTime::parse_from_rfc3339("2023-02-15T23:59:59.999Z")
        .unwrap()
        .to_utc();
    let truth: Vec<String> = tributary_cxone_sim::records_in_range(&cfg, start, end)
        .map(|r| r.id)
        .collect();
    assert!(truth.len() > 100_000, "{}", truth.len());

    let (lake_rows, lake_digest, files) = read_parquet_ids(&tmp.path().join("out/quickstart/lake"));
    let rejects = read_arrow_rows(&tmp.path().join("out/quickstart/rejects"));
    let archive = read_arrow_rows(&tmp.path().join("out/quickstart/arrow"));
    assert!(files >= 46, "one file per day at least: {files}");
    assert!(
        rejects > 0,
        "the simulator injects missing fields; some rows must be rejected"
    );
    assert_eq!(
        lake_rows + rejects,
        truth.len() as u64,
        "every record lands once, valid or rejected"
    );
    assert_eq!(archive, lake_rows);
    // The summary's number is the number on disk.
    assert!(
        t.contains(&format_num(truth.len() as u64)),
        "summary lacks the record count:\n{t}"
    );
    // Valid ids are a subset of the truth, and none is doubled.
    assert_ne!(lake_digest, util::digest(truth.clone()));

    let audit = tmp.path().join("out/quickstart/audit");
    let v = tributary(
        tmp.path(),
        &["audit", "verify", audit.to_str().unwrap()],
        &[],
    );
    assert!(v.status.success(), "{}", text(&v));
    assert!(text(&v).contains("intact"));
    let log = std::fs::read_to_string(audit.join("audit.jsonl")).unwrap();
    assert!(log.contains("\"kind\":\"window\""));
    assert!(
        !log.contains("sim-secret"),
        "a secret reached the audit log"
    );
}

fn format_num(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn small_pipeline(dir: &Path, name: &str, sinks_yaml: &str, extra_top: &str) -> std::path::PathBuf {
    let yaml = format!(
        r#"name: {name}
state: {{ url: {state} }}
{extra_top}
sources:
  cxone:
    type: cxone
    report_id: r1
    date_range: {{ start: 2023-01-01, end: 2023-03-31 }}
    columns: [id, direction, medium, startTime, endTime, agentId, queueId, holdTime, wrapTime, talkTime]
    max_window_days: 30
    poll_interval_ms: 5
    simulator: {{ seed: 7, records_per_day: 50 }}
sinks:
{sinks_yaml}
"#,
        state = dir.join("state").display()
    );
    let p = dir.join(format!("{name}.yaml"));
    std::fs::write(&p, yaml).unwrap();
    p
}

fn truth_q1(seed: u64, per_day: u32) -> Vec<String> {
    let cfg = tributary_cxone_sim::SimConfig {
        seed,
        records_per_day: per_day,
        ..Default::default()
    };
    let start = chrono::DateTime::parse_from_rfc3339("2023-01-01T00:00:00Z")
        .unwrap()
        .to_utc();
    let end = chrono::DateTime::parse_from_rfc3339("2023-03-31T23:59:59.999Z")
        .unwrap()
        .to_utc();
    tributary_cxone_sim::records_in_range(&cfg, start, end)
        .map(|r| r.id)
        .collect()
}

/// A sink written in C, compiled here with the system compiler, runs a pipeline.
#[test]
fn c_plugin_runs_a_pipeline() {
    let tmp = tempfile::tempdir().unwrap();
    let so = tmp.path().join("librow_log.so");
    let status = std::process::Command::new("cc")
        .args(["-shared", "-fPIC", "-O2", "-I"])
        .arg(root().join("plugins/sdk/include"))
        .arg("-o")
        .arg(&so)
        .arg(root().join("plugins/examples/c-sink/row_log.c"))
        .status()
        .expect("a C compiler (cc)");
    assert!(status.success());
    let log = tmp.path().join("rows.log");
    let p = small_pipeline(
        tmp.path(),
        "c-sink",
        &format!(
            "  rows:\n    type: row_log\n    inputs: [cxone]\n    path: {}\n",
            log.display()
        ),
        &format!("plugins: {{ files: [{{ path: {} }}] }}", so.display()),
    );
    let out = tributary(tmp.path(), &["run", p.to_str().unwrap()], &[]);
    assert!(out.status.success(), "{}", text(&out));
    let lines = std::fs::read_to_string(&log).unwrap();
    let total: u64 = lines
        .lines()
        .map(|l| l.split(' ').nth(1).unwrap().parse::<u64>().unwrap())
        .sum();
    assert_eq!(
        lines.lines().count(),
        4,
        "one line per window (90 days in 30-day windows + 1 day):\n{lines}"
    );
    assert_eq!(total, truth_q1(7, 50).len() as u64);

    // Pinning: the right hash loads, a wrong one is refused before loading.
    let sha = {
        let out = tributary(
            tmp.path(),
            &["plugins", "inspect", so.to_str().unwrap()],
            &[],
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        v["sha256"].as_str().unwrap().to_string()
    };
    let pinned = small_pipeline(
        tmp.path(),
        "c-sink-pinned",
        &format!(
            "  rows:\n    type: row_log\n    inputs: [cxone]\n    path: {}\n",
            log.display()
        ),
        &format!(
            "plugins: {{ files: [{{ path: {}, sha256: {} }}] }}",
            so.display(),
            "0".repeat(64)
        ),
    );
    let out = tributary(tmp.path(), &["validate", pinned.to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains(&sha),
        "the message names the actual hash: {}",
        text(&out)
    );
    assert!(
        text(&out).contains("plugins.files.0.path"),
        "{}",
        text(&out)
    );
}

/// The example Rust sink (its own crate, depending only on the SDK) runs a pipeline.
#[test]
fn rust_example_plugin_runs_a_pipeline() {
    let tmp = tempfile::tempdir().unwrap();
    let so = util::bin()
        .parent()
        .unwrap()
        .join("libtributary_example_jsonl_sink.so");
    assert!(
        so.exists(),
        "{} missing: build the workspace first (./scripts/test does)",
        so.display()
    );
    let out_file = tmp.path().join("windows.jsonl");
    let p = small_pipeline(
        tmp.path(),
        "rust-sink",
        &format!(
            "  counts:\n    type: jsonl_count\n    inputs: [cxone]\n    path: {}\n",
            out_file.display()
        ),
        "",
    );
    let out = tributary(tmp.path(), &["run", p.to_str().unwrap()], &[]);
    assert!(out.status.success(), "{}", text(&out));
    let total: u64 = std::fs::read_to_string(&out_file)
        .unwrap()
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["rows"]
                .as_u64()
                .unwrap()
        })
        .sum();
    assert_eq!(total, truth_q1(7, 50).len() as u64);
}

/// docs/configuration.md is generated from the schemas and must not be stale.
#[test]
fn configuration_reference_is_current() {
    let out = tributary(&root(), &["schema", "--markdown"], &[]);
    assert!(out.status.success(), "{}", text(&out));
    let generated = String::from_utf8(out.stdout).unwrap();
    for section in [
        "## Source `cxone`",
        "## Sink `parquet`",
        "## Sink `arrow`",
        "## Sink `webhook`",
        "## Transform `validate`",
    ] {
        assert!(generated.contains(section), "missing {section}");
    }
    let on_disk = std::fs::read_to_string(root().join("docs/configuration.md")).unwrap_or_default();
    assert!(
        on_disk == generated,
        "docs/configuration.md is stale: regenerate it with `./target/debug/tributary schema --markdown > docs/configuration.md`"
    );
}

/// The JSON Schema for editors covers the engine sections and every plugin.
#[test]
fn json_schema_for_editors() {
    let out = tributary(&root(), &["schema"], &[]);
    assert!(out.status.success(), "{}", text(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let sinks = v["properties"]["sinks"]["additionalProperties"]["oneOf"]
        .as_array()
        .unwrap();
    let types: Vec<&str> = sinks
        .iter()
        .filter_map(|s| s["properties"]["type"]["const"].as_str())
        .collect();
    for t in ["parquet", "arrow", "webhook"] {
        assert!(types.contains(&t), "{types:?}");
    }
}
