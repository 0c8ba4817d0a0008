//! The deployment files: `scripts/check-deploy` validates the Kubernetes manifests in
//! `deploy/kubernetes/` offline against the Kubernetes JSON schemas (strict) and refuses a
//! misspelled field; the pipelines their ConfigMaps carry pass `tributary validate`; and the
//! excerpt docs/operations.md quotes is made of the Indexed Job's own lines.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde::Deserialize;

use crate::util::{python, root, text, tributary};

/// Runs `scripts/check-deploy DIR` with the venv's Python (kubernetes-validate).
fn check_deploy(dir: &Path) -> Output {
    Command::new(root().join("scripts/check-deploy"))
        .arg(dir)
        .env("TRIBUTARY_PYTHON", python())
        .output()
        .expect("run scripts/check-deploy")
}

/// The manifests, sorted.
fn manifests() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(root().join("deploy/kubernetes"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().and_then(|e| e.to_str()) == Some("yaml"))
        .collect();
    files.sort();
    files
}

/// The manifests pass; a copy with `completionMode` misspelled fails, naming the file and
/// the field.
#[test]
fn kubernetes_manifests_validate() {
    let out = check_deploy(&root().join("deploy/kubernetes"));
    let t = text(&out);
    assert!(out.status.success(), "scripts/check-deploy failed:\n{t}");
    assert!(t.contains("ok: "), "{t}");

    let broken = tempfile::tempdir().unwrap();
    let mut misspelled = 0;
    for f in manifests() {
        let body = std::fs::read_to_string(&f).unwrap();
        if body.contains("completionMode: Indexed") {
            misspelled += 1;
        }
        let body = body.replace("completionMode: Indexed", "completionMod: Indexed");
        std::fs::write(broken.path().join(f.file_name().unwrap()), body).unwrap();
    }
    assert_eq!(misspelled, 1, "one manifest is an Indexed Job");
    let out = check_deploy(broken.path());
    let t = text(&out);
    assert!(!out.status.success(), "a misspelled field passed:\n{t}");
    assert!(
        t.contains("indexed-job.yaml") && t.contains("'completionMod' was unexpected"),
        "{t}"
    );

    // The pipelines the ConfigMaps mount are valid pipeline files.
    let env = [
        ("CXONE_ACCESS_KEY_ID", "k"),
        ("CXONE_ACCESS_KEY_SECRET", "s"),
        ("CXONE_CLIENT_ID", "c"),
        ("CXONE_CLIENT_SECRET", "cs"),
    ];
    let tmp = tempfile::tempdir().unwrap();
    let mut pipelines = 0;
    for f in manifests() {
        let body = std::fs::read_to_string(&f).unwrap();
        for doc in serde_yaml::Deserializer::from_str(&body) {
            let v = serde_yaml::Value::deserialize(doc).unwrap();
            if v.get("kind").and_then(serde_yaml::Value::as_str) != Some("ConfigMap") {
                continue;
            }
            let Some(data) = v.get("data").and_then(serde_yaml::Value::as_mapping) else {
                continue;
            };
            for (key, value) in data {
                let (Some(key), Some(yaml)) = (key.as_str(), value.as_str()) else {
                    continue;
                };
                if !key.ends_with(".yaml") {
                    continue;
                }
                let file = tmp.path().join(format!("pipeline-{pipelines}.yaml"));
                std::fs::write(&file, yaml).unwrap();
                let out = tributary(tmp.path(), &["validate", file.to_str().unwrap()], &env);
                assert!(
                    out.status.success(),
                    "{} data.{key}: {}",
                    f.display(),
                    text(&out)
                );
                pipelines += 1;
            }
        }
    }
    assert!(
        pipelines >= 2,
        "the Job and the CronJob each mount a pipeline"
    );

    // docs/operations.md quotes the Indexed Job: every line of its excerpt is in the file.
    let doc = std::fs::read_to_string(root().join("docs/operations.md")).unwrap();
    let job = std::fs::read_to_string(root().join("deploy/kubernetes/indexed-job.yaml")).unwrap();
    let job_lines: HashSet<&str> = job.lines().map(str::trim_end).collect();
    let excerpt = doc
        .split("```yaml\n")
        .skip(1)
        .map(|b| b.split("```").next().unwrap())
        .find(|b| b.contains("JOB_COMPLETION_INDEX"))
        .expect("docs/operations.md quotes the Indexed Job");
    for line in excerpt.lines().map(str::trim_end) {
        if line.trim().is_empty() || line.trim_start().starts_with('#') {
            continue;
        }
        assert!(
            job_lines.contains(line),
            "docs/operations.md quotes `{line}`, which deploy/kubernetes/indexed-job.yaml lacks"
        );
    }
}
