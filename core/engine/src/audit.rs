//! The tamper-evident audit log: JSON lines, each carrying `seq`, `prev_hash` and `hash`,
//! where `hash` = SHA-256 of the previous hash, a newline, and the entry's JSON without
//! `hash` (HMAC-SHA256 under `audit.key` when one is set, so that rewriting the whole file
//! without the key is detected too). A sidecar `audit.head` records the last `seq` and
//! `hash` (and `mac` for a keyed log), so truncating the log is detected. [`verify`] proves
//! a log intact or names the first broken line; it hashes the bytes on disk and refuses a
//! line that is not exactly how the log writes it (duplicate keys, reordered fields).
//!
//! Crash safety: each line is written and fsynced, then the head is written to a temporary
//! file, fsynced, renamed over the old head, and the directory fsynced. A run killed
//! between those steps leaves a torn last line or a head one entry behind; opening the log
//! repairs both and records the repair as an entry, so `--resume` is never blocked by it.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use crate::error::EngineError;

/// The `mac` value of a keyed log's head.
pub const MAC_NAME: &str = "hmac-sha256";

/// The hash before the first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// An open audit log.
#[derive(Debug)]
pub struct AuditLog {
    path: PathBuf,
    seq: u64,
    last_hash: String,
    key: Option<tributary_plugin_sdk::Secret>,
}

fn entry_hash(key: Option<&str>, prev: &str, entry_without_hash: &serde_json::Value) -> String {
    let text = entry_without_hash.to_string();
    match key.and_then(|k| Hmac::<Sha256>::new_from_slice(k.as_bytes()).ok()) {
        Some(mut m) => {
            m.update(prev.as_bytes());
            m.update(b"\n");
            m.update(text.as_bytes());
            hex::encode(m.finalize().into_bytes())
        }
        None => {
            let mut h = Sha256::new();
            h.update(prev.as_bytes());
            h.update(b"\n");
            h.update(text.as_bytes());
            hex::encode(h.finalize())
        }
    }
}

/// Writes `bytes` to `path` durably: a temporary file, fsynced, renamed, the directory
/// fsynced.
fn write_durably(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("head.tmp");
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    sync_dir(path)
}

fn sync_dir(path: &Path) -> std::io::Result<()> {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => std::fs::File::open(d)?.sync_all(),
        _ => Ok(()),
    }
}

/// What [`repair`] fixed.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Repair {
    /// Bytes of an incomplete last line removed.
    pub torn_tail_bytes: u64,
    /// The head was one entry behind the log (or missing after the first entry) and was
    /// brought forward.
    pub head_behind: bool,
}

impl Repair {
    fn is_empty(&self) -> bool {
        self.torn_tail_bytes == 0 && !self.head_behind
    }
}

/// Repairs what a crash in the middle of [`AuditLog::append`] leaves: a torn last line
/// (no newline at the end) is cut off; a head exactly one entry behind the log (the last
/// line written, the head not yet) is brought forward. Anything else is left for
/// [`verify`] to report.
///
/// # Errors
/// When the files cannot be read or written.
pub fn repair(log: &Path, key: Option<&str>) -> std::io::Result<Repair> {
    let mut r = Repair::default();
    let bytes = std::fs::read(log)?;
    if !bytes.is_empty() && !bytes.ends_with(b"\n") {
        let keep = bytes.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
        r.torn_tail_bytes = (bytes.len() - keep) as u64;
        let f = std::fs::OpenOptions::new().write(true).open(log)?;
        f.set_len(keep as u64)?;
        f.sync_all()?;
    }
    // The chain without its head: does the head lag by exactly the last entry?
    let Ok(chain) = walk(log, key) else {
        return Ok(r);
    };
    let head = read_head(log).ok();
    let lagging = match &head {
        None => chain.entries == 1,
        Some(h) => chain.entries >= 1 && h.seq + 1 == chain.entries && h.hash == chain.before_last,
    };
    if lagging {
        let mac = head
            .as_ref()
            .and_then(|h| h.mac.clone())
            .or_else(|| key.map(|_| MAC_NAME.to_string()));
        write_head(log, chain.entries, &chain.last_hash, mac.as_deref())?;
        r.head_behind = true;
    }
    Ok(r)
}

#[derive(Debug, Clone, serde::Deserialize, serde::Serialize)]
struct Head {
    seq: u64,
    hash: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    mac: Option<String>,
}

