/* realtime.h: the product's live feed (SPEC 4): Socket.IO at /socket.io/ on the server's
 * HTTP port, token auth in CONNECT, outlet rooms, order events, the `order-status` event.
 * Built on eio_server (Engine.IO v4) and sio_server (Socket.IO v5). */
#ifndef KDS_REALTIME_H
#define KDS_REALTIME_H

#include <stddef.h>
#include <stdint.h>

struct server;
struct realtime;

/* Creates the Engine.IO + Socket.IO servers on srv->http at the prefix /socket.io/ (a "*" route) with the
 * settings of srv->cfg (ping_interval, ping_timeout, max_payload, ws_auth, cors_origins)
 * and stores the new object in srv->rt. Call after api_init and before listening.
 * Returns 0, KDS_ENOMEM, or the error of the route registration (srv->rt stays NULL). */
int realtime_init(struct server *srv);

/* Broadcasts `event` with one JSON argument (`json`, `len` bytes, copied) to the room
 * `outlet:<outlet_id>` and to every all-outlets socket. The packet is encoded once and
 * shared by all recipients. Never fails the caller: errors (bad JSON, out of memory)
 * are logged and the broadcast is dropped. A NULL `rt` (realtime not started, or
 * shutting down) is a no-op. Call on the loop thread only. */
void realtime_publish(struct realtime *rt, const char *event, int64_t outlet_id, const char *json,
                      size_t len);

/* Graceful shutdown: closes every Engine.IO session (WebSocket close frames, pending polls
 * answered) and stops the timers. Idempotent; srv->rt stays valid until the loop has run
 * the close callbacks, then is freed (srv->rt set to NULL at once, so later publishes
 * are no-ops). NULL is a no-op. */
void realtime_close(struct realtime *rt);

#endif
