/* redis_msg.c: the classic redis-adapter broadcast message, msgpack <-> event + JSON args
 * (see redis_msg.h). The decoder is a cursor over the input: each item's header is read
 * and its length checked against the bytes left before the item is used, so a claimed
 * length never allocates anything and a container can never claim more items than there
 * are bytes (each item takes at least one). */
#include "redis_msg.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "err.h"
#include "json.h"
#include "utf8.h"

/* ---- decoding: the cursor and one item's header ------------------------------------------------ */

typedef struct rd {
  const uint8_t *p;
  size_t n, at;
} rd;

typedef enum mp_kind {
  MP_NIL,
  MP_BOOL,
  MP_INT,
  MP_UINT,
  MP_FLOAT,
  MP_STR,
  MP_BIN,
  MP_EXT,
  MP_ARRAY,
  MP_MAP
} mp_kind;

typedef struct mp_item {
  mp_kind kind;
  int b;         /* MP_BOOL */
  int64_t i;     /* MP_INT (negative values; non-negative ones are MP_UINT) */
  uint64_t u;    /* MP_UINT */
  double d;      /* MP_FLOAT */
  const char *s; /* MP_STR, MP_BIN, MP_EXT: the bytes (in the input) */
  size_t len;    /* their length, or the item count of MP_ARRAY / MP_MAP */
} mp_item;

static int take(rd *r, size_t k, const uint8_t **out) {
  if (r->n - r->at < k) return KDS_EPROTO;
  *out = r->p + r->at;
  r->at += k;
  return 0;
}

static uint64_t be(const uint8_t *b, size_t k) {
  uint64_t v = 0;
  for (size_t i = 0; i < k; i++) v = (v << 8) | b[i];
  return v;
}

/* A big-endian unsigned of k bytes. */
static int take_uint(rd *r, size_t k, uint64_t *v) {
  const uint8_t *b;
  if (take(r, k, &b) != 0) return KDS_EPROTO;
  *v = be(b, k);
  return 0;
}

/* The body of a str/bin/ext of `len` bytes. */
static int take_body(rd *r, mp_item *it, mp_kind kind, uint64_t len) {
  const uint8_t *b;
  if (len > r->n - r->at || take(r, (size_t)len, &b) != 0) return KDS_EPROTO;
  it->kind = kind;
  it->s = (const char *)b;
  it->len = (size_t)len;
  return 0;
}

/* A container of `count` items (a map's count is of pairs): each takes one byte at least. */
static int take_container(rd *r, mp_item *it, mp_kind kind, uint64_t count) {
  uint64_t need = kind == MP_MAP ? count * 2 : count;
  if (count > SIZE_MAX / 2 || need > r->n - r->at) return KDS_EPROTO;
  it->kind = kind;
  it->len = (size_t)count;
  return 0;
}

static void set_signed(mp_item *it, int64_t v) {
  if (v < 0) {
    it->kind = MP_INT;
    it->i = v;
  } else {
    it->kind = MP_UINT;
    it->u = (uint64_t)v;
  }
}

