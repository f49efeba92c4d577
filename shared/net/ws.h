/* ws.h: the one WebSocket driver: wslay's event API on a libuv stream, in server and client
 * mode, with the per-loop hub, the bounded output queue and the connection lifecycle.
 * The sans-I/O pieces it builds on are ws_frame.h (frames, shared broadcast frames) and
 * ws_handshake.h (accept key, 101 reply, client GET and response check); the client connect
 * is ws_client.h. This header includes all three, so that its users see the whole API.
 * Free of any server struct: used by kds-server, kds-tui and kds-bench. */
#ifndef KDS_WS_H
#define KDS_WS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <uv.h>

#include "buf.h"
#include "ws_frame.h"
#include "ws_handshake.h"

enum ws_role { WS_ROLE_SERVER = 0, WS_ROLE_CLIENT = 1 };

#define WS_DEFAULT_MAX_MESSAGE (1024u * 1024u)    /* bytes of one received message */
#define WS_MAX_MESSAGE_CAP (256u * 1024u * 1024u) /* larger max_message values are clamped */
#define WS_DEFAULT_MAX_QUEUE (4u * 1024u * 1024u) /* bytes waiting to be written */
#define WS_CLOSE_TIMEOUT_MS 5000                  /* how long a closing connection waits for the peer */

typedef struct ws ws_t;
typedef struct ws_hub ws_hub_t;

/* ---- hub: per-loop machinery shared by every connection ---------------------------
 * One hub per uv loop. It owns the read buffer all connections share (no per-connection
 * read buffer), a uv_prepare that flushes every connection written to during this loop
 * iteration just before the loop sleeps (so several frames for one socket become one
 * writev; what a read callback sends back is flushed when it returns), and an unref'd
 * timer that ends close handshakes the peer never finishes and frees the wslay context
 * of connections that went idle. A connection whose write is still in flight waits for
 * that write's completion, not for the flush; one written to during the flush itself is
 * flushed on the next loop iteration (which then does not sleep), so a flush always ends. */

/* Creates a hub on `loop`. Returns NULL when out of memory. */
ws_hub_t *ws_hub_new(uv_loop_t *loop);

/* The loop the hub runs on. */
uv_loop_t *ws_hub_loop(const ws_hub_t *hub);

/* Closes the hub's handles; its memory is freed in their close callbacks (run the loop once
 * more). Every connection of the hub must have reported on_close before. NULL-safe. */
void ws_hub_free(ws_hub_t *hub);

/* ---- a connection -------------------------------------------------------------------- */

/* Why a connection ended, given to on_close. */
typedef struct ws_close_info {
  /* 0 after a complete close handshake (or our close frame sent and the peer then closed
   * TCP); otherwise why it ended: KDS_EPROTO (bad frame from the peer, we sent 1002),
   * KDS_EINVAL (text that is not UTF-8, we sent 1007), KDS_ETOOBIG (message over
   * max_message, we sent 1009), KDS_EFULL (send queue over max_queue: a slow peer
   * dropped; pongs and close frames count as data do), UV_ETIMEDOUT (the peer did not finish the close
   * handshake), UV_EOF (the peer closed TCP without a close frame), KDS_ECLOSED (ws_abort), or any libuv
   * error. After a refusal (1002, 1007, 1009) the connection does not close TCP at once: it reads and drops
   * the peer's bytes until the peer's close frame, EOF or WS_CLOSE_TIMEOUT_MS, so that a reset cannot destroy
   * our close frame; err stays the refusal's reason. */
  int err;
  uint16_t code_received; /* the peer's close code; 0 no close frame, 1005 frame without code */
  uint16_t code_sent;     /* the code of the close frame we sent (1005: sent without a code);
                           * 0 if none was sent */
} ws_close_info;

typedef struct ws_callbacks {
  /* A complete message (fragments reassembled). Text is valid UTF-8 (checked; bad UTF-8
   * closes with 1007 and is never delivered). `data` is valid only during the call and is
   * not NUL-terminated. May call any ws_ function on `ws`, including ws_close/ws_abort. */
  void (*on_message)(ws_t *ws, int opcode, const char *data, size_t len);
  /* Exactly once per successful ws_start, after the stream is closed (uv_close done). The
   * ws is freed when it returns; the stream memory is the owner's to free from here (or
   * freed by the driver when ws_config.own_stream was set). Required. */
  void (*on_close)(ws_t *ws, const ws_close_info *info);
  /* Optional (NULL = none): a pong arrived (pings are answered automatically). */
  void (*on_pong)(ws_t *ws, const char *data, size_t len);
} ws_callbacks;

