/* Tests for server/realtime/sio_server.c (with eio_server.c and http.c) in one process: the server
 * and C Socket.IO clients (shared/net/sioc.c) on the same loop, over loopback. Covers what
 * the conformance server cannot show: rooms and broadcasts with exclusions (encoded once,
 * each socket served once), server-to-client acks, the async middleware (accept later,
 * reject with data, verdict after the client left), server-side disconnects, references
 * past the disconnect, connection state recovery bound to the owner the middleware set
 * (SPEC 11.21), and a graceful close that leaves nothing alive (ASan: no leak). */
#include "test.h"
#include "test_loop.h"

#include <cjson/cJSON.h>
#include <uv.h>

#include "err.h"
#include "http.h"
#include "sio_server.h"
#include "sioc.h"

static ws_hub_t *hub;
static http_server_t *hs;
static sio_server_t *ss;
static sio_nsp_t *root;
static int port;

/* ---- server side -------------------------------------------------------------------------- */

#define MAXS 16
static struct {
  char name[16];
  sio_socket_t *s;
} conns[MAXS];
static int server_connected, server_disconnected;
static char server_reason[64];
static sio_socket_t *pending; /* a socket whose verdict the test gives later */
static int answers, answer_closed;
static char answer_args[64];

static char *auth_string(sio_socket_t *s, const char *key, char *out, size_t n) {
  kds_slice a = sio_socket_auth(s);
  cJSON *root_json = cJSON_ParseWithLength(a.ptr, a.len);
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(root_json, key);
  char *r = NULL;
  if (cJSON_IsString(v)) {
    snprintf(out, n, "%s", v->valuestring);
    r = out;
  }
  cJSON_Delete(root_json);
  return r;
}

static sio_socket_t *conn_named(const char *name) {
  for (int i = 0; i < MAXS; i++)
    if (conns[i].s && strcmp(conns[i].name, name) == 0) return conns[i].s;
  return NULL;
}

static void srv_auth(sio_socket_t *s, void *ud) {
  char v[16];
  if (auth_string(s, "owner", v, sizeof(v))) sio_socket_set_owner(s, v, strlen(v));
  if (auth_string(s, "verdict", v, sizeof(v)) && strcmp(v, "deny") == 0) {
    sio_socket_reject(s, "denied", "{\"why\":1}");
  } else if (auth_string(s, "verdict", v, sizeof(v)) && strcmp(v, "later") == 0) {
    pending = s;
  } else {
    sio_socket_accept(s);
  }
}

static void srv_connection(sio_socket_t *s, void *ud) {
  kds_slice a = sio_socket_auth(s);
  cJSON *j = cJSON_ParseWithLength(a.ptr, a.len);
  const cJSON *rooms = cJSON_GetObjectItemCaseSensitive(j, "rooms"), *r;
  const cJSON *name = cJSON_GetObjectItemCaseSensitive(j, "name");
  cJSON_ArrayForEach(r, rooms) {
    if (cJSON_IsString(r)) sio_socket_join(s, r->valuestring);
  }
  for (int i = 0; i < MAXS; i++) {
    if (conns[i].s == NULL) {
      conns[i].s = s;
      snprintf(conns[i].name, sizeof(conns[i].name), "%s", cJSON_IsString(name) ? name->valuestring : "?");
      break;
    }
  }
  cJSON_Delete(j);
  server_connected++;
}

static void on_answer(void *ud, int status, const sio_event *ev) {
  if (status == 0) {
    answers++;
    snprintf(answer_args, sizeof(answer_args), "%.*s", (int)ev->args.len, ev->args.ptr);
  } else if (status == KDS_ECLOSED) {
    answer_closed++;
  }
}

static void srv_event(sio_socket_t *s, const sio_event *ev, void *ud) {
  if (ev->name == NULL) return;
  if (strcmp(ev->name, "ask") == 0) {
    sio_socket_emit(s, "question", "1,{\"q\":true}", 12, NULL, 0, on_answer, NULL);
  } else if (strcmp(ev->name, "bye") == 0) {
    sio_socket_disconnect(s, 0);
  } else if (strcmp(ev->name, "byeall") == 0) {
    sio_socket_disconnect(s, 1);
  } else if (strcmp(ev->name, "echo") == 0 && ev->id >= 0) {
    sio_socket_ack(s, ev->id, ev->args.ptr, ev->args.len, NULL, 0);
  }
}

