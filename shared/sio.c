/* sio.c: Socket.IO v5 packet codec and raw-JSON helpers (see sio.h). */
#include "sio.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <math.h>
#include <string.h>

#include "err.h"

/* ---- a strict JSON scanner (RFC 8259, what JSON.parse accepts) ------------------------ */

typedef struct jscan {
  const char *s;
  size_t len, i;
  int depth;
} jscan;

static int is_ws(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static void skip_ws(jscan *j) {
  while (j->i < j->len && is_ws(j->s[j->i])) j->i++;
}

static int is_digit(char c) {
  return c >= '0' && c <= '9';
}

static int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

static int scan_string(jscan *j) {
  j->i++; /* the opening quote */
  while (j->i < j->len) {
    unsigned char c = (unsigned char)j->s[j->i];
    if (c == '"') {
      j->i++;
      return 0;
    }
    if (c < 0x20) return -1;
    if (c == '\\') {
      if (++j->i >= j->len) return -1;
      switch (j->s[j->i]) {
        case '"':
        case '\\':
        case '/':
        case 'b':
        case 'f':
        case 'n':
        case 'r':
        case 't':
          j->i++;
          break;
        case 'u':
          if (j->len - j->i < 5) return -1;
          for (int k = 1; k <= 4; k++)
            if (hex_value(j->s[j->i + k]) < 0) return -1;
          j->i += 5;
          break;
        default:
          return -1;
      }
    } else {
      j->i++;
    }
  }
  return -1;
}

static int scan_digits(jscan *j) {
  size_t start = j->i;
  while (j->i < j->len && is_digit(j->s[j->i])) j->i++;
  return j->i > start ? 0 : -1;
}

static int scan_number(jscan *j) {
  if (j->s[j->i] == '-') j->i++;
  if (j->i >= j->len) return -1;
  if (j->s[j->i] == '0') {
    j->i++;
  } else if (scan_digits(j) != 0) {
    return -1;
  }
  if (j->i < j->len && j->s[j->i] == '.') {
    j->i++;
    if (scan_digits(j) != 0) return -1;
  }
  if (j->i < j->len && (j->s[j->i] == 'e' || j->s[j->i] == 'E')) {
    j->i++;
    if (j->i < j->len && (j->s[j->i] == '+' || j->s[j->i] == '-')) j->i++;
    if (scan_digits(j) != 0) return -1;
  }
  return 0;
}

static int scan_literal(jscan *j, const char *lit) {
  size_t n = strlen(lit);
  if (j->len - j->i < n || memcmp(j->s + j->i, lit, n) != 0) return -1;
  j->i += n;
  return 0;
}

static int scan_value(jscan *j) {
  char open;
  skip_ws(j);
  if (j->i >= j->len) return -1;
  switch (j->s[j->i]) {
    case '"':
      return scan_string(j);
    case 't':
      return scan_literal(j, "true");
    case 'f':
      return scan_literal(j, "false");
    case 'n':
      return scan_literal(j, "null");
    case '{':
    case '[':
      break;
    default:
      if (j->s[j->i] == '-' || is_digit(j->s[j->i])) return scan_number(j);
      return -1;
  }
  open = j->s[j->i++];
  if (++j->depth > SIO_JSON_MAX_DEPTH) return -1;
  skip_ws(j);
  if (j->i < j->len && j->s[j->i] == (open == '{' ? '}' : ']')) {
    j->i++;
    j->depth--;
    return 0;
  }
  for (;;) {
    if (open == '{') {
      skip_ws(j);
      if (j->i >= j->len || j->s[j->i] != '"' || scan_string(j) != 0) return -1;
      skip_ws(j);
      if (j->i >= j->len || j->s[j->i] != ':') return -1;
      j->i++;
    }
    if (scan_value(j) != 0) return -1;
    skip_ws(j);
    if (j->i >= j->len) return -1;
    if (j->s[j->i] == ',') {
      j->i++;
      continue;
    }
    if (j->s[j->i] != (open == '{' ? '}' : ']')) return -1;
    j->i++;
    j->depth--;
    return 0;
  }
}

int sio_json_check(const char *s, size_t len) {
  jscan j = {s, len, 0, 0};
  if (scan_value(&j) != 0) return KDS_EPROTO;
  skip_ws(&j);
  return j.i == len ? 0 : KDS_EPROTO;
}

int sio_json_compact(kds_buf *out, const char *s, size_t len) {
  size_t i;
  int in_str = 0, rc;
  if (sio_json_check(s, len) != 0) return KDS_EPROTO;
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
    } else if (is_ws(c)) {
      continue;
    } else if (c == '"') {
      in_str = 1;
    }
    out->base[out->len++] = c;
  }
  out->base[out->len] = '\0';
  return 0;
}

