//! The plugin side of the ABI. [`crate::export_plugin!`] expands to a call of
//! [`sink_descriptor`] or [`transform_descriptor`]; plugin authors never write `unsafe`.
//!
//! Every entry point runs inside `catch_unwind`: a panic becomes an
//! [`ErrorKind::Panic`] status with the panic message, never an abort of the engine.
#![allow(unsafe_code)]

use std::ffi::{CString, c_void};
use std::panic::{AssertUnwindSafe, catch_unwind};

use arrow_array::{Array, RecordBatch, StructArray};

use super::v1::{
    ABI_VERSION, EmitFn, FFI_ArrowArray, FFI_ArrowSchema, KIND_SINK, KIND_TRANSFORM, STATUS_OK,
    TributaryBuffer, TributaryPluginV1,
};
use crate::error::{ErrorKind, PluginError, Result};
use crate::plugin::{
    Checkpoint, CreateContext, Outputs, PluginInfo, Sink, SinkPlugin, Transform, TransformPlugin,
    config_schema,
};

/// A descriptor together with the strings it points into; built once per library.
pub struct DescriptorHolder {
    descriptor: TributaryPluginV1,
    _strings: [CString; 3],
}

// SAFETY: the descriptor's pointers point into the holder's own immutable CStrings (whose
// heap buffers never move) and at `extern "C"` functions; nothing in it is ever mutated.
unsafe impl Sync for DescriptorHolder {}
// SAFETY: as above; the holder owns everything its pointers reach.
unsafe impl Send for DescriptorHolder {}

impl DescriptorHolder {
    /// The descriptor, for the entry symbol to return.
    pub fn as_ptr(&self) -> *const TributaryPluginV1 {
        &self.descriptor
    }
}

enum Instance {
    Sink(Box<dyn Sink>),
    Transform(Box<dyn Transform>),
}

fn cstring(s: &str) -> CString {
    CString::new(s.replace('\0', "")).unwrap_or_default()
}

fn holder(kind: u32, name: &str, version: &str, schema: serde_json::Value) -> DescriptorHolder {
    let strings = [
        cstring(name),
        cstring(version),
        cstring(&schema.to_string()),
    ];
    let descriptor = TributaryPluginV1 {
        abi_version: ABI_VERSION,
        descriptor_size: std::mem::size_of::<TributaryPluginV1>() as u32,
        kind,
        reserved: 0,
        name: strings[0].as_ptr(),
        version: strings[1].as_ptr(),
        config_schema: strings[2].as_ptr(),
        create: None,
        healthcheck: Some(healthcheck),
        write: Some(write),
        process: Some(process),
        flush: Some(flush),
        close: Some(close),
        destroy: Some(destroy),
        free_buffer: Some(free_buffer),
    };
    DescriptorHolder {
        descriptor,
        _strings: strings,
    }
}

/// Builds the descriptor of a sink plugin.
pub fn sink_descriptor<T: SinkPlugin>() -> DescriptorHolder {
    let mut h = holder(KIND_SINK, T::NAME, T::VERSION, config_schema::<T::Config>());
    h.descriptor.create = Some(create_sink::<T>);
    h
}

/// Builds the descriptor of a transform plugin.
pub fn transform_descriptor<T: TransformPlugin>() -> DescriptorHolder {
    let mut h = holder(
        KIND_TRANSFORM,
        T::NAME,
        T::VERSION,
        config_schema::<T::Config>(),
    );
    h.descriptor.create = Some(create_transform::<T>);
    h
}

/// Hands bytes to the host through an out-buffer it provided.
///
/// # Safety
/// `dst` must be null or valid for writes of one [`TributaryBuffer`].
unsafe fn put_buffer(dst: *mut TributaryBuffer, bytes: Vec<u8>) {
    if dst.is_null() {
        return;
    }
    let mut bytes = std::mem::ManuallyDrop::new(bytes);
    let buf = TributaryBuffer {
        ptr: bytes.as_mut_ptr(),
        len: bytes.len(),
        cap: bytes.capacity(),
    };
    // SAFETY: the caller guarantees `dst` is valid for writes.
    unsafe { dst.write(buf) };
}

unsafe extern "C" fn free_buffer(buffer: TributaryBuffer) {
    if buffer.ptr.is_null() {
        return;
    }
    // SAFETY: every buffer this plugin hands out comes from a Vec<u8> leaked by `put_buffer`
    // with exactly this pointer, length and capacity.
    drop(unsafe { Vec::from_raw_parts(buffer.ptr, buffer.len, buffer.cap) });
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic with a non-string payload".to_string()
    }
}

