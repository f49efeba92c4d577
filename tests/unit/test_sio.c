/* test_sio.c: Socket.IO v5 codec: packet parsing and payload rules, malformed packets,
 * the binary reassembler, encoders and the raw-JSON helpers. */
#include <string.h>

#include "err.h"
#include "sio.h"
#include "test.h"

#define S(lit) lit, sizeof(lit) - 1

static int parse_guarded(const char *s, sio_packet *p) {
  size_t len = strlen(s);
  char *g = guard_copy(s, len);
  int rc = sio_packet_parse(g, len, p);
  guard_free(g, len);
  return rc;
}

static void t_parse_good(void) {
  static const struct {
    const char *in;
    sio_type type;
    const char *nsp;
    int64_t id;
    const char *data;
    int attachments;
  } good[] = {
      {"0", SIO_CONNECT, "/", -1, "", 0},
      {"0{\"token\":\"t\"}", SIO_CONNECT, "/", -1, "{\"token\":\"t\"}", 0},
      {"0/custom,", SIO_CONNECT, "/custom", -1, "", 0},
      {"0/custom", SIO_CONNECT, "/custom", -1, "", 0},
      {"0/custom,{\"a\":1}", SIO_CONNECT, "/custom", -1, "{\"a\":1}", 0},
      {"0{}", SIO_CONNECT, "/", -1, "{}", 0},
      {"1", SIO_DISCONNECT, "/", -1, "", 0},
      {"1/custom,", SIO_DISCONNECT, "/custom", -1, "", 0},
      {"2[\"hello\",1]", SIO_EVENT, "/", -1, "[\"hello\",1]", 0},
      {"2[42]", SIO_EVENT, "/", -1, "[42]", 0},
      {"2[-1.5e3]", SIO_EVENT, "/", -1, "[-1.5e3]", 0},
      {"212[\"a\"]", SIO_EVENT, "/", 12, "[\"a\"]", 0},
      {"2007[\"a\"]", SIO_EVENT, "/", 7, "[\"a\"]", 0},
      {"2/custom,3[\"a\",{\"b\":[1,2]}]", SIO_EVENT, "/custom", 3, "[\"a\",{\"b\":[1,2]}]", 0},
      {"2[\"connection\"]", SIO_EVENT, "/", -1, "[\"connection\"]", 0},
      {"2[\"\\u00e9v\"]", SIO_EVENT, "/", -1, "[\"\\u00e9v\"]", 0},
      {"29007199254740991[\"a\"]", SIO_EVENT, "/", 9007199254740991LL, "[\"a\"]", 0},
      {"30[]", SIO_ACK, "/", 0, "[]", 0},
      {"3/custom,5[1,\"x\"]", SIO_ACK, "/custom", 5, "[1,\"x\"]", 0},
      {"3[]", SIO_ACK, "/", -1, "[]", 0},
      {"4{\"message\":\"Invalid namespace\"}", SIO_CONNECT_ERROR, "/", -1,
       "{\"message\":\"Invalid namespace\"}", 0},
      {"4\"oops\"", SIO_CONNECT_ERROR, "/", -1, "\"oops\"", 0},
      {"51-[\"a\",{\"_placeholder\":true,\"num\":0}]", SIO_BINARY_EVENT, "/", -1,
       "[\"a\",{\"_placeholder\":true,\"num\":0}]", 1},
      {"52-/custom,4[\"a\",{\"x\":[{\"_placeholder\":true,\"num\":1}]},{\"_placeholder\":true,\"num\":0}]",
       SIO_BINARY_EVENT, "/custom", 4,
       "[\"a\",{\"x\":[{\"_placeholder\":true,\"num\":1}]},{\"_placeholder\":true,\"num\":0}]", 2},
      {"50-[\"a\"]", SIO_BINARY_EVENT, "/", -1, "[\"a\"]", 0},
      {"510-[\"a\"]", SIO_BINARY_EVENT, "/", -1, "[\"a\"]", 10},
      {"61-7[{\"_placeholder\":true,\"num\":0}]", SIO_BINARY_ACK, "/", 7,
       "[{\"_placeholder\":true,\"num\":0}]", 1},
      {"2[ \"a\" , 1 ]", SIO_EVENT, "/", -1, "[ \"a\" , 1 ]", 0},
      {"2[\"a\",{\"_placeholder\":true,\"num\":9}]", SIO_EVENT, "/", -1,
       "[\"a\",{\"_placeholder\":true,\"num\":9}]", 0}, /* not binary: just an object */
  };
  for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
    sio_packet p;
    int rc = parse_guarded(good[i].in, &p);
    /* the slices pointed into freed guard memory: compare lengths, then re-parse in place */
    rc = rc == 0 ? sio_packet_parse(good[i].in, strlen(good[i].in), &p) : rc;
    ok(rc == 0 && p.type == good[i].type && kds_slice_eq(p.nsp, good[i].nsp) && p.id == good[i].id &&
           kds_slice_eq(p.data, good[i].data) && p.attachments == good[i].attachments,
       "parses %s", good[i].in);
  }
}

