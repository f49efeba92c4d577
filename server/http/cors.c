/* cors.c: CORS headers and preflight (see cors.h), as the Node reference's cors(). */
#include "cors.h"

#include <stdlib.h>
#include <string.h>

#include "err.h"

int cors_init(cors_t *c, const char *list) {
  const char *p = list ? list : "";
  memset(c, 0, sizeof(*c));
  while (*p) {
    const char *end = strchr(p, ','), *s = p, *e;
    if (end == NULL) end = p + strlen(p);
    e = end;
    while (s < e && (*s == ' ' || *s == '\t')) s++;
    while (e > s && (e[-1] == ' ' || e[-1] == '\t')) e--;
    if (e - s == 1 && *s == '*') {
      c->any = 1;
    } else if (e > s) {
      char **v = realloc(c->origins, (c->n + 1) * sizeof(*v));
      if (v == NULL) goto fail;
      c->origins = v;
      if ((c->origins[c->n] = strndup(s, (size_t)(e - s))) == NULL) goto fail;
      c->n++;
    }
    p = *end ? end + 1 : end;
  }
  return 0;
fail:
  cors_release(c);
  return KDS_ENOMEM;
}

void cors_release(cors_t *c) {
  for (size_t i = 0; i < c->n; i++) free(c->origins[i]);
  free(c->origins);
  memset(c, 0, sizeof(*c));
}

static int origin_allowed(const cors_t *c, kds_slice origin) {
  if (c->any) return 1;
  for (size_t i = 0; i < c->n; i++)
    if (strlen(c->origins[i]) == origin.len && memcmp(c->origins[i], origin.ptr, origin.len) == 0) return 1;
  return 0;
}

int cors_add_headers(const cors_t *c, cors_scope scope, kds_slice origin, kds_buf *out) {
  int rc = 0;
  if (origin.ptr != NULL && origin_allowed(c, origin)) {
    if (c->any)
      rc = kds_buf_adds(out, "Access-Control-Allow-Origin: *\r\n");
    else
      rc = kds_buf_addf(out, "Access-Control-Allow-Origin: %.*s\r\n", (int)origin.len, origin.ptr);
    if (rc == 0)
      rc = kds_buf_adds(out, "Access-Control-Expose-Headers: Retry-After, Idempotent-Replayed\r\n");
  }
  if (rc == 0 && !c->any) rc = kds_buf_adds(out, "Vary: Origin\r\n");
  /* An explicit list is what a deployment that sends cookies or withCredentials polls
   * through (socket.io's `cors: {origin: [...], credentials: true}`); "*" cannot carry
   * credentials at all. */
  if (rc == 0 && !c->any && scope == CORS_SOCKETIO)
    rc = kds_buf_adds(out, "Access-Control-Allow-Credentials: true\r\n");
  return rc;
}

int cors_add_preflight(const cors_t *c, cors_scope scope, kds_slice req_headers, kds_buf *out) {
  int rc;
  (void)c;
  if (scope == CORS_REST)
    return kds_buf_adds(out,
                        "Access-Control-Allow-Methods: GET, POST, PATCH, DELETE\r\n"
                        "Access-Control-Allow-Headers: Authorization, Content-Type, Idempotency-Key\r\n"
                        "Access-Control-Max-Age: 600\r\n");
  /* The official server's `cors` reflects whatever headers the page asked for: a client's
   * extraHeaders (an auth header of a proxy, a tenant id) are its own business, and the
   * session is authenticated by the Socket.IO CONNECT, not by these headers. */
  rc = kds_buf_adds(out,
                    "Access-Control-Allow-Methods: GET,HEAD,PUT,PATCH,POST,DELETE\r\n"
                    "Vary: Access-Control-Request-Headers\r\n");
  if (rc == 0 && req_headers.len > 0)
    rc = kds_buf_addf(out, "Access-Control-Allow-Headers: %.*s\r\n", (int)req_headers.len, req_headers.ptr);
  if (rc == 0) rc = kds_buf_adds(out, "Access-Control-Max-Age: 600\r\n");
  return rc;
}
