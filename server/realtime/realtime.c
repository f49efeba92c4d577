/* realtime.c: the product's live feed (SPEC 4; see realtime.h) on sio_server: the token
 * in CONNECT decides the user and so the room (`outlet:<id>`, or `outlets:all` for a user
 * without an outlet and for anonymous clients when --ws-auth is off), order events are
 * broadcast to the order's outlet room and the all-outlets room, and `order-status` runs
 * the same rules as the REST PATCH. Connection state recovery is on (2 minutes), and a
 * session is restored only to the user and token that owned it (SPEC 11.21).
 *
 * Connected sockets are indexed by their token's hash (a fixed bucket array of intrusive
 * lists) and those whose token expires sit in one min-heap by expiry under one timer:
 * logout / revocation finds a token's sockets in O(its sockets), an expiry costs
 * O(log n), and 10,000 idle screens cost one armed timer (SPEC 11.22). Such sockets are
 * disconnected as socket.disconnect(true) does: DISCONNECT, then the connection closes. */
#include "realtime.h"

#include <assert.h>
#include <cjson/cJSON.h>
#include <inttypes.h>
#include <stdio.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "auth.h"
#include "err.h"
#include "hash.h"
#include "http.h"
#include "list.h"
#include "log.h"
#include "metrics.h"
#include "order.h"
#include "broadcast.h"
#include "server.h"
#include "sio.h"
#include "sio_server.h"

#define ALL_OUTLETS REALTIME_ALL_OUTLETS
#define TOKEN_MAX 512
#define TOKEN_BUCKETS 4096

/* A token with connected sockets: in rt->tokens[bucket], freed with its last socket. */
typedef struct rt_token {
  kds_list link;  /* rt->tokens[bucket] */
  kds_list conns; /* rt_conn.link */
  char hash[AUTH_HASH_SIZE];
} rt_token;

/* A connected socket's entry in the token index and the expiry heap (its sio data). */
typedef struct rt_conn {
  kds_list link; /* tok->conns */
  rt_token *tok;
  sio_socket_t *s;
  int64_t expires_at; /* epoch ms, 0 = never */
  size_t heap_at;     /* index in rt->heap while expires_at != 0 */
} rt_conn;

struct realtime {
  server_t *srv;
  realtime_commands cmds; /* order-status and the other socket commands */
  sio_server_t *sio;
  sio_nsp_t *nsp;
  kds_buf json;                   /* publish scratch */
  kds_list tokens[TOKEN_BUCKETS]; /* rt_token by hash */
  rt_conn **heap;                 /* min-heap by expires_at */
  size_t nheap, heapcap;
  uv_timer_t expiry;
  uv_timer_t sweep; /* revalidates a slice of the tokens each second */
  size_t sweep_at;  /* the next bucket to revalidate */
  int timers_open;
  int closing;
};

/* What a socket keeps for its life (and recovery restores): only what picks its room and
 * its rights, and which token it was opened with (logout and expiry end it); `order-status`
 * looks the token up again anyway. Not a kds_user: it is paid once per kitchen screen. */
typedef struct rt_identity {
  int64_t outlet_id;         /* the user's outlet; 0 = every outlet */
  int64_t expires_at;        /* the token's, epoch ms; 0 = never */
  int anonymous;             /* --ws-auth off and no token */
  char hash[AUTH_HASH_SIZE]; /* the token's sha256 hex; "" when anonymous */
} rt_identity;

/* An `order-status` or `line-done` in flight: the socket is referenced until the ack is sent. */
typedef struct rt_job {
  server_t *srv;
  sio_socket_t *s;
  int64_t ack_id;
  int line_done; /* 1: a `line-done` {invoice_number, line, done}; 0: an `order-status` */
  char *invoice;
  char *status;
  int64_t line;    /* line-done: the 1-based line; 0 when not a positive integer */
  int done;        /* line-done: 0/1; -1 when not a boolean */
  char *action_id; /* SPEC 5.1: NULL when the payload has none */
} rt_job;

static const rt_identity *identity_of(const sio_socket_t *s) {
  size_t len;
  const void *p = sio_socket_state(s, &len);
  return len == sizeof(rt_identity) ? p : NULL;
}

/* The auth's token: 1 with a non-empty string copied, 0 when absent/null/"", -1 when
 * present but not a usable string. */
