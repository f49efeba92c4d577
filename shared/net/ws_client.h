/* ws_client.h: the WebSocket client connect: resolve, connect, send the upgrade GET, check the
 * response (ws_handshake.h), then hand the stream to the driver (ws.h) as a client ws_t.
 * Included by ws.h; may be included alone. */
#ifndef KDS_WS_CLIENT_H
#define KDS_WS_CLIENT_H

#include "ws.h"

typedef struct ws_connect ws_connect_t;
typedef struct tls_ctx tls_ctx_t;

typedef struct ws_connect_opts {
  const char *host; /* name or address, resolved with uv_getaddrinfo (v4 and v6) */
  int port;
  const char *path;          /* request target, e.g. "/socket.io/?EIO=4&transport=websocket" */
  const char *extra_headers; /* complete header lines, may be NULL */
  unsigned timeout_ms;       /* connect + handshake; 0 = 10000 */
  tls_ctx_t *tls;            /* NULL: ws://; else wss:// verified with this context (tls.h);
                              * a refused certificate ends the connect with KDS_ETLS */
} ws_connect_opts;

/* On success status is 0 and ws is a started client connection (its stream owned by the
 * driver); on failure ws is NULL and status is a libuv error (UV_ETIMEDOUT, UV_ECONNREFUSED,
 * UV_ECANCELED after ws_connect_cancel, KDS_ETLS with opts->tls, ...) or KDS_EPROTO (bad handshake;
 * http_status is the response's status, e.g. 400, or 0). The ws_connect_t is freed after the callback. */
typedef void (*ws_connect_cb)(void *ud, int status, ws_t *ws, int http_status);

/* Resolves, connects, sends the handshake and checks the reply; then ws_start()s a client
 * connection with `cfg` (role forced to client, own_stream forced on; cfg is copied).
 * Returns 0 (cb will run exactly once, never inside this call), KDS_EINVAL, KDS_ENOMEM; on
 * error cb never runs. `out` may be NULL if cancelling is not needed. */
int ws_connect(ws_connect_t **out, const ws_connect_opts *opts, const ws_config *cfg, ws_connect_cb cb,
               void *ud);

/* Abandons a connect in progress: cb runs (later, from the loop) with UV_ECANCELED. Must
 * not be called after cb ran. */
void ws_connect_cancel(ws_connect_t *c);

#endif
