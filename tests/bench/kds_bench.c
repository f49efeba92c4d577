/* kds_bench.c: the load generator (SPEC 1, issue 5). N Socket.IO listeners over WebSocket
 * (shared/net/sioc + ws, ramped connects) and order posters over HTTP/1.1 keep-alive
 * (shared/net/httpc), one libuv loop. Orders go out at a fixed rate (open loop: each order
 * has a scheduled time and its latencies count from it, so a slow server cannot hide its
 * delay) or at a fixed concurrency (closed loop). Each order's `note` carries
 * "kdsb:<seq>:<scheduled CLOCK_MONOTONIC ns>", so every listener measures the delay to
 * receipt. Latencies go into log-bucket histograms (one per metric for the process: the
 * same as merging per-client ones). Every order must reach every listener: a missing
 * delivery is an error (exit status 1). Works against any server of the same API.
 *
 *   kds-bench --url http://127.0.0.1:3000 --clients 1000 --token T --post-token T2 \
 *             --rate 200 --duration 10 [--server-pid PID] [--json out.json]
 */
#define _GNU_SOURCE /* memmem */
#include <cjson/cJSON.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>
#include <wslay/wslayver.h>

#include "buf.h"
#include "err.h"
#include "kds_version.h"
#include "httpc.h"
#include "sioc.h"
#include "ws.h"

/* ---- log-bucket histogram (ns values, 16 sub-buckets per power of two: <= 6.25% error) --- */

#define HIST_SUB_BITS 4
#define HIST_SUB (1u << HIST_SUB_BITS)
#define HIST_BUCKETS ((64 - HIST_SUB_BITS) * HIST_SUB + 2 * HIST_SUB)

typedef struct hist {
  uint64_t count, min, max;
  double sum;
  uint64_t b[HIST_BUCKETS];
} hist;

static unsigned hist_index(uint64_t v) {
  unsigned e;
  if (v < HIST_SUB) return (unsigned)v;
  e = 63u - (unsigned)__builtin_clzll(v); /* >= HIST_SUB_BITS */
  return (e - HIST_SUB_BITS) * HIST_SUB + (unsigned)(v >> (e - HIST_SUB_BITS));
}

/* The upper edge of a bucket (what a percentile reports: never optimistic). */
static uint64_t hist_upper(unsigned idx) {
  unsigned shift, m;
  if (idx < 2 * HIST_SUB) return idx;
  shift = idx / HIST_SUB - 1;
  m = idx % HIST_SUB + HIST_SUB;
  return (((uint64_t)m + 1) << shift) - 1;
}

static void hist_add(hist *h, uint64_t v) {
  if (h->count == 0 || v < h->min) h->min = v;
  if (v > h->max) h->max = v;
  h->count++;
  h->sum += (double)v;
  h->b[hist_index(v)]++;
}

static uint64_t hist_pct(const hist *h, double p) {
  uint64_t need, acc = 0;
  if (!h->count) return 0;
  need = (uint64_t)ceil(p / 100.0 * (double)h->count);
  if (need == 0) need = 1;
  for (unsigned i = 0; i < HIST_BUCKETS; i++) {
    acc += h->b[i];
    if (acc >= need) {
      uint64_t u = hist_upper(i);
      return u > h->max ? h->max : u;
    }
  }
  return h->max;
}

/* ---- configuration ---------------------------------------------------------------------- */

typedef struct bench_cfg {
  char host[256];
  int port;
  int clients;
  int ramp_batch, ramp_ms;
  const char *token, *login;           /* listeners */
  const char *post_token, *post_login; /* posters */
  double rate;                         /* orders/s, open loop */
  int concurrency;                     /* closed loop */
  int connections;                     /* posting connections for the open loop */
  double duration, warmup, drain, idle;
  long orders; /* stop after this many (0: by duration) */
  int server_pid;
  const char *json_path;
  const char *label;
  const char *items;
  int list_invoices;
  int quiet;
  int connect_timeout_ms;
} bench_cfg;

/* ---- state ------------------------------------------------------------------------------- */

typedef struct order_rec {
  uint64_t sched_ns;  /* when it was due (open loop) or sent (closed loop) */
  uint64_t max_delay; /* the last recipient's delay so far */
  uint32_t received;  /* listeners that got it */
  int16_t status;     /* HTTP status, 0 until answered, -1 transport error */
  uint8_t warm;       /* sent during warm-up: not in the statistics */
  char invoice[28];
} order_rec;

typedef struct listener {
  sioc_t *s;
  uint8_t state; /* 0 idle, 1 connecting, 2 connected, 3 failed, 4 lost */
} listener;

typedef struct poster {
  httpc_t *h;
  int busy; /* closed loop: a request in flight */
} poster;

typedef struct bench {
  bench_cfg cfg;
  uv_loop_t *loop;
  ws_hub_t *hub;
  uv_timer_t timer;
  char listen_token[512], post_token[512];
  char auth_json[600];
  char post_headers[600];
  listener *ls;
  int nstarted, nconnected, nfailed, nlost, nclosed;
  uint64_t t_connect0, t_connected, next_ramp;
  poster *ps;
  int nposters;
  order_rec *orders;
  long norders, cap_orders;
  long nanswered, n201, nother, nerr;
  uint64_t t_post0, t_post_end, t_last_answer;
  uint64_t deliveries, unexpected, late_after_drain;
  hist post_lat, deliv_lat, last_lat;
  int phase; /* see enum below */
  uint64_t phase_deadline;
  int open_loop;
  long next_seq;                    /* next order to send */
  long last_seq;                    /* orders planned (open loop with --orders), or -1 */
  uint64_t sched0;                  /* open loop: scheduled time of order 0 */
  double cpu0, cpu1;                /* server CPU seconds */
  long rss_base, rss_idle, rss_end; /* server RSS in kB */
  int login_pending;
  int exit_code;
  char errmsg[256];
} bench;

