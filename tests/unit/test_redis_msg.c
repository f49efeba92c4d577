/* test_redis_msg.c: the classic redis-adapter broadcast message against the bytes captured
 * from Node (SCALEOUT.md 1.3: socket.io 4.8.4 + @socket.io/redis-adapter 8.3.0, notepack),
 * both ways; the emitter's key order; bin refused; volatile and float64; every prefix of
 * each capture refused (against a guard page); limits; and a round trip of JSON values
 * through the encoder and the decoder. */
#include <stdint.h>
#include <string.h>

#include "err.h"
#include "redis_msg.h"
#include "test.h"

/* io.to("outlet:1").emit("new-order", {id: 42}), adapter uid qpdkWm: 74 bytes. */
static const uint8_t cap_adapter[] = {
    0x93, 0xa6, 0x71, 0x70, 0x64, 0x6b, 0x57, 0x6d, 0x83, 0xa4, 0x74, 0x79, 0x70, 0x65, 0x02,
    0xa4, 0x64, 0x61, 0x74, 0x61, 0x92, 0xa9, 0x6e, 0x65, 0x77, 0x2d, 0x6f, 0x72, 0x64, 0x65,
    0x72, 0x81, 0xa2, 0x69, 0x64, 0x2a, 0xa3, 0x6e, 0x73, 0x70, 0xa1, 0x2f, 0x83, 0xa5, 0x72,
    0x6f, 0x6f, 0x6d, 0x73, 0x91, 0xa8, 0x6f, 0x75, 0x74, 0x6c, 0x65, 0x74, 0x3a, 0x31, 0xa6,
    0x65, 0x78, 0x63, 0x65, 0x70, 0x74, 0x90, 0xa5, 0x66, 0x6c, 0x61, 0x67, 0x73, 0x80};

/* The emitter's to("outlet:1").emit("new-order", {id: 43}): uid "emitter", opts in the order
 * rooms, flags, except: 75 bytes. */
static const uint8_t cap_emitter[] = {
    0x93, 0xa7, 'e',  'm',  'i', 't',  't',  'e',  'r', 0x83, 0xa4, 't',  'y', 'p',  'e',
    0x02, 0xa4, 'd',  'a',  't', 'a',  0x92, 0xa9, 'n', 'e',  'w',  '-',  'o', 'r',  'd',
    'e',  'r',  0x81, 0xa2, 'i', 'd',  0x2b, 0xa3, 'n', 's',  'p',  0xa1, '/', 0x83, 0xa5,
    'r',  'o',  'o',  'm',  's', 0x91, 0xa8, 'o',  'u', 't',  'l',  'e',  't', ':',  '1',
    0xa5, 'f',  'l',  'a',  'g', 's',  0x80, 0xa6, 'e', 'x',  'c',  'e',  'p', 't',  0x90};

/* io.emit("hello", Buffer.from([1, 2, 3])): the arg is bin8 (c4 03 01 02 03), type still 2. */
static const uint8_t cap_bin8[] = {
    0x93, 0xa6, 'q', 'p', 'd',  'k',  'W',  'm',  0x83, 0xa4, 't', 'y',  'p',  'e',  0x02, 0xa4,
    'd',  'a',  't', 'a', 0x92, 0xa5, 'h',  'e',  'l',  'l',  'o', 0xc4, 0x03, 0x01, 0x02, 0x03,
    0xa3, 'n',  's', 'p', 0xa1, '/',  0x83, 0xa5, 'r',  'o',  'o', 'm',  's',  0x90, 0xa6, 'e',
    'x',  'c',  'e', 'p', 't',  0x90, 0xa5, 'f',  'l',  'a',  'g', 's',  0x80};

/* io.to("outlet:1").to("outlet:2").except("outlet:9").volatile.emit("x", 1.5): 1.5 is float64,
 * flags {volatile: true}. */
static const uint8_t cap_volatile[] = {
    0x93, 0xa6, 'q',  'p',  'd',  'k',  'W',  'm',  0x83, 0xa4, 't',  'y',  'p',  'e',  0x02, 0xa4, 'd',
    'a',  't',  'a',  0x92, 0xa1, 'x',  0xcb, 0x3f, 0xf8, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xa3, 'n',
    's',  'p',  0xa1, '/',  0x83, 0xa5, 'r',  'o',  'o',  'm',  's',  0x92, 0xa8, 'o',  'u',  't',  'l',
    'e',  't',  ':',  '1',  0xa8, 'o',  'u',  't',  'l',  'e',  't',  ':',  '2',  0xa6, 'e',  'x',  'c',
    'e',  'p',  't',  0x91, 0xa8, 'o',  'u',  't',  'l',  'e',  't',  ':',  '9',  0xa5, 'f',  'l',  'a',
    'g',  's',  0x81, 0xa8, 'v',  'o',  'l',  'a',  't',  'i',  'l',  'e',  0xc3};

