/* httpc.h: a tiny asynchronous HTTP/1.1 client on libuv + llhttp: one keep-alive connection
 * to one host:port, requests sent one after another (FIFO, no pipelining), JSON bodies.
 * Used by kds-tui (login, the open queue) and kds-bench (posting orders). Plain http, or
 * https through tls.h when opts->tls is given. */
#ifndef KDS_HTTPC_H
#define KDS_HTTPC_H

#include <stddef.h>
#include <uv.h>

typedef struct httpc httpc_t;
typedef struct tls_ctx tls_ctx_t;

typedef struct httpc_response {
  int status;       /* HTTP status code */
  const char *body; /* NUL-terminated (one byte past body_len); valid during the callback */
  size_t body_len;
  const struct httpc *conn; /* for httpc_header */
} httpc_response;

/* err 0: a complete response in `resp` (any status, 4xx/5xx included). Otherwise resp is
 * NULL and err is: a dial error (UV_ECONNREFUSED, UV_EAI_*, ...), UV_ETIMEDOUT (no complete
 * response within the timeout), UV_EOF/UV_ECONNRESET (the connection ended first: the
 * request may or may not have been processed), KDS_EPROTO (an unparseable response),
 * KDS_ETOOBIG (a body over max_body), or UV_ECANCELED (httpc_free). */
typedef void (*httpc_cb)(void *ud, int err, const httpc_response *resp);

typedef struct httpc_opts {
  unsigned timeout_ms; /* per request, from its start until the response ends; 0 = 30000 */
  size_t max_body;     /* response body limit; 0 = 16 MiB */
  tls_ctx_t *tls;      /* NULL: http; else https, verified with this context (it must outlive
                        * the client); a refused certificate fails requests with KDS_ETLS */
} httpc_opts;

/* A client for `host` (name or address; v4 or v6) and `port`. Nothing is connected until the
 * first request. opts may be NULL. Returns NULL on a bad argument or out of memory. */
httpc_t *httpc_new(uv_loop_t *loop, const char *host, int port, const httpc_opts *opts);

/* Queues a request. `path` is the request target ("/api/v1/orders?status=new"). `headers`
 * is NULL or complete extra header lines ("Authorization: Bearer x\r\n"). With a body and
 * no Content-Type among `headers`, Content-Type: application/json is sent. The request
 * (headers and body) is copied. The connection is (re)opened as needed; a connection the
 * server closed while idle is replaced transparently. Returns 0 (cb runs exactly once,
 * never inside this call), KDS_EINVAL, KDS_ECLOSED (after httpc_free began) or KDS_ENOMEM;
 * on error cb never runs. */
int httpc_request(httpc_t *c, const char *method, const char *path, const char *headers, const char *body,
                  size_t body_len, httpc_cb cb, void *ud);

/* The value of response header `name` (case-insensitive), or NULL; *len gets its length.
 * Only valid during the callback. */
const char *httpc_header(const httpc_response *resp, const char *name, size_t *len);

/* Requests queued and not yet answered (including the one in flight). */
size_t httpc_pending(const httpc_t *c);

/* Closes the connection and frees the client once its handles are closed. Callbacks of
 * requests not yet answered run with UV_ECANCELED (from the loop, not inside this call);
 * they must not use `c`. NULL-safe. */
void httpc_free(httpc_t *c);

#endif