enum { PH_LOGIN, PH_CONNECT, PH_IDLE, PH_POST, PH_DRAIN, PH_DONE };

static uint64_t now_ns(void) {
  return uv_hrtime(); /* CLOCK_MONOTONIC */
}

/* ---- /proc -------------------------------------------------------------------------------- */

static double proc_cpu_seconds(int pid) {
  char path[64], buf[2048], *p;
  FILE *f;
  unsigned long ut = 0, st = 0;
  if (pid <= 0) return -1;
  snprintf(path, sizeof(path), "/proc/%d/stat", pid);
  if (!(f = fopen(path, "r"))) return -1;
  if (!fgets(buf, sizeof(buf), f)) {
    fclose(f);
    return -1;
  }
  fclose(f);
  p = strrchr(buf, ')'); /* the command may hold spaces */
  if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2) return -1;
  return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static long proc_rss_kb(int pid) {
  char path[64], line[256];
  FILE *f;
  long kb = -1;
  if (pid <= 0) return -1;
  snprintf(path, sizeof(path), "/proc/%d/status", pid);
  if (!(f = fopen(path, "r"))) return -1;
  while (fgets(line, sizeof(line), f))
    if (sscanf(line, "VmRSS: %ld kB", &kb) == 1) break;
  fclose(f);
  return kb;
}

/* ---- environment ------------------------------------------------------------------------- */

static void env_describe(cJSON *env, kds_buf *line) {
  struct utsname u;
  char cpu[256] = "unknown", buf[512];
  FILE *f = fopen("/proc/cpuinfo", "r");
  long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
  if (f) {
    while (fgets(buf, sizeof(buf), f)) {
      char *c = strchr(buf, ':');
      if (strncmp(buf, "model name", 10) == 0 && c) {
        snprintf(cpu, sizeof(cpu), "%s", c + 2);
        cpu[strcspn(cpu, "\n")] = '\0';
        break;
      }
    }
    fclose(f);
  }
  uname(&u);
  cJSON_AddStringToObject(env, "kernel", u.release);
  cJSON_AddStringToObject(env, "os", u.sysname);
  cJSON_AddStringToObject(env, "arch", u.machine);
  cJSON_AddStringToObject(env, "cpu", cpu);
  cJSON_AddNumberToObject(env, "cpus", (double)ncpu);
  cJSON_AddStringToObject(env, "libuv", uv_version_string());
  cJSON_AddStringToObject(env, "wslay", WSLAY_VERSION);
  cJSON_AddStringToObject(env, "compiler", __VERSION__);
  kds_buf_addf(line, "env: %s %s %s, %s x%ld, libuv %s, wslay %s, cc %s", u.sysname, u.release, u.machine,
               cpu, ncpu, uv_version_string(), WSLAY_VERSION, __VERSION__);
}

/* ---- orders ------------------------------------------------------------------------------- */

static order_rec *order_new(bench *b, uint64_t sched) {
  order_rec *r;
  if (b->norders == b->cap_orders) {
    long cap = b->cap_orders ? b->cap_orders * 2 : 4096;
    order_rec *o = realloc(b->orders, (size_t)cap * sizeof(*o));
    if (!o) return NULL;
    memset(o + b->cap_orders, 0, (size_t)(cap - b->cap_orders) * sizeof(*o));
    b->orders = o;
    b->cap_orders = cap;
  }
  r = &b->orders[b->norders++];
  r->sched_ns = sched;
  r->warm = b->cfg.warmup > 0 && sched < b->t_post0 + (uint64_t)(b->cfg.warmup * 1e9);
  return r;
}

typedef struct post_ctx {
  bench *b;
  long seq;
  poster *p;
} post_ctx;

static void post_next(bench *b, poster *p);

static void on_posted(void *ud, int err, const httpc_response *resp) {
  post_ctx *pc = ud;
  bench *b = pc->b;
  order_rec *r = &b->orders[pc->seq];
  uint64_t now = now_ns();
  b->nanswered++;
  b->t_last_answer = now;
  if (err) {
    r->status = -1;
    b->nerr++;
    if (!b->errmsg[0]) snprintf(b->errmsg, sizeof(b->errmsg), "POST: %s", kds_strerror(err));
  } else {
    r->status = (int16_t)resp->status;
    if (resp->status == 201) {
      const char *inv = strstr(resp->body, "\"invoice_number\":\"");
      b->n201++;
      if (inv) sscanf(inv + 18, "%27[^\"]", r->invoice);
    } else {
      b->nother++;
      if (!b->errmsg[0])
        snprintf(b->errmsg, sizeof(b->errmsg), "POST: status %d: %.150s", resp->status, resp->body);
    }
  }
  if (!r->warm && !err) hist_add(&b->post_lat, now - r->sched_ns);
  if (pc->p) {
    pc->p->busy = 0;
    if (b->phase == PH_POST && !b->open_loop) post_next(b, pc->p);
  }
  free(pc);
}

