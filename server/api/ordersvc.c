/* ordersvc.c: order operations on top of the DB thread, and their broadcasts. */
#include "ordersvc.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broadcast.h"
#include "db.h"
#include "log.h"
#include "metrics.h"
#include "order.h"
#include "server.h"

typedef struct call {
  struct server *srv;
  ordersvc_cb cb;
  ordersvc_create_cb create_cb;
  void *ud;
} call;

/* Fills a 500 for a storage failure. */
static const kds_err *internal_error(kds_err *e, int rc) {
  log_error("order operation failed: %s", kds_strerror(rc));
  kds_err_set(e, 500, "internal_error", NULL,
              "the server failed to handle this request; the error is logged");
  return e;
}

static const kds_err *result_err(db_req *r) {
  if (r->rc == 0) return NULL;
  if (r->rc == KDS_EREQUEST) return &r->err;
  return internal_error(&r->err, r->rc);
}

/* Returns how many sockets got it, or a negative error (logged and counted by the
 * implementation behind srv->bcast):
 * what was committed stays committed whatever this returns (SPEC 4, seed). */
static ssize_t publish(struct server *srv, const char *event, int64_t outlet_id, const char *json, size_t len,
                       metrics_id counter) {
  ssize_t n = broadcast_publish(&srv->bcast, event, outlet_id, json, len);
  if (n >= 0) metrics_inc(srv, counter);
  return n;
}

static void on_create(db_req *r) {
  call *c = r->ud;
  if (r->rc == 0 && !r->replayed) {
    metrics_inc(c->srv, METRICS_ORDERS_CREATED);
    ssize_t n =
        publish(c->srv, "new-order", r->outlet_id, r->json.base, r->json.len, METRICS_BCAST_NEW_ORDER);
    if (n > 0) /* the seed's line, said only when a screen was told */
      log_info("📡 WebSocket: Broadcasted new order %s to %zd socket%s", r->invoice, n, n == 1 ? "" : "s");
    else if (n == 0)
      log_info("📡 WebSocket: new order %s: no screen of its outlet is connected", r->invoice);
  } else if (r->rc == 0) {
    metrics_inc(c->srv, METRICS_ORDERS_REPLAYED);
  }
  c->create_cb(c->ud, r->rc, result_err(r), r->json.base, r->json.len, r->replayed);
  free(c);
}

static void on_status(db_req *r) {
  call *c = r->ud;
  if (r->rc == 0 && !r->replayed) {
    static const struct {
      const char *status;
      metrics_id id;
    } counters[] = {{"preparing", METRICS_STATUS_PREPARING},
                    {"ready", METRICS_STATUS_READY},
                    {"completed", METRICS_STATUS_COMPLETED},
                    {"cancelled", METRICS_STATUS_CANCELLED}};
    for (size_t i = 0; i < sizeof(counters) / sizeof(counters[0]); i++)
      if (strcmp(r->in.order_status.status, counters[i].status) == 0) metrics_inc(c->srv, counters[i].id);
    publish(c->srv, "order-updated", r->outlet_id, r->json.base, r->json.len, METRICS_BCAST_ORDER_UPDATED);
  }
  c->cb(c->ud, r->rc, result_err(r), r->json.base, r->json.len);
  free(c);
}

static void on_void(db_req *r) {
  call *c = r->ud;
  if (r->rc == 0) {
    metrics_inc(c->srv, METRICS_ORDERS_VOIDED);
    publish(c->srv, "order-deleted", r->outlet_id, r->json.base, r->json.len, METRICS_BCAST_ORDER_DELETED);
  }
  c->cb(c->ud, r->rc, result_err(r), r->json.base, r->json.len);
  free(c);
}

/* Rush and line changes: broadcast only what changed (a repeated tap is no news). */
static void on_change(db_req *r) {
  call *c = r->ud;
  if (r->rc == 0 && r->changed)
    publish(c->srv, "order-updated", r->outlet_id, r->json.base, r->json.len, METRICS_BCAST_ORDER_UPDATED);
  c->cb(c->ud, r->rc, result_err(r), r->json.base, r->json.len);
  free(c);
}

static void on_plain(db_req *r) {
  call *c = r->ud;
  c->cb(c->ud, r->rc, result_err(r), r->json.base, r->json.len);
  free(c);
}

/* Allocates the call and the request; NULL when out of memory (nothing left allocated). */
static db_req *prepare(struct server *srv, db_op op, db_cb done, const kds_user *user, void *ud, call **out) {
  call *c = calloc(1, sizeof(*c));
  db_req *r;
  if (c == NULL) return NULL;
  if ((r = db_req_new(op, done, c)) == NULL) {
    free(c);
    return NULL;
  }
  c->srv = srv;
  c->ud = ud;
  if (user) r->user = *user;
  *out = c;
  return r;
}

static int submit(struct server *srv, db_req *r, call *c) {
  int rc = db_submit(srv->db, r); /* frees r on failure */
  if (rc) free(c);
  return rc;
}

