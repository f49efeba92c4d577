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

#include "app_rest.h"

#include <inttypes.h>
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
#include "tls.h"

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
  app_rest_link_changed(app);
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
  app_rest_link_changed(app);
  uv_timer_stop(&app->list_timer);
  forget_load(app);
  if (app->net_stopping) {
    net_finish(app);
    return;
  }
  if (!app->auth_failed) {
    if (err == KDS_ETLS) {
      /* a bad certificate needs a person: say it on the status line too, not only in the
       * header (which may be too narrow for it); --plain prints it with the retry anyway */
      snprintf(app->last_error, sizeof(app->last_error), "%s", app_net_strerror(app, err));
      if (!app->args.plain) app__say(app, UI_ERROR, "%s", app->last_error);
    } else if (err)
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
    o.tls = app->tls;
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
  if (app->live_only) app__say(app, UI_OK, "The order listing answers again: every open order is shown");
  app->live_only = app->ui.live_only = 0;
  if (app->args.plain) plain_line(app->out, app_now_ms(), "live");
  app_net_flush(app); /* what was done while the link was down, in order */
  app_rest_stats_soon(app);
  app__dirty(app);
}

#define LIST_RETRY_MS 30000

static void on_list_retry(uv_timer_t *t) {
  app_t *app = t->data;
  if (app->conn != APP_LIVE || !app->live_only || app->net_stopping) return;
  /* hold events meanwhile, as on connect: the listing must not undo what they did */
  app->conn = APP_LOADING;
  forget_load(app);
  start_load(app);
  app__dirty(app);
}

/* The server has no order listing (SPEC 5.1: the official socket.io server with only the
 * seed's events): show what arrives live rather than nothing, say so, and try the listing
 * again now and then. Tickets already on screen stay. */
static int looks_like_json(const char *body, size_t len) {
  size_t i = 0;
  while (i < len && (body[i] == ' ' || body[i] == '\t' || body[i] == '\r' || body[i] == '\n')) i++;
  return i < len && (body[i] == '[' || body[i] == '{');
}

