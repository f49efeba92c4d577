/* app_net.c: the display's link to the server. One cycle:
 *   connect (Socket.IO over WebSocket, auth {token})
 *   -> LOADING: GET /api/v1/orders?status=new,preparing,ready (all pages); live events that
 *      arrive meanwhile are held
 *   -> LIVE: the listing replaces the open tickets, then the held events apply in order
 *   -> on any loss: WAITING, and the next attempt after a backoff (0.5 s doubling to 30 s,
 *      with jitter).
 * So an order posted while the display was away is in the listing, and one posted during
 * the load is in the held events: nothing is missed. */
#include "app_net.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "err.h"
#include "httpc.h"
#include "log.h"
#include "sio.h"
#include "sioc.h"

#define CONNECT_TIMEOUT_MS 10000

static void connect_now(app_t *app);
static void start_load(app_t *app);

/* ---- backoff ------------------------------------------------------------------------------ */

static void on_retry(uv_timer_t *t) {
  app_t *app = t->data;
  connect_now(app);
}

/* Schedules the next attempt. `delay_ms` < 0: the backoff for this attempt. */
static void schedule(app_t *app, int64_t delay_ms) {
  if (app->net_stopping) return;
  if (delay_ms < 0) delay_ms = app_backoff_ms(app->attempt, (double)rand() / ((double)RAND_MAX + 1.0));
  app->attempt++;
  app->conn = app->auth_failed ? APP_STOPPED : APP_WAITING;
  app->retry_at_ms = app_now_ms() + delay_ms;
  uv_timer_start(&app->retry, on_retry, (uint64_t)delay_ms, 0);
  if (app->args.plain) {
    plain_line(app->out, app_now_ms(), "%s; reconnecting in %.1fs",
               app->last_error[0] ? app->last_error : "offline", (double)delay_ms / 1000.0);
  }
  app__dirty(app);
}

/* ---- the Socket.IO link ------------------------------------------------------------------- */

static void forget_load(app_t *app) {
  app->load_gen++; /* an answer still on its way is now ignored */
  cJSON_Delete(app->listing);
  app->listing = NULL;
  app->before[0] = '\0';
  app->reload_again = 0;
  app__drop_held(app);
}

static void on_sio_connect(sioc_t *s, const char *sid, const char *pid, int recovered) {
  app_t *app = sioc_data(s);
  (void)pid;
  log_info("connected to %s (sid %s%s)", app->args.server, sid, recovered ? ", recovered" : "");
  app->auth_failed = 0;
  app->last_error[0] = '\0';
  if (app->args.plain) plain_line(app->out, app_now_ms(), "connected to %s", app->args.server);
  app->conn = APP_LOADING;
  forget_load(app);
  start_load(app);
  app__dirty(app);
}

static void on_sio_connect_error(sioc_t *s, const char *message, const char *data, size_t data_len) {
  app_t *app = sioc_data(s);
  (void)data;
  (void)data_len;
  if (strcmp(message, "unauthorized") == 0) {
    app->auth_failed = 1;
    snprintf(app->last_error, sizeof(app->last_error), "unauthorized: check --token");
  } else {
    snprintf(app->last_error, sizeof(app->last_error), "refused: %.120s", message);
  }
  app__say(app, UI_ERROR, "The server refused this display: %s", app->last_error);
}

static void on_sio_event(sioc_t *s, const char *event, const char *args, size_t args_len, int64_t ack_id) {
  app_t *app = sioc_data(s);
  kds_slice first;
  size_t pos = 0;
  (void)ack_id; /* the server never asks the display for an ack */
  if (strcmp(event, "new-order") != 0 && strcmp(event, "order-updated") != 0 &&
      strcmp(event, "order-deleted") != 0)
    return;
  /* The payload is the first argument; with connection state recovery the server adds an
   * offset string after it, which is not ours to read. */
  if (sio_args_next((kds_slice){args, args_len}, &pos, &first) == 1) {
    app_event_in(app, event, first.ptr, first.len);
  } else {
    log_warn("event %s without a payload; ignored", event);
  }
}

static void net_finish(app_t *app) {
  /* Only once the link is fully down: the hub must outlive every connection. */
  if (app->sio) sioc_free(app->sio);
  app->sio = NULL;
  if (app->hub) ws_hub_free(app->hub);
  app->hub = NULL;
}

