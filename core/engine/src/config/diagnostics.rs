//! Configuration diagnostics: every problem of a file, each with its place and a hint.

use std::fmt;
use std::path::{Path, PathBuf};

use super::positions::{Pos, Positions};

/// One problem in a pipeline file.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Diagnostic {
    /// The file.
    pub file: PathBuf,
    /// 1-based line and column, when known.
    pub line: Option<usize>,
    /// 1-based column, when known.
    pub col: Option<usize>,
    /// The key path (`sinks.lake.url`); empty for the whole file.
    pub key: String,
    /// What is wrong.
    pub message: String,
    /// What to do, or the closest valid key.
    pub hint: Option<String>,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(col) = self.col {
                write!(f, ":{col}")?;
            }
        }
        if self.key.is_empty() {
            write!(f, ": {}", self.message)?;
        } else {
            write!(f, ": `{}`: {}", self.key, self.message)?;
        }
        if let Some(h) = &self.hint {
            write!(f, " ({h})")?;
        }
        Ok(())
    }
}

/// All problems found in a pipeline file, reported together.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigErrors {
    /// The problems, in file order.
    pub diagnostics: Vec<Diagnostic>,
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.diagnostics.len();
        writeln!(
            f,
            "{n} problem{} in the pipeline configuration:",
            if n == 1 { "" } else { "s" }
        )?;
        for d in &self.diagnostics {
            writeln!(f, "  - {d}")?;
        }
        Ok(())
    }
}

/// Collects diagnostics for one file.
#[derive(Debug)]
pub struct Collector<'a> {
    file: PathBuf,
    positions: Option<&'a Positions>,
    /// The diagnostics so far.
    pub diagnostics: Vec<Diagnostic>,
}

impl<'a> Collector<'a> {
    /// A collector for `file`.
    pub fn new(file: &Path, positions: Option<&'a Positions>) -> Self {
        Collector {
            file: file.to_path_buf(),
            positions,
            diagnostics: Vec::new(),
        }
    }

    /// Records a problem at a key path.
    pub fn push(&mut self, path: &[String], message: impl Into<String>, hint: Option<String>) {
        let pos = self.positions.and_then(|p| p.find(path));
        self.push_at(path, pos, message, hint);
    }

    /// Records a problem at a known position.
    pub fn push_at(
        &mut self,
        path: &[String],
        pos: Option<Pos>,
        message: impl Into<String>,
        hint: Option<String>,
    ) {
        let d = Diagnostic {
            file: self.file.clone(),
            line: pos.map(|p| p.line),
            col: pos.map(|p| p.col),
            key: path.join("."),
            message: message.into(),
            hint,
        };
        if !self.diagnostics.contains(&d) {
            self.diagnostics.push(d);
        }
    }

    /// True when nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.diagnostics.is_empty()
    }

    /// The errors, sorted by position (call only when something was recorded).
    pub fn into_errors(mut self) -> ConfigErrors {
        if self.diagnostics.is_empty() {
            self.push(&[], "invalid pipeline file", None);
        }
        self.diagnostics
            .sort_by_key(|d| (d.line.unwrap_or(usize::MAX), d.col.unwrap_or(0)));
        ConfigErrors {
            diagnostics: self.diagnostics,
        }
    }

    /// The errors, sorted by position, or `Ok` when there are none.
    ///
    /// # Errors
    /// All recorded diagnostics.
    pub fn finish(mut self) -> Result<(), ConfigErrors> {
        if self.diagnostics.is_empty() {
            return Ok(());
        }
        self.diagnostics
            .sort_by_key(|d| (d.line.unwrap_or(usize::MAX), d.col.unwrap_or(0)));
        Err(ConfigErrors {
            diagnostics: self.diagnostics,
        })
    }
}

/// The closest candidate to `word`, when it is close enough to be a likely typo.
pub fn closest<'c>(word: &str, candidates: impl IntoIterator<Item = &'c str>) -> Option<&'c str> {
    candidates
        .into_iter()
        .map(|c| (strsim::jaro_winkler(word, c), c))
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

/// A "did you mean" hint.
pub fn did_you_mean<'c>(
    word: &str,
    candidates: impl IntoIterator<Item = &'c str>,
) -> Option<String> {
    closest(word, candidates).map(|c| format!("did you mean `{c}`?"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_keys_only() {
        assert_eq!(
            closest("partiton_by", ["partition_by", "url", "compression"]),
            Some("partition_by")
        );
        assert_eq!(closest("zzz", ["partition_by", "url"]), None);
    }
}
