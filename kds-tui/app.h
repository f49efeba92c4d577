/* app.h: the kitchen display application: its options, and struct app, the one context
 * (reachable from loop->data) holding the model, the keymap, the screen and the link to the
 * server. The connection lifecycle lives here: connect, load the open queue over REST, then
 * apply live events; on loss, reconnect with exponential backoff and jitter. */
#ifndef KDS_TUI_APP_H
#define KDS_TUI_APP_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <uv.h>

#include "buf.h"
#include "keys.h"
#include "model.h"
#include "outbox.h"
#include "sound.h"
#include "ui.h"

#define APP_BACKOFF_MIN_MS 500
#define APP_BACKOFF_MAX_MS 30000
#define APP_ACK_TIMEOUT_MS 10000                 /* a status change unanswered this long is reported lost */
#define APP_LOAD_TIMEOUT_MS 15000                /* the REST load of the open queue */
#define APP_LOAD_MAX_BYTES (64u * 1024u * 1024u) /* a listing larger than this is refused */
#define APP_LOAD_PAGE 1000                       /* the server's maximum page (SPEC 3) */
#define APP_BUFFER_MAX 10000                     /* live events held while the queue loads */

typedef struct app_args {
  char server[512];       /* --server / KDS_SERVER, "http://host:port" or "https://host:port" */
  char token[512];        /* --token / KDS_TOKEN */
  char station[512];      /* --station "SAUS ASIN,SAUS MANIS" ("" = all) */
  char feed[512];         /* --feed PATH: events from a FIFO instead of a server (tests, demos) */
  char keys_file[512];    /* --keys PATH; default ~/.config/kds/keys if it exists */
  char log_file[512];     /* --log PATH: where log lines go in screen mode (default: nowhere) */
  char orders_url[512];   /* --orders-url PATH: the open-orders listing (default: SPEC 3's) */
  char sound[512];        /* --sound CMD: run (sh -c) for each new ticket and each cancel */
  char ca_file[512];      /* --ca-file PATH: the CAs an https:// server is checked against */
  int no_bell;            /* --no-bell */
  int plain;              /* --plain: one line per event on stdout, no curses */
  int no_color;           /* --no-color or NO_COLOR set */
  int expo;               /* --expo: every line with its done state (SPEC 5.1) */
  int warn_min, late_min; /* --warn MIN (5), --late MIN (10) */
} app_args;

/* Parses argv and the environment (KDS_SERVER, KDS_TOKEN, NO_COLOR; options win). Returns 0,
 * 1 when --help or --version was asked (text written to `out`), or KDS_EINVAL with a
 * one-line reason in err[errlen]. */
int app_args_parse(app_args *a, int argc, char **argv, FILE *out, char *err, size_t errlen);

/* Connection states (what the header shows). */
enum app_conn { APP_IDLE, APP_CONNECTING, APP_LOADING, APP_LIVE, APP_WAITING, APP_STOPPED };

struct sioc;
struct httpc;
struct ws_hub;
struct tls_ctx;

/* A live event received while the open queue is loading: applied after the load. */
typedef struct app_event {
  struct app_event *next;
  char *name;
  char *json; /* the payload, NUL-terminated */
  size_t len;
} app_event;

