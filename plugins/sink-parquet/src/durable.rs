//! Background `fsync` of finished local part files.
//!
//! A part's bytes must be durable before its window is acknowledged, not before the sink
//! encodes the next batch: a thread of its own syncs each finished part while the sink goes
//! on, and the window's flush waits for all of them before it renames a part into place.
//! Measured: a 1M-record run by day (365 parts) spent 0.27 s more wall time on a disk than
//! on tmpfs, the sink's thread waiting for each `fsync` in turn.

use std::path::PathBuf;
use std::sync::{Mutex, mpsc};
use std::thread::JoinHandle;

use crate::error::{Error, Result};

/// A file to sync: its path and the location named in an error.
type Job = (PathBuf, String);

/// Syncs files on a thread of its own; [`Syncer::wait`] collects the outcomes.
pub struct Syncer {
    jobs: Option<mpsc::Sender<Job>>,
    /// Outcomes, and how many are still to come.
    done: Mutex<(mpsc::Receiver<Result<()>>, usize)>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Syncer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Syncer").finish_non_exhaustive()
    }
}

/// Makes one file's bytes durable.
pub fn sync_now(path: &std::path::Path, location: &str) -> Result<()> {
    std::fs::File::open(path)
        .and_then(|f| f.sync_all())
        .map_err(|source| Error::Local {
            context: format!("fsync of {location}"),
            source,
        })
}

impl Syncer {
    /// Starts the thread.
    ///
    /// # Errors
    /// When the thread cannot be started.
    pub fn start() -> Result<Syncer> {
        let (jobs, inbox) = mpsc::channel::<Job>();
        let (outcomes, done) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("parquet-fsync".into())
            .spawn(move || {
                for (path, location) in inbox {
                    if outcomes.send(sync_now(&path, &location)).is_err() {
                        return;
                    }
                }
            })
            .map_err(|source| Error::Local {
                context: "starting the parquet sink's fsync thread".into(),
                source,
            })?;
        Ok(Syncer {
            jobs: Some(jobs),
            done: Mutex::new((done, 0)),
            thread: Some(thread),
        })
    }

    /// Queues a file; synced at once here if the thread is gone.
    ///
    /// # Errors
    /// Only from an immediate sync.
    pub fn submit(&self, path: PathBuf, location: String) -> Result<()> {
        let Some(jobs) = &self.jobs else {
            return sync_now(&path, &location);
        };
        match jobs.send((path, location)) {
            Ok(()) => {
                self.lock().1 += 1;
                Ok(())
            }
            Err(mpsc::SendError((path, location))) => sync_now(&path, &location),
        }
    }

    /// Waits until every queued file is synced; the first failure, if any.
    ///
    /// # Errors
    /// A file that could not be synced (the others are still waited for).
    pub fn wait(&self) -> Result<()> {
        let mut guard = self.lock();
        let (done, pending) = &mut *guard;
        let mut first = Ok(());
        while *pending > 0 {
            *pending -= 1;
            let outcome = done.recv().unwrap_or_else(|_| {
                Err(Error::Local {
                    context: "the parquet sink's fsync thread stopped".into(),
                    source: std::io::Error::other("thread gone"),
                })
            });
            if first.is_ok() {
                first = outcome;
            }
        }
        first
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, (mpsc::Receiver<Result<()>>, usize)> {
        self.done
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Drop for Syncer {
    fn drop(&mut self) {
        // Closing the queue ends the thread once it has synced what it holds.
        self.jobs = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_synced_and_failures_named() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a");
        std::fs::write(&a, b"x").unwrap();
        let s = Syncer::start().unwrap();
        s.submit(a.clone(), "lake/a".into()).unwrap();
        s.submit(dir.path().join("missing"), "lake/missing".into())
            .unwrap();
        s.submit(a, "lake/a".into()).unwrap();
        let e = s.wait().unwrap_err().to_string();
        assert!(e.contains("fsync of lake/missing"), "{e}");
        // Everything was collected: nothing pending, the next wait is clean.
        s.wait().unwrap();
    }
}
