/* test_base64.c: base64 against RFC 4648's test vectors (section 10), both alphabets,
 * padding rules, the strict decoder and buffer bounds. */
#include <string.h>

#include "base64.h"
#include "err.h"
#include "test.h"

static void t_vectors(void) {
  static const char *const plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
  static const char *const enc[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
  static const char *const nopad[] = {"", "Zg", "Zm8", "Zm9v", "Zm9vYg", "Zm9vYmE", "Zm9vYmFy"};
  for (size_t i = 0; i < sizeof(plain) / sizeof(plain[0]); i++) {
    char out[16];
    kds_buf b = KDS_BUF_INIT;
    size_t n = strlen(plain[i]);
    ok(base64_encoded_len(n, 0) == strlen(enc[i]) &&
           base64_encode_to(out, plain[i], n, 0) == strlen(enc[i]) && strcmp(out, enc[i]) == 0,
       "encode \"%s\" = \"%s\"", plain[i], enc[i]);
    ok(base64_encoded_len(n, BASE64_NOPAD) == strlen(nopad[i]) &&
           base64_encode_to(out, plain[i], n, BASE64_NOPAD) == strlen(nopad[i]) && strcmp(out, nopad[i]) == 0,
       "unpadded \"%s\"", nopad[i]);
    ok(base64_decode(&b, enc[i], strlen(enc[i]), BASE64_STRICT) == 0 && b.len == n &&
           memcmp(b.base ? b.base : "", plain[i], n) == 0,
       "strict decode \"%s\"", enc[i]);
    kds_buf_reset(&b);
    ok(base64_decode(&b, nopad[i], strlen(nopad[i]), 0) == 0 && b.len == n &&
           memcmp(b.base ? b.base : "", plain[i], n) == 0,
       "lenient decode \"%s\"", nopad[i]);
    kds_buf_release(&b);
  }
}

static void t_alphabets(void) {
  static const unsigned char raw[] = {0xfb, 0xff, 0xbf};
  char out[8];
  unsigned char back[4];
  base64_encode_to(out, raw, 3, 0);
  ok(strcmp(out, "+/+/") == 0, "standard: + and /");
  base64_encode_to(out, raw, 3, BASE64_URL);
  ok(strcmp(out, "-_-_") == 0, "URL-safe: - and _");
  ok(base64_decode_to(back, sizeof(back), "-_-_", 4, 0) == 3 && memcmp(back, raw, 3) == 0,
     "lenient reads the URL alphabet");
  ok(base64_decode_to(back, sizeof(back), "-_-_", 4, BASE64_STRICT) == KDS_EPROTO, "strict does not");
}

static void t_refusals(void) {
  static const char *const bad[] = {"Z", "Zm9vY", "Zg===", "Z===", "Zm=9", "Zm 9v", "Zm9v!", "=Zm9"};
  static const char *const bad_strict[] = {"Zg", "Zm8", "Zg=", "Zm9vYg="};
  unsigned char out[16];
  kds_buf b = KDS_BUF_INIT;
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    kds_buf_reset(&b);
    ok(base64_decode(&b, bad[i], strlen(bad[i]), 0) == KDS_EPROTO && b.len == 0, "refuses \"%s\"", bad[i]);
  }
  for (size_t i = 0; i < sizeof(bad_strict) / sizeof(bad_strict[0]); i++)
    ok(base64_decode_to(out, sizeof(out), bad_strict[i], strlen(bad_strict[i]), BASE64_STRICT) == KDS_EPROTO,
       "strict refuses \"%s\" (padding missing)", bad_strict[i]);
  ok(base64_decode_to(out, 2, "Zm9v", 4, 0) == KDS_ETOOBIG, "more bytes than fit: KDS_ETOOBIG");
  ok(base64_decode_to(out, 3, "Zm9v", 4, 0) == 3, "exactly what fits");
  ok(base64_decode(&b, "Zm\0v", 4, 0) == KDS_EPROTO, "a NUL is not base64");
  kds_buf_release(&b);
}

static void t_round_trip(void) {
  unsigned char all[256];
  kds_buf e = KDS_BUF_INIT, d = KDS_BUF_INIT;
  for (int i = 0; i < 256; i++) all[i] = (unsigned char)i;
  for (size_t n = 0; n <= sizeof(all); n += 37) {
    kds_buf_reset(&e);
    kds_buf_reset(&d);
    ok(base64_encode(&e, all, n, BASE64_URL | BASE64_NOPAD) == 0 &&
           base64_decode(&d, e.base, e.len, 0) == 0 && d.len == n && memcmp(d.base, all, n) == 0,
       "%zu bytes round-trip", n);
  }
  kds_buf_release(&e);
  kds_buf_release(&d);
}

int main(void) {
  subtest("RFC 4648 vectors", t_vectors);
  subtest("alphabets", t_alphabets);
  subtest("refusals", t_refusals);
  subtest("round trip", t_round_trip);
  return done_testing();
}