static int send_order(bench *b, poster *p, uint64_t sched, int closed) {
  char body[1024];
  post_ctx *pc;
  order_rec *r;
  int n, rc;
  long seq = b->norders;
  r = order_new(b, sched);
  if (!r) return KDS_ENOMEM;
  n = snprintf(body, sizeof(body),
               "{\"payment_method\":\"CASH\",\"items\":%s,\"note\":\"kdsb:%ld:%" PRIu64 "\"}", b->cfg.items,
               seq, sched);
  pc = malloc(sizeof(*pc));
  if (!pc) return KDS_ENOMEM;
  pc->b = b;
  pc->seq = seq;
  pc->p = closed ? p : NULL;
  rc = httpc_request(p->h, "POST", "/api/v1/orders", b->post_headers, body, (size_t)n, on_posted, pc);
  if (rc < 0) {
    free(pc);
    r->status = -1;
    b->nerr++;
    b->nanswered++;
    return rc;
  }
  if (closed) p->busy = 1;
  return 0;
}

static int post_window_open(bench *b) {
  uint64_t now = now_ns();
  if (b->cfg.orders > 0) return b->norders < b->cfg.orders;
  return now < b->t_post_end;
}

static void post_next(bench *b, poster *p) {
  if (!post_window_open(b)) return;
  send_order(b, p, now_ns(), 1);
}

/* ---- listeners ------------------------------------------------------------------------------ */

static void l_connect(sioc_t *s, const char *sid, const char *pid, int recovered) {
  listener *l = sioc_data(s);
  bench *b = uv_loop_get_data(uv_default_loop());
  l->state = 2;
  b->nconnected++;
  if (b->nconnected + b->nfailed == b->cfg.clients) b->t_connected = now_ns();
}

static void l_event(sioc_t *s, const char *ev, const char *args, size_t len, int64_t ack) {
  bench *b = uv_loop_get_data(uv_default_loop());
  const char *p;
  long seq;
  uint64_t sched, delay, now;
  order_rec *r;
  if (strcmp(ev, "new-order") != 0) return;
  p = memmem(args, len, "\"note\":\"kdsb:", 13);
  if (!p || sscanf(p + 13, "%ld:%" SCNu64, &seq, &sched) != 2 || seq < 0 || seq >= b->norders) {
    b->unexpected++; /* someone else's order, or one of an earlier run */
    return;
  }
  now = now_ns();
  r = &b->orders[seq];
  delay = now > sched ? now - sched : 0;
  r->received++;
  if (delay > r->max_delay) r->max_delay = delay;
  b->deliveries++;
  if (b->phase == PH_DONE) b->late_after_drain++;
  if (!r->warm) hist_add(&b->deliv_lat, delay);
}

static void l_connect_error(sioc_t *s, const char *msg, const char *data, size_t len) {
  bench *b = uv_loop_get_data(uv_default_loop());
  if (!b->errmsg[0]) snprintf(b->errmsg, sizeof(b->errmsg), "CONNECT refused: %s", msg);
}

static void l_disconnect(sioc_t *s, int err, const char *reason) {
  listener *l = sioc_data(s);
  bench *b = uv_loop_get_data(uv_default_loop());
  if (l->state == 2) {
    if (b->phase != PH_DONE) {
      b->nlost++;
      if (!b->errmsg[0])
        snprintf(b->errmsg, sizeof(b->errmsg), "listener lost: %s (%s)", reason, kds_strerror(err));
    }
  } else if (l->state == 1) {
    b->nfailed++;
    if (!b->errmsg[0])
      snprintf(b->errmsg, sizeof(b->errmsg), "connect failed: %s (%s)", reason, kds_strerror(err));
    if (b->nconnected + b->nfailed == b->cfg.clients) b->t_connected = now_ns();
  }
  l->state = l->state == 2 ? 4 : 3;
  b->nclosed++;
}

static const sioc_callbacks listener_cb = {l_connect, l_connect_error, l_event, l_disconnect};

/* ---- phases --------------------------------------------------------------------------------- */

static void on_tick(uv_timer_t *t);
static void finish(bench *b);

static void start_connects(bench *b) {
  b->phase = PH_CONNECT;
  b->t_connect0 = now_ns();
  b->phase_deadline =
      b->t_connect0 + (uint64_t)b->cfg.connect_timeout_ms * 1000000u +
      (uint64_t)b->cfg.clients / (uint64_t)b->cfg.ramp_batch * (uint64_t)b->cfg.ramp_ms * 1000000u;
  if (b->cfg.clients == 0) b->t_connected = b->t_connect0;
}

static void connect_some(bench *b) {
  sioc_opts o;
  int n = 0;
  memset(&o, 0, sizeof(o));
  o.host = b->cfg.host;
  o.port = b->cfg.port;
  o.auth = b->auth_json[0] ? b->auth_json : NULL;
  o.timeout_ms = (unsigned)b->cfg.connect_timeout_ms;
  while (b->nstarted < b->cfg.clients && n < b->cfg.ramp_batch) {
    listener *l = &b->ls[b->nstarted++];
    l->s = sioc_new(b->hub, &listener_cb, l);
    if (!l->s || sioc_connect(l->s, &o) < 0) {
      l->state = 3;
      b->nfailed++;
      if (!b->errmsg[0]) snprintf(b->errmsg, sizeof(b->errmsg), "cannot start a connect");
    } else {
      l->state = 1;
    }
    n++;
  }
}

