/* api.c: REST handlers: authenticate -> check the role -> parse -> DB thread -> answer. */
#include "api.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "auth.h"
#include "db.h"
#include "http.h"
#include "log.h"
#include "metrics.h"
#include "order.h"
#include "ordersvc.h"
#include "server.h"

#define ROLE_ADMIN 1u
#define ROLE_CASHIER 2u
#define ROLE_KITCHEN 4u
#define ROLE_DISPLAY 8u /* SPEC 10.6: a wall screen; read-only */
#define ROLE_ANY 15u
#define IDEMPOTENCY_KEY_MAX 255

typedef struct api_call api_call;
typedef void (*api_next)(api_call *c);

/* One REST request in progress: owned by its handler chain until the answer. */
struct api_call {
  http_req_t *req;
  server_t *srv;
  kds_user user;
  char token_hash[AUTH_HASH_SIZE];
  unsigned roles;
  api_next next;
  /* login */
  char *username;
  char *password;
  char address[64];
  char token[AUTH_TOKEN_SIZE];
  int64_t expires_at;
};

/* ---- answers (each frees the call) ------------------------------------------------------------ */

static void call_free(api_call *c) {
  free(c->username);
  if (c->password) OPENSSL_cleanse(c->password, strlen(c->password));
  free(c->password);
  OPENSSL_cleanse(c->token, sizeof(c->token));
  free(c);
}

static void reply_json(api_call *c, int status, const char *headers, const char *json, size_t len) {
  http_reply_json(c->req, status, headers, json, len);
  call_free(c);
}

static void reply_err(api_call *c, const kds_err *e) {
  http_reply_error(c->req, e);
  call_free(c);
}

static void reply_no_content(api_call *c) {
  http_reply(c->req, 204, NULL, NULL, NULL, 0);
  call_free(c);
}

/* A request the DB thread could not take (shutting down, queue full). */
static void reply_unavailable(api_call *c, int rc) {
  kds_err e;
  /* while shutting down this is expected for every late request: keep the log quiet */
  kds_log(rc == KDS_ECLOSED ? KDS_LOG_DEBUG : KDS_LOG_WARN, "api: %s %.*s refused: %s", c->req->method_name,
          (int)c->req->path.len, c->req->path.ptr, kds_strerror(rc));
  if (rc == KDS_ENOMEM) {
    kds_err_set(&e, 500, "internal_error", NULL,
                "the server failed to handle this request; the error is logged");
  } else {
    kds_err_set(&e, 503, "unavailable", NULL, "the server is busy or shutting down; try again");
    e.retry_after = 1;
  }
  reply_err(c, &e);
}

/* A DB request's result as an answer with `status` on success. */
static void reply_result(api_call *c, db_req *r, int status) {
  kds_err e;
  if (r->rc == 0) {
    reply_json(c, status, NULL, r->json.base, r->json.len);
  } else if (r->rc == KDS_EREQUEST) {
    reply_err(c, &r->err);
  } else {
    log_error("api: %s %.*s failed: %s", c->req->method_name, (int)c->req->path.len, c->req->path.ptr,
              kds_strerror(r->rc));
    kds_err_set(&e, 500, "internal_error", NULL,
                "the server failed to handle this request; the error is logged");
    reply_err(c, &e);
  }
}

/* ---- authentication ------------------------------------------------------------------------------ */

static int role_bit(const char *role) {
  if (strcmp(role, "admin") == 0) return ROLE_ADMIN;
  if (strcmp(role, "cashier") == 0) return ROLE_CASHIER;
  if (strcmp(role, "kitchen") == 0) return ROLE_KITCHEN;
  if (strcmp(role, "display") == 0) return ROLE_DISPLAY;
  return 0;
}

/* Runs the call's next step if its user has one of its roles; 403 otherwise. */
static void authorised(api_call *c) {
  kds_err e;
  if (!(role_bit(c->user.role) & c->roles)) {
    kds_err_set(&e, 403, "forbidden", NULL, "this needs the role %s",
                c->roles == ROLE_ADMIN ? "admin" : "cashier or admin");
    reply_err(c, &e);
    return;
  }
  c->next(c);
}

