/* http.c: the HTTP/1.1 server (see http.h). Reading order: the structs, then a connection's
 * life (accept -> read -> llhttp callbacks -> dispatch -> reply -> write -> keep-alive or
 * linger -> close), then the request accessors, then the server object.
 *
 * Invariants:
 * - A connection parses only while it has no unanswered request (c->active == NULL), so
 *   pipelined answers go out in order; bytes read meanwhile wait in c->in (bounded).
 * - A connection struct is freed when its refs drop to 0: one per open handle (tcp, timer),
 *   one per write in flight, one for a shutdown in flight. conn_close() is the one way out.
 * - A request is freed only by its answer (or hand-off). The server struct lives until the
 *   last connection and the last request are freed. */
#include "http.h"

#include <cjson/cJSON.h>
#include <llhttp.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "cors.h"
#include "list.h"
#include "log.h"
#include "metrics.h"
#include "order.h"
#include "router.h"
#include "server.h"
#include "static.h"

#define HTTP_READ_CHUNK 16384
#define HTTP_PENDING_MAX (64 * 1024)  /* unparsed bytes kept while a request is unanswered */
#define HTTP_WRITE_HIGH (1024 * 1024) /* queued answer bytes before parsing pauses */
#define HTTP_LINGER_MS 2000           /* after a closing answer: wait for the client's FIN */

enum conn_phase {
  PH_NEW,     /* accepted, no byte of a request yet: header timeout */
  PH_IDLE,    /* keep-alive, between requests: idle timeout */
  PH_HEADERS, /* reading a request's line and headers: header timeout */
  PH_BODY,    /* reading its body: body timeout */
  PH_ACTIVE,  /* the handler has it: no timeout here (long polls) */
  PH_LINGER   /* answered and closing: FIN sent, input discarded until EOF or timeout */
};

typedef struct http_conn http_conn;

struct hdr {
  size_t name, name_len, value, value_len; /* offsets into priv->raw */
};

struct http_req_priv {
  http_conn *conn; /* NULL once answered, handed off or the connection closed */
  kds_buf raw;     /* target, then each header name and value, each NUL-terminated */
  size_t target_len;
  struct hdr *hdrs;
  size_t nhdrs, caphdrs;
  int in_field, in_value, in_url;
  kds_buf dpath;  /* decoded path */
  kds_buf params; /* decoded params, each NUL-terminated */
  size_t param_off[ROUTER_MAX_PARAMS], param_len[ROUTER_MAX_PARAMS];
  int nparams;
  int route_status; /* 200, 404, 405 (router_match_t.status) */
  const router_route_t *route;
  char allow[128];
  size_t max_body;
  int gone; /* the client left; on_close ran (or was due) */
  http_req_close_cb on_close;
  void *on_close_ud;
};

typedef struct http_req_full {
  http_req_t pub;
  struct http_req_priv priv;
} http_req_full;

struct http_conn {
  kds_list node;   /* in hs->conns while open */
  kds_list resume; /* in hs->resume while a deferred parse is due */
  http_server_t *hs;
  uv_tcp_t *tcp; /* malloc'd so that it can be handed off; NULL after that */
  uv_timer_t timer;
  uv_shutdown_t shutdown;
  llhttp_t parser;
  kds_buf in; /* read bytes; [in_off, in.len) not parsed yet */
  size_t in_off;
  http_req_t *cur;     /* being parsed */
  http_req_t *active;  /* dispatched, unanswered */
  size_t header_bytes; /* counted by the callbacks for the current request */
  size_t header_raw;   /* every byte fed while in the header phase (backstop) */
  int refs;
  int writes;
  enum conn_phase phase;
  const char *exec_end;   /* end of the bytes given to the current llhttp_execute */
  uint64_t chunk_left;    /* data bytes left in the current chunk */
  int crlf_need;          /* bytes of the CRLF after chunk data still to check (loose llhttp skips them) */
  int err_status;         /* set by a callback that failed the parse */
  const char *err_reason; /* and why, for a 400 (static string) */
  unsigned closing : 1, reading : 1, processing : 1, parser_paused : 1, want_close : 1, eof : 1, no_parse : 1,
      write_blocked : 1;
  char peer[64];
  int peer_port;
};

typedef struct http_write {
  uv_write_t w;
  http_conn *conn;
} http_write;

typedef struct client_file {
  http_server_t *hs;
  const char *name;
  const char *ctype;
} client_file;

static const client_file client_files_tmpl[] = {
    {NULL, "socket.io.js", "application/javascript; charset=utf-8"},
    {NULL, "socket.io.min.js", "application/javascript; charset=utf-8"},
    {NULL, "socket.io.js.map", "application/json; charset=utf-8"},
    {NULL, "socket.io.min.js.map", "application/json; charset=utf-8"},
};
#define N_CLIENT_FILES (sizeof(client_files_tmpl) / sizeof(client_files_tmpl[0]))

struct http_server {
  uv_loop_t *loop;
  struct server *srv;
  uv_tcp_t listener;
  uv_idle_t idle; /* runs deferred parses (hs->resume) */
  int listener_init, listening, closing, done;
  int handles;       /* listener + idle, until their close callbacks */
  kds_list conns;    /* open connections */
  size_t nconns;     /* in conns */
  size_t live_conns; /* allocated connection structs */
  size_t live_reqs;  /* allocated requests */
  kds_list resume;
  http_options opt;
  char *public_dir, *client_dir;
  router_t *router;
  cors_t cors;
  static_files_t statics;
  client_file client_files[N_CLIENT_FILES];
  struct metrics *metrics;
  int owns_metrics;
  http_health_fn health_fn; /* NULL: /healthz is 200 while the loop answers */
  void *health_ud;
  http_server_close_cb close_cb;
  llhttp_settings_t settings;
  time_t date_at;
  char date[40];
  uint64_t bytes_read; /* by every connection (tests wait on it) */
};

