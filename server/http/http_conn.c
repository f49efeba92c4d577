/* http_conn.c: one HTTP connection's I/O (see http_int.h): accept, read into the server's
 * read buffer, write answers (one allocation each), timers, linger after a closing answer,
 * and close. Parsing is http_request.c's; dispatch and replies are http.c's. */
#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_int.h"
#include "log.h"

/* ---- small helpers ------------------------------------------------------------------ */

static const char *status_reason(int status) {
  switch (status) {
    case 100:
      return "Continue";
    case 101:
      return "Switching Protocols";
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 204:
      return "No Content";
    case 301:
      return "Moved Permanently";
    case 304:
      return "Not Modified";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 409:
      return "Conflict";
    case 413:
      return "Payload Too Large";
    case 415:
      return "Unsupported Media Type";
    case 417:
      return "Expectation Failed";
    case 422:
      return "Unprocessable Entity";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 503:
      return "Service Unavailable";
    case 505:
      return "HTTP Version Not Supported";
    default:
      return status < 300 ? "OK" : status < 400 ? "Redirect" : status < 500 ? "Client Error" : "Server Error";
  }
}

static const char *hs_date(http_server_t *hs) {
  time_t now = time(NULL);
  if (now != hs->date_at) {
    struct tm tm;
    static const char *days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char *months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    gmtime_r(&now, &tm);
    snprintf(hs->date, sizeof(hs->date), "%s, %02d %s %04d %02d:%02d:%02d GMT", days[tm.tm_wday], tm.tm_mday,
             months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
    hs->date_at = now;
  }
  return hs->date;
}

static void conn_after_write(http_conn *c);

static void conn_stat(http_server_t *hs, http_stat what, int status) {
  if (hs->opt.on_stat) hs->opt.on_stat(hs->opt.stat_ud, what, status);
}

/* ---- connection: lifetime ---------------------------------------------------------- */

static void conn_unref(http_conn *c) {
  http_server_t *hs = c->hs;
  if (--c->refs > 0) return;
  kds_buf_release(&c->in);
  free(c);
  hs->live_conns--;
  http__hs_maybe_done(hs);
}

static void on_tcp_close(uv_handle_t *h) {
  http_conn *c = h->data;
  free(h);
  if (c) conn_unref(c);
}

static void on_timer_close(uv_handle_t *h) {
  conn_unref(h->data);
}

/* The one way out: idempotent; memory goes when the last ref does. */
void http__conn_close(http_conn *c) {
  http_server_t *hs = c->hs;
  http_req_t *active = c->active;
  if (c->closing) return;
  c->closing = 1;
  kds_list_remove(&c->node);
  kds_list_remove(&c->resume);
  hs->nconns--;
  conn_stat(hs, HTTP_STAT_CONN_CLOSED, 0);
  if (c->cur) {
    http__req_free(c->cur);
    c->cur = NULL;
  }
  if (c->tcp) {
    uv_close((uv_handle_t *)c->tcp, on_tcp_close);
    c->tcp = NULL;
  }
  uv_close((uv_handle_t *)&c->timer, on_timer_close);
  if (active) {
    c->active = NULL;
    active->priv->conn = NULL;
    http__req_notify_gone(active);
  }
}

static void on_timer(uv_timer_t *t) {
  http_conn *c = t->data;
  switch (c->phase) {
    case PH_HEADERS:
      http__conn_fail(c, 408, "request_timeout", "the request headers took longer than %llu ms to arrive",
                      (unsigned long long)c->hs->opt.header_timeout_ms);
      break;
    case PH_BODY:
      http__conn_fail(c, 408, "request_timeout", "the request body took longer than %llu ms to arrive",
                      (unsigned long long)c->hs->opt.body_timeout_ms);
      break;
    default:
      log_debug("http: closing %s:%d (%s timeout)", c->peer, c->peer_port,
                c->phase == PH_LINGER ? "linger"
                : c->phase == PH_IDLE ? "idle"
                                      : "header");
      http__conn_close(c);
      break;
  }
}

void http__conn_timer(http_conn *c, enum conn_phase phase, uint64_t ms) {
  c->phase = phase;
  if (c->closing) return;
  if (ms)
    uv_timer_start(&c->timer, on_timer, ms, 0);
  else
    uv_timer_stop(&c->timer);
}

/* ---- connection: reading ------------------------------------------------------------- */

/* Every connection of the server reads into hs->rbuf: libuv calls on_alloc and then on_read
 * for one stream before it touches another, and on_read parses at once, keeping (in c->in)
 * only what it could not parse. So an idle or waiting connection holds no read buffer. */
static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  http_conn *c = h->data;
  (void)suggested;
  buf->base = c->hs->rbuf;
  buf->len = HTTP_READ_BUF;
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);

