/* app.c: the kitchen display's life: options, start-up, the once-a-second tick, keys,
 * signals, events into the model (held while the open queue loads), status changes with
 * their acks, and the --feed source. The network link is in app_net.c. */
#include "app.h"

#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <sys/random.h>
#include <unistd.h>

#include "app_net.h"
#include "app_rest.h"
#include "err.h"
#include "json.h"
#include "kds_version.h"
#include "log.h"

#define FEED_MAX_LINE (4u * 1024u * 1024u)

int64_t app_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- options -------------------------------------------------------------------------- */

static const char usage[] =
    "usage: kds-tui --server http[s]://HOST:PORT --token TOKEN [options]\n"
    "\n"
    "The kitchen display: open orders as tickets, live.\n"
    "\n"
    "  --server URL      the kds-server (or KDS_SERVER), e.g. http://127.0.0.1:3000;\n"
    "                    https://HOST[:PORT] (default port 443) for TLS, certificate\n"
    "                    and host name verified\n"
    "  --ca-file FILE    https: trust the CA certificates in FILE (PEM) instead of\n"
    "                    the system's\n"
    "  --token TOKEN     a device token from `kds-server token NAME` (or KDS_TOKEN)\n"
    "  --station LIST    only these categories, e.g. \"SAUS ASIN,SAUS MANIS\"; Enter\n"
    "                    marks the station's lines of the ticket done (SPEC 10.3)\n"
    "  --expo            every line with its done state; Enter bumps the order\n"
    "  --no-bell         no terminal bell for new tickets\n"
    "  --no-color        no colours (also when NO_COLOR is set): marks and words only\n"
    "  --plain           no screen: one line per event on standard output\n"
    "  --warn MIN        age at which a ticket turns yellow (default 5)\n"
    "  --late MIN        age at which a ticket is late, red (default 10)\n"
    "  --keys FILE       keymap file (default ~/.config/kds/keys if present)\n"
    "  --log FILE        write diagnostics there (the screen has no room for them)\n"
    "  --feed FIFO       read events from a FIFO instead of a server (tests, demos)\n"
    "  --orders-url PATH the open-orders listing on the server (default\n"
    "                    /api/v1/orders?status=new,preparing,ready); without one the\n"
    "                    display runs live-only\n"
    "  --sound CMD       run CMD (with sh -c) for each new ticket and each cancel,\n"
    "                    e.g. \"aplay -q /usr/share/sounds/bell.wav\"; the bell stays\n"
    "  --help, --version\n";

static int copy_opt(char *dst, size_t size, const char *src, const char *name, char *err, size_t errlen) {
  if (strlen(src) >= size) {
    snprintf(err, errlen, "%s is too long (at most %zu bytes)", name, size - 1);
    return KDS_EINVAL;
  }
  memcpy(dst, src, strlen(src) + 1);
  return 0;
}

static int parse_minutes(const char *s, int *out) {
  char *end;
  long v = strtol(s, &end, 10);
  if (end == s || *end || v < 1 || v > 24 * 60) return KDS_EINVAL;
  *out = (int)v;
  return 0;
}

