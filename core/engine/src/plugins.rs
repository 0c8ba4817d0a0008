//! Plugin discovery and the registry of loaded plugins.
//!
//! Search order (the first plugin of a name wins): files listed under `plugins.files`
//! (optionally pinned by SHA-256), directories under `plugins.paths`, directories in
//! `TRIBUTARY_PLUGIN_PATH` (`:`-separated), then the directory of the running executable,
//! where only `libtributary_*` libraries are considered, so a plain `cargo build` makes
//! the shipped plugins findable.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use tributary_plugin_sdk::PluginKind;
use tributary_plugin_sdk::abi::host::{LoadError, PluginLibrary, PluginMeta};
use tributary_source::SourceCatalog;

/// One explicitly named plugin file.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct PluginFile {
    /// Path of the shared library. Example: `./plugins/libmy_sink.so`.
    pub path: String,
    /// Expected SHA-256 (hex) of the file; when set, any other file is refused before it is loaded.
    #[serde(default)]
    pub sha256: Option<String>,
}

/// Where plugins are found.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct PluginsConfig {
    /// Directories searched for plugin libraries, before `TRIBUTARY_PLUGIN_PATH` and the
    /// directory of the `tributary` executable. Example: `[./plugins]`.
    #[serde(default)]
    pub paths: Vec<String>,
    /// Plugin files loaded explicitly, optionally pinned by SHA-256.
    #[serde(default)]
    pub files: Vec<PluginFile>,
    /// Load nothing but the `files` pinned by SHA-256: no directory is searched (not
    /// `paths`, `TRIBUTARY_PLUGIN_PATH` or the executable's directory) and a file without
    /// `sha256` is refused. Example: `true`. Default: false.
    #[serde(default)]
    pub require_pins: bool,
}

/// A library that was looked at but not registered.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Skipped {
    /// The file.
    pub path: PathBuf,
    /// Why.
    pub reason: String,
}

/// A problem with an explicitly listed plugin file (`plugins.files.N`).
#[derive(Debug)]
pub struct FileProblem {
    /// Index in `plugins.files`.
    pub index: usize,
    /// The loader's error.
    pub error: LoadError,
}

/// The component types available to a pipeline: source types of the catalog the caller
/// passes, and loaded plugins by name.
#[derive(Debug, Default)]
pub struct Registry {
    plugins: BTreeMap<String, Arc<PluginLibrary>>,
    /// Source types.
    pub sources: SourceCatalog,
    /// Problems with explicitly listed plugin files.
    pub file_problems: Vec<FileProblem>,
    /// Libraries looked at and not registered (not plugins, shadowed, wrong ABI).
    pub skipped: Vec<Skipped>,
    /// Directories searched, in order.
    pub searched: Vec<PathBuf>,
}

fn is_shared_library(p: &Path) -> bool {
    matches!(
        p.extension().and_then(|e| e.to_str()),
        Some("so" | "dylib" | "dll")
    )
}

/// The search directories for a pipeline's plugin section, in order.
pub fn search_dirs(cfg: &PluginsConfig, env_path: Option<&str>) -> Vec<(PathBuf, bool)> {
    let mut dirs: Vec<(PathBuf, bool)> = cfg
        .paths
        .iter()
        .map(|p| (PathBuf::from(p), false))
        .collect();
    if let Some(env) = env_path {
        dirs.extend(
            env.split(':')
                .filter(|s| !s.is_empty())
                .map(|p| (PathBuf::from(p), false)),
        );
    }
    if let Some(dir) = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf))
    {
        dirs.push((dir, true));
    }
    dirs
}

impl Registry {
    /// Loads explicit files and discovers plugins in the search directories.
    pub fn discover(cfg: &PluginsConfig, env_path: Option<&str>) -> (Registry, Vec<FileProblem>) {
        let mut reg = Registry::default();
        let mut problems = Vec::new();
        for (index, f) in cfg.files.iter().enumerate() {
            if cfg.require_pins && f.sha256.is_none() {
                problems.push(FileProblem {
                    index,
                    error: LoadError::Open {
                        path: PathBuf::from(&f.path),
                        message: "refused before loading: plugins.require_pins is true and this \
                                  file has no sha256 (add `sha256: <hex>`; `sha256sum` prints it)"
                            .into(),
                    },
                });
                continue;
            }
            match PluginLibrary::load(Path::new(&f.path), f.sha256.as_deref()) {
                Ok(lib) => reg.add(lib),
                Err(error) => problems.push(FileProblem { index, error }),
            }
        }
        if cfg.require_pins {
            return (reg, problems);
        }
        for (dir, only_ours) in search_dirs(cfg, env_path) {
            reg.scan(&dir, only_ours);
            reg.searched.push(dir);
        }
        (reg, problems)
    }

    fn add(&mut self, lib: Arc<PluginLibrary>) {
        let name = lib.meta().name.clone();
        if let Some(existing) = self.plugins.get(&name) {
            if existing.meta().path != lib.meta().path {
                self.skipped.push(Skipped {
                    path: lib.meta().path.clone(),
                    reason: format!(
                        "shadowed by {} (same name `{name}`)",
                        existing.meta().path.display()
                    ),
                });
            }
            return;
        }
        self.plugins.insert(name, lib);
    }

    fn scan(&mut self, dir: &Path, only_ours: bool) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        let mut files: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| is_shared_library(p))
            .collect();
        files.sort();
        for path in files {
            let fname = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if only_ours && !fname.starts_with("libtributary_") {
                continue;
            }
            if self.plugins.values().any(|l| l.meta().path == path) {
                continue;
            }
            match PluginLibrary::load(&path, None) {
                Ok(lib) => self.add(lib),
                Err(e) => self.skipped.push(Skipped {
                    path,
                    reason: e.to_string(),
                }),
            }
        }
    }

    /// The registry with these source types.
    pub fn with_sources(mut self, sources: SourceCatalog) -> Registry {
        self.sources = sources;
        self
    }

    /// Adds an already loaded library (tests, `plugins inspect`).
    pub fn insert(&mut self, lib: Arc<PluginLibrary>) {
        self.add(lib);
    }

    /// The plugin of this name.
    pub fn get(&self, name: &str) -> Option<&Arc<PluginLibrary>> {
        self.plugins.get(name)
    }

    /// Names of the plugins of one kind.
    pub fn names(&self, kind: PluginKind) -> Vec<&str> {
        self.plugins
            .values()
            .filter(|l| l.meta().kind == kind)
            .map(|l| l.meta().name.as_str())
            .collect()
    }

    /// Every registered plugin.
    pub fn all(&self) -> impl Iterator<Item = &PluginMeta> {
        self.plugins.values().map(|l| l.meta())
    }
}

/// The named outputs a plugin declares in its config schema (`x-tributary-outputs`),
/// besides the main output. Transforms that declare none accept any name.
pub fn declared_outputs(schema: &serde_json::Value) -> Option<Vec<String>> {
    schema
        .get("x-tributary-outputs")
        .and_then(|v| v.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        })
}
