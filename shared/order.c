/* order.c: the order model, its seed-shaped JSON, invoice numbers, local timestamps,
 * statuses, transitions, role rules and create-request validation. */
#include "order.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <math.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "json.h"
#include "utf8.h"

const char *const order_statuses[5] = {"new", "preparing", "ready", "completed", "cancelled"};
const char order_statuses_text[] = "new, preparing, ready, completed, cancelled";
static const char *const payment_methods[] = {"CASH", "QRIS", "CARD", "TRANSFER", "EWALLET"};
const char order_payment_methods_text[] = "CASH, QRIS, CARD, TRANSFER, EWALLET";

/* The seed's keys, the extension keys, and the keys SPEC 10 reserves for later. */
static const char *const reserved_keys[] = {
    "invoice_number", "date",           "total_amount",  "status", "created_at",
    "updated_at",     "payment_method", "outlet_id",     "note",   "lines",
    "order_type",     "table",          "customer_name", "rush",   "done_lines",
};

/* Transitions (SPEC 3): a row per current status, the statuses it may become. */
static const struct {
  const char *from;
  const char *to[4];
} transitions[] = {
    {"new", {"preparing", "ready", "cancelled"}},
    {"preparing", {"ready", "cancelled"}},
    {"ready", {"completed", "preparing", "cancelled"}}, /* ready -> preparing is a recall */
    {"completed", {"ready"}},                           /* recall */
    {"cancelled", {NULL}},
};

/* What each role may set (SPEC 11.1): the kitchen prepares, bumps and recalls; the cashier
 * completes and cancels; the admin anything. */
static const struct {
  const char *role;
  const char *may[6];
} role_targets[] = {
    {"admin", {"new", "preparing", "ready", "completed", "cancelled"}},
    {"kitchen", {"preparing", "ready", "completed"}},
    {"cashier", {"completed", "cancelled"}},
};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static int in_list(const char *s, const char *const *list, size_t n) {
  if (s == NULL) return 0;
  for (size_t i = 0; i < n && list[i]; i++)
    if (strcmp(s, list[i]) == 0) return 1;
  return 0;
}

/* ---- model ------------------------------------------------------------------------- */

void order_init(order_t *o) {
  memset(o, 0, sizeof(*o));
}

