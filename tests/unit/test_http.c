/* test_http.c: the HTTP layer (server/http/http.c) on its own loop: a server on 127.0.0.1 port 0
 * with test routes, and libuv clients in the same loop. Every split of a few request
 * scripts is fed (the server reads each part separately), then keep-alive, pipelining with
 * async handlers, HEAD, 404/405/413/431/400/408, the refusals of SPEC 11.27 (Host, Expect,
 * transfer codings, versions, the HTTP/2 preface) and header token matching, timeouts,
 * CORS (REST and /socket.io/), the JSON body helper, the upgrade hand-off, long-poll close
 * notification, static files and graceful close. The product's routes (/healthz, /metrics,
 * static files, the client bundle) are wired as server_run wires them, with a registry of the
 * test's own. The loop must close with nothing left alive. http.c is included to read its
 * byte counter. */
#include "../../server/http/http.c"

#include <sys/stat.h>
#include <unistd.h>

#include "http_token.h"
#include "metrics.h"
#include "server.h"
#include "static.h"
#include "test.h"

static uv_loop_t loop;
static uv_timer_t tick; /* keeps uv_run(ONCE) returning while tests wait */
static http_server_t *hs, *hs2;
static server_t product; /* zeroed but for .metrics: what server_routes_add and on_stat read */
static static_site_t *site;
static int port, port2;
static char tmpdir[256];

/* ---- a tiny client ------------------------------------------------------------------ */

typedef struct client {
  uv_tcp_t tcp;
  uv_connect_t creq;
  kds_buf rx;
  int connected, eof, closed, err;
} client;

static void cl_alloc(uv_handle_t *h, size_t s, uv_buf_t *b) {
  client *cl = h->data;
  (void)s;
  kds_buf_grow(&cl->rx, 65536);
  b->base = cl->rx.base + cl->rx.len;
  b->len = cl->rx.cap - cl->rx.len - 1;
}

static void cl_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b) {
  client *cl = s->data;
  (void)b;
  if (n > 0) {
    cl->rx.len += (size_t)n;
    cl->rx.base[cl->rx.len] = '\0';
  } else if (n < 0) {
    cl->eof = 1;
    if (n != UV_EOF) cl->err = (int)n;
    uv_read_stop(s);
  }
}

static void cl_connected(uv_connect_t *r, int status) {
  client *cl = r->data;
  if (status == 0) {
    cl->connected = 1;
    uv_read_start((uv_stream_t *)&cl->tcp, cl_alloc, cl_read);
  } else {
    cl->err = status;
    cl->eof = 1;
  }
}

typedef int (*pred_fn)(void *);

/* Runs the loop until pred(arg) or `ms` pass; returns pred's final value. */
static int run_until(pred_fn pred, void *arg, int ms) {
  uint64_t deadline;
  uv_update_time(&loop);
  deadline = uv_now(&loop) + (uint64_t)ms;
  while (!pred(arg)) {
    if (uv_now(&loop) > deadline) return 0;
    uv_run(&loop, UV_RUN_ONCE);
  }
  return 1;
}

static int p_connected(void *a) {
  client *cl = a;
  return cl->connected || cl->eof;
}
static int p_eof(void *a) {
  return ((client *)a)->eof;
}
static int p_closed(void *a) {
  return ((client *)a)->closed;
}

static void cl_open(client *cl, int p) {
  struct sockaddr_in sa;
  memset(cl, 0, sizeof(*cl));
  uv_ip4_addr("127.0.0.1", p, &sa);
  uv_tcp_init(&loop, &cl->tcp);
  cl->tcp.data = cl;
  cl->creq.data = cl;
  uv_tcp_connect(&cl->creq, &cl->tcp, (struct sockaddr *)&sa, cl_connected);
  run_until(p_connected, cl, 3000);
}

static void cl_on_close(uv_handle_t *h) {
  client *cl = h->data;
  cl->closed = 1;
}

static void cl_close(client *cl) {
  if (!uv_is_closing((uv_handle_t *)&cl->tcp)) uv_close((uv_handle_t *)&cl->tcp, cl_on_close);
  run_until(p_closed, cl, 3000);
  kds_buf_release(&cl->rx);
}

typedef struct {
  uv_write_t w;
  char data[];
} cl_write_t;

static void cl_written(uv_write_t *w, int status) {
  (void)status;
  free(w);
}

static uint64_t want_read;
static int p_server_read(void *a) {
  (void)a;
  return hs->bytes_read >= want_read;
}

/* Writes bytes and waits until the server has read them (so parts arrive separately). */
static void cl_send(client *cl, const char *data, size_t len) {
  cl_write_t *w = malloc(sizeof(*w) + len + 1);
  uv_buf_t b;
  memcpy(w->data, data, len);
  b = uv_buf_init(w->data, (unsigned)len);
  want_read = hs->bytes_read + len;
  if (uv_write(&w->w, (uv_stream_t *)&cl->tcp, &b, 1, cl_written) != 0) {
    free(w);
    return;
  }
  run_until(p_server_read, NULL, 3000);
}

/* Writes without waiting for the server (for servers other than hs). */
static void cl_send_nowait(client *cl, const char *data, size_t len) {
  cl_write_t *w = malloc(sizeof(*w) + len + 1);
  uv_buf_t b;
  memcpy(w->data, data, len);
  b = uv_buf_init(w->data, (unsigned)len);
  if (uv_write(&w->w, (uv_stream_t *)&cl->tcp, &b, 1, cl_written) != 0) free(w);
}

static void cl_sends(client *cl, const char *s) {
  cl_send(cl, s, strlen(s));
}

static void cl_sends_nowait(client *cl, const char *s) {
  cl_send_nowait(cl, s, strlen(s));
}

/* ---- response parsing --------------------------------------------------------------- */

static const char *ci_strstr(const char *hay, const char *needle) {
  size_t n = strlen(needle);
  for (; *hay; hay++)
    if (strncasecmp(hay, needle, n) == 0) return hay;
  return NULL;
}

typedef struct resp {
  int status;
  char head[4096]; /* status line + headers */
  char body[8192];
  size_t body_len;
} resp;

/* Parses complete responses from rx. Bit i of head_mask: response i answers a HEAD (no
 * body despite Content-Length). Returns the number of complete responses. */
static int parse_resps(const kds_buf *rx, resp *out, int max, unsigned head_mask) {
  const char *p = rx->base, *end = rx->base + rx->len;
  int n = 0;
  if (p == NULL) return 0;
  while (n < max && p < end) {
    const char *he = strstr(p, "\r\n\r\n"), *cl;
    size_t hl, blen = 0;
    if (he == NULL || he >= end) break;
    hl = (size_t)(he - p) + 2;
    if (hl >= sizeof(out[n].head)) break;
    memcpy(out[n].head, p, hl);
    out[n].head[hl] = '\0';
    out[n].status = atoi(p + 9);
    cl = ci_strstr(out[n].head, "\r\nContent-Length: ");
    if (cl && !(head_mask & (1u << n))) blen = strtoul(cl + 18, NULL, 10);
    if ((size_t)(end - he - 4) < blen) break;
    if (blen >= sizeof(out[n].body)) blen = sizeof(out[n].body) - 1;
    memcpy(out[n].body, he + 4, blen);
    out[n].body[blen] = '\0';
    out[n].body_len = blen;
    p = he + 4 + blen;
    n++;
  }
  return n;
}

/* The value of header `name` in a response head, into a static buffer ("" if absent). */
static const char *resp_header(const resp *r, const char *name) {
  static char v[512];
  char key[128];
  const char *p, *e;
  snprintf(key, sizeof(key), "\r\n%s: ", name);
  p = ci_strstr(r->head, key);
  v[0] = '\0';
  if (p == NULL) return v;
  p += strlen(key);
  e = strstr(p, "\r\n");
  snprintf(v, sizeof(v), "%.*s", (int)(e ? e - p : (long)strlen(p)), p);
  return v;
}

typedef struct {
  client *cl;
  int n;
  unsigned head_mask;
} want_resps;

static int p_resps(void *a) {
  want_resps *w = a;
  resp *tmp = malloc(sizeof(resp) * (size_t)w->n);
  int got = parse_resps(&w->cl->rx, tmp, w->n, w->head_mask);
  free(tmp);
  return got >= w->n || w->cl->eof;
}

static int wait_resps(client *cl, resp *out, int n, unsigned head_mask) {
  want_resps w = {cl, n, head_mask};
  run_until(p_resps, &w, 3000);
  return parse_resps(&cl->rx, out, n, head_mask);
}

/* One request on a fresh connection; returns the number of responses parsed (0 or 1). */
static int one_shot(const char *req, resp *r, unsigned head_mask) {
  client cl;
  int n;
  cl_open(&cl, port);
  cl_sends(&cl, req);
  n = wait_resps(&cl, r, 1, head_mask);
  cl_close(&cl);
  return n;
}

