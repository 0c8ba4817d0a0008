//! The engine side of the ABI: load a plugin library, check its descriptor before any
//! call, and drive instances through the safe [`Sink`] / [`Transform`] traits.
//!
//! Loading order: SHA-256 pin (before `dlopen`, which would run the library's
//! initialisers), entry symbol, `abi_version` (read alone, first), `descriptor_size`,
//! strings, function table. A pinned library is read once; the bytes that were hashed
//! are written to a private copy (a fresh 0700 directory) and that copy is what is
//! loaded, so a file swapped or rewritten at the pinned path after the hash cannot be
//! loaded in its place. A panic reported by an instance poisons it: no further call
//! reaches the plugin, and its memory is leaked rather than freed by code that panicked.
#![allow(unsafe_code)]

use std::ffi::{CStr, c_char, c_void};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::RecordBatch;
use sha2::{Digest, Sha256};

use super::export::{batch_from_struct_data_lent, export_batch, with_schema_metadata};
use super::v1::{
    ABI_VERSION, CloseFn, CreateFn, DestroyFn, ENTRY_SYMBOL, EntryFn, FFI_ArrowArray,
    FFI_ArrowSchema, FlushFn, FreeBufferFn, HealthcheckFn, ProcessFn, STATUS_OK, TributaryBuffer,
    TributaryPluginV1, WriteFn,
};
use crate::error::{ErrorKind, PluginError, Result};
use crate::plugin::{Ack, Checkpoint, CreateContext, Outputs, PluginKind, Sink, Transform};

/// Why a library could not be loaded as a plugin.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// The file could not be read.
    #[error("cannot read plugin file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The pinned SHA-256 did not match; the library was not loaded.
    #[error(
        "plugin {path} has SHA-256 {actual}, but the pipeline pins {expected}; rebuild or update the pin (nothing was loaded)"
    )]
    HashMismatch {
        /// The file.
        path: PathBuf,
        /// The pinned hash.
        expected: String,
        /// The file's hash.
        actual: String,
    },
    /// The dynamic loader refused the file.
    #[error("cannot load {path} as a shared library: {message}")]
    Open {
        /// The file.
        path: PathBuf,
        /// The loader's message.
        message: String,
    },
    /// The library has no entry symbol.
    #[error("{path} is not a Tributary plugin: it exports no `{ENTRY_SYMBOL}` symbol")]
    NotAPlugin {
        /// The file.
        path: PathBuf,
    },
    /// The descriptor is for another ABI version.
    #[error(
        "{path} was built for plugin ABI version {found}, this engine speaks version {supported}; rebuild it against tributary-plugin-sdk"
    )]
    AbiVersion {
        /// The file.
        path: PathBuf,
        /// The plugin's version.
        found: u32,
        /// This engine's version.
        supported: u32,
    },
    /// The descriptor is malformed.
    #[error("{path} has an invalid plugin descriptor: {reason}")]
    BadDescriptor {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

/// What a plugin says about itself.
#[derive(Debug, Clone)]
pub struct PluginMeta {
    /// Name (`type:` in a pipeline).
    pub name: String,
    /// Sink or transform.
    pub kind: PluginKind,
    /// The plugin's version.
    pub version: String,
    /// The ABI version it speaks.
    pub abi_version: u32,
    /// The file it was loaded from.
    pub path: PathBuf,
    /// SHA-256 of that file: checked before loading when the pipeline pins one, otherwise
    /// computed on first use ([`PluginMeta::sha256`]), so that discovering every library in
    /// a directory does not read them all.
    sha256: std::sync::OnceLock<String>,
    /// The JSON Schema of its config.
    pub config_schema: serde_json::Value,
}

impl PluginMeta {
    /// SHA-256 of the plugin's file, lowercase hex; `None` when the file can no longer be
    /// read (it was removed after loading).
    pub fn sha256(&self) -> Option<&str> {
        if let Some(known) = self.sha256.get() {
            return Some(known);
        }
        let computed = file_sha256(&self.path).ok()?;
        Some(self.sha256.get_or_init(|| computed))
    }
}

impl serde::Serialize for PluginMeta {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut s = serializer.serialize_struct("PluginMeta", 7)?;
        s.serialize_field("name", &self.name)?;
        s.serialize_field("kind", &self.kind)?;
        s.serialize_field("version", &self.version)?;
        s.serialize_field("abi_version", &self.abi_version)?;
        s.serialize_field("path", &self.path)?;
        s.serialize_field("sha256", &self.sha256())?;
        s.serialize_field("config_schema", &self.config_schema)?;
        s.end()
    }
}

