/* db.c: the DB thread (queue, group commit, replies through an eventfd in commit order) and
 * the store's rules above the backend seam (db_store.h): order creation with validation,
 * idempotency keys and the gapless invoice sequence; status changes; voids; listings;
 * the menu; tokens. */
#include "db.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <inttypes.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include <uv.h>

#include "db_store.h"
#include "log.h"
#include "order.h"
#include "server.h"

#define DB_QUEUE_MAX 16384 /* requests waiting for the DB thread */
#define DB_BATCH_MAX 1024  /* requests per transaction */
#define IDEMPOTENCY_TTL_MS (24 * 3600 * 1000LL)
#define PURGE_EVERY_MS (3600 * 1000LL)
#define MAX_SAFE_INT 9007199254740991.0 /* 2^53 - 1: JavaScript's integers */
#define DB_TRIM_THRESHOLD (512 * 1024)  /* bytes of free heap top malloc may keep */

typedef struct db db;

struct db {
  uv_loop_t *loop;
  struct server *srv; /* NULL in tests */
  const db_store_ops *ops;
  void *store;
  /* Results ready: the DB thread writes wake_fd, the loop polls it. Not uv_async: with
   * both threads on one core (the server pinned), the loop woke inside uv_async_send and
   * spun (~1000 PAUSEs, then sched_yield) until the DB thread finished the call; measured
   * at concurrency 1: ~3 yields per order, a visible share of the reply's latency. */
  uv_poll_t wake;
  int wake_fd;
  uv_thread_t thread;
  uv_mutex_t mu;
  uv_cond_t cv;

  /* guarded by mu */
  kds_list queue;
  kds_list done;
  size_t queued;
  int stopping;
  int exited;
  int notified; /* wake_fd written, not yet drained by the loop */
  uint64_t batches;
  uint64_t batched;
  char broken[256]; /* why the store can no longer be trusted with writes; "" while it can */

  /* loop thread */
  size_t pending; /* submitted, callback not yet run */
  int closing;
  int joined;
  void (*close_cb)(void *ud);
  void *close_ud;

  /* DB thread */
  int64_t last_purge;
  int64_t (*now)(void); /* order_now_ms; tests move days with db_set_clock */
};

static const char *const demo_categories[] = {"ISI CORNDOG", "BALUTAN", "SAUS ASIN", "SAUS MANIS"};
static const struct {
  int64_t id;
  const char *name;
  int64_t price, category_id;
} demo_products[] = {
    {1, "Corndog Sosis", 6000, 1}, {2, "Corndog Mozzarella", 8000, 1}, {3, "Mie", 2000, 2},
    {4, "Kentang", 3000, 2},       {5, "Saus Tomat", 1000, 3},         {6, "Mayonaise", 1000, 3},
    {7, "Coklat", 1000, 4},        {8, "Susu Kental Manis", 1000, 4},
};

static int is_write(db_op op) {
  switch (op) {
    case DB_TOKEN_ADD:
    case DB_TOKEN_REVOKE:
    case DB_CATEGORY_ADD:
    case DB_PRODUCT_ADD:
    case DB_PRODUCT_UPDATE:
    case DB_ORDER_CREATE:
    case DB_ORDER_STATUS:
    case DB_ORDER_VOID:
      return 1;
    default:
      return 0;
  }
}

/* ---- requests ------------------------------------------------------------------------------ */

db_req *db_req_new(db_op op, db_cb cb, void *ud) {
  db_req *req = calloc(1, sizeof(*req));
  if (req == NULL) return NULL;
  kds_list_init(&req->node);
  req->op = op;
  req->cb = cb;
  req->ud = ud;
  return req;
}

void db_req_free(db_req *req) {
  if (req == NULL) return;
  free(req->in.name);
  free(req->in.invoice);
  free(req->in.key);
  free(req->in.before);
  cJSON_Delete(req->in.body);
  kds_buf_release(&req->json);
  free(req);
}

/* Resets a request's results (a commit failed after it ran) and marks it failed. */
static void req_fail(db_req *req, int rc) {
  kds_buf_reset(&req->json);
  kds_err_clear(&req->err);
  req->replayed = 0;
  req->rc = rc;
}

/* ---- the rules, run on the DB thread ----------------------------------------------------- */

typedef struct exec_ctx {
  const db_store_ops *ops;
  void *store;
  db_req *req;
  int64_t now; /* epoch ms when the request runs */
} exec_ctx;

static int is_integer(const cJSON *v) {
  return cJSON_IsNumber(v) && isfinite(v->valuedouble) && v->valuedouble == trunc(v->valuedouble);
}

