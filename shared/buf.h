/* buf.h: kds_buf, the one growable byte buffer (always NUL-terminated), and kds_slice,
 * a (pointer, length) view into bytes someone else owns. Wire bytes are printed with
 * "%.*s", never strlen'd. */
#ifndef KDS_BUF_H
#define KDS_BUF_H

#include <stdarg.h>
#include <stddef.h>

typedef struct kds_buf {
  char *base; /* NUL-terminated when cap > 0; owned by the buffer */
  size_t len; /* bytes used, not counting the terminating NUL */
  size_t cap; /* bytes allocated */
} kds_buf;

typedef struct kds_slice {
  const char *ptr; /* not owned; valid as long as the bytes it points into */
  size_t len;
} kds_slice;

#define KDS_BUF_INIT \
  { NULL, 0, 0 }

/* Embedded lifecycle: init leaves an empty buffer that owns nothing; release frees
 * what it owns and leaves it as after init. release is safe on an initialised buffer. */
void kds_buf_init(kds_buf *b);
void kds_buf_release(kds_buf *b);

/* Hands the bytes to the caller (free() them); the buffer is left empty. Returns an
 * empty allocated string rather than NULL for an empty buffer, or NULL if out of memory. */
char *kds_buf_detach(kds_buf *b, size_t *len);

/* Makes room for `extra` more bytes. Returns 0 or KDS_ENOMEM (the buffer unchanged). */
int kds_buf_grow(kds_buf *b, size_t extra);

/* Appending: each returns 0 or KDS_ENOMEM; on failure the buffer is unchanged. */
int kds_buf_add(kds_buf *b, const void *data, size_t len);
int kds_buf_adds(kds_buf *b, const char *s);
int kds_buf_addc(kds_buf *b, char c);
int kds_buf_addf(kds_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int kds_buf_vaddf(kds_buf *b, const char *fmt, va_list ap);

/* Drops the first `n` bytes (all of them if n >= len). */
void kds_buf_consume(kds_buf *b, size_t n);

/* Empties the buffer, keeping its memory. */
void kds_buf_reset(kds_buf *b);

/* Slices. */
kds_slice kds_slice_of(const char *s);
int kds_slice_eq(kds_slice a, const char *s);     /* exact, s NUL-terminated */
int kds_slice_caseeq(kds_slice a, const char *s); /* ASCII case-insensitive */

#endif