/// Runs `f`, turning errors and panics into a status code plus a message in `err`.
///
/// # Safety
/// `err` must be null or valid for writes of one [`TributaryBuffer`].
unsafe fn guard(err: *mut TributaryBuffer, f: impl FnOnce() -> Result<()>) -> i32 {
    let outcome = catch_unwind(AssertUnwindSafe(f));
    let e = match outcome {
        Ok(Ok(())) => return STATUS_OK,
        Ok(Err(e)) => e,
        Err(payload) => PluginError::new(ErrorKind::Panic, panic_message(payload.as_ref())),
    };
    // SAFETY: forwarded from the caller.
    unsafe { put_buffer(err, e.message.into_bytes()) };
    e.kind.code()
}

/// # Safety
/// `ptr` must be null (with `len` 0) or valid for reads of `len` bytes.
unsafe fn bytes<'a>(ptr: *const u8, len: usize) -> &'a [u8] {
    if ptr.is_null() || len == 0 {
        &[]
    } else {
        // SAFETY: guaranteed by the caller.
        unsafe { std::slice::from_raw_parts(ptr, len) }
    }
}

/// Imports a batch the host handed over, taking ownership of `array`.
///
/// # Safety
/// `array` must be null or point to a valid C Data Interface array (it is moved out);
/// `schema` must be null or point to a valid C Data Interface schema.
pub unsafe fn import_batch(
    array: *mut FFI_ArrowArray,
    schema: *const FFI_ArrowSchema,
) -> Result<RecordBatch> {
    if array.is_null() || schema.is_null() {
        return Err(PluginError::new(
            ErrorKind::Abi,
            "null Arrow array or schema pointer",
        ));
    }
    // SAFETY: non-null and valid per the caller; from_raw moves the array out and leaves
    // the caller's copy with a null release callback.
    let array = unsafe { FFI_ArrowArray::from_raw(array) };
    // SAFETY: the schema is valid per the caller and describes `array`.
    let data = unsafe { arrow_array::ffi::from_ffi(array, &*schema) }
        .map_err(|e| PluginError::new(ErrorKind::Abi, format!("cannot import Arrow batch: {e}")))?;
    // SAFETY: as above; the schema stays valid for this call.
    // The producer is the engine (arrow-rs), whose arrays are valid by construction: check
    // the layout only. Batches coming the other way, from plugins (possibly C), get the
    // full check in the host (`Validation::Full`).
    with_schema_metadata(
        batch_from_struct_data_with(data, Validation::Layout)?,
        // SAFETY: as above; the schema stays valid for this call.
        unsafe { &*schema },
    )
}

/// How much of an imported array is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Validation {
    /// Buffer sizes and layout only: O(columns). For batches from a trusted producer.
    Layout,
    /// Everything, offsets and UTF-8 included: O(data). For batches from foreign code.
    Full,
}

/// Puts back on an imported batch the schema-level metadata that [`export_batch`] carries
/// as the metadata of the top-level struct's C schema (absent metadata leaves it empty).
///
/// # Errors
/// When the C schema's metadata is malformed.
pub fn with_schema_metadata(batch: RecordBatch, schema: &FFI_ArrowSchema) -> Result<RecordBatch> {
    let metadata = schema.metadata().map_err(|e| {
        PluginError::new(
            ErrorKind::Abi,
            format!("invalid Arrow schema metadata: {e}"),
        )
    })?;
    if metadata.is_empty() {
        return Ok(batch);
    }
    let with_metadata = batch.schema().as_ref().clone().with_metadata(metadata);
    batch
        .with_schema(std::sync::Arc::new(with_metadata))
        .map_err(|e| {
            PluginError::new(
                ErrorKind::Abi,
                format!("invalid Arrow schema metadata: {e}"),
            )
        })
}

/// A record batch from the array data of a struct array, fully checked so no input can
/// make safe code misbehave.
///
/// # Errors
/// When the data is not a valid struct array without top-level nulls.
pub fn batch_from_struct_data(data: arrow_data::ArrayData) -> Result<RecordBatch> {
    batch_from_struct_data_with(data, Validation::Full)
}

