//! ABI version 1: the descriptor a plugin exports and the types its functions take.
//!
//! The descriptor only ever grows at its end: a later engine reads `descriptor_size` and
//! treats fields past it as absent, so it still loads plugins built against this version.
//! A breaking change would be `abi/v2.rs` with a new entry symbol.
#![allow(unsafe_code)]

use std::ffi::{c_char, c_void};

pub use arrow_data::ffi::FFI_ArrowArray;
pub use arrow_schema::ffi::FFI_ArrowSchema;

/// The ABI version this file describes.
pub const ABI_VERSION: u32 = 1;

/// The symbol every plugin exports: `const TributaryPluginV1 *tributary_plugin_v1(void)`.
pub const ENTRY_SYMBOL: &str = "tributary_plugin_v1";

/// Status returned by every function: 0 is success, anything else an
/// [`crate::ErrorKind`] code with the message in the error buffer.
pub const STATUS_OK: i32 = 0;

/// Descriptor `kind` of a sink.
pub const KIND_SINK: u32 = 1;
/// Descriptor `kind` of a transform.
pub const KIND_TRANSFORM: u32 = 2;

/// Bytes owned by the plugin and handed to the host, which copies them and gives them back
/// with the descriptor's `free_buffer`.
#[repr(C)]
#[derive(Debug)]
pub struct TributaryBuffer {
    /// Start of the bytes (may be null when `len` is 0).
    pub ptr: *mut u8,
    /// Number of bytes.
    pub len: usize,
    /// Allocation capacity, meaningful only to the plugin that allocated it.
    pub cap: usize,
}

impl TributaryBuffer {
    /// A buffer holding nothing, to be filled by the callee.
    pub const fn empty() -> Self {
        TributaryBuffer {
            ptr: std::ptr::null_mut(),
            len: 0,
            cap: 0,
        }
    }
}

/// Called by a transform for each batch it emits. The host takes ownership of `array`
/// (moving it out and leaving its `release` null); `schema` stays the caller's.
/// `output`/`output_len` name the output as UTF-8 (`""` is the main output).
pub type EmitFn = unsafe extern "C" fn(
    ctx: *mut c_void,
    output: *const u8,
    output_len: usize,
    array: *mut FFI_ArrowArray,
    schema: *const FFI_ArrowSchema,
) -> i32;

/// `create`: build an instance from the JSON config and the JSON [`crate::CreateContext`].
pub type CreateFn = unsafe extern "C" fn(
    config: *const u8,
    config_len: usize,
    context: *const u8,
    context_len: usize,
    instance: *mut *mut c_void,
    error: *mut TributaryBuffer,
) -> i32;
/// `healthcheck`: check the destination without landing data.
pub type HealthcheckFn =
    unsafe extern "C" fn(instance: *mut c_void, error: *mut TributaryBuffer) -> i32;
/// `write`: a sink takes ownership of `array` (a struct array of the batch's columns).
pub type WriteFn = unsafe extern "C" fn(
    instance: *mut c_void,
    array: *mut FFI_ArrowArray,
    schema: *const FFI_ArrowSchema,
    error: *mut TributaryBuffer,
) -> i32;
/// `process`: a transform takes ownership of `array` and emits its outputs through `emit`.
pub type ProcessFn = unsafe extern "C" fn(
    instance: *mut c_void,
    array: *mut FFI_ArrowArray,
    schema: *const FFI_ArrowSchema,
    emit: EmitFn,
    emit_ctx: *mut c_void,
    error: *mut TributaryBuffer,
) -> i32;
/// `flush`: make a checkpoint (JSON [`crate::Checkpoint`]) durable; write a JSON
/// [`crate::Ack`] into `ack`. Transforms may emit held-back batches.
pub type FlushFn = unsafe extern "C" fn(
    instance: *mut c_void,
    checkpoint: *const u8,
    checkpoint_len: usize,
    emit: EmitFn,
    emit_ctx: *mut c_void,
    ack: *mut TributaryBuffer,
    error: *mut TributaryBuffer,
) -> i32;
/// `close`: end of the run; write a final JSON [`crate::Ack`] into `ack`.
pub type CloseFn = unsafe extern "C" fn(
    instance: *mut c_void,
    emit: EmitFn,
    emit_ctx: *mut c_void,
    ack: *mut TributaryBuffer,
    error: *mut TributaryBuffer,
) -> i32;
/// `destroy`: free an instance. Never called on a poisoned instance.
pub type DestroyFn = unsafe extern "C" fn(instance: *mut c_void);
/// `free_buffer`: give back a buffer the plugin handed out.
pub type FreeBufferFn = unsafe extern "C" fn(buffer: TributaryBuffer);

/// The descriptor returned by `tributary_plugin_v1()`. Lives as long as the library.
#[repr(C)]
#[derive(Debug)]
pub struct TributaryPluginV1 {
    /// Must be [`ABI_VERSION`]; read before anything else.
    pub abi_version: u32,
    /// `sizeof` the descriptor as the plugin was built; fields past it are absent.
    pub descriptor_size: u32,
    /// [`KIND_SINK`] or [`KIND_TRANSFORM`].
    pub kind: u32,
    /// Zero; keeps the pointers aligned the same way in C and Rust.
    pub reserved: u32,
    /// NUL-terminated UTF-8 name (`type:` in a pipeline).
    pub name: *const c_char,
    /// NUL-terminated UTF-8 version of the plugin.
    pub version: *const c_char,
    /// NUL-terminated JSON Schema of the plugin's config.
    pub config_schema: *const c_char,
    /// Required.
    pub create: Option<CreateFn>,
    /// Optional.
    pub healthcheck: Option<HealthcheckFn>,
    /// Required for sinks.
    pub write: Option<WriteFn>,
    /// Required for transforms.
    pub process: Option<ProcessFn>,
    /// Required.
    pub flush: Option<FlushFn>,
    /// Required.
    pub close: Option<CloseFn>,
    /// Required.
    pub destroy: Option<DestroyFn>,
    /// Required.
    pub free_buffer: Option<FreeBufferFn>,
}

/// The signature of the entry symbol.
pub type EntryFn = unsafe extern "C" fn() -> *const TributaryPluginV1;
