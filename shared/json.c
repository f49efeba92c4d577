/* json.c: the strict JSON scanner, quoting, JSON.stringify and the repeated-key rule (see
 * json.h). */
#include "json.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "hex.h"
#include "utf8.h"

/* ---- the scanner ----------------------------------------------------------------------- */

typedef struct jscan {
  const char *s;
  size_t n, i;
  size_t copied; /* s[copied..i) not yet copied to out */
  kds_buf *out;  /* NULL: check only */
  unsigned flags;
} jscan;

int json_is_space(int c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static int is_digit(char c) {
  return c >= '0' && c <= '9';
}

static void scan_ws(jscan *j) {
  while (j->i < j->n && json_is_space(j->s[j->i])) j->i++;
}

static int scan_flush(jscan *j, size_t upto) {
  int rc = upto > j->copied ? kds_buf_add(j->out, j->s + j->copied, upto - j->copied) : 0;
  j->copied = upto;
  return rc;
}

/* The \u escape at s[i] (s[i] is '\\', s[i + 1] is 'u'): returns the bytes it spans, 6, or
 * 12 for a surrogate pair written as two escapes (joined into *cp), and 0 when its four hex
 * digits are not there. A lone surrogate comes back as its own code unit. */
static size_t u_escape(const char *s, size_t n, size_t i, uint32_t *cp) {
  uint32_t u, lo;
  if (n - i < 6 || hex_decode(s + i + 2, 4, &u) != 0) return 0;
  if (utf8_is_high_surrogate(u) && n - i >= 12 && s[i + 6] == '\\' && s[i + 7] == 'u' &&
      hex_decode(s + i + 8, 4, &lo) == 0 && utf8_is_low_surrogate(lo)) {
    *cp = 0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00);
    return 12;
  }
  *cp = u;
  return 6;
}

/* A string at j->i (on its '"'), with the \u rewrites of j->flags. 0, KDS_EPROTO or
 * KDS_ENOMEM. */
static int scan_string(jscan *j) {
  j->i++;
  for (;;) {
    unsigned char c;
    uint32_t cp;
    size_t k;
    char enc[4];
    size_t elen = 0;
    if (j->i >= j->n) return KDS_EPROTO;
    c = (unsigned char)j->s[j->i];
    if (c == '"') {
      j->i++;
      return 0;
    }
    if (c < 0x20) return KDS_EPROTO; /* control characters must be escaped */
    if (c != '\\') {
      j->i++;
      continue;
    }
    if (j->i + 1 >= j->n) return KDS_EPROTO;
    switch (j->s[j->i + 1]) {
      case '"':
      case '\\':
      case '/':
      case 'b':
      case 'f':
      case 'n':
      case 'r':
      case 't':
        j->i += 2;
        continue;
      case 'u':
        break;
      default:
        return KDS_EPROTO;
    }
    if ((k = u_escape(j->s, j->n, j->i, &cp)) == 0) return KDS_EPROTO;
    if (cp == 0 && (j->flags & JSON_NUL_AS_C080)) {
      enc[0] = (char)0xC0;
      enc[1] = (char)0x80;
      elen = 2;
    } else if (cp >= 0xD800 && cp <= 0xDFFF && (j->flags & (JSON_LONE_KEEP | JSON_LONE_REPLACE))) {
      elen = utf8_lone_fix(cp, (j->flags & JSON_LONE_KEEP) ? UTF8_LONE_KEEP : UTF8_LONE_REPLACE, enc);
    }
    if (elen) {
      if (scan_flush(j, j->i) != 0 || kds_buf_add(j->out, enc, elen) != 0) return KDS_ENOMEM;
      j->copied = j->i + k;
    }
    j->i += k;
  }
}

