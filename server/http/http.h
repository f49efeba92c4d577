/* http.h: kds-server's HTTP/1.1 server on libuv + llhttp: connections, keep-alive,
 * pipelining, limits and timeouts (SPEC 8), a method+path router, async replies, long-poll
 * support and the WebSocket upgrade hand-off. Adds CORS to every answer (under /socket.io/
 * as socket.io's own cors does: preflights echo the requested headers, SPEC 11.26). It
 * knows nothing of the product: kds-server's own routes (/healthz, /metrics, static files
 * and the socket.io-client bundle) are registered by server.c and static.c, and its
 * counters are fed through http_options.on_stat.
 *
 * Refused before any handler sees them, with the JSON error and a close (SPEC 11.27): an
 * HTTP/1.1 request without Host, or any with two (400); an Expect other than 100-continue
 * (417); a transfer coding other than chunked (501; llhttp's own 400 for chunked followed
 * by another coding); a version other than 1.0/1.1 and the HTTP/2 preface (505).
 *
 * Request lifecycle, the one rule to remember: every request handed to a handler is owned
 * by that handler until it calls exactly one of http_reply(), http_reply_error(),
 * http_reply_json(), http_req_abort() or (for an upgrade) a successful
 * http_req_take_stream(); that call frees the request. The call may come inside the handler or any time later
 * on the loop thread. If the client went away meanwhile, the reply is a silent no-op that only frees. While a
 * request is unanswered its connection parses nothing more (pipelined requests wait, so answers go out in
 * order); reading continues (bounded) to notice a client that leaves. Everything here runs on the loop
 * thread. */
#ifndef KDS_HTTP_H
#define KDS_HTTP_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "buf.h"
#include "err.h"

struct cJSON;

typedef struct http_server http_server_t;
typedef struct http_req http_req_t;

/* A route handler. It owns `req` (see above) and must answer it exactly once. */
typedef void (*http_handler_fn)(http_req_t *req, void *ud);

/* Called once when the client of an unanswered request goes away (EOF, reset, error).
 * The request is still the handler's: it must still be answered (a no-op reply that frees
 * it), but nothing will reach the client. The callback may reply inside. */
typedef void (*http_req_close_cb)(http_req_t *req, void *ud);

/* Called once when http_server_close has finished; `hs` is freed right after it returns. */
typedef void (*http_server_close_cb)(http_server_t *hs);

/* What the server reports as it goes, for whoever keeps counters (kds-server's /metrics). */
typedef enum http_stat {
  HTTP_STAT_CONN_OPENED,  /* a connection accepted and kept */
  HTTP_STAT_CONN_REFUSED, /* a connection accepted and closed at once (max_conns, no memory) */
  HTTP_STAT_CONN_CLOSED,  /* an opened connection closed or handed off */
  HTTP_STAT_ANSWER        /* an answer queued; `status` is its status code (0 otherwise) */
} http_stat;

/* Called on the loop thread as each http_stat happens; it must not call back into the
 * server. */
typedef void (*http_stat_cb)(void *ud, http_stat what, int status);

/* Limits and hooks; http_options_default fills SPEC 8's values and no hooks. */
typedef struct http_options {
  size_t body_limit;          /* default max body of a route (max_body 0): 65536 */
  size_t header_limit;        /* request line + headers: 16384 (over it: 431, close) */
  uint64_t header_timeout_ms; /* first byte of a request to end of its headers: 10000 */
  uint64_t body_timeout_ms;   /* end of headers to end of body: 30000 */
  uint64_t idle_timeout_ms;   /* keep-alive wait between requests: 60000 */
  size_t max_conns;           /* open HTTP connections; more are accepted and closed: 20000 */
  const char *cors_origins;   /* comma list; NULL: "*" */
  int trust_proxy;            /* req->peer from the last X-Forwarded-For entry (--trust-proxy) */
  http_stat_cb on_stat;       /* NULL: nothing counted */
  void *stat_ud;
} http_options;

void http_options_default(http_options *o);

/* Creates an HTTP server on `loop` with options `o` (copied, strings included) and stores
 * it in *out. `ud` is the caller's (http_server_ud gives it back; NULL is fine). Without
 * routes every request is a 404 (OPTIONS: the CORS preflight). Returns 0, KDS_ENOMEM or
 * KDS_EINVAL; on error nothing is left allocated. */
int http_server_new_opts(uv_loop_t *loop, void *ud, const http_options *o, http_server_t **out);

/* Binds host:port (IPv4, or IPv6 when host contains ':'; port 0: any free port) and starts
 * accepting. *bound_port (may be NULL) gets the port actually bound. Returns 0, a libuv
 * error (UV_EADDRINUSE, UV_EINVAL for a bad address, ...) or KDS_ESTATE if already
 * listening or closing. On error nothing is accepted; http_server_close still frees. */
