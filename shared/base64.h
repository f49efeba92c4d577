/* base64.h: base64 (RFC 4648), written by hand so that shared/ needs no OpenSSL: the
 * standard and URL-safe alphabets, with or without padding. Used by Engine.IO (binary in
 * polling payloads, session ids) and the server's tokens and password hashes. */
#ifndef KDS_BASE64_H
#define KDS_BASE64_H

#include <stddef.h>
#include <sys/types.h>

#include "buf.h"

/* Encoding flags (or-ed). */
#define BASE64_URL 1u   /* '-' and '_' instead of '+' and '/' (RFC 4648 section 5) */
#define BASE64_NOPAD 2u /* no trailing '=' */
/* Decoding flag: only the standard alphabet, and the length a multiple of 4 with its
 * padding (what an encoder without BASE64_NOPAD wrote). Without it decoding is lenient as
 * Node's Buffer.from(s, "base64"): either alphabet, padding optional. */
#define BASE64_STRICT 4u

/* Characters base64_encode writes for `len` bytes under `flags` (NUL not counted). */
size_t base64_encoded_len(size_t len, unsigned flags);

/* Writes the base64 of data[0..len) and a NUL into `out`, which has room for
 * base64_encoded_len(len, flags) + 1 bytes. Returns the characters written. */
size_t base64_encode_to(char *out, const void *data, size_t len, unsigned flags);

/* Appends the base64 of data[0..len) to `out`. Returns 0 or KDS_ENOMEM. */
int base64_encode(kds_buf *out, const void *data, size_t len, unsigned flags);

/* Decodes s[0..len) into out[0..cap). Returns the bytes written, or KDS_EPROTO (a character
 * outside the alphabet, a misplaced '=' or more than two, a length no encoder writes, or
 * without BASE64_STRICT's padding), or KDS_ETOOBIG (more than cap bytes). */
ssize_t base64_decode_to(unsigned char *out, size_t cap, const char *s, size_t len, unsigned flags);

/* Appends the bytes s[0..len) decodes to. Returns 0, KDS_EPROTO (as base64_decode_to; `out`
 * unchanged) or KDS_ENOMEM. */
int base64_decode(kds_buf *out, const char *s, size_t len, unsigned flags);

#endif