static void start_posting(bench *b) {
  b->phase = PH_POST;
  b->cpu0 = proc_cpu_seconds(b->cfg.server_pid);
  b->t_post0 = now_ns();
  b->t_post_end = b->t_post0 + (uint64_t)((b->cfg.warmup + b->cfg.duration) * 1e9);
  b->sched0 = b->t_post0;
  if (!b->open_loop) {
    for (int i = 0; i < b->nposters; i++) post_next(b, &b->ps[i]);
  }
}

/* Open loop: send every order whose scheduled time has come, round-robin over the posting
 * connections (a busy connection queues it: that wait counts, from the scheduled time). */
static void open_loop_step(bench *b) {
  uint64_t now = now_ns();
  for (;;) {
    uint64_t sched = b->sched0 + (uint64_t)((double)b->next_seq * 1e9 / b->cfg.rate);
    poster *p;
    if (sched > now) break;
    if (b->cfg.orders > 0 ? b->next_seq >= b->cfg.orders : sched >= b->t_post_end) break;
    p = &b->ps[b->next_seq % b->nposters];
    b->next_seq++;
    send_order(b, p, sched, 0);
  }
}

static int posting_done(bench *b) {
  if (b->open_loop) {
    uint64_t sched = b->sched0 + (uint64_t)((double)b->next_seq * 1e9 / b->cfg.rate);
    int planned_done = b->cfg.orders > 0 ? b->next_seq >= b->cfg.orders : sched >= b->t_post_end;
    return planned_done && b->nanswered == b->norders;
  }
  return !post_window_open(b) && b->nanswered == b->norders;
}

static int all_delivered(bench *b) {
  return b->deliveries >= (uint64_t)b->norders * (uint64_t)b->nconnected;
}

static void on_tick(uv_timer_t *t) {
  bench *b = t->data;
  uint64_t now = now_ns();
  switch (b->phase) {
    case PH_LOGIN:
      break;
    case PH_CONNECT:
      if (now >= b->next_ramp) { /* ramp: at most ramp_batch new connects per ramp_ms */
        connect_some(b);
        b->next_ramp = now + (uint64_t)b->cfg.ramp_ms * 1000000u;
      }
      if (b->nstarted == b->cfg.clients && b->nconnected + b->nfailed >= b->cfg.clients) {
        if (b->nfailed) {
          finish(b);
          return;
        }
        if (b->cfg.idle > 0) {
          b->phase = PH_IDLE;
          b->phase_deadline = now + (uint64_t)(b->cfg.idle * 1e9);
        } else if (b->cfg.rate > 0 || b->cfg.concurrency > 0) {
          start_posting(b);
        } else {
          finish(b);
          return;
        }
      } else if (now > b->phase_deadline) {
        snprintf(b->errmsg, sizeof(b->errmsg), "connects did not finish in time (%d of %d)", b->nconnected,
                 b->cfg.clients);
        finish(b);
        return;
      }
      break;
    case PH_IDLE:
      if (now >= b->phase_deadline) {
        b->rss_idle = proc_rss_kb(b->cfg.server_pid);
        if (b->cfg.rate > 0 || b->cfg.concurrency > 0)
          start_posting(b);
        else {
          finish(b);
          return;
        }
      }
      break;
    case PH_POST:
      if (b->open_loop) open_loop_step(b);
      if (posting_done(b)) {
        b->phase = PH_DRAIN;
        b->phase_deadline = now + (uint64_t)(b->cfg.drain * 1e9);
      }
      break;
    case PH_DRAIN:
      if (all_delivered(b) || now >= b->phase_deadline) {
        finish(b);
        return;
      }
      break;
    default:
      break;
  }
}

/* ---- login ---------------------------------------------------------------------------------- */

typedef struct login_ctx {
  bench *b;
  char *dst;
  httpc_t *h;
} login_ctx;

static void begin_after_login(bench *b);

static void on_login(void *ud, int err, const httpc_response *resp) {
  login_ctx *lc = ud;
  bench *b = lc->b;
  if (err || resp->status != 200) {
    snprintf(b->errmsg, sizeof(b->errmsg), "login failed: %s", err ? kds_strerror(err) : resp->body);
    b->exit_code = 2;
  } else {
    cJSON *o = cJSON_ParseWithLength(resp->body, resp->body_len);
    cJSON *t = cJSON_GetObjectItemCaseSensitive(o, "token");
    if (cJSON_IsString(t)) snprintf(lc->dst, 512, "%s", t->valuestring);
    cJSON_Delete(o);
  }
  httpc_free(lc->h);
  free(lc);
  if (--b->login_pending == 0) begin_after_login(b);
}

static int start_login(bench *b, const char *userpass, char *dst) {
  char user[128], pass[256], body[1024];
  const char *colon = strchr(userpass, ':');
  login_ctx *lc;
  if (!colon || colon - userpass >= (long)sizeof(user) || strlen(colon + 1) >= sizeof(pass))
    return KDS_EINVAL;
  snprintf(user, sizeof(user), "%.*s", (int)(colon - userpass), userpass);
  snprintf(pass, sizeof(pass), "%s", colon + 1);
  {
    cJSON *o = cJSON_CreateObject();
    char *s;
    cJSON_AddStringToObject(o, "username", user);
    cJSON_AddStringToObject(o, "password", pass);
    s = cJSON_PrintUnformatted(o);
    snprintf(body, sizeof(body), "%s", s);
    free(s);
    cJSON_Delete(o);
  }
  lc = calloc(1, sizeof(*lc));
  lc->b = b;
  lc->dst = dst;
  lc->h = httpc_new(b->loop, b->cfg.host, b->cfg.port, NULL);
  if (!lc->h) {
    free(lc);
    return KDS_ENOMEM;
  }
  b->login_pending++;
  return httpc_request(lc->h, "POST", "/api/v1/auth/login", NULL, body, strlen(body), on_login, lc);
}