static int render_category(kds_buf *b, int64_t id, const char *name, int64_t sort_order) {
  if (kds_buf_addf(b, "{\"id\":%" PRId64 ",\"name\":", id) || order_json_str(b, name, strlen(name)) ||
      kds_buf_addf(b, ",\"sort_order\":%" PRId64 "}", sort_order))
    return KDS_ENOMEM;
  return 0;
}

static int render_product(kds_buf *b, const order_product *p) {
  if (kds_buf_addf(b, "{\"id\":%" PRId64 ",\"name\":", p->id) ||
      order_json_str(b, p->name, strlen(p->name)) ||
      kds_buf_addf(b, ",\"price\":%" PRId64 ",\"category_id\":%" PRId64 ",\"category\":", p->price,
                   p->category_id) ||
      order_json_str(b, p->category, strlen(p->category)) ||
      kds_buf_addf(b, ",\"active\":%s}", p->active ? "true" : "false"))
    return KDS_ENOMEM;
  return 0;
}

static int each_category(void *ud, const db_category *c) {
  kds_buf *b = ud;
  if (b->len > 1 && kds_buf_addc(b, ',')) return KDS_ENOMEM;
  return render_category(b, c->id, c->name, c->sort_order);
}

static int each_product(void *ud, const order_product *p) {
  kds_buf *b = ud;
  if (b->len > 1 && kds_buf_addc(b, ',')) return KDS_ENOMEM;
  return render_product(b, p);
}

static int each_order(void *ud, order_t *o) {
  kds_buf *b = ud;
  if (b->len > 1 && kds_buf_addc(b, ',')) return KDS_ENOMEM;
  return order_render(o, b);
}

static int exec_category_add(exec_ctx *x) {
  db_req *r = x->req;
  const cJSON *jn = cJSON_GetObjectItemCaseSensitive(r->in.body, "name");
  const cJSON *js = cJSON_GetObjectItemCaseSensitive(r->in.body, "sort_order");
  char *name = order_trim_dup(cJSON_IsString(jn) ? jn->valuestring : "");
  int64_t id, existing;
  int rc;
  if (name == NULL) return KDS_ENOMEM;
  if (!*name || order_utf16_len(name) > ORDER_MAX_NAME) {
    rc = kds_err_set(&r->err, 422, "validation_failed", "name", "name must be 1 to %d characters",
                     ORDER_MAX_NAME);
  } else if (order_is_reserved_key(name)) {
    rc = kds_err_set(&r->err, 422, "validation_failed", "name",
                     "\"%s\" is a key of the order JSON and cannot name a category", name);
  } else if (js && !cJSON_IsNull(js) && (!is_integer(js) || fabs(js->valuedouble) > MAX_SAFE_INT)) {
    rc = kds_err_set(&r->err, 422, "validation_failed", "sort_order", "sort_order must be an integer");
  } else if ((rc = x->ops->category_by_name(x->store, name, &existing)) != KDS_ENOTFOUND) {
    if (rc == 0)
      rc = kds_err_set(&r->err, 409, "already_exists", "name", "category \"%s\" already exists", name);
  } else {
    int has_sort = js && !cJSON_IsNull(js);
    rc = x->ops->category_add(x->store, name, has_sort, has_sort ? (int64_t)js->valuedouble : 0, 0, &id);
    if (rc == KDS_ESTATE)
      rc = kds_err_set(&r->err, 409, "already_exists", "name", "category \"%s\" already exists", name);
    if (rc == 0) {
      db_category c;
      rc = x->ops->category_by_id(x->store, id, &c);
      if (rc == 0) rc = render_category(&r->json, c.id, c.name, c.sort_order);
    }
  }
  free(name);
  return rc;
}

/* checkProduct of the reference: name, price, category_id, active, in that order. */
static int check_product(exec_ctx *x, const cJSON *name, const cJSON *price, const cJSON *category_id,
                         const cJSON *active) {
  kds_err *e = &x->req->err;
  db_category c;
  int rc;
  if (!cJSON_IsString(name) || order_utf16_len(name->valuestring) > ORDER_MAX_NAME) goto bad_name;
  {
    char *t = order_trim_dup(name->valuestring);
    int empty = t == NULL || *t == '\0';
    if (t == NULL) return KDS_ENOMEM;
    free(t);
    if (empty) goto bad_name;
  }
  if (!is_integer(price) || price->valuedouble < 0 || price->valuedouble > MAX_SAFE_INT)
    return kds_err_set(e, 422, "validation_failed", "price", "price must be a non-negative integer (Rupiah)");
  rc = KDS_ENOTFOUND;
  if (is_integer(category_id) && fabs(category_id->valuedouble) <= MAX_SAFE_INT)
    rc = x->ops->category_by_id(x->store, (int64_t)category_id->valuedouble, &c);
  if (rc == KDS_ENOTFOUND)
    return kds_err_set(e, 422, "validation_failed", "category_id",
                       "category_id must name an existing category");
  if (rc) return rc;
  if (!cJSON_IsBool(active))
    return kds_err_set(e, 422, "validation_failed", "active", "active must be true or false");
  return 0;
bad_name:
  return kds_err_set(e, 422, "validation_failed", "name", "name must be 1 to %d characters", ORDER_MAX_NAME);
}