/* ---- handlers --------------------------------------------------------------------------- */

static void h_echo(http_req_t *req, void *ud) {
  kds_buf b = KDS_BUF_INIT, q = KDS_BUF_INIT;
  kds_slice x = http_req_header(req, "x-test"), a = http_req_param(req, 0);
  int qrc = http_req_query(req, "q", &q);
  (void)ud;
  kds_buf_addf(&b, "method=%s path=%.*s dpath=%.*s query=%.*s a=%.*s q=%s body=%.*s x=%.*s ka=%d",
               req->method_name, (int)req->path.len, req->path.ptr, (int)req->decoded_path.len,
               req->decoded_path.ptr, (int)req->query.len, req->query.ptr ? req->query.ptr : "", (int)a.len,
               a.ptr ? a.ptr : "", qrc == 0 ? q.base : "(none)", (int)req->body.len,
               req->body.base ? req->body.base : "", (int)x.len, x.ptr ? x.ptr : "(none)", req->keep_alive);
  http_reply(req, 200, "text/plain", "X-Echo: 1\r\n", b.base, b.len);
  kds_buf_release(&b);
  kds_buf_release(&q);
}

typedef struct async_reply {
  uv_timer_t t;
  http_req_t *req;
} async_reply;

static void async_closed(uv_handle_t *h) {
  free(h->data);
}

static void async_fire(uv_timer_t *t) {
  async_reply *a = t->data;
  char body[64];
  int n = snprintf(body, sizeof(body), "async %.*s", (int)http_req_param(a->req, 0).len,
                   http_req_param(a->req, 0).ptr);
  http_reply(a->req, 200, "text/plain", NULL, body, (size_t)n);
  uv_close((uv_handle_t *)&a->t, async_closed);
}

static void h_async(http_req_t *req, void *ud) {
  async_reply *a = calloc(1, sizeof(*a));
  (void)ud;
  a->req = req;
  uv_timer_init(&loop, &a->t);
  a->t.data = a;
  uv_timer_start(&a->t, async_fire, (uint64_t)atoi(http_req_param(req, 0).ptr), 0);
}

static http_req_t *held;
static int held_closed;
static void held_gone(http_req_t *req, void *ud) {
  (void)ud;
  ok(req == held, "on_close gets the held request");
  held_closed++;
}
static void h_hold(http_req_t *req, void *ud) {
  (void)ud;
  held = req;
  ok(http_req_on_close(req, held_gone, NULL) == 0, "on_close registered");
}

static http_req_t *to_abort;
static void h_abort(http_req_t *req, void *ud) {
  (void)ud;
  if (strcmp(http_req_param(req, 0).ptr, "now") == 0) {
    http_req_abort(req);
    return;
  }
  to_abort = held = req; /* aborted later by the test */
  ok(http_req_on_close(req, held_gone, NULL) == 0, "on_close registered on the request to abort");
}

static void h_error(http_req_t *req, void *ud) {
  kds_err e;
  (void)ud;
  kds_err_set(&e, 429, "rate_limited", "items[2].qty", "too many requests; try again in %d s", 7);
  e.retry_after = 7;
  snprintf(e.current_status, sizeof(e.current_status), "ready");
  http_reply_error(req, &e);
}

static void h_json(http_req_t *req, void *ud) {
  cJSON *json = NULL;
  kds_err e;
  char *s;
  (void)ud;
  if (http_req_json_body(req, &json, &e) != 0) {
    http_reply_error(req, &e);
    return;
  }
  s = cJSON_PrintUnformatted(json);
  http_reply_json(req, 200, NULL, s, strlen(s));
  free(s);
  cJSON_Delete(json);
}

/* The WebSocket stand-in: takes the stream, answers 101 and echoes bytes until EOF. */
typedef struct ws_echo {
  uv_tcp_t *tcp;
  kds_buf in;
} ws_echo;

static void ws_closed(uv_handle_t *h) {
  ws_echo *w = h->data;
  free(h);
  kds_buf_release(&w->in);
  free(w);
}

static void ws_write(ws_echo *w, const char *data, size_t len) {
  cl_write_t *wr = malloc(sizeof(*wr) + len + 1);
  uv_buf_t b;
  memcpy(wr->data, data, len);
  b = uv_buf_init(wr->data, (unsigned)len);
  if (uv_write(&wr->w, (uv_stream_t *)w->tcp, &b, 1, cl_written) != 0) free(wr);
}

static void ws_alloc(uv_handle_t *h, size_t s, uv_buf_t *b) {
  ws_echo *w = h->data;
  (void)s;
  kds_buf_grow(&w->in, 4096);
  b->base = w->in.base;
  b->len = 4096;
}

static void ws_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b) {
  ws_echo *w = s->data;
  if (n > 0) {
    ws_write(w, b->base, (size_t)n);
  } else if (n < 0) {
    uv_close((uv_handle_t *)s, ws_closed);
  }
}

static int taken;
static void ws_take(http_req_t *req) {
  ws_echo *w;
  kds_buf head = KDS_BUF_INIT;
  uv_tcp_t *tcp = NULL;
  static const char sw[] =
      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n";
  if (!req->upgrade) {
    ok(http_req_take_stream(req, &tcp, &head) == KDS_ESTATE, "take_stream refuses a plain request");
    http_reply(req, 426, "text/plain", NULL, "upgrade required", 16);
    return;
  }
  if (http_req_take_stream(req, &tcp, &head) != 0) {
    http_reply(req, 500, NULL, NULL, NULL, 0);
    kds_buf_release(&head);
    return;
  }
  taken++;
  w = calloc(1, sizeof(*w));
  w->tcp = tcp;
  tcp->data = w;
  ws_write(w, sw, sizeof(sw) - 1);
  if (head.len) ws_write(w, head.base, head.len);
  kds_buf_release(&head);
  uv_read_start((uv_stream_t *)tcp, ws_alloc, ws_read);
}

static void h_ws(http_req_t *req, void *ud) {
  (void)ud;
  ws_take(req);
}

/* Takes the stream only when the test says so (ws_take(ws_later)), after on_read has
 * returned: the bytes behind the request must have left the server's read buffer by then. */
static http_req_t *ws_later;
static void h_ws_later(http_req_t *req, void *ud) {
  (void)ud;
  ws_later = req;
}

/* ---- set-up ----------------------------------------------------------------------------- */

static void write_file(const char *rel, const char *data) {
  char path[512];
  FILE *f;
  snprintf(path, sizeof(path), "%s/%s", tmpdir, rel);
  f = fopen(path, "w");
  fputs(data, f);
  fclose(f);
}

static void setup(void) {
  http_options o;
  char path[512], pub[512];
  snprintf(tmpdir, sizeof(tmpdir), "/tmp/kds-test-http-XXXXXX");
  if (mkdtemp(tmpdir) == NULL) abort();
  snprintf(pub, sizeof(pub), "%s/public", tmpdir);
  mkdir(pub, 0755);
  snprintf(path, sizeof(path), "%s/public/sub", tmpdir);
  mkdir(path, 0755);
  write_file("public/index.html", "<h1>index</h1>");
  write_file("public/app.js", "console.log(1)");
  write_file("public/sub/index.html", "sub index");
  write_file("public/.secret", "dotfile");
  write_file("outside.txt", "OUTSIDE");
  snprintf(path, sizeof(path), "%s/public/link.txt", tmpdir);
  if (symlink("../outside.txt", path) != 0) abort();

  ok(uv_loop_init(&loop) == 0, "loop");
  uv_timer_init(&loop, &tick);
  ok(metrics_new(&product.metrics) == 0, "metrics registry");
  server_http_options(&product, &o); /* the hooks; the limits are set below */
  o.body_limit = 64;
  o.header_timeout_ms = 400;
  o.body_timeout_ms = 400;
  o.idle_timeout_ms = 600;
  o.cors_origins = "*";
  ok(http_server_new_opts(&loop, NULL, &o, &hs) == 0, "server created");
  ok(server_routes_add(&product, hs) == 0, "product routes");
  ok(static_site_new(hs, pub, KDS_SOURCE_DIR "/node_modules/socket.io-client/dist",
                     KDS_SOURCE_DIR "/node_modules/chart.js/dist", &site) == 0,
     "static site");
  ok(http_route_add(hs, "GET", "/echo/:a", h_echo, NULL, 0) == 0, "route GET echo");
  ok(http_route_add(hs, "POST", "/echo/:a", h_echo, NULL, 0) == 0, "route POST echo");
  ok(http_route_add(hs, "GET", "/async/:ms", h_async, NULL, 0) == 0, "route async");
  ok(http_route_add(hs, "GET", "/hold", h_hold, NULL, 0) == 0, "route hold");
  ok(http_route_add(hs, "GET", "/error", h_error, NULL, 0) == 0, "route error");
  ok(http_route_add(hs, "GET", "/abort/:when", h_abort, NULL, 0) == 0, "route abort");
  ok(http_route_add(hs, "POST", "/json", h_json, NULL, 0) == 0, "route json");
  ok(http_route_add(hs, "POST", "/big", h_echo, NULL, 200) == 0, "route with its own max_body");
  ok(http_route_add(hs, "GET", "/ws/*", h_ws, NULL, 0) == 0, "route ws prefix");
  ok(http_route_add(hs, "GET", "/wslater", h_ws_later, NULL, 0) == 0, "route ws taken later");
  ok(http_route_add(hs, "GET", "bad", h_echo, NULL, 0) == KDS_EINVAL, "bad pattern refused");
  ok(http_server_listen(hs, "127.0.0.1", 0, &port) == 0 && port > 0, "listening on port %d", port);
  ok(http_server_listen(hs, "127.0.0.1", 0, NULL) == KDS_ESTATE, "second listen refused");

  /* A second server: limits on connections and a CORS allow-list. */
  http_options_default(&o);
  o.max_conns = 2;
  o.cors_origins = "https://a.example, http://b.example:8080";
  ok(http_server_new_opts(&loop, NULL, &o, &hs2) == 0, "server 2 created");
  ok(server_routes_add(&product, hs2) == 0, "server 2: product routes");
  ok(http_server_listen(hs2, "127.0.0.1", 0, &port2) == 0, "server 2 listening");
}