static void on_token(void *ud, int rc, const kds_user *user) {
  api_call *c = ud;
  kds_err e;
  if (rc == 0) {
    c->user = *user;
    authorised(c);
  } else if (rc == KDS_ENOTFOUND) {
    reply_err(c,
              (kds_err_set(&e, 401, "invalid_token", NULL, "the token is invalid, expired or revoked"), &e));
  } else {
    reply_unavailable(c, rc);
  }
}

/* A blank for the reference's /^Bearer\s+(\S+)\s*$/i: Node reads header bytes as Latin-1,
 * so besides space and tab (the only other \s a header value can hold) NBSP (0xA0) is one. */
static int bearer_blank(char c) {
  return c == ' ' || c == '\t' || (unsigned char)c == 0xA0;
}

/* `Authorization: Bearer <token>` (case-insensitive scheme, one token, blanks after). Copies
 * the token into out (size AUTH_TOKEN_MAX + 1); 0, or -1 (no bearer token), or 1 (a token
 * too long to be one of ours: invalid, without a lookup). */
static int bearer(const http_req_t *req, char *out) {
  kds_slice h = http_req_header(req, "authorization");
  size_t i = 6, start, end;
  if (h.ptr == NULL || h.len < 7 || strncasecmp(h.ptr, "Bearer", 6) != 0) return -1;
  if (!bearer_blank(h.ptr[i])) return -1;
  while (i < h.len && bearer_blank(h.ptr[i])) i++;
  start = i;
  while (i < h.len && !bearer_blank(h.ptr[i])) i++;
  end = i;
  while (i < h.len && bearer_blank(h.ptr[i])) i++;
  if (i != h.len || end == start) return -1;
  if (end - start > AUTH_TOKEN_MAX) return 1;
  memcpy(out, h.ptr + start, end - start);
  out[end - start] = '\0';
  return 0;
}

/* Starts a call for `req`: authenticates, checks `roles`, then runs `next`. */
static void authenticate(http_req_t *req, server_t *srv, unsigned roles, api_next next) {
  char token[AUTH_TOKEN_MAX + 1];
  api_call *c = calloc(1, sizeof(*c));
  kds_err e;
  int rc;
  if (c == NULL) {
    http_reply_error(req, (kds_err_set(&e, 500, "internal_error", NULL, "out of memory"), &e));
    return;
  }
  c->req = req;
  c->srv = srv;
  c->roles = roles;
  c->next = next;
  if ((rc = bearer(req, token)) != 0) {
    if (rc < 0)
      kds_err_set(&e, 401, "unauthorized", NULL, "a bearer token is required");
    else
      kds_err_set(&e, 401, "invalid_token", NULL, "the token is invalid, expired or revoked");
    reply_err(c, &e);
    return;
  }
  if (auth_token_cached(srv->auth, token, &c->user, c->token_hash) == 0) {
    authorised(c);
    return;
  }
  if ((rc = auth_token_lookup(srv->auth, token, on_token, c)) != 0) reply_unavailable(c, rc);
}

/* Parses the JSON object body into *body; on failure answers and returns -1. */
static int json_body(api_call *c, cJSON **body) {
  kds_err e;
  if (http_req_json_body(c->req, body, &e) != 0) {
    reply_err(c, &e);
    return -1;
  }
  return 0;
}

/* Route parameter i as the reference's handlers see it: percent-decoded, invalid UTF-8 as
 * U+FFFD, a NUL as C0 80 (order.h), so that "INV-...%00x" is not cut short into a real
 * invoice. `out` is NUL-terminated. 0 or KDS_ENOMEM. */
static int param_text(const api_call *c, int i, kds_buf *out) {
  kds_slice v = http_req_param(c->req, i);
  kds_buf_reset(out);
  return order_text_clean(out, v.ptr ? v.ptr : "", v.len, 1);
}

