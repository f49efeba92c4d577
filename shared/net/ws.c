/* ws.c: wslay's event API driven on a uv_stream (the h2o websocket.c pattern).
 *
 * Input: libuv reads into the hub's one shared buffer; read_cb hands the bytes to
 * wslay_event_recv through on_wslay_recv (EAGAIN = WSLAY_ERR_WOULDBLOCK once they are used
 * up), so nothing is buffered per connection outside wslay.
 * Output: pending pieces (bytes we own, or references on shared frames) wait in `q` until
 * the hub's uv_prepare flushes the connection once per loop iteration: one uv_try_write of
 * all of them, and a uv_write of whatever is left (the same buffers, no copy) on a partial
 * write. on_wslay_send always takes every byte, so wslay never holds half a frame and other
 * frames can go between its frames, in call order. Every byte queued, whoever framed it
 * (data, pongs, close frames), passes q_admit: max_queue bounds what a peer that does not
 * read can make us hold. While a write is in flight the connection stays off the hub's
 * dirty list (on_write puts it back), and the prepare handler works on a detached batch:
 * a stuck write can never keep it spinning.
 * Memory: a wslay context costs ~9 KB (two 4 KB buffers), more than everything else a
 * connection holds. So wslay gets involved only when it is needed: data frames and pings
 * we send are framed here (frame_out), and complete, final, small frames arriving at a
 * frame boundary are taken by the fast path (fast_feed). Fragmented messages, close frames,
 * partial or large frames and anything malformed go to wslay, which then keeps its
 * context until the connection has been idle at a frame boundary for WS_IDLE_RELEASE_MS
 * (the hub's timer frees it). An idle connection costs this struct and its uv_tcp_t. */
#include "ws.h"

#include <llhttp.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <wslay/wslay.h>

#include "dial.h"
#include "err.h"
#include "list.h"

#define WS_READ_BUF (64 * 1024)
#define WS_IDLE_RELEASE_MS 2000 /* a wslay context unused this long is freed */
#define WS_SWEEP_MS 1000
#define WS_HS_MAX_HEAD 16384
#define WS_STACK_BUFS 16
#define WS_INLINE_SEGS 2 /* pending segments held without an allocation */

struct ws_frame {
  uint32_t refs;
  uint32_t hdr; /* header bytes before the payload */
  size_t len;   /* header + payload */
  char bytes[];
};

/* One piece of pending output: bytes we own (mem) or a reference on a shared frame. */
typedef struct ws_seg {
  uv_buf_t buf;      /* what is left to write */
  char *mem;         /* malloc'd block holding buf, or NULL */
  ws_frame_t *frame; /* shared frame holding buf, or NULL */
} ws_seg;

/* A write in flight and the pieces it writes: one allocation, freed in on_write. */
typedef struct ws_wreq {
  uv_write_t req;
  ws_t *ws;
  size_t bytes;
  unsigned n;
  ws_seg segs[];
} ws_wreq;

struct ws_hub {
  uv_loop_t *loop;
  uv_prepare_t prepare; /* flushes `dirty` before the loop sleeps */
  uv_idle_t idle;       /* active while `dirty` waits for the next iteration: no sleep then */
  uv_timer_t timer;     /* close deadlines and idle release; unref'd */
  kds_list dirty;       /* connections with input or output to process */
  kds_list live;        /* connections holding a wslay context, least recently used first */
  kds_list closing;     /* connections in a close handshake, oldest deadline first */
  int handles;          /* open handles, for ws_hub_free */
  char rbuf[WS_READ_BUF];
};

enum { ST_OPEN, ST_CLOSING, ST_DEAD };

/* Where the peer's byte stream stands, frame by frame, from the headers alone (track()). */
typedef struct ws_track {
  uint64_t skip;    /* payload bytes of the current frame still to come */
  uint64_t msg_len; /* payload bytes of the current data message so far (<= max_message) */
  uint8_t hdr[14];  /* the frame header being collected */
  uint8_t hlen;
  uint8_t in_close; /* the current frame is a close frame */
  uint8_t code_len; /* bytes of its status code seen (0..2) */
  uint8_t closed;   /* a complete close frame went by */
  uint16_t code;    /* its status code (WS_CLOSE_NO_STATUS if it had none) */
} ws_track;

struct ws {
  uv_stream_t *stream;
  ws_hub_t *hub;
  const ws_callbacks *cb;
  void *data;
  wslay_event_context_ptr ctx; /* NULL while idle */
  kds_list dirty_node, live_node, closing_node;
  uint64_t last_use;       /* uv_now() of the last wslay use (order of hub->live) */
  uint64_t close_deadline; /* uv_now() + WS_CLOSE_TIMEOUT_MS once closing */
  uint64_t in_fed;         /* bytes handed to wslay */
  uint64_t in_framed;      /* header + payload bytes of every frame wslay started */
  const char *in;          /* input being fed (valid during feed()) */
  size_t in_len;
  char *head; /* bytes read before ws_start, processed on the first run */
  size_t head_len;
  kds_buf obuf; /* frames built here or by wslay, not yet made into a segment */
  ws_seg *q;    /* pending segments: NULL, q_inline, or a heap array */
  ws_seg q_inline[WS_INLINE_SEGS];
  unsigned qlen, qcap;
  ws_wreq *wreq; /* the write in flight */
  size_t queued; /* bytes in obuf + q + wreq */
  size_t max_message, max_queue;
  int err;
  uint16_t code_sent, code_received;
  uint8_t role, state, own_stream, reading, user_close;
  uint8_t in_frame, in_frag, cur_fin, cur_ctrl, in_feed;
  uint8_t drain;   /* we refused the peer's input: read and discard until its close frame */
  uint8_t refused; /* our close frame is a refusal (1002/1007/1009), whatever the peer answers */
  ws_track trk;
};

static void ws_teardown(ws_t *ws);
static void ws_settle(ws_t *ws);
static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);

/* ---- UTF-8 ------------------------------------------------------------------------ */

/* Strict RFC 3629 check: no overlongs, no surrogates, nothing above U+10FFFF. */
static int utf8_valid(const unsigned char *s, size_t n) {
  size_t i = 0;
  while (i < n) {
    unsigned char c = s[i];
    size_t need;
    unsigned lo = 0x80, hi = 0xBF;
    if (c < 0x80) {
      i++;
      continue;
    }
    if (c >= 0xC2 && c <= 0xDF) {
      need = 1;
    } else if (c >= 0xE0 && c <= 0xEF) {
      need = 2;
      if (c == 0xE0) lo = 0xA0;
      if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      need = 3;
      if (c == 0xF0) lo = 0x90;
      if (c == 0xF4) hi = 0x8F;
    } else {
      return 0;
    }
    if (n - i - 1 < need) return 0;
    if (s[i + 1] < lo || s[i + 1] > hi) return 0;
    for (size_t k = 2; k <= need; k++)
      if ((s[i + k] & 0xC0) != 0x80) return 0;
    i += need + 1;
  }
  return 1;
}

/* ---- shared frames --------------------------------------------------------------------- */

static size_t frame_header(uint8_t *h, int opcode, size_t len, int masked) {
  size_t n;
  h[0] = (uint8_t)(0x80 | (opcode & 0x0f));
  if (len < 126) {
    h[1] = (uint8_t)len;
    n = 2;
  } else if (len <= 0xffff) {
    h[1] = 126;
    h[2] = (uint8_t)(len >> 8);
    h[3] = (uint8_t)len;
    n = 4;
  } else {
    h[1] = 127;
    for (int i = 0; i < 8; i++) h[2 + i] = (uint8_t)((uint64_t)len >> (56 - 8 * i));
    n = 10;
  }
  if (masked) h[1] |= 0x80;
  return n;
}