static int auth_token(const sio_socket_t *s, char *out, size_t outlen) {
  kds_slice auth = sio_socket_auth(s);
  cJSON *root = cJSON_ParseWithLength(auth.ptr, auth.len);
  const cJSON *t = cJSON_GetObjectItemCaseSensitive(root, "token");
  int rc;
  if (t == NULL || cJSON_IsNull(t) || (cJSON_IsString(t) && t->valuestring[0] == '\0')) {
    rc = 0;
  } else if (cJSON_IsString(t) && strlen(t->valuestring) < outlen) {
    strcpy(out, t->valuestring);
    rc = 1;
  } else {
    rc = -1;
  }
  cJSON_Delete(root);
  return rc;
}

/* ---- CONNECT: auth middleware ------------------------------------------------------------ */

/* The owner a recovery session is bound to (SPEC 11.21): the user and the token's hash, so
 * another user, another outlet's token or a new token of the same user starts afresh. */
static int set_owner(sio_socket_t *s, int64_t user_id, const char *hash) {
  char owner[32 + AUTH_HASH_SIZE];
  int n = snprintf(owner, sizeof(owner), "%" PRId64 ":%s", user_id, hash);
  return sio_socket_set_owner(s, owner, (size_t)n);
}

static void on_token_user(void *ud, int rc, const kds_user *user, int64_t expires_at, const char *hash) {
  sio_socket_t *s = ud;
  rt_identity id;
  if (rc != 0 || user == NULL) {
    if (rc != KDS_ENOTFOUND) log_warn("realtime: token lookup failed: %s", kds_strerror(rc));
    sio_socket_reject(s, "unauthorized", NULL);
    return;
  }
  memset(&id, 0, sizeof(id));
  id.outlet_id = user->outlet_id;
  id.expires_at = expires_at;
  snprintf(id.hash, sizeof(id.hash), "%s", hash);
  if (sio_socket_set_state(s, &id, sizeof(id)) != 0 || set_owner(s, user->id, hash) != 0) {
    sio_socket_reject(s, "unauthorized", NULL);
    return;
  }
  sio_socket_accept(s);
}

static void on_auth(sio_socket_t *s, void *ud) {
  struct realtime *rt = ud;
  char token[TOKEN_MAX];
  int has = auth_token(s, token, sizeof(token));
  if (has == 0 && !rt->srv->cfg.ws_auth) {
    rt_identity id;
    memset(&id, 0, sizeof(id));
    id.anonymous = 1; /* --ws-auth off: anonymous, every outlet (SPEC 11.15) */
    /* Owner "anonymous": anonymous clients may restore one another's sessions (they can
     * all see every outlet anyway), never a token holder's. */
    if (sio_socket_set_state(s, &id, sizeof(id)) == 0 && sio_socket_set_owner(s, "anonymous", 9) == 0) {
      sio_socket_accept(s);
      return;
    }
  }
  if (has <= 0 || rt->srv->auth == NULL || auth_token_check(rt->srv->auth, token, on_token_user, s) != 0)
    sio_socket_reject(s, "unauthorized", NULL);
}

/* ---- the token index and the expiry heap ---------------------------------------------------- */

static kds_list *token_bucket(struct realtime *rt, const char *hash) {
  return &rt->tokens[kds_hash_str(hash) % TOKEN_BUCKETS];
}

static void heap_swap(struct realtime *rt, size_t i, size_t j) {
  rt_conn *t = rt->heap[i];
  rt->heap[i] = rt->heap[j];
  rt->heap[j] = t;
  rt->heap[i]->heap_at = i;
  rt->heap[j]->heap_at = j;
}

static void heap_up(struct realtime *rt, size_t i) {
  while (i > 0 && rt->heap[(i - 1) / 2]->expires_at > rt->heap[i]->expires_at) {
    heap_swap(rt, i, (i - 1) / 2);
    i = (i - 1) / 2;
  }
}

static void heap_down(struct realtime *rt, size_t i) {
  for (;;) {
    size_t l = 2 * i + 1, r = l + 1, m = i;
    if (l < rt->nheap && rt->heap[l]->expires_at < rt->heap[m]->expires_at) m = l;
    if (r < rt->nheap && rt->heap[r]->expires_at < rt->heap[m]->expires_at) m = r;
    if (m == i) return;
    heap_swap(rt, i, m);
    i = m;
  }
}