static void t_parse_bad(void) {
  char deep[600], longnsp[300];
  static const char *const bad[] = {
      /* empty and bad types */
      "",
      "7",
      "8[\"a\"]",
      "9",
      "x",
      "/",
      " 2[\"a\"]",
      "-1",
      /* broken JSON */
      "2[\"a\"",
      "2[\"a\",]",
      "2[\"a\" 1]",
      "2[a]",
      "2[\"a\"]]",
      "2[\"a\"]x",
      "2[01]",
      "2[1.]",
      "2[.5]",
      "2[+1]",
      "2[1e]",
      "2[\"a\\x\"]",
      "2[\"a\\u12\"]",
      "2[\"a\x01\"]",
      "2[\"a\"}",
      "2[tru]",
      "2[nul]",
      "0{\"a\"}",
      "0{\"a\":}",
      "0{a:1}",
      "0{\"a\":1,}",
      "2[\"a\",NaN]",
      "2[\"a\",'b']",
      /* payload rules */
      "2",
      "2/custom,",
      "22",
      "2[]",
      "2{}",
      "2\"a\"",
      "2[null]",
      "2[true]",
      "2[{}]",
      "2[[\"a\"]]",
      "2[\"connect\"]",
      "2[\"connect_error\"]",
      "2[\"disconnect\",1]",
      "2[\"disconnecting\"]",
      "2[\"newListener\"]",
      "2[\"removeListener\"]",
      "2[\"\\u0063onnect\"]",
      "0[]",
      "0\"x\"",
      "0null",
      "1{}",
      "1[]",
      "3{}",
      "3",
      "31",
      "3\"a\"",
      "4[]",
      "4null",
      /* attachments */
      "5[\"a\"]",
      "5-[\"a\"]",
      "511-[\"a\"]",
      "5a-[\"a\"]",
      "51[\"a\"]",
      "5100-[\"a\"]",
      "51-",
      "51-[\"a\",{\"_placeholder\":true,\"num\":1}]",
      "51-[\"a\",{\"_placeholder\":true,\"num\":-1}]",
      "51-[\"a\",{\"_placeholder\":true,\"num\":0.5}]",
      "51-[\"a\",{\"_placeholder\":true,\"num\":\"0\"}]",
      "51-[\"a\",{\"_placeholder\":true}]",
      "6-1[]",
      "611-1[]",
      "61-1[{\"_placeholder\":true,\"num\":3}]",
      /* absurd ack ids */
      "29007199254740992[\"a\"]",
      "2999999999999999999999999999[\"a\"]",
      "399999999999999999999[]",
      /* bad namespaces */
      "2/a\0b,[\"x\"]",
  };
  sio_packet p;
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
    ok(parse_guarded(bad[i], &p) == KDS_EPROTO, "refuses %s", bad[i]);

  /* NUL inside a namespace (strlen above stops at it: feed the real length) */
  ok(sio_packet_parse(S("2/a\0b,[\"x\"]"), &p) == KDS_EPROTO, "refuses a NUL in the namespace");
  /* a namespace over SIO_NSP_MAX */
  longnsp[0] = '2';
  longnsp[1] = '/';
  memset(longnsp + 2, 'n', 256);
  strcpy(longnsp + 258, ",[\"a\"]");
  ok(parse_guarded(longnsp, &p) == KDS_EPROTO, "refuses a 257-byte namespace");
  longnsp[256] = ',';
  strcpy(longnsp + 257, "[\"a\"]");
  ok(parse_guarded(longnsp, &p) == 0 && p.nsp.len == 255, "accepts a 255-byte namespace");
  /* nesting beyond the limit */
  size_t n = 0;
  deep[n++] = '2';
  deep[n++] = '[';
  deep[n++] = '1';
  deep[n++] = ',';
  for (int k = 0; k < SIO_JSON_MAX_DEPTH; k++) deep[n++] = '[';
  for (int k = 0; k < SIO_JSON_MAX_DEPTH; k++) deep[n++] = ']';
  deep[n++] = ']';
  deep[n] = '\0';
  ok(parse_guarded(deep, &p) == KDS_EPROTO, "refuses nesting deeper than %d", SIO_JSON_MAX_DEPTH);
  memmove(deep + 5, deep + 6, n - 6); /* one '[' less ... */
  deep[n - 2] = '\0';                 /* ... and one ']' less */
  ok(parse_guarded(deep, &p) == 0, "accepts nesting of exactly %d", SIO_JSON_MAX_DEPTH);
}