const char *http__conn_pending(const http_conn *c, size_t *len) {
  if (c->ext) {
    *len = c->ext_len;
    return c->ext;
  }
  *len = c->in.len - c->in_off;
  return c->in.base ? c->in.base + c->in_off : NULL; /* no buffer yet: NULL + 0 is undefined */
}

void http__conn_consume(http_conn *c, size_t n) {
  if (c->ext) {
    assert(n <= c->ext_len);
    c->ext += n;
    c->ext_len -= n;
  } else {
    assert(n <= c->in.len - c->in_off);
    c->in_off += n;
  }
}

void http__conn_discard(http_conn *c) {
  c->in.len = c->in_off = 0;
  if (c->ext) c->ext_len = 0;
}

/* The end of on_read: what is left of hs->rbuf moves to c->in, which is empty then (the
 * read was parsed straight from hs->rbuf only when nothing else was waiting). */
static int conn_keep_pending(http_conn *c) {
  size_t left = c->ext_len;
  const char *from = c->ext;
  c->ext = NULL;
  c->ext_len = 0;
  if (left == 0 || c->closing) return 0;
  assert(c->in.len == c->in_off);
  c->in.len = c->in_off = 0;
  return kds_buf_add(&c->in, from, left);
}

/* Reads while the connection can take input: not closed, not half-closed by the client,
 * and (while a request is unanswered) less than HTTP_PENDING_MAX bytes waiting. */
void http__conn_update_read(http_conn *c) {
  int want;
  size_t waiting;
  if (c->closing || c->tcp == NULL) return;
  http__conn_pending(c, &waiting);
  want = !c->eof && (c->phase == PH_LINGER || c->want_close || waiting < HTTP_PENDING_MAX);
  if (want && !c->reading) {
    if (uv_read_start((uv_stream_t *)c->tcp, on_alloc, on_read) == 0) c->reading = 1;
  } else if (!want && c->reading) {
    uv_read_stop((uv_stream_t *)c->tcp);
    c->reading = 0;
  }
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  http_conn *c = s->data;
  if (c == NULL || c->closing) return;
  if (nread > 0) {
    c->hs->bytes_read += (uint64_t)nread;
    if (c->phase == PH_LINGER || c->want_close) { /* answered for good: discard */
      http__conn_discard(c);
      return;
    }
    if (c->in.len > c->in_off) {
      /* Bytes wait already (a request being answered, or a partial one behind it): the new
       * ones go after them. */
      if (kds_buf_add(&c->in, buf->base, (size_t)nread) != 0) {
        log_error("http: out of memory reading from %s:%d", c->peer, c->peer_port);
        http__conn_close(c);
        return;
      }
    } else {
      http__conn_discard(c);
      c->ext = buf->base;
      c->ext_len = (size_t)nread;
    }
    http__conn_parse(c);
    if (conn_keep_pending(c) != 0) {
      log_error("http: out of memory reading from %s:%d", c->peer, c->peer_port);
      http__conn_close(c);
      return;
    }
    http__conn_update_read(c);
    return;
  }
  if (nread == 0) return;
  if (nread == UV_EOF && c->active) {
    /* The client half-closed (or closed) while its request is being handled: the answer is
     * still written (a half-closed client reads it), then the connection closes. */
    http_req_t *req = c->active;
    c->eof = 1;
    c->want_close = 1;
    http__conn_update_read(c);
    http__req_notify_gone(req);
    return;
  }
  if (nread != UV_EOF && nread != UV_ECONNRESET)
    log_debug("http: read error from %s:%d: %s", c->peer, c->peer_port, uv_strerror((int)nread));
  http__conn_close(c);
}

