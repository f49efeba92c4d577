/* Unit tests for shared/net/ws.c and ws_client.c: server and client connections on one uv
 * loop (socketpairs for raw frames, loopback TCP for ws_connect). ws.c is included so that the
 * idle release of the wslay context can be observed, ws_frame.c so that a shared frame's
 * reference count can. The sans-I/O parts have their own tests: test_ws_frame.c (frames,
 * tracker, shared frames) and test_ws_handshake.c. */
#include "test.h"

#include <signal.h>
#include <sys/socket.h>

#include "../../shared/net/ws.c"
#include "../../shared/ws_frame.c"
#include "test_loop.h" /* after ws.c: its `loop` would shadow ws.c's parameters */

static ws_hub_t *hub;

/* ---- helpers ---------------------------------------------------------------------------- */

/* One WebSocket endpoint driven by the module under test. */
typedef struct ep {
  ws_t *ws;
  int close_on_message; /* ws_close(1000) from inside on_message */
  kds_buf log;          /* "T:<text>|" or "B<len>|" per message */
  int nmsg;
  int echo;
  struct ep *forward; /* on_message also sends the message to this endpoint's ws */
  int closed;
  ws_close_info info;
  int npong;
  kds_buf pong;
  uv_pipe_t pipe; /* when on a socketpair */
} ep;

static void ep_on_message(ws_t *ws, int opcode, const char *data, size_t len) {
  ep *e = ws_data(ws);
  e->nmsg++;
  if (opcode == WS_TEXT)
    kds_buf_addf(&e->log, "T:%.*s|", (int)len, data);
  else
    kds_buf_addf(&e->log, "B%zu|", len);
  if (e->echo) ws_send(ws, opcode, data, len);
  if (e->forward && e->forward->ws) ws_send(e->forward->ws, opcode, data, len);
  if (e->close_on_message) ws_close(ws, 1000, "done");
}

static void ep_on_close(ws_t *ws, const ws_close_info *info) {
  ep *e = ws_data(ws);
  e->closed = 1;
  e->info = *info;
  e->ws = NULL;
}

static void ep_on_pong(ws_t *ws, const char *data, size_t len) {
  ep *e = ws_data(ws);
  e->npong++;
  kds_buf_reset(&e->pong);
  kds_buf_add(&e->pong, data, len);
}

static const ws_callbacks ep_cb = {ep_on_message, ep_on_close, ep_on_pong};

static void ep_release(ep *e) {
  kds_buf_release(&e->log);
  kds_buf_release(&e->pong);
}

/* A raw peer: the other end of a socketpair, reading everything into `in`. */
typedef struct raw {
  uv_pipe_t pipe;
  kds_buf in;
  int eof;
} raw;

static void raw_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b) {
  raw *r = s->data;
  if (n > 0) kds_buf_add(&r->in, b->base, (size_t)n);
  if (n < 0) {
    r->eof = 1;
    uv_read_stop(s);
  }
}

/* A server ws on one end of a socketpair and a raw peer on the other. */
static int pair_start(ep *srv, raw *peer, const ws_config *over, const char *head, size_t head_len,
                      int raw_reads) {
  int fds[2];
  ws_config cfg = {WS_ROLE_SERVER, hub, &ep_cb, srv, 0, 0, 0};
  if (over) cfg = *over;
  cfg.hub = hub;
  cfg.cb = &ep_cb;
  cfg.data = srv;
  if (socketpair(AF_UNIX, SOCK_STREAM, 0, fds) != 0) return -1;
  uv_pipe_init(loop, &srv->pipe, 0);
  uv_pipe_open(&srv->pipe, fds[0]);
  uv_pipe_init(loop, &peer->pipe, 0);
  uv_pipe_open(&peer->pipe, fds[1]);
  peer->pipe.data = peer;
  if (raw_reads) uv_read_start((uv_stream_t *)&peer->pipe, test_alloc, raw_read);
  return ws_start(&srv->ws, (uv_stream_t *)&srv->pipe, &cfg, NULL, 0, head, head_len);
}

static void raw_closed(uv_handle_t *h) {
  (void)h;
}

static void raw_close(raw *r) {
  if (!uv_is_closing((uv_handle_t *)&r->pipe)) uv_close((uv_handle_t *)&r->pipe, raw_closed);
  run_for(20);
  kds_buf_release(&r->in);
}

/* Appends a client-style (masked) or server-style frame. */
static void mkframe(kds_buf *b, int fin, int opcode, const void *data, size_t len, int masked) {
  uint8_t h[WS_FRAME_MAX_HEADER];
  const uint8_t key[4] = {0x12, 0x34, 0x56, 0x78};
  size_t n = ws_frame_encode_header(h, fin, opcode, len, masked ? key : NULL);
  kds_buf_add(b, h, n);
  for (size_t i = 0; i < len; i++) {
    uint8_t c = ((const uint8_t *)data)[i];
    kds_buf_addc(b, (char)(masked ? c ^ key[i % 4] : c));
  }
}

static void raw_written(uv_write_t *w, int status) {
  free(w);
}

/* Writes all of b (copied), however long it takes the other side to read it. */
static int raw_write(raw *r, const kds_buf *b) {
  uv_write_t *w = malloc(sizeof(*w) + b->len);
  uv_buf_t ub = uv_buf_init((char *)(w + 1), (unsigned)b->len);
  memcpy(w + 1, b->base, b->len);
  return uv_write(w, (uv_stream_t *)&r->pipe, &ub, 1, raw_written);
}

/* Parses one unmasked frame from p. Returns bytes used, or 0 if incomplete. */
static size_t parse_frame(const char *p, size_t n, int *op, int *fin, const char **pl, size_t *plen) {
  const uint8_t *u = (const uint8_t *)p;
  size_t hdr = 2;
  uint64_t len;
  if (n < 2) return 0;
  len = u[1] & 0x7f;
  if (len == 126) {
    if (n < 4) return 0;
    len = ((size_t)u[2] << 8) | u[3];
    hdr = 4;
  } else if (len == 127) {
    if (n < 10) return 0;
    len = 0;
    for (int i = 0; i < 8; i++) len = (len << 8) | u[2 + i];
    hdr = 10;
  }
  if (n < hdr + len) return 0;
  *op = u[0] & 0x0f;
  *fin = u[0] >> 7;
  *pl = p + hdr;
  *plen = (size_t)len;
  return hdr + (size_t)len;
}