int app_args_parse(app_args *a, int argc, char **argv, FILE *out, char *err, size_t errlen) {
  enum {
    O_SERVER = 256,
    O_TOKEN,
    O_STATION,
    O_NOBELL,
    O_PLAIN,
    O_NOCOLOR,
    O_EXPO,
    O_FEED,
    O_KEYS,
    O_LOG,
    O_WARN,
    O_LATE,
    O_ORDERS_URL,
    O_SOUND,
    O_CA_FILE,
    O_HELP,
    O_VERSION
  };
  static const struct option opts[] = {
      {"server", required_argument, NULL, O_SERVER},   {"token", required_argument, NULL, O_TOKEN},
      {"station", required_argument, NULL, O_STATION}, {"no-bell", no_argument, NULL, O_NOBELL},
      {"plain", no_argument, NULL, O_PLAIN},           {"no-color", no_argument, NULL, O_NOCOLOR},
      {"feed", required_argument, NULL, O_FEED},       {"keys", required_argument, NULL, O_KEYS},
      {"log", required_argument, NULL, O_LOG},         {"warn", required_argument, NULL, O_WARN},
      {"late", required_argument, NULL, O_LATE},       {"help", no_argument, NULL, O_HELP},
      {"version", no_argument, NULL, O_VERSION},       {"orders-url", required_argument, NULL, O_ORDERS_URL},
      {"sound", required_argument, NULL, O_SOUND},     {"expo", no_argument, NULL, O_EXPO},
      {"ca-file", required_argument, NULL, O_CA_FILE}, {NULL, 0, NULL, 0}};
  const char *env;
  int c, rc = 0;
  memset(a, 0, sizeof(*a));
  a->warn_min = 5;
  a->late_min = 10;
  if ((env = getenv("KDS_SERVER")) && *env &&
      copy_opt(a->server, sizeof(a->server), env, "KDS_SERVER", err, errlen))
    return KDS_EINVAL;
  if ((env = getenv("KDS_TOKEN")) && *env &&
      copy_opt(a->token, sizeof(a->token), env, "KDS_TOKEN", err, errlen))
    return KDS_EINVAL;
  if ((env = getenv("NO_COLOR")) && *env) a->no_color = 1;
  optind = 1;
  opterr = 0;
  while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    switch (c) {
      case O_SERVER:
        rc = copy_opt(a->server, sizeof(a->server), optarg, "--server", err, errlen);
        break;
      case O_TOKEN:
        rc = copy_opt(a->token, sizeof(a->token), optarg, "--token", err, errlen);
        break;
      case O_STATION:
        rc = copy_opt(a->station, sizeof(a->station), optarg, "--station", err, errlen);
        break;
      case O_FEED:
        rc = copy_opt(a->feed, sizeof(a->feed), optarg, "--feed", err, errlen);
        break;
      case O_KEYS:
        rc = copy_opt(a->keys_file, sizeof(a->keys_file), optarg, "--keys", err, errlen);
        break;
      case O_LOG:
        rc = copy_opt(a->log_file, sizeof(a->log_file), optarg, "--log", err, errlen);
        break;
      case O_ORDERS_URL:
        rc = copy_opt(a->orders_url, sizeof(a->orders_url), optarg, "--orders-url", err, errlen);
        if (!rc && (a->orders_url[0] != '/' || strpbrk(a->orders_url, " \r\n"))) {
          snprintf(err, errlen, "--orders-url wants a path on the server, e.g. /api/v1/orders?status=new");
          return KDS_EINVAL;
        }
        break;
      case O_SOUND:
        rc = copy_opt(a->sound, sizeof(a->sound), optarg, "--sound", err, errlen);
        break;
      case O_CA_FILE:
        rc = copy_opt(a->ca_file, sizeof(a->ca_file), optarg, "--ca-file", err, errlen);
        break;
      case O_NOBELL:
        a->no_bell = 1;
        break;
      case O_PLAIN:
        a->plain = 1;
        break;
      case O_EXPO:
        a->expo = 1;
        break;
      case O_NOCOLOR:
        a->no_color = 1;
        break;
      case O_WARN:
      case O_LATE:
        if (parse_minutes(optarg, c == O_WARN ? &a->warn_min : &a->late_min)) {
          snprintf(err, errlen, "%s wants whole minutes (1..1440), not \"%s\"",
                   c == O_WARN ? "--warn" : "--late", optarg);
          return KDS_EINVAL;
        }
        break;
      case O_HELP:
        fputs(usage, out);
        return 1;
      case O_VERSION:
        fputs("kds-tui " KDS_VERSION_FULL "\n", out);
        return 1;
      default:
        snprintf(err, errlen, "unknown or incomplete option \"%s\" (see --help)", argv[optind - 1]);
        return KDS_EINVAL;
    }
    if (rc) return rc;
  }
  if (optind < argc) {
    snprintf(err, errlen, "unexpected argument \"%s\" (see --help)", argv[optind]);
    return KDS_EINVAL;
  }
  if (!a->feed[0]) {
    char host[256], path[256];
    int port, https = 0;
    if (!a->server[0]) {
      snprintf(err, errlen, "no server: give --server http://HOST:PORT (or set KDS_SERVER)");
      return KDS_EINVAL;
    }
    if (app_parse_url(a->server, host, sizeof(host), &port, path, sizeof(path), &https) != 0) {
      snprintf(err, errlen, "bad --server \"%s\": expected http://HOST[:PORT] or https://HOST[:PORT]",
               a->server);
      return KDS_EINVAL;
    }
    if (a->ca_file[0] && !https) {
      snprintf(err, errlen, "--ca-file is for an https:// server (--server is \"%s\")", a->server);
      return KDS_EINVAL;
    }
  }
  if (a->warn_min >= a->late_min) {
    snprintf(err, errlen, "--warn (%d) must be less than --late (%d)", a->warn_min, a->late_min);
    return KDS_EINVAL;
  }
  return 0;
}