static void conn_close(http_conn *c);
static void conn_process(http_conn *c);
static void conn_fail(http_conn *c, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void conn_after_write(http_conn *c);
static void hs_maybe_done(http_server_t *hs);
static void req_free(http_req_t *req);
static void on_idle(uv_idle_t *h);

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

static int hexval(int ch) {
  if (ch >= '0' && ch <= '9') return ch - '0';
  if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
  if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
  return -1;
}

int http_pct_decode(kds_buf *out, const char *s, size_t len, int plus_space) {
  if (kds_buf_grow(out, len) != 0) return KDS_ENOMEM;
  for (size_t i = 0; i < len; i++) {
    char ch = s[i];
    if (ch == '%' && i + 2 < len && hexval((unsigned char)s[i + 1]) >= 0 &&
        hexval((unsigned char)s[i + 2]) >= 0) {
      ch = (char)(hexval((unsigned char)s[i + 1]) * 16 + hexval((unsigned char)s[i + 2]));
      i += 2;
    } else if (ch == '+' && plus_space) {
      ch = ' ';
    }
    out->base[out->len++] = ch;
  }
  out->base[out->len] = '\0';
  return 0;
}

/* {"error":{"code","message"[,"field"][,"current_status"]}} into a malloc'd string. The
 * strings go through order_json_str: a message may quote client text (a path, a query
 * value) that is not valid UTF-8, and the answer must still be valid JSON. */
static char *error_json(const kds_err *e, size_t *len) {
  kds_buf b = KDS_BUF_INIT;
  const char *code = e->code[0] ? e->code : "internal_error";
  const char *msg = e->message[0] ? e->message : "internal error";
  if (kds_buf_adds(&b, "{\"error\":{\"code\":") || order_json_str(&b, code, strlen(code)) ||
      kds_buf_adds(&b, ",\"message\":") || order_json_str(&b, msg, strlen(msg)) ||
      (e->field[0] && (kds_buf_adds(&b, ",\"field\":") || order_json_str(&b, e->field, strlen(e->field)))) ||
      (e->current_status[0] && (kds_buf_adds(&b, ",\"current_status\":") ||
                                order_json_str(&b, e->current_status, strlen(e->current_status)))) ||
      kds_buf_adds(&b, "}}")) {
    kds_buf_release(&b);
    return NULL;
  }
  *len = b.len;
  return b.base; /* the buffer's storage is malloc'd: the caller frees it */
}

/* ---- connection: lifetime ---------------------------------------------------------- */

static void conn_unref(http_conn *c) {
  http_server_t *hs = c->hs;
  if (--c->refs > 0) return;
  kds_buf_release(&c->in);
  free(c);
  hs->live_conns--;
  hs_maybe_done(hs);
}

static void on_tcp_close(uv_handle_t *h) {
  http_conn *c = h->data;
  free(h);
  if (c) conn_unref(c);
}

static void on_timer_close(uv_handle_t *h) {
  conn_unref(h->data);
}

/* The client of the active request left: tell its handler once. */
static void req_notify_gone(http_req_t *req) {
  struct http_req_priv *p = req->priv;
  http_req_close_cb cb = p->on_close;
  if (p->gone) return;
  p->gone = 1;
  p->on_close = NULL;
  if (cb) cb(req, p->on_close_ud); /* may answer (and free) req: do not touch it after */
}

/* The one way out: idempotent; memory goes when the last ref does. */
static void conn_close(http_conn *c) {
  http_server_t *hs = c->hs;
  http_req_t *active = c->active;
  if (c->closing) return;
  c->closing = 1;
  kds_list_remove(&c->node);
  kds_list_remove(&c->resume);
  hs->nconns--;
  metrics_reg_gauge_add(hs->metrics, METRICS_G_HTTP_OPEN, -1);
  if (c->cur) {
    req_free(c->cur);
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
    req_notify_gone(active);
  }
}

static void on_timer(uv_timer_t *t) {
  http_conn *c = t->data;
  switch (c->phase) {
    case PH_HEADERS:
      conn_fail(c, 408, "request_timeout", "the request headers took longer than %llu ms to arrive",
                (unsigned long long)c->hs->opt.header_timeout_ms);
      break;
    case PH_BODY:
      conn_fail(c, 408, "request_timeout", "the request body took longer than %llu ms to arrive",
                (unsigned long long)c->hs->opt.body_timeout_ms);
      break;
    default:
      log_debug("http: closing %s:%d (%s timeout)", c->peer, c->peer_port,
                c->phase == PH_LINGER ? "linger"
                : c->phase == PH_IDLE ? "idle"
                                      : "header");
      conn_close(c);
      break;
  }
}

static void conn_timer(http_conn *c, enum conn_phase phase, uint64_t ms) {
  c->phase = phase;
  if (c->closing) return;
  if (ms)
    uv_timer_start(&c->timer, on_timer, ms, 0);
  else
    uv_timer_stop(&c->timer);
}

/* ---- connection: reading ------------------------------------------------------------- */

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  http_conn *c = h->data;
  (void)suggested;
  if (kds_buf_grow(&c->in, HTTP_READ_CHUNK) != 0) {
    buf->base = NULL;
    buf->len = 0; /* libuv reports UV_ENOBUFS to on_read */
    return;
  }
  buf->base = c->in.base + c->in.len;
  buf->len = c->in.cap - c->in.len - 1;
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);

/* Reads while the connection can take input: not closed, not half-closed by the client,
 * and (while a request is unanswered) less than HTTP_PENDING_MAX bytes waiting. */
static void conn_update_read(http_conn *c) {
  int want;
  if (c->closing || c->tcp == NULL) return;
  want = !c->eof && (c->phase == PH_LINGER || c->want_close || c->in.len - c->in_off < HTTP_PENDING_MAX);
  if (want && !c->reading) {
    if (uv_read_start((uv_stream_t *)c->tcp, on_alloc, on_read) == 0) c->reading = 1;
  } else if (!want && c->reading) {
    uv_read_stop((uv_stream_t *)c->tcp);
    c->reading = 0;
  }
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  http_conn *c = s->data;
  (void)buf;
  if (c == NULL || c->closing) return;
  if (nread > 0) {
    c->hs->bytes_read += (uint64_t)nread;
    c->in.len += (size_t)nread;
    c->in.base[c->in.len] = '\0';
    if (c->phase == PH_LINGER || c->want_close) { /* answered for good: discard */
      c->in.len = c->in_off = 0;
      return;
    }
    conn_process(c);
    return;
  }
  if (nread == 0) return;
  if (nread == UV_EOF && c->active) {
    /* The client half-closed (or closed) while its request is being handled: the answer is
     * still written (a half-closed client reads it), then the connection closes. */
    http_req_t *req = c->active;
    c->eof = 1;
    c->want_close = 1;
    conn_update_read(c);
    req_notify_gone(req);
    return;
  }
  if (nread != UV_EOF && nread != UV_ECONNRESET)
    log_debug("http: read error from %s:%d: %s", c->peer, c->peer_port, uv_strerror((int)nread));
  conn_close(c);
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
      conn_close(c);
    } else {
      conn_after_write(c);
    }
  }
  conn_unref(c);
}

/* Queues the bytes of `b`, whose first sizeof(http_write) bytes are reserved for the write
 * request: one allocation, freed in on_write. Takes `b` (left empty). On failure closes. */
static int conn_write_buf(http_conn *c, kds_buf *b) {
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
    conn_close(c);
    return KDS_ENOMEM;
  }
  wr = (http_write *)block;
  wr->conn = c;
  ub = uv_buf_init(block + sizeof(http_write), (unsigned)(total - sizeof(http_write)));
  rc = uv_write(&wr->w, (uv_stream_t *)c->tcp, &ub, 1, on_write);
  if (rc != 0) {
    free(block);
    log_debug("http: write to %s:%d failed: %s", c->peer, c->peer_port, uv_strerror(rc));
    conn_close(c);
    return rc;
  }
  c->refs++;
  c->writes++;
  return 0;
}

static int buf_reserve_write(kds_buf *b, size_t extra) {
  if (kds_buf_grow(b, sizeof(http_write) + extra) != 0) return KDS_ENOMEM;
  memset(b->base, 0, sizeof(http_write));
  b->len = sizeof(http_write);
  return 0;
}

/* Socket.IO's Engine.IO path answers CORS as the official server does (SPEC 11.26). */
static cors_scope req_cors_scope(const http_req_t *req) {
  static const char prefix[] = "/socket.io/";
  return req && req->path.ptr && req->path.len >= sizeof(prefix) - 1 &&
                 memcmp(req->path.ptr, prefix, sizeof(prefix) - 1) == 0
             ? CORS_SOCKETIO
             : CORS_REST;
}

