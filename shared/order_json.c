/* order_json.c: an order's JSON (see order.h): the seed-shaped writer, its reader, the
 * REST string quoter, and the canonical body hash. */
#include <cjson/cJSON.h>
#include <math.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "order.h"

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

int order_json_str(kds_buf *b, const char *s, size_t len) {
  return json_quote(b, s, len, JSON_UTF8_REPLACE);
}

/* ---- render ------------------------------------------------------------------------- */

typedef struct group {
  size_t first; /* index of the first line of this category */
  int64_t quantity;
  int64_t total;
} group;

static int group_cmp(const order_line *a, const order_line *b) {
  if (a->category_sort != b->category_sort) return a->category_sort < b->category_sort ? -1 : 1;
  if (a->category_id != b->category_id) return a->category_id < b->category_id ? -1 : 1;
  return 0;
}

/* A key and its string value, when the value is set (SPEC 10: keys only when they carry
 * information). Returns 0 or KDS_ENOMEM. */
static int opt_str(kds_buf *b, const char *key, const char *v) {
  if (v == NULL || *v == '\0') return 0;
  if (kds_buf_adds(b, key) || order_json_str(b, v, strlen(v))) return KDS_ENOMEM;
  return 0;
}

static int render_line_extras(kds_buf *b, const order_line *l) {
  if (opt_str(b, ",\"note\":", l->note)) return KDS_ENOMEM;
  if (l->nmodifiers) {
    if (kds_buf_adds(b, ",\"modifiers\":[")) return KDS_ENOMEM;
    for (size_t m = 0; m < l->nmodifiers; m++)
      if ((m && kds_buf_addc(b, ',')) || order_json_str(b, l->modifiers[m], strlen(l->modifiers[m])))
        return KDS_ENOMEM;
    if (kds_buf_addc(b, ']')) return KDS_ENOMEM;
  }
  if (l->done && kds_buf_adds(b, ",\"done\":true")) return KDS_ENOMEM;
  return 0;
}

/* After `lines`, in SPEC 10's order: order_type, table, customer_name, rush. */
static int render_context(kds_buf *b, const order_t *o) {
  if (opt_str(b, ",\"order_type\":", o->order_type) || opt_str(b, ",\"table\":", o->table) ||
      opt_str(b, ",\"customer_name\":", o->customer_name) || (o->rush && kds_buf_adds(b, ",\"rush\":true")))
    return KDS_ENOMEM;
  return 0;
}

int order_render(const order_t *o, kds_buf *b) {
  group small[16], *groups = small;
  size_t ngroups = 0;
  int rc = KDS_ENOMEM;

  if (o->nlines > COUNT(small) && (groups = malloc(o->nlines * sizeof(*groups))) == NULL) return KDS_ENOMEM;
  /* Group lines by category, keeping groups sorted by display order (insertion sort:
   * orders have a handful of categories). */
  for (size_t i = 0; i < o->nlines; i++) {
    const order_line *l = &o->lines[i];
    size_t g;
    for (g = 0; g < ngroups; g++)
      if (o->lines[groups[g].first].category_id == l->category_id) break;
    if (g == ngroups) {
      size_t at = ngroups;
      while (at > 0 && group_cmp(l, &o->lines[groups[at - 1].first]) < 0) at--;
      memmove(&groups[at + 1], &groups[at], (ngroups - at) * sizeof(*groups));
      groups[at] = (group){i, 0, 0};
      ngroups++;
      g = at;
    }
    if (order_amount_add(groups[g].quantity, l->qty, &groups[g].quantity) != 0 ||
        order_amount_add(groups[g].total, l->subtotal, &groups[g].total) != 0) {
      rc = KDS_ETOOBIG;
      goto out;
    }
  }

  if (kds_buf_adds(b, "{\"invoice_number\":") ||
      order_json_str(b, o->invoice_number, strlen(o->invoice_number)) || kds_buf_adds(b, ",\"date\":") ||
      order_json_str(b, o->date, strlen(o->date)) || kds_buf_adds(b, ",\"total_amount\":") ||
      json_int(b, o->total_amount))
    goto out;
  for (size_t g = 0; g < ngroups; g++) {
    const order_line *head = &o->lines[groups[g].first];
    int first_item = 1;
    if (kds_buf_addc(b, ',') || order_json_str(b, head->category, strlen(head->category)) ||
        kds_buf_adds(b, ":{\"quantity\":") || json_int(b, groups[g].quantity) ||
        kds_buf_adds(b, ",\"total_amount\":") || json_int(b, groups[g].total) ||
        kds_buf_adds(b, ",\"items\":["))
      goto out;
    /* distinct names in first-ordered order */
    for (size_t i = groups[g].first; i < o->nlines; i++) {
      const order_line *l = &o->lines[i];
      size_t j;
      if (l->category_id != head->category_id) continue;
      for (j = groups[g].first; j < i; j++)
        if (o->lines[j].category_id == head->category_id && strcmp(o->lines[j].name, l->name) == 0) break;
      if (j < i) continue;
      if ((!first_item && kds_buf_addc(b, ',')) || order_json_str(b, l->name, strlen(l->name))) goto out;
      first_item = 0;
    }
    if (kds_buf_adds(b, "]}")) goto out;
  }
  if (kds_buf_adds(b, ",\"status\":") || order_json_str(b, o->status, strlen(o->status)) ||
      kds_buf_adds(b, ",\"created_at\":") || order_json_str(b, o->created_at, strlen(o->created_at)) ||
      kds_buf_adds(b, ",\"updated_at\":") || order_json_str(b, o->updated_at, strlen(o->updated_at)) ||
      kds_buf_adds(b, ",\"payment_method\":") ||
      order_json_str(b, o->payment_method, strlen(o->payment_method)) || kds_buf_adds(b, ",\"outlet_id\":") ||
      json_int(b, o->outlet_id))
    goto out;
  if (o->note && *o->note && (kds_buf_adds(b, ",\"note\":") || order_json_str(b, o->note, strlen(o->note))))
    goto out;
  if (kds_buf_adds(b, ",\"lines\":[")) goto out;
  for (size_t i = 0; i < o->nlines; i++) {
    const order_line *l = &o->lines[i];
    if ((i && kds_buf_addc(b, ',')) || kds_buf_adds(b, "{\"product_id\":") || json_int(b, l->product_id) ||
        kds_buf_adds(b, ",\"name\":") || order_json_str(b, l->name, strlen(l->name)) ||
        kds_buf_adds(b, ",\"category\":") || order_json_str(b, l->category, strlen(l->category)) ||
        kds_buf_adds(b, ",\"qty\":") || json_int(b, l->qty) || kds_buf_adds(b, ",\"price\":") ||
        json_int(b, l->price) || kds_buf_adds(b, ",\"subtotal\":") || json_int(b, l->subtotal) ||
        render_line_extras(b, l) || kds_buf_addc(b, '}'))
      goto out;
  }
  if (kds_buf_addc(b, ']') || render_context(b, o) || kds_buf_addc(b, '}')) goto out;
  rc = 0;
out:
  if (groups != small) free(groups);
  return rc;
}