static int product_saved(exec_ctx *x, int64_t id) {
  order_product p;
  int rc = x->ops->product_by_id(x->store, id, &p);
  return rc ? rc : render_product(&x->req->json, &p);
}

static int exec_product_add(exec_ctx *x) {
  db_req *r = x->req;
  const cJSON *name = cJSON_GetObjectItemCaseSensitive(r->in.body, "name");
  const cJSON *price = cJSON_GetObjectItemCaseSensitive(r->in.body, "price");
  const cJSON *cat = cJSON_GetObjectItemCaseSensitive(r->in.body, "category_id");
  cJSON yes = {.type = cJSON_True};
  char *trimmed;
  int64_t id;
  int rc = check_product(x, name, price, cat, &yes);
  if (rc) return rc;
  if ((trimmed = order_trim_dup(name->valuestring)) == NULL) return KDS_ENOMEM;
  rc = x->ops->product_add(x->store, trimmed, (int64_t)price->valuedouble, (int64_t)cat->valuedouble, 0, &id);
  free(trimmed);
  return rc ? rc : product_saved(x, id);
}

static int exec_product_update(exec_ctx *x) {
  db_req *r = x->req;
  order_product cur;
  cJSON *next = NULL;
  const cJSON *name, *price, *cat, *active;
  static const char *const keys[] = {"name", "price", "category_id", "active"};
  char *trimmed;
  int rc = r->in.id > 0 ? x->ops->product_by_id(x->store, r->in.id, &cur) : KDS_ENOTFOUND;
  if (rc == KDS_ENOTFOUND)
    return kds_err_set(&r->err, 404, "not_found", NULL, "product %s not found",
                       r->in.name ? r->in.name : "?");
  if (rc) return rc;
  /* the current product with the body's keys laid over it */
  next = cJSON_CreateObject();
  if (next == NULL || !cJSON_AddStringToObject(next, "name", cur.name) ||
      !cJSON_AddNumberToObject(next, "price", (double)cur.price) ||
      !cJSON_AddNumberToObject(next, "category_id", (double)cur.category_id) ||
      !cJSON_AddBoolToObject(next, "active", cur.active)) {
    cJSON_Delete(next);
    return KDS_ENOMEM;
  }
  for (size_t i = 0; i < 4; i++) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(r->in.body, keys[i]);
    cJSON *copy;
    if (v == NULL) continue;
    if ((copy = cJSON_Duplicate(v, 1)) == NULL ||
        !cJSON_ReplaceItemInObjectCaseSensitive(next, keys[i], copy)) {
      cJSON_Delete(copy);
      cJSON_Delete(next);
      return KDS_ENOMEM;
    }
  }
  name = cJSON_GetObjectItemCaseSensitive(next, "name");
  price = cJSON_GetObjectItemCaseSensitive(next, "price");
  cat = cJSON_GetObjectItemCaseSensitive(next, "category_id");
  active = cJSON_GetObjectItemCaseSensitive(next, "active");
  rc = check_product(x, name, price, cat, active);
  if (rc == 0) {
    if ((trimmed = order_trim_dup(name->valuestring)) == NULL) {
      rc = KDS_ENOMEM;
    } else {
      rc = x->ops->product_update(x->store, r->in.id, trimmed, (int64_t)price->valuedouble,
                                  (int64_t)cat->valuedouble, cJSON_IsTrue(active));
      free(trimmed);
    }
  }
  cJSON_Delete(next);
  return rc ? rc : product_saved(x, r->in.id);
}

static int product_lookup(void *ud, int64_t id, order_product *out) {
  exec_ctx *x = ud;
  int rc = x->ops->product_by_id(x->store, id, out);
  if (rc == KDS_ENOTFOUND) return 0;
  return rc ? rc : 1;
}

