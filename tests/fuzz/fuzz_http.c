/* fuzz_http: kds-server's HTTP request path (server/http/http.c): llhttp and its callbacks,
 * limits, routing, keep-alive and pipelining, chunked bodies, the reply writer, the
 * upgrade hand-off and the JSON body reader (http_req_json_body: the strict grammar,
 * UTF-8 clean-up, cJSON, repeated keys). Per input: a fresh loop and server whose listener
 * is an abstract unix socket (the accept path is the real one; http.c is included to set
 * the listener up), one client connection written in chunks (the first 4 bytes give the
 * sizes, 1..256, used in turn; each chunk is read by the server before the next), then the
 * client half-closes and the loop runs until the connection is gone and the server freed.
 * Routes: POST /json (body reader, 4 KiB limit), * /echo/:a/ * (params, query, headers),
 * GET /async (answered on a later loop iteration, or when the client leaves), GET /ws
 * (upgrade: takes the stream and closes it), * /abort (http_req_abort). An even first chunk
 * size (first byte odd) turns --trust-proxy on: the peer address from X-Forwarded-For. */
#include "../../server/http/http.c"

#include <errno.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "fuzz.h"

static uv_idle_t async_idle;
static http_req_t *async_req; /* the one deferred request (one connection per input) */

static void on_json(http_req_t *req, void *ud) {
  cJSON *json = NULL;
  kds_err err;
  char *text;
  kds_err_clear(&err);
  if (http_req_json_body(req, &json, &err) != 0) {
    fuzz_check(err.status == 400 || err.status == 415, "json body: 400 or 415");
    http_reply_error(req, &err);
    return;
  }
  fuzz_check(cJSON_IsObject(json), "json body: an object");
  text = cJSON_PrintUnformatted(json);
  fuzz_check(text != NULL, "json body: prints");
  http_reply_json(req, 200, NULL, text, strlen(text));
  free(text);
  cJSON_Delete(json);
}

static void on_echo(http_req_t *req, void *ud) {
  kds_buf b = KDS_BUF_INIT, v = KDS_BUF_INIT;
  int n = http_req_param_count(req);
  /* --trust-proxy: whatever X-Forwarded-For said, the peer is a terminated address */
  fuzz_check(memchr(req->peer, '\0', sizeof(req->peer)) != NULL, "peer terminated");
  for (int i = 0; i < n; i++) {
    kds_slice p = http_req_param(req, i);
    kds_buf_addf(&b, "p%d=%.*s\n", i, (int)p.len, p.ptr);
  }
  if (http_req_query(req, "q", &v) == 0) kds_buf_addf(&b, "q=%.*s\n", (int)v.len, v.base);
  if (http_req_header_joined(req, "x-a", &v) == 1) kds_buf_addf(&b, "x-a=%.*s\n", (int)v.len, v.base);
  kds_buf_addf(&b, "path=%.*s body=%zu\n", (int)req->decoded_path.len, req->decoded_path.ptr, req->body.len);
  http_reply(req, 200, "text/plain", NULL, b.base, b.len);
  kds_buf_release(&b);
  kds_buf_release(&v);
}

static void async_answer(void) {
  http_req_t *req = async_req;
  async_req = NULL;
  uv_idle_stop(&async_idle);
  if (req) http_reply(req, 200, "text/plain", NULL, "later", 5);
}

static void on_async_idle(uv_idle_t *h) {
  async_answer();
}

static void on_async_gone(http_req_t *req, void *ud) {
  async_answer();
}

static void on_async(http_req_t *req, void *ud) {
  fuzz_check(async_req == NULL, "one unanswered request per connection");
  async_req = req;
  http_req_on_close(req, on_async_gone, NULL);
  uv_idle_start(&async_idle, on_async_idle);
}

static void on_taken_close(uv_handle_t *h) {
  free(h);
}

static void on_ws(http_req_t *req, void *ud) {
  uv_tcp_t *tcp;
  kds_buf head = KDS_BUF_INIT;
  if (!req->upgrade) {
    kds_err err;
    kds_err_set(&err, 400, "bad_request", NULL, "not an upgrade");
    http_reply_error(req, &err);
    return;
  }
  if (http_req_take_stream(req, &tcp, &head) == 0)
    uv_close((uv_handle_t *)tcp, on_taken_close);
  else
    http_reply(req, 500, NULL, NULL, NULL, 0);
  kds_buf_release(&head);
}