/* ---- parse --------------------------------------------------------------------------- */

static void copy_str(char *dst, size_t size, const cJSON *v) {
  if (cJSON_IsString(v) && v->valuestring) snprintf(dst, size, "%s", v->valuestring);
}

static int64_t num_or(const cJSON *v, int64_t dflt) {
  if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) || fabs(v->valuedouble) > (double)ORDER_MAX_AMOUNT)
    return dflt;
  return (int64_t)v->valuedouble;
}

/* Index (from 1) of the category key `name` among the object's non-reserved object keys. */
static int64_t category_index(const cJSON *obj, const char *name) {
  int64_t idx = 0;
  for (const cJSON *k = obj->child; k; k = k->next) {
    if (!cJSON_IsObject(k) || k->string == NULL || order_is_reserved_key(k->string)) continue;
    idx++;
    if (strcmp(k->string, name) == 0) return idx;
  }
  return 0;
}

/* A line's note, modifiers and done as a screen reads them: what is not the right type is
 * ignored (a display shows what it can). */
static int parse_line_extras(const cJSON *l, order_line *line) {
  const cJSON *note = cJSON_GetObjectItemCaseSensitive(l, "note");
  const cJSON *mods = cJSON_GetObjectItemCaseSensitive(l, "modifiers");
  if (cJSON_IsString(note) && order_str_set(&line->note, note->valuestring)) return KDS_ENOMEM;
  for (const cJSON *m = cJSON_IsArray(mods) ? mods->child : NULL; m; m = m->next)
    if (cJSON_IsString(m) && order_line_add_modifier(line, m->valuestring)) return KDS_ENOMEM;
  line->done = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(l, "done"));
  return 0;
}

static int parse_context(const cJSON *obj, order_t *o) {
  const cJSON *table = cJSON_GetObjectItemCaseSensitive(obj, "table");
  const cJSON *customer = cJSON_GetObjectItemCaseSensitive(obj, "customer_name");
  copy_str(o->order_type, sizeof(o->order_type), cJSON_GetObjectItemCaseSensitive(obj, "order_type"));
  if (cJSON_IsString(table) && order_str_set(&o->table, table->valuestring)) return KDS_ENOMEM;
  if (cJSON_IsString(customer) && order_str_set(&o->customer_name, customer->valuestring)) return KDS_ENOMEM;
  o->rush = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(obj, "rush"));
  return 0;
}