/* ---- connection: writing ------------------------------------------------------------- */

static void on_write(uv_write_t *w, int status) {
  http_write *wr = (http_write *)w;
  http_conn *c = wr->conn;
  free(wr);
  c->writes--;
  if (!c->closing) {
    if (status < 0) {
      log_debug("http: write to %s:%d failed: %s", c->peer, c->peer_port, uv_strerror(status));
      http__conn_close(c);
    } else {
      conn_after_write(c);
    }
  }
  conn_unref(c);
}

/* Queues the bytes of `b`, whose first sizeof(http_write) bytes are reserved for the write
 * request: one allocation, freed in on_write. Takes `b` (left empty). On failure closes. */
int http__conn_write_buf(http_conn *c, kds_buf *b) {
  size_t total;
  char *block;
  http_write *wr;
  uv_buf_t ub;
  int rc;
  if (c->closing || c->tcp == NULL) {
    kds_buf_release(b);
    return KDS_ECLOSED;
  }
  block = kds_buf_detach(b, &total);
  if (block == NULL) {
    http__conn_close(c);
    return KDS_ENOMEM;
  }
  wr = (http_write *)block;
  wr->conn = c;
  ub = uv_buf_init(block + sizeof(http_write), (unsigned)(total - sizeof(http_write)));
  rc = uv_write(&wr->w, (uv_stream_t *)c->tcp, &ub, 1, on_write);
  if (rc != 0) {
    free(block);
    log_debug("http: write to %s:%d failed: %s", c->peer, c->peer_port, uv_strerror(rc));
    http__conn_close(c);
    return rc;
  }
  c->refs++;
  c->writes++;
  return 0;
}

int http__buf_reserve_write(kds_buf *b, size_t extra) {
  if (kds_buf_grow(b, sizeof(http_write) + extra) != 0) return KDS_ENOMEM;
  memset(b->base, 0, sizeof(http_write));
  b->len = sizeof(http_write);
  return 0;
}

/* Socket.IO's Engine.IO path answers CORS as the official server does (SPEC 11.26). */
cors_scope http__req_cors_scope(const http_req_t *req) {
  static const char prefix[] = "/socket.io/";
  return req && req->path.ptr && req->path.len >= sizeof(prefix) - 1 &&
                 memcmp(req->path.ptr, prefix, sizeof(prefix) - 1) == 0
             ? CORS_SOCKETIO
             : CORS_REST;
}