static int heap_push(struct realtime *rt, rt_conn *c) {
  if (rt->nheap == rt->heapcap) {
    size_t cap = rt->heapcap ? rt->heapcap * 2 : 64;
    rt_conn **h = realloc(rt->heap, cap * sizeof(*h));
    if (h == NULL) return KDS_ENOMEM;
    rt->heap = h;
    rt->heapcap = cap;
  }
  assert(c->expires_at != 0);
  c->heap_at = rt->nheap;
  rt->heap[rt->nheap++] = c;
  heap_up(rt, c->heap_at);
  return 0;
}

static void heap_remove(struct realtime *rt, rt_conn *c) {
  size_t i = c->heap_at;
  if (i >= rt->nheap || rt->heap[i] != c) return;
  assert(c->expires_at != 0); /* only sockets with an expiry are in the heap */
  if (i != --rt->nheap) {
    heap_swap(rt, i, rt->nheap);
    heap_down(rt, i);
    heap_up(rt, i);
  }
}

static void expiry_arm(struct realtime *rt);
static void conn_remove(struct realtime *rt, sio_socket_t *s);

/* The nearest expiry came: every socket whose token has expired leaves. */
static void on_expiry(uv_timer_t *t) {
  struct realtime *rt = t->data;
  int64_t now = order_now_ms();
  while (rt->nheap > 0 && rt->heap[0]->expires_at <= now) {
    rt_conn *c = rt->heap[0];
    if (!sio_socket_connected(c->s)) { /* cannot happen: on_disconnect removes it */
      conn_remove(rt, c->s);
      continue;
    }
    log_info("realtime: token of %s expired: disconnecting", sio_socket_id(c->s));
    sio_socket_disconnect(c->s, 1); /* on_disconnect frees `c` */
  }
  expiry_arm(rt);
}

static void expiry_arm(struct realtime *rt) {
  int64_t wait;
  if (rt->closing || rt->nheap == 0) {
    uv_timer_stop(&rt->expiry);
    return;
  }
  wait = rt->heap[0]->expires_at - order_now_ms();
  /* +1: the instant itself counts as expired (auth.c: now >= expires_at). */
  uv_timer_start(&rt->expiry, on_expiry, wait > 0 ? (uint64_t)wait + 1 : 0, 0);
}

static rt_token *token_find(struct realtime *rt, const char *hash) {
  kds_list *b = token_bucket(rt, hash);
  for (kds_list *n = b->next; n != b; n = n->next) {
    rt_token *t = kds_container_of(n, rt_token, link);
    if (strcmp(t->hash, hash) == 0) return t;
  }
  return NULL;
}

static void conn_add(struct realtime *rt, sio_socket_t *s, const rt_identity *id) {
  rt_token *t;
  rt_conn *c;
  if (id == NULL || id->anonymous || id->hash[0] == '\0') return;
  if ((t = token_find(rt, id->hash)) == NULL && (t = calloc(1, sizeof(*t))) != NULL) {
    memcpy(t->hash, id->hash, AUTH_HASH_SIZE);
    kds_list_init(&t->conns);
    kds_list_push(token_bucket(rt, t->hash), &t->link);
  }
  if (t == NULL || (c = calloc(1, sizeof(*c))) == NULL) {
    if (t && kds_list_empty(&t->conns)) {
      kds_list_remove(&t->link);
      free(t);
    }
    sio_socket_disconnect(s, 1); /* unindexed, it could outlive its token */
    return;
  }
  c->s = s;
  c->tok = t;
  c->expires_at = id->expires_at;
  kds_list_push(&t->conns, &c->link);
  sio_socket_set_data(s, c);
  if (c->expires_at) {
    if (heap_push(rt, c) != 0) {
      sio_socket_disconnect(s, 1);
      return;
    }
    if (rt->heap[0] == c) expiry_arm(rt);
  }
}

static void conn_remove(struct realtime *rt, sio_socket_t *s) {
  rt_conn *c = sio_socket_data(s);
  if (c == NULL) return;
  sio_socket_set_data(s, NULL);
  kds_list_remove(&c->link);
  if (kds_list_empty(&c->tok->conns)) { /* the token's last socket */
    kds_list_remove(&c->tok->link);
    free(c->tok);
  }
  if (c->expires_at) heap_remove(rt, c);
  free(c);
}