static void go_live_only(app_t *app, const char *why) {
  if (!app->live_only)
    app__say(app, UI_ERROR, "No order listing here (%s): live orders only, the listing is tried every %d s",
             why, LIST_RETRY_MS / 1000);
  log_warn("listing unavailable (%s): live only", why);
  app->live_only = app->ui.live_only = 1;
  app->load_gen++;
  cJSON_Delete(app->listing);
  app->listing = NULL;
  app->before[0] = '\0';
  app->reload_again = 0;
  app->conn = APP_LIVE;
  app__apply_held(app); /* what arrived while the listing was asked for */
  app->attempt = 0;
  app->retry_at_ms = 0;
  app->last_error[0] = '\0';
  if (app->args.plain) plain_line(app->out, app_now_ms(), "live (no listing: live orders only)");
  uv_timer_start(&app->list_timer, on_list_retry, LIST_RETRY_MS, 0);
  app_net_flush(app);
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
    load_failed(app, "could not load the open orders: %s", app_net_strerror(app, err));
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
    if (resp->status == 404 && !app->listing) {
      go_live_only(app, msg);
      return;
    }
    load_failed(app, "could not load the open orders: %s", msg);
    return;
  }
  take_skew(app, resp);
  page = app_json_parse(resp->body, resp->body_len);
  if (!cJSON_IsArray(page)) {
    cJSON_Delete(page);
    /* A page of HTML or text is a server without our API: run live-only. Broken or
     * wrong-shaped JSON is our API failing: an error, retried as any other. */
    if (!app->listing && !looks_like_json(resp->body, resp->body_len)) {
      go_live_only(app, "the answer is not JSON");
      return;
    }
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
  if (count >= APP_LOAD_PAGE && !app->args.orders_url[0] &&
      cJSON_GetArraySize(app->listing) < MODEL_MAX_TICKETS) {
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
  if (app->args.orders_url[0]) /* --orders-url: one request, as given (no paging) */
    snprintf(path, sizeof(path), "%s", app->args.orders_url);
  else
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

/* ---- changes to the server: the outbox ------------------------------------------------------ */

static void send_next(app_t *app);

/* A ticket is pending while the outbox holds a change for it. */
static void mark_pending(app_t *app, const char *invoice) {
  model_set_pending(&app->model, invoice, outbox_count_for(&app->outbox, invoice) > 0);
}

static void describe(const outbox_item *it, char *buf, size_t size) {
  if (it->kind == OUTBOX_LINE)
    snprintf(buf, size, "%s line %" PRId64 " %s", it->invoice, it->line, it->done ? "done" : "not done");
  else
    snprintf(buf, size, "%s -> %s", it->invoice, model_status_label(it->to));
}

static int link_live(const app_t *app) {
  return app->sio && app->conn == APP_LIVE && sioc_connected(app->sio);
}

static void on_change_ack(void *ud, int err, const char *args, size_t len) {
  app_t *app = ud;
  outbox_item done;
  kds_slice first;
  size_t pos = 0;
  cJSON *a = NULL;
  const cJSON *reply = NULL;
  char what[96];
  if (app->quitting || !app->outbox.in_flight) return;
  describe(outbox_head(&app->outbox), what, sizeof(what));
  if (err) {
    /* The change may or may not have been made: send it again with the same id, which the
     * server applies at most once. */
    if (!outbox_unanswered(&app->outbox)) {
      if (err == UV_ETIMEDOUT)
        app__say(app, UI_ERROR, "%s: no answer from the server; sending it again (same action id)", what);
      else
        log_info("%s: link lost before the answer; it goes again on reconnect", what);
      send_next(app);
      return;
    }
    outbox_settle(&app->outbox, &done);
    mark_pending(app, done.invoice);
    app__say(app, UI_ERROR, "%s: no answer after %d tries (not confirmed; check the ticket)", what,
             OUTBOX_MAX_SENDS);
    send_next(app);
    return;
  }
  outbox_settle(&app->outbox, &done);
  mark_pending(app, done.invoice);
  if (sio_args_next((kds_slice){args, len}, &pos, &first) == 1)
    reply = a = app_json_parse(first.ptr, first.len);
  if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(reply, "ok"))) {
    cJSON *order = cJSON_GetObjectItemCaseSensitive(reply, "order");
    if (cJSON_IsObject(order)) {
      /* show it now rather than waiting for the broadcast (which changes nothing then) */
      char *text = cJSON_PrintUnformatted(order);
      if (text) app_event_in(app, "order-updated", text, strlen(text));
      free(text);
    }
    if (done.push) model_recall_push(&app->model, done.invoice, done.from, done.to, app_now_ms());
    if (done.kind == OUTBOX_LINE)
      app__say(app, UI_OK, "%s", what);
    else
      app__say(app, UI_OK, "%s %s %s%s", done.invoice, done.recall ? "recalled to" : "is now",
               model_status_label(done.to), done.push ? "  (r: recall)" : "");
  } else {
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(reply, "error");
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(e, "message");
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(e, "code");
    app__say(app, UI_ERROR, "%s refused: %.150s", what,
             cJSON_IsString(m)   ? m->valuestring
             : cJSON_IsString(c) ? c->valuestring
                                 : "no reason given");
  }
  cJSON_Delete(a);
  send_next(app);
}

/* Sends the oldest waiting change when the link is live and nothing is in flight. */
static void send_next(app_t *app) {
  kds_buf payload = KDS_BUF_INIT;
  outbox_item *it;
  int rc;
  if (app->quitting || app->net_stopping || !link_live(app) || !(it = outbox_next(&app->outbox))) return;
  rc = outbox_payload(it, &payload);
  if (!rc)
    rc = sioc_emit(app->sio, outbox_event(it), payload.base, payload.len, on_change_ack, app,
                   APP_ACK_TIMEOUT_MS);
  kds_buf_release(&payload);
  if (rc) {
    /* not even queued on the link (no memory, link closing): it waits for the next LIVE */
    log_warn("%s %s: not sent: %s", outbox_event(it), it->id, kds_strerror(rc));
    outbox_unanswered(&app->outbox);
  }
}

