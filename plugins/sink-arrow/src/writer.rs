//! I/O: one Arrow IPC file being written to a temporary name, hashed as it goes.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use arrow_array::RecordBatch;
use arrow_ipc::CompressionType;
use arrow_ipc::writer::{FileWriter, IpcWriteOptions};
use arrow_schema::SchemaRef;
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// A writer that counts and hashes every byte it passes on.
pub struct HashingWriter {
    inner: BufWriter<File>,
    hasher: Sha256,
    bytes: u64,
}

impl Write for HashingWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        let done = buf.get(..n).unwrap_or(buf);
        self.hasher.update(done);
        self.bytes += done.len() as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// A finished file, still under its temporary name until its window is flushed.
#[derive(Debug, Clone)]
pub struct Finished {
    /// The temporary file.
    pub tmp: PathBuf,
    /// Rows in it.
    pub rows: u64,
    /// Bytes in it.
    pub bytes: u64,
    /// SHA-256 of its bytes.
    pub sha256: String,
}

/// One open IPC file.
pub struct IpcFile {
    writer: FileWriter<HashingWriter>,
    tmp: PathBuf,
    schema: SchemaRef,
    /// Rows written so far.
    pub rows: u64,
}

impl IpcFile {
    /// Creates `tmp` and writes the IPC header for `schema`.
    ///
    /// # Errors
    /// When the file cannot be created or the schema cannot be encoded.
    pub fn create(tmp: PathBuf, schema: SchemaRef, zstd: bool) -> Result<IpcFile> {
        let file = File::create(&tmp).map_err(Error::io("create", &tmp))?;
        let w = HashingWriter {
            inner: BufWriter::with_capacity(1 << 20, file),
            hasher: Sha256::new(),
            bytes: 0,
        };
        let ipc = |source| Error::Ipc {
            path: tmp.clone(),
            source,
        };
        let mut opts = IpcWriteOptions::default();
        if zstd {
            opts = opts
                .try_with_compression(Some(CompressionType::ZSTD))
                .map_err(ipc)?;
        }
        let writer = FileWriter::try_new_with_options(w, &schema, opts).map_err(ipc)?;
        Ok(IpcFile {
            writer,
            tmp,
            schema,
            rows: 0,
        })
    }

    /// True when `schema` has this file's fields.
    pub fn accepts(&self, schema: &SchemaRef) -> bool {
        self.schema.fields() == schema.fields()
    }

    /// Appends a batch.
    ///
    /// # Errors
    /// When encoding or writing fails.
    pub fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        self.writer.write(batch).map_err(|source| Error::Ipc {
            path: self.tmp.clone(),
            source,
        })?;
        self.rows += batch.num_rows() as u64;
        Ok(())
    }

    /// Bytes written so far.
    pub fn bytes(&self) -> u64 {
        self.writer.get_ref().bytes
    }

    /// Writes the footer, flushes and fsyncs the file.
    ///
    /// # Errors
    /// When any of those fails.
    pub fn finish(self) -> Result<Finished> {
        let IpcFile {
            writer, tmp, rows, ..
        } = self;
        let w = writer.into_inner().map_err(|source| Error::Ipc {
            path: tmp.clone(),
            source,
        })?;
        let HashingWriter {
            inner,
            hasher,
            bytes,
        } = w;
        let file = inner.into_inner().map_err(|e| Error::Io {
            op: "write",
            path: tmp.clone(),
            source: e.into_error(),
        })?;
        file.sync_all().map_err(Error::io("fsync", &tmp))?;
        Ok(Finished {
            tmp,
            rows,
            bytes,
            sha256: hex::encode(hasher.finalize()),
        })
    }

    /// Abandons the file and removes it.
    pub fn abort(self) {
        let tmp = self.tmp.clone();
        drop(self);
        let _ = std::fs::remove_file(tmp);
    }
}

/// Fsyncs a directory so renames in it are durable.
///
/// # Errors
/// When the directory cannot be opened or synced.
pub fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(Error::io("fsync", dir))
}
