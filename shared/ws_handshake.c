/* ws_handshake.c: the opening handshake (RFC 6455 4): accept keys, the 101 reply, the client's
 * GET, and the response check on llhttp. */
#include "ws_handshake.h"

#include <llhttp.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base64.h"
#include "err.h"
#include "http_token.h"

/* ---- keys and requests ------------------------------------------------------------------ */

static const char ws_guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

static int b64_char(int c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/';
}

/* A Sec-WebSocket-Key must be base64 of 16 bytes: 22 characters and "==". */
static int key_valid(const char *key, size_t len) {
  if (!key || len != WS_KEY_LEN || key[22] != '=' || key[23] != '=') return 0;
  for (size_t i = 0; i < 22; i++)
    if (!b64_char((unsigned char)key[i])) return 0;
  /* the last character before "==" carries 2 bits: its low 4 bits must be zero */
  return strchr("AQgw", key[21]) != NULL;
}

int ws_handshake_accept(const char *key, size_t key_len, char out[WS_ACCEPT_LEN + 1]) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int mdlen = 0;
  char in[WS_KEY_LEN + sizeof(ws_guid)];
  if (!key_valid(key, key_len)) return KDS_EINVAL;
  memcpy(in, key, key_len);
  memcpy(in + key_len, ws_guid, sizeof(ws_guid) - 1);
  if (EVP_Digest(in, key_len + sizeof(ws_guid) - 1, md, &mdlen, EVP_sha1(), NULL) != 1 || mdlen != 20)
    return KDS_EINVAL;
  base64_encode_to(out, md, 20, 0); /* 28 characters + NUL */
  return 0;
}

int ws_handshake_reply(kds_buf *out, const char *key, size_t key_len, const char *extra_headers) {
  char accept[WS_ACCEPT_LEN + 1];
  size_t mark = out->len;
  if (ws_handshake_accept(key, key_len, accept) < 0) return KDS_EINVAL;
  if (kds_buf_addf(out,
                   "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                   "Sec-WebSocket-Accept: %s\r\n%s\r\n",
                   accept, extra_headers ? extra_headers : "") < 0) {
    out->len = mark;
    if (out->base) out->base[mark] = '\0';
    return KDS_ENOMEM;
  }
  return 0;
}

int ws_handshake_key(char out[WS_KEY_LEN + 1]) {
  unsigned char raw[16];
  if (RAND_bytes(raw, sizeof(raw)) != 1) return KDS_EINVAL;
  base64_encode_to(out, raw, sizeof(raw), 0); /* 24 characters + NUL */
  return 0;
}

int ws_handshake_request(kds_buf *out, const char *host, const char *path, const char *key,
                         const char *extra_headers) {
  size_t mark = out->len;
  if (kds_buf_addf(out,
                   "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                   "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n%s\r\n",
                   path, host, key, extra_headers ? extra_headers : "") < 0) {
    out->len = mark;
    if (out->base) out->base[mark] = '\0';
    return KDS_ENOMEM;
  }
  return 0;
}

/* ---- the server's response ------------------------------------------------------------ */

enum { HS_H_OTHER, HS_H_UPGRADE, HS_H_CONNECTION, HS_H_ACCEPT };

struct ws_handshake {
  llhttp_t parser;
  char expect[WS_ACCEPT_LEN + 1];
  char field[32]; /* the current header name (longer names are none of ours) */
  size_t field_len;
  char value[128]; /* the current value of one of our headers */
  size_t value_len;
  int which;
  int got_upgrade, got_connection, got_accept;
  int status;
  int done;  /* head complete and valid */
  int error; /* a KDS_E code once failed */
  size_t total;
};

static int hs_on_field(llhttp_t *p, const char *at, size_t len) {
  ws_handshake_t *hs = p->data;
  size_t room = sizeof(hs->field) - 1 - hs->field_len;
  if (len > room) {
    len = room;
    hs->field_len = sizeof(hs->field); /* marks it as too long */
  }
  if (hs->field_len < sizeof(hs->field)) {
    memcpy(hs->field + hs->field_len, at, len);
    hs->field_len += len;
  }
  return 0;
}