typedef struct app {
  uv_loop_t *loop;
  app_args args;
  model_t model;
  keys_t keys;
  ui_t ui;
  FILE *out; /* --plain output (stdout) */

  uv_timer_t tick; /* redraw once a second, on the second */
  uv_poll_t input; /* keys on stdin */
  uv_signal_t sigwinch, sigint, sigterm, sighup;
  uv_timer_t retry;               /* next connection attempt */
  uv_prepare_t prep;              /* one frame per loop iteration, however many events came */
  int handles;                    /* handles started: the close callbacks count down */
  int saved_stdout, saved_stderr; /* the terminal's stdout/stderr while the screen is up (-1: none) */
  FILE *tty;                      /* what curses writes to: a copy of stdout's terminal */
  int model_ready;

  /* the link */
  enum app_conn conn;
  unsigned attempt; /* failed attempts in a row (backoff exponent) */
  int64_t retry_at_ms;
  char host[256];
  int port;
  char base_path[256]; /* path prefix of --server ("" or "/kds") */
  struct ws_hub *hub;  /* the loop's WebSocket machinery */
  struct sioc *sio;    /* the Socket.IO link */
  struct httpc *http;  /* REST (the open queue) */
  struct tls_ctx *tls; /* https://: the one TLS context of both links; NULL for http:// */
  int link_open;       /* sioc_connect succeeded, on_disconnect not yet seen */
  unsigned load_gen;   /* the current load; answers to older ones are ignored */
  void *listing;       /* cJSON array: the pages loaded so far */
  char before[48];     /* paging: the last invoice of the previous page */
  int reload_again;    /* events overflowed during the load: load once more */
  int auth_failed;     /* the server refused the token: OFFLINE until it accepts it */
  int net_stopping;
  app_event *buf_head, *buf_tail; /* events held while loading */
  size_t buf_count;
  int loaded_once; /* the first load does not highlight/ring */
  outbox outbox;   /* changes on their way to the server, in order (SPEC 5.1) */

  /* app_rest.c: the header's stats and the recall list */
  uv_timer_t stats_timer; /* the next GET /api/v1/stats */
  unsigned rest_gen;      /* bumped on every link change: older answers are dropped */
  int stats_inflight, stats_again, stats_gone;

  /* live-only (SPEC 5.1): the server has no order listing; it is asked again now and then */
  uv_timer_t list_timer;
  int live_only;

  sound_t sound; /* --sound */
  char last_error[160];
  char err_text[200]; /* app_net_strerror's answer */

  /* --feed */
  uv_pipe_t feed;
  int feed_open;
  kds_buf feed_buf;
  char rbuf[65536]; /* read buffer of the feed */

  uint64_t drawn_version;
  int quitting;
  int exit_code;
  int fatal; /* an error that retrying cannot fix (bad token) */
} app_t;

/* Sets up the app on `loop` (loop->data = app): model, keys, screen (unless --plain), timers,
 * signals, and starts connecting (or reading the feed). Returns 0 or a negative error with
 * a reason in err[errlen]; on error app_close must still be called. */
int app_start(app_t *app, uv_loop_t *loop, const app_args *args, char *err, size_t errlen);

/* Stops everything: connection, timers, screen. Handles close asynchronously: run the loop
 * until it ends, then app_release. Idempotent. */
void app_close(app_t *app);

/* Frees what app_start allocated (after the loop has ended). */
void app_release(app_t *app);

/* Wall-clock time in ms since the epoch. */
int64_t app_now_ms(void);

/* The backoff before attempt number `attempt` (0 = the first retry): 0.5 s doubling to 30 s,
 * with jitter: a random value in [d/2, d] for the doubled delay d. `rnd` is in [0, 1). */
int64_t app_backoff_ms(unsigned attempt, double rnd);

/* Splits "http://host:port/prefix" into host, port (default 80) and path prefix (no
 * trailing slash). IPv6 in brackets. https:// (and wss://) set *https, default port 443.
 * Returns 0 or KDS_EINVAL. */
int app_parse_url(const char *url, char *host, size_t hostlen, int *port, char *path, size_t pathlen,
                  int *https);

/* Feeds one event to the app as if it came from the server (used by the feed and tests):
 * `name` is the event name, `json` its payload. During a load the event is held. */
void app_event_in(app_t *app, const char *name, const char *json, size_t len);

/* Replaces the open queue by a listing (JSON array text, or a parsed cJSON array) and then
 * applies the events held during the load. */
void app_listing_in(app_t *app, const char *json, size_t len);
void app_listing_apply(app_t *app, const cJSON *list);

/* Parses JSON as JavaScript's JSON.parse accepts it: lone UTF-16 surrogate escapes
 * ("\ud800", valid for Node, refused by cJSON) become U+FFFD instead of failing the whole
 * value, so an order with one odd character is still shown. NULL if not JSON (or no memory). */
cJSON *app_json_parse(const char *json, size_t len);

/* Internals shared by app.c and app_net.c. */
void app__redraw(app_t *app); /* draw a frame now */
void app__dirty(app_t *app);  /* draw a frame before the loop sleeps */
void app__say(app_t *app, enum ui_msg_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void app__drop_held(app_t *app);  /* forget events held during a load */
void app__apply_held(app_t *app); /* apply them, in order */
void app__handle_closed(app_t *app);

/* Plain mode output (plain.c): one line per event. */
void plain_ticket(FILE *out, int64_t now_ms, const char *what, const model_t *m, const ticket_t *t);
void plain_line(FILE *out, int64_t now_ms, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
