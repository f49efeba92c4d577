/* Unit tests for shared/http_token.c: header token lists as Connection and Upgrade carry them. */
#include "test.h"

#include "http_token.h"

static kds_slice sl(const char *s) {
  return (kds_slice){s, s ? strlen(s) : 0};
}

static void t_has(void) {
  ok(http_token_has(sl("websocket"), "websocket"), "alone");
  ok(http_token_has(sl("h2c, WebSocket "), "websocket"), "in a list, any case, blanks");
  ok(http_token_has(sl("keep-alive,Upgrade"), "upgrade"), "after a comma");
  ok(http_token_has(sl("keep-alive, Upgrade"), "keep-alive"), "first of two");
  ok(http_token_has(sl(" ,\t, upgrade\t,"), "upgrade"), "empty items and tabs skipped");
  ok(!http_token_has(sl("notwebsocket"), "websocket"), "not a suffix");
  ok(!http_token_has(sl("websocketx"), "websocket"), "not a prefix");
  ok(!http_token_has(sl("web socket"), "websocket"), "not split");
  ok(!http_token_has(sl(NULL), "websocket"), "absent header");
  ok(!http_token_has(sl(""), "websocket"), "empty header");
  ok(!http_token_has((kds_slice){"upgrade", 6}, "upgrade"), "the slice's length bounds the value");
}

static void t_next(void) {
  kds_slice v = sl(" a ,, b\t,c d ,"), item;
  size_t pos = 0;
  int n = 0;
  char seen[32] = "";
  while (http_token_next(v, &pos, &item)) {
    strncat(seen, item.ptr, item.len);
    strcat(seen, "|");
    n++;
  }
  ok(n == 3 && strcmp(seen, "a|b|c d|") == 0, "items trimmed, empty ones skipped: %s", seen);
  ok(pos == v.len && !http_token_next(v, &pos, &item), "at the end: no more");
}

int main(void) {
  subtest("has", t_has);
  subtest("next", t_next);
  return done_testing();
}
