/* ws_frame.h: RFC 6455 frames as bytes, with no I/O: the header parser and encoder, payload
 * masking, the stream tracker that judges frames from their headers alone, and the refcounted
 * pre-built frame that a broadcast encodes once and writes to many connections.
 * Used by the driver in net/ws.c; testable without a loop. */
#ifndef KDS_WS_FRAME_H
#define KDS_WS_FRAME_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Opcodes (RFC 6455 5.2). The values are the wire's, and wslay's. */
enum ws_opcode {
  WS_CONTINUATION = 0x0,
  WS_TEXT = 0x1,
  WS_BINARY = 0x2,
  WS_CONNECTION_CLOSE = 0x8,
  WS_PING = 0x9,
  WS_PONG = 0xA
};

/* Close status codes we send (RFC 6455 7.4.1). */
enum ws_close_code {
  WS_CLOSE_NORMAL = 1000,
  WS_CLOSE_GOING_AWAY = 1001,
  WS_CLOSE_PROTOCOL_ERROR = 1002,
  WS_CLOSE_NO_STATUS = 1005, /* reported only: the peer's close frame had no code */
  WS_CLOSE_ABNORMAL = 1006,  /* reported only: the TCP link ended without a close frame */
  WS_CLOSE_INVALID_DATA = 1007,
  WS_CLOSE_POLICY = 1008,
  WS_CLOSE_TOO_BIG = 1009,
  WS_CLOSE_INTERNAL = 1011
};

#define WS_FRAME_MAX_HEADER 14 /* 2 + 8 (64-bit length) + 4 (mask key) */
#define WS_FRAME_MAX_CONTROL 125

/* 1 for close, ping, pong and the reserved control opcodes (0x8..0xF). */
int ws_frame_is_control(int opcode);

/* ---- header codec -------------------------------------------------------------------- */

/* A parsed frame header. */
typedef struct ws_frame_header {
  uint8_t fin;
  uint8_t rsv;    /* the three RSV bits, as the value 0..7 */
  uint8_t opcode; /* 0..15, not judged by the parser (see ws_frame_header_check) */
  uint8_t masked;
  uint8_t mask[4]; /* the key when masked, else zeros */
  uint8_t size;    /* header bytes: 2..14 */
  uint64_t payload_len;
} ws_frame_header;

/* Parses the frame header at the start of data[0..len). Returns its size in bytes (2..14) and
 * fills *h; KDS_EAGAIN if len is shorter than the header; KDS_EPROTO as soon as the bytes
 * present break a rule of the framing itself (RFC 6455 5.2, 5.5): a control frame that is not
 * final or has a payload over 125 bytes, a 16- or 64-bit length not in its minimal form, or a
 * 64-bit length with its top bit set. So a bad header is reported even when incomplete. RSV
 * bits, opcode and masking are left to ws_frame_header_check. *h is unspecified on error. */
ssize_t ws_frame_parse_header(const void *data, size_t len, ws_frame_header *h);

/* Judges what ws_frame_parse_header leaves open, for a receiver that negotiated no extension:
 * returns KDS_EPROTO for RSV bits set, a reserved opcode (0x3..0x7, 0xB..0xF), or masking other
 * than `want_masked` (a server wants masked frames, a client unmasked ones); else 0. */
int ws_frame_header_check(const ws_frame_header *h, int want_masked);

/* Writes the header of a frame with `payload_len` bytes into out, in the minimal length form,
 * masked with `mask` (4 bytes, copied after the length) or unmasked if mask is NULL. The
 * opcode's low 4 bits are used. Returns the header's size (2..14). */
size_t ws_frame_encode_header(uint8_t out[WS_FRAME_MAX_HEADER], int fin, int opcode, uint64_t payload_len,
                              const uint8_t *mask);

/* XORs data[0..len) in place with `key`, starting at key byte `offset` % 4 (the offset of
 * data within the payload, for a payload masked or unmasked in pieces). Masking and unmasking
 * are the same operation. */
void ws_frame_mask(void *data, size_t len, const uint8_t key[4], uint64_t offset);

/* ---- stream tracker -------------------------------------------------------------------
 * Follows a peer's byte stream frame by frame from the headers alone (payloads are skipped,
 * never copied), so that a receiver can judge a frame as soon as its header is complete: a
 * message over max_message is refused before any of its payload arrives. It also finds the
 * peer's close frame (and its status code) in bytes no one else reads any more. Plain data,
 * no allocation: embed it and ws_frame_tracker_init it. */
typedef struct ws_frame_tracker {
  uint64_t max_message;             /* bytes of one data message (fragments together) */
  uint64_t skip;                    /* payload bytes of the current frame still to come */
  uint64_t msg_len;                 /* payload bytes of the current data message so far (<= max_message) */
  uint8_t hdr[WS_FRAME_MAX_HEADER]; /* the frame header being collected */
  uint8_t hlen;
  uint8_t in_close; /* the current frame is a close frame */
  uint8_t code_len; /* bytes of its status code seen (0..2) */
  uint8_t closed;   /* a complete close frame went by */
  uint16_t code;    /* its status code (WS_CLOSE_NO_STATUS if it had none) */
} ws_frame_tracker;

/* Starts tracking a stream at a frame boundary. */
void ws_frame_tracker_init(ws_frame_tracker *t, uint64_t max_message);

/* Consumes all of data[0..len) (a header may be cut anywhere: the tracker keeps its part).
 * Returns 0, or the verdict on the first bad header completed in these bytes: KDS_ETOOBIG
 * (a data frame that takes its message over max_message) or KDS_EPROTO (ws_frame_parse_header
 * refused it); *bad is then where that header starts in data (0 if it began in an earlier
 * call). Tracking goes on past a bad header: later calls still find a close frame. */
int ws_frame_tracker_feed(ws_frame_tracker *t, const void *data, size_t len, size_t *bad);

/* ---- shared frames (broadcast) --------------------------------------------------------
 * A complete, unmasked, final server frame in one refcounted allocation (header + payload,
 * then a NUL so that the payload may be read as a C string). The payload is reachable for
 * other transports (long polling sends the same bytes). The uv_buf_t form of the
 * constructor, ws_frame_newv, is in net/ws.h (this header has no uv.h). */
typedef struct ws_frame ws_frame_t;

/* Builds a text or binary frame whose payload is a copy of data[0..len). Refcount 1.
 * Returns NULL if out of memory, for another opcode, or for a payload over 4 GiB. */
ws_frame_t *ws_frame_new(int opcode, const void *data, size_t len);

/* Builds a text or binary frame with room for `payload_len` payload bytes, for the caller to
 * fill through *payload before it shares the frame. Refcount 1. Returns NULL if out of memory,
 * for another opcode, or if payload_len is absurd (over SIZE_MAX / 2). */
ws_frame_t *ws_frame_alloc(int opcode, size_t payload_len, char **payload);

/* Reference counting (one thread only). ws_frame_unref frees at zero; NULL-safe. */
ws_frame_t *ws_frame_ref(ws_frame_t *f);
void ws_frame_unref(ws_frame_t *f);

/* The whole frame's bytes, and the payload alone; valid while a reference is held. */
const char *ws_frame_bytes(const ws_frame_t *f, size_t *len);
const char *ws_frame_payload(const ws_frame_t *f, size_t *len);

/* 1 if the frame is a binary frame, 0 if text. */
int ws_frame_is_binary(const ws_frame_t *f);

#endif