/* A number at j->i, in JSON's grammar (no leading zeros, no "1.", no "+1"). */
static int scan_number(jscan *j) {
  size_t start = j->i;
  if (j->s[j->i] == '-') j->i++;
  if (j->i >= j->n) return KDS_EPROTO;
  if (j->s[j->i] == '0') {
    j->i++;
  } else if (is_digit(j->s[j->i])) {
    while (j->i < j->n && is_digit(j->s[j->i])) j->i++;
  } else {
    return KDS_EPROTO;
  }
  if (j->i < j->n && j->s[j->i] == '.') {
    j->i++;
    if (j->i >= j->n || !is_digit(j->s[j->i])) return KDS_EPROTO;
    while (j->i < j->n && is_digit(j->s[j->i])) j->i++;
  }
  if (j->i < j->n && (j->s[j->i] == 'e' || j->s[j->i] == 'E')) {
    j->i++;
    if (j->i < j->n && (j->s[j->i] == '+' || j->s[j->i] == '-')) j->i++;
    if (j->i >= j->n || !is_digit(j->s[j->i])) return KDS_EPROTO;
    while (j->i < j->n && is_digit(j->s[j->i])) j->i++;
  }
  if ((j->flags & JSON_SHORT_NUMBERS) && j->i - start > JSON_NUMBER_MAX) {
    char *text = strndup(j->s + start, j->i - start);
    double d;
    if (text == NULL) return KDS_ENOMEM;
    d = strtod(text, NULL); /* correctly rounded, as JSON.parse; overflow is inf */
    free(text);
    if (scan_flush(j, start) != 0) return KDS_ENOMEM;
    if (!isfinite(d) ? kds_buf_adds(j->out, d > 0 ? "1e999" : "-1e999") : kds_buf_addf(j->out, "%.17g", d))
      return KDS_ENOMEM;
    j->copied = j->i;
  }
  return 0;
}

/* One value from j->i (blanks before it skipped), nested at most max_depth deep; j->i ends
 * just past it. Iterative, so that depth costs a byte of stack a level, not a frame. */
static int scan_value(jscan *j, int max_depth) {
  char stack[JSON_DEPTH_MAX];
  int depth = 0, rc;
  if (max_depth > JSON_DEPTH_MAX) max_depth = JSON_DEPTH_MAX;
value:
  scan_ws(j);
  if (j->i >= j->n) return KDS_EPROTO;
  switch (j->s[j->i]) {
    case '{':
    case '[':
      if (depth == max_depth) return KDS_EPROTO;
      stack[depth++] = j->s[j->i++];
      scan_ws(j);
      if (j->i < j->n && j->s[j->i] == (stack[depth - 1] == '{' ? '}' : ']')) {
        j->i++;
        depth--;
        goto after;
      }
      if (stack[depth - 1] == '{') goto key;
      goto value;
    case '"':
      if ((rc = scan_string(j)) != 0) return rc;
      goto after;
    case 't':
    case 'f':
    case 'n': {
      const char *lit = j->s[j->i] == 't' ? "true" : j->s[j->i] == 'f' ? "false" : "null";
      size_t l = strlen(lit);
      if (j->n - j->i < l || memcmp(j->s + j->i, lit, l) != 0) return KDS_EPROTO;
      j->i += l;
      goto after;
    }
    default:
      if ((rc = scan_number(j)) != 0) return rc;
      goto after;
  }
key:
  scan_ws(j);
  if (j->i >= j->n || j->s[j->i] != '"') return KDS_EPROTO;
  if ((rc = scan_string(j)) != 0) return rc;
  scan_ws(j);
  if (j->i >= j->n || j->s[j->i] != ':') return KDS_EPROTO;
  j->i++;
  goto value;
after:
  if (depth == 0) return 0;
  scan_ws(j);
  if (j->i >= j->n) return KDS_EPROTO;
  if (j->s[j->i] == ',') {
    j->i++;
    if (stack[depth - 1] == '{') goto key;
    goto value;
  }
  if (j->s[j->i] == (stack[depth - 1] == '{' ? '}' : ']')) {
    j->i++;
    depth--;
    goto after;
  }
  return KDS_EPROTO;
}

/* The whole of s[0..len) as one value with blanks around it. */
static int scan_whole(jscan *j, int max_depth) {
  int rc = scan_value(j, max_depth);
  if (rc != 0) return rc;
  scan_ws(j);
  return j->i == j->n ? 0 : KDS_EPROTO;
}

int json_check(const char *s, size_t len, int max_depth) {
  jscan j = {s, len, 0, 0, NULL, 0};
  return scan_whole(&j, max_depth);
}

ssize_t json_value_end(const char *s, size_t len, size_t at, int max_depth) {
  jscan j = {s, len, at, at, NULL, 0};
  int rc;
  if (at > len) return KDS_EPROTO;
  if ((rc = scan_value(&j, max_depth)) != 0) return rc;
  return (ssize_t)j.i;
}

int json_rewrite(kds_buf *out, const char *s, size_t len, unsigned flags) {
  jscan j = {s, len, 0, 0, out, flags};
  size_t start = out->len;
  int rc = scan_whole(&j, JSON_DEPTH_MAX);
  if (rc == 0) rc = scan_flush(&j, len);
  if (rc != 0) {
    out->len = start;
    if (out->base) out->base[start] = '\0';
  }
  return rc;
}

