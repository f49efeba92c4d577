/* db_rules.c: what each store request does, above the backend seam (db_store.h) and
 * below the DB thread (db.c): order creation with validation, idempotency keys and the
 * gapless invoice number; status changes in the reference's order of checks; voids;
 * listings; the menu; users and tokens; the demo menu. Nothing here knows the backend. */
#include "db_rules.h"

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
  if ((rc = x->ops->order_insert(x->store, &o, r->user.id)) != 0) goto out;
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

/* The reference's order of checks: signed in (401), a known status (422), the role may set
 * it (403), the order is visible (404), the transition is allowed (409). */
static int exec_order_status(exec_ctx *x) {
  db_req *r = x->req;
  order_t o;
  int changed = 0, rc;
  if (r->in.order_status.anonymous)
    return kds_err_set(&r->err, 401, "unauthorized", NULL, "sign in to change an order");
  if (!order_status_valid(r->in.order_status.status))
    return kds_err_set(&r->err, 422, "validation_failed", "status", "status must be one of %s",
                       order_statuses_text);
  if (!order_role_may_set(r->user.role, r->in.order_status.status))
    return kds_err_set(&r->err, 403, "forbidden", NULL, "a %s may not set an order to %s", r->user.role,
                       r->in.order_status.status);
  order_init(&o);
  if ((rc = find_visible(x, r->in.order_status.invoice, &o)) != 0) goto out;
  if (!order_transition_ok(o.status, r->in.order_status.status)) {
    rc = kds_err_set(&r->err, 409, "invalid_transition", NULL, "order %s is %s; it cannot become %s",
                     o.invoice_number, o.status, r->in.order_status.status);
    snprintf(r->err.current_status, sizeof(r->err.current_status), "%s", o.status);
    goto out;
  }
  order_local_iso(x->now, o.updated_at);
  if ((rc = x->ops->order_set_status(x->store, o.id, o.status, r->in.order_status.status, o.updated_at,
                                     &changed)) != 0)
    goto out;
  if (!changed) { /* one writer: cannot happen, but never report a change that was not made */
    rc = KDS_EDB;
    goto out;
  }
  snprintf(o.status, sizeof(o.status), "%s", r->in.order_status.status);
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
    default:
      rc = KDS_EINVAL;
  }
  if (rc) kds_buf_reset(&r->json);
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
