/* test_json_body.c: request text read the way the Node reference reads it (SPEC 3 bodies,
 * checked end to end by tests/integration/differential.test.js): the JSON grammar check in
 * front of cJSON (json.h's json_rewrite with the rewrites server/http/http.c asks for), the
 * repeated-key rule, and order.h's text helpers (WHATWG replacement of invalid UTF-8, C0 80
 * for U+0000, lone surrogates, JavaScript string lengths and number formatting). Inputs sit
 * against a guard page: reading past the end crashes. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "json.h"
#include "order.h"
#include "test.h"

/* The body check of http_req_json_body (json_rewrite with JSON_READ_AS_JS, as it calls it):
 * 0 valid, -1 invalid, or KDS_ENOMEM; the rewritten text appended to *out. */
static int json_strict(const char *s, size_t len, kds_buf *out) {
  int rc = json_rewrite(out, s, len, JSON_READ_AS_JS);
  return rc == KDS_EPROTO ? -1 : rc;
}

/* json_strict on a guarded copy of `s`: 0 valid, -1 invalid; the rewritten text in *out. */
static int strict(const char *s, size_t len, kds_buf *out) {
  char *g = guard_copy(s, len);
  int rc;
  kds_buf_reset(out);
  rc = json_strict(g, len, out);
  guard_free(g, len);
  return rc;
}

static void t_grammar(void) {
  static const char *const good[] = {
      "{}",
      " {} ",
      "[]",
      "0",
      "-0",
      "1.5e+3",
      "-12.0E-7",
      "\"\"",
      "true",
      "false",
      "null",
      "{\"a\":[1,{\"b\":null}],\"c\":\"\\\"\\\\\\/\\b\\f\\n\\r\\t\\u00e9\"}",
      "\r\n\t{\"a\" : 1 }\r\n",
      "\"\x7f\xc3\xa9\"",
  };
  static const char *const bad[] = {
      "",         " ",        "{",       "}",         "{\"a\"}",     "{\"a\":}", "{\"a\":1,}", "[1,]",
      "[,1]",     "{a:1}",    "{'a':1}", "01",        "-01",         "1.",       ".5",         "+1",
      "-",        "1e",       "1e+",     "0x1",       "NaN",         "Infinity", "tru",        "nul",
      "\"a\nb\"", "\"a\tb\"", "\"\\q\"", "\"\\u12\"", "\"\\u12g4\"", "\"abc",    "{}{}",       "{} x",
      "{\f}",     "{\v}",     "[1 2]",   "{\"a\" 1}", "// x\n{}",
  };
  kds_buf out = KDS_BUF_INIT;
  for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
    ok(strict(good[i], strlen(good[i]), &out) == 0 && out.len == strlen(good[i]) &&
           memcmp(out.base, good[i], out.len) == 0,
       "accepts good[%zu] unchanged", i);
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
    ok(strict(bad[i], strlen(bad[i]), &out) == -1, "refuses bad[%zu]", i);
  ok(strict("{\0}", 3, &out) == -1, "refuses a NUL byte as a blank");
  ok(strict("\"a\0b\"", 5, &out) == -1, "refuses a raw NUL in a string");
  kds_buf_release(&out);
}

static void t_depth(void) {
  kds_buf in = KDS_BUF_INIT, out = KDS_BUF_INIT;
  for (int i = 0; i < 1000; i++) kds_buf_addc(&in, '[');
  for (int i = 0; i < 1000; i++) kds_buf_addc(&in, ']');
  ok(strict(in.base, in.len, &out) == 0, "1000 levels (cJSON's limit) pass");
  kds_buf_reset(&in);
  for (int i = 0; i < 1001; i++) kds_buf_addc(&in, '[');
  for (int i = 0; i < 1001; i++) kds_buf_addc(&in, ']');
  ok(strict(in.base, in.len, &out) == -1, "1001 levels do not");
  kds_buf_release(&in);
  kds_buf_release(&out);
}