static void submit(api_call *c, db_req *r) {
  int rc = db_submit(c->srv->db, r);
  if (rc) reply_unavailable(c, rc);
}

/* A db request whose answer is the call's: `op` with this call as ud. */
static db_req *new_req(api_call *c, db_op op, db_cb cb) {
  db_req *r = db_req_new(op, cb, c);
  if (r) r->user = c->user;
  return r;
}

/* ---- auth routes ---------------------------------------------------------------------------------- */

static void on_session_saved(db_req *r) {
  api_call *c = r->ud;
  kds_buf b = KDS_BUF_INIT;
  char expires[ORDER_TIME_SIZE];
  if (r->rc != 0) {
    reply_result(c, r, 200);
    return;
  }
  auth_token_remember(c->srv->auth, c->token_hash, &c->user, c->expires_at);
  order_local_iso(c->expires_at, expires);
  if (kds_buf_adds(&b, "{\"token\":\"") || kds_buf_adds(&b, c->token) ||
      kds_buf_adds(&b, "\",\"expires_at\":\"") || kds_buf_adds(&b, expires) ||
      kds_buf_addf(&b, "\",\"user\":{\"id\":%" PRId64 ",\"username\":", c->user.id) ||
      order_json_str(&b, c->user.username, strlen(c->user.username)) || kds_buf_adds(&b, ",\"role\":") ||
      order_json_str(&b, c->user.role, strlen(c->user.role)) ||
      (c->user.outlet_id ? kds_buf_addf(&b, ",\"outlet_id\":%" PRId64 "}}", c->user.outlet_id)
                         : kds_buf_adds(&b, ",\"outlet_id\":null}}"))) {
    kds_buf_release(&b);
    reply_unavailable(c, KDS_ENOMEM);
    return;
  }
  reply_json(c, 200, NULL, b.base, b.len);
  OPENSSL_cleanse(b.base, b.len);
  kds_buf_release(&b);
}

static void on_password(void *ud, int ok) {
  api_call *c = ud;
  kds_err e;
  db_req *r;
  if (!ok) {
    auth_login_failed(c->srv->auth, c->address);
    metrics_inc(c->srv, METRICS_LOGIN_FAILURES);
    log_info("auth: failed login for \"%s\" from %s", c->username, c->address);
    reply_err(c, (kds_err_set(&e, 401, "invalid_credentials", NULL, "wrong username or password"), &e));
    return;
  }
  if (auth_token_new(c->token, c->token_hash) != 0 ||
      (r = new_req(c, DB_TOKEN_ADD, on_session_saved)) == NULL) {
    reply_unavailable(c, KDS_ENOMEM);
    return;
  }
  c->expires_at = order_now_ms() + AUTH_SESSION_TTL_MS;
  memcpy(r->in.token_add.token_hash, c->token_hash, AUTH_HASH_SIZE);
  r->in.token_add.user_id = c->user.id;
  r->in.token_add.device = 0; /* a login session */
  r->in.token_add.expires_at = c->expires_at;
  submit(c, r);
}

static void on_login_user(db_req *r) {
  api_call *c = r->ud;
  const char *stored = NULL;
  int rc;
  if (r->rc == 0) {
    c->user = r->found;
    stored = r->password_hash;
  } else if (r->rc != KDS_ENOTFOUND) {
    reply_result(c, r, 200);
    return;
  }
  /* unknown users are checked against a dummy hash: both take as long */
  if ((rc = auth_password_verify(c->srv->loop, c->password, r->rc == 0 ? stored : NULL, on_password, c)) != 0)
    reply_unavailable(c, rc);
}

