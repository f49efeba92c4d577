/* dial.h: an outgoing TCP connection to host:port on libuv: the name is resolved with
 * uv_getaddrinfo (IPv4 and IPv6), each address is tried in turn, all within one timeout;
 * optionally followed by a TLS handshake (tls.h) under the same timeout.
 * Used by the WebSocket client (ws_connect) and the HTTP client (httpc). */
#ifndef KDS_DIAL_H
#define KDS_DIAL_H

#include <uv.h>

typedef struct dial dial_t;
typedef struct tls_ctx tls_ctx_t;

/* status 0: `stream` is connected and heap-allocated, now the callee's: close it with
 * uv_close and free() it in the close callback (dial_close). Without TLS it is the uv_tcp_t
 * itself (TCP_NODELAY set); with TLS it is the plaintext end (a uv_pipe_t) of a verified TLS
 * connection. Otherwise stream is NULL and status is a libuv error: a resolver error
 * (UV_EAI_*), the last connect error (UV_ECONNREFUSED, ...), UV_ETIMEDOUT, or UV_ECANCELED
 * after dial_cancel; with TLS also KDS_ETLS (tls_ctx_error says why) or KDS_ENOMEM. */
typedef void (*dial_cb)(void *ud, int status, uv_stream_t *stream);

/* Starts connecting to `host` (a name, an IPv4 or an IPv6 address, with or without
 * brackets) and `port`, giving up after timeout_ms (0 = 10000). Returns 0 and sets *out
 * (may be NULL) to a handle valid until cb runs; cb runs exactly once, never inside this
 * call. Returns KDS_EINVAL (bad port or empty host), KDS_ENOMEM or a libuv error, and then
 * cb never runs. */
int dial_start(dial_t **out, uv_loop_t *loop, const char *host, int port, unsigned timeout_ms, dial_cb cb,
               void *ud);

/* dial_start, then, when `tls` is not NULL, a TLS handshake for `host` on the connection
 * (tls_connect), all within timeout_ms. With tls NULL it is exactly dial_start. */
int dial_start_tls(dial_t **out, uv_loop_t *loop, const char *host, int port, unsigned timeout_ms,
                   tls_ctx_t *tls, dial_cb cb, void *ud);

/* Abandons the attempt: cb runs later, from the loop, with UV_ECANCELED. Only valid before
 * cb ran; calling it twice is harmless. */
void dial_cancel(dial_t *d);

/* Closes a connection that dial_cb handed over (or any malloc'd uv stream) and free()s it in
 * the close callback; a write or connect in flight is cancelled. NULL-safe. */
void dial_close(uv_stream_t *stream);

#endif