ws_frame_t *ws_frame_newv(int opcode, const uv_buf_t *parts, unsigned nparts) {
  uint8_t h[10];
  size_t plen = 0, hdr, off;
  ws_frame_t *f;
  if (opcode != WS_TEXT && opcode != WS_BINARY) return NULL;
  for (unsigned i = 0; i < nparts; i++) {
    if (parts[i].len > SIZE_MAX / 2 - plen) return NULL;
    plen += parts[i].len;
  }
  hdr = frame_header(h, opcode, plen, 0);
  f = malloc(sizeof(*f) + hdr + plen + 1);
  if (!f) return NULL;
  f->refs = 1;
  f->hdr = (uint32_t)hdr;
  f->len = hdr + plen;
  memcpy(f->bytes, h, hdr);
  off = hdr;
  for (unsigned i = 0; i < nparts; i++) {
    if (parts[i].len) memcpy(f->bytes + off, parts[i].base, parts[i].len);
    off += parts[i].len;
  }
  f->bytes[off] = '\0'; /* so the payload may be read as a C string */
  return f;
}

ws_frame_t *ws_frame_new(int opcode, const void *data, size_t len) {
  uv_buf_t b = uv_buf_init((char *)data, (unsigned)len);
  if (len > UINT32_MAX) return NULL;
  return ws_frame_newv(opcode, &b, 1);
}

ws_frame_t *ws_frame_ref(ws_frame_t *f) {
  if (f) f->refs++;
  return f;
}

void ws_frame_unref(ws_frame_t *f) {
  if (f && --f->refs == 0) free(f);
}

const char *ws_frame_bytes(const ws_frame_t *f, size_t *len) {
  if (len) *len = f->len;
  return f->bytes;
}

const char *ws_frame_payload(const ws_frame_t *f, size_t *len) {
  if (len) *len = f->len - f->hdr;
  return f->bytes + f->hdr;
}

/* ---- hub ------------------------------------------------------------------------------ */

static void hub_arm_timer(ws_hub_t *hub);

static void on_idle(uv_idle_t *i) {
  (void)i; /* its being active is the point: the loop polls without blocking */
}

static void on_prepare(uv_prepare_t *p) {
  ws_hub_t *hub = p->data;
  kds_list batch;
  /* Only the connections dirty when we start: one that a run marks dirty again (a callback
   * sending to a connection already settled) waits for the next iteration. Draining
   * `dirty` itself would spin forever on any connection that re-queues itself, and the
   * loop would never poll again (no timer, no read, no other client). */
  kds_list_init(&batch);
  kds_list_splice(&batch, &hub->dirty);
  while (!kds_list_empty(&batch)) {
    kds_list *n = batch.next;
    ws_t *ws = kds_container_of(n, ws_t, dirty_node);
    kds_list_remove(n);
    ws_settle(ws); /* may tear down others in `batch`: that unlinks them */
  }
  if (kds_list_empty(&hub->dirty)) {
    uv_prepare_stop(p);
    uv_idle_stop(&hub->idle);
  } else {
    /* the loop is about to sleep: an active idle handle makes its poll return at once, so
     * the next iteration flushes these without waiting for an unrelated event */
    uv_idle_start(&hub->idle, on_idle);
  }
}

static int ws_releasable(const ws_t *ws) {
  return ws->ctx && ws->state == ST_OPEN && !ws->in_frame && !ws->in_frag && !ws->in_feed &&
         ws->in_fed == ws->in_framed && !wslay_event_want_write(ws->ctx) &&
         wslay_event_get_queued_msg_count(ws->ctx) == 0;
}

static void on_sweep(uv_timer_t *t) {
  ws_hub_t *hub = t->data;
  uint64_t now = uv_now(hub->loop);
  while (!kds_list_empty(&hub->closing)) {
    ws_t *ws = kds_container_of(hub->closing.next, ws_t, closing_node);
    if (ws->close_deadline > now) break;
    if (!ws->err) ws->err = UV_ETIMEDOUT;
    ws_teardown(ws); /* unlinks it */
  }
  while (!kds_list_empty(&hub->live)) {
    ws_t *ws = kds_container_of(hub->live.next, ws_t, live_node);
    if (now - ws->last_use < WS_IDLE_RELEASE_MS) break;
    kds_list_remove(&ws->live_node);
    if (ws_releasable(ws)) {
      wslay_event_context_free(ws->ctx);
      ws->ctx = NULL;
      ws->in_fed = ws->in_framed = 0;
    } else {
      ws->last_use = now; /* busy mid-frame: look again later */
      kds_list_push(&hub->live, &ws->live_node);
    }
  }
  if (kds_list_empty(&hub->live) && kds_list_empty(&hub->closing)) uv_timer_stop(t);
}

static void hub_arm_timer(ws_hub_t *hub) {
  if (!uv_is_active((uv_handle_t *)&hub->timer))
    uv_timer_start(&hub->timer, on_sweep, WS_SWEEP_MS, WS_SWEEP_MS);
}

ws_hub_t *ws_hub_new(uv_loop_t *loop) {
  ws_hub_t *hub;
  if (!loop) return NULL;
  hub = calloc(1, sizeof(*hub));
  if (!hub) return NULL;
  hub->loop = loop;
  kds_list_init(&hub->dirty);
  kds_list_init(&hub->live);
  kds_list_init(&hub->closing);
  uv_prepare_init(loop, &hub->prepare);
  hub->prepare.data = hub;
  uv_idle_init(loop, &hub->idle);
  hub->idle.data = hub;
  uv_timer_init(loop, &hub->timer);
  hub->timer.data = hub;
  uv_unref((uv_handle_t *)&hub->timer); /* housekeeping never keeps the loop alive */
  hub->handles = 3;
  return hub;
}

uv_loop_t *ws_hub_loop(const ws_hub_t *hub) {
  return hub->loop;
}

static void on_hub_handle_close(uv_handle_t *h) {
  ws_hub_t *hub = h->data;
  if (--hub->handles == 0) free(hub);
}

void ws_hub_free(ws_hub_t *hub) {
  if (!hub) return;
  uv_close((uv_handle_t *)&hub->prepare, on_hub_handle_close);
  uv_close((uv_handle_t *)&hub->idle, on_hub_handle_close);
  uv_close((uv_handle_t *)&hub->timer, on_hub_handle_close);
}

/* ---- output queue ---------------------------------------------------------------------- */

static void seg_release(ws_seg *s) {
  free(s->mem);
  ws_frame_unref(s->frame);
}

/* Makes room for one more segment. The first WS_INLINE_SEGS live in the connection itself:
 * the usual case (a frame or two per loop iteration) allocates nothing. */
static int q_reserve(ws_t *ws) {
  ws_seg *q;
  unsigned cap;
  if (ws->qlen < ws->qcap) return 0;
  if (!ws->q) {
    ws->q = ws->q_inline;
    ws->qcap = WS_INLINE_SEGS;
    return 0;
  }
  cap = ws->qcap * 2;
  if (ws->q == ws->q_inline) {
    q = malloc(cap * sizeof(*q));
    if (q) memcpy(q, ws->q_inline, ws->qlen * sizeof(*q));
  } else {
    q = realloc(ws->q, cap * sizeof(*q));
  }
  if (!q) return KDS_ENOMEM;
  ws->q = q;
  ws->qcap = cap;
  return 0;
}

