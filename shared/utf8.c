/* utf8.c: the UTF-8 decoder, validator and encoder (see utf8.h). */
#include "utf8.h"

size_t utf8_decode(const unsigned char *p, size_t n, uint32_t *cp, int *valid) {
  uint32_t c = p[0];
  unsigned lo = 0x80, hi = 0xBF;
  size_t need, i;
  *valid = 1;
  *cp = c;
  if (c < 0x80) return 1;
  if (c >= 0xC2 && c <= 0xDF) {
    need = 1;
    c &= 0x1F;
  } else if (c >= 0xE0 && c <= 0xEF) {
    need = 2;
    c &= 0x0F;
    if (p[0] == 0xE0) lo = 0xA0; /* overlong */
    if (p[0] == 0xED) hi = 0x9F; /* surrogates */
  } else if (c >= 0xF0 && c <= 0xF4) {
    need = 3;
    c &= 0x07;
    if (p[0] == 0xF0) lo = 0x90; /* overlong */
    if (p[0] == 0xF4) hi = 0x8F; /* beyond U+10FFFF */
  } else {
    *valid = 0;
    *cp = UTF8_REPLACEMENT;
    return 1;
  }
  for (i = 1; i <= need; i++) {
    if (i >= n || p[i] < lo || p[i] > hi) {
      *valid = 0;
      *cp = UTF8_REPLACEMENT;
      return i;
    }
    c = (c << 6) | (p[i] & 0x3F);
    lo = 0x80;
    hi = 0xBF;
  }
  *cp = c;
  return need + 1;
}

int utf8_valid(const void *s, size_t n) {
  const unsigned char *p = s;
  size_t i = 0;
  while (i < n) {
    uint32_t cp;
    int valid;
    if (p[i] < 0x80) { /* the common case, without a call */
      i++;
      continue;
    }
    i += utf8_decode(p + i, n - i, &cp, &valid);
    if (!valid) return 0;
  }
  return 1;
}

size_t utf8_encode(uint32_t cp, char out[4]) {
  if (cp < 0x80) {
    out[0] = (char)cp;
    return 1;
  }
  if (cp < 0x800) {
    out[0] = (char)(0xC0 | cp >> 6);
    out[1] = (char)(0x80 | (cp & 0x3F));
    return 2;
  }
  if (cp < 0x10000) {
    out[0] = (char)(0xE0 | cp >> 12);
    out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[2] = (char)(0x80 | (cp & 0x3F));
    return 3;
  }
  out[0] = (char)(0xF0 | cp >> 18);
  out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
  out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
  out[3] = (char)(0x80 | (cp & 0x3F));
  return 4;
}

int utf8_nul_at(const unsigned char *p, size_t n) {
  return n >= 2 && p[0] == 0xC0 && p[1] == 0x80;
}

uint32_t utf8_lone_at(const unsigned char *p, size_t n) {
  if (n < 3 || p[0] != 0xED || p[1] < 0xA0 || p[1] > 0xBF || (p[2] & 0xC0) != 0x80) return 0;
  return 0xD000u | ((uint32_t)(p[1] & 0x3F) << 6) | (p[2] & 0x3F);
}

size_t utf8_lone_fix(uint32_t cu, utf8_lone how, char out[4]) {
  return utf8_encode(how == UTF8_LONE_KEEP ? cu : UTF8_REPLACEMENT, out);
}

int utf8_is_high_surrogate(uint32_t cu) {
  return cu >= 0xD800 && cu <= 0xDBFF;
}

int utf8_is_low_surrogate(uint32_t cu) {
  return cu >= 0xDC00 && cu <= 0xDFFF;
}
