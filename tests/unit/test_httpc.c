/* Unit tests for shared/net/httpc.c against a scripted HTTP server on loopback (same loop). */
#include "test.h"
#include "test_loop.h"

#include "err.h"
#include "httpc.h"
#include "buf.h"

static uv_tcp_t listener;
static int port, nconns;

/* ---- the scripted server ---------------------------------------------------------------- */

typedef struct sconn {
  uv_tcp_t tcp;
  int id;
  int served;
  kds_buf in;
} sconn;

static void s_closed(uv_handle_t *h) {
  sconn *c = h->data;
  kds_buf_release(&c->in);
  free(c);
}

static void s_close(sconn *c) {
  if (!uv_is_closing((uv_handle_t *)&c->tcp)) uv_close((uv_handle_t *)&c->tcp, s_closed);
}

static void s_written(uv_write_t *w, int status) {
  free(w);
}

static void s_write(sconn *c, const char *data, size_t len) {
  uv_write_t *w = malloc(sizeof(*w) + len);
  uv_buf_t b = uv_buf_init((char *)(w + 1), (unsigned)len);
  memcpy(w + 1, data, len);
  uv_write(w, (uv_stream_t *)&c->tcp, &b, 1, s_written);
}

static void s_reply(sconn *c, const char *extra, const char *body, size_t len) {
  kds_buf b = KDS_BUF_INIT;
  kds_buf_addf(&b, "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n%s\r\n", len, extra ? extra : "");
  kds_buf_add(&b, body, len);
  s_write(c, b.base, b.len);
  kds_buf_release(&b);
}

/* Handles one complete request at the front of c->in; returns 0 if incomplete. */
static int s_handle(sconn *c) {
  char *end = c->in.base ? strstr(c->in.base, "\r\n\r\n") : NULL, *cl, path[128] = "", method[16] = "";
  size_t head, body_len = 0, total;
  kds_buf b = KDS_BUF_INIT;
  if (!end) return 0;
  head = (size_t)(end - c->in.base) + 4;
  cl = strstr(c->in.base, "Content-Length: ");
  if (cl && cl < end) body_len = (size_t)atol(cl + 16);
  total = head + body_len;
  if (c->in.len < total) return 0;
  sscanf(c->in.base, "%15s %127s", method, path);
  c->served++;
  if (strcmp(path, "/hello") == 0) {
    s_reply(c, "X-Test: yes\r\n", "hello", 5);
  } else if (strcmp(path, "/conn") == 0) {
    kds_buf_addf(&b, "conn %d", c->id);
    s_reply(c, NULL, b.base, b.len);
  } else if (strcmp(path, "/echo") == 0) {
    char ct[64] = "";
    char *p = strstr(c->in.base, "Content-Type: ");
    if (p && p < end) sscanf(p + 14, "%63[^\r]", ct);
    kds_buf_addf(&b, "X-CT: %s\r\nX-Method: %s\r\n", ct, method);
    s_reply(c, b.base, c->in.base + head, body_len);
  } else if (strcmp(path, "/chunked") == 0) {
    const char *r =
        "HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nchunk\r\n3\r\ned!\r\n0\r\n\r\n";
    s_write(c, r, strlen(r));
  } else if (strcmp(path, "/close") == 0) {
    s_reply(c, "Connection: close\r\n", "bye", 3);
    s_close(c);
  } else if (strcmp(path, "/eof") == 0) {
    const char *r = "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil-eof";
    s_write(c, r, strlen(r));
    s_close(c);
  } else if (strcmp(path, "/stale") == 0) {
    if (c->served > 1) { /* a reused connection: act as if it had timed out just now */
      s_close(c);
      kds_buf_release(&b);
      return 0;
    }
    s_reply(c, NULL, "fresh", 5);
  } else if (strcmp(path, "/big") == 0) {
    char big[2000];
    memset(big, 'b', sizeof(big));
    s_reply(c, NULL, big, sizeof(big));
  } else if (strcmp(path, "/garbage") == 0) {
    s_write(c, "NOT HTTP AT ALL\r\n\r\n", 19);
  } else if (strcmp(path, "/hang") == 0) {
    /* never answers */
  } else {
    s_write(c, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n", 45);
  }
  kds_buf_consume(&c->in, total);
  kds_buf_release(&b);
  return 1;
}

static void s_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b) {
  sconn *c = s->data;
  if (n < 0) {
    s_close(c);
    return;
  }
  kds_buf_add(&c->in, b->base, (size_t)n);
  while (!uv_is_closing((uv_handle_t *)&c->tcp) && s_handle(c)) {
  }
}