/* Forgets the (empty or moved) segment array. */
static void q_drop(ws_t *ws) {
  if (ws->q != ws->q_inline) free(ws->q);
  ws->q = NULL;
  ws->qlen = ws->qcap = 0;
}

/* Turns what wslay wrote into obuf into a segment (keeps the order with shared frames). */
static int seal_obuf(ws_t *ws) {
  ws_seg s;
  size_t len;
  if (ws->obuf.len == 0) return 0;
  if (q_reserve(ws) < 0) return KDS_ENOMEM;
  s.mem = kds_buf_detach(&ws->obuf, &len);
  s.buf = uv_buf_init(s.mem, (unsigned)len);
  s.frame = NULL;
  ws->q[ws->qlen++] = s;
  return 0;
}

static void q_release_all(ws_t *ws) {
  for (unsigned i = 0; i < ws->qlen; i++) seg_release(&ws->q[i]);
  q_drop(ws);
}

/* Drops `n` written bytes from the front of q. */
static void q_consume(ws_t *ws, size_t n) {
  unsigned i = 0;
  ws->queued -= n;
  while (i < ws->qlen && n >= ws->q[i].buf.len) {
    n -= ws->q[i].buf.len;
    seg_release(&ws->q[i]);
    i++;
  }
  if (i < ws->qlen && n) {
    ws->q[i].buf.base += n;
    ws->q[i].buf.len -= (unsigned)n;
  }
  ws->qlen -= i;
  if (ws->qlen == 0) {
    q_drop(ws); /* an idle connection holds no queue memory */
  } else if (i) {
    memmove(ws->q, ws->q + i, ws->qlen * sizeof(*ws->q));
  }
}

/* Admits `hdr` + `len` more bytes to the send queue, or drops the connection (KDS_EFULL):
 * a peer that does not read is dropped, not buffered for. Everything we send goes through
 * here, data and control frames alike: a peer that sends pings and never reads its pongs
 * is a stalled reader too. */
static int q_admit(ws_t *ws, size_t hdr, size_t len) {
  size_t room = ws->queued < ws->max_queue ? ws->max_queue - ws->queued : 0;
  if (hdr > room || len > room - hdr) {
    ws_abort(ws, KDS_EFULL);
    return KDS_EFULL;
  }
  return 0;
}

/* Queues the connection for the hub's flush. Not while a write is in flight: ws_flush
 * could do nothing for it, and on_write queues it again (or settles it) when the write
 * completes. A peer that does not read keeps its write in flight for ever; queuing it each
 * time would make on_prepare find it dirty again after every run. */
static void mark_dirty(ws_t *ws) {
  if (ws->state == ST_DEAD || ws->wreq) return;
  if (kds_list_empty(&ws->dirty_node)) kds_list_push(&ws->hub->dirty, &ws->dirty_node);
  if (!uv_is_active((uv_handle_t *)&ws->hub->prepare)) uv_prepare_start(&ws->hub->prepare, on_prepare);
}

static void on_write(uv_write_t *req, int status) {
  ws_wreq *w = kds_container_of(req, ws_wreq, req);
  ws_t *ws = w->ws;
  for (unsigned i = 0; i < w->n; i++) seg_release(&w->segs[i]);
  ws->queued -= w->bytes;
  ws->wreq = NULL;
  free(w);
  if (ws->state == ST_DEAD) return; /* cancelled by uv_close: the close callback follows */
  if (status < 0) {
    ws_abort(ws, status);
    return;
  }
  if (ws->qlen || ws->obuf.len)
    mark_dirty(ws); /* more came meanwhile (not queued then: see mark_dirty): flush it now */
  else
    ws_settle(ws);
}

/* Writes everything pending: one try-write of all segments, then one queued write of what
 * the kernel did not take. At most one write is in flight. */
static void ws_flush(ws_t *ws) {
  uv_buf_t stackbufs[WS_STACK_BUFS], *bufs;
  ws_wreq *w;
  int rc;
  if (ws->state == ST_DEAD || ws->wreq) return;
  if (seal_obuf(ws) < 0) {
    ws_abort(ws, KDS_ENOMEM);
    return;
  }
  if (ws->qlen == 0) return;
  bufs = ws->qlen <= WS_STACK_BUFS ? stackbufs : malloc(ws->qlen * sizeof(*bufs));
  if (!bufs) {
    ws_abort(ws, KDS_ENOMEM);
    return;
  }
  for (unsigned i = 0; i < ws->qlen; i++) bufs[i] = ws->q[i].buf;
  rc = uv_try_write(ws->stream, bufs, ws->qlen);
  if (bufs != stackbufs) free(bufs);
  if (rc == UV_EAGAIN || rc == UV_ENOSYS) rc = 0;
  if (rc < 0) {
    ws_abort(ws, rc);
    return;
  }
  q_consume(ws, (size_t)rc);
  if (ws->qlen == 0) return;

  w = malloc(sizeof(*w) + ws->qlen * sizeof(ws_seg));
  bufs = ws->qlen <= WS_STACK_BUFS ? stackbufs : malloc(ws->qlen * sizeof(*bufs));
  if (!w || !bufs) {
    free(w);
    if (bufs != stackbufs) free(bufs);
    ws_abort(ws, KDS_ENOMEM);
    return;
  }
  w->ws = ws;
  w->n = ws->qlen;
  w->bytes = 0;
  for (unsigned i = 0; i < w->n; i++) {
    w->segs[i] = ws->q[i];
    bufs[i] = ws->q[i].buf;
    w->bytes += ws->q[i].buf.len;
  }
  q_drop(ws);
  rc = uv_write(&w->req, ws->stream, bufs, w->n, on_write);
  if (bufs != stackbufs) free(bufs);
  if (rc < 0) {
    for (unsigned i = 0; i < w->n; i++) seg_release(&w->segs[i]);
    ws->queued -= w->bytes;
    free(w);
    ws_abort(ws, rc);
    return;
  }
  ws->wreq = w;
}

/* ---- wslay glue ------------------------------------------------------------------------ */

static ssize_t on_wslay_recv(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags, void *ud) {
  ws_t *ws = ud;
  size_t n = ws->in_len;
  if (n == 0) {
    wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
    return -1;
  }
  if (n > len) n = len;
  memcpy(buf, ws->in, n);
  ws->in += n;
  ws->in_len -= n;
  ws->in_fed += n;
  return (ssize_t)n;
}

static ssize_t on_wslay_send(wslay_event_context_ptr ctx, const uint8_t *data, size_t len, int flags,
                             void *ud) {
  ws_t *ws = ud;
  /* Always take everything: wslay then never keeps half a frame, so shared frames can go
   * between its frames. Our data frames are checked against the queue limit before they
   * are queued; what wslay sends (pongs, close frames) is checked here. Over the limit the
   * connection is dropped (ws_abort stops wslay) and the failure ends wslay_event_send. */
  if (q_admit(ws, 0, len) < 0) {
    wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
    return -1;
  }
  if (kds_buf_add(&ws->obuf, data, len) < 0) {
    wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
    return -1;
  }
  ws->queued += len;
  return (ssize_t)len;
}

static int on_wslay_genmask(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, void *ud) {
  return RAND_bytes(buf, (int)len) == 1 ? 0 : -1;
}

