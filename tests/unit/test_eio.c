/* test_eio.c: Engine.IO v4 codec: packets, polling payloads, handshake, base64, ids. */
#include <string.h>

#include "eio.h"
#include "err.h"
#include "test.h"

#define S(lit) lit, sizeof(lit) - 1

/* Decodes `len` bytes placed against a guard page. */
static int decode_guarded(const char *data, size_t len, int text, eio_packet *p, kds_buf *scratch,
                          kds_buf *copy) {
  char *g = guard_copy(data, len);
  int rc = eio_packet_decode(g, len, text, p, scratch);
  kds_buf_reset(copy);
  if (rc == 0 && !p->binary) kds_buf_add(copy, p->data.ptr, p->data.len); /* outlive the guard */
  if (rc == 0 && !p->binary) p->data.ptr = copy->base ? copy->base : "";
  guard_free(g, len);
  return rc;
}

static void t_decode(void) {
  eio_packet p;
  kds_buf scratch = KDS_BUF_INIT, copy = KDS_BUF_INIT;
  static const struct {
    const char *in;
    eio_type type;
    const char *data;
  } good[] = {
      {"0{\"sid\":\"x\"}", EIO_OPEN, "{\"sid\":\"x\"}"},
      {"1", EIO_CLOSE, ""},
      {"2", EIO_PING, ""},
      {"2probe", EIO_PING, "probe"},
      {"3", EIO_PONG, ""},
      {"3probe", EIO_PONG, "probe"},
      {"4hello", EIO_MESSAGE, "hello"},
      {"4", EIO_MESSAGE, ""},
      {"5", EIO_UPGRADE, ""},
      {"6", EIO_NOOP, ""},
      {"4\xc3\xa9\xe2\x82\xac", EIO_MESSAGE, "\xc3\xa9\xe2\x82\xac"},
  };
  for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
    int rc = decode_guarded(good[i].in, strlen(good[i].in), 1, &p, &scratch, &copy);
    ok(rc == 0 && p.type == good[i].type && !p.binary && kds_slice_eq(p.data, good[i].data), "decodes %s",
       good[i].in);
  }
  /* Polling binary: "b" + base64 replaces the "4". */
  ok(decode_guarded(S("bAQI="), 1, &p, &scratch, &copy) == 0 && p.type == EIO_MESSAGE && p.binary &&
         p.data.len == 2 && p.data.ptr[0] == 1 && p.data.ptr[1] == 2,
     "b<base64> is a binary message");
  ok(decode_guarded(S("b"), 1, &p, &scratch, &copy) == 0 && p.binary && p.data.len == 0,
     "empty binary message");
  /* A WS binary frame is a binary message whatever its first byte. */
  ok(eio_packet_decode("\x09\x08", 2, 0, &p, NULL) == 0 && p.binary && p.type == EIO_MESSAGE &&
         p.data.len == 2 && p.data.ptr[0] == 9,
     "binary frame");
  ok(eio_packet_decode("", 0, 0, &p, NULL) == 0 && p.binary && p.data.len == 0, "empty binary frame");

  static const char *const bad[] = {"",   "7",    "9x", "abc",    "x",     "/",
                                    " 4", "b!!!", "bA", "bAQI=x", "bA===", "\x1e"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
    ok(decode_guarded(bad[i], strlen(bad[i]), 1, &p, &scratch, &copy) == KDS_EPROTO, "refuses \"%s\"",
       bad[i]);
  ok(eio_packet_decode("bAQI=", 5, 1, &p, NULL) == KDS_EPROTO, "binary without scratch refused");
  kds_buf_release(&scratch);
  kds_buf_release(&copy);
}

static void t_encode(void) {
  kds_buf b = KDS_BUF_INIT;
  ok(eio_packet_encode(&b, EIO_MESSAGE, 0, "hello", 5) == 0 && strcmp(b.base, "4hello") == 0, "message");
  kds_buf_reset(&b);
  ok(eio_packet_encode(&b, EIO_PING, 0, NULL, 0) == 0 && strcmp(b.base, "2") == 0, "ping");
  kds_buf_reset(&b);
  ok(eio_packet_encode(&b, EIO_PONG, 0, "probe", 5) == 0 && strcmp(b.base, "3probe") == 0, "pong probe");
  kds_buf_reset(&b);
  ok(eio_packet_encode(&b, EIO_MESSAGE, 1, "\x01\x02", 2) == 0 && strcmp(b.base, "bAQI=") == 0,
     "binary as b<base64>");
  kds_buf_reset(&b);
  ok(eio_packet_encode(&b, EIO_PING, 1, "x", 1) == KDS_EINVAL, "binary ping refused");
  ok(eio_packet_encode(&b, (eio_type)7, 0, "x", 1) == KDS_EINVAL, "type 7 refused");
  ok(eio_packet_encode(&b, (eio_type)-1, 0, "x", 1) == KDS_EINVAL, "type -1 refused");
  kds_buf_release(&b);
}