/* Reads one item's header (and a str/bin/ext's body). Returns 0 or KDS_EPROTO. */
static int mp_next(rd *r, mp_item *it) {
  const uint8_t *b;
  uint64_t v;
  uint8_t c;
  memset(it, 0, sizeof(*it));
  if (take(r, 1, &b) != 0) return KDS_EPROTO;
  c = b[0];
  if (c <= 0x7f) {
    it->kind = MP_UINT;
    it->u = c;
    return 0;
  }
  if (c >= 0xe0) {
    set_signed(it, (int8_t)c);
    return 0;
  }
  if ((c & 0xf0) == 0x80) return take_container(r, it, MP_MAP, c & 0x0f);
  if ((c & 0xf0) == 0x90) return take_container(r, it, MP_ARRAY, c & 0x0f);
  if ((c & 0xe0) == 0xa0) return take_body(r, it, MP_STR, c & 0x1f);
  switch (c) {
    case 0xc0:
      it->kind = MP_NIL;
      return 0;
    case 0xc2:
    case 0xc3:
      it->kind = MP_BOOL;
      it->b = c == 0xc3;
      return 0;
    case 0xc4:
    case 0xc5:
    case 0xc6:
      if (take_uint(r, (size_t)1 << (c - 0xc4), &v) != 0) return KDS_EPROTO;
      return take_body(r, it, MP_BIN, v);
    case 0xc7:
    case 0xc8:
    case 0xc9: /* ext 8/16/32: length, then the type byte, then the data */
      if (take_uint(r, (size_t)1 << (c - 0xc7), &v) != 0 || take(r, 1, &b) != 0) return KDS_EPROTO;
      return take_body(r, it, MP_EXT, v);
    case 0xca: {
      uint32_t u32;
      float f;
      if (take_uint(r, 4, &v) != 0) return KDS_EPROTO;
      u32 = (uint32_t)v;
      memcpy(&f, &u32, sizeof(f));
      it->kind = MP_FLOAT;
      it->d = f;
      return 0;
    }
    case 0xcb:
      if (take_uint(r, 8, &v) != 0) return KDS_EPROTO;
      memcpy(&it->d, &v, sizeof(it->d));
      it->kind = MP_FLOAT;
      return 0;
    case 0xcc:
    case 0xcd:
    case 0xce:
    case 0xcf:
      if (take_uint(r, (size_t)1 << (c - 0xcc), &v) != 0) return KDS_EPROTO;
      it->kind = MP_UINT;
      it->u = v;
      return 0;
    case 0xd0:
    case 0xd1:
    case 0xd2:
    case 0xd3: {
      size_t k = (size_t)1 << (c - 0xd0);
      if (take_uint(r, k, &v) != 0) return KDS_EPROTO;
      /* sign-extend from k bytes */
      if (k < 8 && (v >> (8 * k - 1)) & 1) v |= ~(uint64_t)0 << (8 * k);
      set_signed(it, (int64_t)v);
      return 0;
    }
    case 0xd4:
    case 0xd5:
    case 0xd6:
    case 0xd7:
    case 0xd8: /* fixext 1..16: the type byte, then 2^(c-0xd4) bytes */
      if (take(r, 1, &b) != 0) return KDS_EPROTO;
      return take_body(r, it, MP_EXT, (uint64_t)1 << (c - 0xd4));
    case 0xd9:
    case 0xda:
    case 0xdb:
      if (take_uint(r, (size_t)1 << (c - 0xd9), &v) != 0) return KDS_EPROTO;
      return take_body(r, it, MP_STR, v);
    case 0xdc:
    case 0xdd:
      if (take_uint(r, c == 0xdc ? 2 : 4, &v) != 0) return KDS_EPROTO;
      return take_container(r, it, MP_ARRAY, v);
    case 0xde:
    case 0xdf:
      if (take_uint(r, c == 0xde ? 2 : 4, &v) != 0) return KDS_EPROTO;
      return take_container(r, it, MP_MAP, v);
    default: /* 0xc1: never used */
      return KDS_EPROTO;
  }
}

/* ---- decoding: values ---------------------------------------------------------------------------- */

/* Skips one value (anything msgpack may hold, bin and ext included), nested at most
 * REDIS_MSG_MAX_DEPTH - depth more levels. */
static int value_skip(rd *r, int depth) {
  mp_item it;
  int rc;
  if (depth > REDIS_MSG_MAX_DEPTH) return KDS_ETOOBIG;
  if ((rc = mp_next(r, &it)) != 0) return rc;
  if (it.kind == MP_ARRAY || it.kind == MP_MAP) {
    size_t items = it.kind == MP_MAP ? it.len * 2 : it.len;
    for (size_t i = 0; i < items; i++)
      if ((rc = value_skip(r, depth + 1)) != 0) return rc;
  }
  return 0;
}

static int value_json(rd *r, kds_buf *out, int depth);

