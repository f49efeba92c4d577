/* Unit tests for shared/ws_frame.c with no loop: header parse and encode (masked, unmasked,
 * 7/16/64-bit lengths, every prefix, inputs ending at a guard page), the framing rules
 * (control frames, minimal lengths, RSV bits, opcodes, masking), masking in pieces, the stream
 * tracker (fragmentation, too big, malformed headers, the close code) and shared frames. */
#include "test.h"

#include "../../shared/ws_frame.c"
#include "buf.h"

static const uint8_t key[4] = {0x12, 0x34, 0x56, 0x78};

/* Appends a client-style (masked) or server-style frame. */
static void mkframe(kds_buf *b, int fin, int opcode, const void *data, size_t len, int masked) {
  uint8_t h[WS_FRAME_MAX_HEADER];
  size_t n = ws_frame_encode_header(h, fin, opcode, len, masked ? key : NULL);
  kds_buf_add(b, h, n);
  for (size_t i = 0; i < len; i++) {
    uint8_t c = ((const uint8_t *)data)[i];
    kds_buf_addc(b, (char)(masked ? c ^ key[i % 4] : c));
  }
}

/* Parses `hdr` (n bytes) from a copy that ends at a guard page. */
static ssize_t parse_guarded(const void *hdr, size_t n, ws_frame_header *h) {
  char *g = guard_copy(hdr, n);
  ssize_t r = ws_frame_parse_header(g, n, h);
  guard_free(g, n);
  return r;
}

/* 1 if every strict prefix of the header needs more (the header is well-formed). */
static int prefixes_need_more(const uint8_t *hdr, size_t n) {
  ws_frame_header h;
  for (size_t k = 0; k < n; k++)
    if (parse_guarded(hdr, k, &h) != KDS_EAGAIN) return 0;
  return 1;
}

static void t_parse(void) {
  ws_frame_header h;
  {
    const uint8_t f[] = {0x81, 0x02, 'h', 'i'};
    ok(parse_guarded(f, sizeof(f), &h) == 2 && h.fin && h.rsv == 0 && h.opcode == WS_TEXT && !h.masked &&
           h.payload_len == 2 && h.size == 2,
       "unmasked text, 7-bit length");
    ok(parse_guarded(f, 2, &h) == 2, "the header alone is enough");
    ok(prefixes_need_more(f, 2), "shorter: need more");
  }
  {
    const uint8_t f[] = {0x82, 0x85, 0x12, 0x34, 0x56, 0x78};
    ok(parse_guarded(f, sizeof(f), &h) == 6 && h.opcode == WS_BINARY && h.masked && h.payload_len == 5 &&
           memcmp(h.mask, key, 4) == 0,
       "masked binary: the key is returned");
    ok(prefixes_need_more(f, sizeof(f)), "masked: every prefix needs more");
  }
  {
    const uint8_t f[] = {0x81, 0x7e, 0x01, 0x2c};
    ok(parse_guarded(f, sizeof(f), &h) == 4 && h.payload_len == 300, "16-bit length");
    ok(prefixes_need_more(f, sizeof(f)), "16-bit: every prefix needs more");
  }
  {
    const uint8_t f[] = {0x82, 0xff, 0, 0, 0, 1, 0, 0, 0, 0, 1, 2, 3, 4};
    ok(parse_guarded(f, sizeof(f), &h) == 14 && h.masked && h.payload_len == ((uint64_t)1 << 32) &&
           h.mask[3] == 4,
       "64-bit length, masked: 14 bytes");
    ok(prefixes_need_more(f, sizeof(f)), "64-bit: every prefix needs more");
  }
  {
    const uint8_t f[] = {0x01, 0x03};
    ok(parse_guarded(f, 2, &h) == 2 && !h.fin && h.opcode == WS_TEXT, "a first fragment");
    const uint8_t c[] = {0x80, 0x03};
    ok(parse_guarded(c, 2, &h) == 2 && h.fin && h.opcode == WS_CONTINUATION, "the last continuation");
  }
}

