/* db_rules.c: what each store request does, above the backend seam (db_store.h) and
 * below the DB thread (db.c): order creation with validation, idempotency keys and the
 * gapless invoice number; status changes in the reference's order of checks; voids;
 * listings; the menu; users and tokens; the demo menu. Nothing here knows the backend. */
#include "db_rules.h"

#include <ctype.h>
#include <cjson/cJSON.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "order.h"

#define MAX_SAFE_INT 9007199254740991.0 /* 2^53 - 1: JavaScript's integers */

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

int db_rules_is_write(db_op op) {
  switch (op) {
    case DB_TOKEN_ADD:
    case DB_TOKEN_REVOKE:
    case DB_CATEGORY_ADD:
    case DB_PRODUCT_ADD:
    case DB_PRODUCT_UPDATE:
    case DB_ORDER_CREATE:
    case DB_ORDER_STATUS:
    case DB_ORDER_VOID:
    case DB_ORDER_PRIORITY:
    case DB_ORDER_LINE:
    case DB_AUTO_COMPLETE:
      return 1;
    default:
      return 0;
  }
}

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
  const cJSON *jn = cJSON_GetObjectItemCaseSensitive(r->in.menu_add.body, "name");
  const cJSON *js = cJSON_GetObjectItemCaseSensitive(r->in.menu_add.body, "sort_order");
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
  const cJSON *name = cJSON_GetObjectItemCaseSensitive(r->in.menu_add.body, "name");
  const cJSON *price = cJSON_GetObjectItemCaseSensitive(r->in.menu_add.body, "price");
  const cJSON *cat = cJSON_GetObjectItemCaseSensitive(r->in.menu_add.body, "category_id");
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
  int rc = r->in.product_update.id > 0 ? x->ops->product_by_id(x->store, r->in.product_update.id, &cur)
                                       : KDS_ENOTFOUND;
  if (rc == KDS_ENOTFOUND)
    return kds_err_set(&r->err, 404, "not_found", NULL, "product %s not found",
                       r->in.product_update.id_text ? r->in.product_update.id_text : "?");
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
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(r->in.product_update.body, keys[i]);
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
      rc = x->ops->product_update(x->store, r->in.product_update.id, trimmed, (int64_t)price->valuedouble,
                                  (int64_t)cat->valuedouble, cJSON_IsTrue(active));
      free(trimmed);
    }
  }
  cJSON_Delete(next);
  return rc ? rc : product_saved(x, r->in.product_update.id);
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

  if (r->in.order_create.key) {
    const char *hash;
    int64_t order_id;
    rc = x->ops->idem_find(x->store, r->user.id, r->in.order_create.key, now - DB_IDEMPOTENCY_TTL_MS, &hash,
                           &order_id);
    if (rc == 0) {
      if (strcmp(hash, r->in.order_create.body_hash) != 0)
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
  rc = order_validate(r->in.order_create.body, product_lookup, x, &o, &r->err);
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
  if ((rc = x->ops->order_insert(x->store, &o, r->user.id, now)) != 0) goto out;
  /* no history entry for the creation: who and when are the order's own (created_by, created_ms);
   * the history holds the moves (status changes and the void) */
  if (r->in.order_create.key && (rc = x->ops->idem_put(x->store, r->user.id, r->in.order_create.key,
                                                       r->in.order_create.body_hash, o.id, now)) != 0)
    goto out;
  if ((rc = order_render(&o, &r->json)) != 0) goto out;
  r->outlet_id = o.outlet_id;
  snprintf(r->invoice, sizeof(r->invoice), "%s", o.invoice_number);
out:
  order_release(&o);
  return rc;
}

/* The live order `invoice` if the acting user may see it (SPEC 11.4): else 404. */
static int find_visible(exec_ctx *x, const char *invoice, order_t *o) {
  db_req *r = x->req;
  const char *inv = invoice ? invoice : "undefined"; /* as the reference words it */
  int rc = invoice ? x->ops->order_by_invoice(x->store, inv, 1, o) : KDS_ENOTFOUND;
  if (rc == 0 && r->user.outlet_id && o->outlet_id != r->user.outlet_id) rc = KDS_ENOTFOUND;
  if (rc == KDS_ENOTFOUND) return kds_err_set(&r->err, 404, "not_found", NULL, "order %s not found", inv);
  return rc;
}

/* Moves `o` (loaded, its updated_at already set to now) to `to` in the store and in memory,
 * with its history entry (the acting user; 0 for the server itself). */
static int move(exec_ctx *x, order_t *o, const char *to) {
  int changed = 0;
  int rc = x->ops->order_set_status(x->store, o->id, o->status, to, o->updated_at, x->now, &changed);
  if (rc) return rc;
  if (!changed) return KDS_EDB; /* one writer: cannot happen, but never report a change not made */
  if ((rc = x->ops->history_add(x->store, o->id, x->req->user.id, o->status, to, x->now)) != 0) return rc;
  snprintf(o->status, sizeof(o->status), "%s", to);
  return 0;
}

/* ---- action ids (SPEC 5.1: offline bumps sent again after a lost ack) ------------------- */

/* A screen that lost an ack sends the same command again with the same action id; applying
 * it twice could undo what happened in between (a `preparing` replayed after the order went
 * `ready` would recall it). Action ids share the idempotency table with POST's keys: theirs
 * start with a line feed, which no HTTP header value can hold, so the two never meet. The
 * request column holds the command itself (short), not a hash. */
#define ACTION_ID_MAX 64

static int action_id_ok(const char *id) {
  size_t n = strlen(id);
  if (n < 1 || n > ACTION_ID_MAX) return 0;
  for (const char *p = id; *p; p++)
    if (!isalnum((unsigned char)*p) && !strchr("-_.:", *p)) return 0;
  return 1;
}

typedef struct action {
  char key[ACTION_ID_MAX + 16];
  char request[160];
} action;

/* Looks the action up: 1 when it was applied before (r->json holds the order as it is now,
 * r->replayed is set), 0 when it is new (then `a` is ready for action_done), or an error
 * (422 for a malformed id, 409 for an id used for another command). */
static int action_seen(exec_ctx *x, const char *id, const char *request, action *a) {
  db_req *r = x->req;
  const char *stored;
  int64_t order_id;
  order_t o;
  int rc;
  if (!action_id_ok(id))
    return kds_err_set(&r->err, 422, "validation_failed", "action_id",
                       "action_id must be 1 to %d letters, digits or -_.:", ACTION_ID_MAX);
  snprintf(a->key, sizeof(a->key), "\naction:%s", id);
  snprintf(a->request, sizeof(a->request), "%s", request);
  rc = x->ops->idem_find(x->store, r->user.id, a->key, x->now - DB_IDEMPOTENCY_TTL_MS, &stored, &order_id);
  if (rc == KDS_ENOTFOUND) return 0;
  if (rc) return rc;
  if (strcmp(stored, a->request) != 0)
    return kds_err_set(&r->err, 409, "action_id_reused", "action_id",
                       "this action_id was already used for another command");
  order_init(&o);
  if ((rc = x->ops->order_by_id(x->store, order_id, &o)) == 0 && (rc = order_render(&o, &r->json)) == 0) {
    r->replayed = 1;
    r->outlet_id = o.outlet_id;
    snprintf(r->invoice, sizeof(r->invoice), "%s", o.invoice_number);
  }
  order_release(&o);
  return rc ? rc : 1;
}

/* Remembers an applied action, in the transaction of its change. */
static int action_done(exec_ctx *x, const action *a, int64_t order_id) {
  return x->ops->idem_put(x->store, x->req->user.id, a->key, a->request, order_id, x->now);
}

/* The reference's order of checks: signed in (401), a known status (422), the role may set
 * it (403), the order is visible (404), the transition is allowed (409). */
static int exec_order_status(exec_ctx *x) {
  db_req *r = x->req;
  order_t o;
  action act;
  int rc;
  if (r->in.order_status.anonymous)
    return kds_err_set(&r->err, 401, "unauthorized", NULL, "sign in to change an order");
  if (!order_status_valid(r->in.order_status.status))
    return kds_err_set(&r->err, 422, "validation_failed", "status", "status must be one of %s",
                       order_statuses_text);
  if (!order_role_may_set(r->user.role, r->in.order_status.status))
    return kds_err_set(&r->err, 403, "forbidden", NULL, "a %s may not set an order to %s", r->user.role,
                       r->in.order_status.status);
  if (r->in.order_status.action_id) {
    char request[160];
    snprintf(request, sizeof(request), "order-status %s %s",
             r->in.order_status.invoice ? r->in.order_status.invoice : "", r->in.order_status.status);
    if ((rc = action_seen(x, r->in.order_status.action_id, request, &act)) != 0) return rc > 0 ? 0 : rc;
  }
  order_init(&o);
  if ((rc = find_visible(x, r->in.order_status.invoice, &o)) != 0) goto out;
  if (!order_transition_ok(o.status, r->in.order_status.status)) {
    rc = kds_err_set(&r->err, 409, "invalid_transition", NULL, "order %s is %s; it cannot become %s",
                     o.invoice_number, o.status, r->in.order_status.status);
    snprintf(r->err.current_status, sizeof(r->err.current_status), "%s", o.status);
    goto out;
  }
  order_local_iso(x->now, o.updated_at);
  if ((rc = move(x, &o, r->in.order_status.status)) != 0) goto out;
  if (r->in.order_status.action_id && (rc = action_done(x, &act, o.id)) != 0) goto out;
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
  if ((rc = find_visible(x, r->in.order.invoice, &o)) != 0) goto out;
  order_local_iso(x->now, at);
  if ((rc = x->ops->order_void(x->store, o.id, at, &changed)) != 0) goto out;
  if (changed && (rc = x->ops->history_add(x->store, o.id, r->user.id, o.status, "voided", x->now)) != 0)
    goto out;
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
  rc = find_visible(x, r->in.order.invoice, &o);
  if (rc == 0) rc = order_render(&o, &r->json);
  r->outlet_id = o.outlet_id;
  order_release(&o);
  return rc;
}

static int exec_order_list(exec_ctx *x) {
  db_req *r = x->req;
  db_list_query q = {r->in.order_list.statuses, r->in.order_list.date[0] ? r->in.order_list.date : NULL,
                     r->user.outlet_id, 0, r->in.order_list.limit};
  int rc;
  if (q.limit < 1) q.limit = ORDER_LIST_DEFAULT;
  if (q.limit > ORDER_LIST_MAX) q.limit = ORDER_LIST_MAX;
  if (r->in.order_list.before) {
    /* another outlet's invoice is as unknown as a made-up one: no existence oracle */
    rc = x->ops->order_id_of(x->store, r->in.order_list.before, r->user.outlet_id, &q.before_id);
    if (rc == KDS_ENOTFOUND)
      return kds_err_set(&r->err, 400, "invalid_query", "before", "there is no order %s",
                         r->in.order_list.before);
    if (rc) return rc;
  }
  if (kds_buf_addc(&r->json, '[')) return KDS_ENOMEM;
  if ((rc = x->ops->order_list(x->store, &q, each_order, &r->json)) != 0) return rc;
  return kds_buf_addc(&r->json, ']');
}

/* ---- kitchen operations (SPEC 10) ------------------------------------------------------- */

static int role_in(const char *role, const char *const *roles) {
  for (; *roles; roles++)
    if (strcmp(role, *roles) == 0) return 1;
  return 0;
}

/* 409 for a change to an order that is no longer open (completed or cancelled). */
static int closed(db_req *r, const order_t *o, const char *what) {
  int rc = kds_err_set(&r->err, 409, "invalid_transition", NULL, "order %s is %s; its %s cannot change",
                       o->invoice_number, o->status, what);
  snprintf(r->err.current_status, sizeof(r->err.current_status), "%s", o->status);
  return rc;
}

static int is_open(const order_t *o) {
  return strcmp(o->status, "new") == 0 || strcmp(o->status, "preparing") == 0 ||
         strcmp(o->status, "ready") == 0;
}

static int finish_change(db_req *r, order_t *o) {
  int rc = order_render(o, &r->json);
  r->outlet_id = o->outlet_id;
  snprintf(r->invoice, sizeof(r->invoice), "%s", o->invoice_number);
  return rc;
}

static int exec_order_priority(exec_ctx *x) {
  static const char *const may[] = {"admin", "cashier", "kitchen", NULL};
  db_req *r = x->req;
  order_t o;
  int rc;
  if (r->in.order_priority.anonymous)
    return kds_err_set(&r->err, 401, "unauthorized", NULL, "sign in to change an order");
  if (r->in.order_priority.rush < 0)
    return kds_err_set(&r->err, 422, "validation_failed", "rush", "rush must be true or false");
  if (!role_in(r->user.role, may))
    return kds_err_set(&r->err, 403, "forbidden", NULL, "a %s may not change an order's rush", r->user.role);
  order_init(&o);
  if ((rc = find_visible(x, r->in.order_priority.invoice, &o)) != 0) goto out;
  if (!is_open(&o)) {
    rc = closed(r, &o, "rush");
    goto out;
  }
  if (o.rush != r->in.order_priority.rush) {
    order_local_iso(x->now, o.updated_at);
    if ((rc = x->ops->order_set_rush(x->store, o.id, r->in.order_priority.rush, o.updated_at)) != 0) goto out;
    o.rush = r->in.order_priority.rush;
    r->changed = 1;
  }
  rc = finish_change(r, &o);
out:
  order_release(&o);
  return rc;
}

/* Item-level done (SPEC 10.3): the checks of a status change, then the line; every line done
 * makes a new or preparing order ready, a line undone recalls a ready one to preparing. */
static int exec_order_line(exec_ctx *x) {
  static const char *const may[] = {"admin", "kitchen", NULL};
  db_req *r = x->req;
  int64_t n = r->in.order_line.line;
  order_t o;
  order_line *l;
  action act;
  int rc;
  if (r->in.order_line.anonymous)
    return kds_err_set(&r->err, 401, "unauthorized", NULL, "sign in to change an order");
  if (r->in.order_line.done < 0)
    return kds_err_set(&r->err, 422, "validation_failed", "done", "done must be true or false");
  if (n < 1 && !r->in.order_line.in_path)
    return kds_err_set(&r->err, 422, "validation_failed", "line",
                       "line must be a line number (1 is the first)");
  if (!role_in(r->user.role, may))
    return kds_err_set(&r->err, 403, "forbidden", NULL, "a %s may not mark order lines done", r->user.role);
  if (r->in.order_line.action_id) {
    char request[160];
    snprintf(request, sizeof(request), "line-done %s %" PRId64 " %d",
             r->in.order_line.invoice ? r->in.order_line.invoice : "", n, r->in.order_line.done);
    if ((rc = action_seen(x, r->in.order_line.action_id, request, &act)) != 0) return rc > 0 ? 0 : rc;
  }
  order_init(&o);
  if ((rc = find_visible(x, r->in.order_line.invoice, &o)) != 0) goto out;
  if (n < 1 || (uint64_t)n > o.nlines) {
    rc = kds_err_set(&r->err, 404, "not_found", NULL, "order %s has no line %" PRId64 " (it has %zu)",
                     o.invoice_number, n < 0 ? 0 : n, o.nlines);
    goto out;
  }
  if (!is_open(&o)) {
    rc = closed(r, &o, "lines");
    goto out;
  }
  l = &o.lines[n - 1];
  if ((l->done != 0) != r->in.order_line.done) {
    order_local_iso(x->now, o.updated_at);
    if ((rc = x->ops->line_set_done(x->store, o.id, n, r->in.order_line.done, o.updated_at)) != 0) goto out;
    l->done = r->in.order_line.done;
    r->changed = 1;
    if (l->done && order_lines_done(&o) == o.nlines && strcmp(o.status, "ready") != 0)
      rc = move(x, &o, "ready");
    else if (!l->done && strcmp(o.status, "ready") == 0)
      rc = move(x, &o, "preparing");
    if (rc) goto out;
  }
  if (r->in.order_line.action_id && (rc = action_done(x, &act, o.id)) != 0) goto out;
  rc = finish_change(r, &o);
out:
  order_release(&o);
  return rc;
}

#define RECALL_WINDOW_MS (30 * 60 * 1000)
#define RECALL_MAX 20

static int each_recall(void *ud, order_t *o, int64_t bumped_ms) {
  kds_buf *b = ud;
  char at[ORDER_TIME_SIZE];
  int rc;
  if (b->len > 1 && kds_buf_addc(b, ',')) return KDS_ENOMEM;
  if ((rc = order_render(o, b)) != 0) return rc;
  b->len--; /* the closing brace: bumped_at goes last */
  order_local_iso(bumped_ms, at);
  if (kds_buf_adds(b, ",\"bumped_at\":") || order_json_str(b, at, strlen(at)) || kds_buf_addc(b, '}'))
    return KDS_ENOMEM;
  return 0;
}

static int exec_recall(exec_ctx *x) {
  db_req *r = x->req;
  int rc;
  if (kds_buf_addc(&r->json, '[')) return KDS_ENOMEM;
  rc = x->ops->recall_list(x->store, r->user.outlet_id, x->now - RECALL_WINDOW_MS, RECALL_MAX, each_recall,
                           &r->json);
  return rc ? rc : kds_buf_addc(&r->json, ']');
}

/* The day's figures (SPEC 10.5), gathered in one pass over the day's orders. */
typedef struct day_stats {
  int64_t count[5]; /* by status, order_statuses' order */
  int64_t total;
  int64_t sales;
  int64_t by_method[5];
  int64_t method_orders[5];
  int64_t hour_orders[24], hour_amount[24];
  int64_t *ticket_ms; /* owned */
  size_t nticket, cap;
} day_stats;

static const char *const stat_methods[] = {"CASH", "QRIS", "CARD", "TRANSFER", "EWALLET"};

/* Money adds up without overflow whatever was stored: past INT64_MAX it stays there. */
static void sat_add(int64_t *sum, int64_t v) {
  if (__builtin_add_overflow(*sum, v, sum)) *sum = v > 0 ? INT64_MAX : INT64_MIN;
}

static int each_stat_order(void *ud, const db_stat_order *so) {
  day_stats *d = ud;
  unsigned bit = order_status_bit(so->status);
  int cancelled = strcmp(so->status, "cancelled") == 0;
  for (int i = 0; i < 5; i++)
    if (bit == 1u << i) d->count[i]++;
  d->total++;
  if (cancelled) return 0; /* not a sale, not a ticket */
  sat_add(&d->sales, so->total_amount);
  for (int i = 0; i < 5; i++)
    if (strcmp(so->payment_method, stat_methods[i]) == 0) {
      sat_add(&d->by_method[i], so->total_amount);
      d->method_orders[i]++;
    }
  if (strlen(so->created_at) >= 13 && so->created_at[11] >= '0' && so->created_at[11] <= '2' &&
      so->created_at[12] >= '0' && so->created_at[12] <= '9') {
    int h = (so->created_at[11] - '0') * 10 + (so->created_at[12] - '0');
    if (h < 24) {
      d->hour_orders[h]++;
      sat_add(&d->hour_amount[h], so->total_amount);
    }
  }
  if (so->created_ms > 0 && so->ready_ms > 0) {
    if (d->nticket == d->cap) {
      size_t cap = d->cap ? d->cap * 2 : 256;
      int64_t *p = realloc(d->ticket_ms, cap * sizeof(*p));
      if (p == NULL) return KDS_ENOMEM;
      d->ticket_ms = p;
      d->cap = cap;
    }
    d->ticket_ms[d->nticket++] = so->ready_ms > so->created_ms ? so->ready_ms - so->created_ms : 0;
  }
  return 0;
}

static int each_stat_category(void *ud, const db_stat_category *c) {
  kds_buf *b = ud;
  if (b->base[b->len - 1] != '[' && kds_buf_addc(b, ',')) return KDS_ENOMEM;
  if (kds_buf_adds(b, "{\"name\":") || order_json_str(b, c->name, strlen(c->name)) ||
      kds_buf_addf(b, ",\"quantity\":%" PRId64 ",\"total_amount\":%" PRId64 "}", c->quantity,
                   c->total_amount))
    return KDS_ENOMEM;
  return 0;
}

static int cmp_i64(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return (x > y) - (x < y);
}

/* Milliseconds as seconds, exactly: 412500 is 412.5, 380000 is 380. */
static int add_seconds(kds_buf *b, int64_t ms) {
  char frac[8];
  int64_t rest = ms % 1000;
  if (kds_buf_addf(b, "%" PRId64, ms / 1000)) return KDS_ENOMEM;
  if (rest == 0) return 0;
  snprintf(frac, sizeof(frac), "%03d", (int)rest);
  for (int i = 2; i > 0 && frac[i] == '0'; i--) frac[i] = '\0';
  return kds_buf_addf(b, ".%s", frac);
}

/* The value at rank ceil(p * n / 100) of the sorted times (nearest rank: always a time that
 * was measured; ties need nothing special). */
static int64_t nearest_rank(const int64_t *sorted, size_t n, unsigned p) {
  size_t rank = (n * p + 99) / 100;
  return sorted[rank ? rank - 1 : 0];
}

static int exec_stats(exec_ctx *x) {
  db_req *r = x->req;
  kds_buf *b = &r->json;
  day_stats d = {0};
  char date[ORDER_DATE_SIZE];
  int64_t scope = r->user.outlet_id, late_ms = r->in.stats.late_after_s * 1000, late = 0, sum = 0;
  int rc, first;
  if (r->in.stats.outlet_id) {
    if (strcmp(r->user.role, "admin") != 0)
      return kds_err_set(&r->err, 403, "forbidden", "outlet_id", "only an admin may choose the outlet");
    scope = r->in.stats.outlet_id;
  }
  if (r->in.stats.date[0]) { /* checked YYYY-MM-DD by the caller */
    memcpy(date, r->in.stats.date, sizeof(date) - 1);
    date[sizeof(date) - 1] = '\0';
  } else {
    order_local_date(x->now, date);
  }
  if ((rc = x->ops->stats_orders(x->store, date, scope, each_stat_order, &d)) != 0) goto out;
  if (d.nticket) qsort(d.ticket_ms, d.nticket, sizeof(*d.ticket_ms), cmp_i64);
  for (size_t i = 0; i < d.nticket; i++) {
    sat_add(&sum, d.ticket_ms[i]);
    late += d.ticket_ms[i] > late_ms;
  }
  rc = KDS_ENOMEM;
  if (kds_buf_adds(b, "{\"date\":") || order_json_str(b, date, strlen(date)) ||
      kds_buf_adds(b, ",\"outlet_id\":"))
    goto out;
  if (scope ? kds_buf_addf(b, "%" PRId64, scope) : kds_buf_adds(b, "null")) goto out;
  if (kds_buf_addf(b, ",\"orders\":{\"total\":%" PRId64, d.total)) goto out;
  for (int i = 0; i < 5; i++)
    if (kds_buf_addf(b, ",\"%s\":%" PRId64, order_statuses[i], d.count[i])) goto out;
  if (kds_buf_addf(b, "},\"sales\":{\"total_amount\":%" PRId64 ",\"by_payment_method\":{", d.sales)) goto out;
  first = 1;
  for (int i = 0; i < 5; i++) {
    if (!d.method_orders[i]) continue;
    if (kds_buf_addf(b, "%s\"%s\":%" PRId64, first ? "" : ",", stat_methods[i], d.by_method[i])) goto out;
    first = 0;
  }
  if (kds_buf_addf(b, "}},\"ticket_time\":{\"count\":%zu,\"avg_s\":", d.nticket)) goto out;
  if (d.nticket == 0) {
    if (kds_buf_adds(b, "null,\"p50_s\":null,\"p90_s\":null")) goto out;
  } else {
    /* the mean rounded to the millisecond, half away from zero */
    int64_t avg = (sum + (int64_t)d.nticket / 2) / (int64_t)d.nticket;
    if (add_seconds(b, avg) || kds_buf_adds(b, ",\"p50_s\":") ||
        add_seconds(b, nearest_rank(d.ticket_ms, d.nticket, 50)) || kds_buf_adds(b, ",\"p90_s\":") ||
        add_seconds(b, nearest_rank(d.ticket_ms, d.nticket, 90)))
      goto out;
  }
  if (kds_buf_addf(b, ",\"late\":%" PRId64 ",\"late_after_s\":%" PRId64 "},\"categories\":[", late,
                   r->in.stats.late_after_s))
    goto out;
  if ((rc = x->ops->stats_categories(x->store, date, scope, each_stat_category, b)) != 0) goto out;
  rc = KDS_ENOMEM;
  if (kds_buf_adds(b, "],\"hours\":[")) goto out;
  first = 1;
  for (int h = 0; h < 24; h++) {
    if (!d.hour_orders[h]) continue;
    if (kds_buf_addf(b, "%s{\"hour\":%d,\"orders\":%" PRId64 ",\"total_amount\":%" PRId64 "}",
                     first ? "" : ",", h, d.hour_orders[h], d.hour_amount[h]))
      goto out;
    first = 0;
  }
  if (kds_buf_adds(b, "]}")) goto out;
  rc = 0;
out:
  free(d.ticket_ms);
  return rc;
}

#define AUTO_COMPLETE_BATCH 100

/* --auto-complete (SPEC 10.7): ready orders left too long are completed by the server. */
static int exec_auto_complete(exec_ctx *x) {
  db_req *r = x->req;
  int64_t ids[AUTO_COMPLETE_BATCH];
  size_t n = 0;
  order_t o;
  int rc = x->ops->ready_due(x->store, r->in.auto_complete.before_ms, ids, AUTO_COMPLETE_BATCH, &n);
  if (rc || n == 0) return rc;
  if ((r->items = calloc(n, sizeof(*r->items))) == NULL) return KDS_ENOMEM;
  order_init(&o);
  for (size_t i = 0; i < n; i++) {
    size_t off = r->json.len;
    if ((rc = x->ops->order_by_id(x->store, ids[i], &o)) != 0) break;
    order_local_iso(x->now, o.updated_at);
    if ((rc = move(x, &o, "completed")) != 0 || (rc = order_render(&o, &r->json)) != 0) break;
    r->items[r->nitems++] = (struct db_item){o.outlet_id, off, r->json.len - off};
  }
  order_release(&o);
  return rc;
}

void db_rules_exec(const db_store_ops *ops, void *store, db_req *r, int64_t now) {
  exec_ctx x = {ops, store, r, now};
  const char *hash;
  char at[ORDER_TIME_SIZE];
  int rc;
  switch (r->op) {
    case DB_USER_BY_NAME:
      rc = ops->user_by_name(store, r->in.user_by_name.name ? r->in.user_by_name.name : "", &r->found, &hash);
      if (rc == 0) snprintf(r->password_hash, sizeof(r->password_hash), "%s", hash);
      break;
    case DB_TOKEN_USER:
      rc = ops->token_user(store, r->in.token.token_hash, x.now, &r->found, &r->expires_at);
      break;
    case DB_TOKEN_ADD:
      order_local_iso(x.now, at);
      rc = ops->token_add(store, r->in.token_add.token_hash, r->in.token_add.user_id,
                          r->in.token_add.device ? "device" : "session", at, r->in.token_add.expires_at);
      break;
    case DB_TOKEN_REVOKE:
      rc = ops->token_revoke(store, r->in.token.token_hash);
      break;
    case DB_CATEGORY_LIST:
      rc = kds_buf_addc(&r->json, '[');
      if (rc == 0) rc = ops->category_list(store, each_category, &r->json);
      if (rc == 0) rc = kds_buf_addc(&r->json, ']');
      break;
    case DB_CATEGORY_ADD:
      rc = exec_category_add(&x);
      break;
    case DB_PRODUCT_LIST:
      rc = kds_buf_addc(&r->json, '[');
      if (rc == 0) rc = ops->product_list(store, each_product, &r->json);
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
    case DB_ORDER_PRIORITY:
      rc = exec_order_priority(&x);
      break;
    case DB_ORDER_LINE:
      rc = exec_order_line(&x);
      break;
    case DB_RECALL:
      rc = exec_recall(&x);
      break;
    case DB_STATS:
      rc = exec_stats(&x);
      break;
    case DB_AUTO_COMPLETE:
      rc = exec_auto_complete(&x);
      break;
    default:
      rc = KDS_EINVAL;
  }
  if (rc) {
    kds_buf_reset(&r->json);
    r->changed = 0;
    r->nitems = 0;
  }
  r->rc = rc;
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