static void t_payload(void) {
  static const char body[] =
      "4hello\x1e"
      "2\x1e"
      "bAQI=\x1e"
      "4";
  kds_slice rec;
  size_t pos = 0;
  int n = 0;
  const char *want[] = {"4hello", "2", "bAQI=", "4"};
  while (eio_payload_next(body, sizeof(body) - 1, &pos, &rec)) {
    ok(n < 4 && kds_slice_eq(rec, want[n]), "record %d", n);
    n++;
  }
  ok(n == 4, "four records");

  pos = 0;
  ok(eio_payload_next("", 0, &pos, &rec) == 1 && rec.len == 0, "empty body: one empty record");
  ok(eio_payload_next("", 0, &pos, &rec) == 0, "then the end");

  pos = 0;
  n = 0;
  while (eio_payload_next(S("4a\x1e"), &pos, &rec)) n++;
  ok(n == 2 && rec.len == 0, "trailing separator: an empty last record");

  pos = 0;
  n = 0;
  while (eio_payload_next(S("4a\x1e\x1e"
                            "4b"),
                          &pos, &rec))
    n++;
  ok(n == 3, "doubled separator: an empty middle record");

  /* Every prefix of the body, against a guard page: records never run past the input and
   * the records of a prefix are prefixes of the real ones. */
  for (size_t len = 0; len < sizeof(body); len++) {
    char *g = guard_copy(body, len);
    size_t total = 0;
    int k = 0, good = 1;
    pos = 0;
    while (eio_payload_next(g, len, &pos, &rec)) {
      eio_packet p;
      kds_buf scratch = KDS_BUF_INIT;
      if (rec.ptr < g || rec.ptr + rec.len > g + len) good = 0;
      if (k >= 4 || strncmp(rec.ptr, want[k], rec.len) != 0) good = 0;
      (void)eio_packet_decode(rec.ptr, rec.len, 1, &p, &scratch);
      kds_buf_release(&scratch);
      total += rec.len;
      k++;
    }
    ok(good && total + (k ? (size_t)k - 1 : 0) == len, "prefix of %zu bytes", len);
    guard_free(g, len);
  }

  kds_buf out = KDS_BUF_INIT;
  ok(eio_payload_add(&out, S("4hello")) == 0 && eio_payload_add(&out, S("2")) == 0 &&
         eio_payload_add(&out, S("bAQI=")) == 0 &&
         strcmp(out.base,
                "4hello\x1e"
                "2\x1e"
                "bAQI=") == 0,
     "joined with \\x1e");
  kds_buf_release(&out);
}

static void t_handshake(void) {
  kds_buf b = KDS_BUF_INIT;
  eio_handshake hs = {"ZziLQjWfLf4jHtFvAA9e", 1, 300, 200, 1000000}, back;
  ok(eio_handshake_encode(&b, &hs) == 0 &&
         strcmp(b.base,
                "0{\"sid\":\"ZziLQjWfLf4jHtFvAA9e\",\"upgrades\":[\"websocket\"],"
                "\"pingInterval\":300,\"pingTimeout\":200,\"maxPayload\":1000000}") == 0,
     "open packet as the reference writes it");
  ok(eio_handshake_decode(b.base + 1, b.len - 1, &back) == 0 && strcmp(back.sid, hs.sid) == 0 &&
         back.upgrade_websocket && back.ping_interval == 300 && back.ping_timeout == 200 &&
         back.max_payload == 1000000,
     "decodes back");
  kds_buf_reset(&b);
  hs.upgrade_websocket = 0;
  ok(eio_handshake_encode(&b, &hs) == 0 && strstr(b.base, "\"upgrades\":[],") != NULL, "no upgrades (ws)");
  kds_buf_reset(&b);
  strcpy(hs.sid, "a\"b");
  ok(eio_handshake_encode(&b, &hs) == KDS_EINVAL, "a sid needing escapes is refused");
  kds_buf_release(&b);

  ok(eio_handshake_decode(S("{\"sid\":\"s\",\"upgrades\":[],\"pingInterval\":1,\"pingTimeout\":2}"), &back) ==
             0 &&
         back.max_payload == 1000000 && !back.upgrade_websocket,
     "maxPayload defaults");
  static const char *const bad[] = {
      "",
      "{",
      "[]",
      "{\"sid\":1,\"pingInterval\":1,\"pingTimeout\":2}",
      "{\"sid\":\"\",\"pingInterval\":1,\"pingTimeout\":2}",
      "{\"sid\":\"s\",\"pingTimeout\":2}",
      "{\"sid\":\"s\",\"pingInterval\":-1,\"pingTimeout\":2}",
      "{\"sid\":\"s\",\"pingInterval\":\"1\",\"pingTimeout\":2}",
      "{\"sid\":\"s\",\"upgrades\":\"websocket\",\"pingInterval\":1,\"pingTimeout\":2}",
      ("{\"sid\":\"0123456789012345678901234567890123456789012345678901234567890123456789\","
       "\"pingInterval\":1,\"pingTimeout\":2}")}; /* one string, split for width */
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    char *g = guard_copy(bad[i], strlen(bad[i]));
    ok(eio_handshake_decode(g, strlen(bad[i]), &back) == KDS_EPROTO, "refuses handshake %zu", i);
    guard_free(g, strlen(bad[i]));
  }
}