/* Every prefix of valid packets against a guard page: a clean result, never a crash. */
static void t_prefixes(void) {
  static const char *const pk[] = {
      "2/custom,12[\"hello\",{\"a\":[1,2,{\"b\":\"\\u00e9\\\"x\"}],\"c\":-1.5e+3,\"d\":null}]",
      "52-/x,9[\"a\",{\"_placeholder\":true,\"num\":0},{\"_placeholder\":true,\"num\":1}]",
      "0/custom,{\"token\":\"abc\",\"pid\":\"p\",\"offset\":\"o\"}",
      "4{\"message\":\"m\",\"data\":{\"x\":1}}"};
  for (size_t k = 0; k < sizeof(pk) / sizeof(pk[0]); k++) {
    size_t len = strlen(pk[k]);
    int clean = 1;
    for (size_t n = 0; n <= len; n++) {
      char *g = guard_copy(pk[k], n);
      sio_packet p;
      int rc = sio_packet_parse(g, n, &p);
      if (rc != 0 && rc != KDS_EPROTO) clean = 0;
      if (n == len && rc != 0) clean = 0;
      guard_free(g, n);
    }
    ok(clean, "all %zu prefixes of packet %zu", len + 1, k);
  }
}

static void t_decoder(void) {
  sio_decoder d;
  sio_packet p;
  sio_decoder_init(&d);

  ok(sio_decoder_text(&d, S("2[ \"a\" ,\n{ \"b\" : \" x y \" } ]"), &p) == 1 &&
         kds_slice_eq(p.data, "[\"a\",{\"b\":\" x y \"}]"),
     "whitespace removed, strings kept");
  ok(sio_decoder_text(&d, S("2/custom,5[\"a\"]"), &p) == 1 && kds_slice_eq(p.nsp, "/custom") && p.id == 5,
     "plain event");

  static const char hdr[] =
      "52-/custom,7[\"m\", {\"_placeholder\":true,\"num\":0},{\"_placeholder\":true,\"num\":1}]";
  ok(sio_decoder_text(&d, S(hdr), &p) == 0, "binary header: waits");
  ok(sio_decoder_binary(&d, "\x09\x08", 2, &p) == 0, "first attachment: waits");
  ok(sio_decoder_binary(&d, "", 0, &p) == 1, "second attachment completes");
  ok(p.type == SIO_BINARY_EVENT && p.attachments == 2 && kds_slice_eq(p.nsp, "/custom") && p.id == 7 &&
         kds_slice_eq(p.data,
                      "[\"m\",{\"_placeholder\":true,\"num\":0},{\"_placeholder\":true,\"num\":1}]") &&
         p.bin[0].len == 2 && p.bin[0].ptr[0] == 9 && p.bin[1].len == 0,
     "binary packet reassembled");

  ok(sio_decoder_binary(&d, "x", 1, &p) == KDS_EPROTO, "binary when none expected: refused");
  ok(sio_decoder_text(&d, S("51-[\"a\",{\"_placeholder\":true,\"num\":0}]"), &p) == 0, "header again");
  ok(sio_decoder_text(&d, S("2[\"a\"]"), &p) == KDS_EPROTO, "text while attachments awaited: refused");
  ok(sio_decoder_binary(&d, "x", 1, &p) == KDS_EPROTO, "decoder was reset by the error");
  ok(sio_decoder_text(&d, S("50-[\"a\"]"), &p) == 1 && p.attachments == 0,
     "zero attachments: complete at once");
  ok(sio_decoder_text(&d, S("2[\"a\""), &p) == KDS_EPROTO, "broken JSON refused");
  ok(sio_decoder_text(&d, S("3/x,1[]"), &p) == 1 && p.type == SIO_ACK, "decoder usable after errors");

  /* ten attachments, the maximum */
  kds_buf h = KDS_BUF_INIT;
  kds_buf_adds(&h, "510-[\"ten\"");
  for (int k = 0; k < 10; k++) {
    kds_buf_addc(&h, ',');
    sio_placeholder_encode(&h, k);
  }
  kds_buf_addc(&h, ']');
  int rc = sio_decoder_text(&d, h.base, h.len, &p);
  for (int k = 0; k < 9 && rc == 0; k++) rc = sio_decoder_binary(&d, &k, sizeof(k), &p);
  ok(rc == 0, "nine attachments: waits");
  rc = sio_decoder_binary(&d, "last", 4, &p);
  ok(rc == 1 && p.attachments == 10 && kds_slice_eq(p.bin[9], "last") && p.bin[3].len == sizeof(int),
     "ten attachments");
  kds_buf_release(&h);
  sio_decoder_release(&d);
}

