/* app_rest.c: what the display asks the server over REST besides the open queue (app_net.c):
 * the figures of the day for the header (GET /api/v1/stats, SPEC 5.1: exact, the same on
 * every screen) and the recall list (GET /api/v1/recall, SPEC 10.4: any screen's bumps).
 * The stats are asked again a second after a burst of events (one request however many
 * orders came) and once a minute, so the header never lags by more than that. */
#include "app_rest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "app_net.h"
#include "err.h"
#include "httpc.h"
#include "log.h"

#define STATS_DEBOUNCE_MS 1000
#define STATS_REFRESH_MS 60000

typedef struct rest_req {
  app_t *app;
  unsigned gen; /* app->rest_gen when sent: answers from an older link are dropped */
  int pick;     /* recall: 1 recall the newest at once (r), 0 fill the list (R) */
} rest_req;

static int rest_get(app_t *app, const char *what, int pick, httpc_cb cb) {
  char path[600], headers[600];
  rest_req *req;
  int rc;
  if (!app->http || app->net_stopping) return KDS_ECLOSED;
  if (!(req = malloc(sizeof(*req)))) return KDS_ENOMEM;
  req->app = app;
  req->gen = app->rest_gen;
  req->pick = pick;
  snprintf(path, sizeof(path), "%s%s", app->base_path, what);
  snprintf(headers, sizeof(headers), "Authorization: Bearer %s\r\n", app->args.token);
  rc = httpc_request(app->http, "GET", path, headers, NULL, 0, cb, req);
  if (rc) free(req);
  return rc;
}

/* ---- stats ---------------------------------------------------------------------------------- */

static void stats_fetch(app_t *app);

static void on_stats_timer(uv_timer_t *t) {
  stats_fetch(t->data);
}

/* A count of the day: a number in [0, 1e9], else 0. A hostile or broken server's 1e308 or
 * -7 never reaches a (long) cast (undefined past LONG_MAX) nor the header as "late -7". */
static long count_of(const cJSON *o, const char *key) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
  return cJSON_IsNumber(v) && v->valuedouble >= 0 && v->valuedouble <= 1e9 ? (long)v->valuedouble : 0;
}

/* A ticket time in seconds: [0, 1e6] (11 days; the header prints h:mm:ss), else -1 (dashes).
 * Larger ones would overflow the int64_t milliseconds the header formats. */
static double secs_of(const cJSON *o, const char *key) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
  return cJSON_IsNumber(v) && v->valuedouble >= 0 && v->valuedouble <= 1e6 ? v->valuedouble : -1;
}

static void on_stats(void *ud, int err, const httpc_response *resp) {
  rest_req *req = ud;
  app_t *app = req->app;
  int stale = req->gen != app->rest_gen || app->net_stopping || err == UV_ECANCELED;
  free(req);
  if (stale) return;
  app->stats_inflight = 0;
  if (!err && resp->status == 200) {
    cJSON *body = app_json_parse(resp->body, resp->body_len);
    const cJSON *tt = cJSON_GetObjectItemCaseSensitive(body, "ticket_time");
    if (cJSON_IsObject(tt)) {
      app->ui.stats.have = 1;
      app->ui.stats.count = count_of(tt, "count");
      app->ui.stats.late = count_of(tt, "late");
      app->ui.stats.avg_s = secs_of(tt, "avg_s");
      app->ui.stats.p90_s = secs_of(tt, "p90_s");
      if (app->ui.stats.p90_s < 0) app->ui.stats.avg_s = -1; /* both shown, or dashes */
      app__dirty(app);
    }
    cJSON_Delete(body);
  } else if (!err && (resp->status == 404 || resp->status == 403)) {
    /* a server without stats (the official socket.io one) or a token not allowed them: the
     * header shows this screen's own figures; asked again on the next connect */
    app->stats_gone = 1;
    log_info("stats: HTTP %d; the header shows this screen's figures", resp->status);
    return;
  } else {
    log_warn("stats: %s", err ? app_net_strerror(app, err) : "unexpected answer");
  }
  if (app->stats_again) {
    app->stats_again = 0;
    app_rest_stats_soon(app);
  } else {
    uv_timer_start(&app->stats_timer, on_stats_timer, STATS_REFRESH_MS, 0);
  }
}