static int decode_guarded(redis_msg *m, const void *p, size_t len) {
  char *g = guard_copy(p, len);
  int rc = redis_msg_decode(m, g, len);
  guard_free(g, len);
  return rc;
}

static void t_adapter_capture(void) {
  const char *rooms[] = {"outlet:1"};
  kds_buf b = KDS_BUF_INIT;
  redis_msg m;
  ok(sizeof(cap_adapter) == 74, "the capture is 74 bytes");
  ok(redis_msg_encode(&b, "qpdkWm", "/", "new-order", "{\"id\":42}", 9, rooms, 1, NULL, 0, 0) == 0,
     "encodes");
  ok(b.len == sizeof(cap_adapter) && memcmp(b.base, cap_adapter, b.len) == 0,
     "the encoder writes the capture byte for byte");
  redis_msg_init(&m);
  ok(decode_guarded(&m, cap_adapter, sizeof(cap_adapter)) == 0, "decodes");
  ok(strcmp(m.uid.base, "qpdkWm") == 0, "uid");
  ok(strcmp(m.nsp.base, "/") == 0, "nsp");
  ok(strcmp(m.event.base, "new-order") == 0, "event");
  ok(strcmp(m.args.base, "{\"id\":42}") == 0, "args as JSON: %s", m.args.base);
  ok(m.nrooms == 1 && strcmp(m.rooms[0], "outlet:1") == 0, "rooms");
  ok(m.nexcept == 0 && m.flags == 0, "no except, no flags");
  redis_msg_release(&m);
  kds_buf_release(&b);
}

static void t_emitter_capture(void) {
  redis_msg m;
  redis_msg_init(&m);
  ok(sizeof(cap_emitter) == 75, "the capture is 75 bytes");
  ok(decode_guarded(&m, cap_emitter, sizeof(cap_emitter)) == 0, "decodes with flags before except");
  ok(strcmp(m.uid.base, "emitter") == 0 && strcmp(m.event.base, "new-order") == 0 &&
         strcmp(m.args.base, "{\"id\":43}") == 0,
     "uid, event, args");
  ok(m.nrooms == 1 && strcmp(m.rooms[0], "outlet:1") == 0 && m.nexcept == 0, "rooms, except");
  redis_msg_release(&m);
}

static void t_bin8(void) {
  redis_msg m;
  redis_msg_init(&m);
  ok(decode_guarded(&m, cap_bin8, sizeof(cap_bin8)) == KDS_EINVAL, "a Buffer argument is refused (EINVAL)");
  redis_msg_release(&m);
}

static void t_volatile(void) {
  const char *rooms[] = {"outlet:1", "outlet:2"}, *except[] = {"outlet:9"};
  kds_buf b = KDS_BUF_INIT;
  redis_msg m;
  redis_msg_init(&m);
  ok(decode_guarded(&m, cap_volatile, sizeof(cap_volatile)) == 0, "decodes");
  ok(strcmp(m.event.base, "x") == 0 && strcmp(m.args.base, "1.5") == 0, "float64 1.5: %s", m.args.base);
  ok(m.nrooms == 2 && strcmp(m.rooms[0], "outlet:1") == 0 && strcmp(m.rooms[1], "outlet:2") == 0,
     "two rooms");
  ok(m.nexcept == 1 && strcmp(m.except[0], "outlet:9") == 0, "except");
  ok(m.flags == REDIS_MSG_VOLATILE, "volatile");
  ok(redis_msg_encode(&b, "qpdkWm", "/", "x", "1.5", 3, rooms, 2, except, 1, REDIS_MSG_VOLATILE) == 0 &&
         b.len == sizeof(cap_volatile) && memcmp(b.base, cap_volatile, b.len) == 0,
     "the encoder writes the same bytes");
  redis_msg_release(&m);
  kds_buf_release(&b);
}

