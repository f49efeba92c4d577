/* redis_adapter.c: the classic @socket.io/redis-adapter wire format over two hiredis 0.14.1
 * async connections on the server's libuv loop (see redis_adapter.h). Each connection is an
 * rconn with one timer: while connecting it is our connect timeout (the libuv adapter of
 * 0.14.1 swallows poll errors, so a refused connect never calls back), while idle it is the
 * reconnect delay (exponential backoff with jitter). A connection counts as up only once
 * Redis has answered on it (PING for the publisher, the PSUBSCRIBE confirmation for the
 * subscriber), so a server that accepts TCP but does not speak is caught by the timeout too.
 *
 * hiredis frees a context itself after its disconnect callback and after a failed connect
 * callback; we free it ourselves only on our timeout and on close. Either way rc->ac is
 * cleared first, and every callback checks that its context is still rc->ac: replies that
 * hiredis flushes with NULL while freeing are then ignored. */
#include "redis_adapter.h"

#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include <cjson/cJSON.h>

#include "broadcast.h"
#include "err.h"
#include "json.h"
#include "list.h"
#include "log.h"
#include "metrics.h"
#include "realtime.h"
#include "redis_msg.h"
#include "server.h"
#include "sio.h"
#include "sio_server.h"

#define CONNECT_TIMEOUT_MS 2000 /* TCP connect + AUTH + the first answer */
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000
#define MAX_INFLIGHT 10000             /* PUBLISHes sent and not answered yet */
#define MAX_INFLIGHT_BYTES (64u << 20) /* and their bytes: Redis stalled, not our memory */
#define DEFAULT_MAX_MESSAGE 1000000    /* a received message, when --max-payload is unset */

typedef enum rconn_state { RC_IDLE, RC_CONNECTING, RC_READY } rconn_state;

typedef struct rconn {
  redis_adapter_t *ra;
  const char *name; /* "subscriber" / "publisher", for the log */
  int is_sub;
  redisAsyncContext *ac; /* NULL while idle */
  rconn_state state;
  uv_timer_t timer;  /* connect timeout (CONNECTING) or reconnect delay (IDLE) */
  uint64_t backoff;  /* ms before the next attempt */
  unsigned failures; /* attempts failed since it was last up (the log says the 1st, 2nd, 4th, ...) */
  int ever_ready;
  uint64_t lost_at; /* uv_now when an up subscriber was lost, 0 = no gap open */
} rconn;

struct redis_adapter {
  server_t *srv;
  redis_url url;
  char uid[17];
  char prefix[300]; /* "<key>#/#": the broadcast channel, and the start of every room one */
  size_t prefix_len;
  char pattern[302];      /* prefix + "*" */
  char req_channel[320];  /* "<key>-request#/#": other nodes' questions (SCALEOUT 1.4) */
  char resp_channel[320]; /* "<key>-response#/#": our answers */
  kds_list acks;          /* ack_wait.link: clients' acks owed to a type-7 request */
  broadcast inner;        /* what was installed before us: local delivery */
  rconn sub, pub;
  size_t max_message;
  size_t inflight, inflight_bytes;
  kds_buf enc;
  redis_msg msg;
  uint64_t drop_log_at, drops_unlogged; /* one log line a second at most */
  uint64_t pubfail_log_at, pubfails_unlogged;
  int timers_open;
  int closing;
};

static const char *ac_error(const redisAsyncContext *ac) {
  return ac && ac->errstr[0] ? ac->errstr : "connection closed";
}

/* ---- the URL --------------------------------------------------------------------------------- */

static int url_fail(char *err, size_t errlen, const char *why) {
  snprintf(err, errlen, "--redis: %s (expected redis://[[user]:password@]host[:port][/db])", why);
  return KDS_EINVAL;
}

static int copy_part(char *dst, size_t cap, const char *s, size_t n) {
  if (n >= cap) return KDS_EINVAL;
  memcpy(dst, s, n);
  dst[n] = '\0';
  return 0;
}

static int parse_uint(const char *s, size_t n, long max, long *out) {
  long v = 0;
  if (n == 0 || n > 9) return KDS_EINVAL;
  for (size_t i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9') return KDS_EINVAL;
    v = v * 10 + (s[i] - '0');
  }
  if (v > max) return KDS_EINVAL;
  *out = v;
  return 0;
}

int redis_url_parse(const char *url, redis_url *out, char *err, size_t errlen) {
  const char *p, *at, *end, *colon, *slash;
  long v;
  memset(out, 0, sizeof(*out));
  out->port = 6379;
  if (url == NULL || strncmp(url, "redis://", 8) != 0) return url_fail(err, errlen, "not a redis:// URL");
  p = url + 8;
  end = p + strlen(p);
  slash = memchr(p, '/', (size_t)(end - p));
  if (slash == NULL) slash = end;
  /* userinfo: the last '@' before the path (a password may hold '@') */
  at = NULL;
  for (const char *q = p; q < slash; q++)
    if (*q == '@') at = q;
  if (at) {
    const char *c = memchr(p, ':', (size_t)(at - p));
    if (c == NULL) return url_fail(err, errlen, "user without a password");
    if (copy_part(out->user, sizeof(out->user), p, (size_t)(c - p)) != 0 ||
        copy_part(out->password, sizeof(out->password), c + 1, (size_t)(at - c - 1)) != 0)
      return url_fail(err, errlen, "user or password too long");
    p = at + 1;
  }
  colon = memchr(p, ':', (size_t)(slash - p));
  if (copy_part(out->host, sizeof(out->host), p, (size_t)((colon ? colon : slash) - p)) != 0 ||
      out->host[0] == '\0')
    return url_fail(err, errlen, "no host");
  if (colon) {
    if (parse_uint(colon + 1, (size_t)(slash - colon - 1), 65535, &v) != 0 || v == 0)
      return url_fail(err, errlen, "bad port");
    out->port = (int)v;
  }
  if (slash < end && slash + 1 < end) {
    if (parse_uint(slash + 1, (size_t)(end - slash - 1), 1000000, &v) != 0)
      return url_fail(err, errlen, "bad database number");
    out->db = (int)v;
  }
  return 0;
}

