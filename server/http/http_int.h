/* http_int.h: what the three files of the HTTP layer share, and nothing outside them may
 * use (tests that #include a .c excepted). http.c: the server object, dispatch and the
 * public reply API; http_conn.c: a connection's I/O (accept, read, write, timers, linger,
 * close); http_request.c: request assembly on llhttp and the request accessors.
 *
 * Invariants:
 * - A connection parses only while it has no unanswered request (c->active == NULL), so
 *   pipelined answers go out in order; bytes read meanwhile wait in c->in (bounded).
 * - Reads land in the server's one read buffer (hs->rbuf) and are parsed from there; before
 *   on_read returns, every byte not consumed is copied into c->in. So hs->rbuf holds
 *   nothing between two reads, and c->ext is NULL outside on_read.
 * - A connection struct is freed when its refs drop to 0: one per open handle (tcp, timer),
 *   one per write in flight, one for a shutdown in flight. http__conn_close() is the one
 *   way out.
 * - A request is freed only by its answer (or hand-off). The server struct lives until the
 *   last connection and the last request are freed. */
#ifndef KDS_HTTP_INT_H
#define KDS_HTTP_INT_H

#include <llhttp.h>
#include <time.h>

#include "cors.h"
#include "http.h"
#include "list.h"
#include "router.h"

#define HTTP_READ_BUF 65536           /* the server's read buffer: the most one read takes */
#define HTTP_PENDING_MAX (64 * 1024)  /* unparsed bytes kept while a request is unanswered */
#define HTTP_WRITE_HIGH (1024 * 1024) /* queued answer bytes before parsing pauses */
#define HTTP_LINGER_MS 2000           /* after a closing answer: wait for the client's FIN */

enum conn_phase {
  PH_NEW,     /* accepted, no byte of a request yet: header timeout */
  PH_IDLE,    /* keep-alive, between requests: idle timeout */
  PH_HEADERS, /* reading a request's line and headers: header timeout */
  PH_BODY,    /* reading its body: body timeout */
  PH_ACTIVE,  /* the handler has it: no timeout here (long polls) */
  PH_LINGER   /* answered and closing: FIN sent, input discarded until EOF or timeout */
};

typedef struct http_conn http_conn;

struct hdr {
  size_t name, name_len, value, value_len; /* offsets into priv->raw */
};

struct http_req_priv {
  http_conn *conn; /* NULL once answered, handed off or the connection closed */
  kds_buf raw;     /* target, then each header name and value, each NUL-terminated */
  size_t target_len;
  struct hdr *hdrs;
  size_t nhdrs, caphdrs;
  int in_field, in_value, in_url;
  kds_buf dpath;  /* decoded path */
  kds_buf params; /* decoded params, each NUL-terminated */
  size_t param_off[ROUTER_MAX_PARAMS], param_len[ROUTER_MAX_PARAMS];
  int nparams;
  int route_status; /* 200, 404, 405 (router_match_t.status) */
  const router_route_t *route;
  char allow[128];
  size_t max_body;
  int gone; /* the client left; on_close ran (or was due) */
  http_req_close_cb on_close;
  void *on_close_ud;
};

typedef struct http_req_full {
  http_req_t pub;
  struct http_req_priv priv;
} http_req_full;