static void stats_fetch(app_t *app) {
  if (app->stats_gone || app->conn != APP_LIVE || app->args.feed[0]) return;
  if (app->stats_inflight) {
    app->stats_again = 1;
    return;
  }
  if (rest_get(app, "/api/v1/stats", 0, on_stats) == 0)
    app->stats_inflight = 1;
  else
    uv_timer_start(&app->stats_timer, on_stats_timer, STATS_REFRESH_MS, 0);
}

void app_rest_stats_soon(app_t *app) {
  if (app->stats_gone || app->args.feed[0] || app->quitting) return;
  if (app->stats_inflight) {
    app->stats_again = 1;
    return;
  }
  /* a timer already due soon is kept: a burst of events makes one request */
  if (uv_is_active((uv_handle_t *)&app->stats_timer) &&
      uv_timer_get_due_in(&app->stats_timer) <= STATS_DEBOUNCE_MS)
    return;
  uv_timer_start(&app->stats_timer, on_stats_timer, STATS_DEBOUNCE_MS, 0);
}

void app_rest_link_changed(app_t *app) {
  app->rest_gen++;
  app->stats_inflight = app->stats_again = 0;
  app->stats_gone = 0;
  if (app->stats_timer.data == app) uv_timer_stop(&app->stats_timer);
}

/* ---- recall ----------------------------------------------------------------------------------- */

/* Printable text only: it goes to a terminal. */
static void clean_copy(char *dst, size_t size, const char *src) {
  ui_copy(dst, size, src ? src : "");
  for (char *p = dst; *p; p++)
    if ((unsigned char)*p < 0x20 || *p == 0x7f) *p = '?';
}

static void item_from(ui_recall_item *it, const cJSON *o) {
  const cJSON *inv = cJSON_GetObjectItemCaseSensitive(o, "invoice_number");
  const cJSON *st = cJSON_GetObjectItemCaseSensitive(o, "status");
  const cJSON *at = cJSON_GetObjectItemCaseSensitive(o, "bumped_at");
  const cJSON *lines = cJSON_GetObjectItemCaseSensitive(o, "lines"), *l;
  const cJSON *cust = cJSON_GetObjectItemCaseSensitive(o, "customer_name");
  const cJSON *table = cJSON_GetObjectItemCaseSensitive(o, "table");
  char what[256] = "";
  size_t n = 0;
  int64_t ms;
  memset(it, 0, sizeof(*it));
  clean_copy(it->invoice, sizeof(it->invoice), cJSON_IsString(inv) ? inv->valuestring : "?");
  it->status = cJSON_IsString(st) ? model_status_parse(st->valuestring) : TS_UNKNOWN;
  if (cJSON_IsString(at) && model_parse_time(at->valuestring, &ms) == 0) {
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    if (localtime_r(&t, &tm)) strftime(it->at, sizeof(it->at), "%H:%M:%S", &tm);
  }
  if (cJSON_IsString(table))
    n += (size_t)snprintf(what + n, sizeof(what) - n, "T%.20s ", table->valuestring);
  else if (cJSON_IsNumber(table))
    n += (size_t)snprintf(what + n, sizeof(what) - n, "T%.0f ", table->valuedouble);
  if (cJSON_IsString(cust) && n < sizeof(what))
    n += (size_t)snprintf(what + n, sizeof(what) - n, "%.60s ", cust->valuestring);
  cJSON_ArrayForEach(l, lines) {
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(l, "name");
    const cJSON *qty = cJSON_GetObjectItemCaseSensitive(l, "qty");
    if (n >= sizeof(what) - 1 || !cJSON_IsString(name)) break;
    n += (size_t)snprintf(what + n, sizeof(what) - n, "%s%.0fx %.60s", l == lines->child ? "" : ", ",
                          cJSON_IsNumber(qty) ? qty->valuedouble : 0, name->valuestring);
  }
  clean_copy(it->what, sizeof(it->what), what);
}

