/* ws_frame.c: RFC 6455 frame headers, masking, the header-only stream tracker and the
 * refcounted shared frame. Bytes in, results out: no I/O, no loop. */
#include "ws_frame.h"

#include <stdlib.h>
#include <string.h>

#include "err.h"

struct ws_frame {
  uint32_t refs;
  uint32_t hdr; /* header bytes before the payload */
  size_t len;   /* header + payload */
  char bytes[];
};

int ws_frame_is_control(int opcode) {
  return (opcode & 0x08) != 0;
}

/* ---- header codec -------------------------------------------------------------------- */

ssize_t ws_frame_parse_header(const void *data, size_t len, ws_frame_header *h) {
  const uint8_t *p = data;
  size_t n = 2, len7;
  if (len < 2) return KDS_EAGAIN;
  h->fin = p[0] >> 7;
  h->rsv = (p[0] >> 4) & 0x7;
  h->opcode = p[0] & 0x0f;
  h->masked = p[1] >> 7;
  len7 = p[1] & 0x7f;
  /* judged on the first two bytes, before waiting for the rest */
  if (ws_frame_is_control(h->opcode) && (len7 > WS_FRAME_MAX_CONTROL || !h->fin)) return KDS_EPROTO;
  if (len7 == 126) {
    if (len < 4) return KDS_EAGAIN;
    h->payload_len = ((uint64_t)p[2] << 8) | p[3];
    if (h->payload_len < 126) return KDS_EPROTO;
    n = 4;
  } else if (len7 == 127) {
    if (len < 10) return KDS_EAGAIN;
    h->payload_len = 0;
    for (int i = 0; i < 8; i++) h->payload_len = (h->payload_len << 8) | p[2 + i];
    if ((h->payload_len >> 63) || h->payload_len < 65536) return KDS_EPROTO;
    n = 10;
  } else {
    h->payload_len = len7;
  }
  memset(h->mask, 0, sizeof(h->mask));
  if (h->masked) {
    if (len < n + 4) return KDS_EAGAIN;
    memcpy(h->mask, p + n, 4);
    n += 4;
  }
  h->size = (uint8_t)n;
  return (ssize_t)n;
}

int ws_frame_header_check(const ws_frame_header *h, int want_masked) {
  switch (h->opcode) {
    case WS_CONTINUATION:
    case WS_TEXT:
    case WS_BINARY:
    case WS_CONNECTION_CLOSE:
    case WS_PING:
    case WS_PONG:
      break;
    default:
      return KDS_EPROTO;
  }
  if (h->rsv || h->masked != (want_masked ? 1 : 0)) return KDS_EPROTO;
  return 0;
}

size_t ws_frame_encode_header(uint8_t out[WS_FRAME_MAX_HEADER], int fin, int opcode, uint64_t payload_len,
                              const uint8_t *mask) {
  size_t n;
  out[0] = (uint8_t)((fin ? 0x80 : 0) | (opcode & 0x0f));
  if (payload_len < 126) {
    out[1] = (uint8_t)payload_len;
    n = 2;
  } else if (payload_len <= 0xffff) {
    out[1] = 126;
    out[2] = (uint8_t)(payload_len >> 8);
    out[3] = (uint8_t)payload_len;
    n = 4;
  } else {
    out[1] = 127;
    for (int i = 0; i < 8; i++) out[2 + i] = (uint8_t)(payload_len >> (56 - 8 * i));
    n = 10;
  }
  if (mask) {
    out[1] |= 0x80;
    memcpy(out + n, mask, 4);
    n += 4;
  }
  return n;
}

void ws_frame_mask(void *data, size_t len, const uint8_t key[4], uint64_t offset) {
  uint8_t *p = data;
  for (size_t i = 0; i < len; i++) p[i] ^= key[(offset + i) & 3];
}

/* ---- stream tracker ------------------------------------------------------------------ */

void ws_frame_tracker_init(ws_frame_tracker *t, uint64_t max_message) {
  memset(t, 0, sizeof(*t));
  t->max_message = max_message;
}

