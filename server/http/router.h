/* router.h: the method + path table of the HTTP server. Patterns are literal segments,
 * `:name` captures (one non-empty segment) and a trailing `*` (prefix match, the rest of the
 * path is the last capture). First registered match wins; a path known under other methods
 * is a 405 with the Allow list. Pure: no I/O, no libuv. */
#ifndef KDS_ROUTER_H
#define KDS_ROUTER_H

#include <stddef.h>

#include "buf.h"

#define ROUTER_MAX_PARAMS 8
#define ROUTER_MAX_SEGMENTS 16

typedef struct router router_t;

/* Handlers are stored as a generic function pointer; the HTTP layer casts them back. */
typedef void (*router_fn)(void);

/* One registered route (read-only for callers of router_match). */
typedef struct router_route {
  char method[16]; /* "GET", "POST", ...; "*" matches any method */
  char *pattern;   /* the pattern as registered (owned) */
  router_fn fn;    /* the handler (an http_handler_fn, cast) */
  void *ud;        /* handler's user data */
  size_t max_body; /* 0: the server's default body limit */
  int prefix;      /* pattern ends with `*` */
  int nseg;        /* segments before the `*` */
  struct {
    const char *s; /* into pattern, not NUL-terminated */
    size_t len;
    int param; /* a `:name` capture */
  } seg[ROUTER_MAX_SEGMENTS];
} router_route_t;

typedef struct router_match {
  int status;                          /* 200 found, 404 no such path, 405 path known, method not */
  const router_route_t *route;         /* the route when status == 200 */
  int nparams;                         /* captures, in pattern order (then the `*` rest) */
  kds_slice params[ROUTER_MAX_PARAMS]; /* raw (still percent-encoded) slices of the path */
  char allow[128];                     /* 405: "GET, POST" (registered methods of the path) */
} router_match_t;

/* Creates an empty table. Returns 0 or KDS_ENOMEM (*out untouched). */
int router_new(router_t **out);

/* Frees the table and every route. NULL is a no-op. */
void router_free(router_t *r);

/* Adds a route. `method` is an upper-case token or "*"; `pattern` starts with '/', its
 * segments are literals or `:name`, and it may end in `*` ("/socket.io/" then `*`: every path that
 * starts with "/socket.io/"). The strings are copied. A "GET" route also answers HEAD.
 * Returns 0, KDS_EINVAL (bad method or pattern, too many segments or captures) or
 * KDS_ENOMEM; on error the table is unchanged. */
int router_add(router_t *r, const char *method, const char *pattern, router_fn fn, void *ud, size_t max_body);

/* Looks up `method` (NUL-terminated) and the raw `path` (no query; '/'-started). Literal
 * segments compare ASCII case-insensitively and one trailing '/' is ignored, as Express
 * does by default. Fills `m` (params point into `path`). Never fails. */
void router_match(const router_t *r, const char *method, kds_slice path, router_match_t *m);

#endif
