/* tls.h: TLS client connections (OpenSSL, TLS 1.2 or 1.3, certificate and host name verified)
 * on a connected libuv TCP stream, for https:// and wss://. OpenSSL never touches the socket:
 * it reads from and writes to two memory BIOs, and this module moves the bytes between them
 * and the uv_tcp_t. The plaintext side is handed over as an ordinary uv_stream_t (our end of
 * a socketpair relays it), so the HTTP and WebSocket code (httpc.c, ws.c) run unchanged on it.
 * dial_start_tls (dial.h) chains this after the TCP connect. As with any libuv stream, the
 * program must ignore SIGPIPE (kds-tui does). */
#ifndef KDS_TLS_H
#define KDS_TLS_H

#include <stddef.h>
#include <uv.h>

typedef struct tls_ctx tls_ctx_t;
typedef struct tls_conn tls_conn_t;

/* A client context shared by every connection of a program (one SSL_CTX): peer verification
 * on, against the system's trust store, or against `ca_file` (PEM, one or more CA
 * certificates) alone when it is not NULL; TLS 1.2 at least; renegotiation refused. Returns 0
 * and *out, KDS_ENOMEM, or KDS_ETLS with a sentence in `err` (a ca_file that does not load,
 * say). */
int tls_ctx_new(tls_ctx_t **out, const char *ca_file, char *err, size_t errlen);

/* Drops the program's reference; the context is freed when the last connection using it is
 * gone too. NULL-safe. */
void tls_ctx_free(tls_ctx_t *ctx);

/* The sentence for the last KDS_ETLS failure of a connection of this context, e.g.
 * "certificate verify failed: self-signed certificate in certificate chain (host 127.0.0.1)";
 * "" when none failed yet. */
const char *tls_ctx_error(const tls_ctx_t *ctx);

/* status 0: `plain` is a heap-allocated uv_pipe_t carrying the connection's plaintext, now
 * the callee's: close it with uv_close and free() it in the close callback (dial_close does
 * that). Ending it sends close_notify and closes the TCP connection; the server closing makes
 * it read UV_EOF after the data it sent. Otherwise plain is NULL and status is KDS_ETLS (the
 * handshake failed or the certificate was refused: tls_ctx_error says why), KDS_ENOMEM, a
 * libuv error of the socket, or UV_ECANCELED after tls_connect_cancel. */
typedef void (*tls_connect_cb)(void *ud, int status, uv_stream_t *plain);

/* Starts the handshake on `tcp` (connected, heap-allocated: it is freed with free() after
 * uv_close) for `host` (a name: sent as SNI and checked against the certificate's names; or
 * an IPv4/IPv6 address, no brackets: checked against its IP addresses). On 0 the connection
 * owns `tcp` and cb runs exactly once, never inside this call; `out` (may be NULL) gets a
 * handle valid until then. On error (KDS_EINVAL, KDS_ENOMEM, KDS_ETLS) the caller still owns
 * tcp and cb never runs. No timeout of its own: the caller's (dial's) timer cancels it. */
int tls_connect(tls_conn_t **out, tls_ctx_t *ctx, uv_tcp_t *tcp, const char *host, tls_connect_cb cb,
                void *ud);

/* Abandons a handshake: the TCP connection is closed and cb runs later, from the loop, with
 * UV_ECANCELED. Only valid before cb ran. */
void tls_connect_cancel(tls_conn_t *t);

#endif