int app_parse_url(const char *url, char *host, size_t hostlen, int *port, char *path, size_t pathlen,
                  int *https) {
  const char *p, *h, *he, *slash;
  *https = 0;
  *port = 80;
  if (strncasecmp(url, "https://", 8) == 0 || strncasecmp(url, "wss://", 6) == 0) {
    *https = 1;
    *port = 443;
    p = url + (url[0] == 'w' || url[0] == 'W' ? 6 : 8);
  } else if (strncasecmp(url, "http://", 7) == 0)
    p = url + 7;
  else if (strncasecmp(url, "ws://", 5) == 0)
    p = url + 5;
  else if (strstr(url, "://"))
    return KDS_EINVAL;
  else
    p = url; /* "host:port" alone */
  slash = strchr(p, '/');
  if (!slash) slash = p + strlen(p);
  if (*p == '[') {
    h = p + 1;
    he = memchr(h, ']', (size_t)(slash - h));
    if (!he) return KDS_EINVAL;
    p = he + 1;
  } else {
    h = p;
    he = memchr(p, ':', (size_t)(slash - p));
    if (!he) he = slash;
    p = he;
  }
  if (he == h || (size_t)(he - h) >= hostlen) return KDS_EINVAL;
  memcpy(host, h, (size_t)(he - h));
  host[he - h] = '\0';
  for (const char *q = host; *q; q++)
    if (*q == '@' || *q == ' ' || (unsigned char)*q < 0x21) return KDS_EINVAL;
  if (*p == ':') {
    char *end;
    long v = strtol(p + 1, &end, 10);
    if (end == p + 1 || end != slash || v < 1 || v > 65535) return KDS_EINVAL;
    *port = (int)v;
  } else if (p != slash) {
    return KDS_EINVAL;
  }
  /* A path prefix (a reverse proxy's sub-path); trailing slashes dropped. */
  size_t plen = strlen(slash);
  while (plen > 0 && slash[plen - 1] == '/') plen--;
  if (plen >= pathlen) return KDS_EINVAL;
  memcpy(path, slash, plen);
  path[plen] = '\0';
  if (strpbrk(path, "?# ")) return KDS_EINVAL;
  return 0;
}

int64_t app_backoff_ms(unsigned attempt, double rnd) {
  int64_t d = APP_BACKOFF_MIN_MS;
  for (unsigned i = 0; i < attempt && d < APP_BACKOFF_MAX_MS; i++) d *= 2;
  if (d > APP_BACKOFF_MAX_MS) d = APP_BACKOFF_MAX_MS;
  if (rnd < 0) rnd = 0;
  if (rnd >= 1) rnd = 0.999999;
  /* "equal jitter": never less than half the delay, so a crowd of displays spreads out
   * without any of them hammering a server that just came back. */
  return d / 2 + (int64_t)((double)(d - d / 2) * rnd);
}

/* ---- drawing ---------------------------------------------------------------------------- */

static void app_sync_ui(app_t *app) {
  ui_t *ui = &app->ui;
  switch (app->conn) {
    case APP_LIVE:
      ui->conn = UI_LIVE;
      break;
    case APP_LOADING:
      ui->conn = UI_LOADING;
      break;
    case APP_CONNECTING:
      ui->conn = app->attempt ? UI_RECONNECTING : UI_CONNECTING;
      break;
    case APP_WAITING:
      ui->conn = UI_RECONNECTING;
      break;
    default:
      ui->conn = UI_OFFLINE;
      break;
  }
  if (app->conn == APP_CONNECTING && app->attempt)
    ui->retry_at_ms = app_now_ms();
  else
    ui->retry_at_ms = app->retry_at_ms;
  ui_copy(ui->conn_detail, sizeof(ui->conn_detail), app->last_error);
}

void app__redraw(app_t *app) {
  if (app->args.plain || app->quitting) return;
  app_sync_ui(app);
  ui_draw(&app->ui, app_now_ms());
  app->drawn_version = app->model.version;
}

