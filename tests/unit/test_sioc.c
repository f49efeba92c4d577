/* Tests for shared/net/sioc.c against the real thing: the official Node socket.io server
 * (tests/integration/sio-peer.js, npm package at the repository root), spawned on a loopback
 * port. Skipped (not failed) only when node cannot be started. */
#include "test.h"
#include "test_loop.h"

#include <signal.h>

#include "err.h"
#include "http.h"
#include "sioc.h"

#ifndef KDS_SOURCE_DIR
#define KDS_SOURCE_DIR "."
#endif

static ws_hub_t *hub;
static uv_process_t peer;
static uv_pipe_t peer_in, peer_out;
static kds_buf peer_text;
static int peer_port, peer_exited;

/* ---- the node peer ------------------------------------------------------------------------ */

static void peer_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b) {
  char *p;
  if (n < 0) {
    uv_read_stop(s);
    return;
  }
  kds_buf_add(&peer_text, b->base, (size_t)n);
  if (!peer_port && (p = strstr(peer_text.base, "PORT ")) && strchr(p, '\n')) peer_port = atoi(p + 5);
}

static void peer_exit(uv_process_t *p, int64_t status, int sig) {
  peer_exited = 1;
  uv_close((uv_handle_t *)p, NULL);
}

static int peer_start(void) {
  uv_process_options_t o;
  uv_stdio_container_t io[3];
  char *args[] = {"node", KDS_SOURCE_DIR "/tests/integration/sio-peer.js", NULL};
  char *env[] = {"NODE_PATH=" KDS_SOURCE_DIR "/node_modules", "PATH=/usr/local/bin:/usr/bin:/bin", NULL};
  memset(&o, 0, sizeof(o));
  uv_pipe_init(loop, &peer_in, 0);
  uv_pipe_init(loop, &peer_out, 0);
  io[0].flags = UV_CREATE_PIPE | UV_READABLE_PIPE;
  io[0].data.stream = (uv_stream_t *)&peer_in;
  io[1].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
  io[1].data.stream = (uv_stream_t *)&peer_out;
  io[2].flags = UV_INHERIT_FD;
  io[2].data.fd = 2;
  o.file = "node";
  o.args = args;
  o.env = env;
  o.stdio = io;
  o.stdio_count = 3;
  o.exit_cb = peer_exit;
  if (uv_spawn(loop, &peer, &o) != 0) {
    uv_close((uv_handle_t *)&peer_in, NULL);
    uv_close((uv_handle_t *)&peer_out, NULL);
    return -1;
  }
  uv_read_start((uv_stream_t *)&peer_out, test_alloc, peer_read);
  return run_until(&peer_port, 15000) ? 0 : -1;
}

static void peer_stop(void) {
  uv_close((uv_handle_t *)&peer_in, NULL); /* EOF on its stdin: it exits */
  if (!run_until(&peer_exited, 5000)) {
    uv_process_kill(&peer, SIGKILL);
    run_until(&peer_exited, 5000);
  }
  uv_close((uv_handle_t *)&peer_out, NULL);
  run_for(10);
}

/* ---- a client that records what happens ------------------------------------------------- */

typedef struct client {
  sioc_t *s;
  int connected, disconnected, connect_errors, recovered;
  int err;
  char reason[64];
  char sid[64];
  kds_buf events; /* "name(args)|" */
  int nevents;
  char cerr_msg[64];
  kds_buf cerr_data;
  int64_t last_ack_id;
  int reconnect_on_disconnect;
  sioc_opts opts;
} client;

static void c_connect(sioc_t *s, const char *sid, const char *pid, int recovered) {
  client *c = sioc_data(s);
  c->connected++;
  c->recovered = recovered;
  snprintf(c->sid, sizeof(c->sid), "%s", sid);
}

static void c_connect_error(sioc_t *s, const char *msg, const char *data, size_t len) {
  client *c = sioc_data(s);
  c->connect_errors++;
  snprintf(c->cerr_msg, sizeof(c->cerr_msg), "%s", msg);
  kds_buf_reset(&c->cerr_data);
  if (data) kds_buf_add(&c->cerr_data, data, len);
}

static void c_event(sioc_t *s, const char *ev, const char *args, size_t len, int64_t ack_id) {
  client *c = sioc_data(s);
  c->nevents++;
  kds_buf_addf(&c->events, "%s(%.*s)|", ev, (int)len, args);
  c->last_ack_id = ack_id;
}