/* ---- drops and failures: counted always, logged once a second ---------------------------------- */

static int log_due(redis_adapter_t *ra, uint64_t *at) {
  uint64_t now = uv_now(ra->srv->loop);
  if (*at != 0 && now - *at < 1000) return 0;
  *at = now ? now : 1;
  return 1;
}

static void drop(redis_adapter_t *ra, const char *chan, size_t chlen, size_t len, const char *why) {
  char name[121];
  size_t n = 0;
  metrics_inc(ra->srv, METRICS_REDIS_DROPPED);
  if (!log_due(ra, &ra->drop_log_at)) {
    ra->drops_unlogged++;
    return;
  }
  /* Whoever can PUBLISH chooses the channel name: printable ASCII only into the log. */
  for (; n < chlen && n < sizeof(name) - 1; n++) name[n] = chan[n] >= 0x20 && chan[n] < 0x7f ? chan[n] : '?';
  name[n] = '\0';
  log_warn("redis: dropped a message on %s%s (%zu bytes): %s%s", name, chlen > n ? "..." : "", len, why,
           ra->drops_unlogged ? " (and others since the last line)" : "");
  ra->drops_unlogged = 0;
}

static void publish_failed(redis_adapter_t *ra, const char *why) {
  if (ra->closing) return;
  metrics_inc(ra->srv, METRICS_REDIS_PUBLISH_FAILURES);
  if (!log_due(ra, &ra->pubfail_log_at)) {
    ra->pubfails_unlogged++;
    return;
  }
  log_warn("redis: a broadcast was not sent to the other servers: %s%s", why,
           ra->pubfails_unlogged ? " (and others since the last line)" : "");
  ra->pubfails_unlogged = 0;
}

/* ---- connections --------------------------------------------------------------------------------- */

static void rconn_connect(rconn *rc);

static void on_retry(uv_timer_t *t) {
  rconn *rc = t->data;
  if (!rc->ra->closing && rc->state == RC_IDLE) rconn_connect(rc);
}

/* The attempt failed or the connection went: try again after the backoff (+-25% jitter,
 * so that a fleet of servers does not reconnect in step). */
static void rconn_retry(rconn *rc, const char *why) {
  uint64_t delay = rc->backoff, jitter = delay / 2;
  rc->state = RC_IDLE;
  if (rc->ra->closing) return;
  rc->failures++;
  if ((rc->failures & (rc->failures - 1)) == 0)
    log_warn("redis: %s to %s:%d not up (%s): attempt %u, retrying in %" PRIu64 " ms", rc->name,
             rc->ra->url.host, rc->ra->url.port, why, rc->failures, delay);
  if (jitter) delay = delay - jitter / 2 + (uv_hrtime() % jitter);
  rc->backoff = rc->backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : rc->backoff * 2;
  uv_timer_start(&rc->timer, on_retry, delay, 0);
}

static void rconn_ready(rconn *rc) {
  redis_adapter_t *ra = rc->ra;
  uv_timer_stop(&rc->timer);
  rc->state = RC_READY;
  rc->backoff = BACKOFF_MIN_MS;
  rc->failures = 0;
  if (rc->is_sub) {
    metrics_gauge_add(ra->srv, METRICS_G_REDIS_SUBSCRIBED, 1);
    if (rc->lost_at)
      log_info("redis: subscribed again to %s after a gap of %" PRIu64 " ms", ra->pattern,
               uv_now(ra->srv->loop) - rc->lost_at);
    else if (!rc->ever_ready)
      log_info("redis: subscribed to %s on %s:%d (uid %s)", ra->pattern, ra->url.host, ra->url.port, ra->uid);
    rc->lost_at = 0;
  } else if (!rc->ever_ready) {
    log_info("redis: publishing to %s:%d", ra->url.host, ra->url.port);
  } else {
    log_info("redis: publisher connected again");
  }
  rc->ever_ready = 1;
}

/* An up connection went away. For the subscriber that opens a gap: whatever the other
 * servers publish until it is back is lost here (classic pub/sub keeps nothing). */
static void rconn_lost(rconn *rc, const char *why) {
  redis_adapter_t *ra = rc->ra;
  if (rc->is_sub) {
    metrics_gauge_add(ra->srv, METRICS_G_REDIS_SUBSCRIBED, -1);
    metrics_inc(ra->srv, METRICS_REDIS_GAPS);
    rc->lost_at = uv_now(ra->srv->loop);
    if (rc->lost_at == 0) rc->lost_at = 1;
    log_warn(
        "redis: subscription lost (%s): broadcasts from other servers are missed until it is back "
        "(screens here see those orders at their next REST load)",
        why);
  } else {
    log_warn(
        "redis: publisher connection lost (%s): broadcasts reach this server's screens only until it is "
        "back",
        why);
  }
}

