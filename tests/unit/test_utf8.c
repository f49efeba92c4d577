/* test_utf8.c: the UTF-8 decoder (WHATWG maximal subparts), the strict validator WebSocket
 * text goes through, the encoder, and our two additions (C0 80, lone surrogates). Inputs
 * sit against a guard page: reading past the end crashes. */
#include <string.h>

#include "test.h"
#include "utf8.h"

static int valid(const char *s, size_t n) {
  char *g = guard_copy(s, n);
  int v = utf8_valid(g, n);
  guard_free(g, n);
  return v;
}

static void t_utf8(void) {
  ok(utf8_valid((const unsigned char *)"plain", 5), "ascii");
  ok(utf8_valid((const unsigned char *)"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x8d\x94", 14),
     "2, 3, 4-byte sequences");
  ok(!utf8_valid((const unsigned char *)"\xc0\xaf", 2), "overlong");
  ok(!utf8_valid((const unsigned char *)"\xed\xa0\x80", 3), "surrogate");
  ok(!utf8_valid((const unsigned char *)"\xf4\x90\x80\x80", 4), "above U+10FFFF");
  ok(!utf8_valid((const unsigned char *)"\xe2\x82", 2), "truncated");
  ok(!utf8_valid((const unsigned char *)"\xff", 1), "0xff");
}

static void t_edges(void) {
  ok(valid("", 0), "empty");
  ok(valid("a\0b", 3), "a NUL byte is valid UTF-8");
  ok(valid("\xed\x9f\xbf", 3) && !valid("\xed\xa0\x80", 3), "U+D7FF yes, U+D800 no");
  ok(valid("\xf4\x8f\xbf\xbf", 4), "U+10FFFF");
  ok(!valid("\xe0\x9f\xbf", 3) && valid("\xe0\xa0\x80", 3), "3-byte overlong edge");
  ok(!valid("\xf0\x8f\xbf\xbf", 4) && valid("\xf0\x90\x80\x80", 4), "4-byte overlong edge");
  ok(!valid("\xc1\xbf", 2) && valid("\xc2\x80", 2), "2-byte overlong edge");
  ok(!valid("\xf0\x9f\x8d", 3), "a cut 4-byte sequence at the end");
  ok(!valid("\x80", 1) && !valid("\xf5\x80\x80\x80", 4), "a stray continuation, a lead past F4");
}

static void t_decode(void) {
  uint32_t cp;
  int v;
  ok(utf8_decode((const unsigned char *)"\xe2\x82\xac", 3, &cp, &v) == 3 && v && cp == 0x20ac, "U+20AC");
  ok(utf8_decode((const unsigned char *)"\xf0\x9f\x8c\xb6", 4, &cp, &v) == 4 && v && cp == 0x1f336,
     "U+1F336");
  ok(utf8_decode((const unsigned char *)"\xe2\x82x", 3, &cp, &v) == 2 && !v && cp == UTF8_REPLACEMENT,
     "a truncated sequence is one maximal subpart");
  ok(utf8_decode((const unsigned char *)"\xed\xa0\x80", 3, &cp, &v) == 1 && !v,
     "a surrogate's lead byte alone (A0 does not fit ED)");
  ok(utf8_decode((const unsigned char *)"\xc0\x80", 2, &cp, &v) == 1 && !v, "C0 is never a lead");
}

static void t_encode(void) {
  char b[4];
  ok(utf8_encode(0x41, b) == 1 && b[0] == 'A', "1 byte");
  ok(utf8_encode(0xe9, b) == 2 && memcmp(b, "\xc3\xa9", 2) == 0, "2 bytes");
  ok(utf8_encode(0x20ac, b) == 3 && memcmp(b, "\xe2\x82\xac", 3) == 0, "3 bytes");
  ok(utf8_encode(0x1f336, b) == 4 && memcmp(b, "\xf0\x9f\x8c\xb6", 4) == 0, "4 bytes");
  ok(utf8_encode(0xd800, b) == 3 && memcmp(b, "\xed\xa0\x80", 3) == 0, "a surrogate as its 3 bytes");
}

static void t_additions(void) {
  char b[4];
  ok(utf8_nul_at((const unsigned char *)"\xc0\x80", 2) && !utf8_nul_at((const unsigned char *)"\xc0", 1),
     "C0 80 is our U+0000");
  ok(utf8_lone_at((const unsigned char *)"\xed\xa0\x80", 3) == 0xd800 &&
         utf8_lone_at((const unsigned char *)"\xed\xbf\xbf", 3) == 0xdfff,
     "lone surrogates read back");
  ok(utf8_lone_at((const unsigned char *)"\xed\x9f\xbf", 3) == 0 &&
         utf8_lone_at((const unsigned char *)"\xed\xa0", 2) == 0,
     "U+D7FF and a cut sequence are not");
  ok(utf8_lone_fix(0xdc00, UTF8_LONE_KEEP, b) == 3 && memcmp(b, "\xed\xb0\x80", 3) == 0, "KEEP: its bytes");
  ok(utf8_lone_fix(0xdc00, UTF8_LONE_REPLACE, b) == 3 && memcmp(b, "\xef\xbf\xbd", 3) == 0,
     "REPLACE: U+FFFD");
  ok(utf8_is_high_surrogate(0xd83c) && !utf8_is_high_surrogate(0xdc00) && utf8_is_low_surrogate(0xdf36) &&
         !utf8_is_low_surrogate(0xdbff),
     "high and low");
}

int main(void) {
  subtest("utf8", t_utf8);
  subtest("edges", t_edges);
  subtest("decode", t_decode);
  subtest("encode", t_encode);
  subtest("additions", t_additions);
  return done_testing();
}