static void c_disconnect(sioc_t *s, int err, const char *reason) {
  client *c = sioc_data(s);
  c->disconnected++;
  c->err = err;
  snprintf(c->reason, sizeof(c->reason), "%s", reason);
  if (c->reconnect_on_disconnect) {
    c->reconnect_on_disconnect = 0;
    sioc_connect(s, &c->opts);
  }
}

static const sioc_callbacks client_cb = {c_connect, c_connect_error, c_event, c_disconnect};

static void client_init(client *c, const char *auth) {
  memset(c, 0, sizeof(*c));
  c->s = sioc_new(hub, &client_cb, c);
  c->opts.host = "127.0.0.1";
  c->opts.port = peer_port;
  c->opts.auth = auth;
  c->opts.timeout_ms = 5000;
  c->last_ack_id = -2;
}

static void client_release(client *c) {
  sioc_free(c->s);
  run_for(20);
  kds_buf_release(&c->events);
  kds_buf_release(&c->cerr_data);
}

typedef struct ack_result {
  int done, err;
  char args[256];
} ack_result;

static void on_ack(void *ud, int err, const char *args, size_t len) {
  ack_result *r = ud;
  r->done = 1;
  r->err = err;
  snprintf(r->args, sizeof(r->args), "%.*s", (int)len, args ? args : "");
}

/* ---- scenarios ---------------------------------------------------------------------------- */

static void t_connect_event_ack(void) {
  client c;
  ack_result r = {0};
  client_init(&c, "{\"token\":\"good\"}");
  ok(sioc_connect(c.s, &c.opts) == 0 && c.connected == 0, "connect started, nothing called inside");
  ok(sioc_connect(c.s, &c.opts) == KDS_ESTATE, "a second connect is refused");
  ok(sioc_emit(c.s, "echo", "1", 1, NULL, NULL, 0) == KDS_ECLOSED, "emit before connect: ECLOSED");
  run_until(&c.connected, 5000);
  ok(c.connected == 1 && strlen(c.sid) == 20 && sioc_connected(c.s), "connected, sid %s", c.sid);
  ok(strlen(sioc_pid(c.s)) > 0, "recovery pid %s", sioc_pid(c.s));
  run_until(&c.nevents, 2000);
  ok(c.events.base &&
         strstr(c.events.base, "hello({\"auth\":{\"token\":\"good\"},\"recovered\":false}") == c.events.base,
     "hello event with our auth: %s", c.events.base ? c.events.base : "");

  ok(sioc_emit(c.s, "echo", "1,\"two\",{\"three\":[3]}", 21, on_ack, &r, 3000) == 0 && !r.done,
     "emit with ack");
  run_until(&r.done, 3000);
  ok(r.done && r.err == 0 && strcmp(r.args, "1,\"two\",{\"three\":[3]}") == 0, "ack args: %s", r.args);

  memset(&r, 0, sizeof(r));
  sioc_emit(c.s, "echo", NULL, 0, on_ack, &r, 3000);
  run_until(&r.done, 3000);
  ok(r.done && r.err == 0 && r.args[0] == '\0', "empty ack");

  kds_buf_reset(&c.events);
  c.nevents = 0;
  sioc_emit(c.s, "ask", NULL, 0, NULL, NULL, 0);
  run_until(&c.nevents, 3000);
  ok(c.events.base && strncmp(c.events.base, "question(41", 11) == 0 && c.last_ack_id >= 0,
     "server event asking for an ack (id %lld)", (long long)c.last_ack_id);
  ok(sioc_ack(c.s, c.last_ack_id, "\"forty-two\"", 11) == 0, "ack sent");
  run_until_n(&c.nevents, 2, 3000);
  ok(c.events.base && strstr(c.events.base, "answer(\"forty-two\"") != NULL, "server got our ack: %s",
     c.events.base ? c.events.base : "");
  ok(strlen(sioc_offset(c.s)) == 0, "no offset tracked unless asked");

  memset(&r, 0, sizeof(r));
  sioc_emit(c.s, "noack", NULL, 0, on_ack, &r, 200);
  run_until(&r.done, 3000);
  ok(r.done && r.err == UV_ETIMEDOUT, "ack timeout: %s", kds_strerror(r.err));

  /* several ping cycles (300 + 200 ms): we answer, the link stays */
  run_for(1200);
  ok(sioc_connected(c.s) && c.disconnected == 0, "alive after several pings");

  memset(&r, 0, sizeof(r));
  sioc_emit(c.s, "noack", NULL, 0, on_ack, &r, 5000);
  sioc_disconnect(c.s);
  ok(!sioc_connected(c.s) && c.disconnected == 0, "disconnect: reported later");
  run_until(&c.disconnected, 3000);
  ok(c.disconnected == 1 && c.err == 0 && strcmp(c.reason, SIOC_REASON_CLIENT) == 0, "client disconnect: %s",
     c.reason);
  ok(r.done && r.err == KDS_ECLOSED, "pending ack failed with ECLOSED");
  client_release(&c);
}

