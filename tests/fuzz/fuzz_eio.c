/* fuzz_eio: the Engine.IO codec (shared/eio.h). The input is read as a polling payload: each
 * record is decoded (text, "b<base64>" binary), re-encoded and decoded again (the round trip
 * must give the same packet), open packets go through the handshake decoder and encoder,
 * and the records are joined again with eio_payload_add (the split must give them back).
 * The whole input is also decoded as a binary WebSocket frame and as base64. */
#include <string.h>

#include "eio.h"
#include "err.h"
#include "fuzz.h"

static void check_handshake(const eio_packet *p) {
  eio_handshake hs, again;
  kds_buf enc = KDS_BUF_INIT;
  if (eio_handshake_decode(p->data.ptr, p->data.len, &hs) != 0) return;
  fuzz_check(hs.sid[0] != '\0' && strlen(hs.sid) < sizeof(hs.sid), "handshake: sid set and terminated");
  fuzz_check(hs.ping_interval >= 0 && hs.ping_timeout >= 0 && hs.max_payload >= 0,
             "handshake: settings >= 0");
  if (eio_handshake_encode(&enc, &hs) == 0) {
    fuzz_check(enc.len > 0 && enc.base[0] == '0', "handshake: encoded as an open packet");
    fuzz_check(eio_handshake_decode(enc.base + 1, enc.len - 1, &again) == 0, "handshake: re-decodes");
    fuzz_check(strcmp(hs.sid, again.sid) == 0 && hs.upgrade_websocket == again.upgrade_websocket &&
                   hs.ping_interval == again.ping_interval && hs.ping_timeout == again.ping_timeout &&
                   hs.max_payload == again.max_payload,
               "handshake: round trip");
  }
  kds_buf_release(&enc);
}

static void check_record(kds_slice rec, kds_buf *scratch, kds_buf *joined) {
  eio_packet p, q;
  kds_buf enc = KDS_BUF_INIT, scratch2 = KDS_BUF_INIT;
  int rc = eio_packet_decode(rec.ptr, rec.len, 1, &p, scratch);
  if (rc != 0) {
    fuzz_check(rc == KDS_EPROTO, "decode: only parse errors");
    return;
  }
  fuzz_check(p.data.len <= rec.len, "decode: data within the record");
  if (p.type == EIO_OPEN && !p.binary) check_handshake(&p);
  rc = eio_packet_encode(&enc, p.type, p.binary, p.data.ptr, p.data.len);
  fuzz_check(rc == 0, "encode of a decoded packet");
  rc = eio_packet_decode(enc.base, enc.len, 1, &q, &scratch2);
  fuzz_check(rc == 0 && q.type == p.type && q.binary == p.binary && q.data.len == p.data.len &&
                 (p.data.len == 0 || memcmp(q.data.ptr, p.data.ptr, p.data.len) == 0),
             "decode(encode(packet)) == packet");
  if (!p.binary)
    fuzz_check(enc.len == rec.len && memcmp(enc.base, rec.ptr, rec.len) == 0, "text: byte exact");
  fuzz_check(eio_payload_add(joined, enc.base, enc.len) == 0, "payload add");
  kds_buf_release(&enc);
  kds_buf_release(&scratch2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *s = (const char *)data;
  kds_buf scratch = KDS_BUF_INIT, joined = KDS_BUF_INIT, b64 = KDS_BUF_INIT, back = KDS_BUF_INIT;
  size_t pos = 0, nrec = 0, nvalid = 0;
  kds_slice rec;
  eio_packet p;

  while (eio_payload_next(s, size, &pos, &rec)) {
    fuzz_check(rec.ptr >= s && rec.ptr + rec.len <= s + size, "payload: record within the input");
    fuzz_check(++nrec <= size + 1, "payload: at most one record per byte + 1");
    size_t before = joined.len;
    check_record(rec, &scratch, &joined);
    if (joined.len != before) nvalid++;
  }
  /* the valid records, joined again, split into as many valid records */
  {
    size_t n = 0;
    pos = 0;
    while (eio_payload_next(joined.base ? joined.base : "", joined.len, &pos, &rec)) {
      if (eio_packet_decode(rec.ptr, rec.len, 1, &p, &scratch) == 0) n++;
    }
    fuzz_check(n == nvalid, "payload: join then split");
  }

  fuzz_check(eio_packet_decode(s, size, 0, &p, NULL) == 0 && p.binary && p.data.len == size,
             "binary frame: always a binary message");

  if (eio_base64_decode(&b64, s, size) == 0) {
    fuzz_check(eio_base64_encode(&back, b64.base, b64.len) == 0, "base64 re-encode");
    kds_buf_reset(&scratch);
    fuzz_check(eio_base64_decode(&scratch, back.base, back.len) == 0 && scratch.len == b64.len &&
                   (b64.len == 0 || memcmp(scratch.base, b64.base, b64.len) == 0),
               "base64 round trip");
  }
  kds_buf_reset(&back);
  fuzz_check(eio_base64_encode(&back, data, size) == 0 && back.len == (size + 2) / 3 * 4, "base64 length");
  kds_buf_reset(&b64);
  fuzz_check(eio_base64_decode(&b64, back.base ? back.base : "", back.len) == 0 && b64.len == size &&
                 (size == 0 || memcmp(b64.base, data, size) == 0),
             "base64 of the input round-trips");

  kds_buf_release(&scratch);
  kds_buf_release(&joined);
  kds_buf_release(&b64);
  kds_buf_release(&back);
  return 0;
}
