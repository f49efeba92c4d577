/* fuzz_ws: the WebSocket driver's input side (shared/net/ws.h): the fast path, the header
 * tracker and wslay together, as a server connection sees a client. Per input: a fresh uv
 * loop, a hub and a server ws_t on one end of a socketpair; the other end writes the frames.
 * The input starts with a settings byte (bit 0: echo every message back, bit 1: close from
 * inside on_message, bit 2: a 64-byte max_message, bit 3: ping the peer first), then four
 * chunk sizes (1..256 bytes each, used in turn) that cut the rest into writes; each write
 * is read by the server before the next one. Then the peer half-closes, the loop runs
 * until the connection reports on_close and the hub is freed: anything still allocated is
 * a leak (LeakSanitizer), anything still open fails uv_loop_close. */
#include <errno.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include "err.h"
#include "fuzz.h"
#include "ws.h"

typedef struct conn {
  ws_t *ws;
  int closed, echo, close_on_message;
  size_t messages;
} conn;

static void on_message(ws_t *ws, int opcode, const char *data, size_t len) {
  conn *c = ws_data(ws);
  fuzz_check(opcode == WS_TEXT || opcode == WS_BINARY, "message: text or binary");
  c->messages++;
  if (c->echo) ws_send(ws, opcode, data, len);
  if (c->close_on_message) ws_close(ws, WS_CLOSE_NORMAL, "bye");
}

static void on_close(ws_t *ws, const ws_close_info *info) {
  conn *c = ws_data(ws);
  fuzz_check(!c->closed, "on_close exactly once");
  c->closed = 1;
  c->ws = NULL;
}

static void on_pong(ws_t *ws, const char *data, size_t len) {
  fuzz_check(len <= 125, "pong payload <= 125 bytes");
}

static const ws_callbacks cbs = {on_message, on_close, on_pong};

static void on_pipe_close(uv_handle_t *h) {
  (void)h;
}

/* Reads and drops what the server sends, so that it never blocks on a full socket. */
static void drain(int fd) {
  char buf[4096];
  while (read(fd, buf, sizeof(buf)) > 0) {
  }
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  signal(SIGPIPE, SIG_IGN); /* the server may write after the peer closed */
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fuzz_in in = {data, size};
  unsigned flags = fuzz_u8(&in), chunk[4];
  uv_loop_t loop;
  uv_pipe_t pipe;
  ws_hub_t *hub;
  ws_config cfg;
  conn c;
  int fds[2], k = 0;

  for (int i = 0; i < 4; i++) chunk[i] = fuzz_u8(&in) + 1;
  memset(&c, 0, sizeof(c));
  c.echo = flags & 1;
  c.close_on_message = (flags >> 1) & 1;
  fuzz_check(uv_loop_init(&loop) == 0, "uv_loop_init");
  fuzz_check(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds) == 0, "socketpair");
  hub = ws_hub_new(&loop);
  fuzz_check(hub != NULL, "hub");
  uv_pipe_init(&loop, &pipe, 0);
  fuzz_check(uv_pipe_open(&pipe, fds[0]) == 0, "uv_pipe_open");
  memset(&cfg, 0, sizeof(cfg));
  cfg.role = WS_ROLE_SERVER;
  cfg.hub = hub;
  cfg.cb = &cbs;
  cfg.data = &c;
  cfg.max_message = (flags & 4) ? 64 : 0;
  fuzz_check(ws_start(&c.ws, (uv_stream_t *)&pipe, &cfg, NULL, 0, NULL, 0) == 0, "ws_start");
  if (flags & 8) ws_ping(c.ws, "p", 1);
  uv_run(&loop, UV_RUN_NOWAIT);

  while (in.n > 0 && !c.closed) {
    const uint8_t *part;
    size_t len = fuzz_bytes(&in, chunk[k++ & 3], &part), off = 0;
    int tries = 0;
    while (off < len && tries++ < 1000) {
      ssize_t w = write(fds[1], part + off, len - off);
      if (w > 0)
        off += (size_t)w;
      else if (w < 0 && errno != EAGAIN)
        break; /* the server closed its end */
      drain(fds[1]);
      uv_run(&loop, UV_RUN_NOWAIT);
    }
    drain(fds[1]);
    uv_run(&loop, UV_RUN_NOWAIT);
  }

  /* The peer leaves: EOF ends a connection in any state (open, closing, draining). */
  shutdown(fds[1], SHUT_WR);
  for (int i = 0; i < 1000 && !c.closed; i++) {
    drain(fds[1]);
    uv_run(&loop, UV_RUN_NOWAIT);
  }
  fuzz_check(c.closed, "connection ends after the peer's EOF");
  close(fds[1]);
  ws_hub_free(hub);
  uv_run(&loop, UV_RUN_DEFAULT);
  if (!uv_is_closing((uv_handle_t *)&pipe)) uv_close((uv_handle_t *)&pipe, on_pipe_close);
  uv_run(&loop, UV_RUN_DEFAULT);
  fuzz_check(uv_loop_close(&loop) == 0, "nothing left open on the loop");
  return 0;
}