static void on_sio_disconnect(sioc_t *s, int err, const char *reason) {
  app_t *app = sioc_data(s);
  int was_live = app->conn == APP_LIVE;
  app->link_open = 0;
  forget_load(app);
  if (app->net_stopping) {
    net_finish(app);
    return;
  }
  if (!app->auth_failed) {
    if (err)
      snprintf(app->last_error, sizeof(app->last_error), "%s: %s", reason, kds_strerror(err));
    else
      snprintf(app->last_error, sizeof(app->last_error), "%s", reason);
  }
  log_info("link down: %s", app->last_error);
  if (was_live) app->attempt = 0; /* a link that worked: start the backoff from the bottom */
  /* A refused token needs a person: try again slowly. */
  schedule(app, app->auth_failed ? APP_BACKOFF_MAX_MS : -1);
}

static const sioc_callbacks sio_cbs = {on_sio_connect, on_sio_connect_error, on_sio_event, on_sio_disconnect};

static void connect_now(app_t *app) {
  char path[300];
  kds_buf auth = KDS_BUF_INIT;
  int rc;
  if (app->net_stopping || app->link_open) return;
  snprintf(path, sizeof(path), "%s/socket.io/", app->base_path);
  if (kds_buf_adds(&auth, "{\"token\":") || sio_json_quote(&auth, app->args.token, strlen(app->args.token)) ||
      kds_buf_addc(&auth, '}')) {
    rc = KDS_ENOMEM;
  } else {
    sioc_opts o = {0};
    o.host = app->host;
    o.port = app->port;
    o.path = path;
    o.auth = auth.base;
    o.timeout_ms = CONNECT_TIMEOUT_MS;
    /* No connection state recovery: the REST reload already covers what was missed, and a
     * replay would resend an event that killed the link (too big, unparsable) before every
     * CONNECT reply, forever. A fresh session each time cannot get stuck that way. */
    o.recover = 0;
    o.track_offset = 0;
    rc = sioc_connect(app->sio, &o);
  }
  kds_buf_release(&auth);
  if (rc) {
    snprintf(app->last_error, sizeof(app->last_error), "cannot connect: %s", kds_strerror(rc));
    schedule(app, -1);
    return;
  }
  app->link_open = 1;
  app->conn = APP_CONNECTING;
  app->retry_at_ms = 0;
  app__dirty(app);
}

/* ---- the open queue over REST ------------------------------------------------------------- */

typedef struct load_req {
  app_t *app;
  unsigned gen;
} load_req;

/* The link is up but the load failed: drop the link and try the whole cycle again. */
static void load_failed(app_t *app, const char *fmt, const char *detail) {
  snprintf(app->last_error, sizeof(app->last_error), fmt, detail);
  app__say(app, UI_ERROR, "%s", app->last_error);
  forget_load(app);
  if (app->link_open)
    sioc_disconnect(app->sio); /* on_disconnect schedules the retry */
  else
    schedule(app, -1);
}

static void load_done(app_t *app) {
  cJSON *list = app->listing;
  app->listing = NULL;
  app->before[0] = '\0';
  app_listing_apply(app, list); /* also applies the held events */
  cJSON_Delete(list);
  app->conn = APP_LIVE;
  app->attempt = 0;
  app->retry_at_ms = 0;
  app->last_error[0] = '\0';
  if (app->args.plain) plain_line(app->out, app_now_ms(), "live");
  app__dirty(app);
}

/* The server's clock from the response's Date header ("Sun, 06 Nov 1994 08:49:37 GMT"):
 * ages are measured on it, so a kitchen PC whose clock is off does not make every ticket
 * look late (or fresh). Only a difference of 2 s or more counts (Date has 1 s steps). */
static void take_skew(app_t *app, const httpc_response *resp) {
  size_t len;
  const char *d = httpc_header(resp, "Date", &len);
  char buf[64];
  struct tm tm;
  if (!d || len == 0 || len >= sizeof(buf)) return;
  memcpy(buf, d, len);
  buf[len] = '\0';
  memset(&tm, 0, sizeof(tm));
  const char *end = strptime(buf, "%a, %d %b %Y %H:%M:%S GMT", &tm);
  if (!end || *end) return;
  int64_t server = (int64_t)timegm(&tm) * 1000 + 500; /* mid-second */
  int64_t skew = server - app_now_ms();
  app->model.skew_ms = (skew >= 2000 || skew <= -2000) ? skew : 0;
}

