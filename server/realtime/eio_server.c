/* eio_server.c: Engine.IO v4 server (see eio_server.h).
 *
 * Map: a session (eio_socket_t) lives in a hash by sid and on the server's list. Its
 * packets wait in a ring of shared ws frames (`q`) while the transport is polling (flushed
 * as one payload into the pending GET, once per loop turn, from a uv_prepare) or go
 * straight to the WebSocket driver. Deadlines (next ping, pong timeout, upgrade timeout,
 * the 100 ms noop during an upgrade, the 30 s wait of a polling close) are absolute loop
 * times kept in sorted intrusive lists, served by one uv_timer, and checked again whenever
 * a request for the session arrives. Closed sessions are freed from the uv_prepare (never
 * under the feet of a caller). A WebSocket is reached through a small eio_wsconn that
 * outlives the session if needed (its on_close comes later).
 *
 * Pending sessions (polling handshakes whose client has not come back yet, SPEC 11.25)
 * are on two more intrusive lists, oldest first: the server's and their client address's
 * (an eio_peer, in a small hash by address, alive while it counts one). Past a cap the
 * head of the list goes: O(1) per handshake and per second request. */
#include "eio_server.h"

#include <stdio.h>
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "eio.h"
#include "err.h"
#include "hash.h"
#include "list.h"
#include "log.h"
#include "metrics.h"

#define NOOP_PERIOD_MS 100  /* engine.io's upgrade check interval */
#define CLOSE_WAIT_MS 30000 /* polling close waits this long for a GET */
#define HASH_MIN 256
#define PENDING_MAX_DEFAULT 50000
#define PENDING_PER_PEER_DEFAULT 5000
#define PEER_HASH_MIN 64

enum { ST_OPEN, ST_CLOSING, ST_CLOSED };
enum { TR_POLLING, TR_WEBSOCKET };

/* One client address with pending sessions. */
typedef struct eio_peer {
  char addr[64];
  size_t n;         /* pending sessions from here */
  kds_list pending; /* eio_socket_t.peer_link, oldest first */
  struct eio_peer *hash_next;
} eio_peer;

typedef struct eio_wsconn {
  eio_server_t *es;
  eio_socket_t *s; /* NULL once detached from its session */
  ws_t *ws;
  kds_list link; /* es->wsconns */
} eio_wsconn;

struct eio_socket {
  /* What every send reads comes first (one cache line per recipient of a broadcast). */
  int state;
  int transport;
  eio_wsconn *ws; /* the WebSocket transport */
  eio_server_t *es;
  void *data;
  char id[EIO_ID_LEN + 1];
  char peer[64];
  int upgrading;     /* a WebSocket probe is attached */
  int client_closed; /* the client sent "1": a pending GET gets "6", not "1" */
  int opened;        /* on_open ran: on_close is owed */
  eio_socket_t *hash_next;
  kds_list link;         /* es->sockets, then es->dead */
  kds_list ping_link;    /* es->ping_q (ping_at) or es->pong_q (pong_deadline) */
  kds_list upg_link;     /* es->upgrade_q (upgrade_deadline) */
  kds_list noop_link;    /* es->noop_q (noop_at) */
  kds_list close_link;   /* es->closing_q (close_deadline) */
  kds_list dirty_link;   /* es->dirty: a GET is pending and packets are queued */
  eio_peer *pending;     /* non-NULL while pending: the address it counts against */
  kds_list pending_link; /* es->pending, oldest first */
  kds_list peer_link;    /* pending->pending, oldest first */
  uint64_t ping_at, pong_deadline, upgrade_deadline, noop_at, close_deadline;
  http_req_t *poll;  /* the pending GET */
  eio_wsconn *probe; /* a WebSocket being upgraded to */
  ws_frame_t **q;    /* ring of queued packets */
  size_t qhead, qlen, qcap, qbytes;
};

struct eio_server {
  uv_loop_t *loop;
  eio_server_config cfg;
  eio_server_callbacks cb;
  void *ud;
  ws_hub_t *hub;
  uv_timer_t timer;
  uv_prepare_t prepare;
  uint64_t armed_at; /* the deadline the timer is set for; 0 = stopped */
  eio_socket_t **buckets;
  size_t nbuckets, count;
  kds_list sockets, dead, dirty, wsconns;
  kds_list ping_q, pong_q, upgrade_q, noop_q, closing_q;
  kds_list pending; /* pending sessions, oldest first */
  size_t npending;
  eio_peer **peers; /* addresses with pending sessions, by hash */
  size_t npeer_buckets, npeers;
  uint64_t evicted, evicted_logged, evict_log_at; /* for the once-a-second log line */
  ws_frame_t *f_ping, *f_noop, *f_close, *f_pong_probe;
  kds_buf body, scratch, arg;
  int closing;
  int handles_open;
  void (*close_cb)(void *);
  void *close_ud;
};

static const char *const error_messages[] = {
    "Transport unknown", "Session ID unknown", "Bad handshake method",
    "Bad request",       "Forbidden",          "Unsupported protocol version"};

static void socket_close(eio_socket_t *s, const char *reason);
static void timer_arm(eio_server_t *es);
static void server_maybe_finish(eio_server_t *es);

/* ---- small helpers ------------------------------------------------------------------ */

static uint64_t now_ms(eio_server_t *es) {
  uv_update_time(es->loop);
  return uv_now(es->loop);
}

void eio_server_config_default(eio_server_config *c) {
  memset(c, 0, sizeof(*c));
  c->max_pending = PENDING_MAX_DEFAULT;
  c->max_pending_per_peer = PENDING_PER_PEER_DEFAULT;
  c->ping_interval = 25000;
  c->ping_timeout = 20000;
  c->upgrade_timeout = 10000;
  c->max_payload = 1000000;
  c->polling = 1;
  c->websocket = 1;
}

static eio_socket_t *hash_find(eio_server_t *es, const char *sid, size_t len) {
  eio_socket_t *s;
  if (len != EIO_ID_LEN) return NULL;
  for (s = es->buckets[kds_hash(sid, len) & (es->nbuckets - 1)]; s; s = s->hash_next)
    if (memcmp(s->id, sid, len) == 0) return s;
  return NULL;
}