static void h_login(http_req_t *req, void *ud) {
  server_t *srv = ud;
  api_call *c = calloc(1, sizeof(*c));
  cJSON *body = NULL;
  const cJSON *user, *pass;
  kds_err e;
  db_req *r;
  int wait;
  if (c == NULL) {
    http_reply_error(req, (kds_err_set(&e, 500, "internal_error", NULL, "out of memory"), &e));
    return;
  }
  c->req = req;
  c->srv = srv;
  snprintf(c->address, sizeof(c->address), "%s", req->peer);
  if (json_body(c, &body) != 0) return;
  if ((wait = auth_login_retry_after(srv->auth, c->address)) != 0) {
    cJSON_Delete(body);
    metrics_inc(srv, METRICS_RATE_LIMITED);
    kds_err_set(&e, 429, "rate_limited", NULL, "too many requests; try again in %d s", wait);
    e.retry_after = wait;
    reply_err(c, &e);
    return;
  }
  user = cJSON_GetObjectItemCaseSensitive(body, "username");
  pass = cJSON_GetObjectItemCaseSensitive(body, "password");
  if (!cJSON_IsString(user) || !*user->valuestring) {
    kds_err_set(&e, 422, "validation_failed", "username", "username is required");
  } else if (!cJSON_IsString(pass) || !*pass->valuestring) {
    kds_err_set(&e, 422, "validation_failed", "password", "password is required");
  } else {
    c->username = strdup(user->valuestring);
    c->password = strdup(pass->valuestring);
    e.status = 0;
  }
  if (cJSON_IsString(pass)) OPENSSL_cleanse(pass->valuestring, strlen(pass->valuestring));
  cJSON_Delete(body);
  if (e.status) {
    reply_err(c, &e);
    return;
  }
  if (c->username == NULL || c->password == NULL ||
      (r = new_req(c, DB_USER_BY_NAME, on_login_user)) == NULL) {
    reply_unavailable(c, KDS_ENOMEM);
    return;
  }
  r->in.user_by_name.name = strdup(c->username);
  if (r->in.user_by_name.name == NULL) {
    db_req_free(r);
    reply_unavailable(c, KDS_ENOMEM);
    return;
  }
  submit(c, r);
}

static void on_revoked(db_req *r) {
  api_call *c = r->ud;
  if (r->rc != 0) {
    reply_result(c, r, 204);
    return;
  }
  reply_no_content(c);
}

static void logout(api_call *c) {
  db_req *r;
  auth_token_forget(c->srv->auth, c->token_hash); /* stops working at once */
  if ((r = new_req(c, DB_TOKEN_REVOKE, on_revoked)) == NULL) {
    reply_unavailable(c, KDS_ENOMEM);
    return;
  }
  memcpy(r->in.token.token_hash, c->token_hash, AUTH_HASH_SIZE);
  submit(c, r);
}

static void h_logout(http_req_t *req, void *ud) {
  authenticate(req, ud, ROLE_ANY, logout);
}

/* ---- menu ------------------------------------------------------------------------------------------- */

static void on_ok200(db_req *r) {
  reply_result(r->ud, r, 200);
}

static void on_ok201(db_req *r) {
  reply_result(r->ud, r, 201);
}

/* A request without input: `op`, answered 200. */
static void simple_get(api_call *c, db_op op) {
  db_req *r = new_req(c, op, on_ok200);
  if (r == NULL) {
    reply_unavailable(c, KDS_ENOMEM);
    return;
  }
  submit(c, r);
}

/* A request with the JSON body: `op` (a menu add, or DB_PRODUCT_UPDATE of product `id`,
 * written `idtext` in the path), answered with `status` (201 or 200). */
static void body_op(api_call *c, db_op op, int status, int64_t id, const char *idtext) {
  cJSON *body;
  db_req *r;
  if (json_body(c, &body) != 0) return;
  if ((r = new_req(c, op, status == 201 ? on_ok201 : on_ok200)) == NULL) {
    cJSON_Delete(body);
    reply_unavailable(c, KDS_ENOMEM);
    return;
  }
  if (op == DB_PRODUCT_UPDATE) {
    r->in.product_update.body = body;
    r->in.product_update.id = id;
    if (idtext && (r->in.product_update.id_text = strdup(idtext)) == NULL) {
      db_req_free(r);
      reply_unavailable(c, KDS_ENOMEM);
      return;
    }
  } else {
    r->in.menu_add.body = body;
  }
  submit(c, r);
}