static void on_disconnect(const redisAsyncContext *ac, int status) {
  rconn *rc = ac->data;
  int was_ready;
  (void)status;
  if (rc == NULL || rc->ac != ac) return; /* one we freed ourselves */
  rc->ac = NULL;                          /* hiredis frees it after this returns */
  was_ready = rc->state == RC_READY;
  rc->state = RC_IDLE;
  if (rc->ra->closing) return;
  uv_timer_stop(&rc->timer);
  if (was_ready) rconn_lost(rc, ac_error(ac));
  rconn_retry(rc, ac_error(ac));
}

static void on_connect(const redisAsyncContext *ac, int status) {
  rconn *rc = ac->data;
  if (rc == NULL || rc->ac != ac || status == REDIS_OK) return; /* up once Redis answers */
  rc->ac = NULL; /* a failed connect: hiredis frees the context after this returns */
  if (rc->ra->closing) return;
  uv_timer_stop(&rc->timer);
  rconn_retry(rc, ac_error(ac));
}

/* Our connect timeout: the connect never finished, or Redis never answered. */
static void on_connect_timeout(uv_timer_t *t) {
  rconn *rc = t->data;
  redisAsyncContext *ac = rc->ac;
  if (rc->state != RC_CONNECTING) return;
  rc->ac = NULL;
  rc->state = RC_IDLE;
  if (ac) redisAsyncFree(ac); /* flushes its callbacks with NULL: ignored (rc->ac != ac) */
  rconn_retry(rc, "timed out");
}

static void on_message(redis_adapter_t *ra, const char *chan, size_t chlen, const char *p, size_t len);
static void on_request(redis_adapter_t *ra, const char *p, size_t len);

/* ---- hiredis on our loop ---------------------------------------------------------------------------
 * Our own glue instead of hiredis/adapters/libuv.h, for two reasons. 0.14.1's returns on a
 * poll error, so a refused connect is never reported (the poll is stopped with UV_EBADF);
 * here hiredis gets to look at the socket and calls on_connect with the error. And a reply
 * is buffered whole before hiredis hands it over (0.14.1 has no limit): after each read the
 * subscriber's unparsed bytes are checked, and a message past max_message ends the
 * connection instead of growing the buffer to its size (a counted drop and a gap; what
 * Redis's own pubsub output limit does to a slow subscriber). */

typedef struct rpoll {
  uv_poll_t handle;
  redisAsyncContext *ac; /* NULL once hiredis has let go (cleanup) */
  rconn *rc;
  int events;
} rpoll;

static void on_rpoll_closed(uv_handle_t *h) {
  free(h->data);
}

static void rconn_drop_oversized(rconn *rc, size_t buffered);

static void on_rpoll(uv_poll_t *h, int status, int events) {
  rpoll *p = h->data;
  if (p->ac == NULL) return;
  if (status < 0) {
    /* Let hiredis find the socket's error: a connect in progress reads it on write. */
    if (p->ac->c.flags & REDIS_CONNECTED)
      redisAsyncHandleRead(p->ac);
    else
      redisAsyncHandleWrite(p->ac);
    return;
  }
  if (events & UV_READABLE) redisAsyncHandleRead(p->ac);
  if (p->ac && (events & UV_WRITABLE)) redisAsyncHandleWrite(p->ac);
  if (p->ac && p->rc->is_sub && p->ac->c.reader) {
    const redisReader *r = p->ac->c.reader;
    size_t buffered = r->len - r->pos;
    if (buffered > p->rc->ra->max_message + 4096) rconn_drop_oversized(p->rc, buffered);
  }
}

static void rpoll_update(rpoll *p) {
  if (p->events)
    uv_poll_start(&p->handle, p->events, on_rpoll);
  else
    uv_poll_stop(&p->handle);
}

static void rpoll_add_read(void *d) {
  rpoll *p = d;
  p->events |= UV_READABLE;
  rpoll_update(p);
}

static void rpoll_del_read(void *d) {
  rpoll *p = d;
  p->events &= ~UV_READABLE;
  rpoll_update(p);
}

static void rpoll_add_write(void *d) {
  rpoll *p = d;
  p->events |= UV_WRITABLE;
  rpoll_update(p);
}

static void rpoll_del_write(void *d) {
  rpoll *p = d;
  p->events &= ~UV_WRITABLE;
  rpoll_update(p);
}

static void rpoll_cleanup(void *d) {
  rpoll *p = d;
  p->ac = NULL;
  uv_close((uv_handle_t *)&p->handle, on_rpoll_closed);
}

static int rpoll_attach(rconn *rc, redisAsyncContext *ac) {
  rpoll *p = calloc(1, sizeof(*p));
  if (p == NULL) return KDS_ENOMEM;
  if (uv_poll_init(rc->ra->srv->loop, &p->handle, ac->c.fd) != 0) {
    free(p);
    return KDS_EINVAL;
  }
  p->handle.data = p;
  p->ac = ac;
  p->rc = rc;
  ac->ev.data = p;
  ac->ev.addRead = rpoll_add_read;
  ac->ev.delRead = rpoll_del_read;
  ac->ev.addWrite = rpoll_add_write;
  ac->ev.delWrite = rpoll_del_write;
  ac->ev.cleanup = rpoll_cleanup;
  return 0;
}