static void t_connect_error(void) {
  client c;
  client_init(&c, "{\"token\":\"bad\"}");
  sioc_connect(c.s, &c.opts);
  run_until(&c.disconnected, 5000);
  ok(c.connect_errors == 1 && strcmp(c.cerr_msg, "unauthorized") == 0, "CONNECT_ERROR message: %s",
     c.cerr_msg);
  ok(c.cerr_data.base && strcmp(c.cerr_data.base, "{\"hint\":\"check --token\"}") == 0, "CONNECT_ERROR data");
  ok(c.connected == 0 && c.disconnected == 1 && strcmp(c.reason, SIOC_REASON_CONNECT_ERROR) == 0,
     "then disconnected: %s", c.reason);
  /* no auth at all */
  c.opts.auth = NULL;
  ok(sioc_connect(c.s, &c.opts) == 0, "reconnect with the same client");
  run_until_n(&c.disconnected, 2, 5000);
  ok(c.connect_errors == 2 && c.disconnected == 2, "no auth: refused too");
  c.opts.auth = "{not json";
  ok(sioc_connect(c.s, &c.opts) == KDS_EINVAL, "invalid auth JSON refused");
  client_release(&c);
}

static void t_server_disconnects(void) {
  client c;
  client_init(&c, "{\"token\":\"good\"}");
  sioc_connect(c.s, &c.opts);
  run_until(&c.connected, 5000);
  c.reconnect_on_disconnect = 1; /* sioc_connect from inside on_disconnect */
  sioc_emit(c.s, "bye", NULL, 0, NULL, NULL, 0);
  run_until(&c.disconnected, 3000);
  ok(c.disconnected == 1 && strcmp(c.reason, SIOC_REASON_SERVER) == 0, "disconnect(true): %s", c.reason);

  /* reconnected from inside on_disconnect; then a namespace-only disconnect */
  run_until_n(&c.connected, 2, 5000);
  ok(c.connected == 2, "reconnected from inside on_disconnect");
  sioc_emit(c.s, "kick", NULL, 0, NULL, NULL, 0);
  run_until_n(&c.disconnected, 2, 3000);
  ok(c.disconnected == 2 && strcmp(c.reason, SIOC_REASON_SERVER) == 0, "disconnect(): %s", c.reason);
  client_release(&c);
}

static void t_recovery(void) {
  client c;
  char pid[64];
  client_init(&c, "{\"token\":\"good\"}");
  c.opts.recover = 1;
  sioc_connect(c.s, &c.opts);
  run_until(&c.connected, 5000);
  run_until(&c.nevents, 2000);
  snprintf(pid, sizeof(pid), "%s", sioc_pid(c.s));
  ok(strlen(sioc_offset(c.s)) > 0, "offset tracked: %s", sioc_offset(c.s));
  sioc_emit(c.s, "drop", NULL, 0, NULL, NULL, 0);
  run_until(&c.disconnected, 3000);
  ok(c.disconnected == 1 && strcmp(c.reason, SIOC_REASON_TRANSPORT_CLOSE) == 0, "dropped by the server: %s",
     c.reason);
  run_for(400); /* the tick is broadcast while we are away... */
  ok(sioc_connect(c.s, &c.opts) == 0, "...and we come back");
  run_until_n(&c.connected, 2, 5000);
  run_for(100);
  ok(c.connected == 2 && c.recovered == 1 && strcmp(sioc_pid(c.s), pid) == 0,
     "recovered the session (pid %s)", sioc_pid(c.s));
  ok(c.events.base && strstr(c.events.base, "tick(1,") != NULL, "missed event delivered: %s",
     c.events.base ? c.events.base : "");
  ok(c.events.base &&
         strstr(c.events.base, "tick(1,") < strstr(c.events.base + 6, "hello({\"auth\":{\"pid\""),
     "the missed event before the new hello");
  client_release(&c);
}

