/* sio_server.h: a Socket.IO v5 server (as socket.io 4.8 speaks it, PROTOCOL.md sections 2-3)
 * on top of eio_server: namespaces, CONNECT with auth and an async middleware, events and
 * acknowledgements both ways, binary attachments, rooms and broadcasts encoded once,
 * connectTimeout, and connection state recovery (pid, offsets, replay of missed events).
 *
 * Recovery never skips the middleware (SPEC 11.21; unlike Node's skipMiddlewares): a CONNECT
 * carrying {pid, offset} goes through on_auth like any other, and only once it is accepted
 * is the session looked up, restored if its owner (sio_socket_set_owner) is the same as the
 * new socket's, and its missed events replayed. A restore consumes the stored session; a
 * refused or foreign claim leaves it for its owner. Otherwise the socket is a fresh one
 * (new id and pid, nothing replayed, not recovered).
 *
 * Binary packets: a binary header (BINARY_EVENT / BINARY_ACK) for a namespace the client
 * has not joined closes the connection, and the bytes of a binary packet still waiting for
 * attachments are capped at eio.max_payload per client (SPEC 11.25).
 * Usable on its own (the conformance server); realtime.c is the product's user.
 *
 * Payloads are raw JSON text, kept compact and as received (see shared/sio.h): an event's
 * arguments are given and received as the comma-separated list inside the array, e.g.
 * `{"a":1},2` for emit("x", {a:1}, 2). Everything runs on the loop thread.
 *
 * Socket lifetime: a sio_socket_t is valid from on_auth / on_connection until
 * on_disconnect returns, and for longer while the user holds references
 * (sio_socket_ref/unref: needed by async work such as an ack sent after a DB commit).
 * Functions called on a disconnected socket fail with KDS_ECLOSED. */
#ifndef KDS_SIO_SERVER_H
#define KDS_SIO_SERVER_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "buf.h"
#include "eio_server.h"
#include "http.h"

typedef struct sio_server sio_server_t;
typedef struct sio_nsp sio_nsp_t;
typedef struct sio_socket sio_socket_t;

typedef struct sio_server_config {
  eio_server_config eio;       /* the Engine.IO layer's settings */
  int64_t connect_timeout;     /* ms for a new connection to join a namespace (45000) */
  int recovery;                /* connection state recovery on (0 = off, Node's default) */
  int64_t max_disconnection;   /* ms a disconnected session stays restorable (120000) */
  size_t recovery_max_packets; /* bound of the per-namespace replay buffer (10000) */
  size_t max_pending_acks;     /* per socket, acks awaited from the client (1000) */
  size_t max_rooms;            /* rooms a socket may join (64) */
} sio_server_config;

void sio_server_config_default(sio_server_config *c);

/* An event (or an ack) received from a client. Slices are valid during the callback. */
typedef struct sio_event {
  const char *name;    /* event name decoded (NUL-terminated); NULL for a numeric name
                          or an ack */
  kds_slice name_json; /* the raw first element ("\"order-status\"", or "7") */
  kds_slice args;      /* raw arguments after the name (for an ack: all of them),
                          comma-separated, without the brackets; may be empty */
  kds_slice data;      /* the whole JSON array */
  int64_t id;          /* ack id the client asks for, or -1 */
  int nbins;           /* binary attachments (placeholders refer to them by index) */
  const kds_slice *bins;
} sio_event;

typedef struct sio_nsp_ops {
  /* Optional middleware: runs for each CONNECT to the namespace before the reply. It must
   * call sio_socket_accept() or sio_socket_reject() exactly once, inside or later (async
   * lookups). The socket is not connected yet: it may not emit or join. If the client
   * leaves meanwhile, accept/reject still must be called (they just release it). NULL:
   * every CONNECT is accepted. */
  void (*on_auth)(sio_socket_t *s, void *ud);
  /* The socket is connected (its CONNECT reply is queued). May emit, join, disconnect. */
  void (*on_connection)(sio_socket_t *s, void *ud);
  /* An EVENT or BINARY_EVENT. Answer an ev->id >= 0 with sio_socket_ack (now or later). */
  void (*on_event)(sio_socket_t *s, const sio_event *ev, void *ud);
  /* The socket left (reason as socket.io: "client namespace disconnect", "server namespace
   * disconnect", "transport close", "transport error", "ping timeout", "parse error",
   * "forced close", "forced server close", "server shutting down"). */
  void (*on_disconnect)(sio_socket_t *s, const char *reason, void *ud);
} sio_nsp_ops;

