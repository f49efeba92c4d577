/* server.c: start-up, wiring and graceful shutdown of kds-server. The order of start-up is
 * the order of dependencies: the store, auth, the REST routes, the live feed, then the
 * listener. Shutdown runs the other way, asynchronously, through close callbacks. */
#include "server.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "api.h"
#include "auth.h"
#include "db.h"
#include "err.h"
#include "http.h"
#include "log.h"
#include "metrics.h"
#include "order.h"
#include "ordersvc.h"
#include "realtime.h"
#include "redis_adapter.h"
#include "static.h"

static void on_signal(uv_signal_t *h, int signum) {
  server_t *srv = h->loop->data;
  log_info("%s: shutting down", signum == SIGINT ? "SIGINT" : "SIGTERM");
  server_stop(srv);
}

static void on_http_closed(http_server_t *hs) {
  server_t *srv = http_server_ud(hs);
  srv->http = NULL;
}

/* ---- the product's routes on the HTTP layer ------------------------------------------------ */

void server_set_health(server_t *srv, server_health_fn fn, void *ud) {
  srv->health_fn = fn;
  srv->health_ud = ud;
}

static void on_healthz(http_req_t *req, void *ud) {
  static const char body[] = "{\"status\":\"ok\"}";
  server_t *srv = ud;
  char why[256] = "";
  kds_buf b = KDS_BUF_INIT;
  if (srv->health_fn == NULL || srv->health_fn(srv->health_ud, why, sizeof(why)) == 0) {
    http_reply_json(req, 200, NULL, body, sizeof(body) - 1);
    return;
  }
  if (kds_buf_adds(&b, "{\"status\":\"unavailable\",\"message\":") == 0 &&
      order_json_str(&b, why, strlen(why)) == 0 && kds_buf_addc(&b, '}') == 0) {
    http_reply_json(req, 503, NULL, b.base, b.len);
  } else {
    kds_err e;
    kds_err_set(&e, 503, "unavailable", NULL, "the server cannot take orders");
    http_reply_error(req, &e);
  }
  kds_buf_release(&b);
}

static void on_metrics(http_req_t *req, void *ud) {
  server_t *srv = ud;
  kds_buf b = KDS_BUF_INIT;
  if (metrics_render(srv->metrics, &b) != 0) {
    kds_err e;
    kds_buf_release(&b);
    kds_err_set(&e, 500, "internal_error", NULL, "the server ran out of memory");
    http_reply_error(req, &e);
    return;
  }
  http_reply(req, 200, "text/plain; version=0.0.4; charset=utf-8", NULL, b.base, b.len);
  kds_buf_release(&b);
}

/* The HTTP layer's counters, into the registry. */
static void on_http_stat(void *ud, http_stat what, int status) {
  server_t *srv = ud;
  switch (what) {
    case HTTP_STAT_CONN_OPENED:
      metrics_inc(srv, METRICS_HTTP_CONNECTIONS);
      metrics_gauge_add(srv, METRICS_G_HTTP_OPEN, 1);
      break;
    case HTTP_STAT_CONN_REFUSED:
      metrics_inc(srv, METRICS_HTTP_REFUSED);
      break;
    case HTTP_STAT_CONN_CLOSED:
      metrics_gauge_add(srv, METRICS_G_HTTP_OPEN, -1);
      break;
    case HTTP_STAT_ANSWER:
      metrics_http_status(srv->metrics, status);
      break;
  }
}

void server_http_options(server_t *srv, http_options *o) {
  http_options_default(o);
  if (srv->cfg.body_limit > 0) o->body_limit = (size_t)srv->cfg.body_limit;
  if (srv->cfg.max_conns > 0) o->max_conns = (size_t)srv->cfg.max_conns;
  o->cors_origins = srv->cfg.cors_origins[0] ? srv->cfg.cors_origins : "*";
  o->trust_proxy = srv->cfg.trust_proxy;
  o->on_stat = on_http_stat;
  o->stat_ud = srv;
}

int server_routes_add(server_t *srv, http_server_t *hs) {
  int rc = http_route_add(hs, "GET", "/healthz", on_healthz, srv, 0);
  if (rc == 0) rc = http_route_add(hs, "GET", "/metrics", on_metrics, srv, 0);
  return rc;
}

/* The HTTP server with the product's own routes (before api_init's: the first match wins)
 * and the static files. */
static int server_http_new(server_t *srv) {
  http_options o;
  int rc;
  server_http_options(srv, &o);
  if ((rc = http_server_new_opts(srv->loop, srv, &o, &srv->http)) != 0) return rc;
  if ((rc = server_routes_add(srv, srv->http)) != 0) return rc;
  return static_site_new(srv->http, srv->cfg.public_dir, srv->cfg.client_dir, srv->cfg.chart_dir, &srv->site);
}

/* The store has finished every queued commit and answered it; now the HTTP connections
 * that carried those answers can go. */
static void on_db_closed(void *ud) {
  server_t *srv = ud;
  if (srv->http) http_server_close(srv->http, on_http_closed);
}