/* Collects the raw peer's received frames as "<op>:<payload>|" (close: "8:<code>|"). */
static void raw_frames(raw *r, kds_buf *out) {
  size_t off = 0, used;
  int op, fin;
  const char *pl;
  size_t plen;
  kds_buf_reset(out);
  while ((used = parse_frame(r->in.base + off, r->in.len - off, &op, &fin, &pl, &plen)) > 0) {
    if (op == 8)
      kds_buf_addf(out, "8:%d|", plen >= 2 ? ((uint8_t)pl[0] << 8) | (uint8_t)pl[1] : 0);
    else if (op == 2)
      kds_buf_addf(out, "2#%zu|", plen);
    else
      kds_buf_addf(out, "%d:%.*s|", op, (int)plen, pl);
    off += used;
  }
}

/* ---- frames -------------------------------------------------------------------------------- */

static void t_shared_frame(void) {
  uv_buf_t parts[2] = {uv_buf_init("4", 1), uv_buf_init("2[\"x\"]", 6)};
  ws_frame_t *f = ws_frame_newv(WS_TEXT, parts, 2);
  size_t n, pn;
  const char *b = ws_frame_bytes(f, &n), *p = ws_frame_payload(f, &pn);
  ok(n == 9 && (uint8_t)b[0] == 0x81 && b[1] == 7 && pn == 7 && memcmp(p, "42[\"x\"]", 7) == 0,
     "small frame");
  ws_frame_unref(f);
  char *big = calloc(1, 70000);
  f = ws_frame_new(WS_BINARY, big, 70000);
  b = ws_frame_bytes(f, &n);
  ok(n == 70010 && (uint8_t)b[0] == 0x82 && (uint8_t)b[1] == 127, "64-bit length");
  ws_frame_unref(f);
  f = ws_frame_new(WS_TEXT, big, 300);
  b = ws_frame_bytes(f, &n);
  ok(n == 304 && (uint8_t)b[1] == 126 && (uint8_t)b[2] == 1 && (uint8_t)b[3] == 44, "16-bit length");
  {
    /* called through a volatile pointer: inlined twice, gcc 12 -O2 sees a use after free
     * in the second call (it cannot tell the count was 2) */
    void (*volatile unref)(ws_frame_t *) = ws_frame_unref;
    ws_frame_t *g = ws_frame_ref(f);
    ok(g == f && f->refs == 2, "ref");
    unref(g);
    ok(f->refs == 1, "unref");
    unref(f);
  }
  ws_frame_unref(NULL);
  ok(ws_frame_new(0x9, "x", 1) == NULL, "control opcode refused");
  free(big);
}

/* ---- server over a socketpair with a raw peer -------------------------------------------- */

static void t_server_raw(void) {
  ep srv = {0};
  raw peer = {0};
  kds_buf b = KDS_BUF_INIT, fr = KDS_BUF_INIT;

  srv.echo = 1;
  ok(pair_start(&srv, &peer, NULL, NULL, 0, 1) == 0, "started");
  /* text, binary, fragmented text with a ping between fragments */
  mkframe(&b, 1, WS_TEXT, "hello", 5, 1);
  mkframe(&b, 1, WS_BINARY, "\x00\x01\x02", 3, 1);
  mkframe(&b, 0, WS_TEXT, "Hel", 3, 1);
  mkframe(&b, 1, 0x9, "pp", 2, 1);
  mkframe(&b, 0, 0x0, "lo ", 3, 1);
  mkframe(&b, 1, 0x0, "w\xc3\xb6rld", 6, 1);
  raw_write(&peer, &b);
  run_until(&srv.nmsg, 2000);
  run_for(50);
  ok(srv.nmsg == 3 && strcmp(srv.log.base, "T:hello|B3|T:Hello w\xc3\xb6rld|") == 0,
     "messages reassembled: %s", srv.log.base);
  raw_frames(&peer, &fr);
  ok(fr.base && strncmp(fr.base, "1:hello|2#3|", 12) == 0 && strstr(fr.base, "10:pp|") &&
         strstr(fr.base, "1:Hello w\xc3\xb6rld|"),
     "echoes and the pong came back: %s", fr.base ? fr.base : "");

  /* server ping -> client pong (raw peer answers by hand) */
  ok(ws_ping(srv.ws, "abc", 3) == 0, "ping queued");
  run_for(30);
  raw_frames(&peer, &fr);
  ok(strstr(fr.base, "9:abc|") != NULL, "ping frame sent");
  kds_buf_reset(&b);
  mkframe(&b, 1, 0xA, "abc", 3, 1);
  raw_write(&peer, &b);
  run_until(&srv.npong, 1000);
  ok(srv.npong == 1 && strcmp(srv.pong.base, "abc") == 0, "pong delivered");

  ok(srv.ws->ctx != NULL, "a fragmented message made a wslay context");

  /* close from the peer with 4001: echoed, clean */
  kds_buf_reset(&b);
  mkframe(&b, 1, 0x8,
          "\x0f\xa1"
          "bye",
          5, 1);
  raw_write(&peer, &b);
  run_until(&srv.closed, 2000);
  run_until(&peer.eof, 1000);
  raw_frames(&peer, &fr);
  ok(srv.closed && srv.info.err == 0 && srv.info.code_received == 4001 && srv.info.code_sent == 4001,
     "peer close: err %d recv %d sent %d", srv.info.err, srv.info.code_received, srv.info.code_sent);
  ok(strstr(fr.base, "8:4001|") != NULL, "close echoed");
  run_for(20);
  ok(peer.eof, "server closed TCP after the close handshake");
  raw_close(&peer);
  ep_release(&srv);
  kds_buf_release(&b);
  kds_buf_release(&fr);
}

/* The code of the first close frame the raw peer received (1005 for none), or 0. */
static int raw_close_code(void *arg) {
  kds_buf fr = KDS_BUF_INIT;
  const char *c;
  int code = 0;
  raw_frames(arg, &fr);
  c = fr.base ? strstr(fr.base, "8:") : NULL;
  if (c) code = atoi(c + 2) ? atoi(c + 2) : WS_CLOSE_NO_STATUS;
  kds_buf_release(&fr);
  return code;
}

/* Runs the loop until the raw peer has received a close frame (or `ms` pass). Returns its
 * code, or 0 if none came. */
static int raw_until_close(raw *r, unsigned ms) {
  return run_until_fn(raw_close_code, r, ms);
}

/* The raw peer answers a close with `code` (masked, as a client). */
static void raw_close_frame(raw *r, int code) {
  kds_buf b = KDS_BUF_INIT;
  char pl[2] = {(char)(code >> 8), (char)code};
  mkframe(&b, 1, 0x8, pl, 2, 1);
  raw_write(r, &b);
  kds_buf_release(&b);
}

