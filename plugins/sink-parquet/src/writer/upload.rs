//! One object streamed to the store: multipart parts as they fill, SHA-256 as it goes.

use bytes::Bytes;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStoreExt, PutPayload, WriteMultipart};
use sha2::{Digest, Sha256};

use super::Store;
use crate::error::{Error, Result};

/// One object being streamed: bytes below one part are held, then go out as multipart-upload
/// parts of `part_bytes`; an object smaller than one part is sent with a single PUT.
pub struct Upload {
    pub(super) path: ObjectPath,
    pub(super) pending: Vec<u8>,
    multipart: Option<WriteMultipart>,
    hasher: Sha256,
    bytes: u64,
    pub(super) part_bytes: usize,
}

impl Upload {
    /// A new upload to `path`.
    pub fn new(path: ObjectPath, part_bytes: usize) -> Upload {
        Upload {
            path,
            pending: Vec::new(),
            multipart: None,
            hasher: Sha256::new(),
            bytes: 0,
            part_bytes,
        }
    }

    /// Appends bytes, sending whole parts as they fill. Parts go out one at a time, so memory
    /// stays at about two parts.
    ///
    /// # Errors
    /// When starting the upload or sending a part fails.
    pub fn push(&mut self, store: &Store, data: &[u8]) -> Result<()> {
        self.hasher.update(data);
        self.bytes += data.len() as u64;
        self.pending.extend_from_slice(data);
        if self.pending.len() < self.part_bytes {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::take(&mut self.pending));
        let path = &self.path;
        let part_bytes = self.part_bytes;
        let slot = &mut self.multipart;
        store
            .rt
            .block_on(async {
                if slot.is_none() {
                    let up = store.store.put_multipart(path).await?;
                    *slot = Some(WriteMultipart::new_with_chunk_size(up, part_bytes));
                }
                match slot.as_mut() {
                    Some(w) => {
                        w.put(chunk);
                        w.wait_for_capacity(1).await
                    }
                    None => Ok(()),
                }
            })
            .map_err(|source| Error::Io {
                op: "upload",
                location: store.url_of(&self.path),
                source,
            })
    }

    /// Sends what is left and completes the object. Returns (bytes, sha256 hex).
    ///
    /// # Errors
    /// When the final request fails (the multipart upload is then aborted).
    pub fn finish(mut self, store: &Store) -> Result<(u64, String)> {
        let rest = Bytes::from(std::mem::take(&mut self.pending));
        let res = match self.multipart.take() {
            None => store
                .rt
                .block_on(store.store.put(&self.path, PutPayload::from(rest)))
                .map(|_| ()),
            Some(mut w) => store.rt.block_on(async {
                w.put(rest);
                w.finish().await.map(|_| ())
            }),
        };
        res.map_err(|source| Error::Io {
            op: "upload",
            location: store.url_of(&self.path),
            source,
        })?;
        // The bytes are made durable in the background, waited for at the window's flush
        // (before the part is renamed into place); the entry is, once renamed, at the flush.
        store.sync_file_later(&self.path)?;
        Ok((self.bytes, hex::encode(self.hasher.finalize())))
    }

    /// Abandons the object, aborting a multipart upload so no parts are left behind.
    pub fn abort(mut self, store: &Store) {
        if let Some(w) = self.multipart.take() {
            // Best effort: an abort that fails leaves parts the bucket's lifecycle rule removes.
            let _ = store.rt.block_on(w.abort());
        }
    }
}