struct http_conn {
  kds_list node;   /* in hs->conns while open */
  kds_list resume; /* in hs->resume while a deferred parse is due */
  http_server_t *hs;
  uv_tcp_t *tcp; /* malloc'd so that it can be handed off; NULL after that */
  uv_timer_t timer;
  uv_shutdown_t shutdown;
  llhttp_t parser;
  kds_buf in; /* bytes kept between reads; [in_off, in.len) not parsed yet */
  size_t in_off;
  const char *ext; /* inside on_read only: unparsed bytes still in hs->rbuf (then c->in is empty) */
  size_t ext_len;
  http_req_t *cur;     /* being parsed */
  http_req_t *active;  /* dispatched, unanswered */
  size_t header_bytes; /* counted by the callbacks for the current request */
  size_t header_raw;   /* every byte fed while in the header phase (backstop) */
  int refs;
  int writes;
  enum conn_phase phase;
  const char *exec_end;   /* end of the bytes given to the current llhttp_execute */
  uint64_t chunk_left;    /* data bytes left in the current chunk */
  int crlf_need;          /* bytes of the CRLF after chunk data still to check (loose llhttp skips them) */
  int err_status;         /* set by a callback that failed the parse */
  const char *err_reason; /* and why, for a 400 (static string) */
  unsigned closing : 1, reading : 1, processing : 1, parser_paused : 1, want_close : 1, eof : 1, no_parse : 1,
      write_blocked : 1;
  char peer[64];
  int peer_port;
};

typedef struct http_write {
  uv_write_t w;
  http_conn *conn;
} http_write;

struct http_server {
  uv_loop_t *loop;
  void *ud; /* http_server_ud */
  uv_tcp_t listener;
  uv_idle_t idle; /* runs deferred parses (hs->resume) */
  int listener_init, listening, closing, done;
  int handles;       /* listener + idle, until their close callbacks */
  kds_list conns;    /* open connections */
  size_t nconns;     /* in conns */
  size_t live_conns; /* allocated connection structs */
  size_t live_reqs;  /* allocated requests */
  kds_list resume;
  http_options opt;
  router_t *router;
  cors_t cors;
  http_handler_fn fallback; /* GET/HEAD matching no route; NULL: 404 */
  void *fallback_ud;
  http_server_close_cb close_cb;
  llhttp_settings_t settings;
  time_t date_at;
  char date[40];
  char *rbuf;          /* HTTP_READ_BUF bytes: every connection reads here (see the invariants) */
  uint64_t bytes_read; /* by every connection (tests wait on it) */
};

/* ---- http.c ---- */
void http__hs_maybe_done(http_server_t *hs);
/* Hands the just-parsed c->cur to its handler (or answers it: preflight, 405, 404). */
void http__conn_dispatch(http_conn *c);
/* {"error":{"code","message"[,"field"][,"current_status"]}} in a malloc'd string, or NULL. */
char *http__error_json(const kds_err *e, size_t *len);

/* ---- http_conn.c ---- */
void http__on_connection(uv_stream_t *server, int status);
void http__on_idle(uv_idle_t *h);
void http__conn_close(http_conn *c);
void http__conn_timer(http_conn *c, enum conn_phase phase, uint64_t ms);
void http__conn_update_read(http_conn *c);
void http__conn_fail(http_conn *c, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Formats and queues one answer. `req` (may be NULL) gives the Origin for CORS. */
int http__conn_send(http_conn *c, const http_req_t *req, int status, const char *ctype, const char *extra,
                    const void *body, size_t len, int head, int keep_alive);
/* Queues `b`, made with http__buf_reserve_write (one allocation, freed in on_write). */
int http__conn_write_buf(http_conn *c, kds_buf *b);
int http__buf_reserve_write(kds_buf *b, size_t extra);
void http__hs_schedule(http_conn *c);
cors_scope http__req_cors_scope(const http_req_t *req);
/* The unparsed input: where it starts and how long it is (in hs->rbuf or in c->in). */
const char *http__conn_pending(const http_conn *c, size_t *len);
/* Marks `n` bytes of the unparsed input parsed. */
void http__conn_consume(http_conn *c, size_t n);
/* Drops every unparsed byte (answered for good, or linger). */
void http__conn_discard(http_conn *c);

/* ---- http_request.c ---- */
void http__settings_init(llhttp_settings_t *s);
void http__req_free(http_req_t *req);
/* The client of the active request left: tell its handler once (it may answer inside). */
void http__req_notify_gone(http_req_t *req);
/* Parses the unparsed input, one request at a time, dispatching each; stops while a request
 * is unanswered. Never re-entered for the same connection. */
void http__conn_parse(http_conn *c);

#endif