/* Formats and queues one answer. `req` (may be NULL) gives the Origin for CORS. */
int http__conn_send(http_conn *c, const http_req_t *req, int status, const char *ctype, const char *extra,
                    const void *body, size_t len, int head, int keep_alive) {
  http_server_t *hs = c->hs;
  kds_buf b = KDS_BUF_INIT;
  int no_body = status == 204 || status == 304 || status < 200;
  int rc;
  rc = http__buf_reserve_write(&b, 320 + (extra ? strlen(extra) : 0) + (head || no_body ? 0 : len));
  if (rc == 0)
    rc = kds_buf_addf(&b, "HTTP/1.1 %d %s\r\nDate: %s\r\n", status, status_reason(status), hs_date(hs));
  if (rc == 0) {
    /* Origin as Node reads it: repeated ones joined (which matches no allowed origin), an
     * empty one absent */
    kds_buf origin = KDS_BUF_INIT;
    int has = req ? http_req_header_joined(req, "origin", &origin) : 0;
    if (has < 0) rc = KDS_ENOMEM;
    if (rc == 0)
      rc = cors_add_headers(&hs->cors, http__req_cors_scope(req),
                            has && origin.len ? (kds_slice){origin.base, origin.len} : (kds_slice){NULL, 0},
                            &b);
    kds_buf_release(&origin);
  }
  if (rc == 0 && ctype) rc = kds_buf_addf(&b, "Content-Type: %s\r\n", ctype);
  if (rc == 0 && !no_body) rc = kds_buf_addf(&b, "Content-Length: %zu\r\n", len);
  if (rc == 0 && keep_alive)
    rc = kds_buf_addf(&b, "Connection: keep-alive\r\nKeep-Alive: timeout=%llu\r\n",
                      (unsigned long long)(hs->opt.idle_timeout_ms / 1000));
  else if (rc == 0)
    rc = kds_buf_adds(&b, "Connection: close\r\n");
  if (rc == 0 && extra) rc = kds_buf_adds(&b, extra);
  if (rc == 0) rc = kds_buf_add(&b, "\r\n", 2);
  if (rc == 0 && !head && !no_body && len) rc = kds_buf_add(&b, body, len);
  if (rc != 0) {
    kds_buf_release(&b);
    log_error("http: out of memory answering %s:%d", c->peer, c->peer_port);
    http__conn_close(c);
    return rc;
  }
  conn_stat(hs, HTTP_STAT_ANSWER, status);
  return http__conn_write_buf(c, &b);
}

/* After a closing answer: send FIN, discard input until the client's FIN or a timeout, so
 * that unread request bytes do not turn into a reset that destroys the answer. */
static void on_shutdown(uv_shutdown_t *sr, int status) {
  http_conn *c = sr->data;
  if (status < 0 && !c->closing) http__conn_close(c);
  conn_unref(c);
}

static void conn_linger(http_conn *c) {
  if (c->closing) return;
  if (c->eof || c->tcp == NULL || c->hs->closing) {
    http__conn_close(c);
    return;
  }
  http__conn_timer(c, PH_LINGER, HTTP_LINGER_MS);
  http__conn_discard(c);
  c->shutdown.data = c;
  if (uv_shutdown(&c->shutdown, (uv_stream_t *)c->tcp, on_shutdown) != 0) {
    http__conn_close(c);
    return;
  }
  c->refs++;
  http__conn_update_read(c);
}

void http__hs_schedule(http_conn *c) {
  http_server_t *hs = c->hs;
  if (c->closing || hs->closing) return;
  if (kds_list_empty(&c->resume)) kds_list_push(&hs->resume, &c->resume);
  uv_idle_start(&hs->idle, http__on_idle);
}

static void conn_after_write(http_conn *c) {
  if (c->want_close && c->writes == 0 && c->active == NULL && c->phase != PH_LINGER) {
    conn_linger(c);
    return;
  }
  if (c->write_blocked && c->tcp && uv_stream_get_write_queue_size((uv_stream_t *)c->tcp) < HTTP_WRITE_HIGH) {
    c->write_blocked = 0;
    http__hs_schedule(c);
  }
}