#[derive(Clone, Copy)]
struct Table {
    create: CreateFn,
    healthcheck: Option<HealthcheckFn>,
    write: Option<WriteFn>,
    process: Option<ProcessFn>,
    flush: FlushFn,
    close: CloseFn,
    destroy: DestroyFn,
    free_buffer: FreeBufferFn,
}

/// A loaded plugin library. Instances keep it loaded through an `Arc`.
pub struct PluginLibrary {
    meta: PluginMeta,
    table: Table,
    // Dropped last: the function pointers above point into it.
    _lib: libloading::Library,
}

impl std::fmt::Debug for PluginLibrary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginLibrary")
            .field("meta", &self.meta)
            .finish_non_exhaustive()
    }
}

/// SHA-256 of a file, lowercase hex.
///
/// # Errors
/// When the file cannot be read.
pub fn file_sha256(path: &Path) -> Result<String, LoadError> {
    let read = |source| LoadError::Read {
        path: path.to_path_buf(),
        source,
    };
    // Streamed: plugin files with debug info run to 100 MB and more.
    let mut file = std::fs::File::open(path).map_err(read)?;
    let mut hasher = Sha256::new();
    std::io::copy(&mut file, &mut hasher).map_err(read)?;
    Ok(hex::encode(hasher.finalize()))
}

/// A private copy of a library's bytes: a fresh directory readable by this user only.
/// Removed on drop (a loaded library stays mapped).
struct PrivateCopy {
    dir: PathBuf,
    file: PathBuf,
}

impl PrivateCopy {
    fn write(original: &Path, bytes: &[u8]) -> std::io::Result<PrivateCopy> {
        use std::io::Write;
        use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
        let base = std::env::temp_dir();
        let name = original
            .file_name()
            .map_or_else(|| "plugin.so".into(), |n| n.to_string_lossy().into_owned());
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        for attempt in 0..16u32 {
            let dir = base.join(format!(
                "tributary-plugin-{}-{nanos:x}-{attempt}",
                std::process::id()
            ));
            // `create` fails if it exists: the directory is ours alone.
            match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e),
            }
            let file = dir.join(&name);
            let copy = PrivateCopy { dir, file };
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o500)
                .open(&copy.file)?;
            f.write_all(bytes)?;
            f.sync_all()?;
            return Ok(copy);
        }
        Err(std::io::Error::other(
            "no fresh private directory for the plugin copy",
        ))
    }
}

impl Drop for PrivateCopy {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.file);
        let _ = std::fs::remove_dir(&self.dir);
    }
}

/// # Safety
/// `p` must be null or point to a NUL-terminated string that lives as long as the library.
unsafe fn read_str(path: &Path, field: &str, p: *const c_char) -> Result<String, LoadError> {
    if p.is_null() {
        return Err(LoadError::BadDescriptor {
            path: path.to_path_buf(),
            reason: format!("`{field}` is null"),
        });
    }
    // SAFETY: non-null and NUL-terminated per the caller.
    let s = unsafe { CStr::from_ptr(p) };
    s.to_str()
        .map(str::to_string)
        .map_err(|_| LoadError::BadDescriptor {
            path: path.to_path_buf(),
            reason: format!("`{field}` is not UTF-8"),
        })
}