static void hash_grow(eio_server_t *es) {
  size_t n = es->nbuckets * 2;
  eio_socket_t **b = calloc(n, sizeof(*b));
  if (b == NULL) return; /* keep the longer chains */
  for (size_t i = 0; i < es->nbuckets; i++) {
    eio_socket_t *s = es->buckets[i], *next;
    for (; s; s = next) {
      size_t k = kds_hash(s->id, EIO_ID_LEN) & (n - 1);
      next = s->hash_next;
      s->hash_next = b[k];
      b[k] = s;
    }
  }
  free(es->buckets);
  es->buckets = b;
  es->nbuckets = n;
}

static void hash_insert(eio_server_t *es, eio_socket_t *s) {
  size_t k;
  if (es->count + 1 > es->nbuckets * 2) hash_grow(es);
  k = kds_hash(s->id, EIO_ID_LEN) & (es->nbuckets - 1);
  s->hash_next = es->buckets[k];
  es->buckets[k] = s;
  es->count++;
}

static void hash_remove(eio_server_t *es, eio_socket_t *s) {
  eio_socket_t **pp = &es->buckets[kds_hash(s->id, EIO_ID_LEN) & (es->nbuckets - 1)];
  for (; *pp; pp = &(*pp)->hash_next) {
    if (*pp == s) {
      *pp = s->hash_next;
      s->hash_next = NULL;
      es->count--;
      return;
    }
  }
}

/* ---- pending sessions (SPEC 11.25) ------------------------------------------------- */

static eio_peer **peer_slot(eio_server_t *es, const char *addr) {
  eio_peer **pp = &es->peers[kds_hash(addr, strlen(addr)) & (es->npeer_buckets - 1)];
  while (*pp && strcmp((*pp)->addr, addr) != 0) pp = &(*pp)->hash_next;
  return pp;
}

static void peers_grow(eio_server_t *es) {
  size_t n = es->npeer_buckets * 2;
  eio_peer **b = calloc(n, sizeof(*b));
  if (b == NULL) return; /* keep the longer chains */
  for (size_t i = 0; i < es->npeer_buckets; i++) {
    eio_peer *p = es->peers[i], *next;
    for (; p; p = next) {
      size_t k = kds_hash(p->addr, strlen(p->addr)) & (n - 1);
      next = p->hash_next;
      p->hash_next = b[k];
      b[k] = p;
    }
  }
  free(es->peers);
  es->peers = b;
  es->npeer_buckets = n;
}

/* Takes `s` off the pending lists (its client came back, or it ended); frees its address
 * entry with the last one. No-op when it is not pending. */
static void pending_forget(eio_socket_t *s) {
  eio_server_t *es = s->es;
  eio_peer *p = s->pending;
  if (p == NULL) return;
  assert(es->npending > 0 && p->n > 0); /* it is counted in both */
  s->pending = NULL;
  kds_list_remove(&s->pending_link);
  kds_list_remove(&s->peer_link);
  es->npending--;
  metrics_reg_gauge_add(es->cfg.metrics, METRICS_G_EIO_PENDING, -1);
  if (--p->n == 0) {
    eio_peer **pp = peer_slot(es, p->addr);
    if (*pp == p) *pp = p->hash_next;
    es->npeers--;
    free(p);
  }
}

static void pending_evict(eio_socket_t *victim, const char *which, size_t cap) {
  eio_server_t *es = victim->es;
  uint64_t now = uv_now(es->loop);
  es->evicted++;
  metrics_reg_add(es->cfg.metrics, METRICS_EIO_PENDING_CLOSED, 1);
  /* A flood evicts thousands a second: one line a second says who and how many. */
  if (es->evicted_logged == 0 || now >= es->evict_log_at + 1000) {
    log_warn("eio: %s pending-session cap %zu reached (%s): closing the oldest, %s (%llu closed so far)",
             which, cap, victim->peer, victim->id, (unsigned long long)es->evicted);
    es->evicted_logged = es->evicted;
    es->evict_log_at = now;
  }
  pending_forget(victim);
  socket_close(victim, "forced close");
}

/* Counts a new polling session `s` as pending, first closing the oldest pending session
 * of its address, or of all, when that cap is reached. Returns 0 or KDS_ENOMEM (then `s`
 * is not counted and should be refused). */
static int pending_add(eio_server_t *es, eio_socket_t *s) {
  eio_peer **pp = peer_slot(es, s->peer), *p = *pp;
  if (p == NULL) {
    if ((p = calloc(1, sizeof(*p))) == NULL) return KDS_ENOMEM;
    snprintf(p->addr, sizeof(p->addr), "%s", s->peer);
    kds_list_init(&p->pending);
    p->hash_next = NULL;
    *pp = p;
    es->npeers++;
    if (es->npeers > es->npeer_buckets * 2) peers_grow(es);
  }
  /* The new session counts in p->n from here: evicting this address's older sessions then
   * never takes p->n to 0, which would free p under us. */
  p->n++;
  while (p->n - 1 >= es->cfg.max_pending_per_peer && !kds_list_empty(&p->pending))
    pending_evict(kds_container_of(p->pending.next, eio_socket_t, peer_link), "per-address",
                  es->cfg.max_pending_per_peer);
  while (es->npending >= es->cfg.max_pending && !kds_list_empty(&es->pending))
    pending_evict(kds_container_of(es->pending.next, eio_socket_t, pending_link), "total",
                  es->cfg.max_pending);
  s->pending = p;
  kds_list_push(&es->pending, &s->pending_link);
  kds_list_push(&p->pending, &s->peer_link);
  es->npending++;
  metrics_reg_gauge_add(es->cfg.metrics, METRICS_G_EIO_PENDING, 1);
  return 0;
}

size_t eio_server_pending(const eio_server_t *es, const char *peer) {
  eio_peer *p;
  if (peer == NULL) return es->npending;
  for (p = es->peers[kds_hash(peer, strlen(peer)) & (es->npeer_buckets - 1)]; p; p = p->hash_next)
    if (strcmp(p->addr, peer) == 0) return p->n;
  return 0;
}

/* Inserts `node` into a deadline-sorted list; `off` is the offset of the deadline field
 * from the node. Appends are the common case, so walk from the tail. */
static void deadline_insert(kds_list *q, kds_list *node, size_t link_off, size_t dl_off) {
  kds_list *p = q->prev;
  uint64_t dl = *(uint64_t *)((char *)node - link_off + dl_off);
  kds_list_remove(node);
  while (p != q && *(uint64_t *)((char *)p - link_off + dl_off) > dl) p = p->prev;
  /* insert after p */
  node->next = p->next;
  node->prev = p;
  p->next->prev = node;
  p->next = node;
}

