//! The checkpoint store: which windows of a pipeline are landed in every sink, the run in
//! progress, and the incremental cursor. One small object per window, so shards that
//! share a store never overwrite each other's progress.

use std::collections::BTreeSet;

use bytes::Bytes;
use futures::TryStreamExt;
use object_store::{ObjectStoreExt, PutPayload};
use serde::{Deserialize, Serialize};

use crate::error::EngineError;
use crate::store::{StoreLocation, open};

/// A window made durable in every sink.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct WindowRecord {
    /// The window's id.
    pub window_id: String,
    /// Start, RFC 3339.
    pub start: String,
    /// End (exclusive), RFC 3339.
    pub end: String,
    /// Records the source produced.
    pub records: u64,
    /// The run that landed it.
    pub run_id: String,
    /// When.
    pub completed_at: String,
}

/// The run in progress or last run.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RunRecord {
    /// Its id.
    pub run_id: String,
    /// `running`, `succeeded`, `failed`, `interrupted`.
    pub status: String,
    /// When it started.
    pub started_at: String,
    /// When it ended (absent while it runs, and in records of older versions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<String>,
    /// The shard, `K/N`, if any.
    #[serde(default)]
    pub shard: Option<String>,
}

/// The state store of one pipeline.
#[derive(Debug, Clone)]
pub struct StateStore {
    loc: StoreLocation,
    pipeline: String,
}