static void on_tick(uv_timer_t *t) {
  app_t *app = t->data;
  int64_t now = app_now_ms();
  model_tick(&app->model, now); /* cancelled tickets shown long enough leave */
  app__redraw(app);
  /* the next second boundary (+5 ms so that the clock has moved on when we look) */
  uv_timer_start(&app->tick, on_tick, (uint64_t)(1000 - now % 1000 + 5), 0);
}

/* ---- messages from the app -------------------------------------------------------------- */

void app__say(app_t *app, enum ui_msg_level level, const char *fmt, ...) {
  char buf[256];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof(buf), fmt, ap);
  va_end(ap);
  if (app->args.plain) {
    plain_line(app->out, app_now_ms(), "%s%s", level == UI_ERROR ? "error: " : "", buf);
  } else {
    ui_message(&app->ui, level, app_now_ms(), "%s", buf);
    app__redraw(app);
  }
  if (level == UI_ERROR)
    log_warn("%s", buf);
  else
    log_info("%s", buf);
}

/* ---- JSON ------------------------------------------------------------------------------------ */

cJSON *app_json_parse(const char *json, size_t len) {
  cJSON *v = cJSON_ParseWithLength(json, len);
  kds_buf fixed = KDS_BUF_INIT;
  if (v || len == 0) return v;
  /* cJSON refuses a lone surrogate ("\ud800" without its pair), which JSON.parse and so the
   * reference server's JSON.stringify allow: read it as U+FFFD, the display's rule. */
  if (json_rewrite(&fixed, json, len, JSON_LONE_REPLACE) == 0 &&
      (fixed.len != len || memcmp(fixed.base, json, len)))
    v = cJSON_ParseWithLength(fixed.base, fixed.len);
  kds_buf_release(&fixed);
  return v;
}

/* ---- events into the model -------------------------------------------------------------- */

static void apply_event(app_t *app, const char *name, const char *json, size_t len) {
  cJSON *payload = app_json_parse(json, len);
  ticket_t *t = NULL;
  int64_t now = app_now_ms();
  char inv[48] = "", status[16] = "";
  int rc;
  if (!payload) {
    log_warn("event %s: payload is not JSON; ignored", name);
    if (strcmp(name, "new-order") == 0)
      app__say(app, UI_ERROR, "The server sent a new order that cannot be read");
    return;
  }
  {
    const cJSON *i = cJSON_GetObjectItemCaseSensitive(payload, "invoice_number");
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(payload, "status");
    if (cJSON_IsString(i)) ui_copy(inv, sizeof(inv), i->valuestring);
    if (cJSON_IsString(st)) ui_copy(status, sizeof(status), st->valuestring);
    for (char *p = inv; *p; p++) /* for the plain line: printable ASCII only */
      if (*p <= 0x20 || *p >= 0x7f) *p = '?';
    for (char *p = status; *p; p++)
      if (*p <= 0x20 || *p >= 0x7f) *p = '?';
  }
  rc = model_apply(&app->model, name, payload, now, &t);
  cJSON_Delete(payload);
  if (rc == KDS_EFULL) {
    app__say(app, UI_ERROR, "Too many open tickets (%d): a new one was not shown", MODEL_MAX_TICKETS);
    return;
  }
  if (rc < 0) {
    log_warn("event %s: not an order (%s); ignored", name, kds_strerror(rc));
    /* a new order the kitchen cannot see must not go unnoticed */
    if (strcmp(name, "new-order") == 0)
      app__say(app, UI_ERROR, "The server sent a new order that cannot be read");
    return;
  }
  if (app->args.plain) {
    if (t && t->nvisible)
      plain_ticket(app->out, now, name, &app->model, t);
    else if (rc == MODEL_REMOVED)
      plain_line(app->out, now, "%s %s %s", name, inv, status[0] ? status : "removed");
    return;
  }
  if ((rc == MODEL_ADDED && t && t->nvisible) ||
      (rc == MODEL_REMOVED && (strcmp(name, "order-deleted") == 0 || strcmp(status, "cancelled") == 0))) {
    /* a new ticket, and a cancelled or voided one: the kitchen must hear both (SPEC 10.8) */
    ui_ring(&app->ui);
    sound_play(&app->sound);
  }
  if (rc != MODEL_NONE && rc != MODEL_STALE) app_rest_stats_soon(app);
  app__dirty(app);
}