static void srv_disconnect(sio_socket_t *s, const char *reason, void *ud) {
  for (int i = 0; i < MAXS; i++)
    if (conns[i].s == s) conns[i].s = NULL;
  snprintf(server_reason, sizeof(server_reason), "%s", reason);
  server_disconnected++;
}

/* ---- client side --------------------------------------------------------------------------- */

typedef struct cli {
  sioc_t *c;
  int connected, disconnected, connect_error, no_answer;
  char reason[64], cerr[64], cerr_data[64];
  char events[512];
  int nevents;
} cli;

static void c_connect(sioc_t *s, const char *sid, const char *pid, int recovered) {
  ((cli *)sioc_data(s))->connected = 1;
}

static void c_connect_error(sioc_t *s, const char *message, const char *data, size_t len) {
  cli *c = sioc_data(s);
  c->connect_error = 1;
  snprintf(c->cerr, sizeof(c->cerr), "%s", message);
  snprintf(c->cerr_data, sizeof(c->cerr_data), "%.*s", (int)len, data ? data : "");
}

/* Length of `args` without the recovery offset (a last argument "<yeast id>"). */
static size_t strip_offset(const char *args, size_t len) {
  size_t i;
  if (len < 3 || args[len - 1] != '"') return len;
  for (i = len - 1; i > 0 && args[i - 1] != '"'; i--)
    if (!strchr("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz-_.", args[i - 1])) return len;
  if (i < 2 || args[i - 2] != ',') return len;
  return i - 2;
}

static void c_event(sioc_t *s, const char *event, const char *args, size_t len, int64_t ack_id) {
  cli *c = sioc_data(s);
  size_t used = strlen(c->events);
  if (ack_id < 0) len = strip_offset(args, len);
  snprintf(c->events + used, sizeof(c->events) - used, "%s:%.*s|", event, (int)len, args);
  c->nevents++;
  if (ack_id >= 0 && !c->no_answer) sioc_ack(s, ack_id, "\"answer\"", 8);
}

static void c_disconnect(sioc_t *s, int err, const char *reason) {
  cli *c = sioc_data(s);
  c->disconnected = 1;
  c->connected = 0;
  snprintf(c->reason, sizeof(c->reason), "%s", reason);
}

static const sioc_callbacks ccb = {c_connect, c_connect_error, c_event, c_disconnect};

static void cli_start_track(cli *c, const char *auth, int track) {
  sioc_opts o;
  memset(c, 0, sizeof(*c));
  c->c = sioc_new(hub, &ccb, c);
  memset(&o, 0, sizeof(o));
  o.host = "127.0.0.1";
  o.port = port;
  o.auth = auth;
  o.timeout_ms = 5000;
  o.track_offset = track;
  if (c->c == NULL || sioc_connect(c->c, &o) != 0) abort();
}

static void cli_start(cli *c, const char *auth) {
  cli_start_track(c, auth, 0);
}

static void cli_free(cli *c) {
  sioc_free(c->c);
  c->c = NULL;
}

/* ---- tests ------------------------------------------------------------------------------------ */