static void t_rewrites(void) {
  kds_buf out = KDS_BUF_INIT;
  const char *s;
  s = "[\"a\\u0000b\",\"\\u0000\"]";
  {
    static const char want[] =
        "[\"a\xC0\x80"
        "b\",\"\xC0\x80\"]";
    ok(strict(s, strlen(s), &out) == 0 && out.len == sizeof(want) - 1 && memcmp(out.base, want, out.len) == 0,
       "\\u0000 becomes C0 80");
  }
  s = "\"\\ud800x\\uDFFF\"";
  ok(strict(s, strlen(s), &out) == 0 && strcmp(out.base, "\"\xED\xA0\x80x\xED\xBF\xBF\"") == 0,
     "lone surrogates become their 3 bytes");
  s = "\"\\ud83c\\udf36\\ud83c\"";
  ok(strict(s, strlen(s), &out) == 0 && strcmp(out.base, "\"\\ud83c\\udf36\xED\xA0\xBC\"") == 0,
     "a pair stays an escape, a high surrogate at the end does not");
  s = "\"\\ud83c\\u0041\"";
  ok(strict(s, strlen(s), &out) == 0 && strcmp(out.base, "\"\xED\xA0\xBC\\u0041\"") == 0,
     "a high surrogate before a non-surrogate escape is lone");
  s = "[2.0000000000000000000000000000000000000000000000000000000000000000001]";
  ok(strict(s, strlen(s), &out) == 0 && strcmp(out.base, "[2]") == 0,
     "a number over 63 characters: 17 digits");
  {
    kds_buf in = KDS_BUF_INIT;
    char want[64];
    kds_buf_addc(&in, '[');
    kds_buf_addc(&in, '1');
    for (int i = 0; i < 72; i++) kds_buf_addc(&in, '0');
    kds_buf_addc(&in, ']');
    snprintf(want, sizeof(want), "[%.17g]", 1e72);
    ok(strict(in.base, in.len, &out) == 0 && strcmp(out.base, want) == 0,
       "a long integer is the double JSON.parse reads (%s)", out.base);
    kds_buf_reset(&in);
    kds_buf_addc(&in, '[');
    kds_buf_addc(&in, '1');
    for (int i = 0; i < 400; i++) kds_buf_addc(&in, '0');
    kds_buf_addc(&in, ']');
    ok(strict(in.base, in.len, &out) == 0 && strcmp(out.base, "[1e999]") == 0,
       "an overflowing one is infinite");
    kds_buf_release(&in);
  }
  kds_buf_release(&out);
}

static void t_dedupe(void) {
  static const struct {
    const char *in, *want;
  } cases[] = {
      {"{\"a\":1,\"b\":2,\"a\":3}", "{\"a\":3,\"b\":2}"},
      {"{\"a\":1,\"a\":2,\"a\":3}", "{\"a\":3}"},
      {"{\"z\":0,\"b\":1,\"a\":1,\"b\":2,\"a\":5}", "{\"z\":0,\"b\":2,\"a\":5}"},
      {"[{\"x\":1,\"x\":{\"y\":1,\"y\":2}}]", "[{\"x\":{\"y\":2}}]"},
      {"{\"k0\":0,\"k1\":1,\"k2\":2,\"k3\":3,\"k4\":4,\"k5\":5,\"k6\":6,\"k7\":7,\"k8\":8,\"k9\":9,\"ka\":10,"
       "\"kb\":11,\"kc\":12,\"kd\":13,\"ke\":14,\"kf\":15,\"kg\":16,\"k0\":17}",
       "{\"k0\":17,\"k1\":1,\"k2\":2,\"k3\":3,\"k4\":4,\"k5\":5,\"k6\":6,\"k7\":7,\"k8\":8,\"k9\":9,\"ka\":"
       "10,"
       "\"kb\":11,\"kc\":12,\"kd\":13,\"ke\":14,\"kf\":15,\"kg\":16}"},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    cJSON *j = cJSON_Parse(cases[i].in);
    char *s;
    ok(j && json_dedupe_keys(j) == 0, "dedupe %zu", i);
    s = cJSON_PrintUnformatted(j);
    ok(s && strcmp(s, cases[i].want) == 0, "the last value, at the first place: %s", s ? s : "?");
    ok(cJSON_AddNumberToObject(cJSON_IsObject(j) ? j : j->child, "new", 1) != NULL, "the list still links");
    cJSON_free(s);
    cJSON_Delete(j);
  }
}