static void t_base64(void) {
  static const char *const plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
  static const char *const enc[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
  kds_buf b = KDS_BUF_INIT;
  for (int i = 0; i < 7; i++) {
    kds_buf_reset(&b);
    ok(eio_base64_encode(&b, plain[i], strlen(plain[i])) == 0 && strcmp(b.base, enc[i]) == 0, "encode \"%s\"",
       plain[i]);
    kds_buf_reset(&b);
    ok(eio_base64_decode(&b, enc[i], strlen(enc[i])) == 0 && b.len == strlen(plain[i]) &&
           memcmp(b.base, plain[i], b.len) == 0,
       "decode \"%s\"", enc[i]);
  }
  kds_buf_reset(&b);
  ok(eio_base64_decode(&b, S("Zm9vYg")) == 0 && strcmp(b.base, "foob") == 0, "padding optional");
  kds_buf_reset(&b);
  ok(eio_base64_decode(&b, S("-_8")) == 0 && b.len == 2 && (unsigned char)b.base[0] == 0xfb &&
         (unsigned char)b.base[1] == 0xff,
     "URL-safe alphabet");
  kds_buf_reset(&b);
  ok(eio_base64_decode(&b, S("+/8=")) == 0 && b.len == 2 && (unsigned char)b.base[0] == 0xfb,
     "standard alphabet");
  /* all 256 byte values round-trip */
  unsigned char all[256];
  for (int i = 0; i < 256; i++) all[i] = (unsigned char)i;
  kds_buf e = KDS_BUF_INIT;
  kds_buf_reset(&b);
  ok(eio_base64_encode(&e, all, sizeof(all)) == 0 && eio_base64_decode(&b, e.base, e.len) == 0 &&
         b.len == 256 && memcmp(b.base, all, 256) == 0,
     "256 byte values round-trip");
  kds_buf_release(&e);
  static const char *const bad[] = {"Z", "Zm9vY", "Zm=v", "Zm 9v", "Zm9v\n", "=", "Zg===", "Zm9*"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    kds_buf_reset(&b);
    char *g = guard_copy(bad[i], strlen(bad[i]));
    ok(eio_base64_decode(&b, g, strlen(bad[i])) == KDS_EPROTO && b.len == 0, "refuses \"%s\"", bad[i]);
    guard_free(g, strlen(bad[i]));
  }
  kds_buf_release(&b);
}

static void t_ids(void) {
  char a[EIO_ID_LEN + 1], b[EIO_ID_LEN + 1];
  ok(eio_id_generate(a) == 0 && eio_id_generate(b) == 0, "generated");
  ok(strlen(a) == EIO_ID_LEN &&
         strspn(a, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") == EIO_ID_LEN,
     "20 URL-safe characters: %s", a);
  ok(strcmp(a, b) != 0, "two ids differ");
}

int main(void) {
  subtest("decode", t_decode);
  subtest("encode", t_encode);
  subtest("payload", t_payload);
  subtest("handshake", t_handshake);
  subtest("base64", t_base64);
  subtest("ids", t_ids);
  return done_testing();
}