/* Judges a complete frame header and starts skipping its payload. */
static int tracker_header(ws_frame_tracker *t) {
  ws_frame_header h;
  int verdict = 0;
  if (ws_frame_parse_header(t->hdr, t->hlen, &h) < 0) {
    /* complete, so the parser refused it; its length still tells what to skip */
    size_t len7 = t->hdr[1] & 0x7f;
    h.opcode = t->hdr[0] & 0x0f;
    h.payload_len = len7;
    if (len7 == 126) {
      h.payload_len = ((uint64_t)t->hdr[2] << 8) | t->hdr[3];
    } else if (len7 == 127) {
      h.payload_len = 0;
      for (int i = 0; i < 8; i++) h.payload_len = (h.payload_len << 8) | t->hdr[2 + i];
    }
    verdict = KDS_EPROTO;
  } else if (h.opcode == WS_TEXT || h.opcode == WS_BINARY || h.opcode == WS_CONTINUATION) {
    if (h.opcode != WS_CONTINUATION) t->msg_len = 0;
    if (h.payload_len > t->max_message - t->msg_len) /* msg_len <= max_message: no wrap */
      verdict = KDS_ETOOBIG;
    else
      t->msg_len += h.payload_len;
  }
  t->in_close = h.opcode == WS_CONNECTION_CLOSE;
  t->code_len = 0;
  t->code = 0;
  t->skip = h.payload_len;
  return verdict;
}

/* Reads the close frame's status code (unmasking it) as its first payload bytes pass. */
static void tracker_close_payload(ws_frame_tracker *t, const uint8_t *p, size_t n) {
  const uint8_t *key = t->hdr + t->hlen - 4;
  for (size_t i = 0; i < n && t->code_len < 2; i++, t->code_len++) {
    uint8_t c = p[i];
    if (t->hdr[1] & 0x80) c ^= key[t->code_len];
    t->code = (uint16_t)(t->code << 8 | c);
  }
}

/* The length of the frame header that starts with the `have` bytes at h (2 until known). */
static size_t header_size(const uint8_t *h, size_t have) {
  size_t n = 2, len7;
  if (have < 2) return 2;
  len7 = h[1] & 0x7f;
  n += len7 == 126 ? 2 : len7 == 127 ? 8 : 0;
  return n + (h[1] & 0x80 ? 4 : 0);
}

int ws_frame_tracker_feed(ws_frame_tracker *t, const void *data, size_t len, size_t *bad) {
  const uint8_t *p = data;
  size_t off = 0;
  int verdict = 0, v;
  while (off < len) {
    if (t->skip == 0 && !t->in_close) { /* at a header */
      size_t start = t->hlen ? 0 : off;
      while (off < len && t->hlen < header_size(t->hdr, t->hlen)) t->hdr[t->hlen++] = p[off++];
      if (t->hlen < header_size(t->hdr, t->hlen)) break;
      v = tracker_header(t);
      if (v != 0 && verdict == 0) {
        verdict = v;
        *bad = start;
      }
    } else {
      size_t n = len - off < t->skip ? len - off : (size_t)t->skip;
      if (t->in_close) tracker_close_payload(t, p + off, n);
      off += n;
      t->skip -= n;
    }
    if (t->skip == 0) {
      if (t->in_close) {
        t->closed = 1;
        if (t->code_len < 2) t->code = WS_CLOSE_NO_STATUS;
        t->in_close = 0;
      }
      t->hlen = 0;
    }
  }
  return verdict;
}

/* ---- shared frames ------------------------------------------------------------------- */

ws_frame_t *ws_frame_alloc(int opcode, size_t payload_len, char **payload) {
  uint8_t h[WS_FRAME_MAX_HEADER];
  size_t hdr;
  ws_frame_t *f;
  if (opcode != WS_TEXT && opcode != WS_BINARY) return NULL;
  if (payload_len > SIZE_MAX / 2) return NULL;
  hdr = ws_frame_encode_header(h, 1, opcode, payload_len, NULL);
  f = malloc(sizeof(*f) + hdr + payload_len + 1);
  if (!f) return NULL;
  f->refs = 1;
  f->hdr = (uint32_t)hdr;
  f->len = hdr + payload_len;
  memcpy(f->bytes, h, hdr);
  f->bytes[f->len] = '\0'; /* so the payload may be read as a C string */
  *payload = f->bytes + hdr;
  return f;
}

ws_frame_t *ws_frame_new(int opcode, const void *data, size_t len) {
  ws_frame_t *f;
  char *payload;
  if (len > UINT32_MAX) return NULL;
  f = ws_frame_alloc(opcode, len, &payload);
  if (f && len) memcpy(payload, data, len);
  return f;
}

ws_frame_t *ws_frame_ref(ws_frame_t *f) {
  if (f) f->refs++;
  return f;
}

void ws_frame_unref(ws_frame_t *f) {
  if (f && --f->refs == 0) free(f);
}

const char *ws_frame_bytes(const ws_frame_t *f, size_t *len) {
  if (len) *len = f->len;
  return f->bytes;
}

const char *ws_frame_payload(const ws_frame_t *f, size_t *len) {
  if (len) *len = f->len - f->hdr;
  return f->bytes + f->hdr;
}

int ws_frame_is_binary(const ws_frame_t *f) {
  return (f->bytes[0] & 0x0f) == WS_BINARY;
}
