/* utf8.h: UTF-8 as the project reads and writes it: the WHATWG decoder (one code point at a
 * time, invalid input as U+FFFD per maximal subpart, as Node's Buffer.toString), the strict
 * RFC 3629 check (WebSocket text), the encoder, and the two byte sequences our strings add
 * to carry any JavaScript string (order.h): C0 80 for U+0000 and ED A0..BF xx for a lone
 * surrogate. Pure functions, no allocation. */
#ifndef KDS_UTF8_H
#define KDS_UTF8_H

#include <stddef.h>
#include <stdint.h>

#define UTF8_REPLACEMENT 0xFFFDu /* U+FFFD, what undecodable input becomes */

/* Reads one code point at p (n > 0 bytes) as WHATWG's UTF-8 decoder does and returns the
 * bytes consumed (>= 1). A valid sequence sets *cp and *valid = 1; an invalid one consumes
 * its maximal subpart (the lead byte and the continuation bytes that fit it) and sets
 * *cp = U+FFFD, *valid = 0. Overlongs, surrogates (ED A0..BF) and anything past U+10FFFF
 * are invalid. */
size_t utf8_decode(const unsigned char *p, size_t n, uint32_t *cp, int *valid);

/* 1 if s[0..n) is valid UTF-8 by RFC 3629 (no overlongs, no surrogates, nothing above
 * U+10FFFF; a NUL byte is valid), else 0. */
int utf8_valid(const void *s, size_t n);

/* Writes cp (at most 0x10FFFF) as 1 to 4 bytes into out and returns their count. A
 * surrogate code unit (0xD800..0xDFFF) is written as its own 3 bytes (WTF-8): invalid
 * UTF-8, which is how our strings mark a lone surrogate (see utf8_lone_fix). */
size_t utf8_encode(uint32_t cp, char out[4]);

/* 1 if p[0..n) starts with C0 80, our U+0000 (a NUL byte cannot sit in a C string). */
int utf8_nul_at(const unsigned char *p, size_t n);

/* The code unit of the lone surrogate our strings write at p (ED A0..BF xx), or 0. */
uint32_t utf8_lone_at(const unsigned char *p, size_t n);

/* What a lone surrogate becomes when JSON text ("\ud800" without its pair) is read into
 * UTF-8: the one rule for it, used by the server's body reader and by the display. */
typedef enum utf8_lone {
  UTF8_LONE_KEEP,   /* its own 3 bytes (ED A0..BF xx): the server keeps JavaScript strings whole */
  UTF8_LONE_REPLACE /* U+FFFD: the display only shows text, and cJSON refuses lone surrogates */
} utf8_lone;

/* Writes the bytes for lone surrogate `cu` (0xD800..0xDFFF) under `how` into out and
 * returns their count (3 either way). */
size_t utf8_lone_fix(uint32_t cu, utf8_lone how, char out[4]);

/* 1 if cu is a UTF-16 high (lead) or low (trail) surrogate. */
int utf8_is_high_surrogate(uint32_t cu);
int utf8_is_low_surrogate(uint32_t cu);

#endif