/* A raw peer sends `frames` (then `after`, may be NULL, once the server's close arrived);
 * the server must close with `code`, report `err`, and keep reading until the peer's
 * close instead of closing TCP right after its own close frame. */
static void expect_refusal_then(const char *what, const kds_buf *frames, const kds_buf *after,
                                const ws_config *cfg, int code, int err) {
  ep srv = {0};
  raw peer = {0};
  int got;
  pair_start(&srv, &peer, cfg, NULL, 0, 1);
  raw_write(&peer, frames);
  got = raw_until_close(&peer, 2000);
  ok(got == code, "%s: peer got close %d (want %d)", what, got, code);
  run_for(30);
  ok(!srv.closed && !peer.eof, "%s: the server waits for the peer's close, TCP still open", what);
  if (after) raw_write(&peer, after);
  raw_close_frame(&peer, code);
  run_until(&srv.closed, 2000);
  run_until(&peer.eof, 1000);
  ok(srv.closed && srv.info.err == err && srv.info.code_sent == code && srv.info.code_received == code &&
         srv.nmsg <= 1,
     "%s: closed, err %s, sent %d, received %d", what, kds_strerror(srv.info.err), srv.info.code_sent,
     srv.info.code_received);
  ok(peer.eof, "%s: TCP closed after the peer's close", what);
  raw_close(&peer);
  ep_release(&srv);
}

static void expect_refusal(const char *what, const kds_buf *frames, const ws_config *cfg, int code, int err) {
  expect_refusal_then(what, frames, NULL, cfg, code, err);
}

static void t_server_refusals(void) {
  kds_buf b = KDS_BUF_INIT;
  ws_config small = {0};
  char big[2000];

  mkframe(&b, 1, WS_TEXT, "ok\xff", 3, 1);
  expect_refusal("bad UTF-8", &b, NULL, 1007, KDS_EINVAL);

  kds_buf_reset(&b);
  mkframe(&b, 0, WS_TEXT, "caf\xc3", 4, 1);
  mkframe(&b, 1, 0x0, "\x28", 1, 1);
  expect_refusal("bad UTF-8 across fragments", &b, NULL, 1007, KDS_EINVAL);

  memset(big, 'a', sizeof(big));
  kds_buf_reset(&b);
  mkframe(&b, 1, WS_TEXT, big, sizeof(big), 1);
  small.max_message = 1000;
  expect_refusal("message over max_message", &b, &small, 1009, KDS_ETOOBIG);

  kds_buf_reset(&b);
  mkframe(&b, 0, WS_TEXT, big, 600, 1);
  mkframe(&b, 1, 0x0, big, 600, 1);
  expect_refusal("fragments adding up over max_message", &b, &small, 1009, KDS_ETOOBIG);

  kds_buf_reset(&b);
  mkframe(&b, 1, WS_TEXT, "x", 1, 0);
  expect_refusal("unmasked client frame", &b, NULL, 1002, KDS_EPROTO);

  kds_buf_reset(&b);
  mkframe(&b, 1, 0x0, "x", 1, 1);
  expect_refusal("continuation without a start", &b, NULL, 1002, KDS_EPROTO);

  kds_buf_reset(&b);
  kds_buf_add(&b, "\x83\x80\x00\x00\x00\x00", 6); /* reserved opcode 3 */
  expect_refusal("reserved opcode", &b, NULL, 1002, KDS_EPROTO);

  kds_buf_reset(&b);
  kds_buf_add(&b, "\xc1\x81\x00\x00\x00\x00x", 7); /* RSV1 without an extension */
  expect_refusal("RSV1 set", &b, NULL, 1002, KDS_EPROTO);

  kds_buf_reset(&b);
  mkframe(&b, 1, 0x9, big, 126, 1); /* control frame over 125 bytes */
  expect_refusal("ping over 125 bytes", &b, NULL, 1002, KDS_EPROTO);

  kds_buf_reset(&b);
  kds_buf_add(&b, "\x81\xfe\x00\x05\x00\x00\x00\x00hello", 13); /* 16-bit length for 5 bytes */
  expect_refusal("length not in its minimal form", &b, NULL, 1002, KDS_EPROTO);

  kds_buf_reset(&b);
  mkframe(&b, 0, 0x9, "p", 1, 1); /* fragmented ping */
  expect_refusal("fragmented control frame", &b, NULL, 1002, KDS_EPROTO);

  kds_buf_reset(&b);
  mkframe(&b, 1, WS_TEXT, "ok", 2, 1);
  mkframe(&b, 1, WS_TEXT, "bad \xed\xa0\x80", 7, 1); /* surrogate, after a good frame */
  expect_refusal("bad UTF-8 in the fast path after a good frame", &b, NULL, 1007, KDS_EINVAL);

  { /* the peer keeps sending after our close: all of it is read and dropped */
    kds_buf more = KDS_BUF_INIT;
    char *lots = calloc(1, 512 * 1024);
    kds_buf_reset(&b);
    mkframe(&b, 1, WS_TEXT, "\xff", 1, 1);
    mkframe(&more, 1, WS_BINARY, lots, 512 * 1024, 1);
    mkframe(&more, 1, WS_TEXT, "late", 4, 1);
    expect_refusal_then("input after the refusal", &b, &more, NULL, 1007, KDS_EINVAL);
    free(lots);
    kds_buf_release(&more);
  }
  kds_buf_release(&b);
}

/* A header announcing too much is refused as soon as it is complete, before any payload
 * (wslay alone waits for payload first); and no announced length can cause an allocation. */
static void t_header_too_big(void) {
  kds_buf hdr = KDS_BUF_INIT, rest = KDS_BUF_INIT;
  ws_config small = {0}, huge = {0};
  char *big = calloc(1, 256 * 1024);
  small.max_message = 1000;

  mkframe(&rest, 1, WS_TEXT, big, 3000, 1);
  kds_buf_add(&hdr, rest.base, 8); /* 2 + 2 (16-bit length) + 4 (mask): the header alone */
  kds_buf_consume(&rest, 8);
  mkframe(&rest, 1, WS_BINARY, big, 256 * 1024, 1); /* and more the server must drop */
  expect_refusal_then("header over max_message, no payload yet", &hdr, &rest, &small, 1009, KDS_ETOOBIG);

  /* 2^63 - 1 announced, default limit: refused at the header; the peer then hangs up */
  huge.max_message = SIZE_MAX; /* clamped to WS_MAX_MESSAGE_CAP: never trusted to malloc */
  for (int round = 0; round < 2; round++) {
    ep srv = {0};
    raw peer = {0};
    int got;
    kds_buf_reset(&hdr);
    kds_buf_add(&hdr, "\x82\xff\x7f\xff\xff\xff\xff\xff\xff\xff\x01\x02\x03\x04x", 15);
    pair_start(&srv, &peer, round ? &huge : NULL, NULL, 0, 1);
    raw_write(&peer, &hdr);
    got = raw_until_close(&peer, 2000);
    ok(got == 1009, "%s: 2^63-1 announced: close 1009 at once (%d)",
       round ? "max_message SIZE_MAX" : "default", got);
    ok(!srv.closed, "still reading after the refusal");
    raw_close(&peer);
    run_until(&srv.closed, 2000);
    ok(srv.closed && srv.info.err == KDS_ETOOBIG && srv.info.code_sent == 1009 && srv.info.code_received == 0,
       "then the peer hung up: err %s", kds_strerror(srv.info.err));
    ep_release(&srv);
  }
  free(big);
  kds_buf_release(&hdr);
  kds_buf_release(&rest);
}

