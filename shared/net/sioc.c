/* sioc.c: Socket.IO client state machine over ws.c:
 *   IDLE -> CONNECTING (ws_connect) -> OPENING (wait for EIO "0{...}") -> JOINING (sent "40",
 *   wait for the reply) -> CONNECTED -> CLOSING (waiting for the ws or the connect to end)
 *   -> IDLE, where on_disconnect runs.
 * One timer serves the connect deadline, the dead-link deadline (pingInterval +
 * pingTimeout after the last ping) and ack timeouts: it is set to the earliest of them. */
#include "sioc.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eio.h"
#include "err.h"
#include "list.h"
#include "log.h"
#include "sio.h"

enum { S_IDLE, S_CONNECTING, S_OPENING, S_JOINING, S_CONNECTED, S_CLOSING };

#define SIOC_ID_MAX 64 /* sid / pid / offset buffers */
#define SIOC_DEFAULT_TIMEOUT 20000
#define SIOC_DEFAULT_ACK_TIMEOUT 10000
#define SIOC_MAX_EARLY 1024 /* events buffered before the CONNECT reply (recovery) */

typedef struct sioc_ack_req {
  kds_list node;
  int64_t id;
  uint64_t deadline;
  sioc_ack_cb cb;
  void *ud;
} sioc_ack_req;

/* An event that came before the CONNECT reply (a recovered session's missed events). */
typedef struct sioc_early {
  kds_list node;
  size_t len;
  char data[];
} sioc_early;

struct sioc {
  ws_hub_t *hub;
  uv_loop_t *loop;
  const sioc_callbacks *cb;
  void *data;
  ws_connect_t *conn;
  ws_t *ws;
  uv_timer_t timer;
  int state;
  int freeing;
  int timer_closed;
  /* settings of the current connect, in one allocation */
  char *strs;
  const char *host, *path, *nsp, *auth, *headers;
  int port;
  unsigned timeout_ms;
  int recover, track_offset;
  size_t max_message;
  /* session */
  uint64_t connect_deadline; /* until CONNECTED */
  uint64_t ping_deadline;    /* once OPENING is over; 0 = none */
  int64_t ping_interval, ping_timeout;
  int64_t next_ack_id;
  kds_list acks;
  kds_list early;
  unsigned nearly;
  int bin_skip; /* binary attachments of an ignored packet still to come */
  int end_err;
  const char *end_reason;
  int no_recover; /* the last link died on what the server sent: the next connect starts fresh */
  char sid[SIOC_ID_MAX], pid[SIOC_ID_MAX], offset[SIOC_ID_MAX];
};

static void end_link(sioc_t *s, int err, const char *reason, int graceful);
static void arm_timer(sioc_t *s);

/* ---- helpers ------------------------------------------------------------------------------ */

static int nsp_is_default(const sioc_t *s) {
  return !s->nsp || strcmp(s->nsp, "/") == 0;
}

static int send_text(sioc_t *s, const kds_buf *b) {
  int rc;
  if (!s->ws) return KDS_ECLOSED;
  rc = ws_send(s->ws, WS_TEXT, b->base, b->len);
  return rc;
}

static void fail_acks(sioc_t *s, int err) {
  kds_list local;
  kds_list_init(&local);
  kds_list_splice(&local, &s->acks);
  while (!kds_list_empty(&local)) {
    sioc_ack_req *a = kds_container_of(local.next, sioc_ack_req, node);
    kds_list_remove(&a->node);
    a->cb(a->ud, err, NULL, 0);
    free(a);
  }
}

static void drop_early(sioc_t *s) {
  while (!kds_list_empty(&s->early)) {
    sioc_early *e = kds_container_of(s->early.next, sioc_early, node);
    kds_list_remove(&e->node);
    free(e);
  }
  s->nearly = 0;
}

static void maybe_free(sioc_t *s) {
  if (s->freeing && s->timer_closed && !s->ws && !s->conn) {
    fail_acks(s, KDS_ECLOSED);
    drop_early(s);
    free(s->strs);
    free(s);
  }
}

/* The link is fully down (no ws, no connect in flight): report it. */
static void finalize(sioc_t *s) {
  int err = s->end_err;
  const char *reason = s->end_reason ? s->end_reason : SIOC_REASON_TRANSPORT_CLOSE;
  if (s->ws || s->conn) return;
  s->state = S_IDLE;
  s->ping_deadline = 0;
  s->bin_skip = 0;
  drop_early(s);
  if (!s->timer_closed) uv_timer_stop(&s->timer);
  fail_acks(s, KDS_ECLOSED);
  if (s->freeing) {
    maybe_free(s);
    return;
  }
  s->cb->on_disconnect(s, err, reason);
}