#define Q_INSERT(q, s, link, field) \
  deadline_insert((q), &(s)->link, offsetof(eio_socket_t, link), offsetof(eio_socket_t, field))

/* ---- frames and queue --------------------------------------------------------------- */

ws_frame_t *eio_frame_message(int binary, const uv_buf_t *parts, unsigned nparts) {
  uv_buf_t all[9];
  if (nparts > 8) return NULL;
  if (binary) return ws_frame_newv(WS_BINARY, parts, nparts);
  all[0] = uv_buf_init((char *)"4", 1);
  if (nparts) memcpy(all + 1, parts, nparts * sizeof(*parts));
  return ws_frame_newv(WS_TEXT, all, nparts + 1);
}

static ws_frame_t *text_frame(const char *s, size_t len) {
  return ws_frame_new(WS_TEXT, s, len);
}

static int frame_is_binary(const ws_frame_t *f) {
  return ws_frame_is_binary(f);
}

static void queue_clear(eio_socket_t *s) {
  while (s->qlen) {
    ws_frame_unref(s->q[s->qhead]);
    s->qhead = (s->qhead + 1) % s->qcap;
    s->qlen--;
  }
  s->qhead = 0;
  s->qbytes = 0;
}

static int queue_push(eio_socket_t *s, ws_frame_t *f) {
  size_t len;
  if (s->qlen == s->qcap) {
    size_t cap = s->qcap ? s->qcap * 2 : 8;
    ws_frame_t **q = malloc(cap * sizeof(*q));
    if (q == NULL) return KDS_ENOMEM;
    for (size_t i = 0; i < s->qlen; i++) q[i] = s->q[(s->qhead + i) % s->qcap];
    free(s->q);
    s->q = q;
    s->qcap = cap;
    s->qhead = 0;
  }
  ws_frame_payload(f, &len);
  s->q[(s->qhead + s->qlen) % s->qcap] = ws_frame_ref(f);
  s->qlen++;
  s->qbytes += len;
  return 0;
}

static void mark_dirty(eio_socket_t *s) {
  if (s->poll && s->qlen && kds_list_empty(&s->dirty_link)) kds_list_push(&s->es->dirty, &s->dirty_link);
}

/* Answers the pending GET with every queued packet (and `extra`, a control frame, if not
 * NULL), joined by the record separator. */
static void poll_flush(eio_socket_t *s, ws_frame_t *extra) {
  eio_server_t *es = s->es;
  http_req_t *req = s->poll;
  kds_buf *b = &es->body;
  if (req == NULL) return;
  kds_buf_reset(b);
  for (size_t i = 0; i <= s->qlen; i++) {
    ws_frame_t *f = i < s->qlen ? s->q[(s->qhead + i) % s->qcap] : extra;
    size_t len;
    const char *p;
    if (f == NULL) break;
    p = ws_frame_payload(f, &len);
    if (b->len && kds_buf_addc(b, EIO_SEPARATOR) != 0) goto nomem;
    if (frame_is_binary(f) ? eio_packet_encode(b, EIO_MESSAGE, 1, p, len) != 0 : kds_buf_add(b, p, len) != 0)
      goto nomem;
  }
  queue_clear(s);
  kds_list_remove(&s->dirty_link);
  s->poll = NULL;
  http_req_on_close(req, NULL, NULL);
  http_reply(req, 200, "text/plain; charset=UTF-8", "cache-control: no-store\r\n", b->base, b->len);
  return;
nomem:
  log_error("eio: %s: out of memory building a poll reply", s->id);
  queue_clear(s);
  kds_list_remove(&s->dirty_link);
  s->poll = NULL;
  http_req_on_close(req, NULL, NULL);
  http_reply(req, 500, NULL, NULL, NULL, 0);
}

/* A client that does not read is dropped: logged with who and why, and counted. */
static void slow_dropped(eio_socket_t *s, const char *why) {
  log_warn("eio: %s (%s) dropped: %s (slow client)", s->id, s->peer, why);
  metrics_reg_add(s->es->cfg.metrics, METRICS_SLOW_CLIENTS_DROPPED, 1);
}

/* Puts a packet on the session's transport: the WebSocket once upgraded, else the queue. */
static int socket_push(eio_socket_t *s, ws_frame_t *f) {
  eio_server_t *es = s->es;
  if (s->state != ST_OPEN) return KDS_ECLOSED;
  if (s->transport == TR_WEBSOCKET) {
    int rc = s->ws ? ws_send_shared(s->ws->ws, f) : KDS_ECLOSED;
    if (rc == KDS_EFULL) {
      slow_dropped(s, "WebSocket send queue full");
      socket_close(s, "transport error");
    } else if (rc == KDS_ECLOSED) {
      socket_close(s, "transport close");
    }
    return rc;
  }
  {
    size_t len;
    ws_frame_payload(f, &len);
    if (s->qlen + 1 > es->cfg.max_queue_packets || s->qbytes + len > es->cfg.max_queue_bytes) {
      slow_dropped(s, "polling send queue over its packet or byte limit");
      socket_close(s, "transport error");
      return KDS_EFULL;
    }
  }
  if (queue_push(s, f) != 0) return KDS_ENOMEM;
  mark_dirty(s);
  return 0;
}

/* ---- session end -------------------------------------------------------------------- */

static void wsconn_detach(eio_wsconn *c, int send_close) {
  if (c == NULL) return;
  c->s = NULL;
  if (send_close) ws_close(c->ws, 0, NULL);
}

static void socket_unlink_timers(eio_socket_t *s) {
  kds_list_remove(&s->ping_link);
  kds_list_remove(&s->upg_link);
  kds_list_remove(&s->noop_link);
  kds_list_remove(&s->close_link);
  kds_list_remove(&s->dirty_link);
}

/* Removes a session for good: out of the table, onto the dead list (freed from prepare). */
static void socket_bury(eio_socket_t *s) {
  eio_server_t *es = s->es;
  pending_forget(s);
  socket_unlink_timers(s);
  if (s->poll) poll_flush(s, NULL);
  queue_clear(s);
  hash_remove(es, s);
  kds_list_remove(&s->link);
  kds_list_push(&es->dead, &s->link);
  s->state = ST_CLOSED;
}