static void categories_get(api_call *c) {
  simple_get(c, DB_CATEGORY_LIST);
}

static void categories_post(api_call *c) {
  body_op(c, DB_CATEGORY_ADD, 201, 0, NULL);
}

static void products_get(api_call *c) {
  simple_get(c, DB_PRODUCT_LIST);
}

static void products_post(api_call *c) {
  body_op(c, DB_PRODUCT_ADD, 201, 0, NULL);
}

static void products_patch(api_call *c) {
  kds_buf id = KDS_BUF_INIT;
  int64_t n = 0;
  int digits;
  if (param_text(c, 0, &id) != 0) {
    kds_buf_release(&id);
    reply_unavailable(c, KDS_ENOMEM);
    return;
  }
  digits = id.len > 0 && id.len <= 15;
  for (size_t i = 0; i < id.len && digits; i++) digits = id.base[i] >= '0' && id.base[i] <= '9';
  if (digits) n = strtoll(id.base, NULL, 10);
  body_op(c, DB_PRODUCT_UPDATE, 200, n, id.base);
  kds_buf_release(&id);
}

static void h_categories_get(http_req_t *req, void *ud) {
  authenticate(req, ud, ROLE_ANY, categories_get);
}
static void h_categories_post(http_req_t *req, void *ud) {
  authenticate(req, ud, ROLE_ADMIN, categories_post);
}
static void h_products_get(http_req_t *req, void *ud) {
  authenticate(req, ud, ROLE_ANY, products_get);
}
static void h_products_post(http_req_t *req, void *ud) {
  authenticate(req, ud, ROLE_ADMIN, products_post);
}
static void h_products_patch(http_req_t *req, void *ud) {
  authenticate(req, ud, ROLE_ADMIN, products_patch);
}

/* ---- orders ------------------------------------------------------------------------------------------ */

static void on_order(void *ud, int rc, const kds_err *err, const char *json, size_t len) {
  api_call *c = ud;
  if (rc == 0)
    reply_json(c, 200, NULL, json, len);
  else
    reply_err(c, err);
}

static void on_void(void *ud, int rc, const kds_err *err, const char *json, size_t len) {
  api_call *c = ud;
  if (rc == 0)
    reply_no_content(c);
  else
    reply_err(c, err);
}

static void on_created(void *ud, int rc, const kds_err *err, const char *json, size_t len, int replayed) {
  api_call *c = ud;
  if (rc != 0)
    reply_err(c, err);
  else if (replayed)
    reply_json(c, 200, "Idempotent-Replayed: true\r\n", json, len);
  else
    reply_json(c, 201, NULL, json, len); /* after the commit is durable */
}

static void orders_post(api_call *c) {
  kds_buf key = KDS_BUF_INIT;
  cJSON *body;
  kds_err e;
  int wait, rc, has_key;
  if ((wait = auth_order_admit(c->srv->auth, c->user.id)) != 0) {
    metrics_inc(c->srv, METRICS_RATE_LIMITED);
    kds_err_set(&e, 429, "rate_limited", NULL, "too many requests; try again in %d s", wait);
    e.retry_after = wait;
    reply_err(c, &e);
    return;
  }
  if (json_body(c, &body) != 0) return;
  /* a repeated header is one key, its values joined with ", ", as Node reads it */
  if ((has_key = http_req_header_joined(c->req, "idempotency-key", &key)) < 0) {
    cJSON_Delete(body);
    reply_unavailable(c, KDS_ENOMEM);
    return;
  }
  if (has_key && (key.len < 1 || key.len > IDEMPOTENCY_KEY_MAX || memchr(key.base, '\0', key.len))) {
    kds_buf_release(&key);
    cJSON_Delete(body);
    kds_err_set(&e, 400, "invalid_idempotency_key", "Idempotency-Key",
                "Idempotency-Key must be 1 to %d characters", IDEMPOTENCY_KEY_MAX);
    reply_err(c, &e);
    return;
  }
  rc = ordersvc_create(c->srv, &c->user, body, has_key ? key.base : NULL, on_created, c);
  kds_buf_release(&key);
  if (rc != 0) reply_unavailable(c, rc);
}