fn safe(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

impl StateStore {
    /// Opens the state of `pipeline` at `url`.
    ///
    /// # Errors
    /// When the store cannot be opened.
    pub fn open(url: &str, pipeline: &str) -> Result<Self, EngineError> {
        Ok(StateStore {
            loc: open(url)?,
            pipeline: safe(pipeline),
        })
    }

    fn err(&self, e: impl std::fmt::Display) -> EngineError {
        EngineError::Store {
            url: self.loc.url.clone(),
            message: e.to_string(),
        }
    }

    async fn get_json<T: for<'de> Deserialize<'de>>(
        &self,
        rel: &str,
    ) -> Result<Option<T>, EngineError> {
        let path = self.loc.child(&format!("{}/{rel}", self.pipeline));
        match self.loc.store.get(&path).await {
            Ok(r) => {
                let bytes = r.bytes().await.map_err(|e| self.err(e))?;
                serde_json::from_slice(&bytes).map(Some).map_err(|e| {
                    self.err(format!(
                        "corrupt state object {path}: {e}; delete it to start over"
                    ))
                })
            }
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.err(e)),
        }
    }

    /// Every object under `rel` (relative to the store's prefix).
    async fn list(&self, rel: &str) -> Result<Vec<object_store::ObjectMeta>, EngineError> {
        let prefix = self.loc.child(rel);
        self.loc
            .store
            .list(Some(&prefix))
            .try_collect()
            .await
            .map_err(|e| self.err(e))
    }

    async fn put_json<T: Serialize>(&self, rel: &str, value: &T) -> Result<(), EngineError> {
        let path = self.loc.child(&format!("{}/{rel}", self.pipeline));
        let bytes = serde_json::to_vec_pretty(value).map_err(|e| self.err(e))?;
        self.loc
            .store
            .put(&path, PutPayload::from(Bytes::from(bytes)))
            .await
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Ids of windows already landed.
    ///
    /// # Errors
    /// When the store cannot be listed.
    pub async fn completed_windows(&self) -> Result<BTreeSet<String>, EngineError> {
        let list = self.list(&format!("{}/windows", self.pipeline)).await?;
        Ok(list
            .into_iter()
            .filter_map(|m| {
                m.location
                    .filename()
                    .and_then(|f| f.strip_suffix(".json"))
                    .map(str::to_string)
            })
            .collect())
    }

    /// Records a window as landed everywhere.
    ///
    /// # Errors
    /// When the store cannot be written.
    pub async fn mark_window(&self, record: &WindowRecord) -> Result<(), EngineError> {
        self.put_json(&format!("windows/{}.json", record.window_id), record)
            .await
    }

    /// Forgets every landed window (a fresh, non-resumed run).
    ///
    /// # Errors
    /// When the store cannot be written.
    pub async fn clear_windows(&self) -> Result<(), EngineError> {
        let list = self.list(&format!("{}/windows", self.pipeline)).await?;
        for m in list {
            self.loc
                .store
                .delete(&m.location)
                .await
                .map_err(|e| self.err(e))?;
        }
        Ok(())
    }

    /// The last run record of this pipeline (or shard).
    ///
    /// # Errors
    /// When the store cannot be read.
    pub async fn run(&self, shard: &str) -> Result<Option<RunRecord>, EngineError> {
        self.get_json(&format!("run{shard}.json")).await
    }

    /// Writes the run record.
    ///
    /// # Errors
    /// When the store cannot be written.
    pub async fn put_run(&self, shard: &str, run: &RunRecord) -> Result<(), EngineError> {
        self.put_json(&format!("run{shard}.json"), run).await
    }

    /// Takes the lease of this pipeline (or of a shard, `shard` being its suffix) for
    /// `run_id`; see [`crate::lease`].
    ///
    /// # Errors
    /// [`EngineError::LeaseHeld`] when another live run holds it.
    pub async fn lease(
        &self,
        shard: &str,
        run_id: &str,
        force: bool,
    ) -> Result<crate::lease::Lease, EngineError> {
        let ttl = std::env::var("TRIBUTARY_LEASE_TTL_SECS")
            .ok()
            .and_then(|v| v.parse::<u64>().ok())
            .filter(|s| (1..=86_400).contains(s))
            .map_or(crate::lease::DEFAULT_TTL, std::time::Duration::from_secs);
        crate::lease::Lease::acquire(
            &self.loc,
            &format!("{}/lease{shard}.json", self.pipeline),
            run_id,
            ttl,
            force,
        )
        .await
    }

    /// The incremental cursor of a source: where the last successful run ended.
    ///
    /// # Errors
    /// When the store cannot be read.
    pub async fn cursor(&self, source: &str) -> Result<Option<String>, EngineError> {
        Ok(self
            .get_json::<serde_json::Value>(&format!("cursor-{}.json", safe(source)))
            .await?
            .and_then(|v| v.get("end").and_then(|e| e.as_str()).map(str::to_string)))
    }

    /// The reporting bookmark of a source: the latest `lastUpdateTime` landed.
    ///
    /// # Errors
    /// When the store cannot be read.
    pub async fn bookmark(&self, source: &str) -> Result<Option<String>, EngineError> {
        Ok(self
            .get_json::<serde_json::Value>(&format!("bookmark-{}.json", safe(source)))
            .await?
            .and_then(|v| {
                v.get("updated_since")
                    .and_then(|e| e.as_str())
                    .map(str::to_string)
            }))
    }

    /// Stores the reporting bookmark of a source.
    ///
    /// # Errors
    /// When the store cannot be written.
    pub async fn put_bookmark(&self, source: &str, updated_since: &str) -> Result<(), EngineError> {
        self.put_json(
            &format!("bookmark-{}.json", safe(source)),
            &serde_json::json!({ "updated_since": updated_since }),
        )
        .await
    }

    /// Stores the incremental cursor of a source.
    ///
    /// # Errors
    /// When the store cannot be written.
    pub async fn put_cursor(&self, source: &str, end: &str) -> Result<(), EngineError> {
        self.put_json(
            &format!("cursor-{}.json", safe(source)),
            &serde_json::json!({ "end": end }),
        )
        .await
    }

    /// The keys of every state object of this pipeline, relative to its prefix
    /// (`windows/<id>.json`, `run.json`, `lease-shard-0-of-3.json`, `cursor-<source>.json`, …).
    ///
    /// # Errors
    /// When the store cannot be listed.
    pub async fn keys(&self) -> Result<Vec<String>, EngineError> {
        let prefix = self.loc.child(&self.pipeline);
        let list = self.list(&self.pipeline).await?;
        let mut keys: Vec<String> = list
            .into_iter()
            .filter_map(|m| {
                m.location
                    .prefix_match(&prefix)
                    .map(|parts| parts.map(|p| p.as_ref().to_string()).collect::<Vec<_>>())
                    .map(|parts| parts.join("/"))
            })
            .collect();
        keys.sort();
        Ok(keys)
    }

    /// Reads one state object (a key from [`StateStore::keys`]) as JSON.
    ///
    /// # Errors
    /// When it cannot be read or is not JSON.
    pub async fn read(&self, key: &str) -> Result<Option<serde_json::Value>, EngineError> {
        self.get_json(key).await
    }

    /// Deletes one state object; `false` when it did not exist.
    ///
    /// # Errors
    /// When the store refuses the delete.
    pub async fn delete(&self, key: &str) -> Result<bool, EngineError> {
        let path = self.loc.child(&format!("{}/{key}", self.pipeline));
        match self.loc.store.delete(&path).await {
            Ok(()) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(self.err(e)),
        }
    }

    /// The URL of the store, for messages.
    pub fn url(&self) -> &str {
        &self.loc.url
    }
}
