/* realtime.h: the product's live feed (SPEC 4): Socket.IO at /socket.io/ on the server's
 * HTTP port, token auth in CONNECT, outlet rooms, order events, the `order-status` event.
 * Built on eio_server (Engine.IO v4) and sio_server (Socket.IO v5). */
#ifndef KDS_REALTIME_H
#define KDS_REALTIME_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct server;
struct realtime;

/* The rooms an order's events go to (SPEC 4): `outlet:<id>` and the all-outlets room. A
 * cluster adapter names them on the wire, so they are part of the contract. */
#define REALTIME_OUTLET_ROOM "outlet:"
#define REALTIME_ALL_OUTLETS "outlets:all"
struct kds_err;
struct kds_user;

/* The socket commands (`order-status`, SPEC 4) run the order rules, which live above this
 * layer: server.c hands them in, so realtime.c does not call the order service itself.
 * A command answers once through `cb` (the same shape as ordersvc_cb: rc 0 with the
 * order's JSON, or an error with its kds_err) and returns 0, or an error when it did not
 * start (then `cb` is never called). */
typedef void (*realtime_result_cb)(void *cb_ud, int rc, const struct kds_err *err, const char *json,
                                   size_t len);

typedef struct realtime_commands {
  /* action_id: the payload's `action_id` (SPEC 5.1), NULL when absent, "" when not a string */
  int (*order_status)(void *ud, const struct kds_user *user, const char *invoice, const char *status,
                      const char *action_id, realtime_result_cb cb, void *cb_ud);
  /* `line-done` (SPEC 10.3): line 0 = not a positive integer, done -1 = not a boolean */
  int (*line_done)(void *ud, const struct kds_user *user, const char *invoice, int64_t line, int done,
                   const char *action_id, realtime_result_cb cb, void *cb_ud);
  void *ud;
} realtime_commands;

/* Creates the Engine.IO + Socket.IO servers (connection state recovery on, 2 minutes) with
 * srv->cfg's ping_interval, ping_timeout, max_payload and ws_auth, registers every
 * /socket.io/ path on srv->http (GET, POST, PUT, PATCH, DELETE; the exact socket.io.js
 * routes registered before win; OPTIONS stays the CORS preflight) and stores the object in
 * srv->rt. The routes hold `srv`, not the object: after realtime_close they answer 503.
 * `cmds` (copied) runs the socket commands. On success the object is also installed as
 * srv->bcast, the order service's broadcast (broadcast.h), until realtime_close.
 * Call after api_init and before listening. Returns 0, KDS_ENOMEM, KDS_EINVAL or a route
 * registration error (srv->rt stays NULL). */
int realtime_init(struct server *srv, const realtime_commands *cmds);

/* Broadcasts `event` with one JSON argument (`json`, `len` bytes, copied) to the room
 * `outlet:<outlet_id>` and to every all-outlets socket. The packet is encoded once and
 * shared by all recipients. Returns how many sockets it was sent to (0: no screen is
 * connected), or a negative error: KDS_ECLOSED (NULL `rt`: realtime not started or
 * shutting down), KDS_EINVAL / KDS_EPROTO (no event, a payload that is not JSON),
 * KDS_ENOMEM. A failure is logged and counted (kds_broadcast_failures_total) and never
 * undoes what was committed: callers go on (SPEC 4, seed). Loop thread only. */
ssize_t realtime_publish(struct realtime *rt, const char *event, int64_t outlet_id, const char *json,
                         size_t len);

/* Delivers an event that came from another server (a cluster adapter, SPEC 9) to the local
 * sockets in any of `rooms` (nrooms 0: every socket) and in none of `except` (socket ids
 * are rooms), once each. `args` is the raw JSON argument list (comma-separated, as
 * sio_nsp_emit takes it), checked here: bad JSON is refused, never sent. `volatile_` skips
 * sockets whose transport cannot take it at once. Returns the number of recipients, or
 * KDS_ECLOSED, KDS_EINVAL (a bad or reserved event name), KDS_EPROTO (args not JSON),
 * KDS_ENOMEM. Loop thread only. */
ssize_t realtime_deliver(struct realtime *rt, const char *const *rooms, size_t nrooms,
                         const char *const *except, size_t nexcept, const char *event, const char *args,
                         size_t args_len, int volatile_);

/* The namespace "/" of the live feed, for a cluster adapter answering other servers'
 * questions (which sockets, which rooms); NULL when `rt` is NULL or closing. */
struct sio_nsp *realtime_nsp(const struct realtime *rt);

/* Local sockets in `room` (0 when none, or `rt` is NULL or closing). */
size_t realtime_room_size(const struct realtime *rt, const char *room);

/* The token with sha256 hex `hash` was logged out or revoked: every socket opened with it
 * is disconnected now (DISCONNECT, then its connection closes: the client sees "io server
 * disconnect"), SPEC 11.22. Expiry is handled here too, by a timer. NULL `rt` is a no-op.
 * Loop thread only. */
void realtime_token_revoked(struct realtime *rt, const char *hash);

/* Graceful shutdown: every socket leaves ("server shutting down"), WebSockets get a close
 * frame, pending polls are answered. srv->rt is set to NULL at once (later publishes are
 * no-ops); the memory goes once the loop has run the close callbacks. `order-status`
 * work still in flight finishes harmlessly (its ack is dropped). Idempotent; NULL is a
 * no-op. */
void realtime_close(struct realtime *rt);

#endif
