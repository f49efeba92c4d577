/* eio_server.h: an Engine.IO v4 server (as engine.io 6.6 speaks it, PROTOCOL.md section 1) on
 * the HTTP server: sessions, long-polling and WebSocket transports, the upgrade, server-driven
 * heartbeat with absolute deadlines, bounded per-session send queues, shared broadcast frames.
 * Usable on its own (the conformance server mounts it raw at /engine.io/); Socket.IO
 * (sio_server.h) is built on top of it.
 *
 * Lifetime: a session (eio_socket_t) exists from on_open to on_close. After on_close returns
 * the pointer is dead for the user (the memory goes at a safe point later). Every function
 * here runs on the loop thread. */
#ifndef KDS_EIO_SERVER_H
#define KDS_EIO_SERVER_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "http.h"
#include "ws.h"

struct metrics;

typedef struct eio_server eio_server_t;
typedef struct eio_socket eio_socket_t;

typedef struct eio_server_config {
  int64_t ping_interval;    /* ms between the pong (or handshake) and the next ping */
  int64_t ping_timeout;     /* ms to wait for the pong after a ping */
  int64_t upgrade_timeout;  /* ms for a WebSocket probe to complete the upgrade */
  int64_t max_payload;      /* bytes: largest POST body / WS message (maxHttpBufferSize) */
  size_t max_queue_bytes;   /* per-session send queue bound (bytes); over it the session is dropped */
  size_t max_queue_packets; /* per-session send queue bound (packets) */
  int polling;              /* transports allowed (both 1 by default) */
  int websocket;
  /* Polling sessions that have not made their second request yet ("pending": the handshake
   * GET was answered and nothing came back), at most this many in all and from one client
   * address (SPEC 11.25). Opening one more past a cap first closes the oldest pending
   * session (of that address, or of all; on_close "forced close", logged at most once a
   * second). A session's second request (a GET, a POST or a WebSocket upgrade with its
   * sid) takes it off the count. 0 means the defaults, 50000 and 5000. */
  size_t max_pending;
  size_t max_pending_per_peer;
  /* Every sid starts with these characters (at most EIO_SID_PREFIX_MAX of [A-Za-z0-9], not
   * owned, "" or NULL: none), the rest staying random: a load balancer routes a sid's
   * requests to the process that made it (deploy/nginx/kds.conf, --sid-prefix). */
  const char *sid_prefix;
  /* Where slow-client drops and pending sessions are counted (kds_slow_clients_dropped_total,
   * kds_eio_pending_sessions, kds_eio_pending_sessions_closed_total); NULL: nowhere. Not
   * owned: it must outlive the server. */
  struct metrics *metrics;
} eio_server_config;

#define EIO_SID_PREFIX_MAX 8

/* engine.io's defaults: 25000 / 20000 / 10000 ms, 1e6 bytes; both transports. Queue bounds
 * 0 mean 2 MiB + 2 x max_payload and 10000 packets (the WebSocket driver's queue gets the
 * same byte bound); pending-session caps 50000 in all, 5000 per address. */
void eio_server_config_default(eio_server_config *c);

typedef struct eio_server_callbacks {
  /* A new session is open (its open packet is queued). May send or close. */
  void (*on_open)(eio_server_t *es, eio_socket_t *s);
  /* A message from the client: text (valid for the call only) or binary. */
  void (*on_message)(eio_socket_t *s, int binary, const char *data, size_t len);
  /* The session ended; called once per session that had on_open. `reason` is engine.io's:
   * "transport close", "transport error", "parse error", "ping timeout", "forced close".
   * Sending is refused from here on; `s` must not be used after the return. */
  void (*on_close)(eio_socket_t *s, const char *reason);
} eio_server_callbacks;

/* Creates a server on `loop` (config and callbacks copied; cfg NULL = defaults). `ud` is
 * for eio_server_data(). Returns 0, KDS_ENOMEM or a libuv error; *out untouched on error. */
int eio_server_new(eio_server_t **out, uv_loop_t *loop, const eio_server_config *cfg,
                   const eio_server_callbacks *cb, void *ud);

/* Registers the handler for every request under `path` (e.g. "/engine.io/"; a trailing '/'
 * is added if missing) on `hs` for GET, POST, PUT, PATCH and DELETE (OPTIONS stays the HTTP
 * server's CORS preflight), with max_payload as the body limit. Returns 0, KDS_EINVAL or
 * KDS_ENOMEM. The HTTP server must stop routing to us before eio_server_close completes
 * (close it first or in the same loop turn). */
int eio_server_attach(eio_server_t *es, http_server_t *hs, const char *path);

/* The request handler itself, for owners who route by themselves (ud = the eio_server_t). */
void eio_server_handle(http_req_t *req, void *ud);

/* Closes every session (on_close "forced close"; WebSockets get a close frame, pending
 * polls are answered) and, once every handle is closed, frees `es` and calls cb (may be
 * NULL). Requests arriving meanwhile get 503. Idempotent. */
void eio_server_close(eio_server_t *es, void (*cb)(void *ud), void *ud);

void *eio_server_data(const eio_server_t *es);
size_t eio_server_count(const eio_server_t *es); /* open sessions */
/* Pending sessions (see max_pending): in all, or from client address `peer`. */
size_t eio_server_pending(const eio_server_t *es, const char *peer);
uv_loop_t *eio_server_loop(const eio_server_t *es);

/* ---- a session ------------------------------------------------------------------------- */

const char *eio_socket_id(const eio_socket_t *s);        /* the sid, NUL-terminated */
const char *eio_socket_peer(const eio_socket_t *s);      /* client address */
const char *eio_socket_transport(const eio_socket_t *s); /* "polling" or "websocket" */
eio_server_t *eio_socket_server(const eio_socket_t *s);
void *eio_socket_data(const eio_socket_t *s);
void eio_socket_set_data(eio_socket_t *s, void *data);

/* Builds the frame of one Engine.IO message, to send to one or many sessions: a text
 * frame "4" + the concatenated parts, or (binary) a binary frame of the raw bytes. The
 * polling transport sends the same text (binary as "b<base64>"). Refcount 1 (release with
 * ws_frame_unref). NULL when out of memory or nparts > 8. */
ws_frame_t *eio_frame_message(int binary, const uv_buf_t *parts, unsigned nparts);

/* Queues a frame built by eio_frame_message (takes its own reference; the caller keeps
 * its). Returns 0; KDS_ECLOSED (session closing or closed); KDS_EFULL (the send queue is
 * over its bound: the session is dropped, logged, on_close "transport error" follows at
 * once); KDS_ENOMEM. */
int eio_socket_send_frame(eio_socket_t *s, ws_frame_t *f);

/* Sends one message (copied). Errors as eio_socket_send_frame. */
int eio_socket_send(eio_socket_t *s, int binary, const void *data, size_t len);

/* Server-side close: buffered packets are sent, then "1" on polling (in the pending or next
 * GET, waiting up to 30 s) or a close frame without status on WebSocket. on_close runs
 * with "forced close" before this returns. Idempotent. */
void eio_socket_close(eio_socket_t *s);

/* 1 when a packet sent now would go out at once, as engine.io's `transport.writable`: a
 * WebSocket with nothing queued, or a polling session with a GET waiting, not upgrading and
 * nothing queued; else 0. Volatile broadcasts skip sockets that are not writable. */
int eio_socket_writable(const eio_socket_t *s);

#endif