static void on_wslay_frame_start(wslay_event_context_ptr ctx,
                                 const struct wslay_event_on_frame_recv_start_arg *arg, void *ud) {
  ws_t *ws = ud;
  uint64_t plen = arg->payload_length;
  uint64_t hdr = 2 + (plen < 126 ? 0 : plen <= 0xffff ? 2 : 8) + (ws->role == WS_ROLE_SERVER ? 4 : 0);
  ws->in_frame = 1;
  ws->in_framed += hdr + plen;
  ws->cur_fin = arg->fin;
  ws->cur_ctrl = wslay_is_ctrl_frame(arg->opcode);
}

static void on_wslay_frame_end(wslay_event_context_ptr ctx, void *ud) {
  ws_t *ws = ud;
  ws->in_frame = 0;
  if (!ws->cur_ctrl) ws->in_frag = !ws->cur_fin;
}

static void on_wslay_msg(wslay_event_context_ptr ctx, const struct wslay_event_on_msg_recv_arg *arg,
                         void *ud) {
  ws_t *ws = ud;
  switch (arg->opcode) {
    case WSLAY_TEXT_FRAME:
      if (!utf8_valid(arg->msg, arg->msg_length)) {
        /* wslay checks UTF-8 too (1.1.x); this is the driver's own guarantee. */
        if (!ws->err) ws->err = KDS_EINVAL;
        wslay_event_queue_close(ctx, WS_CLOSE_INVALID_DATA, NULL, 0);
        wslay_event_shutdown_read(ctx);
        return;
      }
      /* fall through */
    case WSLAY_BINARY_FRAME:
      if (ws->state == ST_OPEN) ws->cb->on_message(ws, arg->opcode, (const char *)arg->msg, arg->msg_length);
      break;
    case WSLAY_PONG:
      if (ws->state == ST_OPEN && ws->cb->on_pong)
        ws->cb->on_pong(ws, (const char *)arg->msg, arg->msg_length);
      break;
    case WSLAY_CONNECTION_CLOSE:
      ws->code_received = arg->status_code ? arg->status_code : WS_CLOSE_NO_STATUS;
      break;
    default:
      break;
  }
}

static const struct wslay_event_callbacks ws_wslay_callbacks = {
    on_wslay_recv, on_wslay_send,      on_wslay_genmask, on_wslay_frame_start,
    NULL,          on_wslay_frame_end, on_wslay_msg};

static void touch(ws_t *ws) {
  ws->last_use = uv_now(ws->hub->loop);
  kds_list_remove(&ws->live_node);
  kds_list_push(&ws->hub->live, &ws->live_node);
}

static int ensure_ctx(ws_t *ws) {
  int rc;
  if (!ws->ctx) {
    if (ws->role == WS_ROLE_SERVER)
      rc = wslay_event_context_server_init(&ws->ctx, &ws_wslay_callbacks, ws);
    else
      rc = wslay_event_context_client_init(&ws->ctx, &ws_wslay_callbacks, ws);
    if (rc != 0) {
      ws->ctx = NULL;
      return KDS_ENOMEM;
    }
    wslay_event_config_set_max_recv_msg_length(ws->ctx, ws->max_message);
    hub_arm_timer(ws->hub);
  }
  touch(ws);
  return 0;
}

static void enter_closing(ws_t *ws) {
  if (ws->state != ST_OPEN) return;
  ws->state = ST_CLOSING;
  ws->close_deadline = uv_now(ws->hub->loop) + WS_CLOSE_TIMEOUT_MS;
  kds_list_push(&ws->hub->closing, &ws->closing_node);
  hub_arm_timer(ws->hub);
}

/* Moves wslay's queued frames into obuf and notices a close frame going out. */
static void pump(ws_t *ws) {
  int rc;
  if (!ws->ctx || ws->state == ST_DEAD) return;
  if (wslay_event_want_write(ws->ctx)) {
    rc = wslay_event_send(ws->ctx);
    if (rc != 0) {
      ws_abort(ws, rc == WSLAY_ERR_NOMEM ? KDS_ENOMEM : KDS_EPROTO);
      return;
    }
  }
  if (!ws->code_sent && wslay_event_get_close_sent(ws->ctx)) {
    ws->code_sent = wslay_event_get_status_code_sent(ws->ctx);
    enter_closing(ws);
  }
  if (ws->obuf.len) mark_dirty(ws);
}

/* Appends one complete, final frame in our role's form (a client masks with a fresh key
 * from the CSPRNG) to obuf. Data frames and pings do not need wslay: they cost no context. */
static int frame_out(ws_t *ws, int opcode, const void *data, size_t len) {
  uint8_t h[14];
  size_t n = frame_header(h, opcode, len, ws->role == WS_ROLE_CLIENT);
  char *dst;
  if (ws->role == WS_ROLE_CLIENT) {
    if (RAND_bytes(h + n, 4) != 1) return KDS_EINVAL;
    n += 4;
  }
  if (kds_buf_grow(&ws->obuf, n + len) < 0) return KDS_ENOMEM;
  dst = ws->obuf.base + ws->obuf.len;
  memcpy(dst, h, n);
  if (ws->role == WS_ROLE_CLIENT) {
    const uint8_t *key = h + n - 4, *src = data;
    for (size_t i = 0; i < len; i++) dst[n + i] = (char)(src[i] ^ key[i & 3]);
  } else if (len) {
    memcpy(dst + n, data, len);
  }
  ws->obuf.len += n + len;
  ws->obuf.base[ws->obuf.len] = '\0';
  ws->queued += n + len;
  mark_dirty(ws);
  return 0;
}

/* Refuses the peer's input: close with `code` (through wslay, which tracks the close) and
 * read nothing more. */
static void refuse(ws_t *ws, uint16_t code, int err) {
  if (!ws->err) ws->err = err;
  if (ensure_ctx(ws) < 0) {
    ws_abort(ws, KDS_ENOMEM);
    return;
  }
  wslay_event_queue_close(ws->ctx, code, NULL, 0);
  wslay_event_shutdown_read(ws->ctx);
  enter_closing(ws);
}

/* Frame-level errors that wslay's frame parser reports without a close code (it would send
 * an empty close frame): a control frame that is long or fragmented, a length that is not
 * in its minimal form or has the top bit set. Checked at a frame boundary so that the peer
 * gets a proper 1002. Returns 1 if the header at p (n bytes available) is one of those. */
static int header_malformed(const uint8_t *p, size_t n) {
  int op = p[0] & 0x0f, fin = p[0] >> 7;
  size_t len7 = p[1] & 0x7f;
  if (wslay_is_ctrl_frame(op) && (len7 > 125 || !fin)) return 1;
  if (len7 == 126 && n >= 4 && (((size_t)p[2] << 8) | p[3]) < 126) return 1;
  if (len7 == 127 && n >= 10) {
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v = (v << 8) | p[2 + i];
    if ((v >> 63) || v < 65536) return 1;
  }
  return 0;
}

enum { TRACK_OK, TRACK_TOO_BIG, TRACK_MALFORMED };

/* The length of the frame header that starts with the `have` bytes at h (2 until known). */
static size_t header_size(const uint8_t *h, size_t have) {
  size_t n = 2, len7;
  if (have < 2) return 2;
  len7 = h[1] & 0x7f;
  n += len7 == 126 ? 2 : len7 == 127 ? 8 : 0;
  return n + (h[1] & 0x80 ? 4 : 0);
}