int http_server_listen(http_server_t *hs, const char *host, int port, int *bound_port);

/* Graceful close: stops accepting, closes idle connections at once, lets connections with
 * an unanswered request or unsent bytes finish that answer (then closes them), and when
 * every handle is closed calls cb (may be NULL) and frees `hs`. Connections already handed
 * off by http_req_take_stream are not ours any more. Idempotent: a second call is ignored. */
void http_server_close(http_server_t *hs, http_server_close_cb cb);

/* Sends GET and HEAD requests that match no route (and no other method's route) to `fn`
 * (kds-server: the static files), which owns them as any handler does. Without one (fn
 * NULL) they are a 404 like every other unmatched request. */
void http_server_set_fallback(http_server_t *hs, http_handler_fn fn, void *ud);

uv_loop_t *http_server_loop(const http_server_t *hs);
void *http_server_ud(const http_server_t *hs);          /* as given to http_server_new_opts */
size_t http_server_conn_count(const http_server_t *hs); /* open, not handed-off connections */

/* Registers `fn` for `method` ("GET", "POST", ..., or "*" for any) on `pattern`: literal
 * segments, `:name` captures (http_req_param), or a trailing `*` for a prefix
 * ("/socket.io/" + `*`; the rest of the path is the last param). The first registered match
 * wins, so register exact routes before a prefix that covers them. A GET route answers HEAD
 * too (the reply's body is dropped). OPTIONS is answered by the CORS preflight (204) unless
 * a route registered "OPTIONS" or "*" matches. A path known only under other methods gets
 * 405 with Allow. `max_body` limits the request body (0: the server's body limit); over it
 * the answer is 413 and the connection closes. Returns 0, KDS_EINVAL or KDS_ENOMEM. */
int http_route_add(http_server_t *hs, const char *method, const char *pattern, http_handler_fn fn, void *ud,
                   size_t max_body);

/* A request. Public fields are read-only for handlers and valid until the answer. */
struct http_req {
  http_server_t *hs;
  void *data;              /* free for the handler */
  int method;              /* llhttp_method_t: HTTP_GET (1), HTTP_POST (3), ... */
  const char *method_name; /* "GET", ... (static) */
  kds_slice target;        /* the request-target as received, NUL-terminated */
  kds_slice path;          /* raw path (percent-encoded, no query), starts with '/' */
  kds_slice query;         /* raw query without '?'; ptr NULL when there is none */
  kds_slice decoded_path;  /* path with %XX decoded (invalid escapes kept as they are;
                              may hold '/' from %2F or NUL from %00), NUL-terminated */
  kds_buf body;            /* the body, de-chunked, NUL-terminated (len 0: none) */
  char peer[64];           /* client IP address ("127.0.0.1", "::1"); with trust_proxy, the
                              last X-Forwarded-For entry when it is an address */
  int peer_port;
  int keep_alive; /* the connection stays open after the answer */
  int upgrade;    /* a WebSocket upgrade (Connection: Upgrade, Upgrade: websocket) */
  int has_body;   /* the request had Content-Length or Transfer-Encoding */

  /* private: http*.c only (http_int.h) */
  struct http_req_priv *priv;
};

/* The value of header `name` (ASCII case-insensitive), or {NULL, 0} when absent; the
 * first one when repeated. Points into the request (NUL-terminated); valid until the
 * answer. */
kds_slice http_req_header(const http_req_t *req, const char *name);

/* Header `name` as Node reads one it has no special rule for: every occurrence, in order,
 * joined with ", " (Idempotency-Key, Content-Encoding). `out` is reset first and left
 * NUL-terminated when found. Returns 1 (present), 0 (absent) or KDS_ENOMEM. */
int http_req_header_joined(const http_req_t *req, const char *name, kds_buf *out);

/* Captured route parameter i (0-based, pattern order, the `*` rest last), percent-decoded
 * and NUL-terminated; {NULL, 0} when i is out of range. Valid until the answer. */
kds_slice http_req_param(const http_req_t *req, int i);
int http_req_param_count(const http_req_t *req);

/* Query parameter `name` (first occurrence; '+' and %XX decoded) into `out`, which is
 * reset first. Returns 0, KDS_ENOTFOUND (absent; `out` left empty) or KDS_ENOMEM. A name
 * present without '=' gives an empty value. */
int http_req_query(const http_req_t *req, const char *name, kds_buf *out);

/* 1 once the client has gone away, else 0. "Gone" is a reset/error (the answer is dropped)
 * or EOF: the client closed or half-closed its side. After EOF the answer is still written
 * (a half-closed client reads it; a closed one makes the write fail quietly), then the
 * connection closes. Either way on_close has run. */