fn read_head(log: &Path) -> Result<Head, String> {
    let head = head_path(log);
    let text = std::fs::read_to_string(&head)
        .map_err(|e| format!("cannot read {}: {e}", head.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{} is not a valid head: {e}", head.display()))
}

fn write_head(log: &Path, seq: u64, hash: &str, mac: Option<&str>) -> std::io::Result<()> {
    let head = Head {
        seq,
        hash: hash.to_string(),
        mac: mac.map(str::to_string),
    };
    write_durably(
        &head_path(log),
        serde_json::to_string(&head).unwrap_or_default().as_bytes(),
    )
}

/// The sidecar file that records the last entry of `log` (`audit.head`).
pub fn head_path(log: &Path) -> PathBuf {
    log.with_extension("head")
}

impl AuditLog {
    /// Opens (or creates) `<dir>/audit.jsonl`, continuing its chain; `key` makes the
    /// chain an HMAC. A crash's torn last line or lagging head is repaired first and the
    /// repair recorded as an entry.
    ///
    /// # Errors
    /// When the file cannot be created, or the existing log is broken (verify it first).
    pub fn open(
        dir: &Path,
        key: Option<tributary_plugin_sdk::Secret>,
    ) -> Result<Self, EngineError> {
        let path = dir.join("audit.jsonl");
        let err = |m: String| EngineError::Audit {
            path: path.display().to_string(),
            message: m,
        };
        std::fs::create_dir_all(dir).map_err(|e| err(format!("cannot create directory: {e}")))?;
        let k = key.as_ref().map(|k| k.expose().to_string());
        let mut repaired = Repair::default();
        let (seq, last_hash) = if path.exists() {
            repaired =
                repair(&path, k.as_deref()).map_err(|e| err(format!("cannot repair: {e}")))?;
            let report = verify_with(&path, k.as_deref()).map_err(|e| {
                err(format!(
                    "the existing log is broken ({e}); move it aside to start a new chain"
                ))
            })?;
            (report.entries, report.last_hash)
        } else {
            (0, GENESIS.to_string())
        };
        let mut log = AuditLog {
            path,
            seq,
            last_hash,
            key,
        };
        if !repaired.is_empty() {
            tracing::warn!(
                torn_tail_bytes = repaired.torn_tail_bytes,
                head_behind = repaired.head_behind,
                "repaired the audit log after a crash"
            );
            let mut m = serde_json::Map::new();
            m.insert("kind".into(), "audit_repair".into());
            m.insert("ts".into(), chrono::Utc::now().to_rfc3339().into());
            m.insert(
                "repair".into(),
                serde_json::to_value(&repaired).unwrap_or_default(),
            );
            log.append(m)?;
        }
        Ok(log)
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
        let key = self.key.as_ref().map(|k| k.expose());
        let hash = entry_hash(key, &self.last_hash, &value);
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
        let mut bytes = line.into_bytes();
        bytes.push(b'\n');
        let first = self.seq == 0;
        f.write_all(&bytes)
            .and_then(|_| f.sync_data())
            .and_then(|_| if first { sync_dir(&self.path) } else { Ok(()) })
            .map_err(|e| err(e.to_string()))?;
        self.seq += 1;
        self.last_hash = hash.clone();
        write_head(
            &self.path,
            self.seq,
            &self.last_hash,
            self.key.is_some().then_some(MAC_NAME),
        )
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

/// Verifies a log file (or a directory holding `audit.jsonl`) that has no key.
///
/// # Errors
/// The first broken entry.
pub fn verify(path: &Path) -> Result<VerifyReport, VerifyError> {
    verify_with(path, None)
}

/// The chain of a log, without its head.
struct Chain {
    entries: u64,
    last_hash: String,
    /// The hash before the last entry.
    before_last: String,
}

/// Verifies a log with its key (`None` for an unkeyed log).
///
/// # Errors
/// The first broken entry, a missing or disagreeing head, a keyed log without its key.
pub fn verify_with(path: &Path, key: Option<&str>) -> Result<VerifyReport, VerifyError> {
    let path = if path.is_dir() {
        path.join("audit.jsonl")
    } else {
        path.to_path_buf()
    };
    let fail = |line: u64, reason: String| VerifyError {
        path: path.display().to_string(),
        line,
        reason,
    };
    let head = read_head(&path);
    if let Ok(h) = &head {
        match (h.mac.as_deref(), key) {
            (Some(_), None) => {
                return Err(fail(0, "this log is keyed (HMAC): give its key (audit.key; `audit verify --key-env VAR`)".into()));
            }
            (None, Some(_)) => {
                return Err(fail(0, "this log is not keyed, but a key was given".into()));
            }
            _ => {}
        }
    }
    let chain = walk(&path, key)?;
    if chain.entries == 0 && head.is_err() {
        return Ok(VerifyReport {
            entries: 0,
            last_hash: GENESIS.to_string(),
            head_checked: false,
        });
    }
    let h = head.map_err(|e| {
        fail(
            0,
            format!("{e}: the head is missing or unreadable, so truncation cannot be ruled out"),
        )
    })?;
    if h.seq != chain.entries || h.hash != chain.last_hash {
        return Err(fail(
            chain.entries + 1,
            format!(
                "the head file records {} entries ending in {:.12}…, the log has {}: entries were removed from the end",
                h.seq, h.hash, chain.entries
            ),
        ));
    }
    Ok(VerifyReport {
        entries: chain.entries,
        last_hash: chain.last_hash,
        head_checked: true,
    })
}

/// Walks the chain line by line, as the bytes are on disk.
fn walk(path: &Path, key: Option<&str>) -> Result<Chain, VerifyError> {
    let shown = path.display().to_string();
    let fail = |line: u64, reason: String| VerifyError {
        path: shown.clone(),
        line,
        reason,
    };
    let file = std::fs::File::open(path).map_err(|e| fail(0, format!("cannot open: {e}")))?;
    let mut prev = GENESIS.to_string();
    let mut before_last = GENESIS.to_string();
    let mut count = 0u64;
    for (i, line) in std::io::BufReader::new(file).lines().enumerate() {
        let n = i as u64 + 1;
        let line = line.map_err(|e| fail(n, format!("cannot read: {e}")))?;
        let value: serde_json::Value =
            serde_json::from_str(&line).map_err(|e| fail(n, format!("not valid JSON: {e}")))?;
        let canonical = value.to_string();
        if canonical.as_str() != line.as_str() {
            return Err(fail(
                n,
                "the line is not written as the log writes it (a repeated key, reordered or \
                 re-spaced fields): it was edited"
                    .into(),
            ));
        }
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
        let computed = entry_hash(key, &prev, &serde_json::Value::Object(obj));
        if computed != hash {
            return Err(fail(
                n,
                "hash does not match the entry's content: this entry was edited (or the key is wrong)".into(),
            ));
        }
        before_last = std::mem::replace(&mut prev, hash);
        count += 1;
    }
    Ok(Chain {
        entries: count,
        last_hash: prev,
        before_last,
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
        let mut log = AuditLog::open(dir, None).unwrap();
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
        let mut log = AuditLog::open(d.path(), None).unwrap();
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
        // A repeated key (the last one wins when parsed): refused as non-canonical.
        let mut l = orig.clone();
        l[1] = l[1].replacen("{", "{\"records\":999,", 1);
        put(&p, &l);
        assert!(verify(&p).unwrap_err().reason.contains("edited"));
        // Intact again.
        put(&p, &orig);
        assert!(verify(&p).is_ok());
        // Without its head, truncation cannot be ruled out: a failure.
        std::fs::remove_file(head_path(&p)).unwrap();
        assert!(verify(&p).unwrap_err().reason.contains("head"));
    }

    #[test]
    fn a_crash_mid_append_is_repaired_and_recorded() {
        let d = tempfile::tempdir().unwrap();
        let p = write_log(d.path(), 3);
        let head = std::fs::read(head_path(&p)).unwrap();
        // Killed after the line, before the head.
        AuditLog::open(d.path(), None)
            .unwrap()
            .append(entry(7))
            .unwrap();
        std::fs::write(head_path(&p), &head).unwrap();
        // ... and a torn line from the next attempt.
        let mut f = std::fs::OpenOptions::new().append(true).open(&p).unwrap();
        f.write_all(b"{\"seq\":5,\"prev_").unwrap();
        assert!(verify(&p).is_err());
        let mut log = AuditLog::open(d.path(), None).unwrap();
        log.append(entry(8)).unwrap();
        let r = verify(&p).unwrap();
        assert_eq!(r.entries, 6, "4 entries, the repair, the new one");
        let text = std::fs::read_to_string(&p).unwrap();
        assert!(
            text.contains("\"kind\":\"audit_repair\"") && text.contains("\"head_behind\":true")
        );
        assert!(text.contains("\"torn_tail_bytes\":15"), "{text}");
    }

    #[test]
    fn a_keyed_chain_needs_its_key() {
        let d = tempfile::tempdir().unwrap();
        let key = tributary_plugin_sdk::Secret::new("k3y");
        let mut log = AuditLog::open(d.path(), Some(key.clone())).unwrap();
        log.append(entry(1)).unwrap();
        log.append(entry(2)).unwrap();
        let p = log.path().to_path_buf();
        assert_eq!(verify_with(&p, Some("k3y")).unwrap().entries, 2);
        assert!(verify(&p).unwrap_err().reason.contains("keyed"));
        assert!(
            verify_with(&p, Some("wrong"))
                .unwrap_err()
                .reason
                .contains("key")
        );
        // Rewriting the file with a plain SHA-256 chain (no key) and a matching head is
        // detected: the head says keyed, and no unkeyed chain passes under the key.
        let other = tempfile::tempdir().unwrap();
        let mut plain = AuditLog::open(other.path(), None).unwrap();
        plain.append(entry(1)).unwrap();
        std::fs::copy(plain.path(), &p).unwrap();
        assert!(verify_with(&p, Some("k3y")).is_err());
    }
}