impl PluginLibrary {
    /// Loads a plugin, refusing it (before loading) when `pin` is given and differs from the
    /// file's SHA-256.
    ///
    /// # Errors
    /// A [`LoadError`] naming the file and what is wrong with it.
    pub fn load(path: &Path, pin: Option<&str>) -> Result<Arc<PluginLibrary>, LoadError> {
        Self::load_with_hook(path, pin, || {})
    }

    /// [`PluginLibrary::load`], calling `between` after the pin was checked and before
    /// the library is opened (tests use it to swap the file at the pinned path).
    ///
    /// # Errors
    /// As [`PluginLibrary::load`].
    #[doc(hidden)]
    pub fn load_with_hook(
        path: &Path,
        pin: Option<&str>,
        between: impl FnOnce(),
    ) -> Result<Arc<PluginLibrary>, LoadError> {
        let read = |source| LoadError::Read {
            path: path.to_path_buf(),
            source,
        };
        if pin.is_some() && !path.to_string_lossy().contains('/') {
            return Err(LoadError::Open {
                path: path.to_path_buf(),
                message: "a pinned plugin path must contain a `/` (e.g. ./libx.so), so that \
                          the dynamic loader does not search for it elsewhere"
                    .into(),
            });
        }
        // A missing or unreadable file is named as such, not as a failed dlopen.
        std::fs::File::open(path).map_err(read)?;
        let sha256 = std::sync::OnceLock::new();
        let mut private = None;
        if let Some(expected) = pin {
            let bytes = std::fs::read(path).map_err(read)?;
            let actual = hex::encode(Sha256::digest(&bytes));
            if !expected.eq_ignore_ascii_case(&actual) {
                return Err(LoadError::HashMismatch {
                    path: path.to_path_buf(),
                    expected: expected.to_string(),
                    actual,
                });
            }
            let _ = sha256.set(actual);
            private = Some(PrivateCopy::write(path, &bytes).map_err(read)?);
        }
        between();
        let bad = |reason: &str| LoadError::BadDescriptor {
            path: path.to_path_buf(),
            reason: reason.to_string(),
        };
        let open_path = private.as_ref().map_or(path, |c| c.file.as_path());
        // SAFETY: loading a library runs its initialisers; the user asked for this file
        // (by pipeline, plugin path or the engine's own directory), and a pinned one is
        // loaded from a private copy of exactly the bytes whose hash matched the pin.
        let lib = unsafe { libloading::Library::new(open_path) }.map_err(|e| LoadError::Open {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        // The mapping outlives the file: the private copy can go at once.
        drop(private);
        // SAFETY: the symbol's type is the ABI's entry signature.
        let entry: EntryFn = match unsafe { lib.get::<EntryFn>(ENTRY_SYMBOL.as_bytes()) } {
            Ok(sym) => *sym,
            Err(_) => {
                return Err(LoadError::NotAPlugin {
                    path: path.to_path_buf(),
                });
            }
        };
        // SAFETY: calling the entry point is the ABI contract; it takes no arguments.
        let desc = unsafe { entry() };
        if desc.is_null() {
            return Err(bad("the entry point returned a null descriptor"));
        }
        // Read the version alone first: a descriptor of another version may have any shape.
        // SAFETY: every ABI version begins with a u32 abi_version.
        let abi_version = unsafe { std::ptr::read_unaligned(desc as *const u32) };
        if abi_version != ABI_VERSION {
            return Err(LoadError::AbiVersion {
                path: path.to_path_buf(),
                found: abi_version,
                supported: ABI_VERSION,
            });
        }
        // SAFETY: version 1 descriptors begin with abi_version then descriptor_size.
        let size = unsafe { std::ptr::read_unaligned((desc as *const u32).add(1)) } as usize;
        if size < std::mem::size_of::<TributaryPluginV1>() {
            return Err(bad(&format!(
                "descriptor_size is {size} bytes, version 1 needs at least {}",
                std::mem::size_of::<TributaryPluginV1>()
            )));
        }
        // SAFETY: the descriptor is a version 1 descriptor of at least our size.
        let d = unsafe { &*desc };
        let kind = PluginKind::from_code(d.kind)
            .ok_or_else(|| bad(&format!("unknown kind {}", d.kind)))?;
        // SAFETY: the ABI says these are NUL-terminated strings living with the library.
        let (name, version, schema) = unsafe {
            (
                read_str(path, "name", d.name)?,
                read_str(path, "version", d.version)?,
                read_str(path, "config_schema", d.config_schema)?,
            )
        };
        let config_schema: serde_json::Value = serde_json::from_str(&schema)
            .map_err(|e| bad(&format!("config_schema is not JSON: {e}")))?;
        let missing = |f: &str| bad(&format!("required function `{f}` is null"));
        let table = Table {
            create: d.create.ok_or_else(|| missing("create"))?,
            healthcheck: d.healthcheck,
            write: d.write,
            process: d.process,
            flush: d.flush.ok_or_else(|| missing("flush"))?,
            close: d.close.ok_or_else(|| missing("close"))?,
            destroy: d.destroy.ok_or_else(|| missing("destroy"))?,
            free_buffer: d.free_buffer.ok_or_else(|| missing("free_buffer"))?,
        };
        match kind {
            PluginKind::Sink if table.write.is_none() => return Err(missing("write")),
            PluginKind::Transform if table.process.is_none() => return Err(missing("process")),
            _ => {}
        }
        let meta = PluginMeta {
            name,
            kind,
            version,
            abi_version,
            path: path.to_path_buf(),
            sha256,
            config_schema,
        };
        Ok(Arc::new(PluginLibrary {
            meta,
            table,
            _lib: lib,
        }))
    }

    /// What the plugin says about itself.
    pub fn meta(&self) -> &PluginMeta {
        &self.meta
    }

    fn take_buffer(&self, buf: TributaryBuffer) -> Vec<u8> {
        if buf.ptr.is_null() {
            return Vec::new();
        }
        // SAFETY: the plugin filled `buf` per the ABI: `len` readable bytes at `ptr`.
        let v = unsafe { std::slice::from_raw_parts(buf.ptr, buf.len) }.to_vec();
        // SAFETY: the buffer came from this plugin and is given back exactly once.
        unsafe { (self.table.free_buffer)(buf) };
        v
    }

    fn create(
        self: &Arc<Self>,
        config: &serde_json::Value,
        ctx: &CreateContext,
    ) -> Result<Instance> {
        let config = serde_json::to_vec(config).map_err(|e| PluginError::config(e.to_string()))?;
        let ctx = serde_json::to_vec(ctx).map_err(|e| PluginError::runtime(e.to_string()))?;
        let mut inst: *mut c_void = std::ptr::null_mut();
        let mut err = TributaryBuffer::empty();
        // SAFETY: all pointers are valid for the call; the plugin writes `inst` or `err`.
        let code = unsafe {
            (self.table.create)(
                config.as_ptr(),
                config.len(),
                ctx.as_ptr(),
                ctx.len(),
                &mut inst,
                &mut err,
            )
        };
        let mut instance = Instance {
            lib: Arc::clone(self),
            ptr: inst,
            poisoned: false,
        };
        instance.check(code, err)?;
        if instance.ptr.is_null() {
            return Err(PluginError::new(
                ErrorKind::Abi,
                format!("plugin `{}` returned no instance", self.meta.name),
            ));
        }
        Ok(instance)
    }

    /// Creates a sink instance.
    ///
    /// # Errors
    /// The plugin's own error (usually [`ErrorKind::Config`]), or [`ErrorKind::Abi`] when
    /// the plugin is not a sink.
    pub fn create_sink(
        self: &Arc<Self>,
        config: &serde_json::Value,
        ctx: &CreateContext,
    ) -> Result<ForeignSink> {
        if self.meta.kind != PluginKind::Sink {
            return Err(PluginError::new(
                ErrorKind::Config,
                format!(
                    "plugin `{}` is a {}, not a sink",
                    self.meta.name, self.meta.kind
                ),
            ));
        }
        Ok(ForeignSink {
            inner: self.create(config, ctx)?,
        })
    }

    /// Creates a transform instance.
    ///
    /// # Errors
    /// As [`PluginLibrary::create_sink`].
    pub fn create_transform(
        self: &Arc<Self>,
        config: &serde_json::Value,
        ctx: &CreateContext,
    ) -> Result<ForeignTransform> {
        if self.meta.kind != PluginKind::Transform {
            return Err(PluginError::new(
                ErrorKind::Config,
                format!(
                    "plugin `{}` is a {}, not a transform",
                    self.meta.name, self.meta.kind
                ),
            ));
        }
        Ok(ForeignTransform {
            inner: self.create(config, ctx)?,
        })
    }
}

struct Instance {
    lib: Arc<PluginLibrary>,
    ptr: *mut c_void,
    poisoned: bool,
}

// SAFETY: plugin instances are `Send` on the plugin side (the SDK traits require it, and
// the ABI requires it of C plugins); the host calls one instance from one thread at a time
// (`&mut self` on every call).
unsafe impl Send for Instance {}

struct EmitCtx {
    batches: Vec<(String, RecordBatch)>,
    error: Option<PluginError>,
    /// The columns of the batch lent to the plugin in this call (empty in flush and
    /// close): an emitted column that is one of them needs no value check.
    lent: Vec<arrow_data::ArrayData>,
}

impl EmitCtx {
    fn new(lent: Vec<arrow_data::ArrayData>) -> Self {
        EmitCtx {
            batches: Vec::new(),
            error: None,
            lent,
        }
    }
}

unsafe extern "C" fn host_emit(
    ctx: *mut c_void,
    output: *const u8,
    output_len: usize,
    array: *mut FFI_ArrowArray,
    schema: *const FFI_ArrowSchema,
) -> i32 {
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        if ctx.is_null() || array.is_null() || schema.is_null() {
            return ErrorKind::Abi.code();
        }
        // SAFETY: `ctx` is the EmitCtx the host passed into this very call.
        let ctx = unsafe { &mut *(ctx as *mut EmitCtx) };
        let name = if output.is_null() || output_len == 0 {
            String::new()
        } else {
            // SAFETY: the plugin passes `output_len` readable bytes.
            String::from_utf8_lossy(unsafe { std::slice::from_raw_parts(output, output_len) })
                .into_owned()
        };
        // SAFETY: the plugin hands over ownership of a valid C Data Interface array.
        let array = unsafe { FFI_ArrowArray::from_raw(array) };
        // SAFETY: the schema is valid for the duration of this call.
        let imported = unsafe { arrow_array::ffi::from_ffi(array, &*schema) }
            .map_err(|e| {
                PluginError::new(ErrorKind::Abi, format!("cannot import emitted batch: {e}"))
            })
            .and_then(|data| batch_from_struct_data_lent(data, &ctx.lent))
            // SAFETY: as above.
            .and_then(|batch| with_schema_metadata(batch, unsafe { &*schema }));
        match imported {
            Ok(batch) => {
                ctx.batches.push((name, batch));
                STATUS_OK
            }
            Err(e) => {
                let code = e.kind.code();
                ctx.error = Some(e);
                code
            }
        }
    }));
    result.unwrap_or(ErrorKind::Abi.code())
}

