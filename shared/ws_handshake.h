/* ws_handshake.h: the RFC 6455 opening handshake as bytes, with no I/O: the accept value for a
 * client's key, the server's 101 reply, the client's upgrade GET and an incremental check of
 * the server's response. The driver that then carries frames is net/ws.h. */
#ifndef KDS_WS_HANDSHAKE_H
#define KDS_WS_HANDSHAKE_H

#include <stddef.h>
#include <sys/types.h>

#include "buf.h"

#define WS_ACCEPT_LEN 28            /* base64 of a SHA-1 */
#define WS_KEY_LEN 24               /* base64 of 16 random bytes */
#define WS_HANDSHAKE_MAX_HEAD 16384 /* bytes of a response head ws_handshake_feed accepts */

/* Sec-WebSocket-Accept for a client's Sec-WebSocket-Key (RFC 6455 4.2.2): base64(SHA-1(key +
 * GUID)), written NUL-terminated into out. Returns 0, or KDS_EINVAL if the key is not 24
 * base64 characters (a valid key decodes to 16 bytes). */
int ws_handshake_accept(const char *key, size_t key_len, char out[WS_ACCEPT_LEN + 1]);

/* Appends the server's "101 Switching Protocols" reply for `key` to out, with optional
 * `extra_headers` (complete "Name: value\r\n" lines, may be NULL). Returns 0, KDS_EINVAL (bad
 * key), KDS_ENOMEM (out unchanged on error). */
int ws_handshake_reply(kds_buf *out, const char *key, size_t key_len, const char *extra_headers);

/* A fresh random Sec-WebSocket-Key from the CSPRNG, NUL-terminated. Returns 0 or KDS_EINVAL
 * if the CSPRNG failed. */
int ws_handshake_key(char out[WS_KEY_LEN + 1]);

/* Appends the client's upgrade GET for `path` (e.g. "/socket.io/?EIO=4&transport=websocket")
 * to out. `host` is the Host header value ("127.0.0.1:3000"); extra_headers as above.
 * Returns 0 or KDS_ENOMEM (out unchanged). */
int ws_handshake_request(kds_buf *out, const char *host, const char *path, const char *key,
                         const char *extra_headers);

/* Incremental check of the server's handshake response (llhttp). */
typedef struct ws_handshake ws_handshake_t;

/* A checker expecting the accept value for `key`. NULL if out of memory or bad key. */
ws_handshake_t *ws_handshake_new(const char *key);
void ws_handshake_free(ws_handshake_t *hs); /* NULL-safe */

/* Feeds response bytes. Returns the bytes consumed (>= 0) once the response head is complete
 * and it is a valid upgrade (101, Upgrade: websocket, Connection: upgrade, the right
 * Sec-WebSocket-Accept): bytes after that are WebSocket data. Returns KDS_EAGAIN when more
 * is needed (all bytes consumed), KDS_EPROTO for a bad response or a non-101 status
 * (ws_handshake_status tells which), KDS_ETOOBIG if the head exceeds WS_HANDSHAKE_MAX_HEAD.
 * Once failed, it keeps returning the same error. */
ssize_t ws_handshake_feed(ws_handshake_t *hs, const char *data, size_t len);

/* The HTTP status of the response (0 until known). */
int ws_handshake_status(const ws_handshake_t *hs);

#endif