/* The session ends now (transport events, errors, timeouts). */
static void socket_close(eio_socket_t *s, const char *reason) {
  eio_server_t *es = s->es;
  if (s->state != ST_OPEN) return;
  s->state = ST_CLOSED;
  socket_unlink_timers(s);
  /* A pending GET takes what was queued (engine.io would have flushed it already), then
   * "6" after the client's own close, else "1". */
  if (s->poll) poll_flush(s, s->client_closed ? es->f_noop : es->f_close);
  queue_clear(s);
  if (s->probe) {
    wsconn_detach(s->probe, 1);
    s->probe = NULL;
  }
  if (s->ws) {
    wsconn_detach(s->ws, 1);
    s->ws = NULL;
  }
  socket_bury(s);
  log_debug("eio: %s closed (%s)", s->id, reason);
  if (s->opened && es->cb.on_close) es->cb.on_close(s, reason);
}

static void socket_free(eio_socket_t *s) {
  free(s->q);
  free(s);
}

void eio_socket_close(eio_socket_t *s) {
  eio_server_t *es = s->es;
  if (s->state != ST_OPEN) return;
  if (s->probe) {
    wsconn_detach(s->probe, 1);
    s->probe = NULL;
    s->upgrading = 0;
  }
  if (s->transport == TR_WEBSOCKET || s->poll || es->closing) {
    /* WebSocket: queued frames leave before the close frame. Polling with a GET pending:
     * the queue and "1" go now. Server shutdown: no waiting. */
    if (s->transport == TR_POLLING && s->poll) poll_flush(s, es->f_close);
    socket_close(s, "forced close");
    return;
  }
  /* Polling without a GET: keep the session (hidden) until the next GET takes the queue
   * and "1", or CLOSE_WAIT_MS passes. */
  queue_push(s, es->f_close);
  s->state = ST_CLOSING;
  pending_forget(s); /* the server's own choice, bounded by CLOSE_WAIT_MS */
  socket_unlink_timers(s);
  s->close_deadline = now_ms(es) + CLOSE_WAIT_MS;
  Q_INSERT(&es->closing_q, s, close_link, close_deadline);
  timer_arm(es);
  if (s->opened && es->cb.on_close) es->cb.on_close(s, "forced close");
}

/* ---- timers ------------------------------------------------------------------------- */

static void on_timer(uv_timer_t *t);

#define HEAD(q, link) kds_container_of((q)->next, eio_socket_t, link)

static void timer_arm(eio_server_t *es) {
  uint64_t next = UINT64_MAX, now;
  if (es->closing && kds_list_empty(&es->sockets)) {
    uv_timer_stop(&es->timer);
    es->armed_at = 0;
    return;
  }
  if (!kds_list_empty(&es->ping_q) && HEAD(&es->ping_q, ping_link)->ping_at < next)
    next = HEAD(&es->ping_q, ping_link)->ping_at;
  if (!kds_list_empty(&es->pong_q) && HEAD(&es->pong_q, ping_link)->pong_deadline < next)
    next = HEAD(&es->pong_q, ping_link)->pong_deadline;
  if (!kds_list_empty(&es->upgrade_q) && HEAD(&es->upgrade_q, upg_link)->upgrade_deadline < next)
    next = HEAD(&es->upgrade_q, upg_link)->upgrade_deadline;
  if (!kds_list_empty(&es->noop_q) && HEAD(&es->noop_q, noop_link)->noop_at < next)
    next = HEAD(&es->noop_q, noop_link)->noop_at;
  if (!kds_list_empty(&es->closing_q) && HEAD(&es->closing_q, close_link)->close_deadline < next)
    next = HEAD(&es->closing_q, close_link)->close_deadline;
  if (next == UINT64_MAX) {
    uv_timer_stop(&es->timer);
    es->armed_at = 0;
    return;
  }
  if (es->armed_at == next) return;
  now = uv_now(es->loop);
  uv_timer_start(&es->timer, on_timer, next > now ? next - now : 0, 0);
  es->armed_at = next;
}

static void send_ping(eio_socket_t *s) {
  eio_server_t *es = s->es;
  kds_list_remove(&s->ping_link);
  /* The timeout counts from the scheduled ping, so it ends exactly at
   * ping_interval + ping_timeout after the handshake or the last pong. */
  s->pong_deadline = s->ping_at + (uint64_t)es->cfg.ping_timeout;
  Q_INSERT(&es->pong_q, s, ping_link, pong_deadline);
  socket_push(s, es->f_ping);
}

static void upgrade_cancel(eio_socket_t *s) {
  kds_list_remove(&s->upg_link);
  kds_list_remove(&s->noop_link);
  s->upgrading = 0;
  if (s->probe) {
    wsconn_detach(s->probe, 1);
    s->probe = NULL;
  }
}

/* Serves every deadline due at `now`. */
static void run_deadlines(eio_server_t *es, uint64_t now) {
  for (;;) {
    eio_socket_t *s;
    if (!kds_list_empty(&es->pong_q) && (s = HEAD(&es->pong_q, ping_link))->pong_deadline <= now) {
      socket_close(s, "ping timeout");
    } else if (!kds_list_empty(&es->ping_q) && (s = HEAD(&es->ping_q, ping_link))->ping_at <= now) {
      send_ping(s);
    } else if (!kds_list_empty(&es->upgrade_q) &&
               (s = HEAD(&es->upgrade_q, upg_link))->upgrade_deadline <= now) {
      log_debug("eio: %s: upgrade timed out", s->id);
      upgrade_cancel(s);
    } else if (!kds_list_empty(&es->noop_q) && (s = HEAD(&es->noop_q, noop_link))->noop_at <= now) {
      /* Release the pending GET so that the client can pause polling and upgrade. */
      if (s->transport == TR_POLLING && s->poll) {
        poll_flush(s, es->f_noop);
      }
      s->noop_at += NOOP_PERIOD_MS;
      if (s->noop_at <= now) s->noop_at = now + NOOP_PERIOD_MS;
      Q_INSERT(&es->noop_q, s, noop_link, noop_at);
    } else if (!kds_list_empty(&es->closing_q) &&
               (s = HEAD(&es->closing_q, close_link))->close_deadline <= now) {
      socket_bury(s);
    } else {
      break;
    }
  }
  timer_arm(es);
}