void app_event_in(app_t *app, const char *name, const char *json, size_t len) {
  if (app->conn == APP_LOADING) {
    /* Held until the open queue is loaded: applying it first could be undone by the load. */
    app_event *e;
    if (app->buf_count >= APP_BUFFER_MAX) {
      /* Too much traffic during one load: drop what is held and load again afterwards. */
      app_net_reload_later(app);
      return;
    }
    e = calloc(1, sizeof(*e));
    if (!e || !(e->name = strdup(name)) || !(e->json = malloc(len + 1))) {
      if (e) free(e->name);
      free(e);
      app_net_reload_later(app);
      return;
    }
    memcpy(e->json, json, len);
    e->json[len] = '\0';
    e->len = len;
    if (app->buf_tail)
      app->buf_tail->next = e;
    else
      app->buf_head = e;
    app->buf_tail = e;
    app->buf_count++;
    return;
  }
  apply_event(app, name, json, len);
}

void app__drop_held(app_t *app) {
  app_event *e = app->buf_head;
  while (e) {
    app_event *next = e->next;
    free(e->name);
    free(e->json);
    free(e);
    e = next;
  }
  app->buf_head = app->buf_tail = NULL;
  app->buf_count = 0;
}

void app_listing_in(app_t *app, const char *json, size_t len) {
  cJSON *list = app_json_parse(json, len);
  app_listing_apply(app, list);
  cJSON_Delete(list);
}

void app_listing_apply(app_t *app, const cJSON *list) {
  size_t added = 0;
  int64_t now = app_now_ms();
  int rc = list ? model_load(&app->model, list, now, app->loaded_once, &added) : KDS_EINVAL;
  if (rc) {
    app__say(app, UI_ERROR, "Could not read the open orders (%s)", kds_strerror(rc));
  } else if (app->args.plain) {
    plain_line(app->out, now, "loaded %zu open orders (%zu shown, %zu new)", app->model.n, app->model.nvis,
               added);
    for (size_t i = 0; i < app->model.nvis; i++) {
      const ticket_t *t = app->model.vis[i];
      if (!app->loaded_once)
        plain_ticket(app->out, now, "open", &app->model, t);
      else if (t->seen_ms == now)
        plain_ticket(app->out, now, "missed", &app->model, t);
    }
  } else if (added && app->loaded_once) {
    ui_ring(&app->ui);
    sound_play(&app->sound);
  }
  app->loaded_once = 1;
  app__apply_held(app); /* then what arrived during the load, in order */
}

void app__apply_held(app_t *app) {
  app_event *e = app->buf_head;
  app->buf_head = app->buf_tail = NULL;
  app->buf_count = 0;
  enum app_conn saved = app->conn;
  app->conn = APP_LIVE; /* so that the events apply rather than being held again */
  while (e) {
    app_event *next = e->next;
    apply_event(app, e->name, e->json, e->len);
    free(e->name);
    free(e->json);
    free(e);
    e = next;
  }
  app->conn = saved;
  app__dirty(app);
}

/* ---- redraw coalescing: many events in one loop iteration make one frame ------------------ */

static void on_prepare(uv_prepare_t *p) {
  app_t *app = p->data;
  uv_prepare_stop(p);
  app__redraw(app);
}

void app__dirty(app_t *app) {
  if (app->args.plain || app->quitting) return;
  uv_prepare_start(&app->prep, on_prepare);
}

/* ---- actions from the screen ------------------------------------------------------------ */

static void act_set_status(void *ud, const char *invoice, enum ticket_status from, enum ticket_status to,
                           int bump) {
  app_t *app = ud;
  app_net_set_status(app, invoice, from, to, bump, 0);
}

static void act_line_done(void *ud, const char *invoice, int64_t n, int done) {
  app_net_line_done(ud, invoice, n, done);
}

static void act_recall(void *ud) {
  app_rest_recall(ud, 1);
}

static void act_recall_list(void *ud) {
  app_rest_recall(ud, 0);
}

static void act_recall_pick(void *ud, const char *invoice, enum ticket_status status) {
  app_rest_recall_pick(ud, invoice, status);
}

static void act_quit(void *ud) {
  app_t *app = ud;
  app_close(app);
}

static const ui_actions actions = {
    .set_status = act_set_status,
    .line_done = act_line_done,
    .recall = act_recall,
    .recall_list = act_recall_list,
    .recall_pick = act_recall_pick,
    .quit = act_quit,
};

