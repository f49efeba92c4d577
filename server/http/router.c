/* router.c: the method + path table (see router.h). Linear scan in registration order: the
 * table holds a few dozen routes, and a scan keeps "first registered wins" obvious. */
#include "router.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "err.h"

struct router {
  router_route_t **routes;
  size_t n, cap;
};

int router_new(router_t **out) {
  router_t *r = calloc(1, sizeof(*r));
  if (r == NULL) return KDS_ENOMEM;
  *out = r;
  return 0;
}

void router_free(router_t *r) {
  if (r == NULL) return;
  for (size_t i = 0; i < r->n; i++) {
    free(r->routes[i]->pattern);
    free(r->routes[i]);
  }
  free(r->routes);
  free(r);
}

static int method_valid(const char *m) {
  size_t n = strlen(m);
  if (n == 0 || n >= sizeof(((router_route_t *)0)->method)) return 0;
  if (strcmp(m, "*") == 0) return 1;
  for (size_t i = 0; i < n; i++)
    if (m[i] < 'A' || m[i] > 'Z') return 0;
  return 1;
}

/* Splits rt->pattern into rt->seg; returns 0 or KDS_EINVAL. */
static int route_compile(router_route_t *rt) {
  const char *p = rt->pattern;
  size_t len = strlen(p), i = 0;
  int nparams = 0;
  if (len == 0 || p[0] != '/') return KDS_EINVAL;
  if (len == 1) return 0; /* "/" */
  while (i < len) {
    size_t start;
    if (p[i] != '/') return KDS_EINVAL;
    start = ++i;
    while (i < len && p[i] != '/') i++;
    if (i - start == 1 && p[start] == '*') {
      if (i != len) return KDS_EINVAL; /* `*` only as the last segment */
      rt->prefix = 1;
      if (++nparams > ROUTER_MAX_PARAMS) return KDS_EINVAL;
      return 0;
    }
    if (i == start) {
      if (i == len) break; /* one trailing '/' in the pattern: ignored */
      return KDS_EINVAL;   /* "//" */
    }
    if (memchr(p + start, '*', i - start)) return KDS_EINVAL;
    if (rt->nseg == ROUTER_MAX_SEGMENTS) return KDS_EINVAL;
    if (p[start] == ':') {
      if (i - start < 2) return KDS_EINVAL; /* ":" without a name */
      if (++nparams > ROUTER_MAX_PARAMS) return KDS_EINVAL;
      rt->seg[rt->nseg].param = 1;
    }
    rt->seg[rt->nseg].s = p + start;
    rt->seg[rt->nseg].len = i - start;
    rt->nseg++;
  }
  return 0;
}

int router_add(router_t *r, const char *method, const char *pattern, router_fn fn, void *ud,
               size_t max_body) {
  router_route_t *rt;
  int rc;
  if (r == NULL || method == NULL || pattern == NULL || fn == NULL || !method_valid(method))
    return KDS_EINVAL;
  if (r->n == r->cap) {
    size_t cap = r->cap ? r->cap * 2 : 16;
    router_route_t **v = realloc(r->routes, cap * sizeof(*v));
    if (v == NULL) return KDS_ENOMEM;
    r->routes = v;
    r->cap = cap;
  }
  rt = calloc(1, sizeof(*rt));
  if (rt == NULL) return KDS_ENOMEM;
  rt->pattern = strdup(pattern);
  if (rt->pattern == NULL) {
    free(rt);
    return KDS_ENOMEM;
  }
  if ((rc = route_compile(rt)) != 0) {
    free(rt->pattern);
    free(rt);
    return rc;
  }
  strcpy(rt->method, method);
  rt->fn = fn;
  rt->ud = ud;
  rt->max_body = max_body;
  r->routes[r->n++] = rt;
  return 0;
}

/* Does `path` fit the route's pattern? Fills m->params / m->nparams when it does. */
static int path_fits(const router_route_t *rt, const char *p, size_t len, router_match_t *m) {
  size_t i = 0;
  int np = 0;
  if (!rt->prefix && rt->nseg == 0) return len == 1; /* "/" */
  for (int s = 0; s < rt->nseg; s++) {
    size_t start;
    if (i >= len || p[i] != '/') return 0;
    start = ++i;
    while (i < len && p[i] != '/') i++;
    if (rt->seg[s].param) {
      if (i == start) return 0;
      m->params[np].ptr = p + start;
      m->params[np].len = i - start;
      np++;
    } else if (i - start != rt->seg[s].len || strncasecmp(p + start, rt->seg[s].s, i - start) != 0) {
      return 0;
    }
  }
  if (rt->prefix) {
    if (i >= len || p[i] != '/') return 0;
    m->params[np].ptr = p + i + 1;
    m->params[np].len = len - i - 1;
    np++;
  } else if (!(i == len || (i + 1 == len && p[i] == '/'))) {
    return 0;
  }
  m->nparams = np;
  return 1;
}

static int method_fits(const char *route_method, const char *method) {
  if (strcmp(route_method, "*") == 0 || strcmp(route_method, method) == 0) return 1;
  return strcmp(route_method, "GET") == 0 && strcmp(method, "HEAD") == 0;
}

/* Appends `method` to the ", "-separated list unless it is there already. */
static void allow_add(char *allow, size_t cap, const char *method) {
  size_t n = strlen(method), used = strlen(allow);
  for (const char *p = allow; *p;) {
    const char *end = strstr(p, ", ");
    size_t l = end ? (size_t)(end - p) : strlen(p);
    if (l == n && memcmp(p, method, n) == 0) return;
    if (!end) break;
    p = end + 2;
  }
  if (used + (used ? 2 : 0) + n + 1 > cap) return; /* cannot happen with sane tables */
  if (used) {
    memcpy(allow + used, ", ", 2);
    used += 2;
  }
  memcpy(allow + used, method, n + 1);
}

void router_match(const router_t *r, const char *method, kds_slice path, router_match_t *m) {
  memset(m, 0, sizeof(*m));
  m->status = 404;
  if (r == NULL || path.ptr == NULL || path.len == 0 || path.ptr[0] != '/') return;
  for (size_t i = 0; i < r->n; i++) {
    const router_route_t *rt = r->routes[i];
    router_match_t tmp;
    tmp.nparams = 0;
    if (!path_fits(rt, path.ptr, path.len, &tmp)) continue;
    if (method_fits(rt->method, method)) {
      m->status = 200;
      m->route = rt;
      m->nparams = tmp.nparams;
      memcpy(m->params, tmp.params, sizeof(m->params[0]) * (size_t)tmp.nparams);
      m->allow[0] = '\0';
      return;
    }
    if (strcmp(rt->method, "*") != 0) allow_add(m->allow, sizeof(m->allow), rt->method);
  }
  if (m->allow[0]) m->status = 405;
}