/* Small complete frames never make a wslay context; the rest go to wslay. */
static void t_fast_path(void) {
  ep srv = {0};
  raw peer = {0};
  kds_buf b = KDS_BUF_INIT, fr = KDS_BUF_INIT;
  char mid[1000];
  memset(mid, 'm', sizeof(mid));
  srv.echo = 1;
  pair_start(&srv, &peer, NULL, NULL, 0, 1);
  mkframe(&b, 1, WS_TEXT, "one", 3, 1);
  mkframe(&b, 1, 0x9, "hb", 2, 1);
  mkframe(&b, 1, WS_TEXT, mid, sizeof(mid), 1); /* 16-bit length */
  mkframe(&b, 1, 0xA, "pg", 2, 1);
  mkframe(&b, 1, WS_BINARY, "", 0, 1);
  raw_write(&peer, &b);
  run_until_n(&srv.nmsg, 3, 2000);
  run_for(30);
  raw_frames(&peer, &fr);
  ok(srv.nmsg == 3 && srv.npong == 1 && strncmp(srv.log.base, "T:one|T:mmm", 11) == 0 &&
         strstr(srv.log.base, "|B0|"),
     "text, ping, 1000-byte text, pong, empty binary");
  ok(fr.base && strncmp(fr.base, "1:one|10:hb|1:mmm", 17) == 0, "echoes and the pong in order");
  ok(srv.ws->ctx == NULL, "no wslay context for any of them");
  ok(ws_send(srv.ws, WS_TEXT, "x", 1) == 0 && ws_ping(srv.ws, "y", 1) == 0 && srv.ws->ctx == NULL,
     "sending needs no context either");
  /* a frame cut in two: wslay takes over at the cut, and the message still comes whole */
  kds_buf_reset(&b);
  mkframe(&b, 1, WS_TEXT, "split-frame", 11, 1);
  {
    kds_buf first = KDS_BUF_INIT, second = KDS_BUF_INIT;
    kds_buf_add(&first, b.base, 5);
    kds_buf_add(&second, b.base + 5, b.len - 5);
    raw_write(&peer, &first);
    run_for(30);
    ok(srv.ws->ctx != NULL && srv.nmsg == 3, "half a frame: wslay holds it");
    raw_write(&peer, &second);
    run_until_n(&srv.nmsg, 4, 1000);
    kds_buf_release(&first);
    kds_buf_release(&second);
  }
  ok(srv.nmsg == 4 && strstr(srv.log.base, "T:split-frame|") != NULL, "the split frame arrives whole");
  ws_abort(srv.ws, 0);
  run_until(&srv.closed, 1000);
  raw_close(&peer);
  ep_release(&srv);
  kds_buf_release(&b);
  kds_buf_release(&fr);
}

/* ws_close inside on_message while the peer's close is already in the same read. */
static void t_close_in_callback(void) {
  ep srv = {0};
  raw peer = {0};
  kds_buf b = KDS_BUF_INIT;
  srv.close_on_message = 1;
  pair_start(&srv, &peer, NULL, NULL, 0, 1);
  mkframe(&b, 1, WS_TEXT, "last", 4, 1);
  mkframe(&b, 1, WS_TEXT, "not delivered", 13, 1);
  mkframe(&b, 1, 0x8, "\x03\xe9", 2, 1);
  raw_write(&peer, &b);
  run_until(&srv.closed, 2000);
  ok(srv.closed && srv.nmsg == 1 && srv.info.err == 0 && srv.info.code_sent == 1000 &&
         srv.info.code_received == 1001,
     "closed cleanly without waiting: err %d sent %d received %d", srv.info.err, srv.info.code_sent,
     srv.info.code_received);
  raw_close(&peer);
  ep_release(&srv);
  kds_buf_release(&b);
}

static void t_server_head_and_eof(void) {
  ep srv = {0};
  raw peer = {0};
  kds_buf b = KDS_BUF_INIT;
  mkframe(&b, 1, WS_TEXT, "early", 5, 1);
  pair_start(&srv, &peer, NULL, b.base, b.len, 1);
  ok(srv.nmsg == 0, "no callback inside ws_start");
  kds_buf_reset(&b);
  mkframe(&b, 1, WS_TEXT, "later", 5, 1);
  raw_write(&peer, &b);
  run_for(50);
  ok(strcmp(srv.log.base ? srv.log.base : "", "T:early|T:later|") == 0,
     "bytes read before ws_start come first");
  /* a partial frame, then the peer goes away */
  kds_buf_reset(&b);
  mkframe(&b, 1, WS_TEXT, "cut", 3, 1);
  b.len -= 1;
  raw_write(&peer, &b);
  raw_close(&peer);
  run_until(&srv.closed, 2000);
  ok(srv.closed && srv.info.err == UV_EOF && srv.info.code_received == 0 && srv.info.code_sent == 0,
     "EOF without close frame: %s", kds_strerror(srv.info.err));
  ep_release(&srv);
  kds_buf_release(&b);
}

