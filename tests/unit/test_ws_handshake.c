/* Unit tests for shared/ws_handshake.c with no loop: the accept key (the RFC 6455 example),
 * the 101 reply, client keys and the GET, and the response check fed at every split. */
#include "test.h"

#include "err.h"
#include "ws_handshake.h"

/* ---- handshake helpers ------------------------------------------------------------------ */

static void t_accept_key(void) {
  char out[WS_ACCEPT_LEN + 1];
  const char *key = "dGhlIHNhbXBsZSBub25jZQ==";
  ok(ws_handshake_accept(key, strlen(key), out) == 0 && strcmp(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=") == 0,
     "RFC 6455 example: %s", out);
  ok(ws_handshake_accept("dGhlIHNhbXBsZSBub25jZQ=", 23, out) == KDS_EINVAL, "short key refused");
  ok(ws_handshake_accept("dGhlIHNhbXBsZSBub25jZQ!=", 24, out) == KDS_EINVAL, "non-base64 key refused");
  ok(ws_handshake_accept("dGhlIHNhbXBsZSBub25jZR==", 24, out) == KDS_EINVAL, "key not of 16 bytes refused");
  ok(ws_handshake_accept(NULL, 0, out) == KDS_EINVAL, "NULL key refused");

  kds_buf b = KDS_BUF_INIT;
  ok(ws_handshake_reply(&b, key, strlen(key), "X-A: 1\r\n") == 0 &&
         strcmp(b.base,
                "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nX-A: 1\r\n\r\n") == 0,
     "101 reply");
  kds_buf_reset(&b);
  ok(ws_handshake_reply(&b, "bad", 3, NULL) == KDS_EINVAL && b.len == 0,
     "101 reply: bad key, nothing written");

  char k1[WS_KEY_LEN + 1], k2[WS_KEY_LEN + 1];
  ok(ws_handshake_key(k1) == 0 && ws_handshake_key(k2) == 0 && strlen(k1) == 24 && strcmp(k1, k2) != 0 &&
         ws_handshake_accept(k1, 24, out) == 0,
     "client keys are valid and differ");
  ok(ws_handshake_request(&b, "h:1", "/p?q=1", k1, NULL) == 0 &&
         strncmp(b.base, "GET /p?q=1 HTTP/1.1\r\nHost: h:1\r\n", 32) == 0 &&
         strstr(b.base, "Sec-WebSocket-Version: 13\r\n") && strstr(b.base, k1) && b.len > 4 &&
         memcmp(b.base + b.len - 4, "\r\n\r\n", 4) == 0,
     "client request");
  kds_buf_release(&b);
}

static void t_hs_parser(void) {
  const char *key = "dGhlIHNhbXBsZSBub25jZQ==";
  const char *good =
      "HTTP/1.1 101 Switching Protocols\r\nupgrade: WebSocket\r\nConnection: keep-alive, Upgrade\r\n"
      "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n\x81\x02hi";
  size_t glen = strlen(good), head = glen - 4;
  int all = 1;
  /* Every split point, and one byte at a time. */
  for (size_t cut = 0; cut <= glen; cut++) {
    ws_handshake_t *hs = ws_handshake_new(key);
    char *a = guard_copy(good, cut), *b = guard_copy(good + cut, glen - cut);
    ssize_t r1 = ws_handshake_feed(hs, a, cut), r2;
    size_t used;
    if (cut < head) {
      r2 = ws_handshake_feed(hs, b, glen - cut);
      used = cut + (size_t)r2;
      all &= (r1 == KDS_EAGAIN || (cut == 0 && r1 == KDS_EAGAIN)) && r2 >= 0 && used == head;
    } else {
      all &= r1 == (ssize_t)head;
    }
    all &= ws_handshake_status(hs) == 101;
    guard_free(a, cut);
    guard_free(b, glen - cut);
    ws_handshake_free(hs);
  }
  ok(all, "every split of a good response is accepted and stops at the head's end");
  {
    ws_handshake_t *hs = ws_handshake_new(key);
    ssize_t r = KDS_EAGAIN;
    size_t i;
    for (i = 0; i < glen && r == KDS_EAGAIN; i++) r = ws_handshake_feed(hs, good + i, 1);
    ok(r == 1 && i == head, "one byte at a time: the last byte completes the head");
    ws_handshake_free(hs);
  }
  struct {
    const char *resp;
    int status;
    const char *what;
  } bad[] = {
      {"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
       "Sec-WebSocket-Accept: AAAAAAAAAAAAAAAAAAAAAAAAAAA=\r\n\r\n",
       101, "wrong accept"},
      {"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n"
       "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n",
       101, "no Upgrade header"},
      {"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n", 101,
       "no accept"},
      {"HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 17\r\n\r\nTransport unknown", 400,
       "400 refusal"},
      {"HTTX/1.1 101\r\n\r\n", 0, "garbage"},
  };
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    ws_handshake_t *hs = ws_handshake_new(key);
    ssize_t r = ws_handshake_feed(hs, bad[i].resp, strlen(bad[i].resp));
    ok(r == KDS_EPROTO && ws_handshake_status(hs) == bad[i].status, "%s: EPROTO, status %d", bad[i].what,
       ws_handshake_status(hs));
    ok(ws_handshake_feed(hs, "x", 1) == KDS_EPROTO, "%s: stays failed", bad[i].what);
    ws_handshake_free(hs);
  }
  {
    ws_handshake_t *hs = ws_handshake_new(key);
    kds_buf big = KDS_BUF_INIT;
    ssize_t r;
    kds_buf_adds(&big, "HTTP/1.1 101 Switching Protocols\r\n");
    while (big.len < 20000)
      kds_buf_adds(&big, "X-Pad: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n");
    r = ws_handshake_feed(hs, big.base, big.len);
    ok(r == KDS_ETOOBIG, "a head over 16 KiB is refused");
    kds_buf_release(&big);
    ws_handshake_free(hs);
  }
  ok(ws_handshake_new("nope") == NULL, "bad key: no checker");
}

int main(void) {
  subtest("accept key", t_accept_key);
  subtest("handshake response", t_hs_parser);
  return done_testing();
}