/* Formats and queues one answer. `req` (may be NULL) gives the Origin for CORS. */
static int conn_send(http_conn *c, const http_req_t *req, int status, const char *ctype, const char *extra,
                     const void *body, size_t len, int head, int keep_alive) {
  http_server_t *hs = c->hs;
  kds_buf b = KDS_BUF_INIT;
  int no_body = status == 204 || status == 304 || status < 200;
  int rc;
  rc = buf_reserve_write(&b, 320 + (extra ? strlen(extra) : 0) + (head || no_body ? 0 : len));
  if (rc == 0)
    rc = kds_buf_addf(&b, "HTTP/1.1 %d %s\r\nDate: %s\r\n", status, status_reason(status), hs_date(hs));
  if (rc == 0) {
    /* Origin as Node reads it: repeated ones joined (which matches no allowed origin), an
     * empty one absent */
    kds_buf origin = KDS_BUF_INIT;
    int has = req ? http_req_header_joined(req, "origin", &origin) : 0;
    if (has < 0) rc = KDS_ENOMEM;
    if (rc == 0)
      rc = cors_add_headers(&hs->cors, req_cors_scope(req),
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
    conn_close(c);
    return rc;
  }
  metrics_http_status(hs->metrics, status);
  return conn_write_buf(c, &b);
}

/* After a closing answer: send FIN, discard input until the client's FIN or a timeout, so
 * that unread request bytes do not turn into a reset that destroys the answer. */
static void on_shutdown(uv_shutdown_t *sr, int status) {
  http_conn *c = sr->data;
  if (status < 0 && !c->closing) conn_close(c);
  conn_unref(c);
}

static void conn_linger(http_conn *c) {
  if (c->closing) return;
  if (c->eof || c->tcp == NULL || c->hs->closing) {
    conn_close(c);
    return;
  }
  conn_timer(c, PH_LINGER, HTTP_LINGER_MS);
  c->in.len = c->in_off = 0;
  c->shutdown.data = c;
  if (uv_shutdown(&c->shutdown, (uv_stream_t *)c->tcp, on_shutdown) != 0) {
    conn_close(c);
    return;
  }
  c->refs++;
  conn_update_read(c);
}

static void hs_schedule(http_conn *c) {
  http_server_t *hs = c->hs;
  if (c->closing || hs->closing) return;
  if (kds_list_empty(&c->resume)) kds_list_push(&hs->resume, &c->resume);
  uv_idle_start(&hs->idle, on_idle);
}

static void conn_after_write(http_conn *c) {
  if (c->want_close && c->writes == 0 && c->active == NULL && c->phase != PH_LINGER) {
    conn_linger(c);
    return;
  }
  if (c->write_blocked && c->tcp && uv_stream_get_write_queue_size((uv_stream_t *)c->tcp) < HTTP_WRITE_HIGH) {
    c->write_blocked = 0;
    hs_schedule(c);
  }
}

/* A parse failure or timeout: answer with the error JSON, then close. */
static void conn_fail(http_conn *c, int status, const char *code, const char *fmt, ...) {
  kds_err e;
  char *json;
  size_t len = 0;
  va_list ap;
  if (c->closing || c->want_close) {
    if (!c->closing && c->want_close && c->active == NULL && c->writes == 0) conn_close(c);
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
  conn_timer(c, PH_IDLE, c->hs->opt.idle_timeout_ms); /* bounds the wait for the write */
  json = error_json(&e, &len);
  if (json == NULL) {
    conn_close(c);
    return;
  }
  if (conn_send(c, c->cur, status, "application/json; charset=utf-8", NULL, json, len, 0, 0) == 0) {
    if (c->cur) {
      req_free(c->cur);
      c->cur = NULL;
    }
    c->in.len = c->in_off = 0;
    conn_update_read(c);
  }
  free(json);
}

/* ---- requests ---------------------------------------------------------------------- */

static http_req_t *req_new(http_conn *c) {
  http_req_full *f = calloc(1, sizeof(*f));
  if (f == NULL) return NULL;
  f->pub.priv = &f->priv;
  f->pub.hs = c->hs;
  f->pub.srv = c->hs->srv;
  f->priv.conn = c;
  snprintf(f->pub.peer, sizeof(f->pub.peer), "%s", c->peer);
  f->pub.peer_port = c->peer_port;
  c->hs->live_reqs++;
  return &f->pub;
}

static void req_free(http_req_t *req) {
  http_server_t *hs;
  if (req == NULL) return;
  hs = req->hs;
  kds_buf_release(&req->priv->raw);
  kds_buf_release(&req->priv->dpath);
  kds_buf_release(&req->priv->params);
  kds_buf_release(&req->body);
  free(req->priv->hdrs);
  free(req);
  hs->live_reqs--;
  hs_maybe_done(hs);
}

/* ---- llhttp callbacks: assemble c->cur ------------------------------------------------ */

#define CONN(p) ((http_conn *)(p)->data)

static int header_limit_hit(http_conn *c) {
  if (c->header_bytes <= c->hs->opt.header_limit) return 0;
  c->err_status = 431;
  return 1;
}

static int on_message_begin(llhttp_t *p) {
  http_conn *c = CONN(p);
  c->cur = req_new(c);
  if (c->cur == NULL) {
    c->err_status = 500;
    return HPE_USER;
  }
  c->header_bytes = 0;
  if (c->phase == PH_NEW)
    c->phase = PH_HEADERS; /* the accept-time header timer keeps running */
  else
    conn_timer(c, PH_HEADERS, c->hs->opt.header_timeout_ms);
  return 0;
}

static int raw_add(http_conn *c, const char *at, size_t len) {
  c->header_bytes += len;
  if (header_limit_hit(c)) return HPE_USER;
  if (kds_buf_add(&c->cur->priv->raw, at, len) != 0) {
    c->err_status = 500;
    return HPE_USER;
  }
  return 0;
}

static int on_url(llhttp_t *p, const char *at, size_t len) {
  http_conn *c = CONN(p);
  c->cur->priv->in_url = 1;
  return raw_add(c, at, len);
}

static int on_url_complete(llhttp_t *p) {
  http_conn *c = CONN(p);
  struct http_req_priv *q = c->cur->priv;
  q->target_len = q->raw.len;
  return raw_add(c, "", 1);
}

static int on_header_field(llhttp_t *p, const char *at, size_t len) {
  http_conn *c = CONN(p);
  struct http_req_priv *q = c->cur->priv;
  if (!q->in_field) {
    if (q->nhdrs == q->caphdrs) {
      size_t cap = q->caphdrs ? q->caphdrs * 2 : 16;
      struct hdr *v = realloc(q->hdrs, cap * sizeof(*v));
      if (v == NULL) {
        c->err_status = 500;
        return HPE_USER;
      }
      q->hdrs = v;
      q->caphdrs = cap;
    }
    memset(&q->hdrs[q->nhdrs], 0, sizeof(q->hdrs[0]));
    q->hdrs[q->nhdrs].name = q->raw.len;
    q->nhdrs++;
    q->in_field = 1;
    c->header_bytes += 4; /* ": " and CRLF */
  }
  q->hdrs[q->nhdrs - 1].name_len += len;
  return raw_add(c, at, len);
}

static int on_header_field_complete(llhttp_t *p) {
  http_conn *c = CONN(p);
  c->cur->priv->in_field = 0;
  return raw_add(c, "", 1);
}

static int on_header_value(llhttp_t *p, const char *at, size_t len) {
  http_conn *c = CONN(p);
  struct http_req_priv *q = c->cur->priv;
  if (q->nhdrs == 0) return 0;
  if (!q->in_value) {
    q->hdrs[q->nhdrs - 1].value = q->raw.len;
    q->in_value = 1;
  }
  q->hdrs[q->nhdrs - 1].value_len += len;
  return raw_add(c, at, len);
}

static int on_header_value_complete(llhttp_t *p) {
  http_conn *c = CONN(p);
  struct http_req_priv *q = c->cur->priv;
  if (q->nhdrs == 0) return 0;
  if (!q->in_value) q->hdrs[q->nhdrs - 1].value = q->raw.len; /* empty value */
  q->in_value = 0;
  return raw_add(c, "", 1);
}

/* The next item of a comma-separated header list (RFC 9110 5.6.1) from *pos: blanks
 * around it trimmed, empty items skipped. Returns 0 at the end. */
static int header_next_item(kds_slice v, size_t *pos, kds_slice *item) {
  while (v.ptr && *pos < v.len) {
    const char *s = v.ptr + *pos, *end = v.ptr + v.len, *comma = memchr(s, ',', (size_t)(end - s));
    const char *e = comma ? comma : end;
    *pos = (size_t)(e - v.ptr) + (comma ? 1 : 0);
    while (s < e && (*s == ' ' || *s == '\t')) s++;
    while (e > s && (e[-1] == ' ' || e[-1] == '\t')) e--;
    if (e > s) {
      *item = (kds_slice){s, (size_t)(e - s)};
      return 1;
    }
  }
  return 0;
}

static int item_is(kds_slice item, const char *tok) {
  size_t n = strlen(tok);
  return item.len == n && strncasecmp(item.ptr, tok, n) == 0;
}

/* 1 when `tok` is one whole item of the list `v` (ASCII case-insensitive): "websocket" is
 * in "h2c, WebSocket" but not in "notwebsocket". */
static int header_has_token(kds_slice v, const char *tok) {
  size_t pos = 0;
  kds_slice item;
  while (header_next_item(v, &pos, &item))
    if (item_is(item, tok)) return 1;
  return 0;
}

/* The number of lines of header `name`. */
static size_t header_count(const http_req_t *req, const char *name) {
  const struct http_req_priv *q = req->priv;
  size_t n = strlen(name), count = 0;
  for (size_t i = 0; i < q->nhdrs; i++)
    if (q->hdrs[i].name_len == n && strncasecmp(q->raw.base + q->hdrs[i].name, name, n) == 0) count++;
  return count;
}

/* Over every occurrence of header `name`: *count gets the number of occurrences, and the
 * return is 1 when every list item equals `tok` (parameters after ';' ignored when
 * `params`) and there is at least one item, else 0. */
static int header_all_items(const http_req_t *req, const char *name, const char *tok, int params,
                            size_t *count) {
  const struct http_req_priv *q = req->priv;
  size_t n = strlen(name), items = 0;
  int all = 1;
  *count = 0;
  for (size_t i = 0; i < q->nhdrs; i++) {
    const struct hdr *h = &q->hdrs[i];
    kds_slice v = {q->raw.base + h->value, h->value_len}, item;
    size_t pos = 0;
    if (h->name_len != n || strncasecmp(q->raw.base + h->name, name, n) != 0) continue;
    (*count)++;
    while (header_next_item(v, &pos, &item)) {
      const char *semi = params ? memchr(item.ptr, ';', item.len) : NULL;
      if (semi) {
        item.len = (size_t)(semi - item.ptr);
        while (item.len && (item.ptr[item.len - 1] == ' ' || item.ptr[item.len - 1] == '\t')) item.len--;
      }
      items++;
      if (!item_is(item, tok)) all = 0;
    }
  }
  return all && items > 0;
}

/* Splits the target into path and query (origin-form, absolute-form or "*"). */
static int req_parse_target(http_req_t *req) {
  struct http_req_priv *q = req->priv;
  const char *t = q->raw.base, *path, *end, *qm;
  size_t tlen = q->target_len;
  static const char slash[] = "/";
  if (t == NULL || tlen == 0) return -1;
  req->target.ptr = t;
  req->target.len = tlen;
  end = t + tlen;
  /* a fragment is not part of the request (RFC 9112 3.2); Node's URL parsing drops it too */
  if ((qm = memchr(t, '#', tlen)) != NULL) end = qm;
  if (t[0] == '/') {
    path = t;
  } else if (tlen == 1 && t[0] == '*') {
    req->path = (kds_slice){t, 1};
    req->decoded_path = req->path;
    return 0;
  } else {
    const char *sep = strstr(t, "://");
    if (sep == NULL || sep >= end) return -1;
    path = memchr(sep + 3, '/', (size_t)(end - sep - 3));
    if (path == NULL) {
      qm = memchr(sep + 3, '?', (size_t)(end - sep - 3));
      req->path = (kds_slice){slash, 1};
      if (qm) req->query = (kds_slice){qm + 1, (size_t)(end - qm - 1)};
      goto decode;
    }
  }
  qm = memchr(path, '?', (size_t)(end - path));
  req->path = (kds_slice){path, (size_t)((qm ? qm : end) - path)};
  if (qm) req->query = (kds_slice){qm + 1, (size_t)(end - qm - 1)};
decode:
  if (http_pct_decode(&q->dpath, req->path.ptr, req->path.len, 0) != 0) return KDS_ENOMEM;
  req->decoded_path = (kds_slice){q->dpath.base, q->dpath.len};
  return 0;
}

static int req_route(http_conn *c, http_req_t *req) {
  struct http_req_priv *q = req->priv;
  router_match_t m;
  router_match(c->hs->router, req->method_name, req->path, &m);
  q->route_status = m.status;
  q->route = m.route;
  snprintf(q->allow, sizeof(q->allow), "%s", m.allow);
  q->max_body = m.route && m.route->max_body ? m.route->max_body : c->hs->opt.body_limit;
  for (int i = 0; i < m.nparams; i++) {
    q->param_off[i] = q->params.len;
    if (http_pct_decode(&q->params, m.params[i].ptr, m.params[i].len, 0) != 0 ||
        kds_buf_addc(&q->params, '\0') != 0)
      return KDS_ENOMEM;
    q->param_len[i] = q->params.len - 1 - q->param_off[i];
  }
  q->nparams = m.nparams;
  return 0;
}

/* Returns 0, or an error after which the connection is closed (c->cur is gone). */
static int conn_write_continue(http_conn *c) {
  static const char line[] = "HTTP/1.1 100 Continue\r\n\r\n";
  kds_buf b = KDS_BUF_INIT;
  if (buf_reserve_write(&b, sizeof(line)) != 0 || kds_buf_add(&b, line, sizeof(line) - 1) != 0) {
    kds_buf_release(&b);
    return 0; /* no interim answer: the client sends its body after a pause anyway */
  }
  return conn_write_buf(c, &b);
}

static int on_headers_complete(llhttp_t *p) {
  http_conn *c = CONN(p);
  http_req_t *req = c->cur;
  struct http_req_priv *q = req->priv;
  size_t n_host, n_te, n_expect;
  int expect_continue, te_chunked;
  req->method = llhttp_get_method(p);
  req->method_name = llhttp_method_name((llhttp_method_t)req->method);
  /* llhttp takes any one-digit version ("HTTP/2.0", "HTTP/0.9") as HTTP/1.x. */
  if (p->http_major != 1) {
    c->err_status = 505;
    c->err_reason = "only HTTP/1.0 and HTTP/1.1 are supported";
    return HPE_USER;
  }
  /* RFC 9112 3.2: an HTTP/1.1 request without Host, or with two, is a 400 (Node checks
   * only the first rule). */
  n_host = header_count(req, "host");
  if ((n_host == 0 && p->http_minor >= 1) || n_host > 1) {
    c->err_status = 400;
    c->err_reason = n_host ? "more than one Host header" : "HTTP/1.1 request without Host";
    return HPE_USER;
  }
  /* We decode only chunked (RFC 9112 6.1: an unknown coding is 501). llhttp itself refuses
   * chunked before another coding and chunked twice, as 400, while reading the headers;
   * a coding alone (llhttp's 400 after this callback) or before chunked (which llhttp
   * would pass on undecoded) comes here. */
  te_chunked = header_all_items(req, "transfer-encoding", "chunked", 1, &n_te);
  if (n_te && !te_chunked) {
    c->err_status = 501;
    return HPE_USER;
  }
  /* RFC 9110 10.1.1: 100-continue is the only expectation; HTTP/1.0 ones are ignored. */
  expect_continue = header_all_items(req, "expect", "100-continue", 0, &n_expect);
  if (n_expect && p->http_minor >= 1 && !expect_continue) {
    c->err_status = 417;
    return HPE_USER;
  }
  if (req_parse_target(req) != 0) {
    c->err_status = 400;
    c->err_reason = "bad request-target";
    return HPE_USER;
  }
  if (req_route(c, req) != 0) {
    c->err_status = 500;
    return HPE_USER;
  }
  req->has_body = (p->flags & (F_CONTENT_LENGTH | F_TRANSFER_ENCODING | F_CHUNKED)) != 0;
  if ((p->flags & F_CONTENT_LENGTH) && p->content_length > q->max_body) {
    c->err_status = 413;
    return HPE_USER;
  }
  if (llhttp_get_upgrade(p)) {
    /* llhttp matched "upgrade" as a whole token of Connection; match "websocket" as one
     * of Upgrade, over every Upgrade line. */
    const struct http_req_priv *hq = req->priv;
    for (size_t i = 0; i < hq->nhdrs && !req->upgrade; i++) {
      const struct hdr *h = &hq->hdrs[i];
      if (h->name_len == 7 && strncasecmp(hq->raw.base + h->name, "upgrade", 7) == 0)
        req->upgrade = header_has_token((kds_slice){hq->raw.base + h->value, h->value_len}, "websocket");
    }
  }
  if ((p->flags & F_CONTENT_LENGTH) && p->content_length > 0 &&
      kds_buf_grow(&req->body, p->content_length) != 0) {
    c->err_status = 500;
    return HPE_USER;
  }
  if (expect_continue && p->http_minor >= 1 && ((p->flags & F_CHUNKED) || p->content_length > 0) &&
      !req->upgrade && conn_write_continue(c) != 0)
    return HPE_USER; /* closed: stop parsing at once */
  conn_timer(c, PH_BODY, c->hs->opt.body_timeout_ms);
  return 0;
}

/* llhttp built without LLHTTP_STRICT_MODE skips the two bytes after chunk data unchecked,
 * which lets "5\r\nhelloXX..." through (a request smuggling vector). Check them here. */
static int crlf_check(http_conn *c, const char *from, size_t avail) {
  while (c->crlf_need > 0 && avail > 0) {
    if (*from != "\r\n"[2 - c->crlf_need]) {
      c->err_status = 400;
      c->err_reason = "chunk data not followed by CRLF";
      c->crlf_need = 0;
      return -1;
    }
    c->crlf_need--;
    from++;
    avail--;
  }
  return 0;
}

static int on_chunk_header(llhttp_t *p) {
  CONN(p)->chunk_left = p->content_length;
  return 0;
}

static int on_body(llhttp_t *p, const char *at, size_t len) {
  http_conn *c = CONN(p);
  http_req_t *req = c->cur;
  if (p->flags & F_CHUNKED) {
    c->chunk_left = len > c->chunk_left ? 0 : c->chunk_left - len;
    if (c->chunk_left == 0) {
      c->crlf_need = 2;
      if (crlf_check(c, at + len, (size_t)(c->exec_end - (at + len))) != 0) return HPE_USER;
    }
  }
  if (req->body.len + len > req->priv->max_body) {
    c->err_status = 413;
    return HPE_USER;
  }
  if (kds_buf_add(&req->body, at, len) != 0) {
    c->err_status = 500;
    return HPE_USER;
  }
  return 0;
}

static int on_message_complete(llhttp_t *p) {
  http_conn *c = CONN(p);
  c->cur->keep_alive = llhttp_should_keep_alive(p);
  /* An upgrade ends in HPE_PAUSED_UPGRADE by itself; anything else pauses here, so that
   * the request is answered before the next one is parsed. */
  return llhttp_get_upgrade(p) ? 0 : HPE_PAUSED;
}

/* ---- dispatch -------------------------------------------------------------------------- */

static void reply_not_found(http_req_t *req) {
  kds_err e;
  kds_err_set(&e, 404, "not_found", NULL, "%s %.*s not found", req->method_name, (int)req->path.len,
              req->path.ptr);
  http_reply_error(req, &e);
}

static void reply_preflight(http_req_t *req) {
  kds_buf h = KDS_BUF_INIT, asked = KDS_BUF_INIT;
  int has = http_req_header_joined(req, "access-control-request-headers", &asked);
  if (has < 0 ||
      cors_add_preflight(&req->hs->cors, req_cors_scope(req),
                         has ? (kds_slice){asked.base, asked.len} : (kds_slice){NULL, 0}, &h) != 0) {
    kds_buf_release(&h);
    kds_buf_release(&asked);
    http_reply(req, 204, NULL, NULL, NULL, 0);
    return;
  }
  http_reply(req, 204, NULL, h.base, NULL, 0);
  kds_buf_release(&h);
  kds_buf_release(&asked);
}

static void conn_dispatch(http_conn *c) {
  http_req_t *req = c->cur;
  struct http_req_priv *q = req->priv;
  http_server_t *hs = c->hs;
  c->cur = NULL;
  c->active = req;
  c->header_raw = 0;
  conn_timer(c, PH_ACTIVE, 0);
  if (hs->closing) req->keep_alive = 0;
  if (req->method == HTTP_OPTIONS && !(q->route_status == 200 && (strcmp(q->route->method, "OPTIONS") == 0 ||
                                                                  strcmp(q->route->method, "*") == 0))) {
    reply_preflight(req);
    return;
  }
  if (q->route_status == 200) {
    ((http_handler_fn)q->route->fn)(req, q->route->ud);
  } else if (q->route_status == 405) {
    kds_err e;
    char allow[160];
    kds_err_set(&e, 405, "method_not_allowed", NULL, "%s is not allowed here (allowed: %s)", req->method_name,
                q->allow);
    snprintf(allow, sizeof(allow), "Allow: %s\r\n", q->allow);
    http_reply_error_h(req, &e, allow);
  } else if (req->method == HTTP_GET || req->method == HTTP_HEAD) {
    static_serve_public(req, &hs->statics);
  } else {
    reply_not_found(req);
  }
}

/* Parses what is buffered, one request at a time, dispatching each; stops while a request
 * is unanswered. Never re-entered for the same connection: a handler that answers at once
 * just lets this loop go on. */
static void conn_process(http_conn *c) {
  if (c->processing || c->closing) return;
  c->processing = 1;
  while (!c->closing && c->active == NULL && !c->want_close && !c->no_parse && c->tcp &&
         c->in.len > c->in_off) {
    const char *data = c->in.base + c->in_off;
    size_t avail = c->in.len - c->in_off, used;
    llhttp_errno_t err;
    if (uv_stream_get_write_queue_size((uv_stream_t *)c->tcp) >= HTTP_WRITE_HIGH) {
      c->write_blocked = 1; /* the client does not read its answers: wait */
      break;
    }
    if (c->parser_paused) {
      llhttp_resume(&c->parser);
      c->parser_paused = 0;
    }
    c->err_status = 0;
    c->err_reason = NULL;
    if (c->crlf_need && crlf_check(c, data, avail) != 0) {
      conn_fail(c, 400, "bad_request", "malformed HTTP request (%s)", c->err_reason);
      break;
    }
    c->exec_end = data + avail;
    err = llhttp_execute(&c->parser, data, avail);
    used = err == HPE_OK ? avail : (size_t)(llhttp_get_error_pos(&c->parser) - data);
    if (used > avail) used = avail;
    c->in_off += used;
    if (err == HPE_OK) {
      if (c->phase == PH_NEW || c->phase == PH_IDLE || c->phase == PH_HEADERS) {
        c->header_raw += used;
        if (c->header_raw > c->hs->opt.header_limit + 1024) {
          conn_fail(c, 431, "headers_too_large", "the request headers are larger than %zu bytes",
                    c->hs->opt.header_limit);
        }
      }
      break;
    }
    if (err == HPE_PAUSED_H2_UPGRADE) {
      /* The HTTP/2 connection preface ("PRI * HTTP/2.0"): a client with prior knowledge. */
      conn_fail(c, 505, "http_version_not_supported",
                "HTTP/2 is not supported (not with prior knowledge either): use HTTP/1.1");
      break;
    }
    if (err == HPE_PAUSED || err == HPE_PAUSED_UPGRADE) {
      if (c->cur == NULL) {
        conn_close(c);
        break;
      }
      if (err == HPE_PAUSED) {
        c->parser_paused = 1;
      } else {
        c->no_parse = 1; /* the rest is another protocol: the handler takes it or we close */
        c->cur->keep_alive = 0;
      }
      conn_dispatch(c);
      continue;
    }
    switch (c->err_status) {
      case 431:
        conn_fail(c, 431, "headers_too_large", "the request headers are larger than %zu bytes",
                  c->hs->opt.header_limit);
        break;
      case 413:
        conn_fail(c, 413, "payload_too_large", "the body is larger than %zu bytes",
                  c->cur ? c->cur->priv->max_body : c->hs->opt.body_limit);
        break;
      case 500:
        conn_fail(c, 500, "internal_error", "the server ran out of memory");
        break;
      case 417:
        conn_fail(c, 417, "expectation_failed", "the only expectation supported is Expect: 100-continue");
        break;
      case 501:
        conn_fail(c, 501, "not_implemented", "the only transfer coding supported is chunked");
        break;
      case 505:
        conn_fail(c, 505, "http_version_not_supported", "%s",
                  c->err_reason ? c->err_reason : "HTTP version not supported");
        break;
      default:
        conn_fail(c, 400, "bad_request", "malformed HTTP request (%s)",
                  c->err_reason ? c->err_reason : llhttp_get_error_reason(&c->parser));
        break;
    }
    break;
  }
  if (!c->closing) {
    if (c->in_off == c->in.len) {
      kds_buf_release(&c->in); /* an idle connection keeps no buffer (one malloc per read burst) */
      c->in_off = 0;
    } else if (c->in_off > 0) {
      memmove(c->in.base, c->in.base + c->in_off, c->in.len - c->in_off);
      c->in.len -= c->in_off;
      c->in.base[c->in.len] = '\0';
      c->in_off = 0;
    }
    conn_update_read(c);
  }
  c->processing = 0;
}

static void on_idle(uv_idle_t *h) {
  http_server_t *hs = h->data;
  kds_list batch;
  kds_list_init(&batch);
  kds_list_splice(&batch, &hs->resume);
  while (!kds_list_empty(&batch)) {
    http_conn *c = kds_container_of(batch.next, http_conn, resume);
    kds_list_remove(&c->resume);
    conn_process(c);
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

static void on_connection(uv_stream_t *server, int status) {
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
    metrics_reg_add(hs->metrics, METRICS_HTTP_REFUSED, 1);
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
  metrics_reg_add(hs->metrics, METRICS_HTTP_CONNECTIONS, 1);
  metrics_reg_gauge_add(hs->metrics, METRICS_G_HTTP_OPEN, 1);
  uv_tcp_nodelay(tcp, 1);
  conn_peer(c);
  conn_timer(c, PH_NEW, hs->opt.header_timeout_ms);
  conn_update_read(c);
  if (!c->reading) conn_close(c);
}

/* ---- public: requests ------------------------------------------------------------------- */

kds_slice http_req_header(const http_req_t *req, const char *name) {
  const struct http_req_priv *q = req->priv;
  size_t n = strlen(name);
  for (size_t i = 0; i < q->nhdrs; i++) {
    const struct hdr *h = &q->hdrs[i];
    if (h->name_len == n && strncasecmp(q->raw.base + h->name, name, n) == 0)
      return (kds_slice){q->raw.base + h->value, h->value_len};
  }
  return (kds_slice){NULL, 0};
}

int http_req_header_joined(const http_req_t *req, const char *name, kds_buf *out) {
  const struct http_req_priv *q = req->priv;
  size_t n = strlen(name);
  int found = 0;
  kds_buf_reset(out);
  for (size_t i = 0; i < q->nhdrs; i++) {
    const struct hdr *h = &q->hdrs[i];
    if (h->name_len != n || strncasecmp(q->raw.base + h->name, name, n) != 0) continue;
    if ((found && kds_buf_add(out, ", ", 2) != 0) ||
        kds_buf_add(out, q->raw.base + h->value, h->value_len) != 0)
      return KDS_ENOMEM;
    found = 1;
  }
  return found;
}

kds_slice http_req_param(const http_req_t *req, int i) {
  const struct http_req_priv *q = req->priv;
  if (i < 0 || i >= q->nparams) return (kds_slice){NULL, 0};
  return (kds_slice){q->params.base + q->param_off[i], q->param_len[i]};
}

int http_req_param_count(const http_req_t *req) {
  return req->priv->nparams;
}

int http_req_query(const http_req_t *req, const char *name, kds_buf *out) {
  const char *p = req->query.ptr, *end;
  size_t n = strlen(name);
  kds_buf key = KDS_BUF_INIT;
  kds_buf_reset(out);
  if (p == NULL) return KDS_ENOTFOUND; /* no '?': and NULL + 0 is undefined behaviour */
  end = p + req->query.len;
  while (p < end) {
    const char *amp = memchr(p, '&', (size_t)(end - p)), *stop = amp ? amp : end;
    const char *eq = memchr(p, '=', (size_t)(stop - p));
    const char *kend = eq ? eq : stop;
    kds_buf_reset(&key);
    if (http_pct_decode(&key, p, (size_t)(kend - p), 1) != 0) {
      kds_buf_release(&key);
      return KDS_ENOMEM;
    }
    if (key.len == n && memcmp(key.base, name, n) == 0) {
      kds_buf_release(&key);
      if (eq == NULL) return kds_buf_add(out, "", 0);
      return http_pct_decode(out, eq + 1, (size_t)(stop - eq - 1), 1);
    }
    p = stop + 1;
  }
  kds_buf_release(&key);
  return KDS_ENOTFOUND;
}

int http_req_gone(const http_req_t *req) {
  return req->priv->gone || req->priv->conn == NULL;
}

int http_req_on_close(http_req_t *req, http_req_close_cb cb, void *ud) {
  if (http_req_gone(req)) return KDS_ECLOSED;
  req->priv->on_close = cb;
  req->priv->on_close_ud = ud;
  return 0;
}

int http_reply(http_req_t *req, int status, const char *content_type, const char *extra_headers,
               const void *body, size_t len) {
  http_conn *c = req->priv->conn;
  int keep, rc;
  if (c == NULL || c->closing || c->active != req) {
    req_free(req);
    return KDS_ECLOSED;
  }
  c->active = NULL;
  req->priv->conn = NULL;
  keep = req->keep_alive && !c->want_close && !c->hs->closing;
  rc = conn_send(c, req, status, content_type, extra_headers, body, len, req->method == HTTP_HEAD, keep);
  req_free(req);
  if (rc != 0 || c->closing) return rc;
  if (!keep) {
    c->want_close = 1;
    c->in.len = c->in_off = 0;
    conn_timer(c, PH_IDLE, c->hs->opt.idle_timeout_ms); /* bounds the wait for the write */
    conn_update_read(c);
    return 0;
  }
  conn_timer(c, PH_IDLE, c->hs->opt.idle_timeout_ms);
  if (!c->processing) {
    if (c->in.len > c->in_off)
      hs_schedule(c); /* pipelined bytes: parse them from the loop, not from this caller */
    else
      conn_update_read(c);
  }
  return 0;
}

void http_req_abort(http_req_t *req) {
  http_conn *c;
  if (req == NULL) return;
  c = req->priv->conn;
  if (c != NULL && !c->closing && c->active == req) {
    c->active = NULL; /* so that conn_close does not call the request's on_close */
    req->priv->conn = NULL;
    req_free(req);
    conn_close(c); /* c's memory stays until its close callbacks (a caller may be in conn_process) */
    return;
  }
  req_free(req); /* the client is gone already: only free */
}

int http_reply_json(http_req_t *req, int status, const char *extra_headers, const char *json, size_t len) {
  return http_reply(req, status, "application/json; charset=utf-8", extra_headers, json, len);
}

int http_reply_error_h(http_req_t *req, const kds_err *e, const char *extra_headers) {
  kds_buf h = KDS_BUF_INIT;
  size_t len = 0;
  char *json = error_json(e, &len);
  int status = e->status ? e->status : 500, rc;
  if (json == NULL) {
    static const char fallback[] =
        "{\"error\":{\"code\":\"internal_error\",\"message\":\"the server ran out of memory\"}}";
    return http_reply_json(req, 500, NULL, fallback, sizeof(fallback) - 1);
  }
  if (e->retry_after > 0) kds_buf_addf(&h, "Retry-After: %d\r\n", e->retry_after);
  if (extra_headers) kds_buf_adds(&h, extra_headers);
  rc = http_reply_json(req, status, h.base, json, len);
  kds_buf_release(&h);
  free(json);
  return rc;
}

int http_reply_error(http_req_t *req, const kds_err *e) {
  return http_reply_error_h(req, e, NULL);
}

/* ---- JSON bodies exactly as JSON.parse reads them ----------------------------------------- */

#include "json.h" /* here, with the section it serves */

/* The grammar check and the rewrites that let cJSON read what JSON.parse reads are json.h's:
 * "\u0000" as C0 80 and a lone surrogate as its 3 bytes (our text, order.h), and a number
 * longer than cJSON reads as the same double. */
#define HTTP_JSON_REWRITES (JSON_NUL_AS_C080 | JSON_LONE_KEEP | JSON_SHORT_NUMBERS)

int http_req_json_body(const http_req_t *req, cJSON **out, kds_err *err) {
  kds_slice ct = http_req_header(req, "content-type");
  kds_buf text = KDS_BUF_INIT, strict = KDS_BUF_INIT;
  cJSON *json;
  size_t i;
  int rc;
  *out = NULL;
  if (!req->has_body) {
    kds_err_set(err, 400, "invalid_json", NULL, "a JSON body is required");
    return KDS_EINVAL;
  }
  /* type/subtype before any ';', blanks trimmed, compared case-insensitively */
  for (i = 0; ct.ptr && i < ct.len && ct.ptr[i] != ';'; i++) {
  }
  {
    size_t s = 0, e = i;
    while (s < e && (ct.ptr[s] == ' ' || ct.ptr[s] == '\t')) s++;
    while (e > s && (ct.ptr[e - 1] == ' ' || ct.ptr[e - 1] == '\t')) e--;
    if (ct.ptr == NULL || e - s != 16 || strncasecmp(ct.ptr + s, "application/json", 16) != 0) {
      kds_err_set(err, 415, "unsupported_media_type", NULL, "Content-Type must be application/json");
      return KDS_EINVAL;
    }
  }
  if (ct.ptr && i < ct.len) { /* parameters: only charset=utf-8 (any case, quoted or not) */
    kds_slice params = {ct.ptr + i, ct.len - i};
    for (size_t k = 0; k + 8 <= params.len; k++) {
      if (strncasecmp(params.ptr + k, "charset=", 8) == 0) {
        const char *v = params.ptr + k + 8;
        size_t vl = params.len - k - 8, j = 0;
        if (vl && *v == '"') v++, vl--;
        while (j < vl && v[j] != ';' && v[j] != '"' && v[j] != ' ') j++;
        if (!(j == 5 && strncasecmp(v, "utf-8", 5) == 0)) {
          kds_err_set(err, 415, "unsupported_media_type", NULL, "unsupported charset");
          return KDS_EINVAL;
        }
        break;
      }
    }
  }
  /* The body is read as it arrives: a content coding (gzip, ...) is not JSON we can read.
   * An empty value counts as identity, as in the reference; repeated ones are joined. */
  if ((rc = http_req_header_joined(req, "content-encoding", &text)) < 0) goto nomem;
  if (rc) {
    size_t s = 0, e = text.len;
    while (s < e && (text.base[s] == ' ' || text.base[s] == '\t')) s++;
    while (e > s && (text.base[e - 1] == ' ' || text.base[e - 1] == '\t')) e--;
    if (e > s && !(e - s == 8 && strncasecmp(text.base + s, "identity", 8) == 0)) {
      kds_buf_release(&text);
      kds_err_set(err, 415, "unsupported_media_type", NULL, "unsupported Content-Encoding");
      return KDS_EINVAL;
    }
  }
  kds_buf_reset(&text);
  /* As body-parser: the bytes decoded as UTF-8 (U+FFFD for invalid ones), a leading BOM
   * dropped, nothing left is {}; then JSON.parse's grammar, which cJSON alone is laxer
   * than. */
  if ((rc = order_text_clean(&text, req->body.base, req->body.len, 0)) == 0) {
    size_t skip = text.len >= 3 && memcmp(text.base, "\xEF\xBB\xBF", 3) == 0 ? 3 : 0;
    if (text.len == skip) {
      kds_buf_release(&text);
      if ((json = cJSON_CreateObject()) == NULL) goto nomem;
      *out = json;
      return 0;
    }
    rc = json_rewrite(&strict, text.base + skip, text.len - skip, HTTP_JSON_REWRITES);
  }
  kds_buf_release(&text);
  json = rc == 0 ? cJSON_ParseWithLength(strict.base, strict.len) : NULL;
  kds_buf_release(&strict);
  if (rc == KDS_ENOMEM) goto nomem;
  if (json == NULL) { /* not JSON, or nested deeper than cJSON goes */
    kds_err_set(err, 400, "invalid_json", NULL, "the body is not valid JSON");
    return KDS_EINVAL;
  }
  if (!cJSON_IsObject(json)) {
    cJSON_Delete(json);
    kds_err_set(err, 400, "invalid_json", NULL, "the body must be a JSON object");
    return KDS_EINVAL;
  }
  if (json_dedupe_keys(json) != 0) {
    cJSON_Delete(json);
    goto nomem;
  }
  *out = json;
  return 0;
nomem:
  kds_buf_release(&text);
  kds_buf_release(&strict);
  kds_err_set(err, 500, "internal_error", NULL, "the server ran out of memory");
  return KDS_ENOMEM;
}

int http_req_take_stream(http_req_t *req, uv_tcp_t **tcp, kds_buf *head) {
  http_conn *c = req->priv->conn;
  uv_tcp_t *t;
  if (!req->upgrade) return KDS_ESTATE;
  if (c == NULL || c->closing || c->active != req || c->tcp == NULL || req->priv->gone) return KDS_ECLOSED;
  if (head && c->in.len > c->in_off && kds_buf_add(head, c->in.base + c->in_off, c->in.len - c->in_off) != 0)
    return KDS_ENOMEM;
  t = c->tcp;
  if (c->reading) uv_read_stop((uv_stream_t *)t);
  c->reading = 0;
  t->data = NULL;
  c->tcp = NULL;
  c->refs--; /* the tcp handle is not ours to close any more */
  c->active = NULL;
  req->priv->conn = NULL;
  req_free(req);
  *tcp = t;
  conn_close(c); /* closes the timer; writes in flight keep c alive until they finish */
  return 0;
}

/* ---- built-in routes ---------------------------------------------------------------------- */

void http_server_set_health(http_server_t *hs, http_health_fn fn, void *ud) {
  hs->health_fn = fn;
  hs->health_ud = ud;
}

static void on_healthz(http_req_t *req, void *ud) {
  static const char body[] = "{\"status\":\"ok\"}";
  http_server_t *hs = req->hs;
  char why[256] = "";
  kds_buf b = KDS_BUF_INIT;
  (void)ud;
  if (hs->health_fn == NULL || hs->health_fn(hs->health_ud, why, sizeof(why)) == 0) {
    http_reply_json(req, 200, NULL, body, sizeof(body) - 1);
    return;
  }
  if (kds_buf_adds(&b, "{\"status\":\"unavailable\",\"message\":") == 0 &&
      order_json_str(&b, why, strlen(why)) == 0 && kds_buf_addc(&b, '}') == 0) {
    http_reply_json(req, 503, NULL, b.base, b.len);
  } else {
    kds_err e;
    kds_err_set(&e, 503, "unavailable", NULL, "the server cannot take orders");
    http_reply_error(req, &e);
  }
  kds_buf_release(&b);
}

static void on_metrics(http_req_t *req, void *ud) {
  kds_buf b = KDS_BUF_INIT;
  (void)ud;
  if (metrics_render(req->hs->metrics, &b) != 0) {
    kds_err e;
    kds_buf_release(&b);
    kds_err_set(&e, 500, "internal_error", NULL, "the server ran out of memory");
    http_reply_error(req, &e);
    return;
  }
  http_reply(req, 200, "text/plain; version=0.0.4; charset=utf-8", NULL, b.base, b.len);
  kds_buf_release(&b);
}

static void on_client_file(http_req_t *req, void *ud) {
  const client_file *f = ud;
  static_serve_file(req, &f->hs->statics, f->hs->client_dir, f->name, f->ctype);
}

/* ---- public: server ------------------------------------------------------------------------- */

void http_options_default(http_options *o) {
  memset(o, 0, sizeof(*o));
  o->body_limit = 65536;
  o->header_limit = 16384;
  o->header_timeout_ms = 10000;
  o->body_timeout_ms = 30000;
  o->idle_timeout_ms = 60000;
  o->max_conns = 20000;
}

static void hs_free(http_server_t *hs) {
  router_free(hs->router);
  cors_release(&hs->cors);
  static_release(&hs->statics);
  free(hs->public_dir);
  free(hs->client_dir);
  if (hs->owns_metrics) {
    if (hs->srv && hs->srv->metrics == hs->metrics) hs->srv->metrics = NULL;
    metrics_free(hs->metrics);
  }
  free(hs);
}

static void hs_maybe_done(http_server_t *hs) {
  http_server_close_cb cb;
  if (!hs->closing || hs->done || hs->handles > 0 || hs->live_conns > 0 || hs->live_reqs > 0) return;
  hs->done = 1;
  cb = hs->close_cb;
  if (cb) cb(hs);
  hs_free(hs);
}

static void on_hs_handle_close(uv_handle_t *h) {
  http_server_t *hs = h->data;
  hs->handles--;
  hs_maybe_done(hs);
}

int http_server_new_opts(uv_loop_t *loop, struct server *srv, const http_options *o, http_server_t **out) {
  http_server_t *hs = calloc(1, sizeof(*hs));
  int rc = KDS_ENOMEM;
  if (hs == NULL) return KDS_ENOMEM;
  hs->loop = loop;
  hs->srv = srv;
  hs->opt = *o;
  if (hs->opt.max_conns == 0) hs->opt.max_conns = 20000;
  kds_list_init(&hs->conns);
  kds_list_init(&hs->resume);
  hs->public_dir = strdup(o->public_dir ? o->public_dir : "");
  hs->client_dir = strdup(o->client_dir ? o->client_dir : "");
  hs->opt.public_dir = hs->opt.client_dir = hs->opt.cors_origins = NULL; /* not kept */
  if (hs->public_dir == NULL || hs->client_dir == NULL) goto fail;
  if (cors_init(&hs->cors, o->cors_origins ? o->cors_origins : "*") != 0) goto fail;
  if (router_new(&hs->router) != 0) goto fail;
  if (static_init(&hs->statics, hs->public_dir) != 0) goto fail;
  if (srv && srv->metrics) {
    hs->metrics = srv->metrics;
  } else {
    if (metrics_new(&hs->metrics) != 0) goto fail;
    hs->owns_metrics = 1;
    if (srv) srv->metrics = hs->metrics;
  }
  llhttp_settings_init(&hs->settings);
  hs->settings.on_message_begin = on_message_begin;
  hs->settings.on_url = on_url;
  hs->settings.on_url_complete = on_url_complete;
  hs->settings.on_header_field = on_header_field;
  hs->settings.on_header_field_complete = on_header_field_complete;
  hs->settings.on_header_value = on_header_value;
  hs->settings.on_header_value_complete = on_header_value_complete;
  hs->settings.on_headers_complete = on_headers_complete;
  hs->settings.on_body = on_body;
  hs->settings.on_chunk_header = on_chunk_header;
  hs->settings.on_message_complete = on_message_complete;
  if ((rc = http_route_add(hs, "GET", "/healthz", on_healthz, NULL, 0)) != 0) goto fail;
  if ((rc = http_route_add(hs, "GET", "/metrics", on_metrics, NULL, 0)) != 0) goto fail;
  for (size_t i = 0; i < N_CLIENT_FILES; i++) {
    char pattern[64];
    hs->client_files[i] = client_files_tmpl[i];
    hs->client_files[i].hs = hs;
    snprintf(pattern, sizeof(pattern), "/socket.io/%s", client_files_tmpl[i].name);
    if ((rc = http_route_add(hs, "GET", pattern, on_client_file, &hs->client_files[i], 0)) != 0) goto fail;
  }
  rc = uv_idle_init(loop, &hs->idle);
  if (rc != 0) goto fail;
  hs->idle.data = hs;
  hs->handles = 1;
  *out = hs;
  return 0;
fail:
  if (srv && hs->owns_metrics && srv->metrics == hs->metrics) srv->metrics = NULL;
  hs_free(hs);
  return rc ? rc : KDS_ENOMEM;
}

int http_server_new(struct server *srv, http_server_t **out) {
  http_options o;
  http_options_default(&o);
  if (srv == NULL || srv->loop == NULL) return KDS_EINVAL;
  if (srv->cfg.body_limit > 0) o.body_limit = (size_t)srv->cfg.body_limit;
  if (srv->cfg.max_conns > 0) o.max_conns = (size_t)srv->cfg.max_conns;
  o.public_dir = srv->cfg.public_dir;
  o.client_dir = srv->cfg.client_dir;
  o.cors_origins = srv->cfg.cors_origins[0] ? srv->cfg.cors_origins : "*";
  return http_server_new_opts(srv->loop, srv, &o, out);
}

int http_server_listen(http_server_t *hs, const char *host, int port, int *bound_port) {
  struct sockaddr_storage ss;
  int rc, len = sizeof(ss);
  if (hs->listening || hs->closing || hs->listener_init) return KDS_ESTATE;
  if (strchr(host, ':'))
    rc = uv_ip6_addr(host, port, (struct sockaddr_in6 *)&ss);
  else
    rc = uv_ip4_addr(host, port, (struct sockaddr_in *)&ss);
  if (rc != 0) return rc;
  if ((rc = uv_tcp_init(hs->loop, &hs->listener)) != 0) return rc;
  hs->listener.data = hs;
  hs->listener_init = 1;
  hs->handles++;
  if ((rc = uv_tcp_bind(&hs->listener, (struct sockaddr *)&ss, 0)) != 0) return rc;
  if ((rc = uv_listen((uv_stream_t *)&hs->listener, 511, on_connection)) != 0) return rc;
  hs->listening = 1;
  if (bound_port) {
    if ((rc = uv_tcp_getsockname(&hs->listener, (struct sockaddr *)&ss, &len)) != 0) return rc;
    *bound_port = ss.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
                                           : ntohs(((struct sockaddr_in *)&ss)->sin_port);
  }
  return 0;
}

void http_server_close(http_server_t *hs, http_server_close_cb cb) {
  kds_list *n, *next;
  if (hs == NULL || hs->closing) return;
  hs->closing = 1;
  hs->close_cb = cb;
  if (hs->listener_init) uv_close((uv_handle_t *)&hs->listener, on_hs_handle_close);
  uv_close((uv_handle_t *)&hs->idle, on_hs_handle_close);
  for (n = hs->conns.next; n != &hs->conns; n = next) {
    http_conn *c = kds_container_of(n, http_conn, node);
    next = n->next;
    if (c->active == NULL && c->writes == 0)
      conn_close(c);
    else
      c->want_close = 1; /* after the answer in progress */
  }
  hs_maybe_done(hs);
}

int http_route_add(http_server_t *hs, const char *method, const char *pattern, http_handler_fn fn, void *ud,
                   size_t max_body) {
  if (hs == NULL) return KDS_EINVAL;
  return router_add(hs->router, method, pattern, (router_fn)fn, ud, max_body);
}

uv_loop_t *http_server_loop(const http_server_t *hs) {
  return hs->loop;
}

struct server *http_server_srv(const http_server_t *hs) {
  return hs->srv;
}

struct metrics *http_server_metrics(const http_server_t *hs) {
  return hs->metrics;
}

size_t http_server_conn_count(const http_server_t *hs) {
  return hs->nconns;
}
