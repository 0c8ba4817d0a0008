//! End-to-end tests of the `tributary` CLI: configuration errors, the quick start against
//! the built-in simulator, independent read-back with pyarrow, audit verification,
//! resume and sharding.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod connect;
mod delta;
mod deploy;
mod faults;
mod file_source;
mod overlap;
mod real_tenant;
mod util;

use std::path::Path;

use util::{read_arrow_rows, read_parquet_ids, root, text, tributary};

/// Every broken pipeline file gets its specific message, exit code 2, and no panic.
#[test]
fn broken_pipelines_get_specific_messages() {
    let cases: &[(&str, &[&str])] = &[
        (
            "syntax_error.yaml",
            &["syntax_error.yaml:4:7:", "YAML syntax error"],
        ),
        (
            "unknown_top_key.yaml",
            &["unknown key `sinkz`", "did you mean `sinks`?"],
        ),
        ("missing_name.yaml", &["missing key `name`"]),
        (
            "repeated_key.yaml",
            &[
                "repeated_key.yaml:9:",
                "duplicate entry with key \"out\"",
                "remove or rename the repeat",
            ],
        ),
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

/// Every YAML example in docs/ parses, and every one that is a whole pipeline (`name` and
/// `sources`) validates, with the credentials its comments name set.
#[test]
fn yaml_examples_in_docs_load() {
    let tmp = tempfile::tempdir().unwrap();
    let env = [
        ("CXONE_ACCESS_KEY_ID", "k"),
        ("CXONE_ACCESS_KEY_SECRET", "s"),
        ("CXONE_CLIENT_ID", "c"),
        ("CXONE_CLIENT_SECRET", "cs"),
        ("CXONE_API_KEY", "k"),
        ("CXONE_API_SECRET", "s"),
    ];
    let mut whole = 0;
    for entry in std::fs::read_dir(root().join("docs")).unwrap() {
        let p = entry.unwrap().path();
        if p.extension().and_then(|e| e.to_str()) != Some("md") {
            continue;
        }
        let doc = std::fs::read_to_string(&p).unwrap();
        for (i, block) in doc.split("```yaml\n").skip(1).enumerate() {
            let yaml = block.split("```").next().unwrap();
            let v: serde_yaml::Value = serde_yaml::from_str(yaml)
                .unwrap_or_else(|e| panic!("{} example {i}: {e}", p.display()));
            if v.get("name").is_none() || v.get("sources").is_none() {
                continue;
            }
            let file = tmp.path().join(format!("example-{whole}.yaml"));
            std::fs::write(&file, yaml).unwrap();
            let out = tributary(tmp.path(), &["validate", file.to_str().unwrap()], &env);
            assert!(
                out.status.success(),
                "{} example {i}: {}",
                p.display(),
                text(&out)
            );
            whole += 1;
        }
    }
    assert!(whole >= 1, "docs/cxone.md has a whole pipeline");
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
    // Typed times, as an independent reader sees them: no cast needed downstream.
    let types = util::py(
        r#"
import sys, glob, pyarrow.parquet as pq
f = sorted(glob.glob(sys.argv[1] + '/**/*.parquet', recursive=True))[0]
s = pq.read_schema(f)
print(s.field('startTime').type, s.field('endTime').type)
"#,
        &[tmp.path().join("out/quickstart/lake").to_str().unwrap()],
    );
    assert_eq!(types.trim(), "timestamp[ms, tz=UTC] timestamp[ms, tz=UTC]");
    // DuckDB reading the lake as its users do (hive partitions): typed times, a DATE `date`,
    // and a time filter that needs no cast.
    let duck = util::py(
        r#"
import sys, duckdb
lake = sys.argv[1] + '/**/*.parquet'
con = duckdb.connect()
rows = con.execute(f"describe select * from read_parquet('{lake}', hive_partitioning=true)").fetchall()
types = {r[0]: r[1] for r in rows}
n = con.execute(f"select count(*) from read_parquet('{lake}', hive_partitioning=true) where startTime >= TIMESTAMPTZ '2023-02-01 00:00:00+00'").fetchone()[0]
print(types['startTime'], '|', types['endTime'], '|', types['date'], '|', n)
"#,
        &[tmp.path().join("out/quickstart/lake").to_str().unwrap()],
    );
    let parts: Vec<&str> = duck.trim().split(" | ").collect();
    assert_eq!(
        &parts[..3],
        &[
            "TIMESTAMP WITH TIME ZONE",
            "TIMESTAMP WITH TIME ZONE",
            "DATE"
        ],
        "{duck}"
    );
    let february: u64 = parts[3].parse().unwrap();
    assert!(february > 0 && february < lake_rows, "{duck}");
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
    // The run's first entry names each plugin binary that ran by its SHA-256.
    let start: serde_json::Value =
        serde_json::from_str(log.lines().next().unwrap_or_default()).unwrap();
    assert_eq!(start["kind"], "run_start");
    let plugins = start["plugins"].as_array().cloned().unwrap_or_default();
    assert!(!plugins.is_empty());
    for p in plugins {
        let path = std::path::PathBuf::from(p["path"].as_str().unwrap());
        let want = tributary_plugin_sdk::abi::host::file_sha256(&path).unwrap();
        assert_eq!(p["sha256"], want.as_str(), "{p}");
    }
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
        3,
        "one line per window (90 days in 30-day windows):\n{lines}"
    );
    assert_eq!(
        total,
        util::truth(7, 50, "2023-01-01", "2023-03-31").len() as u64
    );

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
    assert_eq!(
        total,
        util::truth(7, 50, "2023-01-01", "2023-03-31").len() as u64
    );
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
    // The JSON Schema the shipped pipelines point editors at (`$schema=../docs/…`).
    let out = tributary(&root(), &["schema"], &[]);
    let on_disk =
        std::fs::read_to_string(root().join("docs/pipeline.schema.json")).unwrap_or_default();
    assert!(
        on_disk == String::from_utf8(out.stdout).unwrap(),
        "docs/pipeline.schema.json is stale: regenerate it with `./target/debug/tributary schema > docs/pipeline.schema.json`"
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

/// A year of CXone data, with 429s and 5xx from the simulator, landed as Parquet.
fn year_pipeline(dir: &Path, name: &str, per_day: u32) -> std::path::PathBuf {
    let yaml = format!(
        r#"name: {name}
state: {{ url: {state} }}
sources:
  cxone:
    type: cxone
    report_id: r1
    date_range: {{ start: 2023-01-01, end: 2023-12-31 }}
    columns: [id, direction, medium, startTime, endTime, agentId, queueId, holdTime, wrapTime, talkTime]
    max_window_days: 14
    page_size: 1000
    poll_interval_ms: 5
    initial_backoff_ms: 5
    max_backoff_ms: 50
    simulator: {{ seed: 11, records_per_day: {per_day}, p429: 0.03, retry_after_secs: 0, p500: 0.02, p503: 0.02, latency_ms: 1 }}
transforms:
  checked:
    type: validate
    inputs: [cxone]
sinks:
  lake:
    type: parquet
    inputs: [checked]
    url: {lake}
    partition_by: ["startTime:month"]
"#,
        state = dir.join("state").display(),
        lake = dir.join("lake").display()
    );
    let p = dir.join(format!("{name}.yaml"));
    std::fs::write(&p, yaml).unwrap();
    p
}

/// Files under the lake that a reader of `**/*.parquet` would see, plus anything that is
/// neither a landed Parquet file nor a manifest (stale or partial files).
fn lake_files(lake: &Path) -> (Vec<std::path::PathBuf>, Vec<std::path::PathBuf>) {
    let mut good = Vec::new();
    let mut bad = Vec::new();
    let mut stack = vec![lake.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().and_then(|x| x.to_str()) == Some("parquet")
                && !p.to_string_lossy().contains("/_tmp/")
            {
                good.push(p);
            } else if p.to_string_lossy().contains("/_windows/") {
                // A window's record of its parts must name only parts that exist.
                let record: serde_json::Value =
                    serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap_or_default();
                let keys = record["keys"].as_array().cloned().unwrap_or_default();
                let consistent = record["keys"].is_array()
                    && keys
                        .iter()
                        .all(|k| k.as_str().is_some_and(|k| lake.join(k).is_file()));
                if !consistent {
                    bad.push(p);
                }
            } else if !p.to_string_lossy().contains("/_manifests/") {
                bad.push(p);
            }
        }
    }
    (good, bad)
}

fn spawn_run(dir: &Path, file: &Path, resume: bool) -> std::process::Child {
    let mut args = vec!["run".to_string(), file.display().to_string()];
    if resume {
        args.push("--resume".into());
    }
    std::process::Command::new(util::bin())
        .current_dir(dir)
        .args(&args)
        .env_remove("TRIBUTARY_PLUGIN_PATH")
        .env("RUST_LOG", "error")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap()
}

/// Killed with SIGKILL at random moments (at least 10 times) and resumed each time, a full
/// year with faults on ends with every record landed exactly once and no stale file left.
#[test]
fn crash_and_resume_lands_everything_exactly_once() {
    let tmp = tempfile::tempdir().unwrap();
    let per_day = 300;
    let p = year_pipeline(tmp.path(), "crash", per_day);
    let truth = util::truth(11, per_day, "2023-01-01", "2023-12-31");
    // A pseudo-random but reproducible sequence of kill moments (ms after start).
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut kills = 0;
    let mut finished_early = 0;
    for attempt in 0..30 {
        if kills >= 10 {
            break;
        }
        let delay = std::time::Duration::from_millis(150 + util::xorshift(&mut x) % 900);
        let mut child = spawn_run(tmp.path(), &p, attempt > 0);
        match util::exit_within(&mut child, delay) {
            Some(status) => {
                // It finished before the kill: start over from scratch so kills keep landing mid-run.
                assert!(
                    status.success(),
                    "run failed on its own (attempt {attempt})"
                );
                finished_early += 1;
                std::fs::remove_dir_all(tmp.path().join("state")).unwrap();
            }
            None => {
                child.kill().unwrap(); // SIGKILL
                child.wait().unwrap();
                kills += 1;
            }
        }
    }
    assert!(
        kills >= 10,
        "only {kills} kills landed mid-run ({finished_early} runs finished first)"
    );
    // Resume until done (bounded).
    let mut ok = false;
    for _ in 0..5 {
        let out = tributary(tmp.path(), &["run", p.to_str().unwrap(), "--resume"], &[]);
        if out.status.success() {
            ok = true;
            break;
        }
    }
    assert!(ok, "the resumed run did not finish");
    let (rows, digest, _) = read_parquet_ids(&tmp.path().join("lake"));
    assert_eq!(rows, truth.len() as u64, "every record exactly once");
    assert_eq!(digest, util::digest(truth));
    let (_, bad) = lake_files(&tmp.path().join("lake"));
    assert!(bad.is_empty(), "stale or partial files remain: {bad:?}");
}

/// N shard processes sharing one state store and output prefix, run at once, produce the
/// same dataset as one process.
#[test]
fn shards_together_equal_one_run() {
    let tmp = tempfile::tempdir().unwrap();
    let per_day = 100;
    let p = year_pipeline(tmp.path(), "sharded", per_day);
    let children: Vec<_> = (0..3)
        .map(|k| {
            std::process::Command::new(util::bin())
                .current_dir(tmp.path())
                .args(["run", p.to_str().unwrap(), "--shard", &format!("{k}/3")])
                .env("RUST_LOG", "error")
                .output_async()
        })
        .collect();
    for c in children {
        let out = c.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", text(&out));
    }
    let truth = util::truth(11, per_day, "2023-01-01", "2023-12-31");
    let (rows, digest, _) = read_parquet_ids(&tmp.path().join("lake"));
    assert_eq!(rows, truth.len() as u64);
    assert_eq!(digest, util::digest(truth));
    // The shards' plans are disjoint and cover the whole plan.
    let mut all = Vec::new();
    for k in 0..3 {
        let out = tributary(
            tmp.path(),
            &[
                "plan",
                p.to_str().unwrap(),
                "--json",
                "--shard",
                &format!("{k}/3"),
            ],
            &[],
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        all.extend(
            v["windows"]
                .as_array()
                .unwrap()
                .iter()
                .map(|w| w["window_id"].as_str().unwrap().to_string()),
        );
    }
    let full = tributary(tmp.path(), &["plan", p.to_str().unwrap(), "--json"], &[]);
    let v: serde_json::Value = serde_json::from_slice(&full.stdout).unwrap();
    let mut whole: Vec<String> = v["windows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["window_id"].as_str().unwrap().to_string())
        .collect();
    all.sort();
    whole.sort();
    assert_eq!(all, whole);
}

/// SIGINT stops the run with exit code 130 and a summary; --resume finishes the job.
#[test]
fn sigint_stops_cleanly_and_resume_finishes() {
    let tmp = tempfile::tempdir().unwrap();
    let per_day = 300;
    let p = year_pipeline(tmp.path(), "interrupted", per_day);
    let child = std::process::Command::new(util::bin())
        .current_dir(tmp.path())
        .args(["run", p.to_str().unwrap()])
        .env("RUST_LOG", "error")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait (bounded) until at least one window is checkpointed, then interrupt.
    let windows = tmp.path().join("state/interrupted/windows");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while std::fs::read_dir(&windows).map(|d| d.count()).unwrap_or(0) == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "no window landed within 60 s"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let status = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    let t = text(&out);
    if out.status.code() == Some(0) {
        // The run finished before the signal arrived: nothing to resume, and that is fine.
        assert!(t.contains("SUCCEEDED"), "{t}");
    } else {
        assert_eq!(out.status.code(), Some(130), "{t}");
        assert!(t.contains("INTERRUPTED") && t.contains("--resume"), "{t}");
        let again = tributary(
            tmp.path(),
            &["run", p.to_str().unwrap(), "--resume", "--json"],
            &[],
        );
        assert!(again.status.success(), "{}", text(&again));
        let summary: serde_json::Value = serde_json::from_slice(&again.stdout).unwrap();
        assert!(
            summary["windows_skipped"].as_u64().unwrap() >= 1,
            "{summary}"
        );
        assert_eq!(summary["status"], "succeeded");
    }
    let truth = util::truth(11, per_day, "2023-01-01", "2023-12-31");
    let (rows, digest, _) = read_parquet_ids(&tmp.path().join("lake"));
    assert_eq!(rows, truth.len() as u64);
    assert_eq!(digest, util::digest(truth));
}

trait OutputAsync {
    fn output_async(&mut self) -> std::process::Child;
}
impl OutputAsync for std::process::Command {
    fn output_async(&mut self) -> std::process::Child {
        self.stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    }
}

fn http_get(addr: &str, path: &str) -> Option<String> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut body = String::new();
    s.read_to_string(&mut body).ok()?;
    Some(body)
}

/// While a run goes, --metrics-addr serves Prometheus metrics with live counters.
#[test]
fn metrics_are_served_while_running() {
    let tmp = tempfile::tempdir().unwrap();
    let p = year_pipeline(tmp.path(), "metrics", 300);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let mut child = std::process::Command::new(util::bin())
        .current_dir(tmp.path())
        .args(["run", p.to_str().unwrap(), "--metrics-addr", &addr])
        .env("RUST_LOG", "error")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let mut seen = None;
    let (mut health, mut ready) = (None, None);
    while std::time::Instant::now() < deadline {
        if health.is_none() {
            health = http_get(&addr, "/health").filter(|b| !b.is_empty());
        }
        if ready.is_none() {
            ready = http_get(&addr, "/ready").filter(|b| b.starts_with("HTTP/1.1 200"));
        }
        if let Some(body) = http_get(&addr, "/metrics") {
            let line = body.lines().find(|l| {
                l.starts_with(
                    "tributary_records_out_total{pipeline=\"metrics\",component=\"sources.cxone\"",
                )
            });
            if let Some(n) = line
                .and_then(|l| l.rsplit(' ').next())
                .and_then(|n| n.parse::<u64>().ok())
            {
                if n > 0 && ready.is_some() {
                    seen = Some(body);
                    break;
                }
            }
        }
        if child.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let status = child.wait().unwrap();
    assert!(status.success());
    let body = seen.expect("metrics with records were served while the run went");
    assert!(body.contains("application/openmetrics-text"), "{body}");
    assert!(body.trim_end().ends_with("# EOF"), "{body}");
    let health = health.expect("/health answered while the run went");
    assert!(
        health.starts_with("HTTP/1.1 200") && health.ends_with("ok\n"),
        "{health}"
    );
    let ready = ready.expect("/ready answered 200 while the run went");
    assert!(ready.ends_with("ready\n"), "{ready}");
    for m in [
        "tributary_source_requests_total",
        "# TYPE tributary_source_request_latency_seconds histogram",
        "le=\"0.005\",endpoint=\"token\"}",
        "tributary_source_request_latency_seconds_count{",
        "tributary_windows_planned",
        "component=\"sinks.lake\"",
    ] {
        assert!(body.contains(m), "missing {m} in\n{body}");
    }
}

/// Accepts one HTTP request on `listener` and answers 200; returns (request line, body).
fn receive_one(listener: std::net::TcpListener) -> std::sync::mpsc::Receiver<(String, String)> {
    use std::io::{BufRead, Read, Write};
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let Ok((stream, _)) = listener.accept() else {
            return;
        };
        let _ = stream.set_read_timeout(Some(std::time::Duration::from_secs(30)));
        let mut reader = std::io::BufReader::new(stream);
        let mut request_line = String::new();
        let _ = reader.read_line(&mut request_line);
        let mut length = 0usize;
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                break;
            }
            if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                length = v.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0u8; length];
        let _ = reader.read_exact(&mut body);
        let _ = reader
            .get_mut()
            .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        let _ = tx.send((
            request_line.trim().to_string(),
            String::from_utf8_lossy(&body).into_owned(),
        ));
    });
    rx
}

