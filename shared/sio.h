/* sio.h: Socket.IO protocol v5 packet codec, sans-I/O, plus the small raw-JSON helpers it
 * needs (JSON is kept as text: compact, key order and numbers as received).
 * Used by the server (server/realtime/sio_server.c), the kitchen display and the bench.
 *
 * A Socket.IO packet is the data of one Engine.IO message (the "4" is not part of it):
 *   <type>[<attachments>-][<nsp>,][<ack id>][<JSON>]        (socket.io-parser v4)
 *   type 0 CONNECT        optional object (auth); server reply {"sid":..[,"pid":..]}
 *        1 DISCONNECT     no payload
 *        2 EVENT          non-empty array, [0] a non-reserved string or a number
 *        3 ACK            array (may be empty); needs an ack id
 *        4 CONNECT_ERROR  object (or string)
 *        5 BINARY_EVENT   like EVENT, "N-" prefix, then N binary Engine.IO messages
 *        6 BINARY_ACK     like ACK, "N-" prefix, then N binary messages
 * Buffers inside the args are written as {"_placeholder":true,"num":k}, k in depth-first
 * order. The namespace is omitted when it is "/". Anything else is refused (KDS_EPROTO):
 * the Node server closes the whole connection for it.
 *
 * Typical receive path:  sio_decoder_text()/sio_decoder_binary() -> sio_packet ->
 *   sio_args_split() for events.  Send path: sio_event_encode()/sio_ack_encode() after a
 *   '4' (the Engine.IO message type) in the same buffer. */
#ifndef KDS_SIO_H
#define KDS_SIO_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

typedef enum sio_type {
  SIO_CONNECT = 0,
  SIO_DISCONNECT = 1,
  SIO_EVENT = 2,
  SIO_ACK = 3,
  SIO_CONNECT_ERROR = 4,
  SIO_BINARY_EVENT = 5,
  SIO_BINARY_ACK = 6
} sio_type;

#define SIO_MAX_ATTACHMENTS 10            /* socket.io-parser's maxAttachments */
#define SIO_NSP_MAX 255                   /* longest namespace accepted, in bytes */
#define SIO_ACK_ID_MAX 9007199254740991LL /* ack ids are JS safe integers */
#define SIO_JSON_MAX_DEPTH 128            /* nesting limit of payloads */

typedef struct sio_packet {
  sio_type type;                      /* as on the wire: BINARY_EVENT/ACK stay 5/6 */
  int attachments;                    /* declared binary attachments (types 5/6), else 0 */
  kds_slice nsp;                      /* the namespace, "/" when omitted; never empty */
  int64_t id;                         /* ack id, or -1 when absent */
  kds_slice data;                     /* the JSON payload (empty when absent) */
  kds_slice bin[SIO_MAX_ATTACHMENTS]; /* attachments 0..attachments-1 (decoder only) */
} sio_packet;

/* Parses one text packet, stateless. Checks the header, that the JSON is valid (RFC 8259,
 * as JSON.parse; depth <= SIO_JSON_MAX_DEPTH) and the payload rule of the type, including
 * placeholders {"_placeholder":true,"num":k} with 0 <= k < attachments. Slices point into
 * `s` (data as received, whitespace included). Returns 0 or KDS_EPROTO (empty input, unknown
 * type, missing/bad/> 10 attachments, namespace > SIO_NSP_MAX or holding a NUL, ack id >
 * SIO_ACK_ID_MAX, invalid JSON, a payload breaking its type's rule, an EVENT or ACK without
 * payload). As in Node, an ack id is accepted on any type (the receiver ignores it where
 * it means nothing) and an ACK without id parses (the receiver drops it). */
int sio_packet_parse(const char *s, size_t len, sio_packet *out);

/* A decoder for one connection: reassembles binary packets and keeps payloads compact. */
typedef struct sio_decoder {
  kds_buf text;                     /* the current packet, re-encoded compact */
  kds_buf bin[SIO_MAX_ATTACHMENTS]; /* attachments received so far */
  sio_packet pending;               /* header waiting for attachments (slices into text) */
  int expected;                     /* attachments still to come; 0 = none pending */
  int received;
} sio_decoder;

void sio_decoder_init(sio_decoder *d);
void sio_decoder_release(sio_decoder *d);

/* Feeds the data of one text Engine.IO message. Returns 1 with a complete packet in `out`
 * (its slices stay valid until the next call on `d`), 0 when a binary header was stored
 * and its attachments are awaited, or KDS_EPROTO (bad packet, or a text message while
 * attachments are awaited) / KDS_ENOMEM. After an error the decoder is reset. The payload
 * in `out` is compact JSON (insignificant whitespace removed). */
int sio_decoder_text(sio_decoder *d, const char *s, size_t len, sio_packet *out);

/* Feeds one binary Engine.IO message. Returns 1 when it was the last attachment (the whole
 * packet in `out`, out->bin[] filled), 0 when more are awaited, KDS_EPROTO when no
 * attachment was expected, or KDS_ENOMEM. After an error the decoder is reset. */
