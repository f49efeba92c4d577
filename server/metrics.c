/* metrics.c: the counter registry and its Prometheus rendering (see metrics.h). */
#include "metrics.h"

#include <inttypes.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "err.h"
#include "server.h"

struct metrics {
  _Atomic uint64_t counters[METRICS_N];
  _Atomic int64_t gauges[METRICS_G_N];
  _Atomic uint64_t http_status[600]; /* by status code, 100..599 */
  uint64_t started_ns;
};

static const struct {
  const char *name, *labels, *help;
} counter_info[METRICS_N] = {
#define XX(id, name, labels, help) {name, labels, help},
    METRICS_COUNTER_MAP(XX)
#undef XX
};

static const struct {
  const char *name, *help;
} gauge_info[METRICS_G_N] = {
#define XX(id, name, help) {name, help},
    METRICS_GAUGE_MAP(XX)
#undef XX
};

int metrics_new(struct metrics **out) {
  struct metrics *m = calloc(1, sizeof(*m));
  if (m == NULL) return KDS_ENOMEM;
  m->started_ns = uv_hrtime();
  *out = m;
  return 0;
}

void metrics_free(struct metrics *m) {
  free(m);
}

void metrics_reg_add(struct metrics *m, metrics_id id, uint64_t n) {
  if (m == NULL || (unsigned)id >= METRICS_N) return;
  atomic_fetch_add_explicit(&m->counters[id], n, memory_order_relaxed);
}

uint64_t metrics_reg_get(const struct metrics *m, metrics_id id) {
  if (m == NULL || (unsigned)id >= METRICS_N) return 0;
  return atomic_load_explicit(&((struct metrics *)m)->counters[id], memory_order_relaxed);
}

void metrics_reg_gauge_add(struct metrics *m, metrics_gauge_id id, int64_t delta) {
  if (m == NULL || (unsigned)id >= METRICS_G_N) return;
  atomic_fetch_add_explicit(&m->gauges[id], delta, memory_order_relaxed);
}

void metrics_inc(struct server *srv, metrics_id id) {
  if (srv) metrics_reg_add(srv->metrics, id, 1);
}

void metrics_gauge_add(struct server *srv, metrics_gauge_id id, int64_t delta) {
  if (srv) metrics_reg_gauge_add(srv->metrics, id, delta);
}

void metrics_http_status(struct metrics *m, int status) {
  if (m == NULL || status < 100 || status > 599) return;
  atomic_fetch_add_explicit(&m->http_status[status], 1, memory_order_relaxed);
}

int metrics_render(const struct metrics *cm, kds_buf *out) {
  struct metrics *m = (struct metrics *)cm; /* atomics are read with loads: no writes */
  const char *family = "";
  size_t rss = 0;
  int rc = 0, first = 1;
  if (m == NULL) return 0;
  for (int s = 100; s < 600 && rc == 0; s++) {
    uint64_t v = atomic_load_explicit(&m->http_status[s], memory_order_relaxed);
    if (v == 0) continue;
    if (first)
      rc = kds_buf_adds(out,
                        "# HELP kds_http_requests_total HTTP requests answered, by status code\n"
                        "# TYPE kds_http_requests_total counter\n");
    first = 0;
    if (rc == 0) rc = kds_buf_addf(out, "kds_http_requests_total{code=\"%d\"} %" PRIu64 "\n", s, v);
  }
  for (int i = 0; i < METRICS_N && rc == 0; i++) {
    uint64_t v = atomic_load_explicit(&m->counters[i], memory_order_relaxed);
    if (strcmp(family, counter_info[i].name) != 0) {
      family = counter_info[i].name;
      rc = kds_buf_addf(out, "# HELP %s %s\n# TYPE %s counter\n", family, counter_info[i].help, family);
    }
    if (rc == 0 && counter_info[i].labels[0])
      rc = kds_buf_addf(out, "%s{%s} %" PRIu64 "\n", family, counter_info[i].labels, v);
    else if (rc == 0)
      rc = kds_buf_addf(out, "%s %" PRIu64 "\n", family, v);
  }
  for (int i = 0; i < METRICS_G_N && rc == 0; i++)
    rc = kds_buf_addf(out, "# HELP %s %s\n# TYPE %s gauge\n%s %" PRId64 "\n", gauge_info[i].name,
                      gauge_info[i].help, gauge_info[i].name, gauge_info[i].name,
                      atomic_load_explicit(&m->gauges[i], memory_order_relaxed));
  if (rc == 0 && uv_resident_set_memory(&rss) != 0) rss = 0;
  if (rc == 0)
    rc = kds_buf_addf(out,
                      "# TYPE process_resident_memory_bytes gauge\nprocess_resident_memory_bytes %zu\n"
                      "# TYPE process_uptime_seconds gauge\nprocess_uptime_seconds %" PRIu64 "\n",
                      rss, (uv_hrtime() - m->started_ns) / 1000000000u);
  return rc;
}