static void on_timer(uv_timer_t *t) {
  eio_server_t *es = t->data;
  es->armed_at = 0;
  run_deadlines(es, uv_now(es->loop));
}

/* Once per loop turn, before the loop sleeps: answer the GETs that have packets, free
 * the dead. */
static void on_prepare(uv_prepare_t *p) {
  eio_server_t *es = p->data;
  while (!kds_list_empty(&es->dirty)) {
    eio_socket_t *s = kds_container_of(es->dirty.next, eio_socket_t, dirty_link);
    kds_list_remove(&s->dirty_link);
    if (s->poll && s->qlen) {
      if (s->state == ST_CLOSING) {
        poll_flush(s, NULL);
        socket_bury(s);
      } else {
        poll_flush(s, NULL);
      }
    }
  }
  while (!kds_list_empty(&es->dead)) {
    eio_socket_t *s = kds_container_of(es->dead.next, eio_socket_t, link);
    kds_list_remove(&s->link);
    socket_free(s);
  }
  if (es->closing) server_maybe_finish(es);
}

/* ---- packets from the client --------------------------------------------------------- */

static void on_packet(eio_socket_t *s, const eio_packet *p) {
  eio_server_t *es = s->es;
  if (s->state != ST_OPEN) return;
  switch (p->type) {
    case EIO_PING:
      /* v4: only the server pings. */
      socket_close(s, "transport error");
      break;
    case EIO_PONG:
      kds_list_remove(&s->ping_link);
      s->pong_deadline = 0;
      s->ping_at = now_ms(es) + (uint64_t)es->cfg.ping_interval;
      Q_INSERT(&es->ping_q, s, ping_link, ping_at);
      timer_arm(es);
      break;
    case EIO_MESSAGE:
      if (es->cb.on_message) es->cb.on_message(s, p->binary, p->data.ptr, p->data.len);
      break;
    case EIO_CLOSE:
      s->client_closed = 1;
      socket_close(s, "transport close");
      break;
    default: /* open, upgrade, noop: nothing to do */
      break;
  }
}

/* ---- HTTP answers --------------------------------------------------------------------- */

static void abort_request(http_req_t *req, int code) {
  char body[96];
  int n = snprintf(body, sizeof(body), "{\"code\":%d,\"message\":\"%s\"}", code, error_messages[code]);
  http_reply(req, code == 4 ? 403 : 400, "application/json", NULL, body, (size_t)n);
}

/* engine.io answers a refused upgrade with a plain 400 and the message as text. */
static void abort_upgrade(http_req_t *req, int code) {
  const char *m = error_messages[code];
  http_reply(req, 400, "text/html", NULL, m, strlen(m));
}

static void reply_ok(http_req_t *req) {
  http_reply(req, 200, "text/html", "cache-control: no-store\r\n", "ok", 2);
}

/* ---- WebSocket ------------------------------------------------------------------------ */

static void on_ws_message(ws_t *ws, int opcode, const char *data, size_t len);
static void on_ws_close(ws_t *ws, const ws_close_info *info);

static const ws_callbacks ws_cbs = {on_ws_message, on_ws_close, NULL};

/* Takes the connection of an upgrade request and starts a WebSocket on it (the 101 goes
 * first). On error the request has been answered. */
static eio_wsconn *ws_accept(eio_server_t *es, http_req_t *req) {
  kds_slice key = http_req_header(req, "sec-websocket-key");
  kds_buf reply = KDS_BUF_INIT, head = KDS_BUF_INIT;
  uv_tcp_t *tcp = NULL;
  eio_wsconn *c = NULL;
  ws_config cfg;
  int rc;
  if (key.ptr == NULL || ws_handshake_reply(&reply, key.ptr, key.len, NULL) != 0) {
    http_reply(req, 400, "text/html", NULL, "Bad request", 11);
    goto fail;
  }
  c = calloc(1, sizeof(*c));
  if (c == NULL) {
    http_reply(req, 500, NULL, NULL, NULL, 0);
    goto fail;
  }
  if ((rc = http_req_take_stream(req, &tcp, &head)) != 0) {
    http_reply(req, 400, "text/html", NULL, "Bad request", 11);
    goto fail;
  }
  memset(&cfg, 0, sizeof(cfg));
  cfg.role = WS_ROLE_SERVER;
  cfg.hub = es->hub;
  cfg.cb = &ws_cbs;
  cfg.data = c;
  cfg.max_message = (size_t)es->cfg.max_payload;
  cfg.max_queue = es->cfg.max_queue_bytes;
  cfg.own_stream = 1;
  if ((rc = ws_start(&c->ws, (uv_stream_t *)tcp, &cfg, reply.base, reply.len, head.base, head.len)) != 0) {
    log_warn("eio: WebSocket start failed: %s", kds_strerror(rc));
    uv_close((uv_handle_t *)tcp, (uv_close_cb)free);
    goto fail;
  }
  c->es = es;
  kds_list_push(&es->wsconns, &c->link);
  kds_buf_release(&reply);
  kds_buf_release(&head);
  return c;
fail:
  free(c);
  kds_buf_release(&reply);
  kds_buf_release(&head);
  return NULL;
}

static void do_upgrade(eio_socket_t *s) {
  kds_list_remove(&s->upg_link);
  kds_list_remove(&s->noop_link);
  kds_list_remove(&s->dirty_link);
  s->upgrading = 0;
  if (s->poll) {
    /* The client stopped polling before "5"; a late GET is released harmlessly. */
    http_req_t *req = s->poll;
    s->poll = NULL;
    http_req_on_close(req, NULL, NULL);
    http_reply(req, 200, "text/plain; charset=UTF-8", "cache-control: no-store\r\n", "6", 1);
  }
  s->transport = TR_WEBSOCKET;
  s->ws = s->probe;
  s->probe = NULL;
  log_debug("eio: %s upgraded to websocket", s->id);
  /* What waited for the polling transport now goes out on the WebSocket, in order. */
  while (s->qlen && s->state == ST_OPEN) {
    ws_frame_t *f = s->q[s->qhead];
    size_t len;
    s->qhead = (s->qhead + 1) % s->qcap;
    s->qlen--;
    ws_frame_payload(f, &len);
    s->qbytes -= len;
    socket_push(s, f);
    ws_frame_unref(f);
  }
  queue_clear(s);
}