static void t_rooms(void) {
  cli a, b, c;
  const char *ab[] = {"a", "b"}, *only_b[] = {"b"}, *only_a[] = {"a"}, *nobody[] = {"nobody"};
  int before = server_connected;
  cli_start(&a, "{\"name\":\"A\",\"rooms\":[\"a\"]}");
  cli_start(&b, "{\"name\":\"B\",\"rooms\":[\"a\",\"b\"]}");
  cli_start(&c, "{\"name\":\"C\",\"rooms\":[\"b\"]}");
  ok(run_until(&a.connected, 5000) && run_until(&b.connected, 5000) && run_until(&c.connected, 5000),
     "three clients connected");
  ok(run_until_n(&server_connected, before + 3, 5000), "the server saw them");
  ok(sio_nsp_room_size(root, "a") == 2 && sio_nsp_room_size(root, "b") == 2, "room sizes");
  ok(sio_nsp_count(root) >= 3, "namespace count");

  ok(sio_nsp_emit(root, ab, 2, NULL, 0, "ev", "1", 1, NULL, 0) == 3, "rooms a+b: three recipients (B once)");
  ok(sio_nsp_emit(root, ab, 2, only_b, 1, "ev", "2", 1, NULL, 0) == 1, "a+b except b: one recipient");
  ok(sio_nsp_emit(root, NULL, 0, only_a, 1, "ev", "3", 1, NULL, 0) == 1, "everyone except a: C");
  ok(sio_nsp_emit(root, nobody, 1, NULL, 0, "ev", "4", 1, NULL, 0) == 0, "an empty room: nobody");
  ok(sio_nsp_emit(root, NULL, 0, NULL, 0, "disconnect", NULL, 0, NULL, 0) == KDS_EINVAL,
     "reserved name refused");
  run_until_n(&c.nevents, 2, 5000);
  run_for(100);
  ok(strcmp(a.events, "ev:1|ev:2|") == 0, "A got 1 and 2: %s", a.events);
  ok(strcmp(b.events, "ev:1|") == 0, "B got 1 only: %s", b.events);
  ok(strcmp(c.events, "ev:1|ev:3|") == 0, "C got 1 and 3: %s", c.events);

  sio_socket_leave(conn_named("B"), "a");
  ok(!sio_socket_in_room(conn_named("B"), "a") && sio_socket_in_room(conn_named("B"), "b"), "B left a");
  ok(sio_nsp_emit(root, only_a, 1, NULL, 0, "ev", "5", 1, NULL, 0) == 1, "a has A only now");
  ok(sio_socket_join(conn_named("C"), "") == KDS_EINVAL, "an empty room name is refused");

  cli_free(&a);
  cli_free(&b);
  cli_free(&c);
  ok(run_until_n(&server_disconnected, server_connected, 5000), "all gone on the server");
  ok(sio_nsp_room_size(root, "a") == 0 && sio_nsp_room_size(root, "b") == 0, "rooms emptied");
}

static void t_acks(void) {
  cli a, c;
  cli_start(&a, "{\"name\":\"A\"}");
  cli_start(&c, "{\"name\":\"C\"}");
  c.no_answer = 1;
  ok(run_until(&a.connected, 5000) && run_until(&c.connected, 5000), "connected");
  answers = answer_closed = 0;
  ok(sioc_emit(a.c, "ask", NULL, 0, NULL, NULL, 0) == 0, "A asks");
  ok(run_until(&answers, 5000), "the server's ack callback ran");
  ok(strcmp(answer_args, "\"answer\"") == 0, "with the client's arguments: %s", answer_args);
  ok(strstr(a.events, "question:1,{\"q\":true}|") != NULL, "the question reached A: %s", a.events);

  ok(sioc_emit(c.c, "ask", NULL, 0, NULL, NULL, 0) == 0, "C asks but will not answer");
  ok(run_until(&c.nevents, 5000), "C got the question");
  sioc_disconnect(c.c);
  ok(run_until(&answer_closed, 5000), "the pending ack fails with KDS_ECLOSED when C leaves");
  cli_free(&a);
  cli_free(&c);
  run_until_n(&server_disconnected, server_connected, 5000);
}

static void t_middleware(void) {
  cli d, e, f;
  int before = server_connected;
  cli_start(&d, "{\"name\":\"D\",\"verdict\":\"deny\"}");
  ok(run_until(&d.connect_error, 5000), "refused");
  ok(strcmp(d.cerr, "denied") == 0 && strcmp(d.cerr_data, "{\"why\":1}") == 0, "message and data: %s %s",
     d.cerr, d.cerr_data);
  ok(server_connected == before, "no connection on the server");

  pending = NULL;
  cli_start(&e, "{\"name\":\"E\",\"verdict\":\"later\"}");
  while (pending == NULL && uv_run(loop, UV_RUN_ONCE)) {
  }
  ok(pending != NULL, "the middleware holds the socket");
  run_for(50);
  ok(!e.connected, "not connected before the verdict");
  sio_socket_accept(pending);
  ok(run_until(&e.connected, 5000), "connected after an async accept");
  sio_socket_accept(conn_named("E")); /* a second verdict is ignored */

  pending = NULL;
  cli_start(&f, "{\"name\":\"F\",\"verdict\":\"later\"}");
  while (pending == NULL && uv_run(loop, UV_RUN_ONCE)) {
  }
  cli_free(&f); /* the client goes away before the verdict */
  run_for(100);
  sio_socket_accept(pending); /* only releases it */
  ok(server_connected == before + 1, "only E connected");
  cli_free(&d);
  cli_free(&e);
  run_until_n(&server_disconnected, server_connected, 5000);
}

