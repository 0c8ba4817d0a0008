//! I/O: the object store behind a small runtime, streaming uploads, and one parquet part file.

use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use futures::TryStreamExt;
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectMeta, ObjectStore, ObjectStoreExt, PutPayload};
use parquet::arrow::ArrowWriter;
use parquet::file::properties::WriterProperties;

use crate::config::{Location, Validated};

mod upload;
use crate::error::{Error, Result};
pub use upload::Upload;

/// The object store plus the runtime its calls run on. The sink is called from one
/// dedicated thread, so a current-thread runtime and `block_on` are enough.
pub struct Store {
    /// The directory of a local store (object_store's local backend stages writes in
    /// `name#N` files that it does not list; a crash can leave them behind).
    local_root: Option<std::path::PathBuf>,
    /// The local backend itself (writes without its own fsyncs: [`Store::sync_file`] and
    /// [`Store::sync_dirs`] make what must be durable durable, once each).
    local: Option<Arc<LocalFileSystem>>,
    /// Syncs finished local parts in the background ([`Store::sync_file_later`]).
    syncer: Option<crate::durable::Syncer>,
    store: Arc<dyn ObjectStore>,
    prefix: ObjectPath,
    base: String,
    rt: tokio::runtime::Runtime,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("base", &self.base)
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Builds the store for a validated configuration. A local directory is created if missing.
    ///
    /// # Errors
    /// When the runtime, the directory or the S3 client cannot be built.
    pub fn open(cfg: &Validated) -> Result<Store> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|source| Error::Local {
                context: "building the sink's async runtime".into(),
                source,
            })?;
        let mut local_root = None;
        let mut local = None;
        let (store, prefix, base): (Arc<dyn ObjectStore>, ObjectPath, String) = match &cfg.location
        {
            Location::Local { dir } => {
                std::fs::create_dir_all(dir).map_err(|source| Error::Local {
                    context: format!("creating output directory `{}` (from `url`)", dir.display()),
                    source,
                })?;
                // No fsync inside object_store: it syncs a staged file and its directory on
                // every upload and both directories on every rename (4 a part, 370 at each
                // window end of a 1M run, stalling the pipeline); the sink syncs each file
                // once when it is finished and each directory once at the window's flush.
                let fs = Arc::new(LocalFileSystem::new_with_prefix(dir).map_err(|source| {
                    Error::Store {
                        url: cfg.url.clone(),
                        source,
                    }
                })?);
                local = Some(Arc::clone(&fs));
                // Canonical, as `path_to_filesystem` answers: `sync_dirs` compares with it.
                let root = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.clone());
                let base = root.display().to_string();
                local_root = Some(root);
                (fs, ObjectPath::default(), base)
            }
            Location::S3 { bucket, prefix } => {
                let b = tributary_lake::apply_s3!(
                    AmazonS3Builder::from_env().with_bucket_name(bucket),
                    &cfg.s3
                );
                let store = b.build().map_err(|source| Error::Store {
                    url: cfg.url.clone(),
                    source,
                })?;
                (Arc::new(store), prefix.clone(), format!("s3://{bucket}"))
            }
        };
        let syncer = match local {
            Some(_) => Some(crate::durable::Syncer::start()?),
            None => None,
        };
        Ok(Store {
            local_root,
            local,
            syncer,
            store,
            prefix,
            base,
            rt,
        })
    }

    /// The sink's key prefix.
    pub fn prefix(&self) -> &ObjectPath {
        &self.prefix
    }

    /// The object under the prefix at `rel` (segments already safe).
    ///
    /// # Errors
    /// When `rel` is not a valid key (a bug: callers build it from sanitised parts).
    pub fn key(&self, rel: &str) -> Result<ObjectPath> {
        let full = if self.prefix.as_ref().is_empty() {
            rel.to_string()
        } else {
            format!("{}/{rel}", self.prefix)
        };
        ObjectPath::parse(&full)
            .map_err(|e| Error::Batch(format!("cannot build object key `{full}`: {e}")))
    }

    /// The object's location as a user reads it (`s3://bucket/key` or a file path).
    pub fn url_of(&self, p: &ObjectPath) -> String {
        format!("{}/{}", self.base, p)
    }

    /// Every object under `under` (recursively).
    ///
    /// # Errors
    /// When listing fails.
    pub fn list(&self, under: &ObjectPath) -> Result<Vec<ObjectMeta>> {
        let prefix = if under.as_ref().is_empty() {
            None
        } else {
            Some(under)
        };
        self.rt
            .block_on(self.store.list(prefix).try_collect::<Vec<_>>())
            .map_err(|source| Error::Io {
                op: "list",
                location: self.url_of(under),
                source,
            })
    }

    /// Deletes one object.
    ///
    /// # Errors
    /// When the delete fails.
    pub fn delete(&self, p: &ObjectPath) -> Result<()> {
        self.rt
            .block_on(self.store.delete(p))
            .map_err(|source| Error::Io {
                op: "delete",
                location: self.url_of(p),
                source,
            })
    }

    /// Deletes everything under `dir`, including what the store's listing does not show
    /// (the local backend's `name#N` staging files left by a killed process).
    ///
    /// # Errors
    /// When listing or deleting fails.
    pub fn delete_tree(&self, dir: &ObjectPath) -> Result<()> {
        for meta in self.list(dir)? {
            self.delete(&meta.location)?;
        }
        if let Some(root) = &self.local_root {
            let local = dir
                .parts()
                .fold(root.clone(), |p, part| p.join(part.as_ref()));
            if local.starts_with(root) && local != *root {
                match std::fs::remove_dir_all(&local) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(source) => {
                        return Err(Error::Local {
                            context: format!("removing temporary directory `{}`", local.display()),
                            source,
                        });
                    }
                }
                // The parent (`_tmp/`), shared with other sinks and shards, goes only when
                // nothing else is in it; object stores have no directories to leave behind.
                if let Some(parent) = local.parent().filter(|p| *p != root.as_path()) {
                    let _ = std::fs::remove_dir(parent);
                }
            }
        }
        Ok(())
    }

    /// Reads a small object; `None` when it does not exist.
    ///
    /// # Errors
    /// When the read fails for another reason.
    pub fn get_opt(&self, p: &ObjectPath) -> Result<Option<Vec<u8>>> {
        let got = self.rt.block_on(async {
            match self.store.get(p).await {
                Ok(r) => r.bytes().await.map(Some),
                Err(object_store::Error::NotFound { .. }) => Ok(None),
                Err(e) => Err(e),
            }
        });
        got.map(|b| b.map(|b| b.to_vec()))
            .map_err(|source| Error::Io {
                op: "read",
                location: self.url_of(p),
                source,
            })
    }

    /// Deletes an object; `false` when there was none.
    ///
    /// # Errors
    /// When the delete fails for another reason.
    pub fn delete_if_exists(&self, p: &ObjectPath) -> Result<bool> {
        match self.rt.block_on(self.store.delete(p)) {
            Ok(()) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(source) => Err(Error::Io {
                op: "delete",
                location: self.url_of(p),
                source,
            }),
        }
    }

    /// Moves an object, replacing `to` if it exists.
    ///
    /// # Errors
    /// When the rename fails.
    pub fn rename(&self, from: &ObjectPath, to: &ObjectPath) -> Result<()> {
        self.rt
            .block_on(self.store.rename(from, to))
            .map_err(|source| Error::Io {
                op: "rename",
                location: format!("{} -> {}", self.url_of(from), self.url_of(to)),
                source,
            })
    }

    /// Makes a local object's bytes durable (`fsync`); nothing to do on S3, where a
    /// completed upload is durable.
    ///
    /// # Errors
    /// When the file cannot be opened or synced.
    pub fn sync_file(&self, p: &ObjectPath) -> Result<()> {
        match self.local_path(p)? {
            Some(path) => crate::durable::sync_now(&path, &self.url_of(p)),
            None => Ok(()),
        }
    }

    /// [`Store::sync_file`] on a thread of its own; [`Store::wait_synced`] waits for it.
    ///
    /// # Errors
    /// Only when the key has no local path.
    pub fn sync_file_later(&self, p: &ObjectPath) -> Result<()> {
        let Some(path) = self.local_path(p)? else {
            return Ok(());
        };
        match &self.syncer {
            Some(s) => s.submit(path, self.url_of(p)),
            None => crate::durable::sync_now(&path, &self.url_of(p)),
        }
    }

    /// Waits for every [`Store::sync_file_later`] so far.
    ///
    /// # Errors
    /// The first file that could not be synced.
    pub fn wait_synced(&self) -> Result<()> {
        self.syncer
            .as_ref()
            .map_or(Ok(()), crate::durable::Syncer::wait)
    }

    /// The file behind a local object; `None` on S3.
    fn local_path(&self, p: &ObjectPath) -> Result<Option<std::path::PathBuf>> {
        let Some(fs) = &self.local else {
            return Ok(None);
        };
        fs.path_to_filesystem(p)
            .map(Some)
            .map_err(|source| Error::Io {
                op: "fsync",
                location: self.url_of(p),
                source,
            })
    }

    /// Makes the directory entries of local objects durable: each distinct directory that
    /// holds one of them, and its parents up to the store's root (a partition directory
    /// created by this window is itself an entry of its parent). Nothing on S3.
    ///
    /// # Errors
    /// When a directory cannot be opened or synced.
    pub fn sync_dirs<'p>(&self, keys: impl IntoIterator<Item = &'p ObjectPath>) -> Result<()> {
        let (Some(fs), Some(root)) = (&self.local, &self.local_root) else {
            return Ok(());
        };
        let mut dirs = std::collections::BTreeSet::new();
        for key in keys {
            let path = fs.path_to_filesystem(key).map_err(|source| Error::Io {
                op: "fsync",
                location: self.url_of(key),
                source,
            })?;
            let mut dir = path.parent();
            while let Some(d) = dir {
                if !dirs.insert(d.to_path_buf()) || !d.starts_with(root) || d == root {
                    break;
                }
                dir = d.parent();
            }
        }
        for d in dirs.iter().filter(|d| d.starts_with(root)) {
            std::fs::File::open(d)
                .and_then(|f| f.sync_all())
                .map_err(|source| Error::Local {
                    context: format!("fsync of directory {}", d.display()),
                    source,
                })?;
        }
        Ok(())
    }

    /// Writes a small object and makes it durable (bytes and directory entry).
    ///
    /// # Errors
    /// When the put or a sync fails.
    pub fn put_durable(&self, p: &ObjectPath, data: Vec<u8>) -> Result<()> {
        self.put(p, data)?;
        self.sync_file(p)?;
        self.sync_dirs([p])
    }

    /// Writes a small object in one request.
    ///
    /// # Errors
    /// When the put fails.
    pub fn put(&self, p: &ObjectPath, data: Vec<u8>) -> Result<()> {
        self.rt
            .block_on(self.store.put(p, PutPayload::from(data)))
            .map(|_| ())
            .map_err(|source| Error::Io {
                op: "upload",
                location: self.url_of(p),
                source,
            })
    }

    /// Lists one level under the prefix: proves the store answers and the bucket exists.
    ///
    /// # Errors
    /// When the store does not answer or refuses.
    pub fn probe(&self) -> Result<()> {
        let prefix = if self.prefix.as_ref().is_empty() {
            None
        } else {
            Some(&self.prefix)
        };
        self.rt
            .block_on(self.store.list_with_delimiter(prefix))
            .map(|_| ())
            .map_err(|source| Error::Io {
                op: "list",
                location: self.url_of(&self.prefix),
                source,
            })
    }
}

