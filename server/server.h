/* server.h: struct server, the one context of kds-server. Every subsystem hangs off it and
 * finds it through loop->data or its own back-pointer; there are no mutable globals. */
#ifndef KDS_SERVER_H
#define KDS_SERVER_H

#include <uv.h>

#include "broadcast.h"
#include "config.h"

struct http_server;
struct http_options;
struct db;
struct auth;
struct realtime;
struct metrics;
struct static_site;

/* What GET /healthz reports beyond "the loop answers": returns 0 while the server can do
 * its work, or a negative code with a one-line reason in `why` (then /healthz is 503
 * {"status":"unavailable","message":why}). */
typedef int (*server_health_fn)(void *ud, char *why, size_t size);

typedef struct server {
  uv_loop_t *loop;             /* the one event loop; loop->data points back here */
  kds_config cfg;              /* options, read-only after start-up */
  struct http_server *http;    /* http.c: listener, connections, router */
  struct db *db;               /* db.c: SQLite on its own thread */
  struct auth *auth;           /* auth.c: token cache, rate limiters */
  struct realtime *rt;         /* realtime.c: Engine.IO + Socket.IO + order events */
  struct redis_adapter *redis; /* cluster/redis_adapter.c: --redis, wraps bcast; NULL without */
  broadcast bcast;             /* where ordersvc publishes committed changes (realtime installs itself) */
  struct metrics *metrics;     /* metrics.c: counters for GET /metrics; owned (server_run) */
  struct static_site *site;    /* static.c: public/ files and the client bundle; owned */
  server_health_fn health_fn;  /* NULL: /healthz is 200 while the loop answers */
  void *health_ud;
  uv_signal_t sigint; /* graceful shutdown */
  uv_signal_t sigterm;
  uv_timer_t auto_complete; /* --auto-complete's sweep (SPEC 10.7) */
  int port;                 /* the port actually bound (cfg.port may be 0) */
  int stopping;             /* set once shutdown has begun */
  int exit_code;
} server_t;

/* Runs the server described by `cfg` until SIGINT/SIGTERM; returns the process exit code.
 * Start-up failures (database, port in use) are logged and give a non-zero code. */
int server_run(const kds_config *cfg);

/* Sets the hook GET /healthz asks (api.c: the store must take writes). */
void server_set_health(server_t *srv, server_health_fn fn, void *ud);

/* The HTTP options of srv->cfg: limits, the CORS list, and on_stat feeding srv->metrics
 * (which must outlive the HTTP server). */
void server_http_options(server_t *srv, struct http_options *o);

/* Registers the product's own routes on `hs`: GET /healthz (srv's health hook) and
 * GET /metrics (srv->metrics). server_run calls it; tests call it on their own loop with
 * a zeroed server_t whose metrics they set. Returns 0 or the error of http_route_add. */
int server_routes_add(server_t *srv, struct http_server *hs);

/* Begins a graceful shutdown: stop accepting, close clients, finish commits in flight,
 * then the loop ends. Idempotent. */
void server_stop(server_t *srv);

#endif
