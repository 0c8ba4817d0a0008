//! The plan: the files under `path`, in path order, one window each.

use std::path::{Path, PathBuf};

use chrono::DateTime;
use sha2::{Digest, Sha256};
use tributary_source::Window;

use crate::config::{FileConfig, FileFormat};

/// Most directory levels searched below `path` (a link loop stops here).
const MAX_DEPTH: usize = 32;

/// A file of the plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedFile {
    /// Where it is.
    pub path: PathBuf,
    /// Its format.
    pub format: FileFormat,
    /// Its window.
    pub window: Window,
}

/// Every file `cfg` names, sorted by path.
///
/// # Errors
/// When `path` does not exist or a directory cannot be read, naming it.
pub fn files(cfg: &FileConfig) -> Result<Vec<PlannedFile>, String> {
    let root = Path::new(&cfg.path);
    let meta = std::fs::metadata(root)
        .map_err(|e| format!("cannot read `{}`: {e}; check `path`", root.display()))?;
    let mut found = Vec::new();
    if meta.is_dir() {
        walk(root, 0, &mut found)?;
    } else {
        found.push(root.to_path_buf());
    }
    found.sort();
    let single = !meta.is_dir();
    Ok(found
        .into_iter()
        .filter_map(|path| {
            let format = match (cfg.format, FileFormat::of(&path)) {
                (Some(want), Some(got)) if want == got => want,
                (Some(want), None) if single => want,
                (None, Some(got)) => got,
                _ => return None,
            };
            let rel = path.strip_prefix(root).unwrap_or(&path);
            let rel = match rel.as_os_str().is_empty() {
                true => path.file_name().map(Path::new).unwrap_or(&path),
                false => rel,
            };
            let window = window_of(rel);
            Some(PlannedFile {
                path,
                format,
                window,
            })
        })
        .collect())
}

fn walk(dir: &Path, depth: usize, out: &mut Vec<PathBuf>) -> Result<(), String> {
    if depth > MAX_DEPTH {
        return Ok(());
    }
    let entries =
        std::fs::read_dir(dir).map_err(|e| format!("cannot list `{}`: {e}", dir.display()))?;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let hidden = name
            .to_str()
            .is_none_or(|n| n.starts_with('.') || n.starts_with('_'));
        if hidden {
            continue;
        }
        let path = entry.path();
        match entry.file_type() {
            Ok(t) if t.is_dir() => walk(&path, depth + 1, out)?,
            Ok(_) => out.push(path),
            Err(_) => {}
        }
    }
    Ok(())
}

/// The window of a file: its id is its relative path made safe for object keys, plus a
/// hash of the exact path (two paths that read alike stay apart). File windows cover no
/// time range: both bounds are the Unix epoch.
fn window_of(rel: &Path) -> Window {
    let text = rel.to_string_lossy();
    let safe: String = text
        .chars()
        .map(
            |c| match c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                true => c,
                false => '_',
            },
        )
        .collect();
    let tail: String = {
        let chars: Vec<char> = safe.chars().collect();
        chars[chars.len().saturating_sub(80)..].iter().collect()
    };
    let hash = hex::encode(Sha256::digest(text.as_bytes()));
    let epoch = DateTime::UNIX_EPOCH;
    Window {
        id: format!("file-{tail}-{}", &hash[..8]),
        start: epoch,
        end: epoch,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(path: &Path, format: Option<FileFormat>) -> FileConfig {
        FileConfig {
            path: path.display().to_string(),
            format,
            batch_size: 10,
            timestamps: Vec::new(),
        }
    }

    #[test]
    fn lists_a_lake_in_path_order_without_hidden_entries() {
        let d = tempfile::tempdir().unwrap();
        for f in [
            "date=2023-01-02/b.parquet",
            "date=2023-01-01/a.parquet",
            "date=2023-01-01/notes.txt",
            "_delta_log/00.json",
            ".staging/x.parquet",
        ] {
            let p = d.path().join(f);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, b"x").unwrap();
        }
        let files = files(&cfg(d.path(), None)).unwrap();
        let ids: Vec<&str> = files.iter().map(|f| f.window.id.as_str()).collect();
        assert_eq!(ids.len(), 2, "{ids:?}");
        assert!(
            ids[0].starts_with("file-date_2023-01-01_a.parquet-"),
            "{ids:?}"
        );
        assert!(
            ids[1].starts_with("file-date_2023-01-02_b.parquet-"),
            "{ids:?}"
        );
        // The same tree plans the same ids.
        let again: Vec<String> = super::files(&cfg(d.path(), None))
            .unwrap()
            .into_iter()
            .map(|f| f.window.id)
            .collect();
        assert_eq!(again, ids);
        // A format filter keeps its own files only.
        assert!(
            super::files(&cfg(d.path(), Some(FileFormat::Csv)))
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn a_missing_path_is_named() {
        let e = files(&cfg(Path::new("/nonexistent/lake"), None)).unwrap_err();
        assert!(e.contains("/nonexistent/lake"), "{e}");
    }
}
