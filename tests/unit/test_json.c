/* test_json.c: the one JSON module against its header: the grammar JSON.parse accepts
 * (numbers, escapes, blanks, depth), the rewrites for cJSON, value ends, compacting, the
 * three quoting policies for invalid UTF-8, unquoting with surrogates, JSON.stringify and
 * the integer writer. Inputs sit against a guard page: reading past the end crashes. */
#include <cjson/cJSON.h>
#include <stdint.h>
#include <string.h>

#include "err.h"
#include "json.h"
#include "test.h"

#define S(lit) lit, sizeof(lit) - 1

static int check(const char *s, size_t n) {
  char *g = guard_copy(s, n);
  int rc = json_check(g, n, JSON_DEPTH_MAX);
  guard_free(g, n);
  return rc;
}

static void t_numbers(void) {
  static const char *const good[] = {"0",       "-0",
                                     "1",       "-1",
                                     "10",      "0.5",
                                     "1.25e10", "1E5",
                                     "1e-5",    "1e+5",
                                     "-0.0",    "9007199254740993",
                                     "1e999",   "123456789012345678901234567890"};
  static const char *const bad[] = {"01",       "-01",  "00",  "1.",   ".5",  "+1",   "-",
                                    "1e",       "1e+",  "1e-", "0x10", "1_0", "NaN",  "-Infinity",
                                    "Infinity", "1.e5", "- 1", "1.5.", "--1", "0.5e", "e5"};
  for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
    ok(check(good[i], strlen(good[i])) == 0, "JSON.parse accepts %s", good[i]);
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
    ok(check(bad[i], strlen(bad[i])) == KDS_EPROTO, "JSON.parse refuses %s", bad[i]);
}

static void t_strings(void) {
  static const char *const good[] = {"\"\"",
                                     "\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"",
                                     "\"\\u00e9\\u00E9\"",
                                     "\"\\ud800\"",
                                     "\"\\udc00\\ud800\"",
                                     "\"\x7f\"",
                                     "\"\xff\""};
  static const char *const bad[] = {"\"",          "\"\\\"", "\"\\x41\"", "\"\\u00\"", "\"\\u00g0\"",
                                    "\"\\U0041\"", "'a'",    "\"a\tb\"",  "\"\\'\"",   "\"\\u\""};
  for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
    ok(check(good[i], strlen(good[i])) == 0, "accepts string %zu", i);
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
    ok(check(bad[i], strlen(bad[i])) == KDS_EPROTO, "refuses string %zu", i);
  ok(check("\"a\0b\"", 5) == KDS_EPROTO, "a raw NUL in a string is a control character");
}

static void t_structure(void) {
  ok(check(S(" \t\r\n{\"a\" : [ 1 , true , null , {} ] }\n")) == 0, "the four blanks anywhere");
  ok(check(S("{\f}")) == KDS_EPROTO && check(S("{\v}")) == KDS_EPROTO, "no other blanks");
  ok(check(S("[1,]")) == KDS_EPROTO && check(S("{\"a\":1,}")) == KDS_EPROTO, "no trailing commas");
  ok(check(S("{1:2}")) == KDS_EPROTO && check(S("{\"a\"}")) == KDS_EPROTO, "keys are strings with values");
  ok(check(S("[] []")) == KDS_EPROTO && check(S("")) == KDS_EPROTO, "exactly one value");
  ok(json_check(S("[[[]]]"), 3) == 0 && json_check(S("[[[[]]]]"), 3) == KDS_EPROTO,
     "max_depth counts levels");
}

static void t_value_end(void) {
  static const char s[] = " [1, {\"a\":\"]\"}] , 2";
  ok(json_value_end(s, sizeof(s) - 1, 0, 8) == 15, "ends after the array, blanks before skipped");
  ok(json_value_end(s, sizeof(s) - 1, 18, 8) == 19, "a number at the end");
  ok(json_value_end(s, sizeof(s) - 1, 16, 8) == KDS_EPROTO, "a comma is no value");
  ok(json_value_end(s, sizeof(s) - 1, 99, 8) == KDS_EPROTO, "past the end");
}