/* Judges a complete frame header and starts skipping its payload. */
static int track_header(ws_t *ws, ws_track *t) {
  const uint8_t *h = t->hdr;
  int op = h[0] & 0x0f, verdict = TRACK_OK;
  uint64_t plen = h[1] & 0x7f;
  if (plen == 126) {
    plen = ((uint64_t)h[2] << 8) | h[3];
  } else if (plen == 127) {
    plen = 0;
    for (int i = 0; i < 8; i++) plen = (plen << 8) | h[2 + i];
  }
  if (header_malformed(h, t->hlen)) {
    verdict = TRACK_MALFORMED;
  } else if (op == WSLAY_TEXT_FRAME || op == WSLAY_BINARY_FRAME || op == WSLAY_CONTINUATION_FRAME) {
    if (op != WSLAY_CONTINUATION_FRAME) t->msg_len = 0;
    if (plen > ws->max_message - t->msg_len) /* msg_len <= max_message: no wrap */
      verdict = TRACK_TOO_BIG;
    else
      t->msg_len += plen;
  }
  t->in_close = op == WSLAY_CONNECTION_CLOSE;
  t->code_len = 0;
  t->code = 0;
  t->skip = plen;
  return verdict;
}

/* Reads the close frame's status code (unmasking it) as its first payload bytes pass. */
static void track_close_payload(ws_track *t, const uint8_t *p, size_t n) {
  const uint8_t *key = t->hdr + t->hlen - 4;
  for (size_t i = 0; i < n && t->code_len < 2; i++, t->code_len++) {
    uint8_t c = p[i];
    if (t->hdr[1] & 0x80) c ^= key[t->code_len];
    t->code = (uint16_t)(t->code << 8 | c);
  }
}

/* Follows the peer's byte stream frame by frame from the headers alone (payloads are
 * skipped, never copied), ahead of the fast path and wslay. It lets the driver judge a
 * frame as soon as its header is complete: a length over max_message is refused before
 * any payload arrives (wslay would wait for payload first, and size a buffer from the
 * header). After we refused the peer's input it finds the peer's close frame in bytes no
 * one else reads any more. Consumes all of `data`; returns the verdict on the first bad
 * header in it (TRACK_TOO_BIG, TRACK_MALFORMED; *bad = where that header starts, 0 if it
 * began in an earlier read) or TRACK_OK. */
static int track(ws_t *ws, const char *data, size_t len, size_t *bad) {
  ws_track *t = &ws->trk;
  const uint8_t *p = (const uint8_t *)data;
  size_t off = 0;
  int verdict = TRACK_OK, v;
  while (off < len) {
    if (t->skip == 0 && !t->in_close) { /* at a header */
      size_t start = t->hlen ? 0 : off;
      while (off < len && t->hlen < header_size(t->hdr, t->hlen)) t->hdr[t->hlen++] = p[off++];
      if (t->hlen < header_size(t->hdr, t->hlen)) break;
      v = track_header(ws, t);
      if (v != TRACK_OK && verdict == TRACK_OK) {
        verdict = v;
        *bad = start;
      }
    } else {
      size_t n = len - off < t->skip ? len - off : (size_t)t->skip;
      if (t->in_close) track_close_payload(t, p + off, n);
      off += n;
      t->skip -= n;
    }
    if (t->skip == 0) {
      if (t->in_close) {
        t->closed = 1;
        if (t->code_len < 2) t->code = WS_CLOSE_NO_STATUS;
        t->in_close = 0;
      }
      t->hlen = 0;
    }
  }
  return verdict;
}

/* The fast path, used only while there is no wslay context (so at a frame boundary):
 * complete, final, unfragmented text/binary/ping/pong frames of the right masking, up to
 * 64 KiB, are handled here, unmasked in place. Returns the bytes used; it stops at the
 * first frame that is anything else (fragmented, close, incomplete, oversized, malformed),
 * which wslay then gets with everything after it. This keeps an idle or lightly used
 * connection free of wslay's ~9 KB context: pongs and small messages never create one. */
static size_t fast_feed(ws_t *ws, char *data, size_t len) {
  size_t off = 0;
  while (ws->state == ST_OPEN && !ws->ctx && len - off >= 2) {
    uint8_t b0 = (uint8_t)data[off], b1 = (uint8_t)data[off + 1];
    int op = b0 & 0x0f, masked = b1 >> 7;
    size_t hdr = 2, plen = b1 & 0x7f;
    char *p;
    if (header_malformed((const uint8_t *)data + off, len - off)) {
      refuse(ws, WS_CLOSE_PROTOCOL_ERROR, KDS_EPROTO);
      return off;
    }
    if ((b0 & 0xf0) != 0x80) break; /* FIN set, no RSV bits */
    if (op != WSLAY_TEXT_FRAME && op != WSLAY_BINARY_FRAME && op != WSLAY_PING && op != WSLAY_PONG) break;
    if (masked != (ws->role == WS_ROLE_SERVER)) break;
    if (plen == 127) break;
    if (plen == 126) {
      if (wslay_is_ctrl_frame(op) || len - off < 4) break;
      plen = ((size_t)(uint8_t)data[off + 2] << 8) | (uint8_t)data[off + 3];
      if (plen < 126) break; /* not minimal: wslay's verdict */
      hdr = 4;
    }
    if (masked) hdr += 4;
    if (len - off < hdr + plen || plen > ws->max_message) break;
    p = data + off + hdr;
    if (masked) {
      const uint8_t *key = (const uint8_t *)p - 4;
      for (size_t i = 0; i < plen; i++) p[i] = (char)((uint8_t)p[i] ^ key[i & 3]);
    }
    off += hdr + plen;
    switch (op) {
      case WSLAY_TEXT_FRAME:
        if (!utf8_valid((const unsigned char *)p, plen)) {
          refuse(ws, WS_CLOSE_INVALID_DATA, KDS_EINVAL);
          return off;
        }
        /* fall through */
      case WSLAY_BINARY_FRAME:
        ws->cb->on_message(ws, op, p, plen);
        break;
      case WSLAY_PING:
        if (q_admit(ws, 14, plen) < 0) return off; /* dropped: it does not read its pongs */
        if (frame_out(ws, WSLAY_PONG, p, plen) < 0) ws_abort(ws, KDS_ENOMEM);
        break;
      default: /* pong */
        if (ws->cb->on_pong) ws->cb->on_pong(ws, p, plen);
        break;
    }
  }
  return off;
}

/* Hands bytes read from the peer to the fast path, then the rest to wslay (recv until no
 * progress). `data` is ours to modify (unmasking in place). */
static void consume(ws_t *ws, char *data, size_t len) {
  int rc;
  if (!ws->ctx) {
    size_t used = fast_feed(ws, data, len);
    data += used;
    len -= used;
    if (ws->state == ST_DEAD) return;
  }
  if (len > 0) {
    /* The rest needs wslay: a frame it must see, or a close we began inside a callback
     * (the peer's answer may be in these very bytes). */
    if (ensure_ctx(ws) < 0) {
      ws_abort(ws, KDS_ENOMEM);
      return;
    }
    if (wslay_event_want_read(ws->ctx)) {
      ws->in = data;
      ws->in_len = len;
      ws->in_feed = 1;
      rc = wslay_event_recv(ws->ctx);
      ws->in_feed = 0;
      ws->in = NULL;
      ws->in_len = 0;
      if (ws->state == ST_DEAD) return; /* a callback aborted it */
      if (rc == WSLAY_ERR_NOMEM) {
        ws_abort(ws, KDS_ENOMEM);
        return;
      }
      if (rc != 0 && !ws->err) ws->err = KDS_EPROTO; /* a frame error: wslay queued a close */
    }                                                /* else closed for reading: the rest is dropped */
  }
}