/// A finished part file, still under its temporary key until its window is flushed.
#[derive(Debug, Clone)]
pub struct Finished {
    /// The temporary key.
    pub tmp: ObjectPath,
    /// The partition path (`date=2023-01-15`), empty without partitions.
    pub partition: String,
    /// The part number within (window, partition).
    pub part: u32,
    /// Rows in the file.
    pub rows: u64,
    /// Bytes in the file.
    pub bytes: u64,
    /// SHA-256 of the file.
    pub sha256: String,
}

pub use crate::props::props_for;

/// One open parquet file: encoded row groups stream into an [`Upload`].
pub struct PartFile {
    writer: ArrowWriter<Vec<u8>>,
    upload: Upload,
    schema: SchemaRef,
    /// The partition path.
    pub partition: String,
    /// The part number.
    pub part: u32,
    rows: u64,
    /// Last use, for closing the least recently used file.
    pub last_used: u64,
}

impl PartFile {
    /// Opens a part file at temporary key `tmp`.
    ///
    /// # Errors
    /// When the parquet writer rejects the schema.
    pub fn create(
        tmp: ObjectPath,
        partition: String,
        part: u32,
        schema: SchemaRef,
        props: &WriterProperties,
        part_bytes: usize,
        store: &Store,
    ) -> Result<PartFile> {
        let writer = ArrowWriter::try_new(Vec::new(), schema.clone(), Some(props.clone()))
            .map_err(|source| Error::Parquet {
                location: store.url_of(&tmp),
                source,
            })?;
        Ok(PartFile {
            writer,
            upload: Upload::new(tmp, part_bytes),
            schema,
            partition,
            part,
            rows: 0,
            last_used: 0,
        })
    }