static void t_rewrite(void) {
  kds_buf b = KDS_BUF_INIT;
  ok(json_rewrite(&b, S("[\"\\u0000\",\"\\ud800\"]"), 0) == 0 &&
         strcmp(b.base, "[\"\\u0000\",\"\\ud800\"]") == 0,
     "no flags: copied as it is");
  kds_buf_reset(&b);
  ok(json_rewrite(&b, S("[\"\\u0000\",\"\\ud800\"]"), JSON_NUL_AS_C080 | JSON_LONE_KEEP) == 0 &&
         strcmp(b.base, "[\"\xc0\x80\",\"\xed\xa0\x80\"]") == 0,
     "server: C0 80 and the surrogate's bytes");
  kds_buf_reset(&b);
  ok(json_rewrite(&b, S("{\"a\":\"x\\udc00y\\ud83d\\ude00\"}"), JSON_LONE_REPLACE) == 0 &&
         strcmp(b.base, "{\"a\":\"x\xef\xbf\xbdy\\ud83d\\ude00\"}") == 0,
     "display: U+FFFD, a pair untouched");
  kds_buf_reset(&b);
  kds_buf_adds(&b, "keep");
  ok(json_rewrite(&b, S("[\"\\u0000\""), JSON_NUL_AS_C080) == KDS_EPROTO && strcmp(b.base, "keep") == 0,
     "not JSON: out as before");
  kds_buf_release(&b);
}

static void t_compact(void) {
  kds_buf b = KDS_BUF_INIT;
  ok(json_compact(&b, S(" { \"a b\" : [ 1 , \"\\\\\" ] }\n"), 8) == 0 &&
         strcmp(b.base, "{\"a b\":[1,\"\\\\\"]}") == 0,
     "blanks outside strings go");
  kds_buf_release(&b);
}

/* Quotes s under policy: the literal, or "" when out of memory. */
static const char *quote(kds_buf *b, const char *s, size_t n, json_utf8 policy) {
  kds_buf_reset(b);
  return json_quote(b, s, n, policy) == 0 ? b->base : "";
}