void realtime_token_revoked(struct realtime *rt, const char *hash) {
  size_t count = 0;
  if (rt == NULL || rt->closing || hash == NULL || hash[0] == '\0') return;
  /* Each disconnect frees its entry (on_disconnect), and the token with the last one:
   * look the token up again after each. */
  for (rt_token *t; (t = token_find(rt, hash)) != NULL; count++) {
    rt_conn *c = kds_container_of(t->conns.next, rt_conn, link);
    if (sio_socket_connected(c->s))
      sio_socket_disconnect(c->s, 1); /* on_disconnect frees `c` */
    else
      conn_remove(rt, c->s);
  }
  if (count) log_info("realtime: token revoked: %zu socket(s) disconnected", count);
}

/* A token revoked in the database by another process is only seen when auth re-reads it
 * (its cache keeps a token AUTH_REVALIDATE_MS). So each second the tokens of a slice of
 * the buckets are revalidated, every bucket once per AUTH_REVALIDATE_MS: one cache probe
 * per token with open sockets, and one DB read per token and period at most, spread
 * evenly (10,000 tokens: ~170 indexed reads a second). A revoked one comes back through
 * on_auth_revoked. */
#define SWEEP_PERIOD_MS 1000
#define SWEEP_BUCKETS ((TOKEN_BUCKETS * SWEEP_PERIOD_MS + AUTH_REVALIDATE_MS - 1) / AUTH_REVALIDATE_MS)

static void on_sweep(uv_timer_t *h) {
  struct realtime *rt = h->data;
  if (rt->closing || rt->srv->auth == NULL) return;
  for (size_t i = 0; i < SWEEP_BUCKETS; i++) {
    kds_list *b = &rt->tokens[rt->sweep_at];
    rt->sweep_at = (rt->sweep_at + 1) % TOKEN_BUCKETS;
    for (kds_list *n = b->next; n != b;) {
      rt_token *t = kds_container_of(n, rt_token, link);
      n = n->next;
      /* May not call back synchronously: the list is stable while we walk it. */
      if (auth_token_revalidate(rt->srv->auth, t->hash) == KDS_EFULL) return; /* DB busy: later */
    }
  }
}

static void on_auth_revoked(void *ud, const char *hash) {
  realtime_token_revoked(ud, hash);
}

static void on_connection(sio_socket_t *s, void *ud) {
  struct realtime *rt = ud;
  const rt_identity *id = identity_of(s);
  char room[48];
  log_info("✅ Client connected: %s%s", sio_socket_id(s), sio_socket_recovered(s) ? " (recovered)" : "");
  metrics_inc(rt->srv, METRICS_SOCKET_CONNECTS);
  metrics_gauge_add(rt->srv, METRICS_G_SOCKET_CLIENTS, 1); /* on_disconnect takes it back */
  conn_add(rt, s, id);
  if (!sio_socket_connected(s)) return;
  if (sio_socket_recovered(s)) return; /* the rooms came back with the session */
  if (id && !id->anonymous && id->outlet_id > 0)
    snprintf(room, sizeof(room), REALTIME_OUTLET_ROOM "%" PRId64, id->outlet_id);
  else
    snprintf(room, sizeof(room), "%s", ALL_OUTLETS);
  if (sio_socket_join(s, room) != 0) sio_socket_disconnect(s, 1);
}

static void on_disconnect(sio_socket_t *s, const char *reason, void *ud) {
  struct realtime *rt = ud;
  conn_remove(rt, s);
  metrics_gauge_add(rt->srv, METRICS_G_SOCKET_CLIENTS, -1);
  log_info("❌ Client disconnected: %s (%s)", sio_socket_id(s), reason);
}

/* ---- order-status --------------------------------------------------------------------------- */

static void job_free(rt_job *j) {
  sio_socket_unref(j->s);
  free(j->invoice);
  free(j->status);
  free(j->action_id);
  free(j);
}

static void job_ack(rt_job *j, const char *json, size_t len) {
  if (j->ack_id >= 0) sio_socket_ack(j->s, j->ack_id, json, len, NULL, 0);
  job_free(j);
}

/* {ok:false, error:{code, message[, current_status]}}: current_status only for a refused
 * transition (SPEC 11.2), as in the REST 409. */