static void t_encode(void) {
  kds_buf b = KDS_BUF_INIT;
#define CHECK(expr, want)                                                                \
  do {                                                                                   \
    kds_buf_reset(&b);                                                                   \
    int rc_ = (expr);                                                                    \
    ok(rc_ == 0 && strcmp(b.base, want) == 0, "%s -> %s (got %s)", #expr, want, b.base); \
  } while (0)
  CHECK(sio_event_encode(&b, NULL, -1, "hello", S("1,{\"a\":2}"), 0), "2[\"hello\",1,{\"a\":2}]");
  CHECK(sio_event_encode(&b, "/", -1, "hello", NULL, 0, 0), "2[\"hello\"]");
  CHECK(sio_event_encode(&b, "/custom", 3, "a\"b", NULL, 0, 0), "2/custom,3[\"a\\\"b\"]");
  CHECK(sio_event_encode(&b, NULL, -1, "message-back", S("{\"_placeholder\":true,\"num\":0}"), 1),
        "51-[\"message-back\",{\"_placeholder\":true,\"num\":0}]");
  CHECK(sio_ack_encode(&b, NULL, 1, S("1"), 0), "31[1]");
  CHECK(sio_ack_encode(&b, "/custom", 0, NULL, 0, 0), "3/custom,0[]");
  CHECK(sio_ack_encode(&b, NULL, 7, S("{\"_placeholder\":true,\"num\":0}"), 1),
        "61-7[{\"_placeholder\":true,\"num\":0}]");
  CHECK(sio_connect_error_encode(&b, "/random", "Invalid namespace", NULL, 0),
        "4/random,{\"message\":\"Invalid namespace\"}");
  CHECK(sio_connect_error_encode(&b, NULL, "unauthorized", S("{\"x\":1}")),
        "4{\"message\":\"unauthorized\",\"data\":{\"x\":1}}");
  CHECK(sio_packet_encode(&b, SIO_CONNECT, NULL, -1, S("{\"sid\":\"abc\"}"), 0), "0{\"sid\":\"abc\"}");
  CHECK(sio_packet_encode(&b, SIO_DISCONNECT, "/custom", -1, NULL, 0, 0), "1/custom,");
  CHECK(sio_packet_encode(&b, SIO_BINARY_ACK, NULL, 2, S("[]"), 0), "60-2[]");
  CHECK(sio_placeholder_encode(&b, 3), "{\"_placeholder\":true,\"num\":3}");
#undef CHECK
  ok(sio_packet_encode(&b, (sio_type)7, NULL, -1, NULL, 0, 0) == KDS_EINVAL, "type 7 refused");
  ok(sio_packet_encode(&b, SIO_BINARY_EVENT, NULL, -1, NULL, 0, 11) == KDS_EINVAL, "11 attachments refused");
  ok(sio_packet_encode(&b, SIO_EVENT, NULL, SIO_ACK_ID_MAX + 1, NULL, 0, 0) == KDS_EINVAL, "huge id refused");
  ok(sio_ack_encode(&b, NULL, -1, NULL, 0, 0) == KDS_EINVAL, "ack without id refused");

  /* Everything encoded parses back. */
  sio_packet p;
  kds_buf_reset(&b);
  sio_event_encode(&b, "/custom", 42, "ev",
                   S("{\"_placeholder\":true,\"num\":1},{\"_placeholder\":true,\"num\":0}"), 2);
  ok(sio_packet_parse(b.base, b.len, &p) == 0 && p.type == SIO_BINARY_EVENT && p.attachments == 2 &&
         p.id == 42 && kds_slice_eq(p.nsp, "/custom"),
     "encoded binary event parses back");
  kds_buf_release(&b);
}

static void t_json(void) {
  static const char *const valid[] = {"0",
                                      "-0",
                                      "1.5",
                                      "-1e-7",
                                      "1E+2",
                                      "\"\"",
                                      "\"\\/\\b\\f\\n\\r\\t\\\\\\\"\"",
                                      "\"\\uD83D\\uDE00\"",
                                      "true",
                                      "false",
                                      "null",
                                      "[]",
                                      "{}",
                                      " [ 1 , 2 ] ",
                                      "{\"a\":{\"b\":[null,{}]}}",
                                      "\"\xc3\xa9\""};
  static const char *const invalid[] = {"",      " ",   "01",         "1.",      ".1",      "+1",
                                        "-",     "1e",  "1e+",        "\"",      "\"\\\"",  "\"\\u00g0\"",
                                        "[",     "]",   "[1,]",       "{\"a\"}", "{1:2}",   "[1 2]",
                                        "truex", "1 2", "\"a\"\"b\"", "nan",     "[\"\t\"]"};
  for (size_t i = 0; i < sizeof(valid) / sizeof(valid[0]); i++) {
    char *g = guard_copy(valid[i], strlen(valid[i]));
    ok(sio_json_check(g, strlen(valid[i])) == 0, "valid JSON %s", valid[i]);
    guard_free(g, strlen(valid[i]));
  }
  for (size_t i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++) {
    char *g = guard_copy(invalid[i], strlen(invalid[i]));
    ok(sio_json_check(g, strlen(invalid[i])) == KDS_EPROTO, "invalid JSON %s", invalid[i]);
    guard_free(g, strlen(invalid[i]));
  }

  kds_buf b = KDS_BUF_INIT;
  ok(sio_json_compact(&b, S(" { \"a b\" : [ 1 , \"\\\" x\" ] }\n")) == 0 &&
         strcmp(b.base, "{\"a b\":[1,\"\\\" x\"]}") == 0,
     "compact");
  kds_buf_reset(&b);
  ok(sio_json_compact(&b, S("[1,")) == KDS_EPROTO && b.len == 0, "compact refuses invalid JSON");

  kds_buf_reset(&b);
  ok(sio_json_quote(&b, S("a\"b\\c\n\x01\x7f\xc3\xa9")) == 0 &&
         strcmp(b.base, "\"a\\\"b\\\\c\\n\\u0001\x7f\xc3\xa9\"") == 0,
     "quote escapes as JSON.stringify");
  kds_buf u = KDS_BUF_INIT;
  kds_slice lit = {b.base, b.len};
  ok(sio_json_unquote(&u, lit) == 0 && u.len == 10 && memcmp(u.base, "a\"b\\c\n\x01\x7f\xc3\xa9", 10) == 0,
     "unquote round-trips");
  kds_buf_reset(&u);
  ok(sio_json_unquote(&u, kds_slice_of("\"\\u00e9\\uD83D\\uDE00\\ud800x\\/\"")) == 0 &&
         strcmp(u.base, "\xc3\xa9\xf0\x9f\x98\x80\xef\xbf\xbdx/") == 0,
     "unicode escapes, surrogate pair, lone surrogate");
  kds_buf_reset(&u);
  ok(sio_json_unquote(&u, kds_slice_of("\"abc")) == KDS_EPROTO &&
         sio_json_unquote(&u, kds_slice_of("abc")) == KDS_EPROTO &&
         sio_json_unquote(&u, kds_slice_of("\"a\"b\"")) == KDS_EPROTO && u.len == 0,
     "unquote refuses non-strings");
  ok(sio_json_streq(kds_slice_of("\"order-status\""), "order-status"), "streq plain");
  ok(sio_json_streq(kds_slice_of("\"\\u006f\""), "o"), "streq escaped");
  ok(!sio_json_streq(kds_slice_of("\"ab\""), "a") && !sio_json_streq(kds_slice_of("1"), "1"),
     "streq mismatch");
  kds_buf_release(&u);
  kds_buf_release(&b);

  kds_slice first, rest;
  ok(sio_args_split(kds_slice_of("[\"a\",1,{\"b\":[2,\",\"]}]"), &first, &rest) == 0 &&
         kds_slice_eq(first, "\"a\"") && kds_slice_eq(rest, "1,{\"b\":[2,\",\"]}"),
     "split first and rest");
  ok(sio_args_split(kds_slice_of("[\"a\"]"), &first, &rest) == 0 && kds_slice_eq(first, "\"a\"") &&
         rest.len == 0,
     "split one");
  ok(sio_args_split(kds_slice_of(" [ ] "), &first, &rest) == 0 && first.len == 0 && rest.len == 0,
     "split empty");
  ok(sio_args_split(kds_slice_of("[ 1 , 2 ]"), &first, &rest) == 0 && kds_slice_eq(first, "1") &&
         kds_slice_eq(rest, "2"),
     "split with whitespace");
  ok(sio_args_split(kds_slice_of("{}"), &first, &rest) == KDS_EPROTO, "split refuses an object");
  ok(sio_args_split(kds_slice_of("[1,"), &first, &rest) == KDS_EPROTO, "split refuses broken JSON");

  size_t pos = 0;
  kds_slice e;
  int n = 0;
  const char *want[] = {"1", "\"x\"", "[2,3]", "{\"a\":null}"};
  kds_slice arr = kds_slice_of("[1, \"x\" ,[2,3],{\"a\":null}]");
  while (sio_array_next(arr, &pos, &e)) {
    ok(n < 4 && kds_slice_eq(e, want[n]), "element %d", n);
    n++;
  }
  ok(n == 4, "four elements");
  pos = 0;
  ok(sio_array_next(kds_slice_of("{}"), &pos, &e) == 0, "not an array: no elements");

  /* the same over an argument list without its brackets (an event's args) */
  pos = 0;
  n = 0;
  arr = kds_slice_of(" 1, \"x\" ,[2,3],{\"a\":null} ");
  while (sio_args_next(arr, &pos, &e)) {
    ok(n < 4 && kds_slice_eq(e, want[n]), "argument %d", n);
    n++;
  }
  ok(n == 4, "four arguments");
  pos = 0;
  ok(sio_args_next(kds_slice_of(""), &pos, &e) == 0, "no arguments");
  pos = 0;
  ok(sio_args_next(kds_slice_of("{\"a\":"), &pos, &e) == 0, "a broken first argument: none");
}

int main(void) {
  subtest("parse", t_parse_good);
  subtest("malformed", t_parse_bad);
  subtest("prefixes", t_prefixes);
  subtest("decoder", t_decoder);
  subtest("encode", t_encode);
  subtest("json", t_json);
  return done_testing();
}