static void probe_message(eio_socket_t *s, eio_wsconn *c, int opcode, const char *data, size_t len) {
  eio_server_t *es = s->es;
  eio_packet p;
  if (eio_packet_decode(data, len, opcode == WS_TEXT, &p, &es->scratch) == 0) {
    if (p.type == EIO_PING && kds_slice_eq(p.data, "probe")) {
      ws_send_shared(c->ws, es->f_pong_probe);
      s->noop_at = now_ms(es) + NOOP_PERIOD_MS;
      Q_INSERT(&es->noop_q, s, noop_link, noop_at);
      timer_arm(es);
      return;
    }
    if (p.type == EIO_UPGRADE && s->state == ST_OPEN) {
      do_upgrade(s);
      timer_arm(es);
      return;
    }
  }
  upgrade_cancel(s);
  timer_arm(es);
}

static void on_ws_message(ws_t *ws, int opcode, const char *data, size_t len) {
  eio_wsconn *c = ws_data(ws);
  eio_server_t *es = c->es;
  eio_socket_t *s;
  eio_packet p;
  if (c->s == NULL) return;
  run_deadlines(es, now_ms(es)); /* a pong after its deadline does not save the session */
  if ((s = c->s) == NULL) return;
  if (c == s->probe) {
    probe_message(s, c, opcode, data, len);
    return;
  }
  if (c != s->ws || s->state != ST_OPEN) return;
  if (eio_packet_decode(data, len, opcode == WS_TEXT, &p, &es->scratch) != 0) {
    socket_close(s, "parse error");
    return;
  }
  on_packet(s, &p);
}

static void on_ws_close(ws_t *ws, const ws_close_info *info) {
  eio_wsconn *c = ws_data(ws);
  eio_server_t *es = c->es;
  eio_socket_t *s = c->s;
  kds_list_remove(&c->link);
  if (s) {
    if (c == s->probe) {
      s->probe = NULL;
      upgrade_cancel(s);
      timer_arm(es);
    } else if (c == s->ws) {
      s->ws = NULL;
      if (info->err == KDS_EFULL) slow_dropped(s, "WebSocket send queue full");
      socket_close(s, info->err == 0 || info->err == UV_EOF ? "transport close" : "transport error");
    }
  }
  free(c);
  if (es->closing) server_maybe_finish(es);
}

/* ---- requests ------------------------------------------------------------------------ */

static void on_poll_gone(http_req_t *req, void *ud) {
  eio_socket_t *s = ud;
  if (s->poll != req) return;
  s->poll = NULL;
  kds_list_remove(&s->dirty_link);
  http_reply(req, 200, NULL, NULL, NULL, 0); /* frees: nothing reaches the client */
  if (s->state == ST_CLOSING) {
    socket_bury(s);
    return;
  }
  socket_close(s, "transport error"); /* poll connection closed prematurely */
}

static void poll_request(eio_socket_t *s, http_req_t *req) {
  if (s->poll) {
    /* One GET at a time: the overlap closes the session (the first GET gets "1"). */
    http_reply(req, 400, NULL, NULL, NULL, 0);
    if (s->state == ST_CLOSING) {
      socket_bury(s);
      return;
    }
    socket_close(s, "transport error");
    return;
  }
  if (http_req_on_close(req, on_poll_gone, s) != 0) {
    http_reply(req, 200, NULL, NULL, NULL, 0);
    if (s->state == ST_CLOSING) return; /* the close still waits for a GET */
    socket_close(s, "transport error");
    return;
  }
  s->poll = req;
  mark_dirty(s);
}

static void data_request(eio_socket_t *s, http_req_t *req) {
  eio_server_t *es = s->es;
  kds_slice ct = http_req_header(req, "content-type");
  size_t pos = 0;
  kds_slice rec;
  if (ct.ptr && kds_slice_caseeq(ct, "application/octet-stream")) {
    /* v4 payloads are text only */
    http_reply(req, 400, NULL, NULL, NULL, 0);
    if (s->state == ST_OPEN) socket_close(s, "transport error");
    return;
  }
  if (s->state != ST_OPEN) {
    reply_ok(req);
    return;
  }
  while (s->state == ST_OPEN &&
         eio_payload_next(req->body.base ? req->body.base : "", req->body.len, &pos, &rec)) {
    eio_packet p;
    if (eio_packet_decode(rec.ptr, rec.len, 1, &p, &es->scratch) != 0) {
      /* engine.io destroys the POST connection without an answer; we can only refuse it. */
      http_reply(req, 400, NULL, NULL, NULL, 0);
      socket_close(s, "parse error");
      return;
    }
    on_packet(s, &p);
  }
  reply_ok(req);
}

static void ws_upgrade_request(eio_socket_t *s, http_req_t *req) {
  eio_server_t *es = s->es;
  eio_wsconn *c;
  if (s->state != ST_OPEN) {
    abort_upgrade(req, 1);
    return;
  }
  c = ws_accept(es, req);
  if (c == NULL) return;
  if (s->transport != TR_POLLING || s->upgrading) {
    /* Already upgraded or upgrading: engine.io accepts, then closes at once. */
    ws_close(c->ws, 0, NULL);
    return;
  }
  c->s = s;
  s->probe = c;
  s->upgrading = 1;
  s->upgrade_deadline = now_ms(es) + (uint64_t)es->cfg.upgrade_timeout;
  Q_INSERT(&es->upgrade_q, s, upg_link, upgrade_deadline);
  timer_arm(es);
}

