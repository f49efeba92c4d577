/* order.c: the order model (lines, checked money arithmetic) and the validation of a create
 * request (see order.h; its JSON is order_json.c, its text helpers and vocabularies
 * order_text.c). */
#include "order.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

/* ---- model ------------------------------------------------------------------------- */

void order_init(order_t *o) {
  memset(o, 0, sizeof(*o));
}

void order_release(order_t *o) {
  if (o == NULL) return;
  for (size_t i = 0; i < o->nlines; i++) {
    order_line *l = &o->lines[i];
    free(l->name);
    free(l->category);
    free(l->note);
    for (size_t m = 0; m < l->nmodifiers; m++) free(l->modifiers[m]);
    free(l->modifiers);
  }
  free(o->lines);
  free(o->note);
  free(o->table);
  free(o->customer_name);
  order_init(o);
}

int order_line_add(order_t *o, int64_t product_id, const char *name, int64_t category_id,
                   const char *category, int64_t category_sort, int64_t qty, int64_t price) {
  order_line *l;
  int64_t subtotal;
  if (o->nlines == o->cap) {
    size_t cap = o->cap ? o->cap * 2 : 4;
    order_line *p = realloc(o->lines, cap * sizeof(*p));
    if (p == NULL) return KDS_ENOMEM;
    o->lines = p;
    o->cap = cap;
  }
  l = &o->lines[o->nlines];
  memset(l, 0, sizeof(*l));
  if (order_amount_mul(qty, price, &subtotal) != 0) return KDS_ETOOBIG;
  l->name = strdup(name ? name : "");
  l->category = strdup(category ? category : "");
  if (l->name == NULL || l->category == NULL) {
    free(l->name);
    free(l->category);
    return KDS_ENOMEM;
  }
  l->product_id = product_id;
  l->category_id = category_id;
  l->category_sort = category_sort;
  l->qty = qty;
  l->price = price;
  l->subtotal = subtotal;
  o->nlines++;
  return 0;
}

int order_str_set(char **dst, const char *s) {
  char *copy = NULL;
  if (s && *s && (copy = strdup(s)) == NULL) return KDS_ENOMEM;
  free(*dst);
  *dst = copy;
  return 0;
}

int order_set_note(order_t *o, const char *note) {
  return order_str_set(&o->note, note);
}

int order_line_add_modifier(order_line *l, const char *m) {
  char **p = realloc(l->modifiers, (l->nmodifiers + 1) * sizeof(*p));
  if (p == NULL) return KDS_ENOMEM;
  l->modifiers = p;
  if ((p[l->nmodifiers] = strdup(m ? m : "")) == NULL) return KDS_ENOMEM;
  l->nmodifiers++;
  return 0;
}

static int same_str(const char *a, const char *b) {
  return strcmp(a ? a : "", b ? b : "") == 0;
}

int order_line_extras_equal(const order_line *a, const order_line *b) {
  if (!same_str(a->note, b->note) || a->nmodifiers != b->nmodifiers) return 0;
  for (size_t i = 0; i < a->nmodifiers; i++)
    if (strcmp(a->modifiers[i], b->modifiers[i]) != 0) return 0;
  return 1;
}

size_t order_lines_done(const order_t *o) {
  size_t n = 0;
  for (size_t i = 0; i < o->nlines; i++) n += o->lines[i].done != 0;
  return n;
}

static int amount_ok(int64_t v) {
  return v >= -ORDER_MAX_AMOUNT && v <= ORDER_MAX_AMOUNT;
}

int order_amount_mul(int64_t a, int64_t b, int64_t *out) {
  int64_t r;
  if (__builtin_mul_overflow(a, b, &r) || !amount_ok(r)) return KDS_ETOOBIG;
  *out = r;
  return 0;
}

int order_amount_add(int64_t a, int64_t b, int64_t *out) {
  int64_t r;
  if (__builtin_add_overflow(a, b, &r) || !amount_ok(r)) return KDS_ETOOBIG;
  *out = r;
  return 0;
}

int order_lines_total(const order_t *o, int64_t *out) {
  int64_t sum = 0;
  for (size_t i = 0; i < o->nlines; i++)
    if (order_amount_add(sum, o->lines[i].subtotal, &sum) != 0) return KDS_ETOOBIG;
  *out = sum;
  return 0;
}

/* ---- validation ----------------------------------------------------------------------- */

static int is_integer(const cJSON *v) {
  return cJSON_IsNumber(v) && isfinite(v->valuedouble) && v->valuedouble == trunc(v->valuedouble);
}

/* JSON.stringify(value) for a message (the reference quotes the offending value), cut
 * with "..." to fit `size`. */
static void quote_value(const cJSON *v, char *out, size_t size) {
  kds_buf b = KDS_BUF_INIT;
  if (v == NULL) {
    snprintf(out, size, "undefined"); /* JSON.stringify(undefined), as a template literal shows it */
    return;
  }
  if (json_stringify(&b, v, 0) != 0 || kds_buf_grow(&b, 0) != 0) {
    snprintf(out, size, "?");
  } else {
    snprintf(out, size, "%s", b.base);
    if (b.len >= size && size > 4) memcpy(out + size - 4, "...", 4);
  }
  kds_buf_release(&b);
}