/* Processes bytes read from the peer (track, then consume up to the first header to
 * refuse), then queues whatever wslay wants to send back (pongs, close echoes).
 * After we refused the peer's input, the connection keeps reading and dropping bytes until
 * the peer's close frame (or EOF, or WS_CLOSE_TIMEOUT_MS): closing TCP with unread input
 * would make the kernel send a reset, which can destroy our close frame before the peer
 * reads it (the peer would then see 1006 instead of our code). */
static void feed(ws_t *ws, char *data, size_t len) {
  size_t bad = len;
  int verdict;
  if (ws->state == ST_DEAD || len == 0) return;
  verdict = track(ws, data, len, &bad);
  if (!ws->drain) {
    consume(ws, data, verdict == TRACK_OK ? len : bad);
    if (ws->state == ST_DEAD) return;
    if (verdict != TRACK_OK && (!ws->ctx || wslay_event_get_read_enabled(ws->ctx))) {
      if (verdict == TRACK_TOO_BIG)
        refuse(ws, WS_CLOSE_TOO_BIG, KDS_ETOOBIG);
      else
        refuse(ws, WS_CLOSE_PROTOCOL_ERROR, KDS_EPROTO);
      if (ws->state == ST_DEAD) return;
    }
    if (ws->ctx && !wslay_event_get_read_enabled(ws->ctx)) { /* close frame or bad input */
      enter_closing(ws);
      if (!wslay_event_get_close_received(ws->ctx)) ws->drain = ws->refused = 1;
    }
  }
  if (ws->drain && ws->trk.closed) { /* the peer's close: the handshake is complete */
    ws->drain = 0;
    if (!ws->code_received) ws->code_received = ws->trk.code;
  }
  pump(ws);
}

static void ws_run_head(ws_t *ws) {
  char *h = ws->head;
  if (!h) return;
  ws->head = NULL;
  feed(ws, h, ws->head_len);
  free(h);
}

/* The driver's decision after any progress: process held input, flush, then read-start,
 * read-stop or close according to wslay's want_read/want_write and what is still queued. */
static void ws_settle(ws_t *ws) {
  int want_read, want_write, rc;
  if (ws->state == ST_DEAD) return;
  ws_run_head(ws);
  pump(ws);
  ws_flush(ws);
  if (ws->state == ST_DEAD) return;
  want_read = ws->drain || (ws->ctx ? wslay_event_want_read(ws->ctx) : 1);
  want_write = ws->ctx ? wslay_event_want_write(ws->ctx) : 0;
  if (!want_read && !want_write && !ws->wreq && ws->qlen == 0 && ws->obuf.len == 0) {
    ws_teardown(ws);
    return;
  }
  if (want_read && !ws->reading) {
    rc = uv_read_start(ws->stream, on_alloc, on_read);
    if (rc < 0) {
      ws_abort(ws, rc);
      return;
    }
    ws->reading = 1;
  } else if (!want_read && ws->reading) {
    uv_read_stop(ws->stream);
    ws->reading = 0;
  }
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  ws_t *ws = h->data;
  buf->base = ws->hub->rbuf; /* shared: read_cb consumes every byte before returning */
  buf->len = sizeof(ws->hub->rbuf);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  ws_t *ws = s->data;
  if (ws->state == ST_DEAD) return;
  if (nread > 0) {
    ws_run_head(ws); /* bytes read before ws_start come first */
    feed(ws, buf->base, (size_t)nread);
    ws_settle(ws);
    return;
  }
  if (nread == 0) return;
  /* The peer closed TCP (or the link broke). After our close frame that is the end of a
   * close handshake; before it, an abnormal end. */
  if (!ws->err && !ws->code_sent && !ws->code_received) ws->err = (int)nread;
  ws_teardown(ws);
}

/* ---- lifecycle -------------------------------------------------------------------------- */

static int close_err(const ws_t *ws) {
  if (ws->err) return ws->err;
  if (ws->code_received && !(ws->refused && !ws->user_close)) return 0; /* the peer's close, echoed */
  if (ws->code_sent && ws->user_close) return 0;
  if (ws->code_sent) { /* wslay refused the peer's input */
    if (ws->code_sent == WS_CLOSE_TOO_BIG) return KDS_ETOOBIG;
    if (ws->code_sent == WS_CLOSE_INVALID_DATA) return KDS_EINVAL;
    return KDS_EPROTO;
  }
  return UV_EOF;
}

static void on_stream_close(uv_handle_t *h) {
  ws_t *ws = h->data;
  ws_close_info info;
  info.err = close_err(ws);
  info.code_received = ws->code_received;
  info.code_sent = ws->code_sent;
  q_release_all(ws);
  kds_buf_release(&ws->obuf);
  free(ws->head);
  wslay_event_context_free(ws->ctx);
  ws->ctx = NULL;
  ws->cb->on_close(ws, &info);
  if (ws->own_stream) free(ws->stream);
  free(ws);
}

static void ws_teardown(ws_t *ws) {
  if (ws->state == ST_DEAD) return;
  ws->state = ST_DEAD;
  kds_list_remove(&ws->dirty_node);
  kds_list_remove(&ws->live_node);
  kds_list_remove(&ws->closing_node);
  if (ws->ctx) { /* stop wslay from reading or calling back if we are inside it */
    wslay_event_shutdown_read(ws->ctx);
    wslay_event_shutdown_write(ws->ctx);
  }
  uv_close((uv_handle_t *)ws->stream, on_stream_close);
}

int ws_start(ws_t **out, uv_stream_t *stream, const ws_config *cfg, const char *prelude, size_t prelude_len,
             const char *head, size_t head_len) {
  ws_t *ws;
  int rc;
  if (out) *out = NULL;
  if (!out || !stream || !cfg || !cfg->hub || !cfg->cb || !cfg->cb->on_close || !cfg->cb->on_message)
    return KDS_EINVAL;
  ws = calloc(1, sizeof(*ws));
  if (!ws) return KDS_ENOMEM;
  ws->stream = stream;
  ws->hub = cfg->hub;
  ws->cb = cfg->cb;
  ws->data = cfg->data;
  ws->role = cfg->role == WS_ROLE_CLIENT ? WS_ROLE_CLIENT : WS_ROLE_SERVER;
  ws->own_stream = cfg->own_stream ? 1 : 0;
  ws->max_message = cfg->max_message ? cfg->max_message : WS_DEFAULT_MAX_MESSAGE;
  if (ws->max_message > WS_MAX_MESSAGE_CAP) ws->max_message = WS_MAX_MESSAGE_CAP;
  ws->max_queue = cfg->max_queue ? cfg->max_queue : WS_DEFAULT_MAX_QUEUE;
  kds_list_init(&ws->dirty_node);
  kds_list_init(&ws->live_node);
  kds_list_init(&ws->closing_node);
  kds_buf_init(&ws->obuf);
  if (prelude_len && kds_buf_add(&ws->obuf, prelude, prelude_len) < 0) goto fail_nomem;
  ws->queued = ws->obuf.len;
  if (head_len) {
    ws->head = malloc(head_len);
    if (!ws->head) goto fail_nomem;
    memcpy(ws->head, head, head_len);
    ws->head_len = head_len;
  }
  stream->data = ws;
  rc = uv_read_start(stream, on_alloc, on_read);
  if (rc < 0) goto fail;
  ws->reading = 1;
  if (prelude_len || head_len) mark_dirty(ws);
  *out = ws;
  return 0;

fail_nomem:
  rc = KDS_ENOMEM;
fail:
  free(ws->head);
  kds_buf_release(&ws->obuf);
  free(ws);
  return rc;
}