static void handshake(eio_server_t *es, http_req_t *req, int transport) {
  eio_socket_t *s = calloc(1, sizeof(*s));
  eio_handshake hs;
  ws_frame_t *open;
  uint64_t now = now_ms(es);
  if (s == NULL) goto nomem;
  s->es = es;
  kds_list_init(&s->link);
  kds_list_init(&s->ping_link);
  kds_list_init(&s->upg_link);
  kds_list_init(&s->noop_link);
  kds_list_init(&s->close_link);
  kds_list_init(&s->dirty_link);
  kds_list_init(&s->pending_link);
  kds_list_init(&s->peer_link);
  do {
    if (eio_id_generate(s->id) != 0) goto nomem;
    if (es->cfg.sid_prefix)
      memcpy(s->id, es->cfg.sid_prefix, strnlen(es->cfg.sid_prefix, EIO_SID_PREFIX_MAX));
  } while (hash_find(es, s->id, EIO_ID_LEN));
  snprintf(s->peer, sizeof(s->peer), "%s", req->peer);
  memset(&hs, 0, sizeof(hs));
  memcpy(hs.sid, s->id, sizeof(s->id));
  hs.upgrade_websocket = transport == TR_POLLING && es->cfg.websocket;
  hs.ping_interval = es->cfg.ping_interval;
  hs.ping_timeout = es->cfg.ping_timeout;
  hs.max_payload = es->cfg.max_payload;
  kds_buf_reset(&es->arg);
  if (eio_handshake_encode(&es->arg, &hs) != 0 || (open = text_frame(es->arg.base, es->arg.len)) == NULL)
    goto nomem;
  if (transport == TR_WEBSOCKET) {
    eio_wsconn *c = ws_accept(es, req);
    if (c == NULL) {
      ws_frame_unref(open);
      free(s);
      return;
    }
    c->s = s;
    s->ws = c;
  }
  /* A polling session is pending until its client comes back; a WebSocket one holds its
   * connection (bounded by the HTTP server's connection limit) instead. */
  if (transport == TR_POLLING && pending_add(es, s) != 0) {
    ws_frame_unref(open);
    goto nomem;
  }
  s->transport = transport;
  s->state = ST_OPEN;
  hash_insert(es, s);
  kds_list_push(&es->sockets, &s->link);
  s->ping_at = now + (uint64_t)es->cfg.ping_interval;
  Q_INSERT(&es->ping_q, s, ping_link, ping_at);
  timer_arm(es);
  socket_push(s, open);
  ws_frame_unref(open);
  if (transport == TR_POLLING) poll_request(s, req); /* the handshake GET is the first poll */
  log_debug("eio: %s opened over %s from %s", s->id, transport == TR_POLLING ? "polling" : "websocket",
            s->peer);
  if (s->state != ST_OPEN) return;
  s->opened = 1;
  if (es->cb.on_open) es->cb.on_open(es, s);
  return;
nomem:
  free(s);
  http_reply(req, 500, NULL, NULL, NULL, 0);
}

static int query_is(http_req_t *req, kds_buf *b, const char *name, const char *value) {
  return http_req_query(req, name, b) == 0 && strcmp(b->base ? b->base : "", value) == 0;
}

void eio_server_handle(http_req_t *req, void *ud) {
  eio_server_t *es = ud;
  kds_buf *b = &es->arg;
  int transport, is_get = strcmp(req->method_name, "GET") == 0;
  if (es->closing) {
    http_reply(req, 503, "text/plain", NULL, "shutting down", 13);
    return;
  }
  run_deadlines(es, now_ms(es)); /* a due timeout is served before the request */

  if (query_is(req, b, "transport", "polling") && es->cfg.polling) {
    transport = TR_POLLING;
  } else if (b->base && strcmp(b->base, "websocket") == 0 && es->cfg.websocket) {
    transport = TR_WEBSOCKET;
  } else {
    req->upgrade ? abort_upgrade(req, 0) : abort_request(req, 0);
    return;
  }

  if (http_req_query(req, "sid", b) == 0 && b->len > 0) {
    eio_socket_t *s = hash_find(es, b->base, b->len);
    if (s == NULL || s->state == ST_CLOSED ||
        (s->state == ST_CLOSING && (req->upgrade || transport != TR_POLLING))) {
      req->upgrade ? abort_upgrade(req, 1) : abort_request(req, 1);
      return;
    }
    if (req->upgrade) {
      if (transport != TR_WEBSOCKET) {
        abort_upgrade(req, 3);
        return;
      }
      pending_forget(s); /* the client came back */
      ws_upgrade_request(s, req);
      return;
    }
    if (transport != s->transport || transport == TR_WEBSOCKET) {
      abort_request(req, 3);
      return;
    }
    if (is_get) {
      pending_forget(s);
      poll_request(s, req);
    } else if (strcmp(req->method_name, "POST") == 0) {
      pending_forget(s);
      data_request(s, req);
    } else {
      http_reply(req, 500, NULL, NULL, NULL, 0);
    }
    return;
  }

  /* handshake */
  if (!is_get) {
    abort_request(req, 2);
    return;
  }
  if (transport == TR_WEBSOCKET && !req->upgrade) {
    abort_request(req, 3);
    return;
  }
  if (!query_is(req, b, "EIO", "4")) {
    req->upgrade ? abort_upgrade(req, 5) : abort_request(req, 5);
    return;
  }
  if (transport == TR_POLLING && req->upgrade) {
    abort_upgrade(req, 3);
    return;
  }
  handshake(es, req, transport);
}

/* ---- the server ---------------------------------------------------------------------- */

