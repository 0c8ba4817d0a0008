/*
 * row_log: a Tributary sink written in C, with no Rust at all.
 *
 * Config: {"path": "/some/file.log"}. At each window end it writes the line
 * "<window_id> <rows>" to the file (replacing the window's line from an earlier run, so a
 * re-run does not count a window twice), and acknowledges the rows. Build:
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
    set_buffer(error, "missing key `path`: the file row_log writes its lines to");
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

/* Writes the log again without the lines of `window`, then adds "<window> <rows>", through a
 * temporary file renamed over the log: a window landed again (a re-run, or --resume of a
 * window another sink had not acknowledged) replaces its line instead of adding a second. */
static int replace_line(const char *path, const char *window, long long rows) {
  size_t n = strlen(path) + 5;
  char *tmp = (char *)malloc(n);
  if (!tmp) return -1;
  snprintf(tmp, n, "%s.tmp", path);
  FILE *out = fopen(tmp, "w");
  if (!out) { free(tmp); return -1; }
  FILE *in = fopen(path, "r");
  if (in) {
    char line[4096];
    size_t w = strlen(window);
    int at_start = 1; /* a line longer than the buffer arrives in pieces */
    while (fgets(line, sizeof line, in)) {
      int same = at_start && strncmp(line, window, w) == 0 && line[w] == ' ';
      if (!same) fputs(line, out);
      at_start = strchr(line, '\n') != NULL;
    }
    fclose(in);
  }
  fprintf(out, "%s %lld\n", window, rows);
  int failed = ferror(out);
  failed |= fclose(out) != 0;
  if (failed || rename(tmp, path) != 0) { remove(tmp); free(tmp); return -1; }
  free(tmp);
  return 0;
}

static int32_t flush(void *instance, const uint8_t *checkpoint, size_t checkpoint_len,
                     TributaryEmitFn emit, void *emit_ctx, TributaryBuffer *ack, TributaryBuffer *error) {
  (void)emit; (void)emit_ctx;
  RowLog *self = (RowLog *)instance;
  char *window = json_string(checkpoint, checkpoint_len, "window_id");
  int failed = replace_line(self->path, window ? window : "?", (long long)self->rows);
  free(window);
  if (failed) { set_buffer(error, "cannot write the log file (is its directory writable?)"); return 4; }
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
    "{\"type\":\"object\",\"properties\":{\"path\":{\"type\":\"string\",\"description\":\"File to write one line per window to.\"}},"
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
