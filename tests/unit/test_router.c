/* test_router.c: the method + path table (server/http/router.c). */
#include <string.h>

#include "err.h"
#include "router.h"
#include "test.h"

static void h_a(void) {}
static void h_b(void) {}
static void h_c(void) {}
static void h_d(void) {}

static router_t *rt;

static router_match_t look(const char *method, const char *path) {
  router_match_t m;
  router_match(rt, method, kds_slice_of(path), &m);
  return m;
}

static int param_is(const router_match_t *m, int i, const char *want) {
  return i < m->nparams && kds_slice_eq(m->params[i], want);
}

static void t_patterns(void) {
  router_t *r;
  ok(router_new(&r) == 0, "router_new");
  ok(router_add(r, "GET", "relative", h_a, NULL, 0) == KDS_EINVAL, "pattern must start with /");
  ok(router_add(r, "GET", "", h_a, NULL, 0) == KDS_EINVAL, "empty pattern refused");
  ok(router_add(r, "GET", "/a//b", h_a, NULL, 0) == KDS_EINVAL, "empty segment refused");
  ok(router_add(r, "GET", "/a/*/b", h_a, NULL, 0) == KDS_EINVAL, "* only last");
  ok(router_add(r, "GET", "/a*", h_a, NULL, 0) == KDS_EINVAL, "* must be a whole segment");
  ok(router_add(r, "GET", "/a/:", h_a, NULL, 0) == KDS_EINVAL, "capture needs a name");
  ok(router_add(r, "get", "/a", h_a, NULL, 0) == KDS_EINVAL, "lower-case method refused");
  ok(router_add(r, "", "/a", h_a, NULL, 0) == KDS_EINVAL, "empty method refused");
  ok(router_add(r, "GET", "/a", NULL, NULL, 0) == KDS_EINVAL, "NULL handler refused");
  ok(router_add(r, "GET", "/:a/:b/:c/:d/:e/:f/:g/:h/:i", h_a, NULL, 0) == KDS_EINVAL, "too many captures");
  ok(router_add(r, "GET", "/1/2/3/4/5/6/7/8/9/10/11/12/13/14/15/16/17", h_a, NULL, 0) == KDS_EINVAL,
     "too many segments");
  ok(router_add(r, "GET", "/a/", h_a, NULL, 0) == 0, "one trailing slash in a pattern is fine");
  router_free(r);
  router_free(NULL);
}

