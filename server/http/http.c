/* http.c: the HTTP/1.1 server (see http.h): the server object, dispatch of a parsed
 * request, and the public reply API. A connection's I/O is in http_conn.c, request assembly
 * on llhttp in http_request.c; http_int.h has the structs they share and the invariants.
 * Reading order: http_int.h, http_conn.c (accept -> read), http_request.c (llhttp callbacks
 * -> parse loop), then this file (dispatch -> reply), whose writes go back to http_conn.c. */
#include "http.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hex.h"
#include "http_int.h"
#include "json.h"
#include "log.h"
#include "order.h" /* order_json_str (error bodies), order_text_clean (body text) */

/* ---- small helpers ------------------------------------------------------------------ */

int http_pct_decode(kds_buf *out, const char *s, size_t len, int plus_space) {
  if (kds_buf_grow(out, len) != 0) return KDS_ENOMEM;
  for (size_t i = 0; i < len; i++) {
    char ch = s[i];
    if (ch == '%' && i + 2 < len && hex_digit((unsigned char)s[i + 1]) >= 0 &&
        hex_digit((unsigned char)s[i + 2]) >= 0) {
      ch = (char)(hex_digit((unsigned char)s[i + 1]) * 16 + hex_digit((unsigned char)s[i + 2]));
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
char *http__error_json(const kds_err *e, size_t *len) {
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
      cors_add_preflight(&req->hs->cors, http__req_cors_scope(req),
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

/* Behind a reverse proxy (trust_proxy): the client is the last X-Forwarded-For entry, the
 * one the proxy appended (nginx: $proxy_add_x_forwarded_for); entries before it are the
 * client's own say. A header that does not end in an IPv4/IPv6 address leaves the peer. */
static void req_peer_from_proxy(http_req_t *req) {
  kds_buf v;
  const char *last;
  char addr[64];
  unsigned char bin[16];
  size_t n;
  kds_buf_init(&v);
  if (http_req_header_joined(req, "X-Forwarded-For", &v) == 1) {
    last = strrchr(v.base, ',');
    last = last ? last + 1 : v.base;
    last += strspn(last, " \t");
    n = strcspn(last, " \t");
    if (n > 0 && n < sizeof(addr)) {
      memcpy(addr, last, n);
      addr[n] = '\0';
      if (uv_inet_pton(AF_INET, addr, bin) == 0 || uv_inet_pton(AF_INET6, addr, bin) == 0)
        memcpy(req->peer, addr, n + 1);
    }
  }
  kds_buf_release(&v);
}

void http__conn_dispatch(http_conn *c) {
  http_req_t *req = c->cur;
  struct http_req_priv *q = req->priv;
  http_server_t *hs = c->hs;
  c->cur = NULL;
  if (hs->opt.trust_proxy) req_peer_from_proxy(req);
  c->active = req;
  c->header_raw = 0;
  http__conn_timer(c, PH_ACTIVE, 0);
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
  } else if ((req->method == HTTP_GET || req->method == HTTP_HEAD) && hs->fallback) {
    hs->fallback(req, hs->fallback_ud);
  } else {
    reply_not_found(req);
  }
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
    http__req_free(req);
    return KDS_ECLOSED;
  }
  c->active = NULL;
  req->priv->conn = NULL;
  keep = req->keep_alive && !c->want_close && !c->hs->closing;
  rc =
      http__conn_send(c, req, status, content_type, extra_headers, body, len, req->method == HTTP_HEAD, keep);
  http__req_free(req);
  if (rc != 0 || c->closing) return rc;
  if (!keep) {
    c->want_close = 1;
    http__conn_discard(c);
    http__conn_timer(c, PH_IDLE, c->hs->opt.idle_timeout_ms); /* bounds the wait for the write */
    http__conn_update_read(c);
    return 0;
  }
  http__conn_timer(c, PH_IDLE, c->hs->opt.idle_timeout_ms);
  if (!c->processing) {
    size_t waiting;
    http__conn_pending(c, &waiting);
    if (waiting > 0)
      http__hs_schedule(c); /* pipelined bytes: parse them from the loop, not from this caller */
    else
      http__conn_update_read(c);
  }
  return 0;
}

void http_req_abort(http_req_t *req) {
  http_conn *c;
  if (req == NULL) return;
  c = req->priv->conn;
  if (c != NULL && !c->closing && c->active == req) {
    c->active = NULL; /* so that http__conn_close does not call the request's on_close */
    req->priv->conn = NULL;
    http__req_free(req);
    http__conn_close(
        c); /* c's memory stays until its close callbacks (a caller may be in http__conn_parse) */
    return;
  }
  http__req_free(req); /* the client is gone already: only free */
}

int http_reply_json(http_req_t *req, int status, const char *extra_headers, const char *json, size_t len) {
  return http_reply(req, status, "application/json; charset=utf-8", extra_headers, json, len);
}

int http_reply_error_h(http_req_t *req, const kds_err *e, const char *extra_headers) {
  kds_buf h = KDS_BUF_INIT;
  size_t len = 0;
  char *json = http__error_json(e, &len);
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

/* The grammar check and the rewrites that let cJSON read what JSON.parse reads are json.h's
 * (JSON_READ_AS_JS): "\u0000" as C0 80 and a lone surrogate as its 3 bytes (our text,
 * order.h), and a number longer than cJSON reads as the same double. */

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
    rc = json_rewrite(&strict, text.base + skip, text.len - skip, JSON_READ_AS_JS);
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
  const char *left;
  size_t nleft;
  if (!req->upgrade) return KDS_ESTATE;
  if (c == NULL || c->closing || c->active != req || c->tcp == NULL || req->priv->gone) return KDS_ECLOSED;
  /* The bytes after the request may still be in the server's read buffer (a hand-off inside
   * on_read): they are copied here, as they would be into c->in when on_read returns. */
  left = http__conn_pending(c, &nleft);
  if (head && nleft > 0 && kds_buf_add(head, left, nleft) != 0) return KDS_ENOMEM;
  t = c->tcp;
  if (c->reading) uv_read_stop((uv_stream_t *)t);
  c->reading = 0;
  t->data = NULL;
  c->tcp = NULL;
  c->refs--; /* the tcp handle is not ours to close any more */
  c->active = NULL;
  req->priv->conn = NULL;
  http__req_free(req);
  *tcp = t;
  http__conn_close(c); /* closes the timer; writes in flight keep c alive until they finish */
  return 0;
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
  free(hs->rbuf);
  free(hs);
}

void http__hs_maybe_done(http_server_t *hs) {
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
  http__hs_maybe_done(hs);
}

int http_server_new_opts(uv_loop_t *loop, void *ud, const http_options *o, http_server_t **out) {
  http_server_t *hs = calloc(1, sizeof(*hs));
  int rc = KDS_ENOMEM;
  if (hs == NULL) return KDS_ENOMEM;
  hs->loop = loop;
  hs->ud = ud;
  hs->opt = *o;
  if (hs->opt.max_conns == 0) hs->opt.max_conns = 20000;
  kds_list_init(&hs->conns);
  kds_list_init(&hs->resume);
  hs->opt.cors_origins = NULL; /* not kept */
  if ((hs->rbuf = malloc(HTTP_READ_BUF)) == NULL) goto fail;
  if (cors_init(&hs->cors, o->cors_origins ? o->cors_origins : "*") != 0) goto fail;
  if (router_new(&hs->router) != 0) goto fail;
  http__settings_init(&hs->settings);
  rc = uv_idle_init(loop, &hs->idle);
  if (rc != 0) goto fail;
  hs->idle.data = hs;
  hs->handles = 1;
  *out = hs;
  return 0;
fail:
  hs_free(hs);
  return rc ? rc : KDS_ENOMEM;
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
  if ((rc = uv_listen((uv_stream_t *)&hs->listener, 511, http__on_connection)) != 0) return rc;
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
      http__conn_close(c);
    else
      c->want_close = 1; /* after the answer in progress */
  }
  http__hs_maybe_done(hs);
}

int http_route_add(http_server_t *hs, const char *method, const char *pattern, http_handler_fn fn, void *ud,
                   size_t max_body) {
  if (hs == NULL) return KDS_EINVAL;
  return router_add(hs->router, method, pattern, (router_fn)fn, ud, max_body);
}

uv_loop_t *http_server_loop(const http_server_t *hs) {
  return hs->loop;
}

void *http_server_ud(const http_server_t *hs) {
  return hs->ud;
}

void http_server_set_fallback(http_server_t *hs, http_handler_fn fn, void *ud) {
  hs->fallback = fn;
  hs->fallback_ud = ud;
}

size_t http_server_conn_count(const http_server_t *hs) {
  return hs->nconns;
}