int ws_send(ws_t *ws, int opcode, const void *data, size_t len) {
  if (!ws || ws->state != ST_OPEN) return KDS_ECLOSED;
  if (opcode != WS_TEXT && opcode != WS_BINARY) return KDS_EINVAL;
  if (q_admit(ws, 14, len) < 0) return KDS_EFULL;
  return frame_out(ws, opcode, data, len);
}

int ws_send_shared(ws_t *ws, ws_frame_t *frame) {
  ws_seg s;
  if (!ws || ws->state != ST_OPEN) return KDS_ECLOSED;
  if (!frame || ws->role != WS_ROLE_SERVER) return KDS_EINVAL;
  if (q_admit(ws, 0, frame->len) < 0) return KDS_EFULL;
  if (seal_obuf(ws) < 0 || q_reserve(ws) < 0) return KDS_ENOMEM;
  s.buf = uv_buf_init(frame->bytes, (unsigned)frame->len);
  s.mem = NULL;
  s.frame = ws_frame_ref(frame);
  ws->q[ws->qlen++] = s;
  ws->queued += frame->len;
  mark_dirty(ws);
  return 0;
}

int ws_ping(ws_t *ws, const void *data, size_t len) {
  if (!ws || ws->state != ST_OPEN) return KDS_ECLOSED;
  if (len > 125) return KDS_EINVAL;
  if (q_admit(ws, 14, len) < 0) return KDS_EFULL;
  return frame_out(ws, WSLAY_PING, data, len);
}

void ws_close(ws_t *ws, uint16_t code, const char *reason) {
  size_t rlen = reason ? strlen(reason) : 0;
  int rc;
  if (!ws || ws->state != ST_OPEN) return;
  if (rlen > 123) rlen = 123;
  if (code != 0 && (code < 1000 || code > 4999)) code = WS_CLOSE_NORMAL;
  if (ensure_ctx(ws) < 0) {
    ws_abort(ws, KDS_ENOMEM);
    return;
  }
  ws->user_close = 1;
  rc = wslay_event_queue_close(ws->ctx, code, (const uint8_t *)reason, code ? rlen : 0);
  if (rc != 0 && rc != WSLAY_ERR_NO_MORE_MSG) {
    ws_abort(ws, KDS_ENOMEM);
    return;
  }
  enter_closing(ws);
  pump(ws);
  mark_dirty(ws);
}

void ws_abort(ws_t *ws, int err) {
  if (!ws || ws->state == ST_DEAD) return;
  if (!ws->err) ws->err = err ? err : KDS_ECLOSED;
  ws_teardown(ws);
}

size_t ws_queued(const ws_t *ws) {
  return ws->queued;
}

int ws_is_closing(const ws_t *ws) {
  return ws->state != ST_OPEN;
}

void *ws_data(const ws_t *ws) {
  return ws->data;
}

void ws_set_data(ws_t *ws, void *data) {
  ws->data = data;
}

uv_stream_t *ws_stream(const ws_t *ws) {
  return ws->stream;
}

/* ---- handshake helpers ------------------------------------------------------------------ */

static const char ws_guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

static int b64_char(int c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/';
}

/* A Sec-WebSocket-Key must be base64 of 16 bytes: 22 characters and "==". */
static int key_valid(const char *key, size_t len) {
  if (!key || len != WS_KEY_LEN || key[22] != '=' || key[23] != '=') return 0;
  for (size_t i = 0; i < 22; i++)
    if (!b64_char((unsigned char)key[i])) return 0;
  /* the last character before "==" carries 2 bits: its low 4 bits must be zero */
  return strchr("AQgw", key[21]) != NULL;
}

int ws_accept_key(const char *key, size_t key_len, char out[WS_ACCEPT_LEN + 1]) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int mdlen = 0;
  char in[WS_KEY_LEN + sizeof(ws_guid)];
  if (!key_valid(key, key_len)) return KDS_EINVAL;
  memcpy(in, key, key_len);
  memcpy(in + key_len, ws_guid, sizeof(ws_guid) - 1);
  if (EVP_Digest(in, key_len + sizeof(ws_guid) - 1, md, &mdlen, EVP_sha1(), NULL) != 1 || mdlen != 20)
    return KDS_EINVAL;
  EVP_EncodeBlock((unsigned char *)out, md, 20); /* 28 characters + NUL */
  return 0;
}

int ws_handshake_reply(kds_buf *out, const char *key, size_t key_len, const char *extra_headers) {
  char accept[WS_ACCEPT_LEN + 1];
  size_t mark = out->len;
  if (ws_accept_key(key, key_len, accept) < 0) return KDS_EINVAL;
  if (kds_buf_addf(out,
                   "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                   "Sec-WebSocket-Accept: %s\r\n%s\r\n",
                   accept, extra_headers ? extra_headers : "") < 0) {
    out->len = mark;
    if (out->base) out->base[mark] = '\0';
    return KDS_ENOMEM;
  }
  return 0;
}

int ws_client_key(char out[WS_KEY_LEN + 1]) {
  unsigned char raw[16];
  if (RAND_bytes(raw, sizeof(raw)) != 1) return KDS_EINVAL;
  EVP_EncodeBlock((unsigned char *)out, raw, sizeof(raw));
  return 0;
}

int ws_client_request(kds_buf *out, const char *host, const char *path, const char *key,
                      const char *extra_headers) {
  size_t mark = out->len;
  if (kds_buf_addf(out,
                   "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                   "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n%s\r\n",
                   path, host, key, extra_headers ? extra_headers : "") < 0) {
    out->len = mark;
    if (out->base) out->base[mark] = '\0';
    return KDS_ENOMEM;
  }
  return 0;
}

enum { HS_H_OTHER, HS_H_UPGRADE, HS_H_CONNECTION, HS_H_ACCEPT };

struct ws_hs {
  llhttp_t parser;
  char expect[WS_ACCEPT_LEN + 1];
  char field[32]; /* the current header name (longer names are none of ours) */
  size_t field_len;
  char value[128]; /* the current value of one of our headers */
  size_t value_len;
  int which;
  int got_upgrade, got_connection, got_accept;
  int status;
  int done;  /* head complete and valid */
  int error; /* a KDS_E code once failed */
  size_t total;
};

static int hs_on_field(llhttp_t *p, const char *at, size_t len) {
  ws_hs_t *hs = p->data;
  size_t room = sizeof(hs->field) - 1 - hs->field_len;
  if (len > room) {
    len = room;
    hs->field_len = sizeof(hs->field); /* marks it as too long */
  }
  if (hs->field_len < sizeof(hs->field)) {
    memcpy(hs->field + hs->field_len, at, len);
    hs->field_len += len;
  }
  return 0;
}