int sio_json_quote(kds_buf *out, const char *s, size_t len) {
  static const char hex[] = "0123456789abcdef";
  size_t i, run = 0;
  int rc;
  if ((rc = kds_buf_grow(out, len + 2)) != 0) return rc;
  if ((rc = kds_buf_addc(out, '"')) != 0) return rc;
  for (i = 0; i < len; i++) {
    unsigned char c = (unsigned char)s[i];
    char esc[7];
    size_t n = 2;
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    if ((rc = kds_buf_add(out, s + run, i - run)) != 0) return rc;
    run = i + 1;
    esc[0] = '\\';
    switch (c) {
      case '"':
        esc[1] = '"';
        break;
      case '\\':
        esc[1] = '\\';
        break;
      case '\b':
        esc[1] = 'b';
        break;
      case '\f':
        esc[1] = 'f';
        break;
      case '\n':
        esc[1] = 'n';
        break;
      case '\r':
        esc[1] = 'r';
        break;
      case '\t':
        esc[1] = 't';
        break;
      default:
        memcpy(esc + 1, "u00", 3);
        esc[4] = hex[c >> 4];
        esc[5] = hex[c & 15];
        n = 6;
    }
    if ((rc = kds_buf_add(out, esc, n)) != 0) return rc;
  }
  if ((rc = kds_buf_add(out, s + run, len - run)) != 0) return rc;
  return kds_buf_addc(out, '"');
}

