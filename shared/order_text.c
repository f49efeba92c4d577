/* order_text.c: the text around orders (see order.h): cleaning and measuring text the way
 * JavaScript does, invoice numbers, local dates and times, and the vocabularies (statuses,
 * payment methods, roles, transitions, reserved keys). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "order.h"
#include "utf8.h"

const char *const order_statuses[5] = {"new", "preparing", "ready", "completed", "cancelled"};
const char order_statuses_text[] = "new, preparing, ready, completed, cancelled";
static const char *const payment_methods[] = {"CASH", "QRIS", "CARD", "TRANSFER", "EWALLET"};
const char order_payment_methods_text[] = "CASH, QRIS, CARD, TRANSFER, EWALLET";

/* The seed's keys, the extension keys, and the keys SPEC 10 reserves for later. */
static const char *const reserved_keys[] = {
    "invoice_number", "date",      "total_amount", "status",    "created_at", "updated_at",
    "payment_method", "outlet_id", "note",         "lines",     "order_type", "table",
    "customer_name",  "rush",      "done_lines",   "modifiers", "done",
};
static const char *const order_types[] = {"dine_in", "takeaway", "delivery"};

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
    {"display", {NULL}}, /* SPEC 10.6: a wall screen reads and never writes */
};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static int in_list(const char *s, const char *const *list, size_t n) {
  if (s == NULL) return 0;
  for (size_t i = 0; i < n && list[i]; i++)
    if (strcmp(s, list[i]) == 0) return 1;
  return 0;
}

/* ---- text as JavaScript reads it ---------------------------------------------------------------- */

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

int order_type_valid(const char *s) {
  return in_list(s, order_types, COUNT(order_types));
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