/* ---- incoming packets --------------------------------------------------------------------- */

static void copy_id(char *dst, const cJSON *v) {
  dst[0] = '\0';
  if (cJSON_IsString(v) && strlen(v->valuestring) < SIOC_ID_MAX) strcpy(dst, v->valuestring);
}

static void on_sio_connect(sioc_t *s, kds_slice data) {
  cJSON *o = cJSON_ParseWithLength(data.ptr, data.len);
  char prev_pid[SIOC_ID_MAX];
  int recovered;
  if (!cJSON_IsObject(o) || !cJSON_IsString(cJSON_GetObjectItemCaseSensitive(o, "sid"))) {
    cJSON_Delete(o);
    end_link(s, KDS_EPROTO, SIOC_REASON_PARSE, 0);
    return;
  }
  strcpy(prev_pid, s->pid);
  copy_id(s->sid, cJSON_GetObjectItemCaseSensitive(o, "sid"));
  copy_id(s->pid, cJSON_GetObjectItemCaseSensitive(o, "pid"));
  cJSON_Delete(o);
  recovered = s->pid[0] && strcmp(prev_pid, s->pid) == 0;
  if (!recovered) s->offset[0] = '\0';
  s->state = S_CONNECTED;
  arm_timer(s);
  if (s->cb->on_connect) s->cb->on_connect(s, s->sid, s->pid[0] ? s->pid : NULL, recovered);
}

static void on_sio_connect_error(sioc_t *s, kds_slice data) {
  cJSON *o = cJSON_ParseWithLength(data.ptr, data.len), *m, *d;
  const char *msg = "connect error";
  char *dj = NULL;
  m = cJSON_GetObjectItemCaseSensitive(o, "message");
  d = cJSON_GetObjectItemCaseSensitive(o, "data");
  if (cJSON_IsString(m))
    msg = m->valuestring;
  else if (cJSON_IsString(o))
    msg = o->valuestring; /* a bare string (older servers) */
  if (d) dj = cJSON_PrintUnformatted(d);
  if (s->cb->on_connect_error) s->cb->on_connect_error(s, msg, dj, dj ? strlen(dj) : 0);
  free(dj);
  cJSON_Delete(o);
  end_link(s, 0, SIOC_REASON_CONNECT_ERROR, 1);
}

/* The last argument of an event, when it is a string, is the recovery offset. */
static void note_offset(sioc_t *s, kds_slice arr) {
  size_t pos = 0;
  kds_slice el, last = {NULL, 0};
  kds_buf b = KDS_BUF_INIT;
  while (sio_array_next(arr, &pos, &el)) last = el;
  if (!last.ptr || last.len < 2 || last.ptr[0] != '"' || last.len > SIOC_ID_MAX * 2) return;
  if (sio_json_unquote(&b, last) == 0 && b.len < SIOC_ID_MAX) memcpy(s->offset, b.base, b.len + 1);
  kds_buf_release(&b);
}

static void deliver_event(sioc_t *s, const sio_packet *p) {
  kds_slice first, rest;
  kds_buf name = KDS_BUF_INIT;
  if (sio_args_split(p->data, &first, &rest) < 0 || first.len < 2 || first.ptr[0] != '"' ||
      sio_json_unquote(&name, first) < 0) {
    /* a numeric event name: nothing a client of ours listens to */
    kds_buf_release(&name);
    return;
  }
  if (s->track_offset) note_offset(s, p->data);
  if (s->cb->on_event) s->cb->on_event(s, name.base, rest.ptr ? rest.ptr : "", rest.len, p->id);
  kds_buf_release(&name);
}

static void on_sio_ack(sioc_t *s, const sio_packet *p) {
  kds_list *i;
  const char *a = p->data.ptr;
  size_t n = p->data.len;
  for (i = s->acks.next; i != &s->acks; i = i->next) {
    sioc_ack_req *r = kds_container_of(i, sioc_ack_req, node);
    if (r->id != p->id) continue;
    kds_list_remove(&r->node);
    /* strip the array's brackets: the callback gets the arguments as a list */
    while (n && (*a == ' ' || *a == '\t' || *a == '\n' || *a == '\r')) a++, n--;
    while (n && (a[n - 1] == ' ' || a[n - 1] == '\t' || a[n - 1] == '\n' || a[n - 1] == '\r')) n--;
    if (n >= 2 && a[0] == '[') {
      a++;
      n -= 2;
    }
    arm_timer(s);
    r->cb(r->ud, 0, a, n);
    free(r);
    return;
  }
}