/* Every proper prefix of each capture is truncated msgpack: EPROTO, no read past it. */
static void t_prefixes(void) {
  const struct {
    const uint8_t *p;
    size_t n;
  } caps[] = {{cap_adapter, sizeof(cap_adapter)},
              {cap_emitter, sizeof(cap_emitter)},
              {cap_bin8, sizeof(cap_bin8)},
              {cap_volatile, sizeof(cap_volatile)}};
  redis_msg m;
  redis_msg_init(&m);
  for (size_t c = 0; c < sizeof(caps) / sizeof(caps[0]); c++) {
    int bad = 0;
    for (size_t n = 0; n < caps[c].n; n++) {
      int rc = decode_guarded(&m, caps[c].p, n);
      /* bin8: a prefix past the Buffer is refused for the Buffer first */
      if (rc != KDS_EPROTO && !(c == 2 && rc == KDS_EINVAL)) bad++;
    }
    ok(bad == 0, "capture %zu: every prefix refused", c);
    /* one byte more: trailing bytes */
    uint8_t more[128];
    memcpy(more, caps[c].p, caps[c].n);
    more[caps[c].n] = 0xc0;
    ok(decode_guarded(&m, more, caps[c].n + 1) == (c == 2 ? KDS_EINVAL : KDS_EPROTO), "capture %zu + 1 byte",
       c);
  }
  redis_msg_release(&m);
}

static int decode_bytes(redis_msg *m, const char *bytes, size_t n) {
  return decode_guarded(m, bytes, n);
}

#define DEC(m, lit) decode_bytes(m, lit, sizeof(lit) - 1)

static void t_shapes(void) {
  redis_msg m;
  redis_msg_init(&m);
  /* packet without nsp, opts without flags, integer rooms (fixint 7 and uint16 300) */
  ok(DEC(&m,
         "\x93\xa3"
         "abc"
         "\x82\xa4"
         "data"
         "\x91\xa1"
         "e"
         "\xa4"
         "type"
         "\x02"
         "\x82\xa6"
         "except"
         "\x91\xcd\x01\x2c"
         "\xa5"
         "rooms"
         "\x91\x07") == 0,
     "any key order, nsp absent, integer rooms");
  ok(strcmp(m.nsp.base, "/") == 0 && m.args.len == 0 && m.args.base && m.args.base[0] == '\0',
     "nsp defaults to /, no args");
  ok(m.nrooms == 1 && strcmp(m.rooms[0], "7") == 0 && m.nexcept == 1 && strcmp(m.except[0], "300") == 0,
     "integer rooms as decimal strings");
  /* unknown keys anywhere are skipped, even holding bin and ext */
  ok(DEC(&m,
         "\x93\xa1u"
         "\x84\xa2id\xc4\x01\x00"
         "\xa4type\x02"
         "\xa4"
         "data\x91\xa1"
         "e"
         "\xa3nsp\xa2/x"
         "\x82\xa5"
         "flags\x82\xa8"
         "compress\xc3\xa5local\xc3"
         "\xa3"
         "foo\xd6\xff\x00\x00\x00\x00") == 0,
     "unknown keys skipped");
  ok(strcmp(m.nsp.base, "/x") == 0 && m.flags == REDIS_MSG_LOCAL, "nsp /x, local flag");
  ok(DEC(&m,
         "\x93\xa1u\x82\xa4type\x03\xa4"
         "data\x91\xa1"
         "e\x80") == KDS_EINVAL,
     "type 3 refused");
  ok(DEC(&m, "\x93\xa1u\x81\xa4type\x02\x80") == KDS_EINVAL, "no data refused");
  ok(DEC(&m,
         "\x93\xa1u\x82\xa4type\x02\xa4"
         "data\x91\x01\x80") == KDS_EINVAL,
     "numeric event refused");
  ok(DEC(&m, "\x92\xa1u\x80") == KDS_EINVAL, "two elements refused");
  /* a streams-adapter message (a map {uid, nsp, type, data}) on our channel */
  ok(DEC(&m,
         "\x84\xa3uid\xa4"
         "abcd\xa3nsp\xa1/\xa4type\x03\xa4"
         "data\x80") == KDS_EINVAL,
     "a streams-adapter map refused");
  ok(DEC(&m, "\xc1") == KDS_EPROTO, "0xc1 refused");
  ok(DEC(&m,
         "\x93\xa1u\x82\xa4type\x02\xa4"
         "data\x91\xa1"
         "e\x81\x01\x02") == KDS_EPROTO,
     "a non-string map key refused");
  ok(DEC(&m, "\xdd\xff\xff\xff\xff") == KDS_EPROTO, "a 4G-item array claim refused before any allocation");
  ok(DEC(&m, "\xdb\xff\xff\xff\xff") == KDS_EPROTO, "a 4 GB string claim refused");
  ok(DEC(&m,
         "\x93\xa1u\x82\xa4type\x02\xa4"
         "data\x91\xa2"
         "e\x00\x80") == KDS_EINVAL,
     "a NUL in the event refused");
  ok(DEC(&m,
         "\x93\xa1u\x82\xa4type\x02\xa4"
         "data\x91\xa1"
         "e\x81\xa5rooms\x91\xc3") == KDS_EINVAL,
     "a boolean room refused");
  ok(DEC(&m, "") == KDS_EPROTO, "empty input");
  redis_msg_release(&m);
}