static void on_load(void *ud, int err, const httpc_response *resp) {
  load_req *req = ud;
  app_t *app = req->app;
  int stale = req->gen != app->load_gen || app->net_stopping;
  cJSON *page, *it, *last = NULL;
  int count = 0;
  char msg[160];
  free(req);
  if (stale) return;
  if (err) {
    load_failed(app, "could not load the open orders: %s", kds_strerror(err));
    return;
  }
  if (resp->status != 200) {
    /* the error shape of SPEC 3: {"error":{"code","message"}} */
    cJSON *body = cJSON_ParseWithLength(resp->body, resp->body_len);
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(body, "error");
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(e, "message");
    snprintf(msg, sizeof(msg), "HTTP %d%s%.100s", resp->status, cJSON_IsString(m) ? ": " : "",
             cJSON_IsString(m) ? m->valuestring : "");
    cJSON_Delete(body);
    if (resp->status == 401 || resp->status == 403) {
      app->auth_failed = 1;
      snprintf(app->last_error, sizeof(app->last_error), "unauthorized: check --token (%.100s)", msg);
      app__say(app, UI_ERROR, "%s", app->last_error);
      forget_load(app);
      if (app->link_open) sioc_disconnect(app->sio);
      return;
    }
    load_failed(app, "could not load the open orders: %s", msg);
    return;
  }
  take_skew(app, resp);
  page = app_json_parse(resp->body, resp->body_len);
  if (!cJSON_IsArray(page)) {
    cJSON_Delete(page);
    load_failed(app, "could not load the open orders: %s", "the answer is not a JSON array");
    return;
  }
  if (!app->listing && !(app->listing = cJSON_CreateArray())) {
    cJSON_Delete(page);
    load_failed(app, "could not load the open orders: %s", "out of memory");
    return;
  }
  while ((it = cJSON_DetachItemFromArray(page, 0)) != NULL) {
    last = it;
    count++;
    cJSON_AddItemToArray(app->listing, it);
  }
  cJSON_Delete(page);
  if (count >= APP_LOAD_PAGE && cJSON_GetArraySize(app->listing) < MODEL_MAX_TICKETS) {
    /* a full page: there may be more, older ones (the listing is newest first) */
    const cJSON *inv = cJSON_GetObjectItemCaseSensitive(last, "invoice_number");
    if (cJSON_IsString(inv) && strlen(inv->valuestring) < sizeof(app->before) &&
        strcmp(inv->valuestring, app->before) != 0) {
      snprintf(app->before, sizeof(app->before), "%s", inv->valuestring);
      start_load(app);
      return;
    }
  }
  if (app->reload_again) {
    /* events were dropped during this load: a fresh listing covers them */
    cJSON_Delete(app->listing);
    app->listing = NULL;
    app->before[0] = '\0';
    app->reload_again = 0;
    start_load(app);
    return;
  }
  load_done(app);
}

static void start_load(app_t *app) {
  char path[512], headers[600];
  load_req *req = malloc(sizeof(*req));
  int rc;
  if (!req) {
    load_failed(app, "could not load the open orders: %s", "out of memory");
    return;
  }
  req->app = app;
  req->gen = ++app->load_gen;
  snprintf(path, sizeof(path), "%s/api/v1/orders?status=new,preparing,ready&limit=%d%s%s", app->base_path,
           APP_LOAD_PAGE, app->before[0] ? "&before=" : "", app->before);
  snprintf(headers, sizeof(headers), "Authorization: Bearer %s\r\n", app->args.token);
  rc = httpc_request(app->http, "GET", path, headers, NULL, 0, on_load, req);
  if (rc) {
    free(req);
    load_failed(app, "could not load the open orders: %s", kds_strerror(rc));
  }
}

void app_net_reload_later(app_t *app) {
  app__drop_held(app);
  app->reload_again = 1;
}

/* ---- status changes ------------------------------------------------------------------------- */

static void on_status_ack(void *ud, int err, const char *args, size_t len) {
  app_bump *b = ud;
  app_t *app = b->app;
  kds_slice first;
  size_t pos = 0;
  cJSON *a = NULL;
  const cJSON *reply = NULL, *okv;
  app->bumps--;
  model_set_pending(&app->model, b->invoice, 0);
  if (app->quitting) goto out;
  if (err) {
    /* Never silent: the change may or may not have been made; the next load tells. */
    app__say(app, UI_ERROR, "%s -> %s: %s (not confirmed; check the ticket)", b->invoice,
             model_status_label(b->to),
             err == UV_ETIMEDOUT ? "no answer from the server" : "link lost before the answer");
    goto out;
  }
  if (sio_args_next((kds_slice){args, len}, &pos, &first) == 1)
    reply = a = app_json_parse(first.ptr, first.len);
  okv = cJSON_GetObjectItemCaseSensitive(reply, "ok");
  if (cJSON_IsTrue(okv)) {
    cJSON *order = cJSON_GetObjectItemCaseSensitive(reply, "order");
    if (cJSON_IsObject(order)) {
      /* show it now rather than waiting for the broadcast (which changes nothing then) */
      char *text = cJSON_PrintUnformatted(order);
      if (text) app_event_in(app, "order-updated", text, strlen(text));
      free(text);
    }
    if (b->push) model_recall_push(&app->model, b->invoice, b->from, b->to, app_now_ms());
    app__say(app, UI_OK, "%s %s %s%s", b->invoice, b->recall ? "recalled to" : "is now",
             model_status_label(b->to), b->push ? "  (r: recall)" : "");
  } else {
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(reply, "error");
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(e, "message");
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(e, "code");
    app__say(app, UI_ERROR, "%s -> %s refused: %.150s", b->invoice, model_status_label(b->to),
             cJSON_IsString(m)   ? m->valuestring
             : cJSON_IsString(c) ? c->valuestring
                                 : "no reason given");
  }
out:
  cJSON_Delete(a);
  free(b);
}

