/* http_request.c: a request as llhttp reads it (see http_int.h): the callbacks that
 * assemble it, the SPEC 11.27 refusals, the request-target, the route match, the parse loop
 * of a connection, and the header, parameter and query accessors of http.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http_int.h"
#include "http_token.h"
#include "log.h"

/* ---- requests ---------------------------------------------------------------------- */

static http_req_t *req_new(http_conn *c) {
  http_req_full *f = calloc(1, sizeof(*f));
  if (f == NULL) return NULL;
  f->pub.priv = &f->priv;
  f->pub.hs = c->hs;
  f->priv.conn = c;
  snprintf(f->pub.peer, sizeof(f->pub.peer), "%s", c->peer);
  f->pub.peer_port = c->peer_port;
  c->hs->live_reqs++;
  return &f->pub;
}

void http__req_free(http_req_t *req) {
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
  http__hs_maybe_done(hs);
}

/* The client of the active request left: tell its handler once. */
void http__req_notify_gone(http_req_t *req) {
  struct http_req_priv *p = req->priv;
  http_req_close_cb cb = p->on_close;
  if (p->gone) return;
  p->gone = 1;
  p->on_close = NULL;
  if (cb) cb(req, p->on_close_ud); /* may answer (and free) req: do not touch it after */
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
    http__conn_timer(c, PH_HEADERS, c->hs->opt.header_timeout_ms);
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
    while (http_token_next(v, &pos, &item)) {
      const char *semi = params ? memchr(item.ptr, ';', item.len) : NULL;
      if (semi) {
        item.len = (size_t)(semi - item.ptr);
        while (item.len && (item.ptr[item.len - 1] == ' ' || item.ptr[item.len - 1] == '\t')) item.len--;
      }
      items++;
      if (!http_token_has(item, tok)) all = 0;
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
  if (http__buf_reserve_write(&b, sizeof(line)) != 0 || kds_buf_add(&b, line, sizeof(line) - 1) != 0) {
    kds_buf_release(&b);
    return 0; /* no interim answer: the client sends its body after a pause anyway */
  }
  return http__conn_write_buf(c, &b);
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
        req->upgrade = http_token_has((kds_slice){hq->raw.base + h->value, h->value_len}, "websocket");
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
  http__conn_timer(c, PH_BODY, c->hs->opt.body_timeout_ms);
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

/* Parses what is buffered, one request at a time, dispatching each; stops while a request
 * is unanswered. Never re-entered for the same connection: a handler that answers at once
 * just lets this loop go on. */
void http__conn_parse(http_conn *c) {
  if (c->processing || c->closing) return;
  c->processing = 1;
  for (;;) {
    size_t avail, used;
    const char *data = http__conn_pending(c, &avail);
    llhttp_errno_t err;
    if (c->closing || c->active != NULL || c->want_close || c->no_parse || c->tcp == NULL || avail == 0)
      break;
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
      http__conn_fail(c, 400, "bad_request", "malformed HTTP request (%s)", c->err_reason);
      break;
    }
    c->exec_end = data + avail;
    err = llhttp_execute(&c->parser, data, avail);
    used = err == HPE_OK ? avail : (size_t)(llhttp_get_error_pos(&c->parser) - data);
    if (used > avail) used = avail;
    http__conn_consume(c, used);
    if (err == HPE_OK) {
      if (c->phase == PH_NEW || c->phase == PH_IDLE || c->phase == PH_HEADERS) {
        c->header_raw += used;
        if (c->header_raw > c->hs->opt.header_limit + 1024) {
          http__conn_fail(c, 431, "headers_too_large", "the request headers are larger than %zu bytes",
                          c->hs->opt.header_limit);
        }
      }
      break;
    }
    if (err == HPE_PAUSED_H2_UPGRADE) {
      /* The HTTP/2 connection preface ("PRI * HTTP/2.0"): a client with prior knowledge. */
      http__conn_fail(c, 505, "http_version_not_supported",
                      "HTTP/2 is not supported (not with prior knowledge either): use HTTP/1.1");
      break;
    }
    if (err == HPE_PAUSED || err == HPE_PAUSED_UPGRADE) {
      if (c->cur == NULL) {
        http__conn_close(c);
        break;
      }
      if (err == HPE_PAUSED) {
        c->parser_paused = 1;
      } else {
        c->no_parse = 1; /* the rest is another protocol: the handler takes it or we close */
        c->cur->keep_alive = 0;
      }
      http__conn_dispatch(c);
      continue;
    }
    switch (c->err_status) {
      case 431:
        http__conn_fail(c, 431, "headers_too_large", "the request headers are larger than %zu bytes",
                        c->hs->opt.header_limit);
        break;
      case 413:
        http__conn_fail(c, 413, "payload_too_large", "the body is larger than %zu bytes",
                        c->cur ? c->cur->priv->max_body : c->hs->opt.body_limit);
        break;
      case 500:
        http__conn_fail(c, 500, "internal_error", "the server ran out of memory");
        break;
      case 417:
        http__conn_fail(c, 417, "expectation_failed",
                        "the only expectation supported is Expect: 100-continue");
        break;
      case 501:
        http__conn_fail(c, 501, "not_implemented", "the only transfer coding supported is chunked");
        break;
      case 505:
        http__conn_fail(c, 505, "http_version_not_supported", "%s",
                        c->err_reason ? c->err_reason : "HTTP version not supported");
        break;
      default:
        http__conn_fail(c, 400, "bad_request", "malformed HTTP request (%s)",
                        c->err_reason ? c->err_reason : llhttp_get_error_reason(&c->parser));
        break;
    }
    break;
  }
  if (!c->closing) {
    if (c->in_off == c->in.len) {
      kds_buf_release(&c->in); /* an idle connection keeps no buffer */
      c->in_off = 0;
    } else if (c->in_off > 0) {
      memmove(c->in.base, c->in.base + c->in_off, c->in.len - c->in_off);
      c->in.len -= c->in_off;
      c->in.base[c->in.len] = '\0';
      c->in_off = 0;
    }
    http__conn_update_read(c);
  }
  c->processing = 0;
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

void http__settings_init(llhttp_settings_t *s) {
  llhttp_settings_init(s);
  s->on_message_begin = on_message_begin;
  s->on_url = on_url;
  s->on_url_complete = on_url_complete;
  s->on_header_field = on_header_field;
  s->on_header_field_complete = on_header_field_complete;
  s->on_header_value = on_header_value;
  s->on_header_value_complete = on_header_value_complete;
  s->on_headers_complete = on_headers_complete;
  s->on_body = on_body;
  s->on_chunk_header = on_chunk_header;
  s->on_message_complete = on_message_complete;
}