/* ---- keys and signals ------------------------------------------------------------------- */

static void on_input(uv_poll_t *p, int status, int events) {
  app_t *app = p->data;
  if (status < 0 || (events & UV_DISCONNECT)) {
    /* the terminal is gone (hang-up): nothing can be shown or typed any more */
    uv_poll_stop(p);
    app_close(app);
    return;
  }
  ui_input(&app->ui, app_now_ms());
  if (!app->quitting) app__redraw(app);
}

static void on_signal(uv_signal_t *s, int signum) {
  app_t *app = s->data;
  if (signum == SIGWINCH) {
    ui_resize(&app->ui);
    app__redraw(app);
    return;
  }
  app_close(app);
}

/* ---- the feed: event lines from a FIFO ---------------------------------------------------- */

/* One line: a JSON array as a Socket.IO event's arguments: ["new-order",{...}]. Two pseudo
 * events drive the rest: ["$load",[...orders]] (a REST listing) and ["$state","live"|"offline"|
 * "reconnecting"|"loading"] (the header). */
static void feed_line(app_t *app, const char *line, size_t len) {
  cJSON *arr = cJSON_ParseWithLength(line, len), *name, *payload;
  char *text;
  if (!arr || !cJSON_IsArray(arr) || !cJSON_IsString(name = cJSON_GetArrayItem(arr, 0))) {
    log_warn("feed: not an event array: %.*s", (int)(len > 80 ? 80 : len), line);
    cJSON_Delete(arr);
    return;
  }
  payload = cJSON_GetArrayItem(arr, 1);
  if (strcmp(name->valuestring, "$state") == 0 && cJSON_IsString(payload)) {
    const char *s = payload->valuestring;
    app->conn = strcmp(s, "live") == 0           ? APP_LIVE
                : strcmp(s, "loading") == 0      ? APP_LOADING
                : strcmp(s, "reconnecting") == 0 ? APP_WAITING
                                                 : APP_STOPPED;
    if (app->conn == APP_WAITING) app->retry_at_ms = app_now_ms() + 4000;
    app__dirty(app);
  } else if (payload && (text = cJSON_PrintUnformatted(payload))) {
    if (strcmp(name->valuestring, "$load") == 0)
      app_listing_in(app, text, strlen(text));
    else
      app_event_in(app, name->valuestring, text, strlen(text));
    free(text);
  }
  cJSON_Delete(arr);
}

static void on_feed_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  app_t *app = h->data;
  (void)suggested;
  buf->base = app->rbuf;
  buf->len = sizeof(app->rbuf);
}

static void on_feed_closed(uv_handle_t *h) {
  app_t *app = h->data;
  app->feed_open = 0;
  app__handle_closed(app);
}

static void on_feed_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf) {
  app_t *app = s->data;
  if (n < 0) {
    if (!app->quitting) {
      app->conn = APP_STOPPED;
      snprintf(app->last_error, sizeof(app->last_error), "feed ended");
      app__dirty(app);
    }
    if (!uv_is_closing((uv_handle_t *)s)) uv_close((uv_handle_t *)s, on_feed_closed);
    return;
  }
  if (kds_buf_add(&app->feed_buf, buf->base, (size_t)n) != 0 || app->feed_buf.len > FEED_MAX_LINE) {
    log_warn("feed: line over %u bytes dropped", FEED_MAX_LINE);
    kds_buf_reset(&app->feed_buf);
    return;
  }
  for (;;) {
    char *nl = memchr(app->feed_buf.base, '\n', app->feed_buf.len);
    if (!nl) break;
    size_t len = (size_t)(nl - app->feed_buf.base);
    if (len) feed_line(app, app->feed_buf.base, len);
    kds_buf_consume(&app->feed_buf, len + 1);
  }
}

static int feed_start(app_t *app, char *err, size_t errlen) {
  /* O_RDWR keeps the FIFO open with a writer of our own, so writers may come and go. */
  int fd = open(app->args.feed, O_RDWR | O_NONBLOCK | O_CLOEXEC);
  int rc;
  if (fd < 0) {
    snprintf(err, errlen, "--feed %s: %s", app->args.feed, strerror(errno));
    return -errno;
  }
  rc = uv_pipe_init(app->loop, &app->feed, 0);
  if (rc == 0) rc = uv_pipe_open(&app->feed, fd);
  if (rc) {
    close(fd);
    snprintf(err, errlen, "--feed %s: %s (a FIFO is expected: mkfifo)", app->args.feed, uv_strerror(rc));
    return rc;
  }
  app->feed.data = app;
  app->feed_open = 1;
  app->handles++;
  rc = uv_read_start((uv_stream_t *)&app->feed, on_feed_alloc, on_feed_read);
  if (rc) {
    snprintf(err, errlen, "--feed: %s", uv_strerror(rc));
    return rc;
  }
  app->conn = APP_LIVE;
  ui_copy(app->ui.server, sizeof(app->ui.server), "feed");
  return 0;
}