/// `--metrics-push URL`: at the end of a batch run its final metrics are PUT to the
/// Pushgateway path for the pipeline and shard (a real HTTP server on loopback receives them).
#[test]
fn final_metrics_are_pushed_at_the_end_of_a_run() {
    let tmp = tempfile::tempdir().unwrap();
    let p = small_pipeline(
        tmp.path(),
        "pushed",
        &format!(
            "  lake: {{ type: arrow, inputs: [cxone], path: {} }}",
            tmp.path().join("lake").display()
        ),
        "",
    );
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let got = receive_one(listener);
    let out = tributary(
        tmp.path(),
        &[
            "run",
            p.to_str().unwrap(),
            "--shard",
            "0/1",
            "--metrics-push",
            &format!("http://user:push-password@127.0.0.1:{port}/"),
        ],
        &[],
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(!text(&out).contains("push-password"), "{}", text(&out));
    let (line, body) = got
        .recv_timeout(std::time::Duration::from_secs(60))
        .expect("the metrics were pushed");
    assert_eq!(
        line,
        "PUT /metrics/job/tributary/pipeline/pushed/shard/0-of-1 HTTP/1.1"
    );
    let records = body
        .lines()
        .find(|l| {
            l.starts_with(
                "tributary_records_out_total{pipeline=\"pushed\",component=\"sources.cxone\"",
            )
        })
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|n| n.parse::<u64>().ok());
    assert_eq!(records, Some(90 * 50), "the final count: {body}");

    // A gateway that is down: a warning, and the run's own exit code.
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_port = dead.local_addr().unwrap().port();
    drop(dead);
    let out = tributary(
        tmp.path(),
        &[
            "run",
            p.to_str().unwrap(),
            "--metrics-push",
            &format!("http://127.0.0.1:{dead_port}"),
        ],
        &[],
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("warning: pushing the metrics"),
        "{}",
        text(&out)
    );
}