/* Order and coalescing of shared frames with ordinary sends; several connections. */
static void t_shared_broadcast(void) {
  ep srv[3];
  raw peer[3];
  kds_buf fr = KDS_BUF_INIT;
  ws_frame_t *f1 = ws_frame_new(WS_TEXT, "b1", 2), *f2 = ws_frame_new(WS_TEXT, "b2", 2);
  int all = 1;
  memset(srv, 0, sizeof(srv));
  memset(peer, 0, sizeof(peer));
  for (int i = 0; i < 3; i++) pair_start(&srv[i], &peer[i], NULL, NULL, 0, 1);
  for (int i = 0; i < 3; i++) {
    all &= ws_send(srv[i].ws, WS_TEXT, "a", 1) == 0;
    all &= ws_send_shared(srv[i].ws, f1) == 0;
    all &= ws_send(srv[i].ws, WS_TEXT, "c", 1) == 0;
    all &= ws_send_shared(srv[i].ws, f2) == 0;
  }
  ok(all, "queued");
  ok(f1->refs == 4 && f2->refs == 4, "each connection holds one reference until written");
  ok(srv[0].ws->qlen >= 3 && peer[0].in.len == 0, "nothing written before the loop turns (queued, not sent)");
  run_for(30);
  for (int i = 0; i < 3; i++) {
    raw_frames(&peer[i], &fr);
    all &= fr.base && strcmp(fr.base, "1:a|1:b1|1:c|1:b2|") == 0;
  }
  ok(all, "every peer got a, b1, c, b2 in order");
  ok(f1->refs == 1 && f2->refs == 1, "references dropped after the write");
  ok(srv[0].ws->q == NULL && srv[0].ws->queued == 0, "no queue memory left when idle");
  ok(ws_send_shared(NULL, f1) == KDS_ECLOSED, "NULL ws refused");
  for (int i = 0; i < 3; i++) {
    ws_abort(srv[i].ws, 0);
    ok(ws_send_shared(srv[i].ws, f1) == KDS_ECLOSED && f1->refs == 1, "closing: refused, no ref taken");
  }
  run_for(20);
  ok(srv[0].closed && srv[0].info.err == KDS_ECLOSED, "abort reported");
  for (int i = 0; i < 3; i++) {
    raw_close(&peer[i]);
    ep_release(&srv[i]);
  }
  ws_frame_unref(f1);
  ws_frame_unref(f2);
  kds_buf_release(&fr);
}

/* A peer that does not read: the queue limit drops it, shared buffers are released. */
static void t_slow_peer(void) {
  ep srv = {0};
  raw peer = {0};
  ws_config cfg = {0};
  char *payload = calloc(1, 65536);
  ws_frame_t *f = ws_frame_new(WS_BINARY, payload, 65536);
  int rc = 0, sent = 0;
  cfg.max_queue = 256 * 1024;
  pair_start(&srv, &peer, &cfg, NULL, 0, 0); /* the peer never reads */
  for (int i = 0; i < 200 && rc == 0; i++) {
    rc = ws_send_shared(srv.ws, f);
    if (rc == 0) sent++;
    run_for(5);
  }
  ok(rc == KDS_EFULL, "queue limit hit after %d frames", sent);
  run_until(&srv.closed, 2000);
  ok(srv.closed && srv.info.err == KDS_EFULL, "slow peer dropped: %s", kds_strerror(srv.info.err));
  ok(f->refs == 1, "every reference released (partial writes included)");
  raw_close(&peer);
  ws_frame_unref(f);
  free(payload);
  ep_release(&srv);
}

/* ---- a peer that floods pings and never reads --------------------------------------------
 * The pongs cannot leave: the write in flight never completes. Every pong must count
 * against max_queue like data (the peer is then dropped with KDS_EFULL), and the connection
 * must not spin in the hub's prepare handler while its write is stuck (a livelock there
 * stops the whole loop: no timer, no other connection, forever). The livelock would never
 * return to the loop, so the test loop's own deadline timer could not fire: alarm() is the
 * watchdog. */

static void flood_on_alarm(int sig) {
  static const char msg[] = "not ok - ping flood: the loop stopped turning (livelock in the ws driver)\n";
  (void)sig;
  (void)!write(STDOUT_FILENO, msg, sizeof(msg) - 1);
  abort();
}

typedef struct flood {
  raw *peer;
  ep *srv;
  kds_buf chunk;   /* many masked 125-byte pings */
  int writes_left; /* bound on the whole flood */
  int inflight;
  int ticks;   /* a timer on the same loop, which must keep firing */
  int saw_ctx; /* the server's connection had a wslay context at some point */
} flood;

static void flood_write(flood *f);

static void flood_written(uv_write_t *w, int status) {
  flood *f = w->data;
  free(w);
  f->inflight--;
  if (f->srv->ws && f->srv->ws->ctx) f->saw_ctx = 1;
  if (status == 0) flood_write(f);
}

static void flood_write(flood *f) {
  uv_write_t *w;
  uv_buf_t b;
  if (f->srv->closed || f->writes_left <= 0 || uv_is_closing((uv_handle_t *)&f->peer->pipe)) return;
  w = malloc(sizeof(*w));
  w->data = f;
  b = uv_buf_init(f->chunk.base, (unsigned)f->chunk.len);
  if (uv_write(w, (uv_stream_t *)&f->peer->pipe, &b, 1, flood_written) != 0) {
    free(w);
    return;
  }
  f->writes_left--;
  f->inflight++;
}

static void flood_tick(uv_timer_t *t) {
  flood *f = t->data;
  f->ticks++;
}

static int flood_idle(void *arg) {
  return ((flood *)arg)->inflight == 0;
}

static void ping_flood(int with_ctx) {
  ep srv = {0};
  raw peer = {0};
  ws_config cfg = {0};
  flood f = {0};
  uv_timer_t ticker;
  char payload[125];
  kds_buf b = KDS_BUF_INIT;
  void (*old_alarm)(int) = signal(SIGALRM, flood_on_alarm);
  void (*old_pipe)(int) = signal(SIGPIPE, SIG_IGN);
  memset(payload, 'p', sizeof(payload));
  cfg.max_queue = 64 * 1024;
  alarm(20);
  pair_start(&srv, &peer, &cfg, NULL, 0, 0); /* the peer never reads */
  f.peer = &peer;
  f.srv = &srv;
  /* Without a context: small writes of whole frames, which the server reads whole (the fast
   * path answers them). With one: big writes, which reads split mid-frame. 2.6 MB at most,
   * far over the limit. */
  f.writes_left = with_ctx ? 20 : 5000;
  for (int i = 0; i < (with_ctx ? 1000 : 4); i++)
    mkframe(&f.chunk, 1, WSLAY_PING, payload, sizeof(payload), 1);
  if (with_ctx) {
    /* Half a ping first: the partial frame goes to wslay, so its context exists and wslay
     * answers the pings (and pump() runs with output pending). */
    mkframe(&b, 1, WSLAY_PING, payload, sizeof(payload), 1);
    b.len = 3;
    raw_write(&peer, &b);
    run_for(20);
    ok(srv.ws && srv.ws->ctx != NULL, "a wslay context holds the partial frame");
    kds_buf_reset(&b);
    mkframe(&b, 1, WSLAY_PING, payload, sizeof(payload), 1);
    {
      kds_buf rest = KDS_BUF_INIT;
      kds_buf_add(&rest, b.base + 3, b.len - 3);
      raw_write(&peer, &rest);
      kds_buf_release(&rest);
    }
  }
  uv_timer_init(loop, &ticker);
  ticker.data = &f;
  uv_timer_start(&ticker, flood_tick, 0, 5); /* first at the next loop iteration, then every 5 ms */
  flood_write(&f);
  flood_write(&f);
  run_until(&srv.closed, 10000);
  ok(srv.closed && srv.info.err == KDS_EFULL, "the peer that does not read its pongs is dropped: %s",
     srv.closed ? kds_strerror(srv.info.err) : "still open");
  if (!with_ctx) ok(!f.saw_ctx, "the fast path answered every ping (no wslay context)");
  ok(f.ticks > 0, "a timer on the same loop kept firing during the flood (%d ticks)", f.ticks);
  {
    int before = f.ticks;
    run_for(50);
    ok(f.ticks > before, "and after it (%d ticks)", f.ticks - before);
  }
  uv_close((uv_handle_t *)&ticker, NULL);
  raw_close(&peer);
  run_until_fn(flood_idle, &f, 1000);
  ok(f.inflight == 0, "the flood's writes ended");
  alarm(0);
  signal(SIGALRM, old_alarm);
  signal(SIGPIPE, old_pipe);
  kds_buf_release(&f.chunk);
  kds_buf_release(&b);
  ep_release(&srv);
}