int json_compact(kds_buf *out, const char *s, size_t len, int max_depth) {
  size_t i;
  int in_str = 0, rc;
  if (json_check(s, len, max_depth) != 0) return KDS_EPROTO;
  if ((rc = kds_buf_grow(out, len)) != 0) return rc;
  for (i = 0; i < len; i++) {
    char c = s[i];
    if (in_str) {
      if (c == '\\') {
        out->base[out->len++] = c;
        c = s[++i]; /* valid JSON: an escape is never the last byte */
      } else if (c == '"') {
        in_str = 0;
      }
    } else if (json_is_space(c)) {
      continue;
    } else if (c == '"') {
      in_str = 1;
    }
    out->base[out->len++] = c;
  }
  out->base[out->len] = '\0';
  return 0;
}

/* ---- strings ----------------------------------------------------------------------------- */

int json_quote(kds_buf *b, const char *s, size_t len, json_utf8 policy) {
  static const char hex[] = "0123456789abcdef";
  const unsigned char *p = (const unsigned char *)s;
  size_t i = 0, run = 0;
  if (kds_buf_grow(b, len + 2) != 0) return KDS_ENOMEM;
  kds_buf_addc(b, '"');
  while (i < len) {
    unsigned char c = p[i];
    uint32_t cp, sur = 0;
    int valid = 1;
    size_t n = 1;
    char e[7];
    size_t el = 2;
    if (c >= 0x20 && c != '"' && c != '\\' && (c < 0x80 || policy == JSON_UTF8_PASS)) {
      i++;
      run++;
      continue;
    }
    if (c >= 0x80 && !utf8_nul_at(p + i, len - i) &&
        !(policy == JSON_UTF8_JS && (sur = utf8_lone_at(p + i, len - i)))) {
      n = utf8_decode(p + i, len - i, &cp, &valid);
      if (valid) {
        i += n;
        run += n;
        continue;
      }
    }
    /* flush the plain run before what needs rewriting */
    if (run && kds_buf_add(b, p + i - run, run) != 0) return KDS_ENOMEM;
    run = 0;
    if (!valid) {
      if (kds_buf_adds(b, "\xEF\xBF\xBD") != 0) return KDS_ENOMEM;
      i += n;
      continue;
    }
    e[0] = '\\';
    if (c == 0xC0) { /* C0 80: U+0000 */
      memcpy(e + 1, "u0000", 5);
      el = 6;
      n = 2;
    } else if (sur) {
      e[1] = 'u';
      for (int k = 0; k < 4; k++) e[2 + k] = hex[(sur >> (12 - 4 * k)) & 15];
      el = 6;
      n = 3;
    } else if (c == '"' || c == '\\') {
      e[1] = (char)c;
    } else {
      switch (c) {
        case '\b':
          e[1] = 'b';
          break;
        case '\f':
          e[1] = 'f';
          break;
        case '\n':
          e[1] = 'n';
          break;
        case '\r':
          e[1] = 'r';
          break;
        case '\t':
          e[1] = 't';
          break;
        default:
          memcpy(e + 1, "u00", 3);
          e[4] = hex[c >> 4];
          e[5] = hex[c & 15];
          el = 6;
      }
    }
    if (kds_buf_add(b, e, el) != 0) return KDS_ENOMEM;
    i += n;
  }
  if (run && kds_buf_add(b, p + len - run, run) != 0) return KDS_ENOMEM;
  return kds_buf_addc(b, '"');
}

/* The character an escape other than \u stands for. */
static char unescape_char(char c) {
  switch (c) {
    case 'b':
      return '\b';
    case 'f':
      return '\f';
    case 'n':
      return '\n';
    case 'r':
      return '\r';
    case 't':
      return '\t';
    default: /* " \ / */
      return c;
  }
}