static void handle_sio(sioc_t *s, const char *data, size_t len, int from_early) {
  sio_packet p;
  if (sio_packet_parse(data, len, &p) < 0) {
    end_link(s, KDS_EPROTO, SIOC_REASON_PARSE, 0);
    return;
  }
  if (p.type == SIO_BINARY_EVENT || p.type == SIO_BINARY_ACK) {
    s->bin_skip = p.attachments; /* not used by this client: skip it and its attachments */
    return;
  }
  if (!kds_slice_eq(p.nsp, s->nsp ? s->nsp : "/")) return; /* another namespace */
  switch (p.type) {
    case SIO_CONNECT:
      if (s->state == S_JOINING) {
        on_sio_connect(s, p.data);
        /* missed events that came before the reply now go out, in order */
        while (s->state == S_CONNECTED && !kds_list_empty(&s->early)) {
          sioc_early *e = kds_container_of(s->early.next, sioc_early, node);
          kds_list_remove(&e->node);
          s->nearly--;
          handle_sio(s, e->data, e->len, 1);
          free(e);
          if (s->state != S_CONNECTED && s->end_err) s->no_recover = 1; /* a replay killed it */
        }
      }
      break;
    case SIO_CONNECT_ERROR:
      if (s->state == S_JOINING) on_sio_connect_error(s, p.data);
      break;
    case SIO_EVENT:
      if (s->state == S_CONNECTED) {
        deliver_event(s, &p);
      } else if (s->state == S_JOINING && !from_early && s->nearly < SIOC_MAX_EARLY) {
        sioc_early *e = malloc(sizeof(*e) + len);
        if (!e) break;
        e->len = len;
        memcpy(e->data, data, len);
        kds_list_push(&s->early, &e->node);
        s->nearly++;
      }
      break;
    case SIO_ACK:
      if (s->state == S_CONNECTED) on_sio_ack(s, &p);
      break;
    case SIO_DISCONNECT:
      end_link(s, 0, SIOC_REASON_SERVER, 1);
      break;
    default:
      break;
  }
}

static void send_connect(sioc_t *s) {
  kds_buf b = KDS_BUF_INIT;
  int rc = kds_buf_adds(&b, "40");
  if (!nsp_is_default(s)) rc |= kds_buf_addf(&b, "%s,", s->nsp);
  if (s->recover && s->pid[0] && s->offset[0]) {
    /* Object.assign({pid, offset}, auth): the user's keys come last and win */
    rc |= kds_buf_adds(&b, "{\"pid\":");
    rc |= sio_json_quote(&b, s->pid, strlen(s->pid));
    rc |= kds_buf_adds(&b, ",\"offset\":");
    rc |= sio_json_quote(&b, s->offset, strlen(s->offset));
    if (s->auth) {
      const char *in = strchr(s->auth, '{') + 1, *end = strrchr(s->auth, '}');
      while (in < end && (*in == ' ' || *in == '\n' || *in == '\t' || *in == '\r')) in++;
      if (in < end) {
        rc |= kds_buf_addc(&b, ',');
        rc |= kds_buf_add(&b, in, (size_t)(end - in));
      }
    }
    rc |= kds_buf_addc(&b, '}');
  } else if (s->auth) {
    rc |= kds_buf_adds(&b, s->auth);
  }
  if (rc == 0) rc = send_text(s, &b);
  kds_buf_release(&b);
  if (rc < 0) {
    end_link(s, rc, SIOC_REASON_TRANSPORT_ERROR, 0);
    return;
  }
  s->state = S_JOINING;
}