/* The value of an item whose header is read, as JSON. */
static int item_json(rd *r, const mp_item *it, kds_buf *out, int depth) {
  int rc;
  switch (it->kind) {
    case MP_NIL:
      return kds_buf_adds(out, "null");
    case MP_BOOL:
      return kds_buf_adds(out, it->b ? "true" : "false");
    case MP_INT:
      return json_int(out, it->i);
    case MP_UINT:
      return kds_buf_addf(out, "%llu", (unsigned long long)it->u);
    case MP_FLOAT:
      return json_number(out, it->d); /* NaN and the infinities: null, as JSON.stringify */
    case MP_STR:
      return json_quote(out, it->s, it->len, JSON_UTF8_REPLACE);
    case MP_BIN:
    case MP_EXT:
      return KDS_EINVAL; /* a Buffer or a Date: not a message the KDS can relay as JSON */
    case MP_ARRAY:
      if ((rc = kds_buf_addc(out, '[')) != 0) return rc;
      for (size_t i = 0; i < it->len; i++) {
        if (i && (rc = kds_buf_addc(out, ',')) != 0) return rc;
        if ((rc = value_json(r, out, depth + 1)) != 0) return rc;
      }
      return kds_buf_addc(out, ']');
    case MP_MAP:
      if ((rc = kds_buf_addc(out, '{')) != 0) return rc;
      for (size_t i = 0; i < it->len; i++) {
        mp_item key;
        if (i && (rc = kds_buf_addc(out, ',')) != 0) return rc;
        if ((rc = mp_next(r, &key)) != 0) return rc;
        if (key.kind != MP_STR) return KDS_EPROTO; /* a JavaScript object has string keys */
        if ((rc = json_quote(out, key.s, key.len, JSON_UTF8_REPLACE)) != 0 ||
            (rc = kds_buf_addc(out, ':')) != 0 || (rc = value_json(r, out, depth + 1)) != 0)
          return rc;
      }
      return kds_buf_addc(out, '}');
  }
  return KDS_EPROTO;
}

static int value_json(rd *r, kds_buf *out, int depth) {
  mp_item it;
  int rc;
  if (depth > REDIS_MSG_MAX_DEPTH) return KDS_ETOOBIG;
  if ((rc = mp_next(r, &it)) != 0) return rc;
  return item_json(r, &it, out, depth);
}

/* 1 if the str item is the NUL-terminated `s`. */
static int str_is(const mp_item *it, const char *s) {
  return it->kind == MP_STR && it->len == strlen(s) && memcmp(it->s, s, it->len) == 0;
}

/* A name used as a C string (uid, nsp, event, room): at most `max` bytes, UTF-8, no NUL. */
static int name_copy(kds_buf *out, const mp_item *it, size_t max) {
  if (it->kind != MP_STR) return KDS_EINVAL;
  if (it->len > max) return KDS_ETOOBIG;
  if (memchr(it->s, '\0', it->len) != NULL || !utf8_valid(it->s, it->len)) return KDS_EINVAL;
  kds_buf_reset(out);
  return kds_buf_add(out, it->s, it->len);
}

/* rooms or except: an array of strings or integers (decimal, as the adapter matches a
 * numeric room). Each name goes into m->names; offs[] receives where it starts. */
static int rooms_read(rd *r, redis_msg *m, size_t *offs, size_t *count) {
  mp_item it, room;
  int rc;
  if ((rc = mp_next(r, &it)) != 0) return rc;
  if (it.kind == MP_NIL) return 0; /* undefined in a sender: none */
  if (it.kind != MP_ARRAY) return KDS_EINVAL;
  if (it.len > REDIS_MSG_MAX_ROOMS) return KDS_ETOOBIG;
  *count = 0;
  for (size_t i = 0; i < it.len; i++) {
    offs[i] = m->names.len;
    if ((rc = mp_next(r, &room)) != 0) return rc;
    if (room.kind == MP_STR) {
      if (room.len > REDIS_MSG_ROOM_MAX) return KDS_ETOOBIG;
      if (memchr(room.s, '\0', room.len) != NULL || !utf8_valid(room.s, room.len)) return KDS_EINVAL;
      rc = kds_buf_add(&m->names, room.s, room.len);
    } else if (room.kind == MP_UINT) {
      rc = kds_buf_addf(&m->names, "%llu", (unsigned long long)room.u);
    } else if (room.kind == MP_INT) {
      rc = json_int(&m->names, room.i);
    } else {
      return KDS_EINVAL;
    }
    if (rc != 0 || (rc = kds_buf_addc(&m->names, '\0')) != 0) return rc;
    (*count)++;
  }
  return 0;
}

