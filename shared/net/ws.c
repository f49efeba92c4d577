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
 * frame boundary are taken by the fast path (fast_feed). Ahead of both, the sans-I/O tracker
 * of ws_frame.h judges every header as it completes (feed). Fragmented messages, close frames,
 * partial or large frames and anything malformed go to wslay, which then keeps its
 * context until the connection has been idle at a frame boundary for WS_IDLE_RELEASE_MS
 * (the hub's timer frees it). An idle connection costs this struct and its uv_tcp_t. */
#include "ws.h"

#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>
#include <wslay/wslay.h>

#include "err.h"
#include "list.h"
#include "utf8.h"

#define WS_READ_BUF (64 * 1024)
#define WS_IDLE_RELEASE_MS 2000 /* a wslay context unused this long is freed */
#define WS_SWEEP_MS 1000
#define WS_STACK_BUFS 16
#define WS_INLINE_SEGS 2 /* pending segments held without an allocation */

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
  uint8_t drain;        /* we refused the peer's input: read and discard until its close frame */
  uint8_t refused;      /* our close frame is a refusal (1002/1007/1009), whatever the peer answers */
  ws_frame_tracker trk; /* the peer's stream, judged from its headers (feed()) */
};

static void ws_teardown(ws_t *ws);
static void ws_settle(ws_t *ws);
static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);

/* ---- UTF-8 ------------------------------------------------------------------------ */

/* Text messages are checked by utf8_valid (utf8.h): strict RFC 3629, as RFC 6455 asks. */

/* ---- shared frames --------------------------------------------------------------------- */

ws_frame_t *ws_frame_newv(int opcode, const uv_buf_t *parts, unsigned nparts) {
  size_t plen = 0;
  ws_frame_t *f;
  char *dst;
  for (unsigned i = 0; i < nparts; i++) {
    if (parts[i].len > SIZE_MAX / 2 - plen) return NULL;
    plen += parts[i].len;
  }
  f = ws_frame_alloc(opcode, plen, &dst);
  if (!f) return NULL;
  for (unsigned i = 0; i < nparts; i++) {
    if (parts[i].len) memcpy(dst, parts[i].base, parts[i].len);
    dst += parts[i].len;
  }
  return f;
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
  uint8_t h[WS_FRAME_MAX_HEADER], key[4];
  int masked = ws->role == WS_ROLE_CLIENT;
  size_t n;
  char *dst;
  if (masked && RAND_bytes(key, 4) != 1) return KDS_EINVAL;
  n = ws_frame_encode_header(h, 1, opcode, len, masked ? key : NULL);
  if (kds_buf_grow(&ws->obuf, n + len) < 0) return KDS_ENOMEM;
  dst = ws->obuf.base + ws->obuf.len;
  memcpy(dst, h, n);
  if (len) memcpy(dst + n, data, len);
  if (masked) ws_frame_mask(dst + n, len, key, 0);
  ws->obuf.len += n + len;
  ws->obuf.base[ws->obuf.len] = '\0';
  ws->queued += n + len;
  mark_dirty(ws);
  return 0;
}

/* ---- input: tracker, fast path, wslay ---------------------------------------------------- */

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

/* The fast path, used only while there is no wslay context (so at a frame boundary):
 * complete, final, unfragmented text/binary/ping/pong frames of the right masking, up to
 * 64 KiB, are handled here, unmasked in place. Returns the bytes used; it stops at the
 * first frame that is anything else (fragmented, close, incomplete, oversized, malformed),
 * which wslay then gets with everything after it. This keeps an idle or lightly used
 * connection free of wslay's ~9 KB context: pongs and small messages never create one. */