/// `tributary test` runs pipeline unit tests; a failing expectation fails with its diff.
#[test]
fn pipeline_unit_tests_run_and_catch_a_wrong_expectation() {
    let out = tributary(
        &root(),
        &["test", "pipelines/tests/quickstart.test.yaml"],
        &[],
    );
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    assert!(t.contains("4 passed, 0 failed"), "{t}");

    // The same test with a wrong expectation fails, naming what differs.
    let tmp = tempfile::tempdir().unwrap();
    let original =
        std::fs::read_to_string(root().join("pipelines/tests/quickstart.test.yaml")).unwrap();
    let broken = original
        .replace(
            "pipeline: ../quickstart.yaml",
            &format!(
                "pipeline: {}",
                root().join("pipelines/quickstart.yaml").display()
            ),
        )
        .replace(
            "_reason: \"missing:agentId\"",
            "_reason: \"missing:queueId\"",
        );
    let f = tmp.path().join("broken.test.yaml");
    std::fs::write(&f, broken).unwrap();
    let out = tributary(&root(), &["test", f.to_str().unwrap()], &[]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(t.contains("3 passed, 1 failed"), "{t}");
    assert!(
        t.contains("no row matches")
            && t.contains("missing:queueId")
            && t.contains("missing:agentId"),
        "{t}"
    );
}

/// At the simulator's injected missing, null and extra-field rates, the validator's
/// integrity rate and missing-field counts equal those computed independently from the
/// simulator's own record of what it injected, and every defective record is rejected.
#[test]
fn integrity_rate_matches_the_simulators_injected_defects() {
    let tmp = tempfile::tempdir().unwrap();
    let yaml = format!(
        r#"name: integrity
state: {{ url: {state} }}
sources:
  cxone:
    type: cxone
    report_id: r1
    date_range: {{ start: 2023-01-01, end: 2023-03-31 }}
    columns: [id, direction, medium, startTime, endTime, agentId, queueId, holdTime, wrapTime, talkTime]
    poll_interval_ms: 5
    simulator: {{ seed: 5, records_per_day: 400, missing_field_fraction: 0.03, null_field_fraction: 0.02, extra_field_fraction: 0.05 }}
transforms:
  checked: {{ type: validate, inputs: [cxone] }}
sinks:
  good: {{ type: arrow, inputs: [checked], path: {good} }}
  bad: {{ type: arrow, inputs: [checked.invalid], path: {bad} }}
"#,
        state = tmp.path().join("state").display(),
        good = tmp.path().join("good").display(),
        bad = tmp.path().join("bad").display()
    );
    let p = tmp.path().join("integrity.yaml");
    std::fs::write(&p, yaml).unwrap();
    let out = tributary(tmp.path(), &["run", p.to_str().unwrap(), "--json"], &[]);
    assert!(out.status.success(), "{}", text(&out));
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let m = &summary["transform_metrics"]["checked"];

    // Independent computation from the simulator's defect record.
    let cfg = tributary_cxone_sim::SimConfig {
        seed: 5,
        records_per_day: 400,
        missing_field_fraction: 0.03,
        null_field_fraction: 0.02,
        extra_field_fraction: 0.05,
        ..Default::default()
    };
    let start = chrono::DateTime::parse_from_rfc3339("2023-01-01T00:00:00Z")
        .unwrap()
        .to_utc();
    let end = chrono::DateTime::parse_from_rfc3339("2023-03-31T23:59:59.999Z")
        .unwrap()
        .to_utc();
    let (mut total, mut complete) = (0u64, 0u64);
    let mut missing: std::collections::BTreeMap<String, u64> = Default::default();
    for r in tributary_cxone_sim::records_in_range(&cfg, start, end) {
        total += 1;
        let d = tributary_cxone_sim::injected_defects(&cfg, &r);
        let mut fields: Vec<String> = Vec::new();
        for f in [d.missing, d.null].into_iter().flatten() {
            fields.push(f.name().to_string());
        }
        if fields.is_empty() {
            complete += 1;
        }
        for f in fields {
            *missing.entry(f).or_default() += 1;
        }
    }
    assert!(
        total - complete > 100,
        "the simulator must inject enough defects to test: {}",
        total - complete
    );
    let expected_rate = complete as f64 / total as f64;
    assert!(
        (m["integrity_rate"].as_f64().unwrap() - expected_rate).abs() < 1e-12,
        "{m} vs {expected_rate}"
    );
    assert_eq!(m["records_in"].as_u64().unwrap(), total);
    let counts: std::collections::BTreeMap<String, u64> =
        serde_json::from_value(m["missing_field_counts"].clone()).unwrap();
    assert_eq!(counts, missing);
    assert_eq!(read_arrow_rows(&tmp.path().join("bad")), total - complete);
    assert_eq!(read_arrow_rows(&tmp.path().join("good")), complete);
}

/// Incremental runs against the real Reporting API (access-key auth): the second run lands
/// exactly the rows updated since the first run's bookmark, as new files beside the first
/// run's, and a third run with nothing new lands nothing.
#[test]
fn incremental_reporting_runs_land_exactly_the_updated_rows() {
    let tmp = tempfile::tempdir().unwrap();
    let yaml = format!(
        r#"name: incremental
state: {{ url: {state} }}
sources:
  cxone:
    type: cxone
    api: reporting
    auth: access-key
    schema: interaction
    incremental: true
    date_range: {{ start: 2023-01-01, end: 2023-01-31 }}
    max_window_days: 10
    simulator: {{ seed: 3, records_per_day: 40 }}
sinks:
  lake: {{ type: parquet, inputs: [cxone], url: {lake} }}
"#,
        state = tmp.path().join("state").display(),
        lake = tmp.path().join("lake").display()
    );
    let p = tmp.path().join("incremental.yaml");
    std::fs::write(&p, yaml).unwrap();
    let run = |env: &[(&str, &str)]| {
        let out = tributary(tmp.path(), &["run", p.to_str().unwrap(), "--json"], env);
        assert!(out.status.success(), "{}", text(&out));
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };
    let first = run(&[]);
    let base = tributary_cxone_sim::SimConfig {
        seed: 3,
        records_per_day: 40,
        ..Default::default()
    };
    let start = chrono::DateTime::parse_from_rfc3339("2023-01-01T00:00:00Z")
        .unwrap()
        .to_utc();
    let end = chrono::DateTime::parse_from_rfc3339("2023-01-31T23:59:59.999Z")
        .unwrap()
        .to_utc();
    let all: Vec<_> = tributary_cxone_sim::records_in_range(&base, start, end).collect();
    assert_eq!(first["records"].as_u64().unwrap(), all.len() as u64);

    // Some contacts are updated after the first run.
    let updated_env = [
        (
            "TRIBUTARY__SOURCES__CXONE__SIMULATOR__UPDATED_FRACTION",
            "0.1",
        ),
        (
            "TRIBUTARY__SOURCES__CXONE__SIMULATOR__UPDATED_AT",
            "2024-05-01T12:00:00Z",
        ),
    ];
    let updated_cfg = tributary_cxone_sim::SimConfig {
        updated_fraction: 0.1,
        updated_at: Some("2024-05-01T12:00:00Z".into()),
        ..base.clone()
    };
    let bookmark = all
        .iter()
        .map(|r| tributary_cxone_sim::last_update_time(&base, r))
        .max()
        .unwrap();
    let expected: Vec<String> = all
        .iter()
        .filter(|r| tributary_cxone_sim::last_update_time(&updated_cfg, r) > bookmark)
        .map(|r| r.id.clone())
        .collect();
    assert!(!expected.is_empty());
    let second = run(&updated_env);
    assert_eq!(
        second["records"].as_u64().unwrap(),
        expected.len() as u64,
        "{second}"
    );
    // The lake keeps both increments: every record once, plus each updated one again.
    let (rows, _, _) = read_parquet_ids(&tmp.path().join("lake"));
    assert_eq!(rows, (all.len() + expected.len()) as u64);

    let third = run(&updated_env);
    assert_eq!(third["records"].as_u64().unwrap(), 0, "{third}");
    let (rows, _, _) = read_parquet_ids(&tmp.path().join("lake"));
    assert_eq!(rows, (all.len() + expected.len()) as u64);
}

/// A sensitive key set through a `TRIBUTARY__…` override with a value of the wrong type:
/// the diagnostic names the key and never quotes the value.
#[test]
fn overrides_of_sensitive_keys_are_not_quoted() {
    let tmp = tempfile::tempdir().unwrap();
    let p = small_pipeline(
        tmp.path(),
        "masked",
        "  hook: { type: webhook, inputs: [cxone], url: \"http://127.0.0.1:9/x\" }",
        "",
    );
    for (var, key) in [
        ("TRIBUTARY__SINKS__HOOK__SECRET", "sinks.hook.secret"),
        (
            "TRIBUTARY__SOURCES__CXONE__CLIENT_SECRET",
            "sources.cxone.client_secret",
        ),
    ] {
        let out = tributary(
            tmp.path(),
            &["validate", p.to_str().unwrap()],
            &[(var, "[OVERRIDDEN-SECRET-VALUE]")],
        );
        let t = text(&out);
        assert_eq!(out.status.code(), Some(2), "{t}");
        assert!(t.contains(key) && t.contains("sensitive"), "{t}");
        assert!(!t.contains("OVERRIDDEN-SECRET-VALUE"), "{t}");
    }
}

/// `TRIBUTARY__` overrides reach components whatever the case of their names: each segment
/// takes the file's spelling of the key (`MYLAKE` → `MyLake`), so the override lands the
/// records where it says, and nothing lands where the file says.
#[test]
fn env_overrides_reach_capitalized_component_names() {
    let tmp = tempfile::tempdir().unwrap();
    let p = small_pipeline(
        tmp.path(),
        "cased",
        &format!(
            "  MyLake: {{ type: arrow, inputs: [cxone], path: {} }}",
            tmp.path().join("from-file").display()
        ),
        "",
    );
    let moved = tmp.path().join("from-env");
    let out = tributary(
        tmp.path(),
        &["run", p.to_str().unwrap()],
        &[("TRIBUTARY__SINKS__MYLAKE__PATH", moved.to_str().unwrap())],
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        read_arrow_rows(&moved) > 0,
        "the override's path got the records"
    );
    assert!(
        !tmp.path().join("from-file").exists(),
        "the file's path was used"
    );
}

/// `tributary config` prints what a run would use: environment overrides applied (to the
/// file's spelling of a key), secrets redacted whatever their source.
#[test]
fn config_prints_the_effective_configuration_without_secrets() {
    let tmp = tempfile::tempdir().unwrap();
    let p = small_pipeline(
        tmp.path(),
        "effective",
        "  MyHook: { type: webhook, inputs: [cxone], url: \"http://127.0.0.1:9/x\", secret: \"file-secret-value\" }",
        "",
    );
    let out = tributary(
        tmp.path(),
        &["config", p.to_str().unwrap(), "--json"],
        &[
            (
                "TRIBUTARY__SINKS__MYHOOK__URL",
                "http://127.0.0.1:9/from-env",
            ),
            (
                "TRIBUTARY__SOURCES__CXONE__CLIENT_SECRET",
                "env-secret-value",
            ),
        ],
    );
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["sinks"]["MyHook"]["url"], "http://127.0.0.1:9/from-env");
    assert_eq!(v["sinks"]["MyHook"]["secret"], "**REDACTED**");
    assert_eq!(v["sources"]["cxone"]["client_secret"], "**REDACTED**");
    assert!(
        !t.contains("file-secret-value") && !t.contains("env-secret-value"),
        "{t}"
    );
    let yaml = tributary(tmp.path(), &["config", p.to_str().unwrap()], &[]);
    assert!(yaml.status.success(), "{}", text(&yaml));
    let parsed: serde_yaml::Value = serde_yaml::from_slice(&yaml.stdout).unwrap();
    assert_eq!(parsed["name"].as_str(), Some("effective"));
}