/* Query parameter `name` with every occurrence joined by ',' (as the reference reads a
 * repeated parameter), decoded, into `out`. 0, KDS_ENOTFOUND or KDS_ENOMEM. */
static int query_joined(const http_req_t *req, const char *name, kds_buf *out) {
  const char *p = req->query.ptr, *end = p ? p + req->query.len : NULL;
  size_t nlen = strlen(name);
  kds_buf key = KDS_BUF_INIT;
  int found = 0, rc = 0;
  kds_buf_reset(out);
  while (p && p < end && rc == 0) {
    const char *amp = memchr(p, '&', (size_t)(end - p));
    const char *eq;
    if (amp == NULL) amp = end;
    eq = memchr(p, '=', (size_t)(amp - p));
    kds_buf_reset(&key);
    rc = http_pct_decode(&key, p, (size_t)((eq ? eq : amp) - p), 1);
    if (rc == 0 && key.len == nlen && memcmp(key.base, name, nlen) == 0) {
      if (found) rc = kds_buf_addc(out, ',');
      if (rc == 0 && eq) rc = http_pct_decode(out, eq + 1, (size_t)(amp - eq - 1), 1);
      found = 1;
    }
    p = amp + 1;
  }
  if (rc == 0 && found) { /* as text the reference sees: U+FFFD for bad UTF-8, NUL as C0 80 */
    kds_buf_reset(&key);
    rc = order_text_clean(&key, out->base ? out->base : "", out->len, 1);
    kds_buf_reset(out);
    if (rc == 0) rc = kds_buf_add(out, key.base, key.len);
    if (rc == 0) rc = kds_buf_grow(out, 0); /* a value, even empty, is a string */
  }
  kds_buf_release(&key);
  return rc ? rc : found ? 0 : KDS_ENOTFOUND;
}

static void orders_get(api_call *c) {
  static const char *const names[] = {"status", "date", "limit", "before"};
  kds_buf v[4];
  const char *vals[4];
  ordersvc_query q;
  kds_err e;
  int rc = 0;
  for (int i = 0; i < 4; i++) {
    kds_buf_init(&v[i]);
    int qr = query_joined(c->req, names[i], &v[i]);
    if (qr == KDS_ENOMEM) rc = qr;
    vals[i] = qr == 0 ? v[i].base : NULL;
  }
  if (rc == 0) rc = ordersvc_query_parse(vals[0], vals[1], vals[2], vals[3], &q, &e);
  for (int i = 0; i < 4; i++) kds_buf_release(&v[i]);
  if (rc == KDS_EREQUEST) {
    reply_err(c, &e);
    return;
  }
  if (rc != 0 || (rc = ordersvc_list(c->srv, &c->user, &q, on_order, c)) != 0) {
    ordersvc_query_release(&q);
    reply_unavailable(c, rc);
  }
}

static void order_get(api_call *c) {
  kds_buf inv = KDS_BUF_INIT;
  int rc = param_text(c, 0, &inv);
  if (rc == 0) rc = ordersvc_get(c->srv, &c->user, inv.base, on_order, c);
  kds_buf_release(&inv);
  if (rc) reply_unavailable(c, rc);
}

static void order_delete(api_call *c) {
  kds_buf inv = KDS_BUF_INIT;
  int rc = param_text(c, 0, &inv);
  if (rc == 0) rc = ordersvc_void(c->srv, &c->user, inv.base, on_void, c);
  kds_buf_release(&inv);
  if (rc) reply_unavailable(c, rc);
}