int json_unquote(kds_buf *out, kds_slice lit) {
  jscan j = {lit.ptr, lit.len, 0, 0, NULL, 0};
  size_t i, end, start = out->len;
  int rc = 0;
  if (lit.len < 2 || lit.ptr[0] != '"' || scan_string(&j) != 0 || j.i != lit.len) return KDS_EPROTO;
  end = lit.len - 1;
  for (i = 1; i < end && rc == 0;) {
    size_t run = i;
    while (i < end && lit.ptr[i] != '\\') i++;
    if ((rc = kds_buf_add(out, lit.ptr + run, i - run)) != 0) break;
    if (i >= end) break;
    if (lit.ptr[i + 1] == 'u') {
      uint32_t cp;
      char enc[4];
      size_t k = u_escape(lit.ptr, end, i, &cp), elen;
      elen = cp >= 0xD800 && cp <= 0xDFFF ? utf8_lone_fix(cp, UTF8_LONE_REPLACE, enc) : utf8_encode(cp, enc);
      rc = kds_buf_add(out, enc, elen);
      i += k;
    } else {
      rc = kds_buf_addc(out, unescape_char(lit.ptr[i + 1]));
      i += 2;
    }
  }
  if (rc != 0) {
    out->len = start;
    if (out->base) out->base[start] = '\0';
  }
  return rc;
}

int json_streq(kds_slice lit, const char *s) {
  kds_buf b = KDS_BUF_INIT;
  size_t n = strlen(s);
  int eq, rc;
  /* The common case, no escapes: compare in place. */
  if (lit.len == n + 2 && lit.ptr[0] == '"' && memchr(lit.ptr, '\\', lit.len) == NULL)
    return memcmp(lit.ptr + 1, s, n) == 0 && lit.ptr[n + 1] == '"';
  /* An escape spells at most 6 bytes for each byte it decodes to (\u00XX): longer cannot match,
   * and needs no allocation to say so. */
  if (lit.len < 2 || lit.len > 6 * n + 2 || memchr(lit.ptr, '\\', lit.len) == NULL) return 0;
  if ((rc = json_unquote(&b, lit)) != 0) {
    kds_buf_release(&b);
    return rc == KDS_ENOMEM ? rc : 0; /* not knowing is not "different": callers refuse */
  }
  eq = b.len == n && memcmp(b.base, s, n) == 0;
  kds_buf_release(&b);
  return eq;
}

/* ---- JSON.stringify ---------------------------------------------------------------------- */

int json_int(kds_buf *b, int64_t v) {
  char tmp[24], *w = tmp + sizeof(tmp);
  /* in unsigned arithmetic, so that INT64_MIN negates */
  uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
  do {
    *--w = (char)('0' + u % 10);
    u /= 10;
  } while (u);
  if (v < 0) *--w = '-';
  return kds_buf_add(b, w, (size_t)(tmp + sizeof(tmp) - w));
}

int json_number(kds_buf *b, double d) {
  char tmp[48], digits[24];
  const char *s = tmp;
  int exp, nd = 0, n, p, rc = 0;
  if (!isfinite(d)) return kds_buf_adds(b, "null");
  if (d == 0) return kds_buf_addc(b, '0'); /* -0 too */
  for (p = 1; p < 17; p++) {
    snprintf(tmp, sizeof(tmp), "%.*e", p - 1, d);
    if (strtod(tmp, NULL) == d) break;
  }
  if (p == 17) snprintf(tmp, sizeof(tmp), "%.16e", d);
  if (*s == '-') {
    rc = kds_buf_addc(b, '-');
    s++;
  }
  for (; *s && *s != 'e'; s++)
    if (*s != '.') digits[nd++] = *s;
  exp = atoi(s + 1);
  while (nd > 1 && digits[nd - 1] == '0') nd--;
  n = exp + 1; /* where the decimal point goes */
  if (nd <= n && n <= 21) {
    rc = rc || kds_buf_add(b, digits, (size_t)nd);
    for (int i = nd; i < n && rc == 0; i++) rc = kds_buf_addc(b, '0');
  } else if (0 < n && n <= 21) {
    rc = rc || kds_buf_add(b, digits, (size_t)n) || kds_buf_addc(b, '.') ||
         kds_buf_add(b, digits + n, (size_t)(nd - n));
  } else if (-6 < n && n <= 0) {
    rc = rc || kds_buf_adds(b, "0.");
    for (int i = 0; i < -n && rc == 0; i++) rc = kds_buf_addc(b, '0');
    rc = rc || kds_buf_add(b, digits, (size_t)nd);
  } else {
    rc = rc || kds_buf_addc(b, digits[0]) ||
         (nd > 1 && (kds_buf_addc(b, '.') || kds_buf_add(b, digits + 1, (size_t)(nd - 1)))) ||
         kds_buf_addf(b, "e%c%d", n - 1 >= 0 ? '+' : '-', abs(n - 1));
  }
  return rc ? KDS_ENOMEM : 0;
}