/* Replies on the subscriber: the PSUBSCRIBE confirmation, then every pmessage. */
/* The subscriber has buffered more of one reply than any message may have. */
static void rconn_drop_oversized(rconn *rc, size_t buffered) {
  redis_adapter_t *ra = rc->ra;
  redisAsyncContext *ac = rc->ac;
  int was_ready = rc->state == RC_READY;
  drop(ra, ra->prefix, ra->prefix_len, buffered,
       "over the size limit (still arriving: the connection is dropped)");
  uv_timer_stop(&rc->timer);
  rc->ac = NULL;
  rc->state = RC_IDLE;
  if (ac) redisAsyncFree(ac);
  if (was_ready) rconn_lost(rc, "a message over the size limit");
  rconn_retry(rc, "a message over the size limit");
}

static void on_sub_reply(redisAsyncContext *ac, void *r, void *priv) {
  rconn *rc = priv;
  redisReply *reply = r;
  if (reply == NULL || rc->ac != ac || rc->ra->closing) return;
  if (reply->type == REDIS_REPLY_ERROR) {
    log_error("redis: PSUBSCRIBE refused: %s", reply->str);
    redisAsyncDisconnect(ac); /* on_disconnect: retried later */
    return;
  }
  if (reply->type != REDIS_REPLY_ARRAY || reply->elements < 3 ||
      reply->element[0]->type != REDIS_REPLY_STRING)
    return;
  if (strcmp(reply->element[0]->str, "psubscribe") == 0) {
    if (rc->state == RC_CONNECTING) rconn_ready(rc);
  } else if (strcmp(reply->element[0]->str, "message") == 0 && reply->elements == 3 &&
             reply->element[2]->type == REDIS_REPLY_STRING) {
    on_request(rc->ra, reply->element[2]->str, reply->element[2]->len);
  } else if (strcmp(reply->element[0]->str, "pmessage") == 0 && reply->elements == 4 &&
             reply->element[2]->type == REDIS_REPLY_STRING && reply->element[3]->type == REDIS_REPLY_STRING) {
    on_message(rc->ra, reply->element[2]->str, reply->element[2]->len, reply->element[3]->str,
               reply->element[3]->len);
  }
}

static void on_pub_ping(redisAsyncContext *ac, void *r, void *priv) {
  rconn *rc = priv;
  redisReply *reply = r;
  if (reply == NULL || rc->ac != ac || rc->ra->closing) return;
  if (reply->type == REDIS_REPLY_ERROR) {
    log_error("redis: PING refused: %s", reply->str);
    redisAsyncDisconnect(ac);
    return;
  }
  if (rc->state == RC_CONNECTING) rconn_ready(rc);
}

/* After AUTH (or at once without a password): the subscriber subscribes, the publisher pings. */
static int rconn_begin(rconn *rc) {
  redis_adapter_t *ra = rc->ra;
  if (rc->is_sub)
    return redisAsyncCommand(rc->ac, on_sub_reply, rc, "PSUBSCRIBE %s", ra->pattern) == REDIS_OK &&
                   redisAsyncCommand(rc->ac, on_sub_reply, rc, "SUBSCRIBE %s", ra->req_channel) == REDIS_OK
               ? REDIS_OK
               : REDIS_ERR;
  return redisAsyncCommand(rc->ac, on_pub_ping, rc, "PING");
}

static void on_auth(redisAsyncContext *ac, void *r, void *priv) {
  rconn *rc = priv;
  redisReply *reply = r;
  if (reply == NULL || rc->ac != ac || rc->ra->closing) return;
  if (reply->type == REDIS_REPLY_ERROR) {
    log_error("redis: AUTH refused: %s", reply->str);
    redisAsyncDisconnect(ac);
    return;
  }
  /* Only now: in subscribed mode hiredis 0.14.1 could not route an error to PSUBSCRIBE. */
  if (rconn_begin(rc) != REDIS_OK) redisAsyncDisconnect(ac);
}

static void rconn_connect(rconn *rc) {
  redis_adapter_t *ra = rc->ra;
  redisAsyncContext *ac = redisAsyncConnect(ra->url.host, ra->url.port);
  int rc2;
  if (ac == NULL || ac->err) {
    char why[128];
    snprintf(why, sizeof(why), "%s", ac ? ac->errstr : "out of memory");
    if (ac) redisAsyncFree(ac);
    rconn_retry(rc, why);
    return;
  }
  if (rpoll_attach(rc, ac) != 0) {
    redisAsyncFree(ac);
    rconn_retry(rc, "cannot watch its socket");
    return;
  }
  ac->data = rc;
  redisAsyncSetConnectCallback(ac, on_connect);
  redisAsyncSetDisconnectCallback(ac, on_disconnect);
  redisEnableKeepAlive(&ac->c); /* a dead peer is noticed even when nothing is published */
  rc->ac = ac;
  rc->state = RC_CONNECTING;
  if (ra->url.password[0] && ra->url.user[0])
    rc2 = redisAsyncCommand(ac, on_auth, rc, "AUTH %s %b", ra->url.user, ra->url.password,
                            strlen(ra->url.password));
  else if (ra->url.password[0])
    rc2 = redisAsyncCommand(ac, on_auth, rc, "AUTH %b", ra->url.password, strlen(ra->url.password));
  else
    rc2 = rconn_begin(rc);
  uv_timer_start(&rc->timer, on_connect_timeout, CONNECT_TIMEOUT_MS, 0);
  if (rc2 != REDIS_OK) redisAsyncDisconnect(ac);
}