/// As [`batch_from_struct_data`], with the chosen depth of checking.
///
/// # Errors
/// When the data is not a valid struct array without top-level nulls.
pub fn batch_from_struct_data_with(
    data: arrow_data::ArrayData,
    validation: Validation,
) -> Result<RecordBatch> {
    check_struct(&data)?;
    match validation {
        Validation::Full => data.validate_full(),
        Validation::Layout => data.validate(),
    }
    .map_err(invalid_batch)?;
    struct_to_batch(data)
}

/// As [`batch_from_struct_data`], except that a column which is, buffer for buffer, one of
/// the `lent` arrays (the columns the caller handed the plugin, valid by construction) is
/// checked for layout only: its values are the very bytes that were valid when lent. Every
/// other column (one the plugin built, sliced or retyped) is checked in full.
///
/// A pass-through transform thus costs O(columns) per batch instead of O(data). Skipping
/// the value check adds no exposure: a plugin that wrote into buffers it was lent would
/// already have corrupted the caller's own copy of them, which no check here could undo.
///
/// # Errors
/// When the data is not a valid struct array without top-level nulls.
pub fn batch_from_struct_data_lent(
    data: arrow_data::ArrayData,
    lent: &[arrow_data::ArrayData],
) -> Result<RecordBatch> {
    check_struct(&data)?;
    data.validate_data().map_err(invalid_batch)?;
    for (i, child) in data.child_data().iter().enumerate() {
        let was_lent = lent.iter().any(|l| same_buffers(child, l));
        if was_lent {
            child.validate()
        } else {
            child.validate_full()
        }
        .map_err(|e| {
            invalid_batch(arrow_schema::ArrowError::InvalidArgumentError(format!(
                "column #{i}: {e}"
            )))
        })?;
    }
    struct_to_batch(data)
}

/// The same data type, offset, length, null counts and buffer addresses, all the way down.
fn same_buffers(a: &arrow_data::ArrayData, b: &arrow_data::ArrayData) -> bool {
    fn null_counts_match(a: &arrow_data::ArrayData, b: &arrow_data::ArrayData) -> bool {
        a.null_count() == b.null_count()
            && a.child_data()
                .iter()
                .zip(b.child_data())
                .all(|(a, b)| null_counts_match(a, b))
    }
    a.ptr_eq(b) && null_counts_match(a, b)
}

fn check_struct(data: &arrow_data::ArrayData) -> Result<()> {
    if matches!(data.data_type(), arrow_schema::DataType::Struct(_)) {
        return Ok(());
    }
    Err(PluginError::new(
        ErrorKind::Abi,
        format!(
            "a batch must cross as a struct array, got {}",
            data.data_type()
        ),
    ))
}

fn invalid_batch(e: arrow_schema::ArrowError) -> PluginError {
    PluginError::new(ErrorKind::Abi, format!("invalid Arrow batch: {e}"))
}

fn struct_to_batch(data: arrow_data::ArrayData) -> Result<RecordBatch> {
    let array = StructArray::from(data);
    if array.null_count() > 0 {
        return Err(PluginError::new(
            ErrorKind::Abi,
            "a batch's struct array must have no top-level nulls",
        ));
    }
    Ok(RecordBatch::from(array))
}

/// Exports a batch through the C Data Interface as a struct array. The schema's own
/// metadata travels as the metadata of the top-level struct (see [`with_schema_metadata`]).
///
/// # Errors
/// When arrow cannot export a column type.
pub fn export_batch(batch: &RecordBatch) -> Result<(FFI_ArrowArray, FFI_ArrowSchema)> {
    let fail = |e: arrow_schema::ArrowError| {
        PluginError::new(ErrorKind::Abi, format!("cannot export Arrow batch: {e}"))
    };
    let data = StructArray::from(batch.clone()).into_data();
    let schema = FFI_ArrowSchema::try_from(batch.schema_ref().as_ref()).map_err(fail)?;
    Ok((FFI_ArrowArray::new(&data), schema))
}

/// Sends each emitted batch to the host's `emit` callback.
///
/// # Safety
/// `emit`/`ctx` must be the callback and context the host passed in this call.
unsafe fn forward(out: &mut Outputs, emit: EmitFn, ctx: *mut c_void) -> Result<()> {
    for (name, batch) in out.take() {
        let (mut array, schema) = export_batch(&batch)?;
        // SAFETY: the host's callback takes the array by pointer and moves it out; the
        // schema stays ours and is dropped (released) when it goes out of scope.
        let code = unsafe { emit(ctx, name.as_ptr(), name.len(), &mut array, &schema) };
        if code != STATUS_OK {
            return Err(PluginError::new(
                ErrorKind::from_code(code),
                format!("the host refused a batch on output {name:?}"),
            ));
        }
    }
    Ok(())
}