int ordersvc_create(struct server *srv, const kds_user *user, cJSON *body, const char *key,
                    ordersvc_create_cb cb, void *ud) {
  call *c;
  db_req *r = prepare(srv, DB_ORDER_CREATE, on_create, user, ud, &c);
  if (r == NULL) {
    cJSON_Delete(body);
    return KDS_ENOMEM;
  }
  c->create_cb = cb;
  r->in.order_create.body = body;
  if (key) {
    if ((r->in.order_create.key = strdup(key)) == NULL ||
        order_body_hash(body, r->in.order_create.body_hash) != 0) {
      db_req_free(r);
      free(c);
      return KDS_ENOMEM;
    }
  }
  return submit(srv, r, c);
}

static int invoice_op(struct server *srv, db_op op, db_cb done, const kds_user *user, const char *invoice,
                      ordersvc_cb cb, void *ud, db_req **out, call **cout) {
  call *c;
  db_req *r = prepare(srv, op, done, user, ud, &c);
  char **dst;
  if (r == NULL) return KDS_ENOMEM;
  c->cb = cb;
  dst = op == DB_ORDER_STATUS ? &r->in.order_status.invoice : &r->in.order.invoice;
  if (invoice && (*dst = strdup(invoice)) == NULL) {
    db_req_free(r);
    free(c);
    return KDS_ENOMEM;
  }
  *out = r;
  *cout = c;
  return 0;
}

int ordersvc_change_status(struct server *srv, const kds_user *user, const char *invoice, const char *status,
                           const char *action_id, ordersvc_cb cb, void *ud) {
  db_req *r;
  call *c;
  int rc = invoice_op(srv, DB_ORDER_STATUS, on_status, user, invoice, cb, ud, &r, &c);
  if (rc) return rc;
  r->in.order_status.anonymous = user == NULL;
  /* an over-long value is no status at all: it fails the same check */
  if (status && strlen(status) < sizeof(r->in.order_status.status))
    memcpy(r->in.order_status.status, status, strlen(status) + 1);
  if (action_id && (r->in.order_status.action_id = strdup(action_id)) == NULL) {
    db_req_free(r);
    free(c);
    return KDS_ENOMEM;
  }
  return submit(srv, r, c);
}

static int invoice_copy(char **dst, const char *invoice) {
  return invoice && (*dst = strdup(invoice)) == NULL ? KDS_ENOMEM : 0;
}

int ordersvc_set_rush(struct server *srv, const kds_user *user, const char *invoice, int rush, ordersvc_cb cb,
                      void *ud) {
  call *c;
  db_req *r = prepare(srv, DB_ORDER_PRIORITY, on_change, user, ud, &c);
  if (r == NULL) return KDS_ENOMEM;
  c->cb = cb;
  if (invoice_copy(&r->in.order_priority.invoice, invoice)) {
    db_req_free(r);
    free(c);
    return KDS_ENOMEM;
  }
  r->in.order_priority.rush = rush;
  r->in.order_priority.anonymous = user == NULL;
  return submit(srv, r, c);
}

int ordersvc_line_done(struct server *srv, const kds_user *user, const char *invoice, int64_t line, int done,
                       int in_path, const char *action_id, ordersvc_cb cb, void *ud) {
  call *c;
  db_req *r = prepare(srv, DB_ORDER_LINE, on_change, user, ud, &c);
  if (r == NULL) return KDS_ENOMEM;
  c->cb = cb;
  if (invoice_copy(&r->in.order_line.invoice, invoice) ||
      (action_id && (r->in.order_line.action_id = strdup(action_id)) == NULL)) {
    db_req_free(r);
    free(c);
    return KDS_ENOMEM;
  }
  r->in.order_line.line = line;
  r->in.order_line.done = done;
  r->in.order_line.in_path = in_path;
  r->in.order_line.anonymous = user == NULL;
  return submit(srv, r, c);
}

int ordersvc_recall(struct server *srv, const kds_user *user, ordersvc_cb cb, void *ud) {
  call *c;
  db_req *r = prepare(srv, DB_RECALL, on_plain, user, ud, &c);
  if (r == NULL) return KDS_ENOMEM;
  c->cb = cb;
  return submit(srv, r, c);
}

int ordersvc_stats(struct server *srv, const kds_user *user, const char *date, int64_t outlet_id,
                   ordersvc_cb cb, void *ud) {
  call *c;
  db_req *r = prepare(srv, DB_STATS, on_plain, user, ud, &c);
  if (r == NULL) return KDS_ENOMEM;
  c->cb = cb;
  if (date) snprintf(r->in.stats.date, sizeof(r->in.stats.date), "%s", date);
  r->in.stats.outlet_id = outlet_id;
  r->in.stats.late_after_s = srv->cfg.late_after;
  return submit(srv, r, c);
}