/* ---- receiving --------------------------------------------------------------------------------- */

static void on_message(redis_adapter_t *ra, const char *chan, size_t chlen, const char *p, size_t len) {
  redis_msg *m = &ra->msg;
  ssize_t n;
  int rc;
  if (chlen < ra->prefix_len || memcmp(chan, ra->prefix, ra->prefix_len) != 0) return; /* not our pattern */
  if (chlen > ra->prefix_len) {
    /* `<key>#/#<room>#`: a broadcast to one room. No local socket in it, nothing to do, and
     * nothing to decode (the adapter's own shortcut). */
    char room[REDIS_MSG_ROOM_MAX + 1];
    size_t rlen = chlen - ra->prefix_len - 1;
    if (chan[chlen - 1] != '#' || rlen > REDIS_MSG_ROOM_MAX) {
      drop(ra, chan, chlen, len, "not a room channel");
      return;
    }
    memcpy(room, chan + ra->prefix_len, rlen);
    room[rlen] = '\0';
    if (len <= ra->max_message && realtime_room_size(ra->srv->rt, room) == 0) return;
  }
  if (len > ra->max_message) {
    drop(ra, chan, chlen, len, "over the size limit");
    return;
  }
  if ((rc = redis_msg_decode(m, p, len)) != 0) {
    drop(ra, chan, chlen, len,
         rc == KDS_EPROTO    ? "not msgpack"
         : rc == KDS_ETOOBIG ? "over a limit (nesting, rooms, names)"
         : rc == KDS_EINVAL  ? "not a classic-adapter broadcast this server can deliver (shape, binary, type)"
                             : kds_strerror(rc));
    return;
  }
  if (strcmp(m->uid.base, ra->uid) == 0) return; /* our own, delivered locally already */
  if (strcmp(m->nsp.base, "/") != 0) return;     /* another namespace: not served here */
  n = realtime_deliver(ra->srv->rt, m->rooms, m->nrooms, m->except, m->nexcept, m->event.base, m->args.base,
                       m->args.len, (m->flags & REDIS_MSG_VOLATILE) != 0);
  if (n < 0 && n != KDS_ECLOSED) {
    drop(ra, chan, chlen, len, kds_strerror((int)n));
    return;
  }
  metrics_inc(ra->srv, METRICS_REDIS_RECEIVED);
}

/* ---- requests from other nodes (SCALEOUT 1.4) -------------------------------------------------------
 * Subscribing to the request channel makes Redis count us as a node, so every request a
 * Node node waits on is answered: 0 SOCKETS, 1 ALL_ROOMS, 5 REMOTE_FETCH (our sockets, their
 * rooms, a handshake without headers or auth: a token never leaves this process), 6
 * SERVER_SIDE_EMIT with an ack (null: this server has no server-side listeners), 7 BROADCAST
 * with acks (delivered, 8 with our client count, then 9 per client ack). 2, 3, 4
 * (socketsJoin/Leave, disconnectSockets) expect no answer and are not applied: rooms here
 * come from tokens only (SPEC 4). */

static void on_published(redisAsyncContext *ac, void *r, void *priv);

static void respond(redis_adapter_t *ra, const char *p, size_t len) {
  if (ra->pub.state != RC_READY || ra->pub.ac == NULL) {
    publish_failed(ra, "Redis is not connected (an answer to another node)");
    return;
  }
  /* the same bound as our broadcasts: a request flood (each answer can echo a 1 MB
   * requestId) against a stalled Redis must not grow hiredis's buffer without end */
  if (ra->inflight >= MAX_INFLIGHT || ra->inflight_bytes >= MAX_INFLIGHT_BYTES) {
    publish_failed(ra, "Redis is not keeping up (too many PUBLISHes unanswered; an answer to another node)");
    return;
  }
  if (redisAsyncCommand(ra->pub.ac, on_published, (void *)(uintptr_t)len, "PUBLISH %s %b", ra->resp_channel,
                        p, len) != REDIS_OK) {
    publish_failed(ra, "hiredis refused the command");
    return;
  }
  ra->inflight++;
  ra->inflight_bytes += len;
}

static int add_str(kds_buf *b, const char *s) {
  return json_quote(b, s, strlen(s), JSON_UTF8_REPLACE);
}

/* The NUL-separated names in `names` as a JSON array of strings. */
static int add_names(kds_buf *b, const kds_buf *names) {
  int rc = kds_buf_addc(b, '[');
  for (size_t at = 0, i = 0; rc == 0 && at < names->len; i++) {
    const char *n = names->base + at;
    if (i) rc = kds_buf_addc(b, ',');
    if (rc == 0) rc = add_str(b, n);
    at += strlen(n) + 1;
  }
  return rc ? rc : kds_buf_addc(b, ']');
}

typedef struct select_ctx {
  kds_buf *out;
  int detail; /* 5: {id, handshake, rooms, data}; 0: the id alone */
  int n;
  int rc;
} select_ctx;

