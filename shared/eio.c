/* eio.c: Engine.IO v4 packet codec (see eio.h). */
#include "eio.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <math.h>
#include <openssl/rand.h>
#include <string.h>

#include "base64.h"
#include "err.h"

int eio_packet_decode(const char *data, size_t len, int text, eio_packet *out, kds_buf *scratch) {
  char c;
  if (!text) {
    out->type = EIO_MESSAGE;
    out->binary = 1;
    out->data.ptr = data;
    out->data.len = len;
    return 0;
  }
  if (len == 0) return KDS_EPROTO;
  c = data[0];
  if (c == 'b') {
    int rc;
    if (scratch == NULL) return KDS_EPROTO;
    kds_buf_reset(scratch);
    rc = eio_base64_decode(scratch, data + 1, len - 1);
    if (rc != 0) return rc;
    out->type = EIO_MESSAGE;
    out->binary = 1;
    out->data.ptr = scratch->base ? scratch->base : "";
    out->data.len = scratch->len;
    return 0;
  }
  if (c < '0' || c > '6') return KDS_EPROTO;
  out->type = (eio_type)(c - '0');
  out->binary = 0;
  out->data.ptr = data + 1;
  out->data.len = len - 1;
  return 0;
}

int eio_packet_encode(kds_buf *out, eio_type type, int binary, const void *data, size_t len) {
  int rc;
  if ((int)type < EIO_OPEN || (int)type > EIO_NOOP) return KDS_EINVAL;
  if (binary) {
    if (type != EIO_MESSAGE) return KDS_EINVAL;
    if ((rc = kds_buf_addc(out, 'b')) != 0) return rc;
    return eio_base64_encode(out, data, len);
  }
  if ((rc = kds_buf_addc(out, (char)('0' + type))) != 0) return rc;
  return kds_buf_add(out, data, len);
}

int eio_payload_next(const char *payload, size_t len, size_t *pos, kds_slice *rec) {
  const char *start, *sep;
  if (*pos > len) return 0;
  start = payload + *pos;
  sep = len - *pos ? memchr(start, EIO_SEPARATOR, len - *pos) : NULL;
  rec->ptr = start;
  if (sep) {
    rec->len = (size_t)(sep - start);
    *pos += rec->len + 1;
  } else {
    rec->len = len - *pos;
    *pos = len + 1;
  }
  return 1;
}

int eio_payload_add(kds_buf *out, const char *packet, size_t len) {
  int rc;
  if (out->len && (rc = kds_buf_addc(out, EIO_SEPARATOR)) != 0) return rc;
  return kds_buf_add(out, packet, len);
}

int eio_handshake_encode(kds_buf *out, const eio_handshake *hs) {
  const char *p;
  for (p = hs->sid; *p; p++)
    if (*p == '"' || *p == '\\' || (unsigned char)*p < 0x20) return KDS_EINVAL;
  return kds_buf_addf(out,
                      "0{\"sid\":\"%s\",\"upgrades\":[%s],\"pingInterval\":%" PRId64
                      ",\"pingTimeout\":%" PRId64 ",\"maxPayload\":%" PRId64 "}",
                      hs->sid, hs->upgrade_websocket ? "\"websocket\"" : "", hs->ping_interval,
                      hs->ping_timeout, hs->max_payload);
}

static int get_ms(const cJSON *o, const char *key, int64_t *out, int optional, int64_t dflt) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
  double d;
  if (v == NULL && optional) {
    *out = dflt;
    return 0;
  }
  if (!cJSON_IsNumber(v)) return KDS_EPROTO;
  d = v->valuedouble;
  if (!isfinite(d) || d < 0 || d > 9007199254740991.0) return KDS_EPROTO;
  *out = (int64_t)d;
  return 0;
}

int eio_handshake_decode(const char *data, size_t len, eio_handshake *out) {
  cJSON *root = cJSON_ParseWithLength(data, len);
  const cJSON *sid, *upg, *u;
  int rc = KDS_EPROTO;
  memset(out, 0, sizeof(*out));
  if (!cJSON_IsObject(root)) goto out;
  sid = cJSON_GetObjectItemCaseSensitive(root, "sid");
  if (!cJSON_IsString(sid) || strlen(sid->valuestring) >= sizeof(out->sid) || !sid->valuestring[0]) goto out;
  strcpy(out->sid, sid->valuestring);
  upg = cJSON_GetObjectItemCaseSensitive(root, "upgrades");
  if (upg != NULL && !cJSON_IsArray(upg)) goto out;
  cJSON_ArrayForEach(u, upg) {
    if (cJSON_IsString(u) && strcmp(u->valuestring, "websocket") == 0) out->upgrade_websocket = 1;
  }
  if (get_ms(root, "pingInterval", &out->ping_interval, 0, 0) != 0 ||
      get_ms(root, "pingTimeout", &out->ping_timeout, 0, 0) != 0 ||
      get_ms(root, "maxPayload", &out->max_payload, 1, 1000000) != 0)
    goto out;
  rc = 0;
out:
  cJSON_Delete(root);
  return rc;
}

int eio_base64_encode(kds_buf *out, const void *data, size_t len) {
  return base64_encode(out, data, len, 0);
}

int eio_base64_decode(kds_buf *out, const char *s, size_t len) {
  return base64_decode(out, s, len, 0);
}

int eio_id_generate(char *out) {
  unsigned char raw[15];
  if (RAND_bytes(raw, sizeof(raw)) != 1) return KDS_EINVAL;
  base64_encode_to(out, raw, sizeof(raw), BASE64_URL); /* 20 characters, no padding */
  out[EIO_ID_LEN] = '\0';
  return 0;
}
