/* server.h: struct server, the one context of kds-server. Every subsystem hangs off it and
 * finds it through loop->data or its own back-pointer; there are no mutable globals. */
#ifndef KDS_SERVER_H
#define KDS_SERVER_H

#include <uv.h>

#include "broadcast.h"
#include "config.h"

struct http_server;
struct db;
struct auth;
struct realtime;
struct metrics;

typedef struct server {
  uv_loop_t *loop;          /* the one event loop; loop->data points back here */
  kds_config cfg;           /* options, read-only after start-up */
  struct http_server *http; /* http.c: listener, connections, router */
  struct db *db;            /* db.c: SQLite on its own thread */
  struct auth *auth;        /* auth.c: token cache, rate limiters */
  struct realtime *rt;      /* realtime.c: Engine.IO + Socket.IO + order events */
  broadcast bcast;          /* where ordersvc publishes committed changes (realtime installs itself) */
  struct metrics *metrics;  /* metrics.c: counters for GET /metrics */
  uv_signal_t sigint;       /* graceful shutdown */
  uv_signal_t sigterm;
  int port;     /* the port actually bound (cfg.port may be 0) */
  int stopping; /* set once shutdown has begun */
  int exit_code;
} server_t;

/* Runs the server described by `cfg` until SIGINT/SIGTERM; returns the process exit code.
 * Start-up failures (database, port in use) are logged and give a non-zero code. */
int server_run(const kds_config *cfg);

/* Begins a graceful shutdown: stop accepting, close clients, finish commits in flight,
 * then the loop ends. Idempotent. */
void server_stop(server_t *srv);

#endif
