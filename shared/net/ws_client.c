/* ws_client.c: ws_connect, a small state machine around one connection attempt: dial (net/dial.h),
 * write the GET, feed the reply to a ws_handshake_t, and ws_start the stream once every
 * request it started has called back. */
#include "ws_client.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dial.h"
#include "err.h"
#include "list.h"

struct ws_connect {
  uv_loop_t *loop;
  ws_config cfg;
  dial_t *dial;      /* while connecting */
  uv_stream_t *conn; /* once connected (tcp, or TLS's plaintext end), until handed to ws_start */
  uv_write_t wreq;
  uv_timer_t timer;
  ws_handshake_t *hs;
  kds_buf req; /* the GET, alive until its write completes */
  ws_connect_cb cb;
  void *ud;
  ws_t *ws;
  int status;
  int http_status;
  int busy;                  /* dial + write in flight + timer open */
  int finished;              /* result decided */
  size_t head_off, head_len; /* bytes after the response head, in rbuf */
  char rbuf[4096];
};

/* Everything this request started has called back: start the WebSocket only now, so that
 * no ws callback can run before the user has the ws from cb. */
static void conn_finalize(ws_connect_t *c) {
  int rc;
  if (c->busy) return;
  if (c->status == 0) {
    rc = ws_start(&c->ws, c->conn, &c->cfg, NULL, 0, c->rbuf + c->head_off, c->head_len);
    if (rc < 0) {
      dial_close(c->conn);
      c->status = rc;
    }
    c->conn = NULL;
  }
  c->cb(c->ud, c->status, c->status == 0 ? c->ws : NULL, c->http_status);
  ws_handshake_free(c->hs);
  kds_buf_release(&c->req);
  free(c);
}

static void conn_on_timer_close(uv_handle_t *h) {
  ws_connect_t *c = h->data;
  c->busy--;
  conn_finalize(c);
}

static void conn_finish(ws_connect_t *c, int status) {
  if (c->finished) return;
  c->finished = 1;
  c->status = status;
  if (status != 0) {
    if (c->dial) dial_cancel(c->dial);
    dial_close(c->conn); /* cancels the write */
    c->conn = NULL;
  }
  uv_close((uv_handle_t *)&c->timer, conn_on_timer_close);
}

static void conn_on_timeout(uv_timer_t *t) {
  conn_finish(t->data, UV_ETIMEDOUT);
}

static void conn_on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  ws_connect_t *c = h->data;
  buf->base = c->rbuf;
  buf->len = sizeof(c->rbuf);
}

static void conn_on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  ws_connect_t *c = s->data;
  ssize_t used;
  if (c->finished || nread == 0) return;
  if (nread < 0) {
    conn_finish(c, c->hs && ws_handshake_status(c->hs) ? KDS_EPROTO : (int)nread);
    return;
  }
  used = ws_handshake_feed(c->hs, buf->base, (size_t)nread);
  c->http_status = ws_handshake_status(c->hs);
  if (used == KDS_EAGAIN) return;
  if (used < 0) {
    conn_finish(c, (int)used);
    return;
  }
  uv_read_stop(s);
  c->head_off = (size_t)(buf->base - c->rbuf) + (size_t)used; /* WebSocket bytes already read */
  c->head_len = (size_t)nread - (size_t)used;
  conn_finish(c, 0);
}

static void conn_on_write(uv_write_t *req, int status) {
  ws_connect_t *c = kds_container_of(req, ws_connect_t, wreq);
  c->busy--;
  if (status < 0 && !c->finished) conn_finish(c, status);
  conn_finalize(c);
}

static void conn_on_dial(void *ud, int status, uv_stream_t *conn) {
  ws_connect_t *c = ud;
  uv_buf_t b;
  int rc;
  c->dial = NULL;
  c->busy--;
  if (c->finished) {
    dial_close(conn);
    conn_finalize(c);
    return;
  }
  if (status < 0) {
    conn_finish(c, status);
    return;
  }
  c->conn = conn;
  conn->data = c;
  b = uv_buf_init(c->req.base, (unsigned)c->req.len);
  rc = uv_write(&c->wreq, conn, &b, 1, conn_on_write);
  if (rc == 0) {
    c->busy++;
    rc = uv_read_start(conn, conn_on_alloc, conn_on_read);
  }
  if (rc < 0) conn_finish(c, rc);
}

int ws_connect(ws_connect_t **out, const ws_connect_opts *opts, const ws_config *cfg, ws_connect_cb cb,
               void *ud) {
  ws_connect_t *c;
  char key[WS_KEY_LEN + 1], host[300];
  unsigned timeout;
  int rc;
  if (out) *out = NULL;
  if (!opts || !opts->host || !opts->path || !cfg || !cfg->hub || !cfg->cb || !cb) return KDS_EINVAL;
  if (opts->port <= 0 || opts->port > 65535 || strlen(opts->host) > 255) return KDS_EINVAL;
  c = calloc(1, sizeof(*c));
  if (!c) return KDS_ENOMEM;
  c->loop = ws_hub_loop(cfg->hub);
  c->cfg = *cfg;
  c->cfg.role = WS_ROLE_CLIENT;
  c->cfg.own_stream = 1;
  c->cb = cb;
  c->ud = ud;
  kds_buf_init(&c->req);
  /* An IPv6 literal goes in brackets in the Host header. */
  if (strchr(opts->host, ':') && opts->host[0] != '[')
    snprintf(host, sizeof(host), "[%s]:%d", opts->host, opts->port);
  else
    snprintf(host, sizeof(host), "%s:%d", opts->host, opts->port);
  rc = ws_handshake_key(key);
  if (rc == 0) {
    c->hs = ws_handshake_new(key);
    rc = c->hs ? ws_handshake_request(&c->req, host, opts->path, key, opts->extra_headers) : KDS_ENOMEM;
  }
  if (rc < 0) goto fail;
  timeout = opts->timeout_ms ? opts->timeout_ms : 10000;
  rc = dial_start_tls(&c->dial, c->loop, opts->host, opts->port, timeout, opts->tls, conn_on_dial, c);
  if (rc < 0) goto fail;
  c->busy = 2; /* the dial and the timer */
  uv_timer_init(c->loop, &c->timer);
  c->timer.data = c;
  uv_timer_start(&c->timer, conn_on_timeout, timeout, 0);
  if (out) *out = c;
  return 0;

fail:
  ws_handshake_free(c->hs);
  kds_buf_release(&c->req);
  free(c);
  return rc;
}

void ws_connect_cancel(ws_connect_t *c) {
  if (!c) return;
  if (!c->finished) {
    conn_finish(c, UV_ECANCELED);
  } else if (c->status == 0) { /* succeeded, not yet reported: cancel wins */
    c->status = UV_ECANCELED;
    dial_close(c->conn);
    c->conn = NULL;
  }
}