static int add_socket(sio_socket_t *s, void *ud) {
  select_ctx *cx = ud;
  kds_buf rooms = KDS_BUF_INIT;
  kds_buf *b = cx->out;
  int rc = cx->n++ ? kds_buf_addc(b, ',') : 0;
  if (rc == 0 && cx->detail) rc = kds_buf_adds(b, "{\"id\":");
  if (rc == 0) rc = add_str(b, sio_socket_id(s));
  if (rc == 0 && cx->detail) {
    rc = kds_buf_adds(b, ",\"handshake\":{\"headers\":{},\"time\":\"\",\"address\":");
    if (rc == 0) rc = add_str(b, sio_socket_peer(s));
    if (rc == 0)
      rc = kds_buf_adds(
          b,
          ",\"xdomain\":false,\"secure\":false,\"issued\":0,\"url\":\"/socket.io/\",\"query\":{},\"auth\":{}}"
          ",\"rooms\":");
    if (rc == 0) rc = sio_socket_rooms(s, &rooms);
    if (rc == 0) rc = add_names(b, &rooms);
    if (rc == 0) rc = kds_buf_adds(b, ",\"data\":{}}");
  }
  kds_buf_release(&rooms);
  cx->rc = rc;
  return rc;
}

/* rooms/except of a JSON request as arrays of C strings (pointers into `arr`). Returns how
 * many, or -1 past `max`: a cut except list would answer with sockets the asker excluded
 * (the msgpack requests are refused the same way, KDS_ETOOBIG in redis_msg_decode). */
static ssize_t json_rooms(const cJSON *arr, const char **out, size_t max) {
  size_t n = 0;
  const cJSON *e;
  cJSON_ArrayForEach(e, arr) {
    if (!cJSON_IsString(e)) continue;
    if (n == max) return -1;
    out[n++] = e->valuestring;
  }
  return (ssize_t)n;
}

static void answer_json(redis_adapter_t *ra, const char *p, size_t len) {
  cJSON *req = cJSON_ParseWithLength(p, len);
  const cJSON *uid = cJSON_GetObjectItemCaseSensitive(req, "uid");
  const cJSON *type = cJSON_GetObjectItemCaseSensitive(req, "type");
  const cJSON *id = cJSON_GetObjectItemCaseSensitive(req, "requestId");
  sio_nsp_t *nsp = realtime_nsp(ra->srv->rt);
  kds_buf b = KDS_BUF_INIT, names = KDS_BUF_INIT;
  int rc = 0, t;
  if (!cJSON_IsObject(req) || !cJSON_IsNumber(type)) {
    drop(ra, ra->req_channel, strlen(ra->req_channel), len, "not a request");
    goto out;
  }
  if (cJSON_IsString(uid) && strcmp(uid->valuestring, ra->uid) == 0) goto out; /* ours */
  t = type->valueint;
  if (!cJSON_IsString(id) || nsp == NULL || (t != 0 && t != 1 && t != 5 && t != 6))
    goto out; /* nothing owed */
  if (t == 6) {
    rc = kds_buf_adds(&b, "{\"type\":6,\"requestId\":");
    if (rc == 0) rc = add_str(&b, id->valuestring);
    if (rc == 0) rc = kds_buf_adds(&b, ",\"data\":null}");
  } else if (t == 1) {
    rc = kds_buf_adds(&b, "{\"requestId\":");
    if (rc == 0) rc = add_str(&b, id->valuestring);
    if (rc == 0) rc = kds_buf_adds(&b, ",\"rooms\":");
    if (rc == 0) rc = sio_nsp_rooms(nsp, &names);
    if (rc == 0) rc = add_names(&b, &names);
    if (rc == 0) rc = kds_buf_addc(&b, '}');
  } else {
    const char *rooms[REDIS_MSG_MAX_ROOMS], *except[REDIS_MSG_MAX_ROOMS];
    const cJSON *opts = cJSON_GetObjectItemCaseSensitive(req, "opts");
    const cJSON *from = t == 0 ? req : opts;
    ssize_t nr = json_rooms(cJSON_GetObjectItemCaseSensitive(from, "rooms"), rooms, REDIS_MSG_MAX_ROOMS);
    ssize_t ne = json_rooms(cJSON_GetObjectItemCaseSensitive(from, "except"), except, REDIS_MSG_MAX_ROOMS);
    select_ctx cx = {&b, t == 5, 0, 0};
    if (nr < 0 || ne < 0) {
      drop(ra, ra->req_channel, strlen(ra->req_channel), len, "over a limit (rooms)");
      goto out;
    }
    rc = kds_buf_adds(&b, "{\"requestId\":");
    if (rc == 0) rc = add_str(&b, id->valuestring);
    if (rc == 0) rc = kds_buf_adds(&b, ",\"sockets\":[");
    if (rc == 0 && sio_nsp_select(nsp, rooms, (size_t)nr, except, (size_t)ne, add_socket, &cx) < 0)
      rc = KDS_ENOMEM;
    if (rc == 0) rc = cx.rc;
    if (rc == 0) rc = kds_buf_adds(&b, "]}");
  }
  if (rc == 0)
    respond(ra, b.base, b.len);
  else
    publish_failed(ra, kds_strerror(rc));
out:
  cJSON_Delete(req);
  kds_buf_release(&b);
  kds_buf_release(&names);
}

/* A client's ack owed to a type-7 request: in ra->acks until the ack (or the socket's end). */
typedef struct ack_wait {
  kds_list link;
  redis_adapter_t *ra; /* NULL once the adapter closed */
  char request_id[256];
} ack_wait;