static void t_text_clean(void) {
  static const struct {
    const char *in;
    size_t len;
    int nul;
    const char *want;
    size_t want_len;
  } cases[] = {
      {"abc \xC3\xA9 \xF0\x9F\x8C\xB6", 12, 0, "abc \xC3\xA9 \xF0\x9F\x8C\xB6", 12},
      {"\xFF", 1, 0, "\xEF\xBF\xBD", 3},
      {"a\xE2\x82"
       "b",
       4, 0,
       "a\xEF\xBF\xBD"
       "b",
       5},                                         /* a truncated sequence: one U+FFFD */
      {"a\xF0\x9F\x8C", 4, 0, "a\xEF\xBF\xBD", 4}, /* ... also at the end */
      {"\xED\xA0\x80", 3, 0, "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD", 9}, /* surrogate: three */
      {"\xC0\x80", 2, 0, "\xEF\xBF\xBD\xEF\xBF\xBD", 6},                 /* overlong */
      {"\xF4\x90\x80\x80", 4, 0, "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD", 12},
      {"a\0b", 3, 0, "a\0b", 3},
      {"a\0b", 3, 1,
       "a\xC0\x80"
       "b",
       4},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    kds_buf out = KDS_BUF_INIT;
    char *g = guard_copy(cases[i].in, cases[i].len);
    ok(order_text_clean(&out, g, cases[i].len, cases[i].nul) == 0 && out.len == cases[i].want_len &&
           memcmp(out.base, cases[i].want, out.len) == 0,
       "clean case %zu", i);
    guard_free(g, cases[i].len);
    kds_buf_release(&out);
  }
}

static void t_render(void) {
  kds_buf b = KDS_BUF_INIT;
  order_json_str(&b,
                 "a\xC0\x80"
                 "b",
                 4);
  ok(strcmp(b.base, "\"a\\u0000b\"") == 0, "C0 80 renders as \\u0000");
  kds_buf_reset(&b);
  order_json_str(&b, "\xED\xA0\x80", 3);
  ok(strcmp(b.base, "\"\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\"") == 0,
     "a lone surrogate as Node sends it back");
  kds_buf_reset(&b);
  order_json_str(&b, "x\xE2\x82", 3);
  ok(strcmp(b.base, "\"x\xEF\xBF\xBD\"") == 0, "a truncated sequence is one U+FFFD");
  kds_buf_release(&b);
  ok(order_utf16_len("a\xC0\x80"
                     "b") == 3,
     "C0 80 is one unit");
  ok(order_utf16_len("\xED\xA0\x80\xED\xBF\xBF") == 2, "a lone surrogate is one unit");
  ok(order_utf16_len("\xE2\x82") == 1 && order_utf16_len("\xF0\x9F\x8C\xB6") == 2, "U+FFFD and pairs");
  char *t = order_trim_dup(" \xC0\x80 ");
  ok(t && strcmp(t, "\xC0\x80") == 0, "trim keeps U+0000, as JavaScript's");
  free(t);
}

static int no_product(void *ud, int64_t id, order_product *out) {
  (void)ud;
  (void)id;
  (void)out;
  return 0;
}

/* The 422 message quotes the product_id as JSON.stringify writes it. */
static void t_numbers(void) {
  static const struct {
    const char *pid, *want;
  } cases[] = {
      {"1e21", "1e+21"},
      {"1e16", "10000000000000000"},
      {"9007199254740993", "9007199254740992"},
      {"-0", "0"},
      {"0.1", "0.1"},
      {"1.5e-7", "1.5e-7"},
      {"0.000001", "0.000001"},
      {"123456.789", "123456.789"},
      {"-2.5E+30", "-2.5e+30"},
      {"5e-324", "5e-324"},
      {"1.7976931348623157e308", "1.7976931348623157e+308"},
      {"[1,2.50,-0,\"\\u0000\"]", "[1,2.5,0,\"\\u0000\"]"},
      {"{\"a\":\"\\u00e9\\n\"}", "{\"a\":\"\xC3\xA9\\n\"}"},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    char body[256], want[300];
    kds_buf text = KDS_BUF_INIT;
    cJSON *j;
    order_t o;
    kds_err e;
    snprintf(body, sizeof(body), "{\"payment_method\":\"CASH\",\"items\":[{\"product_id\":%s,\"qty\":1}]}",
             cases[i].pid);
    ok(json_strict(body, strlen(body), &text) == 0, "%s is JSON", cases[i].pid);
    j = cJSON_ParseWithLength(text.base, text.len);
    order_init(&o);
    ok(order_validate(j, no_product, NULL, &o, &e) == KDS_EREQUEST, "%s is refused", cases[i].pid);
    snprintf(want, sizeof(want), "there is no active product with id %s", cases[i].want);
    ok(strcmp(e.message, want) == 0, "message: %s", e.message);
    order_release(&o);
    cJSON_Delete(j);
    kds_buf_release(&text);
  }
}

int main(void) {
  subtest("grammar", t_grammar);
  subtest("depth", t_depth);
  subtest("rewrites", t_rewrites);
  subtest("repeated keys", t_dedupe);
  subtest("text clean", t_text_clean);
  subtest("render", t_render);
  subtest("numbers", t_numbers);
  return done_testing();
}