static size_t fast_feed(ws_t *ws, char *data, size_t len) {
  size_t off = 0;
  while (ws->state == ST_OPEN && !ws->ctx && len - off >= 2) {
    ws_frame_header h;
    ssize_t hdr = ws_frame_parse_header(data + off, len - off, &h);
    int op;
    size_t plen;
    char *p;
    if (hdr == KDS_EPROTO) { /* wslay would send an empty close frame: ours has 1002 */
      refuse(ws, WS_CLOSE_PROTOCOL_ERROR, KDS_EPROTO);
      return off;
    }
    if (hdr < 0) break; /* incomplete */
    /* RSV bits, a reserved opcode, the wrong masking: wslay's verdict */
    if (!h.fin || ws_frame_header_check(&h, ws->role == WS_ROLE_SERVER) < 0) break;
    op = h.opcode;
    if (op != WS_TEXT && op != WS_BINARY && op != WS_PING && op != WS_PONG) break;
    if (h.payload_len > 0xffff || h.payload_len > ws->max_message) break;
    plen = (size_t)h.payload_len;
    if (len - off - (size_t)hdr < plen) break;
    p = data + off + hdr;
    if (h.masked) ws_frame_mask(p, plen, h.mask, 0);
    off += (size_t)hdr + plen;
    switch (op) {
      case WS_TEXT:
        if (!utf8_valid((const unsigned char *)p, plen)) {
          refuse(ws, WS_CLOSE_INVALID_DATA, KDS_EINVAL);
          return off;
        }
        /* fall through */
      case WS_BINARY:
        ws->cb->on_message(ws, op, p, plen);
        break;
      case WS_PING:
        if (q_admit(ws, WS_FRAME_MAX_HEADER, plen) < 0) return off; /* dropped: it does not read its pongs */
        if (frame_out(ws, WS_PONG, p, plen) < 0) ws_abort(ws, KDS_ENOMEM);
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

/* Processes bytes read from the peer (the tracker first, then consume up to the first header to
 * refuse), then queues whatever wslay wants to send back (pongs, close echoes).
 * After we refused the peer's input, the connection keeps reading and dropping bytes until
 * the peer's close frame (or EOF, or WS_CLOSE_TIMEOUT_MS): closing TCP with unread input
 * would make the kernel send a reset, which can destroy our close frame before the peer
 * reads it (the peer would then see 1006 instead of our code). */
static void feed(ws_t *ws, char *data, size_t len) {
  size_t bad = len;
  int verdict;
  if (ws->state == ST_DEAD || len == 0) return;
  verdict = ws_frame_tracker_feed(&ws->trk, data, len, &bad);
  if (!ws->drain) {
    consume(ws, data, verdict == 0 ? len : bad);
    if (ws->state == ST_DEAD) return;
    if (verdict != 0 && (!ws->ctx || wslay_event_get_read_enabled(ws->ctx))) {
      if (verdict == KDS_ETOOBIG)
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
  ws_frame_tracker_init(&ws->trk, ws->max_message);
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
  if (q_admit(ws, WS_FRAME_MAX_HEADER, len) < 0) return KDS_EFULL;
  return frame_out(ws, opcode, data, len);
}

int ws_send_shared(ws_t *ws, ws_frame_t *frame) {
  const char *bytes;
  size_t len;
  ws_seg s;
  if (!ws || ws->state != ST_OPEN) return KDS_ECLOSED;
  if (!frame || ws->role != WS_ROLE_SERVER) return KDS_EINVAL;
  bytes = ws_frame_bytes(frame, &len);
  if (q_admit(ws, 0, len) < 0) return KDS_EFULL;
  if (seal_obuf(ws) < 0 || q_reserve(ws) < 0) return KDS_ENOMEM;
  s.buf = uv_buf_init((char *)bytes, (unsigned)len);
  s.mem = NULL;
  s.frame = ws_frame_ref(frame);
  ws->q[ws->qlen++] = s;
  ws->queued += len;
  mark_dirty(ws);
  return 0;
}

int ws_ping(ws_t *ws, const void *data, size_t len) {
  if (!ws || ws->state != ST_OPEN) return KDS_ECLOSED;
  if (len > 125) return KDS_EINVAL;
  if (q_admit(ws, WS_FRAME_MAX_HEADER, len) < 0) return KDS_EFULL;
  return frame_out(ws, WS_PING, data, len);
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