typedef struct ws_config {
  enum ws_role role;      /* server: frames from the peer must be masked; client: we mask */
  ws_hub_t *hub;          /* required; must outlive the connection */
  const ws_callbacks *cb; /* required; a table that outlives the connection (usually static) */
  void *data;             /* user pointer, see ws_data() */
  size_t max_message;     /* 0 = WS_DEFAULT_MAX_MESSAGE, at most WS_MAX_MESSAGE_CAP; a frame
                           * whose header takes a message over it: close 1009 at once */
  size_t max_queue;       /* 0 = WS_DEFAULT_MAX_QUEUE; bytes queued to be written (frames
                           * of every kind: data, pings, pongs, close); over it the peer
                           * is dropped (on_close with KDS_EFULL) */
  int own_stream;         /* 1: the driver free()s the stream after on_close */
} ws_config;

/* Starts driving an open, connected `stream` (an accepted or connected uv_tcp_t) as a
 * WebSocket. `prelude` (may be NULL/0) is written first, verbatim: the server's 101 reply,
 * so that it leaves in the same write as the first frames. `head` (may be NULL/0) is bytes
 * already read from the stream past the HTTP handshake; they are processed as the first
 * input (on a later loop iteration: no callback runs inside ws_start). Both are copied.
 * From success on, the driver owns the stream's data field, reading and closing; the stream
 * memory stays the caller's (see own_stream) and must stay valid until on_close.
 * Returns 0 and sets *out; KDS_EINVAL (missing hub/cb), KDS_ENOMEM, or a libuv error from
 * uv_read_start. On failure nothing was started: the caller still owns and closes the
 * stream, and no callback runs. */
int ws_start(ws_t **out, uv_stream_t *stream, const ws_config *cfg, const char *prelude, size_t prelude_len,
             const char *head, size_t head_len);

/* Queues one message (copied into a complete frame; client mode masks it with a fresh key
 * from the CSPRNG). Text must be valid UTF-8 (the caller's duty: it is not re-checked). Returns 0;
 * KDS_ECLOSED if the connection is closing or a close frame was sent; KDS_EFULL if the queue would exceed
 * max_queue (the connection is then dropped: on_close follows with err KDS_EFULL); KDS_ENOMEM; KDS_EINVAL
 * (bad opcode). */
int ws_send(ws_t *ws, int opcode, const void *data, size_t len);

/* Queues a pre-built frame shared by many connections (server role only: server frames are
 * unmasked). Takes one reference, dropped when the bytes are written or the connection ends;
 * the caller keeps its own reference. The bytes go out in order with ws_send's; all frames
 * queued in one loop iteration leave in one writev; a partial write queues the rest of the
 * same buffer (no copy). Returns 0; KDS_ECLOSED, KDS_EFULL (as ws_send, peer dropped),
 * KDS_EINVAL (client role), KDS_ENOMEM. On error no reference is taken. */
int ws_send_shared(ws_t *ws, ws_frame_t *frame);

/* Queues a ping with an optional payload (<= 125 bytes). Errors as ws_send, and KDS_EINVAL
 * for a payload over 125 bytes. */
int ws_ping(ws_t *ws, const void *data, size_t len);

/* Starts the closing handshake: queues a close frame with `code` (1000..4999; 0 = no code)
 * and `reason` (may be NULL; cut to 123 bytes), stops delivering messages, and ends the
 * connection once the peer answers, the peer closes TCP, or WS_CLOSE_TIMEOUT_MS passes.
 * A close frame that would take the queue over max_queue drops the peer instead (on_close
 * with KDS_EFULL).
 * Idempotent: later calls (and ws_send*) are ignored / refused. on_close follows. */
void ws_close(ws_t *ws, uint16_t code, const char *reason);

/* Ends the connection now without a close frame (queued bytes are dropped). Idempotent;
 * on_close follows with err (KDS_ECLOSED if err is 0). */
void ws_abort(ws_t *ws, int err);

/* Bytes queued and not yet written (including those in a write in flight). */
size_t ws_queued(const ws_t *ws);

/* 1 once ws_close/ws_abort ran or the connection is ending for any reason. */
int ws_is_closing(const ws_t *ws);

void *ws_data(const ws_t *ws);
void ws_set_data(ws_t *ws, void *data);
uv_stream_t *ws_stream(const ws_t *ws);

/* ---- shared frames (broadcast): see ws_frame.h ---------------------------------------- */

/* Builds a shared frame of `opcode` (text or binary) whose payload is the concatenation of
 * `nparts` buffers (e.g. "4" + a Socket.IO packet): the uv_buf_t form of ws_frame_new.
 * Refcount 1. Returns NULL if out of memory or bad opcode. */
ws_frame_t *ws_frame_newv(int opcode, const uv_buf_t *parts, unsigned nparts);

/* The client connect (ws_connect), last: it uses the types above. */
#include "ws_client.h"

#endif
