/* base64.c: base64 encoding and decoding (see base64.h). */
#include "base64.h"

#include <stdint.h>

#include "err.h"

static const char alpha_std[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char alpha_url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

size_t base64_encoded_len(size_t len, unsigned flags) {
  if (flags & BASE64_NOPAD) return len / 3 * 4 + (len % 3 ? len % 3 + 1 : 0);
  return (len + 2) / 3 * 4;
}

size_t base64_encode_to(char *out, const void *data, size_t len, unsigned flags) {
  const char *a = (flags & BASE64_URL) ? alpha_url : alpha_std;
  const unsigned char *p = data;
  char *w = out;
  size_t i;
  for (i = 0; i + 2 < len; i += 3) {
    uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
    *w++ = a[v >> 18];
    *w++ = a[(v >> 12) & 63];
    *w++ = a[(v >> 6) & 63];
    *w++ = a[v & 63];
  }
  if (i < len) {
    uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < len ? (uint32_t)p[i + 1] << 8 : 0);
    *w++ = a[v >> 18];
    *w++ = a[(v >> 12) & 63];
    if (i + 1 < len)
      *w++ = a[(v >> 6) & 63];
    else if (!(flags & BASE64_NOPAD))
      *w++ = '=';
    if (!(flags & BASE64_NOPAD)) *w++ = '=';
  }
  *w = '\0';
  return (size_t)(w - out);
}

int base64_encode(kds_buf *out, const void *data, size_t len, unsigned flags) {
  int rc = kds_buf_grow(out, base64_encoded_len(len, flags));
  if (rc != 0) return rc;
  out->len += base64_encode_to(out->base + out->len, data, len, flags);
  return 0;
}

/* The 6-bit value of c, or -1. Either alphabet unless strict. */
static int value_of(char c, int strict) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  if (!strict && c == '-') return 62;
  if (!strict && c == '_') return 63;
  return -1;
}

ssize_t base64_decode_to(unsigned char *out, size_t cap, const char *s, size_t len, unsigned flags) {
  int strict = (flags & BASE64_STRICT) != 0;
  size_t i, n = len, w = 0;
  uint32_t acc = 0;
  int bits = 0;
  /* Padding: at most two '=', only at the end. */
  while (n > 0 && len - n < 2 && s[n - 1] == '=') n--;
  if (n % 4 == 1 || (n != len && n % 4 < 2)) return KDS_EPROTO;
  if (strict && (len % 4 != 0 || (n != len && len - n != 4 - n % 4))) return KDS_EPROTO;
  for (i = 0; i < n; i++) {
    int v = value_of(s[i], strict);
    if (v < 0) return KDS_EPROTO;
    acc = acc << 6 | (uint32_t)v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      if (w == cap) return KDS_ETOOBIG;
      out[w++] = (unsigned char)((acc >> bits) & 0xff);
    }
  }
  return (ssize_t)w;
}

int base64_decode(kds_buf *out, const char *s, size_t len, unsigned flags) {
  size_t cap = len / 4 * 3 + 3;
  ssize_t n;
  int rc = kds_buf_grow(out, cap);
  if (rc != 0) return rc;
  n = base64_decode_to((unsigned char *)out->base + out->len, cap, s, len, flags);
  if (n < 0) {
    out->base[out->len] = '\0';
    return (int)n;
  }
  out->len += (size_t)n;
  out->base[out->len] = '\0';
  return 0;
}
