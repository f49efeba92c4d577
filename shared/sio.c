/* sio.c: Socket.IO v5 packet codec and raw-JSON helpers (see sio.h). */
#include "sio.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <math.h>
#include <string.h>

#include "err.h"
#include "json.h"

/* The JSON helpers of this header are json.h's, at Socket.IO's nesting limit and with its
 * quoting policy (JSON_UTF8_PASS: what we quote here is UTF-8 already). */

int sio_json_check(const char *s, size_t len) {
  return json_check(s, len, SIO_JSON_MAX_DEPTH);
}

int sio_json_compact(kds_buf *out, const char *s, size_t len) {
  return json_compact(out, s, len, SIO_JSON_MAX_DEPTH);
}

int sio_json_quote(kds_buf *out, const char *s, size_t len) {
  return json_quote(out, s, len, JSON_UTF8_PASS);
}

int sio_json_unquote(kds_buf *out, kds_slice lit) {
  return json_unquote(out, lit);
}

int sio_json_streq(kds_slice lit, const char *s) {
  return json_streq(lit, s);
}

static size_t skip_ws(const char *s, size_t len, size_t i) {
  while (i < len && json_is_space(s[i])) i++;
  return i;
}

static int is_digit(char c) {
  return c >= '0' && c <= '9';
}

/* The element that starts at or after arr[i] (blanks skipped): 1 with it in *elem and *pos
 * past its comma (or past the end after the last), else 0 with *pos past the end. */
static int next_elem(kds_slice arr, size_t i, size_t *pos, kds_slice *elem) {
  size_t start = skip_ws(arr.ptr, arr.len, i);
  ssize_t end = json_value_end(arr.ptr, arr.len, start, SIO_JSON_MAX_DEPTH);
  if (end < 0) {
    *pos = arr.len + 1;
    return 0;
  }
  elem->ptr = arr.ptr + start;
  elem->len = (size_t)end - start;
  i = skip_ws(arr.ptr, arr.len, (size_t)end);
  *pos = i < arr.len && arr.ptr[i] == ',' ? i + 1 : arr.len + 1;
  return 1;
}

int sio_array_next(kds_slice arr, size_t *pos, kds_slice *elem) {
  size_t i = *pos;
  if (*pos > arr.len) return 0;
  if (*pos == 0) {
    i = skip_ws(arr.ptr, arr.len, 0);
    if (i >= arr.len || arr.ptr[i] != '[' ||
        ((i = skip_ws(arr.ptr, arr.len, i + 1)) < arr.len && arr.ptr[i] == ']')) {
      *pos = arr.len + 1;
      return 0;
    }
  }
  return next_elem(arr, i, pos, elem);
}

int sio_args_next(kds_slice args, size_t *pos, kds_slice *elem) {
  if (*pos > args.len) return 0;
  return next_elem(args, *pos, pos, elem);
}

int sio_args_split(kds_slice data, kds_slice *first, kds_slice *rest) {
  size_t pos = 0, end;
  static const char empty[] = "";
  first->ptr = rest->ptr = empty;
  first->len = rest->len = 0;
  if (sio_json_check(data.ptr, data.len) != 0) return KDS_EPROTO;
  end = data.len;
  while (end > 0 && json_is_space(data.ptr[end - 1])) end--;
  {
    size_t b = 0;
    while (b < end && json_is_space(data.ptr[b])) b++;
    if (b >= end || data.ptr[b] != '[') return KDS_EPROTO;
  }
  if (!sio_array_next(data, &pos, first)) return 0;
  if (pos > data.len) return 0;
  end--; /* the closing bracket */
  while (end > pos && json_is_space(data.ptr[end - 1])) end--;
  while (pos < end && json_is_space(data.ptr[pos])) pos++;
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
  while (i < v.len && json_is_space(v.ptr[i])) i++;
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
    if (json_is_space(v.ptr[i])) return 1;
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