static void begin_after_login(bench *b) {
  if (b->exit_code) {
    finish(b);
    return;
  }
  if (b->listen_token[0]) snprintf(b->auth_json, sizeof(b->auth_json), "{\"token\":\"%s\"}", b->listen_token);
  if (b->post_token[0])
    snprintf(b->post_headers, sizeof(b->post_headers), "Authorization: Bearer %s\r\n", b->post_token);
  b->rss_base = proc_rss_kb(b->cfg.server_pid);
  start_connects(b);
}

/* ---- report -------------------------------------------------------------------------------- */

static double ms(uint64_t ns) {
  return (double)ns / 1e6;
}

static cJSON *hist_json(const hist *h) {
  cJSON *o = cJSON_CreateObject();
  cJSON_AddNumberToObject(o, "count", (double)h->count);
  cJSON_AddNumberToObject(o, "p50_ms", ms(hist_pct(h, 50)));
  cJSON_AddNumberToObject(o, "p90_ms", ms(hist_pct(h, 90)));
  cJSON_AddNumberToObject(o, "p99_ms", ms(hist_pct(h, 99)));
  cJSON_AddNumberToObject(o, "p999_ms", ms(hist_pct(h, 99.9)));
  cJSON_AddNumberToObject(o, "max_ms", ms(h->max));
  cJSON_AddNumberToObject(o, "mean_ms", h->count ? h->sum / (double)h->count / 1e6 : 0);
  return o;
}

static void on_close_timer(uv_handle_t *h) {
  (void)h;
}

