//! One writer per pipeline (and shard): a lease object in the state store.
//!
//! Taking the lease is a conditional create (`PutMode::Create`: `If-None-Match: *` on S3,
//! a no-clobber link on a local directory), so of two runs started together exactly one
//! wins; the other refuses with the holder's run id, host, pid and expiry. The holder
//! renews the lease (rewrites it with a later expiry) every third of its lifetime, and
//! deletes it at the end. A lease is taken over when it has expired, when its holder ran
//! on this host and its process is gone (a killed run resumed at once), or with
//! `--force-unlock`. A holder that finds its lease taken over stops at the next window.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStoreExt, PutMode, PutOptions, PutPayload};
use serde::{Deserialize, Serialize};

use crate::error::EngineError;
use crate::store::StoreLocation;

/// Default lifetime of a lease without renewal.
pub const DEFAULT_TTL: Duration = Duration::from_secs(60);

/// What a lease object holds.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct LeaseRecord {
    /// The holding run.
    pub run_id: String,
    /// Its host name.
    pub host: String,
    /// Its process id.
    pub pid: u32,
    /// When it was taken, RFC 3339.
    pub acquired_at: String,
    /// When it lapses unless renewed, RFC 3339.
    pub expires_at: String,
}

impl LeaseRecord {
    /// True while the lease binds: not expired, and its holder not known to be gone.
    pub fn live(&self) -> bool {
        !self.expired(Utc::now()) && !self.holder_gone()
    }

    fn expired(&self, now: DateTime<Utc>) -> bool {
        DateTime::parse_from_rfc3339(&self.expires_at).map_or(true, |t| t.to_utc() <= now)
    }

    /// True when the holder ran on this host and its process no longer exists.
    fn holder_gone(&self) -> bool {
        self.host == host_name()
            && self.pid != std::process::id()
            && !std::path::Path::new(&format!("/proc/{}", self.pid)).exists()
            && std::path::Path::new("/proc/self").exists()
    }
}

/// This machine's name (`/etc/hostname`, `HOSTNAME`, else `unknown`).
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".into())
}

/// A held lease; renewed in the background until [`Lease::release`] (or drop).
#[derive(Debug)]
pub struct Lease {
    loc: StoreLocation,
    path: ObjectPath,
    run_id: String,
    lost: Arc<AtomicBool>,
    renewer: Option<tokio::task::JoinHandle<()>>,
}

fn record(run_id: &str, ttl: Duration) -> LeaseRecord {
    let now = Utc::now();
    LeaseRecord {
        run_id: run_id.to_string(),
        host: host_name(),
        pid: std::process::id(),
        acquired_at: now.to_rfc3339(),
        expires_at: (now + chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::MAX))
            .to_rfc3339(),
    }
}

async fn read(loc: &StoreLocation, path: &ObjectPath) -> Result<Option<LeaseRecord>, String> {
    match loc.store.get(path).await {
        Ok(r) => {
            let b = r.bytes().await.map_err(|e| e.to_string())?;
            Ok(serde_json::from_slice(&b).ok())
        }
        Err(object_store::Error::NotFound { .. }) => Ok(None),
        Err(e) => Err(e.to_string()),
    }
}

fn payload(r: &LeaseRecord) -> PutPayload {
    PutPayload::from(Bytes::from(
        serde_json::to_vec_pretty(r).unwrap_or_default(),
    ))
}

impl Lease {
    /// Takes the lease at `rel` (under the store's prefix) for `run_id`.
    ///
    /// # Errors
    /// [`EngineError::LeaseHeld`] when another live run holds it;
    /// [`EngineError::Store`] when the store fails.
    pub async fn acquire(
        loc: &StoreLocation,
        rel: &str,
        run_id: &str,
        ttl: Duration,
        force: bool,
    ) -> Result<Lease, EngineError> {
        let path = loc.child(rel);
        let store_err = |message: String| EngineError::Store {
            url: format!("{}/{rel}", loc.url.trim_end_matches('/')),
            message,
        };
        for _ in 0..3 {
            let mine = record(run_id, ttl);
            let opts = PutOptions {
                mode: PutMode::Create,
                ..PutOptions::default()
            };
            match loc.store.put_opts(&path, payload(&mine), opts).await {
                Ok(_) => return Ok(Self::held(loc, path, run_id, ttl)),
                Err(object_store::Error::AlreadyExists { .. }) => {}
                Err(e) => {
                    // A store that refuses conditional writes (not implemented, or an
                    // S3-compatible server without If-None-Match): best effort, said so. A
                    // store that is down fails the read or the write below, with its error.
                    tracing::warn!(url = %loc.url, error = %e, "the state store did not take a conditional create; the lease is best-effort (read, then write)");
                    if let Some(h) = read(loc, &path).await.map_err(store_err)?
                        && !(force || h.expired(Utc::now()) || h.holder_gone())
                    {
                        return Err(held_error(&h));
                    }
                    loc.store
                        .put(&path, payload(&mine))
                        .await
                        .map_err(|e| store_err(e.to_string()))?;
                    return Ok(Self::held(loc, path, run_id, ttl));
                }
            }
            let holder = read(loc, &path).await.map_err(store_err)?;
            let stale = match &holder {
                None => true,
                Some(h) => force || h.expired(Utc::now()) || h.holder_gone(),
            };
            if !stale {
                return Err(holder.map_or_else(
                    || store_err("the lease object is unreadable".into()),
                    |h| held_error(&h),
                ));
            }
            if let Some(h) = &holder {
                tracing::warn!(holder = %h.run_id, host = %h.host, pid = h.pid, expires = %h.expires_at, force, "taking over a stale lease");
            }
            match loc.store.delete(&path).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(store_err(e.to_string())),
            }
        }
        Err(store_err(
            "the lease changed hands three times while taking it; run again".into(),
        ))
    }

    fn held(loc: &StoreLocation, path: ObjectPath, run_id: &str, ttl: Duration) -> Lease {
        let lost = Arc::new(AtomicBool::new(false));
        let renewer = tokio::spawn(renew(
            loc.clone(),
            path.clone(),
            run_id.to_string(),
            ttl,
            lost.clone(),
        ));
        Lease {
            loc: loc.clone(),
            path,
            run_id: run_id.to_string(),
            lost,
            renewer: Some(renewer),
        }
    }

    /// True when another run took the lease over (this run must stop).
    pub fn lost(&self) -> bool {
        self.lost.load(Ordering::SeqCst)
    }

    /// Stops renewing and deletes the lease if it is still this run's.
    pub async fn release(mut self) {
        if let Some(r) = self.renewer.take() {
            r.abort();
        }
        if let Ok(Some(h)) = read(&self.loc, &self.path).await
            && h.run_id == self.run_id
            && let Err(e) = self.loc.store.delete(&self.path).await
        {
            tracing::warn!(error = %e, "could not delete the lease; it lapses at its expiry");
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if let Some(r) = self.renewer.take() {
            r.abort();
        }
    }
}