static void on_client_ack(void *ud, int status, const sio_event *ev) {
  ack_wait *w = ud;
  redis_adapter_t *ra = w->ra;
  kds_list_remove(&w->link);
  if (ra && !ra->closing && status == 0 && ev) {
    kds_slice first = {NULL, 0};
    size_t pos = 0;
    kds_buf b = KDS_BUF_INIT;
    if (sio_args_next(ev->args, &pos, &first) != 1) first.len = 0;
    if (redis_msg_encode_ack(&b, w->request_id, first.ptr, first.len) == 0)
      respond(ra, b.base, b.len);
    else
      publish_failed(ra, "a client's ack could not be encoded");
    kds_buf_release(&b);
  }
  free(w);
}

typedef struct ack_ctx {
  redis_adapter_t *ra;
  int n;
} ack_ctx;

static int emit_with_ack(sio_socket_t *s, void *ud) {
  ack_ctx *cx = ud;
  redis_adapter_t *ra = cx->ra;
  redis_msg *m = &ra->msg;
  ack_wait *w = calloc(1, sizeof(*w));
  if (w == NULL) return 0;
  w->ra = ra;
  snprintf(w->request_id, sizeof(w->request_id), "%s", m->request_id.base);
  kds_list_push(&ra->acks, &w->link);
  if (sio_socket_emit(s, m->event.base, m->args.base, m->args.len, NULL, 0, on_client_ack, w) != 0) {
    kds_list_remove(&w->link); /* the callback never runs */
    free(w);
    return 0;
  }
  cx->n++;
  return 0;
}

static void answer_broadcast(redis_adapter_t *ra, const char *p, size_t len) {
  redis_msg *m = &ra->msg;
  sio_nsp_t *nsp = realtime_nsp(ra->srv->rt);
  ack_ctx cx = {ra, 0};
  kds_buf b = KDS_BUF_INIT;
  int rc = redis_msg_decode_request(m, p, len);
  if (rc != 0) {
    drop(ra, ra->req_channel, strlen(ra->req_channel), len,
         rc == KDS_EPROTO ? "not msgpack or JSON" : "not a request this server can answer");
    return;
  }
  if (strcmp(m->uid.base, ra->uid) == 0 || strcmp(m->nsp.base, "/") != 0 || nsp == NULL) return;
  if (sio_nsp_select(nsp, m->rooms, m->nrooms, m->except, m->nexcept, emit_with_ack, &cx) < 0) {
    publish_failed(ra, "out of memory");
    return;
  }
  if (kds_buf_adds(&b, "{\"type\":8,\"requestId\":") == 0 && add_str(&b, m->request_id.base) == 0 &&
      kds_buf_addf(&b, ",\"clientCount\":%d}", cx.n) == 0)
    respond(ra, b.base, b.len);
  kds_buf_release(&b);
}

static void on_request(redis_adapter_t *ra, const char *p, size_t len) {
  if (len > ra->max_message) {
    drop(ra, ra->req_channel, strlen(ra->req_channel), len, "over the size limit");
    return;
  }
  /* JSON for everything but type 7, which carries a packet and so is msgpack */
  if (len > 0 && p[0] == '{')
    answer_json(ra, p, len);
  else
    answer_broadcast(ra, p, len);
}

/* ---- publishing -------------------------------------------------------------------------------- */

static void on_published(redisAsyncContext *ac, void *r, void *priv) {
  rconn *rc = ac->data;
  redisReply *reply = r;
  redis_adapter_t *ra = rc->ra;
  size_t bytes = (size_t)(uintptr_t)priv; /* the PUBLISH's size rides in privdata: no allocation */
  ra->inflight--;
  ra->inflight_bytes -= bytes;
  if (reply == NULL)
    publish_failed(ra, "the connection went before Redis answered");
  else if (reply->type == REDIS_REPLY_ERROR)
    publish_failed(ra, reply->str);
  else
    metrics_inc(ra->srv, METRICS_REDIS_PUBLISHED);
}

static void remote_publish(redis_adapter_t *ra, const char *event, int64_t outlet_id, const char *json,
                           size_t len) {
  char room[48];
  const char *rooms[2] = {room, REALTIME_ALL_OUTLETS};
  int rc;
  if (ra->pub.state != RC_READY || ra->pub.ac == NULL) {
    publish_failed(ra, "Redis is not connected");
    return;
  }
  if (ra->inflight >= MAX_INFLIGHT || ra->inflight_bytes >= MAX_INFLIGHT_BYTES) {
    publish_failed(ra, "Redis is not keeping up (too many PUBLISHes unanswered)");
    return;
  }
  snprintf(room, sizeof(room), REALTIME_OUTLET_ROOM "%" PRId64, outlet_id);
  kds_buf_reset(&ra->enc);
  if ((rc = redis_msg_encode(&ra->enc, ra->uid, "/", event, json, len, rooms, 2, NULL, 0, 0)) != 0) {
    publish_failed(ra, kds_strerror(rc));
    return;
  }
  /* Two rooms: the adapter's rule sends that to the main channel (a room channel only for
   * exactly one room). */
  if (redisAsyncCommand(ra->pub.ac, on_published, (void *)(uintptr_t)ra->enc.len, "PUBLISH %b %b", ra->prefix,
                        ra->prefix_len, ra->enc.base, ra->enc.len) != REDIS_OK) {
    publish_failed(ra, "hiredis refused the command");
    return;
  }
  ra->inflight++;
  ra->inflight_bytes += ra->enc.len;
}

