/* fuzz_sio: the Socket.IO codec (shared/sio.h). The input is a sequence of Engine.IO
 * messages, each <kind byte><2-byte big-endian length><bytes> (kind odd: binary, even:
 * text), fed to one sio_decoder as a connection would (binary events with their
 * attachments included). Every packet that comes out is checked: re-encoded it parses to
 * the same header and payload, its arguments split and iterate, each argument is valid JSON
 * whose compact form is stable, and string arguments survive unquote/quote. Each text
 * message is also given to the stateless sio_packet_parse. */
#include <string.h>

#include "err.h"
#include "fuzz.h"
#include "sio.h"

static int slice_same(kds_slice a, kds_slice b) {
  return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

static int is_json_ws(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static void check_json_value(kds_slice v) {
  kds_buf a = KDS_BUF_INIT, b = KDS_BUF_INIT, u = KDS_BUF_INIT, q = KDS_BUF_INIT, u2 = KDS_BUF_INIT;
  fuzz_check(sio_json_check(v.ptr, v.len) == 0, "argument: valid JSON");
  fuzz_check(sio_json_compact(&a, v.ptr, v.len) == 0, "argument: compacts");
  fuzz_check(sio_json_compact(&b, a.base, a.len) == 0 && a.len == b.len && memcmp(a.base, b.base, a.len) == 0,
             "compact is idempotent");
  /* A whole payload (CONNECT's auth, CONNECT_ERROR's data) may carry JSON white space
   * around its value; the string helpers take the literal alone, as sio_array_next hands
   * out array elements. */
  while (v.len && is_json_ws(v.ptr[0])) {
    v.ptr++;
    v.len--;
  }
  while (v.len && is_json_ws(v.ptr[v.len - 1])) v.len--;
  if (v.len && v.ptr[0] == '"') {
    fuzz_check(sio_json_unquote(&u, v) == 0, "string argument: unquotes");
    fuzz_check(sio_json_quote(&q, u.base ? u.base : "", u.len) == 0, "quote");
    fuzz_check(sio_json_unquote(&u2, (kds_slice){q.base, q.len}) == 0 && u.len == u2.len &&
                   (u.len == 0 || memcmp(u.base, u2.base, u.len) == 0),
               "unquote(quote(s)) == s");
    if (memchr(u.base ? u.base : "", '\0', u.len) == NULL)
      fuzz_check(sio_json_streq(v, u.base ? u.base : ""), "streq of its own value");
  }
  kds_buf_release(&a);
  kds_buf_release(&b);
  kds_buf_release(&u);
  kds_buf_release(&q);
  kds_buf_release(&u2);
}

static void check_packet(const sio_packet *p) {
  char nsp[SIO_NSP_MAX + 1];
  kds_buf enc = KDS_BUF_INIT;
  sio_packet q;
  fuzz_check(p->nsp.len > 0 && p->nsp.len <= SIO_NSP_MAX && p->nsp.ptr[0] == '/', "nsp: non-empty, bounded");
  fuzz_check(memchr(p->nsp.ptr, '\0', p->nsp.len) == NULL, "nsp: no NUL");
  fuzz_check(p->id >= -1 && p->id <= SIO_ACK_ID_MAX, "ack id in range");
  fuzz_check(p->attachments >= 0 && p->attachments <= SIO_MAX_ATTACHMENTS, "attachments in range");
  memcpy(nsp, p->nsp.ptr, p->nsp.len);
  nsp[p->nsp.len] = '\0';
  fuzz_check(sio_packet_encode(&enc, p->type, nsp, p->id, p->data.ptr, p->data.len, p->attachments) == 0,
             "re-encode");
  fuzz_check(sio_packet_parse(enc.base, enc.len, &q) == 0, "re-encoded packet parses");
  fuzz_check(q.type == p->type && q.id == p->id && q.attachments == p->attachments &&
                 slice_same(q.nsp, p->nsp) && slice_same(q.data, p->data),
             "parse(encode(packet)) == packet");
  if (p->type == SIO_EVENT || p->type == SIO_BINARY_EVENT || p->type == SIO_ACK ||
      p->type == SIO_BINARY_ACK) {
    kds_slice first, rest, elem;
    size_t pos = 0, n = 0;
    fuzz_check(sio_args_split(p->data, &first, &rest) == 0, "args split");
    if (p->type == SIO_EVENT || p->type == SIO_BINARY_EVENT) fuzz_check(first.len > 0, "event: has a name");
    while (sio_array_next(p->data, &pos, &elem)) {
      fuzz_check(++n <= p->data.len, "array: bounded iteration");
      fuzz_check(elem.ptr >= p->data.ptr && elem.ptr + elem.len <= p->data.ptr + p->data.len,
                 "array: in bounds");
      check_json_value(elem);
      if (n == 1) fuzz_check(slice_same(elem, first), "first element == split's first");
    }
  } else if (p->data.len) {
    check_json_value(p->data);
  }
  kds_buf_release(&enc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fuzz_in in = {data, size};
  sio_decoder d;
  sio_decoder_init(&d);
  while (in.n > 0) {
    unsigned kind = fuzz_u8(&in);
    size_t len = fuzz_u16(&in);
    const uint8_t *msg;
    sio_packet p, raw;
    int rc;
    len = fuzz_bytes(&in, len, &msg);
    if (kind & 1) {
      rc = sio_decoder_binary(&d, msg, len, &p);
    } else {
      int prc = sio_packet_parse((const char *)msg, len, &raw);
      fuzz_check(prc == 0 || prc == KDS_EPROTO, "parse: 0 or KDS_EPROTO");
      if (prc == 0) check_packet(&raw);
      rc = sio_decoder_text(&d, (const char *)msg, len, &p);
    }
    fuzz_check(rc == 0 || rc == 1 || rc == KDS_EPROTO, "decoder: 1, 0 or KDS_EPROTO");
    if (rc == 1) {
      check_packet(&p);
      for (int k = 0; k < p.attachments; k++) fuzz_check(p.bin[k].len <= size, "attachment: bounded");
    }
  }
  sio_decoder_release(&d);
  return 0;
}
