/* buf.c: growable buffers and slices. */
#include "buf.h"

#include <stdio.h>
#include <assert.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "err.h"

void kds_buf_init(kds_buf *b) {
  b->base = NULL;
  b->len = 0;
  b->cap = 0;
}

void kds_buf_release(kds_buf *b) {
  free(b->base);
  kds_buf_init(b);
}

int kds_buf_grow(kds_buf *b, size_t extra) {
  size_t need, cap;
  char *p;
  if (extra > (size_t)-1 - b->len - 1) return KDS_ENOMEM;
  assert(b->base == NULL ? b->cap == 0 && b->len == 0 : b->len < b->cap);
  need = b->len + extra + 1;
  if (need <= b->cap) return 0;
  cap = b->cap ? b->cap : 64;
  while (cap < need) cap = cap > (size_t)-1 / 2 ? need : cap * 2;
  p = realloc(b->base, cap);
  if (p == NULL) return KDS_ENOMEM;
  b->base = p;
  b->cap = cap;
  b->base[b->len] = '\0';
  return 0;
}

char *kds_buf_detach(kds_buf *b, size_t *len) {
  char *p;
  if (b->base == NULL && kds_buf_grow(b, 0) != 0) return NULL;
  p = b->base;
  if (len) *len = b->len;
  kds_buf_init(b);
  return p;
}

int kds_buf_add(kds_buf *b, const void *data, size_t len) {
  if (kds_buf_grow(b, len) != 0) return KDS_ENOMEM;
  if (len) memcpy(b->base + b->len, data, len);
  b->len += len;
  b->base[b->len] = '\0';
  return 0;
}

int kds_buf_adds(kds_buf *b, const char *s) {
  return kds_buf_add(b, s, strlen(s));
}

int kds_buf_addc(kds_buf *b, char c) {
  return kds_buf_add(b, &c, 1);
}

int kds_buf_vaddf(kds_buf *b, const char *fmt, va_list ap) {
  va_list cp;
  int n;
  size_t avail = b->cap > b->len ? b->cap - b->len : 0;
  va_copy(cp, ap);
  n = vsnprintf(avail ? b->base + b->len : NULL, avail, fmt, cp);
  va_end(cp);
  if (n < 0) return KDS_EINVAL;
  if ((size_t)n >= avail) {
    if (kds_buf_grow(b, (size_t)n) != 0) {
      if (b->base) b->base[b->len] = '\0';
      return KDS_ENOMEM;
    }
    vsnprintf(b->base + b->len, (size_t)n + 1, fmt, ap);
  }
  b->len += (size_t)n;
  return 0;
}

int kds_buf_addf(kds_buf *b, const char *fmt, ...) {
  va_list ap;
  int r;
  va_start(ap, fmt);
  r = kds_buf_vaddf(b, fmt, ap);
  va_end(ap);
  return r;
}

void kds_buf_consume(kds_buf *b, size_t n) {
  if (n >= b->len) {
    kds_buf_reset(b);
    return;
  }
  memmove(b->base, b->base + n, b->len - n);
  b->len -= n;
  b->base[b->len] = '\0';
}

void kds_buf_reset(kds_buf *b) {
  b->len = 0;
  if (b->base) b->base[0] = '\0';
}

kds_slice kds_slice_of(const char *s) {
  kds_slice sl = {s, s ? strlen(s) : 0};
  return sl;
}

int kds_slice_eq(kds_slice a, const char *s) {
  size_t n = strlen(s);
  return a.len == n && (n == 0 || memcmp(a.ptr, s, n) == 0);
}

int kds_slice_caseeq(kds_slice a, const char *s) {
  size_t n = strlen(s);
  return a.len == n && (n == 0 || strncasecmp(a.ptr, s, n) == 0);
}