static void on_tick(uv_timer_t *t) {
  (void)t;
}

/* ---- tests ------------------------------------------------------------------------------ */

static const char *scripts[] = {
    "GET /echo/x?q=1 HTTP/1.1\r\nHost: a\r\nX-Test: v\r\n\r\n",
    "POST /echo/y HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhelloGET /echo/z HTTP/1.1\r\nHost: "
    "a\r\n\r\n",
    "POST /echo/c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nX-Test: t\r\n\r\n"
    "5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\n\r\n",
    "GET /nope HTTP/1.1\r\nHost: a\r\n\r\nHEAD /echo/h HTTP/1.1\r\nHost: a\r\n\r\nGET /echo/after "
    "HTTP/1.1\r\nHost: a\r\n\r\n",
};
static const int script_resps[] = {1, 2, 1, 3};
static const unsigned script_head[] = {0, 0, 0, 2};

static int same_resps(const resp *a, const resp *b, int n) {
  for (int i = 0; i < n; i++) {
    if (a[i].status != b[i].status || a[i].body_len != b[i].body_len ||
        memcmp(a[i].body, b[i].body, a[i].body_len) != 0)
      return 0;
  }
  return 1;
}

static void t_splits(void) {
  for (size_t s = 0; s < sizeof(scripts) / sizeof(scripts[0]); s++) {
    const char *req = scripts[s];
    size_t len = strlen(req);
    int n = script_resps[s], bad = 0, bytewise_ok;
    resp *want = calloc((size_t)n, sizeof(resp)), *got = calloc((size_t)n, sizeof(resp));
    client cl;
    cl_open(&cl, port);
    cl_send(&cl, req, len);
    ok(wait_resps(&cl, want, n, script_head[s]) == n, "script %zu: %d answers in one piece", s, n);
    cl_close(&cl);
    for (size_t k = 1; k < len; k++) {
      cl_open(&cl, port);
      cl_send(&cl, req, k);
      cl_send(&cl, req + k, len - k);
      if (wait_resps(&cl, got, n, script_head[s]) != n || !same_resps(want, got, n)) {
        if (!bad) printf("# script %zu split at %zu differs\n", s, k);
        bad++;
      }
      cl_close(&cl);
    }
    ok(bad == 0, "script %zu: every 2-split of %zu bytes gives the same answers", s, len);
    cl_open(&cl, port);
    for (size_t k = 0; k < len; k++) cl_send(&cl, req + k, 1);
    bytewise_ok = wait_resps(&cl, got, n, script_head[s]) == n && same_resps(want, got, n);
    ok(bytewise_ok, "script %zu: one byte at a time", s);
    cl_close(&cl);
    free(want);
    free(got);
  }
}