static void t_depth(void) {
  kds_buf b = KDS_BUF_INIT;
  redis_msg m;
  const char head[] =
      "\x93\xa1u\x82\xa4type\x02\xa4"
      "data\x92\xa1"
      "e";
  const char tail[] = "\x80";
  redis_msg_init(&m);
  for (int depth = REDIS_MSG_MAX_DEPTH; depth <= REDIS_MSG_MAX_DEPTH + 1; depth++) {
    kds_buf_reset(&b);
    kds_buf_add(&b, head, sizeof(head) - 1);
    for (int i = 0; i < depth - 1; i++) kds_buf_addc(&b, (char)0x91);
    kds_buf_addc(&b, (char)0x90);
    kds_buf_add(&b, tail, sizeof(tail) - 1);
    int rc = redis_msg_decode(&m, b.base, b.len);
    ok(depth == REDIS_MSG_MAX_DEPTH ? rc == 0 : rc == KDS_ETOOBIG, "depth %d: %d", depth, rc);
  }
  /* 100,000 nested arrays: refused by the limit, no deep recursion */
  kds_buf_reset(&b);
  kds_buf_add(&b, head, sizeof(head) - 1);
  for (int i = 0; i < 100000; i++) kds_buf_addc(&b, (char)0x91);
  ok(redis_msg_decode(&m, b.base, b.len) == KDS_ETOOBIG, "deep nesting refused");
  redis_msg_release(&m);
  kds_buf_release(&b);
}

/* JSON -> msgpack -> JSON gives the same text; and the header bytes notepack would pick. */
static void t_round_trip(void) {
  static const char *const args[] = {
      "null,true,false",
      "0,127,128,255,256,65535,65536,4294967295,4294967296",
      "-1,-32,-33,-128,-129,-32768,-32769,-2147483648,-2147483649",
      "1.5,-0.25,1e+300,3.141592653589793",
      "\"\",\"caf\xc3\xa9\",\"\\n\\\"\\\\\"",
      "[],{},[1,[2,[3]]],{\"a\":{\"b\":[null]}}",
      "{\"id\":42,\"lines\":[{\"name\":\"Pho\",\"qty\":2}],\"total\":12.5}",
  };
  kds_buf b = KDS_BUF_INIT;
  redis_msg m;
  redis_msg_init(&m);
  for (size_t i = 0; i < sizeof(args) / sizeof(args[0]); i++) {
    kds_buf_reset(&b);
    int rc = redis_msg_encode(&b, "me", "/", "ev", args[i], strlen(args[i]), NULL, 0, NULL, 0, 0);
    ok(rc == 0 && redis_msg_decode(&m, b.base, b.len) == 0 && strcmp(m.args.base, args[i]) == 0,
       "round trip %s -> %s", args[i], m.args.base ? m.args.base : "(none)");
  }
  /* string header sizes: fixstr 31, str8 32 and 255, str16 256, str32 65536 */
  {
    static const size_t lens[] = {31, 32, 255, 256, 65535, 65536};
    static const uint8_t tags[] = {0xbf, 0xd9, 0xd9, 0xda, 0xda, 0xdb};
    for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
      kds_buf text = KDS_BUF_INIT;
      kds_buf_addc(&text, '"');
      for (size_t k = 0; k < lens[i]; k++) kds_buf_addc(&text, 'a');
      kds_buf_addc(&text, '"');
      kds_buf_reset(&b);
      ok(redis_msg_encode(&b, "me", "/", "ev", text.base, text.len, NULL, 0, NULL, 0, 0) == 0, "encode %zu",
         lens[i]);
      /* 93 a2 me 83 a4 type 02 a4 data 92 a2 ev <str> */
      ok((uint8_t)b.base[20] == tags[i], "a %zu-byte string is tagged %02x", lens[i], tags[i]);
      ok(redis_msg_decode(&m, b.base, b.len) == 0 && strcmp(m.args.base, text.base) == 0, "and read back");
      kds_buf_release(&text);
    }
  }
  /* invalid UTF-8 in a string argument is made valid (U+FFFD), as a browser would see it */
  ok(DEC(&m,
         "\x93\xa1u\x82\xa4type\x02\xa4"
         "data\x92\xa1"
         "e\xa1\xff\x80") == 0 &&
         strcmp(m.args.base, "\"\xef\xbf\xbd\"") == 0,
     "invalid UTF-8 becomes U+FFFD");
  /* float32, NaN (as null), uint64 */
  ok(DEC(&m,
         "\x93\xa1u\x82\xa4type\x02\xa4"
         "data\x94\xa1"
         "e\xca\x3f\xc0\x00\x00\xcb\x7f\xf8\x00\x00\x00\x00\x00\x00"
         "\xcf\xff\xff\xff\xff\xff\xff\xff\xff\x80") == 0 &&
         strcmp(m.args.base, "1.5,null,18446744073709551615") == 0,
     "float32, NaN, uint64: %s", m.args.base);
  ok(redis_msg_encode(&b, "me", "/", "ev", "{", 1, NULL, 0, NULL, 0, 0) == KDS_EINVAL,
     "bad JSON args refused");
  redis_msg_release(&m);
  kds_buf_release(&b);
}

