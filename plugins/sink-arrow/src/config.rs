//! Configuration of the `arrow` sink.

use std::path::PathBuf;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The `arrow` sink's configuration.
///
/// ```yaml
/// type: arrow
/// path: ./rejects
/// max_rows_per_file: 1000000
/// compression: zstd
/// ```
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct ArrowConfig {
    /// Directory the `.arrow` files land in (created if missing). Example: `./rejects`.
    pub path: String,
    /// Start a new file after this many rows. Example: `1000000`.
    #[serde(default = "default_max_rows")]
    pub max_rows_per_file: u64,
    /// Start a new file once a file reaches this many bytes. Example: `268435456` (256 MiB).
    #[serde(default = "default_max_bytes")]
    pub max_bytes_per_file: u64,
    /// Buffer compression inside the IPC file: `none` or `zstd`. Example: `zstd`.
    #[serde(default = "default_compression")]
    #[schemars(extend("enum" = ["none", "zstd"]))]
    pub compression: String,
}

fn default_max_rows() -> u64 {
    1_000_000
}
fn default_max_bytes() -> u64 {
    256 * 1024 * 1024
}
fn default_compression() -> String {
    "none".to_string()
}

/// A checked configuration.
#[derive(Debug, Clone)]
pub struct Validated {
    /// The output directory.
    pub dir: PathBuf,
    /// Rows per file.
    pub max_rows_per_file: u64,
    /// Bytes per file.
    pub max_bytes_per_file: u64,
    /// Zstd buffer compression.
    pub zstd: bool,
}

impl ArrowConfig {
    /// Checks every key, naming the first at fault.
    ///
    /// # Errors
    /// [`Error::Config`] naming the key.
    pub fn validate(self) -> Result<Validated> {
        if self.path.trim().is_empty() {
            return Err(Error::config(
                "path",
                "is empty; give the directory the .arrow files go to",
            ));
        }
        if self.max_rows_per_file == 0 {
            return Err(Error::config(
                "max_rows_per_file",
                "must be at least 1 (default 1000000)",
            ));
        }
        if self.max_bytes_per_file == 0 {
            return Err(Error::config(
                "max_bytes_per_file",
                "must be at least 1 (default 268435456)",
            ));
        }
        let zstd = match self.compression.as_str() {
            "none" => false,
            "zstd" => true,
            other => {
                return Err(Error::config(
                    "compression",
                    format!("{other:?} is not one of none, zstd"),
                ));
            }
        };
        let path = self.path.strip_prefix("file://").unwrap_or(&self.path);
        Ok(Validated {
            dir: PathBuf::from(path),
            max_rows_per_file: self.max_rows_per_file,
            max_bytes_per_file: self.max_bytes_per_file,
            zstd,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(v: serde_json::Value) -> std::result::Result<Validated, String> {
        serde_json::from_value::<ArrowConfig>(v)
            .map_err(|e| e.to_string())?
            .validate()
            .map_err(|e| e.to_string())
    }

    #[test]
    fn defaults_and_messages() {
        let v = check(serde_json::json!({"path": "out"})).unwrap();
        assert_eq!(
            (v.max_rows_per_file, v.max_bytes_per_file, v.zstd),
            (1_000_000, 256 * 1024 * 1024, false)
        );
        assert_eq!(
            check(serde_json::json!({"path": "o", "compression": "lz4"})).unwrap_err(),
            r#"compression: "lz4" is not one of none, zstd"#
        );
        assert!(
            check(serde_json::json!({"path": "o", "max_rows_per_file": 0}))
                .unwrap_err()
                .starts_with("max_rows_per_file:")
        );
        assert!(
            check(serde_json::json!({"path": ""}))
                .unwrap_err()
                .starts_with("path:")
        );
        assert!(
            check(serde_json::json!({"path": "o", "url": "x"}))
                .unwrap_err()
                .contains("url")
        );
        let schema = tributary_plugin_sdk::config_schema::<ArrowConfig>().to_string();
        assert!(
            schema.contains("\"additionalProperties\":false"),
            "{schema}"
        );
    }
}
