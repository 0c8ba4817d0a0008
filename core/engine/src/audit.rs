//! The tamper-evident audit log: JSON lines, each carrying `seq`, `prev_hash` and `hash`,
//! where `hash` = SHA-256 of the previous hash, a newline, and the entry's JSON without
//! `hash`. A sidecar `audit.head` records the last `seq` and `hash`, so truncating the log
//! is detected too. [`verify`] proves a log intact or names the first broken line.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::error::EngineError;

/// The hash before the first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// An open audit log.
#[derive(Debug)]
pub struct AuditLog {
    path: PathBuf,
    seq: u64,
    last_hash: String,
}

fn entry_hash(prev: &str, entry_without_hash: &serde_json::Value) -> String {
    let mut h = Sha256::new();
    h.update(prev.as_bytes());
    h.update(b"\n");
    h.update(entry_without_hash.to_string().as_bytes());
    hex::encode(h.finalize())
}

/// The sidecar file that records the last entry of `log` (`audit.head`).
pub fn head_path(log: &Path) -> PathBuf {
    log.with_extension("head")
}

impl AuditLog {
    /// Opens (or creates) `<dir>/audit.jsonl`, continuing its chain.
    ///
    /// # Errors
    /// When the file cannot be created, or the existing log is broken (verify it first).
    pub fn open(dir: &Path) -> Result<Self, EngineError> {
        let path = dir.join("audit.jsonl");
        let err = |m: String| EngineError::Audit {
            path: path.display().to_string(),
            message: m,
        };
        std::fs::create_dir_all(dir).map_err(|e| err(format!("cannot create directory: {e}")))?;
        let (seq, last_hash) = if path.exists() {
            let report = verify(&path).map_err(|e| {
                err(format!(
                    "the existing log is broken ({e}); move it aside to start a new chain"
                ))
            })?;
            (report.entries, report.last_hash)
        } else {
            (0, GENESIS.to_string())
        };
        Ok(AuditLog {
            path,
            seq,
            last_hash,
        })
    }

    /// The log file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends an entry (an object); `seq`, `prev_hash` and `hash` are added here.
    ///
    /// # Errors
    /// When the file cannot be written.
    pub fn append(
        &mut self,
        mut entry: serde_json::Map<String, serde_json::Value>,
    ) -> Result<String, EngineError> {
        let err = |m: String| EngineError::Audit {
            path: self.path.display().to_string(),
            message: m,
        };
        entry.remove("hash");
        let mut full = serde_json::Map::new();
        full.insert("seq".into(), (self.seq + 1).into());
        full.insert("prev_hash".into(), self.last_hash.clone().into());
        for (k, v) in entry {
            if k != "seq" && k != "prev_hash" {
                full.insert(k, v);
            }
        }
        let value = serde_json::Value::Object(full);
        let hash = entry_hash(&self.last_hash, &value);
        let serde_json::Value::Object(mut full) = value else {
            return Err(err("internal: entry is not an object".into()));
        };
        full.insert("hash".into(), hash.clone().into());
        let line = serde_json::Value::Object(full).to_string();
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .map_err(|e| err(e.to_string()))?;
        f.write_all(line.as_bytes())
            .and_then(|_| f.write_all(b"\n"))
            .and_then(|_| f.sync_data())
            .map_err(|e| err(e.to_string()))?;
        self.seq += 1;
        self.last_hash = hash.clone();
        let head = serde_json::json!({ "seq": self.seq, "hash": self.last_hash });
        let tmp = head_path(&self.path).with_extension("head.tmp");
        std::fs::write(&tmp, head.to_string())
            .and_then(|_| std::fs::rename(&tmp, head_path(&self.path)))
            .map_err(|e| err(e.to_string()))?;
        Ok(hash)
    }
}

/// What [`verify`] found in an intact log.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct VerifyReport {
    /// Number of entries.
    pub entries: u64,
    /// Hash of the last entry.
    pub last_hash: String,
    /// Whether a head file confirmed the log is not truncated.
    pub head_checked: bool,
}

/// The first broken place of a log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}:{line}: {reason}")]
pub struct VerifyError {
    /// The file.
    pub path: String,
    /// 1-based line (0 for the file or head as a whole).
    pub line: u64,
    /// What is wrong.
    pub reason: String,
}