static void report(bench *b) {
  cJSON *root = cJSON_CreateObject(), *env = cJSON_CreateObject(), *cfg = cJSON_CreateObject(),
        *res = cJSON_CreateObject();
  kds_buf line = KDS_BUF_INIT;
  /* POST/s over the measured window: after the warm-up, until the last answer */
  uint64_t t_meas0 = b->t_post0 + (uint64_t)(b->cfg.warmup * 1e9);
  double post_secs =
      b->t_post0 && b->t_last_answer > t_meas0 ? (double)(b->t_last_answer - t_meas0) / 1e9 : 0;
  long measured = 0, complete = 0, measured_201 = 0;
  uint64_t expected = (uint64_t)b->norders * (uint64_t)b->nconnected, missing;
  double cpu = b->cpu0 >= 0 && b->cpu1 >= 0 ? b->cpu1 - b->cpu0 : -1;

  for (long i = 0; i < b->norders; i++) {
    order_rec *r = &b->orders[i];
    if (r->warm) continue;
    measured++;
    if (r->status == 201) measured_201++;
    if ((int)r->received >= b->nconnected) {
      complete++;
      if (b->nconnected) hist_add(&b->last_lat, r->max_delay);
    }
  }
  missing = expected > b->deliveries ? expected - b->deliveries : 0;

  env_describe(env, &line);
  cJSON_AddItemToObject(root, "env", env);
  cJSON_AddStringToObject(cfg, "label", b->cfg.label ? b->cfg.label : "");
  {
    char url[300];
    snprintf(url, sizeof(url), "http://%s:%d", b->cfg.host, b->cfg.port);
    cJSON_AddStringToObject(cfg, "url", url);
  }
  cJSON_AddNumberToObject(cfg, "clients", b->cfg.clients);
  cJSON_AddStringToObject(cfg, "mode", b->open_loop ? "open" : b->cfg.concurrency ? "closed" : "none");
  cJSON_AddNumberToObject(cfg, "rate", b->cfg.rate);
  cJSON_AddNumberToObject(cfg, "concurrency", b->cfg.concurrency);
  cJSON_AddNumberToObject(cfg, "connections", b->nposters);
  cJSON_AddNumberToObject(cfg, "duration_s", b->cfg.duration);
  cJSON_AddNumberToObject(cfg, "warmup_s", b->cfg.warmup);
  cJSON_AddNumberToObject(cfg, "orders", (double)b->cfg.orders);
  cJSON_AddNumberToObject(cfg, "server_pid", b->cfg.server_pid);
  cJSON_AddItemToObject(root, "config", cfg);

  cJSON_AddNumberToObject(res, "connected", b->nconnected);
  cJSON_AddNumberToObject(res, "connect_failed", b->nfailed);
  cJSON_AddNumberToObject(res, "connections_lost", b->nlost);
  cJSON_AddNumberToObject(
      res, "connect_s", b->t_connected > b->t_connect0 ? (double)(b->t_connected - b->t_connect0) / 1e9 : 0);
  cJSON_AddNumberToObject(res, "orders_sent", (double)b->norders);
  cJSON_AddNumberToObject(res, "orders_measured", (double)measured);
  cJSON_AddNumberToObject(res, "post_201", (double)b->n201);
  cJSON_AddNumberToObject(res, "post_other_status", (double)b->nother);
  cJSON_AddNumberToObject(res, "post_errors", (double)b->nerr);
  cJSON_AddNumberToObject(res, "post_seconds", post_secs);
  cJSON_AddNumberToObject(res, "post_per_second", post_secs > 0 ? (double)measured_201 / post_secs : 0);
  cJSON_AddItemToObject(res, "post_latency", hist_json(&b->post_lat));
  cJSON_AddNumberToObject(res, "deliveries", (double)b->deliveries);
  cJSON_AddNumberToObject(res, "deliveries_expected", (double)expected);
  cJSON_AddNumberToObject(res, "deliveries_missing", (double)missing);
  cJSON_AddNumberToObject(res, "deliveries_unexpected", (double)b->unexpected);
  cJSON_AddNumberToObject(res, "orders_fully_delivered", (double)complete);
  cJSON_AddItemToObject(res, "delivery_latency", hist_json(&b->deliv_lat));
  cJSON_AddItemToObject(res, "last_recipient_latency", hist_json(&b->last_lat));
  if (b->cfg.server_pid > 0) {
    cJSON_AddNumberToObject(res, "server_cpu_s", cpu);
    cJSON_AddNumberToObject(res, "server_cpu_us_per_delivery",
                            cpu >= 0 && b->deliveries ? cpu * 1e6 / (double)b->deliveries : -1);
    cJSON_AddNumberToObject(res, "server_cpu_us_per_order",
                            cpu >= 0 && b->norders ? cpu * 1e6 / (double)b->norders : -1);
    cJSON_AddNumberToObject(res, "server_rss_base_kb", (double)b->rss_base);
    cJSON_AddNumberToObject(res, "server_rss_idle_kb", (double)b->rss_idle);
    cJSON_AddNumberToObject(res, "server_rss_end_kb", (double)b->rss_end);
    cJSON_AddNumberToObject(
        res, "server_rss_per_connection_kb",
        b->rss_idle > 0 && b->nconnected ? (double)(b->rss_idle - b->rss_base) / b->nconnected : -1);
  }
  cJSON_AddStringToObject(res, "error", b->errmsg);
  if (b->cfg.list_invoices) {
    cJSON *inv = cJSON_CreateArray();
    for (long i = 0; i < b->norders; i++)
      if (b->orders[i].status == 201) cJSON_AddItemToArray(inv, cJSON_CreateString(b->orders[i].invoice));
    cJSON_AddItemToObject(res, "invoices", inv);
  }
  cJSON_AddItemToObject(root, "results", res);

  if (!b->cfg.quiet) {
    printf("%s\n", line.base);
    printf("target: http://%s:%d%s%s\n", b->cfg.host, b->cfg.port, b->cfg.label ? " " : "",
           b->cfg.label ? b->cfg.label : "");
    printf("listeners: %d connected, %d failed, %d lost, in %.2f s\n", b->nconnected, b->nfailed, b->nlost,
           b->t_connected > b->t_connect0 ? (double)(b->t_connected - b->t_connect0) / 1e9 : 0);
    if (b->norders) {
      printf(
          "POST: %ld sent, %ld x 201, %ld other, %ld errors; %.1f/s; latency p50 %.3f ms p99 %.3f ms max "
          "%.3f ms\n",
          b->norders, b->n201, b->nother, b->nerr, post_secs > 0 ? (double)measured_201 / post_secs : 0,
          ms(hist_pct(&b->post_lat, 50)), ms(hist_pct(&b->post_lat, 99)), ms(b->post_lat.max));
      printf("deliveries: %" PRIu64 " of %" PRIu64 " (missing %" PRIu64 ", unexpected %" PRIu64 ")\n",
             b->deliveries, expected, missing, b->unexpected);
      printf(
          "delivery latency: p50 %.3f ms p99 %.3f ms max %.3f ms; last recipient p50 %.3f ms p99 %.3f ms max "
          "%.3f ms\n",
          ms(hist_pct(&b->deliv_lat, 50)), ms(hist_pct(&b->deliv_lat, 99)), ms(b->deliv_lat.max),
          ms(hist_pct(&b->last_lat, 50)), ms(hist_pct(&b->last_lat, 99)), ms(b->last_lat.max));
    }
    if (b->cfg.server_pid > 0) {
      if (cpu >= 0 && b->deliveries)
        printf("server CPU: %.3f s, %.2f us per delivery, %.1f us per order\n", cpu,
               cpu * 1e6 / (double)b->deliveries, b->norders ? cpu * 1e6 / (double)b->norders : 0);
      else if (cpu >= 0)
        printf("server CPU: %.3f s\n", cpu);
      printf("server RSS: base %ld kB, idle %ld kB, end %ld kB", b->rss_base, b->rss_idle, b->rss_end);
      if (b->rss_idle > 0 && b->nconnected)
        printf(", %.2f kB per idle connection", (double)(b->rss_idle - b->rss_base) / b->nconnected);
      printf("\n");
    }
    if (b->errmsg[0]) printf("error: %s\n", b->errmsg);
  }
  if (b->cfg.json_path) {
    char *s = cJSON_PrintUnformatted(root);
    FILE *f = strcmp(b->cfg.json_path, "-") == 0 ? stdout : fopen(b->cfg.json_path, "w");
    if (f) {
      fprintf(f, "%s\n", s);
      if (f != stdout) fclose(f);
    } else {
      fprintf(stderr, "kds-bench: cannot write %s: %s\n", b->cfg.json_path, strerror(errno));
      b->exit_code = b->exit_code ? b->exit_code : 2;
    }
    free(s);
  }
  fflush(stdout);
  if (!b->exit_code && (missing || b->nfailed || b->nlost || b->nother || b->nerr ||
                        (b->cfg.clients && b->nconnected < b->cfg.clients)))
    b->exit_code = 1;
  cJSON_Delete(root);
  kds_buf_release(&line);
}

