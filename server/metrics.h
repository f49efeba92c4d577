/* metrics.h: a tiny counter registry and its Prometheus text rendering for GET /metrics.
 * A fixed table of series (METRICS_COUNTER_MAP): adding one is one line here. Counters are
 * atomics, so any thread may bump them; everything else is loop-thread only. */
#ifndef KDS_METRICS_H
#define KDS_METRICS_H

#include <stdint.h>

#include "buf.h"

struct server;
struct metrics;

/* XX(id, family name, label set or "", help text). Series of one family are adjacent. */
#define METRICS_COUNTER_MAP(XX)                                                                            \
  XX(ORDERS_CREATED, "kds_orders_created_total", "", "Orders committed")                                   \
  XX(ORDERS_REPLAYED, "kds_orders_replayed_total", "", "Order creations answered from an Idempotency-Key") \
  XX(ORDERS_VOIDED, "kds_orders_voided_total", "", "Orders voided (DELETE)")                               \
  XX(STATUS_PREPARING, "kds_order_status_changes_total", "status=\"preparing\"",                           \
     "Order status changes committed")                                                                     \
  XX(STATUS_READY, "kds_order_status_changes_total", "status=\"ready\"", "")                               \
  XX(STATUS_COMPLETED, "kds_order_status_changes_total", "status=\"completed\"", "")                       \
  XX(STATUS_CANCELLED, "kds_order_status_changes_total", "status=\"cancelled\"", "")                       \
  XX(BCAST_NEW_ORDER, "kds_broadcasts_total", "event=\"new-order\"", "Socket.IO broadcasts, by event")     \
  XX(BCAST_ORDER_UPDATED, "kds_broadcasts_total", "event=\"order-updated\"", "")                           \
  XX(BCAST_ORDER_DELETED, "kds_broadcasts_total", "event=\"order-deleted\"", "")                           \
  XX(BCAST_FAILURES, "kds_broadcast_failures_total", "", "Socket.IO broadcasts that failed")               \
  XX(LOGIN_FAILURES, "kds_login_failures_total", "", "Failed logins")                                      \
  XX(RATE_LIMITED, "kds_rate_limited_total", "", "Requests refused with 429")                              \
  XX(SOCKET_CONNECTS, "kds_socket_connects_total", "", "Socket.IO clients connected")                      \
  XX(SLOW_CLIENTS_DROPPED, "kds_slow_clients_dropped_total", "", "Clients dropped for a full send queue")  \
  XX(HTTP_CONNECTIONS, "kds_http_connections_total", "", "HTTP connections accepted")                      \
  XX(HTTP_REFUSED, "kds_http_connections_refused_total", "", "HTTP connections refused (limit)")           \
  XX(EIO_PENDING_CLOSED, "kds_eio_pending_sessions_closed_total", "",                                      \
     "Engine.IO sessions closed by the pending-session caps")                                              \
  XX(REDIS_PUBLISHED, "kds_redis_published_total", "", "Broadcasts published to Redis (--redis)")          \
  XX(REDIS_PUBLISH_FAILURES, "kds_redis_publish_failures_total", "",                                       \
     "Broadcasts not sent to the other servers (Redis down or slow)")                                      \
  XX(REDIS_RECEIVED, "kds_redis_received_total", "", "Broadcasts from other servers delivered here")       \
  XX(REDIS_DROPPED, "kds_redis_dropped_total", "",                                                         \
     "Messages on our Redis channels dropped as bad, foreign or oversized")                                \
  XX(REDIS_GAPS, "kds_redis_gaps_total", "", "Redis subscriptions lost (broadcasts missed until back)")

typedef enum metrics_id {
#define XX(id, name, labels, help) METRICS_##id,
  METRICS_COUNTER_MAP(XX)
#undef XX
      METRICS_N
} metrics_id;

/* Gauges: set or moved by their owner, read at scrape time. */
#define METRICS_GAUGE_MAP(XX)                                                                               \
  XX(SOCKET_CLIENTS, "kds_socket_clients", "Connected Socket.IO clients")                                   \
  XX(HTTP_OPEN, "kds_http_connections", "Open HTTP connections (not upgraded)")                             \
  XX(EIO_PENDING, "kds_eio_pending_sessions", "Engine.IO sessions that have not made their second request") \
  XX(REDIS_SUBSCRIBED, "kds_redis_subscribed", "1 while the Redis subscription is up (--redis)")

typedef enum metrics_gauge_id {
#define XX(id, name, help) METRICS_G_##id,
  METRICS_GAUGE_MAP(XX)
#undef XX
      METRICS_G_N
} metrics_gauge_id;

/* Creates a registry (all zero; the uptime clock starts now). Returns 0 or KDS_ENOMEM. */
int metrics_new(struct metrics **out);

/* Frees it; NULL is a no-op. */
void metrics_free(struct metrics *m);

/* Adds 1 to a counter of srv->metrics. NULL srv or srv->metrics: no-op. Any thread. */
void metrics_inc(struct server *srv, metrics_id id);

/* Moves a gauge of srv->metrics. NULL srv or srv->metrics: no-op. Any thread. */
void metrics_gauge_add(struct server *srv, metrics_gauge_id id, int64_t delta);

/* The same on a registry directly (server.c feeds the HTTP layer's counts so; tests). NULL m: no-op. */
void metrics_reg_add(struct metrics *m, metrics_id id, uint64_t n);
void metrics_reg_gauge_add(struct metrics *m, metrics_gauge_id id, int64_t delta);
uint64_t metrics_reg_get(const struct metrics *m, metrics_id id);

/* Counts one HTTP response by status code: kds_http_requests_total{code="..."}. */
void metrics_http_status(struct metrics *m, int status);

/* Appends the Prometheus text exposition (format 0.0.4) of every series, plus
 * process_resident_memory_bytes and process_uptime_seconds. Returns 0 or KDS_ENOMEM. */
int metrics_render(const struct metrics *m, kds_buf *out);

#endif