static void job_fail_status(rt_job *j, const char *code, const char *message, const char *current) {
  kds_buf b = KDS_BUF_INIT;
  if (kds_buf_adds(&b, "{\"ok\":false,\"error\":{\"code\":") == 0 &&
      sio_json_quote(&b, code, strlen(code)) == 0 && kds_buf_adds(&b, ",\"message\":") == 0 &&
      sio_json_quote(&b, message, strlen(message)) == 0 &&
      (!current || !current[0] ||
       (kds_buf_adds(&b, ",\"current_status\":") == 0 &&
        sio_json_quote(&b, current, strlen(current)) == 0)) &&
      kds_buf_adds(&b, "}}") == 0)
    job_ack(j, b.base, b.len);
  else
    job_free(j);
  kds_buf_release(&b);
}

static void job_fail(rt_job *j, const char *code, const char *message) {
  job_fail_status(j, code, message, NULL);
}

static void on_status_changed(void *ud, int rc, const kds_err *err, const char *json, size_t len) {
  rt_job *j = ud;
  kds_buf b = KDS_BUF_INIT;
  if (rc == 0) {
    if (kds_buf_adds(&b, "{\"ok\":true,\"order\":") == 0 && kds_buf_add(&b, json, len) == 0 &&
        kds_buf_addc(&b, '}') == 0)
      job_ack(j, b.base, b.len);
    else
      job_free(j);
    kds_buf_release(&b);
    return;
  }
  if (rc == KDS_EREQUEST && err && err->code[0]) {
    job_fail_status(j, err->code, err->message, err->current_status);
  } else {
    log_error("realtime: order-status failed: %s", err && err->message[0] ? err->message : kds_strerror(rc));
    job_fail(j, err && err->code[0] ? err->code : "internal_error", "the server failed");
  }
}

static void job_run(rt_job *j, const kds_user *user) {
  struct realtime *rt = j->srv->rt;
  int rc = KDS_ECLOSED;
  if (rt && !j->line_done && rt->cmds.order_status)
    rc = rt->cmds.order_status(rt->cmds.ud, user, j->invoice, j->status, j->action_id, on_status_changed, j);
  else if (rt && j->line_done && rt->cmds.line_done)
    rc = rt->cmds.line_done(rt->cmds.ud, user, j->invoice, j->line, j->done, j->action_id, on_status_changed,
                            j);
  if (rc != 0) {
    log_warn("realtime: %s not started: %s", j->line_done ? "line-done" : "order-status", kds_strerror(rc));
    job_fail(j, rc == KDS_EFULL ? "busy" : "internal_error", "the server failed");
  }
}

/* The token is checked again: it may have been revoked since the CONNECT. */
static void on_job_user(void *ud, int rc, const kds_user *user) {
  rt_job *j = ud;
  job_run(j, rc == 0 ? user : NULL);
}

static char *string_field(const cJSON *o, const char *key) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
  return cJSON_IsString(v) ? strdup(v->valuestring) : NULL;
}

/* A line number as JSON gives it: a positive integer, else 0 (refused with 422). */
static int64_t line_field(const cJSON *o) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, "line");
  if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) || v->valuedouble != trunc(v->valuedouble) ||
      v->valuedouble < 1 || v->valuedouble > 1e6)
    return 0;
  return (int64_t)v->valuedouble;
}

/* Runs `order-status` (line_done 0) or `line-done` (1) for socket `s`. */
static void order_command(struct realtime *rt, sio_socket_t *s, const sio_event *ev, int line_done) {
  const rt_identity *id = identity_of(s);
  rt_job *j = calloc(1, sizeof(*j));
  kds_slice first;
  size_t pos = 0;
  char token[TOKEN_MAX];
  cJSON *payload = NULL;
  if (j == NULL) return;
  j->srv = rt->srv;
  j->s = s;
  j->ack_id = ev->id;
  sio_socket_ref(s);
  if (sio_args_next(ev->args, &pos, &first) == 1) payload = cJSON_ParseWithLength(first.ptr, first.len);
  j->line_done = line_done;
  j->done = -1;
  if (cJSON_IsObject(payload)) {
    const cJSON *done = cJSON_GetObjectItemCaseSensitive(payload, "done");
    const cJSON *action = cJSON_GetObjectItemCaseSensitive(payload, "action_id");
    j->invoice = string_field(payload, "invoice_number");
    /* present but not a string: "" fails the id check with a 422 on action_id */
    if (action) j->action_id = strdup(cJSON_IsString(action) ? action->valuestring : "");
    if (line_done) {
      j->line = line_field(payload);
      j->done = cJSON_IsBool(done) ? cJSON_IsTrue(done) : -1;
    } else {
      j->status = string_field(payload, "status");
    }
  }
  cJSON_Delete(payload);
  if (id == NULL || id->anonymous) {
    job_run(j, NULL); /* 401 unauthorized, as the REST PATCH without a token */
    return;
  }
  if (auth_token(s, token, sizeof(token)) == 1 && rt->srv->auth &&
      auth_token_lookup(rt->srv->auth, token, on_job_user, j) == 0)
    return;
  job_run(j, NULL);
}