    /// True when `schema` has the same fields as this file.
    pub fn accepts(&self, schema: &SchemaRef) -> bool {
        self.schema.fields() == schema.fields()
    }

    /// Encodes a batch; whole upload parts are sent as they fill.
    ///
    /// # Errors
    /// When encoding or uploading fails.
    pub fn write(&mut self, store: &Store, batch: &RecordBatch) -> Result<()> {
        self.writer.write(batch).map_err(|source| Error::Parquet {
            location: store.url_of(&self.upload.path),
            source,
        })?;
        self.rows += batch.num_rows() as u64;
        if self.writer.inner().len() >= self.upload.part_bytes {
            let data = std::mem::take(self.writer.inner_mut());
            self.upload.push(store, &data)?;
        }
        Ok(())
    }

    /// Memory this file holds: the row group being built, encoded bytes not yet handed to
    /// the upload, and the upload's unsent bytes.
    pub fn memory(&self) -> usize {
        self.writer.memory_size() + self.writer.inner().len() + self.upload.pending.len()
    }

    /// Bytes written plus the estimated size of the open row group.
    pub fn size(&self) -> u64 {
        (self.writer.bytes_written() + self.writer.in_progress_size()) as u64
    }

    /// Writes the footer and completes the upload.
    ///
    /// # Errors
    /// When encoding or uploading fails.
    pub fn finish(self, store: &Store) -> Result<Finished> {
        let PartFile {
            writer,
            mut upload,
            partition,
            part,
            rows,
            ..
        } = self;
        let tail = match writer.into_inner() {
            Ok(t) => t,
            Err(source) => {
                let location = store.url_of(&upload.path);
                upload.abort(store);
                return Err(Error::Parquet { location, source });
            }
        };
        let tmp = upload.path.clone();
        if let Err(e) = upload.push(store, &tail) {
            upload.abort(store);
            return Err(e);
        }
        let (bytes, sha256) = upload.finish(store)?;
        Ok(Finished {
            tmp,
            partition,
            part,
            rows,
            bytes,
            sha256,
        })
    }

    /// Abandons the file.
    pub fn abort(self, store: &Store) {
        self.upload.abort(store);
    }
}
