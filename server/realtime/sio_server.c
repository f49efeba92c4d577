/* sio_server.c: Socket.IO v5 server on eio_server (see sio_server.h).
 *
 * Map: one sio_client per Engine.IO session (its sockets, its connectTimeout entry; packets
 * are decoded with the server's one decoder, and a client owns one only while a binary
 * packet waits for attachments); one sio_socket per (client, namespace). Each namespace
 * has its rooms (sio_rooms.c; each socket embeds its side of them) and, with recovery on,
 * its replay buffer and sessions (sio_recovery.c). A broadcast collects its recipients
 * first (with references, as a send may drop a slow client), then builds the frame once
 * (if anyone gets it) and queues it to each. Clients are freed from a uv_prepare, sockets
 * when their last reference goes. */
#include "sio_server.h"

#include <assert.h>
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "eio.h"
#include "err.h"
#include "list.h"
#include "log.h"
#include "sio.h"
#include "sio_recovery.h"
#include "sio_rooms.h"

#define STATE_MAX 4096
#define CLEANUP_PERIOD_MS 60000
#define SESSIONS_MAX 100000       /* per namespace: beyond it the oldest restorable session goes */
#define SHARED_DECODER_KEEP 65536 /* bytes of buffer the shared decoder may keep */

enum { SK_PENDING, SK_CONNECTED, SK_GONE };

typedef struct sio_pending_ack {
  kds_list link;
  int64_t id;
  sio_ack_cb cb;
  void *ud;
} sio_pending_ack;

/* Kept small: an idle client is this, its sockets and the layers below. The decoder is
 * the server's (shared) except while a binary packet waits for its attachments. */
typedef struct sio_client {
  sio_server_t *ss;
  eio_socket_t *conn;    /* NULL once the session closed */
  sio_decoder *dec;      /* own decoder while attachments are awaited, else NULL */
  kds_list sockets;      /* sio_socket.client_link */
  kds_list link;         /* ss->clients, then ss->dead */
  kds_list connect_link; /* ss->connect_q until a namespace is joined */
  uint64_t connect_deadline;
  const char *close_reason; /* set before we close the session ourselves */
  size_t pending_bytes;     /* of the binary packet in `dec` (header and attachments) */
  int dead;
} sio_client;

struct sio_socket {
  /* What a broadcast reads of every recipient comes first (the selection stamps lead
   * `rooms`): one cache line per socket when the recipients are thousands (the rest is
   * cold). */
  sio_rooms_member_t rooms; /* the rooms it is in, while connected */
  sio_client *client;       /* NULL once gone */
  int state;
  int refs;
  sio_server_t *ss;
  sio_nsp_t *nsp;
  char id[EIO_ID_LEN + 1];
  char pid[EIO_ID_LEN + 1]; /* "" without recovery */
  int recovered;
  int awaiting_verdict;
  void *data;
  kds_buf auth;   /* raw CONNECT payload, "{}" if none (exact size) */
  kds_buf st;     /* persisted state bytes (exact size) */
  kds_buf rejoin; /* restored room names, NUL-separated, joined at connect */
  kds_buf owner;  /* who may restore this socket's session (sio_socket_set_owner) */
  kds_buf want;   /* "pid\0offset\0" asked for in CONNECT, until the verdict */
  kds_list client_link;
  kds_list nsp_link;
  kds_list acks; /* sio_pending_ack */
  size_t nacks;
};

struct sio_nsp {
  sio_server_t *ss;
  sio_nsp_t *next;
  char *name;
  sio_nsp_ops ops;
  void *ud;
  kds_list sockets; /* connected sockets */
  size_t count;
  sio_rooms_t rooms;
  int64_t next_ack;
  sio_recovery_t rec; /* stored events and sessions (used with cfg.recovery only) */
};

struct sio_server {
  uv_loop_t *loop;
  sio_server_config cfg;
  eio_server_t *eio;
  sio_nsp_t *nsps;
  kds_list clients, dead, connect_q;
  uv_timer_t connect_timer, cleanup_timer;
  uv_prepare_t prepare;
  int handles_open;
  char yeast_prev[16];
  uint64_t yeast_seed;
  kds_buf out, tmp, name;
  sio_decoder *dec; /* every complete-in-one-message packet is decoded here */
  sio_socket_t **vec;
  size_t veccap;
  int closing;
  void (*close_cb)(void *);
  void *close_ud;
};

static const char *const recoverable_reasons[] = {"transport error",      "transport close",
                                                  "forced close",         "ping timeout",
                                                  "server shutting down", "forced server close"};

static void socket_leave_all(sio_socket_t *s, const char *reason);
static void socket_admit(sio_socket_t *s);
static void client_close(sio_client *c, const char *reason);

/* For logs: the address lives in the Engine.IO session, not copied into every layer. */
static const char *client_peer(const sio_client *c) {
  return c->conn ? eio_socket_peer(c->conn) : "?";
}

/* Replaces b's content with an allocation of exactly len + 1 bytes (kds_buf rounds up to
 * 64): what a socket keeps for its whole life is kept tight. */
static int buf_set_exact(kds_buf *b, const void *p, size_t len) {
  char *m = malloc(len + 1);
  if (m == NULL) return KDS_ENOMEM;
  if (len) memcpy(m, p, len);
  m[len] = '\0';
  kds_buf_release(b);
  b->base = m;
  b->len = len;
  b->cap = len + 1;
  return 0;
}

/* ---- small helpers --------------------------------------------------------------------- */

void sio_server_config_default(sio_server_config *c) {
  memset(c, 0, sizeof(*c));
  eio_server_config_default(&c->eio);
  c->connect_timeout = 45000;
  c->max_disconnection = 120000;
  c->recovery_max_packets = 10000;
  c->max_pending_acks = 1000;
  c->max_rooms = 64;
}

static uint64_t now_ms(sio_server_t *ss) {
  uv_update_time(ss->loop);
  return uv_now(ss->loop);
}

static int event_name_ok(const char *event) {
  return event != NULL && !sio_event_reserved(event);
}

/* yeast(): Date.now() in a 64-character alphabet, ".<n>" appended for repeats within one
 * millisecond (socket.io-adapter contrib/yeast.ts). */
