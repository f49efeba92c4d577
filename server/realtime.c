/* realtime.c: the product's live feed (SPEC 4; see realtime.h) on sio_server: the token
 * in CONNECT decides the user and so the room (`outlet:<id>`, or `outlets:all` for a user
 * without an outlet and for anonymous clients when --ws-auth is off), order events are
 * broadcast to the order's outlet room and the all-outlets room, and `order-status` runs
 * the same rules as the REST PATCH. Connection state recovery is on (2 minutes). */
#include "realtime.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "err.h"
#include "http.h"
#include "log.h"
#include "ordersvc.h"
#include "server.h"
#include "sio.h"
#include "sio_server.h"

#define ALL_OUTLETS "outlets:all"
#define TOKEN_MAX 512

struct realtime {
  server_t *srv;
  sio_server_t *sio;
  sio_nsp_t *nsp;
  kds_buf json; /* publish scratch */
  int closing;
};

/* What a socket keeps for its life (and recovery restores): only what picks its room and
 * its rights; `order-status` looks the token up again anyway. 16 bytes, not a kds_user:
 * it is paid once per connected kitchen screen. */
typedef struct rt_identity {
  int64_t outlet_id; /* the user's outlet; 0 = every outlet */
  int anonymous;     /* --ws-auth off and no token */
} rt_identity;

/* An `order-status` in flight: the socket is referenced until the ack is sent. */
typedef struct rt_job {
  server_t *srv;
  sio_socket_t *s;
  int64_t ack_id;
  char *invoice;
  char *status;
} rt_job;

static const rt_identity *identity_of(const sio_socket_t *s) {
  size_t len;
  const void *p = sio_socket_state(s, &len);
  return len == sizeof(rt_identity) ? p : NULL;
}

/* The auth's token: 1 with a non-empty string copied, 0 when absent/null/"", -1 when
 * present but not a usable string. */
static int auth_token(const sio_socket_t *s, char *out, size_t outlen) {
  kds_slice auth = sio_socket_auth(s);
  cJSON *root = cJSON_ParseWithLength(auth.ptr, auth.len);
  const cJSON *t = cJSON_GetObjectItemCaseSensitive(root, "token");
  int rc;
  if (t == NULL || cJSON_IsNull(t) || (cJSON_IsString(t) && t->valuestring[0] == '\0')) {
    rc = 0;
  } else if (cJSON_IsString(t) && strlen(t->valuestring) < outlen) {
    strcpy(out, t->valuestring);
    rc = 1;
  } else {
    rc = -1;
  }
  cJSON_Delete(root);
  return rc;
}

/* ---- CONNECT: auth middleware ------------------------------------------------------------ */

static void on_token_user(void *ud, int rc, const kds_user *user) {
  sio_socket_t *s = ud;
  rt_identity id;
  if (rc != 0 || user == NULL) {
    if (rc != KDS_ENOTFOUND) log_warn("realtime: token lookup failed: %s", kds_strerror(rc));
    sio_socket_reject(s, "unauthorized", NULL);
    return;
  }
  memset(&id, 0, sizeof(id));
  id.outlet_id = user->outlet_id;
  if (sio_socket_set_state(s, &id, sizeof(id)) != 0) {
    sio_socket_reject(s, "unauthorized", NULL);
    return;
  }
  sio_socket_accept(s);
}

static void on_auth(sio_socket_t *s, void *ud) {
  struct realtime *rt = ud;
  char token[TOKEN_MAX];
  int has = auth_token(s, token, sizeof(token));
  if (has == 0 && !rt->srv->cfg.ws_auth) {
    rt_identity id;
    memset(&id, 0, sizeof(id));
    id.anonymous = 1; /* --ws-auth off: anonymous, every outlet (SPEC 11.15) */
    if (sio_socket_set_state(s, &id, sizeof(id)) == 0) {
      sio_socket_accept(s);
      return;
    }
  }
  if (has <= 0 || rt->srv->auth == NULL || auth_token_lookup(rt->srv->auth, token, on_token_user, s) != 0)
    sio_socket_reject(s, "unauthorized", NULL);
}

static void on_connection(sio_socket_t *s, void *ud) {
  const rt_identity *id = identity_of(s);
  char room[48];
  (void)ud;
  log_info("✅ Client connected: %s%s", sio_socket_id(s), sio_socket_recovered(s) ? " (recovered)" : "");
  if (sio_socket_recovered(s)) return; /* the rooms came back with the session */
  if (id && !id->anonymous && id->outlet_id > 0)
    snprintf(room, sizeof(room), "outlet:%" PRId64, id->outlet_id);
  else
    snprintf(room, sizeof(room), "%s", ALL_OUTLETS);
  if (sio_socket_join(s, room) != 0) sio_socket_disconnect(s, 1);
}