impl Instance {
    fn check(&mut self, code: i32, err: TributaryBuffer) -> Result<()> {
        let msg = self.lib.take_buffer(err);
        if code == STATUS_OK {
            return Ok(());
        }
        let kind = ErrorKind::from_code(code);
        if kind == ErrorKind::Panic {
            self.poisoned = true;
        }
        let text = String::from_utf8_lossy(&msg).into_owned();
        let text = if text.is_empty() {
            format!("plugin returned status {code} without a message")
        } else {
            text
        };
        Err(PluginError::new(
            kind,
            format!("plugin `{}`: {text}", self.lib.meta.name),
        ))
    }

    fn live(&self) -> Result<()> {
        if self.poisoned {
            return Err(PluginError::new(
                ErrorKind::Poisoned,
                format!(
                    "plugin `{}` panicked earlier; the instance is not called again",
                    self.lib.meta.name
                ),
            ));
        }
        Ok(())
    }

    fn healthcheck(&mut self) -> Result<()> {
        self.live()?;
        let Some(f) = self.lib.table.healthcheck else {
            return Ok(());
        };
        let mut err = TributaryBuffer::empty();
        // SAFETY: live instance, valid out-buffer.
        let code = unsafe { f(self.ptr, &mut err) };
        self.check(code, err)
    }

    fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        self.live()?;
        let f = self
            .lib
            .table
            .write
            .ok_or_else(|| PluginError::new(ErrorKind::Abi, "plugin has no write"))?;
        let (mut array, schema) = export_batch(batch)?;
        let mut err = TributaryBuffer::empty();
        // SAFETY: live instance; the plugin takes ownership of `array` (leaving ours with a
        // null release), `schema` stays ours and is released on drop.
        let code = unsafe { f(self.ptr, &mut array, &schema, &mut err) };
        self.check(code, err)
    }

    fn process(&mut self, batch: &RecordBatch, out: &mut Outputs) -> Result<()> {
        self.live()?;
        let f = self
            .lib
            .table
            .process
            .ok_or_else(|| PluginError::new(ErrorKind::Abi, "plugin has no process"))?;
        let (mut array, schema) = export_batch(batch)?;
        let mut ctx = EmitCtx::new(batch.columns().iter().map(|c| c.to_data()).collect());
        let mut err = TributaryBuffer::empty();
        // SAFETY: as in `write`; `ctx` outlives the call and `host_emit` matches EmitFn.
        let code = unsafe {
            f(
                self.ptr,
                &mut array,
                &schema,
                host_emit,
                &mut ctx as *mut EmitCtx as *mut c_void,
                &mut err,
            )
        };
        self.finish_emit(code, err, ctx, out)
    }

    fn finish_emit(
        &mut self,
        code: i32,
        err: TributaryBuffer,
        ctx: EmitCtx,
        out: &mut Outputs,
    ) -> Result<()> {
        let checked = self.check(code, err);
        // The host's own refusal of an emitted batch says more than the status the plugin
        // passed back up (poisoning after a panic has happened in `check` either way).
        if let Some(e) = ctx.error {
            return Err(e);
        }
        checked?;
        for (name, batch) in ctx.batches {
            out.emit_to(&name, batch);
        }
        Ok(())
    }

    fn take_ack(&self, buf: TributaryBuffer) -> Result<Ack> {
        let bytes = self.lib.take_buffer(buf);
        if bytes.is_empty() {
            return Ok(Ack::default());
        }
        serde_json::from_slice(&bytes).map_err(|e| {
            PluginError::new(
                ErrorKind::Abi,
                format!(
                    "plugin `{}` returned an acknowledgement that is not valid JSON: {e}",
                    self.lib.meta.name
                ),
            )
        })
    }

    fn flush(&mut self, checkpoint: &Checkpoint, out: &mut Outputs) -> Result<Ack> {
        self.live()?;
        let cp = serde_json::to_vec(checkpoint).map_err(|e| PluginError::runtime(e.to_string()))?;
        let mut ctx = EmitCtx::new(Vec::new());
        let mut ack = TributaryBuffer::empty();
        let mut err = TributaryBuffer::empty();
        // SAFETY: live instance; every pointer is valid for the call.
        let code = unsafe {
            (self.lib.table.flush)(
                self.ptr,
                cp.as_ptr(),
                cp.len(),
                host_emit,
                &mut ctx as *mut EmitCtx as *mut c_void,
                &mut ack,
                &mut err,
            )
        };
        let ack = self.take_ack(ack);
        self.finish_emit(code, err, ctx, out)?;
        ack
    }

    fn close(&mut self, out: &mut Outputs) -> Result<Ack> {
        self.live()?;
        let mut ctx = EmitCtx::new(Vec::new());
        let mut ack = TributaryBuffer::empty();
        let mut err = TributaryBuffer::empty();
        // SAFETY: live instance; every pointer is valid for the call.
        let code = unsafe {
            (self.lib.table.close)(
                self.ptr,
                host_emit,
                &mut ctx as *mut EmitCtx as *mut c_void,
                &mut ack,
                &mut err,
            )
        };
        let ack = self.take_ack(ack);
        self.finish_emit(code, err, ctx, out)?;
        ack
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        if !self.poisoned && !self.ptr.is_null() {
            // SAFETY: a live instance created by this library, destroyed exactly once.
            unsafe { (self.lib.table.destroy)(self.ptr) };
        }
    }
}

