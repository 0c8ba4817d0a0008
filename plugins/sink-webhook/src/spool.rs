//! The dead-letter spool: batches that could not be delivered, one file per batch in
//! `{data_dir}/spool/`, written atomically (temporary file, fsync, rename).
//!
//! File format: one line of JSON metadata ([`SpoolMeta`]), a newline, then the exact
//! uncompressed request body. Header values (which may be credentials) are not stored: the
//! redelivery takes them, and the signature, from the current configuration.

use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::request::Delivery;

/// What is stored beside a spooled body.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SpoolMeta {
    /// Format version (2; version 1 also named the window, which is ignored now).
    pub version: u32,
    /// The idempotency key it was (and will again be) sent with.
    pub idempotency_key: String,
    /// Its position among the requests of its window.
    pub seq: u64,
    /// Records in the body.
    pub records: u64,
    /// The body's content type.
    pub content_type: String,
    /// When it was spooled (RFC 3339).
    pub spooled_at: String,
    /// Why it was spooled.
    pub reason: String,
}

/// A spool directory.
#[derive(Debug, Clone)]
pub struct Spool {
    dir: PathBuf,
}

const EXT: &str = "batch";

impl Spool {
    /// The spool under a data directory (created on first write).
    pub fn new(data_dir: &Path) -> Self {
        Spool {
            dir: data_dir.join("spool"),
        }
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn io(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
        move |source| Error::Spool {
            path: path.display().to_string(),
            source,
        }
    }

    /// Writes one batch, replacing any earlier file of the same key.
    ///
    /// # Errors
    /// [`Error::Spool`] naming the file.
    pub fn put(&self, d: &Delivery, reason: &str) -> Result<PathBuf> {
        fs::create_dir_all(&self.dir).map_err(Self::io(&self.dir))?;
        let meta = SpoolMeta {
            version: 2,
            idempotency_key: d.key.clone(),
            seq: d.seq,
            records: d.records,
            content_type: "application/json".into(),
            spooled_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            reason: reason.to_string(),
        };
        let path = self.dir.join(format!("{}.{EXT}", d.key));
        let tmp = self.dir.join(format!(".{}.{EXT}.tmp", d.key));
        let line = serde_json::to_vec(&meta).map_err(|e| Error::Spool {
            path: path.display().to_string(),
            source: std::io::Error::other(e),
        })?;
        let write = || -> std::io::Result<()> {
            let mut f = fs::File::create(&tmp)?;
            f.write_all(&line)?;
            f.write_all(b"\n")?;
            f.write_all(&d.body)?;
            f.sync_all()?;
            fs::rename(&tmp, &path)?;
            // Make the rename itself durable (best effort where directories cannot be opened).
            if let Ok(dir) = fs::File::open(&self.dir) {
                let _ = dir.sync_all();
            }
            Ok(())
        };
        write().map_err(Self::io(&path))?;
        Ok(path)
    }

    /// Every spooled batch, oldest first (by time spooled, then position in its window).
    ///
    /// # Errors
    /// [`Error::Spool`] when the directory or a file cannot be read or parsed.
    pub fn list(&self) -> Result<Vec<(PathBuf, SpoolMeta, Delivery)>> {
        let entries = match fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(Self::io(&self.dir)(e)),
        };
        let mut out = Vec::new();
        for entry in entries {
            let path = entry.map_err(Self::io(&self.dir))?.path();
            if path.extension().and_then(|e| e.to_str()) != Some(EXT) {
                continue;
            }
            let bytes = fs::read(&path).map_err(Self::io(&path))?;
            let bad = |what: String| Error::Spool {
                path: path.display().to_string(),
                source: std::io::Error::new(std::io::ErrorKind::InvalidData, what),
            };
            let nl = bytes
                .iter()
                .position(|b| *b == b'\n')
                .ok_or_else(|| bad("no metadata line".into()))?;
            let (line, rest) = bytes.split_at(nl);
            let meta: SpoolMeta =
                serde_json::from_slice(line).map_err(|e| bad(format!("bad metadata line: {e}")))?;
            let body = rest.get(1..).unwrap_or_default().to_vec();
            let d = Delivery {
                key: meta.idempotency_key.clone(),
                body: Arc::new(body),
                records: meta.records,
                seq: meta.seq,
            };
            out.push((path, meta, d));
        }
        out.sort_by(|a, b| (&a.1.spooled_at, a.1.seq).cmp(&(&b.1.spooled_at, b.1.seq)));
        Ok(out)
    }

    /// Removes a delivered batch.
    ///
    /// # Errors
    /// [`Error::Spool`] naming the file.
    pub fn remove(&self, path: &Path) -> Result<()> {
        match fs::remove_file(path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Self::io(path)(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn put_list_remove_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::new(dir.path());
        assert!(spool.list().unwrap().is_empty());
        let d = |seq: u64| Delivery {
            key: format!("k{seq}"),
            body: Arc::new(format!("{{\"records\":[{seq}]}}\n").into_bytes()),
            records: 1,
            seq,
        };
        spool.put(&d(1), "down").unwrap();
        spool.put(&d(0), "down").unwrap();
        let mut listed = spool.list().unwrap();
        assert_eq!(listed.len(), 2);
        listed.sort_by(|a, b| a.2.key.cmp(&b.2.key));
        assert_eq!(listed[0].2.key, "k0");
        assert_eq!(listed[1].2.body.as_slice(), d(1).body.as_slice());
        assert_eq!(listed[1].1.reason, "down");
        // No temporary files are left.
        assert_eq!(fs::read_dir(spool.dir()).unwrap().count(), 2);
        spool.remove(&listed[0].0).unwrap();
        assert_eq!(spool.list().unwrap().len(), 1);
    }
}