/// # Safety
/// `instance` must be a pointer returned by this plugin's `create` and not yet destroyed.
unsafe fn instance<'a>(instance: *mut c_void) -> Result<&'a mut Instance> {
    if instance.is_null() {
        return Err(PluginError::new(ErrorKind::Abi, "null instance pointer"));
    }
    // SAFETY: per the caller, this is a live Box<Instance> leaked by `create`.
    Ok(unsafe { &mut *(instance as *mut Instance) })
}

unsafe fn create_common(
    config: *const u8,
    config_len: usize,
    context: *const u8,
    context_len: usize,
    out: *mut *mut c_void,
    err: *mut TributaryBuffer,
    build: impl FnOnce(&[u8], CreateContext) -> Result<Instance>,
) -> i32 {
    // SAFETY: pointers and lengths come from the host per the ABI contract.
    let (config, context) = unsafe { (bytes(config, config_len), bytes(context, context_len)) };
    // SAFETY: `err` comes from the host per the ABI contract.
    unsafe {
        guard(err, || {
            if out.is_null() {
                return Err(PluginError::new(
                    ErrorKind::Abi,
                    "null instance out-pointer",
                ));
            }
            let ctx: CreateContext = if context.is_empty() {
                CreateContext::default()
            } else {
                serde_json::from_slice(context).map_err(|e| {
                    PluginError::new(ErrorKind::Abi, format!("bad create context: {e}"))
                })?
            };
            let inst = build(config, ctx)?;
            // SAFETY: `out` is non-null and valid for writes per the ABI contract.
            out.write(Box::into_raw(Box::new(inst)) as *mut c_void);
            Ok(())
        })
    }
}

unsafe extern "C" fn create_sink<T: SinkPlugin>(
    config: *const u8,
    config_len: usize,
    context: *const u8,
    context_len: usize,
    out: *mut *mut c_void,
    err: *mut TributaryBuffer,
) -> i32 {
    // SAFETY: forwarded from the host per the ABI contract.
    unsafe {
        create_common(
            config,
            config_len,
            context,
            context_len,
            out,
            err,
            |cfg, ctx| {
                let cfg: T::Config = crate::plugin::parse_config(cfg)?;
                Ok(Instance::Sink(Box::new(<T as PluginInfo>::create(
                    cfg, &ctx,
                )?)))
            },
        )
    }
}

unsafe extern "C" fn create_transform<T: TransformPlugin>(
    config: *const u8,
    config_len: usize,
    context: *const u8,
    context_len: usize,
    out: *mut *mut c_void,
    err: *mut TributaryBuffer,
) -> i32 {
    // SAFETY: forwarded from the host per the ABI contract.
    unsafe {
        create_common(
            config,
            config_len,
            context,
            context_len,
            out,
            err,
            |cfg, ctx| {
                let cfg: T::Config = crate::plugin::parse_config(cfg)?;
                Ok(Instance::Transform(Box::new(<T as PluginInfo>::create(
                    cfg, &ctx,
                )?)))
            },
        )
    }
}

unsafe extern "C" fn healthcheck(inst: *mut c_void, err: *mut TributaryBuffer) -> i32 {
    // SAFETY: per the ABI contract `inst` is live and `err` writable.
    unsafe {
        guard(err, || match instance(inst)? {
            Instance::Sink(s) => s.healthcheck(),
            Instance::Transform(_) => Ok(()),
        })
    }
}

unsafe extern "C" fn write(
    inst: *mut c_void,
    array: *mut FFI_ArrowArray,
    schema: *const FFI_ArrowSchema,
    err: *mut TributaryBuffer,
) -> i32 {
    // SAFETY: per the ABI contract the pointers are valid and ownership of `array` moves here.
    unsafe {
        guard(err, || {
            let batch = import_batch(array, schema)?;
            match instance(inst)? {
                Instance::Sink(s) => s.write(&batch),
                Instance::Transform(_) => Err(PluginError::new(
                    ErrorKind::Abi,
                    "write called on a transform",
                )),
            }
        })
    }
}