static void t_rules(void) {
  ws_frame_header h;
  ok(parse_guarded("\x89\x7d", 2, &h) == 2 && h.payload_len == 125, "a ping of 125 bytes");
  ok(parse_guarded("\x89\x7e", 2, &h) == KDS_EPROTO, "a ping announcing 126 bytes: refused on 2 bytes");
  ok(parse_guarded("\x88\x7f", 2, &h) == KDS_EPROTO, "a close with a 64-bit length");
  ok(parse_guarded("\x09\x00", 2, &h) == KDS_EPROTO, "a fragmented ping");
  ok(parse_guarded("\x0a\x00", 2, &h) == KDS_EPROTO, "a fragmented pong");
  ok(parse_guarded("\x0f\x00", 2, &h) == KDS_EPROTO, "a fragmented reserved control opcode");
  ok(parse_guarded("\x81\x7e\x00\x7d", 4, &h) == KDS_EPROTO, "16-bit length not minimal");
  ok(parse_guarded("\x81\x7e\x00", 3, &h) == KDS_EAGAIN, "16-bit length cut short: need more");
  ok(parse_guarded("\x82\x7f\x00\x00\x00\x00\x00\x00\xff\xff", 10, &h) == KDS_EPROTO,
     "64-bit length not minimal");
  ok(parse_guarded("\x82\x7f\x80\x00\x00\x00\x00\x00\x00\x00", 10, &h) == KDS_EPROTO,
     "64-bit length with the top bit");
  ok(parse_guarded("\x82\xff\x80\x00\x00\x00\x00\x00\x00\x00", 10, &h) == KDS_EPROTO,
     "judged before the mask key arrives");

  const int good[] = {WS_CONTINUATION, WS_TEXT, WS_BINARY, WS_CONNECTION_CLOSE, WS_PING, WS_PONG};
  int all = 1;
  for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
    uint8_t f[2] = {(uint8_t)(0x80 | good[i]), 0x80};
    all &= parse_guarded(f, 2, &h) == KDS_EAGAIN; /* masked: the key is missing */
    f[1] = 0;
    all &= parse_guarded(f, 2, &h) == 2 && ws_frame_header_check(&h, 0) == 0 &&
           ws_frame_header_check(&h, 1) == KDS_EPROTO;
  }
  ok(all, "every defined opcode passes; the masking must be the expected one");
  all = 1;
  for (int op = 0; op < 16; op++) {
    uint8_t f[2] = {(uint8_t)(0x80 | op), 0};
    int defined = op <= 2 || (op >= 8 && op <= 10);
    all &= parse_guarded(f, 2, &h) == 2 && (ws_frame_header_check(&h, 0) == 0) == defined;
    all &= ws_frame_is_control(op) == (op >= 8);
  }
  ok(all, "reserved opcodes 0x3-0x7 and 0xB-0xF refused; 0x8-0xF are control");
  for (int bit = 0; bit < 3; bit++) {
    uint8_t f[6] = {(uint8_t)(0x81 | (0x10 << bit)), 0x80, 1, 2, 3, 4};
    ok(parse_guarded(f, 6, &h) == 6 && h.rsv == (1 << bit) && ws_frame_header_check(&h, 1) == KDS_EPROTO,
       "RSV%d refused", 3 - bit);
  }
}

static void t_encode(void) {
  const uint64_t lens[] = {0, 1, 125, 126, 0xffff, 0x10000, (uint64_t)1 << 40};
  const size_t sizes[] = {2, 2, 2, 4, 4, 10, 10};
  int all = 1;
  for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
    for (int masked = 0; masked <= 1; masked++) {
      for (int fin = 0; fin <= 1; fin++) {
        uint8_t out[WS_FRAME_MAX_HEADER];
        ws_frame_header h;
        size_t n = ws_frame_encode_header(out, fin, WS_BINARY, lens[i], masked ? key : NULL);
        all &= n == sizes[i] + (masked ? 4 : 0);
        all &= parse_guarded(out, n, &h) == (ssize_t)n && h.fin == fin && h.opcode == WS_BINARY &&
               h.masked == masked && h.payload_len == lens[i] && (!masked || memcmp(h.mask, key, 4) == 0);
      }
    }
  }
  ok(all, "encode then parse: minimal lengths, fin, mask, every size class");
  {
    uint8_t out[WS_FRAME_MAX_HEADER];
    ok(ws_frame_encode_header(out, 1, WS_PONG, 3, NULL) == 2 && out[0] == 0x8a && out[1] == 3, "a pong");
  }
}