static void handle_eio(sioc_t *s, const char *data, size_t len) {
  eio_packet pkt;
  eio_handshake hs;
  if (eio_packet_decode(data, len, 1, &pkt, NULL) < 0) {
    end_link(s, KDS_EPROTO, SIOC_REASON_PARSE, 0);
    return;
  }
  switch (pkt.type) {
    case EIO_OPEN:
      if (s->state != S_OPENING) break;
      if (eio_handshake_decode(pkt.data.ptr, pkt.data.len, &hs) < 0 || hs.ping_interval <= 0 ||
          hs.ping_timeout < 0) {
        end_link(s, KDS_EPROTO, SIOC_REASON_PARSE, 0);
        return;
      }
      s->ping_interval = hs.ping_interval;
      s->ping_timeout = hs.ping_timeout;
      s->ping_deadline = uv_now(s->loop) + (uint64_t)(hs.ping_interval + hs.ping_timeout);
      send_connect(s);
      arm_timer(s);
      break;
    case EIO_PING: {
      kds_buf b = KDS_BUF_INIT;
      if (kds_buf_adds(&b, "3") == 0) send_text(s, &b);
      kds_buf_release(&b);
      if (s->state != S_CLOSING) {
        s->ping_deadline = uv_now(s->loop) + (uint64_t)(s->ping_interval + s->ping_timeout);
        arm_timer(s);
      }
      break;
    }
    case EIO_MESSAGE:
      if (pkt.binary) {
        if (s->bin_skip > 0) s->bin_skip--;
        break;
      }
      if (s->state == S_JOINING || s->state == S_CONNECTED) handle_sio(s, pkt.data.ptr, pkt.data.len, 0);
      break;
    case EIO_CLOSE:
      end_link(s, 0, SIOC_REASON_SERVER, 1);
      break;
    default: /* pong, upgrade, noop */
      break;
  }
}

/* ---- ws callbacks ----------------------------------------------------------------------- */

static void on_ws_message(ws_t *ws, int opcode, const char *data, size_t len) {
  sioc_t *s = ws_data(ws);
  if (s->state == S_CLOSING || s->freeing) return;
  if (opcode == WS_BINARY) {
    if (s->bin_skip > 0) {
      s->bin_skip--;
      return;
    }
    end_link(s, KDS_EPROTO, SIOC_REASON_PARSE, 0);
    return;
  }
  handle_eio(s, data, len);
}

static void on_ws_close(ws_t *ws, const ws_close_info *info) {
  sioc_t *s = ws_data(ws);
  s->ws = NULL;
  /* Refused by us: a frame over max_message, bad UTF-8, a bad frame, or a packet we could
   * not parse (end_link aborts with KDS_EPROTO). The server keeps that event in the
   * session and would replay it on every recovery: the next connect must not recover. */
  if (info->err == KDS_ETOOBIG || info->err == KDS_EINVAL || info->err == KDS_EPROTO) s->no_recover = 1;
  if (!s->end_reason) {
    s->end_err = info->err;
    s->end_reason = SIOC_REASON_TRANSPORT_CLOSE;
  }
  finalize(s);
}

static const ws_callbacks sioc_ws_cb = {on_ws_message, on_ws_close, NULL};

static void on_ws_connected(void *ud, int status, ws_t *ws, int http_status) {
  sioc_t *s = ud;
  s->conn = NULL;
  if (status < 0) {
    if (!s->end_reason) {
      s->end_err = status;
      s->end_reason = SIOC_REASON_TRANSPORT_ERROR;
    }
    finalize(s);
    return;
  }
  s->ws = ws;
  if (s->state == S_CLOSING || s->freeing) { /* given up meanwhile */
    ws_abort(ws, 0);
    return;
  }
  s->state = S_OPENING;
}

/* ---- timer ---------------------------------------------------------------------------------- */

static void on_timer(uv_timer_t *t) {
  sioc_t *s = t->data;
  uint64_t now = uv_now(s->loop);
  kds_list *i, *next;
  if (s->state != S_IDLE && s->state != S_CLOSING) {
    if (s->state != S_CONNECTED && now >= s->connect_deadline) {
      end_link(s, UV_ETIMEDOUT, SIOC_REASON_TRANSPORT_ERROR, 0);
      return;
    }
    if (s->ping_deadline && now >= s->ping_deadline) {
      end_link(s, UV_ETIMEDOUT, SIOC_REASON_PING, 0);
      return;
    }
  }
  for (i = s->acks.next; i != &s->acks; i = next) {
    sioc_ack_req *a = kds_container_of(i, sioc_ack_req, node);
    next = i->next;
    if (a->deadline > now) continue;
    kds_list_remove(&a->node);
    a->cb(a->ud, UV_ETIMEDOUT, NULL, 0);
    free(a);
    next = s->acks.next; /* the callback may have changed the list */
  }
  arm_timer(s);
}