static int add_utf8(kds_buf *out, uint32_t cp) {
  char b[4];
  size_t n;
  if (cp < 0x80) {
    b[0] = (char)cp;
    n = 1;
  } else if (cp < 0x800) {
    b[0] = (char)(0xc0 | cp >> 6);
    b[1] = (char)(0x80 | (cp & 0x3f));
    n = 2;
  } else if (cp < 0x10000) {
    b[0] = (char)(0xe0 | cp >> 12);
    b[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
    b[2] = (char)(0x80 | (cp & 0x3f));
    n = 3;
  } else {
    b[0] = (char)(0xf0 | cp >> 18);
    b[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    b[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
    b[3] = (char)(0x80 | (cp & 0x3f));
    n = 4;
  }
  return kds_buf_add(out, b, n);
}

static uint32_t hex4(const char *p) {
  return (uint32_t)(hex_value(p[0]) << 12 | hex_value(p[1]) << 8 | hex_value(p[2]) << 4 | hex_value(p[3]));
}

int sio_json_unquote(kds_buf *out, kds_slice lit) {
  jscan j = {lit.ptr, lit.len, 0, 0};
  size_t i, end, start = out->len;
  int rc = 0;
  if (lit.len < 2 || lit.ptr[0] != '"' || scan_string(&j) != 0 || j.i != lit.len) return KDS_EPROTO;
  end = lit.len - 1;
  for (i = 1; i < end && rc == 0;) {
    size_t run = i;
    while (i < end && lit.ptr[i] != '\\') i++;
    if ((rc = kds_buf_add(out, lit.ptr + run, i - run)) != 0) break;
    if (i >= end) break;
    i++; /* backslash */
    switch (lit.ptr[i]) {
      case 'b':
        rc = kds_buf_addc(out, '\b');
        i++;
        break;
      case 'f':
        rc = kds_buf_addc(out, '\f');
        i++;
        break;
      case 'n':
        rc = kds_buf_addc(out, '\n');
        i++;
        break;
      case 'r':
        rc = kds_buf_addc(out, '\r');
        i++;
        break;
      case 't':
        rc = kds_buf_addc(out, '\t');
        i++;
        break;
      case 'u': {
        uint32_t cp = hex4(lit.ptr + i + 1);
        i += 5;
        if (cp >= 0xd800 && cp < 0xdc00 && end - i >= 6 && lit.ptr[i] == '\\' && lit.ptr[i + 1] == 'u') {
          uint32_t lo = hex4(lit.ptr + i + 2);
          if (lo >= 0xdc00 && lo < 0xe000) {
            cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
            i += 6;
          }
        }
        if (cp >= 0xd800 && cp < 0xe000) cp = 0xfffd;
        rc = add_utf8(out, cp);
        break;
      }
      default: /* " \ / */
        rc = kds_buf_addc(out, lit.ptr[i]);
        i++;
    }
  }
  if (rc != 0) {
    out->len = start;
    if (out->base) out->base[start] = '\0';
  }
  return rc;
}

int sio_json_streq(kds_slice lit, const char *s) {
  kds_buf b = KDS_BUF_INIT;
  size_t n = strlen(s);
  int eq;
  /* The common case, no escapes: compare in place. */
  int rc;
  if (lit.len == n + 2 && lit.ptr[0] == '"' && memchr(lit.ptr, '\\', lit.len) == NULL)
    return memcmp(lit.ptr + 1, s, n) == 0 && lit.ptr[n + 1] == '"';
  /* An escape spells at most 6 bytes for each byte it decodes to (\u00XX): longer cannot match,
   * and needs no allocation to say so. */
  if (lit.len < 2 || lit.len > 6 * n + 2 || memchr(lit.ptr, '\\', lit.len) == NULL) return 0;
  if ((rc = sio_json_unquote(&b, lit)) != 0) {
    kds_buf_release(&b);
    return rc == KDS_ENOMEM ? rc : 0; /* not knowing is not "different": callers refuse */
  }
  eq = b.len == n && memcmp(b.base, s, n) == 0;
  kds_buf_release(&b);
  return eq;
}

int sio_array_next(kds_slice arr, size_t *pos, kds_slice *elem) {
  jscan j = {arr.ptr, arr.len, *pos, 0};
  size_t start;
  if (*pos > arr.len) return 0;
  if (*pos == 0) {
    skip_ws(&j);
    if (j.i >= j.len || j.s[j.i] != '[') goto end;
    j.i++;
    skip_ws(&j);
    if (j.i < j.len && j.s[j.i] == ']') goto end;
  }
  skip_ws(&j);
  start = j.i;
  if (scan_value(&j) != 0) goto end;
  elem->ptr = arr.ptr + start;
  elem->len = j.i - start;
  skip_ws(&j);
  if (j.i < j.len && j.s[j.i] == ',') {
    *pos = j.i + 1;
  } else {
    *pos = arr.len + 1;
  }
  return 1;
end:
  *pos = arr.len + 1;
  return 0;
}

int sio_args_split(kds_slice data, kds_slice *first, kds_slice *rest) {
  size_t pos = 0, end;
  static const char empty[] = "";
  first->ptr = rest->ptr = empty;
  first->len = rest->len = 0;
  if (sio_json_check(data.ptr, data.len) != 0) return KDS_EPROTO;
  end = data.len;
  while (end > 0 && is_ws(data.ptr[end - 1])) end--;
  {
    size_t b = 0;
    while (b < end && is_ws(data.ptr[b])) b++;
    if (b >= end || data.ptr[b] != '[') return KDS_EPROTO;
  }
  if (!sio_array_next(data, &pos, first)) return 0;
  if (pos > data.len) return 0;
  end--; /* the closing bracket */
  while (end > pos && is_ws(data.ptr[end - 1])) end--;
  while (pos < end && is_ws(data.ptr[pos])) pos++;
  rest->ptr = data.ptr + pos;
  rest->len = end - pos;
  return 0;
}

/* ---- packets --------------------------------------------------------------------------- */

static const char *const reserved_events[] = {"connect",       "connect_error", "disconnect",
                                              "disconnecting", "newListener",   "removeListener"};

int sio_event_reserved(const char *name) {
  for (size_t i = 0; i < sizeof(reserved_events) / sizeof(reserved_events[0]); i++)
    if (strcmp(name, reserved_events[i]) == 0) return 1;
  return 0;
}

static char first_char(kds_slice v) {
  size_t i = 0;
  while (i < v.len && is_ws(v.ptr[i])) i++;
  return i < v.len ? v.ptr[i] : '\0';
}

/* Node's reconstructPacket: every object with "_placeholder": true must have an integer
 * "num" in [0, n). */
static int placeholders_ok(const cJSON *v, int n) {
  const cJSON *c;
  if (cJSON_IsObject(v)) {
    const cJSON *ph = cJSON_GetObjectItemCaseSensitive(v, "_placeholder");
    if (cJSON_IsTrue(ph)) {
      const cJSON *num = cJSON_GetObjectItemCaseSensitive(v, "num");
      double d;
      if (!cJSON_IsNumber(num)) return 0;
      d = num->valuedouble;
      return d >= 0 && d < n && floor(d) == d;
    }
  }
  if (cJSON_IsObject(v) || cJSON_IsArray(v)) {
    cJSON_ArrayForEach(c, v) {
      if (!placeholders_ok(c, n)) return 0;
    }
  }
  return 1;
}

static int payload_ok(const sio_packet *p) {
  char c;
  kds_slice first, rest;
  if (p->data.len == 0)
    return p->type == SIO_CONNECT || p->type == SIO_DISCONNECT || p->type == SIO_CONNECT_ERROR;
  if (sio_json_check(p->data.ptr, p->data.len) != 0) return 0;
  c = first_char(p->data);
  switch (p->type) {
    case SIO_CONNECT:
      return c == '{';
    case SIO_DISCONNECT:
      return 0;
    case SIO_CONNECT_ERROR:
      return c == '{' || c == '"';
    case SIO_ACK:
    case SIO_BINARY_ACK:
      return c == '[';
    case SIO_EVENT:
    case SIO_BINARY_EVENT:
      if (c != '[' || sio_args_split(p->data, &first, &rest) != 0 || first.len == 0) return 0;
      if (first.ptr[0] == '-' || is_digit(first.ptr[0])) return 1;
      if (first.ptr[0] != '"') return 0;
      for (size_t k = 0; k < sizeof(reserved_events) / sizeof(reserved_events[0]); k++)
        if (sio_json_streq(first, reserved_events[k]) != 0) return 0; /* equal, or unknown: refuse */
      return 1;
  }
  return 0;
}

int sio_packet_parse(const char *s, size_t len, sio_packet *out) {
  size_t i = 1;
  static const char root[] = "/";
  memset(out, 0, sizeof(*out));
  out->id = -1;
  out->nsp.ptr = root;
  out->nsp.len = 1;
  if (len == 0 || s[0] < '0' || s[0] > '6') return KDS_EPROTO;
  out->type = (sio_type)(s[0] - '0');
  if (out->type == SIO_BINARY_EVENT || out->type == SIO_BINARY_ACK) {
    size_t start = i;
    int n = 0;
    while (i < len && is_digit(s[i]) && i - start < 3) n = n * 10 + (s[i++] - '0');
    if (i == start || i >= len || s[i] != '-' || n > SIO_MAX_ATTACHMENTS) return KDS_EPROTO;
    out->attachments = n;
    i++;
  }
  if (i < len && s[i] == '/') {
    size_t start = i;
    while (i < len && s[i] != ',') {
      if (s[i] == '\0') return KDS_EPROTO;
      i++;
    }
    if (i - start > SIO_NSP_MAX) return KDS_EPROTO;
    out->nsp.ptr = s + start;
    out->nsp.len = i - start;
    if (i < len) i++; /* the comma */
  }
  if (i < len && is_digit(s[i])) {
    int64_t id = 0;
    while (i < len && is_digit(s[i])) {
      int d = s[i++] - '0';
      if (id > (SIO_ACK_ID_MAX - d) / 10) return KDS_EPROTO;
      id = id * 10 + d;
    }
    out->id = id;
  }
  out->data.ptr = s + i;
  out->data.len = len - i;
  if (!payload_ok(out)) return KDS_EPROTO;
  if (out->attachments > 0) {
    cJSON *root_json = cJSON_ParseWithLength(out->data.ptr, out->data.len);
    int good = root_json != NULL && placeholders_ok(root_json, out->attachments);
    cJSON_Delete(root_json);
    if (!good) return KDS_EPROTO;
  }
  return 0;
}

void sio_decoder_init(sio_decoder *d) {
  memset(d, 0, sizeof(*d));
  kds_buf_init(&d->text);
  for (int k = 0; k < SIO_MAX_ATTACHMENTS; k++) kds_buf_init(&d->bin[k]);
}

void sio_decoder_release(sio_decoder *d) {
  kds_buf_release(&d->text);
  for (int k = 0; k < SIO_MAX_ATTACHMENTS; k++) kds_buf_release(&d->bin[k]);
  d->expected = d->received = 0;
}

static void decoder_reset(sio_decoder *d) {
  d->expected = d->received = 0;
  kds_buf_reset(&d->text);
}

static int has_ws(kds_slice v) {
  for (size_t i = 0; i < v.len; i++)
    if (is_ws(v.ptr[i])) return 1;
  return 0;
}

/* Buffers that grew for one big packet are given back before the next one. */
#define DECODER_KEEP 65536

int sio_decoder_text(sio_decoder *d, const char *s, size_t len, sio_packet *out) {
  sio_packet p;
  int rc, binary;
  if (d->expected) {
    decoder_reset(d);
    return KDS_EPROTO;
  }
  if (d->text.cap > DECODER_KEEP) kds_buf_release(&d->text);
  for (int k = 0; k < SIO_MAX_ATTACHMENTS; k++)
    if (d->bin[k].cap > DECODER_KEEP) kds_buf_release(&d->bin[k]);
  if ((rc = sio_packet_parse(s, len, &p)) != 0) return rc;
  binary = (p.type == SIO_BINARY_EVENT || p.type == SIO_BINARY_ACK) && p.attachments > 0;
  if (!binary && !has_ws(p.data)) {
    *out = p;
    return 1;
  }
  /* Keep a compact copy: the header as received, then the payload without whitespace. */
  kds_buf_reset(&d->text);
  if ((rc = kds_buf_add(&d->text, s, (size_t)(p.data.ptr - s))) != 0 ||
      (p.data.len && (rc = sio_json_compact(&d->text, p.data.ptr, p.data.len)) != 0) ||
      (rc = sio_packet_parse(d->text.base, d->text.len, &p)) != 0) {
    decoder_reset(d);
    return rc;
  }
  if (!binary) {
    *out = p;
    return 1;
  }
  d->pending = p;
  d->expected = p.attachments;
  d->received = 0;
  return 0;
}

int sio_decoder_binary(sio_decoder *d, const void *data, size_t len, sio_packet *out) {
  int rc;
  if (d->expected == 0) {
    decoder_reset(d);
    return KDS_EPROTO;
  }
  kds_buf_reset(&d->bin[d->received]);
  if ((rc = kds_buf_add(&d->bin[d->received], data, len)) != 0) {
    decoder_reset(d);
    return rc;
  }
  if (++d->received < d->expected) return 0;
  *out = d->pending;
  for (int k = 0; k < d->expected; k++) {
    out->bin[k].ptr = d->bin[k].base;
    out->bin[k].len = d->bin[k].len;
  }
  d->expected = d->received = 0;
  return 1;
}

static int add_header(kds_buf *out, sio_type type, const char *nsp, int64_t id, int attachments) {
  int rc;
  if ((int)type < SIO_CONNECT || (int)type > SIO_BINARY_ACK || id > SIO_ACK_ID_MAX) return KDS_EINVAL;
  if ((rc = kds_buf_addc(out, (char)('0' + type))) != 0) return rc;
  if (type == SIO_BINARY_EVENT || type == SIO_BINARY_ACK) {
    if (attachments < 0 || attachments > SIO_MAX_ATTACHMENTS) return KDS_EINVAL;
    if ((rc = kds_buf_addf(out, "%d-", attachments)) != 0) return rc;
  }
  if (nsp && strcmp(nsp, "/") != 0 && nsp[0]) {
    if ((rc = kds_buf_adds(out, nsp)) != 0 || (rc = kds_buf_addc(out, ',')) != 0) return rc;
  }
  if (id >= 0 && (rc = kds_buf_addf(out, "%" PRId64, id)) != 0) return rc;
  return 0;
}

int sio_packet_encode(kds_buf *out, sio_type type, const char *nsp, int64_t id, const char *json, size_t len,
                      int attachments) {
  int rc = add_header(out, type, nsp, id, attachments);
  if (rc == 0 && len) rc = kds_buf_add(out, json, len);
  return rc;
}

int sio_event_encode(kds_buf *out, const char *nsp, int64_t id, const char *event, const char *args,
                     size_t args_len, int attachments) {
  int rc = add_header(out, attachments > 0 ? SIO_BINARY_EVENT : SIO_EVENT, nsp, id, attachments);
  if (rc == 0) rc = kds_buf_addc(out, '[');
  if (rc == 0) rc = sio_json_quote(out, event, strlen(event));
  if (rc == 0 && args_len) {
    if ((rc = kds_buf_addc(out, ',')) == 0) rc = kds_buf_add(out, args, args_len);
  }
  if (rc == 0) rc = kds_buf_addc(out, ']');
  return rc;
}

int sio_ack_encode(kds_buf *out, const char *nsp, int64_t id, const char *args, size_t args_len,
                   int attachments) {
  int rc;
  if (id < 0) return KDS_EINVAL;
  rc = add_header(out, attachments > 0 ? SIO_BINARY_ACK : SIO_ACK, nsp, id, attachments);
  if (rc == 0) rc = kds_buf_addc(out, '[');
  if (rc == 0 && args_len) rc = kds_buf_add(out, args, args_len);
  if (rc == 0) rc = kds_buf_addc(out, ']');
  return rc;
}

int sio_connect_error_encode(kds_buf *out, const char *nsp, const char *message, const char *data,
                             size_t data_len) {
  int rc = add_header(out, SIO_CONNECT_ERROR, nsp, -1, 0);
  if (rc == 0) rc = kds_buf_adds(out, "{\"message\":");
  if (rc == 0) rc = sio_json_quote(out, message, strlen(message));
  if (rc == 0 && data) {
    if ((rc = kds_buf_adds(out, ",\"data\":")) == 0) rc = kds_buf_add(out, data, data_len);
  }
  if (rc == 0) rc = kds_buf_addc(out, '}');
  return rc;
}

int sio_placeholder_encode(kds_buf *out, int num) {
  return kds_buf_addf(out, "{\"_placeholder\":true,\"num\":%d}", num);
}