/// `tributary state show` after a run that failed part-way lists what landed and what is
/// next; `state reset --window` (with `--yes`, recorded in the audit log) makes a resumed run
/// land exactly that window again; without `--yes` and no terminal, nothing is touched.
#[test]
fn state_show_and_reset_of_one_window() {
    let tmp = tempfile::tempdir().unwrap();
    let lake = tmp.path().join("lake");
    let p = small_pipeline(
        tmp.path(),
        "stateful",
        &format!(
            "  lake: {{ type: arrow, inputs: [cxone], path: {} }}",
            lake.display()
        ),
        &format!("audit: {{ path: {} }}", tmp.path().join("audit").display()),
    );
    // Exports covering March fail: January and February land, the run fails.
    let yaml = std::fs::read_to_string(&p).unwrap().replace(
        "records_per_day: 50 }",
        "records_per_day: 50, fail_dates: [\"2023-03-\"] }",
    );
    std::fs::write(&p, yaml).unwrap();
    let out = tributary(tmp.path(), &["run", p.to_str().unwrap()], &[]);
    assert!(
        !out.status.success(),
        "the March window must fail: {}",
        text(&out)
    );

    let show = tributary(
        tmp.path(),
        &["state", "show", p.to_str().unwrap(), "--json"],
        &[],
    );
    assert!(show.status.success(), "{}", text(&show));
    let v: serde_json::Value = serde_json::from_slice(&show.stdout).unwrap();
    let landed: Vec<String> = v["landed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["window_id"].as_str().unwrap().to_string())
        .collect();
    let missing = v["missing"].as_array().unwrap();
    assert_eq!(
        v["windows_planned"].as_u64().unwrap() as usize,
        landed.len() + missing.len()
    );
    assert!(!landed.is_empty() && !missing.is_empty(), "{v}");
    assert!(
        missing
            .iter()
            .all(|m| !landed.contains(&m.as_str().unwrap().to_string())),
        "{v}"
    );
    assert_eq!(v["runs"][0]["status"], "failed", "{v}");
    // The run record keeps its start, and says when it ended.
    let started =
        chrono::DateTime::parse_from_rfc3339(v["runs"][0]["started_at"].as_str().unwrap()).unwrap();
    let ended =
        chrono::DateTime::parse_from_rfc3339(v["runs"][0]["ended_at"].as_str().unwrap()).unwrap();
    let first_landed = v["landed"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|w| chrono::DateTime::parse_from_rfc3339(w["completed_at"].as_str()?).ok())
        .min()
        .unwrap();
    assert!(started <= first_landed && first_landed <= ended, "{v}");
    assert!(
        v["leases"]
            .as_array()
            .unwrap()
            .iter()
            .all(|l| l["live"] == false),
        "{v}"
    );
    let human = tributary(tmp.path(), &["state", "show", p.to_str().unwrap()], &[]);
    assert!(
        text(&human).contains(&format!("{} of ", landed.len())),
        "{}",
        text(&human)
    );
    assert!(
        text(&human).contains("lease: none held"),
        "{}",
        text(&human)
    );

    // Finish the run, then forget one window.
    let fixed = std::fs::read_to_string(&p)
        .unwrap()
        .replace(", fail_dates: [\"2023-03-\"]", "");
    std::fs::write(&p, fixed).unwrap();
    let out = tributary(tmp.path(), &["run", p.to_str().unwrap(), "--resume"], &[]);
    assert!(out.status.success(), "{}", text(&out));
    let target = landed[0].clone();
    let refused = tributary(
        tmp.path(),
        &["state", "reset", p.to_str().unwrap(), "--window", &target],
        &[],
    );
    assert_eq!(refused.status.code(), Some(2), "{}", text(&refused));
    assert!(text(&refused).contains("--yes"), "{}", text(&refused));
    let unknown = tributary(
        tmp.path(),
        &[
            "state",
            "reset",
            p.to_str().unwrap(),
            "--window",
            "20990101T000000Z-x",
            "--yes",
        ],
        &[],
    );
    assert_eq!(unknown.status.code(), Some(2), "{}", text(&unknown));
    assert!(
        text(&unknown).contains("not recorded as landed"),
        "{}",
        text(&unknown)
    );
    let reset = tributary(
        tmp.path(),
        &[
            "state",
            "reset",
            p.to_str().unwrap(),
            "--window",
            &target,
            "--yes",
        ],
        &[],
    );
    assert!(reset.status.success(), "{}", text(&reset));
    let out = tributary(
        tmp.path(),
        &["run", p.to_str().unwrap(), "--resume", "--json"],
        &[],
    );
    assert!(out.status.success(), "{}", text(&out));
    let s: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        s["windows_done"], 1,
        "only the reset window lands again: {s}"
    );
    assert_eq!(
        s["windows_skipped"].as_u64().unwrap() + 1,
        v["windows_planned"].as_u64().unwrap(),
        "{s}"
    );
    let log = std::fs::read_to_string(tmp.path().join("audit/audit.jsonl")).unwrap();
    let entry = log
        .lines()
        .find(|l| l.contains("\"state_reset\""))
        .expect("the reset is in the audit log");
    assert!(entry.contains(&format!("windows/{target}.json")), "{entry}");
    let verify = tributary(
        tmp.path(),
        &[
            "audit",
            "verify",
            tmp.path().join("audit").to_str().unwrap(),
        ],
        &[],
    );
    assert!(verify.status.success(), "{}", text(&verify));
}