static void t_mask(void) {
  char msg[] = "Hello, masked world";
  char whole[sizeof(msg)], pieces[sizeof(msg)];
  size_t n = sizeof(msg) - 1, off = 0, step = 1;
  memcpy(whole, msg, sizeof(msg));
  memcpy(pieces, msg, sizeof(msg));
  ws_frame_mask(whole, n, key, 0);
  ok(memcmp(whole, msg, n) != 0 && (uint8_t)whole[0] == ('H' ^ 0x12) && (uint8_t)whole[5] == (',' ^ 0x34),
     "masked with the key in turn");
  while (off < n) { /* pieces of 1, 2, 3... bytes */
    size_t k = n - off < step ? n - off : step;
    ws_frame_mask(pieces + off, k, key, off);
    off += k;
    step++;
  }
  ok(memcmp(whole, pieces, n) == 0, "in pieces, with their offsets: the same bytes");
  ws_frame_mask(whole, n, key, 0);
  ok(memcmp(whole, msg, n) == 0, "masking twice unmasks");
}

/* The tracker: every split of a stream of frames gives the same verdicts. */
static void t_track(void) {
  kds_buf b = KDS_BUF_INIT;
  char pad[300];
  int all = 1;
  memset(pad, 'p', sizeof(pad));
  mkframe(&b, 1, WS_TEXT, "hi", 2, 1);
  mkframe(&b, 0, WS_BINARY, pad, 200, 1);
  mkframe(&b, 1, 0x9, "x", 1, 1);
  mkframe(&b, 1, 0x0, pad, 300, 1); /* 500 in all: fine at 600 */
  mkframe(&b, 1, 0x8, "\x0f\xa2zz", 4, 1);
  for (size_t step = 1; step <= b.len; step++) {
    ws_frame_tracker t;
    size_t bad = 99, off;
    int v = 0;
    ws_frame_tracker_init(&t, 600);
    for (off = 0; off < b.len && v == 0; off += step)
      v = ws_frame_tracker_feed(&t, b.base + off, b.len - off < step ? b.len - off : step, &bad);
    all &= v == 0 && t.closed && t.code == 4002 && t.skip == 0 && t.hlen == 0;
  }
  ok(all, "every chunk size: no verdict, the close frame and its code 4002 found");
  {
    ws_frame_tracker t;
    size_t bad = 99;
    ws_frame_tracker_init(&t, 400);
    int v = ws_frame_tracker_feed(&t, b.base, b.len, &bad);
    ok(v == KDS_ETOOBIG && bad == 8 + 208 + 7,
       "fragments over the limit: the continuation's header is the "
       "bad one (at %zu)",
       bad);
    ws_frame_tracker_init(&t, 600);
    kds_buf_reset(&b);
    mkframe(&b, 1, WS_TEXT, "ok", 2, 1);
    kds_buf_add(&b, "\x89\xfe\x00\x7e\x00\x00\x00\x00", 8); /* a ping announcing 126 bytes */
    ok(ws_frame_tracker_feed(&t, b.base, b.len, &bad) == KDS_EPROTO && bad == 8,
       "a malformed header after a good frame");
    ws_frame_tracker_init(&t, 0);
    kds_buf_reset(&b);
    mkframe(&b, 1, 0x8, "", 0, 0);
    ok(ws_frame_tracker_feed(&t, b.base, b.len, &bad) == 0 && t.closed && t.code == WS_CLOSE_NO_STATUS,
       "an empty unmasked close: 1005");
  }
  kds_buf_release(&b);
}