static void on_disconnect(sio_socket_t *s, const char *reason, void *ud) {
  (void)ud;
  log_info("❌ Client disconnected: %s (%s)", sio_socket_id(s), reason);
}

/* ---- order-status --------------------------------------------------------------------------- */

static void job_free(rt_job *j) {
  sio_socket_unref(j->s);
  free(j->invoice);
  free(j->status);
  free(j);
}

static void job_ack(rt_job *j, const char *json, size_t len) {
  if (j->ack_id >= 0) sio_socket_ack(j->s, j->ack_id, json, len, NULL, 0);
  job_free(j);
}

/* {ok:false, error:{code, message[, current_status]}}: current_status only for a refused
 * transition (SPEC 11.2), as in the REST 409. */
static void job_fail_status(rt_job *j, const char *code, const char *message, const char *current) {
  kds_buf b = KDS_BUF_INIT;
  if (kds_buf_adds(&b, "{\"ok\":false,\"error\":{\"code\":") == 0 &&
      sio_json_quote(&b, code, strlen(code)) == 0 && kds_buf_adds(&b, ",\"message\":") == 0 &&
      sio_json_quote(&b, message, strlen(message)) == 0 &&
      (!current || !current[0] ||
       (kds_buf_adds(&b, ",\"current_status\":") == 0 && sio_json_quote(&b, current, strlen(current)) == 0)) &&
      kds_buf_adds(&b, "}}") == 0)
    job_ack(j, b.base, b.len);
  else
    job_free(j);
  kds_buf_release(&b);
}

static void job_fail(rt_job *j, const char *code, const char *message) {
  job_fail_status(j, code, message, NULL);
}

static void on_status_changed(void *ud, int rc, const kds_err *err, const char *json, size_t len) {
  rt_job *j = ud;
  kds_buf b = KDS_BUF_INIT;
  if (rc == 0) {
    if (kds_buf_adds(&b, "{\"ok\":true,\"order\":") == 0 && kds_buf_add(&b, json, len) == 0 &&
        kds_buf_addc(&b, '}') == 0)
      job_ack(j, b.base, b.len);
    else
      job_free(j);
    kds_buf_release(&b);
    return;
  }
  if (rc == -1 && err && err->code[0]) {
    job_fail_status(j, err->code, err->message, err->current_status);
  } else {
    log_error("realtime: order-status failed: %s", err && err->message[0] ? err->message : kds_strerror(rc));
    job_fail(j, err && err->code[0] ? err->code : "internal_error", "the server failed");
  }
}

static void job_run(rt_job *j, const kds_user *user) {
  int rc = ordersvc_change_status(j->srv, user, j->invoice, j->status, on_status_changed, j);
  if (rc != 0) {
    log_warn("realtime: order-status not started: %s", kds_strerror(rc));
    job_fail(j, rc == KDS_EFULL ? "busy" : "internal_error", "the server failed");
  }
}

/* The token is checked again: it may have been revoked since the CONNECT. */
static void on_job_user(void *ud, int rc, const kds_user *user) {
  rt_job *j = ud;
  job_run(j, rc == 0 ? user : NULL);
}

static char *string_field(const cJSON *o, const char *key) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
  return cJSON_IsString(v) ? strdup(v->valuestring) : NULL;
}

static void order_status(struct realtime *rt, sio_socket_t *s, const sio_event *ev) {
  const rt_identity *id = identity_of(s);
  rt_job *j = calloc(1, sizeof(*j));
  kds_slice first = {NULL, 0}, rest;
  char token[TOKEN_MAX];
  cJSON *payload = NULL;
  if (j == NULL) return;
  j->srv = rt->srv;
  j->s = s;
  j->ack_id = ev->id;
  sio_socket_ref(s);
  if (ev->args.len) {
    kds_buf arr = KDS_BUF_INIT;
    /* the first argument: re-wrap the argument list as an array to split it */
    if (kds_buf_addc(&arr, '[') == 0 && kds_buf_add(&arr, ev->args.ptr, ev->args.len) == 0 &&
        kds_buf_addc(&arr, ']') == 0) {
      kds_slice all = {arr.base, arr.len};
      if (sio_args_split(all, &first, &rest) == 0 && first.len)
        payload = cJSON_ParseWithLength(first.ptr, first.len);
    }
    kds_buf_release(&arr);
  }
  if (cJSON_IsObject(payload)) {
    j->invoice = string_field(payload, "invoice_number");
    j->status = string_field(payload, "status");
  }
  cJSON_Delete(payload);
  if (id == NULL || id->anonymous) {
    job_run(j, NULL); /* 401 unauthorized, as the REST PATCH without a token */
    return;
  }
  if (auth_token(s, token, sizeof(token)) == 1 && rt->srv->auth &&
      auth_token_lookup(rt->srv->auth, token, on_job_user, j) == 0)
    return;
  job_run(j, NULL);
}