static int exec_order_create(exec_ctx *x) {
  db_req *r = x->req;
  order_t o;
  int64_t now = x->now, seq;
  int rc;

  if (r->in.key) {
    const char *hash;
    int64_t order_id;
    rc = x->ops->idem_find(x->store, r->user.id, r->in.key, now - IDEMPOTENCY_TTL_MS, &hash, &order_id);
    if (rc == 0) {
      if (strcmp(hash, r->in.body_hash) != 0)
        return kds_err_set(&r->err, 409, "idempotency_key_reused", NULL,
                           "this Idempotency-Key was already used with a different request body");
      order_init(&o);
      rc = x->ops->order_by_id(x->store, order_id, &o);
      if (rc == 0) rc = order_render(&o, &r->json);
      r->replayed = 1;
      r->outlet_id = o.outlet_id;
      snprintf(r->invoice, sizeof(r->invoice), "%s", o.invoice_number);
      order_release(&o);
      return rc;
    }
    if (rc != KDS_ENOTFOUND) return rc;
  }

  order_init(&o);
  rc = order_validate(r->in.body, product_lookup, x, &o, &r->err);
  if (rc) goto out;
  order_local_date(now, o.date);
  order_local_iso(now, o.created_at);
  memcpy(o.updated_at, o.created_at, sizeof(o.updated_at));
  snprintf(o.status, sizeof(o.status), "new");
  o.outlet_id = r->user.outlet_id ? r->user.outlet_id : ORDER_DEFAULT_OUTLET;
  /* the number is taken in the order's own savepoint: if anything below fails, it is
   * rolled back with the order and handed to the next one (gapless, SPEC 11.10) */
  if ((rc = x->ops->invoice_next(x->store, o.date, &seq)) != 0) goto out;
  if ((rc = order_invoice_format(o.invoice_number, o.date, seq)) != 0) goto out;
  if ((rc = x->ops->order_insert(x->store, &o, r->user.id)) != 0) goto out;
  if (r->in.key && (rc = x->ops->idem_put(x->store, r->user.id, r->in.key, r->in.body_hash, o.id, now)) != 0)
    goto out;
  if ((rc = order_render(&o, &r->json)) != 0) goto out;
  r->outlet_id = o.outlet_id;
  snprintf(r->invoice, sizeof(r->invoice), "%s", o.invoice_number);
out:
  order_release(&o);
  return rc;
}

/* The live order `invoice` if the acting user may see it (SPEC 11.4): else 404. */
static int find_visible(exec_ctx *x, order_t *o) {
  db_req *r = x->req;
  const char *inv = r->in.invoice ? r->in.invoice : "undefined"; /* as the reference words it */
  int rc = r->in.invoice ? x->ops->order_by_invoice(x->store, inv, 1, o) : KDS_ENOTFOUND;
  if (rc == 0 && r->user.outlet_id && o->outlet_id != r->user.outlet_id) rc = KDS_ENOTFOUND;
  if (rc == KDS_ENOTFOUND) return kds_err_set(&r->err, 404, "not_found", NULL, "order %s not found", inv);
  return rc;
}

/* The reference's order of checks: signed in (401), a known status (422), the role may set
 * it (403), the order is visible (404), the transition is allowed (409). */
static int exec_order_status(exec_ctx *x) {
  db_req *r = x->req;
  order_t o;
  int changed = 0, rc;
  if (r->in.flag) return kds_err_set(&r->err, 401, "unauthorized", NULL, "sign in to change an order");
  if (!order_status_valid(r->in.status))
    return kds_err_set(&r->err, 422, "validation_failed", "status", "status must be one of %s",
                       order_statuses_text);
  if (!order_role_may_set(r->user.role, r->in.status))
    return kds_err_set(&r->err, 403, "forbidden", NULL, "a %s may not set an order to %s", r->user.role,
                       r->in.status);
  order_init(&o);
  if ((rc = find_visible(x, &o)) != 0) goto out;
  if (!order_transition_ok(o.status, r->in.status)) {
    rc = kds_err_set(&r->err, 409, "invalid_transition", NULL, "order %s is %s; it cannot become %s",
                     o.invoice_number, o.status, r->in.status);
    snprintf(r->err.current_status, sizeof(r->err.current_status), "%s", o.status);
    goto out;
  }
  order_local_iso(x->now, o.updated_at);
  if ((rc = x->ops->order_set_status(x->store, o.id, o.status, r->in.status, o.updated_at, &changed)) != 0)
    goto out;
  if (!changed) { /* one writer: cannot happen, but never report a change that was not made */
    rc = KDS_EDB;
    goto out;
  }
  snprintf(o.status, sizeof(o.status), "%s", r->in.status);
  if ((rc = order_render(&o, &r->json)) != 0) goto out;
  r->outlet_id = o.outlet_id;
  snprintf(r->invoice, sizeof(r->invoice), "%s", o.invoice_number);
out:
  order_release(&o);
  return rc;
}