static void on_auto_completed(db_req *r) {
  struct server *srv = r->ud;
  if (r->rc != 0) {
    log_error("auto-complete failed: %s", kds_strerror(r->rc));
    return;
  }
  for (size_t i = 0; i < r->nitems; i++) {
    metrics_inc(srv, METRICS_STATUS_COMPLETED);
    publish(srv, "order-updated", r->items[i].outlet_id, r->json.base + r->items[i].off, r->items[i].len,
            METRICS_BCAST_ORDER_UPDATED);
  }
  if (r->nitems) log_info("auto-complete: %zu ready order%s completed", r->nitems, r->nitems == 1 ? "" : "s");
}

int ordersvc_auto_complete(struct server *srv, int64_t now_ms) {
  db_req *r;
  if (srv->cfg.auto_complete <= 0 || srv->db == NULL) return 0;
  if ((r = db_req_new(DB_AUTO_COMPLETE, on_auto_completed, srv)) == NULL) return KDS_ENOMEM;
  r->in.auto_complete.before_ms = now_ms - srv->cfg.auto_complete * 60000;
  return db_submit(srv->db, r);
}

int ordersvc_void(struct server *srv, const kds_user *user, const char *invoice, ordersvc_cb cb, void *ud) {
  db_req *r;
  call *c;
  int rc = invoice_op(srv, DB_ORDER_VOID, on_void, user, invoice, cb, ud, &r, &c);
  return rc ? rc : submit(srv, r, c);
}

int ordersvc_get(struct server *srv, const kds_user *user, const char *invoice, ordersvc_cb cb, void *ud) {
  db_req *r;
  call *c;
  int rc = invoice_op(srv, DB_ORDER_GET, on_plain, user, invoice, cb, ud, &r, &c);
  return rc ? rc : submit(srv, r, c);
}

/* ---- listing --------------------------------------------------------------------------------- */

static int all_digits(const char *s) {
  if (*s == '\0') return 0;
  for (; *s; s++)
    if (*s < '0' || *s > '9') return 0;
  return 1;
}

int ordersvc_query_parse(const char *status, const char *date, const char *limit, const char *before,
                         ordersvc_query *q, kds_err *err) {
  memset(q, 0, sizeof(*q));
  q->limit = ORDER_LIST_DEFAULT;
  if (status) {
    /* a comma list; blanks around names and empty entries are ignored, as the reference does */
    const char *p = status;
    while (*p) {
      const char *end = strchr(p, ',');
      size_t n = end ? (size_t)(end - p) : strlen(p);
      char word[32];
      while (n && (*p == ' ' || *p == '\t')) p++, n--;
      while (n && (p[n - 1] == ' ' || p[n - 1] == '\t')) n--;
      if (n) {
        unsigned bit = 0;
        if (n < sizeof(word)) {
          memcpy(word, p, n);
          word[n] = '\0';
          bit = order_status_bit(word);
        }
        if (!bit) goto bad_status;
        q->statuses |= bit;
      }
      if (!end) break;
      p = end + 1;
    }
    if (!q->statuses) goto bad_status;
  }
  if (date) {
    if (!order_date_shape_ok(date))
      return kds_err_set(err, 400, "invalid_query", "date", "date must be YYYY-MM-DD");
    if (!order_date_valid(date)) /* SPEC 11.24 (the reference takes 2024-02-30) */
      return kds_err_set(err, 400, "invalid_query", "date", "date must be a real calendar day (YYYY-MM-DD)");
    memcpy(q->date, date, 11);
  }
  if (limit) {
    const char *digits = limit;
    if (!all_digits(limit)) goto bad_limit;
    while (*digits == '0') digits++;
    /* more than 9 significant digits is simply large: cut to the maximum */
    q->limit = strlen(digits) > 9 ? ORDER_LIST_MAX : atol(digits);
    if (q->limit < 1) goto bad_limit;
    if (q->limit > ORDER_LIST_MAX) q->limit = ORDER_LIST_MAX;
  }
  if (before && (q->before = strdup(before)) == NULL)
    return kds_err_set(err, 500, "internal_error", NULL, "out of memory");
  return 0;
bad_status:
  return kds_err_set(err, 400, "invalid_query", "status", "status must list some of %s", order_statuses_text);
bad_limit:
  return kds_err_set(err, 400, "invalid_query", "limit", "limit must be an integer from 1 to %d",
                     ORDER_LIST_MAX);
}

void ordersvc_query_release(ordersvc_query *q) {
  free(q->before);
  q->before = NULL;
}

int ordersvc_list(struct server *srv, const kds_user *user, ordersvc_query *q, ordersvc_cb cb, void *ud) {
  call *c;
  db_req *r = prepare(srv, DB_ORDER_LIST, on_plain, user, ud, &c);
  if (r == NULL) return KDS_ENOMEM;
  c->cb = cb;
  r->in.order_list.statuses = q->statuses;
  memcpy(r->in.order_list.date, q->date, sizeof(r->in.order_list.date));
  r->in.order_list.limit = q->limit;
  r->in.order_list.before = q->before;
  q->before = NULL;
  return submit(srv, r, c);
}