static void t_requests(void) {
  resp r[4];
  client cl;
  ok(one_shot("GET /echo/x?q=a%20b+c&q=2&z HTTP/1.1\r\nHost: a\r\nX-TEST: Hi\r\n\r\n", r, 0) == 1,
     "echo answered");
  ok(r[0].status == 200, "200");
  ok(strcmp(r[0].body,
            "method=GET path=/echo/x dpath=/echo/x query=q=a%20b+c&q=2&z a=x q=a b c body= x=Hi ka=1") == 0,
     "request parts (got '%s')", r[0].body);
  ok(strcmp(resp_header(&r[0], "Content-Type"), "text/plain") == 0, "content type as given");
  ok(strcmp(resp_header(&r[0], "X-Echo"), "1") == 0, "extra headers passed");
  ok(strcmp(resp_header(&r[0], "Connection"), "keep-alive") == 0, "keep-alive by default in 1.1");
  ok(resp_header(&r[0], "Date")[0] != '\0', "Date header");
  ok(resp_header(&r[0], "Access-Control-Allow-Origin")[0] == '\0', "no CORS header without Origin");

  ok(one_shot("GET /echo/a%2Fb%20c?x=1 HTTP/1.1\r\nHost: a\r\n\r\n", r, 0) == 1, "encoded param");
  ok(strstr(r[0].body, "path=/echo/a%2Fb%20c dpath=/echo/a/b c query=x=1 a=a/b c q=(none)") != NULL,
     "params decoded after matching; query absent (got '%s')", r[0].body);

  ok(one_shot("GET http://example.com/echo/abs?q=2 HTTP/1.1\r\nHost: example.com\r\n\r\n", r, 0) == 1,
     "absolute-form target");
  ok(strstr(r[0].body, "path=/echo/abs ") != NULL && strstr(r[0].body, "q=2") != NULL,
     "absolute-form path (got '%s')", r[0].body);

  ok(one_shot("GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n", r, 0) == 1 && r[0].status == 200, "healthz 200");
  ok(strcmp(r[0].body, "{\"status\":\"ok\"}") == 0, "healthz body");
  ok(strcmp(resp_header(&r[0], "Content-Type"), "application/json; charset=utf-8") == 0, "healthz type");

  ok(one_shot("GET /nope/x HTTP/1.1\r\nHost: a\r\n\r\n", r, 0) == 1 && r[0].status == 404, "404");
  ok(strcmp(r[0].body, "{\"error\":{\"code\":\"not_found\",\"message\":\"GET /nope/x not found\"}}") == 0,
     "404 JSON (got %s)", r[0].body);
  ok(one_shot("DELETE /echo HTTP/1.1\r\nHost: a\r\n\r\n", r, 0) == 1 && r[0].status == 404,
     "DELETE unknown: 404");
  ok(strstr(r[0].body, "\"DELETE /echo not found\"") != NULL, "404 names the method");

  ok(one_shot("PUT /echo/1 HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nab", r, 0) == 1 &&
         r[0].status == 405,
     "405");
  ok(strcmp(resp_header(&r[0], "Allow"), "GET, POST") == 0, "Allow (got '%s')", resp_header(&r[0], "Allow"));
  ok(strcmp(r[0].body,
            "{\"error\":{\"code\":\"method_not_allowed\",\"message\":\"PUT is not allowed here "
            "(allowed: GET, POST)\"}}") == 0,
     "405 JSON (got %s)", r[0].body);
  ok(strcmp(resp_header(&r[0], "Connection"), "keep-alive") == 0, "405 keeps the connection");

  ok(one_shot("POST /healthz HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n", r, 0) == 1 &&
         r[0].status == 405 && strcmp(resp_header(&r[0], "Allow"), "GET") == 0,
     "POST /healthz: 405 Allow GET");

  ok(one_shot("GET /error HTTP/1.1\r\nHost: a\r\n\r\n", r, 0) == 1 && r[0].status == 429,
     "error reply status");
  ok(strcmp(r[0].body,
            "{\"error\":{\"code\":\"rate_limited\",\"message\":\"too many requests; try again in 7 s\","
            "\"field\":\"items[2].qty\",\"current_status\":\"ready\"}}") == 0,
     "error JSON with field and current_status (got %s)", r[0].body);
  ok(strcmp(resp_header(&r[0], "Retry-After"), "7") == 0, "Retry-After");

  ok(one_shot("HEAD /echo/h HTTP/1.1\r\nHost: a\r\n\r\n", r, 1) == 1 && r[0].status == 200,
     "HEAD on a GET route");
  ok(atoi(resp_header(&r[0], "Content-Length")) > 0 && r[0].body_len == 0, "HEAD: length, no body");
  ok(one_shot("HEAD /nope HTTP/1.1\r\nHost: a\r\n\r\n", r, 1) == 1 && r[0].status == 404 &&
         r[0].body_len == 0,
     "HEAD 404");

  /* keep-alive: three requests one after the other on one connection */
  cl_open(&cl, port);
  for (int i = 0; i < 3; i++) {
    char line[64];
    snprintf(line, sizeof(line), "GET /echo/k%d HTTP/1.1\r\nHost: a\r\n\r\n", i);
    cl_sends(&cl, line);
    ok(wait_resps(&cl, r, i + 1, 0) == i + 1 && r[i].status == 200, "keep-alive request %d", i);
  }
  ok(!cl.eof, "connection still open");
  ok(http_server_conn_count(hs) == 1, "one connection open on the server");
  cl_close(&cl);

  /* HTTP/1.0 and Connection: close end the connection after the answer */
  cl_open(&cl, port);
  cl_sends(&cl, "GET /echo/old HTTP/1.0\r\n\r\n");
  ok(wait_resps(&cl, r, 1, 0) == 1 && strcmp(resp_header(&r[0], "Connection"), "close") == 0, "1.0: close");
  ok(run_until(p_eof, &cl, 3000), "1.0: server closed");
  cl_close(&cl);
  cl_open(&cl, port);
  cl_sends(&cl,
           "GET /echo/c HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\nGET /echo/never HTTP/1.1\r\nHost: "
           "a\r\n\r\n");
  ok(run_until(p_eof, &cl, 3000), "Connection: close: server closed");
  ok(parse_resps(&cl.rx, r, 4, 0) == 1 && strstr(r[0].body, "a=c ") != NULL,
     "exactly one answer after close");
  cl_close(&cl);
  cl_open(&cl, port);
  cl_sends(&cl, "GET /echo/ka HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
  ok(wait_resps(&cl, r, 1, 0) == 1 && strcmp(resp_header(&r[0], "Connection"), "keep-alive") == 0,
     "1.0 with keep-alive stays open");
  cl_close(&cl);
}

static void t_pipelining(void) {
  resp r[5];
  client cl;
  cl_open(&cl, port);
  cl_sends(&cl,
           "GET /async/60 HTTP/1.1\r\nHost: a\r\n\r\nGET /async/1 HTTP/1.1\r\nHost: a\r\n\r\nGET /echo/third "
           "HTTP/1.1\r\nHost: a\r\n\r\n"
           "POST /echo/fourth HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabcGET /async/5 "
           "HTTP/1.1\r\nHost: a\r\n\r\n");
  ok(wait_resps(&cl, r, 5, 0) == 5, "five pipelined answers");
  ok(strcmp(r[0].body, "async 60") == 0 && strcmp(r[1].body, "async 1") == 0, "slow one first, in order");
  ok(strstr(r[2].body, "a=third") != NULL && strstr(r[3].body, "a=fourth") && strstr(r[3].body, "body=abc"),
     "sync answers after the async ones");
  ok(strcmp(r[4].body, "async 5") == 0, "last async in place");
  ok(!cl.eof, "connection kept");
  cl_close(&cl);
}

/* Pipelined requests cut anywhere across reads while the first one waits for its answer:
 * what is read meanwhile is kept by the connection (the server's read buffer is reused by
 * the next read of any connection), then parsed in order once the answer is out. */
static void t_pipelining_split(void) {
  static const char *parts[] = {
      "GET /async/40 HTTP/1.1\r\nHost: a\r\n\r\nGET /echo/p1 HT",
      "TP/1.1\r\nHost: a\r\n\r\nPOST /echo/p2 HTTP/1.1\r\nHost: a\r\nContent-Le",
      "ngth: 4\r\n\r\nwx",
      "yzGET /async/30 HTTP/1.1\r\nHost: a\r\n\r\n", /* ends with the request: nothing kept */
      "GET /echo/p3 HTTP/1.1\r\nHost: a\r\n",        /* read while /async/30 waits */
      "\r\n",
  };
  resp r[6];
  client cl, other;
  cl_open(&cl, port);
  cl_open(&other, port);
  for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
    cl_sends(&cl, parts[i]);
    cl_sends(&other, "GET /echo/other HTTP/1.1\r\nHost: a\r\n\r\n"); /* reuses the read buffer */
  }
  ok(wait_resps(&cl, r, 5, 0) == 5, "five answers to requests split across six reads");
  ok(strcmp(r[0].body, "async 40") == 0 && strstr(r[1].body, "a=p1 ") != NULL &&
         strstr(r[2].body, "a=p2 ") != NULL && strstr(r[2].body, "body=wxyz") != NULL &&
         strcmp(r[3].body, "async 30") == 0 && strstr(r[4].body, "a=p3 ") != NULL,
     "in order, bodies whole (got '%s' '%s' '%s' '%s' '%s')", r[0].body, r[1].body, r[2].body, r[3].body,
     r[4].body);
  ok(wait_resps(&other, r, 6, 0) == 6 && strstr(r[5].body, "a=other ") != NULL,
     "the other connection's answers meanwhile");
  ok(!cl.eof, "connection kept");
  cl_close(&other);
  cl_close(&cl);
}

static void t_cors(void) {
  resp r[2];
  client cl;
  ok(one_shot("OPTIONS /api/v1/orders HTTP/1.1\r\nHost: a\r\nOrigin: http://x.example\r\n"
              "Access-Control-Request-Method: POST\r\n\r\n",
              r, 0) == 1,
     "preflight answered");
  ok(r[0].status == 204 && r[0].body_len == 0, "preflight 204");
  ok(strcmp(resp_header(&r[0], "Access-Control-Allow-Origin"), "*") == 0, "ACAO *");
  ok(strcmp(resp_header(&r[0], "Access-Control-Allow-Methods"), "GET, POST, PATCH, DELETE") == 0, "methods");
  ok(strcmp(resp_header(&r[0], "Access-Control-Allow-Headers"),
            "Authorization, Content-Type, Idempotency-Key") == 0,
     "headers");
  ok(strcmp(resp_header(&r[0], "Access-Control-Max-Age"), "600") == 0, "max age");
  ok(resp_header(&r[0], "Content-Length")[0] == '\0', "no Content-Length on 204");
  ok(one_shot("GET /nope HTTP/1.1\r\nHost: a\r\nOrigin: http://x.example\r\n\r\n", r, 0) == 1 &&
         strcmp(resp_header(&r[0], "Access-Control-Allow-Origin"), "*") == 0 &&
         strcmp(resp_header(&r[0], "Access-Control-Expose-Headers"), "Retry-After, Idempotent-Replayed") == 0,
     "CORS headers on errors too");

  /* server 2: an allow-list */
  cl_open(&cl, port2);
  cl_sends_nowait(&cl, "GET /healthz HTTP/1.1\r\nHost: a\r\nOrigin: https://a.example\r\n\r\n");
  ok(wait_resps(&cl, r, 1, 0) == 1 &&
         strcmp(resp_header(&r[0], "Access-Control-Allow-Origin"), "https://a.example") == 0,
     "listed origin echoed");
  ok(strcmp(resp_header(&r[0], "Vary"), "Origin") == 0, "Vary: Origin");
  kds_buf_reset(&cl.rx);
  cl_sends_nowait(&cl, "GET /healthz HTTP/1.1\r\nHost: a\r\nOrigin: https://evil.example\r\n\r\n");
  ok(wait_resps(&cl, r, 1, 0) == 1 && r[0].status == 200 &&
         resp_header(&r[0], "Access-Control-Allow-Origin")[0] == 0,
     "unlisted origin: no ACAO");
  cl_close(&cl);

  /* SPEC 11.26: /socket.io/ answers as socket.io's cors does. */
  ok(one_shot(
         "OPTIONS /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: a\r\nOrigin: http://x.example\r\n"
         "Access-Control-Request-Method: GET\r\nAccess-Control-Request-Headers: x-custom, X-Tenant\r\n\r\n",
         r, 0) == 1 &&
         r[0].status == 204,
     "socket.io preflight: 204");
  ok(strcmp(resp_header(&r[0], "Access-Control-Allow-Headers"), "x-custom, X-Tenant") == 0,
     "socket.io preflight echoes the requested headers (got '%s')",
     resp_header(&r[0], "Access-Control-Allow-Headers"));
  ok(ci_strstr(r[0].head, "\r\nVary: Access-Control-Request-Headers\r\n") != NULL, "and varies on them");
  ok(strcmp(resp_header(&r[0], "Access-Control-Allow-Origin"), "*") == 0, "ACAO * with the default list");
  ok(resp_header(&r[0], "Access-Control-Allow-Credentials")[0] == '\0', "no credentials with *");
  ok(strstr(resp_header(&r[0], "Access-Control-Allow-Methods"), "POST") != NULL, "methods include POST");
  ok(one_shot(
         "OPTIONS /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: a\r\nOrigin: http://x.example\r\n"
         "Access-Control-Request-Headers: a\r\nAccess-Control-Request-Headers: b\r\n\r\n",
         r, 0) == 1 &&
         strcmp(resp_header(&r[0], "Access-Control-Allow-Headers"), "a, b") == 0,
     "repeated Access-Control-Request-Headers are joined");
  ok(one_shot("OPTIONS /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: a\r\nOrigin: "
              "http://x.example\r\n\r\n",
              r, 0) == 1 &&
         r[0].status == 204 && resp_header(&r[0], "Access-Control-Allow-Headers")[0] == '\0',
     "nothing asked: no Allow-Headers");
  ok(one_shot("OPTIONS /api/v1/orders HTTP/1.1\r\nHost: a\r\nOrigin: http://x.example\r\n"
              "Access-Control-Request-Headers: x-custom\r\n\r\n",
              r, 0) == 1 &&
         strcmp(resp_header(&r[0], "Access-Control-Allow-Headers"),
                "Authorization, Content-Type, Idempotency-Key") == 0,
     "REST keeps its fixed list (SPEC 11.6)");
  cl_open(&cl, port2);
  cl_sends_nowait(
      &cl,
      "OPTIONS /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: a\r\nOrigin: https://a.example\r\n"
      "Access-Control-Request-Method: POST\r\nAccess-Control-Request-Headers: x-custom\r\n\r\n");
  ok(wait_resps(&cl, r, 1, 0) == 1 && r[0].status == 204 &&
         strcmp(resp_header(&r[0], "Access-Control-Allow-Origin"), "https://a.example") == 0,
     "explicit list: socket.io preflight echoes the origin");
  ok(strcmp(resp_header(&r[0], "Access-Control-Allow-Credentials"), "true") == 0, "with credentials");
  ok(ci_strstr(r[0].head, "\r\nVary: Origin\r\n") != NULL, "Vary: Origin");
  ok(strcmp(resp_header(&r[0], "Access-Control-Allow-Headers"), "x-custom") == 0,
     "and the headers asked for");
  kds_buf_reset(&cl.rx);
  cl_sends_nowait(
      &cl,
      "GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: a\r\nOrigin: https://a.example\r\n\r\n");
  ok(wait_resps(&cl, r, 1, 0) == 1 &&
         strcmp(resp_header(&r[0], "Access-Control-Allow-Credentials"), "true") == 0 &&
         ci_strstr(r[0].head, "\r\nVary: Origin\r\n") != NULL,
     "explicit list: every /socket.io/ answer carries credentials and Vary");
  kds_buf_reset(&cl.rx);
  cl_sends_nowait(&cl, "GET /healthz HTTP/1.1\r\nHost: a\r\nOrigin: https://a.example\r\n\r\n");
  ok(wait_resps(&cl, r, 1, 0) == 1 && resp_header(&r[0], "Access-Control-Allow-Credentials")[0] == '\0',
     "REST answers carry no credentials grant");
  cl_close(&cl);
}