static int exec_order_void(exec_ctx *x) {
  db_req *r = x->req;
  order_t o;
  char at[ORDER_TIME_SIZE];
  int changed = 0, rc;
  order_init(&o);
  if ((rc = find_visible(x, &o)) != 0) goto out;
  order_local_iso(x->now, at);
  if ((rc = x->ops->order_void(x->store, o.id, at, &changed)) != 0) goto out;
  r->outlet_id = o.outlet_id;
  snprintf(r->invoice, sizeof(r->invoice), "%s", o.invoice_number);
  if (kds_buf_adds(&r->json, "{\"invoice_number\":") ||
      order_json_str(&r->json, o.invoice_number, strlen(o.invoice_number)) || kds_buf_addc(&r->json, '}'))
    rc = KDS_ENOMEM;
out:
  order_release(&o);
  return rc;
}

static int exec_order_get(exec_ctx *x) {
  db_req *r = x->req;
  order_t o;
  int rc;
  order_init(&o);
  rc = find_visible(x, &o);
  if (rc == 0) rc = order_render(&o, &r->json);
  r->outlet_id = o.outlet_id;
  order_release(&o);
  return rc;
}

static int exec_order_list(exec_ctx *x) {
  db_req *r = x->req;
  db_list_query q = {r->in.statuses, r->in.date[0] ? r->in.date : NULL, r->user.outlet_id, 0, r->in.number};
  int rc;
  if (q.limit < 1) q.limit = ORDER_LIST_DEFAULT;
  if (q.limit > ORDER_LIST_MAX) q.limit = ORDER_LIST_MAX;
  if (r->in.before) {
    /* another outlet's invoice is as unknown as a made-up one: no existence oracle */
    rc = x->ops->order_id_of(x->store, r->in.before, r->user.outlet_id, &q.before_id);
    if (rc == KDS_ENOTFOUND)
      return kds_err_set(&r->err, 400, "invalid_query", "before", "there is no order %s", r->in.before);
    if (rc) return rc;
  }
  if (kds_buf_addc(&r->json, '[')) return KDS_ENOMEM;
  if ((rc = x->ops->order_list(x->store, &q, each_order, &r->json)) != 0) return rc;
  return kds_buf_addc(&r->json, ']');
}

static void exec_req(db *d, db_req *r) {
  exec_ctx x = {d->ops, d->store, r, d->now()};
  const char *hash;
  char at[ORDER_TIME_SIZE];
  int rc;
  switch (r->op) {
    case DB_USER_BY_NAME:
      rc = d->ops->user_by_name(d->store, r->in.name ? r->in.name : "", &r->found, &hash);
      if (rc == 0) snprintf(r->password_hash, sizeof(r->password_hash), "%s", hash);
      break;
    case DB_TOKEN_USER:
      rc = d->ops->token_user(d->store, r->in.token_hash, x.now, &r->found, &r->expires_at);
      break;
    case DB_TOKEN_ADD:
      order_local_iso(x.now, at);
      rc = d->ops->token_add(d->store, r->in.token_hash, r->in.id, r->in.flag ? "device" : "session", at,
                             r->in.expires_at);
      break;
    case DB_TOKEN_REVOKE:
      rc = d->ops->token_revoke(d->store, r->in.token_hash);
      break;
    case DB_CATEGORY_LIST:
      rc = kds_buf_addc(&r->json, '[');
      if (rc == 0) rc = d->ops->category_list(d->store, each_category, &r->json);
      if (rc == 0) rc = kds_buf_addc(&r->json, ']');
      break;
    case DB_CATEGORY_ADD:
      rc = exec_category_add(&x);
      break;
    case DB_PRODUCT_LIST:
      rc = kds_buf_addc(&r->json, '[');
      if (rc == 0) rc = d->ops->product_list(d->store, each_product, &r->json);
      if (rc == 0) rc = kds_buf_addc(&r->json, ']');
      break;
    case DB_PRODUCT_ADD:
      rc = exec_product_add(&x);
      break;
    case DB_PRODUCT_UPDATE:
      rc = exec_product_update(&x);
      break;
    case DB_ORDER_CREATE:
      rc = exec_order_create(&x);
      break;
    case DB_ORDER_STATUS:
      rc = exec_order_status(&x);
      break;
    case DB_ORDER_VOID:
      rc = exec_order_void(&x);
      break;
    case DB_ORDER_GET:
      rc = exec_order_get(&x);
      break;
    case DB_ORDER_LIST:
      rc = exec_order_list(&x);
      break;
    default:
      rc = KDS_EINVAL;
  }
  if (rc) kds_buf_reset(&r->json);
  r->rc = rc;
}

/* ---- the DB thread ------------------------------------------------------------------------- */

static void purge_keys(db *d, int64_t now) {
  int64_t n = 0;
  if (d->ops->savepoint(d->store) != 0) return;
  if (d->ops->idem_purge(d->store, now - IDEMPOTENCY_TTL_MS, &n) == 0) {
    d->ops->release(d->store);
    if (n) log_info("database: %" PRId64 " expired idempotency keys purged", n);
  } else {
    d->ops->rollback_to(d->store);
  }
  d->last_purge = now;
}