static void on_event(sio_socket_t *s, const sio_event *ev, void *ud) {
  if (ev->name && strcmp(ev->name, "order-status") == 0) order_status(ud, s, ev);
}

/* ---- HTTP glue ------------------------------------------------------------------------------- */

/* Routes hold the server (which lives as long as the loop), not `rt`: after realtime_close
 * the HTTP server may still route a request here. */
static void on_request(http_req_t *req, void *ud) {
  server_t *srv = ud;
  if (srv->rt == NULL || srv->rt->closing) {
    http_reply(req, 503, "text/plain", NULL, "shutting down", 13);
    return;
  }
  eio_server_handle(req, sio_server_eio(srv->rt->sio));
}

int realtime_init(struct server *srv) {
  static const sio_nsp_ops ops = {on_auth, on_connection, on_event, on_disconnect};
  static const char *const methods[] = {"GET", "POST", "PUT", "PATCH", "DELETE"};
  struct realtime *rt = calloc(1, sizeof(*rt));
  sio_server_config cfg;
  int rc;
  if (rt == NULL) return KDS_ENOMEM;
  rt->srv = srv;
  kds_buf_init(&rt->json);
  sio_server_config_default(&cfg);
  if (srv->cfg.ping_interval > 0) cfg.eio.ping_interval = srv->cfg.ping_interval;
  if (srv->cfg.ping_timeout > 0) cfg.eio.ping_timeout = srv->cfg.ping_timeout;
  if (srv->cfg.max_payload > 0) cfg.eio.max_payload = srv->cfg.max_payload;
  cfg.recovery = 1;
  cfg.max_disconnection = 2 * 60 * 1000;
  cfg.skip_middlewares = 1;
  if ((rc = sio_server_new(&rt->sio, srv->loop, &cfg)) != 0) {
    free(rt);
    return rc;
  }
  if ((rc = sio_nsp_new(rt->sio, "/", &ops, rt, &rt->nsp)) != 0) goto fail;
  for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
    if ((rc = http_route_add(srv->http, methods[i], "/socket.io/*", on_request, srv,
                             (size_t)cfg.eio.max_payload)) != 0)
      goto fail;
  srv->rt = rt;
  return 0;
fail:
  /* Routes already added point at srv, which answers 503 while srv->rt is NULL. */
  rt->closing = 1;
  sio_server_close(rt->sio, free, rt);
  return rc;
}

void realtime_publish(struct realtime *rt, const char *event, int64_t outlet_id, const char *json,
                      size_t len) {
  char room[48];
  const char *rooms[2] = {room, ALL_OUTLETS};
  ssize_t n;
  if (rt == NULL || rt->closing || event == NULL) return;
  snprintf(room, sizeof(room), "outlet:%" PRId64, outlet_id);
  /* Checked and made compact here: a bad payload must not reach (and close) every client. */
  kds_buf_reset(&rt->json);
  if (json == NULL || sio_json_compact(&rt->json, json, len) != 0) {
    log_error("realtime: %s not broadcast: the payload is not valid JSON", event);
    return;
  }
  n = sio_nsp_emit(rt->nsp, rooms, 2, NULL, 0, event, rt->json.base, rt->json.len, NULL, 0);
  if (n < 0)
    log_error("realtime: %s not broadcast: %s", event, kds_strerror((int)n));
  else
    log_debug("realtime: %s to outlet %" PRId64 ": %zd sockets", event, outlet_id, n);
}

static void on_sio_closed(void *ud) {
  struct realtime *rt = ud;
  kds_buf_release(&rt->json);
  free(rt);
}

void realtime_close(struct realtime *rt) {
  if (rt == NULL || rt->closing) return;
  rt->closing = 1;
  if (rt->srv->rt == rt) rt->srv->rt = NULL;
  sio_server_close(rt->sio, on_sio_closed, rt);
}
