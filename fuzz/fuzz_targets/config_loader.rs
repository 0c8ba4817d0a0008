//! Fuzzes the pipeline loader: any bytes, written as a `.yaml` file, go through
//! `tributary_engine::config::load_with` with an empty environment and no plugin path.
//! It must answer `Ok` or a list of errors, never panic, hang or abort.

#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;

/// One scratch file per fuzzing process, rewritten for every input.
fn scratch() -> &'static PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("tributary-fuzz-{}", std::process::id()));
        std::fs::create_dir_all(&dir).ok();
        dir.join("pipeline.yaml")
    })
}

fuzz_target!(|data: &[u8]| {
    let path = scratch();
    if std::fs::write(path, data).is_err() {
        return;
    }
    let env = |_: &str| -> Option<String> { None };
    // Errors are the expected answer to most inputs; only a panic is a finding.
    let _ = tributary_engine::config::load_with(path, &env, None);
});