static void finish(bench *b) {
  if (b->phase == PH_DONE) return;
  b->phase = PH_DONE;
  b->cpu1 = proc_cpu_seconds(b->cfg.server_pid);
  b->rss_end = proc_rss_kb(b->cfg.server_pid);
  report(b);
  uv_close((uv_handle_t *)&b->timer, on_close_timer);
  for (int i = 0; i < b->nstarted; i++) sioc_free(b->ls[i].s);
  for (int i = 0; i < b->nposters; i++) httpc_free(b->ps[i].h);
}

/* ---- main -------------------------------------------------------------------------------- */

static void usage(FILE *f) {
  fprintf(
      f,
      "usage: kds-bench --url http://HOST:PORT [options]\n"
      "listeners:\n"
      "  --clients N          Socket.IO clients over WebSocket (default 100; <= ~19000 per process)\n"
      "  --token T | --login USER:PASS   their auth token (CONNECT auth {token})\n"
      "  --ramp N/MS          connects started per MS milliseconds (default 200/10)\n"
      "  --connect-timeout MS per client (default 30000)\n"
      "orders (POST /api/v1/orders):\n"
      "  --post-token T | --post-login USER:PASS   a cashier's token\n"
      "  --rate R             open loop: R orders/s, each scheduled in advance\n"
      "  --connections P      keep-alive connections for the open loop (default 32)\n"
      "  --concurrency C      closed loop: C connections, each posting again on its answer\n"
      "  --duration S         seconds of posting (default 10), or --orders K\n"
      "  --warmup S           seconds of posting before measuring (default 0)\n"
      "  --drain S            seconds to wait for the last deliveries (default 10)\n"
      "  --items JSON         the items array (default "
      "[{\"product_id\":1,\"qty\":1},{\"product_id\":5,\"qty\":2}])\n"
      "measurement:\n"
      "  --server-pid PID     read the server's CPU time and RSS from /proc\n"
      "  --idle S             after connecting, wait S seconds (a ping cycle) and take the RSS\n"
      "  --json FILE          write the results as JSON ('-' = stdout)\n"
      "  --label NAME         a name for this run in the output\n"
      "  --list-invoices      put the invoice numbers answered 201 in the JSON\n"
      "  --quiet              no text report\n"
      "  --help, --version\n"
      "Exit status: 0 all good, 1 missing deliveries or failed requests/connects, 2 usage or setup error.\n");
}

static int parse_url(const char *url, char *host, size_t hostlen, int *port) {
  const char *p = url, *end;
  if (strncmp(p, "http://", 7) == 0) p += 7;
  if (*p == '[') {
    end = strchr(p, ']');
    if (!end) return -1;
    snprintf(host, hostlen, "%.*s", (int)(end - p - 1), p + 1);
    p = end + 1;
  } else {
    end = p + strcspn(p, ":/");
    snprintf(host, hostlen, "%.*s", (int)(end - p), p);
    p = end;
  }
  *port = 80;
  if (*p == ':') *port = atoi(p + 1);
  return host[0] && *port > 0 && *port < 65536 ? 0 : -1;
}