static void t_dead_link(void) {
  client c;
  client_init(&c, "{\"token\":\"good\"}");
  sioc_connect(c.s, &c.opts);
  run_until(&c.connected, 5000);
  uv_process_kill(&peer, SIGSTOP); /* the server falls silent: no pings */
  run_until(&c.disconnected, 3000);
  uv_process_kill(&peer, SIGCONT);
  ok(c.disconnected == 1 && c.err == UV_ETIMEDOUT && strcmp(c.reason, SIOC_REASON_PING) == 0,
     "dead link noticed: %s", c.reason);
  client_release(&c);
}

static void t_refused(void) {
  client c;
  client_init(&c, "{\"token\":\"good\"}");
  c.opts.port = 1; /* nothing listens there */
  ok(sioc_connect(c.s, &c.opts) == 0, "started");
  run_until(&c.disconnected, 5000);
  ok(c.disconnected == 1 && c.err == UV_ECONNREFUSED && strcmp(c.reason, SIOC_REASON_TRANSPORT_ERROR) == 0,
     "refused: %s / %s", c.reason, kds_strerror(c.err));
  /* free while connecting: no callback, no leak */
  c.opts.port = peer_port;
  sioc_connect(c.s, &c.opts);
  client_release(&c);
  ok(c.disconnected == 1, "sioc_free does not call on_disconnect");
}

/* ---- a scripted server for what the Node peer cannot be made to do -----------------------
 * Socket.IO by hand on our own http.c + ws.c: it grants a session (pid "p1", one event with
 * offset "o1"), and to a CONNECT that asks for recovery it replays `poison` (an event the
 * client cannot take) before the CONNECT reply, as a server does with missed events. */
typedef struct scripted {
  http_server_t *hs;
  int port;
  const char *poison;
  ws_t *ws;
  kds_buf connects; /* the CONNECT packets received, "|"-separated */
  int nconnects;
} scripted;

static void scr_send(scripted *sc, const char *text) {
  if (sc->ws) ws_send(sc->ws, WS_TEXT, text, strlen(text));
}

static void scr_on_message(ws_t *ws, int opcode, const char *data, size_t len) {
  scripted *sc = ws_data(ws);
  char text[256];
  if (len < 2 || memcmp(data, "40", 2) != 0) return; /* pongs */
  sc->nconnects++;
  kds_buf_addf(&sc->connects, "%.*s|", (int)len, data);
  snprintf(text, sizeof(text), "%.*s", (int)len, data);
  if (strstr(text, "\"pid\":\"p1\"")) {
    scr_send(sc, sc->poison);
    scr_send(sc, "40{\"sid\":\"s2\",\"pid\":\"p1\"}");
  } else {
    scr_send(sc, "40{\"sid\":\"s1\",\"pid\":\"p1\"}");
    scr_send(sc, "42[\"ev\",\"o1\"]");
  }
}

static void scr_on_close(ws_t *ws, const ws_close_info *info) {
  scripted *sc = ws_data(ws);
  sc->ws = NULL;
}

static const ws_callbacks scr_ws_cb = {scr_on_message, scr_on_close, NULL};

static void scr_free_tcp(uv_handle_t *h) {
  free(h);
}

static void scr_upgrade(http_req_t *req, void *ud) {
  scripted *sc = ud;
  kds_slice key = http_req_header(req, "sec-websocket-key");
  kds_buf reply = KDS_BUF_INIT, head = KDS_BUF_INIT;
  ws_config cfg = {WS_ROLE_SERVER, hub, &scr_ws_cb, sc, 0, 0, 1};
  uv_tcp_t *tcp;
  if (!key.ptr || ws_handshake_reply(&reply, key.ptr, key.len, NULL) < 0) {
    http_reply(req, 400, NULL, NULL, NULL, 0);
  } else if (http_req_take_stream(req, &tcp, &head) < 0) {
    http_reply(req, 400, NULL, NULL, NULL, 0);
  } else if (ws_start(&sc->ws, (uv_stream_t *)tcp, &cfg, reply.base, reply.len, head.base, head.len) < 0) {
    uv_close((uv_handle_t *)tcp, scr_free_tcp);
  } else {
    scr_send(sc,
             "0{\"sid\":\"e1\",\"upgrades\":[],\"pingInterval\":25000,\"pingTimeout\":20000,"
             "\"maxPayload\":1000000}");
  }
  kds_buf_release(&reply);
  kds_buf_release(&head);
}