void server_stop(server_t *srv) {
  if (srv->stopping) return;
  srv->stopping = 1;
  uv_close((uv_handle_t *)&srv->sigint, NULL);
  uv_close((uv_handle_t *)&srv->sigterm, NULL);
  uv_close((uv_handle_t *)&srv->auto_complete, NULL);
  /* Live clients first (they hold no durable state), then let the store finish its
   * commits in flight (their 201s are written by the still-open HTTP layer), then HTTP. */
  redis_adapter_close(srv->redis); /* it delivers into srv->rt: first */
  srv->redis = NULL;
  realtime_close(srv->rt);
  auth_close(srv->auth);
  if (srv->db)
    db_close(srv->db, on_db_closed, srv);
  else
    on_db_closed(srv);
}

static void on_walk_close(uv_handle_t *h, void *arg) {
  (void)arg;
  if (!uv_is_closing(h)) uv_close(h, NULL);
}

/* The socket commands run the same rules as REST: the realtime layer gets them as ops so
 * that it does not depend on the order service (which publishes through srv->bcast). */
static int cmd_order_status(void *ud, const kds_user *user, const char *invoice, const char *status,
                            const char *action_id, realtime_result_cb cb, void *cb_ud) {
  return ordersvc_change_status(ud, user, invoice, status, action_id, cb, cb_ud);
}

static int cmd_line_done(void *ud, const kds_user *user, const char *invoice, int64_t line, int done,
                         const char *action_id, realtime_result_cb cb, void *cb_ud) {
  return ordersvc_line_done(ud, user, invoice, line, done, 0, action_id, cb, cb_ud);
}

/* --auto-complete: a sweep every 15 s (the option counts in minutes). */
static void on_auto_complete(uv_timer_t *t) {
  server_t *srv = t->data;
  int rc = ordersvc_auto_complete(srv, order_now_ms());
  if (rc) log_warn("auto-complete: not started: %s", kds_strerror(rc));
}

int server_run(const kds_config *cfg) {
  realtime_commands cmds = {cmd_order_status, cmd_line_done, NULL};
  server_t srv;
  uv_loop_t loop;
  int r;

  memset(&srv, 0, sizeof(srv));
  srv.cfg = *cfg;
  signal(SIGPIPE, SIG_IGN);
  if ((r = uv_loop_init(&loop)) != 0) {
    log_error("kds-server: cannot create the event loop: %s", uv_strerror(r));
    return 1;
  }
  loop.data = &srv;
  srv.loop = &loop;
  cmds.ud = &srv;
  /* The signal handles exist from the start so that server_stop can always close them,
   * even when start-up fails before they are armed. */
  uv_signal_init(&loop, &srv.sigint);
  uv_signal_init(&loop, &srv.sigterm);
  uv_timer_init(&loop, &srv.auto_complete);
  srv.auto_complete.data = &srv;

  if ((r = db_open(&srv)) != 0) {
    log_error("kds-server: cannot open the database %s: %s", cfg->db_path, kds_strerror(r));
    srv.exit_code = 1;
    goto out;
  }
  if ((r = metrics_new(&srv.metrics)) != 0 || (r = server_http_new(&srv)) != 0 ||
      (r = auth_init(&srv)) != 0 || (r = api_init(&srv)) != 0 || (r = realtime_init(&srv, &cmds)) != 0 ||
      (cfg->redis_url[0] && (r = redis_adapter_start(&srv, &srv.redis)) != 0)) {
    log_error("kds-server: start-up failed: %s", kds_strerror(r));
    srv.exit_code = 1;
    server_stop(&srv);
    goto run;
  }
  if ((r = http_server_listen(srv.http, cfg->host, cfg->port, &srv.port)) != 0) {
    log_error("kds-server: cannot listen on %s:%d: %s", cfg->host, cfg->port, kds_strerror(r));
    srv.exit_code = 1;
    server_stop(&srv);
    goto run;
  }
  uv_signal_start(&srv.sigint, on_signal, SIGINT);
  uv_signal_start(&srv.sigterm, on_signal, SIGTERM);
  if (cfg->auto_complete > 0) uv_timer_start(&srv.auto_complete, on_auto_complete, 1000, 15000);
  log_info("🚀 kds-server listening on http://%s:%d (db %s, ws-auth %s)", cfg->host, srv.port, cfg->db_path,
           cfg->ws_auth ? "on" : "off");

run:
  uv_run(&loop, UV_RUN_DEFAULT);
out:
  /* Everything closes itself on shutdown; anything left is a bug, but the loop must
   * still close cleanly. */
  uv_walk(&loop, on_walk_close, NULL);
  uv_run(&loop, UV_RUN_DEFAULT);
  if (uv_loop_close(&loop) != 0) log_warn("kds-server: handles left open at exit");
  static_site_free(srv.site); /* after the HTTP server: its routes point into both */
  metrics_free(srv.metrics);
  return srv.exit_code;
}
