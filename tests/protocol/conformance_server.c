/* conformance_server.c: the server the Engine.IO / Socket.IO conformance suites expect, on
 * one port (--port N, 0 = any; the bound port is printed):
 *   /engine.io/  raw Engine.IO echoing every message as it came (text as text, binary
 *                as binary);
 *   /socket.io/  Socket.IO with namespaces "/" and "/custom": a connecting socket is sent
 *                `auth` with its handshake auth; on "/", `message` is answered with
 *                `message-back` (same arguments) and `message-with-ack` is acknowledged
 *                with the same arguments. Other namespaces are refused.
 * pingInterval 300 ms, pingTimeout 200 ms, maxPayload 1000000, connectTimeout 1000 ms.
 * Options: --port N, --host H, --recovery (connection state recovery on, for tests).
 * SIGINT/SIGTERM close everything gracefully (exit 0). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "eio_server.h"
#include "err.h"
#include "http.h"
#include "log.h"
#include "sio_server.h"

typedef struct app {
  uv_loop_t *loop;
  http_server_t *hs;
  eio_server_t *raw;
  sio_server_t *sio;
  uv_signal_t sigint, sigterm;
  int stopping;
} app_t;

static void raw_message(eio_socket_t *s, int binary, const char *data, size_t len) {
  eio_socket_send(s, binary, data, len);
}

static void on_connection(sio_socket_t *s, void *ud) {
  kds_slice auth = sio_socket_auth(s);
  (void)ud;
  sio_socket_emit(s, "auth", auth.ptr, auth.len, NULL, 0, NULL, NULL);
}

static void on_event(sio_socket_t *s, const sio_event *ev, void *ud) {
  (void)ud;
  if (ev->name == NULL) return;
  if (strcmp(ev->name, "message") == 0) {
    sio_socket_emit(s, "message-back", ev->args.ptr, ev->args.len, ev->bins, ev->nbins, NULL, NULL);
  } else if (strcmp(ev->name, "message-with-ack") == 0 && ev->id >= 0) {
    sio_socket_ack(s, ev->id, ev->args.ptr, ev->args.len, ev->bins, ev->nbins);
  }
}

static void on_http_closed(http_server_t *hs) {
  (void)hs;
}

static void on_signal(uv_signal_t *sig, int signum) {
  app_t *app = sig->data;
  (void)signum;
  if (app->stopping) return;
  app->stopping = 1;
  http_server_close(app->hs, on_http_closed);
  sio_server_close(app->sio, NULL, NULL);
  eio_server_close(app->raw, NULL, NULL);
  uv_close((uv_handle_t *)&app->sigint, NULL);
  uv_close((uv_handle_t *)&app->sigterm, NULL);
}

int main(int argc, char **argv) {
  static const sio_nsp_ops root_ops = {NULL, on_connection, on_event, NULL};
  static const sio_nsp_ops custom_ops = {NULL, on_connection, NULL, NULL};
  static const eio_server_callbacks raw_cbs = {NULL, raw_message, NULL};
  app_t app;
  http_options ho;
  sio_server_config sc;
  const char *host = "127.0.0.1";
  int port = 3000, bound = 0, rc;

  memset(&app, 0, sizeof(app));
  sio_server_config_default(&sc);
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--port") == 0 && i + 1 < argc) {
      port = atoi(argv[++i]);
    } else if (strcmp(argv[i], "--host") == 0 && i + 1 < argc) {
      host = argv[++i];
    } else if (strcmp(argv[i], "--recovery") == 0) {
      sc.recovery = 1;
    } else {
      fprintf(stderr, "usage: conformance-server [--port N] [--host H] [--recovery]\n");
      return 2;
    }
  }
  kds_log_set_level(getenv("KDS_LOG_LEVEL") ? getenv("KDS_LOG_LEVEL") : "warn");
  signal(SIGPIPE, SIG_IGN);
  app.loop = uv_default_loop();

  sc.eio.ping_interval = 300;
  sc.eio.ping_timeout = 200;
  sc.eio.max_payload = 1000000;
  sc.connect_timeout = 1000;

  http_options_default(&ho);
  ho.cors_origins = "*";
  if ((rc = http_server_new_opts(app.loop, NULL, &ho, &app.hs)) != 0 ||
      (rc = eio_server_new(&app.raw, app.loop, &sc.eio, &raw_cbs, &app)) != 0 ||
      (rc = eio_server_attach(app.raw, app.hs, "/engine.io/")) != 0 ||
      (rc = sio_server_new(&app.sio, app.loop, &sc)) != 0 ||
      (rc = sio_server_attach(app.sio, app.hs, "/socket.io/")) != 0 ||
      (rc = sio_nsp_new(app.sio, "/", &root_ops, &app, NULL)) != 0 ||
      (rc = sio_nsp_new(app.sio, "/custom", &custom_ops, &app, NULL)) != 0 ||
      (rc = http_server_listen(app.hs, host, port, &bound)) != 0) {
    fprintf(stderr, "conformance-server: start-up failed: %s\n", kds_strerror(rc));
    return 1;
  }
  uv_signal_init(app.loop, &app.sigint);
  uv_signal_init(app.loop, &app.sigterm);
  app.sigint.data = app.sigterm.data = &app;
  uv_signal_start(&app.sigint, on_signal, SIGINT);
  uv_signal_start(&app.sigterm, on_signal, SIGTERM);
  printf("conformance-server listening on http://%s:%d\n", host, bound);
  fflush(stdout);
  uv_run(app.loop, UV_RUN_DEFAULT);
  rc = uv_loop_close(app.loop);
  if (rc != 0) fprintf(stderr, "conformance-server: handles left open at exit\n");
  return rc == 0 ? 0 : 1;
}