/// A sink living in a plugin library.
pub struct ForeignSink {
    inner: Instance,
}

impl ForeignSink {
    /// The plugin it belongs to.
    pub fn meta(&self) -> &PluginMeta {
        &self.inner.lib.meta
    }
    /// True once the plugin panicked.
    pub fn is_poisoned(&self) -> bool {
        self.inner.poisoned
    }
}

impl Sink for ForeignSink {
    fn healthcheck(&mut self) -> Result<()> {
        self.inner.healthcheck()
    }
    fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        self.inner.write(batch)
    }
    fn flush(&mut self, checkpoint: &Checkpoint) -> Result<Ack> {
        let mut out = Outputs::new();
        self.inner.flush(checkpoint, &mut out)
    }
    fn close(&mut self) -> Result<Ack> {
        let mut out = Outputs::new();
        self.inner.close(&mut out)
    }
}

/// A transform living in a plugin library.
pub struct ForeignTransform {
    inner: Instance,
}

impl ForeignTransform {
    /// The plugin it belongs to.
    pub fn meta(&self) -> &PluginMeta {
        &self.inner.lib.meta
    }
    /// True once the plugin panicked.
    pub fn is_poisoned(&self) -> bool {
        self.inner.poisoned
    }
}

impl Transform for ForeignTransform {
    fn process(&mut self, batch: &RecordBatch, out: &mut Outputs) -> Result<()> {
        self.inner.process(batch, out)
    }
    fn flush(&mut self, checkpoint: &Checkpoint, out: &mut Outputs) -> Result<Ack> {
        self.inner.flush(checkpoint, out)
    }
    fn close(&mut self, out: &mut Outputs) -> Result<Ack> {
        self.inner.close(out)
    }
}

/// For tests and tools: the freshest `lib<name>.so` built next to the running executable,
/// in `target/<profile>/` (where `cargo build` copies it) or `target/<profile>/deps/`
/// (where cargo compiles it). Works whatever `CARGO_TARGET_DIR` is.
pub fn built_library(name: &str) -> Option<PathBuf> {
    let file = format!("lib{name}.{}", std::env::consts::DLL_EXTENSION);
    let exe = std::env::current_exe().ok()?;
    let dir = exe.parent()?;
    let candidates = if dir.file_name().is_some_and(|n| n == "deps") {
        vec![dir.join(&file), dir.parent()?.join(&file)]
    } else {
        vec![dir.join(&file), dir.join("deps").join(&file)]
    };
    candidates
        .into_iter()
        .filter_map(|p| Some((std::fs::metadata(&p).ok()?.modified().ok()?, p)))
        .max_by_key(|(modified, _)| *modified)
        .map(|(_, p)| p)
}