/// `tributary tap FILE checked.invalid` prints the rejected rows with their reasons, stops
/// at `--limit`, and lands nothing: no sink output, no state, no audit entry.
#[test]
fn tap_prints_invalid_rows_with_reasons_and_lands_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let yaml = format!(
        r#"name: tapped
state: {{ url: {state} }}
audit: {{ path: {audit} }}
sources:
  cxone:
    type: cxone
    report_id: r1
    date_range: {{ start: 2023-01-01, end: 2023-03-31 }}
    columns: [id, direction, medium, startTime, endTime, agentId, queueId, holdTime, wrapTime, talkTime]
    poll_interval_ms: 5
    simulator: {{ seed: 7, records_per_day: 200, missing_field_fraction: 0.05 }}
transforms:
  checked: {{ type: validate, inputs: [cxone] }}
sinks:
  lake: {{ type: parquet, inputs: [checked], url: {lake} }}
  bad: {{ type: arrow, inputs: [checked.invalid], path: {bad} }}
"#,
        state = tmp.path().join("state").display(),
        audit = tmp.path().join("audit").display(),
        lake = tmp.path().join("lake").display(),
        bad = tmp.path().join("bad").display(),
    );
    let p = tmp.path().join("tapped.yaml");
    std::fs::write(&p, yaml).unwrap();
    let out = tributary(
        tmp.path(),
        &[
            "tap",
            p.to_str().unwrap(),
            "checked.invalid",
            "--limit",
            "7",
            "--format",
            "json",
        ],
        &[],
    );
    assert!(out.status.success(), "{}", text(&out));
    let rows: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 7, "--limit is honoured");
    for r in &rows {
        let reason = r["_reason"].as_str().unwrap_or_default();
        assert!(reason.starts_with("missing:"), "each row says why: {r}");
        let field = reason.trim_start_matches("missing:");
        assert!(
            r[field].is_null(),
            "the named field is the missing one: {r}"
        );
    }
    for dir in ["lake", "bad", "state", "audit"] {
        assert!(!tmp.path().join(dir).exists(), "a tap left `{dir}`");
    }
    let table = tributary(
        tmp.path(),
        &["tap", p.to_str().unwrap(), "checked", "--limit", "3"],
        &[],
    );
    let t = String::from_utf8_lossy(&table.stdout).to_string();
    assert!(table.status.success(), "{}", text(&table));
    assert!(
        t.lines().next().unwrap_or_default().starts_with("id "),
        "{t}"
    );
    assert_eq!(t.lines().count(), 4, "a header and three rows: {t}");
    let bad = tributary(
        tmp.path(),
        &["tap", p.to_str().unwrap(), "checked.nope"],
        &[],
    );
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        text(&bad).contains("its outputs: (main), invalid"),
        "{}",
        text(&bad)
    );
}