/* ---- lifecycle -------------------------------------------------------------------------- */

void app__handle_closed(app_t *app) {
  app->handles--;
}

static void on_sound_closed(void *ud) {
  app__handle_closed(ud);
}

static void on_sound_failed(void *ud, const char *why) {
  app__say(ud, UI_ERROR, "--sound: %s (said once; the bell still rings)", why);
}

static void on_handle_closed(uv_handle_t *h) {
  app_t *app = h->data;
  app__handle_closed(app);
}

static int start_handle_timer(app_t *app, uv_timer_t *t) {
  int rc = uv_timer_init(app->loop, t);
  if (rc) return rc;
  t->data = app;
  app->handles++;
  return 0;
}

static int start_signal(app_t *app, uv_signal_t *s, int signum) {
  int rc = uv_signal_init(app->loop, s);
  if (rc) return rc;
  s->data = app;
  app->handles++;
  return uv_signal_start(s, on_signal, signum);
}

int app_start(app_t *app, uv_loop_t *loop, const app_args *args, char *err, size_t errlen) {
  int rc;
  memset(app, 0, sizeof(*app));
  app->loop = loop;
  loop->data = app;
  app->args = *args;
  app->out = stdout;
  app->saved_stdout = app->saved_stderr = -1;
  kds_buf_init(&app->feed_buf);

  rc = model_init(&app->model, args->station[0] ? args->station : NULL);
  if (rc) {
    snprintf(
        err, errlen,
        rc == KDS_EINVAL ? "bad --station: give up to %d category names, comma-separated" : "out of memory",
        MODEL_MAX_STATIONS);
    return rc;
  }
  app->model_ready = 1;
  app->model.warn_ms = (int64_t)args->warn_min * 60000;
  app->model.late_ms = (int64_t)args->late_min * 60000;
  {
    /* ids of this run's changes: two screens signed in as one user must never share one */
    uint64_t r = 0;
    if (getrandom(&r, sizeof(r), 0) != (ssize_t)sizeof(r))
      r = (uint64_t)app_now_ms() ^ ((uint64_t)getpid() << 32);
    outbox_init(&app->outbox, r);
  }

  keys_init(&app->keys);
  {
    char path[600];
    int bad = 0;
    const char *home = getenv("HOME");
    if (args->keys_file[0])
      snprintf(path, sizeof(path), "%s", args->keys_file);
    else if (home)
      snprintf(path, sizeof(path), "%s/.config/kds/keys", home);
    else
      path[0] = '\0';
    rc = path[0] ? keys_load_file(&app->keys, path, &bad) : 0;
    if (rc == KDS_EINVAL || (rc && args->keys_file[0])) {
      if (rc == KDS_EINVAL)
        snprintf(err, errlen, "%s:%d: expected \"bind KEY REQUEST\"", path, bad);
      else
        snprintf(err, errlen, "%s: %s", path, strerror(-rc));
      return KDS_EINVAL;
    }
  }

  ui_init(&app->ui, &app->model, &app->keys, &actions, app);
  app->ui.bell = !args->no_bell;
  app->ui.expo = args->expo;
  ui_copy(app->ui.server, sizeof(app->ui.server), args->server);
  ui_copy(app->ui.station, sizeof(app->ui.station), args->station);

  /* Handles first (SIGWINCH before curses, so that libuv, not ncurses, owns the signal). */
  if ((rc = start_handle_timer(app, &app->tick)) || (rc = start_handle_timer(app, &app->retry)) ||
      (rc = start_handle_timer(app, &app->stats_timer)) || (rc = start_handle_timer(app, &app->list_timer)) ||
      (rc = start_signal(app, &app->sigint, SIGINT)) || (rc = start_signal(app, &app->sigterm, SIGTERM)) ||
      (rc = start_signal(app, &app->sighup, SIGHUP))) {
    snprintf(err, errlen, "start-up: %s", uv_strerror(rc));
    return rc;
  }
  if ((rc = uv_prepare_init(loop, &app->prep)) != 0) {
    snprintf(err, errlen, "start-up: %s", uv_strerror(rc));
    return rc;
  }
  app->prep.data = app;
  app->handles++;
  sound_init(&app->sound, loop, app->args.sound, app);
  app->sound.on_fail = on_sound_failed;
  app->sound.on_closed = on_sound_closed;
  app->handles++; /* counted down by on_sound_closed */

  if (!args->plain) {
    if ((rc = start_signal(app, &app->sigwinch, SIGWINCH))) {
      snprintf(err, errlen, "start-up: %s", uv_strerror(rc));
      return rc;
    }
    /* Curses gets its own handle on the terminal; stdout and stderr then go to --log (or
     * nowhere), so that no log line can scribble over the screen. */
    int tty_fd = dup(STDOUT_FILENO);
    app->tty = tty_fd >= 0 ? fdopen(tty_fd, "w") : NULL;
    if (!app->tty && tty_fd >= 0) close(tty_fd);
    rc = ui_start(&app->ui, !args->no_color, app->tty, stdin);
    if (rc) {
      snprintf(err, errlen, "the screen needs a terminal (TERM=%s); use --plain for pipes and logs",
               getenv("TERM") ? getenv("TERM") : "unset");
      return rc;
    }
    fflush(stdout);
    fflush(stderr);
    app->saved_stdout = dup(STDOUT_FILENO);
    app->saved_stderr = dup(STDERR_FILENO);
    int fd = open(args->log_file[0] ? args->log_file : "/dev/null", O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC,
                  0600);
    if (fd >= 0) {
      dup2(fd, STDOUT_FILENO);
      dup2(fd, STDERR_FILENO);
      close(fd);
    }
    kds_log_set(args->log_file[0] ? KDS_LOG_DEBUG : KDS_LOG_ERROR);
    if ((rc = uv_poll_init(loop, &app->input, STDIN_FILENO)) != 0) {
      snprintf(err, errlen, "keyboard: %s", uv_strerror(rc));
      return rc;
    }
    app->input.data = app;
    app->handles++;
    uv_poll_start(&app->input, UV_READABLE | UV_DISCONNECT, on_input);
  }

  /* In --plain mode stdout carries the event lines: diagnostics go to stderr only. */
  if (args->plain) kds_log_set(KDS_LOG_WARN);
  if (args->feed[0])
    rc = feed_start(app, err, errlen);
  else
    rc = app_net_start(app, err, errlen);
  if (rc) return rc;
  on_tick(&app->tick);
  return 0;
}