int app_net_set_status(app_t *app, const char *invoice, enum ticket_status from, enum ticket_status to,
                       int bump, int recall) {
  kds_buf args = KDS_BUF_INIT;
  app_bump *b;
  int rc;
  if (app->args.feed[0] || !app->sio || app->conn != APP_LIVE || !sioc_connected(app->sio)) {
    const char *why = app->args.feed[0]             ? "no server (feed mode)"
                      : app->conn == APP_LOADING    ? "still loading the open orders"
                      : app->conn == APP_CONNECTING ? "connecting"
                                                    : "offline";
    app__say(app, UI_ERROR, "%s -> %s NOT SENT: %s. Try again when LIVE.", invoice, model_status_label(to),
             why);
    return KDS_ECLOSED;
  }
  b = calloc(1, sizeof(*b));
  if (!b) {
    app__say(app, UI_ERROR, "%s -> %s NOT SENT: out of memory", invoice, model_status_label(to));
    return KDS_ENOMEM;
  }
  b->app = app;
  snprintf(b->invoice, sizeof(b->invoice), "%s", invoice);
  b->from = from;
  b->to = to;
  b->push = bump;
  b->recall = recall;
  b->sent_ms = app_now_ms();
  rc = kds_buf_adds(&args, "{\"invoice_number\":");
  if (!rc) rc = sio_json_quote(&args, invoice, strlen(invoice));
  if (!rc) rc = kds_buf_addf(&args, ",\"status\":\"%s\"}", model_status_name(to));
  if (!rc)
    rc = sioc_emit(app->sio, "order-status", args.base, args.len, on_status_ack, b, APP_ACK_TIMEOUT_MS);
  kds_buf_release(&args);
  if (rc) {
    free(b);
    app__say(app, UI_ERROR, "%s -> %s NOT SENT: %s", invoice, model_status_label(to), kds_strerror(rc));
    return rc;
  }
  app->bumps++;
  model_set_pending(&app->model, invoice, 1);
  app__say(app, UI_INFO, "%s -> %s: sent, waiting for the server…", invoice, model_status_label(to));
  return 0;
}

/* ---- lifecycle ------------------------------------------------------------------------------ */

int app_net_start(app_t *app, char *err, size_t errlen) {
  int https;
  httpc_opts ho = {APP_LOAD_TIMEOUT_MS, APP_LOAD_MAX_BYTES};
  if (app_parse_url(app->args.server, app->host, sizeof(app->host), &app->port, app->base_path,
                    sizeof(app->base_path), &https) != 0) {
    snprintf(err, errlen, "bad --server \"%s\"", app->args.server);
    return KDS_EINVAL;
  }
  srand((unsigned)app_now_ms() ^ (unsigned)getpid()); /* jitter only: no need for a CSPRNG */
  app->hub = ws_hub_new(app->loop);
  app->sio = app->hub ? sioc_new(app->hub, &sio_cbs, app) : NULL;
  app->http = httpc_new(app->loop, app->host, app->port, &ho);
  if (!app->hub || !app->sio || !app->http) {
    snprintf(err, errlen, "out of memory");
    return KDS_ENOMEM;
  }
  app->conn = APP_CONNECTING;
  uv_timer_start(&app->retry, on_retry, 0, 0); /* the first attempt, from the loop */
  return 0;
}

void app_net_stop(app_t *app) {
  if (app->net_stopping) return;
  app->net_stopping = 1;
  forget_load(app);
  if (app->http) httpc_free(app->http);
  app->http = NULL;
  if (app->link_open)
    sioc_disconnect(app->sio); /* on_disconnect finishes */
  else
    net_finish(app);
}

void app_net_release(app_t *app) {
  cJSON_Delete(app->listing);
  app->listing = NULL;
}
