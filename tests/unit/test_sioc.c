/* Tests for shared/net/sioc.c against the real thing: the official Node socket.io server
 * (tests/integration/sio-peer.js, npm package at the repository root), spawned on a loopback
 * port. Skipped (not failed) only when node cannot be started. */
#include "test.h"

#include <signal.h>

#include "err.h"
#include "sioc.h"

#ifndef KDS_SOURCE_DIR
#define KDS_SOURCE_DIR "."
#endif

static uv_loop_t *loop;
static ws_hub_t *hub;
static uv_process_t peer;
static uv_pipe_t peer_in, peer_out;
static kds_buf peer_text;
static int peer_port, peer_exited;

static uv_timer_t tick; /* wakes the loop so that run_until's time limit works */

static void on_tick(uv_timer_t *t) {
}

static int run_until(int *flag, unsigned ms) {
  uint64_t end = uv_now(loop) + ms;
  while (!*flag && uv_now(loop) < end) uv_run(loop, UV_RUN_ONCE);
  return *flag;
}

static int run_until_n(int *counter, int n, unsigned ms) {
  uint64_t end = uv_now(loop) + ms;
  while (*counter < n && uv_now(loop) < end) uv_run(loop, UV_RUN_ONCE);
  return *counter >= n;
}

static void run_for(unsigned ms) {
  int never = 0;
  run_until(&never, ms);
}

/* ---- the node peer ------------------------------------------------------------------------ */

static void peer_alloc(uv_handle_t *h, size_t s, uv_buf_t *b) {
  static char buf[4096];
  b->base = buf;
  b->len = sizeof(buf);
}

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
  uv_read_start((uv_stream_t *)&peer_out, peer_alloc, peer_read);
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
  ok(c.events.base && strstr(c.events.base, "hello({\"auth\":{\"token\":\"good\"},\"recovered\":false}") ==
                          c.events.base,
     "hello event with our auth: %s", c.events.base ? c.events.base : "");

  ok(sioc_emit(c.s, "echo", "1,\"two\",{\"three\":[3]}", 21, on_ack, &r, 3000) == 0 && !r.done, "emit with ack");
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
  ok(c.connect_errors == 1 && strcmp(c.cerr_msg, "unauthorized") == 0, "CONNECT_ERROR message: %s", c.cerr_msg);
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
  ok(c.connected == 2 && c.recovered == 1 && strcmp(sioc_pid(c.s), pid) == 0, "recovered the session (pid %s)",
     sioc_pid(c.s));
  ok(c.events.base && strstr(c.events.base, "tick(1,") != NULL, "missed event delivered: %s",
     c.events.base ? c.events.base : "");
  ok(c.events.base && strstr(c.events.base, "tick(1,") < strstr(c.events.base + 6, "hello({\"auth\":{\"pid\""),
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

static void dump_walk(uv_handle_t *h, void *arg) {
  if (uv_has_ref(h) && uv_is_active(h) && !uv_is_closing(h)) printf("# still active: %s\n", uv_handle_type_name(h->type));
}

static void close_walk(uv_handle_t *h, void *arg) {
  if (!uv_is_closing(h)) uv_close(h, NULL);
}

static void on_deadline(uv_timer_t *t) {
  printf("not ok - test timed out\n");
  fflush(stdout);
  if (peer_port) uv_process_kill(&peer, SIGKILL);
  abort();
}

int main(void) {
  uv_timer_t deadline;
  loop = uv_default_loop();
  hub = ws_hub_new(loop);
  uv_timer_init(loop, &deadline);
  uv_timer_start(&deadline, on_deadline, 90000, 0);
  uv_unref((uv_handle_t *)&deadline);
  uv_timer_init(loop, &tick);
  uv_timer_start(&tick, on_tick, 10, 10);
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
  uv_close((uv_handle_t *)&tick, NULL);
  uv_walk(loop, dump_walk, NULL);
  ws_hub_free(hub);
  uv_close((uv_handle_t *)&deadline, NULL);
  uv_run(loop, UV_RUN_DEFAULT);
  uv_walk(loop, close_walk, NULL);
  uv_run(loop, UV_RUN_DEFAULT);
  ok(uv_loop_close(loop) == 0, "nothing left alive on the loop");
  kds_buf_release(&peer_text);
  return done_testing();
}