static void t_json_body(void) {
  resp r[1];
  struct {
    const char *req;
    int status;
    const char *body;
  } cases[] = {
      {"POST /json HTTP/1.1\r\nHost: a\r\n\r\n", 400, "a JSON body is required"},
      {"POST /json HTTP/1.1\r\nHost: a\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\n{}", 415,
       "Content-Type must be application/json"},
      {"POST /json HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\n{}", 415,
       "Content-Type must be application/json"},
      {"POST /json HTTP/1.1\r\nHost: a\r\nContent-Type: application/json; charset=latin1\r\nContent-Length: "
       "2\r\n\r\n{}",
       415, "unsupported charset"},
      {"POST /json HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\nContent-Length: 5\r\n\r\n{\"a\":",
       400, "the body is not valid JSON"},
      {"POST /json HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\nContent-Length: 5\r\n\r\n{} {}",
       400, "the body is not valid JSON"},
      {"POST /json HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\nContent-Length: 5\r\n\r\n[1,2]",
       400, "the body must be a JSON object"},
      {"POST /json HTTP/1.1\r\nHost: a\r\nContent-Type: Application/JSON; Charset=UTF-8\r\nContent-Length: "
       "9\r\n\r\n{\"a\":1}\r\n",
       200, "{\"a\":1}"},
      {"POST /json HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\nContent-Length: 0\r\n\r\n", 200,
       "{}"},
      {"POST /json HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\nTransfer-Encoding: "
       "chunked\r\n\r\n"
       "3\r\n{\"b\r\n4\r\n\":2}\r\n0\r\n\r\n",
       200, "{\"b\":2}"},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    int n = one_shot(cases[i].req, r, 0);
    ok(n == 1 && r[0].status == cases[i].status && strstr(r[0].body, cases[i].body) != NULL,
       "json case %zu: %d %s (got %d %s)", i, cases[i].status, cases[i].body, n ? r[0].status : 0,
       n ? r[0].body : "");
  }
}

static void t_limits(void) {
  resp r[2];
  client cl;
  kds_buf big = KDS_BUF_INIT;

  ok(one_shot("GARBAGE\r\n\r\n", r, 0) == 1 && r[0].status == 400, "bad request line: 400");
  ok(strstr(r[0].body, "\"code\":\"bad_request\"") != NULL, "400 JSON");
  ok(one_shot("GET /echo/x HTTP/9.9\r\n\r\n", r, 0) == 1 && r[0].status == 400, "bad version: 400");
  ok(one_shot("GET /echo/x HTTP/1.1\r\nHost: a\r\nNoColon\r\n\r\n", r, 0) == 1 && r[0].status == 400,
     "header line without a colon: 400");
  ok(one_shot("GET /echo/x HTTP/1.1\r\nHost: a\r\nX-A: \001\r\n\r\n", r, 0) == 1 && r[0].status == 400,
     "control character in a header value: 400");
  ok(one_shot("GET no-slash HTTP/1.1\r\nHost: a\r\n\r\n", r, 0) == 1 && r[0].status == 400,
     "bad target: 400");
  ok(one_shot(
         "POST /echo/x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n", r,
         0) == 1 &&
         r[0].status == 400,
     "bad chunk size: 400");
  ok(one_shot("POST /echo/x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXX0\r\n\r\n",
              r, 0) == 1 &&
         r[0].status == 400 && strstr(r[0].body, "CRLF") != NULL,
     "chunk data not followed by CRLF: 400 (%s)", r[0].body);
  {
    client cl2;
    static const char smuggle[] =
        "POST /echo/x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\rX0\r\n\r\n";
    cl_open(&cl2, port);
    for (size_t k = 0; k < sizeof(smuggle) - 1; k++) cl_send(&cl2, smuggle + k, 1);
    ok(wait_resps(&cl2, r, 1, 0) == 1 && r[0].status == 400, "bad CRLF after chunk data, byte by byte: 400");
    cl_close(&cl2);
  }
  ok(one_shot("POST /echo/x HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", r, 0) ==
             1 &&
         r[0].status == 400,
     "two Content-Lengths: 400");
  ok(one_shot("POST /echo/x HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: "
              "chunked\r\n\r\n0\r\n\r\n",
              r, 0) == 1 &&
         r[0].status == 400,
     "Content-Length with chunked: 400");

  /* 431: more than 16 KiB of headers, the connection closes after the answer */
  kds_buf_adds(&big, "GET /echo/x HTTP/1.1\r\nHost: a\r\n");
  for (int i = 0; i < 400; i++) kds_buf_addf(&big, "X-Filler-%03d: %040d\r\n", i, i);
  kds_buf_adds(&big, "\r\n");
  cl_open(&cl, port);
  cl_send(&cl, big.base, big.len);
  ok(wait_resps(&cl, r, 1, 0) == 1 && r[0].status == 431, "huge headers: 431");
  ok(strstr(r[0].body, "\"code\":\"headers_too_large\"") != NULL, "431 JSON (%s)", r[0].body);
  ok(run_until(p_eof, &cl, 3000), "431 closes");
  cl_close(&cl);
  kds_buf_reset(&big);
  kds_buf_adds(&big, "GET /");
  for (int i = 0; i < 20000; i++) kds_buf_addc(&big, 'a');
  cl_open(&cl, port);
  cl_send(&cl, big.base, big.len);
  ok(wait_resps(&cl, r, 1, 0) == 1 && r[0].status == 431, "huge request line without end: 431");
  cl_close(&cl);

  /* 413: by Content-Length (before the body) and by counting a chunked body */
  ok(one_shot("POST /echo/x HTTP/1.1\r\nHost: a\r\nContent-Length: 65\r\n\r\n", r, 0) == 1 &&
         r[0].status == 413,
     "Content-Length over the limit: 413");
  ok(strcmp(r[0].body,
            "{\"error\":{\"code\":\"payload_too_large\",\"message\":\"the body is larger than 64 "
            "bytes\"}}") == 0,
     "413 JSON (%s)", r[0].body);
  ok(strcmp(resp_header(&r[0], "Connection"), "close") == 0, "413 closes");
  kds_buf_reset(&big);
  kds_buf_adds(&big, "POST /echo/x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n");
  for (int i = 0; i < 10; i++) kds_buf_adds(&big, "a\r\n0123456789\r\n");
  kds_buf_adds(&big, "0\r\n\r\n");
  cl_open(&cl, port);
  cl_send(&cl, big.base, big.len);
  ok(wait_resps(&cl, r, 1, 0) == 1 && r[0].status == 413, "chunked body over the limit: 413");
  ok(run_until(p_eof, &cl, 3000), "and the connection closes");
  cl_close(&cl);
  ok(one_shot("POST /big HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\n"
              "0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123"
              "456789",
              r, 0) == 1 &&
         r[0].status == 200,
     "a route's own max_body allows more");
  ok(one_shot("POST /big HTTP/1.1\r\nHost: a\r\nContent-Length: 201\r\n\r\n", r, 0) == 1 &&
         r[0].status == 413 && strstr(r[0].body, "200 bytes") != NULL,
     "and limits at its own value");
  ok(one_shot("POST /echo/x HTTP/1.1\r\nHost: a\r\nContent-Length: 64\r\n\r\n"
              "0123456789012345678901234567890123456789012345678901234567890123",
              r, 0) == 1 &&
         r[0].status == 200,
     "exactly at the limit: fine");

  /* 100-continue */
  cl_open(&cl, port);
  cl_sends(&cl, "POST /echo/e HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n");
  ok(wait_resps(&cl, r, 1, 0) == 1 && r[0].status == 100, "100 Continue");
  cl_sends(&cl, "ok");
  ok(wait_resps(&cl, r, 2, 0) == 2 && r[1].status == 200 && strstr(r[1].body, "body=ok"), "then the answer");
  cl_close(&cl);
  kds_buf_release(&big);
}