int order_from_json(const cJSON *obj, order_t *o) {
  const cJSON *inv, *lines, *note;
  int64_t ncat = 0;
  int rc = KDS_ENOMEM;
  order_release(o);
  if (!cJSON_IsObject(obj)) return KDS_EINVAL;
  inv = cJSON_GetObjectItemCaseSensitive(obj, "invoice_number");
  if (!cJSON_IsString(inv) || inv->valuestring == NULL) return KDS_EINVAL;
  copy_str(o->invoice_number, sizeof(o->invoice_number), inv);
  copy_str(o->date, sizeof(o->date), cJSON_GetObjectItemCaseSensitive(obj, "date"));
  o->total_amount = num_or(cJSON_GetObjectItemCaseSensitive(obj, "total_amount"), 0);
  copy_str(o->status, sizeof(o->status), cJSON_GetObjectItemCaseSensitive(obj, "status"));
  copy_str(o->created_at, sizeof(o->created_at), cJSON_GetObjectItemCaseSensitive(obj, "created_at"));
  copy_str(o->updated_at, sizeof(o->updated_at), cJSON_GetObjectItemCaseSensitive(obj, "updated_at"));
  copy_str(o->payment_method, sizeof(o->payment_method),
           cJSON_GetObjectItemCaseSensitive(obj, "payment_method"));
  o->outlet_id = num_or(cJSON_GetObjectItemCaseSensitive(obj, "outlet_id"), 0);
  note = cJSON_GetObjectItemCaseSensitive(obj, "note");
  if (cJSON_IsString(note) && order_set_note(o, note->valuestring) != 0) goto fail;
  if (parse_context(obj, o) != 0) goto fail;

  for (const cJSON *k = obj->child; k; k = k->next)
    if (cJSON_IsObject(k) && k->string && !order_is_reserved_key(k->string)) ncat++;

  lines = cJSON_GetObjectItemCaseSensitive(obj, "lines");
  if (cJSON_IsArray(lines)) {
    for (const cJSON *l = lines->child; l; l = l->next) {
      const cJSON *name = cJSON_GetObjectItemCaseSensitive(l, "name");
      const cJSON *cat = cJSON_GetObjectItemCaseSensitive(l, "category");
      const char *cname = cJSON_IsString(cat) ? cat->valuestring : "";
      int64_t idx, qty, price;
      if (!cJSON_IsObject(l)) continue;
      idx = category_index(obj, cname);
      if (idx == 0) idx = ++ncat; /* a line whose category has no key: after the others */
      qty = num_or(cJSON_GetObjectItemCaseSensitive(l, "qty"), 0);
      price = num_or(cJSON_GetObjectItemCaseSensitive(l, "price"), 0);
      if ((rc = order_line_add(o, num_or(cJSON_GetObjectItemCaseSensitive(l, "product_id"), 0),
                               cJSON_IsString(name) ? name->valuestring : "", idx, cname, idx, qty, price)) !=
          0)
        goto fail;
      o->lines[o->nlines - 1].subtotal =
          num_or(cJSON_GetObjectItemCaseSensitive(l, "subtotal"), o->lines[o->nlines - 1].subtotal);
      if ((rc = parse_line_extras(l, &o->lines[o->nlines - 1])) != 0) goto fail;
    }
  } else {
    /* Seed shape only: one line per item of each category. */
    int64_t idx = 0;
    for (const cJSON *k = obj->child; k; k = k->next) {
      const cJSON *items;
      int n;
      if (!cJSON_IsObject(k) || k->string == NULL || order_is_reserved_key(k->string)) continue;
      idx++;
      items = cJSON_GetObjectItemCaseSensitive(k, "items");
      n = cJSON_GetArraySize(items);
      for (const cJSON *it = cJSON_IsArray(items) ? items->child : NULL; it; it = it->next) {
        int64_t qty = n == 1 ? num_or(cJSON_GetObjectItemCaseSensitive(k, "quantity"), 1) : 1;
        int64_t total = n == 1 ? num_or(cJSON_GetObjectItemCaseSensitive(k, "total_amount"), 0) : 0;
        if (!cJSON_IsString(it)) continue;
        if ((rc = order_line_add(o, 0, it->valuestring, idx, k->string, idx, qty, qty ? total / qty : 0)) !=
            0)
          goto fail;
        o->lines[o->nlines - 1].subtotal = total;
      }
    }
  }
  return 0;
fail:
  order_release(o);
  return rc;
}

int order_parse(const char *json, size_t len, order_t *o) {
  cJSON *root = cJSON_ParseWithLength(json, len);
  int rc;
  if (root == NULL) {
    order_release(o);
    return KDS_EINVAL;
  }
  rc = order_from_json(root, o);
  cJSON_Delete(root);
  return rc;
}

/* ---- canonical JSON hash -------------------------------------------------------------- */

int order_body_hash(const cJSON *value, char hex[65]) {
  static const char digits[] = "0123456789abcdef";
  kds_buf b = KDS_BUF_INIT;
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int mdlen = 0;
  int rc = json_stringify(&b, value, JSON_CANONICAL);
  if (rc == 0 && kds_buf_grow(&b, 0) != 0) rc = KDS_ENOMEM;
  if (rc == 0 && EVP_Digest(b.base, b.len, md, &mdlen, EVP_sha256(), NULL) != 1) rc = KDS_ENOMEM;
  kds_buf_release(&b);
  if (rc) return rc;
  for (unsigned i = 0; i < mdlen && i < 32; i++) {
    hex[2 * i] = digits[md[i] >> 4];
    hex[2 * i + 1] = digits[md[i] & 15];
  }
  hex[64] = '\0';
  return 0;
}