static void t_disconnect(void) {
  cli a, b;
  sio_socket_t *s;
  int n;
  cli_start(&a, "{\"name\":\"A\"}");
  ok(run_until(&a.connected, 5000), "connected");
  run_for(20);
  s = conn_named("A");
  sio_socket_ref(s);
  n = server_disconnected;
  sioc_emit(a.c, "bye", NULL, 0, NULL, NULL, 0);
  ok(run_until(&a.disconnected, 5000), "the client was told");
  ok(strcmp(a.reason, "io server disconnect") == 0, "client reason: %s", a.reason);
  ok(server_disconnected == n + 1 && strcmp(server_reason, "server namespace disconnect") == 0,
     "server reason: %s", server_reason);
  ok(!sio_socket_connected(s), "not connected any more");
  ok(sio_socket_emit(s, "x", NULL, 0, NULL, 0, NULL, NULL) == KDS_ECLOSED,
     "emit after disconnect: KDS_ECLOSED");
  ok(sio_socket_ack(s, 1, NULL, 0, NULL, 0) == KDS_ECLOSED, "ack after disconnect: KDS_ECLOSED");
  ok(sio_socket_join(s, "late") == KDS_ECLOSED, "join after disconnect: KDS_ECLOSED");
  sio_socket_unref(s);

  cli_start(&b, "{\"name\":\"B\"}");
  ok(run_until(&b.connected, 5000), "connected");
  sioc_emit(b.c, "byeall", NULL, 0, NULL, NULL, 0);
  ok(run_until(&b.disconnected, 5000), "the client was told (whole connection)");
  cli_free(&a);
  cli_free(&b);
}

static void t_ack_roundtrip_and_binary_refusal(void) {
  cli a;
  kds_slice bin = {"\x01", 1};
  const char *ph = "{\"_placeholder\":true,\"num\":0}";
  cli_start(&a, "{\"name\":\"A\"}");
  ok(run_until(&a.connected, 5000), "connected");
  run_for(20);
  ok(sio_socket_emit(conn_named("A"), "bin", ph, strlen(ph), &bin, 11, NULL, NULL) == KDS_EINVAL,
     "11 attachments refused");
  ok(sio_socket_emit(conn_named("A"), "connect", NULL, 0, NULL, 0, NULL, NULL) == KDS_EINVAL,
     "reserved name refused");
  cli_free(&a);
  run_until_n(&server_disconnected, server_connected, 5000);
}

/* Recovery runs after the middleware and only for the owner it set: a foreign owner gets
 * a fresh socket and nothing replayed, a refused CONNECT nothing at all, the owner its
 * missed event, and a second claim of the same pid a fresh socket. */