static void arm_timer(sioc_t *s) {
  uint64_t now, next = UINT64_MAX;
  kds_list *i;
  if (s->timer_closed || s->freeing) return;
  if (s->state != S_IDLE && s->state != S_CLOSING) {
    if (s->state != S_CONNECTED) next = s->connect_deadline;
    if (s->ping_deadline && s->ping_deadline < next) next = s->ping_deadline;
  }
  for (i = s->acks.next; i != &s->acks; i = i->next) {
    sioc_ack_req *a = kds_container_of(i, sioc_ack_req, node);
    if (a->deadline < next) next = a->deadline;
  }
  if (next == UINT64_MAX) {
    uv_timer_stop(&s->timer);
    return;
  }
  now = uv_now(s->loop);
  uv_timer_start(&s->timer, on_timer, next > now ? next - now : 0, 0);
}

/* ---- lifecycle --------------------------------------------------------------------------- */

static void end_link(sioc_t *s, int err, const char *reason, int graceful) {
  if (s->state == S_IDLE || s->state == S_CLOSING) return;
  if (!s->end_reason) {
    s->end_err = err;
    s->end_reason = reason;
  }
  s->state = S_CLOSING;
  s->ping_deadline = 0;
  if (s->conn) ws_connect_cancel(s->conn);
  if (s->ws) {
    if (graceful)
      ws_close(s->ws, WS_CLOSE_NORMAL, NULL);
    else
      ws_abort(s->ws, err ? err : KDS_ECLOSED);
  }
  arm_timer(s);
}

sioc_t *sioc_new(ws_hub_t *hub, const sioc_callbacks *cb, void *data) {
  sioc_t *s;
  if (!hub || !cb || !cb->on_disconnect) return NULL;
  s = calloc(1, sizeof(*s));
  if (!s) return NULL;
  s->hub = hub;
  s->loop = ws_hub_loop(hub);
  s->cb = cb;
  s->data = data;
  kds_list_init(&s->acks);
  kds_list_init(&s->early);
  uv_timer_init(s->loop, &s->timer);
  s->timer.data = s;
  return s;
}

/* Copies the strings of opts into one allocation. */
static int keep_opts(sioc_t *s, const sioc_opts *o) {
  const char *src[5] = {o->host, o->path ? o->path : "/socket.io/", o->nsp ? o->nsp : "/", o->auth,
                        o->extra_headers};
  const char **dst[5] = {&s->host, &s->path, &s->nsp, &s->auth, &s->headers};
  size_t total = 0, off = 0;
  char *p;
  for (int i = 0; i < 5; i++) total += src[i] ? strlen(src[i]) + 1 : 0;
  p = malloc(total ? total : 1);
  if (!p) return KDS_ENOMEM;
  free(s->strs);
  s->strs = p;
  for (int i = 0; i < 5; i++) {
    if (!src[i]) {
      *dst[i] = NULL;
      continue;
    }
    size_t n = strlen(src[i]) + 1;
    memcpy(p + off, src[i], n);
    *dst[i] = p + off;
    off += n;
  }
  return 0;
}

int sioc_connect(sioc_t *s, const sioc_opts *o) {
  ws_connect_opts wo;
  ws_config cfg;
  kds_buf path = KDS_BUF_INIT;
  int rc;
  if (!s || !o || !o->host || o->port <= 0 || o->port > 65535) return KDS_EINVAL;
  if (s->freeing) return KDS_ECLOSED;
  if (s->state != S_IDLE) return KDS_ESTATE;
  if (o->auth && (sio_json_check(o->auth, strlen(o->auth)) < 0 || !strchr(o->auth, '{'))) return KDS_EINVAL;
  if (o->nsp && o->nsp[0] != '/') return KDS_EINVAL;
  if ((rc = keep_opts(s, o)) < 0) return rc;
  if (s->no_recover) { /* see sioc_opts.recover */
    s->pid[0] = s->offset[0] = '\0';
    s->no_recover = 0;
  }
  s->port = o->port;
  s->timeout_ms = o->timeout_ms ? o->timeout_ms : SIOC_DEFAULT_TIMEOUT;
  s->recover = o->recover;
  s->track_offset = o->track_offset || o->recover;
  s->max_message = o->max_message;

  rc = kds_buf_addf(&path, "%s%sEIO=4&transport=websocket", s->path, strchr(s->path, '?') ? "&" : "?");
  if (rc < 0) return KDS_ENOMEM;
  memset(&wo, 0, sizeof(wo));
  wo.host = s->host;
  wo.port = s->port;
  wo.path = path.base;
  wo.extra_headers = s->headers;
  wo.timeout_ms = s->timeout_ms;
  wo.tls = o->tls;
  memset(&cfg, 0, sizeof(cfg));
  cfg.role = WS_ROLE_CLIENT;
  cfg.hub = s->hub;
  cfg.cb = &sioc_ws_cb;
  cfg.data = s;
  cfg.max_message = s->max_message;
  rc = ws_connect(&s->conn, &wo, &cfg, on_ws_connected, s);
  kds_buf_release(&path);
  if (rc < 0) return rc;
  s->state = S_CONNECTING;
  s->end_err = 0;
  s->end_reason = NULL;
  s->sid[0] = '\0';
  s->connect_deadline = uv_now(s->loop) + s->timeout_ms;
  s->ping_deadline = 0;
  arm_timer(s);
  return 0;
}

