/*
 * tributary_plugin.h: the Tributary plugin ABI, version 1.
 *
 * A plugin is a shared library exporting one symbol:
 *
 *     const TributaryPluginV1 *tributary_plugin_v1(void);
 *
 * The descriptor lives as long as the library. The engine reads abi_version first and
 * refuses anything but TRIBUTARY_ABI_VERSION; it then reads descriptor_size and treats
 * fields past it as absent (the descriptor only ever grows at its end).
 *
 * Batches cross as the Arrow C Data Interface: one struct array (one child per column) and
 * its schema. A callee that receives `struct ArrowArray *array` takes ownership: it moves
 * the struct out (copy it, then set array->release = NULL) and calls release when done.
 * Schemas are borrowed for the duration of the call.
 *
 * Every function returns 0 on success or an error code (1 config, 2 invalid data,
 * 3 data quality, 4 runtime, 5 panic/crash, 6 poisoned, 7 ABI) and fills *error with an
 * owned UTF-8 message that the engine gives back through free_buffer.
 *
 * Kept in step with plugins/sdk/src/abi/v1.rs by the SDK's tests (sizes and offsets).
 */
#ifndef TRIBUTARY_PLUGIN_H
#define TRIBUTARY_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TRIBUTARY_ABI_VERSION 1u
#define TRIBUTARY_KIND_SINK 1u
#define TRIBUTARY_KIND_TRANSFORM 2u
#define TRIBUTARY_OK 0

#ifndef ARROW_C_DATA_INTERFACE
#define ARROW_C_DATA_INTERFACE
#define ARROW_FLAG_DICTIONARY_ORDERED 1
#define ARROW_FLAG_NULLABLE 2
#define ARROW_FLAG_MAP_KEYS_SORTED 4
struct ArrowSchema {
  const char *format;
  const char *name;
  const char *metadata;
  int64_t flags;
  int64_t n_children;
  struct ArrowSchema **children;
  struct ArrowSchema *dictionary;
  void (*release)(struct ArrowSchema *);
  void *private_data;
};
struct ArrowArray {
  int64_t length;
  int64_t null_count;
  int64_t offset;
  int64_t n_buffers;
  int64_t n_children;
  const void **buffers;
  struct ArrowArray **children;
  struct ArrowArray *dictionary;
  void (*release)(struct ArrowArray *);
  void *private_data;
};
#endif /* ARROW_C_DATA_INTERFACE */

/* Bytes owned by the plugin, handed to the engine, given back through free_buffer. */
typedef struct TributaryBuffer {
  uint8_t *ptr;
  size_t len;
  size_t cap;
} TributaryBuffer;

/* Called by a transform for each batch it emits; takes ownership of array. */
typedef int32_t (*TributaryEmitFn)(void *ctx, const uint8_t *output, size_t output_len,
                                   struct ArrowArray *array, const struct ArrowSchema *schema);

typedef struct TributaryPluginV1 {
  uint32_t abi_version;     /* TRIBUTARY_ABI_VERSION */
  uint32_t descriptor_size; /* sizeof(TributaryPluginV1) as built */
  uint32_t kind;            /* TRIBUTARY_KIND_SINK or TRIBUTARY_KIND_TRANSFORM */
  uint32_t reserved;        /* 0 */
  const char *name;          /* NUL-terminated, the `type:` in a pipeline */
  const char *version;       /* NUL-terminated */
  const char *config_schema; /* NUL-terminated JSON Schema of the config */
  /* config and context are JSON (not NUL-terminated); on success *instance is set. */
  int32_t (*create)(const uint8_t *config, size_t config_len, const uint8_t *context,
                    size_t context_len, void **instance, TributaryBuffer *error);
  int32_t (*healthcheck)(void *instance, TributaryBuffer *error); /* may be NULL */
  int32_t (*write)(void *instance, struct ArrowArray *array, const struct ArrowSchema *schema,
                   TributaryBuffer *error); /* sinks */
  int32_t (*process)(void *instance, struct ArrowArray *array, const struct ArrowSchema *schema,
                     TributaryEmitFn emit, void *emit_ctx, TributaryBuffer *error); /* transforms */
  /* checkpoint is JSON; *ack receives a JSON acknowledgement ({"records": n, "files": [...]}). */
  int32_t (*flush)(void *instance, const uint8_t *checkpoint, size_t checkpoint_len,
                   TributaryEmitFn emit, void *emit_ctx, TributaryBuffer *ack,
                   TributaryBuffer *error);
  int32_t (*close)(void *instance, TributaryEmitFn emit, void *emit_ctx, TributaryBuffer *ack,
                   TributaryBuffer *error);
  void (*destroy)(void *instance);
  void (*free_buffer)(TributaryBuffer buffer);
} TributaryPluginV1;

const TributaryPluginV1 *tributary_plugin_v1(void);

#ifdef __cplusplus
}
#endif

#endif /* TRIBUTARY_PLUGIN_H */