static void t_track_limits(void) {
  kds_buf b = KDS_BUF_INIT;
  char pad[20];
  ws_frame_tracker t;
  size_t bad = 99;
  memset(pad, 'x', sizeof(pad));

  ws_frame_tracker_init(&t, 10);
  mkframe(&b, 1, WS_TEXT, pad, 10, 1);
  ok(ws_frame_tracker_feed(&t, b.base, b.len, &bad) == 0 && t.msg_len == 10, "exactly max_message: fine");
  kds_buf_reset(&b);
  mkframe(&b, 1, WS_BINARY, pad, 11, 1);
  ok(ws_frame_tracker_feed(&t, b.base, b.len, &bad) == KDS_ETOOBIG && bad == 0,
     "a new message resets the count; one byte over: too big");

  /* the verdict comes with the header, before any payload */
  ws_frame_tracker_init(&t, 10);
  bad = 99;
  ok(ws_frame_tracker_feed(&t, b.base, 1, &bad) == 0 && bad == 99, "half a header: no verdict yet");
  ok(ws_frame_tracker_feed(&t, b.base + 1, 5, &bad) == KDS_ETOOBIG && bad == 0,
     "the header completed in a later call: bad at 0");

  /* fragments count together, control frames between them do not */
  ws_frame_tracker_init(&t, 12);
  kds_buf_reset(&b);
  mkframe(&b, 0, WS_TEXT, pad, 6, 1);
  mkframe(&b, 1, WS_PING, pad, 20, 1);
  mkframe(&b, 1, WS_CONTINUATION, pad, 6, 1);
  ok(ws_frame_tracker_feed(&t, b.base, b.len, &bad) == 0 && t.msg_len == 12,
     "6 + 6 bytes of fragments around a 20-byte ping: 12");
  kds_buf_reset(&b);
  mkframe(&b, 1, WS_CONTINUATION, pad, 1, 1);
  ok(ws_frame_tracker_feed(&t, b.base, b.len, &bad) == KDS_ETOOBIG, "one more continuation byte: too big");

  /* a verdict does not stop tracking: the peer's close is still found */
  ws_frame_tracker_init(&t, 100);
  kds_buf_reset(&b);
  kds_buf_add(&b, "\x09\x00", 2); /* fragmented ping */
  mkframe(&b, 1, WS_TEXT, pad, 3, 1);
  mkframe(&b, 1, WS_CONNECTION_CLOSE, "\x03\xe8", 2, 1);
  bad = 99;
  ok(ws_frame_tracker_feed(&t, b.base, b.len, &bad) == KDS_EPROTO && bad == 0 && t.closed && t.code == 1000,
     "first verdict reported, the close frame (1000) found after it");
  kds_buf_release(&b);
}

static void t_shared(void) {
  char *p = NULL;
  size_t n, pn;
  ws_frame_t *f = ws_frame_alloc(WS_BINARY, 5, &p);
  ok(f && p, "alloc");
  memcpy(p, "abcde", 5);
  const char *b = ws_frame_bytes(f, &n), *pl = ws_frame_payload(f, &pn);
  ok(n == 7 && (uint8_t)b[0] == 0x82 && b[1] == 5 && pl == p && pn == 5 && pl[5] == '\0',
     "header written, payload filled by the caller, NUL after it");
  ok(ws_frame_is_binary(f), "binary");
  ws_frame_unref(f);
  f = ws_frame_new(WS_TEXT, "hi", 2);
  ok(f && !ws_frame_is_binary(f) && strcmp(ws_frame_payload(f, NULL), "hi") == 0, "text");
  ws_frame_unref(f);
  f = ws_frame_new(WS_TEXT, NULL, 0);
  ok(f && ws_frame_bytes(f, &n) && n == 2, "empty payload");
  ws_frame_unref(f);
  ok(ws_frame_alloc(WS_PING, 1, &p) == NULL && ws_frame_alloc(WS_CONTINUATION, 1, &p) == NULL,
     "only text and binary");
  ok(ws_frame_alloc(WS_TEXT, SIZE_MAX, &p) == NULL, "absurd length refused");
}

int main(void) {
  subtest("parse", t_parse);
  subtest("rules", t_rules);
  subtest("encode", t_encode);
  subtest("mask", t_mask);
  subtest("track", t_track);
  subtest("track limits", t_track_limits);
  subtest("shared frames", t_shared);
  return done_testing();
}
