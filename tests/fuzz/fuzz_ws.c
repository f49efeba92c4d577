/* fuzz_ws: WebSocket input, first to the sans-I/O frame code alone (shared/ws_frame.h), then
 * to the driver (shared/net/ws.h: the fast path, the header tracker and wslay together, as a
 * server connection sees a client).
 * The input starts with a settings byte (bit 0: echo every message back, bit 1: close from
 * inside on_message, bit 2: a 64-byte max_message, bit 3: ping the peer first), then four
 * chunk sizes (1..256 bytes each, used in turn) that cut the rest (the stream) into pieces.
 * Sans-I/O, no loop: the stream is walked header by header (ws_frame_parse_header: every
 * prefix of a good header needs more, a good header re-encodes to the same bytes, unmasking in
 * pieces equals unmasking whole) and fed to a ws_frame_tracker whole and in the chunks (the
 * same first verdict, the same close code). Driver: a fresh uv loop, a hub and a server ws_t
 * on one end of a socketpair; the other end writes the chunks, each read by the server before
 * the next one. Then the peer half-closes, the loop runs until the connection reports
 * on_close and the hub is freed: anything still allocated is a leak (LeakSanitizer), anything
 * still open fails uv_loop_close. */
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

/* Walks the stream header by header, skipping payloads. */
static void frames_walk(const uint8_t *p, size_t n) {
  size_t off = 0;
  while (off < n) {
    ws_frame_header h;
    ssize_t r = ws_frame_parse_header(p + off, n - off, &h);
    uint8_t enc[WS_FRAME_MAX_HEADER];
    size_t elen, plen;
    if (r == KDS_EAGAIN) break;
    if (r < 0) {
      fuzz_check(r == KDS_EPROTO, "parse: bytes, need-more or bad input");
      off++; /* resynchronise anywhere: every offset is some header */
      continue;
    }
    fuzz_check(r == h.size && r >= 2 && r <= WS_FRAME_MAX_HEADER, "parse: the header's size");
    for (size_t k = 0; k < (size_t)r; k++) {
      ws_frame_header g;
      fuzz_check(ws_frame_parse_header(p + off, k, &g) == KDS_EAGAIN,
                 "parse: a good header's prefix needs more");
    }
    elen = ws_frame_encode_header(enc, h.fin, h.opcode, h.payload_len, h.masked ? h.mask : NULL);
    fuzz_check(elen == (size_t)r && (enc[0] | (p[off] & 0x70)) == p[off] &&
                   memcmp(enc + 1, p + off + 1, elen - 1) == 0,
               "parse then encode: the same header");
    (void)ws_frame_header_check(&h, 1);
    off += (size_t)r;
    plen = h.payload_len < n - off ? (size_t)h.payload_len : n - off;
    if (h.masked && plen > 0) {
      uint8_t *whole = malloc(plen), *pieces = malloc(plen);
      size_t at = 0, step = 1;
      fuzz_check(whole && pieces, "malloc");
      memcpy(whole, p + off, plen);
      memcpy(pieces, p + off, plen);
      ws_frame_mask(whole, plen, h.mask, 0);
      while (at < plen) {
        size_t k = plen - at < step ? plen - at : step;
        ws_frame_mask(pieces + at, k, h.mask, at);
        at += k;
        step = step * 2 + 1;
      }
      fuzz_check(memcmp(whole, pieces, plen) == 0, "unmasking in pieces equals unmasking whole");
      free(whole);
      free(pieces);
    }
    off += plen;
  }
}

/* The tracker fed whole and in chunks agrees. */
static void frames_track(const uint8_t *p, size_t n, const unsigned chunk[4], uint64_t max_message) {
  ws_frame_tracker whole, cut;
  size_t bad_whole = 0, bad_cut = 0, off = 0;
  int v_whole, v_cut = 0, k = 0;
  ws_frame_tracker_init(&whole, max_message);
  ws_frame_tracker_init(&cut, max_message);
  v_whole = ws_frame_tracker_feed(&whole, p, n, &bad_whole);
  while (off < n) {
    size_t len = chunk[k++ & 3], bad = 0;
    int v;
    if (len > n - off) len = n - off;
    v = ws_frame_tracker_feed(&cut, p + off, len, &bad);
    if (v != 0 && v_cut == 0) {
      v_cut = v;
      /* the chunk's own offset, or 0 for a header begun earlier: find the absolute one */
      bad_cut = bad ? off + bad : (size_t)-1;
    }
    off += len;
  }
  fuzz_check(v_whole == 0 || v_whole == KDS_EPROTO || v_whole == KDS_ETOOBIG, "tracker: verdicts");
  fuzz_check(v_whole == v_cut, "tracker: the same first verdict whole and in chunks");
  fuzz_check(bad_cut == (size_t)-1 || bad_cut == bad_whole, "tracker: the same bad header");
  fuzz_check(whole.closed == cut.closed && whole.code == cut.code && whole.skip == cut.skip &&
                 whole.hlen == cut.hlen && whole.msg_len == cut.msg_len,
             "tracker: the same state whole and in chunks");
  fuzz_check(whole.msg_len <= max_message, "tracker: a message never counted over the limit");
}

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
  frames_walk(in.p, in.n);
  frames_track(in.p, in.n, chunk, (flags & 4) ? 64 : WS_DEFAULT_MAX_MESSAGE);
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