/* A close frame counts against max_queue like data: one that does not fit drops the peer. */
static void t_close_over_limit(void) {
  ep srv = {0};
  raw peer = {0};
  ws_config cfg = {0};
  size_t limit = 4096;
  char *payload = calloc(1, limit);
  cfg.max_queue = limit;
  pair_start(&srv, &peer, &cfg, NULL, 0, 1);
  /* nothing is written before the loop turns: the queue holds all of it */
  char reason[101];
  memset(reason, 'r', 100);
  reason[100] = '\0';
  ok(ws_send(srv.ws, WS_BINARY, payload, limit - 4 - 60) == 0 && ws_queued(srv.ws) == limit - 60,
     "a message that leaves 60 bytes of room");
  ws_close(srv.ws, 1000, reason);
  run_until(&srv.closed, 2000);
  ok(srv.closed && srv.info.err == KDS_EFULL && srv.info.code_sent == 0,
     "a close frame (104 bytes) over the limit drops the peer: %s, sent %d",
     srv.closed ? kds_strerror(srv.info.err) : "still open", srv.info.code_sent);
  raw_close(&peer);
  ep_release(&srv);
  free(payload);
}

static void t_ping_flood(void) {
  ping_flood(0); /* pongs framed by the fast path */
}

static void t_ping_flood_wslay(void) {
  ping_flood(1); /* pongs queued by wslay */
}

/* A connection marked dirty again while the hub's prepare handler runs (here: B, settled
 * first, gets a message from A's callback) waits for the next loop iteration, and that
 * iteration comes at once: the loop does not sleep on it. */
static void t_requeue_next_iteration(void) {
  ep a = {0}, b = {0};
  raw pa = {0}, pb = {0};
  kds_buf head = KDS_BUF_INIT, fr = KDS_BUF_INIT;
  int queued_again, idle_on, nowait_runs = 0;
  mkframe(&head, 1, WS_TEXT, "hop", 3, 1);
  a.forward = &b;
  /* B with a head (so it is dirty first), then A, whose head's message goes to B. */
  {
    kds_buf ping = KDS_BUF_INIT;
    mkframe(&ping, 1, WSLAY_PING, "b", 1, 1);
    pair_start(&b, &pb, NULL, ping.base, ping.len, 1);
    kds_buf_release(&ping);
  }
  pair_start(&a, &pa, NULL, head.base, head.len, 1);
  ok(a.ws && b.ws && b.ws->dirty_node.next != &b.ws->dirty_node && a.ws->dirty_node.next != &a.ws->dirty_node,
     "both are dirty, B first");
  uv_run(loop, UV_RUN_NOWAIT); /* the prepare handler settles B, then A (which sends to B) */
  queued_again = b.ws && !kds_list_empty(&b.ws->dirty_node);
  idle_on = uv_is_active((uv_handle_t *)&hub->idle);
  ok(a.nmsg == 1 && queued_again, "B queued again during the run, left for the next iteration");
  ok(idle_on, "the idle handle keeps the loop from sleeping meanwhile");
  while (b.ws && !kds_list_empty(&b.ws->dirty_node) && nowait_runs < 10) {
    uv_run(loop, UV_RUN_NOWAIT);
    nowait_runs++;
  }
  ok(b.ws && kds_list_empty(&b.ws->dirty_node) && nowait_runs == 1, "flushed on the next iteration (%d)",
     nowait_runs);
  ok(!uv_is_active((uv_handle_t *)&hub->idle) && !uv_is_active((uv_handle_t *)&hub->prepare),
     "idle and prepare stopped once nothing is dirty");
  run_for(30);
  raw_frames(&pb, &fr);
  ok(fr.base && strcmp(fr.base, "10:b|1:hop|") == 0, "B's peer got the pong, then A's message: %s",
     fr.base ? fr.base : "");
  ws_abort(a.ws, 0);
  ws_abort(b.ws, 0);
  run_for(20);
  raw_close(&pa);
  raw_close(&pb);
  ep_release(&a);
  ep_release(&b);
  kds_buf_release(&head);
  kds_buf_release(&fr);
}