/* Type 7 (a broadcast waiting for acks) and its type 9 answer (SCALEOUT 1.4). */
static void t_request(void) {
  kds_buf b = KDS_BUF_INIT;
  redis_msg m;
  /* {uid: "qpdkWm", requestId: "r1", type: 7, packet: {type: 2, data: ["ping", 1], nsp: "/"},
   *  opts: {rooms: ["outlet:1"], except: [], flags: {timeout: 1000}}} */
  static const char req[] =
      "\x85\xa3uid\xa6qpdkWm\xa9requestId\xa2r1\xa4type\x07"
      "\xa6packet\x83\xa4type\x02\xa4"
      "data\x92\xa4ping\x01\xa3nsp\xa1/"
      "\xa4opts\x83\xa5rooms\x91\xa8outlet:1\xa6"
      "except\x90\xa5"
      "flags\x81\xa7timeout\xcd\x03\xe8";
  redis_msg_init(&m);
  ok(redis_msg_decode_request(&m, req, sizeof(req) - 1) == 0, "decodes");
  ok(strcmp(m.request_id.base, "r1") == 0 && strcmp(m.uid.base, "qpdkWm") == 0, "uid, requestId");
  ok(strcmp(m.event.base, "ping") == 0 && strcmp(m.args.base, "1") == 0, "event, args");
  ok(m.nrooms == 1 && strcmp(m.rooms[0], "outlet:1") == 0 && m.nexcept == 0, "rooms");
  ok(redis_msg_decode(&m, req, sizeof(req) - 1) == KDS_EINVAL, "not a plain broadcast");
  ok(redis_msg_decode_request(&m, cap_adapter, sizeof(cap_adapter)) == KDS_EINVAL,
     "a plain broadcast is not a request");
  {
    int bad = 0;
    for (size_t n = 0; n < sizeof(req) - 1; n++) {
      char *g = guard_copy(req, n);
      if (redis_msg_decode_request(&m, g, n) != KDS_EPROTO) bad++;
      guard_free(g, n);
    }
    ok(bad == 0, "every prefix refused");
  }
  ok(redis_msg_encode_ack(&b, "r1", "\"pong\"", 6) == 0, "encode_ack");
  ok(b.len == 32 && memcmp(b.base, "\x83\xa4type\x09\xa9requestId\xa2r1\xa6packet\xa4pong", 32) == 0,
     "{type: 9, requestId, packet: \"pong\"}");
  kds_buf_reset(&b);
  ok(redis_msg_encode_ack(&b, "r1", NULL, 0) == 0 && (uint8_t)b.base[b.len - 1] == 0xc0,
     "no ack argument: nil");
  ok(redis_msg_encode_ack(&b, "r1", "{", 1) == KDS_EINVAL, "bad JSON refused");
  redis_msg_release(&m);
  kds_buf_release(&b);
}

int main(void) {
  subtest("request", t_request);
  subtest("adapter capture", t_adapter_capture);
  subtest("emitter capture", t_emitter_capture);
  subtest("bin8", t_bin8);
  subtest("volatile float64", t_volatile);
  subtest("prefixes", t_prefixes);
  subtest("shapes", t_shapes);
  subtest("depth", t_depth);
  subtest("round trip", t_round_trip);
  return done_testing();
}