static void t_quote(void) {
  kds_buf b = KDS_BUF_INIT;
  const json_utf8 all[] = {JSON_UTF8_REPLACE, JSON_UTF8_JS, JSON_UTF8_PASS};
  for (int p = 0; p < 3; p++) {
    ok(strcmp(quote(&b, S("a\"b\\c\n\x01\x1f\x7f\xc3\xa9\xf0\x9f\x8c\xb6"), all[p]),
              "\"a\\\"b\\\\c\\n\\u0001\\u001f\x7f\xc3\xa9\xf0\x9f\x8c\xb6\"") == 0,
       "policy %d: escapes as JSON.stringify, valid UTF-8 copied", p);
    ok(strcmp(quote(&b, S("\b\f\r\t/"), all[p]), "\"\\b\\f\\r\\t/\"") == 0, "policy %d: short escapes", p);
  }
  /* invalid UTF-8 */
  ok(strcmp(quote(&b, S("x\xff\xe2\x82y"), JSON_UTF8_REPLACE), "\"x\xef\xbf\xbd\xef\xbf\xbdy\"") == 0,
     "REPLACE: one U+FFFD per maximal subpart");
  ok(strcmp(quote(&b, S("\xed\xa0\x80"), JSON_UTF8_REPLACE), "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"") == 0,
     "REPLACE: a lone surrogate's bytes are three U+FFFD");
  ok(strcmp(quote(&b, S("a\xc0\x80"), JSON_UTF8_REPLACE), "\"a\\u0000\"") == 0, "REPLACE: C0 80 is \\u0000");
  ok(strcmp(quote(&b, S("\xed\xa0\x80\xed\xbf\xbf"), JSON_UTF8_JS), "\"\\ud800\\udfff\"") == 0,
     "JS: a lone surrogate as JSON.stringify writes it");
  ok(strcmp(quote(&b, S("x\xff"), JSON_UTF8_JS), "\"x\xef\xbf\xbd\"") == 0 &&
         strcmp(quote(&b, S("\xc0\x80"), JSON_UTF8_JS), "\"\\u0000\"") == 0,
     "JS: other invalid bytes replaced, C0 80 is \\u0000");
  ok(strcmp(quote(&b, S("x\xff\xed\xa0\x80\xc0\x80"), JSON_UTF8_PASS), "\"x\xff\xed\xa0\x80\xc0\x80\"") == 0,
     "PASS: bytes >= 0x80 copied as they are");
  kds_buf_release(&b);
}

static int unquote(kds_buf *b, const char *s, size_t n) {
  char *g = guard_copy(s, n);
  int rc;
  kds_buf_reset(b);
  rc = json_unquote(b, (kds_slice){g, n});
  guard_free(g, n);
  return rc;
}

static void t_unquote(void) {
  kds_buf b = KDS_BUF_INIT;
  ok(unquote(&b, S("\"a\\\"\\\\\\/\\b\\f\\n\\r\\t\\u00e9\"")) == 0 &&
         strcmp(b.base, "a\"\\/\b\f\n\r\t\xc3\xa9") == 0,
     "every escape");
  ok(unquote(&b, S("\"\\ud83c\\udf36\"")) == 0 && strcmp(b.base, "\xf0\x9f\x8c\xb6") == 0, "a pair joined");
  ok(unquote(&b, S("\"\\ud83c\"")) == 0 && strcmp(b.base, "\xef\xbf\xbd") == 0,
     "a lone high surrogate: U+FFFD");
  ok(unquote(&b, S("\"\\udf36\\ud83c\"")) == 0 && strcmp(b.base, "\xef\xbf\xbd\xef\xbf\xbd") == 0,
     "a pair the wrong way round: two U+FFFD");
  ok(unquote(&b, S("\"\\ud83cx\"")) == 0 && strcmp(b.base, "\xef\xbf\xbdx") == 0, "high then a letter");
  ok(unquote(&b, S("\"\\u0000\"")) == 0 && b.len == 1 && b.base[0] == '\0', "\\u0000 is a NUL byte here");
  ok(unquote(&b, S("\"a\" ")) == KDS_EPROTO && unquote(&b, S("\"\\u12\"")) == KDS_EPROTO &&
         unquote(&b, S("1")) == KDS_EPROTO && unquote(&b, S("\"")) == KDS_EPROTO,
     "exactly one string literal");
  ok(json_streq((kds_slice){S("\"connect\"")}, "connect") == 1 &&
         json_streq((kds_slice){S("\"\\u0063onnect\"")}, "connect") == 1 &&
         json_streq((kds_slice){S("\"connectx\"")}, "connect") == 0,
     "streq, escaped or not");
  kds_buf_release(&b);
}

static void t_stringify(void) {
  kds_buf b = KDS_BUF_INIT;
  cJSON *v = cJSON_Parse("{\"b\":[1,2.5,-0,1e21,1.5e-7,true,null],\"a\":\"\\u00e9\"}");
  ok(v && json_stringify(&b, v, 0) == 0 &&
         strcmp(b.base, "{\"b\":[1,2.5,0,1e+21,1.5e-7,true,null],\"a\":\"\xc3\xa9\"}") == 0,
     "JSON.stringify: %s", b.base);
  kds_buf_reset(&b);
  ok(json_stringify(&b, v, JSON_CANONICAL) == 0 &&
         strcmp(b.base, "{\"a\":\"\xc3\xa9\",\"b\":[1,2.5,0,1e+21,1.4999999999999999e-07,true,null]}") == 0,
     "canonical: keys sorted, numbers as the hash writes them: %s", b.base);
  cJSON_Delete(v);
  kds_buf_release(&b);
}

static void t_int(void) {
  static const int64_t v[] = {0, 7, -7, 10, 1234567890123, INT64_MAX, INT64_MIN};
  static const char *const want[] = {
      "0", "7", "-7", "10", "1234567890123", "9223372036854775807", "-9223372036854775808"};
  for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
    kds_buf b = KDS_BUF_INIT;
    ok(json_int(&b, v[i]) == 0 && strcmp(b.base, want[i]) == 0, "%s", want[i]);
    kds_buf_release(&b);
  }
}

int main(void) {
  subtest("numbers", t_numbers);
  subtest("strings", t_strings);
  subtest("structure", t_structure);
  subtest("value end", t_value_end);
  subtest("rewrite", t_rewrite);
  subtest("compact", t_compact);
  subtest("quote", t_quote);
  subtest("unquote", t_unquote);
  subtest("stringify", t_stringify);
  subtest("int", t_int);
  return done_testing();
}