static int hs_on_field_done(llhttp_t *p) {
  ws_hs_t *hs = p->data;
  hs->which = HS_H_OTHER;
  if (hs->field_len < sizeof(hs->field)) {
    hs->field[hs->field_len] = '\0';
    if (strcasecmp(hs->field, "upgrade") == 0)
      hs->which = HS_H_UPGRADE;
    else if (strcasecmp(hs->field, "connection") == 0)
      hs->which = HS_H_CONNECTION;
    else if (strcasecmp(hs->field, "sec-websocket-accept") == 0)
      hs->which = HS_H_ACCEPT;
  }
  hs->field_len = 0;
  hs->value_len = 0;
  return 0;
}

static int hs_on_value(llhttp_t *p, const char *at, size_t len) {
  ws_hs_t *hs = p->data;
  if (hs->which == HS_H_OTHER) return 0;
  if (len > sizeof(hs->value) - 1 - hs->value_len) return -1; /* absurd value for these */
  memcpy(hs->value + hs->value_len, at, len);
  hs->value_len += len;
  return 0;
}

/* 1 if the comma-separated list `v` holds `token` (ASCII case-insensitive). */
static int has_token(const char *v, const char *token) {
  size_t tl = strlen(token);
  while (*v) {
    const char *end;
    while (*v == ' ' || *v == '\t' || *v == ',') v++;
    end = v;
    while (*end && *end != ',') end++;
    {
      const char *e = end;
      while (e > v && (e[-1] == ' ' || e[-1] == '\t')) e--;
      if ((size_t)(e - v) == tl && strncasecmp(v, token, tl) == 0) return 1;
    }
    v = end;
  }
  return 0;
}

static int hs_on_value_done(llhttp_t *p) {
  ws_hs_t *hs = p->data;
  const char *v = hs->value;
  size_t n = hs->value_len;
  if (hs->which == HS_H_OTHER) return 0;
  hs->value[n] = '\0';
  while (*v == ' ' || *v == '\t') v++, n--;
  while (n && (v[n - 1] == ' ' || v[n - 1] == '\t')) n--;
  switch (hs->which) {
    case HS_H_UPGRADE:
      if (n == 9 && strncasecmp(v, "websocket", 9) == 0) hs->got_upgrade = 1;
      break;
    case HS_H_CONNECTION:
      if (has_token(v, "upgrade")) hs->got_connection = 1;
      break;
    case HS_H_ACCEPT:
      hs->got_accept = n == WS_ACCEPT_LEN && memcmp(v, hs->expect, WS_ACCEPT_LEN) == 0 ? 1 : -1;
      break;
  }
  hs->which = HS_H_OTHER;
  return 0;
}

static int hs_on_headers_complete(llhttp_t *p) {
  ws_hs_t *hs = p->data;
  hs->status = p->status_code;
  if (hs->status != 101 || !hs->got_upgrade || !hs->got_connection || hs->got_accept != 1) {
    hs->error = KDS_EPROTO;
    return -1;
  }
  hs->done = 1;
  return 2; /* no body: llhttp stops with HPE_PAUSED_UPGRADE right after the head */
}

static const llhttp_settings_t hs_settings = {
    .on_header_field = hs_on_field,
    .on_header_field_complete = hs_on_field_done,
    .on_header_value = hs_on_value,
    .on_header_value_complete = hs_on_value_done,
    .on_headers_complete = hs_on_headers_complete,
};

ws_hs_t *ws_hs_new(const char *key) {
  ws_hs_t *hs;
  if (!key) return NULL;
  hs = calloc(1, sizeof(*hs));
  if (!hs) return NULL;
  if (ws_accept_key(key, strlen(key), hs->expect) < 0) {
    free(hs);
    return NULL;
  }
  llhttp_init(&hs->parser, HTTP_RESPONSE, &hs_settings);
  hs->parser.data = hs;
  return hs;
}

void ws_hs_free(ws_hs_t *hs) {
  free(hs);
}

int ws_hs_status(const ws_hs_t *hs) {
  return hs->status;
}

ssize_t ws_hs_feed(ws_hs_t *hs, const char *data, size_t len) {
  llhttp_errno_t e;
  if (hs->error) return hs->error;
  if (hs->done) return 0;
  e = llhttp_execute(&hs->parser, data, len);
  if (e == HPE_PAUSED_UPGRADE && hs->done) {
    size_t used = (size_t)(llhttp_get_error_pos(&hs->parser) - data);
    if (hs->total + used > WS_HS_MAX_HEAD) return hs->error = KDS_ETOOBIG;
    return (ssize_t)used;
  }
  if (e != HPE_OK) {
    if (!hs->status) hs->status = hs->parser.status_code;
    if (!hs->error) hs->error = KDS_EPROTO;
    return hs->error;
  }
  hs->total += len;
  if (hs->total > WS_HS_MAX_HEAD) return hs->error = KDS_ETOOBIG;
  return KDS_EAGAIN;
}

/* ---- client connect ---------------------------------------------------------------------- */

struct ws_connect {
  uv_loop_t *loop;
  ws_config cfg;
  dial_t *dial;  /* while connecting */
  uv_tcp_t *tcp; /* once connected, until handed to ws_start */
  uv_write_t wreq;
  uv_timer_t timer;
  ws_hs_t *hs;
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
    rc = ws_start(&c->ws, (uv_stream_t *)c->tcp, &c->cfg, NULL, 0, c->rbuf + c->head_off, c->head_len);
    if (rc < 0) {
      dial_close(c->tcp);
      c->status = rc;
    }
    c->tcp = NULL;
  }
  c->cb(c->ud, c->status, c->status == 0 ? c->ws : NULL, c->http_status);
  ws_hs_free(c->hs);
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
    dial_close(c->tcp); /* cancels the write */
    c->tcp = NULL;
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
    conn_finish(c, c->hs && ws_hs_status(c->hs) ? KDS_EPROTO : (int)nread);
    return;
  }
  used = ws_hs_feed(c->hs, buf->base, (size_t)nread);
  c->http_status = ws_hs_status(c->hs);
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

static void conn_on_dial(void *ud, int status, uv_tcp_t *tcp) {
  ws_connect_t *c = ud;
  uv_buf_t b;
  int rc;
  c->dial = NULL;
  c->busy--;
  if (c->finished) {
    dial_close(tcp);
    conn_finalize(c);
    return;
  }
  if (status < 0) {
    conn_finish(c, status);
    return;
  }
  c->tcp = tcp;
  tcp->data = c;
  b = uv_buf_init(c->req.base, (unsigned)c->req.len);
  rc = uv_write(&c->wreq, (uv_stream_t *)tcp, &b, 1, conn_on_write);
  if (rc == 0) {
    c->busy++;
    rc = uv_read_start((uv_stream_t *)tcp, conn_on_alloc, conn_on_read);
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
  c->loop = cfg->hub->loop;
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
  rc = ws_client_key(key);
  if (rc == 0) {
    c->hs = ws_hs_new(key);
    rc = c->hs ? ws_client_request(&c->req, host, opts->path, key, opts->extra_headers) : KDS_ENOMEM;
  }
  if (rc < 0) goto fail;
  timeout = opts->timeout_ms ? opts->timeout_ms : 10000;
  rc = dial_start(&c->dial, c->loop, opts->host, opts->port, timeout, conn_on_dial, c);
  if (rc < 0) goto fail;
  c->busy = 2; /* the dial and the timer */
  uv_timer_init(c->loop, &c->timer);
  c->timer.data = c;
  uv_timer_start(&c->timer, conn_on_timeout, timeout, 0);
  if (out) *out = c;
  return 0;

fail:
  ws_hs_free(c->hs);
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
    dial_close(c->tcp);
    c->tcp = NULL;
  }
}