int eio_server_new(eio_server_t **out, uv_loop_t *loop, const eio_server_config *cfg,
                   const eio_server_callbacks *cb, void *ud) {
  eio_server_t *es = calloc(1, sizeof(*es));
  int rc = KDS_ENOMEM;
  if (es == NULL) return KDS_ENOMEM;
  es->loop = loop;
  if (cfg)
    es->cfg = *cfg;
  else
    eio_server_config_default(&es->cfg);
  if (es->cfg.max_payload <= 0) es->cfg.max_payload = 1000000;
  /* Room for a couple of maximal messages plus a healthy backlog of small ones; a client
   * further behind than that is not reading. */
  if (es->cfg.max_queue_bytes == 0)
    es->cfg.max_queue_bytes = 2u * 1024 * 1024 + 2 * (size_t)es->cfg.max_payload;
  if (es->cfg.max_queue_packets == 0) es->cfg.max_queue_packets = 10000;
  if (es->cfg.upgrade_timeout <= 0) es->cfg.upgrade_timeout = 10000;
  if (es->cfg.max_pending == 0) es->cfg.max_pending = PENDING_MAX_DEFAULT;
  if (es->cfg.max_pending_per_peer == 0) es->cfg.max_pending_per_peer = PENDING_PER_PEER_DEFAULT;
  if (cb) es->cb = *cb;
  es->ud = ud;
  kds_list_init(&es->sockets);
  kds_list_init(&es->dead);
  kds_list_init(&es->dirty);
  kds_list_init(&es->wsconns);
  kds_list_init(&es->ping_q);
  kds_list_init(&es->pong_q);
  kds_list_init(&es->upgrade_q);
  kds_list_init(&es->noop_q);
  kds_list_init(&es->closing_q);
  kds_list_init(&es->pending);
  kds_buf_init(&es->body);
  kds_buf_init(&es->scratch);
  kds_buf_init(&es->arg);
  es->nbuckets = HASH_MIN;
  es->buckets = calloc(es->nbuckets, sizeof(*es->buckets));
  es->npeer_buckets = PEER_HASH_MIN;
  es->peers = calloc(es->npeer_buckets, sizeof(*es->peers));
  es->f_ping = text_frame("2", 1);
  es->f_noop = text_frame("6", 1);
  es->f_close = text_frame("1", 1);
  es->f_pong_probe = text_frame("3probe", 6);
  es->hub = ws_hub_new(loop);
  if (!es->buckets || !es->peers || !es->f_ping || !es->f_noop || !es->f_close || !es->f_pong_probe ||
      !es->hub)
    goto fail;
  /* libuv's timer and prepare inits cannot fail (they only fill the handle). */
  uv_timer_init(loop, &es->timer);
  es->timer.data = es;
  uv_prepare_init(loop, &es->prepare);
  es->prepare.data = es;
  es->handles_open = 2;
  uv_prepare_start(&es->prepare, on_prepare);
  *out = es;
  return 0;
fail:
  ws_hub_free(es->hub);
  ws_frame_unref(es->f_ping);
  ws_frame_unref(es->f_noop);
  ws_frame_unref(es->f_close);
  ws_frame_unref(es->f_pong_probe);
  free(es->buckets);
  free(es->peers);
  free(es);
  return rc;
}

int eio_server_attach(eio_server_t *es, http_server_t *hs, const char *path) {
  static const char *const methods[] = {"GET", "POST", "PUT", "PATCH", "DELETE"};
  char pattern[256];
  size_t n = strlen(path);
  int rc;
  if (n == 0 || path[0] != '/' || n > sizeof(pattern) - 3) return KDS_EINVAL;
  snprintf(pattern, sizeof(pattern), "%s%s*", path, path[n - 1] == '/' ? "" : "/");
  for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
    if ((rc = http_route_add(hs, methods[i], pattern, eio_server_handle, es, (size_t)es->cfg.max_payload)) !=
        0)
      return rc;
  return 0;
}

static void on_handle_closed(uv_handle_t *h) {
  eio_server_t *es = h->data;
  if (--es->handles_open > 0) return;
  kds_buf_release(&es->body);
  kds_buf_release(&es->scratch);
  kds_buf_release(&es->arg);
  ws_frame_unref(es->f_ping);
  ws_frame_unref(es->f_noop);
  ws_frame_unref(es->f_close);
  ws_frame_unref(es->f_pong_probe);
  free(es->buckets);
  free(es->peers); /* empty: every session was buried, and the last of an address frees it */
  {
    void (*cb)(void *) = es->close_cb;
    void *ud = es->close_ud;
    free(es);
    if (cb) cb(ud);
  }
}

/* Frees the server once no session, dead socket or WebSocket is left. */
static void server_maybe_finish(eio_server_t *es) {
  if (es->hub == NULL) return; /* finishing already */
  if (!kds_list_empty(&es->sockets) || !kds_list_empty(&es->dead) || !kds_list_empty(&es->wsconns)) return;
  ws_hub_free(es->hub);
  es->hub = NULL;
  uv_close((uv_handle_t *)&es->timer, on_handle_closed);
  uv_close((uv_handle_t *)&es->prepare, on_handle_closed);
}

void eio_server_close(eio_server_t *es, void (*cb)(void *ud), void *ud) {
  if (es == NULL || es->closing) return;
  es->closing = 1;
  es->close_cb = cb;
  es->close_ud = ud;
  while (!kds_list_empty(&es->sockets)) {
    eio_socket_t *s = kds_container_of(es->sockets.next, eio_socket_t, link);
    if (s->state == ST_OPEN) {
      eio_socket_close(s);
    } else {
      socket_bury(s);
    }
  }
  /* WebSockets not attached to a session (refused duplicates) end too. */
  for (kds_list *n = es->wsconns.next, *next; n != &es->wsconns; n = next) {
    next = n->next;
    ws_close(kds_container_of(n, eio_wsconn, link)->ws, 0, NULL);
  }
  uv_timer_stop(&es->timer);
  es->armed_at = 0;
  /* The prepare callback frees the dead and finishes once the WebSockets are gone. */
}

void *eio_server_data(const eio_server_t *es) {
  return es->ud;
}

size_t eio_server_count(const eio_server_t *es) {
  return es->count;
}

uv_loop_t *eio_server_loop(const eio_server_t *es) {
  return es->loop;
}

/* ---- session accessors and sending -------------------------------------------------- */

const char *eio_socket_id(const eio_socket_t *s) {
  return s->id;
}

const char *eio_socket_peer(const eio_socket_t *s) {
  return s->peer;
}

const char *eio_socket_transport(const eio_socket_t *s) {
  return s->transport == TR_WEBSOCKET ? "websocket" : "polling";
}

eio_server_t *eio_socket_server(const eio_socket_t *s) {
  return s->es;
}

void *eio_socket_data(const eio_socket_t *s) {
  return s->data;
}

void eio_socket_set_data(eio_socket_t *s, void *data) {
  s->data = data;
}

int eio_socket_writable(const eio_socket_t *s) {
  if (s->state != ST_OPEN) return 0;
  if (s->transport == TR_WEBSOCKET) return s->ws != NULL && ws_queued(s->ws->ws) == 0;
  return s->poll != NULL && !s->upgrading && s->qlen == 0;
}

int eio_socket_send_frame(eio_socket_t *s, ws_frame_t *f) {
  return socket_push(s, f);
}

int eio_socket_send(eio_socket_t *s, int binary, const void *data, size_t len) {
  uv_buf_t part = uv_buf_init((char *)data, (unsigned)len);
  ws_frame_t *f;
  int rc;
  if (s->state != ST_OPEN) return KDS_ECLOSED;
  if ((f = eio_frame_message(binary, &part, 1)) == NULL) return KDS_ENOMEM;
  rc = socket_push(s, f);
  ws_frame_unref(f);
  return rc;
}