static void recall_one(app_t *app, const char *invoice, enum ticket_status status) {
  if (status != TS_READY && status != TS_COMPLETED) {
    app__say(app, UI_ERROR, "%s is %s: only ready or completed tickets can be recalled", invoice,
             model_status_label(status));
    return;
  }
  /* ready goes back to preparing, completed back to ready (the recall transitions of SPEC 3) */
  app_net_set_status(app, invoice, status, status == TS_COMPLETED ? TS_READY : TS_PREPARING, 0, 1);
}

/* The screen's own recall stack: for a server without a recall list (the official socket.io
 * server with a seed-shaped API). */
static void recall_local(app_t *app) {
  model_recall r;
  if (model_recall_pop(&app->model, app_now_ms(), &r) != 0) {
    app__say(app, UI_INFO, "Nothing to recall (bumps of the last 30 minutes on this screen)");
    return;
  }
  if (app_net_set_status(app, r.invoice, r.to, r.to == TS_COMPLETED ? TS_READY : TS_PREPARING, 0, 1) != 0)
    model_recall_push(&app->model, r.invoice, r.from, r.to, r.at_ms); /* not sent: keep it */
}

static void on_recall(void *ud, int err, const httpc_response *resp) {
  rest_req *req = ud;
  app_t *app = req->app;
  int pick = req->pick, stale = req->gen != app->rest_gen || app->net_stopping || err == UV_ECANCELED;
  cJSON *list = NULL, *o;
  free(req);
  if (stale) return;
  app->ui.recall_loading = 0;
  if (pick && !err && resp->status == 404) {
    recall_local(app);
    return;
  }
  if (err || resp->status != 200 || !cJSON_IsArray(list = app_json_parse(resp->body, resp->body_len))) {
    app__say(app, UI_ERROR, "Recall: the server's list is unavailable (%s)",
             err                   ? app_net_strerror(app, err)
             : resp->status != 200 ? (resp->status == 404 ? "HTTP 404: not a kds-server" : "refused")
                                   : "not a JSON array");
    cJSON_Delete(list);
    if (app->ui.view == &view_recall_ops) app->ui.view = &view_tickets_ops;
    app__dirty(app);
    return;
  }
  app->ui.nrecall = 0;
  cJSON_ArrayForEach(o, list) {
    if (app->ui.nrecall >= UI_RECALL_MAX) break;
    if (cJSON_IsObject(o)) item_from(&app->ui.recall[app->ui.nrecall++], o);
  }
  cJSON_Delete(list);
  if (pick) {
    if (app->ui.nrecall == 0)
      app__say(app, UI_INFO, "Nothing to recall: no ticket was bumped in the last 30 minutes");
    else
      recall_one(app, app->ui.recall[0].invoice, app->ui.recall[0].status);
  }
  app__dirty(app);
}

int app_rest_recall(app_t *app, int pick) {
  int rc;
  if (pick && (app->args.feed[0] || app->ui.live_only)) {
    recall_local(app);
    return 0;
  }
  if (app->args.feed[0] || app->conn != APP_LIVE) {
    app__say(app, UI_ERROR, "Recall needs the server's list: wait until LIVE");
    app->ui.recall_loading = 0;
    if (app->ui.view == &view_recall_ops) app->ui.view = &view_tickets_ops;
    return KDS_ECLOSED;
  }
  rc = rest_get(app, "/api/v1/recall", pick, on_recall);
  if (rc) {
    app__say(app, UI_ERROR, "Recall: %s", kds_strerror(rc));
    app->ui.recall_loading = 0;
  }
  return rc;
}

void app_rest_recall_pick(app_t *app, const char *invoice, enum ticket_status status) {
  recall_one(app, invoice, status);
}
