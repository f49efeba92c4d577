/* cors.h: CORS for REST and Engine.IO polling (SPEC 4, 11.6): the --cors-origin list, the
 * headers added to every response, and the preflight answer. */
#ifndef KDS_CORS_H
#define KDS_CORS_H

#include <stddef.h>

#include "buf.h"

typedef struct cors {
  int any;        /* the list holds "*": every origin is allowed, ACAO is "*" */
  char **origins; /* exact origins allowed (owned) */
  size_t n;
} cors_t;

/* Parses a comma-separated origin list ("*", or "https://a.example, http://b:8080");
 * blanks around items are ignored, an empty list allows no origin. Returns 0 or
 * KDS_ENOMEM (then `c` owns nothing). Release with cors_release. */
int cors_init(cors_t *c, const char *list);

/* Frees what cors_init allocated; safe on a zeroed or released cors_t. */
void cors_release(cors_t *c);

/* Which answers: REST and everything else (SPEC 11.6), or Socket.IO's Engine.IO path
 * /socket.io/ (SPEC 11.26), which answers as socket.io's own `cors` option does. */
typedef enum cors_scope { CORS_REST, CORS_SOCKETIO } cors_scope;

/* Appends the response headers for a request whose Origin header is `origin` (ptr NULL
 * when absent): Access-Control-Allow-Origin and Access-Control-Expose-Headers when the
 * origin is allowed, and "Vary: Origin" whenever the answer depends on the origin (an
 * explicit list). On CORS_SOCKETIO with an explicit list, also
 * "Access-Control-Allow-Credentials: true" (as the `cors` package with credentials: true,
 * whether or not the origin is allowed: without an allowed origin it grants nothing).
 * Returns 0 or KDS_ENOMEM. */
int cors_add_headers(const cors_t *c, cors_scope scope, kds_slice origin, kds_buf *out);

/* Appends the preflight headers that go on the 204 answer to an OPTIONS request, next to
 * cors_add_headers. CORS_REST: the fixed Allow-Methods and Allow-Headers of SPEC 11.6 and
 * Max-Age. CORS_SOCKETIO: Allow-Methods GET,HEAD,PUT,PATCH,POST,DELETE (the `cors`
 * default), "Vary: Access-Control-Request-Headers", and when the request asked for
 * headers (`req_headers`: the value of its Access-Control-Request-Headers lines joined,
 * ptr NULL or len 0 when none) those headers echoed in Access-Control-Allow-Headers, so
 * that socket.io-client's extraHeaders pass; then Max-Age. The echoed value is a parsed header
 * value (no CR, LF or NUL) and is copied as it is. Returns 0 or KDS_ENOMEM. */
int cors_add_preflight(const cors_t *c, cors_scope scope, kds_slice req_headers, kds_buf *out);

#endif
