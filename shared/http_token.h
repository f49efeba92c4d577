/* http_token.h: HTTP header values that are comma-separated token lists (RFC 9110 5.6.1),
 * such as "Connection: keep-alive, Upgrade" or "Upgrade: websocket". Sans-I/O, no copies:
 * items come back as slices of the value. */
#ifndef KDS_HTTP_TOKEN_H
#define KDS_HTTP_TOKEN_H

#include <stddef.h>

#include "buf.h"

/* The next non-empty item of `list` at or after *pos, with blanks (SP, HTAB) around it
 * trimmed: returns 1, sets *item (a slice of list) and moves *pos past the item's comma;
 * returns 0 when no item is left. Start with *pos = 0. A NULL list.ptr is an empty list. */
int http_token_next(kds_slice list, size_t *pos, kds_slice *item);

/* 1 when `token` (NUL-terminated) is one whole item of `list`, ASCII case-insensitive:
 * "websocket" is in "h2c, WebSocket" but not in "notwebsocket" or "web socket"; else 0. */
int http_token_has(kds_slice list, const char *token);

#endif