void app_net_flush(app_t *app) {
  for (size_t i = 0; i < app->outbox.n; i++) mark_pending(app, outbox_at(&app->outbox, i)->invoice);
  send_next(app);
}

/* Queues `change`; said on the status line when it has to wait for the link. */
static int queue_change(app_t *app, const outbox_item *change) {
  char what[96];
  describe(change, what, sizeof(what));
  if (app->args.feed[0]) {
    app__say(app, UI_ERROR, "%s NOT SENT: no server (feed mode)", what);
    return KDS_ECLOSED;
  }
  if (outbox_add(&app->outbox, change, NULL) != 0) {
    app__say(app, UI_ERROR, "%s NOT SENT: %d changes are already waiting for the link", what, OUTBOX_MAX);
    return KDS_EFULL;
  }
  mark_pending(app, change->invoice);
  if (link_live(app)) {
    if (app->outbox.n == 1) app__say(app, UI_INFO, "%s: sent, waiting for the server…", what);
    send_next(app);
  } else {
    app__say(app, UI_INFO, "%s: queued (%zu waiting); sent when the link is back", what, app->outbox.n);
  }
  return 0;
}

int app_net_set_status(app_t *app, const char *invoice, enum ticket_status from, enum ticket_status to,
                       int bump, int recall) {
  outbox_item c;
  memset(&c, 0, sizeof(c));
  c.kind = OUTBOX_STATUS;
  snprintf(c.invoice, sizeof(c.invoice), "%s", invoice);
  c.from = from;
  c.to = to;
  c.push = bump;
  c.recall = recall;
  c.made_ms = app_now_ms();
  return queue_change(app, &c);
}

int app_net_line_done(app_t *app, const char *invoice, int64_t line, int done) {
  outbox_item c;
  memset(&c, 0, sizeof(c));
  c.kind = OUTBOX_LINE;
  snprintf(c.invoice, sizeof(c.invoice), "%s", invoice);
  c.line = line;
  c.done = done;
  c.made_ms = app_now_ms();
  return queue_change(app, &c);
}

/* ---- lifecycle ------------------------------------------------------------------------------ */

const char *app_net_strerror(app_t *app, int err) {
  if (err != KDS_ETLS || !app->tls) return kds_strerror(err);
  snprintf(app->err_text, sizeof(app->err_text), "TLS: %s",
           tls_ctx_error(app->tls)[0] ? tls_ctx_error(app->tls) : kds_strerror(err));
  return app->err_text;
}

int app_net_start(app_t *app, char *err, size_t errlen) {
  int https, rc;
  httpc_opts ho = {APP_LOAD_TIMEOUT_MS, APP_LOAD_MAX_BYTES, NULL};
  if (app_parse_url(app->args.server, app->host, sizeof(app->host), &app->port, app->base_path,
                    sizeof(app->base_path), &https) != 0) {
    snprintf(err, errlen, "bad --server \"%s\"", app->args.server);
    return KDS_EINVAL;
  }
  if (https) {
    /* One context for the WebSocket and the REST connections: the CA store is read once. */
    rc = tls_ctx_new(&app->tls, app->args.ca_file[0] ? app->args.ca_file : NULL, err, errlen);
    if (rc) {
      if (rc == KDS_ENOMEM) snprintf(err, errlen, "out of memory");
      return rc;
    }
    ho.tls = app->tls;
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
  tls_ctx_free(app->tls); /* connections still closing keep their own reference */
  app->tls = NULL;
}