static void s_on_conn(uv_stream_t *l, int status) {
  sconn *c = calloc(1, sizeof(*c));
  uv_tcp_init(loop, &c->tcp);
  c->tcp.data = c;
  c->id = ++nconns;
  uv_accept(l, (uv_stream_t *)&c->tcp);
  uv_read_start((uv_stream_t *)&c->tcp, test_alloc, s_read);
}

static void s_listen(void) {
  struct sockaddr_in a;
  struct sockaddr_storage got;
  int len = sizeof(got);
  uv_tcp_init(loop, &listener);
  uv_ip4_addr("127.0.0.1", 0, &a);
  uv_tcp_bind(&listener, (const struct sockaddr *)&a, 0);
  uv_listen((uv_stream_t *)&listener, 16, s_on_conn);
  uv_tcp_getsockname(&listener, (struct sockaddr *)&got, &len);
  port = ntohs(((struct sockaddr_in *)&got)->sin_port);
}

/* ---- results ------------------------------------------------------------------------------- */

typedef struct result {
  int done, err, status;
  char body[4096];
  size_t len;
  char hdr[64];
  int order;
} result;

static int order_counter;

static void on_resp(void *ud, int err, const httpc_response *r) {
  result *res = ud;
  res->done = 1;
  res->err = err;
  res->order = ++order_counter;
  if (r) {
    size_t n;
    const char *h;
    res->status = r->status;
    res->len = r->body_len;
    snprintf(res->body, sizeof(res->body), "%.*s", (int)r->body_len, r->body);
    h = httpc_header(r, "x-test", &n);
    if (!h) h = httpc_header(r, "X-CT", &n);
    if (h) snprintf(res->hdr, sizeof(res->hdr), "%.*s", (int)n, h);
  }
}

/* ---- tests -------------------------------------------------------------------------------- */

static void t_basic(void) {
  httpc_t *c = httpc_new(loop, "127.0.0.1", port, NULL);
  result r1 = {0}, r2 = {0}, r3 = {0};
  ok(c != NULL, "client");
  ok(httpc_request(c, "GET", "/hello", NULL, NULL, 0, on_resp, &r1) == 0 && !r1.done,
     "queued, no callback inside");
  run_until(&r1.done, 3000);
  ok(r1.err == 0 && r1.status == 200 && strcmp(r1.body, "hello") == 0 && strcmp(r1.hdr, "yes") == 0,
     "GET: %d %s, header %s", r1.status, r1.body, r1.hdr);
  nconns = 0;
  httpc_request(c, "GET", "/conn", NULL, NULL, 0, on_resp, &r2);
  run_until(&r2.done, 3000);
  ok(r2.err == 0 && strcmp(r2.body, "conn 1") == 0 && nconns == 0, "keep-alive: the same connection (%s)",
     r2.body);
  httpc_request(c, "POST", "/echo", "Authorization: Bearer t\r\n", "{\"a\":1}", 7, on_resp, &r3);
  run_until(&r3.done, 3000);
  ok(r3.err == 0 && strcmp(r3.body, "{\"a\":1}") == 0 && strcmp(r3.hdr, "application/json") == 0,
     "POST JSON echoed with Content-Type %s", r3.hdr);
  ok(httpc_pending(c) == 0, "nothing pending");
  httpc_free(c);
  run_for(20);
}

static void t_framing(void) {
  httpc_t *c = httpc_new(loop, "localhost", port, NULL);
  result r[6];
  memset(r, 0, sizeof(r));
  order_counter = 0;
  nconns = 0;
  /* all queued at once: FIFO on one connection, reconnecting where the server closed */
  httpc_request(c, "GET", "/chunked", NULL, NULL, 0, on_resp, &r[0]);
  httpc_request(c, "GET", "/close", NULL, NULL, 0, on_resp, &r[1]);
  httpc_request(c, "GET", "/conn", NULL, NULL, 0, on_resp, &r[2]);
  httpc_request(c, "GET", "/eof", NULL, NULL, 0, on_resp, &r[3]);
  httpc_request(c, "PUT", "/echo", "Content-Type: text/plain\r\n", "xyz", 3, on_resp, &r[4]);
  httpc_request(c, "GET", "/nope", NULL, NULL, 0, on_resp, &r[5]);
  ok(httpc_pending(c) == 6, "six pending");
  run_until(&r[5].done, 5000);
  ok(r[0].err == 0 && r[0].status == 201 && strcmp(r[0].body, "chunked!") == 0, "chunked body: %s",
     r[0].body);
  ok(r[1].err == 0 && strcmp(r[1].body, "bye") == 0, "Connection: close honoured");
  ok(r[2].err == 0 && strcmp(r[2].body, "conn 2") == 0, "next request on a new connection: %s", r[2].body);
  ok(r[3].err == 0 && strcmp(r[3].body, "until-eof") == 0, "body delimited by EOF");
  ok(r[4].err == 0 && strcmp(r[4].body, "xyz") == 0 && strcmp(r[4].hdr, "text/plain") == 0,
     "own Content-Type kept");
  ok(r[5].err == 0 && r[5].status == 404 && r[5].len == 0, "404 is a response, not an error");
  int in_order = 1;
  for (int i = 0; i < 6; i++) in_order &= r[i].order == i + 1;
  ok(in_order, "answered in order");
  httpc_free(c);
  run_for(20);
}