/* Large messages both ways through partial writes; the wslay context is released when idle. */
static void t_big_and_idle(void) {
  ep srv = {0};
  raw peer = {0};
  kds_buf b = KDS_BUF_INIT, fr = KDS_BUF_INIT;
  size_t big = 900 * 1000;
  char *payload = malloc(big);
  for (size_t i = 0; i < big; i++) payload[i] = (char)('a' + i % 26);
  pair_start(&srv, &peer, NULL, NULL, 0, 1);
  ok(srv.ws->ctx == NULL, "no wslay context before traffic");
  ok(ws_send(srv.ws, WS_TEXT, payload, big) == 0, "900 kB queued");
  mkframe(&b, 1, WS_BINARY, payload, big, 1);
  raw_write(&peer, &b);
  run_until_n(&srv.nmsg, 1, 3000);
  run_for(50);
  ok(peer.in.len == big + 10, "900 kB written through partial writes (%zu)", peer.in.len);
  ok(srv.ws->ctx != NULL, "context while busy");
  ok(srv.nmsg == 1 && strcmp(srv.log.base, "B900000|") == 0, "900 kB binary received");
  /* half a frame keeps the context; the sweep releases it only at a frame boundary */
  kds_buf_reset(&b);
  mkframe(&b, 1, WS_TEXT, "again", 5, 1);
  {
    kds_buf half = KDS_BUF_INIT;
    kds_buf_add(&half, b.base, 4);
    raw_write(&peer, &half);
    kds_buf_release(&half);
  }
  run_for(WS_IDLE_RELEASE_MS + WS_SWEEP_MS + 300);
  ok(srv.ws->ctx != NULL, "context kept while a frame is half received");
  {
    kds_buf rest = KDS_BUF_INIT;
    kds_buf_add(&rest, b.base + 4, b.len - 4);
    raw_write(&peer, &rest);
    kds_buf_release(&rest);
  }
  run_for(30);
  ok(strstr(srv.log.base, "T:again|") != NULL, "the frame completes");
  run_for(WS_IDLE_RELEASE_MS + WS_SWEEP_MS + 300);
  ok(srv.ws->ctx == NULL, "context released when idle");
  kds_buf_reset(&b);
  mkframe(&b, 1, WS_TEXT, "third", 5, 1);
  raw_write(&peer, &b);
  run_for(30);
  ok(strstr(srv.log.base, "T:third|") != NULL, "works again after the release");
  ws_close(srv.ws, 1000, NULL);
  run_for(20);
  ok(!srv.closed, "waits for the peer's close");
  kds_buf_reset(&b);
  mkframe(&b, 1, 0x8, "\x03\xe8", 2, 1);
  raw_write(&peer, &b);
  run_until(&srv.closed, 2000);
  ok(srv.closed && srv.info.err == 0 && srv.info.code_sent == 1000 && srv.info.code_received == 1000,
     "our close answered: clean");
  raw_close(&peer);
  free(payload);
  ep_release(&srv);
  kds_buf_release(&b);
  kds_buf_release(&fr);
}

/* Our close and a refusal, both unanswered: each ends at the close timeout (run together
 * so that the test waits once). */
static void t_close_timeout(void) {
  ep srv = {0}, srv2 = {0};
  raw peer = {0}, peer2 = {0};
  kds_buf b = KDS_BUF_INIT;
  pair_start(&srv, &peer, NULL, NULL, 0, 1);
  pair_start(&srv2, &peer2, NULL, NULL, 0, 1);
  ws_close(srv.ws, 1001, "going");
  ok(ws_send(srv.ws, WS_TEXT, "x", 1) == KDS_ECLOSED && ws_is_closing(srv.ws), "no sends after close");
  ws_close(srv.ws, 1000, NULL); /* idempotent */
  mkframe(&b, 1, WS_TEXT, "\xc3", 1, 1);
  raw_write(&peer2, &b);
  run_until(&srv.closed, WS_CLOSE_TIMEOUT_MS + 2500);
  run_until(&srv2.closed, 1000);
  ok(srv.closed && srv.info.err == UV_ETIMEDOUT && srv.info.code_sent == 1001, "close handshake timed out");
  ok(srv2.closed && srv2.info.err == KDS_EINVAL && srv2.info.code_sent == 1007 &&
         srv2.info.code_received == 0,
     "a refusal the peer never answers ends at the close timeout too: %s", kds_strerror(srv2.info.err));
  raw_close(&peer);
  raw_close(&peer2);
  ep_release(&srv);
  ep_release(&srv2);
  kds_buf_release(&b);
}

/* ---- client <-> server over loopback TCP ---------------------------------------------- */

typedef struct hs_srv {
  uv_tcp_t listener;
  uv_tcp_t *conn;
  kds_buf req;
  ep *srv;
  ws_config cfg;
  int refuse; /* answer 400 instead */
} hs_srv;

static void free_handle(uv_handle_t *h) {
  free(h);
}

static void hs_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf) {
  hs_srv *h = s->data;
  char *end, *k;
  kds_buf reply = KDS_BUF_INIT;
  if (n < 0) {
    uv_close((uv_handle_t *)s, free_handle);
    return;
  }
  kds_buf_add(&h->req, buf->base, (size_t)n);
  end = strstr(h->req.base, "\r\n\r\n");
  if (!end) return;
  uv_read_stop(s);
  if (h->refuse) {
    static char no[] = "HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 2\r\n\r\nno";
    uv_buf_t b = uv_buf_init(no, sizeof(no) - 1);
    uv_try_write(s, &b, 1);
    uv_close((uv_handle_t *)s, free_handle);
    return;
  }
  k = strstr(h->req.base, "Sec-WebSocket-Key: ");
  if (!k || ws_handshake_reply(&reply, k + 19, 24, NULL) < 0) {
    uv_close((uv_handle_t *)s, free_handle);
    return;
  }
  h->cfg.own_stream = 1;
  end += 4;
  if (ws_start(&h->srv->ws, s, &h->cfg, reply.base, reply.len, end,
               h->req.len - (size_t)(end - h->req.base)) < 0)
    uv_close((uv_handle_t *)s, free_handle);
  kds_buf_release(&reply);
}

static void hs_on_conn(uv_stream_t *l, int status) {
  hs_srv *h = l->data;
  uv_tcp_t *c = malloc(sizeof(*c));
  uv_tcp_init(loop, c);
  uv_accept(l, (uv_stream_t *)c);
  c->data = h;
  kds_buf_reset(&h->req);
  uv_read_start((uv_stream_t *)c, test_alloc, hs_read);
}

static int hs_listen(hs_srv *h, ep *srv) {
  struct sockaddr_in a;
  struct sockaddr_storage got;
  int len = sizeof(got);
  memset(h, 0, sizeof(*h));
  h->srv = srv;
  h->cfg = (ws_config){WS_ROLE_SERVER, hub, &ep_cb, srv, 0, 0, 1};
  uv_tcp_init(loop, &h->listener);
  h->listener.data = h;
  uv_ip4_addr("127.0.0.1", 0, &a);
  uv_tcp_bind(&h->listener, (const struct sockaddr *)&a, 0);
  uv_listen((uv_stream_t *)&h->listener, 16, hs_on_conn);
  uv_tcp_getsockname(&h->listener, (struct sockaddr *)&got, &len);
  return ntohs(((struct sockaddr_in *)&got)->sin_port);
}

static void hs_close(hs_srv *h) {
  uv_close((uv_handle_t *)&h->listener, NULL);
  run_for(20);
  kds_buf_release(&h->req);
}

typedef struct conn_result {
  int done;
  int status;
  int http_status;
  ep *cli;
} conn_result;

