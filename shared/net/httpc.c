/* httpc.c: one keep-alive connection, a FIFO of requests, llhttp for responses.
 * A request and its bytes are one allocation; it is freed when both its write finished and
 * its callback ran. The client is freed once its dial (if any) reported and its timer is
 * closed; only then do the callbacks of unanswered requests run with UV_ECANCELED. */
#include "httpc.h"

#include <llhttp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "dial.h"
#include "err.h"
#include "list.h"

#define HTTPC_DEFAULT_TIMEOUT 30000
#define HTTPC_DEFAULT_MAX_BODY (16u * 1024u * 1024u)
#define HTTPC_MAX_HEADERS (64u * 1024u)

typedef struct httpc_req {
  kds_list node;
  uv_write_t wreq;
  httpc_cb cb;
  void *ud;
  int writing;   /* its write is in flight */
  int answered;  /* cb ran */
  int retryable; /* idempotent: may be resent once on a stale keep-alive connection */
  int retried;
  size_t len;
  char data[]; /* the request bytes */
} httpc_req;

struct httpc {
  uv_loop_t *loop;
  char host[256];
  char hosthdr[300];
  int port;
  unsigned timeout_ms;
  size_t max_body;
  tls_ctx_t *tls;    /* https: the connection is TLS (dial_start_tls); NULL: plain */
  uv_stream_t *conn; /* connected (a uv_tcp_t, or TLS's plaintext end), or NULL */
  dial_t *dial;      /* connecting, or NULL */
  uv_timer_t timer;
  llhttp_t parser;
  kds_list queue; /* waiting requests */
  httpc_req *cur; /* the request in flight */
  kds_buf body;
  kds_buf hdrs; /* "name\0value\0" pairs of the current response */
  int status;
  int complete; /* the current response ended */
  int keep_alive;
  int error;       /* KDS_ETOOBIG etc. from a parser callback */
  size_t got;      /* response bytes received for cur */
  unsigned served; /* responses on this connection (reused if > 0) */
  int fail_rc;     /* deferred failure of a synchronous dial_start error */
  int freeing;
  int busy; /* dial in flight + timer open (after httpc_free) */
  char rbuf[16384];
};

static void kick(httpc_t *c);
static void httpc_final(httpc_t *c);

/* ---- parser callbacks --------------------------------------------------------------------- */

static int on_hfield(llhttp_t *p, const char *at, size_t len) {
  httpc_t *c = p->data;
  if (c->hdrs.len + len > HTTPC_MAX_HEADERS) return -1;
  return kds_buf_add(&c->hdrs, at, len) < 0 ? -1 : 0;
}

static int on_hend(llhttp_t *p) {
  httpc_t *c = p->data;
  return kds_buf_addc(&c->hdrs, '\0') < 0 ? -1 : 0;
}

static int on_hvalue(llhttp_t *p, const char *at, size_t len) {
  return on_hfield(p, at, len);
}

static int on_headers_done(llhttp_t *p) {
  httpc_t *c = p->data;
  c->status = p->status_code;
  return 0;
}

static int on_body(llhttp_t *p, const char *at, size_t len) {
  httpc_t *c = p->data;
  if (c->body.len + len > c->max_body) {
    c->error = KDS_ETOOBIG;
    return -1;
  }
  if (kds_buf_add(&c->body, at, len) < 0) {
    c->error = KDS_ENOMEM;
    return -1;
  }
  return 0;
}

static int on_msg_done(llhttp_t *p) {
  httpc_t *c = p->data;
  c->complete = 1;
  c->keep_alive = llhttp_should_keep_alive(p);
  return HPE_PAUSED; /* one response per request: stop here */
}

static const llhttp_settings_t httpc_settings = {
    .on_header_field = on_hfield,
    .on_header_field_complete = on_hend,
    .on_header_value = on_hvalue,
    .on_header_value_complete = on_hend,
    .on_headers_complete = on_headers_done,
    .on_body = on_body,
    .on_message_complete = on_msg_done,
};

/* ---- requests ------------------------------------------------------------------------------ */

static void req_free_if_done(httpc_req *r) {
  if (r->answered && !r->writing) free(r);
}

static void drop_conn(httpc_t *c) {
  if (!c->conn) return;
  dial_close(c->conn); /* cancels a write in flight */
  c->conn = NULL;
  c->served = 0;
}

/* Ends the request in flight with err (0: the parsed response). */
static void finish_cur(httpc_t *c, int err) {
  httpc_req *r = c->cur;
  httpc_response resp;
  if (!r) return;
  c->cur = NULL;
  uv_timer_stop(&c->timer);
  if (err || !c->keep_alive)
    drop_conn(c);
  else
    c->served++;
  r->answered = 1;
  if (err == 0) {
    resp.status = c->status;
    if (!c->body.base) kds_buf_grow(&c->body, 0);
    resp.body = c->body.base ? c->body.base : "";
    resp.body_len = c->body.len;
    resp.conn = c;
    r->cb(r->ud, 0, &resp);
  } else {
    r->cb(r->ud, err, NULL);
  }
  req_free_if_done(r);
  kds_buf_reset(&c->body);
  kds_buf_reset(&c->hdrs);
  if (!c->freeing) kick(c);
}