/* SPEC 11.23: money past 2^53 - 1 is refused on `items` (the entry that took it past). */
static int too_much(kds_err *err, int i) {
  return kds_err_set(err, 422, "validation_failed", "items",
                     "items[%d] makes a line subtotal exceed %" PRId64
                     " (the largest amount JSON carries exactly)",
                     i, ORDER_MAX_AMOUNT);
}

/* A short label (table, customer name, a modifier): a string, trimmed, of at most `max`
 * characters and no control characters (they have no place on a ticket, and the store
 * joins modifiers with one). An empty result is "none" when `empty_ok`, else refused.
 * Fills *out (NULL for none; free() it). Returns 0, KDS_EREQUEST (err filled, for
 * `field`) or KDS_ENOMEM. */
static int label(const cJSON *v, const char *field, const char *what, int max, int empty_ok, char **out,
                 kds_err *err) {
  char *t;
  *out = NULL;
  if (v == NULL || cJSON_IsNull(v)) return 0;
  if (!cJSON_IsString(v)) goto bad;
  if ((t = order_trim_dup(v->valuestring)) == NULL) return KDS_ENOMEM;
  for (const unsigned char *c = (const unsigned char *)t; *c; c++)
    if (*c < 0x20 || *c == 0x7f || (c[0] == 0xc0 && c[1] == 0x80)) {
      free(t);
      goto bad;
    }
  if ((!*t && !empty_ok) || order_utf16_len(t) > (size_t)max) {
    free(t);
    goto bad;
  }
  if (*t)
    *out = t;
  else
    free(t);
  return 0;
bad:
  return kds_err_set(err, 422, "validation_failed", field,
                     "%s must be a string of 1 to %d characters without control characters", what, max);
}

/* The per-line extras of SPEC 10.1 (entry i): note and modifiers, into `l` (an unlinked
 * line whose note and modifiers the caller frees). */
static int line_extras(const cJSON *it, int i, order_line *l, kds_err *err) {
  const cJSON *note = cJSON_GetObjectItemCaseSensitive(it, "note");
  const cJSON *mods = cJSON_GetObjectItemCaseSensitive(it, "modifiers");
  char field[64];
  int rc;
  if (note != NULL && !cJSON_IsNull(note)) {
    char *t;
    if (!cJSON_IsString(note)) goto bad_note;
    if ((t = order_trim_dup(note->valuestring)) == NULL) return KDS_ENOMEM;
    if (order_utf16_len(t) > ORDER_MAX_LINE_NOTE) {
      free(t);
      goto bad_note;
    }
    rc = order_str_set(&l->note, t);
    free(t);
    if (rc) return rc;
  }
  if (mods != NULL && !cJSON_IsNull(mods)) {
    snprintf(field, sizeof(field), "items[%d].modifiers", i);
    if (!cJSON_IsArray(mods) || cJSON_GetArraySize(mods) > ORDER_MAX_MODIFIERS)
      return kds_err_set(err, 422, "validation_failed", field,
                         "modifiers must be an array of at most %d strings", ORDER_MAX_MODIFIERS);
    for (const cJSON *m = mods->child; m; m = m->next) {
      char *t;
      if ((rc = label(m, field, "each modifier", ORDER_MAX_MODIFIER, 0, &t, err)) != 0) return rc;
      if (t == NULL) /* null inside the array */
        return kds_err_set(err, 422, "validation_failed", field, "each modifier must be a string");
      rc = order_line_add_modifier(l, t);
      free(t);
      if (rc) return rc;
    }
  }
  return 0;
bad_note:
  snprintf(field, sizeof(field), "items[%d].note", i);
  return kds_err_set(err, 422, "validation_failed", field,
                     "a line note must be a string of at most %d characters", ORDER_MAX_LINE_NOTE);
}

static void extras_free(order_line *l) {
  free(l->note);
  for (size_t m = 0; m < l->nmodifiers; m++) free(l->modifiers[m]);
  free(l->modifiers);
  memset(l, 0, sizeof(*l));
}

/* The order context of SPEC 10.1: order_type, table, customer_name. */
static int order_context(const cJSON *body, order_t *o, kds_err *err) {
  const cJSON *type = cJSON_GetObjectItemCaseSensitive(body, "order_type");
  int rc;
  if (type != NULL && !cJSON_IsNull(type)) {
    if (!cJSON_IsString(type) || !order_type_valid(type->valuestring))
      return kds_err_set(err, 422, "validation_failed", "order_type",
                         "order_type must be one of dine_in, takeaway, delivery");
    snprintf(o->order_type, sizeof(o->order_type), "%s", type->valuestring);
  }
  if ((rc = label(cJSON_GetObjectItemCaseSensitive(body, "table"), "table", "table", ORDER_MAX_TABLE, 1,
                  &o->table, err)) != 0)
    return rc;
  return label(cJSON_GetObjectItemCaseSensitive(body, "customer_name"), "customer_name", "customer_name",
               ORDER_MAX_CUSTOMER, 1, &o->customer_name, err);
}