static void on_event(sio_socket_t *s, const sio_event *ev, void *ud) {
  if (ev->name && strcmp(ev->name, "order-status") == 0) order_command(ud, s, ev, 0);
  if (ev->name && strcmp(ev->name, "line-done") == 0) order_command(ud, s, ev, 1);
}

/* ---- HTTP glue ------------------------------------------------------------------------------- */

/* Routes hold the server (which lives as long as the loop), not `rt`: after realtime_close
 * the HTTP server may still route a request here. */
static void on_request(http_req_t *req, void *ud) {
  server_t *srv = ud;
  if (srv->rt == NULL || srv->rt->closing) {
    http_reply(req, 503, "text/plain", NULL, "shutting down", 13);
    return;
  }
  eio_server_handle(req, sio_server_eio(srv->rt->sio));
}

static void on_timer_closed(uv_handle_t *h) {
  struct realtime *rt = h->data;
  if (--rt->timers_open > 0) return;
  kds_buf_release(&rt->json);
  free(rt->heap);
  free(rt);
}

/* Every socket has left (and so the index and the heap are empty): the timers go, then
 * the memory. */
static void on_sio_closed(void *ud) {
  struct realtime *rt = ud;
  uv_close((uv_handle_t *)&rt->expiry, on_timer_closed);
  uv_close((uv_handle_t *)&rt->sweep, on_timer_closed);
}

static ssize_t publish_local(void *impl, const char *event, int64_t outlet_id, const char *json, size_t len) {
  return realtime_publish(impl, event, outlet_id, json, len);
}

static const broadcast_ops local_broadcast = {publish_local};

int realtime_init(struct server *srv, const realtime_commands *cmds) {
  static const sio_nsp_ops ops = {on_auth, on_connection, on_event, on_disconnect};
  static const char *const methods[] = {"GET", "POST", "PUT", "PATCH", "DELETE"};
  struct realtime *rt = calloc(1, sizeof(*rt));
  sio_server_config cfg;
  int rc;
  if (rt == NULL) return KDS_ENOMEM;
  rt->srv = srv;
  if (cmds) rt->cmds = *cmds;
  kds_buf_init(&rt->json);
  for (size_t i = 0; i < TOKEN_BUCKETS; i++) kds_list_init(&rt->tokens[i]);
  uv_timer_init(srv->loop, &rt->expiry);
  rt->expiry.data = rt;
  uv_timer_init(srv->loop, &rt->sweep);
  rt->sweep.data = rt;
  rt->timers_open = 2;
  sio_server_config_default(&cfg);
  if (srv->cfg.ping_interval > 0) cfg.eio.ping_interval = srv->cfg.ping_interval;
  if (srv->cfg.ping_timeout > 0) cfg.eio.ping_timeout = srv->cfg.ping_timeout;
  if (srv->cfg.max_payload > 0) cfg.eio.max_payload = srv->cfg.max_payload;
  if (srv->cfg.max_pending > 0) cfg.eio.max_pending = (size_t)srv->cfg.max_pending;
  if (srv->cfg.max_pending_ip > 0) cfg.eio.max_pending_per_peer = (size_t)srv->cfg.max_pending_ip;
  if (srv->cfg.sid_prefix[0]) cfg.eio.sid_prefix = srv->cfg.sid_prefix;
  cfg.eio.metrics = srv->metrics;
  cfg.recovery = 1;
  cfg.max_disconnection = 2 * 60 * 1000;
  if ((rc = sio_server_new(&rt->sio, srv->loop, &cfg)) != 0) {
    on_sio_closed(rt);
    return rc;
  }
  if ((rc = sio_nsp_new(rt->sio, "/", &ops, rt, &rt->nsp)) != 0) goto fail;
  for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
    if ((rc = http_route_add(srv->http, methods[i], "/socket.io/*", on_request, srv,
                             (size_t)cfg.eio.max_payload)) != 0)
      goto fail;
  srv->rt = rt;
  broadcast_install(&srv->bcast, &local_broadcast, rt);
  auth_set_revoked_cb(srv->auth, on_auth_revoked, rt);
  uv_timer_start(&rt->sweep, on_sweep, SWEEP_PERIOD_MS, SWEEP_PERIOD_MS);
  uv_unref((uv_handle_t *)&rt->sweep); /* background work: it keeps nothing alive */
  return 0;
fail:
  /* Routes already added point at srv, which answers 503 while srv->rt is NULL. */
  rt->closing = 1;
  sio_server_close(rt->sio, on_sio_closed, rt);
  return rc;
}