/* An ack from the client for a server emit: status 0 with the ack's arguments in ev (name
 * NULL), or KDS_ECLOSED (ev NULL) when the socket went away first. Called exactly once. */
typedef void (*sio_ack_cb)(void *ud, int status, const sio_event *ev);

/* ---- server -------------------------------------------------------------------------- */

/* Creates a server on `loop` (cfg copied; NULL = defaults) with its Engine.IO server.
 * Returns 0, KDS_ENOMEM or a libuv error. */
int sio_server_new(sio_server_t **out, uv_loop_t *loop, const sio_server_config *cfg);

/* Routes `path` (e.g. "/socket.io/") of `hs` to the Engine.IO server. Errors as
 * eio_server_attach. */
int sio_server_attach(sio_server_t *ss, http_server_t *hs, const char *path);

/* Disconnects every socket ("server shutting down"), closes the Engine.IO server and frees
 * `ss` when its handles are closed, then calls cb (may be NULL). Idempotent. */
void sio_server_close(sio_server_t *ss, void (*cb)(void *ud), void *ud);

eio_server_t *sio_server_eio(const sio_server_t *ss);

/* Registers a namespace ("/" or "/name"; copied). Packets for unregistered namespaces get
 * CONNECT_ERROR "Invalid namespace". Returns 0, KDS_EINVAL (bad or duplicate name),
 * KDS_ENOMEM. *out (may be NULL) receives the namespace, owned by the server. */
int sio_nsp_new(sio_server_t *ss, const char *name, const sio_nsp_ops *ops, void *ud, sio_nsp_t **out);

/* Broadcasts an event to the sockets of the namespace in any of `rooms` (nrooms 0: every
 * connected socket) except those in any of `except`; a socket in several rooms gets it
 * once. The packet is encoded once and its frame shared by every recipient. With recovery
 * on, an offset is appended as the last argument and the packet is kept for replay.
 * `args` as for sio_socket_emit; `bins` (nbins <= 10) are binary attachments referred to
 * by placeholders in args. Returns the number of recipients (>= 0), or KDS_EINVAL (bad
 * event or too many attachments) / KDS_ENOMEM; a recipient that cannot take it (a full
 * queue) is dropped, not reported. */
ssize_t sio_nsp_emit(sio_nsp_t *nsp, const char *const *rooms, size_t nrooms, const char *const *except,
                     size_t nexcept, const char *event, const char *args, size_t args_len,
                     const kds_slice *bins, int nbins);

/* sio_nsp_emit without attachments, with flags: SIO_EMIT_VOLATILE skips every recipient
 * whose transport cannot take the packet at once (eio_socket_writable) and keeps nothing
 * for recovery (no offset). Returns as sio_nsp_emit (the count includes skipped ones). */
#define SIO_EMIT_VOLATILE 1u
ssize_t sio_nsp_emit_flags(sio_nsp_t *nsp, const char *const *rooms, size_t nrooms, const char *const *except,
                           size_t nexcept, const char *event, const char *args, size_t args_len,
                           unsigned flags);

/* Calls fn on each connected socket of the namespace in any of `rooms` (nrooms 0: all) and
 * in none of `except`, once each, as a broadcast would pick them; stops at fn's first
 * non-zero return. fn may emit. Returns how many were picked, or KDS_ENOMEM. */
ssize_t sio_nsp_select(sio_nsp_t *nsp, const char *const *rooms, size_t nrooms, const char *const *except,
                       size_t nexcept, int (*fn)(sio_socket_t *s, void *ud), void *ud);

/* Appends the socket's rooms (its id first) / every room of the namespace, each
 * NUL-terminated. Return 0 or KDS_ENOMEM. */
int sio_socket_rooms(const sio_socket_t *s, kds_buf *out);
int sio_nsp_rooms(const sio_nsp_t *nsp, kds_buf *out);