int order_validate(const cJSON *body, order_product_fn lookup, void *ud, order_t *o, kds_err *err) {
  const cJSON *pm = cJSON_GetObjectItemCaseSensitive(body, "payment_method");
  const cJSON *items = cJSON_GetObjectItemCaseSensitive(body, "items");
  const cJSON *note = cJSON_GetObjectItemCaseSensitive(body, "note");
  char field[64];
  int i = 0, rc;

  if (!cJSON_IsString(pm) || !order_payment_method_valid(pm->valuestring))
    return kds_err_set(err, 422, "validation_failed", "payment_method", "payment_method must be one of %s",
                       order_payment_methods_text);
  if (!cJSON_IsArray(items) || items->child == NULL)
    return kds_err_set(err, 422, "validation_failed", "items", "items must be a non-empty array");
  if (cJSON_GetArraySize(items) > ORDER_MAX_LINES)
    return kds_err_set(err, 422, "validation_failed", "items", "an order has at most %d lines",
                       ORDER_MAX_LINES);

  for (const cJSON *it = items->child; it; it = it->next, i++) {
    const cJSON *pid = cJSON_GetObjectItemCaseSensitive(it, "product_id");
    const cJSON *qty = cJSON_GetObjectItemCaseSensitive(it, "qty");
    order_product p;
    int found = 0;
    size_t j;
    if (!cJSON_IsObject(it)) {
      snprintf(field, sizeof(field), "items[%d]", i);
      return kds_err_set(err, 422, "validation_failed", field,
                         "each item must be an object {product_id, qty}");
    }
    if (is_integer(pid) && fabs(pid->valuedouble) <= 9.0e15) {
      found = lookup(ud, (int64_t)pid->valuedouble, &p);
      if (found < 0) return found;
    }
    if (!found || !p.active) {
      char quoted[sizeof(err->message) - 36]; /* what fits after the sentence */
      quote_value(pid, quoted, sizeof(quoted));
      snprintf(field, sizeof(field), "items[%d].product_id", i);
      return kds_err_set(err, 422, "validation_failed", field, "there is no active product with id %s",
                         quoted);
    }
    if (!is_integer(qty) || qty->valuedouble < 1 || qty->valuedouble > ORDER_MAX_QTY) {
      snprintf(field, sizeof(field), "items[%d].qty", i);
      return kds_err_set(err, 422, "validation_failed", field, "qty must be an integer from 1 to %d",
                         ORDER_MAX_QTY);
    }
    order_line extras = {0};
    if ((rc = line_extras(it, i, &extras, err)) != 0) {
      extras_free(&extras);
      return rc;
    }
    for (j = 0; j < o->nlines; j++) {
      if (o->lines[j].product_id == p.id && order_line_extras_equal(&o->lines[j], &extras)) {
        extras_free(&extras);
        /* qty stays small (200 x 999 at most); the subtotal is what can leave the range */
        o->lines[j].qty += (int64_t)qty->valuedouble;
        if (order_amount_mul(o->lines[j].qty, o->lines[j].price, &o->lines[j].subtotal) != 0)
          return too_much(err, i);
        break;
      }
    }
    if (j == o->nlines) {
      rc = order_line_add(o, p.id, p.name, p.category_id, p.category, p.category_sort,
                          (int64_t)qty->valuedouble, p.price);
      if (rc) {
        extras_free(&extras);
        return rc == KDS_ETOOBIG ? too_much(err, i) : rc;
      }
      /* the line takes over the extras */
      o->lines[j].note = extras.note;
      o->lines[j].modifiers = extras.modifiers;
      o->lines[j].nmodifiers = extras.nmodifiers;
    }
  }
  if (order_lines_total(o, &o->total_amount) != 0)
    return kds_err_set(err, 422, "validation_failed", "items",
                       "the order total would exceed %" PRId64 " (the largest amount JSON carries exactly)",
                       ORDER_MAX_AMOUNT);

  if (note != NULL && !cJSON_IsNull(note) &&
      (!cJSON_IsString(note) || order_utf16_len(note->valuestring) > ORDER_MAX_NOTE))
    return kds_err_set(err, 422, "validation_failed", "note",
                       "note must be a string of at most %d characters", ORDER_MAX_NOTE);
  if (cJSON_IsString(note)) {
    char *trimmed = order_trim_dup(note->valuestring);
    if (trimmed == NULL) return KDS_ENOMEM;
    rc = order_set_note(o, trimmed);
    free(trimmed);
    if (rc) return rc;
  }
  if ((rc = order_context(body, o, err)) != 0) return rc;
  snprintf(o->payment_method, sizeof(o->payment_method), "%s", pm->valuestring);
  return 0;
}