ssize_t realtime_publish(struct realtime *rt, const char *event, int64_t outlet_id, const char *json,
                         size_t len) {
  char room[48];
  const char *rooms[2] = {room, ALL_OUTLETS};
  ssize_t n;
  if (rt == NULL || rt->closing) return KDS_ECLOSED;
  if (event == NULL) return KDS_EINVAL;
  snprintf(room, sizeof(room), REALTIME_OUTLET_ROOM "%" PRId64, outlet_id);
  /* Checked and made compact here: a bad payload must not reach (and close) every client. */
  kds_buf_reset(&rt->json);
  if (json == NULL || (n = sio_json_compact(&rt->json, json, len)) != 0) {
    log_error("realtime: %s not broadcast: the payload is not valid JSON", event);
    metrics_inc(rt->srv, METRICS_BCAST_FAILURES);
    return json == NULL ? KDS_EINVAL : n;
  }
  n = sio_nsp_emit(rt->nsp, rooms, 2, NULL, 0, event, rt->json.base, rt->json.len, NULL, 0);
  if (n < 0) {
    log_error("realtime: %s not broadcast: %s", event, kds_strerror((int)n));
    metrics_inc(rt->srv, METRICS_BCAST_FAILURES);
  } else {
    log_debug("realtime: %s to outlet %" PRId64 ": %zd sockets", event, outlet_id, n);
  }
  return n;
}

ssize_t realtime_deliver(struct realtime *rt, const char *const *rooms, size_t nrooms,
                         const char *const *except, size_t nexcept, const char *event, const char *args,
                         size_t args_len, int volatile_) {
  ssize_t n;
  if (rt == NULL || rt->closing) return KDS_ECLOSED;
  if (event == NULL || (args == NULL && args_len)) return KDS_EINVAL;
  kds_buf_reset(&rt->json);
  /* "[" args "]" must be one JSON array: a remote sender is not trusted to send JSON. */
  if (kds_buf_addc(&rt->json, '[') != 0 || kds_buf_add(&rt->json, args ? args : "", args_len) != 0 ||
      kds_buf_addc(&rt->json, ']') != 0)
    return KDS_ENOMEM;
  if (sio_json_check(rt->json.base, rt->json.len) != 0) return KDS_EPROTO;
  n = sio_nsp_emit_flags(rt->nsp, rooms, nrooms, except, nexcept, event, args, args_len,
                         volatile_ ? SIO_EMIT_VOLATILE : 0);
  if (n >= 0) log_debug("realtime: remote %s: %zd sockets", event, n);
  return n;
}

struct sio_nsp *realtime_nsp(const struct realtime *rt) {
  return rt == NULL || rt->closing ? NULL : rt->nsp;
}

size_t realtime_room_size(const struct realtime *rt, const char *room) {
  if (rt == NULL || rt->closing || room == NULL) return 0;
  return sio_nsp_room_size(rt->nsp, room);
}

void realtime_close(struct realtime *rt) {
  if (rt == NULL || rt->closing) return;
  rt->closing = 1;
  if (rt->srv->rt == rt) rt->srv->rt = NULL;
  broadcast_clear(&rt->srv->bcast, rt);
  if (rt->srv->auth) auth_set_revoked_cb(rt->srv->auth, NULL, NULL);
  uv_timer_stop(&rt->expiry);
  uv_timer_stop(&rt->sweep);
  sio_server_close(rt->sio, on_sio_closed, rt);
}