int http_req_gone(const http_req_t *req);

/* Asks for `cb(req, ud)` when the client goes away before the answer (long polls). Replaces
 * an earlier registration; cb NULL cancels. Returns 0, or KDS_ECLOSED if the client is
 * already gone (then cb will never run; answer the request to free it). */
int http_req_on_close(http_req_t *req, http_req_close_cb cb, void *ud);

/* Answers `req` and frees it. Adds Date, Content-Length (not on 1xx/204/304), Connection
 * (keep-alive or close), Keep-Alive and the CORS headers. `content_type` may be NULL (no
 * Content-Type); `extra_headers` is NULL or preformatted "Name: value\r\n" lines; `body`
 * (len bytes, copied; NULL when len is 0) is dropped for HEAD requests and 204/304. One
 * allocation per answer. Status is 200..599 (a 101 is the WebSocket owner's, after
 * http_req_take_stream). Returns 0 when queued; KDS_ECLOSED when the connection is already
 * closed (freed, nothing sent); KDS_ENOMEM or a libuv error when it could not be queued
 * (the connection is then closed). In every case `req` is freed. */
int http_reply(http_req_t *req, int status, const char *content_type, const char *extra_headers,
               const void *body, size_t len);

/* Ends `req` without an answer: closes its connection at once (as Node's
 * socket.destroy(); earlier answers still being written on it may be cut, pipelined
 * requests behind it are dropped) and frees `req`. The request's on_close callback does not
 * run. If the client is already gone it only frees. Counts as the one answer the handler
 * owes (see the lifecycle rule above). NULL-safe. */
void http_req_abort(http_req_t *req);

/* http_reply with "application/json; charset=utf-8". */
int http_reply_json(http_req_t *req, int status, const char *extra_headers, const char *json, size_t len);

/* Answers with e->status (500 if 0) and {"error":{"code","message"[,"field"][,"current_status"]}}
 * (field/current_status only when non-empty), plus Retry-After when e->retry_after > 0.
 * Frees `req`. Returns as http_reply. */
int http_reply_error(http_req_t *req, const kds_err *e);

/* http_reply_error with extra header lines (e.g. "Allow: GET, POST\r\n"). */
int http_reply_error_h(http_req_t *req, const kds_err *e, const char *extra_headers);

/* REST helper (SPEC 3, 11.19; as the Node reference's jsonBody): parses the body as a JSON
 * object into *out (free with cJSON_Delete). Fails, filling `err`, with 400 invalid_json
 * "a JSON body is required" (no body at all), 415 unsupported_media_type (Content-Type not
 * application/json, or a charset other than utf-8, or a Content-Encoding other than identity),
 * 400 invalid_json "the body is not valid JSON", 400 invalid_json "the body must be a JSON
 * object". An empty body with the JSON type is {} as in body-parser. A key repeated in an
 * object keeps its last value (at the first one's place), as JSON.parse does; the text
 * must be JSON as JSON.parse reads it (cJSON alone is laxer), with invalid UTF-8 read as
 * U+FFFD and "\u0000" and lone surrogates kept as order.h describes. Returns 0, KDS_EINVAL
 * (err filled) or KDS_ENOMEM (err filled with a 500). The request is not answered: reply
 * with http_reply_error(req, err). */
int http_req_json_body(const http_req_t *req, struct cJSON **out, kds_err *err);

/* WebSocket hand-off. For a request with `upgrade` set, takes the connection away from the
 * HTTP server: on success *tcp is the connection's handle, now owned by the caller, reading
 * stopped, tcp->data NULL; it was malloc'd, so the caller eventually calls
 * uv_close((uv_handle_t *)tcp, cb) and free(tcp) in cb. Bytes the client already sent past
 * the request (the first frames) are appended to `head` (may be NULL only if the caller
 * accepts to lose them). Earlier answers still being written on this connection complete
 * before anything the caller writes (libuv keeps the order). `req` is freed, as by a reply;
 * the caller writes the 101 itself. Returns 0; KDS_ESTATE (not an upgrade request);
 * KDS_ECLOSED (client gone); KDS_ENOMEM (head could not grow). On error nothing changed:
 * answer the request as usual (after an upgrade request the connection closes). */
int http_req_take_stream(http_req_t *req, uv_tcp_t **tcp, kds_buf *head);

/* Percent-decodes `len` bytes of `s` onto `out` ('+' as space when plus_space). Invalid
 * escapes are copied as they are. Returns 0 or KDS_ENOMEM. */
int http_pct_decode(kds_buf *out, const char *s, size_t len, int plus_space);

#endif