static void t_match(void) {
  router_match_t m;
  ok(router_new(&rt) == 0, "router_new");
  ok(router_add(rt, "GET", "/", h_a, (void *)1, 0) == 0, "add /");
  ok(router_add(rt, "GET", "/api/v1/orders", h_a, (void *)2, 0) == 0, "add GET orders");
  ok(router_add(rt, "POST", "/api/v1/orders", h_b, (void *)3, 1234) == 0, "add POST orders");
  ok(router_add(rt, "GET", "/api/v1/orders/:invoice", h_c, NULL, 0) == 0, "add GET one");
  ok(router_add(rt, "DELETE", "/api/v1/orders/:invoice", h_c, NULL, 0) == 0, "add DELETE one");
  ok(router_add(rt, "PATCH", "/api/v1/orders/:invoice/status", h_d, NULL, 0) == 0, "add PATCH status");
  ok(router_add(rt, "GET", "/socket.io/socket.io.js", h_a, (void *)9, 0) == 0, "add exact under a prefix");
  ok(router_add(rt, "*", "/socket.io/*", h_b, (void *)10, 1000000) == 0, "add prefix");

  m = look("GET", "/");
  ok(m.status == 200 && m.route->ud == (void *)1 && m.nparams == 0, "/ matches /");
  m = look("GET", "/api/v1/orders");
  ok(m.status == 200 && m.route->fn == h_a && m.route->ud == (void *)2, "GET exact");
  m = look("POST", "/api/v1/orders");
  ok(m.status == 200 && m.route->fn == h_b && m.route->max_body == 1234, "POST exact, max_body kept");
  m = look("HEAD", "/api/v1/orders");
  ok(m.status == 200 && m.route->fn == h_a, "HEAD answers through the GET route");
  m = look("GET", "/api/v1/orders/");
  ok(m.status == 200 && m.route->fn == h_a, "one trailing slash ignored");
  m = look("GET", "/API/V1/Orders");
  ok(m.status == 200, "literal segments are case-insensitive (as Express)");
  m = look("GET", "/api/v1/orders//");
  ok(m.status == 404, "two trailing slashes do not match");
  m = look("GET", "/api//v1/orders");
  ok(m.status == 404, "empty segment does not match");

  m = look("GET", "/api/v1/orders/INV-20240101-0001");
  ok(m.status == 200 && m.route->fn == h_c && m.nparams == 1 && param_is(&m, 0, "INV-20240101-0001"),
     ":invoice captured");
  m = look("GET", "/api/v1/orders/INV%2D1");
  ok(m.status == 200 && param_is(&m, 0, "INV%2D1"), "captures are raw (decoding is the HTTP layer's)");
  m = look("PATCH", "/api/v1/orders/X1/status");
  ok(m.status == 200 && m.route->fn == h_d && param_is(&m, 0, "X1"), "capture in the middle");
  m = look("PATCH", "/api/v1/orders//status");
  ok(m.status == 404, "empty capture does not match");

  m = look("PUT", "/api/v1/orders");
  ok(m.status == 405 && m.route == NULL, "PUT on a known path: 405");
  ok(strcmp(m.allow, "GET, POST") == 0, "Allow lists the registered methods in order (got '%s')", m.allow);
  m = look("POST", "/api/v1/orders/INV-1");
  ok(m.status == 405 && strcmp(m.allow, "GET, DELETE") == 0, "405 on a captured path (Allow '%s')", m.allow);
  m = look("HEAD", "/api/v1/orders/INV-1/status");
  ok(m.status == 405 && strcmp(m.allow, "PATCH") == 0, "HEAD on a PATCH-only path: 405");

  m = look("GET", "/api/v1/nothing");
  ok(m.status == 404 && m.allow[0] == '\0', "unknown path: 404");
  m = look("GET", "/index.html");
  ok(m.status == 404, "static paths are not routes");

  m = look("GET", "/socket.io/socket.io.js");
  ok(m.status == 200 && m.route->ud == (void *)9, "exact route registered first wins over the prefix");
  m = look("POST", "/socket.io/socket.io.js");
  ok(m.status == 200 && m.route->ud == (void *)10, "other methods fall through to the * prefix route");
  m = look("GET", "/socket.io/");
  ok(m.status == 200 && m.route->ud == (void *)10 && m.nparams == 1 && m.params[0].len == 0,
     "prefix matches its own folder, rest empty");
  m = look("OPTIONS", "/socket.io/abc/def");
  ok(m.status == 200 && param_is(&m, 0, "abc/def"), "prefix: rest of the path is the last param");
  m = look("GET", "/socket.io");
  ok(m.status == 404, "prefix needs the slash after it");
  m = look("GET", "/socket.iox/");
  ok(m.status == 404, "prefix compares whole segments");

  m = look("GET", "");
  ok(m.status == 404, "empty path: 404");
  m = look("GET", "*");
  ok(m.status == 404, "asterisk-form: 404");
  router_match(NULL, "GET", kds_slice_of("/"), &m);
  ok(m.status == 404, "NULL table: 404");
  router_free(rt);
  rt = NULL;
}

static void t_first_wins(void) {
  router_match_t m;
  ok(router_new(&rt) == 0, "router_new");
  ok(router_add(rt, "GET", "/orders/new", h_a, NULL, 0) == 0, "literal first");
  ok(router_add(rt, "GET", "/orders/:id", h_b, NULL, 0) == 0, "capture second");
  ok(router_add(rt, "GET", "/*", h_c, NULL, 0) == 0, "catch-all last");
  m = look("GET", "/orders/new");
  ok(m.status == 200 && m.route->fn == h_a, "literal registered first wins");
  m = look("GET", "/orders/12");
  ok(m.status == 200 && m.route->fn == h_b && param_is(&m, 0, "12"), "capture next");
  m = look("GET", "/anything/at/all");
  ok(m.status == 200 && m.route->fn == h_c && param_is(&m, 0, "anything/at/all"), "/* catches the rest");
  m = look("POST", "/orders/12");
  ok(m.status == 405 && strcmp(m.allow, "GET") == 0, "Allow de-duplicated across routes (got '%s')", m.allow);
  router_free(rt);
  rt = NULL;
}

int main(void) {
  subtest("patterns", t_patterns);
  subtest("match", t_match);
  subtest("first registered wins", t_first_wins);
  return done_testing();
}