static int flags_read(rd *r, redis_msg *m) {
  mp_item it, key, v;
  int rc;
  if ((rc = mp_next(r, &it)) != 0) return rc;
  if (it.kind == MP_NIL) return 0;
  if (it.kind != MP_MAP) return KDS_EINVAL;
  for (size_t i = 0; i < it.len; i++) {
    if ((rc = mp_next(r, &key)) != 0) return rc;
    if (key.kind != MP_STR) return KDS_EPROTO;
    if (str_is(&key, "volatile") || str_is(&key, "local")) {
      unsigned f = str_is(&key, "volatile") ? REDIS_MSG_VOLATILE : REDIS_MSG_LOCAL;
      if ((rc = mp_next(r, &v)) != 0) return rc;
      if (v.kind == MP_ARRAY || v.kind == MP_MAP) return KDS_EINVAL;
      if (v.kind == MP_BOOL ? v.b : v.kind != MP_NIL) m->flags |= f; /* JavaScript truthiness, roughly */
    } else if ((rc = value_skip(r, 3)) != 0) {                       /* compress, timeout, ...: not ours */
      return rc;
    }
  }
  return 0;
}

/* packet.data: [event, ...args]. */
static int data_read(rd *r, redis_msg *m) {
  mp_item it, ev;
  int rc;
  if ((rc = mp_next(r, &it)) != 0) return rc;
  if (it.kind != MP_ARRAY || it.len == 0) return KDS_EINVAL;
  if ((rc = mp_next(r, &ev)) != 0) return rc;
  if (ev.kind != MP_STR || ev.len == 0) return KDS_EINVAL;
  if ((rc = name_copy(&m->event, &ev, REDIS_MSG_EVENT_MAX)) != 0) return rc;
  kds_buf_reset(&m->args);
  for (size_t i = 1; i < it.len; i++) {
    if (i > 1 && (rc = kds_buf_addc(&m->args, ',')) != 0) return rc;
    if ((rc = value_json(r, &m->args, 1)) != 0) return rc;
  }
  return 0;
}

static int packet_read(rd *r, redis_msg *m) {
  mp_item it, key, v;
  int rc, have_type = 0, have_data = 0;
  if ((rc = mp_next(r, &it)) != 0) return rc;
  if (it.kind != MP_MAP) return KDS_EINVAL;
  for (size_t i = 0; i < it.len; i++) {
    if ((rc = mp_next(r, &key)) != 0) return rc;
    if (key.kind != MP_STR) return KDS_EPROTO;
    if (str_is(&key, "type")) {
      if ((rc = mp_next(r, &v)) != 0) return rc;
      if (v.kind != MP_UINT || v.u != 2) return KDS_EINVAL; /* EVENT: binary ones are 2 too on Redis */
      have_type = 1;
    } else if (str_is(&key, "data")) {
      if ((rc = data_read(r, m)) != 0) return rc;
      have_data = 1;
    } else if (str_is(&key, "nsp")) {
      if ((rc = mp_next(r, &v)) != 0) return rc;
      if ((rc = name_copy(&m->nsp, &v, 255)) != 0) return rc;
    } else if ((rc = value_skip(r, 3)) != 0) {
      return rc;
    }
  }
  return have_type && have_data ? 0 : KDS_EINVAL;
}

static int opts_read(rd *r, redis_msg *m, size_t *room_offs, size_t *except_offs) {
  mp_item it, key;
  int rc;
  if ((rc = mp_next(r, &it)) != 0) return rc;
  if (it.kind == MP_NIL) return 0;
  if (it.kind != MP_MAP) return KDS_EINVAL;
  for (size_t i = 0; i < it.len; i++) {
    if ((rc = mp_next(r, &key)) != 0) return rc;
    if (key.kind != MP_STR) return KDS_EPROTO;
    if (str_is(&key, "rooms"))
      rc = rooms_read(r, m, room_offs, &m->nrooms);
    else if (str_is(&key, "except"))
      rc = rooms_read(r, m, except_offs, &m->nexcept);
    else if (str_is(&key, "flags"))
      rc = flags_read(r, m);
    else
      rc = value_skip(r, 3);
    if (rc != 0) return rc;
  }
  return 0;
}