/* Fails every queued request with err. Requests queued by those callbacks are not failed
 * here: they get a fresh attempt. */
static void fail_queued(httpc_t *c, int err) {
  kds_list local;
  kds_list_init(&local);
  kds_list_splice(&local, &c->queue);
  while (!kds_list_empty(&local)) {
    httpc_req *r = kds_container_of(local.next, httpc_req, node);
    kds_list_remove(&r->node);
    r->answered = 1;
    r->cb(r->ud, err, NULL);
    req_free_if_done(r);
  }
  if (!c->freeing) kick(c);
}

static void on_write(uv_write_t *w, int status) {
  httpc_req *r = kds_container_of(w, httpc_req, wreq);
  r->writing = 0;
  if (r->answered) {
    free(r);
    return;
  }
  /* Not answered, so the client is alive and r is its request in flight. A failed write
   * shows up as a read error or EOF too; let that path decide. */
}

/* The link ended (EOF or error) while `c->cur` waited: retry an idempotent request once if
 * the connection was a reused keep-alive one and nothing came back, else fail it. */
static void link_lost(httpc_t *c, int err) {
  httpc_req *r = c->cur;
  if (r && r->retryable && !r->retried && c->got == 0 && c->served > 0) {
    c->cur = NULL;
    uv_timer_stop(&c->timer);
    drop_conn(c);
    r->retried = 1;
    r->node.next = c->queue.next; /* back to the front of the queue */
    r->node.prev = &c->queue;
    c->queue.next->prev = &r->node;
    c->queue.next = &r->node;
    kick(c);
    return;
  }
  finish_cur(c, err);
}

static void on_alloc(uv_handle_t *h, size_t s, uv_buf_t *b) {
  httpc_t *c = h->data;
  b->base = c->rbuf;
  b->len = sizeof(c->rbuf);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  httpc_t *c = s->data;
  llhttp_errno_t e;
  if (nread == 0) return;
  if (!c->cur) { /* idle: the server closed it, or sent something unasked */
    drop_conn(c);
    if (!kds_list_empty(&c->queue)) kick(c);
    return;
  }
  if (nread < 0) {
    if (c->got && llhttp_message_needs_eof(&c->parser)) llhttp_finish(&c->parser); /* -> on_msg_done */
    if (c->complete) {
      c->keep_alive = 0;
      finish_cur(c, 0);
      return;
    }
    link_lost(c, nread == UV_EOF ? UV_EOF : (int)nread);
    return;
  }
  c->got += (size_t)nread;
  e = llhttp_execute(&c->parser, buf->base, (size_t)nread);
  if (c->complete) {
    finish_cur(c, 0);
    return;
  }
  if (e != HPE_OK) finish_cur(c, c->error ? c->error : KDS_EPROTO);
}

static void on_timeout(uv_timer_t *t) {
  httpc_t *c = t->data;
  finish_cur(c, UV_ETIMEDOUT);
}

static void on_dial(void *ud, int status, uv_stream_t *conn) {
  httpc_t *c = ud;
  int rc;
  c->dial = NULL;
  if (c->freeing) {
    dial_close(conn);
    if (--c->busy == 0) httpc_final(c);
    return;
  }
  if (status < 0) {
    fail_queued(c, status);
    return;
  }
  c->conn = conn;
  conn->data = c;
  rc = uv_read_start(conn, on_alloc, on_read);
  if (rc < 0) {
    drop_conn(c);
    fail_queued(c, rc);
    return;
  }
  kick(c);
}

static void on_deferred_fail(uv_timer_t *t) {
  httpc_t *c = t->data;
  int rc = c->fail_rc;
  c->fail_rc = 0;
  fail_queued(c, rc);
}

static void kick(httpc_t *c) {
  httpc_req *r;
  uv_buf_t b;
  int rc;
  if (c->freeing || c->cur || kds_list_empty(&c->queue) || c->dial || c->fail_rc) return;
  if (!c->conn) {
    rc = dial_start_tls(&c->dial, c->loop, c->host, c->port, c->timeout_ms, c->tls, on_dial, c);
    if (rc < 0) { /* report from the loop, never inside httpc_request */
      c->fail_rc = rc;
      uv_timer_start(&c->timer, on_deferred_fail, 0, 0);
    }
    return;
  }
  r = kds_container_of(c->queue.next, httpc_req, node);
  kds_list_remove(&r->node);
  c->cur = r;
  c->complete = 0;
  c->error = 0;
  c->status = 0;
  c->got = 0;
  c->keep_alive = 1;
  kds_buf_reset(&c->body);
  kds_buf_reset(&c->hdrs);
  llhttp_init(&c->parser, HTTP_RESPONSE, &httpc_settings);
  c->parser.data = c;
  b = uv_buf_init(r->data, (unsigned)r->len);
  rc = uv_write(&r->wreq, c->conn, &b, 1, on_write);
  if (rc < 0) {
    finish_cur(c, rc);
    return;
  }
  r->writing = 1;
  uv_timer_start(&c->timer, on_timeout, c->timeout_ms, 0);
}