int main(int argc, char **argv) {
  static bench b;
  struct rlimit rl;
  int opt, idx;
  const char *url = NULL;
  static const struct option longopts[] = {{"url", required_argument, 0, 'u'},
                                           {"clients", required_argument, 0, 'n'},
                                           {"token", required_argument, 0, 't'},
                                           {"login", required_argument, 0, 'l'},
                                           {"post-token", required_argument, 0, 'T'},
                                           {"post-login", required_argument, 0, 'L'},
                                           {"rate", required_argument, 0, 'r'},
                                           {"concurrency", required_argument, 0, 'c'},
                                           {"connections", required_argument, 0, 'P'},
                                           {"duration", required_argument, 0, 'd'},
                                           {"orders", required_argument, 0, 'o'},
                                           {"warmup", required_argument, 0, 'w'},
                                           {"drain", required_argument, 0, 'D'},
                                           {"ramp", required_argument, 0, 'R'},
                                           {"server-pid", required_argument, 0, 'p'},
                                           {"idle", required_argument, 0, 'i'},
                                           {"json", required_argument, 0, 'j'},
                                           {"label", required_argument, 0, 'b'},
                                           {"items", required_argument, 0, 'I'},
                                           {"list-invoices", no_argument, 0, 'V'},
                                           {"quiet", no_argument, 0, 'q'},
                                           {"connect-timeout", required_argument, 0, 'C'},
                                           {"help", no_argument, 0, 'h'},
                                           {"version", no_argument, 0, 'v'},
                                           {0, 0, 0, 0}};

  b.cfg.clients = 100;
  b.cfg.ramp_batch = 200;
  b.cfg.ramp_ms = 10;
  b.cfg.connections = 32;
  b.cfg.duration = 10;
  b.cfg.drain = 10;
  b.cfg.connect_timeout_ms = 30000;
  b.cfg.items = "[{\"product_id\":1,\"qty\":1},{\"product_id\":5,\"qty\":2}]";
  while ((opt = getopt_long(argc, argv, "h", longopts, &idx)) != -1) {
    switch (opt) {
      case 'u':
        url = optarg;
        break;
      case 'n':
        b.cfg.clients = atoi(optarg);
        break;
      case 't':
        b.cfg.token = optarg;
        break;
      case 'l':
        b.cfg.login = optarg;
        break;
      case 'T':
        b.cfg.post_token = optarg;
        break;
      case 'L':
        b.cfg.post_login = optarg;
        break;
      case 'r':
        b.cfg.rate = atof(optarg);
        break;
      case 'c':
        b.cfg.concurrency = atoi(optarg);
        break;
      case 'P':
        b.cfg.connections = atoi(optarg);
        break;
      case 'd':
        b.cfg.duration = atof(optarg);
        break;
      case 'o':
        b.cfg.orders = atol(optarg);
        break;
      case 'w':
        b.cfg.warmup = atof(optarg);
        break;
      case 'D':
        b.cfg.drain = atof(optarg);
        break;
      case 'R':
        if (sscanf(optarg, "%d/%d", &b.cfg.ramp_batch, &b.cfg.ramp_ms) != 2 || b.cfg.ramp_batch <= 0 ||
            b.cfg.ramp_ms <= 0) {
          fprintf(stderr, "kds-bench: --ramp wants N/MS\n");
          return 2;
        }
        break;
      case 'p':
        b.cfg.server_pid = atoi(optarg);
        break;
      case 'i':
        b.cfg.idle = atof(optarg);
        break;
      case 'j':
        b.cfg.json_path = optarg;
        break;
      case 'b':
        b.cfg.label = optarg;
        break;
      case 'I':
        b.cfg.items = optarg;
        break;
      case 'V':
        b.cfg.list_invoices = 1;
        break;
      case 'q':
        b.cfg.quiet = 1;
        break;
      case 'C':
        b.cfg.connect_timeout_ms = atoi(optarg);
        break;
      case 'h':
        usage(stdout);
        return 0;
      case 'v':
        puts("kds-bench " KDS_VERSION_FULL);
        return 0;
      default:
        usage(stderr);
        return 2;
    }
  }
  if (!url || parse_url(url, b.cfg.host, sizeof(b.cfg.host), &b.cfg.port) < 0 || b.cfg.clients < 0 ||
      (b.cfg.rate > 0 && b.cfg.concurrency > 0) || b.cfg.connections <= 0) {
    usage(stderr);
    return 2;
  }
  if ((b.cfg.rate > 0 || b.cfg.concurrency > 0) && !b.cfg.post_token && !b.cfg.post_login) {
    fprintf(stderr, "kds-bench: posting orders needs --post-token or --post-login\n");
    return 2;
  }
  /* One descriptor per listener: take the hard limit. */
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    if ((rlim_t)b.cfg.clients + 64 > rl.rlim_cur) {
      fprintf(stderr, "kds-bench: %d clients need more than the %lu open files allowed\n", b.cfg.clients,
              (unsigned long)rl.rlim_cur);
      return 2;
    }
  }

  b.loop = uv_default_loop();
  uv_loop_set_data(b.loop, &b);
  b.hub = ws_hub_new(b.loop);
  b.ls = calloc((size_t)b.cfg.clients + 1, sizeof(*b.ls));
  b.open_loop = b.cfg.rate > 0;
  b.nposters = b.open_loop ? b.cfg.connections : b.cfg.concurrency;
  b.ps = calloc((size_t)b.nposters + 1, sizeof(*b.ps));
  if (!b.hub || !b.ls || !b.ps) {
    fprintf(stderr, "kds-bench: out of memory\n");
    return 2;
  }
  for (int i = 0; i < b.nposters; i++) {
    httpc_opts ho = {60000, 0, NULL};
    b.ps[i].h = httpc_new(b.loop, b.cfg.host, b.cfg.port, &ho);
  }
  if (b.cfg.token) snprintf(b.listen_token, sizeof(b.listen_token), "%s", b.cfg.token);
  if (b.cfg.post_token) snprintf(b.post_token, sizeof(b.post_token), "%s", b.cfg.post_token);
  uv_timer_init(b.loop, &b.timer);
  b.timer.data = &b;
  /* One 1 ms tick drives the ramp, the open loop's schedule and the phase changes. The
   * schedule's own lateness (timer granularity) is counted in the latencies, never hidden. */
  uv_timer_start(&b.timer, on_tick, 1, 1);
  b.phase = PH_LOGIN;
  b.login_pending = 1; /* held until every login is started */
  if (b.cfg.login && start_login(&b, b.cfg.login, b.listen_token) < 0) {
    fprintf(stderr, "kds-bench: --login wants USER:PASS\n");
    return 2;
  }
  if (b.cfg.post_login && start_login(&b, b.cfg.post_login, b.post_token) < 0) {
    fprintf(stderr, "kds-bench: --post-login wants USER:PASS\n");
    return 2;
  }
  if (--b.login_pending == 0) begin_after_login(&b);

  uv_run(b.loop, UV_RUN_DEFAULT);
  ws_hub_free(b.hub);
  uv_run(b.loop, UV_RUN_DEFAULT);
  uv_loop_close(b.loop);
  free(b.ls);
  free(b.ps);
  free(b.orders);
  return b.exit_code;
}