void redis_msg_init(redis_msg *m) {
  memset(m, 0, sizeof(*m));
  kds_buf_init(&m->request_id);
  kds_buf_init(&m->uid);
  kds_buf_init(&m->nsp);
  kds_buf_init(&m->event);
  kds_buf_init(&m->args);
  kds_buf_init(&m->names);
}

void redis_msg_release(redis_msg *m) {
  kds_buf_release(&m->request_id);
  kds_buf_release(&m->uid);
  kds_buf_release(&m->nsp);
  kds_buf_release(&m->event);
  kds_buf_release(&m->args);
  kds_buf_release(&m->names);
  redis_msg_init(m);
}

static void msg_reset(redis_msg *m) {
  kds_buf_reset(&m->request_id);
  kds_buf_reset(&m->uid);
  kds_buf_reset(&m->event);
  kds_buf_reset(&m->args);
  kds_buf_reset(&m->names);
  kds_buf_reset(&m->nsp);
  m->nrooms = m->nexcept = 0;
  m->flags = 0;
}

/* After a decode: defaults, and the room pointers into the names' buffer (which no longer
 * moves). */
static int msg_finish(redis_msg *m, const size_t *room_offs, const size_t *except_offs) {
  int rc;
  if (m->nsp.len == 0 && (rc = kds_buf_addc(&m->nsp, '/')) != 0) return rc;
  for (size_t i = 0; i < m->nrooms; i++) m->rooms[i] = m->names.base + room_offs[i];
  for (size_t i = 0; i < m->nexcept; i++) m->except[i] = m->names.base + except_offs[i];
  if (m->event.base == NULL || m->uid.base == NULL) return KDS_EINVAL;
  if (m->args.base == NULL && (rc = kds_buf_grow(&m->args, 1)) != 0) return rc;
  return 0;
}

int redis_msg_decode_request(redis_msg *m, const void *p, size_t len) {
  size_t room_offs[REDIS_MSG_MAX_ROOMS], except_offs[REDIS_MSG_MAX_ROOMS];
  rd r = {p, len, 0};
  mp_item it, key, v;
  int rc, have_type = 0, have_packet = 0;
  msg_reset(m);
  if (p == NULL && len) return KDS_EINVAL;
  if ((rc = mp_next(&r, &it)) != 0) return rc;
  if (it.kind != MP_MAP) return KDS_EINVAL;
  for (size_t i = 0; i < it.len; i++) {
    if ((rc = mp_next(&r, &key)) != 0) return rc;
    if (key.kind != MP_STR) return KDS_EPROTO;
    if (str_is(&key, "uid") || str_is(&key, "requestId")) {
      if ((rc = mp_next(&r, &v)) != 0) return rc;
      if ((rc = name_copy(str_is(&key, "uid") ? &m->uid : &m->request_id, &v, 255)) != 0) return rc;
    } else if (str_is(&key, "type")) {
      if ((rc = mp_next(&r, &v)) != 0) return rc;
      if (v.kind != MP_UINT || v.u != 7) return KDS_EINVAL;
      have_type = 1;
    } else if (str_is(&key, "packet")) {
      if ((rc = packet_read(&r, m)) != 0) return rc;
      have_packet = 1;
    } else if (str_is(&key, "opts")) {
      if ((rc = opts_read(&r, m, room_offs, except_offs)) != 0) return rc;
    } else if ((rc = value_skip(&r, 2)) != 0) {
      return rc;
    }
  }
  if (r.at != r.n) return KDS_EPROTO;
  if (!have_type || !have_packet || m->request_id.len == 0) return KDS_EINVAL;
  return msg_finish(m, room_offs, except_offs);
}

int redis_msg_decode(redis_msg *m, const void *p, size_t len) {
  size_t room_offs[REDIS_MSG_MAX_ROOMS], except_offs[REDIS_MSG_MAX_ROOMS];
  rd r = {p, len, 0};
  mp_item it;
  int rc;
  msg_reset(m);
  if (p == NULL && len) return KDS_EINVAL;
  if ((rc = mp_next(&r, &it)) != 0) return rc;
  if (it.kind != MP_ARRAY || it.len != 3) return KDS_EINVAL;
  if ((rc = mp_next(&r, &it)) != 0) return rc;
  if ((rc = name_copy(&m->uid, &it, 255)) != 0) return rc;
  if ((rc = packet_read(&r, m)) != 0 || (rc = opts_read(&r, m, room_offs, except_offs)) != 0) return rc;
  if (r.at != r.n) return KDS_EPROTO; /* one value, nothing after it */
  return msg_finish(m, room_offs, except_offs);
}