void order_release(order_t *o) {
  if (o == NULL) return;
  for (size_t i = 0; i < o->nlines; i++) {
    free(o->lines[i].name);
    free(o->lines[i].category);
  }
  free(o->lines);
  free(o->note);
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

int order_set_note(order_t *o, const char *note) {
  char *copy = NULL;
  if (note && *note && (copy = strdup(note)) == NULL) return KDS_ENOMEM;
  free(o->note);
  o->note = copy;
  return 0;
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

/* ---- JSON text helpers ---------------------------------------------------------------- */

/* Our strings are UTF-8 with two additions a C string needs to carry any JavaScript string
 * (see order_text_clean): C0 80 is U+0000, and a 3-byte surrogate encoding (ED A0..BF xx,
 * "WTF-8") is a lone surrogate. Both are invalid UTF-8, so nothing else produces them once
 * input has been cleaned; utf8.h reads them. */

int order_text_clean(kds_buf *out, const char *s, size_t len, int nul_as_c080) {
  const unsigned char *p = (const unsigned char *)s;
  size_t i = 0, run = 0;
  if (kds_buf_grow(out, len) != 0) return KDS_ENOMEM;
  while (i < len) {
    uint32_t cp;
    int valid;
    size_t k = p[i] ? utf8_decode(p + i, len - i, &cp, &valid) : 1;
    if (p[i] && valid) {
      i += k;
      run += k;
      continue;
    }
    if (run && kds_buf_add(out, p + i - run, run) != 0) return KDS_ENOMEM;
    run = 0;
    if (p[i] == 0) {
      if (nul_as_c080 ? kds_buf_add(out, "\xC0\x80", 2) : kds_buf_addc(out, '\0')) return KDS_ENOMEM;
    } else if (kds_buf_adds(out, "\xEF\xBF\xBD") != 0) {
      return KDS_ENOMEM;
    }
    i += k;
  }
  if (run && kds_buf_add(out, p + len - run, run) != 0) return KDS_ENOMEM;
  return kds_buf_grow(out, 0);
}

int order_json_str(kds_buf *b, const char *s, size_t len) {
  return json_quote(b, s, len, JSON_UTF8_REPLACE);
}

size_t order_utf16_len(const char *s) {
  const unsigned char *p = (const unsigned char *)s;
  size_t n = 0, len = strlen(s), i = 0;
  while (i < len) {
    uint32_t cp;
    int valid;
    size_t k;
    if (utf8_nul_at(p + i, len - i)) { /* U+0000 */
      k = 2;
      cp = 0;
    } else if (utf8_lone_at(p + i, len - i)) { /* one UTF-16 unit in JavaScript */
      k = 3;
      cp = 0xD800;
    } else {
      k = utf8_decode(p + i, len - i, &cp, &valid); /* U+FFFD: one unit */
    }
    n += cp >= 0x10000 ? 2 : 1;
    i += k;
  }
  return n;
}

/* JavaScript's WhiteSpace and LineTerminator code points (what trim() removes). */
static int js_space(uint32_t c) {
  return c == 0x09 || c == 0x0A || c == 0x0B || c == 0x0C || c == 0x0D || c == 0x20 || c == 0xA0 ||
         c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F ||
         c == 0x205F || c == 0x3000 || c == 0xFEFF;
}

char *order_trim_dup(const char *s) {
  const unsigned char *p = (const unsigned char *)s;
  size_t len = strlen(s), start = 0, end = 0, i = 0;
  int seen = 0;
  char *out;
  while (i < len) {
    uint32_t cp;
    int valid;
    size_t k = utf8_decode(p + i, len - i, &cp, &valid); /* invalid bytes are never blank */
    if (!js_space(cp)) {
      if (!seen) start = i;
      seen = 1;
      end = i + k;
    }
    i += k;
  }
  if (!seen) start = end = 0;
  out = malloc(end - start + 1);
  if (out == NULL) return NULL;
  memcpy(out, s + start, end - start);
  out[end - start] = '\0';
  return out;
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
      order_json_str(b, o->date, strlen(o->date)) ||
      kds_buf_addf(b, ",\"total_amount\":%" PRId64, o->total_amount))
    goto out;
  for (size_t g = 0; g < ngroups; g++) {
    const order_line *head = &o->lines[groups[g].first];
    int first_item = 1;
    if (kds_buf_addc(b, ',') || order_json_str(b, head->category, strlen(head->category)) ||
        kds_buf_addf(b, ":{\"quantity\":%" PRId64 ",\"total_amount\":%" PRId64 ",\"items\":[",
                     groups[g].quantity, groups[g].total))
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
      order_json_str(b, o->payment_method, strlen(o->payment_method)) ||
      kds_buf_addf(b, ",\"outlet_id\":%" PRId64, o->outlet_id))
    goto out;
  if (o->note && *o->note && (kds_buf_adds(b, ",\"note\":") || order_json_str(b, o->note, strlen(o->note))))
    goto out;
  if (kds_buf_adds(b, ",\"lines\":[")) goto out;
  for (size_t i = 0; i < o->nlines; i++) {
    const order_line *l = &o->lines[i];
    if (kds_buf_addf(b, "%s{\"product_id\":%" PRId64 ",\"name\":", i ? "," : "", l->product_id) ||
        order_json_str(b, l->name, strlen(l->name)) || kds_buf_adds(b, ",\"category\":") ||
        order_json_str(b, l->category, strlen(l->category)) ||
        kds_buf_addf(b, ",\"qty\":%" PRId64 ",\"price\":%" PRId64 ",\"subtotal\":%" PRId64 "}", l->qty,
                     l->price, l->subtotal))
      goto out;
  }
  if (kds_buf_adds(b, "]}")) goto out;
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

/* ---- invoice, dates, times ------------------------------------------------------------ */

int order_date_shape_ok(const char *s) {
  static const char shape[] = "dddd-dd-dd";
  if (s == NULL || strlen(s) != 10) return 0;
  for (int i = 0; i < 10; i++) {
    if (shape[i] == 'd' ? (s[i] < '0' || s[i] > '9') : s[i] != '-') return 0;
  }
  return 1;
}

int order_date_valid(const char *s) {
  static const int days[12] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  int y, m, d;
  if (!order_date_shape_ok(s)) return 0;
  y = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 + (s[3] - '0');
  m = (s[5] - '0') * 10 + (s[6] - '0');
  d = (s[8] - '0') * 10 + (s[9] - '0');
  if (y < 1 || m < 1 || m > 12 || d < 1 || d > days[m - 1]) return 0;
  if (m == 2 && d == 29 && !((y % 4 == 0 && y % 100 != 0) || y % 400 == 0)) return 0;
  return 1;
}

int order_invoice_format(char out[ORDER_INVOICE_SIZE], const char *date, int64_t seq) {
  if (!order_date_shape_ok(date) || seq < 1) return KDS_EINVAL;
  snprintf(out, ORDER_INVOICE_SIZE, "INV-%.4s%.2s%.2s-%04" PRId64, date, date + 5, date + 8, seq);
  return 0;
}

int64_t order_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void local_tm(int64_t ms, struct tm *tm) {
  time_t secs = (time_t)(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
  localtime_r(&secs, tm);
}

/* Copies a formatted scratch string into a fixed field, truncating (the compiler cannot
 * bound struct tm's ints, so formatting goes through a roomy buffer first). */
static void copy_fixed(char *out, size_t size, const char *tmp) {
  size_t n = strlen(tmp);
  if (n >= size) n = size - 1;
  memcpy(out, tmp, n);
  out[n] = '\0';
}

void order_local_date(int64_t ms, char out[ORDER_DATE_SIZE]) {
  struct tm tm;
  char tmp[96];
  local_tm(ms, &tm);
  snprintf(tmp, sizeof(tmp), "%04d-%02d-%02d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
  copy_fixed(out, ORDER_DATE_SIZE, tmp);
}

void order_local_iso(int64_t ms, char out[ORDER_TIME_SIZE]) {
  struct tm tm;
  char tmp[160];
  long off;
  int msec = (int)(((ms % 1000) + 1000) % 1000);
  local_tm(ms, &tm);
  off = tm.tm_gmtoff / 60; /* minutes east of UTC */
  snprintf(tmp, sizeof(tmp), "%04d-%02d-%02dT%02d:%02d:%02d.%03d%c%02ld:%02ld", tm.tm_year + 1900,
           tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, msec, off >= 0 ? '+' : '-',
           labs(off) / 60, labs(off) % 60);
  copy_fixed(out, ORDER_TIME_SIZE, tmp);
}

/* ---- vocabularies --------------------------------------------------------------------- */

int order_is_reserved_key(const char *name) {
  return in_list(name, reserved_keys, COUNT(reserved_keys));
}

int order_payment_method_valid(const char *s) {
  return in_list(s, payment_methods, COUNT(payment_methods));
}

int order_status_valid(const char *s) {
  return in_list(s, order_statuses, COUNT(order_statuses));
}

int order_role_valid(const char *s) {
  for (size_t i = 0; i < COUNT(role_targets); i++)
    if (s && strcmp(s, role_targets[i].role) == 0) return 1;
  return 0;
}

unsigned order_status_bit(const char *s) {
  for (size_t i = 0; i < COUNT(order_statuses); i++)
    if (s && strcmp(s, order_statuses[i]) == 0) return 1u << i;
  return 0;
}

int order_transition_ok(const char *from, const char *to) {
  for (size_t i = 0; i < COUNT(transitions); i++)
    if (from && strcmp(from, transitions[i].from) == 0) return in_list(to, transitions[i].to, 4);
  return 0;
}

int order_role_may_set(const char *role, const char *status) {
  for (size_t i = 0; i < COUNT(role_targets); i++)
    if (role && strcmp(role, role_targets[i].role) == 0) return in_list(status, role_targets[i].may, 6);
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
    for (j = 0; j < o->nlines; j++) {
      if (o->lines[j].product_id == p.id) {
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
      if (rc == KDS_ETOOBIG) return too_much(err, i);
      if (rc) return rc;
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
  snprintf(o->payment_method, sizeof(o->payment_method), "%s", pm->valuestring);
  return 0;
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