void app_close(app_t *app) {
  if (app->quitting) return;
  app->quitting = 1;
  app_net_stop(app);
  app__drop_held(app);
  if (app->sound.loop) sound_close(&app->sound);
  if (app->feed_open && !uv_is_closing((uv_handle_t *)&app->feed))
    uv_close((uv_handle_t *)&app->feed, on_feed_closed);
  uv_handle_t *hs[] = {(uv_handle_t *)&app->stats_timer, (uv_handle_t *)&app->list_timer,
                       (uv_handle_t *)&app->tick,        (uv_handle_t *)&app->retry,
                       (uv_handle_t *)&app->sigint,      (uv_handle_t *)&app->sigterm,
                       (uv_handle_t *)&app->sighup,      (uv_handle_t *)&app->sigwinch,
                       (uv_handle_t *)&app->input,       (uv_handle_t *)&app->prep};
  for (size_t i = 0; i < sizeof(hs) / sizeof(hs[0]); i++) {
    /* only handles that were initialised (they have our app in data) */
    if (hs[i]->data == app && !uv_is_closing(hs[i])) uv_close(hs[i], on_handle_closed);
  }
  ui_stop(&app->ui);
  if (app->saved_stderr >= 0) {
    dup2(app->saved_stderr, STDERR_FILENO);
    close(app->saved_stderr);
    app->saved_stdout = app->saved_stderr = -1;
  }
}

void app_release(app_t *app) {
  app__drop_held(app);
  app_net_release(app);
  if (app->model_ready) model_release(&app->model);
  app->model_ready = 0;
  kds_buf_release(&app->feed_buf);
}