size_t sio_nsp_count(const sio_nsp_t *nsp); /* connected sockets */
size_t sio_nsp_room_size(const sio_nsp_t *nsp, const char *room);

/* ---- socket ---------------------------------------------------------------------------- */

/* Middleware verdicts (see on_auth). reject sends CONNECT_ERROR {"message":..[,"data":..]}
 * (`data` raw JSON or NULL). Both are no-ops (apart from releasing) on a socket that is
 * not waiting for a verdict or whose client left. */
void sio_socket_accept(sio_socket_t *s);
void sio_socket_reject(sio_socket_t *s, const char *message, const char *data_json);

/* Emits an event to this socket. `args` (args_len bytes, may be NULL/0) is the raw
 * comma-separated argument list; `bins`/nbins binary attachments. With `cb` an ack id is
 * requested and cb runs once (see sio_ack_cb). Returns 0; KDS_ECLOSED (not connected; cb
 * never runs); KDS_EINVAL (reserved/bad event name, nbins > 10); KDS_EFULL (too many acks
 * pending, or the send queue overflowed and the client is being dropped); KDS_ENOMEM. */
int sio_socket_emit(sio_socket_t *s, const char *event, const char *args, size_t args_len,
                    const kds_slice *bins, int nbins, sio_ack_cb cb, void *ud);

/* Answers the client's ack request `id` with the raw arguments `args` (and attachments).
 * Returns 0, KDS_ECLOSED, KDS_EINVAL, KDS_ENOMEM. */
int sio_socket_ack(sio_socket_t *s, int64_t id, const char *args, size_t args_len, const kds_slice *bins,
                   int nbins);

/* Joins / leaves a room of the socket's namespace (names copied, <= 255 bytes). join
 * returns 0, KDS_ECLOSED, KDS_EINVAL (bad name), KDS_EFULL (over max_rooms), KDS_ENOMEM. */
int sio_socket_join(sio_socket_t *s, const char *room);
void sio_socket_leave(sio_socket_t *s, const char *room);
int sio_socket_in_room(const sio_socket_t *s, const char *room);

/* Server-side disconnect: sends DISCONNECT for this namespace ("server namespace
 * disconnect"); with close_conn the whole Engine.IO connection is closed too (every
 * socket of the client leaves). No-op on a socket that is not connected. */
void sio_socket_disconnect(sio_socket_t *s, int close_conn);

/* Keeps the socket's memory alive past on_disconnect (async work). NULL-safe unref. */
void sio_socket_ref(sio_socket_t *s);
void sio_socket_unref(sio_socket_t *s);

const char *sio_socket_id(const sio_socket_t *s); /* the public socket id (20 chars) */
int sio_socket_connected(const sio_socket_t *s);
int sio_socket_recovered(const sio_socket_t *s);  /* restored by connection state recovery */
kds_slice sio_socket_auth(const sio_socket_t *s); /* CONNECT auth object, raw; "{}" if none */
sio_nsp_t *sio_socket_nsp(const sio_socket_t *s);
const char *sio_socket_peer(const sio_socket_t *s); /* client address ("" once gone) */
void *sio_socket_data(const sio_socket_t *s);       /* free for the user (not persisted) */
void sio_socket_set_data(sio_socket_t *s, void *data);

/* Bytes kept with the socket and restored with it by connection state recovery (Node's
 * socket.data): e.g. the authenticated user. On a restore (after on_auth accepted, for the
 * same owner) the session's bytes replace what the middleware set. Copied; at most 4096 bytes. Returns 0,
 * KDS_EINVAL, KDS_ENOMEM. sio_socket_state returns NULL (and *len 0) when none. */
int sio_socket_set_state(sio_socket_t *s, const void *p, size_t len);

/* Who owns this socket, as opaque bytes (e.g. the user id and the token's hash), set by
 * on_auth before accepting. It is kept with a recovery session, and a session is restored
 * only to a socket whose middleware set the same bytes (two empty owners match: without
 * a middleware, or one that does not tell users apart). Copied; at most 4096 bytes.
 * Returns 0, KDS_EINVAL, KDS_ENOMEM. */
int sio_socket_set_owner(sio_socket_t *s, const void *p, size_t len);
const void *sio_socket_state(const sio_socket_t *s, size_t *len);

#endif