/// `plugins.require_pins: true`: only the pinned files are loaded (no directory is
/// searched), and a listed file without `sha256` is refused before it is loaded.
#[test]
fn require_pins_loads_only_pinned_files() {
    let tmp = tempfile::tempdir().unwrap();
    let so = util::bin()
        .parent()
        .unwrap()
        .join("libtributary_sink_arrow.so");
    let sha = tributary_plugin_sdk_sha(&so);
    let write = |plugins: &str| {
        let p = small_pipeline(
            tmp.path(),
            "pins",
            "  out: { type: arrow, inputs: [cxone], path: out }",
            &format!("plugins: {plugins}"),
        );
        let out = tributary(tmp.path(), &["validate", p.to_str().unwrap()], &[]);
        (out.status.code(), text(&out))
    };
    let (code, t) = write(&format!(
        "{{ require_pins: true, files: [{{ path: \"{}\", sha256: {sha} }}] }}",
        so.display()
    ));
    assert_eq!(code, Some(0), "{t}");
    let (code, t) = write(&format!(
        "{{ require_pins: true, files: [{{ path: \"{}\" }}] }}",
        so.display()
    ));
    assert_eq!(code, Some(2), "{t}");
    assert!(
        t.contains("require_pins") && t.contains("plugins.files"),
        "{t}"
    );
    // Nothing else is discovered: a parquet sink is unknown now.
    let p = small_pipeline(
        tmp.path(),
        "pins2",
        "  lake: { type: parquet, inputs: [cxone], url: lake }",
        &format!(
            "plugins: {{ require_pins: true, files: [{{ path: \"{}\", sha256: {sha} }}] }}",
            so.display()
        ),
    );
    let out = tributary(tmp.path(), &["validate", p.to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("no sink plugin named `parquet`"),
        "{}",
        text(&out)
    );
}

/// The SHA-256 of a file, by coreutils' `sha256sum` (an independent implementation).
fn tributary_plugin_sdk_sha(p: &Path) -> String {
    let out = std::process::Command::new("sha256sum")
        .arg(p)
        .output()
        .unwrap();
    String::from_utf8(out.stdout)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

/// Limits that used to be checked only when a run created the component are reported by
/// `validate`, each at its key: an integrity rate above 1, an unsupported URL scheme, a
/// duration that would overflow a clock.
#[test]
fn validate_reports_out_of_range_plugin_settings() {
    let tmp = tempfile::tempdir().unwrap();
    let p = small_pipeline(
        tmp.path(),
        "limits",
        "  lake: { type: parquet, inputs: [checked], url: \"ftp://host/x\" }\n  hook: { type: webhook, inputs: [checked], url: \"http://127.0.0.1:9/x\", max_retry_after_secs: 18446744073709551615 }",
        "transforms:\n  checked: { type: validate, inputs: [cxone], min_integrity_rate: 1.5 }",
    );
    let out = tributary(tmp.path(), &["validate", p.to_str().unwrap()], &[]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(2), "{t}");
    for key in [
        "transforms.checked.min_integrity_rate",
        "sinks.lake.url",
        "sinks.hook.max_retry_after_secs",
    ] {
        assert!(t.contains(key), "{key} not reported: {t}");
    }
    assert!(
        t.contains("`ftp://host/x` is not of the accepted form"),
        "{t}"
    );
}

/// Pipeline and component names become directory names: one that could leave its
/// directory (`..`, `/`) is refused by `validate`, naming the key.
#[test]
fn names_that_could_escape_a_directory_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let p = small_pipeline(
        tmp.path(),
        "names",
        "  \"../up\": { type: arrow, inputs: [cxone], path: out }",
        "",
    );
    let out = tributary(tmp.path(), &["validate", p.to_str().unwrap()], &[]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(2), "{t}");
    assert!(t.contains("component name `../up`"), "{t}");
    let yaml = std::fs::read_to_string(&p)
        .unwrap()
        .replace("name: names", "name: \"../../escape\"");
    std::fs::write(&p, yaml).unwrap();
    let out = tributary(tmp.path(), &["validate", p.to_str().unwrap()], &[]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(2), "{t}");
    assert!(t.contains("`name`") && t.contains("no `..`"), "{t}");
}