static void on_abort(http_req_t *req, void *ud) {
  http_req_abort(req);
}

static int server_done;
static void on_closed(http_server_t *server) {
  server_done = 1;
}

/* The listener: an abstract unix socket set up as http_server_listen sets up its TCP one. */
static int listen_unix(http_server_t *server, struct sockaddr_un *sa, socklen_t *salen) {
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  memset(sa, 0, sizeof(*sa));
  sa->sun_family = AF_UNIX;
  snprintf(sa->sun_path + 1, sizeof(sa->sun_path) - 1, "kds-fuzz-http-%d", (int)getpid());
  *salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + strlen(sa->sun_path + 1));
  if (fd < 0 || bind(fd, (struct sockaddr *)sa, *salen) != 0) return -1;
  if (uv_tcp_init(server->loop, &server->listener) != 0) return -1;
  server->listener.data = server;
  server->listener_init = 1;
  server->handles++;
  if (uv_tcp_open(&server->listener, fd) != 0) return -1;
  if (uv_listen((uv_stream_t *)&server->listener, 8, http__on_connection) != 0) return -1;
  server->listening = 1;
  return 0;
}

static void drain(int fd) {
  char buf[16384];
  while (read(fd, buf, sizeof(buf)) > 0) {
  }
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  signal(SIGPIPE, SIG_IGN);
  kds_log_set(KDS_LOG_ERROR); /* warnings about refused input are expected */
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fuzz_in in = {data, size};
  unsigned chunk[4];
  uv_loop_t loop;
  http_options opt;
  http_server_t *server;
  struct sockaddr_un sa;
  socklen_t salen;
  int fd, k = 0;

  for (int i = 0; i < 4; i++) chunk[i] = fuzz_u8(&in) + 1;
  fuzz_check(uv_loop_init(&loop) == 0, "uv_loop_init");
  uv_idle_init(&loop, &async_idle);
  http_options_default(&opt);
  opt.trust_proxy = (chunk[0] & 1) == 0; /* an even first size: the peer from X-Forwarded-For */
  fuzz_check(http_server_new_opts(&loop, NULL, &opt, &server) == 0, "server");
  fuzz_check(http_route_add(server, "POST", "/json", on_json, NULL, 4096) == 0 &&
                 http_route_add(server, "*", "/echo/:a/*", on_echo, NULL, 0) == 0 &&
                 http_route_add(server, "GET", "/async", on_async, NULL, 0) == 0 &&
                 http_route_add(server, "GET", "/ws", on_ws, NULL, 0) == 0 &&
                 http_route_add(server, "*", "/abort", on_abort, NULL, 0) == 0,
             "routes");
  fuzz_check(listen_unix(server, &sa, &salen) == 0, "listen");
  fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  fuzz_check(fd >= 0 && connect(fd, (struct sockaddr *)&sa, salen) == 0, "connect");
  for (int i = 0; i < 100 && server->nconns == 0; i++) uv_run(&loop, UV_RUN_NOWAIT);
  fuzz_check(server->nconns == 1, "accepted");

  while (in.n > 0 && server->nconns > 0) {
    const uint8_t *part;
    size_t len = fuzz_bytes(&in, chunk[k++ & 3], &part), off = 0;
    int tries = 0;
    while (off < len && tries++ < 1000 && server->nconns > 0) {
      ssize_t w = write(fd, part + off, len - off);
      if (w > 0)
        off += (size_t)w;
      else if (w < 0 && errno != EAGAIN)
        break; /* the server closed the connection */
      drain(fd);
      uv_run(&loop, UV_RUN_NOWAIT);
    }
    drain(fd);
    uv_run(&loop, UV_RUN_NOWAIT);
  }

  shutdown(fd, SHUT_WR);
  for (int i = 0; i < 1000 && (server->live_conns > 0 || server->live_reqs > 0); i++) {
    drain(fd);
    uv_run(&loop, UV_RUN_NOWAIT);
  }
  fuzz_check(server->live_conns == 0 && server->live_reqs == 0, "connection and requests freed after EOF");
  close(fd);
  server_done = 0;
  http_server_close(server, on_closed);
  uv_close((uv_handle_t *)&async_idle, NULL);
  uv_run(&loop, UV_RUN_DEFAULT);
  fuzz_check(server_done, "server closed");
  fuzz_check(uv_loop_close(&loop) == 0, "nothing left open on the loop");
  return 0;
}