fn held_error(h: &LeaseRecord) -> EngineError {
    EngineError::LeaseHeld {
        run_id: h.run_id.clone(),
        host: h.host.clone(),
        pid: h.pid,
        expires_at: h.expires_at.clone(),
    }
}

/// Rewrites the lease with a later expiry every third of its lifetime, while it is ours.
async fn renew(
    loc: StoreLocation,
    path: ObjectPath,
    run_id: String,
    ttl: Duration,
    lost: Arc<AtomicBool>,
) {
    let every = (ttl / 3).max(Duration::from_millis(100));
    loop {
        tokio::time::sleep(every).await;
        match read(&loc, &path).await {
            Ok(Some(h)) if h.run_id == run_id => {
                let mut r = record(&run_id, ttl);
                r.acquired_at = h.acquired_at;
                if let Err(e) = loc.store.put(&path, payload(&r)).await {
                    tracing::warn!(error = %e, "could not renew the lease; retrying");
                }
            }
            Ok(_) => {
                tracing::error!(
                    "the lease was taken over by another run; stopping at the next window"
                );
                lost.store(true, Ordering::SeqCst);
                return;
            }
            Err(e) => tracing::warn!(error = %e, "could not read the lease; retrying"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn one_holder_at_a_time_and_takeover_rules() {
        let dir = tempfile::tempdir().unwrap();
        let loc = crate::store::open(dir.path().to_str().unwrap()).unwrap();
        let a = Lease::acquire(&loc, "p/lease.json", "run-a", DEFAULT_TTL, false)
            .await
            .unwrap();
        let e = Lease::acquire(&loc, "p/lease.json", "run-b", DEFAULT_TTL, false)
            .await
            .unwrap_err()
            .to_string();
        assert!(e.contains("run-a") && e.contains("--force-unlock"), "{e}");
        // Forced: b takes it; a learns at its next renewal.
        let b = Lease::acquire(&loc, "p/lease.json", "run-b", DEFAULT_TTL, true)
            .await
            .unwrap();
        a.release().await;
        let held = read(&loc, &loc.child("p/lease.json"))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(held.run_id, "run-b", "a's release leaves b's lease alone");
        b.release().await;
        assert!(
            read(&loc, &loc.child("p/lease.json"))
                .await
                .unwrap()
                .is_none()
        );
    }

    #[tokio::test]
    async fn expired_and_orphaned_leases_are_taken_over() {
        let dir = tempfile::tempdir().unwrap();
        let loc = crate::store::open(dir.path().to_str().unwrap()).unwrap();
        let path = loc.child("p/lease.json");
        let mut old = record("old", DEFAULT_TTL);
        old.host = "elsewhere".into();
        old.expires_at = "2020-01-01T00:00:00Z".into();
        loc.store.put(&path, payload(&old)).await.unwrap();
        let l = Lease::acquire(&loc, "p/lease.json", "new", DEFAULT_TTL, false)
            .await
            .unwrap();
        l.release().await;
        // A live lease of a process of this host that is gone.
        let mut orphan = record("orphan", DEFAULT_TTL);
        orphan.pid = u32::MAX - 1;
        loc.store.put(&path, payload(&orphan)).await.unwrap();
        let l = Lease::acquire(&loc, "p/lease.json", "new", DEFAULT_TTL, false)
            .await
            .unwrap();
        l.release().await;
        // A live lease elsewhere is respected.
        let mut live = record("live", DEFAULT_TTL);
        live.host = "elsewhere".into();
        loc.store.put(&path, payload(&live)).await.unwrap();
        assert!(
            Lease::acquire(&loc, "p/lease.json", "new", DEFAULT_TTL, false)
                .await
                .is_err()
        );
    }

    #[tokio::test]
    async fn a_taken_over_lease_is_noticed() {
        let dir = tempfile::tempdir().unwrap();
        let loc = crate::store::open(dir.path().to_str().unwrap()).unwrap();
        let ttl = Duration::from_millis(300);
        let a = Lease::acquire(&loc, "p/lease.json", "a", ttl, false)
            .await
            .unwrap();
        let b = Lease::acquire(&loc, "p/lease.json", "b", ttl, true)
            .await
            .unwrap();
        // Bounded wait for a's renewer (every 100 ms) to see b's lease.
        for _ in 0..50 {
            if a.lost() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(a.lost());
        assert!(!b.lost());
    }
}