/* broadcast_ops.publish: local delivery first (its result is the caller's), then the other
 * servers. A payload the local side refused (not JSON, shutting down) is not forwarded. */
static ssize_t adapter_publish(void *impl, const char *event, int64_t outlet_id, const char *json,
                               size_t len) {
  redis_adapter_t *ra = impl;
  ssize_t n =
      ra->inner.ops ? ra->inner.ops->publish(ra->inner.impl, event, outlet_id, json, len) : KDS_ECLOSED;
  if (n >= 0 && !ra->closing) remote_publish(ra, event, outlet_id, json, len);
  return n;
}

static const broadcast_ops adapter_ops = {adapter_publish};

/* ---- life ---------------------------------------------------------------------------------------- */

static void rconn_init(redis_adapter_t *ra, rconn *rc, int is_sub) {
  rc->ra = ra;
  rc->is_sub = is_sub;
  rc->name = is_sub ? "subscriber" : "publisher";
  rc->backoff = BACKOFF_MIN_MS;
  uv_timer_init(ra->srv->loop, &rc->timer);
  rc->timer.data = rc;
}

static void on_timer_closed(uv_handle_t *h) {
  rconn *rc = h->data;
  redis_adapter_t *ra = rc->ra;
  if (--ra->timers_open > 0) return;
  kds_buf_release(&ra->enc);
  redis_msg_release(&ra->msg);
  free(ra);
}

int redis_adapter_start(struct server *srv, redis_adapter_t **out) {
  redis_adapter_t *ra;
  unsigned char rnd[8];
  char err[256];
  int n;
  *out = NULL;
  if (srv->bcast.ops == NULL) return KDS_ESTATE;
  if ((ra = calloc(1, sizeof(*ra))) == NULL) return KDS_ENOMEM;
  if (redis_url_parse(srv->cfg.redis_url, &ra->url, err, sizeof(err)) != 0) {
    log_error("%s", err);
    free(ra);
    return KDS_EINVAL;
  }
  n = snprintf(ra->prefix, sizeof(ra->prefix), "%s#/#",
               srv->cfg.redis_key[0] ? srv->cfg.redis_key : "socket.io");
  if (n < 0 || (size_t)n >= sizeof(ra->prefix) - 1) {
    log_error("--redis-key is too long");
    free(ra);
    return KDS_EINVAL;
  }
  ra->prefix_len = (size_t)n;
  snprintf(ra->pattern, sizeof(ra->pattern), "%s*", ra->prefix);
  snprintf(ra->req_channel, sizeof(ra->req_channel), "%s-request#/#",
           srv->cfg.redis_key[0] ? srv->cfg.redis_key : "socket.io");
  snprintf(ra->resp_channel, sizeof(ra->resp_channel), "%s-response#/#",
           srv->cfg.redis_key[0] ? srv->cfg.redis_key : "socket.io");
  kds_list_init(&ra->acks);
  /* A random uid per process (never "emitter"): the only filter against our own echo. */
  if (uv_random(NULL, NULL, rnd, sizeof(rnd), 0, NULL) != 0) {
    uint64_t t = uv_hrtime() ^ ((uint64_t)getpid() << 32);
    memcpy(rnd, &t, sizeof(rnd));
  }
  for (size_t i = 0; i < sizeof(rnd); i++) snprintf(ra->uid + 2 * i, 3, "%02x", rnd[i]);
  ra->srv = srv;
  ra->max_message = srv->cfg.max_payload > 0 ? (size_t)srv->cfg.max_payload : DEFAULT_MAX_MESSAGE;
  kds_buf_init(&ra->enc);
  redis_msg_init(&ra->msg);
  rconn_init(ra, &ra->sub, 1);
  rconn_init(ra, &ra->pub, 0);
  ra->timers_open = 2;
  ra->inner = srv->bcast;
  broadcast_install(&srv->bcast, &adapter_ops, ra);
  rconn_connect(&ra->sub);
  rconn_connect(&ra->pub);
  *out = ra;
  return 0;
}

const char *redis_adapter_uid(const redis_adapter_t *ra) {
  return ra->uid;
}

void redis_adapter_close(redis_adapter_t *ra) {
  rconn *conns[2];
  if (ra == NULL || ra->closing) return;
  ra->closing = 1;
  conns[0] = &ra->sub;
  conns[1] = &ra->pub;
  /* Acks still owed: their callbacks come later (or at the sockets' end) and find no adapter. */
  while (!kds_list_empty(&ra->acks)) {
    ack_wait *w = kds_container_of(ra->acks.next, ack_wait, link);
    w->ra = NULL;
    kds_list_remove(&w->link);
  }
  broadcast_clear(&ra->srv->bcast, ra);
  if (ra->srv->bcast.ops == NULL && ra->inner.ops)
    broadcast_install(&ra->srv->bcast, ra->inner.ops, ra->inner.impl);
  if (ra->sub.state == RC_READY) metrics_gauge_add(ra->srv, METRICS_G_REDIS_SUBSCRIBED, -1);
  for (int i = 0; i < 2; i++) {
    redisAsyncContext *ac = conns[i]->ac;
    conns[i]->ac = NULL;
    conns[i]->state = RC_IDLE;
    uv_timer_stop(&conns[i]->timer);
    if (ac) redisAsyncFree(ac); /* pending PUBLISHes are answered NULL: not counted (closing) */
    uv_close((uv_handle_t *)&conns[i]->timer, on_timer_closed);
  }
}