/* ---- public API ------------------------------------------------------------------------------- */

httpc_t *httpc_new(uv_loop_t *loop, const char *host, int port, const httpc_opts *opts) {
  httpc_t *c;
  if (!loop || !host || !*host || strlen(host) >= sizeof(c->host) || port <= 0 || port > 65535) return NULL;
  c = calloc(1, sizeof(*c));
  if (!c) return NULL;
  c->loop = loop;
  snprintf(c->host, sizeof(c->host), "%s", host);
  if (strchr(host, ':') && host[0] != '[')
    snprintf(c->hosthdr, sizeof(c->hosthdr), "[%s]:%d", host, port);
  else
    snprintf(c->hosthdr, sizeof(c->hosthdr), "%s:%d", host, port);
  c->port = port;
  c->timeout_ms = opts && opts->timeout_ms ? opts->timeout_ms : HTTPC_DEFAULT_TIMEOUT;
  c->max_body = opts && opts->max_body ? opts->max_body : HTTPC_DEFAULT_MAX_BODY;
  c->tls = opts ? opts->tls : NULL;
  kds_list_init(&c->queue);
  kds_buf_init(&c->body);
  kds_buf_init(&c->hdrs);
  uv_timer_init(loop, &c->timer);
  c->timer.data = c;
  return c;
}

static int has_header(const char *headers, const char *name) {
  size_t n = strlen(name);
  const char *p = headers;
  while (p && *p) {
    if (strncasecmp(p, name, n) == 0 && p[n] == ':') return 1;
    p = strstr(p, "\r\n");
    if (p) p += 2;
  }
  return 0;
}

int httpc_request(httpc_t *c, const char *method, const char *path, const char *headers, const char *body,
                  size_t body_len, httpc_cb cb, void *ud) {
  kds_buf b = KDS_BUF_INIT;
  httpc_req *r;
  int rc = 0;
  if (!c || !method || !path || !cb || (body_len && !body)) return KDS_EINVAL;
  if (c->freeing) return KDS_ECLOSED;
  rc |= kds_buf_addf(&b, "%s %s HTTP/1.1\r\nHost: %s\r\n", method, path, c->hosthdr);
  if (body_len && !has_header(headers, "Content-Type"))
    rc |= kds_buf_adds(&b, "Content-Type: application/json\r\n");
  if (body_len || strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0 || strcmp(method, "PATCH") == 0)
    rc |= kds_buf_addf(&b, "Content-Length: %zu\r\n", body_len);
  if (headers) rc |= kds_buf_adds(&b, headers);
  rc |= kds_buf_adds(&b, "\r\n");
  if (rc == 0 && body_len) rc = kds_buf_add(&b, body, body_len);
  if (rc != 0) {
    kds_buf_release(&b);
    return KDS_ENOMEM;
  }
  r = malloc(sizeof(*r) + b.len);
  if (!r) {
    kds_buf_release(&b);
    return KDS_ENOMEM;
  }
  memset(r, 0, sizeof(*r));
  memcpy(r->data, b.base, b.len);
  r->len = b.len;
  kds_buf_release(&b);
  r->cb = cb;
  r->ud = ud;
  r->retryable = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0 || strcmp(method, "PUT") == 0 ||
                 strcmp(method, "DELETE") == 0 || strcmp(method, "OPTIONS") == 0 ||
                 has_header(headers, "Idempotency-Key");
  kds_list_push(&c->queue, &r->node);
  kick(c);
  return 0;
}

const char *httpc_header(const httpc_response *resp, const char *name, size_t *len) {
  const httpc_t *c = resp->conn;
  const char *p = c->hdrs.base, *end = c->hdrs.base + c->hdrs.len;
  while (p && p < end) {
    const char *v = p + strlen(p) + 1;
    if (v >= end) break;
    if (strcasecmp(p, name) == 0) {
      if (len) *len = strlen(v);
      return v;
    }
    p = v + strlen(v) + 1;
  }
  return NULL;
}

size_t httpc_pending(const httpc_t *c) {
  size_t n = c->cur ? 1 : 0;
  for (const kds_list *i = c->queue.next; i != &c->queue; i = i->next) n++;
  return n;
}

static void httpc_final(httpc_t *c) {
  if (c->cur) {
    kds_list_push(&c->queue, &c->cur->node); /* order does not matter any more */
    c->cur = NULL;
  }
  fail_queued(c, UV_ECANCELED); /* freeing stays set: new requests are refused */
  kds_buf_release(&c->body);
  kds_buf_release(&c->hdrs);
  free(c);
}

static void on_timer_close(uv_handle_t *h) {
  httpc_t *c = h->data;
  if (--c->busy == 0) httpc_final(c);
}

void httpc_free(httpc_t *c) {
  if (!c || c->freeing) return;
  c->freeing = 1;
  drop_conn(c);
  c->busy = 1;
  if (c->dial) {
    c->busy++;
    dial_cancel(c->dial);
  }
  uv_close((uv_handle_t *)&c->timer, on_timer_close);
}