/* SPEC 11.27 and the HTTP/2 preface: what an HTTP/1.1 server must refuse, each with a JSON
 * error and a close; plus the comma-separated token match of Connection/Upgrade. */
static void t_strict(void) {
  resp r[2];
  client cl;
  static const struct {
    const char *req;
    int status;
    const char *code;
  } refused[] = {
      {"GET /echo/x HTTP/1.1\r\n\r\n", 400, "bad_request"},
      {"GET /echo/x HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400, "bad_request"},
      {"GET /echo/x HTTP/1.1\r\nHost: a\r\nExpect: foo\r\n\r\n", 417, "expectation_failed"},
      {"POST /echo/x HTTP/1.1\r\nHost: a\r\nExpect: 200-ok\r\nContent-Length: 2\r\n\r\nab", 417,
       "expectation_failed"},
      {"POST /echo/x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", 501, "not_implemented"},
      {"POST /echo/x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 501,
       "not_implemented"},
      {"POST /echo/x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity\r\n\r\n", 501, "not_implemented"},
      {"POST /echo/x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n", 400,
       "bad_request"},
      {"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505, "http_version_not_supported"},
      {"GET /echo/x HTTP/2.0\r\nHost: a\r\n\r\n", 505, "http_version_not_supported"},
  };
  for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
    char code[80];
    int n;
    snprintf(code, sizeof(code), "\"code\":\"%s\"", refused[i].code);
    cl_open(&cl, port);
    cl_sends(&cl, refused[i].req);
    n = wait_resps(&cl, r, 1, 0);
    ok(n == 1 && r[0].status == refused[i].status && strstr(r[0].body, code) != NULL,
       "strict %zu: %d %s (got %d %s)", i, refused[i].status, refused[i].code, n ? r[0].status : 0,
       n ? r[0].body : "");
    ok(n == 1 && strstr(r[0].body, "Pause") == NULL && strstr(r[0].body, "llhttp") == NULL,
       "strict %zu: no parser wording", i);
    ok(run_until(p_eof, &cl, 3000) && strcmp(resp_header(&r[0], "Connection"), "close") == 0,
       "strict %zu: the connection closes", i);
    cl_close(&cl);
  }
  ok(one_shot("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", r, 0) == 1 && strstr(r[0].body, "HTTP/2") != NULL,
     "the preface answer says HTTP/2 is not supported (%s)", r[0].body);

  /* what stays accepted */
  ok(one_shot("GET /echo/x HTTP/1.0\r\n\r\n", r, 0) == 1 && r[0].status == 200, "HTTP/1.0 needs no Host");
  ok(one_shot("GET /echo/x HTTP/1.0\r\nExpect: foo\r\n\r\n", r, 0) == 1 && r[0].status == 200,
     "HTTP/1.0: an expectation is ignored (RFC 9110 10.1.1)");
  ok(one_shot("GET /echo/x HTTP/1.1\r\nHost:\r\n\r\n", r, 0) == 1 && r[0].status == 200,
     "an empty Host is a Host (RFC 9112 3.2)");
  ok(one_shot("POST /echo/x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n", r,
              0) == 1 &&
         r[0].status == 200 && strstr(r[0].body, "body=ok") != NULL,
     "chunked in any case");
  cl_open(&cl, port);
  cl_sends(&cl, "POST /echo/e HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\nContent-Length: 2\r\n\r\n");
  ok(wait_resps(&cl, r, 1, 0) == 1 && r[0].status == 100, "100-continue in any case");
  cl_sends(&cl, "ok");
  ok(wait_resps(&cl, r, 2, 0) == 2 && r[1].status == 200, "then the answer");
  cl_close(&cl);

  /* tokens: whole comma-separated items, not substrings */
  ok(http_token_has((kds_slice){"websocket", 9}, "websocket"), "token: alone");
  ok(http_token_has((kds_slice){"h2c, WebSocket ", 15}, "websocket"), "token: in a list, any case, blanks");
  ok(http_token_has((kds_slice){"keep-alive,Upgrade", 18}, "upgrade"), "token: after a comma");
  ok(!http_token_has((kds_slice){"notwebsocket", 12}, "websocket"), "token: not a suffix");
  ok(!http_token_has((kds_slice){"websocketx", 10}, "websocket"), "token: not a prefix");
  ok(!http_token_has((kds_slice){"web socket", 10}, "websocket"), "token: not split");
  ok(!http_token_has((kds_slice){NULL, 0}, "websocket"), "token: absent header");
  ok(!http_token_has((kds_slice){"", 0}, "websocket"), "token: empty header");
  ok(one_shot("GET /ws/x HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: notwebsocket\r\n\r\n", r,
              0) == 1 &&
         r[0].status == 426,
     "Upgrade: notwebsocket is no WebSocket upgrade (got %d)", r[0].status);
  ok(one_shot("GET /ws/x HTTP/1.1\r\nHost: a\r\nConnection: notupgrade\r\nUpgrade: websocket\r\n\r\n", r,
              0) == 1 &&
         r[0].status == 426,
     "Connection: notupgrade is no upgrade (got %d)", r[0].status);
  taken = 0;
  cl_open(&cl, port);
  cl_sends(
      &cl,
      "GET /ws/x HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, Upgrade\r\nUpgrade: h2c, websocket\r\n\r\n");
  for (int i = 0; i < 200 && taken == 0; i++) uv_run(&loop, UV_RUN_ONCE);
  ok(taken == 1, "Connection: keep-alive, Upgrade + Upgrade: h2c, websocket is one");
  cl_close(&cl);
  taken = 0;
}

static void t_timeouts(void) {
  resp r[1];
  client cl;
  cl_open(&cl, port);
  ok(run_until(p_eof, &cl, 3000), "silent connection closed by the header timeout");
  ok(cl.rx.len == 0, "without an answer");
  cl_close(&cl);
  cl_open(&cl, port);
  cl_sends(&cl, "GET /echo/slow HTTP/1.1\r\nHost: a\r\n");
  ok(run_until(p_eof, &cl, 3000), "partial headers: closed by the header timeout");
  ok(parse_resps(&cl.rx, r, 1, 0) == 1 && r[0].status == 408, "with 408");
  cl_close(&cl);
  cl_open(&cl, port);
  cl_sends(&cl, "POST /echo/slow HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nabc");
  ok(run_until(p_eof, &cl, 3000), "partial body: closed by the body timeout");
  ok(parse_resps(&cl.rx, r, 1, 0) == 1 && r[0].status == 408, "with 408");
  cl_close(&cl);
  cl_open(&cl, port);
  cl_sends(&cl, "GET /echo/idle HTTP/1.1\r\nHost: a\r\n\r\n");
  ok(wait_resps(&cl, r, 1, 0) == 1, "answered");
  ok(run_until(p_eof, &cl, 3000), "then closed by the idle timeout");
  cl_close(&cl);
}

static int p_held(void *a) {
  (void)a;
  return held != NULL;
}
static int p_held_closed(void *a) {
  (void)a;
  return held_closed > 0;
}

static int p_to_abort(void *a) {
  (void)a;
  return to_abort != NULL;
}

/* http_req_abort: the connection closes without an answer, inside the handler or later;
 * the request is freed, its on_close does not run, and nothing is left behind. */
static void t_abort(void) {
  client cl;
  size_t reqs = hs->live_reqs, conns = http_server_conn_count(hs);
  cl_open(&cl, port);
  cl_sends(&cl, "GET /abort/now HTTP/1.1\r\nHost: a\r\n\r\nGET /echo/next HTTP/1.1\r\nHost: a\r\n\r\n");
  ok(run_until(p_eof, &cl, 3000) && cl.rx.len == 0, "inside the handler: closed, no answer (%zu bytes)",
     cl.rx.len);
  ok(hs->live_reqs == reqs, "the request was freed (and the pipelined one dropped)");
  cl_close(&cl);

  cl_open(&cl, port);
  cl_sends(&cl, "GET /abort/later HTTP/1.1\r\nHost: a\r\n\r\n");
  ok(run_until(p_to_abort, NULL, 3000) && !http_req_gone(to_abort), "the handler holds the request");
  http_req_abort(to_abort);
  to_abort = held = NULL;
  ok(run_until(p_eof, &cl, 3000) && cl.rx.len == 0, "later: closed, no answer");
  ok(held_closed == 0, "the request's on_close did not run");
  ok(hs->live_reqs == reqs && http_server_conn_count(hs) == conns, "request and connection gone");
  cl_close(&cl);

  /* the client left first: abort only frees */
  cl_open(&cl, port);
  cl_sends(&cl, "GET /abort/later HTTP/1.1\r\nHost: a\r\n\r\n");
  run_until(p_to_abort, NULL, 3000);
  cl_close(&cl);
  ok(run_until(p_held_closed, NULL, 3000) && http_req_gone(to_abort), "client gone, on_close ran");
  http_req_abort(to_abort);
  to_abort = held = NULL;
  held_closed = 0;
  ok(hs->live_reqs == reqs, "abort after the client left frees the request");
  http_req_abort(NULL);
}

static void cl_shutdown_done(uv_shutdown_t *sr, int status) {
  (void)status;
  free(sr);
}

static void t_long_poll(void) {
  client cl;
  resp r[1];
  cl_open(&cl, port);
  cl_sends(&cl, "GET /hold HTTP/1.1\r\nHost: a\r\n\r\n");
  ok(run_until(p_held, NULL, 3000), "handler holds the request");
  ok(!http_req_gone(held), "client there");
  cl_close(&cl);
  ok(run_until(p_held_closed, NULL, 3000) && held_closed == 1, "on_close ran once when the client left");
  ok(http_req_gone(held), "gone");
  ok(http_req_on_close(held, held_gone, NULL) == KDS_ECLOSED, "on_close refused once gone");
  {
    int rc = http_reply(held, 200, NULL, NULL, "late", 4);
    ok(rc == 0 || rc == KDS_ECLOSED, "late reply frees (written to a closed peer or dropped: %d)", rc);
  }
  held = NULL;
  held_closed = 0;

  /* half-close: the client sends its request and shuts down writing; the answer still comes */
  cl_open(&cl, port);
  cl_sends(&cl, "GET /async/30 HTTP/1.1\r\nHost: a\r\n\r\n");
  {
    uv_shutdown_t *sr = calloc(1, sizeof(*sr));
    uv_shutdown(sr, (uv_stream_t *)&cl.tcp, cl_shutdown_done);
  }
  ok(run_until(p_eof, &cl, 3000), "closed after the answer");
  ok(parse_resps(&cl.rx, r, 1, 0) == 1 && strcmp(r[0].body, "async 30") == 0,
     "answer delivered to a half-closed client");
  cl_close(&cl);
}

static int p_no_conns(void *a) {
  (void)a;
  return http_server_conn_count(hs) == 0;
}

static void t_upgrade(void) {
  client cl;
  resp r[1];
  static const char sw[] =
      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n";
  cl_open(&cl, port);
  cl_sends(&cl,
           "GET /echo/first HTTP/1.1\r\nHost: a\r\n\r\n"
           "GET /ws/x HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\nHEAD-BYTES");
  ok(wait_resps(&cl, r, 1, 0) == 1 && r[0].status == 200, "request before the upgrade answered");
  {
    const char *after = strstr(cl.rx.base, "\r\n\r\n") + 4 + r[0].body_len;
    size_t want = strlen(sw) + 10;
    for (int i = 0; i < 100 && (size_t)(cl.rx.base + cl.rx.len - after) < want; i++)
      uv_run(&loop, UV_RUN_ONCE);
    after = strstr(cl.rx.base, "\r\n\r\n") + 4 + r[0].body_len;
    ok((size_t)(cl.rx.base + cl.rx.len - after) == want && memcmp(after, sw, strlen(sw)) == 0 &&
           memcmp(after + strlen(sw), "HEAD-BYTES", 10) == 0,
       "101 then the bytes read past the request, handed to the new owner");
  }
  ok(taken == 1, "stream taken");
  ok(run_until(p_no_conns, NULL, 3000), "the upgraded connection is no longer an HTTP connection");
  kds_buf_reset(&cl.rx);
  cl_send_nowait(&cl, "more", 4);
  for (int i = 0; i < 200 && cl.rx.len < 4; i++) uv_run(&loop, UV_RUN_ONCE);
  ok(cl.rx.len == 4 && memcmp(cl.rx.base, "more", 4) == 0, "the new owner reads and writes the socket");
  cl_close(&cl);

  /* Taken after on_read returned: the bytes that came with the request, and the ones of a
   * later read, both reach the new owner. */
  cl_open(&cl, port);
  cl_sends(&cl,
           "GET /wslater HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\nHEAD-1");
  ok(ws_later != NULL, "upgrade request waits for its handler");
  cl_sends(&cl, "HEAD-2");
  /* another connection's read in between reuses the read buffer */
  ok(one_shot("GET /echo/between HTTP/1.1\r\nHost: a\r\n\r\n", r, 0) == 1 && r[0].status == 200,
     "another connection answered meanwhile");
  ws_take(ws_later);
  ws_later = NULL;
  {
    size_t want = strlen(sw) + 12;
    for (int i = 0; i < 200 && cl.rx.len < want; i++) uv_run(&loop, UV_RUN_ONCE);
    ok(cl.rx.len == want && memcmp(cl.rx.base, sw, strlen(sw)) == 0 &&
           memcmp(cl.rx.base + strlen(sw), "HEAD-1HEAD-2", 12) == 0,
       "101 then every byte read before the late hand-off (got %zu bytes)", cl.rx.len);
  }
  ok(taken == 2, "second stream taken");
  cl_close(&cl);

  ok(one_shot("GET /ws/x HTTP/1.1\r\nHost: a\r\n\r\n", r, 0) == 1 && r[0].status == 426,
     "a plain GET on the prefix: handler's answer");
  ok(one_shot("GET /echo/x HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n", r, 0) == 1 &&
         r[0].status == 200 && strcmp(resp_header(&r[0], "Connection"), "close") == 0,
     "an upgrade nobody takes: answered, then closed");
}

static void t_static(void) {
  resp r[1];
  kds_buf out = KDS_BUF_INIT;
  static const char *refused[] = {
      "/../outside.txt",
      "/%2e%2e/outside.txt",
      "/%2E%2E/outside.txt",
      "/..%2foutside.txt",
      "/sub/..%2f..%2foutside.txt",
      "/sub/%2e%2e/%2e%2e/outside.txt",
      "/.secret",
      "/%2esecret",
      "/app.js%00",
      "/app.js%00.html",
      "//etc/passwd",
      "/sub/../app.js",
      "/sub%2fapp.js",
      "/sub%5capp.js",
      "/link.txt",
      "/%zz",
      "/app.js%",
      "/./app.js",
      "/..\\outside.txt",
  };
  for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
    char req[256];
    snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: a\r\n\r\n", refused[i]);
    if (one_shot(req, r, 0) == 1) {
      ok((r[0].status == 404 || r[0].status == 400) && strstr(r[0].body, "OUTSIDE") == NULL &&
             strstr(r[0].body, "dotfile") == NULL && strstr(r[0].body, "console") == NULL,
         "refused: %s (%d)", refused[i], r[0].status);
    } else {
      ok(0, "refused: %s (no answer)", refused[i]);
    }
  }
  ok(one_shot("GET / HTTP/1.1\r\nHost: a\r\n\r\n", r, 0) == 1 && r[0].status == 200 &&
         strcmp(r[0].body, "<h1>index</h1>") == 0,
     "/ serves index.html");
  ok(strcmp(resp_header(&r[0], "Content-Type"), "text/html; charset=utf-8") == 0, "html type");
  ok(resp_header(&r[0], "Last-Modified")[0] != '\0', "Last-Modified");
  ok(one_shot("GET /app.js?v=1 HTTP/1.1\r\nHost: a\r\n\r\n", r, 0) == 1 && r[0].status == 200 &&
         strcmp(r[0].body, "console.log(1)") == 0 &&
         strcmp(resp_header(&r[0], "Content-Type"), "text/javascript; charset=utf-8") == 0,
     "app.js with its type");
  ok(one_shot("HEAD /app.js HTTP/1.1\r\nHost: a\r\n\r\n", r, 1) == 1 && r[0].status == 200 &&
         atoi(resp_header(&r[0], "Content-Length")) == 14 && r[0].body_len == 0,
     "HEAD on a file");
  ok(one_shot("GET /%61pp.js HTTP/1.1\r\nHost: a\r\n\r\n", r, 0) == 1 && r[0].status == 200,
     "encoded letters decoded");
  ok(one_shot("GET /sub HTTP/1.1\r\nHost: a\r\n\r\n", r, 0) == 1 && r[0].status == 301 &&
         strcmp(resp_header(&r[0], "Location"), "/sub/") == 0,
     "folder without slash: 301 to the slash");
  ok(one_shot("GET /sub/ HTTP/1.1\r\nHost: a\r\n\r\n", r, 0) == 1 && r[0].status == 200 &&
         strcmp(r[0].body, "sub index") == 0,
     "folder index");
  ok(one_shot("POST /app.js HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n", r, 0) == 1 &&
         r[0].status == 404,
     "POST on a file: 404 (as express.static)");
  ok(one_shot("GET /missing.css HTTP/1.1\r\nHost: a\r\n\r\n", r, 0) == 1 && r[0].status == 404 &&
         strstr(r[0].body, "\"GET /missing.css not found\""),
     "missing file: 404 JSON");

  ok(static_resolve(&site->files, kds_slice_of("/app.js"), &out) == 0 && strstr(out.base, "/public/app.js"),
     "resolve: a file");
  ok(static_resolve(&site->files, kds_slice_of("/link.txt"), &out) == KDS_EINVAL,
     "resolve: symlink out refused");
  ok(static_resolve(&site->files, kds_slice_of("/%2e%2e/x"), &out) == KDS_EINVAL,
     "resolve: encoded dots refused");
  ok(static_resolve(&site->files, kds_slice_of("/nothing"), &out) == KDS_ENOTFOUND, "resolve: missing");
  ok(static_resolve(&site->files, kds_slice_of("relative"), &out) == KDS_EINVAL, "resolve: relative refused");
  ok(strcmp(static_content_type("a/b.PNG"), "image/png") == 0, "type by extension, any case");
  ok(strcmp(static_content_type("a.d/b"), "application/octet-stream") == 0, "no extension");
  kds_buf_release(&out);

  ok(one_shot("GET /socket.io/socket.io.js HTTP/1.1\r\nHost: a\r\n\r\n", r, 0) == 1 && r[0].status == 200 &&
         strcmp(resp_header(&r[0], "Content-Type"), "application/javascript; charset=utf-8") == 0,
     "socket.io.js from the client folder");
  ok(atoi(resp_header(&r[0], "Content-Length")) > 10000, "the whole bundle (%s bytes)",
     resp_header(&r[0], "Content-Length"));
  ok(one_shot("GET /socket.io/socket.io.min.js.map HTTP/1.1\r\nHost: a\r\n\r\n", r, 0) == 1 &&
         r[0].status == 200 &&
         strcmp(resp_header(&r[0], "Content-Type"), "application/json; charset=utf-8") == 0,
     "its source map");
  ok(one_shot("GET /vendor/chart.umd.js HTTP/1.1\r\nHost: a\r\n\r\n", r, 0) == 1 && r[0].status == 200 &&
         strcmp(resp_header(&r[0], "Content-Type"), "application/javascript; charset=utf-8") == 0 &&
         atoi(resp_header(&r[0], "Content-Length")) > 10000,
     "chart.umd.js from the chart.js folder (%s bytes)", resp_header(&r[0], "Content-Length"));
  ok(one_shot("GET /vendor/chart.umd.js.map HTTP/1.1\r\nHost: a\r\n\r\n", r, 0) == 1 && r[0].status == 200,
     "and its source map");
}