/* ---- encoding ------------------------------------------------------------------------------------ */

static int put_hdr(kds_buf *out, uint8_t tag, uint64_t v, size_t k) {
  uint8_t b[9];
  b[0] = tag;
  for (size_t i = 0; i < k; i++) b[1 + i] = (uint8_t)(v >> (8 * (k - 1 - i)));
  return kds_buf_add(out, b, 1 + k);
}

static int put_byte(kds_buf *out, uint8_t c) {
  return kds_buf_add(out, &c, 1);
}

static int put_str(kds_buf *out, const char *s, size_t len) {
  int rc;
  if (len < 32)
    rc = put_byte(out, (uint8_t)(0xa0 | len));
  else if (len < 0x100)
    rc = put_hdr(out, 0xd9, len, 1);
  else if (len < 0x10000)
    rc = put_hdr(out, 0xda, len, 2);
  else
    rc = put_hdr(out, 0xdb, len, 4);
  return rc ? rc : kds_buf_add(out, s, len);
}

static int put_count(kds_buf *out, int map, size_t n) {
  if (n < 16) return put_byte(out, (uint8_t)((map ? 0x80 : 0x90) | n));
  if (n < 0x10000) return put_hdr(out, map ? 0xde : 0xdc, n, 2);
  return put_hdr(out, map ? 0xdf : 0xdd, n, 4);
}

/* A number as notepack writes a JavaScript number: the smallest int form when it is an
 * integer, else float64. */
static int put_number(kds_buf *out, double d) {
  uint64_t bits;
  if (isfinite(d) && floor(d) == d && d >= -9223372036854775808.0 && d < 18446744073709551616.0) {
    if (d >= 0) {
      uint64_t u = (uint64_t)d;
      if (u < 0x80) return put_byte(out, (uint8_t)u);
      if (u < 0x100) return put_hdr(out, 0xcc, u, 1);
      if (u < 0x10000) return put_hdr(out, 0xcd, u, 2);
      if (u < 0x100000000ull) return put_hdr(out, 0xce, u, 4);
      return put_hdr(out, 0xcf, u, 8);
    } else {
      int64_t i = (int64_t)d;
      if (i >= -0x20) return put_byte(out, (uint8_t)(int8_t)i);
      if (i >= -0x80) return put_hdr(out, 0xd0, (uint64_t)i & 0xff, 1);
      if (i >= -0x8000) return put_hdr(out, 0xd1, (uint64_t)i & 0xffff, 2);
      if (i >= -0x80000000ll) return put_hdr(out, 0xd2, (uint64_t)i & 0xffffffffu, 4);
      return put_hdr(out, 0xd3, (uint64_t)i, 8);
    }
  }
  memcpy(&bits, &d, sizeof(bits));
  return put_hdr(out, 0xcb, bits, 8);
}

static int put_json(kds_buf *out, const cJSON *v, int depth) {
  int rc;
  size_t n = 0;
  if (depth > REDIS_MSG_MAX_DEPTH) return KDS_EINVAL;
  if (cJSON_IsNull(v)) return put_byte(out, 0xc0);
  if (cJSON_IsFalse(v)) return put_byte(out, 0xc2);
  if (cJSON_IsTrue(v)) return put_byte(out, 0xc3);
  if (cJSON_IsNumber(v)) return put_number(out, v->valuedouble);
  if (cJSON_IsString(v)) return put_str(out, v->valuestring, strlen(v->valuestring));
  if (!cJSON_IsArray(v) && !cJSON_IsObject(v)) return KDS_EINVAL;
  for (const cJSON *c = v->child; c; c = c->next) n++;
  if ((rc = put_count(out, cJSON_IsObject(v), n)) != 0) return rc;
  for (const cJSON *c = v->child; c; c = c->next) {
    if (cJSON_IsObject(v) && (rc = put_str(out, c->string, strlen(c->string))) != 0) return rc;
    if ((rc = put_json(out, c, depth + 1)) != 0) return rc;
  }
  return 0;
}