static int scr_start(scripted *sc, const char *poison) {
  http_options ho;
  memset(sc, 0, sizeof(*sc));
  sc->poison = poison;
  http_options_default(&ho);
  if (http_server_new_opts(loop, NULL, &ho, &sc->hs) != 0) return -1;
  if (http_route_add(sc->hs, "GET", "/socket.io/*", scr_upgrade, sc, 0) != 0 ||
      http_server_listen(sc->hs, "127.0.0.1", 0, &sc->port) != 0) {
    http_server_close(sc->hs, NULL);
    return -1;
  }
  return 0;
}

static void scr_stop(scripted *sc) {
  if (sc->ws) ws_abort(sc->ws, 0);
  http_server_close(sc->hs, NULL);
  run_for(20);
  kds_buf_release(&sc->connects);
}

/* An event the client cannot take, replayed before every CONNECT reply of a recovery: the
 * link dies once, then the client starts a new session instead of dying again forever. */
static void replay_case(const char *what, const char *poison, int err) {
  scripted sc;
  client c;
  const char *third;
  if (scr_start(&sc, poison) < 0) {
    ok(0, "%s: scripted server started", what);
    return;
  }
  client_init(&c, NULL);
  c.opts.port = sc.port;
  c.opts.recover = 1;
  c.opts.max_message = 2048;
  sioc_connect(c.s, &c.opts);
  run_until(&c.nevents, 5000);
  ok(c.connected == 1 && strcmp(sioc_pid(c.s), "p1") == 0 && strcmp(sioc_offset(c.s), "o1") == 0,
     "%s: a session with pid %s, offset %s", what, sioc_pid(c.s), sioc_offset(c.s));
  if (sc.ws) ws_close(sc.ws, WS_CLOSE_NORMAL, NULL); /* the link drops */
  run_until(&c.disconnected, 3000);

  sioc_connect(c.s, &c.opts); /* recovery: the poison is replayed */
  run_until_n(&c.disconnected, 2, 5000);
  ok(sc.nconnects == 2 && c.connected == 1 && c.disconnected == 2 && c.err == err,
     "%s: the recovery died on the replayed event: %s (%s)", what, c.reason, kds_strerror(c.err));

  sioc_connect(c.s, &c.opts); /* again: no recovery asked this time */
  run_until_n(&c.connected, 2, 5000);
  third = sc.connects.base ? strrchr(sc.connects.base, '|') : NULL;
  while (third && third > sc.connects.base && third[-1] != '|') third--;
  ok(sc.nconnects == 3 && third && strncmp(third, "40|", 3) == 0, "%s: the next CONNECT asks no recovery: %s",
     what, sc.connects.base ? sc.connects.base : "");
  ok(c.connected == 2 && c.recovered == 0 && c.disconnected == 2 && sioc_connected(c.s),
     "%s: connected to a new session", what);
  client_release(&c);
  scr_stop(&sc);
}

static void t_poisoned_replay(void) {
  char big[3100];
  snprintf(big, sizeof(big), "42[\"big\",\"%03000d\"]", 7);
  replay_case("too big", big, KDS_ETOOBIG);
  replay_case("unparsable", "42[\"bad\",", KDS_EPROTO);
}

static void kill_peer(void) {
  if (peer_port) uv_process_kill(&peer, SIGKILL);
}

int main(void) {
  test_loop_start(90000, kill_peer);
  hub = ws_hub_new(loop);
  if (peer_start() < 0) {
    printf("ok 1 # SKIP node or the socket.io package is not available\n");
    test_count = 1;
  } else {
    subtest("connect, events, acks", t_connect_event_ack);
    subtest("connect error", t_connect_error);
    subtest("server disconnects", t_server_disconnects);
    subtest("recovery", t_recovery);
    subtest("dead link", t_dead_link);
    subtest("refused", t_refused);
    peer_stop();
  }
  subtest("poisoned replay", t_poisoned_replay);
  ws_hub_free(hub);
  test_loop_finish();
  kds_buf_release(&peer_text);
  return done_testing();
}