static void order_status(api_call *c) {
  kds_buf inv = KDS_BUF_INIT;
  cJSON *body;
  const cJSON *status;
  int rc;
  if (json_body(c, &body) != 0) return;
  status = cJSON_GetObjectItemCaseSensitive(body, "status");
  rc = param_text(c, 0, &inv);
  if (rc == 0)
    rc = ordersvc_change_status(c->srv, &c->user, inv.base,
                                cJSON_IsString(status) ? status->valuestring : NULL, NULL, on_order, c);
  kds_buf_release(&inv);
  cJSON_Delete(body);
  if (rc) reply_unavailable(c, rc);
}

/* true/false as 1/0; anything else (absent too) -1, which the rules refuse with 422. */
static int bool_field(const cJSON *body, const char *key) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(body, key);
  return cJSON_IsBool(v) ? cJSON_IsTrue(v) : -1;
}

static void order_priority(api_call *c) {
  kds_buf inv = KDS_BUF_INIT;
  cJSON *body;
  int rc;
  if (json_body(c, &body) != 0) return;
  rc = param_text(c, 0, &inv);
  if (rc == 0) rc = ordersvc_set_rush(c->srv, &c->user, inv.base, bool_field(body, "rush"), on_order, c);
  kds_buf_release(&inv);
  cJSON_Delete(body);
  if (rc) reply_unavailable(c, rc);
}

/* The line position of the path: 1..99999 in plain digits, else 0 (no such line: 404). */
static int64_t path_line(const api_call *c) {
  kds_slice v = http_req_param(c->req, 1);
  int64_t n = 0;
  if (v.len == 0 || v.len > 5) return 0;
  for (size_t i = 0; i < v.len; i++) {
    if (v.ptr[i] < '0' || v.ptr[i] > '9') return 0;
    n = n * 10 + (v.ptr[i] - '0');
  }
  return n;
}

static void order_line_patch(api_call *c) {
  kds_buf inv = KDS_BUF_INIT;
  cJSON *body;
  int rc;
  if (json_body(c, &body) != 0) return;
  rc = param_text(c, 0, &inv);
  if (rc == 0)
    rc = ordersvc_line_done(c->srv, &c->user, inv.base, path_line(c), bool_field(body, "done"), 1, NULL,
                            on_order, c);
  kds_buf_release(&inv);
  cJSON_Delete(body);
  if (rc) reply_unavailable(c, rc);
}

static void recall_get(api_call *c) {
  int rc = ordersvc_recall(c->srv, &c->user, on_order, c);
  if (rc) reply_unavailable(c, rc);
}

static void stats_get(api_call *c) {
  kds_buf date = KDS_BUF_INIT, outlet = KDS_BUF_INIT;
  int64_t outlet_id = 0;
  kds_err e;
  int rc = query_joined(c->req, "date", &date), orc = query_joined(c->req, "outlet_id", &outlet);
  if (rc == KDS_ENOMEM || orc == KDS_ENOMEM) {
    rc = KDS_ENOMEM;
    goto unavailable;
  }
  if (rc == 0 && !order_date_valid(date.base)) {
    kds_err_set(&e, 400, "invalid_query", "date", "date must be a real calendar day (YYYY-MM-DD)");
    goto bad;
  }
  if (orc == 0) {
    for (size_t i = 0; i < outlet.len; i++)
      if (outlet.base[i] < '0' || outlet.base[i] > '9') outlet_id = -1;
    if (outlet_id == 0 && outlet.len > 0 && outlet.len < 10) outlet_id = atoll(outlet.base);
    if (outlet_id < 1) {
      kds_err_set(&e, 400, "invalid_query", "outlet_id", "outlet_id must be a positive integer");
      goto bad;
    }
  }
  rc = ordersvc_stats(c->srv, &c->user, rc == 0 ? date.base : NULL, outlet_id, on_order, c);
  kds_buf_release(&date);
  kds_buf_release(&outlet);
  if (rc) reply_unavailable(c, rc);
  return;
bad:
  kds_buf_release(&date);
  kds_buf_release(&outlet);
  reply_err(c, &e);
  return;
unavailable:
  kds_buf_release(&date);
  kds_buf_release(&outlet);
  reply_unavailable(c, rc);
}