static int put_rooms(kds_buf *out, const char *const *rooms, size_t n) {
  int rc = put_count(out, 0, n);
  for (size_t i = 0; i < n && rc == 0; i++) rc = put_str(out, rooms[i], strlen(rooms[i]));
  return rc;
}

int redis_msg_encode(kds_buf *out, const char *uid, const char *nsp, const char *event, const char *args,
                     size_t args_len, const char *const *rooms, size_t nrooms, const char *const *except,
                     size_t nexcept, unsigned flags) {
  size_t mark = out->len, nargs = 0;
  kds_buf text = KDS_BUF_INIT;
  cJSON *arr = NULL;
  int rc;
  if (uid == NULL || nsp == NULL || event == NULL || (args == NULL && args_len)) return KDS_EINVAL;
  /* The arguments as one array: cJSON reads "[" args "]" as JSON.parse would. */
  if ((rc = kds_buf_addc(&text, '[')) != 0 || (rc = kds_buf_add(&text, args ? args : "", args_len)) != 0 ||
      (rc = kds_buf_addc(&text, ']')) != 0)
    goto out;
  if (json_check(text.base, text.len, REDIS_MSG_MAX_DEPTH + 1) != 0 ||
      (arr = cJSON_ParseWithLength(text.base, text.len)) == NULL) {
    rc = KDS_EINVAL;
    goto out;
  }
  for (const cJSON *c = arr->child; c; c = c->next) nargs++;
  if ((rc = put_byte(out, 0x93)) != 0 || (rc = put_str(out, uid, strlen(uid))) != 0 ||
      (rc = put_byte(out, 0x83)) != 0 || (rc = put_str(out, "type", 4)) != 0 ||
      (rc = put_byte(out, 2)) != 0 || (rc = put_str(out, "data", 4)) != 0 ||
      (rc = put_count(out, 0, 1 + nargs)) != 0 || (rc = put_str(out, event, strlen(event))) != 0)
    goto out;
  for (const cJSON *c = arr->child; c; c = c->next)
    if ((rc = put_json(out, c, 1)) != 0) goto out;
  if ((rc = put_str(out, "nsp", 3)) != 0 || (rc = put_str(out, nsp, strlen(nsp))) != 0 ||
      (rc = put_byte(out, 0x83)) != 0 || (rc = put_str(out, "rooms", 5)) != 0 ||
      (rc = put_rooms(out, rooms, nrooms)) != 0 || (rc = put_str(out, "except", 6)) != 0 ||
      (rc = put_rooms(out, except, nexcept)) != 0 || (rc = put_str(out, "flags", 5)) != 0)
    goto out;
  if (flags & REDIS_MSG_VOLATILE)
    rc = put_byte(out, 0x81) || put_str(out, "volatile", 8) || put_byte(out, 0xc3) ? KDS_ENOMEM : 0;
  else
    rc = put_byte(out, 0x80);
out:
  if (rc != 0) {
    out->len = mark;
    if (out->base) out->base[mark] = '\0';
  }
  cJSON_Delete(arr);
  kds_buf_release(&text);
  return rc;
}

int redis_msg_encode_ack(kds_buf *out, const char *request_id, const char *arg, size_t arg_len) {
  size_t mark = out->len;
  cJSON *v = NULL;
  int rc;
  if (request_id == NULL || (arg == NULL && arg_len)) return KDS_EINVAL;
  if (arg_len && (json_check(arg, arg_len, REDIS_MSG_MAX_DEPTH) != 0 ||
                  (v = cJSON_ParseWithLength(arg, arg_len)) == NULL))
    return KDS_EINVAL;
  if ((rc = put_byte(out, 0x83)) != 0 || (rc = put_str(out, "type", 4)) != 0 ||
      (rc = put_byte(out, 9)) != 0 || (rc = put_str(out, "requestId", 9)) != 0 ||
      (rc = put_str(out, request_id, strlen(request_id))) != 0 || (rc = put_str(out, "packet", 6)) != 0)
    goto out;
  rc = v ? put_json(out, v, 1) : put_byte(out, 0xc0);
out:
  if (rc != 0) {
    out->len = mark;
    if (out->base) out->base[mark] = '\0';
  }
  cJSON_Delete(v);
  return rc;
}