/// Verifies a log file (or a directory holding `audit.jsonl`).
///
/// # Errors
/// The first broken entry.
pub fn verify(path: &Path) -> Result<VerifyReport, VerifyError> {
    let path = if path.is_dir() {
        path.join("audit.jsonl")
    } else {
        path.to_path_buf()
    };
    let shown = path.display().to_string();
    let fail = |line: u64, reason: String| VerifyError {
        path: shown.clone(),
        line,
        reason,
    };
    let file = std::fs::File::open(&path).map_err(|e| fail(0, format!("cannot open: {e}")))?;
    let mut prev = GENESIS.to_string();
    let mut count = 0u64;
    for (i, line) in std::io::BufReader::new(file).lines().enumerate() {
        let n = i as u64 + 1;
        let line = line.map_err(|e| fail(n, format!("cannot read: {e}")))?;
        let value: serde_json::Value =
            serde_json::from_str(&line).map_err(|e| fail(n, format!("not valid JSON: {e}")))?;
        let serde_json::Value::Object(mut obj) = value else {
            return Err(fail(n, "entry is not a JSON object".into()));
        };
        let Some(serde_json::Value::String(hash)) = obj.remove("hash") else {
            return Err(fail(n, "entry has no `hash`".into()));
        };
        let seq = obj.get("seq").and_then(|s| s.as_u64());
        if seq != Some(count + 1) {
            return Err(fail(
                n,
                format!(
                    "expected seq {} but found {:?}: an entry was deleted, inserted or moved",
                    count + 1,
                    seq
                ),
            ));
        }
        let prev_in = obj.get("prev_hash").and_then(|s| s.as_str()).unwrap_or("");
        if prev_in != prev {
            return Err(fail(
                n,
                "prev_hash does not match the previous entry: the chain is broken here".into(),
            ));
        }
        let computed = entry_hash(&prev, &serde_json::Value::Object(obj));
        if computed != hash {
            return Err(fail(
                n,
                "hash does not match the entry's content: this entry was edited".into(),
            ));
        }
        prev = hash;
        count += 1;
    }
    let head = head_path(&path);
    let mut head_checked = false;
    if head.exists() {
        let text = std::fs::read_to_string(&head)
            .map_err(|e| fail(0, format!("cannot read {}: {e}", head.display())))?;
        let v: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| fail(0, format!("{} is not valid JSON: {e}", head.display())))?;
        let hseq = v.get("seq").and_then(|s| s.as_u64()).unwrap_or(0);
        let hhash = v.get("hash").and_then(|s| s.as_str()).unwrap_or("");
        if hseq != count || hhash != prev {
            return Err(fail(
                count + 1,
                format!(
                    "the head file records {hseq} entries ending in {hhash:.12}…, the log has {count}: entries were removed from the end"
                ),
            ));
        }
        head_checked = true;
    }
    Ok(VerifyReport {
        entries: count,
        last_hash: prev,
        head_checked,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(i: u64) -> serde_json::Map<String, serde_json::Value> {
        let serde_json::Value::Object(m) =
            serde_json::json!({ "kind": "window", "records": i * 10, "integrity_rate": 0.97 })
        else {
            unreachable!()
        };
        m
    }

    fn write_log(dir: &Path, n: u64) -> PathBuf {
        let mut log = AuditLog::open(dir).unwrap();
        for i in 0..n {
            log.append(entry(i)).unwrap();
        }
        log.path().to_path_buf()
    }

    fn lines(p: &Path) -> Vec<String> {
        std::fs::read_to_string(p)
            .unwrap()
            .lines()
            .map(str::to_string)
            .collect()
    }

    fn put(p: &Path, l: &[String]) {
        std::fs::write(p, l.iter().map(|s| format!("{s}\n")).collect::<String>()).unwrap();
    }

    #[test]
    fn intact_log_verifies_and_reopens() {
        let d = tempfile::tempdir().unwrap();
        let p = write_log(d.path(), 5);
        assert_eq!(verify(&p).unwrap().entries, 5);
        // Reopening continues the chain.
        let mut log = AuditLog::open(d.path()).unwrap();
        log.append(entry(9)).unwrap();
        let r = verify(&p).unwrap();
        assert_eq!(r.entries, 6);
        assert!(r.head_checked);
    }

    #[test]
    fn every_tampering_is_detected_at_its_line() {
        let d = tempfile::tempdir().unwrap();
        let p = write_log(d.path(), 5);
        let orig = lines(&p);
        // Edit a value.
        let mut l = orig.clone();
        l[2] = l[2].replace("\"records\":20", "\"records\":21");
        put(&p, &l);
        assert_eq!(verify(&p).unwrap_err().line, 3);
        // Delete a middle line.
        let mut l = orig.clone();
        l.remove(1);
        put(&p, &l);
        assert_eq!(verify(&p).unwrap_err().line, 2);
        // Insert a copy.
        let mut l = orig.clone();
        l.insert(3, orig[3].clone());
        put(&p, &l);
        assert_eq!(verify(&p).unwrap_err().line, 5);
        // Reorder.
        let mut l = orig.clone();
        l.swap(1, 2);
        put(&p, &l);
        assert_eq!(verify(&p).unwrap_err().line, 2);
        // Truncate the end.
        let mut l = orig.clone();
        l.pop();
        put(&p, &l);
        assert_eq!(verify(&p).unwrap_err().line, 5);
        // Intact again.
        put(&p, &orig);
        assert!(verify(&p).is_ok());
    }
}