int sioc_connected(const sioc_t *s) {
  return s && s->state == S_CONNECTED;
}

int sioc_emit(sioc_t *s, const char *event, const char *args, size_t args_len, sioc_ack_cb cb, void *ud,
              unsigned timeout_ms) {
  kds_buf b = KDS_BUF_INIT;
  sioc_ack_req *a = NULL;
  int rc;
  if (!s || !event || (args_len && !args)) return KDS_EINVAL;
  if (s->state != S_CONNECTED || !s->ws) return KDS_ECLOSED;
  if (cb) {
    a = malloc(sizeof(*a));
    if (!a) return KDS_ENOMEM;
    a->id = s->next_ack_id;
    a->cb = cb;
    a->ud = ud;
    a->deadline = uv_now(s->loop) + (timeout_ms ? timeout_ms : SIOC_DEFAULT_ACK_TIMEOUT);
  }
  rc = kds_buf_addc(&b, '4');
  if (rc == 0)
    rc = sio_event_encode(&b, nsp_is_default(s) ? NULL : s->nsp, a ? a->id : -1, event, args, args_len, 0);
  if (rc == 0) rc = send_text(s, &b);
  kds_buf_release(&b);
  if (rc < 0) {
    free(a);
    return rc;
  }
  if (a) {
    s->next_ack_id++;
    kds_list_push(&s->acks, &a->node);
    arm_timer(s);
  }
  return 0;
}

int sioc_ack(sioc_t *s, int64_t ack_id, const char *args, size_t args_len) {
  kds_buf b = KDS_BUF_INIT;
  int rc;
  if (!s || ack_id < 0 || (args_len && !args)) return KDS_EINVAL;
  if (s->state != S_CONNECTED || !s->ws) return KDS_ECLOSED;
  rc = kds_buf_addc(&b, '4');
  if (rc == 0) rc = sio_ack_encode(&b, nsp_is_default(s) ? NULL : s->nsp, ack_id, args, args_len, 0);
  if (rc == 0) rc = send_text(s, &b);
  kds_buf_release(&b);
  return rc;
}

void sioc_disconnect(sioc_t *s) {
  if (!s || s->state == S_IDLE || s->state == S_CLOSING) return;
  if (s->state == S_CONNECTED || s->state == S_JOINING) {
    kds_buf b = KDS_BUF_INIT;
    if (kds_buf_adds(&b, "41") == 0 && (nsp_is_default(s) || kds_buf_addf(&b, "%s,", s->nsp) == 0))
      send_text(s, &b);
    kds_buf_release(&b);
  }
  end_link(s, 0, SIOC_REASON_CLIENT, 1);
}

static void on_timer_close(uv_handle_t *h) {
  sioc_t *s = h->data;
  s->timer_closed = 1;
  maybe_free(s);
}

void sioc_free(sioc_t *s) {
  if (!s || s->freeing) return;
  if (s->state != S_IDLE && s->state != S_CLOSING) end_link(s, 0, SIOC_REASON_CLIENT, 0);
  s->freeing = 1;
  if (s->ws) ws_abort(s->ws, 0);
  uv_close((uv_handle_t *)&s->timer, on_timer_close);
}

void *sioc_data(const sioc_t *s) {
  return s->data;
}

const char *sioc_sid(const sioc_t *s) {
  return s->sid;
}

const char *sioc_pid(const sioc_t *s) {
  return s->pid;
}

const char *sioc_offset(const sioc_t *s) {
  return s->offset;
}
