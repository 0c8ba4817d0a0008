//! The shipped real-dialect pipelines, run as a user would (only the variables their
//! headers name), against the simulator serving NICE's published shapes; the lake read
//! back with pyarrow.

use std::path::{Path, PathBuf};

use crate::util::{py, root, text, tributary};

/// Copies a shipped pipeline into `dir`, applying `edits` (text replacements).
fn shipped(dir: &Path, name: &str, edits: &[(&str, &str)]) -> PathBuf {
    let mut yaml = std::fs::read_to_string(root().join("pipelines").join(name)).unwrap();
    for (from, to) in edits {
        assert!(yaml.contains(from), "{name} has no `{from}`");
        yaml = yaml.replace(from, to);
    }
    let p = dir.join(name);
    std::fs::write(&p, yaml).unwrap();
    p
}

/// The four variables the headers name, and none of the tutorial's.
const ENV: [(&str, &str); 4] = [
    ("CXONE_ACCESS_KEY_ID", "sim-access-key"),
    ("CXONE_ACCESS_KEY_SECRET", "sim-access-secret"),
    ("CXONE_CLIENT_ID", "sim-client"),
    ("CXONE_CLIENT_SECRET", "sim-secret"),
];

fn run(dir: &Path, file: &Path) -> std::process::Output {
    let mut cmd = std::process::Command::new(crate::util::bin());
    cmd.current_dir(dir)
        .args(["run", file.to_str().unwrap(), "--json"])
        .env_remove("TRIBUTARY_PLUGIN_PATH")
        .env_remove("CXONE_API_KEY")
        .env_remove("CXONE_API_SECRET")
        .env("RUST_LOG", "warn");
    for (k, _) in std::env::vars() {
        if k.starts_with("TRIBUTARY__") {
            cmd.env_remove(k);
        }
    }
    cmd.envs(ENV);
    cmd.output().unwrap()
}

/// pyarrow's view of a lake: rows, distinct values of `key`, and `name: type` per column.
fn lake(dir: &Path, key: &str) -> (u64, u64, Vec<String>) {
    let script = r#"
import sys, glob, pyarrow.parquet as pq, pyarrow as pa
files = sorted(glob.glob(sys.argv[1] + '/**/*.parquet', recursive=True))
t = pa.concat_tables([pq.read_table(f, partitioning=None) for f in files])
print(t.num_rows, len(set(t.column(sys.argv[2]).to_pylist())))
for f in t.schema:
    print(f"{f.name}: {f.type}")
"#;
    let out = py(script, &[dir.to_str().unwrap(), key]);
    let mut lines = out.lines();
    let head: Vec<u64> = lines
        .next()
        .unwrap()
        .split_whitespace()
        .map(|x| x.parse().unwrap())
        .collect();
    (head[0], head[1], lines.map(str::to_string).collect())
}

fn sim(per_day: u32) -> tributary_cxone_sim::SimConfig {
    tributary_cxone_sim::SimConfig {
        records_per_day: per_day,
        ..Default::default()
    }
}

fn contacts(
    cfg: &tributary_cxone_sim::SimConfig,
    start: &str,
    end: &str,
) -> Vec<tributary_cxone_sim::Record> {
    let t = |s: &str| chrono::DateTime::parse_from_rfc3339(s).unwrap().to_utc();
    tributary_cxone_sim::records_in_range(cfg, t(start), t(end)).collect()
}

/// `pipelines/cxone-reporting.yaml` with only its four variables: every contact once,
/// every published field, times as timestamps, nothing rejected, exit 0.
#[test]
fn reporting_pipeline_lands_every_contact_with_every_published_field() {
    let tmp = tempfile::tempdir().unwrap();
    let file = shipped(
        tmp.path(),
        "cxone-reporting.yaml",
        &[("records_per_day: 500", "records_per_day: 60")],
    );
    let out = run(tmp.path(), &file);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let want = contacts(&sim(60), "2023-01-01T00:00:00Z", "2023-01-31T23:59:59.999Z");
    let (rows, distinct, schema) = lake(&tmp.path().join("out/cxone-reporting/lake"), "contactId");
    assert_eq!((rows, distinct), (want.len() as u64, want.len() as u64));
    // The 58 published fields (the partition column comes from contactStartDate).
    assert_eq!(schema.len(), 58, "{schema:?}");
    for want in [
        "contactId: int64",
        "contactStartDate: timestamp[ms, tz=UTC]",
        "lastUpdateTime: timestamp[ms, tz=UTC]",
        "dateContactWarehoused: timestamp[ms, tz=UTC]",
        "totalDurationSeconds: int64",
        "isOutbound: bool",
        "tags: string",
    ] {
        assert!(schema.iter().any(|s| s == want), "{want} not in {schema:?}");
    }
    assert_eq!(
        crate::util::read_arrow_rows(&tmp.path().join("out/cxone-reporting/rejects")),
        0
    );
}

