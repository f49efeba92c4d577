/* sioc.h: a Socket.IO v5 client over Engine.IO v4 on a WebSocket only
 * (`/socket.io/?EIO=4&transport=websocket`), built on ws.h and the codecs eio.h / sio.h.
 * One namespace per client. It answers pings, declares the link dead after
 * pingInterval + pingTimeout without a ping, sends CONNECT with an auth object, surfaces
 * CONNECT_ERROR, delivers events and emits with acks. It never reconnects by itself: after
 * on_disconnect, call sioc_connect again (kds-tui applies its backoff around that).
 * Small per connection (kds-bench opens 10,000): no per-client buffers while idle. */
#ifndef KDS_SIOC_H
#define KDS_SIOC_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "ws.h"

typedef struct sioc sioc_t;

/* Reasons given to on_disconnect (the strings socket.io-client uses, where they exist). */
#define SIOC_REASON_CLIENT "io client disconnect"     /* sioc_disconnect / sioc_free */
#define SIOC_REASON_SERVER "io server disconnect"     /* the server sent DISCONNECT or EIO close */
#define SIOC_REASON_PING "ping timeout"               /* no ping within interval + timeout */
#define SIOC_REASON_TRANSPORT_CLOSE "transport close" /* the WebSocket ended */
#define SIOC_REASON_TRANSPORT_ERROR "transport error" /* connect/handshake failed, or timed out */
#define SIOC_REASON_PARSE "parse error"               /* the server sent an invalid packet */
#define SIOC_REASON_CONNECT_ERROR "connect error"     /* the server refused our CONNECT */

typedef struct sioc_callbacks {
  /* The namespace is joined. `sid` is the Socket.IO socket id; `pid` the recovery id or
   * NULL; `recovered` is 1 when the server restored the previous session (same pid). */
  void (*on_connect)(sioc_t *s, const char *sid, const char *pid, int recovered);
  /* The server refused the CONNECT: `message` (decoded, NUL-terminated) and the raw JSON of
   * `data` (NULL when absent). on_disconnect(SIOC_REASON_CONNECT_ERROR) follows. Optional. */
  void (*on_connect_error)(sioc_t *s, const char *message, const char *data, size_t data_len);
  /* An event. `event` is the decoded name; `args` the raw JSON of the remaining arguments,
   * comma-separated, without brackets ("" when none); all valid during the call only.
   * `ack_id` >= 0 when the server wants an answer (reply with sioc_ack), else -1. */
  void (*on_event)(sioc_t *s, const char *event, const char *args, size_t args_len, int64_t ack_id);
  /* Exactly once per successful sioc_connect: the link is over (never connected, refused,
   * or lost). `err` is 0 for a clean disconnect asked by either side, or the error
   * (UV_ECONNREFUSED, UV_ETIMEDOUT, KDS_EPROTO, KDS_ETLS, ...). Pending acks were failed with
   * KDS_ECLOSED just before. sioc_connect may be called from inside. */
  void (*on_disconnect)(sioc_t *s, int err, const char *reason);
} sioc_callbacks;

typedef struct sioc_opts {
  const char *host; /* name or address */
  int port;
  const char *path;          /* NULL = "/socket.io/" */
  const char *nsp;           /* NULL = "/" */
  const char *auth;          /* raw JSON object for CONNECT, e.g. {"token":"abc"}; NULL = none */
  const char *extra_headers; /* extra upgrade request headers, complete lines; may be NULL */
  unsigned timeout_ms;       /* TCP + WS handshake + EIO open + CONNECT; 0 = 20000 */
  int recover;               /* 1: send the last pid and offset (connection state recovery),
                              * except after a link that died on what the server sent (a
                              * frame over max_message, bad UTF-8 or a bad frame, a packet
                              * that does not parse, or any error while replayed events were
                              * delivered): the server would replay the same event before
                              * every CONNECT reply and the link would die again, forever.
                              * Then the pid and offset are dropped and the next connect
                              * starts a new session (on_connect's recovered is 0). */
  int track_offset;          /* 1: remember the offset of received events (needed by recover) */
  size_t max_message;        /* largest accepted frame; 0 = the server's maxPayload, or 1 MB */
  tls_ctx_t *tls;            /* NULL: ws://; else wss:// with this context (tls.h), which must
                              * outlive the link; a refused certificate ends it with KDS_ETLS */
} sioc_opts;

/* A client, not connected. `cb` must outlive it; `hub` is the loop's ws hub. Returns NULL
 * if out of memory or on a bad argument (cb->on_disconnect is required). */
sioc_t *sioc_new(ws_hub_t *hub, const sioc_callbacks *cb, void *data);

/* Opens the link and joins the namespace (opts are copied). Returns 0 (on_disconnect will
 * run exactly once, never inside this call; on_connect in between if it succeeds),
 * KDS_ESTATE if a link is already open or opening, KDS_EINVAL, KDS_ENOMEM; on error no
 * callback runs. */
int sioc_connect(sioc_t *s, const sioc_opts *opts);

/* 1 once on_connect ran and until the link is lost. */
int sioc_connected(const sioc_t *s);

/* Sends an event with the raw JSON arguments `args` (comma-separated, no brackets; NULL/0
 * for none). With `cb`, asks for an ack: cb(ud, 0, args, len) with the ack's raw arguments,
 * or cb(ud, err, NULL, 0) with UV_ETIMEDOUT after timeout_ms (0 = 10000) or KDS_ECLOSED if
 * the link ends first. Returns 0 (cb runs exactly once, never inside), KDS_ECLOSED if not
 * connected (nothing is buffered: the caller shows it), KDS_EFULL (send queue over its
 * limit: the link is dropped), KDS_ENOMEM; on error cb never runs. */
typedef void (*sioc_ack_cb)(void *ud, int err, const char *args, size_t args_len);
int sioc_emit(sioc_t *s, const char *event, const char *args, size_t args_len, sioc_ack_cb cb, void *ud,
              unsigned timeout_ms);

/* Answers the server's event `ack_id` with raw JSON arguments. Returns 0, KDS_ECLOSED,
 * KDS_EINVAL, KDS_ENOMEM. */
int sioc_ack(sioc_t *s, int64_t ack_id, const char *args, size_t args_len);

/* Leaves the namespace (DISCONNECT) and closes the link; on_disconnect(0,
 * SIOC_REASON_CLIENT) follows from the loop. A connect in progress is abandoned the same
 * way. No-op when there is no link. */
void sioc_disconnect(sioc_t *s);

/* Closes any link without calling on_disconnect and frees the client once its handles are
 * closed (the memory goes later, so it may be called from any of its callbacks). Pending
 * ack callbacks run with KDS_ECLOSED (from the loop). NULL-safe. */
void sioc_free(sioc_t *s);

/* The user pointer given to sioc_new. */
void *sioc_data(const sioc_t *s);

/* The session's Socket.IO sid, recovery pid and last event offset ("" when unknown). */
const char *sioc_sid(const sioc_t *s);
const char *sioc_pid(const sioc_t *s);
const char *sioc_offset(const sioc_t *s);

#endif