static int hs_on_field_done(llhttp_t *p) {
  ws_handshake_t *hs = p->data;
  hs->which = HS_H_OTHER;
  if (hs->field_len < sizeof(hs->field)) {
    hs->field[hs->field_len] = '\0';
    if (strcasecmp(hs->field, "upgrade") == 0)
      hs->which = HS_H_UPGRADE;
    else if (strcasecmp(hs->field, "connection") == 0)
      hs->which = HS_H_CONNECTION;
    else if (strcasecmp(hs->field, "sec-websocket-accept") == 0)
      hs->which = HS_H_ACCEPT;
  }
  hs->field_len = 0;
  hs->value_len = 0;
  return 0;
}

static int hs_on_value(llhttp_t *p, const char *at, size_t len) {
  ws_handshake_t *hs = p->data;
  if (hs->which == HS_H_OTHER) return 0;
  if (len > sizeof(hs->value) - 1 - hs->value_len) return -1; /* absurd value for these */
  memcpy(hs->value + hs->value_len, at, len);
  hs->value_len += len;
  return 0;
}

static int hs_on_value_done(llhttp_t *p) {
  ws_handshake_t *hs = p->data;
  const char *v = hs->value;
  size_t n = hs->value_len;
  if (hs->which == HS_H_OTHER) return 0;
  hs->value[n] = '\0';
  while (*v == ' ' || *v == '\t') v++, n--;
  while (n && (v[n - 1] == ' ' || v[n - 1] == '\t')) n--;
  switch (hs->which) {
    case HS_H_UPGRADE:
      if (n == 9 && strncasecmp(v, "websocket", 9) == 0) hs->got_upgrade = 1;
      break;
    case HS_H_CONNECTION:
      if (http_token_has((kds_slice){v, n}, "upgrade")) hs->got_connection = 1;
      break;
    case HS_H_ACCEPT:
      hs->got_accept = n == WS_ACCEPT_LEN && memcmp(v, hs->expect, WS_ACCEPT_LEN) == 0 ? 1 : -1;
      break;
  }
  hs->which = HS_H_OTHER;
  return 0;
}

static int hs_on_headers_complete(llhttp_t *p) {
  ws_handshake_t *hs = p->data;
  hs->status = p->status_code;
  if (hs->status != 101 || !hs->got_upgrade || !hs->got_connection || hs->got_accept != 1) {
    hs->error = KDS_EPROTO;
    return -1;
  }
  hs->done = 1;
  return 2; /* no body: llhttp stops with HPE_PAUSED_UPGRADE right after the head */
}

static const llhttp_settings_t hs_settings = {
    .on_header_field = hs_on_field,
    .on_header_field_complete = hs_on_field_done,
    .on_header_value = hs_on_value,
    .on_header_value_complete = hs_on_value_done,
    .on_headers_complete = hs_on_headers_complete,
};

ws_handshake_t *ws_handshake_new(const char *key) {
  ws_handshake_t *hs;
  if (!key) return NULL;
  hs = calloc(1, sizeof(*hs));
  if (!hs) return NULL;
  if (ws_handshake_accept(key, strlen(key), hs->expect) < 0) {
    free(hs);
    return NULL;
  }
  llhttp_init(&hs->parser, HTTP_RESPONSE, &hs_settings);
  hs->parser.data = hs;
  return hs;
}

void ws_handshake_free(ws_handshake_t *hs) {
  free(hs);
}

int ws_handshake_status(const ws_handshake_t *hs) {
  return hs->status;
}

ssize_t ws_handshake_feed(ws_handshake_t *hs, const char *data, size_t len) {
  llhttp_errno_t e;
  if (hs->error) return hs->error;
  if (hs->done) return 0;
  e = llhttp_execute(&hs->parser, data, len);
  if (e == HPE_PAUSED_UPGRADE && hs->done) {
    size_t used = (size_t)(llhttp_get_error_pos(&hs->parser) - data);
    if (hs->total + used > WS_HANDSHAKE_MAX_HEAD) return hs->error = KDS_ETOOBIG;
    return (ssize_t)used;
  }
  if (e != HPE_OK) {
    if (!hs->status) hs->status = hs->parser.status_code;
    if (!hs->error) hs->error = KDS_EPROTO;
    return hs->error;
  }
  hs->total += len;
  if (hs->total > WS_HANDSHAKE_MAX_HEAD) return hs->error = KDS_ETOOBIG;
  return KDS_EAGAIN;
}
