//! Opening object stores from URLs: `s3://bucket/prefix` (AWS environment variables
//! honoured: `AWS_ENDPOINT`, `AWS_REGION`, `AWS_ACCESS_KEY_ID`, `AWS_ALLOW_HTTP`, …),
//! `file:///abs/dir`, or a plain local directory (created when missing).

use std::sync::Arc;

use object_store::ObjectStore;
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;

use crate::error::EngineError;

/// A store and the prefix inside it.
#[derive(Debug, Clone)]
pub struct StoreLocation {
    /// The store.
    pub store: Arc<dyn ObjectStore>,
    /// The prefix under which everything goes.
    pub prefix: ObjectPath,
    /// The URL it was opened from, for messages.
    pub url: String,
}

/// Opens a store from a URL or local path.
///
/// # Errors
/// [`EngineError::Store`] naming the URL.
pub fn open(url: &str) -> Result<StoreLocation, EngineError> {
    let err = |message: String| EngineError::Store {
        url: url.to_string(),
        message,
    };
    if let Some(rest) = url.strip_prefix("s3://") {
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(err(
                "the URL names no bucket; write s3://bucket/prefix".into()
            ));
        }
        let store = AmazonS3Builder::from_env()
            .with_bucket_name(bucket)
            .build()
            .map_err(|e| err(e.to_string()))?;
        return Ok(StoreLocation {
            store: Arc::new(store),
            prefix: ObjectPath::from(prefix),
            url: url.to_string(),
        });
    }
    let dir = if let Some(rest) = url.strip_prefix("file://") {
        std::path::PathBuf::from(rest)
    } else if url.contains("://") {
        return Err(err(
            "unsupported URL scheme; use s3://, file:// or a local path".into(),
        ));
    } else {
        std::path::PathBuf::from(url)
    };
    std::fs::create_dir_all(&dir).map_err(|e| err(format!("cannot create directory: {e}")))?;
    let store = LocalFileSystem::new_with_prefix(&dir).map_err(|e| err(e.to_string()))?;
    Ok(StoreLocation {
        store: Arc::new(store),
        prefix: ObjectPath::from(""),
        url: url.to_string(),
    })
}

impl StoreLocation {
    /// A path under the prefix.
    pub fn child(&self, rel: &str) -> ObjectPath {
        let mut p = self.prefix.clone();
        for part in rel.split('/').filter(|s| !s.is_empty()) {
            p = p.clone().join(part);
        }
        p
    }
}