static int key_cmp(const void *a, const void *b) {
  const cJSON *x = *(const cJSON *const *)a, *y = *(const cJSON *const *)b;
  return strcmp(x->string, y->string);
}

static int stringify(const cJSON *v, kds_buf *b, int depth, int canonical) {
  if (depth > JSON_DEPTH_MAX) return KDS_EINVAL;
  if (cJSON_IsObject(v)) {
    size_t n = 0, i = 0;
    const cJSON **keys;
    int rc = 0;
    for (const cJSON *c = v->child; c; c = c->next) n++;
    keys = malloc((n ? n : 1) * sizeof(*keys));
    if (keys == NULL) return KDS_ENOMEM;
    for (const cJSON *c = v->child; c; c = c->next) keys[i++] = c;
    if (canonical) qsort(keys, n, sizeof(*keys), key_cmp);
    rc = kds_buf_addc(b, '{');
    for (i = 0; i < n && rc == 0; i++) {
      if (i) rc = kds_buf_addc(b, ',');
      if (!rc) rc = json_quote(b, keys[i]->string, strlen(keys[i]->string), JSON_UTF8_JS);
      if (!rc) rc = kds_buf_addc(b, ':');
      if (!rc) rc = stringify(keys[i], b, depth + 1, canonical);
    }
    free(keys);
    return rc ? rc : kds_buf_addc(b, '}');
  }
  if (cJSON_IsArray(v)) {
    int rc = kds_buf_addc(b, '[');
    for (const cJSON *c = v->child; c && rc == 0; c = c->next) {
      if (c != v->child) rc = kds_buf_addc(b, ',');
      if (!rc) rc = stringify(c, b, depth + 1, canonical);
    }
    return rc ? rc : kds_buf_addc(b, ']');
  }
  if (cJSON_IsString(v)) return json_quote(b, v->valuestring, strlen(v->valuestring), JSON_UTF8_JS);
  if (cJSON_IsNumber(v)) {
    double d = v->valuedouble;
    if (!canonical) return json_number(b, d);
    if (!isfinite(d)) return kds_buf_adds(b, "null");
    if (d == trunc(d) && fabs(d) < 1e15) return json_int(b, (int64_t)d);
    return kds_buf_addf(b, "%.17g", d);
  }
  if (cJSON_IsTrue(v)) return kds_buf_adds(b, "true");
  if (cJSON_IsFalse(v)) return kds_buf_adds(b, "false");
  return kds_buf_adds(b, "null");
}

int json_stringify(kds_buf *out, const cJSON *v, unsigned flags) {
  return stringify(v, out, 0, (flags & JSON_CANONICAL) != 0);
}

/* ---- repeated keys ------------------------------------------------------------------------- */

typedef struct key_ref {
  cJSON *item;
  size_t idx;
} key_ref;

static int key_ref_cmp(const void *a, const void *b) {
  const key_ref *x = a, *y = b;
  int c = strcmp(x->item->string, y->item->string);
  return c ? c : (x->idx > y->idx) - (x->idx < y->idx);
}

int json_dedupe_keys(cJSON *v) {
  key_ref small[16], *refs = small;
  size_t n = 0, i = 0;
  int rc = 0;
  if (!cJSON_IsObject(v) && !cJSON_IsArray(v)) return 0;
  for (cJSON *c = v->child; c; c = c->next) n++;
  if (cJSON_IsObject(v) && n > 1) {
    if (n > sizeof(small) / sizeof(small[0]) && (refs = malloc(n * sizeof(*refs))) == NULL) return KDS_ENOMEM;
    for (cJSON *c = v->child; c; c = c->next, i++) refs[i] = (key_ref){c, i};
    qsort(refs, n, sizeof(*refs), key_ref_cmp);
    for (i = 0; i < n;) {
      size_t j = i + 1;
      while (j < n && strcmp(refs[j].item->string, refs[i].item->string) == 0) j++;
      if (j - i > 1) {
        for (size_t k = i + 1; k + 1 < j; k++) cJSON_Delete(cJSON_DetachItemViaPointer(v, refs[k].item));
        cJSON_ReplaceItemViaPointer(v, refs[i].item, cJSON_DetachItemViaPointer(v, refs[j - 1].item));
      }
      i = j;
    }
    if (refs != small) free(refs);
  }
  for (cJSON *c = v->child; c && rc == 0; c = c->next) rc = json_dedupe_keys(c);
  return rc;
}