/* What the pages need to know of the server's options (the board's ready column). */
static void settings_get(api_call *c) {
  char json[160];
  int n = snprintf(json, sizeof(json),
                   "{\"board_ready_for_s\":%" PRId64 ",\"late_after_s\":%" PRId64
                   ",\"auto_complete_minutes\":%" PRId64 "}",
                   c->srv->cfg.board_ready_for, c->srv->cfg.late_after, c->srv->cfg.auto_complete);
  reply_json(c, 200, NULL, json, (size_t)n);
}

static void h_order_priority(http_req_t *req, void *ud) {
  authenticate(req, ud, ROLE_ANY, order_priority);
}
static void h_order_line(http_req_t *req, void *ud) {
  authenticate(req, ud, ROLE_ANY, order_line_patch);
}
static void h_recall(http_req_t *req, void *ud) {
  authenticate(req, ud, ROLE_ANY, recall_get);
}
static void h_stats(http_req_t *req, void *ud) {
  authenticate(req, ud, ROLE_ANY, stats_get);
}
static void h_settings(http_req_t *req, void *ud) {
  authenticate(req, ud, ROLE_ANY, settings_get);
}

static void h_orders_get(http_req_t *req, void *ud) {
  authenticate(req, ud, ROLE_ANY, orders_get);
}
static void h_orders_post(http_req_t *req, void *ud) {
  authenticate(req, ud, ROLE_CASHIER | ROLE_ADMIN, orders_post);
}
static void h_order_get(http_req_t *req, void *ud) {
  authenticate(req, ud, ROLE_ANY, order_get);
}
static void h_order_delete(http_req_t *req, void *ud) {
  authenticate(req, ud, ROLE_ADMIN, order_delete);
}
static void h_order_status(http_req_t *req, void *ud) {
  authenticate(req, ud, ROLE_ANY, order_status);
}

/* ---- registration ------------------------------------------------------------------------------------ */

/* /healthz: the store must still take writes (db_health: its files deleted under us). */
static int api_health(void *ud, char *why, size_t size) {
  server_t *srv = ud;
  return db_health(srv->db, why, size);
}

int api_init(server_t *srv) {
  static const struct {
    const char *method, *pattern;
    http_handler_fn fn;
  } routes[] = {
      {"POST", "/api/v1/auth/login", h_login},
      {"POST", "/api/v1/auth/logout", h_logout},
      {"GET", "/api/v1/categories", h_categories_get},
      {"POST", "/api/v1/categories", h_categories_post},
      {"GET", "/api/v1/products", h_products_get},
      {"POST", "/api/v1/products", h_products_post},
      {"PATCH", "/api/v1/products/:id", h_products_patch},
      {"GET", "/api/v1/orders", h_orders_get},
      {"POST", "/api/v1/orders", h_orders_post},
      {"GET", "/api/v1/orders/:invoice", h_order_get},
      {"DELETE", "/api/v1/orders/:invoice", h_order_delete},
      {"PATCH", "/api/v1/orders/:invoice/status", h_order_status},
      {"PATCH", "/api/v1/orders/:invoice/priority", h_order_priority},
      {"PATCH", "/api/v1/orders/:invoice/lines/:n", h_order_line},
      {"GET", "/api/v1/recall", h_recall},
      {"GET", "/api/v1/stats", h_stats},
      {"GET", "/api/v1/settings", h_settings},
  };
  server_set_health(srv, api_health, srv);
  for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
    int rc = http_route_add(srv->http, routes[i].method, routes[i].pattern, routes[i].fn, srv, 0);
    if (rc) {
      log_error("api: cannot register %s %s: %s", routes[i].method, routes[i].pattern, kds_strerror(rc));
      return rc;
    }
  }
  return 0;
}
