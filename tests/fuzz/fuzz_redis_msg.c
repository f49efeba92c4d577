/* fuzz_redis_msg: the classic redis-adapter broadcast decoder (shared/redis_msg.h). The input
 * is one Redis pub/sub payload, as anyone who can PUBLISH on our channel may send it. A
 * message that decodes must be usable as it stands: NUL-terminated names, arguments that
 * are valid JSON, rooms within the limits. It is then encoded again and decoded: the same
 * event, rooms, except and volatile flag come back, and after one such pass the arguments'
 * text is stable (the first pass may normalise: a uint64 past 2^53 becomes a double, a
 * U+0000 ends a string for cJSON). The input is also decoded as a type-7 request. */
#include <string.h>

#include "err.h"
#include "fuzz.h"
#include "json.h"
#include "redis_msg.h"

static int same_names(const char *const *a, size_t na, const char *const *b, size_t nb) {
  if (na != nb) return 0;
  for (size_t i = 0; i < na; i++)
    if (strcmp(a[i], b[i]) != 0) return 0;
  return 1;
}

static void reencode(const redis_msg *m, redis_msg *out, kds_buf *bytes) {
  kds_buf_reset(bytes);
  fuzz_check(redis_msg_encode(bytes, m->uid.base, m->nsp.base, m->event.base, m->args.base, m->args.len,
                              m->rooms, m->nrooms, m->except, m->nexcept, m->flags & REDIS_MSG_VOLATILE) == 0,
             "a decoded message encodes");
  fuzz_check(redis_msg_decode(out, bytes->base, bytes->len) == 0, "and decodes again");
  fuzz_check(strcmp(out->uid.base, m->uid.base) == 0 && strcmp(out->nsp.base, m->nsp.base) == 0 &&
                 strcmp(out->event.base, m->event.base) == 0,
             "uid, nsp, event survive");
  fuzz_check(same_names(out->rooms, out->nrooms, m->rooms, m->nrooms) &&
                 same_names(out->except, out->nexcept, m->except, m->nexcept),
             "rooms and except survive");
  fuzz_check((out->flags & REDIS_MSG_VOLATILE) == (m->flags & REDIS_MSG_VOLATILE), "volatile survives");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  redis_msg m, m2, m3;
  kds_buf bytes = KDS_BUF_INIT, arr = KDS_BUF_INIT;
  int rc;
  redis_msg_init(&m);
  rc = redis_msg_decode(&m, data, size);
  fuzz_check(rc == 0 || rc == KDS_EPROTO || rc == KDS_EINVAL || rc == KDS_ETOOBIG, "known error codes");
  if (rc == 0) {
    fuzz_check(m.uid.base && m.event.base && m.args.base && m.nsp.base, "strings present");
    fuzz_check(strlen(m.event.base) == m.event.len && m.event.len > 0, "event NUL-terminated");
    fuzz_check(m.nrooms <= REDIS_MSG_MAX_ROOMS && m.nexcept <= REDIS_MSG_MAX_ROOMS, "room limits");
    for (size_t i = 0; i < m.nrooms; i++) fuzz_check(strlen(m.rooms[i]) <= REDIS_MSG_ROOM_MAX, "room length");
    kds_buf_addc(&arr, '[');
    kds_buf_add(&arr, m.args.base, m.args.len);
    kds_buf_addc(&arr, ']');
    fuzz_check(json_check(arr.base, arr.len, REDIS_MSG_MAX_DEPTH + 1) == 0, "args are JSON");
    redis_msg_init(&m2);
    redis_msg_init(&m3);
    reencode(&m, &m2, &bytes);
    reencode(&m2, &m3, &bytes);
    fuzz_check(m2.args.len == m3.args.len && memcmp(m2.args.base, m3.args.base, m2.args.len) == 0,
               "args stable after one pass");
    redis_msg_release(&m2);
    redis_msg_release(&m3);
  }
  /* the same bytes as a type-7 request (the request channel's msgpack form) */
  rc = redis_msg_decode_request(&m, data, size);
  fuzz_check(rc == 0 || rc == KDS_EPROTO || rc == KDS_EINVAL || rc == KDS_ETOOBIG,
             "request: known error codes");
  if (rc == 0) fuzz_check(m.request_id.len > 0 && m.event.len > 0, "request: id and event");
  redis_msg_release(&m);
  kds_buf_release(&bytes);
  kds_buf_release(&arr);
  return 0;
}