/* Marks every write of the batch up to and including `upto` as failed: the transaction
 * they were in is gone. */
static void fail_writes(kds_list *batch, db_req *upto) {
  for (kds_list *n = batch->next; n != batch; n = n->next) {
    db_req *r = kds_container_of(n, db_req, node);
    if (is_write(r->op) && r->rc == 0) req_fail(r, KDS_EDB);
    if (r == upto) break;
  }
}

/* 1 when the store still is the one opened. Once it is not (its files deleted or replaced
 * under us), it stays refused until a restart: a write acknowledged then would be lost. */
static int store_trusted(db *d) {
  char why[sizeof(d->broken)] = "";
  int first;
  uv_mutex_lock(&d->mu);
  first = d->broken[0] == '\0';
  uv_mutex_unlock(&d->mu);
  if (!first) return 0;
  if (d->ops->check == NULL || d->ops->check(d->store, why, sizeof(why)) == 0) return 1;
  log_error(
      "database: %s; refusing every write until the server is restarted (restore the file "
      "from a backup first: a restart would otherwise start an empty database)",
      why);
  uv_mutex_lock(&d->mu);
  snprintf(d->broken, sizeof(d->broken), "%s", why);
  uv_mutex_unlock(&d->mu);
  return 0;
}

static void fail_untrusted(kds_list *batch) {
  for (kds_list *n = batch->next; n != batch; n = n->next) {
    db_req *r = kds_container_of(n, db_req, node);
    if (!is_write(r->op)) continue;
    req_fail(r, KDS_EREQUEST);
    kds_err_set(&r->err, 503, "storage_unavailable", NULL,
                "the order store is unavailable (its database file is gone); nothing was saved");
  }
}

/* One batch: every write in one transaction, one savepoint per request; reads inside it.
 * A request that fails rolls back to its savepoint; the others commit together. */
static void run_batch(db *d, kds_list *batch) {
  int writes = 0, in_txn = 0;
  int64_t now = d->now();
  for (kds_list *n = batch->next; n != batch; n = n->next)
    if (is_write(kds_container_of(n, db_req, node)->op)) writes = 1;

  if (writes && !store_trusted(d)) {
    fail_untrusted(batch);
    writes = 0;
  }
  if (writes) in_txn = d->ops->begin(d->store) == 0;
  if (in_txn && now - d->last_purge > PURGE_EVERY_MS) purge_keys(d, now);

  for (kds_list *n = batch->next; n != batch; n = n->next) {
    db_req *r = kds_container_of(n, db_req, node);
    if (!is_write(r->op)) {
      exec_req(d, r);
      continue;
    }
    if (!writes) continue; /* failed by fail_untrusted */
    if (!in_txn || d->ops->savepoint(d->store) != 0) {
      req_fail(r, KDS_EDB);
      continue;
    }
    exec_req(d, r);
    if (r->rc != 0 ? d->ops->rollback_to(d->store) != 0 : d->ops->release(d->store) != 0) {
      if (r->rc == 0) req_fail(r, KDS_EDB);
    }
    if (!d->ops->in_transaction(d->store)) {
      /* the backend rolled the whole transaction back (I/O error, disk full): every
       * write so far is undone; start over for the rest */
      log_error("database: the transaction was rolled back; failing %s", "the batch's writes so far");
      fail_writes(batch, r);
      in_txn = d->ops->begin(d->store) == 0;
    }
  }
  if (in_txn && d->ops->commit(d->store) != 0) {
    d->ops->rollback(d->store);
    fail_writes(batch, NULL);
  }
}

/* DB thread: one eventfd write per batch at most (`notified` coalesces them until the loop
 * drains). EAGAIN cannot lose a wakeup: the counter is non-zero, so the loop will run. */
static void wake_loop(db *d) {
  uint64_t one = 1;
  ssize_t n;
  do {
    n = write(d->wake_fd, &one, sizeof(one));
  } while (n < 0 && errno == EINTR);
}