int sio_decoder_binary(sio_decoder *d, const void *p, size_t len, sio_packet *out);

/* Appends `<type>[<attachments>-][<nsp>,][<id>][<json>]`. `nsp` NULL or "/" is the default
 * namespace (omitted); `id` < 0 means none; `json` (len bytes, NULL if 0) is written as
 * given: callers pass compact, valid JSON. `attachments` is written for types 5/6 only.
 * Returns 0, KDS_EINVAL (type out of range, attachments out of 0..10 on 5/6, id >
 * SIO_ACK_ID_MAX) or KDS_ENOMEM (out may hold a partial packet then). */
int sio_packet_encode(kds_buf *out, sio_type type, const char *nsp, int64_t id, const char *json, size_t len,
                      int attachments);

/* Appends an event packet `2[nsp,][id]["<event>"(,<args>)]`, type 5 with `attachments-`
 * when attachments > 0. `event` is NUL-terminated, JSON-escaped here. `args` is the raw
 * comma-separated list of arguments ("1,{\"a\":2}"), or NULL/0 for none. Errors as
 * sio_packet_encode. */
int sio_event_encode(kds_buf *out, const char *nsp, int64_t id, const char *event, const char *args,
                     size_t args_len, int attachments);

/* Appends an ack packet `3[nsp,]<id>[<args>]` (type 6 with `attachments-` when
 * attachments > 0). Errors as sio_packet_encode, and KDS_EINVAL for id < 0. */
int sio_ack_encode(kds_buf *out, const char *nsp, int64_t id, const char *args, size_t args_len,
                   int attachments);

/* Appends a CONNECT_ERROR `4[nsp,]{"message":"<message>"[,"data":<data>]}`; `data` is raw
 * JSON or NULL (omitted, as JSON.stringify drops undefined). */
int sio_connect_error_encode(kds_buf *out, const char *nsp, const char *message, const char *data,
                             size_t data_len);

/* Appends the placeholder object for attachment `num`: {"_placeholder":true,"num":<num>}. */
int sio_placeholder_encode(kds_buf *out, int num);

/* Splits an EVENT/ACK payload (a JSON array, as in a parsed packet) into its first element
 * and the raw text of the others ("" when none), both without the brackets (an empty array
 * gives two empty slices). Returns 0, or KDS_EPROTO if `data` is not a valid JSON array. */
int sio_args_split(kds_slice data, kds_slice *first, kds_slice *rest);

/* Iterates over the elements of a valid JSON array. Start with *pos = 0; returns 1 with the
 * next element (trimmed) in `elem`, or 0 at the end (also for something that is not an
 * array). */
int sio_array_next(kds_slice arr, size_t *pos, kds_slice *elem);

/* The same over a raw argument list: the array's text without its brackets, as an event's
 * `args` ("1,{\"a\":2}", from sio_args_split or a client's event callback). Start with
 * *pos = 0; returns 1 with the next argument (trimmed), or 0 at the end (an empty list has
 * none). */
int sio_args_next(kds_slice args, size_t *pos, kds_slice *elem);

/* The raw-JSON helpers below are json.h's at SIO_JSON_MAX_DEPTH; sio_json_quote uses its
 * JSON_UTF8_PASS policy (bytes >= 0x80 copied: what is quoted here is UTF-8 already). */

/* Checks that s[0..len) is one valid JSON value (surrounding whitespace allowed). Returns 0
 * or KDS_EPROTO. */
int sio_json_check(const char *s, size_t len);

/* Appends valid JSON with insignificant whitespace removed. Returns 0, KDS_EPROTO (invalid
 * JSON; out unchanged) or KDS_ENOMEM. */
int sio_json_compact(kds_buf *out, const char *s, size_t len);

/* Appends the JSON string literal of s[0..len) (quotes included), escaped as JSON.stringify
 * does. Returns 0 or KDS_ENOMEM. */
int sio_json_quote(kds_buf *out, const char *s, size_t len);

/* Decodes a JSON string literal (quotes included, e.g. a slice from sio_args_split) into
 * UTF-8 appended to `out` (\u escapes decoded, surrogate pairs joined; a lone surrogate
 * becomes U+FFFD). Returns 0, KDS_EPROTO if `lit` is not a valid string literal, or
 * KDS_ENOMEM. */
int sio_json_unquote(kds_buf *out, kds_slice lit);

/* 1 if `lit` is a JSON string literal whose decoded value equals the NUL-terminated `s`,
 * 0 if not, KDS_ENOMEM when an escaped literal could not be decoded for want of memory
 * (a caller guarding reserved names treats that as equal: it fails closed). */
int sio_json_streq(kds_slice lit, const char *s);

/* 1 if `name` (NUL-terminated) is an event name Socket.IO reserves (connect, connect_error,
 * disconnect, disconnecting, newListener, removeListener): no one may emit it; the decoder
 * refuses a packet that does. The one table of them. */
int sio_event_reserved(const char *name);

#endif
