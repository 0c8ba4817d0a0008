/*
 * row_log: a Tributary sink written in C, with no Rust at all.
 *
 * Config: {"path": "/some/file.log"}. At each window end it appends one line
 * "<window_id> <rows>" to the file, and acknowledges the rows. Build:
 *
 *     cc -shared -fPIC -I ../../sdk/include -o librow_log.so row_log.c
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tributary_plugin.h"

typedef struct {
  char *path;
  int64_t rows; /* rows since the last flush */
} RowLog;

static void set_buffer(TributaryBuffer *buf, const char *text) {
  if (!buf) return;
  size_t n = strlen(text);
  buf->ptr = (uint8_t *)malloc(n ? n : 1);
  if (!buf->ptr) { buf->len = 0; buf->cap = 0; return; }
  memcpy(buf->ptr, text, n);
  buf->len = n;
  buf->cap = n;
}

static void free_buffer(TributaryBuffer buffer) { free(buffer.ptr); }

/* Extracts the string value of "key" from a flat JSON object (no escapes needed here). */
static char *json_string(const uint8_t *json, size_t len, const char *key) {
  char *text = (char *)malloc(len + 1);
  if (!text) return NULL;
  memcpy(text, json, len);
  text[len] = 0;
  char pattern[64];
  snprintf(pattern, sizeof pattern, "\"%s\"", key);
  char *at = strstr(text, pattern);
  char *result = NULL;
  if (at) {
    at = strchr(at + strlen(pattern), '"');
    if (at) {
      char *end = strchr(at + 1, '"');
      if (end) {
        result = (char *)malloc((size_t)(end - at));
        if (result) {
          memcpy(result, at + 1, (size_t)(end - at - 1));
          result[end - at - 1] = 0;
        }
      }
    }
  }
  free(text);
  return result;
}

static int32_t create(const uint8_t *config, size_t config_len, const uint8_t *context,
                      size_t context_len, void **instance, TributaryBuffer *error) {
  (void)context; (void)context_len;
  char *path = json_string(config, config_len, "path");
  if (!path) {
    set_buffer(error, "missing key `path`: the file row_log appends to");
    return 1;
  }
  RowLog *self = (RowLog *)calloc(1, sizeof(RowLog));
  if (!self) { free(path); set_buffer(error, "out of memory"); return 4; }
  self->path = path;
  *instance = self;
  return TRIBUTARY_OK;
}

static int32_t write_batch(void *instance, struct ArrowArray *array, const struct ArrowSchema *schema,
                           TributaryBuffer *error) {
  (void)schema; (void)error;
  RowLog *self = (RowLog *)instance;
  struct ArrowArray owned = *array; /* take ownership */
  array->release = NULL;
  self->rows += owned.length;
  if (owned.release) owned.release(&owned);
  return TRIBUTARY_OK;
}

static int32_t flush(void *instance, const uint8_t *checkpoint, size_t checkpoint_len,
                     TributaryEmitFn emit, void *emit_ctx, TributaryBuffer *ack, TributaryBuffer *error) {
  (void)emit; (void)emit_ctx;
  RowLog *self = (RowLog *)instance;
  char *window = json_string(checkpoint, checkpoint_len, "window_id");
  FILE *f = fopen(self->path, "a");
  if (!f) { free(window); set_buffer(error, "cannot open the log file for appending"); return 4; }
  fprintf(f, "%s %lld\n", window ? window : "?", (long long)self->rows);
  fclose(f);
  free(window);
  char text[64];
  snprintf(text, sizeof text, "{\"records\": %lld}", (long long)self->rows);
  set_buffer(ack, text);
  self->rows = 0;
  return TRIBUTARY_OK;
}

static int32_t close_sink(void *instance, TributaryEmitFn emit, void *emit_ctx, TributaryBuffer *ack,
                          TributaryBuffer *error) {
  (void)instance; (void)emit; (void)emit_ctx; (void)error;
  set_buffer(ack, "{\"records\": 0}");
  return TRIBUTARY_OK;
}

static void destroy(void *instance) {
  RowLog *self = (RowLog *)instance;
  if (!self) return;
  free(self->path);
  free(self);
}

static const TributaryPluginV1 DESCRIPTOR = {
    TRIBUTARY_ABI_VERSION,
    sizeof(TributaryPluginV1),
    TRIBUTARY_KIND_SINK,
    0,
    "row_log",
    "0.1.0",
    "{\"type\":\"object\",\"properties\":{\"path\":{\"type\":\"string\",\"description\":\"File to append to.\"}},"
    "\"required\":[\"path\"],\"additionalProperties\":false}",
    create,
    NULL,
    write_batch,
    NULL,
    flush,
    close_sink,
    destroy,
    free_buffer,
};

const TributaryPluginV1 *tributary_plugin_v1(void) { return &DESCRIPTOR; }