static void db_thread(void *arg) {
  db *d = arg;
  kds_list batch;
  int wake;
  kds_list_init(&batch);
  for (;;) {
    size_t n = 0;
    uv_mutex_lock(&d->mu);
    while (kds_list_empty(&d->queue) && !d->stopping) uv_cond_wait(&d->cv, &d->mu);
    if (kds_list_empty(&d->queue)) { /* stopping, and everything queued is done */
      uv_mutex_unlock(&d->mu);
      break;
    }
    while (!kds_list_empty(&d->queue) && n < DB_BATCH_MAX) {
      kds_list *node = d->queue.next;
      kds_list_remove(node);
      kds_list_push(&batch, node);
      n++;
    }
    d->queued -= n;
    uv_mutex_unlock(&d->mu);

    run_batch(d, &batch);

    uv_mutex_lock(&d->mu);
    kds_list_splice(&d->done, &batch);
    d->batches++;
    d->batched += n;
    wake = !d->notified;
    d->notified = 1;
    uv_mutex_unlock(&d->mu);
    if (wake) wake_loop(d);
  }
  uv_mutex_lock(&d->mu);
  d->exited = 1;
  wake = !d->notified;
  d->notified = 1;
  uv_mutex_unlock(&d->mu);
  if (wake) wake_loop(d);
}

/* ---- the loop side ------------------------------------------------------------------------ */

static void on_wake_closed(uv_handle_t *h) {
  db *d = h->data;
  void (*cb)(void *) = d->close_cb;
  void *ud = d->close_ud;
  if (d->srv && d->srv->db == d) d->srv->db = NULL;
  close(d->wake_fd);
  uv_mutex_destroy(&d->mu);
  uv_cond_destroy(&d->cv);
  free(d);
  if (cb) cb(ud);
}

static void on_wake(uv_poll_t *h, int status, int events) {
  db *d = h->data;
  kds_list ready;
  uint64_t count;
  int exited;
  (void)status; /* an error on an eventfd cannot happen; draining the list is right anyway */
  (void)events;
  kds_list_init(&ready);
  /* drain first, then take the list: a batch added after the splice writes again */
  if (read(d->wake_fd, &count, sizeof(count)) < 0 && errno != EAGAIN) log_warn("database: wake read failed");
  uv_mutex_lock(&d->mu);
  kds_list_splice(&ready, &d->done);
  d->notified = 0;
  exited = d->exited;
  uv_mutex_unlock(&d->mu);

  while (!kds_list_empty(&ready)) {
    db_req *r = kds_container_of(ready.next, db_req, node);
    kds_list_remove(&r->node);
    d->pending--;
    if (r->cb) r->cb(r);
    db_req_free(r);
  }
  if (d->pending == 0 && !d->closing) uv_unref((uv_handle_t *)&d->wake);

  if (exited && !d->joined) {
    d->joined = 1;
    uv_thread_join(&d->thread);
    d->ops->close(d->store);
    d->store = NULL;
    uv_close((uv_handle_t *)&d->wake, on_wake_closed);
  }
}

int db_submit(db *d, db_req *req) {
  int rc = 0;
  if (d == NULL || d->closing) {
    db_req_free(req);
    return KDS_ECLOSED;
  }
  uv_mutex_lock(&d->mu);
  if (d->queued >= DB_QUEUE_MAX) {
    rc = KDS_EFULL;
  } else {
    kds_list_push(&d->queue, &req->node);
    d->queued++;
  }
  uv_mutex_unlock(&d->mu);
  /* after the unlock: the DB thread wakes to a free mutex instead of blocking on ours */
  if (rc == 0) uv_cond_signal(&d->cv);
  if (rc) {
    log_warn("database: queue full (%d requests); refusing a request", DB_QUEUE_MAX);
    db_req_free(req);
    return rc;
  }
  /* the loop stays alive while the DB thread owes answers */
  if (d->pending++ == 0) uv_ref((uv_handle_t *)&d->wake);
  return 0;
}

int db_store_seed_demo(const db_store_ops *ops, void *store, int *loaded) {
  int empty = 0, rc;
  int64_t id;
  *loaded = 0;
  if ((rc = ops->begin(store)) != 0) return rc;
  if ((rc = ops->menu_empty(store, &empty)) != 0 || !empty) goto out;
  for (size_t i = 0; i < sizeof(demo_categories) / sizeof(demo_categories[0]) && rc == 0; i++)
    rc = ops->category_add(store, demo_categories[i], 1, (int64_t)i + 1, (int64_t)i + 1, &id);
  for (size_t i = 0; i < sizeof(demo_products) / sizeof(demo_products[0]) && rc == 0; i++)
    rc = ops->product_add(store, demo_products[i].name, demo_products[i].price, demo_products[i].category_id,
                          demo_products[i].id, &id);
out:
  if (rc == 0 && (rc = ops->commit(store)) == 0) {
    *loaded = empty;
    return 0;
  }
  ops->rollback(store);
  return rc ? rc : KDS_EDB;
}