/// A tenant that serves rows without `contactStartDate`: every row is rejected with the
/// reason, and the run exits 3 (data quality) instead of 0.
#[test]
fn reporting_pipeline_exits_3_when_rows_lack_the_start_date() {
    let tmp = tempfile::tempdir().unwrap();
    let file = shipped(
        tmp.path(),
        "cxone-reporting.yaml",
        &[(
            "records_per_day: 500",
            "records_per_day: 20\n      omit_fields: [contactStartDate]",
        )],
    );
    let out = run(tmp.path(), &file);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let script = r#"
import sys, glob, pyarrow as pa
reasons = set()
n = 0
for f in sorted(glob.glob(sys.argv[1] + '/**/*.arrow', recursive=True)):
    with pa.OSFile(f, 'rb') as src:
        t = pa.ipc.open_file(src).read_all()
        n += t.num_rows
        reasons |= set(t.column('_reason').to_pylist())
print(n, sorted(reasons))
"#;
    let rejects = py(
        script,
        &[tmp
            .path()
            .join("out/cxone-reporting/rejects")
            .to_str()
            .unwrap()],
    );
    let want = contacts(&sim(20), "2023-01-01T00:00:00Z", "2023-01-31T23:59:59.999Z").len();
    assert_eq!(
        rejects.trim(),
        format!("{want} ['missing:contactStartDate']")
    );
}

/// `pipelines/cxone-data-extraction.yaml`: one row per segment with the published
/// headers as typed columns, every contact present, exit 0.
#[test]
fn data_extraction_pipeline_lands_every_segment_typed() {
    let tmp = tempfile::tempdir().unwrap();
    let file = shipped(
        tmp.path(),
        "cxone-data-extraction.yaml",
        &[("records_per_day: 500", "records_per_day: 40")],
    );
    let out = run(tmp.path(), &file);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let cfg = sim(40);
    let want = contacts(&cfg, "2023-01-01T00:00:00Z", "2023-01-28T23:59:59.999Z");
    let segments: u64 = want
        .iter()
        .map(|r| u64::from(tributary_cxone_sim::extraction_segments(&cfg, r)))
        .sum();
    let (rows, distinct, schema) = lake(
        &tmp.path().join("out/cxone-data-extraction/lake"),
        "acdCallId",
    );
    assert_eq!((rows, distinct), (segments, want.len() as u64));
    for want in [
        "acdCallId: int64",
        "startDate: timestamp[ms, tz=UTC]",
        "agent1AcdId: int64",
        "voiceRecordingStatus: string",
    ] {
        assert!(schema.iter().any(|s| s == want), "{want} not in {schema:?}");
    }
}

/// `plan` shows the requests of the configured dialect, not the analytics export.
#[test]
fn plan_shows_each_dialects_requests() {
    for (name, want) in [
        (
            "cxone-reporting.yaml",
            "GET /inContactAPI/services/v26.0/contacts/completed?",
        ),
        (
            "cxone-data-extraction.yaml",
            "POST /data-extraction/v1/jobs",
        ),
        ("quickstart.yaml", "POST /api/v2/analytics/data-exports"),
    ] {
        let out = tributary(&root(), &["plan", &format!("pipelines/{name}")], &[]);
        assert!(out.status.success(), "{}", text(&out));
        let t = text(&out);
        assert!(t.contains(want), "{name}: {t}");
        if name != "quickstart.yaml" {
            assert!(!t.contains("analytics/data-exports"), "{name}: {t}");
        }
    }
}