unsafe extern "C" fn process(
    inst: *mut c_void,
    array: *mut FFI_ArrowArray,
    schema: *const FFI_ArrowSchema,
    emit: EmitFn,
    emit_ctx: *mut c_void,
    err: *mut TributaryBuffer,
) -> i32 {
    // SAFETY: per the ABI contract the pointers are valid and ownership of `array` moves here.
    unsafe {
        guard(err, || {
            let batch = import_batch(array, schema)?;
            match instance(inst)? {
                Instance::Transform(t) => {
                    let mut out = Outputs::new();
                    t.process(&batch, &mut out)?;
                    forward(&mut out, emit, emit_ctx)
                }
                Instance::Sink(_) => {
                    Err(PluginError::new(ErrorKind::Abi, "process called on a sink"))
                }
            }
        })
    }
}

unsafe extern "C" fn flush(
    inst: *mut c_void,
    checkpoint: *const u8,
    checkpoint_len: usize,
    emit: EmitFn,
    emit_ctx: *mut c_void,
    ack: *mut TributaryBuffer,
    err: *mut TributaryBuffer,
) -> i32 {
    // SAFETY: per the ABI contract the pointers are valid for this call.
    unsafe {
        let checkpoint = bytes(checkpoint, checkpoint_len);
        guard(err, || {
            let cp: Checkpoint = serde_json::from_slice(checkpoint)
                .map_err(|e| PluginError::new(ErrorKind::Abi, format!("bad checkpoint: {e}")))?;
            let result = match instance(inst)? {
                Instance::Sink(s) => s.flush(&cp)?,
                Instance::Transform(t) => {
                    let mut out = Outputs::new();
                    let a = t.flush(&cp, &mut out)?;
                    forward(&mut out, emit, emit_ctx)?;
                    a
                }
            };
            let json =
                serde_json::to_vec(&result).map_err(|e| PluginError::runtime(e.to_string()))?;
            put_buffer(ack, json);
            Ok(())
        })
    }
}

unsafe extern "C" fn close(
    inst: *mut c_void,
    emit: EmitFn,
    emit_ctx: *mut c_void,
    ack: *mut TributaryBuffer,
    err: *mut TributaryBuffer,
) -> i32 {
    // SAFETY: per the ABI contract the pointers are valid for this call.
    unsafe {
        guard(err, || {
            let result = match instance(inst)? {
                Instance::Sink(s) => s.close()?,
                Instance::Transform(t) => {
                    let mut out = Outputs::new();
                    let a = t.close(&mut out)?;
                    forward(&mut out, emit, emit_ctx)?;
                    a
                }
            };
            let json =
                serde_json::to_vec(&result).map_err(|e| PluginError::runtime(e.to_string()))?;
            put_buffer(ack, json);
            Ok(())
        })
    }
}

unsafe extern "C" fn destroy(inst: *mut c_void) {
    if inst.is_null() {
        return;
    }
    let _ = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: `inst` is a Box<Instance> leaked by `create`; the host destroys it once.
        drop(unsafe { Box::from_raw(inst as *mut Instance) });
    }));
}

/// Exports a type as a Tributary plugin: `export_plugin!(sink MySink);` or
/// `export_plugin!(transform MyTransform);`. The type implements [`crate::PluginInfo`] and
/// [`crate::Sink`] or [`crate::Transform`].
#[macro_export]
macro_rules! export_plugin {
    (sink $ty:ty) => {
        $crate::export_plugin!(@entry sink_descriptor, $ty);
    };
    (transform $ty:ty) => {
        $crate::export_plugin!(@entry transform_descriptor, $ty);
    };
    (@entry $builder:ident, $ty:ty) => {
        /// The plugin's entry point: returns its descriptor.
        #[allow(unsafe_code)]
        #[unsafe(no_mangle)]
        pub extern "C" fn tributary_plugin_v1() -> *const $crate::abi::v1::TributaryPluginV1 {
            static DESCRIPTOR: ::std::sync::OnceLock<$crate::abi::export::DescriptorHolder> =
                ::std::sync::OnceLock::new();
            match ::std::panic::catch_unwind(|| {
                DESCRIPTOR.get_or_init(|| $crate::abi::export::$builder::<$ty>()).as_ptr()
            }) {
                Ok(p) => p,
                Err(_) => ::std::ptr::null(),
            }
        }
    };
}