static void t_errors(void) {
  httpc_opts o = {300, 1000, NULL};
  httpc_t *c = httpc_new(loop, "127.0.0.1", port, &o);
  result r[8];
  memset(r, 0, sizeof(r));
  httpc_request(c, "GET", "/hang", NULL, NULL, 0, on_resp, &r[0]);
  run_until(&r[0].done, 3000);
  ok(r[0].err == UV_ETIMEDOUT, "timeout: %s", kds_strerror(r[0].err));
  httpc_request(c, "GET", "/big", NULL, NULL, 0, on_resp, &r[1]);
  run_until(&r[1].done, 3000);
  ok(r[1].err == KDS_ETOOBIG, "body over max_body: %s", kds_strerror(r[1].err));
  httpc_request(c, "GET", "/garbage", NULL, NULL, 0, on_resp, &r[2]);
  run_until(&r[2].done, 3000);
  ok(r[2].err == KDS_EPROTO, "not HTTP: %s", kds_strerror(r[2].err));
  /* a keep-alive connection the server dropped as we reused it: GET is retried, POST not */
  httpc_request(c, "GET", "/stale", NULL, NULL, 0, on_resp, &r[3]);
  run_until(&r[3].done, 3000);
  httpc_request(c, "GET", "/stale", NULL, NULL, 0, on_resp, &r[4]);
  run_until(&r[4].done, 3000);
  ok(r[3].err == 0 && r[4].err == 0 && strcmp(r[4].body, "fresh") == 0, "GET retried on a fresh connection");
  httpc_request(c, "POST", "/stale", NULL, "{}", 2, on_resp, &r[5]);
  run_until(&r[5].done, 3000);
  ok(r[5].err == UV_EOF, "POST not retried: %s", kds_strerror(r[5].err));
  ok(httpc_request(c, "GET", NULL, NULL, NULL, 0, on_resp, &r[6]) == KDS_EINVAL, "bad arguments refused");
  httpc_request(c, "GET", "/hang", NULL, NULL, 0, on_resp, &r[6]);
  httpc_request(c, "GET", "/hello", NULL, NULL, 0, on_resp, &r[7]);
  run_for(30);
  httpc_free(c);
  ok(!r[6].done && !r[7].done, "free: no callback inside");
  run_until(&r[7].done, 1000);
  ok(r[6].err == UV_ECANCELED && r[7].err == UV_ECANCELED, "free: pending requests cancelled");
  ok(httpc_new(loop, "", 80, NULL) == NULL && httpc_new(loop, "x", 0, NULL) == NULL, "bad host/port refused");
}

static void t_refused(void) {
  result r = {0}, r2 = {0};
  httpc_t *c;
  uv_close((uv_handle_t *)&listener, NULL);
  run_for(10);
  c = httpc_new(loop, "127.0.0.1", port, NULL);
  httpc_request(c, "GET", "/hello", NULL, NULL, 0, on_resp, &r);
  httpc_request(c, "GET", "/hello", NULL, NULL, 0, on_resp, &r2);
  run_until(&r2.done, 3000);
  ok(r.err == UV_ECONNREFUSED && r2.err == UV_ECONNREFUSED, "refused: %s", kds_strerror(r.err));
  httpc_free(c);
  run_for(20);
}

int main(void) {
  test_loop_start(60000, NULL);
  s_listen();
  subtest("basic", t_basic);
  subtest("framing", t_framing);
  subtest("errors", t_errors);
  subtest("refused", t_refused);
  test_loop_finish();
  return done_testing();
}