static void t_metrics(void) {
  resp r[1];
  ok(one_shot("GET /metrics HTTP/1.1\r\nHost: a\r\n\r\n", r, 0) == 1 && r[0].status == 200, "metrics 200");
  ok(strcmp(resp_header(&r[0], "Content-Type"), "text/plain; version=0.0.4; charset=utf-8") == 0,
     "metrics type");
  ok(strstr(r[0].body, "# TYPE kds_http_requests_total counter\n") != NULL, "requests family");
  ok(strstr(r[0].body, "kds_http_requests_total{code=\"404\"} ") != NULL, "404s counted");
  ok(strstr(r[0].body, "kds_orders_created_total 0\n") != NULL, "fixed counters at 0");
  ok(strstr(r[0].body, "kds_order_status_changes_total{status=\"ready\"} 0\n") != NULL, "labelled series");
  ok(strstr(r[0].body, "kds_http_connections 1\n") != NULL, "open connections gauge");
  metrics_reg_add(product.metrics, METRICS_ORDERS_CREATED, 3);
  ok(metrics_reg_get(product.metrics, METRICS_ORDERS_CREATED) == 3, "counter added");
  metrics_inc(NULL, METRICS_ORDERS_CREATED);
  ok(1, "metrics_inc(NULL) is a no-op");
}

