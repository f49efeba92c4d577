/* err.c: error strings and kds_err helpers. */
#include "err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *kds_strerror(int err) {
  switch (err) {
#define XX(name, value, text) \
  case KDS_E##name:           \
    return text;
    KDS_ERR_MAP(XX)
#undef XX
    default:
      break;
  }
  /* libuv codes are -errno on Unix, apart from UV_EOF; shared/ does not link libuv. */
  if (err == -4095) return "end of file";
  if (err < 0 && err > -4096) return strerror(-err);
  return "unknown error";
}

void kds_err_clear(kds_err *e) {
  memset(e, 0, sizeof(*e));
}

int kds_err_set(kds_err *e, int status, const char *code, const char *field, const char *fmt, ...) {
  va_list ap;
  kds_err_clear(e);
  e->status = status;
  snprintf(e->code, sizeof(e->code), "%s", code);
  if (field) snprintf(e->field, sizeof(e->field), "%s", field);
  va_start(ap, fmt);
  vsnprintf(e->message, sizeof(e->message), fmt, ap);
  va_end(ap);
  return KDS_EREQUEST;
}