static int db_create(uv_loop_t *loop, struct server *srv, const char *path, int demo, db **out) {
  char err[512] = "";
  db *d = calloc(1, sizeof(*d));
  int rc, loaded = 0;
  if (d == NULL) return KDS_ENOMEM;
#ifdef __GLIBC__
  /* SQLite allocates and frees ~150 KB per order (the savepoint's in-memory statement
   * journal chunk, RETURNING's ephemeral table cache). At glibc's default 128 KB trim
   * threshold the DB thread's arena gave that back with madvise() after every order and
   * faulted it in again: a TLB flush each time, more CPU than the order itself. Keep up
   * to 512 KiB of free heap top instead (bounded: idle memory barely moves). */
  mallopt(M_TRIM_THRESHOLD, DB_TRIM_THRESHOLD);
#endif
  d->loop = loop;
  d->srv = srv;
  d->ops = &db_sqlite_ops;
  d->now = order_now_ms;
  kds_list_init(&d->queue);
  kds_list_init(&d->done);
  if ((rc = d->ops->open(path, &d->store, err, sizeof(err))) != 0) {
    log_error("database: %s", err);
    free(d);
    return rc;
  }
  if (demo) {
    if ((rc = db_store_seed_demo(d->ops, d->store, &loaded)) != 0) {
      log_error("database: cannot load the demo menu into %s", path);
      goto fail_store;
    }
    if (loaded) log_info("demo menu loaded");
  }
  /* expired idempotency keys from earlier runs */
  if ((rc = d->ops->begin(d->store)) == 0) {
    purge_keys(d, order_now_ms());
    if ((rc = d->ops->commit(d->store)) != 0) d->ops->rollback(d->store);
  }
  if (rc) goto fail_store;
  if ((rc = uv_mutex_init(&d->mu)) != 0) goto fail_store;
  if ((rc = uv_cond_init(&d->cv)) != 0) goto fail_mutex;
  if ((d->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0) {
    rc = uv_translate_sys_error(errno);
    goto fail_cond;
  }
  if ((rc = uv_poll_init(loop, &d->wake, d->wake_fd)) != 0) {
    close(d->wake_fd);
    goto fail_cond;
  }
  d->wake.data = d;
  if ((rc = uv_poll_start(&d->wake, UV_READABLE, on_wake)) != 0) {
    d->joined = 1;
    d->closing = 1;
    uv_close((uv_handle_t *)&d->wake, on_wake_closed); /* frees d; the store first */
    d->ops->close(d->store);
    return rc;
  }
  uv_unref((uv_handle_t *)&d->wake);
  if ((rc = uv_thread_create(&d->thread, db_thread, d)) != 0) {
    log_error("database: cannot start the DB thread: %s", uv_strerror(rc));
    d->joined = 1;
    d->closing = 1;
    uv_close((uv_handle_t *)&d->wake, on_wake_closed); /* frees d; the store first */
    d->ops->close(d->store);
    return rc;
  }
  log_info("database: %s open (%s, WAL, synchronous=FULL, group commit)", path, d->ops->name);
  *out = d;
  return 0;
fail_cond:
  uv_cond_destroy(&d->cv);
fail_mutex:
  uv_mutex_destroy(&d->mu);
fail_store:
  d->ops->close(d->store);
  free(d);
  return rc;
}

int db_new(uv_loop_t *loop, const char *path, int demo, db **out) {
  return db_create(loop, NULL, path, demo, out);
}

int db_open(struct server *srv) {
  db *d = NULL;
  int rc = db_create(srv->loop, srv, srv->cfg.db_path, srv->cfg.demo, &d);
  if (rc == 0) srv->db = d;
  return rc;
}

void db_close(db *d, void (*cb)(void *ud), void *ud) {
  if (d == NULL || d->closing) return;
  d->closing = 1;
  d->close_cb = cb;
  d->close_ud = ud;
  uv_ref((uv_handle_t *)&d->wake);
  uv_mutex_lock(&d->mu);
  d->stopping = 1;
  uv_cond_signal(&d->cv);
  uv_mutex_unlock(&d->mu);
}

void db_set_clock(db *d, int64_t (*now_ms)(void)) {
  d->now = now_ms ? now_ms : order_now_ms;
}

size_t db_pending(const db *d) {
  return d ? d->pending : 0;
}

int db_health(const db *d, char *why, size_t size) {
  int ok;
  if (d == NULL) {
    snprintf(why, size, "the database is closed");
    return KDS_ECLOSED;
  }
  uv_mutex_lock((uv_mutex_t *)&d->mu);
  ok = d->broken[0] == '\0';
  snprintf(why, size, "%s", d->broken);
  uv_mutex_unlock((uv_mutex_t *)&d->mu);
  return ok ? 0 : KDS_EDB;
}

void db_stats(const db *d, uint64_t *batches, uint64_t *requests) {
  uv_mutex_lock((uv_mutex_t *)&d->mu);
  *batches = d->batches;
  *requests = d->batched;
  uv_mutex_unlock((uv_mutex_t *)&d->mu);
}