static void t_recovery_owner(void) {
  cli a, t, d, a2, a3;
  const char *r[] = {"r"};
  char pid[64], offset[64], sid[64], auth[256];
  int n;
  cli_start_track(&a, "{\"name\":\"A\",\"owner\":\"alice\",\"rooms\":[\"r\"]}", 1);
  ok(run_until(&a.connected, 5000), "A connected");
  run_for(20);
  ok(sio_nsp_emit(root, r, 1, NULL, 0, "ev", "1", 1, NULL, 0) == 1, "an event to A");
  ok(run_until(&a.nevents, 5000), "A got it");
  snprintf(pid, sizeof(pid), "%s", sioc_pid(a.c));
  snprintf(offset, sizeof(offset), "%s", sioc_offset(a.c));
  snprintf(sid, sizeof(sid), "%s", sioc_sid(a.c));
  ok(pid[0] && offset[0], "pid %s and offset %s known", pid, offset);
  n = server_disconnected;
  sioc_free(a.c); /* the link dies: a recoverable disconnect */
  ok(run_until_n(&server_disconnected, n + 1, 5000) && strcmp(server_reason, "transport close") == 0,
     "A left: %s", server_reason);
  ok(sio_nsp_emit(root, r, 1, NULL, 0, "ev", "2", 1, NULL, 0) == 0, "an event A misses");

  snprintf(auth, sizeof(auth), "{\"name\":\"T\",\"owner\":\"mallory\",\"pid\":\"%s\",\"offset\":\"%s\"}", pid,
           offset);
  cli_start(&t, auth);
  ok(run_until(&t.connected, 5000), "another owner connects");
  run_for(100);
  ok(!sio_socket_recovered(conn_named("T")) && strcmp(sioc_sid(t.c), sid) != 0, "as a fresh socket (sid %s)",
     sioc_sid(t.c));
  ok(t.nevents == 0, "nothing replayed to another owner: %s", t.events);

  snprintf(auth, sizeof(auth), "{\"verdict\":\"deny\",\"owner\":\"alice\",\"pid\":\"%s\",\"offset\":\"%s\"}",
           pid, offset);
  cli_start(&d, auth);
  ok(run_until(&d.connect_error, 5000), "a refused CONNECT with the pid");
  ok(d.nevents == 0, "nothing replayed before the refusal: %s", d.events);

  snprintf(auth, sizeof(auth), "{\"name\":\"A2\",\"owner\":\"alice\",\"pid\":\"%s\",\"offset\":\"%s\"}", pid,
           offset);
  cli_start(&a2, auth);
  /* (sioc's own `recovered` needs its previous pid: a new client object has none.) */
  ok(run_until(&a2.connected, 5000), "the owner connects");
  run_for(20);
  ok(conn_named("A2") && sio_socket_recovered(conn_named("A2")), "and is recovered");
  ok(strcmp(sioc_sid(a2.c), sid) == 0, "with its sid");
  ok(run_until(&a2.nevents, 5000) && strcmp(a2.events, "ev:2|") == 0, "and the missed event: %s", a2.events);
  ok(sio_socket_in_room(conn_named("A2"), "r"), "its rooms came back");

  snprintf(auth, sizeof(auth), "{\"name\":\"A3\",\"owner\":\"alice\",\"pid\":\"%s\",\"offset\":\"%s\"}", pid,
           offset);
  cli_start(&a3, auth);
  ok(run_until(&a3.connected, 5000), "a second claim connects");
  run_for(100);
  ok(conn_named("A3") && !sio_socket_recovered(conn_named("A3")) && a3.nevents == 0,
     "but the session was consumed: fresh, nothing replayed");
  cli_free(&t);
  cli_free(&d);
  cli_free(&a2);
  cli_free(&a3);
  run_until_n(&server_disconnected, server_connected, 5000);
}

static int closed;
static void on_sio_closed(void *ud) {
  closed = 1;
}
static void on_http_closed(http_server_t *h) {}

static void t_close(void) {
  cli a;
  cli_start(&a, "{\"name\":\"A\",\"rooms\":[\"z\"]}");
  ok(run_until(&a.connected, 5000), "connected");
  run_for(20);
  http_server_close(hs, on_http_closed);
  sio_server_close(ss, on_sio_closed, NULL);
  ok(strcmp(server_reason, "server shutting down") == 0, "sockets leave with \"server shutting down\"");
  ok(run_until(&a.disconnected, 5000), "the client saw the close");
  ok(run_until(&closed, 5000), "the server finished closing");
  cli_free(&a);
}

int main(void) {
  static const sio_nsp_ops ops = {srv_auth, srv_connection, srv_event, srv_disconnect};
  http_options ho;
  sio_server_config cfg;
  test_loop_start(60000, NULL);
  hub = ws_hub_new(loop);

  http_options_default(&ho);
  sio_server_config_default(&cfg);
  cfg.recovery = 1;
  if (http_server_new_opts(loop, NULL, &ho, &hs) != 0 || sio_server_new(&ss, loop, &cfg) != 0 ||
      sio_server_attach(ss, hs, "/socket.io/") != 0 || sio_nsp_new(ss, "/", &ops, NULL, &root) != 0 ||
      http_server_listen(hs, "127.0.0.1", 0, &port) != 0) {
    printf("not ok - server start-up failed\n");
    return 1;
  }
  ok(sio_nsp_new(ss, "/", &ops, NULL, NULL) == KDS_EINVAL, "a duplicate namespace is refused");
  ok(sio_nsp_new(ss, "nope", &ops, NULL, NULL) == KDS_EINVAL, "a namespace must start with /");

  subtest("rooms and broadcasts", t_rooms);
  subtest("server acks", t_acks);
  subtest("async middleware", t_middleware);
  subtest("server disconnects and references", t_disconnect);
  subtest("emit arguments", t_ack_roundtrip_and_binary_refusal);
  subtest("recovery is the owner's", t_recovery_owner);
  subtest("graceful close", t_close);

  ws_hub_free(hub);
  test_loop_finish();
  return done_testing();
}
