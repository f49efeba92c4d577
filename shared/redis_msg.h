/* redis_msg.h: the broadcast message of @socket.io/redis-adapter's classic mode (SCALEOUT.md
 * 1.2), msgpack `[uid, {type, data, nsp}, {rooms, except, flags}]`, to and from what the
 * server's broadcasts take: an event name and its arguments as JSON text. A small msgpack
 * encoder and decoder of our own (not msgpack-c): the decoder writes JSON text directly (no
 * object tree, no zone allocator), every length is checked against the bytes left before
 * anything is allocated, and depth, rooms and sizes have hard limits. Sans-I/O.
 *
 * What the decoder accepts: any key order in both maps, unknown keys skipped (values still
 * checked), `nsp` absent = "/", `flags` or `rooms`/`except` absent = none, integer rooms as
 * decimal strings, ints (fixint, int8..64, uint8..64), float32/64, str8/16/32, nil, bool,
 * nested maps (string keys) and arrays. What it refuses: bin and ext anywhere in the
 * arguments (the KDS sends and takes JSON only; a Buffer arg means a message not for us),
 * a packet type other than 2 (EVENT), a first data element that is not a string. */
#ifndef KDS_REDIS_MSG_H
#define KDS_REDIS_MSG_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

#define REDIS_MSG_MAX_DEPTH 32  /* nesting of the arguments (the envelope is depth 2) */
#define REDIS_MSG_MAX_ROOMS 256 /* in rooms, and again in except */
#define REDIS_MSG_ROOM_MAX 255  /* bytes in a room name (sio_rooms' limit) */
#define REDIS_MSG_EVENT_MAX 255 /* bytes in an event name */

/* Broadcast flags, in the message's `flags` map. */
#define REDIS_MSG_VOLATILE 1u
#define REDIS_MSG_LOCAL 2u /* never published by a sender; read so that it can be seen */

/* A decoded broadcast. Strings are NUL-terminated; room and except names point into the
 * message's own buffers and stay valid until the next decode or release. */
typedef struct redis_msg {
  kds_buf uid;
  kds_buf nsp;
  kds_buf event;
  kds_buf args;  /* JSON of the arguments after the event name, comma-separated, no
                    brackets ("" when none): the form sio_nsp_emit takes */
  kds_buf names; /* rooms then except, each NUL-terminated */
  const char *rooms[REDIS_MSG_MAX_ROOMS];
  size_t nrooms;
  const char *except[REDIS_MSG_MAX_ROOMS];
  size_t nexcept;
  unsigned flags;     /* REDIS_MSG_VOLATILE | REDIS_MSG_LOCAL */
  kds_buf request_id; /* redis_msg_decode_request only */
} redis_msg;

void redis_msg_init(redis_msg *m);
void redis_msg_release(redis_msg *m);

/* Decodes p[0..len) into `m` (whatever it held before is replaced). Returns 0;
 * KDS_EPROTO when the bytes are not exactly one well-formed msgpack value (truncated, trailing
 * bytes, a reserved byte 0xc1, a length past the end, a map key that is not a string);
 * KDS_EINVAL when the value is msgpack but not a broadcast this server can deliver (another
 * shape, bin or ext in it, a type other than 2, a bad event name, a room that is not a
 * string or integer, or a string that is not UTF-8 in a name); KDS_ETOOBIG past a limit
 * above; KDS_ENOMEM. On error `m` holds nothing usable (but may be released or reused). */
int redis_msg_decode(redis_msg *m, const void *p, size_t len);

/* Decodes a BROADCAST request (type 7: a broadcast whose sender waits for the clients'
 * acks), msgpack {uid, requestId, type: 7, packet, opts} in any key order, into `m` (as
 * redis_msg_decode, plus m->request_id). Returns as redis_msg_decode; KDS_EINVAL also for a
 * map without a string requestId or with a type other than 7. */
int redis_msg_decode_request(redis_msg *m, const void *p, size_t len);

/* Appends the msgpack of the BROADCAST_ACK response {type: 9, requestId, packet: arg}, `arg`
 * being one JSON value (a client's first ack argument; arg_len 0: null). Returns 0,
 * KDS_EINVAL (arg not JSON, too deep), KDS_ENOMEM; on error `out` is as before. */
int redis_msg_encode_ack(kds_buf *out, const char *request_id, const char *arg, size_t arg_len);

/* Appends to `out` the msgpack of [uid, {type: 2, data: [event, ...args], nsp},
 * {rooms, except, flags}] exactly as @socket.io/redis-adapter 8.3 (notepack.io) writes it:
 * keys in that order, the smallest int encoding, float64 for non-integers, flags `{}` or
 * `{volatile: true}`. `args` is the JSON text of the arguments, comma-separated without
 * brackets (as redis_msg.args), args_len 0 for none. Returns 0; KDS_EINVAL (NULL
 * uid/event/nsp, args that are not JSON, nested deeper than REDIS_MSG_MAX_DEPTH);
 * KDS_ENOMEM. On error `out` is as before the call. */
int redis_msg_encode(kds_buf *out, const char *uid, const char *nsp, const char *event, const char *args,
                     size_t args_len, const char *const *rooms, size_t nrooms, const char *const *except,
                     size_t nexcept, unsigned flags);

#endif
