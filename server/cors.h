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

/* Appends the response headers for a request whose Origin header is `origin` (ptr NULL
 * when absent): Access-Control-Allow-Origin and Access-Control-Expose-Headers when the
 * origin is allowed, and "Vary: Origin" whenever the answer depends on the origin.
 * Returns 0 or KDS_ENOMEM. */
int cors_add_headers(const cors_t *c, kds_slice origin, kds_buf *out);

/* Appends the preflight headers (Allow-Methods, Allow-Headers, Max-Age) that go on the
 * 204 answer to an OPTIONS request, next to cors_add_headers. Returns 0 or KDS_ENOMEM. */
int cors_add_preflight(const cors_t *c, kds_buf *out);

#endif