static void yeast_encode(uint64_t num, char *out) {
  static const char alphabet[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz-_";
  char tmp[16];
  int n = 0;
  do {
    tmp[n++] = alphabet[num % 64];
    num /= 64;
  } while (num);
  for (int i = 0; i < n; i++) out[i] = tmp[n - 1 - i];
  out[n] = '\0';
}

static void yeast(sio_server_t *ss, char out[40]) {
  struct timespec ts;
  char now[16], seed[16];
  clock_gettime(CLOCK_REALTIME, &ts);
  yeast_encode((uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000, now);
  if (strcmp(now, ss->yeast_prev) != 0) {
    ss->yeast_seed = 0;
    strcpy(ss->yeast_prev, now);
    strcpy(out, now);
    return;
  }
  yeast_encode(ss->yeast_seed++, seed);
  snprintf(out, 40, "%s.%s", now, seed);
}

/* ---- rooms ------------------------------------------------------------------------------ */

int sio_socket_join(sio_socket_t *s, const char *room) {
  size_t len;
  if (s->state != SK_CONNECTED) return KDS_ECLOSED;
  if (room == NULL || (len = strlen(room)) == 0 || len > SIO_ROOM_NAME_MAX) return KDS_EINVAL;
  if (sio_rooms_has(&s->rooms, room)) return 0;
  if (s->rooms.n >= s->ss->cfg.max_rooms) return KDS_EFULL;
  return sio_rooms_join(&s->nsp->rooms, &s->rooms, room, len);
}

void sio_socket_leave(sio_socket_t *s, const char *room) {
  if (s->state != SK_CONNECTED || room == NULL) return;
  sio_rooms_leave(&s->nsp->rooms, &s->rooms, room);
}

int sio_socket_in_room(const sio_socket_t *s, const char *room) {
  return s->state == SK_CONNECTED && room && sio_rooms_has(&s->rooms, room);
}

size_t sio_nsp_room_size(const sio_nsp_t *nsp, const char *room) {
  return sio_rooms_size(&nsp->rooms, room);
}

size_t sio_nsp_count(const sio_nsp_t *nsp) {
  return nsp->count;
}

/* ---- socket lifetime ------------------------------------------------------------------- */

static void socket_free(sio_socket_t *s) {
  kds_buf_release(&s->auth);
  kds_buf_release(&s->st);
  kds_buf_release(&s->rejoin);
  kds_buf_release(&s->owner);
  kds_buf_release(&s->want);
  free(s);
}

void sio_socket_ref(sio_socket_t *s) {
  assert(s->refs > 0); /* a reference is taken only on a live socket */
  s->refs++;
}

void sio_socket_unref(sio_socket_t *s) {
  if (s == NULL) return;
  assert(s->refs > 0);
  if (--s->refs == 0) socket_free(s);
}

/* ---- sending ----------------------------------------------------------------------------- */

/* Sends the packet in ss->out (text after the "4") and its attachments to one client. */
static int client_send(sio_client *c, const kds_buf *pkt, const kds_slice *bins, int nbins) {
  int rc;
  if (c == NULL || c->conn == NULL) return KDS_ECLOSED;
  if ((rc = eio_socket_send(c->conn, 0, pkt->base, pkt->len)) != 0) return rc;
  for (int i = 0; i < nbins; i++) {
    if (c->conn == NULL) return KDS_ECLOSED;
    if ((rc = eio_socket_send(c->conn, 1, bins[i].ptr, bins[i].len)) != 0) return rc;
  }
  return 0;
}

static const char *nsp_arg(const sio_nsp_t *nsp) {
  return strcmp(nsp->name, "/") == 0 ? NULL : nsp->name;
}

/* ---- connection state recovery ----------------------------------------------------------- */

/* socket._onclose: keep what a reconnect needs (sid, pid, rooms, data, owner). */
static void persist_session(sio_socket_t *s) {
  sio_recovery_identity id;
  kds_buf rooms; /* not ss->tmp: a socket may leave while a send of the server's is on */
  kds_buf_init(&rooms);
  if (sio_rooms_names(&s->rooms, &rooms) == 0) {
    id.sid = s->id;
    id.pid = s->pid;
    id.rooms.ptr = rooms.base;
    id.rooms.len = rooms.len;
    id.state.ptr = s->st.base;
    id.state.len = s->st.len;
    id.owner.ptr = s->owner.base;
    id.owner.len = s->owner.len;
    sio_recovery_save(&s->nsp->rec, &id, uv_now(s->ss->loop));
  }
  kds_buf_release(&rooms);
}

/* The session's identity becomes the socket's: ids, state, and the rooms joined at connect. */
static int on_restore_adopt(void *ud, const sio_recovery_identity *id) {
  sio_socket_t *s = ud;
  snprintf(s->id, sizeof(s->id), "%s", id->sid);
  snprintf(s->pid, sizeof(s->pid), "%s", id->pid);
  kds_buf_reset(&s->rejoin);
  if (buf_set_exact(&s->st, id->state.ptr, id->state.len) != 0 ||
      kds_buf_add(&s->rejoin, id->rooms.ptr, id->rooms.len) != 0)
    return KDS_ENOMEM;
  return 0;
}

/* A missed event goes to the client before the CONNECT reply. */
static int on_restore_replay(void *ud, const char *data, size_t len) {
  sio_socket_t *s = ud;
  sio_server_t *ss = s->ss;
  int rc;
  kds_buf_reset(&ss->out);
  if ((rc = sio_packet_encode(&ss->out, SIO_EVENT, nsp_arg(s->nsp), -1, data, len, 0)) != 0) return rc;
  return client_send(s->client, &ss->out, NULL, 0);
}

/* restoreSession, run only once the CONNECT was authenticated (SPEC 11.21): the session of
 * `pid`, if fresh, owned by the same owner as `s` (sio_socket_set_owner: the same user and
 * token) and `offset` is still buffered, becomes the socket's and its missed events are
 * sent. Returns 1 when restored. */
static int restore_session(sio_socket_t *s, const char *pid, const char *offset) {
  static const sio_recovery_restore_cbs cbs = {on_restore_adopt, on_restore_replay};
  kds_slice owner = {s->owner.base, s->owner.len};
  if (!sio_recovery_restore(&s->nsp->rec, pid, offset, owner, now_ms(s->ss), &cbs, s)) return 0;
  s->recovered = 1;
  return 1;
}

/* Every 60 s: drop sessions and packets older than maxDisconnectionDuration. */
static void on_cleanup(uv_timer_t *t) {
  sio_server_t *ss = t->data;
  uint64_t now = uv_now(ss->loop);
  for (sio_nsp_t *nsp = ss->nsps; nsp; nsp = nsp->next) sio_recovery_expire(&nsp->rec, now);
}

/* ---- broadcast ------------------------------------------------------------------------------ */

static int vec_push(sio_server_t *ss, size_t *n, sio_socket_t *s) {
  assert(s->state == SK_CONNECTED && s->refs > 0);
  if (*n == ss->veccap) {
    size_t cap = ss->veccap ? ss->veccap * 2 : 64;
    sio_socket_t **v = realloc(ss->vec, cap * sizeof(*v));
    if (v == NULL) return KDS_ENOMEM;
    ss->vec = v;
    ss->veccap = cap;
  }
  s->refs++;
  ss->vec[(*n)++] = s;
  return 0;
}

typedef struct collect_ctx {
  sio_server_t *ss;
  size_t *n;
  uint64_t sel;
} collect_ctx;

/* A member of one of the broadcast's rooms: a recipient unless excluded or already one. */
static int collect_member(sio_rooms_member_t *m, void *ud) {
  collect_ctx *cx = ud;
  if (!sio_rooms_pick(m, cx->sel)) return 0;
  return vec_push(cx->ss, cx->n, kds_container_of(m, sio_socket_t, rooms));
}

static ssize_t broadcast(sio_nsp_t *nsp, const char *const *rooms, size_t nrooms, const char *const *except,
                         size_t nexcept, const char *event, const char *args, size_t args_len,
                         const kds_slice *bins, int nbins, unsigned flags) {
  sio_server_t *ss = nsp->ss;
  ws_frame_t *frames[1 + SIO_MAX_ATTACHMENTS] = {0};
  char offset[40] = "";
  /* A volatile event is not kept for replay and has no offset, as in socket.io (it may be
   * lost by design, so recovery must not pretend otherwise). */
  int keep = ss->cfg.recovery && nbins == 0 && !(flags & SIO_EMIT_VOLATILE);
  uint64_t sel;
  size_t n = 0, veccap;
  ssize_t rc = 0;
  uv_buf_t part;
  sio_socket_t **vec;

  if (!event_name_ok(event) || nbins < 0 || nbins > SIO_MAX_ATTACHMENTS) return KDS_EINVAL;
  /* The data array, with the offset as its last element when recovery keeps it. */
  kds_buf_reset(&ss->tmp);
  if (kds_buf_addc(&ss->tmp, '[') != 0 || sio_json_quote(&ss->tmp, event, strlen(event)) != 0)
    return KDS_ENOMEM;
  if (args_len && (kds_buf_addc(&ss->tmp, ',') != 0 || kds_buf_add(&ss->tmp, args, args_len) != 0))
    return KDS_ENOMEM;
  if (keep) {
    yeast(ss, offset);
    if (kds_buf_addf(&ss->tmp, ",\"%s\"", offset) != 0) return KDS_ENOMEM;
  }
  if (kds_buf_addc(&ss->tmp, ']') != 0) return KDS_ENOMEM;
  kds_buf_reset(&ss->out);
  if (sio_packet_encode(&ss->out, nbins ? SIO_BINARY_EVENT : SIO_EVENT, nsp_arg(nsp), -1, ss->tmp.base,
                        ss->tmp.len, nbins) != 0)
    return KDS_ENOMEM;

  /* Recipients: the excluded are marked, then each wanted socket is collected once. */
  sel = sio_rooms_exclude(&nsp->rooms, except, nexcept);
  if (nrooms == 0) {
    for (kds_list *l = nsp->sockets.next; l != &nsp->sockets; l = l->next) {
      sio_socket_t *s = kds_container_of(l, sio_socket_t, nsp_link);
      if (sio_rooms_pick(&s->rooms, sel) && vec_push(ss, &n, s) != 0) break;
    }
  } else {
    collect_ctx cx = {ss, &n, sel};
    for (size_t i = 0; i < nrooms; i++) sio_rooms_each(&nsp->rooms, rooms[i], collect_member, &cx);
  }
  if (keep && sio_recovery_store(&nsp->rec, offset, uv_now(ss->loop), ss->tmp.base, ss->tmp.len, rooms,
                                 nrooms, except, nexcept) != 0)
    log_warn("sio: out of memory: event not kept for recovery");
  /* The frames (one allocation each, shared by every recipient) only when someone gets
   * them: an event for an outlet with no screen open costs no frame. */
  if (n > 0) {
    part = uv_buf_init(ss->out.base, (unsigned)ss->out.len);
    frames[0] = eio_frame_message(0, &part, 1);
    for (int i = 0; i < nbins && frames[i] != NULL; i++) {
      part = uv_buf_init((char *)bins[i].ptr, (unsigned)bins[i].len);
      frames[1 + i] = eio_frame_message(1, &part, 1);
    }
    if (frames[nbins] == NULL) rc = KDS_ENOMEM;
  }
  /* Send. A full queue drops its client inside eio_socket_send_frame: its sockets leave
   * (on_disconnect may even broadcast again, so the recipient array is taken out of `ss`);
   * the references keep every collected socket readable. */
  vec = ss->vec;
  veccap = ss->veccap;
  ss->vec = NULL;
  ss->veccap = 0;
  for (size_t i = 0; i < n && rc == 0; i++) {
    sio_socket_t *s = vec[i];
    if ((flags & SIO_EMIT_VOLATILE) && s->client && s->client->conn && !eio_socket_writable(s->client->conn))
      continue; /* volatile: only to a transport that can take it now */
    for (int k = 0; k <= nbins; k++) {
      if (s->state != SK_CONNECTED || s->client == NULL || s->client->conn == NULL) break;
      if (eio_socket_send_frame(s->client->conn, frames[k]) != 0) break;
    }
  }
  if (rc == 0) rc = (ssize_t)n;
  for (size_t i = 0; i < n; i++) sio_socket_unref(vec[i]);
  if (ss->vec == NULL) { /* give the array back for the next broadcast */
    ss->vec = vec;
    ss->veccap = veccap;
  } else {
    free(vec);
  }
  for (int k = 0; k <= nbins; k++) ws_frame_unref(frames[k]);
  return rc;
}

ssize_t sio_nsp_emit(sio_nsp_t *nsp, const char *const *rooms, size_t nrooms, const char *const *except,
                     size_t nexcept, const char *event, const char *args, size_t args_len,
                     const kds_slice *bins, int nbins) {
  if (nsp->ss->closing) return 0;
  return broadcast(nsp, rooms, nrooms, except, nexcept, event, args, args_len, bins, nbins, 0);
}

ssize_t sio_nsp_select(sio_nsp_t *nsp, const char *const *rooms, size_t nrooms, const char *const *except,
                       size_t nexcept, int (*fn)(sio_socket_t *s, void *ud), void *ud) {
  sio_server_t *ss = nsp->ss;
  sio_socket_t **vec;
  size_t n = 0, veccap;
  uint64_t sel = sio_rooms_exclude(&nsp->rooms, except, nexcept);
  int stop = 0;
  if (nrooms == 0) {
    for (kds_list *l = nsp->sockets.next; l != &nsp->sockets; l = l->next) {
      sio_socket_t *s = kds_container_of(l, sio_socket_t, nsp_link);
      if (sio_rooms_pick(&s->rooms, sel) && vec_push(ss, &n, s) != 0) break; /* those so far */
    }
  } else {
    collect_ctx cx = {ss, &n, sel};
    for (size_t i = 0; i < nrooms; i++)
      if (sio_rooms_each(&nsp->rooms, rooms[i], collect_member, &cx) != 0) break;
  }
  /* The array is taken out of `ss` while fn runs (it may emit, and so broadcast). */
  vec = ss->vec;
  veccap = ss->veccap;
  ss->vec = NULL;
  ss->veccap = 0;
  for (size_t i = 0; i < n; i++) {
    if (!stop && vec[i]->state == SK_CONNECTED && fn(vec[i], ud) != 0) stop = 1;
    sio_socket_unref(vec[i]);
  }
  if (ss->vec == NULL) {
    ss->vec = vec;
    ss->veccap = veccap;
  } else {
    free(vec);
  }
  return (ssize_t)n;
}

int sio_socket_rooms(const sio_socket_t *s, kds_buf *out) {
  return sio_rooms_names(&s->rooms, out);
}

int sio_nsp_rooms(const sio_nsp_t *nsp, kds_buf *out) {
  return sio_rooms_all(&nsp->rooms, out);
}

ssize_t sio_nsp_emit_flags(sio_nsp_t *nsp, const char *const *rooms, size_t nrooms, const char *const *except,
                           size_t nexcept, const char *event, const char *args, size_t args_len,
                           unsigned flags) {
  if (nsp->ss->closing) return 0;
  return broadcast(nsp, rooms, nrooms, except, nexcept, event, args, args_len, NULL, 0, flags);
}

/* ---- socket API ------------------------------------------------------------------------------ */

int sio_socket_emit(sio_socket_t *s, const char *event, const char *args, size_t args_len,
                    const kds_slice *bins, int nbins, sio_ack_cb cb, void *ud) {
  sio_server_t *ss = s->ss;
  sio_pending_ack *a = NULL;
  int64_t id = -1;
  int rc;
  if (s->state != SK_CONNECTED) return KDS_ECLOSED;
  if (!event_name_ok(event) || nbins < 0 || nbins > SIO_MAX_ATTACHMENTS) return KDS_EINVAL;
  if (cb == NULL && ss->cfg.recovery) {
    /* socket.emit with recovery goes through the adapter: offset, kept for replay. */
    const char *room = s->id;
    ssize_t n = broadcast(s->nsp, &room, 1, NULL, 0, event, args, args_len, bins, nbins, 0);
    return n < 0 ? (int)n : 0;
  }
  if (cb) {
    if (s->nacks >= ss->cfg.max_pending_acks) return KDS_EFULL;
    if ((a = malloc(sizeof(*a))) == NULL) return KDS_ENOMEM;
    id = s->nsp->next_ack++;
  }
  kds_buf_reset(&ss->out);
  if ((rc = sio_event_encode(&ss->out, nsp_arg(s->nsp), id, event, args, args_len, nbins)) != 0 ||
      (rc = client_send(s->client, &ss->out, bins, nbins)) != 0) {
    free(a);
    return rc;
  }
  if (a) {
    if (s->state != SK_CONNECTED) { /* dropped while sending */
      free(a);
      return KDS_EFULL;
    }
    a->id = id;
    a->cb = cb;
    a->ud = ud;
    kds_list_push(&s->acks, &a->link);
    s->nacks++;
  }
  return 0;
}

int sio_socket_ack(sio_socket_t *s, int64_t id, const char *args, size_t args_len, const kds_slice *bins,
                   int nbins) {
  sio_server_t *ss = s->ss;
  int rc;
  if (s->state != SK_CONNECTED) return KDS_ECLOSED;
  if (id < 0 || nbins < 0 || nbins > SIO_MAX_ATTACHMENTS) return KDS_EINVAL;
  kds_buf_reset(&ss->out);
  if ((rc = sio_ack_encode(&ss->out, nsp_arg(s->nsp), id, args, args_len, nbins)) != 0) return rc;
  return client_send(s->client, &ss->out, bins, nbins);
}

const char *sio_socket_id(const sio_socket_t *s) {
  return s->id;
}

int sio_socket_connected(const sio_socket_t *s) {
  return s->state == SK_CONNECTED;
}

int sio_socket_recovered(const sio_socket_t *s) {
  return s->recovered;
}

kds_slice sio_socket_auth(const sio_socket_t *s) {
  kds_slice r = {s->auth.base ? s->auth.base : "{}", s->auth.base ? s->auth.len : 2};
  return r;
}

sio_nsp_t *sio_socket_nsp(const sio_socket_t *s) {
  return s->nsp;
}

const char *sio_socket_peer(const sio_socket_t *s) {
  return s->client && s->client->conn ? eio_socket_peer(s->client->conn) : "";
}

void *sio_socket_data(const sio_socket_t *s) {
  return s->data;
}

void sio_socket_set_data(sio_socket_t *s, void *data) {
  s->data = data;
}

int sio_socket_set_state(sio_socket_t *s, const void *p, size_t len) {
  if (len > STATE_MAX) return KDS_EINVAL;
  return buf_set_exact(&s->st, p, len);
}

const void *sio_socket_state(const sio_socket_t *s, size_t *len) {
  *len = s->st.len;
  return s->st.len ? s->st.base : NULL;
}

/* ---- connect / disconnect ------------------------------------------------------------------- */

static void socket_connect(sio_socket_t *s) {
  sio_server_t *ss = s->ss;
  sio_nsp_t *nsp = s->nsp;
  sio_client *c = s->client;
  assert(s->state == SK_PENDING && kds_list_empty(&s->nsp_link)); /* admitted once, not yet listed */
  s->state = SK_CONNECTED;
  kds_list_push(&nsp->sockets, &s->nsp_link);
  nsp->count++;
  sio_socket_join(s, s->id);
  for (size_t i = 0; i < s->rejoin.len;) {
    const char *room = s->rejoin.base + i;
    i += strlen(room) + 1;
    if (strcmp(room, s->id) != 0) sio_socket_join(s, room);
  }
  kds_buf_release(&s->rejoin);
  kds_list_remove(&c->connect_link); /* connectTimeout is over */
  kds_buf_reset(&ss->tmp);
  if (s->pid[0])
    kds_buf_addf(&ss->tmp, "{\"sid\":\"%s\",\"pid\":\"%s\"}", s->id, s->pid);
  else
    kds_buf_addf(&ss->tmp, "{\"sid\":\"%s\"}", s->id);
  kds_buf_reset(&ss->out);
  if (sio_packet_encode(&ss->out, SIO_CONNECT, nsp_arg(nsp), -1, ss->tmp.base, ss->tmp.len, 0) != 0 ||
      client_send(c, &ss->out, NULL, 0) != 0) {
    if (s->state == SK_CONNECTED) client_close(c, "forced server close");
    return;
  }
  if (s->state == SK_CONNECTED && nsp->ops.on_connection) nsp->ops.on_connection(s, nsp->ud);
}

/* The CONNECT is admitted (no middleware, or it accepted): a session the socket asked for
 * is restored now, to its owner only, its missed events replayed; then the CONNECT reply. */
static void socket_admit(sio_socket_t *s) {
  sio_client *c = s->client;
  if (s->want.len) {
    const char *pid = s->want.base;
    const char *offset = pid + strlen(pid) + 1;
    restore_session(s, pid, offset);
    kds_buf_release(&s->want);
  }
  if (s->state != SK_PENDING || s->client != c || c->conn == NULL) return; /* dropped while replaying */
  socket_connect(s);
}

void sio_socket_accept(sio_socket_t *s) {
  if (!s->awaiting_verdict) return;
  s->awaiting_verdict = 0;
  if (s->state == SK_PENDING && s->client && s->client->conn) socket_admit(s);
  sio_socket_unref(s); /* the verdict's: it kept `s` alive through a replay */
}

int sio_socket_set_owner(sio_socket_t *s, const void *p, size_t len) {
  if (len > STATE_MAX) return KDS_EINVAL;
  return buf_set_exact(&s->owner, p, len);
}

void sio_socket_reject(sio_socket_t *s, const char *message, const char *data_json) {
  if (!s->awaiting_verdict) return;
  s->awaiting_verdict = 0;
  if (s->state == SK_PENDING && s->client && s->client->conn) {
    sio_server_t *ss = s->ss;
    sio_client *c = s->client;
    kds_buf_reset(&ss->out);
    if (sio_connect_error_encode(&ss->out, nsp_arg(s->nsp), message ? message : "", data_json,
                                 data_json ? strlen(data_json) : 0) == 0)
      client_send(c, &ss->out, NULL, 0);
    if (s->state == SK_PENDING) socket_leave_all(s, "server namespace disconnect");
  }
  sio_socket_unref(s);
}

static int reason_recoverable(const char *reason) {
  for (size_t i = 0; i < sizeof(recoverable_reasons) / sizeof(recoverable_reasons[0]); i++)
    if (strcmp(reason, recoverable_reasons[i]) == 0) return 1;
  return 0;
}

/* The socket leaves its namespace and its client (socket._onclose). */
static void socket_leave_all(sio_socket_t *s, const char *reason) {
  sio_server_t *ss = s->ss;
  sio_nsp_t *nsp = s->nsp;
  if (s->state == SK_GONE) return;
  kds_list_remove(&s->client_link);
  s->client = NULL;
  if (s->state == SK_PENDING) {
    s->state = SK_GONE;
    sio_socket_unref(s); /* the client's reference; a verdict still owed holds its own */
    return;
  }
  if (ss->cfg.recovery && !ss->closing && s->pid[0] && reason_recoverable(reason)) persist_session(s);
  sio_rooms_leave_all(&nsp->rooms, &s->rooms);
  assert(nsp->count > 0 && !kds_list_empty(&s->nsp_link)); /* a connected socket is on its list */
  kds_list_remove(&s->nsp_link);
  nsp->count--;
  s->state = SK_GONE;
  if (nsp->ops.on_disconnect) nsp->ops.on_disconnect(s, reason, nsp->ud);
  while (!kds_list_empty(&s->acks)) {
    sio_pending_ack *a = kds_container_of(s->acks.next, sio_pending_ack, link);
    assert(s->nacks > 0);
    kds_list_remove(&a->link);
    s->nacks--;
    a->cb(a->ud, KDS_ECLOSED, NULL);
    free(a);
  }
  sio_socket_unref(s);
}

void sio_socket_disconnect(sio_socket_t *s, int close_conn) {
  sio_server_t *ss = s->ss;
  sio_client *c = s->client;
  if (s->state != SK_CONNECTED) return;
  if (!close_conn) {
    kds_buf_reset(&ss->out);
    if (sio_packet_encode(&ss->out, SIO_DISCONNECT, nsp_arg(s->nsp), -1, NULL, 0, 0) == 0)
      client_send(c, &ss->out, NULL, 0);
    if (s->state == SK_CONNECTED) socket_leave_all(s, "server namespace disconnect");
    return;
  }
  /* client._disconnect: every socket of the client gets DISCONNECT, then the session closes. */
  while (c->conn && !kds_list_empty(&c->sockets)) {
    sio_socket_t *x = kds_container_of(c->sockets.next, sio_socket_t, client_link);
    if (x->state == SK_CONNECTED) {
      kds_buf_reset(&ss->out);
      if (sio_packet_encode(&ss->out, SIO_DISCONNECT, nsp_arg(x->nsp), -1, NULL, 0, 0) == 0)
        client_send(c, &ss->out, NULL, 0);
    }
    socket_leave_all(x, "server namespace disconnect");
  }
  client_close(c, "forced server close");
}

/* ---- clients (Engine.IO sessions) ------------------------------------------------------------ */

static void connect_timer_arm(sio_server_t *ss);

static void client_close(sio_client *c, const char *reason) {
  if (c->dead || c->conn == NULL) return;
  c->close_reason = reason;
  eio_socket_close(c->conn); /* on_close below runs inside */
}

static sio_socket_t *client_socket(sio_client *c, kds_slice nsp) {
  for (kds_list *n = c->sockets.next; n != &c->sockets; n = n->next) {
    sio_socket_t *s = kds_container_of(n, sio_socket_t, client_link);
    if (kds_slice_eq(nsp, s->nsp->name)) return s;
  }
  return NULL;
}

static sio_nsp_t *find_nsp(sio_server_t *ss, kds_slice name) {
  for (sio_nsp_t *nsp = ss->nsps; nsp; nsp = nsp->next)
    if (kds_slice_eq(name, nsp->name)) return nsp;
  return NULL;
}

/* The pid and offset of a reconnecting client, if both are strings in its auth. */
static int auth_recovery(const kds_slice auth, char *pid, size_t pidlen, char *offset, size_t offlen) {
  cJSON *root = cJSON_ParseWithLength(auth.ptr, auth.len);
  const cJSON *p = cJSON_GetObjectItemCaseSensitive(root, "pid");
  const cJSON *o = cJSON_GetObjectItemCaseSensitive(root, "offset");
  int ok = cJSON_IsString(p) && cJSON_IsString(o) && strlen(p->valuestring) < pidlen &&
           strlen(o->valuestring) < offlen;
  if (ok) {
    strcpy(pid, p->valuestring);
    strcpy(offset, o->valuestring);
  }
  cJSON_Delete(root);
  return ok;
}

static void client_connect(sio_client *c, const sio_packet *p) {
  sio_server_t *ss = c->ss;
  sio_nsp_t *nsp = find_nsp(ss, p->nsp);
  sio_socket_t *s;
  char pid[64], offset[64];
  if (nsp == NULL) {
    char name[SIO_NSP_MAX + 1];
    memcpy(name, p->nsp.ptr, p->nsp.len);
    name[p->nsp.len] = '\0';
    kds_buf_reset(&ss->out);
    if (sio_connect_error_encode(&ss->out, name, "Invalid namespace", NULL, 0) == 0)
      client_send(c, &ss->out, NULL, 0);
    return;
  }
  if ((s = calloc(1, sizeof(*s))) == NULL) {
    client_close(c, "forced server close");
    return;
  }
  s->ss = ss;
  s->nsp = nsp;
  s->client = c;
  s->state = SK_PENDING;
  s->refs = 1; /* the client's, dropped when the socket leaves */
  kds_buf_init(&s->auth);
  kds_buf_init(&s->st);
  kds_buf_init(&s->rejoin);
  kds_buf_init(&s->owner);
  kds_buf_init(&s->want);
  kds_list_init(&s->nsp_link);
  sio_rooms_member_init(&s->rooms);
  kds_list_init(&s->acks);
  if (buf_set_exact(&s->auth, p->data.len ? p->data.ptr : "{}", p->data.len ? p->data.len : 2) != 0) {
    socket_free(s);
    client_close(c, "forced server close");
    return;
  }
  kds_list_push(&c->sockets, &s->client_link);
  s->refs++; /* ours until the end: a replay or a handler may drop the client */
  /* A fresh identity first; a restore replaces it, and only after the verdict: the pid
   * and offset are a claim, remembered until the middleware said who is asking. */
  if (eio_id_generate(s->id) != 0 || (ss->cfg.recovery && eio_id_generate(s->pid) != 0)) {
    client_close(c, "forced server close");
    goto out;
  }
  if (ss->cfg.recovery && auth_recovery(sio_socket_auth(s), pid, sizeof(pid), offset, sizeof(offset)) &&
      (kds_buf_add(&s->want, pid, strlen(pid) + 1) != 0 ||
       kds_buf_add(&s->want, offset, strlen(offset) + 1) != 0)) {
    client_close(c, "forced server close");
    goto out;
  }
  if (nsp->ops.on_auth == NULL) {
    socket_admit(s);
    goto out;
  }
  s->awaiting_verdict = 1;
  s->refs++; /* the verdict's */
  nsp->ops.on_auth(s, nsp->ud);
out:
  sio_socket_unref(s);
}

static void socket_packet(sio_socket_t *s, const sio_packet *p) {
  sio_server_t *ss = s->ss;
  sio_event ev;
  memset(&ev, 0, sizeof(ev));
  ev.data = p->data;
  ev.id = p->id;
  ev.nbins = p->attachments;
  ev.bins = p->bin;
  switch (p->type) {
    case SIO_EVENT:
    case SIO_BINARY_EVENT:
      if (sio_args_split(p->data, &ev.name_json, &ev.args) != 0) return; /* parse checked it */
      if (ev.name_json.ptr[0] == '"') {
        kds_buf_reset(&ss->name);
        if (sio_json_unquote(&ss->name, ev.name_json) != 0) return;
        ev.name = ss->name.base ? ss->name.base : "";
      }
      if (s->nsp->ops.on_event) s->nsp->ops.on_event(s, &ev, s->nsp->ud);
      break;
    case SIO_ACK:
    case SIO_BINARY_ACK:
      for (kds_list *n = s->acks.next; n != &s->acks; n = n->next) {
        sio_pending_ack *a = kds_container_of(n, sio_pending_ack, link);
        if (a->id != p->id) continue;
        assert(s->nacks > 0);
        kds_list_remove(&a->link);
        s->nacks--;
        /* the arguments: everything inside the (compact) array */
        ev.args.ptr = p->data.ptr + 1;
        ev.args.len = p->data.len >= 2 ? p->data.len - 2 : 0;
        a->cb(a->ud, 0, &ev);
        free(a);
        break;
      }
      break;
    case SIO_DISCONNECT:
      socket_leave_all(s, "client namespace disconnect");
      break;
    default:
      break;
  }
}

static void client_packet(sio_client *c, const sio_packet *p) {
  sio_socket_t *s = client_socket(c, p->nsp);
  if (s == NULL && p->type == SIO_CONNECT) {
    client_connect(c, p);
    return;
  }
  if (s && s->state == SK_CONNECTED && p->type != SIO_CONNECT && p->type != SIO_CONNECT_ERROR) {
    s->refs++; /* a handler may disconnect it */
    socket_packet(s, p);
    sio_socket_unref(s);
    return;
  }
  log_debug("sio: %s: invalid state (packet type %d for %.*s)", client_peer(c), (int)p->type, (int)p->nsp.len,
            p->nsp.ptr);
  client_close(c, "forced server close");
}

static void on_eio_open(eio_server_t *es, eio_socket_t *conn) {
  sio_server_t *ss = eio_server_data(es);
  sio_client *c = calloc(1, sizeof(*c));
  if (c == NULL) {
    eio_socket_close(conn);
    return;
  }
  c->ss = ss;
  c->conn = conn;
  kds_list_init(&c->sockets);
  kds_list_push(&ss->clients, &c->link);
  c->connect_deadline = now_ms(ss) + (uint64_t)ss->cfg.connect_timeout;
  kds_list_push(&ss->connect_q, &c->connect_link); /* constant timeout: FIFO is sorted */
  eio_socket_set_data(conn, c);
  connect_timer_arm(ss);
}

static void decoder_free(sio_decoder *d) {
  if (d == NULL) return;
  sio_decoder_release(d);
  free(d);
}

/* Almost every packet is one Engine.IO message: it is decoded with the server's decoder
 * (no per-client memory). A binary packet's header leaves state behind until its last
 * attachment: then that decoder becomes the client's and the server takes a fresh one. */
static void on_eio_message(eio_socket_t *conn, int binary, const char *data, size_t len) {
  sio_client *c = eio_socket_data(conn);
  sio_server_t *ss;
  sio_decoder *d;
  sio_packet p;
  int rc;
  if (c == NULL || c->dead) return;
  ss = c->ss;
  d = c->dec ? c->dec : ss->dec;
  /* Attachments are held until the packet is complete: at most maxPayload per client in
   * all (SPEC 11.25), as one message is at most that. */
  if (c->dec && ss->cfg.eio.max_payload > 0 && c->pending_bytes + len > (size_t)ss->cfg.eio.max_payload) {
    log_debug("sio: %s: binary attachments over maxPayload", client_peer(c));
    client_close(c, "parse error");
    return;
  }
  rc = binary ? sio_decoder_binary(d, data, len, &p) : sio_decoder_text(d, data, len, &p);
  if (rc < 0) {
    log_debug("sio: %s: bad packet: %s", client_peer(c), kds_strerror(rc));
    client_close(c, "parse error");
    return;
  }
  if (rc == 0) {
    sio_decoder *fresh;
    sio_socket_t *s;
    if (d != ss->dec) { /* the client's own: more attachments to come */
      c->pending_bytes += len;
      return;
    }
    /* A binary header: its attachments would be held for a namespace the client has not
     * joined (SPEC 11.25), so that is a protocol error at once. */
    s = client_socket(c, d->pending.nsp);
    if (s == NULL || s->state != SK_CONNECTED) {
      log_debug("sio: %s: binary packet before CONNECT", client_peer(c));
      sio_decoder_release(d);
      client_close(c, "parse error");
      return;
    }
    if ((fresh = malloc(sizeof(*fresh))) == NULL) {
      sio_decoder_release(d); /* drops the pending header */
      client_close(c, "forced server close");
      return;
    }
    sio_decoder_init(fresh);
    c->dec = d;
    ss->dec = fresh;
    c->pending_bytes = len;
    return;
  }
  client_packet(c, &p);
  if (d != ss->dec) { /* the binary packet is complete: back to sharing */
    if (c->dec == d) c->dec = NULL;
    decoder_free(d);
  } else if (d->text.cap > SHARED_DECODER_KEEP) {
    sio_decoder_release(d); /* a huge message passed: do not keep its buffer */
  }
}

static void on_eio_close(eio_socket_t *conn, const char *reason) {
  sio_client *c = eio_socket_data(conn);
  sio_server_t *ss;
  if (c == NULL) return;
  ss = c->ss;
  if (c->close_reason) reason = c->close_reason;
  eio_socket_set_data(conn, NULL);
  c->conn = NULL;
  c->dead = 1;
  while (!kds_list_empty(&c->sockets))
    socket_leave_all(kds_container_of(c->sockets.next, sio_socket_t, client_link), reason);
  kds_list_remove(&c->connect_link);
  kds_list_remove(&c->link);
  kds_list_push(&ss->dead, &c->link); /* freed from prepare: callers up the stack may hold it */
}

static void clients_reap(sio_server_t *ss) {
  while (!kds_list_empty(&ss->dead)) {
    sio_client *c = kds_container_of(ss->dead.next, sio_client, link);
    assert(c->dead && c->conn == NULL); /* only closed sessions are on ss->dead */
    kds_list_remove(&c->link);
    decoder_free(c->dec);
    free(c);
  }
}

static void on_prepare(uv_prepare_t *p) {
  clients_reap(p->data);
}

static void on_connect_timer(uv_timer_t *t) {
  sio_server_t *ss = t->data;
  uint64_t now = uv_now(ss->loop);
  while (!kds_list_empty(&ss->connect_q)) {
    sio_client *c = kds_container_of(ss->connect_q.next, sio_client, connect_link);
    if (c->connect_deadline > now) break;
    kds_list_remove(&c->connect_link);
    log_debug("sio: %s: no namespace joined within connectTimeout", client_peer(c));
    client_close(c, "forced server close");
  }
  connect_timer_arm(ss);
}

static void connect_timer_arm(sio_server_t *ss) {
  uint64_t now, dl;
  if (kds_list_empty(&ss->connect_q) || ss->closing) {
    uv_timer_stop(&ss->connect_timer);
    return;
  }
  dl = kds_container_of(ss->connect_q.next, sio_client, connect_link)->connect_deadline;
  now = uv_now(ss->loop);
  uv_timer_start(&ss->connect_timer, on_connect_timer, dl > now ? dl - now : 0, 0);
}

/* ---- server --------------------------------------------------------------------------------- */

int sio_server_new(sio_server_t **out, uv_loop_t *loop, const sio_server_config *cfg) {
  static const eio_server_callbacks cbs = {on_eio_open, on_eio_message, on_eio_close};
  sio_server_t *ss = calloc(1, sizeof(*ss));
  int rc;
  if (ss == NULL) return KDS_ENOMEM;
  ss->loop = loop;
  if (cfg)
    ss->cfg = *cfg;
  else
    sio_server_config_default(&ss->cfg);
  if (ss->cfg.connect_timeout <= 0) ss->cfg.connect_timeout = 45000;
  if (ss->cfg.max_disconnection <= 0) ss->cfg.max_disconnection = 120000;
  if (ss->cfg.recovery_max_packets == 0) ss->cfg.recovery_max_packets = 10000;
  if (ss->cfg.max_pending_acks == 0) ss->cfg.max_pending_acks = 1000;
  if (ss->cfg.max_rooms == 0) ss->cfg.max_rooms = 64;
  kds_list_init(&ss->clients);
  kds_list_init(&ss->dead);
  kds_list_init(&ss->connect_q);
  kds_buf_init(&ss->out);
  kds_buf_init(&ss->tmp);
  kds_buf_init(&ss->name);
  if ((ss->dec = malloc(sizeof(*ss->dec))) == NULL) {
    free(ss);
    return KDS_ENOMEM;
  }
  sio_decoder_init(ss->dec);
  if ((rc = eio_server_new(&ss->eio, loop, &ss->cfg.eio, &cbs, ss)) != 0) {
    decoder_free(ss->dec);
    free(ss);
    return rc;
  }
  uv_timer_init(loop, &ss->connect_timer);
  ss->connect_timer.data = ss;
  uv_timer_init(loop, &ss->cleanup_timer);
  ss->cleanup_timer.data = ss;
  uv_prepare_init(loop, &ss->prepare);
  ss->prepare.data = ss;
  ss->handles_open = 3;
  uv_prepare_start(&ss->prepare, on_prepare);
  uv_unref((uv_handle_t *)&ss->prepare);
  if (ss->cfg.recovery) {
    uv_timer_start(&ss->cleanup_timer, on_cleanup, CLEANUP_PERIOD_MS, CLEANUP_PERIOD_MS);
    uv_unref((uv_handle_t *)&ss->cleanup_timer);
  }
  *out = ss;
  return 0;
}

int sio_server_attach(sio_server_t *ss, http_server_t *hs, const char *path) {
  return eio_server_attach(ss->eio, hs, path);
}

eio_server_t *sio_server_eio(const sio_server_t *ss) {
  return ss->eio;
}

int sio_nsp_new(sio_server_t *ss, const char *name, const sio_nsp_ops *ops, void *ud, sio_nsp_t **out) {
  sio_nsp_t *nsp;
  size_t len;
  if (name == NULL || name[0] != '/' || (len = strlen(name)) > SIO_NSP_MAX || strchr(name, ',') ||
      find_nsp(ss, kds_slice_of(name)))
    return KDS_EINVAL;
  if ((nsp = calloc(1, sizeof(*nsp))) == NULL || (nsp->name = strdup(name)) == NULL) {
    free(nsp);
    return KDS_ENOMEM;
  }
  nsp->ss = ss;
  if (ops) nsp->ops = *ops;
  nsp->ud = ud;
  kds_list_init(&nsp->sockets);
  sio_rooms_init(&nsp->rooms);
  sio_recovery_init(&nsp->rec, ss->cfg.recovery_max_packets, SESSIONS_MAX,
                    (uint64_t)ss->cfg.max_disconnection);
  nsp->next = ss->nsps;
  ss->nsps = nsp;
  if (out) *out = nsp;
  return 0;
}

static void nsp_free(sio_nsp_t *nsp) {
  assert(nsp->count == 0 && kds_list_empty(&nsp->sockets)); /* every socket left */
  sio_recovery_release(&nsp->rec);
  sio_rooms_release(&nsp->rooms);
  free(nsp->name);
  free(nsp);
}

static void on_handle_closed(uv_handle_t *h) {
  sio_server_t *ss = h->data;
  void (*cb)(void *);
  void *ud;
  assert(ss->handles_open > 0);
  if (--ss->handles_open > 0) return;
  clients_reap(ss);
  while (ss->nsps) {
    sio_nsp_t *next = ss->nsps->next;
    nsp_free(ss->nsps);
    ss->nsps = next;
  }
  kds_buf_release(&ss->out);
  kds_buf_release(&ss->tmp);
  kds_buf_release(&ss->name);
  decoder_free(ss->dec);
  free(ss->vec);
  cb = ss->close_cb;
  ud = ss->close_ud;
  free(ss);
  if (cb) cb(ud);
}

static void on_eio_closed(void *ud) {
  sio_server_t *ss = ud;
  ss->eio = NULL;
  uv_close((uv_handle_t *)&ss->connect_timer, on_handle_closed);
  uv_close((uv_handle_t *)&ss->cleanup_timer, on_handle_closed);
  uv_close((uv_handle_t *)&ss->prepare, on_handle_closed);
}

void sio_server_close(sio_server_t *ss, void (*cb)(void *ud), void *ud) {
  if (ss == NULL || ss->closing) return;
  ss->closing = 1;
  ss->close_cb = cb;
  ss->close_ud = ud;
  uv_timer_stop(&ss->connect_timer);
  uv_timer_stop(&ss->cleanup_timer);
  for (kds_list *n = ss->clients.next; n != &ss->clients; n = n->next) {
    sio_client *c = kds_container_of(n, sio_client, link);
    while (!kds_list_empty(&c->sockets))
      socket_leave_all(kds_container_of(c->sockets.next, sio_socket_t, client_link), "server shutting down");
  }
  eio_server_close(ss->eio, on_eio_closed, ss);
}