static void on_connected(void *ud, int status, ws_t *ws, int http_status) {
  conn_result *r = ud;
  r->done = 1;
  r->status = status;
  r->http_status = http_status;
  if (ws) r->cli->ws = ws;
}

static void t_client(void) {
  hs_srv h;
  ep srv = {0}, cli = {0};
  conn_result res = {0, 0, 0, &cli};
  ws_config cfg = {WS_ROLE_CLIENT, hub, &ep_cb, &cli, 0, 0, 0};
  ws_connect_opts o = {"localhost", 0, "/socket.io/?EIO=4&transport=websocket", "X-Test: 1\r\n", 3000, NULL};
  o.port = hs_listen(&h, &srv);
  srv.echo = 1;
  ok(ws_connect(NULL, &o, &cfg, on_connected, &res) == 0 && !res.done, "connect started, no callback inside");
  run_until(&res.done, 5000);
  ok(res.status == 0 && cli.ws && res.http_status == 101, "connected via 'localhost': %s",
     kds_strerror(res.status));
  ok(strstr(h.req.base, "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\n") == h.req.base &&
         strstr(h.req.base, "X-Test: 1\r\n"),
     "request line and extra headers");
  if (!cli.ws) goto out;
  ws_send(cli.ws, WS_TEXT, "hello", 5);
  ws_send(cli.ws, WS_BINARY, "\x01\x02", 2);
  {
    size_t n = 200 * 1000;
    char *p = malloc(n);
    memset(p, 'z', n);
    ws_send(cli.ws, WS_TEXT, p, n);
    free(p);
  }
  run_until_n(&cli.nmsg, 3, 3000);
  ok(srv.nmsg == 3 && strncmp(srv.log.base, "T:hello|B2|T:zzz", 16) == 0,
     "server got the client's masked frames");
  ok(cli.nmsg == 3 && strncmp(cli.log.base, "T:hello|B2|T:zzz", 16) == 0, "client got the echoes");
  ok(ws_ping(cli.ws, "p", 1) == 0, "client ping");
  run_until(&cli.npong, 1000);
  ok(cli.npong == 1, "client got the pong");
  ws_close(srv.ws, 4001, "custom");
  run_until(&cli.closed, 2000);
  run_until(&srv.closed, 2000);
  ok(cli.closed && cli.info.err == 0 && cli.info.code_received == 4001 && cli.info.code_sent == 4001,
     "client sees the server's close code 4001 (err %d)", cli.info.err);
  ok(srv.closed && srv.info.err == 0 && srv.info.code_sent == 4001, "server close clean");

  /* bad UTF-8 from the server: the client closes with 1007 */
  memset(&res, 0, sizeof(res));
  res.cli = &cli;
  ep_release(&cli);
  ep_release(&srv);
  memset(&cli, 0, sizeof(cli));
  memset(&srv, 0, sizeof(srv));
  o.host = "127.0.0.1";
  ws_connect(NULL, &o, &cfg, on_connected, &res);
  run_until(&res.done, 5000);
  if (srv.ws) {
    ws_send(srv.ws, WS_TEXT, "\xc3\x28", 2);
    run_until(&cli.closed, 2000);
    run_until(&srv.closed, 2000);
  }
  ok(cli.closed && cli.info.err == KDS_EINVAL && cli.info.code_sent == 1007 && cli.nmsg == 0,
     "client refuses bad UTF-8 with 1007");
  ok(srv.closed && srv.info.code_received == 1007, "server saw 1007");

out:
  hs_close(&h);
  ep_release(&cli);
  ep_release(&srv);
}

static void t_client_failures(void) {
  hs_srv h;
  ep srv = {0}, cli = {0};
  conn_result res = {0, 0, 0, &cli};
  ws_config cfg = {WS_ROLE_CLIENT, hub, &ep_cb, &cli, 0, 0, 0};
  ws_connect_opts o = {"127.0.0.1", 0, "/", NULL, 2000, NULL};
  ws_connect_t *c;

  o.port = hs_listen(&h, &srv);
  h.refuse = 1;
  ws_connect(NULL, &o, &cfg, on_connected, &res);
  run_until(&res.done, 3000);
  ok(res.done && res.status == KDS_EPROTO && res.http_status == 400 && !cli.ws,
     "a 400 reply fails with its status");
  hs_close(&h);

  memset(&res, 0, sizeof(res));
  res.cli = &cli;
  ws_connect(NULL, &o, &cfg, on_connected, &res); /* the listener is closed now */
  run_until(&res.done, 3000);
  ok(res.done && res.status == UV_ECONNREFUSED, "refused: %s", kds_strerror(res.status));

  memset(&res, 0, sizeof(res));
  res.cli = &cli;
  ok(ws_connect(&c, &o, &cfg, on_connected, &res) == 0, "started");
  ws_connect_cancel(c);
  ok(!res.done, "cancel does not call back inside");
  run_until(&res.done, 3000);
  ok(res.done && res.status == UV_ECANCELED, "cancelled: %s", kds_strerror(res.status));

  memset(&res, 0, sizeof(res));
  res.cli = &cli;
  o.host = "no-such-host.invalid";
  ws_connect(NULL, &o, &cfg, on_connected, &res);
  run_until(&res.done, 5000);
  ok(res.done && res.status < 0 && res.status != UV_ETIMEDOUT, "unknown host: %s", kds_strerror(res.status));

  o.port = 0;
  ok(ws_connect(NULL, &o, &cfg, on_connected, &res) == KDS_EINVAL, "bad port refused");
  ep_release(&cli);
  ep_release(&srv);
}

int main(void) {
  test_loop_start(60000, NULL);
  hub = ws_hub_new(loop);

  subtest("shared frame", t_shared_frame);
  subtest("server raw", t_server_raw);
  subtest("refusals", t_server_refusals);
  subtest("header too big", t_header_too_big);
  subtest("fast path", t_fast_path);
  subtest("close in a callback", t_close_in_callback);
  subtest("head and eof", t_server_head_and_eof);
  subtest("broadcast", t_shared_broadcast);
  subtest("slow peer", t_slow_peer);
  subtest("requeue", t_requeue_next_iteration);
  subtest("close over the limit", t_close_over_limit);
  subtest("ping flood", t_ping_flood);
  subtest("ping flood through wslay", t_ping_flood_wslay);
  subtest("big and idle", t_big_and_idle);
  subtest("close timeout", t_close_timeout);
  subtest("client", t_client);
  subtest("client failures", t_client_failures);

  ws_hub_free(hub);
  test_loop_finish();
  return done_testing();
}
