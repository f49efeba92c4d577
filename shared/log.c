/* log.c: one line per call, flushed; safe from any thread (stdio locks the stream). */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "err.h"

/* Written once at start-up before threads exist, then only read. */
static enum kds_log_level threshold = KDS_LOG_INFO;

int kds_log_set_level(const char *name) {
  static const char *names[] = {"error", "warn", "info", "debug"};
  for (int i = 0; i < 4; i++) {
    if (strcmp(name, names[i]) == 0) {
      threshold = (enum kds_log_level)i;
      return 0;
    }
  }
  return KDS_EINVAL;
}

void kds_log_set(enum kds_log_level level) {
  threshold = level;
}

int kds_log_enabled(enum kds_log_level level) {
  return level <= threshold;
}

void kds_log(enum kds_log_level level, const char *fmt, ...) {
  FILE *out = level <= KDS_LOG_WARN ? stderr : stdout;
  va_list ap;
  if (level > threshold) return;
  flockfile(out);
  va_start(ap, fmt);
  vfprintf(out, fmt, ap);
  va_end(ap);
  fputc('\n', out);
  fflush(out);
  funlockfile(out);
}