/* A parse failure or timeout: answer with the error JSON, then close. */
void http__conn_fail(http_conn *c, int status, const char *code, const char *fmt, ...) {
  kds_err e;
  char *json;
  size_t len = 0;
  va_list ap;
  if (c->closing || c->want_close) {
    if (!c->closing && c->want_close && c->active == NULL && c->writes == 0) http__conn_close(c);
    return;
  }
  memset(&e, 0, sizeof(e));
  e.status = status;
  snprintf(e.code, sizeof(e.code), "%s", code);
  va_start(ap, fmt);
  vsnprintf(e.message, sizeof(e.message), fmt, ap);
  va_end(ap);
  log_debug("http: %s:%d: %d %s", c->peer, c->peer_port, status, e.message);
  c->want_close = 1;
  c->no_parse = 1;
  http__conn_timer(c, PH_IDLE, c->hs->opt.idle_timeout_ms); /* bounds the wait for the write */
  json = http__error_json(&e, &len);
  if (json == NULL) {
    http__conn_close(c);
    return;
  }
  if (http__conn_send(c, c->cur, status, "application/json; charset=utf-8", NULL, json, len, 0, 0) == 0) {
    if (c->cur) {
      http__req_free(c->cur);
      c->cur = NULL;
    }
    http__conn_discard(c);
    http__conn_update_read(c);
  }
  free(json);
}
void http__on_idle(uv_idle_t *h) {
  http_server_t *hs = h->data;
  kds_list batch;
  kds_list_init(&batch);
  kds_list_splice(&batch, &hs->resume);
  while (!kds_list_empty(&batch)) {
    http_conn *c = kds_container_of(batch.next, http_conn, resume);
    kds_list_remove(&c->resume);
    http__conn_parse(c);
  }
  if (kds_list_empty(&hs->resume)) uv_idle_stop(&hs->idle);
}

/* ---- accept ------------------------------------------------------------------------------ */

static void on_refused_close(uv_handle_t *h) {
  free(h);
}

static void conn_peer(http_conn *c) {
  struct sockaddr_storage ss;
  int len = sizeof(ss);
  c->peer[0] = '\0';
  if (uv_tcp_getpeername(c->tcp, (struct sockaddr *)&ss, &len) != 0) return;
  if (ss.ss_family == AF_INET) {
    uv_ip4_name((struct sockaddr_in *)&ss, c->peer, sizeof(c->peer));
    c->peer_port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
  } else if (ss.ss_family == AF_INET6) {
    uv_ip6_name((struct sockaddr_in6 *)&ss, c->peer, sizeof(c->peer));
    c->peer_port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
  }
}

void http__on_connection(uv_stream_t *server, int status) {
  http_server_t *hs = server->data;
  http_conn *c;
  uv_tcp_t *tcp;
  if (status < 0) {
    log_warn("http: accept failed: %s", uv_strerror(status));
    return;
  }
  tcp = malloc(sizeof(*tcp));
  if (tcp == NULL || uv_tcp_init(hs->loop, tcp) != 0) {
    free(tcp);
    log_error("http: out of memory accepting a connection");
    return;
  }
  if (uv_accept(server, (uv_stream_t *)tcp) != 0) {
    uv_close((uv_handle_t *)tcp, on_refused_close);
    return;
  }
  if (hs->closing || hs->nconns >= hs->opt.max_conns || (c = calloc(1, sizeof(*c))) == NULL) {
    if (!hs->closing)
      log_warn("http: connection refused: %zu open (limit %zu)", hs->nconns, hs->opt.max_conns);
    conn_stat(hs, HTTP_STAT_CONN_REFUSED, 0);
    uv_close((uv_handle_t *)tcp, on_refused_close);
    return;
  }
  c->hs = hs;
  c->tcp = tcp;
  tcp->data = c;
  kds_list_init(&c->resume);
  uv_timer_init(hs->loop, &c->timer);
  c->timer.data = c;
  c->refs = 2; /* tcp + timer */
  llhttp_init(&c->parser, HTTP_REQUEST, &hs->settings);
  c->parser.data = c;
  kds_list_push(&hs->conns, &c->node);
  hs->nconns++;
  hs->live_conns++;
  conn_stat(hs, HTTP_STAT_CONN_OPENED, 0);
  uv_tcp_nodelay(tcp, 1);
  conn_peer(c);
  http__conn_timer(c, PH_NEW, hs->opt.header_timeout_ms);
  http__conn_update_read(c);
  if (!c->reading) http__conn_close(c);
}
