/* eio.h: Engine.IO protocol v4 packet codec, sans-I/O (bytes in, results out; no uv.h).
 * Used by the server (server/realtime/eio_server.c), the kitchen display and the bench.
 *
 * Wire format (engine.io-parser v5, PROTOCOL.md section 1):
 *   packet       = <type digit 0-6><data>          text; type 4 = message
 *   binary msg   = raw bytes in one WS binary frame (no type byte), or
 *                  "b<base64>" inside a polling payload (the "b" replaces the "4")
 *   poll payload = packet *( "\x1e" packet )         always text in v4
 *   handshake    = 0{"sid":..,"upgrades":[..],"pingInterval":N,"pingTimeout":N,"maxPayload":N}
 *
 * Decoding never allocates except for base64 (into a caller's kds_buf); results are
 * slices into the caller's input (or that buffer), valid as long as those bytes. */
#ifndef KDS_EIO_H
#define KDS_EIO_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

typedef enum eio_type {
  EIO_OPEN = 0,
  EIO_CLOSE = 1,
  EIO_PING = 2,
  EIO_PONG = 3,
  EIO_MESSAGE = 4,
  EIO_UPGRADE = 5,
  EIO_NOOP = 6
} eio_type;

/* The record separator between packets of a polling payload. */
#define EIO_SEPARATOR '\x1e'

/* Length of the ids eio_id_generate writes (plus a NUL): 15 random bytes in URL-safe base64,
 * like the Node module base64id. */
#define EIO_ID_LEN 20

typedef struct eio_packet {
  eio_type type;
  int binary;     /* 1: a binary message; `data` holds the raw bytes */
  kds_slice data; /* the bytes after the type (text), or the decoded binary; may be empty */
} eio_packet;

/* Decodes one packet. `text` is 1 for a text WS frame or a polling record, 0 for a binary
 * WS frame (always a binary message, any length). For "b<base64>" the bytes are decoded
 * into `scratch` (reset first; may be NULL only if the caller refuses binary) and
 * out->data points into it. Returns 0, or KDS_EPROTO for what engine.io closes with
 * "parse error": empty text, an unknown type character, or bad base64. On error `out`
 * is unspecified. */
int eio_packet_decode(const char *data, size_t len, int text, eio_packet *out, kds_buf *scratch);

/* Appends the text form of a packet, "<digit><data>", to `out`. For a binary message
 * (binary=1, type EIO_MESSAGE) appends "b<base64 of data>" (the polling form; over a
 * WebSocket send the raw bytes in a binary frame instead). Returns 0, KDS_EINVAL (binary
 * with a type other than message, or a type out of range) or KDS_ENOMEM; on error `out`
 * may hold a partial packet: callers reset it. */
int eio_packet_encode(kds_buf *out, eio_type type, int binary, const void *data, size_t len);

/* Iterates over the records of a polling payload. Start with *pos = 0. Each call returns 1
 * and sets `rec` to the next record (possibly empty: an empty body, a trailing or a doubled
 * separator give empty records, which eio_packet_decode refuses as engine.io does), or 0
 * when no record is left. Never reads outside [payload, payload+len). */
int eio_payload_next(const char *payload, size_t len, size_t *pos, kds_slice *rec);

/* Appends one encoded packet to a polling payload being built in `out`, with a separator
 * before it unless `out` is empty. Returns 0 or KDS_ENOMEM. */
int eio_payload_add(kds_buf *out, const char *packet, size_t len);

/* The open packet's settings. */
typedef struct eio_handshake {
  char sid[64];          /* NUL-terminated */
  int upgrade_websocket; /* "websocket" is in "upgrades" */
  int64_t ping_interval; /* ms */
  int64_t ping_timeout;  /* ms */
  int64_t max_payload;   /* bytes */
} eio_handshake;

/* Appends the open packet `0{"sid":..,"upgrades":[..],"pingInterval":..,"pingTimeout":..,
 * "maxPayload":..}` in the reference's key order. `sid` must be URL-safe (it is written
 * unescaped; KDS_EINVAL if it holds a '"' or '\\' or a control char). Returns 0,
 * KDS_EINVAL or KDS_ENOMEM. */
int eio_handshake_encode(kds_buf *out, const eio_handshake *hs);

/* Parses the data of an open packet (after the '0'). Needs a string sid (< 64 bytes) and
 * numbers for the three settings (missing maxPayload is taken as 1000000, as the Node
 * client does). Returns 0 or KDS_EPROTO. */
int eio_handshake_decode(const char *data, size_t len, eio_handshake *out);

/* Engine.IO's base64 (base64.h with these settings): standard with padding, as
 * Buffer.toString("base64"). Returns 0 or KDS_ENOMEM. */
int eio_base64_encode(kds_buf *out, const void *data, size_t len);

/* Decodes base64 (standard or URL-safe alphabet; padding optional, as Node accepts), appending
 * the bytes to `out`. Returns 0, KDS_EPROTO for a character outside the alphabets, a
 * misplaced '=' or a length that cannot be base64, or KDS_ENOMEM. */
int eio_base64_decode(kds_buf *out, const char *s, size_t len);

/* Writes a fresh unguessable id: EIO_ID_LEN URL-safe base64 characters and a NUL into
 * `out` (size >= EIO_ID_LEN + 1). Returns 0, or KDS_EINVAL if the system's random source
 * failed (nothing usable is written). */
int eio_id_generate(char *out);

#endif
