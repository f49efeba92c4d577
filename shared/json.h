/* json.h: the one JSON module: a strict scanner (RFC 8259: exactly what JavaScript's
 * JSON.parse accepts), the rewrites that let cJSON read what JSON.parse reads, string
 * quoting and unquoting, JSON.stringify of a cJSON tree, and JSON.parse's rule for repeated
 * keys. JSON is kept as text where it passes through (key order and numbers as received).
 * Sans-I/O: bytes in, results out.
 *
 * Policy for text that is not valid UTF-8, when a string is quoted (json_quote):
 *   JSON_UTF8_REPLACE  REST replies (order_json_str, error bodies): invalid UTF-8 becomes
 *                      U+FFFD, one per maximal subpart as a WHATWG decoder reads it (so a
 *                      lone surrogate's 3 bytes are three U+FFFD, as Node sends text after a
 *                      round trip through SQLite), and C0 80 is "\u0000". The output is
 *                      always valid UTF-8 and valid JSON, whatever the input.
 *   JSON_UTF8_JS       JSON.stringify of our strings (json_stringify: messages quoting a
 *                      value, the body hash): as REPLACE, but a lone surrogate's 3 bytes are
 *                      "\udxxx", as JavaScript writes a lone surrogate.
 *   JSON_UTF8_PASS     Socket.IO acks and packets (sio_json_quote): bytes >= 0x80 are copied
 *                      as they are; the caller passes text it knows to be UTF-8 (it came out
 *                      of valid JSON, or is ours). Only '"', '\\' and controls are escaped.
 * Pinned by tests/unit/test_json_body.c and test_order.c (REPLACE, JS), test_sio.c (PASS)
 * and tests/unit/test_json.c (all three). */
#ifndef KDS_JSON_H
#define KDS_JSON_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "buf.h"

struct cJSON;

#define JSON_DEPTH_MAX 1000 /* cJSON's nesting limit: deeper fails in it anyway */
#define JSON_NUMBER_MAX 63  /* cJSON reads at most 63 characters of a number */

/* 1 if c is one of JSON's four blanks (space, tab, LF, CR); nothing else is. */
int json_is_space(int c);

/* Checks that s[0..len) is one JSON value as JSON.parse reads it (surrounding blanks
 * allowed), nested at most max_depth (<= JSON_DEPTH_MAX) deep. Returns 0 or KDS_EPROTO. */
int json_check(const char *s, size_t len, int max_depth);

/* Skips blanks from s[at], then one JSON value nested at most max_depth deep. Returns the
 * index just past the value (blanks after it are not skipped), or KDS_EPROTO. */
ssize_t json_value_end(const char *s, size_t len, size_t at, int max_depth);

/* Rewrites for json_rewrite (or-ed): what cJSON cannot hold, spelt the way it can. */
#define JSON_NUL_AS_C080 1u  /* "\u0000" as C0 80 (our U+0000, order.h) */
#define JSON_LONE_KEEP 2u    /* a lone surrogate escape as its 3 bytes (utf8_lone_fix KEEP) */
#define JSON_LONE_REPLACE 4u /* a lone surrogate escape as U+FFFD (utf8_lone_fix REPLACE) */
#define JSON_SHORT_NUMBERS                                          \
  8u /* a number over JSON_NUMBER_MAX characters as the same double \
      * in 17 digits (1e999 / -1e999 when it overflows) */
/* All three that keep what JSON.parse reads whole: the server's request bodies (server/http.c). */
#define JSON_READ_AS_JS (JSON_NUL_AS_C080 | JSON_LONE_KEEP | JSON_SHORT_NUMBERS)

/* Checks s[0..len) as json_check (depth JSON_DEPTH_MAX) and appends it to `out` with the
 * rewrites `flags` asks for; everything else is copied as it is (a surrogate pair stays an
 * escape: cJSON reads pairs). Returns 0, KDS_EPROTO (not JSON) or KDS_ENOMEM; on error
 * `out` is as before the call. */
int json_rewrite(kds_buf *out, const char *s, size_t len, unsigned flags);

/* Appends s[0..len), checked as json_check(max_depth), with insignificant blanks removed.
 * Returns 0, KDS_EPROTO (out unchanged) or KDS_ENOMEM. */
int json_compact(kds_buf *out, const char *s, size_t len, int max_depth);

/* What json_quote does with bytes that are not valid UTF-8: see the policy above. */
typedef enum json_utf8 { JSON_UTF8_REPLACE, JSON_UTF8_JS, JSON_UTF8_PASS } json_utf8;

/* Appends s[0..len) as a JSON string literal, quotes included, escaped as JSON.stringify
 * escapes ('"', '\\', \b \f \n \r \t, other controls as \u00xx), with invalid UTF-8 as
 * `policy` says. Returns 0 or KDS_ENOMEM (out may hold part of the literal then). */
int json_quote(kds_buf *out, const char *s, size_t len, json_utf8 policy);

/* Decodes a JSON string literal (quotes included) into UTF-8 appended to `out`: escapes
 * decoded, surrogate pairs joined, a lone surrogate as U+FFFD. Returns 0, KDS_EPROTO if
 * `lit` is not exactly one string literal, or KDS_ENOMEM (out unchanged on errors). */
int json_unquote(kds_buf *out, kds_slice lit);

/* 1 if `lit` is a JSON string literal whose decoded value equals the NUL-terminated `s`,
 * 0 if not (or not a literal), KDS_ENOMEM when an escaped literal could not be decoded for
 * want of memory (a caller guarding names treats that as equal: it fails closed). */
int json_streq(kds_slice lit, const char *s);

/* Flags of json_stringify. */
#define JSON_CANONICAL                                                  \
  1u /* object keys sorted; numbers as the body hash has always written \
      * them (integers below 1e15 plainly, others "%.17g") */

/* Appends JSON.stringify(v) (numbers as Number.prototype.toString writes them, strings as
 * json_quote JSON_UTF8_JS). Returns 0, KDS_EINVAL (nested past JSON_DEPTH_MAX) or
 * KDS_ENOMEM (out may hold part of it then). */
int json_stringify(kds_buf *out, const struct cJSON *v, unsigned flags);

/* Appends a number as JavaScript writes it: the fewest digits that read back as the same
 * double; plain for 1e-7 <= |d| < 1e21, else exponent notation ("1e+21", "1.5e-7"); null
 * when not finite. Returns 0 or KDS_ENOMEM. */
int json_number(kds_buf *out, double d);

/* Appends the decimal digits of v (the number writer for integers, without printf).
 * Returns 0 or KDS_ENOMEM. */
int json_int(kds_buf *out, int64_t v);

/* JSON.parse keeps the LAST value of a repeated key, at the place of the first; cJSON keeps
 * them all and its lookups find the first. Rewrites every object in `v` the JavaScript way,
 * so that the same text means the same thing here as in the reference. O(n log n) per
 * object. Returns 0 or KDS_ENOMEM. */
int json_dedupe_keys(struct cJSON *v);

#endif