static void t_max_conns(void) {
  client a, b, c;
  resp r[1];
  cl_open(&a, port2);
  cl_open(&b, port2);
  cl_open(&c, port2);
  ok(run_until(p_eof, &c, 3000), "third connection over the limit of 2 is closed");
  cl_sends_nowait(&a, "GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n");
  ok(wait_resps(&a, r, 1, 0) == 1 && r[0].status == 200, "the first still works");
  cl_close(&c);
  cl_close(&b);
  cl_close(&a);
}

static int closed_cb_ran;
static void on_hs_closed(http_server_t *s) {
  (void)s;
  closed_cb_ran++;
}
static int p_closed_cb(void *a) {
  return closed_cb_ran >= *(int *)a;
}

static void t_close(void) {
  client cl, idle;
  resp r[1];
  int two = 2;
  cl_open(&idle, port);
  cl_open(&cl, port);
  cl_sends(&cl, "GET /async/50 HTTP/1.1\r\nHost: a\r\n\r\n");
  http_server_close(hs, on_hs_closed);
  http_server_close(hs, on_hs_closed); /* idempotent */
  ok(run_until(p_eof, &idle, 3000), "idle connection closed at once");
  ok(run_until(p_eof, &cl, 3000), "busy connection closed after its answer");
  ok(parse_resps(&cl.rx, r, 1, 0) == 1 && strcmp(r[0].body, "async 50") == 0 &&
         strcmp(resp_header(&r[0], "Connection"), "close") == 0,
     "in-flight answer delivered with Connection: close");
  cl_close(&cl);
  cl_close(&idle);
  http_server_close(hs2, on_hs_closed);
  ok(run_until(p_closed_cb, &two, 3000) && closed_cb_ran == 2, "close callbacks ran once each");
}

static void walk_cb(uv_handle_t *h, void *arg) {
  (*(int *)arg)++;
  if (!uv_is_closing(h)) uv_close(h, NULL);
}

int main(void) {
  int left = 0;
  setup();
  uv_timer_start(&tick, on_tick, 10, 10);
  subtest("splits", t_splits);
  subtest("requests", t_requests);
  subtest("pipelining", t_pipelining);
  subtest("pipelining split across reads", t_pipelining_split);
  subtest("cors", t_cors);
  subtest("json body", t_json_body);
  subtest("limits", t_limits);
  subtest("strict", t_strict);
  subtest("timeouts", t_timeouts);
  subtest("long poll", t_long_poll);
  subtest("abort", t_abort);
  subtest("upgrade", t_upgrade);
  subtest("static", t_static);
  subtest("metrics", t_metrics);
  subtest("max conns", t_max_conns);
  subtest("close", t_close);
  uv_close((uv_handle_t *)&tick, NULL);
  uv_run(&loop, UV_RUN_DEFAULT);
  uv_walk(&loop, walk_cb, &left);
  uv_run(&loop, UV_RUN_DEFAULT);
  ok(left == 0, "nothing left on the loop (%d handles)", left);
  ok(uv_loop_close(&loop) == 0, "loop closes");
  static_site_free(site);
  metrics_free(product.metrics);
  {
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) printf("# could not remove %s\n", tmpdir);
  }
  return done_testing();
}
